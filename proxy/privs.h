/*
 * privs.h - dropping root: after the listening sockets are bound and the
 * keys are read, switch to [global] user/group and optionally chroot.
 */
#ifndef STARTTLSD_PRIVS_H
#define STARTTLSD_PRIVS_H

#include <stddef.h>

#include "config.h"

/*
 * Apply cfg's user, group and chroot. Started as root without user (and
 * without allow_root = yes), this refuses. Returns 0, or -1 with a message
 * in err.
 */
int privs_drop(const struct config *cfg, char *err, size_t errlen);

#endif
