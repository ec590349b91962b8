/*
 * test_watcher.c — jiesu-deadline-watcher as real processes against the real PostgreSQL, Redis
 * and Kafka: clocks armed from case events, warnings and breaches through the outbox, an
 * extension that makes the old generation stale, supervision notices and the cards of seed 004,
 * a Redis FLUSHALL in the middle of a run with nothing missed, an instance killed with SIGKILL
 * while another keeps firing and a fresh one started, with nothing fired twice, and a timer
 * that fell due while every watcher was down firing on restart with its lateness recorded.
 *
 * Case events are produced straight to a topic of this run (the watcher reads it through
 * --case-topic), deadlines a few seconds ahead; the cases themselves are rows inserted here, in
 * regions of Shandong (滕州, profile tengzhou: cards) and Hubei (枣阳, profile zaoyang: extensions
 * capped, a 5-day notice reply). The watchers run without the outbox relay, so what they wrote
 * is read from the outbox table: "fired once" is one timer.breached event per (case, kind,
 * version) and one fired row per timer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <hiredis.h>
#include <jansson.h>

#include "deadline.h"
#include "event.h"
#include "itest.h"
#include "kafka.h"
#include "log.h"
#include "supnotice.h"

#define BULK 200

static pg_t *pg;
static char topic[128], group[128], prefix[128], logfile[512], tag[32];
static long long unit_tz, unit_tz2, unit_zy, unit_np;
static const char *watcher_extra; /* one more argument for the next start_watcher, or NULL */
static struct event_base *pbase;
static kprod_t *prod;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One scalar with parameters; -1 on error. */
static long long qs(const char *sql, int n, const char *const *p)
{
    PGresult *r = NULL;
    if (pg_query(pg, sql, n, p, &r) != 0) {
        fprintf(stderr, "itest: %s: %s\n", sql, pg->err);
        return -1;
    }
    long long v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* Waits until the scalar reaches want; returns the last value. */
static long long wait_for(const char *sql, int n, const char *const *p, long long want, double secs)
{
    double end = itest_now() + secs;
    long long v = -1;
    while ((v = qs(sql, n, p)) < want && itest_now() < end) usleep(100000);
    return v;
}

static void *allocs[32];
static int nallocs;
static pid_t spawned[16];
static int nspawned;

/* Starts a watcher on a free port (other test runs share this machine's ports), its log in its
 * own file; returns once its /readyz answers 200. */
static pid_t start_watcher(const char *instance)
{
    static char a[16][256];
    char log[640];
    snprintf(log, sizeof log, "%s-%s.log", logfile, instance);
    unlink(log);
    snprintf(a[0], sizeof a[0], "--http-port=0");
    snprintf(a[1], sizeof a[1], "--pg-dsn=%s", itest_dsn());
    snprintf(a[2], sizeof a[2], "--redis-addr=%s", itest_redis());
    snprintf(a[3], sizeof a[3], "--kafka-brokers=%s", itest_brokers());
    snprintf(a[4], sizeof a[4], "--case-topic=%s", topic);
    snprintf(a[5], sizeof a[5], "--consumer-group=%s", group);
    snprintf(a[6], sizeof a[6], "--redis-prefix=%s", prefix);
    snprintf(a[7], sizeof a[7], "--instance-id=%s", instance);
    snprintf(a[8], sizeof a[8], "--outbox-relay=false");
    snprintf(a[9], sizeof a[9], "--poll-ms=50");
    snprintf(a[10], sizeof a[10], "--scan-interval-ms=500");
    snprintf(a[11], sizeof a[11], "--scan-lag-ms=2000");
    snprintf(a[12], sizeof a[12], "--lease-ms=3000");
    snprintf(a[13], sizeof a[13], "--calendar-dir=");
    snprintf(a[14], sizeof a[14], "--log-level=info");
    const char *args[17];
    for (int i = 0; i < 15; i++) args[i] = a[i];
    args[15] = watcher_extra;
    args[16] = NULL;
    pid_t pid = itest_spawn("deadline-watcher", log, args);
    if (nspawned < 16) spawned[nspawned++] = pid;
    /* the port it got is in its "up" line */
    int port = 0;
    for (int i = 0; i < 300 && port == 0; i++) {
        FILE *f = fopen(log, "r");
        char line[4096];
        while (f && fgets(line, sizeof line, f)) {
            char *u = strstr(line, "\"msg\":\"up\"");
            char *pp = u ? strstr(line, "\"port\":") : NULL;
            if (pp) port = atoi(pp + 7);
        }
        if (f) fclose(f);
        if (port == 0) usleep(100000);
    }
    if (port == 0) fail_msg("watcher %s did not start (log %s)", instance, log);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "curl -s -m 1 -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/readyz", port);
    for (int i = 0; i < 300; i++) {
        FILE *f = popen(cmd, "r");
        char out[8] = "";
        if (f) {
            if (fgets(out, sizeof out, f) == NULL) out[0] = '\0';
            pclose(f);
        }
        if (!strcmp(out, "200")) return pid;
        usleep(100000);
    }
    fail_msg("watcher %s on port %d did not get ready (log %s)", instance, port, log);
    return pid;
}

