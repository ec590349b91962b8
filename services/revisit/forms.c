/*
 * forms.c — what a revisit leaves for other people to act on.
 *
 * The unsatisfied review form (企业诉求“接诉即办”不满意诉求审核反馈表, seed 004 二(四)3):
 * requested from the unit when a case is escalated after two unsatisfied handlings; the unit
 * lists its forms, submits one once (its explanation, its analysis of why the enterprise is
 * still unsatisfied, its next steps, the name of its principal head who signs it, and the
 * seal), and anyone entitled prints it as an HTML document for the centre's file. Referrals
 * to discipline inspection (线索移送) are listed to the discipline role of the region and
 * acknowledged by it once. The bulletin (通报) lists a region's entries by month.
 *
 * Scope: a unit sees only its own forms; centres, supervisors, leaders and discipline
 * principals their region and the regions below it (a principal tied to a unit, the unit's
 * region). A unit never sees the reporter of a confidential report (举报, DOMAIN.md §8).
 * Every list and document is a read of case content and is audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "reqval.h"
#include "revisit.h"

#define WITHHELD "（保密件，诉求人信息不向承办单位公开）"

/* The LIKE pattern of a staff principal's jurisdiction; replies 403 and returns -1 without one. */
static int jurisdiction(revisit_t *rv, http_req_t *req, const http_principal_t *p, char like[24])
{
    char region[16];
    rvs_principal_region(rv, p, region);
    if (region[0] == '\0' || rvs_region_like(region, like) != 0) {
        http_reply_error(req, 403, "forbidden", NULL, "your principal has no region or unit to scope this list");
        return -1;
    }
    return 0;
}

static bool is_unit(const http_principal_t *p)
{
    return p->role == AUTH_ROLE_UNIT;
}

/* ---- review forms ------------------------------------------------------------------------ */

#define FORM_SELECT                                                                                           \
    "SELECT f.id, f.case_id, c.case_no, f.unit_id, u.name, f.handling_rounds, f.state, "                     \
    "revisit_time_text(f.requested_at), revisit_time_text(f.submitted_at), c.enterprise_name, c.summary, c.confidential, f.region_code, f.explanation, "           \
    "f.unsatisfied_analysis, f.next_steps, f.head_name, c.kind, u.head_name, "                              \
    "(SELECT string_agg(enterprise_words, '；' ORDER BY called_at) FROM revisit_calls k "                     \
    " WHERE k.case_id = f.case_id AND k.enterprise_words IS NOT NULL AND k.satisfaction IN ('unsatisfied', "  \
    " 'very_unsatisfied')) "                                                                                   \
    "FROM review_forms f JOIN cases c ON c.id = f.case_id JOIN units u ON u.id = f.unit_id "

static json_t *form_json(PGresult *r, int i, bool unit_view)
{
    bool hide = unit_view && rvs_val(r, i, 11)[0] == 't';
    char doc[96];
    snprintf(doc, sizeof doc, "/v1/review-forms/%s/document", rvs_val(r, i, 0));
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:i,s:s,s:s,s:s?,s:s,s:s,s:s,s:s}", "form_id", rvs_val(r, i, 0), "case_id",
                     rvs_val(r, i, 1), "case_no", rvs_val(r, i, 2), "unit_id", (json_int_t)atoll(rvs_val(r, i, 3)),
                     "unit_name", rvs_val(r, i, 4), "handling_rounds", atoi(rvs_val(r, i, 5)), "state",
                     rvs_val(r, i, 6), "requested_at", rvs_val(r, i, 7), "submitted_at", rvs_val(r, i, 8),
                     "enterprise_name", hide ? WITHHELD : rvs_val(r, i, 9), "summary", rvs_val(r, i, 10),
                     "region_code", rvs_val(r, i, 12), "document", doc);
}

