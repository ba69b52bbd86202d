/*
 * log_json.h - a key=value log line as one JSON object, for log_format =
 * json: the same keys in the same order, every value a string. Values in
 * the line are bare or quoted by log_quote() ("...", with \" \\ and \xNN).
 */
#ifndef STARTTLSD_LOG_JSON_H
#define STARTTLSD_LOG_JSON_H

#include <stddef.h>

/*
 * Convert kv[0..len) ("k=v k2=\"v 2\" ...", no newline) into a JSON object
 * in out (outlen bytes, NUL-terminated). A token without '=' becomes a key
 * with an empty value. Returns the length written; a line that does not fit
 * is cut at a whole member and the object still closes. Needs outlen >= 3.
 */
size_t log_kv_to_json(const char *kv, size_t len, char *out, size_t outlen);

#endif
