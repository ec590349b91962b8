/*
 * supervise.c — what a missed deadline leads to, written in the transaction that decided it:
 * supervision notices (督办单: level 1 reminder letter 提醒敦促函, level 2 rectification notice
 * 整改通知书, level 3 interview notice 约谈通知书) with their reply clocks, the cards of seed 004,
 * and the flags an operator must see when a deadline could not be computed.
 *
 * Which breach leads to what is the profile's business (DOMAIN.md §6): a sign-for breach makes
 * a reminder once a unit has failed to sign supervision.reminder.unsigned_times times since its
 * last one; an overdue case (resolve-by, redo-by) makes a reminder where
 * supervision.reminder.overdue says so, and a unit that collects rectify_after_reminders of those
 * within rectify_window_days gets a rectification notice (the "repeated breaches of one unit"
 * the watcher can see), listed in the bulletin where the profile says so; a missed reporting
 * deadline earns a card where cards are enabled. Counting is done in the same transaction
 * under the same instant (the batch's), so two breaches of one unit decided together make one
 * notice, not two.
 *
 * Events are collected in a wout_t and written with one COPY before COMMIT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "log.h"
#include "outbox.h"
#include "watcher.h"

/* ---- the bulk outbox writer --------------------------------------------------------------- */

/* Events are kept as the lines of a COPY into the outbox (text format: tab-separated, with
 * backslash, tab, newline and carriage return escaped): COPY is the cheapest way to write a
 * thousand rows, and it spares both sides a JSON round of escaping and parsing per event. */
struct wout {
    char *buf;
    size_t len, cap;
    size_t n;
};

wout_t *wout_new(void) { return calloc(1, sizeof(wout_t)); }

void wout_free(wout_t *o)
{
    if (o == NULL) return;
    free(o->buf);
    free(o);
}

size_t wout_len(const wout_t *o) { return o->n; }

static int wout_reserve(wout_t *o, size_t more)
{
    if (o->len + more + 1 <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 64 * 1024;
    while (cap < o->len + more + 1) cap *= 2;
    char *g = realloc(o->buf, cap);
    if (g == NULL) return -1;
    o->buf = g;
    o->cap = cap;
    return 0;
}

/* Appends s as one COPY field followed by sep. */
static int wout_field(wout_t *o, const char *s, char sep)
{
    size_t n = strlen(s);
    if (wout_reserve(o, 2 * n + 1) != 0) return -1;
    char *d = o->buf + o->len;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\': *d++ = '\\'; *d++ = '\\'; break;
        case '\t': *d++ = '\\'; *d++ = 't'; break;
        case '\n': *d++ = '\\'; *d++ = 'n'; break;
        case '\r': *d++ = '\\'; *d++ = 'r'; break;
        default: *d++ = *p;
        }
    }
    *d++ = sep;
    o->len = (size_t)(d - o->buf);
    return 0;
}

int wout_add(wout_t *o, const event_t *ev, char *err, size_t errlen)
{
    char *env = NULL, key[64];
    if (event_encode(ev, &env, err, errlen) != 0) return -1;
    int rc = -1;
    size_t mark = o->len;
    if (event_key(ev, key, sizeof key) != 0) {
        snprintf(err, errlen, "event %s has no key", event_type_name(ev->type));
    } else if (wout_field(o, ev->event_id, '\t') != 0 || wout_field(o, event_topic(ev), '\t') != 0 ||
               wout_field(o, key, '\t') != 0 || wout_field(o, env, '\n') != 0) {
        o->len = mark;
        snprintf(err, errlen, "out of memory");
    } else {
        o->n++;
        rc = 0;
    }
    free(env);
    return rc;
}

