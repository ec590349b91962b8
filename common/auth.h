/*
 * auth.h — bearer tokens → principals {role, unit, region}, and the scope rules built on them.
 *
 * Tokens are random 32-byte values shown to their holder once, as 64 hex characters, and
 * stored only as SHA-256 digests (api_tokens.token_hash): a stolen database does not yield
 * usable tokens. Each HTTP route declares the roles it admits as a mask of AUTH_ROLE_* bits
 * (the casefsm roles), and http.c asks auth_authn to turn a token into a principal.
 */
#ifndef JIESU_AUTH_H
#define JIESU_AUTH_H

#include <stddef.h>

#include "casefsm.h"
#include "compat.h"
#include "http.h"
#include "pg.h"

#define AUTH_ROLE_ENTERPRISE CASEFSM_BIT(CASEFSM_ROLE_ENTERPRISE)
#define AUTH_ROLE_AGENT CASEFSM_BIT(CASEFSM_ROLE_AGENT)
#define AUTH_ROLE_CENTRE CASEFSM_BIT(CASEFSM_ROLE_CENTRE)
#define AUTH_ROLE_UNIT CASEFSM_BIT(CASEFSM_ROLE_UNIT)
#define AUTH_ROLE_SUPERVISOR CASEFSM_BIT(CASEFSM_ROLE_SUPERVISOR)
#define AUTH_ROLE_LEADER CASEFSM_BIT(CASEFSM_ROLE_LEADER)
#define AUTH_ROLE_DISCIPLINE CASEFSM_BIT(CASEFSM_ROLE_DISCIPLINE)
#define AUTH_ROLE_OPERATOR CASEFSM_BIT(CASEFSM_ROLE_OPERATOR)
#define AUTH_ROLE_STAFF                                                                        \
    (AUTH_ROLE_AGENT | AUTH_ROLE_CENTRE | AUTH_ROLE_UNIT | AUTH_ROLE_SUPERVISOR |              \
     AUTH_ROLE_LEADER | AUTH_ROLE_DISCIPLINE | AUTH_ROLE_OPERATOR)
#define AUTH_ROLE_ANY (AUTH_ROLE_STAFF | AUTH_ROLE_ENTERPRISE)

/* http_authn_fn over PostgreSQL: arg is a pg_t *. */
int auth_authn(void *arg, const char *token, http_principal_t *out);

/* A short-lived cache in front of auth_authn: a daemon answering thousands of requests a
 * second should not ask PostgreSQL the same question for each. Entries live ttl_ms (0 = no
 * cache), so a revoked token or disabled principal is refused within that time. Unknown
 * tokens are never cached. pg is borrowed. Loop thread only. */
typedef struct auth_cache auth_cache_t;
auth_cache_t *auth_cache_new(pg_t *pg, int ttl_ms);
void auth_cache_free(auth_cache_t *c);
/* http_authn_fn over the cache: arg is an auth_cache_t *. */
int auth_authn_cached(void *arg, const char *token, http_principal_t *out);

/* Creates a token for principal_id; writes the 64-hex-character token (shown once) to
 * token_out[65]. Inside or outside a transaction. */
int auth_token_issue(pg_t *pg, long long principal_id, const char *label, int ttl_days,
                     char token_out[65]) JS_MUST_CHECK;

/* Digest of a token as sent by a client; 0 on success. */
int auth_token_hash(const char *token, unsigned char out[32]) JS_MUST_CHECK;

/* May p see a case of this region / enterprise / lead unit?  Enterprises see only their own
 * credit code's cases; units only the cases they handle; centres, agents and supervisors the
 * cases of their region and the regions below it (region codes are prefixes of their
 * children's: 45 ⊃ 4501 ⊃ 450102 ⊃ 450102001); operators no case content at all. */
/* What a handling unit is shown in place of the reporter's identity (enterprise name, credit
 * code, address, contact) on a confidential report (举报, DOMAIN.md §8). */
#define AUTH_WITHHELD_REPORTER "（保密件，诉求人信息不向承办单位公开）"

int auth_may_see_case(const http_principal_t *p, const char *case_region,
                      const char *case_credit_code, long long case_unit_id);

/* Does a principal scoped to region `scope` cover region `code` (itself or below it)? */
int auth_region_covers(const char *scope, const char *code);

#endif
