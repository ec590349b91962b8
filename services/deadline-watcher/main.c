/*
 * jiesu-deadline-watcher — keeps every case's clocks in working days (with China's make-up
 * working days), fires warnings and breaches, and issues supervision notices and yellow/red
 * cards (issue 5).
 *
 * This file holds the boot wiring: the config table, the policy profiles and the calendar,
 * the territory cache, the consumer of case events, the firing loop, the HTTP routes, and the
 * periodic refresh (territory, calendar, flags waiting for a calendar, monthly review
 * snapshots). The shared boot sequence is daemon_main (common/daemon.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calsync.h"
#include "config.h"
#include "daemon.h"
#include "deadline.h"
#include "log.h"
#include "watcher.h"

static const cfg_entry_t watcher_entries[] = {
    CFG_COMMON_ENTRIES(watcher_config_t, "8083"),
    {"policy_dir", CFG_STR, CFG_OFF(watcher_config_t, policy_dir), "deploy/policies", 0, 0,
     "folder of policy profiles (one NAME.json per profile)"},
    {"calendar_dir", CFG_STR, CFG_OFF(watcher_config_t, calendar_dir), "deploy/calendar", 0, 0,
     "shipped calendar files, imported at start where the database has nothing for their scope and year (empty: none)"},
    {"redis_prefix", CFG_STR, CFG_OFF(watcher_config_t, redis_prefix), "jiesu:timers", 0, 0,
     "prefix of the schedule's Redis keys (:schedule, :inflight, :marker, :rebuild)"},
    {"case_topic", CFG_STR, CFG_OFF(watcher_config_t, case_topic), "jiesu.case-events", 0, 0,
     "Kafka topic of case events"},
    {"consumer_group", CFG_STR, CFG_OFF(watcher_config_t, consumer_group), "deadline-watcher", 0, 0,
     "Kafka consumer group and deduplication namespace"},
    {"notice_reply_default", CFG_STR, CFG_OFF(watcher_config_t, notice_reply_default), "5d", 0, 0,
     "reply window of a supervision notice where the profile sets none (seed 003: 5日内)"},
    {"poll_ms", CFG_INT, CFG_OFF(watcher_config_t, poll_ms), "50", 5, 10000,
     "how often the schedule is polled for due timers"},
    {"fire_batch", CFG_INT, CFG_OFF(watcher_config_t, fire_batch), "1000", 1, 1000,
     "timers decided in one transaction at most"},
    {"lease_ms", CFG_INT, CFG_OFF(watcher_config_t, lease_ms), "30000", 1000, 3600000,
     "how long a claimed timer belongs to this instance before another may take it"},
    {"scan_interval_ms", CFG_INT, CFG_OFF(watcher_config_t, scan_interval_ms), "2000", 100, 600000,
     "how often PostgreSQL is scanned for due timers the schedule missed"},
    {"scan_lag_ms", CFG_INT, CFG_OFF(watcher_config_t, scan_lag_ms), "3000", 0, 600000,
     "how overdue a timer must be before the scan takes it from the schedule's path"},
    {"rebuild_interval_s", CFG_INT, CFG_OFF(watcher_config_t, rebuild_interval_s), "900", 10, 86400,
     "the schedule is rebuilt from PostgreSQL at least this often (one instance does it)"},
    {"refresh_s", CFG_INT, CFG_OFF(watcher_config_t, refresh_s), "60", 1, 3600,
     "how often the territory and the calendar are reloaded and flags retried"},
    {"rectify_after_reminders", CFG_INT, CFG_OFF(watcher_config_t, rectify_after_reminders), "3", 2, 100,
     "overdue reminder letters to one unit within the window that bring a rectification notice"},
    {"rectify_window_days", CFG_INT, CFG_OFF(watcher_config_t, rectify_window_days), "30", 1, 366,
     "the window for rectify_after_reminders, in days"},
    {"fire", CFG_BOOL, CFG_OFF(watcher_config_t, fire), "true", 0, 0,
     "fire timers in this instance (false: consume events and serve the API only)"},
};

static const cfg_table_t watcher_table = {watcher_entries, JS_ARRAY_LEN(watcher_entries)};

int64_t watcher_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void watcher_actor_system(event_t *ev)
{
    ev->actor.principal_id = 0;
    ev->actor.role = EVENT_ROLE_SYSTEM;
    snprintf(ev->actor.name, sizeof ev->actor.name, "deadline-watcher");
}

/* ---- territory ------------------------------------------------------------------------------ */

static int region_cmp(const void *a, const void *b)
{
    return strcmp(((const wregion_t *)a)->code, ((const wregion_t *)b)->code);
}

