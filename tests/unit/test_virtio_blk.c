// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_virtio.h"
#include "virtio/blk.h"

#define RAM (4u << 20)
#define QSIZE VIRTIO_BLK_QUEUE_SIZE
#define NR_QUEUES 2
#define DATA_GPA 0x100000
#define IMG_SIZE (1024 * 1024 + 100)
#define CAPACITY (IMG_SIZE / 512)
#define SERIAL "kvmini-test-serial"

#define R false /* device-readable buffer */
#define W true /* device-writable buffer */

/* A fake driver that builds split rings in guest RAM the way Linux does. */
struct drv {
	struct fake_guest g;
	struct event_loop loop;
	struct virtio_blk *blk;
	struct virtio_dev *vdev;
	enum block_aio aio;
	char dir[64];
	char path[96];
	struct fake_vq vq[NR_QUEUES];
	struct fake_irqs irq;
	struct fake_data data;
};

static const enum block_aio aio_sync = BLOCK_AIO_SYNC;
static const enum block_aio aio_uring = BLOCK_AIO_IO_URING;

static uint64_t queue_base(unsigned int q)
{
	return 0x10000 + 0x10000 * (uint64_t)q;
}

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return fake_vq_used_idx(&d->vq[q]);
}

static void make_image(const char *path)
{
	uint8_t *buf = malloc(IMG_SIZE);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	assert_non_null(buf);
	assert_true(fd >= 0);
	memset(buf, 0xaa, IMG_SIZE);
	assert_int_equal(write(fd, buf, IMG_SIZE), IMG_SIZE);
	close(fd);
	free(buf);
}

static void file_read(struct drv *d, uint64_t off, void *buf, size_t len)
{
	int fd = open(d->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static bool file_all(struct drv *d, uint64_t off, int byte, size_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = true;

	assert_non_null(buf);
	file_read(d, off, buf, len);
	for (size_t i = 0; i < len; i++)
		ok = ok && buf[i] == byte;
	free(buf);
	return ok;
}

static void init_queues(struct drv *d)
{
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		struct fake_vq *vq = &d->vq[q];

		fake_vq_init(vq, &d->g, queue_base(q), QSIZE);
		fake_vq_clear(vq);
		assert_int_equal(virtq_init(&d->vdev->vqs[q], &d->g.mem, QSIZE, vq->desc, vq->avail,
					    vq->used, false, false),
				 0);
	}
	/* As the transport does: start is optional (vdev.running is all blk needs). */
	if (d->vdev->ops->start)
		assert_int_equal(d->vdev->ops->start(d->vdev), 0);
	d->vdev->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	atomic_store(&d->vdev->running, true);
}

static void create(struct drv *d, bool ro)
{
	struct virtio_blk_opts o = { .path = d->path, .ro = ro, .aio = d->aio, .serial = SERIAL };
	struct error err = { 0 };

	assert_int_equal(virtio_blk_create(&d->blk, &o, NR_QUEUES, &d->g.mem, &d->loop, &err), 0);
	d->vdev = virtio_blk_vdev(d->blk);
	d->vdev->driver_features = d->vdev->device_features;
	d->vdev->transport = fake_irqs_transport(&d->irq, NR_QUEUES);
	init_queues(d);
}

static int setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct error err = { 0 };

	assert_non_null(d);
	d->aio = *(const enum block_aio *)*state;
	fake_guest_init(&d->g, RAM);
	fake_data_init(&d->data, &d->g, DATA_GPA);
	snprintf(d->dir, sizeof(d->dir), "/tmp/kvmini-vblk-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/disk.img", d->dir);
	make_image(d->path);
	assert_int_equal(event_loop_init(&d->loop, "test", &err), 0);
	create(d, false);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;

	virtio_blk_destroy(d->blk);
	event_loop_destroy(&d->loop);
	unlink(d->path);
	rmdir(d->dir);
	fake_guest_free(&d->g);
	free(d);
	return 0;
}

static uint64_t alloc(struct drv *d, uint32_t len)
{
	return fake_data_alloc(&d->data, NULL, len);
}

static uint64_t header(struct drv *d, uint32_t type, uint64_t sector)
{
	uint64_t gpa = alloc(d, 16);

	put_le32(d->g.buf + gpa, type);
	put_le32(d->g.buf + gpa + 4, 0);
	put_le64(d->g.buf + gpa + 8, sector);
	return gpa;
}

