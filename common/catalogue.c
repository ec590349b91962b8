/*
 * catalogue.c — reads the responsibility catalogue (CSV or JSON), checks every row and then
 * every row against the database, imports it as a new version in one transaction, and answers
 * the dispatcher's question "who handles this matter here?". See catalogue.h and
 * docs/DISPATCH.md.
 *
 * The checks repeat, in C, what 0012_dispatch.sql enforces and add what only the file can be
 * asked (a duplicated matter and region, a tier below the region it must serve): the database
 * would refuse a bad row too, but it stops at the first one and cannot say on which line it
 * was. Here every row is looked at and every problem gets FILE:LINE: FIELD, so an office fixes
 * its spreadsheet in one round. Regions and units are then looked up in two queries for the
 * whole file, and the entries are written by one statement over unnest()ed arrays, so a
 * province's catalogue (a few thousand rows) is a handful of round trips.
 */
#include "catalogue.h"

#include "config.h"
#include "csv.h"
#include "fsutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERR_LINE 320
#define DEFAULT_DSN PG_DEFAULT_DSN

enum { F_MATTER, F_REGION, F_TIER, F_LEAD, F_CO, F_DISPATCH, F_BASIS, F_N };
static const char *const field_names[F_N] = {"matter_type", "region_code", "tier", "lead_unit",
                                             "co_handlers", "dispatch", "basis"};
static const char *const tier_names[5] = {"", "province", "city", "county", "township"};

typedef struct {
    int line;
    char *matter, *region, *lead, *basis; /* basis: NULL when empty */
    char *co[CATALOGUE_MAX_CO];
    size_t nco;
    int tier;   /* 1..4 */
    int centre; /* dispatch = centre */
} entry_t;

typedef struct {
    char text[ERR_LINE];
    int line;
    size_t seq;
    char field[40];
    int msg_at; /* where the message starts in text */
} error_t_;

struct catalogue {
    char *file;
    int json;          /* lines are entry numbers: FILE:#N */
    char sha256[65];
    entry_t *entries;
    size_t n, cap;
    size_t nerrors, nparse_errors;
    error_t_ errors[CATALOGUE_ERRORS_SHOWN];
    char scope[64];    /* catalogue_scope_check's region: the import replaces only its entries */
    char err[512];
};

/* ---- errors ------------------------------------------------------------------------------- */

static void JS_PRINTF(4, 5) error_add(catalogue_t *c, int line, const char *field, const char *fmt, ...)
{
    if (c->nerrors < CATALOGUE_ERRORS_SHOWN) {
        error_t_ *e = &c->errors[c->nerrors];
        const char *file = c->file ? c->file : "(input)";
        int n = line <= 0 ? snprintf(e->text, ERR_LINE, "%s: %s: ", file, field)
                : c->json ? snprintf(e->text, ERR_LINE, "%s:#%d: %s: ", file, line, field)
                          : snprintf(e->text, ERR_LINE, "%s:%d: %s: ", file, line, field);
        if (n > 0 && n < ERR_LINE) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(e->text + n, (size_t)(ERR_LINE - n), fmt, ap);
            va_end(ap);
        }
        snprintf(e->field, sizeof e->field, "%s", field);
        e->msg_at = n > 0 && n < ERR_LINE ? n : ERR_LINE - 1;
        e->line = line;
        e->seq = c->nerrors;
    }
    c->nerrors++;
}

static int oom(catalogue_t *c)
{
    snprintf(c->err, sizeof c->err, "out of memory");
    return -1;
}

size_t catalogue_error_count(const catalogue_t *c) { return c->nerrors; }
size_t catalogue_entry_count(const catalogue_t *c) { return c->n; }
const char *catalogue_strerror(const catalogue_t *c) { return c->err; }

const char *catalogue_error_at(const catalogue_t *c, size_t i)
{
    return i < c->nerrors && i < CATALOGUE_ERRORS_SHOWN ? c->errors[i].text : NULL;
}

static int error_cmp(const void *a, const void *b)
{
    const error_t_ *x = *(const error_t_ *const *)a, *y = *(const error_t_ *const *)b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* In line order, the way the office will walk its spreadsheet: the row checks, the cross-row
 * checks and the database checks find their problems in separate passes. */
void catalogue_errors_write(const catalogue_t *c, FILE *out)
{
    const error_t_ *order[CATALOGUE_ERRORS_SHOWN];
    size_t n = c->nerrors < CATALOGUE_ERRORS_SHOWN ? c->nerrors : CATALOGUE_ERRORS_SHOWN;
    for (size_t i = 0; i < n; i++) order[i] = &c->errors[i];
    qsort(order, n, sizeof order[0], error_cmp);
    for (size_t i = 0; i < n; i++) fprintf(out, "%s\n", order[i]->text);
    if (c->nerrors > CATALOGUE_ERRORS_SHOWN)
        fprintf(out, "… and %zu more errors not shown\n", c->nerrors - CATALOGUE_ERRORS_SHOWN);
}

json_t *catalogue_errors_json(const catalogue_t *c)
{
    const error_t_ *order[CATALOGUE_ERRORS_SHOWN];
    size_t n = c->nerrors < CATALOGUE_ERRORS_SHOWN ? c->nerrors : CATALOGUE_ERRORS_SHOWN;
    for (size_t i = 0; i < n; i++) order[i] = &c->errors[i];
    qsort(order, n, sizeof order[0], error_cmp);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "file", c->file ? c->file : "", "field", order[i]->field,
                              "message", order[i]->text + order[i]->msg_at);
        if (o && order[i]->line > 0)
            json_object_set_new(o, c->json ? "entry" : "line", json_integer(order[i]->line));
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

catalogue_t *catalogue_new(void) { return calloc(1, sizeof(catalogue_t)); }

static void entry_clear(entry_t *e)
{
    free(e->matter);
    free(e->region);
    free(e->lead);
    free(e->basis);
    for (size_t i = 0; i < e->nco; i++) free(e->co[i]);
    memset(e, 0, sizeof *e);
}

void catalogue_free(catalogue_t *c)
{
    if (c == NULL) return;
    for (size_t i = 0; i < c->n; i++) entry_clear(&c->entries[i]);
    free(c->entries);
    free(c->file);
    free(c);
}

/* ---- field checks ------------------------------------------------------------------------- */

/* Leading or trailing space — ASCII, no-break (U+00A0) or ideographic (U+3000). */
static int has_edge_space(const char *s, size_t n)
{
    if (n == 0) return 0;
    if (s[0] == ' ' || s[n - 1] == ' ') return 1;
    if (n >= 2 && (!memcmp(s, "\xc2\xa0", 2) || !memcmp(s + n - 2, "\xc2\xa0", 2))) return 1;
    if (n >= 3 && (!memcmp(s, "\xe3\x80\x80", 3) || !memcmp(s + n - 3, "\xe3\x80\x80", 3))) return 1;
    return 0;
}

/* The tier a division code spells: xx0000 province, xxxx00 city, other 6 digits county, 9 or
 * 12 digits township; 0 when it is not a division code. */
static int code_tier(const char *code)
{
    size_t n = strlen(code);
    if (n == 0 || strspn(code, "0123456789") != n) return 0;
    if (n == 9 || n == 12) return 4;
    if (n != 6) return 0;
    if (!strcmp(code + 2, "0000")) return 1;
    if (!strcmp(code + 4, "00")) return 2;
    return 3;
}

/* ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ — units.code in 0001_organisation.sql. */
static int unit_code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (i > 0 && (ch == '_' || ch == '.' || ch == '-'));
        if (!ok) return 0;
    }
    return 1;
}

