#!/usr/bin/env bash
# Poison events: kcat writes good JSON events mixed with lines that are not JSON, JSON with
# invalid UTF-8, and events whose field is too long for its TEXT column, plus an SQL
# injection attempt in a value. A MySQL and a Redis worker read them. Every good event is
# written (the injection stored verbatim), every bad one is in the dead-letter topic,
# unchanged, with headers saying why and where it came from, read back with kcat; and the
# partitions keep flowing past them.
set -euo pipefail
T_NAME=sink_dlq
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
B=$FERRY_REAL_KAFKA_BOOTSTRAP
TOPIC="dlq-in-$T_ID"
DLQ="dlq-$T_ID"
TABLE="dlq_$T_ID"
P="dlq:$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:2" "$DLQ:1" >/dev/null

N=1000
python3 - "$T_DIR/events" "$N" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    for i in range(1, n + 1):
        f.write(json.dumps({"n": i, "name": f"user {i}"}).encode() + b"\n")
        if i % 200 == 0:  # 5 lines that are not JSON
            f.write(b"not json { %d\n" % i)
        if i % 300 == 0:  # 3 values too long for a TEXT column (65,535 bytes)
            f.write(json.dumps({"n": 100000 + i, "name": "x" * 70000}).encode() + b"\n")
        if i % 500 == 0:  # 2 lines with bytes that are not UTF-8 inside a JSON string
            f.write(b'{"n": %d, "name": "caf\xe9"}\n' % (200000 + i))
    f.write(json.dumps({"n": 5000, "name": "x'); DROP TABLE users; --"}).encode() + b"\n")
PY
kcat -P -b "$B" -t "$TOPIC" -l "$T_DIR/events" -X acks=all || fail "kcat failed"

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  consumer: {session.timeout.ms: "6000"}
sinks:
  group: $T_ID
  dead_letter_topic: $DLQ
  workers:
    - name: rows
      type: mysql
      topics: [$TOPIC]
      format: json
      mysql: $(mysql_conn)
      table: $TABLE
      columns: {n: n, name: name}
      batch: {max_rows: 100, max_ms: 50}
    - name: counts
      type: redis
      topics: [$TOPIC]
      format: json
      redis: {host: 127.0.0.1, port: $FERRY_REDIS_PORT}
      batch: {max_rows: 100, max_ms: 50}
      commands:
        - [INCR, "$P:events"]
YAML

rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
good=$((N + 1))
have_all() { [ "$(rows)" -ge "$good" ] && [ "$(rcli GET "$P:events" | sed 's/^$/0/')" -ge $((good + 3)) ]; }
start_ferry sink sink -c "$T_DIR/ferry.yaml"
wait_for "every good event written" 60 have_all
sleep 2
stop_ferry sink

[ "$(rows)" = "$good" ] || fail "rows: want $good, have $(rows)"
[ "$(sql "SELECT COUNT(DISTINCT n) FROM \`$TABLE\` WHERE n BETWEEN 1 AND $N")" = "$N" ] ||
  fail "not every numbered event is a row"
[ "$(sql "SELECT name FROM \`$TABLE\` WHERE n = '5000'")" = "x'); DROP TABLE users; --" ] ||
  fail "the injection attempt was not stored verbatim"
# the Redis worker has no column size limit: the three long values count there
[ "$(rcli GET "$P:events")" = $((good + 3)) ] || fail "redis events: want $((good + 3)), have $(rcli GET "$P:events")"
ok "$good good events written by both workers, the injection stored as it was"

kcat -C -b "$B" -t "$DLQ" -o beginning -e -q -J >"$T_DIR/dlq.json"
python3 - "$T_DIR/dlq.json" "$T_DIR/events" "$TOPIC" >"$T_DIR/dlq.txt" <<'PY' || fail "dead-letter topic: $(cat "$T_DIR/dlq.txt")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8", errors="surrogateescape")]
src = open(sys.argv[2], "rb").read().split(b"\n")
by = {}
for r in recs:
    h = r.get("headers") or {}
    h = dict(zip(h[0::2], h[1::2])) if isinstance(h, list) else h
    assert h.get("ferry.topic") == sys.argv[3], h
    assert int(h["ferry.offset"]) >= 0 and "ferry.error" in h, h
    by.setdefault(h["ferry.worker"], []).append((h["ferry.error"], r["payload"]))
kinds = lambda w: sorted(("json" if "not json" in p else "utf8" if "caf" in p else "long")
                         for _, p in by.get(w, []))
want_rows = sorted(["json"] * 5 + ["long"] * 3 + ["utf8"] * 2)
want_counts = sorted(["json"] * 5 + ["utf8"] * 2)
if kinds("rows") != want_rows or kinds("counts") != want_counts:
    sys.exit("rejects by worker: rows %s, counts %s" % (kinds("rows"), kinds("counts")))
for err, p in by["rows"]:
    if "not json" in p:
        assert p.encode() in src, "a rejected line is not byte-for-byte the original"
    if len(p) > 60000:
        assert "too long" in err.lower(), err
print("rows", len(by["rows"]), "counts", len(by["counts"]))
PY
echo "figures: dead-letter records $(cat "$T_DIR/dlq.txt")"
ok "every poison event in the dead-letter topic, unchanged, with its reason and origin"
