/* connlimit.c - shared connection counters; see connlimit.h. */
#include "connlimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096

/* One client address with live connections. */
struct ipcount {
	struct ipcount *next;
	uint8_t key[17];	/* family byte + address */
	unsigned count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipcount *buckets[NBUCKETS];
static unsigned total;

/* The address part of peer (IPv4-mapped IPv6 counts as IPv4). */
static void
make_key(const struct sockaddr_storage *peer, uint8_t key[17])
{
	memset(key, 0, 17);
	if (peer->ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, mapped, 12) == 0) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 16);
		}
	} else if (peer->ss_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)peer)->sin_addr, 4);
	}
}

static unsigned
hash(const uint8_t key[17])
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	int i;

	for (i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % NBUCKETS;
}

int
connlimit_acquire(const struct sockaddr_storage *peer, unsigned per_ip_max, unsigned total_max, const char **why)
{
	uint8_t key[17];
	struct ipcount *e;
	unsigned b;
	int rc = 0;

	make_key(peer, key);
	b = hash(key);
	pthread_mutex_lock(&lock);
	for (e = buckets[b]; e != NULL && memcmp(e->key, key, 17) != 0; e = e->next)
		;
	if (total_max && total >= total_max) {
		*why = "max_connections";
		rc = -1;
	} else if (per_ip_max && e != NULL && e->count >= per_ip_max) {
		*why = "max_connections_per_ip";
		rc = -1;
	} else {
		if (e == NULL && (e = calloc(1, sizeof(*e))) != NULL) {
			memcpy(e->key, key, 17);
			e->next = buckets[b];
			buckets[b] = e;
		}
		if (e != NULL) {
			e->count++;
			total++;
		} else {
			*why = "out_of_memory";
			rc = -1;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void
connlimit_release(const struct sockaddr_storage *peer)
{
	uint8_t key[17];
	struct ipcount **pp, *e;

	make_key(peer, key);
	pthread_mutex_lock(&lock);
	for (pp = &buckets[hash(key)]; (e = *pp) != NULL; pp = &e->next) {
		if (memcmp(e->key, key, 17) == 0) {
			total--;
			if (--e->count == 0) {
				*pp = e->next;
				free(e);
			}
			break;
		}
	}
	pthread_mutex_unlock(&lock);
}

unsigned
connlimit_total(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = total;
	pthread_mutex_unlock(&lock);
	return n;
}
