/*
 * fire.c — timers coming due: claimed from the Redis schedule, decided and acted on in one
 * PostgreSQL transaction per batch, and the ways the schedule is kept honest.
 *
 * A batch is three round trips. (1) BEGIN, lock the batch's cases in id order (the order every
 * writer of a case and of its clocks uses, so there is no deadlock), lock the timer rows. Then
 * timers_decide says, for each claimed "id:version", whether it breaches, warns, waits, is
 * cancelled because its case moved on, or is dropped (stale version, fired already, paused):
 * PostgreSQL's locked row is the arbiter, so a member two instances both hold can act only once.
 * (2) The timers are updated (fired with fired_at and lateness_ms; warned; cancelled), then
 * each breach's consequences run (reminders, rectification, cards, next week's progress clock),
 * all in the same transaction. (3) The events — timer.breached, timer.warned, supervision.issued,
 * card.issued — go into the outbox with one COPY, and COMMIT. Only then does Redis hear
 * what became of each member; if the transaction fails, the members go back due in a second.
 *
 * The schedule is not trusted to be complete: a catch-up scan of PostgreSQL (every
 * scan_interval_ms) fires what is overdue by more than scan_lag_ms whatever Redis says, leases
 * of a dead instance expire back into the schedule, and a schedule without its marker (FLUSHALL,
 * a Redis restart without persistence) is rebuilt from PostgreSQL at once; so is any schedule
 * older than rebuild_interval_s. A timer that fell due while everything was down is overdue at
 * the first poll after start and fires then, with its lateness recorded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "log.h"
#include "watcher.h"

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct {
    timers_member_t m;
    timers_view_t v;
    char case_id[EVENT_UUID_SIZE];
    char notice_id[EVENT_UUID_SIZE];
    char case_no[40];
    char region[16];
    timers_action_t action;
    int64_t next_ms;
} item_t;

static int ll_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int member_cmp(const void *a, const void *b)
{
    const timers_member_t *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->version - y->version;
}

/* The timer's event (timer.breached or timer.warned) into out. */
static int timer_event(wout_t *out, const item_t *it, bool breach, int64_t fired_ms, int64_t late, char *err,
                       size_t errlen)
{
    event_t ev;
    if (event_init(&ev, breach ? EVENT_TIMER_BREACHED : EVENT_TIMER_WARNED) != 0) {
        snprintf(err, errlen, "no random bytes for an event id");
        return -1;
    }
    watcher_actor_system(&ev);
    event_timer_fired_t *p = breach ? &ev.payload.timer_breached : &ev.payload.timer_warned;
    p->kind = timer_kind_to_event(it->v.kind);
    p->timer_version = it->v.version;
    deadline_time_format(it->v.due_ms, p->due_at, sizeof p->due_at);
    deadline_time_format(fired_ms, p->fired_at, sizeof p->fired_at);
    p->lateness_ms = late < 0 ? 0 : late;
    p->unit_id = it->v.unit_id;
    if (it->v.kind == TIMER_SUPERVISION_REPLY) snprintf(p->notice_id, sizeof p->notice_id, "%s", it->notice_id);
    if (it->case_id[0]) snprintf(ev.case_id, sizeof ev.case_id, "%s", it->case_id);
    else ev.unit_id = it->v.unit_id;
    return wout_add(out, &ev, err, errlen);
}

/* A pipelined batch would reconnect on a broken connection and run outside the block; this
 * makes sure the block the batch continues is still there. */
static bool still_in_tx(pg_t *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_OK && PQtransactionStatus(pg->conn) == PQTRANS_INTRANS) return true;
    snprintf(pg->err, sizeof pg->err, "the firing transaction was lost (connection %s)",
             PQstatus(pg->conn) == CONNECTION_OK ? "in a failed block" : "broken");
    pg->last_class = PG_RETRY;
    return false;
}

/* Decides and acts on members (any order, duplicates allowed). from_redis: the members are
 * this instance's claims and must be finished in Redis. Returns how many breached. */
