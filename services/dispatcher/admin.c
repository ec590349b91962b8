/*
 * admin.c — the territory and the responsibility catalogue by API: import the regions and units
 * (CSV text or JSON rows), import a new catalogue version (CSV or JSON), list the versions and
 * show one, list regions and units.
 *
 * Imports go through exactly the code jiesuctl uses (common/territory.c, common/catalogue.c,
 * reading CSV through common/csv.c): every bad row is named by line — or entry — and field in
 * one 422 answer, nothing is written unless everything is right (one transaction), an import
 * identical to what is in force changes nothing, and the audit_log row (and the catalogue
 * version) records the principal and the note. Only a provincial principal imports: an operator
 * of the whole deployment or of a province, or a province's dispatch centre (自治区专班); what it
 * imports must lie in its province. Anyone else gets 403 before the body is looked at.
 *
 * An import runs synchronously on the handlers' connection: a whole province (a few thousand
 * regions, tens of thousands of units) takes a fraction of a second, and imports are rare.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "catalogue.h"
#include "csv.h"
#include "dispatcher.h"
#include "log.h"
#include "territory.h"

#define NOTE_MAX 500   /* characters: catalogue_versions_note */
#define SOURCE_MAX 200 /* characters, before the "api:" prefix */

static const char *const tier_words[] = {"", "province", "city", "county", "township"};

/* May p import? An operator with no region (the whole deployment) or a province's; a centre of
 * a province. A city's centre, a unit, anyone else: no. */
static bool may_import(const http_principal_t *p)
{
    if (p->role == AUTH_ROLE_OPERATOR) return p->region_code[0] == '\0' || dsp_code_tier(p->region_code) == 1;
    if (p->role == AUTH_ROLE_CENTRE) return dsp_code_tier(p->region_code) == 1;
    return false;
}

static bool refuse_unless_provincial(http_req_t *req)
{
    const http_principal_t *p = http_req_principal(req);
    if (may_import(p)) return false;
    http_reply_error(req, 403, "forbidden", NULL,
                     "only an operator or the dispatch centre of a province imports the territory and the catalogue");
    return true;
}

/* A text parameter: UTF-8 without control characters, 1..max characters. 0 when fine (or
 * absent); else the 400 has been sent. */
static int text_param(http_req_t *req, const char *field, const char *s, size_t len, long max)
{
    if (s == NULL) return 0;
    long cps = strlen(s) == len ? csv_text_check((const unsigned char *)s, len) : -2;
    if (cps == -1) {
        http_reply_error(req, 400, "invalid_value", field, "%s: not valid UTF-8", field);
        return -1;
    }
    if (cps == -2) {
        http_reply_error(req, 400, "invalid_value", field, "%s: no control characters", field);
        return -1;
    }
    if (cps == 0 || cps > max) {
        http_reply_error(req, 400, "out_of_range", field, "%s: 1 to %ld characters", field, max);
        return -1;
    }
    return 0;
}

static bool content_is_csv(http_req_t *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    return ct && !strncasecmp(ct, "text/csv", 8);
}

/* 422 listing every bad row (errors stolen), nothing written. */
static void reply_rows(http_req_t *req, size_t count, json_t *errors)
{
    const char *field = json_string_value(json_object_get(json_array_get(errors, 0), "field"));
    char msg[160];
    snprintf(msg, sizeof msg, "%zu error%s in the data; nothing was written", count, count == 1 ? "" : "s");
    json_t *body = json_pack("{s:{s:s,s:s,s:s?,s:I,s:o}}", "error", "code", "invalid_rows", "message", msg, "field",
                             field, "error_count", (json_int_t)count, "errors", errors ? errors : json_array());
    http_reply_json(req, 422, body);
}

/* After a failed import with no row errors: the database (503 when it may pass) or memory. */
static void reply_failed(http_req_t *req, pg_t *pg, const char *what, const char *why)
{
    LOGE("import failed", LF_STR("req", http_req_id(req)), LF_STR("what", what), LF_STR("error", why));
    if (pg->last_class == PG_RETRY) {
        http_reply_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "unavailable", NULL, "the database is busy or unreachable; nothing was written; retry");
    } else {
        http_reply_error(req, 500, "internal", NULL, "the import failed; nothing was written (request %s)",
                         http_req_id(req));
    }
}

