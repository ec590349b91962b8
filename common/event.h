/*
 * event.h — the event contract in C: the envelope every jiesu event travels in, one typed
 * payload struct per event type, and one codec per type that encodes the struct into the
 * payload JSON and decodes and validates a payload JSON into the struct.
 *
 * The contract itself lives in proto/events/ (one schema file per type); this module is its only C
 * implementation. The codecs are table-driven: each type has a descriptor (a table of
 * event_field_t) used by both directions, so what is encoded is exactly what is accepted.
 * tests/unit/test_event.c checks every descriptor against its schema file (field names,
 * required fields, enums, limits, examples) so the two cannot drift.
 *
 * Validation is strict: required fields, JSON types, enum values, string lengths counted
 * in Unicode code points, UTF-8, UUID and RFC 3339 formats, and no unknown fields. Error
 * messages name the field as a path: "payload.finding: must be one of true, partly_true,
 * untrue". Encoders apply the same validation to what they produce, so an invalid event
 * never leaves a producer.
 *
 * Ownership: payload structs own their heap parts (TEXT strings, lists). A successful
 * decode hands those to the caller, who releases them with event_clear() (envelope) or
 * event_<type>_clear() (payload struct alone). A failed decode leaves nothing to free.
 * Thread safety: every function is reentrant; the descriptor tables are immutable.
 */
#ifndef JIESU_EVENT_H
#define JIESU_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "compat.h"

/* ---- topics and sizes ------------------------------------------------------------- */

#define EVENT_TOPIC_CASE "jiesu.case-events" /* keyed by case_id */
#define EVENT_TOPIC_UNIT "jiesu.unit-events" /* keyed by unit_id (decimal) */

#define EVENT_UUID_SIZE 37        /* 36 characters, lowercase, + NUL */
#define EVENT_TIME_SIZE 36        /* "YYYY-MM-DDTHH:MM:SS.fffffffff+hh:mm" + NUL */
#define EVENT_CREDIT_CODE_SIZE 19 /* 统一社会信用代码, 18 characters + NUL */
#define EVENT_REGION_CODE_SIZE 13 /* 6, 9 or 12 digits + NUL */
#define EVENT_CASE_NO_SIZE 33     /* 6..32 characters + NUL */
#define EVENT_ACTOR_NAME_MAX 200  /* code points (principals.name allows 200) */
#define EVENT_ACTOR_NAME_SIZE (EVENT_ACTOR_NAME_MAX * 4 + 1)
#define EVENT_KEY_SIZE 37         /* enough for a case_id or a decimal unit id */

/* ---- event types ------------------------------------------------------------------- */

typedef enum {
    EVENT_TYPE_NONE = 0,
    EVENT_CASE_RECEIVED,
    EVENT_CASE_ACCEPTED,
    EVENT_CASE_REJECTED,
    EVENT_CASE_DUPLICATE,
    EVENT_CASE_ANSWERED,
    EVENT_CASE_DISPATCHED,
    EVENT_CASE_SIGNED,
    EVENT_CASE_RETURNED,
    EVENT_CASE_ESCALATED,
    EVENT_CASE_HANDED_DOWN,
    EVENT_CASE_REMIT_DECIDED,
    EVENT_CASE_CONTACT_RECORDED,
    EVENT_CASE_PROGRESS_NOTED,
    EVENT_CASE_DEADLINE_AGREED,
    EVENT_CASE_EXTENSION_REQUESTED,
    EVENT_CASE_EXTENSION_DECIDED,
    EVENT_CASE_PART_SUBMITTED,
    EVENT_CASE_MATERIAL_ADDED,
    EVENT_CASE_RESULT_SUBMITTED,
    EVENT_CASE_REVISIT_RECORDED,
    EVENT_CASE_CLOSED,
    EVENT_CASE_REDO_ORDERED,
    EVENT_CASE_TERMINATED,
    EVENT_CASE_ARCHIVED,
    EVENT_CASE_DUPLICATE_UNLINKED,
    EVENT_TIMER_WARNED,
    EVENT_TIMER_BREACHED,
    EVENT_SUPERVISION_ISSUED,
    EVENT_CARD_ISSUED,
    EVENT_TYPE_COUNT /* one past the last type; not a type */
} event_type_t;

/* ---- enumerations -------------------------------------------------------------------
 * Every enum starts with _UNSET = 0: "absent" for an optional field, an encode error for
 * a required one. The JSON spelling of each value is the lowercase suffix of its name
 * (EVENT_FINDING_PARTLY_TRUE is "partly_true"); the tables in event.c are checked
 * against the schemas' enum arrays by the unit test.
 */

typedef enum {
    EVENT_ROLE_UNSET = 0,
    EVENT_ROLE_ENTERPRISE,
    EVENT_ROLE_AGENT,
    EVENT_ROLE_CENTRE,
    EVENT_ROLE_UNIT,
    EVENT_ROLE_SUPERVISOR,
    EVENT_ROLE_LEADER,
    EVENT_ROLE_DISCIPLINE,
    EVENT_ROLE_OPERATOR,
    EVENT_ROLE_SYSTEM,
    EVENT_ROLE_COUNT
} event_role_t;

typedef enum {
    EVENT_KIND_UNSET = 0,
    EVENT_KIND_CONSULTATION,
    EVENT_KIND_HELP,
    EVENT_KIND_COMPLAINT,
    EVENT_KIND_REPORT,
    EVENT_KIND_SUGGESTION
} event_kind_t;

