/*
 * unit.c — what a handling unit (承办单位) does with a case it holds: sign for it (签收) or
 * return it with a written reason inside the sign-for window (退件 — never after the centre
 * decided the remit), record each contact with the enterprise (time, channel, person: the
 * evidence the revisit checks), agree the deadline where the profile lets the enterprise agree
 * it, report progress, ask for an extension before the deadline (capped by the profile), and
 * deliver the result — the finding 属实/部分属实/不属实, the measures (at most 2,000
 * characters) and how the enterprise was told. Co-handlers (协办) submit their parts; the lead
 * (牵头) submits one result that combines them, and only once every co-handler's part is in.
 *
 * A unit sees only cases it holds: anything else is 404. Among holders, what only the lead
 * may do is 403 for a co-handler (it knows the case exists).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "deadline.h"
#include "dispatcher.h"
#include "log.h"
#include "reqval.h"

#define FIVE_MINUTES_MS (5 * 60 * 1000)

/* The caller's holder row must be the lead (or, for parts, a co-handler). -1 when answered. */
static int need_role(http_req_t *req, pg_t *pg, const dsp_case_t *c, bool lead, const char *what)
{
    const dsp_holder_t *h = dsp_holder(c, http_req_principal(req)->unit_id);
    if (h && h->lead == lead) return 0;
    pg_rollback(pg);
    http_reply_error(req, 403, "forbidden", NULL, "%s", what);
    return -1;
}

static int version_of(json_t *body) { return (int)json_integer_value(json_object_get(body, "version")); }

/* Does the case have a contact record since it was dispatched (reached only, when asked)? */
static int contacted(pg_t *pg, const dsp_case_t *c, bool reached_only)
{
    char since[40];
    const char *p[] = {c->cur.id, dsp_time(c->dispatched_ms ? c->dispatched_ms : 1, since, sizeof since),
                       reached_only ? "true" : "false"};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT 1 FROM case_contacts WHERE case_id = $1::uuid AND recorded_at >= $2::timestamptz "
                 "AND (reached OR NOT $3::bool) LIMIT 1",
                 3, p, &r) != 0)
        return -1;
    int yes = PQntuples(r) > 0;
    PQclear(r);
    return yes;
}

/* attachment_ids must name attachments of this case. -1 when answered (rolled back). */
static int attachments_ok(http_req_t *req, pg_t *pg, const dsp_case_t *c, json_t *ids, char *lit, size_t litlen)
{
    size_t o = 0, i, n = json_array_size(ids);
    json_t *it;
    o += (size_t)snprintf(lit + o, litlen - o, "{");
    json_array_foreach(ids, i, it) o += (size_t)snprintf(lit + o, litlen - o, "%s%s", i ? "," : "", json_string_value(it));
    snprintf(lit + o, litlen - o, "}");
    if (n == 0) return 0;
    const char *p[] = {c->cur.id, lit};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT count(DISTINCT uid) FROM case_attachments WHERE case_id = $1::uuid AND uid = ANY ($2::uuid[])",
                 2, p, &r) != 0) {
        dsp_fail(req, pg, NULL, "checking attachments");
        return -1;
    }
    size_t found = (size_t)atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (found != n) {
        pg_rollback(pg);
        http_reply_error(req, 422, "unknown_attachment", "attachment_ids",
                         "attachment_ids: %zu of %zu are not attachments of this case (or are listed twice)", n - found, n);
        return -1;
    }
    return 0;
}

static void event_start(event_t *ev, event_type_t t, const dsp_case_t *c, http_req_t *req)
{
    if (event_init(ev, t) != 0) memset(ev, 0, sizeof *ev); /* encode then refuses it: 500 */
    snprintf(ev->case_id, sizeof ev->case_id, "%s", c->cur.id);
    dsp_actor(ev, http_req_principal(req));
}

/* ---- POST /v1/cases/{id}/sign ---------------------------------------------------------------- */

static const rv_field_t sign_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
};

