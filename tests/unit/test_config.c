/*
 * test_config.c — the typed config table: defaults < file < environment < command line,
 * the errors a person sees when a setting is wrong, and --dump-config/--help.
 *
 * The table is a daemon's: the common rows of CFG_COMMON_ENTRIES plus a few of its own,
 * one of each type. Each test starts from an environment without any JIESU_<KEY> of the
 * table (tests/run.sh exports some for the integration tier) and writes its config files
 * with mkstemp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "compat.h"
#include "config.h"

typedef struct {
    cfg_common_t common;
    char *greeting;
    long workers;
    bool verbose;
    char *api_key;
    char *nickname;
} my_cfg_t;

static const cfg_entry_t my_entries[] = {
    CFG_COMMON_ENTRIES(my_cfg_t, "8080"),
    {"greeting", CFG_STR, CFG_OFF(my_cfg_t, greeting), "hello", 0, 0, "what to say"},
    {"workers", CFG_INT, CFG_OFF(my_cfg_t, workers), "4", 1, 64, "worker count"},
    {"verbose", CFG_BOOL, CFG_OFF(my_cfg_t, verbose), "false", 0, 0, "talk more"},
    {"api_key", CFG_SECRET, CFG_OFF(my_cfg_t, api_key), "", 0, 0, "key for the API"},
    {"nickname", CFG_STR, CFG_OFF(my_cfg_t, nickname), NULL, 0, 0, "no default at all"},
};
static const cfg_table_t my_table = {my_entries, JS_ARRAY_LEN(my_entries)};

/* ---- fixtures ---------------------------------------------------------------------------- */

static void env_name(const char *key, char *out, size_t outlen)
{
    size_t o = (size_t)snprintf(out, outlen, "JIESU_");
    for (const char *k = key; *k && o + 1 < outlen; k++)
        out[o++] = (char)(*k >= 'a' && *k <= 'z' ? *k - 'a' + 'A' : *k);
    out[o] = '\0';
}

static void clear_env(void)
{
    char name[128];
    for (size_t i = 0; i < my_table.n; i++) {
        env_name(my_entries[i].key, name, sizeof name);
        unsetenv(name);
    }
}

static int setup(void **state)
{
    clear_env();
    my_cfg_t *c = calloc(1, sizeof *c);
    if (c == NULL) return -1;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    cfg_free(&my_table, *state);
    free(*state);
    clear_env();
    return 0;
}

/* A temporary config file with the given text; the caller unlinks path. */
static void write_conf(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/jiesu-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* cfg_parse_args over a NULL-terminated word list; output (help, dump) goes to *out. */
static int parse(my_cfg_t *c, const char *const *words, char **out, char *err, size_t errlen)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"jiesu-test";
    for (; *words; words++) argv[argc++] = (char *)*words;
    argv[argc] = NULL;
    size_t outlen = 0;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, &outlen);
    assert_non_null(f);
    err[0] = '\0';
    int rc = cfg_parse_args(&my_table, c, argc, argv, f, err, errlen);
    fclose(f);
    if (out) *out = buf;
    else free(buf);
    return rc;
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- tests ------------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    assert_int_equal(parse(c, (const char *const[]){NULL}, NULL, err, sizeof err), 0);
    assert_string_equal(c->common.instance_id, "");
    assert_string_equal(c->common.http_addr, "127.0.0.1");
    assert_int_equal(c->common.http_port, 8080);
    assert_int_equal(c->common.http_max_body, 1048576);
    assert_int_equal(c->common.http_max_depth, 16);
    assert_string_equal(c->common.pg_dsn,
                        "host=127.0.0.1 port=54329 dbname=jiesu user=jiesu password=jiesu");
    assert_string_equal(c->common.log_level, "info");
    assert_true(c->common.outbox_relay);
    assert_int_equal(c->common.outbox_batch, 500);
    assert_string_equal(c->common.migrations_dir, "deploy/migrations");
    assert_string_equal(c->greeting, "hello");
    assert_int_equal(c->workers, 4);
    assert_false(c->verbose);
    assert_string_equal(c->api_key, "");
    assert_non_null(c->nickname); /* a NULL default is the empty string, never NULL */
    assert_string_equal(c->nickname, "");
}

