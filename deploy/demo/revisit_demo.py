#!/usr/bin/env python3
"""deploy/demo/revisit_demo.py — the revisit part of `make demo` (standard library only).

An afternoon at Nanning's supervision office (督查室): a dozen appeals registered through intake
have had results submitted by their units, and the office calls each enterprise back. Most are
satisfied and close; one declines to rate; one cannot be reached three times; one says the
problem is not solved and the case goes back for a second handling, is still unsatisfied after
it and is escalated to the city with the unit's signed review form and a referral to discipline
inspection; one unit claimed a field visit that never happened (a level-3 interview notice);
one enterprise rates online with its tracking code; 良庆区 counts on 滕州's four-level scale.
Then the bulletin, the 直通车 meeting list, a look-back sample and the satisfaction rate.

The handling units' part (dispatch, signing, contacts, results) is written with SQL exactly as
the dispatcher writes it — the case row with its version, the history row and an outbox row with
a valid envelope in one transaction — so the results reach jiesu-revisit through the outbox
relay and Kafka. Needs: INTAKE_URL, REVISIT_URL, JIESU_PG_DSN, JIESUCTL; each run uses new
enterprises and principals, and puts back the two region bindings it borrows.
"""
import datetime
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

INTAKE = os.environ.get("INTAKE_URL", "http://127.0.0.1:8081")
REVISIT = os.environ.get("REVISIT_URL", "http://127.0.0.1:8084")
WATCH = os.environ.get("WATCH_URL", "http://127.0.0.1:8083")
DSN = os.environ["JIESU_PG_DSN"]
CTL = os.environ.get("JIESUCTL", "bin/jiesuctl")
CST = datetime.timezone(datetime.timedelta(hours=8))
A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def credit_code(division, serial):
    body8 = f"{serial:08d}"
    c = 11 - sum(int(ch) * w for ch, w in zip(body8, [3, 7, 9, 10, 5, 8, 4, 2])) % 11
    s17 = "91" + division + body8 + ("X" if c == 10 else "0" if c == 11 else str(c))
    return s17 + A[(31 - sum(A.index(ch) * w for ch, w in zip(s17, W)) % 31) % 31]


def sql(q):
    out = subprocess.run(["psql", "-tA", "-v", "ON_ERROR_STOP=1", DSN, "-c", q], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr.strip())
    return out.stdout.strip()


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True, check=True).stdout.strip()


def call(method, path, token=None, body=None, base=REVISIT):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            txt = r.read()
            return r.status, json.loads(txt) if txt and "json" in r.headers.get("Content-Type", "") else txt.decode()
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def now_iso(delta_s=0):
    return (datetime.datetime.now(CST) + datetime.timedelta(seconds=delta_s)).isoformat(timespec="milliseconds")


RUN = random.randrange(10**6, 10**7)
t_start = now_iso(-2)
unit_id = lambda code: int(sql(f"SELECT id FROM units WHERE code = '{code}'"))
UNITS = {"450103": unit_id("450103-ZJ"), "450105": unit_id("450105-JT"), "450107": unit_id("450107-SCJG"),
         "450108": unit_id("450108-ZRZY"), "450109": unit_id("450109-SCJG"), "450102": unit_id("450102-GD")}
P_UNIT = {u: int(ctl("principal", "add", "--role", "unit", "--name", f"经办人{RUN}-{u}", "--unit-id", str(u)))
          for u in UNITS.values()}
TOK = {
    "agent": ctl("token", "issue", "--principal", ctl("principal", "add", "--role", "agent", "--name",
                 f"南宁受理专席{RUN}", "--region", "450100"), "--ttl-days", "1"),
    "sup": ctl("token", "issue", "--principal", ctl("principal", "add", "--role", "supervisor", "--name",
               f"南宁市政府督查室 覃丽{RUN}", "--region", "450100"), "--ttl-days", "1"),
    "centre": ctl("token", "issue", "--principal", ctl("principal", "add", "--role", "centre", "--name",
                  f"南宁市营商环境专班{RUN}", "--region", "450100"), "--ttl-days", "1"),
    "unit_yn": ctl("token", "issue", "--principal", str(P_UNIT[UNITS["450109"]]), "--ttl-days", "1"),
    "disc": ctl("token", "issue", "--principal", ctl("principal", "add", "--role", "discipline", "--name",
                f"邕宁区纪委监委{RUN}", "--region", "450109"), "--ttl-days", "1"),
}

