/*
 * rules.c — see rules.h. The revisit's decisions, free of I/O, so the unit tests can hold
 * every branch to the seeds' wording.
 */
#include "rules.h"

#include "supnotice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- the satisfaction scale ---------------------------------------------------------- */

static const char *const contract_codes[] = {
    NULL, "very_satisfied", "satisfied", "basically_satisfied", "unsatisfied", "very_unsatisfied",
    "declined",
};

event_satisfaction_t rvs_level_code(const policy_t *p, int level)
{
    if (p == NULL || level < 0 || level >= p->scale_len) return EVENT_SATISFACTION_UNSET;
    int sat = p->satisfied_levels;
    if (level < sat) {
        int from_bottom = sat - 1 - level; /* 0 = the last satisfied label */
        return from_bottom == 0   ? EVENT_SATISFACTION_BASICALLY_SATISFIED
               : from_bottom == 1 ? EVENT_SATISFACTION_SATISFIED
                                  : EVENT_SATISFACTION_VERY_SATISFIED;
    }
    return level == sat ? EVENT_SATISFACTION_UNSATISFIED : EVENT_SATISFACTION_VERY_UNSATISFIED;
}

int rvs_rating_parse(const policy_t *p, const char *s, rvs_rating_t *out)
{
    memset(out, 0, sizeof *out);
    out->level = -1;
    if (p == NULL || s == NULL) return -1;
    if (strcmp(s, "declined") == 0) {
        out->declined = true;
        out->code = EVENT_SATISFACTION_DECLINED;
        out->label = "declined";
        return 0;
    }
    int level = policy_satisfaction_level(p, s);
    if (level < 0) {
        /* a contract code: accepted when exactly one level of this scale maps to it */
        int found = -1, count = 0;
        for (int i = 0; i < p->scale_len; i++) {
            event_satisfaction_t c = rvs_level_code(p, i);
            if (c != EVENT_SATISFACTION_UNSET && strcmp(contract_codes[c], s) == 0) {
                found = i;
                count++;
            }
        }
        if (count != 1) return -1;
        level = found;
    }
    out->level = level;
    out->code = rvs_level_code(p, level);
    out->satisfies = policy_level_satisfies(p, level);
    out->label = p->scale[level];
    return 0;
}

void rvs_scale_describe(const policy_t *p, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; p && i < p->scale_len && o < len; i++) {
        int w = snprintf(buf + o, len - o, "%s%s (%s)", i ? ", " : "", p->scale[i],
                         contract_codes[rvs_level_code(p, i)]);
        if (w < 0) return;
        o += (size_t)w;
    }
    if (o < len) snprintf(buf + o, len - o, "%sor declined", o ? ", " : "");
}

/* ---- contacts ---------------------------------------------------------------------- */

rvs_contact_check_t rvs_contact_check(const rvs_contact_facts_t *f)
{
    rvs_contact_check_t c = {false, false};
    /* A dispute names a claim, and a flat "nobody contacted us" disowns every claim. */
    c.fraud = f->n_disputed > 0 || (f->n_claimed > 0 && !f->confirmed);
    c.verified = f->n_claimed > 0 && f->confirmed && f->n_disputed == 0;
    return c;
}

/* ---- decisions --------------------------------------------------------------------- */

const char *rvs_outcome_str(rvs_outcome_t o)
{
    static const char *const n[] = {"retry", "closed", "redo", "escalated", "recorded", "verify"};
    return (unsigned)o < JS_ARRAY_LEN(n) ? n[o] : "unknown";
}

