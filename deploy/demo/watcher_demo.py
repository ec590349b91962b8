#!/usr/bin/env python3
"""deploy/demo/watcher_demo.py — the deadline-watcher part of `make demo` (standard library only).

An afternoon of clocks in 滕州 (seed 004: cards), 枣阳 (seed 003: 5-day supervision notices,
extensions capped at once the original) and 汕头 (seed 002: the review on the 25th): the
dispatcher's events (written to the outbox here, as the dispatcher writes them) arm clocks; the
watcher warns before each deadline, records the breach when one passes, writes a reminder
letter with its printable 督办单 and shows the unit a yellow card — and a red one, with its deputy
head's interview, on the second miss in a row; an approved extension makes the old deadline
stale; a case whose deadline needs 2027, whose calendar the State Council has not published
yet, is flagged instead of guessed; the monthly review lists what is seriously late.

Environment: WATCH_URL (default http://127.0.0.1:8083), JIESU_PG_DSN, JIESUCTL (default
bin/jiesuctl). Each run uses new units and cases, so the demo can be run again.
"""
import datetime
import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

URL = os.environ.get("WATCH_URL", "http://127.0.0.1:8083")
DSN = os.environ.get("JIESU_PG_DSN", "host=127.0.0.1 port=54329 dbname=jiesu user=jiesu password=jiesu")
CTL = os.environ.get("JIESUCTL", "bin/jiesuctl")
CST = datetime.timezone(datetime.timedelta(hours=8))
RUN = str(int(time.time()))[-6:]


def sql(q):
    out = subprocess.run(["psql", "-qtA", "-v", "ON_ERROR_STOP=1", DSN, "-c", q], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("demo: " + out.stderr.strip())
    return out.stdout.strip()


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True, check=True).stdout.strip()


def call(method, path, token, body=None):
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            txt = r.read().decode()
            return r.status, (json.loads(txt) if r.headers.get("Content-Type", "").startswith("application/json") else txt)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def now():
    return datetime.datetime.now(CST)


def iso(t):
    return t.astimezone(CST).isoformat(timespec="seconds")


def short(s):
    return s[11:19] if len(s) > 19 else s


