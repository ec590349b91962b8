/*
 * jiesu-deadline-watcher — keeps working-day clocks, fires timers and issues supervision and cards (issue 5).
 *
 * This file holds only the boot wiring: the config table and the daemon spec. The shared boot
 * sequence (config, logging, loop, PostgreSQL and migrations, Redis, Kafka, HTTP with
 * /healthz /readyz /metrics, the outbox relay, shutdown) is daemon_main in common/daemon.c.
 * The service's own work arrives with its issue; until then it serves only the shared parts
 * and does not pretend to do more.
 */
#include <stdlib.h>

#include "config.h"
#include "daemon.h"

typedef struct {
    cfg_common_t common;
} deadline_watcher_config_t;

static const cfg_entry_t deadline_watcher_entries[] = {
    CFG_COMMON_ENTRIES(deadline_watcher_config_t, "8083"),
};

static const cfg_table_t deadline_watcher_table = {deadline_watcher_entries, JS_ARRAY_LEN(deadline_watcher_entries)};

int main(int argc, char **argv)
{
    deadline_watcher_config_t cfg = {0};
    daemon_spec_t spec = {
        .name = "deadline-watcher",
        .table = &deadline_watcher_table,
        .cfg = &cfg,
    };
    return daemon_main(&spec, argc, argv);
}
