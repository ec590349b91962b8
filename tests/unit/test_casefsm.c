/*
 * test_casefsm.c — checks the case state machine against the lifecycle as the brief and
 * DOMAIN.md §5 state it.
 *
 * The expected table below is written out again by hand, in strings, on purpose: a test
 * that read casefsm.c's own table back would agree with any mistake in it. From that
 * oracle the tests walk the whole space — every state (and ∅) × every action × every
 * role — so a transition added or lost in casefsm.c without a matching line here fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "casefsm.h"
#include "compat.h"

struct expect {
    const char *action;
    const char *event_type;
    const char *from;  /* '|'-separated states; "" is ∅ (no case yet) */
    const char *to;    /* "=" keeps the state */
    const char *roles; /* ','-separated */
};

static const struct expect expected[] = {
    {"receive", "case.received", "", "received", "enterprise,agent,system"},
    {"accept", "case.accepted", "received", "accepted", "agent,system"},
    {"reject", "case.rejected", "received", "rejected", "agent,system"},
    {"mark_duplicate", "case.duplicate", "received", "duplicate", "agent,system"},
    {"answer", "case.answered", "received|accepted", "resolved", "agent"},
    {"dispatch", "case.dispatched", "accepted", "dispatched", "centre,system"},
    {"sign", "case.signed", "dispatched", "in_progress", "unit"},
    {"return", "case.returned", "dispatched", "accepted", "unit"},
    {"escalate", "case.escalated", "accepted|dispatched|in_progress|resolved", "accepted",
     "centre,unit,system"},
    {"hand_down", "case.handed_down", "accepted", "accepted", "centre"},
    {"decide_remit", "case.remit_decided", "accepted|dispatched", "=", "centre"},
    {"record_contact", "case.contact_recorded", "in_progress", "in_progress", "unit"},
    {"note_progress", "case.progress_noted", "in_progress", "in_progress", "unit"},
    {"agree_deadline", "case.deadline_agreed", "in_progress", "in_progress", "unit"},
    {"request_extension", "case.extension_requested", "in_progress", "in_progress", "unit"},
    {"decide_extension", "case.extension_decided", "in_progress", "in_progress", "centre"},
    {"submit_part", "case.part_submitted", "in_progress", "in_progress", "unit"},
    {"add_material", "case.material_added", "received|accepted|dispatched|in_progress", "=",
     "enterprise,agent,system"},
    {"submit_result", "case.result_submitted", "in_progress", "resolved", "unit"},
    {"record_revisit", "case.revisit_recorded", "resolved|closed|archived", "=",
     "supervisor,enterprise,system"},
    {"close", "case.closed", "resolved", "closed", "supervisor,system"},
    {"redo", "case.redo_ordered", "resolved", "in_progress", "supervisor,system"},
    {"terminate", "case.terminated", "in_progress|resolved", "closed", "centre"},
    {"archive", "case.archived", "closed", "archived", "supervisor,system"},
    {"unlink_duplicate", "case.duplicate_unlinked", "duplicate", "received", "agent"},
};

static const char *const state_names[] = {"received", "accepted", "rejected",
                                          "duplicate", "dispatched", "in_progress",
                                          "resolved", "closed", "archived"};
static const char *const role_names[] = {"enterprise", "agent", "centre",
                                         "unit", "supervisor", "leader",
                                         "discipline", "operator", "system"};
static const char *const open_states[] = {"received", "accepted", "dispatched",
                                          "in_progress", "resolved"};

/* Is `word` one of the `sep`-separated items of `list`? "" matches an empty item. */
static int list_has(const char *list, char sep, const char *word)
{
    size_t n = strlen(word);
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, sep);
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return 1;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

static casefsm_state_t state_of(const char *name)
{
    casefsm_state_t s = CASEFSM_STATE_NONE;
    if (name[0] != '\0')
        assert_int_equal(casefsm_state_from_str(name, &s), 0);
    return s;
}

static casefsm_action_t action_of(const char *name)
{
    casefsm_action_t a = CASEFSM_ACTION_NONE;
    assert_int_equal(casefsm_action_from_str(name, &a), 0);
    return a;
}

static casefsm_role_t role_of(const char *name)
{
    casefsm_role_t r = CASEFSM_ROLE_NONE;
    assert_int_equal(casefsm_role_from_str(name, &r), 0);
    return r;
}

