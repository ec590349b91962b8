/*
 * api.c — the watcher's HTTP API: the working-day calendar at run time (operators), the clocks
 * of a case and their pauses, supervision notices with their printable form and replies, a
 * unit's supervision record (notices, cards), notices issued by hand, the monthly review, and
 * the flags of deadlines that could not be computed.
 *
 * Every input is validated before anything is written, and a refusal is a 4xx JSON error that
 * names the field. Every change is one transaction with its audit row (calendar loads, pauses,
 * replies, notices issued by hand); schedule changes reach Redis only after it commits.
 * Scope: a unit sees its own notices and cards; centres and supervisors their region and the
 * regions below it; leaders theirs, or everything when they have no region.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "calsync.h"
#include "deadline.h"
#include "log.h"
#include "reqval.h"
#include "watcher.h"

#define SUPERVISORS (AUTH_ROLE_CENTRE | AUTH_ROLE_SUPERVISOR | AUTH_ROLE_LEADER)

static void reply_db(http_req_t *req, pg_t *pg, const char *what)
{
    LOGE("database error", LF_STR("req", http_req_id(req)), LF_STR("during", what), LF_STR("sqlstate", pg->sqlstate),
         LF_STR("error", pg->err));
    if (pg->last_class == PG_RETRY || PQstatus(pg->conn) != CONNECTION_OK) {
        http_reply_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "unavailable", NULL, "the database is busy or unreachable; retry");
    } else {
        http_reply_error(req, 500, "internal", NULL, "%s failed (request %s)", what, http_req_id(req));
    }
}

static bool is_id(const char *s, long long *out)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n) return false;
    *out = strtoll(s, NULL, 10);
    return *out > 0;
}

/* detail is stolen. */
static int audit(pg_t *pg, const http_principal_t *p, const char *action, const char *object, json_t *detail)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%lld", p ? p->id : 0);
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : strdup("{}");
    json_decref(detail);
    const char *pa[] = {p && p->id > 0 ? pid : NULL, action, object, d};
    int rc = d ? pg_query(pg, "INSERT INTO audit_log (principal_id, action, object, detail) VALUES ($1::bigint, $2, $3, "
                              "$4::jsonb)", 4, pa, NULL) : -1;
    free(d);
    return rc;
}

/* May p see a unit of region `region`? */
static bool may_see_unit(const http_principal_t *p, long long unit_id, const char *region)
{
    if (p->role == AUTH_ROLE_UNIT) return p->unit_id == unit_id;
    if (p->role == AUTH_ROLE_LEADER && p->region_code[0] == '\0') return true;
    return p->region_code[0] && auth_region_covers(p->region_code, region);
}

/* ---- calendar ------------------------------------------------------------------------------ */

static int year_param(http_req_t *req, int *year)
{
    const char *s = http_req_param(req, 0);
    if (s == NULL || strlen(s) != 4 || strspn(s, "0123456789") != 4 || atoi(s) < CALENDAR_YEAR_MIN ||
        atoi(s) > CALENDAR_YEAR_MAX) {
        http_reply_error(req, 400, "invalid_value", "year", "year: a year from %d to %d in the path, e.g. /v1/calendar/2027",
                         CALENDAR_YEAR_MIN, CALENDAR_YEAR_MAX);
        return -1;
    }
    *year = atoi(s);
    return 0;
}

static void h_calendar_get(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    int year;
    if (year_param(req, &year) != 0) return;
    json_t *docs = NULL;
    char err[512];
    if (calsync_documents(w->pg, year, &docs, err, sizeof err) != 0) {
        reply_db(req, w->pg, "calendar read");
        return;
    }
    bool national = false;
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) national |= json_is_null(json_object_get(d, "region"));
    if (!national) {
        json_decref(docs);
        http_reply_error(req, 404, "not_found", "year",
                         "no working-day calendar is loaded for %d: deadlines that need it are flagged, never guessed; "
                         "PUT the State Council's arrangement here", year);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:i,s:b,s:o}", "year", year, "loaded", 1, "documents", docs));
}

static void h_calendar_put(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    int year;
    if (year_param(req, &year) != 0) return;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    char *txt = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (txt == NULL) {
        http_reply_oom(req);
        return;
    }
    calsync_actor_t who = {p->id, "api", http_req_id(req)};
    calsync_result_t res;
    bool input = false;
    char field[CALSYNC_FIELD_SIZE], err[1024];
    int rc = calsync_put(w->pg, "body", txt, year, &who, &res, &input, field, err, sizeof err);
    free(txt);
    if (rc != 0) {
        if (input) http_reply_error(req, 400, "invalid_value", field[0] ? field : NULL, "%s", err);
        else reply_db(req, w->pg, "calendar load");
        return;
    }
    char rerr[512];
    if (watcher_calendar_reload(w, rerr, sizeof rerr) != 0)
        LOGW("calendar stored but not reloaded here; the periodic refresh retries", LF_STR("error", rerr));
    LOGI("calendar loaded by API", LF_INT("year", res.year), LF_STR("region", res.region), LF_INT("days", res.days_after),
         LF_INT("principal", p->id), LF_STR("req", http_req_id(req)));
    watcher_flags_retry(w);
    http_reply_json(req, res.year_created ? 201 : 200,
                    json_pack("{s:i,s:s?,s:i,s:i,s:b,s:b,s:b}", "year", res.year, "region", res.region[0] ? res.region : NULL,
                              "days_before", res.days_before, "days_after", res.days_after, "year_created", res.year_created,
                              "changed", res.changed, "in_force", calendar_has_year(w->cal, res.year)));
}

/* ---- a case's clocks ------------------------------------------------------------------------- */

typedef struct {
    char id[37], region[16], credit[24], state[16];
    long long lead_unit_id;
} case_t;

/* Reads (optionally locks) the case and checks p may see it; replies 404 otherwise. */
static int case_for(http_req_t *req, pg_t *pg, const http_principal_t *p, bool lock, case_t *c)
{
    const char *id = http_req_param(req, 0);
    if (!event_uuid_valid(id)) {
        http_reply_error(req, 404, "not_found", NULL, "no such case");
        return -1;
    }
    const char *pa[] = {id};
    PGresult *r = NULL;
    if (pg_query(pg, lock ? "SELECT region_code, coalesce(credit_code, ''), coalesce(lead_unit_id, 0), state FROM cases "
                            "WHERE id = $1::uuid FOR UPDATE"
                          : "SELECT region_code, coalesce(credit_code, ''), coalesce(lead_unit_id, 0), state FROM cases "
                            "WHERE id = $1::uuid",
                 1, pa, &r) != 0) {
        reply_db(req, pg, "case read");
        return -1;
    }
    if (PQntuples(r) != 1 || !auth_may_see_case(p, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                                                strtoll(PQgetvalue(r, 0, 2), NULL, 10))) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such case");
        return -1;
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->region, sizeof c->region, "%s", PQgetvalue(r, 0, 0));
    snprintf(c->credit, sizeof c->credit, "%s", PQgetvalue(r, 0, 1));
    c->lead_unit_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    snprintf(c->state, sizeof c->state, "%s", PQgetvalue(r, 0, 3));
    PQclear(r);
    return 0;
}

