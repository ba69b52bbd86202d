/* conn.c - one TCP connection with optional TLS and a deferred flush; see conn.h. */
#include "conn.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <linux/sockios.h>

static void flush(struct conn *c);
static void on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b);

/* --- the per-loop flush --- */

/* Put c on its loop's list of connections to flush before the loop sleeps. */
static void
schedule(struct conn *c)
{
	if (c->dirty || c->closed)
		return;
	c->dirty = 1;
	c->next_dirty = c->cl->dirty;
	c->cl->dirty = c;
}

static void
unschedule(struct conn *c)
{
	struct conn **pp;

	if (!c->dirty)
		return;
	for (pp = &c->cl->dirty; *pp != NULL; pp = &(*pp)->next_dirty)
		if (*pp == c) {
			*pp = c->next_dirty;
			break;
		}
	c->dirty = 0;
}

static void
flush_all(struct conn_loop *cl)
{
	struct conn *c;

	while ((c = cl->dirty) != NULL) {
		cl->dirty = c->next_dirty;
		c->dirty = 0;
		flush(c);
	}
}

static void
on_check(uv_check_t *h)
{
	flush_all(h->data);
}

static void
on_prepare(uv_prepare_t *h)
{
	flush_all(h->data);
}

int
conn_loop_init(struct conn_loop *cl, uv_loop_t *loop)
{
	int r;

	cl->loop = loop;
	cl->dirty = NULL;
	if ((r = uv_check_init(loop, &cl->check)) != 0 || (r = uv_prepare_init(loop, &cl->prepare)) != 0)
		return r;
	cl->check.data = cl->prepare.data = cl;
	uv_check_start(&cl->check, on_check);
	uv_prepare_start(&cl->prepare, on_prepare);
	uv_unref((uv_handle_t *)&cl->check);
	uv_unref((uv_handle_t *)&cl->prepare);
	return 0;
}

void
conn_loop_close(struct conn_loop *cl)
{
	uv_close((uv_handle_t *)&cl->check, NULL);
	uv_close((uv_handle_t *)&cl->prepare, NULL);
}

/* --- reading --- */

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct conn *c = h->data;

	(void)hint;
	b->base = c->cl->readbuf;
	b->len = c->read_max;
}

/* Read while the owner keeps up and allows it. */
static void
update_reading(struct conn *c)
{
	int want = (c->connected || c->connecting) && !c->closing && !c->eof && !c->held &&
	    buf_pending(&c->in) < c->in_high &&
	    (c->tls.ssl == NULL || tls_unread(&c->tls) < c->in_high);

	if (want == (int)c->reading)
		return;
	if (!want) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	} else if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
		c->reading = 1;
	}
}

/* The connection is dead: tell the owner (it closes it). */
static void
fail(struct conn *c, const char *what)
{
	if (c->closing)
		return;
	c->closing = 1;		/* no more events but closed */
	c->failed = 1;
	c->ev->error(c, what);
}

/*
 * Drive the handshake, then decrypt into in up to CONN_IN_HIGH. Returns 0,
 * or -1 if the connection failed or was closed.
 */
static int
tls_pump(struct conn *c)
{
	size_t outlen = buf_pending(&c->out);
	char *p;
	int r;

	if (!c->tls_up) {
		r = tls_handshake(&c->tls);
		if (buf_pending(&c->out) != outlen)
			schedule(c);
		if (r < 0) {
			fail(c, "tls_handshake");
			return -1;
		}
		if (r == 0)
			return 0;
		c->tls_up = 1;
		schedule(c);	/* plaintext staged during the handshake can go now */
		c->ev->tls_done(c);
		if (c->closing)
			return -1;
		outlen = buf_pending(&c->out);
	}
	while (!c->eof && buf_pending(&c->in) < c->in_high) {
		/* Nothing to decrypt: take no room (a kick to flush a reply must not fail for want of it). */
		if (tls_unread(&c->tls) == 0 && !SSL_has_pending(c->tls.ssl))
			break;
		if ((p = buf_reserve(&c->in, 16384)) == NULL) {
			fail(c, "out_of_memory");
			return -1;
		}
		r = tls_read(&c->tls, p, 16384);
		if (r > 0)
			buf_commit(&c->in, (size_t)r);
		else if (r == TLS_EOF)
			c->eof = 1;
		else if (r == 0)
			break;
		else {
			fail(c, "tls");
			return -1;
		}
	}
	if (buf_pending(&c->out) != outlen)
		schedule(c);	/* session tickets, alerts */
	return 0;
}

