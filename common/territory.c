/*
 * territory.c — reads the regions and units CSV files, checks them row by row and across
 * rows, and imports them in one transaction. See territory.h and docs/TERRITORY.md.
 *
 * The checks repeat, in C, what the schema (0001_organisation.sql) enforces: the database
 * would refuse a bad row too, but it stops at the first one and cannot say on which line of
 * which file it was. Here every row is looked at and every problem gets FILE:LINE: FIELD, so
 * an operator fixes a spreadsheet in one round. Strings live in an arena owned by the
 * territory_t (thousands of short fields, freed at once); lookups by code go through small
 * open-addressing maps. The import sends each tier as one statement over unnest()ed arrays,
 * so a province (a few thousand regions, tens of thousands of units) is a handful of round
 * trips.
 */
#include "territory.h"

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
#define MAX_FILES 32
#define DEFAULT_DSN PG_DEFAULT_DSN

/* Limits of 0001_organisation.sql, in characters (code points). */
#define REGION_NAME_MAX 100
#define UNIT_NAME_MAX 200
#define HEAD_NAME_MAX 50

enum { R_CODE, R_NAME, R_TIER, R_PARENT, R_PROFILE, R_NFIELDS };
enum { U_CODE, U_NAME, U_REGION, U_KIND, U_HEAD, U_DEPUTY, U_NFIELDS };

static const char *const region_fields[R_NFIELDS] = {"code", "name", "tier", "parent_code",
                                                     "policy_profile"};
static const char *const unit_fields[U_NFIELDS] = {"code", "name", "region_code", "kind",
                                                   "head_name", "deputy_head_name"};
/* units.kind in 0001_organisation.sql. */
static const char *const unit_kinds[] = {"centre", "department", "township", "zone",
                                         "supervision", "leadership", "discipline", "hotline"};
static const char *const tier_names[5] = {"", "province", "city", "county", "township"};

typedef struct {
    const char *file;
    int line;
    const char *code, *name, *parent, *profile; /* parent, profile: NULL when empty */
    int tier;                                   /* 0 when the field was wrong */
    int bad;                                    /* a field was wrong: skip dependent checks */
} region_t;

typedef struct {
    const char *file;
    int line;
    const char *code, *name, *region, *kind, *head, *deputy; /* head, deputy: NULL when empty */
    int bad;
} unit_t;

/* String → int map; keys are borrowed (they live in the arena). */
typedef struct {
    const char **keys;
    int *vals;
    size_t cap, n;
} smap_t;

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk_t;

typedef struct {
    const char *name;
    const char *kind; /* "regions" | "units" */
    int json;         /* an array given as JSON: "lines" are entry numbers, FILE:#N */
    char sha256[65];
    size_t rows;
} file_t;

struct territory {
    chunk_t *arena;
    region_t *regions;
    size_t nregions, capregions;
    unit_t *units;
    size_t nunits, capunits;
    smap_t region_idx; /* code → index in regions */
    smap_t unit_idx;   /* code → index in units */
    smap_t ext;        /* code → tier, regions found in the database (import only) */
    char scope[64];    /* territory_scope_check's region: the import may not take units outside it */
    int use_ext;
    int regions_read, units_read;
    file_t files[MAX_FILES];
    size_t nfiles;
    /* Errors: parsing's come first and stay; the cross-row checks' are dropped and redone
     * each time they run, so check and import can both be called. */
    size_t nerrors, nparse_errors;
    char errors[TERRITORY_ERRORS_SHOWN][ERR_LINE];
    /* to sort the report, and to give it to an API client field by field */
    struct { size_t file, line; char field[40]; int msg_at; } error_pos[TERRITORY_ERRORS_SHOWN];
    char err[512];
};

/* ---- errors ------------------------------------------------------------------------------- */

static void JS_PRINTF(5, 6) error_add(territory_t *t, const char *file, int line,
                                      const char *field, const char *fmt, ...)
{
    if (t->nerrors < TERRITORY_ERRORS_SHOWN) {
        char *e = t->errors[t->nerrors];
        size_t seq = 0;
        while (seq < t->nfiles && strcmp(t->files[seq].name, file)) seq++;
        t->error_pos[t->nerrors].file = seq;
        t->error_pos[t->nerrors].line = line > 0 ? (size_t)line : 0;
        int json = seq < t->nfiles && t->files[seq].json;
        int n = line <= 0 ? snprintf(e, ERR_LINE, "%s: %s: ", file, field)
                : json    ? snprintf(e, ERR_LINE, "%s:#%d: %s: ", file, line, field)
                          : snprintf(e, ERR_LINE, "%s:%d: %s: ", file, line, field);
        snprintf(t->error_pos[t->nerrors].field, sizeof t->error_pos[0].field, "%s", field);
        t->error_pos[t->nerrors].msg_at = n > 0 && n < ERR_LINE ? n : ERR_LINE - 1;
        if (n > 0 && n < ERR_LINE) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(e + n, (size_t)(ERR_LINE - n), fmt, ap);
            va_end(ap);
        }
    }
    t->nerrors++;
}

static void errors_drop_cross(territory_t *t) { t->nerrors = t->nparse_errors; }

static int oom(territory_t *t)
{
    snprintf(t->err, sizeof t->err, "out of memory");
    return -1;
}

/* Copies s for a message: at most ~60 bytes, cut on a character boundary. Only used on
 * fields already known to be valid UTF-8 without control characters. */
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

/* ---- arena and map ------------------------------------------------------------------------ */

static char *arena_dup(territory_t *t, const char *s, size_t n)
{
    chunk_t *c = t->arena;
    if (c == NULL || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > 65536 ? n + 1 : 65536;
        c = malloc(sizeof *c + cap);
        if (c == NULL) return NULL;
        c->next = t->arena;
        c->used = 0;
        c->cap = cap;
        t->arena = c;
    }
    char *p = c->data + c->used;
    memcpy(p, s, n);
    p[n] = '\0';
    c->used += n + 1;
    return p;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int *smap_get(const smap_t *m, const char *key)
{
    if (m->cap == 0) return NULL;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == NULL) return NULL;
        if (!strcmp(m->keys[i], key)) return &m->vals[i];
    }
}