# 良庆区 counts on 滕州's scale and 邕宁区 refers leads as 枣阳 does, for this demo only
saved = sql("SELECT string_agg(code || '=' || coalesce(policy_profile, ''), ',') FROM regions "
            "WHERE code IN ('450108', '450109')")
sql("UPDATE regions SET policy_profile = 'tengzhou' WHERE code = '450108';"
    "UPDATE regions SET policy_profile = 'zaoyang' WHERE code = '450109'")


def restore():
    for pair in saved.split(","):
        code, prof = pair.split("=")
        sql(f"UPDATE regions SET policy_profile = {repr(prof) if prof else 'NULL'} WHERE code = '{code}'")


def write_event(case_id, etype, frm, to, payload, unit, bump=True, extra="", before=""):
    ev = {"event_id": str(uuid.uuid4()), "case_id": case_id, "type": etype, "schema_version": 1,
          "occurred_at": now_iso(),
          "actor": {"principal_id": P_UNIT[unit], "role": "unit", "name": "承办单位经办人"} if etype != "case.dispatched"
          else {"principal_id": None, "role": "system", "name": "jiesu-dispatcher"}, "payload": payload}
    env, pay = json.dumps(ev, ensure_ascii=False), json.dumps(payload, ensure_ascii=False)
    ver = f"(SELECT version FROM cases WHERE id = '{case_id}')" if bump else "NULL"
    upd = f"UPDATE cases SET state = '{to}', version = version + 1{extra} WHERE id = '{case_id}';" if bump else ""
    actor = "NULL" if ev["actor"]["principal_id"] is None else ev["actor"]["principal_id"]
    sql(f"""BEGIN; SELECT 1 FROM cases WHERE id = '{case_id}' FOR UPDATE; {before} {upd}
        INSERT INTO case_events (event_id, case_id, type, from_state, to_state, case_version, actor_principal_id,
          occurred_at, payload) VALUES ('{ev["event_id"]}', '{case_id}', '{etype}', '{frm}', '{to}', {ver}, {actor},
          '{ev["occurred_at"]}', $j${pay}$j$::jsonb);
        INSERT INTO outbox (event_id, topic, msg_key, payload) VALUES ('{ev["event_id"]}', 'jiesu.case-events',
          '{case_id}', $j${env}$j$); COMMIT;""")


def handle(c, rnd=1, contacts=("phone",), measures="已现场核查并协调解决。"):
    cid, u = c["id"], c["unit"]
    if rnd == 1:
        # Should a running dispatcher route the case first, keep its choice (the write below
        # refuses to dispatch a case that is no longer waiting in `accepted`).
        try:
            write_event(cid, "case.dispatched", "accepted", "dispatched",
                        {"lead_unit_id": u, "co_handler_unit_ids": [], "tier": "county", "catalogue_version": 1,
                         "basis": "centre_decision", "attempt": 1, "sign_by": now_iso(86400)}, u,
                        extra=f", lead_unit_id = {u}",
                        before=f"DO $d$ BEGIN IF (SELECT state FROM cases WHERE id = '{cid}') <> 'accepted' THEN "
                               f"RAISE EXCEPTION 'routed already'; END IF; END $d$; "
                               f"INSERT INTO case_units (case_id, unit_id, role) VALUES ('{cid}', {u}, 'lead');")
        except RuntimeError:
            st, lead = sql(f"SELECT state, coalesce(lead_unit_id, 0) FROM cases WHERE id = '{cid}'").split("|")
            if st != "dispatched" or lead == "0":
                raise
            u = c["unit"] = int(lead)
            if u not in P_UNIT:
                P_UNIT[u] = int(ctl("principal", "add", "--role", "unit", "--name", f"经办人{RUN}-{u}", "--unit-id", str(u)))
        write_event(cid, "case.signed", "dispatched", "in_progress", {"unit_id": u, "within_deadline": True}, u)
    ids = []
    for i, ch in enumerate(contacts):
        rid = str(uuid.uuid4())
        ids.append(rid)
        write_event(cid, "case.contact_recorded", "in_progress", "in_progress",
                    {"unit_id": u, "contact_record_id": rid, "contacted_at": now_iso(-3600), "channel": ch,
                     "staff_principal_id": P_UNIT[u], "reached": True, "first_contact": rnd == 1 and i == 0}, u, bump=False)
    write_event(cid, "case.result_submitted", "in_progress", "resolved",
                {"unit_id": u, "handling_round": rnd, "finding": "true", "measures": measures, "how_told": "phone",
                 "told_at": now_iso(-60), "within_deadline": True, "attachment_ids": []}, u)
    c["contacts"] = ids


