/*
 * smtp-sink - a fast plaintext SMTP server that accepts and discards mail,
 * the backend for benchmarks (one libuv loop, one thread).
 *
 *   smtp-sink --listen 127.0.0.1:PORT [--no-pipelining | --helo-only] [--quiet]
 *
 * It prints "smtp-sink: listening on ADDR:PORT" on stderr once it accepts
 * connections, and totals on SIGINT/SIGTERM, then exits 0. SIGUSR1 prints
 * one line of totals on stderr (even with --quiet) and goes on:
 *
 *   smtp-sink: stats conns=N msgs=N bytes=N early_reads=N early_bytes=N
 *
 * Protocol: "220" greeting; EHLO answers PIPELINING, 8BITMIME and SIZE (any
 * number of EHLO/HELO, each resets the transaction); MAIL, RCPT, DATA with the
 * usual sequence checks (503 when out of order); RSET, NOOP, QUIT; anything
 * else gets 502. Message content is scanned for CRLF.CRLF with memmem() and
 * thrown away, then answered 250. Pipelining: every complete line in what
 * was read is handled in order, and the replies of one read go out in one
 * write. Command lines longer than 1000 bytes get 500.
 *
 * Memory per connection is a fixed struct of about 1.3 KB (the read and
 * reply buffers are shared). A client that pipelines without reading its
 * replies is paused once 1 MiB of replies are queued.
 *
 * --no-pipelining: an old MTA that does not do RFC 2920. EHLO does not
 * announce PIPELINING, and input that arrives before the reply to the
 * command before it is thrown away unanswered, as a server that reads one
 * command, answers it and flushes its input would: whatever follows a
 * complete command line (or the end of a message's data) in the same read
 * was sent before its sender could have seen the reply. Such reads are
 * counted (early_reads, early_bytes in the stats line): a proxy that feeds
 * this backend one command at a time leaves both at 0, and one that
 * pipelines into it gets no reply to what it pipelined (its client times
 * out). --helo-only: the same, and EHLO is refused with 500 as an RFC 821
 * server would: only HELO works.
 */
#define _GNU_SOURCE		/* memmem */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include <uv.h>

#define MAX_LINE	1000		/* RFC 5321 4.5.3.1.6: 1000 with CRLF */
#define OUT_HIGH	(1024 * 1024)	/* stop reading above this many queued reply bytes */
#define OUT_LOW		(64 * 1024)	/* and resume below this */
#define MAX_SIZE	104857600	/* the SIZE we announce */

enum cstate { C_CMD, C_DATA, C_QUIT };

struct sconn {
	uv_tcp_t tcp;
	uv_shutdown_t shutdown_req;
	enum cstate st;
	int mail, rcpts;	/* transaction state */
	int paused;		/* reading stopped for backpressure */
	int closing;
	char line[MAX_LINE];	/* an incomplete command line */
	size_t line_len;
	int too_long;		/* the current line overflowed; discard to LF */
	char tail[4];		/* DATA: the last bytes seen, for a split CRLF.CRLF */
	size_t tail_len;
};

struct wreq {
	uv_write_t req;
	char data[];
};

static uv_loop_t *loop;
/* One thread, so one read buffer and one reply buffer serve every
 * connection: input() handles all it was given and flush()es the replies
 * (to the kernel, or into a queued copy) before it returns. */
static char read_buf[256 * 1024];
static char out[4096];
static size_t out_len;
static unsigned long long n_conns, n_active, n_msgs, n_bytes, n_early_reads, n_early_bytes;
static int quiet;
static int no_pipelining;	/* --no-pipelining or --helo-only */
static int helo_only;		/* --helo-only */

/* ---- output ------------------------------------------------------------- */

static void sconn_close(struct sconn *c);

static void
on_closed(uv_handle_t *h)
{
	free(h->data);
	n_active--;
}

