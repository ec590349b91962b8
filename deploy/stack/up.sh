#!/usr/bin/env bash
# Start the local stack on 127.0.0.1: PostgreSQL 15, Redis 7, Apache Kafka (KRaft, one node).
# Idempotent: what already runs is left alone. A port held by a foreign process stops it
# before anything starts. Waits until every service answers, creates the Kafka topics of
# proto/topics.txt, then writes $JIESU_STACK_DIR/env (shell-sourceable).
# Settings: see the top of deploy/stack/lib.sh (JIESU_STACK_DIR, JIESU_*_PORT, ...).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

case ${1:-} in
    '') ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) die "unknown argument '$1'" ;;
esac

T0=$SECONDS
KAFKA_WAIT_S=${JIESU_KAFKA_WAIT_S:-90}

# --- what we need on the machine ----------------------------------------------------------
need=()
[ -x "$PG_BIN/postgres" ] || need+=(postgresql-15)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v ss >/dev/null || need+=(iproute2)
command -v runuser >/dev/null || need+=(util-linux)
command -v pgrep >/dev/null || need+=(procps)
find_java >/dev/null || need+=(openjdk-17-jre-headless)
[ ${#need[@]} -eq 0 ] || die "missing: ${need[*]} — run deploy/stack/deps.sh (or make deps) first"
[ -f "$TOPICS_FILE" ] || die "$TOPICS_FILE is missing"
[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL is run through runuser -u $PG_USER)"

kafka_fetch
stack_lock
mkdir -p "$STACK_DIR"
[ -f "$STACK_MARKER" ] || echo "jiesu local stack state; deploy/stack/down.sh --purge deletes this folder" >"$STACK_MARKER"

# --- what already runs --------------------------------------------------------------------
pg_running=$(pg_pid)
[ -n "$pg_running" ] || pg_running=$(pg_strays | head -n 1)
if [ -z "$pg_running" ] && pg_clean_stale; then
    log "postgres: removed the stale lock files of a server that is gone"
fi
redis_running=$(redis_pid)
if [ -z "$redis_running" ]; then
    redis_running=$(redis_strays | head -n 1)
    [ -z "$redis_running" ] || echo "$redis_running" >"$REDIS_PIDFILE"
fi
kafka_running=$(kafka_pid)
if [ -z "$kafka_running" ]; then
    kafka_running=$(kafka_strays | head -n 1)
    [ -z "$kafka_running" ] || echo "$kafka_running" >"$KAFKA_PIDFILE"
fi

# --- ports: refuse before touching anything -----------------------------------------------
# A port may be held by our own running service (left alone), by nobody, or by someone else:
# then nothing is started and up fails naming that process.
ok=1
port_free_or_ours "$PG_PORT" postgres ${pg_running:+$pg_running} || ok=0
port_free_or_ours "$REDIS_PORT" redis ${redis_running:+$redis_running} || ok=0
port_free_or_ours "$KAFKA_PORT" kafka ${kafka_running:+$kafka_running} || ok=0
port_free_or_ours "$KAFKA_CONTROLLER_PORT" "kafka controller" ${kafka_running:+$kafka_running} || ok=0
if [ $ok = 0 ]; then
    die "nothing started. Stop that process, or choose other ports (JIESU_PG_PORT, JIESU_REDIS_PORT, JIESU_KAFKA_PORT, JIESU_KAFKA_CONTROLLER_PORT)"
fi

# --- Kafka first: its JVM takes longest, so it boots while PostgreSQL and Redis start -------
kafka_gen_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        case $id in -*) continue ;; esac   # Kafka never hands out ids starting with '-'
        printf '%s' "$id"
        return
    done
}

kafka_write_config() {
    mkdir -p "$KAFKA_DIR" "$KAFKA_LOGDIR" "$KAFKA_DATA"
    cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by deploy/stack/up.sh at every start; edit that script, not this file.
# One KRaft node that is both broker and controller, on 127.0.0.1 only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

log.dirs=$KAFKA_DATA
metadata.log.dir=$KAFKA_DATA

# topics exist only when proto/topics.txt says so
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# after a crash (kill -9) the controller keeps the dead incarnation registered until its
# session expires, and the restarted broker waits for that: keep it short (default 9 s)
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000

# a 2-core box: few threads
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4

log.retention.hours=168
log.segment.bytes=268435456
log.retention.check.interval.ms=300000
EOF
}

