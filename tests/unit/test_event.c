/*
 * test_event.c — the C codecs of common/event.c against the contract in proto/events/.
 *
 * The schema files are the contract; this test holds the C side to them. For every type:
 * the descriptor matches the schema (members, required set, enums, limits, formats), every
 * example decodes inside an envelope and re-encodes to the same JSON, every invalid
 * example is refused with a message naming the expected field. Then the envelope rules,
 * the cross-field rules, code-point limits, the helpers, and allocation failure inside
 * jansson. Run from the repository root, or point JIESU_PROTO_DIR at proto/ (or at
 * proto/events/ itself).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>

#include "event.h"

#define CASE_ID "3f0c2a9e-7b41-4d8e-9a6f-1c2d3e4f5a6b"
#define EVENT_ID "9b2f6c1e-4d3a-4f7b-8e21-5c6d7e8f9a0b"
#define SCHEMA_SUFFIX ".schema.json"

/* ---- loading the contract -------------------------------------------------------------- */

static char events_dir[512];

static const char *proto_events_dir(void)
{
    const char *env = getenv("JIESU_PROTO_DIR");
    struct stat st;

    if (events_dir[0] != '\0')
        return events_dir;
    if (env != NULL && env[0] != '\0') {
        snprintf(events_dir, sizeof events_dir, "%s/events", env);
        if (stat(events_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            snprintf(events_dir, sizeof events_dir, "%s", env);
    } else {
        snprintf(events_dir, sizeof events_dir, "proto/events");
    }
    return events_dir;
}

/* New reference, or NULL with a message printed. */
static json_t *schema_load(const char *name)
{
    char path[768];
    json_error_t jerr;
    json_t *s;

    snprintf(path, sizeof path, "%s/%s%s", proto_events_dir(), name, SCHEMA_SUFFIX);
    s = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (s == NULL)
        print_error("%s: %s (run from the repository root or set JIESU_PROTO_DIR)\n", path, jerr.text);
    return s;
}

/* ---- building envelopes ----------------------------------------------------------------- */

/* A valid envelope around `payload` (borrowed; copied in) for type d. */
static json_t *wrap(const event_type_desc_t *d, const json_t *payload)
{
    json_t *e = json_object();
    json_t *pu = json_object_get(payload, "unit_id");
    json_t *pc = json_object_get(payload, "case_id");
    bool timer = d->scope == EVENT_SCOPE_CASE_OR_UNIT;

    json_object_set_new(e, "event_id", json_string(EVENT_ID));
    if (d->scope == EVENT_SCOPE_UNIT) {
        json_object_set_new(e, "case_id", json_is_string(pc) ? json_copy(pc) : json_null());
        json_object_set_new(e, "unit_id", json_is_integer(pu) ? json_copy(pu) : json_integer(1203));
    } else {
        json_object_set_new(e, "case_id", json_string(CASE_ID));
    }
    json_object_set_new(e, "type", json_string(d->name));
    json_object_set_new(e, "schema_version", json_integer(d->schema_version));
    json_object_set_new(e, "occurred_at", json_string("2025-03-12T09:31:08.120+08:00"));
    json_object_set_new(e, "actor",
                        timer ? json_pack("{s:n, s:s, s:s}", "principal_id", "role", "system", "name",
                                          "jiesu-deadline-watcher")
                              : json_pack("{s:i, s:s, s:s}", "principal_id", 30012, "role", "agent", "name",
                                          "12345热线 韦晓兰"));
    json_object_set_new(e, "payload", json_deep_copy(payload));
    return e;
}

/* Decode `e` through the text API. Returns event_decode's result; err filled. */
static int decode_json(const json_t *e, event_t *ev, char *err, size_t errlen)
{
    char *s = json_dumps(e, JSON_COMPACT);
    int rc;

    assert_non_null(s);
    rc = event_decode(s, strlen(s), ev, err, errlen);
    free(s);
    return rc;
}

static int decode_text(const char *s, char *err, size_t errlen)
{
    event_t ev;
    int rc = event_decode(s, strlen(s), &ev, err, errlen);
    if (rc == 0)
        event_clear(&ev);
    return rc;
}

/* Does err name `field` as "<prefix><field>:" or "<prefix><field>[..."? */
static bool names_field(const char *err, const char *prefix, const char *field)
{
    size_t pl = strlen(prefix), fl = strlen(field);

    return strncmp(err, prefix, pl) == 0 && strncmp(err + pl, field, fl) == 0 &&
           (err[pl + fl] == ':' || err[pl + fl] == '[');
}

/* A valid case.received envelope as an object (new reference). */
static json_t *received_envelope(void)
{
    json_t *s = schema_load("case.received");
    json_t *e;

    assert_non_null(s);
    e = wrap(event_type_desc(EVENT_CASE_RECEIVED), json_array_get(json_object_get(s, "examples"), 0));
    json_decref(s);
    return e;
}

static void expect_envelope_error(json_t *e, const char *field)
{
    event_t ev;
    char err[512] = "";

    if (decode_json(e, &ev, err, sizeof err) == 0) {
        event_clear(&ev);
        fail_msg("accepted an envelope with a bad %s", field);
    }
    if (!names_field(err, "", field))
        fail_msg("error does not name %s: %s", field, err);
}

/* ---- descriptor vs schema --------------------------------------------------------------- */

static int mismatches;

static void mismatch(const char *where, const char *field, const char *what)
{
    print_error("%s.%s: %s\n", where, field, what);
    mismatches++;
}

static void expect_int_kw(const char *where, const event_field_t *f, const json_t *s, const char *kw, int64_t want,
                          bool present)
{
    const json_t *v = json_object_get(s, kw);
    char msg[128];

    if (!present) {
        if (v != NULL) {
            snprintf(msg, sizeof msg, "schema has %s, C has no bound", kw);
            mismatch(where, f->name, msg);
        }
        return;
    }
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        snprintf(msg, sizeof msg, "%s: schema and C (%lld) differ", kw, (long long)want);
        mismatch(where, f->name, msg);
    }
}

static bool type_is(const json_t *s, const char *type)
{
    const json_t *t = json_object_get(s, "type");
    return json_is_string(t) && strcmp(json_string_value(t), type) == 0;
}

static void compare_code(const char *where, const event_field_t *f, const json_t *s)
{
    const json_t *pat = json_object_get(s, "pattern");
    const json_t *fmt = json_object_get(s, "format");
    const char *want_fmt = f->format == EVENT_FORMAT_UUID        ? "uuid"
                           : f->format == EVENT_FORMAT_DATE_TIME ? "date-time"
                                                                 : NULL;

    if (!type_is(s, "string"))
        mismatch(where, f->name, "CODE field is not a string in the schema");
    if (!json_is_string(pat) || strcmp(json_string_value(pat), event_format_pattern(f->format)) != 0)
        mismatch(where, f->name, "pattern differs from event_format_pattern()");
    if (want_fmt != NULL ? !json_is_string(fmt) || strcmp(json_string_value(fmt), want_fmt) != 0 : fmt != NULL)
        mismatch(where, f->name, "format keyword differs");
}

static void compare_object(const char *where, const event_field_t *fields, size_t n, const json_t *schema);

static void compare_field(const char *where, const event_field_t *f, const json_t *s)
{
    switch (f->kind) {
    case EVENT_FIELD_TEXT:
        if (!type_is(s, "string"))
            mismatch(where, f->name, "TEXT field is not a string in the schema");
        expect_int_kw(where, f, s, "minLength", f->min, true);
        expect_int_kw(where, f, s, "maxLength", f->max, true);
        break;
    case EVENT_FIELD_CODE:
        compare_code(where, f, s);
        break;
    case EVENT_FIELD_INT:
        if (!type_is(s, "integer"))
            mismatch(where, f->name, "INT field is not an integer in the schema");
        expect_int_kw(where, f, s, "minimum", f->min, true);
        expect_int_kw(where, f, s, "maximum", f->max, f->max != EVENT_UNBOUNDED_MAX);
        if (!f->required && f->min < 1)
            mismatch(where, f->name, "optional integer must have minimum >= 1 (0 means absent in C)");
        break;
    case EVENT_FIELD_BOOL:
        if (!type_is(s, "boolean"))
            mismatch(where, f->name, "BOOL field is not a boolean in the schema");
        break;
    case EVENT_FIELD_ENUM: {
        const json_t *vals = json_object_get(s, "enum");
        if (!type_is(s, "string"))
            mismatch(where, f->name, "ENUM field is not a string in the schema");
        if (f->size != sizeof(int))
            mismatch(where, f->name, "C enum member is not int-sized");
        if (!json_is_array(vals) || json_array_size(vals) != f->nvalues) {
            mismatch(where, f->name, "enum: schema and C have different numbers of values");
            break;
        }
        for (size_t i = 0; i < f->nvalues; i++) {
            const json_t *v = json_array_get(vals, i);
            if (!json_is_string(v) || strcmp(json_string_value(v), f->values[i]) != 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "enum[%zu]: schema has %s, C has %s", i,
                         json_is_string(v) ? json_string_value(v) : "?", f->values[i]);
                mismatch(where, f->name, msg);
            }
        }
        break;
    }
    case EVENT_FIELD_ID_LIST:
    case EVENT_FIELD_UUID_LIST: {
        const json_t *items = json_object_get(s, "items");
        if (!type_is(s, "array"))
            mismatch(where, f->name, "list field is not an array in the schema");
        if (!json_is_true(json_object_get(s, "uniqueItems")))
            mismatch(where, f->name, "uniqueItems is not true");
        expect_int_kw(where, f, s, "minItems", f->min, true);
        expect_int_kw(where, f, s, "maxItems", f->max, true);
        if (f->kind == EVENT_FIELD_ID_LIST) {
            if (!type_is(items, "integer") || json_integer_value(json_object_get(items, "minimum")) != 1)
                mismatch(where, f->name, "items are not integers >= 1");
        } else {
            event_field_t item = {.name = f->name, .kind = EVENT_FIELD_CODE, .format = EVENT_FORMAT_UUID};
            compare_code(where, &item, items);
        }
        break;
    }
    case EVENT_FIELD_OBJECT: {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", where, f->name);
        compare_object(sub, f->fields, f->nfields, s);
        break;
    }
    }
}

