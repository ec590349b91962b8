/*
 * casestore.h — the one way every daemon changes a case: lock it, check the version and the
 * state machine, and record the event in the case history and the outbox in the same
 * transaction.
 *
 * A transition is: casestore_lock (SELECT … FOR UPDATE; the caller's expected version must be
 * the current one, or the answer is CONFLICT with the current state and version, which HTTP
 * handlers return as 409), then the caller's UPDATE of the cases row with version = version+1
 * and the state casestore_lock computed, then casestore_record of the event. Locking the row
 * first is what makes one case's events commit in id order, which the outbox relay's per-case
 * ordering relies on (outbox.h). All calls run inside the caller's open transaction.
 */
#ifndef JIESU_CASESTORE_H
#define JIESU_CASESTORE_H

#include <stddef.h>

#include "casefsm.h"
#include "compat.h"
#include "event.h"
#include "pg.h"

typedef enum {
    CASESTORE_OK = 0,
    CASESTORE_NOT_FOUND, /* no such case (or the caller may not know it exists) */
    CASESTORE_CONFLICT,  /* the version moved on: someone else changed the case */
    CASESTORE_BAD_STATE, /* the action is not allowed from the current state */
    CASESTORE_FORBIDDEN, /* this role may never take the action */
    CASESTORE_DB         /* the database failed; pg->err / pg->last_class say how */
} casestore_rc_t;

typedef struct {
    char id[37];
    char case_no[40];
    casefsm_state_t state;
    int version;
    char region_code[16];
    char credit_code[24];
    long long lead_unit_id;
    char kind[16];
} casestore_case_t;

/* Locks the case row and checks that `who` may take `action` now. expected_version 0 skips
 * the version check (system actors acting on events). On OK, *to is the state the action
 * leads to (the current one for actions that keep it) and cur holds the row as locked; on
 * CONFLICT / BAD_STATE cur still holds the current state and version for the 409 answer. */
casestore_rc_t casestore_lock(pg_t *pg, const char *case_id, int expected_version,
                              casefsm_action_t action, casefsm_role_t who, casestore_case_t *cur,
                              casefsm_state_t *to);

/* Appends ev to case_events and to the outbox. from/to: CASEFSM_STATE_NONE is stored as NULL;
 * case_version: the cases.version after the event, 0 for events that did not change the row.
 * The envelope is encoded (and validated) by the event codec; err names a field on failure. */
int casestore_record(pg_t *pg, const event_t *ev, casefsm_state_t from, casefsm_state_t to,
                     int case_version, char *err, size_t errlen) JS_MUST_CHECK;

/* The same, queued on a batch (pg_batch_run sends it) — for writers that group commit. */
int casestore_record_batch(pg_batch_t *b, const event_t *ev, casefsm_state_t from,
                           casefsm_state_t to, int case_version, char *err,
                           size_t errlen) JS_MUST_CHECK;

/* Bulk recording for group-committing writers: events are collected, then written by two
 * statements (history, outbox) whatever their number, in the order added — which keeps
 * each case's events in outbox id order. */
typedef struct casestore_bulk casestore_bulk_t;
casestore_bulk_t *casestore_bulk_new(void);
void casestore_bulk_free(casestore_bulk_t *cb);
int casestore_bulk_add(casestore_bulk_t *cb, const event_t *ev, casefsm_state_t from,
                       casefsm_state_t to, int case_version, char *err, size_t errlen) JS_MUST_CHECK;
size_t casestore_bulk_len(const casestore_bulk_t *cb);
/* Queues the two statements on b and empties cb. 0 on success (also when cb is empty). */
int casestore_bulk_queue(casestore_bulk_t *cb, pg_batch_t *b) JS_MUST_CHECK;

const char *casestore_rc_str(casestore_rc_t rc);

#endif
