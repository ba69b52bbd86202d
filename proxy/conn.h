/*
 * conn.h - one TCP connection: optional TLS in either role, a bounded
 * output queue with watermarks, and one flush per loop iteration.
 *
 * It knows nothing of SMTP or sessions: its owner writes plaintext to it,
 * consumes plaintext from conn_input(), and hears of everything else
 * through struct conn_events. Writes made while handling an event are
 * collected and handed to the socket once, after every event of the loop
 * iteration has run (a burst of replies becomes one TLS record run and one
 * write(2)). At most one uv_write is in flight; reading stops while the
 * owner has not consumed CONN_IN_HIGH bytes, or while the owner holds it
 * (conn_hold: its peer's queue is full).
 */
#ifndef STARTTLSD_CONN_H
#define STARTTLSD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "buf.h"
#include "tls.h"

/*
 * Output queued beyond this marks a connection full; it is writable again
 * below CONN_OUT_LOW. A little under 256 KiB: the reply that crosses the
 * mark still fits a 256 KiB buffer (buffers grow by doubling).
 */
#define CONN_OUT_HIGH (256 * 1024 - 2048)
#define CONN_OUT_LOW (64 * 1024)
/* Unconsumed input beyond this stops reading (and decrypting). */
#define CONN_IN_HIGH (64 * 1024)
/* Every read of a loop lands in one buffer of this size first (the largest read). */
#define CONN_READ_BUF (256 * 1024)
/* A plaintext write at least this large, with nothing queued, is tried on the socket at once, uncopied. */
#define CONN_DIRECT_MIN (16 * 1024)
/* The usual read: an owner that may stall cannot be left holding more than this. */
#define CONN_READ_DEFAULT (64 * 1024)

struct conn;

/* State shared by the connections of one event loop. */
struct conn_loop {
	uv_loop_t *loop;
	uv_check_t check;	/* flushes after the I/O callbacks of each iteration */
	uv_prepare_t prepare;	/* flushes what timers wrote, before the loop blocks */
	struct conn *dirty;	/* connections with output to hand to their sockets */
	char readbuf[CONN_READ_BUF];	/* every read on this loop lands here first */
};

/* Set up cl on loop (its handles do not keep the loop alive). Returns 0 or a libuv error. */
int conn_loop_init(struct conn_loop *cl, uv_loop_t *loop);

/* Close cl's handles (once every connection is closed). */
void conn_loop_close(struct conn_loop *cl);

/* What a connection tells its owner. Every callback may close the connection. */
struct conn_events {
	void (*data)(struct conn *c);		/* input awaits in conn_input(), or EOF (conn_eof()) */
	void (*drained)(struct conn *c);	/* output fell below CONN_OUT_LOW after being full */
	void (*connected)(struct conn *c, int status);	/* conn_connect() finished: 0 or a libuv error */
	void (*tls_done)(struct conn *c);	/* the TLS handshake completed */
	void (*error)(struct conn *c, const char *what);	/* "read", "write" or "tls": the connection is dead */
	void (*closed)(struct conn *c);		/* the handle is closed: the owner may free it */
};

/* How conn_close() ends a connection. */
enum conn_close {
	CONN_GRACEFUL,	/* write what is queued (and a TLS close_notify), then close (FIN) */
	CONN_NOW,	/* close; what is queued is lost */
	CONN_RESET,	/* close with a TCP reset (RST): the peer must not take it for an orderly end */
};

struct conn {
	uv_tcp_t tcp;			/* the socket */
	struct conn_loop *cl;		/* the loop's shared state */
	const struct conn_events *ev;	/* the owner's callbacks */
	void *owner;			/* the owner, for its callbacks */
	struct tls tls;			/* tls.ssl == NULL: plaintext */
	struct buf in;			/* plaintext received, not yet consumed by the owner */
	struct buf stage;		/* TLS: plaintext to encrypt at the next flush */
	struct buf out;			/* bytes for the socket, not yet handed to it */
	struct buf inflight;		/* bytes of the uv_write in flight */
	struct conn *next_dirty;	/* link in cl->dirty */
	uv_write_t *spare_req;		/* conn_reserve(): the next uv_write's request, or NULL */
	size_t in_high;			/* stop reading at this much unconsumed input (CONN_IN_HIGH) */
	size_t read_max;		/* the largest read (conn_bulk) */
	uint64_t bytes_in;		/* bytes read from the socket */
	uint64_t bytes_out;		/* bytes handed to the socket */
	unsigned connected : 1;		/* the socket is connected */
	unsigned connecting : 1;	/* conn_connect() in progress */
	unsigned reading : 1;		/* uv_read_start() is active */
	unsigned held : 1;		/* the owner asked not to read (conn_hold) */
	unsigned writing : 1;		/* a uv_write is in flight */
	unsigned dirty : 1;		/* in cl->dirty */
	unsigned full : 1;		/* output went over CONN_OUT_HIGH and not yet below CONN_OUT_LOW */
	unsigned eof : 1;		/* the peer's EOF was seen */
	unsigned tls_up : 1;		/* the TLS handshake completed */
	unsigned delivering : 1;	/* inside ev->data: no nested delivery */
	unsigned closing : 1;		/* conn_close() ran: no more events but closed */
	unsigned finishing : 1;		/* graceful close: FIN once the output is written */
	unsigned failed : 1;		/* a read, write or TLS error: only closing is left */
	unsigned closed : 1;		/* uv_close() was called */
	unsigned bulk : 1;		/* conn_bulk(): large reads, the input buffer kept */
};

