/*
 * catalogue.h — the responsibility catalogue (派单目录 / 职责清单): which unit leads, which
 * units co-handle and at which tier, for a matter type in a region; read from a CSV (or JSON)
 * file, validated, imported into PostgreSQL as a new version, and asked by the dispatcher.
 *
 * Seed 001 asks for a 部门职责清单 "实行动态管理" and seed 004 for a 派单目录 "权责对等、职责
 * 清晰": so the catalogue is data that offices edit in a spreadsheet, one row per matter type
 * and region (docs/DISPATCH.md). An entry applies to its region and every region below it
 * unless a more specific entry exists, so one province row can cover a whole matter type and
 * a county row can override it. Reading never stops at the first problem: every bad row is
 * reported as FILE:LINE: FIELD: PROBLEM, so one round of fixes is enough. An import is one
 * transaction that adds a complete new version (the highest version is in force); when any row
 * is wrong — in the file or against the database's regions and units — nothing is written.
 * Versions are never changed, so each case can name the version that routed it.
 *
 * A catalogue_t is used by one thread at a time; the module keeps no global state. Fallible
 * functions return 0 or -1; input errors are collected on the object, runtime failures (out of
 * memory, database) are in catalogue_strerror.
 */
#ifndef JIESU_CATALOGUE_H
#define JIESU_CATALOGUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"
#include "pg.h"

#define CATALOGUE_CSV_HEADER "matter_type,region_code,tier,lead_unit,co_handlers,dispatch,basis"
/* At most this many error lines are kept for the report; all are counted. */
#define CATALOGUE_ERRORS_SHOWN 100
/* Co-handlers per entry at most (the case.dispatched contract allows 20). */
#define CATALOGUE_MAX_CO 20
#define CATALOGUE_MATTER_MAX 64 /* characters (code points) */
#define CATALOGUE_BASIS_MAX 200

typedef struct catalogue catalogue_t;

/* A new, empty catalogue; NULL when out of memory. catalogue_free(NULL) does nothing. */
catalogue_t *catalogue_new(void);
void catalogue_free(catalogue_t *c);

/* Reads a catalogue held in memory; name is the file name used in messages and the text is
 * copied. CSV: the header CATALOGUE_CSV_HEADER (columns in any order), then one entry per
 * record (RFC 4180, read by common/csv.c; UTF-8, BOM and CRLF accepted); co_handlers is a ';'-separated list of unit codes. JSON: an array of
 * objects with the same keys (co_handlers an array of strings; co_handlers, dispatch and basis
 * may be absent), errors naming "FILE:#N" for the N-th entry. Row errors are collected
 * (catalogue_error_count) and do not make these fail: 0 when the text was read, -1 when
 * memory ran out. One catalogue is one file. */
int catalogue_parse_csv(catalogue_t *c, const char *name, const char *buf, size_t len) JS_MUST_CHECK;
int catalogue_parse_json(catalogue_t *c, const char *name, const char *buf, size_t len) JS_MUST_CHECK;

/* Reads a file: JSON when its name ends in ".json", CSV otherwise. An unreadable file is an
 * input error recorded on c (and -1). */
int catalogue_load_file(catalogue_t *c, const char *path) JS_MUST_CHECK;

/* Entries whose region is outside region `scope` (NULL or "" = no limit) are errors, kept like
 * parsing's: what a provincial principal imports must lie in its province. 0 when none. The
 * scope is also remembered for catalogue_import: a scoped file is the scope's part of the
 * catalogue, not the whole of it (see there). Calling it with NULL or "" forgets the scope. */
int catalogue_scope_check(catalogue_t *c, const char *scope);

/* Entries read without error so far. */
size_t catalogue_entry_count(const catalogue_t *c);

/* What an import did. */
typedef struct catalogue_import_result {
    int version;   /* the version now in force */
    long entries;  /* entries in it */
    int unchanged; /* the result would equal the version in force: no version was added */
    long kept;     /* scoped import: entries of the version in force outside the scope, kept */
} catalogue_import_result_t;

