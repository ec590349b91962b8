/*
 * intake.h — the intake daemon's internal interfaces (not part of libcommon).
 *
 * appeal.c    validates a submission into an appeal_t (every problem named by field)
 * register.c  registers appeals with group commit: many per transaction, in few round trips
 * review.c    the agents' review queue and decisions (accept / refuse / answer at once)
 * policies.c  the policy library (政策库): managed by API, searched for consultations
 * regions.c   the deployment's territory, cached from the regions table
 */
#ifndef JIESU_INTAKE_H
#define JIESU_INTAKE_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "daemon.h"
#include "event.h"
#include "http.h"
#include "metrics.h"
#include "pg.h"

typedef struct {
    cfg_common_t common;
    long batch_max;          /* registrations per transaction at most */
    long batch_wait_us;      /* how long the first of a batch waits for company */
    long rate_limit_per_min; /* submissions per client per minute */
    char *territory_root;    /* the deployment's top region; "" = the one without a parent */
    long body_max_chars;
    long duplicate_pct;      /* similarity (percent) at or above which an appeal is a duplicate */
    long idempotency_retention_h;
} intake_config_t;

/* ---- territory ----------------------------------------------------------------------- */

typedef struct {
    char code[16];
    char name[96];
    int tier;
} intake_region_t;

typedef struct intake_regions intake_regions_t;

intake_regions_t *intake_regions_new(void);
void intake_regions_free(intake_regions_t *r);
/* Reloads from the regions table; keeps the old copy on failure. */
int intake_regions_load(intake_regions_t *r, pg_t *pg, const char *root_config, char *err,
                        size_t errlen) JS_MUST_CHECK;
const intake_region_t *intake_regions_find(const intake_regions_t *r, const char *code);
const intake_region_t *intake_regions_root(const intake_regions_t *r);
size_t intake_regions_count(const intake_regions_t *r);
/* The codes of scope and every region below it, as a new JSON array (index-friendly IN lists
 * whatever the database's collation). */
json_t *intake_regions_subtree(const intake_regions_t *r, const char *scope);

/* ---- appeals ------------------------------------------------------------------------- */

typedef enum { DECIDE_NONE = 0, DECIDE_ACCEPT, DECIDE_REJECT, DECIDE_ANSWER } intake_decision_t;

typedef struct {
    size_t n;
    struct {
        char file_name[256], media_type[128], sha256[65], storage_key[1025];
        char uid[EVENT_UUID_SIZE]; /* given at registration; events name attachments by it */
        long long size;
    } *items;
} intake_attachments_t;

/* A validated submission. Strings are owned (freed by appeal_clear). */
typedef struct {
    char *enterprise_name, *address, *contact_name, *contact_phone, *summary, *body;
    char credit_code[24];
    char region_code[16];
    event_kind_t kind;
    event_channel_t channel;
    const char *kind_str, *channel_str; /* static */
    bool confidential;
    bool emergency;
    intake_attachments_t attachments;
    /* an agent's decision at registration */
    intake_decision_t decision;
    event_complexity_t complexity;
    char *matter_type, *note, *reason_text, *answer_summary;
    event_reject_reason_t reason_code;
    event_how_told_t how_told;
} appeal_t;

/* Validates body for principal p. On failure replies (4xx JSON naming the field) and returns
 * -1; the request is then finished. On success fills a. */
int appeal_parse(http_req_t *req, json_t *body, const http_principal_t *p, long body_max,
                 appeal_t *a) JS_MUST_CHECK;
void appeal_clear(appeal_t *a);

/* Enum helpers over the event contract's spellings. */
int intake_enum(event_type_t type, const char *field, const char *s) ; /* value or 0 */
const char *intake_enum_str(event_type_t type, const char *field, int v);

/* ---- the service --------------------------------------------------------------------- */

typedef struct intake intake_t;
typedef struct intake_batcher intake_batcher_t;
typedef struct intake_policies intake_policies_t;

struct intake {
    daemon_t *d;
    intake_config_t *cfg;
    pg_t *pg;            /* registrations, reviews, policy writes */
    intake_regions_t *regions;
    intake_batcher_t *batcher;
    intake_policies_t *policies;
    struct event *refresh_ev;
    metric_t *m_submitted, *m_rejected_auto, *m_duplicates, *m_replays, *m_rate_limited,
        *m_batch_size, *m_decided, *m_rl_unavailable;
};

/* register.c */
intake_batcher_t *intake_batcher_new(intake_t *in);
void intake_batcher_free(intake_batcher_t *b);
void intake_submit(http_req_t *req, void *arg); /* POST /v1/appeals */

/* review.c */
void intake_review_queue(http_req_t *req, void *arg); /* GET /v1/review-queue */
void intake_review_decide(http_req_t *req, void *arg); /* POST /v1/cases/{id}/review */

/* policies.c */
intake_policies_t *intake_policies_new(void);
void intake_policies_free(intake_policies_t *p);
int intake_policies_load(intake_policies_t *p, pg_t *pg) JS_MUST_CHECK;
/* The best k active entries for text in region (and the regions above it), as a JSON array
 * of {id, title, answer, score}. New reference. */
json_t *intake_policies_match(const intake_policies_t *p, const char *text, const char *region,
                              int k, double min_score);
void intake_policy_create(http_req_t *req, void *arg);  /* POST /v1/policies */
void intake_policy_update(http_req_t *req, void *arg);  /* PUT /v1/policies/{id} */
void intake_policy_retire(http_req_t *req, void *arg);  /* DELETE /v1/policies/{id} */
void intake_policy_get(http_req_t *req, void *arg);     /* GET /v1/policies/{id} */
void intake_policy_search(http_req_t *req, void *arg);  /* GET /v1/policies?q= */

/* The actor of events written for principal p. */
void intake_actor(event_t *ev, const http_principal_t *p);
/* Replies 503 or 500 for a database failure, logging it. */
void intake_reply_db_error(http_req_t *req, pg_t *pg, const char *what);

#endif
