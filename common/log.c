/*
 * log.c — JSON-lines logger. See log.h for the contract; the masking rules live here so there
 * is exactly one place that decides what personal data looks like in a log.
 */
#include "log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_svc = "jiesu";
static log_level_t log_level = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error", "off"};

/* Keys whose values are personal data whatever kind the caller gave. Substring match,
 * ignoring case. */
static const char *const log_pii_keys[] = {"phone", "contact", "address", "body", "token",
                                           "password", "id_card", "full_text", "person"};

void log_init(const char *svc, log_level_t level)
{
    log_svc = svc;
    log_level = level;
}

void log_set_level(log_level_t level) { log_level = level; }

int log_enabled(log_level_t level) { return level >= log_level && level != LOG_OFF; }

int log_level_from_str(const char *s, log_level_t *out)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(log_level_names); i++) {
        if (strcasecmp(s, log_level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_str(log_level_t level)
{
    return (unsigned)level < JS_ARRAY_LEN(log_level_names) ? log_level_names[level] : "?";
}

/* Length in bytes of the well-formed UTF-8 sequence starting at p, or 1 for a byte that does
 * not start one. Strict (Unicode table 3-7): overlong forms, surrogates and code points above
 * U+10FFFF are ill-formed, and JSON parsers such as jansson reject a line containing them. */
static size_t log_u8len(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    if (p[1] < lo || p[1] > hi) return 1;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xC0) != 0x80) return 1;
    return n;
}

void log_mask(const char *in, char *out, size_t outlen)
{
    if (outlen == 0) return;
    out[0] = '\0';
    if (in == NULL || *in == '\0') return;
    const unsigned char *p = (const unsigned char *)in;
    size_t cps = 0, len = strlen(in);
    for (size_t i = 0; i < len; i += log_u8len(p + i)) cps++;
    size_t first = log_u8len(p);
    size_t keep_tail = cps >= 7 ? 2 : 0;
    /* characters are copied whole or not at all, so a short out never ends mid-character */
    size_t o = 0;
    if (first < outlen) {
        memcpy(out, in, first);
        o = first;
    }
    size_t stars = cps - 1 - keep_tail;
    for (size_t k = 0; k < stars && o + 1 < outlen; k++) out[o++] = '*';
    if (keep_tail) {
        /* the last two code points */
        size_t idx = 0, cp = 0, tail_start = len;
        for (; idx < len; idx += log_u8len(p + idx), cp++)
            if (cp == cps - 2) tail_start = idx;
        if (o + (len - tail_start) < outlen) {
            memcpy(out + o, in + tail_start, len - tail_start);
            o += len - tail_start;
        }
    }
    out[o] = '\0';
}

/* The line under construction. A line never exceeds the buffer and is never left broken: a
 * piece that does not fit whole is not written (broken is set and log_emit drops the field it
 * belonged to), and a string is cut between characters, keeping room for its closing quote. */
typedef struct {
    char *buf;
    size_t len, cap;
    int cut;    /* a string value was shortened */
    int broken; /* a piece did not fit */
} log_buf_t;

static void log_put(log_buf_t *b, const char *s, size_t n)
{
    if (b->broken || b->len + n > b->cap) {
        b->broken = 1;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

static void log_putc(log_buf_t *b, char c) { log_put(b, &c, 1); }

/* JSON string escaping; invalid UTF-8 bytes become U+FFFD so the line stays valid JSON. */
static void log_put_json_str(log_buf_t *b, const char *s)
{
    if (b->broken || b->len + 2 > b->cap) {
        b->broken = 1;
        return;
    }
    log_putc(b, '"');
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned char c = *p;
        char esc[8];
        const char *u = (const char *)p;
        size_t ul = 1, adv = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            u = esc;
            ul = 2;
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            u = esc;
            ul = 6;
        } else if (c >= 0x80) {
            adv = ul = log_u8len(p);
            if (ul == 1) {
                u = "\xEF\xBF\xBD";
                ul = 3;
            }
        }
        if (b->len + ul + 1 > b->cap) { /* keep room for the closing quote */
            b->cut = 1;
            break;
        }
        memcpy(b->buf + b->len, u, ul);
        b->len += ul;
        p += adv;
    }
    log_putc(b, '"');
}

int log_key_is_pii(const char *key)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(log_pii_keys); i++)
        if (strcasestr(key, log_pii_keys[i]) != NULL) return 1; /* "contactPhone" too */
    return 0;
}

/* Room kept at the end of the buffer for what closes a cut line: ,"truncated":true}\n */
#define LOG_RESERVE 32

void log_emit(log_level_t level, const char *msg, const log_field_t *fields, size_t n)
{
    char line[8192];
    log_buf_t b = {line, 0, sizeof line - LOG_RESERVE, 0, 0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[40];
    size_t tl = strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(tbuf + tl, sizeof tbuf - tl, ".%03ldZ", ts.tv_nsec / 1000000L);

    log_put(&b, "{\"ts\":", 6);
    log_put_json_str(&b, tbuf);
    log_put(&b, ",\"level\":", 9);
    log_put_json_str(&b, log_level_str(level));
    log_put(&b, ",\"svc\":", 7);
    log_put_json_str(&b, log_svc);
    log_put(&b, ",\"msg\":", 7);
    log_put_json_str(&b, msg);
    for (size_t i = 0; i < n && !b.cut && !b.broken; i++) {
        const log_field_t *f = &fields[i];
        if (f->kind == LF_K_NONE || f->key == NULL) continue;
        size_t mark = b.len;
        log_putc(&b, ',');
        log_put_json_str(&b, f->key);
        log_putc(&b, ':');
        char num[64];
        switch (f->kind) {
        case LF_K_INT:
            snprintf(num, sizeof num, "%lld", f->i);
            log_put(&b, num, strlen(num));
            break;
        case LF_K_DBL:
            /* JSON has no NaN or infinities */
            if (isfinite(f->d)) snprintf(num, sizeof num, "%.6g", f->d);
            else snprintf(num, sizeof num, "null");
            log_put(&b, num, strlen(num));
            break;
        case LF_K_STR:
            if (!log_key_is_pii(f->key)) {
                log_put_json_str(&b, f->s);
                break;
            }
            /* a personal-data key is masked whatever the caller said */
            __attribute__((fallthrough));
        case LF_K_PII: {
            char masked[256];
            log_mask(f->s, masked, sizeof masked);
            log_put_json_str(&b, masked);
            break;
        }
        case LF_K_NONE:
            break;
        }
        if (b.broken) { /* the field did not fit: drop it whole */
            b.len = mark;
            b.cut = 1;
        }
    }
    /* Only fixed-size pieces can break the head, and the head is far below the buffer size;
     * a cut line says so, and the reserve always has room for its end. */
    b.broken = 0;
    b.cap = sizeof line;
    if (b.cut) log_put(&b, ",\"truncated\":true", 17);
    log_put(&b, "}\n", 2);
    ssize_t w = write(STDERR_FILENO, line, b.len);
    (void)w;
}
