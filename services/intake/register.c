/*
 * register.c — registering appeals, with group commit.
 *
 * Handlers validate a submission and queue it; the batcher writes the queue in one
 * PostgreSQL transaction of three pipelined round trips, then answers every request:
 *   1. BEGIN; per request with an Idempotency-Key: an advisory lock on the key and the stored
 *      answer; per request: the enterprise's open (and certified-terminated) cases, for
 *      duplicate detection. Then intake decides in C: replay, outside the territory,
 *      emergency, duplicate, the agent's decision, or the agents' review queue.
 *   2. the case numbers, one block per region (case_no_block: a per-region-per-year row
 *      lock, so numbers have no gaps; taken in region order so two instances cannot deadlock).
 *   3. the cases, their attachments, their history and outbox events, the idempotency
 *      answers; COMMIT.
 * One fsync then covers the whole batch — that is how a 2-core machine registers more
 * appeals per second than it can commit single-row transactions. If the batch fails as a
 * whole, each request is retried alone, so one bad request cannot sink the others.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "casefsm.h"
#include "casestore.h"
#include "intake.h"
#include "log.h"
#include "ratelimit.h"
#include "textsim.h"

typedef enum { OUT_REVIEW = 0, OUT_ACCEPTED, OUT_REJECTED, OUT_DUPLICATE, OUT_ANSWERED } outcome_t;

typedef struct reg {
    http_req_t *req;
    appeal_t a;
    http_principal_t who;
    char idem_key[130];
    char req_sha[65];          /* hex of the body's SHA-256 */
    struct reg *leader;        /* an earlier request in this batch with the same key */
    /* decided in round 1 */
    int replay_status;         /* >0: answer with the stored response */
    json_t *replay;            /* stored response (owned) */
    int key_conflict;          /* same key, different body */
    outcome_t outcome;
    event_reject_reason_t reason;
    char reason_text[512];
    char referred[16];
    const intake_region_t *region;
    char case_id[EVENT_UUID_SIZE];
    char dup_id[EVENT_UUID_SIZE], dup_no[EVENT_CASE_NO_SIZE];
    long long dup_unit;
    double dup_score;
    textsim_sig_t *sig;
    char *sig_hex;
    json_t *hints;             /* review hints (owned) */
    json_t *suggestions;       /* policy entries for consultations (owned) */
    /* round 2 */
    char case_no[EVENT_CASE_NO_SIZE];
    char tracking[16];
    char received_at[EVENT_TIME_SIZE];
    json_t *response;          /* the answer (owned) */
    unsigned long long arrival; /* order of arrival, for numbering */
    struct reg *next;
} reg_t;

struct intake_batcher {
    intake_t *in;
    reg_t *head, *tail;
    size_t n;
    struct event *timer;
};

static void reg_free(reg_t *r)
{
    appeal_clear(&r->a);
    json_decref(r->replay);
    json_decref(r->hints);
    json_decref(r->suggestions);
    json_decref(r->response);
    textsim_sig_free(r->sig);
    free(r->sig_hex);
    free(r);
}

/* ---- helpers ----------------------------------------------------------------------------- */

void intake_actor(event_t *ev, const http_principal_t *p)
{
    ev->actor.principal_id = p ? p->id : 0;
    ev->actor.role = p == NULL ? EVENT_ROLE_SYSTEM
                     : p->role == AUTH_ROLE_ENTERPRISE ? EVENT_ROLE_ENTERPRISE
                     : p->role == AUTH_ROLE_AGENT ? EVENT_ROLE_AGENT
                     : p->role == AUTH_ROLE_CENTRE ? EVENT_ROLE_CENTRE
                     : p->role == AUTH_ROLE_SUPERVISOR ? EVENT_ROLE_SUPERVISOR
                     : p->role == AUTH_ROLE_OPERATOR ? EVENT_ROLE_OPERATOR : EVENT_ROLE_SYSTEM;
    snprintf(ev->actor.name, sizeof ev->actor.name, "%s", p && p->name[0] ? p->name : "jiesu-intake");
}

void intake_reply_db_error(http_req_t *req, pg_t *pg, const char *what)
{
    LOGE("database error", LF_STR("req", http_req_id(req)), LF_STR("during", what),
         LF_STR("sqlstate", pg->sqlstate), LF_STR("error", pg->err));
    if (pg->last_class == PG_RETRY) {
        http_reply_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "unavailable", NULL, "the case store is busy or unreachable; retry");
    } else {
        http_reply_error(req, 500, "internal", NULL, "the appeal could not be stored (request %s)",
                         http_req_id(req));
    }
}

static void hex_of(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int l = 0;
    /* fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up again on every call */
    static EVP_MD *sha256;
    if (sha256 == NULL) sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_Digest(data, len, md, &l, sha256 ? sha256 : EVP_sha256(), NULL);
    hex_of(md, 32, out);
}

/* 10 characters people can read aloud over the phone: no 0/O, 1/I/L. */
static int tracking_code_new(char out[16])
{
    static const char alphabet[] = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"; /* 31 */
    unsigned char rnd[32];
    size_t o = 0;
    while (o < 10) {
        if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
        for (size_t i = 0; i < sizeof rnd && o < 10; i++)
            if (rnd[i] < 248) out[o++] = alphabet[rnd[i] % 31]; /* 248 = 8 × 31: no bias */
    }
    out[10] = '\0';
    return 0;
}

static const char *outcome_name(outcome_t o)
{
    static const char *const n[] = {"awaiting_review", "accepted", "rejected", "duplicate", "answered"};
    return n[o];
}

/* ---- round 1: decide ----------------------------------------------------------------------- */

/* Whether r's submitter may learn of a case in this region (a duplicate's answer names the
 * original): an agent within its jurisdiction; an enterprise always (its own credit code). */
static int may_know(const reg_t *r, const char *region)
{
    return r->who.role != AUTH_ROLE_AGENT || auth_region_covers(r->who.region_code, region);
}

