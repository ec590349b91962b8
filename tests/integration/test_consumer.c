/*
 * test_consumer.c — the idempotent consumer (common/kafka.c) against the real Kafka broker and
 * PostgreSQL: commit only after the effect is durable, rebalance-safe, killed at any instant.
 *
 * 3,000 events (plus 300 deliberate second copies and a few poison messages) are produced to a
 * fresh topic. Two consumer processes of one group share it; one is killed with SIGKILL while
 * working, the group rebalances onto the survivor, and a fresh process finishes the rest. The
 * effects table must end with exactly one row per event id, the copies counted as duplicates,
 * and each poison message in the dead-letter outbox once.
 *
 * Dead letters (table dead_letters, jiesuctl deadletter): refused messages listed and shown with
 * personal values masked; once the cause is fixed, replayed — from their own outbox row or from
 * the original message — and applied exactly once.
 *
 * The type filter (kcons_set_types): messages of other types are skipped without a transaction
 * or a dedup row, yet every offset — the trailing skips' too, written by the timer — reaches
 * consumer_offsets; a restart neither re-applies nor re-reads, and what comes next is applied.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "deadletter.h"
#include "itest.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"

#define EVENTS 3000
#define COPIES 300
#define POISON 3
#define PARTITIONS 4

static char topic[128], group[160];

static kcons_result_t apply(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                            char *err, size_t errlen)
{
    (void)arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    json_t *n = json_object_get(json_object_get(j, "payload"), "n");
    if (!json_is_integer(n)) {
        json_decref(j);
        snprintf(err, errlen, "payload.n: missing");
        return KCONS_DEAD;
    }
    char nb[32];
    snprintf(nb, sizeof nb, "%lld", (long long)json_integer_value(n));
    json_decref(j);
    const char *p[] = {event_id, nb};
    /* no unique constraint on purpose: a second application would show as a second row */
    if (pg_query(pg, "INSERT INTO itest_effects (event_id, n, pid) VALUES ($1, $2::int, pg_backend_pid())",
                 2, p, NULL) != 0)
        return KCONS_RETRY;
    return KCONS_APPLIED;
}

typedef struct {
    struct event_base *base;
    struct event *ev;
    pg_t *pg;
    double end;
    long long until; /* stop once the effects table has this many rows and all is consumed */
} stopper_t;

static void stop_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stopper_t *s = arg;
    if (itest_now() > s->end ||
        (s->until > 0 && itest_scalar(s->pg, "SELECT count(*) FROM itest_effects") >= s->until &&
         itest_scalar(s->pg, "SELECT count(*) FROM outbox WHERE topic = 'jiesu.dead-letter' "
                             "AND payload LIKE '%itest-consumer%'") >= POISON)) {
        event_base_loopbreak(s->base);
        return;
    }
    struct timeval tv = {0, 300000};
    evtimer_add(s->ev, &tv);
}

/* Runs a consumer of the group for at most secs seconds, or until `until` effects exist and
 * the poison messages were dead-lettered; then leaves the group cleanly. */
static void run_consumer(double secs, long long until)
{
    struct event_base *base = event_base_new();
    pg_t *pg = pg_new(itest_dsn(), "itest-consumer");
    char err[512];
    const char *topics[] = {topic, NULL};
    kcons_t *c = kcons_new(base, itest_brokers(), group, topics, pg, apply, NULL, NULL, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "consumer: %s\n", err);
        exit(3);
    }
    stopper_t st = {base, NULL, pg, itest_now() + secs, until};
    st.ev = evtimer_new(base, stop_tick, &st);
    struct timeval tv = {0, 300000};
    evtimer_add(st.ev, &tv);
    event_base_dispatch(base);
    kcons_free(c);
    event_free(st.ev);
    pg_free(pg);
    event_base_free(base);
}

