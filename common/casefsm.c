/*
 * casefsm.c — the transition table of the case lifecycle and the few functions that read it.
 *
 * `rules[]` below is the single source of truth for which action may move a case from
 * which state to which, writing which event, taken by which role (DOMAIN.md §5). Nothing
 * else in the code base may restate it: no switch on states, no second list of names.
 * State names and their open/final flag live in `states[]`, role names in `roles[]`; the
 * action names live in the rule rows themselves so that an action cannot exist without
 * its transition. Everything here is const data and pure functions, safe from any thread.
 */
#include "casefsm.h"

#include <string.h>

/* Masks are unsigned ints; keep every enum inside 32 bits of them. */
_Static_assert(CASEFSM_STATE_COUNT <= 32, "state mask overflows");
_Static_assert(CASEFSM_ACTION_COUNT <= 32, "action mask overflows");
_Static_assert(CASEFSM_ROLE_COUNT <= 32, "role mask overflows");

/* Short names for the table, so each row fits on a line and reads like DOMAIN.md. */
#define S(x) CASEFSM_BIT(CASEFSM_STATE_##x)
#define R(x) CASEFSM_BIT(CASEFSM_ROLE_##x)
#define FROM_NOTHING CASEFSM_BIT(CASEFSM_STATE_NONE)
#define SAME CASEFSM_STATE_NONE

