/*
 * delay-relay - a TCP relay that adds a fixed one-way delay in each
 * direction: a WAN round trip emulated on loopback, for benchmarks where
 * `tc qdisc ... netem` is not available (no sch_netem in the kernel).
 *
 *   delay-relay --listen ADDR:PORT --connect ADDR:PORT --delay MS [--rt] [--quiet]
 *
 * Every chunk read from one side is written to the other side at
 * (the time it was read + MS), in order, as its own write(2): nothing is
 * merged or split, nothing waits for anything but its own due time, so a
 * client that sends three commands in one write gets them delivered in one
 * write MS later, and one that sends them one by one gets each MS later.
 * A round trip through the relay therefore costs 2 x MS plus whatever the
 * far side takes.
 *
 * The TCP handshake is emulated too, as far as a relay can: the client's
 * connect() completes at once on loopback, so the relay connects to the
 * far side only MS after the accept (the SYN's way there), and the client's
 * first bytes are never delivered before accept + 3 x MS (when they would
 * have arrived had the client waited the SYN-ACK's way back before sending:
 * accept + 2 x MS, plus their own MS). So a server that speaks first (an
 * SMTP greeting) is heard at accept + 2 x MS and a client that speaks first
 * (a TLS ClientHello) is heard at accept + 3 x MS, as on a real link with
 * that round trip. Only the client's own view of its connect() is early.
 *
 * An end of stream (FIN) travels the same way, after the data before it.
 * A reset or error on one side closes both at once.
 *
 * Timing: one thread, epoll, and one timerfd armed at the earliest due time
 * (CLOCK_MONOTONIC, nanoseconds, absolute), so a chunk is written when its
 * time comes, not at the next millisecond tick; the timer slack is set to
 * 1 ns. --rt asks for SCHED_FIFO priority 1 (root), so other work on the
 * machine does not delay its wake-ups (it sleeps in epoll_wait otherwise:
 * a few microseconds of CPU per chunk). The relay measures how late
 * each write was against its due time; SIGUSR1 prints a line of statistics
 * on stderr (and SIGTERM/SIGINT print it and exit 0):
 *
 *   delay-relay: stats conns=N chunks=N bytes=N late_p50_us=X late_p99_us=X late_max_us=X
 *
 * Flow control: while more than 8 MiB from one side is in flight (waiting
 * for its due time or for the other side to take it), that side is not read.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX	(64 * 1024)
#define INFLIGHT_MAX	(8 * 1024 * 1024)
#define LATE_BUCKETS	20000		/* lateness histogram, 1 us per bucket */

enum ev_kind { EV_DATA, EV_EOF, EV_CONNECT };

struct pair;

/* One chunk (or FIN, or the delayed connect) waiting for its due time, then
 * waiting in the destination's output queue. */
struct ev {
	uint64_t due;		/* ns, CLOCK_MONOTONIC */
	uint64_t seq;		/* ties keep arrival order */
	struct pair *p;
	int dir;		/* destination: 0 = the server side, 1 = the client side */
	enum ev_kind kind;
	struct ev *next;	/* in the output queue */
	size_t len, off;
	char data[];
};

struct side {
	int fd;
	int reading;		/* EPOLLIN wanted (flow control) */
	int read_eof;		/* nothing more will be read from it */
	int wr_shut;		/* FIN sent to it */
	struct ev *oq, *oq_tail;	/* due, not yet written to it */
	size_t inflight;	/* bytes read from it, not yet written to the other side */
	uint32_t events;	/* registered epoll mask */
};

/* s[0] = the client (accepted), s[1] = the server (connected). Data read
 * from s[i] goes to s[i ^ 1]; an event's dir is the side it is written to. */
struct pair {
	struct side s[2];
	uint64_t t0;		/* accept */
	int connecting;		/* server connect in progress */
	int closed;
	unsigned refs;		/* events in the heap or in an output queue */
	struct pair *dead_next;	/* on the list freed after each epoll batch */
};

static int ep, tfd, lfd, quiet;
static uint64_t delay_ns;
static struct sockaddr_storage target;
static socklen_t target_len;

static struct ev **heap;
static size_t heap_n, heap_cap;
static uint64_t seq;

static struct pair *dead;	/* closed, no events left: freed after the batch */

static unsigned long long n_conns, n_chunks, n_bytes;
static unsigned long long late_hist[LATE_BUCKETS + 1];
static unsigned long long late_max_ns;
static volatile sig_atomic_t got_usr1, got_term;

/* Tags for epoll data: pointers to these identify the fd. */
struct tag { struct pair *p; int side; };

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- heap of due events ------------------------------------------------- */

