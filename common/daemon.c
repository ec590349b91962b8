/*
 * daemon.c — see daemon.h. main() of every service reads as: daemon_spec_t, daemon_main.
 */
#include "daemon.h"

#include <event2/event.h>
#include <hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "outbox.h"

#define DAEMON_MAX_CONSUMERS 8

typedef enum { DAEMON_RUNNING, DAEMON_DRAINING, DAEMON_CLOSED } daemon_state_t;

struct daemon {
    const daemon_spec_t *spec;
    cfg_common_t *cfg;
    daemon_state_t state;
    struct event_base *base;
    struct event *sig_term, *sig_int, *health_ev, *drain_ev;
    metrics_t *metrics;
    pg_t *pg;        /* requests and authentication */
    pg_t *pg_cons[DAEMON_MAX_CONSUMERS];
    kcons_t *cons[DAEMON_MAX_CONSUMERS];
    int ncons;
    rds_t *redis;
    kprod_t *probe;  /* a producer used only to ask the cluster for metadata */
    http_server_t *http;
    auth_cache_t *auth;
    outbox_relay_t *relay;
    int pg_ok, redis_ok, kafka_ok;
    struct timespec drain_started;
    metric_t *m_up[3], *m_draining;
    char instance[128];
};

struct event_base *daemon_base(daemon_t *d) { return d->base; }
pg_t *daemon_pg(daemon_t *d) { return d->pg; }
rds_t *daemon_redis(daemon_t *d) { return d->redis; }
metrics_t *daemon_metrics(daemon_t *d) { return d->metrics; }
http_server_t *daemon_http(daemon_t *d) { return d->http; }
const cfg_common_t *daemon_cfg(daemon_t *d) { return d->cfg; }
int daemon_is_draining(const daemon_t *d) { return d->state != DAEMON_RUNNING; }

/* ---- health ------------------------------------------------------------------------------ */

static void daemon_probe(daemon_t *d)
{
    d->pg_ok = pg_ping(d->pg) == 0;
    d->redis_ok = rds_ping(d->redis) == 0;
    d->kafka_ok = d->probe && kprod_probe(d->probe, 500) == 0;
    metric_set(d->m_up[0], d->pg_ok);
    metric_set(d->m_up[1], d->redis_ok);
    metric_set(d->m_up[2], d->kafka_ok);
}

static void daemon_health_tick(evutil_socket_t fd, short what, void *arg)
{
    daemon_t *d = arg;
    (void)fd;
    (void)what;
    int was = d->pg_ok && d->redis_ok && d->kafka_ok;
    daemon_probe(d);
    int now = d->pg_ok && d->redis_ok && d->kafka_ok;
    if (was != now)
        LOGI(now ? "ready" : "not ready", LF_INT("postgres", d->pg_ok),
             LF_INT("redis", d->redis_ok), LF_INT("kafka", d->kafka_ok),
             d->pg_ok ? LF_NONE : LF_STR("postgres_error", d->pg->err),
             d->redis_ok ? LF_NONE : LF_STR("redis_error", d->redis->err));
}

static void h_healthz(http_req_t *r, void *arg)
{
    daemon_t *d = arg;
    http_reply_json(r, 200, json_pack("{s:s,s:s,s:s}", "status", "ok", "service",
                                      d->spec->name, "instance", d->instance));
}

static void h_readyz(http_req_t *r, void *arg)
{
    daemon_t *d = arg;
    int ready = d->pg_ok && d->redis_ok && d->kafka_ok && d->state == DAEMON_RUNNING;
    http_reply_json(r, ready ? 200 : 503,
                    json_pack("{s:s,s:s,s:s,s:s,s:s}", "status",
                              d->state != DAEMON_RUNNING ? "draining" : ready ? "ready" : "not_ready",
                              "service", d->spec->name, "postgres", d->pg_ok ? "ok" : "down",
                              "redis", d->redis_ok ? "ok" : "down", "kafka",
                              d->kafka_ok ? "ok" : "down"));
}

static void h_metrics(http_req_t *r, void *arg)
{
    daemon_t *d = arg;
    char *txt = metrics_render(d->metrics);
    if (txt == NULL) {
        http_reply_error(r, 500, "internal", NULL, "cannot render metrics");
        return;
    }
    http_reply_raw(r, 200, "text/plain; version=0.0.4", txt, strlen(txt));
    free(txt);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

static void daemon_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    daemon_t *d = arg;
    (void)fd;
    (void)what;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - d->drain_started.tv_sec) * 1000 +
              (now.tv_nsec - d->drain_started.tv_nsec) / 1000000;
    /* a short grace lets answers already written reach their clients */
    if (ms >= 200 || ms >= d->cfg->shutdown_timeout_ms) {
        event_base_loopexit(d->base, NULL);
        return;
    }
    struct timeval tv = {0, 50000};
    evtimer_add(d->drain_ev, &tv);
}