static void decide(intake_t *in, reg_t *r, PGresult *cands, reg_t *earlier)
{
    appeal_t *a = &r->a;
    const intake_region_t *root = intake_regions_root(in->regions);
    r->region = intake_regions_find(in->regions, a->region_code);
    if (r->region == NULL) { /* outside this deployment: refused, pointed to the tier above */
        r->region = root;
        r->outcome = OUT_REJECTED;
        r->reason = EVENT_REJECT_OUTSIDE_REGION;
        snprintf(r->referred, sizeof r->referred, "%s", a->region_code);
        snprintf(r->reason_text, sizeof r->reason_text,
                 "所在地区（%s）不属于本平台（%s）受理范围，已告知向所在地或上级平台反映。",
                 a->region_code, root ? root->name : "");
        metric_inc(in->m_rejected_auto);
        return;
    }
    if (a->emergency) {
        r->outcome = OUT_REJECTED;
        r->reason = EVENT_REJECT_EMERGENCY_110_119_120_122;
        snprintf(r->reason_text, sizeof r->reason_text,
                 "属于紧急事项，请立即拨打110（治安）、119（火警）、120（急救）或122（交通事故）。");
        metric_inc(in->m_rejected_auto);
        return;
    }
    /* duplicates: the same enterprise, a similar matter, still open (or earlier in this batch) */
    double threshold = (double)in->cfg->duplicate_pct / 100.0;
    double best = 0;
    for (int i = 0; cands && i < PQntuples(cands); i++) {
        if (strcmp(PQgetvalue(cands, i, 0), a->credit_code) != 0) continue; /* another enterprise's */
        if (!may_know(r, PQgetvalue(cands, i, 7))) continue;
        textsim_sig_t *s = NULL;
        if (textsim_sig_decode(PQgetvalue(cands, i, 3), &s) != 0) continue;
        double sc = textsim_similarity(r->sig, s);
        textsim_sig_free(s);
        int terminated = PQgetvalue(cands, i, 5)[0] == 't';
        const char *state = PQgetvalue(cands, i, 6);
        int open = strcmp(state, "closed") && strcmp(state, "archived") && strcmp(state, "rejected") &&
                   strcmp(state, "duplicate");
        if (sc < threshold) continue;
        if (open && sc > best) {
            best = sc;
            snprintf(r->dup_id, sizeof r->dup_id, "%s", PQgetvalue(cands, i, 1));
            snprintf(r->dup_no, sizeof r->dup_no, "%s", PQgetvalue(cands, i, 2));
            r->dup_unit = strtoll(PQgetvalue(cands, i, 4), NULL, 10);
        } else if (terminated) {
            if (r->hints == NULL) r->hints = json_object();
            json_object_set_new(r->hints, "similar_terminated_case",
                                json_pack("{s:s,s:s,s:f,s:s}", "case_id", PQgetvalue(cands, i, 1),
                                          "case_no", PQgetvalue(cands, i, 2), "score", sc,
                                          "suggestion", "concluded_no_new_facts"));
        }
    }
    for (reg_t *e = earlier; e && e != r; e = e->next) {
        if (e->replay_status || e->leader || e->outcome == OUT_REJECTED || e->outcome == OUT_DUPLICATE ||
            strcmp(e->a.credit_code, a->credit_code) != 0 || !may_know(r, e->a.region_code))
            continue;
        double sc = textsim_similarity(r->sig, e->sig);
        if (sc >= threshold && sc > best) {
            best = sc;
            snprintf(r->dup_id, sizeof r->dup_id, "%s", e->case_id);
            r->dup_no[0] = '\0'; /* known after round 2 */
            r->dup_unit = 0;
        }
    }
    if (best > 0) {
        r->outcome = OUT_DUPLICATE;
        r->dup_score = best;
        metric_inc(in->m_duplicates);
        return;
    }
    switch (a->decision) {
    case DECIDE_ACCEPT: r->outcome = OUT_ACCEPTED; break;
    case DECIDE_REJECT:
        r->outcome = OUT_REJECTED;
        r->reason = a->reason_code;
        snprintf(r->reason_text, sizeof r->reason_text, "%s", a->reason_text);
        break;
    case DECIDE_ANSWER: r->outcome = OUT_ANSWERED; break;
    default: r->outcome = OUT_REVIEW; break;
    }
    if (r->outcome == OUT_REVIEW && (a->kind == EVENT_KIND_CONSULTATION || a->kind == EVENT_KIND_HELP)) {
        char *text = NULL;
        if (asprintf(&text, "%s\n%s", a->summary, a->body) > 0) {
            r->suggestions = intake_policies_match(in->policies, text, r->region->code, 3, 0.2);
            free(text);
        }
        if (r->suggestions && json_array_size(r->suggestions) > 0) {
            if (r->hints == NULL) r->hints = json_object();
            json_t *ids = json_array();
            size_t i;
            json_t *it;
            json_array_foreach(r->suggestions, i, it) json_array_append(ids, json_object_get(it, "id"));
            json_object_set_new(r->hints, "policy_entries", ids);
        }
    }
}

/* ---- the answer ------------------------------------------------------------------------------ */

static json_t *build_response(reg_t *r)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "case_id", r->case_id, "case_no", r->case_no,
                          "tracking_code", r->tracking, "received_at", r->received_at, "outcome",
                          outcome_name(r->outcome), "state",
                          r->outcome == OUT_REVIEW     ? "received"
                          : r->outcome == OUT_ACCEPTED ? "accepted"
                          : r->outcome == OUT_REJECTED ? "rejected"
                          : r->outcome == OUT_DUPLICATE ? "duplicate"
                                                        : "resolved");
    if (o == NULL) return NULL;
    switch (r->outcome) {
    case OUT_REVIEW:
        json_object_set_new(o, "message", json_string("您的诉求已登记，正在审核是否受理。请凭诉求编号和查询码查询办理进度。"));
        break;
    case OUT_ACCEPTED:
        json_object_set_new(o, "message", json_string("您的诉求已受理，将转交责任单位办理。"));
        break;
    case OUT_REJECTED:
        json_object_set_new(o, "reason_code", json_string(intake_enum_str(EVENT_CASE_REJECTED, "reason_code", (int)r->reason)));
        json_object_set_new(o, "message", json_string(r->reason_text));
        if (r->referred[0]) json_object_set_new(o, "referred_to_region_code", json_string(r->referred));
        break;
    case OUT_DUPLICATE:
        json_object_set_new(o, "duplicate_of", json_pack("{s:s,s:s}", "case_id", r->dup_id, "case_no", r->dup_no));
        json_object_set_new(o, "message", json_string("您反映的问题已在办理中，本次材料已并入原诉求一并办理，不另行计件。"));
        break;
    case OUT_ANSWERED:
        json_object_set_new(o, "answer", json_string(r->a.answer_summary));
        json_object_set_new(o, "message", json_string("您的咨询已当场答复。"));
        break;
    }
    if (r->suggestions && json_array_size(r->suggestions))
        json_object_set(o, "policy_suggestions", r->suggestions);
    return o;
}

/* ---- round 3: the writes ----------------------------------------------------------------------- */

/* What one batch writes. The cases, their history and their outbox events are the bulk of it
 * and go in with COPY (text rows built here: the server parses no JSON document, and
 * case_events and outbox take multi-row inserts); the rare rest (attachments, the
 * originals a duplicate's material goes to, idempotency answers) as JSON documents, each one
 * bulk statement (json_to_recordset). */
typedef struct {
    pg_copy_t cases, history, outbox;
    json_t *attachments, *keys, *originals;
} writes_t;

static void writes_free(writes_t *w)
{
    pg_copy_free(&w->cases);
    pg_copy_free(&w->history);
    pg_copy_free(&w->outbox);
    json_decref(w->attachments);
    json_decref(w->keys);
    json_decref(w->originals);
}

static int writes_init(writes_t *w)
{
    w->attachments = json_array();
    w->keys = json_array();
    w->originals = json_array();
    return w->attachments && w->keys && w->originals ? 0 : -1;
}

/* One event: its case_events row and its outbox row, as casestore_bulk_add writes them
 * (the envelope is the outbox payload, its payload object the history's). Rows go in in the
 * order added, so ids follow it. */
