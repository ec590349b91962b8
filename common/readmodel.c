/*
 * readmodel.c — see readmodel.h. The fold of one case's events into its fact, the fact's
 * contribution to the measure cube, and the measures computed from a cell's counters. Pure
 * functions over plain structs: the consumer, the rebuild and the unit tests share them.
 */
#include "readmodel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deadline.h"

/* Enum spellings in the contract's order (value i + 1 is names[i]). */
static const char *const KIND_NAMES[] = {"consultation", "help", "complaint", "report", "suggestion"};
static const char *const CHANNEL_NAMES[] = {"web", "hotline", "window", "field_visit", "solicitation",
                                            "mini_program", "qr_code", "email", "upper_transfer"};
static const char *const FINDING_NAMES[] = {"true", "partly_true", "untrue"};
static const char *const GRADE_NAMES[] = {"very_satisfied", "satisfied", "basically_satisfied",
                                          "unsatisfied", "very_unsatisfied", "declined"};
static const char *const GRADE_LABELS[] = {"非常满意", "满意", "基本满意", "不满意", "非常不满意", "不评价"};

static const char *enum_name(const char *const *names, size_t n, int v)
{
    return v >= 1 && (size_t)v <= n ? names[v - 1] : "";
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static int64_t time_ms(const char *rfc3339)
{
    int64_t ms = 0;
    if (rfc3339 == NULL || rfc3339[0] == '\0' || event_time_to_ms(rfc3339, &ms) != 0) return 0;
    return ms;
}

void rm_case_init(rm_case_t *c, const char *case_id)
{
    memset(c, 0, sizeof *c);
    copy(c->case_id, sizeof c->case_id, case_id);
    c->handling_wd = -1;
}

int rm_region_tier(const char *code)
{
    size_t n = code ? strlen(code) : 0;
    for (size_t i = 0; i < n; i++)
        if (code[i] < '0' || code[i] > '9') return 0;
    if (n == 9 || n == 12) return 4;
    if (n != 6) return 0;
    if (!strcmp(code + 2, "0000")) return 1;
    if (!strcmp(code + 4, "00")) return 2;
    return 3;
}

bool rm_case_open_handling(const rm_case_t *c)
{
    return !strcmp(c->state, "received") || !strcmp(c->state, "accepted") ||
           !strcmp(c->state, "dispatched") || !strcmp(c->state, "in_progress");
}

static void case_key(const rm_case_t *c, rm_key_t *k)
{
    memset(k, 0, sizeof *k);
    k->day = c->received_day;
    copy(k->region_code, sizeof k->region_code, c->region_code);
    k->unit_id = c->unit_id;
    k->tier = c->tier;
    copy(k->kind, sizeof k->kind, c->kind);
}

/* One dispatch-level count for the unit now holding the case. */
static void emit(const rm_case_t *c, rm_sink_fn sink, void *ud, int what)
{
    if (sink == NULL || !c->known) return;
    rm_key_t k;
    case_key(c, &k);
    rm_counts_t d;
    memset(&d, 0, sizeof d);
    if (what == 0) d.dispatched = 1;
    else if (what == 1) d.resp_on_time = 1;
    else d.resp_late = 1;
    sink(ud, &k, &d);
}

int rm_case_apply(rm_case_t *c, const event_t *ev, rm_sink_fn sink, void *ud, char *err,
                  size_t errlen)
{
    if (ev->case_id[0] == '\0' || ev->type >= EVENT_TIMER_WARNED) return 0; /* not a case fold */
    if (c->case_id[0] == '\0') copy(c->case_id, sizeof c->case_id, ev->case_id);
    if (strcmp(c->case_id, ev->case_id) != 0) {
        snprintf(err, errlen, "event of case %s folded into case %s", ev->case_id, c->case_id);
        return -1;
    }
    int64_t at = time_ms(ev->occurred_at);
    c->events++;
    if (at > c->last_event_ms) c->last_event_ms = at;
    switch (ev->type) {
    case EVENT_CASE_RECEIVED: {
        const event_case_received_t *p = &ev->payload.case_received;
        c->known = true;
        copy(c->case_no, sizeof c->case_no, p->case_no);
        c->received_ms = time_ms(p->received_at);
        if (c->received_ms == 0) c->received_ms = at;
        c->received_day = deadline_local_day(c->received_ms);
        copy(c->region_code, sizeof c->region_code, p->region_code);
        copy(c->kind, sizeof c->kind, enum_name(KIND_NAMES, JS_ARRAY_LEN(KIND_NAMES), (int)p->kind));
        copy(c->channel, sizeof c->channel,
             enum_name(CHANNEL_NAMES, JS_ARRAY_LEN(CHANNEL_NAMES), (int)p->channel));
        copy(c->credit_code, sizeof c->credit_code, p->enterprise.credit_code);
        c->tier = rm_region_tier(p->region_code);
        copy(c->state, sizeof c->state, "received");
        break;
    }
    case EVENT_CASE_ACCEPTED:
        c->accepted = true;
        copy(c->matter_type, sizeof c->matter_type, ev->payload.case_accepted.matter_type);
        copy(c->state, sizeof c->state, "accepted");
        break;
    case EVENT_CASE_REJECTED:
        c->refused = true;
        c->closed_ms = at;
        copy(c->state, sizeof c->state, "rejected");
        break;
    case EVENT_CASE_DUPLICATE:
        c->duplicate = true;
        c->closed_ms = at;
        copy(c->state, sizeof c->state, "duplicate");
        break;
    case EVENT_CASE_DUPLICATE_UNLINKED:
        c->duplicate = false;
        c->closed_ms = 0;
        copy(c->state, sizeof c->state, "received");
        break;
    case EVENT_CASE_ANSWERED:
        c->accepted = true;
        c->results++;
        if (c->resolved_ms == 0) c->resolved_ms = at;
        c->sign_pending = false;
        copy(c->state, sizeof c->state, "resolved");
        break;
    case EVENT_CASE_DISPATCHED: {
        const event_case_dispatched_t *p = &ev->payload.case_dispatched;
        c->unit_id = p->lead_unit_id;
        if (p->tier != EVENT_TIER_UNSET) c->tier = (int)p->tier;
        c->dispatches++;
        c->sign_pending = true;
        c->sign_by_ms = time_ms(p->sign_by);
        c->due_ms = 0;
        copy(c->state, sizeof c->state, "dispatched");
        emit(c, sink, ud, 0);
        break;
    }
    case EVENT_CASE_SIGNED: {
        const event_case_signed_t *p = &ev->payload.case_signed;
        if (c->sign_pending) emit(c, sink, ud, p->within_deadline ? 1 : 2);
        c->sign_pending = false;
        if (p->unit_id) c->unit_id = p->unit_id;
        if (p->resolve_by[0]) c->due_ms = time_ms(p->resolve_by);
        copy(c->state, sizeof c->state, "in_progress");
        break;
    }
    case EVENT_CASE_RETURNED:
        if (c->sign_pending) emit(c, sink, ud, c->sign_by_ms == 0 || at <= c->sign_by_ms ? 1 : 2);
        c->sign_pending = false;
        c->returns++;
        c->unit_id = 0;
        c->due_ms = 0;
        copy(c->state, sizeof c->state, "accepted");
        break;
    case EVENT_CASE_ESCALATED:
        c->tier = (int)ev->payload.case_escalated.to_tier;
        c->unit_id = 0;
        c->sign_pending = false;
        c->due_ms = 0;
        copy(c->state, sizeof c->state, "accepted");
        break;
    case EVENT_CASE_HANDED_DOWN:
        c->tier = (int)ev->payload.case_handed_down.to_tier;
        c->unit_id = 0;
        c->sign_pending = false;
        c->due_ms = 0;
        copy(c->state, sizeof c->state, "accepted");
        break;
    case EVENT_CASE_REMIT_DECIDED:
        if (c->unit_id != ev->payload.case_remit_decided.lead_unit_id) c->sign_pending = false;
        c->unit_id = ev->payload.case_remit_decided.lead_unit_id;
        break;
    case EVENT_CASE_DEADLINE_AGREED:
        c->due_ms = time_ms(ev->payload.case_deadline_agreed.resolve_by);
        break;
    case EVENT_CASE_EXTENSION_DECIDED:
        if (ev->payload.case_extension_decided.decision == EVENT_EXTENSION_APPROVED)
            c->due_ms = time_ms(ev->payload.case_extension_decided.resolve_by);
        break;
    case EVENT_CASE_RESULT_SUBMITTED: {
        const event_case_result_submitted_t *p = &ev->payload.case_result_submitted;
        c->results++;
        if (!p->within_deadline) c->late_results++;
        copy(c->finding, sizeof c->finding,
             enum_name(FINDING_NAMES, JS_ARRAY_LEN(FINDING_NAMES), (int)p->finding));
        if (c->resolved_ms == 0) c->resolved_ms = at;
        if (p->unit_id) c->unit_id = p->unit_id;
        copy(c->state, sizeof c->state, "resolved");
        break;
    }
    case EVENT_CASE_REVISIT_RECORDED: {
        const event_case_revisit_recorded_t *p = &ev->payload.case_revisit_recorded;
        c->revisits++;
        if (p->reached && p->satisfaction != EVENT_SATISFACTION_UNSET) c->grade = (int)p->satisfaction;
        break;
    }
    case EVENT_CASE_CLOSED: {
        const event_case_closed_t *p = &ev->payload.case_closed;
        c->closed = true;
        c->solved = p->resolved;
        c->handling_wd = (int)p->handling_working_days;
        c->closed_ms = at;
        if (c->grade == 0 && p->satisfaction != EVENT_SATISFACTION_UNSET) c->grade = (int)p->satisfaction;
        copy(c->state, sizeof c->state, "closed");
        break;
    }
    case EVENT_CASE_REDO_ORDERED:
        c->redo++;
        c->due_ms = time_ms(ev->payload.case_redo_ordered.redo_by);
        if (ev->payload.case_redo_ordered.unit_id) c->unit_id = ev->payload.case_redo_ordered.unit_id;
        copy(c->state, sizeof c->state, "in_progress");
        break;
    case EVENT_CASE_TERMINATED:
        c->terminated = true;
        c->closed_ms = at;
        c->sign_pending = false;
        copy(c->state, sizeof c->state, "closed");
        break;
    case EVENT_CASE_ARCHIVED:
        c->archived = true;
        copy(c->state, sizeof c->state, "archived");
        break;
    default: /* contacts, progress, requests, parts, material: history only */
        break;
    }
    return 0;
}

bool rm_case_contrib(const rm_case_t *c, rm_key_t *key, rm_counts_t *n)
{
    memset(n, 0, sizeof *n);
    if (!c->known) return false;
    case_key(c, key);
    n->received = 1;
    n->accepted = c->accepted;
    n->refused = c->refused;
    n->duplicates = c->duplicate;
    if (rm_case_open_handling(c)) n->open_handling = 1;
    else if (c->results > 0) {
        if (c->late_results == 0) n->done_on_time = 1;
        else n->done_late = 1;
    }
    if (c->closed && !c->terminated) {
        n->closed = 1;
        n->solved = c->solved;
    }
    if (c->grade >= 1 && c->grade <= RM_GRADES) {
        n->rated = 1;
        n->grades[c->grade - 1] = 1;
    }
    n->redo = c->redo;
    if (c->closed && !c->terminated && c->handling_wd >= 0) {
        n->timed = 1;
        n->wd_sum = c->handling_wd;
        n->hist[c->handling_wd < RM_HIST - 1 ? c->handling_wd : RM_HIST - 1] = 1;
    }
    return true;
}

void rm_counts_add(rm_counts_t *a, const rm_counts_t *b, int sign)
{
    /* the struct is int64_t all the way through */
    int64_t *x = (int64_t *)a;
    const int64_t *y = (const int64_t *)b;
    for (size_t i = 0; i < sizeof *a / sizeof(int64_t); i++) x[i] += sign * y[i];
}

bool rm_counts_zero(const rm_counts_t *c)
{
    const int64_t *x = (const int64_t *)c;
    for (size_t i = 0; i < sizeof *c / sizeof(int64_t); i++)
        if (x[i]) return false;
    return true;
}

bool rm_key_equal(const rm_key_t *a, const rm_key_t *b)
{
    return a->day == b->day && a->unit_id == b->unit_id && a->tier == b->tier &&
           !strcmp(a->region_code, b->region_code) && !strcmp(a->kind, b->kind);
}

/* ---- measures -------------------------------------------------------------------------- */

static rm_rate_t rate(int64_t num, int64_t den)
{
    rm_rate_t r = {num, den, den > 0, den > 0 ? (double)num / (double)den : 0};
    return r;
}

int rm_hist_percentile(const int64_t *hist, size_t n, double p)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) total += hist[i];
    if (total <= 0) return -1;
    int64_t rank = (int64_t)ceil(p / 100.0 * (double)total - 1e-9);
    if (rank < 1) rank = 1;
    int64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        seen += hist[i];
        if (seen >= rank) return (int)i;
    }
    return (int)n - 1;
}