static void daemon_signal(evutil_socket_t sig, short what, void *arg)
{
    daemon_t *d = arg;
    (void)what;
    if (d->state != DAEMON_RUNNING) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* One kill can arrive twice (timeout(1) signals the child and its process group):
         * only a signal sent after the first had a moment to act counts as "second". */
        if (now.tv_sec - d->drain_started.tv_sec >= 1) {
            LOGW("second signal: exiting at once", LF_INT("signal", sig));
            _exit(1);
        }
        return;
    }
    d->state = DAEMON_DRAINING;
    metric_set(d->m_draining, 1);
    LOGI("draining", LF_INT("signal", sig));
    http_server_stop_accepting(d->http);
    for (int i = 0; i < d->ncons; i++) kcons_pause(d->cons[i]);
    clock_gettime(CLOCK_MONOTONIC, &d->drain_started);
    struct timeval tv = {0, 50000};
    evtimer_add(d->drain_ev, &tv);
}

int daemon_add_consumer(daemon_t *d, const char *name, const char *const *topics,
                        kcons_handler_fn fn, void *arg)
{
    if (d->ncons == DAEMON_MAX_CONSUMERS) return -1;
    char app[128], err[512];
    snprintf(app, sizeof app, "%s-%s", d->spec->name, name);
    pg_t *pg = pg_new(d->cfg->pg_dsn, app);
    if (pg == NULL) return -1;
    kcons_t *c = kcons_new(d->base, d->cfg->kafka_brokers, name, topics, pg, fn, arg,
                           d->metrics, err, sizeof err);
    if (c == NULL) {
        LOGE("cannot start consumer", LF_STR("consumer", name), LF_STR("error", err));
        pg_free(pg);
        return -1;
    }
    d->pg_cons[d->ncons] = pg;
    d->cons[d->ncons++] = c;
    return 0;
}

kcons_t *daemon_consumer(daemon_t *d, const char *name)
{
    for (int i = 0; i < d->ncons; i++)
        if (!strcmp(kcons_name(d->cons[i]), name)) return d->cons[i];
    return NULL;
}

static void daemon_teardown(daemon_t *d)
{
    d->state = DAEMON_CLOSED;
    if (d->spec->stop) d->spec->stop(d, d->spec->arg);
    for (int i = d->ncons - 1; i >= 0; i--) {
        kcons_free(d->cons[i]);
        pg_free(d->pg_cons[i]);
    }
    outbox_relay_free(d->relay, (int)d->cfg->shutdown_timeout_ms);
    kprod_free(d->probe, 0);
    http_server_free(d->http);
    auth_cache_free(d->auth);
    rds_free(d->redis);
    pg_free(d->pg);
    if (d->health_ev) event_free(d->health_ev);
    if (d->drain_ev) event_free(d->drain_ev);
    if (d->sig_term) event_free(d->sig_term);
    if (d->sig_int) event_free(d->sig_int);
    metrics_free(d->metrics);
    if (d->base) event_base_free(d->base);
    libevent_global_shutdown();
}

/* ---- boot -------------------------------------------------------------------------------- */

