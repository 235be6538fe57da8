#!/usr/bin/env bash
# Start and stop the real servers used by ferry's integration tests and demo.
#
#   tests/stack/stack.sh [-d DIR] start NAME [ARGS...]
#   tests/stack/stack.sh [-d DIR] stop NAME|all
#   tests/stack/stack.sh [-d DIR] crash NAME   SIGKILL (no shutdown: what was not durable is
#                                               lost); start it again on its data with *_KEEP_DATA
#   tests/stack/stack.sh [-d DIR] status
#   tests/stack/stack.sh [-d DIR] env
#   tests/stack/stack.sh [-d DIR] kafka topic|leader|kill|stop-node|start-node|pause|resume|nodes ...
#
# NAME is one of: mariadb redis zookeeper etcd mock-kafka kafka, or all-servers
# (mariadb, redis, zookeeper and etcd, started in parallel).
#
# kafka is Apache Kafka (KRaft, jars fetched with Maven by tests/stack/kafka/fetch.sh):
#   start kafka [--nodes 1|3] [--topic NAME:PARTITIONS[:REPLICAS]]...
#   kafka topic NAME:P[:R]...   create topics with Kafka's admin tool, wait for leaders
#   kafka leader TOPIC P        the node id leading partition P
#   kafka kill|stop-node|start-node|pause|resume N   faults for one node (SIGKILL, SIGTERM,
#                               restart on its data, SIGSTOP, SIGCONT)
#   kafka nodes                 node id, pid and listener of each node
#
# Every component lives in DIR/NAME/ (pid, port, log, data).  Servers listen
# on 127.0.0.1 only, on a free port picked at start time unless overridden.
# DIR/env collects `export VAR=value` lines for tests to source.
#
# Environment:
#   FERRY_STACK_DIR        default for -d (else ./build/stack)
#   FERRY_MYSQL_PORT       fixed port for mariadb
#   FERRY_MYSQL_PASSWORD   password of the 'ferry' user (default ferry-test-pw)
#   FERRY_MYSQL_KEEP_DATA=1  mariadb starts on the data directory of its last run, if any
#                          (restart tests), instead of a fresh one
#   FERRY_ETCD_KEEP_DATA=1   etcd starts on the data directory of its last run, if any
#   FERRY_ZK_KEEP_DATA=1     the same for zookeeper
#   FERRY_MYSQL_ARGS       more mariadbd options, after the defaults (a later one wins), e.g.
#                          "--innodb-flush-log-at-trx-commit=1" for benchmarks
#   FERRY_REDIS_PORT       fixed port for redis
#   FERRY_REDIS_DURABLE=1  redis with an fsynced append-only file (kept across a restart)
#   FERRY_REDIS_ARGS       more redis-server options, after the defaults, e.g.
#                          "--enable-debug-command local --key-load-delay 50" (fault tests)
#   FERRY_ZK_PORT          fixed client port for zookeeper
#   FERRY_ZK_LOG_LEVEL     zookeeper log level (default warn)
#   FERRY_ZK_CLASSPATH     replaces the zookeeper classpath built from /usr/share/java
#   FERRY_ETCD_PORT        fixed client port for etcd
#   FERRY_ETCD_PEER_PORT   fixed peer port for etcd
#   FERRY_BIN              ferry binary for mock-kafka (default ./build/ferry)
#   FERRY_PYTHON           python3 used for port and socket checks
#   FERRY_KAFKA_VERSION    Kafka release for `kafka` (default: tests/stack/kafka/pom.xml)
#   FERRY_KAFKA_JAVA_OPTS  heap and JIT options of each broker JVM

set -euo pipefail

readonly COMPONENTS=(mariadb redis zookeeper etcd mock-kafka kafka)
readonly ALL_SERVERS=(mariadb redis zookeeper etcd)
readonly MYSQL_USER=ferry
readonly MYSQL_DATABASE=ferry
readonly DEFAULT_MYSQL_PASSWORD=ferry-test-pw
readonly PORT_ATTEMPTS=3

PY=${FERRY_PYTHON:-/usr/bin/python3}
if [[ ! -x $PY ]]; then
    PY=$(command -v python3 || true)
fi

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

die() {
    printf 'stack.sh: %s\n' "$*" >&2
    exit 1
}

err() {
    printf '%s\n' "$*" >&2
}

usage() {
    cat <<'EOF'
usage: stack.sh [-d DIR] start NAME [ARGS...]
       stack.sh [-d DIR] stop NAME|all
       stack.sh [-d DIR] crash NAME         SIGKILL; data kept for a restart
       stack.sh [-d DIR] status
       stack.sh [-d DIR] env

       stack.sh [-d DIR] kafka topic|leader|kill|stop-node|start-node|pause|resume|nodes ...

NAME: mariadb redis zookeeper etcd mock-kafka kafka all-servers
DIR defaults to $FERRY_STACK_DIR, else ./build/stack.
EOF
}