static int
ev_less(const struct ev *a, const struct ev *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
heap_push(struct ev *e)
{
	size_t i;

	if (heap_n == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		if ((heap = realloc(heap, heap_cap * sizeof(*heap))) == NULL) {
			fprintf(stderr, "delay-relay: out of memory\n");
			exit(1);
		}
	}
	i = heap_n++;
	while (i > 0 && ev_less(e, heap[(i - 1) / 2])) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = e;
}

static struct ev *
heap_pop(void)
{
	struct ev *top = heap[0], *last = heap[--heap_n];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l >= heap_n)
			break;
		m = l;
		if (l + 1 < heap_n && ev_less(heap[l + 1], heap[l]))
			m = l + 1;
		if (!ev_less(heap[m], last))
			break;
		heap[i] = heap[m];
		i = m;
	}
	if (heap_n > 0)
		heap[i] = last;
	return top;
}

static void
arm_timer(void)
{
	struct itimerspec it;

	memset(&it, 0, sizeof(it));
	if (heap_n > 0) {
		uint64_t d = heap[0]->due;

		if (d == 0)
			d = 1;		/* 0 would disarm */
		it.it_value.tv_sec = (time_t)(d / 1000000000ull);
		it.it_value.tv_nsec = (long)(d % 1000000000ull);
	}
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL);
}

/* ---- connections -------------------------------------------------------- */

static struct tag *
tag_of(struct pair *p, int side)
{
	/* Two tags per pair, allocated with it (see pair_new). */
	return (struct tag *)(p + 1) + side;
}

static void
update_events(struct pair *p, int i)
{
	struct side *s = &p->s[i];
	struct epoll_event e;
	uint32_t want = 0;

	if (s->fd < 0 || p->closed)
		return;
	if (s->read_eof && s->wr_shut) {	/* done both ways: EPOLLHUP cannot be masked */
		if (s->events != UINT32_MAX)
			epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		s->events = UINT32_MAX;
		return;
	}
	if (s->reading && !s->read_eof)
		want |= EPOLLIN;
	if (s->oq != NULL || (i == 1 && p->connecting))
		want |= EPOLLOUT;
	if (want == s->events)
		return;
	memset(&e, 0, sizeof(e));
	e.events = want;
	e.data.ptr = tag_of(p, i);
	epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e);
	s->events = want;
}

/* Freed only between epoll batches: a batch may still hold its tags. */
static void
pair_free_if_done(struct pair *p)
{
	if (p->closed && p->refs == 0 && p->dead_next == NULL) {
		p->dead_next = dead != NULL ? dead : p;	/* non-NULL marks "listed" */
		dead = p;
	}
}

static void
free_dead(void)
{
	while (dead != NULL) {
		struct pair *p = dead;

		dead = p->dead_next == p ? NULL : p->dead_next;
		free(p);
	}
}

static void
pair_close(struct pair *p)
{
	int i;

	if (p->closed)
		return;
	for (i = 0; i < 2; i++) {
		struct ev *e, *next;

		for (e = p->s[i].oq; e != NULL; e = next) {
			next = e->next;
			free(e);
			p->refs--;
		}
		p->s[i].oq = p->s[i].oq_tail = NULL;
		if (p->s[i].fd >= 0) {
			if (p->s[i].events != UINT32_MAX)
				epoll_ctl(ep, EPOLL_CTL_DEL, p->s[i].fd, NULL);
			close(p->s[i].fd);
			p->s[i].fd = -1;
		}
	}
	p->closed = 1;
	pair_free_if_done(p);
}

static void
maybe_finished(struct pair *p)
{
	if (p->s[0].wr_shut && p->s[1].wr_shut)
		pair_close(p);
}

static void
note_late(uint64_t due, uint64_t now)
{
	uint64_t late = now > due ? now - due : 0, us = late / 1000;

	late_hist[us < LATE_BUCKETS ? us : LATE_BUCKETS]++;
	if (late > late_max_ns)
		late_max_ns = late;
}

/* Write what is due to side i, in order; FIN after the data before it. */
static void
flush_side(struct pair *p, int i)
{
	struct side *s = &p->s[i], *from = &p->s[i ^ 1];

	if (p->closed || (i == 1 && p->connecting))
		return;
	while (s->oq != NULL) {
		struct ev *e = s->oq;

		if (e->kind == EV_EOF) {
			shutdown(s->fd, SHUT_WR);
			s->wr_shut = 1;
		} else {
			ssize_t r = write(s->fd, e->data + e->off, e->len - e->off);

			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (r < 0) {
				pair_close(p);
				return;
			}
			e->off += (size_t)r;
			if (e->off < e->len)
				break;
			from->inflight -= e->len;
			if (!from->reading && from->inflight < INFLIGHT_MAX / 2) {
				from->reading = 1;
				update_events(p, i ^ 1);
			}
		}
		s->oq = e->next;
		if (s->oq == NULL)
			s->oq_tail = NULL;
		free(e);
		p->refs--;
	}
	update_events(p, i);
	maybe_finished(p);
}

