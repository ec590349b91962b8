/*
 * policy.c — loads policy profile files into policy_t, checking every key against one table.
 *
 * `keys[]` below is the single list of what a profile may and must say: each row is a dotted
 * path ("windows.help.general"), a type, where the value goes in policy_t, and what values
 * are allowed. The loader walks the JSON tree: an object whose path is a prefix of some rows
 * is a section and is walked into; a path that is a row is parsed by its type; anything else
 * is an unknown key. Afterwards every row not seen is a missing key, unless the row is
 * optional (then its default applies). Two sections are free-form: "settings" (named numbers
 * that windows and counts may use as ${name} — how seed 001's redacted `*` become
 * adjustable values, each with the seed's text and why the default was chosen) and "notes"
 * (free text keyed by a rule's path, so a profile carries its own reasons, and a note on a
 * key that does not exist is caught). Cross-field rules come last (a pause needs reasons,
 * cards need their thresholds, the satisfied levels must leave an unsatisfied one…).
 */
#include "policy.h"

#include "fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"

#define FORMAT_TAG "jiesu-policy/1"
#define WINDOW_N_MAX 1000
#define TEXT_MAX 500
#define SETTINGS_MAX 64
#define MAX_DEPTH 8

_Static_assert(sizeof(policy_after_unsatisfied_t) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(policy_approver_t) == sizeof(int), "enum stored as int");

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

/* --- names ------------------------------------------------------------------------- */

static const char *const kind_names[POLICY_KIND_COUNT] = {"consultation", "help", "complaint",
                                                          "report", "suggestion"};
static const char *const complexity_names[POLICY_COMPLEXITY_COUNT] = {"simple", "general",
                                                                      "complex"};
static const char *const pause_names[POLICY_PAUSE_COUNT] = {
    "awaiting_materials", "enterprise_request", "third_party_procedure", "force_majeure"};
static const char *const after_names[] = {"escalate", "discipline_referral", "review_form",
                                          "meeting", NULL};
static const char *const approver_names[] = {"", "centre", "leader", NULL};
static const char *const weekday_names[] = {"", "monday", "tuesday", "wednesday", "thursday",
                                            "friday", "saturday", "sunday", NULL};

static int name_index(const char *const *names, size_t n, const char *s)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (names[i] != NULL && names[i][0] != '\0' && strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

const char *policy_kind_to_str(policy_kind_t k)
{
    return (unsigned)k < POLICY_KIND_COUNT ? kind_names[k] : NULL;
}

int policy_kind_from_str(const char *s, policy_kind_t *out)
{
    int i = name_index(kind_names, POLICY_KIND_COUNT, s);
    if (i < 0)
        return -1;
    *out = (policy_kind_t)i;
    return 0;
}

const char *policy_complexity_to_str(policy_complexity_t c)
{
    return (unsigned)c < POLICY_COMPLEXITY_COUNT ? complexity_names[c] : NULL;
}

int policy_complexity_from_str(const char *s, policy_complexity_t *out)
{
    int i = name_index(complexity_names, POLICY_COMPLEXITY_COUNT, s);
    if (i < 0)
        return -1;
    *out = (policy_complexity_t)i;
    return 0;
}

const char *policy_pause_reason_to_str(policy_pause_reason_t r)
{
    return (unsigned)r < POLICY_PAUSE_COUNT ? pause_names[r] : NULL;
}

int policy_pause_reason_from_str(const char *s, policy_pause_reason_t *out)
{
    int i = name_index(pause_names, POLICY_PAUSE_COUNT, s);
    if (i < 0)
        return -1;
    *out = (policy_pause_reason_t)i;
    return 0;
}

/* --- windows ----------------------------------------------------------------------- */

#define WINDOW_FORMS "Nwd, Nd, Nh, immediate, \"immediate, else Nwd|Nd|Nh\", agreed, " \
                     "original or with_result"

/* "5wd" / "5d" / "24h" with the whole string consumed. */
static int parse_span(const char *s, policy_unit_t *unit, int *n)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    long v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s++ - '0');
        if (v > WINDOW_N_MAX)
            return -1;
    }
    if (v < 1)
        return -1;
    if (strcmp(s, "wd") == 0)
        *unit = POLICY_UNIT_WORKING_DAYS;
    else if (strcmp(s, "d") == 0)
        *unit = POLICY_UNIT_DAYS;
    else if (strcmp(s, "h") == 0)
        *unit = POLICY_UNIT_HOURS;
    else
        return -1;
    *n = (int)v;
    return 0;
}

int policy_window_parse(const char *s, policy_window_t *out, char *err, size_t errlen)
{
    static const char else_sep[] = "immediate, else ";
    policy_window_t w = {POLICY_UNIT_NONE, 0, POLICY_UNIT_NONE, 0};
    if (s == NULL) {
        seterr(err, errlen, "a window must be a string (" WINDOW_FORMS ")");
        return -1;
    }
    if (strcmp(s, "agreed") == 0) {
        w.unit = POLICY_UNIT_AGREED;
    } else if (strcmp(s, "original") == 0) {
        w.unit = POLICY_UNIT_ORIGINAL;
    } else if (strcmp(s, "with_result") == 0) {
        w.unit = POLICY_UNIT_WITH_RESULT;
    } else if (strcmp(s, "immediate") == 0) {
        w.unit = POLICY_UNIT_IMMEDIATE;
    } else if (strncmp(s, else_sep, sizeof else_sep - 1) == 0) {
        w.unit = POLICY_UNIT_IMMEDIATE;
        if (parse_span(s + sizeof else_sep - 1, &w.else_unit, &w.else_n) != 0) {
            seterr(err, errlen, "'%s': the fallback after \"else\" must be Nwd, Nd or Nh with N "
                   "from 1 to %d", s, WINDOW_N_MAX);
            return -1;
        }
    } else if (parse_span(s, &w.unit, &w.n) != 0) {
        seterr(err, errlen, "'%s' is not a window (expected " WINDOW_FORMS "; N from 1 to %d)", s,
               WINDOW_N_MAX);
        return -1;
    }
    *out = w;
    return 0;
}

