#!/usr/bin/env python3
"""deploy/demo/dispatch_demo.py — the dispatch part of `make demo` (standard library only).

After intake's morning: the responsibility catalogue (派单目录) in force, the demo province's
accepted appeals routed through Kafka to the unit responsible at the right tier — or left in a
dispatch centre's queue with the reason when a person must decide — and then a day in the units:
signing for cases, contacting the enterprise, co-handlers' parts and a combined result, a unit
returning a case, the centre deciding the remit (确责) so it cannot be returned again, an
escalation to the tier above, two people changing one case at once, and the printable
assignment form (交办单). Each run registers new enterprises, so the demo can be run again.

Environment: INTAKE_URL (8081), DISPATCH_URL (8082), JIESUCTL (bin/jiesuctl), JIESU_PG_DSN.
"""
import concurrent.futures
import datetime
import json
import os
import random
import re
import subprocess
import sys
import time
import unicodedata
import urllib.error
import urllib.request

INTAKE = os.environ.get("INTAKE_URL", "http://127.0.0.1:8081")
URL = os.environ.get("DISPATCH_URL", "http://127.0.0.1:8082")
CTL = os.environ.get("JIESUCTL", "bin/jiesuctl")
DSN = os.environ.get("JIESU_PG_DSN", "host=127.0.0.1 port=54329 dbname=jiesu user=jiesu password=jiesu")
CST = datetime.timezone(datetime.timedelta(hours=8))


def call(method, path, token, body=None, base=URL):
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            txt = r.read().decode()
            return r.status, (json.loads(txt) if r.headers.get("Content-Type", "").startswith("application/json") else txt)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True, check=True).stdout.strip()


def sql(q):
    return subprocess.run(["psql", "-tA", DSN, "-c", q], capture_output=True, text=True).stdout.strip()


def token(role, name, **kw):
    args = ["principal", "add", "--role", role, "--name", name]
    for k, v in kw.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return ctl("token", "issue", "--principal", ctl(*args), "--ttl-days", "1")


def unit_token(code):
    uid = sql(f"SELECT id FROM units WHERE code = '{code}'")
    return token("unit", f"{code} 经办人{run}", unit_id=uid)


def now(delta_s=0):
    return (datetime.datetime.now(CST) + datetime.timedelta(seconds=delta_s)).isoformat(timespec="seconds")


A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def credit_code(division, serial):
    body8 = f"{serial:08d}"
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body8, [3, 7, 9, 10, 5, 8, 4, 2])) % 11
    s17 = "91" + division + body8 + ("X" if c == 10 else "0" if c == 11 else str(c))
    return s17 + A[(31 - sum(A.index(ch) * w for ch, w in zip(s17, W)) % 31) % 31]


run = random.randrange(10**6, 10**7)
serial = run * 10

# ---- the catalogue in force, imported through the dispatcher's API by the provincial centre -------
T = {"agent": token("agent", f"自治区受理专席{run}", region="450000"),
     "gx": token("centre", f"自治区专班{run}", region="450000"),
     "qx": token("centre", f"青秀区企业诉求受理中心{run}", region="450103"),
     "hc": token("centre", f"海城区营商办{run}", region="450502"),
     "nn": token("centre", f"南宁市企业诉求响应中心{run}", region="450100")}


