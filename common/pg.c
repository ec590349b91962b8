/*
 * pg.c — the PostgreSQL layer. See pg.h. The migrations runner lives here because it is just
 * a careful sequence of queries: lock, read what was applied, apply what is new in order.
 */
#include "pg.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "log.h"

/* Server notices ("relation already exists, skipping") go to the JSON log, not raw stderr. */
static void pg_notice(void *arg, const char *msg)
{
    (void)arg;
    char m[512];
    snprintf(m, sizeof m, "%s", msg);
    size_t l = strlen(m);
    while (l && m[l - 1] == '\n') m[--l] = '\0';
    LOGD("postgres notice", LF_STR("notice", m));
}

/* The server's message without its DETAIL and CONTEXT lines: those quote row values ("Failing
 * row contains (…, 13807712345, …)"), and errors end up in logs, where personal data must
 * never appear. The primary message, the constraint's name and the SQLSTATE say enough. */
static void pg_safe_message(const PGresult *r, const PGconn *conn, char *out, size_t outlen)
{
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary == NULL) {
        snprintf(out, outlen, "%s", PQerrorMessage(conn));
    } else {
        const char *constraint = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
        snprintf(out, outlen, "%s%s%s%s", primary, constraint ? " (constraint " : "",
                 constraint ? constraint : "", constraint ? ")" : "");
    }
    size_t l = strlen(out);
    while (l && (out[l - 1] == '\n' || out[l - 1] == ' ')) out[--l] = '\0';
}

pg_t *pg_new(const char *dsn, const char *app)
{
    pg_t *pg = calloc(1, sizeof *pg);
    if (pg == NULL) return NULL;
    /* application_name and a statement timeout ride in the conninfo so they survive resets */
    size_t n = strlen(dsn) + strlen(app) + 96;
    pg->dsn = malloc(n);
    if (pg->dsn == NULL) {
        free(pg);
        return NULL;
    }
    snprintf(pg->dsn, n, "%s application_name=%s connect_timeout=5", dsn, app);
    pg->conn = PQconnectdb(pg->dsn);
    PQsetNoticeProcessor(pg->conn, pg_notice, NULL);
    if (PQstatus(pg->conn) != CONNECTION_OK)
        snprintf(pg->err, sizeof pg->err, "%s", PQerrorMessage(pg->conn));
    return pg;
}

void pg_free(pg_t *pg)
{
    if (pg == NULL) return;
    PQfinish(pg->conn);
    free(pg->dsn);
    free(pg);
}

int pg_reconnect(pg_t *pg)
{
    PQfinish(pg->conn);
    pg->in_tx = 0;
    pg->conn = PQconnectdb(pg->dsn);
    PQsetNoticeProcessor(pg->conn, pg_notice, NULL);
    if (PQstatus(pg->conn) == CONNECTION_OK) return 0;
    snprintf(pg->err, sizeof pg->err, "%s", PQerrorMessage(pg->conn));
    pg->last_class = PG_RETRY;
    return -1;
}

int pg_ensure(pg_t *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_OK) return 0;
    PQreset(pg->conn); /* keeps the notice processor */
    pg->in_tx = 0;
    if (PQstatus(pg->conn) == CONNECTION_OK) {
        LOGI("postgres reconnected", LF_NONE);
        return 0;
    }
    snprintf(pg->err, sizeof pg->err, "%s", PQerrorMessage(pg->conn));
    pg->last_class = PG_RETRY;
    return -1;
}

static pg_class_t pg_classify(const char *st)
{
    if (st == NULL) return PG_RETRY; /* no SQLSTATE: the connection failed */
    if (!strncmp(st, "08", 2) || !strcmp(st, "40001") || !strcmp(st, "40P01") ||
        !strcmp(st, "55P03") || !strcmp(st, "57014") || !strncmp(st, "53", 2) ||
        !strcmp(st, "57P01") || !strcmp(st, "57P02") || !strcmp(st, "57P03"))
        return PG_RETRY;
    if (!strcmp(st, "23505")) return PG_CONFLICT;
    return PG_PERMANENT;
}

