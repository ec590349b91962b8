/*
 * jiesu-revisit — calls enterprises back after a result (回访), records what they say on their
 * locality's scale, closes what is solved, sends back what is not (二次办理), escalates what stays
 * unsolved (提级办理) with the unit's unsatisfied review form, refers leads to discipline
 * inspection, proposes cases for the 直通车 meeting, samples closed cases for a second call
 * (回头看) and archives closed cases (归档). Issue 6.
 *
 * This file holds the boot wiring: the config table, the policy profiles and calendars the
 * clocks are counted with, the consumer of jiesu.case-events, the routes with the roles each
 * admits, the periodic job, and teardown in reverse. The shared boot sequence is daemon_main
 * (common/daemon.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "revisit.h"

static const cfg_entry_t revisit_entries[] = {
    CFG_COMMON_ENTRIES(revisit_config_t, "8084"),
    {"policy_dir", CFG_STR, CFG_OFF(revisit_config_t, policy_dir), "deploy/policies", 0, 0,
     "folder of policy profiles (revisit windows, scales, redo, sampling, archive)"},
    {"calendar_dir", CFG_STR, CFG_OFF(revisit_config_t, calendar_dir), "deploy/calendar", 0, 0,
     "folder of working-day calendars the deadlines are counted on"},
    {"job_interval_s", CFG_INT, CFG_OFF(revisit_config_t, job_interval_s), "60", 1, 86400,
     "how often the look-back and archive jobs run, seconds"},
    {"lookback_job", CFG_BOOL, CFG_OFF(revisit_config_t, lookback_job), "true", 0, 0,
     "draw last month's look-back samples (回头看) by itself"},
    {"archive_job", CFG_BOOL, CFG_OFF(revisit_config_t, archive_job), "true", 0, 0,
     "archive closed cases once the profile's archive.after has passed"},
    {"self_rating_per_min", CFG_INT, CFG_OFF(revisit_config_t, self_rating_per_min), "20", 1, 100000,
     "self-ratings per client address per minute (guessing tracking codes); more get 429"},
    {"self_rating_per_case", CFG_INT, CFG_OFF(revisit_config_t, self_rating_per_case), "5", 1, 10000,
     "self-rating attempts by tracking code per case number and client address per hour; more get 429"},
    {"self_rating_case_total_per_hour", CFG_INT, CFG_OFF(revisit_config_t, self_rating_case_total_per_hour), "100", 1,
     1000000, "self-rating attempts by tracking code per case number per hour from all clients together; more get 429"},
    {"redo_agreed_wd", CFG_INT, CFG_OFF(revisit_config_t, redo_agreed_wd), "5", 1, 250,
     "redo window in working days when the profile says 'original' and the case's window was agreed"},
};

static const cfg_table_t revisit_table = {revisit_entries, JS_ARRAY_LEN(revisit_entries)};

static int revisit_start(daemon_t *d, void *arg)
{
    revisit_t *rv = arg;
    rv->d = d;
    rv->pg = daemon_pg(d);
    char err[1024];

    /* the profiles and calendars every deadline and scale here comes from */
    rv->policies = policy_set_new();
    rv->cal = calendar_new();
    if (rv->policies == NULL || rv->cal == NULL) return -1;
    if (policy_set_load_dir(rv->policies, rv->cfg->policy_dir, err, sizeof err) != 0) {
        LOGE("policy profiles not loaded", LF_STR("error", err));
        return -1;
    }
    if (calendar_load_dir(rv->cal, rv->cfg->calendar_dir, err, sizeof err) != 0) {
        LOGE("calendars not loaded", LF_STR("error", err));
        return -1;
    }
    LOGI("policies", LF_INT("profiles", (long long)policy_set_count(rv->policies)),
         LF_INT("calendar_years", (long long)calendar_year_count(rv->cal)));

    metrics_t *m = daemon_metrics(d);
    rv->m_tasks = metrics_counter(m, "jiesu_revisit_tasks_total", NULL, "revisit tasks opened from submitted results");
    rv->m_calls = metrics_counter(m, "jiesu_revisit_calls_total", NULL, "revisit attempts recorded");
    rv->m_closed = metrics_counter(m, "jiesu_revisit_closed_total", NULL, "cases closed by a revisit");
    rv->m_redo = metrics_counter(m, "jiesu_revisit_redo_total", NULL, "cases sent back for another handling");
    rv->m_escalated = metrics_counter(m, "jiesu_revisit_escalated_total", NULL, "cases escalated unsatisfied again");
    rv->m_fraud = metrics_counter(m, "jiesu_revisit_fraud_notices_total", NULL,
                                  "claimed contacts that did not happen, a supervision notice requested of the watcher for each");
    rv->m_referrals = metrics_counter(m, "jiesu_revisit_referrals_total", NULL, "leads referred to discipline inspection");
    rv->m_self_ratings = metrics_counter(m, "jiesu_revisit_self_ratings_total", NULL, "online self-ratings recorded");
    rv->m_throttled = metrics_counter(m, "jiesu_revisit_self_rating_throttled_total", NULL, "self-ratings refused with 429");
    rv->m_sampled = metrics_counter(m, "jiesu_revisit_lookback_tasks_total", NULL, "look-back tasks drawn");
    rv->m_archived = metrics_counter(m, "jiesu_revisit_archived_total", NULL, "cases archived");

    static const char *const topics[] = {EVENT_TOPIC_CASE, NULL};
    if (daemon_add_consumer(d, "revisit", topics, rvs_consume, rv) != 0) return -1;
    if (kcons_set_types(daemon_consumer(d, "revisit"), rvs_event_types) != 0) return -1;

    http_server_t *h = daemon_http(d);
    const unsigned offices = AUTH_ROLE_CENTRE | AUTH_ROLE_SUPERVISOR | AUTH_ROLE_LEADER;
    if (http_server_route(h, "GET", "/v1/revisits/queue", AUTH_ROLE_SUPERVISOR, rvs_queue, rv) ||
        http_server_route(h, "GET", "/v1/revisits/bulletin", offices, rvs_bulletin_list, rv) ||
        http_server_route(h, "POST", "/v1/revisits/self-rating", 0, rvs_self_rating, rv) ||
        http_server_route(h, "GET", "/v1/revisits/{id}", AUTH_ROLE_SUPERVISOR, rvs_task_get, rv) ||
        http_server_route(h, "POST", "/v1/revisits/{id}/calls", AUTH_ROLE_SUPERVISOR, rvs_call_record, rv) ||
        http_server_route(h, "GET", "/v1/review-forms", AUTH_ROLE_UNIT | offices, rvs_forms_list, rv) ||
        http_server_route(h, "POST", "/v1/review-forms/{id}", AUTH_ROLE_UNIT, rvs_form_submit, rv) ||
        http_server_route(h, "GET", "/v1/review-forms/{id}/document", AUTH_ROLE_UNIT | offices, rvs_form_document,
                          rv) ||
        http_server_route(h, "GET", "/v1/discipline/referrals", AUTH_ROLE_DISCIPLINE, rvs_referrals_list, rv) ||
        http_server_route(h, "POST", "/v1/discipline/referrals/{id}/receive", AUTH_ROLE_DISCIPLINE,
                          rvs_referral_receive, rv) ||
        http_server_route(h, "GET", "/v1/meetings/proposals", offices, rvs_meeting_proposals, rv) ||
        http_server_route(h, "POST", "/v1/meetings/nominations", offices, rvs_meeting_nominate, rv) ||
        http_server_route(h, "POST", "/v1/lookback/samples", AUTH_ROLE_SUPERVISOR, rvs_sample_draw, rv) ||
        http_server_route(h, "GET", "/v1/lookback/samples/{id}", AUTH_ROLE_SUPERVISOR, rvs_sample_get, rv) ||
        http_server_route(h, "POST", "/v1/archive/run", AUTH_ROLE_SUPERVISOR | AUTH_ROLE_OPERATOR, rvs_archive_run,
                          rv))
        return -1;

    rv->job_ev = event_new(daemon_base(d), -1, EV_PERSIST, rvs_jobs_tick, rv);
    if (rv->job_ev == NULL) return -1;
    struct timeval tv = {rv->cfg->job_interval_s, 0};
    event_add(rv->job_ev, &tv);
    return 0;
}

static void revisit_stop(daemon_t *d, void *arg)
{
    (void)d;
    revisit_t *rv = arg;
    if (rv->job_ev) event_free(rv->job_ev);
    rv->job_ev = NULL;
    calendar_free(rv->cal);
    policy_set_free(rv->policies);
    rv->cal = NULL;
    rv->policies = NULL;
}

int main(int argc, char **argv)
{
    revisit_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    revisit_t rv;
    memset(&rv, 0, sizeof rv);
    rv.cfg = &cfg;
    daemon_spec_t spec = {
        .name = "revisit",
        .table = &revisit_table,
        .cfg = &cfg,
        .start = revisit_start,
        .stop = revisit_stop,
        .arg = &rv,
    };
    return daemon_main(&spec, argc, argv);
}
