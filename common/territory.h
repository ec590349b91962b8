/*
 * territory.h — the territory a deployment serves: regions at four tiers (province → city →
 * county → township) and the units of each region (its dispatch centre, departments,
 * supervision office…), read from CSV files, validated, and imported into PostgreSQL.
 *
 * The files are what operators edit (in a spreadsheet, often): regions.csv with the header
 * code,name,tier,parent_code,policy_profile and units.csv with
 * code,name,region_code,kind,head_name,deputy_head_name (docs/TERRITORY.md; columns in any
 * order, read by common/csv.c). The same rows may come as JSON arrays (the import API). Reading never
 * stops at the first problem: every bad row is reported as FILE:LINE: FIELD: PROBLEM, so one
 * round of fixes is enough. An import is one transaction that upserts by code, parents before
 * children; when any row is wrong nothing is written.
 *
 * A territory_t is used by one thread at a time. The module keeps no global state.
 */
#ifndef JIESU_TERRITORY_H
#define JIESU_TERRITORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "pg.h"

/* At most this many error lines are kept for the report; all are counted. */
#define TERRITORY_ERRORS_SHOWN 100

#define TERRITORY_REGIONS_HEADER "code,name,tier,parent_code,policy_profile"
#define TERRITORY_UNITS_HEADER "code,name,region_code,kind,head_name,deputy_head_name"

typedef struct territory territory_t;

/* What a data set holds, for summaries and tests. */
typedef struct territory_summary {
    size_t regions_by_tier[5]; /* [1] province … [4] township; [0] unused */
    size_t regions;
    size_t units;
    size_t centres;
    size_t regions_without_centre; /* only counted when units were read */
} territory_summary_t;

/* What an import did: rows created, rows changed, rows already as in the file. */
typedef struct territory_stats {
    long regions_inserted, regions_updated, regions_unchanged;
    long units_inserted, units_updated, units_unchanged;
} territory_stats_t;

/* A new, empty data set; NULL when out of memory. territory_free(NULL) does nothing. */
territory_t *territory_new(void);
void territory_free(territory_t *t);

/* Read a regions or units CSV held in memory; name is the file name used in messages. The
 * text is copied, so buf may be released afterwards. Several files of a kind may be read
 * into one data set (a code in two of them is a duplicate). Row errors are collected on t
 * (territory_error_count) and do not make these fail: 0 when the text was read, -1 when
 * memory ran out (territory_strerror). */
int territory_parse_regions(territory_t *t, const char *name, const char *buf,
                            size_t len) JS_MUST_CHECK;
int territory_parse_units(territory_t *t, const char *name, const char *buf,
                          size_t len) JS_MUST_CHECK;

/* The same data as a JSON array of objects with the header's keys (kind "regions" or "units";
 * absent or null keys are empty fields, tier may be a number), for the dispatcher's import API.
 * Errors name the entry: NAME:#N. Same contract as territory_parse_regions; -1 also for an
 * unknown kind. */
int territory_parse_json(territory_t *t, const char *kind, const char *name, const char *buf,
                         size_t len) JS_MUST_CHECK;

/* The same from a file. An unreadable file is an input error recorded on t (and -1). */
int territory_load_regions(territory_t *t, const char *path) JS_MUST_CHECK;
int territory_load_units(territory_t *t, const char *path) JS_MUST_CHECK;

/* Rows outside region `scope` (a code; NULL or "" = no limit) are errors, kept like parsing's:
 * what a provincial principal imports must lie in its province. 0 when none; -1 otherwise.
 * The scope is also remembered for territory_import: there a unit row whose code is already
 * the code of a unit of a region outside the scope is an error on the row's `code` (the upsert
 * by code would otherwise move another province's unit into this one). Region codes need no
 * such check: a code outside the scope is refused here already. NULL or "" forgets the scope. */
int territory_scope_check(territory_t *t, const char *scope);

/* Cross-row checks without a database: every parent and every unit's region must be in the
 * files read, a parent sits at a higher tier and its code prefixes the child's, at most one
 * centre per region. 0 when the whole data set (including what parsing found) is clean; -1
 * when it is not (territory_error_count > 0) or memory ran out (territory_error_count == 0,
 * territory_strerror says why). Idempotent. */
int territory_check(territory_t *t) JS_MUST_CHECK;

/* Validates as territory_check does, except that parents and regions not in the files may
 * already be in the database, then writes everything in one transaction on pg: regions
 * tier by tier, then units, each upserted by code (a row equal to the database's is not
 * touched; a changed name, parent, kind or head is updated; rows in the database but not in
 * the files are left alone — units are deactivated, never deleted, and this import does not
 * change `active`). One audit_log row 'territory.import' records what changed, when anything
 * did. 0 when committed (stats, if not NULL, says what happened). -1 when nothing was
 * written: either the input is wrong (territory_error_count > 0 — also for a row the
 * database refused) or the database failed (territory_strerror). pg must not be inside a
 * transaction. */
int territory_import(territory_t *t, pg_t *pg, territory_stats_t *stats) JS_MUST_CHECK;
/* The same, recording who did it (principal_id > 0, else none: an operator's tool) and why
 * (note, may be NULL) in the audit_log row. */
int territory_import_by(territory_t *t, pg_t *pg, long long principal_id, const char *note,
                        territory_stats_t *stats) JS_MUST_CHECK;

/* Input errors found so far (all of them, even beyond the TERRITORY_ERRORS_SHOWN kept). */
size_t territory_error_count(const territory_t *t);
/* The i-th kept error line, "FILE:LINE: FIELD: PROBLEM"; NULL past the end. Borrowed. */
const char *territory_error_at(const territory_t *t, size_t i);
/* Writes the kept error lines, and how many more there were, one per line. */
void territory_errors_write(const territory_t *t, FILE *out);
/* The kept errors in file and line order as a new JSON array of {file, line | entry, field,
 * message} (caller decrefs); NULL when out of memory. */
json_t *territory_errors_json(const territory_t *t);
/* The last runtime failure (out of memory, database), "" when none. Borrowed. */
const char *territory_strerror(const territory_t *t);

void territory_summary(const territory_t *t, territory_summary_t *s);

/* jiesuctl's verb: argv[0] is "territory", then
 *   import --regions FILE [--units FILE] [--pg-dsn DSN]   (or --units FILE alone)
 *   check  --regions FILE [--units FILE]                   (validate only, no database)
 * The database is --pg-dsn, else JIESU_PG_DSN, else the local stack's. Reports go to out,
 * errors to err. Returns the exit code: 0 done, 1 runtime failure, 2 usage or input errors. */
int territory_cli(int argc, char **argv, FILE *out, FILE *err);

/* Look-ups for the daemons, one short query each. */

/* 1 when region code exists (its tier in *tier when tier is not NULL), 0 when it does not,
 * -1 on a database error (pg->err). */
int territory_region_exists(pg_t *pg, const char *code, int *tier) JS_MUST_CHECK;

/* 1 with the id of the region's active dispatch centre in *unit_id, 0 when it has none
 * (which routing must treat as an operator error), -1 on a database error. */
int territory_region_centre(pg_t *pg, const char *region_code, long long *unit_id) JS_MUST_CHECK;

#endif
