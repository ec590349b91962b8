/*
 * config.h — typed configuration tables.
 *
 * Each daemon describes its settings in one table of cfg_entry_t that fills one struct (no
 * globals). Values are applied in the order defaults < file < environment < command line, all
 * through one setter, so a value is parsed and range-checked the same way wherever it comes
 * from. An unknown key in a file is an error naming key, file and line; `--dump-config` prints
 * what is in force, secrets masked. Environment names are JIESU_<KEY> in upper case.
 */
#ifndef JIESU_CONFIG_H
#define JIESU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "compat.h"

/* The local stack's database (deploy/stack/up.sh): the default of the daemons' pg_dsn and of
 * jiesuctl when neither --pg-dsn nor JIESU_PG_DSN says otherwise. */
#define PG_DEFAULT_DSN "host=127.0.0.1 port=54329 dbname=jiesu user=jiesu password=jiesu"

typedef enum { CFG_STR, CFG_INT, CFG_BOOL, CFG_SECRET } cfg_type_t;

typedef struct {
    const char *key;
    cfg_type_t type;
    size_t offset;   /* into the config struct: char * for STR/SECRET, long for INT, bool */
    const char *def; /* default, as text; NULL = empty */
    long min, max;   /* INT only */
    const char *help;
} cfg_entry_t;

typedef struct {
    const cfg_entry_t *entries;
    size_t n;
} cfg_table_t;

/* Settings every daemon has; a daemon's struct embeds this as its first member `common`. */
typedef struct {
    const char *service; /* fixed by the daemon, not settable; borrowed */
    char *instance_id;
    char *http_addr;
    long http_port;
    long http_max_body;  /* bytes */
    long http_max_depth; /* JSON nesting */
    long http_max_conns;
    char *pg_dsn;
    char *redis_addr;
    char *kafka_brokers;
    char *log_level;
    long shutdown_timeout_ms;
    long health_interval_ms;
    bool outbox_relay;   /* run the outbox relay in this process (leader-elected) */
    long outbox_batch;
    long outbox_poll_ms;
    long outbox_retention_s;
    char *migrations_dir;
    char *trusted_proxies;
    long auth_cache_ms;
} cfg_common_t;

#define CFG_OFF(type, field) offsetof(type, field)
/* The common rows; `type` is the daemon's struct whose first member is `cfg_common_t common`,
 * `port` the daemon's default HTTP port as a string. */
#define CFG_COMMON_ENTRIES(type, port)                                                             \
    {"instance_id", CFG_STR, CFG_OFF(type, common.instance_id), "", 0, 0,                      \
     "name of this instance in logs and metrics (default: hostname-pid)"},                     \
    {"http_addr", CFG_STR, CFG_OFF(type, common.http_addr), "127.0.0.1", 0, 0,                 \
     "address the HTTP server binds"},                                                         \
    {"http_port", CFG_INT, CFG_OFF(type, common.http_port), port, 0, 65535,                      \
     "HTTP port (0 = any free port, logged at start)"},                                        \
    {"http_max_body", CFG_INT, CFG_OFF(type, common.http_max_body), "1048576", 1024,           \
     67108864, "largest request body accepted, bytes (413 above)"},                            \
    {"http_max_depth", CFG_INT, CFG_OFF(type, common.http_max_depth), "16", 1, 256,           \
     "deepest JSON nesting accepted in a request body"},                                       \
    {"http_max_conns", CFG_INT, CFG_OFF(type, common.http_max_conns), "1024", 1, 100000,     \
     "open HTTP connections at most; more are closed at once"},                                \
    {"pg_dsn", CFG_SECRET, CFG_OFF(type, common.pg_dsn),                                       \
     PG_DEFAULT_DSN, 0, 0,                 \
     "libpq connection string"},                                                               \
    {"redis_addr", CFG_STR, CFG_OFF(type, common.redis_addr), "127.0.0.1:63799", 0, 0,         \
     "Redis host:port"},                                                                       \
    {"kafka_brokers", CFG_STR, CFG_OFF(type, common.kafka_brokers), "127.0.0.1:39092", 0, 0,   \
     "Kafka bootstrap servers"},                                                               \
    {"log_level", CFG_STR, CFG_OFF(type, common.log_level), "info", 0, 0,                      \
     "debug, info, warn, error or off"},                                                       \
    {"shutdown_timeout_ms", CFG_INT, CFG_OFF(type, common.shutdown_timeout_ms), "10000", 0,    \
     600000, "how long draining may take before exiting anyway"},                              \
    {"health_interval_ms", CFG_INT, CFG_OFF(type, common.health_interval_ms), "2000", 100,     \
     600000, "how often dependencies are probed for /readyz"},                                 \
    {"outbox_relay", CFG_BOOL, CFG_OFF(type, common.outbox_relay), "true", 0, 0,               \
     "take part in the leader election for the outbox relay"},                                 \
    {"outbox_batch", CFG_INT, CFG_OFF(type, common.outbox_batch), "500", 1, 100000,            \
     "events the relay reads and publishes per batch"},                                        \
    {"outbox_poll_ms", CFG_INT, CFG_OFF(type, common.outbox_poll_ms), "50", 1, 60000,          \
     "relay poll interval when the outbox is empty"},                                          \
    {"outbox_retention_s", CFG_INT, CFG_OFF(type, common.outbox_retention_s), "3600", 0,       \
     31536000, "published outbox rows are purged after this many seconds"},                   \
    {"migrations_dir", CFG_STR, CFG_OFF(type, common.migrations_dir), "deploy/migrations", 0,  \
     0, "folder of numbered SQL migrations"},                                                  \
    {"auth_cache_ms", CFG_INT, CFG_OFF(type, common.auth_cache_ms), "5000", 0, 600000,         \
     "how long a checked token is trusted without asking the database (0 = always ask)"},      \
    {"trusted_proxies", CFG_STR, CFG_OFF(type, common.trusted_proxies), "", 0, 0,              \
     "reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names " \
     "the client for per-client throttles; empty = the connection's peer is the client"}

/* Applies defaults to every entry. err receives a message on failure. */
int cfg_defaults(const cfg_table_t *t, void *cfg, char *err, size_t errlen) JS_MUST_CHECK;

/* The one setter. source names where the value came from ("file.conf:12", "env", "argv"). */
int cfg_set(const cfg_table_t *t, void *cfg, const char *key, const char *value,
            const char *source, char *err, size_t errlen) JS_MUST_CHECK;

/* `key = value` lines, `#` comments; unknown keys are errors naming file and line. */
int cfg_load_file(const cfg_table_t *t, void *cfg, const char *path, char *err,
                  size_t errlen) JS_MUST_CHECK;

/* JIESU_<KEY> for every key of the table. */
int cfg_load_env(const cfg_table_t *t, void *cfg, char *err, size_t errlen) JS_MUST_CHECK;

/* Parses argv: --config FILE, --KEY=VALUE / --KEY VALUE, --dump-config, --help.
 * Layers defaults, file, env, argv in that order. Returns 0 to run, 1 when the caller should
 * exit 0 (help or dump printed to out), -1 on error (message in err; exit 2). */
int cfg_parse_args(const cfg_table_t *t, void *cfg, int argc, char **argv, FILE *out, char *err,
                   size_t errlen) JS_MUST_CHECK;

void cfg_dump(const cfg_table_t *t, const void *cfg, FILE *out);

/* Frees every string the table owns in cfg. */
void cfg_free(const cfg_table_t *t, void *cfg);

#endif
