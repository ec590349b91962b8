/*
 * centre.c — what the dispatch centre (工作专班/营商办/推进中心) decides: a manual dispatch
 * with lead and co-handlers (首接负责), escalation to the tier above (提级: outside the remit,
 * several units, "this tier cannot solve"), hand-down to a lower tier (下转/延伸办理), the
 * decided remit of a disputed case (确责 — afterwards the unit may not return it), and the
 * decision on an extension request (审批延期, capped by the profile).
 *
 * Every handler validates the body first (400 naming the field, nothing written), then locks
 * the case through dsp_begin_action (404 when the centre is not responsible for it, 409 with
 * the current state and version when it moved), checks what only the case can say (422 / 409),
 * and writes the UPDATE, the routing state and the event in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dispatcher.h"
#include "log.h"
#include "reqval.h"


static const char *const tier_words[] = {"", "province", "city", "county", "township"};

/* The co-handlers named in body[field] (validated as an array of unit codes): resolved, each
 * under the centre's jurisdiction, none twice, none the lead. -1 when answered. */
static int resolve_co(dispatcher_t *ds, http_req_t *req, json_t *body, const char *field, const dsp_unit_ref_t *lead,
                      dsp_unit_ref_t *co, size_t *nco)
{
    const http_principal_t *p = http_req_principal(req);
    json_t *arr = json_object_get(body, field);
    *nco = 0;
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        char f[48];
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if (dsp_resolve_unit(ds->pg, req, f, json_string_value(it), &co[*nco]) != 0) return -1;
        if (lead && co[*nco].id == lead->id) {
            http_reply_error(req, 422, "invalid_value", f, "%s: %s is the lead unit", f, co[*nco].code);
            return -1;
        }
        for (size_t k = 0; k < *nco; k++)
            if (co[k].id == co[*nco].id) {
                http_reply_error(req, 422, "invalid_value", f, "%s: %s is listed twice", f, co[k].code);
                return -1;
            }
        if (!auth_region_covers(p->region_code, co[*nco].region)) {
            http_reply_error(req, 422, "outside_jurisdiction", f, "%s: %s is outside your jurisdiction (%s)", f,
                             co[*nco].code, p->region_code);
            return -1;
        }
        (*nco)++;
    }
    return 0;
}

/* The lead must serve the case's region and sit under the centre. -1 when answered. */
static int lead_fits(http_req_t *req, const dsp_case_t *c, const dsp_unit_ref_t *lead, const char *field)
{
    const http_principal_t *p = http_req_principal(req);
    if (!auth_region_covers(lead->region, c->cur.region_code)) {
        http_reply_error(req, 422, "outside_region", field, "%s: %s (region %s) does not serve the case's region %s",
                         field, lead->code, lead->region, c->cur.region_code);
        return -1;
    }
    if (!auth_region_covers(p->region_code, lead->region)) {
        http_reply_error(req, 422, "outside_jurisdiction", field,
                         "%s: %s is above your jurisdiction (%s); escalate the case instead", field, lead->code,
                         p->region_code);
        return -1;
    }
    return 0;
}

static json_t *codes_json(const dsp_unit_ref_t *co, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(co[i].code));
    return a;
}

static void reply_deadline_error(http_req_t *req, pg_t *pg, int db, const char *err)
{
    pg_rollback(pg);
    if (db) {
        dsp_reply_db(req, pg, "dispatch");
        return;
    }
    LOGE("cannot compute a deadline", LF_STR("req", http_req_id(req)), LF_STR("error", err));
    http_reply_error(req, 500, "deadline_unavailable", NULL, "the deadline cannot be computed: %s", err);
}

/* ---- POST /v1/cases/{id}/dispatch ---------------------------------------------------------- */

static const char *const dispatch_bases[] = {"centre_decision", "joint_meeting", NULL};
static const rv_field_t dispatch_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "lead_unit", .type = RV_STR, .required = true, .min = 1, .max = 64, .single_line = true,
     .check = dsp_check_unit_code},
    {.name = "co_handlers", .type = RV_ARRAY, .min = 0, .max = 20 /* CATALOGUE_MAX_CO */, .items = RV_STR,
     .single_line = true, .check = dsp_check_unit_code},
    {.name = "basis", .type = RV_STR, .values = dispatch_bases},
};