static void produce_all(void)
{
    struct event_base *base = event_base_new();
    char err[512];
    kprod_t *p = kprod_new(base, itest_brokers(), "itest-consumer-producer", NULL, NULL, NULL, err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < EVENTS + COPIES; i++) {
        int n = i < EVENTS ? i : (i - EVENTS) * 7; /* the copies repeat earlier events */
        char eid[40], key[32], val[256];
        snprintf(eid, sizeof eid, "%08x-0000-4000-8000-%012d", (unsigned)getpid(), n);
        snprintf(key, sizeof key, "case-%d", n % 97);
        snprintf(val, sizeof val, "{\"event_id\":\"%s\",\"type\":\"test.n\",\"payload\":{\"n\":%d}}", eid, n);
        while (kprod_send(p, topic, key, strlen(key), val, strlen(val), NULL, err, sizeof err) != 0)
            kprod_poll(p, 10);
    }
    static const char *const poison[POISON] = {
        "this is not JSON", "{\"no_event_id\":true}",
        "{\"event_id\":\"00000000-0000-4000-8000-00000000beef\",\"payload\":{}}"};
    for (int i = 0; i < POISON; i++)
        assert_int_equal(kprod_send(p, topic, "poison", 6, poison[i], strlen(poison[i]), NULL, err, sizeof err), 0);
    while (kprod_outq_len(p) > 0) kprod_poll(p, 50);
    kprod_free(p, 1000);
    event_base_free(base);
}

/* A new two-partition topic, and an empty effects table (name, column list); the connection. */
static pg_t *fresh_topic_and_table(const char *t, const char *table, const char *columns)
{
    assert_int_equal(itest_create_topic(t, 2), 0);
    pg_t *pg = pg_new(itest_dsn(), "itest");
    assert_int_equal(pg_ensure(pg), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    assert_int_equal(pg_query(pg, sql, 0, NULL, NULL), 0);
    snprintf(sql, sizeof sql, "CREATE TABLE %s %s", table, columns);
    assert_int_equal(pg_query(pg, sql, 0, NULL, NULL), 0);
    return pg;
}

static void test_kill_and_rebalance(void **state)
{
    (void)state;
    snprintf(topic, sizeof topic, "jiesu.itest.consumer.%s", itest_run_id());
    snprintf(group, sizeof group, "itest-consumer-%s", itest_run_id());
    assert_int_equal(itest_create_topic(topic, PARTITIONS), 0);
    pg_t *pg = pg_new(itest_dsn(), "itest");
    assert_int_equal(pg_ensure(pg), 0);
    assert_int_equal(pg_query(pg, "DROP TABLE IF EXISTS itest_effects", 0, NULL, NULL), 0);
    assert_int_equal(pg_query(pg, "CREATE TABLE itest_effects (event_id uuid NOT NULL, n int NOT NULL, pid int)",
                              0, NULL, NULL), 0);
    long long dead_before = itest_scalar(pg, "SELECT count(*) FROM outbox WHERE topic = 'jiesu.dead-letter'");

    pid_t a = fork();
    if (a == 0) {
        run_consumer(120, 0);
        _exit(0);
    }
    pid_t b = fork();
    if (b == 0) {
        run_consumer(120, 0);
        _exit(0);
    }
    produce_all();

    /* kill A while the group is working */
    double end = itest_now() + 90;
    long long seen = 0;
    while ((seen = itest_scalar(pg, "SELECT count(*) FROM itest_effects")) < EVENTS / 3 && itest_now() < end)
        usleep(5000);
    kill(a, SIGKILL);
    assert_int_equal(itest_wait(a, 10), 128 + SIGKILL);
    print_message("killed consumer A after %lld effects\n", seen);

    /* B takes over A's partitions after the rebalance; let it work a while, then stop it */
    end = itest_now() + 60;
    while (itest_scalar(pg, "SELECT count(*) FROM itest_effects") < EVENTS * 2 / 3 && itest_now() < end)
        usleep(20000);
    kill(b, SIGTERM); /* the loop has no signal handler here: SIGTERM ends B like a crash too */
    itest_wait(b, 30);
    print_message("B stopped at %lld effects\n", itest_scalar(pg, "SELECT count(*) FROM itest_effects"));

    /* a fresh consumer finishes whatever is left */
    pid_t c = fork();
    if (c == 0) {
        run_consumer(60, EVENTS);
        _exit(0);
    }
    assert_int_equal(itest_wait(c, 70), 0);

    long long rows = itest_scalar(pg, "SELECT count(*) FROM itest_effects");
    long long distinct = itest_scalar(pg, "SELECT count(DISTINCT event_id) FROM itest_effects");
    long long dups = itest_scalar(pg, "SELECT count(*) FROM (SELECT event_id FROM itest_effects GROUP BY 1 HAVING count(*) > 1) x");
    long long dead = itest_scalar(pg, "SELECT count(*) FROM outbox WHERE topic = 'jiesu.dead-letter'") - dead_before;
    long long offsets = itest_scalar(pg, "SELECT count(*) FROM consumer_offsets WHERE consumer LIKE 'itest-consumer-%'");
    print_message("effects %lld, distinct %lld, applied twice %lld, dead letters %lld\n", rows, distinct, dups, dead);
    assert_int_equal(rows, EVENTS);
    assert_int_equal(distinct, EVENTS);
    assert_int_equal(dups, 0);
    assert_int_equal(dead, POISON);
    assert_true(offsets >= 1);
    /* and one row each for operators: the two without a usable event id carry none */
    char q[400];
    snprintf(q, sizeof q, "SELECT count(*) FROM dead_letters WHERE consumer = '%s' AND topic = '%s'", group, topic);
    assert_int_equal(itest_scalar(pg, q), POISON);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM dead_letters WHERE consumer = '%s' AND event_id IS NULL AND original IS NOT NULL",
             group);
    assert_int_equal(itest_scalar(pg, q), 2);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM dead_letters WHERE consumer = '%s' AND event_id = "
             "'00000000-0000-4000-8000-00000000beef' AND error LIKE 'payload.n%%' AND msg_key = 'poison'",
             group);
    assert_int_equal(itest_scalar(pg, q), 1);
    pg_free(pg);
}

