#!/usr/bin/env bash
# Poison events: kcat writes good JSON events mixed with lines that are not JSON, JSON with
# invalid UTF-8, and events whose field is too long for its TEXT column, plus an SQL
# injection attempt in a value, to both partitions of the topic (kcat -p). kafka-python reads
# the topic back first, so the test knows each bad event's exact partition and offset. A
# MySQL and a Redis worker read them. Every good event is written (the injection stored
# verbatim); every bad one is in the dead-letter topic exactly once per worker that cannot
# write it, read back with kafka-python: the payload byte for byte what was produced, the
# headers ferry.topic, ferry.partition and ferry.offset exactly the origin, ferry.worker the
# worker, and ferry.error naming the failure (not JSON, invalid UTF-8, too long for column
# `name`). The dead-letter records per worker equal ferry_worker_events_dead_lettered_total on
# /metrics; and the partitions keep flowing past them.
set -euo pipefail
T_NAME=sink_dlq
. "$(dirname "$0")/lib.sh"

need_real_kafka
TOPIC="dlq-in-$T_ID"
DLQ="dlq-$T_ID"
TABLE="dlq_$T_ID"
P="dlq:$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:2" "$DLQ:1" >/dev/null

N=1000
# events.0 and events.1: the lines for partitions 0 and 1 (even and odd i); the bad ones
# are unique lines, so that each is found by its bytes
python3 - "$T_DIR/events" "$N" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
out = [open(path + ".0", "wb"), open(path + ".1", "wb")]
nbad = 0
def bad(line):  # the bad lines alternate between the partitions
    global nbad
    out[nbad % 2].write(line)
    nbad += 1
for i in range(1, n + 1):
    out[i % 2].write(json.dumps({"n": i, "name": f"user {i}"}).encode() + b"\n")
    if i % 100 == 0:  # 10 lines that are not JSON
        bad(b"not json { %d\n" % i)
    if i % 150 == 0:  # 6 values too long for a TEXT column (65,535 bytes)
        bad(json.dumps({"n": 100000 + i, "name": "x" * 70000}).encode() + b"\n")
    if i % 250 == 0:  # 4 lines with bytes that are not UTF-8 inside a JSON string
        bad(b'{"n": %d, "name": "caf\xe9"}\n' % (200000 + i))
out[1].write(json.dumps({"n": 5000, "name": "x'); DROP TABLE users; --"}).encode() + b"\n")
PY
for p in 0 1; do
  kcat -P -b "$B" -t "$TOPIC" -p "$p" -l "$T_DIR/events.$p" -X acks=all || fail "kcat failed"
done
# where each event landed, as an independent consumer reads it: partition, offset, bytes
/usr/bin/python3 - "$B" "$TOPIC" "$T_DIR/origin.json" <<'PY' || fail "could not read $TOPIC back"
import json, sys
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1].split(","), enable_auto_commit=False)
tps = [TopicPartition(sys.argv[2], p) for p in (0, 1)]
c.assign(tps)
c.seek_to_beginning(*tps)
end = c.end_offsets(tps)
got = []
while any(c.position(tp) < end[tp] for tp in tps):
    for tp, msgs in c.poll(timeout_ms=2000).items():
        got += [(m.partition, m.offset, m.value.hex()) for m in msgs]
json.dump({"ends": [end[tp] for tp in tps], "records": got}, open(sys.argv[3], "w"))
PY

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$HTTP_ANY
$(sinks_section "$DLQ")
$(mysql_worker rows "$TOPIC" json "$TABLE")
      columns: {n: n, name: name}
      batch: {max_rows: 100, max_ms: 50}
$(redis_worker counts "$TOPIC" "$FERRY_REDIS_PORT")
      batch: {max_rows: 100, max_ms: 50}
      commands:
        - [INCR, "$P:events"]
YAML

rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
good=$((N + 1))
N_NOTJSON=10 N_LONG=6 N_UTF8=4
have_all() { [ "$(rows)" -ge "$good" ] && [ "$(rcli GET "$P:events" | sed 's/^$/0/')" -ge $((good + N_LONG)) ]; }
start_sink sink
wait_for "every good event written" 60 have_all
dl() { wm sink events_dead_lettered "$1"; }
wait_at_least "the rows worker's dead letters" 60 $((N_NOTJSON + N_LONG + N_UTF8)) dl rows
wait_at_least "the counts worker's dead letters" 60 $((N_NOTJSON + N_UTF8)) dl counts
# each worker's committed offsets (its group is GROUP.WORKER) reach the partition ends, as
# the Java checker reads them: the workers went on past every bad event
committed_at_end() {
  java -cp "$FERRY_REAL_KAFKA_LIB/*" "$FERRY_SRC/tests/tools/Check.java" --bootstrap "$B" \
    --topic "$TOPIC" --group "$T_ID.$1" >"$T_DIR/committed.$1" 2>/dev/null || return 1
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["ends"]; c=dict(l.strip().split("=") for l in open(sys.argv[2]) if l.startswith("committed.")); sys.exit(0 if [int(c.get("committed.%d" % p, -1)) for p in (0, 1)] == e else 1)' \
    "$T_DIR/origin.json" "$T_DIR/committed.$1"
}
wait_for "the rows group's offsets committed to the partition ends" 60 committed_at_end rows
wait_for "the counts group's offsets committed to the partition ends" 60 committed_at_end counts
dl_rows=$(dl rows) dl_counts=$(dl counts)
stop_ferry sink

