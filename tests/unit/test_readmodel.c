/*
 * test_readmodel.c — the reporting fold and measures (common/readmodel.c) with numbers checked
 * by hand: one case's whole life folded event by event, a return and a re-dispatch moving the
 * case between units, a redo that makes a case late, refusals, duplicates and answers at once,
 * the four rates, the mean and the 90th percentile of a group worked out on paper, and the
 * property the consumer relies on: retracting and re-adding a case's contribution after every
 * event ends with exactly what a rebuild adds up once at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "readmodel.h"

#define CASE_A "3f0c2a9e-7b41-4d8e-9a6f-1c2d3e4f5a6b"

static event_t ev(event_type_t t, const char *at)
{
    event_t e;
    memset(&e, 0, sizeof e);
    e.type = t;
    snprintf(e.case_id, sizeof e.case_id, "%s", CASE_A);
    snprintf(e.occurred_at, sizeof e.occurred_at, "%s", at);
    return e;
}

static event_t received(const char *at, const char *region, event_kind_t kind)
{
    event_t e = ev(EVENT_CASE_RECEIVED, at);
    snprintf(e.payload.case_received.case_no, sizeof e.payload.case_received.case_no, "450103-2026-000001");
    snprintf(e.payload.case_received.region_code, sizeof e.payload.case_received.region_code, "%s", region);
    snprintf(e.payload.case_received.received_at, sizeof e.payload.case_received.received_at, "%s", at);
    e.payload.case_received.kind = kind;
    e.payload.case_received.channel = EVENT_CHANNEL_HOTLINE;
    return e;
}

static event_t dispatched(const char *at, int64_t unit, const char *sign_by)
{
    event_t e = ev(EVENT_CASE_DISPATCHED, at);
    e.payload.case_dispatched.lead_unit_id = unit;
    e.payload.case_dispatched.tier = EVENT_TIER_COUNTY;
    snprintf(e.payload.case_dispatched.sign_by, sizeof e.payload.case_dispatched.sign_by, "%s", sign_by);
    return e;
}

static event_t signed_(const char *at, int64_t unit, bool in_time, const char *resolve_by)
{
    event_t e = ev(EVENT_CASE_SIGNED, at);
    e.payload.case_signed.unit_id = unit;
    e.payload.case_signed.within_deadline = in_time;
    snprintf(e.payload.case_signed.resolve_by, sizeof e.payload.case_signed.resolve_by, "%s", resolve_by);
    return e;
}

static event_t result(const char *at, int64_t unit, int round, bool in_time)
{
    event_t e = ev(EVENT_CASE_RESULT_SUBMITTED, at);
    e.payload.case_result_submitted.unit_id = unit;
    e.payload.case_result_submitted.handling_round = round;
    e.payload.case_result_submitted.finding = EVENT_FINDING_PARTLY_TRUE;
    e.payload.case_result_submitted.within_deadline = in_time;
    return e;
}

static event_t revisit(const char *at, event_satisfaction_t sat)
{
    event_t e = ev(EVENT_CASE_REVISIT_RECORDED, at);
    e.payload.case_revisit_recorded.reached = true;
    e.payload.case_revisit_recorded.satisfaction = sat;
    return e;
}

static event_t closed(const char *at, bool solved, int wd)
{
    event_t e = ev(EVENT_CASE_CLOSED, at);
    e.payload.case_closed.resolved = solved;
    e.payload.case_closed.handling_working_days = wd;
    return e;
}

/* Collects what the fold emits per dispatch. */
typedef struct {
    rm_key_t keys[8];
    rm_counts_t d[8];
    int n;
} sink_t;

static void collect(void *ud, const rm_key_t *k, const rm_counts_t *d)
{
    sink_t *s = ud;
    assert_true(s->n < 8);
    s->keys[s->n] = *k;
    s->d[s->n++] = *d;
}

static void fold(rm_case_t *c, event_t e, sink_t *s)
{
    char err[128];
    assert_int_equal(rm_case_apply(c, &e, collect, s, err, sizeof err), 0);
}

static void test_region_tier(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        int tier;
    } t[] = {{"450000", 1}, {"450100", 2}, {"450103", 3}, {"450103001", 4}, {"450103001000", 4},
             {"4501", 0},   {"45010x", 0}, {"", 0},       {"4501030011", 0}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) assert_int_equal(rm_region_tier(t[i].code), t[i].tier);
    assert_int_equal(rm_region_tier(NULL), 0);
}

