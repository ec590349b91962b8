/*
 * test_uscc.c — checks the GB 32100-2015 credit code validator against published codes,
 * against codes generated for every cell of the authority/category table, and against
 * every way a code can be wrong: length, alphabet, each position's rule, each check
 * character.
 *
 * The authority/category pairs are written out again here as a string, on purpose: a test
 * that read uscc.c's table back would agree with any mistake in it. Published codes are
 * kept only when both their check characters compute right (they do: a code printed on a
 * business licence is valid by construction).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compat.h"
#include "uscc.h"

static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* Every valid authority+category pair of the standard's table. */
static const char *const valid_pairs = "11 12 13 19 21 29 31 32 33 34 35 39 41 49 51 52 53 59 "
                                       "61 62 69 71 72 79 81 89 91 92 93 A1 A9 N1 N2 N3 N9 Y1";

/* Codes as printed on real business licences. */
static const struct {
    const char *code;
    const char *who;
} published[] = {
    {"914403001922038216", "华为技术有限公司 (zh.wikipedia infobox)"},
    {"91440300708461136T", "深圳市腾讯计算机系统有限公司 (business-licence report)"},
    /* From python-stdnum's tests/test_cn_uscc.doctest, "found online". */
    {"121200004013590816", "stdnum: a 事业单位 (12), Tianjin"},
    {"91110000600037341L", "stdnum"},
    {"91110000710926094P", "stdnum"},
    {"91120224064012553U", "stdnum"},
    {"9115220107837757XE", "stdnum: X as organisation check character"},
    {"91310000631696382C", "stdnum"},
    {"91310115MA1K3BTP2B", "stdnum: MA-series body assigned after 2015"},
    {"913101203509708598", "stdnum"},
    {"9131012056010553X5", "stdnum"},
    {"91340600MA2PBM9HXD", "stdnum"},
    {"91340603MA2UJXXCXF", "stdnum"},
    {"9144030071526726XG", "stdnum"},
    {"91620105L015101280", "stdnum: letter-led body"},
    {"92340602MA2PBMEM24", "stdnum: 个体工商户 (92)"},
    {"92340621MA2UK3PJXE", "stdnum: 个体工商户 (92)"},
};

static int cases; /* individual codes checked, reported at the end */

/* Builds a code from its parts, computing both check characters. */
static void make_code(char out[USCC_BUFSZ], char dept, char cat, const char *division,
                      const char *body8)
{
    out[0] = dept;
    out[1] = cat;
    memcpy(out + 2, division, 6);
    memcpy(out + 8, body8, 8);
    out[16] = uscc_org_check_char(body8);
    assert_true(out[16] != '\0');
    out[17] = '\0';
    out[17] = uscc_check_char(out);
    assert_true(out[17] != '\0');
    out[18] = '\0';
}

/* Sets position 18 right again after a test changed something in 1-17. */
static void fix_check(char code[USCC_BUFSZ])
{
    char c = uscc_check_char(code);
    assert_true(c != '\0');
    code[17] = c;
}

static void expect_ok(const char *code)
{
    char err[256] = "";
    cases++;
    if (uscc_validate(code, err, sizeof err) != 0)
        fail_msg("%s rejected: %s", code, err);
}

static void expect_err(const char *code, const char *want)
{
    char err[256] = "";
    cases++;
    if (uscc_validate(code, err, sizeof err) == 0)
        fail_msg("%s accepted, wanted \"%s\"", code != NULL ? code : "(null)", want);
    if (strcmp(err, want) != 0)
        fail_msg("%s: got \"%s\", wanted \"%s\"", code != NULL ? code : "(null)", err, want);
}

/* Like expect_err but only checks that the message contains `part`. */
static void expect_err_has(const char *code, const char *part)
{
    char err[256] = "";
    cases++;
    if (uscc_validate(code, err, sizeof err) == 0)
        fail_msg("%s accepted, wanted an error with \"%s\"", code, part);
    if (strstr(err, part) == NULL || strncmp(err, "credit_code: ", 13) != 0)
        fail_msg("%s: got \"%s\", wanted it to contain \"%s\"", code, err, part);
}

static void test_published_codes_are_valid(void **state)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(published); i++) {
        const char *c = published[i].code;
        /* Both check characters, independently of uscc_validate(). */
        assert_int_equal(uscc_check_char(c), c[17]);
        assert_int_equal(uscc_org_check_char(c + 8), c[16]);
        expect_ok(c);
    }
}

