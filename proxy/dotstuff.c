/* dotstuff.c - DATA end-of-message scanner and normaliser; see dotstuff.h. */
#include "dotstuff.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum {
	ST_BOL,		/* at the beginning of a line */
	ST_DOT,		/* line so far is a single "." (held back) */
	ST_DOT_CR,	/* line so far is ".\r" (held back) */
	ST_MID,		/* inside a line */
	ST_CR,		/* inside a line, after a CR (held back) */
};

/* Bytes that leave the fast path: CR, LF and NUL. */
static const unsigned char special[256] = { ['\0'] = 1, ['\r'] = 1, ['\n'] = 1 };

/* The index of the first CR, LF or NUL in in[j..len), or len. */
static size_t
skip_ordinary(const char *in, size_t j, size_t len)
{
#ifdef __SSE2__
	/* 16 bytes at a time: message text is mostly long runs of ordinary bytes. */
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n'), nul = _mm_setzero_si128();

	while (j + 16 <= len) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + j));
		int m = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
		    _mm_cmpeq_epi8(v, nul)));
		if (m != 0)
			return j + (size_t)__builtin_ctz((unsigned)m);
		j += 16;
	}
#endif
	while (j < len && !special[(unsigned char)in[j]])
		j++;
	return j;
}

void
data_filter_init(struct data_filter *f, size_t max_line)
{
	memset(f, 0, sizeof(*f));
	f->state = ST_BOL;
	f->prev_crlf = 1;	/* the DATA command line itself ended in CRLF */
	f->max_line = max_line;
}

/* End the current line; crlf tells whether the client really sent CRLF. */
static int
line_end(struct data_filter *f, data_emit_fn *emit, void *arg, int crlf)
{
	if (!crlf)
		f->dirty = 1;
	f->prev_crlf = crlf;
	f->lines++;
	f->state = ST_BOL;
	f->linelen = 0;
	return emit(arg, "\r\n", 2);
}

static int
emit_buf(void *arg, const char *p, size_t n)
{
	return buf_append(arg, p, n);
}

enum data_result
data_filter_run(struct data_filter *f, const char *in, size_t len, struct buf *out, size_t *used)
{
	return data_filter_scan(f, in, len, emit_buf, out, used);
}

enum data_result
data_filter_scan(struct data_filter *f, const char *in, size_t len, data_emit_fn *emit, void *arg, size_t *used)
{
	size_t i = 0;
	char c;

	while (i < len) {
		/*
		 * Fast path: ordinary bytes, and clean CRLF line ends followed by an
		 * ordinary byte (the common case), are appended in one go.
		 */
		if (f->state == ST_MID) {
			size_t j = i, start = i, carried = f->linelen;

			for (;;) {
				j = skip_ordinary(in, j, len);
				if (j + 2 < len && in[j] == '\r' && in[j + 1] == '\n' && in[j + 2] != '.' &&
				    !special[(unsigned char)in[j + 2]]) {
					if (f->max_line && carried + (j - start) + 2 > f->max_line)
						f->too_long = 1;
					j += 2;
					start = j;
					carried = 0;
					f->prev_crlf = 1;
					f->lines++;
					continue;
				}
				break;
			}
			if (j > i) {
				if (emit(arg, in + i, j - i))
					return DATA_NOMEM;
				f->linelen = carried + (j - start);
				if (f->max_line && f->linelen + 2 > f->max_line)
					f->too_long = 1;
				i = j;
				continue;
			}
		}
		c = in[i++];
		switch (f->state) {
		case ST_BOL:
			if (c == '.') {
				f->state = ST_DOT;
				continue;
			}
			f->state = ST_MID;
			break;
		case ST_DOT:
			if (c == '\r') {
				f->state = ST_DOT_CR;
				continue;
			}
			/* A "." line not in CRLF context, or one ended by a bare LF, is stuffed. */
			if (emit(arg, "..", (!f->prev_crlf || c == '\n') ? 2 : 1))
				return DATA_NOMEM;
			f->linelen = 1;
			f->state = ST_MID;
			break;
		case ST_DOT_CR:
			if (c == '\n' && f->prev_crlf) {
				*used = i;
				return emit(arg, ".\r\n", 3) ? DATA_NOMEM : DATA_END;
			}
			/* ".\r" + LF after a bare line end, or a bare CR: never an end. */
			/* The line did end in CRLF if c is LF: the next line is in CRLF context. */
			if (emit(arg, "..", 2) || line_end(f, emit, arg, c == '\n'))
				return DATA_NOMEM;
			if (c != '\n')
				i--;	/* c starts the next line: scan it again at BOL */
			continue;
		case ST_CR:
			f->state = ST_MID;
			if (line_end(f, emit, arg, c == '\n'))
				return DATA_NOMEM;
			if (c != '\n')
				i--;	/* c starts the next line: scan it again at BOL */
			continue;
		}
		/* c is an ordinary position in a line (state MID). */
		switch (c) {
		case '\r':
			f->state = ST_CR;
			break;
		case '\n':
			if (line_end(f, emit, arg, 0))
				return DATA_NOMEM;
			break;
		case '\0':
			f->dirty = 1;
			c = ' ';
			/* FALLTHROUGH */
		default:
			if (emit(arg, &c, 1))
				return DATA_NOMEM;
			if (f->max_line && ++f->linelen + 2 > f->max_line)
				f->too_long = 1;
		}
	}
	*used = i;
	return DATA_MORE;
}
