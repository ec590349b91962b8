#!/usr/bin/env python3
"""tests/e2e/dispatcher_api.py — the dispatcher end to end (driven by tests/e2e/dispatcher.sh).

Appeals are registered and accepted through jiesu-intake; everything after that goes through
Kafka and jiesu-dispatcher: automatic dispatch from the catalogue, the centres' queues and manual
dispatch, the units' work, returns, remit decisions, escalation and hand-down, extensions capped
by the profile, the 409 race across two instances, scope refusals, the assignment form, bad
inputs that must write nothing, and a second province: a province's import may neither take
over the other's units nor drop its catalogue entries. Python's standard library only; one line per check; exit 1 if
any failed.
"""
import concurrent.futures
import datetime
import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

INTAKE = os.environ["INTAKE_URL"]
URL = os.environ["DISPATCH_URL"]
URL2 = os.environ["DISPATCH2_URL"]
DSN = os.environ["JIESU_PG_DSN"]
CATV = int(os.environ["CATALOGUE_VERSION"])
T = {k: os.environ[k] for k in os.environ if k.startswith(("T_", "U_"))}
fails = 0
checks = 0
CST = datetime.timezone(datetime.timedelta(hours=8))


def check(name, cond, detail=""):
    global fails, checks
    checks += 1
    if cond:
        print(f"  ok   {name}")
    else:
        fails += 1
        print(f"  FAIL {name} {str(detail)[:600]}")
    return cond


def call(method, path, token=None, body=None, raw=None, headers=None, base=URL):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            txt = r.read()
            ct = r.headers.get("Content-Type", "")
            return r.status, (json.loads(txt) if ct.startswith("application/json") and txt else txt.decode()), dict(r.headers)
    except urllib.error.HTTPError as e:
        txt = e.read()
        try:
            j = json.loads(txt)
        except ValueError:
            j = {"_raw": txt.decode(errors="replace")}
        return e.code, j, dict(e.headers)


def sql(q):
    out = subprocess.run(["psql", "-tA", DSN, "-c", q], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  (sql failed: {out.stderr.strip()[:200]})")
    return out.stdout.strip()


def now(delta_s=0):
    return (datetime.datetime.now(CST) + datetime.timedelta(seconds=delta_s)).isoformat(timespec="seconds")


A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
SERIAL = random.randrange(10**7, 9 * 10**7)


def credit_code(division):
    """A valid 统一社会信用代码 (GB 32100-2015), a new one each call."""
    global SERIAL
    SERIAL += 1
    body8 = f"{SERIAL:08d}"
    ws = [3, 7, 9, 10, 5, 8, 4, 2]
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body8, ws)) % 11
    org = body8 + ("X" if c == 10 else "0" if c == 11 else str(c))
    s17 = "91" + division + org
    return s17 + A[(31 - sum(A.index(ch) * w for ch, w in zip(s17, W)) % 31) % 31]


def submit(matter, region="450103", kind="complaint", complexity="general", summary=None, body=None, **kw):
    """An appeal registered and accepted at once by the province's agent; returns the case id."""
    n = SERIAL + 1
    a = {"enterprise_name": f"广西第{n}号测试商贸有限公司", "credit_code": credit_code(region[:6]),
         "address": f"南宁市某路{n}号", "region_code": region, "contact_name": "李明",
         "contact_phone": "13807712345", "channel": "hotline", "kind": kind,
         "summary": summary or f"{matter}事项第{n}号诉求",
         "body": body or f"我公司反映{matter}方面的问题（编号{uuid.uuid4().hex}），已影响正常经营，请尽快协调解决。",
         "decision": {"action": "accept", "complexity": complexity, "matter_type": matter}}
    a.update(kw)
    s, r, _ = call("POST", "/v1/appeals", T["T_AGENT"], a, base=INTAKE)
    if s != 201 or r.get("state") != "accepted":
        print(f"  (submit failed: {s} {r})")
        return None
    return r["case_id"]


def handling(cid, tok=None, base=URL):
    s, h, _ = call("GET", f"/v1/cases/{cid}/handling", tok or T["T_CENTRE_GX"], base=base)
    return h if s == 200 else None


def wait_for(fn, timeout=120, step=0.2):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(step)


def wait_state(cid, state, timeout=120):
    return wait_for(lambda: (lambda h: h if h and h["state"] == state else None)(handling(cid)), timeout)


def wait_routed(cid, timeout=120):
    """Until the consumer has looked at the case: dispatched, or queued with its reason."""
    def f():
        h = handling(cid)
        if h and (h["state"] != "accepted" or (h["queue"] and h["queue_reason"] and h["queue_reason"] != "not_yet_routed")):
            return h
        return None
    return wait_for(f, timeout)


def holders(h):
    return {x["unit"]: x for x in h["holders"]}


def is_error(r, field=None):
    return isinstance(r, dict) and "error" in r and r["error"].get("code") and r["error"].get("message") and \
        (field is None or r["error"].get("field") == field)


def act(cid, action, tok, body, base=URL):
    return call("POST", f"/v1/cases/{cid}/{action}", tok, body, base=base)


def version(cid):
    return int(sql(f"SELECT version FROM cases WHERE id = '{cid}'"))


# ==== A. automatic dispatch through Kafka ====================================================
print("automatic dispatch from the catalogue, through Kafka:")
C = submit("道路施工", summary="厂房门前道路施工三个月未恢复，货车无法进出")
check("an agent-accepted appeal (道路施工, 青秀区) is registered", C is not None)
h = wait_state(C, "dispatched", timeout=180)
check("the dispatcher dispatches it by itself (polled through Kafka)", h is not None, h)
h = h or handling(C)
hs = holders(h)
check("  … lead 青秀区住建局, co-handlers 交通运输局 and 城管局 (首接负责)",
      hs.get("450103-ZJ", {}).get("role") == "lead" and hs.get("450103-JT", {}).get("role") == "co"
      and hs.get("450103-CG", {}).get("role") == "co", h)
check("  … county tier, by the catalogue, naming the version that routed it",
      h["tier"] == "county" and h["route_basis"] == "catalogue" and h["catalogue_version"] == CATV, h)
check("  … a sign-for deadline from the guangxi profile (1 working day) and a 10-working-day resolve-by",
      h["sign_by"] and h["sign_by"].endswith("23:59:59+08:00") and h["resolve_window"] == "10wd" and h["resolve_by"], h)
ev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{C}' AND type = 'case.dispatched'") or "{}")
check("  … case.dispatched carries lead, co-handlers, tier, catalogue version, basis, attempt and sign_by",
      ev.get("catalogue_version") == CATV and ev.get("basis") == "catalogue" and ev.get("attempt") == 1
      and len(ev.get("co_handler_unit_ids", [])) == 2 and ev.get("tier") == "county" and ev.get("sign_by"), ev)
check("  … the case row: state, lead unit and due_at (= sign_by) in the same transaction",
      sql(f"SELECT state || ' ' || (lead_unit_id = (SELECT id FROM units WHERE code = '450103-ZJ')) || ' ' || "
          f"(due_at = (SELECT sign_by FROM case_dispatch WHERE case_id = id)) FROM cases WHERE id = '{C}'")
      == "dispatched true true")
s, q, _ = call("GET", "/v1/unit/queue", T["U_450103_ZJ"])
item = next((i for i in q.get("items", []) if i["case_id"] == C), None) if s == 200 else None
check("the lead unit's queue shows it to sign", item is not None and item["bucket"] == "to_sign" and item["role"] == "lead", q)
s, q, _ = call("GET", "/v1/unit/queue?bucket=awaiting_lead", T["U_450103_JT"])
check("a co-handler's queue shows it waiting for the lead",
      s == 200 and any(i["case_id"] == C and i["role"] == "co" for i in q.get("items", [])), q)
s, q, _ = call("GET", "/v1/unit/queue", T["U_450200_FGW"])
check("another city's unit does not see it", s == 200 and all(i["case_id"] != C for i in q.get("items", [])))
s, f, hd = call("GET", f"/v1/cases/{C}/assignment-form", T["U_450103_ZJ"])
check("the assignment form (交办单) is HTML, printable", s == 200 and hd.get("Content-Type", "").startswith("text/html")
      and "<!DOCTYPE html>" in f and "企业诉求交办单" in f, (s, hd))
cno = sql(f"SELECT case_no FROM cases WHERE id = '{C}'")
check("  … with annex 1's fields: number, matter, enterprise, address, contact, lead, co-handlers, dates, deadline",
      all(x in f for x in (cno, "交办事项", "需要办理或协调解决事项", "反映企业", "企业地址", "联系人", "联系电话",
                            "牵头办理部门", "青秀区住房和城乡建设局", "配合办理部门", "青秀区交通运输局", "交办日期",
                            "办结时限", "备注", f"派单目录第{CATV}版", "李明", "13807712345")), f[:400])
check("  … the read is audited", int(sql(f"SELECT count(*) FROM audit_log WHERE action = 'case.read' AND object = 'case:{C}' "
                                       "AND detail->>'view' = 'assignment_form'")) == 1)

# ==== B. the 409 race across two instances ===================================================
print("two writers at once:")
v = version(C)
with concurrent.futures.ThreadPoolExecutor(2) as ex:
    rs = list(ex.map(lambda base: act(C, "sign", T["U_450103_ZJ"], {"version": v}, base=base), [URL, URL2]))
