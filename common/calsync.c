/*
 * calsync.c — see calsync.h. A document is validated by the calendar module itself, loaded into
 * a fresh calendar beside everything else the tables hold (minus the scope and year it
 * replaces), so the rules a file must obey and the rules a PUT must obey are one set. The
 * tables are then made to match it with set-based statements (delete what the document no
 * longer lists, upsert the rest) in one transaction with its audit row.
 */
#include "calsync.h"

#include "config.h"
#include "fsutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define DEFAULT_DSN PG_DEFAULT_DSN

static void seterr(char *err, size_t len, const char *fmt, ...) JS_PRINTF(3, 4);
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    if (err == NULL || len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* ---- tables → documents --------------------------------------------------------------------- */

/* Appends a day to doc's days, extending the last range when it continues it. */
static int doc_add_day(json_t *days, calendar_day_t *last_day, const char *day, const char *kind,
                       const char *name)
{
    calendar_day_t d;
    if (calendar_day_parse(day, &d) != 0) return -1;
    json_t *prev = json_array_size(days) ? json_array_get(days, json_array_size(days) - 1) : NULL;
    if (prev && *last_day == d - 1 &&
        !strcmp(json_string_value(json_object_get(prev, "kind")), kind) &&
        !strcmp(json_string_value(json_object_get(prev, "name")), name)) {
        json_object_set_new(prev, "last", json_string(day));
        /* keep key order kind, first, last, name */
        json_t *nm = json_incref(json_object_get(prev, "name"));
        json_object_del(prev, "name");
        json_object_set_new(prev, "name", nm);
    } else {
        json_array_append_new(days, json_pack("{s:s,s:s,s:s}", "kind", kind, "first", day, "name", name));
    }
    *last_day = d;
    return 0;
}

static json_t *doc_new(int year, const char *region, const char *source)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "format", json_string("jiesu-calendar/1"));
    json_object_set_new(doc, "year", json_integer(year));
    json_object_set_new(doc, "region", region && *region ? json_string(region) : json_null());
    if (source && *source) json_object_set_new(doc, "source", json_string(source));
    json_object_set_new(doc, "days", json_array());
    return doc;
}

