// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp.h"

/* libseccomp's SCMP_A*() macros leave datum_b to zero initialisation, which
 * clang's -Wextra reports. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#if defined(__SANITIZE_ADDRESS__)
#define KVMINI_SANITIZERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVMINI_SANITIZERS 1
#endif
#endif

/* si_code of a SIGSYS from a seccomp filter (not in glibc 2.36's headers). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

#define MAX_SYSCALL_NR 512
#define SYSCALL_NAME_LEN 32

/*
 * What the SIGSYS handler reads. Signal dispositions are process-wide, so
 * this is too: the one exception to "no global mutable state", written by
 * seccomp_prepare() before any filter exists and only read afterwards.
 */
static struct {
	uint32_t arch; /* AUDIT_ARCH_* the names belong to */
	void (*on_trap)(void);
	char names[MAX_SYSCALL_NR][SYSCALL_NAME_LEN];
} trap;

/* The role whose filter this thread loaded; -1: none of its own ("other"). */
static __thread int thread_role __attribute__((tls_model("initial-exec"))) = -1;

static const char *const role_names[SECCOMP_NR_ROLES] = {
	[SECCOMP_ROLE_MAIN] = "main",	  [SECCOMP_ROLE_VCPU] = "vCPU",
	[SECCOMP_ROLE_IO] = "I/O",	  [SECCOMP_ROLE_CONSOLE] = "console",
	[SECCOMP_ROLE_LOADER] = "loader",
};

const char *seccomp_role_name(enum seccomp_role role)
{
	return (unsigned int)role < SECCOMP_NR_ROLES ? role_names[role] : "unknown";
}

/* --- the SIGSYS handler: async-signal-safe, no allocation, no stdio ------ */

static size_t put_str(char *buf, size_t len, size_t pos, const char *s)
{
	while (*s && pos < len)
		buf[pos++] = *s++;
	return pos;
}

static size_t put_uint(char *buf, size_t len, size_t pos, unsigned int v)
{
	char digits[12];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && pos < len)
		buf[pos++] = digits[--n];
	return pos;
}

static void sigsys_handler(int sig, siginfo_t *si, void *ucontext)
{
	char line[192];
	size_t n = 0, len = sizeof(line) - 1;
	unsigned int nr = (unsigned int)si->si_syscall;
	const char *name = "unknown";

	(void)ucontext;
	if (si->si_code == SYS_SECCOMP) {
		if (si->si_arch == trap.arch && nr < MAX_SYSCALL_NR && trap.names[nr][0])
			name = trap.names[nr];
		n = put_str(line, len, n, "kvmini: seccomp: ");
		n = put_str(line, len, n, thread_role >= 0 ? role_names[thread_role] : "other");
		n = put_str(line, len, n, " thread made a forbidden system call ");
		n = put_str(line, len, n, name);
		n = put_str(line, len, n, " (");
		n = put_uint(line, len, n, nr);
		n = put_str(line, len, n, "); stopping");
		line[n++] = '\n';
		(void)!write(STDERR_FILENO, line, n);
	}
	if (trap.on_trap)
		trap.on_trap();
	/* SA_RESETHAND put SIGSYS back to its default action: this kills us. */
	raise(sig);
}

int seccomp_prepare(void (*on_trap)(void), struct error *err)
{
	struct sigaction sa = {
		.sa_sigaction = sigsys_handler,
		/* NODEFER: the raise() in the handler takes effect at once. */
		.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER,
	};

	trap.arch = seccomp_arch_native();
	trap.on_trap = on_trap;
	for (int nr = 0; nr < MAX_SYSCALL_NR; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(trap.arch, nr);

		trap.names[nr][0] = '\0';
		if (name)
			snprintf(trap.names[nr], SYSCALL_NAME_LEN, "%s", name);
		free(name);
	}
	/* gmtime_r() (the CMOS RTC) opens /etc/localtime on its first call. */
	tzset();
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		return error_set(err, -errno, "seccomp: cannot install the SIGSYS handler: %s",
				 strerror(errno));
	return 0;
}

/* --- the filters ---------------------------------------------------------- */

/*
 * Every role: memory for malloc, locks, time, signals to kvmini itself (the
 * vCPU kick, abort()), a thread's own end, and what the SIGSYS handler and
 * the console's crash handler do before the process dies.
 */
static const int common_syscalls[] = {
	SCMP_SYS(futex),
	SCMP_SYS(write),
	SCMP_SYS(munmap),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(time),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(exit),
};

