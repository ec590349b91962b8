/*
 * jobs.c — the revisit's periodic work, each part also callable on demand.
 *
 * Look back (回头看, seed 003 四(五) 随机抽查): a sample of the cases closed in a period, at the
 * profile's revisit.lookback_percent, gets a second call. The draw is reproducible and
 * auditable: every case of the population (closed in the period, in the region, under the
 * profile) is ranked by sha256("<seed>:<case id>") and the ceil(n × rate / 100) smallest are
 * taken; the sample row keeps the seed, the rate, the rule, the population's size and digest
 * and the chosen ids, and GET /v1/lookback/samples/{id}?population=true shows the population
 * again so anyone can repeat the draw. The periodic job draws last month's sample once for
 * each region that binds a sampling profile (a unique key makes a second draw a no-op); a
 * supervisor may draw any past period of its jurisdiction (适时).
 *
 * Archive (归档): closed cases wait in revisit_archive_queue until archive.after has passed
 * (and no look-back of theirs is open), then each is archived in its own transaction:
 * case.archived with the dossier's document count and the profile's retention.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "auth.h"
#include "casestore.h"
#include "deadline.h"
#include "log.h"
#include "reqval.h"
#include "revisit.h"

#define SAMPLE_ALGORITHM                                                                                    \
    "population: cases closed in [period_from, period_to) in region_code and the regions below it under " \
    "the profile; rank each by lowercase hex sha256(seed || ':' || case_id) ascending (ties by case_id); "  \
    "take the first ceil(population * rate_percent / 100)"

/* ---- drawing a sample ---------------------------------------------------------------------- */

typedef struct {
    int status; /* 0 ok; 4xx refused; -1 database */
    char err[400];
    const char *field;
    long long sample_id;
    json_t *out;
} draw_t;

static int draw_fail(draw_t *dr, int status, const char *field, const char *msg)
{
    dr->status = status;
    dr->field = field;
    snprintf(dr->err, sizeof dr->err, "%s", msg);
    return -1;
}