static void test_one_life(void **state)
{
    (void)state;
    rm_case_t c;
    sink_t s = {.n = 0};
    rm_case_init(&c, CASE_A);
    rm_key_t k;
    rm_counts_t n;
    assert_false(rm_case_contrib(&c, &k, &n)); /* not known yet */
    /* received 23:30 UTC on 1 March = 07:30 on 2 March in Beijing: the cohort day is 2 March */
    fold(&c, received("2026-03-01T23:30:00Z", "450103", EVENT_KIND_COMPLAINT), &s);
    assert_true(rm_case_contrib(&c, &k, &n));
    calendar_day_t d2;
    assert_int_equal(calendar_day_from_ymd(2026, 3, 2, &d2), 0);
    assert_int_equal(k.day, d2);
    assert_string_equal(k.region_code, "450103");
    assert_string_equal(k.kind, "complaint");
    assert_int_equal(k.tier, 3);
    assert_int_equal(k.unit_id, 0);
    assert_int_equal(n.received, 1);
    assert_int_equal(n.open_handling, 1);

    event_t acc = ev(EVENT_CASE_ACCEPTED, "2026-03-02T09:00:00+08:00");
    acc.payload.case_accepted.matter_type = (char *)"市政设施/道路积水";
    fold(&c, acc, &s);
    fold(&c, dispatched("2026-03-02T10:00:00+08:00", 7, "2026-03-03T23:59:59+08:00"), &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.d[0].dispatched, 1);
    assert_int_equal(s.keys[0].unit_id, 7);
    assert_true(c.sign_pending);
    fold(&c, signed_("2026-03-02T15:00:00+08:00", 7, true, "2026-03-09T23:59:59+08:00"), &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.d[1].resp_on_time, 1);
    assert_int_equal(s.d[1].resp_late, 0);
    assert_false(c.sign_pending);
    assert_string_equal(c.state, "in_progress");
    assert_true(rm_case_open_handling(&c));
    fold(&c, result("2026-03-06T16:00:00+08:00", 7, 1, true), &s);
    fold(&c, revisit("2026-03-09T10:00:00+08:00", EVENT_SATISFACTION_SATISFIED), &s);
    fold(&c, closed("2026-03-09T11:00:00+08:00", true, 4), &s);
    assert_string_equal(c.matter_type, "市政设施/道路积水");
    assert_string_equal(c.finding, "partly_true");
    assert_int_equal(c.events, 7);
    assert_true(rm_case_contrib(&c, &k, &n));
    assert_int_equal(k.unit_id, 7);
    assert_int_equal(n.received, 1);
    assert_int_equal(n.accepted, 1);
    assert_int_equal(n.open_handling, 0);
    assert_int_equal(n.done_on_time, 1);
    assert_int_equal(n.done_late, 0);
    assert_int_equal(n.closed, 1);
    assert_int_equal(n.solved, 1);
    assert_int_equal(n.rated, 1);
    assert_int_equal(n.grades[1], 1); /* 满意 */
    assert_int_equal(n.timed, 1);
    assert_int_equal(n.wd_sum, 4);
    assert_int_equal(n.hist[4], 1);
    assert_int_equal(n.dispatched, 0); /* per dispatch: only through the sink */
    /* an event of another case is refused */
    event_t other = ev(EVENT_CASE_ARCHIVED, "2026-03-10T09:00:00+08:00");
    snprintf(other.case_id, sizeof other.case_id, "00000000-0000-4000-8000-000000000001");
    char err[128];
    assert_int_equal(rm_case_apply(&c, &other, NULL, NULL, err, sizeof err), -1);
}

