#!/usr/bin/env bash
# bench/intake.sh — sustained accepted appeals per second through jiesu-intake (release build),
# each durable in PostgreSQL (synchronous_commit on, fsync on) with its events relayed to the
# real Kafka broker, against the raw durable single-row insert rate of the same PostgreSQL
# measured with pgbench at its best client count, in the same run.
#
#   1. pgbench: INSERT of one 200-byte row per transaction, 8…128 clients, simple and prepared
#      protocol, 8 s each; best tps.
#   2. intake peak: two jiesu-intake instances serving requests, and a third that serves none
#      and leads the outbox relay (a relay batch in a request loop holds its requests up: p99
#      84–91 ms at half the peak with RELAY=inline, 29–41 ms separate, 2026-11-22)
#      (operators scale intake by instances; one
#      instance alternates between parsing requests and waiting on its database connection,
#      two keep both the CPU and PostgreSQL busy), closed loop, 96 keep-alive connections
#      each, 15 s, each request a different
#      enterprise's complaint registered and accepted by an agent (2 events per case). The
#      rate counts only cases whose events Kafka has acknowledged: the clock stops when the
#      outbox is empty, not when the last HTTP answer arrives.
#   3. latency: open loop at half the peak rate for 10 s, measured from each request's
#      scheduled instant (no coordinated omission); p50 and p99.
#   4. the same rows as one accepted appeal (case, 2 history rows, 2 outbox rows) per pgbench
#      transaction, for comparison: what batching wins back (not part of the goal's ratio).
# Ends with: intake_per_s=<n> pgbench_per_s=<n> ratio=<intake/pgbench> p99_ms=<n>
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/release/bin
STACK=${JIESU_STACK_DIR:-.stack}
. "$STACK/env"
export PGOPTIONS="-c client_min_messages=warning"
DSN=$JIESU_PG_TEST_DSN
PORT=${BENCH_PORT:-18381}
PGBENCH=/usr/lib/postgresql/15/bin/pgbench

echo "== preparing a scratch schema in jiesu_test"
psql -q "$DSN" -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public"
JIESU_PG_DSN=$DSN "$BIN/jiesuctl" migrate >/dev/null
JIESU_PG_DSN=$DSN "$BIN/jiesuctl" territory import --regions deploy/data/guangxi/regions.csv \
  --units deploy/data/guangxi/units.csv >/dev/null
psql -q "$DSN" -c "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload text NOT NULL)"
AGENT=$(JIESU_PG_DSN=$DSN "$BIN/jiesuctl" principal add --role agent --name 压测专席 --region 450000)
TOKEN=$(JIESU_PG_DSN=$DSN "$BIN/jiesuctl" token issue --principal "$AGENT")

echo "== pgbench: durable single-row inserts"
SCRIPT=$(mktemp)
echo "INSERT INTO bench_raw (payload) VALUES (repeat('企', 66) || :client_id);" > "$SCRIPT"
best=0; best_c=0
# at its best: each client count in both of pgbench's query modes (prepared statements skip
# parsing and planning: about 20 % more inserts per second than the simple protocol)
for mode in simple prepared; do
  for c in 8 16 32 64 128; do
    tps=$("$PGBENCH" -n -M $mode -f "$SCRIPT" -c $c -j 2 -T 8 "$DSN" 2>/dev/null | awk '/^tps = /{printf "%d", $3}')
    echo "  mode=$mode clients=$c tps=$tps"
    if [ "${tps:-0}" -gt "$best" ]; then best=$tps; best_c="$c ($mode)"; fi
  done
done
rm -f "$SCRIPT"
echo "  best: $best tps at $best_c clients"

