/*
 * textsim.c — bigram signatures of appeal texts and their overlap.
 *
 * One pass over the bytes turns the text into tokens — one per CJK character, one per
 * ASCII word or number — and every two neighbouring tokens of a run into a 32-bit hash;
 * punctuation, spaces, symbols and invalid UTF-8 end a run. Function characters (的, 了,
 * 我, 们 …) are skipped without ending the run, so "厂房的租金" and "厂房租金" share 房租.
 * Bigrams on the boilerplate list are dropped. The hashes are sorted (radix sort: a
 * 5,000-character text gives ~5,000 hashes and must take well under a millisecond) and
 * made unique; similarity is a merge of two sorted arrays.
 *
 * Why bigrams: Chinese words are mostly two characters, so bigrams approximate words
 * without a dictionary, survive reordering of clauses, and a rephrasing keeps most of the
 * specific nouns (租金, 减免, 增容, 工程款) that tell one matter from another. Why a set
 * and the overlap over the smaller set: see docs/TEXTSIM.md.
 */
#include "textsim.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct textsim_sig {
    size_t n;
    uint32_t h[]; /* ascending, unique */
};

/* Below this many bigrams a text is too short for bigrams alone (a four-character
 * appeal), so its single characters count too. */
enum { TEXTSIM_SHORT_BIGRAMS = 4 };
/* Denominator floor of textsim_similarity(); see the header. */
enum { TEXTSIM_MIN_EVIDENCE = 8 };

static const char textsim_prefix[] = "ts1:";

/* Characters that carry grammar, not matter: skipped inside a run. Kept short on purpose —
 * each one removed also removes the bigrams it forms with content characters. */
static const uint32_t textsim_stop_chars[] = {
    0x4E14, /* 且 */ 0x4E4B, /* 之 */ 0x4E5F, /* 也 */ 0x4E86, /* 了 */
    0x4ED6, /* 他 */ 0x4F46, /* 但 */ 0x4F60, /* 你 */ 0x4EEC, /* 们 */
    0x5427, /* 吧 */ 0x5440, /* 呀 */ 0x5417, /* 吗 */ 0x5462, /* 呢 */
    0x554A, /* 啊 */ 0x548C, /* 和 */ 0x54E6, /* 哦 */ 0x5728, /* 在 */
    0x5979, /* 她 */ 0x5B83, /* 它 */ 0x5C31, /* 就 */ 0x5E76, /* 并 */
    0x6211, /* 我 */ 0x6216, /* 或 */ 0x662F, /* 是 */
    0x60A8, /* 您 */ 0x6B64, /* 此 */ 0x7684, /* 的 */ 0x7740, /* 着 */
    0x800C, /* 而 */ 0x8BF7, /* 请 */ 0x88AB, /* 被 */ 0x8FD8, /* 还 */
    0x8FD9, /* 这 */ 0x8FC7, /* 过 */ 0x90A3, /* 那 */ 0x90FD, /* 都 */
    0x53C8, /* 又 */ 0x53CA, /* 及 */ 0x4E0E, /* 与 */ 0x628A, /* 把 */
    0x5F88, /* 很 */ 0x592A, /* 太 */ 0x561B, /* 嘛 */ 0x4E48, /* 么 */
};

/* Bigrams every appeal uses whatever its matter: greetings, requests, follow-up phrases,
 * company-form words. Each entry is exactly two characters (stop characters excluded,
 * since they never reach a bigram). */
static const char *const textsim_stop_bigrams[] = {
    /* greeting, thanks, addressing the government */
    "你好", "您好", "领导", "导好", "谢谢", "感谢", "麻烦", "辛苦", "同志", "政府",
    "有关", "相关", "关部", "部门", "上级", "单位", "主管",
    /* what an appeal says it does */
    "反映", "反应", "映一", "一下", "咨询", "询一", "问一", "投诉", "举报", "建议",
    "诉求", "求助", "情况", "问题", "事情", "事项", "这个", "一个", "个事",
    /* what it asks for */
    "希望", "恳请", "请求", "要求", "帮助", "帮忙", "忙协", "协调", "督促", "促一",
    "催一", "再催", "尽快", "尽早", "赶紧", "抓紧", "早日", "及时", "解决", "处理",
    "落实", "办理", "予以", "给予", "支持", "关注", "重视", "调查", "核实", "回复",
    "答复", "说法", "一下", "再帮", "帮我", "帮一", "再协", "再督", "能否", "是否",
    "能不", "不能", "可以", "能够",
    /* follow-ups */
    "上次", "次反", "次咨", "之前", "前反", "前咨", "上周", "周反", "此前", "再次",
    "多次", "至今", "到现", "现在", "目前", "仍然", "仍未", "依然", "始终", "一直",
    "直没", "没有", "有解", "迟迟", "已经", "经过", "还没", "没人", "没给", "一分",
    "回音", "下文", "音讯", "消息", "进展", "结果",
    /* the enterprise speaking about itself */
    "企业", "公司", "本公", "有限", "限公", "责任", "任公", "集团", "我司", "本司",
    "负责", "责人", "法人", "联系", "系电", "电话", "系人", "手机", "地址", "位于",
    "司位", "经营", "生产", "影响", "损失", "造成", "困难", "压力", "非常", "特别",
    "严重", "很大", "着急",
    /* connectives and fillers */
    "根据", "按照", "依据", "关于", "对于", "由于", "因为", "所以", "如果", "但是",
    "可是", "然后", "而且", "以及", "或者", "进行", "开展", "需要", "应该", "什么",
    "怎么", "为什", "如何", "哪里", "多少", "时间", "方面", "工作", "人员", "具体",
    "万元", "有关", "时候", "今年", "去年", "本月", "上月", "个月",
};