static void
server_connect(struct pair *p)
{
	int fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct epoll_event e;

	if (fd < 0) {
		pair_close(p);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&target, target_len) < 0 && errno != EINPROGRESS) {
		close(fd);
		pair_close(p);
		return;
	}
	p->s[1].fd = fd;
	p->connecting = 1;
	memset(&e, 0, sizeof(e));
	e.events = EPOLLOUT;
	e.data.ptr = tag_of(p, 1);
	p->s[1].events = EPOLLOUT;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void
connected(struct pair *p)
{
	int err = 0;
	socklen_t l = sizeof(err);

	getsockopt(p->s[1].fd, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err != 0) {
		pair_close(p);		/* the client sees its connection closed */
		return;
	}
	p->connecting = 0;
	p->s[1].reading = 1;
	update_events(p, 1);
	flush_side(p, 1);
}

static struct ev *
ev_new(struct pair *p, enum ev_kind kind, int dir, uint64_t due, size_t len)
{
	struct ev *e = malloc(sizeof(*e) + len);

	if (e == NULL) {
		fprintf(stderr, "delay-relay: out of memory\n");
		exit(1);
	}
	memset(e, 0, sizeof(*e));
	e->due = due;
	e->seq = seq++;
	e->p = p;
	e->dir = dir;
	e->kind = kind;
	e->len = len;
	p->refs++;
	heap_push(e);
	return e;
}

/* When a chunk read now from side i is due at the other side. */
static uint64_t
due_for(struct pair *p, int i, uint64_t now)
{
	if (i == 0 && now < p->t0 + 2 * delay_ns)
		now = p->t0 + 2 * delay_ns;	/* the client could not have sent before its SYN-ACK */
	return now + delay_ns;
}

static void
read_side(struct pair *p, int i)
{
	static char buf[READ_MAX];
	struct side *s = &p->s[i];
	uint64_t now;
	ssize_t r;

	if (s->read_eof)
		return;
	r = read(s->fd, buf, sizeof(buf));
	now = now_ns();
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r < 0) {
		pair_close(p);		/* a reset: both go at once */
		return;
	}
	if (r == 0) {
		s->read_eof = 1;
		update_events(p, i);
		ev_new(p, EV_EOF, i ^ 1, due_for(p, i, now), 0);
		arm_timer();
		return;
	}
	memcpy(ev_new(p, EV_DATA, i ^ 1, due_for(p, i, now), (size_t)r)->data, buf, (size_t)r);
	s->inflight += (size_t)r;
	n_chunks++;
	n_bytes += (unsigned long long)r;
	if (s->inflight > INFLIGHT_MAX) {
		s->reading = 0;
		update_events(p, i);
	}
	arm_timer();
}

static void
on_accept(void)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct pair *p;
		struct epoll_event e;

		if (fd < 0)
			return;
		if ((p = calloc(1, sizeof(*p) + 2 * sizeof(struct tag))) == NULL) {
			close(fd);
			return;
		}
		tag_of(p, 0)->p = tag_of(p, 1)->p = p;
		tag_of(p, 0)->side = 0;
		tag_of(p, 1)->side = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		p->t0 = now_ns();
		p->s[0].fd = fd;
		p->s[0].reading = 1;
		p->s[1].fd = -1;
		p->connecting = 1;	/* not yet even started: no writes to side 1 */
		memset(&e, 0, sizeof(e));
		e.events = EPOLLIN;
		e.data.ptr = tag_of(p, 0);
		p->s[0].events = EPOLLIN;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
		ev_new(p, EV_CONNECT, 1, p->t0 + delay_ns, 0);	/* the SYN's way */
		arm_timer();
		n_conns++;
	}
}

