/*
 * fsutil.h — the few file-system chores several modules share: listing a folder's data files
 * in a stable order. Loaders (calendars, policy profiles) decide what a file means; this only
 * finds them.
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

#endif