static void test_return_redispatch_redo(void **state)
{
    (void)state;
    rm_case_t c;
    sink_t s = {.n = 0};
    rm_case_init(&c, CASE_A);
    fold(&c, received("2026-03-02T09:00:00+08:00", "450103001", EVENT_KIND_HELP), &s);
    assert_int_equal(c.tier, 4);
    fold(&c, dispatched("2026-03-02T10:00:00+08:00", 7, "2026-03-03T23:59:59+08:00"), &s);
    /* returned a day after the sign-by: a late response of unit 7 */
    fold(&c, ev(EVENT_CASE_RETURNED, "2026-03-04T09:00:00+08:00"), &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.keys[1].unit_id, 7);
    assert_int_equal(s.d[1].resp_late, 1);
    assert_int_equal(c.unit_id, 0);
    assert_string_equal(c.state, "accepted");
    fold(&c, dispatched("2026-03-04T10:00:00+08:00", 8, "2026-03-05T23:59:59+08:00"), &s);
    fold(&c, signed_("2026-03-06T10:00:00+08:00", 8, false, "2026-03-12T23:59:59+08:00"), &s);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.keys[3].unit_id, 8);
    assert_int_equal(s.d[3].resp_late, 1);
    fold(&c, result("2026-03-10T10:00:00+08:00", 8, 1, true), &s);
    fold(&c, revisit("2026-03-11T10:00:00+08:00", EVENT_SATISFACTION_UNSATISFIED), &s);
    event_t redo = ev(EVENT_CASE_REDO_ORDERED, "2026-03-11T11:00:00+08:00");
    redo.payload.case_redo_ordered.unit_id = 8;
    redo.payload.case_redo_ordered.handling_round = 2;
    snprintf(redo.payload.case_redo_ordered.redo_by, sizeof redo.payload.case_redo_ordered.redo_by,
             "2026-03-16T23:59:59+08:00");
    fold(&c, redo, &s);
    rm_key_t k;
    rm_counts_t n;
    assert_true(rm_case_contrib(&c, &k, &n));
    assert_int_equal(n.open_handling, 1); /* back in handling: not done */
    assert_int_equal(n.done_on_time + n.done_late, 0);
    int64_t due = 0;
    assert_int_equal(event_time_to_ms("2026-03-16T23:59:59+08:00", &due), 0);
    assert_int_equal(c.due_ms, due);
    fold(&c, result("2026-03-18T10:00:00+08:00", 8, 2, false), &s); /* the redo ran late */
    fold(&c, revisit("2026-03-19T10:00:00+08:00", EVENT_SATISFACTION_BASICALLY_SATISFIED), &s);
    fold(&c, closed("2026-03-19T11:00:00+08:00", true, 12), &s);
    assert_true(rm_case_contrib(&c, &k, &n));
    assert_int_equal(k.unit_id, 8);
    assert_int_equal(n.done_late, 1);
    assert_int_equal(n.done_on_time, 0);
    assert_int_equal(n.redo, 1);
    assert_int_equal(n.grades[2], 1); /* the last rating counts: 基本满意 */
    assert_int_equal(n.hist[12], 1);
}

static void test_refused_duplicate_answered(void **state)
{
    (void)state;
    rm_case_t c;
    rm_key_t k;
    rm_counts_t n;
    rm_case_init(&c, CASE_A);
    fold(&c, received("2026-03-02T09:00:00+08:00", "450103", EVENT_KIND_COMPLAINT), NULL);
    fold(&c, ev(EVENT_CASE_REJECTED, "2026-03-02T10:00:00+08:00"), NULL);
    assert_true(rm_case_contrib(&c, &k, &n));
    assert_int_equal(n.refused, 1);
    assert_int_equal(n.accepted, 0);
    assert_int_equal(n.open_handling + n.done_on_time + n.done_late, 0); /* not in the on-time rate */

    rm_case_init(&c, CASE_A);
    fold(&c, received("2026-03-02T09:00:00+08:00", "450103", EVENT_KIND_COMPLAINT), NULL);
    fold(&c, ev(EVENT_CASE_DUPLICATE, "2026-03-02T10:00:00+08:00"), NULL);
    assert_true(rm_case_contrib(&c, &k, &n));
    assert_int_equal(n.duplicates, 1);
    fold(&c, ev(EVENT_CASE_DUPLICATE_UNLINKED, "2026-03-02T11:00:00+08:00"), NULL);
    assert_true(rm_case_contrib(&c, &k, &n));
    assert_int_equal(n.duplicates, 0);
    assert_int_equal(n.open_handling, 1);

    rm_case_init(&c, CASE_A);
    fold(&c, received("2026-03-02T09:00:00+08:00", "450103", EVENT_KIND_CONSULTATION), NULL);
    fold(&c, ev(EVENT_CASE_ANSWERED, "2026-03-02T09:05:00+08:00"), NULL);
    assert_true(rm_case_contrib(&c, &k, &n));
    assert_int_equal(n.accepted, 1);
    assert_int_equal(n.done_on_time, 1);
    assert_string_equal(k.kind, "consultation");
}

