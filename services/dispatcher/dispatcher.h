/*
 * dispatcher.h — the dispatcher daemon's internal interfaces (not part of libcommon).
 *
 * casectx.c  what a transition needs beyond casestore_lock: the case's tier, deadlines,
 *            routing state and holders; the one UPDATE of cases; deadlines from the policy
 *            profile; replies, actors and the audit log
 * route.c    the consumer of jiesu.case-events and the dispatch itself (automatic from the
 *            catalogue, or into the centre's queue); shared with the centre's manual dispatch
 * centre.c   the dispatch centre's actions: dispatch, escalate, hand down, decide the remit,
 *            decide extensions
 * unit.c     the handling units' actions: sign, return, contact, agree a deadline, progress,
 *            ask an extension, co-handlers' parts, the result
 * views.c    the two queues, a case's handling state, and the assignment form (交办单, HTML)
 * admin.c    the territory and the responsibility catalogue by API: imports (provincial
 *            principals only, through common/territory.c and common/catalogue.c), versions,
 *            regions and units
 *
 * Everything runs on the daemon's loop thread; the HTTP handlers share daemon_pg(), the
 * consumer has its own connection (daemon_add_consumer).
 */
#ifndef JIESU_DISPATCHER_H
#define JIESU_DISPATCHER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "casestore.h"
#include "catalogue.h"
#include "config.h"
#include "daemon.h"
#include "event.h"
#include "http.h"
#include "metrics.h"
#include "pg.h"
#include "policy.h"

typedef struct {
    cfg_common_t common;
    char *policy_dir;        /* deploy/policies */
    char *calendar_dir;      /* deploy/calendar */
    char *default_sign_for;  /* sign-for window where a profile states none ("1wd") */
    long import_max_body;    /* bytes an import by API may send (routes above http_max_body) */
    long due_soon_hours;     /* the unit queue's "due soon": due within this many hours */
    bool auto_dispatch_complex; /* complex cases too are dispatched without the centre */
} dispatcher_config_t;

typedef struct dispatcher dispatcher_t;
typedef struct profile_cache profile_cache_t;

/* The statements of the hot path, prepared once per connection (dsp_exec). */
typedef enum {
    DSP_ST_LOAD = 0,    /* the case, its routing state and its holders */
    DSP_ST_ANCESTOR,    /* region_ancestor_at */
    DSP_ST_SAVE,        /* case_dispatch upsert */
    DSP_ST_UPDATE,      /* the UPDATE of cases */
    DSP_ST_RELEASE,     /* release the active holders */
    DSP_ST_LED_BEFORE,  /* did a unit lead the case before */
    DSP_ST_ROUTE,       /* the catalogue (catalogue_route_sql) */
    DSP_ST_PROFILE,     /* region_effective_profile */
    DSP_ST_DISPATCH,    /* a dispatch's holders, case row and routing state in one statement */
    DSP_ST_COUNT
} dsp_stmt_t;

#define DSP_PREP_SLOTS 4 /* connections: the HTTP handlers' and the consumer's, with room */

struct dispatcher {
    daemon_t *d;
    dispatcher_config_t *cfg;
    pg_t *pg; /* the HTTP handlers' connection */
    policy_set_t *policies;
    calendar_t *cal;
    policy_window_t default_sign_for;
    profile_cache_t *profiles;
    struct {
        pg_t *pg;
        int backend_pid;   /* a new session (reconnect, reset) has none of them prepared */
        unsigned prepared; /* bit per dsp_stmt_t */
    } prep[DSP_PREP_SLOTS];
    metric_t *m_auto, *m_queued, *m_manual, *m_actions, *m_refused, *m_lag;
};

/* ---- a case under a transition ----------------------------------------------------------- */

#define DSP_MAX_HOLDERS 24

typedef struct {
    long long unit_id;
    bool lead;
    bool signed_;
} dsp_holder_t;

/* The locked case: casestore's view plus what the dispatcher keeps (case_dispatch). Times are
 * milliseconds since the epoch, 0 for NULL. */
typedef struct {
    casestore_case_t cur;   /* as casestore_lock left it */
    int tier;               /* cases.tier: the tier now responsible */
    int region_tier;        /* the tier of the case's own region */
    char resp_region[16];   /* region_ancestor_at(region_code, tier): the responsible centre's */
    char complexity[16];
    bool confidential;
    int64_t due_ms;
    /* case_dispatch */
    bool has_dispatch;
    char matter_type[260];
    int catalogue_version; /* 0 = NULL */
    char route_basis[24];
    char queue[16];        /* "" = not queued */
    char queue_reason[64];
    int64_t queued_ms;
    int attempts, returns, handling_round, ext_granted, ext_count;
    int64_t remit_ms, dispatched_ms, sign_by_ms, resolve_by_ms, agreed_ms;
    char resolve_window[48];
    /* active case_units rows */
    dsp_holder_t holders[DSP_MAX_HOLDERS];
    size_t nholders;
} dsp_case_t;