static void compare_object(const char *where, const event_field_t *fields, size_t n, const json_t *schema)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const char *key;
    json_t *v;
    size_t nreq = 0;

    if (!type_is(schema, "object"))
        mismatch(where, "", "not an object schema");
    if (!json_is_false(json_object_get(schema, "additionalProperties")))
        mismatch(where, "", "additionalProperties is not false");
    if (!json_is_object(props) || !json_is_array(req)) {
        mismatch(where, "", "properties or required missing");
        return;
    }
    json_object_foreach((json_t *)props, key, v) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strcmp(fields[i].name, key) == 0;
        if (!found)
            mismatch(where, key, "in the schema but not in the C descriptor");
    }
    for (size_t i = 0; i < n; i++) {
        const event_field_t *f = &fields[i];
        bool in_req = false;
        const json_t *fs = json_object_get(props, f->name);
        size_t j;

        json_array_foreach(req, j, v) in_req = in_req || strcmp(json_string_value(v), f->name) == 0;
        if (in_req != f->required)
            mismatch(where, f->name, f->required ? "required in C, optional in the schema"
                                                 : "optional in C, required in the schema");
        nreq += f->required;
        if (fs == NULL) {
            mismatch(where, f->name, "in the C descriptor but not in the schema");
            continue;
        }
        compare_field(where, f, fs);
    }
    if (nreq != json_array_size(req))
        mismatch(where, "", "required lists differ in length");
}

/* ---- tests: the contract ------------------------------------------------------------------ */

