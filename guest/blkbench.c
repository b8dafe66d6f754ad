// SPDX-License-Identifier: MIT
/*
 * blkbench: a small block device benchmark for kvmini's guest (installed at
 * /bin/blkbench in the default initramfs). Static, plain libc; queue depths
 * above 1 use Linux native AIO through raw system calls (no libaio).
 *
 *   blkbench [OPTIONS] DEVICE
 *
 * Prints one line on success:
 *   blkbench mode=randread bs=4096 qd=32 ops=N bytes=N secs=F iops=F mbps=F
 * where mbps is 10^6 bytes per second. Errors: one line on stderr, status 1
 * (2 for usage errors).
 *
 * Memory use is queue depth x block size (at most 64 MiB), so it fits in a
 * small guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "blkbench"
#include "benchutil.h"

#define STATUS_FAILED 1
#define STATUS_USAGE 2
#define MAX_QUEUE_DEPTH 1024
#define MAX_BUFFER_BYTES (64ull << 20)
#define BUFFER_ALIGN 4096
#define DEFAULT_RUNTIME_S 5.0
#define SEQ_DEFAULT_BS (1u << 20)
#define RAND_DEFAULT_BS 4096u

enum mode { MODE_SEQREAD, MODE_SEQWRITE, MODE_RANDREAD, MODE_RANDWRITE };

static const char *const mode_names[] = {
	[MODE_SEQREAD] = "seqread",
	[MODE_SEQWRITE] = "seqwrite",
	[MODE_RANDREAD] = "randread",
	[MODE_RANDWRITE] = "randwrite",
};

struct bench_config {
	const char *path;
	enum mode mode;
	uint64_t bs; /* 0: the mode's default */
	unsigned int qd;
	double runtime_s; /* used when total_bytes is 0 */
	uint64_t total_bytes;
	uint64_t region; /* 0: the whole device or file */
	uint64_t seed;
	bool buffered;
};

struct bench_state {
	const struct bench_config *cfg;
	int fd;
	uint64_t region; /* a multiple of bs */
	uint64_t seq_offset;
	uint64_t rng;
	uint64_t submitted_bytes;
	double start, end, deadline; /* CLOCK_MONOTONIC seconds */
	uint64_t ops;
	uint64_t bytes;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: blkbench [OPTIONS] DEVICE\n"
		"  -m, --mode MODE      seqread, seqwrite, randread or randwrite (default seqread;\n"
		"                       seq-read etc. also accepted)\n"
		"  -b, --bs SIZE        request size (default 1M sequential, 4K random)\n"
		"  -q, --qd N           queue depth, 1-%d (default 1; >1 uses native AIO)\n"
		"  -t, --runtime SECS   run this long (default 5)\n"
		"  -B, --bytes SIZE     transfer this much instead of running for a time\n"
		"  -s, --size SIZE      use the first SIZE bytes of DEVICE (default: all of it)\n"
		"      --seed N         random offset seed (default 1)\n"
		"      --buffered       no O_DIRECT (for files on tmpfs, which refuses it)\n"
		"  -h, --help           this text\n"
		"SIZE takes K, M, G or T suffixes (powers of 1024). WRITE MODES OVERWRITE DEVICE.\n"
		"Output: blkbench mode=M bs=N qd=N ops=N bytes=N secs=F iops=F mbps=F\n"
		"(mbps = 10^6 bytes per second)\n",
		MAX_QUEUE_DEPTH);
}

