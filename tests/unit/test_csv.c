/*
 * test_csv.c — common/csv.c, the reader behind the territory and catalogue loaders: RFC 4180
 * quoting, line breaks inside quotes (and the line numbers that follow them), Excel's BOM, CRLF,
 * blank lines, ragged rows, malformed records that do not swallow the rest of the file, header
 * mapping by name, hand-built records, and the UTF-8 check every field goes through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "csv.h"

/* Reads all records of text; returns how many, fills lines[] and counts[] and the first
 * record's fields joined by '|' into first. */
typedef struct {
    int n;
    int line[16], fields[16];
    const char *err[16];
    char joined[16][256];
} got_t;

static void read_all(const char *text, size_t len, got_t *g)
{
    memset(g, 0, sizeof *g);
    csv_reader_t c;
    csv_reader_init(&c, text, len);
    csv_rec_t r = {0};
    int rc;
    while ((rc = csv_next(&c, &r)) == 1 && g->n < 16) {
        g->line[g->n] = r.line;
        g->fields[g->n] = r.n;
        g->err[g->n] = r.err;
        size_t o = 0;
        for (int i = 0; !r.err && i < r.n && o < 250; i++)
            o += (size_t)snprintf(g->joined[g->n] + o, sizeof g->joined[0] - o, "%s%s", i ? "|" : "",
                                  csv_field(&r, i));
        g->n++;
    }
    assert_int_equal(rc == -1, 0);
    csv_rec_free(&r);
}

static void test_plain_and_crlf(void **state)
{
    (void)state;
    got_t g;
    const char t[] = "a,b,c\r\n1,2,3\r\n\r\n4,,6\n";
    read_all(t, strlen(t), &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.joined[0], "a|b|c");
    assert_string_equal(g.joined[1], "1|2|3");
    assert_string_equal(g.joined[2], "4||6"); /* an empty field is a field */
    assert_int_equal(g.line[2], 4);           /* the blank line is skipped but counted */
    /* no newline at the end, a trailing comma: one more empty field */
    read_all("x,y,", 4, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.fields[0], 3);
    assert_string_equal(g.joined[0], "x|y|");
}

static void test_quotes_and_embedded_newlines(void **state)
{
    (void)state;
    got_t g;
    const char t[] = "h1,h2\n\"a, with comma\",\"say \"\"hi\"\"\"\n\"two\nlines\",x\nlast,\"\"\n";
    read_all(t, strlen(t), &g);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.joined[1], "a, with comma|say \"hi\"");
    assert_string_equal(g.joined[2], "two\nlines|x");
    assert_int_equal(g.line[2], 3);
    assert_int_equal(g.line[3], 5); /* the record after a two-line field starts on line 5 */
    assert_string_equal(g.joined[3], "last|");
    /* CRLF inside quotes is kept as is */
    const char u[] = "\"a\r\nb\",c\r\n";
    read_all(u, strlen(u), &g);
    assert_string_equal(g.joined[0], "a\r\nb|c");
}

static void test_bom(void **state)
{
    (void)state;
    got_t g;
    const char t[] = "\xef\xbb\xbf" "code,name\n450000,广西\n";
    read_all(t, strlen(t), &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.joined[0], "code|name"); /* the BOM is not part of the first name */
    assert_int_equal(g.line[1], 2);
    /* a BOM alone is an empty file */
    read_all("\xef\xbb\xbf", 3, &g);
    assert_int_equal(g.n, 0);
}

static void test_ragged_rows(void **state)
{
    (void)state;
    got_t g;
    const char t[] = "a,b,c\n1,2\n1,2,3,4\n,,\n";
    read_all(t, strlen(t), &g);
    assert_int_equal(g.n, 4);
    assert_int_equal(g.fields[1], 2);
    assert_int_equal(g.fields[2], 4);
    assert_int_equal(g.fields[3], 3);
    /* more fields than are kept are still counted */
    char wide[200] = "";
    for (int i = 0; i < CSV_MAX_FIELDS + 5; i++) strcat(wide, i ? ",x" : "x");
    read_all(wide, strlen(wide), &g);
    assert_int_equal(g.fields[0], CSV_MAX_FIELDS + 5);
}

