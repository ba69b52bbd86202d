/*
 * metrics.h - the counters behind /metrics, in memory shared by the master
 * and every serving process it forks, so they survive reloads and restarts
 * (like nginx's shared zones): a counter never goes backwards because a new
 * serving process took over.
 *
 * Each worker thread owns one slot and is its only writer (relaxed atomic
 * loads and stores: no lock and no read-modify-write on the session path).
 * A scrape sums every live slot plus the totals of serving processes that
 * have exited, which the master folds in when it reaps one (under a
 * sequence count, so a scrape never sees a process counted twice or not at
 * all). The master itself never reads the network: it only writes here.
 */
#ifndef STARTTLSD_METRICS_H
#define STARTTLSD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Listeners counted separately per slot; more share the last row ("_other"). */
#define METRICS_LISTENERS 32
/* Slots: one per worker, per serving process (current and draining). */
#define METRICS_CHILDREN 16
#define METRICS_SLOTS (METRICS_CHILDREN * 256)
/* Listener names remembered for exited processes' totals. */
#define METRICS_RETIRED 64
#define METRICS_NAME 48

/* Per-listener counters (and the one gauge). */
enum metrics_counter {
	MC_CONN_ACCEPTED,		/* starttlsd_connections_total{result} */
	MC_CONN_LIMIT,
	MC_CONN_LIMIT_PER_IP,
	MC_CONN_BACKEND_UNAVAILABLE,
	MC_CONN_PROXY_HEADER_ERROR,
	MC_CONN_NOT_ALLOWED,		/* (outside the listener's allow list) */
	MC_TLS12_FULL,			/* starttlsd_tls_handshakes_total{version,resumed} */
	MC_TLS12_RESUMED,
	MC_TLS13_FULL,
	MC_TLS13_RESUMED,
	MC_TLSFAIL_HANDSHAKE,		/* starttlsd_tls_handshake_failures_total{reason} */
	MC_TLSFAIL_TIMEOUT,
	MC_TLSFAIL_CLOSED,
	MC_SESSIONS_TLS,		/* starttlsd_starttls_sessions_total{tls} */
	MC_SESSIONS_PLAIN,
	MC_MSG_ACCEPTED,		/* starttlsd_messages_total{result} */
	MC_MSG_REJECTED,
	MC_MSG_ABORTED,
	MC_MSG_BYTES,			/* starttlsd_message_bytes_total */
	MC_POLICY_REQUIRE_TLS,		/* starttlsd_policy_rejections_total{rule}, in enum relay_note's order */
	MC_POLICY_AUTH_BEFORE_TLS,
	MC_POLICY_STARTTLS_INJECTION,
	MC_POLICY_BARE_NEWLINE,
	MC_POLICY_LINE_LENGTH,
	MC_POLICY_MAX_ERRORS,
	MC_POLICY_FORBIDDEN_COMMAND,
	MC_POLICY_TIMEOUT,
	MC_ACTIVE,			/* starttlsd_connections_active (a gauge: not kept after exit) */
	MC_COUNT
};

/* Histograms (over all listeners). */
enum metrics_histogram { MH_HANDSHAKE, MH_BACKEND_CONNECT, MH_SESSION, MH_COUNT };
#define METRICS_BUCKETS 14

struct metrics_hist {
	_Atomic uint64_t bucket[METRICS_BUCKETS];	/* per bucket (not cumulative); the last is +Inf */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;			/* the sum, in microseconds */
};

/* One listener's row. */
struct metrics_row {
	char name[METRICS_NAME];
	_Atomic uint64_t c[MC_COUNT];
	_Atomic uint64_t backend_ok_s;		/* CLOCK_MONOTONIC seconds of the last backend connect that worked */
	_Atomic uint64_t backend_fail_s;	/* ... and of the last that failed */
};

/* One worker's slot. */
struct metrics_slot {
	unsigned nrows;
	struct metrics_row row[METRICS_LISTENERS];
	struct metrics_hist hist[MH_COUNT];
};

/* The shared region. */
struct metrics_shm {
	_Atomic uint64_t seq;			/* odd while the master folds a process's slots */
	_Atomic int32_t owner[METRICS_SLOTS];	/* the pid writing each slot, 0 if free */
	/* Written by the master. */
	_Atomic uint64_t reloads_ok, reloads_failed;
	_Atomic uint64_t last_reload_ok_unix;	/* time() of the last successful reload (or the start) */
	/* Exited processes' counters, by listener name. */
	unsigned nretired;
	struct metrics_row retired[METRICS_RETIRED];
	struct metrics_hist retired_hist[MH_COUNT];
	struct metrics_slot slot[METRICS_SLOTS];
};

/* Upper bounds of the buckets (seconds), the last one +Inf. */
extern const double metrics_bounds[MH_COUNT][METRICS_BUCKETS];

/* The master: map the region (shared with every child forked later). NULL on failure. */
struct metrics_shm *metrics_shm_new(void);

/* The master: the first of the slots for child number ci (0..METRICS_CHILDREN-1). */
size_t metrics_first_slot(size_t ci);

/* A serving process: claim slot i for worker use, naming its rows after cfg's listeners. */
struct metrics_slot *metrics_slot_claim(struct metrics_shm *m, size_t i, const struct config *cfg);

/* The master: the process owning slots first..first+n-1 is gone: fold its counters into the totals. */
void metrics_fold(struct metrics_shm *m, size_t first, size_t n);

/* Add n to counter c of listener l (writers only: one thread per slot). NULL slot: a no-op. */
static inline void
metrics_add(struct metrics_slot *s, size_t l, enum metrics_counter c, uint64_t n)
{
	_Atomic uint64_t *p;

	if (s == NULL)
		return;
	p = &s->row[l < METRICS_LISTENERS ? l : METRICS_LISTENERS - 1].c[c];
	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n, memory_order_relaxed);
}

/* Record an observation of seconds in histogram h. NULL slot: a no-op. */
void metrics_observe(struct metrics_slot *s, enum metrics_histogram h, double seconds);

/* Record a backend connect's outcome for listener l. NULL slot: a no-op. */
void metrics_backend(struct metrics_slot *s, size_t l, int ok);

/* A consistent sum over all live slots and the retired totals. */
struct metrics_view {
	unsigned nrows;
	struct {
		char name[METRICS_NAME];
		uint64_t c[MC_COUNT];
		uint64_t backend_ok_s, backend_fail_s;	/* the latest of each over all slots */
	} row[METRICS_RETIRED + METRICS_LISTENERS];
	struct {
		uint64_t bucket[METRICS_BUCKETS], count, sum_us;
	} hist[MH_COUNT];
	uint64_t reloads_ok, reloads_failed, last_reload_ok_unix;
};

/* Sum m into v. */
void metrics_snapshot(struct metrics_shm *m, struct metrics_view *v);

#endif
