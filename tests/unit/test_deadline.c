/*
 * test_deadline.c — the counting rule of DOMAIN.md §3 and `jiesuctl due`.
 *
 * Each expected deadline is worked out by hand in the comment beside it from the State
 * Council arrangements (DOMAIN.md §4) and the seed profiles, never by the code under test:
 * make-up Saturdays and Sundays, the Spring Festival, golden week, the year end, receipt on a
 * holiday or weekend, offsets other than +08:00 (where the naive date would give a different
 * answer), a year with no calendar, extensions, pauses, calendar days, office close and
 * warnings. The CLI is driven through deadline_cli_due() with its output captured, so it is
 * covered whether or not jiesuctl has wired it yet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calendar.h"
#include "deadline.h"
#include "policy.h"

static char errbuf[1024];
static char pol_dir[512], cal_dir[512];

static const char *root(void)
{
    const char *r = getenv("JIESU_ROOT");
    return r != NULL && *r != '\0' ? r : ".";
}

typedef struct fixture {
    calendar_t *cal;
    policy_set_t *ps;   /* the five shipped profiles */
    policy_set_t *test; /* "testprof": office close 17:30, a bare immediate, 4wd help */
} fixture_t;

/* Office close 17:30; consultation simple is a bare "immediate"; help general is 4wd;
 * sign_for 1wd; warnings 1 day / 4 hours. */
static const char *const test_profile =
    "{\"format\": \"jiesu-policy/1\", \"name\": \"%s\", \"title\": \"测试\","
    " \"source\": \"unit test\", \"region\": null, \"office_close\": \"17:30:00\","
    " \"windows\": {"
    "  \"consultation\": {\"simple\": \"immediate\", \"general\": \"immediate, else 24h\","
    "                     \"complex\": \"agreed\"},"
    "  \"help\": {\"simple\": \"2wd\", \"general\": \"4wd\", \"complex\": \"20wd\"},"
    "  \"complaint\": {\"simple\": \"3d\", \"general\": \"5wd\", \"complex\": \"agreed\"},"
    "  \"report\": {\"simple\": \"5wd\", \"general\": \"5wd\", \"complex\": \"agreed\"},"
    "  \"suggestion\": {\"simple\": \"5wd\", \"general\": \"5wd\", \"complex\": \"agreed\"}},"
    " \"intake\": {\"review\": null, \"out_of_scope_notice\": null},"
    " \"sign_for\": {\"window\": \"1wd\", \"lower_tier_extra_wd\": 0},"
    " \"first_contact\": null, \"result_to_enterprise\": \"with_result\","
    " \"progress\": {\"weekly\": false, \"weekday\": null},"
    " \"monthly\": {\"review_day\": null, \"seriously_late_wd\": null, \"bulletin\": false},"
    " \"revisit\": {\"window\": \"3wd\", \"same_day_return\": false, \"lookback_sampling\": false,"
    "   \"coverage_percent\": null},"
    " \"redo\": {\"window\": \"original\", \"after_second_unsatisfied\": \"escalate\"},"
    " \"extension\": {\"allowed\": true, \"approver\": \"centre\", \"max_factor\": null,"
    "   \"max_count\": null, \"ask_before_due\": true},"
    " \"pause\": {\"allowed\": true, \"reasons\": [\"awaiting_materials\"]},"
    " \"warning\": {\"days_before\": 1, \"hours_before\": 4},"
    " \"supervision\": {\"reminder\": {\"unsigned_times\": null, \"overdue\": true,"
    "   \"repeat_reports\": null}, \"rectification\": {\"unsatisfied_results\": null,"
    "   \"improper_close_requests\": null, \"in_monthly_bulletin\": false},"
    "   \"interview\": false, \"notice_reply\": null, \"discipline_referral\": false},"
    " \"cards\": {\"enabled\": false, \"red_after_yellows\": null, \"principal_after_reds\": null},"
    " \"satisfaction\": {\"scale\": [\"满意\", \"不满意\"], \"satisfied_levels\": 1,"
    "   \"target_percent\": null}}";

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(pol_dir, sizeof pol_dir, "%s/deploy/policies", root());
    snprintf(cal_dir, sizeof cal_dir, "%s/deploy/calendar", root());
    f->cal = calendar_new();
    f->ps = policy_set_new();
    f->test = policy_set_new();
    char text[8192];
    snprintf(text, sizeof text, test_profile, "testprof");
    if (calendar_load_dir(f->cal, cal_dir, errbuf, sizeof errbuf) != 0 ||
        policy_set_load_dir(f->ps, pol_dir, errbuf, sizeof errbuf) != 0 ||
        policy_set_load_string(f->test, "test", text, errbuf, sizeof errbuf) != 0) {
        print_error("setup: %s\n", errbuf);
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
    policy_set_free(f->test);
    free(f);
    return 0;
}

static int64_t T(const char *s)
{
    int64_t ms = 0;
    if (deadline_time_parse(s, &ms, errbuf, sizeof errbuf) != 0)
        fail_msg("test bug: %s", errbuf);
    return ms;
}