/* Does region `outer` contain `inner` (itself or below)? Division codes nest by prefix once a
 * code's trailing "00" pairs are dropped (regions_check_parent). */
static int region_covers(const char *outer, const char *inner)
{
    size_t n = strlen(outer);
    while (n > 2 && n <= 6 && outer[n - 1] == '0' && outer[n - 2] == '0') n -= 2;
    return strncmp(outer, inner, n) == 0;
}

/* Copies s for a message: at most ~60 bytes, cut on a character boundary. */
static const char *clip(char *out, size_t outlen, const char *s)
{
    size_t max = outlen < 64 ? outlen - 4 : 60, n = strlen(s);
    if (n <= max) {
        memcpy(out, s, n + 1);
        return out;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80) max--;
    memcpy(out, s, max);
    memcpy(out + max, "\xe2\x80\xa6", 4); /* … */
    return out;
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ---- one row ------------------------------------------------------------------------------ */

/* Validates the seven fields of one entry (text as read; lengths in bytes) and keeps it when
 * every field is right. Returns -1 only when memory ran out. */
static int row_add(catalogue_t *c, int line, const char *const f[F_N], const size_t len[F_N])
{
    char v[80];
    int bad = 0, fbad[F_N] = {0};
    for (int i = 0; i < F_N; i++) {
        long cps = csv_text_check((const unsigned char *)f[i], len[i]);
        if (cps == -1) error_add(c, line, field_names[i], "not valid UTF-8 (save the file as \"CSV UTF-8\", not GBK)");
        else if (cps == -2) error_add(c, line, field_names[i], "contains a control character (tab, line break…)");
        if (cps < 0) bad = fbad[i] = 1;
    }
    if (!fbad[F_MATTER]) {
        long cps = csv_text_check((const unsigned char *)f[F_MATTER], len[F_MATTER]);
        if (len[F_MATTER] == 0) error_add(c, line, "matter_type", "is empty"), bad = 1;
        else if (has_edge_space(f[F_MATTER], len[F_MATTER]))
            error_add(c, line, "matter_type", "has leading or trailing spaces"), bad = 1;
        else if (cps > CATALOGUE_MATTER_MAX)
            error_add(c, line, "matter_type", "is %ld characters long, at most %d allowed", cps,
                      CATALOGUE_MATTER_MAX), bad = 1;
    }
    int rtier = 0;
    if (!fbad[F_REGION]) {
        rtier = code_tier(f[F_REGION]);
        if (rtier == 0)
            error_add(c, line, "region_code", "\"%s\" is not a division code (6 digits, or 9 or 12 for a township)",
                      clip(v, sizeof v, f[F_REGION])), bad = 1;
    }
    int tier = 0;
    if (!fbad[F_TIER]) {
        for (int t = 1; t <= 4; t++)
            if (!strcmp(f[F_TIER], tier_names[t])) tier = t;
        if (tier == 0)
            error_add(c, line, "tier", "\"%s\" is not a tier (province, city, county, township)",
                      clip(v, sizeof v, f[F_TIER])), bad = 1;
        else if (rtier && tier > rtier)
            error_add(c, line, "tier", "%s is below the entry's region %s (a %s): the lead unit must serve the whole region",
                      tier_names[tier], f[F_REGION], tier_names[rtier]), bad = 1;
    }
    if (!fbad[F_LEAD] && !unit_code_ok(f[F_LEAD]))
        error_add(c, line, "lead_unit", "\"%s\" is not a unit code (letters, digits, _ . -; at most 64; e.g. 450103-SCJG)",
                  clip(v, sizeof v, f[F_LEAD])), bad = 1;
    char *co[CATALOGUE_MAX_CO] = {0};
    size_t nco = 0;
    int co_oom = 0;
    if (!fbad[F_CO] && len[F_CO] > 0) {
        const char *p = f[F_CO], *end = f[F_CO] + len[F_CO];
        size_t items = 0;
        while (p <= end) {
            const char *q = memchr(p, ';', (size_t)(end - p));
            if (q == NULL) q = end;
            size_t n = (size_t)(q - p);
            char *item = dupn(p, n);
            if (item == NULL) {
                co_oom = 1;
                break;
            }
            items++;
            if (n == 0) {
                error_add(c, line, "co_handlers", "item %zu is empty (separate unit codes with one ';', no spaces)", items);
                bad = 1;
                free(item);
            } else if (!unit_code_ok(item)) {
                error_add(c, line, "co_handlers", "item %zu \"%s\" is not a unit code", items, clip(v, sizeof v, item));
                bad = 1;
                free(item);
            } else if (!fbad[F_LEAD] && !strcmp(item, f[F_LEAD])) {
                error_add(c, line, "co_handlers", "%s is the lead unit; a unit cannot co-handle its own case", item);
                bad = 1;
                free(item);
            } else {
                int dup = 0;
                for (size_t k = 0; k < nco; k++) dup |= !strcmp(co[k], item);
                if (dup) {
                    error_add(c, line, "co_handlers", "%s is listed twice", item);
                    bad = 1;
                    free(item);
                } else if (nco == CATALOGUE_MAX_CO) {
                    free(item);
                } else {
                    co[nco++] = item;
                }
            }
            p = q + 1;
        }
        if (items > CATALOGUE_MAX_CO)
            error_add(c, line, "co_handlers", "%zu co-handlers, at most %d allowed", items, CATALOGUE_MAX_CO), bad = 1;
    }
    int centre = 0;
    if (!fbad[F_DISPATCH] && len[F_DISPATCH] > 0) {
        if (!strcmp(f[F_DISPATCH], "centre")) centre = 1;
        else if (strcmp(f[F_DISPATCH], "auto"))
            error_add(c, line, "dispatch", "\"%s\" is not auto or centre (empty means auto)",
                      clip(v, sizeof v, f[F_DISPATCH])), bad = 1;
    }
    if (!fbad[F_BASIS] && len[F_BASIS] > 0) {
        long cps = csv_text_check((const unsigned char *)f[F_BASIS], len[F_BASIS]);
        if (has_edge_space(f[F_BASIS], len[F_BASIS]))
            error_add(c, line, "basis", "has leading or trailing spaces"), bad = 1;
        else if (cps > CATALOGUE_BASIS_MAX)
            error_add(c, line, "basis", "is %ld characters long, at most %d allowed", cps, CATALOGUE_BASIS_MAX), bad = 1;
    }
    if (bad || co_oom) {
        for (size_t k = 0; k < nco; k++) free(co[k]);
        return co_oom ? oom(c) : 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        entry_t *ne = realloc(c->entries, cap * sizeof *ne);
        if (ne == NULL) {
            for (size_t k = 0; k < nco; k++) free(co[k]);
            return oom(c);
        }
        c->entries = ne;
        c->cap = cap;
    }
    entry_t *e = &c->entries[c->n];
    memset(e, 0, sizeof *e);
    e->line = line;
    e->tier = tier;
    e->centre = centre;
    memcpy(e->co, co, sizeof co);
    e->nco = nco;
    e->matter = dupn(f[F_MATTER], len[F_MATTER]);
    e->region = dupn(f[F_REGION], len[F_REGION]);
    e->lead = dupn(f[F_LEAD], len[F_LEAD]);
    e->basis = len[F_BASIS] ? dupn(f[F_BASIS], len[F_BASIS]) : NULL;
    c->n++;
    if (!e->matter || !e->region || !e->lead || (len[F_BASIS] && !e->basis)) return oom(c);
    return 0;
}

/* The same matter type twice for one region: the second and later rows are errors naming the
 * first. Run once, after the whole file was read. */
static int entry_key_cmp(const void *a, const void *b)
{
    const entry_t *x = *(const entry_t *const *)a, *y = *(const entry_t *const *)b;
    int r = strcmp(x->matter, y->matter);
    if (r == 0) r = strcmp(x->region, y->region);
    if (r == 0) r = x->line < y->line ? -1 : x->line > y->line;
    return r;
}

static int duplicates_check(catalogue_t *c)
{
    if (c->n < 2) return 0;
    const entry_t **idx = malloc(c->n * sizeof *idx);
    if (idx == NULL) return oom(c);
    for (size_t i = 0; i < c->n; i++) idx[i] = &c->entries[i];
    qsort(idx, c->n, sizeof *idx, entry_key_cmp);
    char v[80];
    for (size_t i = 1; i < c->n; i++) {
        const entry_t *first = idx[i - 1];
        size_t j = i;
        while (j < c->n && !strcmp(idx[j]->matter, first->matter) && !strcmp(idx[j]->region, first->region)) {
            error_add(c, idx[j]->line, "region_code", "\"%s\" for %s is already on %s %d; one entry per matter type and region",
                      clip(v, sizeof v, first->matter), first->region, c->json ? "entry" : "line", first->line);
            j++;
        }
        i = j;
    }
    free(idx);
    return 0;
}

static int start_file(catalogue_t *c, const char *name, const char *buf, size_t len, int json)
{
    c->err[0] = '\0';
    if (c->file) {
        snprintf(c->err, sizeof c->err, "a catalogue is one file; %s was read already", c->file);
        return -1;
    }
    c->file = strdup(name);
    if (c->file == NULL) return oom(c);
    c->json = json;
    pg_sha256_hex(buf, len, c->sha256);
    return 0;
}

int catalogue_parse_csv(catalogue_t *c, const char *name, const char *buf, size_t len)
{
    if (start_file(c, name, buf, len, 0) != 0) return -1;
    csv_reader_t in;
    csv_reader_init(&in, buf, len);
    csv_rec_t r = {0};
    int map[F_N];
    int rc = csv_next(&in, &r);
    if (rc == 0) error_add(c, 1, "header", "the file is empty");
    if (rc == 1) {
        char why[128];
        if (csv_header_map(&r, field_names, F_N, map, why, sizeof why) != 0) {
            error_add(c, r.line, "header", "expected \"%s\" (in any order): %s; no row of this file was read",
                      CATALOGUE_CSV_HEADER, why);
            rc = 0;
        }
    }
    while (rc == 1 && (rc = csv_next(&in, &r)) == 1) {
        if (r.err) {
            const char *field = "row";
            for (int i = 0; i < F_N; i++)
                if (map[i] == r.err_field) field = field_names[i];
            error_add(c, r.line, field, "%s", r.err);
            continue;
        }
        if (r.n != F_N) {
            error_add(c, r.line, "row", "%d fields, expected %d (%s)", r.n, F_N, CATALOGUE_CSV_HEADER);
            continue;
        }
        const char *f[F_N];
        size_t fl[F_N];
        csv_fields(&r, map, F_N, f, fl);
        if (row_add(c, r.line, f, fl) != 0) rc = -1;
    }
    csv_rec_free(&r);
    if (rc < 0) return c->err[0] ? -1 : oom(c);
    if (duplicates_check(c) != 0) return -1;
    c->nparse_errors = c->nerrors;
    return 0;
}

/* ---- JSON --------------------------------------------------------------------------------- */

int catalogue_parse_json(catalogue_t *c, const char *name, const char *buf, size_t len)
{
    if (start_file(c, name, buf, len, 1) != 0) return -1;
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        c->json = 0; /* the position is a line here */
        error_add(c, je.line > 0 ? je.line : 1, "json", "%s (column %d)", je.text, je.column);
        c->json = 1;
        c->nparse_errors = c->nerrors;
        return 0;
    }
    if (!json_is_array(root)) {
        error_add(c, 0, "json", "must be an array of entries");
        json_decref(root);
        c->nparse_errors = c->nerrors;
        return 0;
    }
    if (json_array_size(root) == 0) error_add(c, 0, "json", "the catalogue has no entries");
    size_t i;
    json_t *o;
    int rc = 0;
    json_array_foreach(root, i, o) {
        int line = (int)i + 1, bad = 0;
        if (!json_is_object(o)) {
            error_add(c, line, "entry", "must be an object");
            continue;
        }
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v) {
            int known = 0;
            for (int k = 0; k < F_N; k++) known |= !strcmp(key, field_names[k]);
            if (!known) error_add(c, line, key, "is not a field of an entry (%s)", CATALOGUE_CSV_HEADER), bad = 1;
        }
        const char *f[F_N];
        size_t fl[F_N];
        char *co_joined = NULL;
        for (int k = 0; k < F_N; k++) {
            json_t *x = json_object_get(o, field_names[k]);
            f[k] = "";
            fl[k] = 0;
            if (x == NULL || json_is_null(x)) {
                if (k <= F_LEAD && k != F_CO) error_add(c, line, field_names[k], "is required"), bad = 1;
                continue;
            }
            if (k == F_CO) {
                if (!json_is_array(x)) {
                    error_add(c, line, "co_handlers", "must be an array of unit codes"), bad = 1;
                    continue;
                }
                size_t total = 0, j;
                json_t *it;
                json_array_foreach(x, j, it) {
                    if (!json_is_string(it) || strchr(json_string_value(it), ';') ||
                        strlen(json_string_value(it)) != json_string_length(it)) {
                        error_add(c, line, "co_handlers", "item %zu must be a unit code", j + 1), bad = 1;
                        break;
                    }
                    total += json_string_length(it) + 1;
                }
                if (bad) continue;
                co_joined = calloc(1, total + 1);
                if (co_joined == NULL) {
                    rc = oom(c);
                    break;
                }
                json_array_foreach(x, j, it) {
                    if (j) strcat(co_joined, ";");
                    strcat(co_joined, json_string_value(it));
                }
                f[k] = co_joined;
                fl[k] = strlen(co_joined);
                continue;
            }
            if (!json_is_string(x) || strlen(json_string_value(x)) != json_string_length(x)) {
                error_add(c, line, field_names[k], "must be a string"), bad = 1;
                continue;
            }
            f[k] = json_string_value(x);
            fl[k] = json_string_length(x);
        }
        if (rc == 0 && !bad && row_add(c, line, f, fl) != 0) rc = -1;
        free(co_joined);
        if (rc != 0) break;
    }
    json_decref(root);
    if (rc != 0) return -1;
    if (duplicates_check(c) != 0) return -1;
    c->nparse_errors = c->nerrors;
    return 0;
}

