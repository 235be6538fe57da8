#!/usr/bin/env bash
# Rotation under a fast writer, on the real 3-node cluster, judged by the Java client.
#
# (a) rename: every 100 ms access.log becomes access.log.N and a new access.log is created,
#     while the writer appends numbered lines in bursts (it goes on writing a few lines to
#     the renamed file before it reopens, as a server does). paths: [dir/access.log*].
#     Every number must arrive exactly once: within one run of the agent, rename rotation
#     never doubles a line.
# (b) copytruncate: every 100 ms the rotator copies access.log to access.log.N and truncates
#     access.log, logrotate's copytruncate, while the writer appends with O_APPEND. Lines
#     written between the copy and the truncation are in no file any more: logrotate itself
#     loses them (the window). Every missing number must be one of those, none may arrive
#     twice, and the figures (written, received, missing, doubled, lost in the window) are
#     printed.
set -euo pipefail
T_NAME=tail_rotation
. "$(dirname "$0")/lib.sh"

need_real_kafka
SECS=${ROTATION_SECONDS:-10}
RATE=${ROTATION_RATE:-40000} # lines a second, written in bursts at full speed

# config DIR TOPIC: an agent configuration following DIR/access.log*.
config() {
  cat <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
$(agent_tail "$1/state" 200 rot "$1/logs/access.log*" "$2" all)
      rotate_wait_ms: 2000
YAML
}

# check TOPIC N OUT: the Java client's figures for numbered lines 1..N, and a dump.
check() {
  java_check "$3" "$FERRY_REAL_KAFKA_BOOTSTRAP" "$1" --expect-lines "$2" \
    --number-regex '^(\d+) rotation line 0*\1 x{32}$' --dump "$3.dump" --timeout-ms 90000
}

# ---- (a) rename rotation -------------------------------------------------------------------
A="$T_DIR/a"
mkdir -p "$A/logs"
TOPIC_A="rotation-rename-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC_A:3:$REPL" >/dev/null
config "$A" "$TOPIC_A" >"$A/ferry.yaml"
start_ferry rename agent -c "$A/ferry.yaml"

/usr/bin/python3 - "$A/logs/access.log" "$SECS" "$RATE" >"$A/writer.txt" <<'PY'
import os, random, sys, time
path, secs, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(7)
def line(n):
    return f"{n} rotation line {n:09d} {'x' * 32}\n".encode()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
n = rot = 0
t0 = time.monotonic()
next_rot = t0 + 0.1
while True:
    now = time.monotonic()
    if now - t0 >= secs:
        break
    if n >= rate * (now - t0):
        time.sleep(0.001)
        continue
    batch = b"".join(line(n + i + 1) for i in range(50))
    n += 50
    os.write(fd, batch)
    if now >= next_rot:
        rot += 1
        os.rename(path, f"{path}.{rot}")
        for _ in range(rnd.randrange(0, 4)):  # still writing to the renamed file
            os.write(fd, b"".join(line(n + i + 1) for i in range(10)))
            n += 10
        os.close(fd)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        next_rot += 0.1
os.close(fd)
print(n, rot)
PY
read -r N_A ROT_A <"$A/writer.txt"
echo "rename: $N_A lines written over ${SECS}s, $ROT_A renames"
wait_quiet "$A/state/rot.checkpoint.json"
stop_ferry rename
check "$TOPIC_A" "$N_A" "$A/check.txt"
echo "rename figures: written=$N_A received=$(get records)" \
  "missing=$(get missing) doubled=$(get doubled)" \
  "unnumbered=$(get unnumbered) rotations=$ROT_A"
[ "$(get missing)" = 0 ] ||
  fail "rename: $(get missing) lines missing: $(get first_missing)"
[ "$(get doubled)" = 0 ] ||
  fail "rename: $(get doubled) lines doubled: $(get first_doubled)"
[ "$(get records)" = "$N_A" ] || fail "rename: records: want $N_A"
[ "$(get unnumbered)" = 0 ] || fail "rename: records that are not whole lines"
ok "rename every 100 ms: $N_A lines, each received once"

# ---- (b) copytruncate ------------------------------------------------------------------------
B="$T_DIR/b"
mkdir -p "$B/logs"
TOPIC_B="rotation-copytruncate-$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC_B:3:$REPL" >/dev/null
config "$B" "$TOPIC_B" >"$B/ferry.yaml"
: >"$B/logs/access.log"
start_ferry copytrunc agent -c "$B/ferry.yaml"