static void assert_time(int64_t ms, const char *want)
{
    char got[40];
    deadline_time_format(ms, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("got %s, expected %s", got, want);
}

/* --- instants ---------------------------------------------------------------------- */

static void test_time_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in, *shanghai;
    } good[] = {
        {"2026-10-10T23:59:59+08:00", "2026-10-10T23:59:59+08:00"},
        {"2026-09-30T20:00:00-05:00", "2026-10-01T09:00:00+08:00"}, /* already Oct 1 */
        {"2026-10-01T01:00:00Z", "2026-10-01T09:00:00+08:00"},
        {"2026-10-09T23:00:00+05:45", "2026-10-10T01:15:00+08:00"}, /* Nepal */
        {"2026-01-03T16:30:00z", "2026-01-04T00:30:00+08:00"},
        {"2026-01-03t16:30:00-00:00", "2026-01-04T00:30:00+08:00"},
        {"2026-03-01T12:00:00.250+08:00", "2026-03-01T12:00:00.250+08:00"},
        {"2026-03-01T12:00:00.123456789-00:00", "2026-03-01T20:00:00.123+08:00"},
        {"2026-03-01T12:00:00.5Z", "2026-03-01T20:00:00.500+08:00"},
        {"2026-02-28T23:30:00-10:00", "2026-03-01T17:30:00+08:00"},
        {"2024-02-29T00:00:00+14:00", "2024-02-28T18:00:00+08:00"},
        {"1969-12-31T23:00:00Z", "1970-01-01T07:00:00+08:00"},
        {"1969-12-31T15:59:59.999Z", "1969-12-31T23:59:59.999+08:00"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(good); i++) {
        int64_t ms;
        if (deadline_time_parse(good[i].in, &ms, errbuf, sizeof errbuf) != 0)
            fail_msg("'%s': %s", good[i].in, errbuf);
        assert_time(ms, good[i].shanghai);
    }
    assert_int_equal(T("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(T("1970-01-01T08:00:00+08:00"), 0);
    assert_int_equal(T("2026-01-01T00:00:00Z"), INT64_C(20454) * 86400 * 1000);

    static const char *const bad[] = {
        "2026-09-30 20:00:00+08:00", "2026-09-30T20:00:00", "2026-09-30T20:00:00+8:00",
        "2026-09-30T20:00:00+0800", "2026-02-30T00:00:00Z", "2026-09-30T24:00:00Z",
        "2026-09-30T23:59:60Z", "2026-09-30T20:00:00+08:00 ", "", "2026-09-30T20:00:00.Z",
        "2026-09-30T20:00:00+24:00", "2026-09-30T20:00:00+08:60", "2026-09-30T20:00Z",
        "2026-9-30T20:00:00Z", "2026-09-30T20:00:00.1234567890Z", "2026-09-30T20:00:00ZZ",
        "tomorrow", "2026-09-30T20:00:00UTC",
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        int64_t ms = 42;
        errbuf[0] = '\0';
        if (deadline_time_parse(bad[i], &ms, errbuf, sizeof errbuf) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(ms, 42);
        assert_non_null(strstr(errbuf, bad[i]));
    }
    int64_t ms;
    assert_int_equal(deadline_time_parse(NULL, &ms, NULL, 0), -1);
}

static void test_local_day(void **state)
{
    (void)state;
    char d[11];
    calendar_day_format(deadline_local_day(T("2025-12-31T16:00:00Z")), d);
    assert_string_equal(d, "2026-01-01");
    calendar_day_format(deadline_local_day(T("2025-12-31T15:59:59.999Z")), d);
    assert_string_equal(d, "2025-12-31");
    calendar_day_format(deadline_local_day(T("1969-12-31T15:59:59.999Z")), d);
    assert_string_equal(d, "1969-12-31");
    calendar_day_format(deadline_local_day(T("1969-12-31T16:00:00Z")), d);
    assert_string_equal(d, "1970-01-01");
    calendar_day_t day;
    assert_int_equal(calendar_day_parse("2026-10-10", &day), 0);
    assert_time(deadline_local_instant(day, 86399), "2026-10-10T23:59:59+08:00");
    assert_time(deadline_local_instant(day, 0), "2026-10-10T00:00:00+08:00");
}

/* --- resolve-by with the shipped profiles ------------------------------------------ */

struct due_case {
    const char *profile, *kind, *complexity, *region, *from;
    const char *want;  /* the instant, or NULL when an error is expected */
    const char *error; /* substring of the error */
    const char *why;
};

static const struct due_case due_cases[] = {
    /* 汕头 complaint 3wd from Wed 09-30: 10-01..07 rest; 08 (1), 09 (2), Sat 10 working (3). */
    {"shantou", "complaint", "general", NULL, "2026-09-30T10:00:00+08:00",
     "2026-10-10T23:59:59+08:00", NULL, "golden week and its make-up Saturday"},
    {"shantou", "help", "simple", NULL, "2026-09-30T10:00:00+08:00",
     "2026-10-10T23:59:59+08:00", NULL, "simple = general for 汕头"},
    /* 2026-09-29T20:00-05:00 is 09-30 09:00 in Shanghai: 1wd → 10-08 (naively 09-30). */
    {"shantou", "consultation", "general", NULL, "2026-09-29T20:00:00-05:00",
     "2026-10-08T23:59:59+08:00", NULL, "-05:00 moves the receipt day to 09-30"},
    /* 2026-09-30T20:00-05:00 is already 10-01, a holiday: 1wd → 10-08; 3wd → 10-10. */
    {"shantou", "consultation", "general", NULL, "2026-09-30T20:00:00-05:00",
     "2026-10-08T23:59:59+08:00", NULL, "received on a holiday"},
    {"shantou", "help", "general", NULL, "2026-09-30T20:00:00-05:00",
     "2026-10-10T23:59:59+08:00", NULL, "received on a holiday, 3wd"},
    /* 2026-02-13T18:00-08:00 is Sat 02-14 10:00 in Shanghai, itself a make-up working day,
     * which as the receipt day does not count: 02-15..23 rest; 24, 25, 26, 27, Sat 28 (5).
     * The naive date (02-13) would give 02-14, 24, 25, 26, 27 → 02-27. */
    {"tengzhou", "help", "general", NULL, "2026-02-13T18:00:00-08:00",
     "2026-02-28T23:59:59+08:00", NULL, "-08:00 lands on the make-up Saturday"},
    /* +05:45: 2026-10-09T23:00 is Sat 10-10 01:15 in Shanghai: 1wd → Mon 10-12. */
    {"shantou", "consultation", "general", NULL, "2026-10-09T23:00:00+05:45",
     "2026-10-12T23:59:59+08:00", NULL, "+05:45 crosses midnight"},
    /* Z: 2026-01-03T16:30Z is Sun 01-04 00:30 (a working Sunday, the receipt day) → 01-05. */
    {"shantou", "consultation", "general", NULL, "2026-01-03T16:30:00Z",
     "2026-01-05T23:59:59+08:00", NULL, "Z lands on the working Sunday"},
    /* Year end: 12-31 → 01-01..03 rest, Sun 01-04 (1), 05, 06, 07, 08 (5). */
    {"zaoyang", "help", "general", NULL, "2025-12-31T10:00:00+08:00",
     "2026-01-08T23:59:59+08:00", NULL, "across the year end"},
    {"zaoyang", "help", "general", NULL, "2025-12-31T16:30:00Z",
     "2026-01-08T23:59:59+08:00", NULL, "received on 元旦 (01-01 00:30 in Shanghai)"},
    /* 汕头 help 3wd from 2026-12-28 (Mon): 29, 30, 31 — stays inside 2026. */
    {"shantou", "help", "general", NULL, "2026-12-28T10:00:00+08:00",
     "2026-12-31T23:59:59+08:00", NULL, "ends on the last day of the loaded year"},
    /* 20wd from Fri 2026-02-13: 02-14 (1), 24..27 (5), Sat 28 (6), 03-02..06 (11),
     * 09..13 (16), 16..19 (20). */
    {"zaoyang", "help", "complex", NULL, "2026-02-13T09:00:00+08:00",
     "2026-03-19T23:59:59+08:00", NULL, "the Spring Festival run, two make-up Saturdays"},
    /* 2025: Fri 01-24 → Sun 01-26 (1), 27 (2), 01-28..02-04 rest, 02-05 (3). */
    {"shantou", "help", "general", NULL, "2025-01-24T17:00:00+08:00",
     "2025-02-05T23:59:59+08:00", NULL, "the make-up Sunday before the 2025 Spring Festival"},
    /* Received on the make-up Saturday 2025-02-08: it does not count; Mon 02-10. */
    {"shantou", "consultation", "general", NULL, "2025-02-08T10:00:00+08:00",
     "2025-02-10T23:59:59+08:00", NULL, "receipt on a make-up day"},
    /* Received on an ordinary Saturday: Monday is the first working day. */
    {"shantou", "consultation", "general", NULL, "2026-03-07T10:00:00+08:00",
     "2026-03-09T23:59:59+08:00", NULL, "receipt at a weekend"},
    /* Golden week 2025 (10-01..08) and Sat 10-11: from Fri 09-26, 3wd → Sun 09-28, 29, 30. */
    {"shantou", "help", "general", NULL, "2025-09-26T10:00:00+08:00",
     "2025-09-30T23:59:59+08:00", NULL, "the make-up Sunday before golden week 2025"},
    /* 5wd from 09-26: 28, 29, 30, 10-09, 10-10. */
    {"zaoyang", "help", "general", NULL, "2025-09-26T10:00:00+08:00",
     "2025-10-10T23:59:59+08:00", NULL, "across golden week 2025"},
    /* 5wd from Mon 2025-09-29: 30, 10-09, 10, Sat 10-11, Mon 10-13. */
    {"zaoyang", "help", "general", NULL, "2025-09-29T10:00:00+08:00",
     "2025-10-13T23:59:59+08:00", NULL, "the make-up Saturday after golden week 2025"},
    /* 汕头 suggestion 2wd from Fri 2026-05-08: Sat 05-09 working (1), Mon 05-11 (2). */
    {"shantou", "suggestion", "general", NULL, "2026-05-08T10:00:00+08:00",
     "2026-05-11T23:59:59+08:00", NULL, "the May make-up Saturday"},
    /* The last millisecond of a day is still that day; the next is the next day. */
    {"shantou", "consultation", "general", NULL, "2026-03-02T23:59:59.999+08:00",
     "2026-03-03T23:59:59+08:00", NULL, "receipt at 23:59:59.999"},
    {"shantou", "consultation", "general", NULL, "2026-03-02T16:00:00Z",
     "2026-03-04T23:59:59+08:00", NULL, "receipt at 00:00 of 03-03 Shanghai"},
    /* "immediate, else 24h": clock hours, holidays or not. */
    {"zaoyang", "consultation", "general", NULL, "2026-10-01T09:00:00+08:00",
     "2026-10-02T09:00:00+08:00", NULL, "24 clock hours over a holiday"},
    {"zaoyang", "help", "simple", NULL, "2026-09-30T20:00:00-05:00",
     "2026-10-02T09:00:00+08:00", NULL, "24 h from an instant in -05:00"},
    {"zaoyang", "help", "simple", NULL, "2027-06-01T10:00:00+08:00",
     "2027-06-02T10:00:00+08:00", NULL, "hours need no calendar, even in 2027"},
    /* 滕州 consultation: immediate, else 5wd. From Fri 10-09: Sat 10 (1), 12, 13, 14, 15. */
    {"tengzhou", "consultation", "general", NULL, "2026-10-09T10:00:00+08:00",
     "2026-10-15T23:59:59+08:00", NULL, "immediate, else 5wd"},
    /* 广西 consultation: immediate, else 1wd. Thu 06-18 → 06-19..21 端午 → Mon 06-22. */
    {"guangxi", "consultation", "simple", NULL, "2026-06-18T10:00:00+08:00",
     "2026-06-22T23:59:59+08:00", NULL, "the Dragon Boat holiday"},
    /* 广西 complaint 10wd from Fri 2025-03-28 in Guangxi: 03-31 and 04-01 are 三月三 and
     * 04-04..06 清明: 04-02, 03, 07, 08, 09, 10, 11, 14, 15, 16. */
    {"guangxi", "complaint", "general", "450102", "2025-03-28T10:00:00+08:00",
     "2025-04-16T23:59:59+08:00", NULL, "Guangxi's own 三月三"},
    /* The same outside Guangxi: 03-31, 04-01, 02, 03, 07, 08, 09, 10, 11, 14. */
    {"guangxi", "complaint", "general", NULL, "2025-03-28T10:00:00+08:00",
     "2025-04-14T23:59:59+08:00", NULL, "national only"},
    /* Errors. */
    {"shantou", "help", "general", NULL, "2027-01-04T10:00:00+08:00", NULL,
     "no working-day calendar is loaded for 2027", "a year with no calendar"},
    {"shantou", "help", "general", NULL, "2026-12-30T10:00:00+08:00", NULL,
     "no working-day calendar is loaded for 2027", "12-31 (1), then 2027 is needed"},
    {"keyouqianqi", "help", "general", NULL, "2026-03-02T10:00:00+08:00", NULL,
     "profile 'keyouqianqi' agrees the deadline of a general help case with the enterprise",
     "科右前旗 agrees every deadline"},
    {"shantou", "report", "complex", NULL, "2026-03-02T10:00:00+08:00", NULL,
     "agrees the deadline of a complex report case", "汕头 complex: 一企一策"},
    {"zaoyang", "help", "general", "4501", "2026-03-02T10:00:00+08:00", NULL,
     "'4501' is not a region code", "a malformed region"},
};

static void test_resolve_by(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < JS_ARRAY_LEN(due_cases); i++) {
        const struct due_case *c = &due_cases[i];
        const policy_t *p = policy_set_find(f->ps, c->profile);
        policy_kind_t k;
        policy_complexity_t cx;
        assert_non_null(p);
        assert_int_equal(policy_kind_from_str(c->kind, &k), 0);
        assert_int_equal(policy_complexity_from_str(c->complexity, &cx), 0);
        deadline_result_t r;
        errbuf[0] = '\0';
        int rc = deadline_resolve_by(f->cal, c->region, p, k, cx, T(c->from), &r, errbuf,
                                     sizeof errbuf);
        if (c->want != NULL) {
            if (rc != 0)
                fail_msg("case %zu (%s): %s", i, c->why, errbuf);
            char got[40];
            deadline_time_format(r.due_ms, got, sizeof got);
            if (strcmp(got, c->want) != 0)
                fail_msg("case %zu (%s): got %s, expected %s", i, c->why, got, c->want);
            assert_true(r.warn_ms >= T(c->from) && r.warn_ms <= r.due_ms);
        } else {
            if (rc != -1 || strstr(errbuf, c->error) == NULL)
                fail_msg("case %zu (%s): rc=%d, error '%s' lacks '%s'", i, c->why, rc, errbuf,
                         c->error);
        }
    }
}

/* --- extensions, pauses, calendar days, office close, warnings --------------------- */

struct compute_case {
    const char *profile; /* "testprof" is the test profile */
    const char *window;
    const char *from;
    int extension;
    deadline_pause_t pauses[3]; /* filled from pause_text */
    const char *pause_text[6];  /* start, end pairs */
    const char *want_due, *want_warn; /* NULL want_due: error */
    const char *error;
    const char *why;
};

static const struct compute_case compute_cases[] = {
    /* Extensions add to the deadline in force: 5wd from 09-30 is 10-13 (08, 09, Sat 10, 12,
     * 13); 5 more: 14, 15, 16, 19, 20. The warning is at the close of the day before. */
    {"zaoyang", "5wd", "2026-09-30T10:00:00+08:00", 5, {{0}}, {NULL},
     "2026-10-20T23:59:59+08:00", "2026-10-19T23:59:59+08:00", NULL, "extension of 5 wd"},
    {"zaoyang", "5wd", "2026-09-30T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-10-13T23:59:59+08:00", "2026-10-12T23:59:59+08:00", NULL, "warning a day before"},
    /* 1wd: the warning is at the close of the receipt day itself. */
    {"shantou", "1wd", "2026-09-30T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-10-08T23:59:59+08:00", "2026-09-30T23:59:59+08:00", NULL, "warning on day 0"},
    /* Hours: 24 h + 24 h; the warning 4 h before. */
    {"zaoyang", "immediate, else 24h", "2026-10-01T09:00:00+08:00", 24, {{0}}, {NULL},
     "2026-10-03T09:00:00+08:00", "2026-10-03T05:00:00+08:00", NULL, "extension in hours"},
    /* An hour pause of 3.5 h is given back exactly: 10-02 09:00 + 3:30 = 12:30. */
    {"zaoyang", "24h", "2026-10-01T09:00:00+08:00", 0, {{0}},
     {"2026-10-01T10:00:00+08:00", "2026-10-01T13:30:00+08:00"},
     "2026-10-02T12:30:00+08:00", "2026-10-02T08:30:00+08:00", NULL, "pause on an hour clock"},
    /* 5wd from Mon 03-02 is 03-09 (3, 4, 5, 6, 9). A pause 03-03 15:00 → 03-05 11:00 gives
     * back the working days after 03-03 up to 03-05: 04 and 05 → 7wd: 3, 4, 5, 6, 9, 10, 11. */
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-03T15:00:00+08:00", "2026-03-05T11:00:00+08:00"},
     "2026-03-11T23:59:59+08:00", "2026-03-10T23:59:59+08:00", NULL, "pause of two days"},
    /* A pause over a weekend gives back only working days: Fri 03-06 → Tue 03-10 gives back
     * 09 and 10 (07, 08 are a weekend). */
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-06T10:00:00+08:00", "2026-03-10T09:00:00+08:00"},
     "2026-03-11T23:59:59+08:00", "2026-03-10T23:59:59+08:00", NULL, "pause over a weekend"},
    /* Both pauses: 5 + 2 + 2 = 9 wd: 3, 4, 5, 6, 9, 10, 11, 12, 13. The second pause starts
     * before the deadline then in force (03-11). */
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-03T15:00:00+08:00", "2026-03-05T11:00:00+08:00", "2026-03-06T10:00:00+08:00",
      "2026-03-10T09:00:00+08:00"},
     "2026-03-13T23:59:59+08:00", "2026-03-12T23:59:59+08:00", NULL, "two pauses"},
    /* A pause within one day gives back nothing. */
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-03T09:00:00+08:00", "2026-03-03T17:00:00+08:00"},
     "2026-03-09T23:59:59+08:00", "2026-03-06T23:59:59+08:00", NULL, "pause inside a day"},
    /* A pause starting on the receipt day counts from the day after it: 03-02 → 03-04 gives
     * back 03, 04 → 7wd → 03-11. */
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-02T11:00:00+08:00", "2026-03-04T11:00:00+08:00"},
     "2026-03-11T23:59:59+08:00", "2026-03-10T23:59:59+08:00", NULL, "pause from receipt day"},
    /* Calendar days (督办单 5日): from Mon 09-28 +5 = Sat 10-03, a holiday; the next working
     * day is Thu 10-08. The warning is one calendar day earlier. */
    {"zaoyang", "5d", "2026-09-28T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-10-08T23:59:59+08:00", "2026-10-07T23:59:59+08:00", NULL, "5 days into a holiday"},
    /* From Mon 09-21 +5 = Sat 09-26 (中秋) → Mon 09-28. */
    {"zaoyang", "5d", "2026-09-21T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-09-28T23:59:59+08:00", "2026-09-27T23:59:59+08:00", NULL, "5 days into 中秋"},
    /* From Mon 03-02 +5 = Sat 03-07 → Mon 03-09; from Wed 03-04 +5 = Mon 03-09 as is. */
    {"zaoyang", "5d", "2026-03-02T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-03-09T23:59:59+08:00", "2026-03-08T23:59:59+08:00", NULL, "5 days into a weekend"},
    {"zaoyang", "5d", "2026-03-04T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-03-09T23:59:59+08:00", "2026-03-08T23:59:59+08:00", NULL, "5 days to a Monday"},
    /* Calendar days + 5 extension, added to the deadline in force 10-08: 10-13 (Tue). */
    {"zaoyang", "5d", "2026-09-28T10:00:00+08:00", 5, {{0}}, {NULL},
     "2026-10-13T23:59:59+08:00", "2026-10-12T23:59:59+08:00", NULL, "extension of 5 days"},
    /* Calendar days with a pause 03-05 → 03-07 giving back 06 and 07: 03-09 + 2 = 03-11. */
    {"zaoyang", "5d", "2026-03-04T10:00:00+08:00", 0, {{0}},
     {"2026-03-05T10:00:00+08:00", "2026-03-07T10:00:00+08:00"},
     "2026-03-11T23:59:59+08:00", "2026-03-10T23:59:59+08:00", NULL, "pause on days"},
    /* Office close 17:30 (test profile): 4wd from Mon 03-02 → Fri 03-06 17:30. */
    {"testprof", "4wd", "2026-03-02T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-03-06T17:30:00+08:00", "2026-03-05T17:30:00+08:00", NULL, "office close 17:30"},
    /* Received after the close: the receipt day still does not count, and the warning
     * (close of the receipt day, already past) is moved to the receipt itself. */
    {"testprof", "1wd", "2026-03-02T18:00:00+08:00", 0, {{0}}, {NULL},
     "2026-03-03T17:30:00+08:00", "2026-03-02T18:00:00+08:00", NULL, "received after close"},
    /* A bare immediate is due at once. */
    {"testprof", "immediate", "2026-03-02T10:00:00+08:00", 0, {{0}}, {NULL},
     "2026-03-02T10:00:00+08:00", "2026-03-02T10:00:00+08:00", NULL, "bare immediate"},
    /* 科右前旗's agreed deadline, passed in as the agreed window "10wd", from Fri 02-13:
     * 02-14 (1), 24, 25, 26, 27 (5), Sat 28 (6), 03-02, 03, 04, 05 (10). */
    {"keyouqianqi", "10wd", "2026-02-13T09:00:00+08:00", 0, {{0}}, {NULL},
     "2026-03-05T23:59:59+08:00", "2026-03-04T23:59:59+08:00", NULL, "an agreed 10 wd"},
    /* Errors. */
    {"testprof", "immediate", "2026-03-02T10:00:00+08:00", 1, {{0}}, {NULL}, NULL, NULL,
     "neither extended nor paused", "extending an immediate"},
    {"zaoyang", "agreed", "2026-03-02T10:00:00+08:00", 0, {{0}}, {NULL}, NULL, NULL,
     "agreed with the enterprise", "agreed has no length"},
    {"zaoyang", "original", "2026-03-02T10:00:00+08:00", 0, {{0}}, {NULL}, NULL, NULL,
     "'original'", "original has no length"},
    {"zaoyang", "with_result", "2026-03-02T10:00:00+08:00", 0, {{0}}, {NULL}, NULL, NULL,
     "'with_result'", "with_result has no clock"},
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-10T00:00:00+08:00", "2026-03-11T00:00:00+08:00"}, NULL, NULL,
     "after the deadline then in force (2026-03-09T23:59:59+08:00)", "pause after due"},
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-02T09:00:00+08:00", "2026-03-03T00:00:00+08:00"}, NULL, NULL,
     "before the clock started", "pause before the start"},
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-03T09:00:00+08:00", "2026-03-03T09:00:00+08:00"}, NULL, NULL,
     "does not end after it starts", "empty pause"},
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", 0, {{0}},
     {"2026-03-03T09:00:00+08:00", "2026-03-05T09:00:00+08:00", "2026-03-04T09:00:00+08:00",
      "2026-03-06T09:00:00+08:00"}, NULL, NULL, "before pause 0 ended", "overlapping pauses"},
    {"zaoyang", "5wd", "2026-12-24T10:00:00+08:00", 0, {{0}},
     {"2026-12-28T09:00:00+08:00", "2026-12-29T09:00:00+08:00"}, NULL, NULL,
     "no working-day calendar is loaded for 2027", "a pause pushing into 2027"},
    {"zaoyang", "5wd", "2026-03-02T10:00:00+08:00", -1, {{0}}, {NULL}, NULL, NULL,
     "out of range", "negative extension"},
};