/* The oracle's row for an action, or NULL. */
static const struct expect *expect_for(casefsm_action_t a)
{
    const char *name = casefsm_action_to_str(a);
    assert_non_null(name);
    for (size_t i = 0; i < JS_ARRAY_LEN(expected); i++)
        if (strcmp(expected[i].action, name) == 0)
            return &expected[i];
    return NULL;
}

/* Name of state s as the oracle spells from-lists ("" for ∅). */
static const char *oracle_state_name(casefsm_state_t s)
{
    return s == CASEFSM_STATE_NONE ? "" : casefsm_state_to_str(s);
}

static void test_every_allowed_transition_succeeds(void **unused)
{
    (void)unused;
    size_t checked = 0;
    for (size_t i = 0; i < JS_ARRAY_LEN(expected); i++) {
        const struct expect *e = &expected[i];
        casefsm_action_t a = action_of(e->action);
        for (unsigned s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++) {
            if (!list_has(e->from, '|', oracle_state_name((casefsm_state_t)s)))
                continue;
            for (size_t k = 0; k < JS_ARRAY_LEN(role_names); k++) {
                if (!list_has(e->roles, ',', role_names[k]))
                    continue;
                casefsm_state_t to = CASEFSM_STATE_COUNT;
                const char *type = NULL;
                casefsm_result_t rc =
                    casefsm_apply((casefsm_state_t)s, a, role_of(role_names[k]), &to, &type);
                if (rc != CASEFSM_OK)
                    fail_msg("%s from %s by %s: %s", e->action,
                             oracle_state_name((casefsm_state_t)s), role_names[k],
                             casefsm_result_to_str(rc));
                casefsm_state_t want =
                    strcmp(e->to, "=") == 0 ? (casefsm_state_t)s : state_of(e->to);
                assert_int_equal(to, want);
                assert_non_null(type);
                assert_string_equal(type, e->event_type);
                checked++;
            }
        }
    }
    /* The oracle has 67 (from-state, role) combinations in all; a typo in a list above
     * would silently shrink the walk, so pin the number. */
    assert_int_equal(checked, 67);
}

static void test_every_other_pair_is_bad_state(void **unused)
{
    (void)unused;
    size_t refused = 0;
    for (unsigned a = CASEFSM_ACTION_NONE + 1; a < CASEFSM_ACTION_COUNT; a++) {
        const struct expect *e = expect_for((casefsm_action_t)a);
        assert_non_null(e);
        for (unsigned s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++) {
            if (list_has(e->from, '|', oracle_state_name((casefsm_state_t)s)))
                continue;
            for (size_t k = 0; k < JS_ARRAY_LEN(role_names); k++) {
                if (!list_has(e->roles, ',', role_names[k]))
                    continue;
                casefsm_state_t to = CASEFSM_STATE_COUNT;
                const char *type = "untouched";
                casefsm_result_t rc = casefsm_apply((casefsm_state_t)s, (casefsm_action_t)a,
                                                    role_of(role_names[k]), &to, &type);
                if (rc != CASEFSM_BAD_STATE)
                    fail_msg("%s from %s by %s: want bad_state, got %s", e->action,
                             oracle_state_name((casefsm_state_t)s), role_names[k],
                             casefsm_result_to_str(rc));
                /* A refusal writes nothing. */
                assert_int_equal(to, CASEFSM_STATE_COUNT);
                assert_string_equal(type, "untouched");
                refused++;
            }
        }
    }
    assert_true(refused > 0);
}

static void test_roles_not_listed_are_forbidden(void **unused)
{
    (void)unused;
    for (unsigned a = CASEFSM_ACTION_NONE + 1; a < CASEFSM_ACTION_COUNT; a++) {
        const struct expect *e = expect_for((casefsm_action_t)a);
        /* From every state, allowed or not: the role check comes first, so a principal
         * who may never take the action cannot probe the case's state with it. */
        for (unsigned s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++) {
            for (size_t k = 0; k < JS_ARRAY_LEN(role_names); k++) {
                if (list_has(e->roles, ',', role_names[k]))
                    continue;
                casefsm_state_t to = CASEFSM_STATE_COUNT;
                casefsm_result_t rc = casefsm_apply((casefsm_state_t)s, (casefsm_action_t)a,
                                                    role_of(role_names[k]), &to, NULL);
                if (rc != CASEFSM_FORBIDDEN)
                    fail_msg("%s from %s by %s: want forbidden, got %s", e->action,
                             oracle_state_name((casefsm_state_t)s), role_names[k],
                             casefsm_result_to_str(rc));
                assert_int_equal(to, CASEFSM_STATE_COUNT);
            }
            /* Anonymous may do nothing at all. */
            assert_int_equal(casefsm_apply((casefsm_state_t)s, (casefsm_action_t)a,
                                           CASEFSM_ROLE_NONE, NULL, NULL),
                             CASEFSM_FORBIDDEN);
        }
    }
    /* The roles that appear in no row are refused everything. */
    static const char *const idle[] = {"leader", "discipline", "operator"};
    for (size_t k = 0; k < JS_ARRAY_LEN(idle); k++)
        for (unsigned s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++)
            assert_int_equal(casefsm_actions_available((casefsm_state_t)s, role_of(idle[k])), 0);
}

