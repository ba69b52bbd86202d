/*
 * config_check.h - the checks of a whole parsed configuration: the keys a
 * section needs, keys that must agree with each other and settings that
 * parse but cannot work (a backend that is one of our own listeners); and
 * the defaults that depend on the rest (hostname, workers = auto). The
 * reader (config_read.c) runs them once the text is read.
 */
#ifndef STARTTLSD_CONFIG_CHECK_H
#define STARTTLSD_CONFIG_CHECK_H

#include <stdarg.h>
#include <stddef.h>

struct config;

/*
 * Check cfg, just read from a text whose last line is lastline, and fill
 * in the defaults that need the whole of it. Returns 0, or -1 with
 * "PATH:LINE: message" in err.
 */
int config_check(struct config *cfg, int lastline, char *err, size_t errlen);

/* Write "PATH:LINE: " and the message fmt makes of ap to err (errlen bytes, cut if need be). */
void config_verror(char *err, size_t errlen, const char *path, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

#endif