static int add_event(writes_t *w, const event_t *ev, casefsm_state_t from, casefsm_state_t to,
                     int case_version, char *err, size_t errlen)
{
    json_t *env = NULL;
    if (event_encode_json(ev, &env, err, errlen) != 0) return -1;
    char key[64];
    /* the payload is dumped once: alone for the history, and spliced in as the envelope's
     * last member for the outbox (the same text json_dumps gives for the whole envelope,
     * since members keep their order and the payload is the last) */
    json_t *payload = json_incref(json_object_get(env, "payload"));
    char *pl = json_dumps(payload, JSON_COMPACT), *txt = NULL;
    if (payload && json_object_del(env, "payload") == 0) {
        char *head = json_dumps(env, JSON_COMPACT);
        size_t hl = head ? strlen(head) : 0;
        if (head && pl && hl >= 2 && head[hl - 1] == '}' &&
            asprintf(&txt, "%.*s%s\"payload\":%s}", (int)(hl - 1), head, hl > 2 ? "," : "", pl) < 0)
            txt = NULL;
        free(head);
    }
    json_decref(payload);
    int rc = -1;
    if (txt == NULL || pl == NULL || event_key(ev, key, sizeof key) != 0) {
        snprintf(err, errlen, "cannot prepare event %s", event_type_name(ev->type));
        goto out;
    }
    pg_copy_t *h = &w->history;
    pg_copy_str(h, ev->event_id);
    pg_copy_str(h, ev->case_id);
    pg_copy_str(h, event_type_name(ev->type));
    pg_copy_str(h, from == CASEFSM_STATE_NONE ? NULL : casefsm_state_to_str(from));
    pg_copy_str(h, to == CASEFSM_STATE_NONE ? NULL : casefsm_state_to_str(to));
    if (case_version > 0) pg_copy_int(h, case_version);
    else pg_copy_str(h, NULL);
    if (ev->actor.principal_id > 0) pg_copy_int(h, ev->actor.principal_id);
    else pg_copy_str(h, NULL);
    pg_copy_str(h, ev->occurred_at);
    pg_copy_str(h, pl);
    pg_copy_row_end(h);
    pg_copy_t *o = &w->outbox;
    pg_copy_str(o, ev->event_id);
    pg_copy_str(o, event_topic(ev));
    pg_copy_str(o, key);
    pg_copy_str(o, txt);
    pg_copy_row_end(o);
    rc = h->oom || o->oom ? -1 : 0;
    if (rc != 0) snprintf(err, errlen, "out of memory");
out:
    free(txt);
    free(pl);
    json_decref(env);
    return rc;
}

#define SQL_COPY_HISTORY                                                                       \
    "COPY case_events (event_id, case_id, type, from_state, to_state, case_version, "          \
    "actor_principal_id, occurred_at, payload) FROM STDIN"
#define SQL_COPY_OUTBOX "COPY outbox (event_id, topic, msg_key, payload) FROM STDIN"

static int add_events(writes_t *w, reg_t *r, char *err, size_t errlen)
{
    event_t ev;
    if (event_init(&ev, EVENT_CASE_RECEIVED) != 0) return -1;
    snprintf(ev.case_id, sizeof ev.case_id, "%s", r->case_id);
    snprintf(ev.occurred_at, sizeof ev.occurred_at, "%s", r->received_at);
    intake_actor(&ev, &r->who);
    event_case_received_t *p = &ev.payload.case_received;
    snprintf(p->case_no, sizeof p->case_no, "%s", r->case_no);
    snprintf(p->region_code, sizeof p->region_code, "%.12s", r->region->code);
    p->kind = r->a.kind;
    p->channel = r->a.channel;
    p->enterprise.name = r->a.enterprise_name; /* borrowed: ev is never cleared */
    snprintf(p->enterprise.credit_code, sizeof p->enterprise.credit_code, "%.18s", r->a.credit_code);
    p->summary = r->a.summary;
    p->confidential = r->a.confidential;
    snprintf(p->received_at, sizeof p->received_at, "%s", r->received_at);
    if (add_event(w, &ev, CASEFSM_STATE_NONE, CASEFSM_STATE_RECEIVED, 1, err, errlen) != 0)
        return -1;
    if (r->outcome == OUT_REVIEW) return 0;

    event_type_t t = r->outcome == OUT_ACCEPTED ? EVENT_CASE_ACCEPTED
                     : r->outcome == OUT_REJECTED ? EVENT_CASE_REJECTED
                     : r->outcome == OUT_DUPLICATE ? EVENT_CASE_DUPLICATE : EVENT_CASE_ANSWERED;
    if (event_init(&ev, t) != 0) return -1;
    snprintf(ev.case_id, sizeof ev.case_id, "%s", r->case_id);
    /* intake itself decided what was certain (territory, emergency, duplicate) */
    intake_actor(&ev, (r->outcome == OUT_REJECTED && r->a.decision != DECIDE_REJECT) ||
                          r->outcome == OUT_DUPLICATE ? NULL : &r->who);
    casefsm_state_t to = CASEFSM_STATE_ACCEPTED;
    switch (r->outcome) {
    case OUT_ACCEPTED:
        ev.payload.case_accepted.complexity = r->a.complexity ? r->a.complexity : EVENT_COMPLEXITY_GENERAL;
        ev.payload.case_accepted.matter_type = r->a.matter_type;
        ev.payload.case_accepted.review_note = r->a.note;
        break;
    case OUT_REJECTED:
        to = CASEFSM_STATE_REJECTED;
        ev.payload.case_rejected.reason_code = r->reason;
        ev.payload.case_rejected.reason_text = r->reason_text;
        snprintf(ev.payload.case_rejected.referred_to_region_code,
                 sizeof ev.payload.case_rejected.referred_to_region_code, "%.12s", r->referred);
        break;
    case OUT_DUPLICATE:
        to = CASEFSM_STATE_DUPLICATE;
        snprintf(ev.payload.case_duplicate.original_case_id, EVENT_UUID_SIZE, "%s", r->dup_id);
        snprintf(ev.payload.case_duplicate.original_case_no, EVENT_CASE_NO_SIZE, "%s", r->dup_no);
        ev.payload.case_duplicate.basis = EVENT_DUPLICATE_SAME_MATTER_OPEN;
        ev.payload.case_duplicate.forwarded_to_unit_id = r->dup_unit;
        break;
    case OUT_ANSWERED:
        to = CASEFSM_STATE_RESOLVED;
        ev.payload.case_answered.answer_summary = r->a.answer_summary;
        ev.payload.case_answered.how_told = r->a.how_told;
        break;
    case OUT_REVIEW:
        break;
    }
    if (add_event(w, &ev, CASEFSM_STATE_RECEIVED, to, 2, err, errlen) != 0) return -1;

    /* a duplicate's material goes to the open case it repeats (locked before its event) */
    if (r->outcome == OUT_DUPLICATE && r->a.attachments.n > 0) {
        if (event_init(&ev, EVENT_CASE_MATERIAL_ADDED) != 0) return -1;
        snprintf(ev.case_id, sizeof ev.case_id, "%s", r->dup_id);
        intake_actor(&ev, NULL);
        event_case_material_added_t *m = &ev.payload.case_material_added;
        if (event_uuid_new(m->material_id) != 0) return -1;
        m->source = EVENT_MATERIAL_ENTERPRISE;
        m->attachment_ids.items = calloc(r->a.attachments.n, EVENT_UUID_SIZE);
        if (m->attachment_ids.items == NULL) return -1;
        m->attachment_ids.n = r->a.attachments.n;
        for (size_t i = 0; i < r->a.attachments.n; i++)
            memcpy(m->attachment_ids.items[i], r->a.attachments.items[i].uid, EVENT_UUID_SIZE);
        snprintf(m->duplicate_case_id, sizeof m->duplicate_case_id, "%s", r->case_id);
        int rc = add_event(w, &ev, CASEFSM_STATE_NONE, CASEFSM_STATE_NONE, 0, err, errlen);
        free(m->attachment_ids.items);
        if (rc != 0) return -1;
    }
    return 0;
}

