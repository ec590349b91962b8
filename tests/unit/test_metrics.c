/*
 * test_metrics.c — the registry and its Prometheus text exposition (format 0.0.4).
 *
 * Besides exact lines, every rendering is run through a small checker of the text format's
 * rules that Prometheus enforces when it scrapes: HELP and TYPE at most once per family and
 * before its samples, all samples of a family in one group, every sample line
 * `name{labels} value` with a number, histogram buckets cumulative, ending in le="+Inf"
 * equal to _count.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compat.h"
#include "metrics.h"

/* The family a sample line belongs to: its name without _bucket/_sum/_count when the family
 * is a histogram. */
static void family_of(const char *line, char types[][2][64], size_t ntypes, char *out,
                      size_t outlen)
{
    size_t n = strcspn(line, "{ ");
    snprintf(out, outlen, "%.*s", (int)n, line);
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t s = 0; s < JS_ARRAY_LEN(suffixes); s++) {
        size_t sl = strlen(suffixes[s]);
        if (n > sl && strcmp(out + n - sl, suffixes[s]) == 0) {
            char base[64];
            snprintf(base, sizeof base, "%.*s", (int)(n - sl), out);
            for (size_t t = 0; t < ntypes; t++)
                if (strcmp(types[t][0], base) == 0 && strcmp(types[t][1], "histogram") == 0)
                    snprintf(out, outlen, "%s", base);
        }
    }
}

/* Checks the exposition rules listed above; fails the test with the offending line. */
static void check_exposition(const char *text)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    assert_true(text[0] == '\0' || text[strlen(text) - 1] == '\n');
    char types[64][2][64];
    char helps[64][64];
    char done[64][64]; /* families whose group has ended */
    size_t ntypes = 0, nhelps = 0, ndone = 0;
    char current[64] = "";
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char fam[64];
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            int is_type = line[2] == 'T';
            size_t n = strcspn(line + 7, " ");
            snprintf(fam, sizeof fam, "%.*s", (int)n, line + 7);
            if (is_type) {
                for (size_t t = 0; t < ntypes; t++)
                    if (strcmp(types[t][0], fam) == 0) fail_msg("second TYPE: %s", line);
                const char *ty = line + 7 + n + 1;
                if (strcmp(ty, "counter") && strcmp(ty, "gauge") && strcmp(ty, "histogram"))
                    fail_msg("bad type: %s", line);
                snprintf(types[ntypes][0], 64, "%s", fam);
                snprintf(types[ntypes++][1], 64, "%s", ty);
            } else {
                for (size_t h = 0; h < nhelps; h++)
                    if (strcmp(helps[h], fam) == 0) fail_msg("second HELP: %s", line);
                snprintf(helps[nhelps++], 64, "%s", fam);
            }
        } else {
            assert_true(line[0] != '#');
            family_of(line, types, ntypes, fam, sizeof fam);
            int typed = 0;
            for (size_t t = 0; t < ntypes; t++) typed |= strcmp(types[t][0], fam) == 0;
            if (!typed) fail_msg("sample before its TYPE: %s", line);
            const char *sp = strrchr(line, ' ');
            assert_non_null(sp);
            char *end = NULL;
            (void)strtod(sp + 1, &end);
            if (end == sp + 1 || *end != '\0') fail_msg("value is not a number: %s", line);
            const char *brace = strchr(line, '{');
            if (brace && brace < sp && line[sp - line - 1] != '}')
                fail_msg("unterminated labels: %s", line);
        }
        if (strcmp(fam, current) != 0) {
            for (size_t d = 0; d < ndone; d++)
                if (strcmp(done[d], fam) == 0) fail_msg("family %s is split: %s", fam, line);
            if (current[0]) snprintf(done[ndone++], 64, "%s", current);
            snprintf(current, sizeof current, "%s", fam);
        }
    }
    free(copy);
}