/* ---- dead letters, replayed once the cause is fixed ------------------------------------------ */

#define DL_GOOD 4
#define DL_FIXME 3 /* two produced straight to Kafka, one through the outbox */

static char dtopic[128], dgroup[160];
static int dl_fixed; /* the "new release": the handler learns what it refused before */

static kcons_result_t apply_fixable(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                                    char *err, size_t errlen)
{
    (void)arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    json_t *pl = json_object_get(j, "payload");
    int fixme = json_is_true(json_object_get(pl, "fixme"));
    char nb[32];
    snprintf(nb, sizeof nb, "%lld", (long long)json_integer_value(json_object_get(pl, "n")));
    json_decref(j);
    if (fixme && !dl_fixed) {
        snprintf(err, errlen, "payload.fixme: not supported by this release");
        return KCONS_DEAD;
    }
    const char *p[] = {event_id, nb};
    if (pg_query(pg, "INSERT INTO itest_dl_effects (event_id, n) VALUES ($1, $2::int)", 2, p, NULL) != 0)
        return KCONS_RETRY;
    return KCONS_APPLIED;
}

typedef struct {
    struct event_base *base;
    struct event *ev;
    pg_t *pg;
    double end;
    long long effects, dead; /* stop once both are reached */
} dl_stop_t;

static void dl_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dl_stop_t *s = arg;
    char q[300];
    snprintf(q, sizeof q, "SELECT count(*) FROM dead_letters WHERE consumer = '%s'", dgroup);
    if (itest_now() > s->end || (itest_scalar(s->pg, "SELECT count(*) FROM itest_dl_effects") >= s->effects &&
                                 itest_scalar(s->pg, q) >= s->dead)) {
        event_base_loopbreak(s->base);
        return;
    }
    struct timeval tv = {0, 200000};
    evtimer_add(s->ev, &tv);
}

