#!/usr/bin/env bash
# Deliveries Kafka gives up on are sent again. The agent ships numbered lines with a short
# message.timeout.ms (1.5 s) while every node of the real cluster is paused (SIGSTOP) for 5 s:
# librdkafka fails the lines it holds, the tail source reads them again from the file and
# sends them again once the cluster is back, and its checkpoint never passes a line Kafka
# does not have. The Java client must find every number; the agent's log must show that
# lines were sent again, and that none was given up.
set -euo pipefail
T_NAME=tail_redeliver
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
N=${REDELIVER_LINES:-40000}
REPL=$((FERRY_REAL_KAFKA_NODES >= 3 ? 3 : 1))
TOPIC="redeliver-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:$REPL" >/dev/null
mkdir -p "$T_DIR/logs"
cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
  producer: {message.timeout.ms: "1500"}
agent:
  state_dir: $T_DIR/state
  checkpoint_ms: 200
  sources:
    - name: redeliver
      paths: [$T_DIR/logs/app.log*]
      topic: $TOPIC
      acks: 1
YAML
: >"$T_DIR/logs/app.log"
start_ferry agent agent -c "$T_DIR/ferry.yaml"

# N numbered lines over about 12 s, renamed once in the middle of the outage.
/usr/bin/python3 - "$T_DIR/logs/app.log" "$N" <<'PY' &
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
step = n // 120
f = open(path, "a")
for i in range(1, n + 1):
    f.write(f"{i} redeliver line {i:08d}\n")
    if i % step == 0:
        f.flush()
        time.sleep(0.1)
    if i == n // 2:
        f.close()
        os.rename(path, path + ".1")
        f = open(path, "a")
f.close()
PY
writer=$!

sleep 3
nodes=$(seq 1 "$FERRY_REAL_KAFKA_NODES")
for n in $nodes; do "$STACK" -d "$FERRY_STACK_DIR" kafka pause "$n"; done
echo "every node paused"
sleep 5
for n in $nodes; do "$STACK" -d "$FERRY_STACK_DIR" kafka resume "$n"; done
echo "every node resumed"
wait "$writer"

last="" same=0
for _ in $(seq 1 240); do
  cur=$(md5sum "$T_DIR/state/redeliver.checkpoint.json" 2>/dev/null || true)
  if [ -n "$cur" ] && [ "$cur" = "$last" ]; then same=$((same + 1)); else same=0; fi
  [ $same -ge 6 ] && break
  last=$cur
  sleep 0.5
done
[ $same -ge 6 ] || fail "the agent never went quiet"
kill -0 "$PID_agent" || fail "the agent exited"
stop_ferry agent

java -cp "$FERRY_REAL_KAFKA_LIB/*" "$FERRY_SRC/tests/tools/Check.java" \
  --bootstrap "$FERRY_REAL_KAFKA_BOOTSTRAP" --topic "$TOPIC" --expect-lines "$N" \
  --number-regex '^(\d+) redeliver line 0*\1$' --timeout-ms 90000 \
  >"$T_DIR/check.txt" 2>"$T_DIR/check.err" || fail "checker: $(cat "$T_DIR/check.err")"
get() { sed -n "s/^$1=//p" "$T_DIR/check.txt"; }
failed=$(grep -c "delivery to .* failed" "$T_DIR/agent.log" || true)
summary=$(grep -o "[0-9]* sent again, [0-9]* given up" "$T_DIR/agent.log" | tail -n 1 || true)
echo "figures: written=$N received=$(get records) missing=$(get missing) doubled=$(get doubled)" \
  "failed_deliveries=$failed ($summary)"
[ "$(get missing)" = 0 ] || fail "$(get missing) lines missing: $(get first_missing)"
[ "$(get unnumbered)" = 0 ] || fail "records that are not whole lines"
[ "$failed" -gt 0 ] || fail "no delivery failed: the outage did not test anything"
case "$summary" in
  "0 sent again"*) fail "failed deliveries were not sent again" ;;
  *" 0 given up") ;;
  *) fail "deliveries given up: $summary" ;;
esac
ok "every node paused 5 s with message.timeout.ms 1500: $failed deliveries failed and were" \
  "sent again; $N lines, none missing, $(get doubled) doubled"
