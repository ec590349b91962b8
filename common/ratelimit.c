/*
 * ratelimit.c — see ratelimit.h.
 */
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

static const char RL_SCRIPT[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "local t = redis.call('PTTL', KEYS[1]) "
    "if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) end "
    "return {n, t}";

ratelimit_rc_t ratelimit_hit(rds_t *r, const char *scope, const char *client, long limit,
                             long window_ms, long *retry_after_s)
{
    char key[256], win[32];
    snprintf(key, sizeof key, "jiesu:rl:%s:%s", scope, client);
    snprintf(win, sizeof win, "%ld", window_ms);
    const char *argv[] = {"EVAL", RL_SCRIPT, "1", key, win};
    redisReply *rep = rds_cmd(r, 5, argv, NULL);
    if (rep == NULL) return RATELIMIT_UNKNOWN;
    ratelimit_rc_t rc = RATELIMIT_UNKNOWN;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[1]->type == REDIS_REPLY_INTEGER) {
        long long n = rep->element[0]->integer, ttl = rep->element[1]->integer;
        if (n > limit) {
            rc = RATELIMIT_DENY;
            *retry_after_s = ttl > 0 ? (long)((ttl + 999) / 1000) : 1;
        } else {
            rc = RATELIMIT_ALLOW;
        }
    }
    freeReplyObject(rep);
    return rc;
}