int pg_query_bin(pg_t *pg, const char *sql, int nparams, const char *const *params,
                 const int *lengths, const int *formats, PGresult **res)
{
    if (res) *res = NULL;
    if (!pg->in_tx && pg_ensure(pg) != 0) return -1;
    PGresult *r = PQexecParams(pg->conn, sql, nparams, NULL, params, lengths, formats, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        pg->last_class = PG_OK;
        pg->sqlstate[0] = '\0';
        if (res) *res = r;
        else PQclear(r);
        return 0;
    }
    const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", code ? code : "");
    pg->last_class = pg_classify(code);
    pg_safe_message(r, pg->conn, pg->err, sizeof pg->err);
    PQclear(r);
    if (PQstatus(pg->conn) != CONNECTION_OK) pg->in_tx = 0;
    return -1;
}

int pg_query(pg_t *pg, const char *sql, int nparams, const char *const *params, PGresult **res)
{
    return pg_query_bin(pg, sql, nparams, params, NULL, NULL, res);
}

int pg_begin(pg_t *pg)
{
    if (pg_ensure(pg) != 0) return -1;
    if (pg_query(pg, "BEGIN", 0, NULL, NULL) != 0) return -1;
    pg->in_tx = 1;
    return 0;
}

int pg_commit(pg_t *pg)
{
    int rc = pg_query(pg, "COMMIT", 0, NULL, NULL);
    pg->in_tx = 0;
    return rc;
}

void pg_rollback(pg_t *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_OK) {
        PGresult *r = PQexec(pg->conn, "ROLLBACK");
        PQclear(r);
    }
    pg->in_tx = 0;
}

typedef struct {
    char *sql;
    int nparams;
    char **params;
} pg_stmt_t;

struct pg_batch {
    pg_stmt_t *stmts;
    size_t n, cap;
};

pg_batch_t *pg_batch_new(void) { return calloc(1, sizeof(pg_batch_t)); }

static void pg_batch_clear(pg_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->stmts[i].sql);
        for (int k = 0; k < b->stmts[i].nparams; k++) free(b->stmts[i].params[k]);
        free(b->stmts[i].params);
    }
    b->n = 0;
}

void pg_batch_free(pg_batch_t *b)
{
    if (b == NULL) return;
    pg_batch_clear(b);
    free(b->stmts);
    free(b);
}

size_t pg_batch_len(const pg_batch_t *b) { return b->n; }

int pg_batch_add(pg_batch_t *b, const char *sql, int nparams, const char *const *params)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        pg_stmt_t *ns = realloc(b->stmts, ncap * sizeof *ns);
        if (ns == NULL) return -1;
        b->stmts = ns;
        b->cap = ncap;
    }
    pg_stmt_t *st = &b->stmts[b->n];
    memset(st, 0, sizeof *st);
    st->sql = strdup(sql);
    st->params = nparams ? calloc((size_t)nparams, sizeof(char *)) : NULL;
    if (st->sql == NULL || (nparams && st->params == NULL)) goto oom;
    st->nparams = nparams;
    for (int k = 0; k < nparams; k++)
        if (params[k] && (st->params[k] = strdup(params[k])) == NULL) goto oom;
    b->n++;
    return 0;
oom:
    free(st->sql);
    for (int k = 0; k < nparams && st->params; k++) free(st->params[k]);
    free(st->params);
    return -1;
}

