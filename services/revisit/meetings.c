/*
 * meetings.c — the 直通车 meeting list (seed 002 四): which cases the working group proposes to
 * the meeting, by the seed's own criteria, and what keeps a case off it.
 *
 * Proposed (四(一)): 1 still unsolved or the enterprise still unsatisfied after handling (the
 * latest revisit that reached it was unsatisfied or found the result untrue, or the case was
 * escalated after being unsatisfied again); 2 several units and the lead cannot coordinate
 * (two or more units hold it and it is overdue or has been sent back); 3 a suggestion typical
 * of the business environment; 4 a leader's instruction. Not proposed (四(二)): 1 general
 * suggestions; 2 closed and confirmed satisfied by the revisit; 3 in hand and progressing
 * normally; 4 the enterprise itself asked not to go. The data says 1, 2 and the exclusions
 * 1–3; criteria 3 and 4 and exclusion 4 are marks people record (POST /v1/meetings/nominations,
 * or declines_meeting on a revisit call). rvs_meeting_decide() in rules.c applies the seed;
 * this file gathers the facts per candidate case and answers the list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "reqval.h"
#include "revisit.h"

static const char PROPOSALS_SQL[] =
    "WITH cand AS ("
    "  SELECT k.case_id AS id FROM revisit_calls k WHERE k.reached AND (NOT k.result_true OR "
    "    k.satisfaction IN ('unsatisfied', 'very_unsatisfied'))"
    "  UNION SELECT n.case_id FROM meeting_nominations n WHERE n.mark <> 'enterprise_declined'"
    "  UNION SELECT u.case_id FROM case_units u WHERE u.released_at IS NULL GROUP BY u.case_id HAVING count(*) >= 2)"
    " SELECT c.id, c.case_no, c.kind, c.state, c.enterprise_name, c.summary, c.region_code, revisit_time_text(c.due_at),"
    "  c.state NOT IN ('closed', 'archived'),"
    "  EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.type = 'case.closed'"
    "          AND e.payload->>'basis' = 'revisit_satisfied'),"
    "  coalesce((SELECT NOT k.result_true OR k.satisfaction IN ('unsatisfied', 'very_unsatisfied')"
    "            FROM revisit_calls k WHERE k.case_id = c.id AND k.reached ORDER BY k.called_at DESC LIMIT 1), false),"
    "  EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.type = 'case.escalated'"
    "          AND e.payload->>'reason_code' = 'unsatisfied_again'),"
    "  (SELECT count(*) FROM case_units u WHERE u.case_id = c.id AND u.released_at IS NULL),"
    "  coalesce(c.due_at < now(), false) AND c.state NOT IN ('closed', 'archived'),"
    "  (SELECT count(*) FROM case_events e WHERE e.case_id = c.id AND e.type = 'case.redo_ordered'),"
    "  EXISTS (SELECT 1 FROM meeting_nominations n WHERE n.case_id = c.id AND n.mark = 'typical_suggestion'),"
    "  EXISTS (SELECT 1 FROM meeting_nominations n WHERE n.case_id = c.id AND n.mark = 'leader_instruction'),"
    "  EXISTS (SELECT 1 FROM meeting_nominations n WHERE n.case_id = c.id AND n.mark = 'enterprise_declined')"
    " FROM cases c JOIN cand USING (id) WHERE c.region_code IN (SELECT code FROM regions WHERE code LIKE $1)"
    "  AND c.state NOT IN ('rejected', 'duplicate') ORDER BY c.received_at, c.id LIMIT $2::int";

static bool t(PGresult *r, int i, int col)
{
    return rvs_val(r, i, col) && rvs_val(r, i, col)[0] == 't';
}

void rvs_meeting_proposals(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *want = http_req_query(req, "region"), *incl = http_req_query(req, "include_excluded");
    int limit;
    char own[16], like[24], lim[16];
    if (rvs_query_limit(req, 200, 1000, &limit) != 0) return;
    if (incl && strcmp(incl, "true") && strcmp(incl, "false")) {
        http_reply_error(req, 400, "not_allowed", "include_excluded", "include_excluded: true or false");
        return;
    }
    rvs_principal_region(rv, p, own);
    if (own[0] == '\0') {
        http_reply_error(req, 403, "forbidden", NULL, "your principal has no region");
        return;
    }
    if (want == NULL) want = own;
    if (rvs_region_like(want, like) != 0) {
        http_reply_error(req, 400, "invalid_value", "region", "region: a region code of 6, 9 or 12 digits");
        return;
    }
    if (!auth_region_covers(own, want)) {
        http_reply_error(req, 403, "forbidden", "region", "region: outside your jurisdiction");
        return;
    }
    snprintf(lim, sizeof lim, "%d", limit);
    const char *pa[] = {like, lim};
    PGresult *r = NULL;
    if (pg_query(rv->pg, PROPOSALS_SQL, 2, pa, &r) != 0) {
        rvs_reply_db_error(req, rv->pg, "meeting proposals");
        return;
    }
    bool with_excluded = incl && !strcmp(incl, "true");
    json_t *items = json_array(), *excluded = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        bool open = t(r, i, 8);
        bool unsatisfied = t(r, i, 10);
        rvs_meeting_facts_t f = {
            .suggestion = !strcmp(rvs_val(r, i, 2), "suggestion"),
            .open = open,
            .closed_satisfied = !open && t(r, i, 9) && !unsatisfied,
            .unsatisfied = unsatisfied,
            .escalated_unsatisfied = t(r, i, 11),
            .active_units = atoi(rvs_val(r, i, 12)),
            .overdue = t(r, i, 13),
            .redo_count = atoi(rvs_val(r, i, 14)),
            .nominated_typical = t(r, i, 15),
            .nominated_leader = t(r, i, 16),
            .enterprise_declined = t(r, i, 17),
        };
        rvs_meeting_t m = rvs_meeting_decide(&f);
        if (m.exclusion != RVS_EXCL_NONE && !with_excluded) continue;
        json_t *crit = json_array();
        for (unsigned bit = 1; bit <= RVS_MEET_LEADER; bit <<= 1)
            if (m.criteria & bit) json_array_append_new(crit, json_string(rvs_meeting_criterion_str(bit)));
        json_t *it = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:o}", "case_id", rvs_val(r, i, 0), "case_no",
                               rvs_val(r, i, 1), "kind", rvs_val(r, i, 2), "state", rvs_val(r, i, 3), "enterprise_name",
                               rvs_val(r, i, 4), "summary", rvs_val(r, i, 5), "region_code", rvs_val(r, i, 6), "due_at",
                               rvs_val(r, i, 7), "criteria", crit);
        if (it == NULL) continue;
        json_array_append_new(ids, json_string(rvs_val(r, i, 0)));
        if (m.exclusion == RVS_EXCL_NONE) {
            json_array_append_new(items, it);
        } else {
            json_object_set_new(it, "excluded_by", json_string(rvs_meeting_exclusion_str(m.exclusion)));
            json_array_append_new(excluded, it);
        }
    }
    PQclear(r);
    rvs_audit(rv, p, "meeting_proposals:list", json_pack("{s:s,s:o}", "region", want, "cases", ids));
    json_t *out = json_pack("{s:o,s:s}", "items", items, "basis", "seed 002 四: 上会诉求清单 criteria 1-4, exclusions 1-4");
    if (with_excluded) json_object_set_new(out, "excluded", excluded);
    else json_decref(excluded);
    http_reply_json(req, 200, out);
}

static const char *const marks[] = {"typical_suggestion", "leader_instruction", "enterprise_declined", NULL};

static int check_uuid_field(const char *s, char *msg, size_t len)
{
    int ok = strlen(s) == 36;
    for (size_t i = 0; ok && i < 36; i++)
        ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-'
                                                       : (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok) snprintf(msg, len, "must be a case id (lowercase UUID)");
    return ok ? 0 : -1;
}

static const rv_field_t nominate_fields[] = {
    {.name = "case_id", .type = RV_STR, .required = true, .min = 36, .max = 36, .single_line = true,
     .check = check_uuid_field},
    {.name = "mark", .type = RV_STR, .required = true, .values = marks},
    {.name = "note", .type = RV_STR, .min = 1, .max = 500},
};

void rvs_meeting_nominate(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, nominate_fields, JS_ARRAY_LEN(nominate_fields), &e) != 0) {
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        json_decref(body);
        return;
    }
    const char *case_id = rv_str(body, "case_id", ""), *mark = rv_str(body, "mark", ""),
               *note = rv_str(body, "note", NULL);
    if (!strcmp(mark, "leader_instruction") && note == NULL) {
        json_decref(body);
        http_reply_error(req, 400, "missing_field", "note", "note: the leader's instruction (批示) is required");
        return;
    }
    char own[16], pid[32];
    rvs_principal_region(rv, p, own);
    const char *pa[] = {case_id};
    PGresult *r = NULL;
    if (pg_query(rv->pg, "SELECT region_code, kind FROM cases WHERE id = $1::uuid", 1, pa, &r) != 0) {
        json_decref(body);
        rvs_reply_db_error(req, rv->pg, "nomination");
        return;
    }
    if (PQntuples(r) != 1 || own[0] == '\0' || !auth_region_covers(own, PQgetvalue(r, 0, 0))) {
        PQclear(r);
        json_decref(body);
        http_reply_error(req, 404, "not_found", "case_id", "case_id: no such case in your jurisdiction");
        return;
    }
    bool suggestion = !strcmp(PQgetvalue(r, 0, 1), "suggestion");
    PQclear(r);
    if (!strcmp(mark, "typical_suggestion") && !suggestion) {
        json_decref(body);
        http_reply_error(req, 400, "invalid_value", "mark",
                         "mark: typical_suggestion applies to suggestions (意见建议) only");
        return;
    }
    snprintf(pid, sizeof pid, "%lld", p->id);
    const char *pi[] = {case_id, mark, note, pid};
    if (pg_query(rv->pg,
                 "INSERT INTO meeting_nominations (case_id, mark, note, marked_by) VALUES ($1::uuid, $2, $3, $4::bigint) "
                 "ON CONFLICT (case_id, mark) DO NOTHING RETURNING id",
                 4, pi, &r) != 0) {
        json_decref(body);
        rvs_reply_db_error(req, rv->pg, "nomination");
        return;
    }
    bool created = PQntuples(r) == 1;
    PQclear(r);
    json_t *out = json_pack("{s:s,s:s,s:b}", "case_id", case_id, "mark", mark, "created", created);
    json_decref(body);
    http_reply_json(req, created ? 201 : 200, out);
}