static int smap_put(smap_t *m, const char *key, int val)
{
    if ((m->n + 1) * 10 > m->cap * 7) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        const char **keys = calloc(cap, sizeof *keys);
        int *vals = calloc(cap, sizeof *vals);
        if (keys == NULL || vals == NULL) {
            free(keys);
            free(vals);
            return -1;
        }
        for (size_t j = 0; j < m->cap; j++) {
            if (m->keys[j] == NULL) continue;
            size_t i = hash_str(m->keys[j]) & (cap - 1);
            while (keys[i]) i = (i + 1) & (cap - 1);
            keys[i] = m->keys[j];
            vals[i] = m->vals[j];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == NULL) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

static void smap_clear(smap_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

territory_t *territory_new(void) { return calloc(1, sizeof(territory_t)); }

void territory_free(territory_t *t)
{
    if (t == NULL) return;
    for (chunk_t *c = t->arena, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(t->regions);
    free(t->units);
    smap_clear(&t->region_idx);
    smap_clear(&t->unit_idx);
    smap_clear(&t->ext);
    free(t);
}

size_t territory_error_count(const territory_t *t) { return t->nerrors; }

const char *territory_error_at(const territory_t *t, size_t i)
{
    return i < t->nerrors && i < TERRITORY_ERRORS_SHOWN ? t->errors[i] : NULL;
}

typedef struct {
    size_t file, line, i;
} error_key_t;

static int error_key_cmp(const void *a, const void *b)
{
    const error_key_t *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* In file and line order, the way the operator will walk the spreadsheet: the row checks
 * and the cross-row checks find their problems in separate passes. */
void territory_errors_write(const territory_t *t, FILE *out)
{
    error_key_t keys[TERRITORY_ERRORS_SHOWN];
    size_t n = t->nerrors < TERRITORY_ERRORS_SHOWN ? t->nerrors : TERRITORY_ERRORS_SHOWN;
    for (size_t i = 0; i < n; i++)
        keys[i] = (error_key_t){t->error_pos[i].file, t->error_pos[i].line, i};
    qsort(keys, n, sizeof keys[0], error_key_cmp);
    for (size_t i = 0; i < n; i++) fprintf(out, "%s\n", t->errors[keys[i].i]);
    if (t->nerrors > TERRITORY_ERRORS_SHOWN)
        fprintf(out, "… and %zu more errors not shown\n", t->nerrors - TERRITORY_ERRORS_SHOWN);
}

json_t *territory_errors_json(const territory_t *t)
{
    error_key_t keys[TERRITORY_ERRORS_SHOWN];
    size_t n = t->nerrors < TERRITORY_ERRORS_SHOWN ? t->nerrors : TERRITORY_ERRORS_SHOWN;
    for (size_t i = 0; i < n; i++)
        keys[i] = (error_key_t){t->error_pos[i].file, t->error_pos[i].line, i};
    qsort(keys, n, sizeof keys[0], error_key_cmp);
    json_t *a = json_array();
    for (size_t k = 0; a && k < n; k++) {
        size_t i = keys[k].i, seq = t->error_pos[i].file;
        json_t *o = json_pack("{s:s, s:s, s:s}", "file", seq < t->nfiles ? t->files[seq].name : "",
                              "field", t->error_pos[i].field, "message",
                              t->errors[i] + t->error_pos[i].msg_at);
        if (o && t->error_pos[i].line > 0)
            json_object_set_new(o, seq < t->nfiles && t->files[seq].json ? "entry" : "line",
                                json_integer((json_int_t)t->error_pos[i].line));
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

const char *territory_strerror(const territory_t *t) { return t->err; }

/* ---- field checks ------------------------------------------------------------------------- */

/* Leading or trailing space — ASCII, no-break (U+00A0) or ideographic (U+3000) — which
 * would make "南宁市 " a different name from "南宁市". */
static int has_edge_space(const char *s, size_t n)
{
    if (n == 0) return 0;
    if (s[0] == ' ' || s[n - 1] == ' ') return 1;
    if (n >= 2 && (!memcmp(s, "\xc2\xa0", 2) || !memcmp(s + n - 2, "\xc2\xa0", 2))) return 1;
    if (n >= 3 && (!memcmp(s, "\xe3\x80\x80", 3) || !memcmp(s + n - 3, "\xe3\x80\x80", 3)))
        return 1;
    return 0;
}

static int all_digits(const char *s)
{
    if (*s == '\0') return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* The tier a division code spells (regions_code_fits_tier): xx0000 province, xxxx00 city,
 * other 6 digits county, 9 or 12 digits township; 0 when it is not a division code. */
static int code_tier(const char *code)
{
    size_t n = strlen(code);
    if (!all_digits(code)) return 0;
    if (n == 9 || n == 12) return 4;
    if (n != 6) return 0;
    if (!strcmp(code + 2, "0000")) return 1;
    if (!strcmp(code + 4, "00")) return 2;
    return 3;
}

/* ^[first][rest]{0,63}$ with the two classes of the schema's identifier checks. */
static int ident_ok(const char *s, int lower_only)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                 (!lower_only && c >= 'A' && c <= 'Z') ||
                 (i > 0 && (c == '_' || c == '.' || c == '-'));
        if (!ok) return 0;
    }
    return 1;
}

/* A parent prefixes its child with its significant digits: the code without trailing
 * "00" pairs (regions_check_parent: regexp_replace(code, '(00)+$', '')). */
static int parent_prefixes(const char *parent, const char *child)
{
    size_t n = strlen(parent);
    while (n >= 2 && parent[n - 1] == '0' && parent[n - 2] == '0') n -= 2;
    return !strncmp(parent, child, n);
}

/* Checks every field's text; 0 when all are valid, else reports each bad one and marks it
 * in bad[]. Shared by both files. */
static int fields_text_check(territory_t *t, const char *file, int line, const char *const *f,
                             const size_t *fl, const char *const *names, int nf, int *bad)
{
    int rc = 0;
    for (int i = 0; i < nf; i++) {
        long cps = csv_text_check((const unsigned char *)f[i], fl[i]);
        bad[i] = cps < 0;
        if (cps == -1)
            error_add(t, file, line, names[i],
                      "not valid UTF-8 (save the file as \"CSV UTF-8\", not GBK)");
        else if (cps == -2)
            error_add(t, file, line, names[i], "contains a control character (tab, line "
                                                  "break…)");
        if (cps < 0) rc = -1;
    }
    return rc;
}

/* A name: not empty, no edge spaces, at most max characters. */
static void name_check(territory_t *t, const char *file, int line, const char *field,
                       const char *s, size_t n, long max, int required, int *bad)
{
    if (n == 0) {
        if (required) {
            error_add(t, file, line, field, "is empty");
            *bad = 1;
        }
        return;
    }
    if (has_edge_space(s, n)) {
        error_add(t, file, line, field, "has leading or trailing spaces");
        *bad = 1;
    }
    long cps = csv_text_check((const unsigned char *)s, n);
    if (cps > max) {
        error_add(t, file, line, field, "is %ld characters long, at most %ld allowed", cps, max);
        *bad = 1;
    }
}

/* Compares the header with the expected one; 0 when it matches. */
static int header_check(territory_t *t, const char *file, const csv_rec_t *r,
                        const char *const *names, int nf, const char *expected, int *map)
{
    char why[128];
    if (csv_header_map(r, names, nf, map, why, sizeof why) == 0) return 0;
    char found[200] = "";
    size_t o = 0;
    for (int i = 0; r->err == NULL && i < r->n && i < CSV_MAX_FIELDS && o + 1 < sizeof found; i++) {
        const char *f = csv_field(r, i);
        int valid = csv_text_check((const unsigned char *)f, csv_field_len(r, i)) >= 0;
        int w = snprintf(found + o, sizeof found - o, "%s%s", i ? "," : "", valid ? f : "?");
        if (w < 0) break;
        o += (size_t)w;
    }
    if (o >= sizeof found) memcpy(found + sizeof found - 4, "\xe2\x80\xa6", 4);
    if (r->err)
        error_add(t, file, r->line, "header", "expected \"%s\", found \"%s\"; no row of this file "
                  "was read", expected, r->err);
    else
        error_add(t, file, r->line, "header", "expected \"%s\" (in any order), found \"%s\": %s; "
                  "no row of this file was read", expected, found, why);
    return -1;
}

/* ---- rows --------------------------------------------------------------------------------- */

static int region_row(territory_t *t, const char *file, int line, const char *const *f,
                      const size_t *fl)
{
    int bad[R_NFIELDS] = {0};
    char v[80];
    if (fields_text_check(t, file, line, f, fl, region_fields, R_NFIELDS, bad) != 0 && bad[R_CODE])
        return 0;
    int rowbad = bad[R_NAME] || bad[R_TIER] || bad[R_PARENT] || bad[R_PROFILE];

    int implied = code_tier(f[R_CODE]);
    if (implied == 0) {
        error_add(t, file, line, "code", "\"%s\" is not a division code (6 digits, or 9 or 12 "
                  "for a township)", clip(v, sizeof v, f[R_CODE]));
        return 0; /* not kept: nothing can refer to it meaningfully */
    }
    if (!bad[R_NAME])
        name_check(t, file, line, "name", f[R_NAME], fl[R_NAME], REGION_NAME_MAX, 1, &rowbad);
    int tier = 0;
    if (!bad[R_TIER]) {
        const char *s = f[R_TIER];
        if (s[0] >= '1' && s[0] <= '4' && s[1] == '\0') tier = s[0] - '0';
        else error_add(t, file, line, "tier", "\"%s\" is not a tier (1 province, 2 city, 3 "
                       "county, 4 township)", clip(v, sizeof v, s));
    }
    if (tier && tier != implied) {
        error_add(t, file, line, "tier", "%d does not fit code %s, which is a %s code (tier %d)",
                  tier, f[R_CODE], tier_names[implied], implied);
        tier = 0;
    }
    if (tier == 0) rowbad = 1;
    const char *parent = NULL;
    if (!bad[R_PARENT] && fl[R_PARENT] > 0) {
        parent = f[R_PARENT];
        if (code_tier(parent) == 0) {
            error_add(t, file, line, "parent_code", "\"%s\" is not a division code",
                      clip(v, sizeof v, parent));
            parent = NULL;
            rowbad = 1;
        } else if (!strcmp(parent, f[R_CODE])) {
            error_add(t, file, line, "parent_code", "a region cannot be its own parent");
            parent = NULL;
            rowbad = 1;
        } else if (implied == 1) {
            error_add(t, file, line, "parent_code", "a province has no parent (found %s)", parent);
            parent = NULL;
            rowbad = 1;
        }
    }
    const char *profile = NULL;
    if (!bad[R_PROFILE] && fl[R_PROFILE] > 0) {
        profile = f[R_PROFILE];
        if (!ident_ok(profile, 1)) {
            error_add(t, file, line, "policy_profile", "\"%s\" is not a profile name (lower-case "
                      "letters, digits, _ . -; at most 64)", clip(v, sizeof v, profile));
            profile = NULL;
            rowbad = 1;
        }
    }
    int *dup = smap_get(&t->region_idx, f[R_CODE]);
    if (dup) {
        const region_t *o = &t->regions[*dup];
        if (o->file == file)
            error_add(t, file, line, "code", "%s is already on line %d", f[R_CODE], o->line);
        else
            error_add(t, file, line, "code", "%s is already in %s:%d", f[R_CODE], o->file, o->line);
        return 0;
    }
    if (t->nregions == t->capregions) {
        size_t cap = t->capregions ? t->capregions * 2 : 256;
        region_t *n = realloc(t->regions, cap * sizeof *n);
        if (n == NULL) return oom(t);
        t->regions = n;
        t->capregions = cap;
    }
    region_t *g = &t->regions[t->nregions];
    memset(g, 0, sizeof *g);
    g->file = file;
    g->line = line;
    g->tier = tier;
    g->bad = rowbad;
    if ((g->code = arena_dup(t, f[R_CODE], fl[R_CODE])) == NULL ||
        (g->name = arena_dup(t, f[R_NAME], fl[R_NAME])) == NULL ||
        (parent && (g->parent = arena_dup(t, parent, strlen(parent))) == NULL) ||
        (profile && (g->profile = arena_dup(t, profile, strlen(profile))) == NULL) ||
        smap_put(&t->region_idx, g->code, (int)t->nregions) != 0)
        return oom(t);
    t->nregions++;
    return 0;
}

static int unit_row(territory_t *t, const char *file, int line, const char *const *f,
                    const size_t *fl)
{
    int bad[U_NFIELDS] = {0};
    char v[80];
    if (fields_text_check(t, file, line, f, fl, unit_fields, U_NFIELDS, bad) != 0 && bad[U_CODE])
        return 0;
    int rowbad = 0;
    for (int i = 0; i < U_NFIELDS; i++) rowbad |= bad[i];

    if (!ident_ok(f[U_CODE], 0)) {
        error_add(t, file, line, "code", "\"%s\" is not a unit code (letters, digits, _ . -; "
                  "at most 64; e.g. 450103-SCJG)", clip(v, sizeof v, f[U_CODE]));
        return 0;
    }
    if (!bad[U_NAME])
        name_check(t, file, line, "name", f[U_NAME], fl[U_NAME], UNIT_NAME_MAX, 1, &rowbad);
    if (!bad[U_REGION] && code_tier(f[U_REGION]) == 0) {
        error_add(t, file, line, "region_code", "\"%s\" is not a division code",
                  clip(v, sizeof v, f[U_REGION]));
        rowbad = bad[U_REGION] = 1;
    }
    if (!bad[U_KIND]) {
        int known = 0;
        for (size_t i = 0; i < JS_ARRAY_LEN(unit_kinds); i++)
            known |= !strcmp(f[U_KIND], unit_kinds[i]);
        if (!known) {
            error_add(t, file, line, "kind", "\"%s\" is not a unit kind (centre, department, "
                      "township, zone, supervision, leadership, discipline, hotline)",
                      clip(v, sizeof v, f[U_KIND]));
            rowbad = bad[U_KIND] = 1;
        }
    }
    if (!bad[U_HEAD])
        name_check(t, file, line, "head_name", f[U_HEAD], fl[U_HEAD], HEAD_NAME_MAX, 0,
                   &rowbad);
    if (!bad[U_DEPUTY])
        name_check(t, file, line, "deputy_head_name", f[U_DEPUTY], fl[U_DEPUTY],
                   HEAD_NAME_MAX, 0, &rowbad);
    int *dup = smap_get(&t->unit_idx, f[U_CODE]);
    if (dup) {
        const unit_t *o = &t->units[*dup];
        if (o->file == file)
            error_add(t, file, line, "code", "%s is already on line %d", f[U_CODE], o->line);
        else
            error_add(t, file, line, "code", "%s is already in %s:%d", f[U_CODE], o->file, o->line);
        return 0;
    }
    if (t->nunits == t->capunits) {
        size_t cap = t->capunits ? t->capunits * 2 : 1024;
        unit_t *n = realloc(t->units, cap * sizeof *n);
        if (n == NULL) return oom(t);
        t->units = n;
        t->capunits = cap;
    }
    unit_t *u = &t->units[t->nunits];
    memset(u, 0, sizeof *u);
    u->file = file;
    u->line = line;
    u->bad = rowbad;
    /* A field found wrong is kept as NULL so the cross checks skip it. */
    if ((u->code = arena_dup(t, f[U_CODE], fl[U_CODE])) == NULL ||
        (u->name = arena_dup(t, f[U_NAME], fl[U_NAME])) == NULL ||
        (!bad[U_REGION] && (u->region = arena_dup(t, f[U_REGION], fl[U_REGION])) == NULL) ||
        (!bad[U_KIND] && (u->kind = arena_dup(t, f[U_KIND], fl[U_KIND])) == NULL) ||
        (fl[U_HEAD] && (u->head = arena_dup(t, f[U_HEAD], fl[U_HEAD])) == NULL) ||
        (fl[U_DEPUTY] && (u->deputy = arena_dup(t, f[U_DEPUTY], fl[U_DEPUTY])) == NULL) ||
        smap_put(&t->unit_idx, u->code, (int)t->nunits) != 0)
        return oom(t);
    t->nunits++;
    return 0;
}

/* Registers one input (a file, or a JSON array given by API) in t. NULL when out of room. */
static const char *file_start(territory_t *t, const char *name, const char *buf, size_t len,
                              int units, int json)
{
    errors_drop_cross(t);
    t->err[0] = '\0';
    if (t->nfiles == MAX_FILES) {
        snprintf(t->err, sizeof t->err, "more than %d files in one import", MAX_FILES);
        return NULL;
    }
    const char *file = arena_dup(t, name, strlen(name));
    if (file == NULL) {
        oom(t);
        return NULL;
    }
    file_t *fe = &t->files[t->nfiles++];
    fe->name = file;
    fe->kind = units ? "units" : "regions";
    fe->rows = 0;
    fe->json = json;
    pg_sha256_hex(buf, len, fe->sha256);
    if (units) t->units_read = 1;
    else t->regions_read = 1;
    return file;
}

static void file_end(territory_t *t, int units, size_t before)
{
    t->files[t->nfiles - 1].rows = (units ? t->nunits : t->nregions) - before;
    t->nparse_errors = t->nerrors;
}

/* Reads one CSV file of either kind: the header (columns in any order), then every record. */
static int parse_file(territory_t *t, const char *name, const char *buf, size_t len, int units)
{
    const char *file = file_start(t, name, buf, len, units, 0);
    if (file == NULL) return -1;
    const char *const *names = units ? unit_fields : region_fields;
    const char *header = units ? TERRITORY_UNITS_HEADER : TERRITORY_REGIONS_HEADER;
    int nf = units ? U_NFIELDS : R_NFIELDS, map[U_NFIELDS];
    size_t before = units ? t->nunits : t->nregions;
    csv_reader_t c;
    csv_reader_init(&c, buf, len);
    csv_rec_t r = {0};
    int rc = csv_next(&c, &r);
    if (rc == 0) error_add(t, file, 1, "header", "the file is empty");
    if (rc == 1 && header_check(t, file, &r, names, nf, header, map) != 0) rc = 0;
    while (rc == 1 && (rc = csv_next(&c, &r)) == 1) {
        if (r.err) {
            const char *field = "row";
            for (int i = 0; i < nf; i++)
                if (map[i] == r.err_field) field = names[i];
            error_add(t, file, r.line, field, "%s", r.err);
        } else if (r.n != nf) {
            error_add(t, file, r.line, "row", "%d fields, expected %d (%s)", r.n, nf, header);
        } else {
            const char *f[U_NFIELDS];
            size_t fl[U_NFIELDS];
            csv_fields(&r, map, nf, f, fl);
            if ((units ? unit_row(t, file, r.line, f, fl) : region_row(t, file, r.line, f, fl)) != 0)
                rc = -1;
        }
    }
    csv_rec_free(&r);
    if (rc < 0 && !t->err[0]) oom(t);
    file_end(t, units, before);
    return rc < 0 ? -1 : 0;
}

int territory_parse_json(territory_t *t, const char *kind, const char *name, const char *buf,
                         size_t len)
{
    int units = kind && !strcmp(kind, "units");
    if (!units && (kind == NULL || strcmp(kind, "regions"))) {
        snprintf(t->err, sizeof t->err, "kind must be regions or units");
        return -1;
    }
    const char *file = file_start(t, name, buf, len, units, 1);
    if (file == NULL) return -1;
    const char *const *names = units ? unit_fields : region_fields;
    const char *header = units ? TERRITORY_UNITS_HEADER : TERRITORY_REGIONS_HEADER;
    int nf = units ? U_NFIELDS : R_NFIELDS;
    size_t before = units ? t->nunits : t->nregions;
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (root == NULL) {
        error_add(t, file, 0, "json", "%s (line %d, column %d)", je.text, je.line, je.column);
    } else if (!json_is_array(root)) {
        error_add(t, file, 0, "json", "must be an array of %s", units ? "units" : "regions");
    } else {
        if (json_array_size(root) == 0) error_add(t, file, 0, "json", "the array is empty");
        csv_rec_t r = {0};
        size_t i;
        json_t *o;
        json_array_foreach(root, i, o) {
            int line = (int)i + 1, bad = 0;
            if (!json_is_object(o)) {
                error_add(t, file, line, "entry", "must be an object");
                continue;
            }
            const char *key;
            json_t *v;
            json_object_foreach(o, key, v) {
                int known = 0;
                for (int k = 0; k < nf; k++) known |= !strcmp(key, names[k]);
                if (!known) {
                    error_add(t, file, line, "entry", "\"%.40s\" is not a field (%s)",
                              csv_text_check((const unsigned char *)key, strlen(key)) >= 0 ? key : "?",
                              header);
                    bad = 1;
                }
            }
            csv_rec_reset(&r, line);
            for (int k = 0; k < nf && rc == 0; k++) {
                json_t *x = json_object_get(o, names[k]);
                const char *sv = "";
                size_t sl = 0;
                char num[24];
                if (json_is_string(x)) {
                    sv = json_string_value(x);
                    sl = json_string_length(x);
                    if (strlen(sv) != sl) {
                        error_add(t, file, line, names[k], "contains a NUL character");
                        bad = 1;
                    }
                } else if (json_is_integer(x)) { /* "tier": 3 reads as naturally as "3" */
                    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(x));
                    sv = num;
                    sl = strlen(num);
                } else if (x != NULL && !json_is_null(x)) {
                    error_add(t, file, line, names[k], "must be a string");
                    bad = 1;
                }
                if (csv_rec_add(&r, sv, sl) != 0) rc = oom(t);
            }
            if (rc != 0) break;
            if (bad) continue;
            const char *f[U_NFIELDS];
            size_t fl[U_NFIELDS];
            int ident[U_NFIELDS];
            for (int k = 0; k < nf; k++) ident[k] = k;
            csv_fields(&r, ident, nf, f, fl);
            if ((units ? unit_row(t, file, line, f, fl) : region_row(t, file, line, f, fl)) != 0) {
                rc = -1;
                break;
            }
        }
        csv_rec_free(&r);
    }
    json_decref(root);
    if (rc < 0 && !t->err[0]) oom(t);
    file_end(t, units, before);
    return rc < 0 ? -1 : 0;
}

int territory_parse_regions(territory_t *t, const char *name, const char *buf, size_t len)
{
    return parse_file(t, name, buf, len, 0);
}

int territory_parse_units(territory_t *t, const char *name, const char *buf, size_t len)
{
    return parse_file(t, name, buf, len, 1);
}

static int load_file(territory_t *t, const char *path, int units)
{
    char *buf;
    size_t len;
    if (fsutil_read(path, 0, &buf, &len) != 0) {
        if (errno == ENOMEM) return oom(t);
        int e = errno;
        errors_drop_cross(t);
        error_add(t, path, 0, "file", "cannot read: %s", strerror(e));
        t->nparse_errors = t->nerrors;
        return -1;
    }
    int rc = parse_file(t, path, buf, len, units);
    free(buf);
    return rc;
}

int territory_load_regions(territory_t *t, const char *path) { return load_file(t, path, 0); }
int territory_load_units(territory_t *t, const char *path) { return load_file(t, path, 1); }

/* ---- cross-row checks --------------------------------------------------------------------- */

/* The tier of a region referred to: from the files, else (import) from the database. 0 when
 * unknown; *in_file tells where it was found; *usable is 0 when its own row was wrong. */
static int region_ref(const territory_t *t, const char *code, int *in_file, int *usable)
{
    int *i = smap_get(&t->region_idx, code);
    *in_file = i != NULL;
    *usable = 1;
    if (i) {
        const region_t *g = &t->regions[*i];
        *usable = !g->bad;
        return g->tier ? g->tier : -1;
    }
    if (t->use_ext && (i = smap_get(&t->ext, code)) != NULL) return *i;
    return 0;
}

static int validate(territory_t *t)
{
    errors_drop_cross(t);
    const char *where = t->use_ext ? "neither in the files nor in the database" : "not in the "
                                                                                "files read";
    for (size_t k = 0; k < t->nregions; k++) {
        const region_t *g = &t->regions[k];
        if (g->parent == NULL) continue;
        int in_file, usable, ptier = region_ref(t, g->parent, &in_file, &usable);
        if (ptier == 0) {
            error_add(t, g->file, g->line, "parent_code", "%s is %s", g->parent, where);
            continue;
        }
        if (!usable || ptier < 0 || g->tier == 0) continue; /* already reported */
        if (ptier >= g->tier)
            error_add(t, g->file, g->line, "parent_code", "%s is a %s (tier %d) and cannot "
                      "contain a %s (tier %d)", g->parent, tier_names[ptier], ptier,
                      tier_names[g->tier], g->tier);
        else if (!parent_prefixes(g->parent, g->code))
            error_add(t, g->file, g->line, "parent_code", "%s does not prefix the code %s",
                      g->parent, g->code);
    }
    smap_t centres = {0}; /* region code → index of its first centre in the files */
    for (size_t k = 0; k < t->nunits; k++) {
        const unit_t *u = &t->units[k];
        if (u->region == NULL) continue;
        int in_file, usable;
        if (region_ref(t, u->region, &in_file, &usable) == 0) {
            error_add(t, u->file, u->line, "region_code", "%s is %s", u->region, where);
            continue;
        }
        if (u->kind == NULL || strcmp(u->kind, "centre")) continue;
        int *first = smap_get(&centres, u->region);
        if (first) {
            const unit_t *o = &t->units[*first];
            error_add(t, u->file, u->line, "kind", "a second centre for region %s (the first is "
                      "%s on line %d); a region has exactly one dispatch centre", u->region,
                      o->code, o->line);
        } else if (smap_put(&centres, u->region, (int)k) != 0) {
            smap_clear(&centres);
            return oom(t);
        }
    }
    smap_clear(&centres);
    return t->nerrors ? -1 : 0;
}

int territory_scope_check(territory_t *t, const char *scope)
{
    t->scope[0] = '\0';
    if (scope == NULL || *scope == '\0') return 0;
    snprintf(t->scope, sizeof t->scope, "%s", scope);
    errors_drop_cross(t);
    for (size_t k = 0; k < t->nregions; k++) {
        const region_t *g = &t->regions[k];
        if (!parent_prefixes(scope, g->code))
            error_add(t, g->file, g->line, "code", "%s is outside your jurisdiction (%s)", g->code, scope);
    }
    for (size_t k = 0; k < t->nunits; k++) {
        const unit_t *u = &t->units[k];
        if (u->region && !parent_prefixes(scope, u->region))
            error_add(t, u->file, u->line, "region_code", "%s is outside your jurisdiction (%s)", u->region,
                      scope);
    }
    t->nparse_errors = t->nerrors;
    return t->nerrors ? -1 : 0;
}

int territory_check(territory_t *t)
{
    t->err[0] = '\0';
    t->use_ext = 0;
    return validate(t);
}

void territory_summary(const territory_t *t, territory_summary_t *s)
{
    memset(s, 0, sizeof *s);
    s->regions = t->nregions;
    s->units = t->nunits;
    for (size_t k = 0; k < t->nregions; k++)
        if (t->regions[k].tier >= 1 && t->regions[k].tier <= 4)
            s->regions_by_tier[t->regions[k].tier]++;
    /* A region's centre flag rides in a byte per region; no map needed. */
    unsigned char *has = t->units_read && t->nregions ? calloc(t->nregions, 1) : NULL;
    for (size_t k = 0; k < t->nunits; k++) {
        const unit_t *u = &t->units[k];
        if (u->kind == NULL || strcmp(u->kind, "centre")) continue;
        s->centres++;
        int *i = u->region ? smap_get(&t->region_idx, u->region) : NULL;
        if (i && has) has[*i] = 1;
    }
    if (has)
        for (size_t k = 0; k < t->nregions; k++) s->regions_without_centre += !has[k];
    free(has);
}

/* ---- import ------------------------------------------------------------------------------- */


static void db_error(territory_t *t, pg_t *pg, const char *what)
{
    snprintf(t->err, sizeof t->err, "%s: %.440s", what, pg->err);
    for (char *p = t->err; *p; p++)
        if (*p == '\n') *p = ' ';
}

/* The database refused a row: class 23 means the data is wrong (an input error for the
 * operator), anything else is a runtime failure. Returns -1 either way. */
static int db_refused(territory_t *t, pg_t *pg, const char *file, const char *what)
{
    if (!strncmp(pg->sqlstate, "23", 2)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", pg->err);
        for (char *p = msg; *p; p++)
            if (*p == '\n') *p = ' ';
        error_add(t, file, 0, what, "the database refused the data: %s", msg);
        return -1;
    }
    db_error(t, pg, what);
    return -1;
}

static const char *first_file(const territory_t *t, const char *kind)
{
    for (size_t i = 0; i < t->nfiles; i++)
        if (!strcmp(t->files[i].kind, kind)) return t->files[i].name;
    return "(none)";
}

/* One tier of regions: update what differs, insert what is new, count both. The INSERT's
 * NOT EXISTS sees the table as it was before the statement, so an updated row is never also
 * inserted. $5 is the tier. */
#define REGIONS_UPSERT_SQL                                                                     \
    "WITH f AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"          \
    "             AS f(code, name, parent_code, policy_profile)),"                             \
    " upd AS (UPDATE regions r SET name = f.name, tier = $5::smallint,"                        \
    "                 parent_code = f.parent_code, policy_profile = f.policy_profile"          \
    "           FROM f WHERE r.code = f.code"                                                  \
    "            AND (r.name, r.tier, r.parent_code, r.policy_profile) IS DISTINCT FROM"       \
    "                (f.name, $5::smallint, f.parent_code, f.policy_profile)"                  \
    "         RETURNING 1),"                                                                   \
    " ins AS (INSERT INTO regions (code, name, tier, parent_code, policy_profile)"             \
    "         SELECT f.code, f.name, $5::smallint, f.parent_code, f.policy_profile"            \
    "           FROM f WHERE NOT EXISTS (SELECT 1 FROM regions r WHERE r.code = f.code)"       \
    "         RETURNING 1)"                                                                    \
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)"

/* The same for units; `active` and `phone` are the operators', not the file's. */
#define UNITS_UPSERT_SQL                                                                       \
    "WITH f AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"                      \
    "                                $4::text[], $5::text[], $6::text[])"                      \
    "             AS f(code, name, region_code, kind, head_name, deputy_name)),"               \
    " upd AS (UPDATE units u SET name = f.name, region_code = f.region_code,"                  \
    "                 kind = f.kind, head_name = f.head_name, deputy_name = f.deputy_name"     \
    "           FROM f WHERE u.code = f.code"                                                  \
    "            AND (u.name, u.region_code, u.kind, u.head_name, u.deputy_name)"              \
    "                IS DISTINCT FROM"                                                         \
    "                (f.name, f.region_code, f.kind, f.head_name, f.deputy_name)"              \
    "         RETURNING 1),"                                                                   \
    " ins AS (INSERT INTO units (code, name, region_code, kind, head_name, deputy_name)"       \
    "         SELECT f.code, f.name, f.region_code, f.kind, f.head_name, f.deputy_name"        \
    "           FROM f WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.code = f.code)"         \
    "         RETURNING 1)"                                                                    \
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)"

/* Centres of the files ($1 code, $2 region) meeting another active centre of their region in
 * the database, unless the files ($3 code, $4 region, $5 kind) move or demote that one. */
#define CENTRES_CONFLICT_SQL                                                                   \
    "SELECT f.code, u.code"                                                                    \
    "  FROM unnest($1::text[], $2::text[]) AS f(code, region_code)"                            \
    "  JOIN units u ON u.region_code = f.region_code AND u.kind = 'centre'"                    \
    "              AND u.active AND u.code <> f.code"                                          \
    " WHERE NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[], $5::text[])"              \
    "                        AS g(code, region_code, kind)"                                    \
    "                    WHERE g.code = u.code"                                                \
    "                      AND (g.kind <> 'centre' OR g.region_code <> u.region_code))"

/* Looks up, in one query, every region the files refer to but do not contain. */
static int ext_resolve(territory_t *t, pg_t *pg)
{
    smap_clear(&t->ext);
    pg_array_t b = {0};
    pg_array_start(&b);
    size_t n = 0;
    for (size_t k = 0; k < t->nregions; k++) {
        const char *p = t->regions[k].parent;
        if (p && !smap_get(&t->region_idx, p)) pg_array_add(&b, p), n++;
    }
    for (size_t k = 0; k < t->nunits; k++) {
        const char *p = t->units[k].region;
        if (p && !smap_get(&t->region_idx, p)) pg_array_add(&b, p), n++;
    }
    pg_array_end(&b);
    if (b.oom) {
        free(b.s);
        return oom(t);
    }
    int rc = 0;
    if (n > 0) {
        PGresult *res = NULL;
        const char *params[] = {b.s};
        if (pg_query(pg, "SELECT code, tier FROM regions WHERE code = ANY($1::text[])", 1, params,
                     &res) != 0) {
            db_error(t, pg, "looking up regions");
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
            const char *code = arena_dup(t, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
            if (code == NULL || smap_put(&t->ext, code, atoi(PQgetvalue(res, i, 1))) != 0)
                rc = oom(t);
        }
        PQclear(res);
    }
    free(b.s);
    return rc;
}

/* A centre in the files whose region already has another active centre in the database —
 * one that these files do not turn into something else — would break the one-centre rule.
 * Found before writing, so the message can name the line. */
static int centres_precheck(territory_t *t, pg_t *pg)
{
    pg_array_t a[5] = {{0}};
    for (int i = 0; i < 5; i++) pg_array_start(&a[i]);
    size_t n = 0;
    for (size_t k = 0; k < t->nunits; k++) {
        const unit_t *u = &t->units[k];
        if (u->kind == NULL || u->region == NULL) continue; /* reported already */
        pg_array_add(&a[2], u->code);
        pg_array_add(&a[3], u->region);
        pg_array_add(&a[4], u->kind);
        if (strcmp(u->kind, "centre")) continue;
        pg_array_add(&a[0], u->code);
        pg_array_add(&a[1], u->region);
        n++;
    }
    int rc = 0, failed = 0;
    for (int i = 0; i < 5; i++) {
        pg_array_end(&a[i]);
        failed |= a[i].oom;
    }
    if (failed) rc = oom(t);
    if (rc == 0 && n > 0) {
        const char *params[] = {a[0].s, a[1].s, a[2].s, a[3].s, a[4].s};
        PGresult *res = NULL;
        if (pg_query(pg, CENTRES_CONFLICT_SQL, 5, params, &res) != 0) {
            db_error(t, pg, "checking dispatch centres");
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
            int *k = smap_get(&t->unit_idx, PQgetvalue(res, i, 0));
            if (k == NULL) continue;
            const unit_t *u = &t->units[*k];
            error_add(t, u->file, u->line, "kind", "region %s already has the active centre %s in "
                      "the database (make that one another kind, or deactivate it, first)",
                      u->region, PQgetvalue(res, i, 1));
        }
        PQclear(res);
    }
    for (int i = 0; i < 5; i++) free(a[i].s);
    return rc;
}

/* A scoped import may not take over a unit of another jurisdiction: units are upserted by
 * code, and a code is one unit across the deployment, so a row reusing the code of a unit whose
 * region lies outside the scope would move that unit (with its cases, staff and catalogue
 * entries) into the importer's province. Found before writing, so the message names the line.
 * Regions need no such check: a region is its code, and the scope check already refuses every
 * code outside the scope (codes nest by prefix, which the database enforces). */
static int scope_precheck(territory_t *t, pg_t *pg)
{
    if (t->scope[0] == '\0' || t->nunits == 0) return 0;
    pg_array_t a = {0};
    pg_array_start(&a);
    for (size_t k = 0; k < t->nunits; k++) pg_array_add(&a, t->units[k].code);
    pg_array_end(&a);
    if (a.oom) {
        free(a.s);
        return oom(t);
    }
    const char *params[] = {a.s};
    PGresult *res = NULL;
    int rc = 0;
    if (pg_query(pg, "SELECT code, region_code FROM units WHERE code = ANY($1::text[])", 1, params, &res) != 0) {
        db_error(t, pg, "looking up units");
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        const char *region = PQgetvalue(res, i, 1);
        if (parent_prefixes(t->scope, region)) continue;
        int *k = smap_get(&t->unit_idx, PQgetvalue(res, i, 0));
        if (k == NULL) continue;
        const unit_t *u = &t->units[*k];
        error_add(t, u->file, u->line, "code", "%s is already the code of a unit of region %s, outside your "
                  "jurisdiction (%s): choose another code", u->code, region, t->scope);
    }
    PQclear(res);
    free(a.s);
    return rc;
}

/* Counts from "SELECT inserted, updated". */
static void read_counts(PGresult *res, long *ins, long *upd)
{
    *ins += strtol(PQgetvalue(res, 0, 0), NULL, 10);
    *upd += strtol(PQgetvalue(res, 0, 1), NULL, 10);
}

/* One tier of regions in one statement. Parents come from earlier statements (lower
 * tiers), which regions_check_parent then sees. An UPDATE only where something differs,
 * so re-importing the same file writes nothing. */
static int regions_upsert(territory_t *t, pg_t *pg, int tier, territory_stats_t *st)
{
    pg_array_t a[4] = {{0}};
    for (int i = 0; i < 4; i++) pg_array_start(&a[i]);
    size_t n = 0;
    for (size_t k = 0; k < t->nregions; k++) {
        const region_t *g = &t->regions[k];
        if (g->tier != tier) continue;
        pg_array_add(&a[0], g->code);
        pg_array_add(&a[1], g->name);
        pg_array_add(&a[2], g->parent);
        pg_array_add(&a[3], g->profile);
        n++;
    }
    int rc = 0, failed = 0;
    for (int i = 0; i < 4; i++) {
        pg_array_end(&a[i]);
        failed |= a[i].oom;
    }
    if (failed) rc = oom(t);
    if (rc == 0 && n > 0) {
        char tier_s[12];
        snprintf(tier_s, sizeof tier_s, "%d", tier);
        const char *params[] = {a[0].s, a[1].s, a[2].s, a[3].s, tier_s};
        PGresult *res = NULL;
        if (pg_query(pg, REGIONS_UPSERT_SQL, 5, params, &res) != 0) {
            char what[64];
            snprintf(what, sizeof what, "importing %s regions", tier_names[tier]);
            rc = db_refused(t, pg, first_file(t, "regions"), what);
        } else {
            long ins = 0, upd = 0;
            read_counts(res, &ins, &upd);
            st->regions_inserted += ins;
            st->regions_updated += upd;
            st->regions_unchanged += (long)n - ins - upd;
        }
        PQclear(res);
    }
    for (int i = 0; i < 4; i++) free(a[i].s);
    return rc;
}

/* Units in one statement per group: first those that are not centres, then the centres, so
 * a file that moves the centre of a region to another unit demotes the old one before the
 * one-active-centre index sees the new one. New units are inserted only where the code is
 * new, so a re-import does not even draw ids from the sequence. */
static int units_upsert(territory_t *t, pg_t *pg, int centres, territory_stats_t *st)
{
    pg_array_t a[6] = {{0}};
    for (int i = 0; i < 6; i++) pg_array_start(&a[i]);
    size_t n = 0;
    for (size_t k = 0; k < t->nunits; k++) {
        const unit_t *u = &t->units[k];
        if ((strcmp(u->kind, "centre") == 0) != (centres != 0)) continue;
        pg_array_add(&a[0], u->code);
        pg_array_add(&a[1], u->name);
        pg_array_add(&a[2], u->region);
        pg_array_add(&a[3], u->kind);
        pg_array_add(&a[4], u->head);
        pg_array_add(&a[5], u->deputy);
        n++;
    }
    int rc = 0, failed = 0;
    for (int i = 0; i < 6; i++) {
        pg_array_end(&a[i]);
        failed |= a[i].oom;
    }
    if (failed) rc = oom(t);
    if (rc == 0 && n > 0) {
        const char *params[] = {a[0].s, a[1].s, a[2].s, a[3].s, a[4].s, a[5].s};
        PGresult *res = NULL;
        if (pg_query(pg, UNITS_UPSERT_SQL, 6, params, &res) != 0) {
            rc = db_refused(t, pg, first_file(t, "units"), centres ? "importing centres"
                                                                   : "importing units");
        } else {
            long ins = 0, upd = 0;
            read_counts(res, &ins, &upd);
            st->units_inserted += ins;
            st->units_updated += upd;
            st->units_unchanged += (long)n - ins - upd;
        }
        PQclear(res);
    }
    for (int i = 0; i < 6; i++) free(a[i].s);
    return rc;
}

/* One audit_log row naming the files (by digest) and the counts. The object is the region
 * highest in the files, the usual way to say "the Guangxi territory". */
static int audit_insert(territory_t *t, pg_t *pg, const territory_stats_t *st,
                        long long principal_id, const char *note)
{
    const char *top = NULL;
    int top_tier = 5;
    for (size_t k = 0; k < t->nregions; k++)
        if (t->regions[k].tier < top_tier) top = t->regions[k].code, top_tier = t->regions[k].tier;
    if (top == NULL && t->nunits) top = t->units[0].region;
    char object[64];
    snprintf(object, sizeof object, "region:%s", top ? top : "none");

    json_t *files = json_array(), *detail = NULL;
    for (size_t i = 0; files && i < t->nfiles; i++)
        json_array_append_new(files, json_pack("{s:s, s:s, s:s, s:I}", "name", t->files[i].name,
                                               "kind", t->files[i].kind, "sha256",
                                               t->files[i].sha256, "rows",
                                               (json_int_t)t->files[i].rows));
    if (files)
        detail = json_pack("{s:o, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "files", files,
                           "regions", "inserted", (json_int_t)st->regions_inserted, "updated",
                           (json_int_t)st->regions_updated, "unchanged",
                           (json_int_t)st->regions_unchanged, "units", "inserted",
                           (json_int_t)st->units_inserted, "updated",
                           (json_int_t)st->units_updated, "unchanged",
                           (json_int_t)st->units_unchanged);
    if (detail && note) json_object_set_new(detail, "note", json_string(note));
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (text == NULL) return oom(t);
    char who[24];
    snprintf(who, sizeof who, "%lld", principal_id);
    const char *params[] = {object, text, principal_id > 0 ? who : NULL};
    int rc = pg_query(pg, "INSERT INTO audit_log (action, object, detail, principal_id)"
                          " VALUES ('territory.import', $1, $2::jsonb, $3::bigint)", 3, params, NULL);
    free(text);
    if (rc != 0) db_error(t, pg, "writing the audit log");
    return rc;
}

int territory_import(territory_t *t, pg_t *pg, territory_stats_t *stats)
{
    return territory_import_by(t, pg, 0, NULL, stats);
}

int territory_import_by(territory_t *t, pg_t *pg, long long principal_id, const char *note,
                        territory_stats_t *stats)
{
    territory_stats_t st = {0};
    int rc;
    t->err[0] = '\0';
    errors_drop_cross(t);
    if (stats) *stats = st;
    if (t->nerrors) return -1; /* parsing found errors: nothing to ask the database */
    if (pg_begin(pg) != 0) {
        db_error(t, pg, "begin");
        return -1;
    }
    /* Two imports at once would each check against a database the other is changing. */
    if (pg_query(pg, "SELECT pg_advisory_xact_lock(hashtext('jiesu.territory.import'))", 0, NULL,
                 NULL) != 0) {
        db_error(t, pg, "locking");
        goto fail;
    }
    if (ext_resolve(t, pg) != 0) goto fail;
    t->use_ext = 1;
    rc = validate(t);
    t->use_ext = 0;
    if (rc != 0 && t->nerrors == 0) goto fail; /* out of memory */
    /* Even with errors already found, so that one report lists them all. */
    if (scope_precheck(t, pg) != 0 || centres_precheck(t, pg) != 0 || t->nerrors) goto fail;
    for (int tier = 1; tier <= 4; tier++)
        if (regions_upsert(t, pg, tier, &st) != 0) goto fail;
    if (units_upsert(t, pg, 0, &st) != 0 || units_upsert(t, pg, 1, &st) != 0) goto fail;
    if (st.regions_inserted + st.regions_updated + st.units_inserted + st.units_updated > 0 &&
        audit_insert(t, pg, &st, principal_id, note) != 0)
        goto fail;
    if (pg_commit(pg) != 0) {
        /* COMMIT itself failing leaves nothing behind either: the server rolled back. */
        db_error(t, pg, "commit");
        return -1;
    }
    if (stats) *stats = st;
    return 0;
fail:
    pg_rollback(pg);
    return -1;
}

/* ---- look-ups ----------------------------------------------------------------------------- */

int territory_region_exists(pg_t *pg, const char *code, int *tier)
{
    const char *params[] = {code};
    PGresult *res = NULL;
    if (pg_query(pg, "SELECT tier FROM regions WHERE code = $1", 1, params, &res) != 0) return -1;
    int found = PQntuples(res) > 0;
    if (found && tier) *tier = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

int territory_region_centre(pg_t *pg, const char *region_code, long long *unit_id)
{
    const char *params[] = {region_code};
    PGresult *res = NULL;
    if (pg_query(pg, "SELECT id FROM units WHERE region_code = $1 AND kind = 'centre' AND active",
                 1, params, &res) != 0)
        return -1;
    int found = PQntuples(res) > 0;
    if (found && unit_id) *unit_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return found;
}

/* ---- command line ------------------------------------------------------------------------- */

static void cli_usage(FILE *f)
{
    fprintf(f, "usage: jiesuctl territory import --regions FILE [--units FILE] [--pg-dsn DSN]\n"
               "       jiesuctl territory import --units FILE [--pg-dsn DSN]\n"
               "       jiesuctl territory check --regions FILE [--units FILE]\n"
               "  FILE headers: " TERRITORY_REGIONS_HEADER "\n"
               "                " TERRITORY_UNITS_HEADER "\n"
               "  exit codes: 0 done, 1 runtime failure, 2 usage or input errors (nothing "
               "written)\n");
}

static void cli_summary(const territory_t *t, FILE *out)
{
    territory_summary_t s;
    territory_summary(t, &s);
    if (t->regions_read)
        fprintf(out, "regions: %zu (province %zu, city %zu, county %zu, township %zu)\n",
                s.regions, s.regions_by_tier[1], s.regions_by_tier[2], s.regions_by_tier[3],
                s.regions_by_tier[4]);
    if (t->units_read) {
        fprintf(out, "units: %zu (%zu dispatch centres)\n", s.units, s.centres);
        if (t->regions_read && s.regions_without_centre)
            fprintf(out, "note: %zu regions have no dispatch centre in the units file\n",
                    s.regions_without_centre);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int territory_cli(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        cli_usage(argc < 2 ? err : out);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1], *regions = NULL, *units = NULL, *dsn = NULL;
    int import = !strcmp(verb, "import");
    if (!import && strcmp(verb, "check")) {
        fprintf(err, "jiesuctl territory: unknown verb '%s'\n", verb);
        cli_usage(err);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char **slot = !strcmp(argv[i], "--regions") ? &regions
                            : !strcmp(argv[i], "--units") ? &units
                            : import && !strcmp(argv[i], "--pg-dsn") ? &dsn
                                                                     : NULL;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(err, "jiesuctl territory %s: %s '%s'\n", verb,
                    slot ? "missing value for" : "unexpected argument", argv[i]);
            cli_usage(err);
            return 2;
        }
        *slot = argv[++i];
    }
    /* check needs the regions: without them a unit's region cannot be checked offline. */
    if (import ? regions == NULL && units == NULL : regions == NULL) {
        fprintf(err, "jiesuctl territory %s: --regions FILE is required%s\n", verb,
                import ? " (or --units FILE alone)" : "");
        return 2;
    }
    territory_t *t = territory_new();
    if (t == NULL) {
        fprintf(err, "jiesuctl territory: out of memory\n");
        return 1;
    }
    int rc = 0;
    if ((regions && territory_load_regions(t, regions) != 0 && t->err[0]) ||
        (units && territory_load_units(t, units) != 0 && t->err[0])) {
        fprintf(err, "jiesuctl territory %s: %s\n", verb, t->err);
        rc = 1;
    } else if (!import) {
        if (territory_check(t) == 0) {
            cli_summary(t, out);
            fprintf(out, "ok: no errors\n");
        } else if (t->nerrors) {
            territory_errors_write(t, err);
            fprintf(err, "jiesuctl territory check: %zu errors\n", t->nerrors);
            rc = 2;
        } else {
            fprintf(err, "jiesuctl territory check: %s\n", t->err);
            rc = 1;
        }
    } else if (t->nerrors) {
        territory_errors_write(t, err);
        fprintf(err, "jiesuctl territory import: %zu errors; nothing was written\n", t->nerrors);
        rc = 2;
    } else {
        if (dsn == NULL) dsn = getenv("JIESU_PG_DSN");
        if (dsn == NULL || !*dsn) dsn = DEFAULT_DSN;
        pg_t *pg = pg_new(dsn, "jiesuctl-territory");
        territory_stats_t st;
        double t0 = now_s();
        if (pg == NULL || pg_ensure(pg) != 0) {
            char why[512] = "out of memory";
            if (pg) { /* libpq's message spans lines; one line reads better here */
                snprintf(why, sizeof why, "%s", pg->err);
                for (char *p = why; *p; p++)
                    if (*p == '\n' || *p == '\t') *p = ' ';
                for (size_t l = strlen(why); l && why[l - 1] == ' ';) why[--l] = '\0';
            }
            fprintf(err, "jiesuctl territory import: cannot connect to PostgreSQL: %s\n", why);
            rc = 1;
        } else if (territory_import(t, pg, &st) == 0) {
            cli_summary(t, out);
            fprintf(out, "imported in %.2f s: regions %ld inserted, %ld updated, %ld unchanged; "
                         "units %ld inserted, %ld updated, %ld unchanged\n",
                    now_s() - t0, st.regions_inserted, st.regions_updated, st.regions_unchanged,
                    st.units_inserted, st.units_updated, st.units_unchanged);
        } else if (t->nerrors) {
            territory_errors_write(t, err);
            fprintf(err, "jiesuctl territory import: %zu errors; nothing was written\n",
                    t->nerrors);
            rc = 2;
        } else {
            fprintf(err, "jiesuctl territory import: %s; nothing was written\n", t->err);
            rc = 1;
        }
        pg_free(pg);
    }
    territory_free(t);
    return rc;
}