static void test_types_and_schema_files_match(void **state)
{
    DIR *dir;
    struct dirent *de;
    size_t files = 0;

    (void)state;
    for (int t = EVENT_TYPE_NONE + 1; t < EVENT_TYPE_COUNT; t++) {
        const event_type_desc_t *d = event_type_desc((event_type_t)t);
        assert_non_null(d);
        assert_int_equal(d->type, t);
        assert_int_equal(event_type_from_name(d->name), t);
        json_t *s = schema_load(d->name);
        if (s == NULL)
            fail_msg("no schema file for C type %s", d->name);
        assert_string_equal(json_string_value(json_object_get(s, "x-event-type")), d->name);
        assert_int_equal(json_integer_value(json_object_get(s, "x-schema-version")), d->schema_version);
        const json_t *topics = json_object_get(s, "x-topics");
        bool case_topic = false, unit_topic = false;
        size_t i;
        json_t *tv;
        json_array_foreach(topics, i, tv) {
            case_topic = case_topic || strcmp(json_string_value(tv), EVENT_TOPIC_CASE) == 0;
            unit_topic = unit_topic || strcmp(json_string_value(tv), EVENT_TOPIC_UNIT) == 0;
        }
        assert_int_equal(case_topic, d->scope != EVENT_SCOPE_UNIT);
        assert_int_equal(unit_topic, d->scope != EVENT_SCOPE_CASE);
        json_decref(s);
    }
    assert_null(event_type_desc(EVENT_TYPE_NONE));
    assert_null(event_type_desc(EVENT_TYPE_COUNT));
    assert_int_equal(event_type_from_name("case.teleported"), EVENT_TYPE_NONE);

    dir = opendir(proto_events_dir());
    if (dir == NULL)
        fail_msg("cannot open %s (run from the repository root or set JIESU_PROTO_DIR)", proto_events_dir());
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name), sl = strlen(SCHEMA_SUFFIX);
        char name[256];
        if (len <= sl || strcmp(de->d_name + len - sl, SCHEMA_SUFFIX) != 0)
            continue;
        snprintf(name, sizeof name, "%.*s", (int)(len - sl), de->d_name);
        files++;
        if (strcmp(name, "envelope") == 0)
            continue;
        if (event_type_from_name(name) == EVENT_TYPE_NONE) {
            closedir(dir);
            fail_msg("schema file %s has no C codec", de->d_name);
        }
    }
    closedir(dir);
    assert_int_equal(files, EVENT_TYPE_COUNT); /* 28 types + the envelope */
}

static void test_descriptors_match_schemas(void **state)
{
    (void)state;
    mismatches = 0;
    for (int t = EVENT_TYPE_NONE + 1; t < EVENT_TYPE_COUNT; t++) {
        const event_type_desc_t *d = event_type_desc((event_type_t)t);
        json_t *s = schema_load(d->name);
        assert_non_null(s);
        compare_object(d->name, d->fields, d->nfields, s);
        json_decref(s);
    }
    assert_int_equal(mismatches, 0);
}

static void test_envelope_schema_matches(void **state)
{
    json_t *s = schema_load("envelope");
    const json_t *props, *types, *roles;

    (void)state;
    assert_non_null(s);
    props = json_object_get(s, "properties");
    types = json_object_get(json_object_get(props, "type"), "enum");
    assert_int_equal(json_array_size(types), EVENT_TYPE_COUNT - 1);
    for (int t = EVENT_TYPE_NONE + 1; t < EVENT_TYPE_COUNT; t++)
        assert_string_equal(json_string_value(json_array_get(types, (size_t)t - 1)), event_type_name((event_type_t)t));
    roles = json_object_get(json_object_get(json_object_get(json_object_get(props, "actor"), "properties"), "role"),
                            "enum");
    assert_int_equal(json_array_size(roles), EVENT_ROLE_COUNT - 1);
    for (int r = EVENT_ROLE_UNSET + 1; r < EVENT_ROLE_COUNT; r++)
        assert_string_equal(json_string_value(json_array_get(roles, (size_t)r - 1)), event_role_name((event_role_t)r));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(props, "actor"), "properties"), "name"),
                         "maxLength")),
                     EVENT_ACTOR_NAME_MAX);
    assert_string_equal(json_string_value(json_object_get(json_object_get(props, "event_id"), "pattern")),
                        event_format_pattern(EVENT_FORMAT_UUID));
    assert_string_equal(json_string_value(json_object_get(json_object_get(props, "occurred_at"), "pattern")),
                        event_format_pattern(EVENT_FORMAT_DATE_TIME));
    assert_true(json_is_false(json_object_get(s, "additionalProperties")));
    json_decref(s);
}

static void test_examples_round_trip(void **state)
{
    size_t total = 0;

    (void)state;
    for (int t = EVENT_TYPE_NONE + 1; t < EVENT_TYPE_COUNT; t++) {
        const event_type_desc_t *d = event_type_desc((event_type_t)t);
        json_t *s = schema_load(d->name);
        const json_t *examples = json_object_get(s, "examples");
        const json_t *ex;
        size_t i;

        assert_true(json_array_size(examples) >= 2);
        json_array_foreach(examples, i, ex) {
            char err[512] = "";
            event_t ev;
            char *text = NULL;
            json_t *env = wrap(d, ex), *back;

            if (decode_json(env, &ev, err, sizeof err) != 0)
                fail_msg("%s examples[%zu] rejected: %s", d->name, i, err);
            assert_int_equal(ev.type, t);
            if (event_encode(&ev, &text, err, sizeof err) != 0)
                fail_msg("%s examples[%zu] does not re-encode: %s", d->name, i, err);
            back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
            assert_non_null(back);
            if (!json_equal(json_object_get(back, "payload"), ex) || !json_equal(back, env))
                fail_msg("%s examples[%zu] changed in the round trip: %s", d->name, i, text);

            /* the generic payload codec gives the same */
            void *p = calloc(1, d->payload_size);
            json_t *pj = NULL;
            assert_non_null(p);
            assert_int_equal(event_payload_decode(d->type, ex, p, err, sizeof err), 0);
            assert_int_equal(event_payload_encode(d->type, p, &pj, err, sizeof err), 0);
            assert_true(json_equal(pj, ex));
            json_decref(pj);
            event_payload_clear(d->type, p);
            free(p);

            json_decref(back);
            free(text);
            event_clear(&ev);
            json_decref(env);
            total++;
        }
        json_decref(s);
    }
    print_message("  %zu examples round-tripped\n", total);
}

static void test_invalid_examples_rejected(void **state)
{
    size_t total = 0;

    (void)state;
    for (int t = EVENT_TYPE_NONE + 1; t < EVENT_TYPE_COUNT; t++) {
        const event_type_desc_t *d = event_type_desc((event_type_t)t);
        json_t *s = schema_load(d->name);
        const json_t *bad = json_object_get(s, "x-invalid-examples");
        const json_t *fields = json_object_get(s, "x-invalid-fields");
        const json_t *ex;
        size_t i;

        assert_true(json_array_size(bad) >= 2);
        assert_int_equal(json_array_size(bad), json_array_size(fields));
        json_array_foreach(bad, i, ex) {
            const char *field = json_string_value(json_array_get(fields, i));
            char err[512] = "";
            event_t ev;
            json_t *env = wrap(d, ex);

            if (decode_json(env, &ev, err, sizeof err) == 0) {
                event_clear(&ev);
                fail_msg("%s x-invalid-examples[%zu] accepted", d->name, i);
            }
            if (!names_field(err, "payload.", field))
                fail_msg("%s x-invalid-examples[%zu]: error does not name payload.%s: %s", d->name, i, field, err);
            /* the generic payload decoder agrees, and leaves nothing to free */
            void *p = calloc(1, d->payload_size);
            assert_non_null(p);
            assert_int_equal(event_payload_decode(d->type, ex, p, err, sizeof err), -1);
            assert_true(names_field(err, "payload.", field));
            free(p);
            json_decref(env);
            total++;
        }
        json_decref(s);
    }
    print_message("  %zu invalid examples rejected with the expected field\n", total);
}

