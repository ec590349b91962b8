/*
 * log.h — JSON-lines logging on stderr, with personal data masked.
 *
 * Every line is one JSON object: {"ts":..,"level":..,"svc":..,"msg":..,<fields>}. Fields are
 * typed (LF_STR, LF_INT, LF_DBL, LF_PII); the level is checked before anything is formatted.
 * Personal data never reaches a line in clear: LF_PII masks its value, and a value passed under
 * a key that names personal data (phone, contact, address, body, token, ...) is masked even
 * when the caller forgot to say so. Single-threaded by design apart from log_emit itself, which
 * writes each line with one write(2) so lines from librdkafka's threads never interleave.
 */
#ifndef JIESU_LOG_H
#define JIESU_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

typedef enum { LF_K_NONE = 0, LF_K_STR, LF_K_INT, LF_K_DBL, LF_K_PII } log_field_kind_t;

typedef struct {
    const char *key;
    log_field_kind_t kind;
    const char *s;
    long long i;
    double d;
} log_field_t;

#define LF_STR(k, v) ((log_field_t){.key = (k), .kind = LF_K_STR, .s = (v)})
#define LF_INT(k, v) ((log_field_t){.key = (k), .kind = LF_K_INT, .i = (long long)(v)})
#define LF_DBL(k, v) ((log_field_t){.key = (k), .kind = LF_K_DBL, .d = (double)(v)})
#define LF_PII(k, v) ((log_field_t){.key = (k), .kind = LF_K_PII, .s = (v)})
#define LF_NONE ((log_field_t){.key = NULL, .kind = LF_K_NONE})

/* Set once at start; svc is borrowed and must outlive logging. */
void log_init(const char *svc, log_level_t level);
void log_set_level(log_level_t level);
int log_enabled(log_level_t level);
int log_level_from_str(const char *s, log_level_t *out) JS_MUST_CHECK;
const char *log_level_str(log_level_t level);

/* Writes one line. Fields are borrowed for the call only. */
void log_emit(log_level_t level, const char *msg, const log_field_t *fields, size_t n);

/* Masks a personal value into out (always NUL-terminated): first code point kept, the rest
 * starred, the last two characters kept for values of 7 or more code points ("1*********78"). */
void log_mask(const char *in, char *out, size_t outlen);

/* Whether values under this key are personal data (phone, contact, address, body, token…),
 * masked in every log line whatever the caller said; for other printers of stored data. */
int log_key_is_pii(const char *key);

#define LOG_AT(lvl, msg, ...)                                                                  \
    do {                                                                                       \
        if (log_enabled(lvl)) {                                                                \
            const log_field_t log_f_[] = {__VA_ARGS__};                                        \
            log_emit((lvl), (msg), log_f_, JS_ARRAY_LEN(log_f_));                              \
        }                                                                                      \
    } while (0)
#define LOGD(msg, ...) LOG_AT(LOG_DEBUG, msg, __VA_ARGS__)
#define LOGI(msg, ...) LOG_AT(LOG_INFO, msg, __VA_ARGS__)
#define LOGW(msg, ...) LOG_AT(LOG_WARN, msg, __VA_ARGS__)
#define LOGE(msg, ...) LOG_AT(LOG_ERROR, msg, __VA_ARGS__)

#endif
