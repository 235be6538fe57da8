#!/usr/bin/env bash
# End to end: numbered access-log lines -> ferry run (agent + MySQL and Redis workers) ->
# Kafka -> MariaDB rows and Redis counters, judged with the mariadb and redis-cli clients.
# Then 500 more lines and a restart: the agent resumes at its checkpoint and the workers at
# their offsets, so the totals grow by exactly 500 (nothing lost, nothing doubled). After each
# clean stop kafka-python reads each worker's committed offsets (group GROUP.WORKER): they must
# equal the partition ends, on the mock and on the real cluster.
#   e2e_pipeline.sh mock   a private librdkafka mock cluster (ferry mock-kafka)
#   e2e_pipeline.sh real   the stack's Apache Kafka cluster
set -euo pipefail
MODE=${1:-mock}
T_NAME="e2e_$MODE"
. "$(dirname "$0")/lib.sh"

N=10000
MORE=500
TOPIC="e2e-$T_ID"
TABLE="e2e_$T_ID"
PREFIX="e2e:$T_ID"

case "$MODE" in
  mock) start_mock "$TOPIC:4" ;;
  real)
    need_real_kafka
    "$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:4" >/dev/null
    BOOTSTRAP=$FERRY_REAL_KAFKA_BOOTSTRAP ;;
  *) fail "mode must be mock or real" ;;
esac

# Line i (1-based): client 10.0.<i%7>.1, url /page/<i%13>?n=<i>, status 200 or 404 (every
# 10th), day 2026-11-01 for the first 4000 lines, 2026-11-02 after. The expected counters
# are computed below from these rules, not from the file.
gen() { # gen FIRST LAST
  awk -v a="$1" -v b="$2" 'BEGIN {
    for (i = a; i <= b; i++) {
      day = (i <= 4000) ? "01" : "02"
      st = (i % 10 == 0) ? 404 : 200
      printf "10.0.%d.1 - - [%s/Nov/2026:12:00:00 +0000] \"GET /page/%d?n=%d HTTP/1.1\" %d %d \"-\" \"e2e\"\n", i % 7, day, i % 13, i, st, i
    }
  }'
}
gen 1 "$N" >"$T_DIR/access.log"

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$BOOTSTRAP")
$(agent_tail "$T_DIR/state" 200 web "$T_DIR/access.log" "$TOPIC" all)
$(sinks_section)
$(mysql_worker rows "$TOPIC" combined "$TABLE")
      columns: {url: url, status: status, client: remote_addr}
      batch: {max_rows: 500, max_ms: 100}
$(redis_worker counters "$TOPIC" "$FERRY_REDIS_PORT" combined)
      commands:
        - [HINCRBY, "$PREFIX:status:{day}", "{status}", "1"]
        - [INCRBY, "$PREFIX:bytes", "{bytes}"]
        - [INCR, "$PREFIX:events"]
YAML
"$FERRY_BIN" check -c "$T_DIR/ferry.yaml" >/dev/null || fail "config does not validate"

rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
events() { rcli GET "$PREFIX:events" | sed 's/^$/0/'; }
have_rows() { [ "$(rows)" -ge "$1" ]; }
have_events() { [ "$(events)" -ge "$1" ]; }

# expected (status counts per day, bytes) for lines 1..$1, from the generation rules
expect() {
  awk -v n="$1" 'BEGIN {
    for (i = 1; i <= n; i++) { d = (i <= 4000) ? "2026-11-01" : "2026-11-02"; s = (i % 10 == 0) ? 404 : 200; c[d " " s]++; b += i }
    for (k in c) print k, c[k]; print "bytes", b
  }' | sort
}
actual() {
  for d in 2026-11-01 2026-11-02; do
    rcli HGETALL "$PREFIX:status:$d" | paste - - | awk -v d="$d" '{print d, $1, $2}'
  done
  echo "bytes $(rcli GET "$PREFIX:bytes")"
}