static void test_envelope_examples(void **state)
{
    json_t *s = schema_load("envelope");
    const json_t *ex;
    size_t i;

    (void)state;
    assert_non_null(s);
    json_array_foreach(json_object_get(s, "examples"), i, ex) {
        char err[512] = "";
        char *text = NULL;
        event_t ev;
        json_t *back;

        if (decode_json(ex, &ev, err, sizeof err) != 0)
            fail_msg("envelope examples[%zu] rejected: %s", i, err);
        assert_int_equal(event_encode(&ev, &text, err, sizeof err), 0);
        back = json_loads(text, 0, NULL);
        assert_true(json_equal(back, ex));
        json_decref(back);
        free(text);
        event_clear(&ev);
    }
    const json_t *fields = json_object_get(s, "x-invalid-fields");
    json_array_foreach(json_object_get(s, "x-invalid-examples"), i, ex) {
        expect_envelope_error((json_t *)ex, json_string_value(json_array_get(fields, i)));
    }
    json_decref(s);
}

/* ---- tests: the envelope ------------------------------------------------------------------- */

static void test_envelope_missing_fields(void **state)
{
    static const char *const keys[] = {"event_id", "case_id", "type", "schema_version", "occurred_at", "actor",
                                       "payload"};
    static const char *const actor_keys[] = {"principal_id", "role", "name"};

    (void)state;
    for (size_t i = 0; i < JS_ARRAY_LEN(keys); i++) {
        json_t *e = received_envelope();
        json_object_del(e, keys[i]);
        expect_envelope_error(e, keys[i]);
        json_decref(e);
    }
    for (size_t i = 0; i < JS_ARRAY_LEN(actor_keys); i++) {
        char field[64];
        json_t *e = received_envelope();
        json_object_del(json_object_get(e, "actor"), actor_keys[i]);
        snprintf(field, sizeof field, "actor.%s", actor_keys[i]);
        expect_envelope_error(e, field);
        json_decref(e);
    }
}

static void test_envelope_bad_uuid(void **state)
{
    static const char *const bad[] = {
        "9B2F6C1E-4D3A-4F7B-8E21-5C6D7E8F9A0B", "9b2f6c1e4d3a4f7b8e215c6d7e8f9a0b",
        "9b2f6c1e-4d3a-4f7b-8e21-5c6d7e8f9a0",  "9b2f6c1e-4d3a-4f7b-8e21-5c6d7e8f9a0bb",
        "9b2f6c1e_4d3a-4f7b-8e21-5c6d7e8f9a0b", "{9b2f6c1e-4d3a-4f7b-8e21-5c6d7e8f9a0}",
        "",
    };

    (void)state;
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        json_t *e = received_envelope();
        json_object_set_new(e, "event_id", json_string(bad[i]));
        expect_envelope_error(e, "event_id");
        json_object_set_new(e, "event_id", json_string(EVENT_ID));
        json_object_set_new(e, "case_id", json_string(bad[i]));
        expect_envelope_error(e, "case_id");
        json_decref(e);
    }
    json_t *e = received_envelope();
    json_object_set_new(e, "event_id", json_integer(42));
    expect_envelope_error(e, "event_id");
    json_decref(e);
}

static void test_envelope_bad_timestamp(void **state)
{
    static const char *const bad[] = {
        "2025-03-12T09:31:08",            /* no offset */
        "2025-03-12 09:31:08+08:00",      /* space */
        "2025-03-12t09:31:08+08:00",      /* lowercase t */
        "2025-02-29T09:31:08+08:00",      /* not a leap year */
        "2025-04-31T09:31:08+08:00",      /* April has 30 days */
        "2025-13-01T09:31:08+08:00",      /* month 13 */
        "2025-03-12T24:00:00+08:00",      /* hour 24 */
        "2025-03-12T09:60:00+08:00",      /* minute 60 */
        "2025-03-12T09:31:08+24:00",      /* offset hours */
        "2025-03-12T09:31:08+0800",       /* offset without colon */
        "2025-03-12T09:31:08.+08:00",     /* empty fraction */
        "2025-03-12T09:31:08.1234567890Z", /* 10 fraction digits */
        "2025-3-12T09:31:08+08:00",       /* short month */
        "2025-03-12",                     /* a date */
        "",
    };

    (void)state;
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        json_t *e = received_envelope();
        int64_t ms;
        json_object_set_new(e, "occurred_at", json_string(bad[i]));
        expect_envelope_error(e, "occurred_at");
        assert_int_equal(event_time_to_ms(bad[i], &ms), -1);
        json_decref(e);
    }
}

static void test_envelope_duplicate_keys(void **state)
{
    char err[512] = "";

    (void)state;
    /* duplicate at the top, and inside the payload */
    const char *top = "{\"event_id\":\"" EVENT_ID "\",\"case_id\":\"" CASE_ID "\",\"type\":\"case.accepted\","
                      "\"type\":\"case.rejected\",\"schema_version\":1,\"occurred_at\":\"2025-03-12T09:31:08+08:00\","
                      "\"actor\":{\"principal_id\":1,\"role\":\"agent\",\"name\":\"x\"},"
                      "\"payload\":{\"complexity\":\"simple\",\"matter_type\":\"税务/发票\"}}";
    const char *nested = "{\"event_id\":\"" EVENT_ID "\",\"case_id\":\"" CASE_ID "\",\"type\":\"case.accepted\","
                         "\"schema_version\":1,\"occurred_at\":\"2025-03-12T09:31:08+08:00\","
                         "\"actor\":{\"principal_id\":1,\"role\":\"agent\",\"name\":\"x\"},"
                         "\"payload\":{\"complexity\":\"simple\",\"complexity\":\"complex\",\"matter_type\":\"税务\"}}";
    const char *fine = "{\"event_id\":\"" EVENT_ID "\",\"case_id\":\"" CASE_ID "\",\"type\":\"case.accepted\","
                       "\"schema_version\":1,\"occurred_at\":\"2025-03-12T09:31:08+08:00\","
                       "\"actor\":{\"principal_id\":1,\"role\":\"agent\",\"name\":\"x\"},"
                       "\"payload\":{\"complexity\":\"simple\",\"matter_type\":\"税务/发票\"}}";

    assert_int_equal(decode_text(fine, err, sizeof err), 0);
    assert_int_equal(decode_text(top, err, sizeof err), -1);
    assert_non_null(strstr(err, "duplicate"));
    assert_non_null(strstr(err, "type"));
    assert_int_equal(decode_text(nested, err, sizeof err), -1);
    assert_non_null(strstr(err, "duplicate"));
    assert_non_null(strstr(err, "complexity"));
    /* syntax errors, invalid UTF-8, a non-object, trailing garbage */
    assert_int_equal(decode_text("{\"event_id\":", err, sizeof err), -1);
    assert_true(strncmp(err, "json:", 5) == 0);
    assert_int_equal(decode_text("{\"event_id\":\"\xff\xfe\"}", err, sizeof err), -1);
    assert_true(strncmp(err, "json:", 5) == 0);
    assert_int_equal(decode_text("[]", err, sizeof err), -1);
    assert_int_equal(decode_text("", err, sizeof err), -1);
    /* len is honoured: the text need not be NUL-terminated */
    event_t ev;
    char *copy = malloc(strlen(fine) + 5);
    assert_non_null(copy);
    memcpy(copy, fine, strlen(fine));
    memcpy(copy + strlen(fine), "JUNK", 4);
    assert_int_equal(event_decode(copy, strlen(fine), &ev, err, sizeof err), 0);
    event_clear(&ev);
    assert_int_equal(event_decode(copy, strlen(fine) + 4, &ev, err, sizeof err), -1);
    free(copy);
}

