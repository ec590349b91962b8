/*
 * test_consumer.c — the idempotent consumer (common/kafka.c) against the real Kafka broker and
 * PostgreSQL: commit only after the effect is durable, rebalance-safe, killed at any instant.
 *
 * 3,000 events (plus 300 deliberate second copies and a few poison messages) are produced to a
 * fresh topic. Two consumer processes of one group share it; one is killed with SIGKILL while
 * working, the group rebalances onto the survivor, and a fresh process finishes the rest. The
 * effects table must end with exactly one row per event id, the copies counted as duplicates,
 * and each poison message in the dead-letter outbox once.
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
    pg_free(pg);
}

int main(void)
{
    log_init("itest", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_and_rebalance),
    };
    return cmocka_run_group_tests_name("idempotent consumer (real Kafka + PostgreSQL)", tests, NULL, NULL);
}
