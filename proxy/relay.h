/*
 * relay.h - the SMTP logic of one proxied session, between the client and
 * the legacy backend: it parses every command and every reply and makes
 * every SMTP decision (what is forwarded, refused or answered, the texts,
 * which deadline applies, when the session ends). It does no I/O: the
 * session feeds it bytes and events, and it acts through struct relay_io
 * (relay_state.h). commands.c, replies.c and relay_out.c hold its parts.
 */
#ifndef STARTTLSD_RELAY_H
#define STARTTLSD_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "relay_state.h"

/*
 * Start the SMTP state of a session on listener lc: the backend's greeting
 * is the first reply owed. who is the client (its address may be unknown),
 * peer its text form for logs (kept by pointer: it must outlive the relay).
 */
void relay_init(struct relay *r, const struct listener_conf *lc, const struct relay_io *io, void *ctx, uint64_t id,
    const struct identity *who, const char *peer);

/* Take as much of the client's plaintext in as the state allows (consumed from in). */
void relay_client_input(struct relay *r, struct buf *in);

/* The client's queue may have emptied: a final reply that left for the client is no longer unconfirmed. */
void relay_confirm_delivery(struct relay *r);

/* Is the relay streaming a message, taking whatever the client sends? */
int relay_streaming(const struct relay *r);

/* The client sent all it will (FIN or close_notify): finish what it asked for, then end. */
void relay_client_eof(struct relay *r, struct buf *in);

/* Take the complete replies in the backend's bytes in (consumed from in). */
void relay_backend_input(struct relay *r, struct buf *in);

/* The backend closed its connection (or it failed). */
void relay_backend_closed(struct relay *r);

/* No backend connection could be made (reason: backend_connect_failed or _timeout). */
void relay_backend_unavailable(struct relay *r, const char *reason);

/* The client's TLS handshake completed; version and cipher are static strings. */
void relay_tls_up(struct relay *r, const char *version, const char *cipher);

/* backend_tls: the TLS handshake with the upstream completed and verified (upstream.c). */
void relay_backend_tls_up(struct relay *r);

/* backend_tls: the TLS handshake with the upstream failed (why: for the log); the sender gets 421 4.7.0. */
void relay_backend_tls_failed(struct relay *r, const char *why);

/* The deadline the relay set expired; whole_session: it was session_timeout. */
void relay_timeout(struct relay *r, int whole_session);

/* starttlsd is shutting down and the drain time is over. */
void relay_shutdown(struct relay *r);

/* The client is not in the listener's allow list: 554 5.7.1 and the end (no backend connection was made). */
void relay_deny_client(struct relay *r);

/* Over a connection limit (why: max_connections or max_connections_per_ip). */
void relay_refuse_connection(struct relay *r, const char *why);

/*
 * The session is ending for its own reasons (reason, as its log says; with
 * graceful, queued output may still reach the client): do nothing more.
 * A message left in the duplicate window is logged (delivery_unconfirmed);
 * one inside DATA never completes: the backend connection is reset.
 */
void relay_stop(struct relay *r, const char *reason, int graceful);

/* Free what the relay holds; safe on a zeroed relay. */
void relay_free(struct relay *r);

#endif
