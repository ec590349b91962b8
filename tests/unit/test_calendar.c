/*
 * test_calendar.c — the working-day calendar: the shipped 2025/2026 files day by day against
 * DOMAIN.md §4, counting across make-up weekends, the Spring Festival, golden week and the
 * year end, regional overrides (children yes, siblings and parents no, nearest wins), the
 * refusal of an unloaded year, and every load error naming file, entry and problem.
 *
 * Expected answers are written out by hand with the reasoning in a comment, never computed
 * by the module under test. The shipped files are read from $JIESU_ROOT/deploy/calendar
 * (tests/run.sh exports JIESU_ROOT; "." otherwise, i.e. run from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "calendar.h"

static char errbuf[1024];

static const char *root(void)
{
    const char *r = getenv("JIESU_ROOT");
    return r != NULL && *r != '\0' ? r : ".";
}

static calendar_day_t D(const char *s)
{
    calendar_day_t d = 0;
    if (calendar_day_parse(s, &d) != 0)
        fail_msg("test bug: bad date %s", s);
    return d;
}

static calendar_t *shipped(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/deploy/calendar", root());
    calendar_t *cal = calendar_new();
    assert_non_null(cal);
    if (calendar_load_dir(cal, dir, errbuf, sizeof errbuf) != 0)
        fail_msg("loading %s: %s", dir, errbuf);
    return cal;
}

/* --- dates ------------------------------------------------------------------------- */

static void test_dates(void **state)
{
    (void)state;
    calendar_day_t d;
    assert_int_equal(calendar_day_from_ymd(1970, 1, 1, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(calendar_day_weekday(d), 4); /* a Thursday */
    assert_int_equal(calendar_day_from_ymd(2026, 1, 1, &d), 0);
    assert_int_equal(d, 20454); /* 56 years, 14 of them leap: 56*365+14 */
    assert_int_equal(calendar_day_weekday(d), 4); /* 2026-01-01 is a Thursday */
    assert_int_equal(calendar_day_weekday(D("2026-02-14")), 6);
    assert_int_equal(calendar_day_weekday(D("2025-01-26")), 7);
    assert_int_equal(calendar_day_weekday(D("1969-12-31")), 3);
    assert_int_equal(calendar_day_from_ymd(2026, 2, 29, &d), -1);
    assert_int_equal(calendar_day_from_ymd(2024, 2, 29, &d), 0);
    assert_int_equal(calendar_day_from_ymd(2100, 2, 29, &d), -1);
    assert_int_equal(calendar_day_from_ymd(2000, 2, 29, &d), 0);
    assert_int_equal(calendar_day_from_ymd(2026, 13, 1, &d), -1);
    assert_int_equal(calendar_day_from_ymd(2026, 4, 31, &d), -1);

    /* Every day from 1999 to 2031 survives the round trip and the weekday advances by one. */
    calendar_day_t first = D("1999-01-01"), last = D("2031-12-31");
    int prev_wd = calendar_day_weekday(first - 1);
    for (calendar_day_t x = first; x <= last; x++) {
        int y, m, dd;
        calendar_day_to_ymd(x, &y, &m, &dd);
        calendar_day_t back;
        assert_int_equal(calendar_day_from_ymd(y, m, dd, &back), 0);
        assert_int_equal(back, x);
        char s[11];
        calendar_day_format(x, s);
        assert_int_equal(calendar_day_parse(s, &back), 0);
        assert_int_equal(back, x);
        int wd = calendar_day_weekday(x);
        assert_int_equal(wd, prev_wd % 7 + 1);
        prev_wd = wd;
    }

    static const char *const bad[] = {"2026-02-30", "2026-2-03", "2026-02-03x", "", "20260203",
                                      "2026/02/03", "2026-00-10", "2026-01-32", "2026-02-3 "};
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++)
        assert_int_equal(calendar_day_parse(bad[i], &d), -1);
    assert_int_equal(calendar_day_parse(NULL, &d), -1);
}

static void test_region_normalise(void **state)
{
    (void)state;
    static const struct {
        const char *code, *want; /* want NULL = refused */
    } cases[] = {
        {"450000", "45"},          /* province: both 00 pairs dropped */
        {"450100", "4501"},        /* city */
        {"450102", "450102"},      /* county */
        {"450102001", "450102001"},/* township, 9 digits */
        {"450102001000", "450102001"}, /* the same township in 12 digits */
        {"450102001201", "450102001201"}, /* a village keeps its digits */
        {"441900003", "441900003"},/* a township directly under a city */
        {"", ""},                  /* national */
        {"4501", NULL},
        {"45010a", NULL},
        {"000000", NULL},
        {"1234567", NULL},
        {"4501020010", NULL},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        char out[CALENDAR_REGION_SIZE];
        int rc = calendar_region_normalise(cases[i].code, out);
        if (cases[i].want == NULL) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(out, cases[i].want);
        }
    }
    char out[CALENDAR_REGION_SIZE];
    assert_int_equal(calendar_region_normalise(NULL, out), 0);
    assert_string_equal(out, "");
}

