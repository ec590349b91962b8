/*
 * jiesu-intake — registers every appeal once, reviews its scope and hands it on (issue 3).
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
} intake_config_t;

static const cfg_entry_t intake_entries[] = {
    CFG_COMMON_ENTRIES(intake_config_t, "8081"),
};

static const cfg_table_t intake_table = {intake_entries, JS_ARRAY_LEN(intake_entries)};

int main(int argc, char **argv)
{
    intake_config_t cfg = {0};
    daemon_spec_t spec = {
        .name = "intake",
        .table = &intake_table,
        .cfg = &cfg,
    };
    return daemon_main(&spec, argc, argv);
}
