/*
 * deadletter.c — listing, showing and replaying dead letters. See deadletter.h.
 */
#include "deadletter.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "log.h"

/* 1 with err set when the dead letter cannot be replayed as it is, else 0. */
static int replay_refusal(const PGresult *r, long long id, char *err, size_t errlen)
{
    if (PQntuples(r) == 0) {
        snprintf(err, errlen, "no dead letter %lld", id);
        return 1;
    }
    if (!PQgetisnull(r, 0, 5)) {
        snprintf(err, errlen, "dead letter %lld was replayed already, at %s by %s", id, PQgetvalue(r, 0, 5),
                 PQgetvalue(r, 0, 6));
        return 1;
    }
    if (PQgetisnull(r, 0, 3)) {
        snprintf(err, errlen,
                 "dead letter %lld carries no event id: no consumer can ever apply it (fix its producer)", id);
        return 1;
    }
    if (PQgetisnull(r, 0, 4)) {
        snprintf(err, errlen,
                 "dead letter %lld: the original was not UTF-8 text and was not kept (see topic %s, offset %s)",
                 id, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 7));
        return 1;
    }
    return 0;
}

int deadletter_replay(pg_t *pg, long long id, const char *by, char *err, size_t errlen)
{
    if (by == NULL || by[0] == '\0' || strlen(by) > 200) {
        snprintf(err, errlen, "by: who replays, 1 to 200 characters");
        return 1;
    }
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *p1[] = {ids};
    PGresult *r = NULL;
    if (pg_begin(pg) != 0 ||
        pg_query(pg,
                 "SELECT consumer, topic, msg_key, event_id, original, replayed_at, replayed_by, kafka_offset "
                 "FROM dead_letters WHERE id = $1::bigint FOR UPDATE",
                 1, p1, &r) != 0)
        goto db;
    if (replay_refusal(r, id, err, errlen)) {
        PQclear(r);
        pg_rollback(pg);
        return 1;
    }
    const char *consumer = PQgetvalue(r, 0, 0), *topic = PQgetvalue(r, 0, 1);
    const char *key = PQgetisnull(r, 0, 2) ? PQgetvalue(r, 0, 3) : PQgetvalue(r, 0, 2);
    const char *event_id = PQgetvalue(r, 0, 3), *original = PQgetvalue(r, 0, 4);
    const char *p2[] = {consumer, event_id};
    const char *p3[] = {event_id, topic, key, original};
    const char *p4[] = {ids, by, consumer, event_id};
    PGresult *q = NULL;
    /* the consumer takes it as new; the event goes out again (its own outbox row when kept) */
    if (pg_query(pg, "DELETE FROM consumed_events WHERE consumer = $1 AND event_id = $2::uuid", 2, p2, NULL) != 0 ||
        pg_query(pg,
                 "WITH u AS (UPDATE outbox SET published_at = NULL WHERE event_id = $1::uuid AND topic = $2 "
                 "RETURNING id) "
                 "INSERT INTO outbox (event_id, topic, msg_key, payload) SELECT $1::uuid, $2, $3, $4 "
                 "WHERE NOT EXISTS (SELECT 1 FROM u) AND NOT EXISTS (SELECT 1 FROM outbox WHERE event_id = $1::uuid)",
                 4, p3, &q) != 0)
        goto db_r;
    PQclear(q);
    q = NULL;
    if (pg_query(pg,
                 "WITH d AS (UPDATE dead_letters SET replayed_at = now(), replayed_by = $2 WHERE id = $1::bigint) "
                 "INSERT INTO audit_log (action, object, detail) VALUES ('deadletter.replay', 'dead_letter:' || $1, "
                 "jsonb_build_object('by', $2::text, 'consumer', $3::text, 'event_id', $4::text))",
                 4, p4, NULL) != 0 ||
        pg_query(pg, "SELECT 1 FROM outbox WHERE event_id = $1::uuid AND topic = $2 AND published_at IS NULL", 2,
                 p3, &q) != 0)
        goto db_r;
    if (PQntuples(q) != 1) { /* the id is on the outbox for another topic: refuse, change nothing */
        snprintf(err, errlen, "dead letter %lld: event %s is in the outbox for another topic than %s", id, event_id,
                 topic);
        PQclear(q);
        PQclear(r);
        pg_rollback(pg);
        return 1;
    }
    PQclear(q);
    PQclear(r);
    if (pg_commit(pg) != 0) goto db;
    return 0;
db_r:
    PQclear(q);
    PQclear(r);
db:
    snprintf(err, errlen, "%s", pg->err);
    pg_rollback(pg);
    return -1;
}

