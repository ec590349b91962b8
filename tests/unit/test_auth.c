/*
 * test_auth.c — the two pure parts of auth.c: who may see which case (auth_may_see_case)
 * and the token digest (auth_token_hash). auth_authn needs PostgreSQL and is covered by
 * the integration tier, not here.
 *
 * The visibility rules are written out below as a matrix of principal × case → expected
 * answer, from auth.h's contract and the administrative division codes of Guangxi
 * (450000 province ⊃ 450100 Nanning ⊃ 450102 Xingning district ⊃ 450102001 a township;
 * 450203 is a district of Liuzhou, 450103 a sibling district of Nanning).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "compat.h"

static http_principal_t principal(unsigned role, long long unit, const char *region,
                                  const char *credit)
{
    http_principal_t p;
    memset(&p, 0, sizeof p);
    p.id = 1;
    p.role = role;
    p.unit_id = unit;
    snprintf(p.region_code, sizeof p.region_code, "%s", region);
    snprintf(p.credit_code, sizeof p.credit_code, "%s", credit);
    snprintf(p.name, sizeof p.name, "test");
    return p;
}

struct see_case {
    const char *what;
    unsigned role;
    long long unit;
    const char *region, *credit;   /* the principal's */
    const char *case_region;       /* the case's */
    const char *case_credit;
    long long case_unit;
    int expect;
};

#define ENT_CODE "91450100MA5KXXXX1X"
#define ENT_OTHER "91450100MA5KYYYY2Y"

static const struct see_case see_cases[] = {
    /* enterprises: their own credit code only, whatever region or unit */
    {"enterprise own", AUTH_ROLE_ENTERPRISE, 0, "", ENT_CODE, "450102", ENT_CODE, 7, 1},
    {"enterprise other", AUTH_ROLE_ENTERPRISE, 0, "", ENT_CODE, "450102", ENT_OTHER, 7, 0},
    {"enterprise no code on case", AUTH_ROLE_ENTERPRISE, 0, "", ENT_CODE, "450102", NULL, 7, 0},
    {"enterprise empty case code", AUTH_ROLE_ENTERPRISE, 0, "", ENT_CODE, "450102", "", 7, 0},
    {"enterprise without code", AUTH_ROLE_ENTERPRISE, 0, "", "", "450102", "", 7, 0},
    {"enterprise with region", AUTH_ROLE_ENTERPRISE, 0, "450000", ENT_CODE, "450102", ENT_OTHER,
     0, 0},
    /* units: the cases they handle */
    {"unit own", AUTH_ROLE_UNIT, 7, "450102", "", "450203", NULL, 7, 1},
    {"unit other", AUTH_ROLE_UNIT, 7, "450102", "", "450102", NULL, 8, 0},
    {"unit undispatched", AUTH_ROLE_UNIT, 7, "450102", "", "450102", NULL, 0, 0},
    {"unit without id", AUTH_ROLE_UNIT, 0, "450102", "", "450102", NULL, 0, 0},
    /* region staff: province */
    {"centre province county", AUTH_ROLE_CENTRE, 0, "450000", "", "450102", NULL, 0, 1},
    {"centre province township", AUTH_ROLE_CENTRE, 0, "450000", "", "450102001", NULL, 0, 1},
    {"centre province other city", AUTH_ROLE_CENTRE, 0, "450000", "", "450203", NULL, 0, 1},
    {"centre province other province", AUTH_ROLE_CENTRE, 0, "450000", "", "440106", NULL, 0, 0},
    {"agent province county", AUTH_ROLE_AGENT, 0, "450000", "", "450102", NULL, 0, 1},
    {"agent province township", AUTH_ROLE_AGENT, 0, "450000", "", "450102001", NULL, 0, 1},
    {"supervisor province county", AUTH_ROLE_SUPERVISOR, 0, "450000", "", "450102", NULL, 0, 1},
    {"supervisor province township", AUTH_ROLE_SUPERVISOR, 0, "450000", "", "450102001", NULL,
     0, 1},
    /* region staff: city */
    {"centre city county", AUTH_ROLE_CENTRE, 0, "450100", "", "450102", NULL, 0, 1},
    {"centre city itself", AUTH_ROLE_CENTRE, 0, "450100", "", "450100", NULL, 0, 1},
    {"centre city township", AUTH_ROLE_CENTRE, 0, "450100", "", "450102001", NULL, 0, 1},
    {"centre city other city", AUTH_ROLE_CENTRE, 0, "450100", "", "450203", NULL, 0, 0},
    {"centre city province", AUTH_ROLE_CENTRE, 0, "450100", "", "450000", NULL, 0, 0},
    {"agent city other city", AUTH_ROLE_AGENT, 0, "450100", "", "450203", NULL, 0, 0},
    {"supervisor city county", AUTH_ROLE_SUPERVISOR, 0, "450100", "", "450102", NULL, 0, 1},
    {"supervisor city other city", AUTH_ROLE_SUPERVISOR, 0, "450100", "", "450203", NULL, 0, 0},
    /* region staff: county */
    {"centre county township", AUTH_ROLE_CENTRE, 0, "450102", "", "450102001", NULL, 0, 1},
    {"centre county itself", AUTH_ROLE_CENTRE, 0, "450102", "", "450102", NULL, 0, 1},
    {"centre county sibling", AUTH_ROLE_CENTRE, 0, "450102", "", "450103", NULL, 0, 0},
    {"centre county city", AUTH_ROLE_CENTRE, 0, "450102", "", "450100", NULL, 0, 0},
    {"agent county sibling", AUTH_ROLE_AGENT, 0, "450102", "", "450103", NULL, 0, 0},
    {"supervisor county township", AUTH_ROLE_SUPERVISOR, 0, "450102", "", "450102001", NULL, 0,
     1},
    {"supervisor county sibling", AUTH_ROLE_SUPERVISOR, 0, "450102", "", "450103", NULL, 0, 0},
    /* region staff: edge cases */
    {"centre without region", AUTH_ROLE_CENTRE, 0, "", "", "450102", NULL, 0, 0},
    {"centre case without region", AUTH_ROLE_CENTRE, 0, "450000", "", NULL, NULL, 0, 0},
    {"centre case empty region", AUTH_ROLE_CENTRE, 0, "450100", "", "", NULL, 0, 0},
    /* a centre does not gain anything from a unit id or credit code */
    {"centre unit id elsewhere", AUTH_ROLE_CENTRE, 7, "450102", ENT_CODE, "450203", ENT_CODE, 7,
     0},
    /* operators run the system and see no case content at all */
    {"operator province", AUTH_ROLE_OPERATOR, 0, "450000", "", "450102", NULL, 0, 0},
    {"operator own unit", AUTH_ROLE_OPERATOR, 7, "450000", ENT_CODE, "450102", ENT_CODE, 7, 0},
};

