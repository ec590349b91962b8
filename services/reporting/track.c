/*
 * track.c — enterprise tracking (seed 001: 经营主体可实时查看办理进度) and the archive dossier.
 *
 * Tracking answers, for one case number and its tracking code, what an enterprise may know of
 * its own case: the state, the unit in charge (an office's name, never a person), what
 * happened when, and when it is due. Nothing about any other case (a duplicate's original is
 * not named), no actor, no staff data. A wrong code and an unknown number get the same 404, so
 * the answer does not tell which numbers exist, and look-ups are throttled per client address
 * and per case number (Redis, shared by all instances) so codes cannot be guessed: ten
 * characters from an alphabet of 31 give 8×10^14 codes against a few dozen tries an hour.
 * Enterprise principals may also follow their own cases with their token.
 *
 * The dossier (立卷归档) is the whole history of one case for the archive: the registration,
 * then every event classed as the document it stands for — the appeal, transfer letters
 * (交办单), approvals, replies (承办单), revisits, supervision — with the attachments'
 * metadata and the supervision notices and cards about the case. Each read is audited.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "ratelimit.h"
#include "reporting.h"
#include "reqval.h"

static bool is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36) return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) return false;
    }
    return true;
}

/* The timeline of a case, as an enterprise may see it. */
static json_t *timeline(rep_t *s, const char *case_id, int *err)
{
    const char *p[] = {case_id};
    PGresult *r = NULL;
    if (pg_query(s->pg,
                 "SELECT type, to_char(occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), "
                 "coalesce(payload->>'reason_text', ''), coalesce(payload->>'finding', ''), "
                 "coalesce(payload->>'satisfaction', '') FROM case_events WHERE case_id = $1::uuid ORDER BY id",
                 1, p, &r) != 0) {
        *err = 1;
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        const char *type = PQgetvalue(r, i, 0);
        json_t *o = json_pack("{s:s,s:s,s:s}", "at", PQgetvalue(r, i, 1), "event", type, "label", rm_event_label(type));
        if (!strcmp(type, "case.rejected")) json_object_set_new(o, "reason", json_string(PQgetvalue(r, i, 2)));
        if (!strcmp(type, "case.result_submitted")) {
            const char *f = PQgetvalue(r, i, 3);
            json_object_set_new(o, "finding", json_string(!strcmp(f, "true") ? "属实" : !strcmp(f, "partly_true") ? "部分属实" : "不属实"));
        }
        json_array_append_new(arr, o);
    }
    PQclear(r);
    return arr;
}

static const char TRACK_SQL[] =
    "SELECT c.id, c.case_no, c.state, c.kind, "
    "to_char(c.received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), "
    "coalesce(to_char(coalesce(c.due_at, r.due_at) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), ''), "
    "coalesce(to_char(c.closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), ''), "
    "coalesce(u.name, ''), c.credit_code "
    "FROM cases c LEFT JOIN units u ON u.id = c.lead_unit_id LEFT JOIN rep_cases r ON r.case_id = c.id ";

/* The answer for row 0 of a TRACK_SQL result; NULL with *err set on a database error. */
static json_t *track_body(rep_t *s, PGresult *r, int *err)
{
    const char *state = PQgetvalue(r, 0, 2);
    json_t *tl = timeline(s, PQgetvalue(r, 0, 0), err);
    if (*err) return NULL;
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "case_no", PQgetvalue(r, 0, 1), "state", state, "state_label",
                          rm_state_label(state), "kind", PQgetvalue(r, 0, 3), "kind_label",
                          rm_kind_label(PQgetvalue(r, 0, 3)), "received_at", PQgetvalue(r, 0, 4));
    json_object_set_new(o, "due_at", PQgetvalue(r, 0, 5)[0] ? json_string(PQgetvalue(r, 0, 5)) : json_null());
    json_object_set_new(o, "closed_at", PQgetvalue(r, 0, 6)[0] ? json_string(PQgetvalue(r, 0, 6)) : json_null());
    json_object_set_new(o, "unit_in_charge", PQgetvalue(r, 0, 7)[0] ? json_string(PQgetvalue(r, 0, 7)) : json_null());
    json_object_set_new(o, "timeline", tl);
    return o;
}

/* Audits the read and answers; takes r. */
static void track_answer(http_req_t *req, rep_t *s, PGresult *r, const char *via)
{
    char object[64];
    snprintf(object, sizeof object, "case:%s", PQgetvalue(r, 0, 0));
    int err = 0;
    json_t *o = track_body(s, r, &err);
    PQclear(r);
    if (err) {
        rep_reply_db_error(req, s->pg, "tracking");
        return;
    }
    metric_inc(s->m_tracked);
    rep_audit(s, req, "case.track", object, json_pack("{s:s}", "via", via));
    http_reply_json(req, 200, o);
}

