/*
 * daemon.h — the boot sequence, health endpoints and shutdown every jiesu daemon shares.
 *
 * A service's main() fills a daemon_spec_t (its name, config table and struct, and start/stop
 * hooks) and calls daemon_main, which runs, in order: options and config (exit 2 on a bad key
 * or value), logging, the event loop and signals, metrics, PostgreSQL (+ migrations), Redis,
 * the Kafka producer probe, the HTTP server with /healthz /readyz /metrics, the outbox relay,
 * then the service's start hook, one "up" log line with library versions, and the loop.
 *
 * Shutdown is a small state machine: running → draining (first SIGTERM/SIGINT: stop accepting
 * connections, /readyz says draining, consumers take nothing new, the loop ends once open
 * requests are answered or shutdown_timeout_ms passes) → closed (teardown in reverse order:
 * service stop, consumers close and commit, relay flushes, producers flush, connections
 * close). A second signal exits at once with status 1. Dependencies that are down at start do
 * not stop the daemon: it starts, reports not-ready, and reconnects.
 */
#ifndef JIESU_DAEMON_H
#define JIESU_DAEMON_H

#include <event2/event.h>

#include "compat.h"
#include "config.h"
#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "pg.h"
#include "rds.h"

typedef struct daemon daemon_t;

typedef struct {
    const char *name;         /* "intake" */
    const cfg_table_t *table; /* the daemon's config table (common rows included) */
    void *cfg;                /* its struct; the first member is cfg_common_t common */
    /* Called once everything is connected: register routes and consumers. 0 to go on. */
    int (*start)(daemon_t *d, void *arg);
    /* Called at teardown, before the shared parts close. */
    void (*stop)(daemon_t *d, void *arg);
    void *arg;
} daemon_spec_t;

/* Runs the daemon; returns the process exit status (0 clean, 1 runtime failure, 2 usage). */
int daemon_main(const daemon_spec_t *spec, int argc, char **argv);

struct event_base *daemon_base(daemon_t *d);
pg_t *daemon_pg(daemon_t *d);
rds_t *daemon_redis(daemon_t *d);
metrics_t *daemon_metrics(daemon_t *d);
http_server_t *daemon_http(daemon_t *d);
const cfg_common_t *daemon_cfg(daemon_t *d);
int daemon_is_draining(const daemon_t *d);

/* Subscribes a consumer (group `name`, deduplicating under that name) whose handler runs in a
 * PostgreSQL transaction on its own connection. Closed by the daemon at teardown. */
int daemon_add_consumer(daemon_t *d, const char *name, const char *const *topics,
                        kcons_handler_fn fn, void *arg) JS_MUST_CHECK;
/* The consumer added under name, or NULL. Borrowed: the daemon frees it at teardown. For
 * settings made before the loop runs, e.g. kcons_set_types (the envelope types it handles). */
kcons_t *daemon_consumer(daemon_t *d, const char *name);

#endif
