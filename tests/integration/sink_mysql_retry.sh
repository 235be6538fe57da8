#!/usr/bin/env bash
# The MySQL worker through the two lock errors InnoDB gives a transaction, on a private MariaDB
# started with innodb_lock_wait_timeout=1, while kcat keeps producing numbered JSON events:
#   lock wait timeout (1205)  a mariadb session of the test holds the group's ferry_offsets rows
#                             FOR UPDATE, which every batch's transaction reads FOR UPDATE first;
#                             it lets go once the worker counted a failed write and InnoDB a
#                             lock timeout
#   deadlock (1213)           the session, heavy with 5,000 undo records (InnoDB picks the
#                             lighter transaction as the victim), locks every row and gap of the
#                             table; the worker's next batch locks its offset rows and waits to
#                             insert; the session then asks for those offset rows: a cycle, the
#                             worker's transaction is rolled back
# Each fault begins once rows arrived since the last one (0 < rows < N is checked at the end);
# InnoDB's own counters (information_schema.INNODB_METRICS lock_timeouts, lock_deadlocks) show
# it happened and the worker's write_failures_total that its batch failed; rows must arrive
# again. At the end the table holds exactly N rows, unique by (topic, partition, offset) and by
# event number, and ferry_offsets adds up to N.
set -euo pipefail
T_NAME=sink_mysql_retry
. "$(dirname "$0")/lib.sh"

need_real_kafka
CHUNK=400
TOPIC="myretry-$T_ID"
DLQ="myretry-dlq-$T_ID"
TABLE="mr_$T_ID"
GROUP="$T_ID.rows"
"$STACK" -d "$FERRY_STACK_DIR" kafka topic "$TOPIC:3" "$DLQ:1" >/dev/null

private_mariadb --innodb-lock-wait-timeout=1
[ "$(sql "SELECT @@GLOBAL.innodb_lock_wait_timeout")" = 1 ] || fail "innodb_lock_wait_timeout is not 1"
innodb() { sql "SELECT count FROM information_schema.INNODB_METRICS WHERE name = '$1'"; }
sql "CREATE TABLE heavy (a INT) ENGINE=InnoDB"

cat >"$T_DIR/ferry.yaml" <<YAML
$(sink_kafka "$B")
$(sinks_section "$DLQ")
$(mysql_worker rows "$TOPIC" json "$TABLE" "$MYPORT")
$(number_columns)
      batch: {max_rows: 500, max_ms: 100}
$HTTP_ANY
YAML

# The test's own session, fed statement by statement (--force: on after an error).
sql_session hold --force --unbuffered
hold() { echo "$1" >&7; }
said() { grep -q "^$1\$" "$T_DIR/hold.out"; }
hold "SELECT CONCAT('id ', CONNECTION_ID());"
wait_for "the test's session" 30 grep -q '^id ' "$T_DIR/hold.out"
HID=$(sed -n 's/^id //p' "$T_DIR/hold.out")
# worker_waits [SECONDS]: another transaction than the session's waits for a lock (for SECONDS)
worker_waits() {
  [ "$(sql "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'
    AND trx_mysql_thread_id <> $HID AND trx_wait_started <= NOW() - INTERVAL ${1:-0} SECOND")" -gt 0 ]
}

start_sink w1
failures() { wm w1 write_failures rows; }
rows() { sql "SELECT COUNT(*) FROM \`$TABLE\`" 2>/dev/null || echo 0; }
produce_chunks "$TOPIC" "$CHUNK" &
producer=$!
T0=$SECONDS
FIGURES=() AT_ALL=()

