#!/usr/bin/env bash
# A zombie writer, fenced: a `ferry sink` process holding a batch is stopped (SIGSTOP) past
# session.timeout.ms, its partition goes to the other process of the group, and then it is
# continued (SIGCONT) and finishes writing a batch of a partition it no longer owns. The other
# process was offered the same events; one of the two must find them written and skip them,
# counted by /metrics. kcat produces N JSON events in ten chunks; every figure is read with an
# independent client (mariadb, redis-cli, kcat, kafka-python).
#
#   mysql  a private MariaDB, 2 partitions, cooperative-sticky, each process owning one. The
#          test takes FOR UPDATE on the group's ferry_offsets rows; the zombie's next batch
#          waits on that lock and is stopped there; the lock released, InnoDB grants it the
#          row, which it now holds while stopped. The new owner reads the last committed offset
#          when the partition comes to it, without waiting for the zombie's lock (sessions wait
#          120 s for a lock here: an assignment that waited would not come within the test's
#          45 s), below what the zombie writes; its write then waits on the zombie's row.
#          Continued, the zombie commits; the new owner reads the moved offset and skips
#          (events_replayed). The table has no unique key on
#          (topic, partition, offset), so a doubled event would be a second row.
#   redis  a private Redis, 1 partition: one process owns it, the other is idle. CLIENT PAUSE
#          WRITE holds the owner's next transaction in the server (its WATCH and MGET were
#          answered); the owner is stopped; the idle one takes the partition, reads the same
#          offset and sends its own transaction, held behind. CLIENT UNPAUSE: Redis runs the
#          zombie's EXEC first, which moves the offset key, so the new owner's EXEC is aborted
#          by WATCH (write_conflicts) and its batch built again without what was applied
#          (events_replayed). Every counter must equal the sums of the generation rules.
#
#   sink_zombie.sh mysql|redis
set -euo pipefail
MODE=${1:-mysql}
T_NAME="sink_zombie_$MODE"
. "$(dirname "$0")/lib.sh"

case "$MODE" in mysql | redis) ;; *) fail "mode must be mysql or redis" ;; esac
need_real_kafka
N=${ZOMBIE_EVENTS:-20000}
CHUNK=$((N / 10))
TOPIC="zombie-$MODE-$T_ID"
WORKER=$([ "$MODE" = mysql ] && echo rows || echo counts)
GROUP="$T_ID.$WORKER"
P="zombie:$T_ID"

# A stopped process takes no SIGTERM and a paused Redis holds the last flush: undo both before
# lib.sh's cleanup stops everything.
# shellcheck disable=SC2317
unfreeze() {
  local p
  for p in "${T_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
  [ -z "${RPORT:-}" ] || r CLIENT UNPAUSE >/dev/null 2>&1 || true
  exec 7>&- 2>/dev/null || true
}
at_exit unfreeze

# activity events keyed by their number (so that every chunk reaches every partition; keyless,
# kcat sticks to one partition for a whole batch)
produce() { # produce CHUNK_NUMBER (1-based)
  activity_events $((($1 - 1) * CHUNK + 1)) $(($1 * CHUNK)) keyed |
    kcat -P -b "$B" -t "$TOPIC" -K : -X acks=all || fail "kcat failed"
}
# client_port PID SERVER_PORT: the local port of PID's connection to SERVER_PORT (ss)
client_port() {
  ss -Htnp state established "( dport = :$2 )" |
    awk -v p="pid=$1," 'index($0, p) { n = split($3, a, ":"); print a[n]; exit }'
}
# group_stable MEMBERS: the group is Stable with that many members, as kafka-python sees it
group_stable() {
  /usr/bin/python3 - "$B" "$GROUP" "$1" <<'PY'
import sys
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
g = a.describe_consumer_groups([sys.argv[2]])[0]
a.close()
sys.exit(0 if g.state == "Stable" and len(g.members) == int(sys.argv[3]) else 1)
PY
}
# committed PARTITION: the group's committed offset there (kafka-python), 0 when none
committed() {
  /usr/bin/python3 - "$B" "$GROUP" "$TOPIC" "$1" <<'PY'
import sys
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
o = a.list_consumer_group_offsets(sys.argv[2]).get(TopicPartition(sys.argv[3], int(sys.argv[4])))
a.close()
print(o.offset if o and o.offset >= 0 else 0)
PY
}