static void h_case_timers(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    case_t c;
    if (case_for(req, w->pg, p, false, &c) != 0) return;
    const char *pa[] = {c.id};
    PGresult *rt = NULL, *rp = NULL, *rf = NULL;
    if (pg_query(w->pg, "SELECT id, kind, version, state, " PG_RFC3339("due_at") ", coalesce(" PG_RFC3339("warn_at") ", ''), "
                        "coalesce(" PG_RFC3339("warned_at") ", ''), coalesce(" PG_RFC3339("fired_at") ", ''), "
                        "coalesce(lateness_ms, -1), coalesce(unit_id, 0), clock_unit, paused_at IS NOT NULL, "
                        PG_RFC3339("armed_at") " FROM timers WHERE case_id = $1::uuid ORDER BY id",
                 1, pa, &rt) != 0 ||
        pg_query(w->pg, "SELECT id, timer_kind, reason, " PG_RFC3339("started_at") ", coalesce(" PG_RFC3339("ended_at") ", ''), "
                        PG_RFC3339("due_before") ", coalesce(" PG_RFC3339("due_after") ", '') FROM clock_pauses "
                        "WHERE case_id = $1::uuid ORDER BY id", 1, pa, &rp) != 0 ||
        pg_query(w->pg, "SELECT id, timer_kind, problem, coalesce(year, 0), detail, " PG_RFC3339("raised_at") ", "
                        "resolved_at IS NOT NULL FROM deadline_flags WHERE case_id = $1::uuid ORDER BY id", 1, pa, &rf) != 0) {
        PQclear(rt);
        PQclear(rp);
        reply_db(req, w->pg, "timers read");
        return;
    }
    json_t *timers = json_array(), *pauses = json_array(), *flags = json_array();
    for (int i = 0; i < PQntuples(rt); i++) {
        json_t *t = json_pack("{s:I,s:s,s:i,s:s,s:s,s:s}", "id", (json_int_t)strtoll(PQgetvalue(rt, i, 0), NULL, 10), "kind",
                              PQgetvalue(rt, i, 1), "version", atoi(PQgetvalue(rt, i, 2)), "state", PQgetvalue(rt, i, 3),
                              "due_at", PQgetvalue(rt, i, 4), "clock_unit", PQgetvalue(rt, i, 10));
        if (PQgetvalue(rt, i, 5)[0]) json_object_set_new(t, "warn_at", json_string(PQgetvalue(rt, i, 5)));
        if (PQgetvalue(rt, i, 6)[0]) json_object_set_new(t, "warned_at", json_string(PQgetvalue(rt, i, 6)));
        if (PQgetvalue(rt, i, 7)[0]) json_object_set_new(t, "fired_at", json_string(PQgetvalue(rt, i, 7)));
        long long late = strtoll(PQgetvalue(rt, i, 8), NULL, 10);
        if (late >= 0) json_object_set_new(t, "lateness_ms", json_integer(late));
        long long unit = strtoll(PQgetvalue(rt, i, 9), NULL, 10);
        if (unit) json_object_set_new(t, "unit_id", json_integer(unit));
        if (PQgetvalue(rt, i, 11)[0] == 't') json_object_set_new(t, "paused", json_true());
        json_object_set_new(t, "armed_at", json_string(PQgetvalue(rt, i, 12)));
        json_array_append_new(timers, t);
    }
    for (int i = 0; i < PQntuples(rp); i++) {
        json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)strtoll(PQgetvalue(rp, i, 0), NULL, 10), "kind",
                              PQgetvalue(rp, i, 1), "reason", PQgetvalue(rp, i, 2), "started_at", PQgetvalue(rp, i, 3),
                              "due_before", PQgetvalue(rp, i, 5));
        if (PQgetvalue(rp, i, 4)[0]) json_object_set_new(o, "ended_at", json_string(PQgetvalue(rp, i, 4)));
        if (PQgetvalue(rp, i, 6)[0]) json_object_set_new(o, "due_after", json_string(PQgetvalue(rp, i, 6)));
        json_array_append_new(pauses, o);
    }
    for (int i = 0; i < PQntuples(rf); i++)
        json_array_append_new(flags, json_pack("{s:I,s:s,s:s,s:i,s:s,s:s,s:b}", "id",
                                               (json_int_t)strtoll(PQgetvalue(rf, i, 0), NULL, 10), "kind",
                                               PQgetvalue(rf, i, 1), "problem", PQgetvalue(rf, i, 2), "year",
                                               atoi(PQgetvalue(rf, i, 3)), "detail", PQgetvalue(rf, i, 4), "raised_at",
                                               PQgetvalue(rf, i, 5), "resolved", PQgetvalue(rf, i, 6)[0] == 't'));
    PQclear(rt);
    PQclear(rp);
    PQclear(rf);
    char obj[64];
    snprintf(obj, sizeof obj, "case:%s", c.id);
    if (audit(w->pg, p, "case.read", obj, json_pack("{s:s,s:s}", "what", "timers", "req", http_req_id(req))) != 0)
        LOGW("audit write failed", LF_STR("error", w->pg->err));
    http_reply_json(req, 200, json_pack("{s:s,s:s,s:o,s:o,s:o}", "case_id", c.id, "state", c.state, "timers", timers,
                                        "pauses", pauses, "flags", flags));
}

/* ---- pauses ------------------------------------------------------------------------------------ */

static const char *const pause_reason_values[] = {"awaiting_materials", "enterprise_request", "third_party_procedure",
                                                  "force_majeure"};
static rv_field_t pause_fields[] = {
    {.name = "reason", .type = RV_STR, .required = true, .min = 1, .max = 32, .single_line = true,
     .values = pause_reason_values, .nvalues = 4},
    {.name = "note", .type = RV_STR, .min = 1, .max = 500},
};

