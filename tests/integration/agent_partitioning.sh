#!/usr/bin/env bash
# Partitioning and provenance headers on the real 3-node Kafka cluster. One agent ships six
# sources, each to its own topic; the Java client (Check.java) and kafka-python
# (agent_partitioning.py, with its own murmur2) judge what arrived:
#   keyed      2,300 distinct keys from a JSON field, a regex group, a named group and a fixed
#              string (an empty key, numbers, escapes, multi-byte text, a 600 KB line and a
#              5,000-deep one among them) land where Java's partitioner puts them
#   fallback   lines with no key (not JSON, field absent or null, invalid UTF-8, NUL bytes,
#              no match) land where `fallback` says: one partition, or round robin
#   round robin  60,000 lines dealt over 6 partitions in turn, as the design says (the next
#              available partition after the last one chosen; all are available on a healthy
#              cluster): every partition holds exactly 10,000, and line i+6 follows line i in
#              its partition
#   explicit   1,000 lines all on partition 2 of 4; a partition the topic lacks, or a topic that
#              does not exist, stops `ferry agent` at start with exit code 1 and a clear message
#   headers    ferry.host, ferry.path and ferry.offset on every record, with the right values;
#              none at all with `headers: false`
set -euo pipefail
T_NAME=agent_partitioning
. "$(dirname "$0")/lib.sh"

need_real_kafka
BS=$FERRY_REAL_KAFKA_BOOTSTRAP
HELPER="/usr/bin/python3 $FERRY_SRC/tests/integration/agent_partitioning.py"
declare -A TOPIC=(
  [json]="pt-json-$T_ID" [regex]="pt-regex-$T_ID" [named]="pt-named-$T_ID"
  [static]="pt-static-$T_ID" [rr]="pt-rr-$T_ID" [explicit]="pt-explicit-$T_ID")
declare -A PARTS=([json]=6 [regex]=6 [named]=5 [static]=3 [rr]=6 [explicit]=4)
declare -A LINES=([json]=1100 [regex]=1120 [named]=300 [static]=200 [rr]=60000 [explicit]=1000)
for s in "${!TOPIC[@]}"; do "$STACK" -d "$FERRY_STACK_DIR" kafka topic "${TOPIC[$s]}:${PARTS[$s]}" >/dev/null; done

$HELPER gen "$T_DIR" || fail "generating the lines"
source_yaml() { # source_yaml NAME PARTITIONING [HEADERS]
  printf '    - name: %s\n      paths: [%s]\n      topic: %s\n      partitioning: %s\n' \
    "$1" "$T_DIR/$1.log" "${TOPIC[$1]}" "$2"
  [ -z "${3:-}" ] || printf '      headers: %s\n' "$3"
}
{
  printf 'kafka: {brokers: "%s"}\nagent:\n  state_dir: %s\n  sources:\n' "$BS" "$T_DIR/state"
  source_yaml json '{mode: key, key: {json_field: user_id}, fallback: explicit, partition: 5}' false
  source_yaml regex "{mode: key, key: {regex: 'user=(\\w+)'}, fallback: round_robin}" false
  source_yaml named "{mode: key, key: {regex: 'uid=(?<uid>[^ ]*) ', group: uid}}" false
  source_yaml static '{mode: key, key: {static: tenant-a}}' false
  source_yaml rr '{mode: round_robin}'
  source_yaml explicit '{mode: explicit, partition: 2}'
} >"$T_DIR/ferry.yaml"
"$FERRY_BIN" check -c "$T_DIR/ferry.yaml" >/dev/null || fail "ferry check: $(cat "$T_DIR/ferry.yaml")"

start_ferry agent agent -c "$T_DIR/ferry.yaml"
waits=()
for s in "${!TOPIC[@]}"; do waits+=("${TOPIC[$s]}:${LINES[$s]}"); done
$HELPER wait "$BS" 180 "$PID_agent" "${waits[@]}" || fail "not every line reached Kafka"
kill -0 "$PID_agent" || fail "the agent exited"
stop_ferry agent
grep -q "json: 1000 events keyed, 100 without a key (fallback explicit)" "$T_DIR/agent.log" ||
  fail "the agent's key counters for json: $(grep 'events keyed' "$T_DIR/agent.log")"
grep -q "regex: 1000 events keyed, 120 without a key (fallback round_robin): no match 120" \
  "$T_DIR/agent.log" || fail "the agent's key counters for regex"

# check SOURCE [OPTIONS…]: the Java checker on the source's topic, figures in $T_DIR/SOURCE.java
# (get reads them)
check() {
  local s=$1; shift
  java_check "$T_DIR/$s.java" "$BS" "${TOPIC[$s]}" "$@"
}

