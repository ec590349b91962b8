/*
 * metrics.c — Prometheus text exposition (version 0.0.4) of a linked list of metrics.
 * Families are emitted in the order their first member was registered, each as one group with
 * HELP/TYPE once, as scrapers require.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics {
    metric_t *head, *tail;
};

metrics_t *metrics_new(void) { return calloc(1, sizeof(metrics_t)); }

void metrics_free(metrics_t *m)
{
    if (m == NULL) return;
    for (metric_t *x = m->head, *n; x; x = n) {
        n = x->next;
        free(x->name);
        free(x->help);
        free(x->labels);
        free(x);
    }
    free(m);
}

static metric_t *metrics_add(metrics_t *m, metric_kind_t kind, const char *name,
                             const char *labels, const char *help)
{
    for (metric_t *x = m->head; x; x = x->next)
        if (!strcmp(x->name, name) && !strcmp(x->labels ? x->labels : "", labels ? labels : ""))
            return x;
    metric_t *x = calloc(1, sizeof *x);
    if (x == NULL) return NULL;
    x->name = strdup(name);
    x->help = strdup(help ? help : "");
    x->labels = labels ? strdup(labels) : NULL;
    if (!x->name || !x->help || (labels && !x->labels)) {
        free(x->name);
        free(x->help);
        free(x->labels);
        free(x);
        return NULL;
    }
    x->kind = kind;
    if (m->tail) m->tail->next = x;
    else m->head = x;
    m->tail = x;
    return x;
}

metric_t *metrics_counter(metrics_t *m, const char *name, const char *labels, const char *help)
{
    return metrics_add(m, METRIC_COUNTER, name, labels, help);
}

metric_t *metrics_gauge(metrics_t *m, const char *name, const char *labels, const char *help)
{
    return metrics_add(m, METRIC_GAUGE, name, labels, help);
}

metric_t *metrics_histogram(metrics_t *m, const char *name, const char *labels, const char *help,
                            const double *bounds, size_t nbounds)
{
    if (nbounds > METRIC_MAX_BUCKETS) return NULL;
    metric_t *h = metrics_add(m, METRIC_HISTOGRAM, name, labels, help);
    if (h && h->nbuckets == 0) {
        h->nbuckets = nbounds;
        memcpy(h->bounds, bounds, nbounds * sizeof(double));
    }
    return h;
}

void metric_observe(metric_t *h, double v)
{
    if (h == NULL) return;
    atomic_fetch_add(&h->count, 1);
    h->sum += v;
    for (size_t i = 0; i < h->nbuckets; i++)
        if (v <= h->bounds[i]) h->buckets[i]++;
}

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} mbuf_t;

JS_PRINTF(2, 3) static void mb_printf(mbuf_t *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static const char *metrics_type(metric_kind_t k)
{
    return k == METRIC_COUNTER ? "counter" : k == METRIC_GAUGE ? "gauge" : "histogram";
}

/* HELP text may hold only two escapes, \\ and \n; anything else raw would break the line. */
static void mb_help(mbuf_t *b, const char *help)
{
    for (const char *p = help; *p;) {
        size_t n = strcspn(p, "\\\n");
        mb_printf(b, "%.*s", (int)n, p);
        p += n;
        if (*p) mb_printf(b, "%s", *p++ == '\n' ? "\\n" : "\\\\");
    }
}

static void metrics_render_one(mbuf_t *b, const metric_t *x)
{
    const char *l = x->labels ? x->labels : "";
    const char *lb = *l ? "{" : "", *rb = *l ? "}" : "";
    switch (x->kind) {
    case METRIC_COUNTER:
        mb_printf(b, "%s%s%s%s %lld\n", x->name, lb, l, rb, (long long)atomic_load(&x->count));
        break;
    case METRIC_GAUGE:
        mb_printf(b, "%s%s%s%s %lld\n", x->name, lb, l, rb, (long long)atomic_load(&x->gauge));
        break;
    case METRIC_HISTOGRAM: {
        const char *sep = *l ? "," : "";
        for (size_t i = 0; i < x->nbuckets; i++)
            mb_printf(b, "%s_bucket{%s%sle=\"%g\"} %lld\n", x->name, l, sep, x->bounds[i],
                      x->buckets[i]);
        mb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %lld\n", x->name, l, sep,
                  (long long)atomic_load(&x->count));
        mb_printf(b, "%s_sum%s%s%s %.6f\n%s_count%s%s%s %lld\n", x->name, lb, l, rb, x->sum,
                  x->name, lb, l, rb, (long long)atomic_load(&x->count));
        break;
    }
    }
}

char *metrics_render(const metrics_t *m)
{
    mbuf_t b = {malloc(4096), 0, 4096, 0};
    if (b.p == NULL) return NULL;
    b.p[0] = '\0';
    for (const metric_t *x = m->head; x; x = x->next) {
        /* The text format wants all samples of a family in one group, but label sets of a
         * family are often registered late (a topic seen for the first time), after other
         * families: so a family is rendered whole where its first member was registered. */
        int first = 1;
        for (const metric_t *y = m->head; y != x && first; y = y->next)
            if (!strcmp(y->name, x->name)) first = 0;
        if (!first) continue;
        mb_printf(&b, "# HELP %s ", x->name);
        mb_help(&b, x->help);
        mb_printf(&b, "\n# TYPE %s %s\n", x->name, metrics_type(x->kind));
        for (const metric_t *y = x; y; y = y->next)
            if (!strcmp(y->name, x->name)) metrics_render_one(&b, y);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
