#!/usr/bin/env bash
# What the tail and stdin sources make of awkward inputs, on the real cluster. One agent runs
# one source per case, each into its own topic; the records are read back byte for byte with
# kafka-python (tests/integration/kread.py) and counted with the Java client:
#   many      200 files found at once by one glob: every line, once
#   cut       lines over max_line_bytes (truncate): cut to the limit, counted, the next intact
#   split     the same with long_lines: split: the pieces put together are the line
#   bytes     invalid UTF-8, NUL and CR bytes pass through exactly
#   rewrite   a file truncated to zero and written again: both contents arrive, once
#   dirswap   a file replaced by a directory: a clear log line, the agent goes on, a file
#             written afterwards arrives
#   link      a path that is a symbolic link is followed to its file
#   end       start_at: end: lines there before the first start are skipped, later ones not;
#             after a restart, a file that appeared meanwhile is read from its beginning
#   held      a line without its newline waits for it, and arrives whole
#   flushed   partial_flush_ms ships a line without its newline after waiting
#   multiline a Java stack trace and a Python traceback are one record each; max_lines and
#             flush_ms are honoured
#   stdin     `printf … | ferry agent` ships everything and exits 0
set -euo pipefail
T_NAME=tail_inputs
. "$(dirname "$0")/lib.sh"

need_real_kafka
D=$T_DIR
CASES="many cut split bytes rewrite dirswap link end held flushed multiline stdin"
topics=()
for c in $CASES; do
  parts=1
  [ "$c" = many ] && parts=3
  topics+=("in-$c-$T_ID:$parts:$REPL")
  mkdir -p "$D/$c"
done
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "${topics[@]}" >/dev/null
t() { echo "in-$1-$T_ID"; }
KREAD="$FERRY_SRC/tests/integration/kread.py"

# source NAME [extra YAML lines]: a tail source following $D/NAME/*.log into its topic.
source_yaml() {
  local name=$1
  shift
  printf '    - name: %s\n      paths: [%s]\n      topic: %s\n      rotate_wait_ms: 1000\n' \
    "$name" "$D/$name/*.log" "$(t "$name")"
  for l in "$@"; do printf '      %s\n' "$l"; done
}
{
  cat <<YAML
kafka:
  brokers: "$B"
agent:
  state_dir: $D/state
  checkpoint_ms: 100
  sources:
YAML
  source_yaml many
  source_yaml cut "max_line_bytes: 1024"
  source_yaml split "max_line_bytes: 1024" "long_lines: split"
  source_yaml bytes
  source_yaml rewrite
  source_yaml dirswap
  source_yaml link
  source_yaml end "start_at: end"
  source_yaml held
  source_yaml flushed "partial_flush_ms: 300"
  source_yaml multiline "multiline: {start: '^\\d{4}-\\d\\d-\\d\\d', max_lines: 20, flush_ms: 500}"
} >"$D/ferry.yaml"

# ---- files there before the agent starts ------------------------------------------------------
/usr/bin/python3 - "$D" <<'PY'
import os, sys
d = sys.argv[1]
for f in range(200):  # many: 50 lines in each of 200 files
    with open(f"{d}/many/f{f:03d}.log", "w") as out:
        out.writelines(f"{f * 50 + i + 1} many line\n" for i in range(50))
with open(f"{d}/cut/c.log", "wb") as out:
    out.write(b"1 short\n2 " + b"A" * 5000 + b"\n3 after\n4 " + b"B" * 200000 + b"\n5 after\n")
with open(f"{d}/split/s.log", "wb") as out:
    out.write(bytes(33 + (i * 7) % 90 for i in range(5000)) + b"\nnext\n")
with open(f"{d}/bytes/b.log", "wb") as out:
    out.write(b"1 \xff\xfe\xfd invalid\n2 nul\x00in\x00middle\n3 \xc3\x28 \xe2\x82\n4 \x00\n"
              b"5 cr\r\n6 plain\n")
with open(f"{d}/end/e.log", "w") as out:
    out.writelines(f"old {i}\n" for i in range(100))
os.makedirs(f"{d}/real")
with open(f"{d}/real/target", "w") as out:
    out.writelines(f"{i} linked\n" for i in range(1, 21))