/* Draws inside the caller's transaction on pg. who NULL = the periodic job. */
static int draw(revisit_t *rv, pg_t *pg, const char *region, int64_t from_ms, int64_t to_ms, const char *seed_in,
                const http_principal_t *who, draw_t *dr)
{
    char perr[256], like[24], from_s[EVENT_TIME_SIZE], to_s[EVENT_TIME_SIZE], seed[80];
    const policy_t *prof = rvs_profile_for(rv, pg, region, perr, sizeof perr);
    if (prof == NULL) return draw_fail(dr, 422, "region_code", perr);
    if (!prof->revisit_lookback_sampling || prof->revisit_lookback_percent == POLICY_UNSET) {
        snprintf(perr, sizeof perr, "region_code: profile '%s' has no look-back sampling rate "
                 "(revisit.lookback_sampling / revisit.lookback_percent)", prof->name);
        return draw_fail(dr, 422, "region_code", perr);
    }
    if (rvs_region_like(region, like) != 0) return draw_fail(dr, 400, "region_code", "region_code: not a region code");
    rvs_time_str(from_ms, from_s);
    rvs_time_str(to_ms, to_s);
    if (seed_in) {
        snprintf(seed, sizeof seed, "%s", seed_in);
    } else {
        unsigned char rnd[16];
        if (RAND_bytes(rnd, sizeof rnd) != 1) return draw_fail(dr, 500, NULL, "no random bytes");
        for (int i = 0; i < 16; i++) snprintf(seed + 2 * i, 3, "%02x", rnd[i]);
    }
    const char *pp[] = {like, prof->name, from_s, to_s};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT id::text FROM cases WHERE region_code IN (SELECT code FROM regions WHERE code LIKE $1) AND closed_at >= $3::timestamptz "
                 "AND closed_at < $4::timestamptz AND state IN ('closed', 'archived') "
                 "AND region_effective_profile(region_code) = $2 ORDER BY id",
                 4, pp, &r) != 0)
        return -1;
    size_t n = (size_t)PQntuples(r);
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    bool *chosen = calloc(n ? n : 1, sizeof *chosen);
    char digest[65];
    int k = -1;
    if (ids && chosen) {
        for (size_t i = 0; i < n; i++) ids[i] = PQgetvalue(r, (int)i, 0);
        k = rvs_population_digest(ids, n, digest) == 0
                ? rvs_sample_choose(seed, ids, n, prof->revisit_lookback_percent, chosen)
                : -1;
    }
    json_t *sel = json_array();
    for (size_t i = 0; k >= 0 && i < n; i++)
        if (chosen[i]) json_array_append_new(sel, json_string(ids[i]));
    free(ids);
    free(chosen);
    PQclear(r);
    if (k < 0) {
        json_decref(sel);
        return draw_fail(dr, 500, NULL, "out of memory");
    }
    char *sel_s = json_dumps(sel, JSON_COMPACT), rate[8], pop[16], pid[32];
    snprintf(rate, sizeof rate, "%d", prof->revisit_lookback_percent);
    snprintf(pop, sizeof pop, "%zu", n);
    snprintf(pid, sizeof pid, "%lld", who ? who->id : 0);
    const char *ps[] = {region, prof->name, from_s, to_s, rate, seed, SAMPLE_ALGORITHM, pop, digest, sel_s,
                        who ? pid : NULL};
    int q = sel_s == NULL ? -1
                          : pg_query(pg,
                                     "INSERT INTO revisit_samples (region_code, profile, period_from, period_to, "
                                     "rate_percent, seed, algorithm, population, population_sha256, selected, drawn_by) "
                                     "VALUES ($1, $2, $3::timestamptz, $4::timestamptz, $5::smallint, $6, $7, $8::int, $9, "
                                     "ARRAY(SELECT jsonb_array_elements_text($10::jsonb))::uuid[], $11::bigint) "
                                     "ON CONFLICT (region_code, period_from, period_to) DO NOTHING RETURNING id",
                                     11, ps, &r);
    if (q != 0) {
        free(sel_s);
        json_decref(sel);
        return -1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        free(sel_s);
        json_decref(sel);
        return draw_fail(dr, 409, "period_from", "a sample of this region and period was drawn already");
    }
    dr->sample_id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    /* the look-back tasks: due by the revisit window from now, on the last round's unit */
    char sid[24], due_s[EVENT_TIME_SIZE] = "";
    int64_t due;
    snprintf(sid, sizeof sid, "%lld", dr->sample_id);
    if (rvs_due(rv, region, prof, &prof->revisit, rvs_now_ms(), &due, perr, sizeof perr) == 0) rvs_time_str(due, due_s);
    const char *pt[] = {sel_s, sid, prof->name, due_s[0] ? due_s : NULL, due_s[0] ? NULL : perr};
    q = pg_query(pg,
                 "INSERT INTO revisit_tasks (case_id, kind, handling_round, unit_id, region_code, profile, sample_id, "
                 "result_at, due_at, due_problem) "
                 "SELECT c.id, 'lookback', coalesce(last.handling_round, 1), coalesce(last.unit_id, c.lead_unit_id), "
                 "c.region_code, $3, $2::bigint, c.closed_at, $4::timestamptz, left($5, 500) "
                 "FROM cases c LEFT JOIN LATERAL (SELECT handling_round, unit_id FROM revisit_tasks t "
                 "WHERE t.case_id = c.id AND t.kind = 'routine' ORDER BY t.created_at DESC LIMIT 1) last ON true "
                 "WHERE c.id IN (SELECT (jsonb_array_elements_text($1::jsonb))::uuid) ON CONFLICT DO NOTHING",
                 5, pt, &r);
    free(sel_s);
    if (q != 0) {
        json_decref(sel);
        return -1;
    }
    int tasks = atoi(PQcmdTuples(r));
    PQclear(r);
    metric_add(rv->m_sampled, tasks);
    dr->out = json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:I,s:s,s:o,s:i}", "sample_id", (json_int_t)dr->sample_id,
                        "region_code", region, "profile", prof->name, "period_from", from_s, "period_to", to_s,
                        "rate_percent", prof->revisit_lookback_percent, "seed", seed, "algorithm", SAMPLE_ALGORITHM,
                        "population", (json_int_t)n, "population_sha256", digest, "selected", sel, "tasks_created",
                        tasks);
    return 0;
}