static void test_compute(void **state)
{
    fixture_t *f = *state;
    for (size_t i = 0; i < JS_ARRAY_LEN(compute_cases); i++) {
        const struct compute_case *c = &compute_cases[i];
        const policy_t *p = strcmp(c->profile, "testprof") == 0
                                ? policy_set_find(f->test, "testprof")
                                : policy_set_find(f->ps, c->profile);
        assert_non_null(p);
        policy_window_t w;
        assert_int_equal(policy_window_parse(c->window, &w, NULL, 0), 0);
        deadline_pause_t pauses[3];
        size_t n = 0;
        while (n < 3 && c->pause_text[2 * n] != NULL) {
            pauses[n].start_ms = T(c->pause_text[2 * n]);
            pauses[n].end_ms = T(c->pause_text[2 * n + 1]);
            n++;
        }
        deadline_input_t in = {.cal = f->cal, .region = NULL, .profile = p, .window = &w,
                               .from_ms = T(c->from), .extension = c->extension,
                               .pauses = n ? pauses : NULL, .n_pauses = n};
        deadline_result_t r;
        errbuf[0] = '\0';
        int rc = deadline_compute(&in, &r, errbuf, sizeof errbuf);
        if (c->want_due == NULL) {
            if (rc != -1 || strstr(errbuf, c->error) == NULL)
                fail_msg("case %zu (%s): rc=%d, error '%s' lacks '%s'", i, c->why, rc, errbuf,
                         c->error);
            continue;
        }
        if (rc != 0)
            fail_msg("case %zu (%s): %s", i, c->why, errbuf);
        char due[40], warn[40];
        deadline_time_format(r.due_ms, due, sizeof due);
        deadline_time_format(r.warn_ms, warn, sizeof warn);
        if (strcmp(due, c->want_due) != 0 || strcmp(warn, c->want_warn) != 0)
            fail_msg("case %zu (%s): due %s warn %s, expected %s and %s", i, c->why, due, warn,
                     c->want_due, c->want_warn);
    }
}