/* Checks every entry against the database — its region exists; its lead and co-handlers exist,
 * are active, and each serves the entry's whole region (its region is the entry's or one above
 * it); the tier is the lead's region's tier — and, when everything is right, adds a new version
 * in one transaction (under an advisory lock), with one audit_log row 'catalogue.import'.
 * Without a scope (jiesuctl, an operator of the whole deployment) the file is the whole
 * catalogue: the new version holds its entries only, and a file equal (by SHA-256) to the one
 * of the version in force adds nothing. With a scope (catalogue_scope_check, a province's
 * principal) the file is the scope's part: the new version holds the file's entries plus the
 * version in force's entries outside the scope, copied unchanged, so one province's import
 * never removes another's; it adds nothing when the file's entries equal (matter, region,
 * tier, lead, co-handlers in order, dispatch, basis) those the version in force has inside the
 * scope. note (may be NULL) is kept with the version. 0 when committed or unchanged; -1 when nothing was written:
 * the input is wrong (catalogue_error_count > 0, every problem named) or the database failed
 * (catalogue_strerror). pg must not be inside a transaction. */
int catalogue_import(catalogue_t *c, pg_t *pg, const char *note,
                     catalogue_import_result_t *out) JS_MUST_CHECK;
/* The same, recording who imported it (principal_id > 0, else none: an operator's tool) in
 * catalogue_versions.imported_by and the audit_log row. */
int catalogue_import_by(catalogue_t *c, pg_t *pg, const char *note, long long principal_id,
                        catalogue_import_result_t *out) JS_MUST_CHECK;

/* Input errors found so far (all of them, even beyond the CATALOGUE_ERRORS_SHOWN kept). */
size_t catalogue_error_count(const catalogue_t *c);
/* The i-th kept error line, "FILE:LINE: FIELD: PROBLEM", in the order found; NULL past the
 * end. Borrowed. */
const char *catalogue_error_at(const catalogue_t *c, size_t i);
/* Writes the kept error lines in line order, and how many more there were. */
void catalogue_errors_write(const catalogue_t *c, FILE *out);
/* The kept errors in line order as a new JSON array of {file, line | entry, field, message}
 * (caller decrefs); NULL when out of memory. */
json_t *catalogue_errors_json(const catalogue_t *c);
/* The last runtime failure, "" when none. Borrowed. */
const char *catalogue_strerror(const catalogue_t *c);

/* ---- routing ------------------------------------------------------------------------------ */

/* The entry in force for a matter type at a region. */
typedef struct catalogue_match {
    int version;                  /* the version in force (>= 1 once migrated) */
    int found;                    /* 1 when an entry applies, else 0 and nothing below is set */
    char region_code[16];         /* the entry's region: the one asked or the nearest above it */
    int tier;                     /* handling tier, 1..4 */
    long long lead_unit_id;
    int lead_active;              /* 0: the lead unit was deactivated since the import */
    long long co_unit_ids[CATALOGUE_MAX_CO]; /* the active co-handlers, in file order */
    size_t nco;
    size_t nco_inactive;          /* co-handlers deactivated since the import */
    int centre_decides;           /* the entry says dispatch = centre */
    char basis[CATALOGUE_BASIS_MAX * 4 + 1];
} catalogue_match_t;

/* Looks up the most specific entry of the version in force for matter_type at region_code or
 * the nearest region above it that has one. One query; inside or outside a transaction. 0 with
 * *out filled (out->found says whether an entry applies); -1 on a database error (pg->err). */
int catalogue_route(pg_t *pg, const char *matter_type, const char *region_code,
                    catalogue_match_t *out) JS_MUST_CHECK;
/* The same question for callers that prepare their statements: the SQL (parameters $1 matter
 * type, $2 region code; static, borrowed) and the reading of its result (borrowed). */
const char *catalogue_route_sql(void);
void catalogue_route_result(const PGresult *r, catalogue_match_t *out);

/* jiesuctl's verb: argv[0] is "catalogue", then
 *   import FILE [--note TEXT] [--pg-dsn DSN]    add a version (nothing written on any error)
 *   check FILE                                  validate the file alone, no database
 *   route --matter-type TEXT --region CODE [--pg-dsn DSN]   the entry in force, one line
 * The database is --pg-dsn, else JIESU_PG_DSN, else the local stack's. Reports go to out,
 * errors to err. Returns the exit code: 0 done, 1 runtime failure, 2 usage or input errors. */
int catalogue_cli(int argc, char **argv, FILE *out, FILE *err);

#endif
