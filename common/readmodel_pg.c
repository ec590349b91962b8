/*
 * readmodel_pg.c — see readmodel_pg.h. The fact row's columns are described once (FACT_COLS)
 * and that table drives the SELECT, the upsert and the COPY writer, so the three cannot
 * disagree. The rebuild keeps facts and cube cells in two open-addressing hash tables.
 */
#include "readmodel_pg.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deadline.h"
#include "kafka.h"
#include "log.h"

/* ---- the fact row's columns ---------------------------------------------------------- */

typedef enum { F_STR, F_BOOL, F_INT, F_I64, F_TIME, F_DAY } fkind_t;

typedef struct {
    const char *col;
    fkind_t kind;
    size_t off, size;
} fcol_t;

#define FS(c, f) {c, F_STR, offsetof(rm_case_t, f), sizeof(((rm_case_t *)0)->f)}
#define FB(c, f) {c, F_BOOL, offsetof(rm_case_t, f), 0}
#define FI(c, f) {c, F_INT, offsetof(rm_case_t, f), 0}
#define FL(c, f) {c, F_I64, offsetof(rm_case_t, f), 0}
#define FT(c, f) {c, F_TIME, offsetof(rm_case_t, f), 0}
#define FD(c, f) {c, F_DAY, offsetof(rm_case_t, f), 0}

static const fcol_t FACT_COLS[] = {
    FS("case_id", case_id),       FS("case_no", case_no),         FB("known", known),
    FT("received_at", received_ms), FD("received_day", received_day), FS("region_code", region_code),
    FS("kind", kind),             FS("channel", channel),         FS("credit_code", credit_code),
    FI("tier", tier),             FL("unit_id", unit_id),         FS("state", state),
    FS("matter_type", matter_type), FB("accepted", accepted),     FB("refused", refused),
    FB("duplicate", duplicate),   FB("terminated", terminated),   FB("closed", closed),
    FB("solved", solved),         FB("archived", archived),       FB("sign_pending", sign_pending),
    FT("sign_by", sign_by_ms),    FT("due_at", due_ms),           FI("dispatches", dispatches),
    FI("returns", returns),       FI("results", results),         FI("late_results", late_results),
    FS("finding", finding),       FT("resolved_at", resolved_ms), FT("closed_at", closed_ms),
    FI("handling_wd", handling_wd), FI("redo", redo),             FI("revisits", revisits),
    FI("grade", grade),           FI("events", events),           FT("last_event_at", last_event_ms),
};
#define NFACT JS_ARRAY_LEN(FACT_COLS)

/* The cube's counter columns, in rm_counts_t order (the histogram as h0 … h41). */
static const char *const COUNT_COLS[] = {
    "received", "accepted", "refused", "duplicates", "dispatched", "resp_on_time", "resp_late",
    "done_on_time", "done_late", "open_handling", "closed", "solved", "rated",
    "g1", "g2", "g3", "g4", "g5", "redo", "timed", "wd_sum",
    "h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9", "h10", "h11", "h12", "h13",
    "h14", "h15", "h16", "h17", "h18", "h19", "h20", "h21", "h22", "h23", "h24", "h25", "h26", "h27",
    "h28", "h29", "h30", "h31", "h32", "h33", "h34", "h35", "h36", "h37", "h38", "h39", "h40", "h41"};
#define NCOUNT JS_ARRAY_LEN(COUNT_COLS)
_Static_assert(sizeof(rm_counts_t) == NCOUNT * sizeof(int64_t),
               "COUNT_COLS must list rm_counts_t's members, the histogram as h0 … h41, in order");

static char sql_select[2048], sql_upsert[4096], sql_cube_upsert[2][6144];

static void sql_build(void)
{
    if (sql_select[0]) return;
    size_t o = 0;
    o += (size_t)snprintf(sql_select + o, sizeof sql_select - o, "SELECT ");
    for (size_t i = 0; i < NFACT; i++) {
        const char *c = FACT_COLS[i].col;
        if (FACT_COLS[i].kind == F_TIME)
            o += (size_t)snprintf(sql_select + o, sizeof sql_select - o,
                                  "%s(extract(epoch from %s) * 1000)::bigint", i ? ", " : "", c);
        else if (FACT_COLS[i].kind == F_DAY)
            o += (size_t)snprintf(sql_select + o, sizeof sql_select - o, "%s(%s - date '1970-01-01')",
                                  i ? ", " : "", c);
        else
            o += (size_t)snprintf(sql_select + o, sizeof sql_select - o, "%s%s", i ? ", " : "", c);
    }
    snprintf(sql_select + o, sizeof sql_select - o, " FROM rep_cases WHERE case_id = $1::uuid");

    o = (size_t)snprintf(sql_upsert, sizeof sql_upsert, "INSERT INTO rep_cases (");
    for (size_t i = 0; i < NFACT; i++)
        o += (size_t)snprintf(sql_upsert + o, sizeof sql_upsert - o, "%s, ", FACT_COLS[i].col);
    o += (size_t)snprintf(sql_upsert + o, sizeof sql_upsert - o, "open_handling) VALUES (");
    for (size_t i = 0; i < NFACT; i++) {
        fkind_t k = FACT_COLS[i].kind;
        const char *pre = k == F_TIME ? "to_timestamp(" : k == F_DAY ? "date '1970-01-01' + " : "";
        const char *post = k == F_TIME  ? "::bigint / 1000.0)"
                           : k == F_DAY  ? "::int"
                           : k == F_STR  ? ""
                           : k == F_BOOL ? "::boolean"
                                         : "::bigint";
        o += (size_t)snprintf(sql_upsert + o, sizeof sql_upsert - o, "%s$%zu%s, ", pre, i + 1, post);
    }
    o += (size_t)snprintf(sql_upsert + o, sizeof sql_upsert - o,
                          "$%zu::boolean) ON CONFLICT (case_id) DO UPDATE SET ", NFACT + 1);
    for (size_t i = 1; i < NFACT; i++)
        o += (size_t)snprintf(sql_upsert + o, sizeof sql_upsert - o, "%s = excluded.%s, ",
                              FACT_COLS[i].col, FACT_COLS[i].col);
    snprintf(sql_upsert + o, sizeof sql_upsert - o, "open_handling = excluded.open_handling");

    for (int t = 0; t < 2; t++) {
        const char *tab = t ? "rep_month" : "rep_day", *kc = t ? "month" : "day";
        char *s = sql_cube_upsert[t];
        size_t n = sizeof sql_cube_upsert[t];
        o = (size_t)snprintf(s, n, "INSERT INTO %s AS t (%s, region_code, unit_id, tier, kind", tab, kc);
        for (size_t i = 0; i < NCOUNT; i++) o += (size_t)snprintf(s + o, n - o, ", %s", COUNT_COLS[i]);
        o += (size_t)snprintf(s + o, n - o, ") VALUES (date '1970-01-01' + $1::int, $2, $3::bigint, $4::int, $5");
        for (size_t i = 0; i < NCOUNT; i++) o += (size_t)snprintf(s + o, n - o, ", $%zu::bigint", i + 6);
        o += (size_t)snprintf(s + o, n - o, ") ON CONFLICT (%s, region_code, unit_id, tier, kind) DO UPDATE SET ", kc);
        for (size_t i = 0; i < NCOUNT; i++)
            o += (size_t)snprintf(s + o, n - o, "%s%s = t.%s + excluded.%s", i ? ", " : "", COUNT_COLS[i],
                                  COUNT_COLS[i], COUNT_COLS[i]);
        snprintf(s + o, n - o, " RETURNING received, dispatched");
    }
}