void dsp_h_dispatch(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_unit_ref_t lead, co[CATALOGUE_MAX_CO];
    size_t nco = 0;
    dsp_case_t c;
    casefsm_state_t to;
    if (dsp_validate(req, body, dispatch_fields, JS_ARRAY_LEN(dispatch_fields)) != 0 ||
        dsp_resolve_unit(ds->pg, req, "lead_unit", rv_str(body, "lead_unit", ""), &lead) != 0 ||
        resolve_co(ds, req, body, "co_handlers", &lead, co, &nco) != 0)
        goto out;
    int version = (int)json_integer_value(json_object_get(body, "version"));
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version, CASEFSM_ACTION_DISPATCH, &c, &to) != 0) goto out;
    if (lead_fits(req, &c, &lead, "lead_unit") != 0) {
        pg_rollback(ds->pg);
        goto out;
    }
    dsp_assign_t a = {.lead = lead.id, .tier = lead.tier, .nco = nco,
                      .basis = !strcmp(rv_str(body, "basis", "centre_decision"), "joint_meeting")
                                   ? EVENT_DISPATCH_JOINT_MEETING
                                   : EVENT_DISPATCH_CENTRE_DECISION};
    for (size_t i = 0; i < nco; i++) a.co[i] = co[i].id;
    int db = 0;
    char err[512];
    if (dsp_dispatch(ds, ds->pg, &c, &a, http_req_principal(req), &db, err, sizeof err) != 0) {
        reply_deadline_error(req, ds->pg, db, err);
        goto out;
    }
    metric_inc(ds->m_manual);
    char sb[40], rb[40];
    dsp_finish(ds, req, &c,
               json_pack("{s:s,s:o,s:s,s:s,s:s?,s:i,s:i}", "lead_unit", lead.code, "co_handlers", codes_json(co, nco),
                         "tier", tier_words[lead.tier], "sign_by", dsp_time(c.sign_by_ms, sb, sizeof sb),
                         "resolve_by", c.resolve_by_ms ? dsp_time(c.resolve_by_ms, rb, sizeof rb) : NULL,
                         "catalogue_version", c.catalogue_version, "attempt", c.attempts));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/escalate ----------------------------------------------------------- */

static const rv_field_t escalate_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "reason_code", .type = RV_STR, .required = true, .single_line = true, .min = 1, .max = 40},
    {.name = "reason_text", .type = RV_STR, .required = true, .min = 1, .max = 500},
    {.name = "leader_principal_id", .type = RV_INT, .min = 1, .max = 1000000000000},
};