void rm_measures_compute(const rm_group_t *g, rm_measures_t *m)
{
    memset(m, 0, sizeof *m);
    const rm_counts_t *c = &g->c;
    m->response = rate(c->resp_on_time, c->resp_on_time + c->resp_late + g->resp_overdue);
    m->on_time = rate(c->done_on_time, c->done_on_time + c->done_late + g->overdue_open);
    m->resolution = rate(c->solved, c->closed);
    m->satisfaction = rate(c->grades[0] + c->grades[1] + c->grades[2], c->rated);
    if (c->timed > 0) {
        m->has_handling_time = true;
        m->avg_wd = (double)c->wd_sum / (double)c->timed;
        m->p90_wd = rm_hist_percentile(c->hist, RM_HIST, 90);
    }
    const rm_rate_t *rs[] = {&m->response, &m->on_time, &m->resolution, &m->satisfaction};
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < JS_ARRAY_LEN(rs); i++)
        if (rs[i]->present) {
            sum += rs[i]->value;
            n++;
        }
    if (n > 0) {
        m->has_score = true;
        m->score = 100.0 * sum / n;
    }
}

/* ---- names ------------------------------------------------------------------------------ */

const char *rm_grade_name(int grade)
{
    return grade >= 1 && grade <= 6 ? GRADE_NAMES[grade - 1] : NULL;
}

