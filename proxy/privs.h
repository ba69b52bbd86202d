/*
 * privs.h - dropping root: after the listening sockets are bound and the
 * keys are read, switch to [global] user/group and optionally chroot.
 */
#ifndef STARTTLSD_PRIVS_H
#define STARTTLSD_PRIVS_H

#include <stddef.h>

#include "config.h"

/*
 * Check that cfg's user, group and chroot exist, and (with running set:
 * about to serve, not just -t) that this process may apply them: root
 * without user is refused unless allow_root = yes. Returns 0, or -1 with
 * "FILE: message" in err.
 */
int privs_check(const struct config *cfg, int running, char *err, size_t errlen);

/*
 * Apply cfg's user, group and chroot. Started as root without user (and
 * without allow_root = yes), this refuses. Returns 0, or -1 with a message
 * in err.
 */
int privs_drop(const struct config *cfg, char *err, size_t errlen);

#endif
