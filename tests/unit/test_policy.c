/*
 * test_policy.c — policy profiles: the five shipped profiles load and say what the seeds
 * say (an oracle of all 75 windows written out by hand from DOMAIN.md §3 and the seeds), every
 * kind of bad profile is refused with the profile, the key and the problem named, and the
 * helpers around a profile (window syntax, extension caps, pauses, satisfaction, region
 * binding with inheritance) behave.
 *
 * Bad profiles are made from one valid test profile by changing one key at a time (a path
 * like "windows/help/general", '/'-separated because note keys contain dots), so each case
 * tests exactly one rule.
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
#include <jansson.h>

#include "policy.h"

static char errbuf[1024];

static const char *root(void)
{
    const char *r = getenv("JIESU_ROOT");
    return r != NULL && *r != '\0' ? r : ".";
}

static policy_set_t *shipped(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/deploy/policies", root());
    policy_set_t *ps = policy_set_new();
    assert_non_null(ps);
    if (policy_set_load_dir(ps, dir, errbuf, sizeof errbuf) != 0)
        fail_msg("loading %s: %s", dir, errbuf);
    return ps;
}

/* A valid profile exercising every key; the bad cases below change one thing each. */
static const char *const base_profile =
    "{\"format\": \"jiesu-policy/1\", \"name\": \"testprof\", \"title\": \"测试\","
    " \"source\": \"unit test\", \"region\": \"440500\", \"office_close\": \"17:30:00\","
    " \"settings\": {\"n\": {\"value\": 4, \"seed_text\": \"*\", \"why\": \"test\"}},"
    " \"windows\": {"
    "  \"consultation\": {\"simple\": \"immediate\", \"general\": \"immediate, else 24h\","
    "                     \"complex\": \"agreed\"},"
    "  \"help\": {\"simple\": \"2wd\", \"general\": \"${n}wd\", \"complex\": \"20wd\"},"
    "  \"complaint\": {\"simple\": \"3d\", \"general\": \"5wd\", \"complex\": \"agreed\"},"
    "  \"report\": {\"simple\": \"5wd\", \"general\": \"5wd\", \"complex\": \"agreed\"},"
    "  \"suggestion\": {\"simple\": \"5wd\", \"general\": \"5wd\", \"complex\": \"agreed\"}},"
    " \"intake\": {\"review\": null, \"out_of_scope_notice\": \"2wd\"},"
    " \"sign_for\": {\"window\": \"1wd\", \"lower_tier_extra_wd\": 1},"
    " \"first_contact\": \"immediate, else 1wd\", \"result_to_enterprise\": \"with_result\","
    " \"progress\": {\"weekly\": false, \"weekday\": null},"
    " \"monthly\": {\"review_day\": null, \"seriously_late_wd\": null, \"bulletin\": false},"
    " \"revisit\": {\"window\": \"3wd\", \"same_day_return\": false, \"lookback_sampling\": false,"
    "   \"coverage_percent\": null},"
    " \"redo\": {\"window\": \"original\", \"after_second_unsatisfied\": \"escalate\"},"
    " \"extension\": {\"allowed\": true, \"approver\": \"centre\", \"max_factor\": 1,"
    "   \"max_count\": 2, \"ask_before_due\": true},"
    " \"pause\": {\"allowed\": true, \"reasons\": [\"awaiting_materials\"]},"
    " \"warning\": {\"days_before\": 1, \"hours_before\": 4},"
    " \"supervision\": {\"reminder\": {\"unsigned_times\": null, \"overdue\": true,"
    "   \"repeat_reports\": null}, \"rectification\": {\"unsatisfied_results\": null,"
    "   \"improper_close_requests\": null, \"in_monthly_bulletin\": false},"
    "   \"interview\": false, \"notice_reply\": \"5d\", \"discipline_referral\": false},"
    " \"cards\": {\"enabled\": false, \"red_after_yellows\": null, \"principal_after_reds\": null},"
    " \"satisfaction\": {\"scale\": [\"非常满意\", \"满意\", \"基本满意\", \"不满意\", \"非常不满意\"],"
    "   \"satisfied_levels\": 3, \"target_percent\": null},"
    " \"notes\": {\"windows\": \"why\", \"windows.help.general\": \"why\"}}";

/* --- the shipped profiles ---------------------------------------------------------- */