def wait(q, want, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if sql(q) == str(want):
            return True
        time.sleep(0.25)
    return False


def emit(case_id, etype, payload):
    env = {"event_id": str(uuid.uuid4()), "case_id": case_id, "type": etype, "schema_version": 1,
           "occurred_at": iso(now()), "actor": {"principal_id": None, "role": "system", "name": "dispatcher (demo)"},
           "payload": payload}
    sql(f"INSERT INTO outbox (event_id, topic, msg_key, payload) VALUES ('{env['event_id']}', 'jiesu.case-events', "
        f"'{case_id}', $d${json.dumps(env, ensure_ascii=False)}$d$)")


n = 0


def case(region, state, unit, summary, complexity="general", received=None):
    global n
    n += 1
    rec = f"'{iso(received)}'::timestamptz" if received else "now()"
    return sql(f"""INSERT INTO cases (case_no, region_code, tier, state, kind, complexity, channel, enterprise_name,
                   summary, body, lead_unit_id, received_at) VALUES ('DEMO{RUN}-{n:03d}', '{region}', 3, '{state}', 'help',
                   '{complexity}', 'hotline', '演示企业有限公司', '{summary}', '{summary}。', {unit}, {rec})
                   RETURNING id""").splitlines()[0]


def timers(case_id, token):
    s, r = call("GET", f"/v1/cases/{case_id}/timers", token)
    return r.get("timers", []) if s == 200 else []


# ---- the territory and who acts ----------------------------------------------------------------
sql("""INSERT INTO regions (code, name, tier, parent_code, policy_profile) VALUES
  ('370000', '山东省', 1, NULL, NULL), ('370400', '枣庄市', 2, '370000', NULL), ('370481', '滕州市', 3, '370400', 'tengzhou'),
  ('420000', '湖北省', 1, NULL, NULL), ('420600', '襄阳市', 2, '420000', NULL), ('420683', '枣阳市', 3, '420600', 'zaoyang'),
  ('440000', '广东省', 1, NULL, NULL), ('440500', '汕头市', 2, '440000', 'shantou'), ('440507', '龙湖区', 3, '440500', NULL)
  ON CONFLICT (code) DO NOTHING""")
for code, name, region in (("370481-CENTRE", "滕州市政府事务推进中心", "370481"), ("420683-CENTRE", "枣阳市优化营商环境协调工作机制办公室", "420683"),
                           ("440500-CENTRE", "汕头市政企直通车工作专班", "440500")):
    if sql(f"SELECT count(*) FROM units WHERE kind = 'centre' AND active AND region_code = '{region}'") == "0":
        sql(f"INSERT INTO units (code, name, region_code, kind) VALUES ('{code}', '{name}', '{region}', 'centre') ON CONFLICT DO NOTHING")


def unit(code, name, region):
    return int(sql(f"INSERT INTO units (code, name, region_code, kind) VALUES ('{code}-{RUN}', '{name}', '{region}', 'department') RETURNING id"))


TZ = unit("TZ-ZRZY", "滕州市自然资源局", "370481")
ZY = unit("ZY-ZJ", "枣阳市住房和城乡建设局", "420683")
ST = unit("ST-GXJ", "汕头市工业和信息化局", "440500")
tok = {}
for key, args in (("centre", ["--role", "centre", "--name", f"滕州推进中心{RUN}", "--region", "370481"]),
                  ("zaoyang", ["--role", "centre", "--name", f"枣阳营商办{RUN}", "--region", "420683"]),
                  ("shantou", ["--role", "centre", "--name", f"汕头专班{RUN}", "--region", "440500"]),
                  ("unit", ["--role", "unit", "--name", f"滕州自然资源局{RUN}", "--unit-id", str(TZ)]),
                  ("operator", ["--role", "operator", "--name", f"运维{RUN}"])):
    tok[key] = ctl("token", "issue", "--principal", ctl("principal", "add", *args), "--ttl-days", "1")

print("  The working-day calendar in force (GET /v1/calendar/2026, operators):")
s, r = call("GET", "/v1/calendar/2026", tok["operator"])
for d in (r.get("documents", []) if s == 200 else [])[:1]:
    rest = [e for e in d["days"] if e["kind"] == "rest"]
    work = [e["first"][5:] for e in d["days"] if e["kind"] == "work"]
    print("    holidays: " + ", ".join(f"{e['name']} {e['first'][5:]}" + (f"…{e['last'][5:]}" if e.get("last") else "") for e in rest))
    print("    make-up working days (调休上班): " + ", ".join(work))

# ---- 1. a warning, then a breach -----------------------------------------------------------------
print("\n  1. 滕州: a unit must sign for a dispatched case (签收) — the deadline in 4 seconds")
c1 = case("370481", "dispatched", TZ, "厂区门前道路长期积水影响货车通行")
emit(c1, "case.dispatched", {"lead_unit_id": TZ, "co_handler_unit_ids": [], "tier": "county", "catalogue_version": 1,
                             "basis": "catalogue", "attempt": 1, "sign_by": iso(now() + datetime.timedelta(seconds=4))})
wait(f"SELECT count(*) FROM timers WHERE case_id = '{c1}' AND state = 'fired'", 1)
for t in timers(c1, tok["centre"]):
    print(f"     {t['kind']:<14} v{t['version']}  due {short(t['due_at'])}  warned {short(t.get('warned_at', '-'))}"
          f"  breached {short(t.get('fired_at', '-'))} ({t.get('lateness_ms', '?')} ms after the deadline)")
print("     → timer.warned and timer.breached are in the outbox, on their way to jiesu.case-events")

# ---- 2. overdue: reminder letters and cards --------------------------------------------------------
print("\n  2. 滕州: the same unit misses two result deadlines in a row (resolve-by, 5 working days in the profile; "
      "here 3 and 6 seconds away)")
for k, secs in ((1, 3), (2, 6)):
    ck = case("370481", "in_progress", TZ, f"项目用地手续办理进度缓慢（第{k}件）")
    emit(ck, "case.signed", {"unit_id": TZ, "within_deadline": True, "resolve_by": iso(now() + datetime.timedelta(seconds=secs)),
                             "first_contact_by": iso(now() + datetime.timedelta(hours=1))})
wait(f"SELECT count(*) FROM unit_cards WHERE unit_id = {TZ}", 3, 30)
s, sup = call("GET", f"/v1/units/{TZ}/supervision", tok["centre"])
if s == 200:
    sm = sup["summary"]
    print(f"     GET /v1/units/{TZ}/supervision: {sm['reminders']} reminder letters (提醒敦促函), "
          f"{sm['yellow_cards']} yellow and {sm['red_cards']} red card(s)")
    for c in reversed(sup["cards"]):
        who = {"none": "", "deputy_head": " → interview of the deputy head (约谈分管负责人)",
               "principal_head": " → interview of the principal head"}[c["interview_of"]]
        print(f"     {'黄牌' if c['colour'] == 'yellow' else '红牌'} #{c['consecutive']} {c['reason_code']}{who}")
    nid = sup["notices"][-1]["notice_id"] if sup["notices"] else None
    if nid:
        s, page = call("GET", f"/v1/supervision/{nid}/notice", tok["unit"])
        if s == 200:
            text = [html.unescape(re.sub(r"<[^>]+>", "", line.replace("<br>", "  "))).strip() for line in
                    re.findall(r"<(?:h1|div class=\"no\"|p[^>]*)>(.*?)</(?:h1|div|p)>", page, re.S)]
            print(f"     GET /v1/supervision/{nid}/notice — the printable 督办单, as the unit sees it:")
            for line in text[:8]:
                print("       │ " + re.sub(r"\s+", " ", line))
        s, r = call("POST", f"/v1/supervision/{nid}/reply", tok["unit"], {"reply_text": "已督促业务科室加快办理，3个工作日内办结并反馈企业。"})
        print(f"     the unit replies (POST …/reply) → {s}; its 5-day reply clock is {r.get('reply_clock') if s == 200 else '?'}")

# ---- 3. an extension makes the old deadline stale ----------------------------------------------------
print("\n  3. 枣阳: the centre approves an extension (at most once the original, seed 003) — the old deadline goes stale")
c3 = case("420683", "in_progress", ZY, "老旧小区改造施工影响商铺经营")
emit(c3, "case.signed", {"unit_id": ZY, "within_deadline": True, "resolve_by": iso(now() + datetime.timedelta(days=5))})
wait(f"SELECT count(*) FROM timers WHERE case_id = '{c3}' AND kind = 'resolve_by'", 1)
emit(c3, "case.extension_decided", {"request_id": str(uuid.uuid4()), "decision": "approved",
                                    "resolve_by": iso(now() + datetime.timedelta(days=10))})
wait(f"SELECT count(*) FROM timers WHERE case_id = '{c3}' AND kind = 'resolve_by' AND state = 'stale'", 1)
for t in timers(c3, tok["zaoyang"]):
    print(f"     {t['kind']} v{t['version']}: {t['state']:<6} due {t['due_at'][:19]}")

# ---- 4. a year with no calendar ---------------------------------------------------------------------
print("\n  4. 枣阳: a complex case (20 working days) received on 2026-12-10 needs 2027, which is not loaded")
c4 = case("420683", "in_progress", ZY, "跨年度厂房消防验收协调", complexity="complex",
          received=datetime.datetime(2026, 12, 10, 9, 0, tzinfo=CST))
emit(c4, "case.signed", {"unit_id": ZY, "within_deadline": True})
wait(f"SELECT count(*) FROM deadline_flags WHERE case_id = '{c4}' AND resolved_at IS NULL", 1)
s, r = call("GET", "/v1/deadline-flags", tok["operator"])
for f in [f for f in r.get("flags", []) if f.get("case_id") == c4][:1]:
    print(f"     flagged, not guessed: {f['problem']} ({f['year']}) — {f['detail'][:80]}…")
print("     (an operator loads the State Council's arrangement with PUT /v1/calendar/2027 or")
print("      `jiesuctl calendar import cn-national-2027.json`; the flag is then retried and the clock armed)")

# ---- 5. the monthly review ---------------------------------------------------------------------------
print("\n  5. 汕头: the monthly review (每月25日) lists open cases at least 5 working days late")
late = case("440507", "in_progress", ST, "技改项目补贴资金迟迟未拨付")
ok = case("440507", "in_progress", ST, "园区网络专线报装")
emit(late, "case.signed", {"unit_id": ST, "within_deadline": True, "resolve_by": iso(now() - datetime.timedelta(days=20))})
emit(ok, "case.signed", {"unit_id": ST, "within_deadline": True, "resolve_by": iso(now() + datetime.timedelta(days=3))})
wait(f"SELECT count(*) FROM timers WHERE case_id = '{late}' AND state = 'fired'", 1)
s, r = call("GET", f"/v1/review/monthly?region=440500&month={now():%Y-%m}", tok["shantou"])
if s == 200:
    print(f"     review day {r['review_day']} ({'snapshot' if r['snapshot'] else 'live, until the day comes'}): {r['count']} case(s)")
    for c in r["cases"]:
        print(f"     {c['case_no']}  {c['lead_unit_name']}  due {c['due_at'][:10]}  {c['working_days_late']} working days late")
print()
