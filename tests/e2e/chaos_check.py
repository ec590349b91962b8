#!/usr/bin/env python3
"""tests/e2e/chaos_check.py — the client and the judge of tests/e2e/chaos.sh.

  plan     the appeals to send: N agent-registered, accepted appeals over Guangxi's counties and
           townships and the catalogue's matter types (mostly ones the catalogue dispatches by
           itself; some complex ones and some the catalogue reserves for the centre, which must
           wait in a queue), each with the outcome `jiesuctl catalogue route` predicts
  load     sends them through the intake instances while daemons are being killed: each appeal
           has its own Idempotency-Key; on a connection error, a 5xx or a timeout the SAME body is
           sent again with the SAME key (to the other instance first) until a 201 comes back,
           within a time bound; records key → case id and number. The lead units of a share of
           the catalogue's cases sign them through either dispatcher instance once dispatched; a
           signature whose answer a kill swallowed is not sent again blindly (the case's state
           says whether it committed)
  quiesce  waits (bounded) until the outbox is empty and every consumer has applied what it
           acts on, and the figures stop moving
  check    the invariants on the end state, one line each (exit 1 if any failed)

Python's standard library only; PostgreSQL through psql, Redis through redis-cli.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

DSN = os.environ.get("JIESU_PG_DSN", "")
fails = 0
checks = 0


def check(name, cond, detail=""):
    global fails, checks
    checks += 1
    if cond:
        print(f"  ok   {name}", flush=True)
    else:
        fails += 1
        print(f"  FAIL {name} {str(detail)[:1500]}", flush=True)
    return cond


def rows(q):
    """The rows of a query as a list of dicts (json_agg through psql)."""
    out = subprocess.run(["psql", "-tAq", "-v", "ON_ERROR_STOP=1", DSN, "-c",
                          f"SELECT coalesce(json_agg(t), '[]') FROM ({q}) t"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"sql failed: {out.stderr.strip()[:300]}")
    return json.loads(out.stdout)


def one(q):
    r = rows(q)
    return list(r[0].values())[0] if r else None


# ---- plan ------------------------------------------------------------------------------------

A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def credit_code(division, serial):
    """A valid 统一社会信用代码 (GB 32100-2015) for the serial: one enterprise per appeal, so
    intake links none of them as a duplicate of another."""
    body8 = f"{serial:08d}"
    ws = [3, 7, 9, 10, 5, 8, 4, 2]
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body8, ws)) % 11
    org = body8 + ("X" if c == 10 else "0" if c == 11 else str(c))
    s17 = "91" + division + org
    return s17 + A[(31 - sum(A.index(ch) * w for ch, w in zip(s17, W)) % 31) % 31]


ROUTE_RE = re.compile(r"lead (\S+?)(?:, co-handlers ([^;]+))?; dispatch (automatic|by the centre)")


def route(ctl, matter, region):
    """What the catalogue says for (matter, region): ('auto', lead, [co…]) or ('queue', reason)."""
    out = subprocess.run([ctl, "catalogue", "route", "--matter-type", matter, "--region", region],
                         capture_output=True, text=True)
    m = ROUTE_RE.search(out.stdout)
    if out.returncode != 0 or "no entry" in out.stdout:
        return ("queue", "no_catalogue_entry", None, [])
    if m is None:
        raise RuntimeError(f"cannot read the route of {matter} at {region}: {out.stdout} {out.stderr}")
    co = [c.strip() for c in m.group(2).split(",")] if m.group(2) else []
    if m.group(3) != "automatic":
        return ("queue", "centre_decides", m.group(1), co)
    return ("auto", None, m.group(1), co)


def cmd_plan(a):
    rnd = random.Random(a.seed)
    counties = [r["code"] for r in rows("SELECT code FROM regions WHERE tier = 3 AND parent_code IN "
                                        "('450100', '450200', '450300', '450400', '450500') ORDER BY code")]
    towns = [r["code"] for r in rows("SELECT code FROM regions WHERE tier = 4 AND left(code, 6) IN "
                                     "('450103', '450105', '450202', '450305') ORDER BY code")]
    matters = [r["matter_type"] for r in rows("SELECT DISTINCT matter_type FROM catalogue_entries ORDER BY 1")]
    if not counties or not towns or not matters:
        raise SystemExit("plan: the territory or the catalogue is not loaded")
    # a pool of (matter, region) pairs, so a few dozen route look-ups cover every appeal
    pool = []
    for _ in range(a.pairs):
        pool.append((rnd.choice(matters), rnd.choice(counties if rnd.random() < 0.75 else towns)))
    routes = {}
    for p in sorted(set(pool)):
        routes[p] = route(a.ctl, *p)
    kinds = ["complaint", "help", "suggestion", "report", "consultation"]
    appeals = []
    for i in range(a.n):
        matter, region = rnd.choice(pool)
        complexity = "complex" if rnd.random() < 0.08 else rnd.choice(["simple", "general", "general"])
        kind = rnd.choice(kinds)
        what, reason, lead, co = routes[(matter, region)]
        if what == "auto" and complexity == "complex":
            what, reason = "queue", "complex"  # seed 001: the centre names a complex case's lead
        key = f"chaos-{a.run}-{i:04d}"
        serial = 10_000_000 + (a.seed * 1000 + i) % 90_000_000  # 8 digits, distinct per appeal
        body = {
            "enterprise_name": f"广西混沌测试第{i}号商贸有限公司", "credit_code": credit_code(region[:6], serial),
            "address": f"某路{i}号", "region_code": region, "contact_name": "测试联系人",
            "contact_phone": "13907710000", "channel": rnd.choice(["hotline", "window", "field_visit", "web"]),
            "kind": kind, "summary": f"{matter}方面的诉求（{key}）",
            "body": f"我公司反映{matter}方面的问题，编号{key}，影响正常经营，请协调解决。",
            "decision": {"action": "accept", "complexity": complexity, "matter_type": matter},
        }
        sign = what == "auto" and rnd.random() < a.sign_share
        appeals.append({"i": i, "key": key, "body": body, "expect": what, "reason": reason, "lead": lead,
                        "co": co, "matter": matter, "region": region, "kind": kind, "sign": sign})
    json.dump({"seed": a.seed, "run": a.run, "appeals": appeals}, open(a.out, "w"), ensure_ascii=False)
    n_auto = sum(1 for x in appeals if x["expect"] == "auto")
    print(f"  plan: {len(appeals)} appeals over {len(set(pool))} (matter, region) pairs: {n_auto} for the catalogue "
          f"to dispatch ({sum(1 for x in appeals if x['sign'])} of them to be signed by their lead unit during the "
          f"chaos), {len(appeals) - n_auto} to wait for a person "
          f"({', '.join(sorted(set(x['reason'] for x in appeals if x['reason'])))})")


# ---- load ------------------------------------------------------------------------------------

def post(url, token, key, data, timeout):
    """One attempt. Returns (status, answer or None, what went wrong or None)."""
    req = urllib.request.Request(url + "/v1/appeals", data=data, method="POST", headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + token, "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), None
    except urllib.error.HTTPError as e:
        txt = e.read()
        try:
            j = json.loads(txt)
        except ValueError:
            j = {"_raw": txt.decode(errors="replace")[:200]}
        return e.code, j, None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError,
            OSError) as e:
        return 0, None, type(e).__name__ + ": " + str(getattr(e, "reason", e))[:80]


def call(method, url, token, body=None, timeout=10.0):
    """One attempt at any call. Returns (status, answer or None, what went wrong or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), None
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read()), None
        except ValueError:
            return e.code, None, None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError,
            OSError) as e:
        return 0, None, type(e).__name__