static uint32_t textsim_stop_hash[JS_ARRAY_LEN(textsim_stop_bigrams)];
static size_t textsim_stop_count;
static pthread_once_t textsim_once = PTHREAD_ONCE_INIT;

/* --- hashing ------------------------------------------------------------------------ */

/* A token: a CJK code point below 2^21, or an ASCII word's hash with bit 40 set, so the
 * two kinds never meet. */
typedef uint64_t textsim_token_t;
#define TEXTSIM_WORD_TAG ((uint64_t)1 << 40)

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t textsim_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return x;
}

static uint32_t textsim_bigram_hash(textsim_token_t a, textsim_token_t b)
{
    return (uint32_t)(textsim_mix(textsim_mix(a) + b) >> 32);
}

static uint32_t textsim_unigram_hash(textsim_token_t a)
{
    return (uint32_t)(textsim_mix(a ^ UINT64_C(0x5EED5EED5EED5EED)) >> 32);
}

/* --- decoding ------------------------------------------------------------------------ */

/* Decodes one UTF-8 sequence from p[0..n). Returns its length (>= 1) and the code point,
 * or UINT32_MAX as the code point for an invalid byte, which then counts as one
 * separator byte. */
static size_t textsim_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t min, v;
    if ((c & 0xE0) == 0xC0)
        len = 2, min = 0x80, v = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, min = 0x800, v = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, min = 0x10000, v = c & 0x07;
    else
        goto invalid;
    if (len > n)
        goto invalid;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            goto invalid;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        goto invalid;
    *cp = v;
    return len;
invalid:
    *cp = UINT32_MAX;
    return 1;
}

/* Ideographs and the syllabic scripts written like them: each character is a token. */
static bool textsim_is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F) ||
           cp == 0x3007 /* 〇 */ || (cp >= 0x3041 && cp <= 0x30FF) /* kana */ ||
           (cp >= 0xAC00 && cp <= 0xD7A3) /* hangul */;
}

static bool textsim_is_alnum(uint32_t cp)
{
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
}

static int textsim_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static bool textsim_is_stop_char(uint32_t cp)
{
    /* The table is small and unsorted for readability; a linear scan of ~45 entries is
     * cheaper than it looks next to the hashing, and only runs for CJK characters. */
    for (size_t i = 0; i < JS_ARRAY_LEN(textsim_stop_chars); i++)
        if (textsim_stop_chars[i] == cp)
            return true;
    return false;
}

/* --- sorting ------------------------------------------------------------------------- */

/* Sorts v[0..n) ascending with `tmp` (n entries) as scratch: LSD radix sort, 4 passes of
 * 8 bits, or insertion sort for a handful. */
static void textsim_sort(uint32_t *v, uint32_t *tmp, size_t n)
{
    if (n < 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            size_t j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    uint32_t *src = v, *dst = tmp;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((src[i] >> shift) & 0xFF) + 1]++;
        for (size_t b = 1; b < 257; b++)
            count[b] += count[b - 1];
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    /* Four passes: the result is back in v. */
}

static size_t textsim_unique(uint32_t *v, size_t n)
{
    if (n == 0)
        return 0;
    size_t w = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[w - 1])
            v[w++] = v[i];
    return w;
}

static bool textsim_contains(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else if (v[mid] > x)
            hi = mid;
        else
            return true;
    }
    return false;
}

/* --- shingling ----------------------------------------------------------------------- */

