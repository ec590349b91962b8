/*
 * readmodel.h — the reporting read models as pure computation: how one case's events fold into
 * a fact row, what that fact contributes to the measure cube, and how counters become the
 * measures of DOMAIN.md §7 (definitions in docs/MEASURES.md).
 *
 * Nothing here touches a database, so the same code serves the incremental consumer (load a
 * fact, fold one event, move the fact's contribution from its old cell to its new one), the
 * rebuild (fold every case's history in memory, add up the final contributions) and the unit
 * tests with hand-checked numbers; the two paths agree because the incremental path's
 * retract-and-add telescopes to exactly the rebuild's sum. Database access lives in
 * readmodel_pg.h.
 *
 * The cube is keyed by (day the case was received, the case's region, the unit now in charge,
 * the tier now responsible, the kind of appeal): every measure is about the cases received in
 * a period (a cohort), evaluated as they stand now. A case contributes to one cell; a dispatch
 * contributes its response (signed or returned in time) to the cell of the unit it went to.
 * Measures that depend on the clock (an open case already past due counts as late; a dispatch
 * not signed by its deadline counts as not responded) are added at query time from the facts.
 *
 * Ownership: every struct here is plain data with no heap parts; copy freely. Thread safety:
 * all functions are reentrant.
 */
#ifndef JIESU_READMODEL_H
#define JIESU_READMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "calendar.h"
#include "compat.h"
#include "event.h"

/* Handling-time histogram: bucket i holds cases of exactly i working days for i < 41, the last
 * bucket 41 days or more; the 90th percentile is exact up to 40 working days (a complex case's
 * 20 days extended at most once). */
#define RM_HIST 42

/* Satisfaction grades in the order of the scale (非常满意 … 非常不满意). */
#define RM_GRADES 5

/* One case as the read model knows it. Strings are inline; "" is absent. Times are
 * milliseconds since the epoch, 0 = absent. */
typedef struct {
    char case_id[EVENT_UUID_SIZE];
    char case_no[EVENT_CASE_NO_SIZE];
    bool known;              /* case.received has been folded: without it, no contribution */
    int64_t received_ms;
    calendar_day_t received_day; /* Asia/Shanghai date of received_ms */
    char region_code[EVENT_REGION_CODE_SIZE];
    char kind[16];
    char channel[16];
    char credit_code[EVENT_CREDIT_CODE_SIZE];
    int tier;                /* 1..4: the tier now responsible */
    int64_t unit_id;         /* the lead unit now in charge; 0 = none (a centre's queue) */
    char state[16];          /* the casefsm state after the last folded event */
    char matter_type[200];   /* from case.accepted (up to 64 code points) */
    bool accepted;           /* accepted for handling, or answered at once */
    bool refused;
    bool duplicate;
    bool terminated;
    bool closed;             /* case.closed seen */
    bool solved;             /* case.closed said resolved */
    bool archived;
    bool sign_pending;       /* a dispatch awaits signing or return */
    int64_t sign_by_ms;
    int64_t due_ms;          /* the handling deadline in force for the current round */
    int dispatches;
    int returns;
    int results;             /* results submitted (and answers at once) */
    int late_results;        /* of which after their deadline */
    char finding[16];        /* of the last result */
    int64_t resolved_ms;     /* first result or answer */
    int64_t closed_ms;
    int handling_wd;         /* from case.closed; -1 unknown */
    int redo;
    int revisits;
    int grade;               /* last satisfaction grade 1..5 (very satisfied … very unsatisfied);
                                0 none, 6 declined */
    int events;
    int64_t last_event_ms;
} rm_case_t;

/* A cell of the cube. */
typedef struct {
    calendar_day_t day;
    char region_code[EVENT_REGION_CODE_SIZE];
    int64_t unit_id;
    int tier;
    char kind[16];
} rm_key_t;