static void
on_timer(void)
{
	uint64_t exp, now = now_ns();

	if (read(tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
		return;
	while (heap_n > 0 && heap[0]->due <= now) {
		struct ev *e = heap_pop();
		struct pair *p = e->p;
		struct side *s = &p->s[e->dir];

		note_late(e->due, now_ns());
		if (p->closed) {
			free(e);
			p->refs--;
			pair_free_if_done(p);
			continue;
		}
		if (e->kind == EV_CONNECT) {
			free(e);
			p->refs--;
			server_connect(p);
			continue;
		}
		e->next = NULL;
		if (s->oq_tail != NULL)
			s->oq_tail->next = e;
		else
			s->oq = e;
		s->oq_tail = e;
		flush_side(p, e->dir);
		now = now_ns();
	}
	arm_timer();
}

static double
late_pct(double pc)
{
	unsigned long long total = 0, acc = 0, want;
	size_t i;

	for (i = 0; i <= LATE_BUCKETS; i++)
		total += late_hist[i];
	if (total == 0)
		return 0;
	want = (unsigned long long)(pc / 100.0 * (double)total + 0.999999);
	for (i = 0; i <= LATE_BUCKETS; i++) {
		acc += late_hist[i];
		if (acc >= want)
			return (double)i;
	}
	return (double)LATE_BUCKETS;
}

static void
print_stats(void)
{
	fprintf(stderr, "delay-relay: stats conns=%llu chunks=%llu bytes=%llu late_p50_us=%.0f late_p99_us=%.0f "
	    "late_max_us=%.0f\n", n_conns, n_chunks, n_bytes, late_pct(50), late_pct(99),
	    (double)late_max_ns / 1000.0);
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

/* "1.2.3.4:25" or "[::1]:25" */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	int port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = atoi(colon + 1);
	if (port <= 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
	}
}

__attribute__((noreturn))
static void
usage(void)
{
	fprintf(stderr, "usage: delay-relay --listen ADDR:PORT --connect ADDR:PORT --delay MS [--rt] [--quiet]\n"
	    "  every chunk is forwarded MS milliseconds (one way) after it was read;\n"
	    "  --rt: run as SCHED_FIFO priority 1 (needs root; a warning if refused)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage la;
	socklen_t la_len;
	const char *listen_arg = NULL, *connect_arg = NULL;
	double ms = -1;
	struct epoll_event e, evs[256];
	struct sigaction sa;
	struct rlimit rl;
	int i, one = 1, rt = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen_arg = argv[++i];
		else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc)
			connect_arg = argv[++i];
		else if (strcmp(argv[i], "--delay") == 0 && i + 1 < argc)
			ms = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else if (strcmp(argv[i], "--rt") == 0)
			rt = 1;
		else
			usage();
	}
	if (listen_arg == NULL || connect_arg == NULL || !(ms >= 0) || ms > 60000 ||
	    parse_addr(listen_arg, &la, &la_len) < 0 || parse_addr(connect_arg, &target, &target_len) < 0)
		usage();
	delay_ns = (uint64_t)(ms * 1e6);
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	if (rt) {
		struct sched_param sp = { .sched_priority = 1 };

		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
			fprintf(stderr, "delay-relay: warning: SCHED_FIFO refused (%s); going on\n", strerror(errno));
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {	/* two descriptors per connection */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	if ((lfd = socket(la.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&la, la_len) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "delay-relay: cannot listen on %s: %s\n", listen_arg, strerror(errno));
		return 1;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
		fprintf(stderr, "delay-relay: %s\n", strerror(errno));
		return 1;
	}
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = &lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	e.data.ptr = &tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e);
	if (!quiet)
		fprintf(stderr, "delay-relay: %s -> %s, %.3f ms each way%s\n", listen_arg, connect_arg, ms,
		    rt ? ", SCHED_FIFO" : "");

	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (got_usr1) {
			got_usr1 = 0;
			print_stats();
		}
		if (got_term) {
			print_stats();
			return 0;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "delay-relay: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		/* The timer first: what is due goes out before new reads queue
		 * behind it (their due times are later anyway). */
		for (i = 0; i < n; i++)
			if (evs[i].data.ptr == &tfd)
				on_timer();
		for (i = 0; i < n; i++) {
			struct tag *t;
			struct pair *p;

			if (evs[i].data.ptr == &tfd)
				continue;
			if (evs[i].data.ptr == &lfd) {
				on_accept();
				continue;
			}
			t = evs[i].data.ptr;
			p = t->p;
			/* A pair closed earlier in this batch: still allocated
			 * (freed by free_dead() after the batch), deregistered. */
			if (p->closed)
				continue;
			if ((evs[i].events & EPOLLERR) && !(t->side == 1 && p->connecting)) {
				pair_close(p);	/* a reset: both sides go at once */
				continue;
			}
			if (t->side == 1 && p->connecting && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				connected(p);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				read_side(p, t->side);
			if (!p->closed && (evs[i].events & EPOLLOUT))
				flush_side(p, t->side);
		}
		free_dead();
	}
}
