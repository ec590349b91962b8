/*
 * policy.h — policy profiles: every rule of a locality's appeal mechanism as data.
 *
 * The five seed documents differ in their clocks (科右前旗 agrees each deadline with the
 * enterprise, 汕头 gives 1/2/3 working days, 枣阳 5 and 20, 滕州 5 with a plan for the
 * rest), their revisit and redo rules, their supervision and cards and their satisfaction
 * scale. DOMAIN.md says such differences are settings of a profile, never branches in code,
 * so each locality is one JSON file in deploy/policies/ (format in docs/DEADLINES.md) and
 * this module loads and validates it into a read-only policy_t that the daemons consult.
 * Validation is strict on purpose — every rule must be stated (null where a locality has
 * no such rule), an unknown key is an error, and every message names the profile, the key
 * and the problem — because a typo in a deadline silently applied is worse than a daemon
 * that refuses to start.
 *
 * A policy set is filled by the load functions and then only read; the read functions are
 * safe from any number of threads. Fallible functions return 0 or -1 and, when `err` is not
 * NULL, write one line into err[errlen]. Strings in a policy_t are owned by the set.
 */
#ifndef JIESU_POLICY_H
#define JIESU_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"

/* --- kinds, complexities, windows -------------------------------------------------- */

/* The five kinds of appeal, spelt as cases.kind spells them. */
typedef enum policy_kind {
    POLICY_KIND_CONSULTATION = 0, /* consultation 咨询 */
    POLICY_KIND_HELP,             /* help 求助 */
    POLICY_KIND_COMPLAINT,        /* complaint 投诉 */
    POLICY_KIND_REPORT,           /* report 举报 */
    POLICY_KIND_SUGGESTION,       /* suggestion 意见建议 */
    POLICY_KIND_COUNT
} policy_kind_t;

typedef enum policy_complexity {
    POLICY_COMPLEXITY_SIMPLE = 0, /* simple */
    POLICY_COMPLEXITY_GENERAL,    /* general */
    POLICY_COMPLEXITY_COMPLEX,    /* complex 疑难复杂 */
    POLICY_COMPLEXITY_COUNT
} policy_complexity_t;

/* How a window is measured. The spelling in a profile file is in brackets. */
typedef enum policy_unit {
    POLICY_UNIT_NONE = 0,     /* null: the locality has no such clock */
    POLICY_UNIT_WORKING_DAYS, /* "5wd": end of the 5th working day after the start day */
    POLICY_UNIT_DAYS,         /* "5d": calendar days; an end on a rest day moves to the next
                                 working day (期间届满日为节假日的, 顺延) */
    POLICY_UNIT_HOURS,        /* "24h": clock hours from the instant */
    POLICY_UNIT_IMMEDIATE,    /* "immediate" or "immediate, else 24h" */
    POLICY_UNIT_AGREED,       /* "agreed": set per case with the enterprise */
    POLICY_UNIT_ORIGINAL,     /* "original" (redo only): the case's own window again */
    POLICY_UNIT_WITH_RESULT   /* "with_result" (result to enterprise only): told with the
                                 result itself, no separate clock */
} policy_unit_t;

typedef struct policy_window {
    policy_unit_t unit;
    int n;                 /* WORKING_DAYS, DAYS, HOURS: 1..1000 */
    policy_unit_t else_unit; /* IMMEDIATE: WORKING_DAYS, DAYS or HOURS to fall back on, or
                                NONE for a bare "immediate" */
    int else_n;
} policy_window_t;

/* "consultation" … "suggestion"; NULL out of range. */
const char *policy_kind_to_str(policy_kind_t k);
JS_MUST_CHECK int policy_kind_from_str(const char *s, policy_kind_t *out);
/* "simple", "general", "complex"; NULL out of range. */
const char *policy_complexity_to_str(policy_complexity_t c);
JS_MUST_CHECK int policy_complexity_from_str(const char *s, policy_complexity_t *out);

/*
 * Parses a window as a profile file spells it: "5wd", "5d", "24h", "immediate",
 * "immediate, else 24h", "agreed", "original", "with_result" (no ${setting} references here:
 * those are resolved by the profile loader). Used also for a deadline agreed per case.
 */
JS_MUST_CHECK int policy_window_parse(const char *s, policy_window_t *out, char *err,
                                      size_t errlen);
/* The file spelling of w into buf ("null" for NONE); returns snprintf's count. */
int policy_window_format(const policy_window_t *w, char *buf, size_t len);

/* --- the profile ------------------------------------------------------------------- */

/* Nullable integers hold this when the file says null. */
#define POLICY_UNSET (-1)