static void test_envelope_type_and_version(void **state)
{
    char err[512] = "";
    event_t ev;
    json_t *e;

    (void)state;
    e = received_envelope();
    json_object_set_new(e, "type", json_string("case.teleported"));
    expect_envelope_error(e, "type");
    assert_int_equal(decode_json(e, &ev, err, sizeof err), -1);
    assert_non_null(strstr(err, "case.teleported"));
    json_object_set_new(e, "type", json_integer(3));
    expect_envelope_error(e, "type");
    json_decref(e);

    static const int64_t bad_versions[] = {0, -1, 2};
    for (size_t i = 0; i < JS_ARRAY_LEN(bad_versions); i++) {
        e = received_envelope();
        json_object_set_new(e, "schema_version", json_integer(bad_versions[i]));
        expect_envelope_error(e, "schema_version");
        json_decref(e);
    }
    e = received_envelope();
    json_object_set_new(e, "schema_version", json_integer(2));
    assert_int_equal(decode_json(e, &ev, err, sizeof err), -1);
    assert_non_null(strstr(err, "case.received")); /* a too-new version names its type */
    json_object_set_new(e, "schema_version", json_string("1"));
    expect_envelope_error(e, "schema_version");
    json_object_set_new(e, "schema_version", json_real(1.0));
    expect_envelope_error(e, "schema_version");
    json_decref(e);

    e = received_envelope();
    json_object_set_new(e, "trace_id", json_string("abc"));
    expect_envelope_error(e, "trace_id");
    json_decref(e);

    e = received_envelope();
    json_object_set_new(json_object_get(e, "actor"), "role", json_string("mayor"));
    expect_envelope_error(e, "actor.role");
    json_object_set_new(json_object_get(e, "actor"), "role", json_string("agent"));
    json_object_set_new(json_object_get(e, "actor"), "principal_id", json_integer(0));
    expect_envelope_error(e, "actor.principal_id");
    json_object_set_new(json_object_get(e, "actor"), "principal_id", json_null());
    json_object_set_new(json_object_get(e, "actor"), "name", json_string(""));
    expect_envelope_error(e, "actor.name");
    {
        char name[201 * 3 + 1] = "";
        for (int i = 0; i < 200; i++)
            memcpy(name + i * 3, "韦", 3);
        name[600] = '\0';
        json_object_set_new(json_object_get(e, "actor"), "name", json_string(name));
        assert_int_equal(decode_json(e, &ev, err, sizeof err), 0);
        assert_string_equal(ev.actor.name, name);
        event_clear(&ev);
        memcpy(name + 600, "韦", 4);
        json_object_set_new(json_object_get(e, "actor"), "name", json_string(name));
        expect_envelope_error(e, "actor.name");
    }
    json_object_set_new(json_object_get(e, "actor"), "name", json_string("x"));
    json_object_set_new(json_object_get(e, "actor"), "email", json_string("a@b.cn"));
    expect_envelope_error(e, "actor.email");
    json_decref(e);
}

/* The payload of the first example of `type`, as an envelope of that type. */
static json_t *example_envelope(event_type_t type, size_t index)
{
    const event_type_desc_t *d = event_type_desc(type);
    json_t *s = schema_load(d->name);
    json_t *e;

    assert_non_null(s);
    e = wrap(d, json_array_get(json_object_get(s, "examples"), index));
    json_decref(s);
    return e;
}

static void test_envelope_scope_rules(void **state)
{
    json_t *e;

    (void)state;
    /* case events: a case, no unit */
    e = received_envelope();
    json_object_set_new(e, "case_id", json_null());
    expect_envelope_error(e, "case_id");
    json_object_set_new(e, "case_id", json_string(CASE_ID));
    json_object_set_new(e, "unit_id", json_integer(1203));
    expect_envelope_error(e, "unit_id");
    json_decref(e);

    /* unit events: a unit that agrees with the payload; the case agrees too */
    e = example_envelope(EVENT_SUPERVISION_ISSUED, 0); /* has a case_id */
    json_object_del(e, "unit_id");
    expect_envelope_error(e, "unit_id");
    json_object_set_new(e, "unit_id", json_integer(9999));
    expect_envelope_error(e, "payload.unit_id");
    json_object_set_new(e, "unit_id", json_integer(1203));
    json_object_set_new(e, "case_id", json_null());
    expect_envelope_error(e, "payload.case_id");
    json_decref(e);
    e = example_envelope(EVENT_CARD_ISSUED, 1); /* no case_id */
    json_object_set_new(e, "case_id", json_string(CASE_ID));
    expect_envelope_error(e, "payload.case_id");
    json_object_set_new(e, "unit_id", json_integer(0));
    expect_envelope_error(e, "unit_id");
    json_decref(e);

    /* timers: exactly one of case_id and unit_id; a unit timer's payload names the unit */
    e = example_envelope(EVENT_TIMER_WARNED, 1);
    json_object_set_new(e, "unit_id", json_integer(2040));
    expect_envelope_error(e, "unit_id");
    json_object_set_new(e, "case_id", json_null());
    {
        char err[512] = "", key[EVENT_KEY_SIZE];
        event_t ev;
        assert_int_equal(decode_json(e, &ev, err, sizeof err), 0);
        assert_string_equal(event_topic(&ev), EVENT_TOPIC_UNIT);
        assert_int_equal(event_key(&ev, key, sizeof key), 0);
        assert_string_equal(key, "2040");
        event_clear(&ev);
    }
    json_object_set_new(e, "unit_id", json_integer(1203));
    expect_envelope_error(e, "payload.unit_id");
    json_object_del(e, "unit_id");
    expect_envelope_error(e, "unit_id");
    json_decref(e);
}

