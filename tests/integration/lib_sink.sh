# Helpers for the tests of the sink's workers (ferry sink, and ferry run's workers); sourced by
# lib.sh. Their servers of their own, the pieces of their configurations, the counters a
# process shows on /metrics, the producers that feed them and the checks of what they wrote.

# ---- private servers ----------------------------------------------------------------------

# private_mariadb [OPTIONS]: a MariaDB of the test's own in $T_DIR/stack (crashing, stopping or
# locking it disturbs no other test), with the mariadbd OPTIONS after the stack's defaults;
# sources its env, so that sql() talks to it, and sets MYPORT to its port.
private_mariadb() {
  T_MYSQL_ARGS=${1:-}
  env -u FERRY_MYSQL_PORT FERRY_MYSQL_ARGS="$T_MYSQL_ARGS" "$STACK" -d "$T_DIR/stack" \
    start mariadb >/dev/null || fail "private mariadb did not start"
  # shellcheck disable=SC1091
  . "$T_DIR/stack/env"
  MYPORT=$FERRY_MYSQL_PORT
}

# private_redis DURABLE [OPTIONS]: a Redis of the test's own in $T_DIR/stack; DURABLE 1: every
# write in its fsynced append-only file before the reply (a restart has all it acknowledged),
# 0: nothing kept; the redis-server OPTIONS after the stack's defaults. Sets RPORT to its port
# (r talks to it).
private_redis() {
  T_REDIS_DURABLE=$1 T_REDIS_ARGS=${2:-}
  FERRY_REDIS_PORT='' FERRY_REDIS_DURABLE=$T_REDIS_DURABLE FERRY_REDIS_ARGS=$T_REDIS_ARGS \
    "$STACK" -d "$T_DIR/stack" start redis >/dev/null || fail "private redis did not start"
  RPORT=$(cat "$T_DIR/stack/redis/port")
}

# r ARGS…: redis-cli on the private Redis (private_redis)
r() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }

# private_crash SERVER: SIGKILL to the private SERVER (mariadb or redis)
private_crash() { "$STACK" -d "$T_DIR/stack" crash "$1" >/dev/null || fail "$1 did not crash"; }

# private_restart SERVER: the private SERVER (mariadb or redis) started again on its port, with
# its options and on its data (InnoDB recovers its data directory, Redis loads its append-only
# file); returns once it answers.
private_restart() {
  case $1 in
    mariadb)
      FERRY_MYSQL_PORT=$MYPORT FERRY_MYSQL_KEEP_DATA=1 FERRY_MYSQL_ARGS=$T_MYSQL_ARGS \
        "$STACK" -d "$T_DIR/stack" start mariadb >/dev/null ||
        fail "mariadb did not start again on port $MYPORT"
      ;;
    redis)
      FERRY_REDIS_PORT=$RPORT FERRY_REDIS_DURABLE=$T_REDIS_DURABLE FERRY_REDIS_ARGS=$T_REDIS_ARGS \
        "$STACK" -d "$T_DIR/stack" start redis >/dev/null ||
        fail "redis did not start again on port $RPORT"
      ;;
    *) fail "private_restart mariadb|redis" ;;
  esac
}

# sql_session NAME [OPTION…]: a mariadb client session of the test's own on the private MariaDB,
# fed through a FIFO: statements written to fd 7 (>&7) run in turn, their output goes to
# $T_DIR/NAME.out; the OPTIONs go to the client.
sql_session() {
  local name=$1
  shift
  mkfifo "$T_DIR/$name.in"
  mariadb --no-defaults "$@" -N -B -h 127.0.0.1 -P "$MYPORT" -u "$FERRY_MYSQL_USER" \
    -p"$FERRY_MYSQL_PASSWORD" -D "$FERRY_MYSQL_DATABASE" <"$T_DIR/$name.in" >"$T_DIR/$name.out" 2>&1 &
  T_PIDS+=($!)
  exec 7>"$T_DIR/$name.in"
}

# ---- configuration ------------------------------------------------------------------------

