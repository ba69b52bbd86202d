/*
 * smtp-bench - SMTP load generator for starttlsd (and any SMTP server).
 *
 * All sessions run in one libuv event loop on one thread; TLS (BoringSSL) is
 * done over memory BIOs, so nothing ever blocks. Every reply code is checked;
 * the run exits 1 if any session failed (the first few errors are printed on
 * stderr as they happen), 2 on a usage error, 0 otherwise.
 *
 * Modes (see usage() for the options):
 *
 *   session  --count sessions, --concurrency at a time. Each one: greeting,
 *            EHLO, [STARTTLS, handshake, EHLO,] MAIL, RCPT, DATA, one message
 *            of --size bytes (--messages N: N of them, one after the other),
 *            QUIT. Latency = connect to 221, per session; per message (MAIL
 *            FROM to the final 250); and connect to ready for the first MAIL
 *            FROM (the handshake and EHLOs: "ready" in the JSON).
 *   bulk     --concurrency sessions, each sending its share of --count
 *            messages, one after the other, in one session. Latency is
 *            reported per message (MAIL FROM to the final 250) and per session.
 *   idle     --count sessions are opened (at most --concurrency opening at a
 *            time) up to the last EHLO and kept open. When all are open,
 *            "idle: N sessions open" is printed on stdout and flushed, so a
 *            script can measure the server's memory at that moment. They are
 *            held for --hold seconds, or with --hold 0 until SIGUSR1 arrives
 *            (SIGUSR1 also ends a timed hold early), then every session sends
 *            QUIT. Latency = connect to idle.
 *
 * --pipelining: when the server's last EHLO reply announces PIPELINING
 * (RFC 2920), MAIL FROM, RCPT TO and DATA go out in one write; otherwise
 * (and without the option) one command per round trip. The report counts
 * the sessions that pipelined. A 5xx to EHLO makes a session fall back to
 * HELO (not before STARTTLS); the report counts those too.
 *
 * --resume: each concurrency slot remembers the last TLS session (or TLS 1.3
 * ticket) the server gave it and offers it on its next connection; the report
 * says how many of the offered ones the server accepted.
 *
 * For the soak (tools/soak/run-soak): --tag puts an "X-Bench-Token:
 * TAG.ID.SEQ" header in every message, --outcomes FILE appends one line per
 * message attempted ("ok" with the time, token, size and latency after a
 * 250 to its "."; "fail" with the stage the session broke in), and
 * --rate-limit makes slow clients (content bytes per second per session).
 *
 * The report ends with the client's own CPU time (getrusage): if it is close
 * to 100% of one core, the client, not the server, was the bottleneck.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MAX_PRINTED_ERRORS 5

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: smtp-bench --port N [options]\n"
	    "  --host ADDR          server address (default 127.0.0.1; IPv4 or IPv6 literal)\n"
	    "  --port N             server port (required)\n"
	    "  --mode MODE          session (default), bulk or idle\n"
	    "  --count N            sessions (session, idle) or messages (bulk); default 1000\n"
	    "  --concurrency C      sessions at once (idle: sessions opening at once); default 50\n"
	    "  --size BYTES         message size, suffix k or m allowed (default 10k)\n"
	    "  --implicit-tls       TLS from the first byte (port 465 style)\n"
	    "  --plain              no TLS at all (talk to the plaintext backend directly)\n"
	    "  --resume             offer each slot's saved TLS session; count resumptions\n"
	    "  --tls-max 1.2|1.3    highest TLS version offered (default 1.3)\n"
	    "  --sni NAME           server name to send in the ClientHello (default none)\n"
	    "  --hold SECONDS       idle mode: hold all sessions open this long (default 10);\n"
	    "                       0 = until SIGUSR1 (which also ends a timed hold early)\n"
	    "  --timeout SECONDS    fail a session after this long without progress (default 60)\n"
	    "  --messages N         session mode: messages per session (default 1)\n"
	    "  --pipelining         send MAIL, RCPT and DATA in one write when the server's last EHLO\n"
	    "                       reply announces PIPELINING (RFC 2920); default: one at a time\n"
	    "  --helo NAME --from ADDR --to ADDR   EHLO name, envelope sender and recipient\n"
	    "  --json               print the result as one line of JSON on stdout\n"
	    "  --tag TAG            add \"X-Bench-Token: TAG.SESSION.SEQ\" to every message (TAG: up to\n"
	    "                       64 letters, digits, '-' or '_')\n"
	    "  --outcomes FILE      append a line per message: \"ok TIME TOKEN SIZE MS\" after a 250 to\n"
	    "                       its final dot, \"fail TIME TOKEN STAGE\" if its session broke\n"
	    "  --rate-limit BYTES   send message content at most this fast per session (per second;\n"
	    "                       k or m allowed): slow clients\n");
}

/* "10240", "10k", "1m" */
static int
parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	if (*end == 'k' || *end == 'K')
		v *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024, end++;
	if (*end != '\0' || v > (1ULL << 34))
		return -1;
	*out = (size_t)v;
	return 0;
}