# ---- keyed placement, two judges
keys_total=0
for spec in json:explicit:5 regex:round_robin named:default static:default; do
  s=${spec%%:*} fb=${spec#*:}
  $HELPER keys "$BS" "${TOPIC[$s]}" "$T_DIR" "$s" "$fb" --no-headers >"$T_DIR/$s.py" ||
    fail "kafka-python on $s: $(tr '\n' ' ' <"$T_DIR/$s.py")"
  check "$s" --keys
  want_keyed=$(sed -n 's/^expected_keyed=//p' "$T_DIR/$s.py")
  want_keys=$(sed -n 's/^distinct_keys=//p' "$T_DIR/$s.py")
  [ "$(get key_mismatch)" = 0 ] || fail "$s: Java says key_mismatch=$(get key_mismatch): $(get first_key_mismatch)"
  [ "$(get keyed)" = "$want_keyed" ] || fail "$s: Java counts $(get keyed) keyed records, want $want_keyed"
  [ "$(get keys)" = "$want_keys" ] || fail "$s: Java counts $(get keys) distinct keys, want $want_keys"
  [ "$(get records)" = "${LINES[$s]}" ] || fail "$s: $(get records) records, want ${LINES[$s]}"
  ! grep -q '^header' "$T_DIR/$s.java" || fail "$s: headers with 'headers: false'"
  keys_total=$((keys_total + want_keys))
  echo "figures $s: records=$(get records) keyed=$want_keyed keys=$want_keys" \
    "java key_mismatch=0 python $(grep -E '^(wrong_partition|wrong_key|unkeyed_per_partition)=' "$T_DIR/$s.py" | tr '\n' ' ')"
done
grep -q '^unkeyed_per_partition=0,0,0,0,0,100$' "$T_DIR/json.py" || fail "json: fallback explicit"
ok "keyed placement: $keys_total distinct keys where Java and kafka-python put them; fallback lines where fallback says; no headers with headers: false"

# ---- round robin, and headers
check rr --expect-lines 60000 --dump "$T_DIR/rr.tsv"
for f in missing doubled; do [ "$(get $f)" = 0 ] || fail "rr: $f=$(get $f)"; done
counts=()
for p in 0 1 2 3 4 5; do counts+=("$(get "partition.$p")"); done
echo "figures rr: per partition ${counts[*]}"
# The partitioner deals each event to the partition after the last one chosen, and the file
# is read in order, so line i goes to partition (i + c) % 6 and, within a partition, line i+6
# follows line i. Every line is sent once (no retry on a healthy cluster), so the spread is
# 0 and there is no break: a random or sticky partitioner, or one that skips, fails both. Only
# a partition without a leader is skipped, and no leader changes on the shared cluster (no
# test faults it), so no leeway is allowed.
python3 - "$T_DIR/rr.tsv" >"$T_DIR/rr.order" <<'PY' || fail "round robin order: $(cat "$T_DIR/rr.order")"
import sys
per = {}
for line in open(sys.argv[1], encoding="utf-8"):
    p, off, key, value = line.rstrip("\n").split("\t", 3)
    per.setdefault(int(p), []).append(int(value.split(" ", 1)[0]))
sizes = [len(per.get(p, [])) for p in range(6)]
breaks = sum(1 for v in per.values() for a, b in zip(v, v[1:]) if b - a != 6)
backwards = sum(1 for v in per.values() for a, b in zip(v, v[1:]) if b < a)
firsts = sorted(v[0] for v in per.values())
print(f"spread={max(sizes) - min(sizes)} breaks={breaks} backwards={backwards} firsts={firsts}")
sys.exit(0 if max(sizes) - min(sizes) == 0 and breaks == 0 and firsts == list(range(1, 7)) else 1)
PY
echo "figures rr: $(cat "$T_DIR/rr.order")"
for h in ferry.host ferry.path ferry.offset; do
  [ "$(get "header.$h")" = 60000 ] || fail "rr: header.$h=$(get "header.$h"), want 60000"
done
[ "$(get header_sample.ferry.host)" = "$(hostname)" ] || fail "rr: ferry.host $(get header_sample.ferry.host)"
[ "$(get header_sample.ferry.path)" = "$T_DIR/rr.log" ] || fail "rr: ferry.path $(get header_sample.ferry.path)"
$HELPER headers "$BS" "${TOPIC[rr]}" "$T_DIR/rr.log" >"$T_DIR/rr.py" ||
  fail "kafka-python on rr headers: $(tr '\n' ' ' <"$T_DIR/rr.py")"
[ "$(get header_sample.ferry.offset)" = "$(sed -n 's/^sample_offset=//p' "$T_DIR/rr.py")" ] ||
  fail "rr: the two clients disagree on the sample ferry.offset"
ok "round robin: ${counts[*]}; every record carries ferry.host, ferry.path and its line's ferry.offset"

# ---- explicit
check explicit
[ "$(get partition.2)" = 1000 ] && [ "$(get records)" = 1000 ] ||
  fail "explicit: $(grep '^partition' "$T_DIR/explicit.java" | tr '\n' ' ')"
[ "$(get header_sample.ferry.offset)" = 0 ] || fail "explicit: first record's ferry.offset"
$HELPER headers "$BS" "${TOPIC[explicit]}" "$T_DIR/explicit.log" >"$T_DIR/explicit.py" ||
  fail "kafka-python on explicit headers: $(tr '\n' ' ' <"$T_DIR/explicit.py")"
ok "explicit: 1000 records, all on partition 2"

# ---- start-up errors
start_error() { # start_error PARTITIONING TOPIC WANT
  cat >"$T_DIR/bad.yaml" <<YAML
kafka: {brokers: "$BS"}
agent:
  state_dir: $T_DIR/state-bad
  sources:
    - {name: web, paths: [$T_DIR/explicit.log], topic: $2, partitioning: $1}
YAML
  local rc=0
  timeout 60 "$FERRY_BIN" agent -c "$T_DIR/bad.yaml" >"$T_DIR/bad.out" 2>&1 || rc=$?
  [ "$rc" = 1 ] || fail "agent with $1 on $2: exit $rc, want 1"
  grep -qF "$3" "$T_DIR/bad.out" || fail "agent with $1 on $2 says: $(cat "$T_DIR/bad.out")"
}
start_error '{mode: explicit, partition: 7}' "${TOPIC[explicit]}" \
  "ferry: source web: topic ${TOPIC[explicit]} has 4 partitions (0-3): partition 7 does not exist"
start_error '{mode: key, key: {json_field: id}, fallback: explicit, partition: 4}' "${TOPIC[explicit]}" \
  "partition 4 does not exist"
start_error '{mode: round_robin}' "pt-absent-$T_ID" "ferry: source web: topic pt-absent-$T_ID does not exist"
ok "start-up: a missing partition or topic is exit 1 with a clear message"
