/*
 * policies.c — the policy library (政策库): question/answer entries agents keep by API, and
 * search to answer consultations on the spot.
 *
 * Entries live in PostgreSQL (policy_entries) with their text signature; each intake instance
 * holds the active ones in memory (a province has thousands, not millions) and ranks them by
 * text similarity to the question (common/textsim.c, character bigrams, which work on Chinese
 * without a word segmenter). Writes reload this instance at once; other instances reload on
 * their periodic refresh. Every change is audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "intake.h"
#include "log.h"
#include "reqval.h"
#include "textsim.h"

typedef struct {
    long long id;
    char region[16]; /* "" = whole deployment */
    char *title, *answer;
    textsim_sig_t *sig;
} policy_t;

struct intake_policies {
    policy_t *v;
    size_t n;
};

intake_policies_t *intake_policies_new(void) { return calloc(1, sizeof(intake_policies_t)); }

static void policies_clear(intake_policies_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].title);
        free(p->v[i].answer);
        textsim_sig_free(p->v[i].sig);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

void intake_policies_free(intake_policies_t *p)
{
    if (p == NULL) return;
    policies_clear(p);
    free(p);
}

int intake_policies_load(intake_policies_t *p, pg_t *pg)
{
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT id, coalesce(region_code, ''), title, answer, text_sig FROM policy_entries "
                     "WHERE active ORDER BY id", 0, NULL, &r) != 0)
        return -1;
    size_t n = (size_t)PQntuples(r);
    policy_t *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL) {
        PQclear(r);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        policy_t *e = &v[k];
        e->id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
        snprintf(e->region, sizeof e->region, "%s", PQgetvalue(r, (int)i, 1));
        e->title = strdup(PQgetvalue(r, (int)i, 2));
        e->answer = strdup(PQgetvalue(r, (int)i, 3));
        if (textsim_sig_decode(PQgetvalue(r, (int)i, 4), &e->sig) != 0 || !e->title || !e->answer) {
            free(e->title);
            free(e->answer);
            textsim_sig_free(e->sig);
            memset(e, 0, sizeof *e);
            continue;
        }
        k++;
    }
    PQclear(r);
    policies_clear(p);
    p->v = v;
    p->n = k;
    return 0;
}

