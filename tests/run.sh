#!/usr/bin/env bash
# tests/run.sh — runs the test tiers against the real local stack.
#
#   tests/run.sh all          start the stack if needed, unit + integration + e2e, stop it again
#   tests/run.sh unit|integration|e2e [NAME...]   one tier (the stack must be up for the last
#                                     two); with names, only the tests whose file names contain one
#
# Unit and integration binaries are built with AddressSanitizer and UBSan (BUILD=debug), so a
# leak or undefined behaviour fails the test that caused it. Integration and e2e tests use the
# database jiesu_test, reset and migrated before the run, and unique Kafka topics per run.
# Ends with one line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-debug}
B=$ROOT/build/$BUILD
tier=${1:-all}
shift || true
only=("$@")
passed=0
failed=0
failures=()
LOGDIR=$ROOT/build/test-logs
mkdir -p "$LOGDIR"

export PGOPTIONS="-c client_min_messages=warning"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export JIESU_ROOT=$ROOT
export JIESU_BIN=$B/bin

selected() { # file name → 0 when no names were given or one of them is part of it
  [ ${#only[@]} -eq 0 ] && return 0
  local n
  for n in "${only[@]}"; do [[ $1 == *"$n"* ]] && return 0; done
  return 1
}

run_one() { # name, command...
  local name=$1; shift
  selected "$name" || return 0
  local log="$LOGDIR/${name//\//_}.log"
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    printf '  ok    %-48s %3ss\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf '  FAIL  %-48s %3ss  (log: %s)\n' "$name" $((SECONDS - t0)) "${log#$ROOT/}"
    tail -n 40 "$log" | sed 's/^/        | /'
  fi
}

stack_env() {
  local envf=${JIESU_STACK_DIR:-$ROOT/.stack}/env
  if [ ! -f "$envf" ]; then
    echo "tests: the stack is not up (no $envf); run 'make up' or 'make test'" >&2
    exit 1
  fi
  # shellcheck disable=SC1090
  . "$envf"
  export JIESU_PG_DSN=$JIESU_PG_TEST_DSN JIESU_REDIS_ADDR JIESU_KAFKA_BROKERS
  export JIESU_RUN_ID=${JIESU_RUN_ID:-$(date +%s)$$}
}

reset_test_db() {
  psql "$JIESU_PG_DSN" -q -v ON_ERROR_STOP=1 \
    -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public" >/dev/null ||
    { echo "tests: cannot reset the test database" >&2; exit 1; }
  "$B/bin/jiesuctl" migrate >/dev/null || { echo "tests: migrations failed" >&2; exit 1; }
}

unit() {
  echo "unit tests (ASan+UBSan):"
  for t in "$B"/tests/unit/test_*; do
    [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
  done
  # The contract cannot drift: every JSON Schema's examples hold, and the OpenAPI document
  # matches the routes, validation tables and enumerations in the C code. Debian's python3
  # (python3-yaml, python3-jsonschema, installed by make deps), whatever else is on PATH.
  echo "contract checks:"
  run_one "contract/event_schemas" /usr/bin/python3 proto/tools/check_schemas.py
  run_one "contract/openapi_drift" /usr/bin/python3 proto/tools/check_openapi.py
}

integration() {
  stack_env
  reset_test_db
  echo "integration tests (real PostgreSQL, Redis, Kafka; ASan+UBSan):"
  for t in "$B"/tests/integration/test_*; do
    [ -x "$t" ] && run_one "integration/$(basename "$t")" "$t"
  done
}

e2e() {
  stack_env
  echo "end-to-end tests (the five daemons as processes):"
  # each script gets a fresh database (it loads the territory and whatever else it needs), so
  # what one leaves behind — a second province, say — cannot change what the next one sees
  for t in tests/e2e/*.sh; do
    [ -f "$t" ] || continue
    selected "e2e/$(basename "$t" .sh)" || continue
    reset_test_db
    run_one "e2e/$(basename "$t" .sh)" bash "$t"
  done
}

case $tier in
  unit) unit ;;
  integration) integration ;;
  e2e) e2e ;;
  all)
    started=0
    if ! deploy/stack/status.sh >/dev/null 2>&1; then
      deploy/stack/up.sh || exit 1
      started=1
    fi
    [ $started = 1 ] && trap 'deploy/stack/down.sh >/dev/null 2>&1 || true' EXIT
    unit
    integration
    e2e
    ;;
  *) echo "usage: tests/run.sh all|unit|integration|e2e" >&2; exit 2 ;;
esac

echo
if [ $failed -gt 0 ]; then
  echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
