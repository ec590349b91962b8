/*
 * readmodel_pg.h — the reporting read models in PostgreSQL (deploy/migrations/0015_reporting.sql):
 * applying one event incrementally inside the consumer's transaction, rebuilding everything
 * from case_events or from the Kafka topics, and the operators' command line for both.
 *
 * Incremental: readmodel_pg_apply loads the case's fact row (FOR UPDATE), folds the event
 * with common/readmodel.c, and moves the fact's contribution from its old cube cell to its
 * new one (day and month tables), with the dispatch-level counts on top; cells are touched in
 * one canonical order so two consumers never deadlock on them, and a cell left empty is
 * deleted. Unit events are stored as received and counted per unit and day. Idempotence comes
 * from the consumer (consumed_events); events already inside the last rebuild (case_events id
 * at or below rep_state.hwm) are skipped.
 *
 * Rebuild: the high-water mark is taken under a brief SHARE lock on case_events (so every id
 * below it is committed), every event up to it is streamed with COPY in id order (each case's
 * events in their order) and folded in memory, then — with the read-model tables locked —
 * the events above it that the consumer already applied are folded too, the tables are
 * truncated and refilled with COPY, and rep_state records the mark, all in one transaction:
 * readers see the old models or the new ones, never a half. Memory: about 0.5 kB per case.
 *
 * Single-threaded; pg handles are borrowed. Errors: 0 / -1 with a message in err.
 */
#ifndef JIESU_READMODEL_PG_H
#define JIESU_READMODEL_PG_H

#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "event.h"
#include "pg.h"
#include "readmodel.h"

/* The consumer name (consumed_events, consumer_offsets, Kafka group) of the read models. */
#define READMODEL_CONSUMER "reporting"

typedef enum { RMPG_APPLIED = 0, RMPG_RETRY, RMPG_DEAD } rmpg_rc_t;

/* Applies one decoded event inside the caller's open transaction on pg. RETRY when the
 * database failed in a way worth retrying (pg->err), DEAD for an event that can never be
 * applied (err says why). */
rmpg_rc_t readmodel_pg_apply(pg_t *pg, const event_t *ev, char *err, size_t errlen);

/* Loads a case's fact row (no lock); 1 found, 0 not found, -1 error. */
int readmodel_pg_fact_load(pg_t *pg, const char *case_id, rm_case_t *c) JS_MUST_CHECK;

typedef struct {
    long long hwm;          /* case_events id up to which the models are complete */
    long long events;       /* events folded */
    long long skipped;      /* events that could not be decoded (logged) */
    long long cases;        /* fact rows written */
    long long cells;        /* day cells written */
    long long unit_events;  /* unit events counted */
    double read_s, write_s; /* time streaming and folding, time writing */
} readmodel_stats_t;

/* Rebuilds every read model from case_events (and rep_unit_events). */
int readmodel_rebuild_from_events(pg_t *pg, readmodel_stats_t *st, char *err,
                                  size_t errlen) JS_MUST_CHECK;

/* Rebuilds every read model from the Kafka topics (read from their beginning up to their
 * current end) and points the consumer's offsets at that end. Stop the reporting daemons
 * first: a running consumer keeps the positions it holds. */
int readmodel_rebuild_from_kafka(pg_t *pg, const char *brokers, readmodel_stats_t *st, char *err,
                                 size_t errlen) JS_MUST_CHECK;

/* Refreshes rep_regions from regions; the number of regions, or -1. */
long long readmodel_regions_refresh(pg_t *pg);

/*
 * `jiesuctl reporting rebuild [--from case_events|kafka] [--brokers HOST:PORT]`
 * `jiesuctl reporting status`
 * argv[0] is "reporting". The database comes from $JIESU_PG_DSN (jiesuctl sets it from
 * --pg-dsn), brokers from --brokers or $JIESU_KAFKA_BROKERS. Prints one summary line to out;
 * returns 0, 1 when the rebuild failed at run time, 2 for a usage error.
 */
int reporting_cli(int argc, char **argv, FILE *out, FILE *err);

#endif
