/*
 * outbox.h — the transactional outbox: events are written to PostgreSQL in the same
 * transaction as the state change they report, and a relay publishes them to Kafka.
 *
 * Writers call outbox_append inside their own transaction; if it rolls back, the event never
 * existed. The relay publishes unpublished rows in id order, waits for every delivery report,
 * and only then marks the delivered ones published. It selects "published_at IS NULL", never
 * "id > last id seen": a transaction that took id 41 but commits after id 42 was published is
 * still found on the next pass (the classic skipped-row bug of id-cursor relays).
 *
 * Order per case: writers lock the case row before appending its events, so a case's events
 * commit in id order; the relay sends them in id order to one partition (key = case id)
 * through an idempotent, gapless producer, so a failed send leaves a delivered prefix and the
 * rest is sent again in order. A relay killed mid-batch sends the unmarked rows again on
 * restart: Kafka may then hold a copy of an event, which consumers drop by event id.
 *
 * One relay is active across all instances of all daemons: leadership is a PostgreSQL
 * session advisory lock, released by the server the moment a leader's connection dies.
 */
#ifndef JIESU_OUTBOX_H
#define JIESU_OUTBOX_H

#include <event2/event.h>
#include <stddef.h>

#include "compat.h"
#include "metrics.h"
#include "pg.h"

/* The insert outbox_append runs, for writers that queue it on a pg_batch_t:
 * $1 event id, $2 topic, $3 key, $4 payload. */
#define OUTBOX_INSERT_SQL                                                                      \
    "INSERT INTO outbox (event_id, topic, msg_key, payload) VALUES ($1::uuid, $2, $3, $4)"

/* Inside the caller's open transaction on pg. payload is the encoded envelope. */
int outbox_append(pg_t *pg, const char *event_id, const char *topic, const char *key,
                  const char *payload) JS_MUST_CHECK;

typedef struct outbox_relay outbox_relay_t;

typedef struct {
    const char *pg_dsn;
    const char *brokers;
    const char *instance; /* for logs and client ids */
    int batch;
    int poll_ms;
    int retention_s;
} outbox_relay_conf_t;

/* Starts competing for leadership at once. Strings are copied. */
outbox_relay_t *outbox_relay_new(struct event_base *base, const outbox_relay_conf_t *conf,
                                 metrics_t *metrics, char *err, size_t errlen);
/* Waits up to timeout_ms for in-flight deliveries, marks what was delivered, frees. */
void outbox_relay_free(outbox_relay_t *r, int timeout_ms);
int outbox_relay_is_leader(const outbox_relay_t *r);
long long outbox_relay_published(const outbox_relay_t *r);

#endif