/* --- the shipped national calendar ------------------------------------------------- */

struct day_case {
    const char *day;
    bool working;
    const char *name; /* NULL: no exception, the Monday–Friday rule decided */
};

static void test_shipped_days(void **state)
{
    (void)state;
    static const struct day_case cases[] = {
        /* the eleven working weekend days (调休上班) of DOMAIN.md §4 */
        {"2025-01-26", true, "调休上班"}, /* Sunday */
        {"2025-02-08", true, "调休上班"}, /* Saturday */
        {"2025-04-27", true, "调休上班"}, /* Sunday */
        {"2025-09-28", true, "调休上班"}, /* Sunday */
        {"2025-10-11", true, "调休上班"}, /* Saturday */
        {"2026-01-04", true, "调休上班"}, /* Sunday */
        {"2026-02-14", true, "调休上班"}, /* Saturday */
        {"2026-02-28", true, "调休上班"}, /* Saturday */
        {"2026-05-09", true, "调休上班"}, /* Saturday */
        {"2026-09-20", true, "调休上班"}, /* Sunday */
        {"2026-10-10", true, "调休上班"}, /* Saturday */
        /* holidays, first and last day of each run, and weekdays inside them */
        {"2025-01-01", false, "元旦"},
        {"2025-01-28", false, "春节"},
        {"2025-02-04", false, "春节"},   /* a Tuesday */
        {"2025-04-04", false, "清明节"},
        {"2025-04-06", false, "清明节"},
        {"2025-05-01", false, "劳动节"},
        {"2025-05-05", false, "劳动节"}, /* a Monday */
        {"2025-05-31", false, "端午节"},
        {"2025-06-02", false, "端午节"},
        {"2025-10-01", false, "国庆节、中秋节"},
        {"2025-10-08", false, "国庆节、中秋节"}, /* a Wednesday */
        {"2026-01-01", false, "元旦"},
        {"2026-01-02", false, "元旦"},   /* a Friday */
        {"2026-01-03", false, "元旦"},
        {"2026-02-15", false, "春节"},
        {"2026-02-23", false, "春节"},   /* a Monday */
        {"2026-04-06", false, "清明节"}, /* a Monday */
        {"2026-05-05", false, "劳动节"},
        {"2026-06-19", false, "端午节"}, /* a Friday */
        {"2026-09-25", false, "中秋节"}, /* a Friday */
        {"2026-10-01", false, "国庆节"},
        {"2026-10-07", false, "国庆节"},
        /* ordinary days around them */
        {"2025-01-27", true, NULL},  /* Monday before the Spring Festival */
        {"2025-02-05", true, NULL},  /* first day back */
        {"2025-10-09", true, NULL},
        {"2025-10-12", false, NULL}, /* the Sunday after the make-up Saturday */
        {"2026-01-05", true, NULL},
        {"2026-02-24", true, NULL},
        {"2026-02-22", false, "春节"},/* a Sunday inside the run: named by the run */
        {"2026-03-07", false, NULL}, /* an ordinary Saturday */
        {"2026-03-08", false, NULL}, /* an ordinary Sunday */
        {"2026-10-08", true, NULL},  /* golden week 2026 ends on the 7th */
        {"2026-10-11", false, NULL}, /* Sunday after the make-up Saturday */
        {"2025-12-31", true, NULL},
    };
    calendar_t *cal = shipped();
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        bool working = !cases[i].working;
        const char *name = "unset";
        if (calendar_day_info(cal, NULL, D(cases[i].day), &working, &name, errbuf,
                              sizeof errbuf) != 0)
            fail_msg("%s: %s", cases[i].day, errbuf);
        if (working != cases[i].working)
            fail_msg("%s: working=%d, expected %d", cases[i].day, working, cases[i].working);
        if (cases[i].name == NULL)
            assert_null(name);
        else
            assert_string_equal(name, cases[i].name);
    }
    /* Guangxi's 三月三 (the shipped regional file for 450000) applies below Guangxi only. */
    bool w;
    const char *name;
    assert_int_equal(calendar_day_info(cal, "450102", D("2025-03-31"), &w, &name, NULL, 0), 0);
    assert_false(w);
    assert_string_equal(name, "壮族三月三");
    assert_int_equal(calendar_is_working_day(cal, "440500", D("2025-03-31"), &w, NULL, 0), 0);
    assert_true(w);
    assert_int_equal(calendar_is_working_day(cal, NULL, D("2025-04-01"), &w, NULL, 0), 0);
    assert_true(w);
    calendar_free(cal);
}

