/*
 * test_catalogue.c — importing the responsibility catalogue into the real PostgreSQL and asking
 * it: a good file becomes the next version with its units resolved to ids and one audit row; the
 * same file again adds nothing; every row the database contradicts (unknown region or unit, a
 * deactivated unit, a unit that does not serve the region, a tier that is not the lead's) is
 * reported by line and field and nothing is written — also when one bad row hides among good
 * ones; routing takes the most specific entry of the version in force, walking up the regions,
 * and reports deactivated units; versions are append-only; the shipped Guangxi catalogue imports
 * against the Guangxi territory and routes as the generator meant; `jiesuctl catalogue` exits
 * 0/1/2 as documented; a province's import (scoped) replaces only its own part and keeps
 * another province's entries in the new version.
 *
 * A fictitious province 94 holds what the tests invent (93 is a second province; test_territory
 * uses 91, 92 and 95–98), imported through the territory module; the catalogue versions pile
 * up, so every expectation is relative
 * to the version in force when the test starts, and the binary can run again on the same database.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "catalogue.h"
#include "itest.h"
#include "territory.h"

static pg_t *pg;

static const char regions94[] = TERRITORY_REGIONS_HEADER "\n"
                                "940000,测试自治区,1,,guangxi\n"
                                "940100,测试市,2,940000,\n"
                                "940102,测试区,3,940100,\n"
                                "940103,另一区,3,940100,\n"
                                "940102001,测试街道,4,940102,\n";
static const char units94[] = TERRITORY_UNITS_HEADER "\n"
                              "940000-CENTRE,测试自治区专班,940000,centre,,\n"
                              "940000-FGW,测试自治区发展改革委,940000,department,,\n"
                              "940100-CENTRE,测试市中心,940100,centre,,\n"
                              "940100-JT,测试市交通运输局,940100,department,,\n"
                              "940102-CENTRE,测试区中心,940102,centre,,\n"
                              "940102-FGW,测试区发展改革局,940102,department,,\n"
                              "940102-ZJ,测试区住建局,940102,department,,\n"
                              "940102-JT,测试区交通运输局,940102,department,,\n"
                              "940102-OLD,测试区已撤并单位,940102,department,,\n"
                              "940103-CENTRE,另一区中心,940103,centre,,\n"
                              "940103-ZJ,另一区住建局,940103,department,,\n"
                              "940102001-CENTRE,测试街道服务站,940102001,centre,,\n";

static int setup(void **state)
{
    (void)state;
    pg = pg_new(itest_dsn(), "itest-catalogue");
    if (pg == NULL || pg_ensure(pg) != 0) return -1;
    territory_t *t = territory_new();
    int rc = territory_parse_regions(t, "regions94.csv", regions94, strlen(regions94)) ||
             territory_parse_units(t, "units94.csv", units94, strlen(units94)) || territory_import(t, pg, NULL);
    if (rc) {
        territory_errors_write(t, stderr);
        fprintf(stderr, "territory: %s\n", territory_strerror(t));
    }
    territory_free(t);
    /* 940102-OLD stays deactivated; everything else active */
    if (pg_query(pg, "UPDATE units SET active = (code <> '940102-OLD') WHERE code LIKE '94%'", 0, NULL, NULL) != 0)
        return -1;
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    pg_free(pg);
    return 0;
}

static long long version_now(void) { return itest_scalar(pg, "SELECT max(version) FROM catalogue_versions"); }

static catalogue_t *from(const char *text)
{
    catalogue_t *c = catalogue_new();
    assert_non_null(c);
    assert_int_equal(catalogue_parse_csv(c, "cat94.csv", text, strlen(text)), 0);
    assert_int_equal(catalogue_error_count(c), 0);
    return c;
}

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

/* A run-specific matter type, so a rerun's file differs from the version in force. */
static char matter[128];