typedef enum {
    EVENT_CHANNEL_UNSET = 0,
    EVENT_CHANNEL_WEB,
    EVENT_CHANNEL_HOTLINE,
    EVENT_CHANNEL_WINDOW,
    EVENT_CHANNEL_FIELD_VISIT,
    EVENT_CHANNEL_SOLICITATION,
    EVENT_CHANNEL_MINI_PROGRAM,
    EVENT_CHANNEL_QR_CODE,
    EVENT_CHANNEL_EMAIL,
    EVENT_CHANNEL_UPPER_TRANSFER
} event_channel_t;

typedef enum {
    EVENT_REJECT_UNSET = 0,
    EVENT_REJECT_STATE_SECRET,
    EVENT_REJECT_MILITARY_SECURITY,
    EVENT_REJECT_NON_GOVERNMENT_REMIT,
    EVENT_REJECT_IN_LEGAL_PROCEDURE,
    EVENT_REJECT_CONCLUDED_NO_NEW_FACTS,
    EVENT_REJECT_EMERGENCY_110_119_120_122,
    EVENT_REJECT_CIVIL_DISPUTE,
    EVENT_REJECT_UNCLEAR_OR_UNREACHABLE,
    EVENT_REJECT_UNLAWFUL_OR_PUBLIC_ORDER,
    EVENT_REJECT_HARMS_OTHERS_RIGHTS,
    EVENT_REJECT_OUTSIDE_REGION
} event_reject_reason_t;

typedef enum {
    EVENT_COMPLEXITY_UNSET = 0,
    EVENT_COMPLEXITY_SIMPLE,
    EVENT_COMPLEXITY_GENERAL,
    EVENT_COMPLEXITY_COMPLEX
} event_complexity_t;

typedef enum {
    EVENT_DUPLICATE_UNSET = 0,
    EVENT_DUPLICATE_SAME_MATTER_OPEN,
    EVENT_DUPLICATE_ADDITIONAL_MATERIAL
} event_duplicate_basis_t;

typedef enum {
    EVENT_HOW_TOLD_UNSET = 0,
    EVENT_HOW_TOLD_PHONE,
    EVENT_HOW_TOLD_SMS,
    EVENT_HOW_TOLD_IN_PERSON,
    EVENT_HOW_TOLD_LETTER,
    EVENT_HOW_TOLD_ONLINE,
    EVENT_HOW_TOLD_EMAIL
} event_how_told_t;

typedef enum {
    EVENT_TIER_UNSET = 0,
    EVENT_TIER_PROVINCE,
    EVENT_TIER_CITY,
    EVENT_TIER_COUNTY,
    EVENT_TIER_TOWNSHIP
} event_tier_t;

typedef enum {
    EVENT_DISPATCH_UNSET = 0,
    EVENT_DISPATCH_CATALOGUE,
    EVENT_DISPATCH_CENTRE_DECISION,
    EVENT_DISPATCH_JOINT_MEETING
} event_dispatch_basis_t;

typedef enum {
    EVENT_RETURN_UNSET = 0,
    EVENT_RETURN_NOT_IN_REMIT,
    EVENT_RETURN_WRONG_REGION,
    EVENT_RETURN_INSUFFICIENT_INFORMATION,
    EVENT_RETURN_OTHER
} event_return_reason_t;

typedef enum {
    EVENT_ESCALATION_UNSET = 0,
    EVENT_ESCALATION_BEYOND_TIER_CAPACITY,
    EVENT_ESCALATION_UNSATISFIED_AGAIN,
    EVENT_ESCALATION_MULTI_UNIT,
    EVENT_ESCALATION_OVERDUE,
    EVENT_ESCALATION_LEADER_INSTRUCTION,
    EVENT_ESCALATION_OUTSIDE_REMIT
} event_escalation_reason_t;

typedef enum {
    EVENT_REMIT_UNSET = 0,
    EVENT_REMIT_CENTRE_RULING,
    EVENT_REMIT_JOINT_MEETING
} event_remit_basis_t;

typedef enum {
    EVENT_CONTACT_UNSET = 0,
    EVENT_CONTACT_PHONE,
    EVENT_CONTACT_SMS,
    EVENT_CONTACT_IN_PERSON,
    EVENT_CONTACT_FIELD_VISIT,
    EVENT_CONTACT_VIDEO,
    EVENT_CONTACT_ONLINE_MESSAGE,
    EVENT_CONTACT_EMAIL
} event_contact_channel_t;

typedef enum {
    EVENT_DEADLINE_UNSET = 0,
    EVENT_DEADLINE_ENTERPRISE_AGREEMENT,
    EVENT_DEADLINE_HANDLING_PLAN
} event_deadline_basis_t;

typedef enum {
    EVENT_EXTENSION_UNSET = 0,
    EVENT_EXTENSION_APPROVED,
    EVENT_EXTENSION_REJECTED
} event_extension_decision_t;

typedef enum {
    EVENT_MATERIAL_UNSET = 0,
    EVENT_MATERIAL_ENTERPRISE,
    EVENT_MATERIAL_LEAD_UNIT,
    EVENT_MATERIAL_CO_HANDLER,
    EVENT_MATERIAL_CENTRE
} event_material_source_t;

