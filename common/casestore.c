/*
 * casestore.c — see casestore.h.
 */
#include "casestore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "outbox.h"


const char *casestore_rc_str(casestore_rc_t rc)
{
    static const char *const names[] = {"ok", "not_found", "conflict", "bad_state", "forbidden", "db"};
    return (unsigned)rc < JS_ARRAY_LEN(names) ? names[rc] : "unknown";
}

casestore_rc_t casestore_lock(pg_t *pg, const char *case_id, int expected_version,
                              casefsm_action_t action, casefsm_role_t who, casestore_case_t *cur,
                              casefsm_state_t *to)
{
    memset(cur, 0, sizeof *cur);
    const char *p[] = {case_id};
    PGresult *r = NULL;
    if (pg_query(pg,
                 "SELECT id, case_no, state, version, region_code, coalesce(credit_code, ''), "
                 "coalesce(lead_unit_id, 0), kind FROM cases WHERE id = $1::uuid FOR UPDATE",
                 1, p, &r) != 0)
        return pg->last_class == PG_PERMANENT && !strcmp(pg->sqlstate, "22P02") /* not a uuid */
                   ? CASESTORE_NOT_FOUND
                   : CASESTORE_DB;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return CASESTORE_NOT_FOUND;
    }
    snprintf(cur->id, sizeof cur->id, "%s", PQgetvalue(r, 0, 0));
    snprintf(cur->case_no, sizeof cur->case_no, "%s", PQgetvalue(r, 0, 1));
    if (casefsm_state_from_str(PQgetvalue(r, 0, 2), &cur->state) != 0) cur->state = CASEFSM_STATE_NONE;
    cur->version = atoi(PQgetvalue(r, 0, 3));
    snprintf(cur->region_code, sizeof cur->region_code, "%s", PQgetvalue(r, 0, 4));
    snprintf(cur->credit_code, sizeof cur->credit_code, "%s", PQgetvalue(r, 0, 5));
    cur->lead_unit_id = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    snprintf(cur->kind, sizeof cur->kind, "%s", PQgetvalue(r, 0, 7));
    PQclear(r);
    if (expected_version > 0 && expected_version != cur->version) return CASESTORE_CONFLICT;
    const char *etype = NULL;
    switch (casefsm_apply(cur->state, action, who, to, &etype)) {
    case CASEFSM_OK:
        if (*to == CASEFSM_STATE_NONE) *to = cur->state;
        return CASESTORE_OK;
    case CASEFSM_FORBIDDEN:
        return CASESTORE_FORBIDDEN;
    default:
        return CASESTORE_BAD_STATE;
    }
}

static const char SQL_HISTORY[] =
    "INSERT INTO case_events (event_id, case_id, type, from_state, to_state, case_version, "
    "actor_principal_id, occurred_at, payload) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::int, "
    "$7::bigint, $8::timestamptz, $9::jsonb)";

