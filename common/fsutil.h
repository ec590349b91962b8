/*
 * fsutil.h — the few file-system chores several modules share: listing a folder's data files
 * in a stable order, and reading a whole file. Loaders (calendars, policy profiles, the
 * territory, the catalogue, migrations) decide what a file means; this only finds and reads.
 */
#ifndef JIESU_FSUTIL_H
#define JIESU_FSUTIL_H

#include <stddef.h>

#include "compat.h"

/* The entries of dir whose names end with suffix (dotfiles skipped), as "dir/name" paths
 * sorted by name, so loading is reproducible whatever readdir returns. On success *paths is a
 * new array of *n new strings (free with fsutil_paths_free; an empty folder gives n = 0).
 * -1 with errno set (ENOMEM, or opendir's) — the caller words the message. */
int fsutil_list(const char *dir, const char *suffix, char ***paths, size_t *n) JS_MUST_CHECK;
void fsutil_paths_free(char **paths, size_t n);

/* Reads the whole of path into *buf (new, NUL-terminated; *len bytes before the NUL). max = 0
 * for no limit. -1 with errno set: fopen's, EIO for a read error, EFBIG past max, ENOMEM —
 * the caller words the message. */
int fsutil_read(const char *path, size_t max, char **buf, size_t *len) JS_MUST_CHECK;

#endif