/* ---- POST /v1/territory/import ------------------------------------------------------------------ */

static const char *const territory_keys[] = {"regions_csv", "units_csv", "regions", "units", "note", NULL};

void dsp_h_territory_import(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    if (refuse_unless_provincial(req)) return;
    const http_principal_t *p = http_req_principal(req);
    territory_t *t = territory_new();
    json_t *body = NULL;
    const char *note = NULL;
    if (t == NULL) {
        http_reply_oom(req);
        return;
    }
    int rc = 0;
    if (content_is_csv(req)) {
        /* one file per request: ?kind=regions|units */
        const char *kind = http_req_query(req, "kind");
        note = http_req_query(req, "note");
        if (kind == NULL || (strcmp(kind, "regions") && strcmp(kind, "units"))) {
            http_reply_error(req, 400, kind ? "not_allowed" : "missing_field", "kind",
                             "kind: regions or units (which file the CSV body is)");
            goto out;
        }
        if (text_param(req, "note", note, note ? strlen(note) : 0, NOTE_MAX) != 0) goto out;
        size_t len = 0;
        const char *buf = http_req_body(req, &len);
        rc = !strcmp(kind, "units") ? territory_parse_units(t, "units", buf ? buf : "", len)
                                    : territory_parse_regions(t, "regions", buf ? buf : "", len);
    } else {
        if ((body = http_req_json(req)) == NULL) goto out;
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v) {
            int known = 0;
            for (int i = 0; territory_keys[i]; i++) known |= !strcmp(key, territory_keys[i]);
            if (!known) {
                http_reply_error(req, 400, "unknown_field", key,
                                 "%.60s: not a field (regions_csv or regions, units_csv or units, note)", key);
                goto out;
            }
        }
        json_t *nv = json_object_get(body, "note");
        if (nv && !json_is_null(nv)) {
            if (!json_is_string(nv)) {
                http_reply_error(req, 400, "wrong_type", "note", "note: a string");
                goto out;
            }
            note = json_string_value(nv);
            if (text_param(req, "note", note, json_string_length(nv), NOTE_MAX) != 0) goto out;
        }
        int given = 0;
        for (int units = 0; units <= 1 && rc == 0; units++) {
            const char *ck = units ? "units_csv" : "regions_csv", *jk = units ? "units" : "regions";
            json_t *c = json_object_get(body, ck), *j = json_object_get(body, jk);
            if (c && json_is_null(c)) c = NULL;
            if (j && json_is_null(j)) j = NULL;
            if (c && j) {
                http_reply_error(req, 400, "not_allowed", jk, "%s: give %s or %s, not both", jk, ck, jk);
                goto out;
            }
            if (c) {
                if (!json_is_string(c)) {
                    http_reply_error(req, 400, "wrong_type", ck, "%s: the CSV file's text, as a string", ck);
                    goto out;
                }
                rc = units ? territory_parse_units(t, ck, json_string_value(c), json_string_length(c))
                           : territory_parse_regions(t, ck, json_string_value(c), json_string_length(c));
                given++;
            } else if (j) {
                if (!json_is_array(j)) {
                    http_reply_error(req, 400, "wrong_type", jk, "%s: an array of rows", jk);
                    goto out;
                }
                char *txt = json_dumps(j, JSON_COMPACT);
                rc = txt ? territory_parse_json(t, jk, jk, txt, strlen(txt)) : -1;
                free(txt);
                given++;
            }
        }
        if (rc == 0 && given == 0) {
            http_reply_error(req, 400, "missing_field", "regions_csv",
                             "regions_csv (or regions) and/or units_csv (or units): nothing to import");
            goto out;
        }
    }
    if (rc != 0) {
        http_reply_error(req, 500, "internal", NULL, "the data could not be read: %s", territory_strerror(t));
        goto out;
    }
    /* Also remembered for the import: a unit code of another region may not be reused. */
    (void)territory_scope_check(t, p->region_code);
    if (territory_error_count(t) == 0) {
        territory_stats_t st;
        if (territory_import_by(t, ds->pg, p->id, note, &st) == 0) {
            territory_summary_t s;
            territory_summary(t, &s);
            bool changed = st.regions_inserted + st.regions_updated + st.units_inserted + st.units_updated > 0;
            LOGI("territory imported", LF_STR("req", http_req_id(req)), LF_INT("principal", p->id),
                 LF_INT("regions", (long long)s.regions), LF_INT("units", (long long)s.units),
                 LF_STR("changed", changed ? "yes" : "no"));
            http_reply_json(req, 200,
                            json_pack("{s:b,s:{s:I,s:I,s:I},s:{s:I,s:I,s:I},s:{s:I,s:I,s:I}}", "changed", changed,
                                      "regions", "inserted", (json_int_t)st.regions_inserted, "updated",
                                      (json_int_t)st.regions_updated, "unchanged", (json_int_t)st.regions_unchanged,
                                      "units", "inserted", (json_int_t)st.units_inserted, "updated",
                                      (json_int_t)st.units_updated, "unchanged", (json_int_t)st.units_unchanged,
                                      "read", "regions", (json_int_t)s.regions, "units", (json_int_t)s.units,
                                      "centres", (json_int_t)s.centres));
            goto out;
        }
        if (territory_error_count(t) == 0) {
            reply_failed(req, ds->pg, "territory", territory_strerror(t));
            goto out;
        }
    }
    reply_rows(req, territory_error_count(t), territory_errors_json(t));
