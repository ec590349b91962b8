/*
 * ledger.c — the ledger (台账) of seed 003 annex 4, one row per case received in the period in
 * the caller's scope, with its twelve columns: 序号, 诉求编号, 诉求企业, 联系人及联系方式, 主要诉求,
 * 办理单位, 联系人及联系方式, 办理情况, 督办情况, 移送纪检监察情况, 回访情况, 是否办结归档.
 *
 * Offices live in spreadsheets, so the ledger comes as .xlsx (written by libxlsxwriter into a
 * private temporary folder, read back and sent), as CSV (UTF-8 with a byte-order mark, which
 * spreadsheet programs need to read Chinese), or as JSON. It carries personal data (the
 * enterprise's contact), so every export is written to the audit log; a confidential report's
 * (举报) contact is withheld. The handling unit's contact is the office's: its deputy head in
 * charge (分管负责人, or its head) and its office phone. A CSV cell a spreadsheet program would
 * take for a formula (= + - @ …: names and summaries come from enterprises) is written with a
 * leading ' (csvcell.h); the xlsx writes string cells, which are never formulas.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "csvcell.h"
#include "log.h"
#include "reporting.h"

static const char *const COLUMNS[12] = {"序号", "诉求编号", "诉求企业", "联系人及联系方式", "主要诉求", "办理单位",
                                        "联系人及联系方式", "办理情况", "督办情况", "移送纪检监察情况", "回访情况",
                                        "是否办结归档"};
static const char *const KEYS[12] = {"no", "case_no", "enterprise", "enterprise_contact", "summary", "unit",
                                     "unit_contact", "handling", "supervision", "discipline_referral", "revisit",
                                     "closed_archived"};

static const char SQL[] =
    "SELECT c.case_no, c.enterprise_name, c.confidential, coalesce(c.contact_name, ''), coalesce(c.contact_phone, ''), "
    "c.summary, coalesce(u.name, ''), coalesce(u.deputy_name, u.head_name, ''), coalesce(u.phone, ''), "
    "r.state, r.finding, coalesce(res.text, ''), r.results, r.late_results, "
    "(r.open_handling AND r.due_at < now()), coalesce(sv.n1, 0), coalesce(sv.n2, 0), coalesce(sv.n3, 0), "
    "coalesce(sv.cards, 0), coalesce(sv.referral, ''), r.revisits, r.grade, r.closed, r.archived, r.redo, "
    "r.terminated, r.refused, r.duplicate "
    "FROM rep_cases r JOIN cases c ON c.id = r.case_id LEFT JOIN units u ON u.id = r.unit_id "
    "LEFT JOIN LATERAL (SELECT coalesce(e.payload->>'measures', e.payload->>'answer_summary') AS text "
    "  FROM case_events e WHERE e.case_id = r.case_id AND e.type IN ('case.result_submitted', 'case.answered') "
    "  ORDER BY e.id DESC LIMIT 1) res ON true "
    "LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE n.level = 1) AS n1, count(*) FILTER (WHERE n.level = 2) AS n2, "
    "  count(*) FILTER (WHERE n.level = 3) AS n3, count(*) FILTER (WHERE n.type = 'card.issued') AS cards, "
    "  string_agg(n.reason_text, '；') FILTER (WHERE n.level = 3 AND n.reason_code IN "
    "  ('fraud', 'violation', 'dereliction', 'rule_breach', 'retaliation')) AS referral "
    "  FROM rep_unit_events n WHERE n.case_id = r.case_id) sv ON true "
    "WHERE r.known AND r.received_day >= $1::date AND r.received_day <= $2::date AND starts_with(r.region_code, $3) "
    "AND ($4::bigint = 0 OR r.unit_id = $4::bigint) ORDER BY r.received_at, r.case_no LIMIT $5::int";

/* The twelve cells of result row i, written into cells[12] (each malloc'd). */
static void ledger_cells(PGresult *r, int i, size_t no, char *cells[12])
{
#define V(c) PQgetvalue(r, i, c)
    char b[8192];
    snprintf(b, sizeof b, "%zu", no);
    cells[0] = strdup(b);
    cells[1] = strdup(V(0));
    cells[2] = strdup(V(1));
    if (V(2)[0] == 't') snprintf(b, sizeof b, "（保密件，联系方式不列入台账）");
    else snprintf(b, sizeof b, "%s %s", V(3), V(4));
    cells[3] = strdup(b);
    cells[4] = strdup(V(5));
    cells[5] = strdup(V(6)[0] ? V(6) : "（未转办）");
    snprintf(b, sizeof b, "%s%s%s", V(7), V(7)[0] && V(8)[0] ? " " : "", V(8));
    cells[6] = strdup(b);
    const char *finding = V(10);
    const char *fl = !strcmp(finding, "true") ? "属实" : !strcmp(finding, "partly_true") ? "部分属实"
                     : !strcmp(finding, "untrue") ? "不属实" : "";
    int results = atoi(V(12)), late = atoi(V(13)), redo = atoi(V(24));
    size_t o = (size_t)snprintf(b, sizeof b, "%s", rm_state_label(V(9)));
    if (fl[0]) o += (size_t)snprintf(b + o, sizeof b - o, "；经查%s", fl);
    if (results > 0) o += (size_t)snprintf(b + o, sizeof b - o, "；%s", late ? "未按时办结" : "按时办结");
    if (redo > 0) o += (size_t)snprintf(b + o, sizeof b - o, "；二次办理%d次", redo);
    if (V(25)[0] == 't') o += (size_t)snprintf(b + o, sizeof b - o, "；终结办理");
    if (V(11)[0]) snprintf(b + o, sizeof b - o, "。%s", V(11));
    cells[7] = strdup(b);
    int n1 = atoi(V(15)), n2 = atoi(V(16)), n3 = atoi(V(17)), cards = atoi(V(18));
    o = 0;
    b[0] = '\0';
    if (V(14)[0] == 't') o += (size_t)snprintf(b + o, sizeof b - o, "已超期；");
    if (n1) o += (size_t)snprintf(b + o, sizeof b - o, "提醒敦促函%d份；", n1);
    if (n2) o += (size_t)snprintf(b + o, sizeof b - o, "整改通知书%d份（挂牌督办）；", n2);
    if (n3) o += (size_t)snprintf(b + o, sizeof b - o, "约谈%d次；", n3);
    if (cards) o += (size_t)snprintf(b + o, sizeof b - o, "亮牌%d次；", cards);
    if (o >= 3) b[o - 3] = '\0'; /* drop the last "；" (3 bytes) */
    cells[8] = strdup(b[0] ? b : "无");
    if (V(19)[0]) snprintf(b, sizeof b, "已移送：%s", V(19));
    else snprintf(b, sizeof b, "无");
    cells[9] = strdup(b);
    int grade = atoi(V(21)), revisits = atoi(V(20));
    if (revisits == 0) snprintf(b, sizeof b, "未回访");
    else if (grade >= 1 && grade <= 6) snprintf(b, sizeof b, "%s（回访%d次）", rm_grade_label(grade), revisits);
    else snprintf(b, sizeof b, "未联系上（回访%d次）", revisits);
    cells[10] = strdup(b);
    const char *done = V(23)[0] == 't' ? "已办结归档"
                       : V(22)[0] == 't' || V(25)[0] == 't' ? "已办结，未归档"
                       : V(26)[0] == 't' ? "不予受理"
                       : V(27)[0] == 't' ? "重复件（并入原件）" : "否";
    cells[11] = strdup(done);
#undef V
}

