/*
 * log.h - one key=value line per event on stderr.
 *
 * Every line starts with ts=, level= and event=; session lines carry sid=.
 * Values with spaces or quotes are written quoted by log_quote(). Lines are
 * written with a single write(2), so lines from worker threads never mix.
 */
#ifndef STARTTLSD_LOG_H
#define STARTTLSD_LOG_H

#include <stddef.h>

#include "config.h"

/* Set the threshold; lines above it are dropped before any formatting. */
void log_set_level(enum log_level level);

/* Is level enabled? Callers test this before building expensive values. */
int log_enabled(enum log_level level);

/* Write "ts=... level=... event=EVENT " followed by the formatted rest. */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Render s[0..len) as a log value into dst (size dstlen): bare if it has
 * only safe characters, else double-quoted with \" \\ and \xNN escapes.
 * Always NUL-terminates; truncates long values. Returns dst.
 */
char *log_quote(char *dst, size_t dstlen, const char *s, size_t len);

#endif
