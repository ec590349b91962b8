#!/usr/bin/env python3
"""deploy/demo/intake_demo.py — the intake part of `make demo` (standard library only).

A morning at a provincial platform: enterprises and intake agents register a realistic mix of
appeals through every channel; intake numbers them, refuses what is out of scope with a reason
the enterprise is told, links a rephrased repeat to the open case, answers a consultation from
the policy library on the spot, and agents review what waits. Each run uses new enterprises
(valid credit codes generated per run) so the demo can be run again.
"""
import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

URL = os.environ.get("INTAKE_URL", "http://127.0.0.1:8081")
T = {k: os.environ[k] for k in os.environ if k.startswith("T_")}

A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def credit_code(division, serial):
    """A valid 统一社会信用代码 (GB 32100-2015): 91 + division + organisation code + check."""
    body8 = f"{serial:08d}"
    ws = [3, 7, 9, 10, 5, 8, 4, 2]
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body8, ws)) % 11
    org = body8 + ("X" if c == 10 else "0" if c == 11 else str(c))
    s17 = "91" + division + org
    return s17 + A[(31 - sum(A.index(ch) * w for ch, w in zip(s17, W)) % 31) % 31]


def call(method, path, token, body=None, headers=None):
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    h.update(headers or {})
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


run = random.randrange(10**6, 10**7)
ents = {
    "桂鑫商贸": ("南宁市青秀区桂鑫商贸有限公司", credit_code("450103", run), "450103"),
    "柳钢配套": ("柳州市鱼峰区柳钢配套机械有限公司", credit_code("450203", run + 1), "450203"),
    "漓江旅游": ("桂林市秀峰区漓江文旅发展有限公司", credit_code("450302", run + 2), "450302"),
    "北部湾物流": ("北海市海城区北部湾冷链物流有限公司", credit_code("450502", run + 3), "450502"),
    "钦州港贸": ("钦州市钦南区港航贸易有限公司", credit_code("450702", run + 4), "450702"),
}


def sign_in(ent):
    """The enterprise gets its own principal and token (jiesuctl), as it would at registration."""
    ctl = os.environ.get("JIESUCTL", "bin/jiesuctl")
    name, cc, _ = ents[ent]
    pid = subprocess.run([ctl, "principal", "add", "--role", "enterprise", "--name", name, "--credit-code", cc],
                         capture_output=True, text=True, check=True).stdout.strip()
    return subprocess.run([ctl, "token", "issue", "--principal", pid, "--ttl-days", "1"],
                          capture_output=True, text=True, check=True).stdout.strip()


T["T_ENT_1"] = sign_in("桂鑫商贸")
T["T_ENT_4"] = sign_in("北部湾物流")


def appeal(ent, channel, kind, summary, body, **kw):
    name, cc, region = ents[ent]
    a = {"enterprise_name": name, "credit_code": cc, "region_code": region, "contact_name": "张经理",
         "contact_phone": "1387710" + f"{random.randrange(10000):04d}", "channel": channel, "kind": kind,
         "summary": summary, "body": body, "address": name[:3] + "某路88号"}
    a.update(kw)
    return a


rows = []


def submit(who, label, a, headers=None):
    s, r = call("POST", "/v1/appeals", T[who], a, headers)
    rows.append((label, a["channel"], a["kind"], s, r))
    return r


print("\n  A policy library entry, added by an agent (政策库):")
s, pol = call("POST", "/v1/policies", T["T_AGENT_PROV"], {
    "title": "小微企业创业担保贷款贴息申请",
    "question": "小微企业怎么申请创业担保贷款贴息？需要什么材料？",
    "answer": "符合条件的小微企业可向所在地人力资源和社会保障部门申请，最高贷款额度300万元，按规定给予贴息；"
              "需提供营业执照、吸纳就业人员名单、劳动合同和社保缴费记录。",
    "keywords": ["创业担保贷款", "贴息", "小微企业"], "source": "桂人社规〔2023〕示例号"})
print(f"    #{pol.get('id')} {pol.get('title')} (version {pol.get('version')})")

first = submit("T_ENT_1", "enterprise, self-service", appeal(
    "桂鑫商贸", "web", "complaint", "门前道路施工三个月未恢复，货车无法进出",
    "我公司位于民族大道，自8月起门前道路开挖施工，至今三个月未恢复通行，货车无法进出，严重影响经营，请督促施工单位尽快恢复。"))
submit("T_ENT_1", "enterprise repeats it, reworded", appeal(
    "桂鑫商贸", "mini_program", "complaint", "再次反映：门前道路施工至今未恢复",
    "上次反映的民族大道门前道路开挖问题，三个月了还没恢复通行，货车还是进不去，请尽快督促恢复道路。"))
submit("T_ENT_1", "enterprise, a different matter", appeal(
    "桂鑫商贸", "qr_code", "help", "出口退税进度缓慢", "我公司9月申报的出口退税至今未到账，资金周转困难，希望协助了解进度。"))
submit("T_AGENT_PROV", "12345 hotline, accepted at once", appeal(
    "柳钢配套", "hotline", "complaint", "承建项目工程款被拖欠两年",
    "我公司为某工业园项目提供配套设备，工程款已拖欠两年，多次催收无果。",
    decision={"action": "accept", "complexity": "general", "matter_type": "拖欠账款"}))
