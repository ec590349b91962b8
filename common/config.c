/*
 * config.c — one setter for all sources, so "defaults < file < environment < command line"
 * is simply the order in which the setter is called.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const cfg_entry_t *cfg_find(const cfg_table_t *t, const char *key, size_t keylen)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->entries[i].key) == keylen && strncmp(t->entries[i].key, key, keylen) == 0)
            return &t->entries[i];
    return NULL;
}

static int cfg_apply(const cfg_entry_t *e, void *cfg, const char *value, const char *source,
                     char *err, size_t errlen)
{
    char *base = (char *)cfg + e->offset;
    switch (e->type) {
    case CFG_STR:
    case CFG_SECRET: {
        char *dup = strdup(value ? value : "");
        if (dup == NULL) {
            snprintf(err, errlen, "%s: out of memory setting '%s'", source, e->key);
            return -1;
        }
        char **slot = (char **)(void *)base;
        free(*slot);
        *slot = dup;
        return 0;
    }
    case CFG_INT: {
        char *end = NULL;
        errno = 0;
        long v = strtol(value ? value : "", &end, 10);
        if (value == NULL || *value == '\0' || *end != '\0' || errno != 0) {
            snprintf(err, errlen, "%s: key '%s' wants an integer, got '%s'", source, e->key,
                     value ? value : "");
            return -1;
        }
        if (v < e->min || v > e->max) {
            snprintf(err, errlen, "%s: key '%s' must be between %ld and %ld, got %ld", source,
                     e->key, e->min, e->max, v);
            return -1;
        }
        *(long *)(void *)base = v;
        return 0;
    }
    case CFG_BOOL: {
        bool v;
        if (value && (!strcasecmp(value, "true") || !strcmp(value, "1") ||
                      !strcasecmp(value, "yes") || !strcasecmp(value, "on")))
            v = true;
        else if (value && (!strcasecmp(value, "false") || !strcmp(value, "0") ||
                           !strcasecmp(value, "no") || !strcasecmp(value, "off")))
            v = false;
        else {
            snprintf(err, errlen, "%s: key '%s' wants true or false, got '%s'", source, e->key,
                     value ? value : "");
            return -1;
        }
        *(bool *)(void *)base = v;
        return 0;
    }
    }
    return -1;
}

int cfg_defaults(const cfg_table_t *t, void *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n; i++) {
        const cfg_entry_t *e = &t->entries[i];
        if (cfg_apply(e, cfg, e->def ? e->def : "", "default", err, errlen) != 0) return -1;
    }
    return 0;
}

int cfg_set(const cfg_table_t *t, void *cfg, const char *key, const char *value,
            const char *source, char *err, size_t errlen)
{
    const cfg_entry_t *e = cfg_find(t, key, strlen(key));
    if (e == NULL) {
        snprintf(err, errlen, "%s: unknown key '%s'", source, key);
        return -1;
    }
    return cfg_apply(e, cfg, value, source, err, errlen);
}

static char *cfg_trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

int cfg_load_file(const cfg_table_t *t, void *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char source[512];
        snprintf(source, sizeof source, "%s:%d", path, lineno);
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%s: line longer than %zu bytes", source, sizeof line - 1);
            rc = -1;
            break;
        }
        char *s = cfg_trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s: expected 'key = value', got '%.64s'", source, s);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = cfg_trim(s);
        char *val = cfg_trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        if (cfg_find(t, key, strlen(key)) == NULL) {
            snprintf(err, errlen, "%s: unknown key '%s'", source, key);
            rc = -1;
            break;
        }
        if (cfg_set(t, cfg, key, val, source, err, errlen) != 0) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int cfg_load_env(const cfg_table_t *t, void *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->n; i++) {
        char name[128] = "JIESU_";
        size_t o = strlen(name);
        for (const char *k = t->entries[i].key; *k && o + 1 < sizeof name; k++)
            name[o++] = (char)toupper((unsigned char)*k);
        name[o] = '\0';
        const char *v = getenv(name);
        if (v == NULL) continue;
        char source[160];
        snprintf(source, sizeof source, "environment %s", name);
        if (cfg_apply(&t->entries[i], cfg, v, source, err, errlen) != 0) return -1;
    }
    return 0;
}

static void cfg_usage(const cfg_table_t *t, const char *prog, FILE *out)
{
    fprintf(out,
            "usage: %s [--config FILE] [--KEY=VALUE ...] [--dump-config] [--help]\n"
            "Settings (file key = value; environment JIESU_<KEY>; command line --KEY=VALUE):\n",
            prog);
    for (size_t i = 0; i < t->n; i++)
        fprintf(out, "  %-22s %s (default: %s)\n", t->entries[i].key, t->entries[i].help,
                t->entries[i].type == CFG_SECRET ? "<secret>"
                : t->entries[i].def              ? t->entries[i].def
                                                 : ""); /* NULL def: printf("%s", NULL) */
}

