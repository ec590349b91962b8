/*
 * watcher.h — the deadline watcher's internal interfaces (not part of libcommon).
 *
 * main.c      the config table, boot wiring, periodic refresh (territory, calendar, flags)
 * arm.c       case.* events → timers armed, re-armed and disarmed (the Kafka consumer)
 * fire.c      the schedule: claim due timers from Redis, decide and act in one transaction,
 *             the PostgreSQL catch-up scan, leases, rebuilds after Redis loses its data
 * supervise.c supervision notices (督办单), cards (亮牌) and deadline flags, in the caller's
 *             transaction; the bulk outbox writer
 * api.c       HTTP: calendar, supervision, units, pauses, timers, flags
 * review.c    the monthly review of open cases seriously late (and its snapshot job)
 * notice.c    the printable supervision notice (HTML)
 */
#ifndef JIESU_WATCHER_H
#define JIESU_WATCHER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "config.h"
#include "daemon.h"
#include "event.h"
#include "http.h"
#include "metrics.h"
#include "pg.h"
#include "policy.h"
#include "rds.h"
#include "timers.h"

typedef struct {
    cfg_common_t common;
    char *policy_dir;        /* profiles (deploy/policies) */
    char *calendar_dir;      /* shipped calendar files imported when the tables lack them */
    char *redis_prefix;      /* keys of the schedule */
    char *case_topic;        /* where case events are read */
    char *consumer_group;    /* Kafka group and dedup namespace */
    char *notice_reply_default; /* reply window of a notice where the profile sets none */
    long poll_ms;            /* how often the schedule is polled */
    long fire_batch;         /* timers decided per transaction at most */
    long lease_ms;           /* how long a claimed timer is this instance's */
    long scan_interval_ms;   /* catch-up scan of PostgreSQL */
    long scan_lag_ms;        /* how overdue a timer must be for the scan to take it */
    long rebuild_interval_s; /* periodic rebuild of the schedule */
    long refresh_s;          /* territory, calendar and flag retries */
    long rectify_after_reminders; /* level-1 reminders in the window that make a level 2 */
    long rectify_window_days;
    bool fire;               /* fire timers in this instance (else consume and serve only) */
} watcher_config_t;

/* A region of the territory, cached: code → parent and profile. */
typedef struct {
    char code[16];
    char parent[16];
    char profile[72]; /* "" = inherit */
} wregion_t;

typedef struct watcher watcher_t;

typedef struct {
    timers_entry_t e;
    unsigned long long seq;
} wpend_add_t;

typedef struct {
    timers_member_t m;
    unsigned long long seq;
} wpend_rm_t;

struct watcher {
    daemon_t *d;
    watcher_config_t *cfg;
    pg_t *pg;       /* HTTP (borrowed from the daemon) */
    pg_t *pg_fire;  /* firing, scans, rebuilds, refresh (owned) */
    rds_t *rds;     /* the schedule (owned) */
    timers_sched_t *sched;
    calendar_t *cal;            /* swapped whole on reload */
    policy_set_t *policies;
    policy_window_t reply_default;
    wregion_t *regions;
    size_t nregions;
    double regions_loaded_at;
    /* schedule changes made inside transactions, applied after they commit; seq orders the
     * two lists, so that when one flush holds both an add and a removal of a member (a case
     * dispatched and signed within one batch of messages) the later one wins */
    wpend_add_t *pend_add;
    size_t n_add, cap_add;
    wpend_rm_t *pend_rm;
    size_t n_rm, cap_rm;
    unsigned long long pend_seq;
    struct event *flush_ev, *poll_ev, *scan_ev, *refresh_ev;
    bool lost;                  /* the schedule must be rebuilt */
    double next_rebuild_check;
    long long fired_total;
    unsigned long notice_flags_written; /* watcher_notice_flag calls that opened or queued on a flag */
    metric_t *m_armed, *m_breached, *m_warned, *m_cancelled, *m_dropped, *m_waited, *m_scan,
        *m_lateness, *m_rebuilds, *m_rebuild_ms, *m_lost, *m_sched, *m_inflight, *m_cal_missing,
        *m_flags_open, *m_notices, *m_cards, *m_reaped, *m_fire_errors;
};

/* ---- main.c ------------------------------------------------------------------------------ */

