/*
 * test_catalogue.c — reading and checking the responsibility catalogue without a database: the
 * CSV dialect (RFC 4180 quoting, CRLF, BOM, blank lines), every kind of bad row reported with its
 * line and field — all of them in one file, not just the first — duplicates naming the first
 * line, the cap on the lines kept, JSON input with its own errors, the shipped Guangxi catalogue,
 * and the `catalogue check` command line. The import and the routing are tested against
 * PostgreSQL in tests/integration/test_catalogue.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalogue.h"

#define H CATALOGUE_CSV_HEADER "\n"

static catalogue_t *csv(const char *text)
{
    catalogue_t *c = catalogue_new();
    assert_non_null(c);
    assert_int_equal(catalogue_parse_csv(c, "cat.csv", text, strlen(text)), 0);
    return c;
}

static catalogue_t *json(const char *text)
{
    catalogue_t *c = catalogue_new();
    assert_non_null(c);
    assert_int_equal(catalogue_parse_json(c, "cat.json", text, strlen(text)), 0);
    return c;
}

/* Some kept error starts with prefix ("cat.csv:3: tier: ") and, when given, contains words. */
static void expect_error(const catalogue_t *c, const char *prefix, const char *words)
{
    for (size_t i = 0; catalogue_error_at(c, i); i++) {
        const char *e = catalogue_error_at(c, i);
        if (!strncmp(e, prefix, strlen(prefix)) && (words == NULL || strstr(e, words))) return;
    }
    fprintf(stderr, "no error \"%s…%s\" among:\n", prefix, words ? words : "");
    catalogue_errors_write(c, stderr);
    fail();
}

static void test_good_file(void **state)
{
    (void)state;
    catalogue_t *c = csv(H "营商环境,450000,province,450000-FGW,,auto,《优化营商环境条例》\n"
                           "营商环境,450103,county,450103-FGW,,,\n"
                           "道路施工,450103,county,450103-ZJ,450103-JT;450103-CG,auto,城市道路管理\n"
                           "用地审批,450103,county,450103-ZRZY,450103-XZSP,centre,\n"
                           "公共交通,450103,city,450100-JT,,auto,\n");
    assert_int_equal(catalogue_error_count(c), 0);
    assert_int_equal(catalogue_entry_count(c), 5);
    assert_null(catalogue_error_at(c, 0));
    assert_string_equal(catalogue_strerror(c), "");
    catalogue_free(c);
    catalogue_free(NULL);
}

static void test_csv_dialect(void **state)
{
    (void)state;
    /* BOM, CRLF, quoted fields with commas, doubled quotes and a line break inside, blank lines */
    const char *text = "\xef\xbb\xbf" CATALOGUE_CSV_HEADER "\r\n"
                       "\r\n"
                       "\"营商环境\",450103,county,450103-FGW,,auto,\"依据《条例》，第一条\"\r\n"
                       "拖欠账款,450103,county,450103-GXJ,450103-CZ,auto,\"所谓\"\"清欠\"\"\"\r\n"
                       "\n"
                       "道路施工,450103,county,450103-ZJ,,auto,\n";
    catalogue_t *c = csv(text);
    assert_int_equal(catalogue_error_count(c), 0);
    assert_int_equal(catalogue_entry_count(c), 3);
    catalogue_free(c);
    /* a control character inside a quoted field is still an error (line break in basis) */
    c = csv(H "营商环境,450103,county,450103-FGW,,auto,\"两行\n依据\"\n"
              "拖欠账款,450103,county,450103-GXJ,,auto,\n");
    assert_int_equal(catalogue_error_count(c), 1);
    expect_error(c, "cat.csv:2: basis: ", "control character");
    assert_int_equal(catalogue_entry_count(c), 1); /* the row after it is still read */
    catalogue_free(c);
}