static const char *good_text(void)
{
    static char text[4096];
    if (!matter[0]) snprintf(matter, sizeof matter, "测试事项-%s", itest_run_id());
    snprintf(text, sizeof text,
             CATALOGUE_CSV_HEADER "\n"
             "%s,940000,province,940000-FGW,,auto,省级兜底\n"
             "%s,940102,county,940102-ZJ,940102-JT,auto,区级住建牵头\n"
             "%s,940103,city,940100-JT,,centre,\n"
             "公交线路-%s,940100,city,940100-JT,,auto,\n",
             matter, matter, matter, itest_run_id());
    return text;
}

static void test_import_good(void **state)
{
    (void)state;
    long long before = version_now(), audits = itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'catalogue.import'");
    catalogue_t *c = from(good_text());
    catalogue_import_result_t res;
    int rc = catalogue_import(c, pg, "integration test", &res);
    if (rc != 0) {
        catalogue_errors_write(c, stderr);
        fprintf(stderr, "%s\n", catalogue_strerror(c));
    }
    assert_int_equal(rc, 0);
    assert_int_equal(res.unchanged, 0);
    assert_int_equal(res.version, before + 1);
    assert_int_equal(res.entries, 4);
    assert_int_equal(version_now(), before + 1);
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM catalogue_entries e WHERE e.version = %d AND e.region_code = '940102' "
             "AND e.lead_unit_id = (SELECT id FROM units WHERE code = '940102-ZJ') "
             "AND e.co_unit_ids = ARRAY[(SELECT id FROM units WHERE code = '940102-JT')] AND e.tier = 3 "
             "AND e.dispatch = 'auto' AND e.basis = '区级住建牵头' AND e.line = 3",
             res.version);
    assert_int_equal(itest_scalar(pg, q), 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM catalogue_entries WHERE version = %d AND dispatch = 'centre'", res.version);
    assert_int_equal(itest_scalar(pg, q), 1);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'catalogue.import'"), audits + 1);
    snprintf(q, sizeof q, "SELECT count(*) FROM catalogue_versions WHERE version = %d AND note = 'integration test' "
                          "AND source = 'cat94.csv' AND entries = 4", res.version);
    assert_int_equal(itest_scalar(pg, q), 1);
    catalogue_free(c);

    /* the same file again: nothing written */
    c = from(good_text());
    assert_int_equal(catalogue_import(c, pg, NULL, &res), 0);
    assert_int_equal(res.unchanged, 1);
    assert_int_equal(res.version, before + 1);
    assert_int_equal(version_now(), before + 1);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'catalogue.import'"), audits + 1);
    catalogue_free(c);
}

static void test_database_refusals_all_named(void **state)
{
    (void)state;
    long long before = version_now();
    long long entries = itest_scalar(pg, "SELECT count(*) FROM catalogue_entries");
    catalogue_t *c = from(CATALOGUE_CSV_HEADER "\n"
                          "甲,940102,county,940102-ZJ,,auto,\n"           /* 2: fine */
                          "乙,949999,county,940102-ZJ,,auto,\n"           /* 3: no such region */
                          "丙,940102,county,940102-NOSUCH,,auto,\n"       /* 4: no such lead */
                          "丁,940102,county,940102-OLD,,auto,\n"          /* 5: deactivated lead */
                          "戊,940102,county,940103-ZJ,,auto,\n"           /* 6: lead serves another county */
                          "己,940102,city,940102-ZJ,,auto,\n"             /* 7: tier is not the lead's */
                          "庚,940102,county,940102-ZJ,940103-ZJ;940102-OLD,auto,\n" /* 8: two bad co-handlers */
                          "辛,940102001,county,940102-FGW,940100-JT,auto,\n"); /* 9: fine (units above) */
    assert_int_equal(catalogue_import(c, pg, NULL, NULL), -1);
    expect_error(c, "cat94.csv:3: region_code: ", "949999 is not a region");
    expect_error(c, "cat94.csv:4: lead_unit: ", "940102-NOSUCH is not a unit");
    expect_error(c, "cat94.csv:5: lead_unit: ", "deactivated");
    expect_error(c, "cat94.csv:6: lead_unit: ", "does not contain the entry's region 940102");
    expect_error(c, "cat94.csv:7: tier: ", "county unit");
    expect_error(c, "cat94.csv:8: co_handlers: ", "940103-ZJ belongs to region 940103");
    expect_error(c, "cat94.csv:8: co_handlers: ", "940102-OLD is deactivated");
    /* …and the lead of line 3 cannot serve a region that does not exist either */
    expect_error(c, "cat94.csv:3: lead_unit: ", "does not contain the entry's region 949999");
    assert_int_equal(catalogue_error_count(c), 8);
    assert_int_equal(version_now(), before);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM catalogue_entries"), entries);
    /* asking again reports the same, not twice as many */
    assert_int_equal(catalogue_import(c, pg, NULL, NULL), -1);
    assert_int_equal(catalogue_error_count(c), 8);
    catalogue_free(c);
}

