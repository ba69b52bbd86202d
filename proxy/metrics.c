/* metrics.c - counters in shared memory; see metrics.h. */
#include "metrics.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define INF 1e300

const double metrics_bounds[MH_COUNT][METRICS_BUCKETS] = {
	/* TLS handshakes: a full one costs ~1 ms of CPU, a slow client far more. */
	{ 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, INF },
	/* Backend connects: loopback is well under a millisecond. */
	{ 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, INF },
	/* Whole sessions. */
	{ 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 600, 3600, INF },
};

/* Relaxed load and store: each field has one writer. */
#define LOAD(p) atomic_load_explicit((p), memory_order_relaxed)
#define STORE(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)

struct metrics_shm *
metrics_shm_new(void)
{
	struct metrics_shm *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	STORE(&m->last_reload_ok_unix, (uint64_t)time(NULL));
	return m;	/* the kernel zeroed it, page by page as it is touched */
}

size_t
metrics_first_slot(size_t ci)
{
	return ci * (METRICS_SLOTS / METRICS_CHILDREN);
}

struct metrics_slot *
metrics_slot_claim(struct metrics_shm *m, size_t i, const struct config *cfg)
{
	struct metrics_slot *s;
	size_t l, n;

	if (m == NULL || i >= METRICS_SLOTS)
		return NULL;
	s = &m->slot[i];
	memset(s, 0, sizeof(*s));
	n = cfg->nlisteners < METRICS_LISTENERS ? cfg->nlisteners : METRICS_LISTENERS;
	for (l = 0; l < n; l++)
		snprintf(s->row[l].name, METRICS_NAME, "%s",
		    l == METRICS_LISTENERS - 1 && cfg->nlisteners > METRICS_LISTENERS ? "_other" : cfg->listeners[l].name);
	s->nrows = (unsigned)n;
	atomic_store_explicit(&m->owner[i], (int32_t)getpid(), memory_order_release);
	return s;
}

void
metrics_observe(struct metrics_slot *s, enum metrics_histogram h, double seconds)
{
	struct metrics_hist *x;
	size_t b = 0;

	if (s == NULL)
		return;
	x = &s->hist[h];
	while (b < METRICS_BUCKETS - 1 && seconds > metrics_bounds[h][b])
		b++;
	STORE(&x->bucket[b], LOAD(&x->bucket[b]) + 1);
	STORE(&x->count, LOAD(&x->count) + 1);
	STORE(&x->sum_us, LOAD(&x->sum_us) + (uint64_t)(seconds * 1e6));
}

static uint64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

void
metrics_backend(struct metrics_slot *s, size_t l, int ok)
{
	struct metrics_row *r;

	if (s == NULL)
		return;
	r = &s->row[l < METRICS_LISTENERS ? l : METRICS_LISTENERS - 1];
	STORE(ok ? &r->backend_ok_s : &r->backend_fail_s, mono_s());
}

/* The retired row named name, made if there is room (else the last one, "_other"). */
static struct metrics_row *
retired_row(struct metrics_shm *m, const char *name)
{
	unsigned i;

	for (i = 0; i < m->nretired; i++)
		if (strcmp(m->retired[i].name, name) == 0)
			return &m->retired[i];
	if (m->nretired == METRICS_RETIRED - 1)
		name = "_other";
	if (m->nretired < METRICS_RETIRED) {
		snprintf(m->retired[m->nretired].name, METRICS_NAME, "%s", name);
		return &m->retired[m->nretired++];
	}
	return &m->retired[METRICS_RETIRED - 1];
}

static void
add_hist(struct metrics_hist *to, struct metrics_hist *from)
{
	size_t b;

	for (b = 0; b < METRICS_BUCKETS; b++)
		STORE(&to->bucket[b], LOAD(&to->bucket[b]) + LOAD(&from->bucket[b]));
	STORE(&to->count, LOAD(&to->count) + LOAD(&from->count));
	STORE(&to->sum_us, LOAD(&to->sum_us) + LOAD(&from->sum_us));
}

