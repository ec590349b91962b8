/*
 * review.c — the monthly review (seed 002 三(五): 每月25日梳理未办结诉求情况，对进展严重滞后的诉求
 * 事项 … 列入市委、市政府重点督办事项): on the profile's review day, the open cases whose handling
 * deadline passed at least monthly.seriously_late_wd working days before it, for the
 * key-supervision list.
 *
 * The list is taken once, on the review day, for every region bound to a profile that has a
 * review day (a snapshot in monthly_reviews, so what was listed stays what was listed); asking
 * for a month without a snapshot answers the same query live, marked as such. Lateness is
 * counted in the case's own region's working days; a year with no calendar is reported on the
 * case, never guessed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "log.h"
#include "watcher.h"

/* "450100" → "4501%": the region and everything below it. */
static void region_like(const char *code, char out[24])
{
    char p[16];
    snprintf(p, sizeof p, "%s", code);
    size_t n = strlen(p);
    while (n > 2 && n <= 6 && p[n - 1] == '0' && p[n - 2] == '0') p[n -= 2] = '\0';
    snprintf(out, 24, "%s%%", p);
}

/* The list as of the review day `review` (a date) of region. New reference or NULL (pg->err). */
static json_t *review_cases(watcher_t *w, pg_t *pg, const char *region, const policy_t *p, calendar_day_t review)
{
    char like[24], at[40];
    region_like(region, like);
    int64_t review_ms = deadline_local_instant(review, p->office_close_s);
    deadline_time_format(review_ms, at, sizeof at);
    const char *pa[] = {like, at};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT DISTINCT ON (t.case_id) t.case_id, c.case_no, c.region_code, c.kind, c.state, "
                 "coalesce(c.lead_unit_id, 0), coalesce(u.name, ''), t.kind, (extract(epoch FROM t.due_at) * 1000)::bigint, "
                 "c.summary FROM timers t JOIN cases c ON c.id = t.case_id LEFT JOIN units u ON u.id = c.lead_unit_id "
                 "WHERE t.kind IN ('resolve_by', 'redo_by') AND t.state IN ('armed', 'fired') AND t.paused_at IS NULL "
                 "AND c.closed_at IS NULL AND c.state IN ('dispatched', 'in_progress') AND c.region_code LIKE $1 "
                 "AND t.due_at < $2::timestamptz ORDER BY t.case_id, t.id DESC",
                 2, pa, &r) != 0)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t due = strtoll(PQgetvalue(r, i, 8), NULL, 10);
        const char *case_region = PQgetvalue(r, i, 2);
        int late = 0;
        char err[256], dues[40];
        deadline_time_format(due, dues, sizeof dues);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "case_id", PQgetvalue(r, i, 0), "case_no",
                              PQgetvalue(r, i, 1), "region_code", case_region, "kind", PQgetvalue(r, i, 3), "state",
                              PQgetvalue(r, i, 4), "lead_unit_id", (json_int_t)strtoll(PQgetvalue(r, i, 5), NULL, 10),
                              "lead_unit_name", PQgetvalue(r, i, 6), "clock", PQgetvalue(r, i, 7), "due_at", dues,
                              "summary", PQgetvalue(r, i, 9));
        if (calendar_count_working_days(w->cal, case_region, deadline_local_day(due), review, &late, err, sizeof err) != 0) {
            int year = calendar_error_year(err);
            json_object_set_new(o, "working_days_late", json_null());
            json_object_set_new(o, "problem", json_string(err));
            if (year) json_object_set_new(o, "calendar_missing", json_integer(year));
            metric_inc(w->m_cal_missing);
            LOGE("monthly review: lateness needs a year with no calendar loaded", LF_STR("case_id", PQgetvalue(r, i, 0)),
                 LF_INT("year", year));
            json_array_append_new(arr, o);
            continue;
        }
        if (late < p->monthly_seriously_late_wd) {
            json_decref(o);
            continue;
        }
        json_object_set_new(o, "working_days_late", json_integer(late));
        json_array_append_new(arr, o);
    }
    PQclear(r);
    return arr;
}

