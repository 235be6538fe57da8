#!/usr/bin/env bash
# The MySQL analytics sink: typed columns, access-log times, upserts, poison values and a
# replay. kcat writes numbered JSON events (ints, floats, booleans, ISO 8601 and epoch times,
# nested JSON, awkward text, a Kafka header), access-log lines from several time zones, and
# keyed "latest state" events; one `ferry sink` writes them into MariaDB (LOAD DATA for the
# insert workers, multi-row upserts for the other). The mariadb client judges: SQL types,
# sums, exact UTC times, JSON paths, one row per key with its last values. Events whose values
# do not convert are in the dead-letter topic with the column and the reason. Every row's ISO
# 8601 time is compared with the UTC time the generator computed, and every row's `kts` with
# the Kafka record's own timestamp as kcat reads it (-f '%T').
# The replay is real: the consumer groups are deleted (kafka-python) and ferry restarts with
# its MySQL connection going through a relay that closes every connection at first, so the
# sink cannot tell the workers its stored offsets at assignment; they start from Kafka's
# (deleted: the earliest), and once the relay lets connections through every event of every
# partition is offered to the sink again. ferry_worker_events_replayed_total must count each
# of them (per worker: the topic's events), nothing is written or rejected twice, and new
# events still flow.
set -euo pipefail
T_NAME=sink_mysql_typed
. "$(dirname "$0")/lib.sh"

need_real_kafka
TJ="typed-json-$T_ID"
TA="typed-access-$T_ID"
TU="typed-upsert-$T_ID"
DLQ="typed-dlq-$T_ID"
EV="ev_$T_ID"
AC="ac_$T_ID"
LA="la_$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TJ:3" "$TA:2" "$TU:3" "$DLQ:1" >/dev/null

N=3000     # good JSON events
USERS=200  # upsert keys
ROUNDS=5   # events per key
LINES=240  # access-log lines

# Events and the figures they must give, computed here from the same rules (not by ferry).
python3 - "$T_DIR" "$N" "$USERS" "$ROUNDS" "$LINES" <<'PY'
import datetime as dt, json, sys
d, n, users, rounds, lines = sys.argv[1], *map(int, sys.argv[2:])
utc = dt.timezone.utc
oks = ["yes", "no", True, False, 1, 0, "TRUE", "False"]
exp = {"sum_status": 0, "sum_ok": 0, "sum_ratio": 0.0}
at_utc = open(f"{d}/at.want", "w")  # n, the event's `at` in UTC as DATETIME(3) prints it
with open(f"{d}/json.txt", "w") as f:
    for i in range(1, n + 1):
        zone = dt.timezone(dt.timedelta(hours=(i % 5) - 2))
        at = dt.datetime(2026, 1, 1, tzinfo=zone) + dt.timedelta(seconds=i * 37, milliseconds=i % 1000)
        status = 200 + (i % 4) * 100
        ok = oks[i % len(oks)]
        e = {"n": i, "status": str(status) if i % 2 else status, "ratio": i / 8, "ok": ok,
             "at": at.isoformat(timespec="milliseconds"), "t": 1700000000 + i + (0.5 if i % 2 else 0),
             "doc": {"i": i, "tags": ["a", i]}, "name": f"n{i}\ttab\nnl\\bs'q\"é€😀"}
        if i % 3 == 0:
            e["group"] = f"g{i % 7}"
        f.write(f"{i}:" + json.dumps(e, ensure_ascii=False) + "\n")  # keyed: every partition
        exp["sum_status"] += status
        exp["sum_ok"] += 1 if str(ok).lower() in ("yes", "true", "1") else 0
        exp["sum_ratio"] += i / 8
        at_utc.write(f'{i}\t{at.astimezone(utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}\n')
        if i == 1234:
            exp["name_1234"] = e["name"].encode().hex().upper()
    # poison: each names its column and why
    for p in [{"n": n + 1, "status": "abc"}, {"n": n + 2, "at": "2023-02-29T00:00:00Z"},
              {"status": 1}, {"n": n + 4, "ok": "maybe"}]:
        f.write("poison:" + json.dumps(p) + "\n")
