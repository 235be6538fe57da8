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
env -u FERRY_MYSQL_PORT "$STACK" -d "$T_DIR/stack" start mariadb >/dev/null ||
  fail "private mariadb did not start"
# shellcheck disable=SC1091
. "$T_DIR/stack/env"
MYPORT=$FERRY_MYSQL_PORT
start_mariadb_again() { # on its port and its data directory (InnoDB recovers it)
  FERRY_MYSQL_PORT=$MYPORT FERRY_MYSQL_KEEP_DATA=1 "$STACK" -d "$T_DIR/stack" start mariadb \
    >/dev/null || fail "mariadb did not start again on port $MYPORT"
}

MYSQL="mysql: $(mysql_conn "$MYPORT")"
cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  consumer: {session.timeout.ms: "6000"}
http: {listen: "127.0.0.1:0"}
sinks:
  group: $T_ID
  dead_letter_topic: $DLQ
  workers:
    - name: rows
      type: mysql
      topics: [$TOPIC]
      format: json
      $MYSQL
      table: $TABLE
      columns:
        n: {type: int, null: false}
        k: {type: int}
        at: {type: datetime, format: epoch_ms}
      batch: {max_rows: 2000, max_ms: 100}
    - name: latest
      type: mysql
      topics: [$TOPIC]
      format: json
      $MYSQL
      table: $LATEST
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
# m PROCESS METRIC [WORKER]: a counter of a running process (both workers, or one)
m() { metric "${ADDR[$1]}" "ferry_worker_$2_total" "${3:+worker=\"$3\"}"; }
declare -A ADDR
begin() { start_ferry "$1" sink -c "$T_DIR/ferry.yaml"; ADDR[$1]=$(http_addr "$1"); }

# held PROCESS WORKER: the partitions a worker holds now
held() { echo $(($(m "$1" partitions_assigned "$2") - $(m "$1" partitions_revoked "$2"))); }
begin w1
begin w2
for w in rows latest; do # both processes in both groups before the first event
  wait_at_least "partitions for the second process's $w worker" 90 1 held w2 "$w"
  wait_at_least "partitions for the first process's $w worker" 90 1 held w1 "$w"
done
produce 1 3 &
producer=$!
# ---- kill -9 of a worker while rows arrive -------------------------------------------------
wait_at_least "rows from the first chunks" 120 $((N / 16)) rows
wait_rising "rows arriving" 60 rows
w1_written=$(m w1 events_written rows)
w1_held=$(held w1 rows)
a2=$(m w2 partitions_assigned)
kill -KILL "$PID_w1"
wait "$PID_w1" 2>/dev/null || true
at_kill=$(rows)
echo "first worker killed (SIGKILL) at $at_kill rows (it held $w1_held partitions, had written $w1_written events)"
[ "$w1_written" -gt 0 ] && [ "$w1_held" -gt 0 ] ||
  fail "the killed worker held $w1_held partitions, had written $w1_written events: its kill proves nothing"
rebalanced() { [ "$(m w2 partitions_assigned)" -gt "$a2" ]; }
wait_for "the survivor's rebalance (partitions assigned above $a2)" 90 rebalanced
echo "survivor rebalanced: partitions assigned $a2 -> $(m w2 partitions_assigned)"
wait "$producer" || fail "kcat failed"
begin w3
wait_at_least "partitions for the third process's rows worker" 90 1 held w3 rows
wait_at_least "partitions for the third process's upsert worker" 90 1 held w3 latest

# ---- SIGKILL of MariaDB while batches are being committed -----------------------------------
produce 4 6 &
producer=$!
wait_at_least "rows from the next chunks" 120 $((at_kill + N / 16)) rows
fails_before=$(($(m w2 write_failures) + $(m w3 write_failures)))
wait_rising "rows being committed" 60 rows
"$STACK" -d "$T_DIR/stack" crash mariadb >/dev/null || fail "mariadb did not crash"
at_crash=$RISEN
echo "mariadb killed (SIGKILL) after $at_crash rows"
start_mariadb_again
echo "mariadb started again on port $MYPORT with $(rows) rows"
wait "$producer" || fail "kcat failed"
produce 7 8 || fail "kcat failed"

