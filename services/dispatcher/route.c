/*
 * route.c — routing accepted appeals (转办交办): the consumer of jiesu.case-events and the
 * dispatch itself.
 *
 * The consumer reacts to case.accepted, case.returned, case.escalated and case.handed_down: each
 * means "this case waits for a unit now". It locks the case and asks the responsibility
 * catalogue who handles the matter type here. It dispatches by itself only when the answer is
 * unambiguous — an entry applies, its units are active, the entry does not reserve the choice
 * for the centre, the case is not complex (seed 001: complex work orders get their lead from the
 * working-group office), the lead has not held the case before (a unit that returned a case is
 * not sent it again), and after an escalation or a hand-down the entry is one of the tier the
 * case now sits at. Anything else waits in the responsible centre's queue with the reason, and a
 * person decides. The event only says when to look; what to do is decided from the case as it is
 * now, so a late or repeated event cannot undo a person's decision.
 *
 * dsp_dispatch is the one way a case is dispatched, automatic or manual: case_units rows for the
 * lead (首接负责) and the co-handlers, the sign-for deadline from the region's policy profile
 * (+ the profile's extra working days for lower tiers), the planned resolve-by, the cases update
 * and case.dispatched — in the caller's transaction, case row locked first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "dispatcher.h"
#include "log.h"

/* ---- the dispatch --------------------------------------------------------------------------- */

static bool window_is_fixed(const policy_window_t *w)
{
    return w && (w->unit == POLICY_UNIT_WORKING_DAYS || w->unit == POLICY_UNIT_DAYS || w->unit == POLICY_UNIT_HOURS ||
                 w->unit == POLICY_UNIT_IMMEDIATE);
}

