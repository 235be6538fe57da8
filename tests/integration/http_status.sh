#!/usr/bin/env bash
# The HTTP status endpoint: `ferry run` on an embedded cluster (a tail source, a Redis worker)
# with `http: {listen: "127.0.0.1:0"}`. /healthz, /status and /metrics answer, and report the
# events the worker wrote; an unknown path is 404, a POST 405. A second process told to listen
# on a port already taken stops at start with exit code 1 and says why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=300
TOPIC="http-$T_ID"
PREFIX="http:$T_ID"
: >"$T_DIR/app.log"

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: embedded
  embedded: {brokers: 1, partitions: 2}
agent:
  state_dir: $T_DIR/state
  checkpoint_ms: 200
  sources:
    - name: app
      paths: [$T_DIR/app.log]
      topic: $TOPIC
sinks:
  group: $T_ID
  workers:
    - name: counter
      type: redis
      topics: [$TOPIC]
      redis: {host: $FERRY_REDIS_HOST, port: $FERRY_REDIS_PORT}
      commands:
        - [INCR, "$PREFIX:events"]
      batch: {max_rows: 50, max_ms: 100}
http: {listen: "127.0.0.1:0"}
YAML
"$FERRY_BIN" check -c "$T_DIR/ferry.yaml" >/dev/null || fail "config does not validate"

start_ferry run1 run -c "$T_DIR/ferry.yaml"
listening() { grep -q 'http: listening on ' "$T_DIR/run1.log"; }
wait_for "the HTTP server to listen" 30 listening
ADDR=$(sed -n 's/.*http: listening on \([0-9.]*:[0-9]*\).*/\1/p' "$T_DIR/run1.log" | head -n 1)
if ! [[ $ADDR =~ ^127\.0\.0\.1:[0-9]+$ ]] || [ "${ADDR#*:}" = 0 ]; then
  fail "bound address: '$ADDR'"
fi
ok "listening on $ADDR (port 0 picked a free port)"

# http_get PATH [CURL ARGS…]: prints "<code>" on the first line, then the body
http_get() {
  local path=$1; shift
  curl -sS -o "$T_DIR/body" -w '%{http_code}\n' "$@" "http://$ADDR$path" || echo 000
  cat "$T_DIR/body" 2>/dev/null || true
}
ctype() { curl -sS -o /dev/null -w '%{content_type}' "http://$ADDR$1"; }

[ "$(http_get /healthz)" = "200
ok" ] || fail "/healthz: $(http_get /healthz)"
ok "/healthz: 200 ok"

write_numbered "$T_DIR/app.log" "$N" 100 "http status line"
events() { rcli GET "$PREFIX:events" | sed 's/^$/0/'; }
have_events() { [ "$(events)" -ge "$N" ]; }
wait_for "$N events in Redis" 60 have_events

# status_check: the /status document says what ran, and that the worker wrote all N events
status_check() {
  curl -sS -f "http://$ADDR/status" >"$T_DIR/status.json" 2>/dev/null || return 1
  python3 - "$T_DIR/status.json" "$N" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert s["role"] == "run", s["role"]
assert s["id"] == "" and s["coordination"] is None, s
assert s["leading"] is False and s["fence"] is None, s
assert s["config"]["source"].endswith("/ferry.yaml") and s["config"]["version"] == 0, s["config"]
assert s["version"], s
assert s["sources"] == ["app"], s["sources"]
w = s["workers"]
assert [(x["name"], x["type"]) for x in w] == [("counter", "redis")], w
assert w[0]["written"] == n, w
PY
}
wait_for "/status to report $N events written" 20 status_check
[ "$(ctype /status)" = "application/json" ] || fail "/status content type: $(ctype /status)"
ok "/status: role run, worker counter (redis) wrote $N, source app"

metrics_check() {
  curl -sS -f "http://$ADDR/metrics" >"$T_DIR/metrics.txt" 2>/dev/null &&
    grep -qx "ferry_worker_events_written_total{worker=\"counter\"} $N" "$T_DIR/metrics.txt"
}
wait_for "/metrics to report $N events written" 20 metrics_check
for line in 'ferry_up 1' 'ferry_leader 0' 'ferry_leader_fence_token 0' \
  'ferry_config_reloads_total 0' 'ferry_config_rejected_total 0' \
  '# TYPE ferry_worker_events_written_total counter' '# TYPE ferry_leader gauge'; do
  grep -qxF "$line" "$T_DIR/metrics.txt" || fail "/metrics lacks '$line': $(cat "$T_DIR/metrics.txt")"
done
# every sample line is NAME{LABELS} VALUE or NAME VALUE, and every family has HELP and TYPE
python3 - "$T_DIR/metrics.txt" <<'PY' || fail "/metrics is not the text format: $(cat "$T_DIR/metrics.txt")"
import re, sys
typed, helped = set(), set()
for line in open(sys.argv[1]).read().splitlines():
    m = re.match(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$", line)
    if m:
        (helped if m.group(1) == "HELP" else typed).add(m.group(2))
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_]+="(?:[^"\\\n]|\\.)*"\})? -?[0-9.e+]+$', line)
    assert m, line
    assert m.group(1) in typed and m.group(1) in helped, line