#define SQL_COPY_CASES                                                                         \
    "COPY cases (id, case_no, tracking_code_hash, region_code, tier, state, version, kind, "     \
    "complexity, channel, enterprise_name, credit_code, address, contact_name, contact_phone, "  \
    "summary, body, confidential, duplicate_of, reject_reason, received_at, closed_at, text_sig, " \
    "submitted_by, review_hints) FROM STDIN"

static int add_case(writes_t *w, reg_t *r, char *err, size_t errlen)
{
    char hash[65];
    sha256_hex(r->tracking, strlen(r->tracking), hash);
    const char *state = r->outcome == OUT_REVIEW     ? "received"
                        : r->outcome == OUT_ACCEPTED ? "accepted"
                        : r->outcome == OUT_REJECTED ? "rejected"
                        : r->outcome == OUT_DUPLICATE ? "duplicate" : "resolved";
    const char *complexity = intake_enum_str(EVENT_CASE_ACCEPTED, "complexity",
                                             r->a.complexity ? (int)r->a.complexity : (int)EVENT_COMPLEXITY_GENERAL);
    char th[67] = "\\x"; /* bytea in hex form */
    memcpy(th + 2, hash, 65);
    char *hints = r->hints ? json_dumps(r->hints, JSON_COMPACT) : NULL;
    if (r->hints && hints == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int closed = r->outcome == OUT_REJECTED || r->outcome == OUT_DUPLICATE;
    pg_copy_t *c = &w->cases;
    pg_copy_str(c, r->case_id);
    pg_copy_str(c, r->case_no);
    pg_copy_str(c, th);
    pg_copy_str(c, r->region->code);
    pg_copy_int(c, r->region->tier);
    pg_copy_str(c, state);
    pg_copy_int(c, r->outcome == OUT_REVIEW ? 1 : 2);
    pg_copy_str(c, r->a.kind_str);
    pg_copy_str(c, complexity);
    pg_copy_str(c, r->a.channel_str);
    pg_copy_str(c, r->a.enterprise_name);
    pg_copy_str(c, r->a.credit_code);
    pg_copy_str(c, r->a.address);
    pg_copy_str(c, r->a.contact_name);
    pg_copy_str(c, r->a.contact_phone);
    pg_copy_str(c, r->a.summary);
    pg_copy_str(c, r->a.body);
    pg_copy_bool(c, r->a.confidential);
    pg_copy_str(c, r->outcome == OUT_DUPLICATE ? r->dup_id : NULL);
    pg_copy_str(c, r->outcome == OUT_REJECTED ? intake_enum_str(EVENT_CASE_REJECTED, "reason_code", (int)r->reason) : NULL);
    pg_copy_str(c, r->received_at);
    pg_copy_str(c, closed ? r->received_at : NULL);
    pg_copy_str(c, r->sig_hex);
    pg_copy_int(c, r->who.id);
    pg_copy_str(c, hints);
    pg_copy_row_end(c);
    free(hints);
    if (c->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->a.attachments.n; i++) {
        if (event_uuid_new(r->a.attachments.items[i].uid) != 0) return -1;
        json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:I,s:s}", "case_id", r->case_id, "sha", r->a.attachments.items[i].sha256,
                              "file_name", r->a.attachments.items[i].file_name, "media_type", r->a.attachments.items[i].media_type,
                              "size", (json_int_t)r->a.attachments.items[i].size, "storage_key", r->a.attachments.items[i].storage_key,
                              "by", (json_int_t)r->who.id, "uid", r->a.attachments.items[i].uid);
        if (a == NULL || json_array_append_new(w->attachments, a) != 0) return -1;
    }
    return add_events(w, r, err, errlen);
}

/* The stored answer of a request that carried an Idempotency-Key (once its number is known). */
static int add_key(writes_t *w, reg_t *r)
{
    if (r->idem_key[0] == '\0') return 0;
    json_t *k = json_pack("{s:I,s:s,s:s,s:s,s:O}", "p", (json_int_t)r->who.id, "k", r->idem_key, "sha", r->req_sha,
                          "case_id", r->case_id, "response", r->response);
    return k != NULL && json_array_append_new(w->keys, k) == 0 ? 0 : -1;
}

/* ---- late case numbers ---------------------------------------------------------------------
 * The case numbers are row locks (case_seq) held until COMMIT, so every instance waits for the
 * one holding them: the less work done while holding them, the more batches per second. So
 * the rows are built before the numbers are taken, each case carrying a placeholder number
 * ("Q" + a random per-batch token + "-" + its index in region order: a valid case number that
 * no appeal text can predict), and the real numbers replace the placeholders in the COPY text
 * once they arrive — one pass over the buffers instead of building them under the lock. */
#define PLACEHOLDER_TOKEN 12

static int placeholder_prefix(char out[PLACEHOLDER_TOKEN + 3])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"; /* 36 */
    unsigned char rnd[64];
    size_t o = 1;
    out[0] = 'Q';
    while (o < PLACEHOLDER_TOKEN + 1) {
        if (RAND_bytes(rnd, sizeof rnd) != 1) return -1;
        for (size_t i = 0; i < sizeof rnd && o < PLACEHOLDER_TOKEN + 1; i++)
            if (rnd[i] < 252) out[o++] = alphabet[rnd[i] % 36]; /* 252 = 7 × 36: no bias */
    }
    out[PLACEHOLDER_TOKEN + 1] = '-';
    out[PLACEHOLDER_TOKEN + 2] = '\0';
    return 0;
}

/* The index a placeholder stands for, or -1 if s (of length n at least) does not start with one. */
static long placeholder_index(const char *s, size_t n, const char *prefix, size_t nc)
{
    size_t pl = strlen(prefix);
    if (n < pl + 6 || memcmp(s, prefix, pl) != 0) return -1;
    long idx = 0;
    for (size_t i = pl; i < pl + 6; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        idx = idx * 10 + (s[i] - '0');
    }
    return (size_t)idx < nc ? idx : -1;
}