int cfg_parse_args(const cfg_table_t *t, void *cfg, int argc, char **argv, FILE *out, char *err,
                   size_t errlen)
{
    const char *file = NULL;
    bool dump = false;
    /* First pass: find --config/--help/--dump-config and check every option's shape, so that
     * a typo is reported before anything else happens. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cfg_usage(t, argv[0], out);
            return 1;
        } else if (!strcmp(a, "--dump-config")) {
            dump = true;
        } else if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "command line: %s needs a file name", a);
                return -1;
            }
            file = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            file = a + 9;
        } else if (!strncmp(a, "--", 2)) {
            const char *k = a + 2, *eq = strchr(k, '=');
            size_t kl = eq ? (size_t)(eq - k) : strlen(k);
            char kbuf[128];
            snprintf(kbuf, sizeof kbuf, "%.*s", (int)kl, k);
            for (char *c = kbuf; *c; c++)
                if (*c == '-') *c = '_';
            if (cfg_find(t, kbuf, strlen(kbuf)) == NULL) {
                snprintf(err, errlen, "command line: unknown option '--%s'", kbuf);
                return -1;
            }
            if (eq == NULL) i++; /* value is the next word */
        } else {
            snprintf(err, errlen, "command line: unexpected argument '%s'", a);
            return -1;
        }
    }
    if (cfg_defaults(t, cfg, err, errlen) != 0) return -1;
    if (file && cfg_load_file(t, cfg, file, err, errlen) != 0) return -1;
    if (cfg_load_env(t, cfg, err, errlen) != 0) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--dump-config") || !strncmp(a, "--config=", 9)) continue;
        if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
            i++;
            continue;
        }
        const char *k = a + 2, *eq = strchr(k, '=');
        size_t kl = eq ? (size_t)(eq - k) : strlen(k);
        char kbuf[128];
        snprintf(kbuf, sizeof kbuf, "%.*s", (int)kl, k);
        for (char *c = kbuf; *c; c++)
            if (*c == '-') *c = '_';
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL) {
            snprintf(err, errlen, "command line: --%s needs a value", kbuf);
            return -1;
        }
        if (cfg_set(t, cfg, kbuf, v, "command line", err, errlen) != 0) return -1;
    }
    if (dump) {
        cfg_dump(t, cfg, out);
        return 1;
    }
    return 0;
}

/* Masks the passwords inside a libpq keyword/value string, or the whole value otherwise. The
 * pairs are re-printed with each password (and sslpassword) as ***: libpq allows spaces around
 * '=', quoted values with backslash escapes and a key given twice, so cutting at the first
 * blank after the first "password=" leaked quoted, spaced or repeated passwords. Anything that
 * is not all `keyword = value` pairs with a password among them (a URI, an API key) is masked
 * whole. */
static void cfg_mask_secret(const char *v, char *out, size_t outlen)
{
    size_t o = 0;
    int has_password = 0;
    out[0] = '\0';
    if (v == NULL || *v == '\0') return;
    for (const char *p = v;;) {
        while (isspace((unsigned char)*p)) p++;
        if (*p == '\0') break;
        const char *k = p;
        while (isalnum((unsigned char)*p) || *p == '_') p++;
        size_t kl = (size_t)(p - k);
        while (isspace((unsigned char)*p)) p++;
        if (kl == 0 || *p != '=') goto whole;
        p++;
        while (isspace((unsigned char)*p)) p++;
        const char *val = p;
        if (*p == '\'') {
            for (p++; *p && *p != '\''; p++)
                if (*p == '\\' && p[1]) p++;
            if (*p++ != '\'') goto whole;
        } else {
            for (; *p && !isspace((unsigned char)*p); p++)
                if (*p == '\\' && p[1]) p++;
        }
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)kl, k);
        int secret = strcasestr(key, "password") != NULL; /* sslpassword too */
        has_password |= secret;
        int n = snprintf(out + o, outlen - o, "%s%.*s=%.*s", o ? " " : "", (int)kl, k,
                         secret ? 3 : (int)(p - val), secret ? "***" : val);
        if (n < 0 || (size_t)n >= outlen - o) goto whole;
        o += (size_t)n;
    }
    if (has_password) return;
whole:
    snprintf(out, outlen, "<secret>");
}

void cfg_dump(const cfg_table_t *t, const void *cfg, FILE *out)
{
    for (size_t i = 0; i < t->n; i++) {
        const cfg_entry_t *e = &t->entries[i];
        const char *base = (const char *)cfg + e->offset;
        switch (e->type) {
        case CFG_STR: {
            const char *v = *(char *const *)(const void *)base;
            fprintf(out, "%s = %s\n", e->key, v ? v : "");
            break;
        }
        case CFG_SECRET: {
            char m[1024];
            cfg_mask_secret(*(char *const *)(const void *)base, m, sizeof m);
            fprintf(out, "%s = %s\n", e->key, m);
            break;
        }
        case CFG_INT:
            fprintf(out, "%s = %ld\n", e->key, *(const long *)(const void *)base);
            break;
        case CFG_BOOL:
            fprintf(out, "%s = %s\n", e->key, *(const bool *)(const void *)base ? "true" : "false");
            break;
        }
    }
}

void cfg_free(const cfg_table_t *t, void *cfg)
{
    if (cfg == NULL) return;
    for (size_t i = 0; i < t->n; i++) {
        if (t->entries[i].type == CFG_STR || t->entries[i].type == CFG_SECRET) {
            char **slot = (char **)(void *)((char *)cfg + t->entries[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}