static void test_one_bad_row_among_many(void **state)
{
    (void)state;
    long long before = version_now();
    size_t cap = 600 * 80;
    char *text = malloc(cap);
    assert_non_null(text);
    snprintf(text, cap, "%s\n", CATALOGUE_CSV_HEADER);
    for (int i = 0; i < 500; i++) {
        char row[96];
        snprintf(row, sizeof row, "事项%03d,940102,county,%s,,auto,\n", i, i == 377 ? "940102-NOSUCH" : "940102-FGW");
        strcat(text, row);
    }
    catalogue_t *c = from(text);
    assert_int_equal(catalogue_import(c, pg, NULL, NULL), -1);
    assert_int_equal(catalogue_error_count(c), 1);
    expect_error(c, "cat94.csv:379: lead_unit: ", NULL);
    assert_int_equal(version_now(), before);
    catalogue_free(c);
    free(text);
}

/* The API's path: who imported it is kept on the version and the audit row; a file's own errors
 * and the database's are named in one report; rows outside the importer's province are errors;
 * the structured report carries line and field. */
static void test_import_by_and_one_report(void **state)
{
    (void)state;
    char sql[256], name[160];
    snprintf(name, sizeof name, "测试专班-%s", itest_run_id());
    const char *pn[] = {name};
    PGresult *r = NULL;
    assert_int_equal(pg_query(pg, "INSERT INTO principals (name, role, region_code) VALUES ($1, 'centre', '940000') RETURNING id",
                              1, pn, &r), 0);
    long long who = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);

    long long before = version_now();
    char text[2048];
    snprintf(text, sizeof text,
             "region_code,matter_type,tier,lead_unit,co_handlers,dispatch,basis\n" /* columns in another order */
             "940102,坏行一-%s,county,940102-NOSUCH,,auto,\n"                     /* database: unknown lead */
             "940102,坏行二-%s,county,940102-ZJ,,sometimes,\n"                    /* file: dispatch */
             "950102,坏行三-%s,county,940102-ZJ,,auto,\n",                        /* outside 94 */
             itest_run_id(), itest_run_id(), itest_run_id());
    catalogue_t *c = catalogue_new();
    assert_int_equal(catalogue_parse_csv(c, "api:cat.csv", text, strlen(text)), 0);
    assert_int_equal(catalogue_scope_check(c, "940000"), -1);
    catalogue_import_result_t res;
    assert_int_equal(catalogue_import_by(c, pg, "note", who, &res), -1);
    expect_error(c, "api:cat.csv:2: lead_unit: ", "not a unit");
    expect_error(c, "api:cat.csv:3: dispatch: ", NULL);
    expect_error(c, "api:cat.csv:4: region_code: ", "outside your jurisdiction");
    json_t *j = catalogue_errors_json(c);
    assert_non_null(j);
    assert_true(json_array_size(j) >= 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "line")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "field")), "lead_unit");
    json_decref(j);
    assert_int_equal(version_now(), before);
    catalogue_free(c);

    /* a good one, by the principal */
    char other[4096];
    snprintf(other, sizeof other, "%s经API-%s,940102,county,940102-FGW,,auto,by api\n", good_text(), itest_run_id());
    c = catalogue_new();
    assert_int_equal(catalogue_parse_csv(c, "api:cat.csv", other, strlen(other)), 0);
    assert_int_equal(catalogue_scope_check(c, "940000"), 0);
    assert_int_equal(catalogue_import_by(c, pg, "经 API 导入", who, &res), 0);
    assert_int_equal(res.unchanged, 0);
    snprintf(sql, sizeof sql, "SELECT imported_by FROM catalogue_versions WHERE version = %d", res.version);
    assert_int_equal(itest_scalar(pg, sql), who);
    snprintf(sql, sizeof sql, "SELECT principal_id FROM audit_log WHERE action = 'catalogue.import' AND object = 'catalogue:%d'",
             res.version);
    assert_int_equal(itest_scalar(pg, sql), who);
    catalogue_free(c);
}