const char *rm_grade_label(int grade)
{
    return grade >= 1 && grade <= 6 ? GRADE_LABELS[grade - 1] : "";
}

typedef struct {
    const char *key, *label;
} label_t;

static const char *lookup(const label_t *t, size_t n, const char *key)
{
    for (size_t i = 0; key && i < n; i++)
        if (!strcmp(t[i].key, key)) return t[i].label;
    return key ? key : "";
}

const char *rm_state_label(const char *state)
{
    static const label_t t[] = {
        {"received", "已登记"},   {"accepted", "已受理"},      {"rejected", "不予受理"},
        {"duplicate", "重复件"},  {"dispatched", "已转办"},    {"in_progress", "办理中"},
        {"resolved", "已答复待回访"}, {"closed", "已办结"},    {"archived", "已归档"},
    };
    return lookup(t, JS_ARRAY_LEN(t), state);
}

const char *rm_kind_label(const char *kind)
{
    static const label_t t[] = {
        {"consultation", "咨询"}, {"help", "求助"}, {"complaint", "投诉"},
        {"report", "举报"},       {"suggestion", "意见建议"},
    };
    return lookup(t, JS_ARRAY_LEN(t), kind);
}

const char *rm_event_label(const char *type)
{
    static const label_t t[] = {
        {"case.received", "诉求登记"},          {"case.accepted", "受理"},
        {"case.rejected", "不予受理"},          {"case.duplicate", "认定为重复件"},
        {"case.answered", "即时答复"},          {"case.dispatched", "转办承办单位"},
        {"case.signed", "承办单位签收"},        {"case.returned", "承办单位退件"},
        {"case.escalated", "提级办理"},         {"case.handed_down", "下转办理"},
        {"case.remit_decided", "确定承办单位"}, {"case.contact_recorded", "承办单位联系企业"},
        {"case.progress_noted", "办理进展反馈"}, {"case.deadline_agreed", "商定办结时限"},
        {"case.extension_requested", "申请延期"}, {"case.extension_decided", "延期审批"},
        {"case.part_submitted", "协办单位反馈"}, {"case.material_added", "补充材料"},
        {"case.result_submitted", "提交办理结果"}, {"case.revisit_recorded", "回访"},
        {"case.closed", "办结"},                {"case.redo_ordered", "二次办理"},
        {"case.terminated", "终结办理"},        {"case.archived", "归档"},
        {"case.duplicate_unlinked", "撤销重复件认定"},
        {"supervision.issued", "督办"},         {"card.issued", "亮牌"},
    };
    return lookup(t, JS_ARRAY_LEN(t), type);
}
