/*
 * relay_out.h - everything the relay says: bytes to either side, replies
 * of starttlsd's own kept in order behind the backend's, refusals counted
 * against the error budget, and the ways a session ends.
 */
#ifndef STARTTLSD_RELAY_OUT_H
#define STARTTLSD_RELAY_OUT_H

#include <stddef.h>

#include "relay_state.h"

/* The name of a relay state, for logs. */
const char *relay_strstate(enum relay_state st);

/*
 * The 2xx final reply p[0..n) of a message went into the client's queue:
 * until it has left this host (written from that queue, and sent by the
 * kernel, not held behind the client's closed window), the message counts
 * as unconfirmed (logged as event=delivery_unconfirmed if the session
 * breaks first).
 */
void relay_await_delivery(struct relay *r, const char *p, size_t n);

/*
 * The session ends: settle the last message. One whose end of data the
 * backend has, but whose final reply the client has not (it is still owed,
 * or never sent, here or in the kernel), is in the duplicate window of RFC 1047: the backend may
 * hold it while the client will send it again: logged as
 * event=delivery_unconfirmed. One whose end of data has not left this host
 * yet (queued here or in the kernel) never reaches the backend: its
 * connection is reset (never a FIN after a part of a message), and nothing
 * is logged.
 */
void relay_settle(struct relay *r, const char *reason, int graceful);

/* Has the last final reply left for the client? Then it is forgotten (no longer unconfirmed). */
void relay_delivery_check(struct relay *r);

/* Bytes for the client (a reply, relayed or our own). */
void relay_send_client(struct relay *r, const char *p, size_t n);

/* A line for the backend, with a clean CRLF. */
void relay_send_line(struct relay *r, const char *line, size_t len);

/* Forward a command line and remember what it was, to handle its reply. */
void relay_forward(struct relay *r, const char *line, size_t len, unsigned kind);

/*
 * A reply starttlsd makes itself (CRLF added): out at once if nothing is
 * owed to the client, else queued behind the replies that are. A 421 ends
 * the session once sent.
 */
void relay_local(struct relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Send the replies of our own that have reached the head of the queue. */
void relay_flush_locals(struct relay *r);

/*
 * A command starttlsd refuses: relay_local(), counted against max_errors.
 * Past the budget the session ends with a 421 after this reply.
 */
void relay_refuse(struct relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Queue "421 STATUS HOSTNAME TEXT" (in order) and read no more commands;
 * the session ends once it is sent.
 */
void relay_close(struct relay *r, const char *reason, const char *status, const char *text);

/*
 * Out of turn: "421 STATUS HOSTNAME TEXT" to the client now, the backend dropped, the session
 * ended. For what leaves nothing to wait for (timeouts, a broken backend).
 */
void relay_abort(struct relay *r, const char *reason, const char *status, const char *text);

/*
 * Stop relaying: settle the last message; inside a message reset the
 * backend connection first, so the part it has can never become a message
 * (and count the message aborted). The session is not told (relay_stop()).
 */
void relay_finish(struct relay *r, const char *reason, int graceful);

/* relay_finish(), then end the session. */
void relay_end(struct relay *r, const char *reason, int graceful);

/* Tell the session something to count (io->note), if it listens. */
void relay_note(struct relay *r, enum relay_note what, uint64_t n);

/* Replace *dst with a copy of p[0..n), cut at 255 bytes (NULL if out of memory). */
void relay_keep(char **dst, const char *p, size_t n);

/* Forget the envelope of the current transaction. */
void relay_reset_transaction(struct relay *r);

#endif
