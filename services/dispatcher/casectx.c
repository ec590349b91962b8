/*
 * casectx.c — what every dispatcher transition shares: after casestore_lock has locked the
 * case row and checked version and state, load what the dispatcher keeps about the case
 * (its tier and responsible centre, deadlines, routing state, the units holding it), decide
 * whether the caller may even know the case exists, write the one UPDATE of the cases row and
 * the event, and answer. Deadlines come from the region's policy profile and the working-day
 * calendar (common/deadline.h), profiles cached per region for a minute.
 *
 * Scope rules (DOMAIN.md §8, ARCHITECTURE.md "Who may do what"): a unit sees and acts only on
 * cases it holds (active case_units rows); a centre on cases whose responsible centre is its
 * own or below it — the case's region under the centre's, at the centre's tier or a lower one.
 * Whatever a caller may not see is 404, never 403, so a refusal leaks nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "deadline.h"
#include "dispatcher.h"
#include "log.h"
#include "reqval.h"

/* ---- time ----------------------------------------------------------------------------------- */

int64_t dsp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *dsp_time(int64_t ms, char *buf, size_t len)
{
    if (ms == 0) buf[0] = '\0';
    else deadline_time_format(ms, buf, len);
    return buf;
}

int64_t dsp_parse_time(const char *s)
{
    int64_t ms = 0;
    if (s == NULL || !*s || deadline_time_parse(s, &ms, NULL, 0) != 0) return 0;
    return ms;
}