/* A consumer of dgroup and an outbox relay on one loop, until `effects` effects and `dead` dead
 * letters of the group exist (or secs pass). */
static void dl_run(double secs, long long effects, long long dead)
{
    struct event_base *base = event_base_new();
    pg_t *pg = pg_new(itest_dsn(), "itest-dl");
    metrics_t *metrics = metrics_new();
    char err[512];
    const char *topics[] = {dtopic, NULL};
    kcons_t *c = kcons_new(base, itest_brokers(), dgroup, topics, pg, apply_fixable, NULL, NULL, err, sizeof err);
    assert_non_null(c);
    outbox_relay_conf_t rc = {.pg_dsn = itest_dsn(), .brokers = itest_brokers(), .instance = "itest-dl",
                              .batch = 500, .poll_ms = 50, .retention_s = 3600};
    outbox_relay_t *relay = outbox_relay_new(base, &rc, metrics, err, sizeof err);
    assert_non_null(relay);
    dl_stop_t st = {base, NULL, pg, itest_now() + secs, effects, dead};
    st.ev = evtimer_new(base, dl_tick, &st);
    struct timeval tv = {0, 200000};
    evtimer_add(st.ev, &tv);
    event_base_dispatch(base);
    outbox_relay_free(relay, 2000);
    kcons_free(c);
    event_free(st.ev);
    metrics_free(metrics);
    pg_free(pg);
    event_base_free(base);
}

/* Runs `jiesuctl deadletter ARGS…` in-process; the exit code, what it printed in out/err. */
static int dl_cli(char *out, size_t outlen, char *errout, size_t errlen, int argc, const char **args)
{
    char *ob = NULL, *eb = NULL;
    size_t on = 0, en = 0;
    FILE *o = open_memstream(&ob, &on), *e = open_memstream(&eb, &en);
    setenv("JIESU_PG_DSN", itest_dsn(), 1);
    int rc = deadletter_cli(argc, (char **)args, o, e);
    fclose(o);
    fclose(e);
    snprintf(out, outlen, "%s", ob ? ob : "");
    snprintf(errout, errlen, "%s", eb ? eb : "");
    free(ob);
    free(eb);
    return rc;
}