codes = sorted(r[0] for r in rs)
loser = [r for r in rs if r[0] == 409]
check("the lead signs twice at once on two instances → one 200, one 409", codes == [200, 409], rs)
check("  … the 409 names the current state and version", loser and loser[0][1].get("state") == "in_progress"
      and loser[0][1].get("version") == v + 1, loser)
winner = next((r[1] for r in rs if r[0] == 200), {})
check("  … signed within the window; resolve_by and first_contact_by from the profile",
      winner.get("within_deadline") is True and winner.get("resolve_by") == h["resolve_by"]
      and winner.get("first_contact_by"), winner)
sev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{C}' AND type = 'case.signed'") or "{}")
check("  … case.signed carries resolve_by for the deadline watcher", sev.get("resolve_by") and sev.get("within_deadline") is True, sev)
check("  … exactly one case.signed", sql(f"SELECT count(*) FROM case_events WHERE case_id = '{C}' AND type = 'case.signed'") == "1")
s, r, _ = act(C, "sign", T["U_450103_ZJ"], {"version": v})
check("a stale version → 409 conflict", s == 409 and r["error"]["code"] == "conflict" and r.get("version") == v + 1, r)

# ==== C. handling ==============================================================================
print("handling by the lead and the co-handlers:")
s, r, _ = act(C, "contact", T["U_450103_ZJ"], {"version": version(C), "contacted_at": now(-5), "channel": "phone",
                                               "person": "李明", "phone": "13807712345", "reached": True,
                                               "note": "电话联系企业，约定现场查看"})
check("the lead records a contact (time, channel, person)", s == 200 and r.get("first_contact") is True, r)
rec = r.get("contact_record_id")
row = sql(f"SELECT channel || ' ' || person || ' ' || reached || ' ' || (staff_principal_id IS NOT NULL) FROM case_contacts WHERE id = '{rec}'")
check("  … the evidence is stored (channel, person, reached, staff member)", row == "phone 李明 true true", row)
cev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{C}' AND type = 'case.contact_recorded'") or "{}")
check("  … case.contact_recorded names the record, not the person", cev.get("contact_record_id") == rec
      and "李明" not in json.dumps(cev, ensure_ascii=False) and cev.get("first_contact") is True, cev)
s, r, _ = act(C, "contact", T["U_450103_JT"], {"version": version(C), "contacted_at": now(-2), "channel": "field_visit",
                                               "person": "李明", "reached": True})
check("a co-handler records its own contact (not the first)", s == 200 and r.get("first_contact") is False, r)
s, r, _ = act(C, "progress", T["U_450103_ZJ"], {"version": version(C), "note": "已约谈施工单位，制定恢复通行方案",
                                                "next_report_by": now(7 * 86400)})
check("the lead reports progress", s == 200 and r.get("state") == "in_progress", r)
s, r, _ = act(C, "progress", T["U_450103_JT"], {"version": version(C), "note": "协办进展"})
check("a co-handler may not report the case's progress (403)", s == 403, r)
s, r, _ = act(C, "agree-deadline", T["U_450103_ZJ"], {"version": version(C), "resolve_by": now(20 * 86400),
                                                      "basis": "enterprise_agreement"})
check("agreeing a deadline where the profile fixes it → 422", s == 422 and is_error(r, "resolve_by"), r)
s, r, _ = act(C, "extension-request", T["U_450103_ZJ"], {"version": version(C), "extend_by": 3,
                                                         "reason_text": "需协调施工单位调整工期", "enterprise_informed": True})
check("the lead asks for 3 more working days before the deadline", s == 200 and r.get("request_id")
      and r.get("requested_due_at") > h["resolve_by"] and r.get("unit") == "working_days", r)
req1 = r.get("request_id")
s, r, _ = act(C, "extension-request", T["U_450103_ZJ"], {"version": version(C), "extend_by": 1,
                                                         "reason_text": "再次申请", "enterprise_informed": True})
check("  … a second request while one is pending → 409", s == 409 and r["error"]["code"] == "pending", r)
s, r, _ = act(C, "extension-decision", T["T_LEADER"], {"version": version(C), "request_id": req1, "decision": "approved"})
check("  … under the guangxi profile a leader may not decide it (the centre approves) → 403", s == 403, r)
s, r, _ = act(C, "extension-decision", T["T_CENTRE_QX"], {"version": version(C), "request_id": req1, "decision": "approved",
                                                          "decision_text": "同意延期3个工作日"})
check("  … the centre approves it", s == 200 and r.get("decision") == "approved" and r.get("extensions_granted") == 3, r)
h2 = handling(C)
check("  … the new deadline is in force (due_at, resolve_by)", h2["resolve_by"] == r.get("resolve_by") == h2["due_at"]
      and h2["resolve_by"] > h["resolve_by"] and h2["extensions"]["count"] == 1, h2)
dev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{C}' AND type = 'case.extension_decided'") or "{}")
check("  … case.extension_decided carries the new resolve_by", dev.get("decision") == "approved" and dev.get("resolve_by"), dev)
s, r, _ = act(C, "extension-decision", T["T_CENTRE_QX"], {"version": version(C), "request_id": req1, "decision": "rejected"})
check("  … deciding it again → 409", s == 409 and r["error"]["code"] == "already_decided", r)
result = {"finding": "partly_true", "measures": "经查，企业反映施工占道影响通行的情况部分属实。已责令施工单位于三日内恢复半幅通行，"
                                                "并设置临时通道和警示标志。" * 3, "how_told": "phone", "told_at": now(-30)}
s, r, _ = act(C, "result", T["U_450103_ZJ"], dict(result, version=version(C)))
check("the lead cannot submit the result before every co-handler's part → 409 naming them",
      s == 409 and r["error"]["code"] == "parts_missing" and "450103-JT" in r["error"]["message"]
      and "450103-CG" in r["error"]["message"], r)
s, r, _ = act(C, "part", T["U_450103_ZJ"], {"version": version(C), "summary": "牵头单位不报协办材料"})
check("the lead does not submit a part (403)", s == 403, r)
s, r, _ = act(C, "part", T["U_450103_JT"], {"version": version(C), "summary": "交通运输局：已调整公交线路绕行，设置临时站点。"})
check("co-handler 交通运输局 submits its part to the lead", s == 200 and r.get("part_id") and r.get("handling_round") == 1, r)
pev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{C}' AND type = 'case.part_submitted'") or "{}")
check("  … case.part_submitted names the lead it reports to", pev.get("lead_unit_id") == int(sql("SELECT id FROM units WHERE code = '450103-ZJ'")), pev)
s, r, _ = act(C, "part", T["U_450103_CG"], {"version": version(C), "summary": "城管局：已清理施工堆放物，恢复人行道。"})
check("co-handler 城管局 submits its part", s == 200, r)
s, r, _ = act(C, "result", T["U_450103_CG"], dict(result, version=version(C)))
check("a co-handler may not submit the result (403)", s == 403, r)
s, f, _ = call("GET", f"/v1/cases/{C}/handling-form", T["U_450103_ZJ"])
check("no handling form (承办单) before the result → 409 no_result", s == 409 and f["error"]["code"] == "no_result", f)
for bad, field in [({"handler_name": ""}, "handler_name"), ({"handler_phone": "call me"}, "handler_phone"),
                   ({"handler_name": "王\n科长"}, "handler_name")]:
    s, r, _ = act(C, "result", T["U_450103_ZJ"], dict(result, version=version(C), **bad))
    check(f"result with a bad {field} → 400 naming it", s == 400 and r["error"]["field"] == field, r)
result = dict(result, handler_name="王建国", handler_phone="0771-5551234")
s, r, _ = act(C, "result", T["U_450103_ZJ"], dict(result, version=version(C)))
check("the lead submits the combined result → resolved", s == 200 and r.get("state") == "resolved"
      and len(r.get("parts", [])) == 2 and r.get("within_deadline") is True and r.get("revisit_by"), r)
row = sql(f"SELECT finding || ' ' || cardinality(part_ids) || ' ' || within_deadline FROM case_results WHERE case_id = '{C}'")
check("  … the result row combines both parts", row == "partly_true 2 true", row)
s, f, hdr = call("GET", f"/v1/cases/{C}/handling-form", T["U_450103_ZJ"])
check("the handling form (承办单, seed 003 annex 2) is printable HTML: unit, handler and phone, finding, measures, "
      "how the enterprise was told", s == 200 and hdr.get("Content-Type", "").startswith("text/html") and "企业诉求承办单" in f
      and "青秀区住房和城乡建设局" in f and "王建国" in f and "0771-5551234" in f and "部分属实" in f
      and "已责令施工单位于三日内恢复半幅通行" in f and "以电话方式" in f and "待回访" in f and "（签章）" in f, f[:400] if isinstance(f, str) else f)
check("  … names the co-handlers, and the enterprise for a non-confidential case", "交通运输局" in f and "城市管理综合行政执法局" in f
      and "李明" in f, f[:400])
check("  … the read is audited", sql(f"SELECT count(*) FROM audit_log WHERE object = 'case:{C}' AND detail->>'view' = 'handling_form'") == "1")
s, f, _ = call("GET", f"/v1/cases/{C}/handling-form", T["U_450105_FGW"])
check("  … another unit → 404", s == 404 and is_error(f), f)
s, f, _ = call("GET", f"/v1/cases/{C}/handling-form", T["T_ENT"])
check("  … an enterprise → 403", s == 403, f)
rev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{C}' AND type = 'case.result_submitted'") or "{}")
check("  … case.result_submitted: finding, measures, how told, round 1, revisit_by",
      rev.get("finding") == "partly_true" and rev.get("how_told") == "phone" and rev.get("handling_round") == 1
      and rev.get("revisit_by") and len(rev.get("measures", "")) > 10, rev)
