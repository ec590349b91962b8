/*
 * api.c — the read-model consumer's handler, and the measures and rankings endpoints.
 *
 * The consumer decodes each envelope with the contract's codec (an event it refuses goes to
 * the dead-letter topic, naming the field) and hands it to readmodel_pg_apply inside the
 * transaction the idempotent consumer opened. Measures are any grouping of the cube over any
 * period the caller's scope covers; rankings score each unit (or region) by the mean of its
 * four rates and list the best (红榜) and the worst (黑榜), with every unit that received a
 * red card in the period on the black list whatever its score.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "readmodel_pg.h"
#include "reporting.h"

kcons_result_t rep_consume(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                           char *err, size_t errlen)
{
    rep_t *s = arg;
    (void)event_id;
    event_t ev;
    if (event_decode(m->payload, m->len, &ev, err, errlen) != 0) return KCONS_DEAD;
    rmpg_rc_t rc = readmodel_pg_apply(pg, &ev, err, errlen);
    if (rc == RMPG_RETRY)
        LOGW("read model update will be retried", LF_STR("event_id", ev.event_id),
             LF_STR("type", event_type_name(ev.type)), LF_STR("error", pg->err));
    event_clear(&ev);
    if (rc == RMPG_APPLIED) metric_inc(s->m_applied);
    return rc == RMPG_APPLIED ? KCONS_APPLIED : rc == RMPG_RETRY ? KCONS_RETRY : KCONS_DEAD;
}

/* group=unit,kind → bits; replies 400 on a bad list. */
static int parse_group(http_req_t *req, unsigned *group)
{
    static const struct {
        const char *name;
        unsigned bit;
    } g[] = {{"unit", REP_G_UNIT}, {"region", REP_G_REGION}, {"tier", REP_G_TIER},
             {"kind", REP_G_KIND}, {"day", REP_G_DAY},       {"month", REP_G_MONTH}};
    const char *v = http_req_query(req, "group");
    *group = 0;
    if (v == NULL || !*v) return 0;
    char buf[128];
    if (strlen(v) >= sizeof buf) {
        http_reply_error(req, 400, "invalid_parameter", "group", "group: too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned bit = 0;
        for (size_t i = 0; i < JS_ARRAY_LEN(g); i++)
            if (!strcmp(g[i].name, t)) bit = g[i].bit;
        if (bit == 0) {
            http_reply_error(req, 400, "invalid_parameter", "group",
                             "group: '%s' is not one of unit, region, tier, kind, day, month", t);
            return -1;
        }
        if (*group & bit) {
            http_reply_error(req, 400, "invalid_parameter", "group", "group: '%s' is given twice", t);
            return -1;
        }
        *group |= bit;
    }
    if ((*group & REP_G_DAY) && (*group & REP_G_MONTH)) {
        http_reply_error(req, 400, "invalid_parameter", "group", "group: day and month exclude each other");
        return -1;
    }
    return 0;
}

static json_t *period_json(const rep_query_t *q)
{
    char a[11], b[11];
    calendar_day_format(q->from, a);
    calendar_day_format(q->to, b);
    return json_pack("{s:s,s:s}", "from", a, "to", b);
}

/* Common front of measures and rankings: period, scope, unit, filters, level. */
static int read_query(http_req_t *req, rep_t *s, rep_query_t *q)
{
    memset(q, 0, sizeof *q);
    if (rep_param_period(req, s, &q->from, &q->to) != 0) return -1;
    if (rep_scope(req, s, q->scope, &q->unit_id) != 0) return -1;
    if (rep_param_filters(req, q) != 0) return -1;
    if (rep_param_level(req, q->scope, &q->level) != 0) return -1;
    return 0;
}

void rep_measures(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    rep_query_t q;
    if (read_query(req, s, &q) != 0 || parse_group(req, &q.group) != 0) return;
    if ((q.group & REP_G_DAY) && q.to - q.from + 1 > 92) {
        http_reply_error(req, 400, "invalid_parameter", "group", "group: by day covers at most 92 days; use month");
        return;
    }
    rep_row_t *rows = NULL;
    size_t n = 0;
    if (rep_query_run(s, &q, &rows, &n) != 0) {
        rep_reply_db_error(req, s->pg, "measures");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, rep_row_json(&rows[i], q.group));
    free(rows);
    json_t *out = json_pack("{s:s,s:o,s:o}", "region", q.scope, "period", period_json(&q), "rows", arr);
    if (q.unit_id) json_object_set_new(out, "unit_id", json_integer(q.unit_id));
    if (q.group & REP_G_REGION) json_object_set_new(out, "level", json_integer(q.level));
    http_reply_json(req, 200, out);
}

static int ranked_cmp(const void *a, const void *b)
{
    const rep_ranked_t *x = a, *y = b;
    if (x->ranked != y->ranked) return x->ranked ? -1 : 1;
    if (x->m.has_score != y->m.has_score) return x->m.has_score ? -1 : 1;
    if (x->m.score != y->m.score) return x->m.score > y->m.score ? -1 : 1;
    if (x->row.g.c.received != y->row.g.c.received) return x->row.g.c.received > y->row.g.c.received ? -1 : 1;
    return x->row.unit_id < y->row.unit_id ? -1 : x->row.unit_id > y->row.unit_id;
}

int rep_rank(rep_t *s, const rep_query_t *q, rep_ranked_t **out, size_t *n)
{
    rep_row_t *rows = NULL;
    size_t nr = 0;
    *out = NULL;
    *n = 0;
    if (rep_query_run(s, q, &rows, &nr) != 0) return -1;
    rep_ranked_t *v = calloc(nr ? nr : 1, sizeof *v);
    if (v == NULL) {
        free(rows);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < nr; i++) {
        if ((q->group & REP_G_UNIT) && rows[i].unit_id == 0) continue; /* the centres' queues */
        v[k].row = rows[i];
        rm_measures_compute(&rows[i].g, &v[k].m);
        v[k].ranked = rows[i].g.c.received >= s->cfg->rank_min_cases && v[k].m.has_score;
        k++;
    }
    free(rows);
    if (k > 1) qsort(v, k, sizeof *v, ranked_cmp);
    *out = v;
    *n = k;
    return 0;
}

static json_t *ranked_json(const rep_ranked_t *r, unsigned group, size_t rank)
{
    json_t *o = rep_row_json(&r->row, group);
    json_object_set_new(o, "rank", r->ranked ? json_integer((json_int_t)rank) : json_null());
    return o;
}

void rep_rankings(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    rep_query_t q;
    static const char *const by[] = {"unit", "region", NULL};
    const char *b = NULL;
    long limit = 0;
    if (read_query(req, s, &q) != 0 || rep_param_enum(req, "by", by, "unit", &b) != 0 ||
        rep_param_int(req, "limit", 1, 10000, 100, &limit) != 0)
        return;
    q.group = !strcmp(b, "unit") ? REP_G_UNIT : REP_G_REGION;
    rep_ranked_t *v = NULL;
    size_t n = 0;
    if (rep_rank(s, &q, &v, &n) != 0) {
        rep_reply_db_error(req, s->pg, "rankings");
        return;
    }
    json_t *ranking = json_array(), *red = json_array(), *black = json_array(), *unranked = json_array();
    size_t ranked = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].ranked) ranked++;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].ranked) {
            json_array_append_new(unranked, ranked_json(&v[i], q.group, 0));
            continue;
        }
        if ((long)i < limit) json_array_append_new(ranking, ranked_json(&v[i], q.group, i + 1));
        if ((long)json_array_size(red) < s->cfg->list_size && v[i].m.score >= (double)s->cfg->red_min_score)
            json_array_append_new(red, ranked_json(&v[i], q.group, i + 1));
    }
    /* 黑榜: the lowest scores below the bar, worst first, then any unit shown a red card */
    bool *listed = calloc(n ? n : 1, sizeof *listed);
    for (size_t j = ranked; listed && j-- > 0;) {
        if ((long)json_array_size(black) >= s->cfg->list_size) break;
        if (v[j].m.score < (double)s->cfg->black_max_score) {
            json_t *o = ranked_json(&v[j], q.group, j + 1);
            json_object_set_new(o, "why", json_string(v[j].row.g.red_cards > 0 ? "score,red_card" : "score"));
            json_array_append_new(black, o);
            listed[j] = true;
        }
    }
    for (size_t i = 0; listed && i < n; i++)
        if (v[i].row.g.red_cards > 0 && !listed[i]) {
            json_t *o = ranked_json(&v[i], q.group, v[i].ranked ? i + 1 : 0);
            json_object_set_new(o, "why", json_string("red_card"));
            json_array_append_new(black, o);
        }
    free(listed);
    free(v);
    json_t *out = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "region", q.scope, "by", b, "period", period_json(&q),
                            "ranking", ranking, "red_list", red, "black_list", black, "unranked", unranked);
    json_object_set_new(out, "rules",
                        json_pack("{s:s,s:I,s:I,s:I,s:I}", "score",
                                  "mean of the present rates (response, on-time, resolution, satisfaction) × 100",
                                  "min_cases", (json_int_t)s->cfg->rank_min_cases, "red_min_score",
                                  (json_int_t)s->cfg->red_min_score, "black_max_score",
                                  (json_int_t)s->cfg->black_max_score, "list_size", (json_int_t)s->cfg->list_size));
    http_reply_json(req, 200, out);
}
