#!/usr/bin/env bash
# Redis, effectively once: kcat (an independent producer) writes N JSON events in ten chunks,
# one a second, to a 4-partition topic of the real cluster; two `ferry sink` processes of one
# consumer group apply four commands per event to a durable Redis (fsynced append-only file).
# Mid-stream one worker is killed with -9 and started again, and later Redis is restarted.
# Every counter must then equal the sums computed from the generation rules: a batch written
# again after the crash, the rebalance or the lost connection applies nothing twice.
set -euo pipefail
T_NAME=sink_redis_once
. "$(dirname "$0")/lib.sh"

[ -n "${FERRY_REAL_KAFKA_BOOTSTRAP:-}" ] || fail "no real Kafka cluster in the stack"
N=${REDIS_EVENTS:-100000}
CHUNK=$((N / 10))
TOPIC="redis-once-$T_ID"
P="once:$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:4" >/dev/null

# A private, durable Redis, restartable on the same port.
export FERRY_REDIS_DURABLE=1
FERRY_REDIS_PORT= "$STACK" -d "$T_DIR/stack" start redis >/dev/null
RPORT=$(cat "$T_DIR/stack/redis/port")
r() { redis-cli -h 127.0.0.1 -p "$RPORT" "$@"; }

cat >"$T_DIR/ferry.yaml" <<YAML
kafka:
  brokers: "$FERRY_REAL_KAFKA_BOOTSTRAP"
  consumer: {session.timeout.ms: "6000"}
sinks:
  group: $T_ID
  workers:
    - name: activity
      type: redis
      topics: [$TOPIC]
      format: json
      batch: {max_rows: 200, max_ms: 50}
      redis: {host: 127.0.0.1, port: $RPORT}
      commands:
        - [INCR, "$P:events"]
        - [INCRBY, "$P:amount", "{amount}"]
        - [HINCRBY, "$P:user", "{user}", "1"]
        - [ZINCRBY, "$P:pages", "1", "{page}"]
YAML

# event i: user u<i%97>, amount i%7+1, page /p<i%13>
gen() { awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++)
  printf "{\"n\":%d,\"user\":\"u%d\",\"amount\":%d,\"page\":\"/p%d\"}\n", i, i % 97, i % 7 + 1, i % 13 }'; }
produce() { # produce CHUNK_NUMBER (1-based)
  gen $((($1 - 1) * CHUNK + 1)) $(($1 * CHUNK)) |
    kcat -P -b "$FERRY_REAL_KAFKA_BOOTSTRAP" -t "$TOPIC" -X acks=all || fail "kcat failed"
}

start_ferry w1 sink -c "$T_DIR/ferry.yaml"
start_ferry w2 sink -c "$T_DIR/ferry.yaml"
for c in 1 2; do produce $c; sleep 1; done
produce 3
sleep 0.3 # batches of chunk 3 are being written now
kill -KILL "$PID_w1"
echo "worker 1 killed with -9 after $(r GET "$P:events") events"
start_ferry w1b sink -c "$T_DIR/ferry.yaml"
for c in 4 5; do produce $c; sleep 1; done
produce 6
sleep 0.3
echo "restarting Redis after $(r GET "$P:events") events"
"$STACK" -d "$T_DIR/stack" stop redis >/dev/null
FERRY_REDIS_PORT=$RPORT "$STACK" -d "$T_DIR/stack" start redis >/dev/null
for c in 7 8 9 10; do produce $c; sleep 1; done

events() { r GET "$P:events" | sed 's/^$/0/'; }
have_all() { [ "$(events)" -ge "$N" ]; }
wait_for "$N events in Redis" 120 have_all
sleep 3 # a doubled batch would land now
stop_ferry w2
stop_ferry w1b

expect() {
  awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) { a += i % 7 + 1; u["u" i % 97]++; p["/p" i % 13]++ }
    print "events", n; print "amount", a
    for (k in u) print "user", k, u[k]; for (k in p) print "page", k, p[k] }' | sort
}
actual() {
  echo "events $(r GET "$P:events")"; echo "amount $(r GET "$P:amount")"
  r HGETALL "$P:user" | paste - - | awk '{ print "user", $1, $2 }'
  r ZRANGE "$P:pages" 0 -1 WITHSCORES | paste - - | awk '{ print "page", $1, $2 }'
}
diff <(expect) <(actual | sort) >"$T_DIR/diff.txt" || fail "Redis differs from the expected sums: $(head -20 "$T_DIR/diff.txt")"
replayed=$(cat "$T_DIR"/*.log | awk '/commands not applied again/ {
  for (i = 1; i < NF; i++) if ($(i + 1) == "commands") s += $i } END { print s + 0 }')
echo "figures: events=$N applied once each; commands skipped as already applied on a retry: $replayed"
ok "kill -9 of a worker and a Redis restart mid-stream: every counter exact"

# The stored offsets: one key per partition, each the offset after the partition's last event.
for p in 0 1 2 3; do
  hw=$(kcat -Q -b "$FERRY_REAL_KAFKA_BOOTSTRAP" -t "$TOPIC:$p:-1" | awk '{ print $NF }')
  got=$(r GET "ferry:offsets:$T_ID.activity:$TOPIC:$p")
  [ "$got" = "$hw" ] || fail "partition $p: stored offset '$got', the partition ends at $hw"
done
ok "every partition's stored offset is its end"

# A template Redis would refuse to queue aborts every transaction: refused at start-up.
refused() { # refused COMMAND-YAML EXPECTED-MESSAGE
  sed "/^      commands:/,\$d" "$T_DIR/ferry.yaml" >"$T_DIR/bad.yaml"
  printf '      commands:\n        - %s\n' "$1" >>"$T_DIR/bad.yaml"
  local out rc=0
  out=$(timeout 30 "$FERRY_BIN" sink -c "$T_DIR/bad.yaml" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "ferry sink ran with the template $1"
  grep -qF "$2" <<<"$out" || fail "template $1: expected '$2' in: $out"
}
refused '[INCR]' 'INCR takes 2 arguments with its name, the template has 1'
refused '[HINCRBY, k, f]' 'HINCRBY takes 4 arguments with its name, the template has 3'
refused '[NOSUCHCMD, k]' 'Redis knows no command NOSUCHCMD'
refused '[MULTI]' 'MULTI cannot be a command template'
ok "templates Redis would not queue are refused when the worker starts"