void dsp_h_sign(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    char err[512] = "";
    if (dsp_validate(req, body, sign_fields, JS_ARRAY_LEN(sign_fields)) != 0 ||
        dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_SIGN, &c, &to) != 0 ||
        need_role(req, pg, &c, true, "only the lead unit signs for a case") != 0)
        goto out;
    int64_t now = dsp_now_ms();
    bool within = c.sign_by_ms == 0 || now <= c.sign_by_ms;
    int64_t first_contact_by = 0;
    const policy_t *pol = dsp_profile(ds, pg, c.cur.region_code, err, sizeof err);
    if (pol == NULL && pg->last_class != PG_OK) {
        dsp_fail(req, pg, NULL, "reading the profile");
        goto out;
    }
    if (pol && (pol->first_contact.unit == POLICY_UNIT_WORKING_DAYS || pol->first_contact.unit == POLICY_UNIT_DAYS ||
                pol->first_contact.unit == POLICY_UNIT_HOURS || pol->first_contact.unit == POLICY_UNIT_IMMEDIATE) &&
        dsp_deadline(ds, pol, c.cur.region_code, &pol->first_contact, now, 0, &first_contact_by, err, sizeof err) != 0)
        LOGW("no first-contact deadline", LF_STR("case", c.cur.id), LF_STR("error", err));
    char unit[24];
    snprintf(unit, sizeof unit, "%lld", http_req_principal(req)->unit_id);
    const char *pu[] = {c.cur.id, unit};
    dsp_update_t u = {.set_due = true, .due_ms = c.resolve_by_ms};
    event_t ev;
    if (pg_query(pg,
                 "UPDATE case_units SET signed_at = greatest(now(), assigned_at) WHERE case_id = $1::uuid "
                 "AND unit_id = $2::bigint AND released_at IS NULL",
                 2, pu, NULL) != 0 ||
        dsp_case_update(ds, pg, &c, CASEFSM_STATE_IN_PROGRESS, &u) != 0) {
        dsp_fail(req, pg, NULL, "signing");
        goto out;
    }
    event_start(&ev, EVENT_CASE_SIGNED, &c, req);
    ev.payload.case_signed.unit_id = http_req_principal(req)->unit_id;
    ev.payload.case_signed.within_deadline = within;
    if (first_contact_by)
        dsp_time(first_contact_by, ev.payload.case_signed.first_contact_by, sizeof ev.payload.case_signed.first_contact_by);
    if (c.resolve_by_ms)
        dsp_time(c.resolve_by_ms, ev.payload.case_signed.resolve_by, sizeof ev.payload.case_signed.resolve_by);
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_IN_PROGRESS, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "signing");
        goto out;
    }
    char fc[40], rb[40];
    dsp_finish(ds, req, &c,
               json_pack("{s:b,s:s?,s:s?,s:s}", "within_deadline", within, "first_contact_by",
                         first_contact_by ? dsp_time(first_contact_by, fc, sizeof fc) : NULL, "resolve_by",
                         c.resolve_by_ms ? dsp_time(c.resolve_by_ms, rb, sizeof rb) : NULL, "resolve_window",
                         c.resolve_window));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/return --------------------------------------------------------------- */

static const rv_field_t return_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "reason_code", .type = RV_STR, .required = true, .min = 1, .max = 40, .single_line = true},
    {.name = "reason_text", .type = RV_STR, .required = true, .min = 1, .max = 500},
    {.name = "suggested_unit", .type = RV_STR, .min = 1, .max = 64, .single_line = true, .check = dsp_check_unit_code},
};

void dsp_h_return(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    dsp_unit_ref_t sug = {0};
    char err[512] = "";
    if (dsp_validate(req, body, return_fields, JS_ARRAY_LEN(return_fields)) != 0) goto out;
    int reason = dsp_enum(EVENT_CASE_RETURNED, "reason_code", rv_str(body, "reason_code", ""));
    if (reason == 0) {
        http_reply_error(req, 400, "not_allowed", "reason_code",
                         "reason_code: must be one of not_in_remit, wrong_region, insufficient_information, other");
        goto out;
    }
    if (rv_str(body, "suggested_unit", NULL) &&
        dsp_resolve_unit(pg, req, "suggested_unit", rv_str(body, "suggested_unit", ""), &sug) != 0)
        goto out;
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_RETURN, &c, &to) != 0 ||
        need_role(req, pg, &c, true, "only the lead unit may return a case") != 0)
        goto out;
    if (c.remit_ms) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "remit_decided",
                           "the centre has decided that your unit handles this case (确责); it can no longer be returned");
        goto out;
    }
    char sb[40];
    if (c.sign_by_ms && dsp_now_ms() > c.sign_by_ms) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "window_closed", "the sign-for window closed at %s; sign for the case or escalate it",
                           dsp_time(c.sign_by_ms, sb, sizeof sb));
        goto out;
    }
    dsp_update_t u = {.set_lead = true, .lead = 0, .set_due = true, .due_ms = 0};
    event_t ev;
    if (dsp_release_all(ds, pg, &c, "returned") != 0 || dsp_case_update(ds, pg, &c, CASEFSM_STATE_ACCEPTED, &u) != 0) {
        dsp_fail(req, pg, NULL, "return");
        goto out;
    }
    event_start(&ev, EVENT_CASE_RETURNED, &c, req);
    ev.payload.case_returned.unit_id = http_req_principal(req)->unit_id;
    ev.payload.case_returned.reason_code = (event_return_reason_t)reason;
    ev.payload.case_returned.reason_text = (char *)rv_str(body, "reason_text", "");
    ev.payload.case_returned.suggested_unit_id = sug.id;
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_ACCEPTED, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "return");
        goto out;
    }
    c.returns++;
    /* Returned more than once, the remit is disputed: the centre decides it (确责). */
    dsp_enqueue(&c, c.returns >= 2 ? "disputed" : "returned", rv_str(body, "reason_code", ""));
    c.sign_by_ms = c.resolve_by_ms = 0;
    if (dsp_state_save(ds, pg, &c) != 0) {
        dsp_fail(req, pg, NULL, "return");
        goto out;
    }
    dsp_finish(ds, req, &c, json_pack("{s:s,s:i}", "queue", c.queue, "returns", c.returns));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/contact --------------------------------------------------------------- */

