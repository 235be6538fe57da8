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

cleanup() {
  local rc=$?
  for p in "${T_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${T_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
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
  "$FERRY_BIN" "$@" >"$T_DIR/$name.log" 2>&1 </dev/null &
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
# nodes; sets B to its bootstrap servers.
need_real_kafka() {
  [ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
  [ "${FERRY_REAL_KAFKA_NODES:-1}" -ge "${1:-1}" ] ||
    fail "needs ${1:-1} Kafka nodes, the stack has ${FERRY_REAL_KAFKA_NODES:-1}"
  B=$FERRY_REAL_KAFKA_BOOTSTRAP
}

# wait_at_least DESCRIPTION TIMEOUT_S MIN COMMAND…: polls until COMMAND prints a number >= MIN
# (a fault is timed by progress, never by a sleep).
wait_at_least() {
  local what=$1 timeout=$2 min=$3; shift 3
  _at_least() { local v; v=$("$@" 2>/dev/null) || v=0; [ "${v:-0}" -ge "$min" ]; }
  wait_for "$what (at least $min)" "$timeout" _at_least "$@"
}

# http_addr NAME: the address ferry NAME (started with `http: {listen: "127.0.0.1:0"}`) bound,
# from its log; waits for it.
http_addr() {
  local log="$T_DIR/$1.log"
  _listening() { grep -q 'http: listening on ' "$log"; }
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

# write_numbered FILE N PAUSE_EVERY TEXT: appends lines "<i> TEXT <i, 8 digits>" for i in
# 1..N, pausing 0.1 s after every PAUSE_EVERY lines (so that faults land mid-stream).
write_numbered() {
  python3 - "$@" <<'PY'
import sys, time
path, n, every, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "a") as f:
    for i in range(1, n + 1):
        f.write(f"{i} {text} {i:08d}\n")
        if i % every == 0:
            f.flush()
            time.sleep(0.1)
PY
}
