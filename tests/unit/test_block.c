// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/block.h"

#define IMG_SIZE (1024 * 1024 + 100) /* the 100-byte tail is unreachable */

struct mode {
	enum block_aio aio;
	enum block_cache cache;
};

static const struct mode sync_wb = { BLOCK_AIO_SYNC, BLOCK_CACHE_WRITEBACK };
static const struct mode sync_direct = { BLOCK_AIO_SYNC, BLOCK_CACHE_NONE };
static const struct mode uring_wb = { BLOCK_AIO_IO_URING, BLOCK_CACHE_WRITEBACK };
static const struct mode uring_direct = { BLOCK_AIO_IO_URING, BLOCK_CACHE_NONE };

struct fixture {
	char dir[64];
	char path[96];
	struct event_loop loop;
	struct block_dev *bd;
	const struct mode *mode;
};

struct done_rec {
	struct block_req req;
	int ret;
	int calls;
};

static void on_done(struct block_req *req, int ret)
{
	struct done_rec *d = (struct done_rec *)req;

	d->ret = ret;
	d->calls++;
}

static bool io_uring_works(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(4, &ring, 0))
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

static void make_image(const char *path, int byte, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	assert_non_null(buf);
	assert_true(fd >= 0);
	memset(buf, byte, size);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static int open_disk(struct fixture *f, bool ro, struct block_dev **bd, struct error *err)
{
	struct block_opts o = {
		.path = f->path,
		.ro = ro,
		.cache = f->mode->cache,
		.aio = f->mode->aio,
	};

	return block_open(bd, &o, &f->loop, err);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	assert_non_null(f);
	f->mode = *state;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kvmini-block-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/disk.img", f->dir);
	make_image(f->path, 0xaa, IMG_SIZE);
	assert_int_equal(event_loop_init(&f->loop, "test", &err), 0);
	assert_int_equal(open_disk(f, false, &f->bd, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	block_close(f->bd);
	event_loop_destroy(&f->loop);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Deliver completions until @d has completed (io_uring) or give up. */
static void wait_done(struct fixture *f, struct done_rec *d)
{
	for (int i = 0; i < 200 && !d->calls; i++)
		event_loop_run_once(&f->loop, 50);
	assert_int_equal(d->calls, 1);
}

static int rw(struct fixture *f, enum block_op op, uint64_t off, struct iovec *iov, unsigned int nr)
{
	struct done_rec d = {
		.req = { .op = op, .offset = off, .iov = iov, .nr_iov = nr, .done = on_done }
	};

	block_submit(f->bd, &d.req);
	block_submit_batch(f->bd);
	wait_done(f, &d);
	return d.ret;
}

static void test_open(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(block_sectors(f->bd), (IMG_SIZE / 512));
	assert_false(block_read_only(f->bd));
	if (f->mode->aio == BLOCK_AIO_IO_URING && io_uring_works())
		assert_int_equal(block_aio_mode(f->bd), BLOCK_AIO_IO_URING);
	else
		assert_int_equal(block_aio_mode(f->bd), BLOCK_AIO_SYNC);
	assert_true(block_alignment(f->bd) >= 512);
}

static void test_read_write(void **state)
{
	struct fixture *f = *state;
	uint8_t *a = aligned_alloc(4096, 4096), *b = aligned_alloc(4096, 4096);
	uint8_t check[2048];
	struct iovec iov[3];

	assert_non_null(a);
	assert_non_null(b);
	for (int i = 0; i < 2048; i++)
		a[i] = (uint8_t)(i * 7 + 1);
	/* Three aligned pieces: 512 + 1024 + 512. */
	iov[0] = (struct iovec){ a, 512 };
	iov[1] = (struct iovec){ a + 512, 1024 };
	iov[2] = (struct iovec){ a + 1536, 512 };
	assert_int_equal(rw(f, BLOCK_OP_WRITE, 8192, iov, 3), 0);
	file_read(f->path, 8192, check, sizeof(check));
	assert_memory_equal(check, a, 2048);
	file_read(f->path, 8192 - 512, check, 512);
	assert_int_equal(check[0], 0xaa);
	assert_int_equal(check[511], 0xaa);

	memset(b, 0, 4096);
	iov[0] = (struct iovec){ b, 1024 };
	iov[1] = (struct iovec){ b + 1024, 1024 };
	assert_int_equal(rw(f, BLOCK_OP_READ, 8192, iov, 2), 0);
	assert_memory_equal(b, a, 2048);

	/* The last reachable sector, then one past it. */
	iov[0] = (struct iovec){ b, 512 };
	assert_int_equal(rw(f, BLOCK_OP_READ, (IMG_SIZE / 512 - 1) * 512, iov, 1), 0);
	assert_int_equal(b[0], 0xaa);
	iov[0] = (struct iovec){ b, 512 };
	assert_int_equal(rw(f, BLOCK_OP_READ, (IMG_SIZE / 512) * 512, iov, 1), -EINVAL);
	iov[0] = (struct iovec){ b, 1024 };
	assert_int_equal(rw(f, BLOCK_OP_WRITE, UINT64_MAX - 511, iov, 1), -EINVAL);
	free(a);
	free(b);
}

/* Buffers that O_DIRECT cannot use directly go through a bounce buffer. */
static void test_unaligned_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t *a = aligned_alloc(4096, 8192), *b = aligned_alloc(4096, 8192);
	uint8_t check[1024];
	struct iovec iov[2];

	assert_non_null(a);
	assert_non_null(b);
	for (int i = 0; i < 1024; i++)
		a[3 + i] = (uint8_t)(i ^ 0x5a);
	iov[0] = (struct iovec){ a + 3, 100 };
	iov[1] = (struct iovec){ a + 103, 924 };
	assert_int_equal(rw(f, BLOCK_OP_WRITE, 4096, iov, 2), 0);
	file_read(f->path, 4096, check, sizeof(check));
	assert_memory_equal(check, a + 3, 1024);

	memset(b, 0, 8192);
	iov[0] = (struct iovec){ b + 1, 1000 };
	iov[1] = (struct iovec){ b + 2001, 24 };
	assert_int_equal(rw(f, BLOCK_OP_READ, 4096, iov, 2), 0);
	assert_memory_equal(b + 1, a + 3, 1000);
	assert_memory_equal(b + 2001, a + 1003, 24);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1001], 0);
	free(a);
	free(b);
}

/*
 * A guest that keeps many misaligned requests in flight cannot make the
 * O_DIRECT bounce buffers grow past their limit: the excess goes through one
 * chunk, and every request still moves the right bytes.
 */
static void test_bounce_limit(void **state)
{
	struct fixture *f = *state;
	struct block_opts o = {
		.path = f->path,
		.cache = f->mode->cache,
		.aio = f->mode->aio,
		.bounce_limit = 8192,
	};
	enum { NR = 8, LEN = 4096 * 3 };
	struct done_rec d[NR];
	struct iovec iov[NR];
	uint8_t *buf = aligned_alloc(4096, NR * LEN + 4096), check[LEN];
	struct error err = { 0 };

	assert_non_null(buf);
	block_close(f->bd);
	assert_int_equal(block_open(&f->bd, &o, &f->loop, &err), 0);
	for (int i = 0; i < NR; i++) {
		/* One byte off alignment, so every request needs a bounce. */
		iov[i] = (struct iovec){ buf + 1 + i * LEN, i % 2 ? 4096 : LEN };
		memset(iov[i].iov_base, 0x10 + i, iov[i].iov_len);
		d[i] = (struct done_rec){ .req = { .op = BLOCK_OP_WRITE,
						   .offset = (uint64_t)i * LEN,
						   .iov = &iov[i],
						   .nr_iov = 1,
						   .done = on_done } };
		block_submit(f->bd, &d[i].req);
		assert_true(block_bounce_bytes(f->bd) <= 8192);
	}
	block_submit_batch(f->bd);
	for (int i = 0; i < NR; i++) {
		wait_done(f, &d[i]);
		assert_int_equal(d[i].ret, 0);
		file_read(f->path, (uint64_t)i * LEN, check, iov[i].iov_len);
		for (size_t j = 0; j < iov[i].iov_len; j++)
			assert_int_equal(check[j], 0x10 + i);
	}
	assert_int_equal(block_bounce_bytes(f->bd), 0);
	/* Reads come back through the chunk too. */
	memset(buf, 0, NR * LEN + 4096);
	iov[0] = (struct iovec){ buf + 1, LEN };
	assert_int_equal(rw(f, BLOCK_OP_READ, LEN * 2, iov, 1), 0);
	for (int j = 0; j < LEN; j++)
		assert_int_equal(buf[1 + j], 0x12);
	free(buf);
}

/*
 * An empty entry (a status byte cut off a read's last buffer) transfers
 * nothing: where it points must not force O_DIRECT into a bounce buffer.
 */
static void test_empty_entry_no_bounce(void **state)
{
	struct fixture *f = *state;
	uint8_t *b = aligned_alloc(4096, 8192);
	struct iovec iov[3];
	struct done_rec d;

	assert_non_null(b);
	memset(b, 0, 8192);
	iov[0] = (struct iovec){ b + 3, 0 };
	iov[1] = (struct iovec){ b + 4096, 1024 };
	iov[2] = (struct iovec){ b + 5121, 0 };
	d = (struct done_rec){ .req = { .op = BLOCK_OP_READ,
					.offset = 0,
					.iov = iov,
					.nr_iov = 3,
					.done = on_done } };
	block_submit(f->bd, &d.req);
	block_submit_batch(f->bd);
	wait_done(f, &d);
	assert_int_equal(d.ret, 0);
	assert_ptr_not_equal(d.req.iov, &d.req.bounce_iov);
	assert_true(d.req.iov >= iov && d.req.iov < iov + 3);
	assert_int_equal(b[4096], 0xaa);
	assert_int_equal(b[4096 + 1023], 0xaa);
	assert_int_equal(b[4096 + 1024], 0);
	free(b);
}

/* A flush has no range: whatever offset comes with it is ignored. */
static void test_flush_any_offset(void **state)
{
	struct fixture *f = *state;
	uint64_t offsets[] = { IMG_SIZE * 4ULL, UINT64_MAX - 511 };

	for (unsigned int i = 0; i < 2; i++) {
		struct done_rec d = {
			.req = { .op = BLOCK_OP_FLUSH, .offset = offsets[i], .done = on_done }
		};

		block_submit(f->bd, &d.req);
		block_submit_batch(f->bd);
		wait_done(f, &d);
		assert_int_equal(d.ret, 0);
	}
	assert_int_equal(block_inflight(f->bd), 0);
}

/* io_uring: no more than queue_depth requests in flight (the CQ is sized for it). */
static void test_queue_depth(void **state)
{
	struct fixture *f = *state;
	struct block_opts o = { .cache = f->mode->cache, .aio = f->mode->aio, .queue_depth = 4 };
	struct error err = { 0 };
	uint8_t *buf = aligned_alloc(4096, 5 * 4096);
	struct iovec iov[5];
	struct done_rec d[5];

	assert_non_null(buf);
	block_close(f->bd);
	o.path = f->path;
	assert_int_equal(block_open(&f->bd, &o, &f->loop, &err), 0);
	for (int i = 0; i < 5; i++) {
		iov[i] = (struct iovec){ buf + i * 4096, 4096 };
		d[i] = (struct done_rec){ .req = { .op = BLOCK_OP_READ,
						   .offset = (uint64_t)i * 4096,
						   .iov = &iov[i],
						   .nr_iov = 1,
						   .done = on_done } };
		block_submit(f->bd, &d[i].req);
	}
	if (block_aio_mode(f->bd) == BLOCK_AIO_IO_URING) {
		assert_int_equal(d[4].calls, 1);
		assert_int_equal(d[4].ret, -EBUSY);
		assert_int_equal(block_inflight(f->bd), 4);
	}
	block_submit_batch(f->bd);
	block_drain(f->bd);
	assert_int_equal(block_inflight(f->bd), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].ret, 0);
	}
	free(buf);
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	struct done_rec d = { .req = { .op = BLOCK_OP_FLUSH, .done = on_done } };

	block_submit(f->bd, &d.req);
	block_submit_batch(f->bd);
	wait_done(f, &d);
	assert_int_equal(d.ret, 0);
	assert_int_equal(block_inflight(f->bd), 0);
}