typedef enum {
    EVENT_FINDING_UNSET = 0,
    EVENT_FINDING_TRUE,
    EVENT_FINDING_PARTLY_TRUE,
    EVENT_FINDING_UNTRUE
} event_finding_t;

typedef enum {
    EVENT_REVISIT_UNSET = 0,
    EVENT_REVISIT_PHONE,
    EVENT_REVISIT_SMS,
    EVENT_REVISIT_FIELD_VISIT,
    EVENT_REVISIT_ONLINE_RATING
} event_revisit_channel_t;

typedef enum {
    EVENT_SATISFACTION_UNSET = 0,
    EVENT_SATISFACTION_VERY_SATISFIED,
    EVENT_SATISFACTION_SATISFIED,
    EVENT_SATISFACTION_BASICALLY_SATISFIED,
    EVENT_SATISFACTION_UNSATISFIED,
    EVENT_SATISFACTION_VERY_UNSATISFIED,
    EVENT_SATISFACTION_DECLINED
} event_satisfaction_t;

typedef enum {
    EVENT_CLOSE_UNSET = 0,
    EVENT_CLOSE_REVISIT_SATISFIED,
    EVENT_CLOSE_RATING_DECLINED,
    EVENT_CLOSE_REVISIT_UNREACHABLE,
    EVENT_CLOSE_CENTRE_DECISION
} event_close_basis_t;

typedef enum {
    EVENT_REDO_UNSET = 0,
    EVENT_REDO_UNSATISFIED,
    EVENT_REDO_RESULT_UNTRUE,
    EVENT_REDO_SUPERVISION_FINDING
} event_redo_reason_t;

typedef enum {
    EVENT_TERMINATION_UNSET = 0,
    EVENT_TERMINATION_CONCLUDED_RE_RAISED,
    EVENT_TERMINATION_ENTERPRISE_WITHDREW,
    EVENT_TERMINATION_ENTERPRISE_DEREGISTERED
} event_termination_basis_t;

typedef enum {
    EVENT_FINAL_UNSET = 0,
    EVENT_FINAL_CLOSED,
    EVENT_FINAL_REJECTED,
    EVENT_FINAL_DUPLICATE,
    EVENT_FINAL_TERMINATED
} event_final_state_t;

typedef enum {
    EVENT_TIMER_UNSET = 0,
    EVENT_TIMER_SIGN_FOR,
    EVENT_TIMER_FIRST_CONTACT,
    EVENT_TIMER_RESOLVE_BY,
    EVENT_TIMER_WEEKLY_PROGRESS,
    EVENT_TIMER_RESULT_TO_ENTERPRISE,
    EVENT_TIMER_REVISIT_BY,
    EVENT_TIMER_REDO_BY,
    EVENT_TIMER_SUPERVISION_REPLY
} event_timer_kind_t;

typedef enum {
    EVENT_SUPERVISION_UNSET = 0,
    EVENT_SUPERVISION_NOT_SIGNED,
    EVENT_SUPERVISION_OVERDUE,
    EVENT_SUPERVISION_REPEATED_UNHANDLED,
    EVENT_SUPERVISION_BUCK_PASSING,
    EVENT_SUPERVISION_REPEATED_UNSATISFIED,
    EVENT_SUPERVISION_IMPROPER_CLOSING,
    EVENT_SUPERVISION_FRAUD,
    EVENT_SUPERVISION_VIOLATION,
    EVENT_SUPERVISION_DERELICTION,
    EVENT_SUPERVISION_RULE_BREACH,
    EVENT_SUPERVISION_RETALIATION
} event_supervision_reason_t;

typedef enum {
    EVENT_COLOUR_UNSET = 0,
    EVENT_COLOUR_YELLOW,
    EVENT_COLOUR_RED
} event_card_colour_t;

typedef enum {
    EVENT_INTERVIEW_UNSET = 0,
    EVENT_INTERVIEW_NONE,
    EVENT_INTERVIEW_DEPUTY_HEAD,
    EVENT_INTERVIEW_PRINCIPAL_HEAD
} event_interview_t;

typedef enum {
    EVENT_CARD_REASON_UNSET = 0,
    EVENT_CARD_REASON_MISSED_FEEDBACK_DEADLINE,
    EVENT_CARD_REASON_CONSECUTIVE_YELLOW,
    EVENT_CARD_REASON_CONSECUTIVE_RED
} event_card_reason_t;

/* ---- field building blocks ----------------------------------------------------------
 * Conventions in the payload structs below:
 *   char *x              TEXT, owned (malloc'd), NULL = absent
 *   char x[N]            UUID / time / code, inline, "" = absent
 *   int64_t x            integer; an optional integer has minimum >= 1 and 0 = absent
 *   bool x               boolean; an optional one has a `bool has_x` beside it
 *   event_*_t x          enum, _UNSET = absent
 *   event_*_list_t x     array, owned, always present (may be empty where allowed)
 */

typedef struct {
    int64_t *items; /* owned, n elements */
    size_t n;
} event_id_list_t;

typedef struct {
    char (*items)[EVENT_UUID_SIZE]; /* owned, n elements */
    size_t n;
} event_uuid_list_t;

/* ---- payload structs, one per type --------------------------------------------------
 * Field names are the JSON member names; see proto/events/<type>.schema.json for the
 * meaning, limits and examples of each.
 */

typedef struct {
    char *name;                                 /* 1..100 */
    char credit_code[EVENT_CREDIT_CODE_SIZE];
} event_enterprise_t;