static void test_dead_letter_replay(void **state)
{
    (void)state;
    snprintf(dtopic, sizeof dtopic, "jiesu.itest.deadletter.%s", itest_run_id());
    snprintf(dgroup, sizeof dgroup, "itest-dl-%s", itest_run_id());
    pg_t *pg = fresh_topic_and_table(dtopic, "itest_dl_effects", "(event_id uuid NOT NULL, n int NOT NULL)");
    /* n 1-4 good, 5-6 refused by this release (straight to Kafka), 7 refused (through the outbox) */
    struct event_base *base = event_base_new();
    char err[512];
    kprod_t *p = kprod_new(base, itest_brokers(), "itest-dl-producer", NULL, NULL, NULL, err, sizeof err);
    assert_non_null(p);
    char eid[8][40];
    for (int n = 1; n <= 7; n++) {
        char key[32], val[256];
        snprintf(eid[n], sizeof eid[n], "%08x-0000-4000-8000-%012d", (unsigned)getpid(), 900000 + n);
        snprintf(key, sizeof key, "case-%d", n);
        snprintf(val, sizeof val, "{\"event_id\":\"%s\",\"type\":\"test.n\",\"payload\":{\"n\":%d,\"fixme\":%s,"
                 "\"contact_phone\":\"13807712345\"}}", eid[n], n, n > DL_GOOD ? "true" : "false");
        if (n < 7) {
            assert_int_equal(kprod_send(p, dtopic, key, strlen(key), val, strlen(val), NULL, err, sizeof err), 0);
        } else {
            const char *o[] = {eid[n], dtopic, key, val};
            assert_int_equal(pg_query(pg, OUTBOX_INSERT_SQL, 4, o, NULL), 0);
        }
    }
    while (kprod_outq_len(p) > 0) kprod_poll(p, 50);
    kprod_free(p, 1000);
    event_base_free(base);

    dl_fixed = 0;
    dl_run(60, DL_GOOD, DL_FIXME);
    char q[400];
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM itest_dl_effects"), DL_GOOD);
    snprintf(q, sizeof q, "SELECT count(*) FROM dead_letters WHERE consumer = '%s' AND replayed_at IS NULL "
                          "AND event_type = 'test.n' AND original LIKE '%%\"fixme\":true%%' AND error LIKE 'payload.fixme%%'",
             dgroup);
    assert_int_equal(itest_scalar(pg, q), DL_FIXME);

    /* list and show: the operator sees them, personal values masked in `show` */
    char out[8192], eout[2048];
    const char *list[] = {"deadletter", "list", "--consumer", dgroup};
    assert_int_equal(dl_cli(out, sizeof out, eout, sizeof eout, 4, list), 0);
    assert_non_null(strstr(out, "3 dead letter(s) pending"));
    assert_non_null(strstr(out, eid[5]));
    snprintf(q, sizeof q, "SELECT min(id) FROM dead_letters WHERE consumer = '%s'", dgroup);
    char first[24];
    snprintf(first, sizeof first, "%lld", itest_scalar(pg, q));
    const char *show[] = {"deadletter", "show", first};
    assert_int_equal(dl_cli(out, sizeof out, eout, sizeof eout, 3, show), 0);
    assert_non_null(strstr(out, "payload.fixme"));
    assert_null(strstr(out, "13807712345"));
    assert_non_null(strstr(out, "contact_phone"));

    /* refused: unknown ids, and nothing changes */
    const char *bad[] = {"deadletter", "replay", "999999999"};
    assert_int_equal(dl_cli(out, sizeof out, eout, sizeof eout, 3, bad), 1);
    assert_non_null(strstr(eout, "no dead letter 999999999"));
    const char *usage[] = {"deadletter", "replay", "--pending"};
    assert_int_equal(dl_cli(out, sizeof out, eout, sizeof eout, 3, usage), 2);

    /* the fix is deployed: replay them all, then each is applied exactly once */
    dl_fixed = 1;
    const char *replay[] = {"deadletter", "replay", "--consumer", dgroup, "--pending", "--by", "itest operator"};
    assert_int_equal(dl_cli(out, sizeof out, eout, sizeof eout, 7, replay), 0);
    assert_non_null(strstr(out, "3 replayed, 0 refused"));
    const char *again[] = {"deadletter", "replay", first};
    assert_int_equal(dl_cli(out, sizeof out, eout, sizeof eout, 3, again), 1);
    assert_non_null(strstr(eout, "replayed already"));
    snprintf(q, sizeof q, "SELECT count(*) FROM audit_log WHERE action = 'deadletter.replay' AND detail->>'consumer' = '%s' "
                          "AND detail->>'by' = 'itest operator'", dgroup);
    assert_int_equal(itest_scalar(pg, q), DL_FIXME);
    /* 7 went out again from its own outbox row; 5 and 6 got rows with their original message */
    snprintf(q, sizeof q, "SELECT count(*) FROM outbox WHERE event_id = '%s'", eid[7]);
    assert_int_equal(itest_scalar(pg, q), 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM outbox WHERE topic = '%s' AND msg_key IN ('case-5', 'case-6')", dtopic);
    assert_int_equal(itest_scalar(pg, q), 2);

    dl_run(60, DL_GOOD + DL_FIXME, DL_FIXME);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM itest_dl_effects"), DL_GOOD + DL_FIXME);
    assert_int_equal(itest_scalar(pg, "SELECT count(DISTINCT n) FROM itest_dl_effects"), DL_GOOD + DL_FIXME);
    snprintf(q, sizeof q, "SELECT count(*) FROM dead_letters WHERE consumer = '%s' AND replayed_at IS NOT NULL", dgroup);
    assert_int_equal(itest_scalar(pg, q), DL_FIXME);
    snprintf(q, sizeof q, "SELECT count(*) FROM dead_letters WHERE consumer = '%s'", dgroup);
    assert_int_equal(itest_scalar(pg, q), DL_FIXME); /* none refused again */
    snprintf(q, sizeof q, "SELECT count(*) FROM outbox WHERE topic = '%s' AND published_at IS NULL", dtopic);
    assert_int_equal(itest_scalar(pg, q), 0);
    pg_free(pg);
}

/* ---- the type filter ------------------------------------------------------------------------- */

#define F_MSGS 600   /* in the first batch: every 4th is test.keep, the rest test.skip */
#define F_TAIL 80    /* then only test.skip: the last offsets are skips, written by the timer */
#define F_MORE 200   /* after the restart: more of both */

static char ftopic[128], fgroup[160];
static long long f_applied, f_skipped, f_offsets_running;
static char q_offsets[400];

static kcons_result_t apply_keep(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                                 char *err, size_t errlen)
{
    (void)arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    int keep = type && !strcmp(type, "test.keep");
    json_decref(j);
    if (!keep) { /* the filter must never let one through */
        snprintf(err, errlen, "a skipped type reached the handler");
        return KCONS_DEAD;
    }
    const char *p[] = {event_id};
    if (pg_query(pg, "INSERT INTO itest_filter (event_id) VALUES ($1)", 1, p, NULL) != 0) return KCONS_RETRY;
    return KCONS_APPLIED;
}

typedef struct {
    struct event_base *base;
    struct event *ev;
    pg_t *pg;
    double end, quiet_until;
    long long until;
} fstop_t;

static void fstop_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fstop_t *s = arg;
    double now = itest_now();
    if (now > s->end) {
        event_base_loopbreak(s->base);
        return;
    }
    /* once the effects are all there, stay a little longer: the skip timer must fire on its own */
    if (s->until > 0 && s->quiet_until == 0 && itest_scalar(s->pg, "SELECT count(*) FROM itest_filter") >= s->until)
        s->quiet_until = now + 2.5;
    if (s->quiet_until > 0 && now > s->quiet_until) {
        f_offsets_running = itest_scalar(s->pg, q_offsets);
        event_base_loopbreak(s->base);
        return;
    }
    struct timeval tv = {0, 200000};
    evtimer_add(s->ev, &tv);
}

