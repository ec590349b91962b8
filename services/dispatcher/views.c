/*
 * views.c — what the dispatcher shows: the dispatch centre's queue (awaiting dispatch, returned,
 * disputed, escalated, handed down), each unit's queue (to sign, in progress, due soon), one
 * case's handling state as JSON, and the printable assignment form (交办单, the fields of seed
 * 003 annex 1) as HTML rendered from the case.
 *
 * Appeal content is confidential (DOMAIN.md §8): a unit sees only the cases it holds, a centre
 * (or supervisor, leader) those of its region and below; whatever a caller may not see is 404.
 * Every read of case content is written to audit_log. For a confidential case (举报) the form a
 * unit reads withholds the reporter's name and phone: the centre passes messages on.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "deadline.h"
#include "dispatcher.h"
#include "log.h"

static const char *const tier_words[] = {"", "province", "city", "county", "township"};

static const char *tier_word(int t) { return t >= 1 && t <= 4 ? tier_words[t] : ""; }

static int tier_from_word(const char *w)
{
    for (int t = 1; w && t <= 4; t++)
        if (!strcmp(w, tier_words[t])) return t;
    return 0;
}

static int parse_limit(http_req_t *req, int *limit)
{
    const char *l = http_req_query(req, "limit");
    char *end = NULL;
    long v = l ? strtol(l, &end, 10) : 50;
    if (l && (*l == '\0' || *end != '\0' || v < 1 || v > 500)) {
        http_reply_error(req, 400, "out_of_range", "limit", "limit: between 1 and 500");
        return -1;
    }
    *limit = (int)v;
    return 0;
}

static int64_t ms_of(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Sets key to the RFC 3339 time of a millisecond column, or null. */
static void set_time(json_t *o, const char *key, int64_t ms)
{
    char b[40];
    json_object_set_new(o, key, ms ? json_string(dsp_time(ms, b, sizeof b)) : json_null());
}

#define MS(x) "(extract(epoch from " x ") * 1000)::bigint"

/* ---- GET /v1/dispatch/queue ----------------------------------------------------------------- */

static const char *const queues[] = {"awaiting", "returned", "disputed", "escalated", "handed_down", NULL};
static const char *const kinds[] = {"consultation", "help", "complaint", "report", "suggestion", NULL};

static int one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