/* Each profile's windows, in the order consultation, help, complaint, report, suggestion,
 * and for each simple | general | complex. From DOMAIN.md §3 and the seeds:
 *   000 科右前旗: every deadline is agreed with the enterprise (三(四)).
 *   001 广西: consultation immediate, else N; help and suggestion N; complaint and report N
 *       (redacted; defaults 1, 5, 10); complex decided by the working group → agreed.
 *   002 汕头: consultation 1, suggestion 2, complaint 3 (help and report as complaint);
 *       complex 一企一策 → agreed.
 *   003 枣阳: simple immediate, else 24 h; consultation likewise; general 5; complex 20.
 *   004 滕州: consultation immediate (else the general 5); all else 5; complex has a plan. */
static const struct {
    const char *profile;
    const char *windows[POLICY_KIND_COUNT][POLICY_COMPLEXITY_COUNT];
} oracle[] = {
    {"keyouqianqi",
     {{"agreed", "agreed", "agreed"}, {"agreed", "agreed", "agreed"},
      {"agreed", "agreed", "agreed"}, {"agreed", "agreed", "agreed"},
      {"agreed", "agreed", "agreed"}}},
    {"guangxi",
     {{"immediate, else 1wd", "immediate, else 1wd", "agreed"}, {"5wd", "5wd", "agreed"},
      {"10wd", "10wd", "agreed"}, {"10wd", "10wd", "agreed"}, {"5wd", "5wd", "agreed"}}},
    {"shantou",
     {{"1wd", "1wd", "agreed"}, {"3wd", "3wd", "agreed"}, {"3wd", "3wd", "agreed"},
      {"3wd", "3wd", "agreed"}, {"2wd", "2wd", "agreed"}}},
    {"zaoyang",
     {{"immediate, else 24h", "immediate, else 24h", "20wd"},
      {"immediate, else 24h", "5wd", "20wd"}, {"immediate, else 24h", "5wd", "20wd"},
      {"immediate, else 24h", "5wd", "20wd"}, {"immediate, else 24h", "5wd", "20wd"}}},
    {"tengzhou",
     {{"immediate, else 5wd", "immediate, else 5wd", "agreed"}, {"5wd", "5wd", "agreed"},
      {"5wd", "5wd", "agreed"}, {"5wd", "5wd", "agreed"}, {"5wd", "5wd", "agreed"}}},
};

static void test_shipped_windows(void **state)
{
    (void)state;
    policy_set_t *ps = shipped();
    assert_int_equal(policy_set_count(ps), JS_ARRAY_LEN(oracle));
    for (size_t i = 0; i < JS_ARRAY_LEN(oracle); i++) {
        const policy_t *p = policy_set_find(ps, oracle[i].profile);
        if (p == NULL)
            fail_msg("profile %s is not shipped", oracle[i].profile);
        for (int k = 0; k < POLICY_KIND_COUNT; k++) {
            for (int c = 0; c < POLICY_COMPLEXITY_COUNT; c++) {
                char got[64];
                policy_window_format(policy_window_for(p, (policy_kind_t)k,
                                                       (policy_complexity_t)c), got, sizeof got);
                if (strcmp(got, oracle[i].windows[k][c]) != 0)
                    fail_msg("%s %s %s: %s, expected %s", oracle[i].profile,
                             policy_kind_to_str((policy_kind_t)k),
                             policy_complexity_to_str((policy_complexity_t)c), got,
                             oracle[i].windows[k][c]);
            }
        }
        assert_int_equal(p->office_close_s, 23 * 3600 + 59 * 60 + 59);
    }
    policy_set_free(ps);
}

static void fmt_eq(const policy_window_t *w, const char *want)
{
    char got[64];
    policy_window_format(w, got, sizeof got);
    assert_string_equal(got, want);
}