static void test_may_see_case_matrix(void **state)
{
    (void)state;
    for (size_t i = 0; i < JS_ARRAY_LEN(see_cases); i++) {
        const struct see_case *c = &see_cases[i];
        http_principal_t p = principal(c->role, c->unit, c->region, c->credit);
        int got = auth_may_see_case(&p, c->case_region, c->case_credit, c->case_unit);
        if (got != c->expect)
            fail_msg("%s: expected %d, got %d", c->what, c->expect, got);
    }
}

static void test_may_see_case_null_principal(void **state)
{
    (void)state;
    assert_int_equal(auth_may_see_case(NULL, "450102", ENT_CODE, 7), 0);
    assert_int_equal(auth_may_see_case(NULL, NULL, NULL, 0), 0);
}

static void test_token_hash_lengths(void **state)
{
    (void)state;
    unsigned char h[32];
    char buf[300];
    /* 16..256 characters are accepted, anything else refused */
    static const struct {
        size_t len;
        int rc;
    } lens[] = {{0, -1}, {1, -1}, {15, -1}, {16, 0}, {64, 0}, {256, 0}, {257, -1}, {299, -1}};
    for (size_t i = 0; i < JS_ARRAY_LEN(lens); i++) {
        memset(buf, 'a', lens[i].len);
        buf[lens[i].len] = '\0';
        int rc = auth_token_hash(buf, h);
        if (rc != lens[i].rc)
            fail_msg("length %zu: expected %d, got %d", lens[i].len, lens[i].rc, rc);
    }
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_token_hash_vectors(void **state)
{
    (void)state;
    /* expected digests from `printf %s TOKEN | sha256sum` */
    static const struct {
        const char *token, *sha256;
    } vec[] = {
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "a8ae6e6ee929abea3afcfc5258c8ccd6f85273e0d4626d26c7279f3250f77c8e"},
        {"good-token-for-tests-0001",
         "f45a9a1e8bb33a99f1fef8bc53ec1232457bdf79703abf29873d98d4800cf3a6"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(vec); i++) {
        unsigned char h[32];
        char got[65];
        assert_int_equal(auth_token_hash(vec[i].token, h), 0);
        hex(h, sizeof h, got);
        assert_string_equal(got, vec[i].sha256);
    }
}

static void test_token_hash_equal_and_distinct(void **state)
{
    (void)state;
    const char *a = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char b[65];
    snprintf(b, sizeof b, "%s", a); /* equal text, different buffer */
    unsigned char ha[32], hb[32], hc[32];
    assert_int_equal(auth_token_hash(a, ha), 0);
    assert_int_equal(auth_token_hash(b, hb), 0);
    assert_memory_equal(ha, hb, sizeof ha);
    b[63] = 'e'; /* one character differs */
    assert_int_equal(auth_token_hash(b, hc), 0);
    assert_memory_not_equal(ha, hc, sizeof ha);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_may_see_case_matrix),
        cmocka_unit_test(test_may_see_case_null_principal),
        cmocka_unit_test(test_token_hash_lengths),
        cmocka_unit_test(test_token_hash_vectors),
        cmocka_unit_test(test_token_hash_equal_and_distinct),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