static const casefsm_rule_t rules[] = {
    /* Registration and scope review (受理登记, 初步审查). The daemons may receive and
     * review too: intake registers web/mini-program appeals itself, and a profile may
     * auto-accept or auto-reject (e.g. an exact repeat of a concluded matter). */
    {CASEFSM_ACTION_RECEIVE, "receive", "case.received",
     FROM_NOTHING, CASEFSM_STATE_RECEIVED,
     R(ENTERPRISE) | R(AGENT) | R(SYSTEM), "受理登记"},
    {CASEFSM_ACTION_ACCEPT, "accept", "case.accepted",
     S(RECEIVED), CASEFSM_STATE_ACCEPTED,
     R(AGENT) | R(SYSTEM), "受理"},
    {CASEFSM_ACTION_REJECT, "reject", "case.rejected",
     S(RECEIVED), CASEFSM_STATE_REJECTED,
     R(AGENT) | R(SYSTEM), "不予受理"},
    {CASEFSM_ACTION_MARK_DUPLICATE, "mark_duplicate", "case.duplicate",
     S(RECEIVED), CASEFSM_STATE_DUPLICATE,
     R(AGENT) | R(SYSTEM), "重复件"},
    /* A simple consultation answered on the spot skips dispatch entirely; only a person
     * can answer, never a daemon. */
    {CASEFSM_ACTION_ANSWER, "answer", "case.answered",
     S(RECEIVED) | S(ACCEPTED), CASEFSM_STATE_RESOLVED,
     R(AGENT), "即时答复"},

    /* Routing by the dispatch centre (转办交办). */
    {CASEFSM_ACTION_DISPATCH, "dispatch", "case.dispatched",
     S(ACCEPTED), CASEFSM_STATE_DISPATCHED,
     R(CENTRE) | R(SYSTEM), "转办"},
    {CASEFSM_ACTION_SIGN, "sign", "case.signed",
     S(DISPATCHED), CASEFSM_STATE_IN_PROGRESS,
     R(UNIT), "签收"},
    /* A return is possible only before signing: once a unit signs, the case is its own
     * (and once the centre has decided the remit, the dispatcher refuses the return on
     * that ground — a fact of the case, not of its state). */
    {CASEFSM_ACTION_RETURN, "return", "case.returned",
     S(DISPATCHED), CASEFSM_STATE_ACCEPTED,
     R(UNIT), "退件"},
    /* Escalation lands the case back with a centre (of the tier above, or the same
     * centre naming a lead unit), which routes it again from `accepted`. */
    {CASEFSM_ACTION_ESCALATE, "escalate", "case.escalated",
     /* resolved: unsatisfied again after the second handling → 提级办理 (seed 004) */
     S(ACCEPTED) | S(DISPATCHED) | S(IN_PROGRESS) | S(RESOLVED), CASEFSM_STATE_ACCEPTED,
     R(CENTRE) | R(UNIT) | R(SYSTEM), "提级"},
    {CASEFSM_ACTION_HAND_DOWN, "hand_down", "case.handed_down",
     S(ACCEPTED), CASEFSM_STATE_ACCEPTED,
     R(CENTRE), "下转"},
    {CASEFSM_ACTION_DECIDE_REMIT, "decide_remit", "case.remit_decided",
     S(ACCEPTED) | S(DISPATCHED), SAME,
     R(CENTRE), "确责"},

    /* Handling by the unit (诉求办理). These keep the case in progress and exist so
     * every step is an event the deadline-watcher and the revisit can check. */
    {CASEFSM_ACTION_RECORD_CONTACT, "record_contact", "case.contact_recorded",
     S(IN_PROGRESS), CASEFSM_STATE_IN_PROGRESS,
     R(UNIT), "联系企业"},
    {CASEFSM_ACTION_NOTE_PROGRESS, "note_progress", "case.progress_noted",
     S(IN_PROGRESS), CASEFSM_STATE_IN_PROGRESS,
     R(UNIT), "进展反馈"},
    {CASEFSM_ACTION_AGREE_DEADLINE, "agree_deadline", "case.deadline_agreed",
     S(IN_PROGRESS), CASEFSM_STATE_IN_PROGRESS,
     R(UNIT), "商定办结时限"},
    {CASEFSM_ACTION_REQUEST_EXTENSION, "request_extension", "case.extension_requested",
     S(IN_PROGRESS), CASEFSM_STATE_IN_PROGRESS,
     R(UNIT), "申请延期"},
    {CASEFSM_ACTION_DECIDE_EXTENSION, "decide_extension", "case.extension_decided",
     S(IN_PROGRESS), CASEFSM_STATE_IN_PROGRESS,
     R(CENTRE), "审批延期"},
    {CASEFSM_ACTION_SUBMIT_PART, "submit_part", "case.part_submitted",
     S(IN_PROGRESS), CASEFSM_STATE_IN_PROGRESS,
     R(UNIT), "协办反馈"},
    /* More material from the enterprise is a duplicate by the seeds' definition, folded
     * into the open case rather than counted as new; it may arrive in any open state
     * before the result. */
    {CASEFSM_ACTION_ADD_MATERIAL, "add_material", "case.material_added",
     S(RECEIVED) | S(ACCEPTED) | S(DISPATCHED) | S(IN_PROGRESS), SAME,
     R(ENTERPRISE) | R(AGENT) | R(SYSTEM), "补充材料"},
    {CASEFSM_ACTION_SUBMIT_RESULT, "submit_result", "case.result_submitted",
     S(IN_PROGRESS), CASEFSM_STATE_RESOLVED,
     R(UNIT), "提交办理结果"},

    /* Revisit and closing (回访, 闭环, 二次办理, 终结, 归档). A revisit is recorded without
     * moving the case; `close` or `redo` then acts on it, so the rating and the decision
     * are separate events (evaluation is voluntary: the enterprise may rate, or not). */
    {CASEFSM_ACTION_RECORD_REVISIT, "record_revisit", "case.revisit_recorded",
     /* closed and archived: the look-back (回头看) calls sampled cases again; the call is
      * recorded without moving the case */
     S(RESOLVED) | S(CLOSED) | S(ARCHIVED), CASEFSM_STATE_NONE,
     R(SUPERVISOR) | R(ENTERPRISE) | R(SYSTEM), "回访"},
    {CASEFSM_ACTION_CLOSE, "close", "case.closed",
     S(RESOLVED), CASEFSM_STATE_CLOSED,
     R(SUPERVISOR) | R(SYSTEM), "办结"},
    {CASEFSM_ACTION_REDO, "redo", "case.redo_ordered",
     S(RESOLVED), CASEFSM_STATE_IN_PROGRESS,
     R(SUPERVISOR) | R(SYSTEM), "二次办理"},
    {CASEFSM_ACTION_TERMINATE, "terminate", "case.terminated",
     S(IN_PROGRESS) | S(RESOLVED), CASEFSM_STATE_CLOSED,
     R(CENTRE), "终结办理"},
    {CASEFSM_ACTION_ARCHIVE, "archive", "case.archived",
     S(CLOSED), CASEFSM_STATE_ARCHIVED,
     R(SUPERVISOR) | R(SYSTEM), "归档"},
    /* Text similarity links duplicates automatically, and two different matters with the same
     * counterparty can look alike: an agent undoes a wrong link and the appeal waits for
     * review as a case of its own. */
    {CASEFSM_ACTION_UNLINK_DUPLICATE, "unlink_duplicate", "case.duplicate_unlinked",
     S(DUPLICATE), CASEFSM_STATE_RECEIVED,
     R(AGENT), "撤销重复件认定"},
};

#undef S
#undef R
#undef FROM_NOTHING
#undef SAME

_Static_assert(JS_ARRAY_LEN(rules) == CASEFSM_ACTION_COUNT - 1,
               "one rule row per action, no more, no less");

struct state_info {
    const char *name;
    const char *label_zh;
    bool open; /* not final: more actions may follow, and closed_at is still NULL */
};

