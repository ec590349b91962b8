/*
 * arm.c — the clocks of a case, armed and disarmed from its events.
 *
 * Each case.* event is applied in the consumer's transaction (kcons: once per event id, with
 * its offset): the case row is locked first — the order the firing transaction uses too, so
 * the two never deadlock — then the clocks the event starts, moves or stops are written to
 * the timers table, versioned: a moved deadline (an agreed date, an approved extension, a
 * redo) makes the armed generation stale and inserts the next, so a late firing of the old
 * one is recognised and dropped. The deadlines come from the events where the dispatcher and
 * the revisit daemon computed them (sign_by, resolve_by, redo_by…); where an event leaves one
 * out, it is computed here from the case's policy profile with the same counting rule
 * (common/deadline.c). A deadline that needs a year with no calendar is not guessed: the
 * case is flagged (deadline_flags) and the clock is armed when the calendar arrives.
 *
 * Redis learns of new generations only after the transaction commits (watcher_flush runs
 * from the loop after the consumer's commit), so no instance can claim a timer PostgreSQL
 * does not show yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "log.h"
#include "supnotice.h"
#include "watcher.h"

/* ---- schedule changes after commit ----------------------------------------------------------- */

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watcher_flush(arg);
}

void watcher_sched_later(watcher_t *w, const timers_entry_t *add, const timers_member_t *rm)
{
    if (add) {
        if (w->n_add == w->cap_add) {
            size_t cap = w->cap_add ? w->cap_add * 2 : 64;
            wpend_add_t *g = realloc(w->pend_add, cap * sizeof *g);
            if (g == NULL) return; /* the catch-up scan will find it */
            w->pend_add = g;
            w->cap_add = cap;
        }
        w->pend_add[w->n_add++] = (wpend_add_t){*add, ++w->pend_seq};
    }
    if (rm) {
        if (w->n_rm == w->cap_rm) {
            size_t cap = w->cap_rm ? w->cap_rm * 2 : 64;
            wpend_rm_t *g = realloc(w->pend_rm, cap * sizeof *g);
            if (g == NULL) return;
            w->pend_rm = g;
            w->cap_rm = cap;
        }
        w->pend_rm[w->n_rm++] = (wpend_rm_t){*rm, ++w->pend_seq};
    }
    if (w->flush_ev == NULL && w->d) w->flush_ev = event_new(daemon_base(w->d), -1, 0, flush_cb, w);
    if (w->flush_ev && !event_pending(w->flush_ev, EV_TIMEOUT, NULL)) {
        struct timeval tv = {0, 0};
        event_add(w->flush_ev, &tv);
    }
}

static bool same_member(const timers_member_t *a, const timers_member_t *b)
{
    return a->id == b->id && a->version == b->version;
}

/* Is pending removal i undone by a later add of its member in this flush (a pause lifted)? */
static bool rm_superseded(const watcher_t *w, size_t i)
{
    for (size_t j = 0; j < w->n_add; j++)
        if (w->pend_add[j].seq > w->pend_rm[i].seq && same_member(&w->pend_add[j].e.m, &w->pend_rm[i].m)) return true;
    return false;
}

/* Is pending add j undone by a later removal of its member in this flush? One consumer wake-up
 * applies up to 500 messages before the flush: a case dispatched and signed within it has its
 * sign-for generation armed and disarmed there, and adding it after the removal would leave a
 * member of a cancelled timer in the schedule until its due time. */
static bool add_superseded(const watcher_t *w, size_t j)
{
    for (size_t i = 0; i < w->n_rm; i++)
        if (w->pend_rm[i].seq > w->pend_add[j].seq && same_member(&w->pend_rm[i].m, &w->pend_add[j].e.m)) return true;
    return false;
}

void watcher_flush(watcher_t *w)
{
    if (w->sched == NULL || (w->n_add == 0 && w->n_rm == 0)) return;
    /* For each member only its last change counts (see add_superseded). Removals are the
     * members of disarmed generations: ZREM from the schedule (one in flight is dropped when
     * its firing finds the row no longer armed). */
    const char **argv = w->n_rm ? malloc((2 + w->n_rm) * sizeof *argv) : NULL;
    char(*buf)[TIMERS_MEMBER_SIZE] = w->n_rm ? malloc(w->n_rm * sizeof *buf) : NULL;
    timers_entry_t *adds = w->n_add ? malloc(w->n_add * sizeof *adds) : NULL;
    size_t nrm = 0, nadd = 0;
    if (w->n_rm && argv && buf && w->rds) {
        char key[200];
        snprintf(key, sizeof key, "%s:schedule", w->cfg->redis_prefix);
        argv[0] = "ZREM";
        argv[1] = key;
        for (size_t i = 0; i < w->n_rm; i++) {
            if (rm_superseded(w, i)) continue;
            timers_member_format(w->pend_rm[i].m.id, w->pend_rm[i].m.version, buf[nrm]);
            argv[2 + nrm] = buf[nrm];
            nrm++;
        }
        if (nrm) {
            redisReply *rep = rds_cmd(w->rds, (int)(2 + nrm), argv, NULL);
            if (rep) freeReplyObject(rep);
        }
    }
    if (w->n_add && adds == NULL) {
        LOGW("schedule not updated; the catch-up scan covers it", LF_STR("error", "out of memory"));
    } else {
        for (size_t j = 0; j < w->n_add; j++)
            if (!add_superseded(w, j)) adds[nadd++] = w->pend_add[j].e;
        if (nadd && timers_sched_add(w->sched, adds, nadd) != 0)
            LOGW("schedule not updated; the catch-up scan covers it", LF_STR("error", timers_sched_err(w->sched)));
    }
    free(argv);
    free(buf);
    free(adds);
    w->n_rm = 0;
    w->n_add = 0;
}

/* ---- arming ---------------------------------------------------------------------------------- */

static void fmt_ts(int64_t ms, char buf[40])
{
    deadline_time_format(ms, buf, 40);
}