static const rv_field_t contact_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "contacted_at", .type = RV_STR, .required = true, .min = 1, .max = 40, .single_line = true,
     .check = dsp_check_time},
    {.name = "channel", .type = RV_STR, .required = true, .min = 1, .max = 20, .single_line = true},
    {.name = "person", .type = RV_STR, .required = true, .min = 1, .max = 50, .single_line = true},
    {.name = "phone", .type = RV_STR, .min = 3, .max = 32, .single_line = true, .check = dsp_check_phone},
    {.name = "reached", .type = RV_BOOL, .required = true},
    {.name = "note", .type = RV_STR, .min = 1, .max = 500},
};

void dsp_h_contact(http_req_t *req, void *arg)
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
    if (dsp_validate(req, body, contact_fields, JS_ARRAY_LEN(contact_fields)) != 0) goto out;
    int channel = dsp_enum(EVENT_CASE_CONTACT_RECORDED, "channel", rv_str(body, "channel", ""));
    if (channel == 0) {
        http_reply_error(req, 400, "not_allowed", "channel",
                         "channel: must be one of phone, sms, in_person, field_visit, video, online_message, email");
        goto out;
    }
    int64_t at = dsp_parse_time(rv_str(body, "contacted_at", ""));
    if (at > dsp_now_ms() + FIVE_MINUTES_MS) {
        http_reply_error(req, 422, "in_the_future", "contacted_at", "contacted_at: a contact cannot be recorded before it happens");
        goto out;
    }
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_RECORD_CONTACT, &c, &to) != 0)
        goto out;
    if (c.dispatched_ms && at < c.dispatched_ms - FIVE_MINUTES_MS) {
        pg_rollback(pg);
        http_reply_error(req, 422, "too_early", "contacted_at", "contacted_at: before the case was dispatched to your unit");
        goto out;
    }
    int before = contacted(pg, &c, false);
    if (before < 0) {
        dsp_fail(req, pg, NULL, "reading contacts");
        goto out;
    }
    char unit[24], staff[24], atbuf[40];
    snprintf(unit, sizeof unit, "%lld", p->unit_id);
    snprintf(staff, sizeof staff, "%lld", p->id);
    bool reached = rv_bool(body, "reached", false);
    const char *pi[] = {c.cur.id,
                        unit,
                        staff,
                        dsp_time(at, atbuf, sizeof atbuf),
                        rv_str(body, "channel", ""),
                        rv_str(body, "person", ""),
                        rv_str(body, "phone", NULL),
                        reached ? "true" : "false",
                        before ? "false" : "true",
                        rv_str(body, "note", NULL)};
    if (pg_query(pg,
                 "INSERT INTO case_contacts (case_id, unit_id, staff_principal_id, contacted_at, channel, person, "
                 "phone, reached, first_contact, note) VALUES ($1::uuid, $2::bigint, $3::bigint, $4::timestamptz, $5, "
                 "$6, $7, $8::bool, $9::bool, $10) RETURNING id",
                 10, pi, &r) != 0) {
        dsp_fail(req, pg, NULL, "recording the contact");
        goto out;
    }
    char rec[EVENT_UUID_SIZE];
    snprintf(rec, sizeof rec, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    event_t ev;
    if (dsp_case_update(ds, pg, &c, CASEFSM_STATE_IN_PROGRESS, NULL) != 0) {
        dsp_fail(req, pg, NULL, "recording the contact");
        goto out;
    }
    event_start(&ev, EVENT_CASE_CONTACT_RECORDED, &c, req);
    event_case_contact_recorded_t *e = &ev.payload.case_contact_recorded;
    e->unit_id = p->unit_id;
    snprintf(e->contact_record_id, sizeof e->contact_record_id, "%s", rec);
    snprintf(e->contacted_at, sizeof e->contacted_at, "%.35s", atbuf);
    e->channel = (event_contact_channel_t)channel;
    e->staff_principal_id = p->id;
    e->reached = reached;
    e->first_contact = !before;
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_IN_PROGRESS, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "recording the contact");
        goto out;
    }
    dsp_finish(ds, req, &c, json_pack("{s:s,s:b}", "contact_record_id", rec, "first_contact", !before));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/agree-deadline ----------------------------------------------------------- */

static const char *const agree_bases[] = {"enterprise_agreement", "handling_plan", NULL};
static const rv_field_t agree_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "resolve_by", .type = RV_STR, .required = true, .min = 1, .max = 40, .single_line = true,
     .check = dsp_check_time},
    {.name = "basis", .type = RV_STR, .required = true, .values = agree_bases},
    {.name = "note", .type = RV_STR, .min = 1, .max = 500},
};

