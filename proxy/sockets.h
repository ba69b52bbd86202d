/*
 * sockets.h - the listening sockets, bound by the master and kept across
 * reloads. Each listener has one socket per worker thread (SO_REUSEPORT:
 * the kernel spreads connections over them). A reload keeps the sockets of
 * addresses both configurations listen on, so no connection is refused
 * while the serving processes change over.
 */
#ifndef STARTTLSD_SOCKETS_H
#define STARTTLSD_SOCKETS_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* One bound and listening socket. */
struct socket_slot {
	struct sockaddr_storage addr;	/* what it is bound to */
	int worker;			/* the worker index it serves; -1: the metrics endpoint */
	int fd;
	int used;			/* wanted by the newest configuration */
};

struct sockets {
	struct socket_slot *v;
	size_t n;
};

/*
 * Make sure every listener of cfg has a listening socket for each of its
 * workers, and the metrics endpoint one if it is on, binding the missing
 * ones (and checking first that no other process holds a new address).
 * Fills fds (cfg->nlisteners * cfg->workers, listener-major) and
 * *metrics_fd (-1: off), and marks which slots cfg uses. Returns 0, or -1
 * with a message in err (the sockets it bound for cfg are closed again).
 */
int sockets_bind(struct sockets *t, const struct config *cfg, int *fds, int *metrics_fd, char *err, size_t errlen);

/* Close the sockets the newest configuration does not use. */
void sockets_prune(struct sockets *t);

/* Is fd one of the table's sockets? */
int sockets_has(const struct sockets *t, int fd);

/* Close them all and free the table. */
void sockets_free(struct sockets *t);

#endif