int watcher_arm(watcher_t *w, pg_t *pg, const warm_t *a, long long *id_out, int *version_out,
                char *err, size_t errlen)
{
    const char *kind = timer_kind_to_str(a->kind);
    PGresult *r = NULL;
    /* 0004's rule: the armed generation becomes stale before version + 1 is inserted */
    const char *ps[] = {a->case_id, a->notice_id, kind};
    if (pg_query(pg, a->notice_id
                         ? "UPDATE timers SET state = 'stale' WHERE notice_id = $2::uuid AND state = 'armed' "
                           "AND $1::uuid IS NULL AND $3 = kind RETURNING id, version"
                         : "UPDATE timers SET state = 'stale' WHERE case_id = $1::uuid AND kind = $3 AND "
                           "state = 'armed' AND $2::uuid IS NULL RETURNING id, version",
                 3, ps, &r) != 0)
        goto fail;
    for (int i = 0; i < PQntuples(r); i++) {
        timers_member_t m = {strtoll(PQgetvalue(r, i, 0), NULL, 10), atoi(PQgetvalue(r, i, 1))};
        watcher_sched_later(w, NULL, &m);
    }
    PQclear(r);
    r = NULL;
    char due[40], warn[40], unit[32], paused[40];
    fmt_ts(a->due_ms, due);
    fmt_ts(a->warn_ms, warn);
    fmt_ts(a->paused_at_ms, paused);
    snprintf(unit, sizeof unit, "%lld", a->unit_id);
    const char *pi[] = {a->case_id, a->notice_id, kind, due, a->warn_ms > 0 ? warn : NULL,
                        a->unit_id > 0 ? unit : NULL, timers_clock_unit_str(a->unit),
                        a->paused_at_ms > 0 ? paused : NULL};
    if (pg_query(pg,
                 "INSERT INTO timers (case_id, notice_id, kind, version, due_at, warn_at, unit_id, "
                 "clock_unit, paused_at) VALUES ($1::uuid, $2::uuid, $3, (SELECT coalesce(max(version), 0) + 1 "
                 "FROM timers WHERE CASE WHEN $2::uuid IS NULL THEN case_id = $1::uuid AND kind = $3 "
                 "ELSE notice_id = $2::uuid END), $4::timestamptz, $5::timestamptz, $6::bigint, $7, "
                 "$8::timestamptz) RETURNING id, version",
                 8, pi, &r) != 0)
        goto fail;
    timers_entry_t e = {{strtoll(PQgetvalue(r, 0, 0), NULL, 10), atoi(PQgetvalue(r, 0, 1))},
                        timers_next_fire_ms(a->due_ms, a->warn_ms, false)};
    PQclear(r);
    if (id_out) *id_out = e.m.id;
    if (version_out) *version_out = e.m.version;
    if (a->paused_at_ms == 0) watcher_sched_later(w, &e, NULL);
    metric_inc(w->m_armed);
    LOGD("timer armed", LF_STR("case_id", a->case_id ? a->case_id : ""), LF_STR("kind", kind),
         LF_INT("timer_id", e.m.id), LF_INT("version", e.m.version), LF_STR("due_at", due));
    return 0;
fail:
    snprintf(err, errlen, "arm %s: %s", kind, pg->err);
    PQclear(r);
    return -1;
}

int watcher_disarm(watcher_t *w, pg_t *pg, const char *case_id, timer_kind_t kind, bool *was_armed,
                   long long *unit_id, char *err, size_t errlen)
{
    const char *p[] = {case_id, timer_kind_to_str(kind)};
    PGresult *r = NULL;
    *was_armed = false;
    if (unit_id) *unit_id = 0;
    if (pg_query(pg, "UPDATE timers SET state = 'cancelled' WHERE case_id = $1::uuid AND kind = $2 "
                     "AND state = 'armed' RETURNING id, version, coalesce(unit_id, 0)",
                 2, p, &r) != 0) {
        snprintf(err, errlen, "disarm %s: %s", p[1], pg->err);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        timers_member_t m = {strtoll(PQgetvalue(r, i, 0), NULL, 10), atoi(PQgetvalue(r, i, 1))};
        watcher_sched_later(w, NULL, &m);
        *was_armed = true;
        if (unit_id) *unit_id = strtoll(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);
    return 0;
}

/* The armed generation of a case's clock: its due instant, unit and how it counts. 0 found,
 * 1 none, -1 database. */
static int armed_of(pg_t *pg, const char *case_id, timer_kind_t kind, int64_t *due_ms, long long *unit_id,
                    policy_unit_t *unit)
{
    const char *p[] = {case_id, timer_kind_to_str(kind)};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT (extract(epoch FROM due_at) * 1000)::bigint, coalesce(unit_id, 0), clock_unit "
                     "FROM timers WHERE case_id = $1::uuid AND kind = $2 AND state = 'armed'",
                 2, p, &r) != 0)
        return -1;
    int rc = PQntuples(r) == 1 ? 0 : 1;
    if (rc == 0) {
        *due_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *unit_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        *unit = timers_clock_unit_parse(PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return rc;
}

/* The start of an open pause of a case's clock, 0 when none. -1 database. */
static int open_pause(pg_t *pg, const char *case_id, timer_kind_t kind, int64_t *start_ms)
{
    const char *p[] = {case_id, timer_kind_to_str(kind)};
    PGresult *r = NULL;
    *start_ms = 0;
    if (pg_query(pg, "SELECT (extract(epoch FROM started_at) * 1000)::bigint FROM clock_pauses "
                     "WHERE case_id = $1::uuid AND timer_kind = $2 AND ended_at IS NULL",
                 2, p, &r) != 0)
        return -1;
    if (PQntuples(r) == 1) *start_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int watcher_warn(watcher_t *w, pg_t *pg, const char *case_id, timer_kind_t kind, const char *region,
                 const policy_t *p, policy_unit_t unit, int64_t from_ms, int64_t due_ms, int64_t *warn_ms)
{
    char err[512];
    *warn_ms = 0;
    int64_t wm;
    if (deadline_warn_for(w->cal, region, p, unit, from_ms, due_ms, &wm, err, sizeof err) == 0) {
        *warn_ms = wm < due_ms ? wm : 0; /* a warning at the deadline itself is no warning */
        return 0;
    }
    int year = calendar_error_year(err);
    json_t *facts = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s}", "op", "warn", "kind", timer_kind_to_str(kind),
                              "from_ms", (json_int_t)from_ms, "due_ms", (json_int_t)due_ms, "unit",
                              timers_clock_unit_str(unit), "region", region ? region : "");
    return watcher_flag(w, pg, case_id, NULL, kind, year ? "calendar_missing" : "uncomputable", year, err, facts);
}

/* ---- the case ---------------------------------------------------------------------------------- */