static bool case_no_ok(const char *s, char *msg, size_t len)
{
    size_t n = strlen(s);
    bool ok = n >= 6 && n <= 32 && (isdigit((unsigned char)s[0]) || isupper((unsigned char)s[0]));
    for (size_t i = 0; ok && i < n; i++) ok = isdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]) || s[i] == '-';
    if (!ok) snprintf(msg, len, "must be a case number such as 450103-2026-000123");
    return ok;
}

static int case_no_check(const char *s, char *msg, size_t len) { return case_no_ok(s, msg, len) ? 0 : -1; }

static int code_check(const char *s, char *msg, size_t len)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != ' ') {
            snprintf(msg, len, "must be the tracking code given at registration (letters and digits)");
            return -1;
        }
    return 0;
}

static const rv_field_t TRACK_FIELDS[] = {
    {.name = "case_no", .type = RV_STR, .required = true, .min = 6, .max = 32, .single_line = true, .check = case_no_check},
    {.name = "tracking_code", .type = RV_STR, .required = true, .min = 4, .max = 32, .single_line = true, .check = code_check},
};

void rep_track_public(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    json_t *body = http_req_json(req);
    if (body == NULL) return;
    rv_error_t e;
    if (rv_validate(body, TRACK_FIELDS, JS_ARRAY_LEN(TRACK_FIELDS), &e) != 0) {
        json_decref(body);
        http_reply_error(req, 400, e.code, e.field, "%s", e.message);
        return;
    }
    char case_no[40], code[40];
    snprintf(case_no, sizeof case_no, "%s", rv_str(body, "case_no", ""));
    size_t o = 0;
    for (const char *p = rv_str(body, "tracking_code", ""); *p && o + 1 < sizeof code; p++)
        if (isalnum((unsigned char)*p)) code[o++] = (char)toupper((unsigned char)*p);
    code[o] = '\0';
    json_decref(body);
    /* throttle before looking: per client address, then per case number */
    char ip[64]; /* behind a trusted proxy: its X-Forwarded-For; IPv6 by /64 (one host's share) */
    http_req_client_key(req, ip, sizeof ip);
    /* per case number and client, so a stranger guessing codes for a case uses up their own
     * allowance and not the enterprise's; and a higher ceiling per case number from everyone
     * together, so many addresses cannot multiply the guesses (the code has ~49 bits) */
    char case_key[128];
    snprintf(case_key, sizeof case_key, "%s|%s", case_no, ip);
    long retry = 0;
    const char *field = NULL;
    if (ratelimit_hit(daemon_redis(s->d), "track-ip", ip, s->cfg->track_ip_per_min, 60000, &retry) == RATELIMIT_DENY)
        field = "client";
    else if (ratelimit_hit(daemon_redis(s->d), "track-case", case_key, s->cfg->track_case_per_hour, 3600000, &retry) ==
                 RATELIMIT_DENY ||
             ratelimit_hit(daemon_redis(s->d), "track-case-all", case_no, s->cfg->track_case_total_per_hour, 3600000,
                           &retry) == RATELIMIT_DENY)
        field = "case_no";
    if (field) {
        char ra[16];
        snprintf(ra, sizeof ra, "%ld", retry);
        metric_inc(s->m_track_denied);
        http_reply_header(req, "Retry-After", ra);
        http_reply_error(req, 429, "rate_limited", field, "too many tracking look-ups%s; retry in %ld s",
                         !strcmp(field, "case_no") ? " for this case number" : " from this address", retry);
        return;
    }
    char hash[65];
    pg_sha256_hex(code, strlen(code), hash);
    char sql[1200];
    snprintf(sql, sizeof sql, "%sWHERE c.case_no = $1 AND c.tracking_code_hash = decode($2, 'hex')", TRACK_SQL);
    const char *p[] = {case_no, hash};
    PGresult *r = NULL;
    if (pg_query(s->pg, sql, 2, p, &r) != 0) {
        rep_reply_db_error(req, s->pg, "tracking");
        return;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", "tracking_code", "no case matches this case number and tracking code");
        return;
    }
    track_answer(req, s, r, "tracking_code");
}

void rep_track_own(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    const http_principal_t *who = http_req_principal(req);
    const char *case_no = http_req_param(req, 0);
    char msg[128];
    if (!case_no_ok(case_no ? case_no : "", msg, sizeof msg)) {
        http_reply_error(req, 400, "invalid_value", "case_no", "case_no: %s", msg);
        return;
    }
    char sql[1200];
    snprintf(sql, sizeof sql, "%sWHERE c.case_no = $1 AND c.credit_code = $2", TRACK_SQL);
    const char *p[] = {case_no, who->credit_code};
    PGresult *r = NULL;
    if (pg_query(s->pg, sql, 2, p, &r) != 0) {
        rep_reply_db_error(req, s->pg, "tracking");
        return;
    }
    if (PQntuples(r) != 1) { /* another enterprise's case looks exactly like no case */
        PQclear(r);
        http_reply_error(req, 404, "not_found", "case_no", "case_no: none of your cases has this number");
        return;
    }
    track_answer(req, s, r, "enterprise_token");
}

