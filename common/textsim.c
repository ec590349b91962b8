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

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct textsim_sig {
    size_t n;
    uint32_t h[]; /* ascending, unique */
};

/* With fewer neighbouring tokens than this a text is too short for bigrams alone (a
 * four-character appeal), so its single characters count too. */
enum { TEXTSIM_SHORT_BIGRAMS = 4 };
/* Denominator floor of textsim_similarity(); see the header. */
enum { TEXTSIM_MIN_EVIDENCE = 8 };

static const char textsim_prefix[] = "ts1:";

/* Characters that carry grammar, not matter: skipped inside a run, so the characters on
 * either side become neighbours ("厂房的租金" -> 厂房 房租 租金). Kept short on purpose:
 * every character here is also lost where it is part of a content word. */
static const uint32_t textsim_stop_chars[] = {
    0x7684, /* 的 */ 0x4E86, /* 了 */ 0x7740, /* 着 */ 0x8FC7, /* 过 */
    0x5417, /* 吗 */ 0x5462, /* 呢 */ 0x5427, /* 吧 */ 0x554A, /* 啊 */
    0x5440, /* 呀 */ 0x54E6, /* 哦 */ 0x561B, /* 嘛 */ 0x4E48, /* 么 */
    0x6211, /* 我 */ 0x4F60, /* 你 */ 0x60A8, /* 您 */ 0x4ED6, /* 他 */
    0x5979, /* 她 */ 0x5B83, /* 它 */ 0x4EEC, /* 们 */ 0x8FD9, /* 这 */
    0x90A3, /* 那 */ 0x6B64, /* 此 */ 0x4E4B, /* 之 */ 0x662F, /* 是 */
    0x5728, /* 在 */ 0x548C, /* 和 */ 0x4E0E, /* 与 */ 0x53CA, /* 及 */
    0x6216, /* 或 */ 0x5E76, /* 并 */ 0x800C, /* 而 */ 0x4E14, /* 且 */
    0x4F46, /* 但 */ 0x4E5F, /* 也 */ 0x90FD, /* 都 */ 0x5C31, /* 就 */
    0x53C8, /* 又 */ 0x8FD8, /* 还 */ 0x628A, /* 把 */ 0x88AB, /* 被 */
    0x8BF7, /* 请 */ 0x5F88, /* 很 */ 0x592A, /* 太 */
};

/* Bigrams every appeal uses whatever its matter: greetings, requests, follow-up phrases,
 * the enterprise's description of itself, connectives, vague quantities and dates. Each
 * entry is exactly two characters and holds no stop character (which would never reach a
 * bigram); textsim_init() asserts both, and the tests run that debug build. Words are split where a stop character
 * would cut them: 为什(么), 到现(在). */
