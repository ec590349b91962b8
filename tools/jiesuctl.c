/*
 * jiesuctl — the operators' command line: schema migrations, principals and tokens. Later
 * issues add their verbs here (deadlines, calendars, imports).
 *
 * Exit codes: 0 done, 1 the action failed at run time, 2 usage or input error. The database
 * comes from --pg-dsn or JIESU_PG_DSN (the daemons' variable) or the local-stack default.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "calsync.h"
#include "casefsm.h"
#include "catalogue.h"
#include "config.h"
#include "deadletter.h"
#include "deadline.h"
#include "log.h"
#include "pg.h"
#include "readmodel_pg.h"
#include "territory.h"

#define DEFAULT_DSN PG_DEFAULT_DSN

static void usage(FILE *out)
{
    fprintf(out,
            "usage: jiesuctl [--pg-dsn DSN] COMMAND ...\n"
            "  migrate [--dir deploy/migrations]      apply pending schema migrations\n"
            "  principal add --role ROLE --name NAME [--unit-id N] [--region CODE]\n"
            "                [--credit-code CODE]     create a principal, print its id\n"
            "  token issue --principal ID [--label TEXT] [--ttl-days N]\n"
            "                                         issue a bearer token, print it once\n"
            "  token revoke --principal ID            revoke every token of a principal\n"
            "  due --profile NAME --kind KIND [--complexity C] --from RFC3339\n"
            "                                         print the resolve-by instant (+08:00)\n"
            "  calendar import FILE... | export DIR [--year Y] | list\n"
            "                                         the working-day calendar in the database (audited)\n"
            "  catalogue import|check FILE | route --matter-type T --region CODE\n"
            "                                         the responsibility catalogue (派单目录)\n"
            "  deadletter list [--consumer NAME] [--all] | show ID | replay ID... | replay --consumer NAME --pending\n"
            "                                         messages consumers could never apply; replay once fixed\n"
            "  reporting rebuild [--from case_events|kafka] [--brokers HOST:PORT] | reporting status\n"
            "                                         rebuild the read models, or show their state\n"
            "  territory import|check --regions FILE [--units FILE]\n"
            "                                         load or validate regions and units\n"
            "roles: enterprise agent centre unit supervisor leader discipline operator\n");
}

static pg_t *connect_or_die(const char *dsn)
{
    pg_t *pg = pg_new(dsn, "jiesuctl");
    if (pg == NULL || pg_ensure(pg) != 0) {
        fprintf(stderr, "jiesuctl: cannot connect to PostgreSQL: %s\n", pg ? pg->err : "no memory");
        pg_free(pg);
        return NULL;
    }
    return pg;
}

static int cmd_migrate(const char *dsn, int argc, char **argv)
{
    const char *dir = "deploy/migrations";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "jiesuctl migrate: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    pg_t *pg = connect_or_die(dsn);
    if (pg == NULL) return 1;
    char err[1024];
    int applied = 0, rc = pg_migrate(pg, dir, &applied, err, sizeof err);
    if (rc != 0) fprintf(stderr, "jiesuctl migrate: %s\n", err);
    else printf("migrations applied: %d\n", applied);
    pg_free(pg);
    return rc == 0 ? 0 : 1;
}

static const char *opt_val(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static int check_opts(int argc, char **argv, const char *const *allowed, const char *cmd)
{
    for (int i = 0; i < argc; i += 2) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(argv[i], *a)) ok = 1;
        if (!ok || i + 1 >= argc) {
            fprintf(stderr, "jiesuctl %s: %s '%s'\n", cmd, ok ? "missing value for" : "unknown option",
                    argv[i]);
            return -1;
        }
    }
    return 0;
}

static int cmd_principal_add(const char *dsn, int argc, char **argv)
{
    static const char *const allowed[] = {"--role", "--name", "--unit-id", "--region",
                                          "--credit-code", NULL};
    if (check_opts(argc, argv, allowed, "principal add") != 0) return 2;
    const char *role = opt_val(argc, argv, "--role"), *name = opt_val(argc, argv, "--name");
    casefsm_role_t r;
    if (role == NULL || casefsm_role_from_str(role, &r) != 0 || r == CASEFSM_ROLE_SYSTEM) {
        fprintf(stderr, "jiesuctl principal add: --role must be one of enterprise agent centre "
                        "unit supervisor leader discipline operator\n");
        return 2;
    }
    if (name == NULL || *name == '\0') {
        fprintf(stderr, "jiesuctl principal add: --name is required\n");
        return 2;
    }
    pg_t *pg = connect_or_die(dsn);
    if (pg == NULL) return 1;
    const char *p[] = {name, role, opt_val(argc, argv, "--unit-id"),
                       opt_val(argc, argv, "--region"), opt_val(argc, argv, "--credit-code")};
    PGresult *res = NULL;
    int rc = pg_query(pg,
                      "INSERT INTO principals (name, role, unit_id, region_code, credit_code) "
                      "VALUES ($1, $2, $3::bigint, $4, $5) RETURNING id",
                      5, p, &res);
    if (rc != 0) fprintf(stderr, "jiesuctl principal add: %s\n", pg->err);
    else printf("%s\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    int input_error = rc != 0 && pg->last_class == PG_PERMANENT; /* a constraint said no */
    pg_free(pg);
    return rc == 0 ? 0 : input_error ? 2 : 1;
}