int wout_write(wout_t *o, pg_t *pg)
{
    if (o->n == 0) return 0;
    PGresult *r = PQexec(pg->conn, "COPY outbox (event_id, topic, msg_key, payload) FROM STDIN");
    int rc = -1;
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(pg->err, sizeof pg->err, "outbox copy: %s", PQerrorMessage(pg->conn));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    if (PQputCopyData(pg->conn, o->buf, (int)o->len) != 1 || PQputCopyEnd(pg->conn, NULL) != 1) {
        snprintf(pg->err, sizeof pg->err, "outbox copy: %s", PQerrorMessage(pg->conn));
        while ((r = PQgetResult(pg->conn)) != NULL) PQclear(r);
        goto out;
    }
    rc = 0;
    while ((r = PQgetResult(pg->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", code ? code : "");
            snprintf(pg->err, sizeof pg->err, "outbox copy: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
out:
    if (rc != 0) pg->last_class = PQstatus(pg->conn) == CONNECTION_OK ? PG_PERMANENT : PG_RETRY;
    o->len = 0;
    o->n = 0;
    return rc;
}

/* ---- flags ---------------------------------------------------------------------------------- */

int watcher_flag(watcher_t *w, pg_t *pg, const char *case_id, const char *notice_id, timer_kind_t kind,
                 const char *problem, int year, const char *detail, json_t *facts)
{
    char ys[16], *ft = facts ? json_dumps(facts, JSON_COMPACT) : NULL;
    json_decref(facts);
    snprintf(ys, sizeof ys, "%d", year);
    char det[1000];
    snprintf(det, sizeof det, "%s", detail && *detail ? detail : problem);
    const char *p[] = {case_id, notice_id, timer_kind_to_str(kind), problem, year ? ys : NULL, det, ft ? ft : "{}"};
    PGresult *r = NULL;
    int rc = pg_query(pg, "INSERT INTO deadline_flags (case_id, notice_id, timer_kind, problem, year, detail, facts) "
                          "VALUES ($1::uuid, $2::uuid, $3, $4, $5::smallint, $6, $7::jsonb) ON CONFLICT DO NOTHING "
                          "RETURNING id",
                      7, p, &r);
    free(ft);
    if (rc != 0) return -1;
    int fresh = PQntuples(r) == 1;
    PQclear(r);
    if (!strcmp(problem, "calendar_missing")) metric_inc(w->m_cal_missing);
    if (fresh)
        LOGE(!strcmp(problem, "calendar_missing") ? "deadline needs a year with no calendar loaded: case flagged, nothing guessed"
                                                   : "deadline could not be computed: case flagged",
             LF_STR("case_id", case_id ? case_id : ""), LF_STR("notice_id", notice_id ? notice_id : ""),
             LF_STR("kind", timer_kind_to_str(kind)), LF_STR("problem", problem), LF_INT("year", year),
             LF_STR("detail", det));
    return 0;
}

/* ---- notices -------------------------------------------------------------------------------- */

/* The dispatch centre in whose name a unit's notice is issued: its region's, else the nearest
 * above. 0 when none is loaded. */
static int issuer_of(watcher_t *w, pg_t *pg, const char *region, long long *unit_id)
{
    char code[16];
    snprintf(code, sizeof code, "%s", region);
    *unit_id = 0;
    for (int depth = 0; depth < 8 && code[0]; depth++) {
        const char *p[] = {code};
        PGresult *r = NULL;
        if (pg_query(pg, "SELECT id FROM units WHERE kind = 'centre' AND active AND region_code = $1", 1, p, &r) != 0)
            return -1;
        if (PQntuples(r) == 1) *unit_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (*unit_id) return 0;
        snprintf(code, sizeof code, "%s", watcher_region_parent(w, code));
    }
    return 0;
}

static const char *const notice_reasons[] = {NULL, "not_signed", "overdue", "repeated_unhandled", "buck_passing",
                                              "repeated_unsatisfied", "improper_closing", "fraud", "violation",
                                              "dereliction", "rule_breach", "retaliation"};

json_t *watcher_notice_facts(const wnotice_t *n, int64_t issued_ms)
{
    json_t *facts = json_pack("{s:s,s:s,s:I,s:s?,s:i,s:s?,s:s?,s:I,s:I,s:I,s:b,s:s?,s:s?}", "op", "notice", "kind",
                              "supervision_reply", "unit_id", (json_int_t)n->unit_id, "case_id", n->case_id, "level",
                              n->level, "reason", notice_reasons[n->reason], "reason_text", n->reason_text, "issued_by",
                              (json_int_t)n->issued_by, "source_timer_id", (json_int_t)n->source_timer_id, "issued_ms",
                              (json_int_t)issued_ms, "in_bulletin", n->in_bulletin, "notice_id", n->notice_id,
                              "source_event_id", n->source_event_id);
    if (facts && n->contact_ids && n->contact_ids->n) {
        json_t *ids = json_array();
        for (size_t i = 0; i < n->contact_ids->n; i++) json_array_append_new(ids, json_string(n->contact_ids->items[i]));
        json_object_set_new(facts, "contact_ids", ids);
    }
    return facts;
}

int watcher_notice_flag(watcher_t *w, pg_t *pg, const char *case_id, const char *problem, int year, const char *detail,
                        json_t *facts)
{
    char ys[16], *ft = facts ? json_dumps(facts, JSON_COMPACT) : NULL;
    json_decref(facts);
    if (ft == NULL) {
        snprintf(pg->err, sizeof pg->err, "out of memory");
        pg->last_class = PG_RETRY;
        return -1;
    }
    snprintf(ys, sizeof ys, "%d", year);
    char det[1000];
    snprintf(det, sizeof det, "%s", detail && *detail ? detail : problem);
    const char *p[] = {case_id, problem, year ? ys : NULL, det, ft};
    PGresult *r = NULL;
    /* one open flag per (case, supervision_reply, problem): a second notice waiting on the same
     * thing joins the first one's queue (the same notice again, a redelivered event, does not) */
    int rc = pg_query(pg,
                      "INSERT INTO deadline_flags (case_id, timer_kind, problem, year, detail, facts) "
                      "VALUES ($1::uuid, 'supervision_reply', $2, $3::smallint, $4, $5::jsonb) "
                      "ON CONFLICT ((coalesce(case_id::text, notice_id::text, '')), timer_kind, problem) "
                      "WHERE resolved_at IS NULL DO UPDATE SET facts = jsonb_set(deadline_flags.facts, '{queued}', "
                      "coalesce(deadline_flags.facts->'queued', '[]'::jsonb) || jsonb_build_array(EXCLUDED.facts)) "
                      "WHERE deadline_flags.facts - 'queued' <> EXCLUDED.facts AND NOT "
                      "coalesce(deadline_flags.facts->'queued', '[]'::jsonb) @> jsonb_build_array(EXCLUDED.facts) "
                      "RETURNING id, (xmax = 0)",
                      5, p, &r);
    free(ft);
    if (rc != 0) return -1;
    int fresh = PQntuples(r) == 1 && PQgetvalue(r, 0, 1)[0] == 't', queued = PQntuples(r) == 1 && !fresh;
    PQclear(r);
    if (fresh || queued) w->notice_flags_written++;
    if (!strcmp(problem, "calendar_missing")) metric_inc(w->m_cal_missing);
    if (fresh || queued)
        LOGE(!strcmp(problem, "profile_missing") ? "supervision notice waits for a profile: flagged, nothing guessed"
             : !strcmp(problem, "calendar_missing") ? "supervision notice waits for a calendar year: flagged, nothing guessed"
                                                     : "supervision notice reply deadline could not be computed: flagged",
             LF_STR("case_id", case_id ? case_id : ""), LF_STR("problem", problem), LF_INT("year", year),
             LF_STR("queued", queued ? "behind an open flag" : "new flag"), LF_STR("detail", det));
    return 0;
}

int watcher_notice_issue(watcher_t *w, pg_t *pg, wout_t *out, const wnotice_t *n, const event_actor_t *actor,
                         char *id_out, bool *issued, bool *input_error, char *err, size_t errlen)
{
    *issued = false;
    *input_error = false;
    char us[32], region[16] = "";
    snprintf(us, sizeof us, "%lld", n->unit_id);
    PGresult *r = NULL;
    const char *pu[] = {us, n->case_id};
    if (pg_query(pg, "SELECT u.region_code, coalesce((SELECT region_code FROM cases WHERE id = $2::uuid), u.region_code) "
                     "FROM units u WHERE u.id = $1::bigint", 2, pu, &r) != 0)
        goto db;
    if (PQntuples(r) != 1) {
        PQclear(r);
        snprintf(err, errlen, "unit %lld does not exist", n->unit_id);
        *input_error = true;
        return -1;
    }
    char unit_region[16];
    snprintf(unit_region, sizeof unit_region, "%s", PQgetvalue(r, 0, 0));
    snprintf(region, sizeof region, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    r = NULL;
    char perr[256];
    const policy_t *p = watcher_profile(w, region, perr, sizeof perr);
    const policy_window_t *win = p && p->sup_notice_reply.unit != POLICY_UNIT_NONE ? &p->sup_notice_reply : &w->reply_default;
    int64_t now = n->issued_ms > 0 ? n->issued_ms : watcher_now_ms();
    const char *const *reasons = notice_reasons;
    if (p == NULL) {
        /* never dropped: the flag keeps all it takes to issue the notice once a profile is
         * bound to the region (watcher_flags_retry), from the same instant */
        snprintf(err, errlen, "%s", perr);
        if (watcher_notice_flag(w, pg, n->case_id, "profile_missing", 0, err, watcher_notice_facts(n, now)) != 0) goto db;
        *input_error = true;
        return -1;
    }
    deadline_input_t in = {.cal = w->cal, .region = region, .profile = p, .window = win, .from_ms = now};
    deadline_result_t dr;
    if (deadline_compute(&in, &dr, err, errlen) != 0) {
        /* never guessed: the flag keeps all it takes to issue the notice once the year is
         * loaded (watcher_notice_retry), from the same instant */
        int year = calendar_error_year(err);
        if (watcher_notice_flag(w, pg, n->case_id, year ? "calendar_missing" : "uncomputable", year, err,
                                watcher_notice_facts(n, now)) != 0)
            goto db;
        *input_error = true;
        return -1;
    }
    long long issuer = 0;
    if (issuer_of(w, pg, unit_region, &issuer) != 0) goto db;
    event_t ev;
    if (event_init(&ev, EVENT_SUPERVISION_ISSUED) != 0) {
        snprintf(err, errlen, "no random bytes for an event id");
        return -1;
    }
    ev.actor = *actor;
    ev.unit_id = n->unit_id;
    if (n->case_id) snprintf(ev.case_id, sizeof ev.case_id, "%s", n->case_id);
    event_supervision_issued_t *sp = &ev.payload.supervision_issued;
    if (n->notice_id) {
        snprintf(sp->notice_id, sizeof sp->notice_id, "%s", n->notice_id);
    } else if (event_uuid_new(sp->notice_id) != 0) {
        snprintf(err, errlen, "no random bytes for a notice id");
        return -1;
    }
    sp->level = n->level;
    sp->unit_id = n->unit_id;
    if (n->case_id) snprintf(sp->case_id, sizeof sp->case_id, "%s", n->case_id);
    sp->reason_code = n->reason;
    sp->reason_text = (char *)n->reason_text; /* borrowed: not cleared below */
    deadline_time_format(dr.due_ms, sp->reply_due_at, sizeof sp->reply_due_at);

    char lv[8], by[32], iss[32], src[32], at[40];
    snprintf(lv, sizeof lv, "%d", n->level);
    snprintf(by, sizeof by, "%lld", n->issued_by);
    snprintf(iss, sizeof iss, "%lld", issuer);
    snprintf(src, sizeof src, "%lld", n->source_timer_id);
    deadline_time_format(now, at, sizeof at);
    pg_array_t contacts = {0};
    pg_array_start(&contacts);
    for (size_t i = 0; n->contact_ids && i < n->contact_ids->n; i++) pg_array_add(&contacts, n->contact_ids->items[i]);
    pg_array_end(&contacts);
    if (contacts.oom) {
        free(contacts.s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *pi[] = {sp->notice_id, lv, us, n->case_id, reasons[n->reason], n->reason_text, sp->reply_due_at,
                        n->in_bulletin ? "true" : "false", n->issued_by ? by : NULL, issuer ? iss : NULL,
                        n->source_timer_id ? src : NULL, at, contacts.s, n->source_event_id};
    /* no conflict target: a breach that fired again (source_timer_id, level), an event
     * delivered again (source_event_id) and a derived id seen again all issue nothing */
    if (pg_query(pg,
                 "INSERT INTO supervision_notices (id, notice_no, level, unit_id, case_id, reason_code, reason_text, "
                 "reply_due_at, in_bulletin, issued_by, issuer_unit_id, source_timer_id, issued_at, contact_ids, "
                 "source_event_id) VALUES ($1::uuid, "
                 "'DB-' || to_char($12::timestamptz AT TIME ZONE 'Asia/Shanghai', 'YYYY') || '-' || "
                 "lpad(nextval('supervision_notice_seq')::text, 6, '0'), $2::smallint, $3::bigint, $4::uuid, $5, $6, "
                 "$7::timestamptz, $8::boolean, $9::bigint, $10::bigint, $11::bigint, $12::timestamptz, $13::uuid[], "
                 "$14::uuid) ON CONFLICT DO NOTHING RETURNING notice_no",
                 14, pi, &r) != 0) {
        free(contacts.s);
        goto db;
    }
    free(contacts.s);
    int fresh = PQntuples(r) == 1;
    PQclear(r);
    r = NULL;
    if (!fresh) return 0;
    if (wout_add(out, &ev, err, errlen) != 0) return -1;
    /* the reply clock (a notice's own: no case, so its events go to the unit topic) */
    warm_t a = {.notice_id = sp->notice_id, .kind = TIMER_SUPERVISION_REPLY, .due_ms = dr.due_ms,
                .warn_ms = dr.warn_ms < dr.due_ms ? dr.warn_ms : 0, .unit_id = n->unit_id,
                .unit = timers_window_unit(win)};
    if (watcher_arm(w, pg, &a, NULL, NULL, err, errlen) != 0) return -1;
    if (id_out) snprintf(id_out, EVENT_UUID_SIZE, "%s", sp->notice_id);
    *issued = true;
    metric_inc(w->m_notices);
    LOGI("supervision notice issued", LF_STR("notice_id", sp->notice_id), LF_INT("level", n->level),
         LF_INT("unit_id", n->unit_id), LF_STR("case_id", n->case_id ? n->case_id : ""),
         LF_STR("reason", reasons[n->reason]), LF_STR("reply_due_at", sp->reply_due_at));
    return 0;
db:
    snprintf(err, errlen, "%s", pg->err);
    PQclear(r);
    return -1;
}

int watcher_notice_retry(watcher_t *w, pg_t *pg, const json_t *facts, char *msg, size_t msglen)
{
    const char *const *reasons = notice_reasons;
    const size_t nreasons = sizeof notice_reasons / sizeof notice_reasons[0];
    const char *reason = json_string_value(json_object_get(facts, "reason"));
    event_supervision_reason_t rc_ = EVENT_SUPERVISION_UNSET;
    for (size_t i = 1; reason && i < nreasons; i++)
        if (!strcmp(reason, reasons[i])) rc_ = (event_supervision_reason_t)i;
    const json_t *ids = json_object_get(facts, "contact_ids");
    char items[50][EVENT_UUID_SIZE];
    event_uuid_list_t contacts = {items, 0};
    for (size_t i = 0; i < json_array_size(ids) && i < 50; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (id) snprintf(items[contacts.n++], EVENT_UUID_SIZE, "%s", id);
    }
    wnotice_t n = {.level = (int)json_integer_value(json_object_get(facts, "level")),
                   .unit_id = json_integer_value(json_object_get(facts, "unit_id")),
                   .case_id = json_string_value(json_object_get(facts, "case_id")),
                   .reason = rc_,
                   .reason_text = json_string_value(json_object_get(facts, "reason_text")),
                   .issued_by = json_integer_value(json_object_get(facts, "issued_by")),
                   .source_timer_id = json_integer_value(json_object_get(facts, "source_timer_id")),
                   .in_bulletin = json_is_true(json_object_get(facts, "in_bulletin")),
                   .issued_ms = json_integer_value(json_object_get(facts, "issued_ms")),
                   .notice_id = json_string_value(json_object_get(facts, "notice_id")),
                   .source_event_id = json_string_value(json_object_get(facts, "source_event_id")),
                   .contact_ids = contacts.n ? &contacts : NULL};
    if (rc_ == EVENT_SUPERVISION_UNSET || n.level < 1 || n.level > 3 || n.unit_id <= 0 || n.reason_text == NULL) {
        snprintf(msg, msglen, "notice facts not understood");
        return 1;
    }
    event_actor_t actor = {.principal_id = 0, .role = EVENT_ROLE_SYSTEM};
    snprintf(actor.name, sizeof actor.name, "deadline-watcher");
    wout_t *out = wout_new();
    bool issued = false, input = false;
    if (out == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    int rc = watcher_notice_issue(w, pg, out, &n, &actor, NULL, &issued, &input, msg, msglen);
    if (rc != 0) rc = input ? 1 : -1;
    else if (wout_write(out, pg) != 0) rc = -1;
    wout_free(out);
    if (rc == 0)
        LOGI("supervision notice issued from its flag", LF_STR("case_id", n.case_id ? n.case_id : ""),
             LF_INT("unit_id", n.unit_id), LF_INT("level", n.level), LF_STR("reason", reason));
    return rc;
}

/* ---- consequences of a breach ----------------------------------------------------------------- */

static long long scalar(pg_t *pg, const char *sql, int n, const char *const *p, int *rc)
{
    PGresult *r = NULL;
    *rc = pg_query(pg, sql, n, p, &r);
    long long v = *rc == 0 && PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return v;
}

static int issue_system(watcher_t *w, pg_t *pg, wout_t *out, const wnotice_t *n, char *err, size_t errlen)
{
    event_actor_t actor = {.principal_id = 0, .role = EVENT_ROLE_SYSTEM};
    snprintf(actor.name, sizeof actor.name, "deadline-watcher");
    bool issued, input;
    if (watcher_notice_issue(w, pg, out, n, &actor, NULL, &issued, &input, err, errlen) != 0) {
        if (!input) return -1;
        LOGW("supervision notice not issued", LF_INT("unit_id", n->unit_id), LF_STR("error", err));
    }
    return 0;
}

static int cards_miss(watcher_t *w, pg_t *pg, wout_t *out, const wbreach_t *b, const policy_t *p, char *err,
                      size_t errlen)
{
    char us[32], ts[32];
    snprintf(us, sizeof us, "%lld", b->unit_id);
    snprintf(ts, sizeof ts, "%lld", b->timer_id);
    const char *pu[] = {us};
    PGresult *r = NULL;
    if (pg_query(pg, "INSERT INTO unit_card_runs (unit_id) VALUES ($1::bigint) ON CONFLICT DO NOTHING", 1, pu, NULL) != 0 ||
        pg_query(pg, "SELECT yellow_run, red_run FROM unit_card_runs WHERE unit_id = $1::bigint FOR UPDATE", 1, pu, &r) != 0)
        goto db;
    timers_card_run_t run = {atoi(PQgetvalue(r, 0, 0)), atoi(PQgetvalue(r, 0, 1))};
    PQclear(r);
    r = NULL;
    timers_card_t cards[2];
    int n = timers_cards_on_miss(p, &run, cards);
    char due[40];
    deadline_time_format(b->due_ms, due, sizeof due);
    for (int i = 0; i < n; i++) {
        event_t ev;
        if (event_init(&ev, EVENT_CARD_ISSUED) != 0) {
            snprintf(err, errlen, "no random bytes for an event id");
            return -1;
        }
        watcher_actor_system(&ev);
        ev.unit_id = b->unit_id;
        event_card_issued_t *c = &ev.payload.card_issued;
        if (event_uuid_new(c->card_id) != 0) {
            snprintf(err, errlen, "no random bytes for a card id");
            return -1;
        }
        c->unit_id = b->unit_id;
        c->colour = cards[i].colour;
        c->consecutive = cards[i].consecutive;
        c->interview_of = cards[i].interview_of;
        c->reason_code = cards[i].reason;
        char text[500];
        if (cards[i].colour == EVENT_COLOUR_YELLOW)
            snprintf(text, sizeof text, "未在规定时间内向平台反馈办理情况（%s%s，时限%s），亮黄牌（连续第%d张）。",
                     b->case_no[0] ? "诉求编号" : "督办单回复", b->case_no[0] ? b->case_no : "", due, cards[i].consecutive);
        else if (cards[i].interview_of == EVENT_INTERVIEW_PRINCIPAL_HEAD)
            snprintf(text, sizeof text, "连续%d次被亮红牌，由市政府领导约谈单位主要负责人。", cards[i].consecutive);
        else
            snprintf(text, sizeof text, "连续%d次被亮黄牌，予以红牌警示（连续第%d张），由专班约谈单位分管负责人。",
                     p->cards_red_after_yellows > 0 ? p->cards_red_after_yellows : 2, cards[i].consecutive);
        c->reason_text = text;
        if (b->case_id) {
            snprintf(c->case_id, sizeof c->case_id, "%s", b->case_id);
            snprintf(ev.case_id, sizeof ev.case_id, "%s", b->case_id);
        }
        static const char *const colours[] = {NULL, "yellow", "red"};
        static const char *const interviews[] = {NULL, "none", "deputy_head", "principal_head"};
        static const char *const reasons[] = {NULL, "missed_feedback_deadline", "consecutive_yellow", "consecutive_red"};
        char cons[24];
        snprintf(cons, sizeof cons, "%lld", (long long)c->consecutive);
        const char *pc[] = {c->card_id, us, colours[c->colour], cons, interviews[c->interview_of], reasons[c->reason_code],
                            text, b->case_id, ts};
        if (pg_query(pg, "INSERT INTO unit_cards (id, unit_id, colour, consecutive, interview_of, reason_code, reason_text, "
                         "case_id, source_timer_id) VALUES ($1::uuid, $2::bigint, $3, $4::smallint, $5, $6, $7, $8::uuid, "
                         "$9::bigint) ON CONFLICT (source_timer_id, colour) DO NOTHING RETURNING id",
                     9, pc, &r) != 0)
            goto db;
        int fresh = PQntuples(r) == 1;
        PQclear(r);
        r = NULL;
        c->reason_text = NULL;
        if (!fresh) return 0; /* this breach has carded already: leave the run as it was */
        c->reason_text = text;
        int rc = wout_add(out, &ev, err, errlen);
        c->reason_text = NULL;
        if (rc != 0) return -1;
        metric_inc(w->m_cards);
        LOGI("card shown", LF_STR("card_id", c->card_id), LF_INT("unit_id", b->unit_id), LF_STR("colour", colours[c->colour]),
             LF_INT("consecutive", c->consecutive), LF_STR("interview_of", interviews[c->interview_of]));
    }
    char yr[8], rr[8];
    snprintf(yr, sizeof yr, "%d", run.yellow_run);
    snprintf(rr, sizeof rr, "%d", run.red_run);
    const char *pr[] = {us, yr, rr};
    if (pg_query(pg, "UPDATE unit_card_runs SET yellow_run = $2::smallint, red_run = $3::smallint, updated_at = now() "
                     "WHERE unit_id = $1::bigint", 3, pr, NULL) != 0)
        goto db;
    return 0;
db:
    snprintf(err, errlen, "%s", pg->err);
    PQclear(r);
    return -1;
}

int watcher_cards_on_time(watcher_t *w, pg_t *pg, long long unit_id, const policy_t *p)
{
    (void)w;
    if (p == NULL || !p->cards_enabled || unit_id <= 0) return 0;
    char us[32];
    snprintf(us, sizeof us, "%lld", unit_id);
    const char *pu[] = {us};
    return pg_query(pg, "UPDATE unit_card_runs SET yellow_run = 0, red_run = 0, updated_at = now() "
                        "WHERE unit_id = $1::bigint AND (yellow_run > 0 OR red_run > 0)", 1, pu, NULL);
}

int watcher_on_breach(watcher_t *w, pg_t *pg, wout_t *out, const wbreach_t *b, const policy_t *p, char *err,
                      size_t errlen)
{
    if (p == NULL || b->unit_id <= 0) return 0;
    char us[32], at[40], due[40], win[16], ts[32];
    snprintf(us, sizeof us, "%lld", b->unit_id);
    snprintf(ts, sizeof ts, "%lld", b->timer_id);
    snprintf(win, sizeof win, "%ld", w->cfg->rectify_window_days);
    deadline_time_format(b->fired_ms, at, sizeof at);
    deadline_time_format(b->due_ms, due, sizeof due);
    int rc = 0;

    if (b->kind == TIMER_SIGN_FOR && p->sup_reminder_unsigned_times > 0) {
        /* 无故多次不签收: this unit's sign-for breaches since its last such reminder */
        const char *pc[] = {us, at};
        long long n = scalar(pg,
                             "SELECT count(*) FROM timers WHERE unit_id = $1::bigint AND kind = 'sign_for' AND "
                             "state = 'fired' AND fired_at > coalesce((SELECT max(issued_at) FROM supervision_notices "
                             "WHERE unit_id = $1::bigint AND reason_code = 'not_signed'), '-infinity') AND "
                             "fired_at <= $2::timestamptz",
                             2, pc, &rc);
        if (rc != 0) goto db;
        if (n >= p->sup_reminder_unsigned_times) {
            char text[400];
            snprintf(text, sizeof text, "贵单位在办理编号%s企业诉求时超过签收时限（%s）未签收，累计%lld次未按时签收，"
                     "现予以提醒敦促。", b->case_no, due, n);
            wnotice_t nt = {.level = 1, .unit_id = b->unit_id, .case_id = b->case_id,
                            .reason = EVENT_SUPERVISION_NOT_SIGNED, .reason_text = text, .source_timer_id = b->timer_id,
                            .issued_ms = b->fired_ms};
            if (issue_system(w, pg, out, &nt, err, errlen) != 0) return -1;
        }
    }
    if ((b->kind == TIMER_RESOLVE_BY || b->kind == TIMER_REDO_BY) && p->sup_reminder_overdue) {
        char text[400];
        snprintf(text, sizeof text, "贵单位在办理编号%s企业诉求时已超过%s时限（%s）未办结反馈，现予以提醒敦促，请抓紧办理。",
                 b->case_no, b->kind == TIMER_REDO_BY ? "二次办理" : "办理", due);
        wnotice_t nt = {.level = 1, .unit_id = b->unit_id, .case_id = b->case_id, .reason = EVENT_SUPERVISION_OVERDUE,
                        .reason_text = text, .source_timer_id = b->timer_id, .issued_ms = b->fired_ms};
        if (issue_system(w, pg, out, &nt, err, errlen) != 0) return -1;
        /* repeated breaches of one unit: reminders in the window since its last rectification */
        const char *pc[] = {us, at, win};
        long long n = scalar(pg,
                             "SELECT count(*) FROM supervision_notices WHERE unit_id = $1::bigint AND level = 1 AND "
                             "reason_code = 'overdue' AND issued_at > greatest($2::timestamptz - make_interval(days => "
                             "$3::int), coalesce((SELECT max(issued_at) FROM supervision_notices WHERE unit_id = $1::bigint "
                             "AND level = 2 AND reason_code = 'overdue'), '-infinity')) AND issued_at <= $2::timestamptz",
                             3, pc, &rc);
        if (rc != 0) goto db;
        if (n >= w->cfg->rectify_after_reminders) {
            char t2[400];
            snprintf(t2, sizeof t2, "贵单位%ld日内已%lld次因诉求超期未办结被提醒敦促（最近一次：编号%s），仍未改正，"
                     "现予以挂牌督办，请限期整改并书面反馈。", w->cfg->rectify_window_days, n, b->case_no);
            wnotice_t nt2 = {.level = 2, .unit_id = b->unit_id, .case_id = b->case_id, .reason = EVENT_SUPERVISION_OVERDUE,
                             .reason_text = t2, .source_timer_id = b->timer_id, .in_bulletin = p->sup_rectify_in_bulletin,
                             .issued_ms = b->fired_ms};
            if (issue_system(w, pg, out, &nt2, err, errlen) != 0) return -1;
        }
    }
    if (timers_kind_is_report(b->kind) && p->cards_enabled && cards_miss(w, pg, out, b, p, err, errlen) != 0) return -1;
    return 0;
db:
    snprintf(err, errlen, "%s", pg->err);
    return -1;
}
