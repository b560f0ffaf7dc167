/* The wide-character API is only declared with these defined before curses.h. */
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>
#include <termios.h>
#include <ncurses.h>

/* Macros and C globals Swift cannot import (or, under Swift 6, may not touch): one inline function each. */
static inline WINDOW *spm_stdscr(void) { return stdscr; }
static inline int spm_lines(void) { return LINES; }
static inline int spm_cols(void) { return COLS; }
static inline int spm_colors(void) { return COLORS; }
static inline int spm_color_pair(int n) { return COLOR_PAIR(n); }
static inline int spm_attr_bold(void) { return A_BOLD; }
static inline int spm_attr_reverse(void) { return A_REVERSE; }
static inline int spm_attr_dim(void) { return A_DIM; }
static inline int spm_attr_underline(void) { return A_UNDERLINE; }
static inline void spm_getmaxyx(WINDOW *w, int *y, int *x) { getmaxyx(w, *y, *x); }
static inline int spm_key_resize(void) { return KEY_RESIZE; }
static inline int spm_key_f(int n) { return KEY_F(n); }

/* One cell: a grapheme of up to a few code points, its attributes and an extended colour pair
   (setcchar takes the pair through its `opts` pointer when it does not fit a short). */
static inline int spm_put_cell(int y, int x, const wchar_t *text, int attributes, int pair) {
    cchar_t cell;
    if (setcchar(&cell, text, (attr_t)attributes, 0, &pair) != OK) return ERR;
    return mvwadd_wch(stdscr, y, x, &cell);
}

/* Reads one key: returns OK (a character in *value), KEY_CODE_YES (a KEY_* code) or ERR (timeout). */
static inline int spm_read_key(int *value) {
    wint_t wide = 0;
    int kind = wget_wch(stdscr, &wide);
    *value = (int)wide;
    return kind;
}
static inline int spm_key_code_yes(void) { return KEY_CODE_YES; }

/* initscr exits the process when the terminal is unusable; newterm returns NULL instead, so we can say why. */
static inline SCREEN *spm_newterm(void) { return newterm(NULL, stdout, stdin); }

/* Raw bytes to the terminal after curses has drawn (pixel images); stdout is a C global Swift 6 may not touch. */
static inline void spm_write_terminal(const char *bytes) { fputs(bytes, stdout); fflush(stdout); }
