#!/usr/bin/env bash
# tests/e2e/reporting.sh — jiesu-reporting as a real process against the real stack: the
# Guangxi territory, a simulated month (deploy/demo/reporting_demo.py writes cases, case_events
# and outbox rows as the daemons would; the daemon's relay publishes them and its consumer
# builds the read models), principals of every kind, and the API exercised end to end by
# tests/e2e/reporting_api.py: measures by every grouping checked against the generator's own
# counts, rankings and the red-black list, the bulletin, the ledger as JSON, CSV and an xlsx
# read back with openpyxl, the dossier, tracking (right code, wrong code, throttled, nothing
# about other cases), scope refusals, 20+ bad inputs, and a rebuild that changes nothing.
. "$(dirname "$0")/lib.bash"
cd "$JIESU_ROOT"
export PGOPTIONS="-c client_min_messages=warning"

"$JIESU_BIN/jiesuctl" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null || { echo "cannot load the territory"; exit 1; }

ctl() { "$JIESU_BIN/jiesuctl" "$@"; }
tok() { ctl token issue --principal "$1"; }
RUN=$(date +%s%N | tail -c 7)
export REP_MONTH=2026-10
SIM=$E2E_LOGDIR/reporting-sim-$RUN.json
redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" --scan --pattern 'jiesu:rl:track-*' |
  xargs -r redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" DEL >/dev/null

start_daemon reporting 18285 --track-ip-per-min=12 --track-case-per-hour=4 --rank-min-cases=3 --outbox-poll-ms=5
REP=$LAST_PID
check "reporting ready" wait_ready 18285 60
# what the shared topics held before this run is not this database's: start from its own history
JIESU_PG_DSN=$JIESU_PG_DSN "$JIESU_BIN/jiesu-reporting" rebuild >/dev/null
check "a rebuild from case_events before the month" test $? = 0

python3 deploy/demo/reporting_demo.py simulate --month "$REP_MONTH" --seed 11 --cases 200 --json "$SIM" >/dev/null
check "simulated month written" test -s "$SIM"
export REP_SIM=$SIM

UNIT=$(python3 -c "import json; print(json.load(open('$SIM'))['units'][0]['id'])")
OTHER_UNIT=$(python3 -c "import json; print(json.load(open('$SIM'))['units'][1]['id'])")
ENT=$(python3 -c "import json; print(json.load(open('$SIM'))['tracking'][0]['credit_code'])")
export T_LEADER=$(tok "$(ctl principal add --role leader --name "南宁市领导$RUN" --region 450100)")
export T_LEADER_ALL=$(tok "$(ctl principal add --role leader --name "自治区领导$RUN")")
export T_CENTRE=$(tok "$(ctl principal add --role centre --name "兴宁区专班$RUN" --region 450102)")
export T_CENTRE_LZ=$(tok "$(ctl principal add --role centre --name "柳州专班$RUN" --region 450200)")
export T_SUPERVISOR=$(tok "$(ctl principal add --role supervisor --name "南宁督查室$RUN" --region 450100)")
export T_UNIT=$(tok "$(ctl principal add --role unit --name "承办人$RUN" --unit-id "$UNIT")")
export T_UNIT_OTHER=$(tok "$(ctl principal add --role unit --name "承办人乙$RUN" --unit-id "$OTHER_UNIT")")
export T_ENT=$(tok "$(ctl principal add --role enterprise --name "企业$RUN" --credit-code "$ENT")")
export T_OPERATOR=$(tok "$(ctl principal add --role operator --name "运维$RUN")")
export T_AGENT=$(tok "$(ctl principal add --role agent --name "专席$RUN" --region 450100)")
for v in T_LEADER T_LEADER_ALL T_CENTRE T_CENTRE_LZ T_SUPERVISOR T_UNIT T_UNIT_OTHER T_ENT T_OPERATOR T_AGENT; do
  [ -n "${!v}" ] || { echo "could not issue $v"; exit 1; }
done