static uint64_t status_byte(struct drv *d)
{
	uint64_t gpa = alloc(d, 1);

	d->g.buf[gpa] = 0xee;
	return gpa;
}

static void kick(struct drv *d, unsigned int q)
{
	d->vdev->ops->queue_notify(d->vdev, q);
}

/* Run the event loop until @n more chains were used on queue @q. */
static void wait_used(struct drv *d, unsigned int q, uint16_t n)
{
	for (int i = 0; i < 200 && (uint16_t)(used_idx(d, q) - d->vq[q].used_seen) < n; i++)
		event_loop_run_once(&d->loop, 50);
	assert_int_equal((uint16_t)(used_idx(d, q) - d->vq[q].used_seen), n);
}

/* Send one chain on queue 0 and wait for it: the used length. */
static uint32_t request(struct drv *d, const struct fake_buf *bufs, unsigned int n)
{
	uint16_t head = fake_vq_post(&d->vq[0], bufs, n), used_head;
	uint32_t len;

	kick(d, 0);
	wait_used(d, 0, 1);
	len = fake_vq_next_used(&d->vq[0], &used_head);
	assert_int_equal(used_head, head);
	return len;
}

/* The common shape: header, one data buffer, status byte. */
static uint8_t simple(struct drv *d, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		      bool data_write, uint32_t *used_len)
{
	uint64_t st = status_byte(d);
	struct fake_buf bufs[3] = { { header(d, type, sector), 16, R },
				    { data, len, data_write },
				    { st, 1, W } };
	uint32_t ul;

	if (!len) {
		bufs[1] = bufs[2];
		ul = request(d, bufs, 2);
	} else {
		ul = request(d, bufs, 3);
	}
	if (used_len)
		*used_len = ul;
	return d->g.buf[st];
}

static uint64_t pattern(struct drv *d, uint32_t len, uint8_t seed)
{
	uint64_t gpa = alloc(d, len);

	for (uint32_t i = 0; i < len; i++)
		d->g.buf[gpa + i] = (uint8_t)(seed + i * 13);
	return gpa;
}

static uint32_t cfg32(struct drv *d, uint32_t off)
{
	uint32_t v;

	d->vdev->ops->config_read(d->vdev, off, (uint8_t *)&v, 4);
	return v;
}