static int fire_batch(watcher_t *w, timers_member_t *ms, size_t n, bool from_redis)
{
    pg_t *pg = w->pg_fire;
    if (n > 1) qsort(ms, n, sizeof *ms, member_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ms[i].id != ms[k - 1].id) ms[k++] = ms[i];
    n = k;
    item_t *items = calloc(n, sizeof *items);
    timers_entry_t *again = calloc(n, sizeof *again);
    char *ids = malloc(n * 24 + 3);
    wout_t *out = wout_new();
    pg_batch_t *b = pg_batch_new();
    json_t *jf = json_array(), *jw = json_array(), *jc = json_array();
    PGresult *res[4] = {0};
    size_t n_again = 0, pend_add = w->n_add, pend_rm = w->n_rm;
    int breaches = 0, ok = 0;
    char err[1024] = "";
    int64_t now = watcher_now_ms();
    double t0 = mono_ms(), t1 = t0, t2 = t0, t3 = t0;
    if (!items || !again || !ids || !out || !b || !jf || !jw || !jc) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    size_t off = 0;
    ids[off++] = '{';
    for (size_t i = 0; i < n; i++) {
        items[i].m = ms[i];
        off += (size_t)snprintf(ids + off, 24, "%s%lld", i ? "," : "", ms[i].id);
    }
    ids[off++] = '}';
    ids[off] = '\0';

    /* (1) lock the cases, then the timers */
    const char *pi[] = {ids};
    if (pg_ensure(pg) != 0 || pg_batch_add(b, "BEGIN", 0, NULL) != 0 ||
        pg_batch_add(b, "SELECT c.id, c.state, coalesce(c.lead_unit_id, 0), c.region_code, c.case_no FROM cases c "
                        "WHERE c.id IN (SELECT case_id FROM timers WHERE id = ANY($1::bigint[])) ORDER BY c.id FOR UPDATE OF c",
                     1, pi) != 0 ||
        pg_batch_add(b, "SELECT t.id, t.version, t.state, t.kind, coalesce(t.case_id::text, ''), coalesce(t.notice_id::text, ''), "
                        "coalesce(t.unit_id, 0), (extract(epoch FROM t.due_at) * 1000)::bigint, "
                        "coalesce((extract(epoch FROM t.warn_at) * 1000)::bigint, 0), t.warned_at IS NOT NULL, "
                        "t.paused_at IS NOT NULL, coalesce(n.replied_at IS NOT NULL, false), coalesce(u.region_code, '') "
                        "FROM timers t LEFT JOIN supervision_notices n ON n.id = t.notice_id "
                        "LEFT JOIN units u ON u.id = t.unit_id WHERE t.id = ANY($1::bigint[]) ORDER BY t.id",
                     1, pi) != 0 ||
        pg_batch_run(pg, b, res) != 0) {
        snprintf(err, sizeof err, "%s", pg->err);
        goto done;
    }
    pg->in_tx = 1; /* the block stays open: nothing below may reconnect and run outside it */
    t1 = mono_ms();
    PGresult *rc_ = res[1], *rt = res[2];
    int nt = PQntuples(rt), j = 0;
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        while (j < nt && strtoll(PQgetvalue(rt, j, 0), NULL, 10) < it->m.id) j++;
        if (j >= nt || strtoll(PQgetvalue(rt, j, 0), NULL, 10) != it->m.id) continue; /* found = false */
        timers_view_t *v = &it->v;
        v->found = true;
        v->version = atoi(PQgetvalue(rt, j, 1));
        v->armed = !strcmp(PQgetvalue(rt, j, 2), "armed");
        if (timer_kind_from_str(PQgetvalue(rt, j, 3), &v->kind) != 0) v->found = false;
        snprintf(it->case_id, sizeof it->case_id, "%s", PQgetvalue(rt, j, 4));
        snprintf(it->notice_id, sizeof it->notice_id, "%s", PQgetvalue(rt, j, 5));
        v->unit_id = strtoll(PQgetvalue(rt, j, 6), NULL, 10);
        v->due_ms = strtoll(PQgetvalue(rt, j, 7), NULL, 10);
        v->warn_ms = strtoll(PQgetvalue(rt, j, 8), NULL, 10);
        v->warned = PQgetvalue(rt, j, 9)[0] == 't';
        v->paused = PQgetvalue(rt, j, 10)[0] == 't';
        v->notice_replied = PQgetvalue(rt, j, 11)[0] == 't';
        snprintf(it->region, sizeof it->region, "%s", PQgetvalue(rt, j, 12));
        int lo = 0, hi = it->case_id[0] ? PQntuples(rc_) - 1 : -1, c = -1;
        while (lo <= hi) { /* the cases came ordered by id, and a uuid's text sorts as its bytes */
            int mid = lo + (hi - lo) / 2, cmp = strcmp(PQgetvalue(rc_, mid, 0), it->case_id);
            if (cmp == 0) {
                c = mid;
                break;
            }
            if (cmp < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        if (c >= 0) {
            v->has_case = true;
            if (casefsm_state_from_str(PQgetvalue(rc_, c, 1), &v->case_state) != 0) v->case_state = CASEFSM_STATE_NONE;
            v->case_unit_id = strtoll(PQgetvalue(rc_, c, 2), NULL, 10);
            snprintf(it->region, sizeof it->region, "%s", PQgetvalue(rc_, c, 3));
            snprintf(it->case_no, sizeof it->case_no, "%s", PQgetvalue(rc_, c, 4));
        }
    }

    /* decide */
    char at[40];
    deadline_time_format(now, at, sizeof at);
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        it->action = timers_decide(&it->v, it->m.version, now, &it->next_ms);
        switch (it->action) {
        case TIMERS_BREACH:
            json_array_append_new(jf, json_pack("{s:I,s:i,s:I}", "id", (json_int_t)it->m.id, "v", it->v.version,
                                                "late", (json_int_t)(now - it->v.due_ms)));
            break;
        case TIMERS_WARN:
            json_array_append_new(jw, json_pack("{s:I,s:i,s:I}", "id", (json_int_t)it->m.id, "v", it->v.version,
                                                "late", (json_int_t)(now - it->v.warn_ms)));
            again[n_again++] = (timers_entry_t){it->m, it->next_ms};
            break;
        case TIMERS_CANCEL:
            json_array_append_new(jc, json_integer(it->m.id));
            break;
        case TIMERS_WAIT:
            again[n_again++] = (timers_entry_t){it->m, it->next_ms};
            break;
        default:
            break;
        }
    }

    /* (2) the timers, then the consequences */
    char *sf = json_dumps(jf, JSON_COMPACT), *sw = json_dumps(jw, JSON_COMPACT), *sc = json_dumps(jc, JSON_COMPACT);
    const char *pf[] = {sf, at}, *pw[] = {sw, at}, *pc[] = {sc};
    for (int i = 0; i < 4; i++) {
        PQclear(res[i]);
        res[i] = NULL;
    }
    /* The claim: each update changes only a row still armed at the version decided on, so a
     * timer another instance (or the consumer) got to first is simply not returned — PostgreSQL
     * arbitrates, and only what it returns has events and consequences. */
    int q = sf && sw && sc, i_f = -1, i_w = -1, i_c = -1;
    if (q && json_array_size(jf) > 0) {
        i_f = (int)pg_batch_len(b);
        q = pg_batch_add(b, "UPDATE timers t SET state = 'fired', fired_at = $2::timestamptz, lateness_ms = greatest(x.late, 0) "
                            "FROM json_to_recordset($1::json) AS x(id bigint, v int, late bigint) WHERE t.id = x.id AND "
                            "t.version = x.v AND t.state = 'armed' AND t.paused_at IS NULL RETURNING t.id",
                         2, pf) == 0;
    }
    if (q && json_array_size(jw) > 0) {
        i_w = (int)pg_batch_len(b);
        q = pg_batch_add(b, "UPDATE timers t SET warned_at = $2::timestamptz, warn_lateness_ms = greatest(x.late, 0) "
                            "FROM json_to_recordset($1::json) AS x(id bigint, v int, late bigint) WHERE t.id = x.id AND "
                            "t.version = x.v AND t.state = 'armed' AND t.paused_at IS NULL AND t.warned_at IS NULL "
                            "RETURNING t.id",
                         2, pw) == 0;
    }
    if (q && json_array_size(jc) > 0) {
        i_c = (int)pg_batch_len(b);
        q = pg_batch_add(b, "UPDATE timers SET state = 'cancelled' WHERE id IN (SELECT json_array_elements_text($1::json)::bigint) "
                            "AND state = 'armed' RETURNING id", 1, pc) == 0;
    }
    free(sf);
    free(sw);
    free(sc);
    if (!q || !still_in_tx(pg) || (pg_batch_len(b) > 0 && pg_batch_run(pg, b, res) != 0)) {
        snprintf(err, sizeof err, "%s", q ? pg->err : "out of memory");
        goto done;
    }
    /* what was not returned was someone else's: drop it */
    long long *got = malloc((n ? n : 1) * sizeof *got);
    if (got == NULL) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    const int idx[] = {i_f, i_w, i_c};
    const timers_action_t acts[] = {TIMERS_BREACH, TIMERS_WARN, TIMERS_CANCEL};
    for (int a = 0; a < 3; a++) {
        if (idx[a] < 0) continue;
        size_t ng = 0;
        for (int r = 0; r < PQntuples(res[idx[a]]) && ng < n; r++) got[ng++] = strtoll(PQgetvalue(res[idx[a]], r, 0), NULL, 10);
        if (ng > 1) qsort(got, ng, sizeof *got, ll_cmp);
        for (size_t i = 0; i < n; i++)
            if (items[i].action == acts[a] && bsearch(&items[i].m.id, got, ng, sizeof *got, ll_cmp) == NULL)
                items[i].action = TIMERS_DROP;
    }
    free(got);
    t2 = mono_ms();
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        if (it->action != TIMERS_BREACH && it->action != TIMERS_WARN) continue;
        bool breach = it->action == TIMERS_BREACH;
        int64_t late = now - (breach ? it->v.due_ms : it->v.warn_ms);
        if (timer_event(out, it, breach, now, late, err, sizeof err) != 0) goto done;
        metric_observe(w->m_lateness, (double)(late < 0 ? 0 : late));
        if (!breach) continue;
        breaches++;
        char perr[256];
        const policy_t *p = it->region[0] ? watcher_profile(w, it->region, perr, sizeof perr) : NULL;
        wbreach_t br = {.timer_id = it->m.id, .kind = it->v.kind, .version = it->v.version,
                        .case_id = it->case_id[0] ? it->case_id : NULL, .case_no = it->case_no,
                        .unit_id = it->v.unit_id, .due_ms = it->v.due_ms, .fired_ms = now, .region = it->region};
        if (watcher_on_breach(w, pg, out, &br, p, err, sizeof err) != 0) goto done;
        if (it->v.kind == TIMER_WEEKLY_PROGRESS && p && p->progress_weekly && it->case_id[0]) {
            /* a missed weekly report does not stop the weekly clock */
            int64_t due;
            char msg[256];
            if (timers_weekly_due(w->cal, it->region, p, it->v.due_ms, &due, msg, sizeof msg) == 0) {
                warm_t a = {.case_id = it->case_id, .kind = TIMER_WEEKLY_PROGRESS, .due_ms = due,
                            .unit_id = it->v.unit_id, .unit = POLICY_UNIT_WORKING_DAYS};
                if (watcher_warn(w, pg, it->case_id, TIMER_WEEKLY_PROGRESS, it->region, p, POLICY_UNIT_WORKING_DAYS,
                                 it->v.due_ms, due, &a.warn_ms) != 0 ||
                    watcher_arm(w, pg, &a, NULL, NULL, err, sizeof err) != 0)
                    goto done;
            }
        }
    }

    t3 = mono_ms();
    /* (3) the events, and commit */
    if (!still_in_tx(pg) || wout_write(out, pg) != 0 || !still_in_tx(pg) || pg_commit(pg) != 0) {
        snprintf(err, sizeof err, "%s", pg->err);
        goto done;
    }
    ok = 1;