static void
sconn_close(struct sconn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status;
	sconn_close(req->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void
on_write(uv_write_t *req, int status)
{
	struct sconn *c = req->data;

	free(req);
	if (status < 0 || c->closing)
		return;
	if (c->paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < OUT_LOW) {
		c->paused = 0;
		uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	}
}

/* Send the replies gathered in out[] for c: uv_try_write, queue the rest. */
static void
flush(struct sconn *c)
{
	uv_buf_t b = uv_buf_init(out, (unsigned)out_len);
	const char *p = out;
	size_t n = out_len;
	struct wreq *w;
	int r;

	out_len = 0;
	if (n == 0 || c->closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
		r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (r < 0 && r != UV_EAGAIN) {
			sconn_close(c);
			return;
		}
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		}
	}
	if (n > 0) {
		if ((w = malloc(sizeof(*w) + n)) == NULL) {
			sconn_close(c);
			return;
		}
		memcpy(w->data, p, n);
		w->req.data = c;
		b = uv_buf_init(w->data, (unsigned)n);
		if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
			free(w);
			sconn_close(c);
			return;
		}
	}
	if (!c->paused && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > OUT_HIGH) {
		c->paused = 1;		/* a pipelining client that does not read */
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
}

/* Queue a reply line (CRLF added); flush first if the buffer is full. */
__attribute__((format(printf, 2, 3)))
static void
reply(struct sconn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (out_len + 512 > sizeof(out))
		flush(c);
	va_start(ap, fmt);
	n = vsnprintf(out + out_len, sizeof(out) - out_len - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(out) - out_len - 3)
		n = (int)(sizeof(out) - out_len - 3);
	out_len += (size_t)n;
	memcpy(out + out_len, "\r\n", 2);
	out_len += 2;
}

/* ---- SMTP --------------------------------------------------------------- */

static int
verb(const char *line, size_t len, const char *v)
{
	return len >= 4 && strncasecmp(line, v, 4) == 0 && (len == 4 || line[4] == ' ');
}

/* One command line, CRLF (or LF) stripped. */
static void
command(struct sconn *c, const char *s, size_t len)
{
	if (verb(s, len, "EHLO") && helo_only) {
		reply(c, "500 Syntax error, command unrecognized");
	} else if (verb(s, len, "EHLO")) {
		c->mail = c->rcpts = 0;
		reply(c, "250-sink.invalid Hello");
		if (!no_pipelining)
			reply(c, "250-PIPELINING");
		reply(c, "250-8BITMIME");
		reply(c, "250 SIZE %d", MAX_SIZE);
	} else if (verb(s, len, "HELO")) {
		c->mail = c->rcpts = 0;
		reply(c, "250 sink.invalid");
	} else if (verb(s, len, "MAIL")) {
		if (c->mail) {
			reply(c, "503 5.5.1 Error: nested MAIL command");
		} else {
			c->mail = 1;
			reply(c, "250 2.1.0 Ok");
		}
	} else if (verb(s, len, "RCPT")) {
		if (!c->mail) {
			reply(c, "503 5.5.1 Error: need MAIL command");
		} else {
			c->rcpts++;
			reply(c, "250 2.1.5 Ok");
		}
	} else if (verb(s, len, "DATA")) {
		if (!c->rcpts) {
			reply(c, "503 5.5.1 Error: need RCPT command");
		} else {
			reply(c, "354 End data with <CR><LF>.<CR><LF>");
			c->st = C_DATA;
			memcpy(c->tail, "\r\n", 2);	/* ".\r\n" at once ends it */
			c->tail_len = 2;
		}
	} else if (verb(s, len, "RSET")) {
		c->mail = c->rcpts = 0;
		reply(c, "250 2.0.0 Ok");
	} else if (verb(s, len, "NOOP")) {
		reply(c, "250 2.0.0 Ok");
	} else if (verb(s, len, "QUIT")) {
		reply(c, "221 2.0.0 Bye");
		c->st = C_QUIT;
	} else {
		reply(c, "502 5.5.2 Error: command not recognized");
	}
}

/* Message content: look for CRLF.CRLF, also across reads. Returns how many
 * bytes of p belong to the message (all of n if its end is not there). */
static size_t
data(struct sconn *c, const char *p, size_t n)
{
	static const char end[] = "\r\n.\r\n";
	char win[8];
	size_t k = c->tail_len, m = n < 4 ? n : 4, used;
	const char *hit;

	/* An end marker that straddles the previous read and this one. The
	 * tail is at most 4 bytes, so any match here uses bytes of p. */
	memcpy(win, c->tail, k);
	memcpy(win + k, p, m);
	if ((hit = memmem(win, k + m, end, 5)) != NULL) {
		used = (size_t)(hit - win) + 5 - k;
	} else if ((hit = memmem(p, n, end, 5)) != NULL) {
		used = (size_t)(hit - p) + 5;
	} else {
		/* Keep the last 4 bytes of the stream for next time. */
		if (n >= 4) {
			memcpy(c->tail, p + n - 4, 4);
			c->tail_len = 4;
		} else {
			size_t keep = k + n > 4 ? 4 - n : k;
			memmove(c->tail, c->tail + k - keep, keep);
			memcpy(c->tail + keep, p, n);
			c->tail_len = keep + n;
		}
		n_bytes += n;
		return n;
	}
	n_bytes += used;
	n_msgs++;
	c->st = C_CMD;
	c->mail = c->rcpts = 0;
	reply(c, "250 2.0.0 Ok: queued as %llX", n_msgs);
	return used;
}

/* --no-pipelining: n bytes came in the same read as a command (or end of
 * data) that is only being answered now: their sender did not wait for the
 * reply. They are dropped, as an RFC 821 server flushing its input would. */
static void
early(struct sconn *c, size_t n)
{
	n_early_reads++;
	n_early_bytes += n;
	c->line_len = 0;
	c->too_long = 0;
	if (!quiet && n_early_reads <= 3)
		fprintf(stderr, "smtp-sink: %zu bytes sent before the reply they should have waited for: "
		    "dropped (--no-pipelining)\n", n);
}

/* Everything one read brought, in order: content and command lines. */
static void
input(struct sconn *c, const char *p, size_t n)
{
	while (n > 0 && c->st != C_QUIT) {
		const char *lf;
		size_t take;

		if (c->st == C_DATA) {
			take = data(c, p, n);
			p += take;
			n -= take;
			if (no_pipelining && c->st == C_CMD && n > 0) {
				early(c, n);
				break;
			}
			continue;
		}
		lf = memchr(p, '\n', n);
		take = lf != NULL ? (size_t)(lf - p) + 1 : n;
		if (c->too_long || c->line_len + take > sizeof(c->line)) {
			c->too_long = 1;	/* drop the line, answer at its end */
			c->line_len = 0;
		} else {
			memcpy(c->line + c->line_len, p, take);
			c->line_len += take;
		}
		p += take;
		n -= take;
		if (lf == NULL)
			break;
		if (c->too_long) {
			reply(c, "500 5.5.2 Error: line too long");
			c->too_long = 0;
		} else {
			size_t len = c->line_len - 1;	/* without LF */
			if (len > 0 && c->line[len - 1] == '\r')
				len--;
			command(c, c->line, len);
		}
		c->line_len = 0;
		if (no_pipelining && n > 0 && c->st != C_QUIT) {
			early(c, n);
			break;
		}
	}
	flush(c);
	if (c->st == C_QUIT && !c->closing) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->shutdown_req.data = c;
		if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
			sconn_close(c);
	}
}