int calsync_documents(pg_t *pg, int year, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char ys[16];
    snprintf(ys, sizeof ys, "%d", year);
    const char *p[] = {ys};
    PGresult *ry = NULL, *rd = NULL, *rs = NULL;
    if (pg_query(pg, "SELECT year, source FROM calendar_years WHERE $1::int = 0 OR year = $1::int "
                     "ORDER BY year", 1, p, &ry) != 0 ||
        pg_query(pg, "SELECT region_code, year, source FROM calendar_regional_sources "
                     "WHERE $1::int = 0 OR year = $1::int", 1, p, &rs) != 0 ||
        pg_query(pg, "SELECT coalesce(region_code, ''), year, day::text, kind, name FROM calendar_days "
                     "WHERE $1::int = 0 OR year = $1::int ORDER BY region_code NULLS FIRST, year, day",
                 1, p, &rd) != 0) {
        seterr(err, errlen, "calendar tables: %s", pg->err);
        PQclear(ry);
        PQclear(rs);
        return -1;
    }
    json_t *arr = json_array();
    /* national documents, one per loaded year, even without exceptions */
    for (int i = 0; i < PQntuples(ry); i++)
        json_array_append_new(arr, doc_new(atoi(PQgetvalue(ry, i, 0)), NULL, PQgetvalue(ry, i, 1)));
    json_t *cur = NULL;
    char cur_region[16] = "";
    int cur_year = 0;
    calendar_day_t last = 0;
    for (int i = 0; i < PQntuples(rd); i++) {
        const char *region = PQgetvalue(rd, i, 0);
        int y = atoi(PQgetvalue(rd, i, 1));
        if (cur == NULL || strcmp(region, cur_region) != 0 || y != cur_year) {
            cur = NULL;
            snprintf(cur_region, sizeof cur_region, "%s", region);
            cur_year = y;
            size_t k;
            json_t *d;
            json_array_foreach(arr, k, d) {
                json_t *r = json_object_get(d, "region");
                if (json_integer_value(json_object_get(d, "year")) == y &&
                    (region[0] ? json_is_string(r) && !strcmp(json_string_value(r), region) : json_is_null(r)))
                    cur = d;
            }
            if (cur == NULL) {
                const char *src = NULL;
                for (int j = 0; j < PQntuples(rs); j++)
                    if (!strcmp(PQgetvalue(rs, j, 0), region) && atoi(PQgetvalue(rs, j, 1)) == y)
                        src = PQgetvalue(rs, j, 2);
                cur = doc_new(y, region, src);
                json_array_append_new(arr, cur);
            }
            last = 0;
        }
        if (doc_add_day(json_object_get(cur, "days"), &last, PQgetvalue(rd, i, 2), PQgetvalue(rd, i, 3),
                        PQgetvalue(rd, i, 4)) != 0) {
            seterr(err, errlen, "calendar_days: bad day '%s'", PQgetvalue(rd, i, 2));
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    PQclear(ry);
    PQclear(rs);
    PQclear(rd);
    *out = arr;
    return arr ? 0 : -1;
}

static int doc_is_national(const json_t *doc)
{
    json_t *r = json_object_get(doc, "region");
    return r == NULL || json_is_null(r);
}

static const char *doc_region(const json_t *doc)
{
    return doc_is_national(doc) ? "" : json_string_value(json_object_get(doc, "region"));
}

static void doc_label(const json_t *doc, char *buf, size_t len)
{
    int y = (int)json_integer_value(json_object_get(doc, "year"));
    if (doc_is_national(doc)) snprintf(buf, len, "database: national %d", y);
    else snprintf(buf, len, "database: region %s %d", doc_region(doc), y);
}

/* Loads docs into cal: nationals first (pass 0) or regionals (pass 1), skipping the one scope
 * and year given (skip_year 0 = none). */
static int load_docs(calendar_t *cal, json_t *docs, int pass, int skip_year, const char *skip_region,
                     char *err, size_t errlen)
{
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d) {
        if (doc_is_national(d) != (pass == 0)) continue;
        if (skip_year && json_integer_value(json_object_get(d, "year")) == skip_year &&
            !strcmp(doc_region(d), skip_region))
            continue;
        char label[64];
        doc_label(d, label, sizeof label);
        char *txt = json_dumps(d, JSON_COMPACT);
        int rc = txt ? calendar_load_string(cal, label, txt, err, errlen) : -1;
        free(txt);
        if (rc != 0) return -1;
    }
    return 0;
}

int calsync_load_db(pg_t *pg, calendar_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_t *docs = NULL;
    if (calsync_documents(pg, 0, &docs, err, errlen) != 0) return -1;
    calendar_t *cal = calendar_new();
    if (cal == NULL || load_docs(cal, docs, 0, 0, "", err, errlen) != 0 ||
        load_docs(cal, docs, 1, 0, "", err, errlen) != 0) {
        if (cal == NULL) seterr(err, errlen, "out of memory");
        calendar_free(cal);
        json_decref(docs);
        return -1;
    }
    json_decref(docs);
    *out = cal;
    return 0;
}

/* ---- documents → tables --------------------------------------------------------------------- */

/* The field a calendar error message names ("…: days[3] (2026-02-30): …" → "days[3]"). */
static void field_of(const char *msg, char field[CALSYNC_FIELD_SIZE])
{
    static const char *const keys[] = {"format", "year", "region", "source", "days"};
    field[0] = '\0';
    const char *p = strstr(msg, "days[");
    if (p) {
        size_t n = strcspn(p, "]");
        if (p[n] == ']' && n + 1 < CALSYNC_FIELD_SIZE) {
            memcpy(field, p, n + 1);
            field[n + 1] = '\0';
            return;
        }
    }
    const char *u = strstr(msg, "unknown key '");
    if (u) {
        u += strlen("unknown key '");
        size_t n = strcspn(u, "'");
        snprintf(field, CALSYNC_FIELD_SIZE, "%.*s", (int)(n < CALSYNC_FIELD_SIZE - 1 ? n : CALSYNC_FIELD_SIZE - 1), u);
        return;
    }
    /* a second national file for a year, a regional one before its year: the year is wrong */
    if (strstr(msg, "duplicate: the national calendar") || strstr(msg, "no national calendar")) {
        snprintf(field, CALSYNC_FIELD_SIZE, "year");
        return;
    }
    for (size_t i = 0; i < JS_ARRAY_LEN(keys); i++) {
        char pat[32];
        snprintf(pat, sizeof pat, ": %s ", keys[i]);
        if (strstr(msg, pat)) {
            snprintf(field, CALSYNC_FIELD_SIZE, "%s", keys[i]);
            return;
        }
    }
}

/* The days of a validated document as rows [{day, kind, name}]. */
static json_t *doc_rows(const json_t *doc)
{
    json_t *rows = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "days"), i, e) {
        const char *first = json_string_value(json_object_get(e, "first"));
        json_t *jl = json_object_get(e, "last");
        const char *last = jl ? json_string_value(jl) : first;
        calendar_day_t a, b;
        if (calendar_day_parse(first, &a) != 0 || calendar_day_parse(last, &b) != 0) continue;
        for (calendar_day_t d = a; d <= b; d++) {
            char ds[11];
            calendar_day_format(d, ds);
            json_array_append_new(rows, json_pack("{s:s,s:O,s:O}", "day", ds, "kind", json_object_get(e, "kind"),
                                                  "name", json_object_get(e, "name")));
        }
    }
    return rows;
}