static int64_t col_ms(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- prepared statements ------------------------------------------------------------------------ */

#define MS(x) "(extract(epoch from " x ") * 1000)::bigint"

/* case_dispatch's upsert, shared by DSP_ST_SAVE and DSP_ST_DISPATCH: the case is $1, the other
 * 17 values are numbered from $<first>. */
#define SAVE_COLS                                                                                        \
    "(case_id, matter_type, catalogue_version, route_basis, queue, queue_reason, queued_at, attempts, "  \
    "returns, remit_decided_at, dispatched_at, sign_by, resolve_by, resolve_window, agreed_at, "         \
    "ext_granted, ext_count, handling_round)"
#define SAVE_VALUES(id, f) "($" #id "::uuid, " SAVE_VALUES_##f ")"
#define SAVE_VALUES_2                                                                                    \
    "$2, $3::int, $4, $5, $6, $7::timestamptz, $8::int, $9::int, $10::timestamptz, $11::timestamptz, "   \
    "$12::timestamptz, $13::timestamptz, $14, $15::timestamptz, $16::int, $17::int, $18::int"
#define SAVE_VALUES_8                                                                                    \
    "$8, $9::int, $10, $11, $12, $13::timestamptz, $14::int, $15::int, $16::timestamptz, "               \
    "$17::timestamptz, $18::timestamptz, $19::timestamptz, $20, $21::timestamptz, $22::int, $23::int, "  \
    "$24::int"
#define SAVE_CONFLICT                                                                                    \
    " ON CONFLICT (case_id) DO UPDATE SET matter_type = EXCLUDED.matter_type, "                          \
    "catalogue_version = EXCLUDED.catalogue_version, route_basis = EXCLUDED.route_basis, "               \
    "queue = EXCLUDED.queue, queue_reason = EXCLUDED.queue_reason, queued_at = EXCLUDED.queued_at, "     \
    "attempts = EXCLUDED.attempts, returns = EXCLUDED.returns, "                                         \
    "remit_decided_at = EXCLUDED.remit_decided_at, dispatched_at = EXCLUDED.dispatched_at, "             \
    "sign_by = EXCLUDED.sign_by, resolve_by = EXCLUDED.resolve_by, "                                     \
    "resolve_window = EXCLUDED.resolve_window, agreed_at = EXCLUDED.agreed_at, "                         \
    "ext_granted = EXCLUDED.ext_granted, ext_count = EXCLUDED.ext_count, "                               \
    "handling_round = EXCLUDED.handling_round, updated_at = now()"

static const struct {
    const char *name;
    int nparams;
    const char *sql;
} stmts[DSP_ST_COUNT] = {
    [DSP_ST_LOAD] = {"dsp_load", 1,
                     "SELECT c.tier, r.tier, c.complexity, c.confidential, " MS("c.due_at") ", d.case_id IS NOT NULL, "
                     "coalesce(d.matter_type, (SELECT e.payload->>'matter_type' FROM case_events e "
                     "  WHERE e.case_id = c.id AND e.type = 'case.accepted' ORDER BY e.id DESC LIMIT 1), ''), "
                     "coalesce(d.catalogue_version, 0), coalesce(d.route_basis, ''), coalesce(d.queue, ''), "
                     "coalesce(d.queue_reason, ''), " MS("d.queued_at") ", coalesce(d.attempts, 0), "
                     "coalesce(d.returns, 0), coalesce(d.handling_round, 1), coalesce(d.ext_granted, 0), "
                     "coalesce(d.ext_count, 0), " MS("d.remit_decided_at") ", " MS("d.dispatched_at") ", "
                     MS("d.sign_by") ", " MS("d.resolve_by") ", " MS("d.agreed_at") ", coalesce(d.resolve_window, ''), "
                     "coalesce((SELECT string_agg(u.unit_id || ':' || (u.role = 'lead')::int || ':' || "
                     "  (u.signed_at IS NOT NULL)::int, ',' ORDER BY u.id) FROM case_units u "
                     "  WHERE u.case_id = c.id AND u.released_at IS NULL), '') "
                     "FROM cases c JOIN regions r ON r.code = c.region_code "
                     "LEFT JOIN case_dispatch d ON d.case_id = c.id WHERE c.id = $1::uuid"},
    [DSP_ST_ANCESTOR] = {"dsp_ancestor", 2, "SELECT coalesce(region_ancestor_at($1, $2::smallint), $1)"},
    [DSP_ST_SAVE] = {"dsp_save", 18, "INSERT INTO case_dispatch " SAVE_COLS " VALUES " SAVE_VALUES(1, 2) SAVE_CONFLICT},
    [DSP_ST_UPDATE] = {"dsp_update", 9,
                       "UPDATE cases SET state = $2, version = $3::int, "
                       "lead_unit_id = CASE WHEN $4::bool THEN $5::bigint ELSE lead_unit_id END, "
                       "due_at = CASE WHEN $6::bool THEN $7::timestamptz ELSE due_at END, "
                       "tier = CASE WHEN $8::bool THEN $9::smallint ELSE tier END WHERE id = $1::uuid"},
    [DSP_ST_RELEASE] = {"dsp_release", 2,
                        "UPDATE case_units SET released_at = greatest(now(), assigned_at), release_reason = $2 "
                        "WHERE case_id = $1::uuid AND released_at IS NULL"},
    [DSP_ST_LED_BEFORE] = {"dsp_led_before", 2,
                           "SELECT 1 FROM case_units WHERE case_id = $1::uuid AND unit_id = $2::bigint "
                           "AND role = 'lead' AND released_at IS NOT NULL LIMIT 1"},
    [DSP_ST_ROUTE] = {"dsp_route", 2, NULL /* catalogue_route_sql() */},
    [DSP_ST_PROFILE] = {"dsp_profile", 1, "SELECT region_effective_profile($1)"},
    /* A dispatch's three writes in one statement (one round trip): the holders, the case row,
     * the routing state. $1 case, $2 lead, $3 co-handlers, $4 state, $5 version, $6 due_at,
     * $7 tier, $8… the routing state as DSP_ST_SAVE's $2… */
    [DSP_ST_DISPATCH] = {"dsp_dispatch", 24,
                         "WITH a AS (INSERT INTO case_units (case_id, unit_id, role) SELECT $1::uuid, $2::bigint, 'lead' "
                         "  UNION ALL SELECT $1::uuid, x, 'co' FROM unnest($3::bigint[]) AS x), "
                         "u AS (UPDATE cases SET state = $4, version = $5::int, lead_unit_id = $2::bigint, "
                         "  due_at = $6::timestamptz, tier = $7::smallint WHERE id = $1::uuid) "
                         "INSERT INTO case_dispatch " SAVE_COLS " VALUES " SAVE_VALUES(1, 8) SAVE_CONFLICT},
};

/* pg.c's classes (pg_classify), for the statements run here directly. */
static pg_class_t classify(const char *st)
{
    if (st == NULL) return PG_RETRY;
    if (!strncmp(st, "08", 2) || !strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03") ||
        !strcmp(st, "57014") || !strncmp(st, "53", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
        !strcmp(st, "57P03"))
        return PG_RETRY;
    if (!strcmp(st, "23505")) return PG_CONFLICT;
    return PG_PERMANENT;
}

/* Keeps the outcome of r on pg as pg_query does; only the primary message, never DETAIL, which
 * can quote values (personal data). Returns 0 for success. */
static int outcome(pg_t *pg, PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        pg->last_class = PG_OK;
        pg->sqlstate[0] = '\0';
        return 0;
    }
    const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", code ? code : "");
    pg->last_class = classify(code);
    snprintf(pg->err, sizeof pg->err, "%s", msg ? msg : PQerrorMessage(pg->conn));
    for (char *p = pg->err; *p; p++)
        if (*p == '\n') *p = ' ';
    if (PQstatus(pg->conn) != CONNECTION_OK) pg->in_tx = 0;
    return -1;
}

int dsp_exec(dispatcher_t *ds, pg_t *pg, dsp_stmt_t st, const char *const *params, PGresult **res)
{
    if (res) *res = NULL;
    const char *sql = st == DSP_ST_ROUTE ? catalogue_route_sql() : stmts[st].sql;
    if (!pg->in_tx && pg_ensure(pg) != 0) return -1;
    int pid = PQbackendPID(pg->conn), slot = -1;
    for (int i = 0; i < DSP_PREP_SLOTS && slot < 0; i++)
        if (ds->prep[i].pg == pg) slot = i;
    for (int i = 0; i < DSP_PREP_SLOTS && slot < 0; i++)
        if (ds->prep[i].pg == NULL) slot = i, ds->prep[i].pg = pg, ds->prep[i].backend_pid = -1;
    if (slot < 0) return pg_query(pg, sql, stmts[st].nparams, params, res); /* no room: plan each time */
    if (ds->prep[slot].backend_pid != pid) {
        ds->prep[slot].backend_pid = pid;
        ds->prep[slot].prepared = 0;
    }
    unsigned bit = 1u << (unsigned)st;
    if (!(ds->prep[slot].prepared & bit)) {
        PGresult *p = PQprepare(pg->conn, stmts[st].name, sql, stmts[st].nparams, NULL);
        int rc = outcome(pg, p);
        PQclear(p);
        if (rc != 0) return -1;
        ds->prep[slot].prepared |= bit;
    }
    PGresult *r = PQexecPrepared(pg->conn, stmts[st].name, stmts[st].nparams, params, NULL, NULL, 0);
    if (outcome(pg, r) != 0) {
        PQclear(r);
        return -1;
    }
    if (res) *res = r;
    else PQclear(r);
    return 0;
}

/* ---- loading and saving ------------------------------------------------------------------------ */

int dsp_case_load(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, const char *matter_type_hint)
{
    const char *p[] = {c->cur.id};
    PGresult *r = NULL;
    if (dsp_exec(ds, pg, DSP_ST_LOAD, p, &r) != 0) return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        snprintf(pg->err, sizeof pg->err, "case %s vanished under its lock", c->cur.id);
        pg->last_class = PG_PERMANENT;
        return -1;
    }
    c->tier = atoi(PQgetvalue(r, 0, 0));
    c->region_tier = atoi(PQgetvalue(r, 0, 1));
    snprintf(c->complexity, sizeof c->complexity, "%s", PQgetvalue(r, 0, 2));
    c->confidential = PQgetvalue(r, 0, 3)[0] == 't';
    c->due_ms = col_ms(r, 0, 4);
    c->has_dispatch = PQgetvalue(r, 0, 5)[0] == 't';
    snprintf(c->matter_type, sizeof c->matter_type, "%s", PQgetvalue(r, 0, 6));
    if (!c->matter_type[0] && matter_type_hint) snprintf(c->matter_type, sizeof c->matter_type, "%s", matter_type_hint);
    if (!c->matter_type[0]) snprintf(c->matter_type, sizeof c->matter_type, "未分类");
    c->catalogue_version = atoi(PQgetvalue(r, 0, 7));
    snprintf(c->route_basis, sizeof c->route_basis, "%s", PQgetvalue(r, 0, 8));
    snprintf(c->queue, sizeof c->queue, "%s", PQgetvalue(r, 0, 9));
    snprintf(c->queue_reason, sizeof c->queue_reason, "%s", PQgetvalue(r, 0, 10));
    c->queued_ms = col_ms(r, 0, 11);
    c->attempts = atoi(PQgetvalue(r, 0, 12));
    c->returns = atoi(PQgetvalue(r, 0, 13));
    c->handling_round = atoi(PQgetvalue(r, 0, 14));
    c->ext_granted = atoi(PQgetvalue(r, 0, 15));
    c->ext_count = atoi(PQgetvalue(r, 0, 16));
    c->remit_ms = col_ms(r, 0, 17);
    c->dispatched_ms = col_ms(r, 0, 18);
    c->sign_by_ms = col_ms(r, 0, 19);
    c->resolve_by_ms = col_ms(r, 0, 20);
    c->agreed_ms = col_ms(r, 0, 21);
    snprintf(c->resolve_window, sizeof c->resolve_window, "%s", PQgetvalue(r, 0, 22));
    /* holders as "unit:lead:signed,…" */
    c->nholders = 0;
    for (const char *h = PQgetvalue(r, 0, 23); *h && c->nholders < DSP_MAX_HOLDERS;) {
        char *end;
        long long unit = strtoll(h, &end, 10);
        if (end == h || end[0] != ':' || end[2] != ':') break;
        c->holders[c->nholders++] = (dsp_holder_t){unit, end[1] == '1', end[3] == '1'};
        h = end + 4;
        if (*h == ',') h++;
    }
    PQclear(r);
    /* The responsible centre's region: the case's own while it is handled at its own tier (the
     * usual case, no query); else its ancestor at that tier. */
    if (c->tier == c->region_tier) {
        snprintf(c->resp_region, sizeof c->resp_region, "%s", c->cur.region_code);
        return 0;
    }
    char t[16];
    snprintf(t, sizeof t, "%d", c->tier);
    const char *pa[] = {c->cur.region_code, t};
    if (dsp_exec(ds, pg, DSP_ST_ANCESTOR, pa, &r) != 0) return -1;
    snprintf(c->resp_region, sizeof c->resp_region, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

const dsp_holder_t *dsp_holder(const dsp_case_t *c, long long unit_id)
{
    for (size_t i = 0; unit_id > 0 && i < c->nholders; i++)
        if (c->holders[i].unit_id == unit_id) return &c->holders[i];
    return NULL;
}

/* The 17 values of the routing state after the case id, in SAVE_COLS order; texts live in b. */
typedef struct {
    char cv[16], at[16], rt[16], hr[16], eg[16], ec[16];
    char qd[40], rm[40], di[40], sb[40], rb[40], ag[40];
} state_bufs_t;

static void state_params(const dsp_case_t *c, state_bufs_t *b, const char *p[17])
{
    snprintf(b->cv, sizeof b->cv, "%d", c->catalogue_version);
    snprintf(b->at, sizeof b->at, "%d", c->attempts);
    snprintf(b->rt, sizeof b->rt, "%d", c->returns);
    snprintf(b->hr, sizeof b->hr, "%d", c->handling_round);
    snprintf(b->eg, sizeof b->eg, "%d", c->ext_granted);
    snprintf(b->ec, sizeof b->ec, "%d", c->ext_count);
    const char *v[17] = {c->matter_type,
                         c->catalogue_version > 0 ? b->cv : NULL,
                         c->route_basis[0] ? c->route_basis : NULL,
                         c->queue[0] ? c->queue : NULL,
                         c->queue[0] && c->queue_reason[0] ? c->queue_reason : NULL,
                         c->queue[0] ? dsp_time(c->queued_ms ? c->queued_ms : dsp_now_ms(), b->qd, sizeof b->qd) : NULL,
                         b->at,
                         b->rt,
                         c->remit_ms ? dsp_time(c->remit_ms, b->rm, sizeof b->rm) : NULL,
                         c->dispatched_ms ? dsp_time(c->dispatched_ms, b->di, sizeof b->di) : NULL,
                         c->sign_by_ms ? dsp_time(c->sign_by_ms, b->sb, sizeof b->sb) : NULL,
                         c->resolve_by_ms ? dsp_time(c->resolve_by_ms, b->rb, sizeof b->rb) : NULL,
                         c->resolve_window[0] ? c->resolve_window : NULL,
                         c->agreed_ms ? dsp_time(c->agreed_ms, b->ag, sizeof b->ag) : NULL,
                         b->eg,
                         b->ec,
                         b->hr};
    memcpy(p, v, sizeof v);
}

int dsp_state_save(dispatcher_t *ds, pg_t *pg, const dsp_case_t *c)
{
    state_bufs_t b;
    const char *p[18] = {c->cur.id};
    state_params(c, &b, p + 1);
    return dsp_exec(ds, pg, DSP_ST_SAVE, p, NULL);
}

int dsp_dispatch_write(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, long long lead, const char *co_literal,
                       casefsm_state_t to, int64_t due_ms, int tier)
{
    char l[24], ver[16], due[40], t[16];
    snprintf(l, sizeof l, "%lld", lead);
    snprintf(ver, sizeof ver, "%d", c->cur.version + 1);
    snprintf(t, sizeof t, "%d", tier);
    state_bufs_t b;
    const char *p[24] = {c->cur.id, l, co_literal, casefsm_state_to_str(to), ver,
                         due_ms ? dsp_time(due_ms, due, sizeof due) : NULL, t};
    state_params(c, &b, p + 7);
    if (dsp_exec(ds, pg, DSP_ST_DISPATCH, p, NULL) != 0) return -1;
    c->cur.version++;
    c->cur.lead_unit_id = lead;
    c->due_ms = due_ms;
    c->tier = tier;
    return 0;
}

int dsp_case_update(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, casefsm_state_t to, const dsp_update_t *u)
{
    char ver[16], lead[24], due[40], tier[16];
    snprintf(ver, sizeof ver, "%d", c->cur.version + 1);
    snprintf(lead, sizeof lead, "%lld", u ? u->lead : 0);
    snprintf(tier, sizeof tier, "%d", u ? u->tier : 0);
    const char *p[] = {c->cur.id,
                       casefsm_state_to_str(to),
                       ver,
                       u && u->set_lead ? "true" : "false",
                       u && u->set_lead && u->lead > 0 ? lead : NULL,
                       u && u->set_due ? "true" : "false",
                       u && u->set_due && u->due_ms ? dsp_time(u->due_ms, due, sizeof due) : NULL,
                       u && u->set_tier ? "true" : "false",
                       u && u->set_tier ? tier : NULL};
    if (dsp_exec(ds, pg, DSP_ST_UPDATE, p, NULL) != 0) return -1;
    c->cur.version++;
    if (u && u->set_lead) c->cur.lead_unit_id = u->lead;
    if (u && u->set_due) c->due_ms = u->due_ms;
    if (u && u->set_tier) c->tier = u->tier;
    return 0;
}

int dsp_record(pg_t *pg, dsp_case_t *c, const event_t *ev, casefsm_state_t to, char *err, size_t errlen)
{
    if (casestore_record(pg, ev, c->cur.state, to, c->cur.version, err, errlen) != 0) return -1;
    c->cur.state = to;
    return 0;
}

int dsp_release_all(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, const char *reason)
{
    const char *p[] = {c->cur.id, reason};
    if (dsp_exec(ds, pg, DSP_ST_RELEASE, p, NULL) != 0) return -1;
    c->nholders = 0;
    return 0;
}

/* ---- profiles and deadlines -------------------------------------------------------------------- */

#define PC_SLOTS 2048 /* power of two; a province has ~1,400 regions */
#define PC_TTL_MS 60000

struct profile_cache {
    struct {
        char region[16];
        const policy_t *p;
        int64_t expires;
    } slot[PC_SLOTS];
};

profile_cache_t *profile_cache_new(void) { return calloc(1, sizeof(profile_cache_t)); }
void profile_cache_free(profile_cache_t *pc) { free(pc); }

static size_t pc_index(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h & (PC_SLOTS - 1);
}

const policy_t *dsp_profile(dispatcher_t *ds, pg_t *pg, const char *region, char *err, size_t errlen)
{
    size_t i = pc_index(region);
    int64_t now = dsp_now_ms();
    if (ds->profiles && !strcmp(ds->profiles->slot[i].region, region) && ds->profiles->slot[i].expires > now)
        return ds->profiles->slot[i].p;
    const char *p[] = {region};
    PGresult *r = NULL;
    if (dsp_exec(ds, pg, DSP_ST_PROFILE, p, &r) != 0) {
        snprintf(err, errlen, "reading the policy profile of %s: %s", region, pg->err);
        return NULL;
    }
    const policy_t *pol = NULL;
    if (!PQgetisnull(r, 0, 0)) {
        pol = policy_set_find(ds->policies, PQgetvalue(r, 0, 0));
        if (pol == NULL)
            snprintf(err, errlen, "region %s names the policy profile \"%s\", which is not loaded from %s", region,
                     PQgetvalue(r, 0, 0), ds->cfg->policy_dir);
    } else {
        pol = policy_set_find_for_region(ds->policies, region);
        if (pol == NULL) snprintf(err, errlen, "no policy profile applies to region %s", region);
    }
    PQclear(r);
    if (pol && ds->profiles) {
        snprintf(ds->profiles->slot[i].region, sizeof ds->profiles->slot[i].region, "%s", region);
        ds->profiles->slot[i].p = pol;
        ds->profiles->slot[i].expires = now + PC_TTL_MS;
    }
    return pol;
}

int dsp_deadline(dispatcher_t *ds, const policy_t *p, const char *region, const policy_window_t *w, int64_t from_ms,
                 int extension, int64_t *due_ms, char *err, size_t errlen)
{
    deadline_input_t in = {.cal = ds->cal, .region = region, .profile = p, .window = w, .from_ms = from_ms,
                           .extension = extension};
    deadline_result_t out;
    if (deadline_compute(&in, &out, err, errlen) != 0) return -1;
    *due_ms = out.due_ms;
    return 0;
}

/* ---- actors, replies, audit ------------------------------------------------------------------- */

static casefsm_role_t role_of(const http_principal_t *p)
{
    for (unsigned r = CASEFSM_ROLE_NONE + 1; p && r < CASEFSM_ROLE_COUNT; r++)
        if (p->role == CASEFSM_BIT(r)) return (casefsm_role_t)r;
    return CASEFSM_ROLE_NONE;
}

void dsp_actor(event_t *ev, const http_principal_t *p)
{
    static const event_role_t map[CASEFSM_ROLE_COUNT] = {
        [CASEFSM_ROLE_ENTERPRISE] = EVENT_ROLE_ENTERPRISE, [CASEFSM_ROLE_AGENT] = EVENT_ROLE_AGENT,
        [CASEFSM_ROLE_CENTRE] = EVENT_ROLE_CENTRE,         [CASEFSM_ROLE_UNIT] = EVENT_ROLE_UNIT,
        [CASEFSM_ROLE_SUPERVISOR] = EVENT_ROLE_SUPERVISOR, [CASEFSM_ROLE_LEADER] = EVENT_ROLE_LEADER,
        [CASEFSM_ROLE_DISCIPLINE] = EVENT_ROLE_DISCIPLINE, [CASEFSM_ROLE_OPERATOR] = EVENT_ROLE_OPERATOR,
        [CASEFSM_ROLE_SYSTEM] = EVENT_ROLE_SYSTEM};
    casefsm_role_t r = role_of(p);
    ev->actor.principal_id = p ? p->id : 0;
    ev->actor.role = p && map[r] ? map[r] : EVENT_ROLE_SYSTEM;
    snprintf(ev->actor.name, sizeof ev->actor.name, "%s", p && p->name[0] ? p->name : "jiesu-dispatcher");
}

void dsp_reply_db(http_req_t *req, pg_t *pg, const char *what)
{
    LOGE("database error", LF_STR("req", http_req_id(req)), LF_STR("during", what), LF_STR("sqlstate", pg->sqlstate),
         LF_STR("error", pg->err));
    if (pg->last_class == PG_RETRY) {
        http_reply_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "unavailable", NULL, "the case store is busy or unreachable; retry");
    } else {
        http_reply_error(req, 500, "internal", NULL, "the action could not be stored (request %s)", http_req_id(req));
    }
}

void dsp_reply_conflict(http_req_t *req, const dsp_case_t *c, const char *code, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_reply_json(req, 409,
                    json_pack("{s:{s:s,s:s,s:n},s:s,s:i}", "error", "code", code, "message", msg, "field", "state",
                              casefsm_state_to_str(c->cur.state) ? casefsm_state_to_str(c->cur.state) : "unknown",
                              "version", c->cur.version));
}

void dsp_audit(pg_t *pg, const http_principal_t *p, const char *object, json_t *detail)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%lld", p ? p->id : 0);
    char *d = json_dumps(detail, JSON_COMPACT);
    const char *pa[] = {p ? pid : NULL, object, d};
    if (d == NULL || pg_query(pg,
                              "INSERT INTO audit_log (principal_id, action, object, detail) "
                              "VALUES ($1::bigint, 'case.read', $2, $3::jsonb)",
                              3, pa, NULL) != 0)
        LOGW("audit write failed", LF_STR("object", object), LF_STR("error", pg->err));
    free(d);
    json_decref(detail);
}

