/*
 * test_territory.c — reading and checking the territory files without a database: the CSV
 * dialect (RFC 4180 quoting, CRLF, BOM), every kind of bad row reported with its file, line
 * and field — all of them, not just the first — the cap on the lines kept, the cross-row
 * rules (parents, tiers, prefixes, duplicates, one centre per region), the shipped Guangxi
 * data set, and the `territory check` command line. Import is tested against PostgreSQL in
 * tests/integration/test_territory.c.
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

#include "territory.h"

#define RH TERRITORY_REGIONS_HEADER "\n"
#define UH TERRITORY_UNITS_HEADER "\n"

/* A small, valid territory: a province, a city, a county, a township. */
static const char good_regions[] =
    RH "450000,广西壮族自治区,1,,guangxi\n"
       "450100,南宁市,2,450000,\n"
       "450103,青秀区,3,450100,\n"
       "450103001,新竹街道,4,450103,\n";

static const char good_units[] =
    UH "450000-CENTRE,广西壮族自治区优化营商环境工作专班办公室,450000,centre,黄建华,韦丽娟\n"
       "450100-CENTRE,南宁市营商环境投诉中心,450100,centre,,\n"
       "450103-CENTRE,青秀区企业诉求受理中心,450103,centre,李志明,\n"
       "450103-SCJG,青秀区市场监督管理局,450103,department,陈海涛,梁秀英\n"
       "450103001-CENTRE,新竹街道便民服务中心,450103001,centre,莫文斌,覃春燕\n";

static territory_t *load(const char *regions, const char *units)
{
    territory_t *t = territory_new();
    assert_non_null(t);
    if (regions) assert_int_equal(territory_parse_regions(t, "regions.csv", regions, strlen(regions)), 0);
    if (units) assert_int_equal(territory_parse_units(t, "units.csv", units, strlen(units)), 0);
    return t;
}

/* Asserts that some kept error line starts with prefix (FILE:LINE: FIELD: …) and, when
 * given, also contains words. */
static void expect_error(const territory_t *t, const char *prefix, const char *words)
{
    for (size_t i = 0; territory_error_at(t, i); i++) {
        const char *e = territory_error_at(t, i);
        if (!strncmp(e, prefix, strlen(prefix)) && (words == NULL || strstr(e, words))) return;
    }
    fprintf(stderr, "no error \"%s…%s\" among:\n", prefix, words ? words : "");
    territory_errors_write(t, stderr);
    fail();
}

static void test_good_set_is_clean(void **state)
{
    (void)state;
    territory_t *t = load(good_regions, good_units);
    assert_int_equal(territory_check(t), 0);
    assert_int_equal(territory_error_count(t), 0);
    territory_summary_t s;
    territory_summary(t, &s);
    assert_int_equal(s.regions, 4);
    for (int tier = 1; tier <= 4; tier++) assert_int_equal(s.regions_by_tier[tier], 1);
    assert_int_equal(s.units, 5);
    assert_int_equal(s.centres, 4);
    assert_int_equal(s.regions_without_centre, 0);
    assert_null(territory_error_at(t, 0));
    assert_string_equal(territory_strerror(t), "");
    territory_free(t);
    territory_free(NULL); /* a no-op */
}

/* Spreadsheet habits: a UTF-8 BOM, CRLF line ends, blank lines, quoted fields with commas
 * and doubled quotes, a missing newline at the end. */
static void test_csv_dialect(void **state)
{
    (void)state;
    const char regions[] = "\xef\xbb\xbf" TERRITORY_REGIONS_HEADER "\r\n"
                           "\"450000\",\"广西壮族自治区\",\"1\",\"\",\"guangxi\"\r\n"
                           "\r\n"
                           "450100,\"南宁市, \"\"首府\"\"\",2,450000,\r\n"
                           "450103,青秀区,3,450100,";
    territory_t *t = load(regions, NULL);
    assert_int_equal(territory_check(t), 0);
    territory_summary_t s;
    territory_summary(t, &s);
    assert_int_equal(s.regions, 3);
    territory_free(t);
}

/* One file with one good row between many bad ones: every problem is found, each with its
 * line and field, and reading goes on after a broken quote. */