static void *fptr(const rm_case_t *c, const fcol_t *f) { return (char *)c + f->off; }

/* ---- load and save one fact ------------------------------------------------------------ */

static void fact_from_row(rm_case_t *c, PGresult *r, int row)
{
    rm_case_init(c, "");
    for (size_t i = 0; i < NFACT; i++) {
        const fcol_t *f = &FACT_COLS[i];
        const char *v = PQgetisnull(r, row, (int)i) ? NULL : PQgetvalue(r, row, (int)i);
        void *p = fptr(c, f);
        switch (f->kind) {
        case F_STR: snprintf(p, f->size, "%s", v ? v : ""); break;
        case F_BOOL: *(bool *)p = v && v[0] == 't'; break;
        case F_INT: *(int *)p = v ? atoi(v) : 0; break;
        case F_I64: *(int64_t *)p = v ? strtoll(v, NULL, 10) : 0; break;
        case F_TIME: *(int64_t *)p = v ? strtoll(v, NULL, 10) : 0; break;
        case F_DAY: *(calendar_day_t *)p = v ? (calendar_day_t)atoi(v) : 0; break;
        }
    }
}

static int fact_load(pg_t *pg, const char *case_id, rm_case_t *c, bool lock)
{
    sql_build();
    char sql[2100];
    snprintf(sql, sizeof sql, "%s%s", sql_select, lock ? " FOR UPDATE" : "");
    const char *p[] = {case_id};
    PGresult *r = NULL;
    if (pg_query(pg, sql, 1, p, &r) != 0) return -1;
    int found = PQntuples(r) == 1;
    if (found) fact_from_row(c, r, 0);
    else rm_case_init(c, case_id);
    PQclear(r);
    return found;
}

int readmodel_pg_fact_load(pg_t *pg, const char *case_id, rm_case_t *c)
{
    return fact_load(pg, case_id, c, false);
}

static int fact_save(pg_t *pg, const rm_case_t *c)
{
    sql_build();
    char buf[NFACT + 1][32];
    const char *params[NFACT + 1];
    for (size_t i = 0; i < NFACT; i++) {
        const fcol_t *f = &FACT_COLS[i];
        const void *p = fptr(c, f);
        params[i] = buf[i];
        switch (f->kind) {
        case F_STR: params[i] = p; break;
        case F_BOOL: params[i] = *(const bool *)p ? "true" : "false"; break;
        case F_INT: snprintf(buf[i], sizeof buf[i], "%d", *(const int *)p); break;
        case F_I64: snprintf(buf[i], sizeof buf[i], "%lld", (long long)*(const int64_t *)p); break;
        case F_TIME:
            if (*(const int64_t *)p == 0) params[i] = NULL;
            else snprintf(buf[i], sizeof buf[i], "%lld", (long long)*(const int64_t *)p);
            break;
        case F_DAY:
            if (!c->known) params[i] = NULL;
            else snprintf(buf[i], sizeof buf[i], "%d", (int)*(const calendar_day_t *)p);
            break;
        }
    }
    params[NFACT] = rm_case_open_handling(c) ? "true" : "false";
    return pg_query(pg, sql_upsert, (int)NFACT + 1, params, NULL);
}

/* ---- cube deltas ----------------------------------------------------------------------- */

static calendar_day_t month_of(calendar_day_t d)
{
    int y, m;
    calendar_day_to_ymd(d, &y, &m, NULL);
    calendar_day_t out = d;
    if (calendar_day_from_ymd(y, m, 1, &out) != 0) return d;
    return out;
}

typedef struct {
    rm_key_t key;
    rm_counts_t d;
} delta_t;

typedef struct {
    delta_t v[16];
    size_t n;
} deltas_t;

static void deltas_add(deltas_t *ds, const rm_key_t *k, const rm_counts_t *d, int sign)
{
    for (size_t i = 0; i < ds->n; i++)
        if (rm_key_equal(&ds->v[i].key, k)) {
            rm_counts_add(&ds->v[i].d, d, sign);
            return;
        }
    if (ds->n == JS_ARRAY_LEN(ds->v)) return; /* cannot happen: at most 4 cells, 8 with the rollup */
    ds->v[ds->n].key = *k;
    memset(&ds->v[ds->n].d, 0, sizeof ds->v[ds->n].d);
    rm_counts_add(&ds->v[ds->n].d, d, sign);
    ds->n++;
}

static void sink_deltas(void *ud, const rm_key_t *k, const rm_counts_t *d) { deltas_add(ud, k, d, 1); }

static int key_cmp(const rm_key_t *a, const rm_key_t *b)
{
    if (a->day != b->day) return a->day < b->day ? -1 : 1;
    int c = strcmp(a->region_code, b->region_code);
    if (c) return c;
    if (a->unit_id != b->unit_id) return a->unit_id < b->unit_id ? -1 : 1;
    if (a->tier != b->tier) return a->tier < b->tier ? -1 : 1;
    return strcmp(a->kind, b->kind);
}

