/*
 * calendar.h — the working-day calendar (DOMAIN.md §4) as data: which day is a working day,
 * nationally and in one region.
 *
 * Every deadline in the product counts working days, and which days work is decided each
 * November by the State Council (public holidays, weekend days declared working 调休上班) and
 * locally by regions (壮族三月三 in Guangxi, a typhoon closure). So the calendar is files, not
 * code: one JSON file per (scope, year), scope being the nation or one region, in the shape
 * of the calendar_years / calendar_days tables of deploy/migrations/0007_calendar.sql (see
 * docs/DEADLINES.md). A regional file applies to its region and every region below it, the
 * nearest region winning. A question about a year whose national arrangement is not loaded
 * is refused with an error, never answered by guessing "Monday to Friday".
 *
 * Inside, each (scope, year) is a 366-bit map, so asking about a day is a bit test and
 * counting twenty working days touches a few words. A calendar is filled by the load
 * functions and then only read: the read functions take a const calendar and are safe from
 * any number of threads at once. To update at run time, load a new calendar and swap the
 * pointer; a failed load leaves the calendar exactly as it was.
 *
 * Errors: fallible functions return 0 or -1 and, when `err` is not NULL, write one line
 * naming the file, the entry and the problem into err[errlen].
 */
#ifndef JIESU_CALENDAR_H
#define JIESU_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/* --- dates ------------------------------------------------------------------------- */

/* A civil date as the number of days since 1970-01-01 (proleptic Gregorian). It carries no
 * time zone: the deadline module turns instants into Asia/Shanghai dates. */
typedef int32_t calendar_day_t;

/* Years the calendar can hold at all (the range calendar_years accepts). */
#define CALENDAR_YEAR_MIN 2000
#define CALENDAR_YEAR_MAX 2999

/* Region codes, normalised for prefix matching, fit in this many bytes with the NUL. */
#define CALENDAR_REGION_SIZE 13

/* y-m-d → day; -1 if the date does not exist (2026-02-30) or y is outside 1..9999. */
JS_MUST_CHECK int calendar_day_from_ymd(int y, int m, int d, calendar_day_t *out);
/* day → y-m-d; any pointer may be NULL. */
void calendar_day_to_ymd(calendar_day_t day, int *y, int *m, int *d);
/* ISO weekday: 1 Monday … 7 Sunday. */
int calendar_day_weekday(calendar_day_t day);
/* Exactly "YYYY-MM-DD" (ten characters, nothing after); -1 otherwise or if no such date. */
JS_MUST_CHECK int calendar_day_parse(const char *s, calendar_day_t *out);
/* Writes "YYYY-MM-DD" into buf[11]. */
void calendar_day_format(calendar_day_t day, char buf[11]);

/*
 * Region codes as the regions table spells them (6 digits for province, city, county; 9 or
 * 12 for a township) nest by prefix once a 6-digit code's trailing "00" pairs are dropped and
 * a 12-digit code's trailing "000": 450000 → "45", 450100 → "4501", 450102 → "450102",
 * 450102001 and 450102001000 → "450102001". Writes the prefix into out[CALENDAR_REGION_SIZE];
 * -1 for anything that is not such a code. NULL or "" means the nation and gives "".
 */
JS_MUST_CHECK int calendar_region_normalise(const char *code, char out[CALENDAR_REGION_SIZE]);

/* --- the calendar ------------------------------------------------------------------ */

typedef struct calendar calendar_t;

/* An empty calendar (no year loaded: every question is refused). NULL when out of memory. */
calendar_t *calendar_new(void);
/* Frees everything; NULL is a no-op. */
void calendar_free(calendar_t *cal);

/*
 * Loads one calendar file (format in docs/DEADLINES.md). A national file adds a year; a
 * regional file adds exceptions for a region and needs that year's national file loaded
 * first, as the calendar_days.year foreign key does. Refused, naming file, entry and
 * problem: unknown or missing keys, a bad or nonexistent date, a date outside the file's
 * year, a range ending before it starts, a day listed twice or both rest and working, a
 * weekday declared working (only a Saturday or Sunday can be), a blank or over-long name,
 * a second national file for a year, and a regional day already set for the same region by
 * another file. On failure nothing of the file is kept. `label` names the text in errors.
 */