echo "== two jiesu-intake instances (release) serving requests; the outbox relay in a third (RELAY=${RELAY:-separate})"
LOG=$(mktemp)
PORT2=$((PORT + 1))
PIDS=()
# the outbox relay runs in a third instance that serves no requests (RELAY=inline: in one of
# the two), so its batches never hold up a request loop
RELAY=${RELAY:-separate}
for p in $PORT $PORT2; do
  "$BIN/jiesu-intake" --http-port=$p --pg-dsn="$DSN" --log-level=warn --rate-limit-per-min=100000000 \
    --batch-max=512 --batch-wait-us=2000 --outbox-batch=2000 --outbox-poll-ms=5 \
    --outbox-relay=$([ "$RELAY" = inline ] && echo true || echo false) 2>>"$LOG" &
  PIDS+=($!)
done
if [ "$RELAY" != inline ]; then
  "$BIN/jiesu-intake" --http-port=$((PORT + 2)) --pg-dsn="$DSN" --log-level=warn \
    --outbox-batch=2000 --outbox-poll-ms=5 2>>"$LOG" &
  PIDS+=($!)
fi
trap 'kill ${PIDS[*]} 2>/dev/null || true; rm -f $LOG $LOG.*' EXIT
for p in $PORT $PORT2; do
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$p/readyz" && break; sleep 0.1; done
done
# runs loadgen against both instances at once with the given rate split; prints the sum line
both() { # seconds conns rate seq
  local r=$3
  [ "$r" = 0 ] || r=$(($3 / 2))
  "$BIN/loadgen" --port $PORT --token "$TOKEN" --conns $2 --seconds $1 --rate $r --seq $4 > "$LOG.a" &
  local a=$!
  "$BIN/loadgen" --port $PORT2 --token "$TOKEN" --conns $2 --seconds $1 --rate $r --seq $(($4 + 500000)) > "$LOG.b"
  wait $a
  cat "$LOG.a" "$LOG.b" | sed 's/^/    /' >&2
  cat "$LOG.a" "$LOG.b" | awk '{for(i=1;i<=NF;i++){split($i,kv,"=");v[kv[1]]+=kv[2]; if(kv[1] ~ /ms$/ && kv[2]>m[kv[1]]) m[kv[1]]=kv[2]}}
      END{printf "sent=%d ok=%d errors=%d rate=%d p50_ms(max of two)=%.2f p99_ms=%.2f\n", v["sent"], v["ok"], v["errors"], v["rate"], m["p50_ms"], m["p99_ms"]}'
}

unpublished() { psql -tA "$DSN" -c "SELECT count(*) FROM outbox WHERE published_at IS NULL"; }
both 3 64 0 1000000 >/dev/null 2>&1   # warm-up
while [ "$(unpublished)" != 0 ]; do sleep 0.1; done
before=$(psql -tA "$DSN" -c "SELECT count(*) FROM cases")
t0=$(date +%s.%N)
peak=$(both 15 96 0 2000000)
t1=$(date +%s.%N)
while [ "$(unpublished)" != 0 ]; do sleep 0.05; done
t2=$(date +%s.%N)
after=$(psql -tA "$DSN" -c "SELECT count(*) FROM cases WHERE state = 'accepted'")
cases=$((after - before))
echo "  closed loop: $peak"
drain=$(echo "$t2 - $t1" | bc)
rate=$(echo "$cases / ($t2 - $t0)" | bc)
echo "  $cases accepted cases durable and relayed in $(echo "$t2 - $t0" | bc) s (outbox drained $drain s after the last answer)"

half=$((rate / 2))
echo "== latency at half the peak: $half/s, open loop"
lat=$(both 10 128 $half 3000000)
echo "  open loop: $lat"
p99=$(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$lat")
p50=$(sed -n 's/.*p50_ms(max of two)=\([0-9.]*\).*/\1/p' <<<"$lat")
batches=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^jiesu_intake_batch_size_(sum|count) /{v[$1]=$2} END{if (v["jiesu_intake_batch_size_count"]) printf "%.1f", v["jiesu_intake_batch_size_sum"]/v["jiesu_intake_batch_size_count"]}')
echo "  mean registrations per transaction: $batches; p50 ${p50} ms"
kill -TERM ${PIDS[*]}; wait ${PIDS[*]} || true

# The same rows per appeal, one durable transaction each: what intake writes for one accepted
# case (the case, two history rows, two outbox rows, with every index, check, key and trigger of
# the schema) inserted by pgbench as one statement per transaction, copying the texts of cases
# intake just registered. It leaves out HTTP, JSON, Kafka and case numbering (a random number
# instead), so it is the database's own cost of the appeal without batching: intake against it
# shows what group commit wins back. The goal's comparison is the single-row insert above.
echo "== pgbench: the rows of one appeal per transaction (no HTTP, JSON, Kafka or numbering)"
psql -q "$DSN" <<'SQL'
CREATE FUNCTION bench_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
          || substr(md5(random()::text), 1, 19))::uuid $$;
