/* http_status.c - /metrics, /healthz and /readyz; see http_status.h. */
#include "http_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <uv.h>

#include "buf.h"
#include "log.h"
#include "metrics_text.h"
#include "probe.h"
#include "procstat.h"
#include "resolve.h"

#define HEAD_MAX 4096		/* request line and headers */
#define CONN_MAX 16		/* connections at once; more are closed at once */
#define REQUEST_MS 5000		/* to send the request and take the response */
#define READY_WINDOW_S 30	/* a backend connect this recent counts */
#define PROBE_MS 1000		/* readiness's own connect to a backend */

struct http_status {
	uv_loop_t loop;
	uv_thread_t thread;
	uv_tcp_t server;
	uv_async_t stop;
	struct gen *gen;		/* a reference */
	struct metrics_shm *shm;
	unsigned nconns;
	uint64_t *probed_ok_s;		/* per listener: when readiness's own connect last worked */
};

struct hconn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	struct http_status *h;
	char head[HEAD_MAX];
	size_t len;
	struct buf resp;
	int handles;			/* open handles: freed at 0 */
	int answered;
};

static uint64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

static void
on_hconn_closed(uv_handle_t *hd)
{
	struct hconn *c = hd->data;

	if (--c->handles > 0)
		return;
	c->h->nconns--;
	buf_free(&c->resp);
	free(c);
}

static void
hconn_close(struct hconn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
		uv_close((uv_handle_t *)&c->tcp, on_hconn_closed);
		uv_close((uv_handle_t *)&c->timer, on_hconn_closed);
	}
}

static void
on_written(uv_write_t *w, int status)
{
	(void)status;
	hconn_close(w->data);
}

/* Queue the whole response; the connection closes once it is written. */
static void
respond(struct hconn *c, int code, const char *type, const char *body, size_t n, int head_only)
{
	const char *reason = code == 200 ? "OK" : code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed" :
	    code == 431 ? "Request Header Fields Too Large" : code == 503 ? "Service Unavailable" : "Bad Request";
	char hdr[256];
	uv_buf_t b;
	int hl = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\nCache-Control: no-store\r\n\r\n", code, reason, type, n);

	c->answered = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (buf_append(&c->resp, hdr, (size_t)hl) != 0 || (!head_only && buf_append(&c->resp, body, n) != 0)) {
		hconn_close(c);
		return;
	}
	b = uv_buf_init(buf_head(&c->resp), (unsigned)buf_pending(&c->resp));
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
		hconn_close(c);
}

static void
text(struct hconn *c, int code, const char *body, int head_only)
{
	respond(c, code, "text/plain; charset=utf-8", body, strlen(body), head_only);
}

/* Is listener l's backend reachable? Appends the reason to why if not. */
static int
backend_ready(struct http_status *h, size_t l, const struct metrics_view *v, struct buf *why)
{
	const struct listener_conf *lc = &h->gen->cfg->listeners[l];
	uint64_t now = mono_s(), ok = 0, fail = 0;
	struct sockaddr_storage a;
	const char *err = "does not resolve";
	char line[300];
	unsigned r;

	for (r = 0; r < v->nrows; r++)
		if (strcmp(v->row[r].name, lc->name) == 0) {
			ok = v->row[r].backend_ok_s;
			fail = v->row[r].backend_fail_s;
		}
	if (h->probed_ok_s[l] > ok)
		ok = h->probed_ok_s[l];
	if (ok != 0 && ok >= fail && now - ok <= READY_WINDOW_S)
		return 1;
	/* Nothing recent, or the last attempt failed: try now. */
	a = lc->backend.addr;
	if (lc->backend.host == NULL || resolve_now(lc->backend.host, AF_UNSPEC, &a) == 0) {
		if (a.ss_family == AF_INET)
			((struct sockaddr_in *)&a)->sin_port = htons(lc->backend.port);
		else
			((struct sockaddr_in6 *)&a)->sin6_port = htons(lc->backend.port);
		if (probe_connect(&a, PROBE_MS, &err) == 0) {
			h->probed_ok_s[l] = now;
			return 1;
		}
	}
	snprintf(line, sizeof(line), "listener %s: backend %s: %s\n", lc->name, lc->backend_str, err);
	buf_puts(why, line);
	return 0;
}

/* Each listener's readiness into ready[] (why it is not appended to why, if given); 1 if all are ready. */
static int
ready_all(struct http_status *h, const struct metrics_view *v, int *ready, struct buf *why)
{
	struct buf ignored = { 0 };
	size_t l;
	int all = 1;

	for (l = 0; l < h->gen->cfg->nlisteners; l++)
		all &= ready[l] = backend_ready(h, l, v, why != NULL ? why : &ignored);
	buf_free(&ignored);
	return all;
}

static void
readyz(struct hconn *c, int head_only)
{
	struct http_status *h = c->h;
	struct metrics_view *v = calloc(1, sizeof(*v));
	int *ready = calloc(h->gen->cfg->nlisteners + 1, sizeof(*ready));
	struct buf why = { 0 };

	if (v == NULL || ready == NULL) {
		text(c, 503, "out of memory\n", head_only);
		goto out;
	}
	metrics_snapshot(h->shm, v);
	if (ready_all(h, v, ready, &why))
		text(c, 200, "ready\n", head_only);
	else
		respond(c, 503, "text/plain; charset=utf-8", buf_head(&why), buf_pending(&why), head_only);
out:
	buf_free(&why);
	free(ready);
	free(v);
}