static void test_parse_names_the_parts(void **state)
{
    uscc_info_t info;
    char err[128];
    assert_int_equal(uscc_parse("914403001922038216", &info, err, sizeof err), 0);
    assert_int_equal(info.department, '9');
    assert_int_equal(info.category, '1');
    assert_string_equal(info.division, "440300");
    assert_string_equal(info.org_code, "192203821");
    assert_int_equal(info.check, '6');
    assert_string_equal(info.department_name, "工商");
    assert_string_equal(info.category_name, "企业");

    assert_int_equal(uscc_parse("121200004013590816", &info, err, sizeof err), 0);
    assert_string_equal(info.department_name, "机构编制");
    assert_string_equal(info.category_name, "事业单位");
    assert_string_equal(info.division, "120000");

    assert_int_equal(uscc_parse("92340602MA2PBMEM24", &info, err, sizeof err), 0);
    assert_string_equal(info.category_name, "个体工商户");

    /* A failed parse leaves nothing half-filled behind. */
    assert_int_equal(uscc_parse("914403001922038217", &info, err, sizeof err), -1);
    assert_int_equal(info.department, '\0');
    assert_null(info.department_name);
    assert_string_equal(err, "credit_code: check character should be '6', got '7'");
    assert_int_equal(uscc_parse("914403001922038216", NULL, err, sizeof err), -1);
}

/* The standard's worked example (GB 32100-2015, 校验码计算方法实例): 91350100M000100Y4
 * sums to 1640, 1640 mod 31 = 28, 31 - 28 = 3. GB 11714's own example: D2143569-X. */
static void test_check_char_worked_examples(void **state)
{
    assert_int_equal(uscc_check_char("91350100M000100Y4"), '3');
    assert_int_equal(uscc_check_char("91350100M000100Y4Z"), '3'); /* reads 17 only */
    /* The example's 'Z' is not even in the alphabet, which is reported first. */
    expect_err("91350100M000100Y4Z", "credit_code: character 18 'Z' is not allowed");
    expect_err("91350100M000100Y4Y", "credit_code: check character should be '3', got 'Y'");
    expect_ok("91350100M000100Y43");
    assert_int_equal(uscc_org_check_char("D2143569"), 'X');
    assert_int_equal(uscc_org_check_char("D2143569-"), 'X');

    /* 31 - 0 is written '0', and 11 - 0 is written '0' too. */
    char code[USCC_BUFSZ];
    int seen31 = 0;
    for (int i = 0; i < 31 * 31 && !seen31; i++) {
        char body[16];
        snprintf(body, sizeof body, "%08u", (unsigned)(i + 1) % 100000000u);
        make_code(code, '9', '1', "110000", body);
        seen31 = code[17] == '0';
    }
    assert_true(seen31);
    expect_ok(code);
    assert_int_equal(uscc_org_check_char("00000000"), '0');
    assert_int_equal(uscc_org_check_char("00000001"), '9');

    /* Bad input gives '\0', never a guess. */
    assert_int_equal(uscc_check_char(NULL), '\0');
    assert_int_equal(uscc_check_char("9144030019220382"), '\0'); /* 16 */
    assert_int_equal(uscc_check_char("9144030019220382I"), '\0');
    assert_int_equal(uscc_check_char("91440300192203821"), '6');
    assert_int_equal(uscc_org_check_char(NULL), '\0');
    assert_int_equal(uscc_org_check_char("1922038"), '\0');
    assert_int_equal(uscc_org_check_char("1922038a"), '\0');
    assert_int_equal(uscc_org_check_char("192203-8"), '\0');
}

/* Every cell of the table, generated with several divisions and bodies, is valid; and
 * every other authority/category pair is refused with a message naming position 1 or 2. */