# sink_kafka BOOTSTRAP [PROPS]: the `kafka:` section of a sink's configuration: the brokers, and
# the consumer's session.timeout.ms at 6 s (the partitions of a killed or stopped process move
# within the test's time), then PROPS ('key: value, …')
sink_kafka() {
  printf 'kafka:\n  brokers: "%s"\n  consumer: {session.timeout.ms: "6000"%s}\n' "$1" "${2:+, $2}"
}

# sinks_section [DLQ]: the head of the `sinks:` section, up to `workers:`: the group $T_ID (a
# worker's consumer group is $T_ID.WORKER) and, given, the dead-letter topic DLQ
sinks_section() {
  printf 'sinks:\n  group: %s\n' "$T_ID"
  [ -z "${1:-}" ] || printf '  dead_letter_topic: %s\n' "$1"
  printf '  workers:\n'
}

# mysql_worker NAME TOPIC FORMAT TABLE [PORT]: the first lines of a MySQL worker (in
# sinks.workers) writing the events of TOPIC, read as FORMAT, into TABLE of the MariaDB on PORT
# (the stack's)
mysql_worker() {
  printf '    - name: %s\n      type: mysql\n      topics: [%s]\n      format: %s\n' "$1" "$2" "$3"
  printf '      mysql: %s\n      table: %s\n' "$(mysql_conn "${5:-}")" "$4"
}

# number_columns: the columns of a MySQL worker for events {"n": i}: n, an int, and no raw one
number_columns() { printf '      raw: false\n      columns:\n        n: {type: int, null: false}\n'; }

# redis_worker NAME TOPIC PORT [FORMAT]: the first lines of a Redis worker (in sinks.workers)
# applying the events of TOPIC, read as FORMAT (json), to the Redis on PORT
redis_worker() {
  printf '    - name: %s\n      type: redis\n      topics: [%s]\n      format: %s\n' "$1" "$2" "${4:-json}"
  printf '      redis: {host: 127.0.0.1, port: %s}\n' "$3"
}

# activity_worker NAME TOPIC PORT: a Redis worker applying activity events (activity_events) to
# counters under $P, in batches of 200 or 50 ms; its `commands:` come last
activity_worker() {
  redis_worker "$@"
  cat <<YAML
      batch: {max_rows: 200, max_ms: 50}
      commands:
        - [INCR, "$P:events"]
        - [INCRBY, "$P:amount", "{amount}"]
        - [HINCRBY, "$P:user", "{user}", "1"]
        - [ZINCRBY, "$P:pages", "1", "{page}"]
YAML
}

# ---- the counters of a process --------------------------------------------------------------

# ADDR_OF[NAME]: the HTTP address of ferry NAME (start_sink)
declare -A ADDR_OF=()

# start_sink NAME [CONFIG]: ferry NAME runs `ferry sink -c CONFIG` ($T_DIR/ferry.yaml, with
# $HTTP_ANY); waits for its HTTP endpoint and sets ADDR_OF[NAME].
start_sink() {
  start_ferry "$1" sink -c "${2:-$T_DIR/ferry.yaml}"
  ADDR_OF[$1]=$(http_addr "$1")
}

# wm NAME METRIC [WORKER]: ferry NAME's counter ferry_worker_METRIC_total, summed over its
# workers, or WORKER's alone
wm() { metric "${ADDR_OF[$1]}" "ferry_worker_$2_total" "${3:+worker=\"$3\"}"; }

# held NAME [WORKER]: the partitions ferry NAME's workers (or WORKER) hold now: assigned minus
# revoked
held() { echo $(($(wm "$1" partitions_assigned "${2:-}") - $(wm "$1" partitions_revoked "${2:-}"))); }

# kill9 NAME: SIGKILL to ferry NAME, and reaps it
kill9() {
  local pidvar="PID_$1"
  kill -KILL "${!pidvar}"
  wait "${!pidvar}" 2>/dev/null || true
}