static void test_counter_and_gauge(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    metric_t *c = metrics_counter(m, "jiesu_cases_total", NULL, "cases received");
    metric_t *g = metrics_gauge(m, "jiesu_queue_depth", "queue=\"a\"", "items waiting");
    assert_non_null(c);
    assert_non_null(g);
    metric_inc(c);
    metric_add(c, 41);
    metric_set(g, 7);
    metric_set(g, -3); /* gauges go down too */
    char *txt = metrics_render(m);
    assert_non_null(txt);
    check_exposition(txt);
    assert_non_null(strstr(txt, "# HELP jiesu_cases_total cases received\n"
                                "# TYPE jiesu_cases_total counter\n"
                                "jiesu_cases_total 42\n"));
    assert_non_null(strstr(txt, "# HELP jiesu_queue_depth items waiting\n"
                                "# TYPE jiesu_queue_depth gauge\n"
                                "jiesu_queue_depth{queue=\"a\"} -3\n"));
    free(txt);
    metrics_free(m);
}

static void test_same_name_and_labels_is_same_metric(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    metric_t *a = metrics_counter(m, "x_total", "k=\"1\"", "x");
    metric_t *b = metrics_counter(m, "x_total", "k=\"1\"", "ignored the second time");
    metric_t *c = metrics_counter(m, "x_total", "k=\"2\"", NULL);
    metric_t *d = metrics_counter(m, "x_total", NULL, NULL);
    metric_t *e = metrics_counter(m, "x_total", "", NULL); /* "" and NULL are both "none" */
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_not_equal(a, d);
    assert_ptr_equal(d, e);
    metric_inc(a);
    metric_inc(b);
    metric_inc(c);
    char *txt = metrics_render(m);
    check_exposition(txt);
    assert_non_null(strstr(txt, "x_total{k=\"1\"} 2\n"));
    assert_non_null(strstr(txt, "x_total{k=\"2\"} 1\n"));
    assert_non_null(strstr(txt, "\nx_total 0\n"));
    assert_null(strstr(txt, "ignored"));
    free(txt);
    metrics_free(m);
}

/* Counts non-overlapping occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + strlen(needle), needle)) n++;
    return n;
}

static void test_family_header_once_and_grouped(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    /* registered interleaved, as daemons do when a topic's counters appear lazily */
    metric_t *a1 = metrics_counter(m, "jiesu_kafka_sent_total", "topic=\"a\"", "messages sent");
    metric_t *o = metrics_gauge(m, "jiesu_up", NULL, "1 when up");
    metric_t *a2 = metrics_counter(m, "jiesu_kafka_sent_total", "topic=\"b\"", NULL);
    metric_add(a1, 3);
    metric_add(a2, 5);
    metric_set(o, 1);
    char *txt = metrics_render(m);
    check_exposition(txt);
    assert_int_equal(count(txt, "# HELP jiesu_kafka_sent_total "), 1);
    assert_int_equal(count(txt, "# TYPE jiesu_kafka_sent_total counter\n"), 1);
    assert_non_null(strstr(txt, "jiesu_kafka_sent_total{topic=\"a\"} 3\n"
                                "jiesu_kafka_sent_total{topic=\"b\"} 5\n"));
    assert_non_null(strstr(txt, "jiesu_up 1\n"));
    free(txt);
    metrics_free(m);
}