static const struct state_info states[CASEFSM_STATE_COUNT] = {
    [CASEFSM_STATE_NONE] = {NULL, NULL, false},
    [CASEFSM_STATE_RECEIVED] = {"received", "已登记", true},
    [CASEFSM_STATE_ACCEPTED] = {"accepted", "已受理", true},
    [CASEFSM_STATE_REJECTED] = {"rejected", "不予受理", false},
    [CASEFSM_STATE_DUPLICATE] = {"duplicate", "重复件", false},
    [CASEFSM_STATE_DISPATCHED] = {"dispatched", "已转办", true},
    [CASEFSM_STATE_IN_PROGRESS] = {"in_progress", "办理中", true},
    [CASEFSM_STATE_RESOLVED] = {"resolved", "已答复待回访", true},
    [CASEFSM_STATE_CLOSED] = {"closed", "已办结", false},
    [CASEFSM_STATE_ARCHIVED] = {"archived", "已归档", false},
};

static const char *const roles[CASEFSM_ROLE_COUNT] = {
    [CASEFSM_ROLE_NONE] = NULL,
    [CASEFSM_ROLE_ENTERPRISE] = "enterprise",
    [CASEFSM_ROLE_AGENT] = "agent",
    [CASEFSM_ROLE_CENTRE] = "centre",
    [CASEFSM_ROLE_UNIT] = "unit",
    [CASEFSM_ROLE_SUPERVISOR] = "supervisor",
    [CASEFSM_ROLE_LEADER] = "leader",
    [CASEFSM_ROLE_DISCIPLINE] = "discipline",
    [CASEFSM_ROLE_OPERATOR] = "operator",
    [CASEFSM_ROLE_SYSTEM] = "system",
};

/* Enums arrive from callers and from casts of stored integers; range-check them as
 * unsigned so a negative value cannot index the arrays. */
static bool state_valid(casefsm_state_t s)
{
    return (unsigned)s > CASEFSM_STATE_NONE && (unsigned)s < CASEFSM_STATE_COUNT;
}

static bool action_valid(casefsm_action_t a)
{
    return (unsigned)a > CASEFSM_ACTION_NONE && (unsigned)a < CASEFSM_ACTION_COUNT;
}

static bool role_valid(casefsm_role_t r)
{
    return (unsigned)r > CASEFSM_ROLE_NONE && (unsigned)r < CASEFSM_ROLE_COUNT;
}

const char *casefsm_state_to_str(casefsm_state_t s)
{
    return state_valid(s) ? states[s].name : NULL;
}

int casefsm_state_from_str(const char *str, casefsm_state_t *out)
{
    if (str == NULL || out == NULL)
        return -1;
    for (unsigned i = CASEFSM_STATE_NONE + 1; i < CASEFSM_STATE_COUNT; i++) {
        if (strcmp(states[i].name, str) == 0) {
            *out = (casefsm_state_t)i;
            return 0;
        }
    }
    return -1;
}

const casefsm_rule_t *casefsm_rule_for(casefsm_action_t a)
{
    if (!action_valid(a))
        return NULL;
    /* Twenty-odd rows: a scan is cheaper than keeping a second index in step. */
    for (size_t i = 0; i < JS_ARRAY_LEN(rules); i++)
        if (rules[i].action == a)
            return &rules[i];
    return NULL;
}

const char *casefsm_action_to_str(casefsm_action_t a)
{
    const casefsm_rule_t *r = casefsm_rule_for(a);
    return r != NULL ? r->name : NULL;
}

int casefsm_action_from_str(const char *str, casefsm_action_t *out)
{
    if (str == NULL || out == NULL)
        return -1;
    for (size_t i = 0; i < JS_ARRAY_LEN(rules); i++) {
        if (strcmp(rules[i].name, str) == 0) {
            *out = rules[i].action;
            return 0;
        }
    }
    return -1;
}

const char *casefsm_role_to_str(casefsm_role_t r)
{
    return role_valid(r) ? roles[r] : NULL;
}

int casefsm_role_from_str(const char *str, casefsm_role_t *out)
{
    if (str == NULL || out == NULL)
        return -1;
    for (unsigned i = CASEFSM_ROLE_NONE + 1; i < CASEFSM_ROLE_COUNT; i++) {
        if (strcmp(roles[i], str) == 0) {
            *out = (casefsm_role_t)i;
            return 0;
        }
    }
    return -1;
}

const char *casefsm_result_to_str(casefsm_result_t r)
{
    switch (r) {
    case CASEFSM_OK:
        return "ok";
    case CASEFSM_BAD_STATE:
        return "bad_state";
    case CASEFSM_FORBIDDEN:
        return "forbidden";
    case CASEFSM_INVALID:
        return "invalid";
    }
    return "unknown";
}

const char *casefsm_event_type(casefsm_action_t a)
{
    const casefsm_rule_t *r = casefsm_rule_for(a);
    return r != NULL ? r->event_type : NULL;
}