int dsp_code_tier(const char *code)
{
    size_t n = code ? strlen(code) : 0;
    if (n == 0 || strspn(code, "0123456789") != n) return 0;
    if (n == 9 || n == 12) return 4;
    if (n != 6) return 0;
    if (!strcmp(code + 2, "0000")) return 1;
    if (!strcmp(code + 4, "00")) return 2;
    return 3;
}

void dsp_region_like(const char *code, char *out, size_t len)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s", code);
    size_t n = strlen(prefix);
    while (n > 2 && n <= 6 && prefix[n - 1] == '0' && prefix[n - 2] == '0') prefix[n -= 2] = '\0';
    snprintf(out, len, "%s%%", prefix);
}

/* ---- the frame of an HTTP action --------------------------------------------------------------- */

/* May p know this case? (Decides 404 before anything about the case is answered.) */
static bool visible(const http_principal_t *p, const dsp_case_t *c)
{
    if (p->role == AUTH_ROLE_UNIT) return dsp_holder(c, p->unit_id) != NULL;
    if (p->role == AUTH_ROLE_CENTRE || p->role == AUTH_ROLE_LEADER)
        return p->region_code[0] && auth_region_covers(p->region_code, c->resp_region);
    return false;
}

int dsp_begin_action(dispatcher_t *ds, http_req_t *req, const char *case_id, int version, casefsm_action_t action,
                     dsp_case_t *c, casefsm_state_t *to)
{
    const http_principal_t *p = http_req_principal(req);
    pg_t *pg = ds->pg;
    memset(c, 0, sizeof *c);
    if (pg_begin(pg) != 0) {
        dsp_reply_db(req, pg, "begin");
        return -1;
    }
    casefsm_role_t role = role_of(p);
    /* A leader decides extensions where the profile says so; the machine knows it as centre work. */
    if (role == CASEFSM_ROLE_LEADER && action == CASEFSM_ACTION_DECIDE_EXTENSION) role = CASEFSM_ROLE_CENTRE;
    casestore_rc_t rc = casestore_lock(pg, case_id, version, action, role, &c->cur, to);
    if (rc == CASESTORE_DB) {
        pg_rollback(pg);
        dsp_reply_db(req, pg, "locking the case");
        return -1;
    }
    if (rc == CASESTORE_NOT_FOUND) {
        pg_rollback(pg);
        http_reply_error(req, 404, "not_found", NULL, "no such case");
        return -1;
    }
    if (dsp_case_load(ds, pg, c, NULL) != 0) {
        pg_rollback(pg);
        dsp_reply_db(req, pg, "loading the case");
        return -1;
    }
    if (!visible(p, c)) {
        pg_rollback(pg);
        http_reply_error(req, 404, "not_found", NULL, "no such case");
        return -1;
    }
    if (rc == CASESTORE_OK) return 0;
    pg_rollback(pg);
    metric_inc(ds->m_refused);
    if (rc == CASESTORE_CONFLICT)
        dsp_reply_conflict(req, c, "conflict", "the case changed since you read it (now version %d, %s)", c->cur.version,
                           casefsm_state_to_str(c->cur.state));
    else if (rc == CASESTORE_BAD_STATE)
        dsp_reply_conflict(req, c, "bad_state", "%s is not possible while the case is %s", casefsm_action_to_str(action),
                           casefsm_state_to_str(c->cur.state));
    else
        http_reply_error(req, 403, "forbidden", NULL, "your role may not %s a case", casefsm_action_to_str(action));
    return -1;
}

