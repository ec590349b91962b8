/*
 * test_territory.c — importing the territory into the real PostgreSQL: the shipped Guangxi
 * files land with the right number of regions per tier and a centre for every region; a
 * second import of the same files changes nothing (not even the id sequence); a changed name
 * is updated; parents and regions already in the database are found; a file with one bad row
 * among good ones writes nothing — whether the row is caught before writing or refused by the
 * database halfway through; a province's (scoped) import cannot take over another province's
 * unit by reusing its code; a province-sized import (1,400 regions, 20,000 units) is fast; and
 * `jiesuctl territory import` exits 0/1/2 as documented.
 *
 * The test database is migrated by tests/run.sh. Fictitious provinces 91, 92, 95, 96, 97 and 98 hold
 * what the tests invent, so the Guangxi counts stay exact; each test clears its own leftovers
 * first, so the binary can run again on the same database.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "itest.h"
#include "territory.h"

static pg_t *pg;
static char regions_path[1024], units_path[1024];

static int setup(void **state)
{
    (void)state;
    const char *root = itest_env("JIESU_ROOT", ".");
    snprintf(regions_path, sizeof regions_path, "%s/deploy/data/guangxi/regions.csv", root);
    snprintf(units_path, sizeof units_path, "%s/deploy/data/guangxi/units.csv", root);
    pg = pg_new(itest_dsn(), "itest-territory");
    return pg && pg_ensure(pg) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pg_free(pg);
    return 0;
}

static void exec_ok(const char *sql)
{
    if (pg_query(pg, sql, 0, NULL, NULL) != 0) fail_msg("%s: %s", sql, pg->err);
}

/* Removes what a test invented under a fictitious province prefix ("95" …). */
static void clear_prefix(const char *prefix)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM units WHERE region_code LIKE '%s%%'", prefix);
    exec_ok(sql);
    snprintf(sql, sizeof sql, "DELETE FROM regions WHERE code LIKE '%s%%'", prefix);
    exec_ok(sql);
}

static void print_errors(const territory_t *t)
{
    if (territory_error_count(t)) territory_errors_write(t, stderr);
    if (*territory_strerror(t)) fprintf(stderr, "runtime: %s\n", territory_strerror(t));
}

static territory_t *guangxi(void)
{
    territory_t *t = territory_new();
    assert_non_null(t);
    assert_int_equal(territory_load_regions(t, regions_path), 0);
    assert_int_equal(territory_load_units(t, units_path), 0);
    return t;
}

static territory_t *from_text(const char *regions, const char *units)
{
    territory_t *t = territory_new();
    assert_non_null(t);
    if (regions)
        assert_int_equal(territory_parse_regions(t, "regions.csv", regions, strlen(regions)), 0);
    if (units) assert_int_equal(territory_parse_units(t, "units.csv", units, strlen(units)), 0);
    return t;
}

static int has_error(const territory_t *t, const char *prefix, const char *words)
{
    for (size_t i = 0; territory_error_at(t, i); i++) {
        const char *e = territory_error_at(t, i);
        if (!strncmp(e, prefix, strlen(prefix)) && strstr(e, words)) return 1;
    }
    print_errors(t);
    return 0;
}

