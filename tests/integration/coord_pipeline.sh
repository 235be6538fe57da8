#!/usr/bin/env bash
# Coordination end to end on one backend (etcd or zookeeper: both run these same cases).
#
# A private coordination server (restartable, its data kept) holds the configuration, pushed
# with `ferry config push`. One `ferry agent` and three `ferry sink` processes load it with
# --coord; a writer appends JSON events stamped with the current time to the agent's file.
#   1. exactly one sink leads at every sampled moment (each process's log says when it wins
#      and loses the leadership);
#   2. a worker's batch size changed live: that worker restarts with it in every sink process,
#      the other worker keeps running; a source added live: its lines reach the table;
#   3. a broken document stored at <prefix>/config: refused with file:line:column, the running
#      configuration stays in force;
#   4. SIGSTOP of the leader during its rollup pass, past the TTL; SIGCONT: its write is fenced
#      off (logged, nothing written) and the newer leader's token stays in ferry_fence;
#   5. ten kill -9 of the leader: a new leader within TTL + 1 s each (median and max printed);
#      SIGTERM of the leader: it resigns, and the next one leads within a second;
#   6. the coordination server restarted: members register again, a leader is elected, no
#      process exits;
#   7. at the end every line is in MySQL exactly once and in Redis exactly once, and the
#      rollup equals a GROUP BY over the raw table for every closed window.
set -euo pipefail
BACKEND=${1:?usage: coord_pipeline.sh etcd|zookeeper}
T_NAME=coord_pipeline_$BACKEND
. "$(dirname "$0")/lib.sh"

need_real_kafka
COORD_CHECK=${FERRY_COORD_CHECK:-$(dirname "$FERRY_BIN")/tests/integration/coord_check}
[ -x "$COORD_CHECK" ] || fail "coord_check not found at $COORD_CHECK (set FERRY_COORD_CHECK)"
TTL_MS=3000
KILLS=${COORD_KILLS:-10}
TOPIC="coord-$T_ID"
P="coord:$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:4" >/dev/null

# ---- the private coordination server ----------------------------------------------------
start_coord() { # start_coord [PORT]: the same port again on a restart
  case $BACKEND in
  etcd)
    FERRY_ETCD_KEEP_DATA=1 FERRY_ETCD_PORT=${1:-} FERRY_ETCD_PEER_PORT=${PEER:-} \
      "$STACK" -d "$T_DIR/stack" start etcd >/dev/null
    CPORT=$(cat "$T_DIR/stack/etcd/port")
    PEER=$(cat "$T_DIR/stack/etcd/peer-port")
    URL="etcd://127.0.0.1:$CPORT/ferry/$T_ID"
    ;;
  zookeeper)
    FERRY_ZK_KEEP_DATA=1 FERRY_ZK_PORT=${1:-} "$STACK" -d "$T_DIR/stack" start zookeeper >/dev/null
    CPORT=$(cat "$T_DIR/stack/zookeeper/port")
    URL="zk://127.0.0.1:$CPORT/ferry/$T_ID"
    ;;
  *) fail "unknown backend $BACKEND" ;;
  esac
}
start_coord