int pg_batch_run(pg_t *pg, pg_batch_t *b, PGresult **results)
{
    int rc = -1;
    size_t failed = b->n;
    if (results)
        for (size_t i = 0; i < b->n; i++) results[i] = NULL;
    if (b->n == 0) return 0;
    if (pg_ensure(pg) != 0) goto out;
    if (PQenterPipelineMode(pg->conn) != 1) {
        snprintf(pg->err, sizeof pg->err, "cannot enter pipeline mode: %s", PQerrorMessage(pg->conn));
        pg->last_class = PG_PERMANENT;
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        const pg_stmt_t *st = &b->stmts[i];
        if (PQsendQueryParams(pg->conn, st->sql, st->nparams, NULL,
                              (const char *const *)st->params, NULL, NULL, 0) != 1) {
            snprintf(pg->err, sizeof pg->err, "batch statement %zu: %s", i, PQerrorMessage(pg->conn));
            pg->last_class = PG_RETRY;
            failed = i;
            break;
        }
    }
    if (PQpipelineSync(pg->conn) != 1) {
        snprintf(pg->err, sizeof pg->err, "batch sync: %s", PQerrorMessage(pg->conn));
        pg->last_class = PG_RETRY;
    }
    /* Collect: one result (then NULL) per statement, then the sync marker. */
    rc = failed == b->n ? 0 : -1;
    for (size_t i = 0; i < b->n; i++) {
        PGresult *r = PQgetResult(pg->conn);
        if (r == NULL) break; /* the connection broke */
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) { /* statements after a send failure never went out */
            PQclear(r);
            goto synced;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0) {
            const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", code ? code : "");
            pg->last_class = st == PGRES_PIPELINE_ABORTED ? PG_PERMANENT : pg_classify(code);
            char m[400];
            pg_safe_message(r, pg->conn, m, sizeof m);
            snprintf(pg->err, sizeof pg->err, "batch statement %zu: %s", i, m);
            rc = -1;
        }
        if (results) results[i] = r;
        else PQclear(r);
        PGresult *end = PQgetResult(pg->conn); /* the NULL that ends this statement */
        PQclear(end);
    }
    for (;;) { /* up to and including the sync marker */
        PGresult *r = PQgetResult(pg->conn);
        if (r == NULL) break;
        int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync) break;
    }
synced:
    if (PQexitPipelineMode(pg->conn) != 1) {
        snprintf(pg->err, sizeof pg->err, "cannot leave pipeline mode: %s", PQerrorMessage(pg->conn));
        rc = -1;
    }
    if (rc == 0) pg->last_class = PG_OK;
    /* A failure inside BEGIN … COMMIT leaves the block aborted but open: close it, so the
     * connection is clean and nothing of the batch stays. */
    if (rc != 0 && PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(pg->conn, "ROLLBACK");
        PQclear(r);
        pg->in_tx = 0;
    }
out:
    pg_batch_clear(b);
    return rc;
}

void pg_array_put(pg_array_t *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void pg_array_add(pg_array_t *b, const char *v)
{
    pg_array_put(b, b->len > 1 ? "," : "", b->len > 1);
    if (v == NULL) {
        pg_array_put(b, "NULL", 4);
        return;
    }
    pg_array_put(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') pg_array_put(b, "\\", 1);
        pg_array_put(b, p, 1);
    }
    pg_array_put(b, "\"", 1);
}

void pg_array_start(pg_array_t *b)
{
    b->len = 0;
    b->oom = 0;
    pg_array_put(b, "{", 1);
}

void pg_array_end(pg_array_t *b) { pg_array_put(b, "}", 1); }

/* ---- COPY ... FROM STDIN ----------------------------------------------------------------- */

static void copy_put(pg_copy_t *c, const char *s, size_t n)
{
    if (c->oom) return;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 16384;
        while (cap < c->len + n + 1) cap *= 2;
        char *p = realloc(c->s, cap);
        if (p == NULL) {
            c->oom = 1;
            return;
        }
        c->s = p;
        c->cap = cap;
    }
    memcpy(c->s + c->len, s, n);
    c->len += n;
    c->s[c->len] = '\0';
}

static void copy_sep(pg_copy_t *c)
{
    if (c->col++ > 0) copy_put(c, "\t", 1);
}