/* The handling clock that runs: redo_by while one is armed, else resolve_by. */
static int handling_clock(pg_t *pg, const char *case_id, long long *id, int *version, timer_kind_t *kind,
                          int64_t *due_ms, long long *unit_id, policy_unit_t *unit, bool *paused)
{
    const char *pa[] = {case_id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT id, version, kind, (extract(epoch FROM due_at) * 1000)::bigint, coalesce(unit_id, 0), "
                     "clock_unit, paused_at IS NOT NULL FROM timers WHERE case_id = $1::uuid AND state = 'armed' AND "
                     "kind IN ('redo_by', 'resolve_by') ORDER BY kind = 'redo_by' DESC LIMIT 1 FOR UPDATE",
                 1, pa, &r) != 0)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *version = atoi(PQgetvalue(r, 0, 1));
        if (timer_kind_from_str(PQgetvalue(r, 0, 2), kind) != 0) *kind = TIMER_RESOLVE_BY;
        *due_ms = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        *unit_id = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
        *unit = timers_clock_unit_parse(PQgetvalue(r, 0, 5));
        *paused = PQgetvalue(r, 0, 6)[0] == 't';
    }
    PQclear(r);
    return found ? 0 : 1;
}

static void h_pause_start(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, pause_fields, JS_ARRAY_LEN(pause_fields), &e) != 0) {
        json_decref(body);
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        return;
    }
    const char *reason = rv_str(body, "reason", ""), *note = rv_str(body, "note", NULL);
    policy_pause_reason_t pr;
    if (policy_pause_reason_from_str(reason, &pr) != 0) pr = POLICY_PAUSE_AWAITING_MATERIALS;
    pg_t *pg = w->pg;
    size_t pend_add = w->n_add, pend_rm = w->n_rm;
    case_t c;
    if (pg_begin(pg) != 0) {
        json_decref(body);
        reply_db(req, pg, "pause");
        return;
    }
    if (case_for(req, pg, p, true, &c) != 0) goto rollback;
    if (p->role == AUTH_ROLE_UNIT && c.lead_unit_id != p->unit_id) { /* a co-handler does not own the clock */
        http_reply_error(req, 403, "forbidden", NULL, "only the lead unit or the centre may pause the handling clock");
        goto rollback;
    }
    char perr[256];
    const policy_t *prof = watcher_profile(w, c.region, perr, sizeof perr);
    if (prof == NULL) {
        http_reply_error(req, 422, "no_profile", NULL, "%s", perr);
        goto rollback;
    }
    if (!policy_pause_allowed(prof, pr)) {
        char allowed[200] = "";
        for (int i = 0; i < POLICY_PAUSE_COUNT; i++)
            if (prof->pause_allowed && (prof->pause_reasons & (1u << i)))
                snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", allowed[0] ? ", " : "",
                         policy_pause_reason_to_str((policy_pause_reason_t)i));
        http_reply_error(req, 422, "pause_not_allowed", "reason",
                         "reason: profile '%s' does not allow pausing the clock for %s (%s%s)", prof->name, reason,
                         allowed[0] ? "allowed: " : "the profile allows no pause", allowed);
        goto rollback;
    }
    long long tid, unit;
    int ver;
    timer_kind_t kind;
    int64_t due;
    policy_unit_t cu;
    bool paused;
    int rc = handling_clock(pg, c.id, &tid, &ver, &kind, &due, &unit, &cu, &paused);
    if (rc < 0) {
        reply_db(req, pg, "pause");
        goto rollback;
    }
    if (rc == 1) {
        http_reply_error(req, 409, "no_clock", NULL, "no handling clock is running on this case (state %s)", c.state);
        goto rollback;
    }
    if (paused) {
        http_reply_error(req, 409, "already_paused", NULL, "the %s clock is already paused", timer_kind_to_str(kind));
        goto rollback;
    }
    int64_t now = watcher_now_ms();
    if (now > due) {
        char ds[40];
        deadline_time_format(due, ds, sizeof ds);
        http_reply_error(req, 409, "deadline_passed", NULL, "the %s deadline (%s) has passed; a clock cannot be paused after it",
                         timer_kind_to_str(kind), ds);
        goto rollback;
    }
    char pid[32], ds[40], ids[32];
    snprintf(pid, sizeof pid, "%lld", p->id);
    snprintf(ids, sizeof ids, "%lld", tid);
    deadline_time_format(due, ds, sizeof ds);
    const char *pi[] = {c.id, timer_kind_to_str(kind), reason, note, pid, ds};
    PGresult *r = NULL;
    const char *pt[] = {ids};
    if (pg_query(pg, "INSERT INTO clock_pauses (case_id, timer_kind, reason, note, started_by, due_before) VALUES "
                     "($1::uuid, $2, $3, $4, $5::bigint, $6::timestamptz) RETURNING id, " PG_RFC3339("started_at"),
                 6, pi, &r) != 0 ||
        pg_query(pg, "UPDATE timers SET paused_at = now() WHERE id = $1::bigint", 1, pt, NULL) != 0) {
        PQclear(r);
        reply_db(req, pg, "pause");
        goto rollback;
    }
    long long pause_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    char started[40];
    snprintf(started, sizeof started, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    char obj[64];
    snprintf(obj, sizeof obj, "case:%s", c.id);
    if (audit(pg, p, "clock.pause", obj, json_pack("{s:I,s:s,s:s,s:s,s:s}", "pause_id", (json_int_t)pause_id, "kind",
                                                  timer_kind_to_str(kind), "reason", reason, "due_before", ds, "req",
                                                  http_req_id(req))) != 0 ||
        pg_commit(pg) != 0) {
        reply_db(req, pg, "pause");
        goto rollback;
    }
    timers_member_t m = {tid, ver};
    watcher_sched_later(w, NULL, &m);
    watcher_flush(w);
    LOGI("clock paused", LF_STR("case_id", c.id), LF_STR("kind", timer_kind_to_str(kind)), LF_STR("reason", reason));
    http_reply_json(req, 201, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "pause_id", (json_int_t)pause_id, "case_id", c.id,
                                        "kind", timer_kind_to_str(kind), "reason", reason, "started_at", started,
                                        "due_before", ds));
    json_decref(body); /* reason and note point into it */
    return;
rollback:
    pg_rollback(pg);
    w->n_add = pend_add; /* nothing of the rolled-back work may reach Redis */
    w->n_rm = pend_rm;
    json_decref(body);
}