static void test_out_of_range_is_invalid(void **unused)
{
    (void)unused;
    casefsm_state_t to = CASEFSM_STATE_COUNT;
    assert_int_equal(casefsm_apply(CASEFSM_STATE_RECEIVED, CASEFSM_ACTION_NONE,
                                   CASEFSM_ROLE_AGENT, &to, NULL),
                     CASEFSM_INVALID);
    assert_int_equal(casefsm_apply(CASEFSM_STATE_RECEIVED, CASEFSM_ACTION_COUNT,
                                   CASEFSM_ROLE_AGENT, &to, NULL),
                     CASEFSM_INVALID);
    assert_int_equal(casefsm_apply(CASEFSM_STATE_COUNT, CASEFSM_ACTION_ACCEPT,
                                   CASEFSM_ROLE_AGENT, &to, NULL),
                     CASEFSM_INVALID);
    assert_int_equal(casefsm_apply((casefsm_state_t)-1, CASEFSM_ACTION_ACCEPT,
                                   CASEFSM_ROLE_AGENT, &to, NULL),
                     CASEFSM_INVALID);
    assert_int_equal(casefsm_apply(CASEFSM_STATE_RECEIVED, (casefsm_action_t)-1,
                                   CASEFSM_ROLE_AGENT, &to, NULL),
                     CASEFSM_INVALID);
    assert_int_equal(casefsm_apply(CASEFSM_STATE_RECEIVED, CASEFSM_ACTION_ACCEPT,
                                   CASEFSM_ROLE_COUNT, &to, NULL),
                     CASEFSM_FORBIDDEN);
    assert_int_equal(casefsm_apply(CASEFSM_STATE_RECEIVED, CASEFSM_ACTION_ACCEPT,
                                   (casefsm_role_t)-7, &to, NULL),
                     CASEFSM_FORBIDDEN);
    assert_int_equal(to, CASEFSM_STATE_COUNT);

    assert_null(casefsm_state_to_str(CASEFSM_STATE_NONE));
    assert_null(casefsm_state_to_str(CASEFSM_STATE_COUNT));
    assert_null(casefsm_state_to_str((casefsm_state_t)-1));
    assert_null(casefsm_action_to_str(CASEFSM_ACTION_NONE));
    assert_null(casefsm_action_to_str(CASEFSM_ACTION_COUNT));
    assert_null(casefsm_role_to_str(CASEFSM_ROLE_NONE));
    assert_null(casefsm_role_to_str(CASEFSM_ROLE_COUNT));
    assert_null(casefsm_event_type(CASEFSM_ACTION_NONE));
    assert_null(casefsm_event_type((casefsm_action_t)1000));
    assert_null(casefsm_rule_for(CASEFSM_ACTION_NONE));
    assert_null(casefsm_rule_at(casefsm_rule_count()));
    assert_int_equal(casefsm_actions_available(CASEFSM_STATE_COUNT, CASEFSM_ROLE_SYSTEM), 0);
    assert_int_equal(casefsm_actions_available(CASEFSM_STATE_RECEIVED, CASEFSM_ROLE_NONE), 0);
    assert_false(casefsm_is_open(CASEFSM_STATE_NONE));
    assert_false(casefsm_is_open(CASEFSM_STATE_COUNT));
}

/* The table read through the iteration API says the same as the oracle, row for row,
 * and has no row the oracle lacks. */
