/*
 * pg.h — PostgreSQL access: one connection, parameterised queries only, transactions, error
 * classes, reconnection and the migrations runner.
 *
 * Every query goes through pg_query with $n parameters (text format); there is no function
 * that splices values into SQL. Errors are classed by SQLSTATE so callers can act on them:
 * retriable (connection lost, serialization failure, deadlock, lock/statement timeout),
 * conflict (unique violation — often "already done" for idempotent writes), or permanent.
 * Calls are synchronous; each daemon keeps its queries short and bounded by statement_timeout.
 */
#ifndef JIESU_PG_H
#define JIESU_PG_H

#include <libpq-fe.h>
#include <stddef.h>

#include "compat.h"

typedef enum { PG_OK = 0, PG_RETRY, PG_CONFLICT, PG_PERMANENT } pg_class_t;

typedef struct pg {
    PGconn *conn;
    char *dsn;
    int in_tx;
    pg_class_t last_class;
    char sqlstate[6];
    char err[512];
} pg_t;

/* Connects (application_name set to app). Returns NULL only on allocation failure: a failed
 * connection is kept and retried by pg_ensure, and pg->err says why. */
pg_t *pg_new(const char *dsn, const char *app);
void pg_free(pg_t *pg);

/* Drops the session (and so its advisory locks) and opens a new one. 0 when usable. */
int pg_reconnect(pg_t *pg) JS_MUST_CHECK;

/* Reconnects if the connection is down. 0 when usable. */
int pg_ensure(pg_t *pg) JS_MUST_CHECK;

/* Runs sql with nparams text parameters (NULL = SQL NULL). On success returns 0 and, if res is
 * not NULL, hands over the result (caller PQclear's it). On failure returns -1 with
 * pg->last_class / pg->sqlstate / pg->err set. */
int pg_query(pg_t *pg, const char *sql, int nparams, const char *const *params,
             PGresult **res) JS_MUST_CHECK;

/* The same with explicit per-parameter lengths and formats (binary bytea parameters). */
int pg_query_bin(pg_t *pg, const char *sql, int nparams, const char *const *params,
                 const int *lengths, const int *formats, PGresult **res) JS_MUST_CHECK;

int pg_begin(pg_t *pg) JS_MUST_CHECK;
int pg_commit(pg_t *pg) JS_MUST_CHECK;
void pg_rollback(pg_t *pg); /* best effort; a lost connection rolls back by itself */

/* Batching: statements queued with pg_batch_add are sent in one round trip (libpq pipeline
 * mode) by pg_batch_run, which waits for every result. Queue BEGIN first and COMMIT last to
 * make the batch one transaction: a failing statement then aborts the rest, and nothing of
 * the batch is stored (a failed batch never leaves a transaction open). Parameters are copied
 * at add time. */
typedef struct pg_batch pg_batch_t;
pg_batch_t *pg_batch_new(void);
void pg_batch_free(pg_batch_t *b);
int pg_batch_add(pg_batch_t *b, const char *sql, int nparams,
                 const char *const *params) JS_MUST_CHECK;
size_t pg_batch_len(const pg_batch_t *b);
/* 0 when every statement succeeded. results (optional, pg_batch_len entries) receives each
 * statement's result, NULL for those not run; the caller PQclear's them. On failure
 * pg->err names the failing statement's index and error. The batch is emptied either way. */
int pg_batch_run(pg_t *pg, pg_batch_t *b, PGresult **results) JS_MUST_CHECK;

/* A PostgreSQL array literal built in memory ({"a","b",NULL}) and sent as ONE parameter, so
 * bulk writers can pass lists without splicing anything into SQL. Elements are double-quoted
 * with " and \ escaped; NULL is the bare word. Start with a zeroed struct and
 * pg_array_start; .s is the literal (caller frees), .oom set if memory ran out. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} pg_array_t;
void pg_array_start(pg_array_t *a);
void pg_array_add(pg_array_t *a, const char *v);
void pg_array_end(pg_array_t *a);
/* Raw bytes (for nested literals the caller has already quoted). */
void pg_array_put(pg_array_t *a, const char *s, size_t n);

/* Bulk loading with COPY … FROM STDIN (text format), for writers that store many rows in one
 * transaction: the server parses no JSON or array literal, and tables without BEFORE ROW
 * insert triggers take the rows in multi-row inserts. Rows are built in memory field by field
 * (values escaped here, NULL is a NULL pointer), then pg_copy_run sends a script whose COPY
 * statements each take the next buffer. Start with a zeroed struct; .oom is set if memory
 * ran out (pg_copy_run then refuses). */
typedef struct {
    char *s;
    size_t len, cap;
    size_t rows;
    int col; /* fields in the current row so far */
    int oom;
} pg_copy_t;
void pg_copy_str(pg_copy_t *c, const char *v);                /* NULL: SQL NULL */
void pg_copy_strn(pg_copy_t *c, const char *v, size_t n);
void pg_copy_int(pg_copy_t *c, long long v);
void pg_copy_bool(pg_copy_t *c, int v);
void pg_copy_row_end(pg_copy_t *c);
void pg_copy_reset(pg_copy_t *c); /* empties it, keeps the memory */
void pg_copy_free(pg_copy_t *c);
/* Runs script — statements without parameters, separated by ';' — as one simple query; its
 * n COPY … FROM STDIN statements take bufs[0..n-1] in order. Meant for the inside of a
 * transaction the caller opened (the script may end with COMMIT); a lost connection is an error,
 * never a reconnection. 0 when every statement
 * succeeded; on failure -1 with pg->err and pg->last_class set, and an open transaction is
 * rolled back. */
int pg_copy_run(pg_t *pg, const char *script, pg_copy_t *const *bufs, size_t n) JS_MUST_CHECK;

/* SELECT 1 with the connection as it is; 0 if the server answered. */
int pg_ping(pg_t *pg) JS_MUST_CHECK;

/* Applies every deploy/migrations/NNNN_name.sql not yet applied, in order, each in its own
 * transaction, under an advisory lock so concurrent starters wait for each other. A file whose
 * content changed after it was applied is an error naming it. applied receives the count. */
int pg_migrate(pg_t *pg, const char *dir, int *applied, char *err, size_t errlen) JS_MUST_CHECK;

/* SQL expression rendering a timestamptz column as RFC 3339 in Beijing time, the form every
 * API answer uses ("2026-03-12T09:31:08.120+08:00"). China has kept +08:00 since 1991. */
#define PG_RFC3339(col)                                                                        \
    "to_char((" col ") AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+08:00\"')"

/* Hex of a SHA-256 digest; out must hold 65 bytes. */
void pg_sha256_hex(const void *data, size_t len, char out[65]);

#endif