/* ---- jiesuctl deadletter ------------------------------------------------------------------- */

/* The original message as indented JSON with every personal value masked (log.c's rules), or
 * the text as it is when it is not JSON — masked whole then, since nothing says what it holds. */
static void mask_values(json_t *v, int personal)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) mask_values(x, personal || log_key_is_pii(k));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) mask_values(x, personal);
    } else if (personal && json_is_string(v)) {
        char m[512];
        log_mask(json_string_value(v), m, sizeof m);
        json_string_set(v, m);
    }
}

static void print_original(FILE *out, const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (j == NULL) {
        char m[512];
        log_mask(text, m, sizeof m);
        fprintf(out, "original (not JSON, masked):\n  %s\n", m);
        return;
    }
    mask_values(j, 0);
    char *s = json_dumps(j, JSON_INDENT(2));
    fprintf(out, "original (personal values masked):\n%s\n", s ? s : "(out of memory)");
    free(s);
    json_decref(j);
}

static int parse_id(const char *s, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) return -1;
    *out = v;
    return 0;
}

static int cli_list(pg_t *pg, int argc, char **argv, FILE *out, FILE *err)
{
    const char *consumer = NULL, *limit = "100";
    int all = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--consumer") && i + 1 < argc) consumer = argv[++i];
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc) limit = argv[++i];
        else if (!strcmp(argv[i], "--all")) all = 1;
        else {
            fprintf(err, "jiesuctl deadletter list: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    long long lim;
    if (parse_id(limit, &lim) != 0 || lim > 10000) {
        fprintf(err, "jiesuctl deadletter list: --limit: a number from 1 to 10000\n");
        return 2;
    }
    const char *p[] = {consumer, all ? "t" : "f", limit};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT * FROM (SELECT id, to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'), "
                 "consumer, topic || ':' || kafka_partition || '@' || kafka_offset, coalesce(event_type, '-'), "
                 "coalesce(event_id::text, '-'), CASE WHEN replayed_at IS NULL THEN 'pending' ELSE 'replayed' END, "
                 "left(error, 100) FROM dead_letters WHERE ($1::text IS NULL OR consumer = $1) "
                 "AND ($2::boolean OR replayed_at IS NULL) ORDER BY id DESC LIMIT $3::int) x ORDER BY 1",
                 3, p, &r) != 0) {
        fprintf(err, "jiesuctl deadletter list: %s\n", pg->err);
        return 1;
    }
    fprintf(out, "%-6s  %-19s  %-20s  %-28s  %-22s  %-36s  %-8s  %s\n", "id", "at (+08:00)", "consumer",
            "topic:partition@offset", "type", "event_id", "state", "error");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(out, "%-6s  %-19s  %-20s  %-28s  %-22s  %-36s  %-8s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                PQgetvalue(r, i, 6), PQgetvalue(r, i, 7));
    fprintf(out, "%d dead letter(s)%s\n", PQntuples(r), all ? "" : " pending");
    PQclear(r);
    return 0;
}

static int cli_show(pg_t *pg, int argc, char **argv, FILE *out, FILE *err)
{
    long long id;
    if (argc != 1 || parse_id(argv[0], &id) != 0) {
        fprintf(err, "jiesuctl deadletter show: one dead letter id (a positive number)\n");
        return 2;
    }
    const char *p[] = {argv[0]};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT id, consumer, topic, kafka_partition, kafka_offset, coalesce(event_type, '-'), "
                 "coalesce(event_id::text, '-'), error, original_bytes, created_at, "
                 "coalesce(replayed_at::text || ' by ' || replayed_by, 'pending'), original "
                 "FROM dead_letters WHERE id = $1::bigint",
                 1, p, &r) != 0) {
        fprintf(err, "jiesuctl deadletter show: %s\n", pg->err);
        return 1;
    }
    if (PQntuples(r) == 0) {
        fprintf(err, "jiesuctl deadletter show: no dead letter %s\n", argv[0]);
        PQclear(r);
        return 1;
    }
    static const char *const names[] = {"id", "consumer", "topic", "partition", "offset", "type", "event_id",
                                        "error", "bytes", "at", "replayed"};
    for (int c = 0; c < (int)JS_ARRAY_LEN(names); c++) fprintf(out, "%-10s %s\n", names[c], PQgetvalue(r, 0, c));
    if (PQgetisnull(r, 0, 11)) fprintf(out, "original   (not kept: not UTF-8 text)\n");
    else print_original(out, PQgetvalue(r, 0, 11));
    PQclear(r);
    return 0;
}

