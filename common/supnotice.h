/*
 * supnotice.h — the rules of a supervision notice that more than one daemon must agree on.
 *
 * A claimed contact that did not happen (弄虚作假, seed 004 二(五)3) is found by the revisit
 * (a supervisor's call) and becomes a supervision notice issued by the deadline watcher when it
 * consumes that call's case.revisit_recorded: one issuer of notice rows, the watcher, which
 * also owns the reply clock. The revisit must still tell its caller what is coming — the level
 * and the notice's id — so both compute them here, from the same inputs: the level from the
 * profile, the id from the revisit event's id (a name-based UUID: the same call always names
 * the same notice, which is also what makes the watcher's insert idempotent).
 * Pure functions: reentrant, no I/O.
 */
#ifndef JIESU_SUPNOTICE_H
#define JIESU_SUPNOTICE_H

#include "compat.h"
#include "event.h"
#include "policy.h"

/* The level of the notice for a claimed contact that did not happen: 3 (约谈通知书, seed 001
 * 二(七) 弄虚作假) where the profile has interviews (supervision.interview), else 2 (整改通知书).
 * p may be NULL (no profile known): 2. */
int supnotice_fraud_level(const policy_t *p);

/* The id of the fraud notice that the revisit event source_event_id (a lowercase UUID) asks
 * for: a name-based UUID (RFC 9562 version 8, from SHA-256 of "jiesu:notice:fraud:" and the
 * id) written to out as a lowercase UUID. -1 when source_event_id is not a lowercase UUID. */
JS_MUST_CHECK int supnotice_fraud_id(const char *source_event_id, char out[EVENT_UUID_SIZE]);

#endif