static void test_import_guangxi(void **state)
{
    (void)state;
    territory_t *t = guangxi();
    territory_stats_t st;
    double t0 = itest_now();
    int rc = territory_import(t, pg, &st);
    if (rc != 0) print_errors(t);
    assert_int_equal(rc, 0);
    fprintf(stderr, "guangxi import: %.2f s; regions %ld new %ld changed %ld unchanged; "
                    "units %ld new %ld changed %ld unchanged\n",
            itest_now() - t0, st.regions_inserted, st.regions_updated, st.regions_unchanged,
            st.units_inserted, st.units_updated, st.units_unchanged);
    territory_summary_t s;
    territory_summary(t, &s);
    assert_int_equal(st.regions_inserted + st.regions_updated + st.regions_unchanged, (long)s.regions);
    assert_int_equal(st.units_inserted + st.units_updated + st.units_unchanged, (long)s.units);

    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code LIKE '45%' AND tier = 1"), 1);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code LIKE '45%' AND tier = 2"), 14);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code LIKE '45%' AND tier = 3"), 111);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code LIKE '45%' AND tier = 4"), 1253);
    assert_true(itest_scalar(pg, "SELECT count(*) FROM units WHERE region_code LIKE '45%'") >= (long long)s.units);
    /* every region has its active dispatch centre */
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions r WHERE r.code LIKE '45%' AND NOT EXISTS "
                                      "(SELECT 1 FROM units u WHERE u.region_code = r.code AND u.kind = 'centre' AND u.active)"), 0);
    /* the profile is named once, on the province, and inherited */
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code LIKE '45%' AND policy_profile IS NOT NULL"), 1);
    PGresult *r = NULL;
    assert_int_equal(pg_query(pg, "SELECT region_effective_profile('450103001'), region_ancestor_at('450103001', 2::smallint), "
                                  "(SELECT name FROM regions WHERE code = '450103')", 0, NULL, &r), 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "guangxi");
    assert_string_equal(PQgetvalue(r, 0, 1), "450100");
    assert_string_equal(PQgetvalue(r, 0, 2), "青秀区");
    PQclear(r);

    int tier = 0;
    assert_int_equal(territory_region_exists(pg, "450103", &tier), 1);
    assert_int_equal(tier, 3);
    assert_int_equal(territory_region_exists(pg, "450103001", NULL), 1);
    assert_int_equal(territory_region_exists(pg, "459999", &tier), 0);
    long long centre = 0;
    assert_int_equal(territory_region_centre(pg, "450103", &centre), 1);
    assert_int_equal(centre, itest_scalar(pg, "SELECT id FROM units WHERE code = '450103-CENTRE'"));
    assert_int_equal(territory_region_centre(pg, "459999", &centre), 0);
    territory_free(t);
}

static void test_reimport_is_noop(void **state)
{
    (void)state;
    long long audits = itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'territory.import'");
    long long seq = itest_scalar(pg, "SELECT last_value FROM units_id_seq");
    long long xmin_regions = itest_scalar(pg, "SELECT max(xmin::text::bigint) FROM regions WHERE code LIKE '45%'");
    territory_t *t = guangxi();
    territory_stats_t st;
    assert_int_equal(territory_import(t, pg, &st), 0);
    assert_int_equal(st.regions_inserted, 0);
    assert_int_equal(st.regions_updated, 0);
    assert_int_equal(st.regions_unchanged, 1379);
    assert_int_equal(st.units_inserted, 0);
    assert_int_equal(st.units_updated, 0);
    assert_true(st.units_unchanged > 6000);
    /* nothing written: no audit row, no ids drawn, no row rewritten */
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'territory.import'"), audits);
    assert_int_equal(itest_scalar(pg, "SELECT last_value FROM units_id_seq"), seq);
    assert_int_equal(itest_scalar(pg, "SELECT max(xmin::text::bigint) FROM regions WHERE code LIKE '45%'"), xmin_regions);
    territory_free(t);
}

