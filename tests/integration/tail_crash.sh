#!/usr/bin/env bash
# kill -9 of the agent, 20 times, while numbered lines are written and the log is rotated by
# rename; the agent is started again each time. Each run is killed only after it made progress
# (Kafka acknowledged lines it sent: its /metrics counter), at a seeded random extra delay. On
# the real 3-node cluster the Java client must then find every number (missing 0), and the
# doubled lines must stay within what the kills can re-send: a kill re-sends only what its run
# read but had not yet in its checkpoint, about checkpoint_ms worth of lines plus those in
# flight. An agent that ignored its checkpoint would re-send whole files and far exceed that
# (CRASH_WIPE_STATE=1 wipes the state directory before each restart, to see the bound fail).
# FERRY_SEED repeats a run.
set -euo pipefail
T_NAME=tail_crash
. "$(dirname "$0")/lib.sh"

need_real_kafka
SEED=${FERRY_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
KILLS=${CRASH_KILLS:-20}
RATE=${CRASH_RATE:-20000}
CHECKPOINT_MS=100
# What a kill may re-send: the lines of one checkpoint interval, plus LAG_MS of lines in flight
# (read and sent, not yet acknowledged: the backlog a restart finds and the acknowledgement
# latency of acks: all on a loaded 2-core machine). The margin is in LAG_MS: the runs measured
# here sent 900-1,600 lines twice a kill (RATE x 0.05-0.08 s); an agent that forgets its
# checkpoint sends about 125,000 copies a kill.
LAG_MS=${CRASH_LAG_MS:-500}
PER_KILL=$((RATE * (CHECKPOINT_MS + LAG_MS) / 1000))
echo "seed $SEED (FERRY_SEED=$SEED repeats this run)"
RANDOM=$SEED

TOPIC="crash-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:$REPL" >/dev/null
mkdir -p "$T_DIR/logs"
cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
$HTTP_ANY
$(agent_tail "$T_DIR/state" "$CHECKPOINT_MS" crash "$T_DIR/logs/app.log*" "$TOPIC" all)
      rotate_wait_ms: 1000
YAML

# The writer: numbered lines at RATE a second; every 250-450 ms it renames app.log to
# app.log.N, writes a few more lines to the renamed file, and reopens app.log. It stops when
# $T_DIR/stop appears, and prints how many lines it wrote.
/usr/bin/python3 - "$T_DIR/logs/app.log" "$RATE" "$SEED" "$T_DIR/stop" >"$T_DIR/writer.txt" <<'PY' &
import os, random, sys, time
path, rate, seed, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(seed)
def lines(first, k):
    return b"".join(f"{i} crash line {i:09d}\n".encode() for i in range(first, first + k))
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
n = rot = 0
t0 = time.monotonic()
next_rot = t0 + rnd.uniform(0.25, 0.45)
while not os.path.exists(stop):
    now = time.monotonic()
    if n >= rate * (now - t0):
        time.sleep(0.002)
        continue
    os.write(fd, lines(n + 1, 20))
    n += 20
    if now >= next_rot:
        rot += 1
        os.rename(path, f"{path}.{rot}")
        k = rnd.randrange(0, 30)
        os.write(fd, lines(n + 1, k))
        n += k
        os.close(fd)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        next_rot = now + rnd.uniform(0.25, 0.45)
os.close(fd)
print(n, rot)
PY
writer=$!

# Runs that end with kill -9 are waited for here, so their pids are never signalled again.
# Each run is killed once Kafka acknowledged at least one line it sent, plus 0-800 ms.
: >"$T_DIR/kills.txt"
for i in $(seq 1 "$KILLS"); do
  [ -z "${CRASH_WIPE_STATE:-}" ] || rm -rf "$T_DIR/state"
  # a log of its own: the address read from it must be this run's
  : >"$T_DIR/run$i.log"
  "$FERRY_BIN" agent -c "$T_DIR/ferry.yaml" >"$T_DIR/run$i.log" 2>&1 </dev/null &
  pid=$!
  T_PIDS=("$writer" "$pid") # stopped by the cleanup if the test fails while this run lives
  addr=$(http_addr "run$i")
  wait_at_least "run $i: lines acknowledged" 60 1 metric "$addr" ferry_source_events_acked_total
  ms=$((RANDOM % 800))
  sleep "$(printf '0.%03d' "$ms")"
  kill -0 "$pid" || fail "the agent exited on its own (run $i): $(tail -n 5 "$T_DIR/run$i.log")"
  acked=$(metric "$addr" ferry_source_events_acked_total || echo "?")
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  T_PIDS=("$writer")
  { echo "--- run $i, killed ${ms} ms after progress, $acked acknowledged"; cat "$T_DIR/run$i.log"; } >>"$T_DIR/runs.txt"
  rm -f "$T_DIR/run$i.log"
  echo "$i $ms $acked" >>"$T_DIR/kills.txt"
  echo "run $i: killed $ms ms after progress was seen, $acked lines acknowledged"
done
touch "$T_DIR/stop"
wait "$writer"
T_PIDS=()
read -r N ROT <"$T_DIR/writer.txt"
echo "$N lines written, $ROT renames, $KILLS kills"

# The last run: to the end, then SIGTERM.
[ -z "${CRASH_WIPE_STATE:-}" ] || rm -rf "$T_DIR/state"
start_ferry agent agent -c "$T_DIR/ferry.yaml"
wait_quiet "$T_DIR/state/crash.checkpoint.json"
stop_ferry agent

java_check "$T_DIR/check.txt" "$FERRY_REAL_KAFKA_BOOTSTRAP" "$TOPIC" --expect-lines "$N" \
  --number-regex '^(\d+) crash line 0*\1$' --timeout-ms 90000
BOUND=$((KILLS * PER_KILL))
extra=$(($(get records) - $(get distinct))) # copies beyond the first of every line
min_acked=$(awk 'NR == 1 || $3 < m { m = $3 } END { print m + 0 }' "$T_DIR/kills.txt")
echo "figures: seed=$SEED kills=$KILLS written=$N received=$(get records)" \
  "missing=$(get missing) doubled=$(get doubled) extra_copies=$extra bound=$BOUND" \
  "(${PER_KILL} a kill) extra_per_kill=$((extra / KILLS)) least_acked_at_kill=$min_acked" \
  "unnumbered=$(get unnumbered)"
[ "$min_acked" -gt 0 ] || fail "seed $SEED: a run was killed before Kafka acknowledged anything"
[ "$(get missing)" = 0 ] || fail "seed $SEED: $(get missing) lines missing: $(get first_missing)"
[ "$(get unnumbered)" = 0 ] || fail "seed $SEED: records that are not whole lines"
[ "$extra" -le "$BOUND" ] ||
  fail "seed $SEED: $extra copies of lines sent twice, more than $KILLS kills can re-send ($BOUND:" \
    "$PER_KILL each, checkpoint_ms $CHECKPOINT_MS + ${LAG_MS} ms in flight at $RATE lines/s)"
ok "$KILLS kill -9 with rename rotation, each after progress: $N lines, none missing," \
  "$extra copies of $(get doubled) doubled lines (at most $BOUND)"