/* Writes the xlsx into a private folder and returns its bytes (malloc'd) in *out. */
static int write_xlsx(PGresult *r, int rows, const char *title, char **out, size_t *len)
{
    char dir[] = "/tmp/jiesu-ledger-XXXXXX";
    if (mkdtemp(dir) == NULL) return -1;
    char path[64];
    snprintf(path, sizeof path, "%s/ledger.xlsx", dir);
    int rc = -1;
    lxw_workbook *wb = workbook_new(path);
    if (wb == NULL) goto out;
    lxw_worksheet *ws = workbook_add_worksheet(wb, "台账");
    lxw_format *head = workbook_add_format(wb), *wrap = workbook_add_format(wb), *titlef = workbook_add_format(wb);
    format_set_bold(head);
    format_set_border(head, LXW_BORDER_THIN);
    format_set_bg_color(head, 0xDDEBF7);
    format_set_text_wrap(head);
    format_set_align(head, LXW_ALIGN_CENTER);
    format_set_text_wrap(wrap);
    format_set_border(wrap, LXW_BORDER_THIN);
    format_set_align(wrap, LXW_ALIGN_VERTICAL_TOP);
    format_set_bold(titlef);
    format_set_font_size(titlef, 14);
    static const double widths[12] = {6, 20, 28, 22, 36, 24, 20, 48, 24, 18, 18, 14};
    for (int c = 0; c < 12; c++) worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, widths[c], NULL);
    for (int c = 0; c < 12; c++) worksheet_write_string(ws, 0, (lxw_col_t)c, COLUMNS[c], head);
    worksheet_freeze_panes(ws, 1, 0);
    for (int i = 0; i < rows; i++) {
        char *cells[12];
        ledger_cells(r, i, (size_t)i + 1, cells);
        for (int c = 0; c < 12; c++) {
            if (c == 0) worksheet_write_number(ws, (lxw_row_t)i + 1, 0, (double)(i + 1), wrap);
            else worksheet_write_string(ws, (lxw_row_t)i + 1, (lxw_col_t)c, cells[c] ? cells[c] : "", wrap);
            free(cells[c]);
        }
    }
    char subject[] = "企业诉求工作台账", author[] = "jiesu-reporting", *t = strdup(title);
    lxw_doc_properties props = {.title = t, .subject = subject, .author = author};
    workbook_set_properties(wb, &props);
    free(t);
    (void)titlef;
    if (workbook_close(wb) != LXW_NO_ERROR) goto out;
    FILE *f = fopen(path, "rb");
    if (f == NULL) goto out;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (*out = malloc((size_t)st.st_size)) != NULL &&
        fread(*out, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
        *len = (size_t)st.st_size;
        rc = 0;
    }
    fclose(f);
