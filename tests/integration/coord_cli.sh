#!/usr/bin/env bash
# ferry config push|get|watch and ferry status against etcd or ZooKeeper (the first argument),
# below a prefix of this run's own. What ferry stored is read back with the backend's own tool
# (etcdctl, ZooKeeper's zkCli); members and a leader are put there with that tool too. The lag
# figures come from offsets committed by kafka-python on a topic of the real cluster.
set -euo pipefail
BACKEND=${1:-}
T_NAME=coord_cli_$BACKEND
. "$(dirname "$0")/lib.sh"

need_real_kafka
PREFIX="/ferry-it/$T_ID"
ZKCLI=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
case $BACKEND in
etcd)
  URL="etcd://$FERRY_ETCD_ENDPOINTS$PREFIX"
  DOWN_URL="etcd://127.0.0.1:1/x"
  ectl() { ETCDCTL_API=3 etcdctl --endpoints "$FERRY_ETCD_ENDPOINTS" "$@"; }
  # raw_get KEY: the value as the backend holds it, followed by a newline
  raw_get() { ectl get "$PREFIX/$1" --print-value-only; }
  ;;
zookeeper)
  URL="zk://$FERRY_ZK_HOSTS$PREFIX"
  DOWN_URL="zk://127.0.0.1:1/x"
  # zkcli COMMAND…: one zkCli session running each argument as a command
  zkcli() { printf '%s\n' "$@" quit | timeout 60 "$ZKCLI" -server "$FERRY_ZK_HOSTS" 2>&1; }
  # zkCli prints its connection banner, then the node's data and a newline
  raw_get() {
    timeout 60 "$ZKCLI" -server "$FERRY_ZK_HOSTS" get "$PREFIX/$1" 2>/dev/null |
      sed '1,/^WatchedEvent state:SyncConnected/d'
  }
  ;;
*) fail "usage: coord_cli.sh etcd|zookeeper" ;;
esac
TOPIC="coord-cli-$T_ID"
GROUP="$T_ID"
ferry() { "$FERRY_BIN" "$@"; }

# --- usage and reachability ----------------------------------------------------------------
ferry config -h | grep -q 'ferry config push -c FILE' || fail "config -h"
ferry status -h | grep -q 'ferry status' || fail "status -h"
rc=0; ferry config get 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "config get without --coord or -c: exit $rc, want 2"
rc=0; ferry config frob --coord "$URL" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "config frob: exit $rc, want 2"
rc=0; ferry status --coord "not-a-url" 2>"$T_DIR/err.txt" || rc=$?
[ "$rc" = 2 ] && grep -q 'etcd:// or zk://' "$T_DIR/err.txt" || fail "a bad URL: exit $rc"
rc=0; ferry config get --coord "$DOWN_URL" 2>"$T_DIR/err.txt" || rc=$?
[ "$rc" = 1 ] && [ -s "$T_DIR/err.txt" ] || fail "unreachable service: exit $rc, want 1"
ok "usage errors exit 2, an unreachable service exits 1 ($(tail -1 "$T_DIR/err.txt"))"

# --- nothing stored yet ------------------------------------------------------------------------
rc=0; ferry config get --coord "$URL" >"$T_DIR/out.txt" 2>"$T_DIR/err.txt" || rc=$?
[ "$rc" = 1 ] || fail "get with nothing stored: exit $rc, want 1"
grep -qF "no configuration at $URL/config" "$T_DIR/err.txt" || fail "get: $(cat "$T_DIR/err.txt")"
ferry status --coord "$URL" >"$T_DIR/status0.txt" || fail "status: exit $?"
grep -q '^members: none$' "$T_DIR/status0.txt" || fail "status: no members heading: $(cat "$T_DIR/status0.txt")"
grep -q '^leader: no leader$' "$T_DIR/status0.txt" || fail "status: no 'no leader'"
grep -qF "no configuration at $URL/config" "$T_DIR/status0.txt" || fail "status: no config not said"
ok "nothing stored: get exits 1; status shows no members, no leader, no configuration"

# --- push and get ------------------------------------------------------------------------------
# Comments, blank lines, trailing spaces, UTF-8 and an unexpanded variable: stored as written.
SP="   "
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:2" >/dev/null
cat >"$T_DIR/good.yaml" <<YAML
# ferry for coord_cli — « $T_ID »
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"${SP}

sinks:
  group: $GROUP
  workers:
    - name: events
      type: redis
      topics: [$TOPIC]
      redis: {host: "\${FERRY_IT_REDIS_HOST:-127.0.0.1}", port: 6379}
      commands: [[INCR, "$T_ID:n"]]
    - name: counts
      type: redis
      topics: [$TOPIC]
      redis: {host: 127.0.0.1, port: 6379}
      commands: [[INCR, "$T_ID:m"]]
