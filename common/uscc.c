/*
 * uscc.c — validation of the unified social credit code (GB 32100-2015).
 *
 * The rules, in the order they are checked, so the message names the first thing a
 * person got wrong rather than the checksum that a typo eventually breaks:
 * length, alphabet, authority (position 1), category for that authority (position 2),
 * division digits and province (3-8), the form of the organisation code (9-17), the
 * check character (18) and finally the organisation code's own check character (17).
 * The authority/category table is the one the national code centre (CODS) publishes for
 * the standard, as several independent validators reproduce it. Some validators also
 * accept 民政 categories 4 and 5 (村/居民委员会); they are not in that table and are
 * refused here. tests/unit/test_uscc.c walks every cell of the table, and every rule,
 * with real published codes and generated ones.
 */
#include "uscc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* GB 32100 appendix A: the 31 characters and, by index, their values 0..30. */
static const char uscc_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* W_i = 3^(i-1) mod 31, i = 1..17. */
static const int uscc_weights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20,
                                     29, 25, 13, 8, 24, 10, 30, 28};

/* GB 11714 weights for the 8-character organisation code body. */
static const int uscc_org_weights[8] = {3, 7, 9, 10, 5, 8, 4, 2};

struct uscc_category {
    char code;
    const char *name;
};

struct uscc_department {
    char code;
    const char *name;
    struct uscc_category categories[7]; /* terminated by code '\0' */
};

/* 登记管理部门 and their 机构类别. 工商 (now market regulation) has no "9 其他"; Y uses
 * only 1. */
static const struct uscc_department uscc_departments[] = {
    {'1', "机构编制",
     {{'1', "机关"}, {'2', "事业单位"}, {'3', "中央编办直接管理机构编制的群众团体"},
      {'9', "其他"}}},
    {'2', "外交", {{'1', "外国常驻新闻机构"}, {'9', "其他"}}},
    {'3', "司法行政",
     {{'1', "律师执业机构"}, {'2', "公证处"}, {'3', "基层法律服务所"},
      {'4', "司法鉴定机构"}, {'5', "仲裁委员会"}, {'9', "其他"}}},
    {'4', "文化", {{'1', "外国在华文化中心"}, {'9', "其他"}}},
    {'5', "民政", {{'1', "社会团体"}, {'2', "民办非企业单位"}, {'3', "基金会"}, {'9', "其他"}}},
    {'6', "旅游",
     {{'1', "外国旅游部门常驻代表机构"},
      {'2', "港澳台地区旅游部门常驻内地（大陆）代表机构"},
      {'9', "其他"}}},
    {'7', "宗教", {{'1', "宗教活动场所"}, {'2', "宗教院校"}, {'9', "其他"}}},
    {'8', "工会", {{'1', "基层工会"}, {'9', "其他"}}},
    {'9', "工商", {{'1', "企业"}, {'2', "个体工商户"}, {'3', "农民专业合作社"}}},
    {'A', "中央军委改革和编制办公室", {{'1', "军队事业单位"}, {'9', "其他"}}},
    {'N', "农业",
     {{'1', "组级集体经济组织"}, {'2', "村级集体经济组织"}, {'3', "乡镇级集体经济组织"},
      {'9', "其他"}}},
    {'Y', "其他", {{'1', "其他"}}},
};

/* First two digits of a GB/T 2260 division: the provinces, plus 10 which the standard
 * uses for offices at national level (100000). */
static const char *const uscc_provinces[] = {
    "10", "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33",
    "34", "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51",
    "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
};

JS_PRINTF(3, 4)
static int uscc_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Value of an alphabet character, or -1. */
static int uscc_value(char c)
{
    if (c == '\0')
        return -1;
    const char *p = strchr(uscc_alphabet, c);
    return p != NULL ? (int)(p - uscc_alphabet) : -1;
}

char uscc_check_char(const char *first17)
{
    if (first17 == NULL || strnlen(first17, 17) < 17)
        return '\0';
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        int v = uscc_value(first17[i]);
        if (v < 0)
            return '\0';
        sum += v * uscc_weights[i];
    }
    /* C18 = 31 - (sum mod 31), where 31 stands for 0. */
    return uscc_alphabet[(31 - sum % 31) % 31];
}