json_t *intake_policies_match(const intake_policies_t *p, const char *text, const char *region,
                              int k, double min_score)
{
    json_t *out = json_array();
    textsim_sig_t *q = textsim_sig_new(text, strlen(text));
    if (out == NULL || q == NULL || k <= 0) {
        textsim_sig_free(q);
        return out;
    }
    /* keep the best k, by insertion into a small sorted array */
    double best[16];
    size_t idx[16], nb = 0, cap = k > 16 ? 16 : (size_t)k;
    for (size_t i = 0; i < p->n; i++) {
        const policy_t *e = &p->v[i];
        /* an entry of region R applies to R and the regions below it; no region asked: all */
        if (e->region[0] && region != NULL && !auth_region_covers(e->region, region)) continue;
        double sc = textsim_similarity(q, e->sig);
        if (sc < min_score) continue;
        size_t pos = nb;
        while (pos > 0 && best[pos - 1] < sc) pos--;
        if (pos >= cap) continue;
        size_t last = nb < cap ? nb : cap - 1;
        for (size_t j = last; j > pos; j--) {
            best[j] = best[j - 1];
            idx[j] = idx[j - 1];
        }
        best[pos] = sc;
        idx[pos] = i;
        if (nb < cap) nb++;
    }
    for (size_t j = 0; j < nb; j++) {
        const policy_t *e = &p->v[idx[j]];
        json_array_append_new(out, json_pack("{s:I,s:s,s:s,s:f}", "id", (json_int_t)e->id, "title",
                                             e->title, "answer", e->answer, "score", best[j]));
    }
    textsim_sig_free(q);
    return out;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static rv_field_t policy_fields[] = {
    {.name = "title", .type = RV_STR, .required = true, .min = 1, .max = 200, .single_line = true},
    {.name = "question", .type = RV_STR, .required = true, .min = 1, .max = 2000},
    {.name = "answer", .type = RV_STR, .required = true, .min = 1, .max = 5000},
    {.name = "keywords", .type = RV_ARRAY, .max = 20, .items = RV_STR},
    {.name = "source", .type = RV_STR, .min = 1, .max = 500},
    {.name = "region_code", .type = RV_STR, .min = 6, .max = 12, .single_line = true},
    {.name = "version", .type = RV_INT, .min = 1, .max = 1000000000},
};

/* detail (may be NULL) is stolen. */
static int audit(pg_t *pg, const http_principal_t *p, const char *action, long long id, json_t *detail)
{
    char pid[32], obj[48];
    snprintf(pid, sizeof pid, "%lld", p->id);
    snprintf(obj, sizeof obj, "policy_entry:%lld", id);
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : strdup("{}");
    json_decref(detail);
    const char *pa[] = {pid, action, obj, d};
    int rc = d ? pg_query(pg, "INSERT INTO audit_log (principal_id, action, object, detail) "
                              "VALUES ($1::bigint, $2, $3, $4::jsonb)", 4, pa, NULL) : -1;
    free(d);
    return rc;
}

static json_t *keywords_literal(json_t *body, char **out)
{
    /* keywords go in as a JSON array and come out as text[] via jsonb */
    json_t *kw = json_object_get(body, "keywords");
    *out = json_dumps(kw ? kw : json_array(), JSON_COMPACT);
    return kw;
}

/* May p manage an entry of this region (NULL = the whole deployment)? A regional agent or
 * centre keeps its own region's entries and those below; deployment-wide entries belong to
 * the principals of the territory's top region. */
static int policy_scope_ok(intake_t *in, const http_principal_t *p, const char *region)
{
    if (p->region_code[0] == '\0') return 0;
    if (region == NULL) {
        const intake_region_t *root = intake_regions_root(in->regions);
        return root != NULL && strcmp(root->code, p->region_code) == 0;
    }
    return auth_region_covers(p->region_code, region);
}

static int policy_body(http_req_t *req, json_t *body, const http_principal_t *p, intake_t *in)
{
    rv_error_t e;
    if (rv_validate(body, policy_fields, JS_ARRAY_LEN(policy_fields), &e) != 0) {
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        return -1;
    }
    const char *region = rv_str(body, "region_code", NULL);
    if (region && intake_regions_find(in->regions, region) == NULL) {
        http_reply_error(req, 400, "invalid_value", "region_code",
                         "region_code: %s is not a region of this deployment", region);
        return -1;
    }
    if (!policy_scope_ok(in, p, region)) {
        http_reply_error(req, 403, "forbidden", "region_code",
                         region ? "region_code: outside your region" :
                                  "region_code: entries for the whole deployment are kept at its top "
                                  "region; give your region");
        return -1;
    }
    return 0;
}

/* The entry's region as it is now (owned; NULL for deployment-wide). 1 found, 0 missing, -1 db. */
static int policy_region_of(intake_t *in, const char *id, char **region)
{
    const char *p[] = {id};
    PGresult *r = NULL;
    *region = NULL;
    if (pg_query(in->pg, "SELECT region_code FROM policy_entries WHERE id = $1::bigint AND active", 1, p, &r) != 0)
        return -1;
    int found = PQntuples(r) == 1;
    if (found && !PQgetisnull(r, 0, 0)) *region = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

/* Answers 404/403/503 unless p may change entry id; 0 when it may. */
static int policy_may_change(http_req_t *req, intake_t *in, const http_principal_t *p, const char *id)
{
    char *region = NULL;
    int found = policy_region_of(in, id, &region);
    int rc = -1;
    if (found < 0) intake_reply_db_error(req, in->pg, "policy read");
    else if (found == 0) http_reply_error(req, 404, "not_found", NULL, "no active policy entry %s", id);
    else if (!policy_scope_ok(in, p, region))
        http_reply_error(req, 403, "forbidden", NULL, "policy entry %s belongs to a region outside yours", id);
    else rc = 0;
    free(region);
    return rc;
}

static json_t *policy_row_json(PGresult *r, int i)
{
    return json_pack("{s:I,s:s?,s:s,s:s,s:s,s:s?,s:b,s:i,s:s}", "id",
                     (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "region_code",
                     PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1), "title", PQgetvalue(r, i, 2),
                     "question", PQgetvalue(r, i, 3), "answer", PQgetvalue(r, i, 4), "source",
                     PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5), "active",
                     PQgetvalue(r, i, 6)[0] == 't', "version", atoi(PQgetvalue(r, i, 7)),
                     "updated_at", PQgetvalue(r, i, 8));
}

#define POLICY_COLS "id, region_code, title, question, answer, source, active, version, " PG_RFC3339("updated_at")

static void reply_policy(http_req_t *req, intake_t *in, int status, const char *id)
{
    const char *p[] = {id};
    PGresult *r = NULL;
    if (pg_query(in->pg, "SELECT " POLICY_COLS ", array_to_json(keywords)::text FROM policy_entries WHERE id = $1::bigint",
                 1, p, &r) != 0) {
        intake_reply_db_error(req, in->pg, "policy read");
        return;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no policy entry %s", id);
        return;
    }
    json_t *o = policy_row_json(r, 0);
    json_object_set_new(o, "keywords", json_loads(PQgetvalue(r, 0, 9), 0, NULL));
    PQclear(r);
    http_reply_json(req, status, o);
}

static int sig_of(json_t *body, char **hex)
{
    char *text = NULL;
    if (asprintf(&text, "%s\n%s", rv_str(body, "title", ""), rv_str(body, "question", "")) < 0) return -1;
    textsim_sig_t *s = textsim_sig_new(text, strlen(text));
    free(text);
    int rc = s ? textsim_sig_encode(s, hex) : -1;
    textsim_sig_free(s);
    return rc;
}

void intake_policy_create(http_req_t *req, void *arg)
{
    intake_t *in = arg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    if (json_object_get(body, "version")) {
        json_decref(body);
        http_reply_error(req, 400, "unknown_field", "version", "version: not allowed when creating");
        return;
    }
    if (policy_body(req, body, p, in) != 0) {
        json_decref(body);
        return;
    }
    char *sig = NULL, *kw = NULL, pid[32];
    keywords_literal(body, &kw);
    snprintf(pid, sizeof pid, "%lld", p->id);
    if (sig_of(body, &sig) != 0) {
        json_decref(body);
        free(kw);
        http_reply_oom(req);
        return;
    }
    const char *pa[] = {rv_str(body, "region_code", NULL), rv_str(body, "title", ""), rv_str(body, "question", ""),
                        rv_str(body, "answer", ""), kw, rv_str(body, "source", NULL), sig, pid};
    PGresult *r = NULL;
    int ok = pg_begin(in->pg) == 0 &&
             pg_query(in->pg,
                      "INSERT INTO policy_entries (region_code, title, question, answer, keywords, source, "
                      "text_sig, created_by, updated_by) SELECT $1, $2, $3, $4, "
                      "coalesce(array(SELECT jsonb_array_elements_text($5::jsonb)), '{}'), $6, $7, "
                      "$8::bigint, $8::bigint RETURNING id",
                      8, pa, &r) == 0;
    char id[32] = "";
    if (ok) {
        snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
        ok = audit(in->pg, p, "policy.create", strtoll(id, NULL, 10), json_pack("{s:s}", "title", pa[1])) == 0 &&
             pg_commit(in->pg) == 0;
    }
    PQclear(r);
    free(sig);
    free(kw);
    json_decref(body);
    if (!ok) {
        pg_rollback(in->pg);
        intake_reply_db_error(req, in->pg, "policy create");
        return;
    }
    if (intake_policies_load(in->policies, in->pg) != 0) LOGW("policy reload failed", LF_STR("error", in->pg->err));
    char loc[64];
    snprintf(loc, sizeof loc, "/v1/policies/%s", id);
    http_reply_header(req, "Location", loc);
    reply_policy(req, in, 201, id);
}

static int id_param(http_req_t *req, char out[32])
{
    const char *s = http_req_param(req, 0);
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n) {
        http_reply_error(req, 404, "not_found", NULL, "no such policy entry");
        return -1;
    }
    snprintf(out, 32, "%s", s);
    return 0;
}