/* tcsetattr(): the handlers put a raw terminal back from any thread. */
static const unsigned long common_ioctls[] = { TCSETS, TCSETSW, TCSETSF };

/*
 * After vm_start(): vm_wait() (its signalfd, poll, reading the stop
 * eventfd), the --stats report (KVM statistics fds, isatty, stat), and the
 * teardown: joining threads, draining io_uring and taking its eventfd out of
 * the loop, stopping vhost queues, closing, exiting.
 */
static const int main_syscalls[] = {
	SCMP_SYS(poll),		  SCMP_SYS(ppoll),	SCMP_SYS(read),	     SCMP_SYS(pread64),
	SCMP_SYS(close),	  SCMP_SYS(signalfd4),	SCMP_SYS(epoll_ctl), SCMP_SYS(newfstatat),
	SCMP_SYS(io_uring_enter), SCMP_SYS(exit_group),
};

static const unsigned long main_ioctls[] = {
	TCGETS,
	VHOST_NET_SET_BACKEND,
	VHOST_GET_VRING_BASE,
};

/* --stats=FILE: the report replaces the file through a temporary one. */
static const int main_stats_file_syscalls[] = {
	SCMP_SYS(rename),
	SCMP_SYS(unlink),
};

/*
 * KVM_RUN and the exit handlers: device registers, interrupt lines, MSI-X
 * routes and ioeventfds as the guest programs them, register dumps for
 * error messages, and vhost's call fd when a vector is masked or unmasked.
 */
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN,       KVM_GET_REGS,	     KVM_GET_SREGS, KVM_IRQ_LINE, KVM_SET_GSI_ROUTING,
	KVM_IOEVENTFD, VHOST_SET_VRING_CALL,
};

/*
 * The event loop, block I/O (io_uring or synchronous, discard and write
 * zeroes), TAP frames, the entropy for virtio-rng, INTx lines, and the
 * vhost-net setup a device start or reset does on its loop thread.
 */
static const int io_syscalls[] = {
	SCMP_SYS(epoll_wait),	  SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(read),
	SCMP_SYS(readv),	  SCMP_SYS(writev),	 SCMP_SYS(pread64),   SCMP_SYS(pwrite64),
	SCMP_SYS(preadv),	  SCMP_SYS(pwritev),	 SCMP_SYS(fdatasync), SCMP_SYS(fallocate),
	SCMP_SYS(io_uring_enter), SCMP_SYS(getrandom),
};

static const unsigned long io_ioctls[] = {
	KVM_IRQ_LINE,	      TUNSETOFFLOAD,	    BLKDISCARD,		  BLKZEROOUT,
	VHOST_SET_MEM_TABLE,  VHOST_SET_FEATURES,   VHOST_SET_VRING_NUM,  VHOST_SET_VRING_BASE,
	VHOST_SET_VRING_ADDR, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_NET_SET_BACKEND,
	VHOST_GET_VRING_BASE,
};

/* Reading stdin into the UART (its interrupt line) or virtio-console. */
static const int console_syscalls[] = {
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(read),
};

static const unsigned long console_ioctls[] = { KVM_IRQ_LINE };

/*
 * The boot files into 2 MiB buffers (pread) moved into guest RAM (mremap),
 * the userfaultfd that says which part is wanted first and wakes who
 * waited, and its close at the end.
 */
static const int loader_syscalls[] = {
	SCMP_SYS(read),
	SCMP_SYS(pread64),
	SCMP_SYS(mremap),
	SCMP_SYS(close),
};

static const unsigned long loader_ioctls[] = { UFFDIO_WAKE, UFFDIO_COPY };

#ifdef KVMINI_SANITIZERS
/*
 * The ASan/UBSan/LSan runtimes, in every role: their allocator, a thread's
 * signal stack going away at its end, spin locks, reports (reading
 * /proc/self/maps and the executable to symbolize, then exit_group), and
 * LSan's leak check at exit: a helper task (clone) that stops every thread
 * with ptrace and lists them from /proc. The helper inherits the main
 * thread's filter with SIGSYS blocked, so a call missing here hangs the
 * exit instead of reporting it. Never in release builds.
 */
