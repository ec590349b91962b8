#!/usr/bin/env bash
# Stop the local stack: Kafka (SIGTERM, wait, SIGKILL), Redis (SIGTERM = SHUTDOWN, which
# syncs the append-only file), PostgreSQL (pg_ctl stop -m fast). Also cleans up after a
# crash: stale pid files, a dead server's postmaster.pid, leftover processes of this state
# folder found by pid file or by command line. Data is kept.
#
#   deploy/stack/down.sh           stop, keep data
#   deploy/stack/down.sh --purge   stop, then delete the state folder ($JIESU_STACK_DIR)
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

purge=0
case ${1:-} in
    --purge) purge=1 ;;
    '') ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (want: --purge)" ;;
esac

if [ ! -d "$STACK_DIR" ]; then
    log "nothing to stop: $STACK_DIR does not exist"
    exit 0
fi
# --purge deletes only a folder that up.sh made (it has the marker file)
if [ $purge = 1 ]; then
    case $STACK_DIR in
        /|"$REPO_DIR"|"${HOME:-/root}"|/root|/home|/tmp|/var|/usr|/etc)
            die "refusing to delete $STACK_DIR" ;;
    esac
    others=$(find "$STACK_DIR" -mindepth 1 -maxdepth 1 ! -name .lock | head -n 1)
    if [ ! -f "$STACK_MARKER" ] && [ -n "$others" ]; then
        die "refusing to delete $STACK_DIR: it has no $(basename "$STACK_MARKER") marker, so it may not be ours"
    fi
fi
# lock only a folder of ours (no stray lock files elsewhere)
[ ! -f "$STACK_MARKER" ] || stack_lock

uniq_pids() { tr ' ' '\n' | { grep -E '^[0-9]+$' || true; } | sort -un | tr '\n' ' '; }

# --- Kafka ------------------------------------------------------------------------------------
pids=$( { kafka_pid; echo; kafka_strays; } | uniq_pids)
if [ -n "${pids// /}" ]; then
    for p in $pids; do
        log "kafka: stopping pid $p"
        stop_pid "$p" 45 kafka || warn "kafka: pid $p survived SIGKILL"
    done
    log "kafka: stopped"
else
    if [ -f "$KAFKA_PIDFILE" ]; then log "kafka: not running (removing its stale pid file)"; else log "kafka: not running"; fi
fi
rm -f "$KAFKA_PIDFILE"

# --- Redis ------------------------------------------------------------------------------------
pids=$( { redis_pid; echo; redis_strays; } | uniq_pids)
if [ -n "${pids// /}" ]; then
    for p in $pids; do
        log "redis: stopping pid $p"
        stop_pid "$p" 30 redis || warn "redis: pid $p survived SIGKILL"
    done
    log "redis: stopped"
else
    if [ -f "$REDIS_PIDFILE" ]; then log "redis: not running (removing its stale pid file)"; else log "redis: not running"; fi
fi
rm -f "$REDIS_PIDFILE"

# --- PostgreSQL -------------------------------------------------------------------------------
p=$(pg_pid)
if [ -n "$p" ]; then
    log "postgres: stopping pid $p (fast)"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 -s stop </dev/null; then
        warn "postgres: fast stop failed; trying immediate"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 -s stop </dev/null || stop_pid "$p" 5 postgres || true
    fi
    log "postgres: stopped"
elif pg_clean_stale; then
    log "postgres: not running (removed the stale postmaster.pid / socket lock)"
else
    log "postgres: not running"
fi
# a postmaster of our data dir that its pid file does not name (SIGINT = fast shutdown)
for p in $(pg_strays); do
    log "postgres: stopping leftover postmaster pid $p"
    kill -INT "$p" 2>/dev/null || true
    stop_pid "$p" 30 postgres || true
done

# the env file describes a running stack; up.sh writes it again
rm -f "$ENV_FILE"

# --- purge ------------------------------------------------------------------------------------
if [ $purge = 1 ]; then
    if [ -L "$STACK_DIR/pg" ]; then
        alt=$(readlink -f "$STACK_DIR/pg")
        case $alt in /var/lib/jiesu-stack/*) rm -rf "$(dirname "$alt")" ;; esac
    fi
    rm -rf "$STACK_DIR"
    log "purged $STACK_DIR (the Kafka download cache $KAFKA_HOME is kept)"
fi
log "down"