void intake_policy_update(http_req_t *req, void *arg)
{
    intake_t *in = arg;
    const http_principal_t *p = http_req_principal(req);
    char id[32];
    if (id_param(req, id) != 0) return;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    if (policy_body(req, body, p, in) != 0 || policy_may_change(req, in, p, id) != 0) {
        json_decref(body);
        return;
    }
    json_t *ver = json_object_get(body, "version");
    if (!json_is_integer(ver)) {
        json_decref(body);
        http_reply_error(req, 400, "missing_field", "version",
                         "version: is required to update (the version you read, for conflict detection)");
        return;
    }
    char *sig = NULL, *kw = NULL, pid[32], v[16];
    keywords_literal(body, &kw);
    snprintf(pid, sizeof pid, "%lld", p->id);
    snprintf(v, sizeof v, "%lld", (long long)json_integer_value(ver));
    if (sig_of(body, &sig) != 0) {
        json_decref(body);
        free(kw);
        http_reply_oom(req);
        return;
    }
    const char *pa[] = {id, rv_str(body, "region_code", NULL), rv_str(body, "title", ""), rv_str(body, "question", ""),
                        rv_str(body, "answer", ""), kw, rv_str(body, "source", NULL), sig, pid, v};
    PGresult *r = NULL;
    int ok = pg_begin(in->pg) == 0 &&
             pg_query(in->pg,
                      "UPDATE policy_entries SET region_code = $2, title = $3, question = $4, answer = $5, "
                      "keywords = coalesce(array(SELECT jsonb_array_elements_text($6::jsonb)), '{}'), "
                      "source = $7, text_sig = $8, updated_by = $9::bigint, updated_at = now(), "
                      "version = version + 1 WHERE id = $1::bigint AND version = $10::int AND active "
                      "RETURNING id",
                      10, pa, &r) == 0;
    int hit = ok && PQntuples(r) == 1;
    PQclear(r);
    if (hit) ok = audit(in->pg, p, "policy.update", strtoll(id, NULL, 10), json_pack("{s:s}", "title", pa[2])) == 0;
    if (ok && hit) ok = pg_commit(in->pg) == 0;
    else pg_rollback(in->pg);
    free(sig);
    free(kw);
    json_decref(body);
    if (!ok) {
        intake_reply_db_error(req, in->pg, "policy update");
        return;
    }
    if (!hit) { /* someone else changed or retired it first */
        http_reply_error(req, 409, "conflict", "version",
                         "policy entry %s was changed or retired since version %s; reload it", id, v);
        return;
    }
    if (intake_policies_load(in->policies, in->pg) != 0) LOGW("policy reload failed", LF_STR("error", in->pg->err));
    reply_policy(req, in, 200, id);
}

