#!/usr/bin/env bash
# Rebalances while batches are in flight, with eager and with cooperative-sticky assignment:
# kcat writes N events to a 6-partition topic over ~16 s; two `ferry sink` processes start, a
# third joins once the table holds between 0 and N rows, and one of the first two leaves
# (SIGTERM) once the third has partitions and more rows arrived, still fewer than N (the rows
# at each step are recorded and checked to be strictly between 0 and N). The rebalances are
# shown by the processes' own counters on /metrics (ferry_worker_partitions_assigned_total,
# _revoked_total, summed over the process's two workers, each its own group of 6 partitions):
# at the join the third process is assigned partitions and the first two revoke at least as
# many; at the leave the survivors are assigned at least the partitions the leaver held; at
# the end the survivors hold all 12. Every event must be exactly one MySQL row (unique by
# topic, partition, offset) and one Redis increment, whatever moved where.
#   sink_rebalance.sh eager|cooperative
set -euo pipefail
MODE=${1:-eager}
T_NAME="sink_rebalance_$MODE"
. "$(dirname "$0")/lib.sh"

need_real_kafka
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
$(sink_kafka "$B" "partition.assignment.strategy: \"$STRATEGY\"")
$HTTP_ANY
$(sinks_section)
$(mysql_worker rows "$TOPIC" json "$TABLE")
      columns: {n: n}
      batch: {max_rows: 300, max_ms: 100}
$(redis_worker counts "$TOPIC" "$FERRY_REDIS_PORT")
      batch: {max_rows: 300, max_ms: 100}
      commands:
        - [INCR, "$P:events"]
        - [SETBIT, "$P:seen", "{n}", "1"]
YAML

produce() { # 16 chunks, one every second (the pace; the faults are timed by rows)
  local c per=$((N / 16))
  for c in $(seq 0 15); do
    number_events $((c * per + 1)) $(((c + 1) * per)) |
      kcat -P -b "$B" -t "$TOPIC" -X acks=all || return 1
    sleep 1
  done
}
rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
events() { rcli GET "$P:events" | sed 's/^$/0/'; }
# m NAME FAMILY: a process's partitions FAMILY (assigned, revoked), summed over its two workers
m() { wm "$1" "partitions_$2"; }
produce &
producer=$!
start_sink w1
start_sink w2
both_hold() { [ $(($(held w1) + $(held w2))) -eq 12 ]; }
wait_for "w1 and w2 to hold all 12 partitions" 60 both_hold

wait_at_least "rows before the join" 120 $((N / 12)) rows
revoked_before_join=$(($(m w1 revoked) + $(m w2 revoked)))
start_ferry w3 sink -c "$T_DIR/ferry.yaml"
rows_at_join=$(rows)
[ "$rows_at_join" -gt 0 ] && [ "$rows_at_join" -lt "$N" ] || fail "the join was not mid-stream: $rows_at_join rows"
echo "third worker joined at $rows_at_join rows"
ADDR_OF[w3]=$(http_addr w3)
w3_holds() { [ "$(held w3)" -gt 0 ] && [ $(($(held w1) + $(held w2) + $(held w3))) -eq 12 ]; }
wait_for "w3 to be assigned partitions, the group settled" 60 w3_holds
join_assigned=$(m w3 assigned)
join_revoked=$(($(m w1 revoked) + $(m w2 revoked) - revoked_before_join))
[ "$join_revoked" -ge "$join_assigned" ] ||
  fail "at the join w3 was assigned $join_assigned partitions but w1 and w2 revoked only $join_revoked"

wait_at_least "rows after the join" 120 $((rows_at_join + N / 12)) rows
held_w1=$(held w1)
assigned_before_leave=$(($(m w2 assigned) + $(m w3 assigned)))
stop_ferry w1
rows_at_leave=$(rows)
[ "$rows_at_leave" -lt "$N" ] || fail "the leave was not mid-stream: $rows_at_leave rows"
echo "first worker left at $rows_at_leave rows, holding $held_w1 partitions"
[ "$held_w1" -gt 0 ] || fail "w1 held no partition when it left: nothing to move"
survivors_hold() { [ $(($(held w2) + $(held w3))) -eq 12 ]; }
wait_for "w2 and w3 to hold all 12 partitions" 60 survivors_hold
leave_assigned=$(($(m w2 assigned) + $(m w3 assigned) - assigned_before_leave))
[ "$leave_assigned" -ge "$held_w1" ] ||
  fail "at the leave the survivors were assigned $leave_assigned partitions, w1 held $held_w1"
wait "$producer" || fail "kcat failed"

done_all() { [ "$(rows)" -ge "$N" ] && [ "$(events)" -ge "$N" ]; }
wait_for "$N rows and events" 120 done_all
# settled: nothing more arrives (a duplicate would show as rows or events above N)
quiet() { local a b; a="$(rows) $(events)"; sleep 1; b="$(rows) $(events)"; [ "$a" = "$b" ]; }
wait_for "the table and counter to stay still" 30 quiet
figures_w="w2 assigned=$(m w2 assigned) revoked=$(m w2 revoked); w3 assigned=$(m w3 assigned) revoked=$(m w3 revoked)"
stop_ferry w2
stop_ferry w3

read -r total distinct lo hi < <(sql "SELECT COUNT(*), COUNT(DISTINCT n), MIN(CAST(n AS UNSIGNED)), MAX(CAST(n AS UNSIGNED)) FROM \`$TABLE\`")
[ "$total $distinct $lo $hi" = "$N $N 1 $N" ] ||
  fail "rows: want $N distinct 1..$N, have $total rows, $distinct distinct, $lo..$hi"
[ "$(events)" = "$N" ] || fail "redis: want $N increments, have $(events)"
[ "$(rcli BITCOUNT "$P:seen")" = "$N" ] || fail "redis: $(rcli BITCOUNT "$P:seen") of $N events seen"
echo "figures: $N events, $total rows, $(events) increments; join at $rows_at_join rows (w3 assigned $join_assigned, w1+w2 revoked $join_revoked), leave at $rows_at_leave rows (w1 held $held_w1, survivors assigned $leave_assigned); $figures_w"
ok "$MODE rebalances mid-stream (a worker joined, one left): nothing doubled, nothing lost"