static void stop(pid_t pid, int sig)
{
    kill(pid, sig);
    int st = itest_wait(pid, 30);
    if (sig == SIGKILL) assert_int_equal(st, 128 + SIGKILL);
    else assert_int_equal(st, 0);
}

static void produce(event_t *ev)
{
    char *json = NULL, err[512];
    ev->actor.principal_id = 0;
    ev->actor.role = EVENT_ROLE_SYSTEM;
    snprintf(ev->actor.name, sizeof ev->actor.name, "itest");
    if (event_encode(ev, &json, err, sizeof err) != 0) fail_msg("encode %s: %s", event_type_name(ev->type), err);
    while (kprod_send(prod, topic, ev->case_id, strlen(ev->case_id), json, strlen(json), NULL, err, sizeof err) != 0)
        kprod_poll(prod, 10);
    free(json);
    event_clear(ev);
}

static void flush_producer(void)
{
    while (kprod_outq_len(prod) > 0) kprod_poll(prod, 20);
}

static char batch_no[64]; /* the case-number prefix of the last make_cases batch, with '%' */

/* Inserts n cases in state, held by unit, returning their ids (freed at teardown). */
static char (*make_cases(const char *region, int tier, const char *state, long long unit, int n))[37]
{
    char ns[16], us[32], ts[8], nos[48];
    snprintf(ns, sizeof ns, "%d", n);
    snprintf(us, sizeof us, "%lld", unit);
    snprintf(ts, sizeof ts, "%d", tier);
    static int batch;
    snprintf(nos, sizeof nos, "%s-%d", tag, ++batch);
    snprintf(batch_no, sizeof batch_no, "%s-%%", nos);
    const char *p[] = {ns, region, ts, state, us, nos};
    PGresult *r = NULL;
    if (pg_query(pg, "INSERT INTO cases (case_no, region_code, tier, state, kind, complexity, channel, enterprise_name, "
                     "summary, body, lead_unit_id) SELECT $6 || '-' || lpad(g::text, 5, '0'), $2, $3::smallint, $4, "
                     "'help', 'general', 'web', '测试机械有限公司', '测试诉求', '测试诉求正文', $5::bigint "
                     "FROM generate_series(1, $1::int) g RETURNING id",
                 6, p, &r) != 0)
        fail_msg("insert cases: %s", pg->err);
    char(*ids)[37] = calloc((size_t)n, 37);
    if (nallocs < 32) allocs[nallocs++] = ids; /* freed at teardown, even after a failed check */
    for (int i = 0; i < n; i++) snprintf(ids[i], 37, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return ids;
}

static void set_state(const char *case_id, const char *state)
{
    const char *p[] = {case_id, state};
    assert_int_equal(pg_query(pg, "UPDATE cases SET state = $2, version = version + 1 WHERE id = $1::uuid", 2, p, NULL), 0);
}

static void ts(int64_t ms, char out[EVENT_TIME_SIZE])
{
    deadline_time_format(ms, out, EVENT_TIME_SIZE);
}

static void ev_dispatched(const char *case_id, long long unit, int64_t sign_by)
{
    event_t ev;
    assert_int_equal(event_init(&ev, EVENT_CASE_DISPATCHED), 0);
    snprintf(ev.case_id, sizeof ev.case_id, "%s", case_id);
    event_case_dispatched_t *p = &ev.payload.case_dispatched;
    p->lead_unit_id = unit;
    p->tier = EVENT_TIER_COUNTY;
    p->catalogue_version = 1;
    p->basis = EVENT_DISPATCH_CATALOGUE;
    p->attempt = 1;
    ts(sign_by, p->sign_by);
    produce(&ev);
}

static void ev_signed(const char *case_id, long long unit, int64_t first_contact_by, int64_t resolve_by)
{
    event_t ev;
    assert_int_equal(event_init(&ev, EVENT_CASE_SIGNED), 0);
    snprintf(ev.case_id, sizeof ev.case_id, "%s", case_id);
    event_case_signed_t *p = &ev.payload.case_signed;
    p->unit_id = unit;
    p->within_deadline = true;
    if (first_contact_by) ts(first_contact_by, p->first_contact_by);
    if (resolve_by) ts(resolve_by, p->resolve_by);
    produce(&ev);
}

static void ev_extension(const char *case_id, int64_t resolve_by)
{
    event_t ev;
    assert_int_equal(event_init(&ev, EVENT_CASE_EXTENSION_DECIDED), 0);
    snprintf(ev.case_id, sizeof ev.case_id, "%s", case_id);
    event_case_extension_decided_t *p = &ev.payload.case_extension_decided;
    assert_int_equal(event_uuid_new(p->request_id), 0);
    p->decision = EVENT_EXTENSION_APPROVED;
    ts(resolve_by, p->resolve_by);
    produce(&ev);
}

/* first-contact breaches of the cases of a batch ($1: its case-number prefix) */
#define BREACHES                                                                                     \
    "SELECT count(*) FROM outbox o JOIN cases c ON c.id::text = o.payload::jsonb->>'case_id' WHERE " \
    "o.payload::jsonb->>'type' = 'timer.breached' AND o.payload::jsonb->'payload'->>'kind' = "       \
    "'first_contact' AND c.case_no LIKE $1"
#define BREACHES_PER_CASE_OVER_ONE                                                                   \
    "SELECT count(*) FROM (SELECT c.id FROM outbox o JOIN cases c ON c.id::text = "                  \
    "o.payload::jsonb->>'case_id' WHERE o.payload::jsonb->>'type' = 'timer.breached' AND "           \
    "o.payload::jsonb->'payload'->>'kind' = 'first_contact' AND c.case_no LIKE $1 GROUP BY c.id "   \
    "HAVING count(*) > 1) x"

static long long breached(const char *case_id, const char *kind)
{
    const char *p[] = {case_id, kind};
    return qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'timer.breached' AND "
              "payload::jsonb->>'case_id' = $1 AND payload::jsonb->'payload'->>'kind' = $2", 2, p);
}

