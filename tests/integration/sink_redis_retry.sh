#!/usr/bin/env bash
# The Redis worker through the refusals Redis gives while it cannot take writes: OOM
# (maxmemory below what it uses, noeviction), READONLY (FAILOVER makes it a replica of a second
# private Redis, REPLICAOF NO ONE makes it a primary again), BUSY (a read-only script from
# redis-cli running past busy-reply-threshold, ended with SCRIPT KILL) and LOADING (SIGKILL and a
# restart on its fsynced append-only file plus a dataset of DEBUG POPULATE keys, loaded slowly
# with key-load-delay). kcat keeps producing JSON events, chunk after chunk, while the four
# faults come in turn. Each fault begins once the counters moved since the last one (it lands
# mid-stream: 0 < count < N is checked at the end), lasts until the worker counted a failed write
# and Redis counted its commands refused with that error (INFO errorstats and commandstats: an
# independent count), and ends; the counters must move again. At the end every counter equals
# the sums computed from the generation rules (nothing lost, nothing applied twice) and every
# partition's offset key is the partition's end.
set -euo pipefail
T_NAME=sink_redis_retry
. "$(dirname "$0")/lib.sh"

need_real_kafka
CHUNK=250
TOPIC="redis-retry-$T_ID"
DLQ="redis-retry-dlq-$T_ID"
P="retry:$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:4" "$DLQ:1" >/dev/null

# The Redis under test (durable, restartable, DEBUG from 127.0.0.1, slow to load a key), and a
# second one for it to be a replica of.
ARGS="--enable-debug-command local --key-load-delay 50 --loading-process-events-interval-bytes 1024"
private_redis 1 "$ARGS"
FERRY_REDIS_PORT='' FERRY_REDIS_ARGS=$ARGS "$STACK" -d "$T_DIR/stack-replica" start redis >/dev/null ||
  fail "second private redis did not start"
R2PORT=$(cat "$T_DIR/stack-replica/redis/port")
r2() { redis-cli -h 127.0.0.1 -p "$R2PORT" "$@"; }
# errorstat TYPE: error replies of that type Redis gave since it started
errorstat() {
  r INFO errorstats | tr -d '\r' | awk -F'[:=,]' -v t="errorstat_$1" '$1 == t { n = $3 } END { print n + 0 }'
}
# refused: the worker's commands Redis refused to run (rejected_calls of the commands only the
# worker sends)
refused() {
  r INFO commandstats | tr -d '\r' | awk -F'[:,=]' '
    $1 ~ /^cmdstat_(mget|incr|incrby|hincrby|zincrby|mset|exec)$/ {
      for (i = 2; i < NF; i++) if ($i == "rejected_calls") s += $(i + 1) }
    END { print s + 0 }'
}
info_field() { r INFO "$1" | tr -d '\r' | sed -n "s/^$2:\(.*\)/\1/p"; }

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$(sinks_section "$DLQ")
$(activity_worker activity "$TOPIC" "$RPORT")
$HTTP_ANY
YAML

start_sink w1
failures() { wm w1 write_failures activity; }
events() { r GET "$P:events" 2>/dev/null | grep -E '^[0-9]+$' || echo 0; }
produce_chunks "$TOPIC" "$CHUNK" activity_events &
producer=$!
T0=$SECONDS

LAST=0
FIGURES=()
# fault_begin NAME: waits until the counters moved past the last fault's, then notes where they
# are; sets AT (events applied) and F0 (the worker's failed writes so far)
fault_begin() {
  wait_at_least "events applied before $1" 120 $((LAST + 2 * CHUNK)) events
  AT=$(events)
  F0=$(failures)
  echo "$1: begins after $AT events, $F0 failed writes so far"
}
# the worker failed a write since fault_begin
worker_failed() { [ "$(failures)" -gt "$F0" ]; }
# fault_end NAME ERRORS REFUSED: the counters move again; notes the figures
fault_end() {
  local f
  f=$(($(failures) - F0))
  wait_at_least "events applied after $1" 120 $((AT + 1)) events
  LAST=$(events)
  FIGURES+=("$1: at $AT events, $f failed writes, $2 $1 replies, $3 commands refused")
  echo "$1: over; ${FIGURES[-1]}"
  [ "$f" -gt 0 ] || fail "$1: no failed write counted"
  [ "$2" -gt 0 ] || fail "$1: Redis counted no $1 reply"
  [ "$3" -gt 0 ] || fail "$1: Redis refused none of the worker's commands"
  AT_ALL+=("$1=$AT")
}
AT_ALL=()

# ---- OOM: maxmemory below what Redis uses, noeviction; raised again ------------------------
fault_begin OOM
e0=$(errorstat OOM) q0=$(refused)
used=$(info_field memory used_memory)
r CONFIG SET maxmemory-policy noeviction >/dev/null
r CONFIG SET maxmemory $((used / 2)) >/dev/null
wait_for "a failed write under OOM" 60 worker_failed
oom_errors=$(($(errorstat OOM) - e0)) oom_refused=$(($(refused) - q0))
r CONFIG SET maxmemory 0 >/dev/null
fault_end OOM "$oom_errors" "$oom_refused"