static void test_changed_name_updates(void **state)
{
    (void)state;
    long long audits = itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'territory.import'");
    territory_t *t = from_text(TERRITORY_REGIONS_HEADER "\n450103,青秀区（测试改名）,3,450100,\n",
                               TERRITORY_UNITS_HEADER "\n450103-SCJG,青秀区市场监管局（测试）,450103,department,王测试,\n");
    territory_stats_t st;
    int rc = territory_import(t, pg, &st);
    if (rc) print_errors(t);
    assert_int_equal(rc, 0);
    assert_int_equal(st.regions_updated, 1);
    assert_int_equal(st.units_updated, 1);
    assert_int_equal(st.regions_inserted + st.units_inserted, 0);
    PGresult *r = NULL;
    assert_int_equal(pg_query(pg, "SELECT (SELECT name FROM regions WHERE code = '450103'), "
                                  "(SELECT deputy_name IS NULL FROM units WHERE code = '450103-SCJG')", 0, NULL, &r), 0);
    assert_string_equal(PQgetvalue(r, 0, 0), "青秀区（测试改名）");
    assert_string_equal(PQgetvalue(r, 0, 1), "t");
    PQclear(r);
    /* the change is audited with what changed and the file's digest */
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'territory.import'"), audits + 1);
    assert_int_equal(itest_scalar(pg, "SELECT (detail->'regions'->>'updated')::int FROM audit_log "
                                      "WHERE action = 'territory.import' ORDER BY id DESC LIMIT 1"), 1);
    territory_free(t);

    /* the shipped files put it back */
    t = guangxi();
    assert_int_equal(territory_import(t, pg, &st), 0);
    assert_int_equal(st.regions_updated, 1);
    assert_int_equal(st.units_updated, 1);
    territory_free(t);
}

/* Files that extend what is already loaded: their parents and regions are in the database. */
static void test_parents_from_database(void **state)
{
    (void)state;
    clear_prefix("98");
    territory_t *t = from_text(TERRITORY_REGIONS_HEADER "\n980000,测试省,1,,test\n980100,测试市,2,980000,\n", NULL);
    assert_int_equal(territory_import(t, pg, NULL), 0);
    territory_free(t);
    t = from_text(TERRITORY_REGIONS_HEADER "\n980102,测试区,3,980100,\n",
                  TERRITORY_UNITS_HEADER "\n980102-CENTRE,测试区企业诉求受理中心,980102,centre,,\n"
                                         "980100-SCJG,测试市市场监督管理局,980100,department,,\n");
    assert_int_equal(territory_check(t), -1); /* offline the parent is unknown… */
    territory_stats_t st;
    int rc = territory_import(t, pg, &st);    /* …the database knows it */
    if (rc) print_errors(t);
    assert_int_equal(rc, 0);
    assert_int_equal(st.regions_inserted, 1);
    assert_int_equal(st.units_inserted, 2);
    territory_free(t);
    /* a parent the database does not know either, and a region at the wrong tier */
    t = from_text(TERRITORY_REGIONS_HEADER "\n980201,某区,3,980200,\n980103,某区,3,980102,\n",
                  TERRITORY_UNITS_HEADER "\n989999-X,某局,989999,department,,\n");
    assert_int_equal(territory_import(t, pg, NULL), -1);
    assert_true(has_error(t, "regions.csv:2: parent_code: ", "980200 is neither in the files nor in the database"));
    assert_true(has_error(t, "regions.csv:3: parent_code: ", "cannot contain"));
    assert_true(has_error(t, "units.csv:2: region_code: ", "989999 is neither"));
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code IN ('980201', '980103')"), 0);
    territory_free(t);
    clear_prefix("98");
}

/* One bad row among good ones, caught before writing: nothing of the file is stored. */
static void test_bad_row_writes_nothing(void **state)
{
    (void)state;
    clear_prefix("97");
    territory_t *t = from_text(TERRITORY_REGIONS_HEADER "\n"
                               "970000,坏省,1,,test\n"
                               "970100,好市,2,970000,\n"
                               "970200,坏市,3,970000,\n"
                               "970101,好区,3,970100,\n",
                               TERRITORY_UNITS_HEADER "\n"
                               "970100-CENTRE,好市中心,970100,centre,,\n");
    assert_int_equal(territory_import(t, pg, NULL), -1);
    assert_true(has_error(t, "regions.csv:4: tier: ", "does not fit code 970200"));
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code LIKE '97%'"), 0);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM units WHERE code LIKE '97%'"), 0);
    territory_free(t);

    /* a second centre for a region whose centre is in the database, not in the file */
    long long units = itest_scalar(pg, "SELECT count(*) FROM units");
    t = from_text(NULL, TERRITORY_UNITS_HEADER "\n"
                        "450103-ITEST-NEW,青秀区新部门,450103,department,,\n"
                        "450103-ITEST-CENTRE,青秀区另一个中心,450103,centre,,\n"
                        "450103-ITEST-LOST,某局,459999,department,,\n");
    assert_int_equal(territory_import(t, pg, NULL), -1);
    /* both problems in one report, though they are found by different passes */
    assert_true(has_error(t, "units.csv:3: kind: ", "already has the active centre 450103-CENTRE"));
    assert_true(has_error(t, "units.csv:4: region_code: ", "459999 is neither"));
    assert_int_equal(territory_error_count(t), 2);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM units"), units);
    territory_free(t);
}

