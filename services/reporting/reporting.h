/*
 * reporting.h — jiesu-reporting's internal interfaces (not part of libcommon).
 *
 * query.c     request parameters (period, grouping, filters) validated field by field, the
 *             caller's region scope, and the measures query over the read models
 * api.c       the consumer's handler, measures, rankings and the red-black list (红黑榜)
 * bulletin.c  the monthly bulletin (一月一通报) as a printable HTML document
 * ledger.c    the ledger (台账) as CSV, xlsx (libxlsxwriter) or JSON
 * csvcell.c   one CSV cell, quoted and never read as a formula (csvcell.h: no dependency)
 * dossier.c   a case's full dossier for the archive (立卷归档)
 * track.c     enterprise tracking by case number and tracking code, throttled
 * recurring.c recurring problems (一件事 → 一类事)
 */
#ifndef JIESU_REPORTING_H
#define JIESU_REPORTING_H

#include <jansson.h>
#include <stdbool.h>

#include "calendar.h"
#include "config.h"
#include "daemon.h"
#include "http.h"
#include "kafka.h"
#include "pg.h"
#include "readmodel.h"

typedef struct {
    cfg_common_t common;
    bool consume;            /* run the read-model consumer */
    char *case_topic, *unit_topic;
    long track_ip_per_min;   /* tracking look-ups per client address per minute */
    long track_case_per_hour;/* tracking look-ups per case number and client per hour */
    long track_case_total_per_hour; /* … per case number from all clients together */
    long ledger_max_rows;
    long recurring_max_cases;
    long recurring_pct;      /* text similarity (percent) at or above which two cases are one class */
    long rank_min_cases;     /* cases a unit needs in the period to be ranked */
    long red_min_score;      /* 红榜: composite score at least this */
    long black_max_score;    /* 黑榜: composite score below this */
    long list_size;          /* entries of each list */
    long max_period_days;
    long refresh_s;          /* how often the territory map is refreshed */
} rep_config_t;

typedef struct {
    daemon_t *d;
    rep_config_t *cfg;
    pg_t *pg;                /* API queries (the consumer has its own connection) */
    char root[16];           /* the deployment's top region: a leader without a region sees it */
    char root_name[96];
    struct event *refresh_ev;
    metric_t *m_applied, *m_tracked, *m_track_denied, *m_exports;
} rep_t;

/* ---- query.c ------------------------------------------------------------------------- */

enum {
    REP_G_UNIT = 1,
    REP_G_REGION = 2,
    REP_G_TIER = 4,
    REP_G_KIND = 8,
    REP_G_DAY = 16,
    REP_G_MONTH = 32,
};

typedef struct {
    calendar_day_t from, to; /* inclusive */
    char scope[16];          /* the region the query covers */
    long long unit_id;       /* 0: any */
    char kind[16];           /* "": any */
    int tier;                /* 0: any */
    unsigned group;          /* REP_G_* */
    int level;               /* the tier regions are grouped at */
} rep_query_t;

typedef struct {
    long long unit_id;
    char unit_name[256];
    char region_code[16];
    char region_name[128];
    int tier;
    char kind[16];
    calendar_day_t day;      /* day or month (its first day) */
    rm_group_t g;
} rep_row_t;

/* Runs q; *rows (malloc'd, caller frees) has *n rows in key order. -1 on a database error. */
int rep_query_run(rep_t *s, const rep_query_t *q, rep_row_t **rows, size_t *n) JS_MUST_CHECK;
/* One row as JSON (its keys as grouped, its counters and measures). New reference. */
json_t *rep_row_json(const rep_row_t *r, unsigned group);
json_t *rep_rate_json(const rm_rate_t *r);

/* Parameter helpers: each validates one query parameter and, on a bad value, replies 400
 * naming it and returns -1 (the request is then finished). */
int rep_param_period(http_req_t *req, rep_t *s, calendar_day_t *from, calendar_day_t *to) JS_MUST_CHECK;
int rep_param_month(http_req_t *req, const char *name, calendar_day_t *first, calendar_day_t *last) JS_MUST_CHECK;
int rep_param_int(http_req_t *req, const char *name, long min, long max, long def, long *out) JS_MUST_CHECK;
int rep_param_enum(http_req_t *req, const char *name, const char *const *values, const char *def,
                   const char **out) JS_MUST_CHECK;
int rep_param_filters(http_req_t *req, rep_query_t *q) JS_MUST_CHECK; /* kind, tier */
int rep_param_level(http_req_t *req, const char *scope, int *level) JS_MUST_CHECK;

/* The caller's scope: the `region` parameter (checked against the principal's region) or the
 * principal's own; with `unit_id`, that unit (which must lie in the scope). Replies 400/403/404
 * and returns -1 on a refusal. */
int rep_scope(http_req_t *req, rep_t *s, char scope[16], long long *unit_id) JS_MUST_CHECK;

/* Name of a region / unit for documents ("" when unknown). */
void rep_region_name(rep_t *s, const char *code, char *out, size_t len);
void rep_unit_name(rep_t *s, long long id, char *out, size_t len, char *region, size_t rlen);

void rep_reply_db_error(http_req_t *req, pg_t *pg, const char *what);
/* Appends one audit_log row (best effort; a failure is logged). */
void rep_audit(rep_t *s, http_req_t *req, const char *action, const char *object, json_t *detail /* stolen */);

/* ---- handlers ------------------------------------------------------------------------ */

kcons_result_t rep_consume(void *arg, pg_t *pg, const rd_kafka_message_t *m, const char *event_id,
                           char *err, size_t errlen);
void rep_measures(http_req_t *req, void *arg);   /* GET /v1/reports/measures */
void rep_rankings(http_req_t *req, void *arg);   /* GET /v1/reports/rankings */
void rep_bulletin(http_req_t *req, void *arg);   /* GET /v1/reports/bulletin */
void rep_ledger(http_req_t *req, void *arg);     /* GET /v1/reports/ledger */
void rep_recurring(http_req_t *req, void *arg);  /* GET /v1/reports/recurring */
void rep_dossier(http_req_t *req, void *arg);    /* GET /v1/cases/{id}/dossier */
void rep_track_public(http_req_t *req, void *arg); /* POST /v1/track */
void rep_track_own(http_req_t *req, void *arg);  /* GET /v1/track/{case_no} (enterprise) */

/* rankings, shared with the bulletin: rows scored and sorted best first. */
typedef struct {
    rep_row_t row;
    rm_measures_t m;
    bool ranked;             /* enough cases to be ranked */
} rep_ranked_t;
int rep_rank(rep_t *s, const rep_query_t *q, rep_ranked_t **out, size_t *n) JS_MUST_CHECK;

/* recurring problems, shared with the bulletin: the largest groups as a JSON array. */
json_t *rep_recurring_groups(rep_t *s, const rep_query_t *q, int limit, int *err);

#endif
