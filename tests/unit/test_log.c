/*
 * test_log.c — every line log.c writes is one JSON object with ts/level/svc/msg and typed
 * fields, and personal data never appears in clear.
 *
 * stderr is redirected to a temporary file around each call, and each captured line is
 * parsed with jansson, which is strict about UTF-8: a line it accepts is one any log
 * shipper accepts too.
 */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compat.h"
#include "log.h"

/* ---- capturing stderr -------------------------------------------------------------------- */

static int saved_stderr = -1;
static char cap_path[64];

static void capture_begin(void)
{
    snprintf(cap_path, sizeof cap_path, "/tmp/jiesu-test-log-XXXXXX");
    int fd = mkstemp(cap_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Ends the capture; returns what was written (caller frees). */
static char *capture_end(void)
{
    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    FILE *f = fopen(cap_path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    unlink(cap_path);
    return buf;
}

/* Checks that text is exactly `lines` newline-terminated lines, each a JSON object with
 * the four fixed members; returns them as an array (caller decrefs). */
static json_t *parse_lines(const char *text, size_t lines)
{
    json_t *arr = json_array();
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (nl == NULL) fail_msg("unterminated last line: %s", p);
        json_error_t je;
        json_t *o = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &je);
        if (o == NULL) fail_msg("not JSON (%s): %.*s", je.text, (int)(nl - p), p);
        assert_true(json_is_object(o));
        static const char *const fixed[] = {"ts", "level", "svc", "msg"};
        for (size_t i = 0; i < JS_ARRAY_LEN(fixed); i++)
            if (!json_is_string(json_object_get(o, fixed[i])))
                fail_msg("no string %s: %.*s", fixed[i], (int)(nl - p), p);
        /* 2024-05-01T12:34:56.789Z */
        const char *ts = json_string_value(json_object_get(o, "ts"));
        assert_int_equal(strlen(ts), 24);
        assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
        json_array_append_new(arr, o);
        p = nl + 1;
    }
    assert_int_equal(json_array_size(arr), lines);
    return arr;
}

static int setup(void **state)
{
    (void)state;
    log_init("test-svc", LOG_DEBUG);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_line_shape_and_types(void **state)
{
    (void)state;
    capture_begin();
    LOGI("case received", LF_STR("case_no", "GX2024-000123"), LF_INT("partition", 3),
         LF_INT("offset", 9007199254740993LL), LF_INT("neg", -42), LF_DBL("ms", 12.5),
         LF_STR("topic", "jiesu.case.events"));
    LOGW("second", LF_NONE);
    char *out = capture_end();
    json_t *lines = parse_lines(out, 2);
    json_t *o = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(o, "svc")), "test-svc");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "case received");
    assert_string_equal(json_string_value(json_object_get(o, "case_no")), "GX2024-000123");
    assert_true(json_is_integer(json_object_get(o, "partition")));
    assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
    assert_true(json_integer_value(json_object_get(o, "offset")) == 9007199254740993LL);
    assert_int_equal(json_integer_value(json_object_get(o, "neg")), -42);
    assert_true(json_is_real(json_object_get(o, "ms")));
    assert_true(json_real_value(json_object_get(o, "ms")) == 12.5);
    assert_string_equal(json_string_value(json_object_get(o, "topic")), "jiesu.case.events");
    o = json_array_get(lines, 1);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_int_equal(json_object_size(o), 4); /* LF_NONE adds nothing */
    json_decref(lines);
    free(out);
}

static void test_levels_filter(void **state)
{
    (void)state;
    log_set_level(LOG_INFO);
    assert_false(log_enabled(LOG_DEBUG));
    assert_true(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    assert_false(log_enabled(LOG_OFF));
    capture_begin();
    LOGD("hidden", LF_INT("n", 1));
    LOGI("shown info", LF_INT("n", 2));
    LOGW("shown warn", LF_INT("n", 3));
    LOGE("shown error", LF_INT("n", 4));
    log_set_level(LOG_ERROR);
    LOGI("hidden too", LF_INT("n", 5));
    LOGE("shown again", LF_INT("n", 6));
    log_set_level(LOG_OFF);
    LOGE("nothing at off", LF_INT("n", 7));
    char *out = capture_end();
    log_set_level(LOG_DEBUG);
    json_t *lines = parse_lines(out, 4);
    static const char *const want[][2] = {{"shown info", "info"},
                                          {"shown warn", "warn"},
                                          {"shown error", "error"},
                                          {"shown again", "error"}};
    for (size_t i = 0; i < 4; i++) {
        json_t *o = json_array_get(lines, i);
        assert_string_equal(json_string_value(json_object_get(o, "msg")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(o, "level")), want[i][1]);
    }
    json_decref(lines);
    free(out);
}

static void test_level_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        log_level_t l;
    } names[] = {{"debug", LOG_DEBUG}, {"info", LOG_INFO},   {"warn", LOG_WARN},
                 {"error", LOG_ERROR}, {"off", LOG_OFF},     {"INFO", LOG_INFO}};
    for (size_t i = 0; i < JS_ARRAY_LEN(names); i++) {
        log_level_t l = LOG_OFF;
        assert_int_equal(log_level_from_str(names[i].s, &l), 0);
        assert_int_equal(l, names[i].l);
    }
    log_level_t l = LOG_WARN;
    assert_int_equal(log_level_from_str("verbose", &l), -1);
    assert_int_equal(log_level_from_str("", &l), -1);
    assert_int_equal(l, LOG_WARN);
    assert_string_equal(log_level_str(LOG_ERROR), "error");
    assert_string_equal(log_level_str((log_level_t)99), "?");
}