static int cmd_token(const char *dsn, const char *verb, int argc, char **argv)
{
    static const char *const allowed[] = {"--principal", "--label", "--ttl-days", NULL};
    if (check_opts(argc, argv, allowed, "token") != 0) return 2;
    const char *pid = opt_val(argc, argv, "--principal");
    char *end = NULL;
    long long id = pid ? strtoll(pid, &end, 10) : 0;
    if (pid == NULL || *end || id <= 0) {
        fprintf(stderr, "jiesuctl token: --principal must be a principal id\n");
        return 2;
    }
    pg_t *pg = connect_or_die(dsn);
    if (pg == NULL) return 1;
    int rc;
    if (!strcmp(verb, "issue")) {
        const char *ttl = opt_val(argc, argv, "--ttl-days");
        const char *label = opt_val(argc, argv, "--label");
        char tok[65];
        rc = auth_token_issue(pg, id, label ? label : "jiesuctl", ttl ? atoi(ttl) : 0, tok);
        if (rc == 0) printf("%s\n", tok);
        else fprintf(stderr, "jiesuctl token issue: %s\n", pg->err);
    } else {
        const char *p[] = {pid};
        PGresult *res = NULL;
        rc = pg_query(pg, "UPDATE api_tokens SET revoked_at = now() WHERE principal_id = "
                          "$1::bigint AND revoked_at IS NULL", 1, p, &res);
        if (rc == 0) printf("revoked: %s\n", PQcmdTuples(res));
        else fprintf(stderr, "jiesuctl token revoke: %s\n", pg->err);
        PQclear(res);
    }
    pg_free(pg);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    log_init("jiesuctl", LOG_WARN);
    const char *dsn = getenv("JIESU_PG_DSN");
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "--pg-dsn")) {
        dsn = argv[i + 1];
        i += 2;
    }
    if (dsn == NULL) dsn = DEFAULT_DSN;
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "due")) return deadline_cli_due(argc - i, argv + i, stdout, stderr);
    if (!strcmp(cmd, "calendar")) {
        setenv("JIESU_PG_DSN", dsn, 1);
        return calsync_cli(argc - i, argv + i, stdout, stderr);
    }
    if (!strcmp(cmd, "catalogue")) {
        setenv("JIESU_PG_DSN", dsn, 1);
        return catalogue_cli(argc - i, argv + i, stdout, stderr);
    }
    if (!strcmp(cmd, "deadletter")) {
        setenv("JIESU_PG_DSN", dsn, 1);
        return deadletter_cli(argc - i, argv + i, stdout, stderr);
    }
    if (!strcmp(cmd, "reporting")) {
        setenv("JIESU_PG_DSN", dsn, 1); /* the module reads the DSN from the environment */
        return reporting_cli(argc - i, argv + i, stdout, stderr);
    }
    if (!strcmp(cmd, "territory")) {
        setenv("JIESU_PG_DSN", dsn, 1); /* the module reads the DSN from the environment */
        return territory_cli(argc - i, argv + i, stdout, stderr);
    }
    if (!strcmp(cmd, "migrate")) return cmd_migrate(dsn, argc - i - 1, argv + i + 1);
    if (!strcmp(cmd, "principal") && i + 1 < argc && !strcmp(argv[i + 1], "add"))
        return cmd_principal_add(dsn, argc - i - 2, argv + i + 2);
    if (!strcmp(cmd, "token") && i + 1 < argc &&
        (!strcmp(argv[i + 1], "issue") || !strcmp(argv[i + 1], "revoke")))
        return cmd_token(dsn, argv[i + 1], argc - i - 2, argv + i + 2);
    fprintf(stderr, "jiesuctl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
