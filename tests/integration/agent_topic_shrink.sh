#!/usr/bin/env bash
# The topic loses the agent's partition while it ships (deleted and created again with fewer
# partitions, by kafka-python's admin client): every event then fails in librdkafka's
# partitioner. The agent must stay up, say what happens, and keep the lines for later (they
# are retried from the file); it must not crash. librdkafka 2.0.2 frees a header list it
# built itself twice on this path, so ferry builds the provenance headers itself.
set -euo pipefail
T_NAME=agent_topic_shrink
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
B=$FERRY_REAL_KAFKA_BOOTSTRAP
TOPIC="shrink-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:1" >/dev/null

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  producer: {topic.metadata.refresh.interval.ms: "1000"}
agent:
  state_dir: $T_DIR/state
  sources:
    - name: lines
      paths: [$T_DIR/lines.log]
      topic: $TOPIC
      acks: 1
      partitioning: {mode: explicit, partition: 2}
YAML
: >"$T_DIR/lines.log"
start_ferry agent agent -c "$T_DIR/ferry.yaml"
python3 - "$T_DIR/lines.log" <<'PY' &
import sys, time
with open(sys.argv[1], "a", buffering=1) as f:
    for i in range(1, 3001):
        f.write(f"{i} shrink line\n")
        time.sleep(0.004)
PY
writer=$!

sleep 2
/usr/bin/python3 - "$B" "$TOPIC" <<'PY' || fail "could not delete and create the topic again"
import sys, time
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1].split(","))
admin.delete_topics([sys.argv[2]])
for _ in range(100):
    try:
        admin.create_topics([NewTopic(sys.argv[2], 1, 1)])
        break
    except Exception:
        time.sleep(0.2)
else:
    sys.exit("topic not created again")
PY
echo "topic $TOPIC now has 1 partition; the agent sends to partition 2"
wait "$writer"
sleep 5
kill -0 "$PID_agent" 2>/dev/null || fail "the agent died when its partition disappeared"
grep -q 'Unknown partition' "$T_DIR/agent.log" || fail "the agent's log does not say the partition is unknown"
stop_ferry agent
ok "a partition that disappears under the agent: it stays up, logs why, and keeps the lines"