kafka_start() {
    kafka_write_config
    if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
        local cid
        cid=$(kafka_gen_cluster_id)
        log "kafka: formatting storage $KAFKA_DATA (cluster id $cid)"
        if ! kafka_tool_java kafka.tools.StorageTool format --ignore-formatted \
                -t "$cid" -c "$KAFKA_DIR/server.properties" >"$KAFKA_LOGDIR/format.log" 2>&1 </dev/null; then
            cat "$KAFKA_LOGDIR/format.log" >&2
            die "kafka: storage format failed"
        fi
    fi
    local java
    java=$(find_java)
    # shellcheck disable=SC2016
    (
        cd "$KAFKA_DIR"
        exec 8>&-   # the stack lock must not live on in the broker
        exec setsid "$java" -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" \
            -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
            -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
            -Djava.awt.headless=true \
            -Dlog4j.configuration="file:$KAFKA_SRC_DIR/log4j.properties" \
            -Dkafka.logs.dir="$KAFKA_LOGDIR" \
            -Djiesu.stack="$STACK_DIR" \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
            </dev/null >>"$KAFKA_LOGDIR/kafka.out" 2>&1
    ) &
    kafka_running=$!
    echo "$kafka_running" >"$KAFKA_PIDFILE"
    kafka_started=1
}

kafka_started=0
if [ -n "$kafka_running" ]; then
    log "kafka: already running (pid $kafka_running), left alone"
else
    kafka_start
    log "kafka: starting on $HOST:$KAFKA_PORT (pid $kafka_running, heap $KAFKA_HEAP)"
fi

# --- PostgreSQL -----------------------------------------------------------------------------
pg_write_config() {
    cat >"$PG_DATA/jiesu.conf" <<EOF
# Written by deploy/stack/up.sh at every start (included from postgresql.conf).
# Sized for a 24 GiB / 2-core box that also runs Kafka, Redis and the five daemons.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 200
superuser_reserved_connections = 3
password_encryption = 'scram-sha-256'

# memory
shared_buffers = 2GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 512MB
wal_buffers = 16MB
huge_pages = try

# durability stays ON: benchmarks measure real commits
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_size = 4GB
min_wal_size = 512MB
checkpoint_timeout = 10min
checkpoint_completion_target = 0.9

# 2 cores
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
max_parallel_maintenance_workers = 1
random_page_cost = 1.1
effective_io_concurrency = 200

# logging (stderr goes to $PG_LOG)
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = 1000
log_lock_waits = on
log_temp_files = 0
log_checkpoints = on
log_connections = off

timezone = 'UTC'
log_timezone = 'UTC'
EOF
    cat >"$PG_DATA/pg_hba.conf" <<EOF
# Written by deploy/stack/up.sh at every start.
# TYPE  DATABASE     USER      ADDRESS        METHOD
local   all          $PG_USER                 peer
local   all          all                      scram-sha-256
host    all          all       $HOST/32   scram-sha-256
host    replication  all       $HOST/32   scram-sha-256
EOF
    chown "$PG_USER": "$PG_DATA/jiesu.conf" "$PG_DATA/pg_hba.conf"
    chmod 0600 "$PG_DATA/jiesu.conf" "$PG_DATA/pg_hba.conf"
}

pg_psql() { as_pg "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -d postgres "$@"; }

pg_start() {
    pg_prepare_root
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        log "postgres: initdb $PG_DATA"
        rm -rf "$PG_DATA"
        if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" -E UTF8 --locale=C.UTF-8 \
                --auth-local=peer --auth-host=scram-sha-256 >"$PG_ROOT/initdb.log" 2>&1 </dev/null; then
            tail -n 20 "$PG_ROOT/initdb.log" >&2
            die "postgres: initdb failed (log: $PG_ROOT/initdb.log)"
        fi
        echo "include_if_exists = 'jiesu.conf'" >>"$PG_DATA/postgresql.conf"
    fi
    pg_write_config
    # setsid: the server outlives this terminal's Ctrl-C
    if ! as_pg setsid "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 90 -s start </dev/null 8>&-; then
        tail -n 20 "$PG_LOG" >&2 || true
        die "postgres: pg_ctl start failed (log: $PG_LOG)"
    fi
}

pg_ensure_databases() {
    pg_psql <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  END IF;
END \$\$;
ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER ENCODING ''UTF8'' LC_COLLATE ''C.UTF-8'' LC_CTYPE ''C.UTF-8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
SELECT 'CREATE DATABASE $DB_TEST_NAME OWNER $DB_USER ENCODING ''UTF8'' LC_COLLATE ''C.UTF-8'' LC_CTYPE ''C.UTF-8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_TEST_NAME') \gexec
EOF
}

if [ -n "$pg_running" ]; then
    log "postgres: already running (pid $pg_running), left alone"
else
    pg_start
    pg_running=$(pg_pid)
    log "postgres: started on $HOST:$PG_PORT (pid ${pg_running:-?})"
fi
for ((i = 0; i < 60; i++)); do pg_answers && break; sleep 0.5; done
pg_answers || { tail -n 20 "$PG_LOG" >&2 || true; die "postgres: no answer on $HOST:$PG_PORT (log: $PG_LOG)"; }
pg_ensure_databases || die "postgres: could not create role/databases $DB_USER, $DB_NAME, $DB_TEST_NAME"
PGPASSWORD=$DB_PASSWORD "$PG_BIN/psql" -X -q -At -h "$HOST" -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" \
    -c 'select 1' >/dev/null 2>&1 </dev/null || die "postgres: cannot log in as $DB_USER with its password on $HOST:$PG_PORT"