rvs_decision_t rvs_decide(const rvs_call_facts_t *f)
{
    rvs_decision_t d;
    memset(&d, 0, sizeof d);
    if (!f->reached) {
        if (f->prior_attempts + 1 < f->unreachable_after) {
            d.outcome = RVS_OUT_RETRY;
        } else if (f->kind == RVS_TASK_LOOKBACK) {
            d.outcome = RVS_OUT_RECORDED; /* a closed case stays closed */
        } else {
            /* closes per the profile (seed 002: 按照联系方式多次联系不上); the result was
             * never confirmed, so it does not count as solved */
            d.outcome = RVS_OUT_CLOSE;
            d.close_basis = EVENT_CLOSE_REVISIT_UNREACHABLE;
            d.resolved = false;
        }
        return d;
    }
    if (f->self_rating && f->contact.fraud) {
        /* an unauthenticated form alone never brings a level-3 notice: a supervisor calls */
        d.outcome = RVS_OUT_VERIFY;
        return d;
    }
    d.fraud_notice = f->contact.fraud;
    bool untrue = !f->result_true;
    bool bad = untrue || (!f->rating.declined && !f->rating.satisfies);
    if (f->kind == RVS_TASK_LOOKBACK) {
        d.outcome = RVS_OUT_RECORDED;
        d.bulletin = bad;
        d.bulletin_reason = !bad ? NULL : untrue ? "lookback_untrue" : "lookback_unsatisfied";
        return d;
    }
    if (!bad) {
        d.outcome = RVS_OUT_CLOSE;
        d.close_basis = f->rating.declined ? EVENT_CLOSE_RATING_DECLINED : EVENT_CLOSE_REVISIT_SATISFIED;
        d.resolved = true;
        return d;
    }
    d.redo_reason = untrue ? EVENT_REDO_RESULT_UNTRUE : EVENT_REDO_UNSATISFIED;
    d.bulletin = true; /* seed 000: 退回责任单位重新办理，并予以通报 */
    if (f->handling_round <= 1) {
        d.outcome = RVS_OUT_REDO;
        d.bulletin_reason = untrue ? "result_untrue" : "unsatisfied";
    } else {
        /* seed 001: 仍不满意的，转为疑难复杂工单提级办理; the contract's rounds end at 10 */
        d.outcome = f->handling_round < 10 ? RVS_OUT_ESCALATE : RVS_OUT_RECORDED;
        d.bulletin_reason = "unsatisfied_again";
    }
    return d;
}

/* ---- discipline --------------------------------------------------------------------- */

static const char *const fault_names[RVS_FAULT_COUNT] = {NULL, "buck_passing", "perfunctory", "delay"};

const char *rvs_fault_str(rvs_fault_t f)
{
    return (unsigned)f < RVS_FAULT_COUNT ? fault_names[f] : NULL;
}

int rvs_fault_from_str(const char *s, rvs_fault_t *out)
{
    for (int i = 1; s && i < RVS_FAULT_COUNT; i++)
        if (strcmp(s, fault_names[i]) == 0) {
            *out = (rvs_fault_t)i;
            return 0;
        }
    return -1;
}

bool rvs_referral_due(const policy_t *p, const rvs_decision_t *d, bool fraud, rvs_fault_t fault,
                     const char **basis)
{
    *basis = NULL;
    if (!p->sup_discipline_referral && p->after_second_unsatisfied != POLICY_AFTER_DISCIPLINE_REFERRAL)
        return false;
    if (fraud) {
        *basis = "contact_fraud";
        return true;
    }
    bool again = d->bulletin_reason != NULL && strcmp(d->bulletin_reason, "unsatisfied_again") == 0;
    if (again && fault != RVS_FAULT_NONE && (unsigned)fault < RVS_FAULT_COUNT) {
        *basis = fault_names[fault];
        return true;
    }
    return false;
}

int rvs_fraud_notice_level(const policy_t *p)
{
    return supnotice_fraud_level(p);
}

int rvs_escalation_tier(int tier)
{
    if (tier < 1 || tier > 4) return 1;
    return tier > 1 ? tier - 1 : 1;
}

const char *rvs_tier_str(int tier)
{
    static const char *const n[] = {NULL, "province", "city", "county", "township"};
    return tier >= 1 && tier <= 4 ? n[tier] : NULL;
}

/* ---- meetings ---------------------------------------------------------------------------- */

rvs_meeting_t rvs_meeting_decide(const rvs_meeting_facts_t *f)
{
    rvs_meeting_t m = {0, RVS_EXCL_NONE};
    if (f->unsatisfied || f->escalated_unsatisfied) m.criteria |= RVS_MEET_UNSOLVED;
    if (f->open && f->active_units >= 2 && (f->overdue || f->redo_count > 0)) m.criteria |= RVS_MEET_MULTI_UNIT;
    if (f->nominated_typical && f->suggestion) m.criteria |= RVS_MEET_TYPICAL;
    if (f->nominated_leader) m.criteria |= RVS_MEET_LEADER;

    /* 四(二). The enterprise's own wish not to go always holds. A case somebody marked — a
     * typical suggestion, a leader's instruction — goes otherwise: the marks are decisions to
     * study it at the meeting, not signs that a unit is stuck. What the data proposes (1, 2)
     * is kept off the list by the other exclusions. */
    unsigned marked = m.criteria & (RVS_MEET_TYPICAL | RVS_MEET_LEADER);
    if (m.criteria == 0)
        m.exclusion = RVS_EXCL_NO_CRITERION;
    else if (f->enterprise_declined)
        m.exclusion = RVS_EXCL_ENTERPRISE_DECLINED;
    else if (marked)
        m.exclusion = RVS_EXCL_NONE;
    else if (f->suggestion)
        m.exclusion = RVS_EXCL_GENERAL_SUGGESTION;
    else if (f->closed_satisfied)
        m.exclusion = RVS_EXCL_CLOSED_SATISFIED;
    else if (f->open && !f->overdue && !f->unsatisfied && !f->escalated_unsatisfied && f->redo_count == 0)
        m.exclusion = RVS_EXCL_PROGRESSING;
    return m;
}