void rvs_forms_list(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *state = http_req_query(req, "state");
    int limit;
    if (rvs_query_limit(req, 100, 500, &limit) != 0) return;
    if (state && strcmp(state, "requested") && strcmp(state, "submitted")) {
        http_reply_error(req, 400, "not_allowed", "state", "state: requested or submitted");
        return;
    }
    char like[24] = "", unit[32] = "", lim[16];
    if (is_unit(p))
        snprintf(unit, sizeof unit, "%lld", p->unit_id);
    else if (jurisdiction(rv, req, p, like) != 0)
        return;
    snprintf(lim, sizeof lim, "%d", limit);
    const char *pa[] = {unit[0] ? unit : NULL, like[0] ? like : NULL, state, lim};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 FORM_SELECT "WHERE ($1::bigint IS NULL OR f.unit_id = $1::bigint) AND ($2::text IS NULL OR "
                             "f.region_code IN (SELECT code FROM regions WHERE code LIKE $2)) AND ($3::text IS NULL OR f.state = $3) "
                             "ORDER BY f.requested_at LIMIT $4::int",
                 4, pa, &r) != 0) {
        rvs_reply_db_error(req, rv->pg, "review forms");
        return;
    }
    json_t *items = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *it = form_json(r, i, is_unit(p));
        if (it) json_array_append_new(items, it);
        json_array_append_new(ids, json_string(rvs_val(r, i, 1)));
    }
    PQclear(r);
    rvs_audit(rv, p, "review_forms:list", json_pack("{s:o}", "cases", ids));
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

static const rv_field_t form_fields[] = {
    {.name = "explanation", .type = RV_STR, .required = true, .min = 1, .max = 2000},
    {.name = "unsatisfied_analysis", .type = RV_STR, .required = true, .min = 1, .max = 1000},
    {.name = "next_steps", .type = RV_STR, .required = true, .min = 1, .max = 500},
    {.name = "head_name", .type = RV_STR, .required = true, .min = 1, .max = 50, .single_line = true},
    {.name = "seal_affixed", .type = RV_BOOL, .required = true},
};

void rvs_form_submit(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, form_fields, JS_ARRAY_LEN(form_fields), &e) != 0) {
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        json_decref(body);
        return;
    }
    if (!rv_bool(body, "seal_affixed", false)) {
        json_decref(body);
        http_reply_error(req, 400, "invalid_value", "seal_affixed",
                         "seal_affixed: must be true — the form carries the unit's seal (加盖单位公章)");
        return;
    }
    pg_t *pg = rv->pg;
    if (pg_begin(pg) != 0) {
        json_decref(body);
        rvs_reply_db_error(req, pg, "review form");
        return;
    }
    char unit[32];
    snprintf(unit, sizeof unit, "%lld", p->unit_id);
    const char *pa[] = {id, unit};
    PGresult *r = NULL;
    /* the case row first (the order every writer keeps), then the form */
    if (pg_query(pg,
                 "SELECT c.id FROM review_forms f JOIN cases c ON c.id = f.case_id "
                 "WHERE f.id = $1::uuid AND f.unit_id = $2::bigint FOR UPDATE OF c",
                 2, pa, &r) != 0 ||
        PQntuples(r) != 1) {
        bool bad_id = r == NULL && !strcmp(pg->sqlstate, "22P02");
        int found = r != NULL;
        PQclear(r);
        pg_rollback(pg);
        json_decref(body);
        if (found || bad_id) http_reply_error(req, 404, "not_found", NULL, "no such review form of your unit");
        else rvs_reply_db_error(req, pg, "review form");
        return;
    }
    PQclear(r);
    if (pg_query(pg,
                 "SELECT f.state, u.head_name, revisit_time_text(f.submitted_at) FROM review_forms f JOIN units u ON u.id = f.unit_id "
                 "WHERE f.id = $1::uuid FOR UPDATE OF f",
                 1, pa, &r) != 0) {
        pg_rollback(pg);
        json_decref(body);
        rvs_reply_db_error(req, pg, "review form");
        return;
    }
    const char *head = rvs_val(r, 0, 1);
    const char *given = rv_str(body, "head_name", "");
    if (strcmp(PQgetvalue(r, 0, 0), "requested") != 0) {
        http_reply_json(req, 409, json_pack("{s:{s:s,s:s,s:s},s:s,s:s?}", "error", "code", "bad_state", "message",
                                            "the form was submitted already", "field", "state", "state", "submitted",
                                            "submitted_at", rvs_val(r, 0, 2)));
        PQclear(r);
        pg_rollback(pg);
        json_decref(body);
        return;
    }
    if (head != NULL && strcmp(head, given) != 0) {
        PQclear(r);
        pg_rollback(pg);
        json_decref(body);
        http_reply_error(req, 400, "invalid_value", "head_name",
                         "head_name: must be the unit's principal head (主要负责同志) as the unit register names them");
        return;
    }
    PQclear(r);
    char pid[32];
    snprintf(pid, sizeof pid, "%lld", p->id);
    const char *pu[] = {id, rv_str(body, "explanation", ""), rv_str(body, "unsatisfied_analysis", ""),
                        rv_str(body, "next_steps", ""), given, pid};
    if (pg_query(pg,
                 "UPDATE review_forms SET state = 'submitted', explanation = $2, unsatisfied_analysis = $3, "
                 "next_steps = $4, head_name = $5, seal_affixed = true, submitted_by = $6::bigint, "
                 "submitted_at = now() WHERE id = $1::uuid RETURNING revisit_time_text(submitted_at)",
                 6, pu, &r) != 0 ||
        pg_commit(pg) != 0) {
        PQclear(r);
        pg_rollback(pg);
        json_decref(body);
        rvs_reply_db_error(req, pg, "review form");
        return;
    }
    char doc[96];
    snprintf(doc, sizeof doc, "/v1/review-forms/%s/document", id);
    json_t *out = json_pack("{s:s,s:s,s:s,s:s}", "form_id", id, "state", "submitted", "submitted_at",
                            PQgetvalue(r, 0, 0), "document", doc);
    PQclear(r);
    json_decref(body);
    http_reply_json(req, 200, out);
}

