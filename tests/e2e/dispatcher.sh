#!/usr/bin/env bash
# tests/e2e/dispatcher.sh — jiesu-intake and two jiesu-dispatcher instances as real processes
# against the real stack: the Guangxi territory and responsibility catalogue loaded, centre,
# unit, supervisor, leader and enterprise principals issued, and the whole of issue 4 exercised
# by tests/e2e/dispatcher_api.py — automatic dispatch through Kafka, the centre's queue and
# manual dispatch, signing, contacts, progress, extensions capped by the profile, co-handlers'
# parts and the combined result, returns inside and after the sign-for window and after a remit
# decision, escalation and hand-down, the 409 race across instances, scope 404s, the assignment
# form, and 40+ bad inputs that write nothing.
. "$(dirname "$0")/lib.bash"
cd "$JIESU_ROOT"
export PGOPTIONS="-c client_min_messages=warning"
CTL=${JIESUCTL:-$JIESU_BIN/jiesuctl}
if ! "$CTL" catalogue --help >/dev/null 2>&1; then
  echo "$CTL has no 'catalogue' verb: tools/jiesuctl.c must call catalogue_cli (common/catalogue.h)"
  exit 1
fi

"$CTL" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null || { echo "cannot load the territory"; exit 1; }

# the catalogue: checked offline, refused when bad (naming every line), imported, re-import a no-op
out=$("$CTL" catalogue check deploy/data/guangxi/catalogue.csv 2>&1)
check "catalogue check: the shipped Guangxi catalogue is clean" grep -q '^ok: ' <<<"$out"
bad=$(mktemp --suffix=.csv)
printf '%s\n' 'matter_type,region_code,tier,lead_unit,co_handlers,dispatch,basis' \
  '营商环境,450103,county,450103-FGW,,auto,' '营商环境,450103,county,450103-FGW,,auto,' \
  '道路施工,4501,county,450103-ZJ,,auto,' '道路施工,450103,county,450103-NOSUCH,450200-JT,auto,' >"$bad"
before=$(psql -tA "$JIESU_PG_DSN" -c "SELECT count(*) FROM catalogue_versions")
out=$("$CTL" catalogue import "$bad" 2>&1); st=$?
check "catalogue import of a bad file → exit 2" test "$st" = 2
check "  … names line 3 (duplicate)" grep -q ":3: region_code: " <<<"$out"
check "  … names line 4 (region code)" grep -q ":4: region_code: " <<<"$out"
after=$(psql -tA "$JIESU_PG_DSN" -c "SELECT count(*) FROM catalogue_versions")
check "  … and writes no version" test "$before" = "$after"
printf '%s\n' 'matter_type,region_code,tier,lead_unit,co_handlers,dispatch,basis' \
  '道路施工,450103,county,450103-NOSUCH,450200-JT,auto,' >"$bad"
out=$("$CTL" catalogue import "$bad" 2>&1); st=$?
check "catalogue import checks units against the database (unknown lead, co-handler elsewhere)" \
  test "$st" = 2 -a -n "$(grep ':2: lead_unit: ' <<<"$out")" -a -n "$(grep ':2: co_handlers: ' <<<"$out")"
rm -f "$bad"
out=$("$CTL" catalogue import deploy/data/guangxi/catalogue.csv --note "e2e" 2>&1)
check "catalogue import of the shipped file" grep -qE '^(imported version|unchanged:)' <<<"$out"
out=$("$CTL" catalogue import deploy/data/guangxi/catalogue.csv 2>&1)
check "  … a second import of the same file adds no version" grep -q '^unchanged:' <<<"$out"
out=$("$CTL" catalogue route --matter-type 公共交通 --region 450103001 2>&1)
check "catalogue route: 公共交通 in a district's township → the city's 交通运输局" grep -q 'lead 450100-JT' <<<"$out"
export CATALOGUE_VERSION=$(psql -tA "$JIESU_PG_DSN" -c "SELECT max(version) FROM catalogue_versions")