static void test_histogram(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    static const double b[] = {0.01, 0.1, 1, 2.5};
    metric_t *h = metrics_histogram(m, "jiesu_req_seconds", "route=\"/x\"", "latency", b,
                                    JS_ARRAY_LEN(b));
    metric_t *plain = metrics_histogram(m, "jiesu_plain_seconds", NULL, "no labels", b, 2);
    assert_non_null(h);
    assert_non_null(plain);
    /* 0.01 sits on a bound: le is "less than or equal" */
    static const double obs[] = {0.005, 0.01, 0.05, 0.5, 2, 100};
    for (size_t i = 0; i < JS_ARRAY_LEN(obs); i++) metric_observe(h, obs[i]);
    metric_observe(plain, 0.02);
    char *txt = metrics_render(m);
    assert_non_null(txt);
    check_exposition(txt);
    assert_non_null(strstr(txt, "# HELP jiesu_req_seconds latency\n"
                                "# TYPE jiesu_req_seconds histogram\n"
                                "jiesu_req_seconds_bucket{route=\"/x\",le=\"0.01\"} 2\n"
                                "jiesu_req_seconds_bucket{route=\"/x\",le=\"0.1\"} 3\n"
                                "jiesu_req_seconds_bucket{route=\"/x\",le=\"1\"} 4\n"
                                "jiesu_req_seconds_bucket{route=\"/x\",le=\"2.5\"} 5\n"
                                "jiesu_req_seconds_bucket{route=\"/x\",le=\"+Inf\"} 6\n"
                                "jiesu_req_seconds_sum{route=\"/x\"} "));
    assert_non_null(strstr(txt, "jiesu_req_seconds_count{route=\"/x\"} 6\n"));
    /* the sum is 102.565 */
    const char *sum = strstr(txt, "jiesu_req_seconds_sum{route=\"/x\"} ");
    assert_true(fabs(strtod(sum + strlen("jiesu_req_seconds_sum{route=\"/x\"} "), NULL) -
                     102.565) < 1e-6);
    assert_non_null(strstr(txt, "jiesu_plain_seconds_bucket{le=\"0.01\"} 0\n"
                                "jiesu_plain_seconds_bucket{le=\"0.1\"} 1\n"
                                "jiesu_plain_seconds_bucket{le=\"+Inf\"} 1\n"
                                "jiesu_plain_seconds_sum 0.02"));
    assert_non_null(strstr(txt, "jiesu_plain_seconds_count 1\n"));
    free(txt);
    /* too many buckets are refused; the same name and labels give back the first one */
    double many[METRIC_MAX_BUCKETS + 1];
    for (size_t i = 0; i < JS_ARRAY_LEN(many); i++) many[i] = (double)i;
    assert_null(metrics_histogram(m, "jiesu_many", NULL, "x", many, JS_ARRAY_LEN(many)));
    assert_ptr_equal(metrics_histogram(m, "jiesu_req_seconds", "route=\"/x\"", NULL, b, 1), h);
    assert_int_equal(h->nbuckets, JS_ARRAY_LEN(b));
    metrics_free(m);
}

static void test_help_escaped(void **state)
{
    (void)state;
    /* The format allows only \\ and \n as escapes in HELP; a raw newline would end the
     * line and make the rest of the help an invalid sample line. */
    metrics_t *m = metrics_new();
    metric_inc(metrics_counter(m, "x_total", NULL, "first line\nsecond \\ line"));
    char *txt = metrics_render(m);
    check_exposition(txt);
    assert_non_null(strstr(txt, "# HELP x_total first line\\nsecond \\\\ line\n"));
    free(txt);
    metrics_free(m);
}

static void test_empty_and_null(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char *txt = metrics_render(m);
    assert_non_null(txt);
    assert_string_equal(txt, "");
    free(txt);
    metrics_free(m);
    metrics_free(NULL);
    /* updates through NULL (a registration that failed) are no-ops */
    metric_inc(NULL);
    metric_add(NULL, 3);
    metric_set(NULL, 3);
    metric_observe(NULL, 1.0);
}

static void test_big_render_grows_buffer(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char labels[64];
    for (int i = 0; i < 500; i++) {
        snprintf(labels, sizeof labels, "topic=\"topic-%03d\"", i);
        metric_add(metrics_counter(m, "jiesu_many_total", labels, "many"), i);
    }
    char *txt = metrics_render(m);
    assert_non_null(txt);
    assert_true(strlen(txt) > 4096);
    check_exposition(txt);
    assert_non_null(strstr(txt, "jiesu_many_total{topic=\"topic-499\"} 499\n"));
    assert_int_equal(count(txt, "jiesu_many_total{"), 500);
    free(txt);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_same_name_and_labels_is_same_metric),
        cmocka_unit_test(test_family_header_once_and_grouped),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_help_escaped),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_big_render_grows_buffer),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