static void h_pause_end(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    long long pause_id;
    if (!is_id(http_req_param(req, 1), &pause_id)) {
        http_reply_error(req, 404, "not_found", NULL, "no such pause");
        return;
    }
    size_t blen = 0;
    http_req_body(req, &blen);
    if (blen > 0) {
        json_t *body = http_req_json(req);
        if (body == NULL) return;
        size_t n = json_object_size(body);
        char k[128] = "";
        if (n) snprintf(k, sizeof k, "%s", json_object_iter_key(json_object_iter(body)));
        json_decref(body);
        if (n) {
            http_reply_error(req, 400, "unknown_field", k, "%s: this request takes no fields", k);
            return;
        }
    }
    pg_t *pg = w->pg;
    size_t pend_add = w->n_add, pend_rm = w->n_rm;
    case_t c;
    if (pg_begin(pg) != 0) {
        reply_db(req, pg, "pause end");
        return;
    }
    if (case_for(req, pg, p, true, &c) != 0) goto rollback;
    if (p->role == AUTH_ROLE_UNIT && c.lead_unit_id != p->unit_id) {
        http_reply_error(req, 403, "forbidden", NULL, "only the lead unit or the centre may resume the handling clock");
        goto rollback;
    }
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", pause_id);
    const char *pp[] = {ids, c.id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT timer_kind, (extract(epoch FROM started_at) * 1000)::bigint, ended_at IS NOT NULL FROM "
                     "clock_pauses WHERE id = $1::bigint AND case_id = $2::uuid FOR UPDATE", 2, pp, &r) != 0) {
        reply_db(req, pg, "pause end");
        goto rollback;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no pause %lld on this case", pause_id);
        goto rollback;
    }
    if (PQgetvalue(r, 0, 2)[0] == 't') {
        PQclear(r);
        http_reply_error(req, 409, "already_ended", NULL, "pause %lld has already ended", pause_id);
        goto rollback;
    }
    int64_t started = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    long long tid, unit;
    int ver;
    timer_kind_t kind;
    int64_t due;
    policy_unit_t cu;
    bool paused;
    int rc = handling_clock(pg, c.id, &tid, &ver, &kind, &due, &unit, &cu, &paused);
    if (rc != 0) {
        if (rc < 0) reply_db(req, pg, "pause end");
        else http_reply_error(req, 409, "no_clock", NULL, "the paused clock is no longer armed (state %s)", c.state);
        goto rollback;
    }
    int64_t now = watcher_now_ms();
    if (now <= started) now = started + 1;
    deadline_pause_t dp = {started, now};
    int64_t new_due;
    char err[512];
    if (deadline_credit_pause(w->cal, c.region, cu, due, &dp, &new_due, err, sizeof err) != 0) {
        int year = calendar_error_year(err);
        pg_rollback(pg);
        if (year) {
            metric_inc(w->m_cal_missing);
            LOGE("pause cannot end: the credited deadline needs a year with no calendar", LF_STR("case_id", c.id),
                 LF_INT("year", year));
            http_reply_error(req, 503, "calendar_missing", NULL, "%s", err);
        } else {
            http_reply_error(req, 409, "uncomputable", NULL, "%s", err);
        }
        return;
    }
    char perr[256];
    const policy_t *prof = watcher_profile(w, c.region, perr, sizeof perr);
    warm_t a = {.case_id = c.id, .kind = kind, .due_ms = new_due, .unit_id = unit, .unit = cu};
    if (prof && watcher_warn(w, pg, c.id, kind, c.region, prof, cu, now, new_due, &a.warn_ms) != 0) {
        reply_db(req, pg, "pause end");
        goto rollback;
    }
    if (watcher_arm(w, pg, &a, NULL, NULL, err, sizeof err) != 0) {
        reply_db(req, pg, "pause end");
        goto rollback;
    }
    char pid[32], before[40], after[40];
    snprintf(pid, sizeof pid, "%lld", p->id);
    deadline_time_format(due, before, sizeof before);
    deadline_time_format(new_due, after, sizeof after);
    const char *pu[] = {ids, pid, after};
    char obj[64];
    snprintf(obj, sizeof obj, "case:%s", c.id);
    if (pg_query(pg, "UPDATE clock_pauses SET ended_at = now(), ended_by = $2::bigint, due_after = $3::timestamptz "
                     "WHERE id = $1::bigint", 3, pu, NULL) != 0 ||
        audit(pg, p, "clock.resume", obj, json_pack("{s:I,s:s,s:s,s:s,s:s}", "pause_id", (json_int_t)pause_id, "kind",
                                                   timer_kind_to_str(kind), "due_before", before, "due_after", after,
                                                   "req", http_req_id(req))) != 0 ||
        pg_commit(pg) != 0) {
        reply_db(req, pg, "pause end");
        goto rollback;
    }
    watcher_flush(w);
    LOGI("clock resumed, paused time credited", LF_STR("case_id", c.id), LF_STR("kind", timer_kind_to_str(kind)),
         LF_STR("due_before", before), LF_STR("due_after", after));
    http_reply_json(req, 200, json_pack("{s:I,s:s,s:s,s:s,s:s}", "pause_id", (json_int_t)pause_id, "case_id", c.id, "kind",
                                        timer_kind_to_str(kind), "due_before", before, "due_after", after));
    return;
rollback:
    pg_rollback(pg);
    w->n_add = pend_add; /* nothing of the rolled-back work may reach Redis */
    w->n_rm = pend_rm;
}

/* ---- supervision notices ------------------------------------------------------------------------ */

#define NOTICE_COLS                                                                                             \
    "n.id, n.notice_no, n.level, n.unit_id, u.name, u.region_code, coalesce(n.case_id::text, ''), "             \
    "coalesce(c.case_no, ''), n.reason_code, n.reason_text, " PG_RFC3339("n.issued_at") ", "                    \
    PG_RFC3339("n.reply_due_at") ", coalesce(" PG_RFC3339("n.replied_at") ", ''), coalesce(n.reply_text, ''), " \
    "n.in_bulletin, coalesce(iu.name, ''), coalesce(n.issued_by, 0), "                                          \
    "coalesce((SELECT state FROM timers WHERE notice_id = n.id ORDER BY version DESC LIMIT 1), ''), "          \
    "CASE WHEN cardinality(n.contact_ids) = 0 THEN '' ELSE coalesce((SELECT json_agg(json_build_object("       \
    "'contact_record_id', e.payload->>'contact_record_id', 'contacted_at', e.payload->>'contacted_at', "        \
    "'channel', e.payload->>'channel') ORDER BY e.occurred_at, e.event_id) FROM case_events e "                 \
    "WHERE e.case_id = n.case_id AND e.type = 'case.contact_recorded' "                                         \
    "AND e.payload->>'contact_record_id' = ANY (n.contact_ids::text[]))::text, '[]') END, "                     \
    "coalesce(n.source_event_id::text, '')"
#define NOTICE_FROM                                                                                        \
    " FROM supervision_notices n JOIN units u ON u.id = n.unit_id LEFT JOIN cases c ON c.id = n.case_id " \
    "LEFT JOIN units iu ON iu.id = n.issuer_unit_id"

