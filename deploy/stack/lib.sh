# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables here are used by the scripts that source this
# Shared functions of the local stack scripts (deps.sh, up.sh, down.sh, status.sh).
# Sourced, never run. The stack is PostgreSQL 15, Redis 7 and Apache Kafka (KRaft), all on
# 127.0.0.1, all state under one folder:
#
#   JIESU_STACK_DIR              state folder (default <repo>/.stack)
#   JIESU_CACHE_DIR              download cache (default $HOME/.cache/jiesu); Kafka's jars live here
#   JIESU_PG_PORT                PostgreSQL port          (default 54329)
#   JIESU_REDIS_PORT             Redis port               (default 63799)
#   JIESU_KAFKA_PORT             Kafka broker port        (default 39092)
#   JIESU_KAFKA_CONTROLLER_PORT  Kafka controller port    (default 39093)
#   JIESU_KAFKA_HEAP             Kafka heap, e.g. 512m    (default 512m)

STACK_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_DIR=$(cd "$STACK_LIB_DIR/../.." && pwd -P)

STACK_DIR=${JIESU_STACK_DIR:-$REPO_DIR/.stack}
case $STACK_DIR in /*) ;; *) STACK_DIR=$PWD/$STACK_DIR ;; esac
STACK_DIR=${STACK_DIR%/}
CACHE_DIR=${JIESU_CACHE_DIR:-${HOME:-/root}/.cache/jiesu}
case $CACHE_DIR in /*) ;; *) CACHE_DIR=$PWD/$CACHE_DIR ;; esac

PG_PORT=${JIESU_PG_PORT:-54329}
REDIS_PORT=${JIESU_REDIS_PORT:-63799}
KAFKA_PORT=${JIESU_KAFKA_PORT:-39092}
KAFKA_CONTROLLER_PORT=${JIESU_KAFKA_CONTROLLER_PORT:-39093}
KAFKA_HEAP=${JIESU_KAFKA_HEAP:-512m}
HOST=127.0.0.1

PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=postgres            # the OS user that owns and runs the server (root may not)
DB_USER=jiesu
DB_PASSWORD=jiesu
DB_NAME=jiesu
DB_TEST_NAME=jiesu_test

KAFKA_VERSION=3.9.1
KAFKA_SRC_DIR=$REPO_DIR/deploy/kafka
KAFKA_POM=$KAFKA_SRC_DIR/pom.xml
KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
TOPICS_FILE=$REPO_DIR/proto/topics.txt

STACK_MARKER=$STACK_DIR/.jiesu-stack   # says "this folder is ours"; --purge wants it
REDIS_DIR=$STACK_DIR/redis
REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_LOG=$REDIS_DIR/redis.log
KAFKA_DIR=$STACK_DIR/kafka
KAFKA_PIDFILE=$KAFKA_DIR/kafka.pid
KAFKA_LOGDIR=$KAFKA_DIR/logs
KAFKA_DATA=$KAFKA_DIR/data
ENV_FILE=$STACK_DIR/env

log()  { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] warning: %s\n' "$*" >&2; }
die()  { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

for _p in PG_PORT REDIS_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT; do
    case ${!_p} in ''|*[!0-9]*) die "$_p must be a port number, got '${!_p}'" ;; esac
done
unset _p

# ---------------------------------------------------------------------------------------
# PostgreSQL refuses to run as root, so its folder must be reachable by the postgres user.
# When the state folder sits somewhere postgres cannot enter (say /root/...), its data goes
# to /var/lib/jiesu-stack/<hash>/pg and <state>/pg is a symlink to it.
pg_resolve_root() {
    if [ -L "$STACK_DIR/pg" ]; then
        PG_ROOT=$(readlink -f "$STACK_DIR/pg")
    else
        PG_ROOT=$STACK_DIR/pg
    fi
    PG_DATA=$PG_ROOT/data
    PG_RUN=$PG_ROOT/run
    PG_LOG=$PG_ROOT/postgres.log
}
pg_resolve_root

# Make the PostgreSQL folders (only up.sh calls this).
pg_prepare_root() {
    id -u "$PG_USER" >/dev/null 2>&1 || die "there is no '$PG_USER' user: install postgresql-15 (deploy/stack/deps.sh)"
    if [ ! -e "$STACK_DIR/pg" ] && ! runuser -u "$PG_USER" -- test -x "$STACK_DIR" 2>/dev/null; then
        local alt
        alt=/var/lib/jiesu-stack/$(printf '%s' "$STACK_DIR" | cksum | cut -d' ' -f1)/pg
        log "postgres: $STACK_DIR is not reachable by user $PG_USER; its data goes to $alt (linked as $STACK_DIR/pg)"
        mkdir -p "$alt"
        ln -sfn "$alt" "$STACK_DIR/pg"
    fi
    pg_resolve_root
    mkdir -p "$PG_ROOT"
    mkdir -p "$PG_RUN"
    chown "$PG_USER": "$PG_ROOT" "$PG_RUN"
    chmod 0755 "$PG_ROOT"
    chmod 0775 "$PG_RUN"
}

as_pg() { runuser -u "$PG_USER" -- "$@"; }

# ---------------------------------------------------------------------------------------
# Processes and ports.
# alive = exists and is not a zombie (a killed daemon stays a zombie until init reaps it)
pid_alive() {
    local st
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

read_pidfile() { # file -> pid on stdout (empty when none)
    local p=''
    [ -f "$1" ] && read -r p <"$1" 2>/dev/null || true
    case $p in ''|*[!0-9]*) p='' ;; esac
    printf '%s' "$p"
}

cmdline_of() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# Who listens on TCP port $1? Prints "PID NAME" of the first listener; fails when the port is free.
port_listener() {
    local line pid name
    line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1) || true
    [ -n "$line" ] || return 1
    pid=$(sed -n 's/.*users:(("[^"]*",pid=\([0-9]*\).*/\1/p' <<<"$line")
    name=$(sed -n 's/.*users:(("\([^"]*\)",pid=.*/\1/p' <<<"$line")
    printf '%s %s\n' "${pid:-?}" "${name:-?}"
}

