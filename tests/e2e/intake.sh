#!/usr/bin/env bash
# tests/e2e/intake.sh — jiesu-intake as a real process against the real stack: the Guangxi
# territory loaded, principals and tokens issued, two instances (one with a tight rate limit),
# and the API exercised end to end by tests/e2e/intake_api.py (submissions from every side,
# duplicates in Chinese, idempotent retries, concurrent numbering, review decisions and their
# races, the policy library, 50+ bad inputs that must write nothing, events through the outbox).
. "$(dirname "$0")/lib.bash"
cd "$JIESU_ROOT"
export PGOPTIONS="-c client_min_messages=warning"

# the territory (idempotent: other e2e scripts may have loaded it)
"$JIESU_BIN/jiesuctl" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null || { echo "cannot load the territory"; exit 1; }

ctl() { "$JIESU_BIN/jiesuctl" "$@"; }
tok() { ctl token issue --principal "$1"; }
RUN=$(date +%s%N | tail -c 7)
export T_AGENT=$(tok "$(ctl principal add --role agent --name "青秀区受理专席$RUN" --region 450103)")
export T_AGENT_OTHER=$(tok "$(ctl principal add --role agent --name "柳州受理专席$RUN" --region 450200)")
export T_AGENT_PROV=$(tok "$(ctl principal add --role agent --name "自治区受理专席$RUN" --region 450000)")
export T_CENTRE=$(tok "$(ctl principal add --role centre --name "青秀区专班$RUN" --region 450103)")
export T_ENT_A=$(tok "$(ctl principal add --role enterprise --name 南宁市青秀区桂鑫商贸有限公司 --credit-code 91450103745632897U)")
export T_ENT_B=$(tok "$(ctl principal add --role enterprise --name 广西某某建材有限公司 --credit-code 91450100754321011D)")
export T_ENT_C=$(tok "$(ctl principal add --role enterprise --name 南宁市西乡塘区某食品有限公司 --credit-code 914501026666666698)")
export T_OPERATOR=$(tok "$(ctl principal add --role operator --name "运维$RUN")")
for v in T_AGENT T_AGENT_OTHER T_AGENT_PROV T_CENTRE T_ENT_A T_ENT_B T_ENT_C T_OPERATOR; do
  [ -n "${!v}" ] || { echo "could not issue $v"; exit 1; }
done

# principal ids restart with the test database: forget earlier runs' rate-limit windows
redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" --scan --pattern 'jiesu:rl:intake:*' |
  xargs -r redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" DEL >/dev/null

start_daemon intake 18281 --rate-limit-per-min=100000 --batch-wait-us=3000
MAIN=$LAST_PID
start_daemon intake 18282 --rate-limit-per-min=5 --outbox-relay=false
TIGHT=$LAST_PID
check "intake ready" wait_ready 18281 60
check "second intake instance ready" wait_ready 18282 60

export INTAKE_URL=http://127.0.0.1:18281 INTAKE_TIGHT_URL=http://127.0.0.1:18282
python3 tests/e2e/intake_api.py
st=$?
check "intake API checks (tests/e2e/intake_api.py)" test $st = 0

kill -TERM "$MAIN" "$TIGHT"
for pid in "$MAIN" "$TIGHT"; do
  wait_exit "$pid" 60
  check "intake $pid exits 0 on SIGTERM" test "$EXIT_STATUS" = 0
done
for log in "$E2E_LOGDIR"/intake-1828[12].log; do
  check "  … $(basename "$log"): no leak or UB report" test -z "$(grep -E 'LeakSanitizer|runtime error|AddressSanitizer' "$log")"
  check "  … $(basename "$log"): no phone number in clear" test -z "$(grep -E '1380771[0-9]{4}' "$log")"
done
e2e_finish