# the relay publishes the month, the consumer folds it
for _ in $(seq 1 300); do
  left=$(psql -tA "$JIESU_PG_DSN" -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")
  lag=$(psql -tA "$JIESU_PG_DSN" -c "SELECT count(*) FROM case_events e WHERE e.id > (SELECT hwm FROM rep_state)
        AND NOT EXISTS (SELECT 1 FROM consumed_events c WHERE c.consumer = 'reporting' AND c.event_id = e.event_id)")
  [ "$left" = 0 ] && [ "$lag" = 0 ] && break
  sleep 0.2
done
check "every event of the month folded into the read models" test "$left" = 0 -a "$lag" = 0

export REP_URL=http://127.0.0.1:18285 REP_BIN=$JIESU_BIN/jiesu-reporting
# the xlsx is read back with openpyxl: Debian's python3-openpyxl (deps.sh) lives with /usr/bin/python3
PY=python3
/usr/bin/python3 -c 'import openpyxl' 2>/dev/null && PY=/usr/bin/python3
$PY tests/e2e/reporting_api.py
st=$?
check "reporting API checks (tests/e2e/reporting_api.py)" test $st = 0

# behind a reverse proxy: X-Forwarded-For names the client only when the proxy is trusted,
# and the per-case allowance is per client, so a stranger cannot use up the enterprise's
out=$("$JIESU_BIN/jiesu-reporting" --trusted-proxies=10.0.0.0/8,abc 2>&1); st=$?
check "a bad trusted_proxies entry → exit 2 naming it" test "$st" = 2 -a -n "$(grep -F "'abc'" <<<"$out")"
start_daemon reporting 18286 --track-ip-per-min=12 --track-case-per-hour=4 --outbox-relay=false \
  --trusted-proxies=127.0.0.1 --ledger-max-rows=5 --track-case-total-per-hour=6
REP2=$LAST_PID
check "reporting behind a proxy ready" wait_ready 18286 60
read -r TCASE TCODE < <(python3 -c "import json; t=json.load(open('$SIM'))['tracking'][15]; print(t['case_no'], t['tracking_code'])")
track_as() { # client address → HTTP status of one look-up of $TCASE
  curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'Content-Type: application/json' -H "X-Forwarded-For: $1" \
    -d "{\"case_no\":\"$TCASE\",\"tracking_code\":\"$TCODE\"}" http://127.0.0.1:18286/v1/track
}
got=""; for _ in 1 2 3 4 5; do got="$got $(track_as 203.0.113.7)"; done
check "one client behind the proxy: 4 look-ups of a case, the 5th → 429" test "$got" = " 200 200 200 200 429"
check "  … another client of the same proxy still reads that case" test "$(track_as 203.0.113.8)" = 200
check "  … a forged left-most hop does not make a new client" test "$(track_as '198.51.100.1, 203.0.113.7')" = 429
check "  … a third client still reads it (6 look-ups of the case in all)" test "$(track_as 203.0.113.9)" = 200
check "  … a fourth is refused: many addresses cannot multiply the guesses" test "$(track_as 203.0.113.10)" = 429
http GET "http://127.0.0.1:18286/v1/reports/ledger?month=$REP_MONTH&region=450100" -H "Authorization: Bearer $T_LEADER"
check "a ledger longer than ledger_max_rows → 422 too_many_rows naming 'to'" \
  test "$HTTP_CODE" = 422 -a -n "$(grep -F '"too_many_rows"' <<<"$HTTP_BODY" | grep -F '"field":"to"')"
kill -TERM "$REP2"
wait_exit "$REP2" 60
check "reporting behind a proxy exits 0" test "$EXIT_STATUS" = 0

kill -TERM "$REP"
wait_exit "$REP" 60
check "reporting exits 0 on SIGTERM" test "$EXIT_STATUS" = 0
log=$E2E_LOGDIR/reporting-18285.log
check "  … no leak or UB report" test -z "$(grep -aE 'LeakSanitizer|runtime error|AddressSanitizer' "$log")"
check "  … no phone number in clear" test -z "$(grep -aE '138077[0-9]{5}' "$log")"
check "  … no tracking code in the log" test -z "$(python3 -c "
import json,sys
codes=[t['tracking_code'] for t in json.load(open('$SIM'))['tracking']]
txt=open('$log',errors='replace').read()
print(' '.join(c for c in codes if c in txt))")"
e2e_finish