/* One file, one bad field per row: every row is reported with its line and field. */
static void test_every_bad_row_reported(void **state)
{
    (void)state;
    static const struct {
        const char *row, *prefix, *words;
    } cases[] = {
        {",450103,county,450103-FGW,,auto,", "matter_type: ", "empty"},
        {" 营商环境,450103,county,450103-FGW,,auto,", "matter_type: ", "spaces"},
        {"营商\t环境,450103,county,450103-FGW,,auto,", "matter_type: ", "control character"},
        {"营商\xb5\xe7环境,450103,county,450103-FGW,,auto,", "matter_type: ", "UTF-8"},
        {"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五,450103,county,450103-FGW,,auto,",
         "matter_type: ", "65 characters"},
        {"营商环境,4501,county,450103-FGW,,auto,", "region_code: ", "not a division code"},
        {"营商环境,45010X,county,450103-FGW,,auto,", "region_code: ", "not a division code"},
        {"营商环境,450103,County,450103-FGW,,auto,", "tier: ", "not a tier"},
        {"营商环境,450103,3,450103-FGW,,auto,", "tier: ", "not a tier"},
        {"营商环境,450100,county,450103-FGW,,auto,", "tier: ", "below the entry's region 450100"},
        {"营商环境,450103,county,450103-FGW,,auto,", NULL, NULL}, /* fine */
        {"营商环境,450103,county,市发改委,,auto,", "lead_unit: ", "not a unit code"},
        {"营商环境,450103,county,,,auto,", "lead_unit: ", "not a unit code"},
        {"营商环境,450103,county,-FGW,,auto,", "lead_unit: ", "not a unit code"},
        {"营商环境,450103,county,450103-FGW,450103-FGW,auto,", "co_handlers: ", "is the lead unit"},
        {"营商环境,450103,county,450103-FGW,450103-CZ;450103-CZ,auto,", "co_handlers: ", "listed twice"},
        {"营商环境,450103,county,450103-FGW,450103-CZ;,auto,", "co_handlers: ", "item 2 is empty"},
        {"营商环境,450103,county,450103-FGW,450103-CZ; 450103-JT,auto,", "co_handlers: ", "item 2"},
        {"营商环境,450103,county,450103-FGW,"
         "a1;a2;a3;a4;a5;a6;a7;a8;a9;a10;a11;a12;a13;a14;a15;a16;a17;a18;a19;a20;a21,auto,",
         "co_handlers: ", "21 co-handlers"},
        {"营商环境,450103,county,450103-FGW,,manual,", "dispatch: ", "not auto or centre"},
        {"营商环境,450103,county,450103-FGW,,auto, 依据", "basis: ", "spaces"},
        {"营商环境,450103,county,450103-FGW,,auto,", NULL, NULL}, /* fine */
        {"营商环境,450103,county,450103-FGW,,auto", "row: ", "6 fields"},
        {"营商环境,450103,county,450103-FGW,,auto,,", "row: ", "8 fields"},
        {"营商环境,450103,county,450103-FGW,,auto,\"unterminated", "basis: ", "unterminated"},
        {"营商环境,450103,county,450103-FGW,,auto,\"x\"y", "basis: ", "after the closing quote"},
        {"营商环境,450103,county,450103-FGW,,au\"to,", "dispatch: ", "quote inside an unquoted field"},
        {"营商环境,450103001,township,450103001-GOV,,auto,", NULL, NULL}, /* fine: a township row */
    };
    char text[8192] = H;
    size_t n = JS_ARRAY_LEN(cases), bad = 0, good = 0;
    for (size_t i = 0; i < n; i++) {
        /* each row its own matter type so that no two rows are duplicates */
        char row[700];
        snprintf(row, sizeof row, "%s\n", cases[i].row);
        strncat(text, row, sizeof text - strlen(text) - 1);
        if (cases[i].prefix) bad++;
        else good++;
    }
    catalogue_t *c = csv(text);
    for (size_t i = 0; i < n; i++) {
        if (cases[i].prefix == NULL) continue;
        char prefix[96];
        snprintf(prefix, sizeof prefix, "cat.csv:%zu: %s", i + 2, cases[i].prefix);
        expect_error(c, prefix, cases[i].words);
    }
    /* two of the good rows share a key: the second is a duplicate of the first */
    assert_int_equal(catalogue_entry_count(c), good);
    assert_true(catalogue_error_count(c) >= bad + 1);
    char dup[64];
    snprintf(dup, sizeof dup, "cat.csv:%d: region_code: ", 23);
    expect_error(c, dup, "already on line 12");
    catalogue_free(c);
}

static void test_header_and_empty(void **state)
{
    (void)state;
    catalogue_t *c = csv("");
    assert_int_equal(catalogue_error_count(c), 1);
    expect_error(c, "cat.csv:1: header: ", "empty");
    catalogue_free(c);
    c = csv("matter,region,tier,lead,co,dispatch,basis\n营商环境,450103,county,450103-FGW,,auto,\n");
    assert_int_equal(catalogue_error_count(c), 1);
    expect_error(c, "cat.csv:1: header: ", "no row of this file was read");
    assert_int_equal(catalogue_entry_count(c), 0);
    catalogue_free(c);
    /* one catalogue is one file */
    c = csv(H "营商环境,450103,county,450103-FGW,,auto,\n");
    assert_int_equal(catalogue_parse_csv(c, "more.csv", H, strlen(H)), -1);
    assert_non_null(strstr(catalogue_strerror(c), "one file"));
    catalogue_free(c);
}

