/*
 * kafka.c — see kafka.h. librdkafka is bridged into libevent through queue io-events: when a
 * queue goes from empty to non-empty librdkafka writes a byte to our pipe, the loop wakes and
 * serves the queue with a zero timeout. Logs and errors go to the same queues (log.queue), so
 * every callback of ours runs on the loop thread.
 */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"

void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_level_t l = level <= 3 ? LOG_ERROR : level <= 4 ? LOG_WARN : level <= 6 ? LOG_INFO
                                                                               : LOG_DEBUG;
    /* We turn on enable.gapless.guarantee on purpose (see kprod_new); its "experimental"
     * warning at every start would teach operators to ignore warnings. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "gapless") != NULL) l = LOG_DEBUG;
    LOG_AT(l, "librdkafka", LF_STR("client", rk ? rd_kafka_name(rk) : ""), LF_STR("fac", fac),
           LF_STR("detail", buf));
}

/* A queue bridged into the loop: pipe + persistent read event. */
typedef struct {
    int fds[2];
    struct event *ev;
} kbridge_t;

static int kbridge_open(kbridge_t *b, struct event_base *base, rd_kafka_queue_t *q,
                        event_callback_fn cb, void *arg)
{
    if (pipe2(b->fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    rd_kafka_queue_io_event_enable(q, b->fds[1], "1", 1);
    b->ev = event_new(base, b->fds[0], EV_READ | EV_PERSIST, cb, arg);
    if (b->ev == NULL || event_add(b->ev, NULL) != 0) return -1;
    /* librdkafka writes only when the queue goes from empty to non-empty: anything queued
     * before io events were enabled (start-up log lines) would never wake us. Serve once now. */
    event_active(b->ev, EV_READ, 0);
    return 0;
}

static void kbridge_drain(kbridge_t *b)
{
    char buf[256];
    while (read(b->fds[0], buf, sizeof buf) > 0) {
    }
}

static void kbridge_close(kbridge_t *b, rd_kafka_queue_t *q)
{
    if (q) rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    if (b->ev) event_free(b->ev);
    b->ev = NULL;
    if (b->fds[0] > 0) close(b->fds[0]);
    if (b->fds[1] > 0) close(b->fds[1]);
    b->fds[0] = b->fds[1] = -1;
}

static int kconf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err,
                     size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka setting %s=%s: %s", k, v, e);
        return -1;
    }
    return 0;
}

/* ---- producer ---------------------------------------------------------------------------- */

struct kprod {
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    kbridge_t bridge;
    kprod_dr_fn dr;
    void *dr_arg;
    int fatal;
    metric_t *m_sent, *m_ok, *m_fail;
};

static void kprod_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kprod_t *p = opaque;
    (void)rk;
    if (m->err) {
        metric_inc(p->m_fail);
        LOGW("kafka delivery failed", LF_STR("topic", rd_kafka_topic_name(m->rkt)),
             LF_INT("partition", m->partition), LF_STR("error", rd_kafka_err2str(m->err)));
    } else {
        metric_inc(p->m_ok);
    }
    if (p->dr) p->dr(p->dr_arg, m->_private, m->err);
}

static void kprod_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kprod_t *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof why);
        p->fatal = 1;
        LOGE("kafka producer fatal error", LF_STR("error", why));
        return;
    }
    /* transport errors while the broker is away are expected; the client retries itself */
    LOGW("kafka producer error", LF_STR("error", rd_kafka_err2str((rd_kafka_resp_err_t)err)),
         LF_STR("reason", reason));
}

static void kprod_wake(evutil_socket_t fd, short what, void *arg)
{
    kprod_t *p = arg;
    (void)fd;
    (void)what;
    kbridge_drain(&p->bridge);
    rd_kafka_poll(p->rk, 0);
}