static int
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || *out > max ? -1 : 0;
}

static int
parse_opts(int argc, char **argv, struct bench_opts *o)
{
	enum { O_HOST = 256, O_PORT, O_MODE, O_COUNT, O_CONC, O_SIZE, O_IMPLICIT, O_PLAIN, O_RESUME,
	       O_HOLD, O_TIMEOUT, O_TLSMAX, O_SNI, O_HELO, O_FROM, O_TO, O_JSON, O_HELP, O_MESSAGES,
	       O_PIPELINING, O_TAG, O_OUTCOMES, O_RATE_LIMIT };
	static const struct option lo[] = {
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, O_PORT },
		{ "mode", required_argument, NULL, O_MODE },
		{ "count", required_argument, NULL, O_COUNT },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "size", required_argument, NULL, O_SIZE },
		{ "implicit-tls", no_argument, NULL, O_IMPLICIT },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "resume", no_argument, NULL, O_RESUME },
		{ "hold", required_argument, NULL, O_HOLD },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "tls-max", required_argument, NULL, O_TLSMAX },
		{ "sni", required_argument, NULL, O_SNI },
		{ "helo", required_argument, NULL, O_HELO },
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "json", no_argument, NULL, O_JSON },
		{ "messages", required_argument, NULL, O_MESSAGES },
		{ "pipelining", no_argument, NULL, O_PIPELINING },
		{ "tag", required_argument, NULL, O_TAG },
		{ "outcomes", required_argument, NULL, O_OUTCOMES },
		{ "rate-limit", required_argument, NULL, O_RATE_LIMIT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	char *end;
	int ch, li = 0, implicit = 0, plain = 0;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->mode = MODE_SESSION;
	o->count = 1000;
	o->concurrency = 50;
	o->size = 10240;
	o->hold = 10;
	o->timeout = 60;
	o->messages = 1;
	o->helo = "bench.example.test";
	o->from = "bench@example.test";
	o->rcpt = "sink@example.test";
	while ((ch = getopt_long(argc, argv, "", lo, &li)) != -1) {
		switch (ch) {
		case O_HOST: o->host = optarg; break;
		case O_PORT:
			if (parse_uint(optarg, 65535, &v) < 0 || v == 0)
				goto bad;
			o->port = (int)v;
			break;
		case O_MODE:
			if (strcmp(optarg, "session") == 0)
				o->mode = MODE_SESSION;
			else if (strcmp(optarg, "bulk") == 0)
				o->mode = MODE_BULK;
			else if (strcmp(optarg, "idle") == 0)
				o->mode = MODE_IDLE;
			else
				goto bad;
			break;
		case O_COUNT:
			if (parse_uint(optarg, 1ULL << 40, &v) < 0 || v == 0)
				goto bad;
			o->count = v;
			break;
		case O_CONC:
			if (parse_uint(optarg, 1000000, &v) < 0 || v == 0)
				goto bad;
			o->concurrency = (unsigned)v;
			break;
		case O_SIZE:
			if (parse_size(optarg, &o->size) < 0)
				goto bad;
			break;
		case O_IMPLICIT: implicit = 1; break;
		case O_PLAIN: plain = 1; break;
		case O_RESUME: o->resume = 1; break;
		case O_HOLD:
		case O_TIMEOUT: {
			double d = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(d >= 0) || d > 1e6 || (ch == O_TIMEOUT && d <= 0))
				goto bad;
			*(ch == O_HOLD ? &o->hold : &o->timeout) = d;
			break;
		}
		case O_TLSMAX:
			if (strcmp(optarg, "1.2") == 0)
				o->tls_max = 12;
			else if (strcmp(optarg, "1.3") == 0)
				o->tls_max = 13;
			else
				goto bad;
			break;
		case O_SNI: o->sni = optarg; break;
		case O_HELO: o->helo = optarg; break;
		case O_FROM: o->from = optarg; break;
		case O_TO: o->rcpt = optarg; break;
		case O_JSON: o->json = 1; break;
		case O_MESSAGES:
			if (parse_uint(optarg, 1000000, &v) < 0 || v == 0)
				goto bad;
			o->messages = v;
			break;
		case O_PIPELINING: o->pipelining = 1; break;
		case O_TAG:
			if (optarg[0] == '\0' || strlen(optarg) > 64 ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
			    strlen(optarg))
				goto bad;
			o->tag = optarg;
			break;
		case O_OUTCOMES: o->outcomes = optarg; break;
		case O_RATE_LIMIT:
			if (parse_size(optarg, &o->rate_limit) < 0)
				goto bad;
			break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || o->port == 0) {
		usage(stderr);
		return -1;
	}
	if (implicit && plain) {
		fprintf(stderr, "smtp-bench: --implicit-tls and --plain exclude each other\n");
		return -1;
	}
	if (o->resume && plain) {
		fprintf(stderr, "smtp-bench: --resume needs TLS\n");
		return -1;
	}
	if (strlen(o->helo) > 200 || strlen(o->from) > 200 || strlen(o->rcpt) > 200) {
		fprintf(stderr, "smtp-bench: --helo, --from and --to are limited to 200 characters\n");
		return -1;
	}
	if (o->mode == MODE_SESSION && o->count > (1ULL << 40) / o->messages) {
		fprintf(stderr, "smtp-bench: --count x --messages is too large\n");
		return -1;
	}
	o->tls = plain ? BT_PLAIN : implicit ? BT_IMPLICIT : BT_STARTTLS;
	return 0;
bad:
	fprintf(stderr, "smtp-bench: bad value for --%s: %s\n", lo[li].name, optarg);
	return -1;
}