# All pids listening on port $1 (a server may have several listening sockets/processes).
port_pids() {
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true
}

# Fails with "port N is in use by another process (pid P, name X)" unless the port is free or
# held by one of the pids given after it.
port_free_or_ours() {
    local port=$1 what=$2 p owner
    shift 2
    local holders
    holders=$(port_pids "$port")
    if [ -z "$holders" ]; then
        port_listener "$port" >/dev/null || return 0
    fi
    for p in $holders; do
        local ok=0 o
        for o in "$@"; do [ -n "$o" ] && [ "$p" = "$o" ] && ok=1; done
        if [ $ok = 0 ]; then
            owner=$(port_listener "$port" || true)
            printf '[stack] error: %s: port %s is in use by another process (pid %s, name %s)\n' \
                "$what" "$port" "${owner%% *}" "${owner#* }" >&2
            return 1
        fi
    done
    return 0
}

# Send SIGTERM, wait up to $2 seconds, then SIGKILL.
stop_pid() {
    local pid=$1 wait_s=${2:-30} name=${3:-process} i
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    warn "$name (pid $pid) did not stop within ${wait_s}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
    return 1
}

# ---------------------------------------------------------------------------------------
# PostgreSQL
pg_pid() { # pid of our running postmaster, or empty
    local p
    p=$(read_pidfile "$PG_DATA/postmaster.pid")
    if is_postgres "$p"; then
        printf '%s' "$p"
    fi
}
is_postgres() { pid_alive "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = postgres ]; }
# Remove lock files of a postmaster that is gone: postmaster.pid in the data dir and the
# socket lock in the run dir. PostgreSQL itself refuses to start while the pid in them
# still exists, and a killed postmaster lingers as a zombie until init reaps it.
pg_clean_stale() {
    local f p removed=1
    for f in "$PG_DATA/postmaster.pid" "$PG_RUN"/.s.PGSQL.*.lock; do
        [ -f "$f" ] || continue
        p=$(read_pidfile "$f")
        is_postgres "$p" && continue
        rm -f "$f"
        removed=0
    done
    return $removed
}
pg_answers() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 3 >/dev/null 2>&1; }
# leftover postmasters of our data dir whose pid file is gone or stale
pg_strays() { pgrep -f -- "postgres -D $PG_DATA( |$)" 2>/dev/null || true; }