static json_t *notice_json(PGresult *r, int i)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s}", "notice_id", PQgetvalue(r, i, 0),
                          "notice_no", PQgetvalue(r, i, 1), "level", atoi(PQgetvalue(r, i, 2)), "unit_id",
                          (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10), "unit_name", PQgetvalue(r, i, 4),
                          "unit_region_code", PQgetvalue(r, i, 5), "reason_code", PQgetvalue(r, i, 8), "reason_text",
                          PQgetvalue(r, i, 9), "issued_at", PQgetvalue(r, i, 10), "reply_due_at", PQgetvalue(r, i, 11),
                          "in_bulletin", PQgetvalue(r, i, 14)[0] == 't', "reply_clock", PQgetvalue(r, i, 17));
    if (PQgetvalue(r, i, 6)[0]) {
        json_object_set_new(o, "case_id", json_string(PQgetvalue(r, i, 6)));
        json_object_set_new(o, "case_no", json_string(PQgetvalue(r, i, 7)));
    }
    if (PQgetvalue(r, i, 12)[0]) {
        json_object_set_new(o, "replied_at", json_string(PQgetvalue(r, i, 12)));
        json_object_set_new(o, "reply_text", json_string(PQgetvalue(r, i, 13)));
    }
    if (PQgetvalue(r, i, 15)[0]) json_object_set_new(o, "issuer_name", json_string(PQgetvalue(r, i, 15)));
    long long by = strtoll(PQgetvalue(r, i, 16), NULL, 10);
    json_object_set_new(o, "issued_by", by ? json_integer(by) : json_string("deadline-watcher"));
    if (PQgetvalue(r, i, 18)[0]) { /* a claimed contact that did not happen: the contacts in question */
        json_t *c = json_loads(PQgetvalue(r, i, 18), 0, NULL);
        json_object_set_new(o, "disputed_contacts", c ? c : json_array());
    }
    if (PQgetvalue(r, i, 19)[0]) json_object_set_new(o, "source_event_id", json_string(PQgetvalue(r, i, 19)));
    return o;
}

/* Reads the notice {id} p may see; replies 404 otherwise. New reference. */
static json_t *notice_for(http_req_t *req, watcher_t *w, const http_principal_t *p)
{
    const char *id = http_req_param(req, 0);
    if (!event_uuid_valid(id)) {
        http_reply_error(req, 404, "not_found", NULL, "no such supervision notice");
        return NULL;
    }
    const char *pa[] = {id};
    PGresult *r = NULL;
    if (pg_query(w->pg, "SELECT " NOTICE_COLS NOTICE_FROM " WHERE n.id = $1::uuid", 1, pa, &r) != 0) {
        reply_db(req, w->pg, "notice read");
        return NULL;
    }
    if (PQntuples(r) != 1 || !may_see_unit(p, strtoll(PQgetvalue(r, 0, 3), NULL, 10), PQgetvalue(r, 0, 5))) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such supervision notice");
        return NULL;
    }
    json_t *o = notice_json(r, 0);
    PQclear(r);
    return o;
}

static void h_notice_get(http_req_t *req, void *arg)
{
    json_t *o = notice_for(req, arg, http_req_principal(req));
    if (o) http_reply_json(req, 200, o);
}

static void h_notice_html(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    json_t *o = notice_for(req, w, http_req_principal(req));
    if (o == NULL) return;
    char perr[128];
    const policy_t *p = watcher_profile(w, json_string_value(json_object_get(o, "unit_region_code")), perr, sizeof perr);
    if (p) json_object_set_new(o, "mechanism", json_string(p->title));
    char *html = watcher_notice_html(o);
    json_decref(o);
    if (html == NULL) {
        http_reply_oom(req);
        return;
    }
    http_reply_raw(req, 200, "text/html; charset=utf-8", html, strlen(html));
    free(html);
}

static rv_field_t reply_fields[] = {
    {.name = "reply_text", .type = RV_STR, .required = true, .min = 1, .max = 2000},
};

static void h_notice_reply(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, reply_fields, JS_ARRAY_LEN(reply_fields), &e) != 0) {
        json_decref(body);
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        return;
    }
    if (!event_uuid_valid(id)) {
        json_decref(body);
        http_reply_error(req, 404, "not_found", NULL, "no such supervision notice");
        return;
    }
    pg_t *pg = w->pg;
    size_t pend_add = w->n_add, pend_rm = w->n_rm;
    const char *pa[] = {id};
    PGresult *r = NULL;
    if (pg_begin(pg) != 0 ||
        pg_query(pg, "SELECT n.unit_id, n.replied_at IS NOT NULL, u.region_code, n.reply_due_at < now() FROM supervision_notices n "
                     "JOIN units u ON u.id = n.unit_id WHERE n.id = $1::uuid FOR UPDATE OF n", 1, pa, &r) != 0) {
        reply_db(req, pg, "notice reply");
        goto rollback;
    }
    if (PQntuples(r) != 1 || strtoll(PQgetvalue(r, 0, 0), NULL, 10) != p->unit_id) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such supervision notice for your unit");
        goto rollback;
    }
    bool replied = PQgetvalue(r, 0, 1)[0] == 't', late = PQgetvalue(r, 0, 3)[0] == 't';
    PQclear(r);
    r = NULL;
    if (replied) {
        http_reply_error(req, 409, "already_replied", NULL, "this notice has been replied to already");
        goto rollback;
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%lld", p->id);
    const char *pu[] = {id, rv_str(body, "reply_text", ""), pid};
    if (pg_query(pg, "UPDATE supervision_notices SET replied_at = now(), reply_text = $2, replied_by = $3::bigint "
                     "WHERE id = $1::uuid", 3, pu, NULL) != 0 ||
        pg_query(pg, "UPDATE timers SET state = 'cancelled' WHERE notice_id = $1::uuid AND state = 'armed' "
                     "RETURNING id, version", 1, pa, &r) != 0) {
        reply_db(req, pg, "notice reply");
        goto rollback;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        timers_member_t m = {strtoll(PQgetvalue(r, i, 0), NULL, 10), atoi(PQgetvalue(r, i, 1))};
        watcher_sched_later(w, NULL, &m);
    }
    PQclear(r);
    r = NULL;
    /* A reply does not break a unit's run of cards: it answers for the miss that caused the
     * notice. Only an on-time handling report does (arm.c). A late reply has already been
     * carded by its breach. */
    char obj[64];
    snprintf(obj, sizeof obj, "supervision:%s", id);
    if (audit(pg, p, "supervision.reply", obj, json_pack("{s:b,s:s}", "late", late, "req", http_req_id(req))) != 0 ||
        pg_commit(pg) != 0) {
        reply_db(req, pg, "notice reply");
        goto rollback;
    }
    watcher_flush(w);
    json_decref(body);
    json_t *o = notice_for(req, w, p);
    if (o) http_reply_json(req, 200, o);
    return;
rollback:
    pg_rollback(pg);
    w->n_add = pend_add; /* nothing of the rolled-back work may reach Redis */
    w->n_rm = pend_rm;
    json_decref(body);
}