static int check_seed(const char *s, char *msg, size_t len)
{
    size_t n = strlen(s);
    int ok = n >= 16 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok) snprintf(msg, len, "must be 16 to 64 lowercase hex digits");
    return ok ? 0 : -1;
}

static int check_time(const char *s, char *msg, size_t len)
{
    int64_t ms;
    if (deadline_time_parse(s, &ms, NULL, 0) == 0) return 0;
    snprintf(msg, len, "must be an RFC 3339 instant with an offset, e.g. 2026-10-01T00:00:00+08:00");
    return -1;
}

static const rv_field_t sample_fields[] = {
    {.name = "region_code", .type = RV_STR, .required = true, .min = 6, .max = 12, .single_line = true},
    {.name = "period_from", .type = RV_STR, .required = true, .min = 10, .max = 40, .single_line = true,
     .check = check_time},
    {.name = "period_to", .type = RV_STR, .required = true, .min = 10, .max = 40, .single_line = true,
     .check = check_time},
    {.name = "seed", .type = RV_STR, .min = 16, .max = 64, .single_line = true, .check = check_seed},
};

void rvs_sample_draw(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, sample_fields, JS_ARRAY_LEN(sample_fields), &e) != 0) {
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        json_decref(body);
        return;
    }
    char region[16];
    snprintf(region, sizeof region, "%.12s", rv_str(body, "region_code", ""));
    int64_t from = 0, to = 0, now = rvs_now_ms();
    char like[24];
    if (deadline_time_parse(rv_str(body, "period_from", ""), &from, NULL, 0) != 0 ||
        deadline_time_parse(rv_str(body, "period_to", ""), &to, NULL, 0) != 0 || rvs_region_like(region, like) != 0) {
        json_decref(body);
        http_reply_error(req, 400, "invalid_value", "region_code", "region_code: a region code of 6, 9 or 12 digits");
        return;
    }
    const char *bad = to <= from ? "period_to: must be after period_from"
                      : to > now ? "period_to: the period must be over (the population of a running period changes)"
                      : to - from > 366LL * 86400000 ? "period_to: a period is at most a year"
                                                     : NULL;
    if (bad) {
        json_decref(body);
        http_reply_error(req, 400, "invalid_value", "period_to", "%s", bad);
        return;
    }
    if (!auth_region_covers(p->region_code, region)) {
        json_decref(body);
        http_reply_error(req, 403, "forbidden", "region_code", "region_code: outside your jurisdiction");
        return;
    }
    draw_t dr = {0};
    if (pg_begin(rv->pg) != 0) {
        json_decref(body);
        rvs_reply_db_error(req, rv->pg, "look-back sample");
        return;
    }
    int rc = draw(rv, rv->pg, region, from, to, rv_str(body, "seed", NULL), p, &dr);
    json_decref(body);
    if (rc != 0 || pg_commit(rv->pg) != 0) {
        pg_rollback(rv->pg);
        json_decref(dr.out);
        if (rc == 0 || dr.status == 0) rvs_reply_db_error(req, rv->pg, "look-back sample");
        else http_reply_error(req, dr.status, dr.status == 409 ? "conflict" : dr.status == 422 ? "not_sampled" : "invalid_value",
                              dr.field, "%s", dr.err);
        return;
    }
    LOGI("look-back sample drawn", LF_INT("sample_id", dr.sample_id), LF_STR("region", region));
    http_reply_json(req, 201, dr.out);
}

