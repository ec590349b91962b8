/*
 * test_revisit_rules.c — the revisit's decisions (services/revisit/rules.c) held to the seeds:
 * the two satisfaction scales and how their labels map to the contract's five codes, the check
 * of claimed contacts (seed 004: a claimed contact that did not happen is fraud), what a call
 * leads to in every combination (close, redo, escalate, retry, unreachable, look-back, a
 * self-rating that denies contact), who is referred to discipline inspection, seed 002's
 * meeting criteria and exclusions, the reproducible look-back draw, the profile keys the
 * revisit added to common/policy.c, and HTML escaping of printed forms.
 *
 * rules.c has no I/O and no dependency outside libcommon, so the test compiles it in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/revisit/rules.c"

static policy_set_t *set;

static int setup(void **state)
{
    (void)state;
    char err[512];
    set = policy_set_new();
    assert_non_null(set);
    const char *dir = getenv("JIESU_POLICY_DIR");
    if (policy_set_load_dir(set, dir ? dir : "deploy/policies", err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    policy_set_free(set);
    return 0;
}

static const policy_t *prof(const char *name)
{
    const policy_t *p = policy_set_find(set, name);
    assert_non_null(p);
    return p;
}

/* ---- scales ------------------------------------------------------------------------------ */

static void test_five_level_scale_maps_one_to_one(void **state)
{
    (void)state;
    const policy_t *p = prof("zaoyang");
    static const event_satisfaction_t want[] = {
        EVENT_SATISFACTION_VERY_SATISFIED, EVENT_SATISFACTION_SATISFIED, EVENT_SATISFACTION_BASICALLY_SATISFIED,
        EVENT_SATISFACTION_UNSATISFIED, EVENT_SATISFACTION_VERY_UNSATISFIED};
    assert_int_equal(p->scale_len, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(rvs_level_code(p, i), want[i]);
    assert_int_equal(rvs_level_code(p, 5), EVENT_SATISFACTION_UNSET);
    assert_int_equal(rvs_level_code(p, -1), EVENT_SATISFACTION_UNSET);
}

static void test_tengzhou_four_levels(void **state)
{
    (void)state;
    const policy_t *p = prof("tengzhou");
    rvs_rating_t r;
    /* 非常满意 / 比较满意 / 基本满意 / 不满意 */
    assert_int_equal(rvs_rating_parse(p, "比较满意", &r), 0);
    assert_int_equal(r.level, 1);
    assert_int_equal(r.code, EVENT_SATISFACTION_SATISFIED);
    assert_true(r.satisfies);
    assert_string_equal(r.label, "比较满意");
    assert_int_equal(rvs_rating_parse(p, "不满意", &r), 0);
    assert_int_equal(r.code, EVENT_SATISFACTION_UNSATISFIED);
    assert_false(r.satisfies);
    /* the contract's codes work where the scale has the level … */
    assert_int_equal(rvs_rating_parse(p, "basically_satisfied", &r), 0);
    assert_string_equal(r.label, "基本满意");
    assert_int_equal(rvs_rating_parse(p, "unsatisfied", &r), 0);
    assert_int_equal(r.level, 3);
    /* … and not where it has none: 滕州 has no 非常不满意 */
    assert_int_equal(rvs_rating_parse(p, "very_unsatisfied", &r), -1);
    assert_int_equal(rvs_rating_parse(p, "非常不满意", &r), -1);
    assert_int_equal(rvs_rating_parse(p, "满意", &r), -1); /* the five-level word, not 滕州's */
}

static void test_declined_and_garbage(void **state)
{
    (void)state;
    const policy_t *p = prof("guangxi");
    rvs_rating_t r;
    assert_int_equal(rvs_rating_parse(p, "declined", &r), 0);
    assert_true(r.declined);
    assert_int_equal(r.level, -1);
    assert_int_equal(r.code, EVENT_SATISFACTION_DECLINED);
    assert_false(r.satisfies);
    const char *bad[] = {"", "Declined", "比较满意", "satisfied ", "5", NULL};
    for (int i = 0; bad[i]; i++) assert_int_equal(rvs_rating_parse(p, bad[i], &r), -1);
    assert_int_equal(rvs_rating_parse(p, NULL, &r), -1);
    assert_int_equal(rvs_rating_parse(NULL, "满意", &r), -1);
    char buf[400];
    rvs_scale_describe(p, buf, sizeof buf);
    assert_non_null(strstr(buf, "非常满意 (very_satisfied)"));
    assert_non_null(strstr(buf, "or declined"));
    char tiny[8];
    rvs_scale_describe(p, tiny, sizeof tiny); /* truncates, never overflows */
    assert_true(strlen(tiny) < sizeof tiny);
}

/* ---- contacts ---------------------------------------------------------------------------- */

static void test_contact_check(void **state)
{
    (void)state;
    struct {
        size_t claimed;
        bool confirmed;
        size_t disputed;
        bool verified, fraud;
    } cases[] = {
        {2, true, 0, true, false},  /* claims confirmed */
        {2, true, 1, false, true},  /* one claimed visit never happened */
        {2, false, 0, false, true}, /* "nobody ever contacted us" */
        {0, false, 0, false, false},/* nothing claimed, nothing happened: a failure, not fraud */
        {0, true, 0, false, false}, /* contacted but never recorded: nothing to verify */
        {1, false, 1, false, true},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        rvs_contact_facts_t f = {cases[i].claimed, cases[i].confirmed, cases[i].disputed};
        rvs_contact_check_t c = rvs_contact_check(&f);
        assert_int_equal(c.verified, cases[i].verified);
        assert_int_equal(c.fraud, cases[i].fraud);
    }
}

/* ---- decisions --------------------------------------------------------------------------- */

static rvs_call_facts_t reached(const policy_t *p, const char *sat, bool result_true, int round)
{
    rvs_call_facts_t f = {.kind = RVS_TASK_ROUTINE, .handling_round = round, .unreachable_after = 3,
                          .reached = true, .result_true = result_true};
    assert_int_equal(rvs_rating_parse(p, sat, &f.rating), 0);
    f.contact.verified = true;
    return f;
}

static void test_decide_satisfied_and_declined_close(void **state)
{
    (void)state;
    const policy_t *p = prof("guangxi");
    rvs_call_facts_t f = reached(p, "基本满意", true, 1);
    rvs_decision_t d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_CLOSE);
    assert_int_equal(d.close_basis, EVENT_CLOSE_REVISIT_SATISFIED);
    assert_true(d.resolved);
    assert_false(d.bulletin);
    f = reached(p, "declined", true, 2);
    d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_CLOSE);
    assert_int_equal(d.close_basis, EVENT_CLOSE_RATING_DECLINED);
    /* declined but the result untrue: the rating is voluntary, the truth is not */
    f = reached(p, "declined", false, 1);
    d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_REDO);
    assert_int_equal(d.redo_reason, EVENT_REDO_RESULT_UNTRUE);
    assert_string_equal(d.bulletin_reason, "result_untrue");
}