/* ---- the dossier --------------------------------------------------------------------------- */

static const char *document_of(const char *type)
{
    static const struct {
        const char *type, *doc;
    } t[] = {
        {"case.received", "appeal"},          {"case.material_added", "appeal"},
        {"case.accepted", "acceptance"},      {"case.rejected", "refusal_notice"},
        {"case.duplicate", "acceptance"},     {"case.duplicate_unlinked", "acceptance"},
        {"case.dispatched", "transfer_letter"}, {"case.remit_decided", "transfer_letter"},
        {"case.escalated", "transfer_letter"}, {"case.handed_down", "transfer_letter"},
        {"case.returned", "transfer_letter"}, {"case.signed", "handling"},
        {"case.contact_recorded", "handling"}, {"case.progress_noted", "handling"},
        {"case.deadline_agreed", "approval"}, {"case.extension_requested", "approval"},
        {"case.extension_decided", "approval"}, {"case.part_submitted", "reply"},
        {"case.result_submitted", "reply"},   {"case.answered", "reply"},
        {"case.revisit_recorded", "revisit"}, {"case.closed", "revisit"},
        {"case.redo_ordered", "supervision"}, {"case.terminated", "approval"},
        {"case.archived", "archive"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(t); i++)
        if (!strcmp(t[i].type, type)) return t[i].doc;
    return "other";
}

void rep_dossier(http_req_t *req, void *arg)
{
    rep_t *s = arg;
    const http_principal_t *who = http_req_principal(req);
    const char *id = http_req_param(req, 0);
    if (!is_uuid(id)) {
        http_reply_error(req, 400, "invalid_value", "id", "id: must be a case id (UUID)");
        return;
    }
    const char *p[] = {id};
    PGresult *c = NULL, *ev = NULL, *att = NULL, *sv = NULL;
    char uid[24];
    snprintf(uid, sizeof uid, "%lld", who->unit_id);
    const char *pc[] = {id, uid};
    if (pg_query(s->pg,
                 "SELECT c.case_no, c.state, c.kind, c.complexity, c.channel, c.region_code, c.enterprise_name, "
                 "coalesce(c.credit_code, ''), coalesce(c.address, ''), coalesce(c.contact_name, ''), "
                 "coalesce(c.contact_phone, ''), c.summary, c.body, c.confidential, coalesce(c.lead_unit_id, 0), "
                 "to_char(c.received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), "
                 "coalesce(to_char(c.closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), ''), "
                 "coalesce((SELECT bool_or(unit_id = $2::bigint) FROM case_units WHERE case_id = c.id), false) "
                 "FROM cases c WHERE c.id = $1::uuid",
                 2, pc, &c) != 0)
        goto dberr;
    if (PQntuples(c) != 1) {
        PQclear(c);
        http_reply_error(req, 404, "not_found", "id", "id: no such case");
        return;
    }
    /* who may see it: a unit the cases it held; region roles their region (a leader without
     * one, the deployment) */
    http_principal_t eff = *who;
    if (eff.role == AUTH_ROLE_LEADER && !eff.region_code[0]) snprintf(eff.region_code, sizeof eff.region_code, "%s", s->root);
    long long lead = strtoll(PQgetvalue(c, 0, 14), NULL, 10);
    bool held = PQgetvalue(c, 0, 17)[0] == 't';
    bool may = eff.role == AUTH_ROLE_UNIT ? (held || auth_may_see_case(&eff, PQgetvalue(c, 0, 5), NULL, lead))
                                          : auth_may_see_case(&eff, PQgetvalue(c, 0, 5), NULL, lead);
    if (!may) {
        PQclear(c);
        http_reply_error(req, 404, "not_found", "id", "id: no such case");
        return;
    }
    bool withhold = eff.role == AUTH_ROLE_UNIT && PQgetvalue(c, 0, 13)[0] == 't';
    if (pg_query(s->pg,
                 "SELECT e.type, to_char(e.occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), "
                 "coalesce(pr.role, 'system'), coalesce(pr.name, '系统'), e.payload::text, e.event_id::text "
                 "FROM case_events e LEFT JOIN principals pr ON pr.id = e.actor_principal_id "
                 "WHERE e.case_id = $1::uuid ORDER BY e.id",
                 1, p, &ev) != 0 ||
        pg_query(s->pg,
                 "SELECT uid::text, file_name, media_type, size_bytes, encode(sha256, 'hex'), "
                 "to_char(uploaded_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"') "
                 "FROM case_attachments WHERE case_id = $1::uuid ORDER BY id",
                 1, p, &att) != 0 ||
        pg_query(s->pg,
                 "SELECT e.type, to_char(e.occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), "
                 "e.unit_id, coalesce(u.name, ''), e.payload::text FROM rep_unit_events e LEFT JOIN units u ON u.id = e.unit_id "
                 "WHERE e.case_id = $1::uuid ORDER BY e.occurred_at",
                 1, p, &sv) != 0)
        goto dberr;
    json_t *reg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "case_no", PQgetvalue(c, 0, 0), "kind",
                            PQgetvalue(c, 0, 2), "complexity", PQgetvalue(c, 0, 3), "channel", PQgetvalue(c, 0, 4),
                            "region_code", PQgetvalue(c, 0, 5), "received_at", PQgetvalue(c, 0, 15), "summary",
                            PQgetvalue(c, 0, 11), "body", PQgetvalue(c, 0, 12), "state", PQgetvalue(c, 0, 1),
                            "confidential", PQgetvalue(c, 0, 13)[0] == 't');
    static const char WITHHELD[] = "保密件：举报人身份不向被举报单位提供";
    json_t *ent = withhold ? json_pack("{s:s}", "withheld", WITHHELD)
                           : json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", PQgetvalue(c, 0, 6), "credit_code",
                                       PQgetvalue(c, 0, 7), "address", PQgetvalue(c, 0, 8), "contact_name",
                                       PQgetvalue(c, 0, 9), "contact_phone", PQgetvalue(c, 0, 10));
    json_object_set_new(reg, "enterprise", ent);
    json_t *docs = json_array();
    for (int i = 0; i < PQntuples(ev); i++) {
        const char *type = PQgetvalue(ev, i, 0);
        json_t *payload = json_loads(PQgetvalue(ev, i, 4), 0, NULL);
        if (withhold && !strcmp(type, "case.received")) json_object_del(payload, "enterprise");
        /* an enterprise principal is named after the enterprise: on a confidential report its
         * documents say only that the enterprise acted, never which one (the reporter) */
        const char *role = PQgetvalue(ev, i, 2);
        const char *name = withhold && !strcmp(role, "enterprise") ? WITHHELD : PQgetvalue(ev, i, 3);
        json_array_append_new(docs, json_pack("{s:i,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:o}", "seq", i + 1, "document",
                                              document_of(type), "event", type, "label", rm_event_label(type), "at",
                                              PQgetvalue(ev, i, 1), "actor", "role", role, "name", name, "payload",
                                              payload ? payload : json_object()));
    }
    json_t *atts = json_array();
    for (int i = 0; i < PQntuples(att); i++)
        json_array_append_new(atts, json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "id", PQgetvalue(att, i, 0), "file_name",
                                              PQgetvalue(att, i, 1), "media_type", PQgetvalue(att, i, 2), "size_bytes",
                                              (json_int_t)strtoll(PQgetvalue(att, i, 3), NULL, 10), "sha256",
                                              PQgetvalue(att, i, 4), "uploaded_at", PQgetvalue(att, i, 5)));
    json_t *sup = json_array();
    for (int i = 0; i < PQntuples(sv); i++) {
        json_t *payload = json_loads(PQgetvalue(sv, i, 4), 0, NULL);
        json_array_append_new(sup, json_pack("{s:s,s:s,s:s,s:I,s:s,s:o}", "document", "supervision", "event",
                                             PQgetvalue(sv, i, 0), "at", PQgetvalue(sv, i, 1), "unit_id",
                                             (json_int_t)strtoll(PQgetvalue(sv, i, 2), NULL, 10), "unit_name",
                                             PQgetvalue(sv, i, 3), "payload", payload ? payload : json_object()));
    }
    json_t *out = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "case_id", id, "title", "企业诉求办理档案（立卷归档）",
                            "registration", reg, "documents", docs, "attachments", atts, "supervision", sup);
    json_object_set_new(out, "closed_at", PQgetvalue(c, 0, 16)[0] ? json_string(PQgetvalue(c, 0, 16)) : json_null());
    PQclear(c);
    PQclear(ev);
    PQclear(att);
    PQclear(sv);
    char object[64];
    snprintf(object, sizeof object, "case:%s", id);
    rep_audit(s, req, "case.read", object, json_pack("{s:s}", "view", "dossier"));
    http_reply_json(req, 200, out);
    return;
dberr:
    PQclear(c);
    PQclear(ev);
    PQclear(att);
    PQclear(sv);
    rep_reply_db_error(req, s->pg, "dossier");
}