static const char *const textsim_stop_bigrams[] = {
    /* greetings, thanks, addressing the government */
    "领导", "谢谢", "感谢", "麻烦", "辛苦", "同志", "政府", "有关", "相关", "关部",
    "部门", "上级", "单位", "主管",
    /* what an appeal says it is */
    "反映", "反应", "一下", "咨询", "投诉", "举报", "建议", "诉求", "求助", "情况",
    "问题", "事情", "事项", "一个",
    /* what it asks for */
    "希望", "要求", "帮助", "帮忙", "协调", "督促", "尽快", "尽早", "赶紧", "抓紧",
    "早日", "解决", "处理", "落实", "办理", "予以", "给予", "支持", "关注", "重视",
    "调查", "核实", "回复", "答复", "说法", "能否", "能不", "不能", "可以", "能够",
    /* follow-ups */
    "上次", "上周", "再次", "多次", "至今", "到现", "目前", "仍然", "仍未", "依然",
    "始终", "一直", "没有", "迟迟", "已经", "没人", "回音", "下文", "音讯", "消息",
    "进展", "结果",
    /* the enterprise about itself */
    "企业", "公司", "本公", "有限", "限公", "责任", "任公", "集团", "本司", "负责",
    "责人", "法人", "联系", "电话", "系人", "手机", "地址", "位于", "经营", "生产",
    "影响", "损失", "造成", "困难", "压力", "非常", "特别", "严重",
    /* connectives, fillers, vague quantities and dates */
    "根据", "按照", "依据", "关于", "对于", "由于", "因为", "所以", "如果", "然后",
    "进行", "开展", "需要", "应该", "为什", "如何", "哪里", "多少", "时间", "方面",
    "工作", "人员", "具体", "万元", "时候", "今年", "去年", "本月", "上月", "个月",
    "月份", "年底", "年初", "个多", "多个", "不到", "不出", "下来", "出来", "起来",
    "提交", "材料",
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

/* One bit per character of the main CJK block, set for the stop characters; filled once
 * by textsim_init(). All stop characters are in that block. */
#define TEXTSIM_CJK_FIRST 0x4E00u
#define TEXTSIM_CJK_LAST 0x9FFFu
static uint8_t textsim_stop_bits[(TEXTSIM_CJK_LAST - TEXTSIM_CJK_FIRST) / 8 + 1];

static bool textsim_is_stop_char(uint32_t cp)
{
    if (cp < TEXTSIM_CJK_FIRST || cp > TEXTSIM_CJK_LAST)
        return false;
    uint32_t k = cp - TEXTSIM_CJK_FIRST;
    return (textsim_stop_bits[k / 8] >> (k % 8)) & 1u;
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
    uint32_t *bi;    /* bigram hashes */
    size_t nbi;
    uint32_t *uni;   /* unigram hashes, used only for very short texts */
    size_t nuni;
    size_t npairs;   /* neighbouring tokens seen, boilerplate or not */
    uint64_t *words; /* long ASCII words seen (phone numbers...), or NULL: not collected */
    size_t nwords;
};

/* What to leave out while shingling: the boilerplate list (when use_stop) and what the
 * caller's exclude text contained. */
struct textsim_filter {
    bool use_stop;
    const uint32_t *ex_bi; /* sorted */
    size_t nex_bi;
    const uint64_t *ex_words;
    size_t nex_words;
};

/* ASCII words this long or longer in the exclude text are banned from every bigram:
 * phone numbers, postcodes and licence numbers are identifiers of the enterprise. Shorter
 * ones (the 18 of 科园大道18号) are ordinary numbers elsewhere in a text. */
enum { TEXTSIM_BANNED_WORD_LEN = 5 };

/* Is there a digit, ASCII or full-width, at p[i]? */
static bool textsim_digit_at(const unsigned char *p, size_t len, size_t i)
{
    if (i >= len)
        return false;
    uint32_t cp;
    textsim_utf8_next(p + i, len - i, &cp);
    return (cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19);
}

/* Reads the token at p[*i..len): returns 1 with *tok (and *wlen, the length in
 * characters of an ASCII word, 0 for a CJK character) set, 0 for a separator, -1 at the end. Function
 * characters are skipped: the call continues to the next token. */
static int textsim_next_token(const unsigned char *p, size_t len, size_t *i,
                              textsim_token_t *tok, size_t *wlen)
{
    while (*i < len) {
        uint32_t cp;
        size_t step = textsim_utf8_next(p + *i, len - *i, &cp);
        /* Full-width ASCII (Ａ１，) folds to half-width, so full-width punctuation
         * separates like its ASCII twin. */
        if (cp >= 0xFF01 && cp <= 0xFF5E)
            cp -= 0xFF01 - 0x21;
        if (textsim_is_alnum(cp)) {
            /* An ASCII word or number is one token: FNV-1a over its folded bytes. A '.'
             * between digits stays inside, so 9.6 and 1.2 are numbers, not two tokens. */
            uint64_t h = UINT64_C(0xCBF29CE484222325);
            size_t chars = 0;
            for (;;) {
                uint32_t folded = cp >= 'A' && cp <= 'Z' ? cp + 0x20 : cp;
                chars++;
                bool digit = cp >= '0' && cp <= '9';
                h = (h ^ folded) * UINT64_C(0x100000001B3);
                *i += step;
                if (*i >= len)
                    break;
                step = textsim_utf8_next(p + *i, len - *i, &cp);
                if (cp >= 0xFF01 && cp <= 0xFF5E)
                    cp -= 0xFF01 - 0x21;
                if (textsim_is_alnum(cp))
                    continue;
                if (cp == '.' && digit && textsim_digit_at(p, len, *i + step))
                    continue;
                break; /* p[*i] is not consumed: the next call reads it again */
            }
            *tok = TEXTSIM_WORD_TAG | (h & UINT64_C(0xFFFFFFFFFF));
            *wlen = chars;
            return 1;
        }
        *i += step;
        if (textsim_is_cjk(cp)) {
            if (textsim_is_stop_char(cp))
                continue;
            *tok = cp;
            *wlen = 0;
            return 1;
        }
        return 0; /* anything else ends the run */
    }
    return -1;
}

static bool textsim_word_banned(const struct textsim_filter *f, textsim_token_t t)
{
    if ((t & TEXTSIM_WORD_TAG) == 0)
        return false;
    for (size_t k = 0; k < f->nex_words; k++)
        if (f->ex_words[k] == t)
            return true;
    return false;
}

/* What lies on one side of a bigram: the edge of its run, a boilerplate bigram, or a
 * bigram with content. */
enum textsim_side { TEXTSIM_EDGE, TEXTSIM_BOILER, TEXTSIM_CONTENT };

/* A content bigram between boilerplate on both sides, or between boilerplate and the edge
 * of the run, is a seam: it only joins stock phrases. Two edges (a text of one bigram,
 * "停电") are not a seam. */
static bool textsim_is_seam(enum textsim_side left, enum textsim_side right)
{
    return left != TEXTSIM_CONTENT && right != TEXTSIM_CONTENT &&
           (left == TEXTSIM_BOILER || right == TEXTSIM_BOILER);
}

/* Emits the bigrams (and unigrams) of `len` bytes into `out`, whose arrays each have
 * room for `len` entries: a text of len bytes has at most len tokens.
 *
 * A bigram is boilerplate when it is on the stop list, occurs in the exclude text or
 * touches a banned word; it is dropped. A seam is dropped as well: in "希望相关部门尽快",
 * 望相 and 门尽 only join stock phrases, and skipped function characters make more of
 * them ("到现在还是没有" gives 现没, "恳请有关" gives 恳有). So each bigram is held back
 * until its right-hand neighbour is known. */
static void textsim_shingle(const unsigned char *p, size_t len, const struct textsim_filter *f,
                            struct textsim_buf *out)
{
    textsim_token_t prev = 0, t;
    bool have_prev = false;                 /* a run is open and prev is its last token */
    enum textsim_side last = TEXTSIM_EDGE;  /* the run's last bigram, as a neighbour */
    bool have_pending = false;              /* a content bigram waits for its right side */
    enum textsim_side pending_left = TEXTSIM_EDGE;
    uint32_t pending = 0;
    size_t i = 0, wlen;
    for (;;) {
        int r = textsim_next_token(p, len, &i, &t, &wlen);
        if (r != 1) {
            if (have_pending && !textsim_is_seam(pending_left, TEXTSIM_EDGE))
                out->bi[out->nbi++] = pending;
            have_pending = have_prev = false;
            last = TEXTSIM_EDGE;
            if (r < 0)
                break;
            continue;
        }
        bool banned = textsim_word_banned(f, t);
        if (out->words != NULL && wlen >= TEXTSIM_BANNED_WORD_LEN)
            out->words[out->nwords++] = t;
        if (have_prev) {
            out->npairs++;
            uint32_t h = textsim_bigram_hash(prev, t);
            bool boiler = banned || textsim_word_banned(f, prev) ||
                          (f->use_stop &&
                           textsim_contains(textsim_stop_hash, textsim_stop_count, h)) ||
                          textsim_contains(f->ex_bi, f->nex_bi, h);
            enum textsim_side side = boiler ? TEXTSIM_BOILER : TEXTSIM_CONTENT;
            if (have_pending && !textsim_is_seam(pending_left, side))
                out->bi[out->nbi++] = pending;
            have_pending = !boiler;
            pending = h;
            pending_left = last;
            last = side;
        }
        if (!banned)
            out->uni[out->nuni++] = textsim_unigram_hash(t);
        prev = t;
        have_prev = true;
    }
}

static void textsim_init(void)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(textsim_stop_chars); i++) {
        assert(textsim_stop_chars[i] >= TEXTSIM_CJK_FIRST &&
               textsim_stop_chars[i] <= TEXTSIM_CJK_LAST);
        uint32_t k = textsim_stop_chars[i] - TEXTSIM_CJK_FIRST;
        textsim_stop_bits[k / 8] |= (uint8_t)(1u << (k % 8));
    }
    for (size_t i = 0; i < JS_ARRAY_LEN(textsim_stop_bigrams); i++) {
        const char *s = textsim_stop_bigrams[i];
        size_t len = strlen(s);
        uint32_t bi[16], uni[16];
        struct textsim_buf b = {bi, 0, uni, 0, 0, NULL, 0};
        const struct textsim_filter none = {false, NULL, 0, NULL, 0};
        if (len > 16)
            continue;
        textsim_shingle((const unsigned char *)s, len, &none, &b);
        /* Two tokens, one bigram, as the table promises; a release build skips an entry
         * that breaks the promise rather than trusting it. */
        assert(b.nuni == 2 && b.nbi == 1);
        if (b.nbi == 1)
            textsim_stop_hash[textsim_stop_count++] = b.bi[0];
    }
    qsort(textsim_stop_hash, textsim_stop_count, sizeof textsim_stop_hash[0], textsim_cmp_u32);
    textsim_stop_count = textsim_unique(textsim_stop_hash, textsim_stop_count);
}

