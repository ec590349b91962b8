/*
 * rules.h — the revisit's decisions as pure functions: a rating on the locality's scale, the
 * check of the unit's claimed contacts, what a call leads to (close, redo, escalate, retry),
 * who is referred to discipline inspection, which cases go to the 直通车 meeting list (seed 002),
 * the reproducible look-back sample (回头看) and the HTML escaping of printed forms.
 *
 * Nothing here touches a database, a clock or the network: the same inputs give the same
 * answer, so tests/unit/test_revisit_rules.c walks every branch. The service's handlers
 * gather the facts from PostgreSQL, ask these functions, and write what they decide.
 * Every function is reentrant; returned strings are static unless said otherwise.
 */
#ifndef JIESU_REVISIT_RULES_H
#define JIESU_REVISIT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "event.h"
#include "policy.h"

/* ---- the satisfaction scale -------------------------------------------------------- */

/* A rating as the enterprise gave it. declined: the enterprise chose not to rate (rating is
 * voluntary); then level is -1 and code is EVENT_SATISFACTION_DECLINED. */
typedef struct {
    bool declined;
    int level;                  /* 0 = best label of the profile's scale */
    bool satisfies;             /* counts as satisfied (满意率's numerator) */
    event_satisfaction_t code;  /* the contract's five-level code the label maps to */
    const char *label;          /* the profile's own label (borrowed from the profile), or
                                   "declined" */
} rvs_rating_t;

/*
 * The contract code of level `level` on profile p's scale. The contract has five codes; a
 * scale's satisfied levels map from the bottom up (the last satisfied label is
 * basically_satisfied, the one above it satisfied, all above that very_satisfied) and its
 * unsatisfied levels from the top down (the first is unsatisfied, all below very_unsatisfied).
 * Five-level scales map one to one; 滕州's 非常/比较/基本满意/不满意 to very_satisfied,
 * satisfied, basically_satisfied, unsatisfied. EVENT_SATISFACTION_UNSET out of range.
 */
event_satisfaction_t rvs_level_code(const policy_t *p, int level);

/*
 * Reads what a client sent as the rating: one of the profile's labels ("比较满意"), the
 * contract code of a level the scale has ("satisfied"), or "declined". -1 for anything else
 * (a five-level code on a four-level scale that has no level mapping to it included); the
 * caller names the field and lists rvs_scale_describe().
 */
JS_MUST_CHECK int rvs_rating_parse(const policy_t *p, const char *s, rvs_rating_t *out);

/* "非常满意, 比较满意, 基本满意, 不满意 (or their codes …), or declined" into buf. */
void rvs_scale_describe(const policy_t *p, char *buf, size_t len);

/* ---- the unit's claimed contacts --------------------------------------------------- */

/* What the enterprise said about the contacts the unit recorded (case.contact_recorded with
 * reached = true are the claims). */
typedef struct {
    size_t n_claimed;          /* claimed (reached) contacts on the case */
    bool confirmed;            /* the enterprise confirms the unit contacted it */
    size_t n_disputed;         /* claimed contacts the enterprise names as never happening */
} rvs_contact_facts_t;

typedef struct {
    bool verified;   /* there were claims and the enterprise confirmed them all */
    bool fraud;      /* a claimed contact did not happen (seed 004: 提供虚假信息) */
} rvs_contact_check_t;

/* No claims and no contact is not fraud (nothing was claimed), and not verified either. */
rvs_contact_check_t rvs_contact_check(const rvs_contact_facts_t *f);

/* ---- what a call leads to ------------------------------------------------------------ */

typedef enum {
    RVS_OUT_RETRY = 0,     /* not reached, tries left: the task stays open */
    RVS_OUT_CLOSE,         /* close the case (basis in close_basis) */
    RVS_OUT_REDO,          /* second handling (case.redo_ordered) */
    RVS_OUT_ESCALATE,      /* unsatisfied again: complex, up a tier, review form */
    RVS_OUT_RECORDED,      /* look-back or last round: recorded, the case does not move */
    RVS_OUT_VERIFY         /* self-rating that denies the unit's contact: a supervisor calls */
} rvs_outcome_t;

typedef enum { RVS_TASK_ROUTINE = 0, RVS_TASK_LOOKBACK } rvs_task_kind_t;

typedef struct {
    rvs_task_kind_t kind;
    int handling_round;       /* 1..10: the round whose result is revisited */
    int prior_attempts;       /* calls already recorded on this task */
    int unreachable_after;    /* profile revisit.unreachable_after */
    bool reached;
    bool self_rating;         /* the enterprise rated online (not a supervisor's call) */
    bool result_true;         /* 属实 (only when reached) */
    rvs_rating_t rating;       /* only when reached */
    rvs_contact_check_t contact;
} rvs_call_facts_t;

typedef struct {
    rvs_outcome_t outcome;
    event_close_basis_t close_basis;   /* RVS_OUT_CLOSE */
    bool resolved;                     /* RVS_OUT_CLOSE: case.closed's `resolved` */
    event_redo_reason_t redo_reason;   /* RVS_OUT_REDO, RVS_OUT_ESCALATE (the hop's reason) */
    bool bulletin;                     /* an entry in the bulletin (通报) */
    const char *bulletin_reason;       /* unsatisfied, result_untrue, unsatisfied_again,
                                          lookback_unsatisfied, lookback_untrue */
    bool fraud_notice;                 /* a supervision notice for a claimed contact that did
                                          not happen (never on a self-rating alone) */
} rvs_decision_t;

/* The rule of DOMAIN.md §5 and seeds 000/001/003/004 (see services/revisit/README.md). */
rvs_decision_t rvs_decide(const rvs_call_facts_t *f);

