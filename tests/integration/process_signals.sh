#!/usr/bin/env bash
# Signals that stop the process. SIGINT must stop `ferry agent`, `ferry sink` and `ferry run`
# exactly as cleanly as SIGTERM; each case runs once with each signal, on the shared real
# cluster (read and written only):
#   agent  lines are held in the producer (linger.ms 3 s) when the signal comes (every line
#          handed over, not all acknowledged): exit 0, the checkpoint at the end of the file,
#          kcat reads every line (missing 0)
#   sink   kcat produced N JSON events; batches of 500 with no time limit, so that the last 250
#          events are written only because the process stops: the signal comes once the
#          worker took in all N (ferry_worker_events_consumed_total) and wrote 2,000; exit 0,
#          mariadb counts N distinct rows, ferry_offsets adds up to N, and the group's offsets
#          committed in Kafka (read with kafka-python) are each partition's end
#   run    both in one process: the file's lines acknowledged, 2,000 of them written, the
#          signal: exit 0, the checkpoint at the end, N rows, the Kafka commits at the end
# shutdown_timeout_ms on a private mock cluster: every broker down with lines in flight,
# SIGTERM: the agent is gone within shutdown_timeout_ms plus a margin (it does not hang), its
# checkpoint did not pass the lines Kafka never acknowledged, and a new start with the
# brokers up delivers them (missing 0).
set -euo pipefail
T_NAME=process_signals
. "$(dirname "$0")/lib.sh"

need_real_kafka 3
N=2250
BATCH=500
FULL=$(((N / BATCH) * BATCH)) # written by full batches before the signal