static void test_whole_years_match_the_notices(void **state)
{
    (void)state;
    /* Every day of 2025 and 2026, national. 2025 has 365 days; Jan 1 is a Wednesday, so 52
     * weeks and one Wednesday: 104 weekend days. Its 28 holiday days include 10 weekend days
     * (Feb 1, Feb 2, Apr 5, Apr 6, May 3, May 4, May 31, Jun 1, Oct 4, Oct 5), and 5 weekend
     * days work: 365 - 104 - (28 - 10) + 5 = 248 working days. 2026: Jan 1 is a
     * Thursday, 52 Saturdays and 52 Sundays; 33 holiday days of which at weekends: Jan 3,
     * Feb 15, 21, 22, Apr 4, 5, May 2, 3, Jun 20, 21, Sep 26, 27, Oct 3, 4 = 14; 6 make-up
     * days: 365 - 104 - (33 - 14) + 6 = 248. */
    calendar_t *cal = shipped();
    int n;
    assert_int_equal(calendar_count_working_days(cal, NULL, D("2024-12-31"), D("2025-12-31"), &n,
                                                 errbuf, sizeof errbuf), 0);
    assert_int_equal(n, 248);
    assert_int_equal(calendar_count_working_days(cal, NULL, D("2025-12-31"), D("2026-12-31"), &n,
                                                 errbuf, sizeof errbuf), 0);
    assert_int_equal(n, 248);
    assert_true(calendar_has_year(cal, 2025));
    assert_true(calendar_has_year(cal, 2026));
    assert_false(calendar_has_year(cal, 2027));
    assert_false(calendar_has_year(cal, 2024));
    assert_int_equal(calendar_year_count(cal), 2);
    int year;
    const char *source;
    assert_int_equal(calendar_year_at(cal, 0, &year, &source), 0);
    assert_int_equal(year, 2025);
    assert_string_equal(source, "国务院办公厅关于2025年部分节假日安排的通知");
    assert_int_equal(calendar_year_at(cal, 1, &year, &source), 0);
    assert_int_equal(year, 2026);
    assert_int_equal(calendar_year_at(cal, 2, &year, &source), -1);
    calendar_free(cal);
}

/* --- counting ---------------------------------------------------------------------- */

struct add_case {
    const char *region;
    const char *from;
    int n;
    const char *want;
    const char *why;
};

