#!/usr/bin/env bash
# Effectively-once into MySQL through crashes: kcat writes N keyed JSON events to a
# 6-partition topic over ~8 s; two `ferry sink` processes share the group (an insert worker on
# the LOAD DATA path and an upsert worker). Mid-stream one is killed with SIGKILL and MariaDB
# (a private one, on its own data directory) is restarted on the same port; a third process
# joins. The table must hold exactly N rows, unique by (topic, partition, offset) and by
# event number, the upsert table one row per key with the key's last event, and the sum of
# ferry_offsets exactly N. Then a true replay through the sink: MariaDB down, the consumer
# groups deleted (kafka-python), a new process starts from the beginning of the topic (the
# sink's offsets cannot be read), MariaDB comes back: every event arrives again and is
# skipped, nothing is written twice.
set -euo pipefail
T_NAME=sink_mysql_crash
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
B=$FERRY_REAL_KAFKA_BOOTSTRAP
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
restart_mariadb() {
  "$STACK" -d "$T_DIR/stack" stop mariadb >/dev/null || fail "mariadb did not stop"
  sleep "${1:-0}"
  FERRY_MYSQL_PORT=$MYPORT FERRY_MYSQL_KEEP_DATA=1 "$STACK" -d "$T_DIR/stack" start mariadb \
    >/dev/null || fail "mariadb did not restart on port $MYPORT"
}

MYSQL="mysql: $(mysql_conn "$MYPORT")"
cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  consumer: {session.timeout.ms: "6000"}
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

produce() { # 8 chunks, one a second; keyed by n % KEYS, so a key's events keep their order
  local c per=$((N / 8))
  for c in $(seq 0 7); do
    seq $((c * per + 1)) $(((c + 1) * per)) |
      awk -v k="$KEYS" '{ printf "%d:{\"n\":%d,\"k\":%d,\"at\":%d}\n", $1 % k, $1, $1 % k, 1700000000000 + $1 }' |
      kcat -P -b "$B" -t "$TOPIC" -K : -X acks=all || return 1
    sleep 1
  done
}
produce &
producer=$!
start_ferry w1 sink -c "$T_DIR/ferry.yaml"
start_ferry w2 sink -c "$T_DIR/ferry.yaml"
sleep 3
kill -KILL "$PID_w1"
wait "$PID_w1" 2>/dev/null || true
echo "first worker killed (SIGKILL)"
sleep 1
restart_mariadb 1
echo "mariadb restarted on port $MYPORT"
start_ferry w3 sink -c "$T_DIR/ferry.yaml"
wait "$producer" || fail "kcat failed"

rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
latest_done() { [ "$(sql "SELECT COUNT(*) FROM \`$LATEST\` WHERE n > $((N - KEYS))" 2>/dev/null || echo 0)" -ge "$KEYS" ]; }
done_all() { [ "$(rows)" -ge "$N" ] && latest_done; }
wait_for "$N rows" 180 done_all
sleep 2
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
failures=$(cat "$T_DIR"/w*.log | grep -c 'write of .* failed' || true)
echo "figures: $N events; $failures failed writes retried (kill -9, MariaDB restart)"
ok "SIGKILL of a worker and a MariaDB restart mid-stream: exactly $N rows, one per event"

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
start_ferry w4 sink -c "$T_DIR/ferry.yaml"
from_kafka() { [ "$(grep -c "assigned .* at the committed offset" "$T_DIR/w4.log")" -ge 12 ]; }
wait_for "partitions assigned without the sink's offsets" 60 from_kafka
sleep 1
FERRY_MYSQL_PORT=$MYPORT FERRY_MYSQL_KEEP_DATA=1 "$STACK" -d "$T_DIR/stack" start mariadb \
  >/dev/null || fail "mariadb did not restart"
skipped() { grep -h 'rows: skipped' "$T_DIR/w4.log" | awk '{ s += $6 } END { print s + 0 }'; }
all_skipped() { [ "$(skipped)" -ge "$N" ]; }
wait_for "every event offered again and skipped" 120 all_skipped
sleep 1
stop_ferry w4
check "after the replay"
echo "figures: replay of $N events from offset 0: $(skipped) skipped by the rows worker"
ok "a full replay through the sink wrote nothing twice"