YAML
ferry config push -c "$T_DIR/good.yaml" --coord "$URL" >"$T_DIR/push1.txt" || fail "push: exit $?"
V1=$(sed -n "s|^pushed $T_DIR/good.yaml to $URL/config (version \([0-9]*\))\$|\1|p" "$T_DIR/push1.txt")
[ -n "$V1" ] && [ "$V1" -gt 0 ] || fail "push said: $(cat "$T_DIR/push1.txt")"
ferry config get --coord "$URL" >"$T_DIR/got1.yaml" || fail "get: exit $?"
cmp "$T_DIR/good.yaml" "$T_DIR/got1.yaml" || fail "get differs from the pushed file"
cmp <(raw_get config) <(cat "$T_DIR/good.yaml"; echo) || fail "$BACKEND holds other bytes than the file"
ok "push stores the file verbatim (version $V1): ferry config get and $BACKEND's own client agree"

# --- a broken file is refused and nothing changes ----------------------------------------------
B="$T_DIR/bad.yaml"
cat >"$B" <<'YAML'
kafka: {brokers: "127.0.0.1:9092"}
sinks:
  group: [not, a, string]
  colour: blue
YAML
rc=0; ferry config push -c "$B" --coord "$URL" >"$T_DIR/out.txt" 2>"$T_DIR/err.txt" || rc=$?
[ "$rc" = 2 ] || fail "push of a broken file: exit $rc, want 2"
grep -qF "$B:3:10: sinks.group: expected a string" "$T_DIR/err.txt" || fail "no diagnostic for the type: $(cat "$T_DIR/err.txt")"
grep -qF "$B:4:3: sinks: unknown key 'colour'" "$T_DIR/err.txt" || fail "no diagnostic for the unknown key: $(cat "$T_DIR/err.txt")"
[ ! -s "$T_DIR/out.txt" ] || fail "push of a broken file printed: $(cat "$T_DIR/out.txt")"
ferry config get --coord "$URL" | cmp - "$T_DIR/good.yaml" || fail "the stored document changed"
cmp <(raw_get config) <(cat "$T_DIR/good.yaml"; echo) || fail "$BACKEND's copy changed"
ok "a broken file: exit 2, every problem as file:line:column, the stored document unchanged"

# --- watch ---------------------------------------------------------------------------------------
start_ferry watch config watch --coord "$URL"
has() { grep -qxF "$1" "$T_DIR/watch.log"; }
wait_for "watch to print version $V1" 10 has "# $URL/config version $V1"
{ cat "$T_DIR/good.yaml"; echo "# second version"; } >"$T_DIR/good2.yaml"
t0=$SECONDS
ferry config push -c "$T_DIR/good2.yaml" --coord "$URL" >"$T_DIR/push2.txt" || fail "push 2"
V2=$(sed -n 's/.*(version \([0-9]*\))$/\1/p' "$T_DIR/push2.txt")
[ "$V2" -gt "$V1" ] || fail "version $V2 after $V1"
wait_for "watch to print version $V2" 5 has "# $URL/config version $V2"
wait_for "watch to print the second document" 2 has "# second version"
echo "watch saw version $V2 within $((SECONDS - t0)) s"
stop_ferry watch
# the output: the first document, then the second, each after its comment line
{ echo "# $URL/config version $V1"; cat "$T_DIR/good.yaml"
  echo "# $URL/config version $V2"; cat "$T_DIR/good2.yaml"; } >"$T_DIR/watch.want"
diff "$T_DIR/watch.want" "$T_DIR/watch.log" >"$T_DIR/watch.diff" || fail "watch output: $(head -20 "$T_DIR/watch.diff")"
ok "watch prints the document, then the next version as soon as it is pushed; exits 0 on SIGTERM"

# --- members and leader, put there with the backend's own client --------------------------------
M1='{"id":"sink-hosta-42","role":"sink","host":"hosta","pid":42,"version":"0.1.0","started":"2026-11-25T23:40:00.000Z","http":null,"workers":["events","counts"]}'
M2='{"id":"agent-hostb-7","role":"agent","sources":["web"]}'
case $BACKEND in
etcd)
  ectl put "$PREFIX/members/sink-hosta-42" "$M1" >/dev/null
  ectl put "$PREFIX/members/agent-hostb-7" "$M2" >/dev/null
  ectl put "$PREFIX/leader/candidate-1" "sink-hosta-42" >/dev/null
  FENCE=$(ectl get "$PREFIX/leader/candidate-1" -w json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["create_revision"])')
  ;;
zookeeper)
  zkcli "create $PREFIX/members" "create $PREFIX/members/sink-hosta-42 $M1" \
    "create $PREFIX/members/agent-hostb-7 $M2" "create $PREFIX/leader" \
    "create -s $PREFIX/leader/n_test_ sink-hosta-42" >"$T_DIR/zkcli.txt"
  FENCE=$(sed -n "s|^Created $PREFIX/leader/n_test_0*\([0-9]\)|\1|p" "$T_DIR/zkcli.txt")
  ;;