static int delta_cmp(const void *a, const void *b)
{
    return key_cmp(&((const delta_t *)a)->key, &((const delta_t *)b)->key);
}

static int cube_apply(pg_t *pg, int table, const rm_key_t *k, const rm_counts_t *d)
{
    char day[16], unit[24], tier[8], vals[NCOUNT][24];
    const char *p[NCOUNT + 5];
    calendar_day_t kd = table ? month_of(k->day) : k->day;
    snprintf(day, sizeof day, "%d", (int)kd);
    snprintf(unit, sizeof unit, "%lld", (long long)k->unit_id);
    snprintf(tier, sizeof tier, "%d", k->tier);
    p[0] = day;
    p[1] = k->region_code;
    p[2] = unit;
    p[3] = tier;
    p[4] = k->kind;
    const int64_t *x = (const int64_t *)d;
    for (size_t i = 0; i < NCOUNT; i++) {
        snprintf(vals[i], sizeof vals[i], "%lld", (long long)x[i]);
        p[5 + i] = vals[i];
    }
    PGresult *r = NULL;
    if (pg_query(pg, sql_cube_upsert[table], (int)NCOUNT + 5, p, &r) != 0) return -1;
    int empty = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "0") && !strcmp(PQgetvalue(r, 0, 1), "0");
    PQclear(r);
    if (!empty) return 0;
    const char *pk[] = {day, k->region_code, unit, tier, k->kind};
    return pg_query(pg,
                    table ? "DELETE FROM rep_month WHERE month = date '1970-01-01' + $1::int AND region_code = $2 "
                            "AND unit_id = $3::bigint AND tier = $4::int AND kind = $5 AND received = 0 AND dispatched = 0"
                          : "DELETE FROM rep_day WHERE day = date '1970-01-01' + $1::int AND region_code = $2 "
                            "AND unit_id = $3::bigint AND tier = $4::int AND kind = $5 AND received = 0 AND dispatched = 0",
                    5, pk, NULL);
}

/* ---- unit events ----------------------------------------------------------------------- */

static rmpg_rc_t unit_event_apply(pg_t *pg, const event_t *ev, char *err, size_t errlen)
{
    const char *type = event_type_name(ev->type);
    char unit[24], level[8] = "", day[16], *payload = NULL;
    const char *colour = NULL, *case_id = NULL, *reason_text = NULL;
    char reason_code[32] = "";
    json_t *pj = NULL;
    if (event_payload_encode(ev->type, &ev->payload, &pj, err, errlen) != 0) return RMPG_DEAD;
    payload = json_dumps(pj, JSON_COMPACT);
    snprintf(reason_code, sizeof reason_code, "%s", json_string_value(json_object_get(pj, "reason_code")) ?
             json_string_value(json_object_get(pj, "reason_code")) : "");
    if (ev->type == EVENT_SUPERVISION_ISSUED) {
        const event_supervision_issued_t *p = &ev->payload.supervision_issued;
        snprintf(unit, sizeof unit, "%lld", (long long)p->unit_id);
        snprintf(level, sizeof level, "%lld", (long long)p->level);
        case_id = p->case_id[0] ? p->case_id : NULL;
        reason_text = p->reason_text;
    } else {
        const event_card_issued_t *p = &ev->payload.card_issued;
        snprintf(unit, sizeof unit, "%lld", (long long)p->unit_id);
        colour = p->colour == EVENT_COLOUR_RED ? "red" : "yellow";
        case_id = p->case_id[0] ? p->case_id : NULL;
        reason_text = p->reason_text;
    }
    int64_t at = 0;
    if (event_time_to_ms(ev->occurred_at, &at) != 0) at = 0;
    snprintf(day, sizeof day, "%d", (int)deadline_local_day(at));
    const char *p[] = {ev->event_id, unit, type, level[0] ? level : NULL, colour, case_id,
                       reason_code, reason_text ? reason_text : "", ev->occurred_at, day, payload};
    PGresult *r = NULL;
    rmpg_rc_t rc = RMPG_RETRY;
    if (payload == NULL) goto out;
    if (pg_query(pg,
                 "INSERT INTO rep_unit_events (event_id, unit_id, type, level, colour, case_id, reason_code, "
                 "reason_text, occurred_at, day, payload) VALUES ($1::uuid, $2::bigint, $3, $4::smallint, $5, "
                 "$6::uuid, $7, $8, $9::timestamptz, date '1970-01-01' + $10::int, $11::jsonb) "
                 "ON CONFLICT (event_id) DO NOTHING",
                 11, p, &r) != 0)
        goto out;
    int fresh = !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    if (fresh) {
        const char *q[] = {day, unit, colour && !strcmp(colour, "yellow") ? "1" : "0",
                           colour && !strcmp(colour, "red") ? "1" : "0", !strcmp(level, "1") ? "1" : "0",
                           !strcmp(level, "2") ? "1" : "0", !strcmp(level, "3") ? "1" : "0"};
        if (pg_query(pg,
                     "INSERT INTO rep_unit_day AS t (day, unit_id, yellow, red, n1, n2, n3) VALUES "
                     "(date '1970-01-01' + $1::int, $2::bigint, $3::int, $4::int, $5::int, $6::int, $7::int) "
                     "ON CONFLICT (day, unit_id) DO UPDATE SET yellow = t.yellow + excluded.yellow, "
                     "red = t.red + excluded.red, n1 = t.n1 + excluded.n1, n2 = t.n2 + excluded.n2, "
                     "n3 = t.n3 + excluded.n3",
                     7, q, NULL) != 0)
            goto out;
    }
    rc = RMPG_APPLIED;
out:
    json_decref(pj);
    free(payload);
    return rc;
}

/* ---- the incremental path -------------------------------------------------------------- */