out:
    json_decref(body);
    territory_free(t);
}

/* ---- POST /v1/catalogue/versions ------------------------------------------------------------------ */

static const char *const catalogue_keys[] = {"entries", "csv", "note", "source", NULL};

void dsp_h_catalogue_import(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    if (refuse_unless_provincial(req)) return;
    const http_principal_t *p = http_req_principal(req);
    catalogue_t *c = catalogue_new();
    json_t *body = NULL;
    char *text = NULL;
    const char *note = NULL, *src = NULL;
    char source[SOURCE_MAX * 4 + 8];
    if (c == NULL) {
        http_reply_oom(req);
        return;
    }
    int rc;
    if (content_is_csv(req)) {
        note = http_req_query(req, "note");
        src = http_req_query(req, "source");
        if (text_param(req, "note", note, note ? strlen(note) : 0, NOTE_MAX) != 0 ||
            text_param(req, "source", src, src ? strlen(src) : 0, SOURCE_MAX) != 0)
            goto out;
        snprintf(source, sizeof source, "api:%s", src ? src : "catalogue.csv");
        size_t len = 0;
        const char *buf = http_req_body(req, &len);
        rc = catalogue_parse_csv(c, source, buf ? buf : "", len);
    } else {
        if ((body = http_req_json(req)) == NULL) goto out;
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v) {
            int known = 0;
            for (int i = 0; catalogue_keys[i]; i++) known |= !strcmp(key, catalogue_keys[i]);
            if (!known) {
                http_reply_error(req, 400, "unknown_field", key, "%.60s: not a field (entries or csv, note, source)",
                                 key);
                goto out;
            }
        }
        static const char *const texts[] = {"note", "source"};
        for (int i = 0; i < 2; i++) {
            json_t *x = json_object_get(body, texts[i]);
            if (x == NULL || json_is_null(x)) continue;
            if (!json_is_string(x)) {
                http_reply_error(req, 400, "wrong_type", texts[i], "%s: a string", texts[i]);
                goto out;
            }
            if (text_param(req, texts[i], json_string_value(x), json_string_length(x), i ? SOURCE_MAX : NOTE_MAX) != 0)
                goto out;
            *(i ? &src : &note) = json_string_value(x);
        }
        json_t *e = json_object_get(body, "entries"), *csv = json_object_get(body, "csv");
        if (e && json_is_null(e)) e = NULL;
        if (csv && json_is_null(csv)) csv = NULL;
        if ((e == NULL) == (csv == NULL)) {
            http_reply_error(req, 400, e ? "not_allowed" : "missing_field", "entries",
                             "entries: give the entries (a JSON array) or csv (the CSV file's text), %s",
                             e ? "not both" : "one of them");
            goto out;
        }
        if (csv) {
            if (!json_is_string(csv)) {
                http_reply_error(req, 400, "wrong_type", "csv", "csv: the CSV file's text, as a string");
                goto out;
            }
            snprintf(source, sizeof source, "api:%s", src ? src : "catalogue.csv");
            rc = catalogue_parse_csv(c, source, json_string_value(csv), json_string_length(csv));
        } else {
            if (!json_is_array(e)) {
                http_reply_error(req, 400, "wrong_type", "entries", "entries: an array of entries");
                goto out;
            }
            /* Sorted keys: the same entries give the same digest, so a re-import is recognised. */
            text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
            snprintf(source, sizeof source, "api:%s", src ? src : "catalogue.json");
            rc = text ? catalogue_parse_json(c, source, text, strlen(text)) : -1;
        }
    }
    if (rc != 0) {
        http_reply_error(req, 500, "internal", NULL, "the data could not be read: %s", catalogue_strerror(c));
        goto out;
    }
    /* A principal with a region imports that region's part of the catalogue: the new version
     * keeps the other regions' entries (catalogue_import_by). */
    (void)catalogue_scope_check(c, p->region_code);
    catalogue_import_result_t res;
    /* Even with errors found already: the rows that read well are checked against the database
     * too (nothing is written), so the one answer names every problem. */
    if (catalogue_import_by(c, ds->pg, note, p->id, &res) == 0) {
        LOGI("catalogue imported", LF_STR("req", http_req_id(req)), LF_INT("principal", p->id),
             LF_INT("version", res.version), LF_INT("entries", res.entries), LF_INT("kept", res.kept),
             LF_STR("unchanged", res.unchanged ? "yes" : "no"));
        char loc[64];
        snprintf(loc, sizeof loc, "/v1/catalogue/versions/%d", res.version);
        http_reply_header(req, "Location", loc);
        http_reply_json(req, res.unchanged ? 200 : 201,
                        json_pack("{s:i,s:I,s:b,s:s,s:s?,s:I}", "version", res.version, "entries",
                                  (json_int_t)res.entries, "unchanged", res.unchanged, "source", source, "note",
                                  res.unchanged ? NULL : note, "imported_by", (json_int_t)p->id));
        goto out;
    }
    if (catalogue_error_count(c) == 0) reply_failed(req, ds->pg, "catalogue", catalogue_strerror(c));
    else reply_rows(req, catalogue_error_count(c), catalogue_errors_json(c));
