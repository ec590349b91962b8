/*
 * query.c — what every report endpoint shares: query parameters validated one by one (a bad
 * value is a 400 naming the parameter), the caller's region scope (DOMAIN.md §8: a leader,
 * centre or supervisor sees its region and the regions below it), and the measures query.
 *
 * The measures query reads the cube as whole months from rep_month plus the days at the
 * period's edges from rep_day, grouped as asked; adds the clock-dependent parts (open cases
 * past due, dispatches unsigned past their sign-by) from the open rows of rep_cases; and the
 * cards and notices from rep_unit_day when the grouping can carry them (not by kind). The
 * three results are merged in C by their group key. Parameters are bound, never spliced.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "reporting.h"

/* ---- parameters ---------------------------------------------------------------------------- */

static int bad(http_req_t *req, const char *field, const char *msg)
{
    http_reply_error(req, 400, "invalid_parameter", field, "%s: %s", field, msg);
    return -1;
}

int rep_param_int(http_req_t *req, const char *name, long min, long max, long def, long *out)
{
    const char *v = http_req_query(req, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < min || x > max) {
        char m[128];
        snprintf(m, sizeof m, "must be an integer from %ld to %ld", min, max);
        return bad(req, name, m);
    }
    *out = (long)x;
    return 0;
}

int rep_param_enum(http_req_t *req, const char *name, const char *const *values, const char *def,
                   const char **out)
{
    const char *v = http_req_query(req, name);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    for (size_t i = 0; values[i]; i++)
        if (!strcmp(values[i], v)) {
            *out = values[i];
            return 0;
        }
    char m[256];
    size_t o = (size_t)snprintf(m, sizeof m, "must be one of");
    for (size_t i = 0; values[i] && o < sizeof m; i++)
        o += (size_t)snprintf(m + o, sizeof m - o, "%s %s", i ? "," : "", values[i]);
    return bad(req, name, m);
}

static int parse_day(http_req_t *req, const char *name, calendar_day_t *d)
{
    const char *v = http_req_query(req, name);
    if (v == NULL) return 1;
    if (calendar_day_parse(v, d) != 0) return bad(req, name, "must be a date YYYY-MM-DD");
    int y;
    calendar_day_to_ymd(*d, &y, NULL, NULL);
    if (y < 2000 || y > 2999) return bad(req, name, "must be a date between 2000 and 2999");
    return 0;
}

int rep_param_month(http_req_t *req, const char *name, calendar_day_t *first, calendar_day_t *last)
{
    const char *v = http_req_query(req, name);
    int y = 0, m = 0;
    char extra;
    if (v == NULL) return bad(req, name, "is required (YYYY-MM)");
    if (strlen(v) != 7 || sscanf(v, "%4d-%2d%c", &y, &m, &extra) != 2 || v[4] != '-' || y < 2000 || y > 2999 ||
        m < 1 || m > 12)
        return bad(req, name, "must be a month YYYY-MM");
    if (calendar_day_from_ymd(y, m, 1, first) != 0) return bad(req, name, "must be a month YYYY-MM");
    calendar_day_t next;
    if (calendar_day_from_ymd(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1, &next) != 0)
        return bad(req, name, "must be a month YYYY-MM");
    *last = next - 1;
    return 0;
}

int rep_param_period(http_req_t *req, rep_t *s, calendar_day_t *from, calendar_day_t *to)
{
    if (http_req_query(req, "month")) {
        if (http_req_query(req, "from") || http_req_query(req, "to"))
            return bad(req, "month", "give either month or from/to, not both");
        return rep_param_month(req, "month", from, to);
    }
    int a = parse_day(req, "from", from);
    if (a < 0) return -1;
    if (a == 1) return bad(req, "from", "is required (YYYY-MM-DD), or give month=YYYY-MM");
    int b = parse_day(req, "to", to);
    if (b < 0) return -1;
    if (b == 1) return bad(req, "to", "is required (YYYY-MM-DD)");
    if (*to < *from) return bad(req, "to", "must not be before from");
    if (*to - *from + 1 > s->cfg->max_period_days) {
        char m[96];
        snprintf(m, sizeof m, "the period may span at most %ld days", s->cfg->max_period_days);
        return bad(req, "to", m);
    }
    return 0;
}