/* Runs statement st, prepared on pg's session the first time (planning a statement costs more
 * than running it). Same contract as pg_query: 0 and *res (caller PQclear's), or -1 with
 * pg->last_class / sqlstate / err set. */
int dsp_exec(dispatcher_t *ds, pg_t *pg, dsp_stmt_t st, const char *const *params, PGresult **res) JS_MUST_CHECK;

/* After casestore_lock: loads the rest. matter_type_hint (may be NULL) names the matter type
 * when the case has no routing state yet (else it is taken from its case.accepted event).
 * 0, or -1 on a database error. */
int dsp_case_load(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, const char *matter_type_hint) JS_MUST_CHECK;
/* Writes c's routing state (INSERT … ON CONFLICT UPDATE). */
int dsp_state_save(dispatcher_t *ds, pg_t *pg, const dsp_case_t *c) JS_MUST_CHECK;
/* The holder row of unit_id, or NULL. */
const dsp_holder_t *dsp_holder(const dsp_case_t *c, long long unit_id);

/* The one UPDATE of a transition: state and version + 1, and what set_* asks. */
typedef struct {
    bool set_lead;
    long long lead;   /* 0 = NULL */
    bool set_due;
    int64_t due_ms;   /* 0 = NULL */
    bool set_tier;
    int tier;
} dsp_update_t;
int dsp_case_update(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, casefsm_state_t to,
                    const dsp_update_t *u) JS_MUST_CHECK;

/* A dispatch's writes in one round trip: case_units rows for lead and co-handlers (co_literal: a
 * bigint[] literal), the cases update (state `to`, version + 1, lead, due_at, tier) and c's
 * routing state (set it first, as for dsp_state_save). */
int dsp_dispatch_write(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, long long lead, const char *co_literal,
                       casefsm_state_t to, int64_t due_ms, int tier) JS_MUST_CHECK;

/* Records ev (history + outbox) as the transition from c's state to `to` that produced the
 * current version; then c->cur follows. err names the field when the codec refused it. */
int dsp_record(pg_t *pg, dsp_case_t *c, const event_t *ev, casefsm_state_t to, char *err,
               size_t errlen) JS_MUST_CHECK;

/* Releases every active holder row (reason: returned, reassigned, escalated, handed_down). */
int dsp_release_all(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, const char *reason) JS_MUST_CHECK;

/* ---- deadlines ------------------------------------------------------------------------------ */

profile_cache_t *profile_cache_new(void);
void profile_cache_free(profile_cache_t *pc);
/* The policy profile in force for a region (regions.policy_profile, inherited; else the
 * profile written for the region or an ancestor). NULL with err set when none. */
const policy_t *dsp_profile(dispatcher_t *ds, pg_t *pg, const char *region, char *err, size_t errlen);
/* Applies the counting rule of window w (extension in its unit) from from_ms for region. */
int dsp_deadline(dispatcher_t *ds, const policy_t *p, const char *region, const policy_window_t *w,
                 int64_t from_ms, int extension, int64_t *due_ms, char *err, size_t errlen) JS_MUST_CHECK;
int64_t dsp_now_ms(void);
/* RFC 3339 in +08:00 into buf (>= 40 bytes); "" for 0. */
const char *dsp_time(int64_t ms, char *buf, size_t len);
/* Parses an RFC 3339 timestamp column or parameter; 0 for NULL/empty. */
int64_t dsp_parse_time(const char *s);

/* ---- the dispatch itself (route.c) ---------------------------------------------------------- */

typedef struct {
    long long lead;
    int tier;                 /* the lead's region's tier */
    long long co[CATALOGUE_MAX_CO];
    size_t nco;
    event_dispatch_basis_t basis;
    int catalogue_version;    /* 0: the version in force */
} dsp_assign_t;

/* Dispatches the locked, accepted case c to a's units: case_units rows, the sign-for deadline
 * and the planned resolve-by from the profile, the cases update, case.dispatched. who NULL =
 * the daemon. 0 on success; -1 with err set: *db tells a database failure from a deadline that
 * cannot be computed (no profile, no calendar for the year). */
int dsp_dispatch(dispatcher_t *ds, pg_t *pg, dsp_case_t *c, const dsp_assign_t *a,
                 const http_principal_t *who, int *db, char *err, size_t errlen) JS_MUST_CHECK;
/* Puts the locked case in a centre queue (no version change: routing state only). */
void dsp_enqueue(dsp_case_t *c, const char *queue, const char *reason);

/* The consumer of jiesu.case-events. */
kcons_result_t dsp_on_event(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                            char *err, size_t errlen);

/* ---- HTTP helpers (casectx.c) ---------------------------------------------------------------- */

