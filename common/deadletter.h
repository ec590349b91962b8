/*
 * deadletter.h — the messages consumers could never apply (table dead_letters, written by kcons
 * with the consumer's offset), for operators: list them, look at one, and once the cause is
 * fixed (a new release, a missing profile loaded) replay it to the consumer that refused it.
 *
 * A replay, in one transaction: the consumer's dedup row of the event is deleted (so that
 * consumer takes it as new), the event is queued again through the outbox (its outbox row
 * marked unpublished when it is still there, else a new row with the original message on its
 * topic and key), the dead letter marked replayed (when, by whom) and an audit_log row written.
 * The relay then sends it; every other consumer of the topic already has it and drops the copy.
 * The replayed event arrives after what its partition received meanwhile: handlers take events
 * out of order already (versions, idempotent effects).
 */
#ifndef JIESU_DEADLETTER_H
#define JIESU_DEADLETTER_H

#include <stdio.h>

#include "pg.h"

/* 0 replayed; 1 refused (err says why: no such dead letter, already replayed, no event id,
 * original not kept as text); -1 the database failed (err). by: who asked, 1–200 characters. */
int deadletter_replay(pg_t *pg, long long id, const char *by, char *err, size_t errlen);

/* jiesuctl deadletter …:
 *   list [--consumer NAME] [--all] [--limit N]   pending (or all) dead letters, newest last
 *   show ID                                      one, with the original (personal fields masked)
 *   replay ID... | --consumer NAME --pending [--by TEXT]
 * The database is JIESU_PG_DSN, else the local stack's. Returns the exit code: 0 done, 1 a
 * runtime failure or a refused replay, 2 usage errors. */
int deadletter_cli(int argc, char **argv, FILE *out, FILE *err);

#endif