int rep_param_filters(http_req_t *req, rep_query_t *q)
{
    static const char *const kinds[] = {"consultation", "help", "complaint", "report", "suggestion", NULL};
    const char *k = NULL;
    long tier = 0;
    if (rep_param_enum(req, "kind", kinds, NULL, &k) != 0 || rep_param_int(req, "tier", 1, 4, 0, &tier) != 0)
        return -1;
    snprintf(q->kind, sizeof q->kind, "%s", k ? k : "");
    q->tier = (int)tier;
    return 0;
}

int rep_param_level(http_req_t *req, const char *scope, int *level)
{
    static const char *const names[] = {"province", "city", "county", "township", NULL};
    const char *v = NULL;
    if (rep_param_enum(req, "level", names, NULL, &v) != 0) return -1;
    int st = rm_region_tier(scope);
    if (v == NULL) {
        *level = st < 4 ? st + 1 : 4;
        return 0;
    }
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], v)) *level = i + 1;
    if (*level < st) return bad(req, "level", "must not be above the region of the report");
    return 0;
}

/* ---- scope --------------------------------------------------------------------------------- */

static bool region_code_ok(const char *v)
{
    size_t n = strlen(v);
    if (n != 6 && n != 9 && n != 12) return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9') return false;
    return true;
}

int rep_scope(http_req_t *req, rep_t *s, char scope[16], long long *unit_id)
{
    const http_principal_t *p = http_req_principal(req);
    const char *own = p && p->region_code[0] ? p->region_code : (p && p->role == AUTH_ROLE_LEADER ? s->root : "");
    if (own[0] == '\0') {
        http_reply_error(req, 403, "forbidden", NULL, "this principal has no region to report on");
        return -1;
    }
    const char *r = http_req_query(req, "region");
    if (r != NULL) {
        if (!region_code_ok(r)) return bad(req, "region", "must be a division code of 6, 9 or 12 digits");
        if (!auth_region_covers(own, r)) {
            http_reply_error(req, 403, "outside_jurisdiction", "region", "region %s is outside your region %s", r, own);
            return -1;
        }
        snprintf(scope, 16, "%s", r);
    } else {
        snprintf(scope, 16, "%s", own);
    }
    if (unit_id == NULL) return 0;
    long u = 0;
    if (rep_param_int(req, "unit_id", 1, 2147483647L, 0, &u) != 0) return -1;
    *unit_id = u;
    if (u == 0) return 0;
    char region[16] = "", name[256];
    rep_unit_name(s, u, name, sizeof name, region, sizeof region);
    if (region[0] == '\0') {
        http_reply_error(req, 404, "not_found", "unit_id", "unit_id: no unit %ld", u);
        return -1;
    }
    if (!auth_region_covers(scope, region)) {
        http_reply_error(req, 403, "outside_jurisdiction", "unit_id", "unit %ld is outside region %s", u, scope);
        return -1;
    }
    return 0;
}