void dsp_h_escalate(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    PGresult *r = NULL;
    char err[512] = "";
    if (dsp_validate(req, body, escalate_fields, JS_ARRAY_LEN(escalate_fields)) != 0) goto out;
    int reason = dsp_enum(EVENT_CASE_ESCALATED, "reason_code", rv_str(body, "reason_code", ""));
    if (reason == 0) {
        http_reply_error(req, 400, "not_allowed", "reason_code",
                         "reason_code: must be one of beyond_tier_capacity, unsatisfied_again, multi_unit, overdue, "
                         "leader_instruction, outside_remit");
        goto out;
    }
    json_int_t leader = json_integer_value(json_object_get(body, "leader_principal_id"));
    if (leader > 0) {
        char l[24];
        snprintf(l, sizeof l, "%lld", (long long)leader);
        const char *pl[] = {l};
        if (pg_query(pg, "SELECT 1 FROM principals WHERE id = $1::bigint AND role = 'leader' AND NOT disabled", 1, pl,
                     &r) != 0) {
            dsp_reply_db(req, pg, "looking up the leader");
            goto out;
        }
        int found = PQntuples(r) == 1;
        PQclear(r);
        r = NULL;
        if (!found) {
            http_reply_error(req, 422, "unknown_principal", "leader_principal_id",
                             "leader_principal_id: %lld is not an active leader", (long long)leader);
            goto out;
        }
    }
    int version = (int)json_integer_value(json_object_get(body, "version"));
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version, CASEFSM_ACTION_ESCALATE, &c, &to) != 0) goto out;
    if (p->role == AUTH_ROLE_UNIT) {
        const dsp_holder_t *h = dsp_holder(&c, p->unit_id);
        if (h == NULL || !h->lead) {
            pg_rollback(pg);
            http_reply_error(req, 403, "forbidden", NULL, "only the lead unit may escalate a case");
            goto out;
        }
    }
    if (c.tier <= 1) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "top_tier", "the case is already handled at the province tier");
        goto out;
    }
    int to_tier = c.tier - 1;
    char tt[16];
    snprintf(tt, sizeof tt, "%d", to_tier);
    const char *pa[] = {c.cur.region_code, tt};
    if (pg_query(pg, "SELECT region_ancestor_at($1, $2::smallint)", 2, pa, &r) != 0) {
        dsp_fail(req, pg, NULL, "finding the tier above");
        goto out;
    }
    char to_region[16] = "";
    if (!PQgetisnull(r, 0, 0)) snprintf(to_region, sizeof to_region, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (!to_region[0]) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "no_upper_tier", "this deployment has no %s above region %s", tier_words[to_tier],
                           c.cur.region_code);
        goto out;
    }
    dsp_update_t u = {.set_lead = true, .lead = 0, .set_due = true, .due_ms = 0, .set_tier = true, .tier = to_tier};
    event_t ev;
    if (dsp_release_all(ds, pg, &c, "escalated") != 0 || dsp_case_update(ds, pg, &c, CASEFSM_STATE_ACCEPTED, &u) != 0 ||
        event_init(&ev, EVENT_CASE_ESCALATED) != 0) {
        dsp_fail(req, pg, NULL, "escalation");
        goto out;
    }
    snprintf(ev.case_id, sizeof ev.case_id, "%s", c.cur.id);
    dsp_actor(&ev, p);
    event_case_escalated_t *e = &ev.payload.case_escalated;
    e->to_tier = (event_tier_t)to_tier;
    snprintf(e->to_region_code, sizeof e->to_region_code, "%.12s", to_region);
    e->reason_code = (event_escalation_reason_t)reason;
    e->reason_text = (char *)rv_str(body, "reason_text", "");
    e->leader_principal_id = leader;
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_ACCEPTED, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "escalation");
        goto out;
    }
    /* The upper tier decides anew: the lower tier's remit decision and clocks lapse. */
    dsp_enqueue(&c, "escalated", rv_str(body, "reason_code", ""));
    c.remit_ms = c.sign_by_ms = c.resolve_by_ms = c.agreed_ms = 0;
    c.resolve_window[0] = '\0';
    if (dsp_state_save(ds, pg, &c) != 0) {
        dsp_fail(req, pg, NULL, "escalation");
        goto out;
    }
    dsp_finish(ds, req, &c, json_pack("{s:s,s:s}", "tier", tier_words[to_tier], "to_region_code", to_region));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/hand-down ------------------------------------------------------------ */

static const char *const lower_tiers[] = {"city", "county", "township", NULL};
static const rv_field_t hand_down_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "to_tier", .type = RV_STR, .required = true, .values = lower_tiers},
    {.name = "instruction", .type = RV_STR, .required = true, .min = 1, .max = 500},
};

void dsp_h_hand_down(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    PGresult *r = NULL;
    char err[512] = "";
    if (dsp_validate(req, body, hand_down_fields, JS_ARRAY_LEN(hand_down_fields)) != 0) goto out;
    const char *tw = rv_str(body, "to_tier", "");
    int to_tier = !strcmp(tw, "city") ? 2 : !strcmp(tw, "county") ? 3 : 4;
    int version = (int)json_integer_value(json_object_get(body, "version"));
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version, CASEFSM_ACTION_HAND_DOWN, &c, &to) != 0) goto out;
    if (to_tier <= c.tier || to_tier > c.region_tier) {
        pg_rollback(pg);
        http_reply_error(req, 422, "out_of_range", "to_tier",
                         "to_tier: must be below the tier now responsible (%s) and not below the case's own region "
                         "%s (%s)",
                         tier_words[c.tier], c.cur.region_code, tier_words[c.region_tier]);
        goto out;
    }
    char tt[16];
    snprintf(tt, sizeof tt, "%d", to_tier);
    const char *pa[] = {c.cur.region_code, tt};
    if (pg_query(pg, "SELECT region_ancestor_at($1, $2::smallint)", 2, pa, &r) != 0) {
        dsp_fail(req, pg, NULL, "finding the lower tier");
        goto out;
    }
    char to_region[16] = "";
    if (!PQgetisnull(r, 0, 0)) snprintf(to_region, sizeof to_region, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!to_region[0]) {
        pg_rollback(pg);
        http_reply_error(req, 422, "out_of_range", "to_tier", "to_tier: no %s region contains %s", tw,
                         c.cur.region_code);
        goto out;
    }
    dsp_update_t u = {.set_tier = true, .tier = to_tier};
    event_t ev;
    if (dsp_case_update(ds, pg, &c, CASEFSM_STATE_ACCEPTED, &u) != 0 || event_init(&ev, EVENT_CASE_HANDED_DOWN) != 0) {
        dsp_fail(req, pg, NULL, "hand-down");
        goto out;
    }
    snprintf(ev.case_id, sizeof ev.case_id, "%s", c.cur.id);
    dsp_actor(&ev, http_req_principal(req));
    ev.payload.case_handed_down.to_tier = (event_tier_t)to_tier;
    snprintf(ev.payload.case_handed_down.to_region_code, sizeof ev.payload.case_handed_down.to_region_code, "%.12s",
             to_region);
    ev.payload.case_handed_down.instruction = (char *)rv_str(body, "instruction", "");
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_ACCEPTED, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "hand-down");
        goto out;
    }
    dsp_enqueue(&c, "handed_down", "handed_down");
    c.remit_ms = 0;
    if (dsp_state_save(ds, pg, &c) != 0) {
        dsp_fail(req, pg, NULL, "hand-down");
        goto out;
    }
    dsp_finish(ds, req, &c, json_pack("{s:s,s:s}", "tier", tw, "to_region_code", to_region));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/decide-remit ---------------------------------------------------------- */