typedef struct { /* case.received */
    char case_no[EVENT_CASE_NO_SIZE];
    char region_code[EVENT_REGION_CODE_SIZE];
    event_kind_t kind;
    event_channel_t channel;
    event_enterprise_t enterprise;
    char *summary;                              /* 1..500 */
    bool confidential;
    char received_at[EVENT_TIME_SIZE];
} event_case_received_t;

typedef struct { /* case.accepted */
    event_complexity_t complexity;
    char *matter_type;                          /* 1..64 */
    char *review_note;                          /* optional, 1..500 */
} event_case_accepted_t;

typedef struct { /* case.rejected */
    event_reject_reason_t reason_code;
    char *reason_text;                          /* 1..500 */
    char referred_to_region_code[EVENT_REGION_CODE_SIZE]; /* iff outside_region */
} event_case_rejected_t;

typedef struct { /* case.duplicate */
    char original_case_id[EVENT_UUID_SIZE];
    char original_case_no[EVENT_CASE_NO_SIZE];
    event_duplicate_basis_t basis;
    int64_t forwarded_to_unit_id;               /* optional */
} event_case_duplicate_t;

typedef struct { /* case.answered */
    char *answer_summary;                       /* 1..2000 */
    event_how_told_t how_told;
    char revisit_by[EVENT_TIME_SIZE];           /* optional */
} event_case_answered_t;

typedef struct { /* case.dispatched */
    int64_t lead_unit_id;
    event_id_list_t co_handler_unit_ids;        /* 0..20, unique, not the lead */
    event_tier_t tier;
    int64_t catalogue_version;
    event_dispatch_basis_t basis;
    int64_t attempt;                            /* 1..100 */
    char sign_by[EVENT_TIME_SIZE];
} event_case_dispatched_t;

typedef struct { /* case.signed */
    int64_t unit_id;
    bool within_deadline;
    char first_contact_by[EVENT_TIME_SIZE];     /* optional */
    char resolve_by[EVENT_TIME_SIZE];           /* optional */
} event_case_signed_t;

typedef struct { /* case.returned */
    int64_t unit_id;
    event_return_reason_t reason_code;
    char *reason_text;                          /* 1..500 */
    int64_t suggested_unit_id;                  /* optional */
} event_case_returned_t;

typedef struct { /* case.escalated */
    event_tier_t to_tier;
    char to_region_code[EVENT_REGION_CODE_SIZE];
    event_escalation_reason_t reason_code;
    char *reason_text;                          /* 1..500 */
    int64_t leader_principal_id;                /* optional */
} event_case_escalated_t;

typedef struct { /* case.handed_down */
    event_tier_t to_tier;
    char to_region_code[EVENT_REGION_CODE_SIZE];
    char *instruction;                          /* 1..500 */
} event_case_handed_down_t;

typedef struct { /* case.remit_decided */
    int64_t lead_unit_id;
    event_id_list_t co_handler_unit_ids;        /* 0..20, unique, not the lead */
    event_id_list_t disputed_by_unit_ids;       /* 1..20, unique */
    event_remit_basis_t basis;
    char *decision_text;                        /* 1..500 */
} event_case_remit_decided_t;

typedef struct { /* case.contact_recorded */
    int64_t unit_id;
    char contact_record_id[EVENT_UUID_SIZE];
    char contacted_at[EVENT_TIME_SIZE];
    event_contact_channel_t channel;
    int64_t staff_principal_id;
    bool reached;
    bool first_contact;
} event_case_contact_recorded_t;

typedef struct { /* case.progress_noted */
    int64_t unit_id;
    char *note;                                 /* 1..1000 */
    char next_report_by[EVENT_TIME_SIZE];       /* optional */
} event_case_progress_noted_t;

typedef struct { /* case.deadline_agreed */
    int64_t unit_id;
    char resolve_by[EVENT_TIME_SIZE];
    event_deadline_basis_t basis;
    char *note;                                 /* optional, 1..500 */
} event_case_deadline_agreed_t;

typedef struct { /* case.extension_requested */
    int64_t unit_id;
    char request_id[EVENT_UUID_SIZE];
    char current_due_at[EVENT_TIME_SIZE];
    char requested_due_at[EVENT_TIME_SIZE];     /* later than current_due_at */
    char *reason_text;                          /* 1..500 */
    bool enterprise_informed;
} event_case_extension_requested_t;

typedef struct { /* case.extension_decided */
    char request_id[EVENT_UUID_SIZE];
    event_extension_decision_t decision;
    char resolve_by[EVENT_TIME_SIZE];           /* iff approved */
    char *decision_text;                        /* optional, 1..500 */
} event_case_extension_decided_t;

typedef struct { /* case.part_submitted */
    int64_t unit_id;
    int64_t lead_unit_id;
    char *summary;                              /* 1..2000 */
    event_uuid_list_t attachment_ids;           /* 0..20 */
} event_case_part_submitted_t;

typedef struct { /* case.material_added */
    char material_id[EVENT_UUID_SIZE];
    event_material_source_t source;
    event_uuid_list_t attachment_ids;           /* 1..50 */
    char *description;                          /* optional, 1..500 */
    char duplicate_case_id[EVENT_UUID_SIZE];    /* optional */
} event_case_material_added_t;