const char *rvs_meeting_criterion_str(unsigned bit)
{
    switch (bit) {
    case RVS_MEET_UNSOLVED: return "unsolved_or_unsatisfied";
    case RVS_MEET_MULTI_UNIT: return "multi_unit";
    case RVS_MEET_TYPICAL: return "typical_suggestion";
    case RVS_MEET_LEADER: return "leader_instruction";
    default: return NULL;
    }
}

const char *rvs_meeting_exclusion_str(rvs_meeting_exclusion_t e)
{
    static const char *const n[] = {NULL, "general_suggestion", "closed_satisfied", "progressing_normally",
                                    "enterprise_declined", "no_criterion"};
    return (unsigned)e < JS_ARRAY_LEN(n) ? n[e] : NULL;
}

/* ---- sampling ------------------------------------------------------------------------- */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int l = 0;
    static const char hx[] = "0123456789abcdef";
    if (EVP_Digest(data, len, md, &l, EVP_sha256(), NULL) != 1) memset(md, 0, sizeof md);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[64] = '\0';
}

size_t rvs_sample_size(size_t n, int percent)
{
    if (n == 0 || percent <= 0) return 0;
    if (percent >= 100) return n;
    return (n * (size_t)percent + 99) / 100;
}

void rvs_sample_key(const char *seed, const char *case_id, char out[65])
{
    char buf[256];
    int w = snprintf(buf, sizeof buf, "%s:%s", seed, case_id);
    sha256_hex(buf, w > 0 && (size_t)w < sizeof buf ? (size_t)w : 0, out);
}

typedef struct {
    char key[65];
    const char *id;
    size_t idx;
} ranked_t;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->id, y->id);
}

int rvs_sample_choose(const char *seed, const char *const *ids, size_t n, int percent, bool *chosen)
{
    size_t k = rvs_sample_size(n, percent);
    for (size_t i = 0; i < n; i++) chosen[i] = false;
    if (k == 0) return 0;
    ranked_t *r = calloc(n, sizeof *r);
    if (r == NULL) return -1;
    for (size_t i = 0; i < n; i++) {
        rvs_sample_key(seed, ids[i], r[i].key);
        r[i].id = ids[i];
        r[i].idx = i;
    }
    if (n > 1) qsort(r, n, sizeof *r, ranked_cmp);
    for (size_t i = 0; i < k; i++) chosen[r[i].idx] = true;
    free(r);
    return (int)k;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int rvs_population_digest(const char *const *ids, size_t n, char out[65])
{
    const char **sorted = n ? malloc(n * sizeof *sorted) : NULL;
    if (n && sorted == NULL) return -1;
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        sorted[i] = ids[i];
        total += strlen(ids[i]) + 1;
    }
    if (n) qsort(sorted, n, sizeof *sorted, str_cmp);
    char *buf = malloc(total);
    if (buf == NULL) {
        free(sorted);
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) buf[o++] = '\n';
        size_t l = strlen(sorted[i]);
        memcpy(buf + o, sorted[i], l);
        o += l;
    }
    sha256_hex(buf, o, out);
    free(buf);
    free(sorted);
    return 0;
}

/* ---- printing --------------------------------------------------------------------------- */

char *rvs_html_escape(const char *s)
{
    if (s == NULL) s = "";
    size_t n = 1;
    for (const char *q = s; *q; q++) n += (*q == '&') ? 5 : (*q == '<' || *q == '>') ? 4 : (*q == '"' || *q == '\'') ? 6 : 1;
    char *out = malloc(n), *o = out;
    if (out == NULL) return NULL;
    for (const char *q = s; *q; q++) {
        const char *rep = *q == '&' ? "&amp;" : *q == '<' ? "&lt;" : *q == '>' ? "&gt;" : *q == '"' ? "&quot;"
                                                                 : *q == '\'' ? "&#39;" : NULL;
        if (rep) {
            size_t l = strlen(rep);
            memcpy(o, rep, l);
            o += l;
        } else {
            *o++ = *q;
        }
    }
    *o = '\0';
    return out;
}