static void test_add_working_days(void **state)
{
    (void)state;
    static const struct add_case cases[] = {
        {NULL, "2026-03-02", 0, "2026-03-02", "n = 0 is the start day itself"},
        {NULL, "2026-03-02", 5, "2026-03-09", "Mon → Tue..Fri (4), next Mon (5)"},
        {NULL, "2026-03-06", 1, "2026-03-09", "a Friday: the weekend does not count"},
        {NULL, "2026-03-07", 1, "2026-03-09", "received on a Saturday: Monday is the first"},
        {NULL, "2026-03-08", 1, "2026-03-09", "received on a Sunday"},
        /* make-up Saturdays and Sundays */
        {NULL, "2026-02-13", 1, "2026-02-14", "Fri → Sat 02-14 is 调休上班"},
        {NULL, "2026-02-13", 2, "2026-02-24", "02-14 (1), 02-15..23 Spring Festival, 02-24 (2)"},
        {NULL, "2026-02-13", 3, "2026-02-25", "…02-25 (3)"},
        {NULL, "2026-02-26", 2, "2026-02-28", "Thu → Fri 02-27 (1), Sat 02-28 working (2)"},
        {NULL, "2026-02-13", 20, "2026-03-19",
         "02-14, 24, 25, 26, 27 (5), Sat 02-28 (6), 03-02..06 (11), 09..13 (16), 16..19 (20)"},
        {NULL, "2025-01-24", 1, "2025-01-26", "Fri → Sun 01-26 is 调休上班"},
        {NULL, "2025-01-24", 2, "2025-01-27", "01-26 (1), 01-27 (2)"},
        {NULL, "2025-01-24", 3, "2025-02-05", "…01-28..02-04 Spring Festival, 02-05 (3)"},
        {NULL, "2025-01-24", 6, "2025-02-08", "02-05 (3), 06 (4), 07 (5), Sat 02-08 working (6)"},
        /* receipt on a holiday: the receipt day never counts */
        {NULL, "2026-02-17", 1, "2026-02-24", "inside the Spring Festival"},
        {NULL, "2026-02-17", 3, "2026-02-26", "02-24, 25, 26"},
        {NULL, "2026-10-03", 1, "2026-10-08", "inside golden week"},
        /* golden week and its make-up days */
        {NULL, "2026-09-30", 1, "2026-10-08", "10-01..07 rest"},
        {NULL, "2026-09-30", 3, "2026-10-10", "10-08, 09, Sat 10-10 working"},
        {NULL, "2026-09-30", 4, "2026-10-12", "…Sun 10-11 rest, Mon 10-12"},
        {NULL, "2026-09-18", 1, "2026-09-20", "Fri → Sun 09-20 is 调休上班 (Sat 09-19 is not)"},
        {NULL, "2026-09-24", 1, "2026-09-28", "09-25..27 Mid-Autumn"},
        {NULL, "2025-09-26", 1, "2025-09-28", "Fri → Sun 09-28 working"},
        {NULL, "2025-09-26", 3, "2025-09-30", "09-28, 29, 30"},
        {NULL, "2025-09-26", 4, "2025-10-09", "10-01..08 rest"},
        {NULL, "2025-09-26", 6, "2025-10-11", "10-09, 10, Sat 10-11 working"},
        {NULL, "2025-09-26", 7, "2025-10-13", "Sun 10-12 rest"},
        /* across the year end */
        {NULL, "2025-12-31", 1, "2026-01-04", "01-01..03 rest, Sun 01-04 working"},
        {NULL, "2025-12-31", 5, "2026-01-08", "01-04, 05, 06, 07, 08"},
        {NULL, "2025-12-30", 1, "2025-12-31", "the last day of 2025 is an ordinary Wednesday"},
        {NULL, "2025-12-30", 2, "2026-01-04", "12-31 (1), 01-04 (2)"},
        /* backwards */
        {NULL, "2026-02-24", -1, "2026-02-14", "the working day before the first day back"},
        {NULL, "2026-01-05", -2, "2025-12-31", "01-04 (1), back over the holiday to 12-31 (2)"},
        /* Guangxi's 三月三 2025: Mon 03-31 and Tue 04-01 rest in 450000 and below */
        {"450102", "2025-03-28", 1, "2025-04-02", "Fri → 03-31, 04-01 rest, Wed 04-02"},
        {"450102", "2025-03-28", 3, "2025-04-07", "04-02, 03, then 04-04..06 清明, 04-07"},
        {NULL, "2025-03-28", 3, "2025-04-02", "nationally: 03-31, 04-01, 04-02"},
        {"440500", "2025-03-28", 3, "2025-04-02", "Guangdong is not Guangxi"},
    };
    calendar_t *cal = shipped();
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        calendar_day_t got;
        if (calendar_add_working_days(cal, cases[i].region, D(cases[i].from), cases[i].n, &got,
                                      errbuf, sizeof errbuf) != 0)
            fail_msg("case %zu (%s): %s", i, cases[i].why, errbuf);
        char s[11];
        calendar_day_format(got, s);
        if (strcmp(s, cases[i].want) != 0)
            fail_msg("case %zu: %s + %d wd = %s, expected %s (%s)", i, cases[i].from, cases[i].n,
                     s, cases[i].want, cases[i].why);
    }
    /* (2025-12-31, 2026-01-08] holds five working days: 01-04, 05, 06, 07, 08. */
    int n;
    assert_int_equal(calendar_count_working_days(cal, NULL, D("2025-12-31"), D("2026-01-08"), &n,
                                                 errbuf, sizeof errbuf), 0);
    assert_int_equal(n, 5);
    assert_int_equal(calendar_count_working_days(cal, NULL, D("2026-01-08"), D("2026-01-08"), &n,
                                                 errbuf, sizeof errbuf), 0);
    assert_int_equal(n, 0);
    calendar_free(cal);
}