/* Rewrites c with every placeholder replaced by the number of order[index]. */
static int placeholders_replace(pg_copy_t *c, const char *prefix, reg_t **order, size_t nc)
{
    pg_copy_t out = {0};
    size_t pl = strlen(prefix), at = 0;
    while (at < c->len) {
        const char *hit = memmem(c->s + at, c->len - at, prefix, pl);
        size_t upto = hit ? (size_t)(hit - c->s) : c->len;
        /* raw bytes: the buffer is already COPY text */
        pg_copy_t *o = &out;
        if (o->len + (upto - at) + 64 > o->cap) {
            size_t cap = o->cap ? o->cap : 16384;
            while (cap < o->len + (upto - at) + 64) cap *= 2;
            char *p = realloc(o->s, cap);
            if (p == NULL) {
                pg_copy_free(&out);
                return -1;
            }
            o->s = p;
            o->cap = cap;
        }
        memcpy(o->s + o->len, c->s + at, upto - at);
        o->len += upto - at;
        at = upto;
        if (hit == NULL) break;
        long idx = placeholder_index(hit, c->len - at, prefix, nc);
        if (idx < 0) { /* not one of ours after all: keep the byte and look further */
            o->s[o->len++] = c->s[at++];
            continue;
        }
        size_t nl = strlen(order[idx]->case_no);
        memcpy(o->s + o->len, order[idx]->case_no, nl); /* nl < EVENT_CASE_NO_SIZE < 64 */
        o->len += nl;
        at += pl + 6;
    }
    if (out.s) out.s[out.len] = '\0';
    out.rows = c->rows;
    free(c->s);
    *c = out;
    return 0;
}

/* Queues a bulk statement whose only parameter is the JSON document doc (if not empty). */
static int queue_doc(pg_batch_t *b, const char *sql, json_t *doc)
{
    if (json_array_size(doc) == 0) return 0;
    char *txt = json_dumps(doc, JSON_COMPACT);
    const char *p[] = {txt};
    int rc = txt ? pg_batch_add(b, sql, 1, p) : -1;
    free(txt);
    return rc;
}

/* The blocks of case numbers of a batch, one per region and year ({r, y, k} in region order), in
 * one statement: what case_no_block (0011) does per region, without a SQL-function call per
 * region. The rows are inserted in region order, so the case_seq row locks are taken in that
 * order (two instances cannot deadlock); numbers are gap-free (a rollback returns the block);
 * the numbers come back in region order, then ascending. */
static const char SQL_CASE_NO_BLOCKS[] =
    "WITH x AS (SELECT * FROM json_to_recordset($1::json) AS x(r text, y int, k int)), "
    "s AS (INSERT INTO case_seq AS s (region_code, year, last_no) SELECT r, y, k FROM x ORDER BY r, y "
    "ON CONFLICT (region_code, year) DO UPDATE SET last_no = s.last_no + excluded.last_no "
    "RETURNING region_code, year, last_no) "
    "SELECT format('%s-%s-%s', s.region_code, s.year, lpad(n::text, 6, '0')) FROM s "
    "JOIN x ON x.r = s.region_code AND x.y = s.year "
    "CROSS JOIN LATERAL generate_series(s.last_no - x.k + 1, s.last_no) AS n ORDER BY s.region_code, s.year, n";

/* ---- one transaction for a list of registrations -------------------------------------------- */

static int reg_cmp_region(const void *x, const void *y)
{
    const reg_t *a = *(reg_t *const *)x, *b = *(reg_t *const *)y;
    int c = strcmp(a->region ? a->region->code : "", b->region ? b->region->code : "");
    if (c == 0) c = strcmp(a->received_at, b->received_at); /* year, then arrival */
    if (c == 0) c = a->arrival < b->arrival ? -1 : a->arrival > b->arrival;
    return c;
}

/* Rounds 2 and 3 continue round 1's transaction: on a lost (or reconnected) session they must
 * not run at all — numbers would be reserved, or rows written, outside it. */
static int in_transaction(pg_t *pg)
{
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK && PQtransactionStatus(pg->conn) == PQTRANS_INTRANS) return 1;
    snprintf(pg->err, sizeof pg->err, "the registration transaction was lost");
    pg->last_class = PG_RETRY;
    return 0;
}

static int reg_creates(const reg_t *r) { return !r->replay_status && !r->key_conflict && !r->leader; }