/* Appends s (escaped) to the buffer. */
static void html_put(char **buf, size_t *len, size_t *cap, const char *s, bool escape)
{
    char *e = escape ? rvs_html_escape(s) : NULL;
    const char *t = escape ? e : s;
    if (t == NULL) return;
    size_t n = strlen(t);
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 4096) + n;
        char *nb = realloc(*buf, nc);
        if (nb == NULL) {
            free(e);
            return;
        }
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, t, n + 1);
    *len += n;
    free(e);
}

static void html_row(char **b, size_t *l, size_t *c, const char *label, const char *value)
{
    html_put(b, l, c, "<tr><th>", false);
    html_put(b, l, c, label, true);
    html_put(b, l, c, "</th><td>", false);
    html_put(b, l, c, value && *value ? value : "　", true);
    html_put(b, l, c, "</td></tr>\n", false);
}

void rvs_form_document(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    const char *pa[] = {id};
    PGresult *r = NULL;
    if (pg_query(rv->pg, FORM_SELECT "WHERE f.id = $1::uuid", 1, pa, &r) != 0) {
        if (!strcmp(rv->pg->sqlstate, "22P02")) http_reply_error(req, 404, "not_found", NULL, "no such review form");
        else rvs_reply_db_error(req, rv->pg, "review form");
        return;
    }
    bool ok = PQntuples(r) == 1;
    if (ok && is_unit(p)) {
        ok = atoll(rvs_val(r, 0, 3)) == p->unit_id;
    } else if (ok) {
        char region[16];
        rvs_principal_region(rv, p, region);
        ok = region[0] && auth_region_covers(region, rvs_val(r, 0, 12));
    }
    if (!ok) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such review form");
        return;
    }
    bool hide = is_unit(p) && rvs_val(r, 0, 11)[0] == 't';
    bool submitted = !strcmp(rvs_val(r, 0, 6), "submitted");
    char rounds[16];
    snprintf(rounds, sizeof rounds, "%s", rvs_val(r, 0, 5));
    char *b = NULL;
    size_t l = 0, c = 0;
    html_put(&b, &l, &c,
             "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
             "<title>企业诉求“接诉即办”不满意诉求审核反馈表</title>"
             "<style>body{font-family:'SimSun','Songti SC',serif;margin:2cm}h1{text-align:center;font-size:20pt}"
             "table{width:100%;border-collapse:collapse}th,td{border:1px solid #000;padding:6pt;vertical-align:top}"
             "th{width:22%;font-weight:normal;text-align:center}.sign{height:3em}.meta{text-align:right}"
             "@media print{body{margin:1.5cm}}</style></head><body>\n"
             "<h1>企业诉求“接诉即办”不满意诉求审核反馈表</h1>\n<p class=\"meta\">编号：",
             false);
    html_put(&b, &l, &c, rvs_val(r, 0, 0), true);
    html_put(&b, &l, &c, "</p>\n<table>\n", false);
    html_row(&b, &l, &c, "诉求编号", rvs_val(r, 0, 2));
    html_row(&b, &l, &c, "诉求企业", hide ? WITHHELD : rvs_val(r, 0, 9));
    html_row(&b, &l, &c, "主要诉求", rvs_val(r, 0, 10));
    html_row(&b, &l, &c, "承办单位", rvs_val(r, 0, 4));
    html_row(&b, &l, &c, "办理次数", rounds);
    html_row(&b, &l, &c, "企业不满意原因", rvs_val(r, 0, 19));
    html_row(&b, &l, &c, "办理情况说明", submitted ? rvs_val(r, 0, 13) : NULL);
    html_row(&b, &l, &c, "不满意原因分析", submitted ? rvs_val(r, 0, 14) : NULL);
    html_row(&b, &l, &c, "下一步计划", submitted ? rvs_val(r, 0, 15) : NULL);
    html_put(&b, &l, &c, "<tr><th>单位主要负责同志签字</th><td class=\"sign\">", false);
    html_put(&b, &l, &c, submitted ? rvs_val(r, 0, 16) : "", true);
    html_put(&b, &l, &c, submitted ? "　（已签字，已加盖单位公章）　" : "", false);
    html_put(&b, &l, &c, submitted ? rvs_val(r, 0, 8) : "", true);
    html_put(&b, &l, &c, "</td></tr>\n<tr><th>专班核查意见</th><td class=\"sign\">　</td></tr>\n</table>\n"
                         "<p>填报说明：承办单位经两次办理答复后企业仍不满意的，填写本表，由本单位主要负责同志签字并加盖"
                         "单位公章，上传至市级专班，由专班提出核查意见。</p>\n</body></html>\n",
             false);
    char obj[64];
    snprintf(obj, sizeof obj, "case:%s", rvs_val(r, 0, 1));
    PQclear(r);
    if (b == NULL) {
        http_reply_oom(req);
        return;
    }
    rvs_audit(rv, p, obj, json_pack("{s:s,s:s}", "via", "review_form_document", "form_id", id));
    http_reply_raw(req, 200, "text/html; charset=utf-8", b, l);
    free(b);
}

