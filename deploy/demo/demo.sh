#!/usr/bin/env bash
# deploy/demo/demo.sh — what `make demo` runs: the local stack, the five daemons, and a look at
# what they do. It grows with each capability; today the daemons connect, elect one outbox
# relay among themselves, answer health, readiness and metrics, and stop cleanly.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/build/${BUILD:-debug}/bin
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. The local stack (PostgreSQL 15, Redis 7, Apache Kafka in KRaft mode, loopback only)"
deploy/stack/up.sh || exit 1
STACK=${JIESU_STACK_DIR:-$ROOT/.stack}
# shellcheck disable=SC1091
. "$STACK/env"
export JIESU_PG_DSN JIESU_REDIS_ADDR JIESU_KAFKA_BROKERS

say "2. Schema migrations and the territory (Guangxi: 1 province, 14 cities, 111 counties, 1,253 townships)"
"$BIN/jiesuctl" migrate || exit 1
"$BIN/jiesuctl" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv || exit 1

say "3. The five daemons"
declare -A PORT=([intake]=8081 [dispatcher]=8082 [deadline-watcher]=8083 [revisit]=8084 [reporting]=8085)
ORDER=(intake dispatcher deadline-watcher revisit reporting)
LOGS=$STACK/logs
mkdir -p "$LOGS"
for d in "${ORDER[@]}"; do
  p=${PORT[$d]}
  if ss -ltn "sport = :$p" 2>/dev/null | grep -q LISTEN; then
    echo "demo: port $p (for jiesu-$d) is in use by another process; free it and run make demo again" >&2
    exit 1
  fi
done
declare -A PID
cleanup() { for d in "${ORDER[@]}"; do [ -n "${PID[$d]:-}" ] && kill -9 "${PID[$d]}" 2>/dev/null; done; }
trap cleanup EXIT
for d in "${ORDER[@]}"; do
  extra=()
  # the demo deployment is Guangxi; the deadline demo adds 滕州 and 汕头 regions of its own,
  # so intake is told its territory's top region rather than left to find a single one
  [ "$d" = intake ] && extra=(--territory-root=450000)
  "$BIN/jiesu-$d" --http-port="${PORT[$d]}" "${extra[@]}" 2>"$LOGS/$d.log" &
  PID[$d]=$!
  echo "started jiesu-$d (pid ${PID[$d]}) on 127.0.0.1:${PORT[$d]}, log $LOGS/$d.log"
done
for d in "${ORDER[@]}"; do
  for _ in $(seq 1 300); do
    [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$d]}/readyz")" = 200 ] && break
    sleep 0.1
  done
done

say "4. Health of each daemon"
printf '%-23s %-6s %-9s %-10s %-8s %-8s %-8s %s\n' SERVICE PORT HEALTHZ READYZ POSTGRES REDIS KAFKA OUTBOX-RELAY
for d in "${ORDER[@]}"; do
  p=${PORT[$d]}
  h=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/healthz")
  r=$(curl -s -m 2 "http://127.0.0.1:$p/readyz")
  rc=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/readyz")
  field() { printf '%s' "$r" | sed -n "s/.*\"$1\":\"\([a-z_]*\)\".*/\1/p"; }
  leader=$(curl -s -m 2 "http://127.0.0.1:$p/metrics" | awk '/^jiesu_outbox_relay_leader /{print $2}')
  printf '%-23s %-6s %-9s %-10s %-8s %-8s %-8s %s\n' "jiesu-$d" "$p" "$h" "$rc $(field status)" \
    "$(field postgres)" "$(field redis)" "$(field kafka)" "$([ "$leader" = 1 ] && echo leader || echo standby)"
done
echo
echo "One outbox relay leads across all instances (a PostgreSQL advisory lock); the others stand by."
echo "Sample of /metrics from jiesu-intake:"
curl -s -m 2 "http://127.0.0.1:8081/metrics" | grep -E '^jiesu_(dependency_up|http_requests_total|outbox_relay_leader)' | sed 's/^/  /'

say "5. Bad input is refused with JSON errors"
printf 'POST 2 MB to /healthz      → '; head -c 2000000 /dev/zero | tr '\0' a |
  curl -s -m 5 -X POST -H 'Content-Type: application/json' --data-binary @- http://127.0.0.1:8081/healthz; echo
printf 'GET /v1/nothing            → '; curl -s -m 2 http://127.0.0.1:8081/v1/nothing; echo
printf 'unknown config key         → '; printf 'http_prot = 1\n' > "$STACK/bad.conf"
"$BIN/jiesu-intake" --config "$STACK/bad.conf" 2>&1; echo "  (exit $?)"