void rvs_sample_get(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0), *pop = http_req_query(req, "population");
    char *end = NULL;
    long long sid = strtoll(id, &end, 10);
    if (*id == '\0' || *end != '\0' || sid < 1) {
        http_reply_error(req, 404, "not_found", NULL, "no such sample");
        return;
    }
    if (pop && strcmp(pop, "true") && strcmp(pop, "false")) {
        http_reply_error(req, 400, "not_allowed", "population", "population: true or false");
        return;
    }
    const char *pa[] = {id};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT s.id, s.region_code, s.profile, revisit_time_text(s.period_from), revisit_time_text(s.period_to), "
                 "s.rate_percent, s.seed, s.algorithm, s.population, s.population_sha256, array_to_json(s.selected)::text, "
                 "s.drawn_by, revisit_time_text(s.drawn_at), "
                 "(SELECT json_agg(json_build_object('task_id', t.id, 'case_id', t.case_id, 'state', t.state, "
                 "'outcome', t.outcome, 'attempts', t.attempts) ORDER BY t.case_id)::text FROM revisit_tasks t "
                 "WHERE t.sample_id = s.id) FROM revisit_samples s WHERE s.id = $1::bigint",
                 1, pa, &r) != 0) {
        rvs_reply_db_error(req, rv->pg, "look-back sample");
        return;
    }
    if (PQntuples(r) != 1 || !auth_region_covers(p->region_code, rvs_val(r, 0, 1))) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such sample");
        return;
    }
    json_t *tasks = rvs_val(r, 0, 13) ? json_loads(rvs_val(r, 0, 13), 0, NULL) : json_array();
    json_t *out = json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:i,s:s,s:o,s:s?,s:s,s:o}", "sample_id",
                            (json_int_t)atoll(rvs_val(r, 0, 0)), "region_code", rvs_val(r, 0, 1), "profile",
                            rvs_val(r, 0, 2), "period_from", rvs_val(r, 0, 3), "period_to", rvs_val(r, 0, 4),
                            "rate_percent", atoi(rvs_val(r, 0, 5)), "seed", rvs_val(r, 0, 6), "algorithm",
                            rvs_val(r, 0, 7), "population", atoi(rvs_val(r, 0, 8)), "population_sha256",
                            rvs_val(r, 0, 9), "selected", json_loads(rvs_val(r, 0, 10), 0, NULL), "drawn_by",
                            rvs_val(r, 0, 11), "drawn_at", rvs_val(r, 0, 12), "tasks", tasks ? tasks : json_array());
    if (out && pop && !strcmp(pop, "true")) {
        /* the population again, so the draw can be repeated; its digest says whether it is the same */
        char like[24];
        const char *pp[] = {like, rvs_val(r, 0, 2), rvs_val(r, 0, 3), rvs_val(r, 0, 4)};
        PGresult *q = NULL;
        if (rvs_region_like(rvs_val(r, 0, 1), like) == 0 &&
            pg_query(rv->pg,
                     "SELECT id::text FROM cases WHERE region_code IN (SELECT code FROM regions WHERE code LIKE $1) AND closed_at >= $3::timestamptz "
                     "AND closed_at < $4::timestamptz AND state IN ('closed', 'archived') "
                     "AND region_effective_profile(region_code) = $2 ORDER BY id",
                     4, pp, &q) == 0) {
            size_t n = (size_t)PQntuples(q);
            const char **ids = calloc(n ? n : 1, sizeof *ids);
            json_t *arr = json_array();
            char digest[65] = "";
            for (size_t i = 0; ids && i < n; i++) {
                ids[i] = PQgetvalue(q, (int)i, 0);
                json_array_append_new(arr, json_string(ids[i]));
            }
            if (ids && rvs_population_digest(ids, n, digest) != 0) digest[0] = '\0';
            free(ids);
            json_object_set_new(out, "population_ids", arr);
            json_object_set_new(out, "population_matches", json_boolean(!strcmp(digest, rvs_val(r, 0, 9))));
            PQclear(q);
        }
    }
    char obj[48];
    snprintf(obj, sizeof obj, "lookback_sample:%s", id);
    PQclear(r);
    if (out == NULL) {
        http_reply_oom(req);
        return;
    }
    rvs_audit(rv, p, obj, json_pack("{s:s}", "via", "lookback_sample"));
    http_reply_json(req, 200, out);
}

