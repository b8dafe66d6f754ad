// SPDX-License-Identifier: MIT
/*
 * benchsuite: the workload of `kvmini bench`. The same static binary runs on
 * the host and in the guest (/bin/benchsuite in the default initramfs), so the
 * two sets of figures differ only by where they ran.
 *
 *   benchsuite [--quick] [--only NAME[,NAME...]] [--file PATH]
 *              [--tcp-rr HOST:PORT] [--list]
 *
 * stdout carries nothing but one line per test, each written at once:
 *   kvmini-bench name=ID value=NUMBER unit=UNIT better=lower|higher
 *   kvmini-bench name=ID error=STEP:ERRNO-NAME      (a test that failed)
 * and at the end "kvmini-bench done tests=N" (N: the lines above). --list
 * prints the ids the same command line would run, one per line. file_fsync
 * needs --file, tcp_rr needs --tcp-rr (a netbench rr-server); without them
 * they are left out. Diagnostics go to stderr, one line each.
 * Status: 0 all selected tests ran, 1 some failed, 2 usage error.
 *
 * Each test is calibrated until one measurement lasts about 0.3 s (0.05 s
 * with --quick), then measured 3 times (once) and the best kept. Memory use
 * stays under 100 MiB, so a 512 MiB guest is enough.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "benchsuite"
#include "benchutil.h"

#define STATUS_FAILED 1
#define STATUS_USAGE 2
#define RESULT_PREFIX "kvmini-bench"
/* fork_exec re-runs this binary with it: exit at once, nothing else. */
#define EXIT_NOW_ARG "--exit-now"
#define SELF_EXE "/proc/self/exe"

#define MIB (1ull << 20)
#define CACHE_LINE 64
#define PAGE_BYTES 4096
#define BUDGET_S 0.3
#define QUICK_BUDGET_S 0.05
#define REPS 3
#define QUICK_REPS 1
#define MAX_ITERS (1ull << 40)
#define STREAM_ARRAY_BYTES (32 * MIB)
#define QUICK_STREAM_ARRAY_BYTES (8 * MIB)
#define TRIAD_SCALAR 3.0
#define PAGE_FAULT_CHUNK (8 * MIB)
#define FSYNC_REGION (16 * MIB)
#define FSYNC_BLOCK 4096
#define CONNECT_WAIT_S 10.0
#define CONNECT_RETRY_NS 100000000L
#define CHASE_SEED 0x62656e6368737569ull /* "benchsui" */

#define USAGE_TEXT                                                                     \
	"usage: benchsuite [--quick] [--only NAME[,NAME...]] [--file PATH] [--tcp-rr " \
	"HOST:PORT] [--list]"

/* Keeps GCC from turning a copy loop into a memcpy() call. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_MEMCPY_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_MEMCPY_IDIOM
#endif

enum requirement { NEEDS_NOTHING, NEEDS_FILE, NEEDS_TCP_SERVER };

struct suite_config {
	bool quick;
	bool list;
	const char *only; /* comma-separated ids, or NULL for all */
	const char *file_path;
	const char *rr_target; /* "HOST:PORT" as given */
	struct sockaddr_in rr_addr;
	double budget_s;
	int reps;
};

struct test;

/* One test's state from prepare to release. */
struct test_run {
	const struct test *test;
	const struct suite_config *cfg;
	double work_per_iter; /* ops, bytes, loads, pages... per iteration */
	char reason[64]; /* the error= token when the test failed */
	/* mem_copy, mem_triad */
	double *a, *b, *c;
	size_t count, array_bytes;
	/* mem_lat_* */
	void *chase_buf;
	size_t chase_bytes;
	void **chase;
	/* file_fsync, tcp_rr */
	int fd;
	uint8_t *io_buf;
	uint64_t offset, region;
	uint64_t sequence;
};