void rep_region_name(rep_t *s, const char *code, char *out, size_t len)
{
    const char *p[] = {code};
    PGresult *r = NULL;
    out[0] = '\0';
    if (pg_query(s->pg, "SELECT name FROM regions WHERE code = $1", 1, p, &r) != 0) return;
    if (PQntuples(r) == 1) snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

void rep_unit_name(rep_t *s, long long id, char *out, size_t len, char *region, size_t rlen)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", id);
    const char *p[] = {b};
    PGresult *r = NULL;
    out[0] = '\0';
    if (region) region[0] = '\0';
    if (pg_query(s->pg, "SELECT name, region_code FROM units WHERE id = $1::bigint", 1, p, &r) != 0) return;
    if (PQntuples(r) == 1) {
        snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
        if (region) snprintf(region, rlen, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
}

void rep_reply_db_error(http_req_t *req, pg_t *pg, const char *what)
{
    LOGE("database error", LF_STR("req", http_req_id(req)), LF_STR("during", what),
         LF_STR("sqlstate", pg->sqlstate), LF_STR("error", pg->err));
    if (pg->last_class == PG_RETRY) {
        http_reply_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "unavailable", NULL, "the read models are busy or unreachable; retry");
    } else {
        http_reply_error(req, 500, "internal", NULL, "the report failed (request %s)", http_req_id(req));
    }
}

void rep_audit(rep_t *s, http_req_t *req, const char *action, const char *object, json_t *detail)
{
    const http_principal_t *p = http_req_principal(req);
    if (detail == NULL) detail = json_object();
    json_object_set_new(detail, "request_id", json_string(http_req_id(req)));
    char *d = json_dumps(detail, JSON_COMPACT);
    json_decref(detail);
    char pid[24];
    snprintf(pid, sizeof pid, "%lld", p ? p->id : 0);
    const char *prm[] = {p ? pid : NULL, action, object, d ? d : "{}"};
    if (pg_query(s->pg, "INSERT INTO audit_log (principal_id, action, object, detail) VALUES ($1::bigint, $2, $3, $4::jsonb)",
                 4, prm, NULL) != 0)
        LOGW("audit not written", LF_STR("action", action), LF_STR("error", s->pg->err));
    free(d);
}

/* ---- the measures query -------------------------------------------------------------------- */

typedef struct {
    char sql[16384];
    size_t o;
    const char *params[16];
    char store[16][32];
    int np;
} qb_t;

static void qb(qb_t *b, const char *s)
{
    b->o += (size_t)snprintf(b->sql + b->o, sizeof b->sql - b->o, "%s", s);
}

/* Adds a text parameter and writes its placeholder. */
static void qb_param(qb_t *b, const char *v, const char *cast)
{
    snprintf(b->store[b->np], sizeof b->store[b->np], "%s", v);
    b->params[b->np] = b->store[b->np];
    b->np++;
    b->o += (size_t)snprintf(b->sql + b->o, sizeof b->sql - b->o, "$%d%s", b->np, cast ? cast : "");
}

static void qb_day(qb_t *b, calendar_day_t d)
{
    char t[16];
    calendar_day_format(d, t);
    qb_param(b, t, "::date");
}

/* The normalised prefix of a region code that its descendants' codes start with. */
static void scope_prefix(const char *scope, char out[16])
{
    size_t n = strlen(scope);
    while (n > 2 && n <= 6 && scope[n - 1] == '0' && scope[n - 2] == '0') n -= 2;
    snprintf(out, 16, "%.*s", (int)n, scope);
}

/* The key expressions: x is the row source (with columns d, region_code, unit_id, tier,
 * kind), g its rep_regions row. */
static void qb_keys(qb_t *b, const rep_query_t *q, bool select)
{
    int n = 0;
    char t[64];
    if (q->group & REP_G_UNIT) qb(b, n++ ? ", x.unit_id" : "x.unit_id");
    if (q->group & REP_G_REGION) {
        snprintf(t, sizeof t, "%scoalesce(g.t%d, x.region_code)", n++ ? ", " : "", q->level);
        qb(b, t);
    }
    if (q->group & REP_G_TIER) qb(b, n++ ? ", x.tier" : "x.tier");
    if (q->group & REP_G_KIND) qb(b, n++ ? ", x.kind" : "x.kind");
    if (q->group & REP_G_DAY) qb(b, n++ ? ", (x.d - date '1970-01-01')" : "(x.d - date '1970-01-01')");
    if (q->group & REP_G_MONTH)
        qb(b, n++ ? ", (date_trunc('month', x.d)::date - date '1970-01-01')"
                  : "(date_trunc('month', x.d)::date - date '1970-01-01')");
    if (n == 0 && select) qb(b, "0, ");
    if (n > 0 && select) qb(b, ", ");
}

static int nkeys(unsigned group)
{
    int n = 0;
    for (unsigned g = group; g; g >>= 1) n += g & 1;
    return n;
}

static void qb_filters(qb_t *b, const rep_query_t *q, const char *region_col, bool with_kind)
{
    char pre[16], t[128];
    scope_prefix(q->scope, pre);
    snprintf(t, sizeof t, " AND starts_with(%s, ", region_col);
    qb(b, t);
    qb_param(b, pre, NULL);
    qb(b, ")");
    if (q->unit_id) {
        char u[24];
        snprintf(u, sizeof u, "%lld", q->unit_id);
        qb(b, " AND x.unit_id = ");
        qb_param(b, u, "::bigint");
    }
    if (with_kind && q->kind[0]) {
        qb(b, " AND x.kind = ");
        qb_param(b, q->kind, NULL);
    }
    if (q->tier) {
        char v[8];
        snprintf(v, sizeof v, "%d", q->tier);
        qb(b, " AND x.tier = ");
        qb_param(b, v, "::int");
    }
}

/* Splits [from, to] into whole months [m1, m2) and the edge days. */
static void split_period(calendar_day_t from, calendar_day_t to, calendar_day_t *m1, calendar_day_t *m2)
{
    int y, m, d;
    calendar_day_to_ymd(from, &y, &m, &d);
    calendar_day_t first = from;
    if (d != 1) {
        if (calendar_day_from_ymd(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1, &first) != 0) first = to + 1;
    }
    calendar_day_to_ymd(to + 1, &y, &m, &d);
    calendar_day_t end = to + 1;
    if (d != 1 && calendar_day_from_ymd(y, m, 1, &end) != 0) end = first;
    *m1 = first;
    *m2 = end;
}

static const char *const CUBE_COLS[] = {
    "received", "accepted", "refused", "duplicates", "dispatched", "resp_on_time", "resp_late",
    "done_on_time", "done_late", "open_handling", "closed", "solved", "rated",
    "g1", "g2", "g3", "g4", "g5", "redo", "timed", "wd_sum",
    "h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9", "h10", "h11", "h12", "h13",
    "h14", "h15", "h16", "h17", "h18", "h19", "h20", "h21", "h22", "h23", "h24", "h25", "h26", "h27",
    "h28", "h29", "h30", "h31", "h32", "h33", "h34", "h35", "h36", "h37", "h38", "h39", "h40", "h41"};
#define NCUBE JS_ARRAY_LEN(CUBE_COLS)
_Static_assert(NCUBE * sizeof(int64_t) == sizeof(rm_counts_t), "CUBE_COLS follow rm_counts_t");

static void cube_sql(qb_t *b, const rep_query_t *q)
{
    char t[96];
    qb(b, "SELECT ");
    qb_keys(b, q, true);
    for (size_t i = 0; i < NCUBE; i++) {
        snprintf(t, sizeof t, "%ssum(x.%s)", i ? ", " : "", CUBE_COLS[i]);
        qb(b, t);
    }
    qb(b, " FROM (");
    calendar_day_t m1 = q->to + 1, m2 = q->to + 1;
    if (!(q->group & REP_G_DAY)) split_period(q->from, q->to, &m1, &m2);
    bool months = m1 < m2;
    char cols[1024];
    size_t o = (size_t)snprintf(cols, sizeof cols, "region_code, unit_id, tier, kind");
    for (size_t i = 0; i < NCUBE; i++) o += (size_t)snprintf(cols + o, sizeof cols - o, ", %s", CUBE_COLS[i]);
    if (months) {
        qb(b, "SELECT month AS d, ");
        qb(b, cols);
        qb(b, " FROM rep_month x WHERE month >= ");
        qb_day(b, m1);
        qb(b, " AND month < ");
        qb_day(b, m2);
        /* unit_id -1 rows sum every unit of a cell: region-level questions read only those */
        qb(b, (q->group & REP_G_UNIT) || q->unit_id ? " AND x.unit_id >= 0" : " AND x.unit_id = -1");
        qb_filters(b, q, "x.region_code", true);
        qb(b, " UNION ALL ");
    }
    qb(b, "SELECT day AS d, ");
    qb(b, cols);
    qb(b, " FROM rep_day x WHERE ");
    if (months) {
        qb(b, "((day >= ");
        qb_day(b, q->from);
        qb(b, " AND day < ");
        qb_day(b, m1);
        qb(b, ") OR (day >= ");
        qb_day(b, m2);
        qb(b, " AND day <= ");
        qb_day(b, q->to);
        qb(b, "))");
    } else {
        qb(b, "day >= ");
        qb_day(b, q->from);
        qb(b, " AND day <= ");
        qb_day(b, q->to);
    }
    qb_filters(b, q, "x.region_code", true);
    qb(b, ") x");
    if (q->group & REP_G_REGION) qb(b, " LEFT JOIN rep_regions g ON g.code = x.region_code");
    if (nkeys(q->group)) {
        qb(b, " GROUP BY ");
        qb_keys(b, q, false);
    }
}

static void open_sql(qb_t *b, const rep_query_t *q)
{
    qb(b, "SELECT ");
    qb_keys(b, q, true);
    qb(b, "count(*) FILTER (WHERE x.open_handling AND x.due_at < now()), "
          "count(*) FILTER (WHERE x.sign_pending AND x.sign_by < now()) "
          "FROM (SELECT received_day AS d, region_code, unit_id, tier, kind, open_handling, due_at, sign_pending, "
          "sign_by FROM rep_cases WHERE (open_handling OR sign_pending) AND received_day >= ");
    qb_day(b, q->from);
    qb(b, " AND received_day <= ");
    qb_day(b, q->to);
    qb(b, ") x");
    if (q->group & REP_G_REGION) qb(b, " LEFT JOIN rep_regions g ON g.code = x.region_code");
    qb(b, " WHERE true");
    qb_filters(b, q, "x.region_code", true);
    if (nkeys(q->group)) {
        qb(b, " GROUP BY ");
        qb_keys(b, q, false);
    }
}

static void unit_sql(qb_t *b, const rep_query_t *q)
{
    qb(b, "SELECT ");
    qb_keys(b, q, true);
    qb(b, "sum(x.yellow), sum(x.red), sum(x.n1), sum(x.n2), sum(x.n3) FROM (SELECT u.day AS d, n.region_code, "
          "u.unit_id, coalesce(rr.tier, 0) AS tier, '' AS kind, u.yellow, u.red, u.n1, u.n2, u.n3 FROM rep_unit_day u "
          "JOIN units n ON n.id = u.unit_id LEFT JOIN rep_regions rr ON rr.code = n.region_code WHERE u.day >= ");
    qb_day(b, q->from);
    qb(b, " AND u.day <= ");
    qb_day(b, q->to);
    qb(b, ") x");
    if (q->group & REP_G_REGION) qb(b, " LEFT JOIN rep_regions g ON g.code = x.region_code");
    qb(b, " WHERE true");
    qb_filters(b, q, "x.region_code", false);
    if (nkeys(q->group)) {
        qb(b, " GROUP BY ");
        qb_keys(b, q, false);
    }
}

typedef struct {
    rep_row_t *v;
    size_t n, cap;
    size_t *idx;     /* open addressing over v by key: index + 1, 0 = empty */
    size_t icap;
} rowset_t;

static uint64_t row_hash(const rep_row_t *k)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {k->region_code, k->kind};
    for (size_t i = 0; i < 2; i++)
        for (const char *p = parts[i]; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= (uint64_t)k->unit_id * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uint32_t)k->day * 0xC2B2AE3D27D4EB4FULL ^
         (uint64_t)k->tier;
    return h * 0xff51afd7ed558ccdULL;
}