/* ---- setup ------------------------------------------------------------------------------------- */

static long long insert_unit(const char *code, const char *name, const char *region, const char *kind)
{
    char c[96];
    snprintf(c, sizeof c, "%s-%s", code, tag);
    const char *p[] = {c, name, region, kind};
    PGresult *r = NULL;
    if (pg_query(pg, "INSERT INTO units (code, name, region_code, kind, head_name, deputy_name) VALUES ($1, $2, $3, $4, "
                     "'张主任', '李副主任') RETURNING id", 4, p, &r) != 0)
        fail_msg("unit: %s", pg->err);
    long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return id;
}

static int setup(void **state)
{
    (void)state;
    pg = pg_new(itest_dsn(), "itest-watcher");
    if (pg == NULL || pg_ensure(pg) != 0) return -1;
    snprintf(tag, sizeof tag, "W%d", (int)getpid());
    snprintf(topic, sizeof topic, "jiesu.itest.watcher.%s", itest_run_id());
    snprintf(group, sizeof group, "itest-watcher-%s", itest_run_id());
    snprintf(prefix, sizeof prefix, "itest:watcher:%s", itest_run_id());
    snprintf(logfile, sizeof logfile, "%s/build/test-logs/itest-watcher-%s", itest_env("JIESU_ROOT", "."), itest_run_id());
    if (itest_create_topic(topic, 3) != 0) return -1;
    static const char *const regions =
        "INSERT INTO regions (code, name, tier, parent_code, policy_profile) VALUES "
        "('370000', '山东省', 1, NULL, NULL), ('370400', '枣庄市', 2, '370000', NULL), "
        "('370481', '滕州市', 3, '370400', 'tengzhou'), ('420000', '湖北省', 1, NULL, NULL), "
        "('420600', '襄阳市', 2, '420000', NULL), ('420683', '枣阳市', 3, '420600', 'zaoyang') "
        "ON CONFLICT (code) DO NOTHING";
    /* a region no profile applies to (none above it has one either), until test_fraud_waits_for_profile binds one */
    static const char *const unbound =
        "INSERT INTO regions (code, name, tier, parent_code, policy_profile) VALUES "
        "('420699', '测试无机制县', 3, '420600', NULL) ON CONFLICT (code) DO UPDATE SET policy_profile = NULL";
    if (pg_query(pg, regions, 0, NULL, NULL) != 0 || pg_query(pg, unbound, 0, NULL, NULL) != 0) {
        fprintf(stderr, "regions: %s\n", pg->err);
        return -1;
    }
    if (itest_scalar(pg, "SELECT count(*) FROM units WHERE kind = 'centre' AND region_code = '370481' AND active") == 0)
        insert_unit("itest-tz-centre", "滕州市政府事务推进中心", "370481", "centre");
    if (itest_scalar(pg, "SELECT count(*) FROM units WHERE kind = 'centre' AND region_code = '420683' AND active") == 0)
        insert_unit("itest-zy-centre", "枣阳市优化营商环境协调工作机制办公室", "420683", "centre");
    unit_tz = insert_unit("itest-tz-scjg", "滕州市市场监督管理局", "370481", "department");
    unit_tz2 = insert_unit("itest-tz-zrzy", "滕州市自然资源局", "370481", "department");
    unit_zy = insert_unit("itest-zy-zj", "枣阳市住房和城乡建设局", "420683", "department");
    unit_np = insert_unit("itest-np-zj", "测试无机制县住房和城乡建设局", "420699", "department");
    pbase = event_base_new();
    char err[256];
    prod = kprod_new(pbase, itest_brokers(), "itest-watcher-producer", NULL, NULL, NULL, err, sizeof err);
    return prod ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < nspawned; i++) /* whatever a failed test left running */
        if (kill(spawned[i], 0) == 0) {
            kill(spawned[i], SIGKILL);
            itest_wait(spawned[i], 5);
        }
    for (int i = 0; i < nallocs; i++) free(allocs[i]);
    kprod_free(prod, 2000);
    event_base_free(pbase);
    pg_free(pg);
    return 0;
}

/* ---- the scenarios ------------------------------------------------------------------------------- */

static pid_t wa; /* the watcher of the first scenarios */

/* A dispatched case: sign-for armed from case.dispatched, warned at once (its deadline is the
 * same day, one working day of warning clamps to the start), breached on time. */
