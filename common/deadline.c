/*
 * deadline.c — RFC 3339 instants in and out, the counting rule, and `jiesuctl due`.
 *
 * Time is kept as UTC milliseconds and turned into an Asia/Shanghai date only where the rule
 * needs a date (which day was the start day, which day is the N-th working day); the end of
 * a day is then turned back into an instant with the profile's office close. Shanghai is a
 * fixed UTC+8 (no DST since 1991), so that is plain arithmetic, and the answer never depends
 * on the TZ of the machine. Working days come from the calendar module, which refuses a year
 * it does not have; this file passes that refusal on and never substitutes a guess.
 */
#include "deadline.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS_PER_S INT64_C(1000)
#define S_PER_DAY INT64_C(86400)
#define MS_PER_HOUR INT64_C(3600000)

static void seterr(char *err, size_t len, const char *fmt, ...) JS_PRINTF(3, 4);
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    if (err == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* --- instants ---------------------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int deadline_time_parse(const char *s, int64_t *at_ms, char *err, size_t errlen)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 1;
    int64_t frac_ms = 0;
    calendar_day_t day;
    if (s == NULL)
        goto bad;
    size_t len = strlen(s), i = 19;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
        digits(s + 8, 2, &d) || digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &sec))
        goto bad;
    if (calendar_day_from_ymd(y, mo, d, &day) != 0) {
        seterr(err, errlen, "'%s': no such date", s);
        return -1;
    }
    if (h > 23 || mi > 59 || sec > 59) {
        seterr(err, errlen, "'%s': time of day out of range (leap seconds are not accepted)", s);
        return -1;
    }
    if (s[i] == '.') {
        size_t start = ++i;
        int64_t scale = 100;
        while (i < len && isdigit((unsigned char)s[i])) {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start || i - start > 9)
            goto bad;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        /* UTC */
    } else if (i < len && (s[i] == '+' || s[i] == '-') && len - i == 6 && s[i + 3] == ':' &&
               digits(s + i + 1, 2, &oh) == 0 && digits(s + i + 4, 2, &om) == 0) {
        if (oh > 23 || om > 59)
            goto bad;
        sign = s[i] == '-' ? -1 : 1;
    } else {
        goto bad;
    }
    int64_t local_s = (int64_t)day * S_PER_DAY + h * 3600 + mi * 60 + sec;
    *at_ms = (local_s - sign * (oh * 3600 + om * 60)) * MS_PER_S + frac_ms;
    return 0;
bad:
    seterr(err, errlen, "'%s' is not an RFC 3339 date-time (e.g. 2026-09-30T20:00:00-05:00, "
           "2026-10-01T01:00:00Z)", s ? s : "(null)");
    return -1;
}

calendar_day_t deadline_local_day(int64_t at_ms)
{
    int64_t local_s = floor_div(at_ms, MS_PER_S) + DEADLINE_UTC_OFFSET_S;
    return (calendar_day_t)floor_div(local_s, S_PER_DAY);
}

int64_t deadline_local_instant(calendar_day_t day, int seconds)
{
    return ((int64_t)day * S_PER_DAY + seconds - DEADLINE_UTC_OFFSET_S) * MS_PER_S;
}

int deadline_time_format(int64_t at_ms, char *buf, size_t len)
{
    int64_t local_ms = at_ms + DEADLINE_UTC_OFFSET_S * MS_PER_S;
    calendar_day_t day = (calendar_day_t)floor_div(local_ms, S_PER_DAY * MS_PER_S);
    int64_t in_day = local_ms - (int64_t)day * S_PER_DAY * MS_PER_S;
    int ms = (int)(in_day % MS_PER_S), s = (int)(in_day / MS_PER_S);
    char date[11];
    calendar_day_format(day, date);
    if (ms != 0)
        return snprintf(buf, len, "%sT%02d:%02d:%02d.%03d+08:00", date, s / 3600, s / 60 % 60,
                        s % 60, ms);
    return snprintf(buf, len, "%sT%02d:%02d:%02d+08:00", date, s / 3600, s / 60 % 60, s % 60);
}

/* --- the rule ---------------------------------------------------------------------- */

