/* check.h - a tiny test harness: CHECK() records failures, main returns them. */
#ifndef STARTTLSD_CHECK_H
#define STARTTLSD_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		check_count++;                                                        \
		if (!(cond)) {                                                        \
			check_failures++;                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                     \
	} while (0)

#define CHECK_STR(got, want) CHECK(strcmp((got), (want)) == 0 || (fprintf(stderr, "  got  [%s]\n  want [%s]\n", (got), (want)), 0))

static inline int
check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