static void test_arm_warn_breach(void **state)
{
    (void)state;
    wa = start_watcher("itest-a");
    char(*c)[37] = make_cases("370481", 3, "dispatched", unit_tz, 1);
    int64_t due = now_ms() + 4000;
    ev_dispatched(c[0], unit_tz, due);
    flush_producer();
    const char *p[] = {c[0]};
    assert_int_equal(wait_for("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'sign_for' AND state = 'armed'",
                              1, p, 1, 30), 1);
    assert_int_equal(wait_for("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'timer.warned' AND "
                              "payload::jsonb->>'case_id' = $1", 1, p, 1, 10), 1);
    assert_int_equal(wait_for("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'sign_for' AND state = 'fired'",
                              1, p, 1, 15), 1);
    long long late = qs("SELECT lateness_ms FROM timers WHERE case_id = $1::uuid AND kind = 'sign_for'", 1, p);
    print_message("sign_for breached %lld ms after its deadline\n", late);
    assert_true(late >= 0 && late < 1500);
    assert_int_equal(breached(c[0], "sign_for"), 1);
    /* the event names the unit and the version, and lateness equals the row's */
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'timer.breached' AND "
                        "payload::jsonb->>'case_id' = $1 AND (payload::jsonb->'payload'->>'timer_version')::int = 1 AND "
                        "(payload::jsonb->'payload'->>'unit_id')::bigint = (SELECT lead_unit_id FROM cases WHERE id = $1::uuid)",
                        1, p), 1);
}

/* An approved extension re-arms resolve-by: version 1 stale and never fired, version 2 fires at
 * the new deadline; the overdue case brings a reminder letter (zaoyang: reply within 5 days). */
static void test_extension_makes_old_stale(void **state)
{
    (void)state;
    char(*c)[37] = make_cases("420683", 3, "in_progress", unit_zy, 1);
    int64_t t0 = now_ms();
    ev_signed(c[0], unit_zy, t0 + 3600000, t0 + 3000);
    ev_extension(c[0], t0 + 7000);
    flush_producer();
    const char *p[] = {c[0]};
    assert_int_equal(wait_for("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'resolve_by' AND version = 2",
                              1, p, 1, 30), 1);
    assert_int_equal(qs("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'resolve_by' AND version = 1 "
                        "AND state = 'stale'", 1, p), 1);
    /* past the old deadline: nothing fired */
    while (now_ms() < t0 + 4500) usleep(100000);
    assert_int_equal(breached(c[0], "resolve_by"), 0);
    assert_int_equal(qs("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'resolve_by' AND state = 'fired'",
                        1, p), 0);
    /* the new one fires at the new deadline, once */
    assert_int_equal(wait_for("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'resolve_by' AND version = 2 "
                              "AND state = 'fired'", 1, p, 1, 15), 1);
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'timer.breached' AND "
                        "payload::jsonb->>'case_id' = $1 AND payload::jsonb->'payload'->>'timer_version' = '2'", 1, p), 1);
    assert_int_equal(breached(c[0], "resolve_by"), 1);
    /* 提醒敦促函 with its 5-day reply clock (a notice's own timer, no case) */
    assert_int_equal(wait_for("SELECT count(*) FROM supervision_notices WHERE case_id = $1::uuid AND level = 1 AND "
                              "reason_code = 'overdue'", 1, p, 1, 5), 1);
    assert_int_equal(qs("SELECT count(*) FROM timers t JOIN supervision_notices n ON n.id = t.notice_id WHERE "
                        "n.case_id = $1::uuid AND t.kind = 'supervision_reply' AND t.state = 'armed' AND t.case_id IS NULL "
                        "AND t.due_at = n.reply_due_at AND n.reply_due_at >= n.issued_at + interval '5 days'", 1, p), 1);
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'supervision.issued' AND "
                        "payload::jsonb->>'case_id' = $1 AND topic = 'jiesu.unit-events'", 1, p), 1);
}

/* Seed 004: four missed reporting deadlines of one unit: Y1; Y2 + red (deputy head); Y1;
 * Y2 + second red (principal head). And its third overdue reminder within 30 days brings a
 * rectification notice. */
static void test_cards(void **state)
{
    (void)state;
    char(*c)[37] = make_cases("370481", 3, "in_progress", unit_tz2, 4);
    int64_t t0 = now_ms();
    for (int i = 0; i < 4; i++) ev_signed(c[i], unit_tz2, t0 + 3600000, t0 + 2500 + 1200 * i);
    flush_producer();
    char us[32];
    snprintf(us, sizeof us, "%lld", unit_tz2);
    const char *p[] = {us};
    assert_int_equal(wait_for("SELECT count(*) FROM unit_cards WHERE unit_id = $1::bigint AND colour = 'yellow'", 1, p, 4, 30), 4);
    assert_int_equal(wait_for("SELECT count(*) FROM unit_cards WHERE unit_id = $1::bigint AND colour = 'red'", 1, p, 2, 10), 2);
    assert_int_equal(qs("SELECT count(*) FROM unit_cards WHERE unit_id = $1::bigint AND colour = 'red' AND consecutive = 1 "
                        "AND interview_of = 'deputy_head' AND reason_code = 'consecutive_yellow'", 1, p), 1);
    assert_int_equal(qs("SELECT count(*) FROM unit_cards WHERE unit_id = $1::bigint AND colour = 'red' AND consecutive = 2 "
                        "AND interview_of = 'principal_head' AND reason_code = 'consecutive_red'", 1, p), 1);
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'card.issued' AND "
                        "(payload::jsonb->>'unit_id')::bigint = $1::bigint", 1, p), 6);
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE unit_id = $1::bigint AND level = 1", 1, p), 4);
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE unit_id = $1::bigint AND level = 2 AND "
                        "reason_code = 'overdue' AND NOT in_bulletin", 1, p), 1); /* tengzhou: not in the bulletin */
}