/* 0 committed; -1 failed (rolled back; pg->err says why). */
static int write_batch(intake_t *in, reg_t *list, size_t n)
{
    pg_t *pg = in->pg;
    pg_batch_t *b = pg_batch_new();
    reg_t **order = calloc(n, sizeof *order);
    json_t *keys = json_array(), *locks = json_array(), *credits = json_array(), *nums = json_array();
    writes_t w = {0};
    PGresult *res[3] = {NULL, NULL, NULL};
    int rc = -1;
    char err[512] = "";
    struct timespec ta, tb, tc, td, te;
    if (!b || !order || !keys || !locks || !credits || !nums || writes_init(&w) != 0) goto out;

    /* round 1: BEGIN; key locks (in key order: no deadlock between instances) and stored
     * answers; the enterprises' open and terminated cases, for duplicate detection */
    for (reg_t *r = list; r; r = r->next) {
        json_array_append_new(credits, json_string(r->a.credit_code));
        if (r->idem_key[0] && !r->leader) {
            char lock[200];
            snprintf(lock, sizeof lock, "%lld:%s", r->who.id, r->idem_key);
            json_array_append_new(locks, json_string(lock));
            json_array_append_new(keys, json_pack("{s:I,s:s}", "p", (json_int_t)r->who.id, "k", r->idem_key));
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &ta);
    int has_keys = json_array_size(keys) > 0;
    if (pg_batch_add(b, "BEGIN", 0, NULL) != 0 ||
        (has_keys &&
         (queue_doc(b, "SELECT pg_advisory_xact_lock(hashtextextended(k, 727)) FROM "
                       "(SELECT DISTINCT json_array_elements_text($1::json) AS k) q ORDER BY k", locks) != 0 ||
          queue_doc(b, "SELECT i.principal_id, i.idem_key, i.status, i.response::text, "
                       "encode(i.request_sha256, 'hex') FROM idempotency_keys i JOIN json_to_recordset($1::json) "
                       "AS x(p bigint, k text) ON i.principal_id = x.p AND i.idem_key = x.k", keys) != 0)) ||
        queue_doc(b, "SELECT c.credit_code, c.id, c.case_no, c.text_sig, coalesce(c.lead_unit_id, 0), "
                     "c.terminated, c.state, c.region_code FROM (SELECT DISTINCT json_array_elements_text($1::json) AS cc) q "
                     "CROSS JOIN LATERAL (SELECT * FROM cases WHERE credit_code = q.cc AND text_sig IS NOT NULL "
                     "AND (closed_at IS NULL OR terminated) ORDER BY received_at DESC LIMIT 50) c", credits) != 0)
        goto out;
    PGresult *r1[4] = {NULL, NULL, NULL, NULL};
    if (pg_batch_run(pg, b, r1) != 0) { /* a failed batch rolls the transaction back */
        for (int i = 0; i < 4; i++) PQclear(r1[i]);
        goto out;
    }
    PGresult *stored = has_keys ? r1[2] : NULL, *cands = has_keys ? r1[3] : r1[1];
    for (reg_t *r = list; r; r = r->next) {
        for (int i = 0; stored && i < PQntuples(stored) && r->idem_key[0] && !r->leader; i++) {
            if (strtoll(PQgetvalue(stored, i, 0), NULL, 10) != r->who.id || strcmp(PQgetvalue(stored, i, 1), r->idem_key))
                continue;
            if (strcmp(PQgetvalue(stored, i, 4), r->req_sha) == 0) {
                r->replay_status = atoi(PQgetvalue(stored, i, 2));
                r->replay = json_loads(PQgetvalue(stored, i, 3), 0, NULL);
            } else {
                r->key_conflict = 1;
            }
        }
        if (reg_creates(r)) {
            if (event_uuid_new(r->case_id) != 0) break;
            decide(in, r, cands, list);
        }
    }
    for (int i = 0; i < 4; i++) PQclear(r1[i]);
    for (reg_t *r = list; r; r = r->next)
        if (reg_creates(r) && (r->case_id[0] == '\0' || r->region == NULL)) {
            snprintf(pg->err, sizeof pg->err, "%s", r->region ? "out of random numbers" : "the territory is empty: load regions first");
            pg->last_class = PG_RETRY;
            goto rollback;
        }

    /* the rows, built before the numbers are taken (see "late case numbers") */
    clock_gettime(CLOCK_MONOTONIC, &tb);
    size_t nc = 0;
    for (reg_t *r = list; r; r = r->next)
        if (reg_creates(r)) order[nc++] = r;
    qsort(order, nc, sizeof *order, reg_cmp_region);
    char prefix[PLACEHOLDER_TOKEN + 3];
    if (placeholder_prefix(prefix) != 0) {
        snprintf(pg->err, sizeof pg->err, "out of random numbers");
        pg->last_class = PG_RETRY;
        goto rollback;
    }
    for (size_t i = 0; i < nc; i++) /* nc <= batch_max <= 10000: six digits */
        snprintf(order[i]->case_no, sizeof order[i]->case_no, "%s%06u", prefix, (unsigned)(i % 1000000));
    /* duplicates of an earlier request of this batch take its (placeholder) number */
    for (reg_t *r = list; r; r = r->next)
        if (reg_creates(r) && r->outcome == OUT_DUPLICATE && r->dup_no[0] == '\0')
            for (reg_t *e = list; e; e = e->next)
                if (!strcmp(e->case_id, r->dup_id)) snprintf(r->dup_no, sizeof r->dup_no, "%s", e->case_no);
    for (reg_t *r = list; r; r = r->next) {
        if (!reg_creates(r)) continue;
        if (tracking_code_new(r->tracking) != 0 || add_case(&w, r, err, sizeof err) != 0) {
            snprintf(pg->err, sizeof pg->err, "cannot prepare case %s: %.400s", r->case_no, err);
            pg->last_class = PG_PERMANENT;
            goto rollback;
        }
    }

    /* round 2: case numbers, in region order (row locks on case_seq) */
    clock_gettime(CLOCK_MONOTONIC, &tc);
    /* one block of numbers per region: {r, y, k} in region order */
    for (size_t i = 0; i < nc;) {
        size_t j = i;
        while (j < nc && !strcmp(order[j]->region->code, order[i]->region->code) &&
               !strncmp(order[j]->received_at, order[i]->received_at, 4))
            j++;
        json_array_append_new(nums, json_pack("{s:s,s:i,s:I}", "r", order[i]->region->code, "y",
                                              atoi(order[i]->received_at), "k", (json_int_t)(j - i)));
        i = j;
    }
    /* the open cases a duplicate's material goes to, locked after the numbers (always in that
     * order, so two instances cannot deadlock) and before their events are appended */
    for (reg_t *r = list; r; r = r->next)
        if (reg_creates(r) && r->outcome == OUT_DUPLICATE && r->a.attachments.n > 0)
            json_array_append_new(w.originals, json_string(r->dup_id));
    if (nc > 0) {
        if (queue_doc(b, SQL_CASE_NO_BLOCKS, nums) != 0 ||
            queue_doc(b, "SELECT id FROM cases WHERE id IN (SELECT json_array_elements_text($1::json)::uuid) "
                         "ORDER BY id FOR UPDATE", w.originals) != 0)
            goto rollback;
        if (!in_transaction(pg) || pg_batch_run(pg, b, res) != 0) goto out;
        if ((size_t)PQntuples(res[0]) != nc) {
            snprintf(pg->err, sizeof pg->err, "case numbering returned %d numbers for %zu cases", PQntuples(res[0]), nc);
            pg->last_class = PG_PERMANENT;
            goto rollback;
        }
        for (size_t i = 0; i < nc; i++) {
            const char *no = PQgetvalue(res[0], (int)i, 0);
            if (strlen(no) >= sizeof order[i]->case_no) {
                snprintf(pg->err, sizeof pg->err, "case number too long: %.80s", no);
                pg->last_class = PG_PERMANENT;
                goto rollback;
            }
            snprintf(order[i]->case_no, sizeof order[i]->case_no, "%s", no);
        }
        PQclear(res[0]);
        res[0] = NULL;
    }
    /* the real numbers in place of the placeholders: the rows, in-batch duplicates' links */
    if (placeholders_replace(&w.cases, prefix, order, nc) != 0 ||
        placeholders_replace(&w.history, prefix, order, nc) != 0 ||
        placeholders_replace(&w.outbox, prefix, order, nc) != 0) {
        snprintf(pg->err, sizeof pg->err, "out of memory");
        pg->last_class = PG_RETRY;
        goto rollback;
    }
    for (reg_t *r = list; r; r = r->next) {
        if (!reg_creates(r)) continue;
        long idx = placeholder_index(r->dup_no, strlen(r->dup_no), prefix, nc);
        if (idx >= 0) snprintf(r->dup_no, sizeof r->dup_no, "%s", order[idx]->case_no);
        if ((r->response = build_response(r)) == NULL || add_key(&w, r) != 0) {
            snprintf(pg->err, sizeof pg->err, "cannot prepare the answer of case %s", r->case_no);
            pg->last_class = PG_PERMANENT;
            goto rollback;
        }
    }

    /* round 3: the writes, then COMMIT */
    clock_gettime(CLOCK_MONOTONIC, &td);
    /* the cases, their history and outbox events by COPY; then the rest and COMMIT (in the
     * same script when there is no rest) */
    int rest = json_array_size(w.attachments) > 0 || json_array_size(w.keys) > 0;
    pg_copy_t *bufs[] = {&w.cases, &w.history, &w.outbox};
    const char *script = rest ? SQL_COPY_CASES "; " SQL_COPY_HISTORY "; " SQL_COPY_OUTBOX
                              : SQL_COPY_CASES "; " SQL_COPY_HISTORY "; " SQL_COPY_OUTBOX "; COMMIT";
    if (rest &&
        (queue_doc(b, "INSERT INTO case_attachments (case_id, sha256, file_name, media_type, size_bytes, storage_key, "
                      "uploaded_by, uid) SELECT x.case_id, decode(x.sha, 'hex'), x.file_name, x.media_type, x.size, "
                      "x.storage_key, x.by, x.uid FROM json_to_recordset($1::json) AS x(case_id uuid, sha text, "
                      "file_name text, media_type text, size bigint, storage_key text, by bigint, uid uuid)",
                   w.attachments) != 0 ||
         queue_doc(b, "INSERT INTO idempotency_keys (principal_id, idem_key, request_sha256, case_id, status, response) "
                      "SELECT x.p, x.k, decode(x.sha, 'hex'), x.case_id, 201, x.response FROM json_to_recordset($1::json) "
                      "AS x(p bigint, k text, sha text, case_id uuid, response jsonb)", w.keys) != 0 ||
         pg_batch_add(b, "COMMIT", 0, NULL) != 0))
        goto rollback;
    if (!in_transaction(pg) || pg_copy_run(pg, script, bufs, 3) != 0) goto out;
    if (rest && (!in_transaction(pg) || pg_batch_run(pg, b, NULL) != 0)) goto out;
    clock_gettime(CLOCK_MONOTONIC, &te);
#define MS(a, b) ((double)((b).tv_sec - (a).tv_sec) * 1e3 + (double)((b).tv_nsec - (a).tv_nsec) / 1e6)
    LOGD("batch rounds", LF_INT("n", (long long)n), LF_DBL("r1", MS(ta, tb)), LF_DBL("prep", MS(tb, tc)),
         LF_DBL("r2", MS(tc, td)), LF_DBL("r3", MS(td, te)));
    rc = 0;
    goto out;
rollback:
    pg_batch_free(b);
    b = NULL;
    pg_rollback(pg);
out:
    for (int i = 0; i < 3; i++) PQclear(res[i]);
    if (rc != 0 && PQtransactionStatus(pg->conn) != PQTRANS_IDLE) pg_rollback(pg);
    json_decref(keys);
    json_decref(locks);
    json_decref(credits);
    json_decref(nums);
    writes_free(&w);
    free(order);
    pg_batch_free(b);
    return rc;
}

static void reg_reset(reg_t *r)
{
    /* forget what a failed batch decided, so the retry alone starts clean */
    json_decref(r->replay);
    json_decref(r->hints);
    json_decref(r->suggestions);
    json_decref(r->response);
    r->replay = r->hints = r->suggestions = r->response = NULL;
    r->replay_status = r->key_conflict = 0;
    r->outcome = OUT_REVIEW;
    r->region = NULL;
    r->case_no[0] = r->dup_id[0] = r->dup_no[0] = r->referred[0] = '\0';
}

static void reg_answer(intake_t *in, reg_t *r)
{
    const reg_t *src = r->leader ? r->leader : r;
    if (r->key_conflict || (r->leader && r->leader->key_conflict)) {
        http_reply_error(r->req, 422, "idempotency_key_reused", "Idempotency-Key",
                         "Idempotency-Key was already used with a different request");
    } else if (src->replay_status) {
        metric_inc(in->m_replays);
        http_reply_header(r->req, "Idempotent-Replay", "true");
        http_reply_json(r->req, src->replay_status, json_incref(src->replay));
    } else if (r->leader) {
        metric_inc(in->m_replays);
        http_reply_header(r->req, "Idempotent-Replay", "true");
        http_reply_json(r->req, 201, json_incref(src->response));
    } else {
        metric_inc(in->m_submitted);
        http_reply_json(r->req, 201, json_incref(r->response));
    }
}

/* ---- the per-client limit, once per batch ------------------------------------------------
 * Every submission counts against its client's limit (a Redis counter per principal and
 * window, shared by all instances). Asking Redis once per request cost a round trip and two
 * context switches per appeal; the batch asks once per principal instead: INCRBY by the
 * number of its submissions in the batch, which is the same as that many INCRs one after the
 * other, so the k-th of them gets the count it would have got alone and is refused (429,
 * Retry-After) exactly when it would have been. Retries that follow a refused request's
 * Idempotency-Key are refused with it. Redis unreachable: the batch goes through (fail
 * open, counted), as before. */

static void reply_rate_limited(intake_t *in, http_req_t *req, long retry)
{
    char ra[16];
    snprintf(ra, sizeof ra, "%ld", retry);
    metric_inc(in->m_rate_limited);
    http_reply_header(req, "Retry-After", ra);
    http_reply_error(req, 429, "rate_limited", NULL, "too many submissions from this client; retry in %ld s", retry);
}

#define RL_WINDOW_MS "60000"

/* Takes the refused submissions out of list (answered and freed); returns what is left. */
static reg_t *batch_ratelimit(intake_t *in, reg_t *list, size_t *n)
{
    size_t cap = *n, ng = 0;
    long long *ids = calloc(cap, sizeof *ids), *count = calloc(cap, sizeof *count), *seen = calloc(cap, sizeof *seen);
    char (*keys)[64] = calloc(cap, sizeof *keys), (*nums)[24] = calloc(cap, sizeof *nums);
    int *argcs = calloc(cap * 3, sizeof *argcs);
    const char *const **argvs = calloc(cap * 3, sizeof *argvs);
    const char **words = calloc(cap * 9, sizeof *words);
    redisReply **rep = calloc(cap * 3, sizeof *rep);
    int ok = ids && count && seen && keys && nums && argcs && argvs && words && rep;
    for (reg_t *r = list; ok && r; r = r->next) {
        size_t g = 0;
        while (g < ng && ids[g] != r->who.id) g++;
        if (g == ng) ids[ng++] = r->who.id;
        count[g]++;
    }
    for (size_t g = 0; ok && g < ng; g++) {
        snprintf(keys[g], sizeof keys[g], "jiesu:rl:intake:%lld", ids[g]); /* ratelimit_hit's key */
        snprintf(nums[g], sizeof nums[g], "%lld", count[g]);
        const char **w = words + 9 * g;
        w[0] = "INCRBY", w[1] = keys[g], w[2] = nums[g];
        w[3] = "PEXPIRE", w[4] = keys[g], w[5] = RL_WINDOW_MS, w[6] = "NX";
        w[7] = "PTTL", w[8] = keys[g];
        argcs[3 * g] = 3, argvs[3 * g] = w;
        argcs[3 * g + 1] = 4, argvs[3 * g + 1] = w + 3;
        argcs[3 * g + 2] = 2, argvs[3 * g + 2] = w + 7;
    }
    if (ok && rds_pipeline(daemon_redis(in->d), (int)(3 * ng), argcs, argvs, rep) != 0) {
        for (reg_t *r = list; r; r = r->next) metric_inc(in->m_rl_unavailable); /* fail open, but counted */
        ok = 0;
    }
    reg_t *keep = NULL, **tail = &keep, *gone = NULL;
    for (reg_t *r = list, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        size_t g = 0;
        while (ok && ids[g] != r->who.id) g++;
        int deny = 0;
        long retry = 1;
        if (ok && rep[3 * g]->type == REDIS_REPLY_INTEGER && rep[3 * g + 2]->type == REDIS_REPLY_INTEGER) {
            long long after = rep[3 * g]->integer, left = rep[3 * g + 2]->integer;
            long long mine = after - count[g] + ++seen[g]; /* the count its own INCR would have seen */
            deny = mine > in->cfg->rate_limit_per_min;
            retry = left > 0 ? (long)((left + 999) / 1000) : 1;
        } else if (ok) {
            metric_inc(in->m_rl_unavailable);
        }
        if (r->leader && r->leader->replay_status == -429) deny = 1; /* its leader was refused */
        if (deny) {
            reply_rate_limited(in, r->req, retry);
            r->replay_status = -429; /* marks it refused for its followers; freed below */
            r->next = gone;
            gone = r;
            *n -= 1;
        } else {
            *tail = r;
            tail = &r->next;
        }
    }
    /* freed only now: a later follower looked at its refused leader */
    for (reg_t *r = gone, *next; r; r = next) {
        next = r->next;
        reg_free(r);
    }
    if (ok)
        for (size_t i = 0; i < 3 * ng; i++) freeReplyObject(rep[i]);
    free(ids);
    free(count);
    free(seen);
    free(keys);
    free(nums);
    free(argcs);
    free(argvs);
    free(words);
    free(rep);
    return keep;
}

static void batcher_flush(intake_batcher_t *b)
{
    intake_t *in = b->in;
    reg_t *list = b->head;
    size_t n = b->n;
    b->head = b->tail = NULL;
    b->n = 0;
    if (list == NULL) return;
    list = batch_ratelimit(in, list, &n);
    if (list == NULL) return;
    metric_observe(in->m_batch_size, (double)n);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int wb = write_batch(in, list, n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    LOGD("batch written", LF_INT("n", (long long)n), LF_DBL("ms", (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6));
    if (wb == 0) {
        for (reg_t *r = list; r; r = r->next) reg_answer(in, r);
    } else if (n == 1) {
        intake_reply_db_error(list->req, in->pg, "registration");
    } else {
        /* one request may have sunk the batch: give each its own transaction */
        LOGW("registration batch failed; retrying one by one", LF_INT("batch", (long long)n),
             LF_STR("error", in->pg->err));
        for (reg_t *r = list, *next; r; r = next) {
            next = r->next;
            r->next = NULL;
            reg_reset(r);
            /* a request that followed another's key now leads its own */
            r->leader = NULL;
            if (write_batch(in, r, 1) == 0) reg_answer(in, r);
            else intake_reply_db_error(r->req, in->pg, "registration");
            r->next = next;
        }
    }
    for (reg_t *r = list, *next; r; r = next) {
        next = r->next;
        reg_free(r);
    }
}

static void batcher_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    batcher_flush(arg);
}

intake_batcher_t *intake_batcher_new(intake_t *in)
{
    intake_batcher_t *b = calloc(1, sizeof *b);
    if (b == NULL) return NULL;
    b->in = in;
    b->timer = evtimer_new(daemon_base(in->d), batcher_timer, b);
    if (b->timer == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

void intake_batcher_free(intake_batcher_t *b)
{
    if (b == NULL) return;
    batcher_flush(b); /* whatever is queued is written and answered before we go */
    event_free(b->timer);
    free(b);
}

/* ---- POST /v1/appeals --------------------------------------------------------------------- */

static int idem_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 128) return 0;
    for (const char *p = k; *p; p++)
        if (*p < 0x21 || *p > 0x7e) return 0;
    return 1;
}

/* One submission against its client's limit, at once (for those that never reach a batch).
 * With may_answer, answers 429 and returns 1 when over the limit. */
static int ratelimit_now(intake_t *in, http_req_t *req, long long principal, int may_answer)
{
    char client[32];
    snprintf(client, sizeof client, "%lld", principal);
    long retry = 0;
    ratelimit_rc_t rl = ratelimit_hit(daemon_redis(in->d), "intake", client, in->cfg->rate_limit_per_min,
                                      atol(RL_WINDOW_MS), &retry);
    if (rl == RATELIMIT_UNKNOWN) metric_inc(in->m_rl_unavailable); /* fail open, but counted */
    if (rl != RATELIMIT_DENY || !may_answer) return 0;
    reply_rate_limited(in, req, retry);
    return 1;
}

void intake_submit(http_req_t *req, void *arg)
{
    intake_t *in = arg;
    const http_principal_t *p = http_req_principal(req);
    /* the limit is checked per batch (batch_ratelimit); a submission refused before it joins
     * one is counted here, and told 429 rather than what was wrong when over the limit */
    const long long principal = p->id; /* req (and p with it) is gone once answered */
    const char *key = http_req_header(req, "Idempotency-Key");
    if (key && !idem_key_ok(key)) {
        if (ratelimit_now(in, req, principal, 1)) return;
        http_reply_error(req, 400, "invalid_value", "Idempotency-Key",
                         "Idempotency-Key: must be 1 to 128 visible ASCII characters");
        return;
    }
    json_t *body = http_req_json(req);
    if (body == NULL) {
        (void)ratelimit_now(in, NULL, principal, 0); /* already answered 400: counted only */
        return;
    }
    reg_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        json_decref(body);
        http_reply_oom(req);
        return;
    }
    if (appeal_parse(req, body, p, in->cfg->body_max_chars, &r->a) != 0) {
        json_decref(body);
        free(r);
        (void)ratelimit_now(in, NULL, principal, 0); /* already answered 400: counted only */
        return;
    }
    json_decref(body);
    /* An agent registers for its own jurisdiction; what lies elsewhere in the deployment is
     * the platform there's to register (outside the deployment: refused with a referral, below).
     * 403 names the field: the region exists, so saying so tells nothing. */
    if (p->role == AUTH_ROLE_AGENT && intake_regions_find(in->regions, r->a.region_code) != NULL &&
        !auth_region_covers(p->region_code, r->a.region_code)) {
        (void)ratelimit_now(in, NULL, principal, 0);
        http_reply_error(req, 403, "outside_jurisdiction", "region_code",
                         "region_code: %s is outside your jurisdiction (%s); transfer the appeal to its platform",
                         r->a.region_code, p->region_code[0] ? p->region_code : "none");
        reg_free(r);
        return;
    }
    static unsigned long long arrivals;
    r->req = req;
    r->arrival = ++arrivals;
    r->who = *p;
    if (key) snprintf(r->idem_key, sizeof r->idem_key, "%s", key);
    size_t blen = 0;
    const char *raw = http_req_body(req, &blen);
    sha256_hex(raw, blen, r->req_sha);
    if (event_now_rfc3339(r->received_at) != 0) goto oom;
    /* The enterprise's own details (name, address, contact) are in every appeal it sends and
     * say nothing about the matter: leave them out of the signature. */
    char *text = NULL, *own = NULL;
    if (asprintf(&text, "%s\n%s", r->a.summary, r->a.body) < 0) goto oom;
    if (asprintf(&own, "%s %s %s %s", r->a.enterprise_name, r->a.address ? r->a.address : "",
                 r->a.contact_name, r->a.contact_phone) < 0) {
        free(text);
        goto oom;
    }
    r->sig = textsim_sig_new_excluding(text, strlen(text), own, strlen(own));
    free(text);
    free(own);
    if (r->sig == NULL || textsim_sig_encode(r->sig, &r->sig_hex) != 0) goto oom;

    intake_batcher_t *b = in->batcher;
    /* the same key twice in one batch: the second waits for the first's answer */
    for (reg_t *e = b->head; e && r->idem_key[0]; e = e->next)
        if (!e->leader && e->who.id == r->who.id && !strcmp(e->idem_key, r->idem_key)) {
            r->leader = e;
            if (strcmp(e->req_sha, r->req_sha) != 0) r->key_conflict = 1;
            break;
        }
    if (b->tail) b->tail->next = r;
    else b->head = r;
    b->tail = r;
    b->n++;
    if ((long)b->n >= in->cfg->batch_max) {
        evtimer_del(b->timer);
        batcher_flush(b);
    } else if (!evtimer_pending(b->timer, NULL)) {
        struct timeval tv = {in->cfg->batch_wait_us / 1000000, in->cfg->batch_wait_us % 1000000};
        evtimer_add(b->timer, &tv);
    }
    return;
oom:
    reg_free(r);
    http_reply_oom(req);
}
