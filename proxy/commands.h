/*
 * commands.h - the client's commands: a table pairing each verb starttlsd
 * lets through with its checks and its action. Anything not in the table
 * is refused and never reaches the legacy backend.
 */
#ifndef STARTTLSD_COMMANDS_H
#define STARTTLSD_COMMANDS_H

#include <stddef.h>

#include "relay_state.h"

/* Handle one complete command line, given without its line terminator. */
void commands_handle(struct relay *r, const char *line, size_t len);

#endif