# ======================================================================================= MySQL
run_mysql() {
  local TABLE="zb_$T_ID"
  "$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:2" >/dev/null
  # a MariaDB of the test's own: its locks touch nobody else. Sessions wait 120 s for a lock.
  private_mariadb --innodb-lock-wait-timeout=120
  # no unique key on (topic, partition, offset): an event written twice is two rows
  sql "CREATE TABLE \`$TABLE\` (id BIGINT AUTO_INCREMENT PRIMARY KEY,
    kafka_topic VARCHAR(249) NOT NULL, kafka_partition INT NOT NULL, kafka_offset BIGINT NOT NULL,
    kafka_ts DATETIME(3) NULL, received_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    n BIGINT NOT NULL) ENGINE=InnoDB"

  cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B" 'partition.assignment.strategy: cooperative-sticky')
$HTTP_ANY
$(sinks_section)
$(mysql_worker rows "$TOPIC" json "$TABLE" "$MYPORT")
      create_table: false
$(number_columns)
      batch: {max_rows: 500, max_ms: 100}
YAML

  thread_of() { # thread_of PID: the MariaDB connection id of that process's worker
    local port
    port=$(client_port "$1" "$MYPORT")
    [ -n "$port" ] && sql "SELECT ID FROM information_schema.PROCESSLIST WHERE HOST = '127.0.0.1:$port'"
  }
  trx_state() { # trx_state PID: the state of that process's transaction (RUNNING, LOCK WAIT)
    local id
    id=$(thread_of "$1") && [ -n "$id" ] &&
      sql "SELECT trx_state FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = $id"
  }
  lock_waiting() { [ "$(trx_state "$1")" = "LOCK WAIT" ]; }
  has_conn() { [ -n "$(client_port "$1" "$MYPORT")" ]; }
  rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`"; }

  start_sink w1
  wait_for "the first process's MariaDB connection" 30 has_conn "$PID_w1"
  start_sink w2
  produce 1
  produce 2
  wait_at_least "rows of chunks 1 and 2" 60 $((2 * CHUNK)) rows
  one_each() { [ "$(held w1)" = 1 ] && [ "$(held w2)" = 1 ] && group_stable 2; }
  wait_for "one partition in each process, the group stable" 60 one_each

  # The test's own session locks every offset row of the group, and holds the lock.
  sql_session lock --unbuffered
  echo "SET SESSION innodb_lock_wait_timeout = 60; BEGIN;
    SELECT kafka_partition, next_offset FROM ferry_offsets WHERE consumer_group = '$GROUP'
      ORDER BY kafka_partition FOR UPDATE;
    SELECT 'locked';" >&7
  locked() { grep -qx locked "$T_DIR/lock.out"; }
  wait_for "the test's lock on ferry_offsets" 60 locked
  produce 3
  wait_for "the first process's batch to wait on the lock" 60 lock_waiting "$PID_w1"
  local id zp x rows_stop w0 f0 r0 a0 k
  id=$(thread_of "$PID_w1")
  # the row it waits for: lock_data is the primary key, the partition last
  zp=$(sql "SELECT l.lock_data FROM information_schema.INNODB_LOCK_WAITS w
    JOIN information_schema.INNODB_LOCKS l ON l.lock_id = w.requested_lock_id
    JOIN information_schema.INNODB_TRX t ON t.trx_id = w.requesting_trx_id
    WHERE t.trx_mysql_thread_id = $id" | sed 's/.*, *//')
  [[ $zp =~ ^[01]$ ]] || fail "cannot tell which offset row the first process waits for: '$zp'"
  x=$(awk -v p="$zp" '$1 == p { print $2 }' "$T_DIR/lock.out")
  w0=$(wm w1 events_written)
  f0=$(wm w1 write_failures)
  r0=$(wm w1 partitions_revoked)
  a0=$(wm w2 partitions_assigned)
  kill -STOP "$PID_w1"
  rows_stop=$(rows)
  echo "first process stopped (SIGSTOP) waiting to write partition $zp from offset $x; $rows_stop rows"
  [ "$rows_stop" -gt 0 ] && [ "$rows_stop" -lt "$N" ] ||
    fail "the stop did not land mid-stream: $rows_stop rows of $N"
  lock_waiting "$PID_w1" || fail "the stopped process no longer waits for the lock ($(trx_state "$PID_w1"))"
  echo "COMMIT; SELECT 'released';" >&7
  released() { grep -qx released "$T_DIR/lock.out"; }
  wait_for "the test's lock released" 30 released
  # InnoDB granted the row to the first waiter: the stopped process holds it now (polled:
  # INNODB_TRX is a cache, refreshed at most every 0.1 s)
  granted() { [ "$(trx_state "$PID_w1")" = RUNNING ]; }
  wait_for "the row granted to the stopped process" 30 granted

  # session.timeout.ms (6 s) passes; the second process is given partition $zp. Its read of
  # the sink's offset, in the rebalance callback, must not wait for the zombie's row lock (it
  # would wait up to the client's 60 s read timeout): the assignment comes within 45 s.
  wait_at_least "the second process to be assigned partition $zp" 45 $((a0 + 1)) wm w2 partitions_assigned
  [ "$(held w2)" = 2 ] || fail "the second process owns $(held w2) partitions, want 2"
  # Kafka's committed offset never passes the sink's: the new owner starts at or below the
  # zombie's batch, which it is offered again
  k=$(committed "$zp")
  [ "$k" -le "$x" ] || fail "Kafka's committed offset $k passed the sink's $x"
  wait_for "the second process's write to wait on the zombie's row" 60 lock_waiting "$PID_w2"
  echo "second process owns both partitions (Kafka's committed offset $k) and waits on the zombie's row"
  kill -CONT "$PID_w1"
  echo "first process continued (SIGCONT)"

  # the zombie's batch is committed: written grows, no write of it failed
  wait_at_least "the zombie's batch written" 60 $((w0 + 1)) wm w1 events_written
  local zw zf
  zw=$(($(wm w1 events_written) - w0))
  zf=$(($(wm w1 write_failures) - f0))
  [ "$zf" = 0 ] || fail "the zombie's write failed ($zf failed writes) instead of committing"
  wait_at_least "the zombie to learn it lost its partition" 60 $((r0 + 1)) wm w1 partitions_revoked
  for c in 4 5 6 7 8 9 10; do produce $c; done
  wait_at_least "$N rows" 120 "$N" rows
  wait_at_least "offsets at $N" 60 "$N" offsets_sum "$GROUP"

  local rp1 rp2 fl2 hw
  rp1=$(wm w1 events_replayed)
  rp2=$(wm w2 events_replayed)
  fl2=$(wm w2 write_failures)
  stop_ferry w1
  stop_ferry w2
  count_rows "$TABLE"
  echo "figures: $N events; $rows_stop rows at the stop; zombie partition $zp: offset $x at the stop, Kafka's $k; zombie wrote $zw events after SIGCONT; events_replayed w1=$rp1 w2=$rp2; write_failures w2=$fl2; $ROWS"
  rows_once "$TABLE" "$N"
  offsets_at "$GROUP" "$N"
  for p in 0 1; do
    hw=$(end_offset "$TOPIC" "$p")
    [ "$(sql "SELECT next_offset FROM ferry_offsets WHERE consumer_group = '$GROUP' AND kafka_partition = $p")" = "$hw" ] ||
      fail "partition $p: ferry_offsets does not hold its end $hw"
  done
  # the new owner started below the zombie's batch and was offered it again: it must have
  # skipped at least the first event it got there
  [ "$rp2" -gt 0 ] || fail "the new owner skipped nothing (events_replayed 0): the zombie's events were not offered again, or written twice"
  ok "a zombie stopped holding a row lock past the session timeout commits its batch; the new owner skips it: exactly $N rows"
}

# ======================================================================================= Redis
run_redis() {
  "$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:1" >/dev/null
  # a Redis of the test's own: CLIENT PAUSE holds every client of the server
  private_redis 0

  cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$HTTP_ANY
$(sinks_section)
$(activity_worker counts "$TOPIC" "$RPORT")
YAML
  events() { r GET "$P:events" | sed 's/^$/0/'; }
  # blocked PID: that process's connection is held by the pause (CLIENT LIST flag b)
  blocked() {
    local port
    port=$(client_port "$1" "$RPORT")
    [ -n "$port" ] && r CLIENT LIST | grep -q "addr=127.0.0.1:$port .*flags=[a-zA-Z]*b"
  }

  start_sink a
  start_sink b
  produce 1
  produce 2
  wait_at_least "events of chunks 1 and 2" 60 $((2 * CHUNK)) events
  one_owner() {
    local oa ob
    oa=$(held a) && ob=$(held b) && [ $((oa + ob)) = 1 ] && [ "$oa" -ge 0 ] &&
      [ "$ob" -ge 0 ] && group_stable 2
  }
  wait_for "one process owning the partition, the other idle, the group stable" 60 one_owner
  # Z: the owner, the zombie to be; T: the idle one, which takes over
  local ZP TP ZN TN
  if [ "$(held a)" = 1 ]; then
    ZN=a ZP=$PID_a TN=b TP=$PID_b
  else
    ZN=b ZP=$PID_b TN=a TP=$PID_a
  fi
  echo "process $ZN owns the partition, $TN is idle"

  r CLIENT PAUSE 90000 WRITE >/dev/null
  produce 3
  wait_for "the owner's transaction held by the pause" 60 blocked "$ZP"
  local ev_stop w0 f0 r0 a0 x
  x=$(r GET "ferry:offsets:$GROUP:$TOPIC:0")
  w0=$(wm "$ZN" events_written)
  f0=$(wm "$ZN" write_failures)
  r0=$(wm "$ZN" partitions_revoked)
  a0=$(wm "$TN" partitions_assigned)
  kill -STOP "$ZP"
  ev_stop=$(events)
  echo "owner stopped (SIGSTOP) with its transaction from offset $x held in Redis; $ev_stop events applied"
  [ "$ev_stop" -gt 0 ] && [ "$ev_stop" -lt "$N" ] ||
    fail "the stop did not land mid-stream: $ev_stop events of $N"

  # session.timeout.ms passes; the idle process is given the partition, reads the offset key
  # (reads pass the pause), fetches the zombie's events and sends its own transaction
  wait_at_least "the idle process to be assigned the partition" 90 $((a0 + 1)) wm "$TN" partitions_assigned
  wait_for "the new owner's transaction held by the pause" 60 blocked "$TP"
  local held
  held=$(r CLIENT LIST | grep -c 'flags=[a-zA-Z]*b' || true)
  [ "$held" = 2 ] || fail "$held transactions held by the pause, want 2"
  r CLIENT UNPAUSE >/dev/null
  echo "pause ended: the zombie's transaction runs first, then the new owner's"
  kill -CONT "$ZP"
  echo "owner continued (SIGCONT)"

  wait_at_least "the zombie's transaction confirmed" 60 $((w0 + 1)) wm "$ZN" events_written
  local zw zf
  zw=$(($(wm "$ZN" events_written) - w0))
  zf=$(($(wm "$ZN" write_failures) - f0))
  [ "$zf" = 0 ] || fail "the zombie's transaction failed ($zf failed writes) instead of running"
  wait_at_least "the zombie to learn it lost its partition" 60 $((r0 + 1)) wm "$ZN" partitions_revoked
  for c in 4 5 6 7 8 9 10; do produce $c; done
  # (not "end": wait_for's own local of that name is what a callback would see)
  local hw
  hw=$(end_offset "$TOPIC" 0)
  at_end() { [ "$(r GET "ferry:offsets:$GROUP:$TOPIC:0")" = "$hw" ]; }
  wait_for "the offset key at the partition's end $hw" 120 at_end

  local rpz rpt cft cfz
  rpz=$(wm "$ZN" events_replayed)
  rpt=$(wm "$TN" events_replayed)
  cfz=$(wm "$ZN" write_conflicts)
  cft=$(wm "$TN" write_conflicts)
  stop_ferry a
  stop_ferry b
  echo "figures: $N events; $ev_stop applied at the stop, the zombie's transaction from offset $x; zombie confirmed $zw events after SIGCONT; write_conflicts new owner=$cft zombie=$cfz; events_replayed new owner=$rpt zombie=$rpz; counters: events $(r GET "$P:events"), amount $(r GET "$P:amount")"
  activity_once "$N"
  [ "$(r GET "ferry:offsets:$GROUP:$TOPIC:0")" = "$hw" ] || fail "the offset key moved past the end $hw"
  [ "$cft" -gt 0 ] || fail "the new owner's EXEC was never aborted by WATCH (write_conflicts 0)"
  [ "$rpt" -gt 0 ] || fail "the new owner skipped nothing the zombie applied (events_replayed 0)"
  ok "a zombie's held transaction ran after its partition moved; the new owner's was aborted by WATCH and built again without it: every counter exact"
}

"run_$MODE"
