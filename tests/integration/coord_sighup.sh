#!/usr/bin/env bash
# SIGHUP when the configuration comes from etcd (--coord): the process reads the stored
# document again (process/reload.c), never the local file. On the shared stack's etcd, below a
# prefix of this test's own, with the shared Kafka cluster read and written only.
#
# The local file holds a complete configuration with a decoy source besides its coordination
# section: only that section may be used, at the start or at a SIGHUP.
#   1. SIGHUP with the stored document unchanged: a reload the watch can never cause (nothing
#      changed): ferry_config_reloads_total 0 -> 1, nothing restarted (the source's counters
#      go on), the decoy never starts.
#   2. A new document (a second source) stored, and SIGHUP at once: the watch sees the same
#      change, and which of the two applies it first is a race, so the reloads go up by one or
#      two; what must hold is that the new document is in force (the second source's lines
#      arrive) and that the agent restarted once: a second apply of the same version restarts
#      nothing.
#   3. A broken document stored (coord_check --put: `ferry config push` refuses it): the watch
#      refuses it (ferry_config_rejected_total 1); SIGHUP reads it again and refuses it again
#      (2); the reloads stay, and lines of both sources still arrive.
# At the end kcat reads every numbered line of both sources (missing 0) and no decoy line.
set -euo pipefail
T_NAME=coord_sighup
. "$(dirname "$0")/lib.sh"

need_real_kafka
COORD_CHECK=${FERRY_COORD_CHECK:-$(dirname "$FERRY_BIN")/tests/integration/coord_check}
[ -x "$COORD_CHECK" ] || fail "coord_check not found at $COORD_CHECK (set FERRY_COORD_CHECK)"
URL="etcd://$FERRY_ETCD_ENDPOINTS/ferry-sighup/$T_ID"
TOPIC="sighup-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3" >/dev/null
mkdir -p "$T_DIR/state"
: >"$T_DIR/a.log"
: >"$T_DIR/b.log"
: >"$T_DIR/decoy.log"

doc() { # doc SOURCES...: the stored document
  cat <<YAML
kafka: {brokers: "$B"}
http: {listen: "127.0.0.1:0"}
agent:
  state_dir: $T_DIR/state
  checkpoint_ms: 100
  sources:
YAML
  for s in "$@"; do
    echo "    - {name: $s, paths: [$T_DIR/$s.log], topic: $TOPIC, acks: all}"
  done
}
doc a >"$T_DIR/v1.yaml"
doc a b >"$T_DIR/v2.yaml"
printf 'agent:\n  sources: [{name: a, paths: [\n' >"$T_DIR/broken.yaml"
{ echo "coordination: {ttl_ms: 3000}"; doc decoy; } >"$T_DIR/local.yaml"
"$FERRY_BIN" check -c "$T_DIR/local.yaml" >/dev/null || fail "the local file is not valid"
"$FERRY_BIN" config push -c "$T_DIR/v1.yaml" --coord "$URL" >"$T_DIR/push1.out" 2>&1 ||
  fail "config push: $(cat "$T_DIR/push1.out")"

start_ferry agent agent -c "$T_DIR/local.yaml" --coord "$URL"
A=$(http_addr agent)
reloads() { metric "$A" ferry_config_reloads_total; }
rejected() { metric "$A" ferry_config_rejected_total; }
sent() { metric "$A" ferry_source_events_sent_total "source=\"$1\""; }
has_source() { curl -sf "http://$A/metrics" | grep -q "ferry_source_events_sent_total{source=\"$1\"}"; }
write_range "$T_DIR/a.log" 1 1000 "a line"
write_range "$T_DIR/decoy.log" 900001 900100 "decoy line"
wait_acked "$T_DIR/state/a.checkpoint.json" "$T_DIR/a.log" 60
! has_source decoy || fail "the decoy source of the local file runs"
[ "$(reloads)" = 0 ] && [ "$(rejected)" = 0 ] || fail "reloads before any SIGHUP"

# 1. unchanged document
sent0=$(sent a)
kill -HUP "$PID_agent"
wait_at_least "the reload SIGHUP asks for" 30 1 reloads
applied1() { grep -q 'config: version [0-9]* applied: restarted \[\], started \[\], stopped \[\]' "$T_DIR/agent.log"; }
wait_for "the unchanged document applied, nothing restarted" 10 applied1
sent1=$(sent a)
[ "$sent1" -ge "$sent0" ] || fail "source a's counters went from $sent0 to $sent1: it restarted"
! has_source decoy || fail "SIGHUP started the local file's decoy source"
r1=$(reloads)
[ "$r1" = 1 ] || fail "$r1 reloads after one SIGHUP"
ok "SIGHUP, document unchanged: reloaded from $URL/config (reloads 1), nothing restarted, the local file unused"

# 2. a new document, and SIGHUP at once
"$COORD_CHECK" --put "$URL" config "$T_DIR/v2.yaml" >/dev/null
kill -HUP "$PID_agent"
wait_at_least "the new document applied" 30 2 reloads
wait_for "the second source to run" 30 has_source b
write_range "$T_DIR/a.log" 1001 2000 "a line"
write_range "$T_DIR/b.log" 2001 3000 "b line"
wait_acked "$T_DIR/state/b.checkpoint.json" "$T_DIR/b.log" 60
wait_acked "$T_DIR/state/a.checkpoint.json" "$T_DIR/a.log" 60
r2=$(reloads)
restarts=$(grep -c 'config: version [0-9]* applied: restarted \[agent\]' "$T_DIR/agent.log" || true)
[ "$restarts" = 1 ] || fail "the agent restarted $restarts times for one new document"
ok "a new document, SIGHUP: in force (reloads $r2, the agent restarted once), the second source's lines acknowledged"

# 3. a broken document: the watch refuses it, SIGHUP refuses it again
"$COORD_CHECK" --put "$URL" config "$T_DIR/broken.yaml" >/dev/null
wait_at_least "the watch to refuse the broken document" 30 1 rejected
kill -HUP "$PID_agent"
wait_at_least "SIGHUP to refuse the broken document again" 30 2 rejected
j=$(rejected)
[ "$j" = 2 ] || fail "$j refusals, want 2"
[ "$(reloads)" = "$r2" ] || fail "the reloads went from $r2 to $(reloads) with a broken document"
grep -qE "error config: $URL/config:[0-9]+:[0-9]+: " "$T_DIR/agent.log" || fail "no file:line:column for the broken document"
write_range "$T_DIR/a.log" 3001 3500 "a line"
write_range "$T_DIR/b.log" 3501 4000 "b line"
wait_acked "$T_DIR/state/a.checkpoint.json" "$T_DIR/a.log" 60
wait_acked "$T_DIR/state/b.checkpoint.json" "$T_DIR/b.log" 60
ok "a broken document refused by the watch and by SIGHUP (rejected 2); the running one stays"

stop_ferry agent
N=4000
read -r records missing doubled _ < <(count_numbered "$B" "$TOPIC" "$N" "$T_DIR/read.txt")
decoy=$(awk '$3 > 900000' "$T_DIR/read.txt" | wc -l)
echo "figures: reloads=$r2 rejected=$j; written=$N received=$records missing=$missing doubled=$doubled decoy=$decoy"
[ "$missing" = 0 ] || fail "$missing lines missing"
[ "$decoy" = 0 ] || fail "$decoy lines of the local file's decoy source reached Kafka"
ok "every line of both sources arrived; nothing of the local file's decoy"
