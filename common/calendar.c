/*
 * calendar.c — loads working-day calendar files and answers "is this a working day here?".
 *
 * The calendar is a list of layers, one per loaded file: a layer is one scope (the nation,
 * or one region) for one year, and holds two 366-bit maps — the days it decides, and which
 * of those are working — plus each day's name. The national layer also keeps its
 * effective map (the Monday–Friday week with its exceptions applied), computed once at load.
 * A question for (region, year) starts from the national effective map and overlays the
 * region's layers from the shallowest to the deepest, so the nearest region wins; the layer
 * array is kept sorted by prefix length to make that a single pass. Layers are few (two
 * national years and a handful of regional files), so a linear scan beats any index.
 */
#include "calendar.h"

#include "fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YEAR_DAYS_MAX 366
#define YEAR_WORDS ((YEAR_DAYS_MAX + 63) / 64)
#define NAME_CHARS_MAX 100 /* calendar_days_name_not_blank */
#define FORMAT_TAG "jiesu-calendar/1"

typedef struct cal_layer {
    char prefix[CALENDAR_REGION_SIZE]; /* normalised region; "" = national */
    char *code;                        /* region code as written; NULL = national */
    int year;
    int ndays;                         /* 365 or 366 */
    calendar_day_t jan1;
    char *source;                      /* NULL allowed for regional files */
    char *file;                        /* label it was loaded from */
    uint64_t set[YEAR_WORDS];          /* days this layer decides */
    uint64_t work[YEAR_WORDS];         /* of those, the working ones */
    uint64_t eff[YEAR_WORDS];          /* national only: the year's working days */
    uint8_t name_of[YEAR_DAYS_MAX];    /* 0 = none; k = names[k - 1] */
    char **names;
    size_t n_names;
} cal_layer_t;

struct calendar {
    cal_layer_t **layers; /* sorted by (prefix length, prefix, year); owned */
    size_t n, cap;
};

static void seterr(char *err, size_t len, const char *fmt, ...) JS_PRINTF(3, 4);
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    if (err == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* --- dates (Howard Hinnant's civil-day algorithms, exact for every Gregorian date) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

int calendar_day_from_ymd(int y, int m, int d, calendar_day_t *out)
{
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return -1;
    *out = (calendar_day_t)days_from_civil(y, m, d);
    return 0;
}

void calendar_day_to_ymd(calendar_day_t day, int *y, int *m, int *d)
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int dd = (int)(doy - (153 * mp + 2) / 5 + 1);
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    int yy = (int)(yoe + era * 400 + (mm <= 2));
    if (y != NULL)
        *y = yy;
    if (m != NULL)
        *m = mm;
    if (d != NULL)
        *d = dd;
}

int calendar_day_weekday(calendar_day_t day)
{
    /* 1970-01-01 was a Thursday (ISO 4). */
    int r = (int)(((int64_t)day % 7 + 7) % 7);
    return (r + 3) % 7 + 1;
}

int calendar_day_parse(const char *s, calendar_day_t *out)
{
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return -1;
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    return calendar_day_from_ymd(y, m, d, out);
}

void calendar_day_format(calendar_day_t day, char buf[11])
{
    int y, m, d;
    calendar_day_to_ymd(day, &y, &m, &d);
    /* Built by hand: the ranges are known (m 1..12, d 1..31) but not to the compiler. */
    unsigned uy = (unsigned)(y < 0 ? 0 : y % 10000);
    buf[0] = (char)('0' + uy / 1000);
    buf[1] = (char)('0' + uy / 100 % 10);
    buf[2] = (char)('0' + uy / 10 % 10);
    buf[3] = (char)('0' + uy % 10);
    buf[4] = '-';
    buf[5] = (char)('0' + m / 10);
    buf[6] = (char)('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char)('0' + d / 10);
    buf[9] = (char)('0' + d % 10);
    buf[10] = '\0';
}

/* --- regions ----------------------------------------------------------------------- */

int calendar_region_normalise(const char *code, char out[CALENDAR_REGION_SIZE])
{
    if (code == NULL || *code == '\0') {
        out[0] = '\0';
        return 0;
    }
    size_t n = strlen(code);
    if (n != 6 && n != 9 && n != 12)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)code[i]))
            return -1;
    if (code[0] == '0' && code[1] == '0') /* no province is numbered 00 */
        return -1;
    memcpy(out, code, n + 1);
    if (n == 6) {
        while (n > 2 && out[n - 1] == '0' && out[n - 2] == '0')
            out[n -= 2] = '\0';
    } else if (n == 12 && strcmp(out + 9, "000") == 0) {
        out[9] = '\0'; /* the township itself, not one of its villages */
    }
    return 0;
}

