/*
 * reqval.c — see reqval.h.
 */
#include "reqval.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

size_t rv_codepoints(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

static const char *rv_type_name(rv_type_t t)
{
    switch (t) {
    case RV_STR: return "a string";
    case RV_BOOL: return "true or false";
    case RV_INT: return "an integer";
    case RV_ARRAY: return "an array";
    case RV_OBJECT: return "an object";
    }
    return "?";
}

static int rv_fail(rv_error_t *e, const char *path, const char *code, const char *msg)
{
    snprintf(e->field, sizeof e->field, "%s", path);
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->message, sizeof e->message, "%.120s: %.250s", path[0] ? path : "body", msg);
    return -1;
}

JS_PRINTF(4, 5) static int rv_failf(rv_error_t *e, const char *path, const char *code, const char *fmt, ...)
{
    char m[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return rv_fail(e, path, code, m);
}

static int rv_type_ok(const json_t *v, rv_type_t t)
{
    switch (t) {
    case RV_STR: return json_is_string(v);
    case RV_BOOL: return json_is_boolean(v);
    case RV_INT: return json_is_integer(v);
    case RV_ARRAY: return json_is_array(v);
    case RV_OBJECT: return json_is_object(v);
    }
    return 0;
}

static int rv_object(const json_t *obj, const rv_field_t *fields, size_t n, const char *prefix,
                     rv_error_t *e);

static int rv_value(const json_t *v, const rv_field_t *f, rv_type_t type, const char *path,
                    rv_error_t *e)
{
    if (!rv_type_ok(v, type))
        return rv_failf(e, path, "wrong_type", "must be %s", rv_type_name(type));
    switch (type) {
    case RV_STR: {
        const char *s = json_string_value(v);
        if (json_string_length(v) != strlen(s))
            return rv_fail(e, path, "invalid_value", "must not contain NUL characters");
        long cps = (long)rv_codepoints(s);
        if (cps < f->min) {
            if (f->min <= 1) return rv_fail(e, path, "too_short", "must not be empty");
            return rv_failf(e, path, "too_short", "must be at least %ld characters, got %ld", f->min, cps);
        }
        if (f->max > 0 && cps > f->max)
            return rv_failf(e, path, "too_long", "must be at most %ld characters, got %ld", f->max, cps);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
            if (*p < 0x20 && (f->single_line || (*p != '\n' && *p != '\r' && *p != '\t')))
                return rv_fail(e, path, "invalid_value", "must not contain control characters");
        }
        if (f->values) {
            size_t nv = f->nvalues;
            if (nv == 0)
                while (f->values[nv]) nv++;
            int ok = 0;
            for (size_t k = 0; k < nv; k++)
                if (!strcmp(f->values[k], s)) ok = 1;
            if (!ok) {
                char list[256] = "";
                for (size_t k = 0; k < nv; k++) {
                    strncat(list, f->values[k], sizeof list - strlen(list) - 1);
                    if (k + 1 < nv) strncat(list, ", ", sizeof list - strlen(list) - 1);
                }
                return rv_failf(e, path, "not_allowed", "must be one of %s", list);
            }
        }
        if (f->check) {
            char msg[256] = "is not valid";
            if (f->check(s, msg, sizeof msg) != 0)
                return rv_fail(e, path, "invalid_value", msg);
        }
        return 0;
    }
    case RV_INT: {
        json_int_t x = json_integer_value(v);
        if (x < f->min || x > f->max)
            return rv_failf(e, path, "out_of_range", "must be between %ld and %ld", f->min, f->max);
        return 0;
    }
    case RV_ARRAY: {
        long cnt = (long)json_array_size(v);
        if (cnt < f->min)
            return rv_failf(e, path, "too_short", "must have at least %ld items", f->min);
        if (cnt > f->max)
            return rv_failf(e, path, "too_long", "must have at most %ld items, got %ld", f->max, cnt);
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it) {
            char ipath[128];
            snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
            rv_field_t item = *f;
            item.min = f->items == RV_STR ? 1 : 0;
            item.max = f->items == RV_STR ? 200 : 0;
            if (rv_value(it, &item, f->items, ipath, e) != 0) return -1;
        }
        return 0;
    }
    case RV_OBJECT:
        return rv_object(v, f->fields, f->nfields, path, e);
    case RV_BOOL:
        return 0;
    }
    return 0;
}

static int rv_object(const json_t *obj, const rv_field_t *fields, size_t n, const char *prefix,
                     rv_error_t *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, key) != 0) i++;
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", key);
        if (i == n) return rv_fail(e, path, "unknown_field", "is not a field of this request");
        if (json_is_null(v)) {
            if (fields[i].required) return rv_fail(e, path, "missing_field", "is required");
            continue;
        }
        if (rv_value(v, &fields[i], fields[i].type, path, e) != 0) return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!fields[i].required) continue;
        json_t *x = json_object_get(obj, fields[i].name);
        if (x == NULL || json_is_null(x)) {
            char path[128];
            snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", fields[i].name);
            return rv_fail(e, path, "missing_field", "is required");
        }
    }
    return 0;
}

int rv_validate(const json_t *obj, const rv_field_t *fields, size_t n, rv_error_t *e)
{
    memset(e, 0, sizeof *e);
    if (!json_is_object(obj)) return rv_fail(e, "", "wrong_type", "must be a JSON object");
    return rv_object(obj, fields, n, "", e);
}

const char *rv_str(const json_t *obj, const char *name, const char *def)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : def;
}

bool rv_bool(const json_t *obj, const char *name, bool def)
{
    json_t *v = json_object_get(obj, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}