/* ---- a unit's supervision ----------------------------------------------------------------------- */

/* Reads unit {id}; replies 404 unless p may see it. */
/* heads (may be NULL) receives the principal head's and the deputy head's names ("" unknown). */
static int unit_for(http_req_t *req, watcher_t *w, const http_principal_t *p, long long *id, char name[256],
                    char region[16], char (*heads)[128])
{
    if (!is_id(http_req_param(req, 0), id)) {
        http_reply_error(req, 404, "not_found", NULL, "no such unit");
        return -1;
    }
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", *id);
    const char *pa[] = {ids};
    PGresult *r = NULL;
    if (pg_query(w->pg, "SELECT name, region_code, coalesce(head_name, ''), coalesce(deputy_name, '') FROM units "
                        "WHERE id = $1::bigint", 1, pa, &r) != 0) {
        reply_db(req, w->pg, "unit read");
        return -1;
    }
    if (PQntuples(r) != 1 || !may_see_unit(p, *id, PQgetvalue(r, 0, 1))) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", NULL, "no such unit in your region");
        return -1;
    }
    snprintf(name, 256, "%s", PQgetvalue(r, 0, 0));
    snprintf(region, 16, "%s", PQgetvalue(r, 0, 1));
    if (heads) {
        snprintf(heads[0], 128, "%s", PQgetvalue(r, 0, 2));
        snprintf(heads[1], 128, "%s", PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return 0;
}

static void h_unit_supervision(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    long long id;
    char name[256], region[16], ids[32], heads[2][128];
    if (unit_for(req, w, p, &id, name, region, heads) != 0) return;
    snprintf(ids, sizeof ids, "%lld", id);
    const char *pa[] = {ids};
    PGresult *rn = NULL, *rc = NULL, *rr = NULL;
    if (pg_query(w->pg, "SELECT " NOTICE_COLS NOTICE_FROM " WHERE n.unit_id = $1::bigint ORDER BY n.issued_at DESC, n.notice_no DESC LIMIT 500",
                 1, pa, &rn) != 0 ||
        pg_query(w->pg, "SELECT id, colour, consecutive, interview_of, reason_code, reason_text, coalesce(case_id::text, ''), "
                        PG_RFC3339("issued_at") " FROM unit_cards WHERE unit_id = $1::bigint ORDER BY issued_at DESC, "
                        "colour = 'red' DESC LIMIT 500", 1, pa, &rc) != 0 ||
        pg_query(w->pg, "SELECT coalesce((SELECT yellow_run FROM unit_card_runs WHERE unit_id = $1::bigint), 0), "
                        "coalesce((SELECT red_run FROM unit_card_runs WHERE unit_id = $1::bigint), 0)", 1, pa, &rr) != 0) {
        PQclear(rn);
        PQclear(rc);
        reply_db(req, w->pg, "unit supervision");
        return;
    }
    /* Interviews (约谈), whatever brought them: a level-3 notice (约谈通知书: fraud, violations,
     * dereliction, retaliation — seed 001), or a card (seed 004: two yellows in a row → red and
     * the working group interviews the deputy head; two reds in a row → a city leader the
     * principal head). Seed 004 prescribes no written notice for a card's interview, so a card
     * issues no notice row; it is listed here as the interview it is, newest first with the
     * notices' ones. */
    json_t *notices = json_array(), *cards = json_array(), *interviews = json_array();
    int levels[4] = {0}, yellow = 0, red = 0, open = 0, card_interviews = 0;
    for (int i = 0; i < PQntuples(rn); i++) {
        json_t *o = notice_json(rn, i);
        int lv = atoi(PQgetvalue(rn, i, 2));
        if (lv >= 1 && lv <= 3) levels[lv]++;
        if (!PQgetvalue(rn, i, 12)[0]) open++;
        if (lv == 3) {
            json_t *iv = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "source", "notice", "notice_id", PQgetvalue(rn, i, 0),
                                   "notice_no", PQgetvalue(rn, i, 1), "reason_code", PQgetvalue(rn, i, 8), "interviewer",
                                   "working_group", "issued_at", PQgetvalue(rn, i, 10), "replied",
                                   PQgetvalue(rn, i, 12)[0] != '\0');
            if (PQgetvalue(rn, i, 6)[0]) json_object_set_new(iv, "case_id", json_string(PQgetvalue(rn, i, 6)));
            json_array_append_new(interviews, iv);
        }
        json_array_append_new(notices, o);
    }
    for (int i = 0; i < PQntuples(rc); i++) {
        json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s}", "card_id", PQgetvalue(rc, i, 0), "colour", PQgetvalue(rc, i, 1),
                              "consecutive", atoi(PQgetvalue(rc, i, 2)), "interview_of", PQgetvalue(rc, i, 3), "reason_code",
                              PQgetvalue(rc, i, 4), "reason_text", PQgetvalue(rc, i, 5), "issued_at", PQgetvalue(rc, i, 7));
        if (PQgetvalue(rc, i, 6)[0]) json_object_set_new(o, "case_id", json_string(PQgetvalue(rc, i, 6)));
        if (!strcmp(PQgetvalue(rc, i, 1), "red")) red++;
        else yellow++;
        const char *of = PQgetvalue(rc, i, 3);
        if (strcmp(of, "none") != 0) {
            bool principal = !strcmp(of, "principal_head");
            json_t *iv = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s}", "source", "card", "card_id", PQgetvalue(rc, i, 0),
                                   "interview_of", of, "interviewer", principal ? "government_leader" : "working_group",
                                   "reason_code", PQgetvalue(rc, i, 4), "consecutive", atoi(PQgetvalue(rc, i, 2)),
                                   "issued_at", PQgetvalue(rc, i, 7));
            if (heads[principal ? 0 : 1][0])
                json_object_set_new(iv, "interviewee", json_string(heads[principal ? 0 : 1]));
            if (PQgetvalue(rc, i, 6)[0]) json_object_set_new(iv, "case_id", json_string(PQgetvalue(rc, i, 6)));
            json_array_append_new(interviews, iv);
            card_interviews++;
        }
        json_array_append_new(cards, o);
    }
    /* newest first across both sources (RFC 3339 in one offset sorts as text) */
    size_t ni = json_array_size(interviews);
    for (size_t a = 1; a < ni; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(interviews, b - 1), *y = json_array_get(interviews, b);
            if (strcmp(json_string_value(json_object_get(x, "issued_at")), json_string_value(json_object_get(y, "issued_at"))) >= 0)
                break;
            json_incref(x);
            json_array_set(interviews, b - 1, y);
            json_array_set_new(interviews, b, x);
        }
    json_t *out = json_pack("{s:{s:I,s:s,s:s},s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i},s:{s:i,s:i},s:o,s:o,s:o}", "unit", "id",
                            (json_int_t)id, "name", name, "region_code", region, "summary", "reminders", levels[1],
                            "rectifications", levels[2], "interviews", levels[3], "card_interviews", card_interviews,
                            "unreplied", open, "yellow_cards", yellow, "red_cards", red, "runs", "yellow_in_a_row",
                            atoi(PQgetvalue(rr, 0, 0)), "red_in_a_row", atoi(PQgetvalue(rr, 0, 1)), "notices", notices,
                            "cards", cards, "interviews", interviews);
    PQclear(rn);
    PQclear(rc);
    PQclear(rr);
    http_reply_json(req, 200, out);
}

