/*
 * outbox.c — see outbox.h. The relay is a small state machine driven by one timer and the
 * producer's delivery reports: idle → (lock) leader → batch in flight → mark → next batch.
 */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

#define OUTBOX_LOCK_KEY "727002"

int outbox_append(pg_t *pg, const char *event_id, const char *topic, const char *key,
                  const char *payload)
{
    const char *p[] = {event_id, topic, key, payload};
    return pg_query(pg, OUTBOX_INSERT_SQL, 4, p, NULL);
}

typedef struct {
    long long id;
    int state; /* 0 in flight, 1 delivered, 2 failed */
} relay_slot_t;

struct outbox_relay {
    struct event_base *base;
    struct event *tick;
    outbox_relay_conf_t conf;
    char *dsn, *brokers, *instance;
    pg_t *pg;
    kprod_t *prod;
    int leader;
    relay_slot_t *slots;
    int nslots, inflight;
    int draining;
    int recreate; /* the producer hit a fatal error: replace it on the next tick */
    long long published;
    struct timespec last_purge;
    metric_t *m_published, *m_leader, *m_batches, *m_backlog;
};

static void relay_schedule(outbox_relay_t *r, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(r->tick, &tv);
}

static void relay_lose_leadership(outbox_relay_t *r, const char *why)
{
    if (r->leader) LOGW("outbox relay lost leadership", LF_STR("reason", why));
    r->leader = 0;
    metric_set(r->m_leader, 0);
    /* dropping the session releases the advisory lock if the server still holds it */
    if (pg_reconnect(r->pg) != 0) LOGW("outbox relay reconnect failed", LF_STR("error", r->pg->err));
}

static void relay_dr(void *arg, void *opaque, rd_kafka_resp_err_t err);

static int relay_new_producer(outbox_relay_t *r)
{
    char e[512], cid[256];
    snprintf(cid, sizeof cid, "outbox-relay-%s", r->instance);
    r->prod = kprod_new(r->base, r->brokers, cid, relay_dr, r, NULL, e, sizeof e);
    if (r->prod == NULL) {
        LOGE("outbox relay cannot create producer", LF_STR("error", e));
        return -1;
    }
    return 0;
}