static void test_measures_by_hand(void **state)
{
    (void)state;
    rm_group_t g;
    memset(&g, 0, sizeof g);
    /* 10 dispatches: 8 signed in time, 1 late, 1 still unsigned past its sign-by → 8/10 */
    g.c.resp_on_time = 8;
    g.c.resp_late = 1;
    g.resp_overdue = 1;
    /* 6 done on time, 2 done late, 2 open past due → 6/10 */
    g.c.done_on_time = 6;
    g.c.done_late = 2;
    g.overdue_open = 2;
    g.c.open_handling = 5; /* open but not yet due: outside the rate */
    /* 5 closed, 4 solved → 0.8 */
    g.c.closed = 5;
    g.c.solved = 4;
    /* ratings 2 非常满意, 1 满意, 1 基本满意, 1 不满意 → 4/5 */
    g.c.rated = 5;
    g.c.grades[0] = 2;
    g.c.grades[1] = 1;
    g.c.grades[2] = 1;
    g.c.grades[3] = 1;
    /* handling times 1,2,2,3,3,3,4,5,8,20: mean 51/10 = 5.1, p90 (9th of 10) = 8 */
    int wds[] = {1, 2, 2, 3, 3, 3, 4, 5, 8, 20};
    for (size_t i = 0; i < 10; i++) {
        g.c.hist[wds[i]]++;
        g.c.wd_sum += wds[i];
        g.c.timed++;
    }
    rm_measures_t m;
    rm_measures_compute(&g, &m);
    assert_true(m.response.present);
    assert_int_equal(m.response.num, 8);
    assert_int_equal(m.response.den, 10);
    assert_true(m.response.value > 0.7999 && m.response.value < 0.8001);
    assert_int_equal(m.on_time.den, 10);
    assert_true(m.on_time.value > 0.5999 && m.on_time.value < 0.6001);
    assert_true(m.resolution.value > 0.7999 && m.resolution.value < 0.8001);
    assert_int_equal(m.satisfaction.num, 4);
    assert_true(m.has_handling_time);
    assert_true(m.avg_wd > 5.0999 && m.avg_wd < 5.1001);
    assert_int_equal(m.p90_wd, 8);
    assert_true(m.has_score);
    assert_true(m.score > 74.999 && m.score < 75.001); /* (80 + 60 + 80 + 80) / 4 */

    /* nothing rated, nothing closed: those rates are absent, not zero; the score averages the rest */
    memset(&g, 0, sizeof g);
    g.c.resp_on_time = 1;
    rm_measures_compute(&g, &m);
    assert_false(m.satisfaction.present);
    assert_false(m.on_time.present);
    assert_false(m.has_handling_time);
    assert_true(m.score > 99.999);
    memset(&g, 0, sizeof g);
    rm_measures_compute(&g, &m);
    assert_false(m.has_score);

    int64_t h[RM_HIST] = {0};
    assert_int_equal(rm_hist_percentile(h, RM_HIST, 90), -1);
    h[41] = 1;
    assert_int_equal(rm_hist_percentile(h, RM_HIST, 90), 41); /* the "41 or more" bucket */
    h[0] = 9;
    assert_int_equal(rm_hist_percentile(h, RM_HIST, 90), 0); /* 9 of 10 at 0 days */
}

/* The consumer's retract-and-add, simulated over a cube of up to 16 cells. */
typedef struct {
    rm_key_t k[16];
    rm_counts_t c[16];
    int n;
} cube_t;

static void cube_add(cube_t *q, const rm_key_t *k, const rm_counts_t *d, int sign)
{
    int i = 0;
    while (i < q->n && !rm_key_equal(&q->k[i], k)) i++;
    if (i == q->n) {
        assert_true(q->n < 16);
        q->k[i] = *k;
        memset(&q->c[i], 0, sizeof q->c[i]);
        q->n++;
    }
    rm_counts_add(&q->c[i], d, sign);
}

static void cube_sink(void *ud, const rm_key_t *k, const rm_counts_t *d) { cube_add(ud, k, d, 1); }