# ---------------------------------------------------------------------------------------
# Redis
redis_is_ours() { # pid -> true when it is a redis-server working in our folder
    local p=$1
    pid_alive "$p" || return 1
    case $(cat "/proc/$p/comm" 2>/dev/null) in redis-server*|redis-check*) ;; *) return 1 ;; esac
    [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$(readlink -f "$REDIS_DIR/data" 2>/dev/null || echo "$REDIS_DIR/data")" ]
}
redis_pid() {
    local p
    p=$(read_pidfile "$REDIS_PIDFILE")
    if redis_is_ours "$p"; then printf '%s' "$p"; fi
}
redis_strays() {
    local p
    for p in $(pgrep -x redis-server 2>/dev/null || true); do
        redis_is_ours "$p" && echo "$p"
    done
    return 0
}
redis_answers() { [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# ---------------------------------------------------------------------------------------
# Kafka. The broker JVM carries -Djiesu.stack=<state dir> so that it can be found by its
# command line even when the pid file is lost.
kafka_marker() { printf -- '-Djiesu.stack=%s ' "$STACK_DIR"; }
kafka_is_ours() {
    local p=$1
    pid_alive "$p" || return 1
    cmdline_of "$p" | grep -qF -e "$(kafka_marker)"
}
kafka_pid() {
    local p
    p=$(read_pidfile "$KAFKA_PIDFILE")
    if kafka_is_ours "$p"; then printf '%s' "$p"; fi
}
kafka_strays() {
    local p
    for p in $(pgrep -f -- "-Djiesu.stack=$STACK_DIR " 2>/dev/null || true); do
        [ "$p" = "$$" ] && continue
        kafka_is_ours "$p" && cmdline_of "$p" | grep -q ' kafka.Kafka ' && echo "$p"
    done
    return 0
}

# Does a Kafka broker answer on $1 (port)? A raw ApiVersions v0 request over bash's /dev/tcp:
# no JVM, a few milliseconds. The broker only serves its client listener once it has caught
# up with the metadata log, so an answer means "ready".
kafka_answers() {
    local port=${1:-$KAFKA_PORT}
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        # size=15 | api_key=18 ApiVersions | version 0 | correlation id 7 | client id "jiesu"
        printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x07\x00\x05jiesu" >&3
        reply=$(head -c 10 <&3 | od -An -tx1 | tr -d " \n")
        exec 3>&-
        # size (4 bytes, any) | correlation id 7 | error code 0
        [ "${reply:8:12}" = "000000070000" ]
    ' "$HOST" "$port" 2>/dev/null
}

# ---------------------------------------------------------------------------------------
# Java 17+: $JAVA_HOME, then `java` on PATH, then Debian's JVM folders.
java_major() { # java binary -> major version
    local v
    v=$("$1" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)
    case $v in 1.*) v=${v#1.} ;; esac
    v=${v%%[!0-9]*}
    printf '%s' "${v:-0}"
}
find_java() {
    local j
    for j in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null || true)" \
             /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-2[0-9]-openjdk-*/bin/java; do
        [ -n "$j" ] && [ -x "$j" ] || continue
        if [ "$(java_major "$j")" -ge 17 ]; then printf '%s' "$j"; return 0; fi
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# Kafka's jars from Maven Central through the machine's mvn, cached in $KAFKA_LIBS. A stamp
# file holding the hash of pom.xml + version says the cache is complete; mvn is skipped then.
kafka_cache_ok() {
    local want
    want=$(kafka_cache_key)
    [ -f "$KAFKA_HOME/.complete" ] && [ "$(cat "$KAFKA_HOME/.complete")" = "$want" ] &&
        [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]
}
kafka_cache_key() { { cat "$KAFKA_POM"; echo "$KAFKA_VERSION"; } | sha256sum | cut -c1-64; }

kafka_fetch() {
    kafka_cache_ok && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn is missing: run deploy/stack/deps.sh (installs maven)"
    find_java >/dev/null || die "Java 17+ is missing: run deploy/stack/deps.sh (installs openjdk-17-jre-headless)"
    mkdir -p "$KAFKA_HOME"
    (
        flock -w 900 9 || die "timed out waiting for another Kafka download (lock $KAFKA_HOME/.lock)"
        kafka_cache_ok && exit 0
        log "kafka: fetching Apache Kafka $KAFKA_VERSION and its runtime jars with mvn into $KAFKA_LIBS (once; cached)"
        local tmp=$KAFKA_HOME/libs.partial t0=$SECONDS
        rm -rf "$tmp"
        mkdir -p "$tmp"
        # mvn needs a JAVA_HOME of Java 17+ when the default java is older
        local jh
        jh=$(dirname "$(dirname "$(readlink -f "$(find_java)")")")
        if ! JAVA_HOME=$jh mvn -q -B -f "$KAFKA_POM" -Dkafka.version="$KAFKA_VERSION" \
                dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
                >"$KAFKA_HOME/mvn.log" 2>&1 </dev/null; then
            tail -n 30 "$KAFKA_HOME/mvn.log" >&2
            die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (full log: $KAFKA_HOME/mvn.log)"
        fi
        local j
        for j in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar"; do
            [ -f "$tmp/$j" ] || die "mvn finished but $j is missing in $tmp (log: $KAFKA_HOME/mvn.log)"
        done
        rm -rf "$KAFKA_LIBS"
        mv "$tmp" "$KAFKA_LIBS"
        kafka_cache_key >"$KAFKA_HOME/.complete"
        log "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$KAFKA_LIBS" | cut -f1)) cached in $((SECONDS - t0)) s"
    ) 9>"$KAFKA_HOME/.lock" || exit 1
    # mvn leaves target/ beside a pom sometimes; keep the source tree clean
    rm -rf "$KAFKA_SRC_DIR/target"
}

# A short-lived JVM for admin work: small heap, quick start.
kafka_tool_java() {
    local java
    java=$(find_java) || die "Java 17+ is missing: run deploy/stack/deps.sh"
    "$java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j.configuration="file:$KAFKA_SRC_DIR/tools-log4j.properties" \
        -cp "$KAFKA_LIBS/*" "$@"
}

# One lock per state folder, so two `make up` at once do not race.
stack_lock() {
    mkdir -p "$STACK_DIR"
    exec 8>"$STACK_DIR/.lock"
    flock -w 300 8 || die "another stack script holds $STACK_DIR/.lock"
}