void dsp_h_centre_queue(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    const char *queue = http_req_query(req, "queue"), *tier = http_req_query(req, "tier"),
               *region = http_req_query(req, "region"), *unit = http_req_query(req, "unit"),
               *kind = http_req_query(req, "kind");
    int limit;
    if (parse_limit(req, &limit) != 0) return;
    if (queue && !one_of(queue, queues)) {
        http_reply_error(req, 400, "not_allowed", "queue", "queue: awaiting, returned, disputed, escalated or handed_down");
        return;
    }
    int t = tier ? tier_from_word(tier) : 0;
    if (tier && t == 0) {
        http_reply_error(req, 400, "not_allowed", "tier", "tier: province, city, county or township");
        return;
    }
    if (kind && !one_of(kind, kinds)) {
        http_reply_error(req, 400, "not_allowed", "kind", "kind: consultation, help, complaint, report or suggestion");
        return;
    }
    int scope_tier = dsp_code_tier(p->region_code);
    if (scope_tier == 0) {
        http_reply_error(req, 403, "forbidden", NULL, "your principal has no region");
        return;
    }
    if (region && dsp_code_tier(region) == 0) {
        http_reply_error(req, 400, "invalid_value", "region", "region: a division code of 6, 9 or 12 digits");
        return;
    }
    if (region && !auth_region_covers(p->region_code, region)) {
        http_reply_error(req, 403, "outside_jurisdiction", "region", "region: %s is outside your jurisdiction (%s)",
                         region, p->region_code);
        return;
    }
    dsp_unit_ref_t u = {0};
    if (unit && dsp_resolve_unit(pg, req, "unit", unit, &u) != 0) return;
    char scope[24], rlike[24], st[16], tt[16], uid[24], lim[16];
    dsp_region_like(p->region_code, scope, sizeof scope);
    if (region) dsp_region_like(region, rlike, sizeof rlike);
    snprintf(st, sizeof st, "%d", scope_tier);
    snprintf(tt, sizeof tt, "%d", t);
    snprintf(uid, sizeof uid, "%lld", u.id);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *pa[] = {scope, st, queue, t ? tt : NULL, region ? rlike : NULL, unit ? uid : NULL, kind, lim};
    PGresult *r = NULL;
    /* Responsible centre under the caller: the case's region under its region, and the case
     * handled at its tier or below (region_ancestor_at(region, tier) is then inside). */
    if (pg_query(pg,
                 "SELECT c.id, c.case_no, c.version, coalesce(d.queue, 'awaiting'), "
                 "coalesce(d.queue_reason, CASE WHEN d.case_id IS NULL THEN 'not_yet_routed' END), "
                 MS("coalesce(d.queued_at, c.updated_at)") ", c.region_code, c.tier, c.kind, c.complexity, "
                 "coalesce(d.matter_type, (SELECT e.payload->>'matter_type' FROM case_events e WHERE e.case_id = c.id "
                 "  AND e.type = 'case.accepted' ORDER BY e.id DESC LIMIT 1)), c.summary, c.enterprise_name, "
                 "coalesce(d.returns, 0), coalesce(d.attempts, 0), (SELECT u.code FROM case_units cu JOIN units u "
                 "  ON u.id = cu.unit_id WHERE cu.case_id = c.id AND cu.role = 'lead' ORDER BY cu.id DESC LIMIT 1), "
                 "coalesce(region_ancestor_at(c.region_code, c.tier), c.region_code) "
                 "FROM cases c LEFT JOIN case_dispatch d ON d.case_id = c.id "
                 "WHERE c.state = 'accepted' AND c.region_code LIKE $1 AND c.tier >= $2::int "
                 "AND ($3::text IS NULL OR coalesce(d.queue, 'awaiting') = $3) "
                 "AND ($4::int IS NULL OR c.tier = $4::int) AND ($5::text IS NULL OR c.region_code LIKE $5) "
                 "AND ($6::bigint IS NULL OR EXISTS (SELECT 1 FROM case_units cu WHERE cu.case_id = c.id "
                 "  AND cu.unit_id = $6::bigint)) AND ($7::text IS NULL OR c.kind = $7) "
                 "ORDER BY coalesce(d.queued_at, c.updated_at), c.id LIMIT $8::int",
                 8, pa, &r) != 0) {
        dsp_reply_db(req, pg, "centre queue");
        return;
    }
    json_t *items = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *it = json_pack("{s:s,s:s,s:i,s:s,s:s?,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:s?,s:s}", "case_id",
                               PQgetvalue(r, i, 0), "case_no", PQgetvalue(r, i, 1), "version", atoi(PQgetvalue(r, i, 2)),
                               "queue", PQgetvalue(r, i, 3), "reason",
                               PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4), "region_code", PQgetvalue(r, i, 6),
                               "tier", tier_word(atoi(PQgetvalue(r, i, 7))),
                               "kind", PQgetvalue(r, i, 8), "complexity", PQgetvalue(r, i, 9), "matter_type",
                               PQgetvalue(r, i, 10), "summary", PQgetvalue(r, i, 11), "enterprise_name",
                               PQgetvalue(r, i, 12), "returns", atoi(PQgetvalue(r, i, 13)), "attempts",
                               atoi(PQgetvalue(r, i, 14)), "last_lead_unit",
                               PQgetisnull(r, i, 15) ? NULL : PQgetvalue(r, i, 15), "responsible_region",
                               PQgetvalue(r, i, 16));
        if (it) {
            set_time(it, "queued_at", ms_of(r, i, 5));
            json_array_append_new(items, it);
        }
        json_array_append_new(ids, json_string(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
    char obj[48];
    snprintf(obj, sizeof obj, "dispatch_queue:%s", p->region_code);
    dsp_audit(pg, p, obj, json_pack("{s:o}", "cases", ids));
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

/* ---- GET /v1/unit/queue ---------------------------------------------------------------------- */

static const char *const buckets[] = {"to_sign", "awaiting_lead", "in_progress", "due_soon", NULL};

void dsp_h_unit_queue(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    const char *bucket = http_req_query(req, "bucket"), *kind = http_req_query(req, "kind");
    int limit;
    if (parse_limit(req, &limit) != 0) return;
    if (bucket && !one_of(bucket, buckets)) {
        http_reply_error(req, 400, "not_allowed", "bucket", "bucket: to_sign, awaiting_lead, in_progress or due_soon");
        return;
    }
    if (kind && !one_of(kind, kinds)) {
        http_reply_error(req, 400, "not_allowed", "kind", "kind: consultation, help, complaint, report or suggestion");
        return;
    }
    if (p->unit_id <= 0) {
        http_reply_error(req, 403, "forbidden", NULL, "your principal belongs to no unit");
        return;
    }
    char uid[24], hours[16], lim[16];
    snprintf(uid, sizeof uid, "%lld", p->unit_id);
    snprintf(hours, sizeof hours, "%ld", ds->cfg->due_soon_hours);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *pa[] = {uid, bucket, kind, hours, lim};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT * FROM (SELECT c.id, c.case_no, c.version, c.state, cu.role, c.kind, c.complexity, "
                 "coalesce(d.matter_type, ''), c.summary, "
                 "CASE WHEN c.confidential THEN '" AUTH_WITHHELD_REPORTER "' ELSE c.enterprise_name END, "
                 "c.region_code, c.tier, " MS("c.due_at") " AS due_ms, "
                 MS("d.sign_by") ", " MS("cu.assigned_at") ", "
                 "CASE WHEN c.state = 'dispatched' AND cu.role = 'lead' THEN 'to_sign' "
                 "     WHEN c.state = 'dispatched' THEN 'awaiting_lead' "
                 "     WHEN c.due_at IS NOT NULL AND c.due_at <= now() + make_interval(hours => $4::int) THEN 'due_soon' "
                 "     ELSE 'in_progress' END AS bucket, d.remit_decided_at IS NOT NULL "
                 "FROM case_units cu JOIN cases c ON c.id = cu.case_id LEFT JOIN case_dispatch d ON d.case_id = c.id "
                 "WHERE cu.unit_id = $1::bigint AND cu.released_at IS NULL AND c.state IN ('dispatched', 'in_progress') "
                 "AND ($3::text IS NULL OR c.kind = $3)) q WHERE ($2::text IS NULL OR q.bucket = $2) "
                 "ORDER BY q.due_ms NULLS LAST, q.id LIMIT $5::int",
                 5, pa, &r) != 0) {
        dsp_reply_db(req, pg, "unit queue");
        return;
    }
    json_t *items = json_array(), *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        int t = atoi(PQgetvalue(r, i, 11));
        json_t *it = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "case_id",
                               PQgetvalue(r, i, 0), "case_no", PQgetvalue(r, i, 1), "version", atoi(PQgetvalue(r, i, 2)),
                               "state", PQgetvalue(r, i, 3), "role", PQgetvalue(r, i, 4), "kind", PQgetvalue(r, i, 5),
                               "complexity", PQgetvalue(r, i, 6), "matter_type", PQgetvalue(r, i, 7), "summary",
                               PQgetvalue(r, i, 8), "enterprise_name", PQgetvalue(r, i, 9), "region_code",
                               PQgetvalue(r, i, 10), "tier", t >= 1 && t <= 4 ? tier_words[t] : "", "bucket",
                               PQgetvalue(r, i, 15), "remit_decided", PQgetvalue(r, i, 16)[0] == 't');
        if (it) {
            set_time(it, "due_at", ms_of(r, i, 12));
            set_time(it, "sign_by", ms_of(r, i, 13));
            set_time(it, "assigned_at", ms_of(r, i, 14));
            json_array_append_new(items, it);
        }
        json_array_append_new(ids, json_string(PQgetvalue(r, i, 0)));
    }
    PQclear(r);
    char obj[48];
    snprintf(obj, sizeof obj, "unit_queue:%lld", p->unit_id);
    dsp_audit(pg, p, obj, json_pack("{s:o}", "cases", ids));
    http_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

