# Helpers for integration tests; sourced. Each test gets its own directory, topic, table
# and Redis key prefix, so tests can run side by side against one stack.
set -euo pipefail

: "${FERRY_BIN:?FERRY_BIN must name the ferry binary}"
: "${FERRY_STACK_DIR:?FERRY_STACK_DIR must name the running stack}"
FERRY_SRC=${FERRY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STACK="$FERRY_SRC/tests/stack/stack.sh"

# shellcheck disable=SC1091
. "$FERRY_STACK_DIR/env"

T_NAME=${T_NAME:-$(basename "$0" .sh)}
T_ID="${T_NAME//[^a-zA-Z0-9]/_}_$$"
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-$T_NAME.XXXXXX")
T_PIDS=()
touch "$T_DIR/.start"

# The machine is shared with a neighbour test (ctest -j 2). A test whose assertions are about
# time (a failover within the TTL + 1 s) runs those steps alone: alone_begin waits until no
# other test runs and keeps new ones waiting at their start, alone_end lets them go on. Every
# test holds the stack's lock shared; a turnstile lock taken first keeps a waiting alone_begin
# from being overtaken by tests that start later.
exec {T_TURN_FD}>>"$FERRY_STACK_DIR/.turnstile.lock" {T_SHARE_FD}>>"$FERRY_STACK_DIR/.shared.lock"
flock -x "$T_TURN_FD"
flock -s "$T_SHARE_FD"
flock -u "$T_TURN_FD"
alone_begin() {
  # the shared lock is let go first: a test waiting here never holds what another one's
  # alone_begin waits for
  flock -u "$T_SHARE_FD"
  flock -w 300 -x "$T_TURN_FD" && flock -w 300 -x "$T_SHARE_FD" ||
    fail "another test held the stack for 5 minutes"
  echo "alone from here: no other test runs"
}
alone_end() {
  flock -s "$T_SHARE_FD"
  flock -u "$T_TURN_FD"
}
# A ferry that crashes leaves a core (in its working directory): fail() prints its backtrace.
ulimit -c unlimited 2>/dev/null || true

# backtraces COREDIR...: gdb's backtrace of every thread of each core dumped since the test
# started, and the core moved into $T_DIR (kept with the test's files)
backtraces() {
  local c
  for c in $(find "$@" -maxdepth 3 -name 'core*' -type f -newer "$T_DIR/.start" 2>/dev/null); do
    echo "--- $c: backtrace" >&2
    if command -v gdb >/dev/null; then
      # the crashing thread in full, then a few frames of every thread
      gdb -batch -ex 'bt' -ex 'thread apply all bt 8' "$FERRY_BIN" "$c" 2>&1 |
        grep -v '^\[New LWP' | head -n 150 >&2
    fi
    [ "${c#"$T_DIR"}" != "$c" ] || mv "$c" "$T_DIR/" 2>/dev/null || true
  done
}

fail() {
  echo "FAIL: $*" >&2
  for f in "$T_DIR"/*.log; do
    [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 30 "$f" >&2; }
  done
  backtraces "$PWD" "$T_DIR"
  exit 1
}

ok() { echo "ok: $*"; }

# at_exit COMMAND: COMMAND runs when the test ends, before the cleanup, whatever its status (a
# failure of COMMAND is passed over): for what must be undone even when the test fails, such as
# a node of the shared cluster paused or killed
T_AT_EXIT=()
at_exit() { T_AT_EXIT+=("$1"); }

cleanup() {
  local rc=$? c
  for c in "${T_AT_EXIT[@]}"; do eval "$c" || true; done
  # SIGCONT too: a process the test stopped (SIGSTOP) must see its SIGTERM; one that does not
  # exit within 15 s is killed, so that a failed test leaves nothing running
  for p in "${T_PIDS[@]}" $(jobs -p); do kill -TERM "$p" 2>/dev/null && kill -CONT "$p" 2>/dev/null || true; done
  local end=$((SECONDS + 15))
  for p in "${T_PIDS[@]}"; do
    while kill -0 "$p" 2>/dev/null && ! exited "$p" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if kill -0 "$p" 2>/dev/null && ! exited "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    wait "$p" 2>/dev/null || true
  done
  # the test's private servers: $T_DIR/stack, and $T_DIR/stack-NAME for a second one
  for d in "$T_DIR"/stack "$T_DIR"/stack-*; do
    [ -d "$d" ] && "$STACK" -d "$d" stop all >/dev/null 2>&1 || true
  done
  if [ "$rc" -eq 0 ] && [ -z "${FERRY_TEST_KEEP:-}" ]; then rm -rf "$T_DIR"; else echo "kept $T_DIR"; fi
  return "$rc"
}
trap cleanup EXIT

sql() {
  mariadb --no-defaults -h "$FERRY_MYSQL_HOST" -P "$FERRY_MYSQL_PORT" -u "$FERRY_MYSQL_USER" \
    -p"$FERRY_MYSQL_PASSWORD" -D "$FERRY_MYSQL_DATABASE" -N -B -e "$1"
}

rcli() { redis-cli -h "$FERRY_REDIS_HOST" -p "$FERRY_REDIS_PORT" "$@"; }

# wait_for DESCRIPTION TIMEOUT_S COMMAND…: polls until COMMAND succeeds.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local end=$((SECONDS + timeout))
  until "$@"; do
    [ $SECONDS -lt $end ] || fail "timed out after ${timeout}s waiting for $what"
    sleep 0.5
  done
}

# start_ferry NAME ARGS…: runs ferry in the background, log in $T_DIR/NAME.log.
start_ferry() {
  local name=$1; shift
  # the locks stay with the test: a ferry outliving it must not hold them
  "$FERRY_BIN" "$@" >"$T_DIR/$name.log" 2>&1 </dev/null {T_TURN_FD}>&- {T_SHARE_FD}>&- &
  T_PIDS+=($!)
  eval "PID_$name=$!"
}

# stop_ferry NAME: SIGTERM and wait; fails the test unless it exits 0.
stop_ferry() {
  local name=$1 pidvar="PID_$1" rc=0
  kill -TERM "${!pidvar}"
  wait "${!pidvar}" || rc=$?
  [ "$rc" -eq 0 ] || fail "ferry $name exited with $rc"
}

# need_real_kafka [NODES]: fails unless the stack runs Apache Kafka with at least NODES (1)
# nodes; sets B to its bootstrap servers and REPL to the replication factor a topic can have
# (3 on three nodes).
need_real_kafka() {
  [ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
  [ "${FERRY_REAL_KAFKA_NODES:-1}" -ge "${1:-1}" ] ||
    fail "needs ${1:-1} Kafka nodes, the stack has ${FERRY_REAL_KAFKA_NODES:-1}"
  B=$FERRY_REAL_KAFKA_BOOTSTRAP
  REPL=$((FERRY_REAL_KAFKA_NODES >= 3 ? 3 : 1))
}

# wait_at_least DESCRIPTION TIMEOUT_S MIN COMMAND…: polls until COMMAND prints a number >= MIN
# (a fault is timed by progress, never by a sleep).
wait_at_least() {
  local what=$1 timeout=$2 min=$3; shift 3
  _at_least() { local v; v=$("$@" 2>/dev/null) || v=0; [ "${v:-0}" -ge "$min" ]; }
  wait_for "$what (at least $min)" "$timeout" _at_least "$@"
}

# wait_rising DESCRIPTION TIMEOUT_S COMMAND…: polls until COMMAND prints a number larger than
# the one it printed first (writes are going on: a fault struck now lands mid-batch); sets
# RISEN to that number.
wait_rising() {
  local what=$1 timeout=$2 first; shift 2
  first=$("$@" 2>/dev/null) || first=0
  _risen() { RISEN=$("$@" 2>/dev/null) || RISEN=0; [ "${RISEN:-0}" -gt "${first:-0}" ]; }
  wait_for "$what (above $first)" "$timeout" _risen "$@"
}

# paced LINES_PER_S: copies stdin to stdout at about that rate, flushed every 20 ms: a steady
# stream, so that the sink is writing when a fault strikes, not waiting between bursts.
paced() {
  /usr/bin/python3 -c '
import sys, time
rate = float(sys.argv[1])
step, n, t0 = max(1, int(rate / 50)), 0, time.monotonic()
for line in sys.stdin:
    sys.stdout.write(line)
    n += 1
    if n % step == 0:
        sys.stdout.flush()
        time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
' "$1"
}

# http_addr NAME: the address ferry NAME (started with `http: {listen: "127.0.0.1:0"}`) bound,
# from its log; waits for it.
http_addr() {
  local log="$T_DIR/$1.log"
  _listening() { grep -q 'http: listening on ' "$log" 2>/dev/null; }
  wait_for "ferry $1 to listen on HTTP" 30 _listening
  sed -n 's/.*http: listening on \([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -n 1
}

# metric ADDR NAME [LABEL_FILTER]: the sum of the samples of metric NAME that /metrics at ADDR
# serves (curl, an independent client), over the samples whose labels contain LABEL_FILTER
# (e.g. 'worker="rows"'); 0 when there are none. Fails when ADDR does not answer.
metric() {
  local body
  body=$(curl -sf --max-time 5 "http://$1/metrics") || { echo "metric: no answer from $1" >&2; return 1; }
  awk -v n="$2" -v f="${3:-}" '
    $1 == n || index($1, n "{") == 1 { if (f == "" || index($1, f)) s += $2 }
    END { printf "%d\n", s }' <<<"$body"
}

# A private mock cluster for this test: start_mock TOPIC:PARTITIONS…; sets BOOTSTRAP.
start_mock() {
  local args=()
  for t in "$@"; do args+=(--topic "$t"); done
  FERRY_BIN="$FERRY_BIN" "$STACK" -d "$T_DIR/stack" start mock-kafka --brokers 3 "${args[@]}" >/dev/null
  BOOTSTRAP=$(cat "$T_DIR/stack/mock-kafka/bootstrap")
}

# mysql_conn [PORT]: the `mysql:` mapping of a worker connecting to the stack's MariaDB (or to
# one on PORT) as the test user, the password from the environment.
mysql_conn() {
  echo "{host: 127.0.0.1, port: ${1:-$FERRY_MYSQL_PORT}, user: $FERRY_MYSQL_USER, password_env: FERRY_MYSQL_PASSWORD, database: $FERRY_MYSQL_DATABASE}"
}

# checkpoint_offset FILE: the acknowledged offset of the first file in an agent's checkpoint.
checkpoint_offset() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"][0]["offset"])' "$1" 2>/dev/null
}

# wait_acked CHECKPOINT LOG TIMEOUT_S: waits until the checkpoint covers all of LOG, that is
# until Kafka acknowledged every line of it.
wait_acked() {
  local cp=$1 size
  size=$(stat -c %s "$2")
  _acked() { [ "$(checkpoint_offset "$cp")" = "$size" ]; }
  wait_for "every line acknowledged (checkpoint at $size)" "$3" _acked
}

# write_numbered FILE N PAUSE_EVERY TEXT [FIRST]: appends lines "<i> TEXT <i, 8 digits>" for i
# in FIRST (1)..N, pausing 0.1 s after every PAUSE_EVERY lines (so that faults land mid-stream).
write_numbered() {
  python3 - "$@" <<'PY'
import sys, time
path, n, every, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
first = int(sys.argv[5]) if len(sys.argv) > 5 else 1
with open(path, "a") as f:
    for i in range(first, n + 1):
        f.write(f"{i} {text} {i:08d}\n")
        if i % every == 0:
            f.flush()
            time.sleep(0.1)
PY
}

# write_range FILE FROM TO TEXT: appends lines "<i> TEXT <i, 8 digits>" for i in FROM..TO at
# once (the numbering of write_numbered, continued).
write_range() {
  python3 - "$@" <<'PY'
import sys
path, lo, hi, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "a") as f:
    f.write("".join(f"{i} {text} {i:08d}\n" for i in range(lo, hi + 1)))
PY
}

# vmrss PID: the resident set of process PID in KiB (from /proc; empty once it is gone).
vmrss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# mock_brokers down|up: every broker of the test's mock cluster (start_mock) down or up again,
# and waits until the mock has done it (its log) and kcat, an independent client, sees it:
# down, metadata requests fail; up, they succeed.
mock_brokers() {
  local want=$1 sig word n
  case $want in
    down) sig=USR1 word="down" ;;
    up) sig=USR2 word="up again" ;;
    *) fail "mock_brokers down|up" ;;
  esac
  n=$(grep -c "every broker $word" "$T_DIR/stack/mock-kafka/log" || true)
  kill -"$sig" "$(cat "$T_DIR/stack/mock-kafka/pid")"
  _mock_did() { [ "$(grep -c "every broker $word" "$T_DIR/stack/mock-kafka/log" || true)" -gt "$n" ]; }
  wait_for "the mock to take every broker $want" 20 _mock_did
  _kcat_sees() {
    if kcat -L -b "$BOOTSTRAP" -m 2 >/dev/null 2>&1; then [ "$want" = up ]; else [ "$want" = down ]; fi
  }
  wait_for "kcat to see every broker $want" 30 _kcat_sees
}

# count_numbered BOOTSTRAP TOPIC N OUT: reads TOPIC from the beginning with kcat into OUT
# ("partition offset line") and prints "records missing doubled first_offsets" for the
# numbers 1..N (the third field of each line is its number); first_offsets is the sum of each
# partition's first offset (not 0: the mock dropped its oldest messages).
count_numbered() {
  kcat -C -b "$1" -t "$2" -o beginning -e -q -f '%p %o %s\n' >"$4"
  awk -v n="$3" '
    !($1 in f) { f[$1] = $2 }
    { c[$3]++; r++ }
    END { for (i = 1; i <= n; i++) { if (!(i in c)) m++; else if (c[i] > 1) d++ }
          for (p in f) s += f[p]
          print r + 0, m + 0, d + 0, s + 0 }' "$4"
}

# exited PID: true once process PID has ended (gone, or a zombie its parent has not reaped:
# kill -0 still succeeds for those)
exited() { [ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# HTTP_ANY: the `http:` line of a configuration whose ferry listens on a port of its own
# choosing (http_addr reads it from the log)
HTTP_ANY='http: {listen: "127.0.0.1:0"}'

# agent_section STATE_DIR CHECKPOINT_MS: the head of an `agent:` section, up to `sources:`
agent_section() { printf 'agent:\n  state_dir: %s\n  checkpoint_ms: %s\n  sources:\n' "$1" "$2"; }

# agent_tail STATE_DIR CHECKPOINT_MS NAME PATHS TOPIC ACKS: an `agent:` section with one tail
# source NAME, which ships the files PATHS (a glob) to TOPIC with acks ACKS; more keys of the
# source may follow
agent_tail() {
  agent_section "$1" "$2"
  printf '    - name: %s\n      paths: [%s]\n      topic: %s\n      acks: %s\n' "$3" "$4" "$5" "$6"
}

# start_agent NAME [CONFIG]: ferry NAME runs `ferry agent -c CONFIG` ($T_DIR/ferry.yaml, with
# $HTTP_ANY); waits for its HTTP endpoint and sets ADDR to its address.
start_agent() {
  start_ferry "$1" agent -c "${2:-$T_DIR/ferry.yaml}"
  ADDR=$(http_addr "$1")
}

# start_writer COMMAND…: runs COMMAND in the background (its standard input the caller's: a
# here-document goes with it) as the test's writer; sets WRITER to its pid, which the cleanup
# stops if the test fails first.
start_writer() {
  "$@" <&0 &
  WRITER=$!
  T_PIDS+=("$WRITER")
}

# wait_writer: waits until the writer (start_writer) is done, fails if it failed, and takes it
# off the processes the cleanup stops.
wait_writer() {
  local p keep=()
  wait "$WRITER" || fail "the writer failed"
  for p in "${T_PIDS[@]}"; do [ "$p" = "$WRITER" ] || keep+=("$p"); done
  T_PIDS=("${keep[@]}")
}

# wait_quiet CHECKPOINT: waits until the agent's CHECKPOINT file has not changed for 3 s (the
# agent shipped what there is), for 120 s at the most.
wait_quiet() {
  local last="" same=0 stop_at=$((SECONDS + 120)) cur
  while [ $SECONDS -lt $stop_at ]; do
    cur=$(md5sum "$1" 2>/dev/null || true)
    if [ -n "$cur" ] && [ "$cur" = "$last" ]; then
      same=$((same + 1))
      [ $same -ge 6 ] && return 0
    else
      same=0
    fi
    last=$cur
    sleep 0.5
  done
  fail "the agent never went quiet ($1)"
}

# java_check OUT BOOTSTRAP TOPIC [OPTION…]: the Java checker (tests/tools/Check.java: Kafka's
# own client) reads TOPIC with OPTIONs; its figures, NAME=VALUE lines, go to OUT and its
# complaints to OUT.err (shown when it fails, which fails the test). Sets CHECKED to OUT.
java_check() {
  local out=$1 bs=$2 topic=$3
  shift 3
  CHECKED=$out
  java -cp "$FERRY_REAL_KAFKA_LIB/*" "$FERRY_SRC/tests/tools/Check.java" --bootstrap "$bs" \
    --topic "$topic" "$@" >"$out" 2>"$out.err" || fail "checker on $topic: $(cat "$out.err")"
}

# get NAME [OUT]: the figure NAME the checker wrote into OUT (by default the last java_check's)
get() { sed -n "s/^$1=//p" "${2:-$CHECKED}"; }

# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib_sink.sh"
