#!/usr/bin/env bash
# Print the state of each stack service (running/stopped, address, pid, answering) and
# exit 0 only when all three answer.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

all=0
row() { # name port pid answers(0/1)
    local name=$1 port=$2 pid=$3 ans=$4 state note=''
    if [ -n "$pid" ]; then state=running; else state=stopped; fi
    if [ "$ans" = 1 ]; then note=answering; else
        all=1
        if [ -n "$pid" ]; then note='NOT answering'; fi
        if [ -z "$pid" ]; then
            local owner
            if owner=$(port_listener "$port"); then note="port held by another process (pid ${owner%% *}, name ${owner#* })"; fi
        fi
    fi
    printf '[stack] %-9s %-8s %s:%-6s pid %-8s %s\n' "$name" "$state" "$HOST" "$port" "${pid:--}" "$note"
}

p=$(pg_pid); [ -n "$p" ] || p=$(pg_strays | head -n 1); a=0
[ -n "$p" ] && pg_answers && a=1
row postgres "$PG_PORT" "$p" $a

p=$(redis_pid); [ -n "$p" ] || p=$(redis_strays | head -n 1); a=0
[ -n "$p" ] && redis_answers && a=1
row redis "$REDIS_PORT" "$p" $a

p=$(kafka_pid); [ -n "$p" ] || p=$(kafka_strays | head -n 1); a=0
[ -n "$p" ] && kafka_answers && a=1
row kafka "$KAFKA_PORT" "$p" $a

if [ $all = 0 ] && [ -f "$ENV_FILE" ]; then log "env: . $ENV_FILE"; fi
exit $all