/* io_uring: nothing reaches the kernel before block_submit_batch(). */
static void test_batching(void **state)
{
	struct fixture *f = *state;
	struct done_rec d[16];
	uint8_t *buf = aligned_alloc(4096, 16 * 512);
	struct iovec iov[16];

	assert_non_null(buf);
	memset(buf, 0x11, 16 * 512);
	for (int i = 0; i < 16; i++) {
		iov[i] = (struct iovec){ buf + i * 512, 512 };
		d[i] = (struct done_rec){ .req = { .op = BLOCK_OP_WRITE,
						   .offset = (uint64_t)i * 512,
						   .iov = &iov[i],
						   .nr_iov = 1,
						   .done = on_done } };
		block_submit(f->bd, &d[i].req);
	}
	if (block_aio_mode(f->bd) == BLOCK_AIO_IO_URING) {
		assert_int_equal(block_inflight(f->bd), 16);
		event_loop_run_once(&f->loop, 100);
		for (int i = 0; i < 16; i++)
			assert_int_equal(d[i].calls, 0);
		block_submit_batch(f->bd);
		for (int i = 0; i < 200 && block_inflight(f->bd); i++)
			event_loop_run_once(&f->loop, 50);
	}
	assert_int_equal(block_inflight(f->bd), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].ret, 0);
	}
	free(buf);
}

