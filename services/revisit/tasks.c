/*
 * tasks.c — where revisits come from and where the supervision office sees them.
 *
 * The consumer reads jiesu.case-events: a case.result_submitted opens a routine revisit task,
 * due by the region's profile (revisit.window from the result, or the result's own revisit_by
 * when its producer set one); a case.closed or case.terminated puts the case in the archive
 * queue, due by archive.after; a case.terminated also cancels the case's open task; a
 * case.archived written by someone else marks the queue row done. Every effect runs in the
 * consumer's transaction with its dedup row and offset (common/kafka.h), and every insert is
 * ON CONFLICT DO NOTHING as well, so a copy of an event is harmless twice over.
 *
 * The queue (GET /v1/revisits/queue) lists the open tasks of the supervisor's region and the
 * regions below it, by region and due time, with what the office needs to place the call;
 * GET /v1/revisits/{id} adds the result, the unit's claimed contacts and the calls so far.
 * Both are reads of case content and are audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "deadline.h"
#include "log.h"
#include "revisit.h"
#include "supnotice.h"

/* ---- the consumer ---------------------------------------------------------------------- */

static kcons_result_t db_fail(pg_t *pg, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, pg->err);
    return pg->last_class == PG_RETRY ? KCONS_RETRY : KCONS_DEAD;
}

static kcons_result_t on_result(revisit_t *rv, pg_t *pg, const event_t *ev, char *err, size_t errlen)
{
    const event_case_result_submitted_t *p = &ev->payload.case_result_submitted;
    const char *pa[] = {ev->case_id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT state, region_code FROM cases WHERE id = $1::uuid", 1, pa, &r) != 0)
        return db_fail(pg, "case lookup", err, errlen);
    if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "resolved") != 0) {
        /* the case moved on (or is unknown here): nothing to revisit, and nothing to retry */
        LOGI("result not revisited: the case is not waiting for a revisit", LF_STR("case_id", ev->case_id),
             LF_STR("state", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "unknown"));
        PQclear(r);
        return KCONS_APPLIED;
    }
    char region[16];
    snprintf(region, sizeof region, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);

    char perr[256] = "", due_s[EVENT_TIME_SIZE] = "";
    int64_t result_ms = 0, due_ms = 0;
    if (event_time_to_ms(ev->occurred_at, &result_ms) != 0) result_ms = rvs_now_ms();
    const policy_t *prof = rvs_profile_for(rv, pg, region, perr, sizeof perr);
    if (p->revisit_by[0] && event_time_to_ms(p->revisit_by, &due_ms) == 0) {
        rvs_time_str(due_ms, due_s);
    } else if (prof != NULL && rvs_due(rv, region, prof, &prof->revisit, result_ms, &due_ms, perr, sizeof perr) == 0) {
        rvs_time_str(due_ms, due_s);
    } else {
        LOGW("revisit due time not computed", LF_STR("case_id", ev->case_id), LF_STR("problem", perr));
    }
    char round[24], unit[32], result_at[EVENT_TIME_SIZE];
    snprintf(round, sizeof round, "%lld", (long long)p->handling_round);
    snprintf(unit, sizeof unit, "%lld", (long long)p->unit_id);
    rvs_time_str(result_ms, result_at);
    const char *pi[] = {ev->case_id, round, unit, region, prof ? prof->name : NULL, ev->event_id, result_at,
                        due_s[0] ? due_s : NULL, due_s[0] ? NULL : (perr[0] ? perr : "no revisit window")};
    if (pg_query(pg,
                 "INSERT INTO revisit_tasks (case_id, kind, handling_round, unit_id, region_code, profile, "
                 "source_event_id, result_at, due_at, due_problem) VALUES ($1::uuid, 'routine', $2::smallint, "
                 "$3::bigint, $4, $5, $6::uuid, $7::timestamptz, $8::timestamptz, left($9, 500)) "
                 "ON CONFLICT DO NOTHING RETURNING id",
                 9, pi, &r) != 0)
        return db_fail(pg, "task insert", err, errlen);
    if (PQntuples(r) == 1) {
        metric_inc(rv->m_tasks);
        LOGD("revisit task", LF_STR("case_id", ev->case_id), LF_STR("task_id", PQgetvalue(r, 0, 0)),
             LF_STR("due_at", due_s));
    }
    PQclear(r);
    return KCONS_APPLIED;
}