static void test_table_matches_oracle(void **unused)
{
    (void)unused;
    assert_int_equal(casefsm_rule_count(), JS_ARRAY_LEN(expected));
    assert_int_equal(casefsm_rule_count(), CASEFSM_ACTION_COUNT - 1);
    unsigned seen = 0;
    for (size_t i = 0; i < casefsm_rule_count(); i++) {
        const casefsm_rule_t *r = casefsm_rule_at(i);
        assert_non_null(r);
        assert_ptr_equal(casefsm_rule_for(r->action), r);
        assert_false(seen & CASEFSM_BIT(r->action));
        seen |= CASEFSM_BIT(r->action);
        const struct expect *e = expect_for(r->action);
        assert_non_null(e);
        assert_string_equal(r->name, e->action);
        assert_string_equal(r->event_type, e->event_type);
        assert_non_null(r->label_zh);
        unsigned from = 0, role = 0;
        for (unsigned s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++)
            if (list_has(e->from, '|', oracle_state_name((casefsm_state_t)s)))
                from |= CASEFSM_BIT(s);
        for (size_t k = 0; k < JS_ARRAY_LEN(role_names); k++)
            if (list_has(e->roles, ',', role_names[k]))
                role |= CASEFSM_BIT(role_of(role_names[k]));
        assert_int_equal(r->from_mask, from);
        assert_int_equal(r->role_mask, role);
        if (strcmp(e->to, "=") == 0)
            assert_int_equal(r->to, CASEFSM_STATE_NONE);
        else
            assert_int_equal(r->to, state_of(e->to));
    }
    /* Event types are unique, so a consumer can map a type back to its action. */
    for (size_t i = 0; i < casefsm_rule_count(); i++)
        for (size_t j = i + 1; j < casefsm_rule_count(); j++)
            assert_string_not_equal(casefsm_rule_at(i)->event_type,
                                    casefsm_rule_at(j)->event_type);
}

static void test_actions_available_agrees_with_apply(void **unused)
{
    (void)unused;
    for (unsigned s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++) {
        for (unsigned w = CASEFSM_ROLE_NONE; w < CASEFSM_ROLE_COUNT; w++) {
            unsigned want = 0;
            for (unsigned a = CASEFSM_ACTION_NONE + 1; a < CASEFSM_ACTION_COUNT; a++)
                if (casefsm_apply((casefsm_state_t)s, (casefsm_action_t)a, (casefsm_role_t)w,
                                  NULL, NULL) == CASEFSM_OK)
                    want |= CASEFSM_BIT(a);
            assert_int_equal(casefsm_actions_available((casefsm_state_t)s, (casefsm_role_t)w),
                             want);
        }
    }
    /* One worked example, spelt out: a unit looking at a dispatched case. */
    assert_int_equal(casefsm_actions_available(CASEFSM_STATE_DISPATCHED, CASEFSM_ROLE_UNIT),
                     CASEFSM_BIT(CASEFSM_ACTION_SIGN) | CASEFSM_BIT(CASEFSM_ACTION_RETURN) |
                         CASEFSM_BIT(CASEFSM_ACTION_ESCALATE));
    /* Final states accept nothing from anyone, except closed → archived and an agent undoing
     * a wrong duplicate link. */
    for (unsigned w = CASEFSM_ROLE_NONE; w < CASEFSM_ROLE_COUNT; w++) {
        assert_int_equal(casefsm_actions_available(CASEFSM_STATE_REJECTED, (casefsm_role_t)w), 0);
        assert_int_equal(casefsm_actions_available(CASEFSM_STATE_DUPLICATE, (casefsm_role_t)w),
                         w == CASEFSM_ROLE_AGENT ? CASEFSM_BIT(CASEFSM_ACTION_UNLINK_DUPLICATE) : 0u);
        assert_int_equal(casefsm_actions_available(CASEFSM_STATE_ARCHIVED, (casefsm_role_t)w),
                         (w == CASEFSM_ROLE_SUPERVISOR || w == CASEFSM_ROLE_ENTERPRISE || w == CASEFSM_ROLE_SYSTEM)
                             ? CASEFSM_BIT(CASEFSM_ACTION_RECORD_REVISIT) : 0u);
    }
}