static void test_mask_rules(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"张三", "张*"},
        {"欧阳娜娜", "欧***"},
        {"13812345678", "1********78"},
        {"李", "李"},
        {"ab", "a*"},
        {"abcdef", "a*****"},                  /* 6 code points: no tail */
        {"abcdefg", "a****fg"},                /* 7: the last two kept */
        {"南宁市兴宁区朝阳路1号", "南********1号"}, /* 11 code points, multi-byte tail */
        {"", ""},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(cases); i++) {
        char out[128];
        log_mask(cases[i].in, out, sizeof out);
        assert_string_equal(out, cases[i].out);
    }
    char out[8];
    log_mask(NULL, out, sizeof out);
    assert_string_equal(out, "");
    /* a small buffer is filled, never overrun, and ends on a whole character */
    char small[5];
    log_mask("欧阳娜娜欧阳娜娜", small, sizeof small);
    assert_string_equal(small, "欧*");
    log_mask("13812345678", small, sizeof small);
    assert_string_equal(small, "1***");
    char nine[9]; /* "a******" leaves room for only one byte of "中文" */
    log_mask("abcdefg中文", nine, sizeof nine);
    assert_string_equal(nine, "a******");
    char one[1] = {'x'};
    log_mask("abc", one, sizeof one);
    assert_int_equal(one[0], '\0');
    log_mask("abc", one, 0); /* nothing written */
    assert_int_equal(one[0], '\0');
}

static void test_pii_never_in_clear(void **state)
{
    (void)state;
    capture_begin();
    LOGI("contact", LF_PII("name", "欧阳娜娜"), LF_PII("phone", "13812345678"),
         LF_STR("contact_phone", "13912345678"), LF_STR("address", "南宁市兴宁区朝阳路1号"),
         LF_STR("body", "投诉内容很长"), LF_STR("token", "good-token-for-tests-0001"),
         LF_STR("reporter_contact", "张三"), LF_STR("ContactPhone", "13712345678"),
         LF_STR("topic", "jiesu.case.events"));
    char *out = capture_end();
    static const char *const clear[] = {"欧阳娜娜", "13812345678", "13912345678", "朝阳路",
                                        "投诉内容", "good-token", "张三", "13712345678"};
    for (size_t i = 0; i < JS_ARRAY_LEN(clear); i++)
        if (strstr(out, clear[i]) != NULL) fail_msg("'%s' in clear: %s", clear[i], out);
    json_t *lines = parse_lines(out, 1);
    json_t *o = json_array_get(lines, 0);
    static const char *const want[][2] = {
        {"name", "欧***"},           {"phone", "1********78"},
        {"contact_phone", "1********78"}, {"address", "南********1号"},
        {"body", "投*****"},         {"token", "g**********************01"},
        {"reporter_contact", "张*"}, {"ContactPhone", "1********78"},
        {"topic", "jiesu.case.events"}};
    for (size_t i = 0; i < JS_ARRAY_LEN(want); i++) {
        const char *got = json_string_value(json_object_get(o, want[i][0]));
        assert_non_null(got);
        if (strcmp(got, want[i][1]) != 0) fail_msg("%s: '%s' != '%s'", want[i][0], got, want[i][1]);
    }
    json_decref(lines);
    free(out);
}

