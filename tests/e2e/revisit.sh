#!/usr/bin/env bash
# tests/e2e/revisit.sh — jiesu-revisit as a real process against the real stack, with
# jiesu-intake registering the appeals and jiesu-deadline-watcher issuing the supervision notice
# a claimed contact that did not happen leads to. The dispatcher is not needed: the test moves accepted
# cases through dispatch, signing, contacts and results with SQL that writes the case row, its
# history and outbox rows carrying valid envelopes — so case.result_submitted reaches the
# revisit's consumer through the outbox relay and Kafka exactly as the dispatcher's will.
# tests/e2e/revisit_api.py then drives the revisit API: the two-round path to escalation with
# the review form and the discipline referral, the fraud path, declined ratings, unreachable
# enterprises, self-rating with a tracking code and its throttles (per case and client, per case,
# never for the enterprise's own token), the look-back sample, races,
# scope, and bad inputs that write nothing. Ends with SIGTERM: exit 0, no leak, no phone number.
. "$(dirname "$0")/lib.bash"
cd "$JIESU_ROOT"
export PGOPTIONS="-c client_min_messages=warning"

"$JIESU_BIN/jiesuctl" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null || { echo "cannot load the territory"; exit 1; }

ctl() { "$JIESU_BIN/jiesuctl" "$@"; }
tok() { ctl token issue --principal "$1"; }
psqlq() { psql "$JIESU_PG_DSN" -tAq -v ON_ERROR_STOP=1 -c "$1"; }
RUN=$(date +%s%N | tail -c 7)

# Three regions of Nanning under three profiles: 良庆区 as 滕州 (four-level scale, 3-day
# redo, review form), 邕宁区 as 枣阳 (leads referred to discipline inspection), 武鸣区 keeps
# 广西 (interviews, look-back at 10%). Put back on exit: other scripts share the database.
psqlq "UPDATE regions SET policy_profile = 'tengzhou' WHERE code = '450108';
       UPDATE regions SET policy_profile = 'zaoyang' WHERE code = '450109'" ||
  { echo "cannot bind the test regions"; exit 1; }
restore_regions() { psqlq "UPDATE regions SET policy_profile = NULL WHERE code IN ('450108', '450109')" >/dev/null 2>&1; }
trap 'restore_regions; e2e_cleanup' EXIT

unit_of() { psqlq "SELECT id FROM units WHERE code = '$1'"; }
export U_WM=$(unit_of 450110-ZJ) U_WM2=$(unit_of 450110-JT) U_YN=$(unit_of 450109-SCJG) U_LQ=$(unit_of 450108-ZRZY)
export P_UNIT_WM=$(ctl principal add --role unit --name "武鸣区住建局经办人$RUN" --unit-id "$U_WM")
export P_UNIT_YN=$(ctl principal add --role unit --name "邕宁区市场监管局经办人$RUN" --unit-id "$U_YN")
export P_UNIT_LQ=$(ctl principal add --role unit --name "良庆区自然资源局经办人$RUN" --unit-id "$U_LQ")
export T_UNIT_WM=$(tok "$P_UNIT_WM") T_UNIT_YN=$(tok "$P_UNIT_YN") T_UNIT_LQ=$(tok "$P_UNIT_LQ")
export T_AGENT=$(tok "$(ctl principal add --role agent --name "南宁受理专席$RUN" --region 450100)")
export T_SUP=$(tok "$(ctl principal add --role supervisor --name "南宁市督查室回访员$RUN" --region 450100)")
export T_SUP2=$(tok "$(ctl principal add --role supervisor --name "南宁市督查室回访员乙$RUN" --region 450100)")
export T_SUP_LZ=$(tok "$(ctl principal add --role supervisor --name "柳州市督查室$RUN" --region 450200)")
export T_CENTRE=$(tok "$(ctl principal add --role centre --name "南宁市专班$RUN" --region 450100)")
export T_LEADER=$(tok "$(ctl principal add --role leader --name "分管副市长$RUN" --region 450100)")
export T_DISC=$(tok "$(ctl principal add --role discipline --name "邕宁区纪委监委$RUN" --region 450109)")
export T_DISC_LZ=$(tok "$(ctl principal add --role discipline --name "柳州市纪委监委$RUN" --region 450200)")
export T_OPERATOR=$(tok "$(ctl principal add --role operator --name "运维$RUN")")
export T_ENT_A=$(tok "$(ctl principal add --role enterprise --name 南宁市武鸣区桂鑫建材有限公司 --credit-code 91450103745632897U)")
export T_ENT_B=$(tok "$(ctl principal add --role enterprise --name 广西某某建材有限公司 --credit-code 91450100754321011D)")
for v in U_WM U_WM2 U_YN U_LQ T_UNIT_WM T_UNIT_YN T_UNIT_LQ T_AGENT T_SUP T_SUP2 T_SUP_LZ T_CENTRE T_LEADER T_DISC \
         T_DISC_LZ T_OPERATOR T_ENT_A T_ENT_B; do
  [ -n "${!v}" ] || { echo "could not prepare $v"; exit 1; }
