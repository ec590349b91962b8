/*
 * util.c — what the revisit's handlers share: the policy profile in force for a region and
 * the deadlines counted from it, region scope, the audit of every read of case content, the
 * actor written into events, and the JSON answers for database failures and races.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "deadline.h"
#include "log.h"
#include "outbox.h"
#include "revisit.h"

const policy_t *rvs_profile_for(revisit_t *rv, pg_t *pg, const char *region, char *err, size_t errlen)
{
    const char *pa[] = {region};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT region_effective_profile($1)", 1, pa, &r) != 0) {
        snprintf(err, errlen, "cannot look up the profile of region %s: %s", region, pg->err);
        return NULL;
    }
    const char *name = PQntuples(r) == 1 ? rvs_val(r, 0, 0) : NULL;
    const policy_t *p = name ? policy_set_find(rv->policies, name) : NULL;
    if (p == NULL)
        snprintf(err, errlen, name ? "region %s is bound to profile '%s', which is not loaded"
                                   : "region %s has no policy profile (regions.policy_profile)%s",
                 region, name ? name : "");
    PQclear(r);
    return p;
}

int rvs_due(revisit_t *rv, const char *region, const policy_t *p, const policy_window_t *w, int64_t from_ms,
           int64_t *due_ms, char *err, size_t errlen)
{
    deadline_input_t in = {.cal = rv->cal, .region = region, .profile = p, .window = w, .from_ms = from_ms};
    deadline_result_t out;
    if (w == NULL || w->unit == POLICY_UNIT_NONE) {
        snprintf(err, errlen, "profile '%s' sets no such window", p->name);
        return -1;
    }
    if (deadline_compute(&in, &out, err, errlen) != 0) return -1;
    *due_ms = out.due_ms;
    return 0;
}

int64_t rvs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rvs_time_str(int64_t ms, char out[EVENT_TIME_SIZE])
{
    deadline_time_format(ms, out, EVENT_TIME_SIZE);
}

int rvs_region_like(const char *region, char out[24])
{
    char norm[CALENDAR_REGION_SIZE];
    if (region == NULL || calendar_region_normalise(region, norm) != 0 || norm[0] == '\0') return -1;
    snprintf(out, 24, "%s%%", norm);
    return 0;
}

void rvs_audit(revisit_t *rv, const http_principal_t *p, const char *object, json_t *detail)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%lld", p ? p->id : 0);
    char *d = json_dumps(detail, JSON_COMPACT);
    const char *pa[] = {p && p->id > 0 ? pid : NULL, object, d};
    if (d == NULL || pg_query(rv->pg, "INSERT INTO audit_log (principal_id, action, object, detail) "
                                      "VALUES ($1::bigint, 'case.read', $2, $3::jsonb)",
                              3, pa, NULL) != 0)
        LOGW("audit write failed", LF_STR("object", object), LF_STR("error", rv->pg->err));
    free(d);
    json_decref(detail);
}

void rvs_actor(event_t *ev, const http_principal_t *p)
{
    ev->actor.principal_id = p ? p->id : 0;
    ev->actor.role = p == NULL                          ? EVENT_ROLE_SYSTEM
                     : p->role == AUTH_ROLE_ENTERPRISE  ? EVENT_ROLE_ENTERPRISE
                     : p->role == AUTH_ROLE_SUPERVISOR  ? EVENT_ROLE_SUPERVISOR
                     : p->role == AUTH_ROLE_CENTRE      ? EVENT_ROLE_CENTRE
                     : p->role == AUTH_ROLE_UNIT        ? EVENT_ROLE_UNIT
                     : p->role == AUTH_ROLE_LEADER      ? EVENT_ROLE_LEADER
                     : p->role == AUTH_ROLE_DISCIPLINE  ? EVENT_ROLE_DISCIPLINE
                     : p->role == AUTH_ROLE_OPERATOR    ? EVENT_ROLE_OPERATOR
                                                        : EVENT_ROLE_SYSTEM;
    snprintf(ev->actor.name, sizeof ev->actor.name, "%s", p && p->name[0] ? p->name : "jiesu-revisit");
}

void rvs_reply_db_error(http_req_t *req, pg_t *pg, const char *what)
{
    LOGE("database error", LF_STR("req", http_req_id(req)), LF_STR("during", what), LF_STR("sqlstate", pg->sqlstate),
         LF_STR("error", pg->err));
    if (pg->last_class == PG_RETRY) {
        http_reply_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "unavailable", NULL, "the case store is busy or unreachable; retry");
    } else {
        http_reply_error(req, 500, "internal", NULL, "%s failed (request %s)", what, http_req_id(req));
    }
}

void rvs_reply_conflict(http_req_t *req, const char *code, const char *message, const char *state, int version)
{
    http_reply_json(req, 409, json_pack("{s:{s:s,s:s,s:s},s:s?,s:i}", "error", "code", code, "message", message,
                                        "field", "version", "state", state, "version", version));
}

int rvs_query_limit(http_req_t *req, int def, int max, int *out)
{
    const char *s = http_req_query(req, "limit");
    *out = def;
    if (s == NULL) return 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > max) {
        http_reply_error(req, 400, "out_of_range", "limit", "limit: a whole number from 1 to %d", max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

void rvs_principal_region(revisit_t *rv, const http_principal_t *p, char out[16])
{
    out[0] = '\0';
    if (p->region_code[0]) {
        snprintf(out, 16, "%s", p->region_code);
        return;
    }
    if (p->unit_id <= 0) return;
    char uid[32];
    snprintf(uid, sizeof uid, "%lld", p->unit_id);
    const char *pa[] = {uid};
    PGresult *r = NULL;
    if (pg_query(rv->pg, "SELECT region_code FROM units WHERE id = $1::bigint", 1, pa, &r) == 0 && PQntuples(r) == 1)
        snprintf(out, 16, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

int rvs_outbox_event(pg_t *pg, const event_t *ev, char *err, size_t errlen)
{
    char *env = NULL, key[EVENT_KEY_SIZE];
    if (event_encode(ev, &env, err, errlen) != 0) return -1;
    int rc = -1;
    if (event_key(ev, key, sizeof key) != 0) {
        snprintf(err, errlen, "event %s has no key", event_type_name(ev->type));
    } else if (outbox_append(pg, ev->event_id, event_topic(ev), key, env) != 0) {
        snprintf(err, errlen, "%s", pg->err);
    } else {
        rc = 0;
    }
    free(env);
    return rc;
}

const char *rvs_val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
