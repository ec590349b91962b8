/*
 * test_timers.c — the deadline watcher's scheduling logic without a database or Redis: timer
 * kinds and their event spelling, schedule members, the next instant a timer needs attention,
 * the rule that decides what a claimed timer does (drop, cancel, wait, warn, breach), the card
 * rule of seed 004, the weekly progress clock, and the two counting helpers the watcher adds
 * to part A (the warning of a deadline an event carried, the credit of a closed pause).
 *
 * Expected instants are worked out by hand from the State Council arrangements (DOMAIN.md §4)
 * in the comment beside each; the shipped profiles and calendars are used (JIESU_ROOT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calendar.h"
#include "deadline.h"
#include "policy.h"
#include "timers.h"

static char errbuf[1024];

static const char *root(void)
{
    const char *r = getenv("JIESU_ROOT");
    return r != NULL && *r != '\0' ? r : ".";
}

typedef struct {
    calendar_t *cal;
    policy_set_t *ps;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char dir[512];
    f->cal = calendar_new();
    f->ps = policy_set_new();
    snprintf(dir, sizeof dir, "%s/deploy/calendar", root());
    if (calendar_load_dir(f->cal, dir, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "%s\n", errbuf);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s/deploy/policies", root());
    if (policy_set_load_dir(f->ps, dir, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "%s\n", errbuf);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    calendar_free(f->cal);
    policy_set_free(f->ps);
    free(f);
    return 0;
}

static int64_t at(const char *s)
{
    int64_t ms = 0;
    if (deadline_time_parse(s, &ms, errbuf, sizeof errbuf) != 0) fail_msg("bad instant %s: %s", s, errbuf);
    return ms;
}

static void assert_instant(int64_t ms, const char *want)
{
    char got[40];
    deadline_time_format(ms, got, sizeof got);
    assert_string_equal(got, want);
}

/* ---- kinds and members ------------------------------------------------------------------ */

static void test_kinds(void **state)
{
    (void)state;
    static const struct {
        timer_kind_t k;
        const char *name;
        event_timer_kind_t ev;
    } rows[] = {
        {TIMER_SIGN_FOR, "sign_for", EVENT_TIMER_SIGN_FOR},
        {TIMER_FIRST_CONTACT, "first_contact", EVENT_TIMER_FIRST_CONTACT},
        {TIMER_RESOLVE_BY, "resolve_by", EVENT_TIMER_RESOLVE_BY},
        {TIMER_WEEKLY_PROGRESS, "weekly_progress", EVENT_TIMER_WEEKLY_PROGRESS},
        {TIMER_RESULT_TO_ENTERPRISE, "result_to_enterprise", EVENT_TIMER_RESULT_TO_ENTERPRISE},
        {TIMER_REVISIT_BY, "revisit_by", EVENT_TIMER_REVISIT_BY},
        {TIMER_REDO_BY, "redo_by", EVENT_TIMER_REDO_BY},
        {TIMER_SUPERVISION_REPLY, "supervision_reply", EVENT_TIMER_SUPERVISION_REPLY},
    };
    assert_int_equal(JS_ARRAY_LEN(rows), TIMER_KIND_COUNT);
    for (size_t i = 0; i < JS_ARRAY_LEN(rows); i++) {
        timer_kind_t k;
        assert_string_equal(timer_kind_to_str(rows[i].k), rows[i].name);
        assert_int_equal(timer_kind_from_str(rows[i].name, &k), 0);
        assert_int_equal(k, rows[i].k);
        assert_int_equal(timer_kind_to_event(rows[i].k), rows[i].ev);
    }
    timer_kind_t k;
    assert_int_equal(timer_kind_from_str("coffee_break", &k), -1);
    assert_int_equal(timer_kind_from_str(NULL, &k), -1);
    assert_null(timer_kind_to_str(TIMER_KIND_COUNT));
    assert_int_equal(timer_kind_to_event(TIMER_KIND_COUNT), EVENT_TIMER_UNSET);
    /* the reporting deadlines whose miss earns a card */
    assert_true(timers_kind_is_report(TIMER_RESOLVE_BY));
    assert_true(timers_kind_is_report(TIMER_REDO_BY));
    assert_true(timers_kind_is_report(TIMER_WEEKLY_PROGRESS));
    assert_true(timers_kind_is_report(TIMER_SUPERVISION_REPLY));
    assert_false(timers_kind_is_report(TIMER_SIGN_FOR));
    assert_false(timers_kind_is_report(TIMER_REVISIT_BY));
}