static void test_incremental_equals_rebuild(void **state)
{
    (void)state;
    event_t es[12];
    int ne = 0;
    es[ne++] = received("2026-03-02T09:00:00+08:00", "450103", EVENT_KIND_HELP);
    es[ne++] = dispatched("2026-03-02T10:00:00+08:00", 7, "2026-03-03T23:59:59+08:00");
    es[ne++] = ev(EVENT_CASE_RETURNED, "2026-03-03T09:00:00+08:00");
    es[ne] = ev(EVENT_CASE_ESCALATED, "2026-03-03T10:00:00+08:00");
    es[ne++].payload.case_escalated.to_tier = EVENT_TIER_CITY;
    es[ne] = dispatched("2026-03-03T11:00:00+08:00", 9, "2026-03-04T23:59:59+08:00");
    es[ne++].payload.case_dispatched.tier = EVENT_TIER_CITY;
    es[ne++] = signed_("2026-03-03T12:00:00+08:00", 9, true, "2026-03-10T23:59:59+08:00");
    es[ne++] = result("2026-03-09T12:00:00+08:00", 9, 1, true);
    es[ne++] = revisit("2026-03-10T12:00:00+08:00", EVENT_SATISFACTION_VERY_SATISFIED);
    es[ne++] = closed("2026-03-10T13:00:00+08:00", true, 6);
    es[ne++] = ev(EVENT_CASE_ARCHIVED, "2026-03-11T13:00:00+08:00");

    cube_t inc = {.n = 0}, reb = {.n = 0};
    rm_case_t a, b;
    rm_case_init(&a, CASE_A);
    rm_case_init(&b, CASE_A);
    char err[128];
    for (int i = 0; i < ne; i++) {
        rm_key_t k;
        rm_counts_t n;
        if (rm_case_contrib(&a, &k, &n)) cube_add(&inc, &k, &n, -1);
        assert_int_equal(rm_case_apply(&a, &es[i], cube_sink, &inc, err, sizeof err), 0);
        if (rm_case_contrib(&a, &k, &n)) cube_add(&inc, &k, &n, 1);
        assert_int_equal(rm_case_apply(&b, &es[i], cube_sink, &reb, err, sizeof err), 0);
    }
    rm_key_t k;
    rm_counts_t n;
    assert_true(rm_case_contrib(&b, &k, &n));
    cube_add(&reb, &k, &n, 1);
    assert_int_equal(k.tier, 2); /* escalated to the city, dispatched there */
    assert_int_equal(k.unit_id, 9);
    /* every non-empty cell agrees */
    int nonzero = 0;
    for (int i = 0; i < inc.n; i++) {
        if (rm_counts_zero(&inc.c[i])) continue;
        nonzero++;
        int j = 0;
        while (j < reb.n && !rm_key_equal(&reb.k[j], &inc.k[i])) j++;
        assert_true(j < reb.n);
        assert_memory_equal(&inc.c[i], &reb.c[j], sizeof inc.c[i]);
    }
    int nonzero_reb = 0;
    for (int j = 0; j < reb.n; j++) nonzero_reb += !rm_counts_zero(&reb.c[j]);
    assert_int_equal(nonzero, nonzero_reb);
    assert_int_equal(nonzero, 2); /* unit 7's dispatch and return; unit 9's dispatch and the case */
}

static void test_labels(void **state)
{
    (void)state;
    assert_string_equal(rm_state_label("in_progress"), "办理中");
    assert_string_equal(rm_kind_label("suggestion"), "意见建议");
    assert_string_equal(rm_event_label("case.signed"), "承办单位签收");
    assert_string_equal(rm_grade_label(3), "基本满意");
    assert_string_equal(rm_grade_name(1), "very_satisfied");
    assert_null(rm_grade_name(0));
    assert_string_equal(rm_state_label("unknown_state"), "unknown_state");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_tier),
        cmocka_unit_test(test_one_life),
        cmocka_unit_test(test_return_redispatch_redo),
        cmocka_unit_test(test_refused_duplicate_answered),
        cmocka_unit_test(test_measures_by_hand),
        cmocka_unit_test(test_incremental_equals_rebuild),
        cmocka_unit_test(test_labels),
    };
    return cmocka_run_group_tests_name("readmodel", tests, NULL, NULL);
}