/* Encodes the event and runs (pg) or queues (batch) its two inserts. */
static int casestore_write(pg_t *pg, pg_batch_t *batch, const event_t *ev, casefsm_state_t from,
                           casefsm_state_t to, int case_version, char *err, size_t errlen)
{
    char *env = NULL;
    if (event_encode(ev, &env, err, errlen) != 0) return -1;
    /* the history keeps the payload as jsonb; the outbox the envelope exactly as encoded */
    json_t *j = json_loads(env, 0, NULL);
    char *payload = j ? json_dumps(json_object_get(j, "payload"), JSON_COMPACT) : NULL;
    json_decref(j);
    char key[64], ver[16], actor[32];
    int rc = -1;
    if (payload == NULL || event_key(ev, key, sizeof key) != 0) {
        snprintf(err, errlen, "cannot prepare event %s", event_type_name(ev->type));
        goto out;
    }
    snprintf(ver, sizeof ver, "%d", case_version);
    snprintf(actor, sizeof actor, "%lld", (long long)ev->actor.principal_id);
    const char *ph[] = {ev->event_id,
                        ev->case_id,
                        event_type_name(ev->type),
                        from == CASEFSM_STATE_NONE ? NULL : casefsm_state_to_str(from),
                        to == CASEFSM_STATE_NONE ? NULL : casefsm_state_to_str(to),
                        case_version > 0 ? ver : NULL,
                        ev->actor.principal_id > 0 ? actor : NULL,
                        ev->occurred_at,
                        payload};
    const char *po[] = {ev->event_id, event_topic(ev), key, env};
    if (batch) {
        if (pg_batch_add(batch, SQL_HISTORY, 9, ph) != 0 || pg_batch_add(batch, OUTBOX_INSERT_SQL, 4, po) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    } else if (pg_query(pg, SQL_HISTORY, 9, ph, NULL) != 0 || pg_query(pg, OUTBOX_INSERT_SQL, 4, po, NULL) != 0) {
        snprintf(err, errlen, "%s", pg->err);
        goto out;
    }
    rc = 0;
out:
    free(payload);
    free(env);
    return rc;
}

int casestore_record(pg_t *pg, const event_t *ev, casefsm_state_t from, casefsm_state_t to,
                     int case_version, char *err, size_t errlen)
{
    return casestore_write(pg, NULL, ev, from, to, case_version, err, errlen);
}

int casestore_record_batch(pg_batch_t *b, const event_t *ev, casefsm_state_t from,
                           casefsm_state_t to, int case_version, char *err, size_t errlen)
{
    return casestore_write(NULL, b, ev, from, to, case_version, err, errlen);
}

/* ---- bulk --------------------------------------------------------------------------------- */

struct casestore_bulk {
    json_t *history, *outbox;
    size_t n;
};

casestore_bulk_t *casestore_bulk_new(void)
{
    casestore_bulk_t *cb = calloc(1, sizeof *cb);
    if (cb == NULL) return NULL;
    cb->history = json_array();
    cb->outbox = json_array();
    if (cb->history == NULL || cb->outbox == NULL) {
        casestore_bulk_free(cb);
        return NULL;
    }
    return cb;
}

void casestore_bulk_free(casestore_bulk_t *cb)
{
    if (cb == NULL) return;
    json_decref(cb->history);
    json_decref(cb->outbox);
    free(cb);
}

size_t casestore_bulk_len(const casestore_bulk_t *cb) { return cb->n; }

int casestore_bulk_add(casestore_bulk_t *cb, const event_t *ev, casefsm_state_t from,
                       casefsm_state_t to, int case_version, char *err, size_t errlen)
{
    json_t *env = NULL;
    if (event_encode_json(ev, &env, err, errlen) != 0) return -1;
    char key[64];
    char *txt = json_dumps(env, JSON_COMPACT);
    int rc = -1;
    if (txt == NULL || event_key(ev, key, sizeof key) != 0) {
        snprintf(err, errlen, "cannot prepare event %s", event_type_name(ev->type));
        goto out;
    }
    json_t *h = json_pack("{s:I,s:s,s:s,s:s,s:s?,s:s?,s:o,s:o,s:s,s:O}", "n", (json_int_t)cb->n,
                          "event_id", ev->event_id, "case_id", ev->case_id, "type",
                          event_type_name(ev->type), "from_state",
                          from == CASEFSM_STATE_NONE ? NULL : casefsm_state_to_str(from), "to_state",
                          to == CASEFSM_STATE_NONE ? NULL : casefsm_state_to_str(to), "case_version",
                          case_version > 0 ? json_integer(case_version) : json_null(), "actor",
                          ev->actor.principal_id > 0 ? json_integer(ev->actor.principal_id) : json_null(),
                          "occurred_at", ev->occurred_at, "payload", json_object_get(env, "payload"));
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s}", "n", (json_int_t)cb->n, "event_id", ev->event_id,
                          "topic", event_topic(ev), "msg_key", key, "payload", txt);
    if (h == NULL || o == NULL || json_array_append_new(cb->history, h) != 0 ||
        json_array_append_new(cb->outbox, o) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    cb->n++;
    rc = 0;
out:
    free(txt);
    json_decref(env);
    return rc;
}

int casestore_bulk_queue(casestore_bulk_t *cb, pg_batch_t *b)
{
    if (cb->n == 0) return 0;
    char *h = json_dumps(cb->history, JSON_COMPACT), *o = json_dumps(cb->outbox, JSON_COMPACT);
    int rc = -1;
    if (h && o) {
        const char *ph[] = {h}, *po[] = {o};
        rc = pg_batch_add(b,
                          "INSERT INTO case_events (event_id, case_id, type, from_state, to_state, "
                          "case_version, actor_principal_id, occurred_at, payload) SELECT x.event_id, "
                          "x.case_id, x.type, x.from_state, x.to_state, x.case_version, x.actor, "
                          "x.occurred_at, x.payload FROM json_to_recordset($1::json) AS x(n int, "
                          "event_id uuid, case_id uuid, type text, from_state text, to_state text, "
                          "case_version int, actor bigint, occurred_at timestamptz, payload jsonb) "
                          "ORDER BY x.n",
                          1, ph) == 0 &&
                     pg_batch_add(b,
                                  "INSERT INTO outbox (event_id, topic, msg_key, payload) SELECT "
                                  "x.event_id, x.topic, x.msg_key, x.payload FROM json_to_recordset("
                                  "$1::json) AS x(n int, event_id uuid, topic text, msg_key text, "
                                  "payload text) ORDER BY x.n",
                                  1, po) == 0
                 ? 0
                 : -1;
    }
    free(h);
    free(o);
    json_array_clear(cb->history);
    json_array_clear(cb->outbox);
    cb->n = 0;
    return rc;
}