static void test_state_strings(void **unused)
{
    (void)unused;
    assert_int_equal(JS_ARRAY_LEN(state_names), CASEFSM_STATE_COUNT - 1);
    unsigned seen = 0;
    for (size_t i = 0; i < JS_ARRAY_LEN(state_names); i++) {
        casefsm_state_t s = CASEFSM_STATE_NONE;
        assert_int_equal(casefsm_state_from_str(state_names[i], &s), 0);
        assert_int_not_equal(s, CASEFSM_STATE_NONE);
        assert_false(seen & CASEFSM_BIT(s));
        seen |= CASEFSM_BIT(s);
        assert_string_equal(casefsm_state_to_str(s), state_names[i]);
        int open = 0;
        for (size_t k = 0; k < JS_ARRAY_LEN(open_states); k++)
            open |= strcmp(open_states[k], state_names[i]) == 0;
        assert_int_equal(casefsm_is_open(s), open);
    }
}

static void test_action_and_event_strings(void **unused)
{
    (void)unused;
    for (unsigned a = CASEFSM_ACTION_NONE + 1; a < CASEFSM_ACTION_COUNT; a++) {
        const char *name = casefsm_action_to_str((casefsm_action_t)a);
        assert_non_null(name);
        casefsm_action_t back = CASEFSM_ACTION_NONE;
        assert_int_equal(casefsm_action_from_str(name, &back), 0);
        assert_int_equal(back, a);
        const char *type = casefsm_event_type((casefsm_action_t)a);
        assert_non_null(type);
        assert_string_equal(type, expect_for((casefsm_action_t)a)->event_type);
        back = CASEFSM_ACTION_NONE;
        assert_int_equal(casefsm_action_from_event_type(type, &back), 0);
        assert_int_equal(back, a);
    }
}

static void test_role_strings(void **unused)
{
    (void)unused;
    assert_int_equal(JS_ARRAY_LEN(role_names), CASEFSM_ROLE_COUNT - 1);
    for (size_t i = 0; i < JS_ARRAY_LEN(role_names); i++) {
        casefsm_role_t r = role_of(role_names[i]);
        assert_int_not_equal(r, CASEFSM_ROLE_NONE);
        assert_string_equal(casefsm_role_to_str(r), role_names[i]);
    }
}

/* Near misses: case, whitespace, prefixes, the other enum's words, empty and NULL. */
static void test_unknown_strings_rejected(void **unused)
{
    (void)unused;
    static const char *const junk[] = {
        "", " ", "Received", "RECEIVED", "received ", " received", "receive", "recv",
        "in-progress", "inprogress", "none", "∅", "open", "case.received", "dispatch",
        "Unit", "admin", "root", "anonymous", "accepted\n", "accept\t", "case.Received",
        "case.", "received\xff", "system2", "enterprises", "case.signed ",
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(junk); i++) {
        const char *j = junk[i];
        casefsm_state_t s = CASEFSM_STATE_ARCHIVED;
        casefsm_action_t a = CASEFSM_ACTION_ARCHIVE;
        casefsm_role_t r = CASEFSM_ROLE_SYSTEM;
        int known_state = 0, known_action = 0, known_type = 0;
        /* Some junk for one enum is a real word of another ("receive" is an action,
         * "case.received" an event type); those are checked only against the others. */
        for (size_t k = 0; k < JS_ARRAY_LEN(state_names); k++)
            known_state |= strcmp(state_names[k], j) == 0;
        for (size_t k = 0; k < JS_ARRAY_LEN(expected); k++) {
            known_action |= strcmp(expected[k].action, j) == 0;
            known_type |= strcmp(expected[k].event_type, j) == 0;
        }
        if (!known_state) {
            assert_int_equal(casefsm_state_from_str(j, &s), -1);
            assert_int_equal(s, CASEFSM_STATE_ARCHIVED);
        }
        if (!known_action) {
            assert_int_equal(casefsm_action_from_str(j, &a), -1);
            assert_int_equal(a, CASEFSM_ACTION_ARCHIVE);
        }
        if (!known_type) {
            a = CASEFSM_ACTION_ARCHIVE;
            assert_int_equal(casefsm_action_from_event_type(j, &a), -1);
            assert_int_equal(a, CASEFSM_ACTION_ARCHIVE);
        }
        assert_int_equal(casefsm_role_from_str(j, &r), -1);
        assert_int_equal(r, CASEFSM_ROLE_SYSTEM);
    }
    casefsm_state_t s;
    casefsm_action_t a;
    casefsm_role_t r;
    assert_int_equal(casefsm_state_from_str(NULL, &s), -1);
    assert_int_equal(casefsm_action_from_str(NULL, &a), -1);
    assert_int_equal(casefsm_action_from_event_type(NULL, &a), -1);
    assert_int_equal(casefsm_role_from_str(NULL, &r), -1);
    assert_int_equal(casefsm_state_from_str("received", NULL), -1);
    assert_int_equal(casefsm_action_from_str("accept", NULL), -1);
    assert_int_equal(casefsm_role_from_str("unit", NULL), -1);
}

