/*
 * timers.c — see timers.h. The rule of a firing timer and the card rule are plain functions
 * over plain structs, so the unit tests can walk every case; the schedule is a thin layer of
 * Lua scripts and pipelined commands over one hiredis connection. The scripts keep each claim
 * and each lease reap atomic in Redis, which is what lets several watchers poll one schedule
 * without taking the same member twice while its lease runs.
 */
#include "timers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "log.h"

/* ---- kinds ------------------------------------------------------------------------------ */

static const char *const kind_names[TIMER_KIND_COUNT] = {
    "sign_for", "first_contact", "resolve_by", "weekly_progress",
    "result_to_enterprise", "revisit_by", "redo_by", "supervision_reply",
};

const char *timer_kind_to_str(timer_kind_t k)
{
    return (unsigned)k < TIMER_KIND_COUNT ? kind_names[k] : NULL;
}

int timer_kind_from_str(const char *s, timer_kind_t *out)
{
    for (int i = 0; s && i < TIMER_KIND_COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (timer_kind_t)i;
            return 0;
        }
    return -1;
}

event_timer_kind_t timer_kind_to_event(timer_kind_t k)
{
    /* the event enum lists the same kinds in the same order, after _UNSET */
    return (unsigned)k < TIMER_KIND_COUNT ? (event_timer_kind_t)(k + 1) : EVENT_TIMER_UNSET;
}

const char *timers_clock_unit_str(policy_unit_t u)
{
    return u == POLICY_UNIT_HOURS ? "h" : u == POLICY_UNIT_DAYS ? "d" : "wd";
}

policy_unit_t timers_clock_unit_parse(const char *s)
{
    if (s && strcmp(s, "h") == 0) return POLICY_UNIT_HOURS;
    if (s && strcmp(s, "d") == 0) return POLICY_UNIT_DAYS;
    return POLICY_UNIT_WORKING_DAYS;
}

policy_unit_t timers_window_unit(const policy_window_t *w)
{
    if (w == NULL) return POLICY_UNIT_WORKING_DAYS;
    policy_unit_t u = w->unit == POLICY_UNIT_IMMEDIATE ? w->else_unit : w->unit;
    return u == POLICY_UNIT_HOURS || u == POLICY_UNIT_DAYS ? u : POLICY_UNIT_WORKING_DAYS;
}

bool timers_kind_is_report(timer_kind_t k)
{
    return k == TIMER_RESOLVE_BY || k == TIMER_REDO_BY || k == TIMER_WEEKLY_PROGRESS ||
           k == TIMER_SUPERVISION_REPLY;
}

/* ---- members ---------------------------------------------------------------------------- */

int timers_member_format(long long id, int version, char buf[TIMERS_MEMBER_SIZE])
{
    return snprintf(buf, TIMERS_MEMBER_SIZE, "%lld:%d", id, version);
}

int timers_member_parse(const char *s, size_t len, timers_member_t *out)
{
    long long id = 0, ver = 0;
    size_t i = 0;
    if (s == NULL || len == 0 || len >= TIMERS_MEMBER_SIZE) return -1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (id > (INT64_MAX - 9) / 10) return -1;
        id = id * 10 + (s[i] - '0');
    }
    if (i == 0 || i >= len || s[i] != ':') return -1;
    size_t j = ++i;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (ver >= 100000000) return -1;
        ver = ver * 10 + (s[i] - '0');
    }
    if (i != len || i == j || id <= 0 || ver <= 0) return -1;
    out->id = id;
    out->version = (int)ver;
    return 0;
}

int64_t timers_next_fire_ms(int64_t due_ms, int64_t warn_ms, bool warned)
{
    if (warn_ms > 0 && !warned && warn_ms < due_ms) return warn_ms;
    return due_ms + 1;
}

/* ---- the rule ----------------------------------------------------------------------------- */

const char *timers_action_str(timers_action_t a)
{
    static const char *const names[] = {"drop", "cancel", "wait", "warn", "breach"};
    return (unsigned)a < JS_ARRAY_LEN(names) ? names[a] : "?";
}