/* ---- reading one case ------------------------------------------------------------------------- */

/* The case row a reader needs, and whether p may see it. 1 visible (r holds the row), 0 not
 * (answered 404), -1 answered (database). Columns: see the SELECT. */
static int read_case(dispatcher_t *ds, http_req_t *req, const char *id, PGresult **out)
{
    const http_principal_t *p = http_req_principal(req);
    PGresult *r = NULL;
    *out = NULL;
    char uid[24];
    snprintf(uid, sizeof uid, "%lld", p->unit_id);
    const char *pb[] = {id, uid};
    if (pg_query(ds->pg,
                 "SELECT c.id, c.case_no, c.version, c.state, c.region_code, c.tier, c.kind, c.complexity, "
                 "c.enterprise_name, coalesce(c.credit_code, ''), coalesce(c.address, ''), coalesce(c.contact_name, ''), "
                 "coalesce(c.contact_phone, ''), c.summary, c.body, c.confidential, coalesce(c.lead_unit_id, 0), "
                 MS("c.due_at") ", " MS("c.received_at") ", coalesce(d.matter_type, ''), "
                 "coalesce(d.catalogue_version, 0), coalesce(d.route_basis, ''), coalesce(d.queue, ''), "
                 "coalesce(d.queue_reason, ''), coalesce(d.attempts, 0), coalesce(d.returns, 0), "
                 MS("d.remit_decided_at") ", " MS("d.dispatched_at") ", " MS("d.sign_by") ", " MS("d.resolve_by") ", "
                 "coalesce(d.resolve_window, ''), coalesce(d.ext_granted, 0), coalesce(d.ext_count, 0), "
                 "coalesce(region_ancestor_at(c.region_code, c.tier), c.region_code), "
                 "EXISTS (SELECT 1 FROM case_units cu WHERE cu.case_id = c.id AND cu.unit_id = $2::bigint "
                 "  AND cu.released_at IS NULL) "
                 "FROM cases c LEFT JOIN case_dispatch d ON d.case_id = c.id WHERE c.id = $1::uuid",
                 2, pb, &r) != 0) {
        if (ds->pg->last_class == PG_PERMANENT && !strcmp(ds->pg->sqlstate, "22P02")) { /* not a uuid */
            http_reply_error(req, 404, "not_found", NULL, "no such case");
            return 0;
        }
        dsp_reply_db(req, ds->pg, "reading the case");
        return -1;
    }
    bool ok = PQntuples(r) == 1;
    if (ok) {
        if (p->role == AUTH_ROLE_UNIT) ok = PQgetvalue(r, 0, 34)[0] == 't';
        else ok = p->region_code[0] && auth_region_covers(p->region_code, PQgetvalue(r, 0, 4));
    }
    if (!ok) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such case");
        return 0;
    }
    *out = r;
    return 1;
}

/* ---- GET /v1/cases/{id}/handling --------------------------------------------------------------- */