is_component() {
    local c
    for c in "${COMPONENTS[@]}"; do
        [[ $c == "$1" ]] && return 0
    done
    return 1
}

# Microseconds since the epoch.
now_us() {
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s' "$((10#$t))"
}

# Seconds with one decimal between a start time (us) and now.
elapsed_since() {
    local d=$(( $(now_us) - $1 ))
    (( d < 0 )) && d=0
    printf '%d.%ds' "$((d / 1000000))" "$(((d % 1000000) / 100000))"
}

# Python helper: port picking, listener ownership, zookeeper probing.
# shellcheck disable=SC2016
readonly PYHELPER='
import os, random, socket, struct, sys

def can_bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # as the servers do: connections of a stopped server in TIME_WAIT do not hold the port
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()

def pick(n):
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except Exception:
        low = 32768
    # Prefer ports below the ephemeral range so that outgoing connections
    # of the tests never take them; fall back to the kernel choice.
    base, top = 20000, low - 1
    use_range = top - base >= 2000
    out, tries = [], 0
    while len(out) < n:
        tries += 1
        if tries > 2000:
            sys.exit("no free port found")
        if use_range and tries < 1000:
            port = random.randint(base, top)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
        if port in out or not can_bind(port):
            continue
        out.append(port)
    print(" ".join(str(p) for p in out))

def owns(pid, port):
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] != "0A":
                        continue
                    if int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add("socket:[%s]" % fields[9])
        except OSError:
            pass
    if not inodes:
        return False
    fddir = "/proc/%d/fd" % pid
    try:
        for fd in os.listdir(fddir):
            try:
                if os.readlink(os.path.join(fddir, fd)) in inodes:
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False

def four_letter(port, word):
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        s.sendall(word)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace")
    finally:
        s.close()

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data

