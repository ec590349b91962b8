/*
 * test_reporting.c — the read-model consumer of jiesu-reporting against the real PostgreSQL and
 * Kafka: a month of 300 cases (every lifecycle the fold knows: answered, refused, duplicates,
 * returned and re-dispatched, late, redone, open past due) and their unit events are written
 * the way the daemons write them (case_events + outbox, in one transaction per case), the
 * daemon's relay publishes them to per-run topics and its consumer folds them. Then:
 *   1. the numbers are what the generator counted (received, refusals, dispatches, redo, cards);
 *   2. every event delivered a second time (copies produced straight to Kafka) changes nothing;
 *   3. a rebuild from case_events gives byte-for-byte the same tables as the incremental path;
 *   4. the daemon stops cleanly on SIGTERM (exit 0, no sanitizer report in its log).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "event.h"
#include "itest.h"
#include "kafka.h"
#include "log.h"
#include "readmodel_pg.h"

#define CASES 300

static char case_topic[128], unit_topic[128];
static long long n_events, n_unit_events, n_refused, n_redo, n_dispatch, n_yellow;
static char **envelopes; /* every envelope written, for the copies */
static size_t n_env, cap_env;

static pg_t *db(void)
{
    static pg_t *pg;
    if (pg == NULL) {
        pg = pg_new(itest_dsn(), "itest-reporting");
        assert_int_equal(pg_ensure(pg), 0);
    }
    return pg;
}

static void exec(const char *sql)
{
    if (pg_query(db(), sql, 0, NULL, NULL) != 0) fail_msg("%s: %s", sql, db()->err);
}

static void keep(const char *env)
{
    if (n_env == cap_env) {
        cap_env = cap_env ? cap_env * 2 : 1024;
        envelopes = realloc(envelopes, cap_env * sizeof *envelopes);
        assert_non_null(envelopes);
    }
    envelopes[n_env++] = strdup(env);
}

/* Writes one event as the daemons do: history (case events) and outbox, to the run's topics. */
static void put(event_t *ev, int version)
{
    char *env = NULL, err[256];
    if (event_encode(ev, &env, err, sizeof err) != 0) fail_msg("encode %s: %s", event_type_name(ev->type), err);
    json_t *j = json_loads(env, 0, NULL);
    char *payload = json_dumps(json_object_get(j, "payload"), JSON_COMPACT);
    json_decref(j);
    char ver[16], key[40];
    snprintf(ver, sizeof ver, "%d", version);
    bool unit = ev->case_id[0] == '\0' || ev->type == EVENT_SUPERVISION_ISSUED || ev->type == EVENT_CARD_ISSUED;
    if (!unit) {
        const char *p[] = {ev->event_id, ev->case_id, event_type_name(ev->type), ver, ev->occurred_at, payload};
        if (pg_query(db(),
                     "INSERT INTO case_events (event_id, case_id, type, case_version, occurred_at, payload) "
                     "VALUES ($1::uuid, $2::uuid, $3, $4::int, $5::timestamptz, $6::jsonb)",
                     6, p, NULL) != 0)
            fail_msg("case_events: %s", db()->err);
    }
    assert_int_equal(event_key(ev, key, sizeof key), 0);
    const char *po[] = {ev->event_id, unit ? unit_topic : case_topic, key, env};
    if (pg_query(db(), "INSERT INTO outbox (event_id, topic, msg_key, payload) VALUES ($1::uuid, $2, $3, $4)", 4, po,
                 NULL) != 0)
        fail_msg("outbox: %s", db()->err);
    keep(env);
    n_events++;
    if (unit) n_unit_events++;
    free(payload);
    free(env);
}

static uint32_t rnd_state = 12345;
static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static void at(char out[EVENT_TIME_SIZE], int day, int hour)
{
    snprintf(out, EVENT_TIME_SIZE, "2026-09-%02dT%02d:%02d:00+08:00", day, hour, (int)rnd(60));
}