int catalogue_scope_check(catalogue_t *c, const char *scope)
{
    c->scope[0] = '\0';
    if (scope == NULL || *scope == '\0') return 0;
    snprintf(c->scope, sizeof c->scope, "%s", scope);
    c->nerrors = c->nparse_errors;
    for (size_t i = 0; i < c->n; i++)
        if (!region_covers(scope, c->entries[i].region))
            error_add(c, c->entries[i].line, "region_code", "%s is outside your jurisdiction (%s)",
                      c->entries[i].region, scope);
    c->nparse_errors = c->nerrors;
    return c->nerrors ? -1 : 0;
}

int catalogue_load_file(catalogue_t *c, const char *path)
{
    char *buf;
    size_t len;
    if (fsutil_read(path, 0, &buf, &len) != 0) {
        if (errno == ENOMEM) return oom(c);
        int e = errno;
        if (c->file == NULL) c->file = strdup(path);
        error_add(c, 0, "file", "cannot read: %s", strerror(e));
        c->nparse_errors = c->nerrors;
        return -1;
    }
    size_t pl = strlen(path);
    int rc = pl > 5 && !strcmp(path + pl - 5, ".json") ? catalogue_parse_json(c, path, buf, len)
                                                        : catalogue_parse_csv(c, path, buf, len);
    free(buf);
    return rc;
}