/* Last month (Beijing time) for every region that binds a sampling profile itself. */
static void monthly_samples(revisit_t *rv)
{
    calendar_day_t today = deadline_local_day(rvs_now_ms()), first_this, first_prev;
    int y, m;
    calendar_day_to_ymd(today, &y, &m, NULL);
    if (calendar_day_from_ymd(y, m, 1, &first_this) != 0 ||
        calendar_day_from_ymd(m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1, 1, &first_prev) != 0)
        return;
    int64_t from = deadline_local_instant(first_prev, 0), to = deadline_local_instant(first_this, 0);
    PGresult *r = NULL;
    char from_s[EVENT_TIME_SIZE];
    rvs_time_str(from, from_s);
    const char *pa[] = {from_s};
    if (pg_query(rv->pg,
                 "SELECT r.code, r.policy_profile FROM regions r WHERE r.policy_profile IS NOT NULL AND NOT EXISTS "
                 "(SELECT 1 FROM revisit_samples s WHERE s.region_code = r.code AND s.period_from = $1::timestamptz) "
                 "ORDER BY r.code",
                 1, pa, &r) != 0) {
        LOGW("look-back job: regions not read", LF_STR("error", rv->pg->err));
        return;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const policy_t *p = policy_set_find(rv->policies, PQgetvalue(r, i, 1));
        if (p == NULL || !p->revisit_lookback_sampling || p->revisit_lookback_percent == POLICY_UNSET) continue;
        draw_t dr = {0};
        if (pg_begin(rv->pg) != 0) break;
        int rc = draw(rv, rv->pg, PQgetvalue(r, i, 0), from, to, NULL, NULL, &dr);
        if (rc != 0 || pg_commit(rv->pg) != 0) {
            pg_rollback(rv->pg);
            if (dr.status != 409)
                LOGW("look-back job: no sample", LF_STR("region", PQgetvalue(r, i, 0)),
                     LF_STR("error", dr.status ? dr.err : rv->pg->err));
        } else {
            LOGI("look-back sample drawn", LF_INT("sample_id", dr.sample_id), LF_STR("region", PQgetvalue(r, i, 0)),
                 LF_STR("period_from", from_s));
        }
        json_decref(dr.out);
    }
    PQclear(r);
}

/* ---- archiving ------------------------------------------------------------------------------- */

/* Due instants that could not be computed before (a calendar year loaded since). */
static void recompute_dues(revisit_t *rv)
{
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT case_id, region_code, revisit_time_text(closed_at) FROM revisit_archive_queue WHERE archive_due_at IS NULL "
                 "AND archived_at IS NULL LIMIT 100",
                 0, NULL, &r) != 0)
        return;
    for (int i = 0; i < PQntuples(r); i++) {
        char perr[256], due_s[EVENT_TIME_SIZE];
        int64_t closed, due;
        const policy_t *p = rvs_profile_for(rv, rv->pg, PQgetvalue(r, i, 1), perr, sizeof perr);
        if (p == NULL || deadline_time_parse(PQgetvalue(r, i, 2), &closed, NULL, 0) != 0 ||
            rvs_due(rv, PQgetvalue(r, i, 1), p, &p->archive_after, closed, &due, perr, sizeof perr) != 0)
            continue;
        rvs_time_str(due, due_s);
        const char *pa[] = {PQgetvalue(r, i, 0), due_s};
        if (pg_query(rv->pg,
                     "UPDATE revisit_archive_queue SET archive_due_at = $2::timestamptz, due_problem = NULL "
                     "WHERE case_id = $1::uuid",
                     2, pa, NULL) != 0)
            LOGW("archive due not updated", LF_STR("error", rv->pg->err));
    }
    PQclear(r);
}