JS_MUST_CHECK int calendar_load_file(calendar_t *cal, const char *path, char *err, size_t errlen);
JS_MUST_CHECK int calendar_load_string(calendar_t *cal, const char *label, const char *json,
                                       char *err, size_t errlen);
/* Loads every *.json file of `dir`: national files first, then regional ones, each group in
 * name order. Stops at the first bad file; the files loaded before it stay loaded, so load
 * into a fresh calendar and swap it in only on success. An empty directory is an error. */
JS_MUST_CHECK int calendar_load_dir(calendar_t *cal, const char *dir, char *err, size_t errlen);

/* Is the national arrangement of `year` loaded? */
bool calendar_has_year(const calendar_t *cal, int year);

/* The year an error message of this module names as not loaded ("no working-day calendar is
 * loaded for 2027 …"), or 0 when err is another error. Lets a caller that only has the message
 * (deadline_compute passes it on) tell a missing year — which an operator fixes by loading
 * it — from a bad input. */
int calendar_error_year(const char *err);

/*
 * Is `day` a working day in `region` (NULL or "" = national only)? Sets *working and, when
 * `name` is not NULL, *name to the borrowed name of the exception that decided it ("春节",
 * "调休上班", "台风停工"), or NULL for an ordinary weekday or weekend. -1 when the day's
 * year is not loaded or the region code is malformed.
 */
JS_MUST_CHECK int calendar_day_info(const calendar_t *cal, const char *region, calendar_day_t day,
                                    bool *working, const char **name, char *err, size_t errlen);
JS_MUST_CHECK int calendar_is_working_day(const calendar_t *cal, const char *region,
                                          calendar_day_t day, bool *working, char *err,
                                          size_t errlen);

/*
 * The n-th working day strictly after `from` (n >= 1), or `from` itself for n == 0; for
 * n < 0 the |n|-th working day strictly before it. `from` itself is never tested, so its year
 * need not be loaded. -1 when a year the walk needs is not loaded, naming the year.
 */
JS_MUST_CHECK int calendar_add_working_days(const calendar_t *cal, const char *region,
                                            calendar_day_t from, int n, calendar_day_t *out,
                                            char *err, size_t errlen);
/* How many working days lie in (after, through]: the handling time of a case in working
 * days, counted like a deadline. 0 when through <= after. */
JS_MUST_CHECK int calendar_count_working_days(const calendar_t *cal, const char *region,
                                              calendar_day_t after, calendar_day_t through,
                                              int *n, char *err, size_t errlen);

/* --- rows, for syncing with the calendar_years / calendar_days tables -------------- */

/* One row of calendar_days, borrowed from the calendar for the duration of the callback. */
typedef struct calendar_row {
    const char *region_code; /* NULL: national; else the code as the file wrote it (450000) */
    calendar_day_t day;
    int year;
    bool working;            /* kind: 'work' when true, 'rest' when false */
    const char *name;
    const char *source;      /* the file's source (for calendar_years when national) */
    const char *file;        /* the label the row was loaded from */
} calendar_row_t;

/* Calls fn for every exception row: national rows first, by day, then each regional file's.
 * Stops and returns -1 as soon as fn returns non-zero; 0 after the last row. */
JS_MUST_CHECK int calendar_foreach_row(const calendar_t *cal,
                                       int (*fn)(void *ud, const calendar_row_t *row), void *ud);

/* The loaded national years in ascending order: count, and the i-th year with its source
 * (borrowed). calendar_year_at returns -1 for i out of range. */
size_t calendar_year_count(const calendar_t *cal);
JS_MUST_CHECK int calendar_year_at(const calendar_t *cal, size_t i, int *year, const char **source);

#endif