static void test_route(void **state)
{
    (void)state;
    catalogue_match_t m;
    long long v = version_now();
    /* the most specific entry: the township inherits its county's */
    assert_int_equal(catalogue_route(pg, matter, "940102001", &m), 0);
    assert_int_equal(m.found, 1);
    assert_int_equal(m.version, v);
    assert_string_equal(m.region_code, "940102");
    assert_int_equal(m.tier, 3);
    assert_int_equal(m.lead_unit_id, itest_scalar(pg, "SELECT id FROM units WHERE code = '940102-ZJ'"));
    assert_int_equal(m.nco, 1);
    assert_int_equal(m.co_unit_ids[0], itest_scalar(pg, "SELECT id FROM units WHERE code = '940102-JT'"));
    assert_int_equal(m.lead_active, 1);
    assert_int_equal(m.centre_decides, 0);
    assert_string_equal(m.basis, "区级住建牵头");
    /* a region with its own entry, marked for the centre and handled a tier up */
    assert_int_equal(catalogue_route(pg, matter, "940103", &m), 0);
    assert_int_equal(m.found, 1);
    assert_int_equal(m.centre_decides, 1);
    assert_int_equal(m.tier, 2);
    /* a region without one gets the province's */
    assert_int_equal(catalogue_route(pg, matter, "940100", &m), 0);
    assert_string_equal(m.region_code, "940000");
    assert_int_equal(m.tier, 1);
    assert_int_equal(m.nco, 0);
    /* an unknown matter type or region: not found, the version still named */
    assert_int_equal(catalogue_route(pg, "没有这种事项", "940102", &m), 0);
    assert_int_equal(m.found, 0);
    assert_int_equal(m.version, v);
    assert_int_equal(catalogue_route(pg, matter, "949999", &m), 0);
    assert_int_equal(m.found, 0);
    /* a unit deactivated after the import is reported, not silently used */
    assert_int_equal(pg_query(pg, "UPDATE units SET active = false WHERE code IN ('940102-ZJ', '940102-JT')", 0, NULL, NULL), 0);
    assert_int_equal(catalogue_route(pg, matter, "940102", &m), 0);
    assert_int_equal(m.lead_active, 0);
    assert_int_equal(m.nco, 0);
    assert_int_equal(m.nco_inactive, 1);
    assert_int_equal(pg_query(pg, "UPDATE units SET active = true WHERE code IN ('940102-ZJ', '940102-JT')", 0, NULL, NULL), 0);
}