typedef struct {
    const char *id;
    casefsm_state_t state;
    char region[16];
    policy_kind_t kind;
    policy_complexity_t complexity;
    long long lead_unit_id;
    int64_t received_ms;
    char case_no[40];
    const policy_t *profile; /* NULL when the region has none (flagged) */
} wcase_t;

/* Locks and reads the case. 0 found, 1 unknown to this database, -1 database. */
static int case_lock(pg_t *pg, const char *case_id, wcase_t *c)
{
    const char *p[] = {case_id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT state, region_code, kind, complexity, coalesce(lead_unit_id, 0), "
                     "(extract(epoch FROM received_at) * 1000)::bigint, case_no FROM cases "
                     "WHERE id = $1::uuid FOR UPDATE",
                 1, p, &r) != 0)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return 1;
    }
    c->id = case_id;
    if (casefsm_state_from_str(PQgetvalue(r, 0, 0), &c->state) != 0) c->state = CASEFSM_STATE_NONE;
    snprintf(c->region, sizeof c->region, "%s", PQgetvalue(r, 0, 1));
    if (policy_kind_from_str(PQgetvalue(r, 0, 2), &c->kind) != 0) c->kind = POLICY_KIND_HELP;
    if (policy_complexity_from_str(PQgetvalue(r, 0, 3), &c->complexity) != 0) c->complexity = POLICY_COMPLEXITY_GENERAL;
    c->lead_unit_id = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    c->received_ms = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    snprintf(c->case_no, sizeof c->case_no, "%s", PQgetvalue(r, 0, 6));
    PQclear(r);
    return 0;
}

typedef struct {
    watcher_t *w;
    pg_t *pg;
    wcase_t *c;
    const event_t *ev;
    int64_t at_ms; /* occurred_at */
    char *err;
    size_t errlen;
} actx_t;

/* Arms kind at due_ms (a deadline an event carried), with its warning. */
static int arm_at(actx_t *x, timer_kind_t kind, int64_t due_ms, long long unit_id, policy_unit_t unit)
{
    warm_t a = {.case_id = x->c->id, .kind = kind, .due_ms = due_ms, .unit_id = unit_id, .unit = unit};
    if (x->c->profile &&
        watcher_warn(x->w, x->pg, x->c->id, kind, x->c->region, x->c->profile, unit, x->at_ms, due_ms, &a.warn_ms) != 0) {
        snprintf(x->err, x->errlen, "%s", x->pg->err);
        return -1;
    }
    if ((kind == TIMER_RESOLVE_BY || kind == TIMER_REDO_BY) &&
        open_pause(x->pg, x->c->id, kind, &a.paused_at_ms) != 0) {
        snprintf(x->err, x->errlen, "%s", x->pg->err);
        return -1;
    }
    return watcher_arm(x->w, x->pg, &a, NULL, NULL, x->err, x->errlen);
}

/* Arms kind by counting window from from_ms; a window without a fixed length arms nothing,
 * a missing year flags the case with what is needed to arm it later. */
static int arm_window(actx_t *x, timer_kind_t kind, const policy_window_t *win, int64_t from_ms, long long unit_id)
{
    if (x->c->profile == NULL || win == NULL) return 0;
    policy_unit_t u = win->unit;
    if (u == POLICY_UNIT_IMMEDIATE) u = win->else_unit;
    if (u != POLICY_UNIT_WORKING_DAYS && u != POLICY_UNIT_DAYS && u != POLICY_UNIT_HOURS) return 0;
    deadline_input_t in = {.cal = x->w->cal, .region = x->c->region, .profile = x->c->profile,
                           .window = win, .from_ms = from_ms};
    deadline_result_t r;
    char msg[512];
    if (deadline_compute(&in, &r, msg, sizeof msg) != 0) {
        int year = calendar_error_year(msg);
        char wtxt[64];
        policy_window_format(win, wtxt, sizeof wtxt);
        json_t *facts = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "op", "arm", "kind", timer_kind_to_str(kind),
                                  "window", wtxt, "from_ms", (json_int_t)from_ms, "unit_id", (json_int_t)unit_id,
                                  "region", x->c->region);
        if (watcher_flag(x->w, x->pg, x->c->id, NULL, kind, year ? "calendar_missing" : "uncomputable", year, msg,
                         facts) != 0) {
            snprintf(x->err, x->errlen, "%s", x->pg->err);
            return -1;
        }
        return 0;
    }
    warm_t a = {.case_id = x->c->id, .kind = kind, .due_ms = r.due_ms,
                .warn_ms = r.warn_ms < r.due_ms ? r.warn_ms : 0, .unit_id = unit_id, .unit = timers_window_unit(win)};
    return watcher_arm(x->w, x->pg, &a, NULL, NULL, x->err, x->errlen);
}

static int disarm(actx_t *x, timer_kind_t kind, bool on_time_counts)
{
    bool was = false;
    long long unit = 0;
    if (watcher_disarm(x->w, x->pg, x->c->id, kind, &was, &unit, x->err, x->errlen) != 0) return -1;
    /* a reporting deadline met while still armed is an on-time report (cards) */
    if (was && on_time_counts && unit > 0 && timers_kind_is_report(kind) && x->c->profile &&
        watcher_cards_on_time(x->w, x->pg, unit, x->c->profile) != 0) {
        snprintf(x->err, x->errlen, "%s", x->pg->err);
        return -1;
    }
    return 0;
}

static int disarm_handling(actx_t *x)
{
    static const timer_kind_t kinds[] = {TIMER_SIGN_FOR, TIMER_FIRST_CONTACT, TIMER_RESOLVE_BY,
                                         TIMER_WEEKLY_PROGRESS, TIMER_REDO_BY};
    for (size_t i = 0; i < JS_ARRAY_LEN(kinds); i++)
        if (disarm(x, kinds[i], false) != 0) return -1;
    return 0;
}

static int disarm_all(actx_t *x)
{
    for (int k = 0; k < TIMER_KIND_COUNT; k++)
        if (k != TIMER_SUPERVISION_REPLY && k != TIMER_RESULT_TO_ENTERPRISE && disarm(x, (timer_kind_t)k, false) != 0)
            return -1;
    return 0;
}

static int time_of(actx_t *x, const char *rfc3339, int64_t *ms)
{
    if (rfc3339[0] == '\0') return 1;
    if (event_time_to_ms(rfc3339, ms) != 0) {
        snprintf(x->err, x->errlen, "bad time '%s'", rfc3339);
        return -1;
    }
    return 0;
}