static void test_unloaded_year_is_refused(void **state)
{
    (void)state;
    calendar_t *cal = shipped();
    bool w;
    calendar_day_t out;
    int n;
    errbuf[0] = '\0';
    assert_int_equal(calendar_is_working_day(cal, NULL, D("2027-01-04"), &w, errbuf,
                                             sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "no working-day calendar is loaded for 2027"));
    assert_int_equal(calendar_is_working_day(cal, NULL, D("2024-12-31"), &w, errbuf,
                                             sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "2024"));
    /* 2026-12-31 is a Thursday: 1 working day is fine, 2 need 2027. */
    assert_int_equal(calendar_add_working_days(cal, NULL, D("2026-12-30"), 1, &out, errbuf,
                                               sizeof errbuf), 0);
    assert_int_equal(calendar_add_working_days(cal, NULL, D("2026-12-30"), 2, &out, errbuf,
                                               sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "2027"));
    assert_int_equal(calendar_add_working_days(cal, "450102", D("2026-12-31"), 1, &out, errbuf,
                                               sizeof errbuf), -1);
    assert_int_equal(calendar_count_working_days(cal, NULL, D("2026-12-01"), D("2027-01-05"), &n,
                                                 errbuf, sizeof errbuf), -1);
    /* The start day itself is never looked at, so a case received on 2024-12-31 is fine. */
    assert_int_equal(calendar_add_working_days(cal, NULL, D("2024-12-31"), 1, &out, errbuf,
                                               sizeof errbuf), 0);
    assert_int_equal(out, D("2025-01-02")); /* 01-01 is 元旦 */
    /* An empty calendar refuses everything, and a malformed region is refused too. */
    calendar_t *empty = calendar_new();
    assert_int_equal(calendar_is_working_day(empty, NULL, D("2026-03-03"), &w, NULL, 0), -1);
    calendar_free(empty);
    assert_int_equal(calendar_is_working_day(cal, "4501", D("2026-03-03"), &w, errbuf,
                                             sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "'4501' is not a region code"));
    calendar_free(cal);
}

/* --- regional overrides ------------------------------------------------------------ */

/* Test-only overrides in Guangdong (44), fictional days of 2026:
 *   440000 (province): Sat 09-19 declared working; Mon 09-21 a local holiday
 *   440500 (Shantou city): Sat 09-19 a typhoon closure (overrides the province)
 *   440507 (Longhu district): Tue 09-15 a typhoon closure */
static const char *const gd_province =
    "{\"format\":\"jiesu-calendar/1\",\"year\":2026,\"region\":\"440000\","
    "\"source\":\"test\",\"days\":["
    "{\"kind\":\"work\",\"first\":\"2026-09-19\",\"name\":\"调休上班（测试）\"},"
    "{\"kind\":\"rest\",\"first\":\"2026-09-21\",\"name\":\"地方节日（测试）\"}]}";
static const char *const st_city =
    "{\"format\":\"jiesu-calendar/1\",\"year\":2026,\"region\":\"440500\",\"days\":["
    "{\"kind\":\"rest\",\"first\":\"2026-09-19\",\"name\":\"台风停工\"}]}";
static const char *const lh_county =
    "{\"format\":\"jiesu-calendar/1\",\"year\":2026,\"region\":\"440507\",\"days\":["
    "{\"kind\":\"rest\",\"first\":\"2026-09-15\",\"name\":\"台风停工\"}]}";

static calendar_t *with_overrides(void)
{
    calendar_t *cal = shipped();
    /* Loaded child first: the order of regional files does not matter. */
    if (calendar_load_string(cal, "lh", lh_county, errbuf, sizeof errbuf) != 0 ||
        calendar_load_string(cal, "st", st_city, errbuf, sizeof errbuf) != 0 ||
        calendar_load_string(cal, "gd", gd_province, errbuf, sizeof errbuf) != 0)
        fail_msg("%s", errbuf);
    return cal;
}