struct test {
	const char *name;
	const char *unit;
	bool higher_is_better;
	/* higher: output units per unit of work; lower: output units per second */
	double unit_scale;
	double work_per_iter; /* the default; prepare may set another */
	size_t bytes; /* mem_lat_*: size of the chased buffer */
	enum requirement needs;
	int (*prepare)(struct test_run *run);
	/* Runs @iters iterations; 0 or -errno (run->reason set). */
	int (*measure)(struct test_run *run, uint64_t iters, double *elapsed_s);
	void (*release)(struct test_run *run);
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keep the compiler from dropping a computation whose result is unused. */
static inline void keep_u64(uint64_t v)
{
	__asm__ volatile("" : : "r"(v));
}

static inline void keep_double(double v)
{
	volatile double sink = v;

	(void)sink;
}

/* ... and from merging or dropping stores through @p. */
static inline void keep_memory(const void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/*
 * Records why @run failed as "REASON" or "REASON:ERRNAME" (no spaces, so the
 * result line stays parseable) and prints one diagnostic line. Returns
 * -@err, or -EIO when @err is 0.
 */
static int run_fail(struct test_run *run, int err, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int run_fail(struct test_run *run, int err, const char *reason, const char *fmt, ...)
{
	const char *errname = err ? strerrorname_np(err) : NULL;
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!err)
		snprintf(run->reason, sizeof(run->reason), "%s", reason);
	else if (errname)
		snprintf(run->reason, sizeof(run->reason), "%s:%s", reason, errname);
	else
		snprintf(run->reason, sizeof(run->reason), "%s:errno%d", reason, err);
	if (err)
		fail("%s: %s: %s", run->test->name, what, strerror(err));
	else
		fail("%s: %s", run->test->name, what);
	return err ? -err : -EIO;
}

static void *map_anonymous(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* int_ops: 8 integer operations per iteration, each needing the last. */
static int measure_int_ops(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ iters;
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		x = x * 0xff51afd7ed558ccdull + i;
	}
	*elapsed_s = now_s() - start;
	keep_u64(x);
	return 0;
}

/* fp_ops: a multiply and an add per iteration; converges to 1, no denormals. */
static int measure_fp_ops(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	double x = 0.5 + (double)(iters & 0xff) / 1024.0;
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++)
		x = x * 0.9999999 + 0.0000001;
	*elapsed_s = now_s() - start;
	keep_double(x);
	return 0;
}

static int prepare_stream(struct test_run *run, unsigned int arrays_touched)
{
	size_t bytes = run->cfg->quick ? QUICK_STREAM_ARRAY_BYTES : STREAM_ARRAY_BYTES;

	run->a = map_anonymous(bytes);
	run->b = map_anonymous(bytes);
	run->c = map_anonymous(bytes);
	run->array_bytes = bytes;
	if (!run->a || !run->b || !run->c)
		return run_fail(run, ENOMEM, "mmap", "3 x %zu MiB arrays", bytes >> 20);
	run->count = bytes / sizeof(double);
	/* Fault everything in now, not during the measurement. */
	for (size_t i = 0; i < run->count; i++) {
		run->a[i] = 0.0;
		run->b[i] = 1.0;
		run->c[i] = 2.0;
	}
	/* STREAM's convention: bytes read plus bytes written. */
	run->work_per_iter = (double)arrays_touched * (double)bytes;
	return 0;
}

static int prepare_copy(struct test_run *run)
{
	return prepare_stream(run, 2);
}

static int prepare_triad(struct test_run *run)
{
	return prepare_stream(run, 3);
}

static void release_stream(struct test_run *run)
{
	if (run->a)
		munmap(run->a, run->array_bytes);
	if (run->b)
		munmap(run->b, run->array_bytes);
	if (run->c)
		munmap(run->c, run->array_bytes);
}

/*
 * A plain loop rather than memcpy(): libc picks its copy strategy from the
 * cache sizes CPUID reports, which differ between host and guest.
 */
static NO_MEMCPY_IDIOM void copy_pass(double *restrict a, const double *restrict b, size_t count)
{
	for (size_t i = 0; i < count; i++)
		a[i] = b[i];
}

static void triad_pass(double *restrict a, const double *restrict b, const double *restrict c,
		       double s, size_t count)
{
	for (size_t i = 0; i < count; i++)
		a[i] = b[i] + s * c[i];
}

static int measure_copy(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++) {
		copy_pass(run->a, run->b, run->count);
		keep_memory(run->a);
	}
	*elapsed_s = now_s() - start;
	return 0;
}

static int measure_triad(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++) {
		triad_pass(run->a, run->b, run->c, TRIAD_SCALAR, run->count);
		keep_memory(run->a);
	}
	*elapsed_s = now_s() - start;
	return 0;
}

/*
 * One pointer per cache line, linked in a single random cycle (Sattolo's
 * shuffle), so every load depends on the last and no prefetcher can guess
 * the next line. The fixed seed gives host and guest the same cycle.
 */