static const char *const remit_bases[] = {"centre_ruling", "joint_meeting", NULL};
static const rv_field_t remit_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "lead_unit", .type = RV_STR, .required = true, .min = 1, .max = 64, .single_line = true,
     .check = dsp_check_unit_code},
    {.name = "co_handlers", .type = RV_ARRAY, .min = 0, .max = 20 /* CATALOGUE_MAX_CO */, .items = RV_STR,
     .single_line = true, .check = dsp_check_unit_code},
    {.name = "disputed_by", .type = RV_ARRAY, .required = true, .min = 1, .max = 20, .items = RV_STR,
     .single_line = true, .check = dsp_check_unit_code},
    {.name = "basis", .type = RV_STR, .required = true, .values = remit_bases},
    {.name = "decision_text", .type = RV_STR, .required = true, .min = 1, .max = 500},
};

void dsp_h_decide_remit(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_unit_ref_t lead, co[CATALOGUE_MAX_CO], disputed[20];
    size_t nco = 0, ndis = 0;
    dsp_case_t c;
    casefsm_state_t to;
    char err[512] = "";
    if (dsp_validate(req, body, remit_fields, JS_ARRAY_LEN(remit_fields)) != 0 ||
        dsp_resolve_unit(pg, req, "lead_unit", rv_str(body, "lead_unit", ""), &lead) != 0 ||
        resolve_co(ds, req, body, "co_handlers", &lead, co, &nco) != 0)
        goto out;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(body, "disputed_by"), i, it) {
        char f[40];
        snprintf(f, sizeof f, "disputed_by[%zu]", i);
        if (dsp_resolve_unit(pg, req, f, json_string_value(it), &disputed[ndis]) != 0) goto out;
        for (size_t k = 0; k < ndis; k++)
            if (disputed[k].id == disputed[ndis].id) {
                http_reply_error(req, 422, "invalid_value", f, "%s: %s is listed twice", f, disputed[k].code);
                goto out;
            }
        ndis++;
    }
    int version = (int)json_integer_value(json_object_get(body, "version"));
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version, CASEFSM_ACTION_DECIDE_REMIT, &c, &to) != 0)
        goto out;
    if (lead_fits(req, &c, &lead, "lead_unit") != 0) {
        pg_rollback(pg);
        goto out;
    }
    bool was_dispatched = c.cur.state == CASEFSM_STATE_DISPATCHED;
    if (was_dispatched && c.cur.lead_unit_id != lead.id) {
        char cur[72];
        dsp_unit_code(pg, c.cur.lead_unit_id, cur, sizeof cur);
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "lead_mismatch",
                           "the case is with %s; decide the remit for that unit, or let it return the case first", cur);
        goto out;
    }
    if (was_dispatched) { /* the decided co-handlers replace the current ones */
        char ids[CATALOGUE_MAX_CO * 24 + 4];
        size_t o = 0;
        ids[o++] = '{';
        for (size_t k = 0; k < nco; k++) o += (size_t)snprintf(ids + o, sizeof ids - o, "%s%lld", k ? "," : "", co[k].id);
        snprintf(ids + o, sizeof ids - o, "}");
        const char *pc[] = {c.cur.id, ids};
        if (pg_query(pg,
                     "UPDATE case_units SET released_at = greatest(now(), assigned_at), release_reason = 'reassigned' "
                     "WHERE case_id = $1::uuid AND role = 'co' AND released_at IS NULL "
                     "AND NOT (unit_id = ANY ($2::bigint[]))",
                     2, pc, NULL) != 0 ||
            pg_query(pg,
                     "INSERT INTO case_units (case_id, unit_id, role) SELECT $1::uuid, x, 'co' "
                     "FROM unnest($2::bigint[]) AS x WHERE NOT EXISTS (SELECT 1 FROM case_units cu "
                     "WHERE cu.case_id = $1::uuid AND cu.unit_id = x AND cu.released_at IS NULL)",
                     2, pc, NULL) != 0) {
            dsp_fail(req, pg, NULL, "remit decision");
            goto out;
        }
    }
    event_t ev;
    int64_t coid[CATALOGUE_MAX_CO], disid[20];
    for (size_t k = 0; k < nco; k++) coid[k] = co[k].id;
    for (size_t k = 0; k < ndis; k++) disid[k] = disputed[k].id;
    bool joint = !strcmp(rv_str(body, "basis", ""), "joint_meeting");
    if (dsp_case_update(ds, pg, &c, c.cur.state, NULL) != 0 || event_init(&ev, EVENT_CASE_REMIT_DECIDED) != 0) {
        dsp_fail(req, pg, NULL, "remit decision");
        goto out;
    }
    snprintf(ev.case_id, sizeof ev.case_id, "%s", c.cur.id);
    dsp_actor(&ev, p);
    event_case_remit_decided_t *e = &ev.payload.case_remit_decided;
    e->lead_unit_id = lead.id;
    e->co_handler_unit_ids = (event_id_list_t){coid, nco};
    e->disputed_by_unit_ids = (event_id_list_t){disid, ndis};
    e->basis = joint ? EVENT_REMIT_JOINT_MEETING : EVENT_REMIT_CENTRE_RULING;
    e->decision_text = (char *)rv_str(body, "decision_text", "");
    if (dsp_record(pg, &c, &ev, c.cur.state, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "remit decision");
        goto out;
    }
    c.remit_ms = dsp_now_ms();
    if (!was_dispatched) { /* decided while waiting: the decision is also the dispatch */
        dsp_assign_t a = {.lead = lead.id, .tier = lead.tier, .nco = nco,
                          .basis = joint ? EVENT_DISPATCH_JOINT_MEETING : EVENT_DISPATCH_CENTRE_DECISION};
        for (size_t k = 0; k < nco; k++) a.co[k] = co[k].id;
        int db = 0;
        if (dsp_dispatch(ds, pg, &c, &a, p, &db, err, sizeof err) != 0) {
            reply_deadline_error(req, pg, db, err);
            goto out;
        }
        metric_inc(ds->m_manual);
    } else {
        for (size_t k = 0; k < nco && c.nholders < DSP_MAX_HOLDERS; k++)
            if (!dsp_holder(&c, co[k].id)) c.holders[c.nholders++] = (dsp_holder_t){co[k].id, false, false};
        if (dsp_state_save(ds, pg, &c) != 0) {
            dsp_fail(req, pg, NULL, "remit decision");
            goto out;
        }
    }
    dsp_finish(ds, req, &c,
               json_pack("{s:s,s:o,s:b}", "lead_unit", lead.code, "co_handlers", codes_json(co, nco), "remit_decided",
                         1));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/extension-decision ------------------------------------------------------ */