static void test_precedence(void **state)
{
    my_cfg_t *c = *state;
    char err[256], path[64];
    /* file sets four keys; env overrides two of them; argv overrides one of those */
    write_conf(path, "# a comment\n"
                     "\n"
                     "  http_port = 9001  \n"
                     "greeting = \"from file\"\n"
                     "workers=8\n"
                     "verbose = yes\n"
                     "log_level = warn\n");
    setenv("JIESU_GREETING", "from env", 1);
    setenv("JIESU_WORKERS", "16", 1);
    setenv("JIESU_HTTP_MAX_CONNS", "77", 1);
    int rc = parse(c, WORDS("--config", path, "--workers=32"), NULL, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(c->common.http_port, 9001);           /* file over default */
    assert_true(c->verbose);                               /* file over default */
    assert_string_equal(c->common.log_level, "warn");      /* file over default */
    assert_string_equal(c->greeting, "from env");          /* env over file */
    assert_int_equal(c->common.http_max_conns, 77);        /* env over default */
    assert_int_equal(c->workers, 32);                      /* argv over env over file */
    assert_string_equal(c->common.redis_addr, "127.0.0.1:63799"); /* untouched default */
}

static void test_argv_forms(void **state)
{
    my_cfg_t *c = *state;
    char err[256], path[64];
    write_conf(path, "greeting = file\n");
    setenv("JIESU_LOG_LEVEL", "error", 1);
    /* --key=value, --key value, dashes for underscores, --config=FILE, -c FILE; a later
     * word wins over an earlier one for the same key */
    char cfgopt[80];
    snprintf(cfgopt, sizeof cfgopt, "--config=%s", path);
    int rc = parse(c,
                   WORDS(cfgopt, "--http-port", "7000", "--log-level=debug", "--greeting",
                         "from argv", "--verbose=on", "--http_max_depth=3", "--workers", "2",
                         "--workers=5", "--nickname="),
                   NULL, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(c->common.http_port, 7000);
    assert_string_equal(c->common.log_level, "debug");
    assert_string_equal(c->greeting, "from argv");
    assert_true(c->verbose);
    assert_int_equal(c->common.http_max_depth, 3);
    assert_int_equal(c->workers, 5);
    assert_string_equal(c->nickname, "");
    rc = parse(c, WORDS("-c", path, "--workers", "9"), NULL, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_string_equal(c->greeting, "file");
    assert_int_equal(c->workers, 9);
}

static void test_bool_spellings(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    assert_int_equal(cfg_defaults(&my_table, c, err, sizeof err), 0);
    static const struct {
        const char *text;
        bool v;
    } ok[] = {{"true", true}, {"TRUE", true}, {"1", true},    {"yes", true},
              {"On", true},   {"false", false}, {"0", false}, {"no", false},
              {"OFF", false}, {"False", false}};
    for (size_t i = 0; i < JS_ARRAY_LEN(ok); i++) {
        c->verbose = !ok[i].v;
        assert_int_equal(cfg_set(&my_table, c, "verbose", ok[i].text, "test", err, sizeof err), 0);
        if (c->verbose != ok[i].v) fail_msg("'%s' gave %d", ok[i].text, c->verbose);
    }
}

struct bad_value {
    const char *key, *value;
    const char *must_contain[3];
};

static void test_bad_values_name_the_key(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    static const struct bad_value bad[] = {
        {"http_port", "65536", {"http_port", "65535", "65536"}},
        {"http_port", "-1", {"http_port", "between", NULL}},
        {"http_port", "80x", {"http_port", "integer", "80x"}},
        {"http_port", "", {"http_port", "integer", NULL}},
        {"http_port", "99999999999999999999999", {"http_port", NULL, NULL}},
        {"workers", "0", {"workers", "between 1 and 64", NULL}},
        {"workers", "65", {"workers", "between 1 and 64", NULL}},
        {"workers", "four", {"workers", "four", NULL}},
        {"workers", "4.5", {"workers", NULL, NULL}},
        {"verbose", "maybe", {"verbose", "maybe", NULL}},
        {"verbose", "", {"verbose", NULL, NULL}},
        {"outbox_relay", "2", {"outbox_relay", NULL, NULL}},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        /* through the setter directly, and through each source */
        assert_int_equal(cfg_defaults(&my_table, c, err, sizeof err), 0);
        err[0] = '\0';
        if (cfg_set(&my_table, c, bad[i].key, bad[i].value, "test", err, sizeof err) != -1)
            fail_msg("%s=%s was accepted", bad[i].key, bad[i].value);
        for (size_t k = 0; k < 3 && bad[i].must_contain[k]; k++)
            if (strstr(err, bad[i].must_contain[k]) == NULL)
                fail_msg("%s=%s: error '%s' lacks '%s'", bad[i].key, bad[i].value, err,
                         bad[i].must_contain[k]);

        char opt[128];
        snprintf(opt, sizeof opt, "--%s=%s", bad[i].key, bad[i].value);
        assert_int_equal(parse(c, WORDS(opt), NULL, err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i].key));
        assert_non_null(strstr(err, "command line"));

        char name[64];
        env_name(bad[i].key, name, sizeof name);
        setenv(name, bad[i].value, 1);
        assert_int_equal(parse(c, (const char *const[]){NULL}, NULL, err, sizeof err), -1);
        unsetenv(name);
        assert_non_null(strstr(err, bad[i].key));
        assert_non_null(strstr(err, name));

        char path[64], text[160];
        snprintf(text, sizeof text, "# line 1\n%s = %s\n", bad[i].key, bad[i].value);
        write_conf(path, text);
        int rc = parse(c, WORDS("--config", path), NULL, err, sizeof err);
        unlink(path);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, bad[i].key));
        char where[80];
        snprintf(where, sizeof where, "%s:2", path);
        if (strstr(err, where) == NULL) fail_msg("error '%s' lacks '%s'", err, where);
    }
}