# signal_stop NAME SIG: sends SIG to ferry NAME and waits; fails unless it exits 0 within
# STOP_LIMIT_S (a stop that hangs is a failure, however cleanly it would end). Sets TOOK to the
# seconds it took (not printed: a subshell cannot wait for the process).
STOP_LIMIT_S=30
signal_stop() {
  local pidvar="PID_$1" rc=0 t0
  t0=$(date +%s%N)
  kill -"$2" "${!pidvar}"
  wait_for "ferry $1 to exit after SIG$2" "$STOP_LIMIT_S" exited "${!pidvar}"
  wait "${!pidvar}" || rc=$?
  [ "$rc" -eq 0 ] || fail "ferry $1 exited with $rc after SIG$2"
  TOOK=$(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')
}

# committed_at_end GROUP TOPIC: "committed end" summed over the topic's partitions, from
# kafka-python (the group's offsets committed in Kafka, and each partition's end offset)
committed_at_end() {
  /usr/bin/python3 - "$B" "$1" "$2" <<'PY'
import sys
from kafka import KafkaConsumer, TopicPartition
b, group, topic = sys.argv[1:]
c = KafkaConsumer(bootstrap_servers=b.split(","), group_id=group, enable_auto_commit=False)
tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
end = c.end_offsets(tps)
print(sum(c.committed(tp) or 0 for tp in tps), sum(end.values()))
c.close()
PY
}

rows_of() { sql "SELECT COUNT(*), COUNT(DISTINCT n) FROM \`$1\`"; }

# rows_sinks TOPIC TABLE FORMAT: the `sinks:` section of one MySQL worker, rows, whose last
# partial batch is written only at the stop
rows_sinks() {
  local pattern=""
  [ "$3" != regex ] || pattern="pattern: '^(?<n>[0-9]+) '"
  cat <<YAML
$(sinks_section)
$(mysql_worker rows "$1" "$3" "$2")
      $pattern
      columns: {n: {type: int}}
      batch: {max_rows: $BATCH, max_ms: 600000}
YAML
}

# ---- agent ------------------------------------------------------------------------------------
agent_case() {
  local sig=$1 name="agent_$1" topic="sig-agent-$1-$T_ID" d="$T_DIR/agent-$1"
  mkdir -p "$d"
  "$STACK" -d "$FERRY_STACK_DIR" kafka topic "$topic:3" >/dev/null
  cat >"$d/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  producer: {linger.ms: "3000"}
$HTTP_ANY
$(agent_section "$d/state" 100)
    - {name: lines, paths: [$d/lines.log], topic: $topic, acks: all}
YAML
  : >"$d/lines.log"
  start_ferry "$name" agent -c "$d/ferry.yaml"
  local a sent acked took cp size
  a=$(http_addr "$name")
  write_range "$d/lines.log" 1 "$N" "line stopped by SIG$sig"
  wait_at_least "the agent to hand every line over" 60 "$N" metric "$a" ferry_source_events_sent_total
  acked=$(metric "$a" ferry_source_events_acked_total)
  [ "$acked" -lt "$N" ] || fail "every line acknowledged before SIG$sig: nothing was in flight"
  signal_stop "$name" "$sig"
  took=$TOOK
  cp=$(checkpoint_offset "$d/state/lines.checkpoint.json")
  size=$(stat -c %s "$d/lines.log")
  read -r records missing doubled _ < <(count_numbered "$B" "$topic" "$N" "$d/read.txt")
  echo "figures: agent SIG$sig: acknowledged at the signal $acked of $N, exit 0 after ${took}s," \
    "checkpoint $cp of $size, received=$records missing=$missing doubled=$doubled"
  [ "$cp" = "$size" ] || fail "SIG$sig: the agent's checkpoint is $cp, not the end of the file ($size)"
  [ "$missing" = 0 ] || fail "SIG$sig: $missing lines missing"
  ok "SIG$sig stops ferry agent cleanly: what was in flight acknowledged, checkpoint at the end"
}

# ---- sink -------------------------------------------------------------------------------------
sink_case() {
  local sig=$1 name="sink_$1" topic="sig-sink-$1-$T_ID" table="sig_sink_$1_$T_ID" d="$T_DIR/sink-$1"
  mkdir -p "$d"
  "$STACK" -d "$FERRY_STACK_DIR" kafka topic "$topic:3" >/dev/null
  seq 1 "$N" | awk '{ printf "%d|{\"n\":%d}\n", $1, $1 }' | kcat -P -K '|' -b "$B" -t "$topic" -X acks=all ||
    fail "kcat could not produce"
  { echo "kafka: {brokers: \"$B\"}"; echo "$HTTP_ANY"; rows_sinks "$topic" "$table" json; } >"$d/ferry.yaml"
  "$FERRY_BIN" check -c "$d/ferry.yaml" >/dev/null || fail "config: $("$FERRY_BIN" check -c "$d/ferry.yaml" 2>&1)"
  start_ferry "$name" sink -c "$d/ferry.yaml"
  local a took rows distinct offs committed end
  a=$(http_addr "$name")
  wait_at_least "the worker to take in all $N events" 90 "$N" metric "$a" ferry_worker_events_consumed_total
  wait_at_least "the worker to write $FULL events" 60 "$FULL" metric "$a" ferry_worker_events_written_total
  rows=$(sql "SELECT COUNT(*) FROM \`$table\`")
  [ "$rows" = "$FULL" ] || fail "SIG$sig: $rows rows before the signal, want $FULL (full batches only)"
  signal_stop "$name" "$sig"
  took=$TOOK
  read -r rows distinct < <(rows_of "$table")
  offs=$(offsets_sum "$T_ID.rows" "$topic")
  read -r committed end < <(committed_at_end "$T_ID.rows" "$topic")
  echo "figures: sink SIG$sig: rows before the signal $FULL, exit 0 after ${took}s, rows=$rows" \
    "distinct=$distinct ferry_offsets=$offs kafka_committed=$committed end=$end"
  [ "$rows" = "$N" ] && [ "$distinct" = "$N" ] || fail "SIG$sig: $rows rows ($distinct distinct), want $N"
  [ "$offs" = "$N" ] || fail "SIG$sig: ferry_offsets adds up to $offs, want $N"
  [ "$committed" = "$end" ] || fail "SIG$sig: Kafka has offsets $committed committed of $end"
  ok "SIG$sig stops ferry sink cleanly: its last batch written and its offsets committed"
}

# ---- run --------------------------------------------------------------------------------------
run_case() {
  local sig=$1 name="run_$1" topic="sig-run-$1-$T_ID" table="sig_run_$1_$T_ID" d="$T_DIR/run-$1"
  mkdir -p "$d"
  "$STACK" -d "$FERRY_STACK_DIR" kafka topic "$topic:3" >/dev/null
  cat >"$d/ferry.yaml" <<YAML
kafka: {brokers: "$B"}
$HTTP_ANY
$(agent_section "$d/state" 100)
    - {name: lines, paths: [$d/lines.log], topic: $topic, acks: all}
YAML
  rows_sinks "$topic" "$table" regex >>"$d/ferry.yaml"
  : >"$d/lines.log"
  start_ferry "$name" run -c "$d/ferry.yaml"
  local a took rows distinct offs committed end cp size
  a=$(http_addr "$name")
  write_range "$d/lines.log" 1 "$N" "line of ferry run stopped by SIG$sig"
  wait_acked "$d/state/lines.checkpoint.json" "$d/lines.log" 60
  wait_at_least "the worker to take in all $N lines" 90 "$N" metric "$a" ferry_worker_events_consumed_total
  wait_at_least "the worker to write $FULL lines" 60 "$FULL" metric "$a" ferry_worker_events_written_total
  signal_stop "$name" "$sig"
  took=$TOOK
  cp=$(checkpoint_offset "$d/state/lines.checkpoint.json")
  size=$(stat -c %s "$d/lines.log")
  read -r rows distinct < <(rows_of "$table")
  offs=$(offsets_sum "$T_ID.rows" "$topic")
  read -r committed end < <(committed_at_end "$T_ID.rows" "$topic")
  echo "figures: run SIG$sig: exit 0 after ${took}s, checkpoint $cp of $size, rows=$rows" \
    "distinct=$distinct ferry_offsets=$offs kafka_committed=$committed end=$end"
  [ "$cp" = "$size" ] || fail "SIG$sig: ferry run's checkpoint is $cp, not $size"
  [ "$rows" = "$N" ] && [ "$distinct" = "$N" ] || fail "SIG$sig: $rows rows ($distinct distinct), want $N"
  [ "$offs" = "$N" ] || fail "SIG$sig: ferry_offsets adds up to $offs, want $N"
  [ "$committed" = "$end" ] || fail "SIG$sig: Kafka has offsets $committed committed of $end"
  ok "SIG$sig stops ferry run cleanly: checkpoint at the end, last batch written and committed"
}

for sig in INT TERM; do
  agent_case "$sig"
  sink_case "$sig"
  run_case "$sig"
done

# ---- shutdown_timeout_ms with every broker down -------------------------------------------------
TIMEOUT_MS=2000
MARGIN_MS=20000 # "does not hang", not speed: the machine is shared and slow
N1=1000
N2=3000
TOPIC="sig-timeout-$T_ID"
start_mock "$TOPIC:3"
d="$T_DIR/timeout"
mkdir -p "$d"
cat >"$d/ferry.yaml" <<YAML
kafka: {brokers: "$BOOTSTRAP"}
http: {listen: "127.0.0.1:0"}
agent:
  state_dir: $d/state
  checkpoint_ms: 100
  shutdown_timeout_ms: $TIMEOUT_MS
  sources:
    - {name: lines, paths: [$d/lines.log], topic: $TOPIC, acks: all}
YAML
CP="$d/state/lines.checkpoint.json"
: >"$d/lines.log"
start_ferry timeout1 agent -c "$d/ferry.yaml"
A=$(http_addr timeout1)
write_range "$d/lines.log" 1 "$N1" "line before the outage"
wait_acked "$CP" "$d/lines.log" 60
CP1=$(checkpoint_offset "$CP")
mock_brokers down
write_range "$d/lines.log" $((N1 + 1)) $((N1 + N2)) "line in flight at the stop"
wait_at_least "the agent to hand over the lines written in the outage" 60 $((N1 + N2)) \
  metric "$A" ferry_source_events_sent_total
acked=$(metric "$A" ferry_source_events_acked_total)
[ "$acked" = "$N1" ] || fail "$acked lines acknowledged with every broker down, want $N1"
t0=$(date +%s%N)
kill -TERM "$PID_timeout1"
wait_for "the agent to exit after SIGTERM" $(((TIMEOUT_MS + MARGIN_MS) / 1000)) exited "$PID_timeout1"
took_ms=$((($(date +%s%N) - t0) / 1000000))
rc=0
wait "$PID_timeout1" || rc=$?
cp=$(checkpoint_offset "$CP")
echo "figures: shutdown_timeout_ms=$TIMEOUT_MS: exit $rc after ${took_ms} ms with $N2 lines" \
  "unacknowledged; checkpoint $cp (at the outage $CP1)"
[ "$rc" = 0 ] || fail "the agent exited with $rc after the shutdown timeout"
[ "$took_ms" -ge "$TIMEOUT_MS" ] || fail "the agent exited after $took_ms ms, before its shutdown_timeout_ms"
[ "$cp" = "$CP1" ] || fail "the checkpoint is $cp: it passed the unacknowledged lines (they begin at $CP1)"
grep -q "stopping with $N2 lines unacknowledged" "$T_DIR/timeout1.log" ||
  fail "the agent did not say it left $N2 lines unacknowledged"

mock_brokers up
start_ferry timeout2 agent -c "$d/ferry.yaml"
wait_acked "$CP" "$d/lines.log" 120
stop_ferry timeout2
read -r records missing doubled first < <(count_numbered "$BOOTSTRAP" "$TOPIC" $((N1 + N2)) "$d/read.txt")
echo "figures: after the restart received=$records missing=$missing doubled=$doubled"
[ "$first" = 0 ] || fail "the mock dropped the oldest messages (first offsets sum to $first)"
[ "$missing" = 0 ] || fail "$missing lines missing after the restart"
ok "shutdown_timeout_ms: gone after $took_ms ms, checkpoint kept at the unacknowledged lines, all delivered after a restart"