static const char *unit_suffix(policy_unit_t u)
{
    return u == POLICY_UNIT_WORKING_DAYS ? "wd" : u == POLICY_UNIT_DAYS ? "d" : "h";
}

int policy_window_format(const policy_window_t *w, char *buf, size_t len)
{
    switch (w->unit) {
    case POLICY_UNIT_WORKING_DAYS:
    case POLICY_UNIT_DAYS:
    case POLICY_UNIT_HOURS:
        return snprintf(buf, len, "%d%s", w->n, unit_suffix(w->unit));
    case POLICY_UNIT_IMMEDIATE:
        if (w->else_unit == POLICY_UNIT_NONE)
            return snprintf(buf, len, "immediate");
        return snprintf(buf, len, "immediate, else %d%s", w->else_n, unit_suffix(w->else_unit));
    case POLICY_UNIT_AGREED:
        return snprintf(buf, len, "agreed");
    case POLICY_UNIT_ORIGINAL:
        return snprintf(buf, len, "original");
    case POLICY_UNIT_WITH_RESULT:
        return snprintf(buf, len, "with_result");
    case POLICY_UNIT_NONE:
        break;
    }
    return snprintf(buf, len, "null");
}

const policy_window_t *policy_window_for(const policy_t *p, policy_kind_t k,
                                         policy_complexity_t c)
{
    if (p == NULL || (unsigned)k >= POLICY_KIND_COUNT || (unsigned)c >= POLICY_COMPLEXITY_COUNT)
        return NULL;
    return &p->windows[k][c];
}

/* --- the key table ----------------------------------------------------------------- */

typedef enum {
    T_FORMAT, /* the constant FORMAT_TAG */
    T_NAME,   /* a profile name as regions.policy_profile allows */
    T_STR,    /* non-blank text */
    T_REGION, /* a region code */
    T_TIME,   /* "HH:MM:SS" → seconds */
    T_WINDOW, /* policy_window_t, units limited by `units` */
    T_INT,    /* int in [min, max]; null → POLICY_UNSET */
    T_BOOL,
    T_ENUM,   /* int index into `names`; null → 0 */
    T_FACTOR, /* double in (0, 10]; null → 0 */
    T_REASONS,/* array of pause reasons → bit mask */
    T_SCALE   /* array of satisfaction labels */
} ktype_t;

#define K_NULL 1u /* null is allowed */
#define K_OPT 2u  /* may be left out; `def` applies */

typedef struct key_def {
    const char *path;
    ktype_t type;
    size_t off;
    unsigned flags;
    int min, max;
    unsigned units;
    const char *const *names;
    const char *def; /* K_OPT only, as the file would spell it */
} key_def_t;

#define U(x) (1u << POLICY_UNIT_##x)
#define U_SPAN (U(WORKING_DAYS) | U(DAYS) | U(HOURS))
#define U_CLOCK (U_SPAN | U(IMMEDIATE))
#define U_RESOLVE (U_CLOCK | U(AGREED))
#define OFF(f) offsetof(policy_t, f)