void dsp_finish(dispatcher_t *ds, http_req_t *req, dsp_case_t *c, json_t *extra)
{
    pg_t *pg = ds->pg;
    if (pg_commit(pg) != 0) {
        json_decref(extra);
        pg_rollback(pg);
        dsp_reply_db(req, pg, "commit");
        return;
    }
    metric_inc(ds->m_actions);
    json_t *o = json_pack("{s:s,s:s,s:s,s:i}", "case_id", c->cur.id, "case_no", c->cur.case_no, "state",
                          casefsm_state_to_str(c->cur.state), "version", c->cur.version);
    if (extra) json_object_update(o, extra);
    json_decref(extra);
    http_reply_json(req, 200, o);
}

void dsp_fail(http_req_t *req, pg_t *pg, const char *err, const char *what)
{
    pg_rollback(pg);
    if (err && err[0] && pg->last_class == PG_OK) {
        /* the event codec refused a value: a field the validation tables let through */
        http_reply_error(req, 400, "invalid_value", NULL, "%s", err);
        return;
    }
    dsp_reply_db(req, pg, what);
}

int dsp_unit_by_code(pg_t *pg, const char *code, long long *id, char region[16], int *tier)
{
    const char *p[] = {code};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT u.id, u.region_code, r.tier FROM units u JOIN regions r ON r.code = u.region_code "
                 "WHERE u.code = $1 AND u.active",
                 1, p, &r) != 0)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(region, 16, "%s", PQgetvalue(r, 0, 1));
        *tier = atoi(PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    return found;
}