int daemon_main(const daemon_spec_t *spec, int argc, char **argv)
{
    daemon_t dd, *d = &dd;
    memset(d, 0, sizeof *d);
    d->spec = spec;
    d->cfg = (cfg_common_t *)spec->cfg;
    char err[1024];
    int rc = 1;

    /* options and configuration */
    int pr = cfg_parse_args(spec->table, spec->cfg, argc, argv, stdout, err, sizeof err);
    d->cfg->service = spec->name;
    if (pr != 0) {
        if (pr < 0) fprintf(stderr, "jiesu-%s: %s\n", spec->name, err);
        cfg_free(spec->table, spec->cfg);
        return pr < 0 ? 2 : 0;
    }
    log_level_t lvl;
    if (log_level_from_str(d->cfg->log_level, &lvl) != 0) {
        fprintf(stderr, "jiesu-%s: log_level '%s' is not debug, info, warn, error or off\n",
                spec->name, d->cfg->log_level);
        cfg_free(spec->table, spec->cfg);
        return 2;
    }
    if (http_trusted_proxies_check(d->cfg->trusted_proxies, err, sizeof err) != 0) {
        fprintf(stderr, "jiesu-%s: %s\n", spec->name, err);
        cfg_free(spec->table, spec->cfg);
        return 2;
    }
    log_init(spec->name, lvl);
    if (d->cfg->instance_id[0])
        snprintf(d->instance, sizeof d->instance, "%s", d->cfg->instance_id);
    else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(d->instance, sizeof d->instance, "%s-%d", host, (int)getpid());
    }

    /* loop and signals */
    signal(SIGPIPE, SIG_IGN);
    d->base = event_base_new();
    d->metrics = metrics_new();
    if (d->base == NULL || d->metrics == NULL) goto fail;
    d->sig_term = evsignal_new(d->base, SIGTERM, daemon_signal, d);
    d->sig_int = evsignal_new(d->base, SIGINT, daemon_signal, d);
    d->drain_ev = evtimer_new(d->base, daemon_drain_tick, d);
    d->health_ev = event_new(d->base, -1, EV_PERSIST, daemon_health_tick, d);
    if (!d->sig_term || !d->sig_int || !d->drain_ev || !d->health_ev ||
        evsignal_add(d->sig_term, NULL) || evsignal_add(d->sig_int, NULL))
        goto fail;
    d->m_up[0] = metrics_gauge(d->metrics, "jiesu_dependency_up", "dependency=\"postgres\"",
                               "1 when the dependency answered the last probe");
    d->m_up[1] = metrics_gauge(d->metrics, "jiesu_dependency_up", "dependency=\"redis\"", NULL);
    d->m_up[2] = metrics_gauge(d->metrics, "jiesu_dependency_up", "dependency=\"kafka\"", NULL);
    d->m_draining = metrics_gauge(d->metrics, "jiesu_draining", NULL, "1 once shutdown began");

    /* PostgreSQL, then the schema */
    d->pg = pg_new(d->cfg->pg_dsn, spec->name);
    if (d->pg == NULL) goto fail;
    int applied = 0;
    if (pg_ensure(d->pg) != 0) {
        LOGW("postgres not reachable yet", LF_STR("error", d->pg->err));
    } else if (pg_migrate(d->pg, d->cfg->migrations_dir, &applied, err, sizeof err) != 0) {
        LOGE("migrations failed", LF_STR("error", err));
        goto fail;
    }

    /* Redis and Kafka */
    d->redis = rds_new(d->cfg->redis_addr, 1000, err, sizeof err);
    if (d->redis == NULL) {
        fprintf(stderr, "jiesu-%s: %s\n", spec->name, err);
        rc = 2;
        goto fail;
    }
    char cid[192];
    snprintf(cid, sizeof cid, "%s-probe-%s", spec->name, d->instance);
    d->probe = kprod_new(d->base, d->cfg->kafka_brokers, cid, NULL, NULL, NULL, err, sizeof err);
    if (d->probe == NULL) {
        fprintf(stderr, "jiesu-%s: %s\n", spec->name, err);
        rc = 2;
        goto fail;
    }

    /* HTTP */
    http_limits_t lim = {.max_body = (size_t)d->cfg->http_max_body,
                         .max_depth = (int)d->cfg->http_max_depth,
                         .max_conns = (int)d->cfg->http_max_conns};
    d->http = http_server_new(d->base, &lim, d->metrics);
    if (d->http == NULL) goto fail;
    d->auth = auth_cache_new(d->pg, (int)d->cfg->auth_cache_ms);
    if (d->auth == NULL) goto fail;
    http_server_set_authn(d->http, auth_authn_cached, d->auth);
    if (http_server_set_trusted_proxies(d->http, d->cfg->trusted_proxies, err, sizeof err) != 0) goto fail;
    if (http_server_route(d->http, "GET", "/healthz", 0, h_healthz, d) ||
        http_server_route(d->http, "GET", "/readyz", 0, h_readyz, d) ||
        http_server_route(d->http, "GET", "/metrics", 0, h_metrics, d))
        goto fail;
    if (http_server_listen(d->http, d->cfg->http_addr, (int)d->cfg->http_port, err,
                           sizeof err) != 0) {
        LOGE("cannot listen", LF_STR("error", err));
        goto fail;
    }

    /* the outbox relay: every instance competes, one leads */
    if (d->cfg->outbox_relay) {
        outbox_relay_conf_t oc = {.pg_dsn = d->cfg->pg_dsn, .brokers = d->cfg->kafka_brokers,
                                  .instance = d->instance, .batch = (int)d->cfg->outbox_batch,
                                  .poll_ms = (int)d->cfg->outbox_poll_ms,
                                  .retention_s = (int)d->cfg->outbox_retention_s};
        d->relay = outbox_relay_new(d->base, &oc, d->metrics, err, sizeof err);
        if (d->relay == NULL) {
            LOGE("cannot start the outbox relay", LF_STR("error", err));
            goto fail;
        }
    }

    if (spec->start && spec->start(d, spec->arg) != 0) {
        LOGE("service start failed", LF_NONE);
        goto fail;
    }

    daemon_probe(d);
    struct timeval hv = {d->cfg->health_interval_ms / 1000,
                         (d->cfg->health_interval_ms % 1000) * 1000};
    event_add(d->health_ev, &hv);
    char rdk[32], hir[32], pqv[16];
    snprintf(rdk, sizeof rdk, "%s", rd_kafka_version_str());
    snprintf(hir, sizeof hir, "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    snprintf(pqv, sizeof pqv, "%d", PQlibVersion());
    LOGI("up", LF_STR("instance", d->instance), LF_STR("http", d->cfg->http_addr),
         LF_INT("port", http_server_port(d->http)), LF_INT("migrations_applied", applied),
         LF_INT("postgres", d->pg_ok), LF_INT("redis", d->redis_ok), LF_INT("kafka", d->kafka_ok),
         LF_STR("libevent", event_get_version()), LF_STR("librdkafka", rdk),
         LF_STR("jansson", JANSSON_VERSION), LF_STR("hiredis", hir), LF_STR("libpq", pqv));

    event_base_dispatch(d->base);
    LOGI("stopping", LF_NONE);
    rc = 0;
fail:
    daemon_teardown(d);
    cfg_free(spec->table, spec->cfg);
    if (rc == 0) LOGI("stopped cleanly", LF_NONE);
    return rc;
}