APPEALS = [
    ("ok1", "450103", "南宁市青秀区桂鑫商贸有限公司", "complaint", "门前道路施工三个月未恢复，货车无法进出"),
    ("ok2", "450105", "南宁市江南区顺达物流有限公司", "help", "申请新能源货车通行证办理指引"),
    ("ok3", "450107", "南宁市西乡塘区绿源食品有限公司", "complaint", "食品经营许可证延续审批超过承诺时限"),
    ("ok4", "450102", "南宁市兴宁区华强电子有限公司", "help", "厂房用电增容申请迟迟未受理"),
    ("declined", "450103", "南宁市青秀区汇通建材有限公司", "complaint", "周边夜间施工噪音影响生产"),
    ("unreach", "450105", "南宁市江南区宏远机械有限公司", "help", "咨询技术改造补贴申报条件"),
    ("fraud", "450107", "南宁市西乡塘区金穗农业有限公司", "complaint", "灌溉渠被占用，影响基地用水"),
    ("two", "450109", "南宁市邕宁区蒲庙镇鑫源建材有限公司", "complaint", "厂区门口积水严重，雨天无法运输"),
    ("online", "450103", "南宁市青秀区博雅文化传媒有限公司", "suggestion", "建议开设企业服务线上预约窗口"),
    ("tz", "450108", "南宁市良庆区五象新区云帆科技有限公司", "help", "申请人才公寓入住资格审核"),
]
print("  Results submitted by the units (the dispatcher's writes), revisit tasks opened from case.result_submitted:")
C = {}
for i, (key, region, name, kind, summary) in enumerate(APPEALS):
    body = {"enterprise_name": name, "credit_code": credit_code(region, RUN * 10 + i), "region_code": region,
            "contact_name": "李经理", "contact_phone": f"1397710{random.randrange(10000):04d}", "channel": "hotline",
            "kind": kind, "summary": summary, "body": summary + "。请相关部门尽快协调解决。", "address": "南宁市某路1号",
            "decision": {"action": "accept", "complexity": "general", "matter_type": "园区服务"}}
    s, r = call("POST", "/v1/appeals", TOK["agent"], body, base=INTAKE)
    if s != 201:
        print(f"  intake refused {key}: {s} {r}")
        restore()
        sys.exit(1)
    C[key] = {"id": r["case_id"], "no": r["case_no"], "code": r["tracking_code"], "unit": UNITS[region], "name": name}
    handle(C[key], contacts=("phone", "field_visit") if key == "fraud" else ("phone",))