typedef struct { /* case.result_submitted */
    int64_t unit_id;
    int64_t handling_round;                     /* 1..10 */
    event_finding_t finding;
    char *measures;                             /* 1..2000 code points */
    event_how_told_t how_told;
    char told_at[EVENT_TIME_SIZE];
    bool within_deadline;
    event_uuid_list_t attachment_ids;           /* 0..20 */
    char revisit_by[EVENT_TIME_SIZE];           /* optional */
} event_case_result_submitted_t;

typedef struct { /* case.revisit_recorded */
    int64_t handling_round;                     /* 1..10 */
    int64_t attempt;                            /* 1..10 */
    event_revisit_channel_t channel;
    bool reached;
    bool has_contact_verified;                  /* has_* and satisfaction iff reached */
    bool contact_verified;
    bool has_result_true;
    bool result_true;
    event_satisfaction_t satisfaction;
    char *unsatisfied_reason;                   /* optional, only when (very_)unsatisfied */
    bool sampled;
    int64_t unit_id;                            /* optional (0 = absent): the unit revisited */
    event_uuid_list_t disputed_contact_ids;     /* 0 or 1..50; only when reached and not verified */
} event_case_revisit_recorded_t;

typedef struct { /* case.closed */
    event_close_basis_t basis;
    bool resolved;
    event_satisfaction_t satisfaction;          /* iff revisit_satisfied; a satisfied grade */
    int64_t handling_rounds;                    /* 1..10 */
    int64_t handling_working_days;              /* 0..3650 */
} event_case_closed_t;

typedef struct { /* case.redo_ordered */
    int64_t unit_id;
    int64_t handling_round;                     /* 2..10 */
    event_redo_reason_t reason_code;
    char redo_by[EVENT_TIME_SIZE];
    char *note;                                 /* optional, 1..500 */
} event_case_redo_ordered_t;

typedef struct { /* case.terminated */
    event_termination_basis_t basis;
    char *reason_text;                          /* 1..500 */
} event_case_terminated_t;

typedef struct { /* case.archived */
    char dossier_id[EVENT_UUID_SIZE];
    event_final_state_t final_state;
    int64_t document_count;                     /* 1..10000 */
    int64_t retention_years;                    /* 1..100 */
} event_case_archived_t;

typedef struct { /* case.duplicate_unlinked */
    char original_case_id[EVENT_UUID_SIZE];
    char *reason_text;                          /* 1..500 */
} event_case_duplicate_unlinked_t;

typedef struct { /* timer.warned, timer.breached */
    event_timer_kind_t kind;
    int64_t timer_version;                      /* >= 1 */
    char due_at[EVENT_TIME_SIZE];
    char fired_at[EVENT_TIME_SIZE];
    int64_t lateness_ms;                        /* >= 0 */
    int64_t unit_id;                            /* optional */
    char notice_id[EVENT_UUID_SIZE];            /* iff kind is supervision_reply */
} event_timer_fired_t;

typedef event_timer_fired_t event_timer_warned_t;
typedef event_timer_fired_t event_timer_breached_t;

typedef struct { /* supervision.issued */
    char notice_id[EVENT_UUID_SIZE];
    int64_t level;                              /* 1..3 */
    int64_t unit_id;
    char case_id[EVENT_UUID_SIZE];              /* optional */
    event_supervision_reason_t reason_code;
    char *reason_text;                          /* 1..500 */
    char reply_due_at[EVENT_TIME_SIZE];
} event_supervision_issued_t;

typedef struct { /* card.issued */
    char card_id[EVENT_UUID_SIZE];
    int64_t unit_id;
    event_card_colour_t colour;
    int64_t consecutive;                        /* 1..100 */
    event_interview_t interview_of;
    event_card_reason_t reason_code;
    char *reason_text;                          /* 1..500 */
    char case_id[EVENT_UUID_SIZE];              /* optional */
} event_card_issued_t;

/* ---- the envelope ------------------------------------------------------------------ */

typedef struct {
    int64_t principal_id;                       /* 0 = none (JSON null): the system */
    event_role_t role;
    char name[EVENT_ACTOR_NAME_SIZE];           /* 1..200 code points */
} event_actor_t;

typedef struct {
    char event_id[EVENT_UUID_SIZE];
    char case_id[EVENT_UUID_SIZE];              /* "" = null (unit events, unit timers) */
    int64_t unit_id;                            /* 0 = absent (case events) */
    event_type_t type;
    int schema_version;                         /* >= 1 */
    char occurred_at[EVENT_TIME_SIZE];
    event_actor_t actor;
    union {                                     /* the member named after `type` */
        event_case_received_t case_received;
        event_case_accepted_t case_accepted;
        event_case_rejected_t case_rejected;
        event_case_duplicate_t case_duplicate;
        event_case_answered_t case_answered;
        event_case_dispatched_t case_dispatched;
        event_case_signed_t case_signed;
        event_case_returned_t case_returned;
        event_case_escalated_t case_escalated;
        event_case_handed_down_t case_handed_down;
        event_case_remit_decided_t case_remit_decided;
        event_case_contact_recorded_t case_contact_recorded;
        event_case_progress_noted_t case_progress_noted;
        event_case_deadline_agreed_t case_deadline_agreed;
        event_case_extension_requested_t case_extension_requested;
        event_case_extension_decided_t case_extension_decided;
        event_case_part_submitted_t case_part_submitted;
        event_case_material_added_t case_material_added;
        event_case_result_submitted_t case_result_submitted;
        event_case_revisit_recorded_t case_revisit_recorded;
        event_case_closed_t case_closed;
        event_case_redo_ordered_t case_redo_ordered;
        event_case_terminated_t case_terminated;
        event_case_archived_t case_archived;
        event_case_duplicate_unlinked_t case_duplicate_unlinked;
        event_timer_warned_t timer_warned;
        event_timer_breached_t timer_breached;
        event_supervision_issued_t supervision_issued;
        event_card_issued_t card_issued;
    } payload;
} event_t;