static void test_compute_bad_input(void **state)
{
    fixture_t *f = *state;
    const policy_t *p = policy_set_find(f->ps, "zaoyang");
    policy_window_t w, none = {0, 0, 0, 0};
    assert_int_equal(policy_window_parse("5wd", &w, NULL, 0), 0);
    deadline_result_t r;
    deadline_input_t in = {.cal = f->cal, .profile = p, .window = &w, .from_ms = 0,
                           .n_pauses = 1};
    assert_int_equal(deadline_compute(&in, &r, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "pauses is NULL"));
    in.n_pauses = 0;
    in.window = &none;
    in.from_ms = T("2026-03-02T10:00:00+08:00");
    assert_int_equal(deadline_compute(&in, &r, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "null"));
    in.window = &w;
    in.cal = NULL;
    assert_int_equal(deadline_compute(&in, &r, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "needs a calendar"));
    in.profile = NULL;
    assert_int_equal(deadline_compute(&in, &r, errbuf, sizeof errbuf), -1);
    assert_int_equal(deadline_compute(NULL, &r, NULL, 0), -1);
    assert_int_equal(deadline_resolve_by(f->cal, NULL, p, POLICY_KIND_COUNT,
                                         POLICY_COMPLEXITY_GENERAL, 0, &r, errbuf, sizeof errbuf),
                     -1);
}