/* ---- tests: payload rules ------------------------------------------------------------------ */

static void test_code_point_limits(void **state)
{
    event_case_result_submitted_t r;
    char err[512] = "";
    json_t *s = schema_load("case.result_submitted");
    json_t *p = json_deep_copy(json_array_get(json_object_get(s, "examples"), 0));
    char *text = malloc(2001 * 4 + 1);

    (void)state;
    assert_non_null(text);
    /* 2000 CJK characters are 6000 bytes: allowed */
    text[0] = '\0';
    for (int i = 0; i < 2000; i++)
        strcat(text + (size_t)i * 3, "办");
    json_object_set_new(p, "measures", json_string(text));
    assert_int_equal(event_case_result_submitted_decode(p, &r, err, sizeof err), 0);
    assert_int_equal(strlen(r.measures), 6000);
    event_case_result_submitted_clear(&r);
    /* 2001 are not */
    strcat(text, "办");
    json_object_set_new(p, "measures", json_string(text));
    assert_int_equal(event_case_result_submitted_decode(p, &r, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "measures"));
    assert_non_null(strstr(err, "2001"));
    /* 2000 four-byte characters (8000 bytes) are allowed too */
    text[0] = '\0';
    for (int i = 0; i < 2000; i++)
        memcpy(text + (size_t)i * 4, "\xF0\x9F\x98\x80", 4);
    text[8000] = '\0';
    json_object_set_new(p, "measures", json_string(text));
    assert_int_equal(event_case_result_submitted_decode(p, &r, err, sizeof err), 0);
    event_case_result_submitted_clear(&r);
    /* empty is not */
    json_object_set_new(p, "measures", json_string(""));
    assert_int_equal(event_case_result_submitted_decode(p, &r, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "measures"));
    /* and the struct is left with nothing to free */
    assert_null(r.measures);
    free(text);
    json_decref(p);
    json_decref(s);
}

/* jansson checks UTF-8 when it parses or builds strings; json_string_nocheck() does not,
 * so the codec's own check is what stands between such a string and the wire. */
static void test_utf8_validation(void **state)
{
    static const struct {
        const char *bytes;
        bool ok;
    } cases[] = {
        {"税务/发票", true},
        {"emoji \xF0\x9F\x98\x80", true},
        {"overlong \xC0\xAF", false},
        {"overlong3 \xE0\x80\xAF", false},
        {"surrogate \xED\xA0\x80", false},
        {"too big \xF4\x90\x80\x80", false},
        {"truncated \xE5\x8A", false},
        {"lone \x80 continuation", false},
        {"\xFF", false},
    };
    char err[512];

    (void)state;
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        event_case_accepted_t a;
        json_t *p = json_pack("{s:s, s:o}", "complexity", "simple", "matter_type",
                              json_string_nocheck(cases[i].bytes));
        int rc = event_case_accepted_decode(p, &a, err, sizeof err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            event_case_accepted_clear(&a);
        } else {
            assert_int_equal(rc, -1);
            assert_true(names_field(err, "payload.", "matter_type"));
            assert_non_null(strstr(err, "UTF-8"));
        }
        json_decref(p);
    }
    /* an embedded NUL is refused as well */
    event_case_accepted_t a;
    json_t *p = json_pack("{s:s, s:o}", "complexity", "simple", "matter_type", json_stringn("a\0b", 3));
    assert_int_equal(event_case_accepted_decode(p, &a, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "matter_type"));
    json_decref(p);
}

static void test_typed_round_trip(void **state)
{
    char err[512] = "", key[EVENT_KEY_SIZE];
    char *json = NULL;
    event_t ev, back;
    const char *attachments[] = {"0d9c8b7a-6f5e-4d3c-b2a1-0f9e8d7c6b5a"};

    (void)state;
    assert_int_equal(event_init(&ev, EVENT_CASE_RESULT_SUBMITTED), 0);
    strcpy(ev.case_id, CASE_ID);
    ev.actor.principal_id = 50231;
    ev.actor.role = EVENT_ROLE_UNIT;
    strcpy(ev.actor.name, "青秀区住建局 李明");
    event_case_result_submitted_t *r = &ev.payload.case_result_submitted;
    r->unit_id = 1203;
    r->handling_round = 1;
    r->finding = EVENT_FINDING_PARTLY_TRUE;
    r->measures = strdup("经查,部分属实。已组织现场复验并出具合格意见。");
    r->how_told = EVENT_HOW_TOLD_PHONE;
    strcpy(r->told_at, "2025-03-18T17:20:00+08:00");
    r->within_deadline = true;
    r->attachment_ids.items = calloc(1, sizeof *r->attachment_ids.items);
    r->attachment_ids.n = 1;
    strcpy(r->attachment_ids.items[0], attachments[0]);

    assert_string_equal(event_topic(&ev), EVENT_TOPIC_CASE);
    assert_int_equal(event_key(&ev, key, sizeof key), 0);
    assert_string_equal(key, CASE_ID);
    assert_int_equal(event_key(&ev, key, 10), -1); /* does not fit */

    if (event_encode(&ev, &json, err, sizeof err) != 0)
        fail_msg("encode: %s", err);
    assert_non_null(strstr(json, "\"finding\":\"partly_true\""));
    assert_null(strstr(json, "revisit_by")); /* absent optional field is omitted */
    assert_int_equal(event_decode(json, strlen(json), &back, err, sizeof err), 0);
    assert_int_equal(back.type, EVENT_CASE_RESULT_SUBMITTED);
    assert_string_equal(back.event_id, ev.event_id);
    assert_string_equal(back.occurred_at, ev.occurred_at);
    assert_int_equal(back.actor.role, EVENT_ROLE_UNIT);
    assert_string_equal(back.actor.name, ev.actor.name);
    assert_int_equal(back.payload.case_result_submitted.finding, EVENT_FINDING_PARTLY_TRUE);
    assert_string_equal(back.payload.case_result_submitted.measures, r->measures);
    assert_int_equal(back.payload.case_result_submitted.attachment_ids.n, 1);
    assert_string_equal(back.payload.case_result_submitted.attachment_ids.items[0], attachments[0]);
    assert_true(back.payload.case_result_submitted.within_deadline);
    free(json);
    event_clear(&back);

    /* the encoder refuses what the decoder would refuse, naming the field */
    r->finding = (event_finding_t)7;
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), -1);
    assert_null(json);
    assert_true(names_field(err, "payload.", "finding"));
    r->finding = EVENT_FINDING_UNSET;
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "finding"));
    r->finding = EVENT_FINDING_TRUE;
    free(r->measures);
    r->measures = strdup("bad \xC0\xAF utf-8");
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "measures"));
    free(r->measures);
    r->measures = NULL;
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "measures"));
    r->measures = strdup("已解决。");
    strcpy(r->told_at, "yesterday");
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "told_at"));
    strcpy(r->told_at, "2025-03-18T17:20:00Z");
    ev.actor.role = EVENT_ROLE_UNSET;
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), -1);
    assert_true(names_field(err, "", "actor.role"));
    ev.actor.role = EVENT_ROLE_UNIT;
    ev.case_id[0] = '\0';
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), -1);
    assert_true(names_field(err, "", "case_id"));
    strcpy(ev.case_id, CASE_ID);
    assert_int_equal(event_encode(&ev, &json, err, sizeof err), 0);
    free(json);
    event_clear(&ev);
    event_clear(&ev); /* idempotent */
    event_clear(NULL);
    event_payload_clear(EVENT_CASE_CLOSED, NULL);
}