static void test_members(void **state)
{
    (void)state;
    char buf[TIMERS_MEMBER_SIZE];
    timers_member_t m;
    assert_int_equal(timers_member_format(123456789012LL, 7, buf), 14);
    assert_string_equal(buf, "123456789012:7");
    assert_int_equal(timers_member_parse(buf, strlen(buf), &m), 0);
    assert_true(m.id == 123456789012LL && m.version == 7);
    static const char *const bad[] = {"", ":", "1:", ":1", "0:1", "1:0", "a:1", "1:b", "1:2:3", " 1:2",
                                      "1:2 ", "-1:2", "1:-2", "99999999999999999999:1", "1;2", "1:1000000000"};
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++)
        if (timers_member_parse(bad[i], strlen(bad[i]), &m) != -1) fail_msg("member '%s' was accepted", bad[i]);
    /* only the given length counts: "12:3" within "12:34" */
    assert_int_equal(timers_member_parse("12:34", 4, &m), 0);
    assert_true(m.id == 12 && m.version == 3);
}

static void test_units(void **state)
{
    (void)state;
    policy_window_t w;
    assert_int_equal(policy_window_parse("immediate, else 24h", &w, errbuf, sizeof errbuf), 0);
    assert_int_equal(timers_window_unit(&w), POLICY_UNIT_HOURS);
    assert_int_equal(policy_window_parse("5d", &w, errbuf, sizeof errbuf), 0);
    assert_int_equal(timers_window_unit(&w), POLICY_UNIT_DAYS);
    assert_int_equal(policy_window_parse("agreed", &w, errbuf, sizeof errbuf), 0);
    assert_int_equal(timers_window_unit(&w), POLICY_UNIT_WORKING_DAYS);
    assert_int_equal(timers_window_unit(NULL), POLICY_UNIT_WORKING_DAYS);
    assert_string_equal(timers_clock_unit_str(POLICY_UNIT_HOURS), "h");
    assert_string_equal(timers_clock_unit_str(POLICY_UNIT_DAYS), "d");
    assert_string_equal(timers_clock_unit_str(POLICY_UNIT_AGREED), "wd");
    assert_int_equal(timers_clock_unit_parse("h"), POLICY_UNIT_HOURS);
    assert_int_equal(timers_clock_unit_parse("d"), POLICY_UNIT_DAYS);
    assert_int_equal(timers_clock_unit_parse("wd"), POLICY_UNIT_WORKING_DAYS);
    assert_int_equal(timers_clock_unit_parse(NULL), POLICY_UNIT_WORKING_DAYS);
}

static void test_next_fire(void **state)
{
    (void)state;
    /* the warning first while it is pending, else just after the (inclusive) deadline */
    assert_true(timers_next_fire_ms(10000, 4000, false) == 4000);
    assert_true(timers_next_fire_ms(10000, 4000, true) == 10001);
    assert_true(timers_next_fire_ms(10000, 0, false) == 10001);
    assert_true(timers_next_fire_ms(10000, 10000, false) == 10001); /* a warning at the deadline is none */
    assert_true(timers_next_fire_ms(10000, 12000, false) == 10001);
}

/* ---- the rule of a firing timer -------------------------------------------------------------- */