/* Hand input (and EOF) to the owner for as long as it takes some. */
static void
deliver(struct conn *c)
{
	size_t before;

	if (c->delivering)
		return;
	c->delivering = 1;
	for (;;) {
		if (c->tls.ssl != NULL && tls_pump(c) != 0)
			break;
		if (c->closing || (buf_pending(&c->in) == 0 && !c->eof))
			break;
		before = buf_pending(&c->in);
		c->ev->data(c);
		if (c->closing)
			break;
		/* TLS stopped at the input limit and the owner made room: decrypt more. */
		if (c->tls.ssl == NULL || c->eof || tls_unread(&c->tls) == 0 || buf_pending(&c->in) >= before)
			break;
	}
	c->delivering = 0;
	if (c->closing)
		return;
	if (!c->bulk)
		buf_release(&c->in);	/* frees it only if everything was taken */
	update_reading(c);
}

static void
on_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = h->data;

	if (n == 0 || c->closing)
		return;
	if (n < 0) {
		if (n != UV_EOF) {
			fail(c, "read");
			return;
		}
		c->eof = 1;
		update_reading(c);
		deliver(c);
		return;
	}
	c->bytes_in += (uint64_t)n;
	if (c->tls.ssl != NULL) {
		/* BoringSSL reads straight from the read buffer; what it leaves is kept. */
		tls_feed(&c->tls, b->base, (size_t)n);
		deliver(c);
		tls_feed_end(&c->tls, !c->closing);
		if (!c->closing)
			update_reading(c);
		return;
	}
	if (buf_append(&c->in, b->base, (size_t)n) != 0) {
		fail(c, "out_of_memory");
		return;
	}
	deliver(c);
}

/* --- writing --- */

/* Output left the queue: below the low watermark a full connection is writable again. */
static void
check_drained(struct conn *c)
{
	if (c->full && conn_queued(c) < CONN_OUT_LOW) {
		c->full = 0;
		if (!c->closing)
			c->ev->drained(c);
	}
}

static void
on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	tls_free(&c->tls);
	free(c->spare_req);
	c->spare_req = NULL;
	buf_free(&c->in);
	buf_free(&c->stage);
	buf_free(&c->out);
	buf_free(&c->inflight);
	c->ev->closed(c);
}

/* Close the handle now (once). */
static void
close_now(struct conn *c, int reset)
{
	if (c->closed)
		return;
	c->closing = 1;
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = 0;
	unschedule(c);
	c->closed = 1;
	if (reset && c->connected && uv_tcp_close_reset(&c->tcp, on_closed) == 0)
		return;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void
on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	c->writing = 0;
	buf_clear(&c->inflight);
	if (buf_pending(&c->out) == 0 || c->inflight.cap > CONN_OUT_LOW)
		buf_free(&c->inflight);	/* idle, or big: the next swap starts a small buffer */
	if (status == UV_ECANCELED || c->closed)
		return;
	if (status < 0) {
		if (c->finishing)
			close_now(c, 0);	/* a graceful close has nothing left to wait for */
		else
			fail(c, "write");
		return;
	}
	schedule(c);
	check_drained(c);
}

/* Hand out's bytes to the socket: uv_try_write first, the rest in one uv_write. */
static void
write_out(struct conn *c)
{
	uv_write_t *req;
	struct buf tmp;
	uv_buf_t b = uv_buf_init(buf_head(&c->out), (unsigned)buf_pending(&c->out));
	int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);

	if (r > 0) {
		c->bytes_out += (uint64_t)r;
		buf_consume(&c->out, (size_t)r);
		if (buf_pending(&c->out) == 0) {
			buf_release(&c->out);
			return;
		}
	} else if (r != UV_EAGAIN && r != UV_ENOSYS) {
		if (c->finishing)
			close_now(c, 0);
		else
			fail(c, "write");
		return;
	}
	/* Swap: out becomes the buffer in flight, a fresh out collects more. */
	tmp = c->inflight;
	c->inflight = c->out;
	c->out = tmp;
	b = uv_buf_init(buf_head(&c->inflight), (unsigned)buf_pending(&c->inflight));
	/* Allocated only while a write waits for the socket: an idle connection stays small. */
	if ((req = c->spare_req) != NULL)
		c->spare_req = NULL;	/* reserved (conn_reserve) */
	else
		req = malloc(sizeof(*req));
	if (req != NULL)
		req->data = c;
	if (req == NULL || uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		free(req);	/* no callback will run */
		buf_clear(&c->inflight);
		if (c->finishing)
			close_now(c, 0);
		else
			fail(c, "write");
		return;
	}
	c->bytes_out += b.len;
	c->writing = 1;
}

