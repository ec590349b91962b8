#!/usr/bin/env bash
# bench/dispatch.sh — how fast accepted appeals are dispatched, end to end through Kafka, and how
# far dispatch lags behind a sustained intake (release build, real stack, durable commits).
#
#   0. a scratch schema in jiesu_test: migrations, the Guangxi territory and catalogue; one
#      jiesu-intake (it leads the outbox relay) and loadgen's agent, who accepts every appeal at
#      registration as 营商环境 in one of 16 districts — each routes to its district's 发改局.
#   1. catch-up: the dispatchers start once and work through whatever the topic holds since the
#      group's last commit, until a warm-up's cases are all dispatched (every partition has caught
#      up); then they stop, committing their offsets in PostgreSQL.
#   2. throughput: with the dispatchers stopped, loadgen registers a backlog (closed loop) and the
#      relay publishes every case.accepted to Kafka. Then $DISPATCHERS instances start; the clock
#      runs from the first case.dispatched to the moment every backlog case is dispatched AND its
#      case.dispatched has left the outbox for Kafka (acks=all): the last outbox.published_at. Each dispatch is one transaction:
#      the case row locked, the catalogue asked, deadlines counted in working days, case_units,
#      case_dispatch, the case update, history and outbox, dedup and the partition offset. The
#      other events of the topic (case.received, the dispatchers' own case.dispatched…) are
#      skipped by the consumer's type filter without a transaction; their offsets are written
#      with the next routed event or within a second.
#   3. lag: once the dispatchers are idle again, they keep running while loadgen registers appeals
#      open loop at $RATE per
#      second (default: half the throughput just measured, at most what one intake sustains) for
#      $LAG_SECONDS; per case, lag = case.dispatched recorded_at − case.accepted recorded_at (the
#      relay's poll, Kafka, the consumer and the dispatch commit); p50 and p99 over the run.
# Ends with one line: dispatched_per_s=<n> lag_p99_ms=<n>
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${JIESU_BENCH_BIN:-build/release/bin}   # another build's binaries, for before/after figures
STACK=${JIESU_STACK_DIR:-.stack}
. "$STACK/env"
export PGOPTIONS="-c client_min_messages=warning"
DSN=$JIESU_PG_TEST_DSN
CTL=${JIESUCTL:-$BIN/jiesuctl}
PORT=${BENCH_PORT:-18391}
DISPATCHERS=${DISPATCHERS:-2}
BACKLOG_SECONDS=${BACKLOG_SECONDS:-10}
LAG_SECONDS=${LAG_SECONDS:-20}
q() { psql -tA "$DSN" -c "$1"; }

echo "== preparing a scratch schema in jiesu_test"
psql -q "$DSN" -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public"
JIESU_PG_DSN=$DSN "$CTL" migrate >/dev/null
JIESU_PG_DSN=$DSN "$CTL" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null
JIESU_PG_DSN=$DSN "$CTL" catalogue import deploy/data/guangxi/catalogue.csv | sed 's/^/  /'
AGENT=$(JIESU_PG_DSN=$DSN "$CTL" principal add --role agent --name 压测专席 --region 450000)
TOKEN=$(JIESU_PG_DSN=$DSN "$CTL" token issue --principal "$AGENT")