rmpg_rc_t readmodel_pg_apply(pg_t *pg, const event_t *ev, char *err, size_t errlen)
{
    if (ev->type == EVENT_SUPERVISION_ISSUED || ev->type == EVENT_CARD_ISSUED)
        return unit_event_apply(pg, ev, err, errlen);
    if (ev->case_id[0] == '\0' || ev->type >= EVENT_TIMER_WARNED) return RMPG_APPLIED;
    sql_build();
    /* already inside the last rebuild? FOR SHARE waits for a rebuild that holds the models'
     * lock and re-reads its mark once it commits: without it this event could be judged
     * outside a rebuild that was still folding it, and counted twice. A rebuild locks
     * rep_state first, as this is the consumer's first rep_* lock: the two cannot deadlock. */
    const char *pe[] = {ev->event_id};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT e.id <= s.hwm FROM case_events e, rep_state s WHERE e.event_id = $1::uuid FOR SHARE OF s",
                 1, pe, &r) != 0)
        return RMPG_RETRY;
    int inside = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (inside) return RMPG_APPLIED;

    rm_case_t c;
    if (fact_load(pg, ev->case_id, &c, true) < 0) return RMPG_RETRY;
    deltas_t ds = {.n = 0};
    rm_key_t k;
    rm_counts_t n;
    if (rm_case_contrib(&c, &k, &n)) deltas_add(&ds, &k, &n, -1);
    if (rm_case_apply(&c, ev, sink_deltas, &ds, err, errlen) != 0) return RMPG_DEAD;
    if (rm_case_contrib(&c, &k, &n)) deltas_add(&ds, &k, &n, 1);
    if (fact_save(pg, &c) != 0) return RMPG_RETRY;
    /* the month cells: each day cell's month, and the same without the unit (unit_id -1: the
     * all-units rollup region-level reports read) */
    deltas_t ms = {.n = 0};
    for (size_t i = 0; i < ds.n; i++) {
        rm_key_t k2 = ds.v[i].key;
        k2.day = month_of(k2.day);
        deltas_add(&ms, &k2, &ds.v[i].d, 1);
        k2.unit_id = -1;
        deltas_add(&ms, &k2, &ds.v[i].d, 1);
    }
    qsort(ds.v, ds.n, sizeof ds.v[0], delta_cmp);
    qsort(ms.v, ms.n, sizeof ms.v[0], delta_cmp);
    for (size_t i = 0; i < ds.n; i++)
        if (!rm_counts_zero(&ds.v[i].d) && cube_apply(pg, 0, &ds.v[i].key, &ds.v[i].d) != 0) return RMPG_RETRY;
    for (size_t i = 0; i < ms.n; i++)
        if (!rm_counts_zero(&ms.v[i].d) && cube_apply(pg, 1, &ms.v[i].key, &ms.v[i].d) != 0) return RMPG_RETRY;
    return RMPG_APPLIED;
}

long long readmodel_regions_refresh(pg_t *pg)
{
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT rep_regions_refresh()", 0, NULL, &r) != 0) return -1;
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* ---- the rebuild: in-memory tables ----------------------------------------------------- */

typedef struct {
    rm_case_t **slots; /* open addressing on the case id */
    size_t cap, n;
} facts_t;

typedef struct {
    delta_t **slots;
    size_t cap, n;
} cells_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static uint64_t hash_key(const rm_key_t *k)
{
    uint64_t h = hash_str(k->region_code) ^ (hash_str(k->kind) * 31);
    h ^= ((uint64_t)(uint32_t)k->day * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)k->unit_id * 0xC2B2AE3D27D4EB4FULL) ^
         (uint64_t)k->tier;
    return h * 0xff51afd7ed558ccdULL;
}

static int facts_grow(facts_t *f)
{
    size_t cap = f->cap ? f->cap * 2 : 1 << 16;
    rm_case_t **s = calloc(cap, sizeof *s);
    if (s == NULL) return -1;
    for (size_t i = 0; i < f->cap; i++)
        if (f->slots[i]) {
            size_t j = hash_str(f->slots[i]->case_id) & (cap - 1);
            while (s[j]) j = (j + 1) & (cap - 1);
            s[j] = f->slots[i];
        }
    free(f->slots);
    f->slots = s;
    f->cap = cap;
    return 0;
}

static rm_case_t *facts_get(facts_t *f, const char *case_id)
{
    if ((f->n + 1) * 4 > f->cap * 3 && facts_grow(f) != 0) return NULL;
    size_t j = hash_str(case_id) & (f->cap - 1);
    while (f->slots[j]) {
        if (!strcmp(f->slots[j]->case_id, case_id)) return f->slots[j];
        j = (j + 1) & (f->cap - 1);
    }
    rm_case_t *c = malloc(sizeof *c);
    if (c == NULL) return NULL;
    rm_case_init(c, case_id);
    f->slots[j] = c;
    f->n++;
    return c;
}

static void facts_free(facts_t *f)
{
    for (size_t i = 0; i < f->cap; i++) free(f->slots[i]);
    free(f->slots);
    memset(f, 0, sizeof *f);
}

static int cells_grow(cells_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1 << 14;
    delta_t **s = calloc(cap, sizeof *s);
    if (s == NULL) return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i]) {
            size_t j = hash_key(&t->slots[i]->key) & (cap - 1);
            while (s[j]) j = (j + 1) & (cap - 1);
            s[j] = t->slots[i];
        }
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    return 0;
}

static int cells_add(cells_t *t, const rm_key_t *k, const rm_counts_t *d)
{
    if ((t->n + 1) * 4 > t->cap * 3 && cells_grow(t) != 0) return -1;
    size_t j = hash_key(k) & (t->cap - 1);
    while (t->slots[j]) {
        if (rm_key_equal(&t->slots[j]->key, k)) {
            rm_counts_add(&t->slots[j]->d, d, 1);
            return 0;
        }
        j = (j + 1) & (t->cap - 1);
    }
    delta_t *c = calloc(1, sizeof *c);
    if (c == NULL) return -1;
    c->key = *k;
    rm_counts_add(&c->d, d, 1);
    t->slots[j] = c;
    t->n++;
    return 0;
}