# ---- READONLY: a replica of the second Redis, then a primary again --------------------------
r2 REPLICAOF 127.0.0.1 "$RPORT" >/dev/null
in_sync() { r2 INFO replication | tr -d '\r' | grep -q '^master_link_status:up'; }
wait_for "the second Redis to replicate the first" 60 in_sync
fault_begin READONLY
e0=$(errorstat READONLY) q0=$(refused)
# FAILOVER pauses writes until the second one has all of them, then swaps the roles: the data
# stay the same on both
failed_over() {
  [ "$(info_field replication role)" = slave ] && return 0
  r FAILOVER TO 127.0.0.1 "$R2PORT" >/dev/null 2>&1 || true
  return 1
}
wait_for "the Redis under test to be a replica" 60 failed_over
wait_for "a failed write on a replica" 60 worker_failed
ro_errors=$(($(errorstat READONLY) - e0)) ro_refused=$(($(refused) - q0))
r REPLICAOF NO ONE >/dev/null
[ "$(info_field replication role)" = master ] || fail "REPLICAOF NO ONE left the Redis a replica"
fault_end READONLY "$ro_errors" "$ro_refused"

# ---- BUSY: a read-only script past busy-reply-threshold, killed ----------------------------
r CONFIG SET busy-reply-threshold 100 >/dev/null
fault_begin BUSY
e0=$(errorstat BUSY) q0=$(refused)
# spins on TIME for up to 60 s; nothing else asks Redis anything until SCRIPT KILL (INFO would be
# refused too)
r EVAL "local e = tonumber(redis.call('TIME')[1]) + 60
  while tonumber(redis.call('TIME')[1]) < e do end return 0" 0 >"$T_DIR/eval.out" 2>&1 &
evalpid=$!
wait_for "a failed write while a script runs" 60 worker_failed
killed() { r SCRIPT KILL 2>/dev/null | grep -q OK; }
wait_for "SCRIPT KILL" 30 killed
wait "$evalpid" || true
grep -q 'killed' "$T_DIR/eval.out" || fail "the script was not the one killed: $(cat "$T_DIR/eval.out")"
busy_errors=$(($(errorstat BUSY) - e0)) busy_refused=$(($(refused) - q0))
r CONFIG SET busy-reply-threshold 5000 >/dev/null
fault_end BUSY "$busy_errors" "$busy_refused"

# ---- LOADING: SIGKILL, then a restart that loads a dataset slowly --------------------------
r DEBUG POPULATE 12000 "fill:$T_ID" 100 >/dev/null
r BGREWRITEAOF >/dev/null # DEBUG POPULATE is not in the append-only file: the rewrite has it
rewritten() { [ "$(info_field persistence aof_rewrite_in_progress)$(info_field persistence aof_rewrite_scheduled)" = 00 ]; }
wait_for "the append-only file rewritten" 60 rewritten
fault_begin LOADING
private_crash redis
t_load=$SECONDS
# returns once Redis answers PING, that is once the dataset is loaded
private_restart redis
t_load=$((SECONDS - t_load))
[ "$(r DBSIZE)" -ge 12000 ] || fail "the restarted Redis lacks the populated keys: $(r DBSIZE)"
# the counts start again with the new process: all of them are the load's
load_errors=$(errorstat LOADING) load_refused=$(refused)
wait_for "a failed write while Redis loads" 60 worker_failed
fault_end LOADING "$load_errors" "$load_refused"

# ---- the end: every counter exact ---------------------------------------------------------
wait_at_least "events applied after the last fault" 120 $((LAST + 2 * CHUNK)) events
stop_chunks "$producer" "$CHUNK"
in_kafka=0
for p in 0 1 2 3; do
  in_kafka=$((in_kafka + $(end_offset "$TOPIC" "$p")))
done
[ "$in_kafka" = "$N" ] || fail "the topic holds $in_kafka events, kcat produced $N"
wait_at_least "$N events in Redis" 120 "$N" events
sleep 2 # a doubled batch would land now
written=$(wm w1 events_written activity)
total_failures=$(failures)
conflicts=$(wm w1 write_conflicts activity)
left_out=$(wm w1 events_refused activity)
stop_ferry w1
[ "$written" = "$N" ] || fail "the worker counted $written events written, want $N"
[ "$conflicts" = 0 ] || fail "$conflicts conflicts with no other writer"
# a refusal that passes is a batch tried again, not a command left out for good
[ "$left_out" = 0 ] || fail "$left_out commands counted as refused for good (left out)"

activity_once "$N"
redis_offsets_at_end "$T_ID.activity" "$TOPIC" 4
for a in "${AT_ALL[@]}"; do
  at=${a#*=}
  [ "$at" -gt 0 ] && [ "$at" -lt "$N" ] || fail "fault ${a%%=*} began at $at events, not within 0..$N"
done
echo "figures: $N events in $((SECONDS - T0))s; worker counted $written written, $total_failures" \
  "failed writes, $conflicts conflicts, $left_out left out; reload took ${t_load}s"
for f in "${FIGURES[@]}"; do echo "figures: $f"; done
ok "OOM, READONLY, BUSY and LOADING mid-stream: each batch retried, every counter exact"