void dsp_unit_code(pg_t *pg, long long id, char *buf, size_t len)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", id);
    const char *p[] = {s};
    PGresult *r = NULL;
    buf[0] = '\0';
    if (pg_query(pg, "SELECT code FROM units WHERE id = $1::bigint", 1, p, &r) == 0 && PQntuples(r) == 1)
        snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

int dsp_validate(http_req_t *req, json_t *body, const rv_field_t *fields, size_t n)
{
    rv_error_t e;
    if (rv_validate(body, fields, n, &e) == 0) return 0;
    http_reply_error(req, 400, e.code, e.field, "%s", e.message);
    return -1;
}

int dsp_enum(event_type_t type, const char *field, const char *s)
{
    const event_type_desc_t *d = event_type_desc(type);
    for (size_t i = 0; d && s && i < d->nfields; i++) {
        if (strcmp(d->fields[i].name, field)) continue;
        for (size_t k = 0; k < d->fields[i].nvalues; k++)
            if (!strcmp(d->fields[i].values[k], s)) return (int)k + 1;
    }
    return 0;
}

/* ---- request checks -------------------------------------------------------------------------- */

int dsp_check_unit_code(const char *s, char *msg, size_t msglen)
{
    size_t n = strlen(s);
    int ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = s[i];
        ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (i > 0 && (ch == '_' || ch == '.' || ch == '-'));
    }
    if (ok) return 0;
    snprintf(msg, msglen, "must be a unit code such as 450103-SCJG");
    return -1;
}

