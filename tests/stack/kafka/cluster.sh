# Apache Kafka in KRaft combined mode (every node is broker and controller), 1 or 3 nodes on
# 127.0.0.1. Sourced by tests/stack/stack.sh, whose helpers (launch, kill_pid, pick_ports,
# comp_pid, env_update, ...) it uses.
#
# Layout under DIR/kafka/:
#   nodes            the node count; its presence means "a cluster was started here"
#   lib              the classpath directory (tests/stack/kafka/fetch.sh)
#   bootstrap        host:port,... of every broker listener
#   log4j.properties broker logging (INFO, to each node's log)
#   nodeN/           server.properties, data/, log, pid, starttime, broker-port,
#                    controller-port
#
# A node keeps its data across kill/stop-node/start-node, so a restarted broker rejoins with
# its log; `stop kafka` removes the pids but keeps logs for a look after a failed test.

KAFKA_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

kafka_dir() { comp_dir kafka; }

# Heap and JIT for brokers: small heaps (two cores, three JVMs), and C1 only, which starts
# much faster than tiered C2 and is plenty for test loads. FERRY_KAFKA_JAVA_OPTS replaces it
# (benchmarks want the full JIT).
kafka_java_opts() {
    # shellcheck disable=SC2206
    local -a opts=(${FERRY_KAFKA_JAVA_OPTS:--Xms256m -Xmx512m -XX:TieredStopAtLevel=1})
    printf '%s\n' "${opts[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:-UsePerfData \
        -Djava.awt.headless=true
}

kafka_lib() {
    local d
    d=$(kafka_dir)
    [[ -s $d/lib ]] || return 1
    cat "$d/lib"
}

# kafka_class NAME: the main class recorded by fetch.sh for this version (KAFKA_MAIN, ...).
kafka_class() {
    local lib
    lib=$(kafka_lib) || return 1
    sed -n "s/^$1=//p" "$lib/classes.env"
}

# kafka_tool KEY ARGS...: runs one of Kafka's command line tools (a short-lived JVM) with
# warnings only, on stderr.
kafka_tool() {
    local key=$1 lib cls
    shift
    lib=$(kafka_lib) || { err "kafka: no cluster here (start kafka first)"; return 1; }
    cls=$(kafka_class "$key")
    [[ -n $cls ]] || { err "kafka: no $key tool in this Kafka version"; return 1; }
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData \
        "-Dlog4j.configuration=file:$(kafka_dir)/tools-log4j.properties" -Dlog4j1.compatibility=true \
        -cp "$lib/*" "$cls" "$@"
}

kafka_nodes() {
    local d n
    d=$(kafka_dir)
    [[ -s $d/nodes ]] || return 1
    read -r n < "$d/nodes"
    printf '%s' "$n"
}

kafka_bootstrap() {
    cat "$(kafka_dir)/bootstrap"
}

# kafka_brokers_seen BOOTSTRAP: the number of brokers in the cluster's metadata.
kafka_brokers_seen() {
    local meta
    meta=$(timeout 10 kcat -L -b "$1" -m 5 2>/dev/null) || return 1
    grep -c '^  broker ' <<< "$meta"
}

kafka_write_config() {
    local n=$1 i d voters="" isr
    d=$(kafka_dir)
    for ((i = 1; i <= n; i++)); do
        voters+="${voters:+,}$i@127.0.0.1:$(cat "$d/node$i/controller-port")"
    done
    isr=$(( n >= 3 ? 2 : 1 ))
    for ((i = 1; i <= n; i++)); do
        local nd=$d/node$i
        cat > "$nd/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(cat "$nd/broker-port"),CONTROLLER://127.0.0.1:$(cat "$nd/controller-port")
advertised.listeners=PLAINTEXT://127.0.0.1:$(cat "$nd/broker-port")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$n
min.insync.replicas=$isr
offsets.topic.replication.factor=$n
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$n
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
auto.create.topics.enable=false
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
log.segment.bytes=134217728
EOF
    done
    cat > "$d/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
    cat > "$d/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m (%c)%n
EOF
}

