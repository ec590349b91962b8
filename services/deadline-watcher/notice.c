/*
 * notice.c — the supervision notice (督办单) as a printable page.
 *
 * Offices print and file these (seed 003 annex 3: "(单位名称)：贵单位在办理编号 … 企业诉求问题时
 * 出现以下情况：… 现予以提醒并进行督办，请于5日内将办理结果向市营商办反馈。" signed by the issuing
 * office with the date). The page is one self-contained HTML document with print styles (A4,
 * no external resources), every value escaped, and the reply deadline spelt out in full so the
 * paper copy says what the clock says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watcher.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} sb_t;

static void sb_put(sb_t *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *g = realloc(b->buf, cap);
        if (g == NULL) {
            b->failed = 1;
            return;
        }
        b->buf = g;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_str(sb_t *b, const char *s) { sb_put(b, s, strlen(s)); }

/* HTML-escaped text. */
static void sb_esc(sb_t *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sb_str(b, "&amp;"); break;
        case '<': sb_str(b, "&lt;"); break;
        case '>': sb_str(b, "&gt;"); break;
        case '"': sb_str(b, "&quot;"); break;
        case '\'': sb_str(b, "&#39;"); break;
        default: sb_put(b, s, 1);
        }
    }
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "2026-10-08T23:59:59.000+08:00" → "2026年10月8日 23:59" */
static void cn_date(const char *iso, char *out, size_t len, int with_time)
{
    int y, m, d, hh, mm;
    if (sscanf(iso, "%d-%d-%dT%d:%d", &y, &m, &d, &hh, &mm) != 5) {
        snprintf(out, len, "%s", iso);
        return;
    }
    if (with_time) snprintf(out, len, "%d年%d月%d日 %02d:%02d", y, m, d, hh, mm);
    else snprintf(out, len, "%d年%d月%d日", y, m, d);
}