def task_of(cid, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        t = sql(f"SELECT id FROM revisit_tasks WHERE case_id = '{cid}' AND state = 'open'")
        if t:
            return t
        time.sleep(0.2)
    return None


for c in C.values():
    c["task"] = task_of(c["id"])
s, q = call("GET", "/v1/revisits/queue", TOK["sup"])
mine = [i for i in q.get("items", []) if i["case"]["case_id"] in {c["id"] for c in C.values()}]
print(f"  {'region':8} {'due (3 working days)':27} {'case':20} {'enterprise':30} unit")
for i in mine:
    print(f"  {i['region_code']:8} {i['due_at'][:19]:27} {i['case']['case_no']:20} {i['case']['enterprise_name'][:18]:30}"
          f" {i['unit']['name']}")


def rec(key, body, token=None):
    tid = C[key]["task"]
    s, t = call("GET", f"/v1/revisits/{tid}", TOK["sup"])
    if s != 200 or "task_version" not in t:
        raise SystemExit(f"revisit demo: reading task {tid} gave HTTP {s}: {t}")
    b = dict(body, version=t["task_version"])
    b.setdefault("channel", "phone")
    return call("POST", f"/v1/revisits/{tid}/calls", token or TOK["sup"], b)


yes = {"reached": True, "contact_confirmed": True, "result_true": True}
rows = []


def show(key, what, s, r):
    if s != 200:
        rows.append((C[key]["no"], what, f"HTTP {s}: {r.get('error', {}).get('message', r)}"))
        return
    extra = ""
    if r.get("redo"):
        extra = f"redo by {r['redo']['redo_by'][:10]}"
    if r.get("escalated"):
        extra = f"→ {r['escalated']['to_tier']} {r['escalated']['to_region_code']}, review form, " \
                f"{'referral' if r.get('referral_id') else 'no referral'}"
    if r.get("notice"):
        extra = f"notice level {r['notice']['level']} requested of the deadline-watcher ({r['notice']['notice_id'][:8]}…)"
    if r.get("closed"):
        extra = (extra + " " if extra else "") + f"closed: {r['closed']['basis']}"
    rows.append((C[key]["no"], what, f"{r['outcome']:9} {extra}"))


print("\n  The office calls back (回访):")
for key, sat in (("ok1", "非常满意"), ("ok2", "满意"), ("ok3", "基本满意"), ("ok4", "满意")):
    show(key, f"reached, {sat}", *rec(key, dict(yes, satisfaction=sat)))
show("declined", "reached, declined to rate", *rec("declined", dict(yes, satisfaction="declined")))
for n in (1, 2, 3):
    show("unreach", f"no answer (try {n})", *rec("unreach", {"reached": False, "channel": "phone" if n != 2 else "sms"}))
s_fr, r_fr = rec("fraud", dict(yes, satisfaction="满意", disputed_contact_ids=[C["fraud"]["contacts"][1]],
                               enterprise_words="只来过电话，从没有人到现场。"))
show("fraud", "the claimed field visit never happened", s_fr, r_fr)
show("tz", "滕州 scale: 比较满意", *rec("tz", dict(yes, satisfaction="比较满意")))
show("two", "round 1: 不满意", *rec("two", dict(yes, satisfaction="不满意", enterprise_words="积水仍未解决。")))
handle(C["two"], rnd=2, contacts=("field_visit",), measures="第二次办理：已疏通排水管道，加装临时泵站。")
C["two"]["task"] = task_of(C["two"]["id"])
s2, r2 = rec("two", dict(yes, satisfaction="非常不满意", enterprise_words="两次都是应付，雨天照样积水。",
                         unit_fault="perfunctory"))
show("two", "round 2: 非常不满意, unit perfunctory", s2, r2)
form = r2.get("review_form_id") if s2 == 200 else None
s, r = call("POST", "/v1/revisits/self-rating", None, {"case_no": C["online"]["no"], "tracking_code": "WRONGCODE1",
                                                        "contact_confirmed": True, "result_true": True, "satisfaction": "满意"})
rows.append((C["online"]["no"], "online, a mistyped tracking code", f"HTTP {s}: {r['error']['message']}"))
show("online", "online, with its tracking code: 满意", *call("POST", "/v1/revisits/self-rating", None, {
    "case_no": C["online"]["no"], "tracking_code": C["online"]["code"], "contact_confirmed": True, "result_true": True,
    "satisfaction": "满意"}))
for no, what, out in rows:
    print(f"  {no:20} {what:40} {out}")

if s_fr == 200 and r_fr.get("notice"):
    nid = r_fr["notice"]["notice_id"]
    print("\n  The deadline-watcher issues the notice for the contact that never happened (虚假反馈 → 约谈):")
    n = {}
    for _ in range(50):  # the watcher consumes case.revisit_recorded, normally within a second
        s, n = call("GET", f"/v1/supervision/{nid}", TOK["sup"], base=WATCH)
        if s == 200:
            break
        time.sleep(0.2)
    if s == 200:
        print(f"  {n.get('notice_no')}  level {n.get('level')}  {n.get('reason_code')}  to {n.get('unit_name', n.get('unit_id'))}, "
              f"reply by {str(n.get('reply_due_at'))[:16]}; printable at /v1/supervision/{nid}/notice")
        print(f"  {str(n.get('reason_text'))[:90]}…")
        for c in n.get("disputed_contacts", []):
            print(f"  disputed: a {c.get('channel')} the unit recorded at {str(c.get('contacted_at'))[:16]}")
    else:
        print(f"  not issued yet (HTTP {s}): is the deadline-watcher running?")

print("\n  The unit's unsatisfied review form (不满意诉求审核反馈表), signed by its head:")
head = sql(f"SELECT head_name FROM units WHERE id = {C['two']['unit']}")
if form:
    s, r = call("POST", f"/v1/review-forms/{form}", TOK["unit_yn"], {
        "explanation": "两次到现场疏通排水，因市政主管网排水能力不足，区级无法根治。",
        "unsatisfied_analysis": "根本原因在市政主管网，超出本单位职权。", "next_steps": "提请市级专班统筹主管网改造。",
        "head_name": head, "seal_affixed": True})
    print(f"  submitted by the unit, signed {head}: HTTP {s}; printable at {r.get('document')}")
    s, doc = call("GET", f"/v1/review-forms/{form}/document", TOK["centre"])
    print(f"  the centre prints it: HTTP {s}, {len(doc)} bytes of HTML")
s, refs = call("GET", "/v1/discipline/referrals", TOK["disc"])
for x in refs.get("items", []):
    if x["case_id"] in {c["id"] for c in C.values()}:
        print(f"  referral to 邕宁区纪委监委 (线索移送): {x['case_no']} {x['unit_name']} — {x['detail']}")

print("\n  This month's bulletin (通报):")
s, b = call("GET", "/v1/revisits/bulletin", TOK["centre"])
for x in b.get("items", []):
    if x["case_id"] in {c["id"] for c in C.values()}:
        print(f"  {x['case_no']:20} {x['unit_name'][:20]:22} {x['reason']} (round {x['handling_round']})")

print("\n  Proposed for the 政企直通车 meeting (seed 002 四):")
s, mp = call("GET", "/v1/meetings/proposals", TOK["centre"])
for x in mp.get("items", []):
    if x["case_id"] in {c["id"] for c in C.values()}:
        print(f"  {x['case_no']:20} {x['enterprise_name'][:24]:26} {', '.join(x['criteria'])}")

time.sleep(1.1)
print("\n  A look-back sample (回头看) of what 青秀区 closed today, at 广西's 10%:")
s, smp = call("POST", "/v1/lookback/samples", TOK["sup"], {"region_code": "450103", "period_from": t_start,
                                                           "period_to": now_iso(-1)})
if s == 201:
    print(f"  population {smp['population']} (sha256 {smp['population_sha256'][:16]}…), seed {smp['seed']}, "
          f"drew {len(smp['selected'])}: {', '.join(smp['selected'])}")
    print(f"  rule: {smp['algorithm']}")
else:
    print(f"  HTTP {s}: {smp}")

mine = "','".join(c["id"] for c in C.values())
rated = sql(f"SELECT count(*) FILTER (WHERE satisfaction_level IS NOT NULL), count(*) FILTER (WHERE satisfaction IN "
            f"('very_satisfied', 'satisfied', 'basically_satisfied')) FROM revisit_calls WHERE case_id IN ('{mine}')")
n, sat = (int(x) for x in rated.split("|"))
print(f"\n  满意率 (satisfied over rated; declined and unreached are not rated): {sat}/{n} = "
      f"{(100 * sat / n if n else 0):.0f}%")
print("  Case states now: " + sql(f"SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT state, count(*) n FROM cases "
                                  f"WHERE id IN ('{mine}') GROUP BY state ORDER BY state) s"))
restore()