static void test_file_errors(void **state)
{
    my_cfg_t *c = *state;
    char err[256], path[64], where[128];
    static const struct {
        const char *text;
        int line;
        const char *must_contain;
    } bad[] = {
        {"http_port = 1\n\n# c\nno_such_key = 3\n", 4, "no_such_key"},
        {"http_port = 1\njust words\n", 2, "just words"},
        {"  = value\n", 1, "unknown key"},
        {"workers = 4 # trailing comment\n", 1, "workers"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        write_conf(path, bad[i].text);
        int rc = parse(c, WORDS("--config", path), NULL, err, sizeof err);
        unlink(path);
        assert_int_equal(rc, -1);
        snprintf(where, sizeof where, "%s:%d", path, bad[i].line);
        if (strstr(err, where) == NULL) fail_msg("case %zu: '%s' lacks '%s'", i, err, where);
        if (strstr(err, bad[i].must_contain) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].must_contain);
    }
    /* a missing file names itself */
    assert_int_equal(parse(c, WORDS("--config", "/nonexistent/jiesu.conf"), NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/jiesu.conf"));
    /* the lower-level loader says the same */
    write_conf(path, "greeting = a\nbogus = 1\n");
    assert_int_equal(cfg_defaults(&my_table, c, err, sizeof err), 0);
    assert_int_equal(cfg_load_file(&my_table, c, path, err, sizeof err), -1);
    snprintf(where, sizeof where, "%s:2: unknown key 'bogus'", path);
    assert_string_equal(err, where);
    assert_string_equal(c->greeting, "a"); /* what came before the error was applied */
    unlink(path);
}

static void test_argv_errors(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    const struct {
        const char *const *words;
        const char *must_contain;
    } bad[] = {
        {WORDS("--no-such-option=1"), "--no_such_option"},
        {WORDS("--bogus", "value"), "--bogus"},
        {WORDS("stray"), "stray"},
        {WORDS("-x"), "-x"},
        {WORDS("--workers"), "--workers needs a value"},
        {WORDS("--config"), "needs a file name"},
        {WORDS("--"), "unknown option"},
        {WORDS("--dump-config=yes"), "dump_config"},
        /* an unknown option is reported even when a valid one precedes it */
        {WORDS("--workers=2", "--wrokers=3"), "wrokers"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(bad); i++) {
        int rc = parse(c, bad[i].words, NULL, err, sizeof err);
        if (rc != -1) fail_msg("case %zu accepted", i);
        if (strstr(err, bad[i].must_contain) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].must_contain);
    }
}

static void test_dump_masks_password(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    char *out = NULL;
    int rc = parse(c,
                   WORDS("--pg-dsn", "host=db port=5432 password=S3cr3t-Pw dbname=jiesu",
                         "--api-key=abcdef123456", "--greeting=hi there", "--dump-config"),
                   &out, err, sizeof err);
    assert_int_equal(rc, 1);
    assert_non_null(out);
    assert_null(strstr(out, "S3cr3t-Pw"));
    assert_null(strstr(out, "abcdef123456"));
    assert_non_null(strstr(out, "pg_dsn = host=db port=5432 password=*** dbname=jiesu\n"));
    assert_non_null(strstr(out, "api_key = <secret>\n"));
    assert_non_null(strstr(out, "greeting = hi there\n"));
    assert_non_null(strstr(out, "http_port = 8080\n"));
    assert_non_null(strstr(out, "outbox_relay = true\n"));
    assert_non_null(strstr(out, "verbose = false\n"));
    /* every key is listed */
    for (size_t i = 0; i < my_table.n; i++) {
        char k[80];
        snprintf(k, sizeof k, "%s = ", my_entries[i].key);
        if (strstr(out, k) == NULL) fail_msg("dump lacks %s", my_entries[i].key);
    }
    free(out);
}

static void test_dump_masks_every_password_spelling(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    /* libpq accepts spaces around '=', quoted values with escapes, and the key more than
     * once (the last wins); none of these may leak any part of the password. */
    static const struct {
        const char *dsn;
        const char *secret_part; /* must not appear */
        const char *visible;     /* must appear */
    } dsn[] = {
        {"password=jiesu", "jiesu", "password=***"},
        {"host=h password=pw1 user=u", "pw1", "user=u"},
        {"host=h password = pw2 user=u", "pw2", "host=h password=*** user=u"},
        {"host=h password= pw3", "pw3", "host=h"},
        {"host=h password='two words' user=u", "words", "user=u"},
        {"host=h password='it\\'s secret' user=u", "secret", "user=u"},
        {"password=first host=h password=second", "second", "host=h"},
        {"password=first host=h password=second", "first", "host=h"},
        {"host=h\tpassword=tabbed\tuser=u", "tabbed", "user=u"},
        {"host=h sslpassword=keypw password=p", "keypw", "sslpassword=*** password=***"},
        {"host=h password=''", "''", "host=h password=***"},
        {"postgresql://u:urlpw@h/db", "urlpw", "<secret>"},
        {"postgresql://h/db?password=qpw&x=1", "qpw", "<secret>"},
        {"host=h password='unterminated", "unterminated", "<secret>"},
        /* without a password nothing tells a DSN from another secret: masked whole */
        {"host=h passfile=/x", "passfile", "<secret>"},
        {"dGVzdA==", "dGVz", "<secret>"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(dsn); i++) {
        char opt[200];
        snprintf(opt, sizeof opt, "--pg-dsn=%s", dsn[i].dsn);
        char *out = NULL;
        assert_int_equal(parse(c, WORDS(opt, "--dump-config"), &out, err, sizeof err), 1);
        const char *line = strstr(out, "pg_dsn = ");
        assert_non_null(line);
        char got[256];
        snprintf(got, sizeof got, "%.*s", (int)strcspn(line, "\n"), line);
        if (dsn[i].secret_part[0] && strstr(got, dsn[i].secret_part) != NULL)
            fail_msg("'%s' leaks in '%s'", dsn[i].dsn, got);
        if (strstr(got, dsn[i].visible) == NULL)
            fail_msg("'%s' dumped as '%s', lacks '%s'", dsn[i].dsn, got, dsn[i].visible);
        free(out);
    }
}

static void test_help(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    char *out = NULL;
    assert_int_equal(parse(c, WORDS("--workers=2", "--help"), &out, err, sizeof err), 1);
    assert_non_null(strstr(out, "usage: jiesu-test"));
    for (size_t i = 0; i < my_table.n; i++)
        if (strstr(out, my_entries[i].key) == NULL) fail_msg("help lacks %s", my_entries[i].key);
    assert_non_null(strstr(out, "worker count (default: 4)"));
    /* the default password is not shown in help either */
    assert_null(strstr(out, "password=jiesu"));
    /* a row without a default prints an empty default, not "(null)" */
    assert_null(strstr(out, "(null)"));
    assert_non_null(strstr(out, "no default at all (default: )"));
    free(out);
    out = NULL;
    assert_int_equal(parse(c, WORDS("-h"), &out, err, sizeof err), 1);
    assert_non_null(strstr(out, "usage:"));
    free(out);
    /* help wins even over an invalid option after it */
    assert_int_equal(parse(c, WORDS("--help", "--nonsense"), NULL, err, sizeof err), 1);
}

static void test_env_reaches_every_key(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    setenv("JIESU_INSTANCE_ID", "box-1", 1);
    setenv("JIESU_OUTBOX_RELAY", "false", 1);
    setenv("JIESU_PG_DSN", "host=x password=envpw", 1);
    setenv("JIESU_API_KEY", "k", 1);
    assert_int_equal(parse(c, (const char *const[]){NULL}, NULL, err, sizeof err), 0);
    assert_string_equal(c->common.instance_id, "box-1");
    assert_false(c->common.outbox_relay);
    assert_string_equal(c->common.pg_dsn, "host=x password=envpw");
    assert_string_equal(c->api_key, "k");
    /* names are the upper-case key: a lower-case variable does nothing */
    clear_env();
    setenv("jiesu_workers", "7", 1);
    assert_int_equal(parse(c, (const char *const[]){NULL}, NULL, err, sizeof err), 0);
    unsetenv("jiesu_workers");
    assert_int_equal(c->workers, 4);
}

static void test_set_unknown_and_repeated(void **state)
{
    my_cfg_t *c = *state;
    char err[256];
    assert_int_equal(cfg_defaults(&my_table, c, err, sizeof err), 0);
    assert_int_equal(cfg_set(&my_table, c, "nope", "1", "here", err, sizeof err), -1);
    assert_string_equal(err, "here: unknown key 'nope'");
    /* prefixes of keys are not keys */
    assert_int_equal(cfg_set(&my_table, c, "http", "1", "here", err, sizeof err), -1);
    assert_int_equal(cfg_set(&my_table, c, "workers_", "1", "here", err, sizeof err), -1);
    /* setting a string many times frees the old values (ASan would see a leak) */
    for (int i = 0; i < 50; i++)
        assert_int_equal(cfg_set(&my_table, c, "greeting", "again", "here", err, sizeof err), 0);
    /* a failed set leaves the value as it was */
    assert_int_equal(cfg_set(&my_table, c, "workers", "10", "here", err, sizeof err), 0);
    assert_int_equal(cfg_set(&my_table, c, "workers", "100", "here", err, sizeof err), -1);
    assert_int_equal(c->workers, 10);
    /* defaults twice (cfg_parse_args called again) do not leak either */
    assert_int_equal(cfg_defaults(&my_table, c, err, sizeof err), 0);
    assert_int_equal(c->workers, 4);
}

static void test_cfg_free_everything(void **state)
{
    (void)state;
    char err[256];
    my_cfg_t c;
    memset(&c, 0, sizeof c);
    assert_int_equal(parse(&c, WORDS("--greeting=x", "--pg-dsn=y"), NULL, err, sizeof err), 0);
    cfg_free(&my_table, &c);
    /* every string slot is NULL afterwards, and freeing again is harmless */
    assert_null(c.common.instance_id);
    assert_null(c.common.pg_dsn);
    assert_null(c.greeting);
    assert_null(c.api_key);
    assert_null(c.nickname);
    cfg_free(&my_table, &c);
    cfg_free(&my_table, NULL);
    /* after an error part-way, cfg_free still releases what was set */
    memset(&c, 0, sizeof c);
    assert_int_equal(parse(&c, WORDS("--greeting=x", "--workers=0"), NULL, err, sizeof err), -1);
    assert_string_equal(c.greeting, "x");
    cfg_free(&my_table, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_spellings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_name_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_masks_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_masks_every_password_spelling, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_reaches_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_unknown_and_repeated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cfg_free_everything, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
