/*
 * test_revisit.c — jiesu-revisit as a real process against the real PostgreSQL, and what its
 * calls write, checked row by row: the two-round path to escalation (unsatisfied → redo with
 * its bulletin entry; unsatisfied again → escalated a tier up, complex, the unit released, its
 * unsatisfied review form requested and, under 枣阳, the lead referred to discipline inspection),
 * and the fraud path (a claimed contact that did not happen: the call row, the bulletin, the
 * event that carries the unit and the disputed contacts, and no notice written by the revisit
 * itself), handed to a jiesu-deadline-watcher, which issues the one supervision notice under the
 * id the revisit named, with its reply clock — once, however often the event arrives.
 *
 * The revisit tasks are rows inserted here (the consumer that opens them from
 * case.result_submitted is the e2e's business); the revisit runs without the outbox relay, so
 * its events are read from the outbox table, and the test hands case.revisit_recorded to the
 * watcher through a topic of this run (--case-topic), as the relay would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "event.h"
#include "itest.h"
#include "kafka.h"
#include "log.h"
#include "supnotice.h"

static pg_t *pg;
static char topic[128], group[128], prefix[128], logfile[512], tag[32], tok_sd[128], tok_hb[128];
static const char *sup_token; /* the supervisor of the case's province */
static long long unit_tz, unit_zy;
static struct event_base *pbase;
static kprod_t *prod;
static pid_t spawned[8];
static int nspawned;
static int revisit_port;

