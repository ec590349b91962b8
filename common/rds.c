/*
 * rds.c — see rds.h. A failed command drops the context so the next call reconnects; callers
 * treat a NULL reply as retriable.
 */
#include "rds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

rds_t *rds_new(const char *addr, int timeout_ms, char *err, size_t errlen)
{
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == addr || *end != '\0' || port <= 0 || port > 65535 ||
        (size_t)(colon - addr) >= sizeof(((rds_t *)0)->host)) {
        snprintf(err, errlen, "redis_addr '%s' is not host:port", addr);
        return NULL;
    }
    rds_t *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    snprintf(r->host, sizeof r->host, "%.*s", (int)(colon - addr), addr);
    r->port = (int)port;
    r->timeout_ms = timeout_ms;
    if (rds_ensure(r) != 0) LOGW("redis not reachable yet", LF_STR("error", r->err));
    return r;
}

void rds_free(rds_t *r)
{
    if (r == NULL) return;
    if (r->ctx) redisFree(r->ctx);
    free(r);
}

int rds_ensure(rds_t *r)
{
    if (r->ctx && r->ctx->err == 0) return 0;
    if (r->ctx) redisFree(r->ctx);
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
    if (r->ctx == NULL || r->ctx->err) {
        snprintf(r->err, sizeof r->err, "redis %s:%d: %s", r->host, r->port,
                 r->ctx ? r->ctx->errstr : "out of memory");
        if (r->ctx) redisFree(r->ctx);
        r->ctx = NULL;
        return -1;
    }
    redisSetTimeout(r->ctx, tv);
    return 0;
}

redisReply *rds_cmd(rds_t *r, int argc, const char **argv, const size_t *lens)
{
    if (rds_ensure(r) != 0) return NULL;
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
    if (rep == NULL) {
        snprintf(r->err, sizeof r->err, "redis: %s", r->ctx->errstr);
        redisFree(r->ctx);
        r->ctx = NULL;
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(r->err, sizeof r->err, "redis: %.*s", (int)rep->len, rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

int rds_pipeline(rds_t *r, int n, const int *argcs, const char *const *const *argvs,
                 redisReply **replies)
{
    for (int i = 0; i < n; i++) replies[i] = NULL;
    if (rds_ensure(r) != 0) return -1;
    for (int i = 0; i < n; i++)
        if (redisAppendCommandArgv(r->ctx, argcs[i], (const char **)argvs[i], NULL) != REDIS_OK) goto fail;
    for (int i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(r->ctx, &rep) != REDIS_OK || rep == NULL) goto fail;
        replies[i] = rep;
    }
    return 0;
fail:
    snprintf(r->err, sizeof r->err, "redis: %s", r->ctx->errstr);
    for (int i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
    redisFree(r->ctx); /* a half-read pipeline leaves the connection unusable */
    r->ctx = NULL;
    return -1;
}

int rds_ping(rds_t *r)
{
    const char *argv[] = {"PING"};
    redisReply *rep = rds_cmd(r, 1, argv, NULL);
    if (rep == NULL) return -1;
    freeReplyObject(rep);
    return 0;
}