done:
    for (int i = 0; i < 4; i++) PQclear(res[i]);
    if (!ok) {
        pg_rollback(pg);
        w->n_add = pend_add; /* the rolled-back arms must not reach Redis */
        w->n_rm = pend_rm;
        metric_inc(w->m_fire_errors);
        LOGW("firing transaction failed; the timers stay armed and are retried", LF_INT("timers", (long long)n),
             LF_STR("error", err));
        breaches = -1;
        n_again = 0;
        for (size_t i = 0; items && again && i < n; i++) again[n_again++] = (timers_entry_t){ms[i], now + 1000};
    } else {
        for (size_t i = 0; i < n; i++) {
            switch (items[i].action) {
            case TIMERS_BREACH: metric_inc(w->m_breached); break;
            case TIMERS_WARN: metric_inc(w->m_warned); break;
            case TIMERS_CANCEL: metric_inc(w->m_cancelled); break;
            case TIMERS_WAIT: metric_inc(w->m_waited); break;
            default: metric_inc(w->m_dropped); break;
            }
        }
        w->fired_total += breaches;
        double t4 = mono_ms();
        LOGD("firing batch", LF_INT("timers", (long long)n), LF_INT("breaches", breaches), LF_DBL("lock_ms", t1 - t0),
             LF_DBL("update_ms", t2 - t1), LF_DBL("effects_ms", t3 - t2), LF_DBL("write_commit_ms", t4 - t3));
    }
    if (from_redis || n_again) {
        if (timers_sched_finish(w->sched, from_redis ? ms : NULL, from_redis ? n : 0, again, n_again) != 0)
            LOGW("schedule not updated after firing; leases and the scan cover it",
                 LF_STR("error", timers_sched_err(w->sched)));
    }
    watcher_flush(w);
    json_decref(jf);
    json_decref(jw);
    json_decref(jc);
    pg_batch_free(b);
    wout_free(out);
    free(ids);
    free(again);
    free(items);
    return breaches;
}

