/*
 * regions.c — the deployment's territory as intake sees it: every region code it may accept,
 * held in memory (a province is ~1,400 regions) and reloaded periodically, so validating a
 * submission's region costs a binary search, not a query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "intake.h"

struct intake_regions {
    intake_region_t *v;
    size_t n;
    intake_region_t root;
    int has_root;
};

intake_regions_t *intake_regions_new(void) { return calloc(1, sizeof(intake_regions_t)); }

void intake_regions_free(intake_regions_t *r)
{
    if (r == NULL) return;
    free(r->v);
    free(r);
}

static int region_cmp(const void *a, const void *b)
{
    return strcmp(((const intake_region_t *)a)->code, ((const intake_region_t *)b)->code);
}

int intake_regions_load(intake_regions_t *r, pg_t *pg, const char *root_config, char *err,
                        size_t errlen)
{
    PGresult *res = NULL;
    if (pg_query(pg, "SELECT code, name, tier, parent_code IS NULL FROM regions ORDER BY code", 0,
                 NULL, &res) != 0) {
        snprintf(err, errlen, "regions: %s", pg->err);
        return -1;
    }
    size_t n = (size_t)PQntuples(res);
    intake_region_t *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL) {
        PQclear(res);
        snprintf(err, errlen, "regions: out of memory");
        return -1;
    }
    intake_region_t root = {0};
    int roots = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(v[i].code, sizeof v[i].code, "%s", PQgetvalue(res, (int)i, 0));
        snprintf(v[i].name, sizeof v[i].name, "%s", PQgetvalue(res, (int)i, 1));
        v[i].tier = atoi(PQgetvalue(res, (int)i, 2));
        if (root_config && *root_config) {
            if (!strcmp(v[i].code, root_config)) {
                root = v[i];
                roots = 1;
            }
        } else if (PQgetvalue(res, (int)i, 3)[0] == 't') {
            root = v[i];
            roots++;
        }
    }
    PQclear(res);
    qsort(v, n, sizeof *v, region_cmp);
    if (root_config && *root_config && !roots) {
        free(v);
        snprintf(err, errlen, "territory_root '%s' is not a region of this deployment", root_config);
        return -1;
    }
    if (roots > 1) {
        free(v);
        snprintf(err, errlen, "the regions table has %d top regions; set territory_root", roots);
        return -1;
    }
    free(r->v);
    r->v = v;
    r->n = n;
    r->root = root;
    r->has_root = roots == 1;
    return 0;
}

const intake_region_t *intake_regions_find(const intake_regions_t *r, const char *code)
{
    intake_region_t key;
    snprintf(key.code, sizeof key.code, "%s", code);
    return r->n ? bsearch(&key, r->v, r->n, sizeof key, region_cmp) : NULL;
}

const intake_region_t *intake_regions_root(const intake_regions_t *r)
{
    return r->has_root ? &r->root : NULL;
}

size_t intake_regions_count(const intake_regions_t *r) { return r->n; }

json_t *intake_regions_subtree(const intake_regions_t *r, const char *scope)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n; i++)
        if (auth_region_covers(scope, r->v[i].code)) json_array_append_new(a, json_string(r->v[i].code));
    return a;
}
