/*
 * bulletin.c — the monthly bulletin (一月一通报, seed 004; 月度监测通报 and 红黑榜, seed 001) as
 * one printable HTML document: the month's figures for a region (or one unit), the regions
 * below it, the units ranked with the red and black lists, the rectification notices and cards
 * of the month (挂牌督办 is listed in the monthly bulletin, seed 001), the open cases already
 * past their deadline, and the month's recurring problems. Everything comes from the read
 * models; the document names units and case numbers, never enterprises' contacts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "log.h"
#include "reporting.h"

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sb_t;

static void sb_put(sb_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_printf(sb_t *b, const char *fmt, ...) JS_PRINTF(2, 3);
static void sb_printf(sb_t *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_html(sb_t *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': sb_put(b, "&lt;", 4); break;
        case '>': sb_put(b, "&gt;", 4); break;
        case '&': sb_put(b, "&amp;", 5); break;
        case '"': sb_put(b, "&quot;", 6); break;
        default: sb_put(b, s, 1);
        }
    }
}

static void pct(char *out, size_t len, const rm_rate_t *r)
{
    if (!r->present) snprintf(out, len, "—");
    else snprintf(out, len, "%.1f%%", r->value * 100.0);
}

static void summary(sb_t *b, const rep_row_t *row)
{
    const rm_counts_t *c = &row->g.c;
    rm_measures_t m;
    rm_measures_compute(&row->g, &m);
    char r1[16], r2[16], r3[16], r4[16];
    pct(r1, sizeof r1, &m.response);
    pct(r2, sizeof r2, &m.on_time);
    pct(r3, sizeof r3, &m.resolution);
    pct(r4, sizeof r4, &m.satisfaction);
    sb_printf(b,
              "<p>本月共登记企业诉求 <b>%lld</b> 件，其中受理 %lld 件、不予受理 %lld 件、重复件 %lld 件。"
              "转办承办单位 %lld 次，按时签收（响应）率 <b>%s</b>；已办结反馈 %lld 件（按时 %lld 件），"
              "在办 %lld 件（其中已超期 %lld 件），按时办结率 <b>%s</b>；回访办结 %lld 件，问题解决率 <b>%s</b>；"
              "参与评价 %lld 件，满意率 <b>%s</b>；二次办理 %lld 件次。",
              (long long)c->received, (long long)c->accepted, (long long)c->refused, (long long)c->duplicates,
              (long long)c->dispatched, r1, (long long)(c->done_on_time + c->done_late), (long long)c->done_on_time,
              (long long)c->open_handling, (long long)row->g.overdue_open, r2, (long long)c->closed, r3,
              (long long)c->rated, r4, (long long)c->redo);
    if (m.has_handling_time)
        sb_printf(b, "平均办理时长 %.1f 个工作日，90%% 的诉求在 %d%s 个工作日内办结。", m.avg_wd, m.p90_wd,
                  m.p90_wd >= RM_HIST - 1 ? " 个以上" : "");
    if (row->g.has_unit_measures)
        sb_printf(b, "亮黄牌 %lld 次、红牌 %lld 次，发出督办单 %lld 份（提醒敦促函 %lld、整改通知书 %lld、约谈通知书 %lld）。",
                  (long long)row->g.yellow_cards, (long long)row->g.red_cards,
                  (long long)(row->g.notices[0] + row->g.notices[1] + row->g.notices[2]), (long long)row->g.notices[0],
                  (long long)row->g.notices[1], (long long)row->g.notices[2]);
    sb_printf(b, "</p>\n");
}

static void table_head(sb_t *b, const char *first)
{
    sb_printf(b,
              "<table><thead><tr><th>序号</th><th>%s</th><th>登记</th><th>响应率</th><th>按时办结率</th>"
              "<th>问题解决率</th><th>满意率</th><th>平均时长(工作日)</th><th>超期在办</th><th>二次办理</th>"
              "<th>黄/红牌</th><th>综合得分</th></tr></thead><tbody>\n",
              first);
}

static void table_row(sb_t *b, size_t no, const char *name, const rep_row_t *row, const rm_measures_t *m)
{
    char r1[16], r2[16], r3[16], r4[16], avg[16], sc[16];
    pct(r1, sizeof r1, &m->response);
    pct(r2, sizeof r2, &m->on_time);
    pct(r3, sizeof r3, &m->resolution);
    pct(r4, sizeof r4, &m->satisfaction);
    if (m->has_handling_time) snprintf(avg, sizeof avg, "%.1f", m->avg_wd);
    else snprintf(avg, sizeof avg, "—");
    if (m->has_score) snprintf(sc, sizeof sc, "%.1f", m->score);
    else snprintf(sc, sizeof sc, "—");
    sb_printf(b, "<tr><td>%zu</td><td>", no);
    sb_html(b, name);
    sb_printf(b, "</td><td>%lld</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%lld</td><td>%lld</td>"
                 "<td>%lld/%lld</td><td>%s</td></tr>\n",
              (long long)row->g.c.received, r1, r2, r3, r4, avg, (long long)row->g.overdue_open,
              (long long)row->g.c.redo, (long long)row->g.yellow_cards, (long long)row->g.red_cards, sc);
}

/* Notices and cards of the month in scope (or of one unit). */
static int notices(rep_t *s, sb_t *b, const rep_query_t *q)
{
    char from[11], to[11], unit[24], pre[16];
    calendar_day_format(q->from, from);
    calendar_day_format(q->to, to);
    snprintf(unit, sizeof unit, "%lld", q->unit_id);
    size_t n = strlen(q->scope);
    while (n > 2 && n <= 6 && q->scope[n - 1] == '0' && q->scope[n - 2] == '0') n -= 2;
    snprintf(pre, sizeof pre, "%.*s", (int)n, q->scope);
    const char *p[] = {from, to, pre, unit};
    PGresult *r = NULL;
    if (pg_query(s->pg,
                 "SELECT to_char(e.occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'), u.name, e.type, "
                 "coalesce(e.level, 0), coalesce(e.colour, ''), e.reason_text, coalesce(c.case_no, '') "
                 "FROM rep_unit_events e JOIN units u ON u.id = e.unit_id LEFT JOIN rep_cases c ON c.case_id = e.case_id "
                 "WHERE e.day >= $1::date AND e.day <= $2::date AND starts_with(u.region_code, $3) "
                 "AND ($4::bigint = 0 OR e.unit_id = $4::bigint) AND (e.type = 'card.issued' OR e.level >= 2) "
                 "ORDER BY e.occurred_at, e.event_id LIMIT 200",
                 4, p, &r) != 0)
        return -1;
    if (PQntuples(r) == 0) {
        sb_printf(b, "<p>本月无挂牌督办、约谈和亮牌情况。</p>\n");
    } else {
        sb_printf(b, "<table><thead><tr><th>日期</th><th>单位</th><th>类别</th><th>事由</th><th>诉求编号</th></tr></thead><tbody>\n");
        for (int i = 0; i < PQntuples(r); i++) {
            const char *type = PQgetvalue(r, i, 2), *colour = PQgetvalue(r, i, 4);
            int level = atoi(PQgetvalue(r, i, 3));
            const char *what = !strcmp(type, "card.issued") ? (!strcmp(colour, "red") ? "红牌" : "黄牌")
                               : level == 3                  ? "约谈通知书"
                                                             : "整改通知书（挂牌督办）";
            sb_printf(b, "<tr><td>%s</td><td>", PQgetvalue(r, i, 0));
            sb_html(b, PQgetvalue(r, i, 1));
            sb_printf(b, "</td><td>%s</td><td>", what);
            sb_html(b, PQgetvalue(r, i, 5));
            sb_printf(b, "</td><td>%s</td></tr>\n", PQgetvalue(r, i, 6));
        }
        sb_printf(b, "</tbody></table>\n");
    }
    PQclear(r);
    return 0;
}

