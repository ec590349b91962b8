/*
 * csvcell.h — one cell of the CSV ledger, written so a spreadsheet program reads it as text.
 *
 * Cells are quoted (RFC 4180: a '"' inside is doubled). Enterprise names, summaries and the
 * units' texts come from outside, and a spreadsheet program opening the CSV takes a cell that
 * starts with = + - @ (or a tab or carriage return before one) for a formula: =HYPERLINK(…)
 * or a DDE call runs on the office's machine. Such a cell gets a leading single quote, which
 * shows the text as typed (OWASP "CSV Injection"). The xlsx ledger writes every string as a
 * string cell and needs nothing of this.
 */
#ifndef JIESU_REPORTING_CSVCELL_H
#define JIESU_REPORTING_CSVCELL_H

#include <stdbool.h>
#include <stdio.h>

/* True when a spreadsheet program could take s for a formula: its first byte is one of
 * = + - @ TAB CR. s is borrowed and must not be NULL. */
bool rep_csv_cell_is_formula(const char *s);

/* Writes s to f as one quoted CSV cell, a formula-like value prefixed with '. Borrowed s. */
void rep_csv_cell_write(FILE *f, const char *s);

#endif