bool timers_case_allows(timer_kind_t k, casefsm_state_t s)
{
    switch (k) {
    case TIMER_SIGN_FOR:
        return s == CASEFSM_STATE_DISPATCHED;
    case TIMER_FIRST_CONTACT:
    case TIMER_RESOLVE_BY:
    case TIMER_WEEKLY_PROGRESS:
    case TIMER_REDO_BY:
        return s == CASEFSM_STATE_IN_PROGRESS;
    case TIMER_REVISIT_BY:
        return s == CASEFSM_STATE_RESOLVED;
    case TIMER_RESULT_TO_ENTERPRISE:
        return s == CASEFSM_STATE_RESOLVED || s == CASEFSM_STATE_CLOSED ||
               s == CASEFSM_STATE_ARCHIVED;
    case TIMER_SUPERVISION_REPLY:
    default:
        return false;
    }
}

/* Has the case or notice moved on so that this clock no longer concerns anyone? */
static bool moved_on(const timers_view_t *v)
{
    if (v->kind == TIMER_SUPERVISION_REPLY) return v->notice_replied;
    if (!v->has_case || !timers_case_allows(v->kind, v->case_state)) return true;
    /* a unit's clock ends when the case is no longer that unit's (re-routed, remit decided) */
    if (v->unit_id != 0 && v->case_unit_id != 0 && v->unit_id != v->case_unit_id &&
        (v->kind == TIMER_SIGN_FOR || v->kind == TIMER_FIRST_CONTACT ||
         v->kind == TIMER_RESOLVE_BY || v->kind == TIMER_WEEKLY_PROGRESS))
        return true;
    return false;
}

timers_action_t timers_decide(const timers_view_t *v, int claimed_version, int64_t now_ms,
                              int64_t *next_ms)
{
    if (!v->found || v->version != claimed_version || !v->armed || v->paused) return TIMERS_DROP;
    if (moved_on(v)) return TIMERS_CANCEL;
    if (now_ms > v->due_ms) return TIMERS_BREACH; /* a warning that comes too late is skipped */
    bool warn_pending = v->warn_ms > 0 && !v->warned && v->warn_ms < v->due_ms;
    if (warn_pending && now_ms >= v->warn_ms) {
        *next_ms = v->due_ms + 1;
        return TIMERS_WARN;
    }
    *next_ms = timers_next_fire_ms(v->due_ms, v->warn_ms, v->warned);
    return TIMERS_WAIT;
}

/* ---- cards ------------------------------------------------------------------------------- */

int timers_cards_on_miss(const policy_t *p, timers_card_run_t *run, timers_card_t out[2])
{
    if (p == NULL || !p->cards_enabled) return 0;
    int n = 0;
    if (run->yellow_run < 100) run->yellow_run++;
    out[n++] = (timers_card_t){EVENT_COLOUR_YELLOW, run->yellow_run, EVENT_INTERVIEW_NONE,
                               EVENT_CARD_REASON_MISSED_FEEDBACK_DEADLINE};
    int yellows = p->cards_red_after_yellows > 0 ? p->cards_red_after_yellows : 2;
    if (run->yellow_run >= yellows) {
        run->yellow_run = 0;
        if (run->red_run < 100) run->red_run++;
        int reds = p->cards_principal_after_reds > 0 ? p->cards_principal_after_reds : 2;
        if (run->red_run >= reds) {
            out[n++] = (timers_card_t){EVENT_COLOUR_RED, run->red_run, EVENT_INTERVIEW_PRINCIPAL_HEAD,
                                       EVENT_CARD_REASON_CONSECUTIVE_RED};
            run->red_run = 0;
        } else {
            out[n++] = (timers_card_t){EVENT_COLOUR_RED, run->red_run, EVENT_INTERVIEW_DEPUTY_HEAD,
                                       EVENT_CARD_REASON_CONSECUTIVE_YELLOW};
        }
    }
    return n;
}

void timers_cards_on_time(timers_card_run_t *run)
{
    run->yellow_run = 0;
    run->red_run = 0;
}

/* ---- computed clocks -------------------------------------------------------------------- */