static bool row_key_eq(const rep_row_t *r, const rep_row_t *k)
{
    return r->unit_id == k->unit_id && r->tier == k->tier && r->day == k->day &&
           !strcmp(r->region_code, k->region_code) && !strcmp(r->kind, k->kind);
}

static int rowset_reindex(rowset_t *rs, size_t cap)
{
    size_t *idx = calloc(cap, sizeof *idx);
    if (idx == NULL) return -1;
    for (size_t i = 0; i < rs->n; i++) {
        size_t j = row_hash(&rs->v[i]) & (cap - 1);
        while (idx[j]) j = (j + 1) & (cap - 1);
        idx[j] = i + 1;
    }
    free(rs->idx);
    rs->idx = idx;
    rs->icap = cap;
    return 0;
}

/* The row of key columns 0..nk-1 of res row i, created if new. */
static rep_row_t *row_for(rowset_t *rs, const rep_query_t *q, PGresult *res, int i)
{
    rep_row_t k;
    memset(&k, 0, sizeof k);
    int c = 0;
    if (q->group & REP_G_UNIT) k.unit_id = strtoll(PQgetvalue(res, i, c++), NULL, 10);
    if (q->group & REP_G_REGION) snprintf(k.region_code, sizeof k.region_code, "%s", PQgetvalue(res, i, c++));
    if (q->group & REP_G_TIER) k.tier = atoi(PQgetvalue(res, i, c++));
    if (q->group & REP_G_KIND) snprintf(k.kind, sizeof k.kind, "%s", PQgetvalue(res, i, c++));
    if (q->group & (REP_G_DAY | REP_G_MONTH)) k.day = (calendar_day_t)atoi(PQgetvalue(res, i, c++));
    if ((rs->n + 1) * 2 > rs->icap && rowset_reindex(rs, rs->icap ? rs->icap * 2 : 256) != 0) return NULL;
    size_t j = row_hash(&k) & (rs->icap - 1);
    while (rs->idx[j]) {
        if (row_key_eq(&rs->v[rs->idx[j] - 1], &k)) return &rs->v[rs->idx[j] - 1];
        j = (j + 1) & (rs->icap - 1);
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        rep_row_t *v = realloc(rs->v, cap * sizeof *v);
        if (v == NULL) return NULL;
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n] = k;
    rs->idx[j] = rs->n + 1;
    return &rs->v[rs->n++];
}

