/*
 * revisit.h — the revisit daemon's internal interfaces (not part of libcommon).
 *
 * rules.c     the decisions as pure functions (scale, contacts, outcomes, meetings, sampling)
 * util.c      what every handler shares: profiles and deadlines, scope, audit, actors, errors
 * tasks.c     the consumer (tasks from case.result_submitted, the archive queue from
 *             case.closed / case.terminated) and the supervision office's queue
 * calls.c     recording a call, the enterprise's self-rating, and what each outcome writes
 * forms.c     unsatisfied review forms, discipline referrals, the bulletin
 * meetings.c  the 直通车 meeting list (seed 002) and its nominations
 * jobs.c      the look-back sample (回头看) and archiving, periodic and on demand
 */
#ifndef JIESU_REVISIT_H
#define JIESU_REVISIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "config.h"
#include "daemon.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "metrics.h"
#include "pg.h"
#include "policy.h"
#include "rules.h"

typedef struct {
    cfg_common_t common;
    char *policy_dir;           /* deploy/policies */
    char *calendar_dir;         /* deploy/calendar */
    long job_interval_s;        /* look-back and archive jobs */
    long self_rating_per_min;   /* self-ratings per client address per minute */
    long self_rating_per_case;  /* attempts by code per case number and client per hour */
    long self_rating_case_total_per_hour; /* attempts by code per case number per hour, all clients */
    long redo_agreed_wd;        /* redo window when the original one was agreed per case */
    bool lookback_job;          /* draw last month's look-back samples by itself */
    bool archive_job;           /* archive due cases by itself */
} revisit_config_t;

typedef struct revisit {
    daemon_t *d;
    revisit_config_t *cfg;
    pg_t *pg;                   /* HTTP handlers and jobs (the consumer has its own) */
    policy_set_t *policies;
    calendar_t *cal;
    struct event *job_ev;
    metric_t *m_tasks, *m_calls, *m_closed, *m_redo, *m_escalated, *m_fraud, *m_referrals,
        *m_self_ratings, *m_throttled, *m_sampled, *m_archived;
} revisit_t;

/* ---- util.c -------------------------------------------------------------------------- */

/* The profile in force for a region (regions.policy_profile, inherited), or NULL with err
 * set. Inside or outside a transaction on pg. */
const policy_t *rvs_profile_for(revisit_t *rv, pg_t *pg, const char *region, char *err, size_t errlen);

/* The end of `w` counted from from_ms in region (docs/DEADLINES.md). -1 with err when the
 * window has no fixed length or a calendar year is missing. */
int rvs_due(revisit_t *rv, const char *region, const policy_t *p, const policy_window_t *w,
           int64_t from_ms, int64_t *due_ms, char *err, size_t errlen) JS_MUST_CHECK;

/* Now, in ms since the epoch, and as RFC 3339 +08:00. */
int64_t rvs_now_ms(void);
void rvs_time_str(int64_t ms, char out[EVENT_TIME_SIZE]);

/* The LIKE pattern of a region and everything below it ("45%" for 450000). -1 when the code
 * is not one. */
int rvs_region_like(const char *region, char out[24]) JS_MUST_CHECK;

/* Records a read of case content (audit_log, action case.read); detail is stolen. Failure is
 * logged, never fatal to the answer. */
void rvs_audit(revisit_t *rv, const http_principal_t *p, const char *object, json_t *detail);

/* The actor of an event: principal p (NULL → the system, jiesu-revisit). */
void rvs_actor(event_t *ev, const http_principal_t *p);

/* 503 for a database that cannot be reached, 500 otherwise; logs the detail. */
void rvs_reply_db_error(http_req_t *req, pg_t *pg, const char *what);
/* 409 {"error":{code,message,field:"version"}, "state", "version"}. */
void rvs_reply_conflict(http_req_t *req, const char *code, const char *message, const char *state,
                       int version);

/* Parses a validated limit query parameter (1..max, default def); replies 400 and returns -1. */
int rvs_query_limit(http_req_t *req, int def, int max, int *out) JS_MUST_CHECK;

/* The scope region of a principal for region-scoped lists: its own region, else its unit's
 * region (discipline and leadership principals tied to a unit). "" when it has neither. */
void rvs_principal_region(revisit_t *rv, const http_principal_t *p, char out[16]);

/* Encodes ev and appends it to the outbox (events that are not case history: unit events). */
int rvs_outbox_event(pg_t *pg, const event_t *ev, char *err, size_t errlen) JS_MUST_CHECK;

/* Field value of a row, NULL for SQL NULL. */
const char *rvs_val(const PGresult *r, int row, int col);

/* ---- tasks.c ------------------------------------------------------------------------- */

/* The types rvs_consume applies (for kcons_set_types: every other event is skipped). */
extern const char *const rvs_event_types[];
kcons_result_t rvs_consume(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                          char *err, size_t errlen);
void rvs_queue(http_req_t *req, void *arg);       /* GET /v1/revisits/queue */
void rvs_task_get(http_req_t *req, void *arg);    /* GET /v1/revisits/{id} */

/* ---- calls.c ------------------------------------------------------------------------- */

void rvs_call_record(http_req_t *req, void *arg);  /* POST /v1/revisits/{id}/calls */
void rvs_self_rating(http_req_t *req, void *arg);  /* POST /v1/revisits/self-rating */

/* ---- forms.c ------------------------------------------------------------------------- */

void rvs_forms_list(http_req_t *req, void *arg);       /* GET /v1/review-forms */
void rvs_form_submit(http_req_t *req, void *arg);      /* POST /v1/review-forms/{id} */
void rvs_form_document(http_req_t *req, void *arg);    /* GET /v1/review-forms/{id}/document */
void rvs_referrals_list(http_req_t *req, void *arg);   /* GET /v1/discipline/referrals */
void rvs_referral_receive(http_req_t *req, void *arg); /* POST /v1/discipline/referrals/{id}/receive */
void rvs_bulletin_list(http_req_t *req, void *arg);    /* GET /v1/revisits/bulletin */

/* ---- meetings.c ---------------------------------------------------------------------- */

void rvs_meeting_proposals(http_req_t *req, void *arg); /* GET /v1/meetings/proposals */
void rvs_meeting_nominate(http_req_t *req, void *arg);  /* POST /v1/meetings/nominations */

/* ---- jobs.c -------------------------------------------------------------------------- */

void rvs_sample_draw(http_req_t *req, void *arg);   /* POST /v1/lookback/samples */
void rvs_sample_get(http_req_t *req, void *arg);    /* GET /v1/lookback/samples/{id} */
void rvs_archive_run(http_req_t *req, void *arg);   /* POST /v1/archive/run */
/* The periodic tick: last month's samples where due, then the archive. */
void rvs_jobs_tick(evutil_socket_t fd, short what, void *arg);
/* Archives up to `max` due cases; returns how many, -1 on a database failure. */
int rvs_archive_due(revisit_t *rv, int max);

#endif