static int check_pauses(const deadline_input_t *in, char *err, size_t errlen)
{
    if (in->n_pauses > 0 && in->pauses == NULL) {
        seterr(err, errlen, "n_pauses is %zu but pauses is NULL", in->n_pauses);
        return -1;
    }
    for (size_t i = 0; i < in->n_pauses; i++) {
        const deadline_pause_t *p = &in->pauses[i];
        char a[32], b[32];
        deadline_time_format(p->start_ms, a, sizeof a);
        deadline_time_format(p->end_ms, b, sizeof b);
        if (p->end_ms <= p->start_ms) {
            seterr(err, errlen, "pause %zu (%s → %s) does not end after it starts (an open "
                   "pause has no deadline yet)", i, a, b);
            return -1;
        }
        if (p->start_ms < in->from_ms) {
            seterr(err, errlen, "pause %zu starts at %s, before the clock started", i, a);
            return -1;
        }
        if (i > 0 && p->start_ms < in->pauses[i - 1].end_ms) {
            seterr(err, errlen, "pause %zu starts at %s, before pause %zu ended (pauses must be "
                   "in order and not overlap)", i, a, i - 1);
            return -1;
        }
    }
    return 0;
}

static int pause_after_due(size_t i, int64_t start_ms, int64_t due_ms, char *err, size_t errlen)
{
    char a[32], b[32];
    deadline_time_format(start_ms, a, sizeof a);
    deadline_time_format(due_ms, b, sizeof b);
    seterr(err, errlen, "pause %zu starts at %s, after the deadline then in force (%s)", i, a, b);
    return -1;
}

/* The first working day on or after `day` (a calendar-day deadline on a rest day moves). */
static int first_working_on_or_after(const deadline_input_t *in, calendar_day_t day,
                                     calendar_day_t *out, char *err, size_t errlen)
{
    return calendar_add_working_days(in->cal, in->region, day - 1, 1, out, err, errlen);
}

static int count_working_days(const deadline_input_t *in, char *err, size_t errlen, int n,
                              deadline_result_t *out)
{
    const int close_s = in->profile->office_close_s;
    const calendar_day_t start = deadline_local_day(in->from_ms);
    long total = (long)n + in->extension;
    calendar_day_t due_day;
    if (calendar_add_working_days(in->cal, in->region, start, (int)total, &due_day, err,
                                  errlen) != 0)
        return -1;
    for (size_t i = 0; i < in->n_pauses; i++) {
        const deadline_pause_t *p = &in->pauses[i];
        int64_t due_ms = deadline_local_instant(due_day, close_s);
        if (p->start_ms > due_ms)
            return pause_after_due(i, p->start_ms, due_ms, err, errlen);
        calendar_day_t a = deadline_local_day(p->start_ms), b = deadline_local_day(p->end_ms);
        int credited;
        if (calendar_count_working_days(in->cal, in->region, a > start ? a : start, b, &credited,
                                        err, errlen) != 0)
            return -1;
        total += credited;
        if (calendar_add_working_days(in->cal, in->region, start, (int)total, &due_day, err,
                                      errlen) != 0)
            return -1;
    }
    out->due_ms = deadline_local_instant(due_day, close_s);
    /* The reminder goes out at the close of the k-th working day before the due day, which is
     * the (total - k)-th after the start day: the 0-th is the start day itself. */
    long k = in->profile->warning_days_before;
    out->warn_ms = in->from_ms;
    if (k == 0) {
        out->warn_ms = out->due_ms;
    } else if (total - k >= 0) {
        calendar_day_t warn_day;
        if (calendar_add_working_days(in->cal, in->region, start, (int)(total - k), &warn_day,
                                      err, errlen) != 0)
            return -1;
        out->warn_ms = deadline_local_instant(warn_day, close_s);
    }
    return 0;
}

