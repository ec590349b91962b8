#!/usr/bin/env python3
"""tests/e2e/watcher_api.py — the deadline watcher's API end to end (driven by tests/e2e/watcher.sh).

Python's standard library only. Cases are rows written here; their events are written to the
outbox as the dispatcher writes them, and reach the watcher through its relay and Kafka. Every
check prints one line; the script exits 1 if any failed.
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

URL = os.environ["WATCH_URL"]
DSN = os.environ["JIESU_PG_DSN"]
RUN = os.environ["WATCH_RUN"]
T = {k: os.environ[k] for k in os.environ if k.startswith("T_")}
U = {k: int(os.environ[k]) for k in ("U_TZ", "U_TZ2", "U_ZY", "U_YC", "U_ST")}
CST = datetime.timezone(datetime.timedelta(hours=8))
fails = 0
checks = 0


def check(name, cond, detail=""):
    global fails, checks
    checks += 1
    if cond:
        print(f"  ok   {name}")
    else:
        fails += 1
        print(f"  FAIL {name} {str(detail)[:600]}")


def call(method, path, token=None, body=None, raw=None, ctype="application/json"):
    h = {"Content-Type": ctype}
    if token:
        h["Authorization"] = "Bearer " + token
    data = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            txt = r.read()
            ct = r.headers.get("Content-Type", "")
            return r.status, (json.loads(txt) if txt and "json" in ct else txt.decode()), dict(r.headers)
    except urllib.error.HTTPError as e:
        txt = e.read()
        try:
            j = json.loads(txt)
        except ValueError:
            j = {"_raw": txt.decode(errors="replace")}
        return e.code, j, dict(e.headers)


def sql(q):
    out = subprocess.run(["psql", "-tA", "-v", "ON_ERROR_STOP=1", DSN, "-c", q], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def wait_sql(q, want, secs=30):
    end = time.time() + secs
    got = None
    while time.time() < end:
        got = sql(q)
        if got == str(want):
            return True
        time.sleep(0.2)
    print(f"       (waited {secs}s for {q!r} = {want}; last {got!r})")
    return False


def err_field(r):
    return isinstance(r, dict) and r.get("error", {}).get("field")


def is_err(r, field=None):
    return isinstance(r, dict) and "error" in r and r["error"].get("code") and r["error"].get("message") and \
        (field is None or r["error"].get("field") == field)


def iso(t):
    return t.astimezone(CST).isoformat(timespec="milliseconds")


def now():
    return datetime.datetime.now(CST)


n_case = 0


def make_case(region, state, unit, kind="help", complexity="general", received=None):
    global n_case
    n_case += 1
    rec = f"'{iso(received)}'::timestamptz" if received else "now()"
    return sql(f"""INSERT INTO cases (case_no, region_code, tier, state, kind, complexity, channel, enterprise_name,
                   contact_name, contact_phone, summary, body, lead_unit_id, received_at)
                   VALUES ('E{RUN}-{n_case:04d}', '{region}', 3, '{state}', '{kind}', '{complexity}', 'hotline',
                   '测试商贸有限公司', '周经理', '13906321234', '厂区门前道路积水影响通行', '厂区门前道路积水严重，货车无法进出。',
                   {unit}, {rec}) RETURNING id""").splitlines()[0]


def emit(case_id, etype, payload, at=None):
    env = {"event_id": str(uuid.uuid4()), "case_id": case_id, "type": etype, "schema_version": 1,
           "occurred_at": iso(at or now()), "actor": {"principal_id": None, "role": "system", "name": "e2e"},
           "payload": payload}
    txt = json.dumps(env, ensure_ascii=False)
    sql(f"INSERT INTO outbox (event_id, topic, msg_key, payload) VALUES ('{env['event_id']}', "
        f"'jiesu.case-events', '{case_id}', $e2e${txt}$e2e$)")
    return env["event_id"]


def signed(case_id, unit, resolve_by=None, first_contact_by=None):
    p = {"unit_id": unit, "within_deadline": True}
    if resolve_by:
        p["resolve_by"] = iso(resolve_by)
    if first_contact_by:
        p["first_contact_by"] = iso(first_contact_by)
    emit(case_id, "case.signed", p)


def counts():
    return sql("SELECT (SELECT count(*) FROM audit_log) || ' ' || (SELECT count(*) FROM calendar_days) || ' ' || "
               "(SELECT count(*) FROM calendar_years) || ' ' || (SELECT count(*) FROM supervision_notices) || ' ' || "
               "(SELECT count(*) FROM clock_pauses)")


def cal_doc(year, days, region=None, source="e2e 测试用节假日安排"):
    d = {"format": "jiesu-calendar/1", "year": year, "region": region, "days": days}
    if source:
        d["source"] = source
    return d


# ---- the calendar ------------------------------------------------------------------------------
print("calendar:")
s, r, _ = call("GET", "/v1/calendar/2026", T["T_OPERATOR"])
nat = [d for d in r.get("documents", [])] if s == 200 else []
check("GET /v1/calendar/2026 → 200 with the national arrangement", s == 200 and any(
    d["region"] is None and any(e["name"] == "春节" and e["first"] == "2026-02-15" for e in d["days"]) for d in nat), r)
s, r, _ = call("GET", "/v1/calendar/2027", T["T_OPERATOR"])
check("GET a year with no calendar → 404 naming the year", s == 404 and is_err(r, "year"), r)
s, r, _ = call("GET", "/v1/calendar/2026", T["T_CENTRE_TZ"])
check("the calendar API is for operators (centre → 403)", s == 403 and is_err(r), r)
s, r, _ = call("GET", "/v1/calendar/2026")
check("  … and needs a token (401)", s == 401 and is_err(r), r)

print("a deadline in a year with no calendar:")
zc = make_case("420683", "in_progress", U["U_ZY"], kind="help", complexity="complex",
               received=datetime.datetime(2026, 12, 10, 9, 0, tzinfo=CST))
signed(zc, U["U_ZY"])  # no resolve_by: the watcher counts zaoyang's 20 working days itself
check("the case is flagged calendar_missing (2027), nothing armed",
      wait_sql(f"SELECT count(*) FROM deadline_flags WHERE case_id = '{zc}' AND problem = 'calendar_missing' "
               f"AND year = 2027 AND resolved_at IS NULL", 1)
      and sql(f"SELECT count(*) FROM timers WHERE case_id = '{zc}' AND kind = 'resolve_by'") == "0")
s, r, _ = call("GET", "/v1/deadline-flags", T["T_OPERATOR"])
check("  … operators see it at GET /v1/deadline-flags", s == 200 and any(
    f.get("case_id") == zc and f["problem"] == "calendar_missing" and f["year"] == 2027 for f in r.get("flags", [])), r)
s, r, _ = call("GET", "/v1/deadline-flags", T["T_CENTRE_ZY"])
check("  … and so does the case's centre", s == 200 and any(f.get("case_id") == zc for f in r.get("flags", [])), r)
s, r, _ = call("GET", "/v1/deadline-flags", T["T_CENTRE_TZ"])
check("  … but not another region's", s == 200 and not any(f.get("case_id") == zc for f in r.get("flags", [])), r)
s, r, _ = call("GET", f"/v1/cases/{zc}/timers", T["T_CENTRE_ZY"])
check("  … and the case's clocks say so", s == 200 and any(f["problem"] == "calendar_missing" for f in r.get("flags", [])), r)

print("bad calendar documents → 400 naming the field, nothing written:")
before = counts()
good_days = [{"kind": "rest", "first": "2027-01-01", "name": "元旦"},
             {"kind": "rest", "first": "2027-02-06", "last": "2027-02-12", "name": "春节"},
             {"kind": "work", "first": "2027-02-14", "name": "调休上班"}]
bad = [
    ("a document of another year", "/v1/calendar/2027", cal_doc(2028, good_days), "year"),
    ("a weekday declared working", "/v1/calendar/2027", cal_doc(2027, good_days + [{"kind": "work", "first": "2027-03-03", "name": "x"}]), "days[3]"),
    ("a date that does not exist", "/v1/calendar/2027", cal_doc(2027, [{"kind": "rest", "first": "2027-02-30", "name": "x"}]), "days[0]"),
    ("a day listed twice", "/v1/calendar/2027", cal_doc(2027, good_days + [{"kind": "rest", "first": "2027-02-08", "name": "重复"}]), "days[3]"),
    ("a range that ends before it starts", "/v1/calendar/2027", cal_doc(2027, [{"kind": "rest", "first": "2027-05-05", "last": "2027-05-01", "name": "劳动节"}]), "days[0]"),
    ("a day outside the year", "/v1/calendar/2027", cal_doc(2027, [{"kind": "rest", "first": "2028-01-01", "name": "元旦"}]), "days[0]"),
    ("an unknown key", "/v1/calendar/2027", dict(cal_doc(2027, good_days), holidays=[]), "holidays"),
    ("a national year without its source", "/v1/calendar/2027", cal_doc(2027, good_days, source=None), "source"),
    ("a bad kind", "/v1/calendar/2027", cal_doc(2027, [{"kind": "holiday", "first": "2027-01-01", "name": "元旦"}]), "days[0]"),
    ("a blank name", "/v1/calendar/2027", cal_doc(2027, [{"kind": "rest", "first": "2027-01-01", "name": " "}]), "days[0]"),
    ("a wrong format tag", "/v1/calendar/2027", dict(cal_doc(2027, good_days), format="jiesu-calendar/9"), "format"),
    ("a year in the path that is no year", "/v1/calendar/20x7", cal_doc(2027, good_days), "year"),
    ("a year out of range", "/v1/calendar/1999", cal_doc(1999, good_days), "year"),
    ("a regional file before its national year", "/v1/calendar/2027", cal_doc(2027, [{"kind": "rest", "first": "2027-04-08", "name": "三月三"}], region="450000"), "year"),
]
for what, path, body, field in bad:
    s, r, _ = call("PUT", path, T["T_OPERATOR"], body)
    check(f"  {what} → 400, field {field}", s == 400 and is_err(r, field), (s, r))
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_OPERATOR"], raw=b'{"year": 2027,')
check("  broken JSON → 400", s == 400 and is_err(r), r)
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_OPERATOR"], raw=b'{}', ctype="text/plain")
check("  not JSON → 415", s == 415 and is_err(r), r)
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_CENTRE_TZ"], cal_doc(2027, good_days))
check("  a centre may not load calendars → 403", s == 403 and is_err(r), r)
check("  … none of them wrote anything (audit, days, years, notices, pauses)", counts() == before, (before, counts()))

print("loading 2027 at run time:")
audit0 = int(sql("SELECT count(*) FROM audit_log WHERE action = 'calendar.load'"))
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_OPERATOR"], cal_doc(2027, good_days))
check("PUT /v1/calendar/2027 → 201, the year added and in force", s == 201 and r.get("year_created") and r.get("in_force")
      and r.get("days_after") == 9, r)
check("  … audited: who, what, the days before and after",
      sql("SELECT count(*) FROM audit_log WHERE action = 'calendar.load' AND object = 'calendar:2027' AND "
          "detail->>'via' = 'api' AND (detail->>'days_after')::int = 9 AND principal_id IS NOT NULL") == "1"
      and int(sql("SELECT count(*) FROM audit_log WHERE action = 'calendar.load'")) == audit0 + 1)
check("  … in the tables", sql("SELECT count(*) FROM calendar_days WHERE year = 2027 AND region_code IS NULL") == "9")
check("the flagged case is armed at once: 20 working days from 2026-12-10 across 2027-01-01 → 2027-01-08",
      wait_sql(f"SELECT count(*) FROM timers WHERE case_id = '{zc}' AND kind = 'resolve_by' AND state = 'armed' AND "
               f"due_at = '2027-01-08T23:59:59+08:00'", 1, 10), sql(f"SELECT due_at FROM timers WHERE case_id = '{zc}'"))
check("  … and its flag resolved", sql(f"SELECT count(*) FROM deadline_flags WHERE case_id = '{zc}' AND resolved_at IS NOT NULL") == "1")
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_OPERATOR"], cal_doc(2027, good_days))
check("the same document again → 200, unchanged (and audited)", s == 200 and r.get("changed") is False, r)
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_OPERATOR"],
               cal_doc(2027, good_days + [{"kind": "rest", "first": "2027-04-05", "name": "清明节"}]))
check("an amended document → 200, changed, 10 days", s == 200 and r.get("changed") and r.get("days_after") == 10, r)
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_OPERATOR"],
               cal_doc(2027, [{"kind": "rest", "first": "2027-04-08", "name": "壮族三月三"}], region="450000",
                       source="广西三月三（测试）"))
check("a regional document for Guangxi → 200", s == 200 and r.get("region") == "450000" and r.get("days_after") == 1, r)
s, r, _ = call("PUT", "/v1/calendar/2027", T["T_OPERATOR"],
               cal_doc(2027, [{"kind": "rest", "first": "2027-04-08", "name": "x"}], region="450199"))
check("  … a region that is not in the deployment → 400 naming region", s == 400 and is_err(r, "region"), r)
s, r, _ = call("GET", "/v1/calendar/2027", T["T_OPERATOR"])
check("GET /v1/calendar/2027 → the national and the regional documents", s == 200 and len(r.get("documents", [])) == 2
      and r["documents"][1]["region"] == "450000" and r["documents"][1].get("source") == "广西三月三（测试）", r)

# ---- breaches, reminders, cards, notices ----------------------------------------------------------------
print("breaches and supervision (滕州: reminders on overdue cases, cards):")
t1 = make_case("370481", "in_progress", U["U_TZ"])
signed(t1, U["U_TZ"], resolve_by=now() + datetime.timedelta(seconds=3), first_contact_by=now() + datetime.timedelta(hours=1))
check("resolve-by armed from case.signed, warned, then breached",
      wait_sql(f"SELECT count(*) FROM timers WHERE case_id = '{t1}' AND kind = 'resolve_by' AND state = 'fired' "
               f"AND warned_at IS NOT NULL AND lateness_ms >= 0", 1, 30))
check("  … a reminder letter (level 1, overdue) and a yellow card",
      wait_sql(f"SELECT count(*) FROM supervision_notices WHERE case_id = '{t1}' AND level = 1 AND reason_code = 'overdue'", 1, 5)
      and wait_sql(f"SELECT count(*) FROM unit_cards WHERE case_id = '{t1}' AND colour = 'yellow'", 1, 5))
check("  … the events in the outbox: timer.warned, timer.breached (case topic), supervision.issued, card.issued (unit topic)",
      sql(f"SELECT string_agg(DISTINCT payload::jsonb->>'type' || '@' || topic, ',' ORDER BY payload::jsonb->>'type' || '@' || topic) "
          f"FROM outbox WHERE payload::jsonb->>'case_id' = '{t1}' AND payload::jsonb->>'type' NOT LIKE 'case.%'")
      == "card.issued@jiesu.unit-events,supervision.issued@jiesu.unit-events,timer.breached@jiesu.case-events,"
         "timer.warned@jiesu.case-events")
s, r, _ = call("GET", f"/v1/cases/{t1}/timers", T["T_CENTRE_TZ"])
rb = [t for t in r.get("timers", []) if t["kind"] == "resolve_by"] if s == 200 else []
check("GET /v1/cases/{id}/timers shows the clock (due, warned, fired, lateness)", s == 200 and rb and rb[0]["state"] == "fired"
      and "lateness_ms" in rb[0] and "warned_at" in rb[0] and rb[0]["unit_id"] == U["U_TZ"], r)
check("  … the read is audited", sql(f"SELECT count(*) FROM audit_log WHERE action = 'case.read' AND object = 'case:{t1}'") == "1")
for who, tok in (("another unit", "T_UNIT_TZ2"), ("another region's centre", "T_CENTRE_NN")):
    s, r, _ = call("GET", f"/v1/cases/{t1}/timers", T[tok])
    check(f"  … {who} → 404", s == 404 and is_err(r), r)
s, r, _ = call("GET", f"/v1/cases/{t1}/timers", T["T_OPERATOR"])
check("  … operators see no case → 403", s == 403 and is_err(r), r)

s, sup, _ = call("GET", f"/v1/units/{U['U_TZ']}/supervision", T["T_CENTRE_TZ"])
nid = next((n["notice_id"] for n in sup.get("notices", []) if n.get("case_id") == t1), None) if s == 200 else None
check("GET /v1/units/{id}/supervision (centre): the notice and the card",
      s == 200 and nid and sup["summary"]["reminders"] >= 1 and sup["summary"]["yellow_cards"] == 1
      and sup["runs"]["yellow_in_a_row"] == 1, sup)
for who, tok, want in (("the supervisor of the city above", "T_SUPER_TZ", 200), ("a leader without a region", "T_LEADER", 200),
                       ("another region's centre", "T_CENTRE_NN", 404), ("the unit itself (not a supervisory role)", "T_UNIT_TZ", 403)):
    s, r, _ = call("GET", f"/v1/units/{U['U_TZ']}/supervision", T[tok])
    check(f"  … {who} → {want}", s == want and (want == 200 or is_err(r)), r)
s, r, _ = call("GET", "/v1/units/abc/supervision", T["T_CENTRE_TZ"])
check("  … a unit id that is no id → 404", s == 404 and is_err(r), r)

case_no = sql(f"SELECT case_no FROM cases WHERE id = '{t1}'")
s, n, _ = call("GET", f"/v1/supervision/{nid}", T["T_UNIT_TZ"])
check("the unit reads its own notice: 5-day reply window, its reply clock armed", s == 200 and n.get("level") == 1
      and n.get("reply_clock") == "armed" and n.get("notice_no", "").startswith("DB-"), n)
s, r, _ = call("GET", f"/v1/supervision/{nid}", T["T_UNIT_TZ2"])
check("  … another unit → 404", s == 404 and is_err(r), r)
s, html, h = call("GET", f"/v1/supervision/{nid}/notice", T["T_CENTRE_TZ"])
check("GET /v1/supervision/{id}/notice → a printable HTML 督办单", s == 200 and h.get("Content-Type", "").startswith("text/html")
      and isinstance(html, str) and "<!DOCTYPE html>" in html and "提醒敦促函" in html and "滕州市市场监督管理局" in html
      and case_no in html and "请于" in html and "@page" in html and "企呼政应" in html, (s, str(html)[:300]))
check("  … with no contact name or phone on it", isinstance(html, str) and "13906321234" not in html and "周经理" not in html)
s, r, _ = call("GET", f"/v1/supervision/{uuid.uuid4()}/notice", T["T_CENTRE_TZ"])
check("  … an unknown notice → 404", s == 404 and is_err(r), r)

print("the unit replies:")
before = counts()
for what, tok, body, want, field in (
        ("another unit", "T_UNIT_TZ2", {"reply_text": "已办理"}, 404, None),
        ("no reply_text", "T_UNIT_TZ", {}, 400, "reply_text"),
        ("an empty reply_text", "T_UNIT_TZ", {"reply_text": ""}, 400, "reply_text"),
        ("a reply of 2,001 characters", "T_UNIT_TZ", {"reply_text": "办" * 2001}, 400, "reply_text"),
        ("an unknown field", "T_UNIT_TZ", {"reply_text": "已办理", "signed_by": "x"}, 400, "signed_by"),
        ("a centre (only the unit replies)", "T_CENTRE_TZ", {"reply_text": "已办理"}, 403, None)):
    s, r, _ = call("POST", f"/v1/supervision/{nid}/reply", T[tok], body)
    check(f"  {what} → {want}" + (f", field {field}" if field else ""), s == want and is_err(r, field), (s, r))
check("  … nothing written", counts() == before, (before, counts()))
s, r, _ = call("POST", f"/v1/supervision/{nid}/reply", T["T_UNIT_TZ"], {"reply_text": "已督促承办科室加快办理，预计3个工作日内办结。"})
check("  the unit's reply → 200, replied, its reply clock cancelled", s == 200 and r.get("replied_at") and r.get("reply_clock") == "cancelled", r)
check("  … audited", sql(f"SELECT count(*) FROM audit_log WHERE action = 'supervision.reply' AND object = 'supervision:{nid}'") == "1")
s, r, _ = call("POST", f"/v1/supervision/{nid}/reply", T["T_UNIT_TZ"], {"reply_text": "再次反馈"})
check("  a second reply → 409", s == 409 and is_err(r), r)
s, html, _ = call("GET", f"/v1/supervision/{nid}/notice", T["T_UNIT_TZ"])
check("  … the printed notice shows the reply", s == 200 and "已反馈" in html, str(html)[:200])

print("two misses in a row (滕州): yellow, yellow + red, the deputy head interviewed:")
t2 = make_case("370481", "in_progress", U["U_TZ"])
signed(t2, U["U_TZ"], resolve_by=now() + datetime.timedelta(seconds=2), first_contact_by=now() + datetime.timedelta(hours=1))
check("the second miss shows a second yellow and a red card",
      wait_sql(f"SELECT count(*) FROM unit_cards WHERE unit_id = {U['U_TZ']}", 3, 30))
s, sup, _ = call("GET", f"/v1/units/{U['U_TZ']}/supervision", T["T_SUPER_TZ"])
reds = [c for c in sup.get("cards", []) if c["colour"] == "red"] if s == 200 else []
check("  … the red card names the deputy head's interview", len(reds) == 1 and reds[0]["interview_of"] == "deputy_head"
      and reds[0]["consecutive"] == 1 and sup["runs"]["red_in_a_row"] == 1 and sup["runs"]["yellow_in_a_row"] == 0, sup)
ivs = [i for i in sup.get("interviews", []) if i.get("source") == "card"] if s == 200 else []
check("  … and the unit's view lists it as an interview: the deputy head (赵副局长) by the working group, from the card",
      len(ivs) == 1 and reds and ivs[0]["card_id"] == reds[0]["card_id"] and ivs[0]["interview_of"] == "deputy_head"
      and ivs[0]["interviewer"] == "working_group" and ivs[0].get("interviewee") == "赵副局长"
      and sup["summary"]["card_interviews"] == 1, sup)
check("  … a card's interview issues no notice (seed 004 prescribes none): no level-3 notice for the unit",
      sql(f"SELECT count(*) FROM supervision_notices WHERE unit_id = {U['U_TZ']} AND level = 3") == "0")

print("notices issued by hand:")
before = counts()
base = {"level": 3, "reason_code": "dereliction", "reason_text": "多次超期且督办后仍未整改，约谈单位分管负责人。"}
for what, unit, tok, body, want, field in (
        ("level 4", U["U_TZ"], "T_SUPER_TZ", dict(base, level=4), 400, "level"),
        ("an unknown reason", U["U_TZ"], "T_SUPER_TZ", dict(base, reason_code="lazy"), 400, "reason_code"),
        ("no reason_text", U["U_TZ"], "T_SUPER_TZ", {"level": 1, "reason_code": "overdue"}, 400, "reason_text"),
        ("a reason_text of 501 characters", U["U_TZ"], "T_SUPER_TZ", dict(base, reason_text="督" * 501), 400, "reason_text"),
        ("a case_id that is no uuid", U["U_TZ"], "T_SUPER_TZ", dict(base, case_id="not-a-uuid-at-all-but-36-chars-long!"), 400, "case_id"),
        ("an unknown case", U["U_TZ"], "T_SUPER_TZ", dict(base, case_id=str(uuid.uuid4())), 400, "case_id"),
        ("an unknown field", U["U_TZ"], "T_SUPER_TZ", dict(base, urgent=True), 400, "urgent"),
        ("a level as text", U["U_TZ"], "T_SUPER_TZ", dict(base, level="3"), 400, "level"),
        ("another region's unit", U["U_TZ"], "T_CENTRE_NN", base, 404, None),
        ("an interview where the profile has none (枣阳)", U["U_ZY"], "T_CENTRE_ZY", base, 422, "level"),
        ("a unit principal", U["U_TZ"], "T_UNIT_TZ", base, 403, None)):
    s, r, _ = call("POST", f"/v1/units/{unit}/supervision", T[tok], body)
    check(f"  {what} → {want}" + (f", field {field}" if field else ""), s == want and is_err(r, field), (s, r))
check("  … nothing written", counts() == before, (before, counts()))
s, r, h = call("POST", f"/v1/units/{U['U_TZ']}/supervision", T["T_SUPER_TZ"], dict(base, case_id=t2))
check("a supervisor issues an interview notice (level 3) → 201 with Location", s == 201 and r.get("level") == 3
      and h.get("Location") == f"/v1/supervision/{r.get('notice_id')}" and isinstance(r.get("issued_by"), int), r)
m = r.get("notice_id", "")
check("  … announced (supervision.issued on the unit topic, the supervisor as actor) and audited",
      sql(f"SELECT count(*) FROM outbox WHERE topic = 'jiesu.unit-events' AND payload::jsonb->'payload'->>'notice_id' = '{m}' "
          f"AND payload::jsonb->'actor'->>'role' = 'supervisor'") == "1"
      and sql(f"SELECT count(*) FROM audit_log WHERE action = 'supervision.issue' AND object = 'supervision:{m}'") == "1")
s, html, _ = call("GET", f"/v1/supervision/{m}/notice", T["T_LEADER"])
check("  … printed as 约谈通知书", s == 200 and "约谈通知书" in html, str(html)[:200])

# ---- a claimed contact that did not happen (from the revisit's event) -----------------------------------
print("a claimed contact that did not happen (case.revisit_recorded with disputed contacts):")


def fraud_notice_id(event_id):
    """common/supnotice.c's rule, written again: a name-based UUID (version 8) from SHA-256."""
    b = bytearray(hashlib.sha256(("jiesu:notice:fraud:" + event_id).encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def revisit_event(case_id, unit, channel, disputed, at=None):
    p = {"handling_round": 1, "attempt": 1, "channel": channel, "reached": True, "contact_verified": False,
         "result_true": True, "satisfaction": "satisfied", "sampled": False, "disputed_contact_ids": disputed}
    if unit:
        p["unit_id"] = unit
    return emit(case_id, "case.revisit_recorded", p, at)


f1 = make_case("370481", "resolved", U["U_TZ2"])
bad_contact = str(uuid.uuid4())
ev1 = revisit_event(f1, U["U_TZ2"], "phone", [bad_contact])
fid = fraud_notice_id(ev1)
check("a supervisor's call that disputes a contact → the watcher issues the notice under the derived id",
      wait_sql(f"SELECT count(*) FROM supervision_notices WHERE id = '{fid}'", 1, 30))
s, n, _ = call("GET", f"/v1/supervision/{fid}", T["T_SUPER_TZ"])
check("  … level 3 (滕州 has interviews), reason fraud, the disputed contact, the event as its source, reply clock armed",
      s == 200 and n["level"] == 3 and n["reason_code"] == "fraud" and n["unit_id"] == U["U_TZ2"] and n["case_id"] == f1
      and n.get("source_event_id") == ev1 and n["reply_clock"] == "armed"
      and sql(f"SELECT contact_ids::text FROM supervision_notices WHERE id = '{fid}'") == "{" + bad_contact + "}", n)
check("  … announced once (supervision.issued on the unit topic)",
      sql(f"SELECT count(*) FROM outbox WHERE topic = 'jiesu.unit-events' AND payload::jsonb->>'type' = 'supervision.issued' "
          f"AND payload::jsonb->'payload'->>'notice_id' = '{fid}'") == "1")
s, sup, _ = call("GET", f"/v1/units/{U['U_TZ2']}/supervision", T["T_CENTRE_TZ"])
check("  … in the unit's view: an unreplied notice and an interview (source notice)", s == 200
      and any(x["notice_id"] == fid for x in sup.get("notices", [])) and sup["summary"]["unreplied"] >= 1
      and any(i.get("notice_id") == fid and i["source"] == "notice" for i in sup.get("interviews", [])), sup)
s, html, _ = call("GET", f"/v1/supervision/{fid}/notice", T["T_CENTRE_TZ"])
check("  … printable as 约谈通知书", s == 200 and "约谈通知书" in html and "虚假信息" in html, str(html)[:200])
s, r, _ = call("POST", f"/v1/supervision/{fid}/reply", T["T_UNIT_TZ2"], {"reply_text": "已核查经办人，确未联系企业，已严肃处理。"})
check("  … the unit's reply closes it (reply clock cancelled)", s == 200 and r.get("reply_clock") == "cancelled", r)
# its reply clock is enforced like any notice's: a fraud notice left unanswered past its deadline
# breaches (the deadline moved into the past in PostgreSQL, the truth; Redis loses its schedule
# and the watcher rebuilds it from there) and, 滕州 having cards, the unit gets a yellow card
f3 = make_case("370481", "resolved", U["U_TZ2"])
ev4 = revisit_event(f3, U["U_TZ2"], "field_visit", [str(uuid.uuid4())])
fid3 = fraud_notice_id(ev4)
wait_sql(f"SELECT count(*) FROM timers WHERE notice_id = '{fid3}' AND state = 'armed'", 1, 30)
sql(f"UPDATE timers SET due_at = now() - interval '1 second', warn_at = NULL WHERE notice_id = '{fid3}' AND state = 'armed'")
rh, rp = os.environ["JIESU_REDIS_ADDR"].rsplit(":", 1)
subprocess.run(["redis-cli", "-h", rh, "-p", rp, "DEL", os.environ["WATCH_REDIS_PREFIX"] + ":marker"], capture_output=True)
check("an unanswered fraud notice breaches its reply clock (timer.breached on the unit topic) and earns a yellow card",
      wait_sql(f"SELECT count(*) FROM timers WHERE notice_id = '{fid3}' AND state = 'fired'", 1, 30)
      and wait_sql(f"SELECT count(*) FROM outbox WHERE topic = 'jiesu.unit-events' AND payload::jsonb->>'type' = "
                   f"'timer.breached' AND payload::jsonb->'payload'->>'notice_id' = '{fid3}'", 1, 10)
      and wait_sql(f"SELECT count(*) FROM unit_cards WHERE unit_id = {U['U_TZ2']} AND colour = 'yellow' AND "
                   f"reason_code = 'missed_feedback_deadline'", 1, 10))
s, n, _ = call("GET", f"/v1/supervision/{fid3}", T["T_SUPER_TZ"])
check("  … the notice shows its reply clock fired", s == 200 and n.get("reply_clock") == "fired", n)
f2 = make_case("370481", "resolved", U["U_TZ2"])
ev2 = revisit_event(f2, U["U_TZ2"], "online_rating", [str(uuid.uuid4())])
ev3 = revisit_event(f2, None, "phone", [str(uuid.uuid4())])
check("an online self-rating that disputes it, or an event naming no unit → no notice",
      wait_sql(f"SELECT count(*) FROM consumed_events WHERE consumer = 'deadline-watcher' AND event_id IN ('{ev2}', '{ev3}')", 2, 30)
      and sql(f"SELECT count(*) FROM supervision_notices WHERE case_id = '{f2}'") == "0")

# a call made when the year its reply window starts in has no calendar: the notice is not guessed
# — the case is flagged with all it takes — and it is issued, from the call's instant, once the
# year is loaded (here 2024, which no shipped file covers)
f4 = make_case("420683", "resolved", U["U_ZY"])
ev5 = revisit_event(f4, U["U_ZY"], "phone", [str(uuid.uuid4())], at=datetime.datetime(2024, 6, 3, 10, 0, tzinfo=CST))
fid5 = fraud_notice_id(ev5)
check("a fraud call whose reply window needs 2024 (no calendar) → flagged calendar_missing, no notice guessed",
      wait_sql(f"SELECT count(*) FROM deadline_flags WHERE case_id = '{f4}' AND timer_kind = 'supervision_reply' AND "
               f"problem = 'calendar_missing' AND year = 2024 AND resolved_at IS NULL AND facts->>'notice_id' = '{fid5}'", 1, 30)
      and sql(f"SELECT count(*) FROM supervision_notices WHERE id = '{fid5}'") == "0")
s, r, _ = call("PUT", "/v1/calendar/2024", T["T_OPERATOR"], cal_doc(2024, [
    {"kind": "rest", "first": "2024-01-01", "name": "元旦"},
    {"kind": "rest", "first": "2024-06-10", "name": "端午节"},
    {"kind": "work", "first": "2024-09-29", "name": "国庆节调休上班"},
    {"kind": "rest", "first": "2024-10-01", "last": "2024-10-07", "name": "国庆节"},
    {"kind": "work", "first": "2024-10-12", "name": "国庆节调休上班"}], source="国务院办公厅关于2024年部分节假日安排的通知（节选）"))
check("  … 2024 loaded → the notice issued at once under its id, dated at the call, 枣阳's level 2, flag resolved",
      s == 201 and wait_sql(f"SELECT count(*) FROM supervision_notices WHERE id = '{fid5}' AND level = 2 AND "
                            f"reason_code = 'fraud' AND source_event_id = '{ev5}' AND "
                            f"issued_at = '2024-06-03T10:00:00+08:00' AND reply_due_at = '2024-06-11T23:59:59+08:00'", 1, 15)
      and sql(f"SELECT count(*) FROM deadline_flags WHERE case_id = '{f4}' AND resolved_at IS NOT NULL") == "1"
      and sql(f"SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'supervision.issued' AND "
              f"payload::jsonb->'payload'->>'notice_id' = '{fid5}'") == "1", (s, r))
check("  … its reply deadline (5 days from the call, moved off 端午 to 2024-06-11) long past: the reply clock fires at once, its lateness recorded",
      wait_sql(f"SELECT count(*) FROM timers WHERE notice_id = '{fid5}' AND state = 'fired' AND lateness_ms > 0", 1, 15))

# ---- the monthly review ------------------------------------------------------------------------------
print("the monthly review (汕头: the 25th, 5 working days late):")
today = now()
month = today.strftime("%Y-%m")
s1 = make_case("440507", "in_progress", U["U_ST"])
s2 = make_case("440507", "in_progress", U["U_ST"])
s3 = make_case("440507", "in_progress", U["U_ST"])
signed(s1, U["U_ST"], resolve_by=today - datetime.timedelta(days=30))
signed(s2, U["U_ST"], resolve_by=today - datetime.timedelta(days=1))
signed(s3, U["U_ST"], resolve_by=today + datetime.timedelta(days=30))
check("three clocks armed (two already past: they breach at once)",
      wait_sql(f"SELECT count(*) FROM timers WHERE case_id IN ('{s1}', '{s2}', '{s3}') AND kind = 'resolve_by'", 3, 30)
      and wait_sql(f"SELECT count(*) FROM timers WHERE case_id IN ('{s1}', '{s2}') AND state = 'fired'", 2, 10))
s, r, _ = call("GET", f"/v1/review/monthly?region=440500&month={month}", T["T_CENTRE_ST"])
ids = [c["case_id"] for c in r.get("cases", [])] if s == 200 else []
check("GET /v1/review/monthly → the profile's day and threshold, the seriously late case only",
      s == 200 and r.get("profile") == "shantou" and r.get("seriously_late_wd") == 5 and r.get("review_day", "").endswith("-25")
      and s1 in ids and s2 not in ids and s3 not in ids, r)
row = next((c for c in r.get("cases", []) if c["case_id"] == s1), {})
check("  … each with its unit, deadline and working days late", row.get("working_days_late", 0) >= 5
      and row.get("lead_unit_id") == U["U_ST"] and row.get("due_at"), row)
check("  … the list read is audited", sql(f"SELECT count(*) FROM audit_log WHERE action = 'case.list' AND object = 'review:440500:{month}'") == "1")
for what, q, tok, want, field in (
        ("a month that is no month", "region=440500&month=2026-13", "T_CENTRE_ST", 400, "month"),
        ("no month", "region=440500", "T_CENTRE_ST", 400, "month"),
        ("a region that is no code", f"region=abc&month={month}", "T_CENTRE_ST", 400, "region"),
        ("a profile without a review day (滕州)", f"region=370481&month={month}", "T_LEADER", 422, "region"),
        ("outside the centre's region", f"region=440500&month={month}", "T_CENTRE_TZ", 403, "region"),
        ("a unit", f"region=440500&month={month}", "T_UNIT_TZ", 403, None)):
    s, r, _ = call("GET", f"/v1/review/monthly?{q}", T[tok])
    check(f"  {what} → {want}" + (f", field {field}" if field else ""), s == want and is_err(r, field), (s, r))

# ---- pauses ------------------------------------------------------------------------------------------
print("pauses (only where the profile allows, with a reason, paused time credited):")
p1 = make_case("420684", "in_progress", U["U_YC"])
due = (now() + datetime.timedelta(days=5)).replace(hour=23, minute=59, second=59, microsecond=0)
signed(p1, U["U_YC"], resolve_by=due)
check("resolve-by armed", wait_sql(f"SELECT count(*) FROM timers WHERE case_id = '{p1}' AND kind = 'resolve_by' AND state = 'armed'", 1, 30))
zp = make_case("420683", "in_progress", U["U_ZY"])
signed(zp, U["U_ZY"], resolve_by=due)
wait_sql(f"SELECT count(*) FROM timers WHERE case_id = '{zp}' AND kind = 'resolve_by' AND state = 'armed'", 1, 30)
before = counts()
for what, case, tok, body, want, field in (
        ("a reason the profile does not list", p1, "T_UNIT_YC", {"reason": "force_majeure"}, 422, "reason"),
        ("a reason that is no reason", p1, "T_UNIT_YC", {"reason": "holiday"}, 400, "reason"),
        ("no reason", p1, "T_UNIT_YC", {}, 400, "reason"),
        ("an unknown field", p1, "T_UNIT_YC", {"reason": "awaiting_materials", "days": 3}, 400, "days"),
        ("a note of 501 characters", p1, "T_UNIT_YC", {"reason": "awaiting_materials", "note": "等" * 501}, 400, "note"),
        ("a profile that allows no pause (枣阳)", zp, "T_CENTRE_ZY", {"reason": "awaiting_materials"}, 422, "reason"),
        ("a unit that does not hold the case", p1, "T_UNIT_TZ", {"reason": "awaiting_materials"}, 404, None),
        ("an unknown case", str(uuid.uuid4()), "T_UNIT_YC", {"reason": "awaiting_materials"}, 404, None)):
    s, r, _ = call("POST", f"/v1/cases/{case}/pauses", T[tok], body)
    check(f"  {what} → {want}" + (f", field {field}" if field else ""), s == want and is_err(r, field), (s, r))
check("  … nothing written", counts() == before, (before, counts()))
s, r, _ = call("POST", f"/v1/cases/{p1}/pauses", T["T_UNIT_YC"], {"reason": "awaiting_materials", "note": "等待企业补充营业执照副本"})
pid = r.get("pause_id")
check("the lead unit pauses the clock (awaiting_materials) → 201", s == 201 and pid and r.get("kind") == "resolve_by", r)
s, r, _ = call("GET", f"/v1/cases/{p1}/timers", T["T_CENTRE_YC"])
check("  … the clock is paused and the pause listed", s == 200 and any(t.get("paused") for t in r.get("timers", []))
      and any(p["id"] == pid and "ended_at" not in p for p in r.get("pauses", [])), r)
s, r, _ = call("POST", f"/v1/cases/{p1}/pauses", T["T_CENTRE_YC"], {"reason": "third_party_procedure"})
check("  a second pause while paused → 409", s == 409 and is_err(r), r)
s, r, _ = call("POST", f"/v1/cases/{p1}/pauses/99999999/end", T["T_UNIT_YC"])
check("  ending a pause that does not exist → 404", s == 404 and is_err(r), r)
s, r, _ = call("POST", f"/v1/cases/{p1}/pauses/{pid}/end", T["T_UNIT_YC"], {"when": "now"})
check("  ending with a body → 400 naming the field", s == 400 and is_err(r, "when"), r)
time.sleep(1.0)
s, r, _ = call("POST", f"/v1/cases/{p1}/pauses/{pid}/end", T["T_UNIT_YC"])
check("the pause ends → 200, the deadline credited (a pause within a day gives back no working day)",
      s == 200 and r.get("due_before") == r.get("due_after") == iso(due).replace(".000", ""), r)
check("  … the clock runs again as a new generation; the paused one is stale",
      sql(f"SELECT string_agg(version || ':' || state || ':' || (paused_at IS NOT NULL), ',' ORDER BY version) FROM timers "
          f"WHERE case_id = '{p1}' AND kind = 'resolve_by'") == "1:stale:true,2:armed:false")
check("  … both audited", sql(f"SELECT count(*) FROM audit_log WHERE object = 'case:{p1}' AND action IN ('clock.pause', 'clock.resume')") == "2")
s, r, _ = call("POST", f"/v1/cases/{p1}/pauses/{pid}/end", T["T_UNIT_YC"])
check("  ending it again → 409", s == 409 and is_err(r), r)

print(f"{checks - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