#define WIN(k, c, K, C)                                                                        \
    {"windows." k "." c, T_WINDOW, OFF(windows[POLICY_KIND_##K][POLICY_COMPLEXITY_##C]), 0, 0,  \
     0, U_RESOLVE, NULL, NULL}
#define WIN3(k, K) WIN(k, "simple", K, SIMPLE), WIN(k, "general", K, GENERAL), \
                   WIN(k, "complex", K, COMPLEX)

static const key_def_t keys[] = {
    {"format", T_FORMAT, 0, 0, 0, 0, 0, NULL, NULL},
    {"name", T_NAME, OFF(name), 0, 0, 0, 0, NULL, NULL},
    {"title", T_STR, OFF(title), 0, 0, 0, 0, NULL, NULL},
    {"source", T_STR, OFF(source), 0, 0, 0, 0, NULL, NULL},
    {"region", T_REGION, OFF(region), K_NULL, 0, 0, 0, NULL, NULL},
    {"office_close", T_TIME, OFF(office_close_s), K_OPT, 0, 0, 0, NULL, "\"23:59:59\""},

    WIN3("consultation", CONSULTATION),
    WIN3("help", HELP),
    WIN3("complaint", COMPLAINT),
    WIN3("report", REPORT),
    WIN3("suggestion", SUGGESTION),

    {"intake.review", T_WINDOW, OFF(intake_review), K_NULL, 0, 0, U_CLOCK, NULL, NULL},
    {"intake.out_of_scope_notice", T_WINDOW, OFF(out_of_scope_notice), K_NULL, 0, 0, U_CLOCK,
     NULL, NULL},
    {"sign_for.window", T_WINDOW, OFF(sign_for), K_NULL, 0, 0, U_CLOCK, NULL, NULL},
    {"sign_for.lower_tier_extra_wd", T_INT, OFF(sign_for_lower_tier_extra_wd), 0, 0, 30, 0, NULL,
     NULL},
    {"first_contact", T_WINDOW, OFF(first_contact), K_NULL, 0, 0, U_CLOCK, NULL, NULL},
    {"result_to_enterprise", T_WINDOW, OFF(result_to_enterprise), K_NULL, 0, 0,
     U_CLOCK | U(WITH_RESULT), NULL, NULL},

    {"progress.weekly", T_BOOL, OFF(progress_weekly), 0, 0, 0, 0, NULL, NULL},
    {"progress.weekday", T_ENUM, OFF(progress_weekday), K_NULL, 0, 0, 0, weekday_names, NULL},
    {"monthly.review_day", T_INT, OFF(monthly_review_day), K_NULL, 1, 28, 0, NULL, NULL},
    {"monthly.seriously_late_wd", T_INT, OFF(monthly_seriously_late_wd), K_NULL, 1, 250, 0, NULL,
     NULL},
    {"monthly.bulletin", T_BOOL, OFF(monthly_bulletin), 0, 0, 0, 0, NULL, NULL},

    {"revisit.window", T_WINDOW, OFF(revisit), K_NULL, 0, 0, U_CLOCK, NULL, NULL},
    {"revisit.same_day_return", T_BOOL, OFF(revisit_same_day_return), 0, 0, 0, 0, NULL, NULL},
    {"revisit.lookback_sampling", T_BOOL, OFF(revisit_lookback_sampling), 0, 0, 0, 0, NULL, NULL},
    {"revisit.coverage_percent", T_INT, OFF(revisit_coverage_percent), K_NULL, 1, 100, 0, NULL,
     NULL},
    {"redo.window", T_WINDOW, OFF(redo), K_NULL, 0, 0, U_RESOLVE | U(ORIGINAL), NULL, NULL},
    {"redo.after_second_unsatisfied", T_ENUM, OFF(after_second_unsatisfied), 0, 0, 0, 0,
     after_names, NULL},
    /* revisit daemon (issue 6): optional, so profiles written before them still load */
    {"revisit.unreachable_after", T_INT, OFF(revisit_unreachable_after), K_OPT, 1, 10, 0, NULL,
     "3"},
    {"revisit.lookback_percent", T_INT, OFF(revisit_lookback_percent), K_OPT | K_NULL, 1, 100, 0,
     NULL, "null"},
    {"archive.after", T_WINDOW, OFF(archive_after), K_OPT, 0, 0, U(WORKING_DAYS) | U(DAYS), NULL,
     "\"5wd\""},
    {"archive.retention_years", T_INT, OFF(archive_retention_years), K_OPT, 1, 100, 0, NULL,
     "10"},

    {"extension.allowed", T_BOOL, OFF(extension_allowed), 0, 0, 0, 0, NULL, NULL},
    {"extension.approver", T_ENUM, OFF(extension_approver), K_NULL, 0, 0, 0, approver_names,
     NULL},
    {"extension.max_factor", T_FACTOR, OFF(extension_max_factor), K_NULL, 0, 0, 0, NULL, NULL},
    {"extension.max_count", T_INT, OFF(extension_max_count), K_NULL, 1, 10, 0, NULL, NULL},
    {"extension.ask_before_due", T_BOOL, OFF(extension_ask_before_due), 0, 0, 0, 0, NULL, NULL},

    {"pause.allowed", T_BOOL, OFF(pause_allowed), 0, 0, 0, 0, NULL, NULL},
    {"pause.reasons", T_REASONS, OFF(pause_reasons), 0, 0, 0, 0, NULL, NULL},

    {"warning.days_before", T_INT, OFF(warning_days_before), 0, 0, 30, 0, NULL, NULL},
    {"warning.hours_before", T_INT, OFF(warning_hours_before), 0, 0, 720, 0, NULL, NULL},

    {"supervision.reminder.unsigned_times", T_INT, OFF(sup_reminder_unsigned_times), K_NULL, 1,
     100, 0, NULL, NULL},
    {"supervision.reminder.overdue", T_BOOL, OFF(sup_reminder_overdue), 0, 0, 0, 0, NULL, NULL},
    {"supervision.reminder.repeat_reports", T_INT, OFF(sup_reminder_repeat_reports), K_NULL, 1,
     100, 0, NULL, NULL},
    {"supervision.rectification.unsatisfied_results", T_INT,
     OFF(sup_rectify_unsatisfied_results), K_NULL, 1, 100, 0, NULL, NULL},
    {"supervision.rectification.improper_close_requests", T_INT, OFF(sup_rectify_improper_closes),
     K_NULL, 1, 100, 0, NULL, NULL},
    {"supervision.rectification.in_monthly_bulletin", T_BOOL, OFF(sup_rectify_in_bulletin), 0, 0,
     0, 0, NULL, NULL},
    {"supervision.interview", T_BOOL, OFF(sup_interview), 0, 0, 0, 0, NULL, NULL},
    {"supervision.notice_reply", T_WINDOW, OFF(sup_notice_reply), K_NULL, 0, 0, U_SPAN, NULL,
     NULL},
    {"supervision.discipline_referral", T_BOOL, OFF(sup_discipline_referral), 0, 0, 0, 0, NULL,
     NULL},

    {"cards.enabled", T_BOOL, OFF(cards_enabled), 0, 0, 0, 0, NULL, NULL},
    {"cards.red_after_yellows", T_INT, OFF(cards_red_after_yellows), K_NULL, 1, 10, 0, NULL,
     NULL},
    {"cards.principal_after_reds", T_INT, OFF(cards_principal_after_reds), K_NULL, 1, 10, 0,
     NULL, NULL},

    {"satisfaction.scale", T_SCALE, 0, 0, 0, 0, 0, NULL, NULL},
    {"satisfaction.satisfied_levels", T_INT, OFF(satisfied_levels), 0, 1, POLICY_SCALE_MAX - 1,
     0, NULL, NULL},
    {"satisfaction.target_percent", T_INT, OFF(satisfaction_target_percent), K_NULL, 1, 100, 0,
     NULL, NULL},
};

#define NKEYS JS_ARRAY_LEN(keys)

static const key_def_t *key_find(const char *path)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].path, path) == 0)
            return &keys[i];
    return NULL;
}