void dsp_h_handling(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const char *id = http_req_param(req, 0);
    PGresult *r = NULL, *h = NULL;
    if (read_case(ds, req, id, &r) != 1) return;
    const char *pa[] = {id};
    if (pg_query(pg,
                 "SELECT u.code, u.name, cu.role, cu.signed_at IS NOT NULL, (SELECT count(*) FROM case_parts p "
                 "  WHERE p.case_id = cu.case_id AND p.unit_id = cu.unit_id), (SELECT count(*) FROM case_contacts k "
                 "  WHERE k.case_id = cu.case_id AND k.unit_id = cu.unit_id) "
                 "FROM case_units cu JOIN units u ON u.id = cu.unit_id WHERE cu.case_id = $1::uuid "
                 "AND cu.released_at IS NULL ORDER BY cu.id",
                 1, pa, &h) != 0) {
        PQclear(r);
        dsp_reply_db(req, pg, "reading holders");
        return;
    }
    json_t *holders = json_array();
    for (int i = 0; i < PQntuples(h); i++)
        json_array_append_new(holders, json_pack("{s:s,s:s,s:s,s:b,s:i,s:i}", "unit", PQgetvalue(h, i, 0), "name",
                                                 PQgetvalue(h, i, 1), "role", PQgetvalue(h, i, 2), "signed",
                                                 PQgetvalue(h, i, 3)[0] == 't', "parts", atoi(PQgetvalue(h, i, 4)),
                                                 "contacts", atoi(PQgetvalue(h, i, 5))));
    PQclear(h);
    h = NULL;
    json_t *pending = json_null();
    if (pg_query(pg,
                 "SELECT request_id, extend_by, " MS("requested_due_at") " FROM case_extensions "
                 "WHERE case_id = $1::uuid AND decision IS NULL",
                 1, pa, &h) == 0 && PQntuples(h) == 1) {
        pending = json_pack("{s:s,s:i}", "request_id", PQgetvalue(h, 0, 0), "extend_by", atoi(PQgetvalue(h, 0, 1)));
        set_time(pending, "requested_due_at", ms_of(h, 0, 2));
    }
    PQclear(h);
    int tier = atoi(PQgetvalue(r, 0, 5));
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s?,s:s?,s:s?,s:i,s:i,s:b,s:o,s:s?,"
                          "s:{s:i,s:i,s:o}}",
                          "case_id", PQgetvalue(r, 0, 0), "case_no", PQgetvalue(r, 0, 1), "version",
                          atoi(PQgetvalue(r, 0, 2)), "state", PQgetvalue(r, 0, 3), "region_code", PQgetvalue(r, 0, 4),
                          "tier", tier >= 1 && tier <= 4 ? tier_words[tier] : "", "responsible_region",
                          PQgetvalue(r, 0, 33), "kind", PQgetvalue(r, 0, 6), "complexity", PQgetvalue(r, 0, 7),
                          "matter_type", PQgetvalue(r, 0, 19), "catalogue_version", atoi(PQgetvalue(r, 0, 20)),
                          "route_basis", PQgetvalue(r, 0, 21)[0] ? PQgetvalue(r, 0, 21) : NULL, "queue",
                          PQgetvalue(r, 0, 22)[0] ? PQgetvalue(r, 0, 22) : NULL, "queue_reason",
                          PQgetvalue(r, 0, 23)[0] ? PQgetvalue(r, 0, 23) : NULL, "attempts", atoi(PQgetvalue(r, 0, 24)),
                          "returns", atoi(PQgetvalue(r, 0, 25)), "remit_decided", !PQgetisnull(r, 0, 26), "holders",
                          holders, "resolve_window", PQgetvalue(r, 0, 30)[0] ? PQgetvalue(r, 0, 30) : NULL,
                          "extensions", "granted", atoi(PQgetvalue(r, 0, 31)), "count", atoi(PQgetvalue(r, 0, 32)),
                          "pending", pending);
    set_time(o, "due_at", ms_of(r, 0, 17));
    set_time(o, "dispatched_at", ms_of(r, 0, 27));
    set_time(o, "sign_by", ms_of(r, 0, 28));
    set_time(o, "resolve_by", ms_of(r, 0, 29));
    char obj[48];
    snprintf(obj, sizeof obj, "case:%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    dsp_audit(pg, http_req_principal(req), obj, json_pack("{s:s}", "view", "handling"));
    http_reply_json(req, 200, o);
}

/* ---- GET /v1/cases/{id}/assignment-form ---------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} html_t;

static void h_put(html_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 8192;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void JS_PRINTF(2, 3) h_raw(html_t *b, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) h_put(b, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Text into HTML: & < > " ' escaped, line breaks kept as <br>. */
static void h_text(html_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': h_put(b, "&amp;", 5); break;
        case '<': h_put(b, "&lt;", 4); break;
        case '>': h_put(b, "&gt;", 4); break;
        case '"': h_put(b, "&quot;", 6); break;
        case '\'': h_put(b, "&#39;", 5); break;
        case '\n': h_put(b, "<br>", 4); break;
        case '\r': break;
        default: h_put(b, s, 1);
        }
    }
}

static const char *date_zh(int64_t ms, char *buf, size_t len, bool with_time)
{
    if (ms == 0) {
        snprintf(buf, len, "—");
        return buf;
    }
    int y, m, d;
    calendar_day_to_ymd(deadline_local_day(ms), &y, &m, &d);
    int64_t sec = ((ms / 1000 + DEADLINE_UTC_OFFSET_S) % 86400 + 86400) % 86400;
    if (with_time) snprintf(buf, len, "%d年%d月%d日 %02d:%02d", y, m, d, (int)(sec / 3600), (int)(sec / 60 % 60));
    else snprintf(buf, len, "%d年%d月%d日", y, m, d);
    return buf;
}