static int put_tx(pg_t *pg, const json_t *doc, const calsync_actor_t *who, calsync_result_t *res,
                  char *err, size_t errlen)
{
    char ys[16], pid[32], before_s[16], after_s[16];
    snprintf(ys, sizeof ys, "%d", res->year);
    snprintf(pid, sizeof pid, "%lld", who ? who->principal_id : 0);
    json_t *rows = doc_rows(doc);
    char *rows_txt = json_dumps(rows, JSON_COMPACT);
    res->days_after = (int)json_array_size(rows);
    json_decref(rows);
    const char *region = res->region[0] ? res->region : NULL;
    const char *source = json_string_value(json_object_get(doc, "source"));
    PGresult *r = NULL;
    long changed = 0;
    if (rows_txt == NULL || pg_begin(pg) != 0) goto fail;
    if (region == NULL) {
        const char *p[] = {ys, source};
        if (pg_query(pg, "INSERT INTO calendar_years (year, source) VALUES ($1::int, $2) "
                         "ON CONFLICT (year) DO UPDATE SET source = excluded.source, loaded_at = now() "
                         "RETURNING (xmax = 0), (SELECT source FROM calendar_years WHERE year = $1::int)",
                     2, p, &r) != 0)
            goto fail;
        res->year_created = PQgetvalue(r, 0, 0)[0] == 't';
        changed += res->year_created || PQgetisnull(r, 0, 1) || strcmp(PQgetvalue(r, 0, 1), source);
        PQclear(r);
        r = NULL;
    } else if (source) {
        const char *p[] = {region, ys, source};
        if (pg_query(pg, "INSERT INTO calendar_regional_sources (region_code, year, source) "
                         "VALUES ($1, $2::int, $3) ON CONFLICT (region_code, year) DO UPDATE SET "
                         "source = excluded.source, updated_at = now()",
                     3, p, NULL) != 0)
            goto fail;
    }
    const char *pc[] = {region, ys, rows_txt};
    if (pg_query(pg, "SELECT count(*) FROM calendar_days WHERE region_code IS NOT DISTINCT FROM $1 "
                     "AND year = $2::int", 2, pc, &r) != 0)
        goto fail;
    res->days_before = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (pg_query(pg, "DELETE FROM calendar_days d WHERE d.region_code IS NOT DISTINCT FROM $1 AND "
                     "d.year = $2::int AND NOT EXISTS (SELECT 1 FROM json_to_recordset($3::json) "
                     "AS x(day date, kind text, name text) WHERE x.day = d.day)",
                 3, pc, &r) != 0)
        goto fail;
    changed += atol(PQcmdTuples(r));
    PQclear(r);
    r = NULL;
    if (pg_query(pg, "INSERT INTO calendar_days (region_code, day, kind, name) SELECT $1, x.day, "
                     "x.kind, x.name FROM json_to_recordset($3::json) AS x(day date, kind text, "
                     "name text) WHERE extract(year FROM x.day) = $2::int "
                     "ON CONFLICT ON CONSTRAINT calendar_days_once DO UPDATE SET kind = excluded.kind, "
                     "name = excluded.name WHERE (calendar_days.kind, calendar_days.name) IS DISTINCT FROM "
                     "(excluded.kind, excluded.name)",
                 3, pc, &r) != 0)
        goto fail;
    changed += atol(PQcmdTuples(r));
    PQclear(r);
    r = NULL;
    res->changed = changed > 0;
    snprintf(before_s, sizeof before_s, "%d", res->days_before);
    snprintf(after_s, sizeof after_s, "%d", res->days_after);
    char object[64];
    if (region) snprintf(object, sizeof object, "calendar:%d:%s", res->year, region);
    else snprintf(object, sizeof object, "calendar:%d", res->year);
    json_t *detail = json_pack("{s:s,s:s?,s:s?,s:i,s:i,s:b,s:b,s:s?}", "via", who && who->via ? who->via : "unknown",
                               "region", region, "source", source, "days_before", res->days_before,
                               "days_after", res->days_after, "year_created", res->year_created,
                               "changed", res->changed, "request_id", who ? who->request_id : NULL);
    char *dt = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    const char *pa[] = {who && who->principal_id > 0 ? pid : NULL, object, dt};
    int ok = dt && pg_query(pg, "INSERT INTO audit_log (principal_id, action, object, detail) "
                                "VALUES ($1::bigint, 'calendar.load', $2, $3::jsonb)", 3, pa, NULL) == 0;
    free(dt);
    if (!ok || pg_commit(pg) != 0) goto fail;
    free(rows_txt);
    return 0;
fail:
    seterr(err, errlen, "%s", rows_txt ? pg->err : "out of memory");
    PQclear(r);
    pg_rollback(pg);
    free(rows_txt);
    return -1;
}