static int archive_one(revisit_t *rv, const char *case_id, const char *final_state, const char *region)
{
    pg_t *pg = rv->pg;
    casestore_case_t cur;
    casefsm_state_t to;
    if (pg_begin(pg) != 0) return -1;
    casestore_rc_t rc = casestore_lock(pg, case_id, 0, CASEFSM_ACTION_ARCHIVE, CASEFSM_ROLE_SYSTEM, &cur, &to);
    const char *pa[] = {case_id};
    if (rc == CASESTORE_BAD_STATE || rc == CASESTORE_NOT_FOUND) {
        /* archived by someone else, or no longer closed: the queue row is done either way */
        int ok = pg_query(pg,
                          "UPDATE revisit_archive_queue SET archived_at = now(), dossier_id = coalesce((SELECT "
                          "(payload->>'dossier_id')::uuid FROM case_events WHERE case_id = $1::uuid AND "
                          "type = 'case.archived' ORDER BY id DESC LIMIT 1), gen_random_uuid()) "
                          "WHERE case_id = $1::uuid",
                          1, pa, NULL) == 0 && pg_commit(pg) == 0;
        if (!ok) pg_rollback(pg);
        return 0;
    }
    if (rc != CASESTORE_OK) {
        pg_rollback(pg);
        return -1;
    }
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT (SELECT count(*) FROM case_events WHERE case_id = $1::uuid) + "
                 "(SELECT count(*) FROM case_attachments WHERE case_id = $1::uuid)",
                 1, pa, &r) != 0) {
        pg_rollback(pg);
        return -1;
    }
    long long docs = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    char perr[256];
    const policy_t *p = rvs_profile_for(rv, pg, region, perr, sizeof perr);
    event_t ev;
    char err[256], ver[16];
    if (event_init(&ev, EVENT_CASE_ARCHIVED) != 0 || event_uuid_new(ev.payload.case_archived.dossier_id) != 0) {
        pg_rollback(pg);
        return -1;
    }
    rvs_actor(&ev, NULL);
    snprintf(ev.case_id, sizeof ev.case_id, "%s", cur.id);
    event_case_archived_t *a = &ev.payload.case_archived;
    a->final_state = !strcmp(final_state, "terminated") ? EVENT_FINAL_TERMINATED : EVENT_FINAL_CLOSED;
    a->document_count = docs < 1 ? 1 : docs > 10000 ? 10000 : docs;
    a->retention_years = p ? p->archive_retention_years : 10;
    snprintf(ver, sizeof ver, "%d", cur.version + 1);
    const char *pu[] = {cur.id, ver}, *pq[] = {cur.id, a->dossier_id};
    if (pg_query(pg, "UPDATE cases SET state = 'archived', version = $2::int WHERE id = $1::uuid", 2, pu, NULL) != 0 ||
        casestore_record(pg, &ev, cur.state, CASEFSM_STATE_ARCHIVED, cur.version + 1, err, sizeof err) != 0 ||
        pg_query(pg, "UPDATE revisit_archive_queue SET archived_at = now(), dossier_id = $2::uuid WHERE case_id = $1::uuid",
                 2, pq, NULL) != 0 ||
        pg_commit(pg) != 0) {
        LOGW("archive failed", LF_STR("case_id", case_id), LF_STR("error", pg->err));
        pg_rollback(pg);
        return -1;
    }
    metric_inc(rv->m_archived);
    return 1;
}

int rvs_archive_due(revisit_t *rv, int max)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", max);
    const char *pa[] = {lim};
    PGresult *r = NULL;
    if (pg_query(rv->pg,
                 "SELECT q.case_id, q.final_state, q.region_code FROM revisit_archive_queue q "
                 "WHERE q.archived_at IS NULL AND q.archive_due_at <= now() AND NOT EXISTS (SELECT 1 FROM "
                 "revisit_tasks t WHERE t.case_id = q.case_id AND t.state = 'open') "
                 "ORDER BY q.archive_due_at LIMIT $1::int",
                 1, pa, &r) != 0)
        return -1;
    int n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int rc = archive_one(rv, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        if (rc < 0 && rv->pg->last_class == PG_RETRY) break;
        if (rc > 0) n++;
    }
    PQclear(r);
    return n;
}

void rvs_archive_run(http_req_t *req, void *arg)
{
    revisit_t *rv = arg;
    recompute_dues(rv);
    int n = rvs_archive_due(rv, 1000);
    if (n < 0) {
        rvs_reply_db_error(req, rv->pg, "archive");
        return;
    }
    http_reply_json(req, 200, json_pack("{s:i}", "archived", n));
}

void rvs_jobs_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    revisit_t *rv = arg;
    if (daemon_is_draining(rv->d) || pg_ensure(rv->pg) != 0) return;
    if (rv->cfg->lookback_job) monthly_samples(rv);
    if (rv->cfg->archive_job) {
        recompute_dues(rv);
        int n = rvs_archive_due(rv, 500);
        if (n > 0) LOGI("archived", LF_INT("cases", n));
    }
}