# ---- the configuration --------------------------------------------------------------------
mkdir -p "$T_DIR/state"
: >"$T_DIR/a.jsonl"
: >"$T_DIR/b.jsonl"
# config [BATCH] [SOURCES]: the pushed document
config() {
  local batch=${1:-100} sources=${2:-a}
  cat <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
  consumer: {session.timeout.ms: "6000"}
agent:
  state_dir: $T_DIR/state
  sources:
YAML
  for s in $sources; do
    echo "    - {name: $s, type: tail, paths: [$T_DIR/$s.jsonl], topic: $TOPIC, start_at: beginning}"
  done
  cat <<YAML
sinks:
  group: $T_ID
  workers:
    - name: events
      type: mysql
      topics: [$TOPIC]
      format: json
      mysql: $(mysql_conn)
      table: ev_$T_ID
      columns: {ts: {type: datetime}, url: {length: 64}, user: user, src: {length: 8}, n: {type: int}}
      batch: {max_rows: $batch, max_ms: 100}
    - name: counts
      type: redis
      topics: [$TOPIC]
      format: json
      redis: {host: $FERRY_REDIS_HOST, port: $FERRY_REDIS_PORT}
      commands: [[INCR, "$P:events"], [INCR, "$P:src:{src}"]]
      batch: {max_rows: 100, max_ms: 100}
rollups:
  - name: pv_$T_ID
    worker: events
    table: pv_$T_ID
    time_column: ts
    group_by: [url]
    measures: {views: count, users: {fn: count_distinct, column: user}}
    interval_ms: 1000
    lateness_ms: 30000
YAML
}
config 100 a >"$T_DIR/v1.yaml"
"$FERRY_BIN" config push -c "$T_DIR/v1.yaml" --coord "$URL" >"$T_DIR/push1.out" 2>&1 ||
  fail "config push: $(cat "$T_DIR/push1.out")"
# the coordination section of the processes: a local file with the TTL only
echo "coordination: {ttl_ms: $TTL_MS}" >"$T_DIR/local.yaml"

# ---- the processes ------------------------------------------------------------------------
# Every sink process pauses 1.5 s between its leadership check and its rollup write, so that
# the fencing case below can stop it there.
NSINK=0
start_sink() { # and wait until it is a member (a process that cannot reach the service at
  # its start exits: the cases below must not stop the service under a starting one)
  NSINK=$((NSINK + 1))
  FERRY_DEBUG_ROLLUP_DELAY_MS=1500 start_ferry "s$NSINK" sink -c "$T_DIR/local.yaml" --coord "$URL"
  registered() { grep -q " coord: member " "$T_DIR/s$NSINK.log"; }
  wait_for "sink $NSINK registered" 30 registered
}
start_ferry agent agent -c "$T_DIR/local.yaml" --coord "$URL"
for _ in 1 2 3; do start_sink; done

# the writer: JSON events stamped with the time they are written, into FILE, until stopped
writer() { # writer FILE SRC (run with &: the python process itself is the job)
  exec python3 - "$1" "$2" "$T_DIR/stop-writers" <<'PY'
import datetime, os, sys, time
path, src, stop = sys.argv[1], sys.argv[2], sys.argv[3]
n = 0
with open(path, "a") as f:
    while not os.path.exists(stop):
        for _ in range(20):
            n += 1
            now = datetime.datetime.now(datetime.timezone.utc)
            ts = now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)
            f.write('{"ts": "%s", "url": "/p%d", "user": "u%d", "src": "%s", "n": %d}\n'
                    % (ts, n % 7, n % 31, src, n))
        f.flush()
        time.sleep(0.05)
PY
}
writer "$T_DIR/a.jsonl" a &
WRITER_A=$!
T_PIDS+=("$WRITER_A") # stopped with the ferry processes if the test fails

# ---- leadership, seen by the processes ----------------------------------------------------
# who_leads: the member ids whose latest leadership line says they lead (live processes only)
who_leads() {
  local f pid last
  for f in "$T_DIR"/s*.log; do
    pid=$(basename "$f" .log)
    pid="PID_$pid"
    kill -0 "${!pid}" 2>/dev/null || continue
    last=$(grep -E ' leader: .* (leads|lost the leadership)|fenced off' "$f" | tail -n 1 || true)
    case $last in *" leads "*) awk '{ print $4 }' <<<"$last" ;; esac
  done
}
leads_once() { [ "$(who_leads | wc -l)" -eq 1 ]; }
wait_for "a leader among three sinks" 30 leads_once
for _ in $(seq 1 15); do
  n=$(who_leads | wc -l)
  [ "$n" -eq 1 ] || fail "$n sink processes lead at once: $(who_leads | tr '\n' ' ')"
  sleep 0.2
done
ok "exactly one of three sink processes leads, sampled 15 times over 3 s"