/* Once TLS is up, encrypt what is staged: one run of records per flush. Returns 0 or -1. */
static int
encrypt_stage(struct conn *c)
{
	if (!c->tls_up || buf_pending(&c->stage) == 0)
		return 0;
	if (tls_write(&c->tls, buf_head(&c->stage), buf_pending(&c->stage)) != 0)
		return -1;
	buf_clear(&c->stage);
	buf_release(&c->stage);
	return 0;
}

/* Encrypt what is staged, write, and finish a graceful close. */
static void
flush(struct conn *c)
{
	if (c->closed)
		return;
	if (encrypt_stage(c) != 0) {
		if (c->finishing)
			close_now(c, 0);
		else
			fail(c, "tls");
		return;
	}
	if (!c->connected)
		return;
	if (!c->writing && buf_pending(&c->out) > 0)
		write_out(c);
	if (c->closed)
		return;
	/* All is written: close(2) sends the FIN after it (a shutdown(2) first would add nothing). */
	if (c->finishing && !c->writing && buf_pending(&c->out) == 0)
		close_now(c, 0);
	check_drained(c);
}

/* --- the owner's calls --- */

int
conn_init(struct conn *c, struct conn_loop *cl, const struct conn_events *ev, void *owner)
{
	memset(c, 0, sizeof(*c));
	c->cl = cl;
	c->ev = ev;
	c->owner = owner;
	c->in_high = CONN_IN_HIGH;
	c->read_max = CONN_READ_DEFAULT;
	c->tcp.data = c;
	return uv_tcp_init(cl->loop, &c->tcp);
}

int
conn_accept(struct conn *c, uv_stream_t *server)
{
	int r = uv_accept(server, (uv_stream_t *)&c->tcp);

	if (r != 0)
		return r;
	c->connected = 1;	/* TCP_NODELAY comes from the listening socket */
	return 0;
}

int
conn_adopt(struct conn *c, int fd)
{
	int r = uv_tcp_open(&c->tcp, fd);

	if (r == 0)
		c->connected = 1;
	return r;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	c->connecting = 0;
	if (status == UV_ECANCELED || c->closing)
		return;
	if (status == 0) {
		c->connected = 1;
		uv_tcp_nodelay(&c->tcp, 1);
		schedule(c);
		update_reading(c);
	}
	c->ev->connected(c, status);
}

int
conn_connect(struct conn *c, const struct sockaddr *addr, const struct sockaddr *src)
{
	uv_connect_t *req;
	int r;

	if (src != NULL && (r = uv_tcp_bind(&c->tcp, src, 0)) != 0)
		return r;
	if ((req = malloc(sizeof(*req))) == NULL)
		return UV_ENOMEM;
	req->data = c;
	if ((r = uv_tcp_connect(req, &c->tcp, addr, on_connect)) != 0) {
		free(req);
		return r;
	}
	/* Reading starts with the connect: one epoll registration for both. */
	c->connecting = 1;
	update_reading(c);
	return 0;
}

void
conn_start(struct conn *c)
{
	update_reading(c);
}

int
conn_start_tls(struct conn *c, SSL_CTX *ctx, const char *server_name)
{
	if (c->tls.ssl != NULL || c->closing)
		return -1;
	if (tls_start(&c->tls, ctx, &c->out, server_name) != 0)
		return -1;
	if (buf_pending(&c->in) > 0) {
		tls_feed(&c->tls, buf_head(&c->in), buf_pending(&c->in));
		tls_feed_end(&c->tls, 1);
		buf_clear(&c->in);
	}
	if (server_name != NULL)
		tls_pump(c);	/* the client speaks first: the ClientHello */
	update_reading(c);
	return 0;
}

SSL *
conn_ssl(const struct conn *c)
{
	return c->tls.ssl;
}

struct buf *
conn_input(struct conn *c)
{
	return &c->in;
}

int
conn_eof(const struct conn *c)
{
	return c->eof;
}

void
conn_kick(struct conn *c)
{
	if (!c->closing)
		deliver(c);
}

/*
 * A large plaintext write with nothing queued before it goes to the socket
 * at once, from the caller's memory: message content streaming to the
 * backend is not copied when the socket takes it all. Returns the bytes
 * written (what is left must be queued), or -1 if the connection failed.
 */
