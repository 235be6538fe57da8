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
export FERRY_REDIS_DURABLE=1
FERRY_REDIS_PORT= "$STACK" -d "$T_DIR/stack" start redis >/dev/null
RPORT=$(cat "$T_DIR/stack/redis/port")
r() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
  consumer: {session.timeout.ms: "6000"}
http: {listen: "127.0.0.1:0"}
sinks:
  group: $T_ID
  workers:
    - name: activity
      type: redis
      topics: [$TOPIC]
      format: json
      batch: {max_rows: 200, max_ms: 50}
      redis: {host: 127.0.0.1, port: $RPORT}
      commands:
        - [INCR, "$P:events"]
        - [INCRBY, "$P:amount", "{amount}"]
        - [HINCRBY, "$P:user", "{user}", "1"]
        - [ZINCRBY, "$P:pages", "1", "{page}"]
YAML

# event i: user u<i%97>, amount i%7+1, page /p<i%13>
gen() { awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++)
  printf "{\"n\":%d,\"user\":\"u%d\",\"amount\":%d,\"page\":\"/p%d\"}\n", i, i % 97, i % 7 + 1, i % 13 }'; }
produce() { # produce FIRST LAST: chunks FIRST..LAST (1-based), CHUNK events a second
  gen $((($1 - 1) * CHUNK + 1)) $(($2 * CHUNK)) | paced "$CHUNK" |
    kcat -P -b "$FERRY_REAL_KAFKA_BOOTSTRAP" -t "$TOPIC" -X acks=all
}
events() { r GET "$P:events" | sed 's/^$/0/'; }
# m PROCESS METRIC: a counter of a running process's worker
m() { metric "${ADDR[$1]}" "ferry_worker_$2_total" 'worker="activity"'; }
held() { echo $(($(m "$1" partitions_assigned) - $(m "$1" partitions_revoked))); }
declare -A ADDR
begin() { start_ferry "$1" sink -c "$T_DIR/ferry.yaml"; ADDR[$1]=$(http_addr "$1"); }

begin w1
begin w2
wait_at_least "partitions for the second worker" 90 1 held w2
wait_at_least "partitions for the first worker" 90 1 held w1
produce 1 3 &
producer=$!
# ---- kill -9 of a worker while events are applied ------------------------------------------
wait_at_least "events from the first chunks" 120 $((CHUNK / 2)) events
wait_rising "events being applied" 60 events
w1_written=$(m w1 events_written)
w1_held=$(held w1)
a2=$(m w2 partitions_assigned)
kill -KILL "$PID_w1"
wait "$PID_w1" 2>/dev/null || true
at_kill=$(events)
echo "worker 1 killed with -9 after $at_kill events (it held $w1_held partitions, had written $w1_written)"
[ "$w1_written" -gt 0 ] && [ "$w1_held" -gt 0 ] ||
  fail "the killed worker held $w1_held partitions, had written $w1_written events: its kill proves nothing"
rebalanced() { [ "$(m w2 partitions_assigned)" -gt "$a2" ]; }
wait_for "the survivor's rebalance (partitions assigned above $a2)" 90 rebalanced
echo "survivor rebalanced: partitions assigned $a2 -> $(m w2 partitions_assigned)"
wait "$producer" || fail "kcat failed"
begin w1b
wait_at_least "partitions for the restarted worker" 90 1 held w1b

# ---- SIGKILL of Redis while transactions are applied ---------------------------------------
produce 4 6 &
producer=$!
wait_at_least "events from the next chunks" 120 $((at_kill + CHUNK / 2)) events
fails_before=$(($(m w2 write_failures) + $(m w1b write_failures)))
wait_rising "events being applied" 60 events
"$STACK" -d "$T_DIR/stack" crash redis >/dev/null || fail "redis did not crash"
at_crash=$RISEN
echo "redis killed (SIGKILL) after $at_crash events"
FERRY_REDIS_PORT=$RPORT "$STACK" -d "$T_DIR/stack" start redis >/dev/null ||
  fail "redis did not start again on port $RPORT"
after=$(events)
echo "redis started again on port $RPORT with $after events"
# every reply Redis sent followed its fsync: what the test read before the crash is there
[ "$after" -ge "$at_crash" ] || fail "redis came back with $after events, $at_crash were read before the crash"
wait "$producer" || fail "kcat failed"
produce 7 10 || fail "kcat failed"

have_all() { [ "$(events)" -ge "$N" ]; }
wait_for "$N events in Redis" 120 have_all
sleep 3 # a doubled batch would land now
[ 0 -lt "$at_kill" ] && [ "$at_kill" -lt "$at_crash" ] && [ "$at_crash" -lt "$N" ] ||
  fail "the faults did not land mid-stream at different points: kill at $at_kill events, crash at $at_crash, of $N"
failures=$(($(m w2 write_failures) + $(m w1b write_failures)))
[ "$failures" -gt "$fails_before" ] ||
  fail "no write failed on the surviving workers across the Redis crash ($fails_before before, $failures after)"
replayed=$(($(m w2 events_replayed) + $(m w1b events_replayed)))
conflicts=$(($(m w2 write_conflicts) + $(m w1b write_conflicts)))
written=$(($(m w2 events_written) + $(m w1b events_written)))
# Each partition had one writer at a time (the killed one was gone long before its partitions
# moved; a revoke finishes the batch in flight): an EXEC that WATCH aborted had no cause.
[ "$conflicts" = 0 ] || fail "$conflicts transactions aborted by WATCH, with no other writer"
stop_ferry w2
stop_ferry w1b

expect() {
  awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) { a += i % 7 + 1; u["u" i % 97]++; p["/p" i % 13]++ }
    print "events", n; print "amount", a
    for (k in u) print "user", k, u[k]; for (k in p) print "page", k, p[k] }' | sort
}
actual() {
  echo "events $(r GET "$P:events")"; echo "amount $(r GET "$P:amount")"
  r HGETALL "$P:user" | paste - - | awk '{ print "user", $1, $2 }'
  r ZRANGE "$P:pages" 0 -1 WITHSCORES | paste - - | awk '{ print "page", $1, $2 }'
}
diff <(expect) <(actual | sort) >"$T_DIR/diff.txt" || fail "Redis differs from the expected sums: $(head -20 "$T_DIR/diff.txt")"
echo "figures: events=$N applied once each; kill -9 at $at_kill events, Redis SIGKILL at $at_crash;" \
  "survivors: $failures failed writes retried ($fails_before before the crash), $conflicts WATCH" \
  "conflicts, $replayed events offered again and left out (EXEC ran, its reply lost)," \
  "$written events written"
ok "kill -9 of a worker and SIGKILL of Redis mid-stream: every counter exact"

# The stored offsets: one key per partition, each the offset after the partition's last event.
for p in 0 1 2 3; do
  hw=$(kcat -Q -b "$FERRY_REAL_KAFKA_BOOTSTRAP" -t "$TOPIC:$p:-1" | awk '{ print $NF }')
  got=$(r GET "ferry:offsets:$T_ID.activity:$TOPIC:$p")
  [ "$got" = "$hw" ] || fail "partition $p: stored offset '$got', the partition ends at $hw"
done
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
