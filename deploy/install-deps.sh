#!/usr/bin/env bash
# Installs the Debian packages ferry needs to build, test and run its demo.
# Idempotent: when every package is present it only reads dpkg's database and exits.
# Servers installed here (MariaDB, Redis, ZooKeeper, etcd) are not started: ferry's
# scripts start their own instances on 127.0.0.1 in temporary directories.
set -euo pipefail

build=(build-essential cmake pkg-config git)
libs=(librdkafka-dev libhiredis-dev libmariadb-dev libzookeeper-mt-dev libyaml-dev
      libcmocka-dev libcurl4-openssl-dev libjansson-dev libpcre2-dev libmicrohttpd-dev)
servers=(mariadb-server mariadb-client redis-server redis-tools etcd-server etcd-client
         zookeeper)
tools=(python3 python3-kafka kcat default-jre-headless maven procps iproute2 clang-format cppcheck valgrind
       gdb curl)

want=("${build[@]}" "${libs[@]}" "${servers[@]}" "${tools[@]}")
case "${1:-}" in
  --demo) want=("${build[@]}" "${libs[@]}" mariadb-server mariadb-client redis-server redis-tools procps) ;;
  --bench) want=("${build[@]}" "${libs[@]}" kcat time procps rsyslog rsyslog-kafka) ;;
  "" | --all) ;;
  *) echo "usage: $0 [--all|--demo|--bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

# Keep package scripts from starting system-wide servers on the default ports:
# a policy-rc.d that refuses every start, removed again when we are done.
policy=/usr/sbin/policy-rc.d
placed=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  placed=1
fi
cleanup() { [ "$placed" = 1 ] && "${sudo[@]}" rm -f "$policy"; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