/* ---- descriptors (read-only; exposed so tests and tools can walk the contract) ------ */

typedef enum {
    EVENT_FIELD_TEXT = 1, /* char *, owned; min..max code points */
    EVENT_FIELD_CODE,     /* char[size], inline; shape given by `format` */
    EVENT_FIELD_INT,      /* int64_t; min..max */
    EVENT_FIELD_BOOL,     /* bool; optional ones have a has_ flag at has_offset */
    EVENT_FIELD_ENUM,     /* C enum; values[i] spells value i + 1 */
    EVENT_FIELD_ID_LIST,  /* event_id_list_t; min..max items, each >= 1, unique */
    EVENT_FIELD_UUID_LIST, /* event_uuid_list_t; min..max items, unique */
    EVENT_FIELD_OBJECT    /* nested struct described by fields/nfields */
} event_field_kind_t;

typedef enum {
    EVENT_FORMAT_NONE = 0,
    EVENT_FORMAT_UUID,        /* lowercase 8-4-4-4-12 hex */
    EVENT_FORMAT_DATE_TIME,   /* RFC 3339 with an offset (Z or +hh:mm) */
    EVENT_FORMAT_CREDIT_CODE, /* 统一社会信用代码 alphabet, 18 characters */
    EVENT_FORMAT_REGION_CODE, /* 6, 9 or 12 digits */
    EVENT_FORMAT_CASE_NO      /* [0-9A-Z][0-9A-Z-]{5,31} */
} event_format_t;

#define EVENT_UNBOUNDED_MAX INT64_MAX /* `max` of an INT without a schema maximum */

typedef struct event_field {
    const char *name;
    event_field_kind_t kind;
    size_t offset;                /* of the member in its struct */
    size_t size;                  /* CODE: sizeof the char array */
    size_t has_offset;            /* optional BOOL: offset of its has_ flag */
    bool required;
    int64_t min, max;             /* TEXT: code points; INT: value; lists: items */
    event_format_t format;        /* CODE */
    const char *const *values;    /* ENUM */
    size_t nvalues;
    const struct event_field *fields; /* OBJECT */
    size_t nfields;
} event_field_t;

typedef enum {
    EVENT_SCOPE_CASE = 1,     /* case_id set, no unit_id; jiesu.case-events */
    EVENT_SCOPE_UNIT,         /* unit_id set, case_id or null; jiesu.unit-events */
    EVENT_SCOPE_CASE_OR_UNIT  /* timers: one or the other, routed accordingly */
} event_scope_t;

typedef struct {
    event_type_t type;
    const char *name;             /* "case.received" */
    int schema_version;           /* the newest version this build reads and writes */
    event_scope_t scope;
    size_t payload_size;          /* sizeof the payload struct */
    const event_field_t *fields;
    size_t nfields;
    /* Cross-field rules JSON Schema states with if/then (or cannot state); NULL if none. */
    int (*check)(const void *payload, char *err, size_t errlen);
} event_type_desc_t;

/* The descriptor of `type`, or NULL when it is not a type. Borrowed, static. */
const event_type_desc_t *event_type_desc(event_type_t type);

/* "case.received" for EVENT_CASE_RECEIVED; NULL when not a type. Borrowed, static. */
const char *event_type_name(event_type_t type);

/* The type called `name`, or EVENT_TYPE_NONE. */
event_type_t event_type_from_name(const char *name);

/* "agent" for EVENT_ROLE_AGENT; NULL when out of range. Borrowed, static. */
const char *event_role_name(event_role_t role);

/* The regular expression the schemas use for `format` (ECMA-262 syntax); NULL for NONE. */
const char *event_format_pattern(event_format_t format);

/* ---- generic payload codec (dispatching on type) ----------------------------------- */

/*
 * Encode the payload struct `payload` (of the struct type of `type`) into a new JSON
 * object, validated as the decoder would. On success *out is a new reference the caller
 * owns (json_decref). On failure *out is NULL and err names the field.
 */
JS_MUST_CHECK int event_payload_encode(event_type_t type, const void *payload, json_t **out,
                                       char *err, size_t errlen);

/*
 * Decode and validate the payload object `json` (borrowed) into `out` (the struct of
 * `type`, overwritten). On success the caller owns the heap parts of *out and releases
 * them with event_payload_clear(). On failure *out is zeroed and err names the field.
 */
JS_MUST_CHECK int event_payload_decode(event_type_t type, const json_t *json, void *out,
                                       char *err, size_t errlen);

/* Free the heap parts of a payload struct of `type` and zero it. NULL is a no-op. */
void event_payload_clear(event_type_t type, void *payload);

/* ---- one codec per message ----------------------------------------------------------
 * For each type T: event_T_encode / event_T_decode / event_T_clear behave as the generic
 * functions above with the type fixed (same ownership, same errors).
 */

