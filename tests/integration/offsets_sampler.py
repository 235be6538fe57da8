#!/usr/bin/python3
"""Samples, again and again, each consumer group's committed offsets in Kafka (kafka-python) and
then the offsets the sink made durable (ferry_offsets with the mariadb client, the Redis offset
keys with redis-cli), and checks committed <= stored for every partition of every sample.

    offsets_sampler.py CONFIG.json

CONFIG: {"bootstrap", "topic", "partitions", "stop" (a path: sample until it exists),
         "log" (a path: one line per partition and sample), "summary" (a path: JSON written at
         the end), "mysql": {"group", "port", "user", "password", "database"},
         "redis": {"group", "port"}}

Committed is read first, stored after: stored only grows and is durable, so committed(t1) <=
stored(t1) <= stored(t2). A sample whose stored offsets cannot be read (the server is down or
loading) is judged against the next read that succeeds, which is still a bound it must not pass.
Exits 1 if any sample had committed > stored.
"""
import json
import os
import subprocess
import sys
import time

from kafka import KafkaAdminClient


def mysql_stored(c, topic):
    m = c["mysql"]
    q = ("SELECT kafka_partition, next_offset FROM ferry_offsets WHERE consumer_group = '%s' "
         "AND topic = '%s'" % (m["group"], topic))
    try:
        r = subprocess.run(["mariadb", "--no-defaults", "--connect-timeout=2", "-h", "127.0.0.1",
                            "-P", str(m["port"]), "-u", m["user"], "-p" + m["password"],
                            "-D", m["database"], "-N", "-B", "-e", q],
                           capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    out = {}
    for line in r.stdout.splitlines():
        p, o = line.split("\t")
        out[int(p)] = int(o)
    return out


def redis_stored(c, topic, partitions):
    rd = c["redis"]
    keys = ["ferry:offsets:%s:%s:%d" % (rd["group"], topic, p) for p in range(partitions)]
    try:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(rd["port"]), "MGET"] + keys,
                           capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != partitions or any(
            l and not l.lstrip("-").isdigit() for l in lines):
        return None  # down, or LOADING
    return {p: int(l) for p, l in enumerate(lines) if l}


def main():
    c = json.load(open(sys.argv[1]))
    topic, parts = c["topic"], c["partitions"]
    admin = KafkaAdminClient(bootstrap_servers=c["bootstrap"].split(","), request_timeout_ms=10000)
    sinks = {"mysql": lambda: mysql_stored(c, topic), "redis": lambda: redis_stored(c, topic, parts)}
    pending = {k: [] for k in sinks}  # samples of committed offsets waiting for a stored read
    st = {k: {"samples": 0, "judged": 0, "late": 0, "nonzero": 0, "violations": 0,
              "min_margin": None, "first": []} for k in sinks}
    log = open(c["log"], "a", buffering=1)

    def judge(kind, t, committed, stored, late):
        s = st[kind]
        s["judged"] += 1
        s["late"] += late
        for p, off in committed.items():
            have = stored.get(p, -1)
            ok = off <= max(have, 0) if off >= 0 else True
            if off > 0:
                s["nonzero"] += 1
                m = have - off
                s["min_margin"] = m if s["min_margin"] is None else min(s["min_margin"], m)
            log.write("%.3f %s %d committed=%d stored=%d%s %s\n" % (
                t, kind, p, off, have, " (read later)" if late else "", "ok" if ok else "AHEAD"))
            if not ok:
                s["violations"] += 1
                if len(s["first"]) < 5:
                    s["first"].append({"t": t, "partition": p, "committed": off, "stored": have})

    stop = False
    while not stop:
        stop = os.path.exists(c["stop"])  # one last sample after the stop file appears
        t = time.time()
        committed = {}
        for kind in sinks:  # committed first ...
            offs = admin.list_consumer_group_offsets(c[kind]["group"])
            committed[kind] = {tp.partition: om.offset for tp, om in offs.items() if tp.topic == topic}
        for kind, read in sinks.items():  # ... then stored
            st[kind]["samples"] += 1
            pending[kind].append((t, committed[kind]))
            stored = read()
            if stored is None:
                continue
            for i, (ts, com) in enumerate(pending[kind]):
                judge(kind, ts, com, stored, i < len(pending[kind]) - 1)
            pending[kind] = []
        time.sleep(0.15)
    deadline = time.time() + 60
    while any(pending.values()) and time.time() < deadline:
        for kind, read in sinks.items():
            if pending[kind] and (stored := read()) is not None:
                for ts, com in pending[kind]:
                    judge(kind, ts, com, stored, True)
                pending[kind] = []
        time.sleep(0.5)
    for kind in sinks:
        st[kind]["unjudged"] = len(pending[kind])
    json.dump(st, open(c["summary"], "w"))
    sys.exit(1 if any(s["violations"] or s["unjudged"] for s in st.values()) else 0)


if __name__ == "__main__":
    main()