static int cli_replay(pg_t *pg, int argc, char **argv, FILE *out, FILE *err)
{
    const char *consumer = NULL, *by = NULL;
    int pending = 0, nids = 0;
    long long *ids = calloc((size_t)argc + 1, sizeof *ids);
    if (ids == NULL) return 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--consumer") && i + 1 < argc) consumer = argv[++i];
        else if (!strcmp(argv[i], "--by") && i + 1 < argc) by = argv[++i];
        else if (!strcmp(argv[i], "--pending")) pending = 1;
        else if (parse_id(argv[i], &ids[nids]) == 0) nids++;
        else {
            fprintf(err, "jiesuctl deadletter replay: '%s' is neither an id nor an option\n", argv[i]);
            free(ids);
            return 2;
        }
    }
    if ((nids > 0) == (pending && consumer)) {
        fprintf(err, "jiesuctl deadletter replay: give ids, or --consumer NAME --pending\n");
        free(ids);
        return 2;
    }
    if (pending && consumer) {
        const char *p[] = {consumer};
        PGresult *r = NULL;
        if (pg_query(pg, "SELECT id FROM dead_letters WHERE consumer = $1 AND replayed_at IS NULL ORDER BY id", 1, p,
                     &r) != 0) {
            fprintf(err, "jiesuctl deadletter replay: %s\n", pg->err);
            free(ids);
            return 1;
        }
        long long *all = realloc(ids, ((size_t)PQntuples(r) + 1) * sizeof *ids);
        if (all == NULL) {
            PQclear(r);
            free(ids);
            return 1;
        }
        ids = all;
        for (nids = 0; nids < PQntuples(r); nids++) ids[nids] = strtoll(PQgetvalue(r, nids, 0), NULL, 10);
        PQclear(r);
    }
    char who[256];
    const char *user = getenv("USER");
    snprintf(who, sizeof who, "%s", by ? by : "");
    if (by == NULL) snprintf(who, sizeof who, "jiesuctl:%.64s", user && *user ? user : "operator");
    int rc = 0, done = 0;
    for (int i = 0; i < nids; i++) {
        char e[600];
        int r = deadletter_replay(pg, ids[i], who, e, sizeof e);
        if (r == 0) {
            fprintf(out, "replayed %lld\n", ids[i]);
            done++;
        } else {
            fprintf(err, "jiesuctl deadletter replay: %s\n", e);
            rc = 1;
            if (r < 0) break; /* the database: the rest would fail alike */
        }
    }
    fprintf(out, "%d replayed, %d refused or failed\n", done, nids - done);
    free(ids);
    return rc;
}

int deadletter_cli(int argc, char **argv, FILE *out, FILE *err)
{
    /* argv[0] is "deadletter" */
    if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "show") && strcmp(argv[1], "replay"))) {
        fprintf(err, "usage: jiesuctl deadletter list [--consumer NAME] [--all] [--limit N]\n"
                     "       jiesuctl deadletter show ID\n"
                     "       jiesuctl deadletter replay ID... | --consumer NAME --pending [--by TEXT]\n");
        return 2;
    }
    const char *dsn = getenv("JIESU_PG_DSN");
    pg_t *pg = pg_new(dsn && *dsn ? dsn : PG_DEFAULT_DSN, "jiesuctl");
    if (pg == NULL || pg_ensure(pg) != 0) {
        fprintf(err, "jiesuctl deadletter: cannot connect to PostgreSQL: %s\n", pg ? pg->err : "no memory");
        pg_free(pg);
        return 1;
    }
    int rc = !strcmp(argv[1], "list")   ? cli_list(pg, argc - 2, argv + 2, out, err)
             : !strcmp(argv[1], "show") ? cli_show(pg, argc - 2, argv + 2, out, err)
                                        : cli_replay(pg, argc - 2, argv + 2, out, err);
    pg_free(pg);
    return rc;
}
