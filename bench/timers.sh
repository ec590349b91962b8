#!/usr/bin/env bash
# bench/timers.sh — the deadline watcher with one million armed timers (release build, the real
# stack): how fast the schedule is rebuilt from PostgreSQL, what a timer costs in Redis and in
# the watcher, and firing throughput and lateness (fired_at − due_at) when 10,000 timers fall
# due every second for 100 seconds.
#
#   1. A scratch schema in jiesu_test: 250,000 open cases (in progress, one unit) with four
#      clocks each (first contact, resolve-by, redo-by, weekly progress) = 1,000,000 armed
#      timers, due far in the future. The cases' region follows a copy of the 汕头 profile with
#      its supervision rules and warnings turned off, so a breach is the firing itself (the
#      transaction that re-checks the case and writes timer.breached to the outbox), not the
#      notices and cards a real profile adds on top.
#   2. Rebuild: Redis is emptied and the watcher started: it finds no schedule and rebuilds it
#      from PostgreSQL (COPY, pipelined ZADDs). The time comes from its log; Redis's
#      used_memory before and after gives bytes per timer; the watcher's RSS is read too.
#   3. Firing: the timers are rewritten due at T0 + n × 100 µs (10,000 per second for 100 s,
#      T0 a minute ahead), Redis emptied again and the watchers started (a second rebuild):
#      BENCH_INSTANCES (default 2, as deployed for availability) share one schedule. A timer
#      has fired when its transaction committed: the timer row, the case re-checked under its
#      lock, and timer.breached in the outbox. The relay is not run here — a million breaches
#      published to the shared jiesu.case-events would land on every consumer of the stack —
#      and is measured on its own by `make bench-outbox`. Once all have fired, PostgreSQL says
#      how late each was and that none fired twice.
# Knobs: BENCH_TIMERS (1000000), BENCH_RATE (10000), BENCH_INSTANCES (2), BENCH_LOG_LEVEL,
# BENCH_LOG (keep the watchers' log there).
# Goals (issue 5): lateness p99 under 1 s at this rate; rebuild of 1M timers under 30 s.
# Ends with: fired_per_s=<n> lateness_p99_ms=<n> rebuild_s=<n> bytes_per_timer=<n>
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BENCH_BIN:-build/release/bin}
STACK=${JIESU_STACK_DIR:-.stack}
. "$STACK/env"
export PGOPTIONS="-c client_min_messages=warning"
DSN=$JIESU_PG_TEST_DSN
N=${BENCH_TIMERS:-1000000}
RATE=${BENCH_RATE:-10000}
CASES=$((N / 4))
PREFIX="bench:timers:$$"
REDIS_HOST=${JIESU_REDIS_ADDR%:*}
REDIS_PORT=${JIESU_REDIS_ADDR##*:}
rcli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
q() { psql -qtA "$DSN" -v ON_ERROR_STOP=1 -c "$1"; }
[ -x "$BIN/jiesu-deadline-watcher" ] || { echo "build first: make BUILD=release all" >&2; exit 2; }

LOG=$(mktemp)
POL=$(mktemp -d)
MIG=$(mktemp -d)
cp deploy/migrations/*.sql "$MIG/" # the schema as it is now, for the whole run
WPID=
WPIDS=()
cleanup() { [ ${#WPIDS[@]} -gt 0 ] && kill "${WPIDS[@]}" 2>/dev/null; [ -n "${BENCH_LOG:-}" ] && cp "$LOG" "$BENCH_LOG"; rm -rf "$POL" "$MIG" "$LOG"; rcli --scan --pattern "$PREFIX:*" | xargs -r redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== a scratch schema in jiesu_test: $CASES cases, $N armed timers"
psql -q "$DSN" -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public"
JIESU_PG_DSN=$DSN "$BIN/jiesuctl" migrate --dir "$MIG" >/dev/null
cp deploy/policies/*.json "$POL/"
python3 - "$POL" <<'PY'
import json, sys
d = json.load(open("deploy/policies/shantou.json"))
d.update(name="bench-quiet", title="压测：无督办规则", region=None)
d["warning"] = {"days_before": 0, "hours_before": 0}
d["progress"] = {"weekly": False, "weekday": None}
d["monthly"] = {"review_day": None, "seriously_late_wd": None, "bulletin": False}
s = d["supervision"]
s["reminder"] = {"unsigned_times": None, "overdue": False, "repeat_reports": None}
d["notes"] = {k: v for k, v in d.get("notes", {}).items() if not k.startswith(("warning", "progress", "monthly", "supervision"))}
json.dump(d, open(sys.argv[1] + "/bench-quiet.json", "w"), ensure_ascii=False)
PY
t=$(date +%s.%N)
q "INSERT INTO regions (code, name, tier, policy_profile) VALUES ('990000', '压测省', 1, 'bench-quiet')"
UNIT=$(q "INSERT INTO units (code, name, region_code, kind) VALUES ('bench-unit', '压测承办单位', '990000', 'department') RETURNING id")
q "INSERT INTO cases (case_no, region_code, tier, state, kind, complexity, channel, enterprise_name, summary, body, lead_unit_id)
   SELECT 'BENCH-' || lpad(g::text, 7, '0'), '990000', 1, 'in_progress', 'help', 'general', 'web', '压测企业', '压测',
          '压测诉求', $UNIT FROM generate_series(1, $CASES) g"
arm() { # $1: SQL for the due instant of the n-th timer (n from 0)
  q "TRUNCATE timers CASCADE"
  q "INSERT INTO timers (case_id, kind, version, due_at, unit_id, clock_unit)
     SELECT c.id, k.kind, 1, $1, $UNIT, 'wd'
       FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM cases) c
       CROSS JOIN (VALUES (0, 'first_contact'), (1, 'resolve_by'), (2, 'redo_by'), (3, 'weekly_progress')) AS k(j, kind)
      ORDER BY c.i * 4 + k.j"
}
arm "'2099-01-01T00:00:00Z'::timestamptz + (c.i * 4 + k.j) * interval '1 second'"
q "VACUUM ANALYZE timers" >/dev/null
q "VACUUM ANALYZE cases" >/dev/null
echo "  loaded in $(echo "$(date +%s.%N) - $t" | bc | cut -c1-6) s: $(q "SELECT count(*) FROM timers WHERE state = 'armed'") armed"

start_watcher() { # [instance count]
  [ -n "${BENCH_LOG:-}" ] && cat "$LOG" >>"$BENCH_LOG.1" 2>/dev/null
  : >"$LOG"
  WPIDS=()
  for k in $(seq 1 "${1:-1}"); do
    "$BIN/jiesu-deadline-watcher" --http-port=0 --pg-dsn="$DSN" --policy-dir="$POL" --redis-prefix="$PREFIX" \
      --migrations-dir="$MIG" --instance-id="bench-$k" --outbox-relay=false \
      --case-topic=jiesu.test --consumer-group="bench-watcher-$$" --calendar-dir= --log-level="${BENCH_LOG_LEVEL:-info}" \
      --poll-ms=20 --fire-batch=1000 --scan-interval-ms=1000 --scan-lag-ms=3000 --rebuild-interval-s=86400 \
      2>>"$LOG" &
    WPIDS+=($!)
    for _ in $(seq 1 1200); do [ "$(grep -c '"msg":"up"' "$LOG")" -ge "$k" ] && break; sleep 0.1; done
  done
  WPID=${WPIDS[0]}
  [ "$(grep -c '"msg":"up"' "$LOG")" -ge "${1:-1}" ] || { echo "watcher did not start:"; tail -5 "$LOG"; exit 1; }
}
stop_watcher() { kill -TERM "${WPIDS[@]}"; wait "${WPIDS[@]}" || true; WPID=; WPIDS=(); }
rebuild_ms() { sed -n 's/.*"msg":"schedule rebuilt from PostgreSQL","timers":\([0-9]*\),"ms":\([0-9.]*\).*/\1 \2/p' "$LOG" | head -1; }
mem() { rcli INFO memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)/\1/p'; }

echo "== rebuild of the schedule from PostgreSQL ($N timers)"
rcli --scan --pattern "$PREFIX:*" | xargs -r redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL >/dev/null
m0=$(mem)
start_watcher
read -r nb ms1 <<<"$(rebuild_ms)"
m1=$(mem)
zc=$(rcli ZCARD "$PREFIX:schedule")
rss=$(awk '/^VmRSS/{print $2}' "/proc/$WPID/status")
bpt=$(( (m1 - m0) / (zc > 0 ? zc : 1) ))
echo "  rebuilt $nb timers in $ms1 ms; Redis holds $zc members, +$(( (m1 - m0) / 1048576 )) MB = $bpt bytes per timer"
echo "  watcher RSS $((rss / 1024)) MB ($(( rss * 1024 / N )) bytes per armed timer: it keeps none in memory)"
stop_watcher

INST=${BENCH_INSTANCES:-2}
echo "== firing: $RATE timers due per second for $((N / RATE)) s, $INST watcher instance(s)"
step_us=$((1000000 / RATE))
arm "(SELECT clock_timestamp() + interval '75 seconds') + (c.i * 4 + k.j) * interval '$step_us microseconds'"
T0=$(q "SELECT extract(epoch FROM min(due_at)) FROM timers")
rcli --scan --pattern "$PREFIX:*" | xargs -r redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL >/dev/null
start_watcher "$INST"
read -r nb ms2 <<<"$(rebuild_ms)"
echo "  restarted: schedule rebuilt ($nb timers) in $ms2 ms; first deadline in $(echo "$T0 - $(date +%s.%N)" | bc | cut -c1-5) s"
end=$(echo "$T0 + $N / $RATE + 240" | bc)
while [ "$(q "SELECT count(*) FROM timers WHERE state = 'armed'")" != 0 ]; do
  if [ "$(echo "$(date +%s) > $end" | bc)" = 1 ]; then echo "  gave up waiting"; break; fi
  sleep 2
done
read -r fired span p50 p99 pmax <<<"$(q "SELECT count(*), round(extract(epoch FROM max(fired_at) - min(fired_at))::numeric, 3),
   percentile_cont(0.5) WITHIN GROUP (ORDER BY lateness_ms)::bigint, percentile_cont(0.99) WITHIN GROUP (ORDER BY lateness_ms)::bigint,
   max(lateness_ms) FROM timers WHERE state = 'fired'" | tr '|' ' ')"
best=$(q "SELECT max(n) FROM (SELECT count(*) AS n FROM timers WHERE state = 'fired' GROUP BY date_trunc('second', fired_at)) x")
rate=$(echo "$fired / $span" | bc)
dups=$(q "SELECT count(*) FROM (SELECT payload::jsonb->>'case_id', payload::jsonb->'payload'->>'kind' FROM outbox
          WHERE payload::jsonb->>'type' = 'timer.breached' GROUP BY 1, 2 HAVING count(*) > 1) x")
echo "  fired $fired of $N over $span s: $rate per second (best second $best); none fired twice: duplicates=$dups"
echo "  lateness (fired_at - due_at): p50 $p50 ms, p99 $p99 ms, max $pmax ms"
echo "  timer.breached events durable in the outbox: $(q "SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'timer.breached'")"
curl -s "http://127.0.0.1:$(sed -n 's/.*"msg":"up".*"port":\([0-9]*\).*/\1/p' "$LOG" | tail -1)/metrics" |
  grep -E '^jiesu_watcher_(breaches_total|scan_found_total|fire_errors_total|early_total|dropped_total) ' | sed 's/^/  /'
stop_watcher
rebuild_s=$(awk -v a="$ms1" -v b="$ms2" 'BEGIN { printf "%.2f", (a > b ? a : b) / 1000 }')
echo "fired_per_s=$rate lateness_p99_ms=$p99 rebuild_s=$rebuild_s bytes_per_timer=$bpt"