static int regions_load(watcher_t *w)
{
    PGresult *r = NULL;
    if (pg_query(w->pg_fire, "SELECT code, coalesce(parent_code, ''), coalesce(policy_profile, '') "
                             "FROM regions ORDER BY code", 0, NULL, &r) != 0) {
        LOGW("territory not loaded", LF_STR("error", w->pg_fire->err));
        return -1;
    }
    size_t n = (size_t)PQntuples(r);
    wregion_t *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL) {
        PQclear(r);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(v[i].code, sizeof v[i].code, "%s", PQgetvalue(r, (int)i, 0));
        snprintf(v[i].parent, sizeof v[i].parent, "%s", PQgetvalue(r, (int)i, 1));
        snprintf(v[i].profile, sizeof v[i].profile, "%s", PQgetvalue(r, (int)i, 2));
    }
    PQclear(r);
    qsort(v, n, sizeof *v, region_cmp); /* the database's collation may differ from strcmp */
    free(w->regions);
    w->regions = v;
    w->nregions = n;
    w->regions_loaded_at = mono_s();
    return 0;
}

static const wregion_t *region_find(watcher_t *w, const char *code)
{
    wregion_t key;
    snprintf(key.code, sizeof key.code, "%s", code ? code : "");
    const wregion_t *r = w->regions ? bsearch(&key, w->regions, w->nregions, sizeof key, region_cmp) : NULL;
    /* a region imported since the last refresh: reload, at most once a second */
    if (r == NULL && mono_s() - w->regions_loaded_at > 1.0 && regions_load(w) == 0)
        r = bsearch(&key, w->regions, w->nregions, sizeof key, region_cmp);
    return r;
}

const char *watcher_region_parent(watcher_t *w, const char *code)
{
    const wregion_t *r = region_find(w, code);
    return r ? r->parent : "";
}

static int region_lookup(void *ud, const char *code, const char **profile, const char **parent)
{
    const wregion_t *r = region_find(ud, code);
    if (r == NULL) return -1;
    *profile = r->profile[0] ? r->profile : NULL;
    *parent = r->parent[0] ? r->parent : NULL;
    return 0;
}

const policy_t *watcher_profile(watcher_t *w, const char *region, char *err, size_t errlen)
{
    const policy_t *p = NULL;
    if (policy_set_resolve_region(w->policies, region, region_lookup, w, &p, err, errlen) != 0) return NULL;
    return p;
}

/* ---- calendar ------------------------------------------------------------------------------- */

int watcher_calendar_reload(watcher_t *w, char *err, size_t errlen)
{
    calendar_t *cal = NULL;
    if (calsync_load_db(w->pg_fire, &cal, err, errlen) != 0) return -1;
    calendar_free(w->cal);
    w->cal = cal;
    return 0;
}

static void watcher_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watcher_t *w = arg;
    char err[512];
    if (regions_load(w) != 0) { /* logged */ }
    if (watcher_calendar_reload(w, err, sizeof err) != 0)
        LOGW("calendar not reloaded; the one in force stays", LF_STR("error", err));
    watcher_flags_retry(w);
    watcher_review_snapshots(w);
}

/* ---- start and stop -------------------------------------------------------------------------- */