static int parse_mode(const char *s, enum mode *out)
{
	char name[16];
	size_t n = 0;

	/* "seq-read" and "seqread" alike. */
	for (; *s && n < sizeof(name) - 1; s++) {
		if (*s != '-' && *s != '_')
			name[n++] = *s;
	}
	if (*s)
		return -EINVAL;
	name[n] = '\0';
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*out = (enum mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static bool mode_writes(enum mode m)
{
	return m == MODE_SEQWRITE || m == MODE_RANDWRITE;
}

static bool mode_random(enum mode m)
{
	return m == MODE_RANDREAD || m == MODE_RANDWRITE;
}

/* Returns 0, or the exit status for a usage error (message already printed). */
static int parse_args(int argc, char **argv, struct bench_config *cfg)
{
	static const struct option long_opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "runtime", required_argument, NULL, 't' },
		{ "bytes", required_argument, NULL, 'B' },
		{ "size", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "buffered", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*cfg = (struct bench_config){
		.mode = MODE_SEQREAD,
		.qd = 1,
		.runtime_s = DEFAULT_RUNTIME_S,
		.seed = 1,
	};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":m:b:q:t:B:s:h", long_opts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'm':
			if (parse_mode(optarg, &cfg->mode) < 0) {
				fail("bad --mode '%s': use seqread, seqwrite, randread or randwrite",
				     optarg);
				return STATUS_USAGE;
			}
			break;
		case 'b':
			if (parse_size(optarg, &cfg->bs) < 0 || cfg->bs == 0 ||
			    cfg->bs % 512 != 0 || cfg->bs > MAX_BUFFER_BYTES) {
				fail("bad --bs '%s': need a multiple of 512 up to 64M", optarg);
				return STATUS_USAGE;
			}
			break;
		case 'q': {
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' || v < 1 ||
			    v > MAX_QUEUE_DEPTH) {
				fail("bad --qd '%s': need 1 to %d", optarg, MAX_QUEUE_DEPTH);
				return STATUS_USAGE;
			}
			cfg->qd = (unsigned int)v;
			break;
		}
		case 't':
			errno = 0;
			cfg->runtime_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(cfg->runtime_s > 0) ||
			    cfg->runtime_s > 86400) {
				fail("bad --runtime '%s': need seconds > 0", optarg);
				return STATUS_USAGE;
			}
			break;
		case 'B':
			if (parse_size(optarg, &cfg->total_bytes) < 0 || cfg->total_bytes == 0) {
				fail("bad --bytes '%s': need a size > 0 (K/M/G/T suffixes)",
				     optarg);
				return STATUS_USAGE;
			}
			break;
		case 's':
			if (parse_size(optarg, &cfg->region) < 0 || cfg->region == 0) {
				fail("bad --size '%s': need a size > 0 (K/M/G/T suffixes)", optarg);
				return STATUS_USAGE;
			}
			break;
		case 'S':
			errno = 0;
			cfg->seed = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end) {
				fail("bad --seed '%s': need a number", optarg);
				return STATUS_USAGE;
			}
			break;
		case 'u':
			cfg->buffered = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			fail("%s needs a value", argv[optind - 1]);
			return STATUS_USAGE;
		default:
			if (optopt)
				fail("unknown option -%c (see --help)", optopt);
			else
				fail("unknown option %s (see --help)", argv[optind - 1]);
			return STATUS_USAGE;
		}
	}
	if (optind != argc - 1) {
		fail(optind == argc ? "no DEVICE given (see --help)"
				    : "one DEVICE only (see --help)");
		return STATUS_USAGE;
	}
	cfg->path = argv[optind];
	if (!cfg->bs)
		cfg->bs = mode_random(cfg->mode) ? RAND_DEFAULT_BS : SEQ_DEFAULT_BS;
	if (cfg->bs * cfg->qd > MAX_BUFFER_BYTES) {
		fail("--bs x --qd is %" PRIu64 " bytes: at most 64M of buffers", cfg->bs * cfg->qd);
		return STATUS_USAGE;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: good enough to spread offsets, and no libc state. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* The next request's offset; false once the run should stop submitting. */
static bool next_offset(struct bench_state *st, uint64_t *offset)
{
	const struct bench_config *cfg = st->cfg;

	if (cfg->total_bytes) {
		if (st->submitted_bytes >= cfg->total_bytes)
			return false;
	} else if (now_s() >= st->deadline) {
		return false;
	}
	if (mode_random(cfg->mode)) {
		*offset = next_random(&st->rng) % (st->region / cfg->bs) * cfg->bs;
	} else {
		*offset = st->seq_offset;
		st->seq_offset += cfg->bs;
		if (st->seq_offset >= st->region)
			st->seq_offset = 0;
	}
	st->submitted_bytes += cfg->bs;
	return true;
}

static int check_transfer(const struct bench_state *st, long long res, uint64_t offset)
{
	if (res < 0) {
		fail("%s at offset %" PRIu64 ": %s%s",
		     mode_writes(st->cfg->mode) ? "write" : "read", offset, strerror((int)-res),
		     res == -EINVAL && !st->cfg->buffered
			     ? " (O_DIRECT needs --bs and offsets aligned to the logical block size; "
			       "--buffered for tmpfs)"
			     : "");
		return -1;
	}
	if ((uint64_t)res != st->cfg->bs) {
		fail("short %s at offset %" PRIu64 ": %lld of %" PRIu64 " bytes",
		     mode_writes(st->cfg->mode) ? "write" : "read", offset, res, st->cfg->bs);
		return -1;
	}
	return 0;
}

static int run_sync(struct bench_state *st, char *buf)
{
	const struct bench_config *cfg = st->cfg;
	uint64_t offset;

	st->start = now_s();
	st->deadline = st->start + cfg->runtime_s;
	while (next_offset(st, &offset)) {
		ssize_t n;

		do {
			n = mode_writes(cfg->mode) ? pwrite(st->fd, buf, cfg->bs, (off_t)offset)
						   : pread(st->fd, buf, cfg->bs, (off_t)offset);
		} while (n < 0 && errno == EINTR);
		if (check_transfer(st, n < 0 ? -errno : n, offset) < 0)
			return -1;
		st->ops++;
		st->bytes += cfg->bs;
	}
	st->end = now_s();
	return 0;
}

static long sys_io_setup(unsigned int nr, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, nr, ctx);
}