int casefsm_action_from_event_type(const char *type, casefsm_action_t *out)
{
    if (type == NULL || out == NULL)
        return -1;
    for (size_t i = 0; i < JS_ARRAY_LEN(rules); i++) {
        if (strcmp(rules[i].event_type, type) == 0) {
            *out = rules[i].action;
            return 0;
        }
    }
    return -1;
}

casefsm_result_t casefsm_apply(casefsm_state_t from, casefsm_action_t a, casefsm_role_t who,
                               casefsm_state_t *to, const char **event_type)
{
    /* ∅ is a legal from-state (for receive), so accept NONE here but nothing beyond. */
    if ((unsigned)from >= CASEFSM_STATE_COUNT || !action_valid(a))
        return CASEFSM_INVALID;
    const casefsm_rule_t *r = casefsm_rule_for(a);
    if (!role_valid(who) || (r->role_mask & CASEFSM_BIT(who)) == 0)
        return CASEFSM_FORBIDDEN;
    if ((r->from_mask & CASEFSM_BIT(from)) == 0)
        return CASEFSM_BAD_STATE;
    if (to != NULL)
        *to = r->to == CASEFSM_STATE_NONE ? from : r->to;
    if (event_type != NULL)
        *event_type = r->event_type;
    return CASEFSM_OK;
}

unsigned casefsm_actions_available(casefsm_state_t from, casefsm_role_t who)
{
    if ((unsigned)from >= CASEFSM_STATE_COUNT || !role_valid(who))
        return 0;
    unsigned mask = 0;
    for (size_t i = 0; i < JS_ARRAY_LEN(rules); i++)
        if ((rules[i].from_mask & CASEFSM_BIT(from)) && (rules[i].role_mask & CASEFSM_BIT(who)))
            mask |= CASEFSM_BIT(rules[i].action);
    return mask;
}

bool casefsm_is_open(casefsm_state_t s)
{
    return state_valid(s) && states[s].open;
}

size_t casefsm_rule_count(void)
{
    return JS_ARRAY_LEN(rules);
}

const casefsm_rule_t *casefsm_rule_at(size_t i)
{
    return i < JS_ARRAY_LEN(rules) ? &rules[i] : NULL;
}

/* Prints the states in `mask` as "a, b" (∅ for the no-case state). Returns the sum of
 * fprintf results so the caller can spot a write error with one test. */
static int print_states(FILE *out, unsigned mask)
{
    int bad = 0;
    const char *sep = "";
    for (unsigned s = CASEFSM_STATE_NONE; s < CASEFSM_STATE_COUNT; s++) {
        if ((mask & CASEFSM_BIT(s)) == 0)
            continue;
        const char *name = s == CASEFSM_STATE_NONE ? "∅" : states[s].name;
        if (fprintf(out, "%s%s", sep, name) < 0)
            bad = -1;
        sep = ", ";
    }
    return bad;
}

static int print_roles(FILE *out, unsigned mask)
{
    int bad = 0;
    const char *sep = "";
    for (unsigned r = CASEFSM_ROLE_NONE + 1; r < CASEFSM_ROLE_COUNT; r++) {
        if ((mask & CASEFSM_BIT(r)) == 0)
            continue;
        if (fprintf(out, "%s%s", sep, roles[r]) < 0)
            bad = -1;
        sep = ", ";
    }
    return bad;
}

int casefsm_table_markdown(FILE *out)
{
    int bad = 0;
    if (out == NULL)
        return -1;
    if (fputs("| action | 中文 | from | to | event type | roles |\n"
              "| --- | --- | --- | --- | --- | --- |\n",
              out) < 0)
        bad = -1;
    for (size_t i = 0; i < JS_ARRAY_LEN(rules); i++) {
        const casefsm_rule_t *r = &rules[i];
        if (fprintf(out, "| `%s` | %s | ", r->name, r->label_zh) < 0)
            bad = -1;
        bad |= print_states(out, r->from_mask);
        if (fprintf(out, " | %s | `%s` | ",
                    r->to == CASEFSM_STATE_NONE ? "(unchanged)" : states[r->to].name,
                    r->event_type) < 0)
            bad = -1;
        bad |= print_roles(out, r->role_mask);
        if (fputs(" |\n", out) < 0)
            bad = -1;
    }
    if (fputs("\n| state | 中文 | open |\n| --- | --- | --- |\n", out) < 0)
        bad = -1;
    for (unsigned s = CASEFSM_STATE_NONE + 1; s < CASEFSM_STATE_COUNT; s++)
        if (fprintf(out, "| `%s` | %s | %s |\n", states[s].name, states[s].label_zh,
                    states[s].open ? "yes" : "no (final)") < 0)
            bad = -1;
    if (fflush(out) != 0 || ferror(out))
        bad = -1;
    return bad;
}