/* ---- the loop ---------------------------------------------------------------------------------- */

static bool redis_down_logged;

int watcher_rebuild(watcher_t *w)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        long long count = 0;
        double ms = 0;
        int rc = timers_sched_rebuild(w->sched, w->pg_fire, &count, &ms);
        if (rc == 1) {
            LOGD("schedule rebuild running elsewhere", LF_NONE);
            return 0;
        }
        if (rc == 0) {
            metric_inc(w->m_rebuilds);
            metric_set(w->m_rebuild_ms, (long long)ms);
            LOGI("schedule rebuilt from PostgreSQL", LF_INT("timers", count), LF_DBL("ms", ms),
                 LF_DBL("timers_per_s", ms > 0 ? (double)count / ms * 1000.0 : 0));
            w->lost = false;
            return 0;
        }
        LOGW("schedule rebuild failed", LF_STR("error", timers_sched_err(w->sched)), LF_INT("attempt", attempt + 1));
    }
    return -1;
}

static void poll_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watcher_t *w = arg;
    if (daemon_is_draining(w->d)) return;
    if (w->lost && watcher_rebuild(w) != 0) return;
    size_t max = (size_t)w->cfg->fire_batch;
    timers_member_t *ms = malloc(max * sizeof *ms);
    if (ms == NULL) return;
    /* drain what is due, a bounded number of batches per tick so HTTP and the consumer run */
    for (int round = 0; round < 8; round++) {
        size_t n = 0;
        bool lost = false;
        if (timers_sched_claim(w->sched, watcher_now_ms(), w->cfg->lease_ms, max, ms, &n, &lost) != 0) {
            if (!redis_down_logged)
                LOGW("schedule unavailable; the PostgreSQL scan fires due timers meanwhile",
                     LF_STR("error", timers_sched_err(w->sched)));
            redis_down_logged = true;
            break;
        }
        if (redis_down_logged) LOGI("schedule available again", LF_NONE);
        redis_down_logged = false;
        if (lost) {
            metric_inc(w->m_lost);
            LOGW("schedule lost (Redis has no marker): rebuilding from PostgreSQL", LF_NONE);
            w->lost = true;
            if (watcher_rebuild(w) != 0) break;
            continue;
        }
        if (n == 0) break;
        fire_batch(w, ms, n, true);
        if (n < max) break;
    }
    free(ms);
}