static void test_drain(void **state)
{
	struct fixture *f = *state;
	struct done_rec d[8];
	uint8_t *buf = aligned_alloc(4096, 8 * 4096);
	struct iovec iov[8];

	assert_non_null(buf);
	for (int i = 0; i < 8; i++) {
		iov[i] = (struct iovec){ buf + i * 4096, 4096 };
		d[i] = (struct done_rec){ .req = { .op = BLOCK_OP_READ,
						   .offset = (uint64_t)i * 4096,
						   .iov = &iov[i],
						   .nr_iov = 1,
						   .done = on_done } };
		block_submit(f->bd, &d[i].req);
	}
	block_submit_batch(f->bd);
	block_drain(f->bd);
	assert_int_equal(block_inflight(f->bd), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].ret, 0);
	}
	assert_int_equal(buf[0], 0xaa);
	assert_int_equal(buf[8 * 4096 - 1], 0xaa);
	free(buf);
}

static bool all_bytes(const uint8_t *p, int byte, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != byte)
			return false;
	}
	return true;
}

static void test_discard_and_zeroes(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[3 * 4096];
	struct stat st;

	assert_int_equal(block_discard(f->bd, 4096, 4096), 0);
	file_read(f->path, 0, buf, sizeof(buf));
	assert_true(all_bytes(buf, 0xaa, 4096));
	assert_true(all_bytes(buf + 4096, 0, 4096));
	assert_true(all_bytes(buf + 8192, 0xaa, 4096));

	assert_int_equal(block_write_zeroes(f->bd, 16384, 1024, false), 0);
	assert_int_equal(block_write_zeroes(f->bd, 20480, 512, true), 0);
	file_read(f->path, 12288, buf, sizeof(buf));
	assert_true(all_bytes(buf, 0xaa, 4096));
	assert_true(all_bytes(buf + 4096, 0, 1024));
	assert_true(all_bytes(buf + 5120, 0xaa, 3072));
	assert_true(all_bytes(buf + 8192, 0, 512));
	assert_true(all_bytes(buf + 8704, 0xaa, 3584));

	/* The image keeps its size; ranges past the end are refused. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, IMG_SIZE);
	assert_int_equal(block_discard(f->bd, (IMG_SIZE / 512) * 512, 512), -EINVAL);
	assert_int_equal(block_write_zeroes(f->bd, UINT64_MAX - 511, 1024, false), -EINVAL);
	assert_int_equal(block_discard(f->bd, 512, UINT64_MAX), -EINVAL);
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct block_dev *ro;
	uint8_t *buf = aligned_alloc(4096, 4096), check[512];
	struct done_rec d;
	struct iovec iov;

	assert_non_null(buf);
	block_close(f->bd);
	f->bd = NULL;
	assert_int_equal(open_disk(f, true, &ro, &err), 0);
	assert_true(block_read_only(ro));
	memset(buf, 0x33, 4096);
	iov = (struct iovec){ buf, 512 };
	d = (struct done_rec){
		.req = { .op = BLOCK_OP_WRITE, .iov = &iov, .nr_iov = 1, .done = on_done }
	};
	block_submit(ro, &d.req);
	block_submit_batch(ro);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.ret, -EROFS);
	assert_int_equal(block_discard(ro, 0, 512), -EROFS);
	assert_int_equal(block_write_zeroes(ro, 0, 512, false), -EROFS);
	file_read(f->path, 0, check, sizeof(check));
	assert_true(all_bytes(check, 0xaa, 512));

	/* Readers share the image; a writer cannot join them. */
	struct block_dev *ro2, *rw2;

	assert_int_equal(open_disk(f, true, &ro2, &err), 0);
	assert_int_equal(open_disk(f, false, &rw2, &err), -EBUSY);
	assert_null(rw2);
	block_close(ro2);
	block_close(ro);
	/* The lock goes away with the last user. */
	assert_int_equal(open_disk(f, false, &f->bd, &err), 0);
	free(buf);
}