/* A row the database refuses after earlier statements of the import succeeded (here a
 * trigger stands in for any rule the checks do not know): all of it is rolled back, and the
 * refusal is reported as an input error. */
static void test_database_refusal_rolls_back(void **state)
{
    (void)state;
    clear_prefix("96");
    exec_ok("CREATE OR REPLACE FUNCTION itest_territory_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF new.code = '960100-REFUSED' THEN RAISE EXCEPTION USING errcode = 'check_violation', "
            "message = 'itest refuses ' || new.code; END IF; RETURN new; END $$");
    exec_ok("CREATE TRIGGER itest_territory_refuse BEFORE INSERT ON units "
            "FOR EACH ROW EXECUTE FUNCTION itest_territory_refuse()");
    territory_t *t = from_text(TERRITORY_REGIONS_HEADER "\n960000,测试省,1,,test\n960100,测试市,2,960000,\n",
                               TERRITORY_UNITS_HEADER "\n960100-GOOD,好局,960100,department,,\n"
                                                      "960100-REFUSED,坏局,960100,department,,\n");
    int rc = territory_import(t, pg, NULL);
    exec_ok("DROP TRIGGER itest_territory_refuse ON units");
    exec_ok("DROP FUNCTION itest_territory_refuse()");
    assert_int_equal(rc, -1);
    assert_true(territory_error_count(t) > 0);
    assert_true(has_error(t, "units.csv: importing units: ", "itest refuses 960100-REFUSED"));
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code LIKE '96%'"), 0);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM units WHERE code LIKE '96%'"), 0);
    assert_int_equal(PQtransactionStatus(pg->conn), PQTRANS_IDLE);
    territory_free(t);
}