/* ---- import ------------------------------------------------------------------------------- */


static void db_error(catalogue_t *c, pg_t *pg, const char *what)
{
    snprintf(c->err, sizeof c->err, "%s: %.440s", what, pg->err);
    for (char *p = c->err; *p; p++)
        if (*p == '\n') *p = ' ';
}

/* What the database knows of a unit the file names. */
typedef struct {
    const char *code; /* borrowed from the result */
    long long id;
    const char *region;
    int tier;
    int active;
} unit_row_t;

typedef struct {
    const char *code;
    int tier;
} region_row_t;

static int unit_row_cmp(const void *a, const void *b)
{
    return strcmp(((const unit_row_t *)a)->code, ((const unit_row_t *)b)->code);
}

static int region_row_cmp(const void *a, const void *b)
{
    return strcmp(((const region_row_t *)a)->code, ((const region_row_t *)b)->code);
}

static const unit_row_t *unit_find(const unit_row_t *v, size_t n, const char *code)
{
    unit_row_t key = {.code = code};
    return bsearch(&key, v, n, sizeof *v, unit_row_cmp);
}

static const region_row_t *region_find(const region_row_t *v, size_t n, const char *code)
{
    region_row_t key = {.code = code};
    return bsearch(&key, v, n, sizeof *v, region_row_cmp);
}

/* A unit named in field `field` of e must exist, be active and serve e's whole region. */
static const unit_row_t *unit_check(catalogue_t *c, const entry_t *e, const char *field, const char *code,
                                    const unit_row_t *units, size_t nunits)
{
    const unit_row_t *u = unit_find(units, nunits, code);
    if (u == NULL) {
        error_add(c, e->line, field, "%s is not a unit in the database (import the territory first)", code);
        return NULL;
    }
    if (!u->active) {
        error_add(c, e->line, field, "%s is deactivated and receives no new cases", code);
        return NULL;
    }
    if (!region_covers(u->region, e->region)) {
        error_add(c, e->line, field, "%s belongs to region %s, which does not contain the entry's region %s", code,
                  u->region, e->region);
        return NULL;
    }
    return u;
}

/* Checks every entry against regions and units; fills lead[i] / co ids (as an array literal)
 * for the insert. 0 when the queries ran (errors, if any, are on c); -1 on a database failure. */
