/*
 * jiesu-reporting — the read models and everything read from them (issue 7): measures of
 * DOMAIN.md §7 by any grouping, rankings and the red-black list, the monthly bulletin, the
 * ledger as CSV and xlsx, the archive dossier, enterprise tracking and recurring problems.
 *
 * This file holds the boot wiring: the config table, the read-model consumer, the routes with
 * the roles each admits, and the start/stop hooks. The shared boot sequence (config, logging,
 * loop, PostgreSQL and migrations, Redis, Kafka, HTTP with /healthz /readyz /metrics, the
 * outbox relay, shutdown) is daemon_main in common/daemon.c. `jiesu-reporting rebuild|status`
 * runs the operators' command (the same as `jiesuctl reporting …`) instead of the daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "readmodel_pg.h"
#include "reporting.h"

static const cfg_entry_t reporting_entries[] = {
    CFG_COMMON_ENTRIES(rep_config_t, "8085"),
    {"consume", CFG_BOOL, CFG_OFF(rep_config_t, consume), "true", 0, 0,
     "maintain the read models from jiesu.case-events and jiesu.unit-events in this process"},
    {"case_topic", CFG_STR, CFG_OFF(rep_config_t, case_topic), EVENT_TOPIC_CASE, 0, 0,
     "the topic of case events the read models follow"},
    {"unit_topic", CFG_STR, CFG_OFF(rep_config_t, unit_topic), EVENT_TOPIC_UNIT, 0, 0,
     "the topic of unit events (cards, supervision notices) the read models follow"},
    {"track_ip_per_min", CFG_INT, CFG_OFF(rep_config_t, track_ip_per_min), "30", 1, 1000000,
     "public tracking look-ups per client address per minute (429 above)"},
    {"track_case_per_hour", CFG_INT, CFG_OFF(rep_config_t, track_case_per_hour), "20", 1, 1000000,
     "tracking look-ups per case number and client per hour (429 above)"},
    {"track_case_total_per_hour", CFG_INT, CFG_OFF(rep_config_t, track_case_total_per_hour), "200", 1, 1000000,
     "tracking look-ups per case number per hour from all clients together: a ceiling on guesses (429 above)"},
    {"ledger_max_rows", CFG_INT, CFG_OFF(rep_config_t, ledger_max_rows), "100000", 1, 1000000,
     "rows one ledger export may hold (422 above)"},
    {"recurring_max_cases", CFG_INT, CFG_OFF(rep_config_t, recurring_max_cases), "5000", 10, 1000000,
     "cases (newest first) the recurring-problem grouping reads per request"},
    {"recurring_pct", CFG_INT, CFG_OFF(rep_config_t, recurring_pct), "30", 1, 100,
     "text similarity (percent) at or above which two cases of a matter type are one class"},
    {"rank_min_cases", CFG_INT, CFG_OFF(rep_config_t, rank_min_cases), "5", 1, 1000000,
     "cases a unit needs in the period to be ranked"},
    {"red_min_score", CFG_INT, CFG_OFF(rep_config_t, red_min_score), "90", 0, 100,
     "红榜: the best units with a composite score at least this"},
    {"black_max_score", CFG_INT, CFG_OFF(rep_config_t, black_max_score), "80", 0, 100,
     "黑榜: the worst units with a composite score below this (and every unit shown a red card)"},
    {"list_size", CFG_INT, CFG_OFF(rep_config_t, list_size), "5", 1, 100, "entries of the red and of the black list"},
    {"max_period_days", CFG_INT, CFG_OFF(rep_config_t, max_period_days), "731", 1, 36600,
     "longest period a report may cover, in days"},
    {"refresh_s", CFG_INT, CFG_OFF(rep_config_t, refresh_s), "300", 1, 86400,
     "how often the territory map (rep_regions) and the deployment's top region are refreshed"},
};

static const cfg_table_t reporting_table = {reporting_entries, JS_ARRAY_LEN(reporting_entries)};

static void rep_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rep_t *s = arg;
    if (readmodel_regions_refresh(s->pg) < 0) {
        LOGW("territory map not refreshed", LF_STR("error", s->pg->err));
        return;
    }
    PGresult *r = NULL;
    if (pg_query(s->pg, "SELECT code, name FROM regions WHERE parent_code IS NULL ORDER BY tier, code", 0, NULL, &r) != 0)
        return;
    if (PQntuples(r) == 1) {
        snprintf(s->root, sizeof s->root, "%s", PQgetvalue(r, 0, 0));
        snprintf(s->root_name, sizeof s->root_name, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
}

static int rep_start(daemon_t *d, void *arg)
{
    rep_t *s = arg;
    s->d = d;
    s->pg = daemon_pg(d);
    metrics_t *m = daemon_metrics(d);
    s->m_applied = metrics_counter(m, "jiesu_reporting_events_applied_total", NULL, "events folded into the read models");
    s->m_tracked = metrics_counter(m, "jiesu_reporting_tracking_answers_total", NULL, "tracking look-ups answered");
    s->m_track_denied = metrics_counter(m, "jiesu_reporting_tracking_throttled_total", NULL,
                                        "tracking look-ups refused with 429");
    s->m_exports = metrics_counter(m, "jiesu_reporting_ledger_exports_total", NULL, "ledger exports");
    s->refresh_ev = event_new(daemon_base(d), -1, EV_PERSIST, rep_refresh, s);
    if (s->refresh_ev == NULL) return -1;
    rep_refresh(-1, 0, s);
    struct timeval tv = {s->cfg->refresh_s, 0};
    event_add(s->refresh_ev, &tv);

    if (s->cfg->consume) {
        const char *const topics[] = {s->cfg->case_topic, s->cfg->unit_topic, NULL};
        if (daemon_add_consumer(d, READMODEL_CONSUMER, topics, rep_consume, s) != 0) return -1;
    }
    http_server_t *h = daemon_http(d);
    const unsigned readers = AUTH_ROLE_LEADER | AUTH_ROLE_CENTRE | AUTH_ROLE_SUPERVISOR;
    const unsigned archive = readers | AUTH_ROLE_DISCIPLINE | AUTH_ROLE_UNIT;
    if (http_server_route(h, "GET", "/v1/reports/measures", readers, rep_measures, s) ||
        http_server_route(h, "GET", "/v1/reports/rankings", readers, rep_rankings, s) ||
        http_server_route(h, "GET", "/v1/reports/bulletin", readers, rep_bulletin, s) ||
        http_server_route(h, "GET", "/v1/reports/ledger", readers, rep_ledger, s) ||
        http_server_route(h, "GET", "/v1/reports/recurring", readers, rep_recurring, s) ||
        http_server_route(h, "GET", "/v1/cases/{id}/dossier", archive, rep_dossier, s) ||
        http_server_route(h, "POST", "/v1/track", 0, rep_track_public, s) ||
        http_server_route(h, "GET", "/v1/track/{case_no}", AUTH_ROLE_ENTERPRISE, rep_track_own, s))
        return -1;
    return 0;
}

static void rep_stop(daemon_t *d, void *arg)
{
    (void)d;
    rep_t *s = arg;
    if (s->refresh_ev) event_free(s->refresh_ev);
    s->refresh_ev = NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "rebuild") || !strcmp(argv[1], "status"))) {
        log_init("reporting", LOG_WARN);
        return reporting_cli(argc, argv, stdout, stderr);
    }
    rep_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    rep_t s;
    memset(&s, 0, sizeof s);
    s.cfg = &cfg;
    daemon_spec_t spec = {
        .name = "reporting",
        .table = &reporting_table,
        .cfg = &cfg,
        .start = rep_start,
        .stop = rep_stop,
        .arg = &s,
    };
    return daemon_main(&spec, argc, argv);
}
