/*
 * casefsm.h — the case lifecycle (DOMAIN.md §5) as one table that every daemon obeys.
 *
 * A case moves only by an action: an action names the states it may start from, the
 * state it leads to, the event type it writes to case_events and the outbox, and the
 * principal roles allowed to take it. Intake, dispatcher, deadline-watcher, revisit and
 * reporting all ask this module instead of testing states themselves, so there is exactly
 * one place where "may a unit return a case it has already signed for?" is answered.
 * The table lives in casefsm.c as one static const array; everything here reads it.
 * The module holds no mutable state: every function is pure and safe from any thread.
 * Returned strings are static and borrowed; never free them.
 */
#ifndef JIESU_CASEFSM_H
#define JIESU_CASEFSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"

/* The nine states, spelt in SQL and JSON exactly as casefsm_state_to_str() returns.
 * CASEFSM_STATE_NONE is ∅, "no case yet": only `receive` starts from it, and it is
 * never stored (case_events.from_state is NULL for case.received). */
typedef enum casefsm_state {
    CASEFSM_STATE_NONE = 0,
    CASEFSM_STATE_RECEIVED,    /* received */
    CASEFSM_STATE_ACCEPTED,    /* accepted */
    CASEFSM_STATE_REJECTED,    /* rejected */
    CASEFSM_STATE_DUPLICATE,   /* duplicate */
    CASEFSM_STATE_DISPATCHED,  /* dispatched */
    CASEFSM_STATE_IN_PROGRESS, /* in_progress */
    CASEFSM_STATE_RESOLVED,    /* resolved */
    CASEFSM_STATE_CLOSED,      /* closed */
    CASEFSM_STATE_ARCHIVED,    /* archived */
    CASEFSM_STATE_COUNT
} casefsm_state_t;

/* Actions, spelt as casefsm_action_to_str() returns. 0 is deliberately not an action so
 * that zeroed memory never means "receive". */
typedef enum casefsm_action {
    CASEFSM_ACTION_NONE = 0,
    CASEFSM_ACTION_RECEIVE,           /* receive */
    CASEFSM_ACTION_ACCEPT,            /* accept */
    CASEFSM_ACTION_REJECT,            /* reject */
    CASEFSM_ACTION_MARK_DUPLICATE,    /* mark_duplicate */
    CASEFSM_ACTION_ANSWER,            /* answer */
    CASEFSM_ACTION_DISPATCH,          /* dispatch */
    CASEFSM_ACTION_SIGN,              /* sign */
    CASEFSM_ACTION_RETURN,            /* return */
    CASEFSM_ACTION_ESCALATE,          /* escalate */
    CASEFSM_ACTION_HAND_DOWN,         /* hand_down */
    CASEFSM_ACTION_DECIDE_REMIT,      /* decide_remit */
    CASEFSM_ACTION_RECORD_CONTACT,    /* record_contact */
    CASEFSM_ACTION_NOTE_PROGRESS,     /* note_progress */
    CASEFSM_ACTION_AGREE_DEADLINE,    /* agree_deadline */
    CASEFSM_ACTION_REQUEST_EXTENSION, /* request_extension */
    CASEFSM_ACTION_DECIDE_EXTENSION,  /* decide_extension */
    CASEFSM_ACTION_SUBMIT_PART,       /* submit_part */
    CASEFSM_ACTION_ADD_MATERIAL,      /* add_material */
    CASEFSM_ACTION_SUBMIT_RESULT,     /* submit_result */
    CASEFSM_ACTION_RECORD_REVISIT,    /* record_revisit */
    CASEFSM_ACTION_CLOSE,             /* close */
    CASEFSM_ACTION_REDO,              /* redo */
    CASEFSM_ACTION_TERMINATE,         /* terminate */
    CASEFSM_ACTION_ARCHIVE,           /* archive */
    CASEFSM_ACTION_UNLINK_DUPLICATE,  /* unlink_duplicate */
    CASEFSM_ACTION_COUNT
} casefsm_action_t;

/* Who acts: the principal roles of the principals table plus `system` for the daemons.
 * CASEFSM_ROLE_NONE (anonymous) is refused every action. */
typedef enum casefsm_role {
    CASEFSM_ROLE_NONE = 0,
    CASEFSM_ROLE_ENTERPRISE, /* enterprise */
    CASEFSM_ROLE_AGENT,      /* agent */
    CASEFSM_ROLE_CENTRE,     /* centre */
    CASEFSM_ROLE_UNIT,       /* unit */
    CASEFSM_ROLE_SUPERVISOR, /* supervisor */
    CASEFSM_ROLE_LEADER,     /* leader */
    CASEFSM_ROLE_DISCIPLINE, /* discipline */
    CASEFSM_ROLE_OPERATOR,   /* operator */
    CASEFSM_ROLE_SYSTEM,     /* system */
    CASEFSM_ROLE_COUNT
} casefsm_role_t;

