#!/usr/bin/env bash
# Every server of the stack answers its own client, and `ferry mock-kafka` is a cluster an
# independent Kafka client (kcat) can read the metadata of.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(sql 'SELECT 40 + 2')" = 42 ] || fail "mariadb does not answer"
ok "mariadb on $FERRY_MYSQL_PORT"
[ "$(rcli PING)" = PONG ] || fail "redis does not answer"
ok "redis on $FERRY_REDIS_PORT"
ETCDCTL_API=3 etcdctl --endpoints "$FERRY_ETCD_ENDPOINTS" put "/smoke/$T_ID" v >/dev/null
[ "$(ETCDCTL_API=3 etcdctl --endpoints "$FERRY_ETCD_ENDPOINTS" get --print-value-only "/smoke/$T_ID")" = v ] ||
  fail "etcd does not store a key"
ok "etcd on $FERRY_ETCD_ENDPOINTS"
zk=$(exec 3<>"/dev/tcp/127.0.0.1/$FERRY_ZK_PORT"; printf srvr >&3; cat <&3)
grep -q "Mode: standalone" <<<"$zk" || fail "zookeeper: $zk"
ok "zookeeper on $FERRY_ZK_PORT"

start_mock "smoke-a:3" "smoke-b:1"
meta=$(kcat -L -b "$BOOTSTRAP" -m 10)
[ "$(grep -c '^  broker ' <<<"$meta")" = 3 ] || fail "mock-kafka: want 3 brokers: $meta"
grep -q 'topic "smoke-a" with 3 partitions' <<<"$meta" || fail "mock-kafka: smoke-a: $meta"
grep -q 'topic "smoke-b" with 1 partitions' <<<"$meta" || fail "mock-kafka: smoke-b: $meta"
ok "mock-kafka: 3 brokers and both topics as kcat sees them"