/* ---- discipline referrals ---------------------------------------------------------------------- */

void rvs_referrals_list(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *state = http_req_query(req, "state");
    int limit;
    char like[24], lim[16];
    if (rvs_query_limit(req, 100, 500, &limit) != 0) return;
    if (state && strcmp(state, "pending") && strcmp(state, "received")) {
        http_reply_error(req, 400, "not_allowed", "state", "state: pending or received");
        return;
    }
    if (jurisdiction(rv, req, p, like) != 0) return;
    snprintf(lim, sizeof lim, "%d", limit);
    const char *pa[] = {like, state, lim};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT d.id, d.case_id, c.case_no, d.unit_id, u.name, d.basis, d.detail, d.state, "
                 "revisit_time_text(d.created_at), revisit_time_text(d.received_at), c.enterprise_name, c.summary, d.region_code "
                 "FROM discipline_referrals d JOIN cases c ON c.id = d.case_id JOIN units u ON u.id = d.unit_id "
                 "WHERE d.region_code IN (SELECT code FROM regions WHERE code LIKE $1) AND ($2::text IS NULL OR d.state = $2) ORDER BY d.created_at LIMIT $3::int",
                 3, pa, &r) != 0) {
        rvs_reply_db_error(req, rv->pg, "referrals");
        return;
    }
    json_t *items = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *it = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s?,s:s,s:s,s:s}", "referral_id",
                               rvs_val(r, i, 0), "case_id", rvs_val(r, i, 1), "case_no", rvs_val(r, i, 2), "unit_id",
                               (json_int_t)atoll(rvs_val(r, i, 3)), "unit_name", rvs_val(r, i, 4), "basis",
                               rvs_val(r, i, 5), "detail", rvs_val(r, i, 6), "state", rvs_val(r, i, 7), "created_at",
                               rvs_val(r, i, 8), "received_at", rvs_val(r, i, 9), "enterprise_name", rvs_val(r, i, 10),
                               "summary", rvs_val(r, i, 11), "region_code", rvs_val(r, i, 12));
        if (it) json_array_append_new(items, it);
        json_array_append_new(ids, json_string(rvs_val(r, i, 1)));
    }
    PQclear(r);
    rvs_audit(rv, p, "discipline_referrals:list", json_pack("{s:o}", "cases", ids));
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