/* Redis loses everything in the middle of a run: the marker is gone, the schedule is rebuilt
 * from PostgreSQL, and every one of BULK first-contact clocks still fires exactly once. */
static void test_flushall(void **state)
{
    (void)state;
    char(*c)[37] = make_cases("370481", 3, "in_progress", unit_tz, BULK);
    int64_t t0 = now_ms();
    for (int i = 0; i < BULK; i++) ev_signed(c[i], unit_tz, t0 + 3000 + (int64_t)i * 30, t0 + 86400000);
    flush_producer();
    char like[64];
    snprintf(like, sizeof like, "%s", batch_no);
    const char *p[] = {like};
    const char *armed = "SELECT count(*) FROM timers t JOIN cases c ON c.id = t.case_id WHERE t.kind = 'first_contact' "
                        "AND c.case_no LIKE $1";
    const char *fired = "SELECT count(*) FROM timers t JOIN cases c ON c.id = t.case_id WHERE t.kind = 'first_contact' "
                        "AND t.state = 'fired' AND c.case_no LIKE $1";
    assert_int_equal(wait_for(armed, 1, p, BULK, 60), BULK);
    /* wait until some have fired, then flush Redis */
    wait_for(fired, 1, p, BULK / 4, 30);
    redisContext *rc = redisConnect("127.0.0.1", atoi(strrchr(itest_redis(), ':') + 1));
    assert_non_null(rc);
    redisReply *rep = redisCommand(rc, "FLUSHALL");
    assert_non_null(rep);
    freeReplyObject(rep);
    long long fired_at_flush = qs(fired, 1, p);
    print_message("FLUSHALL with %lld of %d fired\n", fired_at_flush, BULK);
    assert_true(fired_at_flush < BULK);
    assert_int_equal(wait_for(fired, 1, p, BULK, 60), BULK);
    /* once each, and the schedule is whole again */
    assert_int_equal(qs(BREACHES_PER_CASE_OVER_ONE, 1, p), 0);
    assert_int_equal(qs(BREACHES, 1, p), BULK);
    char mk[192];
    snprintf(mk, sizeof mk, "%s:marker", prefix);
    rep = redisCommand(rc, "EXISTS %s", mk);
    assert_true(rep && rep->integer == 1);
    freeReplyObject(rep);
    redisFree(rc);
    long long late_max = qs("SELECT max(t.lateness_ms) FROM timers t JOIN cases c ON c.id = t.case_id WHERE t.kind = "
                            "'first_contact' AND c.case_no LIKE $1", 1, p);
    print_message("all %d fired once; worst lateness %lld ms\n", BULK, late_max);
}

/* Two instances share the work; one is killed with SIGKILL while firing, a fresh one joins later:
 * every timer fires, none twice. */
static void test_sigkill(void **state)
{
    (void)state;
    pid_t wb = start_watcher("itest-b");
    char(*c)[37] = make_cases("370481", 3, "in_progress", unit_tz, BULK);
    int64_t t0 = now_ms();
    for (int i = 0; i < BULK; i++) ev_signed(c[i], unit_tz, t0 + 5000 + (int64_t)i * 40, t0 + 86400000);
    flush_producer();
    char like[64];
    snprintf(like, sizeof like, "%s", batch_no);
    const char *p[] = {like};
    const char *fired = "SELECT count(*) FROM timers t JOIN cases c ON c.id = t.case_id WHERE t.kind = 'first_contact' AND "
                        "t.state = 'fired' AND c.case_no LIKE $1";
    assert_int_equal(wait_for("SELECT count(*) FROM timers t JOIN cases c ON c.id = t.case_id WHERE t.kind = 'first_contact' "
                              "AND c.case_no LIKE $1", 1, p, BULK, 60), BULK);
    wait_for(fired, 1, p, BULK / 3, 30);
    kill(wa, SIGKILL);
    assert_int_equal(itest_wait(wa, 10), 128 + SIGKILL);
    print_message("killed instance A with %lld of %d fired\n", qs(fired, 1, p), BULK);
    usleep(1500000);
    wa = start_watcher("itest-a2");
    assert_int_equal(wait_for(fired, 1, p, BULK, 60), BULK);
    assert_int_equal(qs(BREACHES_PER_CASE_OVER_ONE, 1, p), 0);
    assert_int_equal(qs(BREACHES, 1, p), BULK);
    print_message("all %d fired once across the kill\n", BULK);
    stop(wb, SIGTERM);
}

