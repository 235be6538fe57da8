#!/usr/bin/env bash
# Benchmark: Kafka to MySQL and Kafka to Redis with `ferry sink`, against what the servers do
# on their own. JSON events are produced with kcat into one topic first; then, one at a time:
#
#   ferry -> MySQL      `ferry sink`, one mysql worker with typed columns (insert mode: LOAD
#                       DATA LOCAL INFILE from memory, offsets in the same transaction)
#   LOAD DATA (file)    the same rows as a tab-separated file, one LOAD DATA LOCAL INFILE by
#                       the mariadb client into a table of the same layout: the server's limit
#   autocommit INSERT   the same rows as single-row INSERT statements, each its own
#                       transaction, through one mariadb client session: the naive way (a
#                       sample of -s rows, its rate extrapolated)
#   ferry -> Redis      `ferry sink`, one redis worker running INCR for every event
#   redis-benchmark     `redis-benchmark -P 64` of the same INCR: the server's limit
#
# It prints rows (or commands) per second and ferry's ratios; it judges nothing.
#
#   tests/bench/sink.sh [-n EVENTS] [-p PARTITIONS] [-b ROWS] [-s SAMPLE] [-c NAME,...]
#                       [-r RUNS] [-X PROPERTY=VALUE]... [-F] [-K] [-k]
#
#   -n EVENTS      events produced (default 200000)
#   -p PARTITIONS  partitions of the topic (default 16)
#   -b ROWS        ferry's batch.max_rows (default 10000)
#   -s SAMPLE      rows of the autocommit INSERT run (default 5000)
#   -r RUNS        run every contender RUNS times, interleaved, and report the median (default 1)
#   -c LIST        mysql, redis or both (default mysql,redis)
#   -X PROP=VALUE  a librdkafka property for ferry's consumers (kafka.consumer), e.g.
#                  -X fetch.wait.max.ms=10
#   -F             MariaDB's redo log flushed once a second, as the test stack runs it, instead
#                  of at every commit (durable: what effectively-once relies on)
#   -K             Apache Kafka (1 KRaft node from tests/stack) instead of `ferry mock-kafka`
#   -k             keep the temporary directory (configurations, data files, logs)
#
# Environment: FERRY_BIN (default build/ferry). Needs kcat, mariadbd, redis-server and
# redis-benchmark; MariaDB and Redis are private ones started by tests/stack/stack.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/tests/bench/lib.sh"
FERRY=${FERRY_BIN:-$ROOT/build/ferry}
STACK=$ROOT/tests/stack/stack.sh
EVENTS=200000
PARTS=16
BATCH=10000
SAMPLE=5000
RUNS=1
WHO=mysql,redis
REAL=0
KEEP=0
DURABLE=1
CONSUMER='session.timeout.ms: "6000"'

usage() { usage_lines 16 34; }
while getopts "n:p:b:s:c:r:X:FKkh" opt; do
    case $opt in
    n) EVENTS=$OPTARG ;;
    p) PARTS=$OPTARG ;;
    b) BATCH=$OPTARG ;;
    s) SAMPLE=$OPTARG ;;
    r) RUNS=$OPTARG ;;
    c) WHO=$OPTARG ;;
    X) [[ $OPTARG == *=* ]] || usage
       CONSUMER+=", ${OPTARG%%=*}: \"${OPTARG#*=}\"" ;;
    F) DURABLE=0 ;;
    K) REAL=1 ;;
    k) KEEP=1 ;;
    *) usage ;;
    esac
done
for v in EVENTS PARTS BATCH SAMPLE RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "sink.sh: ${v,,} wants a positive integer" >&2; exit 2; }
done
[[ -x $FERRY ]] || { echo "sink.sh: no ferry binary at $FERRY (make build)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-sink.XXXXXX")
cp "$FERRY" "$TMP/ferry" # a rebuild during the run changes nothing
FERRY=$TMP/ferry
SINK_PID=