/* One scalar (text) with parameters into out; "" when no row, NULL value or error. */
static const char *qt(const char *sql, int n, const char *const *p, char *out, size_t len)
{
    PGresult *r = NULL;
    out[0] = '\0';
    if (pg_query(pg, sql, n, p, &r) != 0) {
        fprintf(stderr, "itest: %s: %s\n", sql, pg->err);
        return out;
    }
    if (PQntuples(r) && !PQgetisnull(r, 0, 0)) snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static long long qs(const char *sql, int n, const char *const *p)
{
    char v[64];
    qt(sql, n, p, v, sizeof v);
    return v[0] ? strtoll(v, NULL, 10) : -1;
}

static long long wait_for(const char *sql, int n, const char *const *p, long long want, double secs)
{
    double end = itest_now() + secs;
    long long v = -1;
    while ((v = qs(sql, n, p)) != want && itest_now() < end) usleep(100000);
    return v;
}

/* The first line a command prints (trailing newline removed). */
static void run_line(const char *cmd, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (f == NULL) return;
    if (fgets(out, (int)len, f) == NULL) out[0] = '\0';
    pclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

/* Starts bin/jiesu-<name> on a free port with args, returns once /readyz answers 200. */
static int start_daemon(const char *name, const char *const *extra)
{
    static char a[24][256];
    char log[640];
    snprintf(log, sizeof log, "%s-%s.log", logfile, name);
    unlink(log);
    int n = 0;
    snprintf(a[n++], sizeof a[0], "--http-port=0");
    snprintf(a[n++], sizeof a[0], "--pg-dsn=%s", itest_dsn());
    snprintf(a[n++], sizeof a[0], "--redis-addr=%s", itest_redis());
    snprintf(a[n++], sizeof a[0], "--kafka-brokers=%s", itest_brokers());
    snprintf(a[n++], sizeof a[0], "--outbox-relay=false");
    snprintf(a[n++], sizeof a[0], "--auth-cache-ms=0");
    snprintf(a[n++], sizeof a[0], "--log-level=info");
    for (int i = 0; extra && extra[i] && n < 22; i++) snprintf(a[n++], sizeof a[0], "%s", extra[i]);
    const char *args[24];
    for (int i = 0; i < n; i++) args[i] = a[i];
    args[n] = NULL;
    pid_t pid = itest_spawn(name, log, args);
    if (nspawned < 8) spawned[nspawned++] = pid;
    int port = 0;
    for (int i = 0; i < 300 && port == 0; i++) {
        FILE *f = fopen(log, "r");
        char line[4096];
        while (f && fgets(line, sizeof line, f)) {
            char *pp = strstr(line, "\"msg\":\"up\"") ? strstr(line, "\"port\":") : NULL;
            if (pp) port = atoi(pp + 7);
        }
        if (f) fclose(f);
        if (port == 0) usleep(100000);
    }
    if (port == 0) fail_msg("%s did not start (log %s)", name, log);
    char cmd[256], out[16];
    snprintf(cmd, sizeof cmd, "curl -s -m 1 -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/readyz", port);
    for (int i = 0; i < 300; i++) {
        run_line(cmd, out, sizeof out);
        if (!strcmp(out, "200")) return port;
        usleep(100000);
    }
    fail_msg("%s on port %d did not get ready (log %s)", name, port, log);
    return 0;
}

static void stop_all(void)
{
    for (int i = 0; i < nspawned; i++) {
        if (kill(spawned[i], 0) != 0) continue;
        kill(spawned[i], SIGTERM);
        assert_int_equal(itest_wait(spawned[i], 30), 0);
    }
    nspawned = 0;
}

/* POST body to the revisit; the answer as JSON (new reference) and *status. */
static json_t *post(const char *path, const char *body, int *status)
{
    char file[256], cmd[1024];
    snprintf(file, sizeof file, "/tmp/itest-revisit-%d.json", (int)getpid());
    FILE *f = fopen(file, "w");
    if (f == NULL) fail_msg("cannot write %s", file);
    fputs(body, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "curl -s -m 20 -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer %s' "
             "--data-binary @%s -w '\\n%%{http_code}' http://127.0.0.1:%d%s",
             sup_token, file, revisit_port, path);
    FILE *p = popen(cmd, "r");
    char buf[65536];
    size_t len = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
    if (p) pclose(p);
    unlink(file);
    buf[len] = '\0';
    char *nl = strrchr(buf, '\n');
    *status = nl ? atoi(nl + 1) : 0;
    if (nl) *nl = '\0';
    json_t *j = json_loads(buf, 0, NULL);
    if (j == NULL) fail_msg("%s: not JSON (%d): %.300s", path, *status, buf);
    return j;
}

static long long insert_unit(const char *code, const char *name, const char *region, const char *kind)
{
    char c[96];
    snprintf(c, sizeof c, "%s-%s", code, tag);
    const char *p[] = {c, name, region, kind};
    PGresult *r = NULL;
    if (pg_query(pg, "INSERT INTO units (code, name, region_code, kind, head_name, deputy_name) VALUES ($1, $2, $3, $4, "
                     "'张局长', '李副局长') RETURNING id", 4, p, &r) != 0)
        fail_msg("unit: %s", pg->err);
    long long id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return id;
}

/* A case waiting for its revisit (resolved, held by unit) into case_id; the supervisor of its
 * province becomes the caller. */
static void resolved_case(const char *region, long long unit, char case_id[37])
{
    sup_token = region[0] == '3' ? tok_sd : tok_hb;
    static int n;
    char us[32], no[64];
    snprintf(us, sizeof us, "%lld", unit);
    snprintf(no, sizeof no, "%s-%05d", tag, ++n);
    const char *p[] = {no, region, us};
    PGresult *r = NULL;
    if (pg_query(pg, "INSERT INTO cases (case_no, region_code, tier, state, kind, complexity, channel, enterprise_name, "
                     "summary, body, lead_unit_id, received_at) VALUES ($1, $2, 3, 'resolved', 'help', 'general', 'web', "
                     "'测试机械有限公司', '测试诉求', '测试诉求正文', $3::bigint, now() - interval '3 days') RETURNING id",
                 3, p, &r) != 0)
        fail_msg("case: %s", pg->err);
    snprintf(case_id, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *pc[] = {case_id, us};
    assert_int_equal(pg_query(pg, "INSERT INTO case_units (case_id, unit_id, role) VALUES ($1::uuid, $2::bigint, 'lead')",
                              2, pc, NULL), 0);
}

/* The open revisit task of round `round` for the case, as the consumer would open it. */
static void open_task(const char *case_id, const char *region, long long unit, int round, char task_id[37])
{
    char us[32], rs[8];
    snprintf(us, sizeof us, "%lld", unit);
    snprintf(rs, sizeof rs, "%d", round);
    const char *p[] = {case_id, region, us, rs};
    PGresult *r = NULL;
    if (pg_query(pg, "INSERT INTO revisit_tasks (case_id, kind, handling_round, unit_id, region_code, profile, "
                     "source_event_id, result_at, due_at) VALUES ($1::uuid, 'routine', $4::smallint, $3::bigint, $2, "
                     "(SELECT policy_profile FROM regions WHERE code = $2), gen_random_uuid(), now(), "
                     "now() + interval '3 days') RETURNING id",
                 4, p, &r) != 0)
        fail_msg("task: %s", pg->err);
    snprintf(task_id, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* A contact the unit recorded as made (case.contact_recorded, reached): its id into out. */
static void claimed_contact(const char *case_id, long long unit, const char *channel, char out[37])
{
    char us[32];
    snprintf(us, sizeof us, "%lld", unit);
    const char *p[] = {case_id, us, channel};
    PGresult *r = NULL;
    if (pg_query(pg, "WITH c AS (SELECT gen_random_uuid() AS id) INSERT INTO case_events (event_id, case_id, type, "
                     "from_state, to_state, occurred_at, payload) SELECT gen_random_uuid(), $1::uuid, "
                     "'case.contact_recorded', 'in_progress', 'in_progress', now() - interval '2 days', "
                     "jsonb_build_object('unit_id', $2::bigint, 'contact_record_id', c.id, 'contacted_at', "
                     "to_char(now() AT TIME ZONE 'Asia/Shanghai' - interval '2 days', 'YYYY-MM-DD\"T\"HH24:MI:SS+08:00'), "
                     "'channel', $3::text, 'staff_principal_id', 1, 'reached', true, 'first_contact', true) FROM c "
                     "RETURNING payload->>'contact_record_id'",
                 3, p, &r) != 0)
        fail_msg("contact: %s", pg->err);
    snprintf(out, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static int setup(void **state)
{
    (void)state;
    pg = pg_new(itest_dsn(), "itest-revisit");
    if (pg == NULL || pg_ensure(pg) != 0) return -1;
    snprintf(tag, sizeof tag, "R%d", (int)getpid());
    snprintf(topic, sizeof topic, "jiesu.itest.revisit.%s", itest_run_id());
    snprintf(group, sizeof group, "itest-revisit-watcher-%s", itest_run_id());
    snprintf(prefix, sizeof prefix, "itest:revisit:%s", itest_run_id());
    snprintf(logfile, sizeof logfile, "%s/build/test-logs/itest-revisit-%s", itest_env("JIESU_ROOT", "."), itest_run_id());
    if (itest_create_topic(topic, 3) != 0) return -1;
    static const char *const regions =
        "INSERT INTO regions (code, name, tier, parent_code, policy_profile) VALUES "
        "('370000', '山东省', 1, NULL, NULL), ('370400', '枣庄市', 2, '370000', NULL), "
        "('370481', '滕州市', 3, '370400', 'tengzhou'), ('420000', '湖北省', 1, NULL, NULL), "
        "('420600', '襄阳市', 2, '420000', NULL), ('420683', '枣阳市', 3, '420600', 'zaoyang') "
        "ON CONFLICT (code) DO NOTHING";
    if (pg_query(pg, regions, 0, NULL, NULL) != 0) {
        fprintf(stderr, "regions: %s\n", pg->err);
        return -1;
    }
    if (itest_scalar(pg, "SELECT count(*) FROM units WHERE kind = 'centre' AND region_code = '370481' AND active") == 0)
        insert_unit("itest-tz-centre", "滕州市政府事务推进中心", "370481", "centre");
    unit_tz = insert_unit("itest-rv-tz", "滕州市自然资源局", "370481", "department");
    unit_zy = insert_unit("itest-rv-zy", "枣阳市住房和城乡建设局", "420683", "department");
    /* the supervision offices of the two provinces (a supervisor sees its region and below) */
    for (int i = 0; i < 2; i++) {
        char cmd[1024], id[64];
        snprintf(cmd, sizeof cmd, "%s/jiesuctl --pg-dsn '%s' principal add --role supervisor --name '督查室回访员%s-%d' "
                 "--region %s", itest_bin(), itest_dsn(), tag, i, i ? "420000" : "370000");
        run_line(cmd, id, sizeof id);
        if (atoll(id) <= 0) return -1;
        snprintf(cmd, sizeof cmd, "%s/jiesuctl --pg-dsn '%s' token issue --principal %s", itest_bin(), itest_dsn(), id);
        run_line(cmd, i ? tok_hb : tok_sd, sizeof tok_sd);
        if (strlen(i ? tok_hb : tok_sd) < 16) return -1;
    }
    pbase = event_base_new();
    char err[256];
    prod = kprod_new(pbase, itest_brokers(), "itest-revisit-producer", NULL, NULL, NULL, err, sizeof err);
    if (prod == NULL) return -1;
    const char *rv[] = {"--lookback-job=false", "--archive-job=false", "--instance-id=itest-revisit", NULL};
    revisit_port = start_daemon("revisit", rv);
    return revisit_port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < nspawned; i++) /* whatever a failed test left running */
        if (kill(spawned[i], 0) == 0) {
            kill(spawned[i], SIGKILL);
            itest_wait(spawned[i], 5);
        }
    kprod_free(prod, 2000);
    event_base_free(pbase);
    pg_free(pg);
    return 0;
}

static int task_version(const char *task_id)
{
    const char *p[] = {task_id};
    return (int)qs("SELECT version FROM revisit_tasks WHERE id = $1::uuid", 1, p);
}

/* ---- the two-round path ------------------------------------------------------------------------------ */

static void test_two_rounds_to_escalation(void **state)
{
    (void)state;
    char cid[37], tid[37], path[128], body[1024], v[256];
    resolved_case("420683", unit_zy, cid);
    open_task(cid, "420683", unit_zy, 1, tid);
    const char *pc[] = {cid};

    /* round 1: unsatisfied → the unit handles it again, within the profile's redo window */
    snprintf(path, sizeof path, "/v1/revisits/%s/calls", tid);
    snprintf(body, sizeof body, "{\"version\":%d,\"channel\":\"phone\",\"reached\":true,\"contact_confirmed\":true,"
             "\"result_true\":true,\"satisfaction\":\"不满意\",\"enterprise_words\":\"积水问题仍未解决。\"}",
             task_version(tid));
    int st;
    json_t *r = post(path, body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(r, "outcome")), "redo");
    json_decref(r);
    assert_string_equal(qt("SELECT state FROM cases WHERE id = $1::uuid", 1, pc, v, sizeof v), "in_progress");
    assert_string_equal(qt("SELECT string_agg(type, ',' ORDER BY id) FROM case_events WHERE case_id = $1::uuid "
                           "AND type <> 'case.contact_recorded'", 1, pc, v, sizeof v),
                        "case.revisit_recorded,case.redo_ordered");
    assert_int_equal(qs("SELECT (payload->>'handling_round')::int FROM case_events WHERE case_id = $1::uuid AND "
                        "type = 'case.redo_ordered'", 1, pc), 2);
    /* every event the call wrote is in the outbox under the same id, in the same transaction */
    assert_int_equal(qs("SELECT count(*) FROM case_events e JOIN outbox o USING (event_id) WHERE e.case_id = $1::uuid "
                        "AND e.type IN ('case.revisit_recorded', 'case.redo_ordered')", 1, pc), 2);
    assert_string_equal(qt("SELECT state || ':' || outcome FROM revisit_tasks WHERE id = $1::uuid", 1,
                           (const char *[]){tid}, v, sizeof v), "done:redo");
    assert_string_equal(qt("SELECT string_agg(reason || ':' || handling_round, ',') FROM revisit_bulletin WHERE "
                           "case_id = $1::uuid", 1, pc, v, sizeof v), "unsatisfied:1");
    assert_int_equal(qs("SELECT count(*) FROM review_forms WHERE case_id = $1::uuid", 1, pc), 0);

    /* the unit's second result (the dispatcher's part, here by hand) and its revisit task */
    assert_int_equal(pg_query(pg, "UPDATE cases SET state = 'resolved', version = version + 1 WHERE id = $1::uuid", 1,
                              pc, NULL), 0);
    open_task(cid, "420683", unit_zy, 2, tid);
    snprintf(path, sizeof path, "/v1/revisits/%s/calls", tid);
    snprintf(body, sizeof body, "{\"version\":%d,\"channel\":\"field_visit\",\"reached\":true,\"contact_confirmed\":true,"
             "\"result_true\":true,\"satisfaction\":\"very_unsatisfied\",\"enterprise_words\":\"两次都只是来看看。\","
             "\"unit_fault\":\"perfunctory\"}", task_version(tid));
    r = post(path, body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(r, "outcome")), "escalated");
    json_decref(r);
    /* escalated: complex, a tier up (county → city), the unit released, nobody holds it */
    assert_string_equal(qt("SELECT tier || ':' || complexity || ':' || coalesce(lead_unit_id::text, 'none') FROM cases "
                           "WHERE id = $1::uuid", 1, pc, v, sizeof v), "2:complex:none");
    assert_string_equal(qt("SELECT payload->>'to_tier' || ':' || (payload->>'to_region_code') || ':' || "
                           "(payload->>'reason_code') FROM case_events WHERE case_id = $1::uuid AND type = 'case.escalated'",
                           1, pc, v, sizeof v), "city:420600:unsatisfied_again");
    assert_int_equal(qs("SELECT count(*) FROM case_units WHERE case_id = $1::uuid AND released_at IS NOT NULL AND "
                        "release_reason = 'escalated'", 1, pc), 1);
    /* the unsatisfied review form (seed 004), requested of the unit, and the lead referred (枣阳) */
    assert_string_equal(qt("SELECT state || ':' || handling_rounds FROM review_forms WHERE case_id = $1::uuid", 1, pc, v,
                           sizeof v), "requested:2");
    assert_string_equal(qt("SELECT basis || ':' || state FROM discipline_referrals WHERE case_id = $1::uuid", 1, pc, v,
                           sizeof v), "perfunctory:pending");
    assert_string_equal(qt("SELECT string_agg(reason || ':' || handling_round, ',' ORDER BY id) FROM revisit_bulletin "
                           "WHERE case_id = $1::uuid", 1, pc, v, sizeof v), "unsatisfied:1,unsatisfied_again:2");
    assert_int_equal(qs("SELECT count(*) FROM case_events e JOIN outbox o USING (event_id) WHERE e.case_id = $1::uuid "
                        "AND e.type IN ('case.revisit_recorded', 'case.redo_ordered', 'case.escalated')", 1, pc), 5);
    /* the same call recorded again on the finished task: 409, nothing more written */
    r = post(path, body, &st);
    assert_int_equal(st, 409);
    json_decref(r);
    assert_int_equal(qs("SELECT count(*) FROM revisit_calls WHERE case_id = $1::uuid", 1, pc), 2);
}

/* ---- the fraud path ------------------------------------------------------------------------------------ */

/* Hands the outbox's copy of event_id to the watcher's topic, as the relay would. */
static void relay_one(const char *event_id)
{
    char key[64], err[512], *payload = NULL;
    const char *p[] = {event_id};
    PGresult *r = NULL;
    if (pg_query(pg, "SELECT msg_key, payload FROM outbox WHERE event_id = $1::uuid", 1, p, &r) != 0 || PQntuples(r) != 1)
        fail_msg("outbox row %s: %s", event_id, pg->err);
    snprintf(key, sizeof key, "%s", PQgetvalue(r, 0, 0));
    payload = strdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    while (kprod_send(prod, topic, key, strlen(key), payload, strlen(payload), NULL, err, sizeof err) != 0)
        kprod_poll(prod, 10);
    while (kprod_outq_len(prod) > 0) kprod_poll(prod, 20);
    free(payload);
}

static void test_fraud(void **state)
{
    (void)state;
    char cid[37], tid[37], c1[37], c2[37], path[128], body[1024], v[512];
    resolved_case("370481", unit_tz, cid);
    claimed_contact(cid, unit_tz, "phone", c1);
    claimed_contact(cid, unit_tz, "field_visit", c2);
    open_task(cid, "370481", unit_tz, 1, tid);
    const char *pc[] = {cid};

    snprintf(path, sizeof path, "/v1/revisits/%s/calls", tid);
    snprintf(body, sizeof body, "{\"version\":%d,\"channel\":\"phone\",\"reached\":true,\"contact_confirmed\":true,"
             "\"disputed_contact_ids\":[\"%s\"],\"result_true\":true,\"satisfaction\":\"比较满意\"}",
             task_version(tid), c2);
    int st;
    json_t *r = post(path, body, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(r, "fraud")));
    assert_string_equal(json_string_value(json_object_get(r, "outcome")), "closed");
    char call_id[37], nid[37], want[37];
    snprintf(call_id, sizeof call_id, "%s", json_string_value(json_object_get(r, "call_id")));
    json_t *note = json_object_get(r, "notice");
    assert_non_null(note);
    assert_int_equal(json_integer_value(json_object_get(note, "level")), 3); /* 滕州 has interviews */
    assert_string_equal(json_string_value(json_object_get(note, "state")), "requested");
    snprintf(nid, sizeof nid, "%s", json_string_value(json_object_get(note, "notice_id")));
    json_decref(r);
    assert_int_equal(supnotice_fraud_id(call_id, want), 0);
    assert_string_equal(nid, want);

    /* what the revisit wrote: the call, its bulletin entry, the event with the unit and the
     * disputed contact — and no notice, no supervision.issued (one issuer: the watcher) */
    const char *pk[] = {call_id};
    assert_string_equal(qt("SELECT fraud::text || ':' || contact_verified::text || ':' || disputed_contact_ids::text "
                           "FROM revisit_calls WHERE id = $1::uuid", 1, pk, v, sizeof v),
                        (snprintf(body, sizeof body, "true:false:{%s}", c2), body));
    assert_int_equal(qs("SELECT count(*) FROM revisit_bulletin WHERE call_id = $1::uuid AND reason = 'contact_fraud'", 1,
                        pk), 1);
    assert_string_equal(qt("SELECT (payload::jsonb->'payload'->>'unit_id') || ':' || "
                           "(payload::jsonb->'payload'->'disputed_contact_ids'->>0) FROM outbox WHERE event_id = $1::uuid",
                           1, pk, v, sizeof v),
                        (snprintf(body, sizeof body, "%lld:%s", unit_tz, c2), body));
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'supervision.issued' AND "
                        "payload::jsonb->>'case_id' = $1::text", 1, pc), 0);
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE case_id = $1::uuid", 1, pc), 0);
    assert_int_equal(qs("SELECT count(*) FROM discipline_referrals WHERE case_id = $1::uuid", 1, pc), 0); /* 滕州 refers none */

    /* the watcher issues it from the event */
    static char a0[160], a1[160], a2[160];
    snprintf(a0, sizeof a0, "--case-topic=%s", topic);
    snprintf(a1, sizeof a1, "--consumer-group=%s", group);
    snprintf(a2, sizeof a2, "--redis-prefix=%s", prefix);
    const char *wa[] = {a0, a1, a2, "--calendar-dir=deploy/calendar", "--instance-id=itest-revisit-watcher", NULL};
    start_daemon("deadline-watcher", wa);
    relay_one(call_id);
    const char *pn[] = {nid};
    assert_int_equal(wait_for("SELECT count(*) FROM supervision_notices WHERE id = $1::uuid", 1, pn, 1, 30), 1);
    assert_string_equal(qt("SELECT level || ':' || reason_code || ':' || unit_id || ':' || case_id || ':' || "
                           "source_event_id || ':' || contact_ids::text FROM supervision_notices WHERE id = $1::uuid",
                           1, pn, v, sizeof v),
                        (snprintf(body, sizeof body, "3:fraud:%lld:%s:%s:{%s}", unit_tz, cid, call_id, c2), body));
    assert_string_equal(qt("SELECT state || ':' || kind || ':' || (due_at = (SELECT reply_due_at FROM supervision_notices "
                           "WHERE id = $1::uuid))::text FROM timers WHERE notice_id = $1::uuid", 1, pn, v, sizeof v),
                        "armed:supervision_reply:true");
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'supervision.issued' AND "
                        "payload::jsonb->'payload'->>'notice_id' = $1::text", 1, pn), 1);

    /* delivered again: the consumer drops the copy; with its dedup row gone the notice's own
     * key holds — one notice, one announcement, one reply clock whatever happens */
    const char *pg_[] = {group, call_id};
    relay_one(call_id);
    assert_int_equal(pg_query(pg, "DELETE FROM consumed_events WHERE consumer = $1 AND event_id = $2::uuid", 2, pg_, NULL), 0);
    relay_one(call_id);
    assert_int_equal(wait_for("SELECT count(*) FROM consumed_events WHERE consumer = $1 AND event_id = $2::uuid", 2, pg_,
                              1, 30), 1);
    usleep(500000);
    assert_int_equal(qs("SELECT count(*) FROM supervision_notices WHERE id = $1::uuid OR source_event_id = "
                        "(SELECT source_event_id FROM supervision_notices WHERE id = $1::uuid)", 1, pn), 1);
    assert_int_equal(qs("SELECT count(*) FROM outbox WHERE payload::jsonb->>'type' = 'supervision.issued' AND "
                        "payload::jsonb->'payload'->>'notice_id' = $1::text", 1, pn), 1);
    assert_int_equal(qs("SELECT count(*) FROM timers WHERE notice_id = $1::uuid", 1, pn), 1);

    /* 枣阳: "nobody ever contacted us" disowns every claim; level 2 (no interviews), referred */
    char cid2[37], tid2[37], d1[37];
    resolved_case("420683", unit_zy, cid2);
    claimed_contact(cid2, unit_zy, "phone", d1);
    open_task(cid2, "420683", unit_zy, 1, tid2);
    snprintf(path, sizeof path, "/v1/revisits/%s/calls", tid2);
    snprintf(body, sizeof body, "{\"version\":%d,\"channel\":\"phone\",\"reached\":true,\"contact_confirmed\":false,"
             "\"result_true\":true,\"satisfaction\":\"满意\"}", task_version(tid2));
    r = post(path, body, &st);
    assert_int_equal(st, 200);
    char call2[37], nid2[37];
    snprintf(call2, sizeof call2, "%s", json_string_value(json_object_get(r, "call_id")));
    snprintf(nid2, sizeof nid2, "%s", json_string_value(json_object_get(json_object_get(r, "notice"), "notice_id")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "notice"), "level")), 2);
    json_decref(r);
    const char *pc2[] = {cid2};
    assert_string_equal(qt("SELECT basis FROM discipline_referrals WHERE case_id = $1::uuid", 1, pc2, v, sizeof v),
                        "contact_fraud");
    relay_one(call2);
    const char *pn2[] = {nid2};
    assert_int_equal(wait_for("SELECT count(*) FROM supervision_notices WHERE id = $1::uuid", 1, pn2, 1, 30), 1);
    assert_string_equal(qt("SELECT level || ':' || contact_ids::text FROM supervision_notices WHERE id = $1::uuid", 1, pn2,
                           v, sizeof v),
                        (snprintf(body, sizeof body, "2:{%s}", d1), body));
    stop_all();
}

int main(void)
{
    log_init("itest", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_rounds_to_escalation),
        cmocka_unit_test(test_fraud),
    };
    return cmocka_run_group_tests_name("revisit (real PostgreSQL, Redis, Kafka; a watcher for the notice)", tests, setup,
                                       teardown);
}