struct textsim_buf {
    uint32_t *bi;  /* bigram hashes */
    size_t nbi;
    uint32_t *uni; /* unigram hashes, used only for very short texts */
    size_t nuni;
};

/* Emits the bigrams (and unigrams) of `len` bytes into `out`, whose arrays each have
 * room for `len` entries: a text of len bytes has at most len tokens. When `use_stop` is
 * false the boilerplate list is ignored (used to build that list itself). */
static void textsim_shingle(const unsigned char *p, size_t len, struct textsim_buf *out,
                            bool use_stop)
{
    textsim_token_t prev = 0;
    bool have_prev = false;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t step = textsim_utf8_next(p + i, len - i, &cp);
        /* Full-width ASCII (Ａ１，) folds to half-width; the ideographic space is a space. */
        if (cp >= 0xFF01 && cp <= 0xFF5E)
            cp -= 0xFF01 - 0x21;
        if (textsim_is_alnum(cp)) {
            /* An ASCII word or number is one token: FNV-1a over its folded bytes. A '.'
             * between digits stays inside, so 9.6 and 1.2 are numbers, not two tokens. */
            uint64_t h = UINT64_C(0xCBF29CE484222325);
            for (;;) {
                uint32_t folded = cp >= 'A' && cp <= 'Z' ? cp + 0x20 : cp;
                bool digit = cp >= '0' && cp <= '9';
                h = (h ^ folded) * UINT64_C(0x100000001B3);
                i += step;
                if (i >= len)
                    break;
                step = textsim_utf8_next(p + i, len - i, &cp);
                if (cp >= 0xFF01 && cp <= 0xFF5E)
                    cp -= 0xFF01 - 0x21;
                if (textsim_is_alnum(cp))
                    continue;
                if (cp == '.' && digit && i + 1 < len && p[i + 1] >= '0' && p[i + 1] <= '9')
                    continue;
                break; /* p + i is not consumed: the outer loop reads it again */
            }
            textsim_token_t t = TEXTSIM_WORD_TAG | (h & 0xFFFFFFFFFFu);
            if (have_prev)
                out->bi[out->nbi++] = textsim_bigram_hash(prev, t);
            out->uni[out->nuni++] = textsim_unigram_hash(t);
            prev = t;
            have_prev = true;
            continue; /* i already points past the word */
        }
        i += step;
        if (textsim_is_cjk(cp)) {
            if (textsim_is_stop_char(cp))
                continue;
            textsim_token_t t = cp;
            if (have_prev) {
                uint32_t h = textsim_bigram_hash(prev, t);
                if (!use_stop || !textsim_contains(textsim_stop_hash, textsim_stop_count, h))
                    out->bi[out->nbi++] = h;
            }
            out->uni[out->nuni++] = textsim_unigram_hash(t);
            prev = t;
            have_prev = true;
            continue;
        }
        have_prev = false; /* anything else ends the run */
    }
}

static void textsim_init(void)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(textsim_stop_bigrams); i++) {
        const char *s = textsim_stop_bigrams[i];
        size_t len = strlen(s);
        uint32_t bi[16], uni[16];
        struct textsim_buf b = {bi, 0, uni, 0};
        if (len > 16)
            continue;
        textsim_shingle((const unsigned char *)s, len, &b, false);
        if (b.nbi == 1) /* exactly two characters, as the table promises */
            textsim_stop_hash[textsim_stop_count++] = b.bi[0];
    }
    qsort(textsim_stop_hash, textsim_stop_count, sizeof textsim_stop_hash[0], textsim_cmp_u32);
    textsim_stop_count = textsim_unique(textsim_stop_hash, textsim_stop_count);
}

/* Sorted unique shingles of a text in a new array (*out, *n). Returns 0 or -1 (memory). */
static int textsim_shingles(const char *utf8, size_t len, uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (len > SIZE_MAX / (4 * sizeof(uint32_t)) - TEXTSIM_SHORT_BIGRAMS)
        return -1;
    /* A text of len bytes has at most len tokens, so at most len bigrams and len
     * unigrams; the short-text merge adds fewer than TEXTSIM_SHORT_BIGRAMS more. */
    size_t cap = len + TEXTSIM_SHORT_BIGRAMS;
    uint32_t *mem = malloc(3 * cap * sizeof *mem);
    if (mem == NULL)
        return -1;
    struct textsim_buf b = {mem, 0, mem + cap, 0};
    if (len > 0)
        textsim_shingle((const unsigned char *)utf8, len, &b, true);
    uint32_t *tmp = mem + 2 * cap;
    textsim_sort(b.bi, tmp, b.nbi);
    size_t nbi = textsim_unique(b.bi, b.nbi);
    if (nbi < TEXTSIM_SHORT_BIGRAMS && b.nuni > 0) {
        /* Very short: add the characters themselves (unigram hashes live in a different
         * hash domain, so they only ever meet other unigrams). */
        memmove(b.bi + nbi, b.uni, b.nuni * sizeof *b.uni);
        nbi += b.nuni;
        textsim_sort(b.bi, tmp, nbi);
        nbi = textsim_unique(b.bi, nbi);
    }
    *out = mem;
    *n = nbi;
    return 0;
}