void dsp_h_agree_deadline(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    char err[512] = "";
    if (dsp_validate(req, body, agree_fields, JS_ARRAY_LEN(agree_fields)) != 0) goto out;
    int64_t now = dsp_now_ms(), due = dsp_parse_time(rv_str(body, "resolve_by", ""));
    if (due <= now || due > now + 366LL * 86400000) {
        http_reply_error(req, 422, "out_of_range", "resolve_by", "resolve_by: must lie in the coming year");
        goto out;
    }
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_AGREE_DEADLINE, &c, &to) != 0 ||
        need_role(req, pg, &c, true, "only the lead unit agrees the deadline") != 0)
        goto out;
    const policy_t *pol = dsp_profile(ds, pg, c.cur.region_code, err, sizeof err);
    if (pol == NULL) {
        dsp_fail(req, pg, NULL, "reading the profile");
        goto out;
    }
    policy_kind_t kind;
    policy_complexity_t cx;
    if (policy_kind_from_str(c.cur.kind, &kind) != 0) kind = POLICY_KIND_COMPLAINT;
    if (policy_complexity_from_str(c.complexity, &cx) != 0) cx = POLICY_COMPLEXITY_GENERAL;
    const policy_window_t *w = policy_window_for(pol, kind, cx);
    if (w == NULL || w->unit != POLICY_UNIT_AGREED) {
        char wb[48] = "none";
        if (w) policy_window_format(w, wb, sizeof wb);
        pg_rollback(pg);
        http_reply_error(req, 422, "not_agreed", "resolve_by",
                         "resolve_by: the %s profile sets %s for a %s %s case; its deadline is not agreed with the "
                         "enterprise",
                         pol->name, wb, c.complexity, c.cur.kind);
        goto out;
    }
    bool with_enterprise = !strcmp(rv_str(body, "basis", ""), "enterprise_agreement");
    if (with_enterprise) {
        int yes = contacted(pg, &c, true);
        if (yes < 0) {
            dsp_fail(req, pg, NULL, "reading contacts");
            goto out;
        }
        if (!yes) {
            pg_rollback(pg);
            dsp_reply_conflict(req, &c, "contact_first",
                               "record the contact in which the enterprise agreed the deadline first");
            goto out;
        }
    }
    /* Kept as working days from today, so that an extension counts in the same unit. */
    int n = 0;
    if (calendar_count_working_days(ds->cal, c.cur.region_code, deadline_local_day(now), deadline_local_day(due), &n,
                                    err, sizeof err) == 0 && n >= 1)
        snprintf(c.resolve_window, sizeof c.resolve_window, "%dwd", n);
    else
        snprintf(c.resolve_window, sizeof c.resolve_window, "agreed");
    dsp_update_t u = {.set_due = true, .due_ms = due};
    event_t ev;
    if (dsp_case_update(ds, pg, &c, CASEFSM_STATE_IN_PROGRESS, &u) != 0) {
        dsp_fail(req, pg, NULL, "agreeing the deadline");
        goto out;
    }
    event_start(&ev, EVENT_CASE_DEADLINE_AGREED, &c, req);
    ev.payload.case_deadline_agreed.unit_id = http_req_principal(req)->unit_id;
    dsp_time(due, ev.payload.case_deadline_agreed.resolve_by, sizeof ev.payload.case_deadline_agreed.resolve_by);
    ev.payload.case_deadline_agreed.basis = with_enterprise ? EVENT_DEADLINE_ENTERPRISE_AGREEMENT : EVENT_DEADLINE_HANDLING_PLAN;
    ev.payload.case_deadline_agreed.note = (char *)rv_str(body, "note", NULL);
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_IN_PROGRESS, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "agreeing the deadline");
        goto out;
    }
    c.resolve_by_ms = due;
    c.agreed_ms = now;
    c.ext_granted = c.ext_count = 0;
    if (dsp_state_save(ds, pg, &c) != 0) {
        dsp_fail(req, pg, NULL, "agreeing the deadline");
        goto out;
    }
    char rb[40];
    dsp_finish(ds, req, &c, json_pack("{s:s,s:s}", "resolve_by", dsp_time(due, rb, sizeof rb), "resolve_window", c.resolve_window));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/progress ----------------------------------------------------------------- */

static const rv_field_t progress_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "note", .type = RV_STR, .required = true, .min = 1, .max = 1000},
    {.name = "next_report_by", .type = RV_STR, .min = 1, .max = 40, .single_line = true, .check = dsp_check_time},
};

