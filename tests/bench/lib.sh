# Helpers for the benchmarks (agent.sh, sink.sh); sourced.

# usage_lines FIRST LAST: prints lines FIRST..LAST of the benchmark's header comment (its usage,
# without the leading '# ') to stderr, and exits 2.
usage_lines() {
    sed -n "$1,$2s/^# \{0,1\}//p" "$0" >&2
    exit 2
}

# now_us: the wall clock, in microseconds
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }

# cpu_s PID: the CPU seconds (user + system, every thread) process PID used so far; nothing once
# it is gone
cpu_s() {
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null |
        awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}