/* Armed, then every watcher stops (and Redis forgets too); the deadline passes while nobody
 * runs; on restart the timer fires at once with its lateness recorded. */
static void test_due_while_down(void **state)
{
    (void)state;
    char(*c)[37] = make_cases("370481", 3, "in_progress", unit_tz, 1);
    int64_t due = now_ms() + 2500;
    ev_signed(c[0], unit_tz, due, now_ms() + 86400000);
    flush_producer();
    const char *p[] = {c[0]};
    assert_int_equal(wait_for("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'first_contact' AND "
                              "state = 'armed'", 1, p, 1, 30), 1);
    stop(wa, SIGTERM);
    redisContext *rc = redisConnect("127.0.0.1", atoi(strrchr(itest_redis(), ':') + 1));
    redisReply *rep = rc ? redisCommand(rc, "FLUSHALL") : NULL;
    if (rep) freeReplyObject(rep);
    if (rc) redisFree(rc);
    while (now_ms() < due + 4000) usleep(100000);
    assert_int_equal(qs("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'first_contact' AND state = 'armed'",
                        1, p), 1);
    wa = start_watcher("itest-a3");
    assert_int_equal(wait_for("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'first_contact' AND "
                              "state = 'fired'", 1, p, 1, 15), 1);
    long long late = qs("SELECT lateness_ms FROM timers WHERE case_id = $1::uuid AND kind = 'first_contact'", 1, p);
    print_message("fired on restart, %lld ms late (the time nobody ran)\n", late);
    assert_true(late >= 4000);
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'timer.breached' AND "
                        "payload::jsonb->>'case_id' = $1 AND (payload::jsonb->'payload'->>'lateness_ms')::bigint >= 4000",
                        1, p), 1);
}

/* Members of the schedule, among the timers the query selects ($1), that Redis holds. */
static long long in_schedule(const char *sql, const char *arg)
{
    PGresult *r = NULL;
    const char *p[] = {arg};
    if (pg_query(pg, sql, 1, p, &r) != 0) fail_msg("%s: %s", sql, pg->err);
    redisContext *rc = redisConnect("127.0.0.1", atoi(strrchr(itest_redis(), ':') + 1));
    assert_non_null(rc);
    long long n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        redisReply *rep = redisCommand(rc, "ZSCORE %s:schedule %s", prefix, PQgetvalue(r, i, 0));
        assert_non_null(rep);
        if (rep->type != REDIS_REPLY_NIL) n++;
        freeReplyObject(rep);
    }
    redisFree(rc);
    PQclear(r);
    return n;
}

/* Cases dispatched and signed before the watcher reads either event: one wake-up of the consumer
 * applies both, so the sign-for generation is armed and disarmed before the schedule hears of
 * it. Nothing of it may reach Redis (it used to be added after its removal and linger there until
 * its due time); the clocks the signature started must. */
static void test_armed_and_disarmed_in_one_flush(void **state)
{
    (void)state;
    stop(wa, SIGTERM);
    enum { N = 50 };
    char(*c)[37] = make_cases("370481", 3, "in_progress", unit_tz, N);
    char like[64];
    snprintf(like, sizeof like, "%s", batch_no);
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++) {
        ev_dispatched(c[i], unit_tz, t0 + 86400000);
        ev_signed(c[i], unit_tz, t0 + 2 * 86400000, t0 + 10 * 86400000);
    }
    flush_producer();
    wa = start_watcher("itest-a4");
    const char *p[] = {like};
    assert_int_equal(wait_for("SELECT count(*) FROM timers t JOIN cases c ON c.id = t.case_id WHERE c.case_no LIKE $1 "
                              "AND t.kind = 'resolve_by' AND t.state = 'armed'", 1, p, N, 60), N);
    assert_int_equal(qs("SELECT count(*) FROM timers t JOIN cases c ON c.id = t.case_id WHERE c.case_no LIKE $1 AND "
                        "t.kind = 'sign_for' AND t.state = 'cancelled' AND t.version = 1", 1, p), N);
    const char *cancelled = "SELECT t.id || ':' || t.version FROM timers t JOIN cases c ON c.id = t.case_id WHERE "
                            "c.case_no LIKE $1 AND t.kind = 'sign_for'";
    const char *armed = "SELECT t.id || ':' || t.version FROM timers t JOIN cases c ON c.id = t.case_id WHERE "
                        "c.case_no LIKE $1 AND t.state = 'armed'";
    long long live = 0;
    for (int i = 0; i < 50 && (live = in_schedule(armed, like)) < 2 * N; i++) usleep(100000);
    assert_int_equal(live, 2 * N); /* first contact and resolve-by of each case */
    long long ghosts = in_schedule(cancelled, like);
    print_message("%d cases dispatched and signed in one batch: %lld cancelled sign-for members left in the schedule\n",
                  N, ghosts);
    assert_int_equal(ghosts, 0);
}

/* A case that moved on is not acted upon: signed before its sign-for deadline (the state says
 * so even before the watcher reads case.signed), nothing fires. Then a clean stop. */