/* The actor of an event for principal p (NULL = the daemon). */
void dsp_actor(event_t *ev, const http_principal_t *p);
/* 503 (retry) or 500 for a database failure, logged without personal data. */
void dsp_reply_db(http_req_t *req, pg_t *pg, const char *what);
/* 409 with the case's current state and version. */
void dsp_reply_conflict(http_req_t *req, const dsp_case_t *c, const char *code, const char *fmt, ...) JS_PRINTF(4, 5);
/* Writes one audit_log row 'case.read' (detail stolen); logs a failure and goes on. */
void dsp_audit(pg_t *pg, const http_principal_t *p, const char *object, json_t *detail);

/* The tier a division code spells (1..4), 0 when it is not one. */
int dsp_code_tier(const char *code);
/* SQL LIKE pattern of a region and everything below it ("4501%"). */
void dsp_region_like(const char *code, char *out, size_t len);

/* Begins, locks and loads a case for an HTTP action, deciding visibility as the caller's role
 * sees it: a unit must hold the case, a centre (or leader) must be responsible for it (its
 * region covers the case's responsible region). Answers 404 (not visible), 409 (version or
 * state) or 503 itself and returns -1 (transaction rolled back); 0 with the transaction open
 * on success. */
int dsp_begin_action(dispatcher_t *ds, http_req_t *req, const char *case_id, int version,
                     casefsm_action_t action, dsp_case_t *c, casefsm_state_t *to) JS_MUST_CHECK;
/* Commits and answers 200 {case_id, case_no, state, version, …extra} (extra stolen, may be
 * NULL); on a failed commit answers the error. */
void dsp_finish(dispatcher_t *ds, http_req_t *req, dsp_case_t *c, json_t *extra);
/* Rolls back and answers an error from writing: the codec's field error (400) or the database. */
void dsp_fail(http_req_t *req, pg_t *pg, const char *err, const char *what);

/* A unit by code, active; 1 found (id, region, tier), 0 not, -1 database error. */
int dsp_unit_by_code(pg_t *pg, const char *code, long long *id, char region[16], int *tier) JS_MUST_CHECK;
/* A unit's code into buf ("" when unknown). */
void dsp_unit_code(pg_t *pg, long long id, char *buf, size_t len);

/* ---- handlers ----------------------------------------------------------------------------- */

void dsp_h_dispatch(http_req_t *req, void *arg);
void dsp_h_escalate(http_req_t *req, void *arg);
void dsp_h_hand_down(http_req_t *req, void *arg);
void dsp_h_decide_remit(http_req_t *req, void *arg);
void dsp_h_extension_decision(http_req_t *req, void *arg);

void dsp_h_sign(http_req_t *req, void *arg);
void dsp_h_return(http_req_t *req, void *arg);
void dsp_h_contact(http_req_t *req, void *arg);
void dsp_h_agree_deadline(http_req_t *req, void *arg);
void dsp_h_progress(http_req_t *req, void *arg);
void dsp_h_extension_request(http_req_t *req, void *arg);
void dsp_h_part(http_req_t *req, void *arg);
void dsp_h_result(http_req_t *req, void *arg);

/* admin.c: the territory and the catalogue by API */
void dsp_h_territory_import(http_req_t *req, void *arg);
void dsp_h_catalogue_import(http_req_t *req, void *arg);
void dsp_h_catalogue_versions(http_req_t *req, void *arg);
void dsp_h_catalogue_version(http_req_t *req, void *arg);
void dsp_h_regions(http_req_t *req, void *arg);
void dsp_h_units(http_req_t *req, void *arg);

void dsp_h_centre_queue(http_req_t *req, void *arg);
void dsp_h_unit_queue(http_req_t *req, void *arg);
void dsp_h_handling(http_req_t *req, void *arg);
void dsp_h_assignment_form(http_req_t *req, void *arg);
void dsp_h_handling_form(http_req_t *req, void *arg);

/* Shared by the request handlers: validates body against the table, replying 400 on failure. */
struct rv_field;
/* reqval checks: a unit code, a lowercase UUID, an RFC 3339 instant, a phone number. */
int dsp_check_unit_code(const char *s, char *msg, size_t msglen);
int dsp_check_uuid(const char *s, char *msg, size_t msglen);
int dsp_check_time(const char *s, char *msg, size_t msglen);
int dsp_check_phone(const char *s, char *msg, size_t msglen);

/* A unit named by code in a request: active, with its region and tier. 0 when found; else the
 * answer has been sent (422 naming field, or the database error) and -1 is returned. */
typedef struct {
    long long id;
    char code[72];
    char region[16];
    int tier;
} dsp_unit_ref_t;
int dsp_resolve_unit(pg_t *pg, http_req_t *req, const char *field, const char *code,
                     dsp_unit_ref_t *u) JS_MUST_CHECK;
/* Which handling round the case is in: 1 + the redo orders it has had. -1 on a database error. */
int dsp_handling_round(pg_t *pg, const dsp_case_t *c);
int dsp_validate(http_req_t *req, json_t *body, const struct rv_field *fields, size_t n) JS_MUST_CHECK;
/* Enum value of a contract field by its spelling, 0 when it is not one. */
int dsp_enum(event_type_t type, const char *field, const char *s);

#endif