ctl() { "$CTL" "$@"; }
tok() { ctl token issue --principal "$1"; }
uid() { psql -tA "$JIESU_PG_DSN" -c "SELECT id FROM units WHERE code = '$1'"; }
unit_tok() { tok "$(ctl principal add --role unit --name "$1 经办人$RUN" --unit-id "$(uid "$1")")"; }
RUN=$(date +%s%N | tail -c 7)
export T_AGENT=$(tok "$(ctl principal add --role agent --name "自治区受理专席$RUN" --region 450000)")
export CENTRE_GX_ID=$(ctl principal add --role centre --name "自治区专班$RUN" --region 450000)
export T_CENTRE_GX=$(tok "$CENTRE_GX_ID")
export T_OPERATOR=$(tok "$(ctl principal add --role operator --name "运维$RUN")")
export T_OPERATOR_NN=$(tok "$(ctl principal add --role operator --name "南宁运维$RUN" --region 450100)")
export T_CENTRE_NN=$(tok "$(ctl principal add --role centre --name "南宁市中心$RUN" --region 450100)")
export T_CENTRE_QX=$(tok "$(ctl principal add --role centre --name "青秀区中心$RUN" --region 450103)")
export T_CENTRE_XZ=$(tok "$(ctl principal add --role centre --name "新竹街道服务站$RUN" --region 450103001)")
export T_CENTRE_LZ=$(tok "$(ctl principal add --role centre --name "柳州市中心$RUN" --region 450200)")
export T_SUP=$(tok "$(ctl principal add --role supervisor --name "青秀区督查室$RUN" --region 450103)")
export T_ENT=$(tok "$(ctl principal add --role enterprise --name 南宁市青秀区桂鑫商贸有限公司 --credit-code 91450103745632897U)")
LEADER=$(ctl principal add --role leader --name "分管副区长$RUN" --region 450103)
export T_LEADER=$(tok "$LEADER") LEADER_ID=$LEADER
for u in 450103-ZJ 450103-JT 450103-CG 450103-FGW 450103-SCJG 450103-XZSP 450103-RSSB 450105-FGW \
         450100-FGW 450200-FGW 450103001-GOV; do
  v="U_$(tr -- '-' '_' <<<"$u")"
  export "$v=$(unit_tok "$u")"
  [ -n "${!v}" ] || { echo "could not issue a token for $u"; exit 1; }
done
for v in T_AGENT T_CENTRE_GX T_OPERATOR T_OPERATOR_NN T_CENTRE_NN T_CENTRE_QX T_CENTRE_XZ T_CENTRE_LZ T_SUP T_ENT T_LEADER; do
  [ -n "${!v}" ] || { echo "could not issue $v"; exit 1; }
done
# 江南区 follows the 枣阳 profile in this test: extensions at most once the original window
psql -q "$JIESU_PG_DSN" -c "UPDATE regions SET policy_profile = 'zaoyang' WHERE code = '450105'"

start_daemon intake 18581 --rate-limit-per-min=100000
INTAKE=$LAST_PID
start_daemon dispatcher 18582
D1=$LAST_PID
start_daemon dispatcher 18583 --outbox-relay=false
D2=$LAST_PID
check "intake ready" wait_ready 18581 60
check "dispatcher ready" wait_ready 18582 60
check "second dispatcher instance ready" wait_ready 18583 60

export INTAKE_URL=http://127.0.0.1:18581 DISPATCH_URL=http://127.0.0.1:18582 DISPATCH2_URL=http://127.0.0.1:18583
python3 tests/e2e/dispatcher_api.py
st=$?
check "dispatcher API checks (tests/e2e/dispatcher_api.py)" test $st = 0
psql -q "$JIESU_PG_DSN" -c "UPDATE regions SET policy_profile = NULL WHERE code = '450105'"

kill -TERM "$D1" "$D2" "$INTAKE"
for pid in "$D1" "$D2" "$INTAKE"; do
  wait_exit "$pid" 60
  check "daemon $pid exits 0 on SIGTERM" test "$EXIT_STATUS" = 0
done
for log in "$E2E_LOGDIR"/dispatcher-1858[23].log "$E2E_LOGDIR"/intake-18581.log; do
  check "  … $(basename "$log"): no leak or UB report" test -z "$(grep -E 'LeakSanitizer|runtime error|AddressSanitizer' "$log")"
  check "  … $(basename "$log"): stopped cleanly" grep -q '"msg":"stopped cleanly"' "$log"
  check "  … $(basename "$log"): no phone number or contact person in clear" \
    test -z "$(grep -E '1380771[0-9]{4}|13977[0-9]{6}|李明|王经理' "$log")"
done
e2e_finish