static int count_days(const deadline_input_t *in, char *err, size_t errlen, int n,
                      deadline_result_t *out)
{
    const int close_s = in->profile->office_close_s;
    const calendar_day_t start = deadline_local_day(in->from_ms);
    calendar_day_t due_day;
    if (first_working_on_or_after(in, start + n, &due_day, err, errlen) != 0)
        return -1;
    if (in->extension > 0 &&
        first_working_on_or_after(in, due_day + in->extension, &due_day, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < in->n_pauses; i++) {
        const deadline_pause_t *p = &in->pauses[i];
        int64_t due_ms = deadline_local_instant(due_day, close_s);
        if (p->start_ms > due_ms)
            return pause_after_due(i, p->start_ms, due_ms, err, errlen);
        calendar_day_t a = deadline_local_day(p->start_ms), b = deadline_local_day(p->end_ms);
        calendar_day_t credited = b - (a > start ? a : start);
        if (credited > 0 &&
            first_working_on_or_after(in, due_day + credited, &due_day, err, errlen) != 0)
            return -1;
    }
    out->due_ms = deadline_local_instant(due_day, close_s);
    out->warn_ms = deadline_local_instant(due_day - in->profile->warning_days_before, close_s);
    return 0;
}

static int count_hours(const deadline_input_t *in, char *err, size_t errlen, int n,
                       deadline_result_t *out)
{
    int64_t due = in->from_ms + ((int64_t)n + in->extension) * MS_PER_HOUR;
    for (size_t i = 0; i < in->n_pauses; i++) {
        const deadline_pause_t *p = &in->pauses[i];
        if (p->start_ms > due)
            return pause_after_due(i, p->start_ms, due, err, errlen);
        due += p->end_ms - p->start_ms;
    }
    out->due_ms = due;
    out->warn_ms = due - (int64_t)in->profile->warning_hours_before * MS_PER_HOUR;
    return 0;
}

static const char *why_no_length(policy_unit_t u)
{
    switch (u) {
    case POLICY_UNIT_AGREED:
        return "is agreed with the enterprise case by case (pass the agreed window)";
    case POLICY_UNIT_ORIGINAL:
        return "is 'original' (resolve it to the case's own window first)";
    case POLICY_UNIT_WITH_RESULT:
        return "is 'with_result' (no clock of its own)";
    default:
        return "is null (the profile has no such clock)";
    }
}

int deadline_compute(const deadline_input_t *in, deadline_result_t *out, char *err,
                     size_t errlen)
{
    if (in == NULL || in->window == NULL || in->profile == NULL || out == NULL) {
        seterr(err, errlen, "deadline_compute: window and profile are required");
        return -1;
    }
    if (in->extension < 0 || in->extension > 100000) {
        seterr(err, errlen, "an extension of %d is out of range", in->extension);
        return -1;
    }
    if (check_pauses(in, err, errlen) != 0)
        return -1;
    policy_unit_t unit = in->window->unit;
    int n = in->window->n;
    if (unit == POLICY_UNIT_IMMEDIATE) {
        if (in->window->else_unit == POLICY_UNIT_NONE) {
            if (in->extension > 0 || in->n_pauses > 0) {
                seterr(err, errlen, "an immediate clock can be neither extended nor paused");
                return -1;
            }
            out->due_ms = out->warn_ms = in->from_ms;
            return 0;
        }
        unit = in->window->else_unit;
        n = in->window->else_n;
    }
    deadline_result_t r;
    int rc;
    switch (unit) {
    case POLICY_UNIT_WORKING_DAYS:
        if (in->cal == NULL)
            goto no_calendar;
        rc = count_working_days(in, err, errlen, n, &r);
        break;
    case POLICY_UNIT_DAYS:
        if (in->cal == NULL)
            goto no_calendar;
        rc = count_days(in, err, errlen, n, &r);
        break;
    case POLICY_UNIT_HOURS:
        rc = count_hours(in, err, errlen, n, &r);
        break;
    default:
        seterr(err, errlen, "the window %s; there is no fixed deadline", why_no_length(unit));
        return -1;
    }
    if (rc != 0)
        return -1;
    if (r.warn_ms < in->from_ms)
        r.warn_ms = in->from_ms;
    if (r.warn_ms > r.due_ms)
        r.warn_ms = r.due_ms;
    *out = r;
    return 0;
no_calendar:
    seterr(err, errlen, "counting days needs a calendar");
    return -1;
}

int deadline_resolve_by(const calendar_t *cal, const char *region, const policy_t *profile,
                        policy_kind_t kind, policy_complexity_t complexity, int64_t from_ms,
                        deadline_result_t *out, char *err, size_t errlen)
{
    const policy_window_t *w = policy_window_for(profile, kind, complexity);
    if (w == NULL) {
        seterr(err, errlen, "no such kind or complexity");
        return -1;
    }
    if (w->unit == POLICY_UNIT_AGREED) {
        seterr(err, errlen, "profile '%s' agrees the deadline of a %s %s case with the "
               "enterprise case by case; there is no fixed resolve-by", profile->name,
               policy_complexity_to_str(complexity), policy_kind_to_str(kind));
        return -1;
    }
    deadline_input_t in = {.cal = cal, .region = region, .profile = profile, .window = w,
                           .from_ms = from_ms};
    return deadline_compute(&in, out, err, errlen);
}

/* --- deadlines that came from elsewhere ------------------------------------------- */

int deadline_warn_for(const calendar_t *cal, const char *region, const policy_t *profile,
                      policy_unit_t unit, int64_t from_ms, int64_t due_ms, int64_t *warn_ms,
                      char *err, size_t errlen)
{
    if (profile == NULL || warn_ms == NULL) {
        seterr(err, errlen, "deadline_warn_for: profile and warn_ms are required");
        return -1;
    }
    int64_t w;
    if (unit == POLICY_UNIT_HOURS) {
        w = due_ms - (int64_t)profile->warning_hours_before * MS_PER_HOUR;
    } else if (unit == POLICY_UNIT_WORKING_DAYS || unit == POLICY_UNIT_DAYS) {
        int k = profile->warning_days_before;
        calendar_day_t due_day = deadline_local_day(due_ms), warn_day = due_day - k;
        if (k == 0) {
            w = due_ms;
        } else {
            if (unit == POLICY_UNIT_WORKING_DAYS) {
                if (cal == NULL) {
                    seterr(err, errlen, "counting days needs a calendar");
                    return -1;
                }
                /* Walk back k working days, but never past the start day, which is never
                 * tested (its year need not be loaded): as in deadline_compute, landing on it
                 * warns at its close, and a clock shorter than that warns at once. */
                calendar_day_t start = deadline_local_day(from_ms), d = due_day;
                int got = 0;
                while (got < k && --d > start) {
                    bool working;
                    if (calendar_is_working_day(cal, region, d, &working, err, errlen) != 0)
                        return -1;
                    got += working;
                }
                if (got == k)
                    warn_day = d;
                else if (got == k - 1 && due_day > start) /* the due day is the k-th */
                    warn_day = start;
                else
                    warn_day = INT32_MIN;
            }
            w = warn_day == INT32_MIN ? from_ms
                                      : deadline_local_instant(warn_day, profile->office_close_s);
        }
    } else {
        seterr(err, errlen, "a clock counted as %d has no warning rule", (int)unit);
        return -1;
    }
    if (w < from_ms)
        w = from_ms;
    if (w > due_ms)
        w = due_ms;
    *warn_ms = w;
    return 0;
}

int deadline_credit_pause(const calendar_t *cal, const char *region, policy_unit_t unit,
                          int64_t due_ms, const deadline_pause_t *pause, int64_t *new_due_ms,
                          char *err, size_t errlen)
{
    if (pause == NULL || new_due_ms == NULL) {
        seterr(err, errlen, "deadline_credit_pause: pause and new_due_ms are required");
        return -1;
    }
    char a[32], b[32];
    deadline_time_format(pause->start_ms, a, sizeof a);
    deadline_time_format(pause->end_ms, b, sizeof b);
    if (pause->end_ms <= pause->start_ms) {
        seterr(err, errlen, "the pause %s → %s does not end after it starts", a, b);
        return -1;
    }
    if (pause->start_ms > due_ms) {
        deadline_time_format(due_ms, b, sizeof b);
        seterr(err, errlen, "the pause starts at %s, after the deadline then in force (%s)", a, b);
        return -1;
    }
    if (unit == POLICY_UNIT_HOURS) {
        *new_due_ms = due_ms + (pause->end_ms - pause->start_ms);
        return 0;
    }
    if (unit != POLICY_UNIT_WORKING_DAYS && unit != POLICY_UNIT_DAYS) {
        seterr(err, errlen, "a clock counted as %d cannot be paused", (int)unit);
        return -1;
    }
    if (cal == NULL) {
        seterr(err, errlen, "counting days needs a calendar");
        return -1;
    }
    calendar_day_t from = deadline_local_day(pause->start_ms), to = deadline_local_day(pause->end_ms);
    calendar_day_t due_day = deadline_local_day(due_ms), new_day = due_day;
    int64_t time_of_day = due_ms - deadline_local_instant(due_day, 0);
    if (unit == POLICY_UNIT_WORKING_DAYS) {
        int credited;
        if (calendar_count_working_days(cal, region, from, to, &credited, err, errlen) != 0)
            return -1;
        if (credited > 0 &&
            calendar_add_working_days(cal, region, due_day, credited, &new_day, err, errlen) != 0)
            return -1;
    } else if (to > from) {
        if (calendar_add_working_days(cal, region, due_day + (to - from) - 1, 1, &new_day, err,
                                      errlen) != 0)
            return -1;
    }
    *new_due_ms = deadline_local_instant(new_day, 0) + time_of_day;
    return 0;
}

/* --- jiesuctl due ------------------------------------------------------------------ */

#define CLI_USAGE                                                                          \
    "usage: jiesuctl due --profile NAME --kind KIND [--complexity simple|general|complex]\n" \
    "                    --from RFC3339 [--region CODE] [--policies DIR] [--calendar DIR]\n" \
    "  prints the resolve-by instant in +08:00, e.g. 2026-10-10T23:59:59+08:00\n"           \
    "  kinds: consultation help complaint report suggestion\n"

typedef struct cli_opts {
    const char *profile, *kind, *complexity, *from, *region, *policies, *calendar;
} cli_opts_t;

/* Lists the profile names of dir (for "unknown profile"), space-separated, into buf. */
static void list_profiles(const char *dir, char *buf, size_t len)
{
    policy_set_t *ps = policy_set_new();
    char err[16];
    buf[0] = '\0';
    if (ps == NULL)
        return;
    if (policy_set_load_dir(ps, dir, err, sizeof err) == 0 || policy_set_count(ps) > 0) {
        for (size_t i = 0; i < policy_set_count(ps); i++) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%s", used ? " " : "", policy_set_at(ps, i)->name);
        }
    }
    policy_set_free(ps);
}

