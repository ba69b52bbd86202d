/*
 * ehlo.h - rewriting the backend's EHLO reply for the client. Pure.
 *
 * The backend's capabilities pass through, except those starttlsd must
 * answer or hide itself: STARTTLS (starttlsd terminates TLS), CHUNKING and
 * BINARYMIME (BDAT is refused), and whatever the caller lists in hide.
 * Exactly one STARTTLS is added when asked, and PIPELINING when asked and
 * missing (starttlsd queues pipelined commands itself). Continuation markers are
 * recomputed so the reply stays well-formed; the reply code is kept.
 */
#ifndef STARTTLSD_EHLO_H
#define STARTTLSD_EHLO_H

#include "buf.h"

struct ehlo_opts {
	int add_starttls;		/* append a STARTTLS line */
	int add_pipelining;		/* append PIPELINING if the backend lacks it (starttlsd emulates it) */
	const char *const *hide;	/* extra keywords to drop, NULL-ended; may be NULL */
};

/*
 * Rewrite the complete reply reply[0..len) (lines ending in LF) into out.
 * A reply whose code is not 250 is copied unchanged. Returns 0, or -1 if
 * the reply is malformed or memory is exhausted (out may hold a part).
 */
int ehlo_rewrite(const char *reply, size_t len, const struct ehlo_opts *opts, struct buf *out);

/*
 * Returns 1 if the 250 reply reply[0..len) advertises keyword (matched
 * case-insensitively on the first word of a line after the first), else 0.
 */
int ehlo_has(const char *reply, size_t len, const char *keyword);

/*
 * The EHLO reply starttlsd gives for a backend that knows only HELO
 * (RFC 821): "250-hostname", PIPELINING (emulated: the backend still gets
 * one command at a time) and, if add_starttls, STARTTLS. Nothing the
 * backend would have to implement. Returns 0 or -1 (out of memory).
 */
int ehlo_emulate(const char *hostname, int add_starttls, struct buf *out);

#endif