/* ---- events ------------------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sconn *c = s->data;

	if (nread < 0) {
		/* The client is done (an open transaction is dropped). After EOF,
		 * replies still queued go out first; after an error, close now. */
		if (nread == UV_EOF && !c->closing && c->st != C_QUIT) {
			c->st = C_QUIT;
			uv_read_stop(s);
			c->shutdown_req.data = c;
			if (uv_shutdown(&c->shutdown_req, s, on_shutdown) == 0)
				return;
		}
		sconn_close(c);
		return;
	}
	if (nread > 0 && !c->closing)
		input(c, buf->base, (size_t)nread);
}

static void
on_connection(uv_stream_t *server, int status)
{
	static int warned;
	struct sconn *c;

	if (status < 0) {
		if (!warned++)
			fprintf(stderr, "smtp-sink: accept: %s\n", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	n_active++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		sconn_close(c);
		return;
	}
	n_conns++;
	uv_tcp_nodelay(&c->tcp, 1);
	reply(c, helo_only ? "220 sink.invalid smtp-sink (RFC 821)" : "220 sink.invalid ESMTP smtp-sink");
	flush(c);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	if (signum == SIGUSR1) {
		fprintf(stderr, "smtp-sink: stats conns=%llu msgs=%llu bytes=%llu early_reads=%llu early_bytes=%llu\n",
		    n_conns, n_msgs, n_bytes, n_early_reads, n_early_bytes);
		return;
	}
	if (!quiet)
		fprintf(stderr, "smtp-sink: signal %d: %llu connections (%llu open), %llu messages, %llu bytes\n",
		    signum, n_conns, n_active, n_msgs, n_bytes);
	exit(0);
}

__attribute__((noreturn))
static void
usage(void)
{
	fprintf(stderr, "usage: smtp-sink --listen ADDR:PORT [--no-pipelining | --helo-only] [--quiet]\n"
	    "  ADDR: IPv4, or [IPv6]\n"
	    "  --no-pipelining  no PIPELINING in the EHLO reply; input sent before the reply to the\n"
	    "                   command before it is dropped unanswered and counted (SIGUSR1: stats)\n"
	    "  --helo-only      the same, and EHLO gets 500 (an RFC 821 server)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static uv_tcp_t server;
	static uv_signal_t sigint, sigterm, sigusr1;
	struct sockaddr_storage ss;
	const char *listen_arg = NULL;
	char host[64];
	const char *colon = NULL;
	struct rlimit rl;
	int i, r, port;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen_arg = argv[++i];
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else if (strcmp(argv[i], "--no-pipelining") == 0)
			no_pipelining = 1;
		else if (strcmp(argv[i], "--helo-only") == 0)
			no_pipelining = helo_only = 1;
		else
			usage();
	}
	if (listen_arg == NULL || (colon = strrchr(listen_arg, ':')) == NULL ||
	    (size_t)(colon - listen_arg) >= sizeof(host))
		usage();
	memcpy(host, listen_arg, (size_t)(colon - listen_arg));
	host[colon - listen_arg] = '\0';
	port = atoi(colon + 1);
	if (port <= 0 || port > 65535)
		usage();
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host) - 2);
		host[strlen(host) - 2] = '\0';
		r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	} else {
		r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	}
	if (r != 0)
		usage();

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {	/* one descriptor per session */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	loop = uv_default_loop();
	uv_tcp_init(loop, &server);
	if ((r = uv_tcp_bind(&server, (const struct sockaddr *)&ss, 0)) != 0 ||
	    (r = uv_listen((uv_stream_t *)&server, 4096, on_connection)) != 0) {
		fprintf(stderr, "smtp-sink: cannot listen on %s: %s\n", listen_arg, uv_strerror(r));
		return 1;
	}
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_init(loop, &sigusr1);
	uv_signal_start(&sigusr1, on_signal, SIGUSR1);
	fprintf(stderr, "smtp-sink: listening on %s\n", listen_arg);
	return uv_run(loop, UV_RUN_DEFAULT);
}