done

# principal ids restart with the test database: forget earlier runs' throttle windows
redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" --scan --pattern 'jiesu:rl:revisit-self*' |
  xargs -r redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" DEL >/dev/null
redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" --scan --pattern 'jiesu:rl:intake:*' |
  xargs -r redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" DEL >/dev/null

start_daemon intake 18481 --rate-limit-per-min=100000
INTAKE=$LAST_PID
start_daemon revisit 18484 --self-rating-per-min=100 --self-rating-per-case=5 --self-rating-case-total-per-hour=8 \
  --trusted-proxies=127.0.0.1 --job-interval-s=2 --lookback-job=true --archive-job=false
REVISIT=$LAST_PID
# The deadline watcher issues the notice for a claimed contact that did not happen (from the
# revisit's case.revisit_recorded) and keeps its reply clock: its own port and Redis prefix.
WPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_daemon deadline-watcher "$WPORT" --redis-prefix="e2e:revisit-watcher:$RUN" --poll-ms=50 --scan-interval-ms=500 \
  --outbox-poll-ms=20 --auth-cache-ms=0
WATCHER=$LAST_PID
check "intake ready" wait_ready 18481 60
check "revisit ready" wait_ready 18484 60
check "deadline-watcher ready" wait_ready "$WPORT" 60

export INTAKE_URL=http://127.0.0.1:18481 REVISIT_URL=http://127.0.0.1:18484 WATCH_URL=http://127.0.0.1:$WPORT
python3 tests/e2e/revisit_api.py
st=$?
check "revisit API checks (tests/e2e/revisit_api.py)" test $st = 0

# the monthly look-back job drew last month's sample for each region binding a sampling profile
check "the periodic job drew last month's look-back samples (广西 at 450000, 枣阳 at 450109), once each" \
  test "$(psqlq "SELECT count(*) FROM revisit_samples WHERE drawn_by IS NULL AND region_code IN ('450000', '450109')
    AND period_from = date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai' - interval '1 month')
    AT TIME ZONE 'Asia/Shanghai'")" = 2

# the per-address throttle, on a second instance with a tight limit (the window lives in Redis)
redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" DEL jiesu:rl:revisit-self:127.0.0.1 >/dev/null
start_daemon revisit 18485 --self-rating-per-min=2 --outbox-relay=false --lookback-job=false --archive-job=false
TIGHT=$LAST_PID
check "a second revisit instance ready" wait_ready 18485 60
codes=""
for i in 1 2 3; do
  http POST http://127.0.0.1:18485/v1/revisits/self-rating -H 'Content-Type: application/json' \
    -d '{"case_no":"450110-2026-999998","tracking_code":"ABCDEFGHJK","contact_confirmed":true,"result_true":true,"satisfaction":"满意"}'
  codes="$codes $HTTP_CODE"
done
check "self-rating from one address: 2 a minute, the third gets 429 ($codes)" test "$codes" = " 404 404 429"

kill -TERM "$REVISIT" "$INTAKE" "$TIGHT" "$WATCHER"
for pid in "$REVISIT" "$INTAKE" "$TIGHT" "$WATCHER"; do
  wait_exit "$pid" 60
  check "daemon $pid exits 0 on SIGTERM" test "$EXIT_STATUS" = 0
done
for log in "$E2E_LOGDIR"/revisit-18484.log "$E2E_LOGDIR"/revisit-18485.log "$E2E_LOGDIR"/intake-18481.log \
           "$E2E_LOGDIR/deadline-watcher-$WPORT.log"; do
  check "  … $(basename "$log"): no leak or UB report" test -z "$(grep -E 'LeakSanitizer|runtime error|AddressSanitizer' "$log")"
  check "  … $(basename "$log"): no phone number in clear" test -z "$(grep -E '1390771[0-9]{4}' "$log")"
  check "  … $(basename "$log"): no enterprise words in clear" test -z "$(grep -F '一直没人来' "$log")"
done
e2e_finish