void intake_policy_retire(http_req_t *req, void *arg)
{
    intake_t *in = arg;
    const http_principal_t *p = http_req_principal(req);
    char id[32];
    if (id_param(req, id) != 0 || policy_may_change(req, in, p, id) != 0) return;
    const char *pa[] = {id};
    PGresult *r = NULL;
    int ok = pg_begin(in->pg) == 0 &&
             pg_query(in->pg, "UPDATE policy_entries SET active = false, version = version + 1, "
                              "updated_at = now() WHERE id = $1::bigint AND active RETURNING id",
                      1, pa, &r) == 0;
    int hit = ok && PQntuples(r) == 1;
    PQclear(r);
    if (hit) ok = audit(in->pg, p, "policy.retire", strtoll(id, NULL, 10), NULL) == 0 && pg_commit(in->pg) == 0;
    else pg_rollback(in->pg);
    if (!ok) {
        intake_reply_db_error(req, in->pg, "policy retire");
        return;
    }
    if (!hit) {
        http_reply_error(req, 404, "not_found", NULL, "no active policy entry %s", id);
        return;
    }
    if (intake_policies_load(in->policies, in->pg) != 0) LOGW("policy reload failed", LF_STR("error", in->pg->err));
    reply_policy(req, in, 200, id);
}

void intake_policy_get(http_req_t *req, void *arg)
{
    char id[32];
    if (id_param(req, id) != 0) return;
    reply_policy(req, arg, 200, id);
}

void intake_policy_search(http_req_t *req, void *arg)
{
    intake_t *in = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *q = http_req_query(req, "q");
    if (q == NULL || rv_codepoints(q) < 2 || rv_codepoints(q) > 2000) {
        http_reply_error(req, 400, "invalid_value", "q", "q: the question to search for, 2 to 2000 characters");
        return;
    }
    const char *region = http_req_query(req, "region_code");
    if (region == NULL) region = p->region_code[0] ? p->region_code : NULL;
    const char *lim = http_req_query(req, "limit");
    int k = lim ? atoi(lim) : 5;
    if (k < 1 || k > 16) {
        http_reply_error(req, 400, "out_of_range", "limit", "limit: between 1 and 16");
        return;
    }
    json_t *hits = intake_policies_match(in->policies, q, region, k, 0.05);
    http_reply_json(req, 200, json_pack("{s:o}", "results", hits ? hits : json_array()));
}