static void test_config(void **state)
{
	struct drv *d = *state;
	uint64_t f = d->vdev->device_features, cap;
	uint16_t nq;

	d->vdev->ops->config_read(d->vdev, VIRTIO_BLK_CFG_CAPACITY, (uint8_t *)&cap, 8);
	assert_int_equal(cap, CAPACITY);
	assert_int_equal(cfg32(d, VIRTIO_BLK_CFG_SEG_MAX), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(cfg32(d, VIRTIO_BLK_CFG_BLK_SIZE), 512);
	d->vdev->ops->config_read(d->vdev, VIRTIO_BLK_CFG_NUM_QUEUES, (uint8_t *)&nq, 2);
	assert_int_equal(nq, NR_QUEUES);
	assert_true(cfg32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SEG) >= 1);
	assert_true(cfg32(d, VIRTIO_BLK_CFG_MAX_WZ_SECTORS) >= 1);
	assert_int_equal(d->vdev->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(d->vdev->nr_queues, NR_QUEUES);
	assert_int_equal(d->vdev->queue_max_size, QSIZE);
	for (unsigned int bit = 0; bit < 64; bit++) {
		bool want = bit == VIRTIO_BLK_F_SEG_MAX || bit == VIRTIO_BLK_F_BLK_SIZE ||
			    bit == VIRTIO_BLK_F_FLUSH || bit == VIRTIO_BLK_F_MQ ||
			    bit == VIRTIO_BLK_F_DISCARD || bit == VIRTIO_BLK_F_WRITE_ZEROES ||
			    bit == VIRTIO_F_VERSION_1 || bit == VIRTIO_F_INDIRECT_DESC ||
			    bit == VIRTIO_F_EVENT_IDX;

		assert_int_equal(!!(f & VIRTIO_BIT(bit)), want);
	}
}

static void test_write_read(void **state)
{
	struct drv *d = *state;
	uint64_t hdr = header(d, VIRTIO_BLK_T_OUT, 10), data = pattern(d, 1024, 3);
	uint64_t st = status_byte(d), in;
	uint8_t check[1024];

	/* Header split across two buffers, data across two. */
	struct fake_buf out[5] = { { hdr, 8, R },
				   { hdr + 8, 8, R },
				   { data, 512, R },
				   { data + 512, 512, R },
				   { st, 1, W } };

	assert_int_equal(request(d, out, 5), 1);
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_OK);
	assert_int_equal(d->irq.queue[0], 1);
	file_read(d, 10 * 512, check, sizeof(check));
	assert_memory_equal(check, d->g.buf + data, 1024);
	assert_true(file_all(d, 9 * 512, 0xaa, 512));
	assert_true(file_all(d, 12 * 512, 0xaa, 512));

	/* Read it back into three writable buffers, status on its own. */
	in = alloc(d, 1024);
	memset(d->g.buf + in, 0, 1024);
	st = status_byte(d);
	struct fake_buf rd[5] = { { header(d, VIRTIO_BLK_T_IN, 10), 16, R },
				  { in, 300, W },
				  { in + 300, 700, W },
				  { in + 1000, 24, W },
				  { st, 1, W } };
	assert_int_equal(request(d, rd, 5), 1025);
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_OK);
	assert_memory_equal(d->g.buf + in, d->g.buf + data, 1024);
	assert_int_equal(d->irq.queue[0], 2);
	assert_int_equal(d->irq.queue[1], 0);

	/* The status byte is the last byte of the last writable buffer. */
	in = alloc(d, 513);
	memset(d->g.buf + in, 0x77, 513);
	struct fake_buf rd2[2] = { { header(d, VIRTIO_BLK_T_IN, 11), 16, R }, { in, 513, W } };
	assert_int_equal(request(d, rd2, 2), 513);
	assert_int_equal(d->g.buf[in + 512], VIRTIO_BLK_S_OK);
	assert_memory_equal(d->g.buf + in, d->g.buf + data + 512, 512);

	/* Zero-length reads are fine. */
	assert_int_equal(simple(d, VIRTIO_BLK_T_IN, 0, 0, 0, W, NULL), VIRTIO_BLK_S_OK);
}

static void test_flush(void **state)
{
	struct drv *d = *state;
	uint64_t st = status_byte(d);
	struct fake_buf bufs[2] = { { header(d, VIRTIO_BLK_T_FLUSH, 0), 16, R }, { st, 1, W } };

	fake_vq_post(&d->vq[0], bufs, 2);
	kick(d, 0);
	/* With io_uring the flush completes only when the fsync did. */
	if (d->aio == BLOCK_AIO_IO_URING)
		assert_int_equal(used_idx(d, 0), 0);
	wait_used(d, 0, 1);
	assert_int_equal(fake_vq_next_used(&d->vq[0], NULL), 1);
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_OK);
	assert_int_equal(d->irq.queue[0], 1);
}

