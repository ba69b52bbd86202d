/*
 * dotstuff.h - the DATA content filter: finds the end of a message and
 * makes the bytes sent to the backend unambiguous (SMTP smuggling). Pure.
 *
 * A message ends only at the client's CRLF "." CRLF (or "." CRLF as the
 * very first line). Everything the filter emits uses CRLF line endings and
 * contains no NUL, so the backend can never see an end of message that
 * starttlsd did not see:
 *   - a bare LF or bare CR is taken as a line end and sent as CRLF;
 *   - a line that follows such a bare line end and starts with "." gets an
 *     extra "." (dot-stuffing), as does a "." line not ended by CRLF, so
 *     "<LF>.<LF>" can never end the message at the backend;
 *   - NUL is replaced by a space.
 * In DATA_REJECT mode the same bytes are still emitted normalised, but the
 * filter remembers that the message was not clean (data_filter.dirty);
 * the session then makes sure the backend never completes it.
 */
#ifndef STARTTLSD_DOTSTUFF_H
#define STARTTLSD_DOTSTUFF_H

#include <stddef.h>

#include "buf.h"

enum bare_newline { BARE_NEWLINE_NORMALIZE = 0, BARE_NEWLINE_REJECT };

/* Scanner state carried between chunks of one message. */
struct data_filter {
	int state;		/* private: position within the current line */
	int prev_crlf;		/* private: the previous line ended with CRLF */
	size_t linelen;		/* bytes in the current line so far */
	size_t max_line;	/* longest allowed line incl. CRLF, 0 = no limit */
	int dirty;		/* bare CR/LF or NUL seen */
	int too_long;		/* a line exceeded max_line */
	unsigned long long lines;	/* lines ended so far (the end line not counted) */
};

enum data_result { DATA_MORE = 0, DATA_END = 1, DATA_NOMEM = -1 };

/*
 * Which vectors the filter uses (all give the same results): 0 the widest
 * the CPU has (the default: AVX2 where available, else SSE2), 1 SSE2, 2
 * none. For tests and fuzzers that check the variants against each other.
 */
void data_filter_vectors(int mode);

/* Start a new message. */
void data_filter_init(struct data_filter *f, size_t max_line);

/* Where the filter's output goes: returns 0, or -1 (out of memory). */
typedef int data_emit_fn(void *arg, const char *p, size_t n);

/*
 * Feed in[0..len); emits the normalised bytes through emit(arg, ...), in
 * as few calls as possible (runs of clean lines go out in one), and stores
 * in *used how many input bytes were consumed. Returns DATA_END once the
 * end-of-data line has been consumed (and emitted as ".\r\n"; bytes after
 * it are left unconsumed), DATA_MORE if all of in was consumed without
 * finding it, or DATA_NOMEM if emit failed.
 */
enum data_result data_filter_scan(struct data_filter *f, const char *in, size_t len, data_emit_fn *emit,
    void *arg, size_t *used);

/*
 * Called from inside an emit callback: is p[0..n) the end-of-data line
 * (the last bytes of the message the backend will get)? Its sender may
 * still refuse to pass it on (then the message never completes there).
 */
int data_filter_is_end(const struct data_filter *f, const char *p, size_t n);

/*
 * data_filter_scan() into a buffer: emits the normalised bytes into out, and stores in
 * *used how many input bytes were consumed. Returns DATA_END once the
 * end-of-data line has been consumed (and emitted as ".\r\n"; bytes after
 * it are left unconsumed), DATA_MORE if all of in was consumed without
 * finding it, or DATA_NOMEM.
 */
enum data_result data_filter_run(struct data_filter *f, const char *in, size_t len,
    struct buf *out, size_t *used);

#endif