int calsync_put(pg_t *pg, const char *label, const char *json, int expect_year,
                const calsync_actor_t *who, calsync_result_t *res, bool *input_error, char *field,
                char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    *input_error = false;
    field[0] = '\0';
    json_error_t je;
    json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, &je), *docs = NULL;
    calendar_t *cal = NULL;
    int rc = -1;
    if (doc == NULL) {
        seterr(err, errlen, "%s:%d:%d: %s", label, je.line, je.column, je.text);
        *input_error = true;
        return -1;
    }
    /* the module checks the rest; these two decide which scope is replaced */
    json_t *jy = json_object_get(doc, "year"), *jr = json_object_get(doc, "region");
    if (!json_is_object(doc) || !json_is_integer(jy)) {
        seterr(err, errlen, "%s: year must be an integer from %d to %d", label, CALENDAR_YEAR_MIN, CALENDAR_YEAR_MAX);
        snprintf(field, CALSYNC_FIELD_SIZE, "year");
        goto input;
    }
    res->year = (int)json_integer_value(jy);
    if (expect_year && res->year != expect_year) {
        seterr(err, errlen, "%s: year %d does not match the year %d it is stored under", label, res->year, expect_year);
        snprintf(field, CALSYNC_FIELD_SIZE, "year");
        goto input;
    }
    if (jr != NULL && !json_is_null(jr) && (!json_is_string(jr) || strlen(json_string_value(jr)) >= sizeof res->region)) {
        seterr(err, errlen, "%s: region must be null (the national calendar) or a region code", label);
        snprintf(field, CALSYNC_FIELD_SIZE, "region");
        goto input;
    }
    snprintf(res->region, sizeof res->region, "%s", jr && json_is_string(jr) ? json_string_value(jr) : "");

    if (calsync_documents(pg, 0, &docs, err, errlen) != 0) goto out;
    if ((cal = calendar_new()) == NULL) {
        seterr(err, errlen, "out of memory");
        goto out;
    }
    int national = res->region[0] == '\0';
    if (load_docs(cal, docs, 0, res->year, res->region, err, errlen) != 0) goto out;
    if (national && calendar_load_string(cal, label, json, err, errlen) != 0) goto validation;
    if (load_docs(cal, docs, 1, res->year, res->region, err, errlen) != 0) {
        /* a national document that breaks a regional file already loaded is the document's
         * fault (it must keep the year a regional file amends) */
        if (national) goto validation;
        goto out;
    }
    if (!national && calendar_load_string(cal, label, json, err, errlen) != 0) goto validation;
    if (!national) {
        const char *p[] = {res->region};
        PGresult *r = NULL;
        if (pg_query(pg, "SELECT 1 FROM regions WHERE code = $1", 1, p, &r) != 0) {
            seterr(err, errlen, "%s", pg->err);
            goto out;
        }
        int known = PQntuples(r) == 1;
        PQclear(r);
        if (!known) {
            seterr(err, errlen, "%s: region %s is not a region of this deployment", label, res->region);
            snprintf(field, CALSYNC_FIELD_SIZE, "region");
            goto input;
        }
    }
    rc = put_tx(pg, doc, who, res, err, errlen);
    goto out;
validation:
    field_of(err, field);
input:
    *input_error = true;
out:
    calendar_free(cal);
    json_decref(docs);
    json_decref(doc);
    return rc;
}

/* ---- files ------------------------------------------------------------------------------------ */