# ---- lock wait timeout ---------------------------------------------------------------------
wait_at_least "rows before the lock wait" 120 $((2 * CHUNK)) rows
AT=$(rows) F0=$(failures) L0=$(innodb lock_timeouts)
hold "BEGIN; SELECT COUNT(*) FROM ferry_offsets WHERE consumer_group = '$GROUP' FOR UPDATE; SELECT 'offsets locked';"
wait_for "the session to lock ferry_offsets" 30 said 'offsets locked'
failed() { [ "$(failures)" -gt "$F0" ] && [ "$(innodb lock_timeouts)" -gt "$L0" ]; }
wait_for "a batch failed on a lock wait timeout" 60 failed
# for the deadlock below the worker must wait longer than a second: its next connection (each
# failure closes it) takes the new global value. Either it fails once more (its connection was
# older) or it is seen waiting past the old timeout.
sql "SET GLOBAL innodb_lock_wait_timeout = 60"
F1=$(failures)
reconnected() { [ "$(failures)" -gt "$F1" ] || worker_waits 3; }
wait_for "the worker on a connection with the longer timeout" 60 reconnected
f=$(($(failures) - F0)) l=$(($(innodb lock_timeouts) - L0))
hold "ROLLBACK; SELECT 'released';"
wait_for "the session to let go" 30 said released
wait_at_least "rows after the lock wait" 120 $((AT + 1)) rows
FIGURES+=("lock wait timeout: at $AT rows, $f failed writes, InnoDB lock_timeouts +$l")
AT_ALL+=("lock-wait=$AT")
echo "${FIGURES[-1]}"
[ "$f" -gt 0 ] && [ "$l" -gt 0 ] || fail "lock wait: $f failed writes, $l lock timeouts"
LAST=$(rows)

# ---- deadlock ------------------------------------------------------------------------------
wait_at_least "rows before the deadlock" 120 $((LAST + 2 * CHUNK)) rows
AT=$(rows) F0=$(failures) D0=$(innodb lock_deadlocks)
hold "SET SESSION innodb_lock_wait_timeout = 60; BEGIN; INSERT INTO heavy SELECT seq FROM seq_1_to_5000;
  SELECT COUNT(*) FROM \`$TABLE\` FOR UPDATE; SELECT 'table locked';"
wait_for "the session to lock the table" 30 said 'table locked'
wait_for "a batch of the worker waiting to insert" 60 worker_waits
hold "SELECT COUNT(*) FROM ferry_offsets WHERE consumer_group = '$GROUP' FOR UPDATE; SELECT 'offsets locked too';"
wait_for "the session to get the offsets" 90 said 'offsets locked too'
hold "ROLLBACK; SELECT 'rolled back';"
wait_for "the session to roll back" 30 said 'rolled back'
grep -q 'Deadlock' "$T_DIR/hold.out" && fail "the test's session, not the worker, was the deadlock's victim"
deadlocked() { [ "$(failures)" -gt "$F0" ]; }
wait_for "the worker to count the failed batch" 30 deadlocked
f=$(($(failures) - F0)) d=$(($(innodb lock_deadlocks) - D0))
wait_at_least "rows after the deadlock" 120 $((AT + 1)) rows
FIGURES+=("deadlock: at $AT rows, $f failed writes, InnoDB lock_deadlocks +$d")
AT_ALL+=("deadlock=$AT")
echo "${FIGURES[-1]}"
[ "$d" -gt 0 ] || fail "InnoDB counted no deadlock"
grep -q 'Deadlock found' "$T_DIR/w1.log" || fail "the worker's failed write was not the deadlock"
LAST=$(rows)

# ---- the end -------------------------------------------------------------------------------
wait_at_least "rows after the faults" 120 $((LAST + 2 * CHUNK)) rows
stop_chunks "$producer" "$CHUNK"
wait_at_least "$N rows" 180 "$N" rows
sleep 2 # a doubled batch would land now
written=$(wm w1 events_written rows)
total_failures=$(failures)
stop_ferry w1
exec 7>&-

rows_once "$TABLE" "$N"
offsets_at "$GROUP" "$N"
[ "$written" = "$N" ] || fail "the worker counted $written events written, want $N"
for a in "${AT_ALL[@]}"; do
  at=${a#*=}
  [ "$at" -gt 0 ] && [ "$at" -lt "$N" ] || fail "fault ${a%%=*} began at $at rows, not within 0..$N"
done
echo "figures: $N events in $((SECONDS - T0))s; $total_failures failed writes retried"
for f in "${FIGURES[@]}"; do echo "figures: $f"; done
ok "a lock wait timeout and a deadlock mid-stream: batches retried, exactly $N rows"