static textsim_sig_t *textsim_sig_alloc(size_t n)
{
    textsim_sig_t *sig = malloc(sizeof *sig + n * sizeof sig->h[0]);
    if (sig != NULL)
        sig->n = n;
    return sig;
}

textsim_sig_t *textsim_sig_new_excluding(const char *utf8, size_t len, const char *exclude,
                                         size_t exclude_len)
{
    if ((utf8 == NULL && len > 0) || (exclude == NULL && exclude_len > 0))
        return NULL;
    pthread_once(&textsim_once, textsim_init);
    textsim_sig_t *sig = NULL;
    uint32_t *ex = NULL, *v = NULL;
    size_t nex = 0, n = 0;
    if (textsim_shingles(utf8, len, &v, &n) != 0)
        goto fail;
    if (exclude_len > 0) {
        if (textsim_shingles(exclude, exclude_len, &ex, &nex) != 0)
            goto fail;
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
            if (!textsim_contains(ex, nex, v[i]))
                v[w++] = v[i];
        n = w;
    }
    sig = textsim_sig_alloc(n);
    if (sig == NULL)
        goto fail;
    if (n > 0)
        memcpy(sig->h, v, n * sizeof v[0]);
fail:
    free(ex);
    free(v);
    return sig;
}

textsim_sig_t *textsim_sig_new(const char *utf8, size_t len)
{
    return textsim_sig_new_excluding(utf8, len, NULL, 0);
}

void textsim_sig_free(textsim_sig_t *sig)
{
    free(sig);
}

size_t textsim_sig_size(const textsim_sig_t *sig)
{
    return sig != NULL ? sig->n : 0;
}

double textsim_similarity(const textsim_sig_t *a, const textsim_sig_t *b)
{
    if (a == NULL || b == NULL || a->n == 0 || b->n == 0)
        return 0.0;
    size_t i = 0, j = 0, common = 0;
    while (i < a->n && j < b->n) {
        if (a->h[i] < b->h[j]) {
            i++;
        } else if (a->h[i] > b->h[j]) {
            j++;
        } else {
            common++;
            i++;
            j++;
        }
    }
    size_t small = a->n < b->n ? a->n : b->n;
    if (small < TEXTSIM_MIN_EVIDENCE)
        small = TEXTSIM_MIN_EVIDENCE;
    return (double)common / (double)small;
}

int textsim_sig_encode(const textsim_sig_t *sig, char **hex)
{
    static const char digits[] = "0123456789abcdef";
    if (hex == NULL)
        return -1;
    *hex = NULL;
    if (sig == NULL)
        return -1;
    size_t plen = sizeof textsim_prefix - 1;
    char *s = malloc(plen + sig->n * 8 + 1);
    if (s == NULL)
        return -1;
    memcpy(s, textsim_prefix, plen);
    char *w = s + plen;
    for (size_t i = 0; i < sig->n; i++)
        for (int shift = 28; shift >= 0; shift -= 4)
            *w++ = digits[(sig->h[i] >> shift) & 0xF];
    *w = '\0';
    *hex = s;
    return 0;
}

static int textsim_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int textsim_sig_decode(const char *hex, textsim_sig_t **sig)
{
    if (sig == NULL)
        return -1;
    *sig = NULL;
    size_t plen = sizeof textsim_prefix - 1;
    if (hex == NULL || strncmp(hex, textsim_prefix, plen) != 0)
        return -1;
    const char *p = hex + plen;
    size_t len = strlen(p);
    if (len % 8 != 0)
        return -1;
    textsim_sig_t *s = textsim_sig_alloc(len / 8);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t v = 0;
        for (int k = 0; k < 8; k++) {
            int d = textsim_hex_value(p[i * 8 + (size_t)k]);
            if (d < 0)
                goto fail;
            v = (v << 4) | (uint32_t)d;
        }
        /* Similarity relies on strictly ascending hashes; refuse anything else rather
         * than compute a wrong number from a damaged column. */
        if (i > 0 && v <= s->h[i - 1])
            goto fail;
        s->h[i] = v;
    }
    *sig = s;
    return 0;
fail:
    free(s);
    return -1;
}