/* A province's worth: 1,415 regions and 20,000 units, fresh, in one transaction. */
static void test_province_scale_is_fast(void **state)
{
    (void)state;
    clear_prefix("95");
    size_t cap = 4 << 20, ro = 0, uo = 0;
    char *rb = malloc(cap), *ub = malloc(cap);
    assert_non_null(rb);
    assert_non_null(ub);
    ro += (size_t)snprintf(rb + ro, cap - ro, TERRITORY_REGIONS_HEADER "\n950000,压测省,1,,test\n");
    uo += (size_t)snprintf(ub + uo, cap - uo, TERRITORY_UNITS_HEADER "\n950000-CENTRE,压测省中心,950000,centre,,\n");
    int nunits = 1, nregions = 1;
    char codes[1500][40];
    snprintf(codes[0], sizeof codes[0], "950000");
    for (int c = 1; c <= 14; c++) {
        ro += (size_t)snprintf(rb + ro, cap - ro, "95%02d00,压测市%d,2,950000,\n", c, c);
        snprintf(codes[nregions++], sizeof codes[0], "95%02d00", c);
        for (int d = 1; d <= 10; d++) {
            ro += (size_t)snprintf(rb + ro, cap - ro, "95%02d%02d,压测县%d-%d,3,95%02d00,\n", c, d, c, d, c);
            snprintf(codes[nregions++], sizeof codes[0], "95%02d%02d", c, d);
            for (int s = 1; s <= 9; s++) {
                ro += (size_t)snprintf(rb + ro, cap - ro, "95%02d%02d%03d,压测镇%d-%d-%d,4,95%02d%02d,\n",
                                       c, d, s, c, d, s, c, d);
                snprintf(codes[nregions++], sizeof codes[0], "95%02d%02d%03d", c, d, s);
            }
        }
    }
    for (int i = 1; i < nregions; i++, nunits++)
        uo += (size_t)snprintf(ub + uo, cap - uo, "%s-CENTRE,压测中心%s,%s,centre,张三,李四\n",
                               codes[i], codes[i], codes[i]);
    for (int i = 0; nunits < 20000; i++, nunits++)
        uo += (size_t)snprintf(ub + uo, cap - uo, "%s-D%05d,压测部门%d,%s,department,王五,赵六\n",
                               codes[i % nregions], i, i, codes[i % nregions]);
    assert_true(ro < cap && uo < cap);
    double t0 = itest_now();
    territory_t *t = from_text(rb, ub);
    territory_stats_t st;
    int rc = territory_import(t, pg, &st);
    double took = itest_now() - t0;
    if (rc) print_errors(t);
    assert_int_equal(rc, 0);
    fprintf(stderr, "province scale: %d regions + %d units parsed, checked and imported in %.2f s\n",
            nregions, nunits, took);
    assert_int_equal(st.regions_inserted, nregions);
    assert_int_equal(st.units_inserted, 20000);
    assert_true(took < 10.0); /* a few seconds even under ASan on two cores */
    territory_free(t);
    free(rb);
    free(ub);
    clear_prefix("95");
}

/* A province's principal (scoped import) may not take over another province's unit by reusing
 * its code — the upsert by code would move it — nor touch a region outside its province: each
 * such row is an error naming the line and field, and nothing is written. Its own units, old and
 * new, import as usual. Province 91 is A, 92 is B. */