kprod_t *kprod_new(struct event_base *base, const char *brokers, const char *client_id,
                   kprod_dr_fn dr, void *dr_arg, metrics_t *metrics, char *err, size_t errlen)
{
    kprod_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->bridge.fds[0] = p->bridge.fds[1] = -1;
    p->dr = dr;
    p->dr_arg = dr_arg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kconf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
        kconf_set(conf, "client.id", client_id, err, errlen) ||
        kconf_set(conf, "enable.idempotence", "true", err, errlen) ||
        /* a failed message must fail everything after it in its partition: the outbox relay
         * relies on "delivered rows form a prefix" to resend the rest in order */
        kconf_set(conf, "enable.gapless.guarantee", "true", err, errlen) ||
        kconf_set(conf, "acks", "all", err, errlen) ||
        kconf_set(conf, "linger.ms", "2", err, errlen) ||
        kconf_set(conf, "compression.codec", "lz4", err, errlen) ||
        kconf_set(conf, "message.timeout.ms", "60000", err, errlen) ||
        kconf_set(conf, "log.queue", "true", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kprod_dr_cb);
    rd_kafka_conf_set_error_cb(conf, kprod_error_cb);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, p);
    char e[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (p->rk == NULL) {
        snprintf(err, errlen, "kafka producer: %s", e);
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    p->mainq = rd_kafka_queue_get_main(p->rk);
    rd_kafka_set_log_queue(p->rk, p->mainq);
    if (kbridge_open(&p->bridge, base, p->mainq, kprod_wake, p) != 0) {
        snprintf(err, errlen, "kafka producer: cannot bridge into the loop: %s", strerror(errno));
        kprod_free(p, 0);
        return NULL;
    }
    if (metrics) {
        p->m_sent = metrics_counter(metrics, "jiesu_kafka_produced_total", NULL,
                                    "messages handed to the Kafka producer");
        p->m_ok = metrics_counter(metrics, "jiesu_kafka_delivered_total", NULL,
                                  "messages acknowledged by the broker (acks=all)");
        p->m_fail = metrics_counter(metrics, "jiesu_kafka_delivery_failed_total", NULL,
                                    "messages whose delivery failed");
    }
    return p;
}

void kprod_free(kprod_t *p, int timeout_ms)
{
    if (p == NULL) return;
    if (p->rk) {
        rd_kafka_resp_err_t fe = rd_kafka_flush(p->rk, timeout_ms);
        if (fe != RD_KAFKA_RESP_ERR_NO_ERROR && rd_kafka_outq_len(p->rk) > 0)
            LOGW("kafka producer closing with undelivered messages",
                 LF_INT("undelivered", rd_kafka_outq_len(p->rk)));
        /* undelivered outbox rows stay unpublished in PostgreSQL and are sent again later */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
    }
    kbridge_close(&p->bridge, p->mainq);
    if (p->mainq) rd_kafka_queue_destroy(p->mainq);
    if (p->rk) rd_kafka_destroy(p->rk);
    free(p);
}

int kprod_send(kprod_t *p, const char *topic, const void *key, size_t klen, const void *val,
               size_t vlen, void *msg_opaque, char *err, size_t errlen)
{
    if (p->fatal) {
        snprintf(err, errlen, "kafka producer is in a fatal state");
        return -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
        RD_KAFKA_V_VALUE((void *)val, vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "kafka produce to %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    metric_inc(p->m_sent);
    return 0;
}

void kprod_poll(kprod_t *p, int timeout_ms) { rd_kafka_poll(p->rk, timeout_ms); }
int kprod_outq_len(kprod_t *p) { return rd_kafka_outq_len(p->rk); }
int kprod_is_fatal(kprod_t *p) { return p->fatal; }
rd_kafka_t *kprod_handle(kprod_t *p) { return p->rk; }

int kprod_probe(kprod_t *p, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(p->rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    int ok = md->broker_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return ok ? 0 : -1;
}

/* ---- consumer ---------------------------------------------------------------------------- */

struct kcons {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    kbridge_t bridge;
    struct event *retry_ev;
    struct event *more_ev; /* zero-delay timer: "there is more to read" */
    struct event_base *base;
    char *name;
    pg_t *pg;
    kcons_handler_fn fn;
    void *arg;
    int paused;       /* draining: take nothing more */
    int backoff_ms;
    long long applied;
    metric_t *m_applied, *m_dup, *m_dead, *m_retry, *m_skipped;
    /* The type filter (kcons_set_types): envelope types the handler wants; none = all. */
    char **types;
    size_t ntypes;
    /* Skipped messages' offsets not yet in consumer_offsets, per partition: written with the
     * partition's next handled message, or by flush_ev within KCONS_SKIP_FLUSH_MS. */
    struct kskip { char *topic; int32_t partition; int64_t next; } *skips;
    size_t nskips, capskips;
    long pending_skipped; /* messages behind the pending offsets */
    struct event *flush_ev;
    int flush_backoff;  /* an immediate flush failed: the timer retries until one succeeds */
    long long skipped;
    pg_batch_t *batch; /* reused for the two pipelined round trips of each message */
};

static int skips_flush(kcons_t *c);
static void skips_drop(kcons_t *c);

/* Pending skipped offsets are written at least this often, and at once past this many. */
#define KCONS_SKIP_FLUSH_MS 1000
#define KCONS_SKIP_FLUSH_MAX 2000

/* Starts each assigned partition from the offset PostgreSQL holds, the only offset that is
 * written in the same transaction as the effects. */
static void kcons_seed_offsets(kcons_t *c, rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        char pbuf[16];
        snprintf(pbuf, sizeof pbuf, "%d", tp->partition);
        const char *params[] = {c->name, tp->topic, pbuf};
        PGresult *r = NULL;
        if (pg_query(c->pg,
                     "SELECT next_offset FROM consumer_offsets WHERE consumer = $1 AND "
                     "topic = $2 AND partition = $3::int",
                     3, params, &r) != 0) {
            /* PostgreSQL away: fall back to Kafka's committed offset; dedup keeps effects
             * single even if that is behind. */
            LOGW("consumer offsets unavailable, using committed offsets",
                 LF_STR("consumer", c->name), LF_STR("error", c->pg->err));
            tp->offset = RD_KAFKA_OFFSET_STORED;
            continue;
        }
        tp->offset = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                                       : RD_KAFKA_OFFSET_STORED;
        PQclear(r);
    }
}

static void kcons_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kcons_t *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kcons_seed_offsets(c, parts);
        LOGI("partitions assigned", LF_STR("consumer", c->name), LF_INT("count", parts->cnt));
        rd_kafka_assign(rk, parts);
    } else {
        /* Skipped offsets go to PostgreSQL before the partitions do (if that fails, the next
         * owner reads those messages again and skips them again: nothing is lost or doubled). */
        if (skips_flush(c) != 0) skips_drop(c);
        /* Everything processed is already durable in PostgreSQL; commit Kafka's copy too so
         * lag monitoring stays right, then let go. */
        rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, 0);
        if (ce != RD_KAFKA_RESP_ERR_NO_ERROR && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
            LOGW("commit on revoke failed", LF_STR("consumer", c->name),
                 LF_STR("error", rd_kafka_err2str(ce)));
        LOGI("partitions revoked", LF_STR("consumer", c->name), LF_INT("count", parts->cnt));
        rd_kafka_assign(rk, NULL);
    }
}

static void kcons_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kcons_t *c = opaque;
    (void)rk;
    LOGW("kafka consumer error", LF_STR("consumer", c->name),
         LF_STR("error", rd_kafka_err2str((rd_kafka_resp_err_t)err)), LF_STR("reason", reason));
}