# --- Redis ----------------------------------------------------------------------------------
redis_write_config() {
    mkdir -p "$REDIS_DIR/data"
    cat >"$REDIS_DIR/redis.conf" <<EOF
# Written by deploy/stack/up.sh at every start.
bind $HOST
port $REDIS_PORT
protected-mode no
daemonize yes
supervised no
pidfile $REDIS_PIDFILE
logfile $REDIS_LOG
loglevel notice
dir $REDIS_DIR/data
databases 16
tcp-backlog 511
timeout 0
tcp-keepalive 300
# timers live here: the append-only file, fsynced every second, plus RDB snapshots
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
appenddirname "appendonlydir"
aof-load-truncated yes
save 900 1 300 10 60 10000
stop-writes-on-bgsave-error yes
EOF
}

if [ -n "$redis_running" ]; then
    log "redis: already running (pid $redis_running), left alone"
else
    redis_write_config
    rm -f "$REDIS_PIDFILE"
    redis_started=1
    if ! (cd "$REDIS_DIR/data" && redis-server "$REDIS_DIR/redis.conf" </dev/null >>"$REDIS_LOG" 2>&1 8>&-); then
        tail -n 20 "$REDIS_LOG" >&2 || true
        die "redis: redis-server failed to start (log: $REDIS_LOG)"
    fi
fi
for ((i = 0; i < 60; i++)); do redis_answers && break; sleep 0.25; done
redis_answers || { tail -n 20 "$REDIS_LOG" >&2 || true; die "redis: no answer on $HOST:$REDIS_PORT (log: $REDIS_LOG)"; }
for ((i = 0; i < 20; i++)); do redis_running=$(redis_pid); [ -n "$redis_running" ] && break; sleep 0.1; done
[ -n "$redis_running" ] || die "redis answers on $HOST:$REDIS_PORT but it is not ours (pid file $REDIS_PIDFILE)"
[ "${redis_started:-0}" = 1 ] && log "redis: started on $HOST:$REDIS_PORT (pid $redis_running)"

# --- Kafka: wait for it, then the topics ------------------------------------------------------
kafka_fail() {
    echo "----- last lines of $KAFKA_LOGDIR/server.log -----" >&2
    tail -n 25 "$KAFKA_LOGDIR/server.log" >&2 2>/dev/null || true
    if [ -s "$KAFKA_LOGDIR/kafka.out" ]; then
        echo "----- last lines of $KAFKA_LOGDIR/kafka.out -----" >&2
        tail -n 10 "$KAFKA_LOGDIR/kafka.out" >&2
    fi
    die "kafka: $*"
}
tk=$SECONDS
until kafka_answers; do
    pid_alive "$kafka_running" || kafka_fail "the broker process (pid $kafka_running) exited during start"
    [ $((SECONDS - tk)) -lt "$KAFKA_WAIT_S" ] || kafka_fail "no answer on $HOST:$KAFKA_PORT after ${KAFKA_WAIT_S}s"
    sleep 0.5
done
[ $kafka_started = 1 ] && log "kafka: answering on $HOST:$KAFKA_PORT after $((SECONDS - tk)) s of waiting"

if ! topics_out=$(kafka_tool_java "$KAFKA_SRC_DIR/EnsureTopics.java" "$HOST:$KAFKA_PORT" "$TOPICS_FILE" 60 "$kafka_running" </dev/null 2>&1); then
    echo "$topics_out" >&2
    kafka_fail "could not create the topics of $TOPICS_FILE"
fi
log "kafka: $(tail -n 1 <<<"$topics_out")"
grep '\[stack\] warning' <<<"$topics_out" >&2 || true

# --- env file and summary -----------------------------------------------------------------
cat >"$ENV_FILE.tmp" <<EOF
# Written by deploy/stack/up.sh; source it: . $ENV_FILE
export JIESU_STACK_DIR='$STACK_DIR'
export JIESU_PG_DSN='host=$HOST port=$PG_PORT dbname=$DB_NAME user=$DB_USER password=$DB_PASSWORD'
export JIESU_PG_TEST_DSN='host=$HOST port=$PG_PORT dbname=$DB_TEST_NAME user=$DB_USER password=$DB_PASSWORD'
export JIESU_REDIS_ADDR='$HOST:$REDIS_PORT'
export JIESU_KAFKA_BROKERS='$HOST:$KAFKA_PORT'
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"

log "up in $((SECONDS - T0)) s: postgres $HOST:$PG_PORT (pid $pg_running, db $DB_NAME + $DB_TEST_NAME, user $DB_USER), redis $HOST:$REDIS_PORT (pid $redis_running), kafka $HOST:$KAFKA_PORT (pid $kafka_running)"
log "env: . $ENV_FILE   (logs under $STACK_DIR)"