static void test_shipped_rules(void **state)
{
    (void)state;
    policy_set_t *ps = shipped();
    const policy_t *k = policy_set_find(ps, "keyouqianqi");
    const policy_t *g = policy_set_find(ps, "guangxi");
    const policy_t *s = policy_set_find(ps, "shantou");
    const policy_t *z = policy_set_find(ps, "zaoyang");
    const policy_t *t = policy_set_find(ps, "tengzhou");
    assert_non_null(k);
    assert_non_null(g);
    assert_non_null(s);
    assert_non_null(z);
    assert_non_null(t);

    /* 000: out of scope 2, return within 1, contact at once, result 1, weekly progress,
     * revisit 3 by the supervision office, referral to discipline. */
    fmt_eq(&k->out_of_scope_notice, "2wd");
    fmt_eq(&k->sign_for, "1wd");
    fmt_eq(&k->first_contact, "immediate, else 1wd");
    fmt_eq(&k->result_to_enterprise, "1wd");
    assert_true(k->progress_weekly);
    assert_int_equal(k->progress_weekday, POLICY_UNSET);
    fmt_eq(&k->revisit, "3wd");
    assert_true(k->sup_discipline_referral);
    assert_string_equal(k->region, "152221");

    /* 001: the redacted numbers come through settings. */
    fmt_eq(&g->intake_review, "1wd");
    assert_int_equal(g->revisit_coverage_percent, 100);
    assert_int_equal(g->sup_rectify_unsatisfied_results, 2);
    assert_int_equal(g->satisfaction_target_percent, 90);
    assert_true(g->sup_interview);
    assert_true(g->sup_rectify_in_bulletin);
    assert_true(g->monthly_bulletin);
    assert_int_equal(g->after_second_unsatisfied, POLICY_AFTER_ESCALATE);
    assert_int_equal(g->extension_approver, POLICY_APPROVER_CENTRE);

    /* 002: sign within 1 (+1 for districts), contact within 1, Thursday progress, the 25th. */
    fmt_eq(&s->sign_for, "1wd");
    assert_int_equal(s->sign_for_lower_tier_extra_wd, 1);
    fmt_eq(&s->first_contact, "1wd");
    fmt_eq(&s->result_to_enterprise, "with_result");
    assert_true(s->progress_weekly);
    assert_int_equal(s->progress_weekday, 4);
    assert_int_equal(s->monthly_review_day, 25);
    assert_int_equal(s->after_second_unsatisfied, POLICY_AFTER_MEETING);

    /* 003: extension at most once the original, a 5-day supervision reply, referral. */
    assert_true(z->extension_allowed);
    assert_true(z->extension_max_factor > 0.99 && z->extension_max_factor < 1.01);
    assert_true(z->extension_ask_before_due);
    fmt_eq(&z->sup_notice_reply, "5d");
    assert_true(z->revisit_lookback_sampling);
    assert_int_equal(z->after_second_unsatisfied, POLICY_AFTER_DISCIPLINE_REFERRAL);

    /* 004: no extension, cards 2 → red, 2 → principal, same-day return, redo in 3, a
     * four-level scale. */
    assert_false(t->extension_allowed);
    assert_true(t->cards_enabled);
    assert_int_equal(t->cards_red_after_yellows, 2);
    assert_int_equal(t->cards_principal_after_reds, 2);
    assert_true(t->revisit_same_day_return);
    fmt_eq(&t->redo, "3wd");
    assert_int_equal(t->after_second_unsatisfied, POLICY_AFTER_REVIEW_FORM);
    assert_int_equal(t->scale_len, 4);
    assert_string_equal(t->scale[1], "比较满意");
    assert_int_equal(s->scale_len, 5);

    /* Nobody but 004 has cards; no seed allows pauses. */
    for (size_t i = 0; i < policy_set_count(ps); i++) {
        const policy_t *p = policy_set_at(ps, i);
        assert_int_equal(p->cards_enabled, p == t);
        assert_false(p->pause_allowed);
        assert_int_equal(p->warning_days_before, 1);
    }
    assert_null(policy_set_at(ps, 99));
    policy_set_free(ps);
}

