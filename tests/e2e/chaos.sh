#!/usr/bin/env bash
# tests/e2e/chaos.sh — "a daemon killed at any instant loses nothing and duplicates nothing",
# across the whole pipeline, with all five daemons as real processes.
#
# Runs two jiesu-intake and two jiesu-dispatcher instances, one jiesu-deadline-watcher, one
# jiesu-revisit and one jiesu-reporting (every one of them in the outbox relay's election) on
# 127.0.0.1:18601-18607, over the Guangxi territory and responsibility catalogue. A client
# (tests/e2e/chaos_check.py load) submits 600 agent-accepted appeals at 30 a second — mostly
# matters the catalogue dispatches by itself, some complex or reserved for the centre — each
# with its own Idempotency-Key, retrying the same body with the same key on the other intake
# instance after a connection error, a 5xx or a timeout. Meanwhile a killer picks a random
# daemon instance every 0.5-2 s, SIGKILLs it, restarts it with the same arguments and waits for
# /readyz: 20 kills in at most 60 s, every kind of daemon at least once (the first five kills
# take the five kinds in a random order), the last ones while the consumers catch up. So
# intake dies with requests in flight, relays between sending and marking,
# consumers inside their transactions (wherever the random instant falls). Because a relay dying after Kafka acknowledged a batch
# but before PostgreSQL marked it is a window of a few milliseconds, every third kill also
# leaves that state behind on purpose — the 25 newest published outbox rows unmarked, to be
# sent again — so the consumers meet copies while they are being killed. The seed is printed:
# CHAOS_SEED=N tests/run.sh e2e chaos draws the same plan and the same victims (their timing is
# the machine's). CHAOS_APPEALS, CHAOS_RATE and CHAOS_KILLS change the sizes.
#
# After the last restart it waits (at most 90 s) until the outbox is empty, every consumer has
# applied what it acts on and the figures stop moving, then checks:
#   - exactly one case per Idempotency-Key (the key is also written into each appeal's text, so
#     a case made twice would be seen), every 201 answer names its case and number, the stored
#     idempotency answers agree, case numbers run 1..n per region with no gap or repeat;
#   - each case's history has versions 1..version, and exactly the events its path calls for:
#     received, accepted, dispatched for the catalogue's cases (one dispatch each, attempt 1,
#     to the catalogue's lead and co-handlers, one active lead), received, accepted for the
#     others (in the centre's queue with the reason, no unit);
#   - the clocks each case's events call for, one generation each: a dispatched case a single
#     sign_for timer, armed, due at the dispatch's sign_by; a signed one (40% of them, signed by
#     their lead units through either dispatcher instance during the chaos, a signature whose
#     answer a kill swallowed not repeated blindly) sign_for cancelled, first_contact and
#     resolve_by armed; the watcher's Redis schedule holds exactly the armed generations, but
#     for changes committed in the instant before a watcher was killed (Redis hears of them
#     after the COMMIT; PostgreSQL decides at firing time and the catch-up scan fires what
#     the schedule lost);
#   - every outbox row published, one per case event, no dead letter; jiesu.case-events read
#     back from the broker (tests/e2e/TopicSlice.java, from the offsets the topic had before the
#     run) holds every event at least once and nothing else, and the rows unmarked were sent
#     again (copies on the topic: at-least-once); jiesu.dead-letter got nothing;
#   - consumed_events: the dispatcher applied exactly the case.accepted events, the watcher
#     exactly the case.dispatched and case.signed ones, reporting every case event;
#   - reporting's measures by unit and by kind (received, accepted, dispatched, responded in
#     time…) equal a count by hand from the cases and their history, and a
#     rebuild of the read models from case_events changes none of them;
#   - every instance still running stops on SIGTERM with exit 0, "stopped cleanly", no
#     AddressSanitizer or UBSan report, every log line JSON.
#
# The shared topics hold other runs' events: before the daemons start, each consumer's position
# (consumer_offsets, which kcons reads first on every assignment) is set to the end the topics
# have then, as a fresh deployment would start. Wall time about a minute on 2 cores.
. "$(dirname "$0")/lib.bash"
cd "$JIESU_ROOT"
export PGOPTIONS="-c client_min_messages=warning"
psqlq() { psql "$JIESU_PG_DSN" -tAq -v ON_ERROR_STOP=1 -c "$1"; }
ctl() { "$JIESU_BIN/jiesuctl" "$@"; }
tok() { ctl token issue --principal "$1"; }

