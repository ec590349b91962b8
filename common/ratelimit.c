/*
 * ratelimit.c — see ratelimit.h.
 */
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

ratelimit_rc_t ratelimit_hit(rds_t *r, const char *scope, const char *client, long limit,
                             long window_ms, long *retry_after_s)
{
    /* INCR, then start the window if it has none (PEXPIRE … NX, Redis 7), then read it: three
     * commands, one round trip, no script to run */
    char key[256], win[32];
    snprintf(key, sizeof key, "jiesu:rl:%s:%s", scope, client);
    snprintf(win, sizeof win, "%ld", window_ms);
    const char *incr[] = {"INCR", key}, *expire[] = {"PEXPIRE", key, win, "NX"}, *ttl[] = {"PTTL", key};
    const char *const *argvs[] = {incr, expire, ttl};
    const int argcs[] = {2, 4, 2};
    redisReply *rep[3];
    if (rds_pipeline(r, 3, argcs, argvs, rep) != 0) return RATELIMIT_UNKNOWN;
    ratelimit_rc_t rc = RATELIMIT_UNKNOWN;
    if (rep[0]->type == REDIS_REPLY_INTEGER && rep[2]->type == REDIS_REPLY_INTEGER) {
        long long n = rep[0]->integer, left = rep[2]->integer;
        if (n > limit) {
            rc = RATELIMIT_DENY;
            *retry_after_s = left > 0 ? (long)((left + 999) / 1000) : 1;
        } else {
            rc = RATELIMIT_ALLOW;
        }
    }
    for (int i = 0; i < 3; i++) freeReplyObject(rep[i]);
    return rc;
}