def zk_session(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        body = struct.pack(">iqiqi16sb", 0, 0, 6000, 0, 16, b"\0" * 16, 0)
        s.sendall(struct.pack(">i", len(body)) + body)
        (length,) = struct.unpack(">i", recv_exact(s, 4))
        reply = recv_exact(s, length)
        _, timeout, session = struct.unpack(">iiq", reply[:16])
        if session == 0 or timeout <= 0:
            return False
        close = struct.pack(">ii", 1, -11)
        s.sendall(struct.pack(">i", len(close)) + close)
        (length,) = struct.unpack(">i", recv_exact(s, 4))
        recv_exact(s, length)
        return True
    finally:
        s.close()

def zk(port):
    if four_letter(port, b"ruok").strip() != "imok":
        return False
    if "Mode: standalone" not in four_letter(port, b"srvr"):
        return False
    return zk_session(port)

cmd = sys.argv[1]
try:
    if cmd == "pick":
        pick(int(sys.argv[2]))
    elif cmd == "free":
        sys.exit(0 if can_bind(int(sys.argv[2])) else 1)
    elif cmd == "owns":
        sys.exit(0 if owns(int(sys.argv[2]), int(sys.argv[3])) else 1)
    elif cmd == "zk":
        sys.exit(0 if zk(int(sys.argv[2])) else 1)
    else:
        sys.exit("unknown helper command " + cmd)
except (OSError, ValueError, struct.error):
    sys.exit(1)
'

py() {
    "$PY" -I -S -c "$PYHELPER" "$@"
}

# pick_ports N: prints N distinct free ports on 127.0.0.1.
pick_ports() {
    py pick "$1"
}

port_free() {
    py free "$1"
}

# pid_owns_port PID PORT: PID holds a listening TCP socket on PORT.
pid_owns_port() {
    py owns "$1" "$2"
}

# Shell-sourceable quoting that stays plain for ordinary values.
shell_quote() {
    if [[ $1 =~ ^[A-Za-z0-9_./:,@%+=-]*$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# --------------------------------------------------------------------------
# Process bookkeeping
# --------------------------------------------------------------------------

# proc_starttime PID: kernel start time of PID, empty if gone or a zombie.
proc_starttime() {
    local line rest
    [[ -r /proc/$1/stat ]] || return 1
    read -r line < "/proc/$1/stat" 2>/dev/null || return 1
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    [[ $1 == Z || $1 == X ]] && return 1
    printf '%s' "${20}"
}

# proc_alive PID [STARTTIME]: PID runs and, if given, started at STARTTIME.
proc_alive() {
    local st
    st=$(proc_starttime "$1") || return 1
    [[ -z ${2:-} || $st == "$2" ]]
}

comp_dir() {
    printf '%s/%s' "$DIR" "$1"
}

# comp_pid NAME: prints the recorded PID if that process is still running.
comp_pid() {
    local d pid st=
    d=$(comp_dir "$1")
    [[ -s $d/pid ]] || return 1
    read -r pid < "$d/pid" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -s $d/starttime ]] && read -r st < "$d/starttime"
    proc_alive "$pid" "$st" || return 1
    printf '%s' "$pid"
}

write_file() {
    local f=$1 tmp
    shift
    tmp=$f.tmp.$$.$BASHPID
    printf '%s\n' "$@" > "$tmp"
    mv -f "$tmp" "$f"
}

# launch NAME CMD...: runs CMD in the background with its PID recorded in
# DIR/NAME/pid.  The recorded PID is the server itself (exec in a
# subshell); stdin is /dev/null, stdout and stderr go to the log, and every
# other inherited descriptor is closed so no pipe of the caller stays open.
LAUNCHED_PID=
launch() {
    local name=$1 d log pid st
    shift
    d=$(comp_dir "$name")
    log=$d/log
    (
        for fdpath in /proc/"$BASHPID"/fd/*; do
            fd=${fdpath##*/}
            if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then
                eval "exec $fd>&-" 2>/dev/null || true
            fi
        done
        exec "$@"
    ) </dev/null >>"$log" 2>&1 &
    pid=$!
    st=$(proc_starttime "$pid" || true)
    write_file "$d/pid" "$pid"
    write_file "$d/starttime" "$st"
    LAUNCHED_PID=$pid
}

# kill_pid PID [STARTTIME]: SIGTERM, wait up to 15 s, then SIGKILL.
kill_pid() {
    local pid=$1 st=${2:-} i
    proc_alive "$pid" "$st" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        proc_alive "$pid" "$st" || return 0
        sleep 0.1
    done
    err "stack.sh: pid $pid did not exit after SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" "$st" || return 0
        sleep 0.1
    done
    err "stack.sh: pid $pid is still present after SIGKILL"
    return 1
}

# wait_ready NAME PID TIMEOUT CHECK...: polls CHECK until it succeeds.
# Returns 0 when ready, 1 on timeout, 2 if the process exited.
wait_ready() {
    local name=$1 pid=$2 timeout=$3 deadline
    shift 3
    deadline=$(( $(now_us) + timeout * 1000000 ))
    while :; do
        if ! proc_alive "$pid"; then
            return 2
        fi
        if "$@" >/dev/null 2>&1; then
            # the check may have talked to a server that died right after
            proc_alive "$pid" || return 2
            return 0
        fi
        if (( $(now_us) >= deadline )); then
            return 1
        fi
        sleep 0.1
    done
}

# bind_conflict NAME OFFSET: the log written since OFFSET reports a port clash.
bind_conflict() {
    local log
    log=$(comp_dir "$1")/log
    tail -c "+$(( $2 + 1 ))" "$log" 2>/dev/null | grep -qi 'address already in use'
}

log_size() {
    local f
    f=$(comp_dir "$1")/log
    if [[ -f $f ]]; then
        stat -c %s "$f"
    else
        echo 0
    fi
}

show_log_tail() {
    local log
    log=$(comp_dir "$1")/log
    err "---- last lines of $log ----"
    if [[ -f $log ]]; then
        tail -n 40 "$log" >&2 || true
    fi
    err "----"
}

# --------------------------------------------------------------------------
# env file
# --------------------------------------------------------------------------

env_prefix() {
    case $1 in
    mariadb) echo FERRY_MYSQL_ ;;
    redis) echo FERRY_REDIS_ ;;
    zookeeper) echo FERRY_ZK_ ;;
    etcd) echo FERRY_ETCD_ ;;
    mock-kafka) echo FERRY_KAFKA_ ;;
    kafka) echo FERRY_REAL_KAFKA_ ;;
    *) return 1 ;;
    esac
}