s, q, _ = call("GET", "/v1/unit/queue", T["U_450103_ZJ"])
check("  … it leaves the unit's queue", s == 200 and all(i["case_id"] != C for i in q.get("items", [])))
hist = sql(f"SELECT string_agg(case_version::text, ',' ORDER BY id) FROM case_events WHERE case_id = '{C}'")
check("every transition bumped the version by one, with one history row each",
      hist == ",".join(str(i) for i in range(1, version(C) + 1)), hist)

# ==== D. an extension capped by the profile (枣阳: at most once the original window) ===========
print("extensions capped by the policy profile:")
Z = submit("营商环境", region="450105")
hz = wait_state(Z, "dispatched", timeout=120)
check("a case in 江南区 (枣阳 profile in this test) is dispatched to 江南区发改局",
      hz is not None and "450105-FGW" in holders(hz) and hz["resolve_window"] == "5wd", hz)
s, r, _ = act(Z, "sign", T["U_450105_FGW"], {"version": version(Z)})
check("  … signed", s == 200, r)
s, r, _ = act(Z, "extension-request", T["U_450105_FGW"], {"version": version(Z), "extend_by": 6, "reason_text": "需第三方检测",
                                                          "enterprise_informed": True})
check("  … 6 more working days on a 5-day window → 422, the cap named", s == 422 and is_error(r, "extend_by"), r)
s, r, _ = act(Z, "extension-request", T["U_450105_FGW"], {"version": version(Z), "extend_by": 5, "reason_text": "需第三方检测",
                                                          "enterprise_informed": True})
check("  … 5 more working days → asked", s == 200, r)
s, r, _ = act(Z, "extension-decision", T["T_CENTRE_NN"], {"version": version(Z), "request_id": r.get("request_id"),
                                                          "decision": "approved"})
check("  … the city centre (responsible above the county) approves", s == 200 and r.get("extensions_granted") == 5, r)
s, r, _ = act(Z, "extension-request", T["U_450105_FGW"], {"version": version(Z), "extend_by": 1, "reason_text": "再延一天",
                                                          "enterprise_informed": False})
check("  … one more day after the cap is reached → 422", s == 422 and is_error(r, "extend_by"), r)

# ==== E. not in the catalogue → the centre's queue → manual dispatch ===========================
print("the centre's queue and manual dispatch:")
E = submit("知识产权保护", summary="商标被仿冒，希望协调查处")
he = wait_routed(E)
check("a matter the catalogue does not know waits in the centre's queue", he and he["state"] == "accepted"
      and he["queue"] == "awaiting" and he["queue_reason"] == "no_catalogue_entry", he)
s, q, _ = call("GET", "/v1/dispatch/queue?queue=awaiting", T["T_CENTRE_QX"])
it = next((i for i in q.get("items", []) if i["case_id"] == E), None) if s == 200 else None
check("  … 青秀区's centre sees it, with the reason and the matter type", it and it["reason"] == "no_catalogue_entry"
      and it["matter_type"] == "知识产权保护" and it["tier"] == "county", q)
s, q, _ = call("GET", "/v1/dispatch/queue?tier=county&region=450103&kind=complaint", T["T_CENTRE_GX"])
check("  … the province's centre sees it too (filters tier, region, kind)", s == 200 and any(i["case_id"] == E for i in q["items"]), q)
s, q, _ = call("GET", "/v1/dispatch/queue?tier=city", T["T_CENTRE_GX"])
check("  … but not under another tier filter", s == 200 and all(i["case_id"] != E for i in q["items"]))
s, q, _ = call("GET", "/v1/dispatch/queue", T["T_CENTRE_LZ"])
check("  … 柳州's centre does not", s == 200 and all(i["case_id"] != E for i in q["items"]))
s, q, _ = call("GET", "/v1/dispatch/queue", T["T_CENTRE_XZ"])
check("  … nor the township centre below it", s == 200 and all(i["case_id"] != E for i in q["items"]))
check("  … queue reads are audited", int(sql("SELECT count(*) FROM audit_log WHERE action = 'case.read' AND object LIKE 'dispatch_queue:%'")) >= 4)
s, r, _ = act(E, "dispatch", T["T_CENTRE_QX"], {"version": version(E), "lead_unit": "450103-SCJG", "co_handlers": ["450103-XZSP"]})
check("the centre dispatches it by hand: lead 市场监管局, co-handler 行政审批局", s == 200 and r.get("state") == "dispatched"
      and r.get("lead_unit") == "450103-SCJG" and r.get("co_handlers") == ["450103-XZSP"] and r.get("sign_by"), r)
ev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{E}' AND type = 'case.dispatched'") or "{}")
check("  … case.dispatched: basis centre_decision, the version in force", ev.get("basis") == "centre_decision"
      and ev.get("catalogue_version") == CATV, ev)
s, q, _ = call("GET", "/v1/dispatch/queue", T["T_CENTRE_QX"])
check("  … and it leaves the queue", s == 200 and all(i["case_id"] != E for i in q["items"]))
s, r, _ = act(E, "dispatch", T["T_CENTRE_QX"], {"version": version(E), "lead_unit": "450103-FGW"})
check("dispatching a dispatched case → 409 bad_state", s == 409 and r["error"]["code"] == "bad_state" and r.get("state") == "dispatched", r)

# ==== F. returns ==================================================================================
print("returns, re-routing and the decided remit:")
s, r, _ = act(E, "return", T["U_450103_XZSP"], {"version": version(E), "reason_code": "not_in_remit", "reason_text": "协办单位不退件"})
check("a co-handler may not return the case (403)", s == 403, r)
s, r, _ = act(E, "return", T["U_450103_SCJG"], {"version": version(E), "reason_code": "not_in_remit",
                                                "reason_text": "商标侵权查处属知识产权部门职责，本单位仅负责登记。",
                                                "suggested_unit": "450103-FGW"})
check("the lead returns it inside the sign-for window, with a written reason", s == 200 and r.get("state") == "accepted"
      and r.get("queue") == "returned", r)
rv = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{E}' AND type = 'case.returned'") or "{}")
check("  … case.returned carries the reason and the suggested unit", rv.get("reason_code") == "not_in_remit"
      and rv.get("suggested_unit_id") == int(sql("SELECT id FROM units WHERE code = '450103-FGW'")), rv)
check("  … every holder was released ('returned')", sql(f"SELECT count(*) FROM case_units WHERE case_id = '{E}' AND released_at IS NULL") == "0"
      and sql(f"SELECT count(*) FROM case_units WHERE case_id = '{E}' AND release_reason = 'returned'") == "2")
s, r, _ = call("GET", f"/v1/cases/{E}/handling", T["U_450103_SCJG"])
check("  … the returning unit no longer sees the case (404)", s == 404, r)
time.sleep(1.5)  # the consumer sees case.returned: no entry, so it stays with the centre
s, q, _ = call("GET", "/v1/dispatch/queue?queue=returned", T["T_CENTRE_QX"])
it = next((i for i in q.get("items", []) if i["case_id"] == E), None) if s == 200 else None
check("  … back in the centre's queue as returned, naming the unit that had it", it and it["last_lead_unit"] == "450103-SCJG"
      and it["reason"] == "not_in_remit", q)
s, r, _ = act(E, "dispatch", T["T_CENTRE_QX"], {"version": version(E), "lead_unit": "450103-FGW"})
check("the centre re-routes it (attempt 2)", s == 200 and r.get("attempt") == 2, r)
s, r, _ = act(E, "decide-remit", T["T_CENTRE_QX"], {"version": version(E), "lead_unit": "450103-RSSB", "disputed_by": ["450103-SCJG"],
                                                    "basis": "centre_ruling", "decision_text": "x"})
check("deciding the remit for a unit other than the one holding it → 409", s == 409 and r["error"]["code"] == "lead_mismatch", r)
s, r, _ = act(E, "decide-remit", T["T_CENTRE_QX"], {"version": version(E), "lead_unit": "450103-FGW", "co_handlers": ["450103-SCJG"],
                                                    "disputed_by": ["450103-SCJG"], "basis": "centre_ruling",
                                                    "decision_text": "经研究，由区发改局牵头办理，市场监管局配合。"})
check("the centre decides the remit (确责): 发改局 leads, 市场监管局 co-handles", s == 200 and r.get("remit_decided") is True
      and r.get("state") == "dispatched", r)
check("  … 市场监管局 holds it again as co-handler", holders(handling(E)).get("450103-SCJG", {}).get("role") == "co")
s, r, _ = act(E, "return", T["U_450103_FGW"], {"version": version(E), "reason_code": "not_in_remit", "reason_text": "不属本单位"})
check("a return after the remit was decided → 409 remit_decided", s == 409 and r["error"]["code"] == "remit_decided", r)
s, f, _ = call("GET", f"/v1/cases/{E}/assignment-form", T["T_CENTRE_QX"])
check("  … the assignment form says so, and names the second dispatch", s == 200 and "确责" in f and "第2次交办" in f)

