/* dotstuff.c - DATA end-of-message scanner and normaliser; see dotstuff.h. */
#include "dotstuff.h"

#include <string.h>

enum {
	ST_BOL,		/* at the beginning of a line */
	ST_DOT,		/* line so far is a single "." (held back) */
	ST_DOT_CR,	/* line so far is ".\r" (held back) */
	ST_MID,		/* inside a line */
	ST_CR,		/* inside a line, after a CR (held back) */
};

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
line_end(struct data_filter *f, struct buf *out, int crlf)
{
	if (!crlf)
		f->dirty = 1;
	f->prev_crlf = crlf;
	f->state = ST_BOL;
	f->linelen = 0;
	return buf_append(out, "\r\n", 2);
}

enum data_result
data_filter_run(struct data_filter *f, const char *in, size_t len, struct buf *out, size_t *used)
{
	size_t i = 0, run;
	char c;

	while (i < len) {
		/* Fast path: copy a run of ordinary bytes inside a line. */
		if (f->state == ST_MID) {
			for (run = i; run < len && in[run] != '\r' && in[run] != '\n' && in[run] != '\0'; run++)
				;
			if (run > i) {
				if (buf_append(out, in + i, run - i))
					return DATA_NOMEM;
				f->linelen += run - i;
				i = run;
				if (f->max_line && f->linelen + 2 > f->max_line)
					f->too_long = 1;
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
			if (buf_append(out, "..", (!f->prev_crlf || c == '\n') ? 2 : 1))
				return DATA_NOMEM;
			f->linelen = 1;
			f->state = ST_MID;
			break;
		case ST_DOT_CR:
			if (c == '\n' && f->prev_crlf) {
				*used = i;
				return buf_append(out, ".\r\n", 3) ? DATA_NOMEM : DATA_END;
			}
			/* ".\r" + LF after a bare line end, or a bare CR: never an end. */
			/* The line did end in CRLF if c is LF: the next line is in CRLF context. */
			if (buf_append(out, "..", 2) || line_end(f, out, c == '\n'))
				return DATA_NOMEM;
			if (c != '\n')
				i--;	/* c starts the next line: scan it again at BOL */
			continue;
		case ST_CR:
			f->state = ST_MID;
			if (line_end(f, out, c == '\n'))
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
			if (line_end(f, out, 0))
				return DATA_NOMEM;
			break;
		case '\0':
			f->dirty = 1;
			c = ' ';
			/* FALLTHROUGH */
		default:
			if (buf_append(out, &c, 1))
				return DATA_NOMEM;
			if (f->max_line && ++f->linelen + 2 > f->max_line)
				f->too_long = 1;
		}
	}
	*used = i;
	return DATA_MORE;
}