static void new_event(event_t *ev, event_type_t t, const char *case_id, int day, int hour)
{
    assert_int_equal(event_init(ev, t), 0);
    snprintf(ev->case_id, sizeof ev->case_id, "%s", case_id);
    ev->actor.role = EVENT_ROLE_SYSTEM;
    snprintf(ev->actor.name, sizeof ev->actor.name, "itest");
    at(ev->occurred_at, day, hour);
}

static void one_case(int i)
{
    char id[EVENT_UUID_SIZE], no[EVENT_CASE_NO_SIZE];
    assert_int_equal(event_uuid_new(id), 0);
    snprintf(no, sizeof no, "450103-2026-%03d%05d", (int)(getpid() % 1000), i);
    int day = 1 + (int)rnd(28), v = 0;
    const char *region = i % 3 ? "450103" : "450102";
    char recv[EVENT_TIME_SIZE];
    at(recv, day, 9);
    const char *pc[] = {id, no, region, recv};
    if (pg_query(db(),
                 "INSERT INTO cases (id, case_no, region_code, tier, kind, channel, enterprise_name, summary, body, "
                 "received_at) VALUES ($1::uuid, $2, $3, 3, 'complaint', 'web', '测试企业', '测试诉求', '测试诉求全文', "
                 "$4::timestamptz)",
                 4, pc, NULL) != 0)
        fail_msg("cases: %s", db()->err);
    event_t ev;
    new_event(&ev, EVENT_CASE_RECEIVED, id, day, 9);
    event_case_received_t *r = &ev.payload.case_received;
    snprintf(r->case_no, sizeof r->case_no, "%s", no);
    snprintf(r->region_code, sizeof r->region_code, "%s", region);
    r->kind = (event_kind_t)(1 + rnd(5));
    r->channel = EVENT_CHANNEL_WEB;
    r->enterprise.name = strdup("测试企业有限公司");
    snprintf(r->enterprise.credit_code, sizeof r->enterprise.credit_code, "91450103745632897U");
    r->summary = strdup("测试诉求");
    snprintf(r->received_at, sizeof r->received_at, "%s", recv);
    put(&ev, ++v);
    event_clear(&ev);
    int path = (int)rnd(10);
    if (path == 0) { /* refused */
        new_event(&ev, EVENT_CASE_REJECTED, id, day, 10);
        ev.payload.case_rejected.reason_code = EVENT_REJECT_CIVIL_DISPUTE;
        ev.payload.case_rejected.reason_text = strdup("民事纠纷");
        put(&ev, ++v);
        event_clear(&ev);
        n_refused++;
        return;
    }
    new_event(&ev, EVENT_CASE_ACCEPTED, id, day, 10);
    ev.payload.case_accepted.complexity = EVENT_COMPLEXITY_GENERAL;
    ev.payload.case_accepted.matter_type = strdup(i % 2 ? "市政设施/道路积水" : "拖欠账款/工程款");
    put(&ev, ++v);
    event_clear(&ev);
    long long unit = 100 + (long long)rnd(6);
    for (int attempt = 1; attempt <= (path == 1 ? 2 : 1); attempt++) {
        new_event(&ev, EVENT_CASE_DISPATCHED, id, day, 10 + attempt);
        ev.payload.case_dispatched.lead_unit_id = unit + attempt - 1;
        ev.payload.case_dispatched.tier = EVENT_TIER_COUNTY;
        ev.payload.case_dispatched.catalogue_version = 1;
        ev.payload.case_dispatched.basis = EVENT_DISPATCH_CATALOGUE;
        ev.payload.case_dispatched.attempt = attempt;
        snprintf(ev.payload.case_dispatched.sign_by, EVENT_TIME_SIZE, "2026-09-%02dT23:59:59+08:00", day + 1);
        put(&ev, ++v);
        event_clear(&ev);
        n_dispatch++;
        if (path == 1 && attempt == 1) { /* returned, re-routed */
            new_event(&ev, EVENT_CASE_RETURNED, id, day, 12);
            ev.payload.case_returned.unit_id = unit;
            ev.payload.case_returned.reason_code = EVENT_RETURN_NOT_IN_REMIT;
            ev.payload.case_returned.reason_text = strdup("非本单位职责");
            put(&ev, ++v);
            event_clear(&ev);
        }
    }
    unit += path == 1;
    new_event(&ev, EVENT_CASE_SIGNED, id, day, 15);
    ev.payload.case_signed.unit_id = unit;
    ev.payload.case_signed.within_deadline = path != 2;
    snprintf(ev.payload.case_signed.resolve_by, EVENT_TIME_SIZE, "2026-%02d-%02dT23:59:59+08:00", day + 5 > 30 ? 10 : 9,
             day + 5 > 30 ? day + 5 - 30 : day + 5);
    put(&ev, ++v);
    event_clear(&ev);
    if (path == 3) return; /* left open: past due by now */
    if (path == 2) { /* late: a yellow card for the unit */
        new_event(&ev, EVENT_CARD_ISSUED, "", day, 16);
        ev.unit_id = unit;
        event_card_issued_t *c = &ev.payload.card_issued;
        assert_int_equal(event_uuid_new(c->card_id), 0);
        c->unit_id = unit;
        c->colour = EVENT_COLOUR_YELLOW;
        c->consecutive = 1;
        c->interview_of = EVENT_INTERVIEW_NONE;
        c->reason_code = EVENT_CARD_REASON_MISSED_FEEDBACK_DEADLINE;
        c->reason_text = strdup("未按时反馈");
        snprintf(c->case_id, sizeof c->case_id, "%s", id);
        snprintf(ev.case_id, sizeof ev.case_id, "%s", id);
        put(&ev, 0);
        event_clear(&ev);
        n_yellow++;
    }
    int rounds = path == 4 ? 2 : 1;
    for (int round = 1; round <= rounds; round++) {
        new_event(&ev, EVENT_CASE_RESULT_SUBMITTED, id, day, 17 + round);
        event_case_result_submitted_t *p = &ev.payload.case_result_submitted;
        p->unit_id = unit;
        p->handling_round = round;
        p->finding = EVENT_FINDING_TRUE;
        p->measures = strdup("已处理");
        p->how_told = EVENT_HOW_TOLD_PHONE;
        snprintf(p->told_at, EVENT_TIME_SIZE, "%s", ev.occurred_at);
        p->within_deadline = path != 2;
        put(&ev, ++v);
        event_clear(&ev);
        new_event(&ev, EVENT_CASE_REVISIT_RECORDED, id, day, 19 + round);
        event_case_revisit_recorded_t *q = &ev.payload.case_revisit_recorded;
        q->handling_round = round;
        q->attempt = 1;
        q->channel = EVENT_REVISIT_PHONE;
        q->reached = true;
        q->has_contact_verified = q->contact_verified = true;
        q->has_result_true = q->result_true = true;
        q->satisfaction = round < rounds ? EVENT_SATISFACTION_UNSATISFIED : (event_satisfaction_t)(1 + rnd(3));
        if (round < rounds) q->unsatisfied_reason = strdup("问题未解决");
        put(&ev, ++v);
        event_clear(&ev);
        if (round < rounds) {
            new_event(&ev, EVENT_CASE_REDO_ORDERED, id, day, 21);
            ev.payload.case_redo_ordered.unit_id = unit;
            ev.payload.case_redo_ordered.handling_round = round + 1;
            ev.payload.case_redo_ordered.reason_code = EVENT_REDO_UNSATISFIED;
            snprintf(ev.payload.case_redo_ordered.redo_by, EVENT_TIME_SIZE, "2026-10-20T23:59:59+08:00");
            put(&ev, ++v);
            event_clear(&ev);
            n_redo++;
        }
    }
    new_event(&ev, EVENT_CASE_CLOSED, id, day, 22);
    ev.payload.case_closed.basis = EVENT_CLOSE_CENTRE_DECISION;
    ev.payload.case_closed.resolved = true;
    ev.payload.case_closed.handling_rounds = rounds;
    ev.payload.case_closed.handling_working_days = (int)rnd(12);
    put(&ev, ++v);
    event_clear(&ev);
}