rows() { sql "SELECT COUNT(*) FROM ev_$T_ID" 2>/dev/null || echo 0; }
some_rows() { [ "$(rows)" -gt 0 ]; }
wait_for "rows in MySQL" 60 some_rows

# ---- live changes -------------------------------------------------------------------------
config 37 a >"$T_DIR/v2.yaml"
"$FERRY_BIN" config push -c "$T_DIR/v2.yaml" --coord "$URL" >/dev/null
batch_seen() {
  local f
  for f in "$T_DIR"/s[123].log; do
    grep -q 'events: mysql worker .* batches of up to 37 events' "$f" || return 1
    grep -q 'applied: restarted \[events\], started \[\], stopped \[\], 1 unchanged' "$f" || return 1
  done
}
wait_for "every sink restarting worker events with 37-event batches" 30 batch_seen
grep -q 'applied: restarted \[\], started \[\], stopped \[\], 0 unchanged' "$T_DIR/agent.log" ||
  fail "the agent restarted for a change of the sinks only"
ok "a worker's batch size changed live: that worker restarted with it, the other kept running"

config 37 "a b" >"$T_DIR/v3.yaml"
"$FERRY_BIN" config push -c "$T_DIR/v3.yaml" --coord "$URL" >/dev/null
writer "$T_DIR/b.jsonl" b &
WRITER_B=$!
T_PIDS+=("$WRITER_B")
b_rows() { [ "$(sql "SELECT COUNT(*) FROM ev_$T_ID WHERE src = 'b'")" -gt 0 ]; }
wait_for "rows of the source added live" 60 b_rows
grep -q 'applied: restarted \[agent\]' "$T_DIR/agent.log" || fail "the agent did not restart"
ok "a source added live: its lines reach the table"

# a broken document, stored as it is (ferry config push would refuse it)
printf 'kafka:\n  brokers: [1, 2\nsinks: {}\n' >"$T_DIR/broken.yaml"
"$COORD_CHECK" --put "$URL" config "$T_DIR/broken.yaml" >/dev/null
refused() { grep -q "config: .*/config version [0-9]* refused: the running configuration stays" "$T_DIR/s1.log"; }
wait_for "the broken document refused" 20 refused
grep -qE "error config: $URL/config:[0-9]+:[0-9]+: yaml: " "$T_DIR/s1.log" || fail "no file:line:column for the broken document"
before=$(rows)
sleep 2
[ "$(rows)" -gt "$before" ] || fail "rows stopped flowing after the broken document"
ok "a broken document refused with file:line:column; the running configuration stays in force"
"$FERRY_BIN" config push -c "$T_DIR/v3.yaml" --coord "$URL" >/dev/null

# ---- fencing ------------------------------------------------------------------------------
leader_pid() { # the pid of the leading process (its member id ends with it)
  local id
  id=$(who_leads | head -n 1)
  [ -n "$id" ] && echo "${id##*-}"
}
log_of() { grep -l "member .*-$1 of" "$T_DIR"/s*.log | head -n 1; }
wait_for "a leader" 30 leads_once
LP=$(leader_pid)
LLOG=$(log_of "$LP")
passes=$(grep -c 'rollup pass in' "$LLOG" || true)
next_pass() { [ "$(grep -c 'rollup pass in' "$LLOG" || true)" -gt "$passes" ]; }
wait_for "the leader's next rollup pass" 30 next_pass
kill -STOP "$LP"
echo "leader $LP stopped in its rollup pass"
sleep $((TTL_MS / 1000 + 5))
new_leader() { [ -n "$(who_leads | grep -v -- "-$LP\$" || true)" ]; }
wait_for "a new leader while $LP is stopped" 20 new_leader
NEW=$(who_leads | grep -v -- "-$LP\$" | head -n 1)
NEW_TOKEN=$(grep -h "leader: $NEW leads" "$T_DIR"/s*.log | tail -n 1 | awk '{ print $NF }')
fence_row() { sql "SELECT token FROM ferry_fence WHERE name = '$T_ID:$BACKEND:/ferry/$T_ID'"; }
fence_new() { [ "$(fence_row)" = "$NEW_TOKEN" ]; }
wait_for "the new leader's token in ferry_fence" 20 fence_new
kill -CONT "$LP"
fenced() { grep -q 'fenced off: a leader with a newer token' "$LLOG"; }
wait_for "the old leader fenced off" 20 fenced
[ "$(fence_row)" = "$NEW_TOKEN" ] || fail "ferry_fence holds $(fence_row), not the new leader's $NEW_TOKEN"
ok "SIGSTOP past the TTL, SIGCONT: the old leader's rollup write was fenced off (token $NEW_TOKEN kept)"