LOG=$(mktemp -d)
IPID=
DPIDS=()
cleanup() { kill $IPID ${DPIDS[*]:-} 2>/dev/null || true; rm -rf "$LOG"; }
trap cleanup EXIT
ready() { for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$1/readyz" && return 0; sleep 0.1; done; return 1; }
"$BIN/jiesu-intake" --http-port=$PORT --pg-dsn="$DSN" --log-level=warn --rate-limit-per-min=100000000 \
  --batch-max=512 --batch-wait-us=2000 --outbox-batch=2000 --outbox-poll-ms=5 2>>"$LOG/intake.log" &
IPID=$!
ready $PORT
start_dispatchers() {
  DPIDS=()
  for i in $(seq 1 "$DISPATCHERS"); do
    "$BIN/jiesu-dispatcher" --http-port=$((PORT + 10 + i)) --pg-dsn="$DSN" --log-level=warn \
      --outbox-batch=2000 --outbox-poll-ms=5 2>>"$LOG/dispatcher-$i.log" &
    DPIDS+=($!)
  done
  for i in $(seq 1 "$DISPATCHERS"); do ready $((PORT + 10 + i)); done
}
stop_dispatchers() { kill -TERM ${DPIDS[*]}; wait ${DPIDS[*]} || true; DPIDS=(); }
unpublished() { q "SELECT count(*) FROM outbox WHERE published_at IS NULL"; }
# The dispatchers consume every event of the topic, their own case.dispatched included: they are
# idle once the offsets they keep in PostgreSQL stop moving.
settle() {
  local last=-1 now
  while :; do
    now=$(q "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer = 'dispatcher'")
    [ "$now" = "$last" ] && [ "$(unpublished)" = 0 ] && return 0
    last=$now
    sleep 3
  done
}
waiting() { q "SELECT count(*) FROM cases WHERE state = 'accepted'"; }

echo "== 1. catch-up: the dispatchers read what the topic holds since their last commit"
start_dispatchers
"$BIN/loadgen" --port $PORT --token "$TOKEN" --conns 8 --seconds 2 --seq 7000000 >/dev/null
t=$SECONDS
while [ "$(waiting)" != 0 ] || [ "$(unpublished)" != 0 ]; do
  [ $((SECONDS - t)) -lt 900 ] || { echo "dispatchers did not catch up in 15 minutes" >&2; exit 1; }
  sleep 0.5
done
settle
echo "  caught up in $((SECONDS - t)) s; $(q "SELECT count(*) FROM cases WHERE state = 'dispatched'") warm-up cases dispatched"
stop_dispatchers

echo "== 2. throughput: a backlog of accepted appeals, then $DISPATCHERS dispatcher instances"
"$BIN/loadgen" --port $PORT --token "$TOKEN" --conns 64 --seconds "$BACKLOG_SECONDS" --seq 8000000 | sed 's/^/  loadgen: /'
while [ "$(unpublished)" != 0 ]; do sleep 0.1; done
backlog=$(waiting)
echo "  backlog: $backlog accepted cases, every case.accepted in Kafka"
mark=$(q "SELECT coalesce(max(id), 0) FROM case_events")
start_dispatchers
# Polled twice a second in one query: the clock does not depend on the polling (below), and a
# psql every 50 ms would take a good share of the CPU the dispatchers and PostgreSQL share.
while [ "$(q "SELECT (SELECT count(*) FROM cases WHERE state = 'accepted')
               + (SELECT count(*) FROM outbox WHERE published_at IS NULL)")" != 0 ]; do sleep 0.5; done
# From the first case.dispatched recorded to the last one acknowledged by Kafka (outbox.published_at
# is set when the broker acknowledged the message).
read -r t_first t_end n_disp < <(q "SELECT extract(epoch from min(e.recorded_at)), extract(epoch from max(o.published_at)),
                                    count(*) FROM case_events e JOIN outbox o ON o.event_id = e.event_id
                                    WHERE e.id > $mark AND e.type = 'case.dispatched'" | tr '|' ' ')
secs=$(echo "$t_end - $t_first" | bc -l)
rate=$(echo "$n_disp / $secs" | bc)
echo "  $n_disp cases dispatched (and their events acknowledged by Kafka) in $(printf '%.2f' "$secs") s → $rate/s"
bad=$(q "SELECT count(*) FROM cases c WHERE c.state = 'dispatched' AND NOT EXISTS (SELECT 1 FROM case_units u
         WHERE u.case_id = c.id AND u.role = 'lead' AND u.released_at IS NULL)")
echo "  dispatched cases without an active lead row: $bad; dead letters: $(q "SELECT count(*) FROM outbox WHERE topic = 'jiesu.dead-letter'")"

t=$SECONDS
settle
echo "  the dispatchers then read their own $n_disp case.dispatched events (and the case.received ones) in $((SECONDS - t)) s more"
RATE=${RATE:-$(( rate / 2 < 1500 ? rate / 2 : 1500 ))}
echo "== 3. lag under a sustained intake of $RATE appeals/s for $LAG_SECONDS s (open loop)"
mark=$(q "SELECT coalesce(max(id), 0) FROM case_events")
"$BIN/loadgen" --port $PORT --token "$TOKEN" --conns 64 --seconds "$LAG_SECONDS" --rate "$RATE" --seq 9000000 | sed 's/^/  loadgen: /'
while [ "$(waiting)" != 0 ] || [ "$(unpublished)" != 0 ]; do sleep 0.1; done
read -r n p50 p99 max < <(q "SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)),
                             round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)), round(max(ms))
                             FROM (SELECT extract(epoch from d.recorded_at - a.recorded_at) * 1000 AS ms
                                     FROM case_events a JOIN case_events d ON d.case_id = a.case_id
                                      AND d.type = 'case.dispatched'
                                    WHERE a.id > $mark AND a.type = 'case.accepted') x" | tr '|' ' ')
echo "  $n cases: accepted → dispatched p50 ${p50} ms, p99 ${p99} ms, max ${max} ms"
stop_dispatchers
kill -TERM $IPID; wait $IPID || true; IPID=
grep -h '"level":"error"' "$LOG"/*.log | head -5 | sed 's/^/  log: /' || true
echo "dispatched_per_s=$rate lag_p99_ms=$p99"