F = submit("知识产权保护", summary="专利被侵权，请求协调")
wait_routed(F)
s, r, _ = act(F, "dispatch", T["T_CENTRE_QX"], {"version": version(F), "lead_unit": "450103-RSSB"})
sql(f"UPDATE case_dispatch SET sign_by = now() - interval '1 hour' WHERE case_id = '{F}'")  # the window has passed
s, r, _ = act(F, "return", T["U_450103_RSSB"], {"version": version(F), "reason_code": "other", "reason_text": "超时退件"})
check("a return after the sign-for window → 409 window_closed", s == 409 and r["error"]["code"] == "window_closed", r)
s, r, _ = act(F, "sign", T["U_450103_RSSB"], {"version": version(F)})
check("  … a late signature is recorded as late", s == 200 and r.get("within_deadline") is False, r)

G = submit("知识产权保护", summary="商业秘密被侵犯")
wait_routed(G)
for unit in ("450103-SCJG", "450103-XZSP"):
    act(G, "dispatch", T["T_CENTRE_QX"], {"version": version(G), "lead_unit": unit})
    s, r, _ = act(G, "return", T["U_" + unit.replace("-", "_")], {"version": version(G), "reason_code": "not_in_remit",
                                                                  "reason_text": "不属于本单位职责"})
check("returned by a second unit → the remit is disputed", s == 200 and r.get("queue") == "disputed" and r.get("returns") == 2, r)
s, q, _ = call("GET", "/v1/dispatch/queue?queue=disputed&unit=450103-XZSP", T["T_CENTRE_QX"])
check("  … in the centre's queue as disputed (filter by unit)", s == 200 and [i["case_id"] for i in q["items"]] == [G], q)
s, r, _ = act(G, "decide-remit", T["T_CENTRE_QX"], {"version": version(G), "lead_unit": "450103-RSSB", "co_handlers": ["450103-JT"],
                                                    "disputed_by": ["450103-SCJG", "450103-XZSP"], "basis": "joint_meeting",
                                                    "decision_text": "联席会议确定人社局牵头"})
check("the centre decides the remit of a waiting case → decided and dispatched in one step", s == 200
      and r.get("state") == "dispatched" and r.get("remit_decided") is True, r)
types = sql(f"SELECT string_agg(type, ',' ORDER BY id) FROM case_events WHERE case_id = '{G}' AND id > "
            f"(SELECT max(id) FROM case_events WHERE case_id = '{G}' AND type = 'case.returned')")
check("  … case.remit_decided then case.dispatched (basis joint_meeting)", types == "case.remit_decided,case.dispatched"
      and json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{G}' AND type = 'case.dispatched' ORDER BY id DESC LIMIT 1"))
      ["basis"] == "joint_meeting", types)
s, r, _ = act(G, "return", T["U_450103_RSSB"], {"version": version(G), "reason_code": "not_in_remit", "reason_text": "不属于"})
check("  … and the decided lead may not return it", s == 409 and r["error"]["code"] == "remit_decided", r)

# ==== G. other reasons to wait for the centre ========================================================
print("what the catalogue leaves to the centre:")
K = submit("道路施工", complexity="complex", summary="道路改造涉及多个部门")
hk = wait_routed(K)
check("a complex case waits for the centre even where the catalogue knows the matter",
      hk and hk["queue"] == "awaiting" and hk["queue_reason"] == "complex", hk)
L = submit("用地审批", summary="项目用地预审迟迟未批复")
hl = wait_routed(L)
check("an entry marked dispatch=centre (用地审批) waits for the centre", hl and hl["queue_reason"] == "centre_decides", hl)
s, r, _ = act(K, "dispatch", T["T_CENTRE_QX"], {"version": version(K), "lead_unit": "450103-ZJ", "co_handlers": ["450103-JT"]})
s, r, _ = act(K, "sign", T["U_450103_ZJ"], {"version": version(K)})
check("  … dispatched by hand and signed: a complex case has no fixed resolve-by (guangxi: agreed)",
      s == 200 and r.get("resolve_by") is None and r.get("resolve_window") == "agreed", r)
s, r, _ = act(K, "extension-request", T["U_450103_ZJ"], {"version": version(K), "extend_by": 2, "reason_text": "x",
                                                         "enterprise_informed": True})
check("  … no extension before a deadline exists → 409", s == 409 and r["error"]["code"] == "no_deadline", r)
s, r, _ = act(K, "agree-deadline", T["U_450103_ZJ"], {"version": version(K), "resolve_by": now(15 * 86400),
                                                      "basis": "enterprise_agreement"})
check("  … agreeing it with the enterprise needs a recorded contact first → 409", s == 409 and r["error"]["code"] == "contact_first", r)
act(K, "contact", T["U_450103_ZJ"], {"version": version(K), "contacted_at": now(-5), "channel": "in_person", "person": "王经理",
                                     "reached": True})
agreed = now(15 * 86400)
s, r, _ = act(K, "agree-deadline", T["U_450103_ZJ"], {"version": version(K), "resolve_by": agreed, "basis": "enterprise_agreement",
                                                      "note": "与企业商定15日内办结"})
hk = handling(K)
check("  … after the contact the agreed deadline is in force", s == 200 and hk["due_at"] == r.get("resolve_by")
      and r.get("resolve_window", "").endswith("wd"), (r, hk))

# ==== H. escalation and hand-down =====================================================================
print("escalation to the tier above, hand-down to a lower tier:")
H = submit("营商环境", summary="多部门推诿，办事难")
hh = wait_state(H, "dispatched")
act(H, "sign", T["U_450103_FGW"], {"version": version(H)})
s, r, _ = act(H, "escalate", T["U_450103_JT"], {"version": version(H), "reason_code": "beyond_tier_capacity", "reason_text": "x"})
check("a unit that does not hold the case cannot escalate it (404)", s == 404, r)
s, r, _ = act(H, "escalate", T["U_450103_FGW"], {"version": version(H), "reason_code": "beyond_tier_capacity",
                                                 "reason_text": "涉及市级审批权限，区级无法协调解决"})
check("the lead unit escalates: the case goes to the city tier", s == 200 and r.get("state") == "accepted"
      and r.get("tier") == "city" and r.get("to_region_code") == "450100", r)
eev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{H}' AND type = 'case.escalated'") or "{}")
check("  … case.escalated names the tier and the receiving centre's region", eev.get("to_tier") == "city"
      and eev.get("to_region_code") == "450100" and eev.get("reason_code") == "beyond_tier_capacity", eev)
hh = wait_for(lambda: (lambda x: x if x and x["state"] == "dispatched" else None)(handling(H)), 120)
check("  … the city's catalogue entry routes it to 南宁市发改委 by itself", hh is not None and "450100-FGW" in holders(hh)
      and hh["tier"] == "city" and hh["attempts"] == 2, hh)
s, r, _ = act(H, "escalate", T["T_CENTRE_QX"], {"version": version(H), "reason_code": "multi_unit", "reason_text": "x"})
check("  … the county centre can no longer act on it (404)", s == 404, r)
s, r, _ = act(H, "escalate", T["T_CENTRE_NN"], {"version": version(H), "reason_code": "leader_instruction",
                                                "reason_text": "市领导批示提级办理", "leader_principal_id": int(os.environ["LEADER_ID"])})
check("the city centre escalates it to the province", s == 200 and r.get("tier") == "province", r)
hh = wait_for(lambda: (lambda x: x if x and x["state"] == "dispatched" else None)(handling(H)), 120)
check("  … routed to the province's 发改委", hh is not None and "450000-FGW" in holders(hh), hh)
s, r, _ = act(H, "escalate", T["T_CENTRE_GX"], {"version": version(H), "reason_code": "multi_unit", "reason_text": "x"})
check("  … there is no tier above the province → 409", s == 409 and r["error"]["code"] == "top_tier", r)

I = submit("知识产权保护", region="450103001", summary="街道辖区内商标侵权")
hi = wait_routed(I)
check("a township case the catalogue does not know waits with the township's centre", hi and hi["tier"] == "township"
      and hi["responsible_region"] == "450103001" and hi["queue"] == "awaiting", hi)
s, r, _ = act(I, "escalate", T["T_CENTRE_XZ"], {"version": version(I), "reason_code": "outside_remit", "reason_text": "街道无执法权"})
check("the township centre escalates it to the county", s == 200 and r.get("tier") == "county", r)
s, r, _ = act(I, "dispatch", T["T_CENTRE_XZ"], {"version": version(I), "lead_unit": "450103001-GOV"})
check("  … and may no longer dispatch it (404)", s == 404, r)
s, r, _ = act(I, "hand-down", T["T_CENTRE_QX"], {"version": version(I), "to_tier": "county", "instruction": "x"})
check("handing down to the tier already responsible → 422", s == 422 and is_error(r, "to_tier"), r)
s, r, _ = act(I, "hand-down", T["T_CENTRE_QX"], {"version": version(I), "to_tier": "township",
                                                 "instruction": "请街道先行核实企业经营情况，协调辖区相关单位处理。"})
check("the county centre hands it down to the township (延伸办理)", s == 200 and r.get("tier") == "township"
      and r.get("to_region_code") == "450103001", r)
hev = json.loads(sql(f"SELECT payload FROM case_events WHERE case_id = '{I}' AND type = 'case.handed_down'") or "{}")
check("  … case.handed_down carries the instruction", hev.get("to_tier") == "township" and "核实" in hev.get("instruction", ""), hev)
time.sleep(1.5)
s, q, _ = call("GET", "/v1/dispatch/queue?queue=handed_down", T["T_CENTRE_XZ"])
check("  … it is in the township centre's queue", s == 200 and any(i["case_id"] == I for i in q["items"]), q)
s, r, _ = act(I, "dispatch", T["T_CENTRE_XZ"], {"version": version(I), "lead_unit": "450103001-GOV"})
check("  … which dispatches it to the street office", s == 200 and r.get("tier") == "township", r)
s, r, _ = act(I, "hand-down", T["T_CENTRE_QX"], {"version": version(I), "to_tier": "township", "instruction": "x"})
check("handing down a dispatched case → 409", s == 409 and r["error"]["code"] == "bad_state", r)

