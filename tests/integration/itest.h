/*
 * itest.h — helpers shared by the integration tests: the stack's addresses from the
 * environment (tests/run.sh exports them from .stack/env), a per-run id so topics, groups and
 * keys never collide with earlier runs, and starting/stopping daemons as real processes.
 * Header-only on purpose: each integration test is one binary.
 */
#ifndef JIESU_ITEST_H
#define JIESU_ITEST_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "pg.h"

static inline const char *itest_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static inline const char *itest_dsn(void)
{
    return itest_env("JIESU_PG_DSN",
                     "host=127.0.0.1 port=54329 dbname=jiesu_test user=jiesu password=jiesu");
}
static inline const char *itest_brokers(void) { return itest_env("JIESU_KAFKA_BROKERS", "127.0.0.1:39092"); }
static inline const char *itest_redis(void) { return itest_env("JIESU_REDIS_ADDR", "127.0.0.1:63799"); }
static inline const char *itest_bin(void) { return itest_env("JIESU_BIN", "build/debug/bin"); }

static inline const char *itest_run_id(void)
{
    static char id[64];
    if (!id[0]) snprintf(id, sizeof id, "%s-%d", itest_env("JIESU_RUN_ID", "local"), (int)getpid());
    return id;
}

static inline double itest_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One scalar from a query (no parameters), as long long; -1 on error. */
static inline long long itest_scalar(pg_t *pg, const char *sql)
{
    PGresult *r = NULL;
    if (pg_query(pg, sql, 0, NULL, &r) != 0) {
        fprintf(stderr, "itest: %s: %s\n", sql, pg->err);
        return -1;
    }
    long long v = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* Starts bin/jiesu-<name> with extra --key=value args; stderr goes to logfile. */
static inline pid_t itest_spawn(const char *name, const char *logfile, const char *const *args)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    FILE *f = freopen(logfile, "a", stderr);
    (void)f;
    char path[512];
    snprintf(path, sizeof path, "%s/jiesu-%s", itest_bin(), name);
    const char *argv[32] = {path};
    int n = 1;
    for (; args && args[n - 1] && n < 31; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    execv(path, (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
    _exit(127);
}

/* Waits for pid up to timeout_s; returns the exit status, 128+signal, or -1 on timeout. */
static inline int itest_wait(pid_t pid, double timeout_s)
{
    double end = itest_now() + timeout_s;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (itest_now() > end) return -1;
        usleep(20000);
    }
}

/* Creates a topic with the admin API (the stack disables auto-creation). 0 on success. */
static inline int itest_create_topic(const char *topic, int partitions)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", itest_brokers(), errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) return -1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof errstr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = -1;
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rc = (tr && n == 1 &&
              (rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_NO_ERROR ||
               rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
                 ? 0 : -1;
        if (rc != 0 && tr && n == 1)
            fprintf(stderr, "create topic %s: %s\n", topic, rd_kafka_topic_result_error_string(tr[0]));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return rc;
}

/* A plain client handle for admin look-ups (watermarks). */
static inline rd_kafka_t *itest_kafka_client(void)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", itest_brokers(), errstr, sizeof errstr);
    return rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
}

/* Sum of high watermarks over partitions 0..partitions-1 of topic; -1 on error. */
static inline long long itest_topic_messages_on(rd_kafka_t *rk, const char *topic, int partitions)
{
    long long sum = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            return -1;
        sum += hi - lo;
    }
    return sum;
}

static inline long long itest_topic_messages(const char *topic, int partitions)
{
    rd_kafka_t *rk = itest_kafka_client();
    if (rk == NULL) return -1;
    long long sum = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            sum = -1;
            break;
        }
        sum += hi - lo;
    }
    rd_kafka_destroy(rk);
    return sum;
}

#endif