static int watcher_start(daemon_t *d, void *arg)
{
    watcher_t *w = arg;
    watcher_config_t *cfg = w->cfg;
    char err[1024];
    w->d = d;
    w->pg = daemon_pg(d);
    metrics_t *m = daemon_metrics(d);
    static const double late_bounds[] = {10, 50, 100, 250, 500, 1000, 2500, 5000, 30000, 300000, 3600000};
    w->m_armed = metrics_counter(m, "jiesu_watcher_timers_armed_total", NULL, "timer generations armed");
    w->m_breached = metrics_counter(m, "jiesu_watcher_breaches_total", NULL, "timers that passed their deadline (timer.breached)");
    w->m_warned = metrics_counter(m, "jiesu_watcher_warnings_total", NULL, "warnings sent before a deadline (timer.warned)");
    w->m_cancelled = metrics_counter(m, "jiesu_watcher_moved_on_total", NULL, "due timers whose case had moved on: cancelled, no event");
    w->m_dropped = metrics_counter(m, "jiesu_watcher_dropped_total", NULL, "claimed members that were stale, already fired or paused");
    w->m_waited = metrics_counter(m, "jiesu_watcher_early_total", NULL, "claimed members not due yet, put back");
    w->m_scan = metrics_counter(m, "jiesu_watcher_scan_found_total", NULL, "overdue timers found by the PostgreSQL catch-up scan rather than the schedule");
    w->m_lateness = metrics_histogram(m, "jiesu_watcher_lateness_ms", NULL, "fired_at minus the scheduled instant, milliseconds",
                                      late_bounds, JS_ARRAY_LEN(late_bounds));
    w->m_rebuilds = metrics_counter(m, "jiesu_watcher_rebuilds_total", NULL, "schedule rebuilds from PostgreSQL by this instance");
    w->m_rebuild_ms = metrics_gauge(m, "jiesu_watcher_rebuild_ms", NULL, "duration of this instance's last rebuild");
    w->m_lost = metrics_counter(m, "jiesu_watcher_schedule_lost_total", NULL, "times the schedule was found without its marker (Redis lost its data)");
    w->m_sched = metrics_gauge(m, "jiesu_watcher_schedule_size", NULL, "members in the Redis schedule");
    w->m_inflight = metrics_gauge(m, "jiesu_watcher_inflight_size", NULL, "members claimed and not yet finished");
    w->m_cal_missing = metrics_counter(m, "jiesu_watcher_calendar_missing_total", NULL,
                                       "deadlines that needed a year with no calendar loaded (the case is flagged)");
    w->m_flags_open = metrics_gauge(m, "jiesu_watcher_flags_open", NULL, "open deadline flags (deadline_flags)");
    w->m_notices = metrics_counter(m, "jiesu_watcher_notices_total", NULL, "supervision notices issued");
    w->m_cards = metrics_counter(m, "jiesu_watcher_cards_total", NULL, "cards shown to units");
    w->m_reaped = metrics_counter(m, "jiesu_watcher_leases_expired_total", NULL, "claimed members whose lease ran out (an instance died)");
    w->m_fire_errors = metrics_counter(m, "jiesu_watcher_fire_errors_total", NULL, "firing transactions that failed and were retried");

    if (policy_window_parse(cfg->notice_reply_default, &w->reply_default, err, sizeof err) != 0 ||
        (w->reply_default.unit != POLICY_UNIT_DAYS && w->reply_default.unit != POLICY_UNIT_WORKING_DAYS &&
         w->reply_default.unit != POLICY_UNIT_HOURS)) {
        LOGE("notice_reply_default must be a window such as 5d, 3wd or 72h",
             LF_STR("value", cfg->notice_reply_default));
        return -1;
    }
    w->policies = policy_set_new();
    if (w->policies == NULL || policy_set_load_dir(w->policies, cfg->policy_dir, err, sizeof err) != 0) {
        LOGE("policy profiles not loaded", LF_STR("error", err));
        return -1;
    }
    w->pg_fire = pg_new(cfg->common.pg_dsn, "deadline-watcher-fire");
    w->rds = rds_new(cfg->common.redis_addr, 2000, err, sizeof err);
    if (w->pg_fire == NULL || w->rds == NULL) return -1;
    w->sched = timers_sched_new(w->rds, cfg->redis_prefix);
    if (w->sched == NULL) return -1;

    if (pg_ensure(w->pg_fire) == 0) {
        if (cfg->calendar_dir[0]) {
            calsync_actor_t who = {0, "watcher", NULL};
            int imported = 0;
            if (calsync_import_missing(w->pg_fire, cfg->calendar_dir, &who, &imported, err, sizeof err) != 0)
                LOGW("shipped calendar files not imported", LF_STR("error", err));
        }
        if (regions_load(w) != 0) { /* logged; retried on refresh */ }
        if (watcher_calendar_reload(w, err, sizeof err) != 0)
            LOGW("calendar not loaded from the database yet", LF_STR("error", err));
    }
    if (w->cal == NULL && (w->cal = calendar_new()) == NULL) return -1;
    LOGI("deadlines", LF_INT("profiles", (long long)policy_set_count(w->policies)),
         LF_INT("calendar_years", (long long)calendar_year_count(w->cal)),
         LF_INT("regions", (long long)w->nregions));

    const char *topics[] = {cfg->case_topic, NULL};
    if (daemon_add_consumer(d, cfg->consumer_group, topics, watcher_on_event, w) != 0) return -1;
    if (kcons_set_types(daemon_consumer(d, cfg->consumer_group), watcher_event_types) != 0) return -1;
    if (watcher_api_routes(w, daemon_http(d)) != 0) return -1;
    w->refresh_ev = event_new(daemon_base(d), -1, EV_PERSIST, watcher_refresh, w);
    if (w->refresh_ev == NULL) return -1;
    struct timeval tv = {cfg->refresh_s, 0};
    event_add(w->refresh_ev, &tv);
    if (cfg->fire && watcher_fire_start(w) != 0) return -1;
    return 0;
}

static void watcher_stop(daemon_t *d, void *arg)
{
    (void)d;
    watcher_t *w = arg;
    watcher_fire_stop(w);
    watcher_flush(w);
    if (w->refresh_ev) event_free(w->refresh_ev);
    if (w->flush_ev) event_free(w->flush_ev);
    timers_sched_free(w->sched);
    rds_free(w->rds);
    pg_free(w->pg_fire);
    calendar_free(w->cal);
    policy_set_free(w->policies);
    free(w->regions);
    free(w->pend_add);
    free(w->pend_rm);
}

int main(int argc, char **argv)
{
    watcher_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    watcher_t w;
    memset(&w, 0, sizeof w);
    w.cfg = &cfg;
    daemon_spec_t spec = {
        .name = "deadline-watcher",
        .table = &watcher_table,
        .cfg = &cfg,
        .start = watcher_start,
        .stop = watcher_stop,
        .arg = &w,
    };
    return daemon_main(&spec, argc, argv);
}
