/*
 * fail_getpeername.c - an LD_PRELOAD shim for tests: getpeername() on a
 * TCP socket fails with ENOTCONN, as it does when a client resets its
 * connection between the kernel's accept and ours. Everything else is the
 * C library's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>

int getpeername(int fd, struct sockaddr *addr, socklen_t *len);

int
getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	int type = 0;
	socklen_t tl = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM) {
		errno = ENOTCONN;
		return -1;
	}
	return ((int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "getpeername"))(fd, addr, len);
}
