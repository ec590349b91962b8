/*
 * calls.c — recording a revisit (回访) and everything it decides, in one transaction.
 *
 * A call is recorded by a supervisor (POST /v1/revisits/{id}/calls) or, as a second channel,
 * by the enterprise itself online (POST /v1/revisits/self-rating, with its token or with the
 * case number and tracking code, throttled against guessing). Either way the handler locks
 * the case row first (casestore_lock for a routine revisit, which also asks the state machine),
 * then the task, checks the task version (two supervisors on one version: one 409), reads the
 * rating against the region's own scale and the enterprise's answer against the contacts the
 * unit recorded, asks rvs_decide() what follows, and writes it all before COMMIT:
 *
 *   case.revisit_recorded always (the case's version moves, so the call is ordered);
 *   satisfied, or declined with a true result → case.closed; unreachable after the profile's
 *   tries → case.closed (revisit_unreachable); unsatisfied or untrue in the first round →
 *   case.redo_ordered with the profile's redo window and a bulletin entry; unsatisfied again →
 *   case.redo_ordered + case.escalated (the state machine escalates only from handling, so the
 *   case re-enters handling for its next round and goes up a tier in the same transaction),
 *   complexity complex, the unit released, an unsatisfied review form requested and, where the
 *   unit was at fault and the profile refers leads, a discipline referral;
 *   a claimed contact that did not happen (recorded by a supervisor) → case.revisit_recorded
 *   carries the unit and the disputed contacts, and the deadline watcher issues the supervision
 *   notice from it (level 3 where the profile has interviews; its id derived from the call's,
 *   common/supnotice.c, and told to the caller); here a bulletin entry and, where the profile
 *   refers leads, a discipline referral.
 *
 * Nothing is written for bad input: the body is validated before the transaction, and a rating
 * that is not on the region's scale or a disputed contact the unit never recorded rolls it
 * back with a 400 naming the field.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "casestore.h"
#include "deadline.h"
#include "log.h"
#include "ratelimit.h"
#include "reqval.h"
#include "revisit.h"
#include "supnotice.h"

/* ---- input ------------------------------------------------------------------------------- */

static int check_uuid(const char *s, char *msg, size_t len)
{
    if (event_uuid_valid(s)) return 0;
    snprintf(msg, len, "must be a contact record id (lowercase UUID)");
    return -1;
}

static const char *const call_channels[] = {"phone", "sms", "field_visit", NULL};
static const char *const fault_values[] = {"buck_passing", "perfunctory", "delay", NULL};

static const rv_field_t call_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "channel", .type = RV_STR, .required = true, .values = call_channels},
    {.name = "reached", .type = RV_BOOL, .required = true},
    {.name = "contact_confirmed", .type = RV_BOOL},
    {.name = "disputed_contact_ids", .type = RV_ARRAY, .min = 1, .max = 20, .items = RV_STR, .single_line = true,
     .check = check_uuid},
    {.name = "result_true", .type = RV_BOOL},
    {.name = "satisfaction", .type = RV_STR, .min = 1, .max = 20, .single_line = true},
    {.name = "enterprise_words", .type = RV_STR, .min = 1, .max = 500},
    {.name = "unit_fault", .type = RV_STR, .values = fault_values},
    {.name = "declines_meeting", .type = RV_BOOL},
    {.name = "note", .type = RV_STR, .min = 1, .max = 500},
};

static const rv_field_t self_fields[] = {
    {.name = "case_no", .type = RV_STR, .required = true, .min = 6, .max = 32, .single_line = true},
    {.name = "tracking_code", .type = RV_STR, .min = 6, .max = 32, .single_line = true},
    {.name = "contact_confirmed", .type = RV_BOOL, .required = true},
    {.name = "result_true", .type = RV_BOOL, .required = true},
    {.name = "satisfaction", .type = RV_STR, .required = true, .min = 1, .max = 20, .single_line = true},
    {.name = "enterprise_words", .type = RV_STR, .min = 1, .max = 500},
    {.name = "declines_meeting", .type = RV_BOOL},
};

typedef struct {
    const char *task_id;          /* supervisor's call: the task; NULL for a self-rating */
    const char *case_id;          /* self-rating: the case found by number and code */
    int version;                  /* the task version the caller saw; 0 = the current one */
    const http_principal_t *who;  /* supervisor, or enterprise with a token; NULL = by code */
    bool self_rating;
    const char *channel;
    bool reached, contact_confirmed, result_true, declines_meeting;
    const char *satisfaction, *words, *note;
    const json_t *disputed;       /* borrowed array, or NULL */
    rvs_fault_t fault;
} call_in_t;

/* ---- the locked rows ------------------------------------------------------------------------ */

typedef struct {
    casestore_case_t c;          /* id, case_no, state, version, region, credit code, lead unit */
    int tier;
    int64_t received_ms;
    char enterprise_name[801];
} case_row_t;

typedef struct {
    char id[40], kind[16], state[16], outcome[16];
    int version, attempts, round;
    long long unit_id;
    int64_t result_ms;
} task_row_t;

typedef struct {
    revisit_t *rv;
    pg_t *pg;
    http_req_t *req;
    const call_in_t *in;
    const policy_t *prof;
    case_row_t cs;
    task_row_t task;
    char err[512];
    int status;          /* the HTTP status when a step refuses (4xx); 0 = database failure */
    const char *code, *field;
    json_t *reply;       /* what the 200 answer adds */
} rec_t;