/* ---- per event ------------------------------------------------------------------------------- */

static int on_dispatched(actx_t *x)
{
    const event_case_dispatched_t *p = &x->ev->payload.case_dispatched;
    int64_t due;
    if (disarm_handling(x) != 0 || time_of(x, p->sign_by, &due) != 0) return -1;
    policy_unit_t u = x->c->profile ? timers_window_unit(&x->c->profile->sign_for) : POLICY_UNIT_WORKING_DAYS;
    return arm_at(x, TIMER_SIGN_FOR, due, p->lead_unit_id, u);
}

static int on_signed(actx_t *x)
{
    const event_case_signed_t *p = &x->ev->payload.case_signed;
    const policy_t *pr = x->c->profile;
    int64_t due;
    int rc;
    if (disarm(x, TIMER_SIGN_FOR, false) != 0) return -1;
    if ((rc = time_of(x, p->first_contact_by, &due)) < 0) return -1;
    if (rc == 0) {
        if (arm_at(x, TIMER_FIRST_CONTACT, due, p->unit_id, pr ? timers_window_unit(&pr->first_contact) : POLICY_UNIT_WORKING_DAYS) != 0)
            return -1;
    } else if (pr && arm_window(x, TIMER_FIRST_CONTACT, &pr->first_contact, x->at_ms, p->unit_id) != 0) {
        return -1;
    }
    if ((rc = time_of(x, p->resolve_by, &due)) < 0) return -1;
    const policy_window_t *win = pr ? policy_window_for(pr, x->c->kind, x->c->complexity) : NULL;
    if (rc == 0) {
        if (arm_at(x, TIMER_RESOLVE_BY, due, p->unit_id, timers_window_unit(win)) != 0) return -1;
    } else if (win && arm_window(x, TIMER_RESOLVE_BY, win, x->c->received_ms, p->unit_id) != 0) {
        return -1;
    }
    if (pr && pr->progress_weekly) {
        char msg[512];
        if (timers_weekly_due(x->w->cal, x->c->region, pr, x->at_ms, &due, msg, sizeof msg) == 0) {
            if (arm_at(x, TIMER_WEEKLY_PROGRESS, due, p->unit_id, POLICY_UNIT_WORKING_DAYS) != 0) return -1;
        } else {
            int year = calendar_error_year(msg);
            json_t *facts = json_pack("{s:s,s:s,s:I,s:I,s:s}", "op", "weekly", "kind", "weekly_progress", "from_ms",
                                      (json_int_t)x->at_ms, "unit_id", (json_int_t)p->unit_id, "region", x->c->region);
            if (watcher_flag(x->w, x->pg, x->c->id, NULL, TIMER_WEEKLY_PROGRESS, year ? "calendar_missing" : "uncomputable",
                             year, msg, facts) != 0)
                return -1;
        }
    }
    return 0;
}

static int on_remit_decided(actx_t *x)
{
    const event_case_remit_decided_t *p = &x->ev->payload.case_remit_decided;
    int64_t due;
    long long unit;
    policy_unit_t u;
    int rc = armed_of(x->pg, x->c->id, TIMER_SIGN_FOR, &due, &unit, &u);
    if (rc < 0) goto db;
    if (rc == 0 && unit != p->lead_unit_id) return arm_at(x, TIMER_SIGN_FOR, due, p->lead_unit_id, u);
    return 0;
db:
    snprintf(x->err, x->errlen, "%s", x->pg->err);
    return -1;
}

static int on_progress(actx_t *x)
{
    const event_case_progress_noted_t *p = &x->ev->payload.case_progress_noted;
    const policy_t *pr = x->c->profile;
    int64_t due;
    if (disarm(x, TIMER_WEEKLY_PROGRESS, true) != 0) return -1;
    int rc = time_of(x, p->next_report_by, &due);
    if (rc < 0) return -1;
    if (rc == 1) {
        if (pr == NULL || !pr->progress_weekly) return 0;
        char msg[512];
        if (timers_weekly_due(x->w->cal, x->c->region, pr, x->at_ms, &due, msg, sizeof msg) != 0) {
            int year = calendar_error_year(msg);
            json_t *facts = json_pack("{s:s,s:s,s:I,s:I,s:s}", "op", "weekly", "kind", "weekly_progress", "from_ms",
                                      (json_int_t)x->at_ms, "unit_id", (json_int_t)p->unit_id, "region", x->c->region);
            return watcher_flag(x->w, x->pg, x->c->id, NULL, TIMER_WEEKLY_PROGRESS,
                                year ? "calendar_missing" : "uncomputable", year, msg, facts);
        }
    }
    return arm_at(x, TIMER_WEEKLY_PROGRESS, due, p->unit_id, POLICY_UNIT_WORKING_DAYS);
}

/* Moves the handling deadline in force (the redo's while one runs, else resolve-by). */
static int move_handling_deadline(actx_t *x, int64_t due, long long unit_hint)
{
    int64_t old;
    long long unit = 0;
    policy_unit_t u = POLICY_UNIT_WORKING_DAYS;
    timer_kind_t kind = TIMER_REDO_BY;
    int rc = armed_of(x->pg, x->c->id, TIMER_REDO_BY, &old, &unit, &u);
    if (rc == 1) {
        kind = TIMER_RESOLVE_BY;
        rc = armed_of(x->pg, x->c->id, TIMER_RESOLVE_BY, &old, &unit, &u);
    }
    if (rc < 0) {
        snprintf(x->err, x->errlen, "%s", x->pg->err);
        return -1;
    }
    if (rc == 1) { /* nothing armed (fired already, or paused with no generation): a new one */
        const policy_window_t *win = x->c->profile ? policy_window_for(x->c->profile, x->c->kind, x->c->complexity) : NULL;
        u = timers_window_unit(win);
    }
    if (unit == 0) unit = unit_hint ? unit_hint : x->c->lead_unit_id;
    return arm_at(x, kind, due, unit, u);
}

static int on_extension(actx_t *x)
{
    const event_case_extension_decided_t *p = &x->ev->payload.case_extension_decided;
    int64_t due;
    if (p->decision != EVENT_EXTENSION_APPROVED) return 0;
    int rc = time_of(x, p->resolve_by, &due);
    if (rc != 0) return rc < 0 ? -1 : 0;
    LOGI("extension re-arms the handling deadline", LF_STR("case_id", x->c->id), LF_STR("resolve_by", p->resolve_by));
    return move_handling_deadline(x, due, 0);
}