PY
case "$(ctype /metrics)" in
  "text/plain; version=0.0.4"*) ;;
  *) fail "/metrics content type: $(ctype /metrics)" ;;
esac
ok "/metrics: ferry_worker_events_written_total{worker=\"counter\"} $N, leader, reloads, up"

[ "$(http_get /nope | head -n 1)" = 404 ] || fail "/nope: $(http_get /nope)"
[ "$(http_get /status -X POST | head -n 1)" = 405 ] || fail "POST /status: $(http_get /status -X POST)"
ok "404 for an unknown path, 405 for POST"

# Reloads (SIGHUP): the same file is applied, a broken one refused, and a changed worker is
# restarted while /status is being read.
metric() { curl -sS "http://$ADDR/metrics" | sed -n "s/^$1 //p"; }
is_metric() { [ "$(metric "$1")" = "$2" ]; }
kill -HUP "$PID_run1"
wait_for "a reload counted" 20 is_metric ferry_config_reloads_total 1
cp "$T_DIR/ferry.yaml" "$T_DIR/ferry.good"
echo "kafka: [" >"$T_DIR/ferry.yaml"
kill -HUP "$PID_run1"
wait_for "a refused reload counted" 20 is_metric ferry_config_rejected_total 1
sed 's/max_rows: 50/max_rows: 40/' "$T_DIR/ferry.good" >"$T_DIR/ferry.yaml"
(for _ in $(seq 300); do curl -sS -f -o /dev/null "http://$ADDR/status" || exit 1; done) &
reader=$!
kill -HUP "$PID_run1"
wait_for "a second reload counted" 20 is_metric ferry_config_reloads_total 2
wait "$reader" || fail "/status failed while a reload restarted the worker"
grep -q 'restarted \[counter\]' "$T_DIR/run1.log" || fail "the changed worker was not restarted"
ok "reloads: ferry_config_reloads_total 2, ferry_config_rejected_total 1, /status answered throughout"

# A port already taken: the second process stops at start, exit code 1, with a clear message.
sed "s|listen: \"127.0.0.1:0\"|listen: \"$ADDR\"|; s|state_dir: .*|state_dir: $T_DIR/state2|;
     s|group: .*|group: ${T_ID}_2|; s|$PREFIX:events|$PREFIX:events2|" "$T_DIR/ferry.yaml" >"$T_DIR/taken.yaml"
rc=0
timeout 60 "$FERRY_BIN" run -c "$T_DIR/taken.yaml" >"$T_DIR/taken.log" 2>&1 </dev/null || rc=$?
[ "$rc" = 1 ] || fail "listen on a taken port: exit $rc, want 1: $(cat "$T_DIR/taken.log")"
grep -q "http: listen $ADDR: Address already in use" "$T_DIR/taken.log" ||
  fail "listen on a taken port: $(cat "$T_DIR/taken.log")"
ok "a port already taken: exit 1, 'http: listen $ADDR: Address already in use'"

[ "$(http_get /healthz | head -n 1)" = 200 ] || fail "the first process stopped answering"
stop_ferry run1
grep -q "counter: stopped; $N events written" "$T_DIR/run1.log" ||
  fail "the worker's own count differs from $N"
ok "clean stop"