/* What is counted in a cell. */
typedef struct {
    int64_t received, accepted, refused, duplicates;
    int64_t dispatched, resp_on_time, resp_late;       /* per dispatch */
    int64_t done_on_time, done_late, open_handling;    /* per case */
    int64_t closed, solved;
    int64_t rated, grades[RM_GRADES];
    int64_t redo;
    int64_t timed, wd_sum, hist[RM_HIST];
} rm_counts_t;

/* Receives the per-dispatch contributions while events are folded (key borrowed for the call). */
typedef void (*rm_sink_fn)(void *ud, const rm_key_t *key, const rm_counts_t *delta);

/* A fresh fact for case_id (not yet known). */
void rm_case_init(rm_case_t *c, const char *case_id);

/* Folds one decoded event (any type; those that say nothing to reporting are counted and
 * otherwise ignored) into c. Per-dispatch contributions go to sink (may be NULL). Events of
 * one case must arrive in their order; an event before case.received is folded into the fact
 * but contributes nothing until the case is known. Returns 0, or -1 when the event belongs to
 * another case (err says so). */
int rm_case_apply(rm_case_t *c, const event_t *ev, rm_sink_fn sink, void *ud, char *err,
                  size_t errlen) JS_MUST_CHECK;

/* The case's contribution: false when it contributes nothing (not known); else key and
 * counts are filled. */
bool rm_case_contrib(const rm_case_t *c, rm_key_t *key, rm_counts_t *counts);

/* Is the case being handled (received, accepted, dispatched or in progress)? Such a case is
 * late once now passes due_ms. */
bool rm_case_open_handling(const rm_case_t *c);

/* a += sign * b. */
void rm_counts_add(rm_counts_t *a, const rm_counts_t *b, int sign);
bool rm_counts_zero(const rm_counts_t *c);
bool rm_key_equal(const rm_key_t *a, const rm_key_t *b);

/* Tier of a region code by its shape: xx0000 province 1, xxxx00 city 2, other 6 digits
 * county 3, 9 or 12 digits township 4; 0 for anything else. */
int rm_region_tier(const char *code);

/* ---- measures ------------------------------------------------------------------------ */

/* Counters of a group after adding the clock-dependent parts at the query's instant. */
typedef struct {
    rm_counts_t c;
    int64_t overdue_open;     /* open in handling and past due: late */
    int64_t resp_overdue;     /* dispatches still unsigned past their sign-by: not responded */
    int64_t yellow_cards, red_cards;
    int64_t notices[3];       /* supervision notices by level 1..3 */
    bool has_unit_measures;   /* cards and notices apply to this grouping */
} rm_group_t;

/* A rate: num / den, or absent when den is 0. */
typedef struct {
    int64_t num, den;
    bool present;
    double value;             /* 0..1 */
} rm_rate_t;

typedef struct {
    rm_rate_t response;       /* 响应率: dispatches signed (or returned) in time */
    rm_rate_t on_time;        /* 按时办结率 */
    rm_rate_t resolution;     /* 问题解决率 */
    rm_rate_t satisfaction;   /* 满意率 */
    bool has_handling_time;
    double avg_wd;            /* mean handling time in working days */
    int p90_wd;               /* 90th percentile (nearest rank), 41 = "41 or more" */
    bool has_score;
    double score;             /* composite for rankings: mean of the present rates, 0..100 */
} rm_measures_t;

void rm_measures_compute(const rm_group_t *g, rm_measures_t *m);

/* The nearest-rank p-th percentile (0 < p <= 100) of a histogram of n buckets; -1 when empty. */
int rm_hist_percentile(const int64_t *hist, size_t n, double p);

/* JSON spellings and Chinese labels, for the API and documents. Static strings. */
const char *rm_grade_name(int grade);    /* 1 → "very_satisfied"; NULL out of range */
const char *rm_grade_label(int grade);   /* 1 → "非常满意" */
const char *rm_state_label(const char *state);   /* "in_progress" → "办理中" */
const char *rm_kind_label(const char *kind);     /* "complaint" → "投诉" */
const char *rm_event_label(const char *type);    /* "case.signed" → "承办单位签收" */

#endif