static void test_decide_two_rounds_to_escalation(void **state)
{
    (void)state;
    const policy_t *p = prof("zaoyang");
    rvs_call_facts_t f = reached(p, "不满意", true, 1);
    rvs_decision_t d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_REDO);
    assert_int_equal(d.redo_reason, EVENT_REDO_UNSATISFIED);
    assert_true(d.bulletin);
    assert_string_equal(d.bulletin_reason, "unsatisfied");
    f = reached(p, "非常不满意", true, 2);
    d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_ESCALATE);
    assert_string_equal(d.bulletin_reason, "unsatisfied_again");
    /* satisfied in the second round closes */
    f = reached(p, "满意", true, 2);
    assert_int_equal(rvs_decide(&f).outcome, RVS_OUT_CLOSE);
    /* untrue in the second round escalates too */
    f = reached(p, "满意", false, 2);
    d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_ESCALATE);
    assert_int_equal(d.redo_reason, EVENT_REDO_RESULT_UNTRUE);
    /* the contract's rounds end at 10: recorded, the centre decides */
    f = reached(p, "不满意", true, 10);
    assert_int_equal(rvs_decide(&f).outcome, RVS_OUT_RECORDED);
}

static void test_decide_unreachable(void **state)
{
    (void)state;
    rvs_call_facts_t f = {.kind = RVS_TASK_ROUTINE, .handling_round = 1, .unreachable_after = 3, .reached = false};
    for (int prior = 0; prior < 2; prior++) {
        f.prior_attempts = prior;
        assert_int_equal(rvs_decide(&f).outcome, RVS_OUT_RETRY);
    }
    f.prior_attempts = 2;
    rvs_decision_t d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_CLOSE);
    assert_int_equal(d.close_basis, EVENT_CLOSE_REVISIT_UNREACHABLE);
    assert_false(d.resolved);
    f.unreachable_after = 1;
    f.prior_attempts = 0;
    assert_int_equal(rvs_decide(&f).outcome, RVS_OUT_CLOSE);
    f.kind = RVS_TASK_LOOKBACK; /* a closed case stays closed */
    assert_int_equal(rvs_decide(&f).outcome, RVS_OUT_RECORDED);
}

