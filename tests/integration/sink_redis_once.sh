#!/usr/bin/env bash
# Redis, effectively once: kcat (an independent producer) writes N JSON events in a steady
# stream of N/10 a second to a 4-partition topic of the real cluster, the test holding back
# the later parts until the faults have struck; two `ferry sink` processes of one consumer
# group apply four commands per event to a private durable Redis (appendfsync always). Once
# events are arriving one worker is killed with -9; after the survivor's rebalance it is
# started again, and later, while transactions are being applied, Redis is killed with
# SIGKILL and started again on its port and append-only file. Every counter must then equal
# the sums computed from the generation rules (a batch written again after the crash, the
# rebalance or the lost connection applies nothing twice), and the survivors' /metrics must
# show the rebalance and the failed writes.
set -euo pipefail
T_NAME=sink_redis_once
. "$(dirname "$0")/lib.sh"

need_real_kafka
N=${REDIS_EVENTS:-100000}
CHUNK=$((N / 10))
TOPIC="redis-once-$T_ID"
P="once:$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:4" >/dev/null

# A private, durable Redis (every write fsynced before its reply), restartable on its port.
private_redis 1

# (the commands last: the templates refused below replace them)
cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$HTTP_ANY
$(sinks_section)
$(activity_worker activity "$TOPIC" "$RPORT")
YAML

produce() { # produce FIRST LAST: chunks FIRST..LAST (1-based), CHUNK events a second
  activity_events $((($1 - 1) * CHUNK + 1)) $(($2 * CHUNK)) | paced "$CHUNK" |
    kcat -P -b "$B" -t "$TOPIC" -X acks=all
}
events() { r GET "$P:events" | sed 's/^$/0/'; }

start_sink w1
start_sink w2
wait_at_least "partitions for the second worker" 90 1 held w2
wait_at_least "partitions for the first worker" 90 1 held w1
produce 1 3 &
producer=$!
# ---- kill -9 of a worker while events are applied ------------------------------------------
wait_at_least "events from the first chunks" 120 $((CHUNK / 2)) events
wait_rising "events being applied" 60 events
kill_busy_worker w1 w2 activity events
wait "$producer" || fail "kcat failed"
start_sink w1b
wait_at_least "partitions for the restarted worker" 90 1 held w1b

# ---- SIGKILL of Redis while transactions are applied ---------------------------------------
produce 4 6 &
producer=$!
wait_at_least "events from the next chunks" 120 $((AT_KILL + CHUNK / 2)) events
fails_before=$(($(wm w2 write_failures) + $(wm w1b write_failures)))
crash_midstream redis events
after=$(events)
echo "redis started again on port $RPORT with $after events"
# every reply Redis sent followed its fsync: what the test read before the crash is there
[ "$after" -ge "$AT_CRASH" ] || fail "redis came back with $after events, $AT_CRASH were read before the crash"
wait "$producer" || fail "kcat failed"
produce 7 10 || fail "kcat failed"

have_all() { [ "$(events)" -ge "$N" ]; }
wait_for "$N events in Redis" 120 have_all
sleep 3 # a doubled batch would land now
faults_apart "$AT_KILL" "$AT_CRASH" "$N" events
failures=$(($(wm w2 write_failures) + $(wm w1b write_failures)))
[ "$failures" -gt "$fails_before" ] ||
  fail "no write failed on the surviving workers across the Redis crash ($fails_before before, $failures after)"
replayed=$(($(wm w2 events_replayed) + $(wm w1b events_replayed)))
conflicts=$(($(wm w2 write_conflicts) + $(wm w1b write_conflicts)))
written=$(($(wm w2 events_written) + $(wm w1b events_written)))
# Each partition had one writer at a time (the killed one was gone long before its partitions
# moved; a revoke finishes the batch in flight): an EXEC that WATCH aborted had no cause.
[ "$conflicts" = 0 ] || fail "$conflicts transactions aborted by WATCH, with no other writer"
stop_ferry w2
stop_ferry w1b

activity_once "$N"
echo "figures: events=$N applied once each; kill -9 at $AT_KILL events, Redis SIGKILL at $AT_CRASH;" \
  "survivors: $failures failed writes retried ($fails_before before the crash), $conflicts WATCH" \
  "conflicts, $replayed events offered again and left out (EXEC ran, its reply lost)," \
  "$written events written"
ok "kill -9 of a worker and SIGKILL of Redis mid-stream: every counter exact"

# The stored offsets: one key per partition, each the offset after the partition's last event.
redis_offsets_at_end "$T_ID.activity" "$TOPIC" 4
ok "every partition's stored offset is its end"

# A template Redis would refuse to queue aborts every transaction: refused at start-up.
refused() { # refused COMMAND-YAML EXPECTED-MESSAGE
  sed "/^      commands:/,\$d" "$T_DIR/ferry.yaml" >"$T_DIR/bad.yaml"
  printf '      commands:\n        - %s\n' "$1" >>"$T_DIR/bad.yaml"
  local out rc=0
  out=$(timeout 30 "$FERRY_BIN" sink -c "$T_DIR/bad.yaml" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "ferry sink ran with the template $1"
  grep -qF "$2" <<<"$out" || fail "template $1: expected '$2' in: $out"
}
refused '[INCR]' 'INCR takes 2 arguments with its name, the template has 1'
refused '[HINCRBY, k, f]' 'HINCRBY takes 4 arguments with its name, the template has 3'
refused '[NOSUCHCMD, k]' 'Redis knows no command NOSUCHCMD'
refused '[MULTI]' 'MULTI cannot be a command template'
ok "templates Redis would not queue are refused when the worker starts"