static timers_view_t view(timer_kind_t k, casefsm_state_t s)
{
    timers_view_t v = {.found = true, .version = 3, .armed = true, .kind = k, .due_ms = 100000, .warn_ms = 50000,
                       .unit_id = 7, .has_case = true, .case_state = s, .case_unit_id = 7};
    return v;
}

static void test_decide(void **state)
{
    (void)state;
    int64_t next = -1;
    struct {
        const char *what;
        timers_view_t v;
        int claimed;
        int64_t now;
        timers_action_t want;
        int64_t want_next;
    } rows[] = {
        {"row gone", {.found = false}, 3, 200000, TIMERS_DROP, -1},
        {"older generation claimed", view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS), 2, 200000, TIMERS_DROP, -1},
        {"newer generation claimed (impossible, still dropped)", view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS), 4, 200000, TIMERS_DROP, -1},
        {"breach", view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS), 3, 100001, TIMERS_BREACH, -1},
        {"on time until the deadline itself", view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS), 3, 100000, TIMERS_WARN, 100001},
        {"warning due", view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS), 3, 50000, TIMERS_WARN, 100001},
        {"claimed early", view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS), 3, 49999, TIMERS_WAIT, 50000},
        {"sign-for while dispatched", view(TIMER_SIGN_FOR, CASEFSM_STATE_DISPATCHED), 3, 200000, TIMERS_BREACH, -1},
        {"sign-for after signing", view(TIMER_SIGN_FOR, CASEFSM_STATE_IN_PROGRESS), 3, 200000, TIMERS_CANCEL, -1},
        {"sign-for after a return", view(TIMER_SIGN_FOR, CASEFSM_STATE_ACCEPTED), 3, 200000, TIMERS_CANCEL, -1},
        {"resolve-by after the result", view(TIMER_RESOLVE_BY, CASEFSM_STATE_RESOLVED), 3, 200000, TIMERS_CANCEL, -1},
        {"resolve-by of a closed case", view(TIMER_RESOLVE_BY, CASEFSM_STATE_CLOSED), 3, 200000, TIMERS_CANCEL, -1},
        {"revisit while resolved", view(TIMER_REVISIT_BY, CASEFSM_STATE_RESOLVED), 3, 200000, TIMERS_BREACH, -1},
        {"revisit after a redo order", view(TIMER_REVISIT_BY, CASEFSM_STATE_IN_PROGRESS), 3, 200000, TIMERS_CANCEL, -1},
        {"redo while in progress", view(TIMER_REDO_BY, CASEFSM_STATE_IN_PROGRESS), 3, 200000, TIMERS_BREACH, -1},
        {"result to enterprise after closing", view(TIMER_RESULT_TO_ENTERPRISE, CASEFSM_STATE_CLOSED), 3, 200000, TIMERS_BREACH, -1},
        {"first contact while dispatched", view(TIMER_FIRST_CONTACT, CASEFSM_STATE_DISPATCHED), 3, 200000, TIMERS_CANCEL, -1},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(rows); i++) {
        next = -1;
        timers_action_t a = timers_decide(&rows[i].v, rows[i].claimed, rows[i].now, &next);
        if (a != rows[i].want || (rows[i].want_next >= 0 && next != rows[i].want_next))
            fail_msg("%s: got %s next %lld, want %s next %lld", rows[i].what, timers_action_str(a), (long long)next,
                     timers_action_str(rows[i].want), (long long)rows[i].want_next);
    }
    /* not armed (fired, cancelled, stale) or paused: dropped whatever the time */
    timers_view_t v = view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS);
    v.armed = false;
    assert_int_equal(timers_decide(&v, 3, 200000, &next), TIMERS_DROP);
    v = view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS);
    v.paused = true;
    assert_int_equal(timers_decide(&v, 3, 200000, &next), TIMERS_DROP);
    /* a warning already sent: the next attention is the deadline */
    v = view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS);
    v.warned = true;
    assert_int_equal(timers_decide(&v, 3, 60000, &next), TIMERS_WAIT);
    assert_true(next == 100001);
    /* no warning at all */
    v.warned = false;
    v.warn_ms = 0;
    assert_int_equal(timers_decide(&v, 3, 60000, &next), TIMERS_WAIT);
    assert_true(next == 100001);
    /* the case went to another unit (remit decided): that unit's old clock ends */
    v = view(TIMER_SIGN_FOR, CASEFSM_STATE_DISPATCHED);
    v.case_unit_id = 8;
    assert_int_equal(timers_decide(&v, 3, 200000, &next), TIMERS_CANCEL);
    /* … but the redo's unit is named by the redo order, not the lead */
    v = view(TIMER_REDO_BY, CASEFSM_STATE_IN_PROGRESS);
    v.case_unit_id = 8;
    assert_int_equal(timers_decide(&v, 3, 200000, &next), TIMERS_BREACH);
    /* a case the database no longer shows */
    v = view(TIMER_RESOLVE_BY, CASEFSM_STATE_IN_PROGRESS);
    v.has_case = false;
    assert_int_equal(timers_decide(&v, 3, 200000, &next), TIMERS_CANCEL);
    /* a notice's reply clock: breaches unless replied */
    timers_view_t n = {.found = true, .version = 1, .armed = true, .kind = TIMER_SUPERVISION_REPLY, .due_ms = 100000,
                       .unit_id = 7};
    assert_int_equal(timers_decide(&n, 1, 200000, &next), TIMERS_BREACH);
    n.notice_replied = true;
    assert_int_equal(timers_decide(&n, 1, 200000, &next), TIMERS_CANCEL);
    assert_string_equal(timers_action_str(TIMERS_BREACH), "breach");
    assert_string_equal(timers_action_str((timers_action_t)99), "?");
}

