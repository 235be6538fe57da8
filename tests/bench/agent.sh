#!/usr/bin/env bash
# Benchmark: one generated log file shipped to Kafka by ferry's agent, by kcat and by rsyslog
# (imfile + omkafka), each into a fresh in-memory cluster (`ferry mock-kafka`, 3 brokers).
# Prints throughput, CPU time and peak RSS of each, and ferry's ratios to the others. It judges
# nothing: the figures depend on the machine, and a busy machine changes them.
#
#   tests/bench/agent.sh [-n LINES] [-s BYTES] [-p PARTITIONS] [-a ACKS,...] [-c NAME,...]
#                        [-f 'KEY: VALUE']... [-X PROP=VALUE]... [-r RUNS] [-t SECONDS] [-k]
#
#   -n LINES       lines in the generated file (default 1000000)
#   -s BYTES       bytes per line, newline included (default 100; at least 40)
#   -p PARTITIONS  partitions of each topic (default 4)
#   -a LIST        acks settings to run, comma-separated: 1, all (default 1,all)
#   -c LIST        contenders, comma-separated (default all five):
#                    ferry     ferry's agent as configured by default: provenance headers on
#                    ferry-nh  ferry's agent with `headers: false`
#                    kcat      kcat -P -l, no headers
#                    kcat-h    kcat -P -l with three headers like ferry's (-H host, path, offset)
#                    rsyslog   rsyslog, imfile + omkafka
#                  ratios pair like with like: ferry/kcat-h, ferry-nh/kcat, ferry-nh/rsyslog
#                  (omkafka sends no headers); ferry/rsyslog is shown too
#   -f 'KEY: VALUE'
#                  one more key for ferry's source (YAML), e.g. -f 'headers: false'
#   -X PROP=VALUE  a librdkafka producer property for every contender (ferry's kafka.producer,
#                  kcat -X, omkafka confParam), e.g. -X queue.buffering.max.messages=20000
#   -r RUNS        run every contender RUNS times, interleaved, and report the run with the
#                  median wall time (default 1)
#   -t SECONDS     give up on one run after this long (default 60), or as soon as its topic
#                  has not grown for 15 s
#   -k             keep the temporary directory (configurations and logs of every run)
#
# Environment: FERRY_BIN (default build/ferry; `make build` makes it).
# Needs kcat and GNU time (/usr/bin/time); rsyslog with omkafka is optional
# (`deploy/install-deps.sh --bench` installs all of them).
#
# What is measured, for every run: wall time from starting the contender until the high
# watermarks of the topic's partitions add up to LINES (read with `kcat -Q`, polled more often
# as the end nears), and the contender's peak RSS (VmHWM from /proc before it is stopped; for
# kcat, which exits by itself, GNU time's maximum resident set size).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/tests/bench/lib.sh"
FERRY=${FERRY_BIN:-$ROOT/build/ferry}
LINES=1000000
SIZE=100
PARTS=4
BROKERS=3
ACKS_LIST=1,all
CONTENDERS=ferry,ferry-nh,kcat,kcat-h,rsyslog
RUN_TIMEOUT=60
STALL_S=15
KEEP=0
RSS_TARGET_MIB=64
FERRY_EXTRA=()
XPROPS=()
RUNS=1

usage() { usage_lines 6 24; }

while getopts "n:s:p:a:c:f:X:r:t:kh" opt; do
    case $opt in
    n) LINES=$OPTARG ;;
    s) SIZE=$OPTARG ;;
    p) PARTS=$OPTARG ;;
    a) ACKS_LIST=$OPTARG ;;
    c) CONTENDERS=$OPTARG ;;
    f) FERRY_EXTRA+=("$OPTARG") ;;
    X) [[ $OPTARG == ?*=* ]] || { echo "agent.sh: -X wants PROP=VALUE" >&2; exit 2; }
       XPROPS+=("$OPTARG") ;;
    r) RUNS=$OPTARG ;;
    t) RUN_TIMEOUT=$OPTARG ;;
    k) KEEP=1 ;;
    *) usage ;;
    esac