/* Runs a filtered consumer until `until` effects exist (then 2.5 s more) or secs pass. What
 * consumer_offsets holds just before it stops (f_offsets_running) shows what the handled
 * messages and the skip timer wrote, before kcons_free's revoke would write the rest. */
static void run_filtered(double secs, long long until)
{
    struct event_base *base = event_base_new();
    pg_t *pg = pg_new(itest_dsn(), "itest-filter");
    char err[512];
    const char *topics[] = {ftopic, NULL};
    kcons_t *c = kcons_new(base, itest_brokers(), fgroup, topics, pg, apply_keep, NULL, NULL, err, sizeof err);
    assert_non_null(c);
    static const char *const types[] = {"test.keep", NULL};
    assert_int_equal(kcons_set_types(c, types), 0);
    fstop_t st = {base, NULL, pg, itest_now() + secs, 0, until};
    st.ev = evtimer_new(base, fstop_tick, &st);
    struct timeval tv = {0, 200000};
    evtimer_add(st.ev, &tv);
    event_base_dispatch(base);
    f_applied = kcons_applied(c);
    f_skipped = kcons_skipped(c);
    kcons_free(c);
    event_free(st.ev);
    pg_free(pg);
    event_base_free(base);
}

static long long produce_mixed(int from, int count, int keep_every)
{
    struct event_base *base = event_base_new();
    char err[512];
    kprod_t *p = kprod_new(base, itest_brokers(), "itest-filter-producer", NULL, NULL, NULL, err, sizeof err);
    assert_non_null(p);
    long long kept = 0;
    for (int i = from; i < from + count; i++) {
        int keep = keep_every > 0 && i % keep_every == 0;
        kept += keep;
        char eid[40], key[32], val[320];
        snprintf(eid, sizeof eid, "%08x-0000-4000-9000-%012d", (unsigned)getpid(), i);
        snprintf(key, sizeof key, "case-%d", i % 13);
        /* the type after a nested payload with a "type" of its own: the peek reads the top level */
        snprintf(val, sizeof val, "{\"event_id\":\"%s\",\"payload\":{\"type\":\"test.keep\",\"s\":\"}{\\\"\"},\"type\":\"%s\"}",
                 eid, keep ? "test.keep" : "test.skip");
        while (kprod_send(p, ftopic, key, strlen(key), val, strlen(val), NULL, err, sizeof err) != 0) kprod_poll(p, 10);
    }
    while (kprod_outq_len(p) > 0) kprod_poll(p, 50);
    kprod_free(p, 1000);
    event_base_free(base);
    return kept;
}

