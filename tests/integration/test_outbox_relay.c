/*
 * test_outbox_relay.c — the outbox's delivery promise, against the real PostgreSQL and Kafka.
 *
 * 5,000 events for 50 cases are written to the outbox; a daemon (jiesu-intake, which consumes
 * nothing, so the relay is all it does here) publishes them and is killed with SIGKILL, repeatedly, until
 * a kill is caught in the middle of a batch: Kafka holds more messages than PostgreSQL has
 * marked published. One row is written by a transaction that commits late — after rows with
 * higher ids were already published — the row an "id > last seen" relay would skip. Then the
 * relay is restarted to the end and an idempotent consumer (common/kafka.c) reads the topic
 * from the beginning. Checked: every event applied exactly once by event id, none skipped,
 * and each case's events applied in the order they were written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "itest.h"
#include "kafka.h"
#include "log.h"
#include "outbox.h"

#define NCASES 50
#define PER_CASE 100
#define TOTAL (NCASES * PER_CASE)
#define PARTITIONS 3

static char topic[128];

static pg_t *connect_pg(void)
{
    pg_t *pg = pg_new(itest_dsn(), "itest-outbox");
    assert_non_null(pg);
    assert_int_equal(pg_ensure(pg), 0);
    return pg;
}

static void uuid_for(char out[37], int a, int b)
{
    /* deterministic per run, distinct per (a,b): run hash in the first group */
    unsigned h = 2166136261u;
    for (const char *p = itest_run_id(); *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    snprintf(out, 37, "%08x-%04x-4%03x-8000-%012x", h, (unsigned)a & 0xffff, (unsigned)b & 0xfff,
             (unsigned)(a * 100000 + b));
}

static void insert_event(pg_t *pg, int c, int seq)
{
    char eid[37], key[128], payload[640];
    uuid_for(eid, c, seq);
    snprintf(key, sizeof key, "case-%s-%d", itest_run_id(), c);
    snprintf(payload, sizeof payload,
             "{\"event_id\":\"%s\",\"case_id\":\"%s\",\"type\":\"test.sequence\","
             "\"payload\":{\"seq\":%d}}",
             eid, key, seq);
    assert_int_equal(outbox_append(pg, eid, topic, key, payload), 0);
}

/* ---- the idempotent consumer side --------------------------------------------------------- */

typedef struct {
    long long handled; /* handler calls = first copies */
} sink_t;

static kcons_result_t sink_apply(void *arg, pg_t *pg, const rd_kafka_message_t *m,
                                 const char *event_id, char *err, size_t errlen)
{
    sink_t *s = arg;
    json_error_t je;
    json_t *j = json_loadb(m->payload, m->len, 0, &je);
    const char *ckey = json_string_value(json_object_get(j, "case_id"));
    json_t *seq = json_object_get(json_object_get(j, "payload"), "seq");
    if (ckey == NULL || !json_is_integer(seq)) {
        snprintf(err, errlen, "test message without case_id/seq");
        json_decref(j);
        return KCONS_DEAD;
    }
    char sq[32];
    snprintf(sq, sizeof sq, "%lld", (long long)json_integer_value(seq));
    const char *p[] = {event_id, ckey, sq};
    int rc = pg_query(pg, "INSERT INTO itest_applied (event_id, case_key, seq) VALUES ($1, $2, $3::int)",
                      3, p, NULL);
    json_decref(j);
    if (rc != 0) return KCONS_RETRY;
    s->handled++;
    return KCONS_APPLIED;
}

typedef struct {
    struct event_base *base;
    pg_t *pg;
    long long want;
    double deadline;
    struct event *ev;
} waiter_t;

static void waiter_tick(evutil_socket_t fd, short what, void *arg)
{
    waiter_t *w = arg;
    (void)fd;
    (void)what;
    long long n = itest_scalar(w->pg, "SELECT count(*) FROM itest_applied");
    if (n >= w->want || itest_now() > w->deadline) {
        event_base_loopbreak(w->base);
        return;
    }
    struct timeval tv = {0, 200000};
    evtimer_add(w->ev, &tv);
}

/* ---- the test ------------------------------------------------------------------------------ */

