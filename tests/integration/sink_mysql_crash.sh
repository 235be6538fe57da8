#!/usr/bin/env bash
# Effectively-once into MySQL through crashes: kcat writes N keyed JSON events to a
# 6-partition topic in a steady stream of N/8 a second, the test holding back the later parts
# until the faults have struck; two `ferry sink` processes share the group (an insert worker
# on the LOAD DATA path and an upsert worker). Once rows are arriving, one process is killed
# with SIGKILL; after the survivor's rebalance a third joins, and later, while batches are
# being committed, MariaDB (a private one) is killed with SIGKILL and started again on the
# same port and data directory: a commit whose reply the crash lost comes again. The table
# must hold exactly N rows, unique by (topic, partition, offset) and by event number, the
# upsert table one row per key with the key's last event, and the sum of ferry_offsets exactly
# N; the survivors' /metrics must show the rebalance and the failed writes. Then a true replay
# through the sink: MariaDB down, the consumer groups deleted (kafka-python), a new process
# starts from the beginning of the topic (the sink's offsets cannot be read), MariaDB comes
# back: its /metrics must count every event offered again and skipped, and none written.
set -euo pipefail
T_NAME=sink_mysql_crash
. "$(dirname "$0")/lib.sh"

need_real_kafka
N=${CRASH_EVENTS:-60000}
KEYS=1000
TOPIC="crash-$T_ID"
DLQ="crash-dlq-$T_ID"
TABLE="cr_$T_ID"
LATEST="crl_$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:6" "$DLQ:1" >/dev/null

# a MariaDB of this test's own: restarting it disturbs no other test
private_mariadb

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$HTTP_ANY
$(sinks_section "$DLQ")
$(mysql_worker rows "$TOPIC" json "$TABLE" "$MYPORT")
      columns:
        n: {type: int, null: false}
        k: {type: int}
        at: {type: datetime, format: epoch_ms}
      batch: {max_rows: 2000, max_ms: 100}
$(mysql_worker latest "$TOPIC" json "$LATEST" "$MYPORT")
      mode: upsert
      key: [k]
      raw: false
      columns:
        k: {type: int}
        n: {type: int}
      batch: {max_rows: 2000, max_ms: 100}
YAML

produce() { # produce FIRST LAST: chunks FIRST..LAST of 8, in a steady stream of about N/8
  # events a second; keyed by n % KEYS, so a key's events keep their order
  local per=$((N / 8))
  seq $((($1 - 1) * per + 1)) $(($2 * per)) |
    awk -v k="$KEYS" '{ printf "%d:{\"n\":%d,\"k\":%d,\"at\":%d}\n", $1 % k, $1, $1 % k, 1700000000000 + $1 }' |
    paced "$per" | kcat -P -b "$B" -t "$TOPIC" -K : -X acks=all
}
rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
start_sink w1
start_sink w2
for w in rows latest; do # both processes in both groups before the first event
  wait_at_least "partitions for the second process's $w worker" 90 1 held w2 "$w"
  wait_at_least "partitions for the first process's $w worker" 90 1 held w1 "$w"
done
produce 1 3 &
producer=$!
# ---- kill -9 of a worker while rows arrive -------------------------------------------------
wait_at_least "rows from the first chunks" 120 $((N / 16)) rows
wait_rising "rows arriving" 60 rows
kill_busy_worker w1 w2 rows rows
wait "$producer" || fail "kcat failed"
start_sink w3
wait_at_least "partitions for the third process's rows worker" 90 1 held w3 rows
wait_at_least "partitions for the third process's upsert worker" 90 1 held w3 latest

# ---- SIGKILL of MariaDB while batches are being committed -----------------------------------
produce 4 6 &
producer=$!
wait_at_least "rows from the next chunks" 120 $((AT_KILL + N / 16)) rows
fails_before=$(($(wm w2 write_failures) + $(wm w3 write_failures)))
crash_midstream mariadb rows
echo "mariadb started again on port $MYPORT with $(rows) rows"
wait "$producer" || fail "kcat failed"
produce 7 8 || fail "kcat failed"

