#!/usr/bin/env bash
# bench/outbox.sh — outbox relay throughput against the real stack (release build).
#
# Writes N events (default 200,000) for 1,000 cases into the outbox of a scratch database,
# starts one daemon (its relay becomes the leader), and times until every row is acknowledged
# by Kafka (acks=all, idempotent producer) and marked published. Prints the rate and, for
# comparison, the rate at which the same machine can insert those rows at all.
# Ends with one line: outbox_relay_events_per_s=<n> insert_rows_per_s=<n>
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
BIN=build/release/bin
. "${JIESU_STACK_DIR:-.stack}/env"
DSN=$JIESU_PG_TEST_DSN
export PGOPTIONS="-c client_min_messages=warning"
psql "$DSN" -q -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public"
JIESU_PG_DSN=$DSN "$BIN/jiesuctl" migrate >/dev/null
TOPIC=jiesu.test
t0=$(date +%s.%N)
psql "$DSN" -q -c "INSERT INTO outbox (event_id, topic, msg_key, payload)
  SELECT gen_random_uuid(), '$TOPIC', 'case-' || (g % 1000),
         json_build_object('event_id', gen_random_uuid(), 'type', 'bench', 'payload',
                           json_build_object('seq', g, 'text', repeat('企业诉求', 40)))::text
  FROM generate_series(1, $N) g"
t1=$(date +%s.%N)
insert_rate=$(echo "$N / ($t1 - $t0)" | bc)
LOG=$(mktemp)
"$BIN/jiesu-reporting" --pg-dsn="$DSN" --http-port=0 --outbox-batch=2000 --outbox-poll-ms=5 \
  --log-level=warn 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f $LOG' EXIT
t2=$(date +%s.%N)
while [ "$(psql "$DSN" -tA -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")" != 0 ]; do sleep 0.1; done
t3=$(date +%s.%N)
kill -TERM $PID; wait $PID || true
rate=$(echo "$N / ($t3 - $t2)" | bc)
echo "events=$N relay_seconds=$(echo "$t3 - $t2" | bc) (includes daemon start-up)"
echo "outbox_relay_events_per_s=$rate insert_rows_per_s=$insert_rate"