# kafka_launch_node I: starts node I on its formatted storage and records its pid.
kafka_launch_node() {
    local i=$1 d lib
    d=$(kafka_dir)
    lib=$(kafka_lib)
    local -a opts
    mapfile -t opts < <(kafka_java_opts)
    launch "kafka/node$i" java "${opts[@]}" \
        "-Dlog4j.configuration=file:$d/log4j.properties" -Dlog4j1.compatibility=true \
        "-Dkafka.logs.dir=$d/node$i" \
        -cp "$lib/*" "$(kafka_class KAFKA_MAIN)" "$d/node$i/server.properties"
}

# kafka_wait_node I TIMEOUT: node I listens on its broker port.
kafka_wait_node() {
    local i=$1 timeout=$2 pid port rc=0
    pid=$(comp_pid "kafka/node$i") || { err "kafka: node $i is not running"; return 2; }
    port=$(cat "$(kafka_dir)/node$i/broker-port")
    wait_ready "kafka/node$i" "$pid" "$timeout" pid_owns_port "$pid" "$port" || rc=$?
    case $rc in
    0) return 0 ;;
    1) err "kafka: node $i not listening on $port within ${timeout}s" ;;
    *) err "kafka: node $i (pid $pid) exited during startup" ;;
    esac
    return "$rc"
}

# kafka_wait_cluster TIMEOUT: every node is in the metadata.
kafka_wait_cluster() {
    local timeout=$1 n bs deadline seen=0
    n=$(kafka_nodes)
    bs=$(kafka_bootstrap)
    deadline=$(( $(now_us) + timeout * 1000000 ))
    while :; do
        seen=$(kafka_brokers_seen "$bs" || echo 0)
        (( seen == n )) && return 0
        if (( $(now_us) >= deadline )); then
            err "kafka: $seen of $n brokers in the metadata after ${timeout}s"
            return 1
        fi
        sleep 0.2
    done
}

