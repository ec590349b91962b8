/*
 * reqval.h — table-driven validation of JSON request bodies.
 *
 * An endpoint describes its body as a table of fields (name, type, required, limits, allowed
 * values, an extra check); rv_validate walks the object once and stops at the first problem,
 * reporting the field's path ("attachments[2].sha256") and a sentence a client developer can
 * act on. Unknown fields are errors (a misspelt optional field must not be silently ignored).
 * Lengths are counted in Unicode code points, as people count Chinese characters. Nothing
 * here touches a database: validate first, then write.
 */
#ifndef JIESU_REQVAL_H
#define JIESU_REQVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "compat.h"

typedef enum { RV_STR = 1, RV_BOOL, RV_INT, RV_ARRAY, RV_OBJECT } rv_type_t;

typedef struct rv_field {
    const char *name;
    rv_type_t type;
    bool required;
    long min, max;               /* STR: code points; INT: value; ARRAY: items (max 0 = none) */
    bool single_line;            /* STR: no control characters at all (names, codes, phones) */
    const char *const *values;   /* STR: allowed values, or NULL */
    size_t nvalues;              /* their count; 0 = values is NULL-terminated */
    /* STR: extra check; 0 if fine, else -1 with msg set ("must be …"). */
    int (*check)(const char *s, char *msg, size_t msglen);
    const struct rv_field *fields; /* OBJECT, or ARRAY of objects: the member table */
    size_t nfields;
    rv_type_t items;             /* ARRAY: the item type (RV_OBJECT uses fields) */
} rv_field_t;

typedef struct {
    char field[128];  /* path of the offending field, "" for the body itself */
    char code[32];    /* missing_field, unknown_field, wrong_type, too_short, too_long,
                         out_of_range, not_allowed, invalid_value */
    char message[384];
} rv_error_t;

/* 0 when obj satisfies the table; -1 with e filled at the first problem. */
int rv_validate(const json_t *obj, const rv_field_t *fields, size_t n, rv_error_t *e) JS_MUST_CHECK;

/* Code points in a valid UTF-8 string. */
size_t rv_codepoints(const char *s);

/* Convenience getters for validated objects: absent → def. */
const char *rv_str(const json_t *obj, const char *name, const char *def);
bool rv_bool(const json_t *obj, const char *name, bool def);

#endif