/* Set c up on cl with the owner's events. Returns 0 or a libuv error. */
int conn_init(struct conn *c, struct conn_loop *cl, const struct conn_events *ev, void *owner);

/* Accept a pending connection of server into c. Returns 0 or a libuv error (close c then). */
int conn_accept(struct conn *c, uv_stream_t *server);

/* Take fd, a connected socket accepted by other means (accept4()). Returns 0 or a libuv error (fd is then not closed). */
int conn_adopt(struct conn *c, int fd);

/*
 * Connect c to addr, from src if it is not NULL. ev->connected reports the
 * outcome; what is written before is sent once connected. Returns 0 or a
 * libuv error.
 */
int conn_connect(struct conn *c, const struct sockaddr *addr, const struct sockaddr *src);

/* Start reading (and delivering input to the owner). */
void conn_start(struct conn *c);

/*
 * Switch c to TLS on ctx: the server role when server_name is NULL, else
 * the client role with server_name as SNI. What was written before goes
 * out in plaintext first; plaintext written after waits for the
 * handshake. Input received and not consumed is taken as the start of the
 * TLS stream. Returns 0, or -1 (out of memory).
 */
int conn_start_tls(struct conn *c, SSL_CTX *ctx, const char *server_name);

/* The TLS connection (NULL while plaintext), for the owner's questions about it. */
SSL *conn_ssl(const struct conn *c);

/* The plaintext received and not yet consumed; the owner consumes from it. */
struct buf *conn_input(struct conn *c);

/* Has the peer sent all it will (FIN, or a TLS close_notify)? */
int conn_eof(const struct conn *c);

/* Offer buffered input to the owner again (it can take more now) and resume reading. */
void conn_kick(struct conn *c);

/* Queue p[0..n) for the peer (encrypted once TLS is up). Returns 0, or -1 if closed or out of memory. */
int conn_write(struct conn *c, const void *p, size_t n);

/*
 * Make room now for a write of up to n bytes: queued, encrypted and handed
 * to the socket without allocating (a reply that must not be lost for want
 * of memory). The room lasts until output is next written. Returns 0, or
 * -1 if memory is short.
 */
int conn_reserve(struct conn *c, size_t n);

/* Bytes queued and not yet written to the socket. */
size_t conn_queued(const struct conn *c);

/* Those, and the bytes written that the kernel has not sent yet (SIOCOUTQNSD): the peer cannot have them. */
size_t conn_unsent(const struct conn *c);

/*
 * Have the first mark bytes written to the socket (mark: a value bytes_out
 * had with nothing queued) left this host: sent by TCP, not waiting in the
 * kernel behind the peer's closed window? 1 yes, 0 not yet. Still known after
 * the peer reset the connection, until conn_close(). 1 when it cannot be told
 * (the socket is closed). Sent is not acknowledged: a peer that read them may
 * not have acknowledged them yet (a delayed ACK) when it resets.
 */
int conn_sent(const struct conn *c, uint64_t mark);

/*
 * Has the peer reset the connection (TCP state CLOSE), though nothing read
 * it yet? For a connection on hold, whose reads would report it. 0 if not
 * or if it cannot be told.
 */
int conn_peer_reset(const struct conn *c);

/* Is the output queue full (see CONN_OUT_HIGH)? */
int conn_full(const struct conn *c);

/*
 * Bulk (1): the owner takes whatever arrives (a message streaming through),
 * so reads may be as large as CONN_READ_BUF and a whole read is handed over
 * at once; else (0) reads are at most CONN_READ_DEFAULT and CONN_IN_HIGH is
 * held unconsumed, so an owner that stalls holds little unread input.
 */
void conn_bulk(struct conn *c, int bulk);

/* Stop (hold = 1) or allow (0) reading, for the owner's flow control. */
void conn_hold(struct conn *c, int hold);

/* End the connection; ev->closed follows. Safe to call again (CONN_NOW/RESET then cut a graceful close short). */
void conn_close(struct conn *c, enum conn_close how);

/* The local and remote addresses of the socket. Return 0 or a libuv error. */
int conn_sockname(const struct conn *c, struct sockaddr_storage *ss);
int conn_peername(const struct conn *c, struct sockaddr_storage *ss);

#endif
