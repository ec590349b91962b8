/*
 * event.c — table-driven codecs for the jiesu event contract (proto/events/).
 *
 * Every event type has one descriptor: a table of event_field_t naming each JSON member,
 * where it lives in the type's C struct, and what it may hold. One walker decodes and
 * validates a payload against the table, one encodes a struct through it, one frees what
 * a struct owns; a per-type check function adds the cross-field rules the schemas state
 * with if/then. Encoding ends by decoding its own output, so producer and consumer apply
 * the very same rules. The envelope is coded by hand around that (null case_id, the type
 * selecting the payload, the scope rules that pick the Kafka topic).
 *
 * Error messages start with the path of the offending field ("payload.enterprise.
 * credit_code: ..."), because that is what someone reading a dead-letter log needs.
 */
#include "event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

/* ---- errors -------------------------------------------------------------------------- */

static void err_set(char *err, size_t errlen, const char *fmt, ...) JS_PRINTF(3, 4);

static void err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- enum spellings: values[i] is the JSON spelling of C value i + 1 ---------------- */

static const char *const role_values[] = {
    "enterprise", "agent", "centre", "unit", "supervisor", "leader", "discipline", "operator", "system",
};
_Static_assert(JS_ARRAY_LEN(role_values) == EVENT_ROLE_COUNT - 1, "role table");

static const char *const kind_values[] = {"consultation", "help", "complaint", "report", "suggestion"};
_Static_assert(JS_ARRAY_LEN(kind_values) == EVENT_KIND_SUGGESTION, "kind table");

static const char *const channel_values[] = {
    "web", "hotline", "window", "field_visit", "solicitation", "mini_program", "qr_code", "email", "upper_transfer",
};
_Static_assert(JS_ARRAY_LEN(channel_values) == EVENT_CHANNEL_UPPER_TRANSFER, "channel table");

static const char *const reject_values[] = {
    "state_secret", "military_security", "non_government_remit", "in_legal_procedure", "concluded_no_new_facts",
    "emergency_110_119_120_122", "civil_dispute", "unclear_or_unreachable", "unlawful_or_public_order",
    "harms_others_rights", "outside_region",
};
_Static_assert(JS_ARRAY_LEN(reject_values) == EVENT_REJECT_OUTSIDE_REGION, "reject table");

static const char *const complexity_values[] = {"simple", "general", "complex"};
_Static_assert(JS_ARRAY_LEN(complexity_values) == EVENT_COMPLEXITY_COMPLEX, "complexity table");

static const char *const duplicate_values[] = {"same_matter_open", "additional_material"};
_Static_assert(JS_ARRAY_LEN(duplicate_values) == EVENT_DUPLICATE_ADDITIONAL_MATERIAL, "duplicate table");

static const char *const how_told_values[] = {"phone", "sms", "in_person", "letter", "online", "email"};
_Static_assert(JS_ARRAY_LEN(how_told_values) == EVENT_HOW_TOLD_EMAIL, "how_told table");

static const char *const tier_values[] = {"province", "city", "county", "township"};
_Static_assert(JS_ARRAY_LEN(tier_values) == EVENT_TIER_TOWNSHIP, "tier table");

static const char *const dispatch_values[] = {"catalogue", "centre_decision", "joint_meeting"};
_Static_assert(JS_ARRAY_LEN(dispatch_values) == EVENT_DISPATCH_JOINT_MEETING, "dispatch table");

static const char *const return_values[] = {"not_in_remit", "wrong_region", "insufficient_information", "other"};
_Static_assert(JS_ARRAY_LEN(return_values) == EVENT_RETURN_OTHER, "return table");

static const char *const escalation_values[] = {
    "beyond_tier_capacity", "unsatisfied_again", "multi_unit", "overdue", "leader_instruction", "outside_remit",
};
_Static_assert(JS_ARRAY_LEN(escalation_values) == EVENT_ESCALATION_OUTSIDE_REMIT, "escalation table");

static const char *const remit_values[] = {"centre_ruling", "joint_meeting"};
_Static_assert(JS_ARRAY_LEN(remit_values) == EVENT_REMIT_JOINT_MEETING, "remit table");

static const char *const contact_values[] = {
    "phone", "sms", "in_person", "field_visit", "video", "online_message", "email",
};
_Static_assert(JS_ARRAY_LEN(contact_values) == EVENT_CONTACT_EMAIL, "contact table");

static const char *const deadline_values[] = {"enterprise_agreement", "handling_plan"};
_Static_assert(JS_ARRAY_LEN(deadline_values) == EVENT_DEADLINE_HANDLING_PLAN, "deadline table");

static const char *const extension_values[] = {"approved", "rejected"};
_Static_assert(JS_ARRAY_LEN(extension_values) == EVENT_EXTENSION_REJECTED, "extension table");

static const char *const material_values[] = {"enterprise", "lead_unit", "co_handler", "centre"};
_Static_assert(JS_ARRAY_LEN(material_values) == EVENT_MATERIAL_CENTRE, "material table");

static const char *const finding_values[] = {"true", "partly_true", "untrue"};
_Static_assert(JS_ARRAY_LEN(finding_values) == EVENT_FINDING_UNTRUE, "finding table");

static const char *const revisit_values[] = {"phone", "sms", "field_visit", "online_rating"};
_Static_assert(JS_ARRAY_LEN(revisit_values) == EVENT_REVISIT_ONLINE_RATING, "revisit table");

static const char *const satisfaction_values[] = {
    "very_satisfied", "satisfied", "basically_satisfied", "unsatisfied", "very_unsatisfied", "declined",
};
_Static_assert(JS_ARRAY_LEN(satisfaction_values) == EVENT_SATISFACTION_DECLINED, "satisfaction table");

static const char *const close_values[] = {
    "revisit_satisfied", "rating_declined", "revisit_unreachable", "centre_decision",
};
_Static_assert(JS_ARRAY_LEN(close_values) == EVENT_CLOSE_CENTRE_DECISION, "close table");

static const char *const redo_values[] = {"unsatisfied", "result_untrue", "supervision_finding"};
_Static_assert(JS_ARRAY_LEN(redo_values) == EVENT_REDO_SUPERVISION_FINDING, "redo table");

static const char *const termination_values[] = {
    "concluded_re_raised", "enterprise_withdrew", "enterprise_deregistered",
};
_Static_assert(JS_ARRAY_LEN(termination_values) == EVENT_TERMINATION_ENTERPRISE_DEREGISTERED, "termination table");

static const char *const final_values[] = {"closed", "rejected", "duplicate", "terminated"};
_Static_assert(JS_ARRAY_LEN(final_values) == EVENT_FINAL_TERMINATED, "final table");

static const char *const timer_values[] = {
    "sign_for", "first_contact", "resolve_by", "weekly_progress", "result_to_enterprise", "revisit_by", "redo_by",
    "supervision_reply",
};
_Static_assert(JS_ARRAY_LEN(timer_values) == EVENT_TIMER_SUPERVISION_REPLY, "timer table");

static const char *const supervision_values[] = {
    "not_signed", "overdue", "repeated_unhandled", "buck_passing", "repeated_unsatisfied", "improper_closing",
    "fraud", "violation", "dereliction", "rule_breach", "retaliation",
};
_Static_assert(JS_ARRAY_LEN(supervision_values) == EVENT_SUPERVISION_RETALIATION, "supervision table");

static const char *const colour_values[] = {"yellow", "red"};
_Static_assert(JS_ARRAY_LEN(colour_values) == EVENT_COLOUR_RED, "colour table");

static const char *const interview_values[] = {"none", "deputy_head", "principal_head"};
_Static_assert(JS_ARRAY_LEN(interview_values) == EVENT_INTERVIEW_PRINCIPAL_HEAD, "interview table");

static const char *const card_reason_values[] = {
    "missed_feedback_deadline", "consecutive_yellow", "consecutive_red",
};
_Static_assert(JS_ARRAY_LEN(card_reason_values) == EVENT_CARD_REASON_CONSECUTIVE_RED, "card reason table");

_Static_assert(sizeof(event_finding_t) == sizeof(int), "enums are stored as int");

/* ---- formats --------------------------------------------------------------------------- */

/* Decode UTF-8 strictly (no overlongs, surrogates or values past U+10FFFF). Returns the
 * number of code points, or -1 when `s` is not UTF-8. */
static int64_t utf8_count(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    int64_t n = 0;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i];
        size_t k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            n++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return -1;
        }
        if (len - i - 1 < k)
            return -1;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        i += k + 1;
        n++;
    }
    return n;
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool uuid_valid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_lower_hex(s[i])) {
            return false;
        }
    }
    return true;
}

bool event_uuid_valid(const char *s)
{
    return s != NULL && uuid_valid(s, strlen(s));
}

