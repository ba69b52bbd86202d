/*
 * alloc_fault.h - allocation-failure injection, for tests only.
 *
 * In a build configured with -DSTARTTLSD_ALLOC_FAULTS=ON every malloc,
 * calloc, realloc and strdup of starttlsd's own code (the objects linked
 * into the daemon, not libuv's or BoringSSL's) goes through alloc_fault.c
 * (the linker's --wrap). With STARTTLSD_ALLOC_FAIL=N in the environment,
 * the Nth of them counted from the first accepted connection (so start-up
 * is unaffected) returns NULL, once, and says so on stderr:
 * "event=alloc_fault n=N". Each serving process counts on its own. In a
 * normal build all of this compiles to nothing.
 */
#ifndef STARTTLSD_ALLOC_FAULT_H
#define STARTTLSD_ALLOC_FAULT_H

#ifdef STARTTLSD_ALLOC_FAULTS
/* Start counting allocations (the first connection is here). Idempotent, thread-safe. */
void alloc_fault_arm(void);
#else
static inline void alloc_fault_arm(void) {}
#endif

#endif