out:
    free(text);
    json_decref(body);
    catalogue_free(c);
}

/* ---- reads ------------------------------------------------------------------------------------------ */

/* ?name= as a number in [lo, hi] (def when absent). 0, or -1 with the 400 sent. */
static int query_int(http_req_t *req, const char *name, long def, long lo, long hi, long *out)
{
    const char *s = http_req_query(req, name);
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : def;
    if (s && (*s == '\0' || *end != '\0' || v < lo || v > hi)) {
        http_reply_error(req, 400, "out_of_range", name, "%s: a whole number from %ld to %ld", name, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static json_t *str_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

#define VERSION_COLS                                                                                    \
    "v.version, v.source, v.sha256, v.entries, v.note,"                                                 \
    " (extract(epoch from v.imported_at) * 1000)::bigint, v.imported_by, p.name,"                       \
    " v.version = (SELECT max(version) FROM catalogue_versions)"                                        \
    " FROM catalogue_versions v LEFT JOIN principals p ON p.id = v.imported_by"

static json_t *version_json(PGresult *r, int i)
{
    char at[40];
    json_t *by = PQgetisnull(r, i, 6) ? json_null()
                                      : json_pack("{s:I,s:s}", "id", (json_int_t)strtoll(PQgetvalue(r, i, 6), NULL, 10),
                                                  "name", PQgetvalue(r, i, 7));
    return json_pack("{s:i,s:s,s:s,s:i,s:o,s:s,s:o,s:b}", "version", atoi(PQgetvalue(r, i, 0)), "source",
                     PQgetvalue(r, i, 1), "sha256", PQgetvalue(r, i, 2), "entries", atoi(PQgetvalue(r, i, 3)), "note",
                     str_or_null(r, i, 4), "imported_at",
                     dsp_time(strtoll(PQgetvalue(r, i, 5), NULL, 10), at, sizeof at), "imported_by", by, "in_force",
                     PQgetvalue(r, i, 8)[0] == 't');
}

void dsp_h_catalogue_versions(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    long limit;
    if (query_int(req, "limit", 50, 1, 500, &limit) != 0) return;
    char lim[16];
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *pa[] = {lim};
    PGresult *r = NULL;
    if (pg_query(ds->pg, "SELECT " VERSION_COLS " ORDER BY v.version DESC LIMIT $1::int", 1, pa, &r) != 0) {
        dsp_reply_db(req, ds->pg, "listing catalogue versions");
        return;
    }
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) json_array_append_new(a, version_json(r, i));
    PQclear(r);
    http_reply_json(req, 200, json_pack("{s:o}", "versions", a));
}

void dsp_h_catalogue_version(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    const char *vs = http_req_param(req, 0);
    char *end = NULL;
    long v = strtol(vs, &end, 10);
    if (strcmp(vs, "current") && (*vs == '\0' || *end != '\0' || v < 1 || v > 1000000000)) {
        http_reply_error(req, 400, "invalid_value", "version", "version: a version number, or current");
        return;
    }
    const char *matter = http_req_query(req, "matter_type"), *region = http_req_query(req, "region");
    long limit, offset;
    if (query_int(req, "limit", 100, 1, 1000, &limit) != 0 || query_int(req, "offset", 0, 0, 10000000, &offset) != 0)
        return;
    if (matter && text_param(req, "matter_type", matter, strlen(matter), CATALOGUE_MATTER_MAX) != 0) return;
    if (region && dsp_code_tier(region) == 0) {
        http_reply_error(req, 400, "invalid_value", "region", "region: a division code of 6, 9 or 12 digits");
        return;
    }
    char vb[16], lim[16], off[16];
    snprintf(vb, sizeof vb, "%ld", strcmp(vs, "current") ? v : 0L);
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *pv[] = {vb};
    PGresult *r = NULL;
    if (pg_query(ds->pg,
                 "SELECT " VERSION_COLS " WHERE v.version = CASE WHEN $1::int = 0"
                 " THEN (SELECT max(version) FROM catalogue_versions) ELSE $1::int END",
                 1, pv, &r) != 0) {
        dsp_reply_db(req, ds->pg, "reading a catalogue version");
        return;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        http_reply_error(req, 404, "not_found", "version", "no catalogue version %s", vs);
        return;
    }
    json_t *out = version_json(r, 0);
    char ver[16];
    snprintf(ver, sizeof ver, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *pe[] = {ver, matter, region, lim, off};
    if (pg_query(ds->pg,
                 "SELECT e.matter_type, e.region_code, e.tier, lu.code,"
                 " array_to_string(ARRAY(SELECT cu.code FROM unnest(e.co_unit_ids) WITH ORDINALITY AS x(id, n)"
                 "   JOIN units cu ON cu.id = x.id ORDER BY x.n), ';'), e.dispatch, e.basis, e.line"
                 " FROM catalogue_entries e JOIN units lu ON lu.id = e.lead_unit_id"
                 " WHERE e.version = $1::int AND ($2::text IS NULL OR e.matter_type = $2)"
                 "   AND ($3::text IS NULL OR e.region_code = $3)"
                 " ORDER BY e.line LIMIT $4::int OFFSET $5::int",
                 5, pe, &r) != 0) {
        json_decref(out);
        dsp_reply_db(req, ds->pg, "reading catalogue entries");
        return;
    }
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *co = json_array();
        const char *s = PQgetvalue(r, i, 4);
        while (*s) {
            const char *q = strchr(s, ';');
            size_t n = q ? (size_t)(q - s) : strlen(s);
            json_array_append_new(co, json_stringn(s, n));
            s += n + (q != NULL);
        }
        int t = atoi(PQgetvalue(r, i, 2));
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:i}", "matter_type", PQgetvalue(r, i, 0),
                                           "region_code", PQgetvalue(r, i, 1), "tier",
                                           t >= 1 && t <= 4 ? tier_words[t] : "", "lead_unit", PQgetvalue(r, i, 3),
                                           "co_handlers", co, "dispatch", PQgetvalue(r, i, 5), "basis",
                                           str_or_null(r, i, 6), "line", atoi(PQgetvalue(r, i, 7))));
    }
    bool more = PQntuples(r) == limit;
    PQclear(r);
    json_object_set_new(out, "items", a);
    json_object_set_new(out, "next_offset", more ? json_integer(offset + limit) : json_null());
    http_reply_json(req, 200, out);
}