/* A read-only open must not need write permission. */
static void test_read_only_file(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct block_dev *ro;

	block_close(f->bd);
	f->bd = NULL;
	assert_int_equal(chmod(f->path, 0444), 0);
	if (geteuid() != 0) {
		assert_int_equal(open_disk(f, false, &ro, &err), -EACCES);
		assert_non_null(strstr(err.msg, f->path));
	}
	assert_int_equal(open_disk(f, true, &ro, &err), 0);
	block_close(ro);
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(open_disk(f, false, &f->bd, &err), 0);
}

static void test_lock_conflict(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct block_dev *second = (struct block_dev *)1;
	char want[160];

	assert_int_equal(open_disk(f, false, &second, &err), -EBUSY);
	assert_null(second);
	snprintf(want, sizeof(want), "disk %s: locked by another process", f->path);
	assert_string_equal(err.msg, want);
	assert_int_equal(open_disk(f, true, &second, &err), -EBUSY);
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct block_dev *bd;
	struct block_opts o = { .path = "/nonexistent/kvmini.img", .aio = f->mode->aio };

	assert_int_equal(block_open(&bd, &o, &f->loop, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "disk /nonexistent/kvmini.img: "));
	o.path = f->dir;
	o.ro = true;
	assert_int_equal(block_open(&bd, &o, &f->loop, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file or block device"));
	o.path = "";
	assert_int_equal(block_open(&bd, &o, &f->loop, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty path"));
}

/* aio=auto: inline on memory-backed files, io_uring elsewhere. */
static void test_auto_mode(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	struct block_dev *bd;
	struct block_opts o = { .aio = BLOCK_AIO_AUTO };
	char shm[] = "/dev/shm/kvmini-block-XXXXXX", disk[] = "kvmini-auto.img";
	struct statfs sfs;
	int fd;

	fd = mkstemp(shm);
	if (fd >= 0) {
		assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
		assert_int_equal(fstatfs(fd, &sfs), 0);
		close(fd);
		o.path = shm;
		assert_int_equal(block_open(&bd, &o, &f->loop, &err), 0);
		if (sfs.f_type == TMPFS_MAGIC)
			assert_int_equal(block_aio_mode(bd), BLOCK_AIO_SYNC);
		block_close(bd);
		unlink(shm);
	}
	/* The build directory is on a disk-backed filesystem here. */
	make_image(disk, 0, IMG_SIZE);
	assert_int_equal(statfs(disk, &sfs), 0);
	o.path = disk;
	assert_int_equal(block_open(&bd, &o, &f->loop, &err), 0);
	if (sfs.f_type != TMPFS_MAGIC && sfs.f_type != RAMFS_MAGIC)
		assert_int_equal(block_aio_mode(bd), BLOCK_AIO_IO_URING);
	block_close(bd);
	unlink(disk);
}

#define MODE_TESTS(name)                                                                   \
	cmocka_unit_test_prestate_setup_teardown(name, setup, teardown, (void *)&sync_wb), \
		cmocka_unit_test_prestate_setup_teardown(name, setup, teardown,            \
							 (void *)&sync_direct),            \
		cmocka_unit_test_prestate_setup_teardown(name, setup, teardown,            \
							 (void *)&uring_wb),               \
		cmocka_unit_test_prestate_setup_teardown(name, setup, teardown,            \
							 (void *)&uring_direct)

int main(void)
{
	const struct CMUnitTest tests[] = {
		MODE_TESTS(test_open),
		MODE_TESTS(test_read_write),
		MODE_TESTS(test_unaligned_buffers),
		MODE_TESTS(test_flush),
		MODE_TESTS(test_empty_entry_no_bounce),
		MODE_TESTS(test_bounce_limit),
		MODE_TESTS(test_flush_any_offset),
		MODE_TESTS(test_queue_depth),
		MODE_TESTS(test_batching),
		MODE_TESTS(test_drain),
		MODE_TESTS(test_discard_and_zeroes),
		MODE_TESTS(test_read_only),
		MODE_TESTS(test_read_only_file),
		MODE_TESTS(test_lock_conflict),
		MODE_TESTS(test_open_errors),
		cmocka_unit_test_prestate_setup_teardown(test_auto_mode, setup, teardown,
							 (void *)&uring_wb),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