void dsp_h_progress(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    char err[512] = "";
    if (dsp_validate(req, body, progress_fields, JS_ARRAY_LEN(progress_fields)) != 0) goto out;
    int64_t next = dsp_parse_time(rv_str(body, "next_report_by", NULL));
    if (rv_str(body, "next_report_by", NULL) && next <= dsp_now_ms()) {
        http_reply_error(req, 422, "out_of_range", "next_report_by", "next_report_by: must be in the future");
        goto out;
    }
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_NOTE_PROGRESS, &c, &to) != 0 ||
        need_role(req, pg, &c, true, "progress is reported by the lead unit; co-handlers submit parts") != 0)
        goto out;
    event_t ev;
    if (dsp_case_update(ds, pg, &c, CASEFSM_STATE_IN_PROGRESS, NULL) != 0) {
        dsp_fail(req, pg, NULL, "progress");
        goto out;
    }
    event_start(&ev, EVENT_CASE_PROGRESS_NOTED, &c, req);
    ev.payload.case_progress_noted.unit_id = http_req_principal(req)->unit_id;
    ev.payload.case_progress_noted.note = (char *)rv_str(body, "note", "");
    if (next) dsp_time(next, ev.payload.case_progress_noted.next_report_by, sizeof ev.payload.case_progress_noted.next_report_by);
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_IN_PROGRESS, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "progress");
        goto out;
    }
    dsp_finish(ds, req, &c, NULL);
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/extension-request --------------------------------------------------------- */

static const rv_field_t ext_request_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "extend_by", .type = RV_INT, .required = true, .min = 1, .max = 100},
    {.name = "reason_text", .type = RV_STR, .required = true, .min = 1, .max = 500},
    {.name = "enterprise_informed", .type = RV_BOOL, .required = true},
};

static const char *window_unit_word(const policy_window_t *w)
{
    policy_unit_t u = w->unit == POLICY_UNIT_IMMEDIATE ? w->else_unit : w->unit;
    return u == POLICY_UNIT_WORKING_DAYS ? "working_days" : u == POLICY_UNIT_DAYS ? "days" : "hours";
}

void dsp_h_extension_request(http_req_t *req, void *arg)
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
    if (dsp_validate(req, body, ext_request_fields, JS_ARRAY_LEN(ext_request_fields)) != 0) goto out;
    int extend_by = (int)json_integer_value(json_object_get(body, "extend_by"));
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_REQUEST_EXTENSION, &c, &to) != 0 ||
        need_role(req, pg, &c, true, "only the lead unit asks for an extension") != 0)
        goto out;
    int64_t now = dsp_now_ms();
    if (c.due_ms == 0) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "no_deadline", "no resolve-by deadline is in force yet (agree it with the enterprise first)");
        goto out;
    }
    const policy_t *pol = dsp_profile(ds, pg, c.cur.region_code, err, sizeof err);
    if (pol == NULL) {
        dsp_fail(req, pg, NULL, "reading the profile");
        goto out;
    }
    char db[40];
    if (pol->extension_ask_before_due && now > c.due_ms) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "past_due", "extensions are asked before the deadline (%s), not after",
                           dsp_time(c.due_ms, db, sizeof db));
        goto out;
    }
    const char *pc[] = {c.cur.id};
    if (pg_query(pg, "SELECT request_id FROM case_extensions WHERE case_id = $1::uuid AND decision IS NULL", 1, pc, &r) != 0) {
        dsp_fail(req, pg, NULL, "reading requests");
        goto out;
    }
    int pending = PQntuples(r) > 0;
    PQclear(r);
    r = NULL;
    if (pending) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "pending", "an extension request of this case waits for the centre's decision");
        goto out;
    }
    policy_window_t orig;
    int64_t requested = 0;
    if (policy_window_parse(c.resolve_window, &orig, err, sizeof err) != 0 || orig.unit == POLICY_UNIT_AGREED ||
        policy_extension_check(pol, &orig, c.ext_granted, c.ext_count, extend_by, err, sizeof err) != 0 ||
        dsp_deadline(ds, pol, c.cur.region_code, &orig, c.agreed_ms ? c.agreed_ms : c.dispatched_ms,
                     c.ext_granted + extend_by, &requested, err, sizeof err) != 0) {
        pg_rollback(pg);
        http_reply_error(req, 422, "not_allowed", "extend_by", "extend_by: %s", err[0] ? err : "cannot be counted");
        goto out;
    }
    if (requested <= c.due_ms) {
        pg_rollback(pg);
        http_reply_error(req, 422, "not_allowed", "extend_by", "extend_by: does not move the deadline in force");
        goto out;
    }
    char rid[EVENT_UUID_SIZE], unit[24], who[24], ext[16], cd[40], rd[40];
    if (event_uuid_new(rid) != 0) {
        dsp_fail(req, pg, NULL, "extension request");
        goto out;
    }
    snprintf(unit, sizeof unit, "%lld", p->unit_id);
    snprintf(who, sizeof who, "%lld", p->id);
    snprintf(ext, sizeof ext, "%d", extend_by);
    bool informed = rv_bool(body, "enterprise_informed", false);
    const char *pi[] = {rid, c.cur.id, unit, who, dsp_time(c.due_ms, cd, sizeof cd), dsp_time(requested, rd, sizeof rd), ext,
                        rv_str(body, "reason_text", ""), informed ? "true" : "false"};
    event_t ev;
    if (pg_query(pg,
                 "INSERT INTO case_extensions (request_id, case_id, unit_id, requested_by, current_due_at, "
                 "requested_due_at, extend_by, reason_text, enterprise_informed) VALUES ($1::uuid, $2::uuid, "
                 "$3::bigint, $4::bigint, $5::timestamptz, $6::timestamptz, $7::int, $8, $9::bool)",
                 9, pi, NULL) != 0 ||
        dsp_case_update(ds, pg, &c, CASEFSM_STATE_IN_PROGRESS, NULL) != 0) {
        dsp_fail(req, pg, NULL, "extension request");
        goto out;
    }
    event_start(&ev, EVENT_CASE_EXTENSION_REQUESTED, &c, req);
    event_case_extension_requested_t *e = &ev.payload.case_extension_requested;
    e->unit_id = p->unit_id;
    snprintf(e->request_id, sizeof e->request_id, "%s", rid);
    snprintf(e->current_due_at, sizeof e->current_due_at, "%.35s", cd);
    snprintf(e->requested_due_at, sizeof e->requested_due_at, "%.35s", rd);
    e->reason_text = (char *)rv_str(body, "reason_text", "");
    e->enterprise_informed = informed;
    if (dsp_record(pg, &c, &ev, CASEFSM_STATE_IN_PROGRESS, err, sizeof err) != 0) {
        dsp_fail(req, pg, err, "extension request");
        goto out;
    }
    dsp_finish(ds, req, &c,
               json_pack("{s:s,s:s,s:s,s:i,s:s}", "request_id", rid, "current_due_at", cd, "requested_due_at", rd,
                         "extend_by", extend_by, "unit", window_unit_word(&orig)));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/part ------------------------------------------------------------------------ */

