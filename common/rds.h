/*
 * rds.h — Redis access through hiredis: one synchronous connection with timeouts and
 * reconnection. Timers (deadline-watcher) and rate limits (intake) are built on it. Commands
 * take argv-style arguments only (redisCommandArgv), so no value is ever spliced into a
 * command string.
 */
#ifndef JIESU_RDS_H
#define JIESU_RDS_H

#include <hiredis.h>
#include <stddef.h>

#include "compat.h"

typedef struct rds {
    redisContext *ctx;
    char host[128];
    int port;
    int timeout_ms;
    char err[512];
} rds_t;

/* addr is "host:port". Returns NULL on a malformed address (err says so) or no memory; an
 * unreachable server is kept and retried by rds_ensure. */
rds_t *rds_new(const char *addr, int timeout_ms, char *err, size_t errlen);
void rds_free(rds_t *r);

int rds_ensure(rds_t *r) JS_MUST_CHECK;

/* Runs one command. Returns the reply (caller freeReplyObject's it) or NULL with r->err set;
 * an error reply from the server is returned as NULL too. */
redisReply *rds_cmd(rds_t *r, int argc, const char **argv, const size_t *lens);

/* Sends n commands in one round trip and collects their replies (caller frees each with
 * freeReplyObject). 0 when every command got a reply (error replies included: check
 * replies[i]->type); -1 with r->err set when the connection failed (replies are NULL). */
int rds_pipeline(rds_t *r, int n, const int *argcs, const char *const *const *argvs,
                 redisReply **replies) JS_MUST_CHECK;

int rds_ping(rds_t *r) JS_MUST_CHECK;

#endif