typedef enum policy_after_unsatisfied {
    POLICY_AFTER_ESCALATE = 0,       /* "escalate": complex, up one tier (广西) */
    POLICY_AFTER_DISCIPLINE_REFERRAL,/* "discipline_referral": to 纪委监委 (枣阳) */
    POLICY_AFTER_REVIEW_FORM,        /* "review_form": 不满意诉求审核反馈表 (滕州) */
    POLICY_AFTER_MEETING             /* "meeting": the 直通车 meeting list (汕头) */
} policy_after_unsatisfied_t;

typedef enum policy_approver {
    POLICY_APPROVER_NONE = 0, /* null */
    POLICY_APPROVER_CENTRE,   /* "centre": the dispatch centre / working-group office */
    POLICY_APPROVER_LEADER    /* "leader": the leader in charge */
} policy_approver_t;

/* Why a clock may pause; bit (1u << reason) in policy_t.pause_reasons. */
typedef enum policy_pause_reason {
    POLICY_PAUSE_AWAITING_MATERIALS = 0, /* "awaiting_materials": the enterprise's papers */
    POLICY_PAUSE_ENTERPRISE_REQUEST,     /* "enterprise_request" */
    POLICY_PAUSE_THIRD_PARTY_PROCEDURE,  /* "third_party_procedure": testing, appraisal… */
    POLICY_PAUSE_FORCE_MAJEURE,          /* "force_majeure" */
    POLICY_PAUSE_COUNT
} policy_pause_reason_t;

#define POLICY_SCALE_MAX 7

/* One profile. Field comments give the file key; see docs/DEADLINES.md for each rule. */
typedef struct policy {
    char *name;    /* "name": also the file name and regions.policy_profile */
    char *title;   /* "title" */
    char *source;  /* "source": the document the rules come from */
    char *region;  /* "region": the region the profile was written for, or NULL */
    char *file;    /* where it was loaded from (label) */
    int office_close_s; /* "office_close" as seconds after midnight; default 86399 */

    policy_window_t windows[POLICY_KIND_COUNT][POLICY_COMPLEXITY_COUNT]; /* "windows.K.C" */

    policy_window_t intake_review;       /* "intake.review" */
    policy_window_t out_of_scope_notice; /* "intake.out_of_scope_notice" */
    policy_window_t sign_for;            /* "sign_for.window" */
    int sign_for_lower_tier_extra_wd;    /* "sign_for.lower_tier_extra_wd" */
    policy_window_t first_contact;       /* "first_contact" */
    policy_window_t result_to_enterprise;/* "result_to_enterprise" */

    bool progress_weekly;          /* "progress.weekly" */
    int progress_weekday;          /* "progress.weekday": ISO 1..7, POLICY_UNSET = any day */
    int monthly_review_day;        /* "monthly.review_day": 1..28 or POLICY_UNSET */
    int monthly_seriously_late_wd; /* "monthly.seriously_late_wd" or POLICY_UNSET */
    bool monthly_bulletin;         /* "monthly.bulletin" */

    policy_window_t revisit;       /* "revisit.window" */
    bool revisit_same_day_return;  /* "revisit.same_day_return" */
    bool revisit_lookback_sampling;/* "revisit.lookback_sampling" */
    int revisit_coverage_percent;  /* "revisit.coverage_percent" or POLICY_UNSET */
    policy_window_t redo;          /* "redo.window" */
    policy_after_unsatisfied_t after_second_unsatisfied; /* "redo.after_second_unsatisfied" */
    /* Added for the revisit daemon (issue 6); optional keys with defaults, so older files load. */
    int revisit_unreachable_after; /* "revisit.unreachable_after": unanswered tries that close
                                      the case (revisit_unreachable); 1..10, default 3 */
    int revisit_lookback_percent;  /* "revisit.lookback_percent": 回头看 sample rate, 1..100, or
                                      POLICY_UNSET (default); set only with lookback_sampling */
    policy_window_t archive_after; /* "archive.after": closed → archived (定期归档), Nwd or Nd;
                                      default 5wd */
    int archive_retention_years;   /* "archive.retention_years": 1..100, default 10 */

    bool extension_allowed;             /* "extension.allowed" */
    policy_approver_t extension_approver; /* "extension.approver" */
    double extension_max_factor;        /* "extension.max_factor"; 0 = no cap */
    int extension_max_count;            /* "extension.max_count" or POLICY_UNSET */
    bool extension_ask_before_due;      /* "extension.ask_before_due" */

    bool pause_allowed;       /* "pause.allowed" */
    unsigned pause_reasons;   /* "pause.reasons": bit per policy_pause_reason_t */

    int warning_days_before;  /* "warning.days_before" */
    int warning_hours_before; /* "warning.hours_before" */

    int sup_reminder_unsigned_times;     /* "supervision.reminder.unsigned_times" */
    bool sup_reminder_overdue;           /* "supervision.reminder.overdue" */
    int sup_reminder_repeat_reports;     /* "supervision.reminder.repeat_reports" */
    int sup_rectify_unsatisfied_results; /* "supervision.rectification.unsatisfied_results" */
    int sup_rectify_improper_closes;     /* "supervision.rectification.improper_close_requests" */
    bool sup_rectify_in_bulletin;        /* "supervision.rectification.in_monthly_bulletin" */
    bool sup_interview;                  /* "supervision.interview" */
    policy_window_t sup_notice_reply;    /* "supervision.notice_reply" */
    bool sup_discipline_referral;        /* "supervision.discipline_referral" */

    bool cards_enabled;            /* "cards.enabled" */
    int cards_red_after_yellows;   /* "cards.red_after_yellows" or POLICY_UNSET */
    int cards_principal_after_reds;/* "cards.principal_after_reds" or POLICY_UNSET */

    char *scale[POLICY_SCALE_MAX]; /* "satisfaction.scale", best first */
    int scale_len;
    int satisfied_levels;          /* "satisfaction.satisfied_levels": the first N satisfy */
    int satisfaction_target_percent; /* "satisfaction.target_percent" or POLICY_UNSET */
} policy_t;