/* Extracts the envelope's event_id; 0 on success. */
static int kcons_event_id(const rd_kafka_message_t *m, char out[64], char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(m->payload, m->len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        snprintf(err, errlen, "not a JSON envelope: %s", je.text);
        return -1;
    }
    const char *id = json_string_value(json_object_get(j, "event_id"));
    int rc = -1;
    if (id == NULL || strlen(id) != 36) {
        snprintf(err, errlen, "envelope has no valid event_id");
    } else {
        memcpy(out, id, 37);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/* ---- the envelope, peeked ---------------------------------------------------------------- */

/* Skips JSON whitespace. */
static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* At a '"': the end of the string (after its closing quote), NULL when it does not close.
 * *escaped says whether it held a backslash. */
static const char *str_end(const char *p, const char *e, int *escaped)
{
    *escaped = 0;
    for (p++; p < e; p++) {
        if (*p == '\\') {
            *escaped = 1;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* Skips one value of any kind without validating its inside (strings are honoured, so a
 * bracket in a string does not count). NULL when the text ends first. */
static const char *value_end(const char *p, const char *e)
{
    int depth = 0, esc;
    while (p < e) {
        char ch = *p;
        if (ch == '"') {
            if ((p = str_end(p, e, &esc)) == NULL) return NULL;
            if (depth == 0) return p;
            continue;
        }
        if (ch == '{' || ch == '[') depth++;
        else if (ch == '}' || ch == ']') {
            if (depth == 0) return p; /* the end of the enclosing object: a bare literal before */
            if (--depth == 0) return p + 1;
        } else if (depth == 0 && (ch == ',' || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')) {
            return p;
        }
        p++;
    }
    return depth == 0 ? p : NULL;
}

enum { PEEK_TYPE = KAFKA_PEEK_TYPE, PEEK_ID = KAFKA_PEEK_ID };

/* Reads the top-level "type" and "event_id" of an envelope without building it: one pass over
 * the top level, nested values skipped. Returns PEEK_TYPE | PEEK_ID for what was found as plain
 * strings (no escapes) that fit; 0 when the text is not a well-formed top-level object or a key
 * of the two comes twice, so the caller takes the slow path (jansson), which says what is wrong. */
static int envelope_peek(const char *p, size_t n, char *type, size_t tl, char *id, size_t il)
{
    if (tl) type[0] = '\0';
    if (il) id[0] = '\0';
    const char *e = p + n;
    int found = 0, esc;
    p = ws(p, e);
    if (p >= e || *p != '{') return 0;
    p = ws(p + 1, e);
    if (p < e && *p == '}') return 0;
    for (;;) {
        if (p >= e || *p != '"') return 0;
        const char *k = p + 1, *ke = str_end(p, e, &esc);
        if (ke == NULL) return 0;
        size_t klen = (size_t)(ke - 1 - k);
        if (esc) return 0; /* an escaped top-level key might decode to "type": jansson decides */
        int which = klen == 4 && !memcmp(k, "type", 4) ? PEEK_TYPE
                  : klen == 8 && !memcmp(k, "event_id", 8) ? PEEK_ID : 0;
        p = ws(ke, e);
        if (p >= e || *p != ':') return 0;
        p = ws(p + 1, e);
        if (p >= e) return 0;
        if (which) {
            if (found & which) return 0; /* a duplicate key: let jansson refuse it */
            char *out = which == PEEK_TYPE ? type : id;
            size_t cap = which == PEEK_TYPE ? tl : il;
            if (*p == '"') {
                const char *v = p + 1, *ve = str_end(p, e, &esc);
                if (ve == NULL) return 0;
                size_t vlen = (size_t)(ve - 1 - v);
                if (!esc && vlen < cap && memchr(v, '\0', vlen) == NULL) {
                    memcpy(out, v, vlen);
                    out[vlen] = '\0';
                    found |= which;
                }
                p = ve;
            } else if ((p = value_end(p, e)) == NULL) {
                return 0;
            }
        } else if ((p = value_end(p, e)) == NULL || p == e) {
            return 0;
        }
        p = ws(p, e);
        if (p >= e) return 0;
        if (*p == '}') return ws(p + 1, e) == e ? found : 0;
        if (*p != ',') return 0;
        p = ws(p + 1, e);
    }
}

int kafka_envelope_peek(const void *buf, size_t len, char *type, size_t tl, char *id, size_t il)
{
    return envelope_peek(buf, len, type, tl, id, il);
}

int kcons_set_types(kcons_t *c, const char *const *types)
{
    for (size_t i = 0; i < c->ntypes; i++) free(c->types[i]);
    free(c->types);
    c->types = NULL;
    c->ntypes = 0;
    size_t n = 0;
    while (types && types[n]) n++;
    if (n == 0) return 0;
    if ((c->types = calloc(n, sizeof *c->types)) == NULL) return -1;
    for (size_t i = 0; i < n; i++) {
        if ((c->types[i] = strdup(types[i])) == NULL) return -1;
        c->ntypes++;
    }
    return 0;
}

static int type_wanted(const kcons_t *c, const char *type)
{
    for (size_t i = 0; i < c->ntypes; i++)
        if (!strcmp(c->types[i], type)) return 1;
    return 0;
}

/* Writes the pending skipped offsets in one statement (no transaction of its own is needed:
 * it is one statement, and it only ever moves an offset forward). 0 when written or nothing
 * was pending; -1 when PostgreSQL refused, and they stay pending. */
static int skips_flush(kcons_t *c)
{
    if (c->nskips == 0) return 0;
    pg_array_t t = {0}, pa = {0}, o = {0};
    pg_array_start(&t);
    pg_array_start(&pa);
    pg_array_start(&o);
    for (size_t i = 0; i < c->nskips; i++) {
        char pb[16], ob[32];
        snprintf(pb, sizeof pb, "%d", (int)c->skips[i].partition);
        snprintf(ob, sizeof ob, "%lld", (long long)c->skips[i].next);
        pg_array_add(&t, c->skips[i].topic);
        pg_array_add(&pa, pb);
        pg_array_add(&o, ob);
    }
    pg_array_end(&t);
    pg_array_end(&pa);
    pg_array_end(&o);
    int rc = -1;
    if (!t.oom && !pa.oom && !o.oom) {
        const char *params[] = {c->name, t.s, pa.s, o.s};
        rc = pg_query(c->pg,
                      "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) "
                      "SELECT $1, x.t, x.p, x.o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o) "
                      "ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = "
                      "greatest(consumer_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
                      4, params, NULL);
        if (rc != 0)
            LOGW("skipped offsets not stored yet", LF_STR("consumer", c->name), LF_STR("error", c->pg->err));
    }
    free(t.s);
    free(pa.s);
    free(o.s);
    if (rc == 0) {
        for (size_t i = 0; i < c->nskips; i++) free(c->skips[i].topic);
        c->nskips = 0;
        c->pending_skipped = 0;
    }
    return rc;
}

/* A handled message of this partition committed a later offset: nothing pending there now. */
static void skips_forget(kcons_t *c, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < c->nskips; i++)
        if (c->skips[i].partition == partition && !strcmp(c->skips[i].topic, topic)) {
            free(c->skips[i].topic);
            c->skips[i] = c->skips[--c->nskips];
            return;
        }
}

static void skips_drop(kcons_t *c)
{
    for (size_t i = 0; i < c->nskips; i++) free(c->skips[i].topic);
    c->nskips = 0;
    c->pending_skipped = 0;
}

static void kcons_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kcons_t *c = arg;
    if (skips_flush(c) != 0) {
        struct timeval tv = {KCONS_SKIP_FLUSH_MS / 1000, (KCONS_SKIP_FLUSH_MS % 1000) * 1000};
        evtimer_add(c->flush_ev, &tv);
    } else {
        c->flush_backoff = 0;
    }
}

/* m is of a type this consumer does not handle: no transaction, no dedup row. Everything before
 * it on its partition is durable already (messages are processed in order, and a failure rewinds
 * and pauses before later ones are looked at), so its offset may be recorded at any later time:
 * Kafka's copy at once, PostgreSQL's with the partition's next handled message or by the timer.
 * A crash before that only means the message is read and skipped again. -1 when out of memory
 * (the caller takes the slow path). */
static int kcons_skip(kcons_t *c, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct kskip *k = NULL;
    for (size_t i = 0; i < c->nskips && k == NULL; i++)
        if (c->skips[i].partition == m->partition && !strcmp(c->skips[i].topic, topic)) k = &c->skips[i];
    if (k == NULL) {
        if (c->nskips == c->capskips) {
            size_t cap = c->capskips ? c->capskips * 2 : 8;
            struct kskip *ns = realloc(c->skips, cap * sizeof *ns);
            if (ns == NULL) return -1;
            c->skips = ns;
            c->capskips = cap;
        }
        char *t = strdup(topic);
        if (t == NULL) return -1;
        k = &c->skips[c->nskips++];
        *k = (struct kskip){t, m->partition, 0};
    }
    k->next = m->offset + 1;
    c->pending_skipped++;
    c->skipped++;
    metric_inc(c->m_skipped);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, m->partition)->offset = m->offset + 1;
    rd_kafka_offsets_store(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (c->pending_skipped >= KCONS_SKIP_FLUSH_MAX && !c->flush_backoff) {
        /* a failed flush (database away) leaves the retries to the timer: no blocking
         * reconnect per skipped message */
        if (skips_flush(c) != 0) {
            c->flush_backoff = 1;
            if (!evtimer_pending(c->flush_ev, NULL)) {
                struct timeval tv = {KCONS_SKIP_FLUSH_MS / 1000, (KCONS_SKIP_FLUSH_MS % 1000) * 1000};
                evtimer_add(c->flush_ev, &tv);
            }
        }
    } else if (!evtimer_pending(c->flush_ev, NULL)) {
        struct timeval tv = {KCONS_SKIP_FLUSH_MS / 1000, (KCONS_SKIP_FLUSH_MS % 1000) * 1000};
        evtimer_add(c->flush_ev, &tv);
    }
    return 0;
}

/* A NUL-terminated copy of n bytes if they are UTF-8 text without NUL (what a text column
 * holds), else NULL. */
static char *text_copy(const void *p, size_t n)
{
    if (p == NULL || memchr(p, 0, n) != NULL) return NULL;
    json_t *t = json_stringn(p, n); /* NULL unless valid UTF-8 */
    if (t == NULL) return NULL;
    json_decref(t);
    char *s = malloc(n + 1);
    if (s == NULL) return NULL;
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int kcons_dead_letter(kcons_t *c, const rd_kafka_message_t *m, const char *why)
{
    json_t *dl = json_pack("{s:s,s:s,s:i,s:I,s:s,s:s%}", "consumer", c->name, "topic",
                           rd_kafka_topic_name(m->rkt), "partition", (int)m->partition,
                           "offset", (json_int_t)m->offset, "error", why, "original",
                           m->payload ? (const char *)m->payload : "", m->payload ? m->len : 0);
    if (dl == NULL) /* the original is not valid UTF-8: keep its size only */
        dl = json_pack("{s:s,s:s,s:i,s:I,s:s,s:I}", "consumer", c->name, "topic",
                       rd_kafka_topic_name(m->rkt), "partition", (int)m->partition, "offset",
                       (json_int_t)m->offset, "error", why, "original_bytes", (json_int_t)m->len);
    char *txt = dl ? json_dumps(dl, JSON_COMPACT) : NULL;
    json_decref(dl);
    if (txt == NULL) return -1;
    /* and the row an operator lists and replays (jiesuctl deadletter): the original and the
     * key only as text PostgreSQL can hold (UTF-8, no NUL), the event id only if it is one */
    char type[96] = "", id[64] = "", part[16], off[32], bytes[16];
    int peeked = m->payload ? envelope_peek(m->payload, m->len, type, sizeof type, id, sizeof id) : 0;
    char *orig = text_copy(m->payload, m->len), *key = text_copy(m->key, m->key_len);
    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    snprintf(bytes, sizeof bytes, "%zu", m->len);
    const char *params[] = {KAFKA_TOPIC_DEAD_LETTER, c->name, txt, rd_kafka_topic_name(m->rkt), part, off, key,
                            (peeked & PEEK_ID) && event_uuid_valid(id) ? id : NULL,
                            (peeked & PEEK_TYPE) && type[0] ? type : NULL, why[0] ? why : "refused", orig, bytes};
    int rc = pg_query(c->pg,
                      "WITH o AS (INSERT INTO outbox (event_id, topic, msg_key, payload) "
                      "VALUES (gen_random_uuid(), $1, $2, $3)) "
                      "INSERT INTO dead_letters (consumer, topic, kafka_partition, kafka_offset, msg_key, event_id, "
                      "event_type, error, original, original_bytes) VALUES ($2, $4, $5::int, $6::bigint, $7, "
                      "$8::uuid, $9, left($10, 2000), $11, $12::int) ON CONFLICT DO NOTHING",
                      12, params, NULL);
    free(orig);
    free(key);
    free(txt);
    metric_inc(c->m_dead);
    LOGW("message dead-lettered", LF_STR("consumer", c->name),
         LF_STR("topic", rd_kafka_topic_name(m->rkt)), LF_INT("partition", m->partition),
         LF_INT("offset", m->offset), LF_STR("error", why));
    return rc;
}

#define DEDUP_SQL                                                                              \
    "INSERT INTO consumed_events (consumer, event_id) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING"
#define OFFSET_SQL                                                                             \
    "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) "                  \
    "VALUES ($1, $2, $3::int, $4::bigint) ON CONFLICT (consumer, topic, partition) "           \
    "DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()"

/* One message, one transaction. Returns 0 when it is done with (applied, duplicate or dead),
 * -1 when it must be retried. */
static int kcons_process(kcons_t *c, const rd_kafka_message_t *m)
{
    char event_id[64] = "", why[512] = "", type[96] = "";
    int peeked = m->payload ? envelope_peek(m->payload, m->len, type, sizeof type, event_id, sizeof event_id) : 0;
    if (c->ntypes && (peeked & PEEK_TYPE) && !type_wanted(c, type) && kcons_skip(c, m) == 0) {
        c->backoff_ms = 0;
        return 0;
    }
    /* The id as peeked when it looks like one (the handler decodes the envelope itself anyway);
     * otherwise the full parse, which explains what is wrong for the dead letter. */
    int bad = 0;
    if (!(peeked & PEEK_ID) || strlen(event_id) != 36)
        bad = kcons_event_id(m, event_id, why, sizeof why) != 0;
    /* checked here, so that any failure of the pipeline below is the database's, and retried */
    if (!bad && !event_uuid_valid(event_id)) {
        snprintf(why, sizeof why, "event_id rejected: '%.40s' is not a UUID", event_id);
        bad = 1;
    }
    /* BEGIN, the dedup row and the handler's savepoint go in one round trip (a pipeline), as
     * do the offset and COMMIT below: a routed event costs the handler's statements plus two. */
    int fresh = 0;
    if (!bad) {
        const char *p[] = {c->name, event_id};
        PGresult *res[3] = {NULL, NULL, NULL};
        if (pg_batch_add(c->batch, "BEGIN", 0, NULL) != 0 || pg_batch_add(c->batch, DEDUP_SQL, 2, p) != 0 ||
            pg_batch_add(c->batch, "SAVEPOINT handler", 0, NULL) != 0) {
            pg_batch_free(c->batch); /* out of memory: start the batch afresh next time */
            c->batch = pg_batch_new();
            snprintf(c->pg->err, sizeof c->pg->err, "out of memory");
            goto retry;
        }
        if (pg_batch_run(c->pg, c->batch, res) != 0) { /* rolled back by pg_batch_run */
            /* the id is a well-formed UUID: whatever failed is not this event's fault */
            for (int i = 0; i < 3; i++) PQclear(res[i]);
            goto retry;
        } else {
            c->pg->in_tx = 1;
            fresh = strcmp(PQcmdTuples(res[1]), "1") == 0;
        }
        for (int i = 0; i < 3; i++) PQclear(res[i]);
    }
    if (!c->pg->in_tx && pg_begin(c->pg) != 0) goto retry;
    if (!bad && !fresh) {
        metric_inc(c->m_dup);
        LOGD("duplicate event skipped", LF_STR("consumer", c->name), LF_STR("event_id", event_id));
    } else if (!bad) {
        kcons_result_t hr = c->fn(c->arg, c->pg, m, event_id, why, sizeof why);
        if (hr == KCONS_RETRY) goto retry;
        if (hr == KCONS_DEAD) {
            if (pg_query(c->pg, "ROLLBACK TO SAVEPOINT handler", 0, NULL, NULL) != 0) goto retry;
            bad = 1;
        } else {
            metric_inc(c->m_applied);
            c->applied++;
        }
    }
    if (bad && kcons_dead_letter(c, m, why) != 0) goto retry;
    char part[16], next[32];
    snprintf(part, sizeof part, "%d", m->partition);
    snprintf(next, sizeof next, "%lld", (long long)m->offset + 1);
    const char *po[] = {c->name, rd_kafka_topic_name(m->rkt), part, next};
    /* The offset and COMMIT must run in this transaction's session: a connection that broke
     * meanwhile must not be re-opened under them (pg_batch_run would), so look first. */
    if (PQstatus(c->pg->conn) != CONNECTION_OK || PQtransactionStatus(c->pg->conn) != PQTRANS_INTRANS || !c->pg->in_tx) {
        snprintf(c->pg->err, sizeof c->pg->err, "connection lost inside the transaction");
        goto retry;
    }
    if (pg_batch_add(c->batch, OFFSET_SQL, 4, po) != 0 || pg_batch_add(c->batch, "COMMIT", 0, NULL) != 0) {
        pg_batch_free(c->batch);
        c->batch = pg_batch_new();
        snprintf(c->pg->err, sizeof c->pg->err, "out of memory");
        goto retry;
    }
    if (pg_batch_run(c->pg, c->batch, NULL) != 0) goto retry;
    c->pg->in_tx = 0;
    /* durable: now Kafka may learn about it too */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset + 1;
    rd_kafka_offsets_store(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (c->nskips) skips_forget(c, rd_kafka_topic_name(m->rkt), m->partition);
    c->backoff_ms = 0;
    return 0;
retry:
    LOGW("consumer will retry", LF_STR("consumer", c->name),
         LF_STR("topic", rd_kafka_topic_name(m->rkt)), LF_INT("partition", m->partition),
         LF_INT("offset", m->offset), LF_STR("error", c->pg->err));
    pg_rollback(c->pg);
    metric_inc(c->m_retry);
    return -1;
}

static void kcons_resume(evutil_socket_t fd, short what, void *arg)
{
    kcons_t *c = arg;
    (void)fd;
    (void)what;
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(c->rk, &asg) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_resume_partitions(c->rk, asg);
        rd_kafka_topic_partition_list_destroy(asg);
    }
    event_active(c->bridge.ev, EV_READ, 0);
}

static void kcons_wake(evutil_socket_t fd, short what, void *arg)
{
    kcons_t *c = arg;
    (void)fd;
    (void)what;
    kbridge_drain(&c->bridge);
    if (c->paused || evtimer_pending(c->retry_ev, NULL)) return;
    /* Bounded work per wake-up — at most 500 messages or 20 ms, whichever comes first — so
     * a consumer catching up on a long backlog never starves HTTP (health probes, users),
     * timers or the outbox relay sharing the loop. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int n = 0; n < 500; n++) {
        if (n > 0) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 20) break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (m == NULL) return;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LOGW("kafka consume error", LF_STR("consumer", c->name),
                     LF_STR("error", rd_kafka_message_errstr(m)));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (kcons_process(c, m) != 0) {
            /* rewind this partition to the failed message and pause everything for a while */
            rd_kafka_topic_partition_list_t *asg = NULL;
            if (rd_kafka_assignment(c->rk, &asg) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_pause_partitions(c->rk, asg);
                rd_kafka_topic_partition_list_destroy(asg);
            }
            rd_kafka_seek(m->rkt, m->partition, m->offset, 1000);
            rd_kafka_message_destroy(m);
            c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
            if (c->backoff_ms > 5000) c->backoff_ms = 5000;
            struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
            evtimer_add(c->retry_ev, &tv);
            return;
        }
        rd_kafka_message_destroy(m);
    }
    /* More may be waiting. Not event_active on our own event from inside its callback:
     * libevent would run it again before polling, and HTTP would starve. A zero-delay timer
     * comes back after the next poll. */
    static const struct timeval now = {0, 0};
    evtimer_add(c->more_ev, &now);
}

static void kcons_more(evutil_socket_t fd, short what, void *arg)
{
    kcons_wake(fd, what, arg);
}

kcons_t *kcons_new(struct event_base *base, const char *brokers, const char *name,
                   const char *const *topics, pg_t *pg, kcons_handler_fn fn, void *arg,
                   metrics_t *metrics, char *err, size_t errlen)
{
    kcons_t *c = calloc(1, sizeof *c);
    if (c == NULL || (c->name = strdup(name)) == NULL) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->bridge.fds[0] = c->bridge.fds[1] = -1;
    c->base = base;
    c->pg = pg;
    c->fn = fn;
    c->arg = arg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kconf_set(conf, "bootstrap.servers", brokers, err, errlen) ||
        kconf_set(conf, "group.id", name, err, errlen) ||
        kconf_set(conf, "client.id", name, err, errlen) ||
        kconf_set(conf, "enable.auto.commit", "true", err, errlen) ||
        kconf_set(conf, "auto.commit.interval.ms", "1000", err, errlen) ||
        kconf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
        kconf_set(conf, "auto.offset.reset", "earliest", err, errlen) ||
        kconf_set(conf, "enable.partition.eof", "false", err, errlen) ||
        /* a crashed member's partitions move to the survivors after 10 s, not 45 s */
        kconf_set(conf, "session.timeout.ms", "10000", err, errlen) ||
        kconf_set(conf, "heartbeat.interval.ms", "1000", err, errlen) ||
        kconf_set(conf, "log.queue", "true", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        free(c->name);
        free(c);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, kcons_rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, kcons_error_cb);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, c);
    char e[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (c->rk == NULL) {
        snprintf(err, errlen, "kafka consumer %s: %s", name, e);
        rd_kafka_conf_destroy(conf);
        free(c->name);
        free(c);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    rd_kafka_set_log_queue(c->rk, c->q);
    c->retry_ev = evtimer_new(base, kcons_resume, c);
    c->more_ev = evtimer_new(base, kcons_more, c);
    c->flush_ev = evtimer_new(base, kcons_flush_cb, c);
    c->batch = pg_batch_new();
    if (c->retry_ev == NULL || c->more_ev == NULL || c->flush_ev == NULL || c->batch == NULL || kbridge_open(&c->bridge, base, c->q, kcons_wake, c) != 0) {
        snprintf(err, errlen, "kafka consumer %s: cannot bridge into the loop", name);
        kcons_free(c);
        return NULL;
    }
    size_t nt = 0;
    while (topics[nt]) nt++;
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)nt);
    for (size_t i = 0; i < nt; i++)
        rd_kafka_topic_partition_list_add(sub, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (se != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "kafka consumer %s: subscribe: %s", name, rd_kafka_err2str(se));
        kcons_free(c);
        return NULL;
    }
    if (metrics) {
        char lbl[160];
        snprintf(lbl, sizeof lbl, "consumer=\"%s\"", name);
        c->m_applied = metrics_counter(metrics, "jiesu_consumer_applied_total", lbl,
                                       "events applied by a consumer");
        c->m_dup = metrics_counter(metrics, "jiesu_consumer_duplicates_total", lbl,
                                   "events skipped because this consumer had applied them");
        c->m_dead = metrics_counter(metrics, "jiesu_consumer_dead_letters_total", lbl,
                                    "messages sent to the dead-letter topic");
        c->m_retry = metrics_counter(metrics, "jiesu_consumer_retries_total", lbl,
                                     "messages rewound for a retry");
        c->m_skipped = metrics_counter(metrics, "jiesu_consumer_skipped_total", lbl,
                                       "messages of types the consumer does not handle, skipped without a transaction");
    }
    return c;
}

void kcons_pause(kcons_t *c)
{
    if (c) c->paused = 1;
}

long long kcons_applied(const kcons_t *c) { return c->applied; }
long long kcons_skipped(const kcons_t *c) { return c->skipped; }
const char *kcons_name(const kcons_t *c) { return c->name; }
rd_kafka_t *kcons_handle(kcons_t *c) { return c->rk; }

void kcons_free(kcons_t *c)
{
    if (c == NULL) return;
    if (c->rk) {
        /* close runs the revoke path (commit), serving callbacks on this thread */
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
            LOGW("kafka consumer close", LF_STR("consumer", c->name),
                 LF_STR("error", rd_kafka_err2str(e)));
    }
    (void)skips_flush(c); /* normally done by the revoke in close; a consumer never assigned has none */
    skips_drop(c);
    free(c->skips);
    for (size_t i = 0; i < c->ntypes; i++) free(c->types[i]);
    free(c->types);
    kbridge_close(&c->bridge, c->q);
    if (c->retry_ev) event_free(c->retry_ev);
    if (c->more_ev) event_free(c->more_ev);
    if (c->flush_ev) event_free(c->flush_ev);
    pg_batch_free(c->batch);
    if (c->q) rd_kafka_queue_destroy(c->q);
    if (c->rk) rd_kafka_destroy(c->rk);
    free(c->name);
    free(c);
}