static int prepare_chase(struct test_run *run)
{
	size_t lines = run->test->bytes / CACHE_LINE;
	uint64_t rng = CHASE_SEED;
	uint32_t *order;
	char *buf;

	run->chase_bytes = run->test->bytes;
	run->chase_buf = map_anonymous(run->chase_bytes);
	if (!run->chase_buf)
		return run_fail(run, ENOMEM, "mmap", "%zu KiB buffer", run->chase_bytes >> 10);
	order = map_anonymous(lines * sizeof(*order));
	if (!order)
		return run_fail(run, ENOMEM, "mmap", "permutation of %zu lines", lines);
	for (size_t i = 0; i < lines; i++)
		order[i] = (uint32_t)i;
	for (size_t i = lines - 1; i > 0; i--) {
		size_t j = (size_t)(xorshift64(&rng) % i);
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	buf = run->chase_buf;
	for (size_t i = 0; i < lines; i++)
		*(void **)(buf + i * CACHE_LINE) = buf + (size_t)order[i] * CACHE_LINE;
	munmap(order, lines * sizeof(*order));
	run->chase = run->chase_buf;
	return 0;
}

static void release_chase(struct test_run *run)
{
	if (run->chase_buf)
		munmap(run->chase_buf, run->chase_bytes);
}

static int measure_chase(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	void **p = run->chase;
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++)
		p = (void **)*p;
	*elapsed_s = now_s() - start;
	run->chase = p; /* also what keeps the loop alive */
	return 0;
}

static int measure_getpid(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	uint64_t sum = 0;
	double start = now_s();

	/* syscall() directly: no libc caching of the pid. */
	for (uint64_t i = 0; i < iters; i++)
		sum += (uint64_t)syscall(SYS_getpid);
	*elapsed_s = now_s() - start;
	if (sum == 0)
		return run_fail(run, 0, "getpid-returned-0", "getpid returned 0");
	keep_u64(sum);
	return 0;
}

static int prepare_page_fault(struct test_run *run)
{
	run->work_per_iter = PAGE_FAULT_CHUNK / PAGE_BYTES;
	return 0;
}

/* Only the touching is timed: mmap and munmap are not page faults. */
static int measure_page_fault(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	double total = 0;

	for (uint64_t i = 0; i < iters; i++) {
		volatile char *p = map_anonymous(PAGE_FAULT_CHUNK);
		double start;

		if (!p)
			return run_fail(run, errno, "mmap", "mmap of %llu MiB",
					PAGE_FAULT_CHUNK / MIB);
		/* 4 KiB faults on every kernel, whatever its THP policy. */
		madvise((void *)p, PAGE_FAULT_CHUNK, MADV_NOHUGEPAGE);
		start = now_s();
		for (size_t off = 0; off < PAGE_FAULT_CHUNK; off += PAGE_BYTES)
			p[off] = 1;
		total += now_s() - start;
		munmap((void *)p, PAGE_FAULT_CHUNK);
	}
	*elapsed_s = total;
	return 0;
}

static int measure_clock_gettime(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	struct timespec ts;
	uint64_t sum = 0;
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += (uint64_t)ts.tv_nsec;
	}
	*elapsed_s = now_s() - start;
	keep_u64(sum);
	return 0;
}

static int measure_fork_exec(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	char *const child_argv[] = { (char *)BENCH_PROG, (char *)EXIT_NOW_ARG, NULL };
	char *const child_envp[] = { NULL };
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0)
			return run_fail(run, errno, "fork", "fork");
		if (pid == 0) {
			execve(SELF_EXE, child_argv, child_envp);
			fail("%s: execve %s: %s", run->test->name, SELF_EXE, strerror(errno));
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR)
				return run_fail(run, errno, "waitpid", "waitpid");
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return run_fail(run, 0, "child-failed", "the child %s %d",
					WIFEXITED(status) ? "exited with status" : "died of signal",
					WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	*elapsed_s = now_s() - start;
	return 0;
}

