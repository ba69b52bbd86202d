/*
 * watch.h - [tls] watch = yes: notice when a certificate, key, CA or
 * ticket key file of the configuration changes, so the master reloads by
 * itself. Directories are watched (inotify), not the files: ACME clients
 * and Kubernetes Secret volumes replace files by renaming or by swapping a
 * symlink ("..data").
 */
#ifndef STARTTLSD_WATCH_H
#define STARTTLSD_WATCH_H

#include "config.h"

struct watch;

/* Start watching cfg's TLS files; NULL when cfg does not ask for it (or on failure, logged). */
struct watch *watch_new(const struct config *cfg);

/* The descriptor to poll for reading, or -1 (w NULL). */
int watch_fd(const struct watch *w);

/* Read what happened; returns 1 if a watched file may have changed. */
int watch_changed(struct watch *w);

/* Stop watching; NULL is a no-op. */
void watch_free(struct watch *w);

#endif
