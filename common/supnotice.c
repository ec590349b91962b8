/*
 * supnotice.c — see supnotice.h.
 */
#include "supnotice.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

int supnotice_fraud_level(const policy_t *p)
{
    return p && p->sup_interview ? 3 : 2;
}

int supnotice_fraud_id(const char *source_event_id, char out[EVENT_UUID_SIZE])
{
    static const char ns[] = "jiesu:notice:fraud:";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out[0] = '\0';
    if (!event_uuid_valid(source_event_id)) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(ctx, ns, sizeof ns - 1) == 1 &&
             EVP_DigestUpdate(ctx, source_event_id, 36) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok || mdlen < 16) return -1;
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x80); /* version 8: custom, here name-based with SHA-256 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* the RFC variant */
    snprintf(out, EVENT_UUID_SIZE,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4],
             md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12], md[13], md[14], md[15]);
    return 0;
}