with open(f"{d}/access.log", "w") as f:
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    for i in range(1, lines + 1):
        off = dt.timedelta(minutes=[-420, -300, 0, 60, 330, 545][i % 6])
        local = dt.datetime(2024, 2, 28, 22, 0, 0, tzinfo=dt.timezone(off)) + dt.timedelta(minutes=7 * i)
        sign = "+" if off >= dt.timedelta(0) else "-"
        mins = abs(int(off.total_seconds())) // 60
        ts = f"{local.day:02d}/{months[local.month - 1]}/{local.year}:{local:%H:%M:%S} {sign}{mins // 60:02d}{mins % 60:02d}"
        size = "-" if i % 4 == 0 else str(i)
        f.write(f'{i}:10.1.0.{i % 9} - - [{ts}] "GET /p?i={i} HTTP/1.1" 200 {size} "-" "t"\n')
        exp[f"ac_{i}"] = local.astimezone(utc).strftime("%Y-%m-%d %H:%M:%S.000")
with open(f"{d}/upsert.txt", "w") as f:
    for r in range(1, rounds + 1):
        for u in range(1, users + 1):
            f.write(f'{u}:{{"user": {u}, "version": {r}, "name": "u{u}-r{r}"}}\n')
with open(f"{d}/expect.txt", "w") as f:
    for k, v in exp.items():
        f.write(f"{k}={v}\n")
PY
expect() { sed -n "s/^$1=//p" "$T_DIR/expect.txt"; }

kcat -P -b "$B" -t "$TJ" -K : -l "$T_DIR/json.txt" -H trace=run-1 -X acks=all || fail "kcat json"
kcat -P -b "$B" -t "$TA" -K : -l "$T_DIR/access.log" -X acks=all || fail "kcat access"
kcat -P -b "$B" -t "$TU" -K : -l "$T_DIR/upsert.txt" -X acks=all || fail "kcat upsert"

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$(sinks_section "$DLQ")
$(mysql_worker typed "$TJ" json "$EV")
      columns:
        n: {type: int, null: false}
        status: {type: int}
        ratio: {type: float}
        ok: {type: bool}
        at: {type: datetime}
        epoch: {field: t, type: datetime, format: epoch_s}
        doc: {type: json}
        name: {type: string}
        grp: {field: group, default: none, length: 16}
        trace: {field: header.trace}
        kts: {field: kafka_timestamp, type: datetime}
      batch: {max_rows: 700, max_ms: 100}
$(mysql_worker access "$TA" combined "$AC")
      raw: false
      columns:
        at: {field: time, type: datetime, format: clf}
        status: {type: int}
        bytes: {type: int, default: "0"}
        url: url
$(mysql_worker latest "$TU" json "$LA")
      mode: upsert
      key: [user]
      columns:
        user: {type: int}
        version: {type: int}
        name: {type: string, length: 32}
      batch: {max_rows: 150, max_ms: 100}
YAML
"$FERRY_BIN" check -c "$T_DIR/ferry.yaml" >/dev/null || fail "ferry check: $("$FERRY_BIN" check -c "$T_DIR/ferry.yaml" 2>&1)"