int watcher_review(watcher_t *w, pg_t *pg, const char *region, int year, int month, json_t **out, int *status,
                   char *field, char *err, size_t errlen)
{
    *out = NULL;
    *status = 400;
    const policy_t *p = watcher_profile(w, region, err, errlen);
    if (p == NULL) {
        snprintf(field, 32, "region");
        *status = strstr(err, "unknown") ? 404 : 422;
        return -1;
    }
    if (p->monthly_review_day == POLICY_UNSET) {
        snprintf(err, errlen, "region %s follows profile '%s', which has no monthly review (monthly.review_day is null)",
                 region, p->name);
        snprintf(field, 32, "region");
        *status = 422;
        return -1;
    }
    calendar_day_t review, first;
    if (calendar_day_from_ymd(year, month, p->monthly_review_day, &review) != 0 ||
        calendar_day_from_ymd(year, month, 1, &first) != 0) {
        snprintf(err, errlen, "month: no such month");
        snprintf(field, 32, "month");
        return -1;
    }
    char mday[11], rday[11];
    calendar_day_format(first, mday);
    calendar_day_format(review, rday);
    const char *pa[] = {region, mday};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT cases::text, " PG_RFC3339("generated_at") " FROM monthly_reviews WHERE region_code = $1 "
                     "AND month = $2::date", 2, pa, &r) != 0) {
        *status = 503;
        snprintf(err, errlen, "%s", pg->err);
        return -1;
    }
    json_t *cases = NULL, *o;
    int snapshot = PQntuples(r) == 1;
    char generated[40] = "";
    if (snapshot) {
        cases = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        snprintf(generated, sizeof generated, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    if (!snapshot) {
        /* live: as of the review day, or today while it has not come */
        calendar_day_t today = deadline_local_day(watcher_now_ms());
        cases = review_cases(w, pg, region, p, review < today ? review : today);
        if (cases == NULL) {
            *status = 503;
            snprintf(err, errlen, "%s", pg->err);
            return -1;
        }
    }
    char mon[8];
    snprintf(mon, sizeof mon, "%04d-%02d", year, month);
    o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:b,s:s?,s:I,s:o}", "region_code", region, "month", mon, "review_day", rday,
                  "profile", p->name, "seriously_late_wd", p->monthly_seriously_late_wd, "snapshot", snapshot,
                  "generated_at", snapshot ? generated : NULL, "count", (json_int_t)json_array_size(cases), "cases",
                  cases ? cases : json_array());
    *out = o;
    return 0;
}

void watcher_review_snapshots(watcher_t *w)
{
    pg_t *pg = w->pg_fire;
    calendar_day_t today = deadline_local_day(watcher_now_ms());
    int y, m, d;
    calendar_day_to_ymd(today, &y, &m, &d);
    for (size_t i = 0; i < w->nregions; i++) {
        const wregion_t *reg = &w->regions[i];
        if (!reg->profile[0]) continue;
        const policy_t *p = policy_set_find(w->policies, reg->profile);
        if (p == NULL || p->monthly_review_day == POLICY_UNSET || d < p->monthly_review_day) continue;
        calendar_day_t first, review;
        if (calendar_day_from_ymd(y, m, 1, &first) != 0 || calendar_day_from_ymd(y, m, p->monthly_review_day, &review) != 0)
            continue;
        char mday[11], rday[11], sl[8];
        calendar_day_format(first, mday);
        calendar_day_format(review, rday);
        snprintf(sl, sizeof sl, "%d", p->monthly_seriously_late_wd);
        const char *pe[] = {reg->code, mday};
        PGresult *r = NULL;
        if (pg_query(pg, "SELECT 1 FROM monthly_reviews WHERE region_code = $1 AND month = $2::date", 2, pe, &r) != 0) {
            LOGW("monthly review not taken", LF_STR("error", pg->err));
            return;
        }
        int have = PQntuples(r) == 1;
        PQclear(r);
        if (have) continue;
        json_t *cases = review_cases(w, pg, reg->code, p, review);
        char *txt = cases ? json_dumps(cases, JSON_COMPACT) : NULL;
        const char *pi[] = {reg->code, mday, rday, p->name, sl, txt};
        if (txt == NULL || pg_query(pg, "INSERT INTO monthly_reviews (region_code, month, review_day, profile, "
                                        "seriously_late_wd, cases) VALUES ($1, $2::date, $3::date, $4, $5::smallint, "
                                        "$6::jsonb) ON CONFLICT DO NOTHING", 6, pi, NULL) != 0)
            LOGW("monthly review not stored", LF_STR("region", reg->code), LF_STR("error", pg->err));
        else
            LOGI("monthly review taken: open cases seriously late listed for key supervision", LF_STR("region", reg->code),
                 LF_STR("month", mday), LF_INT("cases", (long long)json_array_size(cases)));
        free(txt);
        json_decref(cases);
    }
}