static int on_result(actx_t *x)
{
    const event_case_result_submitted_t *p = &x->ev->payload.case_result_submitted;
    const policy_t *pr = x->c->profile;
    if (disarm(x, TIMER_RESOLVE_BY, true) != 0 || disarm(x, TIMER_REDO_BY, true) != 0 ||
        disarm(x, TIMER_FIRST_CONTACT, false) != 0 || disarm(x, TIMER_WEEKLY_PROGRESS, false) != 0)
        return -1;
    int64_t due;
    int rc = time_of(x, p->revisit_by, &due);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (arm_at(x, TIMER_REVISIT_BY, due, 0, pr ? timers_window_unit(&pr->revisit) : POLICY_UNIT_WORKING_DAYS) != 0)
            return -1;
    } else if (pr && arm_window(x, TIMER_REVISIT_BY, &pr->revisit, x->at_ms, 0) != 0) {
        return -1;
    }
    /* telling the enterprise: told_at is in the event; a clock runs only when it is promised
     * for later than the profile allows (seed 000: within 1 working day of completion) */
    if (pr && (pr->result_to_enterprise.unit == POLICY_UNIT_WORKING_DAYS ||
               pr->result_to_enterprise.unit == POLICY_UNIT_DAYS || pr->result_to_enterprise.unit == POLICY_UNIT_HOURS)) {
        int64_t told;
        deadline_input_t in = {.cal = x->w->cal, .region = x->c->region, .profile = pr,
                               .window = &pr->result_to_enterprise, .from_ms = x->at_ms};
        deadline_result_t r;
        char msg[256];
        if (time_of(x, p->told_at, &told) == 0 && deadline_compute(&in, &r, msg, sizeof msg) == 0 && told > r.due_ms) {
            warm_t a = {.case_id = x->c->id, .kind = TIMER_RESULT_TO_ENTERPRISE, .due_ms = r.due_ms,
                        .unit_id = p->unit_id, .unit = timers_window_unit(&pr->result_to_enterprise)};
            if (watcher_arm(x->w, x->pg, &a, NULL, NULL, x->err, x->errlen) != 0) return -1;
        }
    }
    return 0;
}