JS_MUST_CHECK int event_case_received_encode(const event_case_received_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_received_decode(const json_t *json, event_case_received_t *out, char *err, size_t errlen);
void event_case_received_clear(event_case_received_t *p);

JS_MUST_CHECK int event_case_accepted_encode(const event_case_accepted_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_accepted_decode(const json_t *json, event_case_accepted_t *out, char *err, size_t errlen);
void event_case_accepted_clear(event_case_accepted_t *p);

JS_MUST_CHECK int event_case_rejected_encode(const event_case_rejected_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_rejected_decode(const json_t *json, event_case_rejected_t *out, char *err, size_t errlen);
void event_case_rejected_clear(event_case_rejected_t *p);

JS_MUST_CHECK int event_case_duplicate_encode(const event_case_duplicate_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_duplicate_decode(const json_t *json, event_case_duplicate_t *out, char *err, size_t errlen);
void event_case_duplicate_clear(event_case_duplicate_t *p);

JS_MUST_CHECK int event_case_answered_encode(const event_case_answered_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_answered_decode(const json_t *json, event_case_answered_t *out, char *err, size_t errlen);
void event_case_answered_clear(event_case_answered_t *p);

JS_MUST_CHECK int event_case_dispatched_encode(const event_case_dispatched_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_dispatched_decode(const json_t *json, event_case_dispatched_t *out, char *err, size_t errlen);
void event_case_dispatched_clear(event_case_dispatched_t *p);

JS_MUST_CHECK int event_case_signed_encode(const event_case_signed_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_signed_decode(const json_t *json, event_case_signed_t *out, char *err, size_t errlen);
void event_case_signed_clear(event_case_signed_t *p);

JS_MUST_CHECK int event_case_returned_encode(const event_case_returned_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_returned_decode(const json_t *json, event_case_returned_t *out, char *err, size_t errlen);
void event_case_returned_clear(event_case_returned_t *p);

JS_MUST_CHECK int event_case_escalated_encode(const event_case_escalated_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_escalated_decode(const json_t *json, event_case_escalated_t *out, char *err, size_t errlen);
void event_case_escalated_clear(event_case_escalated_t *p);

JS_MUST_CHECK int event_case_handed_down_encode(const event_case_handed_down_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_handed_down_decode(const json_t *json, event_case_handed_down_t *out, char *err, size_t errlen);
void event_case_handed_down_clear(event_case_handed_down_t *p);

JS_MUST_CHECK int event_case_remit_decided_encode(const event_case_remit_decided_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_remit_decided_decode(const json_t *json, event_case_remit_decided_t *out, char *err, size_t errlen);
void event_case_remit_decided_clear(event_case_remit_decided_t *p);

JS_MUST_CHECK int event_case_contact_recorded_encode(const event_case_contact_recorded_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_contact_recorded_decode(const json_t *json, event_case_contact_recorded_t *out, char *err, size_t errlen);
void event_case_contact_recorded_clear(event_case_contact_recorded_t *p);

JS_MUST_CHECK int event_case_progress_noted_encode(const event_case_progress_noted_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_progress_noted_decode(const json_t *json, event_case_progress_noted_t *out, char *err, size_t errlen);
void event_case_progress_noted_clear(event_case_progress_noted_t *p);

JS_MUST_CHECK int event_case_deadline_agreed_encode(const event_case_deadline_agreed_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_deadline_agreed_decode(const json_t *json, event_case_deadline_agreed_t *out, char *err, size_t errlen);
void event_case_deadline_agreed_clear(event_case_deadline_agreed_t *p);

JS_MUST_CHECK int event_case_extension_requested_encode(const event_case_extension_requested_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_extension_requested_decode(const json_t *json, event_case_extension_requested_t *out, char *err, size_t errlen);
void event_case_extension_requested_clear(event_case_extension_requested_t *p);

JS_MUST_CHECK int event_case_extension_decided_encode(const event_case_extension_decided_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_extension_decided_decode(const json_t *json, event_case_extension_decided_t *out, char *err, size_t errlen);
void event_case_extension_decided_clear(event_case_extension_decided_t *p);

JS_MUST_CHECK int event_case_part_submitted_encode(const event_case_part_submitted_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_part_submitted_decode(const json_t *json, event_case_part_submitted_t *out, char *err, size_t errlen);
void event_case_part_submitted_clear(event_case_part_submitted_t *p);

JS_MUST_CHECK int event_case_material_added_encode(const event_case_material_added_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_material_added_decode(const json_t *json, event_case_material_added_t *out, char *err, size_t errlen);
void event_case_material_added_clear(event_case_material_added_t *p);

JS_MUST_CHECK int event_case_result_submitted_encode(const event_case_result_submitted_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_result_submitted_decode(const json_t *json, event_case_result_submitted_t *out, char *err, size_t errlen);
void event_case_result_submitted_clear(event_case_result_submitted_t *p);

JS_MUST_CHECK int event_case_revisit_recorded_encode(const event_case_revisit_recorded_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_revisit_recorded_decode(const json_t *json, event_case_revisit_recorded_t *out, char *err, size_t errlen);
void event_case_revisit_recorded_clear(event_case_revisit_recorded_t *p);

JS_MUST_CHECK int event_case_closed_encode(const event_case_closed_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_closed_decode(const json_t *json, event_case_closed_t *out, char *err, size_t errlen);
void event_case_closed_clear(event_case_closed_t *p);

JS_MUST_CHECK int event_case_redo_ordered_encode(const event_case_redo_ordered_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_redo_ordered_decode(const json_t *json, event_case_redo_ordered_t *out, char *err, size_t errlen);
void event_case_redo_ordered_clear(event_case_redo_ordered_t *p);

JS_MUST_CHECK int event_case_terminated_encode(const event_case_terminated_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_terminated_decode(const json_t *json, event_case_terminated_t *out, char *err, size_t errlen);
void event_case_terminated_clear(event_case_terminated_t *p);

JS_MUST_CHECK int event_case_archived_encode(const event_case_archived_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_archived_decode(const json_t *json, event_case_archived_t *out, char *err, size_t errlen);
void event_case_archived_clear(event_case_archived_t *p);

JS_MUST_CHECK int event_case_duplicate_unlinked_encode(const event_case_duplicate_unlinked_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_case_duplicate_unlinked_decode(const json_t *json, event_case_duplicate_unlinked_t *out, char *err, size_t errlen);
void event_case_duplicate_unlinked_clear(event_case_duplicate_unlinked_t *p);

JS_MUST_CHECK int event_timer_warned_encode(const event_timer_warned_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_timer_warned_decode(const json_t *json, event_timer_warned_t *out, char *err, size_t errlen);
void event_timer_warned_clear(event_timer_warned_t *p);

JS_MUST_CHECK int event_timer_breached_encode(const event_timer_breached_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_timer_breached_decode(const json_t *json, event_timer_breached_t *out, char *err, size_t errlen);
void event_timer_breached_clear(event_timer_breached_t *p);

JS_MUST_CHECK int event_supervision_issued_encode(const event_supervision_issued_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_supervision_issued_decode(const json_t *json, event_supervision_issued_t *out, char *err, size_t errlen);
void event_supervision_issued_clear(event_supervision_issued_t *p);

JS_MUST_CHECK int event_card_issued_encode(const event_card_issued_t *p, json_t **out, char *err, size_t errlen);
JS_MUST_CHECK int event_card_issued_decode(const json_t *json, event_card_issued_t *out, char *err, size_t errlen);
void event_card_issued_clear(event_card_issued_t *p);

/* ---- the whole envelope ------------------------------------------------------------ */

/*
 * Prepare `ev` (caller's storage, overwritten without freeing) for a new event of `type`:
 * zeroes it, sets type and the current schema_version, a fresh event_id and occurred_at
 * = now. The caller fills case_id or unit_id, actor and the payload member. Fails only
 * when the kernel gives no random bytes or `type` is not a type.
 */
JS_MUST_CHECK int event_init(event_t *ev, event_type_t type);

/*
 * Serialise `ev` (borrowed) to compact UTF-8 JSON after validating it exactly as
 * event_decode() would. On success *out_json is a malloc'd NUL-terminated string the
 * caller frees with free(). On failure *out_json is NULL and err names the field.
 */
JS_MUST_CHECK int event_encode(const event_t *ev, char **out_json, char *err, size_t errlen);

/* The same envelope as a new JSON object (caller decrefs), validated the same way: for
 * writers that embed it in a larger document (bulk inserts). */
JS_MUST_CHECK int event_encode_json(const event_t *ev, json_t **out, char *err, size_t errlen);

/*
 * Parse and validate one event of `len` bytes (need not be NUL-terminated; duplicate
 * keys are rejected) into `out` (overwritten). On success the caller releases it with
 * event_clear(). On failure *out is zeroed and err holds a message that starts with the
 * field path ("payload.measures: ...", "event_id: ...", "json: ..." for syntax).
 * A schema_version newer than this build's is refused, naming the type.
 */
JS_MUST_CHECK int event_decode(const char *json, size_t len, event_t *out, char *err, size_t errlen);

/* Free what the payload owns and zero `ev` (the storage itself is the caller's). NULL is a no-op. */
void event_clear(event_t *ev);

/* EVENT_TOPIC_CASE or EVENT_TOPIC_UNIT for a valid `ev` (by its scope and case_id). Static. */
const char *event_topic(const event_t *ev);

/* Write the Kafka key (case_id, or the unit_id in decimal) into buf. -1 if it does not fit
 * or `ev` has neither. */
JS_MUST_CHECK int event_key(const event_t *ev, char *buf, size_t len);

/* ---- helpers ----------------------------------------------------------------------- */

/* Write a random (version 4) lowercase UUID into out. -1 if getrandom() fails. */
JS_MUST_CHECK int event_uuid_new(char out[EVENT_UUID_SIZE]);
/* A UUID as the contract writes them: 8-4-4-4-12 lowercase hexadecimal digits (NULL: false). */
bool event_uuid_valid(const char *s);

/* Write the current time as RFC 3339 in China Standard Time (+08:00, no DST), with
 * milliseconds: "2025-03-12T09:31:08.120+08:00". -1 if the clock cannot be read. */
JS_MUST_CHECK int event_now_rfc3339(char out[EVENT_TIME_SIZE]);

/* Parse an RFC 3339 timestamp with offset (the contract's date-time) into milliseconds
 * since the Unix epoch (fraction truncated to ms). -1 if it is not one. */
JS_MUST_CHECK int event_time_to_ms(const char *rfc3339, int64_t *out_ms);

#endif