static long sys_io_destroy(aio_context_t ctx)
{
	return syscall(SYS_io_destroy, ctx);
}

static long sys_io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, nr, iocbs);
}

static long sys_io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events)
{
	return syscall(SYS_io_getevents, ctx, min_nr, nr, events, NULL);
}

/*
 * Keeps qd requests in flight: each completion refills its slot. The iocb's
 * aio_data is its slot index.
 */
static int run_aio(struct bench_state *st, char *bufs)
{
	const struct bench_config *cfg = st->cfg;
	unsigned int qd = cfg->qd, in_flight = 0, nfree = qd;
	struct iocb *iocbs = calloc(qd, sizeof(*iocbs));
	struct iocb **batch = calloc(qd, sizeof(*batch));
	struct io_event *events = calloc(qd, sizeof(*events));
	unsigned int *free_slots = calloc(qd, sizeof(*free_slots));
	aio_context_t ctx = 0;
	bool stopping = false;
	int ret = -1;

	if (!iocbs || !batch || !events || !free_slots) {
		fail("out of memory");
		goto out;
	}
	if (sys_io_setup(qd, &ctx) < 0) {
		fail("io_setup(%u): %s", qd, strerror(errno));
		ctx = 0;
		goto out;
	}
	for (unsigned int i = 0; i < qd; i++)
		free_slots[i] = qd - 1 - i;

	/* Timed without io_setup and io_destroy (which waits for an RCU grace period). */
	st->start = now_s();
	st->deadline = st->start + cfg->runtime_s;

	for (;;) {
		unsigned int nbatch = 0, done = 0;
		long n;

		while (!stopping && nfree) {
			uint64_t offset;
			unsigned int slot;
			struct iocb *cb;

			if (!next_offset(st, &offset)) {
				stopping = true;
				break;
			}
			slot = free_slots[--nfree];
			cb = &iocbs[slot];
			memset(cb, 0, sizeof(*cb));
			cb->aio_data = slot;
			cb->aio_lio_opcode =
				mode_writes(cfg->mode) ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			cb->aio_fildes = (uint32_t)st->fd;
			cb->aio_buf = (uint64_t)(uintptr_t)(bufs + (size_t)slot * cfg->bs);
			cb->aio_nbytes = cfg->bs;
			cb->aio_offset = (int64_t)offset;
			batch[nbatch++] = cb;
		}
		while (done < nbatch) {
			n = sys_io_submit(ctx, nbatch - done, batch + done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				fail("io_submit: %s",
				     n < 0 ? strerror(errno) : "no request accepted");
				goto out;
			}
			done += (unsigned int)n;
			in_flight += (unsigned int)n;
		}
		if (!in_flight)
			break;

		n = sys_io_getevents(ctx, 1, in_flight, events);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail("io_getevents: %s", strerror(errno));
			goto out;
		}
		for (long i = 0; i < n; i++) {
			struct iocb *cb = (struct iocb *)(uintptr_t)events[i].obj;

			if (check_transfer(st, events[i].res, (uint64_t)cb->aio_offset) < 0)
				goto out;
			free_slots[nfree++] = (unsigned int)events[i].data;
			in_flight--;
			st->ops++;
			st->bytes += cfg->bs;
		}
	}
	st->end = now_s();
	ret = 0;
