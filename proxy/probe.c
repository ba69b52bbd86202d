/* probe.c - health probe of a running instance; see probe.h. */
#include "probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The address a client on this host reaches a listener at. */
static struct sockaddr_storage
target_of(const struct sockaddr_storage *listen)
{
	struct sockaddr_storage t = *listen;
	struct sockaddr_in *sin = (struct sockaddr_in *)&t;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t;

	if (t.ss_family == AF_INET && sin->sin_addr.s_addr == htonl(INADDR_ANY))
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (t.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
		sin6->sin6_addr = in6addr_loopback;
	return t;
}

static int connect_to(const struct sockaddr_storage *a, int timeout_ms, const char **why);

/* Wait until fd is ready for events. Returns 0, or -1 on timeout or error. */
static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, timeout_ms) == 1 ? 0 : -1;
}

int
probe_connect(const struct sockaddr_storage *a, int timeout_ms, const char **why)
{
	int fd = connect_to(a, timeout_ms, why);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Connect without blocking past the timeout. Returns the socket or -1 (why set). */
static int
connect_to(const struct sockaddr_storage *a, int timeout_ms, const char **why)
{
	socklen_t len = a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd, err = 0;
	socklen_t el = sizeof(err);

	if ((fd = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)a, len) != 0 && errno != EINPROGRESS)
		err = errno;	/* NOLINT(bugprone-branch-clone): as getsockopt's failure, by intent */
	else if (wait_fd(fd, POLLOUT, timeout_ms) != 0)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err != 0) {
		*why = strerror(err);
		close(fd);
		return -1;
	}
	return fd;
}

/* Read the greeting's first line into line. Returns 0 if it is a 220. */
static int
read_greeting(int fd, char *line, size_t len, int timeout_ms)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < len && memchr(line, '\n', n) == NULL) {
		if (wait_fd(fd, POLLIN, timeout_ms) != 0 || (r = read(fd, line + n, len - 1 - n)) <= 0)
			break;
		n += (size_t)r;
	}
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	return strncmp(line, "220", 3) == 0 ? 0 : -1;
}

/* Probe one listener. Returns 0 if it answered. */
static int
probe_listener(const struct listener_conf *lc, int timeout_ms, FILE *out)
{
	struct sockaddr_storage t = target_of(&lc->listen);
	const char *why = NULL;
	char line[512] = "";
	int fd, rc = 0;

	if ((fd = connect_to(&t, timeout_ms, &why)) < 0) {
		fprintf(out, "listener %s %s: not accepting: %s\n", lc->name, lc->listen_str, why);
		return 1;
	}
	if (lc->tls == TLS_MODE_STARTTLS) {
		rc = read_greeting(fd, line, sizeof(line), timeout_ms);
		if (rc == 0 && write(fd, "QUIT\r\n", 6) < 0) {
			/* the greeting was the answer; QUIT is a courtesy */
		}
	}
	close(fd);
	if (rc != 0)
		fprintf(out, "listener %s %s: no greeting: \"%.80s\"\n", lc->name, lc->listen_str,
		    line[0] ? line : "(nothing)");
	else
		fprintf(out, "listener %s %s: ok%s%.80s\n", lc->name, lc->listen_str, line[0] ? ": " : "", line);
	return rc != 0;
}

int
probe_run(const struct config *cfg, int timeout_ms, FILE *out)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < cfg->nlisteners; i++)
		bad |= probe_listener(&cfg->listeners[i], timeout_ms, out);
	return bad;
}
