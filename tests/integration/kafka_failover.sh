#!/usr/bin/env bash
# Broker failure on a real 3-node Kafka cluster: the agent ships numbered lines with
# acks: all (idempotent) while the leader of partition 0 is killed with -9 and later started
# again. The Java client then reads the topic: every number must be there exactly once, the
# agent must never have exited, and its log must say what happened.
set -euo pipefail
T_NAME=kafka_failover
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
[ "${FERRY_REAL_KAFKA_NODES:-1}" -ge 3 ] || fail "needs 3 Kafka nodes, the stack has ${FERRY_REAL_KAFKA_NODES:-1}"
N=${FAILOVER_LINES:-60000}
TOPIC="failover-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:3" >/dev/null

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
agent:
  state_dir: $T_DIR/state
  checkpoint_ms: 200
  sources:
    - name: numbered
      paths: [$T_DIR/numbered.log]
      topic: $TOPIC
      acks: all
YAML
: >"$T_DIR/numbered.log"
start_ferry agent agent -c "$T_DIR/ferry.yaml"

# The writer: N numbered lines, about 6,000 a second, so the kill lands mid-stream.
write_numbered "$T_DIR/numbered.log" "$N" 600 "failover line" &
writer=$!

sleep 3
leader=$("$STACK" -d "$FERRY_STACK_DIR" kafka leader "$TOPIC" 0)
echo "killing node $leader, leader of $TOPIC [0]"
"$STACK" -d "$FERRY_STACK_DIR" kafka kill "$leader"
sleep 5
kill -0 "$PID_agent" || fail "the agent exited while a broker was down"
"$STACK" -d "$FERRY_STACK_DIR" kafka start-node "$leader"
echo "node $leader is back"
wait "$writer"

wait_acked "$T_DIR/state/numbered.checkpoint.json" "$T_DIR/numbered.log" 180
kill -0 "$PID_agent" || fail "the agent exited"
stop_ferry agent

java -cp "$FERRY_REAL_KAFKA_LIB/*" "$FERRY_SRC/tests/tools/Check.java" \
  --bootstrap "$FERRY_REAL_KAFKA_BOOTSTRAP" --topic "$TOPIC" --expect-lines "$N" \
  >"$T_DIR/check.txt" 2>"$T_DIR/check.log" || fail "checker: $(cat "$T_DIR/check.log")"
cat "$T_DIR/check.txt"
get() { sed -n "s/^$1=//p" "$T_DIR/check.txt"; }
echo "figures: written=$N received=$(get records) missing=$(get missing) doubled=$(get doubled)"
[ "$(get missing)" = 0 ] || fail "$(get missing) lines missing: $(get first_missing)"
[ "$(get doubled)" = 0 ] || fail "$(get doubled) lines doubled (idempotence): $(get first_doubled)"
[ "$(get records)" = "$N" ] || fail "records: want $N, have $(get records)"
grep -Eiq "disconnect|connection refused|transport|broker.*down" "$T_DIR/agent.log" ||
  fail "the agent's log does not mention the lost broker"
ok "leader killed and restarted mid-stream: $N lines written, all received once"