latest_done() { [ "$(sql "SELECT COUNT(*) FROM \`$LATEST\` WHERE n > $((N - KEYS))" 2>/dev/null || echo 0)" -ge "$KEYS" ]; }
done_all() { [ "$(rows)" -ge "$N" ] && latest_done; }
wait_for "$N rows" 180 done_all
sleep 2 # a batch written twice would land now
faults_apart "$AT_KILL" "$AT_CRASH" "$N" rows
failures=$(($(wm w2 write_failures) + $(wm w3 write_failures)))
[ "$failures" -gt "$fails_before" ] ||
  fail "no write failed on the surviving processes across the MariaDB crash ($fails_before before, $failures after)"
replayed=$(($(wm w2 events_replayed) + $(wm w3 events_replayed)))
written=$(($(wm w2 events_written rows) + $(wm w3 events_written rows)))
stop_ferry w2
stop_ferry w3

check() {
  local lrows lsum
  rows_once "$TABLE" "$N" "$1"
  offsets_at "$T_ID.rows" "$N" "$1"
  # the last event of key k is the largest n <= N with n % KEYS = k
  read -r lrows lsum < <(sql "SELECT COUNT(*), SUM(n = $N - MOD($N - k + $KEYS, $KEYS)) FROM \`$LATEST\`")
  [ "$lrows $lsum" = "$KEYS $KEYS" ] || fail "$1: upsert rows $lrows, $lsum of them at their key's last event"
}
check "after the crash"
echo "figures: $N events; kill -9 at $AT_KILL rows, MariaDB SIGKILL at $AT_CRASH rows;" \
  "survivors: $failures failed writes retried ($fails_before before the crash)," \
  "$replayed events offered again and skipped, $written events written by their rows workers"
ok "SIGKILL of a worker and of MariaDB mid-stream: exactly $N rows, one per event"

# ---- a replay the sink has to refuse -----------------------------------------------------
"$STACK" -d "$T_DIR/stack" stop mariadb >/dev/null || fail "mariadb did not stop"
/usr/bin/python3 - "$B" "$T_ID" <<'PY' || fail "deleting the consumer groups failed"
import sys, time
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
for attempt in range(30):  # a group is deletable once its members' sessions are gone
    res = a.delete_consumer_groups([f"{sys.argv[2]}.rows", f"{sys.argv[2]}.latest"])
    if all(err.errno == 0 for _, err in res):
        break
    time.sleep(1)
else:
    sys.exit(f"{res}")
PY
start_sink w4
from_kafka() { [ "$(grep -c "assigned .* at the committed offset" "$T_DIR/w4.log")" -ge 12 ]; }
wait_for "partitions assigned without the sink's offsets" 60 from_kafka
wait_at_least "partitions counted as assigned" 30 12 wm w4 partitions_assigned
private_restart mariadb
wait_at_least "every event offered again to the rows worker" 120 "$N" wm w4 events_replayed rows
wait_at_least "every event offered again to the upsert worker" 120 "$N" wm w4 events_replayed latest
sleep 1 # an event counted twice would be counted now
read -r rrep rwr lrep lwr fails < <(echo "$(wm w4 events_replayed rows) $(wm w4 events_written rows)" \
  "$(wm w4 events_replayed latest) $(wm w4 events_written latest) $(wm w4 write_failures)")
stop_ferry w4
check "after the replay"
echo "figures: replay of $N events from offset 0 (after $fails failed writes while MariaDB was down):" \
  "rows worker $rrep skipped, $rwr written; upsert worker $lrep skipped, $lwr written"
[ "$rrep $rwr" = "$N 0" ] ||
  fail "rows worker: $rrep events counted as offered again and skipped, $rwr as written; want $N and 0"
[ "$lrep $lwr" = "$N 0" ] ||
  fail "upsert worker: $lrep events counted as offered again and skipped, $lwr as written; want $N and 0"
ok "a full replay through the sink wrote nothing twice"