static void scan_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watcher_t *w = arg;
    if (daemon_is_draining(w->d)) return;
    size_t reaped = 0;
    if (timers_sched_reap(w->sched, watcher_now_ms(), &reaped) == 0 && reaped > 0) {
        metric_add(w->m_reaped, (long long)reaped);
        LOGI("expired leases returned to the schedule", LF_INT("timers", (long long)reaped));
    }
    /* what the schedule should have fired by now and did not (lost entries, a dead instance) */
    char lag[32], lim[16];
    snprintf(lag, sizeof lag, "%.3f", (double)w->cfg->scan_lag_ms / 1000.0);
    snprintf(lim, sizeof lim, "%ld", w->cfg->fire_batch);
    const char *p[] = {lag, lim};
    PGresult *r = NULL;
    if (pg_query(w->pg_fire,
                 "(SELECT id, version FROM timers WHERE state = 'armed' AND paused_at IS NULL AND "
                 "due_at < now() - make_interval(secs => $1::float8) ORDER BY due_at LIMIT $2::int) UNION "
                 "(SELECT id, version FROM timers WHERE state = 'armed' AND paused_at IS NULL AND warned_at IS NULL "
                 "AND warn_at IS NOT NULL AND warn_at < due_at AND warn_at < now() - make_interval(secs => $1::float8) "
                 "ORDER BY warn_at LIMIT $2::int)",
                 2, p, &r) == 0) {
        size_t n = (size_t)PQntuples(r);
        if (n > 0) {
            timers_member_t *ms = malloc(n * sizeof *ms);
            for (size_t i = 0; ms && i < n; i++)
                ms[i] = (timers_member_t){strtoll(PQgetvalue(r, (int)i, 0), NULL, 10), atoi(PQgetvalue(r, (int)i, 1))};
            /* what the schedule still holds is its to fire (it is only behind); the rest it lost.
             * With Redis away, everything overdue is the scan's. */
            if (ms && !w->lost && timers_sched_missing(w->sched, ms, &n) != 0) { /* Redis away: fire all */ }
            if (ms && n > 0) {
                metric_add(w->m_scan, (long long)n);
                LOGI("catch-up scan found overdue timers the schedule had not fired", LF_INT("timers", (long long)n));
                fire_batch(w, ms, n, false);
            }
            free(ms);
        }
        PQclear(r);
    } else {
        LOGW("catch-up scan failed", LF_STR("error", w->pg_fire->err));
    }
    /* a schedule older than rebuild_interval_s is rebuilt (by whichever instance gets there) */
    long long age = 0;
    int m = timers_sched_marker_age(w->sched, &age);
    if (m == 0) w->lost = true;
    else if (m == 1 && age > w->cfg->rebuild_interval_s && watcher_rebuild(w) != 0) { /* logged */ }
    long long scheduled = 0, inflight = 0;
    if (timers_sched_sizes(w->sched, &scheduled, &inflight) == 0) {
        metric_set(w->m_sched, scheduled);
        metric_set(w->m_inflight, inflight);
    }
}