static void test_bad_regions_all_reported(void **state)
{
    (void)state;
    const char regions[] =
        RH "450000,广西壮族自治区,1,,guangxi\n"                 /* 2 good */
           "450100,\"南宁市,2,450000,\n"                        /* 3 unterminated quote */
           "450200,柳州市\"x\",2,450000,\n"                     /* 4 quote inside unquoted */
           "450300,\"桂林市\"x,2,450000,\n"                     /* 5 text after closing quote */
           "450400,梧州市,2\n"                                  /* 6 too few fields */
           "450500,北海市,2,450000,,extra\n"                    /* 7 too many */
           "45050X,北海市,2,450000,\n"                          /* 8 not a code */
           "450600,防城港市,3,450000,\n"                        /* 9 tier does not fit code */
           "450700,钦州市,2,459900,\n"                          /* 10 parent missing */
           "450000,广西,1,,\n"                                  /* 11 duplicate */
           "450800,\xb9\xf3\xb8\xdb\xca\xd0,2,450000,\n"        /* 12 GBK, not UTF-8 */
           "450900,,2,450000,\n"                                /* 13 empty name */
           "451000,百色市,7,450000,\n"                          /* 14 tier out of range */
           "451100, 贺州市,2,450000,\n"                         /* 15 leading space */
           "451200,河池市,2,450000,Guangxi\n"                   /* 16 bad profile */
           "460000,海南省,1,450000,\n"                          /* 17 province with a parent */
           "451300,来宾市,2,460100,\n"                          /* 18 parent missing, other province */
           "451302,兴宾区,3,451302,\n"                          /* 19 own parent */
           "451502,江州区,3,451400,\n"                          /* 20 parent does not prefix */
           "451400,崇左市,2,450000,\n"                          /* 21 good */
           "451400001,某街道,4,451400,\n"                       /* 22 good: a tier gap is fine */
           "451499,某县,3,451400001,\n"                         /* 23 parent at a lower tier */
           "451401,名字\t有制表符,3,451400,\n"                   /* 24 control character */
           "451403,\"多行\n名字\",3,451400,\n"                  /* 25-26 a line break in a name */
           "451404,ok县,3,451400,\n";                           /* 27 good: line numbers still right */
    territory_t *t = load(regions, NULL);
    assert_int_equal(territory_check(t), -1);
    expect_error(t, "regions.csv:3: name: ", "unterminated");
    expect_error(t, "regions.csv:4: name: ", "quote inside an unquoted field");
    expect_error(t, "regions.csv:5: name: ", "after the closing quote");
    expect_error(t, "regions.csv:6: row: ", "3 fields, expected 5");
    expect_error(t, "regions.csv:7: row: ", "6 fields, expected 5");
    expect_error(t, "regions.csv:8: code: ", "not a division code");
    expect_error(t, "regions.csv:9: tier: ", "does not fit code 450600");
    expect_error(t, "regions.csv:10: parent_code: ", "459900 is not in the files");
    expect_error(t, "regions.csv:11: code: ", "already on line 2");
    expect_error(t, "regions.csv:12: name: ", "not valid UTF-8");
    expect_error(t, "regions.csv:13: name: ", "is empty");
    expect_error(t, "regions.csv:14: tier: ", "not a tier");
    expect_error(t, "regions.csv:15: name: ", "leading or trailing spaces");
    expect_error(t, "regions.csv:16: policy_profile: ", "not a profile name");
    expect_error(t, "regions.csv:17: parent_code: ", "a province has no parent");
    expect_error(t, "regions.csv:18: parent_code: ", "460100 is not in the files");
    expect_error(t, "regions.csv:19: parent_code: ", "its own parent");
    expect_error(t, "regions.csv:20: parent_code: ", "does not prefix");
    expect_error(t, "regions.csv:23: parent_code: ", "cannot contain");
    expect_error(t, "regions.csv:24: name: ", "control character");
    expect_error(t, "regions.csv:25: name: ", "control character");
    /* rows 2, 21, 22 and 27 are good; nothing else is reported about them */
    for (size_t i = 0; territory_error_at(t, i); i++) {
        const char *e = territory_error_at(t, i);
        assert_null(strstr(e, "regions.csv:2:"));
        assert_null(strstr(e, "regions.csv:21:"));
        assert_null(strstr(e, "regions.csv:22:"));
        assert_null(strstr(e, "regions.csv:27:"));
    }
    assert_int_equal(territory_error_count(t), 21);
    territory_free(t);
}