static const rv_field_t part_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "summary", .type = RV_STR, .required = true, .min = 1, .max = 2000},
    {.name = "attachment_ids", .type = RV_ARRAY, .min = 0, .max = 20, .items = RV_STR, .single_line = true,
     .check = dsp_check_uuid},
};

void dsp_h_part(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    PGresult *r = NULL;
    char err[512] = "", lit[20 * 40 + 4];
    if (dsp_validate(req, body, part_fields, JS_ARRAY_LEN(part_fields)) != 0 ||
        dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_SUBMIT_PART, &c, &to) != 0 ||
        need_role(req, pg, &c, false, "the lead unit submits the result; parts come from co-handlers") != 0 ||
        attachments_ok(req, pg, &c, json_object_get(body, "attachment_ids"), lit, sizeof lit) != 0)
        goto out;
    int round = dsp_handling_round(pg, &c);
    if (round < 0) {
        dsp_fail(req, pg, NULL, "part");
        goto out;
    }
    char unit[24], lead[24], rs[16], who[24];
    snprintf(unit, sizeof unit, "%lld", p->unit_id);
    snprintf(lead, sizeof lead, "%lld", c.cur.lead_unit_id);
    snprintf(rs, sizeof rs, "%d", round);
    snprintf(who, sizeof who, "%lld", p->id);
    const char *pi[] = {c.cur.id, unit, lead, rs, rv_str(body, "summary", ""), lit, who};
    if (pg_query(pg,
                 "INSERT INTO case_parts (case_id, unit_id, lead_unit_id, handling_round, summary, attachment_ids, "
                 "submitted_by) VALUES ($1::uuid, $2::bigint, $3::bigint, $4::int, $5, $6::uuid[], $7::bigint) "
                 "RETURNING id",
                 7, pi, &r) != 0) {
        dsp_fail(req, pg, NULL, "part");
        goto out;
    }
    char part[EVENT_UUID_SIZE];
    snprintf(part, sizeof part, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    event_t ev;
    if (dsp_case_update(ds, pg, &c, CASEFSM_STATE_IN_PROGRESS, NULL) != 0) {
        dsp_fail(req, pg, NULL, "part");
        goto out;
    }
    json_t *ids = json_object_get(body, "attachment_ids");
    char (*att)[EVENT_UUID_SIZE] = calloc(json_array_size(ids) + 1, EVENT_UUID_SIZE);
    if (att == NULL) {
        dsp_fail(req, pg, NULL, "part");
        goto out;
    }
    size_t i;
    json_t *it;
    json_array_foreach(ids, i, it) snprintf(att[i], EVENT_UUID_SIZE, "%s", json_string_value(it));
    event_start(&ev, EVENT_CASE_PART_SUBMITTED, &c, req);
    event_case_part_submitted_t *e = &ev.payload.case_part_submitted;
    e->unit_id = p->unit_id;
    e->lead_unit_id = c.cur.lead_unit_id;
    e->summary = (char *)rv_str(body, "summary", "");
    e->attachment_ids = (event_uuid_list_t){att, json_array_size(ids)};
    int rc = dsp_record(pg, &c, &ev, CASEFSM_STATE_IN_PROGRESS, err, sizeof err);
    free(att);
    if (rc != 0) {
        dsp_fail(req, pg, err, "part");
        goto out;
    }
    dsp_finish(ds, req, &c, json_pack("{s:s,s:i}", "part_id", part, "handling_round", round));
out:
    json_decref(body);
}

