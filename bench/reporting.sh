#!/usr/bin/env bash
# bench/reporting.sh — jiesu-reporting with ten million historical cases in its read models.
#
#   1. events: BENCH_EVENT_CASES (300,000) cases of September 2026 with their whole history
#      (received, accepted, dispatched, signed, result, revisit, closed; every tenth left open,
#      some late, some unsatisfied) written into cases and case_events with generate_series;
#      then `jiesu-reporting rebuild` folds them: the rebuild rate in events per second
#      (streaming, decoding every payload with the contract's codec, folding, writing).
#   2. history: the rest up to BENCH_CASES (10,000,000) cases over the 36 months before, spread
#      over Guangxi's counties and townships and the units of each (spread by hash, so a month
#      has tens of thousands of cube cells, as a real province would), written straight into the
#      read models in the shape the rebuild writes (facts, day and month cells), because
#      folding 60 million events here would take the disk and the hour this bench should not.
#   3. latency: jiesu-reporting (release, consumer off) answers, keep-alive, one client:
#      a province-wide measures query (one month, by city) and a unit's monthly bulletin,
#      300 requests each over varying months and units; p50 and p95 in milliseconds.
# Ends with: query_p95_ms=<n> bulletin_p95_ms=<n> rebuild_events_per_s=<n>
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_BIN:-build/release/bin}
[ -x "$BIN/jiesu-reporting" ] || BIN=build/debug/bin
STACK=${JIESU_STACK_DIR:-.stack}
. "$STACK/env"
export PGOPTIONS="-c client_min_messages=warning"
DSN=$JIESU_PG_TEST_DSN
PORT=${BENCH_PORT:-18385}
EVENT_CASES=${BENCH_EVENT_CASES:-300000}
CASES=${BENCH_CASES:-10000000}
HIST=$((CASES - EVENT_CASES))
q() { psql -q -v ON_ERROR_STOP=1 "$DSN" "$@"; }
t0=$SECONDS
rate=0
if [ "${BENCH_SKIP_LOAD:-0}" != 1 ]; then
echo "== binaries: $BIN; disk before: $(df -h --output=avail /work 2>/dev/null | tail -1 | tr -d ' ') free"

echo "== a scratch schema in jiesu_test, the territory"
q -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public"
JIESU_PG_DSN=$DSN "$BIN/jiesuctl" migrate >/dev/null
JIESU_PG_DSN=$DSN "$BIN/jiesuctl" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null
LEADER=$(JIESU_PG_DSN=$DSN "$BIN/jiesuctl" principal add --role leader --name 压测领导 --region 450000)
TOKEN=$(JIESU_PG_DSN=$DSN "$BIN/jiesuctl" token issue --principal "$LEADER")
# every county and township that has handling units, with them
q <<'SQL'
CREATE TABLE bench_places AS
  SELECT row_number() OVER (ORDER BY r.code) - 1 AS idx, r.code, r.tier, array_agg(u.id ORDER BY u.id) AS units
    FROM regions r JOIN units u ON u.region_code = r.code AND u.kind IN ('department', 'township', 'zone')
   WHERE r.tier >= 3 GROUP BY r.code, r.tier;
SQL
NPLACES=$(psql -tA "$DSN" -c "SELECT count(*) FROM bench_places")
echo "   $NPLACES places with units"

echo "== 1. $EVENT_CASES cases with their history in case_events"
q -v n="$EVENT_CASES" -v np="$NPLACES" <<'SQL'
CREATE TEMP TABLE bc AS
  SELECT i, md5('bench-case-' || i)::uuid AS id, p.code AS region, p.tier,
         p.units[1 + abs(hashint4(i * 13 + 2)) % cardinality(p.units)] AS unit,
         (timestamp '2026-09-01 09:00' + ((i % 30) || ' days')::interval + ((i * 7) % 480 || ' minutes')::interval)
           AT TIME ZONE 'Asia/Shanghai' AS t0,
         (ARRAY['consultation', 'help', 'complaint', 'report', 'suggestion'])[1 + abs(hashint4(i * 7 + 1)) % 5] AS kind
    FROM generate_series(1, :n) AS i JOIN bench_places p ON p.idx = abs(hashint4(i)) % :np;