/* ---- scheduling --------------------------------------------------------- */

static void finish(struct bench *b);
static void release_idle(struct bench *b);

/* Start sessions until the concurrency limit (or the total) is reached. In
 * session and bulk mode a slot is a place for one session at a time; in idle
 * mode sessions pile up, and only those still opening count. */
static void
schedule(struct bench *b)
{
	while (b->sessions_started < b->sessions_total) {
		unsigned slot;
		uint64_t msgs = 0, k = b->sessions_started;

		if (b->o.mode == MODE_IDLE) {
			if (b->opening >= b->o.concurrency)
				break;
			slot = (unsigned)(k % b->o.concurrency);
			b->opening++;
		} else {
			if (b->n_free_slots == 0)
				break;
			slot = b->free_slots[--b->n_free_slots];
			msgs = b->o.messages;
			if (b->o.mode == MODE_BULK)	/* share --count out evenly */
				msgs = b->o.count / b->sessions_total + (k < b->o.count % b->sessions_total);
		}
		b->sessions_started++;
		b->active++;
		if (conn_start(b, b->sessions_started, slot, msgs) == NULL) {
			fprintf(stderr, "smtp-bench: out of memory\n");
			exit(1);
		}
	}
}

static void
on_hold_timer(uv_timer_t *t)
{
	release_idle(t->data);
}