static void test_versions_are_append_only(void **state)
{
    (void)state;
    assert_int_not_equal(pg_query(pg, "UPDATE catalogue_entries SET dispatch = 'centre'", 0, NULL, NULL), 0);
    assert_string_equal(pg->sqlstate, "23000");
    assert_int_not_equal(pg_query(pg, "DELETE FROM catalogue_versions WHERE version = 1", 0, NULL, NULL), 0);
    assert_string_equal(pg->sqlstate, "23000");
    /* version 1, the empty catalogue, exists from the migration on */
    assert_int_equal(itest_scalar(pg, "SELECT entries FROM catalogue_versions WHERE version = 1"), 0);
}

static void test_guangxi(void **state)
{
    (void)state;
    const char *root = itest_env("JIESU_ROOT", ".");
    char rp[1024], up[1024], cp[1024];
    snprintf(rp, sizeof rp, "%s/deploy/data/guangxi/regions.csv", root);
    snprintf(up, sizeof up, "%s/deploy/data/guangxi/units.csv", root);
    snprintf(cp, sizeof cp, "%s/deploy/data/guangxi/catalogue.csv", root);
    territory_t *t = territory_new();
    assert_int_equal(territory_load_regions(t, rp), 0);
    assert_int_equal(territory_load_units(t, up), 0);
    assert_int_equal(territory_import(t, pg, NULL), 0);
    territory_free(t);
    catalogue_t *c = catalogue_new();
    assert_int_equal(catalogue_load_file(c, cp), 0);
    catalogue_import_result_t res;
    double t0 = itest_now();
    int rc = catalogue_import(c, pg, NULL, &res);
    if (rc != 0) {
        catalogue_errors_write(c, stderr);
        fprintf(stderr, "%s\n", catalogue_strerror(c));
    }
    assert_int_equal(rc, 0);
    fprintf(stderr, "guangxi catalogue: version %d, %ld entries in %.2f s\n", res.version, res.entries, itest_now() - t0);
    assert_int_equal(res.entries, 1879);
    catalogue_free(c);
    catalogue_match_t m;
    /* a district's township: 道路施工 by the district's 住建局 with 交通 and 城管 */
    assert_int_equal(catalogue_route(pg, "道路施工", "450103001", &m), 0);
    assert_int_equal(m.found, 1);
    assert_int_equal(m.lead_unit_id, itest_scalar(pg, "SELECT id FROM units WHERE code = '450103-ZJ'"));
    assert_int_equal(m.nco, 2);
    /* buses: the city for its districts, a county for itself */
    assert_int_equal(catalogue_route(pg, "公共交通", "450103", &m), 0);
    assert_int_equal(m.lead_unit_id, itest_scalar(pg, "SELECT id FROM units WHERE code = '450100-JT'"));
    assert_int_equal(m.tier, 2);
    assert_int_equal(catalogue_route(pg, "公共交通", "450123", &m), 0);
    assert_int_equal(m.lead_unit_id, itest_scalar(pg, "SELECT id FROM units WHERE code = '450123-JT'"));
    /* export tax rebates at the city even for a county */
    assert_int_equal(catalogue_route(pg, "出口退税", "450123", &m), 0);
    assert_int_equal(m.lead_unit_id, itest_scalar(pg, "SELECT id FROM units WHERE code = '450100-SW'"));
    /* land approval: the usual lead named, the centre decides */
    assert_int_equal(catalogue_route(pg, "用地审批", "450103", &m), 0);
    assert_int_equal(m.centre_decides, 1);
    /* every county has its 营商环境 entry at the county */
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions r WHERE r.tier = 3 AND r.code LIKE '45%' AND NOT EXISTS "
                                      "(SELECT 1 FROM catalogue_entries e WHERE e.version = (SELECT max(version) FROM "
                                      "catalogue_versions) AND e.region_code = r.code AND e.matter_type = '营商环境')"),
                     0);
}

