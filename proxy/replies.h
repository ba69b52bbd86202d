/*
 * replies.h - the backend's replies, each matched to the command it
 * answers (the head of the pending queue) and handled as that command
 * needs: EHLO rewritten, 354 starting a message, AUTH continuations, the
 * greeting held for XCLIENT. A reply nobody asked for, or a 3xx that
 * answers the wrong command, is a backend protocol error.
 */
#ifndef STARTTLSD_REPLIES_H
#define STARTTLSD_REPLIES_H

#include <stddef.h>

#include "relay_state.h"

/* Handle one complete reply p[0..n) with the given code. */
void replies_handle(struct relay *r, int code, const char *p, size_t n);

#endif