int watcher_fire_start(watcher_t *w)
{
    struct event_base *base = daemon_base(w->d);
    w->poll_ev = event_new(base, -1, EV_PERSIST, poll_tick, w);
    w->scan_ev = event_new(base, -1, EV_PERSIST, scan_tick, w);
    if (w->poll_ev == NULL || w->scan_ev == NULL) return -1;
    /* a schedule that is missing or stale is rebuilt before the first poll */
    long long age = 0;
    int m = timers_sched_marker_age(w->sched, &age);
    if (m == 0 || (m == 1 && age > w->cfg->rebuild_interval_s)) {
        if (m == 0) LOGI("no schedule in Redis yet: building it from PostgreSQL", LF_NONE);
        w->lost = m == 0;
        if (watcher_rebuild(w) != 0) w->lost = true;
    }
    struct timeval pv = {w->cfg->poll_ms / 1000, (w->cfg->poll_ms % 1000) * 1000};
    struct timeval sv = {w->cfg->scan_interval_ms / 1000, (w->cfg->scan_interval_ms % 1000) * 1000};
    event_add(w->poll_ev, &pv);
    event_add(w->scan_ev, &sv);
    return 0;
}

void watcher_fire_stop(watcher_t *w)
{
    if (w->poll_ev) event_free(w->poll_ev);
    if (w->scan_ev) event_free(w->scan_ev);
    w->poll_ev = w->scan_ev = NULL;
}