/* The window for a kind and complexity; NULL when either is out of range. */
const policy_window_t *policy_window_for(const policy_t *p, policy_kind_t k,
                                         policy_complexity_t c);

/*
 * May a case of this profile get `requested` more units (of its window's unit) when it has
 * had `granted_count` extensions adding `granted_total` already? Checks extension.allowed,
 * max_count and max_factor (the total may not exceed factor × the original window, seed
 * 003: at most once the original). `original` is the window the case started with (for
 * "immediate, else X" its fallback counts; for an agreed deadline, the agreed window).
 */
JS_MUST_CHECK int policy_extension_check(const policy_t *p, const policy_window_t *original,
                                         int granted_total, int granted_count, int requested,
                                         char *err, size_t errlen);
/* May the clock pause for this reason? */
bool policy_pause_allowed(const policy_t *p, policy_pause_reason_t reason);
const char *policy_pause_reason_to_str(policy_pause_reason_t r);
JS_MUST_CHECK int policy_pause_reason_from_str(const char *s, policy_pause_reason_t *out);
/* The level of a satisfaction label (0 = best), or -1 if the scale has no such label. */
int policy_satisfaction_level(const policy_t *p, const char *label);
/* Does that level count as satisfied (满意率's numerator)? */
bool policy_level_satisfies(const policy_t *p, int level);

/* --- the set of profiles ----------------------------------------------------------- */

typedef struct policy_set policy_set_t;

policy_set_t *policy_set_new(void);
void policy_set_free(policy_set_t *ps);

/*
 * Loads and validates one profile. From a file, the profile's "name" must equal the file's
 * base name without ".json". A name already in the set is refused. On failure the set is
 * unchanged. `label` names the text in errors.
 */
JS_MUST_CHECK int policy_set_load_file(policy_set_t *ps, const char *path, char *err,
                                       size_t errlen);
JS_MUST_CHECK int policy_set_load_string(policy_set_t *ps, const char *label, const char *json,
                                         char *err, size_t errlen);
/* Every *.json of dir, in name order; stops at the first bad file. */
JS_MUST_CHECK int policy_set_load_dir(policy_set_t *ps, const char *dir, char *err,
                                      size_t errlen);

/* By name; NULL when absent. Borrowed, valid until the set is freed. */
const policy_t *policy_set_find(const policy_set_t *ps, const char *name);
size_t policy_set_count(const policy_set_t *ps);
const policy_t *policy_set_at(const policy_set_t *ps, size_t i);

/*
 * Region → profile, where regions.policy_profile NULL inherits the parent's. `lookup` answers
 * for one region code: 0 with *profile (NULL = inherit) and *parent (NULL at the top), or -1
 * for an unknown region; the strings need live only until the next call. The walk goes up
 * at most 8 levels (as region_effective_profile() does). -1, naming the region, when no
 * ancestor names a profile, a named profile is not loaded, or a region is unknown.
 */
typedef int (*policy_region_lookup_fn)(void *ud, const char *code, const char **profile,
                                       const char **parent);
JS_MUST_CHECK int policy_set_resolve_region(const policy_set_t *ps, const char *region,
                                            policy_region_lookup_fn lookup, void *ud,
                                            const policy_t **out, char *err, size_t errlen);
/* The same without a database: the profile whose "region" is `region` or its nearest
 * ancestor by code (450102 → 4501 → 45); NULL when none. */
const policy_t *policy_set_find_for_region(const policy_set_t *ps, const char *region);

#endif
