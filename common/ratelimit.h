/*
 * ratelimit.h — per-client request limits kept in Redis, so every instance of a daemon counts
 * against the same budget. A fixed window per client (INCR, PEXPIRE NX and PTTL pipelined in one
 * round trip); over the limit the caller answers 429 with Retry-After set to the seconds left
 * in the window. If Redis cannot be asked the request is let through (fail open) and counted
 * in a metric: refusing every enterprise because a cache is away would be the worse failure.
 */
#ifndef JIESU_RATELIMIT_H
#define JIESU_RATELIMIT_H

#include "compat.h"
#include "rds.h"

typedef enum { RATELIMIT_ALLOW = 0, RATELIMIT_DENY, RATELIMIT_UNKNOWN } ratelimit_rc_t;

/* Counts one request of `client` under `scope` (e.g. "intake") against limit per window_ms.
 * On DENY, *retry_after_s is the whole seconds until the window ends (at least 1). */
ratelimit_rc_t ratelimit_hit(rds_t *r, const char *scope, const char *client, long limit,
                             long window_ms, long *retry_after_s);

#endif