done
[[ $LINES =~ ^[1-9][0-9]*$ ]] || { echo "agent.sh: -n wants a positive integer" >&2; exit 2; }
if ! [[ $SIZE =~ ^[0-9]+$ ]] || ((SIZE < 40)); then echo "agent.sh: -s wants 40 or more" >&2; exit 2; fi
[[ $PARTS =~ ^[1-9][0-9]*$ ]] || { echo "agent.sh: -p wants a positive integer" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "agent.sh: -r wants a positive integer" >&2; exit 2; }
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || { echo "agent.sh: -t wants seconds" >&2; exit 2; }
IFS=, read -r -a ACKS <<<"$ACKS_LIST"
IFS=, read -r -a WHO <<<"$CONTENDERS"
for a in "${ACKS[@]}"; do
    [[ $a == 1 || $a == all ]] || { echo "agent.sh: -a: acks '$a' is not 1 or all" >&2; exit 2; }
done
for w in "${WHO[@]}"; do
    [[ $w == ferry || $w == ferry-nh || $w == kcat || $w == kcat-h || $w == rsyslog ]] ||
        { echo "agent.sh: -c: unknown contender '$w'" >&2; exit 2; }
done

[[ -x $FERRY ]] || { echo "agent.sh: no ferry binary at $FERRY (run make build)" >&2; exit 2; }
command -v kcat >/dev/null || { echo "agent.sh: kcat is missing (deploy/install-deps.sh --bench)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "agent.sh: GNU time is missing (deploy/install-deps.sh --bench)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")
STARTED=() # every process this script started, stopped again by pid

# Stops one process: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid" 2>/dev/null || true; }
    wait "$pid" 2>/dev/null || true
}

# The child of a wrapper (GNU time runs the program as its only child).
child_of() {
    { ps -o pid= --ppid "$1" 2>/dev/null || true; } | awk 'NR == 1 {print $1}'
}