static int cli_parse(int argc, char **argv, cli_opts_t *o, FILE *out, FILE *err, int *help)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--profile", offsetof(cli_opts_t, profile)},
        {"--kind", offsetof(cli_opts_t, kind)},
        {"--complexity", offsetof(cli_opts_t, complexity)},
        {"--from", offsetof(cli_opts_t, from)},
        {"--region", offsetof(cli_opts_t, region)},
        {"--policies", offsetof(cli_opts_t, policies)},
        {"--calendar", offsetof(cli_opts_t, calendar)},
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(CLI_USAGE, out);
            *help = 1;
            return 0;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        size_t k;
        for (k = 0; k < JS_ARRAY_LEN(opts); k++)
            if (strlen(opts[k].name) == name_len && strncmp(opts[k].name, arg, name_len) == 0)
                break;
        if (k == JS_ARRAY_LEN(opts)) {
            fprintf(err, "jiesuctl due: unknown option '%s'\n%s", arg, CLI_USAGE);
            return -1;
        }
        /* "--kind --from …" is a forgotten value, not a kind called "--from". */
        if (eq != NULL)
            val = eq + 1;
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            val = argv[++i];
        if (val == NULL || *val == '\0') {
            fprintf(err, "jiesuctl due: %s needs a value\n", opts[k].name);
            return -1;
        }
        const char **slot = (const char **)((char *)o + opts[k].off);
        if (*slot != NULL) {
            fprintf(err, "jiesuctl due: %s given twice\n", opts[k].name);
            return -1;
        }
        *slot = val;
    }
    static const char *const required[] = {"--profile", "--kind", "--from"};
    const char *have[] = {o->profile, o->kind, o->from};
    for (size_t k = 0; k < JS_ARRAY_LEN(required); k++) {
        if (have[k] == NULL) {
            fprintf(err, "jiesuctl due: %s is required\n%s", required[k], CLI_USAGE);
            return -1;
        }
    }
    return 0;
}