static void test_malformed_records_resume(void **state)
{
    (void)state;
    got_t g;
    /* text after a closing quote; a quote inside an unquoted field; the rows after still read */
    const char t[] = "a,b\n\"x\"y,1\nab\"c,2\nok,3\n";
    read_all(t, strlen(t), &g);
    assert_int_equal(g.n, 4);
    assert_non_null(g.err[1]);
    assert_non_null(strstr(g.err[1], "after the closing quote"));
    assert_int_equal(g.line[1], 2);
    assert_non_null(g.err[2]);
    assert_non_null(strstr(g.err[2], "quote inside an unquoted field"));
    assert_null(g.err[3]);
    assert_string_equal(g.joined[3], "ok|3");
    /* a quote left open: reported on its own line, and the lines below are read again */
    const char u[] = "a,b\n\"open,1\nfine,2\nalso,\"3\"\n";
    read_all(u, strlen(u), &g);
    assert_int_equal(g.n, 4);
    assert_non_null(g.err[1]);
    assert_non_null(strstr(g.err[1], "unterminated quoted field"));
    assert_int_equal(g.line[1], 2);
    assert_string_equal(g.joined[2], "fine|2");
    assert_int_equal(g.line[2], 3);
    assert_string_equal(g.joined[3], "also|3");
    /* never closed at all */
    const char v[] = "a,b\n\"never";
    read_all(v, strlen(v), &g);
    assert_int_equal(g.n, 2);
    assert_non_null(strstr(g.err[1], "never closed"));
}

static void test_header_map(void **state)
{
    (void)state;
    static const char *const names[] = {"code", "name", "tier"};
    int map[3];
    char why[128];
    csv_reader_t c;
    csv_rec_t r = {0};
    const char t[] = "tier,code,name\n3,450103,青秀区\n";
    csv_reader_init(&c, t, strlen(t));
    assert_int_equal(csv_next(&c, &r), 1);
    assert_int_equal(csv_header_map(&r, names, 3, map, why, sizeof why), 0);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[2], 0);
    assert_int_equal(csv_next(&c, &r), 1);
    const char *f[3];
    size_t fl[3];
    csv_fields(&r, map, 3, f, fl);
    assert_string_equal(f[0], "450103");
    assert_string_equal(f[1], "青秀区");
    assert_int_equal(fl[1], strlen("青秀区"));
    assert_string_equal(f[2], "3");

    static const struct { const char *head, *why; } bad[] = {
        {"code,name\n", "missing column tier"},
        {"code,name,tier,parent\n", "unknown column \"parent\""},
        {"code,name,code,tier\n", "column code twice"},
        {"\"code,name,tier\n", "unterminated"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        csv_reader_init(&c, bad[i].head, strlen(bad[i].head));
        assert_int_equal(csv_next(&c, &r), 1);
        assert_int_equal(csv_header_map(&r, names, 3, map, why, sizeof why), -1);
        if (strstr(why, bad[i].why) == NULL) fail_msg("header %zu: \"%s\" lacks \"%s\"", i, why, bad[i].why);
    }
    csv_rec_free(&r);
}

static void test_built_record(void **state)
{
    (void)state;
    csv_rec_t r = {0};
    csv_rec_reset(&r, 7);
    assert_int_equal(csv_rec_add(&r, "450103", 6), 0);
    assert_int_equal(csv_rec_add(&r, "", 0), 0);
    assert_int_equal(csv_rec_add(&r, "青秀区 and more", strlen("青秀区")), 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.line, 7);
    assert_null(r.err);
    assert_string_equal(csv_field(&r, 0), "450103");
    assert_string_equal(csv_field(&r, 1), "");
    assert_string_equal(csv_field(&r, 2), "青秀区");
    assert_string_equal(csv_field(&r, 9), ""); /* past the end: empty, not a crash */
    csv_rec_reset(&r, 8);
    assert_int_equal(r.n, 0);
    csv_rec_free(&r);
    csv_rec_free(NULL);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct { const char *s; long want; } cases[] = {
        {"", 0},
        {"abc", 3},
        {"南宁市", 3},
        {"\xf0\x9f\x98\x80", 1},          /* U+1F600: four bytes */
        {"a\tb", -2},                     /* tab */
        {"a\nb", -2},                     /* line break */
        {"\xc2\x85", -2},                 /* C1 control NEL */
        {"\x7f", -2},                     /* DEL */
        {"\xc4\xcf\xc4\xfe", -1},         /* 南宁 in GBK */
        {"\xc0\xaf", -1},                 /* overlong '/' */
        {"\xe0\x80\xaf", -1},             /* overlong, three bytes */
        {"\xed\xa0\x80", -1},             /* a surrogate */
        {"\xf4\x90\x80\x80", -1},         /* above U+10FFFF */
        {"\xe5\x8d", -1},                 /* truncated */
        {"\x80", -1},                     /* stray continuation byte */
        {"\xff", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = csv_text_check((const unsigned char *)cases[i].s, strlen(cases[i].s));
        if (got != cases[i].want) fail_msg("case %zu: got %ld, want %ld", i, got, cases[i].want);
    }
    /* a field with bad UTF-8 is read as is: judging it is the loader's business */
    got_t g;
    const char t[] = "\xc4\xcf,ok\n";
    read_all(t, strlen(t), &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.fields[0], 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_crlf),
        cmocka_unit_test(test_quotes_and_embedded_newlines),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_ragged_rows),
        cmocka_unit_test(test_malformed_records_resume),
        cmocka_unit_test(test_header_map),
        cmocka_unit_test(test_built_record),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