static void test_regional_overrides(void **state)
{
    (void)state;
    static const struct {
        const char *region, *day;
        bool working;
        const char *name;
        const char *why;
    } cases[] = {
        {"440000", "2026-09-19", true, "调休上班（测试）", "the province's own make-up day"},
        {"440300", "2026-09-19", true, "调休上班（测试）", "a sibling city inherits the province"},
        {"440305", "2026-09-19", true, "调休上班（测试）", "and its districts too"},
        {"440500", "2026-09-19", false, "台风停工", "the city's closure beats the province"},
        {"440507", "2026-09-19", false, "台风停工", "a district of that city too"},
        {"440507001", "2026-09-19", false, "台风停工", "and a township below it"},
        {"440507", "2026-09-15", false, "台风停工", "the district's own closure"},
        {"440507001000", "2026-09-15", false, "台风停工", "12-digit township below it"},
        {"440500", "2026-09-15", true, NULL, "a child's closure does not reach its parent"},
        {"440511", "2026-09-15", true, NULL, "nor a sibling district"},
        {"440000", "2026-09-15", true, NULL, "nor the province"},
        {NULL, "2026-09-19", false, NULL, "nationally an ordinary Saturday"},
        {NULL, "2026-09-21", true, NULL, "nationally an ordinary Monday"},
        {"440507", "2026-09-21", false, "地方节日（测试）", "the province's holiday reaches down"},
        {"450000", "2026-09-21", true, NULL, "another province is untouched"},
        {"440507", "2026-09-20", true, "调休上班", "the national make-up Sunday still holds"},
        {"440507", "2026-10-01", false, "国庆节", "national holidays still hold"},
    };
    calendar_t *cal = with_overrides();
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        bool w = !cases[i].working;
        const char *name = "unset";
        if (calendar_day_info(cal, cases[i].region, D(cases[i].day), &w, &name, errbuf,
                              sizeof errbuf) != 0)
            fail_msg("case %zu: %s", i, errbuf);
        if (w != cases[i].working)
            fail_msg("case %zu (%s): working=%d", i, cases[i].why, w);
        if (cases[i].name == NULL)
            assert_null(name);
        else
            assert_string_equal(name, cases[i].name);
    }
    static const struct add_case adds[] = {
        {"440507", "2026-09-14", 3, "2026-09-18", "09-15 closed; 16, 17, 18"},
        {"440511", "2026-09-14", 3, "2026-09-17", "sibling: 15, 16, 17"},
        {"440300", "2026-09-18", 2, "2026-09-20", "Sat 09-19 (province), Sun 09-20 (national)"},
        {"440500", "2026-09-18", 2, "2026-09-22", "09-19 typhoon, 09-20 (1), 09-21 holiday, 22"},
        {NULL, "2026-09-18", 2, "2026-09-21", "nationally: Sun 09-20 (1), Mon 09-21 (2)"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(adds); i++) {
        calendar_day_t got;
        assert_int_equal(calendar_add_working_days(cal, adds[i].region, D(adds[i].from),
                                                   adds[i].n, &got, errbuf, sizeof errbuf), 0);
        char s[11];
        calendar_day_format(got, s);
        if (strcmp(s, adds[i].want) != 0)
            fail_msg("add case %zu: got %s, expected %s (%s)", i, s, adds[i].want, adds[i].why);
    }
    calendar_free(cal);
}

/* --- rows (the calendar_days mapping) ---------------------------------------------- */

struct row_count {
    int national_rest, national_work, regional, calls, stop_after;
    char first[64];
};

static int count_row(void *ud, const calendar_row_t *row)
{
    struct row_count *c = ud;
    if (c->calls++ == 0) {
        char d[11];
        calendar_day_format(row->day, d);
        snprintf(c->first, sizeof c->first, "%s %s %s", d, row->working ? "work" : "rest",
                 row->name);
    }
    if (row->region_code == NULL) {
        if (row->working)
            c->national_work++;
        else
            c->national_rest++;
        assert_non_null(row->source);
    } else {
        c->regional++;
        assert_string_equal(row->region_code, "450000");
    }
    return c->stop_after && c->calls >= c->stop_after;
}

static void test_rows(void **state)
{
    (void)state;
    calendar_t *cal = shipped();
    struct row_count c = {0};
    assert_int_equal(calendar_foreach_row(cal, count_row, &c), 0);
    /* 0007_calendar.sql: 61 national rest days (28 + 33) and 11 working weekend days; plus
     * the two days of Guangxi's 三月三. */
    assert_int_equal(c.national_rest, 61);
    assert_int_equal(c.national_work, 11);
    assert_int_equal(c.regional, 2);
    assert_string_equal(c.first, "2025-01-01 rest 元旦");
    struct row_count stop = {.stop_after = 3};
    assert_int_equal(calendar_foreach_row(cal, count_row, &stop), -1);
    assert_int_equal(stop.calls, 3);
    calendar_free(cal);
}

