/*
 * appeal.c — what a submission must look like, checked before anything is written.
 *
 * The body is validated by one table (common/reqval.h): every malformed, oversized, mistyped
 * or misplaced field gets a 400 naming it. The allowed values of kind, channel, complexity,
 * refusal reasons and how-told come from the event contract's descriptors, so the API and the
 * events cannot drift apart. Checks that need the principal (an enterprise submits only for
 * its own credit code; only agents flag emergencies or decide at registration) come after.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "intake.h"
#include "reqval.h"
#include "uscc.h"

/* ---- the contract's enumerations ------------------------------------------------------- */

static const event_field_t *contract_field(event_type_t type, const char *field)
{
    const event_type_desc_t *d = event_type_desc(type);
    for (size_t i = 0; d && i < d->nfields; i++)
        if (!strcmp(d->fields[i].name, field)) return &d->fields[i];
    return NULL;
}

int intake_enum(event_type_t type, const char *field, const char *s)
{
    const event_field_t *f = contract_field(type, field);
    for (size_t i = 0; f && s && i < f->nvalues; i++)
        if (!strcmp(f->values[i], s)) return (int)i + 1;
    return 0;
}

const char *intake_enum_str(event_type_t type, const char *field, int v)
{
    const event_field_t *f = contract_field(type, field);
    return f && v >= 1 && (size_t)v <= f->nvalues ? f->values[v - 1] : NULL;
}

/* ---- field checks ------------------------------------------------------------------------ */

static int check_credit_code(const char *s, char *msg, size_t msglen)
{
    char e[256];
    if (uscc_validate(s, e, sizeof e) == 0) return 0;
    /* uscc's messages start with "credit_code: "; reqval prefixes the path itself */
    const char *m = strncmp(e, "credit_code: ", 13) == 0 ? e + 13 : e;
    snprintf(msg, msglen, "%s", m);
    return -1;
}

static int check_region_code(const char *s, char *msg, size_t msglen)
{
    size_t n = strlen(s);
    if ((n == 6 || n == 9 || n == 12) && strspn(s, "0123456789") == n) return 0;
    snprintf(msg, msglen, "must be a division code of 6, 9 or 12 digits");
    return -1;
}

static int check_phone(const char *s, char *msg, size_t msglen)
{
    size_t digits = 0, n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i])) digits++;
        else if (!strchr("+-() ", s[i])) {
            snprintf(msg, msglen, "may hold only digits, spaces and + - ( )");
            return -1;
        }
    }
    if (digits < 5 || digits > 20 || n > 32) {
        snprintf(msg, msglen, "must hold 5 to 20 digits");
        return -1;
    }
    return 0;
}

static int check_sha256(const char *s, char *msg, size_t msglen)
{
    if (strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64) return 0;
    snprintf(msg, msglen, "must be 64 lowercase hex characters");
    return -1;
}