/* Makes the whole region exist, so the measurement is of overwrites. */
static int prefill_region(struct test_run *run)
{
	for (uint64_t off = 0; off < run->region; off += FSYNC_BLOCK) {
		ssize_t w = pwrite(run->fd, run->io_buf, FSYNC_BLOCK, (off_t)off);

		if (w != FSYNC_BLOCK)
			return run_fail(run, w < 0 ? errno : 0, "prefill", "writing %s",
					run->cfg->file_path);
	}
	if (fdatasync(run->fd) < 0)
		return run_fail(run, errno, "fdatasync", "fdatasync %s", run->cfg->file_path);
	return 0;
}

static int prepare_fsync(struct test_run *run)
{
	const char *path = run->cfg->file_path;
	int flags = O_RDWR | O_CLOEXEC;
	struct stat st;

	/* A missing /dev node must not quietly become a file in devtmpfs. */
	if (strncmp(path, "/dev/", 5) != 0)
		flags |= O_CREAT;
	run->fd = open(path, flags, 0644);
	if (run->fd < 0)
		return run_fail(run, errno, "open", "open %s", path);
	if (fstat(run->fd, &st) < 0)
		return run_fail(run, errno, "fstat", "fstat %s", path);
	run->io_buf = map_anonymous(FSYNC_BLOCK);
	if (!run->io_buf)
		return run_fail(run, ENOMEM, "mmap", "I/O buffer");
	memset(run->io_buf, 0x5a, FSYNC_BLOCK);
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;

		if (ioctl(run->fd, BLKGETSIZE64, &size) < 0)
			return run_fail(run, errno, "blkgetsize64", "size of %s", path);
		run->region =
			(size < FSYNC_REGION ? size : FSYNC_REGION) & ~(uint64_t)(FSYNC_BLOCK - 1);
		if (!run->region)
			return run_fail(run, 0, "device-too-small", "%s: smaller than %d bytes",
					path, FSYNC_BLOCK);
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return run_fail(run, 0, "not-file-or-block-device",
				"%s: neither a regular file nor a block device", path);
	run->region = FSYNC_REGION;
	if ((uint64_t)st.st_size < run->region || (uint64_t)st.st_blocks * 512 < run->region)
		return prefill_region(run);
	return 0;
}

static void release_fd(struct test_run *run)
{
	if (run->fd >= 0)
		close(run->fd);
	if (run->io_buf)
		munmap(run->io_buf, FSYNC_BLOCK);
}

static int measure_fsync(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++) {
		ssize_t w;

		/* Different data every time, in case anything deduplicates. */
		memcpy(run->io_buf, &run->sequence, sizeof(run->sequence));
		run->sequence++;
		w = pwrite(run->fd, run->io_buf, FSYNC_BLOCK, (off_t)run->offset);
		if (w != FSYNC_BLOCK)
			return run_fail(run, w < 0 ? errno : 0, w < 0 ? "pwrite" : "short-write",
					"pwrite %s", run->cfg->file_path);
		if (fdatasync(run->fd) < 0)
			return run_fail(run, errno, "fdatasync", "fdatasync %s",
					run->cfg->file_path);
		run->offset += FSYNC_BLOCK;
		if (run->offset >= run->region)
			run->offset = 0;
	}
	*elapsed_s = now_s() - start;
	return 0;
}