static const char *const level_reason_values[] = {"not_signed", "overdue", "repeated_unhandled", "buck_passing",
                                                  "repeated_unsatisfied", "improper_closing", "fraud", "violation",
                                                  "dereliction", "rule_breach", "retaliation"};
static rv_field_t issue_fields[] = {
    {.name = "level", .type = RV_INT, .required = true, .min = 1, .max = 3},
    {.name = "reason_code", .type = RV_STR, .required = true, .min = 1, .max = 32, .single_line = true,
     .values = level_reason_values, .nvalues = 11},
    {.name = "reason_text", .type = RV_STR, .required = true, .min = 1, .max = 500},
    {.name = "case_id", .type = RV_STR, .min = 36, .max = 36, .single_line = true},
};

static void h_unit_issue(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, issue_fields, JS_ARRAY_LEN(issue_fields), &e) != 0) {
        json_decref(body);
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        return;
    }
    const char *case_id = rv_str(body, "case_id", NULL), *reason = rv_str(body, "reason_code", "");
    int level = (int)json_integer_value(json_object_get(body, "level"));
    if (case_id && !event_uuid_valid(case_id)) {
        json_decref(body);
        http_reply_error(req, 400, "invalid_value", "case_id", "case_id: a lowercase UUID");
        return;
    }
    long long id;
    char name[256], region[16];
    if (unit_for(req, w, p, &id, name, region, NULL) != 0) {
        json_decref(body);
        return;
    }
    char perr[256];
    const policy_t *prof = watcher_profile(w, region, perr, sizeof perr);
    if (prof == NULL) {
        json_decref(body);
        http_reply_error(req, 422, "no_profile", NULL, "%s", perr);
        return;
    }
    if (level == 3 && !prof->sup_interview) {
        json_decref(body);
        http_reply_error(req, 422, "not_allowed", "level",
                         "level: profile '%s' has no interview notice (supervision.interview is false)", prof->name);
        return;
    }
    pg_t *pg = w->pg;
    if (case_id) {
        const char *pc[] = {case_id};
        PGresult *r = NULL;
        if (pg_query(pg, "SELECT 1 FROM cases WHERE id = $1::uuid", 1, pc, &r) != 0) {
            json_decref(body);
            reply_db(req, pg, "notice issue");
            return;
        }
        int known = PQntuples(r) == 1;
        PQclear(r);
        if (!known) {
            json_decref(body);
            http_reply_error(req, 400, "invalid_value", "case_id", "case_id: no such case");
            return;
        }
    }
    event_supervision_reason_t rc_ = EVENT_SUPERVISION_UNSET;
    for (int i = 0; i < 11; i++)
        if (!strcmp(reason, level_reason_values[i])) rc_ = (event_supervision_reason_t)(i + 1);
    wnotice_t n = {.level = level, .unit_id = id, .case_id = case_id, .reason = rc_,
                   .reason_text = rv_str(body, "reason_text", ""), .issued_by = p->id,
                   .in_bulletin = level >= 2 && prof->sup_rectify_in_bulletin};
    event_actor_t actor = {.principal_id = p->id,
                           .role = p->role == AUTH_ROLE_CENTRE ? EVENT_ROLE_CENTRE
                                   : p->role == AUTH_ROLE_LEADER ? EVENT_ROLE_LEADER : EVENT_ROLE_SUPERVISOR};
    snprintf(actor.name, sizeof actor.name, "%s", p->name[0] ? p->name : "supervisor");
    wout_t *out = wout_new();
    size_t pend_add = w->n_add, pend_rm = w->n_rm;
    char nid[37] = "", err[512], obj[64];
    bool issued = false, input = false;
    if (out == NULL || pg_begin(pg) != 0) {
        wout_free(out);
        json_decref(body);
        reply_db(req, pg, "notice issue");
        return;
    }
    if (watcher_notice_issue(w, pg, out, &n, &actor, nid, &issued, &input, err, sizeof err) != 0) {
        pg_rollback(pg);
        w->n_add = pend_add;
        w->n_rm = pend_rm;
        wout_free(out);
        json_decref(body);
        if (input) http_reply_error(req, 422, "not_issued", NULL, "%s", err);
        else reply_db(req, pg, "notice issue");
        return;
    }
    snprintf(obj, sizeof obj, "supervision:%s", nid);
    if (wout_write(out, pg) != 0 ||
        audit(pg, p, "supervision.issue", obj, json_pack("{s:I,s:i,s:s,s:s}", "unit_id", (json_int_t)id, "level", level,
                                                        "reason_code", reason, "req", http_req_id(req))) != 0 ||
        pg_commit(pg) != 0) {
        pg_rollback(pg);
        w->n_add = pend_add;
        w->n_rm = pend_rm;
        wout_free(out);
        json_decref(body);
        reply_db(req, pg, "notice issue");
        return;
    }
    wout_free(out);
    json_decref(body);
    watcher_flush(w);
    const char *pn[] = {nid};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT " NOTICE_COLS NOTICE_FROM " WHERE n.id = $1::uuid", 1, pn, &r) != 0 || PQntuples(r) != 1) {
        PQclear(r);
        reply_db(req, pg, "notice read");
        return;
    }
    json_t *o = notice_json(r, 0);
    PQclear(r);
    char loc[96];
    snprintf(loc, sizeof loc, "/v1/supervision/%s", nid);
    http_reply_header(req, "Location", loc);
    http_reply_json(req, 201, o);
}

/* ---- the monthly review ------------------------------------------------------------------------- */