static void test_relay_survives_sigkill(void **state)
{
    (void)state;
    snprintf(topic, sizeof topic, "jiesu.itest.outbox.%s", itest_run_id());
    assert_int_equal(itest_create_topic(topic, PARTITIONS), 0);

    pg_t *pg = connect_pg();
    assert_int_equal(pg_query(pg, "DROP TABLE IF EXISTS itest_applied", 0, NULL, NULL), 0);
    assert_int_equal(pg_query(pg,
                              "CREATE TABLE itest_applied (n bigserial PRIMARY KEY, event_id uuid "
                              "NOT NULL, case_key text NOT NULL, seq int NOT NULL)",
                              0, NULL, NULL),
                     0);
    /* leave no older unpublished rows around that would compete with ours */
    assert_int_equal(pg_query(pg, "DELETE FROM outbox", 0, NULL, NULL), 0);

    /* The late writer takes its id first and commits only after later ids are published. */
    pg_t *late = connect_pg();
    assert_int_equal(pg_begin(late), 0);
    insert_event(late, NCASES, 0);
    long long late_id = itest_scalar(late, "SELECT max(id) FROM outbox");

    /* 5,000 events, ten per transaction, cases interleaved */
    for (int seq = 0; seq < PER_CASE; seq++) {
        for (int c0 = 0; c0 < NCASES; c0 += 10) {
            assert_int_equal(pg_begin(pg), 0);
            for (int c = c0; c < c0 + 10; c++) insert_event(pg, c, seq);
            assert_int_equal(pg_commit(pg), 0);
        }
    }

    char dsn_arg[600], log_path[256];
    snprintf(dsn_arg, sizeof dsn_arg, "--pg-dsn=%s", itest_dsn());
    snprintf(log_path, sizeof log_path, "build/test-logs/itest-outbox-relay-%s.log", itest_run_id());
    char brokers_arg[256];
    snprintf(brokers_arg, sizeof brokers_arg, "--kafka-brokers=%s", itest_brokers());
    char redis_arg[256];
    snprintf(redis_arg, sizeof redis_arg, "--redis-addr=%s", itest_redis());
    const char *args[] = {dsn_arg, brokers_arg, redis_arg, "--http-port=0", "--outbox-batch=50",
                          "--outbox-poll-ms=5", "--log-level=warn", NULL};

    int kills = 0, mid_batch = 0, late_committed = 0;
    long long published = 0;
    rd_kafka_t *admin = itest_kafka_client();
    assert_non_null(admin);
    for (int attempt = 0; attempt < 20 && published < TOTAL; attempt++) {
        pid_t pid = itest_spawn("intake", log_path, args);
        assert_true(pid > 0);
        /* Let it publish a little more, then kill it without warning at a moment when Kafka
         * holds messages PostgreSQL has not marked yet: the middle of a batch. */
        long long target = published + 150 + (attempt * 37) % 200;
        double end = itest_now() + 60;
        long long in_kafka = 0;
        while (itest_now() < end) {
            published = itest_scalar(pg, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL");
            if (published >= TOTAL) break;
            if (published < target) {
                usleep(2000);
                continue;
            }
            in_kafka = itest_topic_messages_on(admin, topic, PARTITIONS);
            if (in_kafka > published) break;
        }
        kill(pid, SIGKILL);
        assert_int_equal(itest_wait(pid, 10), 128 + SIGKILL);
        kills++;
        published = itest_scalar(pg, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL");
        in_kafka = itest_topic_messages_on(admin, topic, PARTITIONS);
        if (in_kafka > published) mid_batch++;
        print_message("kill %d: %lld marked published, %lld messages in Kafka%s\n", kills,
                      published, in_kafka, in_kafka > published ? " (killed mid-batch)" : "");
        if (!late_committed) {
            long long max_pub = itest_scalar(pg, "SELECT max(id) FROM outbox WHERE published_at IS NOT NULL");
            assert_true(max_pub > late_id); /* an id cursor would now be past the late row */
            assert_int_equal(pg_commit(late), 0);
            late_committed = 1;
        }
        if (mid_batch >= 2 && kills >= 3) break;
    }
    rd_kafka_destroy(admin);
    assert_true(late_committed);
    assert_true(mid_batch > 0);

    /* run the relay to the end and stop it cleanly */
    pid_t pid = itest_spawn("intake", log_path, args);
    double end = itest_now() + 120;
    while (itest_scalar(pg, "SELECT count(*) FROM outbox WHERE published_at IS NULL") > 0 &&
           itest_now() < end)
        usleep(50000);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM outbox WHERE published_at IS NULL"), 0);
    kill(pid, SIGTERM);
    assert_int_equal(itest_wait(pid, 30), 0);

    long long in_kafka = itest_topic_messages(topic, PARTITIONS);
    assert_true(in_kafka >= TOTAL + 1);

    /* the idempotent consumer reads everything from the beginning */
    struct event_base *base = event_base_new();
    pg_t *cpg = connect_pg();
    sink_t sink = {0};
    char group[160], err[512];
    snprintf(group, sizeof group, "itest-outbox-%s", itest_run_id());
    const char *topics[] = {topic, NULL};
    kcons_t *cons = kcons_new(base, itest_brokers(), group, topics, cpg, sink_apply, &sink, NULL,
                              err, sizeof err);
    assert_non_null(cons);
    waiter_t w = {base, pg, TOTAL + 1, itest_now() + 120, NULL};
    w.ev = evtimer_new(base, waiter_tick, &w);
    struct timeval tv = {0, 200000};
    evtimer_add(w.ev, &tv);
    event_base_dispatch(base);
    /* linger a moment so late copies, if any, would show up as extra rows */
    w.deadline = itest_now() + 1.5;
    w.want = TOTAL + 1000000;
    evtimer_add(w.ev, &tv);
    event_base_dispatch(base);

    long long rows = itest_scalar(pg, "SELECT count(*) FROM itest_applied");
    long long distinct = itest_scalar(pg, "SELECT count(DISTINCT event_id) FROM itest_applied");
    print_message("Kafka held %lld messages for %d events (%lld copies from the kills); the "
                  "consumer applied %lld, distinct %lld\n",
                  in_kafka, TOTAL + 1, in_kafka - (TOTAL + 1), rows, distinct);
    assert_int_equal(rows, TOTAL + 1);
    assert_int_equal(distinct, TOTAL + 1);
    /* per case: applied in written order, no gaps */
    assert_int_equal(itest_scalar(pg,
                                  "SELECT count(*) FROM (SELECT seq, row_number() OVER "
                                  "(PARTITION BY case_key ORDER BY n) - 1 AS pos FROM itest_applied) x "
                                  "WHERE seq <> pos"),
                     0);
    assert_int_equal(itest_scalar(pg, "SELECT count(DISTINCT case_key) FROM itest_applied"), NCASES + 1);

    kcons_free(cons);
    event_free(w.ev);
    event_base_free(base);
    pg_free(cpg);
    pg_free(late);
    pg_free(pg);
}

int main(void)
{
    log_init("itest", LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay_survives_sigkill),
    };
    return cmocka_run_group_tests_name("outbox relay (real PostgreSQL + Kafka)", tests, NULL, NULL);
}