/* --- names and windows ------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    static const char *const kinds[] = {"consultation", "help", "complaint", "report",
                                        "suggestion"};
    for (int i = 0; i < POLICY_KIND_COUNT; i++) {
        policy_kind_t k;
        assert_string_equal(policy_kind_to_str((policy_kind_t)i), kinds[i]);
        assert_int_equal(policy_kind_from_str(kinds[i], &k), 0);
        assert_int_equal(k, i);
    }
    policy_kind_t k;
    policy_complexity_t c;
    assert_int_equal(policy_kind_from_str("Help", &k), -1);
    assert_int_equal(policy_kind_from_str("", &k), -1);
    assert_int_equal(policy_kind_from_str(NULL, &k), -1);
    assert_null(policy_kind_to_str(POLICY_KIND_COUNT));
    assert_int_equal(policy_complexity_from_str("complex", &c), 0);
    assert_int_equal(c, POLICY_COMPLEXITY_COMPLEX);
    assert_int_equal(policy_complexity_from_str("hard", &c), -1);
    assert_string_equal(policy_complexity_to_str(POLICY_COMPLEXITY_SIMPLE), "simple");
    assert_null(policy_complexity_to_str(POLICY_COMPLEXITY_COUNT));
    policy_pause_reason_t r;
    assert_int_equal(policy_pause_reason_from_str("force_majeure", &r), 0);
    assert_string_equal(policy_pause_reason_to_str(r), "force_majeure");
    assert_int_equal(policy_pause_reason_from_str("lunch", &r), -1);
}

static void test_window_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        policy_unit_t unit;
        int n;
        policy_unit_t else_unit;
        int else_n;
    } good[] = {
        {"5wd", POLICY_UNIT_WORKING_DAYS, 5, 0, 0},
        {"1000wd", POLICY_UNIT_WORKING_DAYS, 1000, 0, 0},
        {"5d", POLICY_UNIT_DAYS, 5, 0, 0},
        {"24h", POLICY_UNIT_HOURS, 24, 0, 0},
        {"immediate", POLICY_UNIT_IMMEDIATE, 0, POLICY_UNIT_NONE, 0},
        {"immediate, else 24h", POLICY_UNIT_IMMEDIATE, 0, POLICY_UNIT_HOURS, 24},
        {"immediate, else 3wd", POLICY_UNIT_IMMEDIATE, 0, POLICY_UNIT_WORKING_DAYS, 3},
        {"agreed", POLICY_UNIT_AGREED, 0, 0, 0},
        {"original", POLICY_UNIT_ORIGINAL, 0, 0, 0},
        {"with_result", POLICY_UNIT_WITH_RESULT, 0, 0, 0},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(good); i++) {
        policy_window_t w;
        if (policy_window_parse(good[i].in, &w, errbuf, sizeof errbuf) != 0)
            fail_msg("'%s': %s", good[i].in, errbuf);
        assert_int_equal(w.unit, good[i].unit);
        assert_int_equal(w.n, good[i].n);
        assert_int_equal(w.else_unit, good[i].else_unit);
        assert_int_equal(w.else_n, good[i].else_n);
        char back[64];
        policy_window_format(&w, back, sizeof back);
        assert_string_equal(back, good[i].in);
    }
    static const char *const bad[] = {"5 wd", "5WD", "0wd", "1001wd", "-1wd", "wd", "5w", "5",
                                      "", "immediate,else 24h", "immediate, else agreed",
                                      "immediate, else 0h", "Agreed", "5wd ", "${n}wd"};
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        policy_window_t w = {POLICY_UNIT_HOURS, 7, 0, 0};
        errbuf[0] = '\0';
        if (policy_window_parse(bad[i], &w, errbuf, sizeof errbuf) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(errbuf, bad[i]));
        assert_int_equal(w.unit, POLICY_UNIT_HOURS); /* untouched */
        assert_int_equal(w.n, 7);
    }
    policy_window_t w;
    assert_int_equal(policy_window_parse(NULL, &w, NULL, 0), -1);
    policy_window_t none = {0, 0, 0, 0};
    char s[16];
    policy_window_format(&none, s, sizeof s);
    assert_string_equal(s, "null");
}

/* --- validation -------------------------------------------------------------------- */

/* Sets (or with value NULL deletes) the '/'-separated path in the base profile; returns the
 * new text, to free. */
static char *mutate(const char *path, const char *value)
{
    json_t *rootj = json_loads(base_profile, 0, NULL);
    assert_non_null(rootj);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *obj = rootj;
    char *save = NULL, *part = strtok_r(buf, "/", &save), *next;
    while ((next = strtok_r(NULL, "/", &save)) != NULL) {
        json_t *child = json_object_get(obj, part);
        if (child == NULL) {
            child = json_object();
            json_object_set_new(obj, part, child);
        }
        obj = child;
        part = next;
    }
    if (value == NULL) {
        assert_int_equal(json_object_del(obj, part), 0);
    } else {
        json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_object_set_new(obj, part, v);
    }
    char *out = json_dumps(rootj, 0);
    json_decref(rootj);
    return out;
}

