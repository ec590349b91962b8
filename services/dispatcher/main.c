/*
 * jiesu-dispatcher — routes accepted appeals to the unit responsible at the right tier from the
 * responsibility catalogue (派单目录), or to the dispatch centre's queue when a person must
 * decide; and serves the centres' and the handling units' work on each case: dispatch,
 * escalation, hand-down, remit decisions and extensions; signing, returns, contacts, deadlines,
 * progress, co-handlers' parts and results; the queues and the assignment form (交办单).
 *
 * This file holds the boot wiring: the config table, the policy profiles and calendars it loads,
 * the consumer, the routes with the roles each admits, and the start/stop hooks. The shared boot
 * sequence is daemon_main (common/daemon.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "dispatcher.h"
#include "log.h"

static const cfg_entry_t dispatcher_entries[] = {
    CFG_COMMON_ENTRIES(dispatcher_config_t, "8082"),
    {"policy_dir", CFG_STR, CFG_OFF(dispatcher_config_t, policy_dir), "deploy/policies", 0, 0,
     "folder of the policy profiles (deadlines, sign-for window, extensions)"},
    {"calendar_dir", CFG_STR, CFG_OFF(dispatcher_config_t, calendar_dir), "deploy/calendar", 0, 0,
     "folder of the working-day calendars"},
    {"default_sign_for", CFG_STR, CFG_OFF(dispatcher_config_t, default_sign_for), "1wd", 0, 0,
     "sign-for window where a profile states none (e.g. 1wd, 24h)"},
    {"due_soon_hours", CFG_INT, CFG_OFF(dispatcher_config_t, due_soon_hours), "24", 1, 720,
     "a unit's case is \"due soon\" when its deadline is this many hours away or less"},
    {"import_max_body", CFG_INT, CFG_OFF(dispatcher_config_t, import_max_body), "16777216", 1024, 268435456,
     "bytes a territory or catalogue import by API may send (above http_max_body; read only once the "
     "caller's token and role are checked)"},
    {"auto_dispatch_complex", CFG_BOOL, CFG_OFF(dispatcher_config_t, auto_dispatch_complex), "false", 0, 0,
     "dispatch complex cases from the catalogue too (default: the centre names their lead)"},
};

static const cfg_table_t dispatcher_table = {dispatcher_entries, JS_ARRAY_LEN(dispatcher_entries)};

static int dispatcher_start(daemon_t *d, void *arg)
{
    dispatcher_t *ds = arg;
    ds->d = d;
    ds->pg = daemon_pg(d);
    char err[512];
    ds->policies = policy_set_new();
    ds->cal = calendar_new();
    ds->profiles = profile_cache_new();
    if (ds->policies == NULL || ds->cal == NULL || ds->profiles == NULL) return -1;
    if (policy_set_load_dir(ds->policies, ds->cfg->policy_dir, err, sizeof err) != 0) {
        LOGE("cannot load the policy profiles", LF_STR("dir", ds->cfg->policy_dir), LF_STR("error", err));
        return -1;
    }
    if (calendar_load_dir(ds->cal, ds->cfg->calendar_dir, err, sizeof err) != 0) {
        LOGE("cannot load the calendars", LF_STR("dir", ds->cfg->calendar_dir), LF_STR("error", err));
        return -1;
    }
    if (policy_window_parse(ds->cfg->default_sign_for, &ds->default_sign_for, err, sizeof err) != 0 ||
        (ds->default_sign_for.unit != POLICY_UNIT_WORKING_DAYS && ds->default_sign_for.unit != POLICY_UNIT_DAYS &&
         ds->default_sign_for.unit != POLICY_UNIT_HOURS)) {
        LOGE("default_sign_for must be a fixed window such as 1wd, 2d or 24h",
             LF_STR("value", ds->cfg->default_sign_for));
        return -1;
    }
    LOGI("profiles and calendars", LF_INT("profiles", (long long)policy_set_count(ds->policies)),
         LF_INT("calendar_years", (long long)calendar_year_count(ds->cal)));

    metrics_t *m = daemon_metrics(d);
    ds->m_auto = metrics_counter(m, "jiesu_dispatcher_auto_dispatched_total", NULL,
                                 "cases dispatched from the responsibility catalogue without a person");
    ds->m_queued = metrics_counter(m, "jiesu_dispatcher_queued_total", NULL,
                                   "cases put in a centre's queue because the catalogue was not unambiguous");
    ds->m_manual = metrics_counter(m, "jiesu_dispatcher_manual_dispatches_total", NULL,
                                   "cases dispatched by a centre (manual dispatch or remit decision)");
    ds->m_actions = metrics_counter(m, "jiesu_dispatcher_actions_total", NULL,
                                    "transitions committed through the HTTP API");
    ds->m_refused = metrics_counter(m, "jiesu_dispatcher_conflicts_total", NULL,
                                    "actions refused with 409 because the case moved on");
    static const double lag[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
    ds->m_lag = metrics_histogram(m, "jiesu_dispatcher_route_lag_ms", NULL,
                                  "from case.accepted (occurred_at) to its automatic dispatch, milliseconds", lag,
                                  JS_ARRAY_LEN(lag));

    static const char *const topics[] = {EVENT_TOPIC_CASE, NULL};
    if (daemon_add_consumer(d, "dispatcher", topics, dsp_on_event, ds) != 0) return -1;
    /* Four types of the topic mean "route this case"; the rest (most of it: received, signed,
     * contact_recorded, our own dispatched…) is skipped without a transaction. */
    static const char *const routed[] = {"case.accepted", "case.returned", "case.escalated", "case.handed_down",
                                         NULL};
    if (kcons_set_types(daemon_consumer(d, "dispatcher"), routed) != 0) return -1;

    http_server_t *h = daemon_http(d);
    const unsigned centre = AUTH_ROLE_CENTRE;
    const unsigned unit = AUTH_ROLE_UNIT;
    const unsigned readers = AUTH_ROLE_CENTRE | AUTH_ROLE_UNIT | AUTH_ROLE_SUPERVISOR | AUTH_ROLE_LEADER;
    const unsigned importers = AUTH_ROLE_CENTRE | AUTH_ROLE_OPERATOR;
    const size_t import_body = (size_t)ds->cfg->import_max_body; /* a province's whole territory */
    if (http_server_route(h, "GET", "/v1/dispatch/queue", centre, dsp_h_centre_queue, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/dispatch", centre, dsp_h_dispatch, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/escalate", centre | unit, dsp_h_escalate, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/hand-down", centre, dsp_h_hand_down, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/decide-remit", centre, dsp_h_decide_remit, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/extension-decision", centre | AUTH_ROLE_LEADER,
                          dsp_h_extension_decision, ds) ||
        http_server_route(h, "GET", "/v1/unit/queue", unit, dsp_h_unit_queue, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/sign", unit, dsp_h_sign, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/return", unit, dsp_h_return, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/contact", unit, dsp_h_contact, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/agree-deadline", unit, dsp_h_agree_deadline, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/progress", unit, dsp_h_progress, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/extension-request", unit, dsp_h_extension_request, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/part", unit, dsp_h_part, ds) ||
        http_server_route(h, "POST", "/v1/cases/{id}/result", unit, dsp_h_result, ds) ||
        http_server_route(h, "GET", "/v1/cases/{id}/handling", readers, dsp_h_handling, ds) ||
        http_server_route(h, "GET", "/v1/cases/{id}/assignment-form", readers, dsp_h_assignment_form, ds) ||
        http_server_route(h, "GET", "/v1/cases/{id}/handling-form", readers, dsp_h_handling_form, ds) ||
        /* the territory and the catalogue: the handlers admit only provincial principals */
        http_server_route_body(h, "POST", "/v1/territory/import", importers, import_body, dsp_h_territory_import, ds) ||
        http_server_route_body(h, "POST", "/v1/catalogue/versions", importers, import_body, dsp_h_catalogue_import, ds) ||
        http_server_route(h, "GET", "/v1/catalogue/versions", AUTH_ROLE_STAFF, dsp_h_catalogue_versions, ds) ||
        http_server_route(h, "GET", "/v1/catalogue/versions/{version}", AUTH_ROLE_STAFF, dsp_h_catalogue_version, ds) ||
        http_server_route(h, "GET", "/v1/territory/regions", AUTH_ROLE_STAFF, dsp_h_regions, ds) ||
        http_server_route(h, "GET", "/v1/territory/units", AUTH_ROLE_STAFF, dsp_h_units, ds))
        return -1;
    return 0;
}

static void dispatcher_stop(daemon_t *d, void *arg)
{
    (void)d;
    dispatcher_t *ds = arg;
    profile_cache_free(ds->profiles);
    calendar_free(ds->cal);
    policy_set_free(ds->policies);
    ds->profiles = NULL;
    ds->cal = NULL;
    ds->policies = NULL;
}

int main(int argc, char **argv)
{
    dispatcher_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    dispatcher_t ds;
    memset(&ds, 0, sizeof ds);
    ds.cfg = &cfg;
    daemon_spec_t spec = {
        .name = "dispatcher",
        .table = &dispatcher_table,
        .cfg = &cfg,
        .start = dispatcher_start,
        .stop = dispatcher_stop,
        .arg = &ds,
    };
    return daemon_main(&spec, argc, argv);
}