os.symlink(f"{d}/real/target", f"{d}/link/l.log")
PY
end_size=$(stat -c %s "$D/end/e.log")
start_ferry agent agent -c "$D/ferry.yaml"
wait_for "the first scan of end/e.log" 30 grep -q "end/e.log: following from offset $end_size" \
  "$D/agent.log"

# covered FILE: the agent's checkpoint says all of FILE is in Kafka (a sync point, not a check).
covered() {
  /usr/bin/python3 - "$D/state" "$1" <<'PY'
import glob, json, os, sys
st = os.stat(sys.argv[2])
for cp in glob.glob(sys.argv[1] + "/*.checkpoint.json"):
    for e in json.load(open(cp))["files"]:
        if (e["dev"], e["ino"]) == (st.st_dev, st.st_ino) and e["offset"] == st.st_size:
            sys.exit(0)
sys.exit(1)
PY
}

# ---- what happens while it runs ---------------------------------------------------------------
for i in $(seq 1 50); do echo "$i new"; done >>"$D/end/e.log"
for i in $(seq 21 40); do echo "$i linked"; done >>"$D/real/target"

for i in $(seq 1 100); do echo "$i rewrite"; done >>"$D/rewrite/r.log"
wait_for "rewrite/r.log shipped" 30 covered "$D/rewrite/r.log"
truncate -s 0 "$D/rewrite/r.log"
for i in $(seq 101 150); do echo "$i rewrite"; done >>"$D/rewrite/r.log"

for i in $(seq 1 50); do echo "$i dirswap"; done >>"$D/dirswap/d.log"
wait_for "dirswap/d.log shipped" 30 covered "$D/dirswap/d.log"
rm "$D/dirswap/d.log"
mkdir "$D/dirswap/d.log"
wait_for "the log line about the directory" 30 grep -q "dirswap/d.log: a directory" "$D/agent.log"
for i in $(seq 51 100); do echo "$i dirswap"; done >>"$D/dirswap/after.log"

printf '1 held' >>"$D/held/h.log"
printf '1 flushed' >>"$D/flushed/f.log"
cat >>"$D/multiline/m.log" <<'LOG'
2024-05-01 12:00:00,123 ERROR [main] request failed
java.lang.IllegalStateException: boom
	at com.example.Foo.bar(Foo.java:10)
	at com.example.Main.main(Main.java:5)
Caused by: java.io.IOException: disk full
	at com.example.Disk.write(Disk.java:42)
	... 1 more
2024-05-01 12:00:01,000 INFO [main] next
2024-05-01 12:00:02,000 ERROR worker crashed
Traceback (most recent call last):
  File "/app/worker.py", line 10, in <module>
    main()
  File "/app/worker.py", line 6, in main
    raise ValueError("bad input")
ValueError: bad input
LOG
{
  echo "2024-05-01 12:00:04,000 WARN thirty lines"
  for i in $(seq 1 29); do echo "  detail $i"; done
  echo "2024-05-01 12:00:05,000 INFO the last, shipped by flush_ms"
} >>"$D/multiline/m.log"

sleep 2
# The line without its newline has not been shipped; then its newline comes.
n=$(/usr/bin/python3 "$KREAD" "$B" "$(t held)" | wc -l)
[ "$n" = 0 ] || fail "held: a line without its newline was shipped ($n records)"
printf ' together\n2 next\n' >>"$D/held/h.log"

# stdin: a pipe, the last line without a newline; the agent exits 0 once Kafka has it all.
cat >"$D/stdin.yaml" <<YAML
kafka:
  brokers: "$B"
agent:
  state_dir: $D/state-stdin
  sources:
    - name: in
      type: stdin
      topic: $(t stdin)
YAML
rc=0
printf '1 stdin\n2 stdin\n3 stdin' | timeout 60 "$FERRY_BIN" agent -c "$D/stdin.yaml" \
  >"$D/stdin.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "stdin: the agent exited with $rc"