static void cells_free(cells_t *t)
{
    for (size_t i = 0; i < t->cap; i++) free(t->slots[i]);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

typedef struct {
    facts_t facts;
    cells_t days;
    int oom;
    readmodel_stats_t *st;
} rebuild_t;

static void sink_cells(void *ud, const rm_key_t *k, const rm_counts_t *d)
{
    rebuild_t *rb = ud;
    if (cells_add(&rb->days, k, d) != 0) rb->oom = 1;
}

/* Folds one decoded event; 0, or -1 when memory ran out. */
static int rebuild_fold(rebuild_t *rb, const event_t *ev)
{
    if (ev->case_id[0] == '\0' || ev->type >= EVENT_TIMER_WARNED) return 0; /* as readmodel_pg_apply */
    rm_case_t *c = facts_get(&rb->facts, ev->case_id);
    if (c == NULL) return -1;
    char e[256];
    if (rm_case_apply(c, ev, sink_cells, rb, e, sizeof e) != 0) return 0;
    rb->st->events++;
    return rb->oom ? -1 : 0;
}

/* COPY text format: undo the escapes of one field in place. */
static void copy_unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '\\' || r[1] == '\0') {
            *w++ = *r;
            continue;
        }
        r++;
        switch (*r) {
        case 'n': *w++ = '\n'; break;
        case 't': *w++ = '\t'; break;
        case 'r': *w++ = '\r'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'v': *w++ = '\v'; break;
        default: *w++ = *r; break;
        }
    }
    *w = '\0';
}

/* One line of "case_id \t type \t occurred_ms \t payload" → folded. */
static int fold_copy_line(rebuild_t *rb, char *line)
{
    char *f[4];
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < 4; p++)
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    if (n != 4) return 0;
    char *nl = strchr(f[3], '\n');
    if (nl) *nl = '\0';
    copy_unescape(f[3]);
    event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = event_type_from_name(f[1]);
    snprintf(ev.case_id, sizeof ev.case_id, "%s", f[0]);
    deadline_time_format(strtoll(f[2], NULL, 10), ev.occurred_at, sizeof ev.occurred_at);
    json_t *pj = json_loads(f[3], 0, NULL);
    char err[256];
    if (ev.type == EVENT_TYPE_NONE || pj == NULL ||
        event_payload_decode(ev.type, pj, &ev.payload, err, sizeof err) != 0) {
        json_decref(pj);
        if (rb->st->skipped++ < 10)
            LOGW("rebuild: event skipped", LF_STR("case_id", f[0]), LF_STR("type", f[1]),
                 LF_STR("error", pj ? err : "payload is not JSON"));
        return 0;
    }
    json_decref(pj);
    int rc = rebuild_fold(rb, &ev);
    event_payload_clear(ev.type, &ev.payload);
    return rc;
}