static void test_every_authority_category_pair(void **state)
{
    static const char *const divisions[] = {"100000", "110108", "450102", "820000", "650100"};
    static const char *const bodies[] = {"MA5D8K2Q", "06401255", "L0151012", "Y7Q3W8PX"};
    char code[USCC_BUFSZ];
    char want[256];
    int valid_seen = 0;
    for (const char *d = alphabet; *d != '\0'; d++) {
        for (const char *c = alphabet; *c != '\0'; c++) {
            char pair[3] = {*d, *c, '\0'};
            int valid = strstr(valid_pairs, pair) != NULL;
            for (size_t i = 0; i < JS_ARRAY_LEN(divisions); i++) {
                for (size_t j = 0; j < JS_ARRAY_LEN(bodies); j++) {
                    make_code(code, *d, *c, divisions[i], bodies[j]);
                    if (valid) {
                        expect_ok(code);
                        uscc_info_t info;
                        assert_int_equal(uscc_parse(code, &info, NULL, 0), 0);
                        assert_non_null(info.department_name);
                        assert_non_null(info.category_name);
                        continue;
                    }
                    if (strchr("123456789ANY", *d) == NULL) {
                        snprintf(want, sizeof want,
                                 "credit_code: character 1 '%c' is not a registration "
                                 "authority code (1-9, A, N or Y)",
                                 *d);
                        expect_err(code, want);
                    } else {
                        snprintf(want, sizeof want,
                                 "character 2 '%c' is not an organisation category of "
                                 "registration authority '%c'",
                                 *c, *d);
                        expect_err_has(code, want);
                    }
                }
            }
            valid_seen += valid;
        }
    }
    assert_int_equal(valid_seen, 36);
    make_code(code, '9', '4', "440300", "19220382");
    expect_err(code, "credit_code: character 2 '4' is not an organisation category of "
                     "registration authority '9' (allowed: 1, 2, 3)");
    make_code(code, 'Y', '9', "440300", "19220382");
    expect_err(code, "credit_code: character 2 '9' is not an organisation category of "
                     "registration authority 'Y' (allowed: 1)");
}

static void test_length(void **state)
{
    expect_err("", "credit_code: must be 18 characters, got 0");
    expect_err("9", "credit_code: must be 18 characters, got 1");
    expect_err("91440300192203821", "credit_code: must be 18 characters, got 17");
    expect_err("9144030019220382166", "credit_code: must be 18 characters, got 19");
    expect_err("914403001922038216914403001922038216",
               "credit_code: must be 18 characters, got 36");
    expect_err(" 914403001922038216", "credit_code: must be 18 characters, got 19");
    expect_err(NULL, "credit_code: missing");
    /* Characters, not bytes: 17 ASCII + one Chinese character is 18 characters. */
    expect_err("91440300192203821码", "credit_code: character 18 is not an ASCII letter or digit");
    expect_err("9144030019220382码", "credit_code: must be 18 characters, got 17");
}

/* Each forbidden letter, lower case, punctuation and control bytes at every position is
 * named with its position, before any other rule looks at the code. */
static void test_alphabet_at_every_position(void **state)
{
    static const char bad[] = "IOSVZ-*. /";
    char want[256];
    for (int pos = 0; pos < USCC_LEN; pos++) {
        for (const char *b = bad; *b != '\0'; b++) {
            char code[USCC_BUFSZ] = "914403001922038216";
            code[pos] = *b;
            if (*b == ' ')
                snprintf(want, sizeof want,
                         "credit_code: character %d (byte 0x20) is not allowed", pos + 1);
            else
                snprintf(want, sizeof want, "credit_code: character %d '%c' is not allowed",
                         pos + 1, *b);
            expect_err(code, want);
        }
        char code[USCC_BUFSZ] = "91440300708461136T";
        code[pos] = 'a';
        snprintf(want, sizeof want,
                 "credit_code: character %d 'a' is lower case; codes are upper case", pos + 1);
        expect_err(code, want);
        code[pos] = '\x01';
        snprintf(want, sizeof want, "credit_code: character %d (byte 0x01) is not allowed",
                 pos + 1);
        expect_err(code, want);
    }
    expect_err("91440300708461136t",
               "credit_code: character 18 't' is lower case; codes are upper case");
    expect_err("9144030070846113IT", "credit_code: character 17 'I' is not allowed");
    expect_err("914403I0708461136T", "credit_code: character 7 'I' is not allowed");
}

static void test_division(void **state)
{
    char want[256];
    for (int pos = 2; pos < 8; pos++) {
        for (const char *l = "AY"; *l != '\0'; l++) {
            char code[USCC_BUFSZ] = "914403001922038216";
            code[pos] = *l;
            fix_check(code); /* only the division is wrong */
            snprintf(want, sizeof want,
                     "credit_code: character %d '%c' must be a digit (positions 3-8 are the "
                     "administrative division code)",
                     pos + 1, *l);
            expect_err(code, want);
        }
    }
    static const char *const unknown[] = {"000000", "990000", "200000", "160100", "910000",
                                          "720000", "090000"};
    for (size_t i = 0; i < JS_ARRAY_LEN(unknown); i++) {
        char code[USCC_BUFSZ];
        make_code(code, '9', '1', unknown[i], "19220382");
        snprintf(want, sizeof want,
                 "credit_code: administrative division '%s' does not start with a province "
                 "code",
                 unknown[i]);
        expect_err(code, want);
    }
    /* National level, every province, Taiwan, Hong Kong and Macao are fine. */
    static const char *const known[] = {"100000", "110000", "150100", "230100", "370200",
                                        "460100", "540100", "650100", "710000", "810000",
                                        "820000"};
    for (size_t i = 0; i < JS_ARRAY_LEN(known); i++) {
        char code[USCC_BUFSZ];
        make_code(code, '9', '1', known[i], "19220382");
        expect_ok(code);
    }
}