# ==== I. scope =========================================================================================
print("scope: what callers may not know is 404, roles are 403:")
X = str(uuid.uuid4())
for name, method, path, tok, body, want in [
    ("another city's unit reads the case", "GET", f"/v1/cases/{C}/handling", "U_450200_FGW", None, 404),
    ("another city's unit reads the form", "GET", f"/v1/cases/{C}/assignment-form", "U_450200_FGW", None, 404),
    ("another city's unit signs", "POST", f"/v1/cases/{E}/sign", "U_450200_FGW", {"version": 1}, 404),
    ("a unit that never held the case records a contact", "POST", f"/v1/cases/{E}/contact", "U_450103_ZJ",
     {"version": 1, "contacted_at": now(), "channel": "phone", "person": "x", "reached": True}, 404),
    ("another city's centre reads the case", "GET", f"/v1/cases/{C}/handling", "T_CENTRE_LZ", None, 404),
    ("another city's centre dispatches", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_LZ", {"version": 1, "lead_unit": "450200-FGW"}, 404),
    ("a township centre reads a county case", "GET", f"/v1/cases/{C}/handling", "T_CENTRE_XZ", None, 404),
    ("a case that does not exist", "GET", f"/v1/cases/{X}/handling", "T_CENTRE_GX", None, 404),
    ("a case id that is not a uuid", "POST", "/v1/cases/not-a-case/sign", "U_450103_ZJ", {"version": 1}, 404),
    ("an enterprise reads the centre queue", "GET", "/v1/dispatch/queue", "T_ENT", None, 403),
    ("an enterprise reads the form", "GET", f"/v1/cases/{C}/assignment-form", "T_ENT", None, 403),
    ("a unit dispatches", "POST", f"/v1/cases/{L}/dispatch", "U_450103_ZJ", {"version": 1, "lead_unit": "450103-ZJ"}, 403),
    ("a centre signs", "POST", f"/v1/cases/{E}/sign", "T_CENTRE_QX", {"version": 1}, 403),
    ("a supervisor dispatches", "POST", f"/v1/cases/{L}/dispatch", "T_SUP", {"version": 1, "lead_unit": "450103-ZJ"}, 403),
    ("a unit reads the centre queue", "GET", "/v1/dispatch/queue", "U_450103_ZJ", None, 403),
    ("no token", "GET", "/v1/unit/queue", None, None, 401),
]:
    s, r, _ = call(method, path, T.get(tok) if tok else None, body)
    check(f"{name} → {want}", s == want and is_error(r) and (want != 404 or "case_no" not in json.dumps(r)), (s, r))
s, r, _ = call("GET", f"/v1/cases/{C}/handling", T["T_SUP"])
check("the district's supervision office reads the case", s == 200 and r.get("case_id") == C, r)

Rc = submit("营商环境", kind="report", confidential=True, summary="反映<b>某窗口</b>工作人员索要好处",
            body="窗口工作人员暗示索要好处费 <script>alert(1)</script>，请核查。")
hr = wait_state(Rc, "dispatched")
s, f, _ = call("GET", f"/v1/cases/{Rc}/assignment-form", T["U_450103_FGW"])
ent = sql(f"SELECT enterprise_name || '|' || credit_code || '|' || address FROM cases WHERE id = '{Rc}'").split("|")
check("a confidential report: the unit's form withholds the reporter — enterprise, credit code, address, contact, phone",
      s == 200 and "保密件" in f and "李明" not in f and "13807712345" not in f and len(ent) == 3
      and not any(x in f for x in ent), f[:300] if isinstance(f, str) else f)
s, q, _ = call("GET", "/v1/unit/queue", T["U_450103_FGW"])
mine = [x for x in q.get("items", []) if x["case_id"] == Rc] if s == 200 else []
check("  … the unit's queue names no reporter either", mine and "保密件" in mine[0]["enterprise_name"]
      and not any(x in json.dumps(q, ensure_ascii=False) for x in ent), mine)
others = [x for x in q.get("items", []) if x["case_id"] != Rc] if s == 200 else []
check("  … while other cases in it keep their enterprise", others and all("保密件" not in x["enterprise_name"] for x in others), others[:1])
check("  … and escapes what the enterprise typed", "&lt;script&gt;" in f and "<script>" not in f and "&lt;b&gt;" in f)
s, f, _ = call("GET", f"/v1/cases/{Rc}/assignment-form", T["T_CENTRE_QX"])
check("  … the centre's copy shows them", s == 200 and "李明" in f and all(x in f for x in ent))
s, r, _ = call("GET", f"/v1/cases/{L}/assignment-form", T["T_CENTRE_QX"])
check("no assignment form before dispatch → 409", s == 409 and r["error"]["code"] == "not_dispatched", r)

# ==== J. bad inputs write nothing ============================================================================
print("bad inputs: 4xx naming the field, nothing written:")
P = submit("营商环境", summary="用于错误输入测试")
wait_state(P, "dispatched")
act(P, "sign", T["U_450103_FGW"], {"version": version(P)})


def counts():
    return sql("SELECT (SELECT count(*) FROM case_events) || ',' || (SELECT count(*) FROM outbox) || ',' || "
               "(SELECT count(*) FROM case_units) || ',' || (SELECT count(*) FROM case_contacts) || ',' || "
               "(SELECT count(*) FROM case_parts) || ',' || (SELECT count(*) FROM case_results) || ',' || "
               "(SELECT count(*) FROM case_extensions) || ',' || (SELECT coalesce(sum(version), 0) FROM cases) || ',' || "
               "(SELECT count(*) FROM case_dispatch WHERE queue IS NOT NULL)")


wait_for(lambda: sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0", 60)
time.sleep(2)  # let the consumers finish with what the relay just published
vL, vP = version(L), version(P)
long500 = "长" * 501
bad = [
    # (description, method, path, token, body or raw bytes, expected status, expected field)
    ("dispatch without version", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"lead_unit": "450103-ZJ"}, 400, "version"),
    ("version as a string", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": str(vL), "lead_unit": "450103-ZJ"}, 400, "version"),
    ("version 0", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": 0, "lead_unit": "450103-ZJ"}, 400, "version"),
    ("dispatch without lead_unit", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL}, 400, "lead_unit"),
    ("lead_unit not a unit code", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "市监局!"}, 400, "lead_unit"),
    ("lead_unit unknown", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-NOSUCH"}, 422, "lead_unit"),
    ("lead_unit outside the jurisdiction", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450200-FGW"}, 422, "lead_unit"),
    ("lead_unit above the jurisdiction", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450100-FGW"}, 422, "lead_unit"),
    ("co_handlers not an array", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "co_handlers": "450103-JT"}, 400, "co_handlers"),
    ("21 co-handlers", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "co_handlers": ["450103-JT"] * 21}, 400, "co_handlers"),
    ("the lead among its co-handlers", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "co_handlers": ["450103-ZJ"]}, 422, "co_handlers[0]"),
    ("a co-handler twice", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "co_handlers": ["450103-JT", "450103-JT"]}, 422, "co_handlers[1]"),
    ("a co-handler of another city", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "co_handlers": ["450200-JT"]}, 422, "co_handlers[0]"),
    ("an unknown field", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "priority": "high"}, 400, "priority"),
    ("basis not allowed", "POST", f"/v1/cases/{L}/dispatch", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "basis": "whim"}, 400, "basis"),
    ("escalation reason unknown", "POST", f"/v1/cases/{L}/escalate", "T_CENTRE_QX", {"version": vL, "reason_code": "bored", "reason_text": "x"}, 400, "reason_code"),
    ("escalation reason text empty", "POST", f"/v1/cases/{L}/escalate", "T_CENTRE_QX", {"version": vL, "reason_code": "multi_unit", "reason_text": ""}, 400, "reason_text"),
    ("escalation reason text of 501 characters", "POST", f"/v1/cases/{L}/escalate", "T_CENTRE_QX", {"version": vL, "reason_code": "multi_unit", "reason_text": long500}, 400, "reason_text"),
    ("a leader who is not one", "POST", f"/v1/cases/{L}/escalate", "T_CENTRE_QX", {"version": vL, "reason_code": "leader_instruction", "reason_text": "x", "leader_principal_id": 1}, 422, "leader_principal_id"),
    ("hand down to the province", "POST", f"/v1/cases/{L}/hand-down", "T_CENTRE_QX", {"version": vL, "to_tier": "province", "instruction": "x"}, 400, "to_tier"),
    ("remit without disputing units", "POST", f"/v1/cases/{L}/decide-remit", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "disputed_by": [], "basis": "centre_ruling", "decision_text": "x"}, 400, "disputed_by"),
    ("remit without basis", "POST", f"/v1/cases/{L}/decide-remit", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "disputed_by": ["450103-JT"], "decision_text": "x"}, 400, "basis"),
    ("remit naming an unknown disputing unit", "POST", f"/v1/cases/{L}/decide-remit", "T_CENTRE_QX", {"version": vL, "lead_unit": "450103-ZJ", "disputed_by": ["450103-NOPE"], "basis": "centre_ruling", "decision_text": "x"}, 422, "disputed_by[0]"),
    ("sign with a body that is not JSON", "POST", f"/v1/cases/{P}/sign", "U_450103_FGW", b"version=3", 400, None),
    ("sign with a JSON array", "POST", f"/v1/cases/{P}/sign", "U_450103_FGW", b"[1,2]", 400, None),
    ("return reason unknown", "POST", f"/v1/cases/{P}/return", "U_450103_FGW", {"version": vP, "reason_code": "lazy", "reason_text": "x"}, 400, "reason_code"),
    ("return without reason text", "POST", f"/v1/cases/{P}/return", "U_450103_FGW", {"version": vP, "reason_code": "other"}, 400, "reason_text"),
    ("return suggesting an unknown unit", "POST", f"/v1/cases/{P}/return", "U_450103_FGW", {"version": vP, "reason_code": "other", "reason_text": "x", "suggested_unit": "450103-NOPE"}, 422, "suggested_unit"),
    ("contact time not RFC 3339", "POST", f"/v1/cases/{P}/contact", "U_450103_FGW", {"version": vP, "contacted_at": "昨天下午", "channel": "phone", "person": "王", "reached": True}, 400, "contacted_at"),
    ("contact in the future", "POST", f"/v1/cases/{P}/contact", "U_450103_FGW", {"version": vP, "contacted_at": now(86400), "channel": "phone", "person": "王", "reached": True}, 422, "contacted_at"),
    ("contact by pigeon", "POST", f"/v1/cases/{P}/contact", "U_450103_FGW", {"version": vP, "contacted_at": now(), "channel": "pigeon", "person": "王", "reached": True}, 400, "channel"),
    ("contact person with a line break", "POST", f"/v1/cases/{P}/contact", "U_450103_FGW", {"version": vP, "contacted_at": now(), "channel": "phone", "person": "王\n经理", "reached": True}, 400, "person"),
    ("reached as a string", "POST", f"/v1/cases/{P}/contact", "U_450103_FGW", {"version": vP, "contacted_at": now(), "channel": "phone", "person": "王", "reached": "yes"}, 400, "reached"),
    ("a phone with letters", "POST", f"/v1/cases/{P}/contact", "U_450103_FGW", {"version": vP, "contacted_at": now(), "channel": "phone", "person": "王", "phone": "call-me", "reached": True}, 400, "phone"),
    ("an agreed deadline in the past", "POST", f"/v1/cases/{P}/agree-deadline", "U_450103_FGW", {"version": vP, "resolve_by": now(-3600), "basis": "enterprise_agreement"}, 422, "resolve_by"),
    ("an agreed deadline on a vague basis", "POST", f"/v1/cases/{P}/agree-deadline", "U_450103_FGW", {"version": vP, "resolve_by": now(86400), "basis": "vibes"}, 400, "basis"),
    ("progress note of 1001 characters", "POST", f"/v1/cases/{P}/progress", "U_450103_FGW", {"version": vP, "note": "进" * 1001}, 400, "note"),
    ("next report in the past", "POST", f"/v1/cases/{P}/progress", "U_450103_FGW", {"version": vP, "note": "x", "next_report_by": now(-60)}, 422, "next_report_by"),
    ("an extension of 0 days", "POST", f"/v1/cases/{P}/extension-request", "U_450103_FGW", {"version": vP, "extend_by": 0, "reason_text": "x", "enterprise_informed": True}, 400, "extend_by"),
    ("an extension without saying whether the enterprise knows", "POST", f"/v1/cases/{P}/extension-request", "U_450103_FGW", {"version": vP, "extend_by": 2, "reason_text": "x"}, 400, "enterprise_informed"),
    ("an extension request id that is not a uuid", "POST", f"/v1/cases/{P}/extension-decision", "T_CENTRE_QX", {"version": vP, "request_id": "x", "decision": "approved"}, 400, "request_id"),
    ("an unknown extension request", "POST", f"/v1/cases/{P}/extension-decision", "T_CENTRE_QX", {"version": vP, "request_id": str(uuid.uuid4()), "decision": "approved"}, 422, "request_id"),
    ("an extension decision of maybe", "POST", f"/v1/cases/{P}/extension-decision", "T_CENTRE_QX", {"version": vP, "request_id": str(uuid.uuid4()), "decision": "maybe"}, 400, "decision"),
    ("a finding of mostly", "POST", f"/v1/cases/{P}/result", "U_450103_FGW", dict(result, version=vP, finding="mostly"), 400, "finding"),
    ("measures of 2001 characters", "POST", f"/v1/cases/{P}/result", "U_450103_FGW", dict(result, version=vP, measures="办" * 2001), 400, "measures"),
    ("told by telepathy", "POST", f"/v1/cases/{P}/result", "U_450103_FGW", dict(result, version=vP, how_told="telepathy"), 400, "how_told"),
    ("told in the future", "POST", f"/v1/cases/{P}/result", "U_450103_FGW", dict(result, version=vP, told_at=now(86400)), 422, "told_at"),
    ("an attachment id that is not a uuid", "POST", f"/v1/cases/{P}/result", "U_450103_FGW", dict(result, version=vP, attachment_ids=["x"]), 400, "attachment_ids[0]"),
    ("an attachment of another case", "POST", f"/v1/cases/{P}/result", "U_450103_FGW", dict(result, version=vP, attachment_ids=[str(uuid.uuid4())]), 422, "attachment_ids"),
    ("a part with an empty summary", "POST", f"/v1/cases/{C}/part", "U_450103_JT", {"version": version(C), "summary": ""}, 400, "summary"),
]
before = counts()
for name, method, path, tok, body, want, field in bad:
    raw = body if isinstance(body, bytes) else None
    s, r, _ = call(method, path, T[tok], None if raw else body, raw=raw)
    check(f"{name} → {want}{' naming ' + field if field else ''}", s == want and is_error(r, field), (s, r))