count() { sql "SELECT COUNT(*) FROM \`$1\`" 2>/dev/null || echo 0; }
dlq_count() { kcat -C -b "$B" -t "$DLQ" -o beginning -e -q 2>/dev/null | wc -l; }
all_in() {
  [ "$(count "$EV")" -ge "$N" ] && [ "$(count "$AC")" -ge "$LINES" ] &&
    [ "$(sql "SELECT COUNT(*) FROM \`$LA\` WHERE version = $ROUNDS" 2>/dev/null || echo 0)" -ge "$USERS" ] &&
    [ "$(dlq_count)" -ge 4 ]
}
start_ferry sink sink -c "$T_DIR/ferry.yaml"
wait_for "every event written" 90 all_in
sleep 1
stop_ferry sink

# ---- types and values -------------------------------------------------------------------
types=$(sql "SELECT GROUP_CONCAT(COLUMN_NAME, ':', COLUMN_TYPE, ':', IS_NULLABLE ORDER BY ORDINAL_POSITION)
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '$EV'")
want="kafka_topic:varchar(249):NO,kafka_partition:int(11):NO,kafka_offset:bigint(20):NO,kafka_ts:datetime(3):YES,received_at:datetime(3):NO,raw:mediumtext:NO,n:bigint(20):NO,status:bigint(20):YES,ratio:double:YES,ok:tinyint(1):YES,at:datetime(3):YES,epoch:datetime(3):YES,doc:longtext:YES,name:text:YES,grp:varchar(16):YES,trace:text:YES,kts:datetime(3):YES"
[ "$types" = "$want" ] || fail "column types: $types"
read -r rows distinct sum_status sum_ok sum_ratio < <(sql "SELECT COUNT(*), COUNT(DISTINCT n), SUM(status), SUM(ok), SUM(ratio) FROM \`$EV\`")
[ "$rows $distinct" = "$N $N" ] || fail "rows: $rows ($distinct distinct), want $N"
[ "$sum_status" = "$(expect sum_status)" ] || fail "SUM(status) $sum_status, want $(expect sum_status)"
[ "$sum_ok" = "$(expect sum_ok)" ] || fail "SUM(ok) $sum_ok, want $(expect sum_ok)"
[ "$sum_ratio" = "$(expect sum_ratio | sed 's/\.0$//')" ] || fail "SUM(ratio) $sum_ratio, want $(expect sum_ratio)"
# every row's ISO 8601 time (five zones) against the UTC time the generator computed
sql "SELECT n, at FROM \`$EV\` ORDER BY n" >"$T_DIR/at.got"
diff "$T_DIR/at.want" "$T_DIR/at.got" >"$T_DIR/at.diff" || fail "ISO 8601 times in UTC differ: $(head -5 "$T_DIR/at.diff")"
[ "$(sql "SELECT HEX(name) FROM \`$EV\` WHERE n = 1234")" = "$(expect name_1234)" ] || fail "name of 1234 is not byte for byte the event's"
bad=$(sql "SET time_zone = '+00:00'; SELECT COUNT(*) FROM \`$EV\` WHERE epoch <> FROM_UNIXTIME(1700000000 + n + IF(n % 2, 0.5, 0))
           OR JSON_EXTRACT(doc, '\$.tags[1]') <> n OR JSON_TYPE(doc) <> 'OBJECT' OR trace <> 'run-1'
           OR grp <> IF(n % 3 = 0, CONCAT('g', n % 7), 'none')")
[ "$bad" = 0 ] || fail "$bad rows with a wrong epoch, doc, trace or grp"
# kts against the record timestamps kcat reads (ms since the epoch), per partition and offset
kcat -C -b "$B" -t "$TJ" -o beginning -e -q -f '%p\t%o\t%T\n' | python3 -c '
import datetime as dt, sys
for l in sys.stdin:
    p, o, t = l.split()
    at = dt.datetime.fromtimestamp(int(t) / 1000, dt.timezone.utc)
    print(f"{p}\t{o}\t{at:%Y-%m-%d %H:%M:%S}.{int(t) % 1000:03d}")' | sort >"$T_DIR/kts.want"
sql "SELECT kafka_partition, kafka_offset, kts FROM \`$EV\`" | sort >"$T_DIR/kts.got"
# kcat also sees the 4 poison records, which have no row
python3 - "$T_DIR/kts.want" "$T_DIR/kts.got" "$N" <<'PY' || fail "kts: $(cat "$T_DIR/kts.diff")"
import sys
rd = lambda f: {(l.split("\t")[0], l.split("\t")[1]): l.rstrip("\n").split("\t")[2] for l in open(f)}
want, got, n = rd(sys.argv[1]), rd(sys.argv[2]), int(sys.argv[3])
bad = [f"{k}: row {v}, record {want.get(k)}" for k, v in sorted(got.items()) if want.get(k) != v]
with open(sys.argv[2].replace(".got", ".diff"), "w") as f:
    f.write(f"{len(got)} rows, {len(want)} records, {len(bad)} differ: {bad[:3]}\n")
sys.exit(0 if len(want) == n + 4 and len(got) == n and not bad else 1)
PY
ok "$N typed rows: BIGINT, DOUBLE, TINYINT(1), DATETIME(3), JSON hold the right values (SUM(status) $sum_status)"

read -r arows adash < <(sql "SELECT COUNT(*), SUM(bytes = 0) FROM \`$AC\`")
[ "$arows" = "$LINES" ] && [ "$adash" = $((LINES / 4)) ] || fail "access rows $arows, bytes '-' as 0: $adash"
sql "SELECT CAST(SUBSTRING_INDEX(url, '=', -1) AS UNSIGNED), at FROM \`$AC\`" | sort -n >"$T_DIR/ac.got"
for i in $(seq 1 "$LINES"); do printf '%s\t%s\n' "$i" "$(expect "ac_$i")"; done >"$T_DIR/ac.want"
diff "$T_DIR/ac.want" "$T_DIR/ac.got" >"$T_DIR/ac.diff" || fail "access-log times in UTC differ: $(head -5 "$T_DIR/ac.diff")"
[ "$(sql "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '$AC' AND COLUMN_NAME = 'raw'")" = 0 ] ||
  fail "raw: false still made a raw column"
ok "$LINES access-log times from six zones stored as the expected UTC DATETIME(3)"

read -r lrows lmin lmax lbad < <(sql "SELECT COUNT(*), MIN(version), MAX(version), SUM(name <> CONCAT('u', user, '-r', version)) FROM \`$LA\`")
[ "$lrows $lmin $lmax $lbad" = "$USERS $ROUNDS $ROUNDS 0" ] ||
  fail "upsert: $lrows rows, versions $lmin..$lmax, $lbad wrong names; want $USERS rows at version $ROUNDS"
[ "$(sql "SELECT GROUP_CONCAT(COLUMN_NAME) FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '$LA' AND CONSTRAINT_NAME = 'PRIMARY'")" = user ] ||
  fail "upsert table's primary key is not (user)"
ok "upsert: $USERS keys, $((USERS * ROUNDS)) events, one row per key with its last values"

# ---- the dead-letter topic --------------------------------------------------------------
kcat -C -b "$B" -t "$DLQ" -o beginning -e -q -J >"$T_DIR/dlq.json"
python3 - "$T_DIR/dlq.json" <<'PY' || fail "dead-letter topic: see above"
import json, sys
want = {
    '{"n": 3001, "status": "abc"}': "column status: 'abc' is not an integer",
    '{"n": 3002, "at": "2023-02-29T00:00:00Z"}':
        "column at: '2023-02-29T00:00:00Z' is not a date and time (ISO 8601 or access-log time)",
    '{"status": 1}': "column n: field 'n' is missing",
    '{"n": 3004, "ok": "maybe"}': "column ok: 'maybe' is not a boolean",
}
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = r.get("headers") or []
    h = dict(zip(h[0::2], h[1::2])) if isinstance(h, list) else h
    got[r["payload"]] = h.get("ferry.error")
if got != want:
    sys.exit("got %r" % got)
PY
ok "4 unconvertible events in the dead-letter topic, each with its column and reason"

# ---- replay: the consumer groups deleted, ferry restarted --------------------------------
before=$(sql "SELECT COUNT(*), MAX(received_at) FROM \`$EV\`")
/usr/bin/python3 - "$B" "$T_ID" <<'PY' || fail "deleting the consumer groups failed"
import sys
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
groups = [f"{sys.argv[2]}.{w}" for w in ("typed", "access", "latest")]
for g, err in a.delete_consumer_groups(groups):
    if err.errno != 0:
        sys.exit(f"{g}: {err}")
PY
# A TCP relay to the stack's MariaDB that closes every connection until $T_DIR/relay.open
# exists: while it is closed the sink cannot read its stored offsets at assignment
python3 - "$FERRY_MYSQL_PORT" "$T_DIR/relay.port" "$T_DIR/relay.open" <<'PY' &
import os, socket, sys, threading
port, port_file, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
open(port_file + ".tmp", "w").write(str(ls.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for x in (a, b):
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = ls.accept()
    if not os.path.exists(flag):
        c.close()
        continue
    u = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
T_PIDS+=($!)
relay_up() { [ -s "$T_DIR/relay.port" ]; }
wait_for "the MySQL relay" 30 relay_up
{
  sed "s/port: $FERRY_MYSQL_PORT,/port: $(cat "$T_DIR/relay.port"),/" "$T_DIR/ferry.yaml"
  echo 'http: {listen: "127.0.0.1:0"}'
} >"$T_DIR/again.yaml"
grep -q "port: $(cat "$T_DIR/relay.port")," "$T_DIR/again.yaml" || fail "again.yaml does not go through the relay"
start_ferry again sink -c "$T_DIR/again.yaml"
ADDR=$(http_addr again)
m() { metric "$ADDR" "$1" "${2:-}"; }
# 3 + 2 + 3 partitions, assigned while the sink cannot be asked: at Kafka's offsets
wait_at_least "every partition assigned" 60 8 m ferry_worker_partitions_assigned_total
at_committed=$(grep -c "assigned .* at the committed offset" "$T_DIR/again.log" || true)
[ "$at_committed" -ge 8 ] || fail "only $at_committed partitions assigned at Kafka's offsets: the sink answered"
wait_at_least "a write that failed behind the closed relay" 60 1 m ferry_worker_write_failures_total
failures_closed=$(m ferry_worker_write_failures_total)
touch "$T_DIR/relay.open"
# every event of each topic is offered again, and skipped
declare -A want_replay=([typed]=$((N + 4)) [access]=$LINES [latest]=$((USERS * ROUNDS)))
for w in typed access latest; do
  wait_at_least "$w: every event replayed" 120 "${want_replay[$w]}" m ferry_worker_events_replayed_total "worker=\"$w\""
done
replayed=()
for w in typed access latest; do
  r=$(m ferry_worker_events_replayed_total "worker=\"$w\"")
  [ "$r" = "${want_replay[$w]}" ] || fail "$w: $r events replayed, want ${want_replay[$w]}"
  replayed+=("$w=$r")
done
[ "$(sql "SELECT COUNT(*), MAX(received_at) FROM \`$EV\`")" = "$before" ] || fail "the replay wrote rows"
[ "$(dlq_count)" = 4 ] || fail "the replay rejected events again: $(dlq_count) dead letters"
python3 -c "
import json
for i in range($N + 5, $N + 105):
    print(json.dumps({'n': i, 'status': 200, 'ok': 'yes', 'name': 'late'}))" >"$T_DIR/more.txt"
kcat -P -b "$B" -t "$TJ" -l "$T_DIR/more.txt" -X acks=all || fail "kcat more"
more_in() { [ "$(count "$EV")" -ge $((N + 100)) ]; }
wait_for "the new events" 60 more_in
[ "$(m ferry_worker_events_replayed_total 'worker="typed"')" = $((N + 4)) ] || fail "new events counted as replayed"
echo "figures: replayed ${replayed[*]} write_failures_while_closed=$failures_closed assigned_at_committed=$at_committed"
stop_ferry again
read -r rows distinct < <(sql "SELECT COUNT(*), COUNT(DISTINCT n) FROM \`$EV\`")
[ "$rows $distinct" = "$((N + 100)) $((N + 100))" ] || fail "after the replay: $rows rows, $distinct distinct"
[ "$(sql "SELECT COUNT(*), MAX(received_at) FROM \`$EV\` WHERE n <= $N")" = "$before" ] ||
  fail "rows of the first run changed: $(sql "SELECT COUNT(*), MAX(received_at) FROM \`$EV\` WHERE n <= $N"), was $before"
[ "$(count "$AC")" = "$LINES" ] && [ "$(count "$LA")" = "$USERS" ] || fail "replay doubled access or upsert rows"
[ "$(dlq_count)" = 4 ] || fail "the dead-letter topic has $(dlq_count) records after the replay, want 4"
ok "a real replay (groups deleted, the sink's offsets unread at assignment): every event offered again and skipped, nothing written or rejected twice"