int timers_weekly_due(const calendar_t *cal, const char *region, const policy_t *p,
                      int64_t from_ms, int64_t *due_ms, char *err, size_t errlen)
{
    if (p == NULL || !p->progress_weekly) {
        if (err) snprintf(err, errlen, "profile '%s' has no weekly progress report", p ? p->name : "?");
        return -1;
    }
    calendar_day_t start = deadline_local_day(from_ms), day = start + 7;
    if (p->progress_weekday >= 1 && p->progress_weekday <= 7) {
        day = start + 1;
        while (calendar_day_weekday(day) != p->progress_weekday) day++;
    }
    /* a report day that is a rest day moves to the next working day */
    calendar_day_t work;
    if (calendar_add_working_days(cal, region, day - 1, 1, &work, err, errlen) != 0) return -1;
    *due_ms = deadline_local_instant(work, p->office_close_s);
    return 0;
}

/* ---- the schedule ------------------------------------------------------------------------- */

struct timers_sched {
    rds_t *r;
    char k_sched[160], k_inflight[160], k_marker[160], k_lock[160];
    char err[512];
};

static void sched_err(timers_sched_t *s, const char *fmt, ...) JS_PRINTF(2, 3);
static void sched_err(timers_sched_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

timers_sched_t *timers_sched_new(rds_t *r, const char *prefix)
{
    if (r == NULL || prefix == NULL || strlen(prefix) > 128) return NULL;
    timers_sched_t *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->r = r;
    snprintf(s->k_sched, sizeof s->k_sched, "%s:schedule", prefix);
    snprintf(s->k_inflight, sizeof s->k_inflight, "%s:inflight", prefix);
    snprintf(s->k_marker, sizeof s->k_marker, "%s:marker", prefix);
    snprintf(s->k_lock, sizeof s->k_lock, "%s:rebuild", prefix);
    return s;
}

void timers_sched_free(timers_sched_t *s) { free(s); }

const char *timers_sched_err(const timers_sched_t *s) { return s->err; }

/* Sends n commands at once and reads every reply; replies are freed. -1 if the connection
 * failed or any reply was an error (the first error is kept). */
typedef struct {
    int argc;
    const char **argv;
    size_t *lens;
} pipe_cmd_t;

static int pipe_run(timers_sched_t *s, const pipe_cmd_t *cmds, size_t n)
{
    if (rds_ensure(s->r) != 0) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    redisContext *c = s->r->ctx;
    for (size_t i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv, cmds[i].lens) != REDIS_OK) goto broken;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL) goto broken;
        if (rep->type == REDIS_REPLY_ERROR && rc == 0) {
            sched_err(s, "redis: %.*s", (int)rep->len, rep->str);
            rc = -1;
        }
        freeReplyObject(rep);
    }
    return rc;
broken:
    sched_err(s, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
    redisFree(c);
    s->r->ctx = NULL;
    return -1;
}

/* Builds "ZADD key score member …" for entries e[0..n) into caller-provided arrays. */
static void zadd_argv(const char *key, const timers_entry_t *e, size_t n, const char **argv,
                      size_t *lens, char (*buf)[TIMERS_MEMBER_SIZE], char (*score)[24])
{
    argv[0] = "ZADD";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = strlen(key);
    for (size_t i = 0; i < n; i++) {
        lens[2 + 2 * i] = (size_t)snprintf(score[i], 24, "%lld", (long long)e[i].at_ms);
        argv[2 + 2 * i] = score[i];
        lens[3 + 2 * i] = (size_t)timers_member_format(e[i].m.id, e[i].m.version, buf[i]);
        argv[3 + 2 * i] = buf[i];
    }
}

#define ZADD_CHUNK 1000

int timers_sched_add(timers_sched_t *s, const timers_entry_t *e, size_t n)
{
    if (n == 0) return 0;
    size_t chunks = (n + ZADD_CHUNK - 1) / ZADD_CHUNK, per = n < ZADD_CHUNK ? n : ZADD_CHUNK;
    const char **argv = malloc((2 + 2 * per) * chunks * sizeof *argv);
    size_t *lens = malloc((2 + 2 * per) * chunks * sizeof *lens);
    char(*buf)[TIMERS_MEMBER_SIZE] = malloc(n * sizeof *buf);
    char(*score)[24] = malloc(n * sizeof *score);
    pipe_cmd_t *cmds = malloc(chunks * sizeof *cmds);
    int rc = -1;
    if (!argv || !lens || !buf || !score || !cmds) {
        sched_err(s, "out of memory");
        goto out;
    }
    for (size_t c = 0; c < chunks; c++) {
        size_t off = c * ZADD_CHUNK, k = n - off < ZADD_CHUNK ? n - off : ZADD_CHUNK;
        const char **a = argv + c * (2 + 2 * per);
        size_t *l = lens + c * (2 + 2 * per);
        zadd_argv(s->k_sched, e + off, k, a, l, buf + off, score + off);
        cmds[c] = (pipe_cmd_t){(int)(2 + 2 * k), a, l};
    }
    rc = pipe_run(s, cmds, chunks);
out:
    free(argv);
    free(lens);
    free(buf);
    free(score);
    free(cmds);
    return rc;
}