static void test_cli(void **state)
{
    (void)state;
    const char *root = itest_env("JIESU_ROOT", ".");
    char cp[1024], dsn[512];
    snprintf(cp, sizeof cp, "%s/deploy/data/guangxi/catalogue.csv", root);
    snprintf(dsn, sizeof dsn, "%s", itest_dsn());
    char *o = NULL, *e = NULL;
    size_t ol = 0, el = 0;
    FILE *out = open_memstream(&o, &ol), *err = open_memstream(&e, &el);
    char *a1[] = {"catalogue", "import", cp, "--pg-dsn", dsn};
    assert_int_equal(catalogue_cli(5, a1, out, err), 0);
    fflush(out);
    assert_non_null(strstr(o, "unchanged: the file equals version"));
    char *a2[] = {"catalogue", "route", "--matter-type", "营商环境", "--region", "450103001", "--pg-dsn", dsn};
    rewind(out);
    assert_int_equal(catalogue_cli(8, a2, out, err), 0);
    fflush(out);
    assert_non_null(strstr(o, "lead 450103-FGW"));
    char *a3[] = {"catalogue", "import", cp, "--pg-dsn", "host=127.0.0.1 port=1 connect_timeout=2"};
    assert_int_equal(catalogue_cli(5, a3, out, err), 1);
    fflush(err);
    assert_non_null(strstr(e, "cannot connect to PostgreSQL"));
    fclose(out);
    fclose(err);
    free(o);
    free(e);
}

/* Two provinces, one catalogue: a province's principal imports its own part, and the new
 * version keeps the other province's entries as they were (they route as before); the same
 * part again — byte for byte, or its rows in another order — adds nothing; a deployment-wide
 * import still means "this file is the whole catalogue". Province 93 is B, 94 (setup) is A. */
static const char regions93[] = TERRITORY_REGIONS_HEADER "\n"
                                "930000,乙测试省,1,,guangxi\n"
                                "930100,乙测试市,2,930000,\n";
static const char units93[] = TERRITORY_UNITS_HEADER "\n"
                              "930000-CENTRE,乙测试省专班,930000,centre,,\n"
                              "930000-FGW,乙测试省发展改革委,930000,department,,\n"
                              "930100-CENTRE,乙测试市中心,930100,centre,,\n"
                              "930100-JT,乙测试市交通运输局,930100,department,,\n"
                              "930100-ZJ,乙测试市住建局,930100,department,,\n";

static catalogue_t *scoped(const char *name, const char *text, const char *scope)
{
    catalogue_t *c = catalogue_new();
    assert_non_null(c);
    assert_int_equal(catalogue_parse_csv(c, name, text, strlen(text)), 0);
    assert_int_equal(catalogue_error_count(c), 0);
    if (scope) assert_int_equal(catalogue_scope_check(c, scope), 0);
    return c;
}

static int import_ok(catalogue_t *c, long long who, catalogue_import_result_t *res)
{
    int rc = catalogue_import_by(c, pg, "two provinces", who, res);
    if (rc != 0) {
        catalogue_errors_write(c, stderr);
        fprintf(stderr, "%s\n", catalogue_strerror(c));
    }
    return rc;
}

