#!/usr/bin/env bash
# Started while every broker is down: `ferry agent`, and `ferry run` with a Redis worker, start
# against a private mock cluster whose brokers are all down (the mock's log and kcat confirm it
# before either starts). Each must take its whole file into its producer and stay up, with
# nothing acknowledged, well past its start-up metadata check (5 s); once the brokers come up
# every line must arrive: kcat reads the agent's topic (missing 0), and redis-cli counts the
# line numbers the worker set in a bitmap (all N). Both processes are the same ones from start
# to end, and exit 0 on SIGTERM.
set -euo pipefail
T_NAME=agent_brokers_down
. "$(dirname "$0")/lib.sh"

N=${BROKERS_DOWN_LINES:-20000}
DOWN_SAMPLES=20 # every 0.5 s, once both have taken in every line
TA="bda-$T_ID"
TB="bdb-$T_ID"
P="bd:$T_ID"
start_mock "$TA:3" "$TB:3"
mock_brokers down
echo "every broker down before any ferry starts"

cat >"$T_DIR/agent.yaml" <<YAML
kafka: {brokers: "$BOOTSTRAP"}
$HTTP_ANY
$(agent_section "$T_DIR/state-agent" 200)
    - {name: a, paths: [$T_DIR/a.log], topic: $TA, acks: all}
YAML
cat >"$T_DIR/run.yaml" <<YAML
$(sink_kafka "$BOOTSTRAP")
$HTTP_ANY
$(agent_section "$T_DIR/state-run" 200)
    - {name: b, paths: [$T_DIR/b.log], topic: $TB, acks: all}
$(sinks_section)
    - name: seen
      type: redis
      topics: [$TB]
      format: regex
      pattern: '^(?<n>[0-9]+) '
      redis: {host: $FERRY_REDIS_HOST, port: $FERRY_REDIS_PORT}
      batch: {max_rows: 500, max_ms: 100}
      commands: [[INCR, "$P:events"], [SETBIT, "$P:seen", "{n}", "1"]]
YAML
: >"$T_DIR/a.log"
: >"$T_DIR/b.log"
start_ferry agent agent -c "$T_DIR/agent.yaml"
start_ferry run run -c "$T_DIR/run.yaml"
AA=$(http_addr agent)
AR=$(http_addr run)
write_range "$T_DIR/a.log" 1 "$N" "line of the agent started without brokers"
write_range "$T_DIR/b.log" 1 "$N" "line of ferry run started without brokers"
wait_at_least "the agent to take in every line" 60 "$N" metric "$AA" ferry_source_events_sent_total
wait_at_least "ferry run to take in every line" 60 "$N" metric "$AR" ferry_source_events_sent_total
grep -q "no metadata for topic $TA" "$T_DIR/agent.log" ||
  fail "the agent's start did not meet the outage (no 'no metadata' warning)"

acked=0 written=0
for i in $(seq 1 "$DOWN_SAMPLES"); do
  kill -0 "$PID_agent" 2>/dev/null || fail "the agent exited while every broker was down"
  kill -0 "$PID_run" 2>/dev/null || fail "ferry run exited while every broker was down"
  acked=$(($(metric "$AA" ferry_source_events_acked_total) + $(metric "$AR" ferry_source_events_acked_total)))
  written=$(metric "$AR" ferry_worker_events_written_total)
  [ "$acked" = 0 ] && [ "$written" = 0 ] ||
    fail "acknowledged $acked, written $written while every broker was down: the outage did not hold"
  sleep 0.5
done
started=$(($(date +%s) - $(stat -c %Y "$T_DIR/.start")))
echo "figures: both up ${started}s after the start with every broker down; $N lines each taken in, none acknowledged"
mock_brokers up
echo "every broker up"

seen() { rcli BITCOUNT "$P:seen"; }
wait_acked "$T_DIR/state-agent/a.checkpoint.json" "$T_DIR/a.log" 180
wait_acked "$T_DIR/state-run/b.checkpoint.json" "$T_DIR/b.log" 180
wait_at_least "the worker to set every line's bit" 180 "$N" seen
kill -0 "$PID_agent" 2>/dev/null || fail "the agent is gone"
kill -0 "$PID_run" 2>/dev/null || fail "ferry run is gone"
grep -c "agent: started" "$T_DIR/agent.log" | grep -qx 1 || fail "the agent started more than once"
stop_ferry agent
stop_ferry run

read -r records missing doubled first < <(count_numbered "$BOOTSTRAP" "$TA" "$N" "$T_DIR/read-a.txt")
bits=$(seen)
events=$(rcli GET "$P:events")
echo "figures: agent written=$N received=$records missing=$missing doubled=$doubled;" \
  "run+worker bits=$bits of $N, increments=$events"
[ "$first" = 0 ] || fail "the mock dropped the oldest messages (first offsets sum to $first)"
[ "$missing" = 0 ] || fail "$missing of the agent's lines missing"
[ "$bits" = "$N" ] || fail "the worker saw $bits distinct lines of $N"
[ "$events" -ge "$N" ] || fail "$events increments for $N lines"
ok "started with every broker down: both stayed up, and every line arrived once the brokers came up"
