/*
 * log.c — JSON-lines logger. See log.h for the contract; the masking rules live here so there
 * is exactly one place that decides what personal data looks like in a log.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_svc = "jiesu";
static log_level_t log_level = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error", "off"};

/* Keys whose values are personal data whatever kind the caller gave. Substring match. */
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

/* Length in bytes of the UTF-8 sequence starting at p (1 for invalid bytes). */
static size_t log_u8len(const unsigned char *p)
{
    if (p[0] < 0x80) return 1;
    size_t n = (p[0] >= 0xF0) ? 4 : (p[0] >= 0xE0) ? 3 : (p[0] >= 0xC0) ? 2 : 1;
    for (size_t k = 1; k < n; k++)
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
    size_t o = 0;
    for (size_t k = 0; k < first && o + 1 < outlen; k++) out[o++] = in[k];
    size_t stars = cps - 1 - keep_tail;
    for (size_t k = 0; k < stars && o + 1 < outlen; k++) out[o++] = '*';
    if (keep_tail) {
        /* the last two code points */
        size_t idx = 0, cp = 0, tail_start = len;
        for (; idx < len; idx += log_u8len(p + idx), cp++)
            if (cp == cps - 2) tail_start = idx;
        for (size_t k = tail_start; k < len && o + 1 < outlen; k++) out[o++] = in[k];
    }
    out[o] = '\0';
}

typedef struct {
    char *buf;
    size_t len, cap;
} log_buf_t;

static void log_put(log_buf_t *b, const char *s, size_t n)
{
    if (b->len + n >= b->cap) n = b->cap - b->len - 1;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

static void log_putc(log_buf_t *b, char c) { log_put(b, &c, 1); }

/* JSON string escaping; invalid UTF-8 bytes become U+FFFD so the line stays valid JSON. */
static void log_put_json_str(log_buf_t *b, const char *s)
{
    log_putc(b, '"');
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            log_putc(b, '\\');
            log_putc(b, (char)c);
            p++;
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            log_put(b, esc, 6);
            p++;
        } else if (c < 0x80) {
            log_putc(b, (char)c);
            p++;
        } else {
            size_t n = log_u8len(p);
            if (n == 1) {
                log_put(b, "\xEF\xBF\xBD", 3);
            } else {
                log_put(b, (const char *)p, n);
            }
            p += n;
        }
    }
    log_putc(b, '"');
}

static int log_key_is_pii(const char *key)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(log_pii_keys); i++)
        if (strstr(key, log_pii_keys[i]) != NULL) return 1;
    return 0;
}

void log_emit(log_level_t level, const char *msg, const log_field_t *fields, size_t n)
{
    char line[8192];
    log_buf_t b = {line, 0, sizeof line - 1};
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
    for (size_t i = 0; i < n; i++) {
        const log_field_t *f = &fields[i];
        if (f->kind == LF_K_NONE || f->key == NULL) continue;
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
            snprintf(num, sizeof num, "%.6g", f->d);
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
    }
    log_put(&b, "}\n", 2);
    if (b.len == b.cap) line[b.cap - 1] = '\n'; /* truncated: still one line */
    ssize_t w = write(STDERR_FILENO, line, b.len);
    (void)w;
}