static void test_cross_field_rules(void **state)
{
    char err[512] = "";
    json_t *p;

    (void)state;
    /* C-only rule: the lead unit is not also a co-handler */
    event_case_dispatched_t d;
    p = json_pack("{s:i, s:[i,i], s:s, s:i, s:s, s:i, s:s}", "lead_unit_id", 1203, "co_handler_unit_ids", 1187, 1203,
                  "tier", "county", "catalogue_version", 14, "basis", "catalogue", "attempt", 1, "sign_by",
                  "2025-03-13T23:59:59+08:00");
    assert_int_equal(event_case_dispatched_decode(p, &d, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "co_handler_unit_ids"));
    json_array_set_new(json_object_get(p, "co_handler_unit_ids"), 1, json_integer(1311));
    assert_int_equal(event_case_dispatched_decode(p, &d, err, sizeof err), 0);
    assert_int_equal(d.co_handler_unit_ids.n, 2);
    assert_int_equal(d.co_handler_unit_ids.items[1], 1311);
    event_case_dispatched_clear(&d);
    json_decref(p);

    event_case_remit_decided_t rd;
    p = json_pack("{s:i, s:[i], s:[i], s:s, s:s}", "lead_unit_id", 1203, "co_handler_unit_ids", 1203,
                  "disputed_by_unit_ids", 1203, "basis", "centre_ruling", "decision_text", "住建局牵头。");
    assert_int_equal(event_case_remit_decided_decode(p, &rd, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "co_handler_unit_ids"));
    json_decref(p);

    /* C-only rule: an extension asks for a later deadline (offsets compared as instants) */
    event_case_extension_requested_t x;
    p = json_pack("{s:i, s:s, s:s, s:s, s:s, s:b}", "unit_id", 1203, "request_id",
                  "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "current_due_at", "2025-03-19T23:59:59+08:00",
                  "requested_due_at", "2025-03-19T15:59:59Z", "reason_text", "等待检测报告。", "enterprise_informed",
                  1);
    assert_int_equal(event_case_extension_requested_decode(p, &x, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "requested_due_at"));
    json_object_set_new(p, "requested_due_at", json_string("2025-03-19T16:00:00Z"));
    assert_int_equal(event_case_extension_requested_decode(p, &x, err, sizeof err), 0);
    event_case_extension_requested_clear(&x);
    json_decref(p);

    /* revisit: optional booleans round-trip through their has_ flags */
    event_case_revisit_recorded_t rv;
    json_t *out = NULL;
    p = json_pack("{s:i, s:i, s:s, s:b, s:b, s:b, s:s, s:b}", "handling_round", 1, "attempt", 1, "channel", "phone",
                  "reached", 1, "contact_verified", 0, "result_true", 1, "satisfaction", "declined", "sampled", 0);
    assert_int_equal(event_case_revisit_recorded_decode(p, &rv, err, sizeof err), 0);
    assert_true(rv.has_contact_verified);
    assert_false(rv.contact_verified);
    assert_int_equal(rv.satisfaction, EVENT_SATISFACTION_DECLINED);
    assert_int_equal(event_case_revisit_recorded_encode(&rv, &out, err, sizeof err), 0);
    assert_true(json_equal(out, p));
    json_decref(out);
    rv.has_result_true = false;
    assert_int_equal(event_case_revisit_recorded_encode(&rv, &out, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "result_true"));
    assert_null(out);
    event_case_revisit_recorded_clear(&rv);
    json_decref(p);

    /* wrong JSON types name the field */
    event_case_closed_t c;
    p = json_pack("{s:s, s:s, s:i, s:i}", "basis", "centre_decision", "resolved", "true", "handling_rounds", 1,
                  "handling_working_days", 3);
    assert_int_equal(event_case_closed_decode(p, &c, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "resolved"));
    json_decref(p);
    p = json_pack("[]");
    assert_int_equal(event_case_closed_decode(p, &c, err, sizeof err), -1);
    assert_true(strncmp(err, "payload:", 8) == 0);
    json_decref(p);
    assert_int_equal(event_payload_decode(EVENT_TYPE_COUNT, NULL, &c, err, sizeof err), -1);
    assert_true(names_field(err, "", "type"));

    /* region codes: 6, 9 or 12 digits (county, township as GB/T 2260 or statistical codes) */
    static const struct {
        const char *code;
        bool ok;
    } regions[] = {{"450103", true}, {"370481001", true}, {"370481001000", true}, {"4501", false},
                   {"4501030", false}, {"3704810010", false}, {"3704810010001", false}, {"45010a", false}};
    event_case_handed_down_t hd;
    for (size_t i = 0; i < JS_ARRAY_LEN(regions); i++) {
        p = json_pack("{s:s, s:s, s:s}", "to_tier", "township", "to_region_code", regions[i].code, "instruction",
                      "请核实。");
        int rc = event_case_handed_down_decode(p, &hd, err, sizeof err);
        assert_int_equal(rc, regions[i].ok ? 0 : -1);
        if (rc == 0) {
            assert_string_equal(hd.to_region_code, regions[i].code);
            event_case_handed_down_clear(&hd);
        } else {
            assert_true(names_field(err, "payload.", "to_region_code"));
        }
        json_decref(p);
    }

    /* nested objects name the whole path */
    event_case_received_t rc;
    json_t *s = schema_load("case.received");
    p = json_deep_copy(json_array_get(json_object_get(s, "examples"), 0));
    json_object_set_new(json_object_get(p, "enterprise"), "legal_person", json_string("张三"));
    assert_int_equal(event_case_received_decode(p, &rc, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "enterprise.legal_person"));
    json_object_del(json_object_get(p, "enterprise"), "legal_person");
    json_object_del(json_object_get(p, "enterprise"), "name");
    assert_int_equal(event_case_received_decode(p, &rc, err, sizeof err), -1);
    assert_true(names_field(err, "payload.", "enterprise.name"));
    json_decref(p);
    json_decref(s);
}

