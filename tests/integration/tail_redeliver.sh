#!/usr/bin/env bash
# Deliveries Kafka gives up on are sent again. The agent ships numbered lines with a short
# message.timeout.ms (1.5 s); once its checkpoint is strictly inside the file, every node of
# the real cluster is paused (SIGSTOP) for 5 s: librdkafka fails the lines it holds
# (ferry_source_delivery_failures_total), the tail source reads them again from the file and
# sends them again once the cluster is back (ferry_source_events_resent_total; none given up),
# and its checkpoint never passes a line Kafka does not have. The Java client must find every
# number.
set -euo pipefail
T_NAME=tail_redeliver
. "$(dirname "$0")/lib.sh"

need_real_kafka
N=${REDELIVER_LINES:-40000}
TOPIC="redeliver-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:$REPL" >/dev/null
mkdir -p "$T_DIR/logs"
cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
  producer: {message.timeout.ms: "1500"}
$HTTP_ANY
$(agent_tail "$T_DIR/state" 200 redeliver "$T_DIR/logs/app.log*" "$TOPIC" 1)
YAML
: >"$T_DIR/logs/app.log"
start_agent agent
CP="$T_DIR/state/redeliver.checkpoint.json"
cp_off() { checkpoint_offset "$CP"; }
failures() { metric "$ADDR" ferry_source_delivery_failures_total; }

# N numbered lines over about 12 s, renamed once, in the middle of the outage.
start_writer /usr/bin/python3 - "$T_DIR/logs/app.log" "$N" <<'PY'
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
# nodes paused here are resumed even when the test fails: the cluster is shared
paused=""
resume_paused() {
  local n
  for n in $paused; do "$STACK" -d "$FERRY_STACK_DIR" kafka resume "$n" >/dev/null 2>&1; done
}
at_exit resume_paused

# The nodes are paused once the checkpoint is inside app.log, and stay paused for at least
# 5 s (more than message.timeout.ms: librdkafka gives up on what it holds), until deliveries
# failed and the writer renamed app.log (at N/2, about 6 s in), so that lines are read again
# from a file renamed while they were in flight.
wait_at_least "a checkpoint inside the file" 60 1 cp_off
nodes=$(seq 1 "$FERRY_REAL_KAFKA_NODES")
cp_at_pause=$(cp_off)
renamed_at_pause=$([ -e "$T_DIR/logs/app.log.1" ] && echo yes || echo no)
t0=$(date +%s%N)
paused=$nodes
for n in $nodes; do "$STACK" -d "$FERRY_STACK_DIR" kafka pause "$n" >/dev/null; done
echo "every node paused, checkpoint at $cp_at_pause bytes"
wait_at_least "failed deliveries" 30 1 failures
renamed() { [ -e "$T_DIR/logs/app.log.1" ]; }
wait_for "the writer's rename" 60 renamed
five_s() { [ $(($(date +%s%N) - t0)) -ge 5000000000 ]; }
wait_for "5 s of pause" 10 five_s
failed_paused=$(failures)
for n in $nodes; do "$STACK" -d "$FERRY_STACK_DIR" kafka resume "$n" >/dev/null; done
paused_ms=$((($(date +%s%N) - t0) / 1000000))
echo "every node resumed after $paused_ms ms, $failed_paused deliveries failed"
paused=""
wait_writer

wait_quiet "$T_DIR/state/redeliver.checkpoint.json"
kill -0 "$PID_agent" || fail "the agent exited"
failed=$(failures)
resent=$(metric "$ADDR" ferry_source_events_resent_total)
given_up=$(metric "$ADDR" ferry_source_events_given_up_total)
acked=$(metric "$ADDR" ferry_source_events_acked_total)
stop_ferry agent
size=$(($(stat -c %s "$T_DIR/logs/app.log.1") + $(stat -c %s "$T_DIR/logs/app.log")))

java_check "$T_DIR/check.txt" "$FERRY_REAL_KAFKA_BOOTSTRAP" "$TOPIC" --expect-lines "$N" \
  --number-regex '^(\d+) redeliver line 0*\1$' --timeout-ms 90000
echo "figures: written=$N checkpoint_at_pause=$cp_at_pause bytes=$size" \
  "paused_ms=$paused_ms renamed_at_pause=$renamed_at_pause delivery_failures=$failed" \
  "(while paused $failed_paused) resent=$resent given_up=$given_up" \
  "acked=$acked received=$(get records) missing=$(get missing) doubled=$(get doubled)"
[ "$cp_at_pause" -gt 0 ] && [ "$cp_at_pause" -lt "$size" ] ||
  fail "the pause did not land mid-stream: checkpoint at $cp_at_pause of $size bytes"
[ "$renamed_at_pause" = no ] || fail "the writer renamed app.log before the pause"
[ "$failed" -gt 0 ] || fail "no delivery failed: the outage did not test anything"
# each failure is read again once (a resend that fails again is counted again)
[ "$resent" = "$failed" ] || fail "$failed deliveries failed and $resent were sent again"
[ "$given_up" = 0 ] || fail "$given_up failed deliveries were given up"
[ "$(get missing)" = 0 ] || fail "$(get missing) lines missing: $(get first_missing)"
[ "$(get unnumbered)" = 0 ] || fail "records that are not whole lines"
ok "every node paused $paused_ms ms from byte $cp_at_pause with message.timeout.ms 1500:" \
  "$failed deliveries failed, $resent were read again and sent again; $N lines, none" \
  "missing, $(get doubled) doubled"