static void test_organisation_code(void **state)
{
    char want[256];
    /* Position 17 is a GB 11714 check character: a digit or X, nothing else. */
    for (const char *c = alphabet + 10; *c != '\0'; c++) {
        if (*c == 'X')
            continue;
        char code[USCC_BUFSZ] = "914403001922038216";
        code[16] = *c;
        fix_check(code);
        snprintf(want, sizeof want,
                 "credit_code: character 17 '%c' must be a digit or 'X' (the organisation "
                 "code's check character)",
                 *c);
        expect_err(code, want);
    }
    /* A wrong organisation check character with a matching position 18: what a tool that
     * only knows the modulus-31 rule would produce. */
    for (char c = '0'; c <= '9'; c++) {
        if (c == '1')
            continue;
        char code[USCC_BUFSZ] = "914403001922038216";
        code[16] = c;
        fix_check(code);
        snprintf(want, sizeof want,
                 "credit_code: organisation code check character (position 17) should be "
                 "'1', got '%c'",
                 c);
        expect_err(code, want);
    }
    char code[USCC_BUFSZ] = "9115220107837757XE";
    code[16] = '0';
    fix_check(code);
    expect_err(code, "credit_code: organisation code check character (position 17) should be "
                     "'X', got '0'");

    /* All zeros: valid checksums, never a real body. */
    make_code(code, '9', '1', "110000", "00000000");
    assert_int_equal(code[16], '0');
    expect_err(code, "credit_code: organisation code (positions 9-17) must not be all zeros");
    expect_err("000000000000000000", "credit_code: character 1 '0' is not a registration "
                                     "authority code (1-9, A, N or Y)");
    expect_err("900000000000000000", "credit_code: character 2 '0' is not an organisation "
                                     "category of registration authority '9' (allowed: 1, 2, 3)");
    expect_err("910000000000000000", "credit_code: administrative division '000000' does not "
                                     "start with a province code");
    expect_err("911100000000000000", "credit_code: organisation code (positions 9-17) must not "
                                     "be all zeros");
}

/* Every wrong check character is named with the right one; every single substitution in
 * positions 9-16 and every adjacent transposition there is caught (31 is prime and the
 * weights are powers of 3, so both always change the sum). */
static void test_check_character_catches_typos(void **state)
{
    char want[256];
    for (size_t i = 0; i < JS_ARRAY_LEN(published); i++) {
        const char *orig = published[i].code;
        for (const char *c = alphabet; *c != '\0'; c++) {
            if (*c == orig[17])
                continue;
            char code[USCC_BUFSZ];
            memcpy(code, orig, USCC_BUFSZ);
            code[17] = *c;
            snprintf(want, sizeof want, "credit_code: check character should be '%c', got '%c'",
                     orig[17], *c);
            expect_err(code, want);
        }
        for (int pos = 8; pos < 16; pos++) {
            for (const char *c = alphabet; *c != '\0'; c++) {
                if (*c == orig[pos])
                    continue;
                char code[USCC_BUFSZ];
                memcpy(code, orig, USCC_BUFSZ);
                code[pos] = *c;
                expect_err_has(code, "check character");
            }
            if (orig[pos] != orig[pos + 1]) {
                char code[USCC_BUFSZ];
                memcpy(code, orig, USCC_BUFSZ);
                code[pos] = orig[pos + 1];
                code[pos + 1] = orig[pos];
                if (pos + 1 == 16 && code[16] != 'X' && (code[16] < '0' || code[16] > '9'))
                    expect_err_has(code, "must be a digit or 'X'");
                else
                    expect_err_has(code, "check character");
            }
        }
    }
    /* Pilot-area codes issued before the standard settled (Fujian, 2015) fail the
     * position-18 rule; they are refused like any other wrong code, with the fix named. */
    expect_err("91350100M0001TGQXM", "credit_code: check character should be '1', got 'M'");
}