static void test_hostile_strings_stay_json(void **state)
{
    (void)state;
    /* invalid UTF-8 of every kind jansson refuses, control characters, quotes, backslashes */
    static const char *const hostile[] = {
        "quote \" backslash \\ slash /",
        "nl \n cr \r tab \t bell \a esc \x1b del \x7f",
        "lone continuation \x80 end",
        "truncated 3-byte \xE5\xBC",
        "truncated at end \xE5",
        "overlong nul \xC0\x80",
        "overlong slash \xC1\xAF",
        "overlong 3-byte \xE0\x80\xAF",
        "surrogate \xED\xA0\x80",
        "beyond U+10FFFF \xF4\x90\x80\x80",
        "invalid lead \xF8\x88\x80\x80\x80",
        "ff byte \xFF\xFE",
        "valid 中文 and emoji \xF0\x9F\x98\x80",
    };
    capture_begin();
    for (size_t i = 0; i < JS_ARRAY_LEN(hostile); i++) {
        LOGI(hostile[i], LF_STR(hostile[i], hostile[i]), LF_PII("name", hostile[i]),
             LF_STR("s", hostile[i]));
    }
    char *out = capture_end();
    json_t *lines = parse_lines(out, JS_ARRAY_LEN(hostile));
    /* valid text survives unchanged */
    json_t *o = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(o, "s")), hostile[0]);
    o = json_array_get(lines, 1);
    assert_string_equal(json_string_value(json_object_get(o, "s")), hostile[1]);
    o = json_array_get(lines, JS_ARRAY_LEN(hostile) - 1);
    assert_string_equal(json_string_value(json_object_get(o, "s")),
                        hostile[JS_ARRAY_LEN(hostile) - 1]);
    json_decref(lines);
    free(out);
}

static void test_non_finite_numbers(void **state)
{
    (void)state;
    capture_begin();
    LOGI("numbers", LF_DBL("nan", NAN), LF_DBL("inf", INFINITY), LF_DBL("ninf", -INFINITY),
         LF_DBL("tiny", 1e-300), LF_DBL("big", 1e300));
    char *out = capture_end();
    json_t *lines = parse_lines(out, 1);
    json_t *o = json_array_get(lines, 0);
    assert_true(json_is_null(json_object_get(o, "nan")));
    assert_true(json_is_null(json_object_get(o, "inf")));
    assert_true(json_is_null(json_object_get(o, "ninf")));
    assert_true(json_is_number(json_object_get(o, "tiny")));
    assert_true(json_is_number(json_object_get(o, "big")));
    json_decref(lines);
    free(out);
}

static void test_long_line_is_cut_not_broken(void **state)
{
    (void)state;
    size_t n = 20000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    /* escapes and multi-byte characters right where the cut will fall */
    for (size_t i = 0; i < n;) {
        static const char *const units[] = {"a", "\"", "\\", "\n", "中"};
        const char *u = units[i % JS_ARRAY_LEN(units)];
        size_t ul = strlen(u);
        if (i + ul > n) break;
        memcpy(big + i, u, ul);
        i += ul;
        big[i] = '\0';
    }
    capture_begin();
    for (size_t shift = 0; shift < 8; shift++) {
        LOGI(big + shift, LF_STR("s", "after"));
        LOGI("short msg", LF_STR("s", big + shift), LF_INT("after", 1));
        LOGI("short msg", LF_STR("a", "x"), LF_PII("name", big + shift), LF_STR("b", big));
    }
    LOGI("still fine", LF_INT("n", 1));
    char *out = capture_end();
    json_t *lines = parse_lines(out, 8 * 3 + 1);
    for (size_t i = 0; i < json_array_size(lines); i++) {
        json_t *o = json_array_get(lines, i);
        if (i < 24) assert_true(json_is_true(json_object_get(o, "truncated")));
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(lines, 24), "msg")),
                        "still fine");
    assert_null(json_object_get(json_array_get(lines, 24), "truncated"));
    json_decref(lines);
    free(out);
    free(big);
}

static void test_null_strings(void **state)
{
    (void)state;
    capture_begin();
    LOGI("nulls", LF_STR("s", NULL), LF_PII("name", NULL), LF_STR("phone", NULL));
    log_emit(LOG_INFO, "direct", NULL, 0);
    char *out = capture_end();
    json_t *lines = parse_lines(out, 2);
    json_t *o = json_array_get(lines, 0);
    assert_string_equal(json_string_value(json_object_get(o, "s")), "");
    assert_string_equal(json_string_value(json_object_get(o, "name")), "");
    assert_string_equal(json_string_value(json_object_get(o, "phone")), "");
    json_decref(lines);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_line_shape_and_types, setup),
        cmocka_unit_test_setup(test_levels_filter, setup),
        cmocka_unit_test_setup(test_level_names, setup),
        cmocka_unit_test_setup(test_mask_rules, setup),
        cmocka_unit_test_setup(test_pii_never_in_clear, setup),
        cmocka_unit_test_setup(test_hostile_strings_stay_json, setup),
        cmocka_unit_test_setup(test_non_finite_numbers, setup),
        cmocka_unit_test_setup(test_long_line_is_cut_not_broken, setup),
        cmocka_unit_test_setup(test_null_strings, setup),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