/* ---- POST /v1/cases/{id}/result ------------------------------------------------------------------------ */

static const char *const findings[] = {"true", "partly_true", "untrue", NULL};
static const rv_field_t result_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "finding", .type = RV_STR, .required = true, .values = findings},
    {.name = "measures", .type = RV_STR, .required = true, .min = 1, .max = 2000},
    {.name = "how_told", .type = RV_STR, .required = true, .min = 1, .max = 20, .single_line = true},
    {.name = "told_at", .type = RV_STR, .required = true, .min = 1, .max = 40, .single_line = true,
     .check = dsp_check_time},
    {.name = "attachment_ids", .type = RV_ARRAY, .min = 0, .max = 20, .items = RV_STR, .single_line = true,
     .check = dsp_check_uuid},
    {.name = "handler_name", .type = RV_STR, .min = 1, .max = 50, .single_line = true},
    {.name = "handler_phone", .type = RV_STR, .min = 3, .max = 32, .single_line = true, .check = dsp_check_phone},
};

void dsp_h_result(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    dsp_case_t c;
    casefsm_state_t to;
    PGresult *r = NULL;
    char err[512] = "", lit[20 * 40 + 4];
    if (dsp_validate(req, body, result_fields, JS_ARRAY_LEN(result_fields)) != 0) goto out;
    int how = dsp_enum(EVENT_CASE_RESULT_SUBMITTED, "how_told", rv_str(body, "how_told", ""));
    if (how == 0) {
        http_reply_error(req, 400, "not_allowed", "how_told",
                         "how_told: must be one of phone, sms, in_person, letter, online, email");
        goto out;
    }
    int64_t now = dsp_now_ms(), told = dsp_parse_time(rv_str(body, "told_at", ""));
    if (told > now + FIVE_MINUTES_MS) {
        http_reply_error(req, 422, "in_the_future", "told_at", "told_at: the enterprise cannot have been told in the future");
        goto out;
    }
    if (dsp_begin_action(ds, req, http_req_param(req, 0), version_of(body), CASEFSM_ACTION_SUBMIT_RESULT, &c, &to) != 0 ||
        need_role(req, pg, &c, true, "the result is submitted by the lead unit; co-handlers submit parts") != 0 ||
        attachments_ok(req, pg, &c, json_object_get(body, "attachment_ids"), lit, sizeof lit) != 0)
        goto out;
    if (c.dispatched_ms && told < c.dispatched_ms - FIVE_MINUTES_MS) {
        pg_rollback(pg);
        http_reply_error(req, 422, "too_early", "told_at", "told_at: before the case was dispatched to your unit");
        goto out;
    }
    int yes = contacted(pg, &c, false);
    if (yes <= 0) {
        if (yes < 0) dsp_fail(req, pg, NULL, "reading contacts");
        else {
            pg_rollback(pg);
            dsp_reply_conflict(req, &c, "contact_first", "no contact with the enterprise is on record for this case");
        }
        goto out;
    }
    int round = dsp_handling_round(pg, &c);
    char rs[16];
    snprintf(rs, sizeof rs, "%d", round);
    const char *pp[] = {c.cur.id, rs};
    /* Every co-handler's latest part of this round: the result combines them. */
    if (round < 0 ||
        pg_query(pg,
                 "SELECT cu.unit_id, u.code, (SELECT p.id FROM case_parts p WHERE p.case_id = cu.case_id "
                 "AND p.unit_id = cu.unit_id AND p.handling_round = $2::int ORDER BY p.submitted_at DESC LIMIT 1) "
                 "FROM case_units cu JOIN units u ON u.id = cu.unit_id WHERE cu.case_id = $1::uuid "
                 "AND cu.role = 'co' AND cu.released_at IS NULL ORDER BY cu.id",
                 2, pp, &r) != 0) {
        dsp_fail(req, pg, NULL, "reading parts");
        goto out;
    }
    char missing[512] = "", parts[24 * 40 + 4] = "{";
    size_t mo = 0, po = 1;
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetisnull(r, i, 2)) {
            if (mo < sizeof missing - 80)
                mo += (size_t)snprintf(missing + mo, sizeof missing - mo, "%s%s", mo ? ", " : "", PQgetvalue(r, i, 1));
        } else if (po < sizeof parts - 40) {
            po += (size_t)snprintf(parts + po, sizeof parts - po, "%s%s", po > 1 ? "," : "", PQgetvalue(r, i, 2));
        }
    }
    snprintf(parts + po, sizeof parts - po, "}");
    PQclear(r);
    if (missing[0]) {
        pg_rollback(pg);
        dsp_reply_conflict(req, &c, "parts_missing", "the co-handlers' parts are not all in: waiting for %s", missing);
        goto out;
    }
    bool within = c.due_ms == 0 || now <= c.due_ms;
    int64_t revisit_by = 0;
    const policy_t *pol = dsp_profile(ds, pg, c.cur.region_code, err, sizeof err);
    if (pol == NULL && pg->last_class != PG_OK) {
        dsp_fail(req, pg, NULL, "reading the profile");
        goto out;
    }
    if (pol && (pol->revisit.unit == POLICY_UNIT_WORKING_DAYS || pol->revisit.unit == POLICY_UNIT_DAYS ||
                pol->revisit.unit == POLICY_UNIT_HOURS) &&
        dsp_deadline(ds, pol, c.cur.region_code, &pol->revisit, now, 0, &revisit_by, err, sizeof err) != 0)
        LOGW("no revisit deadline", LF_STR("case", c.cur.id), LF_STR("error", err));
    char unit[24], who[24], tb[40];
    snprintf(unit, sizeof unit, "%lld", p->unit_id);
    snprintf(who, sizeof who, "%lld", p->id);
    const char *pi[] = {c.cur.id, rs, unit, rv_str(body, "finding", ""), rv_str(body, "measures", ""),
                        rv_str(body, "how_told", ""), dsp_time(told, tb, sizeof tb), within ? "true" : "false", parts,
                        lit, who, rv_str(body, "handler_name", NULL), rv_str(body, "handler_phone", NULL)};
    dsp_update_t u = {.set_due = true, .due_ms = 0};
    if (pg_query(pg,
                 "INSERT INTO case_results (case_id, handling_round, unit_id, finding, measures, how_told, told_at, "
                 "within_deadline, part_ids, attachment_ids, submitted_by, handler_name, handler_phone) VALUES "
                 "($1::uuid, $2::int, $3::bigint, $4, $5, $6, $7::timestamptz, $8::bool, $9::uuid[], $10::uuid[], "
                 "$11::bigint, $12, $13)",
                 13, pi, NULL) != 0 ||
        dsp_case_update(ds, pg, &c, CASEFSM_STATE_RESOLVED, &u) != 0) {
        dsp_fail(req, pg, NULL, "result");
        goto out;
    }
    json_t *ids = json_object_get(body, "attachment_ids");
    char (*att)[EVENT_UUID_SIZE] = calloc(json_array_size(ids) + 1, EVENT_UUID_SIZE);
    if (att == NULL) {
        dsp_fail(req, pg, NULL, "result");
        goto out;
    }
    size_t i;
    json_t *it;
    json_array_foreach(ids, i, it) snprintf(att[i], EVENT_UUID_SIZE, "%s", json_string_value(it));
    event_t ev;
    event_start(&ev, EVENT_CASE_RESULT_SUBMITTED, &c, req);
    event_case_result_submitted_t *e = &ev.payload.case_result_submitted;
    e->unit_id = p->unit_id;
    e->handling_round = round;
    e->finding = (event_finding_t)dsp_enum(EVENT_CASE_RESULT_SUBMITTED, "finding", rv_str(body, "finding", ""));
    e->measures = (char *)rv_str(body, "measures", "");
    e->how_told = (event_how_told_t)how;
    snprintf(e->told_at, sizeof e->told_at, "%.35s", tb);
    e->within_deadline = within;
    e->attachment_ids = (event_uuid_list_t){att, json_array_size(ids)};
    if (revisit_by) dsp_time(revisit_by, e->revisit_by, sizeof e->revisit_by);
    int rc = dsp_record(pg, &c, &ev, CASEFSM_STATE_RESOLVED, err, sizeof err);
    free(att);
    if (rc != 0) {
        dsp_fail(req, pg, err, "result");
        goto out;
    }
    c.handling_round = round;
    if (dsp_state_save(ds, pg, &c) != 0) {
        dsp_fail(req, pg, NULL, "result");
        goto out;
    }
    json_t *pj = json_array();
    for (char *s = parts + 1; *s && *s != '}';) {
        char id[EVENT_UUID_SIZE];
        snprintf(id, sizeof id, "%.36s", s);
        json_array_append_new(pj, json_string(id));
        s += 36;
        if (*s == ',') s++;
    }
    char rv[40];
    dsp_finish(ds, req, &c,
               json_pack("{s:b,s:i,s:o,s:s?}", "within_deadline", within, "handling_round", round, "parts", pj,
                         "revisit_by", revisit_by ? dsp_time(revisit_by, rv, sizeof rv) : NULL));
out:
    json_decref(body);
}
