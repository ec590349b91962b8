#!/usr/bin/env bash
# tests/e2e/daemons.sh — all five daemons as real processes against the real stack: they
# start, read their config, connect, answer /healthz /readyz /metrics, give JSON errors for bad
# HTTP, refuse a bad config key naming key and file, name a busy port, and stop cleanly on
# SIGTERM with exit 0 and no leak reported by AddressSanitizer.
. "$(dirname "$0")/lib.bash"

declare -A PORT=([intake]=18081 [dispatcher]=18082 [deadline-watcher]=18083 [revisit]=18084 [reporting]=18085)
declare -A PIDOF
for d in intake dispatcher deadline-watcher revisit reporting; do
  start_daemon "$d" "${PORT[$d]}"
  PIDOF[$d]=$LAST_PID
done

for d in intake dispatcher deadline-watcher revisit reporting; do
  p=${PORT[$d]}
  check "$d is ready (PostgreSQL, Redis and Kafka answer)" wait_ready "$p" 60
  http GET "http://127.0.0.1:$p/healthz"
  check "$d /healthz 200 ok" test "$HTTP_CODE" = 200 -a -n "$(printf '%s' "$HTTP_BODY" | grep '"status":"ok"')"
  http GET "http://127.0.0.1:$p/readyz"
  check "$d /readyz names each dependency ok" \
    test -n "$(printf '%s' "$HTTP_BODY" | grep '"postgres":"ok"' | grep '"redis":"ok"' | grep '"kafka":"ok"')"
  http GET "http://127.0.0.1:$p/metrics"
  check "$d /metrics is Prometheus text" \
    test -n "$(printf '%s' "$HTTP_BODY" | grep '^# TYPE jiesu_dependency_up gauge')"
done

p=${PORT[intake]}
http GET "http://127.0.0.1:$p/no/such/thing"
check "unknown path → 404 JSON error" test "$HTTP_CODE" = 404
check "  … body is a JSON error" is_json_error
http POST "http://127.0.0.1:$p/healthz" -H 'Content-Type: application/json' -d '{}'
check "wrong method → 405 JSON error" test "$HTTP_CODE" = 405
check "  … body is a JSON error" is_json_error
head -c 2000000 /dev/zero | tr '\0' 'a' > /tmp/e2e-big.$$
http POST "http://127.0.0.1:$p/healthz" -H 'Content-Type: application/json' --data-binary @/tmp/e2e-big.$$
rm -f /tmp/e2e-big.$$
check "2 MB body → 413 JSON error" test "$HTTP_CODE" = 413
check "  … body is a JSON error" is_json_error
http POST "http://127.0.0.1:$p/healthz" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' -d '{}'
check "chunked body → 411 JSON error" test "$HTTP_CODE" = 411

# a busy port is named
start_daemon revisit "${PORT[intake]}"
wait_exit "$LAST_PID" 30
check "a second daemon on a busy port exits 1" test "$EXIT_STATUS" = 1
check "  … and names the port" grep -q "port ${PORT[intake]}" "$E2E_LOGDIR/revisit-${PORT[intake]}.log"

# a bad config key names key and file; a bad value names the key
cfg=$(mktemp --suffix=.conf)
printf '# test\nhttp_port = 18099\nhttp_prot = 1\n' > "$cfg"
out=$("$JIESU_BIN/jiesu-intake" --config "$cfg" 2>&1); st=$?
check "unknown config key → exit 2" test "$st" = 2
check "  … message names file, line and key" grep -q "$cfg:3: unknown key 'http_prot'" <<<"$out"
out=$("$JIESU_BIN/jiesu-intake" --http-port=99999 2>&1); st=$?
check "out-of-range value → exit 2 naming the key" test "$st" = 2 -a -n "$(grep http_port <<<"$out")"
out=$(JIESU_HTTP_PORT=abc "$JIESU_BIN/jiesu-intake" 2>&1); st=$?
check "bad environment value → exit 2 naming the variable" test "$st" = 2 -a -n "$(grep JIESU_HTTP_PORT <<<"$out")"
out=$("$JIESU_BIN/jiesu-intake" --config "$cfg" --http-prot=1 --dump-config 2>&1); st=$?
check "unknown command-line option → exit 2" test "$st" = 2
printf 'http_port = 18098\nlog_level = warn\n' > "$cfg"
out=$(JIESU_LOG_LEVEL=error "$JIESU_BIN/jiesu-intake" --config "$cfg" --http-port=18097 --dump-config 2>&1)
check "--dump-config: command line beats file" grep -q '^http_port = 18097$' <<<"$out"
check "--dump-config: environment beats file" grep -q '^log_level = error$' <<<"$out"
check "--dump-config masks the database password" test -z "$(grep 'password=jiesu' <<<"$out")"
rm -f "$cfg"
for d in intake dispatcher deadline-watcher revisit reporting; do
  "$JIESU_BIN/jiesu-$d" --config "deploy/config/$d.conf" --dump-config >/dev/null 2>&1
  check "the annotated example deploy/config/$d.conf loads" test $? = 0
done

# clean shutdown: SIGTERM → drain → exit 0, consumers/producers closed, no leaks
for d in intake dispatcher deadline-watcher revisit reporting; do kill -TERM "${PIDOF[$d]}"; done
for d in intake dispatcher deadline-watcher revisit reporting; do
  wait_exit "${PIDOF[$d]}" 60
  log="$E2E_LOGDIR/$d-${PORT[$d]}.log"
  check "$d exits 0 on SIGTERM" test "$EXIT_STATUS" = 0
  check "  … logs draining then stopped cleanly" grep -q '"msg":"stopped cleanly"' "$log"
  check "  … with no leak or UB report" test -z "$(grep -E 'LeakSanitizer|runtime error|AddressSanitizer' "$log")"
  check "  … and every log line is JSON" python3 -c '
import json,sys
for l in open(sys.argv[1]):
    json.loads(l)' "$log"
done
e2e_finish