void pg_copy_strn(pg_copy_t *c, const char *v, size_t n)
{
    copy_sep(c);
    if (v == NULL) {
        copy_put(c, "\\N", 2);
        return;
    }
    /* text format: backslash, tab, newline and carriage return are escaped, the rest is raw */
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = v[i] == '\\' ? "\\\\" : v[i] == '\t' ? "\\t" : v[i] == '\n' ? "\\n"
                          : v[i] == '\r' ? "\\r" : NULL;
        if (esc == NULL) continue;
        copy_put(c, v + run, i - run);
        copy_put(c, esc, 2);
        run = i + 1;
    }
    copy_put(c, v + run, n - run);
}

void pg_copy_str(pg_copy_t *c, const char *v) { pg_copy_strn(c, v, v ? strlen(v) : 0); }

void pg_copy_int(pg_copy_t *c, long long v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%lld", v);
    copy_sep(c);
    copy_put(c, b, (size_t)n);
}

void pg_copy_bool(pg_copy_t *c, int v)
{
    copy_sep(c);
    copy_put(c, v ? "t" : "f", 1);
}

void pg_copy_row_end(pg_copy_t *c)
{
    copy_put(c, "\n", 1);
    c->col = 0;
    c->rows++;
}

void pg_copy_reset(pg_copy_t *c)
{
    c->len = 0;
    c->rows = 0;
    c->col = 0;
    c->oom = 0;
    if (c->s) c->s[0] = '\0';
}

void pg_copy_free(pg_copy_t *c)
{
    free(c->s);
    memset(c, 0, sizeof *c);
}

int pg_copy_run(pg_t *pg, const char *script, pg_copy_t *const *bufs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (bufs[i]->oom) {
            snprintf(pg->err, sizeof pg->err, "copy buffer %zu: out of memory", i);
            pg->last_class = PG_PERMANENT;
            pg_rollback(pg);
            return -1;
        }
    /* never reconnect here: the script continues a transaction, and on a new session it would
     * run without what came before (locks, reservations) */
    if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
        snprintf(pg->err, sizeof pg->err, "copy script: the connection was lost");
        pg->last_class = PG_RETRY;
        pg->in_tx = 0;
        return -1;
    }
    if (PQsendQuery(pg->conn, script) != 1) {
        snprintf(pg->err, sizeof pg->err, "copy script: %s", PQerrorMessage(pg->conn));
        pg->last_class = PG_RETRY;
        pg_rollback(pg);
        return -1;
    }
    int rc = 0;
    size_t next = 0;
    PGresult *r;
    while ((r = PQgetResult(pg->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN) {
            /* the next buffer, or an abort if the script has more COPYs than buffers */
            const pg_copy_t *b = next < n ? bufs[next] : NULL;
            next++;
            if (rc != 0 || b == NULL ||
                (b->len > 0 && PQputCopyData(pg->conn, b->s, (int)b->len) != 1)) {
                if (PQputCopyEnd(pg->conn, "no data for this COPY") != 1) rc = -1;
            } else if (PQputCopyEnd(pg->conn, NULL) != 1) {
                snprintf(pg->err, sizeof pg->err, "copy %zu: %s", next - 1, PQerrorMessage(pg->conn));
                pg->last_class = PG_RETRY;
                rc = -1;
            }
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0) {
            const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            snprintf(pg->sqlstate, sizeof pg->sqlstate, "%s", code ? code : "");
            pg->last_class = pg_classify(code);
            char m[400];
            pg_safe_message(r, pg->conn, m, sizeof m);
            snprintf(pg->err, sizeof pg->err, "copy script: %s", m);
            rc = -1;
        }
        PQclear(r);
        if (st == PGRES_COPY_IN) continue;
        if (PQstatus(pg->conn) != CONNECTION_OK) break;
    }
    if (rc == 0 && next != n) {
        snprintf(pg->err, sizeof pg->err, "copy script took %zu of %zu buffers", next, n);
        pg->last_class = PG_PERMANENT;
        rc = -1;
    }
    if (rc == 0) pg->last_class = PG_OK;
    if (rc != 0 && PQtransactionStatus(pg->conn) != PQTRANS_IDLE) pg_rollback(pg);
    if (PQtransactionStatus(pg->conn) == PQTRANS_IDLE) pg->in_tx = 0;
    return rc;
}