const char *rvs_outcome_str(rvs_outcome_t o);

/* ---- discipline inspection (线索移送) ------------------------------------------------- */

typedef enum {
    RVS_FAULT_NONE = 0,
    RVS_FAULT_BUCK_PASSING, /* buck_passing 推诿 */
    RVS_FAULT_PERFUNCTORY,  /* perfunctory 敷衍 */
    RVS_FAULT_DELAY,        /* delay 拖延 */
    RVS_FAULT_COUNT
} rvs_fault_t;

const char *rvs_fault_str(rvs_fault_t f);
JS_MUST_CHECK int rvs_fault_from_str(const char *s, rvs_fault_t *out);

/* Is a referral to discipline inspection due? Only where the profile refers leads at all
 * (supervision.discipline_referral, or redo.after_second_unsatisfied discipline_referral),
 * and only where the unit was at fault: a claimed contact that did not happen, or unsatisfied
 * again after a second handling because of buck-passing, perfunctoriness or delay.
 * *basis (static) names the lead: contact_fraud, buck_passing, perfunctory, delay. */
bool rvs_referral_due(const policy_t *p, const rvs_decision_t *d, bool fraud, rvs_fault_t fault,
                     const char **basis);

/* The level of the notice for a claimed contact that did not happen: 3 (约谈, seed 001
 * 弄虚作假) where the profile has interviews, else 2 (整改通知书). */
int rvs_fraud_notice_level(const policy_t *p);

/* The tier a case escalates to from `tier` (1 province … 4 township): one up, the province
 * staying the province. */
int rvs_escalation_tier(int tier);
/* "province", "city", "county", "township" for 1..4; NULL otherwise. */
const char *rvs_tier_str(int tier);

/* ---- the 直通车 meeting list (seed 002 四) ------------------------------------------- */

typedef struct {
    bool suggestion;            /* kind is suggestion */
    bool open;                  /* the case is not closed or archived */
    bool closed_satisfied;      /* closed on a satisfied revisit */
    bool unsatisfied;           /* the latest reached revisit was unsatisfied or untrue */
    bool escalated_unsatisfied; /* escalated after being unsatisfied again */
    int active_units;           /* units holding the case now (lead + co-handlers) */
    bool overdue;               /* open and past its deadline */
    int redo_count;             /* redo orders so far */
    bool nominated_typical;     /* nominated as a typical suggestion (criterion 3) */
    bool nominated_leader;      /* a leader's instruction (criterion 4) */
    bool enterprise_declined;   /* the enterprise asked not to go to the meeting */
} rvs_meeting_facts_t;

/* Bits of the criteria met (四(一) 1–4) and the exclusion that applies (四(二) 1–4). */
#define RVS_MEET_UNSOLVED (1u << 0)    /* 1 仍然未能解决或企业仍不满意 */
#define RVS_MEET_MULTI_UNIT (1u << 1)  /* 2 涉及多个部门，牵头部门无法协调 */
#define RVS_MEET_TYPICAL (1u << 2)     /* 3 具有典型代表意义的意见建议 */
#define RVS_MEET_LEADER (1u << 3)      /* 4 上级领导批示或指示 */

typedef enum {
    RVS_EXCL_NONE = 0,
    RVS_EXCL_GENERAL_SUGGESTION,  /* 1 一般性的意见建议类 */
    RVS_EXCL_CLOSED_SATISFIED,    /* 2 已办结并经回访确认满意 */
    RVS_EXCL_PROGRESSING,         /* 3 正在办理且推进正常 */
    RVS_EXCL_ENTERPRISE_DECLINED, /* 4 诉求人主动提出不予上会 */
    RVS_EXCL_NO_CRITERION         /* no criterion met: not a candidate at all */
} rvs_meeting_exclusion_t;

typedef struct {
    unsigned criteria;                 /* RVS_MEET_* bits met */
    rvs_meeting_exclusion_t exclusion;  /* RVS_EXCL_NONE = proposed */
} rvs_meeting_t;

rvs_meeting_t rvs_meeting_decide(const rvs_meeting_facts_t *f);
/* "unsolved_or_unsatisfied", "multi_unit", "typical_suggestion", "leader_instruction" for
 * one bit; NULL otherwise. */
const char *rvs_meeting_criterion_str(unsigned bit);
const char *rvs_meeting_exclusion_str(rvs_meeting_exclusion_t e);

/* ---- the look-back sample (回头看) --------------------------------------------------- */

/* How many of n cases a sample at percent takes: ceil(n × percent / 100), 0 for n = 0. */
size_t rvs_sample_size(size_t n, int percent);

/* The rank key of one case: lowercase hex SHA-256 of "<seed>:<case id>" into out[65]. */
void rvs_sample_key(const char *seed, const char *case_id, char out[65]);

/*
 * Chooses rvs_sample_size(n, percent) of the n case ids (lowercase UUIDs): those whose rank
 * keys are smallest (ties, impossible in practice, by id). Anyone holding the seed and the
 * population can repeat the draw — that is what makes it auditable. chosen[i] is set to
 * true for the chosen; the caller's array of n. Returns the count, or -1 when out of memory.
 */
int rvs_sample_choose(const char *seed, const char *const *ids, size_t n, int percent,
                     bool *chosen);

/* SHA-256 (hex) of the population: the ids sorted, joined by "\n". -1 when out of memory. */
JS_MUST_CHECK int rvs_population_digest(const char *const *ids, size_t n, char out[65]);

/* ---- printing ------------------------------------------------------------------------ */

/* HTML-escapes s (& < > " ') into a new string the caller frees; NULL out of memory.
 * NULL input gives "". */
char *rvs_html_escape(const char *s);

#endif
