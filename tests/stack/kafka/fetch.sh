#!/usr/bin/env bash
# Fetch the Apache Kafka broker, admin tools and Java client jars from Maven
# Central into a local classpath directory, once.
#
#   tests/stack/kafka/fetch.sh [VERSION]
#
# Prints the classpath directory (use it as `java -cp "DIR/*"`).  When the
# directory is already complete nothing is downloaded, so later runs need no
# network.  Maven's own output goes to stderr.
#
# Environment:
#   FERRY_KAFKA_VERSION   Kafka version when no argument is given
#                         (default: kafka.version in pom.xml)
#   FERRY_KAFKA_LIB       classpath directory (default tests/stack/kafka/lib/VERSION)
#   FERRY_MVN             Maven command (default mvn)
#
# Besides the jars the directory holds:
#   .complete      the version, written last: the directory is usable
#   classes.env    main classes of this version's tools, as NAME=class lines
#                  (they moved between packages from 3.x to 4.x)

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pom=$here/pom.xml

die() {
    printf 'fetch.sh: %s\n' "$*" >&2
    exit 1
}

default_version() {
    sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p' "$pom" | head -n 1
}

version=${1:-${FERRY_KAFKA_VERSION:-$(default_version)}}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.-][A-Za-z0-9.-]+)?$ ]] || die "bad Kafka version '$version'"
lib=${FERRY_KAFKA_LIB:-$here/lib/$version}
mkdir -p "$(dirname "$lib")"
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")

complete() {
    local v
    [[ -s $lib/.complete && -s $lib/classes.env ]] || return 1
    read -r v < "$lib/.complete" || return 1
    if [[ $v != "$version" ]]; then
        die "$lib holds Kafka $v, not $version (set FERRY_KAFKA_LIB to another directory)"
    fi
    [[ -f $lib/kafka_2.13-$version.jar && -f $lib/kafka-clients-$version.jar ]]
}

if complete; then
    printf '%s\n' "$lib"
    exit 0
fi

# One fetch at a time per directory; a second caller waits and reuses it.
exec {lockfd}>"$lib.lock"
flock -w 600 "$lockfd" || die "cannot lock $lib.lock"
if complete; then
    printf '%s\n' "$lib"
    exit 0
fi

mvn_cmd=${FERRY_MVN:-mvn}
command -v "$mvn_cmd" >/dev/null || die "$mvn_cmd not found"
command -v jar >/dev/null || die "jar (from the JDK) not found"

major=${version%%.*}
logging=reload4j
(( major >= 4 )) && logging=log4j2

tmp=$lib.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

echo "fetch.sh: fetching Kafka $version ($logging logging) from Maven Central into $lib" >&2
if ! "$mvn_cmd" -q -B -Dstyle.color=never -f "$pom" \
    "-Dkafka.version=$version" "-Dkafka.logging=$logging" \
    dependency:copy-dependencies "-DoutputDirectory=$tmp" >&2; then
    die "mvn dependency:copy-dependencies failed for Kafka $version"
fi
[[ -f $tmp/kafka_2.13-$version.jar ]] || die "kafka_2.13-$version.jar missing after the fetch"

# Find the tools' main classes in this version's jars.
classes=$(for j in "$tmp/kafka_2.13-$version.jar" "$tmp/kafka-tools-$version.jar"; do
    [[ -f $j ]] && jar tf "$j"
done | grep -E '\.class$' | grep -v '\$' | sed 's/\.class$//; s:/:.:g')

pick_class() {
    local c
    for c in "$@"; do
        if grep -qxF "$c" <<< "$classes"; then
            printf '%s' "$c"
            return 0
        fi
    done
    return 1
}

{
    echo "KAFKA_VERSION=$version"
    echo "KAFKA_LOGGING=$logging"
    echo "KAFKA_MAIN=$(pick_class kafka.Kafka)"
    echo "KAFKA_STORAGE_TOOL=$(pick_class kafka.tools.StorageTool org.apache.kafka.tools.StorageTool)"
    echo "KAFKA_TOPIC_COMMAND=$(pick_class org.apache.kafka.tools.TopicCommand kafka.admin.TopicCommand)"
    echo "KAFKA_API_VERSIONS=$(pick_class kafka.admin.BrokerApiVersionsCommand org.apache.kafka.tools.BrokerApiVersionsCommand)"
    echo "KAFKA_METADATA_QUORUM=$(pick_class org.apache.kafka.tools.MetadataQuorumCommand kafka.admin.MetadataQuorumCommand)"
    echo "KAFKA_CONSOLE_PRODUCER=$(pick_class org.apache.kafka.tools.ConsoleProducer kafka.tools.ConsoleProducer)"
    echo "KAFKA_CONSOLE_CONSUMER=$(pick_class org.apache.kafka.tools.consumer.ConsoleConsumer kafka.tools.ConsoleConsumer)"
    echo "KAFKA_CONSUMER_GROUPS=$(pick_class org.apache.kafka.tools.consumer.group.ConsumerGroupCommand kafka.admin.ConsumerGroupCommand)"
} > "$tmp/classes.env"
for key in KAFKA_MAIN KAFKA_STORAGE_TOOL KAFKA_TOPIC_COMMAND KAFKA_API_VERSIONS; do
    grep -q "^$key=." "$tmp/classes.env" || die "no main class found for $key in Kafka $version"
done
printf '%s\n' "$version" > "$tmp/.complete"

rm -rf "$lib"
mv "$tmp" "$lib"
trap - EXIT
printf '%s\n' "$lib"