/* Is `path` a section, i.e. a proper prefix of some key up to a dot? */
static int is_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < NKEYS; i++)
        if (strncmp(keys[i].path, path, n) == 0 && keys[i].path[n] == '.')
            return 1;
    return 0;
}

/* --- the loader -------------------------------------------------------------------- */

typedef struct setting {
    const char *name; /* borrowed from the JSON tree */
    int value;
    int used;
} setting_t;

typedef struct load_ctx {
    const char *label;
    const char *name; /* the profile's name once known, for messages */
    policy_t *p;
    setting_t settings[SETTINGS_MAX];
    size_t n_settings;
    unsigned char seen[NKEYS];
    char *err;
    size_t errlen;
} load_ctx_t;

static void ctx_err(load_ctx_t *c, const char *key, const char *fmt, ...) JS_PRINTF(3, 4);
static void ctx_err(load_ctx_t *c, const char *key, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    seterr(c->err, c->errlen, "%s: profile '%s': key '%s': %s", c->label,
           c->name ? c->name : "?", key, what);
}

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

static int valid_profile_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(islower(ch) || isdigit(ch) || ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

static setting_t *setting_find(load_ctx_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_settings; i++)
        if (strlen(c->settings[i].name) == len && strncmp(c->settings[i].name, name, len) == 0)
            return &c->settings[i];
    return NULL;
}

/* Replaces every ${name} in s by its setting's value. */
static int substitute(load_ctx_t *c, const char *key, const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    while (*s) {
        if (s[0] == '$' && s[1] == '{') {
            const char *end = strchr(s + 2, '}');
            if (end == NULL) {
                ctx_err(c, key, "unterminated ${ in '%s'", s);
                return -1;
            }
            setting_t *st = setting_find(c, s + 2, (size_t)(end - s - 2));
            if (st == NULL) {
                ctx_err(c, key, "'%.*s' is not a setting of this profile (see \"settings\")",
                        (int)(end - s + 1), s);
                return -1;
            }
            st->used = 1;
            int w = snprintf(out + o, outlen - o, "%d", st->value);
            if (w < 0 || (size_t)w >= outlen - o)
                goto too_long;
            o += (size_t)w;
            s = end + 1;
        } else {
            if (o + 1 >= outlen)
                goto too_long;
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return 0;
too_long:
    ctx_err(c, key, "value too long");
    return -1;
}

static int parse_settings(load_ctx_t *c, json_t *obj)
{
    if (!json_is_object(obj)) {
        ctx_err(c, "settings", "must be an object of named settings");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v) {
        char key[128];
        snprintf(key, sizeof key, "settings.%s", name);
        int ok = islower((unsigned char)name[0]) && strlen(name) <= 48;
        for (const char *q = name; *q; q++)
            ok &= islower((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '_';
        if (!ok) {
            ctx_err(c, key, "a setting name is lower-case letters, digits and _");
            return -1;
        }
        if (c->n_settings == SETTINGS_MAX) {
            ctx_err(c, key, "more than %d settings", SETTINGS_MAX);
            return -1;
        }
        if (!json_is_object(v)) {
            ctx_err(c, key, "must be an object {\"value\", \"seed_text\", \"why\"}");
            return -1;
        }
        const char *k;
        json_t *f;
        json_object_foreach(v, k, f) {
            if (strcmp(k, "value") && strcmp(k, "seed_text") && strcmp(k, "why")) {
                ctx_err(c, key, "unknown key '%s' (expected value, seed_text, why)", k);
                return -1;
            }
        }
        json_t *val = json_object_get(v, "value");
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) > 100000) {
            ctx_err(c, key, "value must be an integer from 0 to 100000");
            return -1;
        }
        const char *seed = json_string_value(json_object_get(v, "seed_text"));
        const char *why = json_string_value(json_object_get(v, "why"));
        if (seed == NULL || why == NULL || blank(why)) {
            ctx_err(c, key, "seed_text (what the seed says, e.g. \"*\") and why (the reason for "
                    "the value) are required");
            return -1;
        }
        c->settings[c->n_settings++] = (setting_t){name, (int)json_integer_value(val), 0};
    }
    return 0;
}

static int parse_text(load_ctx_t *c, const key_def_t *k, json_t *v, char **dst)
{
    const char *s = json_string_value(v);
    if (s == NULL || blank(s) || utf8_chars(s) > TEXT_MAX) {
        ctx_err(c, k->path, "must be a non-blank string of at most %d characters", TEXT_MAX);
        return -1;
    }
    if ((*dst = strdup(s)) == NULL) {
        ctx_err(c, k->path, "out of memory");
        return -1;
    }
    return 0;
}

static int parse_int(load_ctx_t *c, const key_def_t *k, json_t *v, int *dst)
{
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        setting_t *st = NULL;
        if (n > 3 && s[0] == '$' && s[1] == '{' && s[n - 1] == '}')
            st = setting_find(c, s + 2, n - 3);
        if (st == NULL) {
            ctx_err(c, k->path, "must be an integer or a \"${setting}\" of this profile, not '%s'",
                    s);
            return -1;
        }
        st->used = 1;
        x = st->value;
    } else {
        ctx_err(c, k->path, "must be an integer%s", (k->flags & K_NULL) ? " or null" : "");
        return -1;
    }
    if (x < k->min || x > k->max) {
        ctx_err(c, k->path, "%lld is out of range (%d to %d)", x, k->min, k->max);
        return -1;
    }
    *dst = (int)x;
    return 0;
}

static int parse_window(load_ctx_t *c, const key_def_t *k, json_t *v, policy_window_t *dst)
{
    char text[128], why[256];
    const char *s = json_string_value(v);
    if (s == NULL) {
        ctx_err(c, k->path, "a window must be a string (" WINDOW_FORMS ")%s",
                (k->flags & K_NULL) ? " or null" : "");
        return -1;
    }
    if (substitute(c, k->path, s, text, sizeof text) != 0)
        return -1;
    policy_window_t w;
    if (policy_window_parse(text, &w, why, sizeof why) != 0) {
        ctx_err(c, k->path, "%s", why);
        return -1;
    }
    if (!(k->units & (1u << w.unit))) {
        char allowed[160] = "";
        static const char *const forms[] = {"", "Nwd", "Nd", "Nh", "immediate", "agreed",
                                            "original", "with_result"};
        for (unsigned u = 1; u < JS_ARRAY_LEN(forms); u++) {
            if (!(k->units & (1u << u)))
                continue;
            size_t used = strlen(allowed);
            snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? ", " : "", forms[u]);
        }
        ctx_err(c, k->path, "'%s' is not allowed here (allowed: %s%s)", text, allowed,
                (k->flags & K_NULL) ? ", null" : "");
        return -1;
    }
    *dst = w;
    return 0;
}