cleanup() {
    local pid c
    set +e # stop everything, whatever fails on the way
    for pid in "${STARTED[@]}"; do
        c=$(child_of "$pid")
        [[ -n $c ]] && kill -TERM "$c" 2>/dev/null
        stop_pid "$pid"
    done
    if ((KEEP)); then
        echo "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Peak RSS in KiB of a running process.
vmhwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- the input file --------------------------------------------------------------------------

FILE=$TMP/input.log
gen_file() {
    # Numbered access-style lines of exactly SIZE bytes: fields up front, then a user agent
    # that is cut (or repeated) to the length.
    awk -v n="$LINES" -v size="$SIZE" '
    BEGIN {
        w = size - 1
        split("INFO INFO INFO INFO DEBUG WARN INFO ERROR", lvl, " ")
        split("api worker auth billing search cache", svc, " ")
        split("GET GET GET POST PUT DELETE", meth, " ")
        split("/v1/orders /v1/users /v1/items /v2/search /v1/cart /healthz", path, " ")
        split("200 200 200 200 201 204 304 404 500", st, " ")
        ua = "ua=\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\""
        tail = ua
        while (length(tail) < w) tail = tail " " ua
        for (i = 1; i <= n; i++) {
            ms = i * 7
            line = sprintf("2026-03-14T%02d:%02d:%02d.%03dZ %-5s %s-%d seq=%09d %s %s/%d st=%s %dms ip=192.0.2.%d %s",
                           int(ms / 3600000) % 24, int(ms / 60000) % 60, int(ms / 1000) % 60,
                           ms % 1000, lvl[i % 8 + 1], svc[i % 6 + 1], i % 4, i, meth[i % 6 + 1],
                           path[i % 6 + 1], (i * 7919) % 100000, st[i % 9 + 1], (i * 31) % 997,
                           i % 254 + 1, tail)
            print substr(line, 1, w)
        }
    }' >"$FILE"
}

# ---- the cluster -----------------------------------------------------------------------------

MOCK_PID=
BS=
TOPIC=
start_mock() {
    local dir=$1 i
    TOPIC=$2
    "$FERRY" mock-kafka --brokers "$BROKERS" --topic "$TOPIC:$PARTS" \
        --bootstrap-file "$dir/bootstrap" >"$dir/mock.log" 2>&1 &
    MOCK_PID=$!
    STARTED+=("$MOCK_PID")
    for ((i = 0; i < 100; i++)); do
        [[ -s $dir/bootstrap ]] && break
        kill -0 "$MOCK_PID" 2>/dev/null || break
        sleep 0.05
    done
    [[ -s $dir/bootstrap ]] || { echo "agent.sh: mock-kafka did not start:" >&2; cat "$dir/mock.log" >&2; exit 1; }
    BS=$(cat "$dir/bootstrap")
}

# Sum of the topic's high watermarks, or -1 when not every partition answered.
hw_sum() {
    local q=() p
    for ((p = 0; p < PARTS; p++)); do q+=(-t "$TOPIC:$p:-1"); done
    { kcat -Q -m 2 -b "$BS" "${q[@]}" 2>/dev/null || true; } |
        awk -v want="$PARTS" '$3 == "offset" && $4 ~ /^[0-9]+$/ {s += $4; n++}
                              END {print (n == want ? s : -1)}'
}

# Polls the topic until it holds LINES messages, the process PID is gone and the topic stopped
# growing, the topic has not grown for STALL_S, or RUN_TIMEOUT passed.
# Sets DONE_US (time of the poll that saw LINES, else of the last poll), GOT, and WHY (empty
# when complete).
wait_delivered() {
    local pid=$1 t0=$2 s s2 last=0 last_change el eta nap
    last_change=$(now_us)
    WHY=timeout
    GOT=0
    while :; do
        s=$(hw_sum)
        DONE_US=$(now_us)
        el=$((DONE_US - t0))
        if ((s >= LINES)); then
            # a second look: the first answer must not have been a glitch
            s2=$(hw_sum)
            if ((s2 >= LINES)); then
                GOT=$s2
                WHY=
                return 0
            fi
        fi
        if ((s > last)); then
            last=$s
            GOT=$s
            last_change=$DONE_US
        fi
        if ! kill -0 "$pid" 2>/dev/null && ((DONE_US - last_change > 2000000)); then
            WHY="exited after $GOT lines"
            return 0
        fi
        ((DONE_US - last_change > STALL_S * 1000000)) && { WHY="stalled at $GOT lines"; return 0; }
        ((el > RUN_TIMEOUT * 1000000)) && { WHY="timed out at $GOT lines"; return 0; }
        # sleep about half the projected time left, between 10 and 250 ms
        if ((last > 0)); then
            eta=$(((LINES - last) * el / last))
            nap=$((eta / 2))
            ((nap < 10000)) && nap=10000
            ((nap > 250000)) && nap=250000
        else
            nap=100000
        fi
        sleep "$(printf '0.%06d' "$nap")"
    done
}

# ---- results ---------------------------------------------------------------------------------

# After an incomplete run: says so, with the end of the contender's logs.
explain() { # name log...
    local name=$1
    shift
    [[ -n $WHY ]] || return 0
    echo "$name: $WHY; the end of its log:" >&2
    tail -n 5 "$@" 2>/dev/null | sed 's/^/  /' >&2 || true
}

# Every run is one line of $TMP/runs: key, wall (us), peak RSS (KiB), CPU (s), messages beyond
# LINES, and why it is incomplete (empty when complete), tab-separated.
RUN=1
ORDER=()
record() { # key wall_us rss_kib cpu_s why
    [[ " ${ORDER[*]} " == *" ${1// /_} "* ]] || ORDER+=("${1// /_}")
    local extra=$((GOT > LINES ? GOT - LINES : 0))
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${1// /_}" "$2" "${3:-0}" "${4:-0}" "$extra" "$5" >>"$TMP/runs"
}

# For each key: the complete run with the median wall time (the lower one of an even count),
# else the last incomplete run. Sets R_OK, R_WALL, R_RSS, R_CPU, R_NOTE.
declare -A R_OK R_WALL R_RSS R_CPU R_NOTE
summarize() {
    local k line ok wall rss cpu note
    for k in "${ORDER[@]}"; do
        line=$(awk -F'\t' -v k="$k" -v runs="$RUNS" '
            $1 != k {next}
            $6 == "" {n++; w[n] = $2; r[n] = $3; c[n] = $4; x[n] = $5; next}
            {bad++; lw = $2; lr = $3; lc = $4; why = $6}
            END {
                if (n == 0) { printf "0\t%s\t%s\t%s\t%s\n", lw, lr, lc, why; exit }
                for (i = 1; i <= n; i++) idx[i] = i
                for (i = 2; i <= n; i++)  # insertion sort by wall time
                    for (j = i; j > 1 && w[idx[j]] < w[idx[j - 1]]; j--) { t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t }
                m = idx[int((n + 1) / 2)]
                note = ""
                if (x[m] > 0) note = x[m] " duplicates"
                if (runs > 1) note = note (note == "" ? "" : "; ") sprintf("median of %d: %.2f-%.2f s", n, w[idx[1]] / 1e6, w[idx[n]] / 1e6)
                if (bad) note = note (note == "" ? "" : "; ") bad " incomplete (" why ")"
                printf "1\t%s\t%s\t%s\t%s\n", w[m], r[m], c[m], note
            }' "$TMP/runs")
        IFS=$'\t' read -r ok wall rss cpu note <<<"$line"
        R_OK[$k]=$ok R_WALL[$k]=$wall R_RSS[$k]=$rss R_CPU[$k]=$cpu R_NOTE[$k]=$note
    done
}

# ---- contenders ------------------------------------------------------------------------------

# finish_run KEY PID T0 LOG...: the end of a run of a contender that runs until it is stopped
# (ferry, rsyslogd), started at T0 (now_us) as PID: waits until the topic holds every line,
# takes the process's peak RSS and CPU seconds, stops it and records the run as KEY (saying
# why, with the end of its LOGs, when it did not complete); then stops the run's mock cluster.
finish_run() {
    local key=$1 pid=$2 t0=$3 rss cpu
    shift 3
    wait_delivered "$pid" "$t0"
    rss=$(vmhwm_kib "$pid")
    cpu=$(cpu_s "$pid")
    stop_pid "$pid"
    explain "$key" "$@"
    record "$key" $((DONE_US - t0)) "$rss" "$cpu" "$WHY"
    stop_pid "$MOCK_PID"
}

run_ferry() {
    local acks=$1 name=${2:-ferry} dir=$TMP/${2:-ferry}-acks-$1-run$RUN pid t0 kv
    mkdir -p "$dir"
    start_mock "$dir" "bench-$name-$acks"
    cat >"$dir/ferry.yaml" <<EOF
kafka:
  brokers: $BS
$( ((${#XPROPS[@]})) && for kv in "${XPROPS[@]}"; do printf '"%s": "%s"\n' "${kv%%=*}" "${kv#*=}"; done |
    paste -sd, - | sed 's/,/, /g; s/^/  producer: {/; s/$/}/')
agent:
  state_dir: $dir/state
  sources:
    - name: bench
      type: tail
      paths: [$FILE]
      start_at: beginning
      topic: $TOPIC
      acks: $acks
EOF
    for kv in "${FERRY_EXTRA[@]}"; do
        printf '      %s\n' "$kv" >>"$dir/ferry.yaml"
    done
    [[ $name == ferry-nh ]] && printf '      headers: false\n' >>"$dir/ferry.yaml"
    "$FERRY" check -c "$dir/ferry.yaml" >/dev/null || { echo "agent.sh: ferry rejects $dir/ferry.yaml" >&2; exit 1; }
    t0=$(now_us)
    "$FERRY" agent -c "$dir/ferry.yaml" >"$dir/agent.log" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    finish_run "$name acks=$acks" "$pid" "$t0" "$dir/agent.log"
}

run_kcat() {
    local acks=$1 name=${2:-kcat} dir=$TMP/${2:-kcat}-acks-$1-run$RUN pid t0 c rss cpu i
    local x=(-X "acks=$acks" -X linger.ms=5 -X partitioner=murmur2_random) kv
    # the same three headers as ferry's, of about the same size (kcat cannot vary the offset)
    [[ $name == kcat-h ]] &&
        x+=(-H "ferry.host=$(hostname)" -H "ferry.path=$FILE" -H "ferry.offset=$((LINES * SIZE / 2))")
    for kv in "${XPROPS[@]}"; do x+=(-X "$kv"); done
    [[ $acks == all ]] && x+=(-X enable.idempotence=true)
    mkdir -p "$dir"
    start_mock "$dir" "bench-$name-$acks"
    t0=$(now_us)
    /usr/bin/time -f '%M %U %S' -o "$dir/time" kcat -P -q -b "$BS" -t "$TOPIC" "${x[@]}" \
        -l "$FILE" >"$dir/kcat.log" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    wait_delivered "$pid" "$t0"
    for ((i = 0; i < 100; i++)); do # kcat exits by itself once everything is acknowledged
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    c=$(child_of "$pid")
    [[ -z $c ]] || kill -TERM "$c" 2>/dev/null || true
    stop_pid "$pid"
    read -r rss cpu < <(awk 'NF == 3 && $1 ~ /^[0-9]+$/ {printf "%s %.2f\n", $1, $2 + $3}' "$dir/time")
    explain "$name acks=$acks" "$dir/kcat.log"
    record "$name acks=$acks" $((DONE_US - t0)) "${rss:-0}" "${cpu:-0}" "$WHY"
    stop_pid "$MOCK_PID"
}

RSYSLOG_SKIP=
rsyslog_conf() { # dir acks
    local dir=$1 acks=$2 brokers idem='' extra='' kv
    brokers=$(tr , '\n' <<<"$BS" | sed 's/.*/"&"/' | paste -sd, -)
    [[ $acks == all ]] && idem=', "enable.idempotence=true"'
    for kv in "${XPROPS[@]}"; do extra+=", \"$kv\""; done
    mkdir -p "$dir/work"
    cat >"$dir/rsyslog.conf" <<EOF
# imuxsock and imklog are never loaded: no /dev/log, no kernel log. rsyslogd's own messages
# stay in this instance (processInternalMessages) and go to a file here, never to the
# system's logger. This instance reads one file and writes one topic.
global(workDirectory="$dir/work" processInternalMessages="on")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="bench_msg" type="string" string="%msg%")
ruleset(name="bench") {
  action(type="omkafka" broker=[$brokers] topic="$TOPIC" template="bench_msg"
         partitions.auto="on"
         confParam=["linger.ms=5", "partitioner=murmur2_random"$idem$extra]
         topicConfParam=["acks=$acks"])
}
input(type="imfile" File="$FILE" Tag="bench:" ruleset="bench" freshStartTail="off")
# rsyslog's own messages
*.* action(type="omfile" file="$dir/rsyslogd.log")
EOF
}

run_rsyslog() {
    local acks=$1 dir=$TMP/rsyslog-acks-$1-run$RUN pid t0
    if [[ -n $RSYSLOG_SKIP ]]; then
        GOT=0 record "rsyslog acks=$acks" 0 0 0 "skipped: $RSYSLOG_SKIP"
        return 0
    fi
    mkdir -p "$dir"
    start_mock "$dir" "bench-rsyslog-$acks"
    rsyslog_conf "$dir" "$acks"
    if ! rsyslogd -N1 -f "$dir/rsyslog.conf" >"$dir/check.log" 2>&1; then
        RSYSLOG_SKIP="its configuration check failed: $(grep -v 'config validation run' "$dir/check.log" | head -1)"
        echo "rsyslog: $RSYSLOG_SKIP" >&2
        GOT=0 record "rsyslog acks=$acks" 0 0 0 "skipped: $RSYSLOG_SKIP"
        stop_pid "$MOCK_PID"
        return 0
    fi
    t0=$(now_us)
    rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" >"$dir/stdout.log" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    finish_run "rsyslog acks=$acks" "$pid" "$t0" "$dir/rsyslogd.log" "$dir/stdout.log"
}

# ---- main ------------------------------------------------------------------------------------

cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5 and 15 min averages, before the runs)"
echo "ferry:   $("$FERRY" --version 2>&1 | head -1)"
echo "kcat:    $(kcat -V 2>&1 | awk '/^Version/ {print; exit}')"
if command -v rsyslogd >/dev/null; then
    echo "rsyslog: $(rsyslogd -v 2>&1 | head -1 | sed 's/ compiled with:$//')"
    [[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so || -n $(find /usr/lib -name omkafka.so -print -quit 2>/dev/null) ]] ||
        RSYSLOG_SKIP="the omkafka module is not installed (package rsyslog-kafka)"
else
    echo "rsyslog: not installed"
    RSYSLOG_SKIP="rsyslogd is not installed (packages rsyslog, rsyslog-kafka)"
fi
[[ -n $RSYSLOG_SKIP && " ${WHO[*]} " == *" rsyslog "* ]] && echo "rsyslog: skipped: $RSYSLOG_SKIP" >&2
# a copy, so that a rebuild while the benchmark runs changes nothing
cp "$FERRY" "$TMP/ferry"
FERRY=$TMP/ferry

t=$(now_us)
gen_file
printf 'input:   %d lines of %d bytes (%.1f MiB), generated in %.1f s; %d brokers, %d partitions per topic\n' \
    "$LINES" "$SIZE" "$(awk -v b="$((LINES * SIZE))" 'BEGIN {print b / 1048576}')" \
    "$(awk -v us="$(($(now_us) - t))" 'BEGIN {print us / 1e6}')" "$BROKERS" "$PARTS"
cat "$FILE" >/dev/null # every contender reads it from the page cache

for ((RUN = 1; RUN <= RUNS; RUN++)); do
    for a in "${ACKS[@]}"; do
        for w in "${WHO[@]}"; do
            echo "running $w acks=$a$( ((RUNS > 1)) && echo " ($RUN of $RUNS)") ..." >&2
            case $w in
            ferry-nh) run_ferry "$a" ferry-nh ;;
            kcat-h) run_kcat "$a" kcat-h ;;
            *) "run_$w" "$a" ;;
            esac
        done
    done
done
summarize

echo
printf '%-18s %10s %9s %9s %8s %9s  %s\n' contender lines/s MiB/s wall_s cpu_s rss_MiB note
for k in "${ORDER[@]}"; do
    awk -v k="${k//_/ }" -v ok="${R_OK[$k]}" -v us="${R_WALL[$k]}" -v rss="${R_RSS[$k]}" \
        -v cpu="${R_CPU[$k]}" -v n="$LINES" -v size="$SIZE" -v note="${R_NOTE[$k]}" 'BEGIN {
        s = us / 1e6
        if (note ~ /^skipped/)
            printf "%-18s %10s %9s %9s %8s %9s  %s\n", k, "-", "-", "-", "-", "-", note
        else if (ok)
            printf "%-18s %10.0f %9.1f %9.2f %8.2f %9.1f  %s\n", k, n / s, n * size / s / 1048576, s, cpu, rss / 1024, note
        else
            printf "%-18s %10s %9s %9.2f %8.2f %9.1f  %s\n", k, "-", "-", s, cpu, rss / 1024, note
    }'