static const char *const decisions[] = {"approved", "rejected", NULL};
static const rv_field_t ext_decision_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "request_id", .type = RV_STR, .required = true, .min = 36, .max = 36, .single_line = true,
     .check = dsp_check_uuid},
    {.name = "decision", .type = RV_STR, .required = true, .values = decisions},
    {.name = "decision_text", .type = RV_STR, .min = 1, .max = 500},
};

void dsp_h_extension_decision(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    PGresult *r = NULL;
    char err[512] = "";
    if (dsp_validate(req, body, ext_decision_fields, JS_ARRAY_LEN(ext_decision_fields)) != 0) goto out;
    int version = (int)json_integer_value(json_object_get(body, "version"));
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version, CASEFSM_ACTION_DECIDE_EXTENSION, &c, &to) != 0)
        goto out;
    const policy_t *pol = dsp_profile(ds, pg, c.cur.region_code, err, sizeof err);
    if (pol == NULL) {
        reply_deadline_error(req, pg, pg->last_class != PG_OK, err);
        goto out;
    }
    unsigned need = pol->extension_approver == POLICY_APPROVER_LEADER ? AUTH_ROLE_LEADER
                    : pol->extension_approver == POLICY_APPROVER_CENTRE ? AUTH_ROLE_CENTRE
                                                                         : 0;
    if (need == 0 || p->role != need) {
        pg_rollback(pg);
        http_reply_error(req, 403, "forbidden", NULL, "under the %s profile extensions are decided by %s", pol->name,
                         need == AUTH_ROLE_LEADER ? "the leader in charge" : need ? "the dispatch centre" : "nobody");
        goto out;
    }
    const char *rid = rv_str(body, "request_id", "");
    const char *pr[] = {rid, c.cur.id};
    if (pg_query(pg,
                 "SELECT extend_by, " "(extract(epoch from requested_due_at) * 1000)::bigint, decision IS NOT NULL "
                 "FROM case_extensions WHERE request_id = $1::uuid AND case_id = $2::uuid",
                 2, pr, &r) != 0) {
        dsp_fail(req, pg, NULL, "reading the request");
        goto out;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        pg_rollback(pg);
        http_reply_error(req, 422, "unknown_request", "request_id", "request_id: no such extension request on this case");
        goto out;
    }
    int extend_by = atoi(PQgetvalue(r, 0, 0));
    int64_t requested = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    bool decided = PQgetvalue(r, 0, 2)[0] == 't';
    PQclear(r);
    if (decided) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "already_decided", "this extension request has been decided already");
        goto out;
    }
    bool approve = !strcmp(rv_str(body, "decision", ""), "approved");
    if (approve) {
        policy_window_t orig;
        if (policy_window_parse(c.resolve_window, &orig, err, sizeof err) != 0 ||
            policy_extension_check(pol, &orig, c.ext_granted, c.ext_count, extend_by, err, sizeof err) != 0) {
            pg_rollback(pg);
            dsp_reply_conflict(req, &c, "over_the_cap", "%s", err);
            goto out;
        }
    }
    char pid[24];
    snprintf(pid, sizeof pid, "%lld", p->id);
    const char *pu[] = {rid, approve ? "approved" : "rejected", pid, rv_str(body, "decision_text", NULL)};
    dsp_update_t u = {.set_due = approve, .due_ms = requested};
    event_t ev;
    if (pg_query(pg,
                 "UPDATE case_extensions SET decision = $2, decided_by = $3::bigint, decided_at = now(), "
                 "decision_text = $4 WHERE request_id = $1::uuid",
                 4, pu, NULL) != 0 ||
        dsp_case_update(ds, pg, &c, c.cur.state, &u) != 0 || event_init(&ev, EVENT_CASE_EXTENSION_DECIDED) != 0) {
        dsp_fail(req, pg, NULL, "extension decision");
        goto out;
    }
    snprintf(ev.case_id, sizeof ev.case_id, "%s", c.cur.id);
    dsp_actor(&ev, p);
    event_case_extension_decided_t *e = &ev.payload.case_extension_decided;
    snprintf(e->request_id, sizeof e->request_id, "%s", rid);
    e->decision = approve ? EVENT_EXTENSION_APPROVED : EVENT_EXTENSION_REJECTED;
    if (approve) dsp_time(requested, e->resolve_by, sizeof e->resolve_by);
    e->decision_text = (char *)rv_str(body, "decision_text", NULL);
    if (dsp_record(pg, &c, &ev, c.cur.state, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "extension decision");
        goto out;
    }
    if (approve) {
        c.ext_granted += extend_by;
        c.ext_count++;
        c.resolve_by_ms = requested;
        if (dsp_state_save(ds, pg, &c) != 0) {
            dsp_fail(req, pg, NULL, "extension decision");
            goto out;
        }
    }
    char rb[40];
    dsp_finish(ds, req, &c,
               json_pack("{s:s,s:s?,s:i,s:i}", "decision", approve ? "approved" : "rejected", "resolve_by",
                         approve ? dsp_time(requested, rb, sizeof rb) : NULL, "extensions_granted", c.ext_granted,
                         "extensions", c.ext_count));
out:
    json_decref(body);
}