[ "$(rows)" = "$good" ] || fail "rows: want $good, have $(rows)"
[ "$(sql "SELECT COUNT(DISTINCT n) FROM \`$TABLE\` WHERE n BETWEEN 1 AND $N")" = "$N" ] ||
  fail "not every numbered event is a row"
[ "$(sql "SELECT name FROM \`$TABLE\` WHERE n = '5000'")" = "x'); DROP TABLE users; --" ] ||
  fail "the injection attempt was not stored verbatim"
# the Redis worker has no column size limit: the three long values count there
[ "$(rcli GET "$P:events")" = $((good + N_LONG)) ] || fail "redis events: want $((good + N_LONG)), have $(rcli GET "$P:events")"
ok "$good good events written by both workers, the injection stored as it was"

/usr/bin/python3 - "$B" "$DLQ" "$T_DIR/origin.json" "$TOPIC" "$dl_rows" "$dl_counts" >"$T_DIR/dlq.txt" <<'PY' || fail "dead-letter topic: $(cat "$T_DIR/dlq.txt")"
import json, re, sys
from collections import Counter
from kafka import KafkaConsumer, TopicPartition
bs, dlq, origin, topic = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
metric = {"rows": int(sys.argv[5]), "counts": int(sys.argv[6])}
o = json.load(open(origin))
src = {}  # payload bytes -> (partition, offset)
for p, off, hexv in o["records"]:
    v = bytes.fromhex(hexv)
    assert v not in src or v.startswith(b'{"n": '), "a bad line produced twice"
    src[v] = (p, off)
def kind(v):
    if v.startswith(b"not json {"):
        return "json"
    if b"caf\xe9" in v:
        return "utf8"
    if len(v) > 60000:
        return "long"
    return "good"
bad = {v: k for v, k in ((v, kind(v)) for v in src) if k != "good"}
# the failure each reason must name (lower-cased): the JSON parser's complaint at the first
# token, the byte that is not UTF-8, the server's refusal naming the column
reason = {"json": re.compile(r"^json: invalid token near 'not'"),
          "utf8": re.compile(r"^json: .*(utf-?8|decode byte 0xe9)"),
          "long": re.compile(r"^mysql: data too long for column 'name'")}
c = KafkaConsumer(bootstrap_servers=bs.split(","), enable_auto_commit=False)
tp = TopicPartition(dlq, 0)
c.assign([tp])
c.seek_to_beginning(tp)
end = c.end_offsets([tp])[tp]
recs = []
while c.position(tp) < end:
    for msgs in c.poll(timeout_ms=2000).values():
        recs += msgs
errors, seen = [], Counter()
for r in recs:
    h = {k: v for k, v in r.headers}
    w = h.get("ferry.worker", b"").decode()
    where = (h.get("ferry.topic", b"").decode(), int(h.get("ferry.partition", b"-1")),
             int(h.get("ferry.offset", b"-1")))
    k = bad.get(r.value)
    if k is None:
        errors.append(f"{w}: a dead-letter payload that is no bad event produced ({r.value[:40]!r})")
        continue
    want = (topic, *src[r.value])
    if where != want:
        errors.append(f"{w}: origin {where}, the event is at {want}")
    err = h.get("ferry.error", b"").decode("utf-8", "replace").lower()
    if not reason[k].search(err):
        errors.append(f"{w}: {k} event at {want}: reason {err!r}")
    seen[(w, r.value)] += 1
want_w = {"rows": {"json", "utf8", "long"}, "counts": {"json", "utf8"}}
for w, kinds in want_w.items():
    for v, k in bad.items():
        n = seen[(w, v)] if k in kinds else seen.get((w, v), 0)
        if n != (1 if k in kinds else 0):
            errors.append(f"{w}: {k} event at {src[v]} dead-lettered {n} times")
    total = sum(n for (ww, _), n in seen.items() if ww == w)
    if total != metric[w]:
        errors.append(f"{w}: {total} dead-letter records, /metrics says {metric[w]}")
if {w for w, _ in seen} - set(want_w):
    errors.append(f"records of unknown workers: {sorted({w for w, _ in seen} - set(want_w))}")
samples = {}
for r in recs:
    h = dict(r.headers)
    samples.setdefault((h["ferry.worker"].decode(), bad.get(r.value)), h["ferry.error"].decode("utf-8", "replace"))
if set(src[v][0] for v in bad) != {0, 1}:
    errors.append("the bad events are not on both partitions")
for e in errors[:15]:
    print(e)
print("records", len(recs), "by kind", dict(Counter(bad.values())),
      "metric", metric, "partitions", dict(Counter(src[v][0] for v in bad)))
for (w, k), e in sorted(samples.items(), key=str):
    print(f"  reason {w}/{k}: {e}")
sys.exit(1 if errors else 0)
PY
cat "$T_DIR/dlq.txt"
echo "figures: dead-letter $(grep "^records" "$T_DIR/dlq.txt")"
ok "every poison event in the dead-letter topic once per worker, byte for byte, with its exact origin and the reason it failed"
