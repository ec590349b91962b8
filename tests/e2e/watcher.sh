#!/usr/bin/env bash
# tests/e2e/watcher.sh — jiesu-deadline-watcher as a real process against the real stack, its
# HTTP API driven by tests/e2e/watcher_api.py: the calendar loaded and updated at run time by
# operators (audited, bad documents refused naming the field, nothing written), a deadline that
# needs a year with no calendar flagged and armed once the year is loaded, breaches turning
# into reminder letters, rectification notices and cards, the printable supervision notice
# (督办单) and its reply, notices issued by hand, the monthly review, pauses where a profile
# allows them, who may see what, and `jiesuctl calendar` when jiesuctl has it wired.
#
# Territory: Guangxi's (shared with the other e2e scripts) plus a few regions of Shandong
# (滕州, tengzhou: cards), Hubei (枣阳, zaoyang; 宜城, a test profile that allows pauses) and
# Guangdong (汕头, shantou: the monthly review on the 25th). Case events are written to the
# outbox, as the dispatcher would, and reach the watcher through its relay and Kafka.
. "$(dirname "$0")/lib.bash"
cd "$JIESU_ROOT"
export PGOPTIONS="-c client_min_messages=warning"
psql_q() { psql -qtA "$JIESU_PG_DSN" -v ON_ERROR_STOP=1 "$@"; }

"$JIESU_BIN/jiesuctl" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null || { echo "cannot load the territory"; exit 1; }

RUN=$(date +%s%N | tail -c 7)
psql_q <<SQL || { echo "cannot add the test regions"; exit 1; }
INSERT INTO regions (code, name, tier, parent_code, policy_profile) VALUES
  ('370000', '山东省', 1, NULL, NULL), ('370400', '枣庄市', 2, '370000', NULL),
  ('370481', '滕州市', 3, '370400', 'tengzhou'),
  ('420000', '湖北省', 1, NULL, NULL), ('420600', '襄阳市', 2, '420000', NULL),
  ('420683', '枣阳市', 3, '420600', 'zaoyang'), ('420684', '宜城市', 3, '420600', 'e2e-pausable'),
  ('440000', '广东省', 1, NULL, NULL), ('440500', '汕头市', 2, '440000', 'shantou'),
  ('440507', '龙湖区', 3, '440500', NULL)
ON CONFLICT (code) DO NOTHING;
INSERT INTO units (code, name, region_code, kind, head_name, deputy_name) VALUES
  ('e2e-370481-centre', '滕州市政府事务推进中心', '370481', 'centre', NULL, NULL),
  ('e2e-420683-centre', '枣阳市营商办', '420683', 'centre', NULL, NULL),
  ('e2e-440500-centre', '汕头市政企直通车工作专班', '440500', 'centre', NULL, NULL)
ON CONFLICT (code) DO NOTHING;
INSERT INTO units (code, name, region_code, kind, head_name, deputy_name) VALUES
  ('e2e-tz-scjg-$RUN', '滕州市市场监督管理局', '370481', 'department', '王局长', '赵副局长'),
  ('e2e-tz-zrzy-$RUN', '滕州市自然资源局', '370481', 'department', '钱局长', '孙副局长'),
  ('e2e-zy-zj-$RUN', '枣阳市住房和城乡建设局', '420683', 'department', NULL, NULL),
  ('e2e-yc-sw-$RUN', '宜城市商务局', '420684', 'department', NULL, NULL),
  ('e2e-st-gx-$RUN', '汕头市工业和信息化局', '440500', 'department', NULL, NULL);
SQL
unit() { psql_q -c "SELECT id FROM units WHERE code = '$1-$RUN'"; }
export U_TZ=$(unit e2e-tz-scjg) U_TZ2=$(unit e2e-tz-zrzy) U_ZY=$(unit e2e-zy-zj) U_YC=$(unit e2e-yc-sw) U_ST=$(unit e2e-st-gx)

ctl() { "$JIESU_BIN/jiesuctl" "$@"; }
tok() { ctl token issue --principal "$1"; }
export T_OPERATOR=$(tok "$(ctl principal add --role operator --name "运维$RUN")")
export T_CENTRE_TZ=$(tok "$(ctl principal add --role centre --name "滕州推进中心$RUN" --region 370481)")
export T_SUPER_TZ=$(tok "$(ctl principal add --role supervisor --name "滕州督查$RUN" --region 370400)")
export T_LEADER=$(tok "$(ctl principal add --role leader --name "领导小组$RUN")")
export T_CENTRE_NN=$(tok "$(ctl principal add --role centre --name "青秀区专班$RUN" --region 450103)")
export T_CENTRE_ZY=$(tok "$(ctl principal add --role centre --name "枣阳营商办$RUN" --region 420683)")
export T_CENTRE_YC=$(tok "$(ctl principal add --role centre --name "宜城专班$RUN" --region 420684)")
export T_CENTRE_ST=$(tok "$(ctl principal add --role centre --name "汕头专班$RUN" --region 440500)")
export T_UNIT_TZ=$(tok "$(ctl principal add --role unit --name "滕州市场监管$RUN" --unit-id "$U_TZ")")
export T_UNIT_TZ2=$(tok "$(ctl principal add --role unit --name "滕州自然资源$RUN" --unit-id "$U_TZ2")")
export T_UNIT_YC=$(tok "$(ctl principal add --role unit --name "宜城商务$RUN" --unit-id "$U_YC")")
for v in T_OPERATOR T_CENTRE_TZ T_SUPER_TZ T_LEADER T_CENTRE_NN T_CENTRE_ZY T_CENTRE_YC T_CENTRE_ST T_UNIT_TZ T_UNIT_TZ2 T_UNIT_YC; do
  [ -n "${!v}" ] || { echo "could not issue $v"; exit 1; }