# The writer: whole lines per write(2), O_APPEND, as fast as RATE allows.
/usr/bin/python3 - "$B/logs/access.log" "$SECS" "$RATE" >"$B/writer.txt" <<'PY' &
import os, sys, time
path, secs, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
n = 0
t0 = time.monotonic()
while time.monotonic() - t0 < secs:
    if n >= rate * (time.monotonic() - t0):
        time.sleep(0.001)
        continue
    os.write(fd, b"".join(f"{n + i + 1} rotation line {n + i + 1:09d} {'x' * 32}\n".encode()
                          for i in range(50)))
    n += 50
os.close(fd)
print(n)
PY
writer=$!
# The rotator: copy, then truncate, every 100 ms; it notes the size of each copy and the size
# of the file just before the truncation (the bytes in between are the window).
/usr/bin/python3 - "$B/logs/access.log" "$writer" >"$B/rotator.txt" <<'PY'
import os, shutil, sys, time
path, writer = sys.argv[1], int(sys.argv[2])
i = window = 0
def alive():
    try:
        os.kill(writer, 0)
        return True
    except OSError:
        return False
while alive():
    time.sleep(0.1)
    i += 1
    shutil.copyfile(path, f"{path}.{i}")
    copied = os.stat(f"{path}.{i}").st_size
    before = os.stat(path).st_size
    os.truncate(path, 0)
    window += max(0, before - copied)
print(i, window)
PY
wait "$writer"
read -r N_B <"$B/writer.txt"
read -r ROT_B WINDOW_BYTES <"$B/rotator.txt"

# What logrotate lost, exactly: numbers that are a whole line in no file any more.
/usr/bin/python3 - "$B/logs" "$N_B" >"$B/lost.txt" <<'PY'
import os, re, sys
d, n = sys.argv[1], int(sys.argv[2])
have = bytearray(n + 1)
pat = re.compile(rb"^(\d+) rotation line 0*\1 x{32}$")
for name in os.listdir(d):
    with open(os.path.join(d, name), "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    for l in lines[:-1]:  # the last piece has no newline: not a whole line
        m = pat.match(l)
        if m and int(m.group(1)) <= n:
            have[int(m.group(1))] = 1
print(" ".join(str(i) for i in range(1, n + 1) if not have[i]))
PY
LOST=$(wc -w <"$B/lost.txt")

wait_quiet "$B/state/rot.checkpoint.json"
stop_ferry copytrunc
check "$TOPIC_B" "$N_B" "$B/check.txt"
# Every missing number must be one the rotation destroyed.
read -r MISSING NOT_LOST FIRST_BAD < <(/usr/bin/python3 - "$B/check.txt.dump" "$N_B" \
  "$B/lost.txt" <<'PY'
import re, sys
dump, n, lostf = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lost = set(int(x) for x in open(lostf).read().split())
got = bytearray(n + 1)
pat = re.compile(r"^(\d+) rotation line 0*\1 x{32}$")
for rec in open(dump, encoding="utf-8", errors="replace"):
    value = rec.rstrip("\n").split("\t", 3)[3]
    m = pat.match(value)
    if m and int(m.group(1)) <= n:
        got[int(m.group(1))] = 1
missing = [i for i in range(1, n + 1) if not got[i]]
bad = [i for i in missing if i not in lost]
print(len(missing), len(bad), bad[0] if bad else "-")
PY
)
echo "copytruncate figures: written=$N_B received=$(get records)" \
  "missing=$(get missing) doubled=$(get doubled)" \
  "rotations=$ROT_B window_bytes=$WINDOW_BYTES lost_in_window=$LOST" \
  "missing_not_lost_by_rotation=$NOT_LOST"
grep -E "copies found|copy of the truncated" "$T_DIR/copytrunc.log" | tail -n 2 || true
[ "$MISSING" = "$(get missing)" ] || fail "the dump and the checker disagree"
[ "$NOT_LOST" = 0 ] || fail "copytruncate: $NOT_LOST missing lines were in a file (first $FIRST_BAD)"
[ "$MISSING" -le "$LOST" ] || fail "copytruncate: $MISSING missing, more than the $LOST lost"
[ "$(get unnumbered)" = 0 ] || fail "copytruncate: records that are not whole lines"
# A copy is read on from where its original left off, never again from its start.
[ "$(get doubled)" = 0 ] ||
  fail "copytruncate: $(get doubled) lines doubled: $(get first_doubled)"
ok "copytruncate every 100 ms: $N_B lines, $MISSING missing (the rotation lost $LOST)," \
  "$(get doubled) doubled"
