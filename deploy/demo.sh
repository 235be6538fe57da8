#!/usr/bin/env bash
# ferry's demo: the bundled access log -> ferry run (agent, embedded Kafka, MySQL and Redis
# workers) -> a MariaDB table and Redis counters, then a summary read back with the mariadb
# and redis-cli clients.
#
#   deploy/demo.sh [FERRY_BINARY]        (make demo runs: ./deploy/demo.sh build/ferry)
#
# Everything lives in a temporary directory: MariaDB and Redis (started with
# tests/stack/stack.sh on free ports of 127.0.0.1), the copy of the log, the agent's
# checkpoints and ferry's own log. Whatever happens, including Ctrl-C, the servers and ferry
# are stopped and the directory is removed on exit.
#
# Environment:
#   FERRY_DEMO_KEEP=1        keep the temporary directory (ferry.log, stack logs)
#   FERRY_DEMO_TIMEOUT=S     how long to wait for every line to arrive (default 120)
set -euo pipefail

START_US=${EPOCHREALTIME/[.,]/}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY=${1:-build/ferry}
[[ $FERRY == */* ]] || FERRY=./$FERRY
[[ -x $FERRY ]] || { echo "demo: ferry binary '$FERRY' not found (run make build)" >&2; exit 2; }
FERRY=$(cd "$(dirname "$FERRY")" && pwd)/$(basename "$FERRY")
cd "$ROOT"

readonly STACK=tests/stack/stack.sh
readonly CONFIG=deploy/demo.yaml
readonly SAMPLE=deploy/sample/access.log
readonly TIMEOUT=${FERRY_DEMO_TIMEOUT:-120}
readonly STOP_TIMEOUT=30
[[ $TIMEOUT =~ ^[0-9]+$ ]] || { echo "demo: FERRY_DEMO_TIMEOUT must be seconds" >&2; exit 2; }
# Names used by deploy/demo.yaml.
readonly TABLE=access_log
readonly SOURCE=web
readonly MYSQL_WORKER=access-mysql
readonly REDIS_WORKER=access-redis

# The UTC day of a row, the way ferry computes {day}: from the line's own $time_local
# ("23/Nov/2026:00:00:17 +0000"), else from the Kafka timestamp.
readonly DAY_SQL="COALESCE(DATE(CONVERT_TZ(STR_TO_DATE(LEFT(time, 20), '%d/%b/%Y:%H:%i:%s'),
    CONCAT(SUBSTRING(time, 22, 3), ':', SUBSTRING(time, 25, 2)), '+00:00')), DATE(kafka_ts))"

DEMO_DIR=
STACK_DIR=
FERRY_LOG=
FERRY_PID=
START_PIDS=()
PROGRESS_OPEN=0

# ---- helpers ---------------------------------------------------------------------------------

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }

# seconds with one decimal since a now_us value
since() {
    local d=$(($(now_us) - $1))
    printf '%d.%d s' $((d / 1000000)) $((d % 1000000 / 100000))
}

plural() { if (($1 == 1)); then echo "$1 $2"; else echo "$1 $2s"; fi; }

# ends the progress line that a terminal shows while waiting
end_progress() {
    if ((PROGRESS_OPEN)); then
        printf '\n'
        PROGRESS_OPEN=0
    fi
}

heading() { printf '\n== %s\n' "$*"; }

die() {
    end_progress
    printf '\ndemo: %s\n' "$*" >&2
    exit 1
}

sql() {
    MYSQL_PWD=$FERRY_MYSQL_PASSWORD mariadb --no-defaults --batch --skip-column-names --raw \
        --connect-timeout=5 -h "$FERRY_MYSQL_HOST" -P "$FERRY_MYSQL_PORT" \
        -u "$FERRY_MYSQL_USER" -D "$FERRY_MYSQL_DATABASE" -e "$1"
}

rcli() {
    redis-cli -h "$FERRY_REDIS_HOST" -p "$FERRY_REDIS_PORT" "$@"
}

# a number, or 0 when the answer is empty or not a number (table or key not there yet)
number() {
    if [[ $1 =~ ^[0-9]+$ ]]; then echo "$1"; else echo 0; fi
}

# a string as an SQL literal that needs no escaping
sql_string() {
    printf "CONVERT(X'%s' USING utf8mb4)" "$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n')"
}

# Row count of the table (0 while ferry has not created it yet), or "down" when MariaDB
# does not answer.
count_rows() {
    local n
    if n=$(sql "SELECT COUNT(*) FROM $TABLE" 2>/dev/null); then
        number "$n"
    elif sql "SELECT 1" >/dev/null 2>&1; then
        echo 0
    else
        echo down
    fi
}

# The ferry:events counter (0 while absent), or "down" when Redis does not answer.
count_events() {
    local n
    if n=$(rcli GET ferry:events 2>/dev/null); then
        number "$n"
    else
        echo down
    fi
}

# first capture group of the last line of ferry's log that matches an extended regex
from_log() {
    sed -n -E "s/.*$1.*/\\1/p" "$FERRY_LOG" | tail -n 1
}

# of_lines COUNT WHAT SERVER: "12/4400 WHAT", or that SERVER does not answer
of_lines() {
    if [[ $1 == down ]]; then
        echo "$3 not answering"
    else
        echo "$1/$LINES $2"
    fi
}

# alive PID, or alive -PGID for any process of a group
alive() { [[ -n $1 ]] && kill -0 -- "$1" 2>/dev/null; }

# wait_gone PID|-PGID SECONDS: true once it has exited
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

# row LABEL NUMBER [NOTE]: one line of the summary
row() {
    if [[ -n ${3:-} ]]; then
        printf '  %-40s %7s   %s\n' "$1" "$2" "$3"
    else
        printf '  %-40s %7s\n' "$1" "$2"
    fi
}

# URL, MySQL count, Redis count on stdin -> ranked table lines
top_rows() {
    local rank=0 url m r
    while IFS=$'\t' read -r url m r; do
        printf '  %-3s %-44s %7s %7s\n' "$((++rank))" "$url" "$m" "$r"
    done
}

# ---- cleanup, on every exit ------------------------------------------------------------------

cleanup() {
    local rc=$? pid
    set +e
    trap - INT TERM
    end_progress
    if alive "$FERRY_PID"; then
        kill -TERM "$FERRY_PID"
        wait_gone "$FERRY_PID" "$STOP_TIMEOUT" || kill -KILL "$FERRY_PID"
        wait "$FERRY_PID" 2>/dev/null
    fi
    # interrupted while starting the servers: end those start-ups (each runs in its own
    # process group) and wait until none of their processes writes to the directory
    for pid in "${START_PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null
    done
    for pid in "${START_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
        wait_gone "-$pid" 15 || kill -KILL -- "-$pid" 2>/dev/null
    done
    if ((rc != 0)) && [[ -s $FERRY_LOG ]]; then
        printf '\n---- last lines of ferry.log ----\n' >&2
        tail -n 30 "$FERRY_LOG" >&2
        printf -- '----\n' >&2
    fi
    if [[ -n $STACK_DIR && -d $STACK_DIR ]]; then
        heading "Stopping the servers"
        "$STACK" -d "$STACK_DIR" stop all 2>&1 | sed 's/^/  /'
    fi
    if [[ -n $DEMO_DIR && -d $DEMO_DIR ]]; then
        if [[ ${FERRY_DEMO_KEEP:-} == 1 ]]; then
            echo "  kept $DEMO_DIR"
        else
            rm -rf "$DEMO_DIR" 2>/dev/null || { sleep 1 && rm -rf "$DEMO_DIR"; }
        fi
    fi
    if ((rc == 0)); then
        printf '\nwall time: %s\n' "$(since "$START_US")"
    elif ((rc == 130 || rc == 143)); then
        printf '\ndemo interrupted after %s\n' "$(since "$START_US")" >&2
    else
        printf '\ndemo failed (exit %d) after %s\n' "$rc" "$(since "$START_US")" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. servers and the log ------------------------------------------------------------------

echo "ferry demo: $SAMPLE -> Kafka (embedded) -> MySQL and Redis"

DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
STACK_DIR=$DEMO_DIR/stack
FERRY_LOG=$DEMO_DIR/ferry.log
export FERRY_DEMO_DIR=$DEMO_DIR

heading "Starting MariaDB and Redis"
# In their own sessions: Ctrl-C (SIGINT to the terminal's process group) then reaches only
# this script and ferry, and the servers are stopped in order by the cleanup.
for server in mariadb redis; do
    setsid "$STACK" -d "$STACK_DIR" start "$server" >"$DEMO_DIR/start-$server.out" 2>&1 </dev/null &
    START_PIDS+=($!)
done
failed=0
for pid in "${START_PIDS[@]}"; do
    wait "$pid" || failed=1
done
START_PIDS=()
cat "$DEMO_DIR"/start-*.out | sed 's/^/  /'
((failed == 0)) || die "a server did not start"

# shellcheck source=/dev/null
. "$STACK_DIR/env"

mkdir -p "$DEMO_DIR/logs"
cp "$SAMPLE" "$DEMO_DIR/logs/access.log"
# the agent ships complete lines only, so the newlines are the lines
LINES=$(wc -l <"$DEMO_DIR/logs/access.log")
LINES=$((LINES + 0))

# ---- 2. check, then run ----------------------------------------------------------------------

heading "Running ferry"
if ! out=$("$FERRY" check -c "$CONFIG" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/  /' >&2
    die "ferry check -c $CONFIG failed"
fi
printf '  %-34s %s\n' "ferry check -c $CONFIG" "$out"

"$FERRY" run -c "$CONFIG" >"$FERRY_LOG" 2>&1 </dev/null &
FERRY_PID=$!
RUN_US=$(now_us)
printf '  %-34s pid %s, log in %s\n' "ferry run -c $CONFIG" "$FERRY_PID" "$FERRY_LOG"

# ---- 3. wait for every line ------------------------------------------------------------------

# Every line becomes a row (a line the combined format does not match is kept raw, with
# NULL columns) and increments ferry:events (that command uses no field of the line).
deadline=$((SECONDS + TIMEOUT))
next_note=0
unreachable=0
while :; do
    rows=$(count_rows)
    events=$(count_events)
    progress="$(of_lines "$rows" "rows in MySQL" MariaDB), $(of_lines "$events" \
        "events in Redis" Redis), $(since "$RUN_US")"
    if [[ -t 1 ]]; then
        printf '\r  waiting: %-70s' "$progress"
        PROGRESS_OPEN=1
    elif (($(now_us) >= next_note)); then
        next_note=$(($(now_us) + 5000000))
        printf '  waiting: %s\n' "$progress"
    fi
    if [[ $rows == down || $events == down ]]; then
        ((++unreachable < 5)) || die "$progress"
    else
        unreachable=0
        ((rows >= LINES && events >= LINES)) && break
    fi
    if ! alive "$FERRY_PID"; then
        rc=0
        wait "$FERRY_PID" || rc=$?
        FERRY_PID=
        die "ferry exited by itself (status $rc) before every line arrived"
    fi
    ((SECONDS < deadline)) || die "not every line arrived within ${TIMEOUT} s: $progress"
    sleep 0.5
done
end_progress
printf '  %-34s %s\n' "every line arrived after" "$(since "$RUN_US")"

# ---- 4. stop, then look ----------------------------------------------------------------------

STOP_US=$(now_us)
kill -TERM "$FERRY_PID"
if ! wait_gone "$FERRY_PID" "$STOP_TIMEOUT"; then
    die "ferry did not exit within ${STOP_TIMEOUT} s of SIGTERM"
fi
rc=0
wait "$FERRY_PID" || rc=$?
FERRY_PID=
((rc == 0)) || die "ferry exited with status $rc after SIGTERM (want 0)"
printf '  %-34s exit 0 after %s\n' "stopped with SIGTERM" "$(since "$STOP_US")"

# -- totals
rows=$(count_rows)
events=$(count_events)
[[ $rows != down && $events != down ]] || die "a server stopped answering"
IFS=$'\t' read -r unparsed no_request < <(sql "SELECT COALESCE(SUM(status IS NULL), 0),
    COALESCE(SUM(status IS NOT NULL AND url IS NULL), 0) FROM $TABLE")
parsed=$((rows - unparsed))
with_url=$((parsed - no_request))
views=0
for key in $(rcli --scan --pattern 'ferry:views:*'); do
    for v in $(rcli HVALS "$key"); do
        views=$((views + v))
    done
done
read_n=$(from_log "tail: $SOURCE: ([0-9]+) lines read")
acked=$(from_log "agent: $SOURCE: ([0-9]+) lines acknowledged by Kafka")
ack_failed=$(from_log "agent: $SOURCE: [0-9]+ lines acknowledged by Kafka, ([0-9]+) failed")
mysql_written=$(from_log "worker: $MYSQL_WORKER: stopped; ([0-9]+) events written")
redis_written=$(from_log "worker: $REDIS_WORKER: stopped; ([0-9]+) events written")

heading "What arrived"
row "lines in access.log" "$LINES"
[[ -n $read_n ]] && row "read by the agent" "$read_n" "ferry's log"
[[ -n $acked ]] && row "shipped (acknowledged by Kafka)" "$acked" "ferry's log, ${ack_failed:-?} failed"
[[ -n $mysql_written ]] && row "written by the MySQL worker" "$mysql_written" "ferry's log"
[[ -n $redis_written ]] && row "written by the Redis worker" "$redis_written" "ferry's log"
row "rows in MySQL table $TABLE" "$rows"
row "  parsed as combined log lines" "$parsed"
row "    of which without a request line" "$no_request" 'no method and URL (TLS bytes, "-")'
row "  not parsed, kept raw" "$unparsed" "every parsed column NULL"
row "ferry:events in Redis" "$events"
row "page views in Redis ferry:views:*" "$views" "one per row with a URL: $with_url"

# -- status codes
heading "Rows per status code"
printf '  %-8s %8s %8s\n' status MySQL Redis
status_keys=$(rcli --scan --pattern 'ferry:status:*')
awk -F'\t' '
    NR == FNR { m[$1] = $2; seen[$1]; next }
    { r[$1] += $2; seen[$1] }
    END { for (s in seen) printf "%s\t%d\t%d\n", s, m[s], r[s] }' \
    <(sql "SELECT COALESCE(status, 'none'), COUNT(*) FROM $TABLE GROUP BY status") \
    <(for key in $status_keys; do rcli HGETALL "$key" | paste - -; done) |
    LC_ALL=C sort | while IFS=$'\t' read -r status m r; do
        printf '  %-8s %8s %8s\n' "$status" "$m" "$r"
    done

# -- each day
mapfile -t days < <(sql "SELECT DISTINCT $DAY_SQL AS d FROM $TABLE ORDER BY d")
for day in "${days[@]}"; do
    heading "Top 5 URLs on $day"
    mysql_top=$(sql "SELECT url COLLATE utf8mb4_bin AS u, COUNT(*) AS n FROM $TABLE
        WHERE url IS NOT NULL AND $DAY_SQL = '$day' GROUP BY u ORDER BY n DESC, u LIMIT 5")
    redis_top=$(rcli HGETALL "ferry:views:$day" | paste - - |
        LC_ALL=C sort -t $'\t' -k2,2nr -k1,1 | awk 'NR <= 5')
    printf '  %-3s %-44s %7s %7s\n' '#' URL MySQL Redis
    if [[ $(cut -f1 <<<"$mysql_top") == "$(cut -f1 <<<"$redis_top")" ]]; then
        paste <(echo "$mysql_top") <(cut -f2 <<<"$redis_top") | top_rows
    else
        # not the same ranking: show both, each with the other's count for its URLs
        echo "  (MySQL's ranking)"
        while IFS=$'\t' read -r page n; do
            printf '%s\t%s\t%s\n' "$page" "$n" "$(rcli HGET "ferry:views:$day" "$page")"
        done <<<"$mysql_top" | top_rows
        echo "  (Redis's ranking)"
        while IFS=$'\t' read -r page n; do
            printf '%s\t%s\t%s\n' "$page" "$(sql "SELECT COUNT(*) FROM $TABLE WHERE
                url COLLATE utf8mb4_bin = $(sql_string "$page") AND $DAY_SQL = '$day'")" "$n"
        done <<<"$redis_top" | top_rows
    fi
done

heading "Unique visitors per day"
printf '  %-12s %16s %16s\n' day "Redis PFCOUNT" "exact (MySQL)"
for day in "${days[@]}"; do
    printf '  %-12s %16s %16s\n' "$day" "$(rcli PFCOUNT "ferry:visitors:$day")" \
        "$(sql "SELECT COUNT(DISTINCT remote_addr COLLATE utf8mb4_bin) FROM $TABLE
                WHERE remote_addr IS NOT NULL AND $DAY_SQL = '$day'")"
done

# -- the stream, newest first: one entry per XREVRANGE, each starting before the previous id
heading "Latest 3 entries of ferry:activity ($(rcli XLEN ferry:activity) entries)"
printf '  %-20s %-27s %-16s %-6s %-6s %s\n' id time ip method status url
declare -A f
end=+
for ((i = 0; i < 3; i++)); do
    mapfile -t entry < <(rcli XREVRANGE ferry:activity "$end" - COUNT 1)
    ((${#entry[@]} > 0)) || break
    f=()
    for ((j = 1; j + 1 < ${#entry[@]}; j += 2)); do
        f[${entry[j]}]=${entry[j + 1]}
    done
    printf '  %-20s %-27s %-16s %-6s %-6s %s\n' "${entry[0]}" "${f[time]:-}" "${f[ip]:-}" \
        "${f[method]:-}" "${f[status]:-}" "${f[url]:-}"
    end="(${entry[0]}"
done

# -- ferry's own complaints
warnings=$(grep -c -E '^[^ ]+ warn ' "$FERRY_LOG" || true)
errors=$(grep -c -E '^[^ ]+ error ' "$FERRY_LOG" || true)
heading "ferry's log: $(plural "$warnings" warning), $(plural "$errors" error)"
grep -E '^[^ ]+ (warn|error) ' "$FERRY_LOG" | awk 'NR <= 5' | cut -d' ' -f2- | sed 's/^/  /' || true

# -- verdict
problems=()
((rows == LINES)) || problems+=("$rows rows for $LINES lines")
((events == LINES)) || problems+=("ferry:events is $events for $LINES lines")
((views == with_url)) || problems+=("$views page views for $with_url rows with a URL")
if ((${#problems[@]})); then
    printf '\n'
    printf 'MISMATCH: %s\n' "${problems[@]}"
    exit 1
fi
printf '\nok: %d lines -> %d rows in MySQL (%d not parsed), %d events in Redis\n' \
    "$LINES" "$rows" "$unparsed" "$events"