/* The shingles of one text: h[0..n) sorted and unique, and (when asked for) the long
 * ASCII words it contains. Both point into `mem`, which the owner frees. */
struct textsim_set {
    uint32_t *h;
    size_t n;
    uint64_t *words;
    size_t nwords;
    void *mem;
};

/* Shingles `len` bytes of `utf8` through filter `f` into `out`. Returns 0, or -1 when
 * memory runs out (out->mem is then NULL). */
static int textsim_shingles(const char *utf8, size_t len, const struct textsim_filter *f,
                            bool want_words, struct textsim_set *out)
{
    memset(out, 0, sizeof *out);
    /* A text of len bytes has at most len tokens, so at most len bigrams and len
     * unigrams; the short-text merge adds fewer than TEXTSIM_SHORT_BIGRAMS more. Three
     * arrays of cap: bigrams, unigrams, sort scratch; and the words. */
    if (len > SIZE_MAX / (4 * sizeof(uint64_t)) - TEXTSIM_SHORT_BIGRAMS)
        return -1;
    size_t cap = len + TEXTSIM_SHORT_BIGRAMS;
    size_t nwords_max = want_words ? len / TEXTSIM_BANNED_WORD_LEN + 1 : 0;
    void *mem = malloc(3 * cap * sizeof(uint32_t) + nwords_max * sizeof(uint64_t));
    if (mem == NULL)
        return -1;
    /* The words first: malloc's alignment suits uint64_t, and uint32_t after them. */
    uint64_t *words = mem;
    uint32_t *arr = (uint32_t *)(void *)(words + nwords_max);
    struct textsim_buf b = {arr, 0, arr + cap, 0, 0, want_words ? words : NULL, 0};
    if (len > 0)
        textsim_shingle((const unsigned char *)utf8, len, f, &b);
    uint32_t *tmp = arr + 2 * cap;
    textsim_sort(b.bi, tmp, b.nbi);
    size_t nbi = textsim_unique(b.bi, b.nbi);
    if (b.npairs < TEXTSIM_SHORT_BIGRAMS && b.nuni > 0) {
        /* Very short ("停电了"): add the characters themselves (unigram hashes live in a
         * different hash domain, so they only ever meet other unigrams). Decided on the
         * text's length, not on what survived the stop list: a long text of pure
         * boilerplate must stay empty, not turn into a bag of characters. */
        memmove(b.bi + nbi, b.uni, b.nuni * sizeof *b.uni);
        nbi += b.nuni;
        textsim_sort(b.bi, tmp, nbi);
        nbi = textsim_unique(b.bi, nbi);
    }
    out->h = b.bi;
    out->n = nbi;
    out->words = b.words;
    out->nwords = b.nwords;
    out->mem = mem;
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
    struct textsim_set ex = {0}, v = {0};
    struct textsim_filter f = {true, NULL, 0, NULL, 0};
    if (exclude_len > 0) {
        /* The exclude text's own bigrams, all of them: no stop list, no seams dropped. */
        const struct textsim_filter none = {false, NULL, 0, NULL, 0};
        if (textsim_shingles(exclude, exclude_len, &none, true, &ex) != 0)
            goto fail;
        f.ex_bi = ex.h;
        f.nex_bi = ex.n;
        f.ex_words = ex.words;
        f.nex_words = ex.nwords;
    }
    if (textsim_shingles(utf8, len, &f, false, &v) != 0)
        goto fail;
    sig = textsim_sig_alloc(v.n);
    if (sig == NULL)
        goto fail;
    if (v.n > 0)
        memcpy(sig->h, v.h, v.n * sizeof v.h[0]);
fail:
    free(ex.mem);
    free(v.mem);
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