submit("T_AGENT_PROV", "service-hall window, refused", appeal(
    "柳钢配套", "window", "complaint", "与供货商合同纠纷", "我公司与供货商因货款发生合同纠纷，希望政府出面判决。",
    decision={"action": "reject", "reason_code": "civil_dispute",
              "reason_text": "属于经营主体之间民事纠纷，建议通过协商、调解、仲裁或诉讼解决。"}))
submit("T_AGENT_PROV", "field visit, suggestion", appeal(
    "漓江旅游", "field_visit", "suggestion", "建议增开景区旅游专线公交", "建议在旅游旺季增开至主要景区的旅游专线公交，方便游客和员工出行。"))
submit("T_AGENT_PROV", "weekly solicitation, report (confidential)", appeal(
    "漓江旅游", "solicitation", "report", "反映某检查人员索要好处", "有检查人员在检查中暗示索要好处费，请核查。", confidential=True))
submit("T_AGENT_PROV", "e-mail, consultation", appeal(
    "北部湾物流", "email", "consultation", "小微企业创业担保贷款贴息怎么申请",
    "我公司是小微企业，想申请创业担保贷款贴息，请问需要什么材料，到哪个部门办理？"))
submit("T_AGENT_PROV", "upper-tier transfer, help", appeal(
    "钦州港贸", "upper_transfer", "help", "冷链仓库用电增容审批", "我公司冷链仓库需增容用电，报装申请已超过两个月未批复。"))
submit("T_AGENT_PROV", "hotline, outside the territory", appeal(
    "钦州港贸", "hotline", "consultation", "咨询广州市的落户政策", "请问广州市人才落户政策。", region_code="440106"))
submit("T_AGENT_PROV", "hotline, emergency", appeal(
    "北部湾物流", "hotline", "help", "冷库氨气泄漏", "冷库发生氨气泄漏，有人员不适。", emergency=True))
key = f"demo-{run}"
retry = appeal("北部湾物流", "web", "suggestion", "建议延长政务大厅周六服务时间", "建议政务服务大厅周六全天开放，方便企业办事。")
submit("T_ENT_4", "enterprise, with Idempotency-Key", retry, {"Idempotency-Key": key})
submit("T_ENT_4", "… the same request retried", retry, {"Idempotency-Key": key})

print("\n  What intake did with a morning's appeals:")
print(f"    {'how it came in':<42} {'channel':<15} {'kind':<13} {'case number':<20} outcome")
for label, ch, kind, s, r in rows:
    if s >= 400:
        print(f"    {label:<42} {ch:<15} {kind:<13} {'-':<20} HTTP {s}: {r['error']['message']}")
        continue
    extra = ""
    if r["outcome"] == "rejected":
        extra = f" [{r['reason_code']}] {r['message']}"
    elif r["outcome"] == "duplicate":
        extra = f" → linked to {r['duplicate_of']['case_no']}"
    elif r.get("policy_suggestions"):
        extra = f" (policy suggestion: {r['policy_suggestions'][0]['title']})"
    print(f"    {label:<42} {ch:<15} {kind:<13} {r['case_no']:<20} {r['outcome']}{extra}")
same = rows[-1][4].get("case_id") == rows[-2][4].get("case_id")
print(f"    the retried request got the same case back: {'yes' if same else 'NO'}")

print("\n  The agent's review queue (青秀区 agent sees 青秀区 only; the province agent sees all):")
for who in ("T_AGENT", "T_AGENT_PROV"):
    s, q = call("GET", "/v1/review-queue?limit=500", T[who])
    print(f"    {who[2:].lower():<12} {len(q.get('items', []))} appeals waiting")
s, q = call("GET", "/v1/review-queue?limit=500", T["T_AGENT_PROV"])
mine = {i["case_no"]: i for i in q.get("items", []) if i["credit_code"] in {e[1] for e in ents.values()}}
for no, it in sorted(mine.items()):
    if it["kind"] == "consultation":
        s, r = call("POST", f"/v1/cases/{it['case_id']}/review", T["T_AGENT_PROV"], {
            "version": it["version"], "action": "answer", "how_told": "phone",
            "answer_summary": "已电话答复：可向所在地人社部门申请创业担保贷款贴息，材料见政策库。"})
        print(f"    {no} consultation answered at once → {r.get('state')}")
    elif it["kind"] == "suggestion":
        s, r = call("POST", f"/v1/cases/{it['case_id']}/review", T["T_AGENT_PROV"], {
            "version": it["version"], "action": "accept", "complexity": "simple", "matter_type": "公共交通"})
        print(f"    {no} suggestion accepted → {r.get('state')}")
    else:
        s, r = call("POST", f"/v1/cases/{it['case_id']}/review", T["T_AGENT_PROV"], {
            "version": it["version"], "action": "accept", "complexity": "general", "matter_type": "营商环境"})
        print(f"    {no} {it['kind']} accepted → {r.get('state')}")
        s, r2 = call("POST", f"/v1/cases/{it['case_id']}/review", T["T_AGENT"], {
            "version": it["version"], "action": "reject", "reason_code": "unclear_or_unreachable", "reason_text": "x"})
        if s == 409:
            print(f"      a second agent deciding from the same version gets HTTP 409 (state {r2.get('state')}, version {r2.get('version')})")
        elif s == 404:
            print("      the 青秀区 agent cannot decide a case of another region: HTTP 404, nothing leaked")
sys.exit(0)