/* The GB 32100 alphabet: digits and capitals without I, O, Z, S, V. */
static bool credit_char(char c)
{
    return c != '\0' && strchr("0123456789ABCDEFGHJKLMNPQRTUWXY", c) != NULL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool credit_code_valid(const char *s, size_t len)
{
    if (len != 18)
        return false;
    for (size_t i = 0; i < 18; i++) {
        bool ok = (i >= 2 && i < 8) ? is_digit(s[i]) : credit_char(s[i]);
        if (!ok)
            return false;
    }
    return true;
}

static bool region_code_valid(const char *s, size_t len)
{
    if (len != 6 && len != 9 && len != 12)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

static bool case_no_valid(const char *s, size_t len)
{
    if (len < 6 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = is_digit(c) || (c >= 'A' && c <= 'Z') || (i > 0 && c == '-');
        if (!ok)
            return false;
    }
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* RFC 3339 "date-time" as the schemas' pattern spells it (upper-case T and Z, fraction of
 * 1..9 digits, an offset always), with calendar ranges checked as well. */
static int time_parse(const char *s, size_t len, int64_t *out_ms)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac_ms = 0;
    size_t i = 19;

    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return -1;
    if (s[i] == '.') {
        size_t start = ++i;
        int scale = 100;
        while (i < len && is_digit(s[i])) {
            if (scale > 0) {
                frac_ms += (s[i] - '0') * scale;
                scale /= 10;
            }
            i++;
        }
        if (i == start || i - start > 9)
            return -1;
    }
    if (i >= len)
        return -1;
    if (s[i] == 'Z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i != 6 || s[i + 3] != ':' || digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        if (s[i] == '-') {
            oh = -oh;
            om = -om;
        }
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60)
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int dim = mdays[mo - 1] + (mo == 2 && leap);
    if (d < 1 || d > dim)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (oh * 3600 + om * 60);
    *out_ms = secs * 1000 + frac_ms;
    return 0;
}

static bool format_valid(event_format_t fmt, const char *s, size_t len)
{
    int64_t ms;

    switch (fmt) {
    case EVENT_FORMAT_UUID:
        return uuid_valid(s, len);
    case EVENT_FORMAT_DATE_TIME:
        return time_parse(s, len, &ms) == 0;
    case EVENT_FORMAT_CREDIT_CODE:
        return credit_code_valid(s, len);
    case EVENT_FORMAT_REGION_CODE:
        return region_code_valid(s, len);
    case EVENT_FORMAT_CASE_NO:
        return case_no_valid(s, len);
    case EVENT_FORMAT_NONE:
        break;
    }
    return false;
}

static const char *format_hint(event_format_t fmt)
{
    switch (fmt) {
    case EVENT_FORMAT_UUID:
        return "must be a lowercase UUID like 3f0c2a9e-7b41-4d8e-9a6f-1c2d3e4f5a6b";
    case EVENT_FORMAT_DATE_TIME:
        return "must be an RFC 3339 date-time with offset like 2025-03-12T09:31:07+08:00";
    case EVENT_FORMAT_CREDIT_CODE:
        return "must be an 18-character unified social credit code (统一社会信用代码)";
    case EVENT_FORMAT_REGION_CODE:
        return "must be a 6-, 9- or 12-digit administrative division code";
    case EVENT_FORMAT_CASE_NO:
        return "must be a case number of 6..32 characters 0-9, A-Z and '-' (not first)";
    case EVENT_FORMAT_NONE:
        break;
    }
    return "has no format";
}

const char *event_format_pattern(event_format_t format)
{
    switch (format) {
    case EVENT_FORMAT_UUID:
        return "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
    case EVENT_FORMAT_DATE_TIME:
        return "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";
    case EVENT_FORMAT_CREDIT_CODE:
        return "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$";
    case EVENT_FORMAT_REGION_CODE:
        return "^[0-9]{6}([0-9]{3}([0-9]{3})?)?$";
    case EVENT_FORMAT_CASE_NO:
        return "^[0-9A-Z][0-9A-Z-]{5,31}$";
    case EVENT_FORMAT_NONE:
        break;
    }
    return NULL;
}

int event_time_to_ms(const char *rfc3339, int64_t *out_ms)
{
    if (rfc3339 == NULL || out_ms == NULL)
        return -1;
    return time_parse(rfc3339, strlen(rfc3339), out_ms);
}

/* ---- primitive checks shared by the payload walker and the envelope ------------------- */

