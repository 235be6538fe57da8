#!/usr/bin/env bash
# Broker outage: every broker of a (mock) cluster goes down for 10 s while the agent ships
# numbered lines through a small producer queue. The brokers go down once the agent's
# checkpoint is strictly inside the file; while they are down, reading must stop for a full
# queue (ferry_source_queue_full_total rises: backpressure) and the checkpoint must not move
# (no line counts as delivered that Kafka does not have). When the brokers return, every line
# must arrive: kcat, an independent client, reads the topic and the numbers are counted
# (missing must be 0; doubled is shown).
# The mock keeps only about 1-2 MiB per partition: the volume stays below that, and the test
# checks that every partition still starts at offset 0, so that kcat reads everything.
set -euo pipefail
T_NAME=agent_outage
. "$(dirname "$0")/lib.sh"

N=${OUTAGE_LINES:-40000}
TOPIC="outage-$T_ID"
start_mock "$TOPIC:3"
MOCK_PID=$(cat "$T_DIR/stack/mock-kafka/pid")

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$BOOTSTRAP"
  producer: {queue.buffering.max.messages: "5000"}
$HTTP_ANY
$(agent_tail "$T_DIR/state" 200 numbered "$T_DIR/numbered.log" "$TOPIC" all)
YAML
: >"$T_DIR/numbered.log"
start_agent agent
CP="$T_DIR/state/numbered.checkpoint.json"
cp_off() { checkpoint_offset "$CP"; }
queue_full() { metric "$ADDR" ferry_source_queue_full_total; }

# The writer: N numbered lines over about 15 s.
start_writer write_numbered "$T_DIR/numbered.log" "$N" $((N / 150)) "outage line"

wait_at_least "a checkpoint inside the file" 60 1 cp_off
qf_before=$(queue_full)
kill -USR1 "$MOCK_PID"
cp_at_down=$(cp_off)
echo "every broker down, checkpoint at $cp_at_down bytes"
# Reading stops once the 5,000 messages are queued. Any acknowledgement that was on its way
# when the brokers went down has reached the checkpoint by then (it is written every 200 ms).
wait_at_least "reading stopped for a full queue" 60 $((qf_before + 1)) queue_full
cp_stopped=$(cp_off)
sent_stopped=$(metric "$ADDR" ferry_source_events_sent_total)
# The outage goes on for 10 s in all: the checkpoint and what was sent must stand still.
sleep 10
kill -0 "$PID_agent" || fail "the agent exited while the brokers were down"
cp_end_of_outage=$(cp_off)
sent_end_of_outage=$(metric "$ADDR" ferry_source_events_sent_total)
qf_down=$(queue_full)
kill -USR2 "$MOCK_PID"
echo "every broker up again"
wait_writer
size=$(stat -c %s "$T_DIR/numbered.log")

wait_acked "$CP" "$T_DIR/numbered.log" 120
stop_ferry agent

read -r records missing doubled first < <(count_numbered "$BOOTSTRAP" "$TOPIC" "$N" "$T_DIR/read.txt")
[ "$first" = 0 ] || fail "the mock dropped the oldest messages (first offsets sum to $first): lower N"
echo "figures: written=$N bytes=$size checkpoint_at_down=$cp_at_down" \
  "checkpoint_queue_full=$cp_stopped checkpoint_end_of_outage=$cp_end_of_outage" \
  "queue_full_stops=$qf_before->$qf_down sent_queue_full=$sent_stopped" \
  "sent_end_of_outage=$sent_end_of_outage received=$records missing=$missing doubled=$doubled"
[ "$cp_at_down" -gt 0 ] && [ "$cp_at_down" -lt "$size" ] ||
  fail "the outage did not start mid-stream: checkpoint at $cp_at_down of $size bytes"
[ "$qf_down" -gt "$qf_before" ] || fail "reading never stopped for a full queue"
[ "$cp_end_of_outage" = "$cp_stopped" ] ||
  fail "the checkpoint moved from $cp_stopped to $cp_end_of_outage while every broker was down"
[ "$sent_end_of_outage" = "$sent_stopped" ] ||
  fail "$((sent_end_of_outage - sent_stopped)) lines were sent into a full queue"
[ "$missing" = 0 ] || fail "$missing lines missing after the outage"
ok "10 s without brokers from byte $cp_at_down of $size: reading stopped for a full queue," \
  "the checkpoint stood at $cp_stopped, and all $N lines arrived ($doubled doubled)"
