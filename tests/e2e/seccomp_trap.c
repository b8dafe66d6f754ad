// SPDX-License-Identifier: MIT
/*
 * LD_PRELOAD fault injection for the end-to-end tests: with
 * $KVMINI_TEST_SECCOMP_TRAP set, the first KVM_RUN is preceded by a socket()
 * call on the vCPU thread, which its seccomp filter forbids.
 */
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int ioctl(int fd, unsigned long request, ...);

static int (*real_ioctl)(int, unsigned long, ...);
static int trap;

__attribute__((constructor)) static void init(void)
{
	/* Resolved here: the filters are not in place yet. */
	real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	trap = getenv("KVMINI_TEST_SECCOMP_TRAP") != NULL;
}

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int s;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == KVM_RUN && __atomic_exchange_n(&trap, 0, __ATOMIC_SEQ_CST)) {
		s = socket(AF_INET, SOCK_DGRAM, 0);
		if (s >= 0)
			close(s);
	}
	return real_ioctl(fd, request, arg);
}
