#!/usr/bin/env python3
"""tests/e2e/intake_api.py — the intake API end to end (driven by tests/e2e/intake.sh).

Python's standard library only. Every check prints one line; the script exits 1 if any failed.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import urllib.parse
import uuid

URL = os.environ["INTAKE_URL"]
TIGHT = os.environ["INTAKE_TIGHT_URL"]
DSN = os.environ["JIESU_PG_DSN"]
T = {k: os.environ[k] for k in os.environ if k.startswith("T_")}
fails = 0
checks = 0


def check(name, cond, detail=""):
    global fails, checks
    checks += 1
    if cond:
        print(f"  ok   {name}")
    else:
        fails += 1
        print(f"  FAIL {name} {detail}")


def call(method, path, token=None, body=None, headers=None, raw=None, base=URL):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            txt = r.read()
            return r.status, (json.loads(txt) if txt else None), dict(r.headers)
    except urllib.error.HTTPError as e:
        txt = e.read()
        try:
            j = json.loads(txt)
        except ValueError:
            j = {"_raw": txt.decode(errors="replace")}
        return e.code, j, dict(e.headers)


def sql(q):
    out = subprocess.run(["psql", "-tA", DSN, "-c", q], capture_output=True, text=True, check=True)
    return out.stdout.strip()


ENT_A = "91450103745632897U"
ENT_B = "91450100754321011D"


def appeal(**kw):
    a = {
        "enterprise_name": "南宁市青秀区桂鑫商贸有限公司",
        "credit_code": ENT_A,
        "address": "南宁市青秀区民族大道100号",
        "region_code": "450103",
        "contact_name": "李明",
        "contact_phone": "13807712345",
        "channel": "web",
        "kind": "complaint",
        "summary": "厂房门前道路施工三个月未恢复，货车无法进出",
        "body": "我公司位于民族大道100号，自今年8月起门前道路开挖施工，至今三个月未恢复通行，"
                "货车无法进出，已严重影响正常经营，请求相关部门督促施工单位尽快恢复道路。",
    }
    a.update(kw)
    return {k: v for k, v in a.items() if v is not None}


# ---- submissions ---------------------------------------------------------------------------
print("submissions:")
s, first, h = call("POST", "/v1/appeals", T["T_ENT_A"], appeal())
check("enterprise self-service → 201 awaiting review", s == 201 and first.get("outcome") == "awaiting_review", first)
check("  … a readable case number region-year-serial", first.get("case_no", "").startswith("450103-2026-") or first.get("case_no", "").startswith("450103-20"), first)
check("  … a 10-character tracking code", len(first.get("tracking_code", "")) == 10)

s, dup, _ = call("POST", "/v1/appeals", T["T_ENT_A"], appeal(
    summary="再次反映：门前道路施工至今未恢复",
    body="上次反映的民族大道100号门前道路开挖问题，三个月了还没恢复通行，我们的货车还是进不去，"
         "经营受到很大影响，请尽快督促施工单位恢复道路。"))
check("rephrased repeat of an open case → duplicate, linked", s == 201 and dup.get("outcome") == "duplicate"
      and dup.get("duplicate_of", {}).get("case_id") == first["case_id"], dup)

s, other, _ = call("POST", "/v1/appeals", T["T_ENT_A"], appeal(
    kind="help", summary="申请小微企业创业担保贷款贴息",
    body="我公司是小微企业，想了解今年的创业担保贷款贴息政策，需要准备哪些材料，到哪个部门办理。"))
check("a different matter of the same enterprise → a new case", s == 201 and other.get("outcome") == "awaiting_review", other)

s, b1, _ = call("POST", "/v1/appeals", T["T_ENT_B"], appeal(
    enterprise_name="广西某某建材有限公司", credit_code=ENT_B))
check("the same text from another enterprise is not its duplicate", s == 201 and b1.get("outcome") == "awaiting_review", b1)

s, acc, _ = call("POST", "/v1/appeals", T["T_AGENT"], appeal(
    enterprise_name="广西某某建材有限公司", credit_code=ENT_B, channel="hotline", kind="complaint",
    summary="承建项目工程款被拖欠两年", body="我公司承建的某安置房项目工程款已拖欠两年，多次催收无果，资金周转困难。",
    decision={"action": "accept", "complexity": "general", "matter_type": "拖欠账款"}))
check("agent registers a hotline call and accepts it at once", s == 201 and acc.get("state") == "accepted", acc)

s, rej, _ = call("POST", "/v1/appeals", T["T_AGENT"], appeal(
    enterprise_name="广西某某建材有限公司", credit_code=ENT_B, channel="window", kind="complaint",
    summary="与供货商的合同纠纷", body="我公司与另一家公司因货款发生合同纠纷，希望政府出面判决。",
    decision={"action": "reject", "reason_code": "civil_dispute",
              "reason_text": "属于经营主体之间民事纠纷，建议通过协商、调解、仲裁或诉讼解决。"}))
check("agent refuses at registration with a reason the enterprise is told", s == 201 and rej.get("state") == "rejected"
      and rej.get("reason_code") == "civil_dispute" and "民事纠纷" in rej.get("message", ""), rej)

s, out, _ = call("POST", "/v1/appeals", T["T_AGENT"], appeal(
    enterprise_name="广州某科技有限公司", credit_code=ENT_B, region_code="440106", channel="hotline"))
check("region outside the deployment → refused, referred up", s == 201 and out.get("reason_code") == "outside_region"
      and out.get("referred_to_region_code") == "440106", out)

s, em, _ = call("POST", "/v1/appeals", T["T_AGENT"], appeal(
    credit_code=ENT_B, channel="hotline", kind="help", summary="仓库起火", body="仓库起火了，有人被困", emergency=True))
check("emergency → refused at once, pointed to 110/119/120/122", s == 201 and em.get("reason_code") == "emergency_110_119_120_122", em)

# idempotency
key = "e2e-" + uuid.uuid4().hex
body = appeal(kind="suggestion", summary="建议园区门口增设公交站", body="建议在园区门口增设公交站点，方便员工通勤。")
s1, r1, _ = call("POST", "/v1/appeals", T["T_ENT_A"], body, {"Idempotency-Key": key})
s2, r2, h2 = call("POST", "/v1/appeals", T["T_ENT_A"], body, {"Idempotency-Key": key})
check("a retried submission creates one case and returns the same answer",
      s1 == 201 and s2 == 201 and r1 == r2 and h2.get("Idempotent-Replay") == "true", (r1, r2))
check("  … one row in cases", sql(f"SELECT count(*) FROM cases WHERE id = '{r1['case_id']}'") == "1")
s3, r3, _ = call("POST", "/v1/appeals", T["T_ENT_A"], dict(body, summary="另一件事"), {"Idempotency-Key": key})
check("same key, different body → 422 naming the header", s3 == 422 and r3["error"]["field"] == "Idempotency-Key", r3)
# the same key sent twice at once still makes one case
key2 = "e2e-" + uuid.uuid4().hex
body2 = appeal(kind="suggestion", summary="建议延长政务大厅周末服务时间", body="建议政务服务大厅周六上午开放，方便企业办事。")
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    rs = list(ex.map(lambda _: call("POST", "/v1/appeals", T["T_ENT_A"], body2, {"Idempotency-Key": key2}), range(4)))
ids = {r[1].get("case_id") for r in rs}
check("four concurrent retries with one key → one case", all(r[0] == 201 for r in rs) and len(ids) == 1, rs)

# concurrent numbering: no duplicates, no gaps
before = int(sql("SELECT coalesce(max(last_no), 0) FROM case_seq WHERE region_code = '450105' AND year = extract(year from now() at time zone 'Asia/Shanghai')"))
def one(i):  # 450105 is outside the district agent's jurisdiction: the province's agent
    return call("POST", "/v1/appeals", T["T_AGENT_PROV"], appeal(
        enterprise_name=f"南宁市江南区第{i}号商贸有限公司", credit_code=ENT_B, region_code="450105", channel="window",
        kind="suggestion", summary=f"第{i}号建议：优化审批流程", body=f"建议编号{i}：{uuid.uuid4().hex} 简化开办企业审批材料。"))
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    rs = list(ex.map(one, range(40)))
nos = sorted(int(r[1]["case_no"].rsplit("-", 1)[1]) for r in rs if r[0] == 201)
check("40 concurrent submissions in one region → 40 distinct consecutive numbers",
      len(nos) == 40 and nos == list(range(before + 1, before + 41)), nos)
batches = sql("SELECT count(DISTINCT xmin::text) FROM cases WHERE region_code = '450105'")
print(f"       (written in {batches} transactions: group commit)")

# repeats sent at once land in one batch: the later ones link to the first by its real number
# (the rows are built with placeholder numbers before the numbers are taken)
def rep(i):
    return call("POST", "/v1/appeals", T["T_AGENT_PROV"], appeal(
        enterprise_name="南宁市江南区某机械制造有限公司", credit_code=ENT_B, region_code="450105", channel="hotline",
        summary="新建厂房消防验收申请两个月无人受理",
        body=f"我公司新建厂房于九月提交消防验收申请，至今两个月无人受理，也无法查询进度，厂房无法投产，请协调尽快验收。{'。' * i}"))
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    rs = list(ex.map(rep, range(8)))
news = [r[1] for r in rs if r[0] == 201 and r[1].get("outcome") != "duplicate"]
dups = [r[1] for r in rs if r[0] == 201 and r[1].get("outcome") == "duplicate"]
check("8 repeats at once → one new case, 7 duplicates of it", len(news) == 1 and len(dups) == 7, rs)
if len(news) == 1:
    check("  … each linked by the original's real number",
          all(d["duplicate_of"] == {"case_id": news[0]["case_id"], "case_no": news[0]["case_no"]} for d in dups), dups)
    check("  … the duplicate events name it too",
          sql(f"SELECT count(*) FROM case_events WHERE type = 'case.duplicate' AND payload->>'original_case_id' = "
              f"'{news[0]['case_id']}' AND payload->>'original_case_no' = '{news[0]['case_no']}'") == "7")
check("  … no placeholder number stored anywhere",
      sql("SELECT count(*) FROM cases WHERE case_no LIKE 'Q%'") == "0"
      and sql("SELECT count(*) FROM outbox WHERE payload ~ '\"Q[0-9A-Z]{12}-'") == "0")

# an agent registers for its own jurisdiction only, and learns nothing of cases outside it
n0 = int(sql("SELECT count(*) FROM cases"))
s, e, _ = call("POST", "/v1/appeals", T["T_AGENT"], appeal(credit_code=ENT_B, region_code="450105", channel="hotline"))
check("a district agent registering in another district → 403 outside_jurisdiction naming region_code",
      s == 403 and e["error"]["code"] == "outside_jurisdiction" and e["error"]["field"] == "region_code", e)
check("  … nothing written", int(sql("SELECT count(*) FROM cases")) == n0)
same = dict(enterprise_name="南宁市江南区某机械制造有限公司", credit_code=ENT_B, region_code="450103", channel="hotline",
            summary="新建厂房消防验收申请两个月无人受理",
            body="我公司新建厂房于九月提交消防验收申请，至今两个月无人受理，也无法查询进度，厂房无法投产，请协调尽快验收。")
s, mine, _ = call("POST", "/v1/appeals", T["T_AGENT"], appeal(**same))
orig_no = news[0]["case_no"] if len(news) == 1 else "?"
check("the same matter registered by the district agent in its district: not linked to the case in 450105 it may not see",
      s == 201 and mine.get("outcome") != "duplicate" and orig_no not in json.dumps(mine), mine)
s, prov, _ = call("POST", "/v1/appeals", T["T_AGENT_PROV"], appeal(**dict(same, body=same["body"] + "（再次来电）")))
check("  … the province's agent, who sees both, gets it linked as a duplicate", s == 201 and prov.get("outcome") == "duplicate", prov)

# ---- rate limit ------------------------------------------------------------------------------
print("rate limit:")
codes = []
for i in range(7):
    s, r, h = call("POST", "/v1/appeals", T["T_ENT_C"], appeal(
        enterprise_name="南宁市西乡塘区某食品有限公司", credit_code="914501026666666698", kind="suggestion",
        summary=f"限流测试{i}", body=f"限流测试内容{i} {uuid.uuid4().hex}"), base=TIGHT)
    codes.append((s, h.get("Retry-After")))
check("over the per-client limit → 429 with Retry-After", codes[5][0] == 429 and codes[5][1] and int(codes[5][1]) >= 1, codes)
check("  … the first five went through", all(c[0] == 201 for c in codes[:5]), codes)
s, r, h = call("POST", "/v1/appeals", T["T_ENT_B"], appeal(enterprise_name="广西某某建材有限公司", credit_code=ENT_B, kind="suggestion",
                                                        summary="限流之外", body="另一个客户不受影响 " + uuid.uuid4().hex), base=TIGHT)
check("  … other clients are not limited", s == 201, (s, r))

# ---- review ----------------------------------------------------------------------------------
print("review:")
s, q, _ = call("GET", "/v1/review-queue", T["T_AGENT"])
qids = [i["case_id"] for i in q.get("items", [])]
check("the agent's queue holds the region's appeals awaiting review", s == 200 and first["case_id"] in qids and other["case_id"] in qids, q)
check("  … oldest first", qids.index(first["case_id"]) < qids.index(other["case_id"]))
check("  … reads are audited", int(sql("SELECT count(*) FROM audit_log WHERE action = 'case.read'")) >= 1)
s, q2, _ = call("GET", "/v1/review-queue", T["T_AGENT_OTHER"])
check("another city's agent does not see them", s == 200 and first["case_id"] not in [i["case_id"] for i in q2.get("items", [])])
s, q3, _ = call("GET", "/v1/review-queue", T["T_AGENT_PROV"])
check("the province's agent sees the whole province", s == 200 and first["case_id"] in [i["case_id"] for i in q3.get("items", [])])
s, e, _ = call("GET", "/v1/review-queue", T["T_ENT_A"])
check("an enterprise may not read the queue (403)", s == 403, e)

path = f"/v1/cases/{first['case_id']}/review"
s, e, _ = call("POST", path, T["T_AGENT_OTHER"], {"version": 1, "action": "accept", "matter_type": "道路施工"})
check("deciding a case outside one's region → 404, nothing leaked", s == 404 and "case_no" not in json.dumps(e), e)
with concurrent.futures.ThreadPoolExecutor(2) as ex:
    rs = list(ex.map(lambda a: call("POST", path, T["T_AGENT"], a), [
        {"version": 1, "action": "accept", "complexity": "general", "matter_type": "道路施工"},
        {"version": 1, "action": "reject", "reason_code": "unclear_or_unreachable", "reason_text": "诉求不清"}]))
st = sorted(r[0] for r in rs)
loser = [r for r in rs if r[0] == 409]
check("two agents decide at once → one 200, one 409", st == [200, 409], rs)
check("  … the 409 carries the current state and version", loser and loser[0][1].get("version") == 2 and loser[0][1].get("state") in ("accepted", "rejected"), loser)
s, e, _ = call("POST", path, T["T_AGENT"], {"version": 2, "action": "accept", "matter_type": "道路施工"})
check("deciding again from the new state → 409 bad_state", s == 409, e)

s, ans, _ = call("POST", f"/v1/cases/{other['case_id']}/review", T["T_AGENT"],
                 {"version": 1, "action": "answer", "answer_summary": "创业担保贷款贴息可向人社局申请，所需材料见政策库。", "how_told": "phone"})
check("an agent answers a help request at once → resolved", s == 200 and ans.get("state") == "resolved", ans)
s, e, _ = call("POST", f"/v1/cases/{b1['case_id']}/review", T["T_AGENT"], {"version": 1, "action": "answer", "answer_summary": "x", "how_told": "phone"})
check("a complaint cannot be 'answered at once' → 409", s == 409, e)
s, e, _ = call("POST", f"/v1/cases/{b1['case_id']}/review", T["T_AGENT"], {"version": 1, "action": "reject", "reason_code": "no_such_reason", "reason_text": "x"})
check("an unknown refusal reason → 400 naming reason_code", s == 400 and e["error"]["field"] == "reason_code", e)

# a wrong duplicate link is undone by an agent; the appeal then waits as a case of its own
s, e, _ = call("POST", f"/v1/cases/{dup['case_id']}/review", T["T_AGENT"], {"version": 2, "action": "unlink"})
check("unlink without a reason → 400 naming reason_text", s == 400 and e["error"]["field"] == "reason_text", e)
s, e, _ = call("POST", f"/v1/cases/{dup['case_id']}/review", T["T_ENT_A"], {"version": 2, "action": "unlink", "reason_text": "x"})
check("an enterprise may not unlink (403)", s == 403, e)
s, un, _ = call("POST", f"/v1/cases/{dup['case_id']}/review", T["T_AGENT"],
                {"version": 2, "action": "unlink", "reason_text": "两件反映的是不同路段的施工，应分别办理。"})
check("an agent undoes a wrong duplicate link → received, version 3", s == 200 and un.get("state") == "received" and un.get("version") == 3, un)
check("  … the link is gone and the case is open again",
      sql(f"SELECT coalesce(duplicate_of::text, 'none') || '/' || (closed_at IS NULL) FROM cases WHERE id = '{dup['case_id']}'") == "none/true")
s, q, _ = call("GET", "/v1/review-queue", T["T_AGENT"])
check("  … and it waits in the review queue", dup["case_id"] in [i["case_id"] for i in q.get("items", [])])
s, e, _ = call("POST", f"/v1/cases/{other['case_id']}/review", T["T_AGENT"], {"version": 2, "action": "unlink", "reason_text": "x"})
check("unlinking a case that is not a duplicate → 409", s == 409, e)

# ---- policy library --------------------------------------------------------------------------
print("policy library:")
pol = {"title": "个体工商户营业执照办理", "question": "个体工商户怎么办理营业执照？需要什么材料？",
       "answer": "可通过广西数字政务一体化平台或政务服务大厅办理，需身份证、经营场所证明，当场办结。",
       "keywords": ["营业执照", "个体工商户"], "source": "《市场主体登记管理条例》"}
s, e, _ = call("POST", "/v1/policies", T["T_AGENT"], pol)
check("a district agent may not add a deployment-wide entry (403 naming region_code)", s == 403 and e["error"]["field"] == "region_code", e)
s, e, _ = call("POST", "/v1/policies", T["T_AGENT"], dict(pol, region_code="450203"))
check("… nor one for another city's district (403)", s == 403, e)
pol["region_code"] = "450103"
s, p1, _ = call("POST", "/v1/policies", T["T_AGENT"], pol)
check("an agent adds a policy entry for its district → 201", s == 201 and p1.get("version") == 1, p1)
s, e, _ = call("DELETE", f"/v1/policies/{p1['id']}", T["T_AGENT_OTHER"])
check("an agent of another city may not retire it (403)", s == 403, e)
s, e, _ = call("PUT", "/v1/policies/999999", T["T_AGENT"], dict(pol, version=1))
check("updating a missing entry → 404", s == 404, e)
s, e, _ = call("POST", "/v1/policies", T["T_ENT_A"], pol)
check("an enterprise may not add entries (403)", s == 403, e)
s, res, _ = call("GET", "/v1/policies?q=" + urllib.parse.quote("请问个体户营业执照在哪里办理，要带什么材料"), T["T_ENT_A"])
check("search finds it for a differently worded question", s == 200 and res["results"] and res["results"][0]["id"] == p1["id"], res)
s, c, _ = call("POST", "/v1/appeals", T["T_ENT_A"], appeal(kind="consultation", summary="个体户营业执照怎么办",
                                                         body="我想开一家个体店，请问营业执照在哪里办理，需要带什么材料？"))
check("a consultation's answer carries policy suggestions", s == 201 and c.get("policy_suggestions") and c["policy_suggestions"][0]["id"] == p1["id"], c)
s, p2, _ = call("PUT", f"/v1/policies/{p1['id']}", T["T_AGENT"], dict(pol, version=1, answer=pol["answer"] + "（2026年起可全程网办）"))
check("update with the version read → 200, version 2", s == 200 and p2.get("version") == 2, p2)
s, e, _ = call("PUT", f"/v1/policies/{p1['id']}", T["T_AGENT"], dict(pol, version=1))
check("update from a stale version → 409", s == 409, e)
s, e, _ = call("DELETE", f"/v1/policies/{p1['id']}", T["T_CENTRE"])
check("a centre retires it", s == 200 and e.get("active") is False, e)
s, res, _ = call("GET", "/v1/policies?q=" + urllib.parse.quote("个体户营业执照在哪里办理"), T["T_ENT_A"])
check("  … and search no longer offers it", s == 200 and all(r["id"] != p1["id"] for r in res["results"]), res)
check("policy changes are audited", sql("SELECT count(*) FROM audit_log WHERE object = 'policy_entry:%d'" % p1["id"]) == "3")

# ---- bad input: each refused with a 4xx naming what is wrong, and nothing written ---------------
print("bad input:")
counts_before = sql("SELECT (SELECT count(*) FROM cases) || '/' || (SELECT count(*) FROM outbox) || '/' || (SELECT count(*) FROM case_events)")
big = "诉" * 20001
A = T["T_AGENT"]
E = T["T_ENT_A"]
bad = [
    # (description, token, body or raw bytes, extra headers, expected status, expected field or None)
    ("no token", None, appeal(), {}, 401, "Authorization"),
    ("unknown token", "f" * 64, appeal(), {}, 401, "Authorization"),
    ("operator role", T["T_OPERATOR"], appeal(), {}, 403, None),
    ("centre role", T["T_CENTRE"], appeal(), {}, 403, None),
    ("not JSON", E, b"enterprise_name=x", {}, 400, None),
    ("JSON array", E, b"[1,2]", {}, 400, None),
    ("empty body", E, b"", {}, 400, None),
    ("truncated JSON", E, b'{"kind":"complaint"', {}, 400, None),
    ("duplicate keys", E, b'{"kind":"complaint","kind":"help"}', {}, 400, None),
    ("too deeply nested", E, b'{"decision":' * 20 + b"1" + b"}" * 20, {}, 400, None),
    ("wrong content type", E, json.dumps(appeal()).encode(), {"Content-Type": "text/plain"}, 415, None),
    ("invalid UTF-8", E, b'{"summary":"\xff\xfe"}', {}, 400, None),
    ("missing enterprise_name", E, appeal(enterprise_name=None), {}, 400, "enterprise_name"),
    ("empty enterprise_name", E, appeal(enterprise_name=""), {}, 400, "enterprise_name"),
    ("enterprise_name too long", E, appeal(enterprise_name="公" * 101), {}, 400, "enterprise_name"),
    ("enterprise_name a number", E, appeal(enterprise_name=42), {}, 400, "enterprise_name"),
    ("enterprise_name with a newline", E, appeal(enterprise_name="桂鑫\n商贸"), {}, 400, "enterprise_name"),
    ("missing credit_code", E, appeal(credit_code=None), {}, 400, "credit_code"),
    ("credit_code too short", E, appeal(credit_code="9145010374563289"), {}, 400, "credit_code"),
    ("credit_code bad check character", E, appeal(credit_code="91450103745632897A"), {}, 400, "credit_code"),
    ("credit_code with letter O", E, appeal(credit_code="9145010374563289OU"), {}, 400, "credit_code"),
    ("credit_code of another enterprise", E, appeal(credit_code=ENT_B), {}, 403, "credit_code"),
    ("missing region_code", E, appeal(region_code=None), {}, 400, "region_code"),
    ("region_code letters", E, appeal(region_code="45010X"), {}, 400, "region_code"),
    ("region_code 7 digits", E, appeal(region_code="4501031"), {}, 400, "region_code"),
    ("missing contact_name", E, appeal(contact_name=None), {}, 400, "contact_name"),
    ("contact_name too long", E, appeal(contact_name="李" * 51), {}, 400, "contact_name"),
    ("missing contact_phone", E, appeal(contact_phone=None), {}, 400, "contact_phone"),
    ("contact_phone letters", E, appeal(contact_phone="138-abcd-1234"), {}, 400, "contact_phone"),
    ("contact_phone too few digits", E, appeal(contact_phone="12-3"), {}, 400, "contact_phone"),
    ("missing channel", E, appeal(channel=None), {}, 400, "channel"),
    ("unknown channel", E, appeal(channel="fax"), {}, 400, "channel"),
    ("enterprise using the hotline channel", E, appeal(channel="hotline"), {}, 403, "channel"),
    ("missing kind", E, appeal(kind=None), {}, 400, "kind"),
    ("unknown kind", E, appeal(kind="praise"), {}, 400, "kind"),
    ("kind in Chinese", E, appeal(kind="投诉"), {}, 400, "kind"),
    ("missing summary", E, appeal(summary=None), {}, 400, "summary"),
    ("summary too long", E, appeal(summary="道" * 501), {}, 400, "summary"),
    ("summary only boolean", E, appeal(summary=True), {}, 400, "summary"),
    ("missing body", E, appeal(body=None), {}, 400, "body"),
    ("body too long", E, appeal(body=big), {}, 400, "body"),
    ("body with NUL (refused by the JSON parser)", E, appeal(body="a\u0000b"), {}, 400, None),
    ("unknown field", E, appeal(priority="high"), {}, 400, "priority"),
    ("confidential on a complaint", E, appeal(confidential=True), {}, 400, "confidential"),
    ("confidential not boolean", E, appeal(kind="report", confidential="yes"), {}, 400, "confidential"),
    ("attachments not an array", E, appeal(attachments={"a": 1}), {}, 400, "attachments"),
    ("21 attachments", E, appeal(attachments=[{"file_name": f"{i}.pdf", "media_type": "application/pdf", "size_bytes": 1,
                                                "sha256": f"{i:064x}", "storage_key": f"k{i}"} for i in range(21)]), {}, 400, "attachments"),
    ("attachment without sha256", E, appeal(attachments=[{"file_name": "a.pdf", "media_type": "application/pdf", "size_bytes": 1, "storage_key": "k"}]), {}, 400, "attachments[0].sha256"),
    ("attachment bad sha256", E, appeal(attachments=[{"file_name": "a.pdf", "media_type": "application/pdf", "size_bytes": 1, "sha256": "xyz", "storage_key": "k"}]), {}, 400, "attachments[0].sha256"),
    ("attachment path as file name", E, appeal(attachments=[{"file_name": "../etc/passwd", "media_type": "text/plain", "size_bytes": 1, "sha256": "a" * 64, "storage_key": "k"}]), {}, 400, "attachments[0].file_name"),
    ("attachment negative size", E, appeal(attachments=[{"file_name": "a.pdf", "media_type": "application/pdf", "size_bytes": -1, "sha256": "a" * 64, "storage_key": "k"}]), {}, 400, "attachments[0].size_bytes"),
    ("attachment bad media type", E, appeal(attachments=[{"file_name": "a.pdf", "media_type": "pdf", "size_bytes": 1, "sha256": "a" * 64, "storage_key": "k"}]), {}, 400, "attachments[0].media_type"),
    ("the same file twice", E, appeal(attachments=[{"file_name": n, "media_type": "application/pdf", "size_bytes": 1, "sha256": "b" * 64, "storage_key": n} for n in ("a.pdf", "b.pdf")]), {}, 400, "attachments[1].sha256"),
    ("enterprise flags an emergency", E, appeal(emergency=True), {}, 403, "emergency"),
    ("enterprise decides", E, appeal(decision={"action": "accept", "matter_type": "x"}), {}, 403, "decision"),
    ("decision with unknown action", A, appeal(decision={"action": "approve"}), {}, 400, "decision.action"),
    ("accept without matter_type", A, appeal(decision={"action": "accept"}), {}, 400, "decision.matter_type"),
    ("reject without reason_code", A, appeal(decision={"action": "reject", "reason_text": "x"}), {}, 400, "decision.reason_code"),
    ("reject with an unknown reason", A, appeal(decision={"action": "reject", "reason_code": "too_busy", "reason_text": "x"}), {}, 400, "decision.reason_code"),
    ("reject without telling why", A, appeal(decision={"action": "reject", "reason_code": "civil_dispute"}), {}, 400, "decision.reason_text"),
    ("answer a complaint at once", A, appeal(decision={"action": "answer", "answer_summary": "x", "how_told": "phone"}), {}, 400, "decision.action"),
    ("answer without how_told", A, appeal(kind="consultation", decision={"action": "answer", "answer_summary": "x"}), {}, 400, "decision.how_told"),
    ("decision unknown field", A, appeal(decision={"action": "accept", "matter_type": "x", "urgent": True}), {}, 400, "decision.urgent"),
    ("Idempotency-Key too long", E, appeal(), {"Idempotency-Key": "k" * 129}, 400, "Idempotency-Key"),
    ("Idempotency-Key with a space", E, appeal(), {"Idempotency-Key": "a b"}, 400, "Idempotency-Key"),
    ("chunked body", E, None, {"Transfer-Encoding": "chunked"}, 411, "Transfer-Encoding"),
]
for desc, tok, b, hdrs, want, field in bad:
    if desc == "chunked body":
        # urllib cannot send a chunked request; curl can
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", URL + "/v1/appeals",
                              "-H", "Authorization: Bearer " + E, "-H", "Content-Type: application/json",
                              "-H", "Transfer-Encoding: chunked", "--data-binary", json.dumps(appeal())],
                             capture_output=True, text=True)
        check(f"bad: {desc} → {want}", out.stdout == str(want), out.stdout)
        continue
    raw = b if isinstance(b, bytes) else None
    s, e, _ = call("POST", "/v1/appeals", tok, None if raw is not None else b, hdrs, raw=raw)
    ok = s == want and isinstance(e, dict) and "error" in e and e["error"].get("code") and e["error"].get("message")
    if field is not None:
        ok = ok and e["error"].get("field") == field
    check(f"bad: {desc} → {want}" + (f" naming {field}" if field else ""), ok, (s, e))
# a 2 MB body never reaches the handler
big_raw = json.dumps(appeal(body="x" * 2_000_000)).encode()
s, e, _ = call("POST", "/v1/appeals", E, raw=big_raw)
check("bad: a 2 MB body → 413 before it is read", s == 413 and e["error"]["code"] == "body_too_large", (s, e))
print(f"       ({len(bad) + 1} distinct bad inputs)")
counts_after = sql("SELECT (SELECT count(*) FROM cases) || '/' || (SELECT count(*) FROM outbox) || '/' || (SELECT count(*) FROM case_events)")
check("nothing was written by any bad input (cases/outbox/history unchanged)", counts_before == counts_after, (counts_before, counts_after))

# ---- events ---------------------------------------------------------------------------------
print("events:")
hist = sql(f"SELECT string_agg(type, ',' ORDER BY id) FROM case_events WHERE case_id = '{dup['case_id']}'")
check("the unlinked duplicate's history: received, duplicate, duplicate_unlinked",
      hist == "case.received,case.duplicate,case.duplicate_unlinked", hist)
hist = sql(f"SELECT string_agg(type || ':' || coalesce(to_state, ''), ',' ORDER BY id) FROM case_events WHERE case_id = '{first['case_id']}'")
check("the raced case's history has one decision", hist in ("case.received:received,case.accepted:accepted", "case.received:received,case.rejected:rejected"), hist)
check("every case has its case.received event", sql("SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.type = 'case.received')") == "0")
check("no personal data in any event (phones, contact names)", sql("SELECT count(*) FROM outbox WHERE payload LIKE '%13807712345%' OR payload LIKE '%李明%'") == "0")
deadline = time.time() + 30
while time.time() < deadline and sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") != "0":
    time.sleep(0.2)
check("every event reached Kafka through the outbox", sql("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0")

print(f"{checks - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