void dsp_h_regions(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    const char *parent = http_req_query(req, "parent"), *tier = http_req_query(req, "tier");
    long limit, offset;
    if (query_int(req, "limit", 100, 1, 1000, &limit) != 0 || query_int(req, "offset", 0, 0, 10000000, &offset) != 0)
        return;
    if (parent && dsp_code_tier(parent) == 0) {
        http_reply_error(req, 400, "invalid_value", "parent", "parent: a division code of 6, 9 or 12 digits");
        return;
    }
    int t = 0;
    for (int i = 1; tier && i <= 4; i++)
        if (!strcmp(tier, tier_words[i])) t = i;
    if (tier && t == 0) {
        http_reply_error(req, 400, "not_allowed", "tier", "tier: province, city, county or township");
        return;
    }
    char tb[16], lim[16], off[16];
    snprintf(tb, sizeof tb, "%d", t);
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *pa[] = {parent, t ? tb : NULL, lim, off};
    PGresult *r = NULL;
    if (pg_query(ds->pg,
                 "SELECT r.code, r.name, r.tier, r.parent_code, r.policy_profile,"
                 " (SELECT u.code FROM units u WHERE u.region_code = r.code AND u.kind = 'centre' AND u.active LIMIT 1)"
                 " FROM regions r WHERE ($1::text IS NULL OR r.parent_code = $1) AND ($2::int IS NULL OR r.tier = $2::int)"
                 " ORDER BY r.code LIMIT $3::int OFFSET $4::int",
                 4, pa, &r) != 0) {
        dsp_reply_db(req, ds->pg, "listing regions");
        return;
    }
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        int rt = atoi(PQgetvalue(r, i, 2));
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "code", PQgetvalue(r, i, 0), "name",
                                           PQgetvalue(r, i, 1), "tier", rt >= 1 && rt <= 4 ? tier_words[rt] : "",
                                           "parent_code", str_or_null(r, i, 3), "policy_profile", str_or_null(r, i, 4),
                                           "centre", str_or_null(r, i, 5)));
    }
    bool more = PQntuples(r) == limit;
    PQclear(r);
    http_reply_json(req, 200, json_pack("{s:o,s:o}", "items", a, "next_offset",
                                        more ? json_integer(offset + limit) : json_null()));
}