/* Idle mode: once nothing is opening any more, announce and start the hold. */
static void
check_all_open(struct bench *b)
{
	if (b->holding || b->sessions_started < b->sessions_total || b->opening > 0)
		return;
	b->holding = 1;
	b->t_all_open = uv_hrtime();
	printf("idle: %llu sessions open\n", (unsigned long long)b->idle_open);
	fflush(stdout);
	if (b->release_asked || b->idle_open == 0)
		release_idle(b);
	else if (b->o.hold > 0)
		uv_timer_start(&b->hold_timer, on_hold_timer, (uint64_t)(b->o.hold * 1000.0), 0);
}

static void
on_sigusr1(uv_signal_t *s, int signum)
{
	struct bench *b = s->data;

	(void)signum;
	if (b->holding)
		release_idle(b);
	else
		b->release_asked = 1;	/* release as soon as all are open */
}

/* The hold is over: every idle session sends QUIT. */
static void
release_idle(struct bench *b)
{
	struct conn *c, *next;

	if (b->released)
		return;
	b->released = 1;
	uv_timer_stop(&b->hold_timer);
	for (c = b->idle_list; c != NULL; c = next) {
		next = c->idle_next;
		c->idle_next = NULL;
		c->idle_prevp = NULL;
		conn_quit(c);
	}
	b->idle_list = NULL;
	b->idle_open = 0;
}

void
bench_conn_ready(struct bench *b, struct conn *c)
{
	b->opening--;
	b->idle_open++;
	c->idle_next = b->idle_list;
	c->idle_prevp = &b->idle_list;
	if (b->idle_list != NULL)
		b->idle_list->idle_prevp = &c->idle_next;
	b->idle_list = c;
	schedule(b);
	check_all_open(b);
}

void
bench_conn_done(struct bench *b, struct conn *c)
{
	b->active--;
	b->sessions_done++;
	if (!c->failed)
		b->ok_sessions++;
	if (b->o.mode == MODE_IDLE) {
		if (!c->ready)
			b->opening--;
		if (c->idle_prevp != NULL) {	/* failed while idle */
			*c->idle_prevp = c->idle_next;
			if (c->idle_next != NULL)
				c->idle_next->idle_prevp = c->idle_prevp;
			b->idle_open--;
		}
	} else {
		b->free_slots[b->n_free_slots++] = c->slot;
	}
	if (b->sessions_done == b->sessions_total) {
		finish(b);
		return;
	}
	schedule(b);
	if (b->o.mode == MODE_IDLE)
		check_all_open(b);
}

void
bench_error(struct bench *b, const struct conn *c, const char *msg)
{
	(void)c;
	if (b->errors == 0)
		snprintf(b->first_error, sizeof(b->first_error), "%s", msg);
	if (b->errors < MAX_PRINTED_ERRORS)
		fprintf(stderr, "smtp-bench: error: %s\n", msg);
	else if (b->errors == MAX_PRINTED_ERRORS)
		fprintf(stderr, "smtp-bench: (further errors are only counted)\n");
	b->errors++;
}

/* Everything finished: close the global handles so uv_run() returns. */
static void
finish(struct bench *b)
{
	b->t_end = uv_hrtime();
	if (!uv_is_closing((uv_handle_t *)&b->hold_timer))
		uv_close((uv_handle_t *)&b->hold_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&b->sigusr1))
		uv_close((uv_handle_t *)&b->sigusr1, NULL);
}