/* The server may come up a little after us: retry for CONNECT_WAIT_S. */
static int prepare_tcp_rr(struct test_run *run)
{
	double deadline = now_s() + CONNECT_WAIT_S;
	int one = 1, err, flags;

	for (;;) {
		double left = deadline - now_s();

		run->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (run->fd < 0)
			return run_fail(run, errno, "socket", "socket");
		err = connect_within(run->fd, (const struct sockaddr *)&run->cfg->rr_addr,
				     sizeof(run->cfg->rr_addr), left > 1 ? left : 1);
		if (!err)
			break;
		close(run->fd);
		run->fd = -1;
		if (now_s() + CONNECT_RETRY_NS / 1e9 > deadline)
			return run_fail(run, -err, "connect", "connecting to %s (for %g s)",
					run->cfg->rr_target, CONNECT_WAIT_S);
		nanosleep(&(struct timespec){ .tv_nsec = CONNECT_RETRY_NS }, NULL);
	}
	flags = fcntl(run->fd, F_GETFL);
	if (flags < 0 || fcntl(run->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return run_fail(run, errno, "fcntl", "fcntl");
	if (setsockopt(run->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return run_fail(run, errno, "nodelay", "TCP_NODELAY");
	return 0;
}

/* netbench rr-server echoes what it reads until EOF: one byte each way. */
static int measure_tcp_rr(struct test_run *run, uint64_t iters, double *elapsed_s)
{
	double start = now_s();

	for (uint64_t i = 0; i < iters; i++) {
		uint8_t byte = (uint8_t)run->sequence++;
		uint8_t expected = byte;
		ssize_t n;

		do
			n = send(run->fd, &byte, 1, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			return run_fail(run, n < 0 ? errno : 0, "send", "sending to %s",
					run->cfg->rr_target);
		do
			n = recv(run->fd, &byte, 1, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return run_fail(run, errno, "recv", "receiving from %s",
					run->cfg->rr_target);
		if (n == 0)
			return run_fail(run, 0, "connection-closed", "%s closed the connection",
					run->cfg->rr_target);
		if (byte != expected)
			return run_fail(run, 0, "wrong-echo", "%s echoed a different byte",
					run->cfg->rr_target);
	}
	*elapsed_s = now_s() - start;
	return 0;
}

static const struct test tests[] = {
	{ .name = "int_ops",
	  .unit = "Mops/s",
	  .higher_is_better = true,
	  .unit_scale = 1e-6,
	  .work_per_iter = 8,
	  .measure = measure_int_ops },
	{ .name = "fp_ops",
	  .unit = "MFLOP/s",
	  .higher_is_better = true,
	  .unit_scale = 1e-6,
	  .work_per_iter = 2,
	  .measure = measure_fp_ops },
	{ .name = "mem_copy",
	  .unit = "MB/s",
	  .higher_is_better = true,
	  .unit_scale = 1e-6,
	  .prepare = prepare_copy,
	  .measure = measure_copy,
	  .release = release_stream },
	{ .name = "mem_triad",
	  .unit = "MB/s",
	  .higher_is_better = true,
	  .unit_scale = 1e-6,
	  .prepare = prepare_triad,
	  .measure = measure_triad,
	  .release = release_stream },
	{ .name = "mem_lat_16k",
	  .unit = "ns",
	  .unit_scale = 1e9,
	  .work_per_iter = 1,
	  .bytes = 16 << 10,
	  .prepare = prepare_chase,
	  .measure = measure_chase,
	  .release = release_chase },
	{ .name = "mem_lat_256k",
	  .unit = "ns",
	  .unit_scale = 1e9,
	  .work_per_iter = 1,
	  .bytes = 256 << 10,
	  .prepare = prepare_chase,
	  .measure = measure_chase,
	  .release = release_chase },
	{ .name = "mem_lat_4m",
	  .unit = "ns",
	  .unit_scale = 1e9,
	  .work_per_iter = 1,
	  .bytes = 4 << 20,
	  .prepare = prepare_chase,
	  .measure = measure_chase,
	  .release = release_chase },
	{ .name = "mem_lat_64m",
	  .unit = "ns",
	  .unit_scale = 1e9,
	  .work_per_iter = 1,
	  .bytes = 64 << 20,
	  .prepare = prepare_chase,
	  .measure = measure_chase,
	  .release = release_chase },
	{ .name = "syscall_getpid",
	  .unit = "ns",
	  .unit_scale = 1e9,
	  .work_per_iter = 1,
	  .measure = measure_getpid },
	{ .name = "page_fault",
	  .unit = "ns",
	  .unit_scale = 1e9,
	  .prepare = prepare_page_fault,
	  .measure = measure_page_fault },
	{ .name = "fork_exec",
	  .unit = "us",
	  .unit_scale = 1e6,
	  .work_per_iter = 1,
	  .measure = measure_fork_exec },
	{ .name = "clock_gettime",
	  .unit = "ns",
	  .unit_scale = 1e9,
	  .work_per_iter = 1,
	  .measure = measure_clock_gettime },
	{ .name = "file_fsync",
	  .unit = "us",
	  .unit_scale = 1e6,
	  .work_per_iter = 1,
	  .needs = NEEDS_FILE,
	  .prepare = prepare_fsync,
	  .measure = measure_fsync,
	  .release = release_fd },
	{ .name = "tcp_rr",
	  .unit = "us",
	  .unit_scale = 1e6,
	  .work_per_iter = 1,
	  .needs = NEEDS_TCP_SERVER,
	  .prepare = prepare_tcp_rr,
	  .measure = measure_tcp_rr,
	  .release = release_fd },
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))

/* The figure one measurement gives, or NAN when it is unusable. */
static double figure(const struct test_run *run, uint64_t iters, double elapsed_s)
{
	double work = run->work_per_iter * (double)iters;

	if (!(elapsed_s > 0) || !(work > 0))
		return NAN;
	if (run->test->higher_is_better)
		return work / elapsed_s * run->test->unit_scale;
	return elapsed_s / work * run->test->unit_scale;
}

static int measure_best(struct test_run *run, double *best)
{
	const struct suite_config *cfg = run->cfg;
	const struct test *t = run->test;
	uint64_t iters = 1;
	double elapsed, target;
	bool have = false;
	int ret;

	/* Grow until a run is long enough to scale from with some accuracy. */
	for (;;) {
		ret = t->measure(run, iters, &elapsed);
		if (ret)
			return ret;
		if (elapsed >= cfg->budget_s / 8 || iters >= MAX_ITERS)
			break;
		iters *= elapsed < cfg->budget_s / 100 ? 10 : 2;
	}
	target = (double)iters * cfg->budget_s / (elapsed > 1e-9 ? elapsed : 1e-9);
	iters = target < 1 ? 1 : target > (double)MAX_ITERS ? MAX_ITERS : (uint64_t)target;
	for (int rep = 0; rep < cfg->reps; rep++) {
		double value;

		ret = t->measure(run, iters, &elapsed);
		if (ret)
			return ret;
		value = figure(run, iters, elapsed);
		if (!isfinite(value) || !(value > 0))
			continue;
		if (!have || (t->higher_is_better ? value > *best : value < *best))
			*best = value;
		have = true;
	}
	if (!have)
		return run_fail(run, 0, "no-valid-measurement",
				"no measurement gave a positive finite figure");
	return 0;
}

static void emit_line(const char *line)
{
	/* One write() per line, so a reader never sees half of one. */
	(void)write_all(STDOUT_FILENO, line, strlen(line));
}

/* Fixed-point (no exponent), at least 4 significant digits. */
static void emit_result(const struct test *t, double value)
{
	char line[192];
	int decimals = 3;

	for (double v = value; v < 1 && decimals < 12; v *= 10)
		decimals++;
	snprintf(line, sizeof(line), RESULT_PREFIX " name=%s value=%.*f unit=%s better=%s\n",
		 t->name, decimals, value, t->unit, t->higher_is_better ? "higher" : "lower");
	emit_line(line);
}

static bool run_test(const struct test *t, const struct suite_config *cfg)
{
	struct test_run run = {
		.test = t, .cfg = cfg, .fd = -1, .work_per_iter = t->work_per_iter
	};
	char line[192];
	double value = 0;
	int ret = 0;

	if (t->prepare)
		ret = t->prepare(&run);
	if (!ret)
		ret = measure_best(&run, &value);
	if (t->release)
		t->release(&run);
	if (!ret) {
		emit_result(t, value);
		return true;
	}
	if (!run.reason[0])
		snprintf(run.reason, sizeof(run.reason), "failed");
	snprintf(line, sizeof(line), RESULT_PREFIX " name=%s error=%s\n", t->name, run.reason);
	emit_line(line);
	return false;
}

static const struct test *find_test(const char *name, size_t len)
{
	for (size_t i = 0; i < NTESTS; i++) {
		if (strlen(tests[i].name) == len && strncmp(tests[i].name, name, len) == 0)
			return &tests[i];
	}
	return NULL;
}

/* Fills @selected from cfg->only and the options given; 0 or STATUS_USAGE. */
static int select_tests(const struct suite_config *cfg, bool selected[NTESTS])
{
	size_t len = 0;

	for (size_t i = 0; i < NTESTS; i++)
		selected[i] = !cfg->only;
	for (const char *p = cfg->only; p; p = p[len] ? p + len + 1 : NULL) {
		const struct test *t;

		len = strcspn(p, ",");
		if (!len) {
			fail("--only: empty test name in '%s'", cfg->only);
			return STATUS_USAGE;
		}
		t = find_test(p, len);
		if (!t) {
			fail("--only: unknown test '%.*s' (see --list)", (int)len, p);
			return STATUS_USAGE;
		}
		if (t->needs == NEEDS_FILE && !cfg->file_path) {
			fail("--only: %s needs --file PATH", t->name);
			return STATUS_USAGE;
		}
		if (t->needs == NEEDS_TCP_SERVER && !cfg->rr_target) {
			fail("--only: %s needs --tcp-rr HOST:PORT", t->name);
			return STATUS_USAGE;
		}
		selected[t - tests] = true;
	}
	for (size_t i = 0; i < NTESTS; i++) {
		if ((tests[i].needs == NEEDS_FILE && !cfg->file_path) ||
		    (tests[i].needs == NEEDS_TCP_SERVER && !cfg->rr_target))
			selected[i] = false;
	}
	return 0;
}

/* "A.B.C.D:PORT"; 0 or -EINVAL. */
static int parse_ipv4_target(const char *s, struct sockaddr_in *addr)
{
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];
	unsigned long port;
	char *end;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	*addr = (struct sockaddr_in){ .sin_family = AF_INET };
	if (inet_pton(AF_INET, host, &addr->sin_addr) != 1)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || colon[1] == '-' || port == 0 || port > 65535)
		return -EINVAL;
	addr->sin_port = htons((uint16_t)port);
	return 0;
}

/* Returns 0, or the exit status (message already printed). */
static int parse_args(int argc, char **argv, struct suite_config *cfg)
{
	enum { OPT_QUICK = 256, OPT_ONLY, OPT_FILE, OPT_TCP_RR, OPT_LIST, OPT_HELP };
	static const struct option options[] = {
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "only", required_argument, NULL, OPT_ONLY },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "tcp-rr", required_argument, NULL, OPT_TCP_RR },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*cfg = (struct suite_config){ 0 };
	opterr = 0; /* getopt's own messages would make a second line */
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case OPT_QUICK:
			cfg->quick = true;
			break;
		case OPT_ONLY:
			cfg->only = optarg;
			break;
		case OPT_FILE:
			if (!*optarg) {
				fail("--file: empty path");
				return STATUS_USAGE;
			}
			cfg->file_path = optarg;
			break;
		case OPT_TCP_RR:
			if (parse_ipv4_target(optarg, &cfg->rr_addr)) {
				fail("--tcp-rr %s: want IPv4-ADDRESS:PORT, e.g. 10.0.2.2:5201",
				     optarg);
				return STATUS_USAGE;
			}
			cfg->rr_target = optarg;
			break;
		case OPT_LIST:
			cfg->list = true;
			break;
		case OPT_HELP:
			emit_line(USAGE_TEXT "\n");
			exit(0);
		case ':':
			fail("%s needs an argument; " USAGE_TEXT, argv[optind - 1]);
			return STATUS_USAGE;
		default:
			/* optopt names a bad short option; a bad long one is in argv. */
			if (optopt > 0 && optopt < OPT_QUICK)
				fail("unknown option -%c; " USAGE_TEXT, optopt);
			else
				fail("unknown option %s; " USAGE_TEXT, argv[optind - 1]);
			return STATUS_USAGE;
		}
	}
	if (optind < argc) {
		fail("unexpected argument '%s'; " USAGE_TEXT, argv[optind]);
		return STATUS_USAGE;
	}
	cfg->budget_s = cfg->quick ? QUICK_BUDGET_S : BUDGET_S;
	cfg->reps = cfg->quick ? QUICK_REPS : REPS;
	return 0;
}

int main(int argc, char **argv)
{
	struct suite_config cfg;
	bool selected[NTESTS];
	char line[64];
	int ret, count = 0;
	bool all_ok = true;

	/* The child of fork_exec: a static program start-up and nothing more. */
	if (argc == 2 && strcmp(argv[1], EXIT_NOW_ARG) == 0)
		_exit(0);
	ret = parse_args(argc, argv, &cfg);
	if (!ret)
		ret = select_tests(&cfg, selected);
	if (ret)
		return ret;
	for (size_t i = 0; i < NTESTS; i++) {
		if (!selected[i])
			continue;
		if (cfg.list) {
			snprintf(line, sizeof(line), "%s\n", tests[i].name);
			emit_line(line);
			continue;
		}
		if (!run_test(&tests[i], &cfg))
			all_ok = false;
		count++;
	}
	if (cfg.list)
		return 0;
	snprintf(line, sizeof(line), RESULT_PREFIX " done tests=%d\n", count);
	emit_line(line);
	return all_ok ? 0 : STATUS_FAILED;
}