static void test_decide_fraud_and_self_rating(void **state)
{
    (void)state;
    const policy_t *p = prof("guangxi");
    rvs_call_facts_t f = reached(p, "满意", true, 1);
    f.contact = (rvs_contact_check_t){false, true};
    rvs_decision_t d = rvs_decide(&f);
    assert_true(d.fraud_notice);
    assert_int_equal(d.outcome, RVS_OUT_CLOSE); /* satisfied all the same; the notice follows */
    f.self_rating = true;
    d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_VERIFY);
    assert_false(d.fraud_notice); /* never a level-3 notice on an online form alone */
    f.contact = (rvs_contact_check_t){true, false};
    assert_int_equal(rvs_decide(&f).outcome, RVS_OUT_CLOSE);
    assert_int_equal(rvs_fraud_notice_level(prof("guangxi")), 3); /* interviews exist */
    assert_int_equal(rvs_fraud_notice_level(prof("zaoyang")), 2);
    /* the watcher decides by the same shared rule; 滕州 has interviews (its cards'), no profile → 2 */
    assert_int_equal(supnotice_fraud_level(prof("tengzhou")), 3);
    assert_int_equal(supnotice_fraud_level(prof("keyouqianqi")), 2);
    assert_int_equal(supnotice_fraud_level(NULL), 2);
}

/* The fraud notice's id, derived from the revisit call's id by both daemons: the revisit names
 * it to its caller, the watcher inserts it (a second delivery conflicts). The vector was computed
 * independently (Python: sha256, version 8, RFC variant; tests/e2e/watcher_api.py does the same). */