static int refuse(rec_t *x, int status, const char *code, const char *field, const char *fmt, ...) JS_PRINTF(5, 6);
static int refuse(rec_t *x, int status, const char *code, const char *field, const char *fmt, ...)
{
    char msg[sizeof x->err]; /* the message may quote x->err itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(x->err, msg, sizeof msg);
    x->status = status;
    x->code = code;
    x->field = field;
    return -1;
}

static int db(rec_t *x)
{
    x->status = 0;
    return -1;
}

/* A supervisor's call on a case outside its region: the task is answered as not existing. */
static bool out_of_region(const rec_t *x)
{
    const http_principal_t *p = x->in->who;
    return p && p->role == AUTH_ROLE_SUPERVISOR && !auth_region_covers(p->region_code, x->cs.c.region_code);
}

static int lock_case(rec_t *x, const char *case_id, bool routine)
{
    pg_t *pg = x->pg;
    casefsm_state_t to;
    casefsm_role_t role = x->in->self_rating ? CASEFSM_ROLE_ENTERPRISE : CASEFSM_ROLE_SUPERVISOR;
    if (routine) {
        casestore_rc_t rc = casestore_lock(pg, case_id, 0, CASEFSM_ACTION_RECORD_REVISIT, role, &x->cs.c, &to);
        if (rc == CASESTORE_DB) return db(x);
        if (rc == CASESTORE_NOT_FOUND) return refuse(x, 404, "not_found", NULL, "no such revisit task");
        /* scope before state: a 409 carrying the case's state would tell a supervisor of another
         * region that the task exists and where its case stands (casestore fills the row in) */
        if (out_of_region(x)) return refuse(x, 404, "not_found", NULL, "no such revisit task");
        if (rc != CASESTORE_OK) {
            x->status = 409;
            x->code = "bad_state";
            snprintf(x->err, sizeof x->err, "the case is %s: it is not waiting for a revisit",
                     casefsm_state_to_str(x->cs.c.state));
            return -1;
        }
    } else {
        /* a look-back calls a closed case again: nothing in the state machine moves, the row is
         * locked all the same so the call is ordered with the case's other events */
        const char *pa[] = {case_id};
        PGresult *r = NULL;
        if (pg_query(pg, "SELECT id, case_no, state, version, region_code, coalesce(credit_code, ''), "
                         "coalesce(lead_unit_id, 0), kind FROM cases WHERE id = $1::uuid FOR UPDATE",
                     1, pa, &r) != 0)
            return db(x);
        if (PQntuples(r) != 1) {
            PQclear(r);
            return refuse(x, 404, "not_found", NULL, "no such revisit task");
        }
        casestore_case_t *c = &x->cs.c;
        snprintf(c->id, sizeof c->id, "%s", PQgetvalue(r, 0, 0));
        snprintf(c->case_no, sizeof c->case_no, "%s", PQgetvalue(r, 0, 1));
        if (casefsm_state_from_str(PQgetvalue(r, 0, 2), &c->state) != 0) c->state = CASEFSM_STATE_NONE;
        c->version = atoi(PQgetvalue(r, 0, 3));
        snprintf(c->region_code, sizeof c->region_code, "%s", PQgetvalue(r, 0, 4));
        snprintf(c->credit_code, sizeof c->credit_code, "%s", PQgetvalue(r, 0, 5));
        c->lead_unit_id = atoll(PQgetvalue(r, 0, 6));
        snprintf(c->kind, sizeof c->kind, "%s", PQgetvalue(r, 0, 7));
        PQclear(r);
    }
    if (out_of_region(x)) return refuse(x, 404, "not_found", NULL, "no such revisit task"); /* a 403 would say it exists */
    const char *pa[] = {case_id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT tier, revisit_time_text(received_at), enterprise_name FROM cases WHERE id = $1::uuid", 1, pa, &r) != 0)
        return db(x);
    x->cs.tier = atoi(PQgetvalue(r, 0, 0));
    if (event_time_to_ms(PQgetvalue(r, 0, 1), &x->cs.received_ms) != 0 &&
        deadline_time_parse(PQgetvalue(r, 0, 1), &x->cs.received_ms, NULL, 0) != 0)
        x->cs.received_ms = rvs_now_ms();
    snprintf(x->cs.enterprise_name, sizeof x->cs.enterprise_name, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    return 0;
}

static int lock_task(rec_t *x, const char *sql, const char *key)
{
    const char *pa[] = {key};
    PGresult *r = NULL;
    if (pg_query(x->pg, sql, 1, pa, &r) != 0) return db(x);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return x->in->self_rating ? refuse(x, 409, "bad_state", NULL, "no revisit is waiting for this case")
                                  : refuse(x, 404, "not_found", NULL, "no such revisit task");
    }
    task_row_t *t = &x->task;
    snprintf(t->id, sizeof t->id, "%s", PQgetvalue(r, 0, 0));
    snprintf(t->kind, sizeof t->kind, "%s", PQgetvalue(r, 0, 1));
    snprintf(t->state, sizeof t->state, "%s", PQgetvalue(r, 0, 2));
    t->version = atoi(PQgetvalue(r, 0, 3));
    t->attempts = atoi(PQgetvalue(r, 0, 4));
    t->round = atoi(PQgetvalue(r, 0, 5));
    t->unit_id = rvs_val(r, 0, 6) ? atoll(rvs_val(r, 0, 6)) : 0;
    if (deadline_time_parse(PQgetvalue(r, 0, 7), &t->result_ms, NULL, 0) != 0) t->result_ms = rvs_now_ms();
    snprintf(t->outcome, sizeof t->outcome, "%s", rvs_val(r, 0, 8) ? rvs_val(r, 0, 8) : "");
    PQclear(r);
    return 0;
}

#define TASK_COLS "id, kind, state, version, attempts, handling_round, unit_id, revisit_time_text(result_at), outcome"

/* ---- writing ------------------------------------------------------------------------------ */

/* Moves the locked case by `action` as `role`, with the extra SET clause of that action
 * ($1 id, $2 new version, $3.. extra), and records ev. */
static int transition(rec_t *x, casefsm_action_t action, casefsm_role_t role, const char *set_sql, int nextra,
                      const char *const *extra, event_t *ev)
{
    casefsm_state_t from = x->cs.c.state, to;
    if (casefsm_apply(from, action, role, &to, NULL) != CASEFSM_OK)
        return refuse(x, 409, "bad_state", NULL, "the state machine refuses %s from %s",
                      casefsm_action_to_str(action), casefsm_state_to_str(from));
    if (to == CASEFSM_STATE_NONE) to = from;
    char ver[16], sql[512];
    snprintf(ver, sizeof ver, "%d", x->cs.c.version + 1);
    snprintf(sql, sizeof sql, "UPDATE cases SET state = '%s', version = $2::int%s%s WHERE id = $1::uuid",
             casefsm_state_to_str(to), set_sql ? ", " : "", set_sql ? set_sql : "");
    const char *pa[8] = {x->cs.c.id, ver};
    for (int i = 0; i < nextra && i < 6; i++) pa[2 + i] = extra[i];
    if (pg_query(x->pg, sql, 2 + nextra, pa, NULL) != 0) return db(x);
    x->cs.c.version++;
    x->cs.c.state = to;
    snprintf(ev->case_id, sizeof ev->case_id, "%s", x->cs.c.id);
    if (casestore_record(x->pg, ev, from, to, x->cs.c.version, x->err, sizeof x->err) != 0)
        return x->pg->last_class == PG_OK ? refuse(x, 500, "internal", NULL, "%s", x->err) : db(x);
    return 0;
}

static int bulletin(rec_t *x, const char *call_id, const char *reason)
{
    char unit[32], round[8];
    snprintf(unit, sizeof unit, "%lld", x->task.unit_id);
    snprintf(round, sizeof round, "%d", x->task.round);
    const char *pa[] = {x->cs.c.id, x->task.unit_id > 0 ? unit : NULL, x->cs.c.region_code, reason, round, call_id};
    if (pg_query(x->pg,
                 "INSERT INTO revisit_bulletin (case_id, unit_id, region_code, reason, handling_round, call_id, month) "
                 "VALUES ($1::uuid, $2::bigint, $3, $4, $5::smallint, $6::uuid, "
                 "date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date) ON CONFLICT DO NOTHING",
                 6, pa, NULL) != 0)
        return db(x);
    json_t *b = json_object_get(x->reply, "bulletin");
    if (!b) json_object_set_new(x->reply, "bulletin", b = json_array());
    json_array_append_new(b, json_string(reason));
    return 0;
}

static int referral(rec_t *x, const char *call_id, const char *basis, const char *detail)
{
    char id[EVENT_UUID_SIZE], unit[32];
    if (x->task.unit_id <= 0) return 0; /* nobody to refer */
    if (event_uuid_new(id) != 0) return refuse(x, 500, "internal", NULL, "no random bytes");
    snprintf(unit, sizeof unit, "%lld", x->task.unit_id);
    const char *pa[] = {id, x->cs.c.id, unit, x->cs.c.region_code, basis, detail, call_id};
    PGresult *r = NULL;
    if (pg_query(x->pg,
                 "INSERT INTO discipline_referrals (id, case_id, unit_id, region_code, basis, detail, call_id) "
                 "VALUES ($1::uuid, $2::uuid, $3::bigint, $4, $5, left($6, 1000), $7::uuid) "
                 "ON CONFLICT (case_id, basis) DO NOTHING RETURNING id",
                 7, pa, &r) != 0)
        return db(x);
    if (PQntuples(r) == 1) {
        json_object_set_new(x->reply, "referral_id", json_string(id));
        metric_inc(x->rv->m_referrals);
    }
    PQclear(r);
    return 0;
}

/* A claimed contact that did not happen (seed 004 二(五)3; seed 001 level 3): the notice is
 * issued by the deadline watcher — the one issuer of notice rows, which also keeps its reply
 * clock — when it consumes this call's case.revisit_recorded (which carries the unit and the
 * disputed contacts). Here the caller only learns what is coming: the level the profile gives
 * and the notice's id, derived from the call's id by the rule both daemons share. */
static int fraud_notice(rec_t *x, const char *call_id)
{
    if (x->task.unit_id <= 0) return 0; /* nobody to supervise (answered at once) */
    char nid[EVENT_UUID_SIZE];
    if (supnotice_fraud_id(call_id, nid) != 0) return refuse(x, 500, "internal", NULL, "call id is not a UUID");
    int level = supnotice_fraud_level(x->prof);
    json_object_set_new(x->reply, "notice", json_pack("{s:s,s:i,s:s,s:I,s:s,s:s}", "notice_id", nid, "level", level,
                                                      "reason_code", "fraud", "unit_id", (json_int_t)x->task.unit_id,
                                                      "state", "requested", "issued_by", "deadline-watcher"));
    metric_inc(x->rv->m_fraud);
    LOGI("claimed contact that did not happen: supervision notice requested", LF_STR("case_id", x->cs.c.id),
         LF_INT("unit_id", x->task.unit_id), LF_INT("level", level), LF_STR("notice_id", nid));
    return 0;
}

/* The redo deadline: the profile's redo.window from now, "original" being the case's own
 * window for its kind and complexity, and a window agreed per case the configured fallback. */
static int redo_by(rec_t *x, char out[EVENT_TIME_SIZE])
{
    const policy_t *p = x->prof;
    policy_window_t w = p->redo;
    if (w.unit == POLICY_UNIT_ORIGINAL) {
        policy_kind_t k;
        policy_complexity_t cx = POLICY_COMPLEXITY_GENERAL;
        const char *pa[] = {x->cs.c.id};
        PGresult *r = NULL;
        if (pg_query(x->pg, "SELECT complexity FROM cases WHERE id = $1::uuid", 1, pa, &r) != 0) return db(x);
        if (PQntuples(r) == 1 && policy_complexity_from_str(PQgetvalue(r, 0, 0), &cx) != 0)
            cx = POLICY_COMPLEXITY_GENERAL;
        PQclear(r);
        if (policy_kind_from_str(x->cs.c.kind, &k) != 0) k = POLICY_KIND_HELP;
        w = *policy_window_for(p, k, cx);
    }
    if (w.unit == POLICY_UNIT_AGREED || w.unit == POLICY_UNIT_NONE || w.unit == POLICY_UNIT_ORIGINAL)
        w = (policy_window_t){POLICY_UNIT_WORKING_DAYS, (int)x->rv->cfg->redo_agreed_wd, 0, 0};
    int64_t due;
    char perr[256];
    if (rvs_due(x->rv, x->cs.c.region_code, p, &w, rvs_now_ms(), &due, perr, sizeof perr) != 0)
        return refuse(x, 500, "deadline_uncomputable", NULL, "the redo deadline cannot be computed: %s", perr);
    rvs_time_str(due, out);
    return 0;
}

static int order_redo(rec_t *x, casefsm_role_t role, event_redo_reason_t reason, const char *note)
{
    event_t ev;
    char due[EVENT_TIME_SIZE], unit[32];
    if (redo_by(x, due) != 0) return -1;
    if (event_init(&ev, EVENT_CASE_REDO_ORDERED) != 0) return refuse(x, 500, "internal", NULL, "no random bytes");
    rvs_actor(&ev, role == CASEFSM_ROLE_SYSTEM ? NULL : x->in->who);
    long long u = x->task.unit_id > 0 ? x->task.unit_id : x->cs.c.lead_unit_id;
    if (u <= 0) return refuse(x, 409, "bad_state", NULL, "the case has no unit to send it back to");
    event_case_redo_ordered_t *r = &ev.payload.case_redo_ordered;
    r->unit_id = u;
    r->handling_round = x->task.round + 1;
    r->reason_code = reason;
    snprintf(r->redo_by, sizeof r->redo_by, "%s", due);
    r->note = (char *)note; /* borrowed; ev is never cleared */
    snprintf(unit, sizeof unit, "%lld", u);
    const char *extra[] = {due, unit};
    if (transition(x, CASEFSM_ACTION_REDO, role, "due_at = $3::timestamptz, lead_unit_id = coalesce(lead_unit_id, $4::bigint)",
                   2, extra, &ev) != 0)
        return -1;
    json_object_set_new(x->reply, "redo", json_pack("{s:i,s:s,s:s,s:I}", "handling_round", x->task.round + 1, "redo_by",
                                                    due, "reason", reason == EVENT_REDO_RESULT_UNTRUE ? "result_untrue" : "unsatisfied",
                                                    "unit_id", (json_int_t)u));
    metric_inc(x->rv->m_redo);
    return 0;
}

static int escalate(rec_t *x, const char *call_id, event_redo_reason_t reason)
{
    /* The state machine escalates from handling, not from `resolved`: the case re-enters
     * handling for its next round (case.redo_ordered) and the same transaction escalates it. */
    char note[200];
    snprintf(note, sizeof note, "第%d轮办理后企业仍不满意，转为疑难复杂件提级办理。", x->task.round);
    if (order_redo(x, CASEFSM_ROLE_SYSTEM, reason, note) != 0) return -1;
    int to_tier = rvs_escalation_tier(x->cs.tier);
    char tier_s[16];
    snprintf(tier_s, sizeof tier_s, "%d", to_tier);
    const char *pa[] = {x->cs.c.region_code, tier_s};
    PGresult *r = NULL;
    if (pg_query(x->pg, "SELECT coalesce(region_ancestor_at($1, $2::smallint), $1)", 2, pa, &r) != 0) return db(x);
    char to_region[16];
    snprintf(to_region, sizeof to_region, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    event_t ev;
    if (event_init(&ev, EVENT_CASE_ESCALATED) != 0) return refuse(x, 500, "internal", NULL, "no random bytes");
    rvs_actor(&ev, NULL);
    event_case_escalated_t *e = &ev.payload.case_escalated;
    e->to_tier = (event_tier_t)to_tier; /* the contract lists province … township as 1 … 4 */
    snprintf(e->to_region_code, sizeof e->to_region_code, "%.12s", to_region);
    e->reason_code = EVENT_ESCALATION_UNSATISFIED_AGAIN;
    char text[300];
    snprintf(text, sizeof text, "经%d轮办理后企业仍不满意%s，转为疑难复杂件，提级至%s级办理。", x->task.round,
             reason == EVENT_REDO_RESULT_UNTRUE ? "（办理结果经核实不属实）" : "",
             to_tier == 1 ? "省" : to_tier == 2 ? "市" : to_tier == 3 ? "县" : "乡镇");
    e->reason_text = text;
    const char *extra[] = {tier_s};
    if (transition(x, CASEFSM_ACTION_ESCALATE, CASEFSM_ROLE_SYSTEM,
                   "tier = $3::smallint, complexity = 'complex', lead_unit_id = NULL, due_at = NULL", 1, extra, &ev) != 0)
        return -1;
    const char *pc[] = {x->cs.c.id};
    if (pg_query(x->pg,
                 "UPDATE case_units SET released_at = now(), release_reason = 'escalated' "
                 "WHERE case_id = $1::uuid AND released_at IS NULL",
                 1, pc, NULL) != 0)
        return db(x);
    /* the unit's 不满意诉求审核反馈表, signed by its head (seed 004 二(四)3) */
    char form[EVENT_UUID_SIZE], unit[32], rounds[8];
    if (event_uuid_new(form) != 0) return refuse(x, 500, "internal", NULL, "no random bytes");
    snprintf(unit, sizeof unit, "%lld", x->task.unit_id);
    snprintf(rounds, sizeof rounds, "%d", x->task.round);
    const char *pf[] = {form, x->cs.c.id, unit, x->cs.c.region_code, rounds, call_id};
    if (x->task.unit_id > 0) {
        if (pg_query(x->pg,
                     "INSERT INTO review_forms (id, case_id, unit_id, region_code, handling_rounds, call_id) "
                     "VALUES ($1::uuid, $2::uuid, $3::bigint, $4, $5::smallint, $6::uuid) ON CONFLICT DO NOTHING",
                     6, pf, NULL) != 0)
            return db(x);
        json_object_set_new(x->reply, "review_form_id", json_string(form));
    }
    json_object_set_new(x->reply, "escalated", json_pack("{s:s,s:s}", "to_tier", rvs_tier_str(to_tier), "to_region_code",
                                                         to_region));
    metric_inc(x->rv->m_escalated);
    return 0;
}

static int close_case(rec_t *x, casefsm_role_t role, const rvs_decision_t *d, const rvs_rating_t *rating)
{
    int days = 0;
    char cerr[256];
    calendar_day_t from = deadline_local_day(x->cs.received_ms), to = deadline_local_day(x->task.result_ms);
    if (calendar_count_working_days(x->rv->cal, x->cs.c.region_code, from, to, &days, cerr, sizeof cerr) != 0)
        return refuse(x, 500, "deadline_uncomputable", NULL, "the handling time cannot be counted: %s", cerr);
    event_t ev;
    if (event_init(&ev, EVENT_CASE_CLOSED) != 0) return refuse(x, 500, "internal", NULL, "no random bytes");
    rvs_actor(&ev, role == CASEFSM_ROLE_SYSTEM ? NULL : x->in->who);
    event_case_closed_t *c = &ev.payload.case_closed;
    c->basis = d->close_basis;
    c->resolved = d->resolved;
    c->satisfaction = d->close_basis == EVENT_CLOSE_REVISIT_SATISFIED ? rating->code : EVENT_SATISFACTION_UNSET;
    c->handling_rounds = x->task.round;
    c->handling_working_days = days > 3650 ? 3650 : days;
    if (transition(x, CASEFSM_ACTION_CLOSE, role, "closed_at = now()", 0, NULL, &ev) != 0) return -1;
    static const char *const basis[] = {NULL, "revisit_satisfied", "rating_declined", "revisit_unreachable",
                                        "centre_decision"};
    json_object_set_new(x->reply, "closed", json_pack("{s:s,s:b,s:i}", "basis", basis[d->close_basis], "resolved",
                                                      d->resolved, "handling_working_days", days));
    metric_inc(x->rv->m_closed);
    return 0;
}

/* Claimed contacts: the unit's case.contact_recorded events marked reached. */
static int contacts(rec_t *x, size_t *n_claimed, json_t **fraud_ids)
{
    const char *pa[] = {x->cs.c.id};
    PGresult *r = NULL;
    if (pg_query(x->pg,
                 "SELECT payload->>'contact_record_id' FROM case_events WHERE case_id = $1::uuid "
                 "AND type = 'case.contact_recorded' AND (payload->>'reached')::boolean ORDER BY id",
                 1, pa, &r) != 0)
        return db(x);
    *n_claimed = (size_t)PQntuples(r);
    *fraud_ids = json_array();
    const json_t *disputed = x->in->disputed;
    size_t i;
    json_t *v;
    json_array_foreach(disputed, i, v) {
        const char *id = json_string_value(v);
        int known = 0, twice = 0;
        for (int k = 0; k < PQntuples(r); k++) known |= !strcmp(PQgetvalue(r, k, 0), id);
        for (size_t k = 0; k < i; k++) twice |= !strcmp(json_string_value(json_array_get(disputed, k)), id);
        if (!known || twice) {
            PQclear(r);
            char field[48];
            snprintf(field, sizeof field, "disputed_contact_ids[%zu]", i);
            x->status = 400;
            x->code = "invalid_value";
            x->field = "disputed_contact_ids";
            snprintf(x->err, sizeof x->err, "%s: %s", field,
                     twice ? "is listed twice" : "is not a contact the unit recorded as made on this case");
            return -1;
        }
        json_array_append_new(*fraud_ids, json_string(id));
    }
    /* "nobody ever contacted us" disowns every claim */
    if (!x->in->contact_confirmed && json_array_size(*fraud_ids) == 0)
        for (int k = 0; k < PQntuples(r); k++) json_array_append_new(*fraud_ids, json_string(PQgetvalue(r, k, 0)));
    PQclear(r);
    return 0;
}

/* The whole recording, inside the transaction; -1 with x->status / x->err when refused. */
static int record(rec_t *x)
{
    const call_in_t *in = x->in;
    pg_t *pg = x->pg;
    PGresult *r = NULL;
    char case_id[40] = "", kind[16] = "routine";
    if (in->task_id) {
        const char *pa[] = {in->task_id};
        if (pg_query(pg, "SELECT case_id, kind FROM revisit_tasks WHERE id = $1::uuid", 1, pa, &r) != 0)
            return !strcmp(pg->sqlstate, "22P02") ? refuse(x, 404, "not_found", NULL, "no such revisit task") : db(x);
        if (PQntuples(r) != 1) {
            PQclear(r);
            return refuse(x, 404, "not_found", NULL, "no such revisit task");
        }
        snprintf(case_id, sizeof case_id, "%s", PQgetvalue(r, 0, 0));
        snprintf(kind, sizeof kind, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
    } else {
        snprintf(case_id, sizeof case_id, "%s", in->case_id);
    }
    bool routine = strcmp(kind, "routine") == 0;
    if (lock_case(x, case_id, routine) != 0) return -1;
    if (in->task_id ? lock_task(x, "SELECT " TASK_COLS " FROM revisit_tasks WHERE id = $1::uuid FOR UPDATE", in->task_id)
                    : lock_task(x, "SELECT " TASK_COLS " FROM revisit_tasks WHERE case_id = $1::uuid AND state = 'open' "
                                   "AND kind = 'routine' FOR UPDATE",
                                case_id))
        return -1;
    task_row_t *t = &x->task;
    if (strcmp(t->state, "open") != 0) {
        x->status = 409;
        x->code = "bad_state";
        snprintf(x->err, sizeof x->err, "this revisit is finished (%s)", t->outcome);
        json_object_set_new(x->reply, "task_version", json_integer(t->version));
        return -1;
    }
    if (in->version > 0 && in->version != t->version) {
        x->status = 409;
        x->code = "conflict";
        snprintf(x->err, sizeof x->err, "the revisit changed since you read it (another call was recorded)");
        json_object_set_new(x->reply, "task_version", json_integer(t->version));
        return -1;
    }
    if (t->attempts >= 10) return refuse(x, 409, "bad_state", NULL, "ten attempts are recorded already");
    char perr[256];
    if ((x->prof = rvs_profile_for(x->rv, pg, x->cs.c.region_code, perr, sizeof perr)) == NULL)
        return refuse(x, 500, "profile_missing", NULL, "%s", perr);

    rvs_rating_t rating;
    memset(&rating, 0, sizeof rating);
    if (in->reached && rvs_rating_parse(x->prof, in->satisfaction, &rating) != 0) {
        char scale[400];
        rvs_scale_describe(x->prof, scale, sizeof scale);
        return refuse(x, 400, "not_allowed", "satisfaction", "satisfaction: not on this region's scale (%s): %s",
                      x->prof->name, scale);
    }
    size_t n_claimed = 0;
    json_t *fraud_ids = NULL;
    if (in->reached && contacts(x, &n_claimed, &fraud_ids) != 0) {
        json_decref(fraud_ids);
        return -1;
    }
    rvs_contact_facts_t cf = {n_claimed, in->contact_confirmed, in->disputed ? json_array_size(in->disputed) : 0};
    rvs_call_facts_t f = {
        .kind = routine ? RVS_TASK_ROUTINE : RVS_TASK_LOOKBACK,
        .handling_round = t->round,
        .prior_attempts = t->attempts,
        .unreachable_after = x->prof->revisit_unreachable_after,
        .reached = in->reached,
        .self_rating = in->self_rating,
        .result_true = in->result_true,
        .rating = rating,
        .contact = rvs_contact_check(&cf),
    };
    rvs_decision_t d = rvs_decide(&f);
    int rc = -1;
    char (*disputed_items)[EVENT_UUID_SIZE] = NULL;

    /* 1. the revisit itself */
    event_t ev;
    if (event_init(&ev, EVENT_CASE_REVISIT_RECORDED) != 0) {
        refuse(x, 500, "internal", NULL, "no random bytes");
        goto out;
    }
    if (in->who)
        rvs_actor(&ev, in->who);
    else { /* the enterprise by its tracking code: no principal, its own name */
        ev.actor.principal_id = 0;
        ev.actor.role = EVENT_ROLE_ENTERPRISE;
        snprintf(ev.actor.name, sizeof ev.actor.name, "%s", x->cs.enterprise_name);
    }
    event_case_revisit_recorded_t *rr = &ev.payload.case_revisit_recorded;
    rr->handling_round = t->round;
    rr->attempt = t->attempts + 1;
    rr->channel = in->self_rating ? EVENT_REVISIT_ONLINE_RATING
                  : !strcmp(in->channel, "sms") ? EVENT_REVISIT_SMS
                  : !strcmp(in->channel, "field_visit") ? EVENT_REVISIT_FIELD_VISIT : EVENT_REVISIT_PHONE;
    rr->reached = in->reached;
    rr->sampled = !routine;
    if (t->unit_id > 0) rr->unit_id = t->unit_id;
    if (in->reached && json_array_size(fraud_ids) > 0) {
        /* the claims the enterprise disowns travel with the event: the watcher's notice
         * names them (at most the contract's 50: a flat denial disowns every claim) */
        size_t n = json_array_size(fraud_ids) < 50 ? json_array_size(fraud_ids) : 50;
        disputed_items = calloc(n, EVENT_UUID_SIZE);
        if (disputed_items == NULL) {
            refuse(x, 500, "internal", NULL, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            snprintf(disputed_items[i], EVENT_UUID_SIZE, "%s", json_string_value(json_array_get(fraud_ids, i)));
        rr->disputed_contact_ids.items = disputed_items; /* borrowed; freed below, ev is never cleared */
        rr->disputed_contact_ids.n = n;
    }
    if (in->reached) {
        rr->has_contact_verified = rr->has_result_true = true;
        rr->contact_verified = f.contact.verified;
        rr->result_true = in->result_true;
        rr->satisfaction = rating.code;
        if (rating.code == EVENT_SATISFACTION_UNSATISFIED || rating.code == EVENT_SATISFACTION_VERY_UNSATISFIED)
            rr->unsatisfied_reason = (char *)in->words; /* borrowed */
    }
    if (routine) {
        if (transition(x, CASEFSM_ACTION_RECORD_REVISIT,
                       in->self_rating ? CASEFSM_ROLE_ENTERPRISE : CASEFSM_ROLE_SUPERVISOR, NULL, 0, NULL, &ev) != 0)
            goto out;
    } else {
        snprintf(ev.case_id, sizeof ev.case_id, "%s", x->cs.c.id);
        if (casestore_record(pg, &ev, x->cs.c.state, x->cs.c.state, 0, x->err, sizeof x->err) != 0) {
            if (pg->last_class == PG_OK) refuse(x, 500, "internal", NULL, "%s", x->err);
            else db(x);
            goto out;
        }
    }
    const char *call_id = ev.event_id;
    char attempt[16], round[16], level[16], pid[32], *disputed = fraud_ids ? json_dumps(fraud_ids, JSON_COMPACT) : strdup("[]");
    snprintf(attempt, sizeof attempt, "%d", t->attempts + 1);
    snprintf(round, sizeof round, "%d", t->round);
    snprintf(level, sizeof level, "%d", rating.level);
    snprintf(pid, sizeof pid, "%lld", in->who ? in->who->id : 0);
    static const char *const codes[] = {NULL, "very_satisfied", "satisfied", "basically_satisfied", "unsatisfied",
                                        "very_unsatisfied", "declined"};
    bool fraud_recorded = in->reached && f.contact.fraud;
    const char *pc[] = {call_id,
                        t->id,
                        x->cs.c.id,
                        round,
                        attempt,
                        in->self_rating ? "self_rating" : "call",
                        in->self_rating ? "online_rating" : in->channel,
                        in->reached ? "true" : "false",
                        in->reached ? (in->contact_confirmed ? "true" : "false") : NULL,
                        in->reached ? (f.contact.verified ? "true" : "false") : NULL,
                        in->reached ? disputed : "[]",
                        fraud_recorded ? "true" : "false",
                        in->reached ? (in->result_true ? "true" : "false") : NULL,
                        in->reached ? codes[rating.code] : NULL,
                        in->reached ? rating.label : NULL,
                        in->reached && !rating.declined ? level : NULL,
                        in->reached ? in->words : NULL,
                        in->reached && in->fault ? rvs_fault_str(in->fault) : NULL,
                        in->reached && in->declines_meeting ? "true" : "false",
                        in->note,
                        routine ? "false" : "true",
                        rvs_outcome_str(d.outcome),
                        in->who ? pid : NULL};
    int q = disputed == NULL ? -1
                             : pg_query(pg,
                                        "INSERT INTO revisit_calls (id, task_id, case_id, handling_round, attempt, source, "
                                        "channel, reached, contact_confirmed, contact_verified, disputed_contact_ids, fraud, "
                                        "result_true, satisfaction, satisfaction_label, satisfaction_level, "
                                        "enterprise_words, unit_fault, declines_meeting, note, sampled, outcome, "
                                        "recorded_by) VALUES ($1::uuid, $2::uuid, $3::uuid, $4::smallint, $5::smallint, "
                                        "$6, $7, $8::boolean, $9::boolean, $10::boolean, "
                                        "ARRAY(SELECT jsonb_array_elements_text($11::jsonb))::uuid[], $12::boolean, "
                                        "$13::boolean, $14, $15, $16::smallint, $17, $18, $19::boolean, $20, $21::boolean, "
                                        "$22, $23::bigint)",
                                        23, pc, NULL);
    free(disputed);
    if (q != 0) {
        db(x);
        goto out;
    }
    json_object_set_new(x->reply, "call_id", json_string(call_id));
    metric_inc(x->rv->m_calls);

    /* 2. a claimed contact that did not happen */
    if (d.fraud_notice && (fraud_notice(x, call_id) != 0 || bulletin(x, call_id, "contact_fraud") != 0))
        goto out;
    /* 3. leads for discipline inspection, where the profile refers them */
    const char *basis = NULL;
    for (int pass = 0; pass < 2; pass++) {
        bool fraud = pass == 0 && d.fraud_notice;
        rvs_fault_t fault = pass == 1 && in->reached ? in->fault : RVS_FAULT_NONE;
        if ((pass == 0 && !fraud) || (pass == 1 && fault == RVS_FAULT_NONE)) continue;
        if (!rvs_referral_due(x->prof, &d, fraud, fault, &basis)) continue;
        char detail[400];
        snprintf(detail, sizeof detail, "诉求编号%s：%s。", x->cs.c.case_no,
                 !strcmp(basis, "contact_fraud") ? "承办单位记录的与企业联系经回访核实并未发生（弄虚作假）"
                 : !strcmp(basis, "buck_passing") ? "二次办理后因承办单位推诿，企业仍不满意"
                 : !strcmp(basis, "perfunctory") ? "二次办理后因承办单位敷衍塞责，企业仍不满意"
                                                 : "二次办理后因承办单位拖延，企业仍不满意");
        if (referral(x, call_id, basis, detail) != 0) goto out;
    }
    if (in->reached && in->declines_meeting) {
        const char *pm[] = {x->cs.c.id, in->who ? pid : NULL};
        if (pg_query(pg,
                     "INSERT INTO meeting_nominations (case_id, mark, note, marked_by) VALUES ($1::uuid, "
                     "'enterprise_declined', '诉求人主动提出不予上会', $2::bigint) ON CONFLICT DO NOTHING",
                     2, pm, NULL) != 0) {
            db(x);
            goto out;
        }
    }

    /* 4. what the call leads to */
    casefsm_role_t role = in->self_rating ? CASEFSM_ROLE_SYSTEM : CASEFSM_ROLE_SUPERVISOR;
    const char *task_outcome = NULL;
    switch (d.outcome) {
    case RVS_OUT_RETRY:
    case RVS_OUT_VERIFY:
        break;
    case RVS_OUT_CLOSE:
        if (close_case(x, role, &d, &rating) != 0) goto out;
        task_outcome = d.close_basis == EVENT_CLOSE_REVISIT_UNREACHABLE ? "unreachable" : "closed";
        break;
    case RVS_OUT_REDO: {
        char note[520];
        snprintf(note, sizeof note, "%s", in->note ? in->note
                                          : d.redo_reason == EVENT_REDO_RESULT_UNTRUE
                                              ? "回访核实办理结果不属实，请重新核查办理并反馈。"
                                              : "企业对办理结果不满意，请重新办理并反馈。");
        if (order_redo(x, role, d.redo_reason, note) != 0 || bulletin(x, call_id, d.bulletin_reason) != 0) goto out;
        task_outcome = "redo";
        break;
    }
    case RVS_OUT_ESCALATE:
        if (escalate(x, call_id, d.redo_reason) != 0 || bulletin(x, call_id, d.bulletin_reason) != 0) goto out;
        task_outcome = "escalated";
        break;
    case RVS_OUT_RECORDED:
        if (d.bulletin && bulletin(x, call_id, d.bulletin_reason) != 0) goto out;
        task_outcome = in->reached ? "recorded" : "unreachable";
        break;
    }
    const char *pt[] = {t->id, task_outcome, d.outcome == RVS_OUT_VERIFY ? "true" : "false"};
    if (pg_query(pg,
                 "UPDATE revisit_tasks SET attempts = attempts + 1, version = version + 1, "
                 "state = CASE WHEN $2::text IS NULL THEN 'open' ELSE 'done' END, outcome = $2, "
                 "done_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, "
                 "contact_disputed = CASE WHEN $2::text IS NULL THEN contact_disputed OR $3::boolean ELSE "
                 "contact_disputed END WHERE id = $1::uuid",
                 3, pt, NULL) != 0) {
        db(x);
        goto out;
    }
    json_t *rating_j = in->reached ? json_pack("{s:s,s:s,s:o,s:b}", "code", codes[rating.code], "label", rating.label,
                                               "level", rating.declined ? json_null() : json_integer(rating.level),
                                               "satisfies", rating.satisfies)
                                   : json_null();
    json_t *summary = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:i,s:i,s:o,s:o,s:o}", "task_id", t->id, "case_id",
                                x->cs.c.id, "case_no", x->cs.c.case_no, "attempt", t->attempts + 1, "outcome",
                                rvs_outcome_str(d.outcome), "case_state", casefsm_state_to_str(x->cs.c.state),
                                "case_version", x->cs.c.version, "task_version", t->version + 1, "satisfaction",
                                rating_j, "contact_verified",
                                in->reached ? json_boolean(f.contact.verified) : json_null(), "fraud",
                                json_boolean(fraud_recorded));
    if (summary == NULL) {
        refuse(x, 500, "internal", NULL, "out of memory");
        goto out;
    }
    json_object_update(x->reply, summary);
    json_decref(summary);
    rc = 0;
out:
    free(disputed_items);
    json_decref(fraud_ids);
    return rc;
}

/* ---- the endpoints ---------------------------------------------------------------------------- */

/* Commits or rolls back what record() did and answers. */
static void finish(rec_t *x, int rc)
{
    http_req_t *req = x->req;
    if (rc == 0 && pg_commit(x->pg) == 0) {
        json_t *reply = x->reply;
        x->reply = NULL;
        http_reply_json(req, 200, reply);
        return;
    }
    pg_rollback(x->pg);
    if (rc == 0 || x->status == 0) {
        rvs_reply_db_error(req, x->pg, "recording the revisit");
    } else if (x->status == 409) {
        json_t *tv = json_object_get(x->reply, "task_version");
        rvs_reply_conflict(req, x->code, x->err, casefsm_state_to_str(x->cs.c.state),
                           tv ? (int)json_integer_value(tv) : x->cs.c.version);
    } else {
        if (x->status >= 500) LOGE("revisit not recorded", LF_STR("req", http_req_id(req)), LF_STR("error", x->err));
        http_reply_error(req, x->status, x->code, x->field, "%s", x->err);
    }
    json_decref(x->reply);
    x->reply = NULL;
}

/* The facts only the enterprise can give, present exactly when it was reached. */
static int check_reached(http_req_t *req, const json_t *body, bool reached, bool self_rating)
{
    static const char *const needed[] = {"contact_confirmed", "result_true", "satisfaction"};
    static const char *const only_reached[] = {"contact_confirmed", "result_true", "satisfaction", "enterprise_words",
                                               "disputed_contact_ids", "unit_fault", "declines_meeting"};
    if (reached) {
        for (size_t i = 0; i < JS_ARRAY_LEN(needed); i++) {
            json_t *v = json_object_get(body, needed[i]);
            if (v == NULL || json_is_null(v)) {
                http_reply_error(req, 400, "missing_field", needed[i], "%s: is required when the enterprise was reached",
                                 needed[i]);
                return -1;
            }
        }
        return 0;
    }
    (void)self_rating;
    for (size_t i = 0; i < JS_ARRAY_LEN(only_reached); i++) {
        json_t *v = json_object_get(body, only_reached[i]);
        if (v != NULL && !json_is_null(v)) {
            http_reply_error(req, 400, "not_allowed", only_reached[i],
                             "%s: only when the enterprise was reached — nobody answers or rates for it",
                             only_reached[i]);
            return -1;
        }
    }
    return 0;
}

void rvs_call_record(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, call_fields, JS_ARRAY_LEN(call_fields), &e) != 0) {
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        json_decref(body);
        return;
    }
    bool reached = rv_bool(body, "reached", false);
    if (check_reached(req, body, reached, false) != 0) {
        json_decref(body);
        return;
    }
    call_in_t in = {
        .task_id = http_req_param(req, 0),
        .version = (int)json_integer_value(json_object_get(body, "version")),
        .who = http_req_principal(req),
        .channel = rv_str(body, "channel", "phone"),
        .reached = reached,
        .contact_confirmed = rv_bool(body, "contact_confirmed", false),
        .result_true = rv_bool(body, "result_true", false),
        .declines_meeting = rv_bool(body, "declines_meeting", false),
        .satisfaction = rv_str(body, "satisfaction", NULL),
        .words = rv_str(body, "enterprise_words", NULL),
        .note = rv_str(body, "note", NULL),
        .disputed = json_object_get(body, "disputed_contact_ids"),
    };
    if (rvs_fault_from_str(rv_str(body, "unit_fault", NULL), &in.fault) != 0) in.fault = RVS_FAULT_NONE;
    rec_t x = {.rv = rv, .pg = rv->pg, .req = req, .in = &in, .reply = json_object()};
    if (pg_begin(rv->pg) != 0) {
        json_decref(x.reply);
        json_decref(body);
        rvs_reply_db_error(req, rv->pg, "recording the revisit");
        return;
    }
    finish(&x, record(&x));
    json_decref(body);
}

static int throttled(revisit_t *rv, http_req_t *req, const char *scope, const char *client, long limit, long window_ms)
{
    long retry = 0;
    ratelimit_rc_t rc = ratelimit_hit(daemon_redis(rv->d), scope, client, limit, window_ms, &retry);
    if (rc != RATELIMIT_DENY) return 0; /* fail open when Redis is away, as intake does */
    char ra[24];
    snprintf(ra, sizeof ra, "%ld", retry);
    http_reply_header(req, "Retry-After", ra);
    http_reply_error(req, 429, "rate_limited", NULL, "too many attempts; retry in %ld s", retry);
    metric_inc(rv->m_throttled);
    return -1;
}

void rvs_self_rating(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    /* per client address; behind a trusted proxy, its X-Forwarded-For (http_req_client) */
    char client[64];
    http_req_client_key(req, client, sizeof client);
    if (throttled(rv, req, "revisit-self", client, rv->cfg->self_rating_per_min, 60000) != 0) return;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, self_fields, JS_ARRAY_LEN(self_fields), &e) != 0) {
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        json_decref(body);
        return;
    }
    const char *case_no = rv_str(body, "case_no", "");
    http_principal_t who;
    bool has_token = false;
    const char *auth = http_req_header(req, "Authorization");
    if (auth != NULL) {
        int arc = strncasecmp(auth, "Bearer ", 7) == 0 && auth[7] ? auth_authn(rv->pg, auth + 7, &who) : 1;
        if (arc != 0) {
            json_decref(body);
            if (arc < 0) http_reply_error(req, 503, "auth_unavailable", NULL, "cannot check credentials right now");
            else http_reply_error(req, 401, "invalid_token", "Authorization", "the token is unknown, revoked or expired");
            return;
        }
        if (who.role != AUTH_ROLE_ENTERPRISE) {
            json_decref(body);
            http_reply_error(req, 403, "forbidden", NULL, "only the enterprise rates its own case");
            return;
        }
        has_token = true;
    }
    const char *code_in = rv_str(body, "tracking_code", NULL);
    if (!has_token && code_in == NULL) {
        json_decref(body);
        http_reply_error(req, 400, "missing_field", "tracking_code",
                         "tracking_code: is required without a token (it was given at registration)");
        return;
    }
    /* A case number's codes are guessed one case at a time, so attempts by code have a budget
     * per case: per case and client, so a stranger (or the unit that knows the number) uses up
     * its own allowance and not the enterprise's, and a higher one per case from everyone
     * together, so many addresses cannot multiply the guesses. With its token an enterprise
     * reaches only cases carrying its own credit code, whatever code it sends: nothing to
     * guess, so no per-case budget, and nobody else's attempts can lock it out. */
    if (!has_token) {
        char case_key[128];
        snprintf(case_key, sizeof case_key, "%s|%s", case_no, client);
        if (throttled(rv, req, "revisit-self-case", case_key, rv->cfg->self_rating_per_case, 3600000) != 0 ||
            throttled(rv, req, "revisit-self-case-all", case_no, rv->cfg->self_rating_case_total_per_hour, 3600000) != 0) {
            json_decref(body);
            return;
        }
    }
    char code[40] = "";
    if (code_in) {
        size_t o = 0;
        for (const char *q = code_in; *q && o + 1 < sizeof code; q++)
            if (!isspace((unsigned char)*q)) code[o++] = (char)toupper((unsigned char)*q);
        code[o] = '\0';
    }
    const char *pa[] = {case_no, code_in ? code : NULL};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT id, coalesce(credit_code, '') FROM cases WHERE case_no = $1 AND "
                 "($2::text IS NULL OR tracking_code_hash = sha256(convert_to($2, 'UTF8')))",
                 2, pa, &r) != 0) {
        json_decref(body);
        rvs_reply_db_error(req, rv->pg, "self-rating");
        return;
    }
    if (PQntuples(r) != 1 || (has_token && strcmp(PQgetvalue(r, 0, 1), who.credit_code) != 0)) {
        PQclear(r);
        json_decref(body);
        /* the same answer for an unknown number and a wrong code: nothing to learn by guessing */
        http_reply_error(req, 404, "not_found", NULL, "no case with this number and tracking code");
        return;
    }
    char case_id[40];
    snprintf(case_id, sizeof case_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    call_in_t in = {
        .case_id = case_id,
        .who = has_token ? &who : NULL,
        .self_rating = true,
        .channel = "online_rating",
        .reached = true,
        .contact_confirmed = rv_bool(body, "contact_confirmed", false),
        .result_true = rv_bool(body, "result_true", false),
        .declines_meeting = rv_bool(body, "declines_meeting", false),
        .satisfaction = rv_str(body, "satisfaction", NULL),
        .words = rv_str(body, "enterprise_words", NULL),
    };
    rec_t x = {.rv = rv, .pg = rv->pg, .req = req, .in = &in, .reply = json_object()};
    if (pg_begin(rv->pg) != 0) {
        json_decref(x.reply);
        json_decref(body);
        rvs_reply_db_error(req, rv->pg, "self-rating");
        return;
    }
    int rc = record(&x);
    if (rc == 0) metric_inc(rv->m_self_ratings);
    finish(&x, rc);
    json_decref(body);
}