/* --- load errors ------------------------------------------------------------------- */

#define NAT26 "{\"format\":\"jiesu-calendar/1\",\"year\":2026,\"region\":null,\"source\":\"s\","
#define REG(code) "{\"format\":\"jiesu-calendar/1\",\"year\":2026,\"region\":\"" code "\","

static void test_load_errors(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int needs_national; /* load the shipped files first */
        const char *want;   /* substring of the error */
    } cases[] = {
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-02-30\",\"name\":\"x\"}]}", 0,
         "bad: days[0]: first: bad date '2026-02-30'"},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2025-12-31\",\"name\":\"x\"}]}", 0,
         "bad: days[0] (2025-12-31): date outside the file's year 2026"},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-12-30\",\"last\":\"2027-01-01\","
               "\"name\":\"x\"}]}", 0, "days[0] (2027-01-01): date outside the file's year 2026"},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-02-14\",\"name\":\"x\"},"
               "{\"kind\":\"work\",\"first\":\"2026-02-14\",\"name\":\"y\"}]}", 0,
         "days[1] (2026-02-14): 2026-02-14 is both rest (days[0]) and working"},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-02-15\",\"last\":\"2026-02-17\","
               "\"name\":\"x\"},{\"kind\":\"rest\",\"first\":\"2026-02-16\",\"name\":\"x\"}]}", 0,
         "days[1] (2026-02-16): duplicate: 2026-02-16 is already listed in days[0]"},
        {NAT26 "\"days\":[{\"kind\":\"work\",\"first\":\"2026-03-03\",\"name\":\"x\"}]}", 0,
         "days[0] (2026-03-03): 2026-03-03 is a weekday"},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-03-05\",\"last\":\"2026-03-03\","
               "\"name\":\"x\"}]}", 0, "days[0] (2026-03-05): last 2026-03-03 is before first"},
        {NAT26 "\"days\":[{\"kind\":\"holiday\",\"first\":\"2026-03-03\",\"name\":\"x\"}]}", 0,
         "days[0] (2026-03-03): kind must be \"rest\" or \"work\""},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"date\":\"2026-03-03\",\"name\":\"x\"}]}", 0,
         "days[0]: unknown key 'date'"},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-03-03\",\"name\":\"  \"}]}", 0,
         "days[0] (2026-03-03): name must be a non-blank string"},
        {NAT26 "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-03-03\"}]}", 0,
         "days[0] (2026-03-03): name must be"},
        {NAT26 "\"days\":[\"2026-03-03\"]}", 0, "days[0]: an entry must be an object"},
        {NAT26 "\"days\":[], \"yaer\": 2026}", 0, "bad: unknown key 'yaer'"},
        {"{\"format\":\"jiesu-calendar/1\",\"year\":2026,\"region\":null,\"days\":[]}", 0,
         "bad: source is required for a national calendar"},
        {"{\"format\":\"jiesu-calendar/2\",\"year\":2026,\"region\":null,\"days\":[]}", 0,
         "bad: format must be \"jiesu-calendar/1\""},
        {"{\"format\":\"jiesu-calendar/1\",\"year\":1999,\"region\":null,\"days\":[]}", 0,
         "bad: year must be an integer from 2000 to 2999"},
        {"{\"format\":\"jiesu-calendar/1\",\"year\":2026,\"days\":[]}", 0,
         "bad: region must be null"},
        {NAT26 "\"days\":{}}", 0, "bad: days must be an array"},
        {NAT26 "\"days\":[}", 0, "bad:1:"},
        {NAT26 "\"days\":[], \"days\":[]}", 0, "duplicate object key"},
        {"[]", 0, "bad: the file must hold one JSON object"},
        /* against what is loaded */
        {NAT26 "\"days\":[]}", 1, "bad: duplicate: the national calendar for 2026 is already "
                                  "loaded from"},
        {"{\"format\":\"jiesu-calendar/1\",\"year\":2027,\"region\":\"440500\",\"days\":[]}", 1,
         "bad: region 440500: no national calendar for 2027 is loaded"},
        {REG("4405") "\"days\":[]}", 1, "bad: region '4405' is not a region code"},
        {REG("440500") "\"days\":[{\"kind\":\"rest\",\"first\":\"2026-09-18\",\"name\":\"x\"},"
                       "{\"kind\":\"rest\",\"first\":\"2026-09-19\",\"name\":\"x\"}]}", 2,
         "bad: duplicate: 2026-09-19 is already set for region 440500 by st"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        calendar_t *cal = cases[i].needs_national == 2 ? with_overrides()
                          : cases[i].needs_national    ? shipped()
                                                       : calendar_new();
        assert_non_null(cal);
        errbuf[0] = '\0';
        assert_int_equal(calendar_load_string(cal, "bad", cases[i].json, errbuf, sizeof errbuf),
                         -1);
        if (strstr(errbuf, cases[i].want) == NULL)
            fail_msg("case %zu: error '%s' does not contain '%s'", i, errbuf, cases[i].want);
        calendar_free(cal);
    }
}