s, r, _ = call("POST", f"/v1/cases/{P}/sign", T["U_450103_FGW"], raw=b'{"version": 1}', headers={"Content-Type": "text/plain"})
check("a body that is not declared JSON → 415", s == 415 and is_error(r), (s, r))
for q, want, field in [("/v1/dispatch/queue?limit=0", 400, "limit"), ("/v1/dispatch/queue?queue=everything", 400, "queue"),
                       ("/v1/dispatch/queue?tier=galaxy", 400, "tier"), ("/v1/dispatch/queue?kind=rumour", 400, "kind"),
                       ("/v1/dispatch/queue?region=4502", 400, "region"), ("/v1/dispatch/queue?region=450200", 403, "region"),
                       ("/v1/dispatch/queue?unit=450103-NOPE", 422, "unit")]:
    s, r, _ = call("GET", q, T["T_CENTRE_QX"])
    check(f"centre queue {q.split('?')[1]} → {want}", s == want and is_error(r, field), (s, r))
s, r, _ = call("GET", "/v1/unit/queue?bucket=someday", T["U_450103_FGW"])
check("unit queue bucket=someday → 400", s == 400 and is_error(r, "bucket"), r)
after = counts()
check(f"{len(bad) + 9} bad requests wrote nothing (history, outbox, holders, contacts, parts, results, extensions, versions)",
      before == after, (before, after))

# ==== K. the events reached Kafka ============================================================================
print("events:")
left = wait_for(lambda: sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0", 60)
check("every event the dispatcher wrote was relayed to Kafka (outbox empty)", left)
check("nothing the dispatcher consumed was dead-lettered",
      sql("SELECT count(*) FROM outbox WHERE topic = 'jiesu.dead-letter' AND msg_key = 'dispatcher'") == "0")
check("the consumer applied each routed event once",
      sql("SELECT count(*) FROM (SELECT event_id FROM consumed_events WHERE consumer = 'dispatcher' GROUP BY event_id HAVING count(*) > 1) x") == "0")
auto = int(sql("SELECT count(*) FROM case_events WHERE type = 'case.dispatched' AND payload->>'basis' = 'catalogue'"))
check(f"automatic dispatches recorded ({auto})", auto >= 6, auto)

# ==== L. the territory and the catalogue by API ===================================================================
print("the territory and the catalogue by API:")
ROOT = os.environ.get("JIESU_ROOT", ".")


def csv_call(path, tok, text, query=""):
    return call("POST", path + query, tok, raw=text.encode(), headers={"Content-Type": "text/csv; charset=utf-8"})


def nunits():
    return sql("SELECT count(*) FROM units")


def nregions():
    return sql("SELECT count(*) FROM regions")


TOWN = "450103990"
good_regions = [{"code": TOWN, "name": "青秀区测试街道", "tier": 4, "parent_code": "450103"}]
good_units = ("code,name,region_code,kind,head_name,deputy_head_name\n"
              f"{TOWN}-CENTRE,青秀区测试街道便民服务中心,{TOWN},centre,,\n"
              f"{TOWN}-GOV,青秀区测试街道办事处,{TOWN},township,,\n")
# who may import: a unit, a city's centre, a city's operator, an enterprise → 403; no token → 401
body = {"regions": good_regions, "units_csv": good_units, "note": "e2e: a test township"}
for who, want in [("U_450103_FGW", 403), ("T_CENTRE_NN", 403), ("T_OPERATOR_NN", 403), ("T_ENT", 403), ("T_SUP", 403)]:
    s, r, _ = call("POST", "/v1/territory/import", T[who], body)
    check(f"territory import by {who} → {want}", s == want and is_error(r), (s, r))
s, r, _ = call("POST", "/v1/territory/import", None, body)
check("territory import without a token → 401", s == 401 and is_error(r), (s, r))
for who in ["U_450103_FGW", "T_CENTRE_NN"]:
    s, r, _ = csv_call("/v1/catalogue/versions", T[who], "matter_type,region_code,tier,lead_unit,co_handlers,dispatch,basis\n")
    check(f"catalogue import by {who} → 403", s == 403 and is_error(r), (s, r))
check("  … none of them wrote a region or unit", sql(f"SELECT count(*) FROM regions WHERE code = '{TOWN}'") == "0")

# bad rows: every one named by line or entry and field, nothing written
r0, u0 = nregions(), nunits()
audit0 = sql("SELECT count(*) FROM audit_log WHERE action = 'territory.import'")
bad_units = ("code,name,region_code,kind,head_name,deputy_head_name\n"
             f"{TOWN}-CENTRE,青秀区测试街道便民服务中心,{TOWN},centre,,\n"
             f"{TOWN}-X,坏单位,{TOWN},ministry,,\n"
             f"{TOWN}-Y, 前有空格,{TOWN},department,,\n"
             f"440103-Z,广东的单位,440103,department,,\n")
bad_regions = good_regions + [{"code": "450103991", "name": "另一街道", "tier": 3, "parent_code": "450103"}]
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], {"regions": bad_regions, "units_csv": bad_units})
errs = r.get("error", {}).get("errors", []) if isinstance(r, dict) else []
def has(file, pos, field, key="line"):
    return any(e.get("file") == file and e.get(key) == pos and e.get("field") == field for e in errs)
