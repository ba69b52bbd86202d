/* dotstuff.c - DATA end-of-message scanner and normaliser; see dotstuff.h. */
#include "dotstuff.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_DISPATCH 1
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

/* Bits (bit k: byte p[k]) of 64 bytes at p for CR and LF; nul: any NUL among them. */
struct masks {
	uint64_t cr, lf;
	int nul;
};

/*
 * Take the 64-byte block at j described by m if it is clean: every CR and
 * LF is a CRLF pair (so no LF first: its CR would be in the block before;
 * no CR last), no NUL, no line starting with '.' (the byte after each LF is
 * looked at, the one after the block included). Counts its lines and checks
 * their lengths (start and carried as in data_filter_scan()). Returns 1 if
 * taken, 0 if not.
 */
static inline __attribute__((always_inline)) int
take_block(struct data_filter *f, const char *in, size_t j, const struct masks *m, size_t *start, size_t *carried)
{
	uint64_t lf = m->lf, bits;
	size_t end;
	int first = 1;

	if (m->nul || m->cr != lf >> 1 || (lf & 1) != 0)
		return 0;
	for (bits = lf; bits != 0; bits &= bits - 1)	/* nothing is counted before the block is known clean */
		if (in[j + (size_t)__builtin_ctzll(bits) + 1] == '.')
			return 0;
	for (bits = lf; bits != 0; bits &= bits - 1) {
		end = j + (size_t)__builtin_ctzll(bits) + 1;	/* just past this LF */
		/* Lines inside one block are short: with a limit of 66 or more only the first can be too long. */
		if (f->max_line && (first || f->max_line < 66) && *carried + (end - *start) > f->max_line)
			f->too_long = 1;
		*start = end;
		*carried = 0;
		first = 0;
	}
	if (lf != 0) {
		f->prev_crlf = 1;
		f->lines += (unsigned)__builtin_popcountll(lf);
	}
	return 1;
}

#ifdef HAVE_AVX2_DISPATCH
static __attribute__((target("avx2"))) size_t
clean_blocks_avx2(struct data_filter *f, const char *in, size_t j, size_t len, size_t *start, size_t *carried)
{
	const __m256i vcr = _mm256_set1_epi8('\r'), vlf = _mm256_set1_epi8('\n'), vnul = _mm256_setzero_si256();
	struct masks m;

	for (; j + 65 <= len; j += 64) {	/* the byte after the block is looked at too */
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(in + j));
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(in + j + 32));
		__m256i z = _mm256_or_si256(_mm256_cmpeq_epi8(a, vnul), _mm256_cmpeq_epi8(b, vnul));

		m.cr = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, vcr)) |
		    (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, vcr)) << 32;
		m.lf = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, vlf)) |
		    (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, vlf)) << 32;
		m.nul = !_mm256_testz_si256(z, z);
		if (!take_block(f, in, j, &m, start, carried))
			break;
	}
	return j;
}
#endif

#ifdef __SSE2__
static size_t
clean_blocks_sse2(struct data_filter *f, const char *in, size_t j, size_t len, size_t *start, size_t *carried)
{
	const __m128i vcr = _mm_set1_epi8('\r'), vlf = _mm_set1_epi8('\n'), vnul = _mm_setzero_si128();
	struct masks m;
	__m128i v, nul;
	int k;

	for (; j + 65 <= len; j += 64) {
		m.cr = m.lf = 0;
		nul = _mm_setzero_si128();
		for (k = 0; k < 64; k += 16) {
			v = _mm_loadu_si128((const __m128i *)(const void *)(in + j + k));
			m.cr |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vcr)) << k;
			m.lf |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vlf)) << k;
			nul = _mm_or_si128(nul, _mm_cmpeq_epi8(v, vnul));
		}
		m.nul = _mm_movemask_epi8(nul) != 0;
		if (!take_block(f, in, j, &m, start, carried))
			break;
	}
	return j;
}
#endif

typedef size_t clean_blocks_fn(struct data_filter *f, const char *in, size_t j, size_t len, size_t *start,
    size_t *carried);

static size_t
no_blocks(struct data_filter *f, const char *in, size_t j, size_t len, size_t *start, size_t *carried)
{
	(void)f, (void)in, (void)len, (void)start, (void)carried;
	return j;
}

/*
 * The variant in use, chosen at the first message: worker threads may
 * reach that first message together, so the pointer is atomic (they all
 * choose the same; a relaxed load is a plain load on x86).
 */
static _Atomic(clean_blocks_fn *) blocks_fn;

/* The block scanner for a data_filter_vectors() mode. */
static clean_blocks_fn *
variant(int mode)
{
	clean_blocks_fn *fn = no_blocks;

#ifdef __SSE2__
	if (mode != 2)
		fn = clean_blocks_sse2;
#endif
#ifdef HAVE_AVX2_DISPATCH
	__builtin_cpu_init();
	if (mode == 0 && __builtin_cpu_supports("avx2"))
		fn = clean_blocks_avx2;
#endif
	return fn;
}

void
data_filter_vectors(int mode)
{
	atomic_store_explicit(&blocks_fn, variant(mode), memory_order_relaxed);
}

/*
 * Inside a line at j: take the whole 64-byte blocks of clean text that
 * follow (message text is mostly such blocks), with the widest vectors the
 * CPU has. Returns where the first block that is not clean begins; the
 * byte-wise path goes on from there.
 */
static size_t
clean_blocks(struct data_filter *f, const char *in, size_t j, size_t len, size_t *start, size_t *carried)
{
	clean_blocks_fn *fn = atomic_load_explicit(&blocks_fn, memory_order_relaxed);

	if (fn == NULL) {
		fn = variant(0);
		atomic_store_explicit(&blocks_fn, fn, memory_order_relaxed);
	}
	return fn(f, in, j, len, start, carried);
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

int
data_filter_is_end(const struct data_filter *f, const char *p, size_t n)
{
	/* In ST_DOT_CR the filter emits "..", a line end, or (only) this. */
	return f->state == ST_DOT_CR && n == 3 && memcmp(p, ".\r\n", 3) == 0;
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
				j = clean_blocks(f, in, j, len, &start, &carried);
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