static void test_bad_units_all_reported(void **state)
{
    (void)state;
    const char units[] =
        UH "450103-SCJG,青秀区市场监督管理局,450103,department,陈海涛,梁秀英\n" /* 2 good */
           "450103-XX,某局,450103,bureau,,\n"                        /* 3 unknown kind */
           "459999-CENTRE,某中心,459999,centre,,\n"                  /* 4 unknown region */
           "450103-SCJG,又一个,450103,department,,\n"                /* 5 duplicate code */
           "450103 SCJG,空格,450103,department,,\n"                  /* 6 bad code */
           "450103-CENTRE2,第二中心,450103,centre,,\n"               /* 7 a second centre */
           "450103-CENTRE,青秀区中心,450103,centre,,\n"              /* 8 (the first is line 7) */
           "450103-KONG,,450103,department,,\n"                      /* 9 empty name */
           "450103-HEAD,某局,450103,department,"
           "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十"
           "一二三四五六七八九十一二三四五六七八九十一,\n"             /* 10 head too long */
           "450103-GBK,某局,450103,department,,\xc0\xee\n"           /* 11 deputy not UTF-8 */
           "450103-RC,某局,4501,department,,\n"                      /* 12 region not a code */
           "450103-SW,税务局,450103,department\n";                   /* 13 too few fields */
    territory_t *t = load(good_regions, units);
    assert_int_equal(territory_check(t), -1);
    expect_error(t, "units.csv:3: kind: ", "\"bureau\" is not a unit kind");
    expect_error(t, "units.csv:4: region_code: ", "459999 is not in the files");
    expect_error(t, "units.csv:5: code: ", "450103-SCJG is already on line 2");
    expect_error(t, "units.csv:6: code: ", "not a unit code");
    expect_error(t, "units.csv:8: kind: ", "a second centre for region 450103");
    expect_error(t, "units.csv:9: name: ", "is empty");
    expect_error(t, "units.csv:10: head_name: ", "51 characters long, at most 50");
    expect_error(t, "units.csv:11: deputy_head_name: ", "not valid UTF-8");
    expect_error(t, "units.csv:12: region_code: ", "not a division code");
    expect_error(t, "units.csv:13: row: ", "4 fields, expected 6");
    assert_int_equal(territory_error_count(t), 10);
    territory_free(t);
}

/* The same rows as JSON (the import API), and CSV columns in another order: one validation. */
static void test_json_and_column_order(void **state)
{
    (void)state;
    territory_t *t = territory_new();
    const char regions[] = "[{\"code\":\"450000\",\"name\":\"广西壮族自治区\",\"tier\":1,\"policy_profile\":\"guangxi\"},"
                           " {\"code\":\"450100\",\"name\":\"南宁市\",\"tier\":\"2\",\"parent_code\":\"450000\"},"
                           " {\"code\":\"450103\",\"name\":\"青秀区 \",\"tier\":3,\"parent_code\":\"450100\"},"
                           " {\"code\":\"450105\",\"name\":\"江南区\",\"tier\":3,\"parent\":\"450100\"},"
                           " 7]";
    assert_int_equal(territory_parse_json(t, "regions", "regions", regions, strlen(regions)), 0);
    const char units[] = "region_code,code,name,kind,deputy_head_name,head_name\n"
                         "450000,450000-CENTRE,广西专班,centre,,\n"
                         "450100,450100-CENTRE,南宁市中心,centre,,\n";
    assert_int_equal(territory_parse_units(t, "units.csv", units, strlen(units)), 0);
    expect_error(t, "regions:#3: name: ", "spaces");
    expect_error(t, "regions:#4: entry: ", "\"parent\" is not a field");
    expect_error(t, "regions:#5: entry: ", "must be an object");
    assert_int_equal(territory_error_count(t), 3);
    json_t *e = territory_errors_json(t);
    assert_non_null(e);
    assert_int_equal(json_array_size(e), 3);
    json_t *first = json_array_get(e, 0);
    assert_string_equal(json_string_value(json_object_get(first, "file")), "regions");
    assert_int_equal(json_integer_value(json_object_get(first, "entry")), 3);
    assert_string_equal(json_string_value(json_object_get(first, "field")), "name");
    assert_non_null(strstr(json_string_value(json_object_get(first, "message")), "spaces"));
    json_decref(e);
    territory_summary_t s;
    territory_summary(t, &s);
    assert_int_equal(s.regions, 3); /* the three that are objects with known keys */
    assert_int_equal(s.units, 2);
    assert_int_equal(territory_parse_json(t, "towns", "x", "[]", 2), -1);
    /* not JSON at all */
    assert_int_equal(territory_parse_json(t, "units", "units", "[{", 2), 0);
    expect_error(t, "units: json: ", NULL);
    territory_free(t);
}