CREATE FUNCTION pg_temp.ts(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT to_char(t AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"') $$;
INSERT INTO cases (id, case_no, region_code, tier, state, version, kind, channel, enterprise_name, summary, body,
                   lead_unit_id, received_at, closed_at)
  SELECT id, region || '-2026-' || lpad(i::text, 7, '0'), region, tier, CASE WHEN i % 10 = 0 THEN 'in_progress' ELSE 'closed' END,
         CASE WHEN i % 10 = 0 THEN 4 ELSE 7 END, kind, 'web', '压测企业' || i, '压测诉求', '压测诉求全文', unit, t0,
         CASE WHEN i % 10 = 0 THEN NULL ELSE t0 + interval '6 days' END FROM bc;
INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload)
  SELECT md5('e1-' || i)::uuid, id, 'case.received', 1, t0, jsonb_build_object('case_no', region || '-2026-' || lpad(i::text, 7, '0'),
         'region_code', region, 'kind', kind, 'channel', 'web', 'enterprise', jsonb_build_object('name', '压测企业' || i,
         'credit_code', '91450103745632897U'), 'summary', '压测诉求', 'confidential', false, 'received_at', pg_temp.ts(t0)) FROM bc;
INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload)
  SELECT md5('e2-' || i)::uuid, id, 'case.accepted', 2, t0 + interval '1 hour',
         jsonb_build_object('complexity', 'general', 'matter_type', '压测事项' || (i % 40)) FROM bc;
INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload)
  SELECT md5('e3-' || i)::uuid, id, 'case.dispatched', 3, t0 + interval '2 hours',
         jsonb_build_object('lead_unit_id', unit, 'co_handler_unit_ids', '[]'::jsonb, 'tier', 'county', 'catalogue_version', 1,
         'basis', 'catalogue', 'attempt', 1, 'sign_by', pg_temp.ts(t0 + interval '1 day')) FROM bc;
INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload)
  SELECT md5('e4-' || i)::uuid, id, 'case.signed', 4, t0 + interval '5 hours',
         jsonb_build_object('unit_id', unit, 'within_deadline', i % 7 <> 0, 'resolve_by', pg_temp.ts(t0 + interval '7 days')) FROM bc;
INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload)
  SELECT md5('e5-' || i)::uuid, id, 'case.result_submitted', 5, t0 + interval '4 days',
         jsonb_build_object('unit_id', unit, 'handling_round', 1, 'finding', 'true', 'measures', '已办理并告知企业',
         'how_told', 'phone', 'told_at', pg_temp.ts(t0 + interval '4 days'), 'within_deadline', i % 5 <> 0,
         'attachment_ids', '[]'::jsonb) FROM bc WHERE i % 10 <> 0;
INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload)
  SELECT md5('e6-' || i)::uuid, id, 'case.revisit_recorded', 6, t0 + interval '5 days',
         jsonb_build_object('handling_round', 1, 'attempt', 1, 'channel', 'phone', 'reached', true, 'contact_verified', true,
         'result_true', true, 'satisfaction', (ARRAY['very_satisfied', 'satisfied', 'basically_satisfied', 'unsatisfied',
         'very_satisfied', 'satisfied'])[1 + i % 6], 'sampled', false) FROM bc WHERE i % 10 <> 0;
INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload)
  SELECT md5('e7-' || i)::uuid, id, 'case.closed', 7, t0 + interval '6 days',
         jsonb_build_object('basis', 'centre_decision', 'resolved', i % 4 <> 0, 'handling_rounds', 1,
         'handling_working_days', 1 + i % 12) FROM bc WHERE i % 10 <> 0;
SQL
EVENTS=$(psql -tA "$DSN" -c "SELECT count(*) FROM case_events")
echo "   $EVENTS events ($((SECONDS - t0)) s so far)"
q -c "VACUUM ANALYZE case_events"