wait_for "everything shipped" 60 covered "$D/held/h.log"
for f in "$D"/many/*.log "$D/dirswap/after.log" "$D/flushed/f.log" "$D/end/e.log" "$D/real/target" \
  "$D/rewrite/r.log" "$D/bytes/b.log" "$D/split/s.log" "$D/cut/c.log"; do
  wait_for "$f shipped" 60 covered "$f"
done
sleep 1 # flush_ms and partial_flush_ms
kill -0 "$PID_agent" || fail "the agent exited"
stop_ferry agent
grep -q "cut: .* 2 long lines cut" "$D/agent.log" || fail "cut: the long lines were not counted"

# start_at: end is for the first start only: after a restart, a file that appeared while the
# agent was stopped is read from its beginning, and the old one resumes at its checkpoint.
for i in $(seq 1 10); do echo "$i while stopped"; done >"$D/end/n.log"
for i in $(seq 51 55); do echo "$i new"; done >>"$D/end/e.log"
start_ferry again agent -c "$D/ferry.yaml"
wait_for "end/n.log shipped" 30 covered "$D/end/n.log"
wait_for "end/e.log shipped" 30 covered "$D/end/e.log"
stop_ferry again

# ---- judging: the Java client counts, kafka-python compares bytes ------------------------------
java_check "$D/many.txt" "$B" "$(t many)" --expect-lines 10000 --number-regex '^(\d+) many line$'
echo "many: files=200 written=10000 received=$(get records) missing=$(get missing)" \
  "doubled=$(get doubled)"
[ "$(get missing)" = 0 ] && [ "$(get doubled)" = 0 ] && [ "$(get records)" = 10000 ] ||
  fail "many: 200 files not shipped exactly once"

/usr/bin/python3 - "$B" "$T_ID" "$D" "$KREAD" <<'PY' || fail "inputs: see above"
import importlib.util, sys
b, tid, d, kread = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("kread", kread)
k = importlib.util.module_from_spec(spec)
spec.loader.exec_module(k)
bad = []
def values(case):
    return [v for _, _, v, _ in k.read(b, f"in-{case}-{tid}")]
def expect(case, want):
    got = values(case)
    if got != want:
        bad.append(case)
        print(f"{case}: want {len(want)} records, got {len(got)}:")
        for i in range(max(len(got), len(want))):
            g = got[i] if i < len(got) else None
            w = want[i] if i < len(want) else None
            if g != w:
                print(f"  record {i}: got {g!r:.120} want {w!r:.120}")
                break
    else:
        print(f"{case}: {len(got)} records as expected")

expect("cut", [b"1 short", (b"2 " + b"A" * 5000)[:1024], b"3 after", (b"4 " + b"B" * 200000)[:1024],
               b"5 after"])
line = bytes(33 + (i * 7) % 90 for i in range(5000))
got = values("split")
if b"".join(got[:-1]) != line or got[-1] != b"next" or any(len(p) > 1024 for p in got):
    bad.append("split")
    print(f"split: {len(got)} pieces do not make the line")
else:
    print(f"split: a 5000-byte line in {len(got) - 1} pieces, put together exactly")
expect("bytes", [b"1 \xff\xfe\xfd invalid", b"2 nul\x00in\x00middle", b"3 \xc3\x28 \xe2\x82",
                 b"4 \x00", b"5 cr\r", b"6 plain"])
expect("rewrite", [f"{i} rewrite".encode() for i in range(1, 151)])
expect("dirswap", [f"{i} dirswap".encode() for i in range(1, 101)])
expect("link", [f"{i} linked".encode() for i in range(1, 41)])
got = values("end")
want = sorted([f"{i} new".encode() for i in range(51, 56)] +
              [f"{i} while stopped".encode() for i in range(1, 11)])
if got[:50] != [f"{i} new".encode() for i in range(1, 51)] or sorted(got[50:]) != want:
    bad.append("end")
    print(f"end: {len(got)} records, not the 50 written after the start, then the 15 written "
          f"while stopped: {got[:3]!r}…")
else:
    print(f"end: {len(got)} records as expected")
expect("held", [b"1 held together", b"2 next"])
expect("flushed", [b"1 flushed"])
java = open(f"{d}/multiline/m.log", "rb").read().split(b"\n")
expect("multiline", [b"\n".join(java[0:7]), java[7], b"\n".join(java[8:15]),
                     b"\n".join(java[15:35]), b"\n".join(java[35:45]), java[45]])
expect("stdin", [b"1 stdin", b"2 stdin", b"3 stdin"])
sys.exit(1 if bad else 0)
PY
ok "inputs: 200 files, long lines, bytes, truncation, a directory, a link, start_at, partial" \
  "lines, multiline, stdin"
