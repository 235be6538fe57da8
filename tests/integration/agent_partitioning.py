#!/usr/bin/python3
"""Lines for agent_partitioning.sh, and a second, independent judge of what ferry wrote.

The judge reads topics with kafka-python and computes partitions with its murmur2 (a Python
implementation of the Java client's hash, not librdkafka's). Every expectation comes from the
generator below, which knows what key each line carries because it wrote it.

  agent_partitioning.py gen DIR
      writes DIR/{json,regex,named,static,rr,explicit}.log and DIR/expect.json
  agent_partitioning.py wait BOOTSTRAP SECONDS PID TOPIC:RECORDS...
      waits until every topic holds RECORDS records, as long as process PID lives
  agent_partitioning.py keys BOOTSTRAP TOPIC DIR SOURCE FALLBACK [--no-headers]
      checks each record's key and partition; FALLBACK is explicit:P, round_robin or default
  agent_partitioning.py headers BOOTSTRAP TOPIC FILE
      checks ferry.host, ferry.path and ferry.offset on every record of TOPIC, read from FILE

Figures go to stdout as key=value lines; the exit status is 1 when one is wrong.
"""
import json
import os
import re
import socket
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

NUMBER = re.compile(rb'"n" ?: (\d+)')


def java_partition(key, partitions):
    # Utils.toPositive(Utils.murmur2(key)) % partitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ---------------------------------------------------------------- lines


def json_lines():
    """(n, line, key) for the json_field source; key None: no key can be extracted."""
    out = []
    special = {
        1: (b'{"n": 1, "user_id": ""}', b""),
        2: (b'{"n": 2, "user_id": 12345}', b"12345"),
        3: (b'{"n": 3, "user_id": -0.5e10}', b"-0.5e10"),
        4: (b'{"n": 4, "user_id": 1.50}', b"1.50"),
        5: (rb'{"n": 5, "user_id": "a\"b\\c\u00e9\ud83d\ude00"}', 'a"b\\c\u00e9\U0001F600'.encode()),
        6: ('{"n": 6, "user_id": "Zo\u00eb-\u00fc-\u65e5\u672c"}'.encode(), "Zo\u00eb-\u00fc-\u65e5\u672c".encode()),
        7: (b'{"n": 7, "pad": "' + b"x" * 600000 + b'", "user_id": "huge-7"}', b"huge-7"),
        8: (b'{"n": 8, "deep": ' + b"[" * 5000 + b"]" * 5000 + b', "user_id": "deep-8"}', b"deep-8"),
        9: (b'{"n": 9, "user_id": "a b,c}d{ ]"}', b"a b,c}d{ ]"),
        10: (b'{"n": 10, "inner": {"user_id": "wrong"}, "s": "\\"user_id\\": 1", "user_id": "right-10"}', b"right-10"),
        11: (b'{ "n" : 11 ,\t"user_id"\t:\t"ws-11" }', b"ws-11"),
        12: (b'{"n": 12, "user\\u005fid": "escaped-name-12"}', b"escaped-name-12"),
    }
    for n in range(1, 1001):
        if n in special:
            line, key = special[n]
        else:
            key = ("user-%d-%d" % (n, n * 7919 % 10007)).encode()
            line = b'{"n": %d, "method": "GET", "user_id": "%s", "status": 200}' % (n, key)
        out.append((n, line, key))
    bad = [
        b'plain text "n": %d',
        b'{"n": %d, "other": "x"}',
        b'{"n": %d, "user_id": null}',
        b'{"n": %d, "user_id": true}',
        b'{"n": %d, "user_id": {"a": 1}}',
        b'{"n": %d, "user_id": "\xff\xfe bad utf-8"}',
        b'{"n": %d, "user_id": "a\x00b"}',
        b'\x00{"n": %d, "user_id": "x"}',
        b'{"n": %d, "user_id": "unterminated',
        b'[{"n": %d, "user_id": "in-an-array"}]',
    ]
    for n in range(1001, 1101):
        out.append((n, bad[n % len(bad)] % n, None))
    return out