# start_kafka [--nodes N] [--topic NAME:PARTITIONS[:REPLICAS]]...
start_kafka() {
    local n=1 d lib cid i
    local -a topics=()
    while (( $# )); do
        case $1 in
        --nodes) n=${2:-}; shift 2 || true ;;
        --nodes=*) n=${1#--nodes=}; shift ;;
        --topic) topics+=("${2:-}"); shift 2 || true ;;
        --topic=*) topics+=("${1#--topic=}"); shift ;;
        *) err "kafka: unknown argument '$1' (--nodes N, --topic NAME:P[:R])"; return 1 ;;
        esac
    done
    [[ $n == 1 || $n == 3 ]] || { err "kafka: --nodes must be 1 or 3, not '$n'"; return 1; }
    command -v java >/dev/null || { err "kafka: java not found"; return 1; }
    command -v kcat >/dev/null || { err "kafka: kcat not found"; return 1; }
    d=$(kafka_dir)
    lib=$("$KAFKA_HERE/fetch.sh") || { err "kafka: fetching the Kafka jars failed"; return 1; }
    write_file "$d/lib" "$lib"

    local ports
    ports=$(pick_ports $((2 * n))) || { err "kafka: cannot find free ports"; return 1; }
    local -a p
    read -r -a p <<< "$ports"
    local bs=""
    for ((i = 1; i <= n; i++)); do
        rm -rf "$d/node$i"
        mkdir -p "$d/node$i/data"
        write_file "$d/node$i/broker-port" "${p[2 * i - 2]}"
        write_file "$d/node$i/controller-port" "${p[2 * i - 1]}"
        bs+="${bs:+,}127.0.0.1:${p[2 * i - 2]}"
    done
    write_file "$d/bootstrap" "$bs"
    kafka_write_config "$n"

    # Kafka's own storage tool formats each node with one cluster id (in parallel: each is a
    # JVM start).
    cid=$(kafka_tool KAFKA_STORAGE_TOOL random-uuid) || { err "kafka: random-uuid failed"; return 1; }
    local -a fmt=()
    for ((i = 1; i <= n; i++)); do
        kafka_tool KAFKA_STORAGE_TOOL format -t "$cid" -c "$d/node$i/server.properties" \
            >> "$d/node$i/log" 2>&1 &
        fmt+=($!)
    done
    for i in "${fmt[@]}"; do
        wait "$i" || { err "kafka: formatting storage failed (see $d/node*/log)"; return 1; }
    done
    write_file "$d/cluster.id" "$cid"

    write_file "$d/nodes" "$n"
    for ((i = 1; i <= n; i++)); do
        kafka_launch_node "$i"
    done
    for ((i = 1; i <= n; i++)); do
        kafka_wait_node "$i" 90 || { kafka_show_logs; return 1; }
    done
    kafka_wait_cluster 60 || { kafka_show_logs; return 1; }
    if (( ${#topics[@]} )); then
        kafka_topics "${topics[@]}" || return 1
    fi
    READY_PORT=${p[0]}
    READY_DESC="$bs ($n node$( ((n > 1)) && echo s), Kafka $(kafka_class KAFKA_VERSION))"
    env_update kafka "FERRY_REAL_KAFKA_BOOTSTRAP=$bs" "FERRY_REAL_KAFKA_NODES=$n" \
        "FERRY_REAL_KAFKA_LIB=$lib"
}

kafka_show_logs() {
    local f
    for f in "$(kafka_dir)"/node*/log; do
        [[ -f $f ]] || continue
        err "---- last lines of $f ----"
        grep -E ' (ERROR|FATAL) |Exception' "$f" | tail -n 10 >&2 || true
        tail -n 10 "$f" >&2 || true
    done
}

# kafka_partitions_ready TOPIC PARTITIONS REPLICAS: every partition has a leader and its
# full replica set in sync, in the metadata of every broker (a client may ask any of them; one
# that has not heard of the topic yet says it has no partitions).
kafka_partitions_ready() {
    local b
    for b in $(kafka_bootstrap | tr ',' ' '); do
        kafka_partitions_ready_at "$b" "$@" || return 1
    done
}

kafka_partitions_ready_at() {
    local bs=$1 t=$2 np=$3 rf=$4
    timeout 10 kcat -L -b "$bs" -t "$t" -J 2>/dev/null |
        "$PY" -c '
import json, sys
t, np, rf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
md = json.load(sys.stdin)
for topic in md.get("topics", []):
    if topic.get("topic") != t or topic.get("error"):
        continue
    parts = topic.get("partitions", [])
    ok = len(parts) == np and all(
        p.get("leader", -1) >= 0 and len(p.get("isrs", [])) >= rf for p in parts)
    sys.exit(0 if ok else 1)
sys.exit(1)' "$t" "$np" "$rf"
}

# kafka_topics NAME:PARTITIONS[:REPLICAS]...: creates topics with Kafka's admin tool
# (replicas default to the node count) and waits until each partition is led and in sync.
kafka_topics() {
    local spec name np rf n bs deadline
    n=$(kafka_nodes) || { err "kafka: no cluster here (start kafka first)"; return 1; }
    bs=$(kafka_bootstrap)
    for spec in "$@"; do
        IFS=: read -r name np rf <<< "$spec"
        rf=${rf:-$n}
        if [[ -z $name || ! $np =~ ^[1-9][0-9]*$ || ! $rf =~ ^[1-9][0-9]*$ ]]; then
            err "kafka: bad topic '$spec' (NAME:PARTITIONS[:REPLICAS])"
            return 1
        fi
        kafka_tool KAFKA_TOPIC_COMMAND --bootstrap-server "$bs" --create --if-not-exists \
            --topic "$name" --partitions "$np" --replication-factor "$rf" >/dev/null ||
            { err "kafka: creating topic $name failed"; return 1; }
        deadline=$(( $(now_us) + 30 * 1000000 ))
        until kafka_partitions_ready "$name" "$np" "$rf"; do
            if (( $(now_us) >= deadline )); then
                err "kafka: topic $name: partitions without a leader or in-sync replicas after 30s"
                return 1
            fi
            sleep 0.2
        done
        echo "kafka: topic $name ($np partitions, $rf replicas)"
    done
}

# kafka_leader TOPIC PARTITION: prints the node id leading the partition.
kafka_leader() {
    timeout 10 kcat -L -b "$(kafka_bootstrap)" -t "$1" -J 2>/dev/null |
        "$PY" -c '
import json, sys
md = json.load(sys.stdin)
for t in md.get("topics", []):
    if t.get("topic") == sys.argv[1]:
        for p in t.get("partitions", []):
            if p.get("partition") == int(sys.argv[2]) and p.get("leader", -1) >= 0:
                print(p["leader"]); sys.exit(0)
sys.exit("no leader for %s [%s]" % (sys.argv[1], sys.argv[2]))' "$1" "$2"
}

kafka_check_node() {
    local n
    n=$(kafka_nodes) || { err "kafka: no cluster here"; return 1; }
    [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= n )) ||
        { err "kafka: no node '$1' (1..$n)"; return 1; }
}

# kafka_node_signal I SIGNAL: sends SIGNAL to node I (by its recorded pid).
kafka_node_signal() {
    local pid
    pid=$(comp_pid "kafka/node$1") || { err "kafka: node $1 is not running"; return 1; }
    kill "-$2" "$pid"
    printf '%s' "$pid"
}

# kafka NODE-COMMAND ...: the fault-test interface.
kafka_cmd() {
    (( $# )) || { err "kafka: usage: kafka topic|leader|kill|stop-node|start-node|pause|resume|nodes ..."; return 2; }
    local sub=$1 pid i
    shift
    case $sub in
    topic) kafka_topics "$@" ;;
    leader) (( $# == 2 )) || { err "kafka: usage: kafka leader TOPIC PARTITION"; return 2; }
        kafka_leader "$1" "$2" ;;
    kill)
        kafka_check_node "$1" || return 1
        pid=$(kafka_node_signal "$1" KILL) || return 1
        kill_pid "$pid"
        rm -f "$(kafka_dir)/node$1/pid" "$(kafka_dir)/node$1/starttime"
        echo "kafka: node $1 killed (pid $pid)" ;;
    stop-node)
        kafka_check_node "$1" || return 1
        stop_process "kafka/node$1"
        echo "kafka: node $1 stopped" ;;
    start-node)
        kafka_check_node "$1" || return 1
        if pid=$(comp_pid "kafka/node$1"); then
            echo "kafka: node $1 already running (pid $pid)"
            return 0
        fi
        kafka_launch_node "$1"
        kafka_wait_node "$1" 90 || return 1
        kafka_wait_cluster 60 || return 1
        echo "kafka: node $1 started (pid $(comp_pid "kafka/node$1"))" ;;
    pause)
        kafka_check_node "$1" || return 1
        pid=$(kafka_node_signal "$1" STOP) || return 1
        echo "kafka: node $1 paused (pid $pid)" ;;
    resume)
        kafka_check_node "$1" || return 1
        pid=$(kafka_node_signal "$1" CONT) || return 1
        echo "kafka: node $1 resumed (pid $pid)" ;;
    nodes)
        local n
        n=$(kafka_nodes) || { err "kafka: no cluster here"; return 1; }
        for ((i = 1; i <= n; i++)); do
            pid=$(comp_pid "kafka/node$i" || echo -)
            echo "$i $pid 127.0.0.1:$(cat "$(kafka_dir)/node$i/broker-port")"
        done ;;
    *) err "kafka: unknown command '$sub'"; return 2 ;;
    esac
}

# stop_kafka: every node, in parallel (a paused node is resumed first so it can exit).
stop_kafka() {
    local n i rc=0 pid
    local -a jobs=()
    n=$(kafka_nodes) || return 0
    for ((i = 1; i <= n; i++)); do
        if pid=$(comp_pid "kafka/node$i"); then
            kill -CONT "$pid" 2>/dev/null || true
        fi
        stop_process "kafka/node$i" &
        jobs+=($!)
    done
    for i in "${jobs[@]}"; do
        wait "$i" || rc=1
    done
    rm -f "$(kafka_dir)/nodes"
    env_update kafka
    return "$rc"
}