static void test_base_profile_is_valid(void **state)
{
    (void)state;
    policy_set_t *ps = policy_set_new();
    if (policy_set_load_string(ps, "base", base_profile, errbuf, sizeof errbuf) != 0)
        fail_msg("%s", errbuf);
    const policy_t *p = policy_set_find(ps, "testprof");
    assert_non_null(p);
    assert_int_equal(p->office_close_s, 17 * 3600 + 30 * 60);
    fmt_eq(&p->windows[POLICY_KIND_HELP][POLICY_COMPLEXITY_GENERAL], "4wd"); /* ${n} */
    assert_true(policy_pause_allowed(p, POLICY_PAUSE_AWAITING_MATERIALS));
    assert_false(policy_pause_allowed(p, POLICY_PAUSE_FORCE_MAJEURE));
    assert_false(policy_pause_allowed(p, POLICY_PAUSE_COUNT));
    assert_string_equal(p->file, "base");
    /* office_close may be left out: 23:59:59. */
    char *text = mutate("office_close", NULL);
    policy_set_t *ps2 = policy_set_new();
    assert_int_equal(policy_set_load_string(ps2, "x", text, errbuf, sizeof errbuf), 0);
    assert_int_equal(policy_set_find(ps2, "testprof")->office_close_s, 86399);
    free(text);
    /* The same name twice in one set is refused. */
    assert_int_equal(policy_set_load_string(ps2, "again", base_profile, errbuf, sizeof errbuf),
                     -1);
    assert_non_null(strstr(errbuf, "again: profile 'testprof' is already loaded from x"));
    policy_set_free(ps2);
    policy_set_free(ps);
    policy_set_free(NULL);
}

