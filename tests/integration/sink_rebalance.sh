#!/usr/bin/env bash
# Rebalances while batches are in flight, with eager and with cooperative-sticky assignment:
# kcat writes N events to a 6-partition topic over ~8 s; two `ferry sink` processes start, a
# third joins mid-stream and one of the first two leaves (SIGTERM) a little later. Every
# event must be exactly one MySQL row (unique by topic, partition, offset) and one Redis
# increment, whatever moved where.
#   sink_rebalance.sh eager|cooperative
set -euo pipefail
MODE=${1:-eager}
T_NAME="sink_rebalance_$MODE"
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
case "$MODE" in
  eager) STRATEGY=range,roundrobin ;;
  cooperative) STRATEGY=cooperative-sticky ;;
  *) fail "mode must be eager or cooperative" ;;
esac
B=$FERRY_REAL_KAFKA_BOOTSTRAP
N=${REBALANCE_EVENTS:-60000}
TOPIC="rebalance-$T_ID"
TABLE="rb_$T_ID"
P="rb:$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:6" >/dev/null

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  consumer: {session.timeout.ms: "6000", partition.assignment.strategy: "$STRATEGY"}
sinks:
  group: $T_ID
  workers:
    - name: rows
      type: mysql
      topics: [$TOPIC]
      format: json
      mysql: $(mysql_conn)
      table: $TABLE
      columns: {n: n}
      batch: {max_rows: 300, max_ms: 100}
    - name: counts
      type: redis
      topics: [$TOPIC]
      format: json
      redis: {host: 127.0.0.1, port: $FERRY_REDIS_PORT}
      batch: {max_rows: 300, max_ms: 100}
      commands:
        - [INCR, "$P:events"]
        - [SETBIT, "$P:seen", "{n}", "1"]
YAML

produce() { # 8 chunks, one every second
  local c per=$((N / 8))
  for c in $(seq 0 7); do
    seq $((c * per + 1)) $(((c + 1) * per)) | awk '{ printf "{\"n\":%d}\n", $1 }' |
      kcat -P -b "$B" -t "$TOPIC" -X acks=all || return 1
    sleep 1
  done
}
produce &
producer=$!
start_ferry w1 sink -c "$T_DIR/ferry.yaml"
start_ferry w2 sink -c "$T_DIR/ferry.yaml"
sleep 2.5
start_ferry w3 sink -c "$T_DIR/ferry.yaml"
echo "third worker joined"
sleep 2.5
stop_ferry w1
echo "first worker left"
wait "$producer" || fail "kcat failed"

rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
events() { rcli GET "$P:events" | sed 's/^$/0/'; }
done_all() { [ "$(rows)" -ge "$N" ] && [ "$(events)" -ge "$N" ]; }
wait_for "$N rows and events" 120 done_all
sleep 2
stop_ferry w2
stop_ferry w3

read -r total distinct lo hi < <(sql "SELECT COUNT(*), COUNT(DISTINCT n), MIN(CAST(n AS UNSIGNED)), MAX(CAST(n AS UNSIGNED)) FROM \`$TABLE\`")
[ "$total $distinct $lo $hi" = "$N $N 1 $N" ] ||
  fail "rows: want $N distinct 1..$N, have $total rows, $distinct distinct, $lo..$hi"
[ "$(events)" = "$N" ] || fail "redis: want $N increments, have $(events)"
[ "$(rcli BITCOUNT "$P:seen")" = "$N" ] || fail "redis: $(rcli BITCOUNT "$P:seen") of $N events seen"
moves=$(cat "$T_DIR"/w*.log | grep -c 'assigned' || true)
echo "figures: $N events, $total rows, $(events) increments; $moves partition assignments across 3 workers"
ok "$MODE rebalances mid-stream (a worker joined, one left): nothing doubled, nothing lost"