static void h_review(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *region = http_req_query(req, "region");
    const char *month = http_req_query(req, "month");
    if (region == NULL || !*region) region = p->region_code[0] ? p->region_code : NULL;
    size_t rl = region ? strlen(region) : 0;
    if (region == NULL || !(rl == 6 || rl == 9 || rl == 12) || strspn(region, "0123456789") != rl) {
        http_reply_error(req, 400, "invalid_value", "region", "region: a region code (6, 9 or 12 digits)");
        return;
    }
    int y = 0, m = 0;
    if (month == NULL || strlen(month) != 7 || month[4] != '-' || sscanf(month, "%4d-%2d", &y, &m) != 2 || m < 1 || m > 12 ||
        y < CALENDAR_YEAR_MIN || y > CALENDAR_YEAR_MAX) {
        http_reply_error(req, 400, "invalid_value", "month", "month: YYYY-MM, e.g. 2026-11");
        return;
    }
    if (!(p->role == AUTH_ROLE_LEADER && p->region_code[0] == '\0') &&
        !(p->region_code[0] && auth_region_covers(p->region_code, region))) {
        http_reply_error(req, 403, "forbidden", "region", "region: outside your region");
        return;
    }
    json_t *out = NULL;
    int status;
    char field[32] = "", err[512];
    if (watcher_review(w, w->pg, region, y, m, &out, &status, field, err, sizeof err) != 0) {
        if (status >= 500) reply_db(req, w->pg, "monthly review");
        else http_reply_error(req, status, status == 404 ? "not_found" : "invalid_value", field[0] ? field : NULL, "%s", err);
        return;
    }
    char obj[64];
    snprintf(obj, sizeof obj, "review:%s:%s", region, month);
    if (audit(w->pg, p, "case.list", obj, json_pack("{s:s,s:I}", "req", http_req_id(req), "cases",
                                                   (json_int_t)json_array_size(json_object_get(out, "cases")))) != 0)
        LOGW("audit write failed", LF_STR("error", w->pg->err));
    http_reply_json(req, 200, out);
}

/* ---- flags ----------------------------------------------------------------------------------------- */

static void h_flags(http_req_t *req, void *arg)
{
    watcher_t *w = arg;
    const http_principal_t *p = http_req_principal(req);
    const char *open = http_req_query(req, "open");
    if (open && strcmp(open, "true") && strcmp(open, "false")) {
        http_reply_error(req, 400, "invalid_value", "open", "open: true or false");
        return;
    }
    const char *pa[] = {open && !strcmp(open, "false") ? "false" : "true"};
    PGresult *r = NULL;
    if (pg_query(w->pg, "SELECT f.id, coalesce(f.case_id::text, ''), coalesce(c.case_no, ''), coalesce(c.region_code, ''), "
                        "f.timer_kind, f.problem, coalesce(f.year, 0), f.detail, " PG_RFC3339("f.raised_at") ", "
                        "coalesce(" PG_RFC3339("f.resolved_at") ", ''), coalesce(f.resolution, '') FROM deadline_flags f "
                        "LEFT JOIN cases c ON c.id = f.case_id WHERE (f.resolved_at IS NULL) = $1::boolean "
                        "ORDER BY f.id DESC LIMIT 500", 1, pa, &r) != 0) {
        reply_db(req, w->pg, "flags");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        const char *region = PQgetvalue(r, i, 3);
        if (p->role != AUTH_ROLE_OPERATOR && !(region[0] && p->region_code[0] && auth_region_covers(p->region_code, region)))
            continue;
        json_t *o = json_pack("{s:I,s:s,s:s,s:i,s:s,s:s}", "id", (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "kind",
                              PQgetvalue(r, i, 4), "problem", PQgetvalue(r, i, 5), "year", atoi(PQgetvalue(r, i, 6)),
                              "detail", PQgetvalue(r, i, 7), "raised_at", PQgetvalue(r, i, 8));
        if (PQgetvalue(r, i, 1)[0]) {
            json_object_set_new(o, "case_id", json_string(PQgetvalue(r, i, 1)));
            json_object_set_new(o, "case_no", json_string(PQgetvalue(r, i, 2)));
        }
        if (PQgetvalue(r, i, 9)[0]) {
            json_object_set_new(o, "resolved_at", json_string(PQgetvalue(r, i, 9)));
            json_object_set_new(o, "resolution", json_string(PQgetvalue(r, i, 10)));
        }
        json_array_append_new(arr, o);
    }
    PQclear(r);
    http_reply_json(req, 200, json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(arr), "flags", arr));
}

int watcher_api_routes(watcher_t *w, http_server_t *h)
{
    const unsigned staff = AUTH_ROLE_AGENT | AUTH_ROLE_CENTRE | AUTH_ROLE_UNIT | AUTH_ROLE_SUPERVISOR | AUTH_ROLE_LEADER;
    const unsigned handlers = AUTH_ROLE_UNIT | AUTH_ROLE_CENTRE;
    if (http_server_route(h, "GET", "/v1/calendar/{year}", AUTH_ROLE_OPERATOR, h_calendar_get, w) ||
        http_server_route(h, "PUT", "/v1/calendar/{year}", AUTH_ROLE_OPERATOR, h_calendar_put, w) ||
        http_server_route(h, "GET", "/v1/cases/{id}/timers", staff, h_case_timers, w) ||
        http_server_route(h, "POST", "/v1/cases/{id}/pauses", handlers, h_pause_start, w) ||
        http_server_route(h, "POST", "/v1/cases/{id}/pauses/{pid}/end", handlers, h_pause_end, w) ||
        http_server_route(h, "GET", "/v1/supervision/{id}", SUPERVISORS | AUTH_ROLE_UNIT, h_notice_get, w) ||
        http_server_route(h, "GET", "/v1/supervision/{id}/notice", SUPERVISORS | AUTH_ROLE_UNIT, h_notice_html, w) ||
        http_server_route(h, "POST", "/v1/supervision/{id}/reply", AUTH_ROLE_UNIT, h_notice_reply, w) ||
        http_server_route(h, "GET", "/v1/units/{id}/supervision", SUPERVISORS, h_unit_supervision, w) ||
        http_server_route(h, "POST", "/v1/units/{id}/supervision", SUPERVISORS, h_unit_issue, w) ||
        http_server_route(h, "GET", "/v1/review/monthly", SUPERVISORS, h_review, w) ||
        http_server_route(h, "GET", "/v1/deadline-flags", AUTH_ROLE_OPERATOR | AUTH_ROLE_CENTRE | AUTH_ROLE_SUPERVISOR,
                          h_flags, w))
        return -1;
    return 0;
}