static void test_moved_on(void **state)
{
    (void)state;
    char(*c)[37] = make_cases("370481", 3, "dispatched", unit_tz, 1);
    int64_t due = now_ms() + 2000;
    ev_dispatched(c[0], unit_tz, due);
    flush_producer();
    const char *p[] = {c[0]};
    assert_int_equal(wait_for("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'sign_for'", 1, p, 1, 30), 1);
    set_state(c[0], "in_progress"); /* the unit signed; its event has not reached the watcher */
    while (now_ms() < due + 2500) usleep(100000);
    assert_int_equal(breached(c[0], "sign_for"), 0);
    assert_int_equal(qs("SELECT count(*) FROM timers WHERE case_id = $1::uuid AND kind = 'sign_for' AND state = 'cancelled'",
                        1, p), 1);
    stop(wa, SIGTERM);
    /* nothing in the whole run fired twice */
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM (SELECT payload::jsonb->>'case_id', payload::jsonb->>'unit_id', "
                                      "payload::jsonb->'payload'->>'kind', payload::jsonb->'payload'->>'timer_version', "
                                      "payload::jsonb->'payload'->>'notice_id' FROM outbox WHERE payload::jsonb->>'type' = "
                                      "'timer.breached' GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1) x"), 0);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM timers WHERE state = 'fired' AND (fired_at IS NULL OR lateness_ms IS NULL)"), 0);
    /* the log of every instance: no sanitizer report */
    char cmd[640];
    snprintf(cmd, sizeof cmd, "cat %s-*.log | grep -cE 'LeakSanitizer|AddressSanitizer|runtime error'", logfile);
    FILE *f = popen(cmd, "r");
    char out[16] = "0";
    if (f) {
        if (fgets(out, sizeof out, f) == NULL) snprintf(out, sizeof out, "0");
        pclose(f);
    }
    assert_int_equal(atoi(out), 0);
}

/* A supervisor's call found claimed contacts that did not happen, on a case of a region no
 * profile applies to: the fraud notices the revisit announced are not dropped but flagged
 * (profile_missing, op notice; the second call's notice queued on the same flag), and issued —
 * with the ids derived from the calls, the level of the profile, reply clocks — once a profile
 * is bound to the region and the watcher's refresh retries the flag. */
static void ev_fraud_call(const char *case_id, long long unit, size_t ncontacts, char event_id[EVENT_UUID_SIZE])
{
    event_t ev;
    assert_int_equal(event_init(&ev, EVENT_CASE_REVISIT_RECORDED), 0);
    snprintf(ev.case_id, sizeof ev.case_id, "%s", case_id);
    event_case_revisit_recorded_t *p = &ev.payload.case_revisit_recorded;
    p->handling_round = 1;
    p->attempt = 1;
    p->channel = EVENT_REVISIT_PHONE;
    p->reached = true;
    p->has_contact_verified = true;
    p->contact_verified = false;
    p->has_result_true = true;
    p->result_true = true;
    p->satisfaction = EVENT_SATISFACTION_SATISFIED;
    p->unit_id = unit;
    p->disputed_contact_ids.items = calloc(ncontacts, EVENT_UUID_SIZE);
    assert_non_null(p->disputed_contact_ids.items);
    p->disputed_contact_ids.n = ncontacts;
    for (size_t i = 0; i < ncontacts; i++) assert_int_equal(event_uuid_new(p->disputed_contact_ids.items[i]), 0);
    snprintf(event_id, EVENT_UUID_SIZE, "%s", ev.event_id);
    produce(&ev);
}