static int db_check(catalogue_t *c, pg_t *pg, long long *lead, char **co_lit)
{
    pg_array_t rl = {0}, ul = {0};
    pg_array_start(&rl);
    pg_array_start(&ul);
    for (size_t i = 0; i < c->n; i++) {
        const entry_t *e = &c->entries[i];
        pg_array_add(&rl, e->region);
        pg_array_add(&ul, e->lead);
        for (size_t k = 0; k < e->nco; k++) pg_array_add(&ul, e->co[k]);
    }
    pg_array_end(&rl);
    pg_array_end(&ul);
    PGresult *rr = NULL, *ur = NULL;
    region_row_t *regions = NULL;
    unit_row_t *units = NULL;
    int rc = -1;
    if (rl.oom || ul.oom) {
        oom(c);
        goto out;
    }
    const char *p1[] = {rl.s};
    if (pg_query(pg, "SELECT code, tier FROM regions WHERE code = ANY($1::text[])", 1, p1, &rr) != 0) {
        db_error(c, pg, "looking up regions");
        goto out;
    }
    const char *p2[] = {ul.s};
    if (pg_query(pg,
                 "SELECT u.code, u.id, u.region_code, r.tier, u.active FROM units u "
                 "JOIN regions r ON r.code = u.region_code WHERE u.code = ANY($1::text[])",
                 1, p2, &ur) != 0) {
        db_error(c, pg, "looking up units");
        goto out;
    }
    size_t nr = (size_t)PQntuples(rr), nu = (size_t)PQntuples(ur);
    regions = calloc(nr ? nr : 1, sizeof *regions);
    units = calloc(nu ? nu : 1, sizeof *units);
    if (regions == NULL || units == NULL) {
        oom(c);
        goto out;
    }
    for (size_t i = 0; i < nr; i++)
        regions[i] = (region_row_t){PQgetvalue(rr, (int)i, 0), atoi(PQgetvalue(rr, (int)i, 1))};
    for (size_t i = 0; i < nu; i++)
        units[i] = (unit_row_t){PQgetvalue(ur, (int)i, 0), strtoll(PQgetvalue(ur, (int)i, 1), NULL, 10),
                                PQgetvalue(ur, (int)i, 2), atoi(PQgetvalue(ur, (int)i, 3)),
                                PQgetvalue(ur, (int)i, 4)[0] == 't'};
    qsort(regions, nr, sizeof *regions, region_row_cmp);
    qsort(units, nu, sizeof *units, unit_row_cmp);
    for (size_t i = 0; i < c->n; i++) {
        const entry_t *e = &c->entries[i];
        if (region_find(regions, nr, e->region) == NULL)
            error_add(c, e->line, "region_code", "%s is not a region in the database (import the territory first)",
                      e->region);
        const unit_row_t *l = unit_check(c, e, "lead_unit", e->lead, units, nu);
        if (l && l->tier != e->tier)
            error_add(c, e->line, "tier", "%s, but the lead unit %s is a %s unit (region %s)", tier_names[e->tier],
                      e->lead, tier_names[l->tier], l->region);
        lead[i] = l ? l->id : 0;
        pg_array_t cl = {0};
        pg_array_start(&cl);
        for (size_t k = 0; k < e->nco; k++) {
            const unit_row_t *u = unit_check(c, e, "co_handlers", e->co[k], units, nu);
            char id[24];
            snprintf(id, sizeof id, "%lld", u ? u->id : 0LL);
            pg_array_put(&cl, k ? "," : "", k ? 1 : 0);
            pg_array_put(&cl, id, strlen(id));
        }
        pg_array_end(&cl);
        if (cl.oom) {
            free(cl.s);
            oom(c);
            goto out;
        }
        co_lit[i] = cl.s;
    }
    rc = 0;
out:
    free(regions);
    free(units);
    PQclear(rr);
    PQclear(ur);
    free(rl.s);
    free(ul.s);
    return rc;
}

#define ENTRIES_INSERT_SQL                                                                     \
    "INSERT INTO catalogue_entries (version, matter_type, region_code, tier, lead_unit_id,"    \
    " co_unit_ids, dispatch, basis, line)"                                                     \
    " SELECT $1::int, x.m, x.r, x.t, x.l, x.c::bigint[], x.d, x.b, x.ln"                       \
    "   FROM unnest($2::text[], $3::text[], $4::smallint[], $5::bigint[], $6::text[],"         \
    "               $7::text[], $8::text[], $9::int[]) AS x(m, r, t, l, c, d, b, ln)"

/* A scoped import against the version in force ($1): the rows that differ either way between
 * the file's entries ($3..$9, units resolved) and the version's entries inside the scope (region
 * codes starting with $2), and how many of the version's entries lie outside it (kept). Zero
 * differences: the merged version would equal the one in force. */
#define SCOPE_COMPARE_SQL                                                                      \
    "WITH f AS (SELECT x.m, x.r, x.t, x.l, x.c::bigint[] AS c, x.d, x.b"                       \
    "             FROM unnest($3::text[], $4::text[], $5::smallint[], $6::bigint[], $7::text[]," \
    "                         $8::text[], $9::text[]) AS x(m, r, t, l, c, d, b)),"             \
    " cur AS (SELECT matter_type, region_code, tier, lead_unit_id, co_unit_ids, dispatch, basis" \
    "           FROM catalogue_entries WHERE version = $1::int AND starts_with(region_code, $2))" \
    " SELECT (SELECT count(*) FROM (SELECT * FROM f EXCEPT ALL SELECT * FROM cur) a)"          \
    "      + (SELECT count(*) FROM (SELECT * FROM cur EXCEPT ALL SELECT * FROM f) b),"         \
    "        (SELECT count(*) FROM catalogue_entries"                                          \
    "          WHERE version = $1::int AND NOT starts_with(region_code, $2))"

/* The entries of version $2 outside the scope ($3, a code prefix) copied unchanged, line
 * numbers included, into the new version $1. */
#define ENTRIES_KEEP_SQL                                                                       \
    "INSERT INTO catalogue_entries (version, matter_type, region_code, tier, lead_unit_id,"    \
    " co_unit_ids, dispatch, basis, line)"                                                     \
    " SELECT $1::int, matter_type, region_code, tier, lead_unit_id, co_unit_ids, dispatch,"    \
    "        basis, line FROM catalogue_entries"                                               \
    "  WHERE version = $2::int AND NOT starts_with(region_code, $3)"

/* The columns of the file's entries as array literals: matter, region, tier, lead id,
 * co-handler ids, dispatch, basis, line. 0, or -1 when memory ran out (all freed then). */
static int rows_build(catalogue_t *c, const long long *lead, char *const *co_lit, pg_array_t a[8])
{
    for (int k = 0; k < 8; k++) {
        memset(&a[k], 0, sizeof a[k]);
        pg_array_start(&a[k]);
    }
    for (size_t i = 0; i < c->n; i++) {
        const entry_t *e = &c->entries[i];
        char t[4], l[24], ln[16];
        snprintf(t, sizeof t, "%d", e->tier);
        snprintf(l, sizeof l, "%lld", lead[i]);
        snprintf(ln, sizeof ln, "%d", e->line);
        pg_array_add(&a[0], e->matter);
        pg_array_add(&a[1], e->region);
        pg_array_add(&a[2], t);
        pg_array_add(&a[3], l);
        pg_array_add(&a[4], co_lit[i]);
        pg_array_add(&a[5], e->centre ? "centre" : "auto");
        pg_array_add(&a[6], e->basis);
        pg_array_add(&a[7], ln);
    }
    int failed = 0;
    for (int k = 0; k < 8; k++) {
        pg_array_end(&a[k]);
        failed |= a[k].oom;
    }
    if (!failed) return 0;
    for (int k = 0; k < 8; k++) free(a[k].s), a[k].s = NULL;
    return oom(c);
}

/* The code prefix of the regions a scope contains (region_covers), for SQL's starts_with. */
static void scope_prefix(const char *scope, char *out, size_t outlen)
{
    size_t n = strlen(scope);
    while (n > 2 && n <= 6 && scope[n - 1] == '0' && scope[n - 2] == '0') n -= 2;
    snprintf(out, outlen, "%.*s", (int)n, scope);
}

/* What the new version is made of besides the file's entries. */
typedef struct {
    int base;            /* the version in force, 0 when none */
    const char *prefix;  /* scoped: the entries of base outside it are kept; NULL = none kept */
    long kept;           /* how many */
    const char *sha256;  /* recorded with the version */
} merge_t;

