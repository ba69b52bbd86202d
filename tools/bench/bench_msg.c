/*
 * bench_msg.c - the messages smtp-bench sends.
 *
 * A message is a small header of its own (Date, From, To, Subject,
 * Message-ID, MIME headers; fixed length, so every message has exactly the
 * same size) followed by a body of lines of 76 characters of words plus
 * CRLF. The body is never materialised: a 64 KiB block of lines, built once,
 * is repeated, and message_copy() hands out the next piece of a message on
 * demand, which is how bench_conn.c generates content lazily as the socket
 * drains. Memory does not depend on --size.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The header of message (id, seq): always b->msg.header_len bytes. */
int
message_header(const struct bench *b, char *out, size_t len, uint64_t id, uint64_t seq)
{
	int n = 0;

	/* --tag: a token naming this message in the run, for the soak's
	 * per-message check of the mailbox (still a fixed length). */
	if (b->o.tag != NULL) {
		n = snprintf(out, len, "X-Bench-Token: %s.%016llx.%016llx\r\n", b->o.tag,
		    (unsigned long long)id, (unsigned long long)seq);
		if (n < 0 || (size_t)n >= len)
			return -1;
		out += n;
		len -= (size_t)n;
	}
	return n + snprintf(out, len,
	    "Date: %s\r\n"
	    "From: smtp-bench <%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: smtp-bench message %016llx-%016llx\r\n"
	    "Message-ID: <%016llx.%016llx@smtp-bench.invalid>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n",
	    b->msg.date, b->o.from, b->o.rcpt, (unsigned long long)id, (unsigned long long)seq,
	    (unsigned long long)id, (unsigned long long)seq);
}

/* Fill dst with n characters of words separated by spaces, the last word
 * cut where the line ends; never a leading '.' (no dot-stuffing needed). */
static void
fill_words(char *dst, size_t n, uint32_t *rng)
{
	static const char *const words[] = {
		"the", "relay", "message", "queue", "delivery", "transport", "mail", "server", "client",
		"envelope", "recipient", "sender", "header", "body", "status", "report", "deferred",
		"accepted", "network", "latency", "throughput", "benchmark", "loopback", "legacy",
		"plaintext", "encryption", "certificate", "session", "handshake", "of", "and", "to", "a",
		"in", "is", "for", "with", "on", "that", "by", "from", "at", "as", "be", "this", "an",
	};
	size_t i = 0, k;
	const char *wd;

	while (i < n) {
		if (i > 0)
			dst[i++] = ' ';
		*rng ^= *rng << 13;	/* xorshift32 */
		*rng ^= *rng >> 17;
		*rng ^= *rng << 5;
		wd = words[*rng % (sizeof(words) / sizeof(words[0]))];
		for (k = 0; wd[k] != '\0' && i < n; k++)
			dst[i++] = wd[k];
	}
}

/* One line of n bytes, CRLF included (n >= 2). */
static void
make_line(char *dst, size_t n, uint32_t *rng)
{
	fill_words(dst, n - 2, rng);
	dst[n - 2] = '\r';
	dst[n - 1] = '\n';
}

/* Lay out the body: full_len bytes of 78-byte lines (76 characters + CRLF),
 * served by repeating one block of BLOCK_LINES such lines, then a tail of
 * up to 79 bytes (one shorter line, or a 77-byte line and an empty one when
 * a single byte would be left), so the message is exactly --size bytes
 * with constant memory whatever the size. */
int
message_init(struct bench *b)
{
	struct bench_message *m = &b->msg;
	char probe[1024];
	uint32_t rng = 2463534242u;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int n;

	gmtime_r(&now, &tm);
	strftime(m->date, sizeof(m->date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = message_header(b, probe, sizeof(probe), 0, 0);
	if (n < 0 || (size_t)n >= sizeof(probe))
		return -1;
	m->header_len = (size_t)n;
	m->body_len = b->o.size > m->header_len ? b->o.size - m->header_len : 0;
	if (m->body_len == 1)
		m->body_len = 2;	/* one byte cannot be a line */
	m->size = m->header_len + m->body_len;

	m->tail_len = m->body_len % LINE;
	if (m->tail_len == 1)	/* 78k + 1: end with 77 + 2 bytes instead */
		m->tail_len = LINE + 1;
	m->full_len = m->body_len - m->tail_len;
	if (m->tail_len == LINE + 1) {
		make_line(m->tail, LINE - 1, &rng);
		make_line(m->tail + LINE - 1, 2, &rng);
	} else if (m->tail_len > 0) {
		make_line(m->tail, m->tail_len, &rng);
	}
	if ((m->block = malloc(BLOCK_LINES * LINE)) == NULL)
		return -1;
	for (i = 0; i < BLOCK_LINES; i++)
		make_line(m->block + i * LINE, LINE, &rng);
	return 0;
}

/* Copy up to max bytes of a message, from offset off, into dst: its header
 * (the message's own, header_len bytes), then the body, then the ".\r\n"
 * that ends the data. Returns the bytes copied; 0 at the end. */
size_t
message_copy(const struct bench *b, const char *header, size_t off, char *dst, size_t max)
{
	static const char dot[] = ".\r\n";
	const struct bench_message *m = &b->msg;
	size_t done = 0;

	while (done < max && off < m->size + 3) {
		const char *src;
		size_t avail, bo = off - m->header_len;	/* offset in the body */

		if (off < m->header_len) {
			src = header + off;
			avail = m->header_len - off;
		} else if (bo < m->full_len) {	/* the repeated block, up to its end */
			src = m->block + bo % (BLOCK_LINES * LINE);
			avail = BLOCK_LINES * LINE - bo % (BLOCK_LINES * LINE);
			if (avail > m->full_len - bo)
				avail = m->full_len - bo;
		} else if (off < m->size) {
			src = m->tail + (bo - m->full_len);
			avail = m->size - off;
		} else {
			src = dot + (off - m->size);
			avail = m->size + 3 - off;
		}
		if (avail > max - done)
			avail = max - done;
		memcpy(dst + done, src, avail);
		done += avail;
		off += avail;
	}
	return done;
}