# env_update NAME [VAR=value...]: drops NAME's lines, then appends the new ones.
env_update() {
    local name=$1 prefix envf tmp lockfd kv
    shift
    prefix=$(env_prefix "$name")
    envf=$DIR/env
    tmp=$envf.tmp.$$.$BASHPID
    exec {lockfd}>"$DIR/.env.lock"
    flock -w 60 "$lockfd" || die "cannot lock $DIR/env"
    {
        if [[ -f $envf ]]; then
            grep -v "^export ${prefix}" "$envf" || true
        fi
        for kv in "$@"; do
            printf 'export %s=%s\n' "${kv%%=*}" "$(shell_quote "${kv#*=}")"
        done
    } > "$tmp"
    mv -f "$tmp" "$envf"
    exec {lockfd}>&-
}

# --------------------------------------------------------------------------
# Port selection shared by the servers
# --------------------------------------------------------------------------

# choose_port VARNAME: prints the override port or a free one.
choose_port() {
    local var=$1 val=${!1:-}
    if [[ -z $val ]]; then
        pick_ports 1
        return
    fi
    if ! [[ $val =~ ^[0-9]+$ ]] || (( val < 1 || val > 65535 )); then
        err "$var=$val is not a valid port"
        return 1
    fi
    if ! port_free "$val"; then
        err "port $val (from $var) is already in use on 127.0.0.1"
        return 1
    fi
    printf '%s' "$val"
}

# --------------------------------------------------------------------------
# Components.  Each start_<name> sets READY_DESC on success.  On failure
# it returns non-zero; the caller prints the log and cleans up.
# --------------------------------------------------------------------------

READY_DESC=
READY_PORT=

# run_server NAME TIMEOUT PORTVARS CMDBUILDER CHECK
# Picks ports (retrying on a clash when they were not fixed), builds the
# command with CMDBUILDER (which fills CMD), launches and waits with CHECK.
# PORTVARS is a space separated list of override variable names; the ports
# land in PORTS[] in the same order.
PORTS=()
CMD=()
run_server() {
    local name=$1 timeout=$2 portvars=$3 builder=$4 check=$5
    local attempt offset rc fixed var pid
    local -a vars
    read -r -a vars <<< "$portvars"
    fixed=0
    for var in "${vars[@]}"; do
        [[ -n ${!var:-} ]] && fixed=1
    done
    for ((attempt = 1; attempt <= PORT_ATTEMPTS; attempt++)); do
        PORTS=()
        if (( fixed )); then
            local p
            for var in "${vars[@]}"; do
                p=$(choose_port "$var") || return 1
                PORTS+=("$p")
            done
        else
            local picked
            picked=$(pick_ports "${#vars[@]}") || { err "$name: cannot find a free port"; return 1; }
            read -r -a PORTS <<< "$picked"
        fi
        if (( ${#PORTS[@]} != ${#vars[@]} )); then
            err "$name: expected ${#vars[@]} port(s), got '${PORTS[*]}'"
            return 1
        fi
        "$builder"
        offset=$(log_size "$name")
        launch "$name" "${CMD[@]}"
        pid=$LAUNCHED_PID
        rc=0
        wait_ready "$name" "$pid" "$timeout" "$check" || rc=$?
        if (( rc == 0 )); then
            if pid_owns_port "$pid" "${PORTS[0]}"; then
                return 0
            fi
            err "$name: pid $pid answers but does not listen on port ${PORTS[0]}"
            return 1
        fi
        if (( rc == 1 )); then
            err "$name: not ready within ${timeout}s"
            return 1
        fi
        # the process exited: retry on a port clash with fresh ports
        if (( !fixed )) && bind_conflict "$name" "$offset" && (( attempt < PORT_ATTEMPTS )); then
            err "$name: port ${PORTS[*]} was taken meanwhile, retrying with another port"
            rm -f "$(comp_dir "$name")/pid" "$(comp_dir "$name")/starttime"
            continue
        fi
        err "$name: process $pid exited during startup"
        return 1
    done
    return 1
}

# ---- mariadb ----------------------------------------------------------------

MYSQL_SOCK=
mysql_password() {
    printf '%s' "${FERRY_MYSQL_PASSWORD:-$DEFAULT_MYSQL_PASSWORD}"
}

mysql_sql_quote() {
    local s=${1//\\/\\\\}
    printf "'%s'" "${s//\'/\\\'}"
}

mariadb_socket_path() {
    local d sock
    d=$(comp_dir mariadb)
    sock=$d/sock
    # unix socket paths are limited to 107 bytes
    if (( ${#sock} > 100 )); then
        local short
        short=$(mktemp -d /tmp/ferry-stack-mysql.XXXXXX)
        write_file "$d/sockdir" "$short"
        sock=$short/sock
    fi
    printf '%s' "$sock"
}

# No --log-error: mariadbd would write to "log.err"; without it the error
# log goes to stderr, which launch() points at DIR/mariadb/log.
mariadb_cmd() {
    local d
    d=$(comp_dir mariadb)
    # a tmpdir of its own: a server that starts removes the temporary tables it finds in its
    # tmpdir, and the private servers of some tests would take the shared one's from /tmp
    mkdir -p "$d/tmp"
    CMD=(mariadbd --no-defaults
        --datadir="$d/data"
        --tmpdir="$d/tmp"
        --socket="$MYSQL_SOCK"
        --port="${PORTS[0]}"
        --bind-address=127.0.0.1
        --pid-file="$d/mariadbd.pid"
        --skip-name-resolve
        --innodb-buffer-pool-size=64M
        --innodb-log-file-size=48M
        --innodb-flush-log-at-trx-commit=2
        --local-infile=1
        --max-connections=200)
    # shellcheck disable=SC2206 # word splitting of the extra options is the point
    [[ -n ${FERRY_MYSQL_ARGS:-} ]] && CMD+=($FERRY_MYSQL_ARGS)
    if (( EUID == 0 )); then
        CMD+=(--user=root)
    fi
}

mariadb_check() {
    timeout 5 mariadb-admin --no-defaults --connect-timeout=1 -uroot -S "$MYSQL_SOCK" ping
}

start_mariadb() {
    local d pw qpw sql
    d=$(comp_dir mariadb)
    command -v mariadbd >/dev/null || PATH=$PATH:/usr/sbin
    command -v mariadbd >/dev/null || { err "mariadb: mariadbd not found"; return 1; }
    MYSQL_SOCK=$(mariadb_socket_path)
    rm -f "$MYSQL_SOCK"
    if [[ ${FERRY_MYSQL_KEEP_DATA:-} == 1 && -d $d/data/mysql ]]; then
        :
    elif ! { rm -rf "$d/data" && mkdir -p "$d/data"; } ||
        ! timeout 120 mariadb-install-db --no-defaults --datadir="$d/data" \
        --auth-root-authentication-method=normal --skip-test-db \
        --skip-name-resolve --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
        </dev/null >>"$d/log" 2>&1; then
        err "mariadb: mariadb-install-db failed"
        return 1
    fi
    run_server mariadb 30 FERRY_MYSQL_PORT mariadb_cmd mariadb_check || return 1

    pw=$(mysql_password)
    qpw=$(mysql_sql_quote "$pw")
    sql="CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
    local host
    for host in 127.0.0.1 localhost; do
        sql+="CREATE USER IF NOT EXISTS '$MYSQL_USER'@'$host' IDENTIFIED BY $qpw;"
        sql+="ALTER USER '$MYSQL_USER'@'$host' IDENTIFIED BY $qpw;"
        sql+="GRANT ALL PRIVILEGES ON *.* TO '$MYSQL_USER'@'$host' WITH GRANT OPTION;"
    done
    sql+="FLUSH PRIVILEGES;"
    if ! timeout 20 mariadb --no-defaults -uroot -S "$MYSQL_SOCK" -e "$sql" </dev/null >>"$d/log" 2>&1; then
        err "mariadb: creating user and database failed"
        return 1
    fi
    if ! MYSQL_PWD=$pw timeout 20 mariadb --no-defaults --connect-timeout=5 -h 127.0.0.1 \
        -P "${PORTS[0]}" -u "$MYSQL_USER" "$MYSQL_DATABASE" -e 'SELECT 1' </dev/null >>"$d/log" 2>&1; then
        err "mariadb: cannot log in as $MYSQL_USER over TCP"
        return 1
    fi
    READY_PORT=${PORTS[0]}
    READY_DESC="127.0.0.1:${PORTS[0]}"
    env_update mariadb \
        FERRY_MYSQL_HOST=127.0.0.1 \
        "FERRY_MYSQL_PORT=${PORTS[0]}" \
        "FERRY_MYSQL_USER=$MYSQL_USER" \
        "FERRY_MYSQL_PASSWORD=$pw" \
        "FERRY_MYSQL_DATABASE=$MYSQL_DATABASE" \
        "FERRY_MYSQL_SOCKET=$MYSQL_SOCK"
}

mariadb_cleanup() {
    local d short
    d=$(comp_dir mariadb)
    if [[ -s $d/sockdir ]]; then
        read -r short < "$d/sockdir" || true
        if [[ $short == /tmp/ferry-stack-mysql.* ]]; then
            rm -rf "$short"
        fi
        rm -f "$d/sockdir"
    fi
}

# ---- redis ------------------------------------------------------------------

redis_cmd() {
    local d
    d=$(comp_dir redis)
    CMD=(redis-server --port "${PORTS[0]}" --bind 127.0.0.1 --save "" --daemonize no --dir "$d"
        --logfile "$d/log")
    # FERRY_REDIS_DURABLE=1: every write in the append-only file before the reply, so that a
    # restarted server has everything it acknowledged (restart tests)
    if [[ ${FERRY_REDIS_DURABLE:-} == 1 ]]; then
        CMD+=(--appendonly yes --appendfsync always)
    else
        CMD+=(--appendonly no)
    fi
    # shellcheck disable=SC2206 # word splitting of the extra options is the point
    [[ -n ${FERRY_REDIS_ARGS:-} ]] && CMD+=($FERRY_REDIS_ARGS)
    return 0
}

redis_check() {
    local out
    out=$(timeout 2 redis-cli -h 127.0.0.1 -p "${PORTS[0]}" ping 2>/dev/null) || return 1
    [[ $out == PONG ]]
}

start_redis() {
    run_server redis 20 FERRY_REDIS_PORT redis_cmd redis_check || return 1
    READY_PORT=${PORTS[0]}
    READY_DESC="127.0.0.1:${PORTS[0]}"
    env_update redis FERRY_REDIS_HOST=127.0.0.1 "FERRY_REDIS_PORT=${PORTS[0]}"
}

# ---- zookeeper --------------------------------------------------------------

zk_classpath() {
    if [[ -n ${FERRY_ZK_CLASSPATH:-} ]]; then
        printf '%s' "$FERRY_ZK_CLASSPATH"
        return 0
    fi
    local j=/usr/share/java cp jar
    [[ -f $j/zookeeper.jar ]] || return 1
    # zookeeper.jar's manifest lists its own dependencies; name the core
    # ones explicitly and add an slf4j binding so the server really logs.
    cp=$j/zookeeper.jar
    for jar in zookeeper-jute.jar slf4j-api.jar slf4j-simple.jar; do
        [[ -f $j/$jar ]] && cp+=:$j/$jar
    done
    printf '%s' "$cp"
}

zk_cmd() {
    local d
    d=$(comp_dir zookeeper)
    cat > "$d/zoo.cfg" <<EOF
tickTime=500
dataDir=$d/data
clientPort=${PORTS[0]}
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat
maxClientCnxns=0
forceSync=no
EOF
    CMD=(java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
        -Djava.awt.headless=true
        -Dzookeeper.jmx.log4j.disable=true
        -Dorg.slf4j.simpleLogger.defaultLogLevel="${FERRY_ZK_LOG_LEVEL:-warn}"
        -Dorg.slf4j.simpleLogger.showDateTime=true
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS"
        -cp "$ZK_CP"
        org.apache.zookeeper.server.ZooKeeperServerMain "$d/zoo.cfg")
}

zk_check() {
    py zk "${PORTS[0]}"
}

ZK_CP=
start_zookeeper() {
    local d
    d=$(comp_dir zookeeper)
    command -v java >/dev/null || { err "zookeeper: java not found"; return 1; }
    ZK_CP=$(zk_classpath) || { err "zookeeper: /usr/share/java/zookeeper.jar not found"; return 1; }
    # a restart test keeps the data: the stored keys and the election's sequence numbers
    [[ ${FERRY_ZK_KEEP_DATA:-} == 1 && -d $d/data/version-2 ]] || rm -rf "$d/data"
    mkdir -p "$d/data"
    run_server zookeeper 60 FERRY_ZK_PORT zk_cmd zk_check || return 1
    READY_PORT=${PORTS[0]}
    READY_DESC="127.0.0.1:${PORTS[0]}"
    env_update zookeeper "FERRY_ZK_HOSTS=127.0.0.1:${PORTS[0]}" "FERRY_ZK_PORT=${PORTS[0]}"
}

# ---- etcd -------------------------------------------------------------------

etcd_cmd() {
    local d c p
    d=$(comp_dir etcd)
    c=${PORTS[0]}
    p=${PORTS[1]}
    # a restart test keeps the data: etcd's revisions (ferry's fencing tokens) go on rising
    [[ ${FERRY_ETCD_KEEP_DATA:-} == 1 && -d $d/data/member ]] || rm -rf "$d/data"
    CMD=(etcd --name ferry-test --data-dir "$d/data"
        --listen-client-urls "http://127.0.0.1:$c"
        --advertise-client-urls "http://127.0.0.1:$c"
        --listen-peer-urls "http://127.0.0.1:$p"
        --initial-advertise-peer-urls "http://127.0.0.1:$p"
        --initial-cluster "ferry-test=http://127.0.0.1:$p"
        --initial-cluster-state new
        --logger zap --log-outputs stderr --log-level warn)
}

etcd_check() {
    if command -v curl >/dev/null; then
        timeout 3 curl -fsS --noproxy '*' --max-time 2 "http://127.0.0.1:${PORTS[0]}/health" |
            grep -q '"health":"true"'
    else
        ETCDCTL_API=3 timeout 5 etcdctl --endpoints "127.0.0.1:${PORTS[0]}" \
            --dial-timeout=1s --command-timeout=2s endpoint health
    fi
}

start_etcd() {
    local d
    d=$(comp_dir etcd)
    command -v etcd >/dev/null || { err "etcd: etcd not found"; return 1; }
    run_server etcd 20 "FERRY_ETCD_PORT FERRY_ETCD_PEER_PORT" etcd_cmd etcd_check || return 1
    write_file "$d/peer-port" "${PORTS[1]}"
    READY_PORT=${PORTS[0]}
    READY_DESC="127.0.0.1:${PORTS[0]} (peer ${PORTS[1]})"
    env_update etcd "FERRY_ETCD_ENDPOINTS=127.0.0.1:${PORTS[0]}" "FERRY_ETCD_PORT=${PORTS[0]}"
}

# ---- mock-kafka -------------------------------------------------------------

start_mock_kafka() {
    local d bin bootstrap pid rc first arg has_brokers=0
    d=$(comp_dir mock-kafka)
    bin=${FERRY_BIN:-./build/ferry}
    [[ $bin == /* ]] || bin=$PWD/${bin#./}
    if [[ ! -x $bin ]]; then
        err "mock-kafka: ferry binary $bin not found or not executable (set FERRY_BIN)"
        return 1
    fi
    for arg in "$@"; do
        [[ $arg == --brokers || $arg == --brokers=* ]] && has_brokers=1
    done
    bootstrap=$d/bootstrap
    rm -f "$bootstrap"
    local -a args=(mock-kafka)
    (( has_brokers )) || args+=(--brokers 3)
    args+=("$@" --bootstrap-file "$bootstrap")
    launch mock-kafka "$bin" "${args[@]}"
    pid=$LAUNCHED_PID
    rc=0
    wait_ready mock-kafka "$pid" 20 test -s "$bootstrap" || rc=$?
    if (( rc == 1 )); then
        err "mock-kafka: bootstrap file not written within 20s"
        return 1
    elif (( rc != 0 )); then
        err "mock-kafka: process $pid exited during startup"
        return 1
    fi
    local list
    list=$(tr -d ' \t\r\n' < "$bootstrap")
    [[ -n $list ]] || { err "mock-kafka: empty bootstrap file"; return 1; }
    first=${list%%,*}
    READY_PORT=${first##*:}
    READY_DESC=$list
    env_update mock-kafka "FERRY_KAFKA_BOOTSTRAP=$list"
}

# ---- kafka (Apache Kafka, KRaft) --------------------------------------------

# shellcheck source=kafka/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka/cluster.sh"

# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

# start_one NAME [ARGS...]
start_one() {
    local name=$1 d lockfd t0 pid
    shift
    d=$(comp_dir "$name")
    mkdir -p "$d"
    exec {lockfd}>"$d/lock"
    flock -w 180 "$lockfd" || die "$name: cannot lock $d/lock"
    if pid=$(comp_pid "$name") || { [[ $name == kafka ]] && pid=$(comp_pid kafka/node1); }; then
        echo "$name already running (pid $pid)"
        exec {lockfd}>&-
        return 0
    fi
    rm -f "$d/pid" "$d/starttime" "$d/port"
    [[ $name == mariadb ]] && mariadb_cleanup
    : > "$d/log"
    t0=$(now_us)
    READY_DESC=
    READY_PORT=
    local ok=0
    case $name in
    mariadb) start_mariadb && ok=1 ;;
    redis) start_redis && ok=1 ;;
    zookeeper) start_zookeeper && ok=1 ;;
    etcd) start_etcd && ok=1 ;;
    mock-kafka) start_mock_kafka "$@" && ok=1 ;;
    kafka) start_kafka "$@" && ok=1 ;;
    esac
    if (( ok )); then
        if [[ $name == kafka ]]; then
            pid=$(kafka_cmd nodes | awk '{print $2}' | paste -sd, -)
        else
            pid=$(comp_pid "$name" || true)
        fi
        write_file "$d/port" "$READY_PORT"
        echo "$name: ready on $READY_DESC in $(elapsed_since "$t0") (pid $pid)"
        exec {lockfd}>&-
        return 0
    fi
    err "$name: start failed after $(elapsed_since "$t0")"
    show_log_tail "$name"
    stop_process "$name" >/dev/null 2>&1 || true
    exec {lockfd}>&-
    return 1
}

start_all_servers() {
    local name rc=0 d
    local -A jobs=()
    for name in "${ALL_SERVERS[@]}"; do
        d=$(comp_dir "$name")
        mkdir -p "$d"
        ( start_one "$name" ) >"$d/start.out" 2>"$d/start.err" &
        jobs[$name]=$!
    done
    for name in "${ALL_SERVERS[@]}"; do
        d=$(comp_dir "$name")
        if ! wait "${jobs[$name]}"; then
            rc=1
        fi
        cat "$d/start.out"
        cat "$d/start.err" >&2
        rm -f "$d/start.out" "$d/start.err"
    done
    return "$rc"
}

# stop_process NAME: stops the recorded process and forgets it.
stop_process() {
    local name=$1 d pid st=
    if [[ $name == kafka ]]; then
        stop_kafka
        return
    fi
    d=$(comp_dir "$name")
    if [[ -s $d/pid ]]; then
        read -r pid < "$d/pid" || pid=
        [[ -s $d/starttime ]] && read -r st < "$d/starttime"
        if [[ $pid =~ ^[0-9]+$ ]]; then
            kill_pid "$pid" "$st" || return 1
        fi
    fi
    rm -f "$d/pid" "$d/starttime" "$d/port" "$d/peer-port"
    [[ $name == mariadb ]] && mariadb_cleanup
    [[ $name == */* ]] || env_update "$name"
    return 0
}

# crash NAME: SIGKILL of a server, as a power cut or the OOM killer would end it; its data
# directory stays for a restart (FERRY_MYSQL_KEEP_DATA=1, FERRY_REDIS_DURABLE=1, ...).
crash_one() {
    local name=$1 d pid st= i
    [[ $name != kafka ]] || die "crash: use 'kafka kill N' for a Kafka node"
    pid=$(comp_pid "$name") || die "crash: $name is not running"
    d=$(comp_dir "$name")
    [[ -s $d/starttime ]] && read -r st < "$d/starttime"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        proc_alive "$pid" "$st" || break
        sleep 0.05
    done
    proc_alive "$pid" "$st" && die "crash: pid $pid of $name still present after SIGKILL"
    rm -f "$d/pid" "$d/starttime"
    [[ $name == mariadb ]] && mariadb_cleanup
    echo "$name: crashed (SIGKILL of pid $pid)"
}

stop_one() {
    local name=$1 d pid t0
    d=$(comp_dir "$name")
    if [[ $name == kafka && -s $d/nodes ]]; then
        t0=$(now_us)
        stop_kafka || { err "kafka: failed to stop every node"; return 1; }
        echo "kafka: stopped in $(elapsed_since "$t0")"
        return 0
    fi
    if ! pid=$(comp_pid "$name"); then
        [[ -d $d ]] && stop_process "$name"
        [[ -f $DIR/env ]] && env_update "$name"
        echo "$name: not running"
        return 0
    fi
    t0=$(now_us)
    if stop_process "$name"; then
        echo "$name: stopped (pid $pid) in $(elapsed_since "$t0")"
        return 0
    fi
    err "$name: failed to stop pid $pid"
    return 1
}

stop_all() {
    local f name rc=0
    local -a names=() pids=()
    for f in "$DIR"/*/pid; do
        [[ -e $f ]] || continue
        name=${f%/pid}
        name=${name##*/}
        is_component "$name" || continue
        names+=("$name")
    done
    [[ -s $DIR/kafka/nodes ]] && names+=(kafka)
    if (( ${#names[@]} == 0 )); then
        echo "nothing running"
        return 0
    fi
    for name in "${names[@]}"; do
        stop_one "$name" &
        pids+=($!)
    done
    for f in "${pids[@]}"; do
        wait "$f" || rc=1
    done
    return "$rc"
}

status() {
    local name d pid port state
    for name in "${COMPONENTS[@]}"; do
        d=$(comp_dir "$name")
        pid=-
        port=-
        state=down
        if [[ -s $d/port ]]; then
            read -r port < "$d/port" || port=-
        fi
        if [[ $name == kafka ]]; then
            if [[ -s $d/nodes ]] && pid=$(comp_pid kafka/node1); then
                state="up ($(kafka_nodes) nodes)"
            else
                pid=-
            fi
        elif pid=$(comp_pid "$name"); then
            if [[ $name == mock-kafka ]]; then
                [[ -s $d/bootstrap ]] && state=up
            elif [[ $port =~ ^[0-9]+$ ]] && pid_owns_port "$pid" "$port"; then
                state=up
            fi
        else
            pid=-
        fi
        echo "$name $pid $port $state"
    done
}

# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

main() {
    local dir=${FERRY_STACK_DIR:-./build/stack}
    while (( $# )); do
        case $1 in
        -d | --dir)
            (( $# >= 2 )) || die "-d needs a directory"
            dir=$2
            shift 2
            ;;
        --dir=*)
            dir=${1#--dir=}
            shift
            ;;
        -h | --help | help)
            usage
            return 0
            ;;
        --)
            shift
            break
            ;;
        -*)
            usage >&2
            die "unknown option $1"
            ;;
        *) break ;;
        esac
    done
    (( $# )) || { usage >&2; exit 2; }
    [[ -n $PY ]] || die "python3 is required"

    mkdir -p "$dir"
    DIR=$(cd "$dir" && pwd)
    readonly DIR

    local cmd=$1
    shift
    case $cmd in
    start)
        (( $# )) || die "start needs a component name"
        local name=$1
        shift
        if [[ $name == all-servers ]]; then
            (( $# == 0 )) || die "all-servers takes no arguments"
            start_all_servers
        elif is_component "$name"; then
            if [[ $name != mock-kafka && $name != kafka && $# -gt 0 ]]; then
                die "$name takes no arguments"
            fi
            start_one "$name" "$@"
        else
            die "unknown component '$name' (one of: ${COMPONENTS[*]} all-servers)"
        fi
        ;;
    stop)
        (( $# == 1 )) || die "stop needs exactly one name or 'all'"
        if [[ $1 == all ]]; then
            stop_all
        elif [[ $1 == all-servers ]]; then
            local n rc=0
            for n in "${ALL_SERVERS[@]}"; do
                stop_one "$n" || rc=1
            done
            return "$rc"
        elif is_component "$1"; then
            stop_one "$1"
        else
            die "unknown component '$1'"
        fi
        ;;
    crash)
        (( $# == 1 )) && is_component "$1" || die "crash needs one component name"
        crash_one "$1"
        ;;
    status)
        status
        ;;
    kafka)
        kafka_cmd "$@"
        ;;
    env)
        if [[ -f $DIR/env ]]; then
            cat "$DIR/env"
        fi
        ;;
    *)
        usage >&2
        die "unknown command '$cmd'"
        ;;
    esac
}

main "$@"