int pg_ping(pg_t *pg)
{
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT 1", 0, NULL, &r) != 0) return -1;
    PQclear(r);
    return 0;
}

void pg_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int mig_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}


int pg_migrate(pg_t *pg, const char *dir, int *applied, char *err, size_t errlen)
{
    *applied = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "migrations folder %s: %s", dir, strerror(errno));
        return -1;
    }
    char *names[1024];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < JS_ARRAY_LEN(names)) {
        size_t l = strlen(de->d_name);
        if (l > 9 && !strcmp(de->d_name + l - 4, ".sql") && de->d_name[4] == '_' &&
            strspn(de->d_name, "0123456789") == 4)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], mig_cmp);
    int rc = -1;
    PGresult *res = NULL;
    char *sql = NULL;

    if (pg_ensure(pg) != 0) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", pg->err);
        goto out;
    }
    /* One runner at a time across every daemon that starts at once. */
    if (pg_query(pg, "SELECT pg_advisory_lock(727001)", 0, NULL, NULL) != 0 ||
        pg_query(pg,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, "
                 "name text NOT NULL, checksum text NOT NULL, "
                 "applied_at timestamptz NOT NULL DEFAULT now())",
                 0, NULL, NULL) != 0) {
        snprintf(err, errlen, "migrations: %s", pg->err);
        goto unlock;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096], version[8], sum[65];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(version, sizeof version, "%.4s", names[i]);
        size_t len = 0;
        free(sql);
        if (fsutil_read(path, 0, &sql, &len) != 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            goto unlock;
        }
        pg_sha256_hex(sql, len, sum);
        const char *p1[] = {version};
        if (pg_query(pg, "SELECT checksum FROM schema_migrations WHERE version = $1::int", 1, p1,
                     &res) != 0) {
            snprintf(err, errlen, "migrations: %s", pg->err);
            goto unlock;
        }
        if (PQntuples(res) == 1) {
            if (strcmp(PQgetvalue(res, 0, 0), sum) != 0) {
                snprintf(err, errlen,
                         "%s: already applied with different content (checksum %s, file %s); "
                         "add a new migration instead of editing an applied one",
                         path, PQgetvalue(res, 0, 0), sum);
                goto unlock;
            }
            PQclear(res);
            res = NULL;
            continue;
        }
        PQclear(res);
        res = NULL;
        if (pg_begin(pg) != 0) {
            snprintf(err, errlen, "migrations: %s", pg->err);
            goto unlock;
        }
        /* Simple-query protocol: a migration file holds many statements and no parameters. */
        PGresult *r = PQexec(pg->conn, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "%s: %s", path, PQresultErrorMessage(r));
            size_t l = strlen(err);
            while (l && err[l - 1] == '\n') err[--l] = '\0';
            PQclear(r);
            pg_rollback(pg);
            goto unlock;
        }
        PQclear(r);
        const char *p3[] = {version, names[i], sum};
        if (pg_query(pg, "INSERT INTO schema_migrations (version, name, checksum) "
                         "VALUES ($1::int, $2, $3)", 3, p3, NULL) != 0 ||
            pg_commit(pg) != 0) {
            snprintf(err, errlen, "%s: %s", path, pg->err);
            pg_rollback(pg);
            goto unlock;
        }
        (*applied)++;
        LOGI("migration applied", LF_STR("file", names[i]));
    }
    rc = 0;
unlock:
    if (pg_query(pg, "SELECT pg_advisory_unlock(727001)", 0, NULL, NULL) != 0 && rc == 0) {
        snprintf(err, errlen, "migrations: %s", pg->err);
        rc = -1;
    }
out:
    PQclear(res);
    free(sql);
    for (size_t i = 0; i < n; i++) free(names[i]);
    return rc;
}