int dsp_check_uuid(const char *s, char *msg, size_t msglen)
{
    if (event_uuid_valid(s)) return 0;
    snprintf(msg, msglen, "must be a lowercase UUID");
    return -1;
}

int dsp_check_time(const char *s, char *msg, size_t msglen)
{
    int64_t ms;
    char e[160];
    if (deadline_time_parse(s, &ms, e, sizeof e) == 0) return 0;
    snprintf(msg, msglen, "must be an RFC 3339 date-time with an offset, e.g. 2026-03-12T09:30:00+08:00");
    return -1;
}

int dsp_check_phone(const char *s, char *msg, size_t msglen)
{
    size_t digits = 0, n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') digits++;
        else if (!strchr("+-() ", s[i])) {
            snprintf(msg, msglen, "may hold only digits, spaces and + - ( )");
            return -1;
        }
    }
    if (digits >= 5 && digits <= 20 && n <= 32) return 0;
    snprintf(msg, msglen, "must hold 5 to 20 digits");
    return -1;
}

int dsp_resolve_unit(pg_t *pg, http_req_t *req, const char *field, const char *code, dsp_unit_ref_t *u)
{
    memset(u, 0, sizeof *u);
    int rc = dsp_unit_by_code(pg, code, &u->id, u->region, &u->tier);
    if (rc < 0) {
        dsp_reply_db(req, pg, "looking up a unit");
        return -1;
    }
    if (rc == 0) {
        http_reply_error(req, 422, "unknown_unit", field, "%s: %s is not an active unit", field, code);
        return -1;
    }
    snprintf(u->code, sizeof u->code, "%s", code);
    return 0;
}

int dsp_handling_round(pg_t *pg, const dsp_case_t *c)
{
    const char *p[] = {c->cur.id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT 1 + count(*) FROM case_events WHERE case_id = $1::uuid AND type = 'case.redo_ordered'",
                 1, p, &r) != 0)
        return -1;
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n > 10 ? 10 : n;
}
