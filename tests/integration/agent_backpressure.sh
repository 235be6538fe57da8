#!/usr/bin/env bash
# Backpressure: reading stops when the producer's queue is full, and memory stays bounded by
# that queue, not by the file. Every broker of a private mock cluster goes down (the mock's
# log and kcat confirm it) after a first part of the file was acknowledged; then a file part
# many times the queue's size is written at once. While the brokers stay down, sampled many
# times:
#   - ferry_source_queue_full_total > 0 and the events handed to the producer stay below the
#     lines written (reading stopped), with never more in flight than queue.buffering.max.messages;
#   - the agent's VmRSS stays under the idle VmRSS plus a bound derived from the queue (below);
#   - the checkpoint stays where it was when the brokers went down.
# Then the brokers come back: kcat reads every number exactly where it must be (missing 0).
#
# The bound: librdkafka counts queue.buffering.max.kbytes over the payloads only, so the queue
# may hold QMSG messages of up to 1 KiB of per-message cost each (the message, its three
# provenance headers, the agent's in-flight entry: about 0.5 KiB measured) plus QKB KiB of
# payload; twice that, plus 16 MiB for allocator slack and librdkafka's buffers, is allowed
# (about 21 MiB over the idle figure). With a queue that takes everything, reading the whole
# part held 37 MiB over it (measured), and the first two checks fail as well.
set -euo pipefail
T_NAME=agent_backpressure
. "$(dirname "$0")/lib.sh"

N1=${BACKPRESSURE_FIRST:-2000}   # acknowledged before the outage
N2=${BACKPRESSURE_LINES:-60000}  # written during it, at once
QMSG=${BACKPRESSURE_QUEUE_MESSAGES:-2000}
QKB=${BACKPRESSURE_QUEUE_KBYTES:-512}
SAMPLES=40
N=$((N1 + N2))
TEXT="backpressure line with enough text to make each one about a hundred bytes long ....."
TOPIC="bp-$T_ID"
start_mock "$TOPIC:6"

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$BOOTSTRAP"
  producer: {queue.buffering.max.messages: "$QMSG", queue.buffering.max.kbytes: "$QKB"}
$HTTP_ANY
$(agent_tail "$T_DIR/state" 100 numbered "$T_DIR/numbered.log" "$TOPIC" all)
YAML
CP="$T_DIR/state/numbered.checkpoint.json"
: >"$T_DIR/numbered.log"
start_agent agent
src='source="numbered"'

write_range "$T_DIR/numbered.log" 1 "$N1" "$TEXT"
wait_acked "$CP" "$T_DIR/numbered.log" 60
CP1=$(checkpoint_offset "$CP")
sleep 1 # (let the heap settle after the first part: the idle figure below is the baseline)
RSS0=$(vmrss "$PID_agent")
BOUND=$((RSS0 + 2 * (QKB + QMSG) + 16384))

mock_brokers down
echo "every broker down (checkpoint at $CP1, idle VmRSS ${RSS0} KiB, bound ${BOUND} KiB)"
write_range "$T_DIR/numbered.log" $((N1 + 1)) "$N" "$TEXT"
SIZE=$(stat -c %s "$T_DIR/numbered.log")
wait_at_least "reading to stop for a full queue" 60 1 metric "$ADDR" ferry_source_queue_full_total "$src"

max_rss=0 max_flight=0 moved=0 max_sent=0
for i in $(seq 1 "$SAMPLES"); do
  rss=$(vmrss "$PID_agent")
  [ -n "$rss" ] || fail "the agent exited while the brokers were down"
  cp=$(checkpoint_offset "$CP")
  sent=$(metric "$ADDR" ferry_source_events_sent_total "$src")
  acked=$(metric "$ADDR" ferry_source_events_acked_total "$src")
  [ "$rss" -le "$max_rss" ] || max_rss=$rss
  [ "$sent" -le "$max_sent" ] || max_sent=$sent
  [ $((sent - acked)) -le "$max_flight" ] || max_flight=$((sent - acked))
  [ "$cp" = "$CP1" ] || moved=$((moved + 1))
  sleep 0.25
done
full=$(metric "$ADDR" ferry_source_queue_full_total "$src")
echo "figures: samples=$SAMPLES idle_rss_kib=$RSS0 max_rss_kib=$max_rss bound_kib=$BOUND" \
  "queue_full=$full max_sent=$max_sent of $N max_in_flight=$max_flight (queue $QMSG)" \
  "checkpoint_moves=$moved file_bytes=$SIZE"
[ "$full" -gt 0 ] || fail "ferry_source_queue_full_total is 0"
[ "$max_sent" -lt "$N" ] || fail "every line was handed to the producer: reading did not stop"
[ "$max_flight" -le "$QMSG" ] || fail "$max_flight events in flight, more than the queue's $QMSG"
[ "$max_rss" -le "$BOUND" ] || fail "VmRSS reached $max_rss KiB, above the bound of $BOUND KiB"
[ "$moved" = 0 ] || fail "the checkpoint moved in $moved samples while every broker was down"
ok "brokers down: reading stopped at $max_sent of $N lines, VmRSS at most $max_rss KiB (bound $BOUND), checkpoint still $CP1"

mock_brokers up
wait_acked "$CP" "$T_DIR/numbered.log" 180
stop_ferry agent
read -r records missing doubled first < <(count_numbered "$BOOTSTRAP" "$TOPIC" "$N" "$T_DIR/read.txt")
echo "figures: written=$N received=$records missing=$missing doubled=$doubled"
[ "$first" = 0 ] || fail "the mock dropped the oldest messages (first offsets sum to $first): lower the line count"
[ "$missing" = 0 ] || fail "$missing lines missing after the brokers came back"
# where each line is: the record's ferry.offset header is the byte offset of its line in the
# file, and its text is that line
kcat -C -b "$BOOTSTRAP" -t "$TOPIC" -o beginning -e -q -f '%h\t%s\n' >"$T_DIR/headers.txt"
bad=$(python3 - "$T_DIR/numbered.log" "$T_DIR/headers.txt" <<'PY'
import sys
at, off = {}, 0
for line in open(sys.argv[1], "rb"):
    at[off] = line.rstrip(b"\n")
    off += len(line)
bad = 0
for rec in open(sys.argv[2], "rb"):
    h, _, text = rec.rstrip(b"\n").partition(b"\t")
    hs = dict(kv.split(b"=", 1) for kv in h.split(b",") if b"=" in kv)
    if at.get(int(hs.get(b"ferry.offset", b"-1"))) != text:
        bad += 1
print(bad)
PY
)
[ "$bad" = 0 ] || fail "$bad records whose text is not the line at their ferry.offset"
ok "after the outage every one of $N lines arrived ($doubled doubled)"