/* Fills unit and region names with one query each. */
static int fill_names(rep_t *s, rowset_t *rs, unsigned group)
{
    for (int pass = 0; pass < 2; pass++) {
        unsigned want = pass ? REP_G_REGION : REP_G_UNIT;
        if (!(group & want) || rs->n == 0) continue;
        size_t cap = rs->n * 16 + 8, o = 0;
        char *arr = malloc(cap);
        if (arr == NULL) return -1;
        o += (size_t)snprintf(arr + o, cap - o, "{");
        for (size_t i = 0; i < rs->n; i++) {
            if (pass) o += (size_t)snprintf(arr + o, cap - o, "%s%s", i ? "," : "", rs->v[i].region_code);
            else o += (size_t)snprintf(arr + o, cap - o, "%s%lld", i ? "," : "", rs->v[i].unit_id);
        }
        snprintf(arr + o, cap - o, "}");
        const char *p[] = {arr};
        PGresult *r = NULL;
        int rc = pg_query(s->pg, pass ? "SELECT code, name FROM regions WHERE code = ANY($1::text[])"
                                      : "SELECT id::text, name FROM units WHERE id = ANY($1::bigint[])",
                          1, p, &r);
        free(arr);
        if (rc != 0) return -1;
        for (int i = 0; i < PQntuples(r); i++) {
            if (pass) {
                for (size_t j = 0; j < rs->n; j++)
                    if (!strcmp(rs->v[j].region_code, PQgetvalue(r, i, 0)))
                        snprintf(rs->v[j].region_name, sizeof rs->v[j].region_name, "%s", PQgetvalue(r, i, 1));
                continue;
            }
            /* rows are sorted by unit first: find the first of this unit by bisection */
            long long id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            size_t lo = 0, hi = rs->n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (rs->v[mid].unit_id < id) lo = mid + 1;
                else hi = mid;
            }
            for (size_t j = lo; j < rs->n && rs->v[j].unit_id == id; j++)
                snprintf(rs->v[j].unit_name, sizeof rs->v[j].unit_name, "%s", PQgetvalue(r, i, 1));
        }
        PQclear(r);
    }
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const rep_row_t *x = a, *y = b;
    if (x->unit_id != y->unit_id) return x->unit_id < y->unit_id ? -1 : 1;
    int c = strcmp(x->region_code, y->region_code);
    if (c) return c;
    if (x->tier != y->tier) return x->tier - y->tier;
    c = strcmp(x->kind, y->kind);
    if (c) return c;
    return x->day < y->day ? -1 : x->day > y->day;
}