static int enum_error(const char *path, const char *const *values, size_t n, char *err, size_t errlen)
{
    char list[512];
    size_t used = 0;

    list[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", values[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    err_set(err, errlen, "%s: must be one of %s", path, list);
    return -1;
}

/* A string of lo..hi code points; on success *s and *len point into `v` (borrowed). */
static int check_text(const char *path, const json_t *v, int64_t lo, int64_t hi, const char **s, size_t *len,
                      char *err, size_t errlen)
{
    if (!json_is_string(v)) {
        err_set(err, errlen, "%s: must be a string of %" PRId64 "..%" PRId64 " characters", path, lo, hi);
        return -1;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    if (memchr(*s, '\0', *len) != NULL) {
        err_set(err, errlen, "%s: must not contain NUL", path);
        return -1;
    }
    int64_t n = utf8_count(*s, *len);
    if (n < 0) {
        err_set(err, errlen, "%s: must be valid UTF-8", path);
        return -1;
    }
    if (n < lo || n > hi) {
        err_set(err, errlen, "%s: must be a string of %" PRId64 "..%" PRId64 " characters (got %" PRId64 ")",
                path, lo, hi, n);
        return -1;
    }
    return 0;
}

/* A formatted code copied into buf[size]. */
static int check_code(const char *path, const json_t *v, event_format_t fmt, char *buf, size_t size, char *err,
                      size_t errlen)
{
    const char *s;
    size_t len;

    if (!json_is_string(v)) {
        err_set(err, errlen, "%s: %s", path, format_hint(fmt));
        return -1;
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (len >= size || memchr(s, '\0', len) != NULL || !format_valid(fmt, s, len)) {
        err_set(err, errlen, "%s: %s", path, format_hint(fmt));
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

static int int_error(const char *path, int64_t lo, int64_t hi, char *err, size_t errlen)
{
    if (hi == EVENT_UNBOUNDED_MAX)
        err_set(err, errlen, "%s: must be an integer >= %" PRId64, path, lo);
    else
        err_set(err, errlen, "%s: must be an integer in %" PRId64 "..%" PRId64, path, lo, hi);
    return -1;
}

static int check_int(const char *path, const json_t *v, int64_t lo, int64_t hi, int64_t *out, char *err,
                     size_t errlen)
{
    if (!json_is_integer(v))
        return int_error(path, lo, hi, err, errlen);
    int64_t n = json_integer_value(v);
    if (n < lo || n > hi)
        return int_error(path, lo, hi, err, errlen);
    *out = n;
    return 0;
}

/* Returns the C value (index + 1). */
static int check_enum(const char *path, const json_t *v, const char *const *values, size_t n, int *out, char *err,
                      size_t errlen)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(s, values[i]) == 0 && strlen(values[i]) == json_string_length(v)) {
                *out = (int)i + 1;
                return 0;
            }
        }
    }
    return enum_error(path, values, n, err, errlen);
}

/* ---- the descriptor walker -------------------------------------------------------------- */

#define AT(base, off, T) ((T *)(void *)((char *)(base) + (off)))
#define CAT(base, off, T) ((const T *)(const void *)((const char *)(base) + (off)))

static const event_field_t *field_find(const event_field_t *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static void fields_clear(const event_field_t *fields, size_t n, void *obj)
{
    for (size_t i = 0; i < n; i++) {
        const event_field_t *f = &fields[i];
        switch (f->kind) {
        case EVENT_FIELD_TEXT: {
            char **s = AT(obj, f->offset, char *);
            free(*s);
            *s = NULL;
            break;
        }
        case EVENT_FIELD_ID_LIST: {
            event_id_list_t *l = AT(obj, f->offset, event_id_list_t);
            free(l->items);
            l->items = NULL;
            l->n = 0;
            break;
        }
        case EVENT_FIELD_UUID_LIST: {
            event_uuid_list_t *l = AT(obj, f->offset, event_uuid_list_t);
            free(l->items);
            l->items = NULL;
            l->n = 0;
            break;
        }
        case EVENT_FIELD_OBJECT:
            fields_clear(f->fields, f->nfields, AT(obj, f->offset, char));
            break;
        default:
            break;
        }
    }
}

static int fields_decode(const event_field_t *fields, size_t n, const json_t *json, void *obj, const char *path,
                         char *err, size_t errlen);

static int list_decode(const event_field_t *f, const json_t *v, void *obj, const char *path, char *err,
                       size_t errlen)
{
    char ipath[192];
    size_t count;
    bool ids = f->kind == EVENT_FIELD_ID_LIST;
    int64_t *iv = NULL;
    char (*uv)[EVENT_UUID_SIZE] = NULL;

    if (!json_is_array(v) || (int64_t)json_array_size(v) < f->min || (int64_t)json_array_size(v) > f->max) {
        err_set(err, errlen, "%s: must be an array of %" PRId64 "..%" PRId64 " unique %s", path, f->min, f->max,
                ids ? "ids" : "UUIDs");
        return -1;
    }
    count = json_array_size(v);
    if (count > 0) {
        if (ids)
            iv = calloc(count, sizeof *iv);
        else
            uv = calloc(count, sizeof *uv);
        if (iv == NULL && uv == NULL) {
            err_set(err, errlen, "%s: out of memory", path);
            return -1;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *item = json_array_get(v, i);
        snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
        if (ids) {
            if (check_int(ipath, item, 1, EVENT_UNBOUNDED_MAX, &iv[i], err, errlen))
                goto fail;
        } else if (check_code(ipath, item, EVENT_FORMAT_UUID, uv[i], EVENT_UUID_SIZE, err, errlen)) {
            goto fail;
        }
        for (size_t j = 0; j < i; j++) {
            if (ids ? iv[j] == iv[i] : strcmp(uv[j], uv[i]) == 0) {
                err_set(err, errlen, "%s: duplicate of %s[%zu]", ipath, f->name, j);
                goto fail;
            }
        }
    }
    if (ids) {
        AT(obj, f->offset, event_id_list_t)->items = iv;
        AT(obj, f->offset, event_id_list_t)->n = count;
    } else {
        AT(obj, f->offset, event_uuid_list_t)->items = uv;
        AT(obj, f->offset, event_uuid_list_t)->n = count;
    }
    return 0;
fail:
    free(iv);
    free(uv);
    return -1;
}

static int field_decode(const event_field_t *f, const json_t *v, void *obj, const char *path, char *err,
                        size_t errlen)
{
    const char *s;
    size_t len;
    int e = 0;

    switch (f->kind) {
    case EVENT_FIELD_TEXT: {
        if (check_text(path, v, f->min, f->max, &s, &len, err, errlen))
            return -1;
        char *copy = malloc(len + 1);
        if (copy == NULL) {
            err_set(err, errlen, "%s: out of memory", path);
            return -1;
        }
        memcpy(copy, s, len + 1);
        *AT(obj, f->offset, char *) = copy;
        return 0;
    }
    case EVENT_FIELD_CODE:
        return check_code(path, v, f->format, AT(obj, f->offset, char), f->size, err, errlen);
    case EVENT_FIELD_INT:
        return check_int(path, v, f->min, f->max, AT(obj, f->offset, int64_t), err, errlen);
    case EVENT_FIELD_BOOL:
        if (!json_is_boolean(v)) {
            err_set(err, errlen, "%s: must be true or false", path);
            return -1;
        }
        *AT(obj, f->offset, bool) = json_is_true(v);
        if (!f->required)
            *AT(obj, f->has_offset, bool) = true;
        return 0;
    case EVENT_FIELD_ENUM:
        if (check_enum(path, v, f->values, f->nvalues, &e, err, errlen))
            return -1;
        memcpy(AT(obj, f->offset, char), &e, sizeof e);
        return 0;
    case EVENT_FIELD_ID_LIST:
    case EVENT_FIELD_UUID_LIST:
        return list_decode(f, v, obj, path, err, errlen);
    case EVENT_FIELD_OBJECT:
        return fields_decode(f->fields, f->nfields, v, AT(obj, f->offset, char), path, err, errlen);
    }
    err_set(err, errlen, "%s: internal: unknown field kind %d", path, (int)f->kind);
    return -1;
}

/* Decode `json` into `obj` (zeroed by the caller). On failure `obj` may hold partial
 * results; the caller frees them with fields_clear(). */
static int fields_decode(const event_field_t *fields, size_t n, const json_t *json, void *obj, const char *path,
                         char *err, size_t errlen)
{
    char fpath[160];
    const char *key;
    json_t *v;

    if (!json_is_object(json)) {
        err_set(err, errlen, "%s: must be an object", path);
        return -1;
    }
    json_object_foreach((json_t *)json, key, v) {
        if (field_find(fields, n, key) == NULL) {
            err_set(err, errlen, "%s.%s: unknown field", path, key);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const event_field_t *f = &fields[i];
        snprintf(fpath, sizeof fpath, "%s.%s", path, f->name);
        v = json_object_get(json, f->name);
        if (v == NULL) {
            if (f->required) {
                err_set(err, errlen, "%s: missing required field", fpath);
                return -1;
            }
            continue;
        }
        if (field_decode(f, v, obj, fpath, err, errlen))
            return -1;
    }
    return 0;
}

static int set_new(json_t *o, const char *key, json_t *v, const char *path, char *err, size_t errlen)
{
    if (v == NULL || json_object_set_new(o, key, v) != 0) {
        err_set(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

static int fields_encode(const event_field_t *fields, size_t n, const void *obj, json_t *into, const char *path,
                         char *err, size_t errlen);

static json_t *list_encode(const event_field_t *f, const void *obj)
{
    json_t *a = json_array();

    if (a == NULL)
        return NULL;
    if (f->kind == EVENT_FIELD_ID_LIST) {
        const event_id_list_t *l = CAT(obj, f->offset, event_id_list_t);
        for (size_t i = 0; i < l->n; i++)
            if (json_array_append_new(a, json_integer(l->items[i])) != 0)
                goto fail;
    } else {
        const event_uuid_list_t *l = CAT(obj, f->offset, event_uuid_list_t);
        for (size_t i = 0; i < l->n; i++)
            if (json_array_append_new(a, json_stringn(l->items[i], strnlen(l->items[i], EVENT_UUID_SIZE))) != 0)
                goto fail;
    }
    return a;
fail:
    json_decref(a);
    return NULL;
}

/* Build JSON from a struct. Only what JSON cannot carry is checked here (unset required
 * members, invalid UTF-8, out-of-range enums); the caller validates the result. */
static int field_encode(const event_field_t *f, const void *obj, json_t *into, const char *path, char *err,
                        size_t errlen)
{
    switch (f->kind) {
    case EVENT_FIELD_TEXT: {
        const char *s = *CAT(obj, f->offset, char *);
        if (s == NULL)
            break;
        json_t *v = json_string(s);
        if (v == NULL) {
            err_set(err, errlen, "%s: must be valid UTF-8", path);
            return -1;
        }
        return set_new(into, f->name, v, path, err, errlen);
    }
    case EVENT_FIELD_CODE: {
        const char *s = CAT(obj, f->offset, char);
        size_t len = strnlen(s, f->size);
        if (len == 0)
            break;
        if (len == f->size) {
            err_set(err, errlen, "%s: %s", path, format_hint(f->format));
            return -1;
        }
        return set_new(into, f->name, json_stringn(s, len), path, err, errlen);
    }
    case EVENT_FIELD_INT: {
        int64_t v = *CAT(obj, f->offset, int64_t);
        if (!f->required && v == 0)
            break;
        return set_new(into, f->name, json_integer(v), path, err, errlen);
    }
    case EVENT_FIELD_BOOL:
        if (!f->required && !*CAT(obj, f->has_offset, bool))
            break;
        return set_new(into, f->name, json_boolean(*CAT(obj, f->offset, bool)), path, err, errlen);
    case EVENT_FIELD_ENUM: {
        int e;
        memcpy(&e, CAT(obj, f->offset, char), sizeof e);
        if (e == 0)
            break;
        if (e < 0 || (size_t)e > f->nvalues)
            return enum_error(path, f->values, f->nvalues, err, errlen);
        return set_new(into, f->name, json_string(f->values[e - 1]), path, err, errlen);
    }
    case EVENT_FIELD_ID_LIST:
    case EVENT_FIELD_UUID_LIST:
        if (!f->required && f->kind == EVENT_FIELD_UUID_LIST && CAT(obj, f->offset, event_uuid_list_t)->n == 0)
            break;
        return set_new(into, f->name, list_encode(f, obj), path, err, errlen);
    case EVENT_FIELD_OBJECT: {
        json_t *o = json_object();
        if (o == NULL || fields_encode(f->fields, f->nfields, CAT(obj, f->offset, char), o, path, err, errlen)) {
            json_decref(o);
            if (o == NULL)
                err_set(err, errlen, "%s: out of memory", path);
            return -1;
        }
        return set_new(into, f->name, o, path, err, errlen);
    }
    }
    if (f->required) {
        err_set(err, errlen, "%s: missing required field", path);
        return -1;
    }
    return 0;
}

static int fields_encode(const event_field_t *fields, size_t n, const void *obj, json_t *into, const char *path,
                         char *err, size_t errlen)
{
    char fpath[160];

    for (size_t i = 0; i < n; i++) {
        snprintf(fpath, sizeof fpath, "%s.%s", path, fields[i].name);
        if (field_encode(&fields[i], obj, into, fpath, err, errlen))
            return -1;
    }
    return 0;
}

/* ---- descriptor tables -------------------------------------------------------------------
 * The macros tie each descriptor entry to its member: the name is the member's name, and
 * a member of the wrong C type for the kind fails to compile (the _Generic has no match).
 */

#define TYPED(st, m, T) (0 * sizeof(char[_Generic(((st *)0)->m, T: 1)]))
#define TYPED_ARRAY(st, m)                                                                                     \
    (0 * sizeof(char[_Generic(&((st *)0)->m, char(*)[EVENT_UUID_SIZE]: 1, char(*)[EVENT_TIME_SIZE]: 1,         \
                              char(*)[EVENT_CREDIT_CODE_SIZE]: 1, char(*)[EVENT_REGION_CODE_SIZE]: 1,         \
                              char(*)[EVENT_CASE_NO_SIZE]: 1)]))
#define MEMBER(st, m) .name = #m, .offset = offsetof(st, m)

#define F_TEXT(st, m, req, lo, hi) \
    { MEMBER(st, m) + TYPED(st, m, char *), .kind = EVENT_FIELD_TEXT, .required = (req), .min = (lo), .max = (hi) }
#define F_CODE(st, m, req, fmt)                                                                             \
    { MEMBER(st, m) + TYPED_ARRAY(st, m), .kind = EVENT_FIELD_CODE, .required = (req), .format = (fmt),     \
      .size = sizeof(((st *)0)->m) }
#define F_UUID(st, m, req) F_CODE(st, m, req, EVENT_FORMAT_UUID)
#define F_TIME(st, m, req) F_CODE(st, m, req, EVENT_FORMAT_DATE_TIME)
#define F_INT(st, m, req, lo, hi) \
    { MEMBER(st, m) + TYPED(st, m, int64_t), .kind = EVENT_FIELD_INT, .required = (req), .min = (lo), .max = (hi) }
#define F_ID(st, m, req) F_INT(st, m, req, 1, EVENT_UNBOUNDED_MAX)
#define F_BOOL(st, m) { MEMBER(st, m) + TYPED(st, m, bool), .kind = EVENT_FIELD_BOOL, .required = true }
#define F_BOOL_OPT(st, m)                                                                                  \
    { MEMBER(st, m) + TYPED(st, m, bool), .kind = EVENT_FIELD_BOOL, .required = false,                     \
      .has_offset = offsetof(st, has_##m) + TYPED(st, has_##m, bool) }
#define F_ENUM(st, m, req, tbl)                                                                            \
    { MEMBER(st, m), .kind = EVENT_FIELD_ENUM, .required = (req), .values = (tbl),                          \
      .nvalues = JS_ARRAY_LEN(tbl), .size = sizeof(((st *)0)->m) }
#define F_IDS(st, m, lo, hi)                                                                               \
    { MEMBER(st, m) + TYPED(st, m, event_id_list_t), .kind = EVENT_FIELD_ID_LIST, .required = true,         \
      .min = (lo), .max = (hi) }
#define F_UUIDS(st, m, lo, hi)                                                                             \
    { MEMBER(st, m) + TYPED(st, m, event_uuid_list_t), .kind = EVENT_FIELD_UUID_LIST, .required = true,     \
      .min = (lo), .max = (hi) }
/* An optional list: absent in JSON when empty in C (so its minimum is at least 1). */
#define F_UUIDS_OPT(st, m, lo, hi)                                                                         \
    { MEMBER(st, m) + TYPED(st, m, event_uuid_list_t), .kind = EVENT_FIELD_UUID_LIST, .required = false,    \
      .min = (lo), .max = (hi) }
#define F_OBJ(st, m, tbl) \
    { MEMBER(st, m), .kind = EVENT_FIELD_OBJECT, .required = true, .fields = (tbl), .nfields = JS_ARRAY_LEN(tbl) }

#define R true  /* required */
#define O false /* optional */

static const event_field_t enterprise_fields[] = {
    F_TEXT(event_enterprise_t, name, R, 1, 100),
    F_CODE(event_enterprise_t, credit_code, R, EVENT_FORMAT_CREDIT_CODE),
};

static const event_field_t case_received_fields[] = {
    F_CODE(event_case_received_t, case_no, R, EVENT_FORMAT_CASE_NO),
    F_CODE(event_case_received_t, region_code, R, EVENT_FORMAT_REGION_CODE),
    F_ENUM(event_case_received_t, kind, R, kind_values),
    F_ENUM(event_case_received_t, channel, R, channel_values),
    F_OBJ(event_case_received_t, enterprise, enterprise_fields),
    F_TEXT(event_case_received_t, summary, R, 1, 500),
    F_BOOL(event_case_received_t, confidential),
    F_TIME(event_case_received_t, received_at, R),
};

static const event_field_t case_accepted_fields[] = {
    F_ENUM(event_case_accepted_t, complexity, R, complexity_values),
    F_TEXT(event_case_accepted_t, matter_type, R, 1, 64),
    F_TEXT(event_case_accepted_t, review_note, O, 1, 500),
};

static const event_field_t case_rejected_fields[] = {
    F_ENUM(event_case_rejected_t, reason_code, R, reject_values),
    F_TEXT(event_case_rejected_t, reason_text, R, 1, 500),
    F_CODE(event_case_rejected_t, referred_to_region_code, O, EVENT_FORMAT_REGION_CODE),
};

static const event_field_t case_duplicate_fields[] = {
    F_UUID(event_case_duplicate_t, original_case_id, R),
    F_CODE(event_case_duplicate_t, original_case_no, R, EVENT_FORMAT_CASE_NO),
    F_ENUM(event_case_duplicate_t, basis, R, duplicate_values),
    F_ID(event_case_duplicate_t, forwarded_to_unit_id, O),
};

static const event_field_t case_answered_fields[] = {
    F_TEXT(event_case_answered_t, answer_summary, R, 1, 2000),
    F_ENUM(event_case_answered_t, how_told, R, how_told_values),
    F_TIME(event_case_answered_t, revisit_by, O),
};

static const event_field_t case_dispatched_fields[] = {
    F_ID(event_case_dispatched_t, lead_unit_id, R),
    F_IDS(event_case_dispatched_t, co_handler_unit_ids, 0, 20),
    F_ENUM(event_case_dispatched_t, tier, R, tier_values),
    F_ID(event_case_dispatched_t, catalogue_version, R),
    F_ENUM(event_case_dispatched_t, basis, R, dispatch_values),
    F_INT(event_case_dispatched_t, attempt, R, 1, 100),
    F_TIME(event_case_dispatched_t, sign_by, R),
};

static const event_field_t case_signed_fields[] = {
    F_ID(event_case_signed_t, unit_id, R),
    F_BOOL(event_case_signed_t, within_deadline),
    F_TIME(event_case_signed_t, first_contact_by, O),
    F_TIME(event_case_signed_t, resolve_by, O),
};

static const event_field_t case_returned_fields[] = {
    F_ID(event_case_returned_t, unit_id, R),
    F_ENUM(event_case_returned_t, reason_code, R, return_values),
    F_TEXT(event_case_returned_t, reason_text, R, 1, 500),
    F_ID(event_case_returned_t, suggested_unit_id, O),
};

static const event_field_t case_escalated_fields[] = {
    F_ENUM(event_case_escalated_t, to_tier, R, tier_values),
    F_CODE(event_case_escalated_t, to_region_code, R, EVENT_FORMAT_REGION_CODE),
    F_ENUM(event_case_escalated_t, reason_code, R, escalation_values),
    F_TEXT(event_case_escalated_t, reason_text, R, 1, 500),
    F_ID(event_case_escalated_t, leader_principal_id, O),
};

static const event_field_t case_handed_down_fields[] = {
    F_ENUM(event_case_handed_down_t, to_tier, R, tier_values),
    F_CODE(event_case_handed_down_t, to_region_code, R, EVENT_FORMAT_REGION_CODE),
    F_TEXT(event_case_handed_down_t, instruction, R, 1, 500),
};

static const event_field_t case_remit_decided_fields[] = {
    F_ID(event_case_remit_decided_t, lead_unit_id, R),
    F_IDS(event_case_remit_decided_t, co_handler_unit_ids, 0, 20),
    F_IDS(event_case_remit_decided_t, disputed_by_unit_ids, 1, 20),
    F_ENUM(event_case_remit_decided_t, basis, R, remit_values),
    F_TEXT(event_case_remit_decided_t, decision_text, R, 1, 500),
};

static const event_field_t case_contact_recorded_fields[] = {
    F_ID(event_case_contact_recorded_t, unit_id, R),
    F_UUID(event_case_contact_recorded_t, contact_record_id, R),
    F_TIME(event_case_contact_recorded_t, contacted_at, R),
    F_ENUM(event_case_contact_recorded_t, channel, R, contact_values),
    F_ID(event_case_contact_recorded_t, staff_principal_id, R),
    F_BOOL(event_case_contact_recorded_t, reached),
    F_BOOL(event_case_contact_recorded_t, first_contact),
};

static const event_field_t case_progress_noted_fields[] = {
    F_ID(event_case_progress_noted_t, unit_id, R),
    F_TEXT(event_case_progress_noted_t, note, R, 1, 1000),
    F_TIME(event_case_progress_noted_t, next_report_by, O),
};

static const event_field_t case_deadline_agreed_fields[] = {
    F_ID(event_case_deadline_agreed_t, unit_id, R),
    F_TIME(event_case_deadline_agreed_t, resolve_by, R),
    F_ENUM(event_case_deadline_agreed_t, basis, R, deadline_values),
    F_TEXT(event_case_deadline_agreed_t, note, O, 1, 500),
};

static const event_field_t case_extension_requested_fields[] = {
    F_ID(event_case_extension_requested_t, unit_id, R),
    F_UUID(event_case_extension_requested_t, request_id, R),
    F_TIME(event_case_extension_requested_t, current_due_at, R),
    F_TIME(event_case_extension_requested_t, requested_due_at, R),
    F_TEXT(event_case_extension_requested_t, reason_text, R, 1, 500),
    F_BOOL(event_case_extension_requested_t, enterprise_informed),
};

static const event_field_t case_extension_decided_fields[] = {
    F_UUID(event_case_extension_decided_t, request_id, R),
    F_ENUM(event_case_extension_decided_t, decision, R, extension_values),
    F_TIME(event_case_extension_decided_t, resolve_by, O),
    F_TEXT(event_case_extension_decided_t, decision_text, O, 1, 500),
};

static const event_field_t case_part_submitted_fields[] = {
    F_ID(event_case_part_submitted_t, unit_id, R),
    F_ID(event_case_part_submitted_t, lead_unit_id, R),
    F_TEXT(event_case_part_submitted_t, summary, R, 1, 2000),
    F_UUIDS(event_case_part_submitted_t, attachment_ids, 0, 20),
};

static const event_field_t case_material_added_fields[] = {
    F_UUID(event_case_material_added_t, material_id, R),
    F_ENUM(event_case_material_added_t, source, R, material_values),
    F_UUIDS(event_case_material_added_t, attachment_ids, 1, 50),
    F_TEXT(event_case_material_added_t, description, O, 1, 500),
    F_UUID(event_case_material_added_t, duplicate_case_id, O),
};

static const event_field_t case_result_submitted_fields[] = {
    F_ID(event_case_result_submitted_t, unit_id, R),
    F_INT(event_case_result_submitted_t, handling_round, R, 1, 10),
    F_ENUM(event_case_result_submitted_t, finding, R, finding_values),
    F_TEXT(event_case_result_submitted_t, measures, R, 1, 2000),
    F_ENUM(event_case_result_submitted_t, how_told, R, how_told_values),
    F_TIME(event_case_result_submitted_t, told_at, R),
    F_BOOL(event_case_result_submitted_t, within_deadline),
    F_UUIDS(event_case_result_submitted_t, attachment_ids, 0, 20),
    F_TIME(event_case_result_submitted_t, revisit_by, O),
};

static const event_field_t case_revisit_recorded_fields[] = {
    F_INT(event_case_revisit_recorded_t, handling_round, R, 1, 10),
    F_INT(event_case_revisit_recorded_t, attempt, R, 1, 10),
    F_ENUM(event_case_revisit_recorded_t, channel, R, revisit_values),
    F_BOOL(event_case_revisit_recorded_t, reached),
    F_BOOL_OPT(event_case_revisit_recorded_t, contact_verified),
    F_BOOL_OPT(event_case_revisit_recorded_t, result_true),
    F_ENUM(event_case_revisit_recorded_t, satisfaction, O, satisfaction_values),
    F_TEXT(event_case_revisit_recorded_t, unsatisfied_reason, O, 1, 500),
    F_BOOL(event_case_revisit_recorded_t, sampled),
    F_ID(event_case_revisit_recorded_t, unit_id, O),
    F_UUIDS_OPT(event_case_revisit_recorded_t, disputed_contact_ids, 1, 50),
};

static const event_field_t case_closed_fields[] = {
    F_ENUM(event_case_closed_t, basis, R, close_values),
    F_BOOL(event_case_closed_t, resolved),
    F_ENUM(event_case_closed_t, satisfaction, O, satisfaction_values),
    F_INT(event_case_closed_t, handling_rounds, R, 1, 10),
    F_INT(event_case_closed_t, handling_working_days, R, 0, 3650),
};

static const event_field_t case_redo_ordered_fields[] = {
    F_ID(event_case_redo_ordered_t, unit_id, R),
    F_INT(event_case_redo_ordered_t, handling_round, R, 2, 10),
    F_ENUM(event_case_redo_ordered_t, reason_code, R, redo_values),
    F_TIME(event_case_redo_ordered_t, redo_by, R),
    F_TEXT(event_case_redo_ordered_t, note, O, 1, 500),
};

static const event_field_t case_terminated_fields[] = {
    F_ENUM(event_case_terminated_t, basis, R, termination_values),
    F_TEXT(event_case_terminated_t, reason_text, R, 1, 500),
};

static const event_field_t case_archived_fields[] = {
    F_UUID(event_case_archived_t, dossier_id, R),
    F_ENUM(event_case_archived_t, final_state, R, final_values),
    F_INT(event_case_archived_t, document_count, R, 1, 10000),
    F_INT(event_case_archived_t, retention_years, R, 1, 100),
};

static const event_field_t case_duplicate_unlinked_fields[] = {
    F_UUID(event_case_duplicate_unlinked_t, original_case_id, R),
    F_TEXT(event_case_duplicate_unlinked_t, reason_text, R, 1, 500),
};

/* timer.warned and timer.breached share one payload shape. */
static const event_field_t timer_fields[] = {
    F_ENUM(event_timer_fired_t, kind, R, timer_values),
    F_ID(event_timer_fired_t, timer_version, R),
    F_TIME(event_timer_fired_t, due_at, R),
    F_TIME(event_timer_fired_t, fired_at, R),
    F_INT(event_timer_fired_t, lateness_ms, R, 0, EVENT_UNBOUNDED_MAX),
    F_ID(event_timer_fired_t, unit_id, O),
    F_UUID(event_timer_fired_t, notice_id, O),
};

static const event_field_t supervision_issued_fields[] = {
    F_UUID(event_supervision_issued_t, notice_id, R),
    F_INT(event_supervision_issued_t, level, R, 1, 3),
    F_ID(event_supervision_issued_t, unit_id, R),
    F_UUID(event_supervision_issued_t, case_id, O),
    F_ENUM(event_supervision_issued_t, reason_code, R, supervision_values),
    F_TEXT(event_supervision_issued_t, reason_text, R, 1, 500),
    F_TIME(event_supervision_issued_t, reply_due_at, R),
};

static const event_field_t card_issued_fields[] = {
    F_UUID(event_card_issued_t, card_id, R),
    F_ID(event_card_issued_t, unit_id, R),
    F_ENUM(event_card_issued_t, colour, R, colour_values),
    F_INT(event_card_issued_t, consecutive, R, 1, 100),
    F_ENUM(event_card_issued_t, interview_of, R, interview_values),
    F_ENUM(event_card_issued_t, reason_code, R, card_reason_values),
    F_TEXT(event_card_issued_t, reason_text, R, 1, 500),
    F_UUID(event_card_issued_t, case_id, O),
};

#undef R
#undef O

/* ---- cross-field rules (the schemas' if/then, plus what JSON Schema cannot say) -------- */

static int rule_iff(bool cond, bool present, const char *field, const char *when, char *err, size_t errlen)
{
    if (cond && !present) {
        err_set(err, errlen, "payload.%s: required when %s", field, when);
        return -1;
    }
    if (!cond && present) {
        err_set(err, errlen, "payload.%s: only allowed when %s", field, when);
        return -1;
    }
    return 0;
}

static int rule_lead_not_co(int64_t lead, const event_id_list_t *co, char *err, size_t errlen)
{
    for (size_t i = 0; i < co->n; i++) {
        if (co->items[i] == lead) {
            err_set(err, errlen, "payload.co_handler_unit_ids[%zu]: must not repeat lead_unit_id %" PRId64, i, lead);
            return -1;
        }
    }
    return 0;
}

static int check_case_rejected(const void *payload, char *err, size_t errlen)
{
    const event_case_rejected_t *p = payload;
    return rule_iff(p->reason_code == EVENT_REJECT_OUTSIDE_REGION, p->referred_to_region_code[0] != '\0',
                    "referred_to_region_code", "reason_code is outside_region", err, errlen);
}

static int check_case_dispatched(const void *payload, char *err, size_t errlen)
{
    const event_case_dispatched_t *p = payload;
    return rule_lead_not_co(p->lead_unit_id, &p->co_handler_unit_ids, err, errlen);
}

static int check_case_remit_decided(const void *payload, char *err, size_t errlen)
{
    const event_case_remit_decided_t *p = payload;
    return rule_lead_not_co(p->lead_unit_id, &p->co_handler_unit_ids, err, errlen);
}

static int check_case_extension_requested(const void *payload, char *err, size_t errlen)
{
    const event_case_extension_requested_t *p = payload;
    int64_t cur, req;

    if (event_time_to_ms(p->current_due_at, &cur) || event_time_to_ms(p->requested_due_at, &req) || req <= cur) {
        err_set(err, errlen, "payload.requested_due_at: must be later than current_due_at");
        return -1;
    }
    return 0;
}

static int check_case_extension_decided(const void *payload, char *err, size_t errlen)
{
    const event_case_extension_decided_t *p = payload;
    return rule_iff(p->decision == EVENT_EXTENSION_APPROVED, p->resolve_by[0] != '\0', "resolve_by",
                    "decision is approved", err, errlen);
}

static int check_case_revisit_recorded(const void *payload, char *err, size_t errlen)
{
    const event_case_revisit_recorded_t *p = payload;
    const char *when = "reached is true";

    if (rule_iff(p->reached, p->has_contact_verified, "contact_verified", when, err, errlen) ||
        rule_iff(p->reached, p->has_result_true, "result_true", when, err, errlen) ||
        rule_iff(p->reached, p->satisfaction != EVENT_SATISFACTION_UNSET, "satisfaction", when, err, errlen))
        return -1;
    bool unsatisfied = p->satisfaction == EVENT_SATISFACTION_UNSATISFIED ||
                       p->satisfaction == EVENT_SATISFACTION_VERY_UNSATISFIED;
    if (!unsatisfied && p->unsatisfied_reason != NULL) {
        err_set(err, errlen, "payload.unsatisfied_reason: only allowed when satisfaction is unsatisfied or "
                             "very_unsatisfied");
        return -1;
    }
    if (p->disputed_contact_ids.n > 0 && !(p->reached && p->has_contact_verified && !p->contact_verified)) {
        err_set(err, errlen, "payload.disputed_contact_ids: only allowed when reached is true and contact_verified "
                             "is false");
        return -1;
    }
    return 0;
}

static int check_case_closed(const void *payload, char *err, size_t errlen)
{
    const event_case_closed_t *p = payload;
    bool by_revisit = p->basis == EVENT_CLOSE_REVISIT_SATISFIED;

    if (rule_iff(by_revisit, p->satisfaction != EVENT_SATISFACTION_UNSET, "satisfaction",
                 "basis is revisit_satisfied", err, errlen))
        return -1;
    if (by_revisit && p->satisfaction != EVENT_SATISFACTION_VERY_SATISFIED &&
        p->satisfaction != EVENT_SATISFACTION_SATISFIED && p->satisfaction != EVENT_SATISFACTION_BASICALLY_SATISFIED) {
        err_set(err, errlen, "payload.satisfaction: must be one of very_satisfied, satisfied, basically_satisfied "
                             "when basis is revisit_satisfied");
        return -1;
    }
    return 0;
}

static int check_timer(const void *payload, char *err, size_t errlen)
{
    const event_timer_fired_t *p = payload;
    return rule_iff(p->kind == EVENT_TIMER_SUPERVISION_REPLY, p->notice_id[0] != '\0', "notice_id",
                    "kind is supervision_reply", err, errlen);
}

/* ---- the type table ------------------------------------------------------------------------ */

#define TYPE(id, nm, sc, st, tbl, chk)                                                                   \
    [id] = {.type = (id), .name = (nm), .schema_version = 1, .scope = (sc), .payload_size = sizeof(st),   \
            .fields = (tbl), .nfields = JS_ARRAY_LEN(tbl), .check = (chk)}

static const event_type_desc_t type_table[EVENT_TYPE_COUNT] = {
    TYPE(EVENT_CASE_RECEIVED, "case.received", EVENT_SCOPE_CASE, event_case_received_t, case_received_fields, NULL),
    TYPE(EVENT_CASE_ACCEPTED, "case.accepted", EVENT_SCOPE_CASE, event_case_accepted_t, case_accepted_fields, NULL),
    TYPE(EVENT_CASE_REJECTED, "case.rejected", EVENT_SCOPE_CASE, event_case_rejected_t, case_rejected_fields,
         check_case_rejected),
    TYPE(EVENT_CASE_DUPLICATE, "case.duplicate", EVENT_SCOPE_CASE, event_case_duplicate_t, case_duplicate_fields,
         NULL),
    TYPE(EVENT_CASE_ANSWERED, "case.answered", EVENT_SCOPE_CASE, event_case_answered_t, case_answered_fields, NULL),
    TYPE(EVENT_CASE_DISPATCHED, "case.dispatched", EVENT_SCOPE_CASE, event_case_dispatched_t,
         case_dispatched_fields, check_case_dispatched),
    TYPE(EVENT_CASE_SIGNED, "case.signed", EVENT_SCOPE_CASE, event_case_signed_t, case_signed_fields, NULL),
    TYPE(EVENT_CASE_RETURNED, "case.returned", EVENT_SCOPE_CASE, event_case_returned_t, case_returned_fields, NULL),
    TYPE(EVENT_CASE_ESCALATED, "case.escalated", EVENT_SCOPE_CASE, event_case_escalated_t, case_escalated_fields,
         NULL),
    TYPE(EVENT_CASE_HANDED_DOWN, "case.handed_down", EVENT_SCOPE_CASE, event_case_handed_down_t,
         case_handed_down_fields, NULL),
    TYPE(EVENT_CASE_REMIT_DECIDED, "case.remit_decided", EVENT_SCOPE_CASE, event_case_remit_decided_t,
         case_remit_decided_fields, check_case_remit_decided),
    TYPE(EVENT_CASE_CONTACT_RECORDED, "case.contact_recorded", EVENT_SCOPE_CASE, event_case_contact_recorded_t,
         case_contact_recorded_fields, NULL),
    TYPE(EVENT_CASE_PROGRESS_NOTED, "case.progress_noted", EVENT_SCOPE_CASE, event_case_progress_noted_t,
         case_progress_noted_fields, NULL),
    TYPE(EVENT_CASE_DEADLINE_AGREED, "case.deadline_agreed", EVENT_SCOPE_CASE, event_case_deadline_agreed_t,
         case_deadline_agreed_fields, NULL),
    TYPE(EVENT_CASE_EXTENSION_REQUESTED, "case.extension_requested", EVENT_SCOPE_CASE,
         event_case_extension_requested_t, case_extension_requested_fields, check_case_extension_requested),
    TYPE(EVENT_CASE_EXTENSION_DECIDED, "case.extension_decided", EVENT_SCOPE_CASE, event_case_extension_decided_t,
         case_extension_decided_fields, check_case_extension_decided),
    TYPE(EVENT_CASE_PART_SUBMITTED, "case.part_submitted", EVENT_SCOPE_CASE, event_case_part_submitted_t,
         case_part_submitted_fields, NULL),
    TYPE(EVENT_CASE_MATERIAL_ADDED, "case.material_added", EVENT_SCOPE_CASE, event_case_material_added_t,
         case_material_added_fields, NULL),
    TYPE(EVENT_CASE_RESULT_SUBMITTED, "case.result_submitted", EVENT_SCOPE_CASE, event_case_result_submitted_t,
         case_result_submitted_fields, NULL),
    TYPE(EVENT_CASE_REVISIT_RECORDED, "case.revisit_recorded", EVENT_SCOPE_CASE, event_case_revisit_recorded_t,
         case_revisit_recorded_fields, check_case_revisit_recorded),
    TYPE(EVENT_CASE_CLOSED, "case.closed", EVENT_SCOPE_CASE, event_case_closed_t, case_closed_fields,
         check_case_closed),
    TYPE(EVENT_CASE_REDO_ORDERED, "case.redo_ordered", EVENT_SCOPE_CASE, event_case_redo_ordered_t,
         case_redo_ordered_fields, NULL),
    TYPE(EVENT_CASE_TERMINATED, "case.terminated", EVENT_SCOPE_CASE, event_case_terminated_t,
         case_terminated_fields, NULL),
    TYPE(EVENT_CASE_ARCHIVED, "case.archived", EVENT_SCOPE_CASE, event_case_archived_t, case_archived_fields, NULL),
    TYPE(EVENT_CASE_DUPLICATE_UNLINKED, "case.duplicate_unlinked", EVENT_SCOPE_CASE, event_case_duplicate_unlinked_t,
         case_duplicate_unlinked_fields, NULL),
    TYPE(EVENT_TIMER_WARNED, "timer.warned", EVENT_SCOPE_CASE_OR_UNIT, event_timer_warned_t, timer_fields,
         check_timer),
    TYPE(EVENT_TIMER_BREACHED, "timer.breached", EVENT_SCOPE_CASE_OR_UNIT, event_timer_breached_t, timer_fields,
         check_timer),
    TYPE(EVENT_SUPERVISION_ISSUED, "supervision.issued", EVENT_SCOPE_UNIT, event_supervision_issued_t,
         supervision_issued_fields, NULL),
    TYPE(EVENT_CARD_ISSUED, "card.issued", EVENT_SCOPE_UNIT, event_card_issued_t, card_issued_fields, NULL),
};

const event_type_desc_t *event_type_desc(event_type_t type)
{
    if (type <= EVENT_TYPE_NONE || type >= EVENT_TYPE_COUNT)
        return NULL;
    return &type_table[type];
}

const char *event_type_name(event_type_t type)
{
    const event_type_desc_t *d = event_type_desc(type);
    return d ? d->name : NULL;
}

event_type_t event_type_from_name(const char *name)
{
    if (name == NULL)
        return EVENT_TYPE_NONE;
    for (int t = EVENT_TYPE_NONE + 1; t < EVENT_TYPE_COUNT; t++)
        if (strcmp(type_table[t].name, name) == 0)
            return (event_type_t)t;
    return EVENT_TYPE_NONE;
}

const char *event_role_name(event_role_t role)
{
    if (role <= EVENT_ROLE_UNSET || role >= EVENT_ROLE_COUNT)
        return NULL;
    return role_values[role - 1];
}

/* ---- generic payload codec --------------------------------------------------------------- */

static void payload_clear(const event_type_desc_t *d, void *payload)
{
    fields_clear(d->fields, d->nfields, payload);
    memset(payload, 0, d->payload_size);
}

static int payload_decode(const event_type_desc_t *d, const json_t *json, void *out, char *err, size_t errlen)
{
    memset(out, 0, d->payload_size);
    if (fields_decode(d->fields, d->nfields, json, out, "payload", err, errlen) ||
        (d->check != NULL && d->check(out, err, errlen))) {
        payload_clear(d, out);
        return -1;
    }
    return 0;
}

/* Decode what was just encoded, so encoders enforce exactly the decoder's rules. */
static int payload_validate(const event_type_desc_t *d, const json_t *json, char *err, size_t errlen)
{
    void *scratch = calloc(1, d->payload_size);
    int rc;

    if (scratch == NULL) {
        err_set(err, errlen, "payload: out of memory");
        return -1;
    }
    rc = payload_decode(d, json, scratch, err, errlen);
    if (rc == 0)
        payload_clear(d, scratch);
    free(scratch);
    return rc;
}

static int type_error(event_type_t type, char *err, size_t errlen)
{
    err_set(err, errlen, "type: %d is not an event type", (int)type);
    return -1;
}

int event_payload_encode(event_type_t type, const void *payload, json_t **out, char *err, size_t errlen)
{
    const event_type_desc_t *d = event_type_desc(type);
    json_t *o = NULL;

    *out = NULL;
    if (d == NULL)
        return type_error(type, err, errlen);
    o = json_object();
    if (o == NULL) {
        err_set(err, errlen, "payload: out of memory");
        goto fail;
    }
    if (fields_encode(d->fields, d->nfields, payload, o, "payload", err, errlen) ||
        payload_validate(d, o, err, errlen))
        goto fail;
    *out = o;
    return 0;
fail:
    json_decref(o);
    return -1;
}

int event_payload_decode(event_type_t type, const json_t *json, void *out, char *err, size_t errlen)
{
    const event_type_desc_t *d = event_type_desc(type);

    if (d == NULL)
        return type_error(type, err, errlen);
    return payload_decode(d, json, out, err, errlen);
}

void event_payload_clear(event_type_t type, void *payload)
{
    const event_type_desc_t *d = event_type_desc(type);

    if (d != NULL && payload != NULL)
        payload_clear(d, payload);
}

/* One named codec per message; each is the generic codec with its type fixed. */
#define EVENT_CODEC(T, ID)                                                                              \
    int event_##T##_encode(const event_##T##_t *p, json_t **out, char *err, size_t errlen)              \
    {                                                                                                   \
        return event_payload_encode(ID, p, out, err, errlen);                                           \
    }                                                                                                   \
    int event_##T##_decode(const json_t *json, event_##T##_t *out, char *err, size_t errlen)            \
    {                                                                                                   \
        return event_payload_decode(ID, json, out, err, errlen);                                        \
    }                                                                                                   \
    void event_##T##_clear(event_##T##_t *p)                                                            \
    {                                                                                                   \
        event_payload_clear(ID, p);                                                                     \
    }

EVENT_CODEC(case_received, EVENT_CASE_RECEIVED)
EVENT_CODEC(case_accepted, EVENT_CASE_ACCEPTED)
EVENT_CODEC(case_rejected, EVENT_CASE_REJECTED)
EVENT_CODEC(case_duplicate, EVENT_CASE_DUPLICATE)
EVENT_CODEC(case_answered, EVENT_CASE_ANSWERED)
EVENT_CODEC(case_dispatched, EVENT_CASE_DISPATCHED)
EVENT_CODEC(case_signed, EVENT_CASE_SIGNED)
EVENT_CODEC(case_returned, EVENT_CASE_RETURNED)
EVENT_CODEC(case_escalated, EVENT_CASE_ESCALATED)
EVENT_CODEC(case_handed_down, EVENT_CASE_HANDED_DOWN)
EVENT_CODEC(case_remit_decided, EVENT_CASE_REMIT_DECIDED)
EVENT_CODEC(case_contact_recorded, EVENT_CASE_CONTACT_RECORDED)
EVENT_CODEC(case_progress_noted, EVENT_CASE_PROGRESS_NOTED)
EVENT_CODEC(case_deadline_agreed, EVENT_CASE_DEADLINE_AGREED)
EVENT_CODEC(case_extension_requested, EVENT_CASE_EXTENSION_REQUESTED)
EVENT_CODEC(case_extension_decided, EVENT_CASE_EXTENSION_DECIDED)
EVENT_CODEC(case_part_submitted, EVENT_CASE_PART_SUBMITTED)
EVENT_CODEC(case_material_added, EVENT_CASE_MATERIAL_ADDED)
EVENT_CODEC(case_result_submitted, EVENT_CASE_RESULT_SUBMITTED)
EVENT_CODEC(case_revisit_recorded, EVENT_CASE_REVISIT_RECORDED)
EVENT_CODEC(case_closed, EVENT_CASE_CLOSED)
EVENT_CODEC(case_redo_ordered, EVENT_CASE_REDO_ORDERED)
EVENT_CODEC(case_terminated, EVENT_CASE_TERMINATED)
EVENT_CODEC(case_archived, EVENT_CASE_ARCHIVED)
EVENT_CODEC(case_duplicate_unlinked, EVENT_CASE_DUPLICATE_UNLINKED)
EVENT_CODEC(timer_warned, EVENT_TIMER_WARNED)
EVENT_CODEC(timer_breached, EVENT_TIMER_BREACHED)
EVENT_CODEC(supervision_issued, EVENT_SUPERVISION_ISSUED)
EVENT_CODEC(card_issued, EVENT_CARD_ISSUED)

/* ---- the envelope ------------------------------------------------------------------------- */

static const char *const envelope_keys[] = {
    "event_id", "case_id", "unit_id", "type", "schema_version", "occurred_at", "actor", "payload",
};
static const char *const actor_keys[] = {"principal_id", "role", "name"};

static int unknown_keys(const json_t *o, const char *const *keys, size_t n, const char *prefix, char *err,
                        size_t errlen)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v) {
        size_t i;
        for (i = 0; i < n && strcmp(key, keys[i]) != 0; i++)
            ;
        if (i == n) {
            err_set(err, errlen, "%s%s: unknown field", prefix, key);
            return -1;
        }
    }
    return 0;
}

static const json_t *required(const json_t *o, const char *key, const char *path, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);

    if (v == NULL)
        err_set(err, errlen, "%s: missing required field", path);
    return v;
}

static int actor_decode(const json_t *v, event_actor_t *a, char *err, size_t errlen)
{
    const json_t *pid, *role, *name;
    const char *s;
    size_t len;
    int r = 0;

    if (!json_is_object(v)) {
        err_set(err, errlen, "actor: must be an object");
        return -1;
    }
    if (unknown_keys(v, actor_keys, JS_ARRAY_LEN(actor_keys), "actor.", err, errlen))
        return -1;
    if ((pid = required(v, "principal_id", "actor.principal_id", err, errlen)) == NULL)
        return -1;
    if (json_is_null(pid)) {
        a->principal_id = 0;
    } else if (check_int("actor.principal_id", pid, 1, EVENT_UNBOUNDED_MAX, &a->principal_id, err, errlen)) {
        err_set(err, errlen, "actor.principal_id: must be an integer >= 1 or null");
        return -1;
    }
    if ((role = required(v, "role", "actor.role", err, errlen)) == NULL ||
        check_enum("actor.role", role, role_values, JS_ARRAY_LEN(role_values), &r, err, errlen))
        return -1;
    a->role = (event_role_t)r;
    if ((name = required(v, "name", "actor.name", err, errlen)) == NULL ||
        check_text("actor.name", name, 1, EVENT_ACTOR_NAME_MAX, &s, &len, err, errlen))
        return -1;
    memcpy(a->name, s, len + 1); /* 200 code points fit in 801 bytes */
    return 0;
}

/* Case events name their case; unit events their unit; timers one or the other. The
 * payload's own unit_id/case_id, where it has them, must agree with the envelope. */
static int envelope_check_subject(const event_t *ev, const event_type_desc_t *d, char *err, size_t errlen)
{
    bool has_case = ev->case_id[0] != '\0';
    const char *p_case = NULL;
    int64_t p_unit = 0;

    switch (d->scope) {
    case EVENT_SCOPE_CASE:
        if (!has_case) {
            err_set(err, errlen, "case_id: must be a UUID (not null) for %s", d->name);
            return -1;
        }
        if (ev->unit_id != 0) {
            err_set(err, errlen, "unit_id: not allowed on case event %s", d->name);
            return -1;
        }
        return 0;
    case EVENT_SCOPE_UNIT:
        if (ev->unit_id == 0) {
            err_set(err, errlen, "unit_id: missing required field (unit event %s)", d->name);
            return -1;
        }
        if (ev->type == EVENT_SUPERVISION_ISSUED) {
            p_unit = ev->payload.supervision_issued.unit_id;
            p_case = ev->payload.supervision_issued.case_id;
        } else {
            p_unit = ev->payload.card_issued.unit_id;
            p_case = ev->payload.card_issued.case_id;
        }
        break;
    case EVENT_SCOPE_CASE_OR_UNIT:
        if (has_case && ev->unit_id != 0) {
            err_set(err, errlen, "unit_id: not allowed when case_id is set (%s)", d->name);
            return -1;
        }
        if (!has_case && ev->unit_id == 0) {
            err_set(err, errlen, "unit_id: missing required field when case_id is null (%s)", d->name);
            return -1;
        }
        if (has_case)
            return 0;
        p_unit = ev->payload.timer_warned.unit_id; /* both timer members share one struct */
        p_case = "";
        break;
    }
    if (p_unit != ev->unit_id) {
        err_set(err, errlen, "payload.unit_id: must equal the envelope's unit_id %" PRId64, ev->unit_id);
        return -1;
    }
    if (strcmp(p_case, ev->case_id) != 0) {
        err_set(err, errlen, "payload.case_id: must equal the envelope's case_id (%s)",
                has_case ? ev->case_id : "null");
        return -1;
    }
    return 0;
}

/* Validate `root` (borrowed) as an envelope into `out` (zeroed here). */
static int envelope_decode(const json_t *root, event_t *out, char *err, size_t errlen)
{
    const event_type_desc_t *d = NULL;
    const json_t *v;
    int64_t n;
    bool payload_set = false;

    memset(out, 0, sizeof *out);
    if (!json_is_object(root)) {
        err_set(err, errlen, "event: must be a JSON object");
        return -1;
    }
    if (unknown_keys(root, envelope_keys, JS_ARRAY_LEN(envelope_keys), "", err, errlen))
        goto fail;
    if ((v = required(root, "event_id", "event_id", err, errlen)) == NULL ||
        check_code("event_id", v, EVENT_FORMAT_UUID, out->event_id, sizeof out->event_id, err, errlen))
        goto fail;
    if ((v = required(root, "case_id", "case_id", err, errlen)) == NULL)
        goto fail;
    if (!json_is_null(v) && check_code("case_id", v, EVENT_FORMAT_UUID, out->case_id, sizeof out->case_id, err,
                                       errlen)) {
        err_set(err, errlen, "case_id: must be a lowercase UUID or null");
        goto fail;
    }
    if ((v = json_object_get(root, "unit_id")) != NULL &&
        check_int("unit_id", v, 1, EVENT_UNBOUNDED_MAX, &out->unit_id, err, errlen))
        goto fail;
    if ((v = required(root, "type", "type", err, errlen)) == NULL)
        goto fail;
    if (!json_is_string(v)) {
        err_set(err, errlen, "type: must be a string naming an event type");
        goto fail;
    }
    out->type = strlen(json_string_value(v)) == json_string_length(v) ? event_type_from_name(json_string_value(v))
                                                                      : EVENT_TYPE_NONE;
    if ((d = event_type_desc(out->type)) == NULL) {
        err_set(err, errlen, "type: unknown event type \"%.64s\"", json_string_value(v));
        goto fail;
    }
    if ((v = required(root, "schema_version", "schema_version", err, errlen)) == NULL ||
        check_int("schema_version", v, 1, EVENT_UNBOUNDED_MAX, &n, err, errlen))
        goto fail;
    if (n > d->schema_version) {
        err_set(err, errlen, "schema_version: %" PRId64 " of %s is newer than this build understands (%d)", n,
                d->name, d->schema_version);
        goto fail;
    }
    out->schema_version = (int)n;
    if ((v = required(root, "occurred_at", "occurred_at", err, errlen)) == NULL ||
        check_code("occurred_at", v, EVENT_FORMAT_DATE_TIME, out->occurred_at, sizeof out->occurred_at, err,
                   errlen))
        goto fail;
    if ((v = required(root, "actor", "actor", err, errlen)) == NULL || actor_decode(v, &out->actor, err, errlen))
        goto fail;
    if ((v = required(root, "payload", "payload", err, errlen)) == NULL ||
        payload_decode(d, v, &out->payload, err, errlen))
        goto fail;
    payload_set = true;
    if (envelope_check_subject(out, d, err, errlen))
        goto fail;
    return 0;
fail:
    if (payload_set)
        payload_clear(d, &out->payload);
    memset(out, 0, sizeof *out);
    return -1;
}

int event_decode(const char *json, size_t len, event_t *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    memset(out, 0, sizeof *out);
    if (json == NULL) {
        err_set(err, errlen, "json: no input");
        return -1;
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        err_set(err, errlen, "json: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return -1;
    }
    rc = envelope_decode(root, out, err, errlen);
    json_decref(root);
    return rc;
}

/* A fixed buffer that must hold a NUL within its size; "" gives JSON null when nullable. */
static json_t *code_json(const char *s, size_t size, bool nullable)
{
    size_t len = strnlen(s, size);

    if (len == size)
        return json_string("\x01 unterminated"); /* fails validation with the field's hint */
    if (len == 0 && nullable)
        return json_null();
    return json_stringn(s, len);
}

static json_t *envelope_build(const event_t *ev, const event_type_desc_t *d, char *err, size_t errlen)
{
    json_t *o = json_object(), *actor = json_object(), *payload = json_object();
    const char *role = event_role_name(ev->actor.role);

    if (o == NULL || actor == NULL || payload == NULL)
        goto oom;
    if (set_new(o, "event_id", code_json(ev->event_id, sizeof ev->event_id, false), "event_id", err, errlen) ||
        set_new(o, "case_id", code_json(ev->case_id, sizeof ev->case_id, true), "case_id", err, errlen))
        goto fail;
    if (ev->unit_id != 0 && set_new(o, "unit_id", json_integer(ev->unit_id), "unit_id", err, errlen))
        goto fail;
    if (set_new(o, "type", json_string(d->name), "type", err, errlen) ||
        set_new(o, "schema_version", json_integer(ev->schema_version), "schema_version", err, errlen) ||
        set_new(o, "occurred_at", code_json(ev->occurred_at, sizeof ev->occurred_at, false), "occurred_at", err,
                errlen))
        goto fail;
    if (set_new(actor, "principal_id", ev->actor.principal_id ? json_integer(ev->actor.principal_id) : json_null(),
                "actor.principal_id", err, errlen))
        goto fail;
    if (role == NULL) {
        if (ev->actor.role == EVENT_ROLE_UNSET)
            err_set(err, errlen, "actor.role: missing required field");
        else
            enum_error("actor.role", role_values, JS_ARRAY_LEN(role_values), err, errlen);
        goto fail;
    }
    if (set_new(actor, "role", json_string(role), "actor.role", err, errlen))
        goto fail;
    json_t *name = json_stringn(ev->actor.name, strnlen(ev->actor.name, sizeof ev->actor.name));
    if (name == NULL) {
        err_set(err, errlen, "actor.name: must be valid UTF-8");
        goto fail;
    }
    if (set_new(actor, "name", name, "actor.name", err, errlen))
        goto fail;
    if (set_new(o, "actor", actor, "actor", err, errlen)) {
        actor = NULL;
        goto fail;
    }
    actor = NULL;
    if (fields_encode(d->fields, d->nfields, &ev->payload, payload, "payload", err, errlen))
        goto fail;
    if (set_new(o, "payload", payload, "payload", err, errlen)) {
        payload = NULL;
        goto fail;
    }
    return o;
oom:
    err_set(err, errlen, "event: out of memory");
fail:
    json_decref(actor);
    json_decref(payload);
    json_decref(o);
    return NULL;
}

int event_encode_json(const event_t *ev, json_t **out, char *err, size_t errlen)
{
    const event_type_desc_t *d = event_type_desc(ev->type);
    json_t *o = NULL;
    event_t *check = NULL;

    *out = NULL;
    if (d == NULL)
        return type_error(ev->type, err, errlen);
    if ((o = envelope_build(ev, d, err, errlen)) == NULL)
        goto fail;
    if ((check = malloc(sizeof *check)) == NULL) {
        err_set(err, errlen, "event: out of memory");
        goto fail;
    }
    /* what we write must be what every consumer accepts: decode it once before it leaves */
    if (envelope_decode(o, check, err, errlen))
        goto fail;
    event_clear(check);
    free(check);
    *out = o;
    return 0;
fail:
    free(check);
    json_decref(o);
    return -1;
}

int event_encode(const event_t *ev, char **out_json, char *err, size_t errlen)
{
    json_t *o = NULL;

    *out_json = NULL;
    if (event_encode_json(ev, &o, err, errlen))
        return -1;
    *out_json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (*out_json == NULL) {
        err_set(err, errlen, "event: out of memory");
        return -1;
    }
    return 0;
}

void event_clear(event_t *ev)
{
    const event_type_desc_t *d;

    if (ev == NULL)
        return;
    if ((d = event_type_desc(ev->type)) != NULL)
        fields_clear(d->fields, d->nfields, &ev->payload);
    memset(ev, 0, sizeof *ev);
}

int event_init(event_t *ev, event_type_t type)
{
    const event_type_desc_t *d = event_type_desc(type);

    memset(ev, 0, sizeof *ev);
    if (d == NULL)
        return -1;
    ev->type = type;
    ev->schema_version = d->schema_version;
    if (event_uuid_new(ev->event_id) || event_now_rfc3339(ev->occurred_at)) {
        memset(ev, 0, sizeof *ev);
        return -1;
    }
    return 0;
}

const char *event_topic(const event_t *ev)
{
    const event_type_desc_t *d = ev ? event_type_desc(ev->type) : NULL;

    if (d == NULL)
        return NULL;
    switch (d->scope) {
    case EVENT_SCOPE_CASE:
        return EVENT_TOPIC_CASE;
    case EVENT_SCOPE_UNIT:
        return EVENT_TOPIC_UNIT;
    case EVENT_SCOPE_CASE_OR_UNIT:
        return ev->case_id[0] != '\0' ? EVENT_TOPIC_CASE : EVENT_TOPIC_UNIT;
    }
    return NULL;
}

int event_key(const event_t *ev, char *buf, size_t len)
{
    const char *topic = event_topic(ev);
    int w;

    if (topic == NULL || buf == NULL || len == 0)
        return -1;
    if (strcmp(topic, EVENT_TOPIC_CASE) == 0) {
        if (ev->case_id[0] == '\0')
            return -1;
        w = snprintf(buf, len, "%s", ev->case_id);
    } else {
        if (ev->unit_id <= 0)
            return -1;
        w = snprintf(buf, len, "%" PRId64, ev->unit_id);
    }
    return (w < 0 || (size_t)w >= len) ? -1 : 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

int event_uuid_new(char out[EVENT_UUID_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    size_t got = 0;
    char *p = out;

    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            out[0] = '\0';
            return -1;
        }
        got += (size_t)r;
    }
    /* version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Ids made
     * later sort later, so every index keyed on them (cases, case_events, outbox) grows at
     * its right edge instead of touching a random leaf page per row. */
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        out[0] = '\0';
        return -1;
    }
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70); /* version 7 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < sizeof b; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
    return 0;
}

int event_now_rfc3339(char out[EVENT_TIME_SIZE])
{
    struct timespec ts;
    struct tm tm;
    time_t cst;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    cst = ts.tv_sec + 8 * 3600; /* China Standard Time has had no DST since 1991 */
    if (gmtime_r(&cst, &tm) == NULL)
        return -1;
    int w = snprintf(out, EVENT_TIME_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld+08:00", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    return (w < 0 || w >= EVENT_TIME_SIZE) ? -1 : 0;
}