static void test_failed_load_changes_nothing(void **state)
{
    (void)state;
    calendar_t *cal = shipped();
    /* The first entry is fine, the second is not: the first must not stay behind. */
    const char *json = REG("440500") "\"days\":["
                       "{\"kind\":\"rest\",\"first\":\"2026-03-03\",\"name\":\"ok\"},"
                       "{\"kind\":\"work\",\"first\":\"2026-03-04\",\"name\":\"bad\"}]}";
    assert_int_equal(calendar_load_string(cal, "half", json, errbuf, sizeof errbuf), -1);
    bool w;
    assert_int_equal(calendar_is_working_day(cal, "440500", D("2026-03-03"), &w, NULL, 0), 0);
    assert_true(w);
    /* And a failed national file leaves the year unloaded. */
    calendar_t *fresh = calendar_new();
    assert_int_equal(calendar_load_string(fresh, "n", NAT26 "\"days\":[{\"kind\":\"work\","
                                          "\"first\":\"2026-03-04\",\"name\":\"x\"}]}",
                                          errbuf, sizeof errbuf), -1);
    assert_false(calendar_has_year(fresh, 2026));
    calendar_free(fresh);
    calendar_free(cal);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static void test_load_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/jiesu-cal-XXXXXX";
    assert_non_null(mkdtemp(dir));
    calendar_t *cal = calendar_new();

    /* An empty directory is an error: no calendar at all is never what an operator meant. */
    assert_int_equal(calendar_load_dir(cal, dir, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "no calendar files"));

    /* A regional file whose name sorts first still loads after the national one. */
    write_file(dir, "a-shantou.json", st_city);
    write_file(dir, "z-national.json", NAT26 "\"days\":[]}");
    write_file(dir, "README.txt", "not a calendar");
    assert_int_equal(calendar_load_dir(cal, dir, errbuf, sizeof errbuf), 0);
    bool w;
    assert_int_equal(calendar_is_working_day(cal, "440507", D("2026-09-19"), &w, NULL, 0), 0);
    assert_false(w);
    calendar_free(cal);

    /* A bad file is named with its path. */
    write_file(dir, "m-bad.json", REG("440300") "\"days\":[{\"kind\":\"work\","
               "\"first\":\"2026-09-16\",\"name\":\"x\"}]}");
    cal = calendar_new();
    assert_int_equal(calendar_load_dir(cal, dir, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "/m-bad.json: days[0] (2026-09-16): 2026-09-16 is a weekday"));
    calendar_free(cal);

    cal = calendar_new();
    assert_int_equal(calendar_load_file(cal, "/nonexistent/x.json", errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "/nonexistent/x.json"));
    assert_int_equal(calendar_load_dir(cal, "/nonexistent", errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "/nonexistent: cannot open calendar directory"));
    calendar_free(cal);
    calendar_free(NULL);

    remove_file(dir, "a-shantou.json");
    remove_file(dir, "z-national.json");
    remove_file(dir, "README.txt");
    remove_file(dir, "m-bad.json");
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_region_normalise),
        cmocka_unit_test(test_shipped_days),
        cmocka_unit_test(test_whole_years_match_the_notices),
        cmocka_unit_test(test_add_working_days),
        cmocka_unit_test(test_unloaded_year_is_refused),
        cmocka_unit_test(test_regional_overrides),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_failed_load_changes_nothing),
        cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests_name("calendar", tests, NULL, NULL);
}
