/*
 * test_kafka_peek.c — the envelope peek behind the consumer's type filter (common/kafka.c): a
 * message the filter skips is never applied, so a peek that read the wrong "type" would lose
 * an event silently. Table cases for the tricky shapes (a "type" inside the payload, braces and
 * quotes inside strings, escapes, duplicates, truncation), then a differential run against
 * jansson over thousands of generated envelopes: whenever the peek says it found a type, it is
 * exactly the top-level one jansson reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#define ID "0b6c2d1e-3f4a-4b5c-8d6e-7f8091a2b3c4"

static int peek(const char *s, char *type, char *id)
{
    return kafka_envelope_peek(s, strlen(s), type, 64, id, 64);
}

static void test_table(void **state)
{
    (void)state;
    static const struct { const char *in; int want; const char *type; } cases[] = {
        {"{\"event_id\":\"" ID "\",\"type\":\"case.accepted\",\"payload\":{}}", 3, "case.accepted"},
        {" {\n \"type\" : \"case.returned\" ,\r\n\t\"event_id\":\"" ID "\" } \n", 3, "case.returned"},
        /* the payload's own "type" and brackets and quotes inside strings do not count */
        {"{\"payload\":{\"type\":\"case.accepted\",\"s\":\"}{]\\\"[\",\"a\":[1,{\"type\":\"x\"}]},\"type\":\"case.signed\",\"event_id\":\"" ID "\"}",
         3, "case.signed"},
        {"{\"a\":[\"]\",\"}\"],\"b\":{\"c\":\"\\\\\"},\"type\":\"t\"}", 1, "t"},
        {"{\"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null,\"type\":\"t\"}", 1, "t"},
        /* no type: the caller hands the message on, as without a filter */
        {"{\"event_id\":\"" ID "\",\"payload\":{\"type\":\"case.accepted\"}}", 2, NULL},
        {"{\"type\":\"case\\u002eaccepted\",\"event_id\":\"" ID "\"}", 2, NULL}, /* escaped value */
        {"{\"\\u0074ype\":\"case.signed\"}", 0, NULL},                            /* escaped key */
        {"{\"type\":7}", 0, NULL},
        {"{\"type\":null,\"event_id\":\"" ID "\"}", 2, NULL},
        /* not one well-formed object: the slow path decides */
        {"{\"type\":\"a\",\"type\":\"b\"}", 0, NULL},
        {"{\"type\":\"a\"", 0, NULL},
        {"{\"type\":\"a\"} trailing", 0, NULL},
        {"{\"type\":\"a\",}", 0, NULL},
        {"{\"payload\":{\"x\":1},\"type\":\"a\"", 0, NULL},
        {"{\"payload\":{\"x\":1,\"type\":\"a\"}", 0, NULL},
        {"[{\"type\":\"a\"}]", 0, NULL},
        {"{}", 0, NULL},
        {"", 0, NULL},
        {"not json", 0, NULL},
        {"{\"type\" \"a\"}", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char type[64], id[64];
        int got = peek(cases[i].in, type, id);
        if (got != cases[i].want) fail_msg("case %zu: got %d, want %d (%s)", i, got, cases[i].want, cases[i].in);
        if (cases[i].type && strcmp(type, cases[i].type)) fail_msg("case %zu: type \"%s\"", i, type);
        if ((got & KAFKA_PEEK_ID) && strcmp(id, ID)) fail_msg("case %zu: id \"%s\"", i, id);
    }
    /* a type longer than the buffer is not "found" (never cut short) */
    char type[8], id[64];
    const char *longtype = "{\"type\":\"case.accepted\"}";
    assert_int_equal(kafka_envelope_peek(longtype, strlen(longtype), type, sizeof type, id, sizeof id), 0);
}

/* A random JSON value of limited depth, with strings full of the characters that matter. */
static json_t *random_value(unsigned *seed, int depth)
{
    static const char *const words[] = {"type", "event_id", "}", "{", "]", "[", "\"", "\\", ",", ":", "case.accepted",
                                        "类型", " ", "\n", "x"};
    int k = depth > 3 ? rand_r(seed) % 4 : rand_r(seed) % 6;
    switch (k) {
    case 0: {
        char buf[64] = "";
        int n = rand_r(seed) % 4;
        for (int i = 0; i < n; i++) strcat(buf, words[rand_r(seed) % 15]);
        return json_string(buf);
    }
    case 1: return json_integer(rand_r(seed) % 1000 - 500);
    case 2: return rand_r(seed) % 2 ? json_true() : json_null();
    case 3: return json_real((rand_r(seed) % 1000) / 7.0);
    case 4: {
        json_t *a = json_array();
        int n = rand_r(seed) % 4;
        for (int i = 0; i < n; i++) json_array_append_new(a, random_value(seed, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        int n = rand_r(seed) % 4;
        for (int i = 0; i < n; i++) json_object_set_new(o, words[rand_r(seed) % 15], random_value(seed, depth + 1));
        return o;
    }
    }
}

/* A string JSON writes without escapes: no quote, backslash or control character. */
static int plain(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) return 0;
    return 1;
}

static void test_against_jansson(void **state)
{
    (void)state;
    unsigned seed = 20261122;
    int found = 0;
    for (int round = 0; round < 5000; round++) {
        json_t *env = json_object();
        int nkeys = 1 + rand_r(&seed) % 5;
        for (int i = 0; i < nkeys; i++) {
            int r = rand_r(&seed) % 6;
            const char *key = r == 0 ? "type" : r == 1 ? "event_id" : r == 2 ? "payload" : r == 3 ? "actor" : r == 4 ? "typ" : "types";
            json_t *v = r == 0 && rand_r(&seed) % 4 ? json_string(rand_r(&seed) % 2 ? "case.accepted" : "case.signed")
                                                     : random_value(&seed, 1);
            json_object_set_new(env, key, v);
        }
        size_t flags = (rand_r(&seed) % 2 ? JSON_COMPACT : JSON_INDENT(rand_r(&seed) % 3)) |
                       (rand_r(&seed) % 2 ? JSON_ENSURE_ASCII : 0);
        char *text = json_dumps(env, flags);
        assert_non_null(text);
        char type[64], id[64];
        int got = kafka_envelope_peek(text, strlen(text), type, sizeof type, id, sizeof id);
        json_t *t = json_object_get(env, "type");
        if (got & KAFKA_PEEK_TYPE) {
            found++;
            if (!json_is_string(t) || strcmp(json_string_value(t), type))
                fail_msg("round %d: peeked \"%s\" from %s", round, type, text);
        } else if (json_is_string(t) && plain(json_string_value(t)) && json_string_length(t) < 64 &&
                   (flags & JSON_ENSURE_ASCII) == 0) {
            /* a plain type jansson sees must be seen (else the filter is useless, not unsafe) */
            fail_msg("round %d: missed \"%s\" in %s", round, json_string_value(t), text);
        }
        /* cut anywhere: never a type from a truncated envelope */
        size_t cut = strlen(text) ? (size_t)rand_r(&seed) % strlen(text) : 0;
        assert_int_equal(kafka_envelope_peek(text, cut, type, sizeof type, id, sizeof id), 0);
        free(text);
        json_decref(env);
    }
    assert_true(found > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_against_jansson),
    };
    return cmocka_run_group_tests_name("kafka envelope peek", tests, NULL, NULL);
}