/* The new version and its entries, inside the open transaction. */
static int db_write(catalogue_t *c, pg_t *pg, const char *note, long long principal_id, pg_array_t a[8],
                    const merge_t *m, catalogue_import_result_t *res)
{
    PGresult *r = NULL;
    char entries[24], who[24];
    snprintf(entries, sizeof entries, "%ld", (long)c->n + m->kept);
    snprintf(who, sizeof who, "%lld", principal_id);
    const char *pv[] = {c->file, m->sha256, entries, note, principal_id > 0 ? who : NULL};
    if (pg_query(pg,
                 "INSERT INTO catalogue_versions (version, source, sha256, entries, note, imported_by) "
                 "SELECT coalesce(max(version), 0) + 1, $1, $2, $3::int, $4, $5::bigint FROM catalogue_versions "
                 "RETURNING version",
                 5, pv, &r) != 0) {
        if (!strncmp(pg->sqlstate, "23", 2)) error_add(c, 0, "file", "the database refused the version: %.300s", pg->err);
        else db_error(c, pg, "adding the version");
        return -1;
    }
    res->version = atoi(PQgetvalue(r, 0, 0));
    res->entries = (long)c->n + m->kept;
    res->kept = m->kept;
    PQclear(r);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", res->version);
    if (c->n > 0) {
        const char *p[] = {ver, a[0].s, a[1].s, a[2].s, a[3].s, a[4].s, a[5].s, a[6].s, a[7].s};
        if (pg_query(pg, ENTRIES_INSERT_SQL, 9, p, NULL) != 0) {
            if (!strncmp(pg->sqlstate, "23", 2))
                error_add(c, 0, "entries", "the database refused the data: %.300s", pg->err);
            else db_error(c, pg, "writing the entries");
            return -1;
        }
    }
    if (m->kept > 0) {
        char base[16];
        snprintf(base, sizeof base, "%d", m->base);
        const char *p[] = {ver, base, m->prefix};
        PGresult *k = NULL;
        if (pg_query(pg, ENTRIES_KEEP_SQL, 3, p, &k) != 0) {
            db_error(c, pg, "keeping the entries outside the scope");
            return -1;
        }
        long copied = atol(PQcmdTuples(k));
        PQclear(k);
        if (copied != m->kept) { /* the lock makes this impossible; refuse rather than guess */
            snprintf(c->err, sizeof c->err, "kept %ld entries of version %d, expected %ld", copied, m->base, m->kept);
            return -1;
        }
    }
    json_t *detail = json_pack("{s:s,s:s,s:I,s:i}", "file", c->file, "sha256", c->sha256, "entries",
                               (json_int_t)res->entries, "version", res->version);
    if (detail && note) json_object_set_new(detail, "note", json_string(note));
    if (detail && c->scope[0])
        json_object_set_new(detail, "scope",
                            json_pack("{s:s,s:I,s:I,s:i}", "region", c->scope, "file_entries", (json_int_t)c->n,
                                      "kept_entries", (json_int_t)m->kept, "kept_from", m->base));
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (text == NULL) return oom(c);
    char object[40];
    snprintf(object, sizeof object, "catalogue:%d", res->version);
    const char *pa[] = {object, text, principal_id > 0 ? who : NULL};
    int rc = pg_query(pg,
                      "INSERT INTO audit_log (action, object, detail, principal_id)"
                      " VALUES ('catalogue.import', $1, $2::jsonb, $3::bigint)",
                      3, pa, NULL);
    free(text);
    if (rc != 0) db_error(c, pg, "writing the audit log");
    return rc;
}

int catalogue_import(catalogue_t *c, pg_t *pg, const char *note, catalogue_import_result_t *out)
{
    return catalogue_import_by(c, pg, note, 0, out);
}