def sign_case(ap, cid, urls, token, end, timeout):
    """The lead unit signs the case once it is dispatched, through either dispatcher instance. A
    sign whose answer was lost to a kill is not repeated blindly: the case's state says whether
    it committed (signing is guarded by the case version, so a second one would get 409)."""
    k = 0
    tries = 0
    while time.time() < end:
        base = urls[(ap["i"] + k) % len(urls)]
        k += 1
        st, h, err = call("GET", f"{base}/v1/cases/{cid}/handling", token, timeout=timeout)
        if st != 200:
            time.sleep(0.2)
            continue
        if h["state"] == "in_progress":
            return {"signed": True, "sign_attempts": tries}
        if h["state"] != "dispatched":  # not routed yet
            time.sleep(0.3)
            continue
        tries += 1
        st, ans, err = call("POST", f"{base}/v1/cases/{cid}/sign", token, {"version": h["version"]}, timeout)
        if st == 200:
            return {"signed": True, "sign_attempts": tries}
        if st not in (0, 409) and st < 500:
            return {"signed": False, "sign_error": [st, ans]}
        time.sleep(0.1)
    return {"signed": False, "sign_error": "time bound reached"}


def cmd_load(a):
    plan = json.load(open(a.plan))
    urls = a.urls.split(",")
    durls = a.dispatch_urls.split(",")
    unit_tokens = json.load(open(a.unit_tokens))
    token = os.environ["CHAOS_AGENT_TOKEN"]
    signer = concurrent.futures.ThreadPoolExecutor(a.workers)
    signing = {}
    t0 = time.time()
    end = t0 + a.deadline_s
    lock = threading.Lock()
    stats = {"attempts": 0, "retries": 0, "replays": 0, "errors": {}}

    def send(ap):
        i = ap["i"]
        due = t0 + (i // a.burst) * a.burst / a.rate  # bursts at a steady mean rate, so the load overlaps the kills
        if due > time.time():
            time.sleep(due - time.time())
        data = json.dumps(ap["body"], ensure_ascii=False).encode()  # the same bytes every time
        k = 0
        last = None
        while time.time() < end:
            url = urls[(i + k) % len(urls)]
            k += 1
            st, ans, err = post(url, token, ap["key"], data, a.timeout_s)
            with lock:
                stats["attempts"] += 1
                if k > 1:
                    stats["retries"] += 1
            if st == 201:
                if ap["sign"]:
                    signing[i] = signer.submit(sign_case, ap, ans["case_id"], durls, unit_tokens[ap["lead"]], end,
                                               a.timeout_s)
                return {"i": i, "key": ap["key"], "status": 201, "case_id": ans["case_id"],
                        "case_no": ans["case_no"], "state": ans.get("state"), "attempts": k}
            what = err or f"HTTP {st}"
            with lock:
                stats["errors"][what.split(":")[0]] = stats["errors"].get(what.split(":")[0], 0) + 1
            last = (st, ans, err)
            if 400 <= st < 500 and st not in (408, 409, 429):
                return {"i": i, "key": ap["key"], "status": st, "answer": ans, "attempts": k}
            time.sleep(min(0.1 * k, 0.5))  # the restarted instance answers within a second or so
        return {"i": i, "key": ap["key"], "status": last[0] if last else 0, "error": str(last)[:300], "attempts": k}

    with concurrent.futures.ThreadPoolExecutor(a.workers) as ex:
        results = list(ex.map(send, plan["appeals"]))
    t_load = time.time() - t0
    for r in results:
        if r["i"] in signing:
            r.update(signing[r["i"]].result())
    signer.shutdown()
    signed = sum(1 for r in results if r.get("signed"))
    print(f"  sign: {signed}/{len(signing)} cases signed by their lead unit ({sum(r.get('sign_attempts', 0) for r in results)} "
          f"sign requests)", flush=True)
    json.dump({"results": results, "stats": stats, "seconds": round(time.time() - t0, 1)}, open(a.out, "w"),
              ensure_ascii=False)
    ok = sum(1 for r in results if r["status"] == 201)
    print(f"  load: {ok}/{len(results)} answered 201 in {t_load:.1f} s; {stats['attempts']} attempts, "
          f"{stats['retries']} of them retries; failed attempts by cause: {stats['errors'] or 'none'}", flush=True)


# ---- quiescence ------------------------------------------------------------------------------

PENDING_SQL = """
SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished,
       (SELECT count(*) FROM case_events e WHERE e.type = 'case.accepted' AND NOT EXISTS
          (SELECT 1 FROM consumed_events c WHERE c.consumer = 'dispatcher' AND c.event_id = e.event_id)) AS dispatcher,
       (SELECT count(*) FROM case_events e WHERE e.type IN ('case.dispatched', 'case.signed') AND NOT EXISTS
          (SELECT 1 FROM consumed_events c WHERE c.consumer = 'deadline-watcher' AND c.event_id = e.event_id)) AS watcher,
       (SELECT count(*) FROM case_events e WHERE NOT EXISTS
          (SELECT 1 FROM consumed_events c WHERE c.consumer = 'reporting' AND c.event_id = e.event_id)) AS reporting,
       (SELECT count(*) FROM cases) AS cases, (SELECT count(*) FROM case_events) AS events,
       (SELECT count(*) FROM timers) AS timers, (SELECT count(*) FROM case_units) AS holders,
       (SELECT coalesce(sum(received + dispatched), 0) FROM rep_month WHERE unit_id <> -1) AS rep
"""


def redis_members(prefix):
    host, port = os.environ["JIESU_REDIS_ADDR"].rsplit(":", 1)
    got = set()
    for k in ("schedule", "inflight"):
        out = subprocess.run(["redis-cli", "-h", host, "-p", port, "ZRANGE", f"{prefix}:{k}", "0", "-1"],
                             capture_output=True, text=True)
        got |= {x for x in out.stdout.split() if x}
    return got


def armed_members():
    return {f"{r['id']}:{r['version']}" for r in rows("SELECT id, version FROM timers WHERE state = 'armed'")}


def cmd_quiesce(a):
    t0 = time.time()
    last = None
    stable = 0
    while True:
        p = rows(PENDING_SQL)[0]
        done = p["unpublished"] == 0 and p["dispatcher"] == 0 and p["watcher"] == 0 and p["reporting"] == 0
        stable = stable + 1 if (done and p == last) else 0
        last = p
        if stable >= 2:  # three equal readings a second apart, nothing pending
            print(f"  quiet after {time.time() - t0:.1f} s: {p}", flush=True)
            return 0
        if time.time() - t0 > a.timeout_s:
            print(f"  not quiet after {a.timeout_s} s: {p}", flush=True)
            return 1
        time.sleep(0.5 if not done else 1.0)


# ---- the invariants --------------------------------------------------------------------------

def cmd_check(a):
    plan = json.load(open(a.plan))
    load = json.load(open(a.results))
    aps = {x["i"]: x for x in plan["appeals"]}
    res = {r["i"]: r for r in load["results"]}
    n = len(aps)

    print("every appeal registered exactly once:")
    bad = [r for r in res.values() if r["status"] != 201]
    check(f"each of the {n} appeals got its 201 within the time bound", not bad, bad[:5])
    cases = {c["id"]: c for c in rows(
        "SELECT c.id, c.case_no, c.region_code, c.state, c.version, c.kind, c.lead_unit_id, c.summary, "
        "to_char(c.received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS day FROM cases c")}
    check(f"the database holds exactly {n} cases (no duplicate, none lost)", len(cases) == n, len(cases))
    by_key = {}
    for c in cases.values():
        m = re.search(r"（(chaos-[^）]+)）", c["summary"])
        by_key.setdefault(m.group(1) if m else None, []).append(c["id"])
    dup = {k: v for k, v in by_key.items() if len(v) > 1}
    missing = [x["key"] for x in aps.values() if x["key"] not in by_key]
    check("one case per Idempotency-Key, told apart by the key written into each appeal's text",
          not dup and not missing and None not in by_key, {"dup": dup, "missing": missing[:10]})
    wrong = [r for r in res.values() if r["status"] == 201 and (
        r.get("state") != "accepted" or r["case_id"] not in cases or cases[r["case_id"]]["case_no"] != r["case_no"]
        or by_key.get(r["key"]) != [r["case_id"]])]
    check("every 201 answer names the case of its key, with that case number, accepted", not wrong, wrong[:5])
    idem = {r["idem_key"]: r["case_id"] for r in rows("SELECT idem_key, case_id FROM idempotency_keys")}
    check("the stored idempotency answers point at the same cases",
          all(idem.get(r["key"]) == r["case_id"] for r in res.values() if r["status"] == 201),
          [(r["key"], idem.get(r["key"]), r["case_id"]) for r in res.values()
           if r["status"] == 201 and idem.get(r["key"]) != r["case_id"]][:5])
    seq = rows("SELECT region_code, count(*) AS n, max(split_part(case_no, '-', 3)::int) AS hi, "
               "min(split_part(case_no, '-', 3)::int) AS lo, count(DISTINCT case_no) AS distinct_nos, "
               "(SELECT last_no FROM case_seq s WHERE s.region_code = c.region_code) AS last_no "
               "FROM cases c GROUP BY region_code")
    gaps = [s for s in seq if not (s["lo"] == 1 and s["hi"] == s["n"] == s["distinct_nos"] == s["last_no"])]
    check(f"case numbers run 1…n without a gap or a repeat in each of {len(seq)} regions", not gaps, gaps[:5])
    retried = sum(1 for r in res.values() if r.get("attempts", 1) > 1)
    print(f"       ({retried} appeals needed more than one attempt)")

    print("the history: every state change once, with its event, in version order:")
    evs = rows("SELECT case_id, type, case_version, event_id::text FROM case_events ORDER BY case_id, case_version")
    per = {}
    for e in evs:
        per.setdefault(e["case_id"], []).append(e)
    bad = [cid for cid, c in cases.items()
           if [e["case_version"] for e in per.get(cid, [])] != list(range(1, c["version"] + 1))]
    check("each case's events carry versions 1…version without a gap or a repeat", not bad,
          [(cid, [e["case_version"] for e in per.get(cid, [])], cases[cid]["version"]) for cid in bad[:5]])
    case_of = {r["case_id"]: r for r in res.values() if r["status"] == 201}
    exp_of = {cid: aps[r["i"]] for cid, r in case_of.items()}
    path = {"auto": ["case.received", "case.accepted", "case.dispatched"],
            "sign": ["case.received", "case.accepted", "case.dispatched", "case.signed"],
            "queue": ["case.received", "case.accepted"]}
    state = {"auto": "dispatched", "sign": "in_progress", "queue": "accepted"}

    def route_of(cid):
        x = exp_of[cid]
        return "sign" if x["sign"] else x["expect"]
    bad = [r for r in res.values() if aps[r["i"]]["sign"] and not r.get("signed")]
    check(f"each of the {sum(1 for x in aps.values() if x['sign'])} planned signatures went through (retried after "
          f"a kill until the case said in_progress)", not bad, bad[:5])
    bad = [cid for cid in cases if cid in exp_of and ([e["type"] for e in per.get(cid, [])] != path[route_of(cid)]
                                                      or cases[cid]["state"] != state[route_of(cid)])]
    check("each case's events are exactly its path, once each — received, accepted, dispatched (and signed where "
          "its unit signed); received, accepted where a person decides — and its state follows",
          not bad, [(cid, cases[cid]["state"], [e["type"] for e in per.get(cid, [])]) for cid in bad[:5]])

    print("dispatch: the catalogue's cases dispatched exactly once, the others left to a person:")
    auto = [cid for cid, x in exp_of.items() if x["expect"] == "auto"]
    queued = [cid for cid, x in exp_of.items() if x["expect"] == "queue"]
    units = {r["id"]: r["code"] for r in rows("SELECT id, code FROM units WHERE id IN (SELECT unit_id FROM case_units)")}
    holders = {}
    for h in rows("SELECT case_id, unit_id, role, released_at, signed_at IS NOT NULL AS signed FROM case_units"):
        holders.setdefault(h["case_id"], []).append(h)
    disp = {r["case_id"]: r for r in rows("SELECT case_id, attempts, queue, queue_reason, "
                                          "extract(epoch FROM sign_by) AS sign_by FROM case_dispatch")}
    bad = []
    for cid in auto:
        x, hs = exp_of[cid], holders.get(cid, [])
        leads = [units[h["unit_id"]] for h in hs if h["role"] == "lead" and h["released_at"] is None]
        cos = sorted(units[h["unit_id"]] for h in hs if h["role"] != "lead" and h["released_at"] is None)
        d = disp.get(cid) or {}
        signed = [h["signed"] for h in hs if h["role"] == "lead"] == [x["sign"]]
        if not signed or leads != [x["lead"]] or cos != sorted(x["co"]) \
                or len(hs) != 1 + len(x["co"]) or d.get("attempts") != 1 or units.get(cases[cid]["lead_unit_id"]) != x["lead"]:
            bad.append((cid, cases[cid]["state"], leads, cos, x["lead"], x["co"], d.get("attempts"), signed))
    check(f"{len(auto)} cases the catalogue dispatches: each dispatched once (attempt 1), to the catalogue's lead "
          f"and co-handlers, exactly one active lead, signed exactly where its unit signed", not bad, bad[:5])
    bad = [(cid, cases[cid]["state"], (disp.get(cid) or {}).get("queue_reason"), exp_of[cid]["reason"])
           for cid in queued if cases[cid]["state"] != "accepted" or holders.get(cid)
           or (disp.get(cid) or {}).get("queue_reason") != exp_of[cid]["reason"]]
    check(f"{len(queued)} cases for a person (complex, reserved for the centre): in the centre's queue with the "
          f"reason, no unit", not bad, bad[:5])

    print("deadlines: the clocks each case's events call for, each armed once:")
    tms = {}
    for t in rows("SELECT id, case_id, kind, version, state, extract(epoch FROM due_at) AS due FROM timers ORDER BY kind"):
        tms.setdefault(t["case_id"], []).append(t)

    def clocks(cid):
        return [(t["kind"], t["version"], t["state"]) for t in tms.get(cid, [])]
    unsigned = [cid for cid in auto if not exp_of[cid]["sign"]]
    signed = [cid for cid in auto if exp_of[cid]["sign"]]
    bad = [(cid, tms.get(cid)) for cid in unsigned
           if clocks(cid) != [("sign_for", 1, "armed")] or abs(tms[cid][0]["due"] - disp[cid]["sign_by"]) > 0.001]
    check(f"each of the {len(unsigned)} dispatched cases not signed has exactly one timer: sign_for, generation 1, "
          f"armed, due at the dispatch's sign_by", not bad, bad[:5])
    want = [("first_contact", 1, "armed"), ("resolve_by", 1, "armed"), ("sign_for", 1, "cancelled")]
    bad = [(cid, clocks(cid)) for cid in signed if clocks(cid) != want]
    check(f"each of the {len(signed)} signed cases: sign_for stopped, first_contact and resolve_by armed — one "
          f"generation each", not bad, bad[:5])
    check("no clock for the queued cases", not any(tms.get(cid) for cid in queued))
    # Redis hears of a change after the COMMIT: a watcher killed in between leaves an armed
    # generation out of the schedule (the catch-up scan fires it from PostgreSQL once overdue)
    # or a stopped one in it (dropped when it falls due: the row is no longer armed). Either is
    # allowed only where the change committed in the instant before a watcher was killed;
    # anything else is a bug — one was found this way (a flush that added after it removed).
    sched = redis_members(a.redis_prefix)
    armed = armed_members()
    kills = [float(x) for x in open(a.watcher_kills).read().split()] if a.watcher_kills else []
    changed = {r["m"]: r["at"] for r in rows(
        "SELECT t.id || ':' || t.version AS m, extract(epoch FROM t.armed_at) AS at FROM timers t WHERE t.state = 'armed'")}
    changed.update({r["m"]: r["at"] for r in rows(
        "SELECT t.id || ':' || t.version AS m, extract(epoch FROM ce.consumed_at) AS at FROM timers t "
        "JOIN case_events e ON e.case_id = t.case_id AND e.type = 'case.signed' LEFT JOIN consumed_events ce ON "
        "ce.consumer = 'deadline-watcher' AND ce.event_id = e.event_id WHERE t.state <> 'armed'")})

    def before_kill(m):
        return changed.get(m) is not None and any(k - 2.0 <= changed[m] <= k + 0.5 for k in kills)
    missing, extra = armed - sched, sched - armed
    check(f"the Redis schedule holds the {len(armed)} armed timers, but for {len(missing)} armed in the instant "
          f"before a watcher was killed (fired from PostgreSQL by the catch-up scan)",
          all(before_kill(m) for m in missing), [(m, changed.get(m)) for m in missing if not before_kill(m)][:5])
    check(f"  … and nothing else, but for {len(extra)} stopped generations whose stop committed in the instant "
          f"before a watcher was killed", all(before_kill(m) for m in extra),
          [(m, changed.get(m)) for m in extra if not before_kill(m)][:5])

    print("the outbox and the topic: every event published, none lost on the way:")
    ob = rows("SELECT event_id::text, topic, published_at IS NOT NULL AS published, payload::json->>'type' AS type "
              "FROM outbox")
    check("every outbox row is published", all(r["published"] for r in ob), sum(1 for r in ob if not r["published"]))
    check("no dead letter in the outbox (no consumer refused a message)",
          not [r for r in ob if r["topic"] == "jiesu.dead-letter"],
          [r for r in ob if r["topic"] == "jiesu.dead-letter"][:3])
    ce_ids = {e["event_id"] for e in evs}
    # the watcher's own timer.* events (a warning falling due during the run) also go to the topic
    timer_ids = {r["event_id"] for r in ob if (r["type"] or "").startswith("timer.")}
    ob_case = [r["event_id"] for r in ob if r["topic"] == "jiesu.case-events" and r["event_id"] not in timer_ids]
    check(f"one outbox row per case event ({len(ce_ids)}), in the same transactions",
          sorted(ob_case) == sorted(ce_ids) and len(ob) == len(ob_case) + len(timer_ids),
          (len(ob_case), len(ce_ids), len(ob), len(timer_ids)))
    seen = {}
    nlines = 0
    for line in open(a.topic_dump, encoding="utf-8", errors="replace"):
        line = line.strip()
        if not line:
            continue
        nlines += 1
        try:
            eid = json.loads(line).get("event_id")
        except ValueError:
            eid = None
        seen[eid] = seen.get(eid, 0) + 1
    lost = ce_ids - set(seen)
    foreign = set(seen) - ce_ids - timer_ids
    copies = sum(v - 1 for k, v in seen.items() if k in ce_ids)
    check(f"jiesu.case-events holds every one of the {len(ce_ids)} events at least once (read back from the broker)",
          not lost, sorted(lost)[:5])
    check("  … and nothing this database did not write", not foreign, sorted(str(x) for x in foreign)[:5])
    check(f"  … {copies} of them more than once ({nlines} messages): the {a.resent} rows unmarked during the chaos "
          f"were sent again, so the consumers below met copies", copies > 0 or a.resent == 0, (copies, a.resent))
    dl = [x for x in open(a.dead_dump, encoding="utf-8", errors="replace") if x.strip()]
    check("jiesu.dead-letter got nothing during the run", not dl, dl[:2])

    print("consumers: each event applied once:")
    cons = {}
    for r in rows("SELECT consumer, event_id::text FROM consumed_events"):
        cons.setdefault(r["consumer"], set()).add(r["event_id"])
    by_type = {}
    for e in evs:
        by_type.setdefault(e["type"], set()).add(e["event_id"])
    check("the dispatcher applied exactly the case.accepted events", cons.get("dispatcher", set()) == by_type.get("case.accepted", set()),
          len(cons.get("dispatcher", set()) ^ by_type.get("case.accepted", set())))
    wset = by_type.get("case.dispatched", set()) | by_type.get("case.signed", set())
    check("the deadline-watcher applied exactly the case.dispatched and case.signed events",
          cons.get("deadline-watcher", set()) == wset, len(cons.get("deadline-watcher", set()) ^ wset))
    check("reporting applied exactly the case events", cons.get("reporting", set()) - timer_ids == ce_ids,
          len((cons.get("reporting", set()) - timer_ids) ^ ce_ids))
    check("the revisit had nothing to apply (no result was submitted)", not cons.get("revisit"))

    print("reporting: figures equal to a count by hand from the cases:")
    rep = rows("SELECT count(*) AS n FROM rep_cases")[0]["n"]
    check(f"one read-model fact per case ({n})", rep == n, rep)
    days = sorted({c["day"] for c in cases.values()})
    hand = {}
    ndisp = {}
    for e in evs:
        if e["type"] == "case.dispatched":
            ndisp[e["case_id"]] = ndisp.get(e["case_id"], 0) + 1
    for cid, c in cases.items():
        for g in (("unit", c["lead_unit_id"]), ("kind", c["kind"])):
            h = hand.setdefault(g, {"received": 0, "accepted": 0, "dispatched": 0, "open": 0, "closed": 0,
                                    "refused": 0, "duplicates": 0, "responded_in_time": 0, "responded_late": 0})
            h["responded_in_time"] += sum(1 for e in per.get(cid, []) if e["type"] == "case.signed")
            h["received"] += 1
            h["accepted"] += 1
            h["open"] += 1
            h["dispatched"] += ndisp.get(cid, 0)
    q = f"from={days[0]}&to={days[-1]}"
    got = {}
    for g in ("unit", "kind"):
        st, body = get_json(f"{a.report_url}/v1/reports/measures?{q}&group={g}", a.leader_token)
        if st != 200:
            check(f"measures by {g} answer 200", False, (st, body))
            continue
        for r in body["rows"]:
            got[(g, r["unit_id"] if g == "unit" else r["kind"])] = {k: r["counts"][k] for k in hand[next(iter(hand))]}
    diff = {str(k): (hand.get(k), got.get(k)) for k in set(hand) | set(got) if hand.get(k) != got.get(k)}
    nunits = sum(1 for k in hand if k[0] == "unit")
    check(f"per unit ({nunits} units and the centres' queue) and per kind: received, accepted, dispatched, "
          f"responded in time and late, open, closed, refused, duplicates — 一致", not diff, diff)
    return 0


def get_json(url, token):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()[:300]


def cmd_measures(a):
    """The measures by unit and by kind for the run's days, printed as JSON (to compare across a rebuild)."""
    days = [r["d"] for r in rows("SELECT DISTINCT to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS d "
                                 "FROM cases ORDER BY 1")] or ["2000-01-01"]
    out = {}
    for g in ("unit", "kind", "region"):
        st, body = get_json(f"{a.report_url}/v1/reports/measures?from={days[0]}&to={days[-1]}&group={g}&region=450000",
                            a.leader_token)
        out[g] = body if st == 200 else {"status": st}
    print(json.dumps(out, ensure_ascii=False, sort_keys=True))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--pairs", type=int, default=36)
    p.add_argument("--sign-share", type=float, default=0.4)
    p.add_argument("--ctl", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("load")
    p.add_argument("--plan", required=True)
    p.add_argument("--urls", required=True)
    p.add_argument("--dispatch-urls", required=True)
    p.add_argument("--unit-tokens", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--burst", type=int, default=10)
    p.add_argument("--workers", type=int, default=10)
    p.add_argument("--timeout-s", type=float, default=10.0)
    p.add_argument("--deadline-s", type=float, default=120.0)
    p = sub.add_parser("quiesce")
    p.add_argument("--timeout-s", type=float, default=90.0)
    p = sub.add_parser("check")
    for k in ("plan", "results", "topic-dump", "dead-dump", "redis-prefix", "report-url", "leader-token"):
        p.add_argument("--" + k, required=True)
    p.add_argument("--resent", type=int, default=0)
    p.add_argument("--watcher-kills", default="")
    p = sub.add_parser("measures")
    p.add_argument("--report-url", required=True)
    p.add_argument("--leader-token", required=True)
    a = ap.parse_args()
    if a.cmd == "plan":
        cmd_plan(a)
    elif a.cmd == "load":
        cmd_load(a)
    elif a.cmd == "quiesce":
        sys.exit(cmd_quiesce(a))
    elif a.cmd == "check":
        cmd_check(a)
        print(f"  chaos_check: {checks - fails} passed, {fails} failed")
        sys.exit(1 if fails else 0)
    elif a.cmd == "measures":
        cmd_measures(a)


if __name__ == "__main__":
    main()