static void test_bad_profiles_name_the_key(void **state)
{
    (void)state;
    static const struct {
        const char *path, *value; /* value NULL: delete the key */
        const char *key;          /* the key the message must name */
        const char *problem;      /* and a piece of the problem */
    } cases[] = {
        {"windows/help/general", NULL, "windows.help.general", "missing"},
        {"windows/help/general", "\"5 wd\"", "windows.help.general", "is not a window"},
        {"windows/help/general", "\"original\"", "windows.help.general", "not allowed here"},
        {"windows/help/general", "null", "windows.help.general", "may not be null"},
        {"windows/help/general", "5", "windows.help.general", "must be a string"},
        {"windows/help/urgent", "\"1wd\"", "windows.help.urgent", "unknown key"},
        {"windows/chat", "{}", "windows.chat", "unknown key"},
        {"windows/help", "\"5wd\"", "windows.help", "must be an object"},
        {"windows/help/general", "\"${nosuch}wd\"", "windows.help.general",
         "'${nosuch}' is not a setting"},
        {"windows/help/general", "\"${n\"", "windows.help.general", "unterminated"},
        {"colour", "\"red\"", "colour", "unknown key"},
        {"format", "\"jiesu-policy/2\"", "format", "must be \"jiesu-policy/1\""},
        {"format", NULL, "format", "missing"},
        {"name", "\"Bad Name\"", "name", "must match"},
        {"title", "\"  \"", "title", "non-blank"},
        {"source", NULL, "source", "missing"},
        {"region", "\"4405\"", "region", "region code"},
        {"office_close", "\"24:00:00\"", "office_close", "HH:MM:SS"},
        {"office_close", "\"17:30\"", "office_close", "HH:MM:SS"},
        {"intake/review", "\"agreed\"", "intake.review", "not allowed here"},
        {"result_to_enterprise", "\"original\"", "result_to_enterprise", "not allowed here"},
        {"supervision/notice_reply", "\"immediate\"", "supervision.notice_reply",
         "not allowed here"},
        {"sign_for/lower_tier_extra_wd", "31", "sign_for.lower_tier_extra_wd", "out of range"},
        {"sign_for/lower_tier_extra_wd", "\"${x}\"", "sign_for.lower_tier_extra_wd",
         "\"${setting}\""},
        {"sign_for/lower_tier_extra_wd", "1.5", "sign_for.lower_tier_extra_wd", "integer"},
        {"monthly/review_day", "31", "monthly.review_day", "31 is out of range (1 to 28)"},
        {"monthly/seriously_late_wd", "5", "monthly.seriously_late_wd", "no monthly.review_day"},
        {"progress/weekday", "\"thursday\"", "progress.weekday", "progress.weekly is false"},
        {"progress/weekday", "\"donnerstag\"", "progress.weekday", "must be one of monday"},
        {"progress/weekly", "\"yes\"", "progress.weekly", "true or false"},
        {"pause/reasons", "[]", "pause.reasons", "no reason is listed"},
        {"pause/reasons", "[\"coffee\"]", "pause.reasons", "[0] must be one of"},
        {"pause/reasons", "[\"force_majeure\", \"force_majeure\"]", "pause.reasons",
         "listed twice"},
        {"pause/allowed", "false", "pause.reasons", "pause.allowed is false"},
        {"cards/enabled", "true", "cards.enabled", "must be set"},
        {"cards/red_after_yellows", "2", "cards.enabled", "must be null"},
        {"extension/allowed", "false", "extension.allowed", "must be null"},
        {"extension/approver", "null", "extension.approver", "someone must approve"},
        {"extension/approver", "\"mayor\"", "extension.approver", "centre, leader"},
        {"extension/max_factor", "0", "extension.max_factor", "above 0"},
        {"extension/max_count", "0", "extension.max_count", "out of range"},
        {"warning/days_before", "-1", "warning.days_before", "out of range"},
        {"warning/hours_before", NULL, "warning.hours_before", "missing"},
        {"redo/after_second_unsatisfied", "\"shrug\"", "redo.after_second_unsatisfied",
         "escalate, discipline_referral, review_form, meeting"},
        {"redo/after_second_unsatisfied", "null", "redo.after_second_unsatisfied",
         "may not be null"},
        {"supervision/reminder/overdue", NULL, "supervision.reminder.overdue", "missing"},
        {"supervision/reminder/unsigned_times", "0", "supervision.reminder.unsigned_times",
         "out of range"},
        {"supervision/rectification/typo", "1", "supervision.rectification.typo",
         "unknown key"},
        {"satisfaction/scale", "[\"好\"]", "satisfaction.scale", "2 to 7 labels"},
        {"satisfaction/scale", "[\"好\", \"好\"]", "satisfaction.scale", "listed twice"},
        {"satisfaction/satisfied_levels", "5", "satisfaction.satisfied_levels",
         "no unsatisfied level"},
        {"satisfaction/target_percent", "101", "satisfaction.target_percent", "out of range"},
        {"settings/unused", "{\"value\": 3, \"seed_text\": \"*\", \"why\": \"x\"}",
         "settings.unused", "never used"},
        {"settings/n", "{\"value\": 3, \"seed_text\": \"*\"}", "settings.n", "why"},
        {"settings/n", "{\"value\": -3, \"seed_text\": \"*\", \"why\": \"x\"}", "settings.n",
         "value must be an integer"},
        {"settings/n", "{\"value\": 3, \"seed_text\": \"*\", \"why\": \"x\", \"when\": 1}",
         "settings.n", "unknown key 'when'"},
        {"settings/Bad", "{\"value\": 3, \"seed_text\": \"*\", \"why\": \"x\"}", "settings.Bad",
         "lower-case"},
        {"settings", "[]", "settings", "must be an object"},
        {"notes/windows.help.urgnet", "\"x\"", "notes.windows.help.urgnet",
         "not a rule of a profile"},
        {"notes/windows", "\"\"", "notes.windows", "non-blank"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        char *text = mutate(cases[i].path, cases[i].value);
        policy_set_t *ps = policy_set_new();
        errbuf[0] = '\0';
        int rc = policy_set_load_string(ps, "t.json", text, errbuf, sizeof errbuf);
        char want_key[160];
        snprintf(want_key, sizeof want_key, "key '%s'", cases[i].key);
        const char *who = strcmp(cases[i].path, "name") == 0 ? "t.json: profile 'Bad Name': "
                                                             : "t.json: profile 'testprof': ";
        if (rc != -1 || strstr(errbuf, who) == NULL ||
            strstr(errbuf, want_key) == NULL || strstr(errbuf, cases[i].problem) == NULL)
            fail_msg("case %zu (%s): rc=%d, error '%s' should name %s and say '%s'", i,
                     cases[i].path, rc, errbuf, want_key, cases[i].problem);
        assert_int_equal(policy_set_count(ps), 0); /* nothing half-loaded */
        policy_set_free(ps);
        free(text);
    }
}

static void test_bad_documents(void **state)
{
    (void)state;
    policy_set_t *ps = policy_set_new();
    assert_int_equal(policy_set_load_string(ps, "x", "{", errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "x:1:"));
    assert_int_equal(policy_set_load_string(ps, "x", "[]", errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "must be one JSON object"));
    assert_int_equal(policy_set_load_string(ps, "x", "{\"name\":\"a\",\"name\":\"b\"}", errbuf,
                                            sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "duplicate object key"));

    /* From a file the name must be the file's name, and the file must be NAME.json. */
    char dir[] = "/tmp/jiesu-pol-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/other.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(base_profile, f);
    fclose(f);
    assert_int_equal(policy_set_load_file(ps, path, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "other.json: profile 'testprof': key 'name': must be "
                                   "\"other\""));
    assert_int_equal(policy_set_load_dir(ps, dir, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "key 'name'"));
    unlink(path);
    assert_int_equal(policy_set_load_dir(ps, dir, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "no policy profiles"));
    rmdir(dir);
    assert_int_equal(policy_set_load_file(ps, "/nonexistent/p.json", errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "/nonexistent/p.json"));
    assert_int_equal(policy_set_load_file(ps, "/tmp/p.yaml", errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "NAME.json"));
    assert_int_equal(policy_set_load_dir(ps, "/nonexistent", errbuf, sizeof errbuf), -1);
    assert_int_equal(policy_set_count(ps), 0);
    policy_set_free(ps);
}

/* --- helpers around a profile ------------------------------------------------------ */

static void test_extension_check(void **state)
{
    (void)state;
    policy_set_t *ps = shipped();
    const policy_t *z = policy_set_find(ps, "zaoyang");
    const policy_t *t = policy_set_find(ps, "tengzhou");
    const policy_t *k = policy_set_find(ps, "keyouqianqi");
    policy_window_t w5, w24, agreed, ten;
    assert_int_equal(policy_window_parse("5wd", &w5, NULL, 0), 0);
    assert_int_equal(policy_window_parse("immediate, else 24h", &w24, NULL, 0), 0);
    assert_int_equal(policy_window_parse("agreed", &agreed, NULL, 0), 0);
    assert_int_equal(policy_window_parse("10wd", &ten, NULL, 0), 0);

    /* 枣阳: at most once the original — 5 more on 5, 24 h more on 24 h, nothing beyond. */
    assert_int_equal(policy_extension_check(z, &w5, 0, 0, 5, errbuf, sizeof errbuf), 0);
    assert_int_equal(policy_extension_check(z, &w5, 0, 0, 6, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "caps extensions at 1 × the original 5wd"));
    assert_int_equal(policy_extension_check(z, &w5, 3, 1, 2, errbuf, sizeof errbuf), 0);
    assert_int_equal(policy_extension_check(z, &w5, 3, 1, 3, errbuf, sizeof errbuf), -1);
    assert_int_equal(policy_extension_check(z, &w24, 0, 0, 24, errbuf, sizeof errbuf), 0);
    assert_int_equal(policy_extension_check(z, &w24, 0, 0, 25, errbuf, sizeof errbuf), -1);
    assert_int_equal(policy_extension_check(z, &w5, 0, 0, 0, errbuf, sizeof errbuf), -1);
    assert_int_equal(policy_extension_check(z, &agreed, 0, 0, 1, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "cannot be extended"));
    /* 滕州: 原则上不得延期. */
    assert_int_equal(policy_extension_check(t, &w5, 0, 0, 1, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "'tengzhou' allows no extension"));
    /* 科右前旗: no cap on an agreed 10-day deadline. */
    assert_int_equal(policy_extension_check(k, &ten, 0, 0, 30, errbuf, sizeof errbuf), 0);

    /* The test profile allows two extensions at most. */
    policy_set_t *tp = policy_set_new();
    assert_int_equal(policy_set_load_string(tp, "b", base_profile, NULL, 0), 0);
    const policy_t *p = policy_set_find(tp, "testprof");
    assert_int_equal(policy_extension_check(p, &w5, 2, 1, 1, errbuf, sizeof errbuf), 0);
    assert_int_equal(policy_extension_check(p, &w5, 2, 2, 1, errbuf, sizeof errbuf), -1);
    assert_non_null(strstr(errbuf, "at most 2 extension(s)"));
    policy_set_free(tp);
    policy_set_free(ps);
}

static void test_satisfaction(void **state)
{
    (void)state;
    policy_set_t *ps = shipped();
    const policy_t *t = policy_set_find(ps, "tengzhou");
    const policy_t *z = policy_set_find(ps, "zaoyang");
    assert_int_equal(policy_satisfaction_level(t, "比较满意"), 1);
    assert_true(policy_level_satisfies(t, 1));
    assert_int_equal(policy_satisfaction_level(t, "基本满意"), 2);
    assert_true(policy_level_satisfies(t, 2));
    assert_int_equal(policy_satisfaction_level(t, "不满意"), 3);
    assert_false(policy_level_satisfies(t, 3));
    assert_int_equal(policy_satisfaction_level(t, "满意"), -1); /* not on 滕州's scale */
    assert_false(policy_level_satisfies(t, -1));
    assert_int_equal(policy_satisfaction_level(z, "满意"), 1);
    assert_int_equal(policy_satisfaction_level(z, "非常不满意"), 4);
    assert_false(policy_level_satisfies(z, 4));
    assert_int_equal(policy_satisfaction_level(z, NULL), -1);
    policy_set_free(ps);
}

/* A tiny regions table for the inheritance test. */
static const struct {
    const char *code, *profile, *parent;
} regions[] = {
    {"450000", "guangxi", NULL},
    {"450100", NULL, "450000"},
    {"450102", NULL, "450100"},
    {"450102001", NULL, "450102"},
    {"450200", "nosuch", "450000"},
    {"440000", NULL, NULL},
    {"440500", "shantou", "440000"},
    {"440507", NULL, "440500"},
    {"440300", NULL, "440000"},
    {"420600", NULL, "420000"}, /* parent missing from the table */
    {"370481", "tengzhou", "370400"},
    {"370400", NULL, NULL},
};

static int lookup(void *ud, const char *code, const char **profile, const char **parent)
{
    int *calls = ud;
    (*calls)++;
    for (size_t i = 0; i < JS_ARRAY_LEN(regions); i++) {
        if (strcmp(regions[i].code, code) == 0) {
            *profile = regions[i].profile;
            *parent = regions[i].parent;
            return 0;
        }
    }
    return -1;
}

static void test_region_binding(void **state)
{
    (void)state;
    policy_set_t *ps = shipped();
    static const struct {
        const char *region, *want, *error;
        int calls;
    } cases[] = {
        {"450000", "guangxi", NULL, 1},
        {"450102001", "guangxi", NULL, 4}, /* township → county → city → province */
        {"440507", "shantou", NULL, 2},
        {"370481", "tengzhou", NULL, 1},
        {"440300", NULL, "neither region 440300 nor any region above it names a policy", 2},
        {"450200", NULL, "region 450200 names policy profile 'nosuch', which is not loaded", 1},
        {"420600", NULL, "region 420000 is unknown", 2},
        {"999999", NULL, "region 999999 is unknown", 1},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        const policy_t *p = NULL;
        int calls = 0;
        errbuf[0] = '\0';
        int rc = policy_set_resolve_region(ps, cases[i].region, lookup, &calls, &p, errbuf,
                                           sizeof errbuf);
        if (cases[i].want != NULL) {
            if (rc != 0)
                fail_msg("%s: %s", cases[i].region, errbuf);
            assert_string_equal(p->name, cases[i].want);
        } else {
            assert_int_equal(rc, -1);
            if (strstr(errbuf, cases[i].error) == NULL)
                fail_msg("%s: '%s' lacks '%s'", cases[i].region, errbuf, cases[i].error);
        }
        assert_int_equal(calls, cases[i].calls);
    }
    /* Without a database: by the profiles' own regions and the code's prefixes. */
    static const struct {
        const char *region, *want;
    } by_code[] = {
        {"450102", "guangxi"}, {"450000", "guangxi"},      {"440507", "shantou"},
        {"440507001000", "shantou"}, {"420683", "zaoyang"}, {"420683101", "zaoyang"},
        {"152221", "keyouqianqi"}, {"370481", "tengzhou"},  {"420600", NULL},
        {"440300", NULL},      {"4405", NULL},              {"", NULL},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(by_code); i++) {
        const policy_t *p = policy_set_find_for_region(ps, by_code[i].region);
        if (by_code[i].want == NULL)
            assert_null(p);
        else if (p == NULL || strcmp(p->name, by_code[i].want) != 0)
            fail_msg("%s: got %s, expected %s", by_code[i].region, p ? p->name : "none",
                     by_code[i].want);
    }
    policy_set_free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_windows),
        cmocka_unit_test(test_shipped_rules),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_window_syntax),
        cmocka_unit_test(test_base_profile_is_valid),
        cmocka_unit_test(test_bad_profiles_name_the_key),
        cmocka_unit_test(test_bad_documents),
        cmocka_unit_test(test_extension_check),
        cmocka_unit_test(test_satisfaction),
        cmocka_unit_test(test_region_binding),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