/* The profile in force for a region (inheriting); NULL with err naming the problem. */
const policy_t *watcher_profile(watcher_t *w, const char *region, char *err, size_t errlen);
/* Reloads the calendar from the tables; keeps the old one on failure. 0 on success. */
int watcher_calendar_reload(watcher_t *w, char *err, size_t errlen);
/* The parent of a region from the cache ("" at the top or unknown). */
const char *watcher_region_parent(watcher_t *w, const char *code);
/* Milliseconds since the epoch, now. */
int64_t watcher_now_ms(void);
/* The envelope's actor for the watcher itself. */
void watcher_actor_system(event_t *ev);

/* ---- arm.c --------------------------------------------------------------------------------- */

/* The kcons handler for case events, and the types it acts on (for kcons_set_types: the rest
 * — received, accepted, material, the watcher's own timer.* echoes… — is skipped). */
extern const char *const watcher_event_types[];
kcons_result_t watcher_on_event(void *arg, pg_t *pg, const rd_kafka_message_t *m,
                                const char *event_id, char *err, size_t errlen);

typedef struct {
    const char *case_id;   /* NULL for a notice's reply clock */
    const char *notice_id; /* supervision_reply only */
    timer_kind_t kind;
    int64_t due_ms;
    int64_t warn_ms;       /* 0 = none */
    long long unit_id;     /* 0 = none */
    policy_unit_t unit;    /* how the clock counts */
    int64_t paused_at_ms;  /* 0 = running */
} warm_t;

/* Arms a clock in the caller's transaction: the armed generation (if any) becomes stale and
 * version + 1 is inserted; the schedule learns of it after commit (watcher_flush). *id and
 * *version (may be NULL) receive the new row. */
int watcher_arm(watcher_t *w, pg_t *pg, const warm_t *a, long long *id, int *version,
                char *err, size_t errlen) JS_MUST_CHECK;

/* Ends the armed generation of a case's clock: state 'cancelled' (the step was done, or the
 * case moved on). *was_armed tells whether one was armed; *unit_id its unit. */
int watcher_disarm(watcher_t *w, pg_t *pg, const char *case_id, timer_kind_t kind,
                   bool *was_armed, long long *unit_id, char *err, size_t errlen) JS_MUST_CHECK;

/* Computes the warning of a clock whose deadline is known; a missing year flags the case
 * (calendar_missing) and yields no warning (*warn_ms = 0). -1 only on a database error. */
int watcher_warn(watcher_t *w, pg_t *pg, const char *case_id, timer_kind_t kind,
                 const char *region, const policy_t *p, policy_unit_t unit, int64_t from_ms,
                 int64_t due_ms, int64_t *warn_ms) JS_MUST_CHECK;

/* Retries the open calendar_missing flags whose year is now loaded. */
void watcher_flags_retry(watcher_t *w);

/* Queues schedule changes for after the transaction; watcher_flush applies them. */
void watcher_sched_later(watcher_t *w, const timers_entry_t *add, const timers_member_t *rm);
void watcher_flush(watcher_t *w);

/* ---- supervise.c --------------------------------------------------------------------------- */

/* Events written to the outbox with one COPY at the end of a transaction. */
typedef struct wout wout_t;
wout_t *wout_new(void);
void wout_free(wout_t *o);
/* Encodes ev (validating it, through its codec) and keeps it; -1 with err naming the field. */
int wout_add(wout_t *o, const event_t *ev, char *err, size_t errlen) JS_MUST_CHECK;
size_t wout_len(const wout_t *o);
/* Writes them in the caller's open transaction (COPY; not inside a pipelined batch) and empties
 * o. -1 with pg->err on failure. */
int wout_write(wout_t *o, pg_t *pg) JS_MUST_CHECK;

typedef struct {
    int level;                 /* 1..3 */
    long long unit_id;
    const char *case_id;       /* may be NULL */
    event_supervision_reason_t reason;
    const char *reason_text;
    long long issued_by;       /* 0 = the watcher */
    long long source_timer_id; /* 0 = none */
    bool in_bulletin;
    int64_t issued_ms;         /* 0 = now; a breach's notices carry the batch's instant */
    const char *notice_id;     /* NULL = a new random id; else this one (a derived id) */
    const char *source_event_id; /* the event that caused it, when no timer did; may be NULL */
    const event_uuid_list_t *contact_ids; /* fraud: the contacts that did not happen; may be NULL */
} wnotice_t;