# ---- failover -----------------------------------------------------------------------------
# The failover and handover times are asserted: no neighbour test may starve them.
alone_begin
ts_ms() { date -d "$1" +%s%3N; } # an ISO 8601 log time as ms
FAILOVERS=()
for k in $(seq 1 "$KILLS"); do
  wait_for "a leader" 30 leads_once
  LP=$(leader_pid)
  n_before=$(cat "$T_DIR"/s*.log | grep -c ' leads ' || true)
  t0=$(date +%s%3N)
  kill -KILL "$LP"
  wait "$LP" 2>/dev/null || true
  taken() { [ "$(cat "$T_DIR"/s*.log | grep -c ' leads ' || true)" -gt "$n_before" ]; }
  wait_for "a new leader after kill $k" 30 taken
  line=$(grep -h ' leads ' "$T_DIR"/s*.log | sort | tail -n 1)
  t1=$(ts_ms "$(awk '{ print $1 }' <<<"$line")")
  FAILOVERS+=($((t1 - t0)))
  [ $((t1 - t0)) -le $((TTL_MS + 1000)) ] ||
    fail "kill $k: a new leader after $((t1 - t0)) ms, more than the TTL ($TTL_MS ms) + 1 s"
  start_sink
  # the rows caught up before the next kill: each kill holds some partitions up for a
  # session timeout; chained, they would hold rows past the rollup's lateness
  written=$(($(wc -l <"$T_DIR/a.jsonl") + $(wc -l <"$T_DIR/b.jsonl")))
  caught_up() { [ "$(rows)" -ge "$written" ]; }
  wait_for "the rows caught up after kill $k" 60 caught_up
done
sorted=$(printf '%s\n' "${FAILOVERS[@]}" | sort -n)
median=$(sed -n "$(((KILLS + 1) / 2))p" <<<"$sorted")
max=$(tail -n 1 <<<"$sorted")
echo "figures: $BACKEND failover after kill -9 of the leader, $KILLS kills, TTL $TTL_MS ms: median $median ms, max $max ms (all: $(tr '\n' ' ' <<<"$sorted"))"
ok "$KILLS kill -9 of the leader: a new leader within TTL + 1 s each"

# a graceful stop resigns: the next candidate leads after about one round trip
wait_for "a leader" 30 leads_once
LP=$(leader_pid)
n_before=$(cat "$T_DIR"/s*.log | grep -c ' leads ' || true)
t0=$(date +%s%3N)
kill -TERM "$LP"
wait "$LP" || fail "the leader $LP exited with $? on SIGTERM"
taken() { [ "$(cat "$T_DIR"/s*.log | grep -c ' leads ' || true)" -gt "$n_before" ]; }
wait_for "a new leader after SIGTERM" 30 taken
line=$(grep -h ' leads ' "$T_DIR"/s*.log | sort | tail -n 1)
handover=$(($(ts_ms "$(awk '{ print $1 }' <<<"$line")") - t0))
echo "figures: $BACKEND handover after SIGTERM of the leader: $handover ms"
[ "$handover" -le 1000 ] || fail "a new leader $handover ms after the leader's SIGTERM"
start_sink
alone_end
ok "SIGTERM of the leader: it resigned, the next one leads after $handover ms"