static int parse_time(load_ctx_t *c, const key_def_t *k, json_t *v, int *dst)
{
    const char *s = json_string_value(v);
    int h, m, sec;
    if (s == NULL || strlen(s) != 8 || s[2] != ':' || s[5] != ':' ||
        !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]) ||
        !isdigit((unsigned char)s[6]) || !isdigit((unsigned char)s[7]) ||
        (h = (s[0] - '0') * 10 + s[1] - '0') > 23 || (m = (s[3] - '0') * 10 + s[4] - '0') > 59 ||
        (sec = (s[6] - '0') * 10 + s[7] - '0') > 59) {
        ctx_err(c, k->path, "must be a time of day \"HH:MM:SS\" (Asia/Shanghai), e.g. "
                "\"17:30:00\"");
        return -1;
    }
    *dst = h * 3600 + m * 60 + sec;
    return 0;
}

static int parse_leaf(load_ctx_t *c, const key_def_t *k, json_t *v)
{
    char *base = (char *)c->p;
    void *dst = base + k->off;

    if (json_is_null(v)) {
        if (!(k->flags & K_NULL)) {
            ctx_err(c, k->path, "may not be null");
            return -1;
        }
        switch (k->type) {
        case T_INT: *(int *)dst = POLICY_UNSET; break;
        case T_ENUM: *(int *)dst = k->names == weekday_names ? POLICY_UNSET : 0; break;
        case T_WINDOW: *(policy_window_t *)dst = (policy_window_t){0, 0, 0, 0}; break;
        default: break; /* strings stay NULL, factors 0 */
        }
        return 0;
    }
    switch (k->type) {
    case T_FORMAT: {
        const char *s = json_string_value(v);
        if (s == NULL || strcmp(s, FORMAT_TAG) != 0) {
            ctx_err(c, k->path, "must be \"%s\"", FORMAT_TAG);
            return -1;
        }
        return 0;
    }
    case T_NAME: {
        const char *s = json_string_value(v);
        if (s == NULL || !valid_profile_name(s)) {
            ctx_err(c, k->path, "must match [a-z0-9][a-z0-9_.-]{0,63} (regions.policy_profile)");
            return -1;
        }
        if ((*(char **)dst = strdup(s)) == NULL) {
            ctx_err(c, k->path, "out of memory");
            return -1;
        }
        return 0;
    }
    case T_STR:
        return parse_text(c, k, v, (char **)dst);
    case T_REGION: {
        char norm[CALENDAR_REGION_SIZE];
        const char *s = json_string_value(v);
        if (s == NULL || calendar_region_normalise(s, norm) != 0 || norm[0] == '\0') {
            ctx_err(c, k->path, "must be a region code (6, 9 or 12 digits) or null");
            return -1;
        }
        if ((*(char **)dst = strdup(s)) == NULL) {
            ctx_err(c, k->path, "out of memory");
            return -1;
        }
        return 0;
    }
    case T_TIME:
        return parse_time(c, k, v, (int *)dst);
    case T_WINDOW:
        return parse_window(c, k, v, (policy_window_t *)dst);
    case T_INT:
        return parse_int(c, k, v, (int *)dst);
    case T_BOOL:
        if (!json_is_boolean(v)) {
            ctx_err(c, k->path, "must be true or false");
            return -1;
        }
        *(bool *)dst = json_is_true(v);
        return 0;
    case T_ENUM: {
        size_t n = 0;
        while (k->names[n] != NULL)
            n++;
        int i = name_index(k->names, n, json_string_value(v));
        if (i < 0) {
            char allowed[200] = "";
            for (size_t j = 0; j < n; j++) {
                if (k->names[j][0] == '\0')
                    continue;
                size_t used = strlen(allowed);
                snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? ", " : "",
                         k->names[j]);
            }
            ctx_err(c, k->path, "must be one of %s%s", allowed,
                    (k->flags & K_NULL) ? " or null" : "");
            return -1;
        }
        *(int *)dst = i;
        return 0;
    }
    case T_FACTOR: {
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 10) {
            ctx_err(c, k->path, "must be a number above 0 and at most 10, or null (no cap)");
            return -1;
        }
        *(double *)dst = json_number_value(v);
        return 0;
    }
    case T_REASONS: {
        if (!json_is_array(v)) {
            ctx_err(c, k->path, "must be an array of reasons");
            return -1;
        }
        unsigned mask = 0;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            policy_pause_reason_t r;
            if (policy_pause_reason_from_str(json_string_value(e), &r) != 0) {
                ctx_err(c, k->path, "[%zu] must be one of awaiting_materials, enterprise_request, "
                        "third_party_procedure, force_majeure", i);
                return -1;
            }
            if (mask & (1u << r)) {
                ctx_err(c, k->path, "'%s' is listed twice", pause_names[r]);
                return -1;
            }
            mask |= 1u << r;
        }
        *(unsigned *)dst = mask;
        return 0;
    }
    case T_SCALE: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n < 2 || n > POLICY_SCALE_MAX) {
            ctx_err(c, k->path, "must be an array of 2 to %d labels, best first",
                    POLICY_SCALE_MAX);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (s == NULL || blank(s) || utf8_chars(s) > 20) {
                ctx_err(c, k->path, "[%zu] must be a non-blank label of at most 20 characters",
                        i);
                return -1;
            }
            for (size_t j = 0; j < i; j++) {
                if (strcmp(c->p->scale[j], s) == 0) {
                    ctx_err(c, k->path, "'%s' is listed twice", s);
                    return -1;
                }
            }
            if ((c->p->scale[i] = strdup(s)) == NULL) {
                ctx_err(c, k->path, "out of memory");
                return -1;
            }
            c->p->scale_len = (int)i + 1;
        }
        return 0;
    }
    }
    return -1;
}