done

# ferry's throughput against each other contender with the same acks
echo
ratio() { # a b: throughput of a over b, both complete
    local a=${1// /_} b=${2// /_}
    [[ ${R_OK[$a]:-0} == 1 && ${R_OK[$b]:-0} == 1 ]] || return 1
    awk -v x="${R_WALL[$a]}" -v y="${R_WALL[$b]}" 'BEGIN {printf "%.2f", y / x}'
}
for a in "${ACKS[@]}"; do
    for pair in ferry/kcat-h ferry-nh/kcat ferry-nh/rsyslog ferry/rsyslog; do
        me=${pair%/*} other=${pair#*/}
        [[ " ${WHO[*]} " == *" $me "* && " ${WHO[*]} " == *" $other "* ]] || continue
        if r=$(ratio "$me acks=$a" "$other acks=$a"); then
            printf '%-18s acks=%-3s  %s x (throughput; above 1: ferry is faster)\n' "$pair" "$a" "$r"
        else
            printf '%-18s acks=%-3s  n/a (a run was skipped or did not complete)\n' "$pair" "$a"
        fi
    done
done
for a in "${ACKS[@]}"; do
    k=ferry_acks=$a
    [[ ${R_RSS[$k]:-0} != 0 ]] || continue
    awk -v k="${k//_/ }" -v rss="${R_RSS[$k]}" -v t="$RSS_TARGET_MIB" 'BEGIN {
        m = rss / 1024
        printf "%s peak RSS %.1f MiB against the %d MiB target: %s\n", k, m, t,
               (m <= t ? sprintf("%.0f%% of it", 100 * m / t) : sprintf("%.1f MiB over", m - t))
    }'
done