echo "== rebuild from case_events"
out=$(JIESU_PG_DSN=$DSN "$BIN/jiesu-reporting" rebuild)
echo "   $out"
rate=$(printf '%s' "$out" | sed -n 's/.*events_per_s=\([0-9]*\).*/\1/p')

echo "== 2. $HIST more cases of the 36 months before, straight into the read models"
q -v n="$HIST" -v np="$NPLACES" <<'SQL'
INSERT INTO rep_cases (case_id, case_no, known, received_at, received_day, region_code, kind, channel, credit_code, tier,
                       unit_id, state, matter_type, accepted, closed, solved, sign_pending, due_at, dispatches, results,
                       late_results, finding, resolved_at, closed_at, handling_wd, redo, revisits, grade, events,
                       last_event_at, open_handling)
  SELECT md5('hist-' || i)::uuid, p.code || '-H-' || i, true, t0, (t0 AT TIME ZONE 'Asia/Shanghai')::date, p.code,
         (ARRAY['consultation', 'help', 'complaint', 'report', 'suggestion'])[1 + abs(hashint4(i * 7 + 1)) % 5], 'web', '',
         p.tier, p.units[1 + abs(hashint4(i * 13 + 2)) % cardinality(p.units)], CASE WHEN op THEN 'in_progress' ELSE 'closed' END,
         '压测事项' || (i % 40), true, NOT op, NOT op AND i % 4 <> 0, false, t0 + interval '7 days', 1,
         CASE WHEN op THEN 0 ELSE 1 END, CASE WHEN NOT op AND i % 5 = 0 THEN 1 ELSE 0 END, 'true', t0 + interval '4 days',
         CASE WHEN op THEN NULL ELSE t0 + interval '6 days' END, CASE WHEN op THEN -1 ELSE 1 + i % 12 END, 0,
         CASE WHEN op THEN 0 ELSE 1 END, CASE WHEN op THEN 0 ELSE 1 + i % 5 END, 7, t0 + interval '6 days', op
    FROM (SELECT i, (timestamptz '2023-09-01 09:00+08' + (i::float8 / :n * 1095 || ' days')::interval) AS t0,
                 i % 997 = 0 AS op FROM generate_series(1, :n) AS i) g
    JOIN bench_places p ON p.idx = abs(hashint4(i)) % :np;
SQL
echo "   facts written ($((SECONDS - t0)) s so far); the cube from them"
HSUM=$(for k in $(seq 0 41); do printf '%scount(*) FILTER (WHERE w = %d)' "$([ $k -gt 0 ] && echo ', ')" "$k"; done)
for t in day month month_all; do
  key=$([ $t = day ] && echo "received_day" || echo "date_trunc('month', received_day)::date")
  unit=$([ $t = month_all ] && echo "-1" || echo "unit_id")  # month_all: the all-units rollup rows
  q <<SQL
INSERT INTO rep_${t%_all}
  SELECT $key, region_code, $unit, tier, kind, count(*), count(*), 0, 0, count(*), count(*) FILTER (WHERE (hashtext(case_no) & 7) <> 0),
         count(*) FILTER (WHERE (hashtext(case_no) & 7) = 0), count(*) FILTER (WHERE NOT open_handling AND late_results = 0),
         count(*) FILTER (WHERE NOT open_handling AND late_results > 0), count(*) FILTER (WHERE open_handling),
         count(*) FILTER (WHERE closed), count(*) FILTER (WHERE solved), count(*) FILTER (WHERE grade BETWEEN 1 AND 5),
         count(*) FILTER (WHERE grade = 1), count(*) FILTER (WHERE grade = 2), count(*) FILTER (WHERE grade = 3),
         count(*) FILTER (WHERE grade = 4), count(*) FILTER (WHERE grade = 5), 0, count(*) FILTER (WHERE closed),
         coalesce(sum(handling_wd) FILTER (WHERE closed), 0), $HSUM
    FROM (SELECT *, CASE WHEN closed THEN least(handling_wd, 41) END AS w FROM rep_cases WHERE case_no LIKE '%-H-%') x
   GROUP BY 1, 2, 3, 4, 5;