static int walk(load_ctx_t *c, json_t *obj, const char *prefix, int depth)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v) {
        char path[160];
        int w = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
        if (w < 0 || (size_t)w >= sizeof path) {
            ctx_err(c, prefix, "unknown key '%.40s…'", name);
            return -1;
        }
        if (depth == 0 && (strcmp(name, "settings") == 0 || strcmp(name, "notes") == 0))
            continue; /* read before and after the walk */
        const key_def_t *k = key_find(path);
        if (k != NULL) {
            size_t idx = (size_t)(k - keys);
            if (parse_leaf(c, k, v) != 0)
                return -1;
            c->seen[idx] = 1;
        } else if (is_section(path)) {
            if (!json_is_object(v)) {
                ctx_err(c, path, "must be an object (a section of the profile)");
                return -1;
            }
            if (depth + 1 >= MAX_DEPTH || walk(c, v, path, depth + 1) != 0)
                return -1;
        } else {
            ctx_err(c, path, "unknown key");
            return -1;
        }
    }
    return 0;
}

static int parse_notes(load_ctx_t *c, json_t *notes)
{
    if (!json_is_object(notes)) {
        ctx_err(c, "notes", "must be an object of {\"rule.path\": \"why\"}");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach(notes, name, v) {
        char key[200];
        snprintf(key, sizeof key, "notes.%s", name);
        if (key_find(name) == NULL && !is_section(name) && strcmp(name, "settings") != 0) {
            ctx_err(c, key, "'%s' is not a rule of a profile; a note must name one", name);
            return -1;
        }
        const char *s = json_string_value(v);
        if (s == NULL || blank(s)) {
            ctx_err(c, key, "must be a non-blank string");
            return -1;
        }
    }
    return 0;
}

/* The rules that tie keys together, checked once every key is read. */
static int check_cross(load_ctx_t *c)
{
    policy_t *p = c->p;
    if (p->progress_weekday != POLICY_UNSET && !p->progress_weekly) {
        ctx_err(c, "progress.weekday", "a weekday is set but progress.weekly is false");
        return -1;
    }
    if (p->pause_allowed != (p->pause_reasons != 0)) {
        ctx_err(c, "pause.reasons", p->pause_allowed ? "pause.allowed is true but no reason is "
                "listed" : "reasons are listed but pause.allowed is false");
        return -1;
    }
    if (!p->extension_allowed && (p->extension_approver != POLICY_APPROVER_NONE ||
                                  p->extension_max_factor > 0 || p->extension_max_count != POLICY_UNSET)) {
        ctx_err(c, "extension.allowed", "false, so approver, max_factor and max_count must be "
                "null");
        return -1;
    }
    if (p->extension_allowed && p->extension_approver == POLICY_APPROVER_NONE) {
        ctx_err(c, "extension.approver", "extensions are allowed, so someone must approve them");
        return -1;
    }
    if (p->cards_enabled != (p->cards_red_after_yellows != POLICY_UNSET) ||
        p->cards_enabled != (p->cards_principal_after_reds != POLICY_UNSET)) {
        ctx_err(c, "cards.enabled", "%s", p->cards_enabled
                ? "true, so red_after_yellows and principal_after_reds must be set"
                : "false, so red_after_yellows and principal_after_reds must be null");
        return -1;
    }
    if (p->satisfied_levels >= p->scale_len) {
        ctx_err(c, "satisfaction.satisfied_levels", "%d leaves no unsatisfied level on a scale "
                "of %d", p->satisfied_levels, p->scale_len);
        return -1;
    }
    if (p->revisit_lookback_percent != POLICY_UNSET && !p->revisit_lookback_sampling) {
        ctx_err(c, "revisit.lookback_percent", "set, but revisit.lookback_sampling is false");
        return -1;
    }
    if (p->monthly_seriously_late_wd != POLICY_UNSET && p->monthly_review_day == POLICY_UNSET) {
        ctx_err(c, "monthly.seriously_late_wd", "set, but there is no monthly.review_day");
        return -1;
    }
    for (size_t i = 0; i < c->n_settings; i++) {
        if (!c->settings[i].used) {
            char key[128];
            snprintf(key, sizeof key, "settings.%s", c->settings[i].name);
            ctx_err(c, key, "never used as ${%s} (a typo?)", c->settings[i].name);
            return -1;
        }
    }
    return 0;
}

static void policy_free(policy_t *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->title);
    free(p->source);
    free(p->region);
    free(p->file);
    for (int i = 0; i < POLICY_SCALE_MAX; i++)
        free(p->scale[i]);
    free(p);
}

