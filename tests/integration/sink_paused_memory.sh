#!/usr/bin/env bash
# A paused sink holds bounded memory. A MySQL worker (batches of MAX_ROWS) writes a first chunk
# to its private MariaDB (wait_timeout=3: the server closes the worker's idle connection); the
# server is then stopped with SIGSTOP, so that every connection the worker opens waits out its
# 5 s connect timeout, with its partitions fetching meanwhile; kcat writes a backlog of N events
# of about 1 KB. The worker fails a batch, pauses, resumes, fills its prefetch while it tries to
# connect, fails again: until it failed three times with the backlog there and 50 samples were
# taken. Then SIGCONT, and the worker catches up. All along its VmRSS (from /proc) is sampled
# every 0.2 s and must stay under the bound docs/architecture.md ("Memory bounds") gives: the
# RSS after the first chunk, plus the 64 MiB prefetch (queued.max.messages.kbytes) with the
# ~400 bytes librdkafka keeps per event (90 MiB for events of 1 KB), plus MAX_ROWS events of
# 2 KiB (the event and its row), plus MARGIN_MIB (fetch responses in flight, allocator slack).
# A prefetch that did not stop at its bound would take the backlog, about 300 MiB of events.
# At the end the table holds every event exactly once.
set -euo pipefail
T_NAME=sink_paused_memory
. "$(dirname "$0")/lib.sh"

need_real_kafka
N=${PAUSED_EVENTS:-300000}
FIRST=2000
MAX_ROWS=2000
MARGIN_MIB=32
TOPIC="paused-$T_ID"
DLQ="paused-dlq-$T_ID"
TABLE="pm_$T_ID"
# one replica: the backlog is written once, not three times, on the shared cluster (acks=1)
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3:1" "$DLQ:1" >/dev/null

private_mariadb --wait-timeout=3

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$(sinks_section "$DLQ")
$(mysql_worker rows "$TOPIC" json "$TABLE" "$MYPORT")
$(number_columns)
      batch: {max_rows: $MAX_ROWS, max_ms: 200}
$HTTP_ANY
YAML
# events a..b: {"n": i, "pad": "<1,000 characters>"}
gen() { awk -v a="$1" -v b="$2" 'BEGIN { pad = sprintf("%1000s", ""); gsub(/ /, "x", pad)
  for (i = a; i <= b; i++) printf "{\"n\":%d,\"pad\":\"%s\"}\n", i, pad }'; }
produce() { gen "$1" "$2" | kcat -P -b "$B" -t "$TOPIC" -X acks=1 -X linger.ms=50; }

rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
start_sink w1
failures() { wm w1 write_failures rows; }
produce 1 "$FIRST" || fail "kcat failed"
wait_at_least "the first $FIRST rows" 120 "$FIRST" rows
rss() { vmrss "$PID_w1"; } # KiB
BASE=$(rss)
PREFETCH=$((65536 + 65536 * 400 / 1024)) # KiB: 64 MiB of 1 KB events and 400 bytes each
BOUND=$((BASE + PREFETCH + MAX_ROWS * 2 + MARGIN_MIB * 1024))
echo "RSS after the first chunk: $((BASE / 1024)) MiB; bound $((BOUND / 1024)) MiB"

# the sampler: one VmRSS line (KiB) every 0.2 s into rss.txt, with the phase it belongs to
echo paused >"$T_DIR/phase"
(
  while kill -0 "$PID_w1" 2>/dev/null && [ ! -e "$T_DIR/sampler.stop" ]; do
    echo "$(cat "$T_DIR/phase") $(rss)" >>"$T_DIR/rss.txt"
    sleep 0.2
  done
) &
sampler=$!

idle_closed() { [ "$(sql "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '$FERRY_MYSQL_USER' AND ID <> CONNECTION_ID()")" = 0 ]; }
wait_for "the server to close the worker's idle connection" 60 idle_closed
MYPID=$(cat "$T_DIR/stack/mariadb/pid")
kill -STOP "$MYPID"
resume_mariadb() { kill -CONT "$MYPID" 2>/dev/null || true; }
at_exit resume_mariadb
F0=$(failures)
t0=$SECONDS
produce $((FIRST + 1)) "$N" || fail "kcat failed"
echo "backlog of $((N - FIRST)) events written in $((SECONDS - t0))s; $(($(failures) - F0)) failed writes meanwhile"
# resumes with the whole backlog in the topic: three more failed batches, and samples enough
F1=$(failures)
paused_enough() { [ "$(failures)" -ge $((F1 + 3)) ] && [ "$(grep -c '' "$T_DIR/rss.txt")" -ge 50 ]; }
wait_for "failed writes with the whole backlog there" 120 paused_enough
paused_for=$((SECONDS - t0))
paused_failures=$(($(failures) - F0))
echo catchup >"$T_DIR/phase"
resume_mariadb
t1=$SECONDS
wait_at_least "$N rows" 300 "$N" rows
catchup_s=$((SECONDS - t1))
sleep 2 # a doubled batch would land now
touch "$T_DIR/sampler.stop"
wait "$sampler" || true
written=$(wm w1 events_written rows)
stop_ferry w1

read -r ps pmax cs cmax < <(awk '$1 == "paused" { ps++; if ($2 > pm) pm = $2 }
  $1 == "catchup" { cs++; if ($2 > cm) cm = $2 } END { print ps + 0, pm + 0, cs + 0, cm + 0 }' "$T_DIR/rss.txt")
echo "figures: $N events of 1 KB; paused ${paused_for}s ($paused_failures failed writes), caught up in ${catchup_s}s"
echo "figures: VmRSS after the first chunk $((BASE / 1024)) MiB; paused: max $((pmax / 1024)) MiB over $ps samples;" \
  "catching up: max $((cmax / 1024)) MiB over $cs samples; bound $((BOUND / 1024)) MiB" \
  "(+$((PREFETCH / 1024)) MiB prefetch, +$((MAX_ROWS * 2 / 1024)) MiB batch, +$MARGIN_MIB MiB margin)"
[ "$ps" -ge 50 ] || fail "only $ps samples while paused"
[ "$paused_failures" -ge 3 ] || fail "the worker failed only $paused_failures writes while MariaDB was down"
[ "$pmax" -le "$BOUND" ] || fail "paused: VmRSS reached $((pmax / 1024)) MiB, over the bound of $((BOUND / 1024)) MiB"
[ "$cmax" -le "$BOUND" ] || fail "catching up: VmRSS reached $((cmax / 1024)) MiB, over the bound of $((BOUND / 1024)) MiB"
ok "VmRSS stayed under $((BOUND / 1024)) MiB while paused and while catching up"

rows_once "$TABLE" "$N"
[ "$written" = "$N" ] || fail "the worker counted $written events written, want $N"
ok "every one of the $N events written once"