int catalogue_import_by(catalogue_t *c, pg_t *pg, const char *note, long long principal_id,
                        catalogue_import_result_t *out)
{
    catalogue_import_result_t res = {0};
    if (out) *out = res;
    c->err[0] = '\0';
    c->nerrors = c->nparse_errors; /* the database checks are redone on each call */
    if (c->file == NULL) {
        snprintf(c->err, sizeof c->err, "no catalogue was read");
        return -1;
    }
    if (c->n == 0) {
        if (c->nerrors == 0) {
            error_add(c, 0, "file", "the catalogue has no entries");
            c->nparse_errors = c->nerrors;
        }
        return -1;
    }
    /* With errors in the file already, the rows that read well are still checked against the
     * database (and nothing written), so one report names every problem. */
    long long *lead = calloc(c->n, sizeof *lead);
    char **co_lit = calloc(c->n, sizeof *co_lit);
    pg_array_t a[8] = {{0}};
    PGresult *r = NULL;
    int rc = -1;
    if (lead == NULL || co_lit == NULL) {
        oom(c);
        goto out;
    }
    if (pg_begin(pg) != 0) {
        db_error(c, pg, "begin");
        goto out;
    }
    /* Two imports at once would both take "the highest version + 1" (and a scoped one would
     * keep the other regions' entries of a version that is no longer in force). */
    if (pg_query(pg, "SELECT pg_advisory_xact_lock(hashtext('jiesu.catalogue.import'))", 0, NULL, NULL) != 0) {
        db_error(c, pg, "locking");
        goto fail;
    }
    if (db_check(c, pg, lead, co_lit) != 0 || c->nerrors) goto fail;
    if (pg_query(pg, "SELECT version, sha256, entries FROM catalogue_versions ORDER BY version DESC LIMIT 1", 0, NULL,
                 &r) != 0) {
        db_error(c, pg, "reading the version in force");
        goto fail;
    }
    merge_t m = {.sha256 = c->sha256};
    char base_sha[65] = "", prefix[64] = "", merged_sha[65];
    long base_entries = 0;
    if (PQntuples(r) == 1) {
        m.base = atoi(PQgetvalue(r, 0, 0));
        snprintf(base_sha, sizeof base_sha, "%s", PQgetvalue(r, 0, 1));
        base_entries = atol(PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    r = NULL;
    if (rows_build(c, lead, co_lit, a) != 0) goto fail;
    int unchanged;
    if (c->scope[0] == '\0') {
        /* The whole catalogue: the same file as the version in force changes nothing. */
        unchanged = m.base > 0 && !strcmp(base_sha, c->sha256);
    } else {
        /* One region's part: the new version is the file's entries plus the version in force's
         * entries outside the scope, unchanged; it changes nothing when the file's entries are
         * those the version in force has inside the scope. */
        scope_prefix(c->scope, prefix, sizeof prefix);
        char base[16];
        snprintf(base, sizeof base, "%d", m.base);
        const char *p[] = {base, prefix, a[0].s, a[1].s, a[2].s, a[3].s, a[4].s, a[5].s, a[6].s};
        if (pg_query(pg, SCOPE_COMPARE_SQL, 9, p, &r) != 0) {
            db_error(c, pg, "comparing with the version in force");
            goto fail;
        }
        unchanged = m.base > 0 && atol(PQgetvalue(r, 0, 0)) == 0;
        m.kept = atol(PQgetvalue(r, 0, 1));
        m.prefix = prefix;
        PQclear(r);
        r = NULL;
        if (m.kept > 0) {
            /* Not the file's digest: a deployment-wide import of this file must not pass for
             * a no-op. The digest of what the version was made from instead. */
            char text[256];
            int n = snprintf(text, sizeof text, "jiesu.catalogue.merge\nfile %s\nscope %s\nkept from %d %s\n",
                             c->sha256, c->scope, m.base, base_sha);
            pg_sha256_hex(text, n > 0 && (size_t)n < sizeof text ? (size_t)n : sizeof text - 1, merged_sha);
            m.sha256 = merged_sha;
        }
    }
    if (unchanged) {
        res.version = m.base;
        res.entries = base_entries;
        res.kept = m.kept;
        res.unchanged = 1;
        pg_rollback(pg);
        rc = 0;
        goto out;
    }
    if (db_write(c, pg, note, principal_id, a, &m, &res) != 0) goto fail;
    if (pg_commit(pg) != 0) {
        db_error(c, pg, "commit");
        goto out;
    }
    rc = 0;
    goto out;
fail:
    pg_rollback(pg);
out:
    for (int k = 0; k < 8; k++) free(a[k].s);
    if (co_lit)
        for (size_t i = 0; i < c->n; i++) free(co_lit[i]);
    free(co_lit);
    free(lead);
    if (rc == 0 && out) *out = res;
    return rc;
}

/* ---- routing ------------------------------------------------------------------------------ */

/* The walk up the parent chain (at most 8 levels, as region_effective_profile), the version in
 * force, and the nearest entry of that version for the matter type. The co-handlers keep the
 * file's order; deactivated ones are counted apart. */
#define ROUTE_SQL                                                                              \
    "WITH RECURSIVE up(code, parent_code, depth) AS ("                                         \
    "   SELECT code, parent_code, 0 FROM regions WHERE code = $2"                              \
    "   UNION ALL SELECT r.code, r.parent_code, up.depth + 1 FROM regions r"                   \
    "     JOIN up ON r.code = up.parent_code WHERE up.depth < 8),"                             \
    " v AS (SELECT max(version) AS version FROM catalogue_versions),"                          \
    " m AS (SELECT e.* FROM up JOIN catalogue_entries e ON e.region_code = up.code, v"         \
    "        WHERE e.version = v.version AND e.matter_type = $1 ORDER BY up.depth LIMIT 1)"    \
    " SELECT v.version, m.region_code, m.tier, m.lead_unit_id, u.active, m.dispatch,"          \
    "        coalesce(m.basis, ''),"                                                           \
    "        array_to_string(ARRAY(SELECT x.id FROM unnest(m.co_unit_ids) WITH ORDINALITY"     \
    "          AS x(id, n) JOIN units cu ON cu.id = x.id AND cu.active ORDER BY x.n), ','),"   \
    "        (SELECT count(*) FROM units cu WHERE cu.id = ANY (m.co_unit_ids) AND NOT cu.active)" \
    "   FROM v LEFT JOIN m ON true LEFT JOIN units u ON u.id = m.lead_unit_id"

const char *catalogue_route_sql(void) { return ROUTE_SQL; }

void catalogue_route_result(const PGresult *r, catalogue_match_t *out)
{
    memset(out, 0, sizeof *out);
    if (PQntuples(r) != 1) return;
    out->version = atoi(PQgetvalue(r, 0, 0));
    if (PQgetisnull(r, 0, 1)) return;
    out->found = 1;
    snprintf(out->region_code, sizeof out->region_code, "%s", PQgetvalue(r, 0, 1));
    out->tier = atoi(PQgetvalue(r, 0, 2));
    out->lead_unit_id = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    out->lead_active = PQgetvalue(r, 0, 4)[0] == 't';
    out->centre_decides = !strcmp(PQgetvalue(r, 0, 5), "centre");
    snprintf(out->basis, sizeof out->basis, "%s", PQgetvalue(r, 0, 6));
    const char *s = PQgetvalue(r, 0, 7);
    while (*s && out->nco < CATALOGUE_MAX_CO) {
        char *end;
        long long id = strtoll(s, &end, 10);
        if (end == s) break;
        out->co_unit_ids[out->nco++] = id;
        s = *end == ',' ? end + 1 : end;
    }
    out->nco_inactive = (size_t)strtoul(PQgetvalue(r, 0, 8), NULL, 10);
}

int catalogue_route(pg_t *pg, const char *matter_type, const char *region_code, catalogue_match_t *out)
{
    memset(out, 0, sizeof *out);
    const char *p[] = {matter_type, region_code};
    PGresult *r = NULL;
    if (pg_query(pg, ROUTE_SQL, 2, p, &r) != 0) return -1;
    catalogue_route_result(r, out);
    PQclear(r);
    return 0;
}

/* ---- command line ------------------------------------------------------------------------- */

static void cli_usage(FILE *f)
{
    fprintf(f, "usage: jiesuctl catalogue import FILE [--note TEXT] [--pg-dsn DSN]\n"
               "       jiesuctl catalogue check FILE\n"
               "       jiesuctl catalogue route --matter-type TEXT --region CODE [--pg-dsn DSN]\n"
               "  FILE: CSV with the header " CATALOGUE_CSV_HEADER "\n"
               "        (co_handlers: unit codes separated by ';'), or a JSON array of such entries\n"
               "  exit codes: 0 done, 1 runtime failure, 2 usage or input errors (nothing written)\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pg_t *cli_connect(const char *dsn, const char *verb, FILE *err)
{
    if (dsn == NULL) dsn = getenv("JIESU_PG_DSN");
    if (dsn == NULL || !*dsn) dsn = DEFAULT_DSN;
    pg_t *pg = pg_new(dsn, "jiesuctl-catalogue");
    if (pg == NULL || pg_ensure(pg) != 0) {
        char why[512] = "out of memory";
        if (pg) {
            snprintf(why, sizeof why, "%s", pg->err);
            for (char *p = why; *p; p++)
                if (*p == '\n' || *p == '\t') *p = ' ';
            for (size_t l = strlen(why); l && why[l - 1] == ' ';) why[--l] = '\0';
        }
        fprintf(err, "jiesuctl catalogue %s: cannot connect to PostgreSQL: %s\n", verb, why);
        pg_free(pg);
        return NULL;
    }
    return pg;
}

/* How many distinct matter types and regions the entries name. */
static void cli_counts(const catalogue_t *c, size_t *matters, size_t *regions)
{
    *matters = *regions = 0;
    for (size_t i = 0; i < c->n; i++) {
        int seen_m = 0, seen_r = 0;
        for (size_t j = 0; j < i && !(seen_m && seen_r); j++) {
            seen_m |= !strcmp(c->entries[j].matter, c->entries[i].matter);
            seen_r |= !strcmp(c->entries[j].region, c->entries[i].region);
        }
        *matters += !seen_m;
        *regions += !seen_r;
    }
}

static int cli_route(int argc, char **argv, FILE *out, FILE *err)
{
    const char *matter = NULL, *region = NULL, *dsn = NULL;
    for (int i = 2; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--matter-type") ? &matter
                            : !strcmp(argv[i], "--region") ? &region
                            : !strcmp(argv[i], "--pg-dsn") ? &dsn
                                                           : NULL;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(err, "jiesuctl catalogue route: %s '%s'\n", slot ? "missing value for" : "unexpected argument", argv[i]);
            cli_usage(err);
            return 2;
        }
        *slot = argv[++i];
    }
    if (matter == NULL || region == NULL) {
        fprintf(err, "jiesuctl catalogue route: --matter-type and --region are required\n");
        return 2;
    }
    pg_t *pg = cli_connect(dsn, "route", err);
    if (pg == NULL) return 1;
    catalogue_match_t m;
    int rc = 0;
    if (catalogue_route(pg, matter, region, &m) != 0) {
        fprintf(err, "jiesuctl catalogue route: %s\n", pg->err);
        rc = 1;
    } else if (!m.found) {
        fprintf(out, "version %d: no entry for \"%s\" at %s or above: the case waits in its centre's queue\n",
                m.version, matter, region);
    } else {
        char ids[512] = "";
        size_t o = 0;
        snprintf(ids, sizeof ids, "{%lld", m.lead_unit_id);
        o = strlen(ids);
        for (size_t k = 0; k < m.nco && o + 24 < sizeof ids; k++) o += (size_t)snprintf(ids + o, sizeof ids - o, ",%lld", m.co_unit_ids[k]);
        snprintf(ids + o, sizeof ids - o, "}");
        const char *p[] = {ids};
        PGresult *r = NULL;
        if (pg_query(pg, "SELECT code FROM units u JOIN unnest($1::bigint[]) WITH ORDINALITY AS x(id, n) "
                         "ON u.id = x.id ORDER BY x.n", 1, p, &r) != 0) {
            fprintf(err, "jiesuctl catalogue route: %s\n", pg->err);
            rc = 1;
        } else {
            fprintf(out, "version %d: \"%s\" at %s → entry of %s, %s tier: lead %s%s", m.version, matter, region,
                    m.region_code, tier_names[m.tier], PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "?",
                    m.lead_active ? "" : " (deactivated)");
            for (int i = 1; i < PQntuples(r); i++) fprintf(out, "%s%s", i == 1 ? ", co-handlers " : ", ", PQgetvalue(r, i, 0));
            fprintf(out, "; dispatch %s%s%s\n", m.centre_decides ? "by the centre" : "automatic",
                    m.basis[0] ? "; basis: " : "", m.basis);
        }
        PQclear(r);
    }
    pg_free(pg);
    return rc;
}

int catalogue_cli(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        cli_usage(argc < 2 ? err : out);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "route")) return cli_route(argc, argv, out, err);
    int import = !strcmp(verb, "import");
    if (!import && strcmp(verb, "check")) {
        fprintf(err, "jiesuctl catalogue: unknown verb '%s'\n", verb);
        cli_usage(err);
        return 2;
    }
    const char *file = NULL, *note = NULL, *dsn = NULL;
    for (int i = 2; i < argc; i++) {
        const char **slot = import && !strcmp(argv[i], "--note")     ? &note
                            : import && !strcmp(argv[i], "--pg-dsn") ? &dsn
                                                                     : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(err, "jiesuctl catalogue %s: missing value for '%s'\n", verb, argv[i]);
                return 2;
            }
            *slot = argv[++i];
        } else if (file == NULL && argv[i][0] != '-') {
            file = argv[i];
        } else {
            fprintf(err, "jiesuctl catalogue %s: unexpected argument '%s'\n", verb, argv[i]);
            cli_usage(err);
            return 2;
        }
    }
    if (file == NULL) {
        fprintf(err, "jiesuctl catalogue %s: FILE is required\n", verb);
        cli_usage(err);
        return 2;
    }
    if (note && (!*note || strlen(note) > 1500)) {
        fprintf(err, "jiesuctl catalogue import: --note must be 1 to 500 characters\n");
        return 2;
    }
    catalogue_t *c = catalogue_new();
    if (c == NULL) {
        fprintf(err, "jiesuctl catalogue: out of memory\n");
        return 1;
    }
    int rc = 0;
    if (catalogue_load_file(c, file) != 0 && c->err[0]) {
        fprintf(err, "jiesuctl catalogue %s: %s\n", verb, c->err);
        rc = 1;
    } else if (c->nerrors && (!import || c->n == 0)) {
        catalogue_errors_write(c, err);
        fprintf(err, "jiesuctl catalogue %s: %zu errors%s\n", verb, c->nerrors, import ? "; nothing was written" : "");
        rc = 2;
    } else if (!import) {
        size_t nm, nr;
        cli_counts(c, &nm, &nr);
        fprintf(out, "ok: %zu entries (%zu matter types, %zu regions), no errors\n", c->n, nm, nr);
    } else {
        pg_t *pg = cli_connect(dsn, "import", err);
        catalogue_import_result_t res;
        double t0 = now_s();
        if (pg == NULL && c->nerrors) { /* the file's own errors, at least */
            catalogue_errors_write(c, err);
            fprintf(err, "jiesuctl catalogue import: %zu errors; nothing was written\n", c->nerrors);
            rc = 2;
        } else if (pg == NULL) {
            rc = 1;
        } else if (catalogue_import(c, pg, note, &res) == 0) {
            if (res.unchanged)
                fprintf(out, "unchanged: the file equals version %d in force (%ld entries); nothing was written\n",
                        res.version, res.entries);
            else
                fprintf(out, "imported version %d in %.2f s: %ld entries; it is in force from now\n", res.version,
                        now_s() - t0, res.entries);
        } else if (c->nerrors) {
            catalogue_errors_write(c, err);
            fprintf(err, "jiesuctl catalogue import: %zu errors; nothing was written\n", c->nerrors);
            rc = 2;
        } else {
            fprintf(err, "jiesuctl catalogue import: %s; nothing was written\n", c->err);
            rc = 1;
        }
        pg_free(pg);
    }
    catalogue_free(c);
    return rc;
}
