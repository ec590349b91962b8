# tests/e2e/lib.bash — helpers for end-to-end scripts: checks that count, daemons as processes.
# Sourced by each tests/e2e/*.sh; tests/run.sh exports JIESU_BIN, JIESU_PG_DSN (test db), etc.
set -uo pipefail
E2E_FAILS=0
E2E_CHECKS=0
E2E_PIDS=()
E2E_LOGDIR=${JIESU_ROOT:-.}/build/test-logs/e2e
mkdir -p "$E2E_LOGDIR"

check() { # description, command...
  local what=$1; shift
  E2E_CHECKS=$((E2E_CHECKS + 1))
  if "$@"; then echo "  ok   $what"; else echo "  FAIL $what"; E2E_FAILS=$((E2E_FAILS + 1)); fi
}

# http METHOD URL [curl args...] → sets HTTP_CODE and HTTP_BODY
http() {
  local method=$1 url=$2; shift 2
  local out
  out=$(curl -s -m 10 -o /tmp/e2e-body.$$ -w '%{http_code}' -X "$method" "$@" "$url") || out=000
  HTTP_CODE=$out
  HTTP_BODY=$(cat /tmp/e2e-body.$$ 2>/dev/null || true)
  rm -f /tmp/e2e-body.$$
}

is_json_error() { # the body is {"error":{"code":...,"message":...}}
  printf '%s' "$HTTP_BODY" | python3 -c 'import json,sys; d=json.load(sys.stdin); e=d["error"]; assert e["code"] and e["message"]' 2>/dev/null
}

start_daemon() { # name port [args...]; sets LAST_PID
  local name=$1 port=$2; shift 2
  "$JIESU_BIN/jiesu-$name" --http-port="$port" --pg-dsn="$JIESU_PG_DSN" \
    --redis-addr="$JIESU_REDIS_ADDR" --kafka-brokers="$JIESU_KAFKA_BROKERS" "$@" \
    2>"$E2E_LOGDIR/$name-$port.log" &
  LAST_PID=$!
  E2E_PIDS+=("$LAST_PID")
}

wait_ready() { # port timeout_s
  local port=$1 t=${2:-30} i=0
  while [ $i -lt $((t * 10)) ]; do
    [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && return 0
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

wait_exit() { # pid timeout_s → sets EXIT_STATUS (a number, or "timeout"); no subshell, so
  local pid=$1 t=${2:-30} i=0  # `wait` can reap our own child and read its status
  while kill -0 "$pid" 2>/dev/null && [ -z "$(ps -o stat= -p "$pid" | grep Z)" ] && [ $i -lt $((t * 10)) ]; do
    sleep 0.1; i=$((i + 1))
  done
  if [ -z "$(ps -o stat= -p "$pid" | grep Z)" ] && kill -0 "$pid" 2>/dev/null; then EXIT_STATUS=timeout; return; fi
  wait "$pid"; EXIT_STATUS=$?
}

e2e_cleanup() {
  for p in "${E2E_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
}
trap e2e_cleanup EXIT

e2e_finish() {
  echo "$((E2E_CHECKS - E2E_FAILS)) passed, $E2E_FAILS failed"
  [ "$E2E_FAILS" -eq 0 ]
}