/* The sector of a flush means nothing: any value, even one that wraps * 512. */
static void test_flush_sector_ignored(void **state)
{
	struct drv *d = *state;
	uint64_t sectors[] = { 7, CAPACITY + 100, UINT64_MAX };

	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(simple(d, VIRTIO_BLK_T_FLUSH, sectors[i], 0, 0, W, NULL),
				 VIRTIO_BLK_S_OK);
	assert_false(d->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_get_id(void **state)
{
	struct drv *d = *state;
	uint64_t id = alloc(d, 20);
	char want[20] = SERIAL;
	uint32_t len;

	memset(d->g.buf + id, 0x55, 20);
	assert_int_equal(simple(d, VIRTIO_BLK_T_GET_ID, 0, id, 20, W, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 21);
	assert_memory_equal(d->g.buf + id, want, 20);
	assert_int_equal(d->g.buf[id + 19], 0);

	/* A readable ID buffer: wrong direction. */
	memset(d->g.buf + id, 0x55, 20);
	assert_int_equal(simple(d, VIRTIO_BLK_T_GET_ID, 0, id, 20, R, &len), VIRTIO_BLK_S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(d->g.buf[id], 0x55);
}

static uint64_t segments(struct drv *d, unsigned int n, const uint64_t *sector, const uint32_t *num,
			 const uint32_t *flags)
{
	uint64_t gpa = alloc(d, 16 * n);

	for (unsigned int i = 0; i < n; i++) {
		put_le64(d->g.buf + gpa + 16 * i, sector[i]);
		put_le32(d->g.buf + gpa + 16 * i + 8, num[i]);
		put_le32(d->g.buf + gpa + 16 * i + 12, flags[i]);
	}
	return gpa;
}

static void test_discard_write_zeroes(void **state)
{
	struct drv *d = *state;
	uint64_t sec[2] = { 8, 32 };
	uint32_t num[2] = { 8, 2 }, none[2] = { 0, 0 }, unmap[2] = { 1, 0 }, junk[2] = { 0, 2 };
	uint64_t segs;
	uint32_t len;

	segs = segments(d, 2, sec, num, none);
	assert_int_equal(simple(d, VIRTIO_BLK_T_DISCARD, 0, segs, 32, R, &len), VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	assert_true(file_all(d, 7 * 512, 0xaa, 512));
	assert_true(file_all(d, 8 * 512, 0, 8 * 512));
	assert_true(file_all(d, 16 * 512, 0xaa, 16 * 512));
	assert_true(file_all(d, 32 * 512, 0, 2 * 512));
	assert_true(file_all(d, 34 * 512, 0xaa, 512));

	sec[0] = 100;
	sec[1] = 200;
	segs = segments(d, 2, sec, num, unmap);
	assert_int_equal(simple(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 32, R, NULL),
			 VIRTIO_BLK_S_OK);
	assert_true(file_all(d, 99 * 512, 0xaa, 512));
	assert_true(file_all(d, 100 * 512, 0, 8 * 512));
	assert_true(file_all(d, 108 * 512, 0xaa, 512));
	assert_true(file_all(d, 200 * 512, 0, 2 * 512));
	assert_true(file_all(d, 202 * 512, 0xaa, 512));

	/* Unmap on a discard and unknown flags are unsupported (5.2.6.2). */
	sec[0] = 300;
	sec[1] = 400;
	segs = segments(d, 1, sec, num, unmap);
	assert_int_equal(simple(d, VIRTIO_BLK_T_DISCARD, 0, segs, 16, R, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	segs = segments(d, 2, sec, num, junk);
	assert_int_equal(simple(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 32, R, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	/* Nothing done when any segment is bad, even the good first one. */
	assert_true(file_all(d, 300 * 512, 0xaa, 8 * 512));

	/* Segments beyond the disk, or wrapping. */
	sec[1] = CAPACITY - 1;
	segs = segments(d, 2, sec, num, none);
	assert_int_equal(simple(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 32, R, NULL),
			 VIRTIO_BLK_S_IOERR);
	sec[1] = UINT64_MAX - 1;
	segs = segments(d, 2, sec, num, none);
	assert_int_equal(simple(d, VIRTIO_BLK_T_DISCARD, 0, segs, 32, R, NULL), VIRTIO_BLK_S_IOERR);
	assert_true(file_all(d, 300 * 512, 0xaa, 8 * 512));
	assert_true(file_all(d, (CAPACITY - 1) * 512, 0xaa, 512));

	/* Segment data not a whole number of segments, none at all, too many. */
	segs = segments(d, 2, sec, num, none);
	assert_int_equal(simple(d, VIRTIO_BLK_T_DISCARD, 0, segs, 20, R, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple(d, VIRTIO_BLK_T_DISCARD, 0, 0, 0, R, NULL), VIRTIO_BLK_S_IOERR);
	segs = alloc(d, 16 * 64);
	memset(d->g.buf + segs, 0, 16 * 64);
	assert_int_equal(simple(d, VIRTIO_BLK_T_DISCARD, 0, segs, 16 * 64, R, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Segments in a writable buffer. */
	segs = segments(d, 1, sec, num, none);
	assert_int_equal(simple(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 16, W, NULL),
			 VIRTIO_BLK_S_IOERR);
}

static void test_hostile(void **state)
{
	struct drv *d = *state;
	uint64_t data = pattern(d, 2048, 9), st, hdr;
	uint32_t len;

	/* Header short: 8 readable bytes, then the status. */
	st = status_byte(d);
	hdr = header(d, VIRTIO_BLK_T_OUT, 0);
	struct fake_buf short_hdr[2] = { { hdr, 8, R }, { st, 1, W } };
	assert_int_equal(request(d, short_hdr, 2), 1);
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_IOERR);
	/* No header at all. */
	st = status_byte(d);
	struct fake_buf only_status[1] = { { st, 1, W } };
	assert_int_equal(request(d, only_status, 1), 1);
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_IOERR);

	/* No writable byte: no status can be given; used with length 0. */
	struct fake_buf no_status[2] = { { header(d, VIRTIO_BLK_T_OUT, 0), 16, R },
					 { data, 512, R } };
	assert_int_equal(request(d, no_status, 2), 0);
	assert_true(file_all(d, 0, 0xaa, 512));

	/* Sector ranges: the last sector works, anything past it not. */
	assert_int_equal(simple(d, VIRTIO_BLK_T_IN, CAPACITY - 1, alloc(d, 512), 512, W, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 513);
	assert_int_equal(simple(d, VIRTIO_BLK_T_IN, CAPACITY, alloc(d, 512), 512, W, &len),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, CAPACITY - 1, data, 1024, R, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_true(file_all(d, (CAPACITY - 1) * 512, 0xaa, 512));
	/* sector + length and sector * 512 overflow. */
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, UINT64_MAX, data, 512, R, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, data, 1024, R, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, 1ULL << 55, data, 512, R, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple(d, VIRTIO_BLK_T_IN, (1ULL << 55) + 1, alloc(d, 512), 512, W, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_true(file_all(d, 0, 0xaa, 4096));

	/* Lengths that are not whole sectors. */
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, 0, data, 700, R, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple(d, VIRTIO_BLK_T_IN, 0, alloc(d, 100), 100, W, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_true(file_all(d, 0, 0xaa, 1024));

	/* Data in the wrong direction. */
	assert_int_equal(simple(d, VIRTIO_BLK_T_IN, 0, data, 512, R, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(d->g.buf[data], (uint8_t)9); /* not overwritten */
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, 0, data, 512, W, NULL), VIRTIO_BLK_S_IOERR);
	assert_true(file_all(d, 0, 0xaa, 512));
	/* A write with readable and writable data. */
	st = status_byte(d);
	struct fake_buf mixed[4] = { { header(d, VIRTIO_BLK_T_OUT, 0), 16, R },
				     { data, 512, R },
				     { data + 512, 512, W },
				     { st, 1, W } };
	assert_int_equal(request(d, mixed, 4), 1);
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_IOERR);
	assert_true(file_all(d, 0, 0xaa, 1024));

	/* Unknown or unsupported types. */
	assert_int_equal(simple(d, 99, 0, alloc(d, 512), 512, W, &len), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(len, 1);
	assert_int_equal(simple(d, 10 /* GET_LIFETIME */, 0, alloc(d, 8), 8, W, NULL),
			 VIRTIO_BLK_S_UNSUPP);

	/* None of that broke the device. */
	assert_false(d->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, 0, data, 512, R, NULL), VIRTIO_BLK_S_OK);
	assert_false(file_all(d, 0, 0xaa, 512));
}

static void test_read_only(void **state)
{
	struct drv *d = *state;
	uint64_t data = pattern(d, 512, 1), sec = 0, segs;
	uint32_t num = 1, flags = 0;

	virtio_blk_destroy(d->blk);
	create(d, true);
	assert_true(d->vdev->device_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(d->vdev->device_features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(d->vdev->device_features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));

	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, 0, data, 512, R, NULL), VIRTIO_BLK_S_IOERR);
	segs = segments(d, 1, &sec, &num, &flags);
	assert_int_equal(simple(d, VIRTIO_BLK_T_DISCARD, 0, segs, 16, R, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(simple(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, segs, 16, R, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_true(file_all(d, 0, 0xaa, 512));
	data = alloc(d, 512);
	assert_int_equal(simple(d, VIRTIO_BLK_T_IN, 0, data, 512, W, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(d->g.buf[data], 0xaa);
	assert_int_equal(simple(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, W, NULL), VIRTIO_BLK_S_OK);
}

static void expect_broken_then_reset(struct drv *d)
{
	uint64_t data = pattern(d, 512, 5);
	uint16_t before;

	assert_true(d->vdev->status & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(d->irq.config, 1);
	/* The device ignores the queue until reset. */
	before = used_idx(d, 0);
	uint64_t st = status_byte(d);
	struct fake_buf ok[3] = { { header(d, VIRTIO_BLK_T_OUT, 0), 16, R },
				  { data, 512, R },
				  { st, 1, W } };
	fake_vq_post(&d->vq[0], ok, 3);
	kick(d, 0);
	event_loop_run_once(&d->loop, 20);
	assert_int_equal(used_idx(d, 0), before);
	assert_true(file_all(d, 0, 0xaa, 512));

	d->vdev->ops->reset(d->vdev);
	for (unsigned int q = 0; q < NR_QUEUES; q++)
		virtq_reset(&d->vdev->vqs[q]);
	d->vdev->status = 0;
	init_queues(d);
	assert_int_equal(simple(d, VIRTIO_BLK_T_OUT, 0, data, 512, R, NULL), VIRTIO_BLK_S_OK);
	assert_false(file_all(d, 0, 0xaa, 512));
}

static void test_bad_head(void **state)
{
	struct drv *d = *state;

	/* An avail entry naming descriptor 300 of 256 (behind the driver's count). */
	fake_vq_put_avail(&d->vq[0], 0, 300);
	fake_vq_put_avail_idx(&d->vq[0], 1);
	kick(d, 0);
	assert_int_equal(used_idx(d, 0), 0);
	expect_broken_then_reset(d);
}

static void test_descriptor_loop(void **state)
{
	struct drv *d = *state;
	fake_vq_put_desc(&d->vq[0], 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
	fake_vq_put_avail(&d->vq[0], 0, 0);
	fake_vq_put_avail_idx(&d->vq[0], 1);
	kick(d, 0);
	assert_int_equal(used_idx(d, 0), 0);
	expect_broken_then_reset(d);
}

/* Many requests, one kick: one interrupt per completion batch. */
static void test_batch(void **state)
{
	struct drv *d = *state;
	uint64_t data = pattern(d, 8 * 512, 7), st[8];
	uint16_t heads[8], seen = 0;
	uint8_t check[8 * 512];

	for (int i = 0; i < 8; i++) {
		st[i] = status_byte(d);
		struct fake_buf b[3] = { { header(d, VIRTIO_BLK_T_OUT, 64 + (uint64_t)i), 16, R },
					 { data + 512 * (uint64_t)i, 512, R },
					 { st[i], 1, W } };
		heads[i] = fake_vq_post(&d->vq[0], b, 3);
	}
	kick(d, 0);
	wait_used(d, 0, 8);
	for (int i = 0; i < 8; i++) {
		uint16_t head;

		assert_int_equal(fake_vq_next_used(&d->vq[0], &head), 1);
		for (int j = 0; j < 8; j++) {
			if (heads[j] == head)
				seen |= (uint16_t)(1u << j);
		}
		assert_int_equal(d->g.buf[st[i]], VIRTIO_BLK_S_OK);
	}
	assert_int_equal(seen, 0xff);
	if (d->aio == BLOCK_AIO_SYNC)
		assert_int_equal(d->irq.queue[0], 1);
	else
		assert_true(d->irq.queue[0] >= 1 && d->irq.queue[0] <= 8);
	file_read(d, 64 * 512, check, sizeof(check));
	assert_memory_equal(check, d->g.buf + data, sizeof(check));
}

static void test_second_queue(void **state)
{
	struct drv *d = *state;
	uint64_t in = alloc(d, 512), st = status_byte(d);
	struct fake_buf b[3] = { { header(d, VIRTIO_BLK_T_IN, 5), 16, R },
				 { in, 512, W },
				 { st, 1, W } };
	uint16_t head = fake_vq_post(&d->vq[1], b, 3), used_head;

	kick(d, 1);
	wait_used(d, 1, 1);
	assert_int_equal(fake_vq_next_used(&d->vq[1], &used_head), 513);
	assert_int_equal(used_head, head);
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_OK);
	assert_int_equal(d->g.buf[in], 0xaa);
	assert_int_equal(d->irq.queue[1], 1);
	assert_int_equal(d->irq.queue[0], 0);
	assert_int_equal(used_idx(d, 0), 0);
}

/*
 * A driver may make a head available again while it is in flight: beyond
 * one queue's worth of requests the device waits for completions, then goes
 * on by itself (the driver does not kick again).
 */
static void test_more_requests_than_slots(void **state)
{
	struct drv *d = *state;
	uint64_t in = alloc(d, 512), st = status_byte(d);
	struct fake_buf b[3] = { { header(d, VIRTIO_BLK_T_IN, 1), 16, R },
				 { in, 512, W },
				 { st, 1, W } };
	struct fake_vq *vq = &d->vq[0];
	uint16_t head = fake_vq_post(vq, b, 3);

	for (int i = 1; i < QSIZE; i++)
		fake_vq_put_avail(vq, vq->avail_idx++, head);
	fake_vq_set_avail_idx(vq, vq->avail_idx);
	kick(d, 0);
	for (int i = 0; i < 44; i++)
		fake_vq_put_avail(vq, vq->avail_idx++, head);
	fake_vq_set_avail_idx(vq, vq->avail_idx);
	if (d->aio == BLOCK_AIO_SYNC)
		kick(d, 0);
	wait_used(d, 0, QSIZE + 44);
	for (int i = 0; i < QSIZE + 44; i++) {
		uint16_t used_head;

		assert_int_equal(fake_vq_next_used(&d->vq[0], &used_head), 513);
		assert_int_equal(used_head, head);
	}
	assert_int_equal(d->g.buf[st], VIRTIO_BLK_S_OK);
	assert_int_equal(d->g.buf[in], 0xaa);
}

/* Reset waits for I/O in flight and uses none of it. */
static void test_reset_in_flight(void **state)
{
	struct drv *d = *state;
	uint64_t in[4], st[4];

	for (int i = 0; i < 4; i++) {
		in[i] = alloc(d, 4096);
		st[i] = status_byte(d);
		struct fake_buf b[3] = { { header(d, VIRTIO_BLK_T_IN, 8 * (uint64_t)i), 16, R },
					 { in[i], 4096, W },
					 { st[i], 1, W } };
		fake_vq_post(&d->vq[0], b, 3);
	}
	kick(d, 0);
	if (d->aio == BLOCK_AIO_SYNC) {
		assert_int_equal(used_idx(d, 0), 4);
		return;
	}
	assert_int_equal(used_idx(d, 0), 0);
	d->vdev->ops->reset(d->vdev);
	assert_int_equal(used_idx(d, 0), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(d->g.buf[st[i]], 0xee);
	/* The reads did finish (the kernel is done with guest memory). */
	assert_int_equal(d->g.buf[in[3]], 0xaa);
	for (unsigned int q = 0; q < NR_QUEUES; q++)
		virtq_reset(&d->vdev->vqs[q]);
	event_loop_run_once(&d->loop, 20);
	assert_int_equal(used_idx(d, 0), 0);
	assert_int_equal(d->irq.queue[0], 0);
}

static void test_create_errors(void **state)
{
	struct drv *d = *state;
	struct virtio_blk_opts o = { .path = d->path, .aio = d->aio };
	struct error err = { 0 };
	struct virtio_blk *blk;

	/* The fixture's device holds the write lock. */
	assert_int_equal(virtio_blk_create(&blk, &o, 1, &d->g.mem, &d->loop, &err), -EBUSY);
	assert_non_null(strstr(err.msg, d->path));
	assert_non_null(strstr(err.msg, "locked by another process"));
	o.serial = "012345678901234567890";
	assert_int_equal(virtio_blk_create(&blk, &o, 1, &d->g.mem, &d->loop, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "serial"));
	o.serial = NULL;
	assert_int_equal(virtio_blk_create(&blk, &o, 0, &d->g.mem, &d->loop, &err), -EINVAL);
	o.path = "/nonexistent/disk.img";
	assert_int_equal(virtio_blk_create(&blk, &o, 1, &d->g.mem, &d->loop, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "disk /nonexistent/disk.img: "));
}

#define BOTH(name)                                                                          \
	cmocka_unit_test_prestate_setup_teardown(name, setup, teardown, (void *)&aio_sync), \
		cmocka_unit_test_prestate_setup_teardown(name, setup, teardown,             \
							 (void *)&aio_uring)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_config),
		BOTH(test_write_read),
		BOTH(test_flush),
		BOTH(test_flush_sector_ignored),
		BOTH(test_get_id),
		BOTH(test_discard_write_zeroes),
		BOTH(test_hostile),
		BOTH(test_read_only),
		BOTH(test_bad_head),
		BOTH(test_descriptor_loop),
		BOTH(test_batch),
		BOTH(test_second_queue),
		BOTH(test_more_requests_than_slots),
		BOTH(test_reset_in_flight),
		BOTH(test_create_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