char *watcher_notice_html(const json_t *n)
{
    static const char *const titles[] = {"督办单", "提醒敦促函", "整改通知书", "约谈通知书"};
    static const char *const actions[] = {"督办", "予以提醒并进行督办", "予以挂牌督办，请限期整改", "予以约谈督办"};
    int level = (int)json_integer_value(json_object_get(n, "level"));
    if (level < 1 || level > 3) level = 0;
    char issued[64], due[64], replied[64];
    cn_date(jstr(n, "issued_at"), issued, sizeof issued, 0);
    cn_date(jstr(n, "reply_due_at"), due, sizeof due, 1);
    sb_t b = {0};
    sb_str(&b, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    sb_esc(&b, titles[level]);
    sb_str(&b, " ");
    sb_esc(&b, jstr(n, "notice_no"));
    sb_str(&b, "</title>\n<style>\n"
               "@page { size: A4; margin: 25mm 20mm; }\n"
               "body { font-family: \"FangSong\", \"STFangsong\", \"SimSun\", serif; font-size: 16pt; line-height: 1.8; "
               "max-width: 170mm; margin: 0 auto; color: #000; }\n"
               "h1 { font-family: \"SimHei\", \"Heiti SC\", sans-serif; text-align: center; font-size: 22pt; "
               "letter-spacing: 0.2em; margin: 0 0 0.2em; }\n"
               ".subtitle { text-align: center; font-size: 14pt; margin: 0 0 1em; }\n"
               ".no { text-align: right; font-size: 12pt; }\n"
               "p { text-indent: 2em; margin: 0.4em 0; }\n"
               "p.to { text-indent: 0; }\n"
               ".reason { border-left: 3px solid #000; padding-left: 0.6em; text-indent: 0; }\n"
               ".sign { text-align: right; margin-top: 2.5em; text-indent: 0; }\n"
               "table { width: 100%; border-collapse: collapse; font-size: 11pt; margin-top: 2em; }\n"
               "td, th { border: 1px solid #000; padding: 2px 6px; text-align: left; }\n"
               "@media print { .noprint { display: none; } }\n"
               "</style>\n</head>\n<body>\n<h1>");
    sb_esc(&b, titles[level]);
    sb_str(&b, "</h1>\n<div class=\"subtitle\">（督办单）</div>\n<div class=\"no\">编号：");
    sb_esc(&b, jstr(n, "notice_no"));
    sb_str(&b, "</div>\n<p class=\"to\">");
    sb_esc(&b, jstr(n, "unit_name"));
    sb_str(&b, "：</p>\n<p>");
    if (jstr(n, "case_no")[0]) {
        sb_str(&b, "贵单位在办理编号 <b>");
        sb_esc(&b, jstr(n, "case_no"));
        sb_str(&b, "</b> 企业诉求问题时出现以下情况：");
    } else {
        sb_str(&b, "贵单位在办理企业诉求工作中出现以下情况：");
    }
    sb_str(&b, "</p>\n<p class=\"reason\">");
    sb_esc(&b, jstr(n, "reason_text"));
    sb_str(&b, "</p>\n<p>根据");
    if (jstr(n, "mechanism")[0]) {
        sb_str(&b, "《");
        sb_esc(&b, jstr(n, "mechanism"));
        sb_str(&b, "》");
    } else {
        sb_str(&b, "企业诉求办理工作机制");
    }
    sb_str(&b, "规定，现");
    sb_esc(&b, actions[level]);
    sb_str(&b, "，请于 <b>");
    sb_esc(&b, due);
    sb_str(&b, "</b> 前将办理结果向");
    sb_esc(&b, jstr(n, "issuer_name")[0] ? jstr(n, "issuer_name") : "工作专班");
    sb_str(&b, "反馈。</p>\n<p class=\"sign\">");
    sb_esc(&b, jstr(n, "issuer_name")[0] ? jstr(n, "issuer_name") : "工作专班");
    sb_str(&b, "<br>");
    sb_esc(&b, issued);
    sb_str(&b, "</p>\n<table>\n<tr><th>督办级别</th><td>");
    char lv[48];
    snprintf(lv, sizeof lv, "%d级（%s）", level, titles[level]);
    sb_esc(&b, lv);
    sb_str(&b, "</td><th>事由</th><td>");
    sb_esc(&b, jstr(n, "reason_code"));
    sb_str(&b, "</td></tr>\n<tr><th>签发时间</th><td>");
    sb_esc(&b, jstr(n, "issued_at"));
    sb_str(&b, "</td><th>反馈期限</th><td>");
    sb_esc(&b, jstr(n, "reply_due_at"));
    sb_str(&b, "</td></tr>\n<tr><th>反馈情况</th><td colspan=\"3\">");
    if (jstr(n, "replied_at")[0]) {
        cn_date(jstr(n, "replied_at"), replied, sizeof replied, 1);
        sb_esc(&b, replied);
        sb_str(&b, " 已反馈：");
        sb_esc(&b, jstr(n, "reply_text"));
    } else {
        sb_str(&b, "尚未反馈");
    }
    sb_str(&b, "</td></tr>\n");
    const json_t *dc = json_object_get(n, "disputed_contacts");
    if (json_array_size(dc) > 0) {
        /* the unit's own contact records that the revisit found never happened (seed 004) */
        static const char *const ch[][2] = {{"phone", "电话"}, {"sms", "短信"}, {"field_visit", "上门走访"},
                                            {"video", "视频"}, {"in_person", "当面"}, {"email", "电子邮件"},
                                            {"online_message", "在线留言"}};
        sb_str(&b, "<tr><th>经回访核实未发生的联系记录</th><td colspan=\"3\">");
        size_t i;
        const json_t *c;
        json_array_foreach(dc, i, c) {
            char when[64];
            const char *chan = jstr(c, "channel");
            for (size_t k = 0; k < sizeof ch / sizeof ch[0]; k++)
                if (!strcmp(chan, ch[k][0])) chan = ch[k][1];
            cn_date(jstr(c, "contacted_at"), when, sizeof when, 1);
            if (i) sb_str(&b, "<br>");
            sb_esc(&b, when);
            sb_str(&b, " ");
            sb_esc(&b, chan);
            sb_str(&b, "（记录号 ");
            sb_esc(&b, jstr(c, "contact_record_id"));
            sb_str(&b, "）");
        }
        sb_str(&b, "</td></tr>\n");
    }
    if (json_is_true(json_object_get(n, "in_bulletin"))) sb_str(&b, "<tr><th>通报</th><td colspan=\"3\">列入月度监测通报</td></tr>\n");
    sb_str(&b, "</table>\n</body>\n</html>\n");
    if (b.failed) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}