def regex_lines():
    """`user=(\\w+)`: 1000 keyed lines, 120 without a match."""
    out = []
    for n in range(1, 1001):
        key = ("alice_%d_%d" % (n, n * 31 % 997)).encode()
        tail = b""
        if n == 1:
            key, tail = b"bob_inv", b"\xff\xfe"  # invalid UTF-8 after the key
        elif n == 2:
            key, tail = b"nul_key", b"\x00zero"
        line = b'2026-11-25T12:00:00Z GET /p/%d user=%s%s "n": %d' % (n, key, tail, n)
        out.append((n, line, key))
    for n in range(1001, 1121):
        line = b'GET /health "n": %d' % n if n % 2 else b'GET /login user= "n": %d' % n
        out.append((n, line, None))
    return out


def named_lines():
    """`uid=(?<uid>[^ ]*) ` with group uid: an empty key and multi-byte ones."""
    keys = {1: b"", 2: "\u00e9\u20ac".encode(), 3: "\u65e5\u672c\u8a9e".encode()}
    out = []
    for n in range(1, 301):
        key = keys.get(n, b"id%d" % n)
        out.append((n, b'uid=%s "n": %d' % (key, n), key))
    return out


def static_lines():
    return [(n, b'static line "n": %d' % n, b"tenant-a") for n in range(1, 201)]


def write(path, lines):
    with open(path, "wb") as f:
        for _, line, _ in lines:
            f.write(line + b"\n")


def gen(d):
    expect = {}
    for name, lines in (("json", json_lines()), ("regex", regex_lines()),
                        ("named", named_lines()), ("static", static_lines())):
        write(os.path.join(d, name + ".log"), lines)
        expect[name] = {str(n): (None if k is None else k.hex()) for n, _, k in lines}
    with open(os.path.join(d, "rr.log"), "w") as f:
        for i in range(1, 60001):
            f.write("%d round robin line %s\n" % (i, "r" * (i % 50)))
    with open(os.path.join(d, "explicit.log"), "w") as f:
        for i in range(1, 1001):
            f.write("%d explicit line\n" % i)
    with open(os.path.join(d, "expect.json"), "w") as f:
        json.dump(expect, f)


# ---------------------------------------------------------------- reading


def consumer(bootstrap):
    return KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False,
                         auto_offset_reset="earliest", consumer_timeout_ms=1000,
                         max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)


def partitions(c, topic, timeout=30):
    # a broker's metadata may lag a moment behind a topic just created
    deadline = time.time() + timeout
    while True:
        ps = c.partitions_for_topic(topic)
        if ps:
            return [TopicPartition(topic, p) for p in sorted(ps)]
        if time.time() > deadline:
            sys.exit("kafka-python: no partitions for topic %s after %ss" % (topic, timeout))
        time.sleep(0.5)


def read_all(bootstrap, topic, timeout=120):
    """Every record of topic up to its end offsets at the start, as (partition, key, value,
    headers), in offset order within each partition."""
    c = consumer(bootstrap)
    tps = partitions(c, topic)
    c.assign(tps)
    c.seek_to_beginning(*tps)
    end = c.end_offsets(tps)
    out = []
    deadline = time.time() + timeout
    while any(c.position(tp) < end[tp] for tp in tps):
        if time.time() > deadline:
            sys.exit("kafka-python: timed out reading %s" % topic)
        for tp, msgs in c.poll(timeout_ms=1000).items():
            for m in msgs:
                if m.offset < end[tp]:
                    out.append((m.partition, m.key, m.value, m.headers))
    c.close()
    return out, len(tps)


def wait(bootstrap, seconds, pid, specs):
    c = consumer(bootstrap)
    deadline = time.time() + seconds
    for spec in specs:
        topic, want = spec.rsplit(":", 1)
        tps = partitions(c, topic)
        while True:
            have = sum(c.end_offsets(tps).values())
            if have >= int(want):
                break
            if time.time() > deadline:
                sys.exit("topic %s: %d records after %ss, want %s" % (topic, have, seconds, want))
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                sys.exit("topic %s: %d records, want %s; process %d is gone" % (topic, have, want, pid))
            time.sleep(0.5)
    c.close()


# ---------------------------------------------------------------- judging