static kcons_result_t on_closed(revisit_t *rv, pg_t *pg, const event_t *ev, const char *final_state, char *err,
                                size_t errlen)
{
    const char *pa[] = {ev->case_id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT region_code FROM cases WHERE id = $1::uuid", 1, pa, &r) != 0)
        return db_fail(pg, "case lookup", err, errlen);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return KCONS_APPLIED;
    }
    char region[16];
    snprintf(region, sizeof region, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    int64_t closed_ms = 0, due_ms = 0;
    if (event_time_to_ms(ev->occurred_at, &closed_ms) != 0) closed_ms = rvs_now_ms();
    char perr[256] = "", due_s[EVENT_TIME_SIZE] = "", closed_s[EVENT_TIME_SIZE];
    rvs_time_str(closed_ms, closed_s);
    const policy_t *prof = rvs_profile_for(rv, pg, region, perr, sizeof perr);
    if (prof != NULL && rvs_due(rv, region, prof, &prof->archive_after, closed_ms, &due_ms, perr, sizeof perr) == 0)
        rvs_time_str(due_ms, due_s);
    const char *pi[] = {ev->case_id, region, final_state, closed_s, due_s[0] ? due_s : NULL,
                        due_s[0] ? NULL : perr};
    if (pg_query(pg,
                 "INSERT INTO revisit_archive_queue (case_id, region_code, final_state, closed_at, archive_due_at, "
                 "due_problem) VALUES ($1::uuid, $2, $3, $4::timestamptz, $5::timestamptz, left($6, 500)) "
                 "ON CONFLICT DO NOTHING",
                 6, pi, NULL) != 0)
        return db_fail(pg, "archive queue", err, errlen);
    if (strcmp(final_state, "terminated") == 0 &&
        pg_query(pg,
                 "UPDATE revisit_tasks SET state = 'cancelled', outcome = 'cancelled', done_at = now(), "
                 "version = version + 1 WHERE case_id = $1::uuid AND state = 'open'",
                 1, pa, NULL) != 0)
        return db_fail(pg, "task cancel", err, errlen);
    return KCONS_APPLIED;
}

static kcons_result_t on_archived(pg_t *pg, const event_t *ev, char *err, size_t errlen)
{
    const char *pa[] = {ev->case_id, ev->occurred_at, ev->payload.case_archived.dossier_id};
    if (pg_query(pg,
                 "UPDATE revisit_archive_queue SET archived_at = $2::timestamptz, dossier_id = $3::uuid "
                 "WHERE case_id = $1::uuid AND archived_at IS NULL",
                 3, pa, NULL) != 0)
        return db_fail(pg, "archive mark", err, errlen);
    return KCONS_APPLIED;
}

/* The four types rvs_consume applies; keep the two together. */
const char *const rvs_event_types[] = {"case.result_submitted", "case.closed", "case.terminated", "case.archived",
                                       NULL};

kcons_result_t rvs_consume(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id, char *err,
                          size_t errlen)
{
    revisit_t *rv = arg;
    (void)event_id;
    /* Look at the type first: this consumer reads every case event and applies four; the
     * others pass untouched even when this build could not decode them. */
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;
    event_type_t t = type ? event_type_from_name(type) : EVENT_TYPE_NONE;
    json_decref(j);
    if (t != EVENT_CASE_RESULT_SUBMITTED && t != EVENT_CASE_CLOSED && t != EVENT_CASE_TERMINATED &&
        t != EVENT_CASE_ARCHIVED)
        return KCONS_APPLIED;
    event_t ev;
    if (event_decode(m->payload, m->len, &ev, err, errlen) != 0) return KCONS_DEAD;
    kcons_result_t rc = KCONS_APPLIED;
    switch (t) {
    case EVENT_CASE_RESULT_SUBMITTED: rc = on_result(rv, pg, &ev, err, errlen); break;
    case EVENT_CASE_CLOSED: rc = on_closed(rv, pg, &ev, "closed", err, errlen); break;
    case EVENT_CASE_TERMINATED: rc = on_closed(rv, pg, &ev, "terminated", err, errlen); break;
    case EVENT_CASE_ARCHIVED: rc = on_archived(pg, &ev, err, errlen); break;
    default: break;
    }
    event_clear(&ev);
    return rc;
}

/* ---- the queue ----------------------------------------------------------------------------- */

/* The region a supervisor asks for: ?region= (which its own must cover) or its own. */
static int scope_region(http_req_t *req, const http_principal_t *p, char like[24])
{
    const char *want = http_req_query(req, "region");
    if (p->region_code[0] == '\0') {
        http_reply_error(req, 403, "forbidden", NULL, "your principal has no region");
        return -1;
    }
    if (want == NULL) want = p->region_code;
    if (rvs_region_like(want, like) != 0) {
        http_reply_error(req, 400, "invalid_value", "region", "region: a region code of 6, 9 or 12 digits");
        return -1;
    }
    if (!auth_region_covers(p->region_code, want)) {
        http_reply_error(req, 403, "forbidden", "region", "region: outside your jurisdiction");
        return -1;
    }
    return 0;
}

/* The region a listing was asked for (validated by scope_region). */
static const char *want_region(http_req_t *req, const http_principal_t *p)
{
    const char *want = http_req_query(req, "region");
    return want ? want : p->region_code;
}

void rvs_queue(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    char like[24], lim[16];
    int limit;
    const char *kind = http_req_query(req, "kind"), *overdue = http_req_query(req, "overdue");
    if (scope_region(req, p, like) != 0 || rvs_query_limit(req, 100, 500, &limit) != 0) return;
    if (kind && strcmp(kind, "routine") && strcmp(kind, "lookback")) {
        http_reply_error(req, 400, "not_allowed", "kind", "kind: routine or lookback");
        return;
    }
    if (overdue && strcmp(overdue, "true") && strcmp(overdue, "false")) {
        http_reply_error(req, 400, "not_allowed", "overdue", "overdue: true or false");
        return;
    }
    snprintf(lim, sizeof lim, "%d", limit);
    const char *pa[] = {like, kind, overdue, lim};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT t.id, t.version, t.kind, t.handling_round, t.attempts, revisit_time_text(t.due_at), t.due_problem, "
                 "coalesce(t.due_at < now(), false), t.contact_disputed, t.region_code, revisit_time_text(t.result_at), "
                 "c.id, c.case_no, c.version, c.state, c.kind, c.enterprise_name, c.contact_name, c.contact_phone, "
                 "c.summary, t.unit_id, u.name "
                 "FROM revisit_tasks t JOIN cases c ON c.id = t.case_id LEFT JOIN units u ON u.id = t.unit_id "
                 "WHERE t.state = 'open' AND t.region_code IN (SELECT code FROM regions WHERE code LIKE $1) AND ($2::text IS NULL OR t.kind = $2) "
                 "AND ($3::boolean IS NULL OR coalesce(t.due_at < now(), false) = $3::boolean) "
                 "ORDER BY t.region_code, t.due_at NULLS FIRST, t.created_at LIMIT $4::int",
                 4, pa, &r) != 0) {
        rvs_reply_db_error(req, rv->pg, "revisit queue");
        return;
    }
    json_t *items = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *it = json_pack(
            "{s:s,s:i,s:s,s:i,s:i,s:s?,s:s?,s:b,s:b,s:s,s:s,s:{s:s,s:s,s:i,s:s,s:s,s:s,s:s?,s:s?,s:s},s:{s:I,s:s?}}",
            "task_id", rvs_val(r, i, 0), "task_version", atoi(rvs_val(r, i, 1)), "kind", rvs_val(r, i, 2),
            "handling_round", atoi(rvs_val(r, i, 3)), "attempts", atoi(rvs_val(r, i, 4)), "due_at", rvs_val(r, i, 5),
            "due_problem", rvs_val(r, i, 6), "overdue", rvs_val(r, i, 7)[0] == 't', "contact_disputed",
            rvs_val(r, i, 8)[0] == 't', "region_code", rvs_val(r, i, 9), "result_at", rvs_val(r, i, 10), "case",
            "case_id", rvs_val(r, i, 11), "case_no", rvs_val(r, i, 12), "version", atoi(rvs_val(r, i, 13)), "state",
            rvs_val(r, i, 14), "kind", rvs_val(r, i, 15), "enterprise_name", rvs_val(r, i, 16), "contact_name",
            rvs_val(r, i, 17), "contact_phone", rvs_val(r, i, 18), "summary", rvs_val(r, i, 19), "unit", "unit_id",
            (json_int_t)(rvs_val(r, i, 20) ? atoll(rvs_val(r, i, 20)) : 0), "name", rvs_val(r, i, 21));
        if (it) json_array_append_new(items, it);
        json_array_append_new(ids, json_string(rvs_val(r, i, 11)));
    }
    PQclear(r);
    char obj[48];
    snprintf(obj, sizeof obj, "revisit_queue:%s", want_region(req, p));
    rvs_audit(rv, p, obj, json_pack("{s:s,s:o}", "region", like, "cases", ids));
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

