/*
 * deadline.h — the counting rule: from an instant and a window to the instant a clock runs out.
 *
 * DOMAIN.md §3, the usual administrative rule (期间开始之日不计算在内): the day a clock
 * starts does not count; "N working days" ends at the office close (23:59:59 unless the
 * profile says otherwise) of the N-th working day after it, in Asia/Shanghai; "N days" ends
 * at the close of the N-th calendar day after it, moved to the next working day when that is
 * a rest day; "N hours" are clock hours from the instant itself and need no calendar. An
 * extension adds to the deadline in force; paused time is given back (see deadline_compute).
 * Instants are milliseconds since the Unix epoch (UTC); they may arrive in any UTC offset
 * and are printed in +08:00. Asia/Shanghai has been UTC+8 without daylight saving since
 * 1991, so a fixed offset is exact for every date the product handles and needs no tz
 * database. Everything here is pure: same inputs, same answer, from any thread.
 *
 * Fallible functions return 0 or -1 and, when `err` is not NULL, write one line into
 * err[errlen] naming what was wrong (the missing year, the agreed window, the bad input).
 */
#ifndef JIESU_DEADLINE_H
#define JIESU_DEADLINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "calendar.h"
#include "compat.h"
#include "policy.h"

/* Asia/Shanghai's offset from UTC, in seconds (no DST since 1991). */
#define DEADLINE_UTC_OFFSET_S (8 * 3600)

/* --- instants ---------------------------------------------------------------------- */

/*
 * RFC 3339 date-time: "2026-09-30T20:00:00-05:00", with an optional fraction of up to nine
 * digits (kept to the millisecond) and an offset that is Z or ±HH:MM (+05:45 and -00:00
 * included; T and Z may be lower case). No leap second, nothing after the offset.
 */
JS_MUST_CHECK int deadline_time_parse(const char *s, int64_t *at_ms, char *err, size_t errlen);
/* "2026-10-10T23:59:59+08:00" (".mmm" before the offset only when the milliseconds are not
 * zero) into buf; returns snprintf's count. 30 bytes always suffice. */
int deadline_time_format(int64_t at_ms, char *buf, size_t len);
/* The Asia/Shanghai calendar date of an instant. */
calendar_day_t deadline_local_day(int64_t at_ms);
/* The instant of `seconds` after midnight of `day` in Asia/Shanghai. */
int64_t deadline_local_instant(calendar_day_t day, int seconds);

/* --- the rule ---------------------------------------------------------------------- */

/* A paused interval [start_ms, end_ms): the clock did not run. */
typedef struct deadline_pause {
    int64_t start_ms;
    int64_t end_ms;
} deadline_pause_t;

typedef struct deadline_input {
    const calendar_t *cal;         /* borrowed; needed for working and calendar days */
    const char *region;            /* whose regional calendar applies; NULL = national */
    const policy_t *profile;       /* office close and warning; borrowed, required */
    const policy_window_t *window; /* what to count; an agreed deadline is passed in here as
                                      the window the unit and the enterprise agreed */
    int64_t from_ms;               /* when the clock starts (dispatch, receipt, the redo…) */
    int extension;                 /* granted extensions in the window's unit, 0 for none */
    const deadline_pause_t *pauses;/* in time order, not overlapping, closed; may be NULL */
    size_t n_pauses;
} deadline_input_t;

typedef struct deadline_result {
    int64_t due_ms;  /* the clock runs out at this instant (inclusive: on time until then) */
    int64_t warn_ms; /* the reminder: profile warning.days_before working days (or
                        hours_before hours) earlier, never before from_ms nor after due_ms */
} deadline_result_t;

/*
 * Applies the counting rule. "immediate, else X" counts X (a case that has a clock at all
 * was not answered on the spot); a bare "immediate" is due at from_ms itself. Refused: a
 * window with no fixed length (agreed, original, with_result, null), a year the walk needs
 * whose calendar is not loaded, an extension of a bare "immediate", and pauses out of order,
 * overlapping, open, before from_ms or starting after the deadline then in force.
 *
 * Extensions are added first, then each pause in order gives back: for working days, every
 * working day after the day it began (and after the start day) up to and including the day
 * it ended, like the start day of a window itself; for calendar days the same in calendar
 * days; for hours its exact length.
 */
JS_MUST_CHECK int deadline_compute(const deadline_input_t *in, deadline_result_t *out, char *err,
                                   size_t errlen);

/* The resolve-by instant of a case: the profile's window for kind × complexity from from_ms,
 * with no extension or pause. Errors as deadline_compute, plus an agreed window. */
JS_MUST_CHECK int deadline_resolve_by(const calendar_t *cal, const char *region,
                                      const policy_t *profile, policy_kind_t kind,
                                      policy_complexity_t complexity, int64_t from_ms,
                                      deadline_result_t *out, char *err, size_t errlen);

/*
 * The warning instant of a clock that runs out at due_ms, when the deadline came from
 * elsewhere (an event carries it): for a day-counted clock (unit WORKING_DAYS or DAYS) the
 * profile's office close of the warning.days_before-th working (or calendar) day before the due
 * day, for an hour clock due_ms − warning.hours_before hours; never before from_ms nor after
 * due_ms. The same rule deadline_compute applies to the deadlines it computes. -1 (naming the
 * year) when a working-day walk needs a year that is not loaded.
 */
JS_MUST_CHECK int deadline_warn_for(const calendar_t *cal, const char *region,
                                    const policy_t *profile, policy_unit_t unit, int64_t from_ms,
                                    int64_t due_ms, int64_t *warn_ms, char *err, size_t errlen);

/*
 * The deadline in force after a closed pause gives its time back (DEADLINES.md §1.8), applied
 * to the deadline in force rather than recomputed from the start: for WORKING_DAYS every
 * working day after the day the pause began up to and including the day it ended moves the
 * due day that many working days on; for DAYS the same in calendar days (then moved off a rest
 * day); for HOURS the exact paused length. The due instant's time of day is kept. Refused: a
 * pause that does not end after it starts, or starts after due_ms.
 */
JS_MUST_CHECK int deadline_credit_pause(const calendar_t *cal, const char *region,
                                        policy_unit_t unit, int64_t due_ms,
                                        const deadline_pause_t *pause, int64_t *new_due_ms,
                                        char *err, size_t errlen);

/* --- the command line -------------------------------------------------------------- */

/*
 * `jiesuctl due --profile NAME --kind KIND [--complexity simple|general|complex]
 *               --from RFC3339 [--region CODE] [--policies DIR] [--calendar DIR]`
 * argv[0] is "due". Prints the resolve-by instant in +08:00 on one line to `out` and returns
 * 0; any error goes to `err` as one line "jiesuctl due: …" and returns 2. Profiles are read
 * from --policies, else $JIESU_POLICY_DIR, else deploy/policies; calendars from --calendar,
 * else $JIESU_CALENDAR_DIR, else deploy/calendar. The region defaults to the profile's own
 * ("region" in the file), so its regional calendar applies; complexity defaults to general.
 */
int deadline_cli_due(int argc, char **argv, FILE *out, FILE *err);

#endif