void rvs_referral_receive(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    char like[24], pid[32];
    if (jurisdiction(rv, req, p, like) != 0) return;
    snprintf(pid, sizeof pid, "%lld", p->id);
    const char *pa[] = {id, like, pid};
    PGresult *r = NULL;
    /* one statement: two clerks acknowledging at once → one 200, one 409 */
    if (pg_query(rv->pg,
                 "WITH hit AS (SELECT id, state, received_at FROM discipline_referrals WHERE id = $1::uuid "
                 "AND region_code IN (SELECT code FROM regions WHERE code LIKE $2)), upd AS (UPDATE discipline_referrals d SET state = 'received', "
                 "received_by = $3::bigint, received_at = now() FROM hit WHERE d.id = hit.id AND d.state = 'pending' "
                 "RETURNING d.received_at) SELECT (SELECT count(*) FROM hit), (SELECT revisit_time_text(received_at) FROM upd), "
                 "(SELECT revisit_time_text(received_at) FROM hit)",
                 3, pa, &r) != 0) {
        if (!strcmp(rv->pg->sqlstate, "22P02")) http_reply_error(req, 404, "not_found", NULL, "no such referral");
        else rvs_reply_db_error(req, rv->pg, "referral");
        return;
    }
    if (atoi(PQgetvalue(r, 0, 0)) != 1) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such referral in your jurisdiction");
        return;
    }
    if (rvs_val(r, 0, 1) == NULL) {
        http_reply_json(req, 409, json_pack("{s:{s:s,s:s,s:s},s:s,s:s?}", "error", "code", "bad_state", "message",
                                            "the referral was received already", "field", "state", "state", "received",
                                            "received_at", rvs_val(r, 0, 2)));
        PQclear(r);
        return;
    }
    json_t *out = json_pack("{s:s,s:s,s:s}", "referral_id", id, "state", "received", "received_at", rvs_val(r, 0, 1));
    PQclear(r);
    http_reply_json(req, 200, out);
}

/* ---- the bulletin --------------------------------------------------------------------------- */

void rvs_bulletin_list(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *month = http_req_query(req, "month");
    int limit, y, m;
    char like[24], lim[16], first[24] = "", tail;
    if (rvs_query_limit(req, 200, 1000, &limit) != 0) return;
    if (month && (sscanf(month, "%4d-%2d%c", &y, &m, &tail) != 2 || strlen(month) != 7 || m < 1 || m > 12 || y < 2000)) {
        http_reply_error(req, 400, "invalid_value", "month", "month: YYYY-MM, e.g. 2026-03");
        return;
    }
    if (month) snprintf(first, sizeof first, "%04d-%02d-01", y, m);
    if (jurisdiction(rv, req, p, like) != 0) return;
    snprintf(lim, sizeof lim, "%d", limit);
    const char *pa[] = {like, first[0] ? first : NULL, lim};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT b.id, b.case_id, c.case_no, b.unit_id, u.name, b.reason, b.handling_round, b.month, "
                 "revisit_time_text(b.created_at), b.region_code FROM revisit_bulletin b JOIN cases c ON c.id = b.case_id "
                 "LEFT JOIN units u ON u.id = b.unit_id WHERE b.region_code IN (SELECT code FROM regions WHERE code LIKE $1) AND b.month = "
                 "coalesce($2::date, date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date) "
                 "ORDER BY b.id LIMIT $3::int",
                 3, pa, &r) != 0) {
        rvs_reply_db_error(req, rv->pg, "bulletin");
        return;
    }
    json_t *items = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *it = json_pack("{s:I,s:s,s:s,s:I,s:s?,s:s,s:i,s:s,s:s,s:s}", "id", (json_int_t)atoll(rvs_val(r, i, 0)),
                               "case_id", rvs_val(r, i, 1), "case_no", rvs_val(r, i, 2), "unit_id",
                               (json_int_t)(rvs_val(r, i, 3) ? atoll(rvs_val(r, i, 3)) : 0), "unit_name",
                               rvs_val(r, i, 4), "reason", rvs_val(r, i, 5), "handling_round", atoi(rvs_val(r, i, 6)),
                               "month", rvs_val(r, i, 7), "created_at", rvs_val(r, i, 8), "region_code",
                               rvs_val(r, i, 9));
        if (it) json_array_append_new(items, it);
        json_array_append_new(ids, json_string(rvs_val(r, i, 1)));
    }
    PQclear(r);
    rvs_audit(rv, p, "revisit_bulletin:list", json_pack("{s:o}", "cases", ids));
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}