out:
	/* Requests still in flight are cancelled or waited for by io_destroy. */
	if (ctx)
		sys_io_destroy(ctx);
	free(iocbs);
	free(batch);
	free(events);
	free(free_slots);
	return ret;
}

/* Opens the target and works out the region to use; returns the fd or -1. */
static int open_target(const struct bench_config *cfg, uint64_t *region)
{
	int flags = (mode_writes(cfg->mode) ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	uint64_t size = 0;
	struct stat sb;
	int fd;

	if (!cfg->buffered)
		flags |= O_DIRECT;
	fd = open(cfg->path, flags);
	if (fd < 0) {
		fail("%s: %s%s", cfg->path, strerror(errno),
		     errno == EINVAL && !cfg->buffered ? " (no O_DIRECT here? try --buffered)"
						       : "");
		return -1;
	}
	if (fstat(fd, &sb) < 0) {
		fail("%s: %s", cfg->path, strerror(errno));
		goto fail;
	}
	if (S_ISBLK(sb.st_mode)) {
		int lbs = 512;

		if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
			fail("%s: size: %s", cfg->path, strerror(errno));
			goto fail;
		}
		if (!cfg->buffered && ioctl(fd, BLKSSZGET, &lbs) == 0 && lbs > 0 &&
		    cfg->bs % (uint64_t)lbs != 0) {
			fail("--bs %" PRIu64 " is not a multiple of %s's logical block size %d",
			     cfg->bs, cfg->path, lbs);
			goto fail;
		}
	} else if (S_ISREG(sb.st_mode)) {
		size = (uint64_t)sb.st_size;
	} else {
		fail("%s: not a block device or regular file", cfg->path);
		goto fail;
	}

	if (cfg->region) {
		/* A regular file may grow under writes; nothing else can. */
		if (cfg->region > size && !(S_ISREG(sb.st_mode) && mode_writes(cfg->mode))) {
			fail("--size %" PRIu64 " is larger than %s (%" PRIu64 " bytes)",
			     cfg->region, cfg->path, size);
			goto fail;
		}
		size = cfg->region;
	}
	*region = size - size % cfg->bs;
	if (*region == 0) {
		fail("%s: %" PRIu64 " bytes is less than one request of %" PRIu64
		     " (for a new file, give --size)",
		     cfg->path, size, cfg->bs);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	struct bench_config cfg;
	struct bench_state st = { .cfg = &cfg };
	char *bufs = NULL;
	double secs;
	int ret;

	ret = parse_args(argc, argv, &cfg);
	if (ret)
		return ret;
	st.fd = open_target(&cfg, &st.region);
	if (st.fd < 0)
		return STATUS_FAILED;
	/* A zero seed would leave xorshift stuck at zero. */
	st.rng = cfg.seed ? cfg.seed : 0x9e3779b97f4a7c15ull;

	ret = posix_memalign((void **)&bufs, BUFFER_ALIGN, (size_t)(cfg.bs * cfg.qd));
	if (ret) {
		fail("cannot allocate %" PRIu64 " bytes of buffers: %s", cfg.bs * cfg.qd,
		     strerror(ret));
		return STATUS_FAILED;
	}
	/* Non-zero data, so nothing below can treat the writes as zeroes. */
	for (size_t i = 0; i < cfg.bs * cfg.qd; i++)
		bufs[i] = (char)(0xa5 ^ (i >> 9));

	ret = cfg.qd > 1 ? run_aio(&st, bufs) : run_sync(&st, bufs);
	secs = st.end - st.start;
	free(bufs);
	close(st.fd);
	if (ret < 0)
		return STATUS_FAILED;
	if (secs <= 0)
		secs = 1e-9;

	printf("blkbench mode=%s bs=%" PRIu64 " qd=%u ops=%" PRIu64 " bytes=%" PRIu64
	       " secs=%.3f iops=%.1f mbps=%.2f\n",
	       mode_names[cfg.mode], cfg.bs, cfg.qd, st.ops, st.bytes, secs, (double)st.ops / secs,
	       (double)st.bytes / secs / 1e6);
	return fflush(stdout) == 0 ? 0 : STATUS_FAILED;
}