static void snapshot(char out[4][40])
{
    static const char *const t[] = {"rep_cases", "rep_day", "rep_month", "rep_unit_day"};
    for (int i = 0; i < 4; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM %s t", t[i]);
        PGresult *r = NULL;
        assert_int_equal(pg_query(db(), sql, 0, NULL, &r), 0);
        snprintf(out[i], 40, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
}

static long long consumed(void)
{
    return itest_scalar(db(), "SELECT count(*) FROM consumed_events WHERE consumer = 'reporting'");
}

static long long offsets_sum(void)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer = 'reporting' AND topic IN ('%s', '%s')",
             case_topic, unit_topic);
    return itest_scalar(db(), sql);
}

static void test_consumer_idempotent_and_rebuild(void **state)
{
    (void)state;
    snprintf(case_topic, sizeof case_topic, "jiesu.itest.rep-case.%s", itest_run_id());
    snprintf(unit_topic, sizeof unit_topic, "jiesu.itest.rep-unit.%s", itest_run_id());
    assert_int_equal(itest_create_topic(case_topic, 6), 0);
    assert_int_equal(itest_create_topic(unit_topic, 3), 0);
    exec("INSERT INTO regions (code, name, tier, parent_code) VALUES ('450000', '广西壮族自治区', 1, NULL), "
         "('450100', '南宁市', 2, '450000'), ('450102', '兴宁区', 3, '450100'), ('450103', '青秀区', 3, '450100') "
         "ON CONFLICT (code) DO NOTHING");
    /* Whatever an earlier test left in the models (another daemon following the shared topics)
     * is replaced by a rebuild of what case_events holds now; the figures below are deltas. */
    readmodel_stats_t st;
    char err[512];
    assert_int_equal(readmodel_rebuild_from_events(db(), &st, err, sizeof err), 0);
    long long before = consumed();
    long long recv0 = itest_scalar(db(), "SELECT coalesce(sum(received), 0) FROM rep_month WHERE unit_id >= 0"),
              ref0 = itest_scalar(db(), "SELECT coalesce(sum(refused), 0) FROM rep_month WHERE unit_id >= 0"),
              disp0 = itest_scalar(db(), "SELECT coalesce(sum(dispatched), 0) FROM rep_day"),
              redo0 = itest_scalar(db(), "SELECT coalesce(sum(redo), 0) FROM rep_month WHERE unit_id >= 0"),
              yel0 = itest_scalar(db(), "SELECT coalesce(sum(yellow), 0) FROM rep_unit_day"),
              cases0 = itest_scalar(db(), "SELECT count(*) FROM rep_cases"),
              ev0 = itest_scalar(db(), "SELECT count(*) FROM case_events");
    exec("BEGIN");
    for (int i = 0; i < CASES; i++) one_case(i);
    exec("COMMIT");

    char dsn[512], brokers[256], redis[128], ct[200], ut[200], log_path[256];
    snprintf(dsn, sizeof dsn, "--pg-dsn=%s", itest_dsn());
    snprintf(brokers, sizeof brokers, "--kafka-brokers=%s", itest_brokers());
    snprintf(redis, sizeof redis, "--redis-addr=%s", itest_redis());
    snprintf(ct, sizeof ct, "--case-topic=%s", case_topic);
    snprintf(ut, sizeof ut, "--unit-topic=%s", unit_topic);
    snprintf(log_path, sizeof log_path, "%s/build/test-logs/itest-reporting-%d.log", itest_env("JIESU_ROOT", "."),
             (int)getpid());
    const char *args[] = {dsn, brokers, redis, ct, ut, "--http-port=0", "--outbox-poll-ms=5", "--log-level=warn", NULL};
    pid_t pid = itest_spawn("reporting", log_path, args);
    double end = itest_now() + 120;
    while (consumed() - before < n_events && itest_now() < end) usleep(200000);
    assert_int_equal(consumed() - before, n_events);

    /* 1. the numbers the generator counted */
    assert_int_equal(itest_scalar(db(), "SELECT sum(received) FROM rep_month WHERE unit_id >= 0") - recv0, CASES);
    assert_int_equal(itest_scalar(db(), "SELECT sum(refused) FROM rep_month WHERE unit_id >= 0") - ref0, n_refused);
    assert_int_equal(itest_scalar(db(), "SELECT sum(dispatched) FROM rep_day") - disp0, n_dispatch);
    assert_int_equal(itest_scalar(db(), "SELECT sum(redo) FROM rep_month WHERE unit_id >= 0") - redo0, n_redo);
    assert_int_equal(itest_scalar(db(), "SELECT sum(yellow) FROM rep_unit_day") - yel0, n_yellow);
    assert_int_equal(itest_scalar(db(), "SELECT count(*) FROM rep_cases") - cases0, CASES);
    /* day and month cubes hold the same totals, and the all-units rollup rows of the month too */
    assert_int_equal(itest_scalar(db(), "SELECT (SELECT sum(done_on_time + 10 * done_late + 100 * resp_on_time) FROM rep_day) - "
                                        "(SELECT sum(done_on_time + 10 * done_late + 100 * resp_on_time) FROM rep_month "
                                        "WHERE unit_id >= 0)"),
                     0);
    assert_int_equal(itest_scalar(db(), "SELECT (SELECT sum(received + 7 * closed + 13 * rated) FROM rep_month WHERE unit_id = -1) - "
                                        "(SELECT sum(received + 7 * closed + 13 * rated) FROM rep_month WHERE unit_id >= 0)"),
                     0);
    char a[4][40], b[4][40], c[4][40];
    snapshot(a);

    /* 2. every event again, straight to Kafka: nothing changes */
    long long target = offsets_sum() + (long long)n_env;
    struct event_base *base = event_base_new();
    kprod_t *p = kprod_new(base, itest_brokers(), "itest-reporting-copies", NULL, NULL, NULL, err, sizeof err);
    assert_non_null(p);
    for (size_t i = 0; i < n_env; i++) {
        event_t ev;
        assert_int_equal(event_decode(envelopes[i], strlen(envelopes[i]), &ev, err, sizeof err), 0);
        char key[40];
        assert_int_equal(event_key(&ev, key, sizeof key), 0);
        const char *topic = event_topic(&ev)[6] == 'c' ? case_topic : unit_topic; /* jiesu.case-… / jiesu.unit-… */
        event_clear(&ev);
        while (kprod_send(p, topic, key, strlen(key), envelopes[i], strlen(envelopes[i]), NULL, err, sizeof err) != 0)
            kprod_poll(p, 10);
    }
    while (kprod_outq_len(p) > 0) kprod_poll(p, 50);
    kprod_free(p, 1000);
    event_base_free(base);
    end = itest_now() + 120;
    while (offsets_sum() < target && itest_now() < end) usleep(200000);
    assert_true(offsets_sum() >= target);
    assert_int_equal(consumed() - before, n_events);
    snapshot(b);
    for (int i = 0; i < 4; i++) assert_string_equal(a[i], b[i]);

    /* 4. a clean stop */
    kill(pid, SIGTERM);
    assert_int_equal(itest_wait(pid, 60), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "grep -qE 'LeakSanitizer|AddressSanitizer|runtime error' %s", log_path);
    assert_int_not_equal(system(cmd), 0);

    /* 3. the rebuild from case_events equals the incremental result */
    assert_int_equal(readmodel_rebuild_from_events(db(), &st, err, sizeof err), 0);
    assert_int_equal(st.cases - cases0, CASES);
    assert_int_equal(st.events, ev0 + n_events - n_unit_events);
    snapshot(c);
    for (int i = 0; i < 4; i++) assert_string_equal(a[i], c[i]);
    /* after the rebuild the models say where they are: every event up to the mark is inside */
    assert_true(itest_scalar(db(), "SELECT hwm FROM rep_state") >= n_events - n_unit_events);
}

int main(void)
{
    log_init("itest-reporting", LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consumer_idempotent_and_rebuild),
    };
    int rc = cmocka_run_group_tests_name("reporting read models", tests, NULL, NULL);
    for (size_t i = 0; i < n_env; i++) free(envelopes[i]);
    free(envelopes);
    pg_free(db());
    return rc;
}