/* Does a layer for `prefix` apply to a question about region `q` (both normalised)? */
static int prefix_applies(const char *prefix, const char *q)
{
    size_t n = strlen(prefix);
    return strncmp(prefix, q, n) == 0;
}

/* --- layers ------------------------------------------------------------------------ */

static void layer_free(cal_layer_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n_names; i++)
        free(l->names[i]);
    free(l->names);
    free(l->code);
    free(l->source);
    free(l->file);
    free(l);
}

static int bit_get(const uint64_t *bits, int i)
{
    return (int)((bits[i / 64] >> (i % 64)) & 1u);
}

static void bit_set(uint64_t *bits, int i)
{
    bits[i / 64] |= (uint64_t)1 << (i % 64);
}

/* The index of `name` in the layer's name table, 1-based, adding it if new. */
static int layer_name_index(cal_layer_t *l, const char *name)
{
    for (size_t i = 0; i < l->n_names; i++)
        if (strcmp(l->names[i], name) == 0)
            return (int)i + 1;
    if (l->n_names >= 255)
        return -1;
    char **grown = realloc(l->names, (l->n_names + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    l->names = grown;
    if ((l->names[l->n_names] = strdup(name)) == NULL)
        return -1;
    return (int)++l->n_names;
}

/* The Monday–Friday week of layer l's year with the layer's own exceptions applied. */
static void layer_compute_effective(cal_layer_t *l)
{
    memset(l->eff, 0, sizeof l->eff);
    for (int i = 0; i < l->ndays; i++) {
        int weekday = calendar_day_weekday(l->jan1 + i) <= 5;
        int working = bit_get(l->set, i) ? bit_get(l->work, i) : weekday;
        if (working)
            bit_set(l->eff, i);
    }
}

static const cal_layer_t *national_layer(const calendar_t *cal, int year)
{
    for (size_t i = 0; i < cal->n; i++) {
        const cal_layer_t *l = cal->layers[i];
        if (l->prefix[0] != '\0')
            break; /* sorted: national layers come first */
        if (l->year == year)
            return l;
    }
    return NULL;
}

/* The working days of `year` in the region with normalised code `q`, deepest region
 * winning. -1 when the year's national layer is not loaded. */
static int year_bits(const calendar_t *cal, const char *q, int year, uint64_t bits[YEAR_WORDS])
{
    const cal_layer_t *nat = national_layer(cal, year);
    if (nat == NULL)
        return -1;
    memcpy(bits, nat->eff, sizeof nat->eff);
    if (q[0] == '\0')
        return 0;
    for (size_t i = 0; i < cal->n; i++) {
        const cal_layer_t *l = cal->layers[i];
        if (l->prefix[0] == '\0' || l->year != year || !prefix_applies(l->prefix, q))
            continue;
        for (int w = 0; w < YEAR_WORDS; w++)
            bits[w] = (bits[w] & ~l->set[w]) | (l->work[w] & l->set[w]);
    }
    return 0;
}

static int day_year(calendar_day_t day, int *doy)
{
    int y;
    calendar_day_to_ymd(day, &y, NULL, NULL);
    *doy = (int)(day - days_from_civil(y, 1, 1));
    return y;
}

/* --- the object -------------------------------------------------------------------- */

calendar_t *calendar_new(void)
{
    return calloc(1, sizeof(calendar_t));
}

void calendar_free(calendar_t *cal)
{
    if (cal == NULL)
        return;
    for (size_t i = 0; i < cal->n; i++)
        layer_free(cal->layers[i]);
    free(cal->layers);
    free(cal);
}

static int layer_order(const cal_layer_t *a, const cal_layer_t *b)
{
    size_t la = strlen(a->prefix), lb = strlen(b->prefix);
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = strcmp(a->prefix, b->prefix);
    if (c != 0)
        return c;
    return a->year < b->year ? -1 : a->year > b->year;
}

/* Takes ownership of l on success. */
static int calendar_insert(calendar_t *cal, cal_layer_t *l)
{
    if (cal->n == cal->cap) {
        size_t cap = cal->cap ? cal->cap * 2 : 8;
        cal_layer_t **grown = realloc(cal->layers, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        cal->layers = grown;
        cal->cap = cap;
    }
    size_t at = cal->n;
    while (at > 0 && layer_order(cal->layers[at - 1], l) > 0)
        at--;
    memmove(cal->layers + at + 1, cal->layers + at, (cal->n - at) * sizeof *cal->layers);
    cal->layers[at] = l;
    cal->n++;
    return 0;
}

/* --- loading ----------------------------------------------------------------------- */

static int blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static const char *kind_word(int working)
{
    return working ? "working" : "rest";
}

/* One entry of "days": {"kind", "first", "last"?, "name"}. Adds its days to l; `seen_in`
 * records which entry set each day, for the "listed twice" message. */
static int load_entry(cal_layer_t *l, const char *label, size_t idx, json_t *e,
                      int seen_in[YEAR_DAYS_MAX], char *err, size_t errlen)
{
    if (!json_is_object(e)) {
        seterr(err, errlen, "%s: days[%zu]: an entry must be an object", label, idx);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v) {
        if (strcmp(key, "kind") && strcmp(key, "first") && strcmp(key, "last") &&
            strcmp(key, "name")) {
            seterr(err, errlen,
                   "%s: days[%zu]: unknown key '%s' (expected kind, first, last, name)", label,
                   idx, key);
            return -1;
        }
    }
    const char *kind = json_string_value(json_object_get(e, "kind"));
    const char *first = json_string_value(json_object_get(e, "first"));
    json_t *jlast = json_object_get(e, "last");
    const char *last = jlast ? json_string_value(jlast) : first;
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *shown = first ? first : "?";

    if (kind == NULL || (strcmp(kind, "rest") && strcmp(kind, "work"))) {
        seterr(err, errlen, "%s: days[%zu] (%s): kind must be \"rest\" or \"work\"", label, idx,
               shown);
        return -1;
    }
    calendar_day_t d0, d1;
    if (first == NULL || calendar_day_parse(first, &d0) != 0) {
        seterr(err, errlen, "%s: days[%zu]: first: bad date '%s' (expected an existing YYYY-MM-DD)",
               label, idx, first ? first : "(missing or not a string)");
        return -1;
    }
    if (last == NULL || calendar_day_parse(last, &d1) != 0) {
        seterr(err, errlen, "%s: days[%zu] (%s): last: bad date '%s' (expected an existing YYYY-MM-DD)",
               label, idx, shown, last ? last : "(not a string)");
        return -1;
    }
    if (d1 < d0) {
        seterr(err, errlen, "%s: days[%zu] (%s): last %s is before first", label, idx, shown, last);
        return -1;
    }
    if (d0 < l->jan1 || d1 >= l->jan1 + l->ndays) {
        seterr(err, errlen, "%s: days[%zu] (%s): date outside the file's year %d", label, idx,
               d0 < l->jan1 ? first : last, l->year);
        return -1;
    }
    if (name == NULL || blank(name) || utf8_chars(name) > NAME_CHARS_MAX) {
        seterr(err, errlen, "%s: days[%zu] (%s): name must be a non-blank string of at most %d "
               "characters", label, idx, shown, NAME_CHARS_MAX);
        return -1;
    }
    int working = strcmp(kind, "work") == 0;
    int name_idx = layer_name_index(l, name);
    if (name_idx < 0) {
        seterr(err, errlen, "%s: days[%zu] (%s): out of memory or too many distinct names", label,
               idx, shown);
        return -1;
    }
    for (calendar_day_t d = d0; d <= d1; d++) {
        int i = (int)(d - l->jan1);
        char ds[11];
        calendar_day_format(d, ds);
        if (working && calendar_day_weekday(d) <= 5) {
            seterr(err, errlen, "%s: days[%zu] (%s): %s is a weekday; only a Saturday or Sunday "
                   "can be declared working", label, idx, shown, ds);
            return -1;
        }
        if (bit_get(l->set, i)) {
            int prev = bit_get(l->work, i);
            if (prev != working)
                seterr(err, errlen, "%s: days[%zu] (%s): %s is both %s (days[%d]) and %s", label,
                       idx, shown, ds, kind_word(prev), seen_in[i], kind_word(working));
            else
                seterr(err, errlen, "%s: days[%zu] (%s): duplicate: %s is already listed in "
                       "days[%d]", label, idx, shown, ds, seen_in[i]);
            return -1;
        }
        bit_set(l->set, i);
        if (working)
            bit_set(l->work, i);
        l->name_of[i] = (uint8_t)name_idx;
        seen_in[i] = (int)idx;
    }
    return 0;
}

/* Builds a layer from a parsed file without touching the calendar. */
static cal_layer_t *layer_from_json(const char *label, json_t *root, char *err, size_t errlen)
{
    static const char *const keys[] = {"format", "year", "region", "source", "days", NULL};
    cal_layer_t *l = NULL;
    int *seen_in = NULL;

    if (!json_is_object(root)) {
        seterr(err, errlen, "%s: the file must hold one JSON object", label);
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int known = 0;
        for (const char *const *k = keys; *k; k++)
            known |= strcmp(*k, key) == 0;
        if (!known) {
            seterr(err, errlen, "%s: unknown key '%s' (expected format, year, region, source, days)",
                   label, key);
            goto fail;
        }
    }
    const char *format = json_string_value(json_object_get(root, "format"));
    if (format == NULL || strcmp(format, FORMAT_TAG) != 0) {
        seterr(err, errlen, "%s: format must be \"%s\"", label, FORMAT_TAG);
        goto fail;
    }
    json_t *jyear = json_object_get(root, "year");
    if (!json_is_integer(jyear) || json_integer_value(jyear) < CALENDAR_YEAR_MIN ||
        json_integer_value(jyear) > CALENDAR_YEAR_MAX) {
        seterr(err, errlen, "%s: year must be an integer from %d to %d", label, CALENDAR_YEAR_MIN,
               CALENDAR_YEAR_MAX);
        goto fail;
    }
    json_t *jregion = json_object_get(root, "region");
    if (jregion == NULL || !(json_is_null(jregion) || json_is_string(jregion))) {
        seterr(err, errlen, "%s: region must be null (the national calendar) or a region code",
               label);
        goto fail;
    }
    json_t *jsource = json_object_get(root, "source");
    if (jsource != NULL && !json_is_null(jsource) &&
        (!json_is_string(jsource) || blank(json_string_value(jsource)))) {
        seterr(err, errlen, "%s: source must be a non-blank string", label);
        goto fail;
    }
    json_t *days = json_object_get(root, "days");
    if (!json_is_array(days)) {
        seterr(err, errlen, "%s: days must be an array of entries", label);
        goto fail;
    }

    if ((l = calloc(1, sizeof *l)) == NULL || (l->file = strdup(label)) == NULL)
        goto oom;
    l->year = (int)json_integer_value(jyear);
    l->ndays = is_leap(l->year) ? 366 : 365;
    l->jan1 = (calendar_day_t)days_from_civil(l->year, 1, 1);
    if (json_is_string(jregion)) {
        const char *code = json_string_value(jregion);
        if (calendar_region_normalise(code, l->prefix) != 0 || l->prefix[0] == '\0') {
            seterr(err, errlen, "%s: region '%s' is not a region code (6, 9 or 12 digits)", label,
                   code);
            goto fail;
        }
        if ((l->code = strdup(code)) == NULL)
            goto oom;
    }
    if (json_is_string(jsource) && (l->source = strdup(json_string_value(jsource))) == NULL)
        goto oom;
    if (l->code == NULL && l->source == NULL) {
        seterr(err, errlen, "%s: source is required for a national calendar (the notice it "
               "comes from; calendar_years.source)", label);
        goto fail;
    }
    if ((seen_in = calloc(YEAR_DAYS_MAX, sizeof *seen_in)) == NULL)
        goto oom;
    size_t idx;
    json_t *e;
    json_array_foreach(days, idx, e) {
        if (load_entry(l, label, idx, e, seen_in, err, errlen) != 0)
            goto fail;
    }
    free(seen_in);
    layer_compute_effective(l);
    return l;
oom:
    seterr(err, errlen, "%s: out of memory", label);
fail:
    free(seen_in);
    layer_free(l);
    return NULL;
}

/* Checks l against what is loaded and inserts it; on failure the calendar is unchanged and
 * l still belongs to the caller. */
static int calendar_add_layer(calendar_t *cal, cal_layer_t *l, char *err, size_t errlen)
{
    if (l->prefix[0] == '\0') {
        const cal_layer_t *old = national_layer(cal, l->year);
        if (old != NULL) {
            seterr(err, errlen, "%s: duplicate: the national calendar for %d is already loaded "
                   "from %s", l->file, l->year, old->file);
            return -1;
        }
    } else {
        if (national_layer(cal, l->year) == NULL) {
            seterr(err, errlen, "%s: region %s: no national calendar for %d is loaded; load it "
                   "first (a regional file only amends it)", l->file, l->code, l->year);
            return -1;
        }
        for (size_t i = 0; i < cal->n; i++) {
            const cal_layer_t *o = cal->layers[i];
            if (o->year != l->year || strcmp(o->prefix, l->prefix) != 0)
                continue;
            for (int d = 0; d < l->ndays; d++) {
                if (bit_get(o->set, d) && bit_get(l->set, d)) {
                    char ds[11];
                    calendar_day_format(l->jan1 + d, ds);
                    seterr(err, errlen, "%s: duplicate: %s is already set for region %s by %s",
                           l->file, ds, l->code, o->file);
                    return -1;
                }
            }
        }
    }
    if (calendar_insert(cal, l) != 0) {
        seterr(err, errlen, "%s: out of memory", l->file);
        return -1;
    }
    return 0;
}

static int load_root(calendar_t *cal, const char *label, json_t *root, char *err, size_t errlen)
{
    cal_layer_t *l = layer_from_json(label, root, err, errlen);
    if (l == NULL)
        return -1;
    if (calendar_add_layer(cal, l, err, errlen) != 0) {
        layer_free(l);
        return -1;
    }
    return 0;
}

int calendar_load_string(calendar_t *cal, const char *label, const char *json, char *err,
                         size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        seterr(err, errlen, "%s:%d:%d: %s", label, je.line, je.column, je.text);
        return -1;
    }
    int rc = load_root(cal, label, root, err, errlen);
    json_decref(root);
    return rc;
}

int calendar_load_file(calendar_t *cal, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        if (je.line < 0)
            seterr(err, errlen, "%s: %s", path, je.text);
        else
            seterr(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    int rc = load_root(cal, path, root, err, errlen);
    json_decref(root);
    return rc;
}


int calendar_load_dir(calendar_t *cal, const char *dir, char *err, size_t errlen)
{
    char **names = NULL;
    json_t **roots = NULL;
    size_t n = 0;
    int rc = -1;
    if (fsutil_list(dir, ".json", &names, &n) != 0) {
        if (errno == ENOMEM)
            seterr(err, errlen, "%s: out of memory", dir);
        else
            seterr(err, errlen, "%s: cannot open calendar directory: %s", dir, strerror(errno));
        return -1;
    }
    if (n == 0) {
        seterr(err, errlen, "%s: no calendar files (*.json) in the directory", dir);
        goto done;
    }
    if ((roots = calloc(n, sizeof *roots)) == NULL) {
        seterr(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        if ((roots[i] = json_load_file(names[i], JSON_REJECT_DUPLICATES, &je)) == NULL) {
            seterr(err, errlen, "%s:%d:%d: %s", names[i], je.line, je.column, je.text);
            goto done;
        }
    }
    /* National files first, so a regional file never depends on the order of names. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            json_t *region = json_is_object(roots[i]) ? json_object_get(roots[i], "region") : NULL;
            int national = region == NULL || json_is_null(region);
            if (national != (pass == 0))
                continue;
            if (load_root(cal, names[i], roots[i], err, errlen) != 0)
                goto done;
        }
    }
    rc = 0;
done:
    for (size_t i = 0; roots != NULL && i < n; i++)
        json_decref(roots[i]);
    free(roots);
    fsutil_paths_free(names, n);
    return rc;
}

/* --- questions --------------------------------------------------------------------- */

bool calendar_has_year(const calendar_t *cal, int year)
{
    return cal != NULL && national_layer(cal, year) != NULL;
}

static int no_year(char *err, size_t errlen, int year)
{
    seterr(err, errlen, "no working-day calendar is loaded for %d (load the State Council's "
           "arrangement for %d; deadlines are never guessed)", year, year);
    return -1;
}

int calendar_error_year(const char *err)
{
    static const char tag[] = "no working-day calendar is loaded for ";
    const char *p = err ? strstr(err, tag) : NULL;
    if (p == NULL)
        return 0;
    int year = atoi(p + sizeof tag - 1);
    return year >= CALENDAR_YEAR_MIN && year <= CALENDAR_YEAR_MAX ? year : 0;
}

static int normalise_or_fail(const char *region, char q[CALENDAR_REGION_SIZE], char *err,
                             size_t errlen)
{
    if (calendar_region_normalise(region, q) != 0) {
        seterr(err, errlen, "'%s' is not a region code (6, 9 or 12 digits)", region);
        return -1;
    }
    return 0;
}

int calendar_day_info(const calendar_t *cal, const char *region, calendar_day_t day,
                      bool *working, const char **name, char *err, size_t errlen)
{
    char q[CALENDAR_REGION_SIZE];
    if (normalise_or_fail(region, q, err, errlen) != 0)
        return -1;
    int doy, year = day_year(day, &doy);
    const cal_layer_t *nat = national_layer(cal, year);
    if (nat == NULL)
        return no_year(err, errlen, year);
    /* The deepest layer that decides the day wins; the layers are sorted shallow → deep. */
    const cal_layer_t *decider = bit_get(nat->set, doy) ? nat : NULL;
    if (q[0] != '\0') {
        for (size_t i = 0; i < cal->n; i++) {
            const cal_layer_t *l = cal->layers[i];
            if (l->prefix[0] != '\0' && l->year == year && prefix_applies(l->prefix, q) &&
                bit_get(l->set, doy))
                decider = l;
        }
    }
    if (decider != NULL) {
        *working = bit_get(decider->work, doy);
        if (name != NULL)
            *name = decider->names[decider->name_of[doy] - 1];
    } else {
        *working = calendar_day_weekday(day) <= 5;
        if (name != NULL)
            *name = NULL;
    }
    return 0;
}

int calendar_is_working_day(const calendar_t *cal, const char *region, calendar_day_t day,
                            bool *working, char *err, size_t errlen)
{
    return calendar_day_info(cal, region, day, working, NULL, err, errlen);
}

int calendar_add_working_days(const calendar_t *cal, const char *region, calendar_day_t from,
                              int n, calendar_day_t *out, char *err, size_t errlen)
{
    char q[CALENDAR_REGION_SIZE];
    if (normalise_or_fail(region, q, err, errlen) != 0)
        return -1;
    int step = n >= 0 ? 1 : -1;
    long remaining = n >= 0 ? (long)n : -(long)n;
    calendar_day_t d = from;
    int cur_year = 0;
    uint64_t bits[YEAR_WORDS];
    while (remaining > 0) {
        d += step;
        int doy, year = day_year(d, &doy);
        if (year != cur_year) {
            if (year < CALENDAR_YEAR_MIN || year > CALENDAR_YEAR_MAX ||
                year_bits(cal, q, year, bits) != 0)
                return no_year(err, errlen, year);
            cur_year = year;
        }
        if (bit_get(bits, doy))
            remaining--;
    }
    *out = d;
    return 0;
}

int calendar_count_working_days(const calendar_t *cal, const char *region, calendar_day_t after,
                                calendar_day_t through, int *n, char *err, size_t errlen)
{
    char q[CALENDAR_REGION_SIZE];
    if (normalise_or_fail(region, q, err, errlen) != 0)
        return -1;
    int count = 0, cur_year = 0;
    uint64_t bits[YEAR_WORDS];
    for (calendar_day_t d = after + 1; d <= through; d++) {
        int doy, year = day_year(d, &doy);
        if (year != cur_year) {
            if (year < CALENDAR_YEAR_MIN || year > CALENDAR_YEAR_MAX ||
                year_bits(cal, q, year, bits) != 0)
                return no_year(err, errlen, year);
            cur_year = year;
        }
        count += bit_get(bits, doy);
    }
    *n = count;
    return 0;
}

/* --- rows -------------------------------------------------------------------------- */

int calendar_foreach_row(const calendar_t *cal, int (*fn)(void *ud, const calendar_row_t *row),
                         void *ud)
{
    for (size_t i = 0; i < cal->n; i++) {
        const cal_layer_t *l = cal->layers[i];
        for (int d = 0; d < l->ndays; d++) {
            if (!bit_get(l->set, d))
                continue;
            calendar_row_t row = {
                .region_code = l->code,
                .day = l->jan1 + d,
                .year = l->year,
                .working = bit_get(l->work, d),
                .name = l->names[l->name_of[d] - 1],
                .source = l->source,
                .file = l->file,
            };
            if (fn(ud, &row) != 0)
                return -1;
        }
    }
    return 0;
}

size_t calendar_year_count(const calendar_t *cal)
{
    size_t n = 0;
    while (n < cal->n && cal->layers[n]->prefix[0] == '\0')
        n++;
    return n;
}

int calendar_year_at(const calendar_t *cal, size_t i, int *year, const char **source)
{
    if (i >= calendar_year_count(cal))
        return -1;
    if (year != NULL)
        *year = cal->layers[i]->year;
    if (source != NULL)
        *source = cal->layers[i]->source;
    return 0;
}