esac
[ -n "$FENCE" ] || fail "the leader candidate was not created"
ferry status --coord "$URL" >"$T_DIR/status1.txt" || fail "status: exit $?"
grep -q '^members: 2$' "$T_DIR/status1.txt" || fail "members: $(cat "$T_DIR/status1.txt")"
row() { awk -v id="$1" '$1 == id { $1 = $1; print }' "$T_DIR/status1.txt"; }
[ "$(row sink-hosta-42)" = "sink-hosta-42 sink hosta 42 0.1.0 2026-11-25T23:40:00.000Z - events,counts" ] ||
  fail "member row: '$(row sink-hosta-42)'"
[ "$(row agent-hostb-7)" = "agent-hostb-7 agent - - - - web -" ] || fail "member row: '$(row agent-hostb-7)'"
[ "$(grep -n '^  agent-hostb-7 ' "$T_DIR/status1.txt" | cut -d: -f1)" -lt \
  "$(grep -n '^  sink-hosta-42 ' "$T_DIR/status1.txt" | cut -d: -f1)" ] || fail "members not sorted"
grep -qx "leader: sink-hosta-42 (fence token $FENCE)" "$T_DIR/status1.txt" ||
  fail "leader line: $(grep leader "$T_DIR/status1.txt")"
ok "status lists the members sorted (missing fields as -) and the leader with token $FENCE"

# --- lag -----------------------------------------------------------------------------------------
seq 1 100 | kcat -P -b "$FERRY_REAL_KAFKA_BOOTSTRAP" -t "$TOPIC" -p 0 -X acks=all || fail "kcat p0"
seq 1 40 | kcat -P -b "$FERRY_REAL_KAFKA_BOOTSTRAP" -t "$TOPIC" -p 1 -X acks=all || fail "kcat p1"
commit() { # commit GROUP PARTITION=OFFSET…
  /usr/bin/python3 - "$FERRY_REAL_KAFKA_BOOTSTRAP" "$TOPIC" "$@" <<'PY'
import sys
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
bootstrap, topic, group = sys.argv[1:4]
c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group, enable_auto_commit=False)
offsets = {}
for a in sys.argv[4:]:
    p, o = a.split("=")
    offsets[TopicPartition(topic, int(p))] = OffsetAndMetadata(int(o), "")
c.commit(offsets)
c.close()
PY
}
commit "$GROUP.events" 0=30 || fail "commit for events"
commit "$GROUP.counts" 0=100 1=10 || fail "commit for counts"
# lag rows: "worker topic partition committed end lag"
lag_rows() {
  awk -v t="$TOPIC" '$2 == t || $2 == "(total)" { print $1, $2 == t ? "T" : $2, $3, $4, $5, $6 }' "$1"
}
cat >"$T_DIR/lag.want" <<WANT
events T 0 30 100 70
events T 1 - 40 40
events (total) - - - 110
counts T 0 100 100 0
counts T 1 10 40 30
counts (total) - - - 30
WANT
ferry status -c "$T_DIR/good.yaml" --coord "$URL" >"$T_DIR/status2.txt" || fail "status -c: exit $?"
diff "$T_DIR/lag.want" <(lag_rows "$T_DIR/status2.txt") || fail "lag (from -c): $(cat "$T_DIR/status2.txt")"
grep -q '^  worker  *topic  *partition  *committed  *end  *lag$' "$T_DIR/status2.txt" || fail "lag header"
# without -c, the workers come from the stored document (version 2: the same workers)
ferry status --coord "$URL" >"$T_DIR/status3.txt" || fail "status: exit $?"
diff "$T_DIR/lag.want" <(lag_rows "$T_DIR/status3.txt") || fail "lag (stored config): $(cat "$T_DIR/status3.txt")"
cat "$T_DIR/status2.txt"
ok "status: per-partition committed, end and lag of each worker's group, and the totals"

# an embedded cluster cannot be asked from outside
sed "s|brokers: .*|brokers: embedded|" "$T_DIR/good.yaml" >"$T_DIR/embedded.yaml"
ferry status -c "$T_DIR/embedded.yaml" --coord "$URL" >"$T_DIR/status4.txt" || fail "status: exit $?"
grep -q "embedded" "$T_DIR/status4.txt" || fail "embedded: $(cat "$T_DIR/status4.txt")"
ok "status with kafka.brokers embedded says it cannot be reached"

case $BACKEND in
etcd) ectl del --prefix "$PREFIX/" >/dev/null ;;
zookeeper) zkcli "deleteall $PREFIX" >/dev/null ;;
esac