static const char *const unit_kinds[] = {"centre", "department", "township", "zone", "supervision", "leadership",
                                         "discipline", "hotline", NULL};

void dsp_h_units(http_req_t *req, void *arg)
{
    dispatcher_t *ds = arg;
    const char *region = http_req_query(req, "region"), *kind = http_req_query(req, "kind"),
               *active = http_req_query(req, "active");
    long limit, offset;
    if (query_int(req, "limit", 100, 1, 1000, &limit) != 0 || query_int(req, "offset", 0, 0, 10000000, &offset) != 0)
        return;
    if (region && dsp_code_tier(region) == 0) {
        http_reply_error(req, 400, "invalid_value", "region", "region: a division code of 6, 9 or 12 digits");
        return;
    }
    bool known = kind == NULL;
    for (int i = 0; kind && unit_kinds[i]; i++) known |= !strcmp(kind, unit_kinds[i]);
    if (!known) {
        http_reply_error(req, 400, "not_allowed", "kind",
                         "kind: centre, department, township, zone, supervision, leadership, discipline or hotline");
        return;
    }
    if (active && strcmp(active, "true") && strcmp(active, "false")) {
        http_reply_error(req, 400, "not_allowed", "active", "active: true or false");
        return;
    }
    char lim[16], off[16];
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *pa[] = {region, kind, active, lim, off};
    PGresult *r = NULL;
    if (pg_query(ds->pg,
                 "SELECT code, name, region_code, kind, active FROM units"
                 " WHERE ($1::text IS NULL OR region_code = $1) AND ($2::text IS NULL OR kind = $2)"
                 "   AND ($3::boolean IS NULL OR active = $3::boolean)"
                 " ORDER BY code LIMIT $4::int OFFSET $5::int",
                 5, pa, &r) != 0) {
        dsp_reply_db(req, ds->pg, "listing units");
        return;
    }
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:b}", "code", PQgetvalue(r, i, 0), "name",
                                           PQgetvalue(r, i, 1), "region_code", PQgetvalue(r, i, 2), "kind",
                                           PQgetvalue(r, i, 3), "active", PQgetvalue(r, i, 4)[0] == 't'));
    bool more = PQntuples(r) == limit;
    PQclear(r);
    http_reply_json(req, 200, json_pack("{s:o,s:o}", "items", a, "next_offset",
                                        more ? json_integer(offset + limit) : json_null()));
}
