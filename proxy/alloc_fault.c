/*
 * alloc_fault.c - allocation-failure injection (STARTTLSD_ALLOC_FAULTS=ON
 * builds only); see alloc_fault.h. The link maps malloc to __wrap_malloc
 * (and so on) in starttlsd's objects; __real_malloc is the libc's (or a
 * sanitizer's) malloc.
 */
#include "alloc_fault.h"

#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The linker's --wrap fixes these names. NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

static unsigned long fail_at;		/* STARTTLSD_ALLOC_FAIL (0: never) */
static atomic_int armed;		/* a connection was accepted */
static atomic_ulong counted;		/* allocations since */

/* STARTTLSD_ALLOC_FAIL, read once before main runs. */
static void __attribute__((constructor))
alloc_fault_init(void)
{
	const char *v = getenv("STARTTLSD_ALLOC_FAIL");
	char *end;

	void *frames[1];

	if (v == NULL || *v == '\0')
		return;
	backtrace(frames, 1);	/* loads what backtrace() needs now, not in the allocation it reports */
	fail_at = strtoul(v, &end, 10);
	if (*end != '\0')
		fail_at = 0;
}

void
alloc_fault_arm(void)
{
	atomic_store(&armed, 1);
}

/* Is this allocation the one to fail? Then say so and where on stderr (allocating nothing), set errno. */
static int
fail_now(void)
{
	void *frames[16];
	char line[80];
	unsigned long n;
	int len;

	if (fail_at == 0 || !atomic_load(&armed))
		return 0;
	if ((n = atomic_fetch_add(&counted, 1) + 1) != fail_at)
		return 0;
	len = snprintf(line, sizeof(line), "level=warn event=alloc_fault n=%lu pid=%d\n", n, (int)getpid());
	if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
		/* nobody to tell */
	}
	backtrace_symbols_fd(frames, backtrace(frames, 16), STDERR_FILENO);
	errno = ENOMEM;
	return 1;
}

/* NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
void *
__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}
/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