static void test_normalise(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } ok[] = {
        {"914403001922038216", "914403001922038216"},
        {"91440300708461136t", "91440300708461136T"},
        {"  91440300708461136T\n", "91440300708461136T"},
        {"9 1 440300 708461136 T", "91440300708461136T"},
        {"\t91310115ma1k3btp2b\r\n", "91310115MA1K3BTP2B"},
        {"９１４４０３００１９２２０３８２１６", "914403001922038216"},  /* full-width */
        {"９１３１０１１５ｍａ１ｋ３ｂｔｐ２ｂ", "91310115MA1K3BTP2B"}, /* full-width lower */
        {"\u3000914403001922038216\u3000", "914403001922038216"},       /* ideographic space */
        {"\u00a091440300708461136T", "91440300708461136T"},             /* no-break space */
        {"91440300708461136I", "91440300708461136I"}, /* alphabet is validate's job */
    };
    char out[USCC_BUFSZ];
    char err[256];
    for (size_t i = 0; i < JS_ARRAY_LEN(ok); i++) {
        err[0] = '\0';
        if (uscc_normalise(ok[i].in, out, err, sizeof err) != 0)
            fail_msg("normalise(\"%s\"): %s", ok[i].in, err);
        assert_string_equal(out, ok[i].out);
        cases++;
    }
    /* After normalising, real codes typed carelessly validate. */
    assert_int_equal(uscc_normalise(" 91310115ma1k3btp2b ", out, err, sizeof err), 0);
    expect_ok(out);

    static const struct {
        const char *in;
        const char *err;
    } bad[] = {
        {"", "credit_code: must be 18 characters, got 0"},
        {"   \t ", "credit_code: must be 18 characters, got 0"},
        {"9144030019220382", "credit_code: must be 18 characters, got 16"},
        {" 91440300192203821 ", "credit_code: must be 18 characters, got 17"},
        {"9144030019220382169", "credit_code: must be 18 characters, got 19"},
        {"914403001922038216914403001922038216914403001922038216",
         "credit_code: must be 18 characters, got 54"},
        {"91440300192203821码", "credit_code: character 18 (U+7801) is not a letter or digit"},
        {"代码914403001922038216", "credit_code: character 1 (U+4EE3) is not a letter or digit"},
        {"9144\x01" "0300192203821", "credit_code: character 5 (U+0001) is not a letter or digit"},
        {"9144\xff" "0300192203821", "credit_code: character 5 is not valid UTF-8 (byte 0xFF)"},
        {"9144\xe4\xbb", "credit_code: character 5 is not valid UTF-8 (byte 0xE4)"},
        {"\xc0\xb9" "14403001922038216", "credit_code: character 1 is not valid UTF-8 (byte 0xC0)"},
        {"\xed\xa0\x80" "14403001922038216",
         "credit_code: character 1 is not valid UTF-8 (byte 0xED)"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        memcpy(out, "not touched", 12);
        err[0] = '\0';
        assert_int_equal(uscc_normalise(bad[i].in, out, err, sizeof err), -1);
        if (strcmp(err, bad[i].err) != 0)
            fail_msg("normalise case %zu: got \"%s\", wanted \"%s\"", i, err, bad[i].err);
        assert_string_equal(out, "");
        cases++;
    }
    assert_int_equal(uscc_normalise(NULL, out, err, sizeof err), -1);
    assert_string_equal(err, "credit_code: missing");
    assert_int_equal(uscc_normalise("914403001922038216", NULL, err, sizeof err), -1);
}

/* A NULL or tiny error buffer is honoured: no write past errlen, no crash. */
static void test_error_buffer(void **state)
{
    assert_int_equal(uscc_validate("914403001922038217", NULL, 0), -1);
    assert_int_equal(uscc_validate("914403001922038217", NULL, 100), -1);
    char small[12];
    memset(small, 'x', sizeof small);
    assert_int_equal(uscc_validate("914403001922038217", small, 8), -1);
    assert_string_equal(small, "credit_");
    assert_int_equal(small[8], 'x');
    char one[1] = {'x'};
    assert_int_equal(uscc_validate("914403001922038217", one, 0), -1);
    assert_int_equal(one[0], 'x');
    char out[USCC_BUFSZ];
    assert_int_equal(uscc_normalise("bad", out, NULL, 0), -1);
    assert_int_equal(uscc_validate("914403001922038216", NULL, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_codes_are_valid),
        cmocka_unit_test(test_parse_names_the_parts),
        cmocka_unit_test(test_check_char_worked_examples),
        cmocka_unit_test(test_every_authority_category_pair),
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_alphabet_at_every_position),
        cmocka_unit_test(test_division),
        cmocka_unit_test(test_organisation_code),
        cmocka_unit_test(test_check_character_catches_typos),
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_error_buffer),
    };
    int rc = cmocka_run_group_tests_name("uscc", tests, NULL, NULL);
    printf("uscc: %d codes checked\n", cases);
    return rc;
}