/* KEYS: schedule, inflight, marker. ARGV: now, max, lease_until.
 * Returns {0} when the marker is missing, else {1, member…}. */
static const char CLAIM_LUA[] =
    "if redis.call('EXISTS', KEYS[3]) == 0 then return {0} end\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "if #due == 0 then return {1} end\n"
    "local args = {}\n"
    "for i, m in ipairs(due) do args[2 * i - 1] = ARGV[3]; args[2 * i] = m end\n"
    "redis.call('ZADD', KEYS[2], unpack(args))\n"
    "redis.call('ZREM', KEYS[1], unpack(due))\n"
    "return {1, unpack(due)}\n";

/* KEYS: inflight, schedule. ARGV: now, max. Moves expired leases back, due at once. */
static const char REAP_LUA[] =
    "local exp = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "if #exp == 0 then return 0 end\n"
    "local args = {}\n"
    "for i, m in ipairs(exp) do args[2 * i - 1] = ARGV[1]; args[2 * i] = m end\n"
    "redis.call('ZADD', KEYS[2], unpack(args))\n"
    "redis.call('ZREM', KEYS[1], unpack(exp))\n"
    "return #exp\n";

/* KEYS: key. ARGV: expected, new (or "" to delete). Compare-and-set. */
static const char CAS_LUA[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end\n"
    "return 1\n";

int timers_sched_claim(timers_sched_t *s, int64_t now_ms, int64_t lease_ms, size_t max,
                       timers_member_t *out, size_t *n, bool *lost)
{
    *n = 0;
    *lost = false;
    if (max == 0) return 0;
    if (max > 1000) max = 1000;
    char now[24], mx[24], until[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(mx, sizeof mx, "%zu", max);
    snprintf(until, sizeof until, "%lld", (long long)(now_ms + lease_ms));
    const char *argv[] = {"EVAL", CLAIM_LUA, "3", s->k_sched, s->k_inflight, s->k_marker, now, mx, until};
    redisReply *rep = rds_cmd(s->r, (int)JS_ARRAY_LEN(argv), argv, NULL);
    if (rep == NULL) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    int rc = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER) {
        sched_err(s, "claim: unexpected reply");
        rc = -1;
    } else if (rep->element[0]->integer == 0) {
        *lost = true;
    } else {
        for (size_t i = 1; i < rep->elements; i++) {
            redisReply *e = rep->element[i];
            timers_member_t m;
            if (e->type == REDIS_REPLY_STRING && timers_member_parse(e->str, e->len, &m) == 0) {
                out[(*n)++] = m;
            } else if (e->type == REDIS_REPLY_STRING) { /* not ours: drop it */
                const char *zr[] = {"ZREM", s->k_inflight, e->str};
                size_t zl[] = {4, strlen(s->k_inflight), e->len};
                redisReply *x = rds_cmd(s->r, 3, zr, zl);
                if (x) freeReplyObject(x);
            }
        }
    }
    freeReplyObject(rep);
    return rc;
}

int timers_sched_finish(timers_sched_t *s, const timers_member_t *done, size_t n,
                        const timers_entry_t *again, size_t n_again)
{
    if (n == 0 && n_again == 0) return 0;
    const char **argv = malloc((2 + n) * sizeof *argv);
    size_t *lens = malloc((2 + n) * sizeof *lens);
    char(*buf)[TIMERS_MEMBER_SIZE] = malloc((n ? n : 1) * sizeof *buf);
    int rc = -1;
    if (!argv || !lens || !buf) {
        sched_err(s, "out of memory");
        goto out;
    }
    if (n_again > 0 && timers_sched_add(s, again, n_again) != 0) goto out;
    if (n > 0) {
        argv[0] = "ZREM";
        lens[0] = 4;
        argv[1] = s->k_inflight;
        lens[1] = strlen(s->k_inflight);
        for (size_t i = 0; i < n; i++) {
            lens[2 + i] = (size_t)timers_member_format(done[i].id, done[i].version, buf[i]);
            argv[2 + i] = buf[i];
        }
        pipe_cmd_t cmd = {(int)(2 + n), argv, lens};
        if (pipe_run(s, &cmd, 1) != 0) goto out;
    }
    rc = 0;
out:
    free(argv);
    free(lens);
    free(buf);
    return rc;
}

int timers_sched_reap(timers_sched_t *s, int64_t now_ms, size_t *n)
{
    *n = 0;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *argv[] = {"EVAL", REAP_LUA, "2", s->k_inflight, s->k_sched, now, "1000"};
    redisReply *rep = rds_cmd(s->r, (int)JS_ARRAY_LEN(argv), argv, NULL);
    if (rep == NULL) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    if (rep->type == REDIS_REPLY_INTEGER) *n = (size_t)rep->integer;
    freeReplyObject(rep);
    return 0;
}

int timers_sched_whole(timers_sched_t *s)
{
    const char *argv[] = {"EXISTS", s->k_marker};
    redisReply *rep = rds_cmd(s->r, 2, argv, NULL);
    if (rep == NULL) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    int whole = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    return whole;
}

int timers_sched_missing(timers_sched_t *s, timers_member_t *m, size_t *n)
{
    if (*n == 0) return 0;
    if (rds_ensure(s->r) != 0) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    redisContext *c = s->r->ctx;
    char buf[TIMERS_MEMBER_SIZE];
    for (size_t i = 0; i < *n; i++) {
        timers_member_format(m[i].id, m[i].version, buf);
        if (redisAppendCommand(c, "ZSCORE %s %s", s->k_sched, buf) != REDIS_OK ||
            redisAppendCommand(c, "ZSCORE %s %s", s->k_inflight, buf) != REDIS_OK)
            goto broken;
    }
    size_t k = 0;
    int failed = 0;
    for (size_t i = 0; i < *n; i++) {
        int present = 0;
        for (int j = 0; j < 2; j++) {
            redisReply *rep = NULL;
            if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL) goto broken;
            if (rep->type == REDIS_REPLY_ERROR) failed = 1;
            else if (rep->type != REDIS_REPLY_NIL) present = 1;
            freeReplyObject(rep);
        }
        if (!present) m[k++] = m[i];
    }
    if (failed) {
        sched_err(s, "redis: an error reply while checking the schedule");
        return -1;
    }
    *n = k;
    return 0;
broken:
    sched_err(s, "redis: %s", c->errstr[0] ? c->errstr : "connection lost");
    redisFree(c);
    s->r->ctx = NULL;
    return -1;
}