static void
metrics(struct hconn *c, int head_only)
{
	const struct config *cfg = c->h->gen->cfg;
	struct metrics_view *v = calloc(1, sizeof(*v));
	int *ready = calloc(cfg->nlisteners + 1, sizeof(*ready));
	const char **names = calloc(cfg->nlisteners + 1, sizeof(*names));
	struct proc_stats ps;
	struct buf out = { 0 };
	size_t l;

	if (v == NULL || ready == NULL || names == NULL) {
		text(c, 503, "out of memory\n", head_only);
		goto out;
	}
	metrics_snapshot(c->h->shm, v);
	procstat_read(&ps);
	metrics_render(&out, v, c->h->gen->tls, &ps);
	ready_all(c->h, v, ready, NULL);
	for (l = 0; l < cfg->nlisteners; l++)
		names[l] = cfg->listeners[l].name;
	metrics_render_ready(&out, names, ready, cfg->nlisteners);
	respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf_head(&out) ? buf_head(&out) : "",
	    buf_pending(&out), head_only);
out:
	buf_free(&out);
	free(names);
	free(ready);
	free(v);
}

/* A complete head: route the request line. */
static void
route(struct hconn *c)
{
	char method[8], path[256];
	int head_only;

	if (sscanf(c->head, "%7s %255s HTTP/1.%*c", method, path) != 2) {
		text(c, 400, "bad request\n", 0);
		return;
	}
	path[strcspn(path, "?")] = '\0';
	head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head_only)
		text(c, 405, "only GET and HEAD\n", 0);
	else if (strcmp(path, "/metrics") == 0)
		metrics(c, head_only);
	else if (strcmp(path, "/healthz") == 0)
		text(c, 200, "ok\n", head_only);
	else if (strcmp(path, "/readyz") == 0)
		readyz(c, head_only);
	else
		text(c, 404, "not found: try /metrics, /healthz or /readyz\n", head_only);
}

static void
on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *b)
{
	struct hconn *c = hd->data;

	(void)suggested;
	*b = uv_buf_init(c->head + c->len, (unsigned)(sizeof(c->head) - 1 - c->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct hconn *c = s->data;

	(void)b;
	if (n < 0) {
		hconn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->head[c->len] = '\0';
	if (strstr(c->head, "\r\n\r\n") != NULL || strstr(c->head, "\n\n") != NULL)
		route(c);
	else if (c->len >= sizeof(c->head) - 1)
		text(c, 431, "request head too large\n", 0);
}

static void
on_timeout(uv_timer_t *t)
{
	hconn_close(t->data);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct http_status *h = server->data;
	struct hconn *c;

	if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->h = h;
	uv_tcp_init(&h->loop, &c->tcp);
	uv_timer_init(&h->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	h->nconns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || h->nconns > CONN_MAX) {
		hconn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, REQUEST_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* uv_walk(): a connection's handles (their data is the hconn, not h) close. */
static void
close_conn(uv_handle_t *hd, void *h)
{
	if (hd->data != h)
		hconn_close(hd->data);
}

static void
on_stop(uv_async_t *a)
{
	struct http_status *h = a->data;

	uv_close((uv_handle_t *)&h->server, NULL);
	uv_close((uv_handle_t *)&h->stop, NULL);
	uv_walk(&h->loop, close_conn, h);
}

static void
run(void *arg)
{
	struct http_status *h = arg;

	uv_run(&h->loop, UV_RUN_DEFAULT);
}

struct http_status *
http_status_start(int fd, struct gen *gen, struct metrics_shm *shm)
{
	struct http_status *h;

	if (fd < 0 || shm == NULL || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->probed_ok_s = calloc(gen->cfg->nlisteners, sizeof(*h->probed_ok_s))) == NULL ||
	    uv_loop_init(&h->loop) != 0) {
		free(h->probed_ok_s);
		free(h);
		return NULL;
	}
	h->gen = gen;
	gen_ref(gen);
	h->shm = shm;
	uv_tcp_init(&h->loop, &h->server);
	h->server.data = h;
	uv_async_init(&h->loop, &h->stop, on_stop);
	h->stop.data = h;
	if (uv_tcp_open(&h->server, fd) != 0 || uv_listen((uv_stream_t *)&h->server, 64, on_connection) != 0 ||
	    uv_thread_create(&h->thread, run, h) != 0) {
		log_event(LOG_ERROR, "metrics", "error=\"cannot serve the metrics endpoint\"");
		uv_close((uv_handle_t *)&h->server, NULL);
		uv_close((uv_handle_t *)&h->stop, NULL);
		uv_run(&h->loop, UV_RUN_DEFAULT);
		uv_loop_close(&h->loop);
		gen_unref(gen);
		free(h->probed_ok_s);
		free(h);
		return NULL;
	}
	return h;
}

void
http_status_stop(struct http_status *h)
{
	if (h == NULL)
		return;
	uv_async_send(&h->stop);
	uv_thread_join(&h->thread);
	if (uv_loop_close(&h->loop) != 0)
		log_event(LOG_ERROR, "leak", "error=\"metrics loop closed with live handles\"");
	gen_unref(h->gen);
	free(h->probed_ok_s);
	free(h);
}
