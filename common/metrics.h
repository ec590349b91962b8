/*
 * metrics.h — a small registry of counters, gauges and histograms rendered as Prometheus text.
 *
 * Metrics are registered once at start (the registry owns them) and updated through the
 * returned pointers, which stay valid until metrics_free. Updates are plain stores: a daemon
 * has one event loop, and values read by /metrics from that loop are consistent. Counters that
 * librdkafka threads touch use the atomic helpers.
 */
#ifndef JIESU_METRICS_H
#define JIESU_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_kind_t;

#define METRIC_MAX_BUCKETS 16

typedef struct metric {
    char *name;
    char *help;
    char *labels; /* rendered label set without braces, e.g. topic="x"; may be NULL */
    metric_kind_t kind;
    _Atomic long long count; /* counters; histogram observation count */
    _Atomic long long gauge;
    double sum;              /* histogram */
    size_t nbuckets;
    double bounds[METRIC_MAX_BUCKETS];
    long long buckets[METRIC_MAX_BUCKETS];
    struct metric *next;
} metric_t;

typedef struct metrics metrics_t;

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* Registers and returns a metric owned by the registry; NULL on allocation failure.
 * Same name and labels twice returns the same metric. */
metric_t *metrics_counter(metrics_t *m, const char *name, const char *labels, const char *help);
metric_t *metrics_gauge(metrics_t *m, const char *name, const char *labels, const char *help);
/* bounds ascending; at most METRIC_MAX_BUCKETS; +Inf is implicit. */
metric_t *metrics_histogram(metrics_t *m, const char *name, const char *labels, const char *help,
                            const double *bounds, size_t nbounds);

static inline void metric_inc(metric_t *c) { if (c) atomic_fetch_add(&c->count, 1); }
static inline void metric_add(metric_t *c, long long v) { if (c) atomic_fetch_add(&c->count, v); }
static inline void metric_set(metric_t *g, long long v) { if (g) atomic_store(&g->gauge, v); }
void metric_observe(metric_t *h, double v);

/* Renders the registry; returns a malloc'd NUL-terminated string the caller frees. */
char *metrics_render(const metrics_t *m);

#endif