static int run(rep_t *s, qb_t *b, PGresult **res)
{
    return pg_query(s->pg, b->sql, b->np, b->params, res);
}

int rep_query_run(rep_t *s, const rep_query_t *q, rep_row_t **rows, size_t *n)
{
    rowset_t rs = {0};
    PGresult *res = NULL;
    qb_t *b = calloc(1, sizeof *b);
    int nk = nkeys(q->group), rc = -1;
    if (b == NULL) return -1;
    /* 1. the cube */
    cube_sql(b, q);
    if (run(s, b, &res) != 0) goto out;
    int base = nk ? nk : 1;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, base)) continue; /* no rows at all: sum() of nothing */
        rep_row_t *r = row_for(&rs, q, res, i);
        if (r == NULL) goto out;
        int64_t *x = (int64_t *)&r->g.c;
        for (size_t j = 0; j < NCUBE; j++)
            x[j] = PQgetisnull(res, i, base + (int)j) ? 0 : strtoll(PQgetvalue(res, i, base + (int)j), NULL, 10);
    }
    PQclear(res);
    res = NULL;
    /* 2. open cases past due and unsigned dispatches past their sign-by */
    memset(b, 0, sizeof *b);
    open_sql(b, q);
    if (run(s, b, &res) != 0) goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        long long od = strtoll(PQgetvalue(res, i, base), NULL, 10), ro = strtoll(PQgetvalue(res, i, base + 1), NULL, 10);
        if (od == 0 && ro == 0) continue;
        rep_row_t *r = row_for(&rs, q, res, i);
        if (r == NULL) goto out;
        r->g.overdue_open = od;
        r->g.resp_overdue = ro;
    }
    PQclear(res);
    res = NULL;
    /* 3. cards and notices, which belong to units, not to kinds of appeal */
    if (!(q->group & REP_G_KIND) && !q->kind[0]) {
        memset(b, 0, sizeof *b);
        unit_sql(b, q);
        if (run(s, b, &res) != 0) goto out;
        for (int i = 0; i < PQntuples(res); i++) {
            if (PQgetisnull(res, i, base)) continue;
            rep_row_t *r = row_for(&rs, q, res, i);
            if (r == NULL) goto out;
            r->g.yellow_cards = strtoll(PQgetvalue(res, i, base), NULL, 10);
            r->g.red_cards = strtoll(PQgetvalue(res, i, base + 1), NULL, 10);
            for (int l = 0; l < 3; l++) r->g.notices[l] = strtoll(PQgetvalue(res, i, base + 2 + l), NULL, 10);
        }
        PQclear(res);
        res = NULL;
        for (size_t j = 0; j < rs.n; j++) rs.v[j].g.has_unit_measures = true;
    }
    if (nk == 0 && rs.n == 0) { /* nothing at all: one row of zeros */
        rs.v = calloc(1, sizeof *rs.v);
        if (rs.v == NULL) goto out;
        rs.n = 1;
        rs.v[0].g.has_unit_measures = !q->kind[0];
    }
    if (rs.n > 1) qsort(rs.v, rs.n, sizeof *rs.v, row_cmp); /* rs.v may be NULL when empty */
    if (fill_names(s, &rs, q->group) != 0) goto out;
    rc = 0;