static void test_fraud_notice_id(void **state)
{
    (void)state;
    char a[EVENT_UUID_SIZE], b[EVENT_UUID_SIZE];
    assert_int_equal(supnotice_fraud_id("1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6", a), 0);
    assert_string_equal(a, "057306e3-7fe5-8850-9b66-7b12e00c5cae");
    assert_int_equal(supnotice_fraud_id("1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6", b), 0);
    assert_string_equal(a, b); /* the same call always names the same notice */
    assert_int_equal(supnotice_fraud_id("1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f7", b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '8');                      /* version 8 */
    assert_non_null(strchr("89ab", a[19]));            /* RFC variant */
    assert_string_not_equal(a, "1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6"); /* not the call's own id */
    static const char *const bad[] = {NULL, "", "1D2E3F4A-5B6C-4D7E-8F90-A1B2C3D4E5F6",
                                      "1d2e3f4a5b6c4d7e8f90a1b2c3d4e5f6", "1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f",
                                      "1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6x", "1d2e3f4a-5b6c-4d7e-8f90_a1b2c3d4e5f6"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(supnotice_fraud_id(bad[i], b), -1);
        assert_string_equal(b, "");
    }
}

static void test_decide_lookback(void **state)
{
    (void)state;
    const policy_t *p = prof("zaoyang");
    rvs_call_facts_t f = reached(p, "不满意", true, 1);
    f.kind = RVS_TASK_LOOKBACK;
    rvs_decision_t d = rvs_decide(&f);
    assert_int_equal(d.outcome, RVS_OUT_RECORDED);
    assert_string_equal(d.bulletin_reason, "lookback_unsatisfied");
    f = reached(p, "满意", false, 2);
    f.kind = RVS_TASK_LOOKBACK;
    assert_string_equal(rvs_decide(&f).bulletin_reason, "lookback_untrue");
    f = reached(p, "非常满意", true, 2);
    f.kind = RVS_TASK_LOOKBACK;
    d = rvs_decide(&f);
    assert_false(d.bulletin);
    assert_null(d.bulletin_reason);
    assert_string_equal(rvs_outcome_str(d.outcome), "recorded");
    assert_string_equal(rvs_outcome_str((rvs_outcome_t)99), "unknown");
}

static void test_referrals(void **state)
{
    (void)state;
    const char *basis;
    rvs_decision_t again = {.outcome = RVS_OUT_ESCALATE, .bulletin = true, .bulletin_reason = "unsatisfied_again"};
    rvs_decision_t first = {.outcome = RVS_OUT_REDO, .bulletin = true, .bulletin_reason = "unsatisfied"};
    /* 枣阳 refers leads (四(六)); 广西 and 滕州 do not */
    assert_true(rvs_referral_due(prof("zaoyang"), &again, false, RVS_FAULT_PERFUNCTORY, &basis));
    assert_string_equal(basis, "perfunctory");
    assert_false(rvs_referral_due(prof("zaoyang"), &again, false, RVS_FAULT_NONE, &basis));
    assert_null(basis);
    assert_false(rvs_referral_due(prof("zaoyang"), &first, false, RVS_FAULT_DELAY, &basis)); /* first round */
    assert_true(rvs_referral_due(prof("zaoyang"), &first, true, RVS_FAULT_NONE, &basis));
    assert_string_equal(basis, "contact_fraud");
    assert_true(rvs_referral_due(prof("keyouqianqi"), &again, false, RVS_FAULT_BUCK_PASSING, &basis));
    assert_false(rvs_referral_due(prof("guangxi"), &again, true, RVS_FAULT_DELAY, &basis));
    assert_false(rvs_referral_due(prof("tengzhou"), &again, true, RVS_FAULT_DELAY, &basis));
    rvs_fault_t ft;
    assert_int_equal(rvs_fault_from_str("delay", &ft), 0);
    assert_int_equal(ft, RVS_FAULT_DELAY);
    assert_int_equal(rvs_fault_from_str("lazy", &ft), -1);
    assert_int_equal(rvs_fault_from_str(NULL, &ft), -1);
    assert_null(rvs_fault_str(RVS_FAULT_NONE));
    assert_string_equal(rvs_fault_str(RVS_FAULT_BUCK_PASSING), "buck_passing");
}

static void test_escalation_tiers(void **state)
{
    (void)state;
    assert_int_equal(rvs_escalation_tier(4), 3);
    assert_int_equal(rvs_escalation_tier(3), 2);
    assert_int_equal(rvs_escalation_tier(2), 1);
    assert_int_equal(rvs_escalation_tier(1), 1); /* the province stays the province */
    assert_string_equal(rvs_tier_str(2), "city");
    assert_null(rvs_tier_str(0));
    assert_null(rvs_tier_str(5));
}

/* ---- meetings ------------------------------------------------------------------------------ */

static void test_meeting_criteria(void **state)
{
    (void)state;
    rvs_meeting_facts_t f = {.open = true, .unsatisfied = true, .redo_count = 1};
    rvs_meeting_t m = rvs_meeting_decide(&f);
    assert_int_equal(m.criteria, RVS_MEET_UNSOLVED);
    assert_int_equal(m.exclusion, RVS_EXCL_NONE);

    f = (rvs_meeting_facts_t){.open = true, .active_units = 3, .overdue = true};
    m = rvs_meeting_decide(&f);
    assert_int_equal(m.criteria, RVS_MEET_MULTI_UNIT);
    assert_int_equal(m.exclusion, RVS_EXCL_NONE);

    /* several units, on time, never sent back: progressing normally is no criterion */
    f = (rvs_meeting_facts_t){.open = true, .active_units = 3};
    assert_int_equal(rvs_meeting_decide(&f).exclusion, RVS_EXCL_NO_CRITERION);

    /* the enterprise asked not to go: off the list whatever else holds */
    f = (rvs_meeting_facts_t){.open = false, .escalated_unsatisfied = true, .enterprise_declined = true};
    assert_int_equal(rvs_meeting_decide(&f).exclusion, RVS_EXCL_ENTERPRISE_DECLINED);

    /* a suggestion nominated as typical goes, even in hand; an ordinary one does not */
    f = (rvs_meeting_facts_t){.suggestion = true, .open = true, .nominated_typical = true};
    m = rvs_meeting_decide(&f);
    assert_int_equal(m.criteria, RVS_MEET_TYPICAL);
    assert_int_equal(m.exclusion, RVS_EXCL_NONE);
    f = (rvs_meeting_facts_t){.suggestion = true, .open = false, .unsatisfied = true};
    assert_int_equal(rvs_meeting_decide(&f).exclusion, RVS_EXCL_GENERAL_SUGGESTION);
    /* typical is for suggestions only */
    f = (rvs_meeting_facts_t){.open = true, .nominated_typical = true};
    assert_int_equal(rvs_meeting_decide(&f).exclusion, RVS_EXCL_NO_CRITERION);

    /* a leader's instruction goes */
    f = (rvs_meeting_facts_t){.open = false, .closed_satisfied = true, .nominated_leader = true};
    m = rvs_meeting_decide(&f);
    assert_int_equal(m.criteria, RVS_MEET_LEADER);
    assert_int_equal(m.exclusion, RVS_EXCL_NONE);

    /* closed satisfied after a multi-unit overdue spell: excluded */
    f = (rvs_meeting_facts_t){.open = false, .closed_satisfied = true, .active_units = 2, .overdue = false,
                              .redo_count = 1};
    assert_int_equal(rvs_meeting_decide(&f).exclusion, RVS_EXCL_NO_CRITERION);

    assert_string_equal(rvs_meeting_criterion_str(RVS_MEET_LEADER), "leader_instruction");
    assert_null(rvs_meeting_criterion_str(RVS_MEET_LEADER | RVS_MEET_TYPICAL));
    assert_string_equal(rvs_meeting_exclusion_str(RVS_EXCL_PROGRESSING), "progressing_normally");
    assert_null(rvs_meeting_exclusion_str(RVS_EXCL_NONE));
}

/* ---- sampling ---------------------------------------------------------------------------- */

static void test_sample_size(void **state)
{
    (void)state;
    assert_int_equal(rvs_sample_size(0, 10), 0);
    assert_int_equal(rvs_sample_size(1, 10), 1);
    assert_int_equal(rvs_sample_size(10, 10), 1);
    assert_int_equal(rvs_sample_size(11, 10), 2);
    assert_int_equal(rvs_sample_size(100, 10), 10);
    assert_int_equal(rvs_sample_size(7, 100), 7);
    assert_int_equal(rvs_sample_size(7, 0), 0);
}

static void test_sample_is_reproducible(void **state)
{
    (void)state;
    /* sha256("00112233445566778899aabbccddeeff:" + id), computed independently (python3 hashlib) */
    char key[65];
    rvs_sample_key("00112233445566778899aabbccddeeff", "3f0c2a9e-7b41-4d8e-9a6f-1c2d3e4f5a6b", key);
    assert_string_equal(key, "420278f68f56b45bdf800a4cfece7d401cb0a429760ae3c4d93b193ee12eb18f");

    const char *ids[40];
    char buf[40][37];
    for (int i = 0; i < 40; i++) {
        snprintf(buf[i], sizeof buf[i], "00000000-0000-4000-8000-%012d", i);
        ids[i] = buf[i];
    }
    bool a[40], b[40];
    assert_int_equal(rvs_sample_choose("aaaaaaaaaaaaaaaa", ids, 40, 10, a), 4);
    assert_int_equal(rvs_sample_choose("aaaaaaaaaaaaaaaa", ids, 40, 10, b), 4);
    assert_memory_equal(a, b, sizeof a); /* same seed, same draw */
    /* the chosen are exactly the four smallest keys */
    char keys[40][65];
    for (int i = 0; i < 40; i++) rvs_sample_key("aaaaaaaaaaaaaaaa", ids[i], keys[i]);
    for (int i = 0; i < 40; i++) {
        int smaller = 0;
        for (int j = 0; j < 40; j++) smaller += strcmp(keys[j], keys[i]) < 0;
        assert_int_equal(a[i], smaller < 4);
    }
    /* order of the population does not matter */
    const char *rev[40];
    bool c[40];
    for (int i = 0; i < 40; i++) rev[i] = ids[39 - i];
    assert_int_equal(rvs_sample_choose("aaaaaaaaaaaaaaaa", rev, 40, 10, c), 4);
    for (int i = 0; i < 40; i++) assert_int_equal(c[39 - i], a[i]);
    /* another seed, (almost surely) another draw */
    assert_int_equal(rvs_sample_choose("bbbbbbbbbbbbbbbb", ids, 40, 10, b), 4);
    assert_true(memcmp(a, b, sizeof a) != 0);
    assert_int_equal(rvs_sample_choose("x", ids, 0, 10, b), 0);

    char d1[65], d2[65];
    assert_int_equal(rvs_population_digest(ids, 40, d1), 0);
    assert_int_equal(rvs_population_digest(rev, 40, d2), 0);
    assert_string_equal(d1, d2);
    assert_int_equal(rvs_population_digest(ids, 0, d1), 0);
    /* sha256 of the empty string */
    assert_string_equal(d1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- the profile keys the revisit added ------------------------------------------------------ */

static void test_profile_keys(void **state)
{
    (void)state;
    assert_int_equal(prof("zaoyang")->revisit_lookback_percent, 10);
    assert_int_equal(prof("guangxi")->revisit_lookback_percent, 10);
    assert_int_equal(prof("tengzhou")->revisit_lookback_percent, POLICY_UNSET);
    assert_int_equal(prof("shantou")->revisit_unreachable_after, 3);
    assert_int_equal(prof("keyouqianqi")->archive_after.unit, POLICY_UNIT_WORKING_DAYS);
    assert_int_equal(prof("keyouqianqi")->archive_after.n, 5);
    assert_int_equal(prof("tengzhou")->archive_retention_years, 10);

    /* a profile that leaves them out still loads, with the defaults */
    FILE *f = fopen("deploy/policies/tengzhou.json", "r");
    assert_non_null(f);
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    fclose(f);
    assert_true(n > 0);
    char *strip[] = {", \"unreachable_after\": 3", "  \"archive\": {\"after\": \"5wd\", \"retention_years\": 10},\n"};
    for (int i = 0; i < 2; i++) {
        char *at = strstr(text, strip[i]);
        assert_non_null(at);
        memmove(at, at + strlen(strip[i]), strlen(at + strlen(strip[i])) + 1);
    }
    /* notes about removed keys stay valid: the keys still exist */
    char err[512];
    policy_set_t *s = policy_set_new();
    assert_int_equal(policy_set_load_string(s, "old-tengzhou", text, err, sizeof err), 0);
    const policy_t *p = policy_set_find(s, "tengzhou");
    assert_int_equal(p->revisit_unreachable_after, 3);
    assert_int_equal(p->archive_retention_years, 10);
    assert_int_equal(p->archive_after.n, 5);
    assert_int_equal(p->revisit_lookback_percent, POLICY_UNSET);
    policy_set_free(s);

    /* a rate without sampling is refused, naming the key */
    const char *anchor = "\"coverage_percent\": 100", *ins = ", \"lookback_percent\": 5";
    char *at = strstr(text, anchor);
    assert_non_null(at);
    at += strlen(anchor);
    memmove(at + strlen(ins), at, strlen(at) + 1);
    memcpy(at, ins, strlen(ins));
    s = policy_set_new();
    assert_int_equal(policy_set_load_string(s, "bad", text, err, sizeof err), -1);
    assert_non_null(strstr(err, "revisit.lookback_percent"));
    policy_set_free(s);
    free(text);

    /* out of range */
    s = policy_set_new();
    const char *bad = "{\"revisit\": {\"unreachable_after\": 0}}";
    assert_int_equal(policy_set_load_string(s, "bad2", bad, err, sizeof err), -1);
    policy_set_free(s);
}

/* ---- printing ------------------------------------------------------------------------------ */

static void test_html_escape(void **state)
{
    (void)state;
    char *s = rvs_html_escape("<b>\"某某\" & '公司'</b>");
    assert_string_equal(s, "&lt;b&gt;&quot;某某&quot; &amp; &#39;公司&#39;&lt;/b&gt;");
    free(s);
    s = rvs_html_escape(NULL);
    assert_string_equal(s, "");
    free(s);
    s = rvs_html_escape("无需转义");
    assert_string_equal(s, "无需转义");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_five_level_scale_maps_one_to_one),
        cmocka_unit_test(test_tengzhou_four_levels),
        cmocka_unit_test(test_declined_and_garbage),
        cmocka_unit_test(test_contact_check),
        cmocka_unit_test(test_decide_satisfied_and_declined_close),
        cmocka_unit_test(test_decide_two_rounds_to_escalation),
        cmocka_unit_test(test_decide_unreachable),
        cmocka_unit_test(test_decide_fraud_and_self_rating),
        cmocka_unit_test(test_fraud_notice_id),
        cmocka_unit_test(test_decide_lookback),
        cmocka_unit_test(test_referrals),
        cmocka_unit_test(test_escalation_tiers),
        cmocka_unit_test(test_meeting_criteria),
        cmocka_unit_test(test_sample_size),
        cmocka_unit_test(test_sample_is_reproducible),
        cmocka_unit_test(test_profile_keys),
        cmocka_unit_test(test_html_escape),
    };
    return cmocka_run_group_tests_name("revisit_rules", tests, setup, teardown);
}
