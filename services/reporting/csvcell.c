/*
 * csvcell.c — one cell of the CSV ledger: quoted, and never read as a formula (csvcell.h).
 * No I/O beyond the stream it is given and no dependency, so tests/unit compiles it in.
 */
#include "csvcell.h"

#include <string.h>

bool rep_csv_cell_is_formula(const char *s)
{
    return s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL;
}

void rep_csv_cell_write(FILE *f, const char *s)
{
    fputc('"', f);
    if (rep_csv_cell_is_formula(s)) fputc('\'', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