/* Open cases of the month already past their deadline. */
static int overdue(rep_t *s, sb_t *b, const rep_query_t *q)
{
    char from[11], to[11], unit[24], pre[16];
    calendar_day_format(q->from, from);
    calendar_day_format(q->to, to);
    snprintf(unit, sizeof unit, "%lld", q->unit_id);
    size_t n = strlen(q->scope);
    while (n > 2 && n <= 6 && q->scope[n - 1] == '0' && q->scope[n - 2] == '0') n -= 2;
    snprintf(pre, sizeof pre, "%.*s", (int)n, q->scope);
    const char *p[] = {from, to, pre, unit};
    PGresult *r = NULL;
    if (pg_query(s->pg,
                 "SELECT x.case_no, coalesce(u.name, '（中心待办）'), x.kind, "
                 "to_char(x.due_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), "
                 "ceil(extract(epoch from now() - x.due_at) / 86400)::int "
                 "FROM rep_cases x LEFT JOIN units u ON u.id = x.unit_id "
                 "WHERE x.open_handling AND x.due_at < now() AND x.received_day >= $1::date AND x.received_day <= $2::date "
                 "AND starts_with(x.region_code, $3) AND ($4::bigint = 0 OR x.unit_id = $4::bigint) "
                 "ORDER BY x.due_at LIMIT 50",
                 4, p, &r) != 0)
        return -1;
    if (PQntuples(r) == 0) {
        sb_printf(b, "<p>本月登记的诉求中，没有超过办理时限仍未办结的。</p>\n");
    } else {
        sb_printf(b, "<table><thead><tr><th>诉求编号</th><th>承办单位</th><th>类型</th><th>办理时限</th><th>已超期(天)</th></tr></thead><tbody>\n");
        for (int i = 0; i < PQntuples(r); i++) {
            sb_printf(b, "<tr><td>%s</td><td>", PQgetvalue(r, i, 0));
            sb_html(b, PQgetvalue(r, i, 1));
            sb_printf(b, "</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", rm_kind_label(PQgetvalue(r, i, 2)),
                      PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
        }
        sb_printf(b, "</tbody></table>\n");
    }
    PQclear(r);
    return 0;
}

void rep_bulletin(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    rep_query_t q;
    memset(&q, 0, sizeof q);
    if (rep_param_month(req, "month", &q.from, &q.to) != 0 || rep_scope(req, s, q.scope, &q.unit_id) != 0 ||
        rep_param_level(req, q.scope, &q.level) != 0)
        return;
    long recurring = 1;
    if (rep_param_int(req, "recurring", 0, 1, 1, &recurring) != 0) return;
    sb_t b = {0};
    char name[256] = "", uregion[16];
    if (q.unit_id) rep_unit_name(s, q.unit_id, name, sizeof name, uregion, sizeof uregion);
    else rep_region_name(s, q.scope, name, sizeof name);
    int y, mo;
    calendar_day_to_ymd(q.from, &y, &mo, NULL);
    char today[40];
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    calendar_day_format(deadline_local_day(now_ms), today);
    rep_row_t *total = NULL;
    size_t nt = 0;
    if (rep_query_run(s, &q, &total, &nt) != 0) goto dberr;

    sb_printf(&b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>");
    sb_html(&b, name);
    sb_printf(&b, "企业诉求办理情况通报（%d年%d月）</title>\n"
                  "<style>@page{size:A4;margin:18mm}body{font-family:'SimSun','Songti SC',serif;font-size:14px;"
                  "line-height:1.7;max-width:190mm;margin:auto}h1{text-align:center;font-size:22px}"
                  "h2{font-size:16px;margin-top:1.4em}.meta{text-align:center;color:#444}"
                  "table{border-collapse:collapse;width:100%%;font-size:12px;page-break-inside:auto}"
                  "th,td{border:1px solid #333;padding:2px 4px;text-align:center}tr{page-break-inside:avoid}"
                  ".red{color:#b00}.note{font-size:12px;color:#444}</style></head><body>\n",
              y, mo);
    sb_printf(&b, "<h1>");
    sb_html(&b, name);
    sb_printf(&b, "企业诉求办理情况通报</h1>\n<p class=\"meta\">%d年%d月 · 数据截至 %s · 编制：企业诉求工作专班</p>\n",
              y, mo, today);
    sb_printf(&b, "<h2>一、总体情况</h2>\n");
    if (nt > 0) summary(&b, &total[0]);
    free(total);
    total = NULL;

    int sec = 2;
    static const char *const num[] = {"", "一", "二", "三", "四", "五", "六", "七"};
    if (q.unit_id) {
        rep_query_t k = q;
        k.group = REP_G_KIND;
        rep_row_t *rows = NULL;
        size_t n = 0;
        if (rep_query_run(s, &k, &rows, &n) != 0) goto dberr;
        sb_printf(&b, "<h2>%s、分类型情况</h2>\n", num[sec++]);
        table_head(&b, "诉求类型");
        for (size_t i = 0; i < n; i++) {
            rm_measures_t m;
            rm_measures_compute(&rows[i].g, &m);
            table_row(&b, i + 1, rm_kind_label(rows[i].kind), &rows[i], &m);
        }
        sb_printf(&b, "</tbody></table>\n");
        free(rows);
    } else {
        if (rm_region_tier(q.scope) < 4) {
            rep_query_t k = q;
            k.group = REP_G_REGION;
            rep_row_t *rows = NULL;
            size_t n = 0;
            if (rep_query_run(s, &k, &rows, &n) != 0) goto dberr;
            sb_printf(&b, "<h2>%s、分地区情况</h2>\n", num[sec++]);
            table_head(&b, "地区");
            for (size_t i = 0; i < n; i++) {
                rm_measures_t m;
                rm_measures_compute(&rows[i].g, &m);
                table_row(&b, i + 1, rows[i].region_name[0] ? rows[i].region_name : rows[i].region_code, &rows[i], &m);
            }
            sb_printf(&b, "</tbody></table>\n");
            free(rows);
        }
        rep_query_t k = q;
        k.group = REP_G_UNIT;
        rep_ranked_t *v = NULL;
        size_t n = 0;
        if (rep_rank(s, &k, &v, &n) != 0) goto dberr;
        size_t ranked = 0;
        for (size_t i = 0; i < n; i++) ranked += v[i].ranked;
        sb_printf(&b, "<h2>%s、承办单位排名与红黑榜</h2>\n", num[sec++]);
        sb_printf(&b, "<p class=\"note\">综合得分为响应率、按时办结率、问题解决率、满意率的平均值（百分制）；"
                      "当月登记不少于 %ld 件的单位参加排名。</p>\n", s->cfg->rank_min_cases);
        table_head(&b, "承办单位");
        for (size_t i = 0; i < n && i < 30 && v[i].ranked; i++)
            table_row(&b, i + 1, v[i].row.unit_name, &v[i].row, &v[i].m);
        sb_printf(&b, "</tbody></table>\n<p><b>红榜</b>：");
        int any = 0;
        for (size_t i = 0; i < ranked && i < (size_t)s->cfg->list_size; i++)
            if (v[i].m.score >= (double)s->cfg->red_min_score) {
                sb_printf(&b, "%s", any++ ? "、" : "");
                sb_html(&b, v[i].row.unit_name);
                sb_printf(&b, "（%.1f分）", v[i].m.score);
            }
        if (!any) sb_printf(&b, "无");
        sb_printf(&b, "。</p>\n<p class=\"red\"><b>黑榜</b>：");
        any = 0;
        bool *listed = calloc(n ? n : 1, sizeof *listed);
        for (size_t j = ranked, k2 = 0; listed && j-- > 0 && k2 < (size_t)s->cfg->list_size;)
            if (v[j].m.score < (double)s->cfg->black_max_score) {
                k2++;
                listed[j] = true;
                sb_printf(&b, "%s", any++ ? "、" : "");
                sb_html(&b, v[j].row.unit_name);
                sb_printf(&b, "（%.1f分", v[j].m.score);
                if (v[j].row.g.red_cards > 0) sb_printf(&b, "，被亮红牌 %lld 次", (long long)v[j].row.g.red_cards);
                sb_printf(&b, "）");
            }
        for (size_t i = 0; listed && i < n; i++)
            if (v[i].row.g.red_cards > 0 && !listed[i]) {
                sb_printf(&b, "%s", any++ ? "、" : "");
                sb_html(&b, v[i].row.unit_name);
                sb_printf(&b, "（被亮红牌 %lld 次）", (long long)v[i].row.g.red_cards);
            }
        free(listed);
        if (!any) sb_printf(&b, "无");
        sb_printf(&b, "。</p>\n");
        free(v);
    }
    sb_printf(&b, "<h2>%s、挂牌督办、约谈与亮牌</h2>\n", num[sec++]);
    if (notices(s, &b, &q) != 0) goto dberr;
    sb_printf(&b, "<h2>%s、超期未办结诉求</h2>\n", num[sec++]);
    if (overdue(s, &b, &q) != 0) goto dberr;
    if (!q.unit_id && recurring) {
        int e = 0;
        json_t *groups = rep_recurring_groups(s, &q, 3, &e);
        if (e) goto dberr;
        sb_printf(&b, "<h2>%s、共性问题（一件事→一类事）</h2>\n", num[sec++]);
        if (json_array_size(groups) == 0) sb_printf(&b, "<p>本月未发现跨企业的同类问题。</p>\n");
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g) {
            sb_printf(&b, "<p>%zu. <b>", i + 1);
            sb_html(&b, json_string_value(json_object_get(g, "matter_type")));
            sb_printf(&b, "</b>：%lld 件，涉及 %lld 家企业、%zu 个地区。例：", (long long)json_integer_value(json_object_get(g, "size")),
                      (long long)json_integer_value(json_object_get(g, "enterprises")),
                      json_array_size(json_object_get(g, "regions")));
            size_t j;
            json_t *ex;
            json_array_foreach(json_object_get(g, "examples"), j, ex) {
                sb_printf(&b, "%s", j ? "；" : "");
                sb_html(&b, json_string_value(json_object_get(ex, "summary")));
                sb_printf(&b, "（%s）", json_string_value(json_object_get(ex, "case_no")));
            }
            sb_printf(&b, "。</p>\n");
        }
        json_decref(groups);
    }
    sb_printf(&b, "<p class=\"note\">口径：各项指标按当月登记的诉求统计，截至编制时的办理情况；"
                  "在办已超过办理时限的计为未按时办结。定义见 docs/MEASURES.md。</p>\n</body></html>\n");
    if (b.oom) {
        free(b.s);
        http_reply_oom(req);
        return;
    }
    http_reply_raw(req, 200, "text/html; charset=utf-8", b.s, b.n);
    free(b.s);
    return;
dberr:
    free(total);
    free(b.s);
    rep_reply_db_error(req, s->pg, "bulletin");
}