static void test_duplicates_name_the_first(void **state)
{
    (void)state;
    catalogue_t *c = csv(H "营商环境,450103,county,450103-FGW,,auto,\n"
                           "营商环境,450105,county,450105-FGW,,auto,\n"
                           "营商环境,450103,county,450103-SCJG,,auto,\n"
                           "营商环境,450103,city,450100-FGW,,auto,\n");
    assert_int_equal(catalogue_error_count(c), 2);
    expect_error(c, "cat.csv:4: region_code: ", "already on line 2");
    expect_error(c, "cat.csv:5: region_code: ", "already on line 2");
    /* the report comes in line order */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    catalogue_errors_write(c, f);
    fclose(f);
    assert_true(strstr(buf, "cat.csv:4:") < strstr(buf, "cat.csv:5:"));
    free(buf);
    catalogue_free(c);
}

static void test_error_cap(void **state)
{
    (void)state;
    size_t cap = 200 * 64;
    char *text = malloc(cap);
    assert_non_null(text);
    snprintf(text, cap, "%s", H);
    for (int i = 0; i < 150; i++) {
        char row[64];
        snprintf(row, sizeof row, "m%d,450103,galaxy,450103-FGW,,auto,\n", i);
        strcat(text, row);
    }
    catalogue_t *c = csv(text);
    assert_int_equal(catalogue_error_count(c), 150);
    assert_non_null(catalogue_error_at(c, 99));
    assert_null(catalogue_error_at(c, 100));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    catalogue_errors_write(c, f);
    fclose(f);
    assert_non_null(strstr(buf, "… and 50 more errors not shown"));
    free(buf);
    free(text);
    catalogue_free(c);
}

static void test_json(void **state)
{
    (void)state;
    catalogue_t *c = json("[{\"matter_type\":\"营商环境\",\"region_code\":\"450103\",\"tier\":\"county\","
                          "\"lead_unit\":\"450103-FGW\"},"
                          "{\"matter_type\":\"道路施工\",\"region_code\":\"450103\",\"tier\":\"county\","
                          "\"lead_unit\":\"450103-ZJ\",\"co_handlers\":[\"450103-JT\",\"450103-CG\"],"
                          "\"dispatch\":\"auto\",\"basis\":\"城市道路管理条例\"}]");
    assert_int_equal(catalogue_error_count(c), 0);
    assert_int_equal(catalogue_entry_count(c), 2);
    catalogue_free(c);
    c = json("[{\"matter_type\":\"营商环境\",\"region_code\":\"450103\",\"tier\":\"county\",\"lead_unit\":\"450103-FGW\","
             "\"priority\":1},"
             "{\"matter_type\":\"拖欠账款\"},"
             "{\"matter_type\":\"x\",\"region_code\":450103,\"tier\":\"county\",\"lead_unit\":\"450103-FGW\"},"
             "{\"matter_type\":\"y\",\"region_code\":\"450103\",\"tier\":\"county\",\"lead_unit\":\"450103-FGW\","
             "\"co_handlers\":\"450103-CZ\"},"
             "{\"matter_type\":\"z\",\"region_code\":\"450103\",\"tier\":\"county\",\"lead_unit\":\"450103-FGW\","
             "\"co_handlers\":[\"450103-CZ;450103-JT\"]},"
             "{\"matter_type\":\"w\",\"region_code\":\"450103\",\"tier\":\"county\",\"lead_unit\":\"450103-FGW\","
             "\"co_handlers\":[\"450103-FGW\"]},"
             "7]");
    expect_error(c, "cat.json:#1: priority: ", "not a field");
    expect_error(c, "cat.json:#2: region_code: ", "required");
    expect_error(c, "cat.json:#2: lead_unit: ", "required");
    expect_error(c, "cat.json:#3: region_code: ", "must be a string");
    expect_error(c, "cat.json:#4: co_handlers: ", "array");
    expect_error(c, "cat.json:#5: co_handlers: ", "item 1");
    expect_error(c, "cat.json:#6: co_handlers: ", "lead unit");
    expect_error(c, "cat.json:#7: entry: ", "object");
    assert_int_equal(catalogue_entry_count(c), 0);
    catalogue_free(c);
    c = json("{\"not\": \"an array\"}");
    expect_error(c, "cat.json: json: ", "array");
    catalogue_free(c);
    c = json("[\n{\"matter_type\": \"x\",,}\n]");
    expect_error(c, "cat.json:2: json: ", NULL);
    catalogue_free(c);
    c = json("[{\"matter_type\":\"x\",\"matter_type\":\"y\"}]");
    expect_error(c, "cat.json:1: json: ", "duplicate");
    catalogue_free(c);
}