char uscc_org_check_char(const char *first8)
{
    if (first8 == NULL || strnlen(first8, 8) < 8)
        return '\0';
    int sum = 0;
    for (int i = 0; i < 8; i++) {
        char c = first8[i];
        int v;
        /* GB 11714 values letters by their place in the full Latin alphabet (A=10 ..
         * Z=35), unlike GB 32100, which skips I, O, S, V and Z. */
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'A' && c <= 'Z')
            v = c - 'A' + 10;
        else
            return '\0';
        sum += v * uscc_org_weights[i];
    }
    int c9 = 11 - sum % 11; /* 10 is written X, 11 is written 0 */
    return c9 == 10 ? 'X' : c9 == 11 ? '0' : (char)('0' + c9);
}

static const struct uscc_department *uscc_department_find(char code)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(uscc_departments); i++)
        if (uscc_departments[i].code == code)
            return &uscc_departments[i];
    return NULL;
}

static const struct uscc_category *uscc_category_find(const struct uscc_department *d,
                                                      char code)
{
    for (const struct uscc_category *c = d->categories; c->code != '\0'; c++)
        if (c->code == code)
            return c;
    return NULL;
}

/* Characters of a UTF-8 string: every byte that is not a continuation byte starts one.
 * Good enough to tell a person "got 17" when they pasted something odd. */
static size_t uscc_char_count(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

static bool uscc_is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' ||
           cp == '\f' || cp == 0xA0 || cp == 0x3000;
}

/* Decodes one UTF-8 sequence at `p`. Returns its length and the code point in *cp, or 0
 * for an invalid sequence (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t uscc_utf8_decode(const unsigned char *p, uint32_t *cp)
{
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    size_t len;
    uint32_t min, v;
    if ((p[0] & 0xE0) == 0xC0) {
        len = 2, min = 0x80, v = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        len = 3, min = 0x800, v = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, v = p[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL terminator */
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int uscc_normalise(const char *in, char out[USCC_BUFSZ], char *err, size_t errlen)
{
    if (out != NULL)
        out[0] = '\0';
    if (in == NULL || out == NULL)
        return uscc_fail(err, errlen, "credit_code: missing");
    char buf[USCC_BUFSZ];
    size_t n = 0; /* characters kept so far; only the first 18 are stored */
    const unsigned char *p = (const unsigned char *)in;
    while (*p != '\0') {
        uint32_t cp;
        size_t len = uscc_utf8_decode(p, &cp);
        if (len == 0)
            return uscc_fail(err, errlen,
                             "credit_code: character %zu is not valid UTF-8 (byte 0x%02X)",
                             n + 1, *p);
        p += len;
        if (uscc_is_space(cp))
            continue;
        /* Full-width forms U+FF01..U+FF5E mirror ASCII 0x21..0x7E; Chinese input methods
         * produce them for letters and digits typed in full-width mode. */
        if (cp >= 0xFF01 && cp <= 0xFF5E)
            cp -= 0xFF01 - 0x21;
        if (cp >= 0x80 || cp < 0x20 || cp == 0x7F)
            return uscc_fail(err, errlen,
                             "credit_code: character %zu (U+%04X) is not a letter or digit",
                             n + 1, (unsigned)cp);
        char c = (char)cp;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (n < USCC_LEN)
            buf[n] = c;
        n++;
    }
    if (n != USCC_LEN)
        return uscc_fail(err, errlen, "credit_code: must be %d characters, got %zu", USCC_LEN,
                         n);
    buf[USCC_LEN] = '\0';
    memcpy(out, buf, USCC_BUFSZ);
    return 0;
}

static bool uscc_province_known(const char *division)
{
    for (size_t i = 0; i < JS_ARRAY_LEN(uscc_provinces); i++)
        if (division[0] == uscc_provinces[i][0] && division[1] == uscc_provinces[i][1])
            return true;
    return false;
}

/* Appends the allowed category codes of `d` to `out` as "1, 2, 3". */
static void uscc_categories_list(const struct uscc_department *d, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (const struct uscc_category *c = d->categories; c->code != '\0'; c++) {
        int w = snprintf(out + used, outlen - used, "%s%c", used > 0 ? ", " : "", c->code);
        if (w < 0 || (size_t)w >= outlen - used)
            break;
        used += (size_t)w;
    }
}

