#!/usr/bin/env bash
# Broker failure on a real 3-node Kafka cluster: the agent ships numbered lines with
# acks: all (idempotent); once Kafka acknowledged some of them (strictly between 0 and N, the
# agent's own /metrics counter), the leader of partition 0 is killed with -9. While it is down
# a new leader must take partition 0 (kcat's metadata), partition 0 must grow on it (its end
# offset, read with kcat) and the agent's acknowledged count must rise: the producer moved to
# the new leader. Then the node is started again. The Java client reads the topic: every number
# exactly once, and the agent never exited.
set -euo pipefail
T_NAME=kafka_failover
. "$(dirname "$0")/lib.sh"

need_real_kafka 3
N=${FAILOVER_LINES:-60000}
TOPIC="failover-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:3" >/dev/null

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
$HTTP_ANY
$(agent_tail "$T_DIR/state" 200 numbered "$T_DIR/numbered.log" "$TOPIC" all)
YAML
: >"$T_DIR/numbered.log"
start_agent agent
acked() { metric "$ADDR" ferry_source_events_acked_total; }
# p0_end: partition 0's end offset (its high watermark), as its current leader tells kcat
p0_end() {
  timeout 10 kcat -Q -b "$B" -t "$TOPIC:0:-1" 2>/dev/null |
    awk -v t="$TOPIC" '$1 == t && $2 == "[0]" && $3 == "offset" && $4 ~ /^[0-9]+$/ { print $4; f = 1 }
      END { exit !f }'
}
leader_of_p0() { "$STACK" -d "$FERRY_STACK_DIR" kafka leader "$TOPIC" 0 2>/dev/null; }
# a node killed here is started again even when the test fails: the cluster is shared
down=""
restart_down() { [ -z "$down" ] || "$STACK" -d "$FERRY_STACK_DIR" kafka start-node "$down" >/dev/null 2>&1; }
at_exit restart_down

# The writer, in two halves of N/2 numbered lines at about 6,000 a second: the first while
# partition 0's leader is killed, the second once another node leads it, so that lines reach
# partition 0 while that node leads it.
start_writer write_numbered "$T_DIR/numbered.log" $((N / 2)) 600 "failover line"

wait_at_least "lines acknowledged before the kill" 120 2000 acked
leader=$(leader_of_p0) || fail "no leader for $TOPIC [0]"
acked_at_kill=$(acked)
down=$leader
"$STACK" -d "$FERRY_STACK_DIR" kafka kill "$leader"
echo "killed node $leader, leader of $TOPIC [0], with $acked_at_kill of $N lines acknowledged"

# While the node is down: another node leads partition 0, which grows on it, and the agent's
# acknowledged count passes N/2, the lines written before that node led.
new_leader() { local l; l=$(leader_of_p0) && [ "$l" != "$leader" ] && echo "$l"; }
wait_for "a new leader of $TOPIC [0]" 60 new_leader >/dev/null
leader2=$(new_leader) || fail "partition 0 lost its new leader"
wait_writer
wait_for "the end offset of $TOPIC [0] from node $leader2" 30 p0_end >/dev/null
p0_elected=$(p0_end) || fail "kcat could not read the end of $TOPIC [0]"
start_writer write_numbered "$T_DIR/numbered.log" "$N" 600 "failover line" $((N / 2 + 1))
grown() { local e; e=$(p0_end) && [ "$e" -gt "$p0_elected" ] && [ "$(acked)" -gt $((N / 2)) ]; }
wait_for "partition 0 to grow on node $leader2 and more lines acknowledged" 90 grown
p0_down=$(p0_end)
acked_down=$(acked)
kill -0 "$PID_agent" || fail "the agent exited while a broker was down"
still_down=$("$STACK" -d "$FERRY_STACK_DIR" kafka nodes | awk -v n="$leader" '$1 == n { print $2 }')
[ "$still_down" = - ] || fail "node $leader runs again (pid $still_down)"
echo "node $leader down: node $leader2 leads $TOPIC [0], its end went from $p0_elected to" \
  "$p0_down; acknowledged lines $acked_at_kill -> $acked_down"
"$STACK" -d "$FERRY_STACK_DIR" kafka start-node "$leader" >/dev/null
down=""
echo "node $leader is back"
wait_writer

wait_acked "$T_DIR/state/numbered.checkpoint.json" "$T_DIR/numbered.log" 180
kill -0 "$PID_agent" || fail "the agent exited"
acked_end=$(acked)
failures=$(metric "$ADDR" ferry_source_delivery_failures_total)
stop_ferry agent

java_check "$T_DIR/check.txt" "$B" "$TOPIC" --expect-lines "$N"
echo "figures: written=$N acked_at_kill=$acked_at_kill acked_while_down=$acked_down" \
  "acked_end=$acked_end delivery_failures=$failures killed=$leader new_leader=$leader2" \
  "p0_end_elected=$p0_elected p0_end_down=$p0_down received=$(get records)" \
  "missing=$(get missing) doubled=$(get doubled)"
[ "$acked_at_kill" -gt 0 ] && [ "$acked_at_kill" -lt "$N" ] ||
  fail "the kill did not land mid-stream: $acked_at_kill of $N lines acknowledged"
[ "$leader2" != "$leader" ] || fail "partition 0 kept its leader $leader"
[ "$acked_down" -gt $((N / 2)) ] && [ "$p0_down" -gt "$p0_elected" ] ||
  fail "no line of the second half acknowledged while node $leader was down"
[ "$acked_end" = "$N" ] || fail "the agent counted $acked_end acknowledged lines, not $N"
[ "$(get missing)" = 0 ] || fail "$(get missing) lines missing: $(get first_missing)"
[ "$(get doubled)" = 0 ] || fail "$(get doubled) lines doubled (idempotence): $(get first_doubled)"
[ "$(get records)" = "$N" ] || fail "records: want $N, have $(get records)"
ok "leader $leader of partition 0 killed with $acked_at_kill of $N lines acknowledged; node" \
  "$leader2 took over, partition 0 grew by $((p0_down - p0_elected)) on it and" \
  "$((acked_down - acked_at_kill)) more lines were acknowledged while $leader was down; all" \
  "$N received once"