cleanup() {
    set +e
    if [[ -n $SINK_PID ]]; then kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; fi
    FERRY_BIN=$FERRY "$STACK" -d "$TMP/stack" stop all >/dev/null 2>&1
    if ((KEEP)); then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rate() { awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", (us > 0) ? n * 1e6 / us : 0 }'; }

# ---- servers and data ------------------------------------------------------------------------

echo "starting MariaDB, Redis and $( ((REAL)) && echo "Apache Kafka" || echo "the mock cluster") in $TMP" >&2
# a buffer pool that holds every table of a run, so that the disk (busy or not) stays out of it
MYSQL_ARGS="--innodb-buffer-pool-size=1G"
((DURABLE)) && MYSQL_ARGS+=" --innodb-flush-log-at-trx-commit=1"
env -u FERRY_MYSQL_PORT FERRY_MYSQL_ARGS="$MYSQL_ARGS" "$STACK" -d "$TMP/stack" start mariadb >/dev/null
env -u FERRY_REDIS_PORT -u FERRY_REDIS_DURABLE "$STACK" -d "$TMP/stack" start redis >/dev/null
TOPIC=bench-sink
if ((REAL)); then
    "$STACK" -d "$TMP/stack" start kafka --nodes 1 --topic "$TOPIC:$PARTS" >/dev/null
else
    FERRY_BIN=$FERRY "$STACK" -d "$TMP/stack" start mock-kafka --brokers 3 --topic "$TOPIC:$PARTS" >/dev/null
fi
# shellcheck disable=SC1091
. "$TMP/stack/env"
BS=${FERRY_REAL_KAFKA_BOOTSTRAP:-${FERRY_KAFKA_BOOTSTRAP:-}}
[[ -n $BS ]] || { echo "sink.sh: no Kafka bootstrap in $TMP/stack/env" >&2; exit 1; }
sql() {
    mariadb --no-defaults --local-infile=1 -h 127.0.0.1 -P "$FERRY_MYSQL_PORT" -u "$FERRY_MYSQL_USER" \
        -p"$FERRY_MYSQL_PASSWORD" -D "$FERRY_MYSQL_DATABASE" -N -B "$@"
}
rcli() { redis-cli -h 127.0.0.1 -p "$FERRY_REDIS_PORT" "$@"; }

# The events, the same rows as a LOAD DATA file, and the autocommit INSERTs of a sample.
python3 - "$TMP" "$EVENTS" "$SAMPLE" "$TOPIC" "$PARTS" <<'PY'
import datetime as dt, json, sys
d, n, sample, topic, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
base = dt.datetime(2026, 3, 14, tzinfo=dt.timezone.utc)
cols = "kafka_topic, kafka_partition, kafka_offset, kafka_ts, raw, n, user, status, bytes, at, url, ok, ratio"
with open(f"{d}/events.json", "w") as ev, open(f"{d}/rows.tsv", "w") as tsv, \
        open(f"{d}/inserts.sql", "w") as ins:
    for i in range(1, n + 1):
        at = base + dt.timedelta(milliseconds=i * 7)
        e = {"n": i, "user": f"u{i * 7919 % 100000}", "status": [200, 200, 304, 404, 500][i % 5],
             "bytes": i * 31 % 65536, "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "url": f"/v1/items/{i * 13 % 9973}", "ok": i % 3 != 0, "ratio": (i % 1000) / 8}
        raw = json.dumps(e, separators=(",", ":"))
        ev.write(f"{i}:{raw}\n")  # keyed, so that every partition gets its share
        vals = [topic, str(i % parts), str(i // parts), "2026-03-14 00:00:00.000", raw, str(i), e["user"],
                str(e["status"]), str(e["bytes"]), at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], e["url"],
                "1" if e["ok"] else "0", repr(e["ratio"])]
        tsv.write("\t".join(vals) + "\n")
        if i <= sample:
            q = ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in vals)
            ins.write(f"INSERT INTO bench_rows ({cols}) VALUES ({q});\n")  # the table is renamed per run
PY
# (the mock cluster keeps a few MiB per partition: spread evenly, nothing is dropped)
kcat -P -b "$BS" -t "$TOPIC" -K : -l "$TMP/events.json" -X linger.ms=20 -X batch.num.messages=10000
hw_sum() {
    local q=() p
    for ((p = 0; p < PARTS; p++)); do q+=(-t "$TOPIC:$p:-1"); done
    { kcat -Q -m 5 -b "$BS" "${q[@]}" 2>/dev/null || true; } |
        awk '$3 == "offset" && $4 ~ /^[0-9]+$/ { s += $4 } END { print s + 0 }'
}
[[ $(hw_sum) == "$EVENTS" ]] || { echo "sink.sh: the topic holds $(hw_sum) events, not $EVENTS" >&2; exit 1; }

# ---- ferry ----------------------------------------------------------------------------------

# CPU seconds the server NAME (mariadb, redis) used so far.
server_cpu() { cpu_s "$(cat "$TMP/stack/$1/pid")"; }
secs() { awk -v u="$1" 'BEGIN { printf "%.2f s", u / 1e6 }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# run_ferry NAME SERVER GROUP WORKER-YAML PROGRESS-COMMAND: starts `ferry sink`, takes the time from
# the moment the worker has every partition (joining a group is not the sink's work) until
# PROGRESS-COMMAND prints EVENTS. Sets F_US, and F_CPU and S_CPU: the CPU seconds ferry and
# the server used meanwhile.
run_ferry() {
    local name=$1 server=$2 group=$3 worker=$4 progress=$5 t0 t1 got last=0 still=0 f0 s0
    cat >"$TMP/$name.yaml" <<YAML
kafka:
  brokers: "$BS"
  consumer: {$CONSUMER}
sinks:
  group: $group
  workers:
$worker
YAML
    "$FERRY" sink -c "$TMP/$name.yaml" >"$TMP/$name.log" 2>&1 &
    SINK_PID=$!
    while (($(grep -c ' assigned ' "$TMP/$name.log" || true) < PARTS)); do
        kill -0 "$SINK_PID" 2>/dev/null || { echo "sink.sh: ferry exited:" >&2; tail "$TMP/$name.log" >&2; exit 1; }
        sleep 0.01
    done
    t0=$(now_us)
    f0=$(cpu_s "$SINK_PID")
    s0=$(server_cpu "$server")
    T_FIRST=0
    while :; do
        got=$($progress)
        t1=$(now_us)
        if ((T_FIRST == 0 && got > 0)); then T_FIRST=$t1; G_FIRST=$got; fi
        ((got >= EVENTS)) && break
        if ((got == last)); then still=$((still + 1)); else still=0; last=$got; fi
        ((still < 3000)) || { echo "sink.sh: $name stalled at $got of $EVENTS" >&2; tail "$TMP/$name.log" >&2; exit 1; }
        sleep 0.01
    done
    F_US=$((t1 - t0))
    # from the first write seen to the last: the rate once the consumer is going, without its
    # start (offsets fetched, first fetch answered), which the peers' figures do not include
    S_US=$((t1 - T_FIRST))
    S_EVENTS=$((EVENTS - G_FIRST))
    F_CPU=$(minus "$(cpu_s "$SINK_PID")" "$f0")
    S_CPU=$(minus "$(server_cpu "$server")" "$s0")
    kill -TERM "$SINK_PID"
    wait "$SINK_PID" || true
    SINK_PID=
}

row() { printf '%-24s %10s  %s\n' "$1" "$2" "$3"; }

# The layout ferry creates for the worker below (docs/configuration.md), for the warm-up.
LAYOUT="(kafka_topic VARCHAR(249) NOT NULL, kafka_partition INT NOT NULL, kafka_offset BIGINT NOT NULL,
  kafka_ts DATETIME(3) NULL, received_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  raw MEDIUMTEXT NOT NULL, n BIGINT NULL, user TEXT NULL, status BIGINT NULL, bytes BIGINT NULL,
  at DATETIME(3) NULL, url TEXT NULL, ok TINYINT(1) NULL, ratio DOUBLE NULL,
  PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
COLS="kafka_topic, kafka_partition, kafka_offset, kafka_ts, raw, n, user, status, bytes, at, url, ok, ratio"
MYSQL="mysql: {host: 127.0.0.1, port: $FERRY_MYSQL_PORT, user: $FERRY_MYSQL_USER, password_env: FERRY_MYSQL_PASSWORD, database: $FERRY_MYSQL_DATABASE}"

# Every run of every contender is one line of $TMP/runs: contender, rate, note (tab-separated).
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TMP/runs"; }

mysql_round() { # r
    local r=$1 t0 t1 s0 s1
    mysql_progress() { sql -e "SELECT COALESCE(SUM(GREATEST(next_offset, 0)), 0) FROM ferry_offsets WHERE consumer_group = 'bench$r.rows'"; }
    run_ferry "mysql$r" mariadb "bench$r" "    - name: rows
      type: mysql
      topics: [$TOPIC]
      format: json
      $MYSQL
      table: bench_ferry$r
      columns:
        n: {type: int}
        user: user
        status: {type: int}
        bytes: {type: int}
        at: {type: datetime}
        url: url
        ok: {type: bool}
        ratio: {type: float}
      batch: {max_rows: $BATCH, max_ms: 200}" mysql_progress
    [[ $(sql -e "SELECT COUNT(*) FROM bench_ferry$r") == "$EVENTS" ]] || { echo "sink.sh: bench_ferry$r lacks rows" >&2; exit 1; }
    record ferry_mysql "$(rate "$EVENTS" "$F_US")" "$(secs "$F_US"), ferry cpu $F_CPU s, mariadbd cpu $S_CPU s"
    record ferry_mysql_steady "$(rate "$S_EVENTS" "$S_US")" "$S_EVENTS rows in $(secs "$S_US") from the first write seen"

    sql -e "CREATE TABLE bench_load$r $LAYOUT; CREATE TABLE bench_rows$r $LAYOUT"
    s0=$(server_cpu mariadb)
    t0=$(now_us)
    sql -e "LOAD DATA LOCAL INFILE '$TMP/rows.tsv' INTO TABLE bench_load$r CHARACTER SET utf8mb4 ($COLS)"
    t1=$(now_us)
    s1=$(server_cpu mariadb)
    [[ $(sql -e "SELECT COUNT(*) FROM bench_load$r") == "$EVENTS" ]] || { echo "sink.sh: LOAD DATA lost rows" >&2; exit 1; }
    record load "$(rate "$EVENTS" $((t1 - t0)))" "$(secs $((t1 - t0))), mariadbd cpu $(minus "$s1" "$s0") s"

    t0=$(now_us)
    sed "s/INTO bench_rows /INTO bench_rows$r /" "$TMP/inserts.sql" | sql
    t1=$(now_us)
    [[ $(sql -e "SELECT COUNT(*) FROM bench_rows$r") == "$SAMPLE" ]] || { echo "sink.sh: INSERT loop lost rows" >&2; exit 1; }
    record rows "$(rate "$SAMPLE" $((t1 - t0)))" "$SAMPLE rows in $(secs $((t1 - t0))), extrapolated"
    sql -e "DROP TABLE bench_ferry$r, bench_load$r, bench_rows$r" # the next round starts alike
}

redis_round() { # r
    local r=$1 s0 rb
    # one redis-cli asking every 10 ms, read as it answers: starting a client 100 times a
    # second would take CPU from ferry on two cores (the servers' own figures pay nothing)
    coproc RPOLL { exec redis-cli -h 127.0.0.1 -p "$FERRY_REDIS_PORT" -r -1 -i 0.01 GET "bench:ferry$r"; }
    redis_progress() { # the latest answer
        local line got=
        while IFS= read -r -t 0.05 line <&"${RPOLL[0]}"; do
            got=$line
            read -r -t 0 <&"${RPOLL[0]}" || break
        done
        echo "${got:-0}"
    }
    run_ferry "redis$r" redis "bench$r" "    - name: counts
      type: redis
      topics: [$TOPIC]
      format: raw
      redis: {host: 127.0.0.1, port: $FERRY_REDIS_PORT}
      commands: [[INCR, \"bench:ferry$r\"]]
      batch: {max_rows: $BATCH, max_ms: 200}" redis_progress
    kill "$RPOLL_PID" 2>/dev/null
    wait "$RPOLL_PID" 2>/dev/null || true
    record ferry_redis "$(rate "$EVENTS" "$F_US")" "$(secs "$F_US"), ferry cpu $F_CPU s, redis-server cpu $S_CPU s"
    record ferry_redis_steady "$(rate "$S_EVENTS" "$S_US")" "$S_EVENTS events in $(secs "$S_US") from the first write seen"
    s0=$(server_cpu redis)
    rb=$(redis-benchmark -h 127.0.0.1 -p "$FERRY_REDIS_PORT" -n "$EVENTS" -P 64 -q INCR "bench:rb$r" |
        tr '\r' '\n' | awk '/requests per second/ { for (i = 2; i <= NF; i++) if ($i == "requests") v = $(i - 1) }
                                END { printf "%d", v }')
    record rb "$rb" "redis-server cpu $(minus "$(server_cpu redis)" "$s0") s, 64 commands a round trip"
}

if [[ ,$WHO, == *,mysql,* ]]; then
    # every contender meets a warm server: the first load into a fresh server pays for what
    # the ones after it find ready (buffer pool pages, log files)
    sql -e "CREATE TABLE bench_warm $LAYOUT"
    sql -e "LOAD DATA LOCAL INFILE '$TMP/rows.tsv' INTO TABLE bench_warm CHARACTER SET utf8mb4 ($COLS)"
    sql -e "DROP TABLE bench_warm"
fi
for ((r = 1; r <= RUNS; r++)); do
    [[ ,$WHO, == *,mysql,* ]] && mysql_round "$r"
    [[ ,$WHO, == *,redis,* ]] && redis_round "$r"
done

# ---- results --------------------------------------------------------------------------------

# The median run of a contender (the lower one of an even count): "rate<TAB>note".
median() {
    awk -F'\t' -v k="$1" -v runs="$RUNS" '$1 == k { n++; r[n] = $2; t[n] = $3 }
        END {
            if (!n) exit
            for (i = 2; i <= n; i++)
                for (j = i; j > 1 && r[j] < r[j - 1]; j--) { x = r[j]; r[j] = r[j - 1]; r[j - 1] = x; x = t[j]; t[j] = t[j - 1]; t[j - 1] = x }
            m = int((n + 1) / 2)
            note = t[m]
            if (runs > 1) note = note sprintf("; median of %d: %d..%d", n, r[1], r[n])
            printf "%s\t%s\n", r[m], note
        }' "$TMP/runs"
}
declare -A RATE NOTE
for k in ferry_mysql ferry_mysql_steady load rows ferry_redis ferry_redis_steady rb; do
    IFS=$'\t' read -r RATE[$k] NOTE[$k] < <(median "$k") || true
done

echo
echo "$EVENTS JSON events, $PARTS partitions ($( ((REAL)) && echo "Apache Kafka, 1 node" || echo "ferry mock-kafka, 3 brokers")), batch $BATCH;" \
    "MariaDB $(sql -e 'SELECT VERSION()' | cut -d- -f1), innodb_flush_log_at_trx_commit=$(sql -e 'SELECT @@innodb_flush_log_at_trx_commit')"
row "contender" "rows/s" "note"
if [[ -n ${RATE[ferry_mysql]:-} ]]; then
    row "ferry -> MySQL" "${RATE[ferry_mysql]}" "${NOTE[ferry_mysql]}"
    row "  once writing" "${RATE[ferry_mysql_steady]}" "${NOTE[ferry_mysql_steady]}"
    row "LOAD DATA (file)" "${RATE[load]}" "${NOTE[load]}"
    row "autocommit INSERT" "${RATE[rows]}" "${NOTE[rows]}"
fi
if [[ -n ${RATE[ferry_redis]:-} ]]; then
    row "ferry -> Redis (INCR)" "${RATE[ferry_redis]}" "${NOTE[ferry_redis]}"
    row "  once writing" "${RATE[ferry_redis_steady]}" "${NOTE[ferry_redis_steady]}"
    row "redis-benchmark -P 64" "${RATE[rb]}" "${NOTE[rb]}"
fi
echo
ratio() { # label a b target
    awk -v l="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN {
        r = b > 0 ? a / b : 0
        printf "%-24s %6.2f x  (target %s x: %s)\n", l, r, t, r >= t ? "met" : "not met" }'
}
if [[ -n ${RATE[ferry_mysql]:-} ]]; then
    ratio "ferry/LOAD DATA" "${RATE[ferry_mysql]}" "${RATE[load]}" 0.6
    ratio "  once writing" "${RATE[ferry_mysql_steady]}" "${RATE[load]}" 0.6
    ratio "ferry/autocommit INSERT" "${RATE[ferry_mysql]}" "${RATE[rows]}" 20
fi
if [[ -n ${RATE[ferry_redis]:-} ]]; then
    ratio "ferry/redis-benchmark" "${RATE[ferry_redis]}" "${RATE[rb]}" 0.5
    ratio "  once writing" "${RATE[ferry_redis_steady]}" "${RATE[rb]}" 0.5
fi
exit 0