latest_done() { [ "$(sql "SELECT COUNT(*) FROM \`$LATEST\` WHERE n > $((N - KEYS))" 2>/dev/null || echo 0)" -ge "$KEYS" ]; }
done_all() { [ "$(rows)" -ge "$N" ] && latest_done; }
wait_for "$N rows" 180 done_all
sleep 2 # a batch written twice would land now
[ 0 -lt "$at_kill" ] && [ "$at_kill" -lt "$at_crash" ] && [ "$at_crash" -lt "$N" ] ||
  fail "the faults did not land mid-stream at different points: kill at $at_kill rows, crash at $at_crash, of $N"
failures=$(($(m w2 write_failures) + $(m w3 write_failures)))
[ "$failures" -gt "$fails_before" ] ||
  fail "no write failed on the surviving processes across the MariaDB crash ($fails_before before, $failures after)"
replayed=$(($(m w2 events_replayed) + $(m w3 events_replayed)))
written=$(($(m w2 events_written rows) + $(m w3 events_written rows)))
stop_ferry w2
stop_ferry w3

check() {
  local total uniq distinct lo hi offs lrows lsum
  read -r total uniq distinct lo hi < <(sql "SELECT COUNT(*), COUNT(DISTINCT kafka_topic, kafka_partition, kafka_offset), COUNT(DISTINCT n), MIN(n), MAX(n) FROM \`$TABLE\`")
  [ "$total $uniq $distinct $lo $hi" = "$N $N $N 1 $N" ] ||
    fail "$1: rows $total, unique by (topic, partition, offset) $uniq, distinct $distinct, $lo..$hi; want $N, 1..$N"
  offs=$(sql "SELECT SUM(next_offset) FROM ferry_offsets WHERE consumer_group = '$T_ID.rows'")
  [ "$offs" = "$N" ] || fail "$1: ferry_offsets add up to $offs, want $N"
  # the last event of key k is the largest n <= N with n % KEYS = k
  read -r lrows lsum < <(sql "SELECT COUNT(*), SUM(n = $N - MOD($N - k + $KEYS, $KEYS)) FROM \`$LATEST\`")
  [ "$lrows $lsum" = "$KEYS $KEYS" ] || fail "$1: upsert rows $lrows, $lsum of them at their key's last event"
}
check "after the crash"
echo "figures: $N events; kill -9 at $at_kill rows, MariaDB SIGKILL at $at_crash rows;" \
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
begin w4
from_kafka() { [ "$(grep -c "assigned .* at the committed offset" "$T_DIR/w4.log")" -ge 12 ]; }
wait_for "partitions assigned without the sink's offsets" 60 from_kafka
wait_at_least "partitions counted as assigned" 30 12 m w4 partitions_assigned
start_mariadb_again
wait_at_least "every event offered again to the rows worker" 120 "$N" m w4 events_replayed rows
wait_at_least "every event offered again to the upsert worker" 120 "$N" m w4 events_replayed latest
sleep 1 # an event counted twice would be counted now
read -r rrep rwr lrep lwr fails < <(echo "$(m w4 events_replayed rows) $(m w4 events_written rows)" \
  "$(m w4 events_replayed latest) $(m w4 events_written latest) $(m w4 write_failures)")
stop_ferry w4
check "after the replay"
echo "figures: replay of $N events from offset 0 (after $fails failed writes while MariaDB was down):" \
  "rows worker $rrep skipped, $rwr written; upsert worker $lrep skipped, $lwr written"
[ "$rrep $rwr" = "$N 0" ] ||
  fail "rows worker: $rrep events counted as offered again and skipped, $rwr as written; want $N and 0"
[ "$lrep $lwr" = "$N 0" ] ||
  fail "upsert worker: $lrep events counted as offered again and skipped, $lwr as written; want $N and 0"
ok "a full replay through the sink wrote nothing twice"