def keys(bootstrap, topic, d, source, fallback, no_headers):
    with open(os.path.join(d, "expect.json")) as f:
        expect = json.load(f)[source]
    records, nparts = read_all(bootstrap, topic)
    seen, unkeyed = {}, [0] * nparts
    fig = dict(records=len(records), keyed=0, wrong_key=0, wrong_partition=0, unnumbered=0,
               with_headers=0)
    first = []
    for p, key, value, headers in records:
        m = NUMBER.search(value or b"")
        if not m or m.group(1).decode() not in expect:
            fig["unnumbered"] += 1
            continue
        n = m.group(1).decode()
        seen[n] = seen.get(n, 0) + 1
        want = expect[n]
        want = None if want is None else bytes.fromhex(want)
        fig["with_headers"] += 1 if headers else 0
        if key != want:
            fig["wrong_key"] += 1
            first.append("n=%s key=%r want=%r" % (n, key, want))
            continue
        if key is not None:
            fig["keyed"] += 1
            if p != java_partition(key, nparts):
                fig["wrong_partition"] += 1
                first.append("n=%s key=%r partition=%d want=%d" % (n, key, p, java_partition(key, nparts)))
            continue
        unkeyed[p] += 1
        if fallback.startswith("explicit:") and p != int(fallback.split(":")[1]):
            fig["wrong_partition"] += 1
            first.append("n=%s unkeyed on partition %d, want %s" % (n, p, fallback))
    fig["distinct_keys"] = len({bytes.fromhex(v) for v in expect.values() if v is not None})
    fig["missing"] = sum(1 for n in expect if n not in seen)
    fig["doubled"] = sum(1 for n in seen if seen[n] > 1)
    fig["unkeyed_per_partition"] = ",".join(map(str, unkeyed))
    bad = fig["wrong_key"] or fig["wrong_partition"] or fig["missing"] or fig["doubled"] \
        or fig["unnumbered"] or (no_headers and fig["with_headers"])
    if fallback == "round_robin" and sum(unkeyed):
        spread = max(unkeyed) - min(unkeyed)
        fig["unkeyed_spread"] = spread
        bad = bad or spread > max(2, sum(unkeyed) // nparts // 10)
    fig["expected_keyed"] = sum(1 for v in expect.values() if v is not None)
    bad = bad or fig["keyed"] != fig["expected_keyed"]
    for k, v in fig.items():
        print("%s=%s" % (k, v))
    for line in first[:5]:
        print("first_problem=%s" % line)
    return 1 if bad else 0


def headers(bootstrap, topic, path):
    starts, off = {}, 0
    with open(path, "rb") as f:
        for line in f:
            starts[int(line.split(b" ", 1)[0])] = off
            off += len(line)
    host = socket.gethostname().encode()
    records, _ = read_all(bootstrap, topic)
    fig = dict(records=len(records), host_ok=0, path_ok=0, offset_ok=0, other_headers=0)
    lowest = None
    for p, _, value, hs in records:
        h = dict(hs)
        fig["other_headers"] += len(hs) - len([k for k in h if k.startswith("ferry.")])
        fig["host_ok"] += h.get("ferry.host") == host
        fig["path_ok"] += h.get("ferry.path") == path.encode()
        n = int(value.split(b" ", 1)[0])
        fig["offset_ok"] += h.get("ferry.offset") == str(starts[n]).encode()
        if lowest is None or p < lowest[0]:
            lowest = (p, h.get("ferry.offset", b"").decode())
    fig["sample_offset"] = lowest[1] if lowest else ""
    for k, v in fig.items():
        print("%s=%s" % (k, v))
    n = fig["records"]
    ok = n == len(starts) and fig["host_ok"] == n and fig["path_ok"] == n and \
        fig["offset_ok"] == n and fig["other_headers"] == 0
    return 0 if ok else 1


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "gen" and len(argv) == 3:
        return gen(argv[2]) or 0
    if cmd == "wait" and len(argv) >= 6:
        return wait(argv[2], float(argv[3]), int(argv[4]), argv[5:]) or 0
    if cmd == "keys" and len(argv) in (7, 8):
        return keys(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7:] == ["--no-headers"])
    if cmd == "headers" and len(argv) == 5:
        return headers(argv[2], argv[3], argv[4])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