/* Marks the delivered rows of the finished batch, then decides when to look again. */
static void relay_batch_done(outbox_relay_t *r)
{
    size_t cap = (size_t)r->nslots * 21 + 3;
    char *arr = malloc(cap);
    int delivered = 0, failed = 0;
    size_t o = 0;
    if (arr == NULL) {
        relay_schedule(r, 1000);
        return;
    }
    arr[o++] = '{';
    for (int i = 0; i < r->nslots; i++) {
        if (r->slots[i].state != 1) {
            failed++;
            continue;
        }
        o += (size_t)snprintf(arr + o, cap - o, "%s%lld", delivered ? "," : "", r->slots[i].id);
        delivered++;
    }
    arr[o++] = '}';
    arr[o] = '\0';
    int full = r->nslots >= r->conf.batch;
    r->nslots = 0;
    if (delivered > 0) {
        const char *p[] = {arr};
        if (pg_query(r->pg, "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                     1, p, NULL) != 0) {
            /* Not marked: these rows go out again later and consumers drop the copies. */
            LOGW("outbox relay could not mark rows published", LF_STR("error", r->pg->err));
            relay_lose_leadership(r, "database error");
        } else {
            r->published += delivered;
            metric_add(r->m_published, delivered);
        }
    }
    free(arr);
    if (r->draining) return;
    if (failed > 0) {
        LOGW("outbox relay batch partly failed; resending in order", LF_INT("failed", failed),
             LF_INT("delivered", delivered));
        /* never free the producer here: we are inside its delivery callback */
        if (kprod_is_fatal(r->prod)) r->recreate = 1;
        relay_schedule(r, 1000);
    } else {
        relay_schedule(r, full ? 0 : r->conf.poll_ms);
    }
}

static void relay_dr(void *arg, void *opaque, rd_kafka_resp_err_t err)
{
    outbox_relay_t *r = arg;
    relay_slot_t *s = opaque;
    s->state = err ? 2 : 1;
    if (--r->inflight == 0) relay_batch_done(r);
}

static void relay_purge(outbox_relay_t *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - r->last_purge.tv_sec < 60) return;
    r->last_purge = now;
    char secs[32];
    snprintf(secs, sizeof secs, "%d", r->conf.retention_s);
    const char *p[] = {secs};
    PGresult *res = NULL;
    if (pg_query(r->pg,
                 "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < "
                 "now() - make_interval(secs => $1::int) LIMIT 10000)",
                 1, p, &res) == 0) {
        if (strcmp(PQcmdTuples(res), "0") != 0)
            LOGI("outbox purged", LF_STR("rows", PQcmdTuples(res)));
        PQclear(res);
    }
    if (pg_query(r->pg, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL,
                 &res) == 0) {
        metric_set(r->m_backlog, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
        PQclear(res);
    }
}

static void relay_tick(evutil_socket_t fd, short what, void *arg)
{
    outbox_relay_t *r = arg;
    (void)fd;
    (void)what;
    if (r->draining || r->inflight > 0) return;
    if (r->recreate) {
        kprod_free(r->prod, 0);
        r->prod = NULL;
        r->recreate = 0;
    }
    if (r->prod == NULL && relay_new_producer(r) != 0) {
        relay_schedule(r, 2000);
        return;
    }
    if (!r->leader) {
        PGresult *res = NULL;
        if (pg_ensure(r->pg) != 0 ||
            pg_query(r->pg, "SELECT pg_try_advisory_lock(" OUTBOX_LOCK_KEY ")", 0, NULL, &res) != 0) {
            relay_schedule(r, 1000);
            return;
        }
        r->leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (!r->leader) {
            relay_schedule(r, 1000); /* a standby: check again shortly */
            return;
        }
        metric_set(r->m_leader, 1);
        LOGI("outbox relay is the leader", LF_STR("instance", r->instance));
    }
    relay_purge(r);
    char lim[16];
    snprintf(lim, sizeof lim, "%d", r->conf.batch);
    const char *p[] = {lim};
    PGresult *res = NULL;
    if (pg_query(r->pg,
                 "SELECT id, topic, msg_key, payload FROM outbox WHERE published_at IS NULL "
                 "ORDER BY id LIMIT $1::int",
                 1, p, &res) != 0) {
        relay_lose_leadership(r, r->pg->err);
        relay_schedule(r, 1000);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        relay_schedule(r, r->conf.poll_ms);
        return;
    }
    metric_inc(r->m_batches);
    r->nslots = 0;
    r->inflight = 0;
    for (int i = 0; i < n; i++) {
        relay_slot_t *s = &r->slots[i];
        s->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        s->state = 0;
        char e[256];
        const char *key = PQgetvalue(res, i, 2);
        if (kprod_send(r->prod, PQgetvalue(res, i, 1), key, strlen(key), PQgetvalue(res, i, 3),
                       (size_t)PQgetlength(res, i, 3), s, e, sizeof e) != 0) {
            /* stop here: later rows must not overtake this one */
            LOGW("outbox relay send refused", LF_STR("error", e));
            break;
        }
        r->nslots++;
        r->inflight++;
    }
    PQclear(res);
    if (r->nslots == 0) relay_schedule(r, 500);
}

outbox_relay_t *outbox_relay_new(struct event_base *base, const outbox_relay_conf_t *conf,
                                 metrics_t *metrics, char *err, size_t errlen)
{
    outbox_relay_t *r = calloc(1, sizeof *r);
    if (r == NULL) goto oom;
    r->base = base;
    r->conf = *conf;
    r->dsn = strdup(conf->pg_dsn);
    r->brokers = strdup(conf->brokers);
    r->instance = strdup(conf->instance);
    r->slots = calloc((size_t)conf->batch, sizeof *r->slots);
    r->tick = evtimer_new(base, relay_tick, r);
    if (!r->dsn || !r->brokers || !r->instance || !r->slots || !r->tick) goto oom;
    r->pg = pg_new(r->dsn, "outbox-relay");
    if (r->pg == NULL) goto oom;
    if (metrics) {
        r->m_published = metrics_counter(metrics, "jiesu_outbox_published_total", NULL,
                                         "outbox events acknowledged by Kafka and marked");
        r->m_leader = metrics_gauge(metrics, "jiesu_outbox_relay_leader", NULL,
                                    "1 while this instance is the active outbox relay");
        r->m_batches = metrics_counter(metrics, "jiesu_outbox_batches_total", NULL,
                                       "outbox batches sent");
        r->m_backlog = metrics_gauge(metrics, "jiesu_outbox_backlog", NULL,
                                     "unpublished outbox rows at the last check (leader only)");
    }
    relay_schedule(r, 0);
    return r;
oom:
    snprintf(err, errlen, "outbox relay: out of memory");
    outbox_relay_free(r, 0);
    return NULL;
}

void outbox_relay_free(outbox_relay_t *r, int timeout_ms)
{
    if (r == NULL) return;
    r->draining = 1;
    if (r->prod) {
        /* let in-flight deliveries report, so what reached Kafka gets marked */
        for (int waited = 0; r->inflight > 0 && waited < timeout_ms; waited += 50)
            kprod_poll(r->prod, 50);
        if (r->inflight > 0) LOGW("outbox relay stopping with unacknowledged events",
                                  LF_INT("in_flight", r->inflight));
        kprod_free(r->prod, 0);
    }
    if (r->tick) event_free(r->tick);
    pg_free(r->pg); /* closing the session releases the leadership lock */
    free(r->slots);
    free(r->dsn);
    free(r->brokers);
    free(r->instance);
    free(r);
}

int outbox_relay_is_leader(const outbox_relay_t *r) { return r->leader; }
long long outbox_relay_published(const outbox_relay_t *r) { return r->published; }
