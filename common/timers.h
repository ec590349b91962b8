/*
 * timers.h — the deadline clocks of a case: their kinds, the rule that decides what a due
 * timer does, the card rule of seed 004, and the Redis schedule they are fired from.
 *
 * PostgreSQL (the timers table) is the truth; Redis holds only a schedule that can always be
 * rebuilt from it: one sorted set whose members are "id:version" and whose scores are the
 * millisecond instants the timer next needs attention (its warning, else its deadline). A
 * watcher claims due members atomically (a Lua script moves them to an in-flight set with a
 * lease), decides in one PostgreSQL transaction what each one does — timers_decide, given the
 * timer row and its case as locked in that transaction — and then tells the schedule what
 * became of them. An instance that dies holding a lease loses it: the members go back to the
 * schedule and another instance takes them; PostgreSQL's row version and state make sure
 * nothing fires twice. A marker key tells whether the schedule is whole: a Redis that lost its
 * data (FLUSHALL, a restart without persistence) has no marker, and the schedule is rebuilt
 * from PostgreSQL (timers_sched_rebuild, by COPY, one instance at a time).
 *
 * The pure parts (kinds, members, timers_decide, timers_cards_on_miss, timers_weekly_due) are
 * reentrant. A timers_sched_t is single-threaded and borrows its Redis connection.
 */
#ifndef JIESU_TIMERS_H
#define JIESU_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "casefsm.h"
#include "compat.h"
#include "event.h"
#include "pg.h"
#include "policy.h"
#include "rds.h"

/* ---- kinds ---------------------------------------------------------------------------- */

/* The clocks of DOMAIN.md §3, spelt as timers.kind spells them. */
typedef enum {
    TIMER_SIGN_FOR = 0,           /* "sign_for": the unit signs for or returns (签收/退件) */
    TIMER_FIRST_CONTACT,          /* "first_contact": the unit contacts the enterprise */
    TIMER_RESOLVE_BY,             /* "resolve_by": the result is due (办结) */
    TIMER_WEEKLY_PROGRESS,        /* "weekly_progress": the week's progress report */
    TIMER_RESULT_TO_ENTERPRISE,   /* "result_to_enterprise": the enterprise is told the result */
    TIMER_REVISIT_BY,             /* "revisit_by": the supervision office calls back (回访) */
    TIMER_REDO_BY,                /* "redo_by": the second handling is due (二次办理) */
    TIMER_SUPERVISION_REPLY,      /* "supervision_reply": a notice's reply (督办单 5 日内) */
    TIMER_KIND_COUNT
} timer_kind_t;

const char *timer_kind_to_str(timer_kind_t k);        /* NULL out of range */
JS_MUST_CHECK int timer_kind_from_str(const char *s, timer_kind_t *out);
event_timer_kind_t timer_kind_to_event(timer_kind_t k);

/* How a clock counts, as timers.clock_unit spells it: "wd", "d", "h". Windows that are not
 * counted (immediate without a fallback, agreed…) count as working days. */
const char *timers_clock_unit_str(policy_unit_t u);
policy_unit_t timers_clock_unit_parse(const char *s);
/* The unit a window actually counts in ("immediate, else 24h" counts hours). */
policy_unit_t timers_window_unit(const policy_window_t *w);

/* Is this clock a "reporting deadline" of seed 004 (向平台反馈办理情况) whose miss earns a
 * card: resolve_by, redo_by, weekly_progress, supervision_reply. */
bool timers_kind_is_report(timer_kind_t k);

/* ---- members of the schedule ---------------------------------------------------------- */

#define TIMERS_MEMBER_SIZE 40

typedef struct {
    long long id;
    int version;
} timers_member_t;

/* "id:version" into buf[TIMERS_MEMBER_SIZE]; returns its length. */
int timers_member_format(long long id, int version, char buf[TIMERS_MEMBER_SIZE]);
/* -1 unless s[0..len) is exactly "<id>:<version>" with both positive. */
JS_MUST_CHECK int timers_member_parse(const char *s, size_t len, timers_member_t *out);

/* The instant a timer next needs attention: its warning while that is pending and comes
 * before the deadline, else just after its deadline (the deadline itself is still on time). */
int64_t timers_next_fire_ms(int64_t due_ms, int64_t warn_ms /* 0 = none */, bool warned);

/* ---- the rule of a firing timer ------------------------------------------------------- */

/* A timer and what it depends on, as locked in the firing transaction. */
typedef struct {
    bool found;                 /* a row with the claimed id exists */
    int version;                /* the row's version */
    bool armed;                 /* state = 'armed' */
    bool paused;                /* paused_at is set */
    timer_kind_t kind;
    int64_t due_ms;
    int64_t warn_ms;            /* 0 = no warning */
    bool warned;
    long long unit_id;          /* 0 = none */
    bool has_case;
    casefsm_state_t case_state; /* when has_case */
    long long case_unit_id;     /* the case's lead unit, 0 = none */
    bool notice_replied;        /* supervision_reply: the unit has replied */
} timers_view_t;

typedef enum {
    TIMERS_DROP = 0, /* nothing to do: gone, not armed, an older generation, or paused */
    TIMERS_CANCEL,   /* the case (or notice) has moved on: mark the timer cancelled, no event */
    TIMERS_WAIT,     /* claimed early: put it back for *next_ms */
    TIMERS_WARN,     /* send timer.warned, then wait for the deadline (*next_ms) */
    TIMERS_BREACH    /* the deadline passed: timer.breached and its consequences */
} timers_action_t;

