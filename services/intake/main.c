/*
 * jiesu-intake — the one front door for every appeal (统一受理): registers appeals from every
 * channel once, checks them against the acceptance scope, links duplicates, answers
 * consultations from the policy library, and hands accepted cases on through the outbox.
 *
 * This file holds the boot wiring: the config table, the routes with the roles each admits,
 * and the start/stop hooks. The shared boot sequence is daemon_main (common/daemon.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "intake.h"
#include "log.h"
#include "textsim.h"

static const cfg_entry_t intake_entries[] = {
    CFG_COMMON_ENTRIES(intake_config_t, "8081"),
    {"batch_max", CFG_INT, CFG_OFF(intake_config_t, batch_max), "256", 1, 10000,
     "registrations written per transaction at most (group commit)"},
    {"batch_wait_us", CFG_INT, CFG_OFF(intake_config_t, batch_wait_us), "2000", 0, 1000000,
     "how long the first registration of a batch waits for company, microseconds"},
    {"rate_limit_per_min", CFG_INT, CFG_OFF(intake_config_t, rate_limit_per_min), "600", 1,
     100000000, "submissions per client (principal) per minute; more get 429 with Retry-After"},
    {"territory_root", CFG_STR, CFG_OFF(intake_config_t, territory_root), "", 0, 0,
     "the deployment's top region code (empty: the region without a parent)"},
    {"body_max_chars", CFG_INT, CFG_OFF(intake_config_t, body_max_chars), "20000", 100, 50000,
     "longest appeal text accepted, in characters"},
    {"duplicate_pct", CFG_INT, CFG_OFF(intake_config_t, duplicate_pct), "18", 1, 100,
     "text similarity (percent) at or above which an open case's repeat is a duplicate"},
    {"idempotency_retention_h", CFG_INT, CFG_OFF(intake_config_t, idempotency_retention_h), "24",
     1, 8760, "hours an Idempotency-Key answer is kept for retries"},
};

_Static_assert(TEXTSIM_DUPLICATE_THRESHOLD > 0.175 && TEXTSIM_DUPLICATE_THRESHOLD < 0.185,
              "duplicate_pct's default (18) must follow TEXTSIM_DUPLICATE_THRESHOLD");

static const cfg_table_t intake_table = {intake_entries, JS_ARRAY_LEN(intake_entries)};

static void intake_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    intake_t *in = arg;
    char err[256];
    if (intake_regions_load(in->regions, in->pg, in->cfg->territory_root, err, sizeof err) != 0)
        LOGW("territory not loaded", LF_STR("error", err));
    if (intake_policies_load(in->policies, in->pg) != 0)
        LOGW("policy library not loaded", LF_STR("error", in->pg->err));
    char hours[16];
    snprintf(hours, sizeof hours, "%ld", in->cfg->idempotency_retention_h);
    const char *p[] = {hours};
    if (pg_query(in->pg, "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1::int)",
                 1, p, NULL) != 0)
        LOGW("idempotency purge failed", LF_STR("error", in->pg->err));
}

static int intake_start(daemon_t *d, void *arg)
{
    intake_t *in = arg;
    in->d = d;
    in->pg = daemon_pg(d);
    metrics_t *m = daemon_metrics(d);
    in->m_submitted = metrics_counter(m, "jiesu_intake_registered_total", NULL, "appeals registered as new cases");
    in->m_rejected_auto = metrics_counter(m, "jiesu_intake_auto_refused_total", NULL,
                                          "appeals refused automatically (outside the territory, emergencies)");
    in->m_duplicates = metrics_counter(m, "jiesu_intake_duplicates_total", NULL, "appeals linked to an open case as duplicates");
    in->m_replays = metrics_counter(m, "jiesu_intake_idempotent_replays_total", NULL, "retried submissions answered from the stored answer");
    in->m_rate_limited = metrics_counter(m, "jiesu_intake_rate_limited_total", NULL, "submissions refused with 429");
    in->m_rl_unavailable = metrics_counter(m, "jiesu_intake_rate_limit_unavailable_total", NULL,
                                           "submissions let through because Redis could not be asked");
    in->m_decided = metrics_counter(m, "jiesu_intake_review_decisions_total", NULL, "agents' review decisions");
    static const double sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    in->m_batch_size = metrics_histogram(m, "jiesu_intake_batch_size", NULL, "registrations per transaction",
                                         sizes, JS_ARRAY_LEN(sizes));
    in->regions = intake_regions_new();
    in->policies = intake_policies_new();
    in->batcher = intake_batcher_new(in);
    in->refresh_ev = event_new(daemon_base(d), -1, EV_PERSIST, intake_refresh, in);
    if (!in->regions || !in->policies || !in->batcher || !in->refresh_ev) return -1;
    intake_refresh(-1, 0, in);
    LOGI("territory", LF_INT("regions", (long long)intake_regions_count(in->regions)),
         LF_STR("root", intake_regions_root(in->regions) ? intake_regions_root(in->regions)->code : ""));
    struct timeval tv = {30, 0};
    event_add(in->refresh_ev, &tv);

    http_server_t *h = daemon_http(d);
    const unsigned staff = AUTH_ROLE_AGENT | AUTH_ROLE_CENTRE;
    if (http_server_route(h, "POST", "/v1/appeals", AUTH_ROLE_ENTERPRISE | AUTH_ROLE_AGENT, intake_submit, in) ||
        http_server_route(h, "GET", "/v1/review-queue", AUTH_ROLE_AGENT, intake_review_queue, in) ||
        http_server_route(h, "POST", "/v1/cases/{id}/review", AUTH_ROLE_AGENT, intake_review_decide, in) ||
        http_server_route(h, "GET", "/v1/policies", AUTH_ROLE_ANY, intake_policy_search, in) ||
        http_server_route(h, "POST", "/v1/policies", staff, intake_policy_create, in) ||
        http_server_route(h, "GET", "/v1/policies/{id}", AUTH_ROLE_ANY, intake_policy_get, in) ||
        http_server_route(h, "PUT", "/v1/policies/{id}", staff, intake_policy_update, in) ||
        http_server_route(h, "DELETE", "/v1/policies/{id}", staff, intake_policy_retire, in))
        return -1;
    return 0;
}

static void intake_stop(daemon_t *d, void *arg)
{
    (void)d;
    intake_t *in = arg;
    intake_batcher_free(in->batcher); /* writes and answers what is queued */
    if (in->refresh_ev) event_free(in->refresh_ev);
    intake_policies_free(in->policies);
    intake_regions_free(in->regions);
}

int main(int argc, char **argv)
{
    intake_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    intake_t in;
    memset(&in, 0, sizeof in);
    in.cfg = &cfg;
    daemon_spec_t spec = {
        .name = "intake",
        .table = &intake_table,
        .cfg = &cfg,
        .start = intake_start,
        .stop = intake_stop,
        .arg = &in,
    };
    return daemon_main(&spec, argc, argv);
}
