/*
 * auth.c — see auth.h. The token digest is computed here, so the clear token never leaves the
 * process (it is not a query parameter, and so never in a server log).
 */
#include "auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include <time.h>

int auth_token_hash(const char *token, unsigned char out[32])
{
    size_t n = strlen(token);
    if (n < 16 || n > 256) return -1;
    unsigned int len = 0;
    return EVP_Digest(token, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
}

int auth_authn(void *arg, const char *token, http_principal_t *out)
{
    pg_t *pg = arg;
    unsigned char h[32];
    if (auth_token_hash(token, h) != 0) return 1;
    const char *params[] = {(const char *)h};
    const int lens[] = {32}, fmts[] = {1};
    PGresult *r = NULL;
    if (pg_query_bin(pg,
                     "SELECT p.id, p.role, coalesce(p.unit_id, 0), coalesce(p.region_code, ''), "
                     "coalesce(p.credit_code, ''), p.name FROM api_tokens t "
                     "JOIN principals p ON p.id = t.principal_id "
                     "WHERE t.token_hash = $1 AND t.revoked_at IS NULL "
                     "AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT p.disabled",
                     1, params, lens, fmts, &r) != 0) {
        LOGW("token lookup failed", LF_STR("error", pg->err));
        return -1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return 1;
    }
    casefsm_role_t role;
    if (casefsm_role_from_str(PQgetvalue(r, 0, 1), &role) != 0) {
        PQclear(r);
        return 1;
    }
    memset(out, 0, sizeof *out);
    out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    out->role = CASEFSM_BIT(role);
    out->unit_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    snprintf(out->region_code, sizeof out->region_code, "%s", PQgetvalue(r, 0, 3));
    snprintf(out->credit_code, sizeof out->credit_code, "%s", PQgetvalue(r, 0, 4));
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 5));
    PQclear(r);
    return 0;
}

int auth_token_issue(pg_t *pg, long long principal_id, const char *label, int ttl_days,
                     char token_out[65])
{
    unsigned char raw[32], h[32];
    if (RAND_bytes(raw, sizeof raw) != 1) return -1;
    for (int i = 0; i < 32; i++) snprintf(token_out + 2 * i, 3, "%02x", raw[i]);
    if (auth_token_hash(token_out, h) != 0) return -1;
    char pid[32], ttl[16];
    snprintf(pid, sizeof pid, "%lld", principal_id);
    snprintf(ttl, sizeof ttl, "%d", ttl_days);
    const char *params[] = {(const char *)h, pid, label, ttl_days > 0 ? ttl : NULL};
    const int lens[] = {32, 0, 0, 0}, fmts[] = {1, 0, 0, 0};
    return pg_query_bin(pg,
                        "INSERT INTO api_tokens (token_hash, principal_id, label, expires_at) "
                        "VALUES ($1, $2::bigint, $3, now() + make_interval(days => $4::int))",
                        4, params, lens, fmts, NULL);
}

int auth_may_see_case(const http_principal_t *p, const char *case_region,
                      const char *case_credit_code, long long case_unit_id)
{
    if (p == NULL) return 0;
    if (p->role == AUTH_ROLE_ENTERPRISE)
        return p->credit_code[0] && case_credit_code && strcmp(p->credit_code, case_credit_code) == 0;
    if (p->role == AUTH_ROLE_UNIT) return p->unit_id != 0 && p->unit_id == case_unit_id;
    if (p->role == AUTH_ROLE_OPERATOR) return 0;
    return case_region != NULL && auth_region_covers(p->region_code, case_region);
}

int auth_region_covers(const char *scope, const char *code)
{
    /* Division codes nest by prefix once a 6-digit code's trailing "00" pairs (the levels
     * below it) are dropped: 450000 → 45 (province), 450100 → 4501 (city), 450102 (county),
     * 450102001 (township). */
    size_t n = strlen(scope);
    while (n > 2 && n <= 6 && scope[n - 1] == '0' && scope[n - 2] == '0') n -= 2;
    return n > 0 && code != NULL && strncmp(code, scope, n) == 0;
}

/* ---- the cache ------------------------------------------------------------------------------ */

#define AUTH_CACHE_SLOTS 4096 /* power of two */

typedef struct {
    unsigned char digest[32];
    long long expires_ms; /* 0 = empty */
    http_principal_t who;
} auth_slot_t;

struct auth_cache {
    pg_t *pg;
    int ttl_ms;
    auth_slot_t *slots;
};

static long long auth_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

auth_cache_t *auth_cache_new(pg_t *pg, int ttl_ms)
{
    auth_cache_t *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->pg = pg;
    c->ttl_ms = ttl_ms;
    if (ttl_ms > 0 && (c->slots = calloc(AUTH_CACHE_SLOTS, sizeof *c->slots)) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void auth_cache_free(auth_cache_t *c)
{
    if (c == NULL) return;
    free(c->slots);
    free(c);
}

int auth_authn_cached(void *arg, const char *token, http_principal_t *out)
{
    auth_cache_t *c = arg;
    if (c->slots == NULL) return auth_authn(c->pg, token, out);
    unsigned char h[32];
    if (auth_token_hash(token, h) != 0) return 1;
    /* the digest is uniformly random: its first bytes are a fine slot index */
    size_t idx = ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) & (AUTH_CACHE_SLOTS - 1);
    auth_slot_t *s = &c->slots[idx];
    long long now = auth_now_ms();
    if (s->expires_ms > now && memcmp(s->digest, h, 32) == 0) {
        *out = s->who;
        return 0;
    }
    int rc = auth_authn(c->pg, token, out);
    if (rc == 0) {
        memcpy(s->digest, h, 32);
        s->who = *out;
        s->expires_ms = now + c->ttl_ms;
    }
    return rc;
}