const char *timers_action_str(timers_action_t a);

/* Does the clock of kind k still run while its case is in state s? (sign_for while
 * dispatched; first contact, resolve-by, weekly progress and redo while in progress; the
 * revisit while resolved; telling the enterprise while resolved or after.) */
bool timers_case_allows(timer_kind_t k, casefsm_state_t s);

/* What a claimed member (claimed_version) does at now_ms. *next_ms is set for WAIT and WARN. */
timers_action_t timers_decide(const timers_view_t *v, int claimed_version, int64_t now_ms,
                              int64_t *next_ms);

/* ---- cards (seed 004) ----------------------------------------------------------------- */

typedef struct {
    int yellow_run; /* yellow cards in a row */
    int red_run;    /* red cards in a row */
} timers_card_run_t;

typedef struct {
    event_card_colour_t colour;
    int consecutive;
    event_interview_t interview_of;
    event_card_reason_t reason;
} timers_card_t;

/* A unit missed a reporting deadline: the cards it gets (0 when the profile has no cards,
 * else a yellow, and a red after red_after_yellows yellows in a row — with an interview of
 * the deputy head, or of the principal head after principal_after_reds reds in a row). The
 * run is updated. Returns how many cards were written to out[0..2). */
int timers_cards_on_miss(const policy_t *p, timers_card_run_t *run, timers_card_t out[2]);
/* An on-time report breaks both runs. */
void timers_cards_on_time(timers_card_run_t *run);

/* ---- computed clocks ------------------------------------------------------------------ */

/*
 * The next weekly progress report after from_ms: with progress.weekday set, the office close
 * of the first such weekday after the start day (moved to the next working day when it is a
 * rest day); without, seven days after the start day (moved likewise). -1 with err when the
 * profile has no weekly report or a year is not loaded.
 */
JS_MUST_CHECK int timers_weekly_due(const calendar_t *cal, const char *region, const policy_t *p,
                                    int64_t from_ms, int64_t *due_ms, char *err, size_t errlen);

/* ---- the Redis schedule --------------------------------------------------------------- */

typedef struct timers_sched timers_sched_t;

/* r is borrowed (must outlive the schedule); prefix names the keys ("jiesu:timers" →
 * jiesu:timers:schedule, :inflight, :marker, :rebuild). NULL on allocation failure. */
timers_sched_t *timers_sched_new(rds_t *r, const char *prefix);
void timers_sched_free(timers_sched_t *s);

typedef struct {
    timers_member_t m;
    int64_t at_ms;
} timers_entry_t;

/* Adds (or moves) members to the schedule, pipelined. 0 on success. */
JS_MUST_CHECK int timers_sched_add(timers_sched_t *s, const timers_entry_t *e, size_t n);

/*
 * Claims up to max (≤ 1000) members due at now_ms: atomically moved to the in-flight set with
 * a lease until now_ms + lease_ms. Sets *n (0 when none is due) and *lost when the marker is
 * missing (the schedule is not whole: rebuild it; nothing is claimed then). Malformed members
 * are removed and not returned. -1 when Redis fails (s->err says why).
 */
JS_MUST_CHECK int timers_sched_claim(timers_sched_t *s, int64_t now_ms, int64_t lease_ms,
                                     size_t max, timers_member_t *out, size_t *n, bool *lost);

/* Finishes claimed members: each leaves the in-flight set, and those in `again` go back to
 * the schedule at their at_ms. 0 on success. */
JS_MUST_CHECK int timers_sched_finish(timers_sched_t *s, const timers_member_t *done, size_t n,
                                      const timers_entry_t *again, size_t n_again);

/* Moves in-flight members whose lease ended before now_ms back to the schedule (due at once).
 * *n receives how many. */
JS_MUST_CHECK int timers_sched_reap(timers_sched_t *s, int64_t now_ms, size_t *n);

/* Is the schedule whole (marker present)? 1 yes, 0 no, -1 Redis failed. */
int timers_sched_whole(timers_sched_t *s);

/* How long ago the schedule was last made whole: 1 with *age_s (0 while a rebuild runs), 0
 * when the marker is missing, -1 when Redis fails. */
int timers_sched_marker_age(timers_sched_t *s, long long *age_s);

/* Keeps only the members of m[0..*n) that are in neither the schedule nor the in-flight set
 * (what the schedule lost), compacting m and updating *n. -1 when Redis fails (m unchanged). */
JS_MUST_CHECK int timers_sched_missing(timers_sched_t *s, timers_member_t *m, size_t *n);

/* Counts of the schedule and in-flight sets. */
JS_MUST_CHECK int timers_sched_sizes(timers_sched_t *s, long long *scheduled, long long *inflight);

/*
 * Rebuilds the schedule from PostgreSQL: every armed, unpaused timer at its next fire instant
 * (COPY, pipelined ZADDs of 1,000 members). One instance at a time (a lock key with a lease);
 * returns 1 at once when another instance holds it. The marker is set to "building" first and
 * made whole only if it is still ours at the end: a FLUSHALL during the rebuild makes this
 * call fail (-1) so the caller rebuilds again. *count receives the members written, *ms the
 * time taken. pg must not be inside a transaction.
 */
JS_MUST_CHECK int timers_sched_rebuild(timers_sched_t *s, pg_t *pg, long long *count, double *ms);

/* The last error of a failed call. */
const char *timers_sched_err(const timers_sched_t *s);

#endif