/* Builds a profile from a parsed file; `want_name` (from the file name) may be NULL. */
static policy_t *policy_from_json(const char *label, const char *want_name, json_t *root,
                                  char *err, size_t errlen)
{
    load_ctx_t *c = calloc(1, sizeof *c);
    policy_t *p = calloc(1, sizeof *p);
    if (c == NULL || p == NULL) {
        seterr(err, errlen, "%s: out of memory", label);
        goto fail;
    }
    *c = (load_ctx_t){.label = label, .p = p, .err = err, .errlen = errlen};
    if (!json_is_object(root)) {
        seterr(err, errlen, "%s: a profile must be one JSON object", label);
        goto fail;
    }
    /* Known early so every message names the profile, even one whose name is invalid. */
    const char *name = json_string_value(json_object_get(root, "name"));
    c->name = name;
    if (want_name != NULL && (name == NULL || strcmp(name, want_name) != 0)) {
        ctx_err(c, "name", "must be \"%s\", the file's name", want_name);
        goto fail;
    }
    json_t *settings = json_object_get(root, "settings");
    if (settings != NULL && parse_settings(c, settings) != 0)
        goto fail;
    if (walk(c, root, "", 0) != 0)
        goto fail;
    for (size_t i = 0; i < NKEYS; i++) {
        if (c->seen[i])
            continue;
        if (!(keys[i].flags & K_OPT)) {
            ctx_err(c, keys[i].path, "missing (every rule must be stated; null where the "
                    "locality has none)");
            goto fail;
        }
        json_t *def = json_loads(keys[i].def, JSON_DECODE_ANY, NULL);
        int rc = def != NULL ? parse_leaf(c, &keys[i], def) : -1;
        json_decref(def);
        if (rc != 0)
            goto fail;
    }
    json_t *notes = json_object_get(root, "notes");
    if (notes != NULL && parse_notes(c, notes) != 0)
        goto fail;
    if (check_cross(c) != 0)
        goto fail;
    if ((p->file = strdup(label)) == NULL) {
        seterr(err, errlen, "%s: out of memory", label);
        goto fail;
    }
    free(c);
    return p;
fail:
    free(c);
    policy_free(p);
    return NULL;
}

/* --- extensions, pauses, satisfaction ---------------------------------------------- */

int policy_extension_check(const policy_t *p, const policy_window_t *original, int granted_total,
                           int granted_count, int requested, char *err, size_t errlen)
{
    if (!p->extension_allowed) {
        seterr(err, errlen, "profile '%s' allows no extension", p->name);
        return -1;
    }
    if (requested < 1) {
        seterr(err, errlen, "an extension must add at least 1");
        return -1;
    }
    if (p->extension_max_count != POLICY_UNSET && granted_count >= p->extension_max_count) {
        seterr(err, errlen, "profile '%s' allows at most %d extension(s) and %d granted already",
               p->name, p->extension_max_count, granted_count);
        return -1;
    }
    policy_unit_t unit = original->unit;
    int n = original->n;
    if (unit == POLICY_UNIT_IMMEDIATE) {
        unit = original->else_unit;
        n = original->else_n;
    }
    if (unit != POLICY_UNIT_WORKING_DAYS && unit != POLICY_UNIT_DAYS && unit != POLICY_UNIT_HOURS) {
        seterr(err, errlen, "a window without a length cannot be extended (agree a deadline "
               "first)");
        return -1;
    }
    if (p->extension_max_factor > 0) {
        double cap = p->extension_max_factor * n;
        if ((double)granted_total + requested > cap + 1e-9) {
            seterr(err, errlen, "profile '%s' caps extensions at %g × the original %d%s: %d "
                   "granted, %d more asked", p->name, p->extension_max_factor, n,
                   unit_suffix(unit), granted_total, requested);
            return -1;
        }
    }
    return 0;
}

bool policy_pause_allowed(const policy_t *p, policy_pause_reason_t reason)
{
    return p->pause_allowed && (unsigned)reason < POLICY_PAUSE_COUNT &&
           (p->pause_reasons & (1u << reason));
}

int policy_satisfaction_level(const policy_t *p, const char *label)
{
    for (int i = 0; label != NULL && i < p->scale_len; i++)
        if (strcmp(p->scale[i], label) == 0)
            return i;
    return -1;
}

bool policy_level_satisfies(const policy_t *p, int level)
{
    return level >= 0 && level < p->satisfied_levels;
}

/* --- the set ----------------------------------------------------------------------- */