static void test_scoped_import_cannot_take_other_units(void **state)
{
    (void)state;
    clear_prefix("91");
    clear_prefix("92");
    territory_t *t = from_text(TERRITORY_REGIONS_HEADER "\n"
                               "910000,甲测试省,1,,guangxi\n"
                               "920000,乙测试省,1,,guangxi\n",
                               TERRITORY_UNITS_HEADER "\n"
                               "910000-CENTRE,甲测试省专班,910000,centre,,\n"
                               "910000-FGW,甲测试省发展改革委,910000,department,甲主任,\n"
                               "920000-CENTRE,乙测试省专班,920000,centre,,\n");
    assert_int_equal(territory_import(t, pg, NULL), 0);
    territory_free(t);
    long long audits = itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'territory.import'");
    long long fgw = itest_scalar(pg, "SELECT id FROM units WHERE code = '910000-FGW'");
    const char *fgw_row = "SELECT count(*) FROM units WHERE code = '910000-FGW' AND region_code = '910000'"
                          " AND name = '甲测试省发展改革委' AND kind = 'department' AND head_name = '甲主任'";

    /* B's centre reuses A's unit code on line 3 (and A's centre's on line 4) */
    t = from_text(NULL, TERRITORY_UNITS_HEADER "\n"
                        "920000-JT,乙测试省交通运输厅,920000,department,,\n"
                        "910000-FGW,乙测试省发展改革委,920000,department,乙主任,\n"
                        "910000-CENTRE,乙测试省另一专班,920000,department,,\n");
    assert_int_equal(territory_scope_check(t, "920000"), 0);
    territory_stats_t st;
    assert_int_equal(territory_import_by(t, pg, 0, "takeover", &st), -1);
    assert_int_equal(territory_error_count(t), 2);
    assert_true(has_error(t, "units.csv:3: code: ", "910000-FGW is already the code of a unit of region 910000"));
    assert_true(has_error(t, "units.csv:4: code: ", "outside your jurisdiction (920000)"));
    json_t *j = territory_errors_json(t);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "line")), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "field")), "code");
    json_decref(j);
    territory_free(t);
    /* nothing changed: A's unit as it was, B's new unit not written, no audit row */
    assert_int_equal(itest_scalar(pg, fgw_row), 1);
    assert_int_equal(itest_scalar(pg, "SELECT id FROM units WHERE code = '910000-FGW'"), fgw);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM units WHERE code = '920000-JT'"), 0);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM units WHERE code = '910000-CENTRE' AND region_code = '910000'"
                                      " AND kind = 'centre'"), 1);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM audit_log WHERE action = 'territory.import'"), audits);

    /* a region of A: refused by the scope check already, on its code */
    t = from_text(TERRITORY_REGIONS_HEADER "\n"
                  "920100,乙测试市,2,920000,\n"
                  "910000,改名的甲省,1,,guangxi\n", NULL);
    assert_int_equal(territory_scope_check(t, "920000"), -1);
    assert_true(has_error(t, "regions.csv:3: code: ", "outside your jurisdiction"));
    territory_free(t);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM regions WHERE code = '910000' AND name = '甲测试省'"), 1);

    /* the same import without the stolen codes: B's own units, one kept and one new */
    t = from_text(NULL, TERRITORY_UNITS_HEADER "\n"
                        "920000-CENTRE,乙测试省专班,920000,centre,,\n"
                        "920000-JT,乙测试省交通运输厅,920000,department,,\n");
    assert_int_equal(territory_scope_check(t, "920000"), 0);
    int rc = territory_import_by(t, pg, 0, "own units", &st);
    if (rc) print_errors(t);
    assert_int_equal(rc, 0);
    assert_int_equal(st.units_inserted, 1);
    assert_int_equal(st.units_unchanged, 1);
    territory_free(t);
    assert_int_equal(itest_scalar(pg, fgw_row), 1);

    /* the deployment's operator (no scope) still may move a unit between provinces */
    t = from_text(NULL, TERRITORY_UNITS_HEADER "\n910000-FGW,甲测试省发展改革委,920000,department,甲主任,\n");
    assert_int_equal(territory_scope_check(t, NULL), 0);
    assert_int_equal(territory_import_by(t, pg, 0, NULL, &st), 0);
    assert_int_equal(st.units_updated, 1);
    territory_free(t);
    assert_int_equal(itest_scalar(pg, "SELECT count(*) FROM units WHERE code = '910000-FGW' AND region_code = '920000'"), 1);
    clear_prefix("91");
    clear_prefix("92");
}

static int run_cli(int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char *o = NULL, *e = NULL;
    size_t ol = 0, el = 0;
    FILE *out = open_memstream(&o, &ol), *err = open_memstream(&e, &el);
    int rc = territory_cli(argc, argv, out, err);
    fclose(out);
    fclose(err);
    fprintf(stderr, "%s%s", o, e);
    free(o);
    free(e);
    return rc;
}

static void test_cli_import(void **state)
{
    (void)state;
    /* the DSN comes from JIESU_PG_DSN, as for the daemons */
    assert_int_equal(run_cli(6, "territory", "import", "--regions", regions_path, "--units", units_path), 0);
    assert_int_equal(run_cli(8, "territory", "import", "--regions", regions_path, "--units", units_path,
                             "--pg-dsn", "host=127.0.0.1 port=1 connect_timeout=2"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_guangxi),
        cmocka_unit_test(test_reimport_is_noop),
        cmocka_unit_test(test_changed_name_updates),
        cmocka_unit_test(test_parents_from_database),
        cmocka_unit_test(test_bad_row_writes_nothing),
        cmocka_unit_test(test_database_refusal_rolls_back),
        cmocka_unit_test(test_province_scale_is_fast),
        cmocka_unit_test(test_scoped_import_cannot_take_other_units),
        cmocka_unit_test(test_cli_import),
    };
    return cmocka_run_group_tests_name("territory", tests, setup, teardown);
}