/* The answer of casefsm_apply(). HTTP handlers map FORBIDDEN to 403, BAD_STATE to 409
 * (reload the case and decide again) and INVALID to a programming error. */
typedef enum casefsm_result {
    CASEFSM_OK = 0,
    CASEFSM_BAD_STATE, /* the action is not allowed from this state */
    CASEFSM_FORBIDDEN, /* this role may never take this action */
    CASEFSM_INVALID    /* an argument is out of range (not a state, action or role) */
} casefsm_result_t;

/* Bit masks over the enums above: state s is bit (1u << s), and so on. */
#define CASEFSM_BIT(x) (1u << (unsigned)(x))

/* One row of the transition table. `from_mask` holds a bit per state the action may
 * start from (bit 0 is ∅, used only by receive). `to` is the state it leads to, or
 * CASEFSM_STATE_NONE when the action keeps whatever state it started from. */
typedef struct casefsm_rule {
    casefsm_action_t action;
    const char *name;       /* "dispatch" */
    const char *event_type; /* "case.dispatched" */
    unsigned from_mask;     /* CASEFSM_BIT(state) for each allowed from-state */
    casefsm_state_t to;     /* CASEFSM_STATE_NONE: unchanged */
    unsigned role_mask;     /* CASEFSM_BIT(role) for each allowed role */
    const char *label_zh;   /* the offices' word for it, for documents: "转办" */
} casefsm_rule_t;

/* --- names ------------------------------------------------------------------------- */

/* "received" … "archived"; NULL for CASEFSM_STATE_NONE and anything out of range. */
const char *casefsm_state_to_str(casefsm_state_t s);
/* Exact, case-sensitive match of the nine names; NULL or anything else is -1 and leaves
 * *out untouched. */
JS_MUST_CHECK int casefsm_state_from_str(const char *str, casefsm_state_t *out);

/* "receive" … "archive"; NULL for CASEFSM_ACTION_NONE and anything out of range. */
const char *casefsm_action_to_str(casefsm_action_t a);
JS_MUST_CHECK int casefsm_action_from_str(const char *str, casefsm_action_t *out);

/* "enterprise" … "system"; NULL for CASEFSM_ROLE_NONE and anything out of range. */
const char *casefsm_role_to_str(casefsm_role_t r);
JS_MUST_CHECK int casefsm_role_from_str(const char *str, casefsm_role_t *out);

/* "ok", "bad_state", "forbidden", "invalid"; "unknown" for anything else (never NULL,
 * so it is safe in a log line). */
const char *casefsm_result_to_str(casefsm_result_t r);

/* The event type an action writes ("case.dispatched"); NULL for a non-action. */
const char *casefsm_event_type(casefsm_action_t a);
/* The reverse, for consumers that see only the envelope's type: "case.signed" → sign. */
JS_MUST_CHECK int casefsm_action_from_event_type(const char *type, casefsm_action_t *out);

/* --- the machine ------------------------------------------------------------------- */

/*
 * May `who` take action `a` on a case in state `from`, and where does it lead?
 * On CASEFSM_OK stores the resulting state in *to and the borrowed static event type in
 * *event_type (either pointer may be NULL when the caller only asks); on any other
 * result neither is written. The role is checked before the state, so a principal who
 * may never take an action learns nothing about the case's state from the answer.
 */
JS_MUST_CHECK casefsm_result_t casefsm_apply(casefsm_state_t from, casefsm_action_t a,
                                             casefsm_role_t who, casefsm_state_t *to,
                                             const char **event_type);

/* The actions `who` may take right now on a case in state `from`, as a mask of
 * CASEFSM_BIT(action); 0 when there are none or an argument is out of range. This is
 * what a client shows as buttons. */
unsigned casefsm_actions_available(casefsm_state_t from, casefsm_role_t who);

/* True for received, accepted, dispatched, in_progress and resolved (a resolved case is
 * still waiting for its revisit); false for the four final states rejected, duplicate,
 * closed, archived, and for NONE or anything out of range. The cases table keeps
 * closed_at set exactly when a case is not open. */
bool casefsm_is_open(casefsm_state_t s);

/* --- the table itself, for documents and tests ------------------------------------- */

/* Number of rows (one per action, CASEFSM_ACTION_COUNT - 1). */
size_t casefsm_rule_count(void);
/* Row i in lifecycle order, borrowed and static; NULL when i >= casefsm_rule_count(). */
const casefsm_rule_t *casefsm_rule_at(size_t i);
/* The row for one action; NULL for a non-action. */
const casefsm_rule_t *casefsm_rule_for(casefsm_action_t a);

/* Prints the transition table and the state list as Markdown (the source of the
 * lifecycle section in docs). Returns 0, or -1 when writing to `out` failed. */
JS_MUST_CHECK int casefsm_table_markdown(FILE *out);

#endif