check("territory import with bad rows → 422 invalid_rows", s == 422 and r["error"]["code"] == "invalid_rows", (s, r))
check("  … units_csv line 3: kind", has("units_csv", 3, "kind"), errs)
check("  … units_csv line 4: name (leading space)", has("units_csv", 4, "name"), errs)
check("  … units_csv line 5: region_code outside the province", has("units_csv", 5, "region_code") and
      any("jurisdiction" in e["message"] for e in errs), errs)
check("  … regions entry #2: tier (a township code at tier 3)", has("regions", 2, "tier", key="entry"), errs)
check("  … error_count counts them all", r.get("error", {}).get("error_count") == len(errs) >= 4, r)
check("  … nothing was written (regions, units, audit)", (nregions(), nunits(),
      sql("SELECT count(*) FROM audit_log WHERE action = 'territory.import'")) == (r0, u0, audit0))
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], {"regions": good_regions, "regions_csv": "x"})
check("regions and regions_csv together → 400 naming regions", s == 400 and is_error(r, "regions"), (s, r))
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], {"note": "nothing"})
check("nothing to import → 400", s == 400 and is_error(r, "regions_csv"), (s, r))
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], {"regions": good_regions, "colour": "red"})
check("an unknown field → 400 naming it", s == 400 and is_error(r, "colour"), (s, r))
s, r, _ = csv_call("/v1/territory/import", T["T_CENTRE_GX"], good_units)
check("CSV without ?kind= → 400 naming kind", s == 400 and is_error(r, "kind"), (s, r))

# a good import by the province's centre, then the same again: a no-op
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], body)
check("territory import by the province's centre → 200, 1 region and 2 units inserted",
      s == 200 and r.get("changed") is True and r["regions"]["inserted"] == 1 and r["units"]["inserted"] == 2, (s, r))
aud = sql("SELECT principal_id || '|' || (detail->>'note') FROM audit_log WHERE action = 'territory.import' ORDER BY id DESC LIMIT 1")
check("  … audited: who (the principal) and the note", aud == f"{os.environ['CENTRE_GX_ID']}|e2e: a test township", aud)
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], body)
check("  … the same import again changes nothing", s == 200 and r.get("changed") is False
      and r["regions"]["unchanged"] == 1 and r["units"]["unchanged"] == 2, (s, r))
check("  … and adds no audit row", sql("SELECT count(*) FROM audit_log WHERE action = 'territory.import'") == str(int(audit0) + 1))
s, r, _ = csv_call("/v1/territory/import", T["T_OPERATOR"], good_units, "?kind=units&note=operator%20re-import")
check("an operator of the whole deployment may import too (CSV body, ?kind=units): unchanged",
      s == 200 and r.get("changed") is False and r["units"]["unchanged"] == 2, (s, r))
s, r, _ = call("GET", f"/v1/territory/regions?parent=450103&tier=township&limit=1000", T["T_SUP"])
town = [x for x in r.get("items", [])] if s == 200 else []
town = [x for x in town if x["code"] == TOWN]
check("GET /v1/territory/regions lists it with its centre", s == 200 and town and town[0]["centre"] == f"{TOWN}-CENTRE"
      and town[0]["tier"] == "township", (s, town))
s, r, _ = call("GET", f"/v1/territory/units?region={TOWN}", T["U_450103_FGW"])
check("GET /v1/territory/units?region= lists its two units", s == 200 and
      sorted(x["code"] for x in r["items"]) == [f"{TOWN}-CENTRE", f"{TOWN}-GOV"], (s, r))
s, r, _ = call("GET", "/v1/territory/units?kind=ministry", T["U_450103_FGW"])
check("GET /v1/territory/units?kind=ministry → 400 naming kind", s == 400 and is_error(r, "kind"), (s, r))
s, r, _ = call("GET", "/v1/territory/regions", T["T_ENT"])
check("an enterprise may not list the territory → 403", s == 403, (s, r))

# the catalogue: the shipped file plus one entry, as CSV through the API
with open(os.path.join(ROOT, "deploy/data/guangxi/catalogue.csv"), encoding="utf-8") as f:
    cat = f.read()
MATTER = "API导入事项"
cat2 = cat.rstrip("\n") + f"\n{MATTER},450103,county,450103-SCJG,450103-FGW,auto,e2e 经 API 导入\n"
v0 = int(sql("SELECT max(version) FROM catalogue_versions"))
bad_cat = cat.rstrip("\n") + ("\n坏事项,450103,county,450103-NOSUCH,,auto,\n坏事项二,450103,county,450103-SCJG,,sometimes,\n"
                               "坏事项三,440103,county,450103-SCJG,,auto,\n")
nlines = cat.rstrip("\n").count("\n") + 1
s, r, _ = csv_call("/v1/catalogue/versions", T["T_CENTRE_GX"], bad_cat)
errs = r.get("error", {}).get("errors", []) if isinstance(r, dict) else []
check("catalogue import with bad rows → 422", s == 422 and r["error"]["code"] == "invalid_rows", (s, r))
check(f"  … line {nlines + 1}: lead_unit unknown", has("api:catalogue.csv", nlines + 1, "lead_unit"), errs)
check(f"  … line {nlines + 2}: dispatch", has("api:catalogue.csv", nlines + 2, "dispatch"), errs)
check(f"  … line {nlines + 3}: region_code outside the province", has("api:catalogue.csv", nlines + 3, "region_code")
      and any("jurisdiction" in e["message"] for e in errs), errs)
check("  … no version added", int(sql("SELECT max(version) FROM catalogue_versions")) == v0)
s, r, _ = call("POST", "/v1/catalogue/versions", T["T_CENTRE_GX"],
               {"entries": [{"matter_type": MATTER, "region_code": "450103", "tier": "county", "lead_unit": "450103-SCJG",
                             "co_handlers": ["450103-SCJG"]}, {"matter_type": "x"}]})
errs = r.get("error", {}).get("errors", []) if isinstance(r, dict) else []
check("JSON entries with bad rows → 422 naming the entries",
      s == 422 and has("api:catalogue.json", 1, "co_handlers", key="entry") and has("api:catalogue.json", 2, "region_code", key="entry"), (s, r))
s, r, hdr = csv_call("/v1/catalogue/versions", T["T_CENTRE_GX"], cat2, "?note=e2e%20API%20import&source=guangxi-plus.csv")
V2 = r.get("version") if isinstance(r, dict) else None
check("catalogue import (CSV) by the province's centre → 201, a new version", s == 201 and V2 == v0 + 1
      and r.get("unchanged") is False and r.get("entries") == nlines, (s, r))
check("  … recorded: who, when, the note, the source", sql(
      f"SELECT imported_by || '|' || note || '|' || source || '|' || (imported_at > now() - interval '5 min') FROM catalogue_versions WHERE version = {V2 or 0}")
      == f"{os.environ['CENTRE_GX_ID']}|e2e API import|api:guangxi-plus.csv|true")
check("  … audited", sql(f"SELECT principal_id FROM audit_log WHERE action = 'catalogue.import' AND object = 'catalogue:{V2}'")
      == os.environ["CENTRE_GX_ID"])
s, r, _ = csv_call("/v1/catalogue/versions", T["T_OPERATOR"], cat2, "?note=again")
check("  … the same content again → 200 unchanged, no version", s == 200 and r.get("unchanged") is True and r.get("version") == V2
      and int(sql("SELECT max(version) FROM catalogue_versions")) == V2, (s, r))
s, r, _ = call("GET", "/v1/catalogue/versions", T["T_SUP"])
top = r.get("versions", [{}])[0] if s == 200 else {}
check("GET /v1/catalogue/versions: newest first, in force, who imported it", top.get("version") == V2 and top.get("in_force") is True
      and top.get("imported_by", {}).get("id") == int(os.environ["CENTRE_GX_ID"]) and top.get("note") == "e2e API import", top)
