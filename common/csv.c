/*
 * csv.c — the RFC 4180 reader behind the territory and catalogue loaders. See csv.h.
 *
 * A record is unescaped into one growing buffer, each field NUL-terminated, so the callers can
 * treat fields as C strings. Syntax errors are phrased for a person who edits the file in a
 * spreadsheet ("a quote inside a field is written \"\""), and a quote that never closes does
 * not swallow the rest of the file: the reader reports it on the record's first line and reads
 * the lines below again.
 */
#include "csv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_reader_init(csv_reader_t *c, const char *buf, size_t len)
{
    c->p = buf;
    c->end = buf + len;
    c->line = 1;
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) c->p += 3; /* Excel's "CSV UTF-8" */
}

static int rec_append(csv_rec_t *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n + 1) cap *= 2;
        char *b = realloc(r->buf, cap);
        if (b == NULL) return -1;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    return 0;
}

static int rec_end_field(csv_rec_t *r, size_t start)
{
    if (rec_append(r, "", 1) != 0) return -1; /* the terminating NUL */
    if (r->n < CSV_MAX_FIELDS) {
        r->off[r->n] = start;
        r->flen[r->n] = r->len - 1 - start;
    }
    r->n++;
    return 0;
}

void csv_rec_reset(csv_rec_t *r, int line)
{
    r->len = 0;
    r->n = 0;
    r->line = line;
    r->err = NULL;
    r->err_field = -1;
}

int csv_rec_add(csv_rec_t *r, const char *s, size_t n)
{
    size_t start = r->len;
    if (rec_append(r, s, n) != 0) return -1;
    return rec_end_field(r, start);
}

void csv_rec_free(csv_rec_t *r)
{
    if (r == NULL) return;
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
    r->n = 0;
}

const char *csv_field(const csv_rec_t *r, int i)
{
    return i >= 0 && i < r->n && i < CSV_MAX_FIELDS ? r->buf + r->off[i] : "";
}

size_t csv_field_len(const csv_rec_t *r, int i)
{
    return i >= 0 && i < r->n && i < CSV_MAX_FIELDS ? r->flen[i] : 0;
}

static int at_eol(const csv_reader_t *c)
{
    return c->p < c->end &&
           (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n'));
}

static void skip_line(csv_reader_t *c)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->p = nl ? nl + 1 : c->end;
    c->line++;
}

/* Gives up on the record that began at rec_start: report it there and read again from the
 * line after its first, so a stray quote costs one row, not the rest of the file. */
static int give_up(csv_reader_t *c, csv_rec_t *r, const char *rec_start)
{
    c->p = rec_start;
    c->line = r->line;
    skip_line(c);
    return 1;
}

int csv_next(csv_reader_t *c, csv_rec_t *r)
{
    while (at_eol(c)) {
        c->p += *c->p == '\r' ? 2 : 1;
        c->line++;
    }
    if (c->p >= c->end) return 0;
    const char *rec_start = c->p;
    csv_rec_reset(r, c->line);
    for (;;) {
        size_t start = r->len;
        if (c->p < c->end && *c->p == '"') {
            int open_line = c->line;
            c->p++;
            for (;;) {
                const char *q = memchr(c->p, '"', (size_t)(c->end - c->p));
                if (q == NULL) {
                    r->err = "unterminated quoted field (the quote is never closed)";
                    r->err_field = r->n;
                    return give_up(c, r, rec_start);
                }
                for (const char *s = c->p; s < q; s++)
                    if (*s == '\n') c->line++;
                if (rec_append(r, c->p, (size_t)(q - c->p)) != 0) return -1;
                c->p = q + 1;
                if (c->p < c->end && *c->p == '"') { /* "" is one quote */
                    if (rec_append(r, "\"", 1) != 0) return -1;
                    c->p++;
                    continue;
                }
                break;
            }
            if (c->p < c->end && *c->p != ',' && !at_eol(c)) {
                r->err_field = r->n;
                if (c->line == open_line) {
                    r->err = "text after the closing quote (a quote inside a field is written "
                             "\"\")";
                    skip_line(c);
                    return 1;
                }
                /* The quote "closed" on a later line: far more likely a quote left open here
                 * that swallowed the lines below. Say so, and read those lines again. */
                snprintf(r->errbuf, sizeof r->errbuf, "unterminated quoted field (the quote "
                         "opened here only closes on line %d)", c->line);
                r->err = r->errbuf;
                return give_up(c, r, rec_start);
            }
        } else {
            const char *s = c->p;
            while (s < c->end && *s != ',' && *s != '\n' && *s != '"' &&
                   !(*s == '\r' && s + 1 < c->end && s[1] == '\n'))
                s++;
            if (s < c->end && *s == '"') {
                r->err = "quote inside an unquoted field (quote the whole field and double the "
                         "quote)";
                r->err_field = r->n;
                c->p = s;
                skip_line(c);
                return 1;
            }
            if (rec_append(r, c->p, (size_t)(s - c->p)) != 0) return -1;
            c->p = s;
        }
        if (rec_end_field(r, start) != 0) return -1;
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue; /* a trailing comma reads one more, empty, field */
        }
        if (c->p < c->end) c->p += *c->p == '\r' ? 2 : 1;
        c->line++;
        return 1;
    }
}

int csv_header_map(const csv_rec_t *r, const char *const *names, int nf, int *map, char *why,
                   size_t whylen)
{
    if (r->err) {
        snprintf(why, whylen, "%s", r->err);
        return -1;
    }
    for (int i = 0; i < nf; i++) map[i] = -1;
    for (int col = 0; col < r->n; col++) {
        const char *h = csv_field(r, col);
        int k = -1;
        for (int i = 0; i < nf && k < 0; i++)
            if (!strcmp(h, names[i])) k = i;
        if (col >= CSV_MAX_FIELDS) {
            snprintf(why, whylen, "%d columns, expected %d", r->n, nf);
            return -1;
        }
        if (k < 0) {
            int printable = csv_text_check((const unsigned char *)h, csv_field_len(r, col)) >= 0;
            snprintf(why, whylen, "unknown column \"%.60s\"", printable ? h : "?");
            return -1;
        }
        if (map[k] >= 0) {
            snprintf(why, whylen, "column %s twice", names[k]);
            return -1;
        }
        map[k] = col;
    }
    for (int i = 0; i < nf; i++)
        if (map[i] < 0) {
            snprintf(why, whylen, "missing column %s", names[i]);
            return -1;
        }
    return 0;
}

void csv_fields(const csv_rec_t *r, const int *map, int nf, const char **f, size_t *len)
{
    for (int i = 0; i < nf; i++) {
        f[i] = csv_field(r, map[i]);
        len[i] = csv_field_len(r, map[i]);
    }
}

long csv_text_check(const unsigned char *s, size_t n)
{
    long cps = 0;
    for (size_t i = 0; i < n; cps++) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) return -2;
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07, min = 0x10000;
        else return -1;
        if (n - i <= k) return -1;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return -1;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
        if (cp <= 0x9f) return -2; /* C1 controls */
        i += k + 1;
    }
    return cps;
}
