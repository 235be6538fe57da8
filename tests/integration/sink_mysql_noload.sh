#!/usr/bin/env bash
# An insert worker on a server that does not allow LOAD DATA LOCAL (a private MariaDB started
# with --local-infile=0): the worker's first LOAD DATA is refused, and from then on its rows go
# in by multi-row INSERTs within the same transaction. kcat writes N JSON events whose string
# field holds what LOAD DATA's format would have to escape (tab, newline, CR, backslash, a
# literal \N, multi-byte UTF-8; not NUL: the JSON parser refuses \u0000) and some 50 KB values that cut a statement short of its
# 500 rows. The mariadb client must find exactly N rows, one per event and per (topic,
# partition, offset), the raw column and the string column of each byte for byte what was
# produced (HEX compared with the hex computed here); the server's own counters show one
# LOAD DATA refused and the rows inserted by INSERTs; no write failed (a refusal is not a
# failure to retry).
set -euo pipefail
T_NAME=sink_mysql_noload
. "$(dirname "$0")/lib.sh"

need_real_kafka
N=${NOLOAD_EVENTS:-12000}
TOPIC="noload-$T_ID"
DLQ="noload-dlq-$T_ID"
TABLE="nl_$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3" "$DLQ:1" >/dev/null

private_mariadb --local-infile=0
[ "$(sql "SELECT @@GLOBAL.local_infile")" = 0 ] || fail "the private server allows LOCAL INFILE"
status() { sql "SHOW GLOBAL STATUS LIKE '$1'" | awk '{ print $2 }'; }

# The events, and what each row must hold, computed here (not by ferry): n, HEX(raw), HEX(s).
python3 - "$T_DIR" "$N" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
pieces = ["plain", "tab\there", "back\\slash", "line\nbreak", "cr\rreturn",
          "\\N", "\\t \\n literal", "quote\" and 'single'", "é€日本😀", "ends in \\",
          "", " spaces around ", "100%_like", "\t\n\\\r"]
with open(f"{d}/events.txt", "w") as ev, open(f"{d}/expect.txt", "w") as ex:
    for i in range(1, n + 1):
        s = f"{i}:" + pieces[i % len(pieces)]
        if i % 997 == 0:  # 50 KB (TEXT takes 65,535 bytes): a statement of 500 would pass 4 MiB
            s += ("x" * 99 + "\t") * 500
        line = json.dumps({"n": i, "s": s}, ensure_ascii=False)
        assert "\n" not in line
        ev.write(line + "\n")
        ex.write(f"{i}\t{line.encode().hex().upper()}\t{s.encode().hex().upper()}\n")
PY
kcat -P -b "$B" -t "$TOPIC" -X acks=all <"$T_DIR/events.txt" || fail "kcat failed"
load0=$(status Com_load)

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$(sinks_section "$DLQ")
$(mysql_worker rows "$TOPIC" json "$TABLE" "$MYPORT")
      columns:
        n: {type: int, null: false}
        s: {type: string}
      batch: {max_rows: 2000, max_ms: 100}
$HTTP_ANY
YAML
t0=$SECONDS
start_sink w1
rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
wait_at_least "$N rows" 180 "$N" rows
sleep 2 # a doubled batch would land now
written=$(wm w1 events_written rows)
failures=$(wm w1 write_failures rows)
dead=$(wm w1 events_dead_lettered rows)
stop_ferry w1
took=$((SECONDS - t0))

rows_once "$TABLE" "$N"
offsets_at "$T_ID.rows" "$N"
ok "exactly $N rows, one per event"

sql "SELECT n, HEX(raw), HEX(s) FROM \`$TABLE\` ORDER BY n" >"$T_DIR/actual.txt"
if ! cmp -s "$T_DIR/expect.txt" "$T_DIR/actual.txt"; then
  bad=$(diff <(cut -f1 "$T_DIR/expect.txt") <(cut -f1 "$T_DIR/actual.txt") >/dev/null &&
    paste "$T_DIR/expect.txt" "$T_DIR/actual.txt" | awk -F'\t' '$2 != $5 || $3 != $6 { print $1 }' | head -5)
  fail "rows differ from the events byte for byte (first n: ${bad:-order}); see $T_DIR/actual.txt"
fi
ok "raw and s of every row byte for byte as produced"

loads=$(($(status Com_load) - load0))
inserts=$(status Com_insert) # the worker's multi-row INSERTs, and its ferry_offsets updates
[ "$loads" -ge 1 ] || fail "the worker never tried LOAD DATA (Com_load +$loads): not the path under test"
[ "$loads" -eq 1 ] || fail "LOAD DATA tried $loads times: the refusal is not remembered"
[ "$inserts" -ge $((N / 500)) ] || fail "$inserts INSERTs ran on the server: fewer than $N rows in 500s need"
[ "$failures" -eq 0 ] || fail "$failures writes failed: a refused LOAD DATA must fall back in the same transaction"
[ "$written $dead" = "$N 0" ] || fail "worker counted $written events written, $dead dead-lettered; want $N, 0"
echo "figures: $N events ($((N / 997)) of 50 KB) in ${took}s; LOAD DATA refused $loads time(s);" \
  "INSERT statements $inserts; write failures $failures; written $written"
ok "LOAD DATA LOCAL refused: every row written by INSERTs, once"
