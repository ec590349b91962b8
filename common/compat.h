/*
 * compat.h — the few compiler annotations every module uses.
 *
 * Kept tiny on purpose: this is not an umbrella header. A module includes it only for
 * JS_MUST_CHECK (fallible functions return 0/-1 and the caller must look) and JS_PRINTF.
 */
#ifndef JIESU_COMPAT_H
#define JIESU_COMPAT_H

#define JS_MUST_CHECK __attribute__((warn_unused_result))
#define JS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define JS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
