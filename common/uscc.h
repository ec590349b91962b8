/*
 * uscc.h — the unified social credit code (统一社会信用代码) of GB 32100-2015.
 *
 * Every appeal names its enterprise by this 18-character code, and duplicates are found
 * per code, so intake must refuse a mistyped one at the door with a message that tells
 * the enterprise which character is wrong. The code is
 *
 *   position 1      registration authority (登记管理部门代码): 1-9, A, N, Y
 *   position 2      organisation category (机构类别代码), valid per authority
 *   positions 3-8   administrative division of the registering office (GB/T 2260, digits)
 *   positions 9-17  organisation code (组织机构代码, GB 11714): 8 characters and its own
 *                   check character (0-9 or X) at position 17
 *   position 18     check character over positions 1-17 (GB/T 17710 style, modulus 31)
 *
 * over the alphabet 0123456789ABCDEFGHJKLMNPQRTUWXY (no I, O, S, V, Z). The standard
 * builds positions 9-17 from GB 11714, whose last character is a check character, so
 * both check characters are verified.
 *
 * Codes are stored and compared in canonical form: upper case, no spaces. Callers run
 * uscc_normalise() on what a person typed and uscc_validate() on its output.
 * Error messages start with "credit_code: " so an API can return them as they are.
 * The module holds no state; every function is pure and safe from any thread. Returned
 * strings are static and borrowed.
 */
#ifndef JIESU_USCC_H
#define JIESU_USCC_H

#include <stddef.h>

#include "compat.h"

#define USCC_LEN 18              /* characters in a code */
#define USCC_BUFSZ (USCC_LEN + 1) /* with its terminating NUL */

/* The parts of a valid code. Names are static UTF-8 strings from the standard's table,
 * e.g. "工商" / "企业"; never free them. */
typedef struct uscc_info {
    char department;             /* position 1 */
    char category;               /* position 2 */
    char division[7];            /* positions 3-8, NUL-terminated */
    char org_code[10];           /* positions 9-17, NUL-terminated */
    char check;                  /* position 18 */
    const char *department_name; /* 登记管理部门, e.g. "工商" */
    const char *category_name;   /* 机构类别, e.g. "企业" */
} uscc_info_t;

/* Turns what a person typed into canonical form in `out`: drops whitespace anywhere
 * (ASCII, U+00A0 and the ideographic space U+3000), folds full-width letters and digits
 * (ＡＢＣ１２３) to ASCII and upper-cases letters. Returns 0 when the result has exactly 18
 * characters; -1 when `in` is NULL, holds a character that cannot be part of a code
 * (non-ASCII, invalid UTF-8) or has the wrong length, with the reason in `err` (which may
 * be NULL) and `out` set to "". It does not check the alphabet or the check characters:
 * that is uscc_validate()'s job. `out` is written, never read. */
JS_MUST_CHECK int uscc_normalise(const char *in, char out[USCC_BUFSZ], char *err,
                                 size_t errlen);

/* Checks a canonical code against every rule of GB 32100-2015: length, alphabet, the
 * authority code and its category, the division digits and province, the organisation
 * code and its GB 11714 check character, and the check character at position 18.
 * Returns 0 when valid, -1 otherwise with the first problem in `err` (may be NULL), e.g.
 * "credit_code: check character should be 'X', got 'Y'". Lower case is refused here;
 * normalise first. */
JS_MUST_CHECK int uscc_validate(const char *code, char *err, size_t errlen);

/* uscc_validate(), and on success fills `info` with the parts of the code. */
JS_MUST_CHECK int uscc_parse(const char *code, uscc_info_t *info, char *err, size_t errlen);

/* The check character (position 18) for the first 17 characters of `first17`, or '\0'
 * when it is NULL, shorter than 17 or holds a character outside the alphabet. Reads at
 * most 17 characters. For tests and for generating codes. */
char uscc_check_char(const char *first17);

/* The GB 11714 check character (position 17: '0'-'9' or 'X') for the 8-character
 * organisation code body `first8` (digits and upper-case letters A-Z), or '\0' when it is
 * NULL, shorter than 8 or holds another character. Reads at most 8 characters. */
char uscc_org_check_char(const char *first8);

#endif
