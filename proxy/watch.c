/* watch.c - reload on certificate changes; see watch.h. */
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"

#define MAX_FILES 64

struct watch {
	int fd;				/* the inotify instance */
	size_t n;
	struct {
		int wd;			/* watch on the file's directory */
		char *name;		/* the file's name in it */
	} files[MAX_FILES];
};

/* Watch the directory of path for changes to its name (and Kubernetes' "..data" swaps). */
static void
add(struct watch *w, const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t dl = slash == NULL || slash == path ? 1 : (size_t)(slash - path);

	if (w->n >= MAX_FILES || dl >= sizeof(dir))
		return;
	memcpy(dir, slash == NULL ? "." : path, dl);
	dir[dl] = '\0';
	w->files[w->n].wd = inotify_add_watch(w->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
	    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
	if (w->files[w->n].wd < 0) {
		log_event(LOG_WARN, "watch", "directory=%s error=\"%s\"", dir, strerror(errno));
		return;
	}
	if ((w->files[w->n].name = strdup(slash == NULL ? path : slash + 1)) != NULL)
		w->n++;
}

/* Each space-separated path of list. */
static void
add_list(struct watch *w, const char *list)
{
	char path[PATH_MAX];
	size_t n;

	while (list != NULL && *list != '\0') {
		while (*list == ' ' || *list == '\t')
			list++;
		for (n = 0; list[n] != '\0' && list[n] != ' ' && list[n] != '\t'; n++)
			;
		if (n > 0 && n < sizeof(path)) {
			memcpy(path, list, n);
			path[n] = '\0';
			add(w, path);
		}
		list += n;
	}
}

struct watch *
watch_new(const struct config *cfg)
{
	struct watch *w;
	size_t i;

	if (!cfg->tls.watch || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		log_event(LOG_WARN, "watch", "error=\"%s\"", strerror(errno));
		free(w);
		return NULL;
	}
	add_list(w, cfg->tls.certificate);
	add_list(w, cfg->tls.key);
	add_list(w, cfg->tls.ca_file);
	add_list(w, cfg->tls.ticket_key_file);
	for (i = 0; i < cfg->nnamed_tls; i++) {
		add_list(w, cfg->named_tls[i].certificate);
		add_list(w, cfg->named_tls[i].key);
	}
	return w;
}

int
watch_fd(const struct watch *w)
{
	return w != NULL ? w->fd : -1;
}

int
watch_changed(struct watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	size_t i;
	int changed = 0;

	while (w != NULL && (n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)p;
			for (i = 0; i < w->n; i++)
				if (ev->wd == w->files[i].wd && (ev->len == 0 || strcmp(ev->name, w->files[i].name) == 0 ||
				    strncmp(ev->name, "..", 2) == 0))
					changed = 1;
		}
	}
	return changed;
}

void
watch_free(struct watch *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		free(w->files[i].name);
	close(w->fd);
	free(w);
}