static void test_fraud_waits_for_profile(void **state)
{
    (void)state;
    watcher_extra = "--refresh-s=1";
    pid_t wp = start_watcher("itest-p");
    watcher_extra = NULL;
    char(*c)[37] = make_cases("420699", 3, "resolved", unit_np, 1);
    char e1[EVENT_UUID_SIZE], e2[EVENT_UUID_SIZE], n1[EVENT_UUID_SIZE], n2[EVENT_UUID_SIZE];
    ev_fraud_call(c[0], unit_np, 2, e1);
    ev_fraud_call(c[0], unit_np, 1, e2);
    flush_producer();
    assert_int_equal(supnotice_fraud_id(e1, n1), 0);
    assert_int_equal(supnotice_fraud_id(e2, n2), 0);
    const char *p[] = {c[0]};
    /* both notices wait on one flag the operator sees: the first's facts, the second queued */
    assert_int_equal(wait_for("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid AND problem = "
                              "'profile_missing' AND timer_kind = 'supervision_reply' AND resolved_at IS NULL AND "
                              "facts->>'op' = 'notice' AND jsonb_array_length(coalesce(facts->'queued', '[]')) = 1",
                              1, p, 1, 30),
                     1);
    const char *pe[] = {c[0], e1, e2};
    assert_int_equal(qs("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid AND facts->>'source_event_id' = $2 "
                        "AND facts->'queued'->0->>'source_event_id' = $3 AND facts->>'reason' = 'fraud' AND "
                        "jsonb_array_length(facts->'contact_ids') = 2 AND jsonb_array_length(facts->'queued'->0->'contact_ids') = 1",
                        3, pe),
                     1);
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE case_id = $1::uuid", 1, p), 0);
    /* one flag for the notices, no second generic one for the same events */
    assert_int_equal(qs("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid", 1, p), 1);
    /* another notice of the region (an overdue reminder dated in a year with no calendar), flagged
     * for want of a profile: once one is bound it moves onto a calendar_missing flag */
    char(*c2)[37] = make_cases("420699", 3, "resolved", unit_np, 1);
    char us[32];
    snprintf(us, sizeof us, "%lld", unit_np);
    const char *pf[] = {c2[0], us};
    assert_int_equal(qs("WITH f AS (INSERT INTO deadline_flags (case_id, timer_kind, problem, detail, facts) VALUES "
                        "($1::uuid, 'supervision_reply', 'profile_missing', 'no profile', jsonb_build_object('op', "
                        "'notice', 'kind', 'supervision_reply', 'unit_id', $2::bigint, 'case_id', $1::text, 'level', 1, "
                        "'reason', 'overdue', 'reason_text', '测试提醒敦促', 'issued_by', 0, 'source_timer_id', 0, "
                        "'issued_ms', (extract(epoch FROM timestamptz '2029-06-01 10:00+08') * 1000)::bigint, "
                        "'in_bulletin', false)) RETURNING 1) SELECT count(*) FROM f",
                        2, pf),
                     1);
    sleep(2); /* refreshes with the region still unbound: the flags keep waiting */
    assert_int_equal(qs("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid AND resolved_at IS NULL", 1, pf), 1);
    assert_int_equal(qs("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid AND resolved_at IS NULL", 1, p), 1);
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE case_id = $1::uuid", 1, p), 0);

    /* a profile is bound (tengzhou: interviews, so 约谈通知书, level 3) */
    assert_int_equal(itest_scalar(pg, "WITH u AS (UPDATE regions SET policy_profile = 'tengzhou' WHERE code = '420699' "
                                      "RETURNING 1) SELECT count(*) FROM u"), 1);
    assert_int_equal(wait_for("SELECT count(*) FROM supervision_notices WHERE case_id = $1::uuid", 1, p, 2, 30), 2);
    const char *pn[] = {c[0], n1, e1, n2, e2};
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE case_id = $1::uuid AND reason_code = 'fraud' AND "
                        "level = 3 AND ((id = $2::uuid AND source_event_id = $3::uuid AND cardinality(contact_ids) = 2) OR "
                        "(id = $4::uuid AND source_event_id = $5::uuid AND cardinality(contact_ids) = 1)) AND "
                        "reason_text LIKE '%约谈督办%' AND reply_due_at > issued_at",
                        5, pn),
                     2);
    const char *pi[] = {n1, n2};
    assert_int_equal(qs("SELECT count(*) FROM timers WHERE notice_id IN ($1::uuid, $2::uuid) AND kind = 'supervision_reply' "
                        "AND state = 'armed'", 2, pi),
                     2);
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'supervision.issued' AND "
                        "payload::jsonb->'payload'->>'notice_id' IN ($1, $2)", 2, pi),
                     2);
    assert_int_equal(qs("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid AND resolved_at IS NOT NULL AND "
                        "resolution = 'issued after a profile was bound'", 1, p),
                     1);
    assert_int_equal(wait_for("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid AND problem = "
                              "'calendar_missing' AND year = 2029 AND resolved_at IS NULL AND facts->>'reason' = 'overdue'",
                              1, pf, 1, 15),
                     1);
    assert_int_equal(qs("SELECT count(*) FROM deadline_flags WHERE case_id = $1::uuid AND problem = 'profile_missing' AND "
                        "resolution LIKE 'a profile was bound%'", 1, pf),
                     1);
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE case_id = $1::uuid", 1, pf), 0);
    assert_int_equal(qs("WITH u AS (UPDATE deadline_flags SET resolved_at = now(), resolution = 'itest: done' WHERE "
                        "case_id = $1::uuid AND resolved_at IS NULL RETURNING 1) SELECT count(*) FROM u", 1, pf),
                     1);
    assert_int_equal(itest_scalar(pg, "WITH u AS (UPDATE regions SET policy_profile = NULL WHERE code = '420699' "
                                      "RETURNING 1) SELECT count(*) FROM u"), 1);
    stop(wp, SIGTERM);
    char cmd[640];
    snprintf(cmd, sizeof cmd, "grep -cE 'LeakSanitizer|AddressSanitizer|runtime error' %s-itest-p.log", logfile);
    FILE *f = popen(cmd, "r");
    char out[16] = "0";
    if (f) {
        if (fgets(out, sizeof out, f) == NULL) snprintf(out, sizeof out, "0");
        pclose(f);
    }
    assert_int_equal(atoi(out), 0);
}

int main(void)
{
    log_init("itest", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arm_warn_breach),
        cmocka_unit_test(test_extension_makes_old_stale),
        cmocka_unit_test(test_cards),
        cmocka_unit_test(test_flushall),
        cmocka_unit_test(test_sigkill),
        cmocka_unit_test(test_due_while_down),
        cmocka_unit_test(test_armed_and_disarmed_in_one_flush),
        cmocka_unit_test(test_moved_on),
        cmocka_unit_test(test_fraud_waits_for_profile),
    };
    return cmocka_run_group_tests_name("deadline watcher (real PostgreSQL, Redis, Kafka)", tests, setup, teardown);
}
