/*
 * log.h - one line per event: key=value text or a JSON object, on stderr
 * or to syslog (facility mail, ident starttlsd).
 *
 * Every line starts with ts=, level= and event=; session lines carry sid=.
 * Values with spaces or quotes are written quoted by log_quote(). Lines are
 * written with a single write(2) or datagram, so lines from worker threads
 * never mix.
 */
#ifndef STARTTLSD_LOG_H
#define STARTTLSD_LOG_H

#include <stddef.h>

#include "config.h"

/*
 * Where lines go and in which form. For syslog the socket (a datagram
 * AF_UNIX socket, usually /dev/log) is connected now, before any chroot;
 * a syslog daemon that restarts is reconnected to (outside a chroot), and
 * while it cannot be reached lines go to stderr. Returns 0, or -1 with err.
 */
int log_configure(enum log_format format, enum log_target target, const char *syslog_socket, char *err,
    size_t errlen);

/*
 * A message of -t or startup ("FILE:LINE: message"; level LOG_ERROR or
 * LOG_WARN) in the configured form: as is on stderr for text, else as
 * event=config_error or event=config_warning with error= or warning=.
 */
void log_config_message(enum log_level level, const char *msg);

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