def post_csv(path, token, text):
    req = urllib.request.Request(URL + path, data=text.encode(), method="POST",
                                 headers={"Content-Type": "text/csv", "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


with open("deploy/data/guangxi/catalogue.csv", encoding="utf-8") as f:
    cat = f.read()
bad = cat.rstrip("\n") + "\n营商环境,450199,county,450100-FGW,,auto,不存在的地区\n营商环境,450100,city,NO-SUCH-UNIT,,auto,\n"
s, r = post_csv("/v1/catalogue/versions?note=demo", T["nn"], cat)
print(f"  a city centre may not change the province's catalogue: HTTP {s} {r.get('error', {}).get('code', '')}")
s, r = post_csv("/v1/catalogue/versions?note=demo", T["gx"], bad)
errs = r.get("error", {}).get("errors", []) if isinstance(r, dict) else []
print(f"  a file with two bad rows: HTTP {s}, nothing imported; every bad row named:")
for e in errs[:4]:
    print(f"    line {e.get('line', e.get('entry'))}, {e.get('field')}: {e.get('message')}")
s, r = post_csv("/v1/catalogue/versions?note=demo", T["gx"], cat)
print(f"  the shipped file: HTTP {s} {json.dumps({k: r[k] for k in ('version', 'entries', 'unchanged') if k in r}, ensure_ascii=False)}")
print("  " + sql("SELECT 'catalogue version ' || version || ' in force: ' || entries || ' entries, ' || "
                 "(SELECT count(DISTINCT matter_type) FROM catalogue_entries e WHERE e.version = v.version) || "
                 "' matter types, ' || (SELECT count(DISTINCT region_code) FROM catalogue_entries e WHERE "
                 "e.version = v.version) || ' regions' FROM catalogue_versions v ORDER BY version DESC LIMIT 1"))
for code in ("450103-ZJ", "450103-JT", "450103-CG", "450502-SCJG", "450502-SF", "450103-FGW", "450100-FGW"):
    T[code] = unit_token(code)


def submit(matter, region, summary, body, kind="complaint", complexity="general"):
    global serial
    serial += 1
    a = {"enterprise_name": f"{summary[:4]}示范企业{serial % 1000}有限公司", "credit_code": credit_code(region[:6], serial),
         "address": "某路88号", "region_code": region, "contact_name": "张经理",
         "contact_phone": f"1387710{random.randrange(10000):04d}", "channel": "hotline", "kind": kind,
         "summary": summary, "body": body,
         "decision": {"action": "accept", "complexity": complexity, "matter_type": matter}}
    s, r = call("POST", "/v1/appeals", T["agent"], a, base=INTAKE)
    return r.get("case_id") if s == 201 else None


def handling(cid):
    s, h = call("GET", f"/v1/cases/{cid}/handling", T["gx"])
    return h if s == 200 else {}


def routed(cid, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        h = handling(cid)
        if h and (h["state"] != "accepted" or (h.get("queue_reason") not in (None, "not_yet_routed"))):
            return h
        time.sleep(0.2)
    return handling(cid)


def pad(text, width):
    """Pads to a display width: a Chinese character takes two columns."""
    w = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - w)


def ver(cid):
    return handling(cid).get("version")


# ---- routing -------------------------------------------------------------------------------------
print("\n  A morning's appeals, accepted at intake, routed through Kafka by the catalogue:")
todo = [
    ("道路施工", "450103", "厂房门前道路施工三个月未恢复", "门前道路开挖施工三个月未恢复通行，货车无法进出。", "general"),
    ("出口退税", "450702", "出口退税进度缓慢", "9月申报的出口退税至今未到账，资金周转困难。", "general"),
    ("公共交通", "450302", "建议增开景区旅游专线公交", "旺季游客多，建议增开至主要景区的旅游专线公交。", "simple"),
    ("用电报装", "450203", "冷链仓库用电增容报装超期", "冷链仓库需增容用电，报装申请已超过两个月未批复。", "general"),
    ("招工用工", "450181", "季节性用工缺口大", "糖厂榨季用工缺口约200人，希望协助对接劳务资源。", "general"),
    ("知识产权保护", "450502", "商标被仿冒", "本公司注册商标被周边商户仿冒使用，希望协调查处。", "general"),
    ("用地审批", "450103", "项目用地预审迟迟未批复", "新建厂房项目用地预审材料已齐全，两个月未批复。", "general"),
    ("拖欠账款", "450103", "道路改造工程款被拖欠", "承建的道路改造项目涉及多个部门，工程款被拖欠两年。", "complex"),
]
cases = {}
for matter, region, summary, body, cx in todo:
    cases[matter] = submit(matter, region, summary, body, complexity=cx)
# the appeals intake's demo accepted this morning are routed the same way
earlier = sql("SELECT string_agg(id::text, ',') FROM (SELECT id FROM cases WHERE state IN ('accepted', 'dispatched') "
              "AND received_at > now() - interval '1 hour' AND NOT (id::text = ANY ('{" + ",".join(c for c in cases.values() if c) +
              "}'::text[])) ORDER BY received_at LIMIT 6) x")
rows = [(m, routed(c)) for m, c in cases.items() if c] + [(None, routed(c)) for c in earlier.split(",") if c]
print(f"    {'case number':<20} {'matter':<10} {'region':<9} {'tier':<8} outcome")
for matter, h in rows:
    if not h:
        continue
    lead = next((x["name"] for x in h["holders"] if x["role"] == "lead"), None)
    co = "、".join(x["name"] for x in h["holders"] if x["role"] == "co")
    if h["state"] == "dispatched":
        out = f"→ {lead}" + (f" （协办：{co}）" if co else "") + f"  [派单目录第{h['catalogue_version']}版, 签收时限 {h['sign_by'][5:16]}]"
    else:
        out = f"waits in the {h['responsible_region']} centre's queue: {h['queue_reason']}"
    print(f"    {h['case_no']:<20} {pad(h['matter_type'], 12)} {h['region_code']:<9} {h['tier']:<8} {out}")

# ---- the centre's queue ------------------------------------------------------------------------------
print("\n  海城区's centre reads its queue and decides what the catalogue could not:")
s, q = call("GET", "/v1/dispatch/queue", T["hc"])
for it in q.get("items", []):
    print(f"    {it['case_no']}  {it['matter_type']}  queue={it['queue']} reason={it['reason']}  “{it['summary']}”")
ip = cases["知识产权保护"]
s, r = call("POST", f"/v1/cases/{ip}/dispatch", T["hc"], {"version": ver(ip), "lead_unit": "450502-SCJG"})
print(f"    dispatched by hand to 海城区市场监督管理局 → {r.get('state')}, sign by {r.get('sign_by')}")

# ---- a return, the remit decided, no second return -------------------------------------------------------
print("\n  The unit returns it inside the sign-for window; the centre decides the remit (确责):")
s, r = call("POST", f"/v1/cases/{ip}/return", T["450502-SCJG"], {
    "version": ver(ip), "reason_code": "not_in_remit", "suggested_unit": "450502-SF",
    "reason_text": "商标侵权纠纷的调处建议由司法行政部门组织调解，本局配合提供登记信息。"})
print(f"    海城区市场监管局 returns it (written reason) → {r.get('state')}, back in the queue as {r.get('queue')}")
s, r = call("POST", f"/v1/cases/{ip}/decide-remit", T["hc"], {
    "version": ver(ip), "lead_unit": "450502-SCJG", "co_handlers": ["450502-SF"], "disputed_by": ["450502-SCJG"],
    "basis": "centre_ruling", "decision_text": "商标侵权查处属市场监管部门法定职责，由市场监管局牵头，司法局配合调解。"})
print(f"    the centre decides: 市场监管局 leads, 司法局 co-handles → {r.get('state')}, remit decided: {r.get('remit_decided')}")
s, r = call("POST", f"/v1/cases/{ip}/return", T["450502-SCJG"], {
    "version": ver(ip), "reason_code": "not_in_remit", "reason_text": "再次退回"})
print(f"    a second return is refused: HTTP {s} {r['error']['code']} — {r['error']['message']}")
s, r = call("POST", f"/v1/cases/{ip}/sign", T["450502-SCJG"], {"version": ver(ip)})
print(f"    市场监管局 signs for it → {r.get('state')} (resolve by {r.get('resolve_by')})")

# ---- a unit's day ----------------------------------------------------------------------------------------------
print("\n  青秀区住建局 handles 道路施工 with 交通运输局 and 城管局:")
rd = cases["道路施工"]
s, q = call("GET", "/v1/unit/queue", T["450103-ZJ"])
print(f"    its queue: " + ", ".join(f"{i['case_no']} ({i['bucket']})" for i in q.get("items", [])[:4]))
v = ver(rd)
with concurrent.futures.ThreadPoolExecutor(2) as ex:
    both = list(ex.map(lambda _: call("POST", f"/v1/cases/{rd}/sign", T["450103-ZJ"], {"version": v}), range(2)))
print(f"    two clerks sign at once: HTTP {sorted(s for s, _ in both)} — one wins, the other is told the case is now "
      f"{next(r for s, r in both if s == 409).get('state')} (version {next(r for s, r in both if s == 409).get('version')})")
s, r = call("POST", f"/v1/cases/{rd}/contact", T["450103-ZJ"], {
    "version": ver(rd), "contacted_at": now(-5), "channel": "field_visit", "person": "张经理", "reached": True,
    "note": "现场查看施工段，与企业约定恢复通行方案"})
print(f"    contact recorded (field visit, the enterprise reached; first contact: {r.get('first_contact')})")
s, r = call("POST", f"/v1/cases/{rd}/progress", T["450103-ZJ"], {"version": ver(rd), "note": "已约谈施工单位，三日内恢复半幅通行"})
print(f"    progress reported → version {r.get('version')}")
s, r = call("POST", f"/v1/cases/{rd}/result", T["450103-ZJ"], {
    "version": ver(rd), "finding": "true", "measures": "已恢复通行", "how_told": "phone", "told_at": now(-1)})
print(f"    a result before the co-handlers' parts: HTTP {s} — {r['error']['message']}")
for unit, part in (("450103-JT", "已调整公交线路绕行并设置临时站点。"), ("450103-CG", "已清理施工堆放物，恢复人行道。")):
    s, r = call("POST", f"/v1/cases/{rd}/part", T[unit], {"version": ver(rd), "summary": part})
    print(f"    {unit} submits its part → HTTP {s}")
s, r = call("POST", f"/v1/cases/{rd}/result", T["450103-ZJ"], {
    "version": ver(rd), "finding": "true", "how_told": "phone", "told_at": now(-1),
    "measures": "经查，企业反映情况属实。已责令施工单位恢复半幅通行、设置临时通道和警示标志，交通运输局调整公交绕行，"
                "城管局清理施工堆放物；施工单位承诺本月底前全部完工。"})
print(f"    the combined result (属实) → {r.get('state')}, on time: {r.get('within_deadline')}, "
      f"{len(r.get('parts', []))} parts, revisit by {r.get('revisit_by')}")

# ---- escalation ------------------------------------------------------------------------------------------
print("\n  A case the district cannot solve goes up a tier:")
cx = cases["拖欠账款"]
s, r = call("POST", f"/v1/cases/{cx}/dispatch", T["qx"], {"version": ver(cx), "lead_unit": "450103-FGW"})
s, r = call("POST", f"/v1/cases/{cx}/escalate", T["qx"], {
    "version": ver(cx), "reason_code": "beyond_tier_capacity", "reason_text": "拖欠方为市属国企，区级无法协调。"})
print(f"    青秀区's centre escalates the complex 拖欠账款 case → {r.get('state')} at the {r.get('tier')} tier ({r.get('to_region_code')})")
h = routed(cx)
time.sleep(1)
h = handling(cx)
print(f"    南宁市's queue: {h.get('queue')} ({h.get('queue_reason')}) — complex cases get their lead from the centre")
s, r = call("POST", f"/v1/cases/{cx}/dispatch", T["nn"], {"version": ver(cx), "lead_unit": "450100-FGW"})
print(f"    南宁市's centre names 南宁市发展和改革委员会 → {r.get('state')} at the {r.get('tier')} tier")

# ---- the assignment form --------------------------------------------------------------------------------
s, f = call("GET", f"/v1/cases/{rd}/assignment-form", T["450103-ZJ"])
text = re.sub(r"<[^>]+>", " ", f.split("<body>")[1]) if s == 200 else ""
text = re.sub(r"\s+", " ", text).strip()
print(f"\n  The assignment form (交办单), printable HTML at {URL}/v1/cases/{rd}/assignment-form:")
for chunk in re.findall(r".{1,70}", text)[:7]:
    print("    " + chunk)
print("\n  Every read of a case is in audit_log: " + sql("SELECT count(*) FROM audit_log WHERE action = 'case.read'") + " reads so far")
sys.exit(0)
