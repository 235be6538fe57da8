#!/usr/bin/env bash
# kill -9 of the agent, 20 times at random moments, while numbered lines are written and the
# log is rotated by rename; the agent is started again each time. On the real 3-node cluster,
# the Java client must then find every number (missing 0); duplicates are allowed after a
# crash (lines in flight are read again) and are printed. FERRY_SEED repeats a run.
set -euo pipefail
T_NAME=tail_crash
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
SEED=${FERRY_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
KILLS=${CRASH_KILLS:-20}
RATE=${CRASH_RATE:-20000}
REPL=$((FERRY_REAL_KAFKA_NODES >= 3 ? 3 : 1))
echo "seed $SEED (FERRY_SEED=$SEED repeats this run)"
RANDOM=$SEED

TOPIC="crash-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:$REPL" >/dev/null
mkdir -p "$T_DIR/logs"
cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
agent:
  state_dir: $T_DIR/state
  checkpoint_ms: 100
  sources:
    - name: crash
      paths: [$T_DIR/logs/app.log*]
      topic: $TOPIC
      acks: all
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
for i in $(seq 1 "$KILLS"); do
  "$FERRY_BIN" agent -c "$T_DIR/ferry.yaml" >"$T_DIR/run.log" 2>&1 </dev/null &
  pid=$!
  ms=$((200 + RANDOM % 1300))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -0 "$pid" || fail "the agent exited on its own (run $i): $(tail -n 5 "$T_DIR/run.log")"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  { echo "--- run $i, killed after $ms ms"; cat "$T_DIR/run.log"; } >>"$T_DIR/runs.txt"
  echo "run $i: killed after ${ms} ms"
done
touch "$T_DIR/stop"
wait "$writer"
read -r N ROT <"$T_DIR/writer.txt"
echo "$N lines written, $ROT renames, $KILLS kills"

# The last run: to the end, then SIGTERM.
start_ferry agent agent -c "$T_DIR/ferry.yaml"
last="" same=0
for _ in $(seq 1 240); do
  cur=$(md5sum "$T_DIR/state/crash.checkpoint.json" 2>/dev/null || true)
  if [ -n "$cur" ] && [ "$cur" = "$last" ]; then same=$((same + 1)); else same=0; fi
  [ $same -ge 6 ] && break
  last=$cur
  sleep 0.5
done
[ $same -ge 6 ] || fail "the agent never went quiet"
stop_ferry agent

java -cp "$FERRY_REAL_KAFKA_LIB/*" "$FERRY_SRC/tests/tools/Check.java" \
  --bootstrap "$FERRY_REAL_KAFKA_BOOTSTRAP" --topic "$TOPIC" --expect-lines "$N" \
  --number-regex '^(\d+) crash line 0*\1$' --timeout-ms 90000 \
  >"$T_DIR/check.txt" 2>"$T_DIR/check.log" || fail "checker: $(cat "$T_DIR/check.log")"
get() { sed -n "s/^$1=//p" "$T_DIR/check.txt"; }
echo "figures: seed=$SEED kills=$KILLS written=$N received=$(get records)" \
  "missing=$(get missing) doubled=$(get doubled) unnumbered=$(get unnumbered)"
[ "$(get missing)" = 0 ] || fail "seed $SEED: $(get missing) lines missing: $(get first_missing)"
[ "$(get unnumbered)" = 0 ] || fail "seed $SEED: records that are not whole lines"
ok "$KILLS kill -9 with rename rotation: $N lines, none missing, $(get doubled) doubled"