struct policy_set {
    policy_t **items; /* owned */
    size_t n, cap;
};

policy_set_t *policy_set_new(void)
{
    return calloc(1, sizeof(policy_set_t));
}

void policy_set_free(policy_set_t *ps)
{
    if (ps == NULL)
        return;
    for (size_t i = 0; i < ps->n; i++)
        policy_free(ps->items[i]);
    free(ps->items);
    free(ps);
}

static int set_add(policy_set_t *ps, policy_t *p, char *err, size_t errlen)
{
    const policy_t *old = policy_set_find(ps, p->name);
    if (old != NULL) {
        seterr(err, errlen, "%s: profile '%s' is already loaded from %s", p->file, p->name,
               old->file);
        return -1;
    }
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        policy_t **grown = realloc(ps->items, cap * sizeof *grown);
        if (grown == NULL) {
            seterr(err, errlen, "%s: out of memory", p->file);
            return -1;
        }
        ps->items = grown;
        ps->cap = cap;
    }
    ps->items[ps->n++] = p;
    return 0;
}

static int load_root(policy_set_t *ps, const char *label, const char *want_name, json_t *root,
                     char *err, size_t errlen)
{
    policy_t *p = policy_from_json(label, want_name, root, err, errlen);
    if (p == NULL)
        return -1;
    if (set_add(ps, p, err, errlen) != 0) {
        policy_free(p);
        return -1;
    }
    return 0;
}

int policy_set_load_string(policy_set_t *ps, const char *label, const char *json, char *err,
                           size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        seterr(err, errlen, "%s:%d:%d: %s", label, je.line, je.column, je.text);
        return -1;
    }
    int rc = load_root(ps, label, NULL, root, err, errlen);
    json_decref(root);
    return rc;
}

int policy_set_load_file(policy_set_t *ps, const char *path, char *err, size_t errlen)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n < 6 || strcmp(base + n - 5, ".json") != 0) {
        seterr(err, errlen, "%s: a profile file is NAME.json", path);
        return -1;
    }
    char want[80];
    snprintf(want, sizeof want, "%.*s", (int)(n - 5), base);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        if (je.line < 0)
            seterr(err, errlen, "%s: %s", path, je.text);
        else
            seterr(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    int rc = load_root(ps, path, want, root, err, errlen);
    json_decref(root);
    return rc;
}


int policy_set_load_dir(policy_set_t *ps, const char *dir, char *err, size_t errlen)
{
    char **names = NULL;
    size_t n = 0;
    int rc = -1;
    if (fsutil_list(dir, ".json", &names, &n) != 0) {
        if (errno == ENOMEM)
            seterr(err, errlen, "%s: out of memory", dir);
        else
            seterr(err, errlen, "%s: cannot open policy directory: %s", dir, strerror(errno));
        return -1;
    }
    if (n == 0) {
        seterr(err, errlen, "%s: no policy profiles (*.json) in the directory", dir);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (policy_set_load_file(ps, names[i], err, errlen) != 0)
            goto done;
    rc = 0;
done:
    fsutil_paths_free(names, n);
    return rc;
}

const policy_t *policy_set_find(const policy_set_t *ps, const char *name)
{
    for (size_t i = 0; name != NULL && i < ps->n; i++)
        if (strcmp(ps->items[i]->name, name) == 0)
            return ps->items[i];
    return NULL;
}

size_t policy_set_count(const policy_set_t *ps)
{
    return ps->n;
}

const policy_t *policy_set_at(const policy_set_t *ps, size_t i)
{
    return i < ps->n ? ps->items[i] : NULL;
}

int policy_set_resolve_region(const policy_set_t *ps, const char *region,
                              policy_region_lookup_fn lookup, void *ud, const policy_t **out,
                              char *err, size_t errlen)
{
    char code[CALENDAR_REGION_SIZE];
    if (region == NULL || strlen(region) >= sizeof code) {
        seterr(err, errlen, "'%s' is not a region code", region ? region : "(null)");
        return -1;
    }
    snprintf(code, sizeof code, "%s", region);
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        const char *profile = NULL, *parent = NULL;
        if (lookup(ud, code, &profile, &parent) != 0) {
            seterr(err, errlen, "region %s is unknown", code);
            return -1;
        }
        if (profile != NULL) {
            const policy_t *p = policy_set_find(ps, profile);
            if (p == NULL) {
                seterr(err, errlen, "region %s names policy profile '%s', which is not loaded",
                       code, profile);
                return -1;
            }
            *out = p;
            return 0;
        }
        if (parent == NULL || strlen(parent) >= sizeof code) {
            seterr(err, errlen, "neither region %s nor any region above it names a policy "
                   "profile", region);
            return -1;
        }
        snprintf(code, sizeof code, "%s", parent);
    }
    seterr(err, errlen, "region %s: more than %d levels above it without a policy profile",
           region, MAX_DEPTH);
    return -1;
}

const policy_t *policy_set_find_for_region(const policy_set_t *ps, const char *region)
{
    char q[CALENDAR_REGION_SIZE];
    if (calendar_region_normalise(region, q) != 0 || q[0] == '\0')
        return NULL;
    const policy_t *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < ps->n; i++) {
        char home[CALENDAR_REGION_SIZE];
        const policy_t *p = ps->items[i];
        if (p->region == NULL || calendar_region_normalise(p->region, home) != 0)
            continue;
        size_t len = strlen(home);
        if (strncmp(home, q, len) == 0 && len > best_len) {
            best = p;
            best_len = len;
        }
    }
    return best;
}
