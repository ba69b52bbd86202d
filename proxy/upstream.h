/*
 * upstream.h - the SMTP preamble toward a TLS upstream (backend_tls): a
 * legacy sender's session starts only once starttlsd has greeted the
 * upstream on its behalf, switched to TLS (STARTTLS, or implicit TLS done
 * by the session), said EHLO again and authenticated (backend_auth). The
 * sender then sees the upstream's greeting; until then its input waits.
 * Any failure is a 421 4.7.0 to the sender and a log line: never a
 * plaintext fallback. Part of the relay: no I/O of its own.
 */
#ifndef STARTTLSD_UPSTREAM_H
#define STARTTLSD_UPSTREAM_H

#include <stddef.h>

#include "relay_state.h"

/* Is the preamble running (the sender's input waits)? */
int upstream_active(const struct relay *r);

/* The upstream's greeting (P_GREETING on a backend_tls listener): the preamble starts. */
void upstream_greeting(struct relay *r, int code, const char *p, size_t n);

/* A reply to one of the preamble's commands (P_UPSTREAM). */
void upstream_reply(struct relay *r, int code, const char *p, size_t n);

/* The TLS handshake toward the upstream completed: EHLO over TLS. */
void upstream_tls_up(struct relay *r);

/* It failed (why: the verification or TLS error): 421 to the sender. */
void upstream_tls_failed(struct relay *r, const char *why);

#endif