static char *read_file(const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    if (fsutil_read(path, 16u << 20, &buf, &len) == 0) return buf;
    if (errno == EFBIG) seterr(err, errlen, "%s: larger than 16 MB", path);
    else if (errno == ENOMEM) seterr(err, errlen, "%s: out of memory", path);
    else seterr(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
}

int calsync_import_missing(pg_t *pg, const char *dir, const calsync_actor_t *who, int *imported,
                           char *err, size_t errlen)
{
    *imported = 0;
    char **names = NULL;
    size_t n = 0;
    if (fsutil_list(dir, ".json", &names, &n) != 0) {
        seterr(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            char *txt = read_file(names[i], err, errlen);
            json_t *doc = txt ? json_loads(txt, 0, NULL) : NULL;
            if (doc == NULL || !json_is_integer(json_object_get(doc, "year"))) {
                free(txt);
                json_decref(doc);
                if (pass == 0) LOGW("calendar file skipped: not a calendar document", LF_STR("file", names[i]));
                continue;
            }
            if (doc_is_national(doc) != (pass == 0)) {
                free(txt);
                json_decref(doc);
                continue;
            }
            char ys[16];
            snprintf(ys, sizeof ys, "%d", (int)json_integer_value(json_object_get(doc, "year")));
            const char *region = doc_is_national(doc) ? NULL : doc_region(doc);
            const char *p[] = {region, ys};
            PGresult *r = NULL;
            int q = region
                        ? pg_query(pg, "SELECT (SELECT count(*) FROM calendar_days WHERE region_code = $1 "
                                       "AND year = $2::int) + (SELECT count(*) FROM calendar_regional_sources "
                                       "WHERE region_code = $1 AND year = $2::int), "
                                       "(SELECT count(*) FROM regions WHERE code = $1)",
                                   2, p, &r)
                        : pg_query(pg, "SELECT count(*), 1 FROM calendar_years WHERE year = $2::int "
                                       "AND $1::text IS NULL", 2, p, &r);
            if (q != 0) {
                seterr(err, errlen, "%s", pg->err);
                rc = -1;
            } else if (atoi(PQgetvalue(r, 0, 0)) == 0 && atoi(PQgetvalue(r, 0, 1)) == 0) {
                LOGW("calendar file skipped: its region is not loaded", LF_STR("file", names[i]),
                     LF_STR("region", region ? region : ""));
            } else if (atoi(PQgetvalue(r, 0, 0)) == 0) {
                calsync_result_t res;
                bool input = false;
                char field[CALSYNC_FIELD_SIZE];
                if (calsync_put(pg, names[i], txt, 0, who, &res, &input, field, err, errlen) != 0) {
                    if (input) LOGW("calendar file not imported", LF_STR("file", names[i]), LF_STR("error", err));
                    else rc = -1;
                } else {
                    (*imported)++;
                    LOGI("calendar file imported", LF_STR("file", names[i]), LF_INT("year", res.year),
                         LF_STR("region", res.region), LF_INT("days", res.days_after));
                }
            }
            PQclear(r);
            free(txt);
            json_decref(doc);
        }
    }
    fsutil_paths_free(names, n);
    return rc;
}

int calsync_export_dir(pg_t *pg, const char *dir, int year, int *written, char *err, size_t errlen)
{
    *written = 0;
    json_t *docs = NULL;
    if (calsync_documents(pg, year, &docs, err, errlen) != 0) return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        seterr(err, errlen, "%s: %s", dir, strerror(errno));
        json_decref(docs);
        return -1;
    }
    size_t i;
    json_t *d;
    int rc = 0;
    json_array_foreach(docs, i, d) {
        char path[4096];
        int y = (int)json_integer_value(json_object_get(d, "year"));
        if (doc_is_national(d)) snprintf(path, sizeof path, "%s/cn-national-%d.json", dir, y);
        else snprintf(path, sizeof path, "%s/region-%s-%d.json", dir, doc_region(d), y);
        if (json_dump_file(d, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            seterr(err, errlen, "%s: cannot write", path);
            rc = -1;
            break;
        }
        (*written)++;
    }
    json_decref(docs);
    return rc;
}

/* ---- jiesuctl calendar ------------------------------------------------------------------------ */

static void cli_usage(FILE *f)
{
    fprintf(f, "usage: jiesuctl calendar import FILE...          load files into the database (audited)\n"
               "       jiesuctl calendar export DIR [--year Y]   write the database out as files\n"
               "       jiesuctl calendar list                    the years and regional scopes loaded\n"
               "       (--pg-dsn DSN anywhere after the verb; else JIESU_PG_DSN)\n");
}

int calsync_cli(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        cli_usage(argc < 2 ? err : out);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1], *dsn = NULL, *dir = NULL;
    const char *files[256];
    int nfiles = 0, year = 0;
    int import = !strcmp(verb, "import"), export = !strcmp(verb, "export"), list = !strcmp(verb, "list");
    if (!import && !export && !list) {
        fprintf(err, "jiesuctl calendar: unknown verb '%s'\n", verb);
        cli_usage(err);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--pg-dsn") && i + 1 < argc) {
            dsn = argv[++i];
        } else if (export && !strcmp(argv[i], "--year") && i + 1 < argc) {
            char *end;
            long y = strtol(argv[++i], &end, 10);
            if (*end || y < CALENDAR_YEAR_MIN || y > CALENDAR_YEAR_MAX) {
                fprintf(err, "jiesuctl calendar export: --year must be a year from %d to %d\n",
                        CALENDAR_YEAR_MIN, CALENDAR_YEAR_MAX);
                return 2;
            }
            year = (int)y;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(err, "jiesuctl calendar %s: unknown option '%s'\n", verb, argv[i]);
            cli_usage(err);
            return 2;
        } else if (import && nfiles < (int)JS_ARRAY_LEN(files)) {
            files[nfiles++] = argv[i];
        } else if (export && dir == NULL) {
            dir = argv[i];
        } else {
            fprintf(err, "jiesuctl calendar %s: unexpected argument '%s'\n", verb, argv[i]);
            cli_usage(err);
            return 2;
        }
    }
    if ((import && nfiles == 0) || (export && dir == NULL)) {
        fprintf(err, "jiesuctl calendar %s: %s is required\n", verb, import ? "FILE" : "DIR");
        cli_usage(err);
        return 2;
    }
    if (dsn == NULL) dsn = getenv("JIESU_PG_DSN");
    if (dsn == NULL || !*dsn) dsn = DEFAULT_DSN;
    pg_t *pg = pg_new(dsn, "jiesuctl-calendar");
    if (pg == NULL || pg_ensure(pg) != 0) {
        fprintf(err, "jiesuctl calendar: cannot connect to PostgreSQL: %s\n", pg ? pg->err : "no memory");
        pg_free(pg);
        return 1;
    }
    char msg[1024] = "";
    int rc = 0;
    if (import) {
        calsync_actor_t who = {0, "jiesuctl", NULL};
        for (int i = 0; i < nfiles && rc == 0; i++) {
            char *txt = read_file(files[i], msg, sizeof msg);
            if (txt == NULL) {
                fprintf(err, "jiesuctl calendar import: %s\n", msg);
                rc = 2;
                break;
            }
            calsync_result_t res;
            bool input = false;
            char field[CALSYNC_FIELD_SIZE];
            if (calsync_put(pg, files[i], txt, 0, &who, &res, &input, field, msg, sizeof msg) != 0) {
                fprintf(err, "jiesuctl calendar import: %s%s\n", msg, input ? "; nothing of it was written" : "");
                rc = input ? 2 : 1;
            } else {
                fprintf(out, "%s: %s %d: %d exception days (was %d)%s%s\n", files[i],
                        res.region[0] ? res.region : "national", res.year, res.days_after, res.days_before,
                        res.year_created ? ", year added" : "", res.changed ? "" : ", unchanged");
            }
            free(txt);
        }
    } else if (export) {
        int written = 0;
        if (calsync_export_dir(pg, dir, year, &written, msg, sizeof msg) != 0) {
            fprintf(err, "jiesuctl calendar export: %s\n", msg);
            rc = 1;
        } else {
            fprintf(out, "%d files written to %s\n", written, dir);
        }
    } else {
        json_t *docs = NULL;
        if (calsync_documents(pg, 0, &docs, msg, sizeof msg) != 0) {
            fprintf(err, "jiesuctl calendar list: %s\n", msg);
            rc = 1;
        } else {
            size_t i;
            json_t *d;
            json_array_foreach(docs, i, d) {
                json_t *src = json_object_get(d, "source");
                fprintf(out, "%d %-10s %3zu entries  %s\n", (int)json_integer_value(json_object_get(d, "year")),
                        doc_is_national(d) ? "national" : doc_region(d), json_array_size(json_object_get(d, "days")),
                        src ? json_string_value(src) : "");
            }
        }
        json_decref(docs);
    }
    pg_free(pg);
    return rc;
}
