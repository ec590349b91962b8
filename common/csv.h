/*
 * csv.h — one reader for the CSV files offices edit in spreadsheets (the territory, the
 * responsibility catalogue): RFC 4180 quoting ("" inside a quoted field, line breaks inside
 * quotes), Excel's UTF-8 byte-order mark, LF or CRLF line ends, blank lines skipped, and the
 * physical line each record starts on, so every problem can be reported as FILE:LINE: FIELD.
 *
 * Reading never stops at a malformed record: csv_next returns it with r->err set (and which
 * field) and resumes on the next line, so the rows below are still checked. Headers are mapped
 * by name (columns may come in any order; a missing, unknown or repeated column is named).
 * Field text is returned as read; csv_text_check says whether it is UTF-8 without control
 * characters, which is what the loaders require of every field.
 *
 * No global state; a reader and a record are used by one thread at a time. Memory: a record
 * owns its buffer (csv_rec_free); the reader borrows the input, which must outlive it.
 */
#ifndef JIESU_CSV_H
#define JIESU_CSV_H

#include <stddef.h>

#include "compat.h"

/* Fields kept per record; more are counted (r->n) so "too many fields" can be said. */
#define CSV_MAX_FIELDS 32

typedef struct {
    const char *p, *end;
    int line; /* the physical line p is on, from 1 */
} csv_reader_t;

typedef struct {
    char *buf;              /* the record's unescaped fields, each NUL-terminated; owned */
    size_t len, cap;
    size_t off[CSV_MAX_FIELDS], flen[CSV_MAX_FIELDS];
    int n;                  /* fields seen (only the first CSV_MAX_FIELDS are kept) */
    int line;               /* the line the record starts on */
    int err_field;          /* the field a syntax error is in (0-based; may be >= n) */
    const char *err;        /* NULL, or why the record is malformed (borrowed: static or errbuf) */
    char errbuf[128];
} csv_rec_t;

/* Starts reading buf[0..len) (borrowed); a leading UTF-8 BOM is skipped. */
void csv_reader_init(csv_reader_t *c, const char *buf, size_t len);

/* Reads the next record into r. 1: a record (r->err set when it is malformed; reading resumes
 * on the line after it, or after the record's first line when a quote never closes), 0: end of
 * input, -1: out of memory. Blank lines are skipped. r must start zeroed; csv_rec_free at the
 * end. */
int csv_next(csv_reader_t *c, csv_rec_t *r) JS_MUST_CHECK;

/* The i-th field (NUL-terminated, borrowed) and its length in bytes; "" past the kept ones. */
const char *csv_field(const csv_rec_t *r, int i);
size_t csv_field_len(const csv_rec_t *r, int i);

/* Building a record by hand (from a JSON row, say), so one validation serves both formats:
 * csv_rec_reset empties r for the record on `line`, csv_rec_add appends one field. 0, or -1
 * when memory ran out. */
void csv_rec_reset(csv_rec_t *r, int line);
int csv_rec_add(csv_rec_t *r, const char *s, size_t n) JS_MUST_CHECK;

/* Frees r's buffer (r stays usable, empty). NULL is ignored. */
void csv_rec_free(csv_rec_t *r);

/* Maps a header record onto the expected names: map[i] = the column holding names[i]. Columns
 * may come in any order. 0 when every name is there once and no other column is; else -1 with
 * the first problem in why ("missing column parent_code", "unknown column parent", "column code
 * twice", or the record's own syntax error). */
int csv_header_map(const csv_rec_t *r, const char *const *names, int nf, int *map, char *why,
                   size_t whylen) JS_MUST_CHECK;

/* Fills f[i] / len[i] with the field names[i] is mapped to (map from csv_header_map). The
 * record must have exactly nf fields (check r->n first: a ragged row is the caller's error to
 * report). Pointers are borrowed from r. */
void csv_fields(const csv_rec_t *r, const int *map, int nf, const char **f, size_t *len);

/* Code points in s[0..n) when it is UTF-8 without control characters; -1 when it is not UTF-8
 * (overlong forms, surrogates, truncated sequences and stray bytes included), -2 when it holds
 * a C0 or C1 control character (a tab or line break in a name, typically). */
long csv_text_check(const unsigned char *s, size_t n);

#endif