int uscc_validate(const char *code, char *err, size_t errlen)
{
    if (code == NULL)
        return uscc_fail(err, errlen, "credit_code: missing");
    size_t n = uscc_char_count(code);
    if (n != USCC_LEN)
        return uscc_fail(err, errlen, "credit_code: must be %d characters, got %zu", USCC_LEN,
                         n);
    if (strlen(code) != USCC_LEN) {
        /* 18 characters but more bytes: something non-ASCII; name its position. */
        int pos = 0;
        while ((unsigned char)code[pos] < 0x80)
            pos++;
        return uscc_fail(err, errlen,
                         "credit_code: character %d is not an ASCII letter or digit", pos + 1);
    }
    for (int i = 0; i < USCC_LEN; i++) {
        char c = code[i];
        if (uscc_value(c) >= 0)
            continue;
        if (c >= 'a' && c <= 'z')
            return uscc_fail(err, errlen,
                             "credit_code: character %d '%c' is lower case; codes are upper case",
                             i + 1, c);
        if (c > 0x20 && c < 0x7F)
            return uscc_fail(err, errlen, "credit_code: character %d '%c' is not allowed",
                             i + 1, c);
        return uscc_fail(err, errlen, "credit_code: character %d (byte 0x%02X) is not allowed",
                         i + 1, (unsigned char)c);
    }

    const struct uscc_department *d = uscc_department_find(code[0]);
    if (d == NULL)
        return uscc_fail(err, errlen,
                         "credit_code: character 1 '%c' is not a registration authority code "
                         "(1-9, A, N or Y)",
                         code[0]);
    if (uscc_category_find(d, code[1]) == NULL) {
        char allowed[32];
        uscc_categories_list(d, allowed, sizeof allowed);
        return uscc_fail(err, errlen,
                         "credit_code: character 2 '%c' is not an organisation category of "
                         "registration authority '%c' (allowed: %s)",
                         code[1], code[0], allowed);
    }

    for (int i = 2; i < 8; i++)
        if (code[i] < '0' || code[i] > '9')
            return uscc_fail(err, errlen,
                             "credit_code: character %d '%c' must be a digit (positions 3-8 "
                             "are the administrative division code)",
                             i + 1, code[i]);
    if (!uscc_province_known(code + 2))
        return uscc_fail(err, errlen,
                         "credit_code: administrative division '%.6s' does not start with a "
                         "province code",
                         code + 2);

    if (code[16] != 'X' && (code[16] < '0' || code[16] > '9'))
        return uscc_fail(err, errlen,
                         "credit_code: character 17 '%c' must be a digit or 'X' (the "
                         "organisation code's check character)",
                         code[16]);
    /* An organisation code of zeros passes both checksums but is what forms and test
     * systems fill in when the real code is unknown; no body is ever assigned it. */
    if (memcmp(code + 8, "00000000", 8) == 0)
        return uscc_fail(err, errlen,
                         "credit_code: organisation code (positions 9-17) must not be all zeros");

    char want = uscc_check_char(code);
    if (want != code[17])
        return uscc_fail(err, errlen, "credit_code: check character should be '%c', got '%c'",
                         want, code[17]);
    char org_want = uscc_org_check_char(code + 8);
    if (org_want != code[16])
        return uscc_fail(err, errlen,
                         "credit_code: organisation code check character (position 17) should "
                         "be '%c', got '%c'",
                         org_want, code[16]);
    return 0;
}

int uscc_parse(const char *code, uscc_info_t *info, char *err, size_t errlen)
{
    if (info == NULL)
        return uscc_fail(err, errlen, "credit_code: no place for the result");
    memset(info, 0, sizeof *info);
    if (uscc_validate(code, err, errlen) != 0)
        return -1;
    const struct uscc_department *d = uscc_department_find(code[0]);
    const struct uscc_category *c = uscc_category_find(d, code[1]);
    info->department = code[0];
    info->category = code[1];
    memcpy(info->division, code + 2, 6);
    memcpy(info->org_code, code + 8, 9);
    info->check = code[17];
    info->department_name = d->name;
    info->category_name = c->name;
    return 0;
}