int dsp_dispatch(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, const dsp_assign_t *a, const http_principal_t *who,
                 int *db, char *err, size_t errlen)
{
    *db = 0;
    err[0] = '\0';
    int64_t now = dsp_now_ms();
    const policy_t *p = dsp_profile(ds, pg, c->cur.region_code, err, errlen);
    if (p == NULL) {
        *db = pg->last_class != PG_OK;
        return -1;
    }
    /* 签收: the profile's window, or the daemon's default where the profile has no such clock;
     * units below the profile's own tier may get extra working days (汕头: +1 for districts). */
    const policy_window_t *sw = p->sign_for.unit != POLICY_UNIT_NONE ? &p->sign_for : &ds->default_sign_for;
    int extra = 0, ptier = p->region ? dsp_code_tier(p->region) : 0;
    if (p->sign_for_lower_tier_extra_wd > 0 && sw->unit == POLICY_UNIT_WORKING_DAYS && ptier && a->tier > ptier)
        extra = p->sign_for_lower_tier_extra_wd;
    int64_t sign_by = 0;
    if (dsp_deadline(ds, p, c->cur.region_code, sw, now, extra, &sign_by, err, errlen) != 0) return -1;
    /* The resolve-by clock runs from the transfer letter's date (交办日期), so a late signature
     * buys no time; an "agreed" window waits for case.deadline_agreed. */
    policy_kind_t kind = POLICY_KIND_COMPLAINT;
    policy_complexity_t cx = POLICY_COMPLEXITY_GENERAL;
    if (policy_kind_from_str(c->cur.kind, &kind) != 0) kind = POLICY_KIND_COMPLAINT;
    if (policy_complexity_from_str(c->complexity, &cx) != 0) cx = POLICY_COMPLEXITY_GENERAL;
    const policy_window_t *rw = policy_window_for(p, kind, cx);
    int64_t resolve_by = 0;
    char window[48] = "agreed";
    if (window_is_fixed(rw)) {
        if (dsp_deadline(ds, p, c->cur.region_code, rw, now, 0, &resolve_by, err, errlen) != 0) return -1;
        policy_window_format(rw, window, sizeof window);
    }
    int version = a->catalogue_version;
    PGresult *r = NULL;
    if (version <= 0) {
        if (pg_query(pg, "SELECT coalesce(max(version), 1) FROM catalogue_versions", 0, NULL, &r) != 0) goto dbfail;
        version = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (c->nholders > 0 && dsp_release_all(ds, pg, c, "reassigned") != 0) goto dbfail;
    char co[CATALOGUE_MAX_CO * 24 + 4];
    size_t o = 0;
    co[o++] = '{';
    for (size_t i = 0; i < a->nco; i++) o += (size_t)snprintf(co + o, sizeof co - o, "%s%lld", i ? "," : "", a->co[i]);
    snprintf(co + o, sizeof co - o, "}");
    event_t ev;
    int64_t ids[CATALOGUE_MAX_CO];
    for (size_t i = 0; i < a->nco; i++) ids[i] = a->co[i];
    if (event_init(&ev, EVENT_CASE_DISPATCHED) != 0) {
        snprintf(err, errlen, "no random bytes for an event id");
        return -1;
    }
    snprintf(ev.case_id, sizeof ev.case_id, "%s", c->cur.id);
    dsp_actor(&ev, who);
    event_case_dispatched_t *d = &ev.payload.case_dispatched;
    d->lead_unit_id = a->lead;
    d->co_handler_unit_ids.items = ids;
    d->co_handler_unit_ids.n = a->nco;
    d->tier = (event_tier_t)a->tier;
    d->catalogue_version = version;
    d->basis = a->basis;
    d->attempt = c->attempts + 1 > 100 ? 100 : c->attempts + 1;
    dsp_time(sign_by, d->sign_by, sizeof d->sign_by);
    /* The routing state after the dispatch, written with the holders and the case row. */
    c->attempts = (int)d->attempt;
    c->catalogue_version = version;
    snprintf(c->route_basis, sizeof c->route_basis, "%s",
             a->basis == EVENT_DISPATCH_CATALOGUE        ? "catalogue"
             : a->basis == EVENT_DISPATCH_JOINT_MEETING ? "joint_meeting"
                                                         : "centre_decision");
    c->queue[0] = c->queue_reason[0] = '\0';
    c->queued_ms = 0;
    c->dispatched_ms = now;
    c->sign_by_ms = sign_by;
    c->resolve_by_ms = resolve_by;
    snprintf(c->resolve_window, sizeof c->resolve_window, "%s", window);
    c->agreed_ms = 0;
    c->ext_granted = c->ext_count = 0;
    if (dsp_dispatch_write(ds, pg, c, a->lead, co, CASEFSM_STATE_DISPATCHED, sign_by, a->tier) != 0) goto dbfail;
    for (size_t i = 0; i <= a->nco && i < DSP_MAX_HOLDERS; i++)
        c->holders[i] = (dsp_holder_t){i == 0 ? a->lead : a->co[i - 1], i == 0, false};
    c->nholders = a->nco + 1 < DSP_MAX_HOLDERS ? a->nco + 1 : DSP_MAX_HOLDERS;
    /* ev borrows ids: never event_clear()ed */
    if (dsp_record(pg, c, &ev, CASEFSM_STATE_DISPATCHED, err, errlen) != 0) {
        *db = pg->last_class != PG_OK;
        return -1;
    }
    return 0;
dbfail:
    *db = 1;
    snprintf(err, errlen, "%s", pg->err);
    return -1;
}

void dsp_enqueue(dsp_case_t *c, const char *queue, const char *reason)
{
    if (strcmp(c->queue, queue) != 0 || c->queued_ms == 0) c->queued_ms = dsp_now_ms();
    snprintf(c->queue, sizeof c->queue, "%s", queue);
    snprintf(c->queue_reason, sizeof c->queue_reason, "%s", reason);
}

/* ---- the consumer ------------------------------------------------------------------------------ */

static kcons_result_t db_result(pg_t *pg, char *err, size_t errlen, const char *what)
{
    if (pg->last_class == PG_RETRY) return KCONS_RETRY;
    snprintf(err, errlen, "%s: %.400s", what, pg->err);
    return KCONS_DEAD;
}

/* Did unit_id lead this case before (a released lead row)? */
static int led_before(dispatcher_t *ds, pg_t *pg, const dsp_case_t *c, long long unit_id)
{
    char u[24];
    snprintf(u, sizeof u, "%lld", unit_id);
    const char *p[] = {c->cur.id, u};
    PGresult *r = NULL;
    if (dsp_exec(ds, pg, DSP_ST_LED_BEFORE, p, &r) != 0) return -1;
    int yes = PQntuples(r) > 0;
    PQclear(r);
    return yes;
}

static kcons_result_t route_case(dispatcher_t *ds, pg_t *pg, const event_t *ev, char *err, size_t errlen)
{
    dsp_case_t c;
    memset(&c, 0, sizeof c);
    casefsm_state_t to;
    casestore_rc_t rc = casestore_lock(pg, ev->case_id, 0, CASEFSM_ACTION_DISPATCH, CASEFSM_ROLE_SYSTEM, &c.cur, &to);
    if (rc == CASESTORE_DB) return db_result(pg, err, errlen, "locking the case");
    if (rc != CASESTORE_OK) { /* gone, or moved on (dispatched by hand, answered…): nothing to do */
        LOGD("route: nothing to do", LF_STR("case", ev->case_id), LF_STR("why", casestore_rc_str(rc)));
        return KCONS_APPLIED;
    }
    const char *hint = ev->type == EVENT_CASE_ACCEPTED ? ev->payload.case_accepted.matter_type : NULL;
    if (dsp_case_load(ds, pg, &c, hint) != 0) return db_result(pg, err, errlen, "loading the case");

    /* What to look for follows from where the case is now, not from the event — except that
     * another daemon's escalation (the revisit's 提级 after a second unsatisfied handling) or
     * return leaves no queue behind: the event names it then. */
    bool moved = !strcmp(c.queue, "escalated") || !strcmp(c.queue, "handed_down");
    const char *queue = c.queue[0] ? c.queue : "awaiting";
    if (!c.queue[0] || !strcmp(c.queue, "awaiting")) {
        if (ev->type == EVENT_CASE_ESCALATED) moved = true, queue = "escalated";
        else if (ev->type == EVENT_CASE_HANDED_DOWN) moved = true, queue = "handed_down";
        else if (ev->type == EVENT_CASE_RETURNED) queue = c.returns >= 2 ? "disputed" : "returned";
    }
    const char *anchor = moved ? c.resp_region : c.cur.region_code;
    catalogue_match_t m;
    const char *pr[] = {c.matter_type, anchor};
    PGresult *rr = NULL;
    if (dsp_exec(ds, pg, DSP_ST_ROUTE, pr, &rr) != 0) return db_result(pg, err, errlen, "asking the catalogue");
    catalogue_route_result(rr, &m);
    PQclear(rr);
    const char *why = NULL;
    if (!m.found) why = "no_catalogue_entry";
    else if (moved && m.tier != c.tier) why = "no_entry_at_tier";
    else if (m.centre_decides) why = "centre_decides";
    else if (!strcmp(c.complexity, "complex") && !ds->cfg->auto_dispatch_complex) why = "complex";
    else if (!m.lead_active) why = "lead_unit_inactive";
    else if (m.nco_inactive) why = "co_handler_inactive";
    if (why == NULL && c.attempts > 0) {
        int before = led_before(ds, pg, &c, m.lead_unit_id);
        if (before < 0) return db_result(pg, err, errlen, "reading earlier leads");
        if (before) why = "lead_had_it";
    }
    if (why == NULL) {
        dsp_assign_t a = {.lead = m.lead_unit_id, .tier = m.tier, .nco = m.nco, .basis = EVENT_DISPATCH_CATALOGUE,
                          .catalogue_version = m.version};
        memcpy(a.co, m.co_unit_ids, sizeof a.co);
        int db = 0;
        char derr[512];
        if (dsp_dispatch(ds, pg, &c, &a, NULL, &db, derr, sizeof derr) == 0) {
            metric_inc(ds->m_auto);
            int64_t at = 0;
            if (event_time_to_ms(ev->occurred_at, &at) == 0) metric_observe(ds->m_lag, (double)(dsp_now_ms() - at));
            LOGD("dispatched", LF_STR("case", c.cur.id), LF_INT("lead_unit", m.lead_unit_id),
                 LF_INT("catalogue_version", m.version));
            return KCONS_APPLIED;
        }
        if (db) return db_result(pg, err, errlen, "dispatching");
        /* No deadline can be computed (no profile, no calendar for the year): an operator must
         * fix the data; meanwhile a person can still route the case by hand. */
        LOGE("cannot dispatch automatically", LF_STR("case", c.cur.id), LF_STR("error", derr));
        why = "no_deadline";
    }
    /* A queue a person chose (returned, escalated…) keeps that person's reason. */
    if (!c.queue[0] || !strcmp(c.queue, "awaiting")) dsp_enqueue(&c, queue, why);
    c.catalogue_version = m.version;
    if (dsp_state_save(ds, pg, &c) != 0) return db_result(pg, err, errlen, "queueing");
    metric_inc(ds->m_queued);
    LOGD("queued for the centre", LF_STR("case", c.cur.id), LF_STR("queue", queue), LF_STR("reason", why));
    return KCONS_APPLIED;
}

kcons_result_t dsp_on_event(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id, char *err,
                            size_t errlen)
{
    (void)event_id;
    dispatcher_t *ds = arg;
    /* Most events are not ours: look at the type before decoding the whole envelope. */
    json_error_t je;
    json_t *j = json_loadb(m->payload, m->len, 0, &je);
    if (j == NULL) {
        snprintf(err, errlen, "not JSON: %s", je.text);
        return KCONS_DEAD;
    }
    const char *type = json_string_value(json_object_get(j, "type"));
    event_type_t t = type ? event_type_from_name(type) : EVENT_TYPE_NONE;
    json_decref(j);
    if (t != EVENT_CASE_ACCEPTED && t != EVENT_CASE_RETURNED && t != EVENT_CASE_ESCALATED &&
        t != EVENT_CASE_HANDED_DOWN)
        return KCONS_APPLIED;
    event_t ev;
    if (event_decode(m->payload, m->len, &ev, err, errlen) != 0) return KCONS_DEAD;
    kcons_result_t r = route_case(ds, pg, &ev, err, errlen);
    event_clear(&ev);
    return r;
}
