/*
 * recurring.c — recurring problems: "solve one matter, crack the class" (解决“一件事”，破解
 * “一类事”, seed 003; 总结梳理共性问题, seed 001). The period's cases in scope (not refused, not
 * duplicates) are grouped first by matter type (派单目录's 事项, from case.accepted), then
 * within a type by the similarity of their texts — the same Chinese bigram signatures intake
 * keeps for duplicates (common/textsim.h), which leave the enterprise's own name, address and
 * contact out, so different enterprises raising one problem come together. A group counts as
 * a class of matters when it spans at least two enterprises. The largest groups are listed
 * with the regions and units they touch and a few examples.
 *
 * Greedy single pass, newest cases first: a case joins the first group of its type whose first
 * case it resembles at recurring_pct or more, else starts a group. Bounded by
 * recurring_max_cases cases and 200 open groups per type, so a province-wide month stays well
 * under a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reporting.h"
#include "textsim.h"

typedef struct {
    char matter[200];
    textsim_sig_t *sig; /* of its first case: owned */
    int *members;
    size_t n, cap;
    size_t ents; /* distinct enterprises */
} group_t;

static size_t distinct(PGresult *r, const group_t *g, int col, json_t *names)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++) {
        const char *v = PQgetvalue(r, g->members[i], col);
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(v, PQgetvalue(r, g->members[j], col));
        if (!seen && v[0]) {
            n++;
            if (names) json_array_append_new(names, json_string(v));
        }
    }
    return n;
}

static int group_cmp(const void *a, const void *b)
{
    const group_t *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    if (x->ents != y->ents) return x->ents > y->ents ? -1 : 1;
    return strcmp(x->matter, y->matter);
}

json_t *rep_recurring_groups(rep_t *s, const rep_query_t *q, int limit, int *err)
{
    char from[11], to[11], unit[24], pre[16], lim[24];
    calendar_day_format(q->from, from);
    calendar_day_format(q->to, to);
    snprintf(unit, sizeof unit, "%lld", q->unit_id);
    size_t n = strlen(q->scope);
    while (n > 2 && n <= 6 && q->scope[n - 1] == '0' && q->scope[n - 2] == '0') n -= 2;
    snprintf(pre, sizeof pre, "%.*s", (int)n, q->scope);
    snprintf(lim, sizeof lim, "%ld", s->cfg->recurring_max_cases);
    const char *p[] = {from, to, pre, unit, lim};
    PGresult *r = NULL;
    *err = 0;
    if (pg_query(s->pg,
                 "SELECT r.case_no, coalesce(nullif(r.matter_type, ''), '未分类'), r.region_code, r.credit_code, "
                 "coalesce(u.name, ''), c.summary, coalesce(c.text_sig, ''), "
                 "CASE WHEN c.text_sig IS NULL THEN c.summary || '。' || c.body ELSE '' END "
                 "FROM rep_cases r JOIN cases c ON c.id = r.case_id LEFT JOIN units u ON u.id = r.unit_id "
                 "WHERE r.known AND NOT r.refused AND NOT r.duplicate AND r.received_day >= $1::date "
                 "AND r.received_day <= $2::date AND starts_with(r.region_code, $3) "
                 "AND ($4::bigint = 0 OR r.unit_id = $4::bigint) ORDER BY r.received_at DESC LIMIT $5::int",
                 5, p, &r) != 0) {
        *err = 1;
        return NULL;
    }
    int rows = PQntuples(r);
    group_t *gs = NULL;
    size_t ng = 0, capg = 0;
    double threshold = (double)s->cfg->recurring_pct / 100.0;
    for (int i = 0; i < rows; i++) {
        const char *matter = PQgetvalue(r, i, 1), *hex = PQgetvalue(r, i, 6), *text = PQgetvalue(r, i, 7);
        textsim_sig_t *sig = NULL;
        if (hex[0] == '\0' || textsim_sig_decode(hex, &sig) != 0) sig = textsim_sig_new(text, strlen(text));
        if (sig == NULL) continue;
        group_t *home = NULL;
        size_t tried = 0;
        for (size_t j = ng; j-- > 0 && tried < 200 && home == NULL;) {
            if (strcmp(gs[j].matter, matter) != 0) continue;
            tried++;
            if (textsim_similarity(sig, gs[j].sig) >= threshold) home = &gs[j];
        }
        if (home == NULL) {
            if (ng == capg) {
                size_t cap = capg ? capg * 2 : 64;
                group_t *v = realloc(gs, cap * sizeof *v);
                if (v == NULL) {
                    textsim_sig_free(sig);
                    break;
                }
                gs = v;
                capg = cap;
            }
            home = &gs[ng++];
            memset(home, 0, sizeof *home);
            snprintf(home->matter, sizeof home->matter, "%s", matter);
            home->sig = sig;
            sig = NULL;
        }
        textsim_sig_free(sig);
        if (home->n == home->cap) {
            size_t cap = home->cap ? home->cap * 2 : 4;
            int *m = realloc(home->members, cap * sizeof *m);
            if (m == NULL) continue;
            home->members = m;
            home->cap = cap;
        }
        home->members[home->n++] = i;
    }
    /* keep the classes: two enterprises or more */
    size_t k = 0;
    for (size_t j = 0; j < ng; j++) {
        if (gs[j].n >= 2 && (gs[j].ents = distinct(r, &gs[j], 3, NULL)) >= 2) gs[k++] = gs[j];
        else {
            textsim_sig_free(gs[j].sig);
            free(gs[j].members);
        }
    }
    if (k > 1) qsort(gs, k, sizeof *gs, group_cmp);
    json_t *out = json_array();
    for (size_t j = 0; j < k; j++) {
        if ((int)j < limit) {
            json_t *regions = json_array(), *units = json_array(), *ex = json_array();
            size_t ents = gs[j].ents;
            distinct(r, &gs[j], 2, regions);
            distinct(r, &gs[j], 4, units);
            for (size_t m = 0; m < gs[j].n && m < 3; m++) {
                int row = gs[j].members[m];
                json_array_append_new(ex, json_pack("{s:s,s:s,s:s}", "case_no", PQgetvalue(r, row, 0), "summary",
                                                    PQgetvalue(r, row, 5), "region_code", PQgetvalue(r, row, 2)));
            }
            json_array_append_new(out, json_pack("{s:s,s:I,s:I,s:o,s:o,s:o}", "matter_type", gs[j].matter, "size",
                                                 (json_int_t)gs[j].n, "enterprises", (json_int_t)ents, "regions",
                                                 regions, "units", units, "examples", ex));
        }
        textsim_sig_free(gs[j].sig);
        free(gs[j].members);
    }
    free(gs);
    PQclear(r);
    return out;
}

void rep_recurring(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    rep_query_t q;
    memset(&q, 0, sizeof q);
    long limit = 10;
    if (rep_param_period(req, s, &q.from, &q.to) != 0 || rep_scope(req, s, q.scope, &q.unit_id) != 0 ||
        rep_param_int(req, "limit", 1, 100, 10, &limit) != 0)
        return;
    int err = 0;
    json_t *groups = rep_recurring_groups(s, &q, (int)limit, &err);
    if (err) {
        rep_reply_db_error(req, s->pg, "recurring problems");
        return;
    }
    char a[11], b[11];
    calendar_day_format(q.from, a);
    calendar_day_format(q.to, b);
    http_reply_json(req, 200, json_pack("{s:s,s:{s:s,s:s},s:I,s:o}", "region", q.scope, "period", "from", a, "to", b,
                                        "similarity_pct", (json_int_t)s->cfg->recurring_pct, "groups", groups));
}