int timers_sched_marker_age(timers_sched_t *s, long long *age_s)
{
    const char *argv[] = {"GET", s->k_marker};
    redisReply *rep = rds_cmd(s->r, 2, argv, NULL);
    if (rep == NULL) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    int rc = rep->type == REDIS_REPLY_STRING;
    *age_s = 0;
    if (rc && rep->len > 6 && strncmp(rep->str, "whole:", 6) == 0) {
        long long t = strtoll(rep->str + 6, NULL, 10);
        *age_s = (long long)time(NULL) - t;
        if (*age_s < 0) *age_s = 0;
    }
    freeReplyObject(rep);
    return rc;
}

int timers_sched_sizes(timers_sched_t *s, long long *scheduled, long long *inflight)
{
    const char *a1[] = {"ZCARD", s->k_sched}, *a2[] = {"ZCARD", s->k_inflight};
    redisReply *r1 = rds_cmd(s->r, 2, a1, NULL);
    redisReply *r2 = r1 ? rds_cmd(s->r, 2, a2, NULL) : NULL;
    int rc = r1 && r2 ? 0 : -1;
    if (rc == 0) {
        *scheduled = r1->integer;
        *inflight = r2->integer;
    } else {
        sched_err(s, "%s", s->r->err);
    }
    if (r1) freeReplyObject(r1);
    if (r2) freeReplyObject(r2);
    return rc;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Parses one COPY line "id\tversion\tnext_ms\n". */
static int copy_line(const char *p, size_t len, timers_entry_t *e)
{
    char line[96];
    if (len == 0 || len >= sizeof line) return -1;
    memcpy(line, p, len);
    line[len] = '\0';
    char *a = line, *b = strchr(a, '\t'), *c = b ? strchr(b + 1, '\t') : NULL;
    if (b == NULL || c == NULL) return -1;
    *b++ = '\0';
    *c++ = '\0';
    e->m.id = strtoll(a, NULL, 10);
    e->m.version = atoi(b);
    e->at_ms = strtoll(c, NULL, 10);
    return e->m.id > 0 && e->m.version > 0 ? 0 : -1;
}

static int sched_cas(timers_sched_t *s, const char *key, const char *expected, const char *next)
{
    const char *argv[] = {"EVAL", CAS_LUA, "1", key, expected, next};
    redisReply *rep = rds_cmd(s->r, 6, argv, NULL);
    if (rep == NULL) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    int ok = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    return ok;
}

/* The next fire instant in SQL, as timers_next_fire_ms computes it. */
#define NEXT_FIRE_SQL                                                                            \
    "(extract(epoch FROM CASE WHEN warn_at IS NOT NULL AND warned_at IS NULL AND warn_at < "      \
    "due_at THEN warn_at ELSE due_at + interval '1 millisecond' END) * 1000)::bigint"

int timers_sched_rebuild(timers_sched_t *s, pg_t *pg, long long *count, double *ms)
{
    *count = 0;
    *ms = 0;
    double t0 = mono_ms();
    char token[64];
    snprintf(token, sizeof token, "%lld.%d", (long long)time(NULL), (int)(mono_ms()) % 1000000);
    const char *lk[] = {"SET", s->k_lock, token, "NX", "PX", "120000"};
    redisReply *rep = rds_cmd(s->r, 6, lk, NULL);
    if (rep == NULL) {
        sched_err(s, "%s", s->r->err);
        return -1;
    }
    int got = rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!got) return 1; /* another instance is rebuilding */

    char building[80];
    snprintf(building, sizeof building, "building:%s", token);
    const char *mk[] = {"SET", s->k_marker, building};
    int rc = -1;
    timers_entry_t *buf = NULL;
    if ((rep = rds_cmd(s->r, 3, mk, NULL)) == NULL) {
        sched_err(s, "%s", s->r->err);
        goto unlock;
    }
    freeReplyObject(rep);

    if (pg_ensure(pg) != 0) {
        sched_err(s, "postgres: %s", pg->err);
        goto unlock;
    }
    PGresult *res = PQexec(pg->conn, "COPY (SELECT id, version, " NEXT_FIRE_SQL
                                     " FROM timers WHERE state = 'armed' AND paused_at IS NULL) TO STDOUT");
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        sched_err(s, "postgres: %s", PQerrorMessage(pg->conn));
        PQclear(res);
        goto unlock;
    }
    PQclear(res);
    enum { BATCH = 50000 };
    buf = malloc(BATCH * sizeof *buf);
    size_t n = 0;
    int failed = buf == NULL;
    for (;;) {
        char *line = NULL;
        int len = PQgetCopyData(pg->conn, &line, 0);
        if (len < 0) break;
        if (!failed && copy_line(line, (size_t)len - (len > 0 && line[len - 1] == '\n'), &buf[n]) == 0 &&
            ++n == BATCH) {
            if (timers_sched_add(s, buf, n) != 0) failed = 1;
            *count += (long long)n;
            n = 0;
        }
        PQfreemem(line);
    }
    while ((res = PQgetResult(pg->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed) {
            sched_err(s, "postgres: %s", PQresultErrorMessage(res));
            failed = 1;
        }
        PQclear(res);
    }
    if (!failed && n > 0) {
        if (timers_sched_add(s, buf, n) != 0) failed = 1;
        *count += (long long)n;
    }
    if (failed) {
        if (buf == NULL) sched_err(s, "out of memory");
        goto unlock;
    }
    char whole[80];
    snprintf(whole, sizeof whole, "whole:%s", token);
    int cas = sched_cas(s, s->k_marker, building, whole);
    if (cas == 0) sched_err(s, "the schedule was lost again while it was rebuilt");
    rc = cas == 1 ? 0 : -1;
unlock:
    free(buf);
    if (sched_cas(s, s->k_lock, token, "") < 0 && rc == 0) rc = -1;
    *ms = mono_ms() - t0;
    return rc;
}
