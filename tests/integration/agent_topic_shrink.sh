#!/usr/bin/env bash
# The topic loses the agent's partition while it ships (deleted and created again with fewer
# partitions, by kafka-python's admin client): every event then fails in librdkafka's
# partitioner. librdkafka 2.0.2 frees a header list it built itself twice on this path, so
# ferry builds the provenance headers itself; the agent must stay up.
#
# What the design promises (DESIGN.md §2, "every event accounted for: read = acknowledged +
# dead-lettered + counted-dropped"), and what is checked, with the agent's config unchanged
# (`explicit` partition 2, one process for the whole test, no restart):
#   phase 1  lines 1..N1, the topic deleted and created with 1 partition once between 0 and
#            N1 of them are acknowledged. Lines Kafka acknowledged before the deletion went
#            with the topic; the others are refused by the producer (unknown topic or
#            partition) and counted in ferry_source_events_refused_total, which must grow.
#            The checkpoint still covers the whole file (nothing stalls).
#   phase 2  the topic grows back to 3 partitions (create_partitions); the agent's producer
#            sees partition 2 at its next metadata refresh (topic.metadata.refresh.interval.ms
#            1000). Lines N1+1..N2 are then written: the lines read before that refresh are
#            refused and counted, so the lines of phase 2 missing from the topic are exactly a
#            prefix N1+1..F-1, as many as the refusals counted during phase 2; every line from F
#            to N2 is in partition 2 exactly once, in order, and F is below N2 (the agent went
#            on). Nothing at all is in partitions 0 and 1, and no line of phase 1 is in the
#            recreated topic (a line is never sent after it was counted as refused). Over the
#            whole run ferry_source_events_acked_total + ferry_source_events_refused_total
#            equals the number of lines written.
# Judged by the Java checker (Check.java --dump) and the agent's /metrics.
set -euo pipefail
T_NAME=agent_topic_shrink
. "$(dirname "$0")/lib.sh"

need_real_kafka
TOPIC="shrink-$T_ID"
N1=2000
N2=5000
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:1" >/dev/null

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  producer: {topic.metadata.refresh.interval.ms: "1000"}
http: {listen: "127.0.0.1:0"}
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
start_agent agent
CP="$T_DIR/state/lines.checkpoint.json"

# write_lines FROM TO: appends "<i> shrink line <i, 8 digits>", about 250 lines a second
write_lines() {
  python3 - "$T_DIR/lines.log" "$1" "$2" <<'PY'
import sys, time
with open(sys.argv[1], "a", buffering=1) as f:
    for i in range(int(sys.argv[2]), int(sys.argv[3]) + 1):
        f.write(f"{i} shrink line {i:08d}\n")
        if i % 25 == 0:
            time.sleep(0.1)
PY
}
refused() { metric "$ADDR" ferry_source_events_refused_total 'source="lines"'; }
acked() { metric "$ADDR" ferry_source_events_acked_total 'source="lines"'; }

write_lines 1 "$N1" &
writer=$!
wait_at_least "the agent to ship lines before the deletion" 60 200 acked
at_fault=$(wc -l <"$T_DIR/lines.log")
/usr/bin/python3 - "$B" "$TOPIC" <<'PY' || fail "could not delete and create the topic again"
import sys, time
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1].split(","))
admin.delete_topics([sys.argv[2]])
for _ in range(150):
    try:
        admin.create_topics([NewTopic(sys.argv[2], 1, 1)])
        break
    except Exception:
        time.sleep(0.2)
else:
    sys.exit("topic not created again")
PY
at_recreate=$(wc -l <"$T_DIR/lines.log")
echo "topic $TOPIC deleted at line $at_fault, created again with 1 partition at line $at_recreate"
[ "$at_recreate" -lt "$N1" ] || fail "the writer had finished ($at_recreate lines) before the topic was created again: not mid-stream"
wait "$writer"
wait_acked "$CP" "$T_DIR/lines.log" 120
kill -0 "$PID_agent" 2>/dev/null || fail "the agent died when its partition disappeared"
r1=$(refused)
[ "$r1" -gt 0 ] || fail "no event was refused while the partition was missing (refused=$r1)"
ok "phase 1: the agent stayed up, $r1 events refused and counted, checkpoint at the end of the file"

/usr/bin/python3 - "$B" "$TOPIC" <<'PY' || fail "could not add partitions"
import sys
from kafka.admin import KafkaAdminClient, NewPartitions
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1].split(","))
admin.create_partitions({sys.argv[2]: NewPartitions(total_count=3)})
PY
write_lines $((N1 + 1)) "$N2"
wait_acked "$CP" "$T_DIR/lines.log" 120
r2=$(refused)
a2=$(acked)
# every line read is accounted for once: acknowledged by Kafka or refused and counted
[ $((a2 + r2)) -eq "$N2" ] || fail "acked $a2 + refused $r2 != $N2 lines read"
kill -0 "$PID_agent" 2>/dev/null || fail "the agent died after its partition came back"

java_check "$T_DIR/check.out" "$B" "$TOPIC" --expect-lines "$N2" --dump "$T_DIR/dump.tsv"
python3 - "$T_DIR/dump.tsv" "$N1" "$N2" "$((r2 - r1))" <<'PY' >"$T_DIR/judge.out" || { cat "$T_DIR/judge.out"; fail "phase 2 is not what the design promises"; }
import sys
dump, n1, n2, refused2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad = []
nums = []
for line in open(dump, encoding="utf-8"):
    part, off, key, value = line.rstrip("\n").split("\t", 3)
    i = int(value.split(" ", 1)[0])
    if value != f"{i} shrink line {i:08d}":
        bad.append(f"unexpected value {value!r}")
    if part != "2":
        bad.append(f"line {i} in partition {part}")
    nums.append(i)
phase1 = [i for i in nums if i <= n1]
phase2 = [i for i in nums if i > n1]
if phase1:
    bad.append(f"{len(phase1)} lines of phase 1 in the recreated topic (first {phase1[0]})")
first = phase2[0] if phase2 else n2 + 1
if phase2 != list(range(first, n2 + 1)):
    bad.append(f"phase 2 is not the run {first}..{n2} exactly once in order "
               f"({len(phase2)} records, {len(set(phase2))} distinct)")
missing = first - (n1 + 1)
if missing != refused2:
    bad.append(f"{missing} lines of phase 2 missing, but {refused2} refusals counted in phase 2")
if first > n2 - 1000:
    bad.append(f"the agent went on too late: first line of phase 2 in Kafka is {first}")
print(f"figures: phase2_first_in_kafka={first} phase2_missing={missing} "
      f"phase2_refused={refused2} phase2_records={len(phase2)} phase1_records={len(phase1)}")
for b in bad[:10]:
    print("bad:", b)
sys.exit(1 if bad else 0)
PY
cat "$T_DIR/judge.out"
echo "figures: deleted_at_line=$at_fault recreated_at_line=$at_recreate refused_phase1=$r1 refused_total=$r2 acked_total=$a2 $(grep -E '^(records|partition\.[0-9])=' "$T_DIR/check.out" | tr '\n' ' ')"
stop_ferry agent
ok "a partition that disappears under the agent: it stays up, counts what it refuses, and every line from its next metadata refresh on is in partition 2 exactly once"
