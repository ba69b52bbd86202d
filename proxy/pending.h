/*
 * pending.h - the replies a session still owes its client, in order: one
 * entry per command forwarded to the backend (its reply will come from
 * there), and the text of each reply starttlsd makes itself while earlier
 * replies are still due (it must wait its turn). Pure: no I/O.
 *
 * This is what makes PIPELINING (RFC 2920) work through the proxy: replies
 * are matched to commands by position, and a reply of starttlsd's own is
 * never sent ahead of the backend's replies to earlier commands.
 */
#ifndef STARTTLSD_PENDING_H
#define STARTTLSD_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* What a queued entry is, so its reply can be handled. */
enum pend_kind {
	P_GREETING,	/* the backend's banner */
	P_EHLO,
	P_HELO,
	P_MAIL,
	P_RCPT,
	P_DATA,		/* the DATA command: 354 or refusal */
	P_DATA_END,	/* the end of message: final reply */
	P_AUTH,		/* stays queued across 334 continuations */
	P_RSET_INTERNAL,/* our own RSET after the handshake: reply swallowed */
	P_QUIT,
	P_XCLIENT,	/* our XCLIENT: its 220 is the greeting the client sees */
	P_HELO_FOR_EHLO,/* our HELO to an RFC 821 backend: its 250 lets us answer the client's EHLO */
	P_UPSTREAM,	/* a command of the preamble toward a TLS upstream (upstream.c) */
	P_OTHER,
	P_LOCAL,	/* a reply starttlsd makes itself (its text is kept) */
};

/* Flag or'ed into an entry's kind: the EHLO/HELO was sent after STARTTLS. */
#define PF_POST_TLS 0x80

/* Entries at most (the pipelining depth). */
#define PENDING_MAX 128

/* Longest text of a local reply, CRLF included. */
#define PENDING_LOCAL_MAX 512

struct pending {
	uint8_t kinds[PENDING_MAX];	/* ring of enum pend_kind, maybe | PF_POST_TLS */
	unsigned head;			/* index of the oldest entry */
	unsigned len;			/* entries queued */
	unsigned at_backend;		/* entries whose reply comes from the backend */
	struct buf locals;		/* each P_LOCAL's text: 2-byte length, then the bytes */
};

/* Queue a command whose reply the backend owes. Returns 0, or -1 if full. */
int pending_push(struct pending *q, unsigned kind);

/*
 * Queue a reply of starttlsd's own, text[0..n) (n <= PENDING_LOCAL_MAX).
 * Returns 0, or -1 if the queue is full or memory is exhausted.
 */
int pending_push_local(struct pending *q, const char *text, size_t n);

/* The oldest entry's kind (flags included); only when len > 0. */
unsigned pending_head(const struct pending *q);

/* Queue a backend-answered entry ahead of all others (its command is sent now, the backend idle). Returns 0 or -1. */
int pending_push_front(struct pending *q, unsigned kind);

/* Is an entry of this kind (without PF_POST_TLS) queued? */
int pending_has(const struct pending *q, unsigned kind);

/* The oldest entry's text when it is a P_LOCAL; *n gets its length. */
const char *pending_local(const struct pending *q, size_t *n);

/* Drop the oldest entry (and its text). */
void pending_pop(struct pending *q);

/* Free the texts' memory; the queue is then empty. Safe on a zeroed queue. */
void pending_free(struct pending *q);

#endif