/* ---- tests: helpers -------------------------------------------------------------------------- */

static void test_uuid_and_time_helpers(void **state)
{
    char a[EVENT_UUID_SIZE], b[EVENT_UUID_SIZE], now[EVENT_TIME_SIZE];
    int64_t ms;

    (void)state;
    assert_int_equal(event_uuid_new(a), 0);
    assert_int_equal(event_uuid_new(b), 0);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '7'); /* version 7: time-ordered */
    assert_non_null(strchr("89ab", a[19]));
    {
        /* the first 48 bits are the Unix time in milliseconds: now, and later ids sort later */
        char hexms[13] = {0};
        memcpy(hexms, a, 8);
        memcpy(hexms + 8, a + 9, 4);
        unsigned long long id_ms = strtoull(hexms, NULL, 16);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long t_ms = (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
        assert_true(id_ms <= t_ms && t_ms - id_ms < 5000);
        char c[EVENT_UUID_SIZE];
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
        assert_int_equal(event_uuid_new(c), 0);
        assert_true(strcmp(c, a) > 0 && strcmp(c, b) > 0);
    }
    {
        json_t *e = received_envelope();
        event_t ev;
        char err[256];
        json_object_set_new(e, "event_id", json_string(a));
        assert_int_equal(decode_json(e, &ev, err, sizeof err), 0);
        event_clear(&ev);
        json_decref(e);
    }

    assert_int_equal(event_now_rfc3339(now), 0);
    assert_int_equal(strlen(now), 29);
    assert_string_equal(now + 23, "+08:00");
    assert_int_equal(event_time_to_ms(now, &ms), 0);
    int64_t wall = (int64_t)time(NULL) * 1000;
    assert_true(ms > wall - 5000 && ms < wall + 5000);

    assert_int_equal(event_time_to_ms("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(event_time_to_ms("1970-01-01T08:00:00+08:00", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(event_time_to_ms("2025-03-12T09:31:07.120+08:00", &ms), 0);
    assert_int_equal(ms, 1741743067120LL);
    assert_int_equal(event_time_to_ms("2025-03-12T01:31:07.120999999Z", &ms), 0);
    assert_int_equal(ms, 1741743067120LL);
    assert_int_equal(event_time_to_ms("2024-02-29T23:59:60-05:30", &ms), 0); /* leap day, leap second */
    assert_int_equal(event_time_to_ms(NULL, &ms), -1);

    assert_string_equal(event_role_name(EVENT_ROLE_DISCIPLINE), "discipline");
    assert_null(event_role_name(EVENT_ROLE_COUNT));
    assert_null(event_type_name(EVENT_TYPE_NONE));
    assert_string_equal(event_type_name(EVENT_CARD_ISSUED), "card.issued");
    assert_null(event_format_pattern(EVENT_FORMAT_NONE));

    event_t ev;
    assert_int_equal(event_init(&ev, EVENT_TYPE_NONE), -1);
}

/* ---- allocation failure inside jansson ----------------------------------------------------- */

static long alloc_countdown = -1; /* fail when it reaches 0; -1 = never */
static long alloc_failed;

static void *failing_malloc(size_t n)
{
    if (alloc_countdown >= 0 && alloc_countdown-- == 0) {
        alloc_failed++;
        return NULL;
    }
    return malloc(n);
}

static void test_alloc_failures(void **state)
{
    json_t *e = example_envelope(EVENT_CASE_RESULT_SUBMITTED, 0);
    char *text = json_dumps(e, JSON_COMPACT);
    long n;

    (void)state;
    assert_non_null(text);
    json_set_alloc_funcs(failing_malloc, free);
    for (n = 0; n < 5000; n++) {
        char err[512] = "", *out = NULL;
        event_t ev;

        alloc_failed = 0;
        alloc_countdown = n;
        if (event_decode(text, strlen(text), &ev, err, sizeof err) == 0) {
            if (event_encode(&ev, &out, err, sizeof err) != 0)
                assert_true(err[0] != '\0');
            free(out);
            event_clear(&ev);
        } else {
            assert_true(err[0] != '\0');
        }
        alloc_countdown = -1;
        if (alloc_failed == 0)
            break; /* ran to completion without hitting the injected failure */
    }
    json_set_alloc_funcs(malloc, free);
    print_message("  %ld allocation failure points exercised\n", n);
    assert_true(n > 10 && n < 5000);
    free(text);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_schema_files_match),
        cmocka_unit_test(test_descriptors_match_schemas),
        cmocka_unit_test(test_envelope_schema_matches),
        cmocka_unit_test(test_examples_round_trip),
        cmocka_unit_test(test_invalid_examples_rejected),
        cmocka_unit_test(test_envelope_examples),
        cmocka_unit_test(test_envelope_missing_fields),
        cmocka_unit_test(test_envelope_bad_uuid),
        cmocka_unit_test(test_envelope_bad_timestamp),
        cmocka_unit_test(test_envelope_duplicate_keys),
        cmocka_unit_test(test_envelope_type_and_version),
        cmocka_unit_test(test_envelope_scope_rules),
        cmocka_unit_test(test_code_point_limits),
        cmocka_unit_test(test_utf8_validation),
        cmocka_unit_test(test_typed_round_trip),
        cmocka_unit_test(test_cross_field_rules),
        cmocka_unit_test(test_uuid_and_time_helpers),
        cmocka_unit_test(test_alloc_failures),
    };

    return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
