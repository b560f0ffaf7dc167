/* The wide-character API is only declared with these defined before curses.h. */
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
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
