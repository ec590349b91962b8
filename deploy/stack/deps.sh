#!/usr/bin/env bash
# Install everything needed to build jiesu and run its local stack on Debian 12 (as root),
# then fetch Apache Kafka's jars into the cache (mvn, once).
#
#   deploy/stack/deps.sh           install what is missing; silent when all is present
#   deploy/stack/deps.sh --check   only check; name what is missing and exit 1
#
# Idempotent: dpkg-query decides; `apt-get update` runs only when something is missing.
# JIESU_DEPS_EXTRA="pkg ..." adds Debian packages to the list.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

check_only=0
case ${1:-} in
    --check) check_only=1 ;;
    '') ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (want: --check)" ;;
esac

PKGS=(build-essential pkg-config librdkafka-dev libjansson-dev libpq-dev libhiredis-dev
      libevent-dev libcmocka-dev libssl-dev postgresql-15 redis-server redis-tools
      curl procps iproute2 util-linux bc python3 python3-yaml python3-jsonschema libxlsxwriter-dev python3-openpyxl)
# shellcheck disable=SC2206
[ -z "${JIESU_DEPS_EXTRA:-}" ] || PKGS+=(${JIESU_DEPS_EXTRA})

installed() { # package -> true when dpkg has it installed
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
# PostgreSQL's contrib modules: postgresql-contrib-15 where that name exists, else the
# postgresql-contrib metapackage (Debian 12 ships the modules inside postgresql-15 itself).
contrib_missing=0
installed postgresql-contrib-15 || installed postgresql-contrib || contrib_missing=1
# Java 17+ for Kafka, only when none is present
java_missing=0
find_java >/dev/null 2>&1 || java_missing=1
mvn_missing=0
command -v mvn >/dev/null 2>&1 || mvn_missing=1

if [ $check_only = 1 ]; then
    names=("${missing[@]}")
    [ $contrib_missing = 1 ] && names+=(postgresql-contrib)
    [ $java_missing = 1 ] && names+=("openjdk-17-jre-headless (no java 17+)")
    [ $mvn_missing = 1 ] && names+=("maven (no mvn)")
    kafka_cache_ok || names+=("kafka $KAFKA_VERSION jars (not yet in $KAFKA_LIBS)")
    if [ ${#names[@]} -gt 0 ]; then
        joined=$(IFS=,; echo "${names[*]}")
        printf '[stack] missing: %s\n' "${joined//,/, }" >&2
        exit 1
    fi
    log "deps: everything is present"
    exit 0
fi

if [ ${#missing[@]} -gt 0 ] || [ $contrib_missing = 1 ] || [ $java_missing = 1 ] || [ $mvn_missing = 1 ]; then
    [ "$(id -u)" = 0 ] || die "not root, cannot apt-get install: ${missing[*]} $([ $contrib_missing = 1 ] && echo postgresql-contrib) $([ $java_missing = 1 ] && echo openjdk-17-jre-headless) $([ $mvn_missing = 1 ] && echo maven)"
    export DEBIAN_FRONTEND=noninteractive
    aptlog=$(mktemp /tmp/jiesu-apt.XXXXXX)
    if ! apt-get update -q >"$aptlog" 2>&1; then
        tail -n 15 "$aptlog" >&2
        die "apt-get update failed; still missing: ${missing[*]}"
    fi
    if [ $contrib_missing = 1 ]; then
        if apt-cache policy postgresql-contrib-15 2>/dev/null | grep -q 'Candidate: [^(]'; then
            missing+=(postgresql-contrib-15)
        else
            missing+=(postgresql-contrib)
        fi
    fi
    [ $java_missing = 1 ] && missing+=(openjdk-17-jre-headless)
    [ $mvn_missing = 1 ] && missing+=(maven)
    log "deps: installing ${missing[*]}"
    # the Debian JRE's post-install wants this folder, which slim images lack
    mkdir -p /usr/share/man/man1
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1; then
        tail -n 25 "$aptlog" >&2
        still=()
        for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
        die "apt-get install failed; missing package(s): ${still[*]:-${missing[*]}} (log: $aptlog)"
    fi
    still=()
    for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
    [ ${#still[@]} -eq 0 ] || die "still missing after apt-get install: ${still[*]} (log: $aptlog)"
    find_java >/dev/null || die "openjdk-17-jre-headless is installed but no java 17+ was found"
    command -v mvn >/dev/null || die "maven is installed but mvn is not on PATH"
    rm -f "$aptlog"
fi

# Kafka's jars (quiet when cached)
kafka_fetch