/* The rows of one query as an array of objects built by row_fn. */
static json_t *rows(pg_t *pg, const char *sql, int n, const char *const *pa, json_t *(*row_fn)(PGresult *, int))
{
    PGresult *r = NULL;
    if (pg_query(pg, sql, n, pa, &r) != 0) return NULL;
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = row_fn(r, i);
        if (o) json_array_append_new(a, o);
    }
    PQclear(r);
    return a;
}

static json_t *json_or_null(const char *s)
{
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    return j ? j : json_null();
}

static json_t *contact_row(PGresult *r, int i)
{
    return json_or_null(rvs_val(r, i, 0));
}

static json_t *call_row(PGresult *r, int i)
{
    json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:b,s:o,s:o,s:o,s:s?,s:s?,s:s?,s:b,s:s,s:s}", "call_id", rvs_val(r, i, 0),
                     "attempt", atoi(rvs_val(r, i, 1)), "source", rvs_val(r, i, 2), "channel", rvs_val(r, i, 3),
                     "reached", rvs_val(r, i, 4)[0] == 't', "contact_verified",
                     rvs_val(r, i, 5) ? json_boolean(rvs_val(r, i, 5)[0] == 't') : json_null(), "result_true",
                     rvs_val(r, i, 6) ? json_boolean(rvs_val(r, i, 6)[0] == 't') : json_null(), "fraud",
                     json_boolean(rvs_val(r, i, 7)[0] == 't'), "satisfaction", rvs_val(r, i, 8), "satisfaction_label",
                     rvs_val(r, i, 9), "enterprise_words", rvs_val(r, i, 10), "sampled", rvs_val(r, i, 11)[0] == 't',
                     "outcome", rvs_val(r, i, 12), "called_at", rvs_val(r, i, 13));
    /* a supervisor's fraud call: the notice the deadline watcher issues from it, as it stands.
     * Once issued, the notice's own id (a notice carried over by migration 0018 kept the
     * revisit's random id, not the one derived from the call); until then the derived id the
     * watcher will give it. */
    char nid[EVENT_UUID_SIZE];
    const char *issued_id = rvs_val(r, i, 17);
    if (issued_id) snprintf(nid, sizeof nid, "%s", issued_id);
    if (o && rvs_val(r, i, 7)[0] == 't' && !strcmp(rvs_val(r, i, 2), "call") &&
        (issued_id || supnotice_fraud_id(rvs_val(r, i, 0), nid) == 0)) {
        json_t *n = json_pack("{s:s,s:s}", "notice_id", nid, "state",
                              !issued_id ? "requested" : rvs_val(r, i, 16) ? "replied" : "issued");
        if (n && issued_id) {
            json_object_set_new(n, "notice_no", json_string(rvs_val(r, i, 14)));
            json_object_set_new(n, "level", json_integer(atoi(rvs_val(r, i, 15))));
        }
        if (n) json_object_set_new(o, "notice", n);
    }
    return o;
}