static void test_scoped_import_keeps_other_provinces(void **state)
{
    (void)state;
    territory_t *t = territory_new();
    assert_int_equal(territory_parse_regions(t, "regions93.csv", regions93, strlen(regions93)), 0);
    assert_int_equal(territory_parse_units(t, "units93.csv", units93, strlen(units93)), 0);
    assert_int_equal(territory_import(t, pg, NULL), 0);
    territory_free(t);
    char name[160], sql[2048];
    snprintf(name, sizeof name, "乙省专班-%s", itest_run_id());
    const char *pn[] = {name};
    PGresult *r = NULL;
    assert_int_equal(pg_query(pg, "INSERT INTO principals (name, role, region_code) VALUES ($1, 'centre', '930000') RETURNING id",
                              1, pn, &r), 0);
    long long b_centre = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    const char *id = itest_run_id();
    char a_rows[1024], b1[1024], b2[1024], b2_reordered[1024], whole[4096];
    snprintf(a_rows, sizeof a_rows,
             "甲事项-%s,940000,province,940000-FGW,,auto,甲省兜底\n"
             "甲事项-%s,940102,county,940102-ZJ,940102-JT,auto,甲区住建\n", id, id);
    snprintf(b1, sizeof b1,
             "乙事项-%s,930000,province,930000-FGW,,auto,乙省兜底\n"
             "乙事项-%s,930100,city,930100-JT,,auto,乙市交通\n", id, id);
    snprintf(b2, sizeof b2,
             CATALOGUE_CSV_HEADER "\n"
             "乙事项-%s,930000,province,930000-FGW,,auto,乙省兜底\n"
             "乙事项-%s,930100,city,930100-ZJ,930100-JT,centre,乙市住建改为牵头\n"
             "乙新事项-%s,930100,city,930100-JT,,auto,\n", id, id, id);
    snprintf(b2_reordered, sizeof b2_reordered,
             CATALOGUE_CSV_HEADER "\n"
             "乙新事项-%s,930100,city,930100-JT,,auto,\n"
             "乙事项-%s,930100,city,930100-ZJ,930100-JT,centre,乙市住建改为牵头\n"
             "乙事项-%s,930000,province,930000-FGW,,auto,乙省兜底\n", id, id, id);
    char ma[96], mb[96];
    snprintf(ma, sizeof ma, "甲事项-%s", id);
    snprintf(mb, sizeof mb, "乙事项-%s", id);

    /* the whole catalogue, both provinces, by the deployment's operator */
    snprintf(whole, sizeof whole, CATALOGUE_CSV_HEADER "\n%s%s", a_rows, b1);
    catalogue_t *c = scoped("whole.csv", whole, NULL);
    catalogue_import_result_t res;
    assert_int_equal(import_ok(c, 0, &res), 0);
    int v1 = res.version;
    assert_int_equal(res.entries, 4);
    catalogue_free(c);
    catalogue_match_t a_before, m;
    assert_int_equal(catalogue_route(pg, ma, "940102001", &a_before), 0);
    assert_int_equal(a_before.found, 1);
    assert_int_equal(a_before.version, v1);

    /* B's centre imports B's part: A's entries stay, unchanged */
    c = scoped("api:b.csv", b2, "930000");
    assert_int_equal(import_ok(c, b_centre, &res), 0);
    int v2 = res.version;
    assert_int_equal(v2, v1 + 1);
    assert_int_equal(res.unchanged, 0);
    assert_int_equal(res.kept, 2);
    assert_int_equal(res.entries, 5);
    catalogue_free(c);
    snprintf(sql, sizeof sql, "SELECT entries FROM catalogue_versions WHERE version = %d", v2);
    assert_int_equal(itest_scalar(pg, sql), 5);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ((SELECT matter_type, region_code, tier, lead_unit_id, co_unit_ids, dispatch, basis, line"
             "  FROM catalogue_entries WHERE version = %d AND region_code LIKE '94%%'"
             " EXCEPT ALL SELECT matter_type, region_code, tier, lead_unit_id, co_unit_ids, dispatch, basis, line"
             "  FROM catalogue_entries WHERE version = %d AND region_code LIKE '94%%')"
             " UNION ALL (SELECT matter_type, region_code, tier, lead_unit_id, co_unit_ids, dispatch, basis, line"
             "  FROM catalogue_entries WHERE version = %d AND region_code LIKE '94%%'"
             " EXCEPT ALL SELECT matter_type, region_code, tier, lead_unit_id, co_unit_ids, dispatch, basis, line"
             "  FROM catalogue_entries WHERE version = %d AND region_code LIKE '94%%')) d",
             v1, v2, v2, v1);
    assert_int_equal(itest_scalar(pg, sql), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM catalogue_entries WHERE version = %d AND region_code LIKE '93%%'", v2);
    assert_int_equal(itest_scalar(pg, sql), 3);
    snprintf(sql, sizeof sql,
             "SELECT (detail->'scope'->>'kept_entries')::int * 100 + (detail->'scope'->>'file_entries')::int"
             "  FROM audit_log WHERE action = 'catalogue.import' AND object = 'catalogue:%d' AND principal_id = %lld",
             v2, b_centre);
    assert_int_equal(itest_scalar(pg, sql), 203);
    /* A's matter routes as before, by the new version */
    assert_int_equal(catalogue_route(pg, ma, "940102001", &m), 0);
    assert_int_equal(m.found, 1);
    assert_int_equal(m.version, v2);
    assert_string_equal(m.region_code, a_before.region_code);
    assert_int_equal(m.lead_unit_id, a_before.lead_unit_id);
    assert_int_equal(m.nco, a_before.nco);
    assert_int_equal(m.co_unit_ids[0], a_before.co_unit_ids[0]);
    assert_string_equal(m.basis, "甲区住建");
    assert_int_equal(catalogue_route(pg, ma, "940100", &m), 0);
    assert_string_equal(m.region_code, "940000");
    /* and B's by its new entries */
    assert_int_equal(catalogue_route(pg, mb, "930100", &m), 0);
    assert_int_equal(m.lead_unit_id, itest_scalar(pg, "SELECT id FROM units WHERE code = '930100-ZJ'"));
    assert_int_equal(m.centre_decides, 1);

    /* the same part again, then its rows in another order: no new version */
    c = scoped("api:b.csv", b2, "930000");
    assert_int_equal(import_ok(c, b_centre, &res), 0);
    assert_int_equal(res.unchanged, 1);
    assert_int_equal(res.version, v2);
    assert_int_equal(res.entries, 5);
    catalogue_free(c);
    c = scoped("api:b-sorted.csv", b2_reordered, "930000");
    assert_int_equal(import_ok(c, b_centre, &res), 0);
    assert_int_equal(res.unchanged, 1);
    assert_int_equal(res.version, v2);
    catalogue_free(c);
    assert_int_equal(version_now(), v2);

    /* A's centre then imports A's part: B's new entries stay */
    snprintf(whole, sizeof whole, CATALOGUE_CSV_HEADER "\n%s甲新事项-%s,940100,city,940100-JT,,auto,\n", a_rows, id);
    c = scoped("api:a.csv", whole, "940000");
    assert_int_equal(import_ok(c, 0, &res), 0);
    assert_int_equal(res.version, v2 + 1);
    assert_int_equal(res.kept, 3);
    assert_int_equal(res.entries, 6);
    catalogue_free(c);
    assert_int_equal(catalogue_route(pg, mb, "930100", &m), 0);
    assert_int_equal(m.lead_unit_id, itest_scalar(pg, "SELECT id FROM units WHERE code = '930100-ZJ'"));

    /* a deployment-wide import of B's file alone is still the whole catalogue: a new version
     * (not taken for the merged one) without A's entries */
    c = scoped("b.csv", b2, NULL);
    assert_int_equal(import_ok(c, 0, &res), 0);
    assert_int_equal(res.unchanged, 0);
    assert_int_equal(res.version, v2 + 2);
    assert_int_equal(res.entries, 3);
    catalogue_free(c);
    assert_int_equal(catalogue_route(pg, ma, "940102001", &m), 0);
    assert_int_equal(m.found, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_good),
        cmocka_unit_test(test_database_refusals_all_named),
        cmocka_unit_test(test_one_bad_row_among_many),
        cmocka_unit_test(test_import_by_and_one_report),
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_versions_are_append_only),
        cmocka_unit_test(test_guangxi),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_scoped_import_keeps_other_provinces),
    };
    return cmocka_run_group_tests_name("catalogue (PostgreSQL)", tests, setup, teardown);
}