/* ---- report ------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array; 0 if empty. */
static double
pct(const double *v, uint64_t n, double p)
{
	uint64_t i;

	if (n == 0)
		return 0;
	i = (uint64_t)ceil(p / 100.0 * (double)n);
	return v[i > 0 ? i - 1 : 0];
}

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static double
tv_sec(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void
report(struct bench *b, const struct rusage *ru0, const struct rusage *ru1)
{
	static const char *const modes[] = { "session", "bulk", "idle" };
	static const char *const tlss[] = { "starttls", "implicit", "plain" };
	const struct bench_opts *o = &b->o;
	double el = (double)(b->t_end - b->t_start) / 1e9;
	double open_s = b->t_all_open ? (double)(b->t_all_open - b->t_start) / 1e9 : el;
	double user = tv_sec(ru1->ru_utime) - tv_sec(ru0->ru_utime);
	double sys = tv_sec(ru1->ru_stime) - tv_sec(ru0->ru_stime);
	double rate_el = o->mode == MODE_IDLE ? open_s : el;
	double sps = rate_el > 0 ? (double)b->ok_sessions / rate_el : 0;
	double mbs = el > 0 ? (double)b->message_bytes / 1e6 / el : 0;
	double mps = el > 0 ? (double)b->messages / el : 0;

	qsort(b->sess_lat, b->n_sess_lat, sizeof(double), cmp_double);
	qsort(b->msg_lat, b->n_msg_lat, sizeof(double), cmp_double);
	qsort(b->ready_lat, b->n_ready_lat, sizeof(double), cmp_double);
	if (o->json) {
		printf("{\"mode\":\"%s\",\"host\":", modes[o->mode]);
		json_string(o->host);
		printf(",\"port\":%d,\"tls\":\"%s\",\"resume\":%s,\"count\":%llu,\"concurrency\":%u,\"size\":%zu",
		    o->port, tlss[o->tls], o->resume ? "true" : "false", (unsigned long long)o->count,
		    o->concurrency, b->msg.size);
		printf(",\"sessions_ok\":%llu,\"errors\":%llu,\"elapsed_s\":%.3f,\"sessions_per_s\":%.1f",
		    (unsigned long long)b->ok_sessions, (unsigned long long)b->errors, el, sps);
		printf(",\"messages\":%llu,\"message_bytes\":%llu,\"mb_per_s\":%.2f,\"messages_per_s\":%.1f",
		    (unsigned long long)b->messages, (unsigned long long)b->message_bytes, mbs, mps);
		printf(",\"session_p50_ms\":%.3f,\"session_p99_ms\":%.3f,\"session_max_ms\":%.3f",
		    pct(b->sess_lat, b->n_sess_lat, 50), pct(b->sess_lat, b->n_sess_lat, 99),
		    pct(b->sess_lat, b->n_sess_lat, 100));
		printf(",\"message_p50_ms\":%.3f,\"message_p99_ms\":%.3f",
		    pct(b->msg_lat, b->n_msg_lat, 50), pct(b->msg_lat, b->n_msg_lat, 99));
		printf(",\"session_p90_ms\":%.3f,\"message_p90_ms\":%.3f,\"ready_p50_ms\":%.3f,\"ready_p90_ms\":%.3f",
		    pct(b->sess_lat, b->n_sess_lat, 90), pct(b->msg_lat, b->n_msg_lat, 90),
		    pct(b->ready_lat, b->n_ready_lat, 50), pct(b->ready_lat, b->n_ready_lat, 90));
		printf(",\"messages_per_session\":%llu,\"pipelining\":%s,\"pipelined_sessions\":%llu"
		    ",\"helo_fallbacks\":%llu", (unsigned long long)(o->mode == MODE_SESSION ? o->messages : 0),
		    o->pipelining ? "true" : "false", (unsigned long long)b->pipelined_sessions,
		    (unsigned long long)b->helo_fallbacks);
		printf(",\"handshakes\":%llu,\"resumed\":%llu,\"resume_offered\":%llu",
		    (unsigned long long)b->handshakes, (unsigned long long)b->resumed,
		    (unsigned long long)b->resume_offered);
		printf(",\"tls_version\":\"%s\",\"tls_cipher\":\"%s\"", b->tls_version, b->tls_cipher);
		printf(",\"wire_out_bytes\":%llu,\"wire_in_bytes\":%llu,\"resets_after_quit\":%llu",
		    (unsigned long long)b->wire_out, (unsigned long long)b->wire_in,
		    (unsigned long long)b->close_resets);
		printf(",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_pct\":%.1f", user, sys,
		    el > 0 ? 100 * (user + sys) / el : 0);
		if (o->mode == MODE_IDLE)
			printf(",\"open_s\":%.3f,\"hold_s\":%.1f", open_s, o->hold);
		printf(",\"first_error\":");
		json_string(b->first_error);
		printf("}\n");
		return;
	}
	printf("smtp-bench: %s mode, %s:%d, %s%s, concurrency %u, %zu-byte messages\n", modes[o->mode],
	    o->host, o->port, tlss[o->tls], o->resume ? " + resume" : "", o->concurrency, b->msg.size);
	if (o->mode == MODE_IDLE)
		printf("  sessions   %llu ok, %llu errors; all opened in %.3f s (%.1f sessions/s), %.3f s in all\n",
		    (unsigned long long)b->ok_sessions, (unsigned long long)b->errors, open_s, sps, el);
	else
		printf("  sessions   %llu ok, %llu errors in %.3f s: %.1f sessions/s\n",
		    (unsigned long long)b->ok_sessions, (unsigned long long)b->errors, el, sps);
	if (o->mode != MODE_IDLE)
		printf("  messages   %llu, %.1f MB of content: %.2f MB/s, %.1f messages/s\n",
		    (unsigned long long)b->messages, (double)b->message_bytes / 1e6, mbs, mps);
	printf("  latency    per session (%s): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	    o->mode == MODE_IDLE ? "connect to idle" : "connect to 221", pct(b->sess_lat, b->n_sess_lat, 50),
	    pct(b->sess_lat, b->n_sess_lat, 99), pct(b->sess_lat, b->n_sess_lat, 100));
	if (o->mode != MODE_IDLE) {
		printf("             per message (MAIL FROM to 250): p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n",
		    pct(b->msg_lat, b->n_msg_lat, 50), pct(b->msg_lat, b->n_msg_lat, 90),
		    pct(b->msg_lat, b->n_msg_lat, 99));
		printf("             connect to ready for MAIL FROM: p50 %.2f ms, p90 %.2f ms\n",
		    pct(b->ready_lat, b->n_ready_lat, 50), pct(b->ready_lat, b->n_ready_lat, 90));
		printf("  smtp       %llu sessions pipelined MAIL/RCPT/DATA%s, %llu fell back to HELO\n",
		    (unsigned long long)b->pipelined_sessions, o->pipelining ? "" : " (no --pipelining)",
		    (unsigned long long)b->helo_fallbacks);
	}
	if (o->tls != BT_PLAIN && b->handshakes > 0)
		printf("  tls        %llu handshakes (last: %s %s), %llu resumed of %llu offered\n",
		    (unsigned long long)b->handshakes, b->tls_version, b->tls_cipher,
		    (unsigned long long)b->resumed, (unsigned long long)b->resume_offered);
	else if (o->tls != BT_PLAIN)
		printf("  tls        no handshake completed\n");
	printf("  wire       %.1f MB out, %.1f MB in%s\n", (double)b->wire_out / 1e6, (double)b->wire_in / 1e6,
	    b->close_resets ? " (some connections reset after 221)" : "");
	printf("  client cpu %.2f s (user %.2f, sys %.2f) = %.0f%% of one core\n", user + sys, user, sys,
	    el > 0 ? 100 * (user + sys) / el : 0);
	if (b->errors > 0)
		printf("  first error: %s\n", b->first_error);
}

/* ---- main --------------------------------------------------------------- */

/* Idle mode needs one descriptor per session: take the whole hard limit. */
static void
raise_nofile(const struct bench *b)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (b->o.mode == MODE_IDLE && rl.rlim_cur != RLIM_INFINITY && b->o.count + 16 > rl.rlim_cur)
		fprintf(stderr, "smtp-bench: warning: %llu sessions but only %llu file descriptors (ulimit -n)\n",
		    (unsigned long long)b->o.count, (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	static struct bench bench;
	struct bench *b = &bench;
	struct rusage ru0, ru1;
	char err[256];
	unsigned i;
	int r;

	if (parse_opts(argc, argv, &b->o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(b);
	b->loop = uv_default_loop();
	if ((r = uv_ip4_addr(b->o.host, b->o.port, (struct sockaddr_in *)&b->addr)) != 0 &&
	    (r = uv_ip6_addr(b->o.host, b->o.port, (struct sockaddr_in6 *)&b->addr)) != 0) {
		fprintf(stderr, "smtp-bench: --host must be an IPv4 or IPv6 address: %s\n", b->o.host);
		return 2;
	}
	if (b->o.tls != BT_PLAIN && (b->ctx = btls_ctx_new(b, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtp-bench: %s\n", err);
		return 1;
	}
	if (message_init(b) < 0) {
		fprintf(stderr, "smtp-bench: cannot build the message\n");
		return 1;
	}
	if (b->o.outcomes != NULL) {
		if ((b->outcomes_f = fopen(b->o.outcomes, "a")) == NULL) {
			fprintf(stderr, "smtp-bench: %s: %s\n", b->o.outcomes, strerror(errno));
			return 1;
		}
		setvbuf(b->outcomes_f, NULL, _IOLBF, 0);	/* a reader sees whole lines */
	}

	/* Bulk mode: one session per slot, --count messages shared out. */
	b->sessions_total = b->o.count;
	if (b->o.mode == MODE_BULK && b->o.concurrency < b->o.count)
		b->sessions_total = b->o.concurrency;
	if (b->o.mode != MODE_IDLE && b->o.concurrency > b->sessions_total)
		b->o.concurrency = (unsigned)b->sessions_total;
	b->sess_lat = calloc(b->sessions_total, sizeof(double));
	b->msg_lat_cap = b->o.mode == MODE_SESSION ? b->o.count * b->o.messages : b->o.count;
	b->msg_lat = calloc(b->msg_lat_cap, sizeof(double));
	b->ready_lat = calloc(b->sessions_total, sizeof(double));
	b->slot_sess = calloc(b->o.concurrency, sizeof(SSL_SESSION *));
	b->free_slots = calloc(b->o.concurrency, sizeof(unsigned));
	if (b->sess_lat == NULL || b->msg_lat == NULL || b->ready_lat == NULL || b->slot_sess == NULL || b->free_slots == NULL) {
		fprintf(stderr, "smtp-bench: out of memory\n");
		return 1;
	}
	for (i = 0; i < b->o.concurrency; i++)	/* popped from the end: slot 0 first */
		b->free_slots[b->n_free_slots++] = b->o.concurrency - 1 - i;

	uv_timer_init(b->loop, &b->hold_timer);
	b->hold_timer.data = b;
	uv_signal_init(b->loop, &b->sigusr1);
	b->sigusr1.data = b;
	if (b->o.mode == MODE_IDLE)
		uv_signal_start(&b->sigusr1, on_sigusr1, SIGUSR1);

	getrusage(RUSAGE_SELF, &ru0);
	b->t_start = uv_hrtime();
	schedule(b);
	uv_run(b->loop, UV_RUN_DEFAULT);
	getrusage(RUSAGE_SELF, &ru1);

	report(b, &ru0, &ru1);
	fflush(stdout);

	for (i = 0; i < b->o.concurrency; i++)
		if (b->slot_sess[i] != NULL)
			SSL_SESSION_free(b->slot_sess[i]);
	SSL_CTX_free(b->ctx);
	free(b->msg.block);
	free(b->sess_lat);
	free(b->msg_lat);
	free(b->ready_lat);
	free(b->slot_sess);
	free(b->free_slots);
	if (b->outcomes_f != NULL)
		fclose(b->outcomes_f);
	if (uv_loop_close(b->loop) != 0)
		fprintf(stderr, "smtp-bench: warning: handles left open at exit\n");
	return b->errors > 0 ? 1 : 0;
}