static void test_type_filter(void **state)
{
    (void)state;
    snprintf(ftopic, sizeof ftopic, "jiesu.itest.filter.%s", itest_run_id());
    snprintf(fgroup, sizeof fgroup, "itest-filter-%s", itest_run_id());
    pg_t *pg = fresh_topic_and_table(ftopic, "itest_filter", "(event_id uuid NOT NULL)");
    char q_dedup[300];
    snprintf(q_offsets, sizeof q_offsets,
             "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer = '%s'", fgroup);
    snprintf(q_dedup, sizeof q_dedup, "SELECT count(*) FROM consumed_events WHERE consumer = '%s'", fgroup);

    long long keep = produce_mixed(0, F_MSGS, 4);
    produce_mixed(F_MSGS, F_TAIL, 0);
    long long total = F_MSGS + F_TAIL;
    run_filtered(60, keep);
    print_message("first run: applied %lld, skipped %lld, offsets %lld of %lld\n", f_applied, f_skipped,
                  itest_scalar(pg, q_offsets), total);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM itest_filter"), keep);
    assert_int_equal(f_applied, keep);
    assert_int_equal(f_skipped, total - keep);
    /* skipped messages had no transaction: no dedup rows for them */
    assert_int_equal(itest_scalar(pg, q_dedup), keep);
    /* and yet every offset, the trailing skips' included, reached PostgreSQL while the consumer
     * ran (the timer), not only when it left */
    assert_int_equal(f_offsets_running, total);
    assert_int_equal(itest_scalar(pg, q_offsets), total);

    /* a restart reads nothing again: no re-application, no re-skip */
    run_filtered(4, 0);
    assert_int_equal(f_applied, 0);
    assert_int_equal(f_skipped, 0);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM itest_filter"), keep);

    /* and loses nothing: what comes next is applied once */
    long long more = produce_mixed(F_MSGS + F_TAIL, F_MORE, 3);
    run_filtered(60, keep + more);
    assert_int_equal(f_applied, more);
    assert_int_equal(f_skipped, F_MORE - more);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM itest_filter"), keep + more);
    assert_int_equal(itest_scalar(pg, "SELECT count(DISTINCT event_id) FROM itest_filter"), keep + more);
    assert_int_equal(itest_scalar(pg, q_offsets), total + F_MORE);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM outbox WHERE topic = 'jiesu.dead-letter' AND payload LIKE '%itest-filter%'"), 0);
    pg_free(pg);
}

int main(void)
{
    log_init("itest", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_and_rebalance),
        cmocka_unit_test(test_type_filter),
        cmocka_unit_test(test_dead_letter_replay),
    };
    return cmocka_run_group_tests_name("idempotent consumer (real Kafka + PostgreSQL)", tests, NULL, NULL);
}