# ---- the coordination server restarted ----------------------------------------------------
members_up() { # every live process registered, and a leader
  local want=0 p
  for p in "${T_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && want=$((want + 1)); done
  want=$((want - 2)) # the writers are not ferry processes
  "$FERRY_BIN" status --coord "$URL" >"$T_DIR/status.out" 2>&1 || return 1
  [ "$(grep -cE '^ *(sink|agent)-' "$T_DIR/status.out")" -ge "$want" ] &&
    grep -qiE 'leader: *(sink|run)-' "$T_DIR/status.out"
}
"$STACK" -d "$T_DIR/stack" stop "$BACKEND" >/dev/null
sleep $((TTL_MS / 1000 + 2)) # past the TTL: sessions and leases may expire
start_coord "$CPORT"
wait_for "members registered again and a leader" 60 members_up
for p in "$PID_agent" $(for i in $(seq 1 "$NSINK"); do v="PID_s$i"; echo "${!v}"; done); do
  if ! kill -0 "$p" 2>/dev/null; then
    # the killed leaders are gone on purpose: only those must be dead
    grep -q "member .*-$p of" "$T_DIR"/s*.log "$T_DIR/agent.log" || fail "process $p is unknown"
  fi
done
alive=0
for i in $(seq 1 "$NSINK"); do v="PID_s$i"; kill -0 "${!v}" 2>/dev/null && alive=$((alive + 1)); done
[ "$alive" -eq 3 ] || fail "$alive sink processes alive after the restart, want 3"
kill -0 "$PID_agent" || fail "the agent exited"
ok "$BACKEND restarted: members registered again, a leader elected, no process exited"

# ---- the end: nothing lost, nothing doubled, the rollup exact ------------------------------
touch "$T_DIR/stop-writers"
wait "$WRITER_A" "$WRITER_B"
lines=$(($(wc -l <"$T_DIR/a.jsonl") + $(wc -l <"$T_DIR/b.jsonl")))
all_rows() { [ "$(rows)" -ge "$lines" ]; }
wait_for "$lines rows" 120 all_rows
[ "$(rows)" -eq "$lines" ] || fail "$(rows) rows for $lines lines"
distinct=$(sql "SELECT COUNT(*) FROM (SELECT DISTINCT src, n FROM ev_$T_ID) d")
[ "$distinct" -eq "$lines" ] || fail "$distinct distinct events among $lines rows"
redis_all() { [ "$(rcli GET "$P:events")" = "$lines" ]; }
wait_for "Redis counting $lines events" 60 redis_all
ok "$lines lines: $lines rows, each once; Redis counted $lines"

# closed windows: those before done_until; wait until it covers the last line's window
last_window=$(sql "SELECT DATE_FORMAT(MAX(ts), '%Y-%m-%d %H:%i:00') FROM ev_$T_ID")
covered() { [ "$(sql "SELECT done_until > '$last_window' FROM ferry_rollups WHERE name = 'pv_$T_ID'")" = 1 ]; }
wait_for "the rollup past the last window ($last_window)" 150 covered
diff <(sql "SELECT DATE_FORMAT(ts, '%Y-%m-%d %H:%i:00'), url, COUNT(*), COUNT(DISTINCT user)
            FROM ev_$T_ID GROUP BY 1, 2 ORDER BY 1, 2") \
  <(sql "SELECT DATE_FORMAT(window_start, '%Y-%m-%d %H:%i:00'), url, views, users
         FROM pv_$T_ID ORDER BY 1, 2") >"$T_DIR/rollup.diff" ||
  fail "the rollup differs from GROUP BY: $(head -20 "$T_DIR/rollup.diff")"
windows=$(sql "SELECT COUNT(DISTINCT window_start) FROM pv_$T_ID")
ok "the rollup equals GROUP BY over the raw table: $windows closed windows"
for i in $(seq 1 "$NSINK"); do
  v="PID_s$i"
  kill -0 "${!v}" 2>/dev/null && stop_ferry "s$i"
done
stop_ferry agent