/* Has this case already had a notice for this reason? */
static int notice_exists(actx_t *x, const char *case_id, const char *reason, bool *exists)
{
    const char *p[] = {case_id, reason};
    PGresult *r = NULL;
    if (pg_query(x->pg, "SELECT 1 FROM supervision_notices WHERE case_id = $1::uuid AND reason_code = $2 LIMIT 1",
                 2, p, &r) != 0) {
        snprintf(x->err, x->errlen, "%s", x->pg->err);
        return -1;
    }
    *exists = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

/* Issues n in the consumer's transaction as actor (NULL: the watcher itself). */
static int issue_as(actx_t *x, wnotice_t *n, const event_actor_t *by)
{
    wout_t *out = wout_new();
    char id[37];
    bool issued = false, input = false;
    event_actor_t actor = {0};
    if (out == NULL) {
        snprintf(x->err, x->errlen, "out of memory");
        return -1;
    }
    if (by) {
        actor = *by;
    } else {
        actor.role = EVENT_ROLE_SYSTEM;
        snprintf(actor.name, sizeof actor.name, "deadline-watcher");
    }
    int rc = watcher_notice_issue(x->w, x->pg, out, n, &actor, id, &issued, &input, x->err, x->errlen);
    if (rc != 0 && input) {
        LOGW("supervision notice not issued", LF_STR("case_id", n->case_id ? n->case_id : ""), LF_STR("error", x->err));
        rc = 0;
    }
    if (rc == 0 && wout_write(out, x->pg) != 0) {
        snprintf(x->err, x->errlen, "%s", x->pg->err);
        rc = -1;
    }
    wout_free(out);
    return rc;
}

static int issue(actx_t *x, wnotice_t *n)
{
    return issue_as(x, n, NULL);
}

static int on_redo(actx_t *x)
{
    const event_case_redo_ordered_t *p = &x->ev->payload.case_redo_ordered;
    const policy_t *pr = x->c->profile;
    int64_t due;
    if (disarm(x, TIMER_REVISIT_BY, false) != 0 || disarm(x, TIMER_RESOLVE_BY, false) != 0) return -1;
    if (time_of(x, p->redo_by, &due) != 0) return -1;
    const policy_window_t *win = pr ? policy_window_for(pr, x->c->kind, x->c->complexity) : NULL;
    if (arm_at(x, TIMER_REDO_BY, due, p->unit_id, pr && pr->redo.unit != POLICY_UNIT_ORIGINAL ? timers_window_unit(&pr->redo)
                                                                                          : timers_window_unit(win)) != 0)
        return -1;
    /* 整改通知书 after N unsatisfied (or untrue) results on one case (seed 001) */
    long unsatisfied = (long)p->handling_round - 1;
    if (pr && pr->sup_rectify_unsatisfied_results > 0 && unsatisfied >= pr->sup_rectify_unsatisfied_results &&
        (p->reason_code == EVENT_REDO_UNSATISFIED || p->reason_code == EVENT_REDO_RESULT_UNTRUE)) {
        bool exists;
        if (notice_exists(x, x->c->id, "repeated_unsatisfied", &exists) != 0) return -1;
        if (!exists) {
            char text[400];
            snprintf(text, sizeof text, "编号%s的企业诉求经%ld次办理，企业仍不满意（或办理结果不属实），"
                     "现予以挂牌督办，请限期整改并反馈。", x->c->case_no, unsatisfied);
            wnotice_t n = {.level = 2, .unit_id = p->unit_id, .case_id = x->c->id,
                           .reason = EVENT_SUPERVISION_REPEATED_UNSATISFIED, .reason_text = text,
                           .in_bulletin = pr->sup_rectify_in_bulletin};
            return issue(x, &n);
        }
    }
    return 0;
}

/* A claimed contact that did not happen (seed 004 二(五)3 未与企业沟通回复却反馈为已沟通; seed 001
 * 二(七) 弄虚作假 → 约谈通知书), found by a supervisor's revisit call: the notice, issued here
 * as every notice is, once per call — its id is derived from the call's event id
 * (common/supnotice.c), so the revisit can name it to its caller and a second delivery of
 * the event (a relay that resent it, a lost dedup row) inserts nothing. An online self-rating
 * that denies the contact only asks a supervisor to call: no notice on a form alone. */
/* The text of a fraud notice of level on case_no, for n contacts that did not happen. */
static void fraud_text(char *text, size_t len, const char *case_no, size_t n, int level)
{
    snprintf(text, len,
             "贵单位在办理编号%s企业诉求时，记录的%zu次与企业联系经回访核实并未发生，属未与企业沟通却反馈为已沟通的"
             "虚假信息，现予以%s，请于回复期限内书面说明情况并整改。",
             case_no, n, level == 3 ? "约谈督办" : "挂牌督办");
}

static int on_revisit(actx_t *x)
{
    const event_case_revisit_recorded_t *p = &x->ev->payload.case_revisit_recorded;
    if (p->reached && disarm(x, TIMER_REVISIT_BY, false) != 0) return -1;
    if (p->disputed_contact_ids.n == 0 || p->channel == EVENT_REVISIT_ONLINE_RATING) return 0;
    if (p->unit_id <= 0) {
        LOGW("fraud notice not issued: the revisit names no unit", LF_STR("case_id", x->c->id),
             LF_STR("event_id", x->ev->event_id));
        return 0;
    }
    char nid[EVENT_UUID_SIZE];
    if (supnotice_fraud_id(x->ev->event_id, nid) != 0) {
        snprintf(x->err, x->errlen, "event id %s is not a UUID", x->ev->event_id);
        return -1;
    }
    /* issued at the call (its occurred_at): the reply window runs from the finding, however
     * long the event took to arrive; never later than now (a producer's clock ahead of ours) */
    int64_t now = watcher_now_ms();
    wnotice_t n = {.unit_id = p->unit_id, .case_id = x->c->id, .reason = EVENT_SUPERVISION_FRAUD,
                   .issued_by = x->ev->actor.principal_id, .issued_ms = x->at_ms > 0 && x->at_ms < now ? x->at_ms : now,
                   .notice_id = nid, .source_event_id = x->ev->event_id, .contact_ids = &p->disputed_contact_ids};
    if (x->c->profile == NULL) {
        /* the revisit told its caller the notice is coming: it waits, flagged, for a profile
         * of the case's region, whose level, text and bulletin it takes then (retry_one) */
        char perr[256];
        if (watcher_profile(x->w, x->c->region, perr, sizeof perr) != NULL) snprintf(perr, sizeof perr, "no profile");
        json_t *facts = watcher_notice_facts(&n, n.issued_ms);
        if (facts) {
            json_object_set_new(facts, "fraud_from_profile", json_true());
            json_object_set_new(facts, "event_id", json_string(x->ev->event_id));
        }
        if (watcher_notice_flag(x->w, x->pg, x->c->id, "profile_missing", 0, perr, facts) != 0) {
            snprintf(x->err, x->errlen, "%s", x->pg->err);
            return -1;
        }
        return 0;
    }
    int level = supnotice_fraud_level(x->c->profile);
    char text[500];
    fraud_text(text, sizeof text, x->c->case_no, p->disputed_contact_ids.n, level);
    n.level = level;
    n.reason_text = text;
    n.in_bulletin = level >= 2 && x->c->profile->sup_rectify_in_bulletin;
    return issue_as(x, &n, &x->ev->actor);
}

static int on_duplicate(actx_t *x)
{
    const event_case_duplicate_t *p = &x->ev->payload.case_duplicate;
    if (disarm_all(x) != 0) return -1;
    /* 多次反映未办 (seed 001): the same matter reported N times while the case stays open */
    wcase_t orig = {0};
    int rc = case_lock(x->pg, p->original_case_id, &orig);
    if (rc != 0) return rc < 0 ? -1 : 0;
    char err[256];
    const policy_t *pr = watcher_profile(x->w, orig.region, err, sizeof err);
    if (pr == NULL || pr->sup_reminder_repeat_reports <= 0 || orig.lead_unit_id == 0 ||
        (orig.state != CASEFSM_STATE_DISPATCHED && orig.state != CASEFSM_STATE_IN_PROGRESS))
        return 0;
    const char *pa[] = {p->original_case_id};
    PGresult *r = NULL;
    if (pg_query(x->pg, "SELECT count(*) FROM cases WHERE duplicate_of = $1::uuid", 1, pa, &r) != 0) {
        snprintf(x->err, x->errlen, "%s", x->pg->err);
        return -1;
    }
    long dups = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (dups + 1 < pr->sup_reminder_repeat_reports) return 0; /* the original counts as a report */
    bool exists;
    if (notice_exists(x, p->original_case_id, "repeated_unhandled", &exists) != 0) return -1;
    if (exists) return 0;
    char text[400];
    snprintf(text, sizeof text, "编号%s的企业诉求已被重复反映%ld次，尚未办结，现予以提醒敦促，请加快办理。",
             orig.case_no, dups + 1);
    wnotice_t n = {.level = 1, .unit_id = orig.lead_unit_id, .case_id = p->original_case_id,
                   .reason = EVENT_SUPERVISION_REPEATED_UNHANDLED, .reason_text = text};
    return issue(x, &n);
}

/* Every type apply() has a case for; keep the two together. */
const char *const watcher_event_types[] = {
    "case.dispatched",        "case.signed",          "case.returned",        "case.escalated",
    "case.handed_down",       "case.remit_decided",   "case.contact_recorded", "case.progress_noted",
    "case.deadline_agreed",   "case.extension_decided", "case.result_submitted", "case.answered",
    "case.revisit_recorded",  "case.redo_ordered",    "case.duplicate",       "case.closed",
    "case.terminated",        "case.archived",        "case.rejected",        NULL};

static int apply(actx_t *x)
{
    const event_t *ev = x->ev;
    switch (ev->type) {
    case EVENT_CASE_DISPATCHED:
        return on_dispatched(x);
    case EVENT_CASE_SIGNED:
        return on_signed(x);
    case EVENT_CASE_RETURNED:
        return disarm(x, TIMER_SIGN_FOR, false);
    case EVENT_CASE_ESCALATED:
    case EVENT_CASE_HANDED_DOWN:
        return disarm_handling(x);
    case EVENT_CASE_REMIT_DECIDED:
        return on_remit_decided(x);
    case EVENT_CASE_CONTACT_RECORDED:
        if (ev->payload.case_contact_recorded.first_contact && ev->payload.case_contact_recorded.reached)
            return disarm(x, TIMER_FIRST_CONTACT, false);
        return 0;
    case EVENT_CASE_PROGRESS_NOTED:
        return on_progress(x);
    case EVENT_CASE_DEADLINE_AGREED: {
        int64_t due;
        if (time_of(x, ev->payload.case_deadline_agreed.resolve_by, &due) != 0) return -1;
        return move_handling_deadline(x, due, ev->payload.case_deadline_agreed.unit_id);
    }
    case EVENT_CASE_EXTENSION_DECIDED:
        return on_extension(x);
    case EVENT_CASE_RESULT_SUBMITTED:
        return on_result(x);
    case EVENT_CASE_ANSWERED: {
        int64_t due;
        int rc = time_of(x, ev->payload.case_answered.revisit_by, &due);
        if (rc != 0) return rc < 0 ? -1 : 0;
        return arm_at(x, TIMER_REVISIT_BY, due, 0, POLICY_UNIT_WORKING_DAYS);
    }
    case EVENT_CASE_REVISIT_RECORDED:
        return on_revisit(x);
    case EVENT_CASE_REDO_ORDERED:
        return on_redo(x);
    case EVENT_CASE_DUPLICATE:
        return on_duplicate(x);
    case EVENT_CASE_CLOSED:
    case EVENT_CASE_TERMINATED:
    case EVENT_CASE_ARCHIVED:
    case EVENT_CASE_REJECTED:
        return disarm_all(x);
    default:
        return 0;
    }
}

/* Events that start or move a clock need the profile; the others only stop clocks. */
static bool needs_profile(event_type_t t)
{
    return t == EVENT_CASE_DISPATCHED || t == EVENT_CASE_SIGNED || t == EVENT_CASE_PROGRESS_NOTED ||
           t == EVENT_CASE_RESULT_SUBMITTED || t == EVENT_CASE_REDO_ORDERED ||
           t == EVENT_CASE_DEADLINE_AGREED || t == EVENT_CASE_EXTENSION_DECIDED;
}

/* (A supervisor's revisit call that found a claimed contact did not happen needs it too: its
 * notice waits on a flag of its own, written by on_revisit.) */

kcons_result_t watcher_on_event(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                                char *err, size_t errlen)
{
    watcher_t *w = arg;
    (void)event_id;
    /* only case events concern the clocks; the watcher's own timer events come back here too */
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;
    int ours = type && strncmp(type, "case.", 5) == 0;
    json_decref(j);
    if (!ours) return type ? KCONS_APPLIED : KCONS_DEAD;

    event_t ev;
    if (event_decode(m->payload, m->len, &ev, err, errlen) != 0) return KCONS_DEAD;
    size_t n_add = w->n_add, n_rm = w->n_rm;
    kcons_result_t res = KCONS_APPLIED;
    wcase_t c = {0};
    int rc = case_lock(pg, ev.case_id, &c);
    if (rc < 0) {
        snprintf(err, errlen, "%s", pg->err);
        res = KCONS_RETRY;
        goto out;
    }
    if (rc == 1) { /* a case this database does not hold (another deployment's topic history) */
        LOGD("event for an unknown case ignored", LF_STR("case_id", ev.case_id), LF_STR("type", type));
        goto out;
    }
    char perr[256];
    c.profile = watcher_profile(w, c.region, perr, sizeof perr);
    if (c.profile == NULL && needs_profile(ev.type)) {
        json_t *facts = json_pack("{s:s,s:s}", "event_id", ev.event_id, "type", event_type_name(ev.type));
        if (watcher_flag(w, pg, c.id, NULL, TIMER_RESOLVE_BY, "profile_missing", 0, perr, facts) != 0) {
            snprintf(err, errlen, "%s", pg->err);
            res = KCONS_RETRY;
            goto out;
        }
    }
    int64_t at = 0;
    if (event_time_to_ms(ev.occurred_at, &at) != 0) at = watcher_now_ms();
    actx_t x = {w, pg, &c, &ev, at, err, errlen};
    if (apply(&x) != 0) {
        res = pg->last_class == PG_PERMANENT && pg->sqlstate[0] == '2' ? KCONS_DEAD : KCONS_RETRY;
        LOGW("case event not applied", LF_STR("case_id", c.id), LF_STR("type", type), LF_STR("error", err),
             LF_STR("outcome", res == KCONS_DEAD ? "dead-letter" : "retry"));
    }
out:
    if (res != KCONS_APPLIED) { /* rolled back: the schedule must not hear of it */
        w->n_add = n_add;
        w->n_rm = n_rm;
    }
    event_clear(&ev);
    return res;
}

/* ---- flags waiting for a calendar ----------------------------------------------------------------- */

/* One notice of a flag: a fraud notice flagged before its case had a profile takes its level,
 * text and bulletin from the profile now found. */
static int notice_retry(watcher_t *w, pg_t *pg, const wcase_t *c, const json_t *facts, char *msg, size_t msglen)
{
    json_t *f = json_deep_copy(facts);
    if (f == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    json_object_del(f, "queued");
    if (json_is_true(json_object_get(f, "fraud_from_profile"))) {
        if (c->profile == NULL) {
            json_decref(f);
            snprintf(msg, msglen, "the case's region still has no profile");
            return 1;
        }
        int level = supnotice_fraud_level(c->profile);
        char text[500];
        fraud_text(text, sizeof text, c->case_no, json_array_size(json_object_get(f, "contact_ids")), level);
        json_object_set_new(f, "level", json_integer(level));
        json_object_set_new(f, "reason_text", json_string(text));
        json_object_set_new(f, "in_bulletin", json_boolean(level >= 2 && c->profile->sup_rectify_in_bulletin));
    }
    int rc = watcher_notice_retry(w, pg, f, msg, msglen);
    json_decref(f);
    return rc;
}

static int retry_one(watcher_t *w, pg_t *pg, long long flag_id, const char *case_id, const char *notice_id,
                     json_t *facts, bool *moved, char *msg, size_t msglen)
{
    *moved = false;
    const char *op = json_string_value(json_object_get(facts, "op"));
    const char *kind_s = json_string_value(json_object_get(facts, "kind"));
    const char *region = json_string_value(json_object_get(facts, "region"));
    timer_kind_t kind;
    if (op == NULL || kind_s == NULL || timer_kind_from_str(kind_s, &kind) != 0) {
        snprintf(msg, msglen, "flag %lld: facts not understood", flag_id);
        return 1;
    }
    wcase_t c = {0};
    if (case_id) {
        int rc = case_lock(pg, case_id, &c);
        if (rc != 0) return rc < 0 ? -1 : 1;
        c.profile = watcher_profile(w, c.region, msg, msglen);
        if (c.profile == NULL) return 1;
    }
    if (!strcmp(op, "notice")) { /* a notice that needed the year, or a profile: with those queued behind it */
        const json_t *q = json_object_get(facts, "queued");
        for (size_t i = 0; i <= json_array_size(q); i++) {
            unsigned long flagged = w->notice_flags_written;
            int rc = notice_retry(w, pg, &c, i ? json_array_get(q, i - 1) : facts, msg, msglen);
            if (rc < 0) return -1;
            /* a notice now flagged for something else (a profile found, the year still missing)
             * has moved onto that flag: this one may close */
            if (rc == 1 && w->notice_flags_written == flagged) return 1;
            if (rc == 1) *moved = true;
        }
        return 0;
    }
    int64_t from = json_integer_value(json_object_get(facts, "from_ms"));
    long long unit_id = json_integer_value(json_object_get(facts, "unit_id"));
    if (!strcmp(op, "warn")) {
        int64_t due = json_integer_value(json_object_get(facts, "due_ms")), warn;
        policy_unit_t u = timers_clock_unit_parse(json_string_value(json_object_get(facts, "unit")));
        if (c.profile == NULL) return 1;
        if (deadline_warn_for(w->cal, region, c.profile, u, from, due, &warn, msg, msglen) != 0) return 1;
        char ws[40];
        deadline_time_format(warn, ws, sizeof ws);
        const char *p[] = {case_id, kind_s, ws};
        PGresult *r = NULL;
        if (pg_query(pg, "UPDATE timers SET warn_at = $3::timestamptz WHERE case_id = $1::uuid AND kind = $2 "
                         "AND state = 'armed' AND warned_at IS NULL AND $3::timestamptz < due_at "
                         "RETURNING id, version, (extract(epoch FROM due_at) * 1000)::bigint",
                     3, p, &r) != 0)
            return -1;
        for (int i = 0; i < PQntuples(r); i++) {
            timers_entry_t e = {{strtoll(PQgetvalue(r, i, 0), NULL, 10), atoi(PQgetvalue(r, i, 1))},
                                timers_next_fire_ms(strtoll(PQgetvalue(r, i, 2), NULL, 10), warn, false)};
            watcher_sched_later(w, &e, NULL);
        }
        PQclear(r);
        return 0;
    }
    char err[512];
    event_t dummy = {0};
    actx_t x = {w, pg, &c, &dummy, from, err, sizeof err};
    if (!strcmp(op, "arm")) {
        policy_window_t win;
        if (policy_window_parse(json_string_value(json_object_get(facts, "window")), &win, msg, msglen) != 0) return 1;
        deadline_input_t in = {.cal = w->cal, .region = c.region, .profile = c.profile, .window = &win, .from_ms = from};
        deadline_result_t r;
        if (deadline_compute(&in, &r, msg, msglen) != 0) return 1;
        return arm_window(&x, kind, &win, from, unit_id) != 0 ? -1 : 0;
    }
    if (!strcmp(op, "weekly")) {
        int64_t due;
        if (timers_weekly_due(w->cal, c.region, c.profile, from, &due, msg, msglen) != 0) return 1;
        return arm_at(&x, TIMER_WEEKLY_PROGRESS, due, unit_id, POLICY_UNIT_WORKING_DAYS) != 0 ? -1 : 0;
    }
    (void)notice_id;
    snprintf(msg, msglen, "flag %lld: op '%s' cannot be retried", flag_id, op);
    return 1;
}

void watcher_flags_retry(watcher_t *w)
{
    pg_t *pg = w->pg_fire;
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT id, case_id, notice_id, facts::text, year, problem FROM deadline_flags WHERE resolved_at "
                     "IS NULL AND (problem = 'calendar_missing' OR (problem = 'profile_missing' AND facts->>'op' = "
                     "'notice')) ORDER BY id LIMIT 1000",
                 0, NULL, &r) != 0) {
        LOGW("flags not retried", LF_STR("error", pg->err));
        return;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        int year = atoi(PQgetvalue(r, i, 4));
        if (year && !calendar_has_year(w->cal, year)) continue;
        long long id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        const char *case_id = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);
        const char *notice_id = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
        json_t *facts = json_loads(PQgetvalue(r, i, 3), 0, NULL);
        char msg[512] = "", ids[32];
        snprintf(ids, sizeof ids, "%lld", id);
        if (pg_begin(pg) != 0) break;
        size_t n_add = w->n_add, n_rm = w->n_rm;
        bool moved = false;
        int rc = retry_one(w, pg, id, case_id, notice_id, facts, &moved, msg, sizeof msg);
        json_decref(facts);
        int profile = !strcmp(PQgetvalue(r, i, 5), "profile_missing");
        const char *p[] = {ids, moved ? "a profile was bound; what still waits for the calendar is flagged calendar_missing"
                                : profile ? "issued after a profile was bound"
                                          : "armed after the calendar was loaded"};
        if (rc == 0 && pg_query(pg, "UPDATE deadline_flags SET resolved_at = now(), resolution = $2 WHERE id = $1::bigint",
                                2, p, NULL) == 0 &&
            pg_commit(pg) == 0) {
            LOGI("flag resolved", LF_INT("flag_id", id), LF_STR("case_id", case_id ? case_id : ""), LF_STR("resolution", p[1]));
        } else {
            pg_rollback(pg);
            w->n_add = n_add; /* nothing of the rolled-back work may reach Redis */
            w->n_rm = n_rm;
            if (rc == 1) LOGD("flag still waiting", LF_INT("flag_id", id), LF_STR("why", msg));
        }
    }
    PQclear(r);
    watcher_flush(w);
    PGresult *c = NULL;
    if (pg_query(pg, "SELECT count(*) FROM deadline_flags WHERE resolved_at IS NULL", 0, NULL, &c) == 0) {
        metric_set(w->m_flags_open, atoll(PQgetvalue(c, 0, 0)));
        PQclear(c);
    }
}
