// SPDX-License-Identifier: MIT
/*
 * LD_PRELOAD fault injection for the end-to-end tests: makes the host KVM
 * report the capability numbered in $KVMINI_TEST_HIDE_CAP as absent, so the
 * "missing KVM capability" path runs against a real /dev/kvm.
 */
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>

int ioctl(int fd, unsigned long request, ...);

int ioctl(int fd, unsigned long request, ...)
{
	int (*real_ioctl)(int, unsigned long, ...) = dlsym(RTLD_NEXT, "ioctl");
	const char *hide = getenv("KVMINI_TEST_HIDE_CAP");
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == KVM_CHECK_EXTENSION && hide && (long)arg == atol(hide))
		return 0;
	return real_ioctl(fd, request, arg);
}