void
metrics_fold(struct metrics_shm *m, size_t first, size_t n)
{
	size_t i, l, c;

	if (m == NULL)
		return;
	atomic_fetch_add_explicit(&m->seq, 1, memory_order_acq_rel);	/* odd: folding */
	for (i = first; i < first + n && i < METRICS_SLOTS; i++) {
		struct metrics_slot *s = &m->slot[i];
		if (LOAD(&m->owner[i]) == 0)
			continue;
		for (l = 0; l < s->nrows; l++) {
			struct metrics_row *r = retired_row(m, s->row[l].name);
			for (c = 0; c < MC_COUNT; c++)
				if (c != MC_ACTIVE)
					STORE(&r->c[c], LOAD(&r->c[c]) + LOAD(&s->row[l].c[c]));
		}
		for (c = 0; c < MH_COUNT; c++)
			add_hist(&m->retired_hist[c], &s->hist[c]);
		STORE(&m->owner[i], 0);
	}
	atomic_fetch_add_explicit(&m->seq, 1, memory_order_acq_rel);	/* even again */
}

/* The view's row named name (made if new). */
static size_t
view_row(struct metrics_view *v, const char *name)
{
	unsigned i;

	for (i = 0; i < v->nrows; i++)
		if (strcmp(v->row[i].name, name) == 0)
			return i;
	if (i == sizeof(v->row) / sizeof(v->row[0]))
		return i - 1;
	snprintf(v->row[i].name, METRICS_NAME, "%s", name);
	v->nrows++;
	return i;
}

static void
add_row(struct metrics_view *v, struct metrics_row *r)
{
	size_t i = view_row(v, r->name), c;
	uint64_t ok = LOAD(&r->backend_ok_s), fail = LOAD(&r->backend_fail_s);

	for (c = 0; c < MC_COUNT; c++)
		v->row[i].c[c] += LOAD(&r->c[c]);
	if (ok > v->row[i].backend_ok_s)
		v->row[i].backend_ok_s = ok;
	if (fail > v->row[i].backend_fail_s)
		v->row[i].backend_fail_s = fail;
}

static void
sum_once(struct metrics_shm *m, struct metrics_view *v)
{
	size_t i, l, h, b;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < m->nretired && i < METRICS_RETIRED; i++)
		add_row(v, &m->retired[i]);
	for (i = 0; i < METRICS_SLOTS; i++) {
		struct metrics_slot *s = &m->slot[i];
		if (atomic_load_explicit(&m->owner[i], memory_order_acquire) == 0)
			continue;
		for (l = 0; l < s->nrows && l < METRICS_LISTENERS; l++)
			add_row(v, &s->row[l]);
		for (h = 0; h < MH_COUNT; h++) {
			for (b = 0; b < METRICS_BUCKETS; b++)
				v->hist[h].bucket[b] += LOAD(&s->hist[h].bucket[b]);
			v->hist[h].count += LOAD(&s->hist[h].count);
			v->hist[h].sum_us += LOAD(&s->hist[h].sum_us);
		}
	}
	for (h = 0; h < MH_COUNT; h++) {
		for (b = 0; b < METRICS_BUCKETS; b++)
			v->hist[h].bucket[b] += LOAD(&m->retired_hist[h].bucket[b]);
		v->hist[h].count += LOAD(&m->retired_hist[h].count);
		v->hist[h].sum_us += LOAD(&m->retired_hist[h].sum_us);
	}
	v->reloads_ok = LOAD(&m->reloads_ok);
	v->reloads_failed = LOAD(&m->reloads_failed);
	v->last_reload_ok_unix = LOAD(&m->last_reload_ok_unix);
}

void
metrics_snapshot(struct metrics_shm *m, struct metrics_view *v)
{
	uint64_t before;
	int tries;

	/* A fold running meanwhile (the sequence odd or moved) means: sum again. */
	for (tries = 0; tries < 100; tries++) {
		before = atomic_load_explicit(&m->seq, memory_order_acquire);
		if (before & 1) {
			usleep(100);
			continue;
		}
		sum_once(m, v);
		if (atomic_load_explicit(&m->seq, memory_order_acquire) == before)
			return;
	}
}