static int check_media_type(const char *s, char *msg, size_t msglen)
{
    const char *slash = strchr(s, '/');
    int ok = slash && slash != s && slash[1];
    for (const char *p = s; ok && *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/.+-", *p)) ok = 0;
    if (ok) return 0;
    snprintf(msg, msglen, "must be a media type such as application/pdf");
    return -1;
}

static int check_file_name(const char *s, char *msg, size_t msglen)
{
    if (strpbrk(s, "/\\") == NULL) return 0;
    snprintf(msg, msglen, "must be a file name, not a path");
    return -1;
}

static const char *const decision_actions[] = {"accept", "reject", "answer", NULL};

static rv_field_t attachment_fields[] = {
    {.name = "file_name", .type = RV_STR, .required = true, .min = 1, .max = 255, .single_line = true, .check = check_file_name},
    {.name = "media_type", .type = RV_STR, .required = true, .min = 3, .max = 127, .single_line = true, .check = check_media_type},
    {.name = "size_bytes", .type = RV_INT, .required = true, .min = 0, .max = 1073741824},
    {.name = "sha256", .type = RV_STR, .required = true, .min = 64, .max = 64, .single_line = true, .check = check_sha256},
    {.name = "storage_key", .type = RV_STR, .required = true, .min = 1, .max = 1024, .single_line = true},
};

static rv_field_t decision_fields[] = {
    {.name = "action", .type = RV_STR, .required = true, .values = decision_actions},
    {.name = "complexity", .type = RV_STR},                 /* values from the contract */
    {.name = "matter_type", .type = RV_STR, .min = 1, .max = 64, .single_line = true},
    {.name = "note", .type = RV_STR, .min = 1, .max = 500},
    {.name = "reason_code", .type = RV_STR},                /* values from the contract */
    {.name = "reason_text", .type = RV_STR, .min = 1, .max = 500},
    {.name = "answer_summary", .type = RV_STR, .min = 1, .max = 2000},
    {.name = "how_told", .type = RV_STR},                   /* values from the contract */
};

static rv_field_t appeal_fields[] = {
    {.name = "enterprise_name", .type = RV_STR, .required = true, .min = 1, .max = 100, .single_line = true},
    {.name = "credit_code", .type = RV_STR, .required = true, .min = 1, .max = 32, .single_line = true, .check = check_credit_code},
    {.name = "address", .type = RV_STR, .min = 1, .max = 500, .single_line = true},
    {.name = "region_code", .type = RV_STR, .required = true, .min = 1, .max = 12, .single_line = true, .check = check_region_code},
    {.name = "contact_name", .type = RV_STR, .required = true, .min = 1, .max = 50, .single_line = true},
    {.name = "contact_phone", .type = RV_STR, .required = true, .min = 3, .max = 32, .single_line = true, .check = check_phone},
    {.name = "channel", .type = RV_STR, .required = true},  /* values from the contract */
    {.name = "kind", .type = RV_STR, .required = true},     /* values from the contract */
    {.name = "summary", .type = RV_STR, .required = true, .min = 1, .max = 500, .single_line = true},
    {.name = "body", .type = RV_STR, .required = true, .min = 1, .max = 20000},
    {.name = "attachments", .type = RV_ARRAY, .min = 0, .max = 20, .items = RV_OBJECT,
     .fields = attachment_fields, .nfields = JS_ARRAY_LEN(attachment_fields)},
    {.name = "confidential", .type = RV_BOOL},
    {.name = "emergency", .type = RV_BOOL},
    {.name = "decision", .type = RV_OBJECT, .fields = decision_fields, .nfields = JS_ARRAY_LEN(decision_fields)},
};

/* The contract's enumerations, wired into the tables once. */
static void appeal_tables_init(long body_max)
{
    static int done;
    if (done) return;
    done = 1;
    struct {
        rv_field_t *f;
        event_type_t type;
        const char *field;
    } wire[] = {
        {&appeal_fields[6], EVENT_CASE_RECEIVED, "channel"},
        {&appeal_fields[7], EVENT_CASE_RECEIVED, "kind"},
        {&decision_fields[1], EVENT_CASE_ACCEPTED, "complexity"},
        {&decision_fields[4], EVENT_CASE_REJECTED, "reason_code"},
        {&decision_fields[7], EVENT_CASE_ANSWERED, "how_told"},
    };
    for (size_t i = 0; i < JS_ARRAY_LEN(wire); i++) {
        const event_field_t *cf = contract_field(wire[i].type, wire[i].field);
        if (cf) {
            wire[i].f->values = cf->values;
            wire[i].f->nvalues = cf->nvalues;
        }
    }
    appeal_fields[9].max = body_max;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void appeal_clear(appeal_t *a)
{
    if (a == NULL) return;
    free(a->enterprise_name);
    free(a->address);
    free(a->contact_name);
    free(a->contact_phone);
    free(a->summary);
    free(a->body);
    free(a->attachments.items);
    free(a->matter_type);
    free(a->note);
    free(a->reason_text);
    free(a->answer_summary);
    memset(a, 0, sizeof *a);
}

static int fail(http_req_t *req, int status, const char *code, const char *field, const char *msg)
{
    http_reply_error(req, status, code, field, "%s", msg);
    return -1;
}

int appeal_parse(http_req_t *req, json_t *body, const http_principal_t *p, long body_max,
                 appeal_t *a)
{
    memset(a, 0, sizeof *a);
    appeal_tables_init(body_max);
    /* Credit codes are case-insensitive for people; store them in the standard's upper case. */
    json_t *cc = json_object_get(body, "credit_code");
    if (json_is_string(cc)) {
        char norm[USCC_BUFSZ], e[128];
        if (uscc_normalise(json_string_value(cc), norm, e, sizeof e) == 0)
            json_object_set_new(body, "credit_code", json_string(norm));
    }
    rv_error_t e;
    if (rv_validate(body, appeal_fields, JS_ARRAY_LEN(appeal_fields), &e) != 0)
        return fail(req, 400, e.code, e.field, e.message);

    const char *kind = rv_str(body, "kind", ""), *channel = rv_str(body, "channel", "");
    a->kind = (event_kind_t)intake_enum(EVENT_CASE_RECEIVED, "kind", kind);
    a->channel = (event_channel_t)intake_enum(EVENT_CASE_RECEIVED, "channel", channel);
    a->kind_str = intake_enum_str(EVENT_CASE_RECEIVED, "kind", (int)a->kind);
    a->channel_str = intake_enum_str(EVENT_CASE_RECEIVED, "channel", (int)a->channel);
    a->confidential = rv_bool(body, "confidential", false);
    a->emergency = rv_bool(body, "emergency", false);
    if (a->confidential && a->kind != EVENT_KIND_REPORT)
        return fail(req, 400, "invalid_value", "confidential",
                    "confidential: only reports (kind report, 举报) carry a confidentiality flag");

    int is_agent = p->role == AUTH_ROLE_AGENT;
    const char *credit = rv_str(body, "credit_code", "");
    if (p->role == AUTH_ROLE_ENTERPRISE) {
        if (strcmp(credit, p->credit_code) != 0)
            return fail(req, 403, "forbidden", "credit_code",
                        "credit_code: an enterprise may submit appeals only for its own credit code");
        if (a->channel != EVENT_CHANNEL_WEB && a->channel != EVENT_CHANNEL_MINI_PROGRAM &&
            a->channel != EVENT_CHANNEL_QR_CODE && a->channel != EVENT_CHANNEL_EMAIL)
            return fail(req, 403, "forbidden", "channel",
                        "channel: enterprises submit through web, mini_program, qr_code or email; "
                        "other channels are registered by intake agents");
    }
    if (!is_agent && a->emergency)
        return fail(req, 403, "forbidden", "emergency", "emergency: only intake agents flag emergencies");
    json_t *dec = json_object_get(body, "decision");
    if (dec && !json_is_null(dec)) {
        if (!is_agent)
            return fail(req, 403, "forbidden", "decision",
                        "decision: only intake agents decide at registration");
        const char *act = rv_str(dec, "action", "");
        if (!strcmp(act, "accept")) {
            a->decision = DECIDE_ACCEPT;
            a->complexity = (event_complexity_t)intake_enum(EVENT_CASE_ACCEPTED, "complexity",
                                                            rv_str(dec, "complexity", "general"));
            if (!rv_str(dec, "matter_type", NULL))
                return fail(req, 400, "missing_field", "decision.matter_type",
                            "decision.matter_type: is required to accept (the catalogue routes by it)");
        } else if (!strcmp(act, "reject")) {
            a->decision = DECIDE_REJECT;
            a->reason_code = (event_reject_reason_t)intake_enum(EVENT_CASE_REJECTED, "reason_code",
                                                                rv_str(dec, "reason_code", NULL));
            if (a->reason_code == 0)
                return fail(req, 400, "missing_field", "decision.reason_code",
                            "decision.reason_code: is required to refuse");
            if (!rv_str(dec, "reason_text", NULL))
                return fail(req, 400, "missing_field", "decision.reason_text",
                            "decision.reason_text: the enterprise must be told why; is required");
        } else {
            a->decision = DECIDE_ANSWER;
            if (a->kind != EVENT_KIND_CONSULTATION && a->kind != EVENT_KIND_HELP)
                return fail(req, 400, "not_allowed", "decision.action",
                            "decision.action: only consultations and help requests are answered at once");
            a->how_told = (event_how_told_t)intake_enum(EVENT_CASE_ANSWERED, "how_told",
                                                        rv_str(dec, "how_told", NULL));
            if (!rv_str(dec, "answer_summary", NULL) || a->how_told == 0)
                return fail(req, 400, "missing_field",
                            rv_str(dec, "answer_summary", NULL) ? "decision.how_told" : "decision.answer_summary",
                            "decision: answering at once needs answer_summary and how_told");
        }
        a->matter_type = dup_or_null(rv_str(dec, "matter_type", NULL));
        a->note = dup_or_null(rv_str(dec, "note", NULL));
        a->reason_text = dup_or_null(rv_str(dec, "reason_text", NULL));
        a->answer_summary = dup_or_null(rv_str(dec, "answer_summary", NULL));
    }

    snprintf(a->credit_code, sizeof a->credit_code, "%s", credit);
    snprintf(a->region_code, sizeof a->region_code, "%s", rv_str(body, "region_code", ""));
    a->enterprise_name = strdup(rv_str(body, "enterprise_name", ""));
    a->address = dup_or_null(rv_str(body, "address", NULL));
    a->contact_name = strdup(rv_str(body, "contact_name", ""));
    a->contact_phone = strdup(rv_str(body, "contact_phone", ""));
    a->summary = strdup(rv_str(body, "summary", ""));
    a->body = strdup(rv_str(body, "body", ""));
    json_t *att = json_object_get(body, "attachments");
    size_t na = json_array_size(att);
    if (na) {
        a->attachments.items = calloc(na, sizeof *a->attachments.items);
        if (a->attachments.items == NULL) goto oom;
        a->attachments.n = na;
        for (size_t i = 0; i < na; i++) {
            json_t *it = json_array_get(att, i);
            snprintf(a->attachments.items[i].file_name, sizeof a->attachments.items[i].file_name, "%s", rv_str(it, "file_name", ""));
            snprintf(a->attachments.items[i].media_type, sizeof a->attachments.items[i].media_type, "%s", rv_str(it, "media_type", ""));
            snprintf(a->attachments.items[i].sha256, sizeof a->attachments.items[i].sha256, "%s", rv_str(it, "sha256", ""));
            snprintf(a->attachments.items[i].storage_key, sizeof a->attachments.items[i].storage_key, "%s", rv_str(it, "storage_key", ""));
            a->attachments.items[i].size = (long long)json_integer_value(json_object_get(it, "size_bytes"));
        }
    }
    for (size_t i = 0; i < a->attachments.n; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(a->attachments.items[i].sha256, a->attachments.items[j].sha256)) {
                char field[48];
                snprintf(field, sizeof field, "attachments[%zu].sha256", i);
                appeal_clear(a);
                return fail(req, 400, "invalid_value", field, "attachments: the same file is attached twice");
            }
    if (!a->enterprise_name || !a->contact_name || !a->contact_phone || !a->summary || !a->body) goto oom;
    return 0;
oom:
    appeal_clear(a);
    return fail(req, 503, "overloaded", NULL, "out of memory");
}
