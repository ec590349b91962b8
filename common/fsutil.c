/*
 * fsutil.c — see fsutil.h.
 */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fsutil_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void fsutil_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
}

int fsutil_list(const char *dir, const char *suffix, char ***paths, size_t *n)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    char **names = NULL;
    size_t cnt = 0, cap = 0, sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= sl || strcmp(de->d_name + len - sl, suffix) != 0) continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, cap * sizeof *grown);
            if (grown == NULL) goto oom;
            names = grown;
        }
        size_t plen = strlen(dir) + 1 + len + 1;
        if ((names[cnt] = malloc(plen)) == NULL) goto oom;
        snprintf(names[cnt], plen, "%s/%s", dir, de->d_name);
        cnt++;
    }
    closedir(d);
    if (cnt > 1) qsort(names, cnt, sizeof *names, fsutil_cmp);
    *paths = names;
    *n = cnt;
    return 0;
oom:
    closedir(d);
    fsutil_paths_free(names, cnt);
    errno = ENOMEM;
    return -1;
}
