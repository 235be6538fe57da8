#!/usr/bin/env bash
# The stdout sink: kcat (an independent producer) writes N numbered events, keyed k0..k6, to
# a 3-partition topic of the real cluster; one `ferry sink` runs two stdout workers: `look`
# prints each event with its partition, offset and key on standard output, `file` appends
# the bare values to a file (`path`). Judged by others than ferry: the numbers each printed
# (none missing, none twice after a clean run), every printed line's partition, offset and
# key against kcat's own view of the topic, and both groups' committed offsets (kafka-python)
# against the partition ends after the sink stopped.
set -euo pipefail
T_NAME=sink_stdout
. "$(dirname "$0")/lib.sh"

need_real_kafka
N=${STDOUT_EVENTS:-20000}
TOPIC="stdout-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3" >/dev/null

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$B"
  consumer: {session.timeout.ms: "6000"}
sinks:
  group: $T_ID
  workers:
    - name: look
      type: stdout
      topics: [$TOPIC]
      batch: {max_rows: 500, max_ms: 50}
      metadata: [partition, offset, key]
    - name: file
      type: stdout
      topics: [$TOPIC]
      path: $T_DIR/file.txt
YAML

seq 1 "$N" | awk '{ printf "k%d:%d\n", $1 % 7, $1 }' |
  kcat -P -b "$B" -t "$TOPIC" -K: -X acks=all || fail "kcat failed"

# the file ends in a line cut short (a sink killed mid-write): it must stay a line of its own
printf 'cut short' >"$T_DIR/file.txt"
# standard output apart from the log (start_ferry puts both in one file)
"$FERRY_BIN" sink -c "$T_DIR/ferry.yaml" >"$T_DIR/out.txt" 2>"$T_DIR/sink.log" </dev/null \
  {T_TURN_FD}>&- {T_SHARE_FD}>&- &
T_PIDS+=($!)
PID_sink=$!
lines() { wc -l <"$1" 2>/dev/null || echo 0; }
wait_at_least "$N lines on standard output" 120 "$N" lines "$T_DIR/out.txt"
wait_at_least "$N lines in the file" 120 $((N + 1)) lines "$T_DIR/file.txt"
sleep 1 # a line printed twice would come now
stop_ferry sink

# ---- the numbers: each of 1..N once ---------------------------------------------------------
# count FILE FIELD: "lines missing doubled" of the numbers 1..N in FIELD (tab-separated)
count() {
  awk -F'\t' -v n="$N" -v f="$2" '{ c[$f]++; r++ }
    END { for (i = 1; i <= n; i++) { if (!(i in c)) m++; else if (c[i] > 1) d++ }
          print r + 0, m + 0, d + 0 }' "$1"
}
read -r got missing doubled <<<"$(count "$T_DIR/out.txt" 4)"
echo "standard output: $got lines, $missing missing, $doubled doubled"
[ "$got" = "$N" ] && [ "$missing" = 0 ] && [ "$doubled" = 0 ] ||
  fail "standard output: $got lines for $N events, $missing missing, $doubled doubled"
[ "$(head -n 1 "$T_DIR/file.txt")" = "cut short" ] ||
  fail "the line cut short was joined to the next: '$(head -n 1 "$T_DIR/file.txt")'"
tail -n +2 "$T_DIR/file.txt" >"$T_DIR/file.body"
read -r got missing doubled <<<"$(count "$T_DIR/file.body" 1)"
echo "file: $got lines, $missing missing, $doubled doubled"
[ "$got" = "$N" ] && [ "$missing" = 0 ] && [ "$doubled" = 0 ] ||
  fail "file: $got lines for $N events, $missing missing, $doubled doubled"

# ---- the metadata columns: kcat's view of the same records ----------------------------------
kcat -C -b "$B" -t "$TOPIC" -o beginning -e -q -f '%p %o %k %s\n' | sort >"$T_DIR/kcat.txt"
tr '\t' ' ' <"$T_DIR/out.txt" | sort >"$T_DIR/printed.txt"
[ "$(lines "$T_DIR/kcat.txt")" = "$N" ] || fail "kcat read $(lines "$T_DIR/kcat.txt") records back"
diff -q "$T_DIR/kcat.txt" "$T_DIR/printed.txt" >/dev/null ||
  fail "partition, offset and key differ from kcat's: $(diff "$T_DIR/kcat.txt" "$T_DIR/printed.txt" | head -5)"
echo "every line's partition, offset and key are kcat's"

# ---- committed offsets: the partition ends --------------------------------------------------
/usr/bin/python3 - "$B" "$TOPIC" "$T_ID.look" "$T_ID.file" >"$T_DIR/offsets.txt" <<'PY' ||
import sys
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
bs, topic, groups = sys.argv[1].split(","), sys.argv[2], sys.argv[3:]
c = KafkaConsumer(bootstrap_servers=bs, enable_auto_commit=False)
tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
ends = c.end_offsets(tps)
c.close()
a = KafkaAdminClient(bootstrap_servers=bs)
bad = 0
for g in groups:
    got = a.list_consumer_group_offsets(g)
    for tp in tps:
        o = got.get(tp)
        committed = o.offset if o else -1
        print("%s partition %d: committed %d, end %d" % (g, tp.partition, committed, ends[tp]))
        bad += committed != ends[tp]
a.close()
sys.exit(1 if bad else 0)
PY
  fail "committed offsets are not the partition ends: $(cat "$T_DIR/offsets.txt")"
cat "$T_DIR/offsets.txt"
ok "stdout sink: $N events printed once each, metadata as kcat reads it, offsets committed to the ends"
