#!/usr/bin/python3
"""Reads every record of Kafka topics with kafka-python, an independent client, byte for byte.

    kread.py BOOTSTRAP TOPIC...    prints one JSON object per record, in partition and offset
                                   order: {"topic", "partition", "offset", "value" (hex),
                                   "headers": {name: hex}}

As a module: read(bootstrap, topic) -> [(partition, offset, value bytes, {name: bytes})].
"""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def read(bootstrap, topic, timeout_s=60):
    c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      consumer_timeout_ms=1000, request_timeout_ms=30000)
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while not parts:
            parts = c.partitions_for_topic(topic)
            if not parts:
                if time.monotonic() > deadline:
                    raise SystemExit(f"kread: topic {topic}: no metadata")
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out = []
        while any(c.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise SystemExit(f"kread: topic {topic}: not read to its end in time")
            for tp, recs in c.poll(timeout_ms=500).items():
                for r in recs:
                    if r.offset < end[tp]:
                        out.append((tp.partition, r.offset, r.value or b"",
                                    {k: (v or b"") for k, v in (r.headers or [])}))
        out.sort(key=lambda x: (x[0], x[1]))
        return out
    finally:
        c.close()


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    for topic in sys.argv[2:]:
        for p, o, v, h in read(sys.argv[1], topic):
            print(json.dumps({"topic": topic, "partition": p, "offset": o, "value": v.hex(),
                              "headers": {k: x.hex() for k, x in h.items()}}))


if __name__ == "__main__":
    main()