/* --- the command line -------------------------------------------------------------- */

struct cli_result {
    int rc;
    char *out, *err;
};

/* Runs `due` with the words of `args` (space-separated), adding the shipped directories
 * unless `dirs` is 0. */
static struct cli_result cli(const char *args, int dirs)
{
    char buf[1024];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", args);
    argv[argc++] = "due";
    char *save = NULL;
    for (char *w = strtok_r(buf, " ", &save); w != NULL && argc < 26;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    if (dirs) {
        argv[argc++] = "--policies";
        argv[argc++] = pol_dir;
        argv[argc++] = "--calendar";
        argv[argc++] = cal_dir;
    }
    argv[argc] = NULL;
    struct cli_result r = {0};
    size_t olen, elen;
    FILE *out = open_memstream(&r.out, &olen), *err = open_memstream(&r.err, &elen);
    assert_non_null(out);
    assert_non_null(err);
    r.rc = deadline_cli_due(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static void cli_free(struct cli_result *r)
{
    free(r->out);
    free(r->err);
}

static void test_cli(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        int rc;
        const char *out;   /* exact stdout on success */
        const char *error; /* substring of stderr on failure */
    } cases[] = {
        /* the example: 汕头 complaint from 09-30 → Sat 10-10 (see test_resolve_by) */
        {"--profile shantou --kind complaint --from 2026-09-30T10:00:00+08:00", 0,
         "2026-10-10T23:59:59+08:00\n", NULL},
        {"--profile zaoyang --kind help --complexity complex --from 2026-02-13T09:00:00+08:00", 0,
         "2026-03-19T23:59:59+08:00\n", NULL},
        {"--profile tengzhou --kind help --from 2026-02-13T18:00:00-08:00", 0,
         "2026-02-28T23:59:59+08:00\n", NULL},
        {"--profile zaoyang --kind help --from 2025-12-31T10:00:00+08:00", 0,
         "2026-01-08T23:59:59+08:00\n", NULL},
        {"--profile=zaoyang --kind=consultation --from=2026-09-30T20:00:00-05:00", 0,
         "2026-10-02T09:00:00+08:00\n", NULL},
        {"--from 2026-09-30T10:00:00+08:00 --kind suggestion --profile shantou "
         "--complexity simple", 0, "2026-10-09T23:59:59+08:00\n", NULL}, /* 2wd: 08, 09 */
        /* the profile's own region applies its regional calendar (三月三) … */
        {"--profile guangxi --kind complaint --from 2025-03-28T10:00:00+08:00", 0,
         "2025-04-16T23:59:59+08:00\n", NULL},
        /* … and --region chooses another one (Beijing: national only) */
        {"--profile guangxi --kind complaint --region 110000 --from 2025-03-28T10:00:00+08:00",
         0, "2025-04-14T23:59:59+08:00\n", NULL},
        {"--profile tengzhou --kind consultation --from 2026-10-09T10:00:00+08:00", 0,
         "2026-10-15T23:59:59+08:00\n", NULL},
        /* errors: exit 2, one clear line */
        {"--profile nope --kind help --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "jiesuctl due: unknown profile 'nope' (no "},
        {"--profile ../policies/shantou --kind help --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "unknown profile '../policies/shantou'"},
        {"--profile shantou --kind question --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "jiesuctl due: unknown kind 'question' (kinds: consultation help complaint report "
         "suggestion)"},
        {"--profile shantou --kind help --complexity hard --from 2026-03-02T10:00:00+08:00", 2,
         NULL, "unknown complexity 'hard'"},
        {"--profile shantou --kind help --from 2027-03-01T10:00:00+08:00", 2, NULL,
         "jiesuctl due: no working-day calendar is loaded for 2027"},
        {"--profile keyouqianqi --kind consultation --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "agrees the deadline of a general consultation case with the enterprise"},
        {"--profile shantou --kind help --complexity complex --from 2026-03-02T10:00:00+08:00",
         2, NULL, "case by case"},
        {"--profile shantou --kind help --from 2026-03-02", 2, NULL,
         "jiesuctl due: --from: '2026-03-02' is not an RFC 3339 date-time"},
        {"--profile shantou --kind help --from 2026-02-30T10:00:00+08:00", 2, NULL,
         "no such date"},
        {"--profile shantou --kind help", 2, NULL, "jiesuctl due: --from is required"},
        {"--kind help --from 2026-03-02T10:00:00+08:00", 2, NULL, "--profile is required"},
        {"--profile shantou --from 2026-03-02T10:00:00+08:00", 2, NULL, "--kind is required"},
        {"--profile shantou --from 2026-03-02T10:00:00+08:00 --kind", 2, NULL,
         "--kind needs a value"},
        {"--profile shantou --kind= --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "--kind needs a value"},
        {"--profile shantou --kind help --zone +08 --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "unknown option '--zone'"},
        {"--profile shantou --kind help --kind help --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "--kind given twice"},
        {"--profile shantou --kind help --region 4405 --from 2026-03-02T10:00:00+08:00", 2, NULL,
         "--region: '4405' is not a region code"},
        {"--profile shantou --kind help --from 2026-03-02T10:00:00+08:00 extra", 2, NULL,
         "unknown option 'extra'"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        struct cli_result r = cli(cases[i].args, 1);
        if (r.rc != cases[i].rc)
            fail_msg("case %zu (%s): exit %d, expected %d; stderr: %s", i, cases[i].args, r.rc,
                     cases[i].rc, r.err);
        if (cases[i].out != NULL) {
            assert_string_equal(r.out, cases[i].out);
            assert_string_equal(r.err, "");
        } else {
            assert_string_equal(r.out, "");
            if (strstr(r.err, cases[i].error) == NULL)
                fail_msg("case %zu (%s): stderr '%s' lacks '%s'", i, cases[i].args, r.err,
                         cases[i].error);
        }
        cli_free(&r);
    }
    /* An unknown profile lists the known ones. */
    struct cli_result r = cli("--profile nope --kind help --from 2026-03-02T10:00:00+08:00", 1);
    assert_non_null(strstr(r.err, "known: guangxi keyouqianqi shantou tengzhou zaoyang)"));
    cli_free(&r);
    /* --help prints the usage and succeeds. */
    r = cli("--help", 0);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "usage: jiesuctl due --profile NAME --kind KIND"));
    cli_free(&r);
    /* Missing directories are named. */
    r = cli("--profile shantou --kind help --from 2026-03-02T10:00:00+08:00 "
            "--policies /nonexistent --calendar /nonexistent", 0);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "unknown profile 'shantou' (no /nonexistent/shantou.json"));
    cli_free(&r);
    char args[1200];
    snprintf(args, sizeof args, "--profile shantou --kind help --from 2026-03-02T10:00:00+08:00 "
             "--policies %s --calendar /nonexistent", pol_dir);
    r = cli(args, 0);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "jiesuctl due: calendar: /nonexistent: cannot open"));
    cli_free(&r);
}

static void test_cli_environment(void **state)
{
    (void)state;
    /* A profile directory of our own, named by $JIESU_POLICY_DIR; the calendar by
     * $JIESU_CALENDAR_DIR. "fast" closes at 17:30 and gives help 4wd. */
    char dir[] = "/tmp/jiesu-due-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[600], text[8192];
    snprintf(path, sizeof path, "%s/fast.json", dir);
    snprintf(text, sizeof text, test_profile, "fast");
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    setenv("JIESU_POLICY_DIR", dir, 1);
    setenv("JIESU_CALENDAR_DIR", cal_dir, 1);

    /* 4wd from Mon 03-02: 03, 04, 05, 06 at 17:30. */
    struct cli_result r = cli("--profile fast --kind help --from 2026-03-02T10:00:00+08:00", 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "2026-03-06T17:30:00+08:00\n");
    cli_free(&r);
    /* A bare immediate prints the instant itself, in +08:00. */
    r = cli("--profile fast --kind consultation --complexity simple "
            "--from 2026-03-02T02:00:00Z", 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "2026-03-02T10:00:00+08:00\n");
    cli_free(&r);
    /* The shipped profiles are not in that directory … */
    r = cli("--profile shantou --kind help --from 2026-03-02T10:00:00+08:00", 0);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "known: fast)"));
    cli_free(&r);
    /* … and the command line beats the environment. */
    char args[1200];
    snprintf(args, sizeof args, "--profile shantou --kind help "
             "--from 2026-03-02T10:00:00+08:00 --policies %s", pol_dir);
    r = cli(args, 0);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "2026-03-05T23:59:59+08:00\n"); /* 3wd: 03, 04, 05 */
    cli_free(&r);
    /* A broken profile is refused with its key named. */
    snprintf(path, sizeof path, "%s/broken.json", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"format\": \"jiesu-policy/1\", \"name\": \"broken\", \"windows\": 5}", fp);
    fclose(fp);
    r = cli("--profile broken --kind help --from 2026-03-02T10:00:00+08:00", 0);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "profile 'broken': key 'windows': must be an object"));
    cli_free(&r);

    unsetenv("JIESU_POLICY_DIR");
    unsetenv("JIESU_CALENDAR_DIR");
    unlink(path);
    snprintf(path, sizeof path, "%s/fast.json", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_local_day),
        cmocka_unit_test(test_resolve_by),
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_compute_bad_input),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_cli_environment),
    };
    return cmocka_run_group_tests_name("deadline", tests, setup, teardown);
}