SQL
done
q <<'SQL'
INSERT INTO rep_unit_day (day, unit_id, yellow, red, n1, n2, n3)
  SELECT d::date, u.id, 1, (u.id % 5 = 0)::int, 1, (u.id % 3 = 0)::int, 0
    FROM generate_series(date '2023-09-01', date '2026-10-31', interval '9 days') d
    JOIN units u ON u.id % 17 = (extract(doy FROM d)::int % 17) AND u.kind IN ('department', 'township', 'zone');
UPDATE rep_state SET cases = (SELECT count(*) FROM rep_cases);
VACUUM ANALYZE rep_cases;
VACUUM ANALYZE rep_day;
VACUUM ANALYZE rep_month;
VACUUM ANALYZE rep_unit_day;
SQL
psql -tA "$DSN" -c "SELECT 'read models: ' || (SELECT count(*) FROM rep_cases) || ' cases, ' || (SELECT count(*) FROM rep_day) ||
  ' day cells, ' || (SELECT count(*) FROM rep_month) || ' month cells, ' || pg_size_pretty(pg_database_size(current_database()))"
echo "   ($((SECONDS - t0)) s so far; disk free now $(df -h --output=avail /work 2>/dev/null | tail -1 | tr -d ' '))"

fi # BENCH_SKIP_LOAD=1: the read models of the last run, latency only (no rebuild figure)
[ "${BENCH_SKIP_LOAD:-0}" = 1 ] && TOKEN=$(JIESU_PG_DSN=$DSN "$BIN/jiesuctl" token issue --principal \
  "$(psql -tA "$DSN" -c "SELECT id FROM principals WHERE name = '压测领导' LIMIT 1")")

echo "== 3. latency"
LOG=$(mktemp)
"$BIN/jiesu-reporting" --http-port=$PORT --pg-dsn="$DSN" --log-level=warn --consume=false --outbox-relay=false 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f $LOG' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
UNITS=$(psql -tA "$DSN" -c "SELECT string_agg(unit_id::text, ',') FROM (SELECT unit_id FROM rep_month WHERE month = '2026-08-01' AND unit_id > 0
  GROUP BY unit_id ORDER BY sum(received) DESC LIMIT 50) x")
res=$(python3 - "$PORT" "$TOKEN" "$UNITS" <<'PY'
import http.client, sys, time
port, token, units = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
H = {"Authorization": "Bearer " + token}
months = ["2026-%02d" % m for m in range(1, 10)] + ["2025-%02d" % m for m in range(1, 13)]
def run(paths, n=300):
    ts = []
    for i in range(n + 10):
        p = paths(i)
        t = time.perf_counter()
        c.request("GET", p, headers=H)
        r = c.getresponse(); body = r.read()
        if r.status != 200: raise SystemExit(f"{p}: {r.status} {body[:200]}")
        if i >= 10: ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return ts[len(ts) // 2], ts[int(len(ts) * 0.95) - 1]
q50, q95 = run(lambda i: f"/v1/reports/measures?month={months[i % len(months)]}&group=region&level=city")
u50, u95 = run(lambda i: f"/v1/reports/measures?month={months[i % len(months)]}&group=unit", 60)
b50, b95 = run(lambda i: f"/v1/reports/bulletin?month={months[i % len(months)]}&unit_id={units[i % len(units)]}")
print(f"{q50:.1f} {q95:.1f} {u50:.1f} {u95:.1f} {b50:.1f} {b95:.1f}")
PY
)
read -r q50 q95 u50 u95 b50 b95 <<<"$res"
echo "   province-wide measures, one month by city:   p50 ${q50} ms  p95 ${q95} ms"
echo "   province-wide measures, one month by unit:   p50 ${u50} ms  p95 ${u95} ms  (6,000+ rows; for reference)"
echo "   a unit's monthly bulletin (HTML):            p50 ${b50} ms  p95 ${b95} ms"
kill $PID; wait $PID 2>/dev/null || true
echo "   total $((SECONDS - t0)) s"
printf 'query_p95_ms=%.0f bulletin_p95_ms=%.0f rebuild_events_per_s=%s\n' "$q95" "$b95" "${rate:-0}"
