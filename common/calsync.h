/*
 * calsync.h — the working-day calendar between its files and the database, at run time.
 *
 * The calendar is data in two places: files in deploy/calendar/ (one per scope and year, the
 * format of docs/DEADLINES.md §2) that the repository ships, and the calendar_years /
 * calendar_days tables (0007) that a running system reads and operators update while the
 * daemons run. This module moves a calendar document between them: it validates a document
 * exactly as the file loader does (common/calendar.c) against everything else already loaded,
 * then replaces that scope and year in the tables in one transaction, with an audit_log row
 * naming who did it and how (HTTP API, jiesuctl, a daemon importing shipped files). It also
 * builds a calendar_t from the tables (what the deadline watcher counts with) and writes the
 * tables back out as files. The document is the unit of change: PUT 2027's national
 * arrangement, or one region's closures of one year.
 *
 * All calls are synchronous on the caller's pg_t, outside any open transaction (they open and
 * close their own). Errors: -1 with a one-line message in err and, for a document that does
 * not validate, the offending field ("days[3]", "year", "region") in field.
 */
#ifndef JIESU_CALSYNC_H
#define JIESU_CALSYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "calendar.h"
#include "compat.h"
#include "pg.h"

#define CALSYNC_FIELD_SIZE 64

/* Where a change came from, recorded in the audit detail. */
typedef struct {
    long long principal_id; /* 0 = none (a tool or a daemon) */
    const char *via;        /* "api", "jiesuctl", "watcher" */
    const char *request_id; /* may be NULL */
} calsync_actor_t;

typedef struct {
    int year;
    char region[16];     /* "" = national */
    bool year_created;   /* a national year that was not loaded before */
    int days_before;     /* exception days of this scope and year before the change */
    int days_after;      /* and after it */
    bool changed;        /* false when the document matched the tables exactly */
} calsync_result_t;

/* Builds a calendar from the tables (national years first, then every region's exceptions).
 * *out is new (calendar_free). */
JS_MUST_CHECK int calsync_load_db(pg_t *pg, calendar_t **out, char *err, size_t errlen);

/* The tables as calendar documents, national first, then regional; year 0 = every year.
 * *out is a new JSON array (json_decref). */
JS_MUST_CHECK int calsync_documents(pg_t *pg, int year, json_t **out, char *err, size_t errlen);

/*
 * Validates one calendar document (JSON text) and makes the tables say exactly what it says
 * for its scope and year, audited. expect_year (0 = any) must equal the document's year (field
 * "year" otherwise). A regional document's region must exist in the regions table. On a
 * validation failure *input_error is set (the caller answers 400/exit 2) and nothing is
 * written; otherwise -1 means the database failed.
 */
JS_MUST_CHECK int calsync_put(pg_t *pg, const char *label, const char *json, int expect_year,
                              const calsync_actor_t *who, calsync_result_t *res,
                              bool *input_error, char *field, char *err, size_t errlen);

/* Imports each *.json of dir whose scope and year have nothing in the tables yet (shipped
 * files fill what the database lacks; what an operator changed is never overwritten). A file
 * whose region is not in the regions table is skipped, with a warning in the log. *imported
 * receives how many were written. */
JS_MUST_CHECK int calsync_import_missing(pg_t *pg, const char *dir, const calsync_actor_t *who,
                                         int *imported, char *err, size_t errlen);

/* Writes the tables out as files into dir: cn-national-YYYY.json and
 * region-<code>-YYYY.json; year 0 = every year. *written receives the count. */
JS_MUST_CHECK int calsync_export_dir(pg_t *pg, const char *dir, int year, int *written,
                                     char *err, size_t errlen);

/*
 * jiesuctl's verb: argv[0] is "calendar", then
 *   import FILE...            replace each file's scope and year in the tables (audited)
 *   export DIR [--year Y]     write the tables out as files
 *   list                      the loaded years and regional scopes, one per line
 * The database is --pg-dsn DSN, else JIESU_PG_DSN, else the local stack's. Returns the exit
 * code: 0 done, 1 runtime failure, 2 usage or a file that does not validate (nothing of it
 * written; files before it stay imported).
 */
int calsync_cli(int argc, char **argv, FILE *out, FILE *err);

#endif