say "6. Intake: one front door for every appeal (统一受理)"
ctl() { "$BIN/jiesuctl" "$@"; }
tok() { ctl token issue --principal "$1" --ttl-days 1; }
RUN=$(date +%s)
export T_AGENT=$(tok "$(ctl principal add --role agent --name "青秀区受理专席$RUN" --region 450103)")
export T_AGENT_PROV=$(tok "$(ctl principal add --role agent --name "自治区营商环境受理专席$RUN" --region 450000)")
export INTAKE_URL=http://127.0.0.1:8081 JIESUCTL="$BIN/jiesuctl"
python3 deploy/demo/intake_demo.py || echo "(intake demo failed)"
for _ in $(seq 1 50); do
  [ "$(psql -tA "$JIESU_PG_DSN" -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")" = 0 ] && break; sleep 0.2
done
echo
echo "  Events written with the cases and relayed to Kafka (jiesu.case-events):"
psql -tA "$JIESU_PG_DSN" -F ' ' -c "SELECT '    ' || rpad(type, 24) || count(*) FROM case_events GROUP BY type ORDER BY type"
echo "  outbox rows not yet in Kafka: $(psql -tA "$JIESU_PG_DSN" -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")"

say "7. Dispatch: the catalogue routes the appeals; units sign, return and resolve"
DISPATCH_URL=http://127.0.0.1:8082 INTAKE_URL=http://127.0.0.1:8081 JIESUCTL="$BIN/jiesuctl" \
  python3 deploy/demo/dispatch_demo.py || echo "(dispatch demo failed)"

say "8. Revisit: the enterprise is asked whether its problem was solved (回访评价)"
INTAKE_URL=http://127.0.0.1:8081 REVISIT_URL=http://127.0.0.1:8084 JIESUCTL="$BIN/jiesuctl" \
  python3 deploy/demo/revisit_demo.py || echo "(revisit demo failed)"

say "9. Reporting: a simulated month, the bulletin, the rankings, the ledger"
REP_LEADER=$("$BIN/jiesuctl" principal add --role leader --name 南宁市领导（演示） --region 450100)
REP_TOKEN=$("$BIN/jiesuctl" token issue --principal "$REP_LEADER" --ttl-days 1)
# the most recent past month not simulated yet (simulated cases carry 7-digit serials), so
# running the demo again does not pile a second simulated month onto the first
for k in $(seq 1 20); do
  REP_MONTH=$(date -d "$(date +%Y-%m-01) -$k month" +%Y-%m)
  [ "$(psql -tA "$JIESU_PG_DSN" -c "SELECT count(*) FROM cases WHERE case_no ~ '^[0-9]+-[0-9]{4}-[0-9]{7}\$'
      AND to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') = '$REP_MONTH'")" = 0 ] && break
done
mkdir -p "$STACK/reports"
# the month goes into the history directly; the read models are then rebuilt from it (the
# daemon keeps folding new events meanwhile) and the bulletin is hand-checked against it
python3 deploy/demo/reporting_demo.py simulate --month "$REP_MONTH" \
  --json "$STACK/reports/simulated-$REP_MONTH.json" &&
  "$BIN/jiesuctl" reporting rebuild &&
  python3 deploy/demo/reporting_demo.py show --month "$REP_MONTH" --url http://127.0.0.1:8085 \
    --token "$REP_TOKEN" --out "$STACK/reports" --json "$STACK/reports/simulated-$REP_MONTH.json" ||
  echo "(reporting demo failed)"

say "10. Deadlines, warnings, breaches, cards and notices (deadline-watcher)"
WATCH_URL=http://127.0.0.1:8083 JIESUCTL="$BIN/jiesuctl" python3 deploy/demo/watcher_demo.py ||
  echo "(watcher demo failed)"

say "11. Deadlines in working days, with China's make-up working days (jiesuctl due)"
due() { printf '  %-60s → ' "$*"; "$BIN/jiesuctl" due "$@" 2>&1; }
due --profile shantou --kind complaint --from 2026-09-30T10:00:00+08:00
due --profile zaoyang --kind help --from 2026-02-12T16:30:00+08:00
due --profile tengzhou --kind suggestion --from 2025-12-31T09:00:00+08:00
due --profile zaoyang --kind complaint --complexity complex --from 2026-04-30T09:00:00+08:00
due --profile guangxi --kind complaint --from 2026-09-30T20:00:00-05:00
due --profile shantou --kind complaint --from 2027-03-01T09:00:00+08:00

say "12. Clean shutdown (SIGTERM: drain, close consumers, flush producers)"
for d in "${ORDER[@]}"; do kill -TERM "${PID[$d]}"; done
for d in "${ORDER[@]}"; do
  wait "${PID[$d]}"; st=$?
  printf 'jiesu-%-16s exit %s  %s\n' "$d" "$st" "$(grep -c '"msg":"stopped cleanly"' "$LOGS/$d.log" | sed 's/1/stopped cleanly/;s/^0$/NOT CLEAN/')"
  PID[$d]=
done

say "Done"
echo "The stack is still running (make status; make down to stop it). Logs: $LOGS"
echo "Benchmarks: make bench-intake, bench-dispatch, bench-timers, bench-reporting, bench-outbox (figures in bench/README.md)."