static void test_case_allows(void **state)
{
    (void)state;
    for (int s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++) {
        casefsm_state_t st = (casefsm_state_t)s;
        assert_int_equal(timers_case_allows(TIMER_SIGN_FOR, st), st == CASEFSM_STATE_DISPATCHED);
        assert_int_equal(timers_case_allows(TIMER_RESOLVE_BY, st), st == CASEFSM_STATE_IN_PROGRESS);
        assert_int_equal(timers_case_allows(TIMER_WEEKLY_PROGRESS, st), st == CASEFSM_STATE_IN_PROGRESS);
        assert_int_equal(timers_case_allows(TIMER_REVISIT_BY, st), st == CASEFSM_STATE_RESOLVED);
        assert_false(timers_case_allows(TIMER_SUPERVISION_REPLY, st));
    }
}

/* ---- cards (seed 004) ---------------------------------------------------------------------------- */

static void test_cards(void **state)
{
    fixture_t *f = *state;
    const policy_t *teng = policy_set_find(f->ps, "tengzhou"), *shantou = policy_set_find(f->ps, "shantou");
    assert_non_null(teng);
    timers_card_run_t run = {0, 0};
    timers_card_t c[2];
    /* miss 1: yellow 1 */
    assert_int_equal(timers_cards_on_miss(teng, &run, c), 1);
    assert_true(c[0].colour == EVENT_COLOUR_YELLOW && c[0].consecutive == 1 && c[0].interview_of == EVENT_INTERVIEW_NONE &&
                c[0].reason == EVENT_CARD_REASON_MISSED_FEEDBACK_DEADLINE);
    /* miss 2: yellow 2, and two yellows in a row make a red: the deputy head is interviewed */
    assert_int_equal(timers_cards_on_miss(teng, &run, c), 2);
    assert_true(c[0].colour == EVENT_COLOUR_YELLOW && c[0].consecutive == 2);
    assert_true(c[1].colour == EVENT_COLOUR_RED && c[1].consecutive == 1 && c[1].interview_of == EVENT_INTERVIEW_DEPUTY_HEAD &&
                c[1].reason == EVENT_CARD_REASON_CONSECUTIVE_YELLOW);
    assert_true(run.yellow_run == 0 && run.red_run == 1);
    /* miss 3: yellow 1 again */
    assert_int_equal(timers_cards_on_miss(teng, &run, c), 1);
    assert_true(c[0].colour == EVENT_COLOUR_YELLOW && c[0].consecutive == 1);
    /* miss 4: yellow 2 and the second red in a row: the principal head */
    assert_int_equal(timers_cards_on_miss(teng, &run, c), 2);
    assert_true(c[1].colour == EVENT_COLOUR_RED && c[1].consecutive == 2 &&
                c[1].interview_of == EVENT_INTERVIEW_PRINCIPAL_HEAD && c[1].reason == EVENT_CARD_REASON_CONSECUTIVE_RED);
    assert_true(run.yellow_run == 0 && run.red_run == 0);
    /* an on-time report breaks the runs: miss, on time, miss is two first yellows */
    assert_int_equal(timers_cards_on_miss(teng, &run, c), 1);
    timers_cards_on_time(&run);
    assert_int_equal(timers_cards_on_miss(teng, &run, c), 1);
    assert_int_equal(c[0].consecutive, 1);
    /* a red earned, then on time, then two more misses: a first red again (deputy) */
    timers_card_run_t r2 = {1, 1};
    timers_cards_on_time(&r2);
    assert_int_equal(timers_cards_on_miss(teng, &r2, c), 1);
    assert_int_equal(timers_cards_on_miss(teng, &r2, c), 2);
    assert_true(c[1].consecutive == 1 && c[1].interview_of == EVENT_INTERVIEW_DEPUTY_HEAD);
    /* profiles without cards show none and leave the run alone */
    timers_card_run_t r3 = {0, 0};
    assert_int_equal(timers_cards_on_miss(shantou, &r3, c), 0);
    assert_true(r3.yellow_run == 0 && r3.red_run == 0);
    assert_int_equal(timers_cards_on_miss(NULL, &r3, c), 0);
}

