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

int fsutil_read(const char *path, size_t max, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    char *b = NULL;
    size_t n = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (cap - n < 65536 + 1) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(b, ncap);
            if (nb == NULL) {
                err = ENOMEM;
                break;
            }
            b = nb;
            cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        n += got;
        if (max && n > max) {
            err = EFBIG;
            break;
        }
        if (got == 0) {
            if (ferror(f)) err = EIO;
            break;
        }
    }
    fclose(f);
    if (err) {
        free(b);
        errno = err;
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}