static ssize_t
write_through(struct conn *c, const void *p, size_t n)
{
	uv_buf_t b;
	int r;

	if (n < CONN_DIRECT_MIN || c->tls.ssl != NULL || !c->connected || c->writing || buf_pending(&c->out) > 0)
		return 0;
	b = uv_buf_init((char *)p, n > 0x7fffffff ? 0x7fffffff : (unsigned)n);
	r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (r == UV_EAGAIN || r == UV_ENOSYS)
		return 0;
	if (r < 0) {
		fail(c, "write");
		return -1;
	}
	c->bytes_out += (uint64_t)r;
	return r;
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	ssize_t done;

	if (c->closing)
		return -1;
	if ((done = write_through(c, p, n)) < 0)
		return 0;	/* the owner hears of the failure through ev->error */
	p = (const char *)p + done;
	n -= (size_t)done;
	if (n == 0)
		return 0;
	if (buf_append(c->tls.ssl != NULL ? &c->stage : &c->out, p, n) != 0)
		return -1;
	if (conn_queued(c) >= CONN_OUT_HIGH) {
		/* A large write goes out now: full means the socket would not take it. */
		unschedule(c);
		flush(c);
		if (c->closed || c->failed)
			return 0;
		if (conn_queued(c) >= CONN_OUT_HIGH)
			c->full = 1;
	}
	schedule(c);
	return 0;
}

int
conn_reserve(struct conn *c, size_t n)
{
	if (buf_reserve(c->tls.ssl != NULL ? &c->stage : &c->out, n) == NULL)
		return -1;
	/* TLS: n bytes become records in out (a header, a tag and padding per 16 KiB). */
	if (c->tls.ssl != NULL && buf_reserve(&c->out, n + 64 * (n / 16384 + 1)) == NULL)
		return -1;
	if (c->spare_req == NULL && (c->spare_req = malloc(sizeof(*c->spare_req))) == NULL)
		return -1;
	return 0;
}

/* Bytes written to the socket that the kernel has not sent yet (SIOCOUTQNSD: write_seq - snd_nxt, still
 * known after a reset), or -1 if that cannot be told. */
static int
kernel_unsent(const struct conn *c)
{
	uv_os_fd_t fd;
	int outq = 0;	/* set by the kernel; valgrind does not know this ioctl writes it */

	if (c->closed || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, SIOCOUTQNSD, &outq) != 0)
		return -1;
	return outq;
}

size_t
conn_unsent(const struct conn *c)
{
	int outq = kernel_unsent(c);

	return conn_queued(c) + (outq > 0 ? (size_t)outq : 0);
}

int
conn_sent(const struct conn *c, uint64_t mark)
{
	int outq = kernel_unsent(c);
	uint64_t taken;

	if (outq < 0)
		return 1;
	/* What the kernel took: a write in flight may not be in it yet (counted as not taken). */
	taken = c->bytes_out - buf_pending(&c->inflight);
	return taken >= (uint64_t)outq && taken - (uint64_t)outq >= mark;
}

int
conn_peer_reset(const struct conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uv_os_fd_t fd;

	if (c->closed || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || len < 1)
		return 0;
	return ti.tcpi_state == TCP_CLOSE;
}

size_t
conn_queued(const struct conn *c)
{
	return buf_pending(&c->stage) + buf_pending(&c->out) + buf_pending(&c->inflight);
}

int
conn_full(const struct conn *c)
{
	return c->full;
}

void
conn_bulk(struct conn *c, int bulk)
{
	if ((int)c->bulk == bulk)
		return;
	c->bulk = bulk != 0;
	c->read_max = bulk ? CONN_READ_BUF : CONN_READ_DEFAULT;
	/* A whole large read is decrypted and handed over at once, into one
	 * buffer kept while the stream lasts (no growing, no page faults). */
	c->in_high = bulk ? CONN_READ_BUF + 16384 : CONN_IN_HIGH;
	if (bulk)
		buf_reserve(&c->in, c->in_high);
	else
		buf_release(&c->in);
}

void
conn_hold(struct conn *c, int hold)
{
	if ((int)c->held == hold)
		return;
	c->held = hold != 0;
	update_reading(c);
}

void
conn_close(struct conn *c, enum conn_close how)
{
	if (c->closed)
		return;
	if (how != CONN_GRACEFUL || !c->connected || c->failed) {
		close_now(c, how == CONN_RESET);
		return;
	}
	if (c->finishing || c->closing)
		return;	/* already on its way */
	c->closing = 1;
	c->finishing = 1;
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = 0;
	if (c->tls.ssl != NULL && !c->tls_up)
		buf_clear(&c->stage);	/* no handshake, no way to say it */
	if (c->tls_up && encrypt_stage(c) == 0)	/* what is staged goes before the close_notify */
		tls_close_notify(&c->tls);
	schedule(c);
}

int
conn_sockname(const struct conn *c, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	return uv_tcp_getsockname(&c->tcp, (struct sockaddr *)ss, &len);
}

int
conn_peername(const struct conn *c, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	return uv_tcp_getpeername(&c->tcp, (struct sockaddr *)ss, &len);
}