done

# The shipped profiles, plus one that allows pauses (no seed does: DEADLINES.md §4).
POL=$(mktemp -d)
cp deploy/policies/*.json "$POL/"
python3 - "$POL" <<'PY'
import json, sys
d = json.load(open("deploy/policies/zaoyang.json"))
d["name"] = "e2e-pausable"
d["title"] = "测试：允许暂停计时的办理机制"
d["region"] = None
d["pause"] = {"allowed": True, "reasons": ["awaiting_materials", "third_party_procedure"]}
d["notes"] = {k: v for k, v in d.get("notes", {}).items() if not k.startswith("pause")}
json.dump(d, open(sys.argv[1] + "/e2e-pausable.json", "w"), ensure_ascii=False, indent=1)
PY

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export WATCH_REDIS_PREFIX="e2e:watcher:$RUN"
start_daemon deadline-watcher "$PORT" --policy-dir="$POL" --redis-prefix="$WATCH_REDIS_PREFIX" \
  --poll-ms=50 --scan-interval-ms=500 --outbox-poll-ms=20 --auth-cache-ms=0
WATCHER=$LAST_PID
check "deadline-watcher ready" wait_ready "$PORT" 60
LOG="$E2E_LOGDIR/deadline-watcher-$PORT.log"

export WATCH_URL="http://127.0.0.1:$PORT" WATCH_RUN=$RUN
python3 tests/e2e/watcher_api.py
st=$?
check "watcher API checks (tests/e2e/watcher_api.py)" test $st = 0

# jiesuctl calendar: files ↔ tables (once tools/jiesuctl.c dispatches `calendar` to calsync_cli)
if "$JIESU_BIN/jiesuctl" calendar --help >/dev/null 2>&1; then
  out=$(mktemp -d)
  ctl calendar export "$out" >/dev/null
  check "jiesuctl calendar export writes the national years as files" test -f "$out/cn-national-2026.json"
  check "  … which say what the shipped file says" python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open("deploy/calendar/cn-national-2026.json"))
assert a["days"] == b["days"] and a["source"] == b["source"], (a, b)' "$out/cn-national-2026.json"
  before=$(psql_q -c "SELECT count(*) FROM audit_log WHERE action = 'calendar.load'")
  ctl calendar import deploy/calendar/gx-450000-2025.json >/dev/null
  check "jiesuctl calendar import loads a regional file (audited)" \
    test "$(psql_q -c "SELECT count(*) FROM calendar_days WHERE region_code = '450000' AND year = 2025")" = 2 \
    -a "$(psql_q -c "SELECT count(*) FROM audit_log WHERE action = 'calendar.load'")" -gt "$before"
  printf '{"format":"jiesu-calendar/1","year":2026,"region":null,"source":"x","days":[{"kind":"work","first":"2026-03-04","name":"bad"}]}' > "$out/bad.json"
  n0=$(psql_q -c "SELECT count(*) FROM calendar_days WHERE year = 2026")
  ctl calendar import "$out/bad.json" >/dev/null 2>"$out/err"; st=$?
  check "jiesuctl calendar import of a bad file exits 2 naming the entry" test $st = 2 -a -n "$(grep 'days\[0\]' "$out/err")"
  check "  … and writes nothing" test "$(psql_q -c "SELECT count(*) FROM calendar_days WHERE year = 2026")" = "$n0"
  rm -rf "$out"
else
  echo "  skip jiesuctl calendar (not wired into tools/jiesuctl.c yet)"
fi

kill -TERM "$WATCHER"
wait_exit "$WATCHER" 60
check "deadline-watcher exits 0 on SIGTERM" test "$EXIT_STATUS" = 0
check "  … no leak or UB report" test -z "$(grep -E 'LeakSanitizer|runtime error|AddressSanitizer' "$LOG")"
check "  … the log shows the flag of the missing year" grep -q '"problem":"calendar_missing"' "$LOG"
check "  … and no contact name or phone in clear" test -z "$(grep -E '1390632[0-9]{4}|周经理' "$LOG")"
rm -rf "$POL"
e2e_finish