static const int sanitizer_syscalls[] = {
	SCMP_SYS(sigaltstack), SCMP_SYS(sched_yield), SCMP_SYS(exit_group), SCMP_SYS(read),
	SCMP_SYS(pread64),     SCMP_SYS(close),	      SCMP_SYS(lseek),	    SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),  SCMP_SYS(readlink),    SCMP_SYS(readlinkat), SCMP_SYS(getdents64),
	SCMP_SYS(getdents),    SCMP_SYS(stat),	      SCMP_SYS(lstat),	    SCMP_SYS(fcntl),
	SCMP_SYS(prctl),       SCMP_SYS(clone),	      SCMP_SYS(ptrace),	    SCMP_SYS(wait4),
	SCMP_SYS(getppid),
};
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int allow_all(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);

		if (ret)
			return ret;
	}
	return 0;
}

/* The kernel compares the request as a 32-bit number: so does the filter. */
static int allow_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					   SCMP_A1_32(SCMP_CMP_EQ, (uint32_t)reqs[i]));

		if (ret)
			return ret;
	}
	return 0;
}

static int add_common(scmp_filter_ctx ctx)
{
	int ret = allow_all(ctx, common_syscalls, N(common_syscalls));

	if (!ret)
		ret = allow_ioctls(ctx, common_ioctls, N(common_ioctls));
	/* Memory, never executable. */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				       SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				       SCMP_A2_64(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals to our own threads only. */
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				       SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)getpid()));
#ifdef KVMINI_SANITIZERS
	if (!ret)
		ret = allow_all(ctx, sanitizer_syscalls, N(sanitizer_syscalls));
	/* Reading only (x86-64 sanitizer runtimes use the old calls too). */
	if (!ret)
		ret = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
			SCMP_A2_32(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, 0));
	if (!ret)
		ret = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
			SCMP_A1_32(SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, 0));
#endif
	return ret;
}

static int add_role(scmp_filter_ctx ctx, enum seccomp_role role, unsigned int flags)
{
	int ret;

	switch (role) {
	case SECCOMP_ROLE_MAIN:
		ret = allow_all(ctx, main_syscalls, N(main_syscalls));
		if (!ret)
			ret = allow_ioctls(ctx, main_ioctls, N(main_ioctls));
		if (!ret && (flags & SECCOMP_MAIN_STATS_FILE))
			ret = allow_all(ctx, main_stats_file_syscalls, N(main_stats_file_syscalls));
		/* fopen(path, "w") and nothing else: no reading, no O_PATH. */
		if (!ret && (flags & SECCOMP_MAIN_STATS_FILE))
			ret = seccomp_rule_add(
				ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				SCMP_A2_32(SCMP_CMP_EQ, O_WRONLY | O_CREAT | O_TRUNC));
		return ret;
	case SECCOMP_ROLE_VCPU:
		return allow_ioctls(ctx, vcpu_ioctls, N(vcpu_ioctls));
	case SECCOMP_ROLE_IO:
		ret = allow_all(ctx, io_syscalls, N(io_syscalls));
		return ret ? ret : allow_ioctls(ctx, io_ioctls, N(io_ioctls));
	case SECCOMP_ROLE_CONSOLE:
		ret = allow_all(ctx, console_syscalls, N(console_syscalls));
		return ret ? ret : allow_ioctls(ctx, console_ioctls, N(console_ioctls));
	case SECCOMP_ROLE_LOADER:
		ret = allow_all(ctx, loader_syscalls, N(loader_syscalls));
		return ret ? ret : allow_ioctls(ctx, loader_ioctls, N(loader_ioctls));
	case SECCOMP_NR_ROLES:
		break;
	}
	return -EINVAL;
}

int seccomp_install(enum seccomp_role role, unsigned int flags, struct error *err)
{
	scmp_filter_ctx ctx;
	int ret;

	if ((unsigned int)role >= SECCOMP_NR_ROLES)
		return error_set(err, -EINVAL, "seccomp: no thread role %d", (int)role);
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return error_set(err, -ENOMEM, "seccomp: out of memory for the %s thread's filter",
				 role_names[role]);
	/* x32 and i386 system calls trap too, with the same message. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP);
	if (!ret)
		ret = add_common(ctx);
	if (!ret)
		ret = add_role(ctx, role, flags);
	if (ret) {
		seccomp_release(ctx);
		return error_set(err, ret, "seccomp: cannot build the %s thread's filter: %s",
				 role_names[role], strerror(-ret));
	}
	ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret)
		return error_set(err, ret, "seccomp: cannot load the %s thread's filter: %s",
				 role_names[role], strerror(-ret));
	thread_role = (int)role;
	return 0;
}