static const char *kind_zh(const char *k)
{
    return !strcmp(k, "consultation") ? "咨询"
           : !strcmp(k, "help")       ? "求助"
           : !strcmp(k, "complaint")  ? "投诉"
           : !strcmp(k, "report")     ? "举报"
                                      : "意见建议";
}

static const char *complexity_zh(const char *c)
{
    return !strcmp(c, "simple") ? "简单" : !strcmp(c, "complex") ? "疑难复杂" : "一般";
}

/* The head of a printable form (交办单, 承办单): title, print style, the heading and the line with
 * the issuing party and the number 〔year〕case_no号; the caller goes on with the table. */
static void form_open(html_t *b, const char *region, const char *form, const char *party_label, const char *party,
                      const char *year, const char *case_no)
{
    h_raw(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    h_text(b, region);
    h_raw(b, "企业诉求%s ", form);
    h_text(b, case_no);
    h_raw(b, "</title>\n<style>\n"
             "body{font-family:\"SimSun\",\"Songti SC\",serif;margin:2cm;color:#000}\n"
             "h1{text-align:center;font-size:22pt;letter-spacing:2pt;margin:0 0 12pt}\n"
             ".meta{display:flex;justify-content:space-between;margin:0 0 6pt}\n"
             "table{width:100%%;border-collapse:collapse;table-layout:fixed}\n"
             "th,td{border:1px solid #000;padding:6pt;vertical-align:top;font-size:12pt}\n"
             "th{width:17%%;font-weight:normal;text-align:center;vertical-align:middle}\n"
             ".seal{height:60pt;text-align:right;vertical-align:bottom}\n"
             ".note{font-size:10pt;margin-top:8pt}\n"
             "@media print{body{margin:1.5cm}}\n"
             "</style>\n</head>\n<body>\n<h1>");
    h_text(b, region);
    h_raw(b, "企业诉求%s</h1>\n<p class=\"meta\"><span>%s：", form, party_label);
    h_text(b, party);
    h_raw(b, "</span><span>编号：〔%s〕", year);
    h_text(b, case_no);
}

/* Audits the read of a form and sends it (or 503 if building it ran out of memory). */
static void form_send(http_req_t *req, pg_t *pg, const http_principal_t *p, const char *obj, const char *view,
                      bool withhold, html_t *b)
{
    dsp_audit(pg, p, obj, json_pack("{s:s,s:b}", "view", view, "contact_withheld", withhold));
    if (b->oom) http_reply_oom(req);
    else http_reply_raw(req, 200, "text/html; charset=utf-8", b->s, b->len);
    free(b->s);
}

void dsp_h_assignment_form(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    PGresult *r = NULL, *q = NULL;
    if (read_case(ds, req, id, &r) != 1) return;
    if (strtoll(PQgetvalue(r, 0, 16), NULL, 10) == 0 || PQgetisnull(r, 0, 27)) {
        http_reply_json(req, 409, json_pack("{s:{s:s,s:s,s:n},s:s,s:i}", "error", "code", "not_dispatched", "message",
                                            "the case has not been dispatched to a unit yet: there is no assignment form",
                                            "field", "state", PQgetvalue(r, 0, 3), "version", atoi(PQgetvalue(r, 0, 2))));
        PQclear(r);
        return;
    }
    /* The names the form prints: the responsible centre, the lead, the co-handlers, the basis. */
    const char *pa[] = {id, PQgetvalue(r, 0, 33), PQgetvalue(r, 0, 19), PQgetvalue(r, 0, 20), PQgetvalue(r, 0, 4)};
    if (pg_query(pg,
                 "WITH RECURSIVE up(code, parent_code, depth) AS (SELECT code, parent_code, 0 FROM regions "
                 "  WHERE code = $5 UNION ALL SELECT g.code, g.parent_code, up.depth + 1 FROM regions g "
                 "  JOIN up ON g.code = up.parent_code WHERE up.depth < 8) "
                 "SELECT (SELECT name FROM regions WHERE code = $2), "
                 "coalesce((SELECT name FROM units WHERE region_code = $2 AND kind = 'centre' AND active), ''), "
                 "coalesce((SELECT string_agg(u.name, '、' ORDER BY cu.id) FROM case_units cu JOIN units u "
                 "  ON u.id = cu.unit_id WHERE cu.case_id = $1::uuid AND cu.role = 'lead' AND cu.released_at IS NULL), ''), "
                 "coalesce((SELECT string_agg(u.name, '、' ORDER BY cu.id) FROM case_units cu JOIN units u "
                 "  ON u.id = cu.unit_id WHERE cu.case_id = $1::uuid AND cu.role = 'co' AND cu.released_at IS NULL), ''), "
                 "coalesce((SELECT e.basis FROM up JOIN catalogue_entries e ON e.region_code = up.code "
                 "  WHERE e.version = $4::int AND e.matter_type = $3 ORDER BY up.depth LIMIT 1), '')",
                 5, pa, &q) != 0) {
        PQclear(r);
        dsp_reply_db(req, pg, "assignment form");
        return;
    }
    bool withhold = p->role == AUTH_ROLE_UNIT && PQgetvalue(r, 0, 15)[0] == 't';
    int64_t dispatched = ms_of(r, 0, 27), sign_by = ms_of(r, 0, 28), resolve_by = ms_of(r, 0, 29),
            due = ms_of(r, 0, 17);
    const char *case_no = PQgetvalue(r, 0, 1), *basis = PQgetvalue(r, 0, 21);
    char d1[64], d2[64], d3[64], year[16];
    int y;
    calendar_day_to_ymd(deadline_local_day(dispatched), &y, NULL, NULL);
    snprintf(year, sizeof year, "%d", y);
    html_t b = {0};
    form_open(&b, PQgetvalue(q, 0, 0), "交办单", "交办单位（盖章）", PQgetvalue(q, 0, 1), year, case_no);
    h_raw(&b, "号</span></p>\n<table>\n<tr><th>交办事项</th><td colspan=\"4\">");
    h_text(&b, PQgetvalue(r, 0, 13));
    h_raw(&b, "</td></tr>\n<tr><th>需要办理或协调解决事项</th><td colspan=\"4\">");
    h_text(&b, PQgetvalue(r, 0, 14));
    h_raw(&b, "</td></tr>\n<tr><th>反映企业</th><td colspan=\"4\">");
    if (withhold) h_raw(&b, AUTH_WITHHELD_REPORTER); /* the reporter, their code and address */
    else h_text(&b, PQgetvalue(r, 0, 8));
    if (!withhold && PQgetvalue(r, 0, 9)[0]) {
        h_raw(&b, "（统一社会信用代码：");
        h_text(&b, PQgetvalue(r, 0, 9));
        h_raw(&b, "）");
    }
    h_raw(&b, "</td></tr>\n<tr><th>企业地址</th><td colspan=\"4\">");
    if (withhold) h_raw(&b, "（保密件）");
    else h_text(&b, PQgetvalue(r, 0, 10));
    h_raw(&b, "</td></tr>\n<tr><th>联系人</th><td colspan=\"2\">");
    if (withhold) h_raw(&b, "（保密件：经交办单位转达）");
    else h_text(&b, PQgetvalue(r, 0, 11));
    h_raw(&b, "</td><th>联系电话</th><td>");
    if (withhold) h_raw(&b, "（保密件）");
    else h_text(&b, PQgetvalue(r, 0, 12));
    h_raw(&b, "</td></tr>\n<tr><th rowspan=\"3\">办理要求</th><th>牵头办理部门</th><td>");
    h_text(&b, PQgetvalue(q, 0, 2));
    h_raw(&b, "</td><th>交办日期</th><td>%s</td></tr>\n<tr><th>配合办理部门</th><td>",
          date_zh(dispatched, d1, sizeof d1, false));
    if (PQgetvalue(q, 0, 3)[0]) h_text(&b, PQgetvalue(q, 0, 3));
    else h_raw(&b, "—");
    h_raw(&b, "</td><th>办结时限</th><td>");
    if (resolve_by || due) h_raw(&b, "%s前", date_zh(resolve_by ? resolve_by : due, d2, sizeof d2, true));
    else h_raw(&b, "与企业商定后报交办单位");
    h_raw(&b, "</td></tr>\n<tr><td colspan=\"4\">请于%s前签收；不属于本单位职责的，须在此时限内书面说明理由退回。"
              "签收后立即与企业联系，如实记录联系情况，按时限办结，并将办理结果（属实/部分属实/不属实、"
              "办理措施、告知企业的方式）反馈交办单位。配合办理部门将办理情况反馈牵头办理部门，由牵头办理部门汇总答复。"
              "</td></tr>\n",
          date_zh(sign_by, d3, sizeof d3, true));
    h_raw(&b, "<tr><th>备注</th><td colspan=\"4\">诉求类型：%s；复杂程度：%s；事项类别：", kind_zh(PQgetvalue(r, 0, 6)),
          complexity_zh(PQgetvalue(r, 0, 7)));
    h_text(&b, PQgetvalue(r, 0, 19));
    h_raw(&b, "。派单依据：");
    if (!strcmp(basis, "catalogue")) h_raw(&b, "派单目录第%s版", PQgetvalue(r, 0, 20));
    else if (!strcmp(basis, "joint_meeting")) h_raw(&b, "联席会议确定（派单目录第%s版）", PQgetvalue(r, 0, 20));
    else h_raw(&b, "交办单位确定（派单目录第%s版）", PQgetvalue(r, 0, 20));
    if (PQgetvalue(q, 0, 4)[0]) {
        h_raw(&b, "；职责依据：");
        h_text(&b, PQgetvalue(q, 0, 4));
    }
    if (!PQgetisnull(r, 0, 26)) h_raw(&b, "。本件已由交办单位确定责任单位（确责），不得退件");
    if (atoi(PQgetvalue(r, 0, 24)) > 1) h_raw(&b, "。第%s次交办", PQgetvalue(r, 0, 24));
    h_raw(&b, "。</td></tr>\n</table>\n<p class=\"note\">注：向承办单位下发本交办单时，同时附诉求材料。"
              "本单据由系统根据案件第%s版生成，诉求内容保密，仅供办理使用。</p>\n</body>\n</html>\n",
          PQgetvalue(r, 0, 2));
    char obj[48];
    snprintf(obj, sizeof obj, "case:%s", PQgetvalue(r, 0, 0));
    PQclear(q);
    PQclear(r);
    form_send(req, pg, p, obj, "assignment_form", withhold, &b);
}

/* ---- GET /v1/cases/{id}/handling-form ------------------------------------------------------------ */

static const char *channel_zh(const char *c)
{
    static const char *const k[][2] = {{"web", "网上诉求"},          {"hotline", "12345热线"},
                                       {"window", "窗口受理"},       {"field_visit", "走访收集"},
                                       {"solicitation", "每周征集"}, {"mini_program", "小程序"},
                                       {"qr_code", "扫码反映"},      {"email", "电子邮件"},
                                       {"upper_transfer", "上级转办"}};
    for (size_t i = 0; i < JS_ARRAY_LEN(k); i++)
        if (!strcmp(c, k[i][0])) return k[i][1];
    return c;
}

static const char *told_zh(const char *h)
{
    return !strcmp(h, "phone")       ? "电话"
           : !strcmp(h, "sms")       ? "短信"
           : !strcmp(h, "in_person") ? "当面"
           : !strcmp(h, "letter")    ? "书面"
           : !strcmp(h, "online")    ? "网上"
                                     : "电子邮件";
}

static const char *finding_zh(const char *f)
{
    return !strcmp(f, "true") ? "属实" : !strcmp(f, "partly_true") ? "部分属实" : "不属实";
}

/* The handling form (承办单, seed 003 annex 2): the lead unit's account of the latest round —
 * who handled it, the finding and measures, how and when the enterprise was told, and what the
 * revisit heard (satisfaction; for an unsatisfied one, the reason and the next steps from the
 * unit's review form). For a unit, a confidential report's reporter is withheld as on the
 * assignment form. */
void dsp_h_handling_form(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    pg_t *pg = ds->pg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    PGresult *r = NULL, *q = NULL;
    if (read_case(ds, req, id, &r) != 1) return;
    const char *pa[] = {id, PQgetvalue(r, 0, 33)};
    if (pg_query(pg,
                 "SELECT (SELECT name FROM regions WHERE code = $2), u.name, x.handling_round, x.finding, x.measures, "
                 "x.how_told, " MS("x.told_at") ", coalesce(x.handler_name, pr.name, ''), coalesce(x.handler_phone, ''), "
                 "c.channel, coalesce((SELECT string_agg(v.name, '、' ORDER BY cu.id) FROM case_units cu JOIN units v "
                 "  ON v.id = cu.unit_id WHERE cu.case_id = x.case_id AND cu.role = 'co' AND cu.released_at IS NULL), ''), "
                 "(SELECT k.satisfaction_label FROM revisit_calls k WHERE k.case_id = x.case_id "
                 "  AND k.handling_round = x.handling_round AND k.satisfaction_label IS NOT NULL ORDER BY k.called_at DESC "
                 "  LIMIT 1), "
                 "(SELECT f.unsatisfied_analysis FROM review_forms f JOIN revisit_calls k ON k.id = f.call_id "
                 "  WHERE f.case_id = x.case_id AND f.state = 'submitted' AND k.handling_round = x.handling_round "
                 "  ORDER BY f.submitted_at DESC LIMIT 1), "
                 "(SELECT f.next_steps FROM review_forms f JOIN revisit_calls k ON k.id = f.call_id "
                 "  WHERE f.case_id = x.case_id AND f.state = 'submitted' AND k.handling_round = x.handling_round "
                 "  ORDER BY f.submitted_at DESC LIMIT 1), " MS("x.submitted_at") " "
                 "FROM case_results x JOIN units u ON u.id = x.unit_id JOIN cases c ON c.id = x.case_id "
                 "LEFT JOIN principals pr ON pr.id = x.submitted_by WHERE x.case_id = $1::uuid "
                 "ORDER BY x.handling_round DESC LIMIT 1",
                 2, pa, &q) != 0) {
        PQclear(r);
        dsp_reply_db(req, pg, "handling form");
        return;
    }
    if (PQntuples(q) == 0) {
        http_reply_json(req, 409, json_pack("{s:{s:s,s:s,s:n},s:s,s:i}", "error", "code", "no_result", "message",
                                            "the unit has not submitted a result yet: there is no handling form",
                                            "field", "state", PQgetvalue(r, 0, 3), "version", atoi(PQgetvalue(r, 0, 2))));
        PQclear(q);
        PQclear(r);
        return;
    }
    bool withhold = p->role == AUTH_ROLE_UNIT && PQgetvalue(r, 0, 15)[0] == 't';
    int64_t received = ms_of(r, 0, 18), told = ms_of(q, 0, 6), submitted = ms_of(q, 0, 14);
    char d1[64], d2[64], d3[64], year[16];
    int y;
    calendar_day_to_ymd(deadline_local_day(submitted), &y, NULL, NULL);
    snprintf(year, sizeof year, "%d", y);
    html_t b = {0};
    form_open(&b, PQgetvalue(q, 0, 0), "承办单", "承办单位", PQgetvalue(q, 0, 1), year, PQgetvalue(r, 0, 1));
    h_raw(&b, "号</span></p>\n<table>\n<tr><th>时间</th><td colspan=\"2\">%s</td><th>问题来源</th><td>%s</td></tr>\n",
          date_zh(received, d1, sizeof d1, false), channel_zh(PQgetvalue(q, 0, 9)));
    h_raw(&b, "<tr><th>诉求人</th><td colspan=\"2\">");
    if (withhold) h_raw(&b, "（保密件：经交办单位转达）");
    else h_text(&b, PQgetvalue(r, 0, 11));
    h_raw(&b, "</td><th>联系电话</th><td>");
    if (withhold) h_raw(&b, "（保密件）");
    else h_text(&b, PQgetvalue(r, 0, 12));
    h_raw(&b, "</td></tr>\n<tr><th>公司名称</th><td colspan=\"4\">");
    if (withhold) h_raw(&b, AUTH_WITHHELD_REPORTER);
    else h_text(&b, PQgetvalue(r, 0, 8));
    h_raw(&b, "</td></tr>\n<tr><th>诉求</th><td colspan=\"4\">");
    h_text(&b, PQgetvalue(r, 0, 14));
    h_raw(&b, "</td></tr>\n<tr><th>办理单位</th><td colspan=\"2\">");
    h_text(&b, PQgetvalue(q, 0, 1));
    if (PQgetvalue(q, 0, 10)[0]) {
        h_raw(&b, "（牵头）；");
        h_text(&b, PQgetvalue(q, 0, 10));
        h_raw(&b, "（配合）");
    }
    h_raw(&b, "</td><th>经办人</th><td>");
    h_text(&b, PQgetvalue(q, 0, 7));
    h_raw(&b, "</td></tr>\n<tr><th>联系电话</th><td colspan=\"4\">");
    h_text(&b, PQgetvalue(q, 0, 8));
    h_raw(&b, "</td></tr>\n<tr><th>反映问题摘要</th><td colspan=\"4\">");
    h_text(&b, PQgetvalue(r, 0, 13));
    h_raw(&b, "</td></tr>\n<tr><th>转办意见</th><td colspan=\"4\">交由");
    h_text(&b, PQgetvalue(q, 0, 1));
    h_raw(&b, "牵头办理（事项类别：");
    h_text(&b, PQgetvalue(r, 0, 19));
    if (!strcmp(PQgetvalue(r, 0, 21), "catalogue")) h_raw(&b, "；依派单目录第%s版", PQgetvalue(r, 0, 20));
    else h_raw(&b, "；交办单位确定");
    h_raw(&b, "），%s前办结反馈。</td></tr>\n",
          date_zh(ms_of(r, 0, 29) ? ms_of(r, 0, 29) : ms_of(r, 0, 17), d2, sizeof d2, true));
    h_raw(&b, "<tr><th>办理情况</th><td colspan=\"4\">经查，反映事项%s。", finding_zh(PQgetvalue(q, 0, 3)));
    if (atoi(PQgetvalue(q, 0, 2)) > 1) h_raw(&b, "（第%s轮办理）", PQgetvalue(q, 0, 2));
    h_raw(&b, "<br>");
    h_text(&b, PQgetvalue(q, 0, 4));
    h_raw(&b, "</td></tr>\n<tr><th>反馈情况</th><td colspan=\"4\">%s，办理单位经办人向诉求企业以%s方式进行了办理结果反馈",
          date_zh(told, d3, sizeof d3, false), told_zh(PQgetvalue(q, 0, 5)));
    if (!PQgetisnull(q, 0, 11)) {
        h_raw(&b, "，回访时企业对办理结果表示：");
        h_text(&b, PQgetvalue(q, 0, 11));
    } else {
        h_raw(&b, "（待回访）");
    }
    h_raw(&b, "。</td></tr>\n<tr><th>不满意原因</th><td colspan=\"4\">");
    if (!PQgetisnull(q, 0, 12)) h_text(&b, PQgetvalue(q, 0, 12));
    else h_raw(&b, "—");
    h_raw(&b, "</td></tr>\n<tr><th>下一步计划</th><td colspan=\"4\">");
    if (!PQgetisnull(q, 0, 13)) h_text(&b, PQgetvalue(q, 0, 13));
    else h_raw(&b, "—");
    h_raw(&b, "</td></tr>\n<tr><th>单位签章</th><td colspan=\"4\" class=\"seal\">（签章）&nbsp;&nbsp;年&nbsp;&nbsp;月&nbsp;&nbsp;日"
              "</td></tr>\n</table>\n<p class=\"note\">注：本单据由系统根据办理结果生成，办理情况以承办单位提交的为准；"
              "诉求内容保密，仅供办理使用。</p>\n</body>\n</html>\n");
    char obj[48];
    snprintf(obj, sizeof obj, "case:%s", PQgetvalue(r, 0, 0));
    PQclear(q);
    PQclear(r);
    form_send(req, pg, p, obj, "handling_form", withhold, &b);
}