static const char *dir_or_default(const char *opt, const char *env, const char *def)
{
    if (opt != NULL)
        return opt;
    const char *e = getenv(env);
    return e != NULL && *e != '\0' ? e : def;
}

int deadline_cli_due(int argc, char **argv, FILE *out, FILE *err)
{
    cli_opts_t o = {0};
    int help = 0, rc = 2;
    char msg[1024];
    policy_set_t *ps = NULL;
    calendar_t *cal = NULL;

    if (cli_parse(argc, argv, &o, out, err, &help) != 0)
        return 2;
    if (help)
        return 0;
    const char *pdir = dir_or_default(o.policies, "JIESU_POLICY_DIR", "deploy/policies");
    const char *cdir = dir_or_default(o.calendar, "JIESU_CALENDAR_DIR", "deploy/calendar");

    policy_kind_t kind;
    policy_complexity_t cx = POLICY_COMPLEXITY_GENERAL;
    if (policy_kind_from_str(o.kind, &kind) != 0) {
        fprintf(err, "jiesuctl due: unknown kind '%s' (kinds: consultation help complaint "
                "report suggestion)\n", o.kind);
        return 2;
    }
    if (o.complexity != NULL && policy_complexity_from_str(o.complexity, &cx) != 0) {
        fprintf(err, "jiesuctl due: unknown complexity '%s' (simple, general or complex)\n",
                o.complexity);
        return 2;
    }
    int64_t from_ms;
    if (deadline_time_parse(o.from, &from_ms, msg, sizeof msg) != 0) {
        fprintf(err, "jiesuctl due: --from: %s\n", msg);
        return 2;
    }
    char norm[CALENDAR_REGION_SIZE];
    if (o.region != NULL && (calendar_region_normalise(o.region, norm) != 0 || norm[0] == '\0')) {
        fprintf(err, "jiesuctl due: --region: '%s' is not a region code (6, 9 or 12 digits)\n",
                o.region);
        return 2;
    }

    /* Only the named profile is read (a broken neighbour does not stop this one); the name
     * is checked first so it can never walk out of the directory. */
    size_t plen = strlen(pdir) + strlen(o.profile) + 7;
    char *path = malloc(plen);
    if ((ps = policy_set_new()) == NULL || (cal = calendar_new()) == NULL || path == NULL) {
        fprintf(err, "jiesuctl due: out of memory\n");
        free(path);
        goto done;
    }
    snprintf(path, plen, "%s/%s.json", pdir, o.profile);
    int name_ok = o.profile[0] != '\0' && strchr(o.profile, '/') == NULL && o.profile[0] != '.';
    if (!name_ok || access(path, F_OK) != 0) {
        char known[512];
        list_profiles(pdir, known, sizeof known);
        fprintf(err, "jiesuctl due: unknown profile '%s' (no %s; known: %s)\n", o.profile, path,
                known[0] ? known : "none");
        free(path);
        goto done;
    }
    int loaded = policy_set_load_file(ps, path, msg, sizeof msg);
    free(path);
    if (loaded != 0) {
        fprintf(err, "jiesuctl due: %s\n", msg);
        goto done;
    }
    if (calendar_load_dir(cal, cdir, msg, sizeof msg) != 0) {
        fprintf(err, "jiesuctl due: calendar: %s\n", msg);
        goto done;
    }
    const policy_t *p = policy_set_find(ps, o.profile);
    const char *region = o.region != NULL ? o.region : p->region;
    deadline_result_t r;
    if (deadline_resolve_by(cal, region, p, kind, cx, from_ms, &r, msg, sizeof msg) != 0) {
        fprintf(err, "jiesuctl due: %s\n", msg);
        goto done;
    }
    char when[40];
    deadline_time_format(r.due_ms, when, sizeof when);
    if (fprintf(out, "%s\n", when) < 0 || fflush(out) != 0) {
        fprintf(err, "jiesuctl due: cannot write the answer: %s\n", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    calendar_free(cal);
    policy_set_free(ps);
    return rc;
}