s, r, _ = call("GET", f"/v1/catalogue/versions/{V2}?matter_type={urllib.parse.quote(MATTER)}", T["T_CENTRE_QX"])
check("GET /v1/catalogue/versions/{v}?matter_type= shows the entry", s == 200 and len(r.get("items", [])) == 1
      and r["items"][0]["lead_unit"] == "450103-SCJG" and r["items"][0]["co_handlers"] == ["450103-FGW"]
      and r["items"][0]["line"] == nlines + 1, (s, r))
s, r, _ = call("GET", "/v1/catalogue/versions/current?limit=5", T["T_CENTRE_QX"])
check("GET /v1/catalogue/versions/current pages the entries", s == 200 and r.get("version") == V2 and len(r["items"]) == 5
      and r.get("next_offset") == 5, (s, r))
s, r, _ = call("GET", "/v1/catalogue/versions/999999", T["T_CENTRE_QX"])
check("an unknown version → 404", s == 404 and is_error(r, "version"), (s, r))
C9 = submit(MATTER, summary="经 API 导入的目录事项")
h = wait_state(C9, "dispatched", timeout=180) if C9 else None
check("a case of the new matter type is routed by the API-imported version, which it names",
      h is not None and h["catalogue_version"] == V2 and "450103-SCJG" in holders(h) and "450103-FGW" in holders(h), h)
for note, why in [("a\u0007bell", "control"), ("长" * 501, "501 characters")]:
    s, r, _ = call("POST", "/v1/catalogue/versions", T["T_CENTRE_GX"], {"csv": cat2, "note": note})
    check(f"a note with {why} → 400 naming note", s == 400 and is_error(r, "note"), (s, r))
# the same catalogue as JSON entries: a new version (JSON), then the same entries with keys in
# another order → unchanged (the digest is of the entries, keys sorted)
import csv as csvmod
import io
rows = list(csvmod.DictReader(io.StringIO(cat2)))
entries = [{k: (v.split(";") if k == "co_handlers" else v) for k, v in r_.items() if v} for r_ in rows]
s, r, _ = call("POST", "/v1/catalogue/versions", T["T_OPERATOR"], {"entries": entries, "note": "as JSON"})
V3 = r.get("version") if isinstance(r, dict) else None
check("the catalogue as JSON entries by the deployment's operator → 201, a new version", s == 201 and V3 == V2 + 1
      and r.get("entries") == len(entries) and r.get("source") == "api:catalogue.json", (s, r))
s, r, _ = call("POST", "/v1/catalogue/versions", T["T_OPERATOR"],
               {"note": "again", "entries": [dict(reversed(list(e.items()))) for e in entries]})
check("  … the same entries, keys in another order → 200 unchanged", s == 200 and r.get("unchanged") is True
      and r.get("version") == V3, (s, r))
# ==== M. two provinces: a province's import is its own part only ====================================
print("two provinces: a province's import is its own part only:")
# the deployment's operator adds a second (fictitious) province, 99
P2 = "990000"
s, r, _ = call("POST", "/v1/territory/import", T["T_OPERATOR"], {
    "regions": [{"code": P2, "name": "测试乙省", "tier": 1, "policy_profile": "guangxi"}],
    "units_csv": ("code,name,region_code,kind,head_name,deputy_head_name\n"
                  f"{P2}-CENTRE,测试乙省专班,{P2},centre,,\n{P2}-FGW,测试乙省发展改革委,{P2},department,乙主任,\n"),
    "note": "e2e: a second province"})
check("the operator adds province 99 (a region and two units) → 200", s == 200 and r.get("changed") is True, (s, r))
p2_unit = sql(f"SELECT id || '|' || region_code || '|' || name || '|' || head_name FROM units WHERE code = '{P2}-FGW'")
audit_t = sql("SELECT count(*) FROM audit_log WHERE action = 'territory.import'")
# Guangxi's centre reuses province 99's unit code: the upsert by code would move that unit
steal = ("code,name,region_code,kind,head_name,deputy_head_name\n"
         "450000-E2E,自治区测试单位,450000,department,,\n"
         f"{P2}-FGW,自治区发展改革委冒用,450000,department,,\n")
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], {"units_csv": steal})
errs = r.get("error", {}).get("errors", []) if isinstance(r, dict) else []
check("Guangxi's centre reusing province 99's unit code → 422 naming units_csv line 3, field code",
      s == 422 and has("units_csv", 3, "code") and any(P2 in e["message"] and "jurisdiction" in e["message"] for e in errs)
      and len(errs) == 1, (s, r))
check("  … nothing changed: 99's unit as it was, the good row not written, no audit row",
      (sql(f"SELECT id || '|' || region_code || '|' || name || '|' || head_name FROM units WHERE code = '{P2}-FGW'"),
       sql("SELECT count(*) FROM units WHERE code = '450000-E2E'"),
       sql("SELECT count(*) FROM audit_log WHERE action = 'territory.import'"))
      == (p2_unit, "0", audit_t) and p2_unit.split("|")[1:] == [P2, "测试乙省发展改革委", "乙主任"])
# the catalogue: the whole of it (Guangxi's part + one entry of 99) by the operator, then
# Guangxi's part by Guangxi's centre: 99's entry stays in every new version
M99 = "乙省事项"
s, r, _ = csv_call("/v1/catalogue/versions", T["T_OPERATOR"], cat2.rstrip("\n") + f"\n{M99},{P2},province,{P2}-FGW,,auto,乙省依据\n",
                   "?note=two%20provinces&source=whole.csv")
VW = r.get("version") if isinstance(r, dict) else None
check("the operator imports the whole catalogue (both provinces) → 201", s == 201 and r.get("entries") == nlines + 1, (s, r))
s, r, _ = csv_call("/v1/catalogue/versions", T["T_CENTRE_GX"], cat2)
check("  … Guangxi's centre imports Guangxi's part, as it is in force → 200 unchanged", s == 200
      and r.get("unchanged") is True and r.get("version") == VW, (s, r))
MATTER3 = "第二次API导入事项"
s, r, _ = csv_call("/v1/catalogue/versions", T["T_CENTRE_GX"],
                   cat2.rstrip("\n") + f"\n{MATTER3},450103,county,450103-SCJG,,auto,\n", "?source=guangxi-part.csv")
VG = r.get("version") if isinstance(r, dict) else None
check("  … Guangxi's centre imports Guangxi's part with one more entry → 201; the version keeps 99's entry",
      s == 201 and VG == (VW or 0) + 1 and r.get("entries") == nlines + 2, (s, r))
row99 = ("SELECT matter_type || region_code || tier || lead_unit_id || co_unit_ids::text || dispatch || basis || line"
         f" FROM catalogue_entries WHERE region_code = '{P2}' AND version = ")
check("  … 99's entry copied unchanged into the new version", VG is not None and sql(row99 + str(VG)) == sql(row99 + str(VW))
      and sql(row99 + str(VG)) != "" and sql(f"SELECT entries FROM catalogue_versions WHERE version = {VG}") == str(nlines + 2))
s, r, _ = call("GET", f"/v1/catalogue/versions/current?matter_type={urllib.parse.quote(M99)}", T["T_SUP"])
check("  … and is what the version in force says for 99's matter type", s == 200 and r.get("version") == VG
      and [(e.get("region_code"), e.get("lead_unit")) for e in r.get("items", [])] == [(P2, f"{P2}-FGW")], (s, r))
# imports are larger than other requests: a province's territory is megabytes. Their routes take
# bodies up to import_max_body (16 MiB), read only once the caller may import.
big = "matter_type,region_code,tier,lead_unit,co_handlers,dispatch,basis\n" + "x" * (1100 * 1024)
s, r, _ = csv_call("/v1/catalogue/versions", T["T_CENTRE_GX"], big)
check("a catalogue body over http_max_body (1 MiB) is read: 422 naming its bad line, not 413",
      s == 422 and r["error"]["code"] == "invalid_rows" and r["error"]["errors"][0].get("line") == 2, (s, r))
s, r, _ = call("POST", "/v1/cases/00000000-0000-7000-8000-000000000000/progress", T["U_450103_FGW"],
               raw=b'{"note":"' + b"x" * (1100 * 1024) + b'"}')
check("  … other routes keep http_max_body → 413", s == 413 and is_error(r), (s, r))
TOWN2 = "450103980"
NBIG = 10000
big_units = "code,name,region_code,kind,head_name,deputy_head_name\n" + "".join(
    f"{TOWN2}-D{i:05d},青秀区压测街道第{i:05d}号综合行政执法与便民服务协调科室,{TOWN2},department,,\n" for i in range(NBIG))
big_body = {"regions": [{"code": TOWN2, "name": "青秀区压测街道", "tier": 4, "parent_code": "450103"}],
            "units_csv": big_units, "note": "e2e: a territory over 1 MiB"}
size = len(json.dumps(big_body, ensure_ascii=False).encode())
u0 = nunits()
for who, want in [(None, 401), ("U_450103_FGW", 403)]:
    s, r, _ = call("POST", "/v1/territory/import", T[who] if who else None, big_body)
    check(f"a {size // 1024} KiB territory import by {who or 'no token'} → {want}", s == want and is_error(r), (s, r))
s, r, _ = call("POST", "/v1/territory/import", T["T_CENTRE_GX"], big_body)
check(f"the {size // 1024} KiB territory import by the province's centre → 200, {NBIG} units",
      size > 1024 * 1024 and s == 200 and r.get("units", {}).get("inserted") == NBIG, (s, r))
check("  … all of them stored", int(nunits()) == int(u0) + NBIG)

print(f"{checks - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