# kill_busy_worker VICTIM SURVIVOR WORKER PROGRESS: SIGKILL to ferry VICTIM while its WORKER
# writes; fails unless that worker held partitions and had written events (the kill of an idle
# one proves nothing); then waits for the rebalance that assigns SURVIVOR more partitions. Sets
# AT_KILL to what the command PROGRESS (rows, events: written so far) printed after the kill.
kill_busy_worker() {
  local victim=$1 survivor=$2 worker=$3 progress=$4 written had assigned
  written=$(wm "$victim" events_written "$worker")
  had=$(held "$victim" "$worker")
  assigned=$(wm "$survivor" partitions_assigned)
  kill9 "$victim"
  AT_KILL=$("$progress")
  echo "ferry $victim killed (SIGKILL) at $AT_KILL $progress (it held $had partitions, had written $written events)"
  [ "$written" -gt 0 ] && [ "$had" -gt 0 ] ||
    fail "the killed worker held $had partitions, had written $written events: its kill proves nothing"
  _reassigned() { [ "$(wm "$survivor" partitions_assigned)" -gt "$assigned" ]; }
  wait_for "the survivor's rebalance (partitions assigned above $assigned)" 90 _reassigned
  echo "survivor rebalanced: partitions assigned $assigned -> $(wm "$survivor" partitions_assigned)"
}

# crash_midstream SERVER PROGRESS: SIGKILL to the private SERVER (mariadb, redis) while what the
# command PROGRESS (rows, events) prints rises (writes are being committed), then SERVER started
# again on its data. Sets AT_CRASH to the figure PROGRESS rose to just before the kill.
crash_midstream() {
  wait_rising "$2 being committed" 60 "$2"
  private_crash "$1"
  AT_CRASH=$RISEN
  echo "$1 killed (SIGKILL) after $AT_CRASH $2"
  private_restart "$1"
}

# faults_apart AT_KILL AT_CRASH N UNIT: fails unless a worker's kill (at AT_KILL UNIT) and the
# server's crash (at AT_CRASH) both landed mid-stream, one after the other: 0 < AT_KILL <
# AT_CRASH < N
faults_apart() {
  [ 0 -lt "$1" ] && [ "$1" -lt "$2" ] && [ "$2" -lt "$3" ] ||
    fail "the faults did not land mid-stream at different points: kill at $1 $4, crash at $2, of $3"
}

# ---- producers ------------------------------------------------------------------------------

# number_events FIRST LAST: the JSON events {"n":i} for i in FIRST..LAST
number_events() { seq "$1" "$2" | awk '{ printf "{\"n\":%d}\n", $1 }'; }

# activity_events FIRST LAST [keyed]: the JSON events FIRST..LAST of the activity rules: event i
# has user u<i%97>, amount i%7+1, page /p<i%13>; keyed, each line is "i:EVENT" (kcat -K :)
activity_events() {
  awk -v a="$1" -v b="$2" -v keyed="${3:-}" 'BEGIN { for (i = a; i <= b; i++)
    printf "%s{\"n\":%d,\"user\":\"u%d\",\"amount\":%d,\"page\":\"/p%d\"}\n",
      (keyed != "" ? i ":" : ""), i, i % 97, i % 7 + 1, i % 13 }'
}

# produce_chunks TOPIC CHUNK [EVENTS]: kcat writes chunk after chunk of CHUNK events to TOPIC
# ($B), acks=all and idempotent, 0.2 s apart, until $T_DIR/stop exists; `EVENTS FIRST LAST`
# prints a chunk's events (number_events unless given); $T_DIR/chunks says how many chunks
# Kafka acknowledged. Runs in the background, until stop_chunks.
produce_chunks() {
  local topic=$1 chunk=$2 events=${3:-number_events} c=0
  while [ ! -e "$T_DIR/stop" ]; do
    "$events" $((c * chunk + 1)) $(((c + 1) * chunk)) |
      kcat -P -b "$B" -t "$topic" -X acks=all -X enable.idempotence=true || return 1
    c=$((c + 1))
    echo "$c" >"$T_DIR/chunks"
    sleep 0.2
  done
}

# stop_chunks PID CHUNK: ends produce_chunks (running as PID), fails if kcat failed; sets N to
# the events it wrote.
stop_chunks() {
  touch "$T_DIR/stop"
  wait "$1" || fail "kcat failed"
  N=$(($(cat "$T_DIR/chunks") * $2))
}