/* ---- computed clocks ---------------------------------------------------------------------------- */

static void test_weekly(void **state)
{
    fixture_t *f = *state;
    const policy_t *shantou = policy_set_find(f->ps, "shantou"), *kyqq = policy_set_find(f->ps, "keyouqianqi"),
                   *zaoyang = policy_set_find(f->ps, "zaoyang");
    int64_t due;
    /* 汕头 reports every Thursday: signed Wed 2026-09-30 → Thu 10-01 is 国庆节 → next working day Thu 10-08 */
    assert_int_equal(timers_weekly_due(f->cal, "440500", shantou, at("2026-09-30T10:00:00+08:00"), &due, errbuf, sizeof errbuf), 0);
    assert_instant(due, "2026-10-08T23:59:59+08:00");
    /* signed on a Thursday: the next Thursday, not the same day */
    assert_int_equal(timers_weekly_due(f->cal, "440500", shantou, at("2026-11-19T09:00:00+08:00"), &due, errbuf, sizeof errbuf), 0);
    assert_instant(due, "2026-11-26T23:59:59+08:00");
    /* the start day is counted in Shanghai: Wed 20:00 in New York is already Thu in Shanghai */
    assert_int_equal(timers_weekly_due(f->cal, "440500", shantou, at("2026-11-18T20:00:00-05:00"), &due, errbuf, sizeof errbuf), 0);
    assert_instant(due, "2026-11-26T23:59:59+08:00");
    /* 科右前旗 weekly on any day: 7 days after 2026-02-10 is 02-17, in 春节 (02-15..23) → Tue 02-24 */
    assert_int_equal(timers_weekly_due(f->cal, "152221", kyqq, at("2026-02-10T10:00:00+08:00"), &due, errbuf, sizeof errbuf), 0);
    assert_instant(due, "2026-02-24T23:59:59+08:00");
    /* no weekly report in 枣阳 */
    assert_int_equal(timers_weekly_due(f->cal, "420683", zaoyang, at("2026-02-10T10:00:00+08:00"), &due, errbuf, sizeof errbuf), -1);
    /* Thu 2026-12-31 → Thu 2027-01-07: 2027 is not loaded, and the error names it */
    assert_int_equal(timers_weekly_due(f->cal, "440500", shantou, at("2026-12-31T10:00:00+08:00"), &due, errbuf, sizeof errbuf), -1);
    assert_int_equal(calendar_error_year(errbuf), 2027);
}