/* Issues a supervision notice in the caller's transaction: the row, supervision.issued in out,
 * the reply clock. id_out (37 bytes, may be NULL) receives its id; *issued = false when the
 * same breach (or the same source event, or the same id) already issued one. -1 on a database
 * error, or with *input_error (unknown unit, no calendar for the reply window) and err. */
int watcher_notice_issue(watcher_t *w, pg_t *pg, wout_t *out, const wnotice_t *n,
                         const event_actor_t *actor, char *id_out, bool *issued,
                         bool *input_error, char *err, size_t errlen) JS_MUST_CHECK;

/* What it takes to issue n later, from issued_ms (op "notice"): the facts of its flag. NULL
 * when out of memory. */
json_t *watcher_notice_facts(const wnotice_t *n, int64_t issued_ms);

/* Flags a notice that cannot be issued yet (problem: calendar_missing, profile_missing,
 * uncomputable) on its case's open (case, supervision_reply, problem) flag: a new flag, or, when
 * one is open, facts appended to its "queued" list (unless already there). Steals facts. -1 on a
 * database error (pg->err). */
int watcher_notice_flag(watcher_t *w, pg_t *pg, const char *case_id, const char *problem, int year,
                        const char *detail, json_t *facts) JS_MUST_CHECK;

/* Issues the notice a flag (op "notice": calendar_missing, profile_missing) describes, in the
 * caller's open transaction, once what it waited for is there: 0 issued (or issued meanwhile),
 * 1 still not possible (msg says why), -1 database. */
int watcher_notice_retry(watcher_t *w, pg_t *pg, const json_t *facts, char *msg, size_t msglen) JS_MUST_CHECK;

/* What a breach leads to beyond its own event: reminders, rectification, cards. Runs in the
 * firing transaction. case_no may be "" (a notice's clock). */
typedef struct {
    long long timer_id;
    timer_kind_t kind;
    int version;
    const char *case_id;   /* NULL for a notice's clock */
    const char *case_no;
    long long unit_id;
    int64_t due_ms;
    int64_t fired_ms;
    const char *region;    /* the case's (or the unit's) region */
} wbreach_t;
int watcher_on_breach(watcher_t *w, pg_t *pg, wout_t *out, const wbreach_t *b,
                      const policy_t *p, char *err, size_t errlen) JS_MUST_CHECK;

/* A unit met a reporting deadline: its card runs start again (profiles with cards only). */
int watcher_cards_on_time(watcher_t *w, pg_t *pg, long long unit_id, const policy_t *p)
    JS_MUST_CHECK;

/* Raises a flag (idempotent while open), logs it and counts it. facts (stolen, may be NULL)
 * say how to retry. -1 on a database error. */
int watcher_flag(watcher_t *w, pg_t *pg, const char *case_id, const char *notice_id,
                 timer_kind_t kind, const char *problem, int year, const char *detail,
                 json_t *facts) JS_MUST_CHECK;

/* ---- fire.c -------------------------------------------------------------------------------- */

int watcher_fire_start(watcher_t *w) JS_MUST_CHECK;
void watcher_fire_stop(watcher_t *w);
/* Rebuilds the schedule now (start, loss, period). 0 done or done elsewhere. */
int watcher_rebuild(watcher_t *w) JS_MUST_CHECK;

/* ---- api.c --------------------------------------------------------------------------------- */

int watcher_api_routes(watcher_t *w, http_server_t *h) JS_MUST_CHECK;

/* ---- review.c ------------------------------------------------------------------------------ */

/* The monthly review of region (and below) for month (first day), as JSON (new reference):
 * {region_code, month, review_day, profile, seriously_late_wd, snapshot, cases:[…]}.
 * -1 with *status (400/404/422) and err for a request that cannot be answered, or 503. */
int watcher_review(watcher_t *w, pg_t *pg, const char *region, int year, int month,
                   json_t **out, int *status, char *field, char *err, size_t errlen);
/* Takes the snapshots due today (review day reached, none taken for the month yet). */
void watcher_review_snapshots(watcher_t *w);

/* ---- notice.c ------------------------------------------------------------------------------ */

/* The printable notice (督办单) of one row of supervision_notices joined with its unit, case
 * and issuer; malloc'd HTML the caller frees. */
char *watcher_notice_html(const json_t *notice);

#endif
