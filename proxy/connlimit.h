/*
 * connlimit.h - connection counts shared by all worker threads:
 * max_connections (all listeners) and max_connections_per_ip.
 */
#ifndef STARTTLSD_CONNLIMIT_H
#define STARTTLSD_CONNLIMIT_H

#include <sys/socket.h>

/*
 * Count a new connection from peer. Returns 0 if it is within both limits
 * (0 = no limit), else -1 with *why set ("max_connections" or
 * "max_connections_per_ip") and nothing counted.
 */
int connlimit_acquire(const struct sockaddr_storage *peer, unsigned per_ip_max, unsigned total_max,
    const char **why);

/* Forget a connection counted by connlimit_acquire(). */
void connlimit_release(const struct sockaddr_storage *peer);

/* Connections counted now (for logs and tests). */
unsigned connlimit_total(void);

#endif