static void test_result_strings(void **unused)
{
    (void)unused;
    assert_string_equal(casefsm_result_to_str(CASEFSM_OK), "ok");
    assert_string_equal(casefsm_result_to_str(CASEFSM_BAD_STATE), "bad_state");
    assert_string_equal(casefsm_result_to_str(CASEFSM_FORBIDDEN), "forbidden");
    assert_string_equal(casefsm_result_to_str(CASEFSM_INVALID), "invalid");
    assert_string_equal(casefsm_result_to_str((casefsm_result_t)42), "unknown");
}

/* A whole life, end to end, through the public API only: the happy path with one redo. */
static void test_walk_a_case(void **unused)
{
    (void)unused;
    static const struct {
        const char *action, *role, *state_after;
    } walk[] = {
        {"receive", "enterprise", "received"},   {"accept", "agent", "accepted"},
        {"dispatch", "centre", "dispatched"},    {"return", "unit", "accepted"},
        {"dispatch", "system", "dispatched"},    {"sign", "unit", "in_progress"},
        {"record_contact", "unit", "in_progress"}, {"submit_result", "unit", "resolved"},
        {"record_revisit", "enterprise", "resolved"}, {"redo", "supervisor", "in_progress"},
        {"submit_result", "unit", "resolved"},   {"record_revisit", "supervisor", "resolved"},
        {"close", "system", "closed"},           {"archive", "system", "archived"},
    };
    casefsm_state_t s = CASEFSM_STATE_NONE;
    for (size_t i = 0; i < JS_ARRAY_LEN(walk); i++) {
        casefsm_state_t to;
        assert_int_equal(
            casefsm_apply(s, action_of(walk[i].action), role_of(walk[i].role), &to, NULL),
            CASEFSM_OK);
        assert_string_equal(casefsm_state_to_str(to), walk[i].state_after);
        s = to;
    }
    assert_false(casefsm_is_open(s));
}

static void test_markdown(void **unused)
{
    (void)unused;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(casefsm_table_markdown(f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf, "| action | 中文 | from | to | event type | roles |\n"));
    assert_non_null(strstr(buf, "| `receive` | 受理登记 | ∅ | received | `case.received` | "
                                "enterprise, agent, system |\n"));
    assert_non_null(strstr(buf, "| `escalate` | 提级 | accepted, dispatched, in_progress, resolved | "
                                "accepted | `case.escalated` | centre, unit, system |\n"));
    assert_non_null(strstr(buf, "| `decide_remit` | 确责 | accepted, dispatched | "
                                "(unchanged) | `case.remit_decided` | centre |\n"));
    assert_non_null(strstr(buf, "| `resolved` | 已答复待回访 | yes |\n"));
    assert_non_null(strstr(buf, "| `archived` | 已归档 | no (final) |\n"));
    /* One line per rule, one per state, two headers of two lines and a blank line. */
    size_t lines = 0;
    for (const char *p = buf; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(lines, casefsm_rule_count() + (CASEFSM_STATE_COUNT - 1) + 2 + 2 + 1);
    free(buf);

    assert_int_equal(casefsm_table_markdown(NULL), -1);
    /* A full disk must be reported, not swallowed. */
    FILE *full = fopen("/dev/full", "w");
    if (full != NULL) {
        assert_int_equal(casefsm_table_markdown(full), -1);
        fclose(full);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allowed_transition_succeeds),
        cmocka_unit_test(test_every_other_pair_is_bad_state),
        cmocka_unit_test(test_roles_not_listed_are_forbidden),
        cmocka_unit_test(test_out_of_range_is_invalid),
        cmocka_unit_test(test_table_matches_oracle),
        cmocka_unit_test(test_actions_available_agrees_with_apply),
        cmocka_unit_test(test_state_strings),
        cmocka_unit_test(test_action_and_event_strings),
        cmocka_unit_test(test_role_strings),
        cmocka_unit_test(test_unknown_strings_rejected),
        cmocka_unit_test(test_result_strings),
        cmocka_unit_test(test_walk_a_case),
        cmocka_unit_test(test_markdown),
    };
    return cmocka_run_group_tests_name("casefsm", tests, NULL, NULL);
}