static void test_warn_for(void **state)
{
    fixture_t *f = *state;
    const policy_t *z = policy_set_find(f->ps, "zaoyang");
    int64_t w;
    /* due Thu 2026-10-08 (after golden week); one working day before is Wed 09-30 */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_WORKING_DAYS, at("2026-09-28T10:00:00+08:00"),
                                       at("2026-10-08T23:59:59+08:00"), &w, errbuf, sizeof errbuf), 0);
    assert_instant(w, "2026-09-30T23:59:59+08:00");
    /* the same deadline armed on a holiday (10-02): no working day lies between, so the warning
     * is the start day's close, as deadline_compute would give */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_WORKING_DAYS, at("2026-10-02T10:00:00+08:00"),
                                       at("2026-10-08T23:59:59+08:00"), &w, errbuf, sizeof errbuf), 0);
    assert_instant(w, "2026-10-02T23:59:59+08:00");
    /* armed on the due day itself: at once */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_WORKING_DAYS, at("2026-10-08T10:00:00+08:00"),
                                       at("2026-10-08T23:59:59+08:00"), &w, errbuf, sizeof errbuf), 0);
    assert_instant(w, "2026-10-08T10:00:00+08:00");
    /* due Mon 2026-01-05: the working day before is Sun 01-04, a make-up working day (调休上班) */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_WORKING_DAYS, at("2025-12-29T10:00:00+08:00"),
                                       at("2026-01-05T23:59:59+08:00"), &w, errbuf, sizeof errbuf), 0);
    assert_instant(w, "2026-01-04T23:59:59+08:00");
    /* hour clocks: four hours before */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_HOURS, at("2026-10-01T09:00:00+08:00"),
                                       at("2026-10-02T09:00:00+08:00"), &w, errbuf, sizeof errbuf), 0);
    assert_instant(w, "2026-10-02T05:00:00+08:00");
    /* calendar-day clocks: the day before, at the close */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_DAYS, at("2026-09-28T10:00:00+08:00"),
                                       at("2026-10-08T23:59:59+08:00"), &w, errbuf, sizeof errbuf), 0);
    assert_instant(w, "2026-10-07T23:59:59+08:00");
    /* a deadline in 2027 needs 2027 to find the working day before it: refused, naming 2027 */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_WORKING_DAYS, at("2026-12-20T10:00:00+08:00"),
                                       at("2027-01-06T23:59:59+08:00"), &w, errbuf, sizeof errbuf), -1);
    assert_int_equal(calendar_error_year(errbuf), 2027);
    /* a window that is not counted has no warning rule */
    assert_int_equal(deadline_warn_for(f->cal, "420683", z, POLICY_UNIT_AGREED, at("2026-09-28T10:00:00+08:00"),
                                       at("2026-10-08T23:59:59+08:00"), &w, errbuf, sizeof errbuf), -1);
}

