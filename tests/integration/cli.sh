#!/usr/bin/env bash
# The command line: --version, --help, exit codes, and `ferry check` pointing at the line and
# column of every problem in a broken file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$FERRY_BIN" --version | grep -Eq '^ferry [0-9]+\.[0-9]+\.[0-9]+ \(librdkafka' || fail "--version"
"$FERRY_BIN" --help | grep -q 'mock-kafka' || fail "--help lists the commands"
rc=0; "$FERRY_BIN" frobnicate -c x 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "unknown command: exit $rc, want 2"
rc=0; "$FERRY_BIN" check 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "check without -c: exit $rc, want 2"
# mock-kafka's arguments: each bad one exits 2 with what is wrong, before any cluster starts
mock_usage() { # mock_usage EXPECTED-MESSAGE ARGS...
  local want=$1 out rc=0; shift
  out=$(timeout 20 "$FERRY_BIN" mock-kafka "$@" 2>&1 </dev/null) || rc=$?
  [ "$rc" = 2 ] || fail "mock-kafka $*: exit $rc, want 2 ($out)"
  grep -qF -e "$want" <<<"$out" || fail "mock-kafka $*: '$want' not in: $out"
}
mock_usage "--brokers must be a number from 1 to 16" --brokers 3x
mock_usage "--brokers must be a number from 1 to 16" --brokers 0
mock_usage "unexpected argument 'stray'" stray
mock_usage "--topic wants NAME:PARTITIONS" --topic t:3x
mock_usage "--topic wants NAME:PARTITIONS" --topic t:
ok "version, help, usage errors"

cat >"$T_DIR/good.yaml" <<'YAML'
kafka: {brokers: "127.0.0.1:9092"}
agent:
  sources:
    - {name: web, paths: /var/log/x.log, topic: web}
YAML
[ "$("$FERRY_BIN" check -c "$T_DIR/good.yaml")" = ok ] || fail "good config"
ok "check: good config"

cat >"$T_DIR/bad.yaml" <<'YAML'
kafka:
  brokers: "127.0.0.1:9092"
agent:
  sources:
    - name: web
      pahts: [/var/log/x.log]
      topic: web
      acks: everything
sinks:
  workers:
    - name: db
      type: mysql
      topics: [web]
      table: "events; DROP TABLE users"
      mysql: {user: ferry, database: analytics}
      batch: {max_rows: lots}
YAML
rc=0
"$FERRY_BIN" check -c "$T_DIR/bad.yaml" >"$T_DIR/out.txt" 2>"$T_DIR/err.txt" || rc=$?
[ "$rc" = 2 ] || fail "broken config: exit $rc, want 2"
B="$T_DIR/bad.yaml"
cat >"$T_DIR/want.txt" <<WANT
$B:5:7: agent.sources[0]: missing required key 'paths'
$B:6:7: agent.sources[0]: unknown key 'pahts' (did you mean 'paths'?)
$B:8:13: agent.sources[0].acks: invalid value 'everything' (expected one of: 0, 1, all)
$B:14:14: sinks.workers[0].table: invalid identifier 'events; DROP TABLE users' (letters, digits, '_' and '$', at most 64)
$B:16:25: sinks.workers[0].batch.max_rows: expected an integer, got 'lots'
WANT
diff "$T_DIR/want.txt" "$T_DIR/err.txt" || fail "check output differs (want, have) as shown"
[ ! -s "$T_DIR/out.txt" ] || fail "nothing on stdout for a broken config"
ok "check: every error with file:line:column"

rc=0; "$FERRY_BIN" check -c "$T_DIR/missing.yaml" 2>"$T_DIR/err2.txt" || rc=$?
[ "$rc" = 2 ] && grep -q "missing.yaml: cannot open: No such file" "$T_DIR/err2.txt" || fail "missing file"
ok "check: missing file"

cat >"$T_DIR/prop.yaml" <<YAML
kafka:
  brokers: "127.0.0.1:1"
  properties: {linger.ms: "soon"}
agent:
  state_dir: $T_DIR/state
  sources:
    - {name: web, paths: $T_DIR/none.log, topic: web}
YAML
rc=0; timeout 20 "$FERRY_BIN" agent -c "$T_DIR/prop.yaml" 2>"$T_DIR/err3.txt" || rc=$?
[ "$rc" = 1 ] || fail "bad kafka property: exit $rc, want 1"
grep -q "kafka property linger.ms" "$T_DIR/err3.txt" || fail "bad property not named: $(cat "$T_DIR/err3.txt")"
ok "a bad kafka property is a start-up error naming it"
