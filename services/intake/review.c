/*
 * review.c — the intake agents' side of scope review (受理审核): the queue of appeals waiting
 * for a decision in the agent's region, and the decision itself — accept, refuse with a
 * reason code and text the enterprise is told, or answer at once (consultations and help
 * requests), or undo a wrong duplicate link (the appeal then waits for review as a case of
 * its own). Decisions go through the case state machine with optimistic concurrency: two
 * agents deciding one case at once → one wins, the other gets 409 with the current state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "casestore.h"
#include "intake.h"
#include "log.h"
#include "reqval.h"

/* detail is stolen. */
static void audit_read(intake_t *in, const http_principal_t *p, const char *object, json_t *detail)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%lld", p->id);
    char *d = json_dumps(detail, JSON_COMPACT);
    const char *pa[] = {pid, object, d};
    if (d == NULL || pg_query(in->pg, "INSERT INTO audit_log (principal_id, action, object, detail) "
                                      "VALUES ($1::bigint, 'case.read', $2, $3::jsonb)", 3, pa, NULL) != 0)
        LOGW("audit write failed", LF_STR("error", in->pg->err));
    free(d);
    json_decref(detail);
}

void intake_review_queue(http_req_t *req, void *arg)
{
    intake_t *in = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *kind = http_req_query(req, "kind");
    const char *lim = http_req_query(req, "limit");
    int limit = lim ? atoi(lim) : 50;
    if (limit < 1 || limit > 500) {
        http_reply_error(req, 400, "out_of_range", "limit", "limit: between 1 and 500");
        return;
    }
    if (kind && !intake_enum(EVENT_CASE_RECEIVED, "kind", kind)) {
        http_reply_error(req, 400, "not_allowed", "kind", "kind: consultation, help, complaint, report or suggestion");
        return;
    }
    if (p->region_code[0] == '\0') {
        http_reply_error(req, 403, "forbidden", NULL, "your principal has no region");
        return;
    }
    /* the agent's region and below, as an IN list the index on region_code serves */
    json_t *codes = intake_regions_subtree(in->regions, p->region_code);
    char *codes_txt = codes ? json_dumps(codes, JSON_COMPACT) : NULL;
    json_decref(codes);
    if (codes_txt == NULL) {
        http_reply_oom(req);
        return;
    }
    char lims[16];
    snprintf(lims, sizeof lims, "%d", limit);
    const char *pa[] = {codes_txt, kind, lims};
    PGresult *r = NULL;
    if (pg_query(in->pg,
                 "SELECT id, case_no, version, region_code, kind, channel, enterprise_name, credit_code, "
                 "contact_name, contact_phone, summary, " PG_RFC3339("received_at") ", coalesce(review_hints::text, '{}'), "
                 "confidential FROM cases WHERE state = 'received' AND closed_at IS NULL AND "
                 "region_code IN (SELECT json_array_elements_text($1::json)) "
                 "AND ($2::text IS NULL OR kind = $2) ORDER BY received_at LIMIT $3::int",
                 3, pa, &r) != 0) {
        free(codes_txt);
        intake_reply_db_error(req, in->pg, "review queue");
        return;
    }
    json_t *items = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *it = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:b}", "case_id",
                               PQgetvalue(r, i, 0), "case_no", PQgetvalue(r, i, 1), "version",
                               atoi(PQgetvalue(r, i, 2)), "region_code", PQgetvalue(r, i, 3), "kind",
                               PQgetvalue(r, i, 4), "channel", PQgetvalue(r, i, 5), "enterprise_name",
                               PQgetvalue(r, i, 6), "credit_code", PQgetvalue(r, i, 7), "contact_name",
                               PQgetvalue(r, i, 8), "contact_phone", PQgetvalue(r, i, 9), "summary",
                               PQgetvalue(r, i, 10), "received_at", PQgetvalue(r, i, 11), "hints",
                               json_loads(PQgetvalue(r, i, 12), 0, NULL), "confidential",
                               PQgetvalue(r, i, 13)[0] == 't');
        if (it) json_array_append_new(items, it);
        json_array_append_new(ids, json_string(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
    free(codes_txt);
    char obj[48];
    snprintf(obj, sizeof obj, "review_queue:%s", p->region_code);
    audit_read(in, p, obj, json_pack("{s:o}", "cases", ids));
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

static const char *const review_actions[] = {"accept", "reject", "answer", "unlink", NULL};
static rv_field_t review_fields[] = {
    {.name = "version", .type = RV_INT, .required = true, .min = 1, .max = 1000000000},
    {.name = "action", .type = RV_STR, .required = true, .values = review_actions},
    {.name = "complexity", .type = RV_STR},
    {.name = "matter_type", .type = RV_STR, .min = 1, .max = 64, .single_line = true},
    {.name = "note", .type = RV_STR, .min = 1, .max = 500},
    {.name = "reason_code", .type = RV_STR},
    {.name = "reason_text", .type = RV_STR, .min = 1, .max = 500},
    {.name = "answer_summary", .type = RV_STR, .min = 1, .max = 2000},
    {.name = "how_told", .type = RV_STR},
};

static int enum_field(http_req_t *req, json_t *body, const char *name, event_type_t t, int required, int *out)
{
    const char *s = rv_str(body, name, NULL);
    *out = s ? intake_enum(t, name, s) : 0;
    if ((s && *out == 0) || (required && s == NULL)) {
        http_reply_error(req, 400, s ? "not_allowed" : "missing_field", name, "%s: %s", name,
                         s ? "is not one of the contract's values" : "is required for this action");
        return -1;
    }
    return 0;
}

void intake_review_decide(http_req_t *req, void *arg)
{
    intake_t *in = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *case_id = http_req_param(req, 0);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, review_fields, JS_ARRAY_LEN(review_fields), &e) != 0) {
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        json_decref(body);
        return;
    }
    const char *act = rv_str(body, "action", "");
    casefsm_action_t action = !strcmp(act, "accept")   ? CASEFSM_ACTION_ACCEPT
                              : !strcmp(act, "reject") ? CASEFSM_ACTION_REJECT
                              : !strcmp(act, "unlink") ? CASEFSM_ACTION_UNLINK_DUPLICATE
                                                       : CASEFSM_ACTION_ANSWER;
    int complexity = 0, reason = 0, how = 0;
    if ((action == CASEFSM_ACTION_ACCEPT &&
         (enum_field(req, body, "complexity", EVENT_CASE_ACCEPTED, 0, &complexity) != 0 ||
          (!rv_str(body, "matter_type", NULL) &&
           (http_reply_error(req, 400, "missing_field", "matter_type", "matter_type: is required to accept"), 1)))) ||
        (action == CASEFSM_ACTION_REJECT &&
         (enum_field(req, body, "reason_code", EVENT_CASE_REJECTED, 1, &reason) != 0 ||
          (!rv_str(body, "reason_text", NULL) &&
           (http_reply_error(req, 400, "missing_field", "reason_text", "reason_text: the enterprise must be told why"), 1)))) ||
        (action == CASEFSM_ACTION_UNLINK_DUPLICATE && !rv_str(body, "reason_text", NULL) &&
         (http_reply_error(req, 400, "missing_field", "reason_text",
                           "reason_text: say why the two are different matters"), 1)) ||
        (action == CASEFSM_ACTION_ANSWER &&
         (enum_field(req, body, "how_told", EVENT_CASE_ANSWERED, 1, &how) != 0 ||
          (!rv_str(body, "answer_summary", NULL) &&
           (http_reply_error(req, 400, "missing_field", "answer_summary", "answer_summary: is required to answer"), 1))))) {
        json_decref(body);
        return;
    }
    int version = (int)json_integer_value(json_object_get(body, "version"));

    pg_t *pg = in->pg;
    casestore_case_t cur;
    casefsm_state_t to;
    if (pg_begin(pg) != 0) {
        json_decref(body);
        intake_reply_db_error(req, pg, "review");
        return;
    }
    casestore_rc_t rc = casestore_lock(pg, case_id, version, action, CASEFSM_ROLE_AGENT, &cur, &to);
    /* outside the agent's region is "not found": a 403 would say the case exists */
    if (rc != CASESTORE_DB && rc != CASESTORE_NOT_FOUND && !auth_region_covers(p->region_code, cur.region_code))
        rc = CASESTORE_NOT_FOUND;
    if (rc == CASESTORE_OK && action == CASEFSM_ACTION_ANSWER && strcmp(cur.kind, "consultation") &&
        strcmp(cur.kind, "help")) {
        pg_rollback(pg);
        json_decref(body);
        http_reply_error(req, 409, "bad_state", "action", "only consultations and help requests are answered at once");
        return;
    }
    if (rc != CASESTORE_OK) {
        pg_rollback(pg);
        json_decref(body);
        switch (rc) {
        case CASESTORE_NOT_FOUND:
            http_reply_error(req, 404, "not_found", NULL, "no such case");
            return;
        case CASESTORE_CONFLICT:
        case CASESTORE_BAD_STATE:
            http_reply_json(req, 409, json_pack("{s:{s:s,s:s,s:n},s:s,s:i}", "error", "code",
                                                rc == CASESTORE_CONFLICT ? "conflict" : "bad_state",
                                                "message",
                                                rc == CASESTORE_CONFLICT ? "the case changed since you read it"
                                                                         : "this decision is not possible in the case's state",
                                                "field", "state", casefsm_state_to_str(cur.state),
                                                "version", cur.version));
            return;
        case CASESTORE_FORBIDDEN:
            http_reply_error(req, 403, "forbidden", NULL, "your role may not take this decision");
            return;
        default:
            intake_reply_db_error(req, pg, "review lock");
            return;
        }
    }
    char ver[16];
    snprintf(ver, sizeof ver, "%d", cur.version + 1);
    const char *cx = complexity ? intake_enum_str(EVENT_CASE_ACCEPTED, "complexity", complexity) : NULL;
    const char *rs = reason ? intake_enum_str(EVENT_CASE_REJECTED, "reason_code", reason) : NULL;
    const char *pu[] = {cur.id, casefsm_state_to_str(to), ver, cx, rs};
    event_t ev;
    char err[512] = "", original[40] = "";
    PGresult *orr = NULL;
    int ok = 1;
    if (action == CASEFSM_ACTION_UNLINK_DUPLICATE) {
        const char *pi[] = {cur.id};
        ok = pg_query(pg, "SELECT duplicate_of FROM cases WHERE id = $1::uuid", 1, pi, &orr) == 0 &&
             PQntuples(orr) == 1;
        if (ok) snprintf(original, sizeof original, "%s", PQgetvalue(orr, 0, 0));
        PQclear(orr);
    }
    /* a case leaving 'duplicate' drops its link and is open again (closed_at NULL) */
    ok = ok && pg_query(pg,
                        "UPDATE cases SET state = $2, version = $3::int, complexity = coalesce($4, complexity), "
                        "reject_reason = $5, duplicate_of = NULL, "
                        "closed_at = CASE WHEN $2 = 'rejected' THEN now() END WHERE id = $1::uuid",
                        5, pu, NULL) == 0;
    if (ok) {
        event_type_t t = action == CASEFSM_ACTION_ACCEPT   ? EVENT_CASE_ACCEPTED
                         : action == CASEFSM_ACTION_REJECT ? EVENT_CASE_REJECTED
                         : action == CASEFSM_ACTION_UNLINK_DUPLICATE ? EVENT_CASE_DUPLICATE_UNLINKED
                                                                     : EVENT_CASE_ANSWERED;
        ok = event_init(&ev, t) == 0;
        snprintf(ev.case_id, sizeof ev.case_id, "%s", cur.id);
        intake_actor(&ev, p);
        if (t == EVENT_CASE_ACCEPTED) {
            ev.payload.case_accepted.complexity = complexity ? (event_complexity_t)complexity : EVENT_COMPLEXITY_GENERAL;
            ev.payload.case_accepted.matter_type = (char *)rv_str(body, "matter_type", NULL);
            ev.payload.case_accepted.review_note = (char *)rv_str(body, "note", NULL);
        } else if (t == EVENT_CASE_DUPLICATE_UNLINKED) {
            snprintf(ev.payload.case_duplicate_unlinked.original_case_id, EVENT_UUID_SIZE, "%.36s", original);
            ev.payload.case_duplicate_unlinked.reason_text = (char *)rv_str(body, "reason_text", NULL);
        } else if (t == EVENT_CASE_REJECTED) {
            ev.payload.case_rejected.reason_code = (event_reject_reason_t)reason;
            ev.payload.case_rejected.reason_text = (char *)rv_str(body, "reason_text", NULL);
        } else {
            ev.payload.case_answered.answer_summary = (char *)rv_str(body, "answer_summary", NULL);
            ev.payload.case_answered.how_told = (event_how_told_t)how;
        }
        ok = ok && casestore_record(pg, &ev, cur.state, to, cur.version + 1, err, sizeof err) == 0;
    }
    if (ok) ok = pg_commit(pg) == 0;
    if (!ok) {
        pg_rollback(pg);
        json_decref(body);
        if (err[0] && pg->last_class == PG_OK) {
            http_reply_error(req, 400, "invalid_value", NULL, "%s", err); /* the codec refused a field */
            return;
        }
        intake_reply_db_error(req, pg, "review");
        return;
    }
    metric_inc(in->m_decided);
    json_decref(body);
    http_reply_json(req, 200, json_pack("{s:s,s:s,s:s,s:i}", "case_id", cur.id, "case_no", cur.case_no,
                                        "state", casefsm_state_to_str(to), "version", cur.version + 1));
}
