/*
 * textsim.h — how alike two appeal texts are, for finding duplicates (重复件).
 *
 * DOMAIN.md §5: the same enterprise raising the same matter while its case is open is
 * linked to that case, not counted as new. Intake compares a new appeal with the open
 * cases of the same credit code; this module gives the number it compares. It has to work
 * on Chinese, where there are no spaces to split words on, catch a matter raised again in
 * other words or as a two-line "上次反映的…至今没有解决" follow-up, and let the same
 * enterprise's next, different problem through even though both texts share its name,
 * address and the phrases every appeal uses.
 *
 * A text becomes a signature: the set of its character bigrams (an ASCII word or number
 * counts as one character), each hashed to 32 bits, after folding full-width forms and
 * case, ending runs at punctuation, skipping function characters (的, 了, 我 …) and
 * dropping a built-in list of boilerplate bigrams (企业, 反映, 问题, 希望, 尽快, 解决,
 * 上次, 至今 …) together with the seams between them. The similarity of two signatures is
 * their overlap relative to the smaller one, so a short repeat of a long complaint still
 * scores high. docs/TEXTSIM.md has the method, the test corpus, its scores and why the
 * threshold is where it is.
 *
 * Signatures are immutable once made; similarity and encoding only read them, so they may
 * be shared between threads. Every function accepts any bytes: invalid UTF-8 is treated as
 * a separator, never a crash.
 */
#ifndef JIESU_TEXTSIM_H
#define JIESU_TEXTSIM_H

#include <stddef.h>

#include "compat.h"

/* At or above this, a new appeal of the same enterprise is a duplicate of the open case.
 * Chosen from the corpus in tests/unit/test_textsim.c: the weakest true repeat there
 * scores 0.213, the strongest different matter 0.140, and 0.18 sits between them
 * (docs/TEXTSIM.md has the table). Only meaningful for signatures made the same way —
 * both with the enterprise's details excluded, or both without. */
#define TEXTSIM_DUPLICATE_THRESHOLD 0.18

typedef struct textsim_sig textsim_sig_t;

/* The signature of `len` bytes of UTF-8 at `utf8` (not necessarily NUL-terminated;
 * `utf8` may be NULL when `len` is 0). Returns a new signature, owned by the caller and
 * released with textsim_sig_free(), or NULL when memory runs out. A text with nothing
 * but punctuation and boilerplate gives an empty signature, similar to nothing. */
textsim_sig_t *textsim_sig_new(const char *utf8, size_t len);

/* Like textsim_sig_new(), but leaves out every bigram that also occurs in `exclude`.
 * Intake passes the enterprise's own name, address, contact person and phone: every
 * appeal of that enterprise carries them, so they say nothing about the matter. */
textsim_sig_t *textsim_sig_new_excluding(const char *utf8, size_t len, const char *exclude,
                                         size_t exclude_len);

/* Releases a signature; NULL is a no-op. */
void textsim_sig_free(textsim_sig_t *sig);

/* Number of distinct bigrams in the signature (0 for NULL). */
size_t textsim_sig_size(const textsim_sig_t *sig);

/* Similarity in [0, 1]: |A∩B| / max(min(|A|, |B|), 8). 1 means the smaller text's
 * content is entirely inside the larger; the floor of 8 keeps a three-word text from
 * matching everything that shares one word with it. 0 when either is NULL or empty.
 * Symmetric. */
double textsim_similarity(const textsim_sig_t *a, const textsim_sig_t *b);

/* Writes the signature as text for a PostgreSQL text column: "ts1:" followed by 8
 * lower-case hex digits per bigram, in ascending order. On success *hex is a new
 * NUL-terminated string the caller frees with free(); returns -1 (and *hex = NULL) when
 * an argument is NULL or memory runs out. */
JS_MUST_CHECK int textsim_sig_encode(const textsim_sig_t *sig, char **hex);

/* Reads what textsim_sig_encode() wrote. On success *sig is a new signature the caller
 * frees; returns -1 (and *sig = NULL) for a NULL argument, an unknown version prefix, a
 * length that is not a multiple of 8, a non-hex digit, hashes out of order or repeated, or
 * no memory. */
JS_MUST_CHECK int textsim_sig_decode(const char *hex, textsim_sig_t **sig);

#endif