out:
    PQclear(res);
    free(b);
    free(rs.idx);
    if (rc != 0) {
        free(rs.v);
        rs.v = NULL;
        rs.n = 0;
    }
    *rows = rs.v;
    *n = rs.n;
    return rc;
}

json_t *rep_rate_json(const rm_rate_t *r)
{
    if (!r->present) return json_null();
    return json_real((double)(long long)(r->value * 10000.0 + 0.5) / 10000.0);
}

json_t *rep_row_json(const rep_row_t *r, unsigned group)
{
    json_t *o = json_object();
    if (group & REP_G_UNIT) {
        json_object_set_new(o, "unit_id", r->unit_id ? json_integer(r->unit_id) : json_null());
        json_object_set_new(o, "unit_name", json_string(r->unit_id ? r->unit_name : "未转办（中心待办）"));
    }
    if (group & REP_G_REGION) {
        json_object_set_new(o, "region_code", json_string(r->region_code));
        json_object_set_new(o, "region_name", json_string(r->region_name));
    }
    if (group & REP_G_TIER) json_object_set_new(o, "tier", json_integer(r->tier));
    if (group & REP_G_KIND) json_object_set_new(o, "kind", json_string(r->kind));
    if (group & (REP_G_DAY | REP_G_MONTH)) {
        char d[11];
        calendar_day_format(r->day, d);
        if (group & REP_G_MONTH) d[7] = '\0';
        json_object_set_new(o, group & REP_G_DAY ? "day" : "month", json_string(d));
    }
    const rm_counts_t *c = &r->g.c;
    rm_measures_t m;
    rm_measures_compute(&r->g, &m);
    json_t *cnt = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                            "received", (json_int_t)c->received, "accepted", (json_int_t)c->accepted,
                            "refused", (json_int_t)c->refused, "duplicates", (json_int_t)c->duplicates,
                            "dispatched", (json_int_t)c->dispatched, "responded_in_time", (json_int_t)c->resp_on_time,
                            "responded_late", (json_int_t)c->resp_late, "unsigned_overdue", (json_int_t)r->g.resp_overdue,
                            "done_on_time", (json_int_t)c->done_on_time, "done_late", (json_int_t)c->done_late,
                            "open_overdue", (json_int_t)r->g.overdue_open, "open", (json_int_t)c->open_handling,
                            "closed", (json_int_t)c->closed, "solved", (json_int_t)c->solved,
                            "rated", (json_int_t)c->rated, "redo", (json_int_t)c->redo);
    json_t *grades = json_object();
    for (int i = 0; i < RM_GRADES; i++) json_object_set_new(grades, rm_grade_name(i + 1), json_integer(c->grades[i]));
    json_object_set_new(cnt, "grades", grades);
    if (r->g.has_unit_measures) {
        json_object_set_new(cnt, "yellow_cards", json_integer(r->g.yellow_cards));
        json_object_set_new(cnt, "red_cards", json_integer(r->g.red_cards));
        json_object_set_new(cnt, "notices", json_integer(r->g.notices[0] + r->g.notices[1] + r->g.notices[2]));
        json_object_set_new(cnt, "notices_by_level",
                            json_pack("{s:I,s:I,s:I}", "reminder", (json_int_t)r->g.notices[0], "rectification",
                                      (json_int_t)r->g.notices[1], "interview", (json_int_t)r->g.notices[2]));
    } else {
        json_object_set_new(cnt, "yellow_cards", json_null());
        json_object_set_new(cnt, "red_cards", json_null());
        json_object_set_new(cnt, "notices", json_null());
    }
    json_object_set_new(o, "counts", cnt);
    json_t *ms = json_object();
    json_object_set_new(ms, "response_rate", rep_rate_json(&m.response));
    json_object_set_new(ms, "on_time_rate", rep_rate_json(&m.on_time));
    json_object_set_new(ms, "resolution_rate", rep_rate_json(&m.resolution));
    json_object_set_new(ms, "satisfaction_rate", rep_rate_json(&m.satisfaction));
    json_object_set_new(ms, "avg_handling_wd",
                        m.has_handling_time ? json_real((double)(long long)(m.avg_wd * 100 + 0.5) / 100) : json_null());
    json_object_set_new(ms, "p90_handling_wd", m.has_handling_time ? json_integer(m.p90_wd) : json_null());
    json_object_set_new(ms, "score", m.has_score ? json_real((double)(long long)(m.score * 100 + 0.5) / 100) : json_null());
    json_object_set_new(o, "measures", ms);
    return o;
}