check_totals() { # check_totals LINES
  local n=$1
  [ "$(rows)" = "$n" ] || fail "rows: want $n, have $(rows)"
  local distinct
  distinct=$(sql "SELECT COUNT(DISTINCT CAST(SUBSTRING_INDEX(url, '=', -1) AS UNSIGNED)),
                 MIN(CAST(SUBSTRING_INDEX(url, '=', -1) AS UNSIGNED)),
                 MAX(CAST(SUBSTRING_INDEX(url, '=', -1) AS UNSIGNED)) FROM \`$TABLE\`")
  [ "$distinct" = "$n	1	$n" ] || fail "numbered lines: want '$n 1 $n' (distinct min max), have '$distinct'"
  local raw_ok
  raw_ok=$(sql "SELECT COUNT(*) FROM \`$TABLE\` WHERE raw LIKE CONCAT(client, ' - - [%') AND status IN ('200','404')")
  [ "$raw_ok" = "$n" ] || fail "parsed columns disagree with raw lines in $((n - raw_ok)) rows"
  [ "$(events)" = "$n" ] || fail "redis events: want $n, have $(events)"
  diff <(expect "$n") <(actual | sort) >"$T_DIR/diff.txt" || fail "redis counters differ: $(cat "$T_DIR/diff.txt")"
}

# committed_at_end: each worker group's committed offset of every partition, as kafka-python
# reads it, equals the partition's end offset (a clean stop commits what the sinks wrote)
committed_at_end() {
  /usr/bin/python3 - "$BOOTSTRAP" "$TOPIC" "$T_ID.rows" "$T_ID.counters" <<'PY' >"$T_DIR/committed.txt" 2>&1 ||
import sys
from kafka import KafkaConsumer, TopicPartition
bs, topic, groups = sys.argv[1].split(","), sys.argv[2], sys.argv[3:]
c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False)
tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
ends = c.end_offsets(tps)
bad = 0
for g in groups:
    # committed() asks the group's coordinator (OffsetFetch) without joining the group
    gc = KafkaConsumer(bootstrap_servers=bs, group_id=g, enable_auto_commit=False)
    com = [gc.committed(tp) for tp in tps]
    com = [-1 if x is None else x for x in com]
    # an empty partition has nothing to commit: no offset there is its end
    com = [0 if x == -1 and ends[tp] == 0 else x for x, tp in zip(com, tps)]
    gc.close(autocommit=False)
    end = [ends[tp] for tp in tps]
    print(f"{g}: committed {com} ends {end}")
    bad += com != end
sys.exit(1 if bad else 0)
PY
    fail "committed offsets are not at the partition ends: $(cat "$T_DIR/committed.txt")"
  echo "figures: $(tr '\n' ' ' <"$T_DIR/committed.txt")"
}

start_ferry run1 run -c "$T_DIR/ferry.yaml"
wait_for "$N rows in MySQL" 120 have_rows "$N"
wait_for "$N events in Redis" 60 have_events "$N"
sleep 1 # anything extra (a duplicate) would arrive now
stop_ferry run1
check_totals "$N"
committed_at_end
ok "$N lines -> $N rows, exact Redis counters, the workers' offsets committed at the ends"

size=$(stat -c %s "$T_DIR/access.log")
cp_off=$(checkpoint_offset "$T_DIR/state/web.checkpoint.json")
[ "$cp_off" = "$size" ] || fail "checkpoint at $cp_off after a clean stop, file has $size bytes"
ok "checkpoint at end of file ($size)"

gen $((N + 1)) $((N + MORE)) >>"$T_DIR/access.log"
start_ferry run2 run -c "$T_DIR/ferry.yaml"
wait_for "$((N + MORE)) rows" 120 have_rows $((N + MORE))
wait_for "$((N + MORE)) events" 60 have_events $((N + MORE))
sleep 2
stop_ferry run2
check_totals $((N + MORE))
committed_at_end
grep -q "following from offset $size" "$T_DIR/run2.log" || fail "second run did not resume at $size"
ok "restart resumed at the checkpoint: exactly $MORE more rows and counts"

if [ "$MODE" = real ]; then
  # The topic itself, read by the Java client: every numbered line once (two clean runs of
  # an idempotent producer leave no duplicates).
  java_check "$T_DIR/check.txt" "$BOOTSTRAP" "$TOPIC" --expect-lines $((N + MORE)) \
    --number-regex 'n=([0-9]+) '
  [ "$(get records)" = $((N + MORE)) ] && [ "$(get missing)" = 0 ] && [ "$(get doubled)" = 0 ] ||
    fail "topic as the Java client reads it: $(tr '\n' ' ' <"$T_DIR/check.txt")"
  ok "the Java consumer reads $((N + MORE)) records, none missing, none doubled"
fi