# end_offset TOPIC PARTITION: the partition's end offset (its high watermark), as kcat reads it
end_offset() { kcat -Q -b "$B" -t "$1:$2:-1" | awk '{ print $NF }'; }

# ---- what the workers wrote -----------------------------------------------------------------

# count_rows TABLE: sets ROWS to "rows T, unique U, distinct D, LO..HI": TABLE's rows, those
# unique by (topic, partition, offset), the distinct event numbers n, the least and the largest
count_rows() {
  read -r R_TOTAL R_UNIQ R_DISTINCT R_LO R_HI < <(sql "SELECT COUNT(*), COUNT(DISTINCT kafka_topic,
    kafka_partition, kafka_offset), COUNT(DISTINCT n), MIN(n), MAX(n) FROM \`$1\`")
  ROWS="rows $R_TOTAL, unique $R_UNIQ, distinct $R_DISTINCT, $R_LO..$R_HI"
}

# rows_once TABLE N [WHAT]: fails unless TABLE holds exactly N rows, one per (topic, partition,
# offset) and one per event number n, 1..N (WHAT names the step in the failure); sets ROWS.
rows_once() {
  count_rows "$1"
  [ "$R_TOTAL $R_UNIQ $R_DISTINCT $R_LO $R_HI" = "$2 $2 $2 1 $2" ] ||
    fail "${3:+$3: }rows $R_TOTAL, unique by (topic, partition, offset) $R_UNIQ, distinct n" \
      "$R_DISTINCT, $R_LO..$R_HI; want $2, 1..$2"
}

# offsets_sum GROUP [TOPIC]: GROUP's next offsets in ferry_offsets (of TOPIC only), added up; a
# partition that never had an event (-1) counts 0
offsets_sum() {
  sql "SELECT COALESCE(SUM(GREATEST(next_offset, 0)), 0) FROM ferry_offsets
    WHERE consumer_group = '$1'${2:+ AND topic = '$2'}"
}

# offsets_at GROUP N [WHAT]: fails unless GROUP's offsets in ferry_offsets add up to N
offsets_at() {
  local offs
  offs=$(offsets_sum "$1")
  [ "$offs" = "$2" ] || fail "${3:+$3: }ferry_offsets add up to $offs, want $2"
}

# activity_expected N: the counters the activity rules give for events 1..N, sorted
activity_expected() {
  awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) { a += i % 7 + 1; u["u" i % 97]++; p["/p" i % 13]++ }
    print "events", n; print "amount", a
    for (k in u) print "user", k, u[k]; for (k in p) print "page", k, p[k] }' | sort
}

# activity_actual: the counters under $P in the private Redis, as activity_expected prints them
activity_actual() {
  echo "events $(r GET "$P:events")"
  echo "amount $(r GET "$P:amount")"
  r HGETALL "$P:user" | paste - - | awk '{ print "user", $1, $2 }'
  r ZRANGE "$P:pages" 0 -1 WITHSCORES | paste - - | awk '{ print "page", $1, $2 }'
}

# activity_once N: fails unless the private Redis's counters are what the activity rules give
# for events 1..N, each applied once (the difference in $T_DIR/diff.txt otherwise)
activity_once() {
  diff <(activity_expected "$1") <(activity_actual | sort) >"$T_DIR/diff.txt" ||
    fail "Redis differs from the expected sums: $(head -20 "$T_DIR/diff.txt")"
}

# redis_offsets_at_end GROUP TOPIC PARTITIONS: fails unless the private Redis's offset key of
# each partition 0..PARTITIONS-1 of TOPIC holds the partition's end (a partition that never had
# an event has no key)
redis_offsets_at_end() {
  local p hw got
  for ((p = 0; p < $3; p++)); do
    hw=$(end_offset "$2" "$p")
    got=$(r GET "ferry:offsets:$1:$2:$p")
    [ "$got" = "$hw" ] || [ "$got$hw" = 0 ] || fail "partition $p: stored offset '$got', the partition ends at $hw"
  done
}