static char path_buf[1024];
static const char *guangxi_path(void)
{
    const char *root = getenv("JIESU_ROOT");
    snprintf(path_buf, sizeof path_buf, "%s/deploy/data/guangxi/catalogue.csv", root && *root ? root : ".");
    return path_buf;
}

static void test_guangxi_catalogue(void **state)
{
    (void)state;
    catalogue_t *c = catalogue_new();
    assert_int_equal(catalogue_load_file(c, guangxi_path()), 0);
    if (catalogue_error_count(c)) catalogue_errors_write(c, stderr);
    assert_int_equal(catalogue_error_count(c), 0);
    /* 17 matter types × (province + 14 cities) + 15 per county (14 for 市辖区, whose buses the
     * city runs; 出口退税 and 融资贷款 at the city): the count the generator gives */
    assert_int_equal(catalogue_entry_count(c), 1879);
    catalogue_free(c);
}

static int run_cli(FILE *out, FILE *err, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 16; i++) argv[i] = va_arg(ap, char *);
    va_end(ap);
    rewind(out);
    rewind(err);
    return catalogue_cli(argc, argv, out, err);
}

static void test_cli(void **state)
{
    (void)state;
    char *o = NULL, *e = NULL;
    size_t ol = 0, el = 0;
    FILE *out = open_memstream(&o, &ol), *err = open_memstream(&e, &el);
    char gp[1024];
    snprintf(gp, sizeof gp, "%s", guangxi_path());
    assert_int_equal(run_cli(out, err, 3, "catalogue", "check", gp), 0);
    fflush(out);
    assert_non_null(strstr(o, "ok: 1879 entries (17 matter types, 126 regions)"));

    char bad[] = "/tmp/test_catalogue_XXXXXX.csv";
    int fd = mkstemps(bad, 4);
    assert_true(fd >= 0);
    const char *text = H "营商环境,450103,county,450103-FGW,,auto,\n营商环境,450103,county,450103-FGW,,auto,\n"
                         "x,450103,galaxy,450103-FGW,,auto,\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(run_cli(out, err, 3, "catalogue", "check", bad), 2);
    fflush(err);
    assert_non_null(strstr(e, ":3: region_code: "));
    assert_non_null(strstr(e, ":4: tier: "));
    assert_non_null(strstr(e, "2 errors"));
    /* input errors stop an import before it touches the database */
    assert_int_equal(run_cli(out, err, 5, "catalogue", "import", bad, "--pg-dsn", "host=192.0.2.1 connect_timeout=1"), 2);
    fflush(err);
    assert_non_null(strstr(e, "nothing was written"));
    unlink(bad);

    assert_int_equal(run_cli(out, err, 3, "catalogue", "check", "/nonexistent/cat.csv"), 2);
    fflush(err);
    assert_non_null(strstr(e, "/nonexistent/cat.csv: file: cannot read"));
    assert_int_equal(run_cli(out, err, 2, "catalogue", "check"), 2);
    assert_int_equal(run_cli(out, err, 4, "catalogue", "check", gp, "--bogus"), 2);
    assert_int_equal(run_cli(out, err, 4, "catalogue", "import", gp, "--note"), 2);
    assert_int_equal(run_cli(out, err, 3, "catalogue", "route", "--region"), 2);
    assert_int_equal(run_cli(out, err, 4, "catalogue", "route", "--region", "450103"), 2);
    assert_int_equal(run_cli(out, err, 2, "catalogue", "frobnicate"), 2);
    assert_int_equal(run_cli(out, err, 1, "catalogue"), 2);
    assert_int_equal(run_cli(out, err, 2, "catalogue", "--help"), 0);
    fclose(out);
    fclose(err);
    free(o);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_csv_dialect),
        cmocka_unit_test(test_every_bad_row_reported),
        cmocka_unit_test(test_header_and_empty),
        cmocka_unit_test(test_duplicates_name_the_first),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_guangxi_catalogue),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("catalogue", tests, NULL, NULL);
}