static void test_header_and_empty_file(void **state)
{
    (void)state;
    territory_t *t = territory_new();
    const char wrong[] = "code,name,tier,parent,profile\n450000,广西壮族自治区,1,,\n";
    assert_int_equal(territory_parse_regions(t, "r.csv", wrong, strlen(wrong)), 0);
    assert_int_equal(territory_parse_units(t, "u.csv", "", 0), 0);
    const char units_as_regions[] = UH;
    assert_int_equal(territory_parse_regions(t, "x.csv", units_as_regions, strlen(units_as_regions)), 0);
    expect_error(t, "r.csv:1: header: ", "found \"code,name,tier,parent,profile\"");
    expect_error(t, "u.csv:1: header: ", "empty");
    expect_error(t, "x.csv:1: header: ", "expected \"" TERRITORY_REGIONS_HEADER "\"");
    /* the rows of a file with a wrong header are not read at all */
    territory_summary_t s;
    territory_summary(t, &s);
    assert_int_equal(s.regions, 0);
    assert_int_equal(territory_error_count(t), 3);
    territory_free(t);
}

static void test_duplicates_across_files(void **state)
{
    (void)state;
    territory_t *t = load(good_regions, NULL);
    const char more[] = RH "450200,柳州市,2,450000,\n450100,南宁,2,450000,\n";
    assert_int_equal(territory_parse_regions(t, "more.csv", more, strlen(more)), 0);
    assert_int_equal(territory_check(t), -1);
    expect_error(t, "more.csv:3: code: ", "450100 is already in regions.csv:3");
    assert_int_equal(territory_error_count(t), 1);
    territory_free(t);
}

/* Cross-row errors are recomputed, not piled up, when check runs twice or a file is added. */
static void test_check_is_repeatable(void **state)
{
    (void)state;
    const char units[] = UH "459999-X,某局,459999,department,,\n";
    territory_t *t = load(good_regions, units);
    assert_int_equal(territory_check(t), -1);
    assert_int_equal(territory_check(t), -1);
    assert_int_equal(territory_error_count(t), 1);
    const char fix[] = RH "459900,某市,2,450000,\n459999,某县,3,459900,\n";
    assert_int_equal(territory_parse_regions(t, "fix.csv", fix, strlen(fix)), 0);
    assert_int_equal(territory_check(t), 0);
    assert_int_equal(territory_error_count(t), 0);
    territory_free(t);
}

/* All errors are counted; only the first TERRITORY_ERRORS_SHOWN lines are kept. */
static void test_error_cap(void **state)
{
    (void)state;
    size_t cap = 300 * 32 + 64, o = 0;
    char *buf = malloc(cap);
    o += (size_t)snprintf(buf + o, cap - o, RH);
    for (int i = 0; i < 250; i++) o += (size_t)snprintf(buf + o, cap - o, "bad%d,名,1,,\n", i);
    territory_t *t = territory_new();
    assert_int_equal(territory_parse_regions(t, "many.csv", buf, o), 0);
    assert_int_equal(territory_error_count(t), 250);
    assert_non_null(territory_error_at(t, TERRITORY_ERRORS_SHOWN - 1));
    assert_null(territory_error_at(t, TERRITORY_ERRORS_SHOWN));
    expect_error(t, "many.csv:2: code: ", "\"bad0\"");
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    territory_errors_write(t, f);
    fclose(f);
    assert_non_null(strstr(out, "and 150 more errors not shown"));
    free(out);
    free(buf);
    territory_free(t);
}

/* The tier gap may exceed one (counties directly under a province, towns under a city) as
 * long as the significant digits prefix the child. */
static void test_tier_gaps_allowed(void **state)
{
    (void)state;
    const char regions[] = RH "420000,湖北省,1,,hubei\n"
                              "429004,仙桃市,3,420000,\n"
                              "440000,广东省,1,,guangdong\n"
                              "441900,东莞市,2,440000,\n"
                              "441900003,东城街道,4,441900,\n"
                              "441900003000,东城街道(12位),4,441900,\n";
    territory_t *t = load(regions, NULL);
    assert_int_equal(territory_check(t), 0);
    territory_free(t);
}