out:
    unlink(path);
    rmdir(dir);
    return rc;
}

void rep_ledger(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    rep_query_t q;
    memset(&q, 0, sizeof q);
    static const char *const formats[] = {"json", "csv", "xlsx", NULL};
    const char *format = NULL;
    if (rep_param_period(req, s, &q.from, &q.to) != 0 || rep_scope(req, s, q.scope, &q.unit_id) != 0 ||
        rep_param_enum(req, "format", formats, "json", &format) != 0)
        return;
    char from[11], to[11], unit[24], pre[16], lim[24];
    calendar_day_format(q.from, from);
    calendar_day_format(q.to, to);
    snprintf(unit, sizeof unit, "%lld", q.unit_id);
    size_t n = strlen(q.scope);
    while (n > 2 && n <= 6 && q.scope[n - 1] == '0' && q.scope[n - 2] == '0') n -= 2;
    snprintf(pre, sizeof pre, "%.*s", (int)n, q.scope);
    snprintf(lim, sizeof lim, "%ld", s->cfg->ledger_max_rows + 1);
    const char *p[] = {from, to, pre, unit, lim};
    PGresult *r = NULL;
    if (pg_query(s->pg, SQL, 5, p, &r) != 0) {
        rep_reply_db_error(req, s->pg, "ledger");
        return;
    }
    int rows = PQntuples(r);
    if (rows > s->cfg->ledger_max_rows) {
        PQclear(r);
        http_reply_error(req, 422, "too_many_rows", "to", "to: the ledger would have more than %ld rows; "
                         "shorten the period or narrow the region", s->cfg->ledger_max_rows);
        return;
    }
    char name[256] = "", object[64], fname[128];
    if (q.unit_id) rep_unit_name(s, q.unit_id, name, sizeof name, NULL, 0);
    else rep_region_name(s, q.scope, name, sizeof name);
    char title[400];
    snprintf(title, sizeof title, "%s企业诉求“直通车”工作台账（%s至%s）", name, from, to);
    if (q.unit_id) snprintf(object, sizeof object, "unit:%lld", q.unit_id);
    else snprintf(object, sizeof object, "region:%s", q.scope);
    rep_audit(s, req, "case.export", object,
              json_pack("{s:s,s:s,s:s,s:i}", "format", format, "from", from, "to", to, "rows", rows));
    metric_inc(s->m_exports);
    snprintf(fname, sizeof fname, "attachment; filename=\"ledger-%s-%s-%s.%s\"", q.unit_id ? unit : q.scope, from,
             to, format);
    if (!strcmp(format, "json")) {
        json_t *arr = json_array();
        for (int i = 0; i < rows; i++) {
            char *cells[12];
            ledger_cells(r, i, (size_t)i + 1, cells);
            json_t *o = json_object();
            for (int c = 0; c < 12; c++) {
                json_object_set_new(o, KEYS[c], c == 0 ? json_integer(i + 1) : json_string(cells[c] ? cells[c] : ""));
                free(cells[c]);
            }
            json_array_append_new(arr, o);
        }
        json_t *cols = json_array();
        for (int c = 0; c < 12; c++) json_array_append_new(cols, json_pack("{s:s,s:s}", "key", KEYS[c], "title", COLUMNS[c]));
        PQclear(r);
        http_reply_json(req, 200, json_pack("{s:s,s:s,s:o,s:o}", "title", title, "region", q.scope, "columns", cols,
                                            "rows", arr));
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    int ok;
    if (!strcmp(format, "csv")) {
        FILE *f = open_memstream(&buf, &len);
        ok = f != NULL;
        if (f) {
            fputs("\xEF\xBB\xBF", f);
            for (int c = 0; c < 12; c++) {
                if (c) fputc(',', f);
                rep_csv_cell_write(f, COLUMNS[c]);
            }
            fputs("\r\n", f);
            for (int i = 0; i < rows; i++) {
                char *cells[12];
                ledger_cells(r, i, (size_t)i + 1, cells);
                for (int c = 0; c < 12; c++) {
                    if (c) fputc(',', f);
                    rep_csv_cell_write(f, cells[c] ? cells[c] : "");
                    free(cells[c]);
                }
                fputs("\r\n", f);
            }
            ok = fclose(f) == 0;
        }
    } else {
        ok = write_xlsx(r, rows, title, &buf, &len) == 0;
    }
    PQclear(r);
    if (!ok) {
        free(buf);
        LOGE("ledger export failed", LF_STR("req", http_req_id(req)), LF_STR("format", format));
        http_reply_error(req, 500, "internal", NULL, "the ledger could not be written (request %s)", http_req_id(req));
        return;
    }
    http_reply_header(req, "Content-Disposition", fname);
    http_reply_raw(req, 200,
                   !strcmp(format, "csv") ? "text/csv; charset=utf-8"
                                          : "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   buf, len);
    free(buf);
}