CREATE TABLE bench_tpl AS
  SELECT row_number() OVER () AS t, c.*, e1.payload AS p1, e2.payload AS p2, o1.payload AS o1,
         o2.payload AS o2, o1.msg_key
    FROM (SELECT * FROM cases WHERE state = 'accepted' ORDER BY received_at LIMIT 1000) c
    JOIN case_events e1 ON e1.case_id = c.id AND e1.case_version = 1
    JOIN case_events e2 ON e2.case_id = c.id AND e2.case_version = 2
    JOIN outbox o1 ON o1.event_id = e1.event_id
    JOIN outbox o2 ON o2.event_id = e2.event_id;
ALTER TABLE bench_tpl ADD PRIMARY KEY (t);
SQL
ntpl=$(psql -tA "$DSN" -c "SELECT count(*) FROM bench_tpl")
SCRIPT=$(mktemp)
cat > "$SCRIPT" <<SQL
\set t random(1, $ntpl)
WITH tp AS (SELECT * FROM bench_tpl WHERE t = :t),
c AS (INSERT INTO cases (id, case_no, tracking_code_hash, region_code, tier, state, version, kind, complexity, channel, enterprise_name, credit_code, address, contact_name, contact_phone, summary, body, confidential, received_at, text_sig, submitted_by) SELECT bench_uuid7(), 'B' || upper(substr(md5(random()::text), 1, 24)), sha256(convert_to(random()::text, 'UTF8')), region_code, tier, state, version, kind, complexity, channel, enterprise_name, credit_code, address, contact_name, contact_phone, summary, body, confidential, now(), text_sig, submitted_by FROM tp RETURNING id),
ev AS (INSERT INTO case_events (event_id, case_id, type, from_state, to_state, case_version, actor_principal_id, occurred_at, payload) SELECT bench_uuid7(), c.id, v.type, v.fs, v.ts, v.ver, tp.submitted_by, now(), CASE v.ver WHEN 1 THEN tp.p1 ELSE tp.p2 END FROM c, tp, (VALUES (1, 'case.received', NULL::text, 'received'), (2, 'case.accepted', 'received', 'accepted')) v(ver, type, fs, ts) RETURNING event_id, case_version)
INSERT INTO outbox (event_id, topic, msg_key, payload) SELECT ev.event_id, 'jiesu.case-events', tp.msg_key, CASE ev.case_version WHEN 1 THEN tp.o1 ELSE tp.o2 END FROM ev, tp;
SQL
fbest=0; fbest_c=0
for c in 8 16 32; do
  tps=$("$PGBENCH" -n -M prepared -f "$SCRIPT" -c $c -j 2 -T 8 "$DSN" 2>"$LOG.pgb" | awk '/^tps = /{printf "%d", $3}')
  [ -n "$tps" ] || { echo "  pgbench failed:"; tail -3 "$LOG.pgb"; exit 1; }
  echo "  clients=$c appeals_per_s=$tps"
  if [ "$tps" -gt "$fbest" ]; then fbest=$tps; fbest_c=$c; fi
done
rm -f "$SCRIPT"
echo "  best: $fbest appeals/s at $fbest_c clients; intake batched: $rate/s = $(echo "scale=2; $rate / $fbest" | bc)× the same rows unbatched"

ratio=$(echo "scale=2; $rate / $best" | bc)
echo "intake_per_s=$rate pgbench_per_s=$best ratio=$ratio p99_ms=$p99"
