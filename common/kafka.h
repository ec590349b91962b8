/*
 * kafka.h — librdkafka producer and consumer, bridged into the daemon's libevent loop.
 *
 * Producer: idempotent (enable.idempotence, acks=all, gapless), so a retried send can neither
 * duplicate nor reorder within a partition; every delivery report is handed to the caller's
 * callback on the loop thread, and only a positive report counts as delivered.
 *
 * Consumer: processes one message at a time inside a PostgreSQL transaction that also
 *  - records the event id in consumed_events (a second copy of an event is skipped: the
 *    effect of applying it twice is the effect of once), and
 *  - stores the partition's next offset in consumer_offsets.
 * The Kafka offset is stored only after that transaction commits ("commit after durable"),
 * and on every (re)assignment the consumer starts from the offsets in PostgreSQL, so a crash
 * at any instant neither loses nor re-applies an effect. A handler that cannot work now
 * (database down) asks for a retry: the partition is rewound and paused with backoff. A
 * message that can never be applied (not JSON, no event id, a payload the handler rejects)
 * goes to the dead-letter topic through the outbox, in the same transaction as its offset.
 * A consumer may be limited to the envelope types it handles (kcons_set_types): the others are
 * skipped without a transaction, their offsets written along with the next handled message.
 * Both objects are single-threaded: use them from the loop thread only.
 */
#ifndef JIESU_KAFKA_H
#define JIESU_KAFKA_H

#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "compat.h"
#include "metrics.h"
#include "pg.h"

#define KAFKA_TOPIC_DEAD_LETTER "jiesu.dead-letter"

/* ---- producer ---------------------------------------------------------------------------- */

typedef struct kprod kprod_t;

/* Called on the loop thread for every message: err == 0 means durably acknowledged by all
 * in-sync replicas. msg_opaque is what kprod_send was given. */
typedef void (*kprod_dr_fn)(void *arg, void *msg_opaque, rd_kafka_resp_err_t err);

kprod_t *kprod_new(struct event_base *base, const char *brokers, const char *client_id,
                   kprod_dr_fn dr, void *dr_arg, metrics_t *metrics, char *err, size_t errlen);
/* Flushes for at most timeout_ms, logs what was not delivered, and frees. */
void kprod_free(kprod_t *p, int timeout_ms);

/* Enqueues a copy of key and value. -1 when the local queue is full or the producer is in a
 * fatal state (err says which; the caller retries later). */
int kprod_send(kprod_t *p, const char *topic, const void *key, size_t klen, const void *val,
               size_t vlen, void *msg_opaque, char *err, size_t errlen) JS_MUST_CHECK;

/* Serves delivery reports now (the loop does it by itself; tests and flush paths call it). */
void kprod_poll(kprod_t *p, int timeout_ms);
/* Messages not yet acknowledged. */
int kprod_outq_len(kprod_t *p);
/* True once librdkafka raised a fatal error: the instance must be replaced. */
int kprod_is_fatal(kprod_t *p);
/* A metadata round trip to the cluster within timeout_ms; 0 if it answered. */
int kprod_probe(kprod_t *p, int timeout_ms) JS_MUST_CHECK;
rd_kafka_t *kprod_handle(kprod_t *p);

/* ---- consumer ---------------------------------------------------------------------------- */

typedef enum {
    KCONS_APPLIED = 0, /* effect written in the open transaction */
    KCONS_RETRY,       /* cannot work now: roll back, rewind, try again after backoff */
    KCONS_DEAD,        /* can never be applied: roll back the effect, dead-letter the message */
} kcons_result_t;

/* Runs inside an open transaction on pg, only for an event id not seen before by this
 * consumer. event_id is the envelope's, already checked to be present. On KCONS_DEAD, err says
 * why (it goes into the dead letter). */
typedef kcons_result_t (*kcons_handler_fn)(void *arg, pg_t *pg, const rd_kafka_message_t *m,
                                           const char *event_id, char *err, size_t errlen);

typedef struct kcons kcons_t;

/* name is the consumer group and the dedup namespace; topics is a NULL-terminated list.
 * pg is borrowed and must outlive the consumer. */
kcons_t *kcons_new(struct event_base *base, const char *brokers, const char *name,
                   const char *const *topics, pg_t *pg, kcons_handler_fn fn, void *arg,
                   metrics_t *metrics, char *err, size_t errlen);
/* Leaves the group (committing what was processed) and frees. */
void kcons_free(kcons_t *c);
/* Stops taking new messages (draining); kcons_free still has to be called. */
void kcons_pause(kcons_t *c);
/* Limits the consumer to envelope types it handles (a NULL-terminated list, copied; NULL or empty
 * = every type, the default). A message whose envelope names another type is skipped without a
 * PostgreSQL transaction and without a consumed_events row: its type is peeked from the raw
 * bytes (top-level "type", no full parse). Offsets stay exact: a skipped message's offset is
 * stored in Kafka at once and in consumer_offsets with the partition's next handled message, by
 * a timer within a second, after 2,000 skips, on a rebalance and on kcons_free; a crash before
 * that re-reads and re-skips those messages only. Messages without a readable type (not JSON,
 * no "type") still go to the handler or the dead letter as before. Call before the loop runs.
 * 0, or -1 when out of memory. */
int kcons_set_types(kcons_t *c, const char *const *types) JS_MUST_CHECK;
long long kcons_applied(const kcons_t *c);
/* The consumer's name (its group); borrowed. */
const char *kcons_name(const kcons_t *c);
/* Messages skipped by the type filter so far. */
long long kcons_skipped(const kcons_t *c);
rd_kafka_t *kcons_handle(kcons_t *c);

/* What the type filter reads of an envelope without parsing it: the top-level "type" and
 * "event_id" strings. Returns KAFKA_PEEK_TYPE | KAFKA_PEEK_ID for those found as plain strings
 * (no escapes) that fit their buffers; 0 when buf is not one well-formed top-level object or
 * either key comes twice. Nested values are skipped, not validated. Exposed for tests. */
#define KAFKA_PEEK_TYPE 1
#define KAFKA_PEEK_ID 2
int kafka_envelope_peek(const void *buf, size_t len, char *type, size_t tl, char *id, size_t il);

/* Routes librdkafka's log lines into our JSON log. Used by both objects; exposed for tests. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

#endif
