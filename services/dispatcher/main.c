/*
 * jiesu-dispatcher — routes accepted appeals to the responsible unit and serves the units' work (issue 4).
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
} dispatcher_config_t;

static const cfg_entry_t dispatcher_entries[] = {
    CFG_COMMON_ENTRIES(dispatcher_config_t, "8082"),
};

static const cfg_table_t dispatcher_table = {dispatcher_entries, JS_ARRAY_LEN(dispatcher_entries)};

int main(int argc, char **argv)
{
    dispatcher_config_t cfg = {0};
    daemon_spec_t spec = {
        .name = "dispatcher",
        .table = &dispatcher_table,
        .cfg = &cfg,
    };
    return daemon_main(&spec, argc, argv);
}