static const char *root(void)
{
    const char *r = getenv("JIESU_ROOT");
    return r && *r ? r : ".";
}

/* The shipped data set: real Guangxi divisions and a centre for every region. */
static void test_guangxi_data_set(void **state)
{
    (void)state;
    char rp[1024], up[1024];
    snprintf(rp, sizeof rp, "%s/deploy/data/guangxi/regions.csv", root());
    snprintf(up, sizeof up, "%s/deploy/data/guangxi/units.csv", root());
    territory_t *t = territory_new();
    assert_int_equal(territory_load_regions(t, rp), 0);
    assert_int_equal(territory_load_units(t, up), 0);
    if (territory_check(t) != 0) territory_errors_write(t, stderr);
    assert_int_equal(territory_error_count(t), 0);
    territory_summary_t s;
    territory_summary(t, &s);
    assert_int_equal(s.regions_by_tier[1], 1);
    assert_int_equal(s.regions_by_tier[2], 14);
    assert_int_equal(s.regions_by_tier[3], 111);
    assert_int_equal(s.regions_by_tier[4], 1253);
    assert_int_equal(s.centres, s.regions);
    assert_int_equal(s.regions_without_centre, 0);
    assert_true(s.units > 6000);
    territory_free(t);
}

static int run_cli(FILE *out, FILE *err, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    return territory_cli(argc, argv, out, err);
}

static void test_cli(void **state)
{
    (void)state;
    char rp[1024], up[1024], *o = NULL, *e = NULL;
    size_t ol = 0, el = 0;
    snprintf(rp, sizeof rp, "%s/deploy/data/guangxi/regions.csv", root());
    snprintf(up, sizeof up, "%s/deploy/data/guangxi/units.csv", root());
    FILE *out = open_memstream(&o, &ol), *err = open_memstream(&e, &el);
    assert_int_equal(run_cli(out, err, 6, "territory", "check", "--regions", rp, "--units", up), 0);
    fflush(out);
    assert_non_null(strstr(o, "city 14, county 111, township 1253"));
    assert_non_null(strstr(o, "ok: no errors"));

    char bad[] = "/tmp/jiesu-territory-XXXXXX";
    int fd = mkstemp(bad);
    assert_true(fd >= 0);
    const char text[] = RH "450000,广西壮族自治区,1,,guangxi\n450100,南宁市,3,450000,\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(run_cli(out, err, 4, "territory", "check", "--regions", bad), 2);
    fflush(err);
    assert_non_null(strstr(e, ":3: tier: 3 does not fit code 450100"));
    assert_non_null(strstr(e, "1 errors"));
    /* input errors stop an import before it touches the database */
    assert_int_equal(run_cli(out, err, 6, "territory", "import", "--regions", bad, "--pg-dsn",
                             "host=192.0.2.1 connect_timeout=1"), 2);
    fflush(err);
    assert_non_null(strstr(e, "nothing was written"));
    unlink(bad);

    assert_int_equal(run_cli(out, err, 4, "territory", "check", "--regions", "/nonexistent/r.csv"), 2);
    fflush(err);
    assert_non_null(strstr(e, "/nonexistent/r.csv: file: cannot read"));
    assert_int_equal(run_cli(out, err, 2, "territory", "check"), 2);
    assert_int_equal(run_cli(out, err, 4, "territory", "check", "--units", up), 2);
    assert_int_equal(run_cli(out, err, 3, "territory", "check", "--regions"), 2);
    assert_int_equal(run_cli(out, err, 4, "territory", "check", "--bogus", "x"), 2);
    assert_int_equal(run_cli(out, err, 2, "territory", "frobnicate"), 2);
    assert_int_equal(run_cli(out, err, 1, "territory"), 2);
    assert_int_equal(run_cli(out, err, 2, "territory", "--help"), 0);
    fclose(out);
    fclose(err);
    free(o);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_set_is_clean),
        cmocka_unit_test(test_csv_dialect),
        cmocka_unit_test(test_bad_regions_all_reported),
        cmocka_unit_test(test_bad_units_all_reported),
        cmocka_unit_test(test_header_and_empty_file),
        cmocka_unit_test(test_json_and_column_order),
        cmocka_unit_test(test_duplicates_across_files),
        cmocka_unit_test(test_check_is_repeatable),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_tier_gaps_allowed),
        cmocka_unit_test(test_guangxi_data_set),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("territory", tests, NULL, NULL);
}