SEED=${CHAOS_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
RANDOM=$SEED
RUN=$(date +%s%N | tail -c 7)
N_APPEALS=${CHAOS_APPEALS:-600}
RATE=${CHAOS_RATE:-30}
MAX_KILLS=${CHAOS_KILLS:-20}
CHAOS_S=60
echo "seed $SEED (replay with CHAOS_SEED=$SEED tests/run.sh e2e chaos), run $RUN"
T0=$SECONDS
LOGS=$E2E_LOGDIR/chaos # the daemons' logs (every life of an instance in one file) and the
WORK=$LOGS/work         # plan, the answers and the topic as read, kept for a post-mortem
rm -rf "$LOGS"
mkdir -p "$WORK"

# ---- the territory, the catalogue, who calls ---------------------------------------------------
ctl territory import --regions deploy/data/guangxi/regions.csv --units deploy/data/guangxi/units.csv >/dev/null ||
  { echo "cannot load the territory"; exit 1; }
out=$(ctl catalogue import deploy/data/guangxi/catalogue.csv --note "e2e chaos" 2>&1)
grep -qE '^(imported version|unchanged:)' <<<"$out" || { echo "cannot import the catalogue: $out"; exit 1; }
export CHAOS_AGENT_TOKEN=$(tok "$(ctl principal add --role agent --name "自治区受理专席$RUN" --region 450000)")
LEADER_TOKEN=$(tok "$(ctl principal add --role leader --name "自治区领导$RUN")")
[ -n "$CHAOS_AGENT_TOKEN" ] && [ -n "$LEADER_TOKEN" ] || { echo "could not issue the tokens"; exit 1; }
check "the guangxi profile is in force for the province (the clocks need it)" \
  test "$(psqlq "SELECT region_effective_profile('450103')")" = guangxi
# principal ids restart with the test database: forget earlier runs' rate-limit windows
redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" --scan --pattern 'jiesu:rl:intake:*' |
  xargs -r redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" DEL >/dev/null

# ---- Kafka: where the topics end now ------------------------------------------------------------
# a short-lived JVM with Kafka's own client (find_java, KAFKA_LIBS: deploy/stack/lib.sh)
JAVA=$(. deploy/stack/lib.sh && find_java) && KLIBS=$(. deploy/stack/lib.sh && echo "$KAFKA_LIBS")
[ -n "${JAVA:-}" ] && [ -d "${KLIBS:-}" ] || { echo "no Java or no Kafka jars: run deploy/stack/deps.sh"; exit 1; }
topic_slice() {
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j.configuration="file:$JIESU_ROOT/deploy/kafka/tools-log4j.properties" \
    -cp "$KLIBS/*" tests/e2e/TopicSlice.java "$JIESU_KAFKA_BROKERS" "$@"
}
for t in jiesu.case-events jiesu.unit-events jiesu.dead-letter; do
  topic_slice ends "$t" >"$WORK/ends-$t" || { echo "cannot read the end of $t"; exit 1; }
done
# each consumer starts where the topics end now (this database's history starts here)
{
  for c in dispatcher deadline-watcher revisit reporting; do
    while read -r p o; do echo "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ('$c', 'jiesu.case-events', $p, $o);"; done <"$WORK/ends-jiesu.case-events"
  done
  while read -r p o; do echo "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ('reporting', 'jiesu.unit-events', $p, $o);"; done <"$WORK/ends-jiesu.unit-events"
} | psql "$JIESU_PG_DSN" -q -v ON_ERROR_STOP=1 -1 >/dev/null || { echo "cannot set the consumers' positions"; exit 1; }
start_offsets() { tr ' ' ':' <"$WORK/ends-$1" | paste -sd, -; }

python3 tests/e2e/chaos_check.py plan --seed "$SEED" --run "$RUN" --n "$N_APPEALS" --ctl "$JIESU_BIN/jiesuctl" \
  --out "$WORK/plan.json" || { echo "cannot draw the plan"; exit 1; }

# the lead units that sign, one principal and token each
python3 - "$WORK/plan.json" >"$WORK/leads" <<'PY' || { echo "cannot read the plan"; exit 1; }
import json, sys
print("\n".join(sorted({a["lead"] for a in json.load(open(sys.argv[1]))["appeals"] if a["sign"]})))
PY
{
  sep=""
  echo "{"
  while read -r code; do
    uid=$(psqlq "SELECT id FROM units WHERE code = '$code'")
    t=$(tok "$(ctl principal add --role unit --name "$code 经办人$RUN" --unit-id "$uid")")
    [ -n "$t" ] || { echo "could not issue a token for $code" >&2; exit 1; }
    printf '%s"%s": "%s"\n' "$sep" "$code" "$t"
    sep=","
  done <"$WORK/leads"
  echo "}"
} >"$WORK/unit-tokens.json" || exit 1

# ---- the daemons ---------------------------------------------------------------------------------
PREFIX="e2e:chaos:$RUN"
NAMES=(intake intake dispatcher dispatcher deadline-watcher revisit reporting)
PORTS=(18601 18602 18603 18604 18605 18606 18607)
EXTRA=("--rate-limit-per-min=100000" "--rate-limit-per-min=100000" "" ""
  "--redis-prefix=$PREFIX --poll-ms=50 --scan-interval-ms=500" "" "")
PIDS=()
KILLS=()
for k in "${!NAMES[@]}"; do KILLS[$k]=0; done
start_inst() { # index: starts (or restarts) instance k with its arguments, its log appended
  local k=$1 log="$LOGS/${NAMES[$1]}-${PORTS[$1]}.log"
  LOGOFF[$k]=$(stat -c %s "$log" 2>/dev/null || echo 0)
  # shellcheck disable=SC2086  # EXTRA holds several options
  "$JIESU_BIN/jiesu-${NAMES[$k]}" --http-port="${PORTS[$k]}" --pg-dsn="$JIESU_PG_DSN" \
    --redis-addr="$JIESU_REDIS_ADDR" --kafka-brokers="$JIESU_KAFKA_BROKERS" --outbox-poll-ms=20 \
    --shutdown-timeout-ms=20000 ${EXTRA[$k]} 2>>"$log" &
  PIDS[$k]=$!
}
# only the instances running now: a killed one was reaped, and its number may be another's since
chaos_cleanup() {
  local p
  for p in "${PIDS[@]:-}" "${LOADER:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  [ -n "${PREFIX:-}" ] && redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" --scan --pattern "$PREFIX:*" |
    xargs -r redis-cli -h "${JIESU_REDIS_ADDR%:*}" -p "${JIESU_REDIS_ADDR##*:}" DEL >/dev/null
}
trap chaos_cleanup EXIT
LOGOFF=()
for k in "${!NAMES[@]}"; do start_inst "$k"; done
all_ready=1
for k in "${!NAMES[@]}"; do wait_ready "${PORTS[$k]}" 60 || all_ready=0; done
check "seven instances ready (intake ×2, dispatcher ×2, deadline-watcher, revisit, reporting)" test $all_ready = 1

# ---- load and chaos ------------------------------------------------------------------------------
python3 tests/e2e/chaos_check.py load --plan "$WORK/plan.json" --urls http://127.0.0.1:18601,http://127.0.0.1:18602 \
  --dispatch-urls http://127.0.0.1:18603,http://127.0.0.1:18604 --unit-tokens "$WORK/unit-tokens.json" \
  --out "$WORK/results.json" --rate "$RATE" --burst 1 --workers 12 --timeout-s 10 --deadline-s 150 &
LOADER=$!

KINDS=(intake dispatcher deadline-watcher revisit reporting)
for i in 4 3 2 1; do # the first five victims: the five kinds in a random order
  j=$((RANDOM % (i + 1))); tmp=${KINDS[$i]}; KINDS[$i]=${KINDS[$j]}; KINDS[$j]=$tmp
done
pick() { # → PICK: an instance of kind $1, or of any kind
  local c=() k
  for k in "${!NAMES[@]}"; do [ -z "${1:-}" ] || [ "${NAMES[$k]}" = "$1" ] && c+=("$k"); done
  PICK=${c[$((RANDOM % ${#c[@]}))]}
}
: >"$WORK/watcher-kills"
died=0
kills=0
resent=0
restart_fail=0
chaos_t0=$SECONDS
echo "chaos: up to $MAX_KILLS kills in at most ${CHAOS_S}s"
while [ $kills -lt "$MAX_KILLS" ] && [ $((SECONDS - chaos_t0)) -lt $CHAOS_S ]; do
  ms=$((500 + RANDOM % 1501))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  if [ $kills -lt 5 ]; then pick "${KINDS[$kills]}"; else pick; fi
  k=$PICK
  log="$LOGS/${NAMES[$k]}-${PORTS[$k]}.log"
  lead=""
  tail -c +$((LOGOFF[k] + 1)) "$log" 2>/dev/null | grep -q '"outbox relay is the leader"' && lead=" (the relay's leader)"
  [ "${NAMES[$k]}" = deadline-watcher ] && date +%s.%N >>"$WORK/watcher-kills"
  kill -9 "${PIDS[$k]}" 2>/dev/null
  wait "${PIDS[$k]}" 2>/dev/null
  st=$?
  # 137 is our SIGKILL; anything else means it had died by itself before
  [ $st = 137 ] || { echo "  ${NAMES[$k]} :${PORTS[$k]} had exited by itself with status $st"; died=1; }
  kills=$((kills + 1))
  KILLS[$k]=$((KILLS[k] + 1))
  printf '  kill %2d at %2ds: %s :%s%s after %d ms\n' $kills $((SECONDS - chaos_t0)) "${NAMES[$k]}" \
    "${PORTS[$k]}" "$lead" $ms
  start_inst "$k"
  wait_ready "${PORTS[$k]}" 30 || { echo "  ${NAMES[$k]} :${PORTS[$k]} not ready 30 s after its restart"; restart_fail=1; }
  if [ $((kills % 3)) = 0 ]; then
    # what a relay killed after Kafka acknowledged a batch but before PostgreSQL marked it leaves
    # behind — rare to hit by chance, so made here: the newest published rows unmarked, to be
    # sent again, so the consumers meet copies while they are being killed
    n=$(psqlq "WITH u AS (UPDATE outbox SET published_at = NULL WHERE id IN (SELECT id FROM outbox
               WHERE published_at IS NOT NULL ORDER BY id DESC LIMIT 25) RETURNING 1) SELECT count(*) FROM u")
    resent=$((resent + ${n:-0}))
  fi
done
echo "chaos over after $((SECONDS - chaos_t0)) s: $kills kills; $resent published outbox rows unmarked to be sent again"
check "every restarted instance was ready again within 30 s" test $restart_fail = 0
for k in "${!NAMES[@]}"; do # still running, each of them
  kill -0 "${PIDS[$k]}" 2>/dev/null && [ -z "$(ps -o stat= -p "${PIDS[$k]}" | grep Z)" ] ||
    { echo "  ${NAMES[$k]} :${PORTS[$k]} has exited by itself"; died=1; }
done
check "no instance died by itself (every death was the killer's SIGKILL)" test $died = 0
killed_kinds=$(for k in "${!NAMES[@]}"; do [ "${KILLS[$k]}" -gt 0 ] && echo "${NAMES[$k]}"; done | sort -u | paste -sd' ' -)
check "every kind of daemon was killed at least once ($killed_kinds)" \
  test "$(wc -w <<<"$killed_kinds")" = 5
MIN_KILLS=$((MAX_KILLS < 15 ? MAX_KILLS : 15))
check "at least $MIN_KILLS kills ($kills)" test $kills -ge $MIN_KILLS
wait "$LOADER"
st=$?
LOADER=""
check "the client finished" test $st = 0

# ---- quiescence, then the invariants ---------------------------------------------------------------
python3 tests/e2e/chaos_check.py quiesce --timeout-s 90
check "the pipeline came to rest within 90 s of the last restart (outbox empty, consumers caught up)" test $? = 0
topic_slice read jiesu.case-events "$(start_offsets jiesu.case-events)" 60 >"$WORK/topic.txt" 2>"$WORK/topic.err"
check "jiesu.case-events read back from the broker" test $? = 0
topic_slice read jiesu.dead-letter "$(start_offsets jiesu.dead-letter)" 60 >"$WORK/dead.txt" 2>>"$WORK/topic.err"
check "jiesu.dead-letter read back from the broker" test $? = 0
python3 tests/e2e/chaos_check.py check --plan "$WORK/plan.json" --results "$WORK/results.json" \
  --topic-dump "$WORK/topic.txt" --dead-dump "$WORK/dead.txt" --redis-prefix "$PREFIX" --resent "$resent" \
  --watcher-kills "$WORK/watcher-kills" \
  --report-url http://127.0.0.1:18607 --leader-token "$LEADER_TOKEN"
check "the invariants after the chaos (tests/e2e/chaos_check.py check)" test $? = 0

# a rebuild of the read models from case_events must find what the consumer folded under the kills
python3 tests/e2e/chaos_check.py measures --report-url http://127.0.0.1:18607 --leader-token "$LEADER_TOKEN" >"$WORK/m1.json"
"$JIESU_BIN/jiesu-reporting" rebuild >"$WORK/rebuild.out" 2>&1
check "reporting rebuild from case_events" test $? = 0
python3 tests/e2e/chaos_check.py measures --report-url http://127.0.0.1:18607 --leader-token "$LEADER_TOKEN" >"$WORK/m2.json"
check "  … changes no figure (by unit, kind and region)" cmp -s "$WORK/m1.json" "$WORK/m2.json"
check "  … and the figures were there to compare" grep -q '"received"' "$WORK/m1.json"

# ---- clean shutdown of whatever is running now ---------------------------------------------------
for k in "${!NAMES[@]}"; do kill -TERM "${PIDS[$k]}"; done
for k in "${!NAMES[@]}"; do
  wait_exit "${PIDS[$k]}" 60
  [ "$EXIT_STATUS" = timeout ] || PIDS[$k]=""
  check "${NAMES[$k]} :${PORTS[$k]} exits 0 on SIGTERM (killed ${KILLS[$k]}× before)" test "$EXIT_STATUS" = 0
done
for k in "${!NAMES[@]}"; do
  log="$LOGS/${NAMES[$k]}-${PORTS[$k]}.log"
  check "  … $(basename "$log"): stopped cleanly, no leak or UB report in any of its lives" \
    test -n "$(tail -c +$((LOGOFF[k] + 1)) "$log" | grep '"msg":"stopped cleanly"')" \
    -a -z "$(grep -aE 'LeakSanitizer|runtime error|AddressSanitizer' "$log")"
  check "  … every log line is JSON, no contact phone in clear" python3 -c '
import json, sys
for l in open(sys.argv[1], errors="replace"):
    json.loads(l)
    assert "13907710000" not in l' "$log"
done
echo "seed $SEED, $((SECONDS - T0)) s"
e2e_finish
