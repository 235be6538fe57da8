#!/usr/bin/env bash
# Commands Redis refuses to queue: the worker signs in as an ACL user that may touch keys
# `<prefix>:ok:*` and ferry's offset keys only. Every third event names a key outside that
# (`<prefix>:no:*`): Redis refuses that command when it is queued, which would abort the whole
# transaction. The worker leaves such a command out (logged, counted) and applies the rest:
# every allowed counter is exact, no forbidden key exists, and the partitions keep flowing.
set -euo pipefail
T_NAME=sink_redis_refused
. "$(dirname "$0")/lib.sh"

need_real_kafka
TOPIC="refused-$T_ID"
P="rf:$T_ID"
USER_NAME="u_$T_ID"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:2" >/dev/null
rcli ACL SETUSER "$USER_NAME" on ">pw-$T_ID" "~$P:ok:*" "~ferry:offsets:*" "+@all" >/dev/null

N=3000
awk -v n="$N" -v p="$P" 'BEGIN { for (i = 1; i <= n; i++)
  printf "{\"n\":%d,\"key\":\"%s:%s:k%d\"}\n", i, p, i % 3 == 0 ? "no" : "ok", i % 5 }' \
  >"$T_DIR/events"
kcat -P -b "$B" -t "$TOPIC" -l "$T_DIR/events" -X acks=all || fail "kcat failed"

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$(sinks_section)
    - name: counts
      type: redis
      topics: [$TOPIC]
      format: json
      batch: {max_rows: 250, max_ms: 50}
      redis: {host: $FERRY_REDIS_HOST, port: $FERRY_REDIS_PORT, user: $USER_NAME, password: pw-$T_ID}
      commands:
        - [INCR, "$P:ok:events"]
        - [INCR, "{key}"]
YAML
start_ferry w sink -c "$T_DIR/ferry.yaml"
all_in() { [ "$(rcli GET "$P:ok:events")" = "$N" ]; }
wait_for "$N events counted" 60 all_in
sleep 1 # a doubled batch would land now
stop_ferry w

want=$(awk -F'"' '$6 ~ /:ok:/ { c[$6]++ } END { for (k in c) print k, c[k] }' "$T_DIR/events" | sort)
got=$(for k in $(rcli --scan --pattern "$P:ok:k*"); do echo "$k $(rcli GET "$k")"; done | sort)
[ "$want" = "$got" ] || fail "allowed counters differ: want [$want] got [$got]"
[ -z "$(rcli --scan --pattern "$P:no:*")" ] || fail "a forbidden key exists"
[ "$(rcli GET "$P:ok:events")" = "$N" ] || fail "events counter $(rcli GET "$P:ok:events"), want $N"
grep -q "Redis refused command INCR: NOPERM" "$T_DIR/w.log" || fail "no refusal logged"
refused=$((N / 3))
grep -q "$refused failed in Redis" "$T_DIR/w.log" ||
  fail "the worker did not count $refused refused commands: $(grep 'failed in Redis' "$T_DIR/w.log")"
ok "$N events: every allowed counter exact, $refused refused commands left out and counted"
rcli ACL DELUSER "$USER_NAME" >/dev/null