void rvs_task_get(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    const char *pa[] = {id};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT t.id, t.version, t.kind, t.state, t.outcome, t.handling_round, t.attempts, revisit_time_text(t.due_at), "
                 "t.due_problem, t.contact_disputed, t.region_code, c.id, c.case_no, c.version, c.state, c.kind, "
                 "c.enterprise_name, c.credit_code, c.contact_name, c.contact_phone, c.summary, revisit_time_text(c.received_at), "
                 "t.unit_id, u.name, t.profile, revisit_time_text(t.result_at) "
                 "FROM revisit_tasks t JOIN cases c ON c.id = t.case_id LEFT JOIN units u ON u.id = t.unit_id "
                 "WHERE t.id = $1::uuid",
                 1, pa, &r) != 0) {
        if (!strcmp(rv->pg->sqlstate, "22P02")) {
            http_reply_error(req, 404, "not_found", NULL, "no such revisit task");
            return;
        }
        rvs_reply_db_error(req, rv->pg, "revisit task");
        return;
    }
    if (PQntuples(r) != 1 || !auth_region_covers(p->region_code, rvs_val(r, 0, 10))) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such revisit task");
        return;
    }
    char case_id[40];
    snprintf(case_id, sizeof case_id, "%s", rvs_val(r, 0, 11));
    json_t *out = json_pack(
        "{s:s,s:i,s:s,s:s,s:s?,s:i,s:i,s:s?,s:s?,s:b,s:s,s:s?,s:s,s:{s:s,s:s,s:i,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s,s:s},"
        "s:{s:I,s:s?}}",
        "task_id", rvs_val(r, 0, 0), "task_version", atoi(rvs_val(r, 0, 1)), "kind", rvs_val(r, 0, 2), "state",
        rvs_val(r, 0, 3), "outcome", rvs_val(r, 0, 4), "handling_round", atoi(rvs_val(r, 0, 5)), "attempts",
        atoi(rvs_val(r, 0, 6)), "due_at", rvs_val(r, 0, 7), "due_problem", rvs_val(r, 0, 8), "contact_disputed",
        rvs_val(r, 0, 9)[0] == 't', "region_code", rvs_val(r, 0, 10), "profile", rvs_val(r, 0, 24), "result_at",
        rvs_val(r, 0, 25), "case", "case_id", rvs_val(r, 0, 11), "case_no", rvs_val(r, 0, 12), "version",
        atoi(rvs_val(r, 0, 13)), "state", rvs_val(r, 0, 14), "kind", rvs_val(r, 0, 15), "enterprise_name",
        rvs_val(r, 0, 16), "credit_code", rvs_val(r, 0, 17), "contact_name", rvs_val(r, 0, 18), "contact_phone",
        rvs_val(r, 0, 19), "summary", rvs_val(r, 0, 20), "received_at", rvs_val(r, 0, 21), "unit", "unit_id",
        (json_int_t)(rvs_val(r, 0, 22) ? atoll(rvs_val(r, 0, 22)) : 0), "name", rvs_val(r, 0, 23));
    char region[16];
    snprintf(region, sizeof region, "%s", rvs_val(r, 0, 10));
    PQclear(r);
    const char *pc[] = {case_id}, *pt[] = {id};
    json_t *contacts = rows(rv->pg,
                            "SELECT payload::text FROM case_events WHERE case_id = $1::uuid "
                            "AND type = 'case.contact_recorded' ORDER BY id",
                            1, pc, contact_row);
    json_t *results = rows(rv->pg,
                           "SELECT payload::text FROM case_events WHERE case_id = $1::uuid "
                           "AND type = 'case.result_submitted' ORDER BY id",
                           1, pc, contact_row);
    json_t *calls = rows(rv->pg,
                         "SELECT c.id, c.attempt, c.source, c.channel, c.reached, c.contact_verified, c.result_true, "
                         "c.fraud, c.satisfaction, c.satisfaction_label, c.enterprise_words, c.sampled, c.outcome, "
                         "revisit_time_text(c.called_at), n.notice_no, n.level, revisit_time_text(n.replied_at), n.id "
                         "FROM revisit_calls c LEFT JOIN supervision_notices n ON n.source_event_id = c.id "
                         "WHERE c.task_id = $1::uuid ORDER BY c.attempt",
                         1, pt, call_row);
    if (out == NULL || contacts == NULL || results == NULL || calls == NULL) {
        json_decref(out);
        json_decref(contacts);
        json_decref(results);
        json_decref(calls);
        rvs_reply_db_error(req, rv->pg, "revisit task");
        return;
    }
    json_object_set_new(out, "claimed_contacts", contacts);
    json_object_set_new(out, "results", results);
    json_object_set_new(out, "calls", calls);
    char perr[256];
    const policy_t *prof = rvs_profile_for(rv, rv->pg, region, perr, sizeof perr);
    if (prof) {
        json_t *scale = json_array();
        for (int i = 0; i < prof->scale_len; i++) {
            static const char *const codes[] = {NULL, "very_satisfied", "satisfied", "basically_satisfied",
                                                "unsatisfied", "very_unsatisfied"};
            event_satisfaction_t c = rvs_level_code(prof, i);
            json_array_append_new(scale, json_pack("{s:s,s:s?,s:b}", "label", prof->scale[i], "code",
                                                   c >= 1 && c <= 5 ? codes[c] : NULL, "satisfies",
                                                   policy_level_satisfies(prof, i)));
        }
        json_object_set_new(out, "scale", scale);
    }
    char obj[64];
    snprintf(obj, sizeof obj, "case:%s", case_id);
    rvs_audit(rv, p, obj, json_pack("{s:s,s:s}", "via", "revisit_task", "task_id", id));
    http_reply_json(req, 200, out);
}