static void test_credit_pause(void **state)
{
    fixture_t *f = *state;
    int64_t d;
    /* DEADLINES.md's worked example: 枣阳 help 5wd from Mon 2026-03-02 is due 03-09; a pause
     * 03-03 15:00 → 03-05 11:00 gives back 03-04 and 03-05 → due 03-11 */
    deadline_pause_t p = {at("2026-03-03T15:00:00+08:00"), at("2026-03-05T11:00:00+08:00")};
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_WORKING_DAYS, at("2026-03-09T23:59:59+08:00"), &p,
                                           &d, errbuf, sizeof errbuf), 0);
    assert_instant(d, "2026-03-11T23:59:59+08:00");
    /* an agreed deadline keeps its time of day */
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_WORKING_DAYS, at("2026-03-09T15:00:00+08:00"), &p,
                                           &d, errbuf, sizeof errbuf), 0);
    assert_instant(d, "2026-03-11T15:00:00+08:00");
    /* a pause within one day gives nothing back */
    deadline_pause_t same = {at("2026-03-03T09:00:00+08:00"), at("2026-03-03T17:00:00+08:00")};
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_WORKING_DAYS, at("2026-03-09T23:59:59+08:00"), &same,
                                           &d, errbuf, sizeof errbuf), 0);
    assert_instant(d, "2026-03-09T23:59:59+08:00");
    /* a pause over the Spring Festival: Fri 02-13 → Wed 02-25 gives back Sat 02-14 (调休上班), 24, 25 = 3 */
    deadline_pause_t sf = {at("2026-02-13T10:00:00+08:00"), at("2026-02-25T10:00:00+08:00")};
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_WORKING_DAYS, at("2026-02-26T23:59:59+08:00"), &sf,
                                           &d, errbuf, sizeof errbuf), 0);
    /* 02-26 + 3 working days: 27, Sat 28 (调休上班), Mon 03-02 */
    assert_instant(d, "2026-03-02T23:59:59+08:00");
    /* hour clocks get the exact paused length */
    deadline_pause_t h = {at("2026-10-01T09:00:00+08:00"), at("2026-10-01T12:30:00+08:00")};
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_HOURS, at("2026-10-02T09:00:00+08:00"), &h, &d,
                                           errbuf, sizeof errbuf), 0);
    assert_instant(d, "2026-10-02T12:30:00+08:00");
    /* calendar days: one day back on 09-30 lands on 10-01 (国庆节) → the next working day 10-08 */
    deadline_pause_t cd = {at("2026-09-28T10:00:00+08:00"), at("2026-09-29T10:00:00+08:00")};
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_DAYS, at("2026-09-30T23:59:59+08:00"), &cd, &d,
                                           errbuf, sizeof errbuf), 0);
    assert_instant(d, "2026-10-08T23:59:59+08:00");
    /* refused: ends before it starts; starts after the deadline; a year that is not loaded */
    deadline_pause_t back = {p.end_ms, p.start_ms};
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_WORKING_DAYS, at("2026-03-09T23:59:59+08:00"), &back,
                                           &d, errbuf, sizeof errbuf), -1);
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_WORKING_DAYS, at("2026-03-02T23:59:59+08:00"), &p,
                                           &d, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "after the deadline"));
    deadline_pause_t ye = {at("2026-12-28T10:00:00+08:00"), at("2026-12-30T10:00:00+08:00")};
    assert_int_equal(deadline_credit_pause(f->cal, "420683", POLICY_UNIT_WORKING_DAYS, at("2026-12-31T23:59:59+08:00"), &ye,
                                           &d, errbuf, sizeof errbuf), -1);
    assert_int_equal(calendar_error_year(errbuf), 2027);
}

static void test_error_year(void **state)
{
    (void)state;
    assert_int_equal(calendar_error_year("no working-day calendar is loaded for 2027 (load the State Council's arrangement "
                                         "for 2027; deadlines are never guessed)"), 2027);
    assert_int_equal(calendar_error_year("pause 0 starts after the deadline"), 0);
    assert_int_equal(calendar_error_year(NULL), 0);
    assert_int_equal(calendar_error_year("no working-day calendar is loaded for 1066"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_next_fire),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_case_allows),
        cmocka_unit_test(test_cards),
        cmocka_unit_test(test_weekly),
        cmocka_unit_test(test_warn_for),
        cmocka_unit_test(test_credit_pause),
        cmocka_unit_test(test_error_year),
    };
    return cmocka_run_group_tests_name("timers (scheduling logic)", tests, setup, teardown);
}