/* Streams the events of `sql` (a COPY … TO STDOUT of the four columns) into the fold. */
static int rebuild_stream(pg_t *pg, rebuild_t *rb, const char *sql, const char *const *params, int np,
                          char *err, size_t errlen)
{
    (void)params;
    (void)np;
    PGresult *r = PQexec(pg->conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        snprintf(err, errlen, "rebuild: cannot read case_events: %s", PQerrorMessage(pg->conn));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    char *buf = NULL;
    int len, rc = 0;
    while ((len = PQgetCopyData(pg->conn, &buf, 0)) > 0) {
        if (rc == 0 && fold_copy_line(rb, buf) != 0) {
            snprintf(err, errlen, "rebuild: out of memory after %lld events", rb->st->events);
            rc = -1; /* keep reading: the COPY must be drained */
        }
        PQfreemem(buf);
    }
    while ((r = PQgetResult(pg->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0) {
            snprintf(err, errlen, "rebuild: reading case_events failed: %s", PQerrorMessage(pg->conn));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* ---- the rebuild: writing -------------------------------------------------------------- */

typedef struct {
    pg_t *pg;
    char *buf;
    size_t len, cap;
    int failed;
} copyw_t;

static int copyw_begin(copyw_t *w, pg_t *pg, const char *sql)
{
    memset(w, 0, sizeof *w);
    w->pg = pg;
    PGresult *r = PQexec(pg->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    return ok ? 0 : -1;
}

static void copyw_put(copyw_t *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1 << 16;
        while (cap < w->len + n + 1) cap *= 2;
        char *b = realloc(w->buf, cap);
        if (b == NULL) {
            w->failed = 1;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    if (w->len > (1 << 20)) {
        if (PQputCopyData(w->pg->conn, w->buf, (int)w->len) != 1) w->failed = 1;
        w->len = 0;
    }
}

static void copyw_str(copyw_t *w, const char *s)
{
    for (const char *p = s; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '\t' ? "\\t" : *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : NULL;
        if (esc) copyw_put(w, esc, 2);
        else copyw_put(w, p, 1);
    }
}

static void copyw_fmt(copyw_t *w, const char *pre, long long v)
{
    char b[40];
    int n = snprintf(b, sizeof b, "%s%lld", pre, v);
    copyw_put(w, b, (size_t)n);
}

static int copyw_end(copyw_t *w, char *err, size_t errlen, const char *what)
{
    if (!w->failed && w->len && PQputCopyData(w->pg->conn, w->buf, (int)w->len) != 1) w->failed = 1;
    free(w->buf);
    w->buf = NULL;
    int rc = PQputCopyEnd(w->pg->conn, w->failed ? "writer failed" : NULL) == 1 && !w->failed ? 0 : -1;
    PGresult *r;
    while ((r = PQgetResult(w->pg->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = -1;
        PQclear(r);
    }
    if (rc != 0) snprintf(err, errlen, "rebuild: writing %s failed: %s", what, PQerrorMessage(w->pg->conn));
    return rc;
}

static void copyw_fact(copyw_t *w, const rm_case_t *c)
{
    for (size_t i = 0; i < NFACT; i++) {
        const fcol_t *f = &FACT_COLS[i];
        const void *p = fptr(c, f);
        char b[40];
        switch (f->kind) {
        case F_STR: copyw_str(w, p); break;
        case F_BOOL: copyw_put(w, *(const bool *)p ? "t" : "f", 1); break;
        case F_INT: copyw_fmt(w, "", *(const int *)p); break;
        case F_I64: copyw_fmt(w, "", (long long)*(const int64_t *)p); break;
        case F_TIME:
            if (*(const int64_t *)p == 0) copyw_put(w, "\\N", 2);
            else copyw_put(w, b, (size_t)deadline_time_format(*(const int64_t *)p, b, sizeof b));
            break;
        case F_DAY:
            if (!c->known) copyw_put(w, "\\N", 2);
            else {
                calendar_day_format(*(const calendar_day_t *)p, b);
                copyw_put(w, b, 10);
            }
            break;
        }
        copyw_put(w, "\t", 1);
    }
    copyw_put(w, rm_case_open_handling(c) ? "t\n" : "f\n", 2);
}

static void copyw_cell(copyw_t *w, const delta_t *cell, bool month)
{
    char b[16];
    calendar_day_format(month ? month_of(cell->key.day) : cell->key.day, b);
    copyw_put(w, b, 10);
    copyw_put(w, "\t", 1);
    copyw_str(w, cell->key.region_code);
    copyw_fmt(w, "\t", (long long)cell->key.unit_id);
    copyw_fmt(w, "\t", cell->key.tier);
    copyw_put(w, "\t", 1);
    copyw_str(w, cell->key.kind);
    const int64_t *x = (const int64_t *)&cell->d;
    for (size_t i = 0; i < NCOUNT; i++) copyw_fmt(w, "\t", (long long)x[i]);
    copyw_put(w, "\n", 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec_ok(pg_t *pg, const char *sql, char *err, size_t errlen)
{
    if (pg_query(pg, sql, 0, NULL, NULL) == 0) return 0;
    snprintf(err, errlen, "rebuild: %s", pg->err);
    return -1;
}

/* Adds the final contributions, then replaces the tables' content in the open transaction. */
static int rebuild_write(pg_t *pg, rebuild_t *rb, const char *source, bool unit_events_from_table,
                         char *err, size_t errlen)
{
    double t0 = now_s();
    for (size_t i = 0; i < rb->facts.cap; i++) {
        rm_case_t *c = rb->facts.slots[i];
        rm_key_t k;
        rm_counts_t n;
        if (c && rm_case_contrib(c, &k, &n) && cells_add(&rb->days, &k, &n) != 0) {
            snprintf(err, errlen, "rebuild: out of memory");
            return -1;
        }
    }
    cells_t months = {0};
    for (size_t i = 0; i < rb->days.cap; i++)
        if (rb->days.slots[i]) {
            rm_key_t k = rb->days.slots[i]->key;
            k.day = month_of(k.day);
            int rc = cells_add(&months, &k, &rb->days.slots[i]->d);
            k.unit_id = -1; /* the all-units rollup */
            if (rc != 0 || cells_add(&months, &k, &rb->days.slots[i]->d) != 0) {
                cells_free(&months);
                snprintf(err, errlen, "rebuild: out of memory");
                return -1;
            }
        }
    if (exec_ok(pg, "TRUNCATE rep_cases, rep_day, rep_month, rep_unit_day", err, errlen) != 0) goto fail;
    copyw_t w;
    char cols[2048];
    size_t o = (size_t)snprintf(cols, sizeof cols, "COPY rep_cases (");
    for (size_t i = 0; i < NFACT; i++) o += (size_t)snprintf(cols + o, sizeof cols - o, "%s, ", FACT_COLS[i].col);
    snprintf(cols + o, sizeof cols - o, "open_handling) FROM STDIN");
    if (copyw_begin(&w, pg, cols) != 0) {
        snprintf(err, errlen, "rebuild: %s", PQerrorMessage(pg->conn));
        goto fail;
    }
    for (size_t i = 0; i < rb->facts.cap; i++)
        if (rb->facts.slots[i]) {
            copyw_fact(&w, rb->facts.slots[i]);
            rb->st->cases++;
        }
    if (copyw_end(&w, err, errlen, "rep_cases") != 0) goto fail;
    for (int t = 0; t < 2; t++) {
        cells_t *cs = t ? &months : &rb->days;
        o = (size_t)snprintf(cols, sizeof cols, "COPY %s (%s, region_code, unit_id, tier, kind", t ? "rep_month" : "rep_day",
                             t ? "month" : "day");
        for (size_t i = 0; i < NCOUNT; i++) o += (size_t)snprintf(cols + o, sizeof cols - o, ", %s", COUNT_COLS[i]);
        snprintf(cols + o, sizeof cols - o, ") FROM STDIN");
        if (copyw_begin(&w, pg, cols) != 0) {
            snprintf(err, errlen, "rebuild: %s", PQerrorMessage(pg->conn));
            goto fail;
        }
        for (size_t i = 0; i < cs->cap; i++)
            if (cs->slots[i] && !(cs->slots[i]->d.received == 0 && cs->slots[i]->d.dispatched == 0)) {
                copyw_cell(&w, cs->slots[i], t == 1);
                if (t == 0) rb->st->cells++;
            }
        if (copyw_end(&w, err, errlen, t ? "rep_month" : "rep_day") != 0) goto fail;
    }
    (void)unit_events_from_table;
    if (exec_ok(pg,
                "INSERT INTO rep_unit_day (day, unit_id, yellow, red, n1, n2, n3) SELECT day, unit_id, "
                "count(*) FILTER (WHERE colour = 'yellow'), count(*) FILTER (WHERE colour = 'red'), "
                "count(*) FILTER (WHERE level = 1), count(*) FILTER (WHERE level = 2), "
                "count(*) FILTER (WHERE level = 3) FROM rep_unit_events GROUP BY day, unit_id",
                err, errlen) != 0)
        goto fail;
    PGresult *r = NULL;
    char hwm[32], ncases[32], nevents[32];
    snprintf(hwm, sizeof hwm, "%lld", rb->st->hwm);
    snprintf(ncases, sizeof ncases, "%lld", rb->st->cases);
    snprintf(nevents, sizeof nevents, "%lld", rb->st->events);
    const char *p[] = {hwm, source, ncases, nevents};
    if (pg_query(pg,
                 "UPDATE rep_state SET hwm = $1::bigint, source = $2, rebuilt_at = now(), cases = $3::bigint, "
                 "events = $4::bigint",
                 4, p, NULL) != 0 ||
        pg_query(pg, "SELECT count(*) FROM rep_unit_events", 0, NULL, &r) != 0) {
        snprintf(err, errlen, "rebuild: %s", pg->err);
        goto fail;
    }
    rb->st->unit_events = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    cells_free(&months);
    rb->st->write_s = now_s() - t0;
    return 0;
fail:
    cells_free(&months);
    return -1;
}

static int rebuild_finish(pg_t *pg, rebuild_t *rb, int rc, char *err, size_t errlen)
{
    if (rc == 0 && pg_commit(pg) != 0) {
        snprintf(err, errlen, "rebuild: commit: %s", pg->err);
        rc = -1;
    }
    if (rc != 0) pg_rollback(pg);
    facts_free(&rb->facts);
    cells_free(&rb->days);
    if (rc == 0 && readmodel_regions_refresh(pg) < 0) LOGW("rep_regions not refreshed", LF_STR("error", pg->err));
    return rc;
}

int readmodel_rebuild_from_events(pg_t *pg, readmodel_stats_t *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    rebuild_t rb = {.st = st};
    if (pg_ensure(pg) != 0) {
        snprintf(err, errlen, "rebuild: %s", pg->err);
        return -1;
    }
    /* 1. the mark: with writers held off for an instant, every id at or below it is committed */
    PGresult *r = NULL;
    if (pg_begin(pg) != 0 || exec_ok(pg, "LOCK TABLE case_events IN SHARE MODE", err, errlen) != 0 ||
        pg_query(pg, "SELECT coalesce(max(id), 0) FROM case_events", 0, NULL, &r) != 0) {
        if (!err[0]) snprintf(err, errlen, "rebuild: %s", pg->err);
        pg_rollback(pg);
        return -1;
    }
    st->hwm = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (pg_commit(pg) != 0) {
        snprintf(err, errlen, "rebuild: %s", pg->err);
        return -1;
    }
    /* 2. every event up to the mark, in id order */
    double t0 = now_s();
    char sql[512];
    snprintf(sql, sizeof sql,
             "COPY (SELECT case_id, type, (extract(epoch from occurred_at) * 1000)::bigint, payload "
             "FROM case_events WHERE id <= %lld ORDER BY id) TO STDOUT",
             st->hwm);
    int rc = rebuild_stream(pg, &rb, sql, NULL, 0, err, errlen);
    /* 3. under the models' lock: what the consumer applied above the mark, then the write */
    if (rc == 0) {
        rc = pg_begin(pg) != 0 ? -1 : 0;
        if (rc == 0)
            rc = exec_ok(pg, "LOCK TABLE rep_state, rep_cases, rep_day, rep_month, rep_unit_day IN EXCLUSIVE MODE",
                         err, errlen);
        if (rc == 0) {
            snprintf(sql, sizeof sql,
                     "COPY (SELECT e.case_id, e.type, (extract(epoch from e.occurred_at) * 1000)::bigint, e.payload "
                     "FROM case_events e JOIN consumed_events c ON c.consumer = '%s' AND c.event_id = e.event_id "
                     "WHERE e.id > %lld ORDER BY e.id) TO STDOUT",
                     READMODEL_CONSUMER, st->hwm);
            rc = rebuild_stream(pg, &rb, sql, NULL, 0, err, errlen);
        }
        st->read_s = now_s() - t0;
        if (rc == 0) rc = rebuild_write(pg, &rb, "case_events", true, err, errlen);
    }
    return rebuild_finish(pg, &rb, rc, err, errlen);
}

/* ---- the rebuild from Kafka ------------------------------------------------------------ */

static int kafka_fold_topic(rd_kafka_t *rk, const char *topic, rebuild_t *rb, json_t *unit_events,
                            json_t *offsets, char *err, size_t errlen)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL || rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(err, errlen, "rebuild: no metadata for topic %s", topic);
        if (md) rd_kafka_metadata_destroy(md);
        if (rkt) rd_kafka_topic_destroy(rkt);
        return -1;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    int64_t *hi = calloc((size_t)np, sizeof *hi);
    int rc = hi ? 0 : -1;
    for (int p = 0; rc == 0 && p < np; p++) {
        int64_t lo = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi[p], 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(err, errlen, "rebuild: no watermarks for %s/%d", topic, p);
            rc = -1;
        }
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rc == 0 && rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "rebuild: cannot assign %s", topic);
        rc = -1;
    }
    int64_t *next = calloc((size_t)np, sizeof *next);
    int done = 0;
    for (int p = 0; next && p < np; p++) {
        next[p] = 0;
        if (hi[p] == 0) done++;
    }
    double idle_until = now_s() + 30;
    while (rc == 0 && next && done < np && now_s() < idle_until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (m == NULL) continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        idle_until = now_s() + 30;
        int p = m->partition;
        if (p >= 0 && p < np) {
            if (next[p] < hi[p] && m->offset + 1 >= hi[p]) done++;
            next[p] = m->offset + 1;
        }
        event_t ev;
        char e[256];
        if (event_decode(m->payload, m->len, &ev, e, sizeof e) != 0) {
            rb->st->skipped++;
        } else {
            if (ev.type == EVENT_SUPERVISION_ISSUED || ev.type == EVENT_CARD_ISSUED) {
                json_t *j = json_loadb(m->payload, m->len, 0, NULL);
                if (j) json_array_append_new(unit_events, j);
            } else if (ev.case_id[0] && rebuild_fold(rb, &ev) != 0) {
                snprintf(err, errlen, "rebuild: out of memory");
                rc = -1;
            }
            event_clear(&ev);
        }
        rd_kafka_message_destroy(m);
    }
    if (rc == 0 && done < np) {
        snprintf(err, errlen, "rebuild: %s stopped delivering before its end", topic);
        rc = -1;
    }
    rd_kafka_assign(rk, NULL);
    rd_kafka_topic_partition_list_destroy(parts);
    /* the end positions, for the consumer to continue from */
    for (int p = 0; rc == 0 && p < np; p++)
        json_array_append_new(offsets, json_pack("{s:s,s:i,s:I}", "topic", topic, "partition", p,
                                                 "offset", (json_int_t)hi[p]));
    free(next);
    free(hi);
    return rc;
}

/* Writes the unit events read from Kafka into rep_unit_events (which was truncated). */
static int kafka_write_unit_events(pg_t *pg, json_t *unit_events, char *err, size_t errlen)
{
    size_t i;
    json_t *j;
    json_array_foreach(unit_events, i, j) {
        char *txt = json_dumps(j, JSON_COMPACT);
        event_t ev;
        char e[256];
        int ok = txt && event_decode(txt, strlen(txt), &ev, e, sizeof e) == 0;
        free(txt);
        if (!ok) continue;
        rmpg_rc_t rc = unit_event_apply(pg, &ev, e, sizeof e);
        event_clear(&ev);
        if (rc == RMPG_RETRY) {
            snprintf(err, errlen, "rebuild: writing unit events: %s", pg->err);
            return -1;
        }
    }
    return 0;
}

int readmodel_rebuild_from_kafka(pg_t *pg, const char *brokers, readmodel_stats_t *st, char *err,
                                 size_t errlen)
{
    memset(st, 0, sizeof *st);
    rebuild_t rb = {.st = st};
    if (pg_ensure(pg) != 0) {
        snprintf(err, errlen, "rebuild: %s", pg->err);
        return -1;
    }
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof group, "%s-rebuild-%d", READMODEL_CONSUMER, (int)getpid());
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof e) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, e, sizeof e) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "false", e, sizeof e) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "rebuild: kafka: %s", e);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "rebuild: kafka: %s", e);
        return -1;
    }
    rd_kafka_poll_set_consumer(rk);
    json_t *units = json_array(), *offsets = json_array();
    double t0 = now_s();
    int rc = kafka_fold_topic(rk, EVENT_TOPIC_CASE, &rb, units, offsets, err, errlen);
    if (rc == 0) rc = kafka_fold_topic(rk, EVENT_TOPIC_UNIT, &rb, units, offsets, err, errlen);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    st->read_s = now_s() - t0;
    if (rc == 0) {
        rc = pg_begin(pg) != 0 ? -1 : 0;
        if (rc == 0)
            rc = exec_ok(pg, "LOCK TABLE rep_state, rep_cases, rep_day, rep_month, rep_unit_day, rep_unit_events "
                             "IN EXCLUSIVE MODE", err, errlen);
        if (rc == 0) rc = exec_ok(pg, "TRUNCATE rep_unit_events", err, errlen);
        if (rc == 0) rc = kafka_write_unit_events(pg, units, err, errlen);
        st->hwm = 0;
        if (rc == 0) rc = rebuild_write(pg, &rb, "kafka", false, err, errlen);
        size_t i;
        json_t *o;
        json_array_foreach(offsets, i, o) {
            if (rc != 0) break;
            char part[16], off[32];
            snprintf(part, sizeof part, "%d", (int)json_integer_value(json_object_get(o, "partition")));
            snprintf(off, sizeof off, "%lld", (long long)json_integer_value(json_object_get(o, "offset")));
            const char *p[] = {READMODEL_CONSUMER, json_string_value(json_object_get(o, "topic")), part, off};
            if (pg_query(pg,
                         "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES "
                         "($1, $2, $3::int, $4::bigint) ON CONFLICT (consumer, topic, partition) DO UPDATE "
                         "SET next_offset = excluded.next_offset, updated_at = now()",
                         4, p, NULL) != 0) {
                snprintf(err, errlen, "rebuild: consumer offsets: %s", pg->err);
                rc = -1;
            }
        }
    }
    json_decref(units);
    json_decref(offsets);
    return rebuild_finish(pg, &rb, rc, err, errlen);
}

/* ---- the command line ------------------------------------------------------------------ */

int reporting_cli(int argc, char **argv, FILE *out, FILE *errf)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    const char *from = "case_events", *brokers = getenv("JIESU_KAFKA_BROKERS");
    if (sub == NULL || (strcmp(sub, "rebuild") && strcmp(sub, "status"))) {
        fprintf(errf, "usage: jiesuctl reporting rebuild [--from case_events|kafka] [--brokers HOST:PORT]\n"
                      "       jiesuctl reporting status\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--from") && i + 1 < argc) from = argv[++i];
        else if (!strcmp(argv[i], "--brokers") && i + 1 < argc) brokers = argv[++i];
        else {
            fprintf(errf, "jiesuctl reporting: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(from, "case_events") && strcmp(from, "kafka")) {
        fprintf(errf, "jiesuctl reporting: --from must be case_events or kafka, not '%s'\n", from);
        return 2;
    }
    const char *dsn = getenv("JIESU_PG_DSN");
    pg_t *pg = pg_new(dsn ? dsn : PG_DEFAULT_DSN,
                      "jiesuctl-reporting");
    if (pg == NULL || pg_ensure(pg) != 0) {
        fprintf(errf, "jiesuctl reporting: cannot connect to PostgreSQL: %s\n", pg ? pg->err : "no memory");
        pg_free(pg);
        return 1;
    }
    int rc = 0;
    if (!strcmp(sub, "status")) {
        PGresult *r = NULL;
        if (pg_query(pg,
                     "SELECT s.hwm, coalesce(s.source, '-'), coalesce(to_char(s.rebuilt_at, 'YYYY-MM-DD HH24:MI:SS'), '-'), "
                     "(SELECT count(*) FROM rep_cases), (SELECT count(*) FROM rep_day), "
                     "(SELECT count(*) FROM rep_unit_events) FROM rep_state s",
                     0, NULL, &r) != 0) {
            fprintf(errf, "jiesuctl reporting: %s\n", pg->err);
            rc = 1;
        } else {
            fprintf(out, "hwm=%s source=%s rebuilt_at=%s cases=%s day_cells=%s unit_events=%s\n",
                    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3),
                    PQgetvalue(r, 0, 4), PQgetvalue(r, 0, 5));
            PQclear(r);
        }
        pg_free(pg);
        return rc;
    }
    readmodel_stats_t st;
    char err[1024] = "";
    double t0 = now_s();
    int r = !strcmp(from, "kafka")
                ? readmodel_rebuild_from_kafka(pg, brokers ? brokers : "127.0.0.1:39092", &st, err, sizeof err)
                : readmodel_rebuild_from_events(pg, &st, err, sizeof err);
    double secs = now_s() - t0;
    if (r != 0) {
        fprintf(errf, "jiesuctl reporting rebuild: %s\n", err);
        rc = 1;
    } else {
        fprintf(out,
                "rebuilt from %s: events=%lld skipped=%lld cases=%lld day_cells=%lld unit_events=%lld hwm=%lld "
                "read_s=%.2f write_s=%.2f total_s=%.2f events_per_s=%.0f\n",
                from, st.events, st.skipped, st.cases, st.cells, st.unit_events, st.hwm, st.read_s, st.write_s,
                secs, secs > 0 ? (double)st.events / secs : 0.0);
    }
    pg_free(pg);
    return rc;
}
