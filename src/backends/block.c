// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "backends/block.h"
#include "iov.h"

#define BLOCK_DEFAULT_DEPTH 256
#define BLOCK_MAX_RING 4096
#define ZERO_CHUNK (1024 * 1024)
/* Bounce buffers (O_DIRECT with misaligned guest buffers) live at most this
 * many bytes at once per disk; beyond it requests go through one chunk. */
#define BOUNCE_LIMIT (16 * 1024 * 1024)
#define BOUNCE_CHUNK (1024 * 1024)
/* Submission attempts with nothing in the kernel before failing requests. */
#define SUBMIT_TRIES 3

struct block_dev {
	int fd;
	bool ro;
	bool direct;
	bool is_blkdev;
	uint64_t size; /* bytes reachable: sectors * 512 */
	uint32_t align; /* O_DIRECT alignment of buffers, lengths and offsets */
	enum block_aio aio;
	unsigned int depth; /* requests in flight at most */
	unsigned int inflight; /* submitted, not finished */
	unsigned int in_kernel; /* io_uring: taken by the kernel, not reaped */
	uint64_t bounce_bytes; /* in live bounce buffers */
	uint64_t bounce_limit;
	void *chunk; /* BOUNCE_CHUNK bytes (or bounce_limit if less), on first use */

	struct io_uring ring;
	int efd;
	struct event_loop *loop;
	struct event_source src;
	bool src_added;

	void (*batch_done)(void *opaque);
	void *batch_opaque;
};

static bool iov_aligned(const struct iovec *iov, unsigned int nr, uint32_t align)
{
	/* An empty entry transfers nothing, wherever it points. */
	for (unsigned int i = 0; i < nr; i++) {
		if (iov[i].iov_len && ((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1))
			return false;
	}
	return true;
}

static void finish(struct block_dev *bd, struct block_req *req, int ret)
{
	if (req->bounce) {
		if (!ret && req->op == BLOCK_OP_READ)
			iov_from_buf(req->user_iov, req->user_nr_iov, 0, req->bounce, req->len);
		free(req->bounce);
		req->bounce = NULL;
		bd->bounce_bytes -= req->len;
	}
	bd->inflight--;
	req->done(req, ret);
}

/* Account a transfer of @n bytes; true when the request is complete. */
static bool transferred(struct block_req *req, uint64_t n)
{
	req->remaining -= n;
	if (req->remaining) {
		iov_advance(&req->iov, &req->nr_iov, n);
		req->offset += n;
	}
	return !req->remaining;
}

static int run_sync(struct block_dev *bd, struct block_req *req)
{
	ssize_t n;

	if (req->op == BLOCK_OP_FLUSH)
		return fdatasync(bd->fd) ? -errno : 0;
	while (req->remaining) {
		if (req->op == BLOCK_OP_READ)
			n = preadv(bd->fd, req->iov, (int)req->nr_iov, (off_t)req->offset);
		else
			n = pwritev(bd->fd, req->iov, (int)req->nr_iov, (off_t)req->offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the image shrank under us */
		transferred(req, (uint64_t)n);
	}
	return 0;
}

/*
 * A misaligned O_DIRECT request that would take the disk's bounce buffers
 * past their limit: copied through one fixed chunk, synchronously. Slower,
 * but what a guest keeps in flight no longer decides how much host memory
 * kvmini allocates.
 */
static int run_sync_chunked(struct block_dev *bd, struct block_req *req)
{
	uint64_t chunk_size = bd->bounce_limit < BOUNCE_CHUNK ? bd->bounce_limit : BOUNCE_CHUNK;
	uint64_t done = 0;
	ssize_t n;

	if (!bd->chunk) {
		bd->chunk = aligned_alloc(bd->align, chunk_size);
		if (!bd->chunk)
			return -ENOMEM;
	}
	while (done < req->len) {
		size_t len = (size_t)(req->len - done < chunk_size ? req->len - done : chunk_size);

		if (req->op == BLOCK_OP_WRITE) {
			iov_to_buf(req->iov, req->nr_iov, done, bd->chunk, len);
			n = pwrite(bd->fd, bd->chunk, len, (off_t)(req->offset + done));
		} else {
			n = pread(bd->fd, bd->chunk, len, (off_t)(req->offset + done));
			if (n > 0)
				iov_from_buf(req->iov, req->nr_iov, done, bd->chunk, (size_t)n);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the image shrank under us */
		done += (uint64_t)n;
	}
	return 0;
}

/* Hand queued entries to the kernel: the number it took or a negative errno. */
static int flush_queued(struct block_dev *bd)
{
	int ret = io_uring_submit(&bd->ring);

	if (ret > 0)
		bd->in_kernel += (unsigned int)ret;
	return ret;
}

static struct io_uring_sqe *get_sqe(struct block_dev *bd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&bd->ring);

	if (!sqe) {
		flush_queued(bd);
		sqe = io_uring_get_sqe(&bd->ring);
	}
	return sqe;
}

static int queue_uring(struct block_dev *bd, struct block_req *req)
{
	struct io_uring_sqe *sqe = get_sqe(bd);

	if (!sqe)
		return -EBUSY;
	switch (req->op) {
	case BLOCK_OP_READ:
		io_uring_prep_readv(sqe, bd->fd, req->iov, req->nr_iov, req->offset);
		break;
	case BLOCK_OP_WRITE:
		io_uring_prep_writev(sqe, bd->fd, req->iov, req->nr_iov, req->offset);
		break;
	case BLOCK_OP_FLUSH:
		io_uring_prep_fsync(sqe, bd->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, req);
	return 0;
}

void block_submit(struct block_dev *bd, struct block_req *req)
{
	bool rw = req->op != BLOCK_OP_FLUSH;
	uint64_t len = rw ? iov_total(req->iov, req->nr_iov) : 0;
	int ret;

	bd->inflight++;
	req->bounce = NULL;
	req->len = req->remaining = len;
	/* The completion queue has room for this many and no more. */
	if (bd->aio == BLOCK_AIO_IO_URING && bd->inflight > bd->depth) {
		finish(bd, req, -EBUSY);
		return;
	}
	if (req->op == BLOCK_OP_WRITE && bd->ro) {
		finish(bd, req, -EROFS);
		return;
	}
	if (!rw)
		goto run; /* a flush covers the whole disk: no range */
	if (req->nr_iov > IOV_MAX || req->offset > bd->size || len > bd->size - req->offset) {
		finish(bd, req, -EINVAL);
		return;
	}
	if (!len) {
		finish(bd, req, 0);
		return;
	}
	iov_advance(&req->iov, &req->nr_iov, 0);
	if (bd->direct && !iov_aligned(req->iov, req->nr_iov, bd->align)) {
		/* A bounce buffer fixes addresses, not the file range. */
		if ((req->offset | len) & (bd->align - 1)) {
			finish(bd, req, -EINVAL);
			return;
		}
		if (len > bd->bounce_limit - bd->bounce_bytes) {
			finish(bd, req, run_sync_chunked(bd, req));
			return;
		}
		req->bounce = aligned_alloc(bd->align, len);
		if (!req->bounce) {
			finish(bd, req, -ENOMEM);
			return;
		}
		bd->bounce_bytes += len;
		if (req->op == BLOCK_OP_WRITE)
			iov_to_buf(req->iov, req->nr_iov, 0, req->bounce, len);
		req->user_iov = req->iov;
		req->user_nr_iov = req->nr_iov;
		req->bounce_iov = (struct iovec){ req->bounce, len };
		req->iov = &req->bounce_iov;
		req->nr_iov = 1;
	}
run:
	if (bd->aio == BLOCK_AIO_SYNC) {
		finish(bd, req, run_sync(bd, req));
		return;
	}
	ret = queue_uring(bd, req);
	if (ret)
		finish(bd, req, ret);
}

/*
 * The kernel refuses queued entries and holds nothing whose completion
 * would submit them again: take them back out of the submission ring (the
 * kernel reads its tail only inside io_uring_enter(), as there is no
 * SQPOLL) and fail their requests rather than leave them waiting forever.
 */
static void fail_queued(struct block_dev *bd, int err)
{
	struct io_uring_sq *sq = &bd->ring.sq;
	unsigned int head = io_uring_smp_load_acquire(sq->khead);
	struct block_req *failed = NULL, *req;

	/* Collected first: done callbacks may queue new entries in these slots. */
	for (unsigned int i = head; i != sq->sqe_tail; i++) {
		req = (struct block_req *)(uintptr_t)sq->sqes[i & sq->ring_mask].user_data;
		req->next_failed = failed;
		failed = req;
	}
	sq->sqe_head = sq->sqe_tail = head;
	io_uring_smp_store_release(sq->ktail, head);
	while ((req = failed)) {
		failed = req->next_failed;
		finish(bd, req, err);
	}
}

void block_submit_batch(struct block_dev *bd)
{
	int tries = 0;

	if (bd->aio != BLOCK_AIO_IO_URING)
		return;
	while (io_uring_sq_ready(&bd->ring)) {
		int ret = flush_queued(bd);

		if (ret > 0)
			continue;
		/* -EAGAIN, -EBUSY: the kernel is short of something. Each
		 * completion to come submits again. */
		if (bd->in_kernel)
			return;
		if (++tries >= SUBMIT_TRIES) {
			fail_queued(bd, ret < 0 ? ret : -EIO);
			return;
		}
	}
}

static void complete_cqe(struct block_dev *bd, struct io_uring_cqe *cqe)
{
	struct block_req *req = io_uring_cqe_get_data(cqe);
	int res = cqe->res;
	int ret;

	io_uring_cqe_seen(&bd->ring, cqe);
	bd->in_kernel--;
	if (res == -EAGAIN || res == -EINTR) {
		ret = queue_uring(bd, req);
		if (ret)
			finish(bd, req, ret);
		return;
	}
	if (res < 0) {
		finish(bd, req, res);
		return;
	}
	if (req->op == BLOCK_OP_FLUSH) {
		finish(bd, req, 0);
		return;
	}
	if (res == 0) {
		finish(bd, req, -EIO);
		return;
	}
	if (transferred(req, (uint64_t)res)) {
		finish(bd, req, 0);
		return;
	}
	ret = queue_uring(bd, req);
	if (ret)
		finish(bd, req, ret);
}

static void reap(struct block_dev *bd)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&bd->ring, &cqe) == 0)
		complete_cqe(bd, cqe);
	block_submit_batch(bd);
}

static void uring_event(void *opaque, uint32_t events)
{
	struct block_dev *bd = opaque;
	uint64_t v;

	if (read(bd->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	reap(bd);
	if (bd->batch_done)
		bd->batch_done(bd->batch_opaque);
}

void block_drain(struct block_dev *bd)
{
	struct io_uring_cqe *cqe;

	if (bd->aio != BLOCK_AIO_IO_URING)
		return;
	block_submit_batch(bd);
	/* Whatever is in flight is in the kernel once the batch went out. */
	while (bd->inflight && bd->in_kernel) {
		int ret = io_uring_wait_cqe(&bd->ring, &cqe);

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break; /* the ring is unusable: nothing more will complete */
		complete_cqe(bd, cqe);
		block_submit_batch(bd);
	}
}

static int write_zeroes_by_hand(struct block_dev *bd, uint64_t offset, uint64_t len)
{
	size_t chunk = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
	uint8_t *zeroes =
		aligned_alloc(bd->align, (chunk + bd->align - 1) & ~(size_t)(bd->align - 1));
	int ret = 0;

	if (!zeroes)
		return -ENOMEM;
	memset(zeroes, 0, chunk);
	while (len) {
		size_t n = len < chunk ? (size_t)len : chunk;
		ssize_t w = pwrite(bd->fd, zeroes, n, (off_t)offset);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			break;
		}
		offset += (uint64_t)w;
		len -= (uint64_t)w;
	}
	free(zeroes);
	return ret;
}

static int check_range(struct block_dev *bd, uint64_t offset, uint64_t len)
{
	if (bd->ro)
		return -EROFS;
	if (offset > bd->size || len > bd->size - offset)
		return -EINVAL;
	return 0;
}

static bool unsupported(int e)
{
	return e == EOPNOTSUPP || e == ENOTTY || e == ENOSYS;
}

int block_discard(struct block_dev *bd, uint64_t offset, uint64_t len)
{
	int ret = check_range(bd, offset, len);

	if (ret || !len)
		return ret;
	if (bd->is_blkdev) {
		uint64_t range[2] = { offset, len };

		ret = ioctl(bd->fd, BLKDISCARD, range) ? -errno : 0;
	} else {
		ret = fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
				(off_t)len)
			      ? -errno
			      : 0;
	}
	/* Discarding is only a hint to the device. */
	return ret && unsupported(-ret) ? 0 : ret;
}

int block_write_zeroes(struct block_dev *bd, uint64_t offset, uint64_t len, bool may_unmap)
{
	int ret = check_range(bd, offset, len);

	if (ret || !len)
		return ret;
	if (bd->is_blkdev) {
		uint64_t range[2] = { offset, len };

		if (!ioctl(bd->fd, BLKZEROOUT, range))
			return 0;
		if (!unsupported(errno))
			return -errno;
		return write_zeroes_by_hand(bd, offset, len);
	}
	if (!fallocate(bd->fd,
		       (may_unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
			       FALLOC_FL_KEEP_SIZE,
		       (off_t)offset, (off_t)len))
		return 0;
	if (!unsupported(errno))
		return -errno;
	/* tmpfs and others: a hole reads as zeroes too. */
	if (!may_unmap && !fallocate(bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     (off_t)offset, (off_t)len))
		return 0;
	return write_zeroes_by_hand(bd, offset, len);
}

static bool memory_backed(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

/* The smallest length O_DIRECT accepts, probed by reading the first block. */
static uint32_t probe_direct_alignment(int fd)
{
	uint8_t *buf = aligned_alloc(4096, 4096);
	uint32_t align = 4096;

	if (!buf)
		return 4096;
	for (uint32_t a = 512; a <= 4096; a *= 2) {
		if (pread(fd, buf, a, 0) >= 0) {
			align = a;
			break;
		}
		if (errno != EINVAL)
			break;
	}
	free(buf);
	return align;
}

static int setup_uring(struct block_dev *bd)
{
	/* Room for every completion at once: one that overflows the queue
	 * needs memory the kernel may not find, and is lost without it. */
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE };
	unsigned int entries = 1;
	int ret;

	while (entries < bd->depth && entries < BLOCK_MAX_RING)
		entries *= 2;
	p.cq_entries = 2 * entries;
	while (p.cq_entries < bd->depth)
		p.cq_entries *= 2;
	ret = io_uring_queue_init_params(entries, &bd->ring, &p);
	if (ret)
		return ret;
	bd->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bd->efd < 0) {
		ret = -errno;
		goto err_ring;
	}
	ret = io_uring_register_eventfd(&bd->ring, bd->efd);
	if (ret)
		goto err_efd;
	bd->src = (struct event_source){ bd->efd, uring_event, bd };
	ret = event_loop_add(bd->loop, &bd->src, EPOLLIN);
	if (ret)
		goto err_efd;
	bd->src_added = true;
	return 0;
err_efd:
	close(bd->efd);
	bd->efd = -1;
err_ring:
	io_uring_queue_exit(&bd->ring);
	return ret;
}

int block_open(struct block_dev **out, const struct block_opts *o, struct event_loop *loop,
	       struct error *err)
{
	struct flock lock = { .l_whence = SEEK_SET };
	struct block_dev *bd;
	struct stat st;
	int flags, ret;

	*out = NULL;
	if (!o->path || !*o->path)
		return error_set(err, -EINVAL, "disk: empty path");
	bd = calloc(1, sizeof(*bd));
	if (!bd)
		return error_set(err, -ENOMEM, "disk %s: out of memory", o->path);
	bd->efd = -1;
	bd->ro = o->ro;
	bd->direct = o->cache == BLOCK_CACHE_NONE;
	bd->loop = loop;
	bd->align = BLOCK_SECTOR_SIZE;
	bd->depth = o->queue_depth ? o->queue_depth : BLOCK_DEFAULT_DEPTH;
	bd->bounce_limit = o->bounce_limit ? o->bounce_limit : BOUNCE_LIMIT;
	flags = (o->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | (bd->direct ? O_DIRECT : 0);
	bd->fd = open(o->path, flags);
	if (bd->fd < 0) {
		ret = -errno;
		if (ret == -EINVAL && bd->direct)
			error_set(err, ret,
				  "disk %s: cache=none: the filesystem does not support O_DIRECT",
				  o->path);
		else
			error_set(err, ret, "disk %s: %s", o->path, strerror(-ret));
		free(bd);
		return ret;
	}
	if (fstat(bd->fd, &st)) {
		ret = error_set(err, -errno, "disk %s: fstat: %s", o->path, strerror(errno));
		goto err_close;
	}
	if (S_ISBLK(st.st_mode)) {
		int lbs = 0;

		bd->is_blkdev = true;
		if (ioctl(bd->fd, BLKGETSIZE64, &bd->size)) {
			ret = error_set(err, -errno, "disk %s: BLKGETSIZE64: %s", o->path,
					strerror(errno));
			goto err_close;
		}
		if (!ioctl(bd->fd, BLKSSZGET, &lbs) && lbs >= BLOCK_SECTOR_SIZE && lbs <= 65536 &&
		    !(lbs & (lbs - 1)))
			bd->align = (uint32_t)lbs;
	} else if (S_ISREG(st.st_mode)) {
		bd->size = (uint64_t)st.st_size;
		if (bd->direct)
			bd->align = probe_direct_alignment(bd->fd);
	} else {
		ret = error_set(err, -EINVAL, "disk %s: not a regular file or block device",
				o->path);
		goto err_close;
	}
	bd->size &= ~(uint64_t)(BLOCK_SECTOR_SIZE - 1);

	/* One writer, or any number of readers, per image. */
	lock.l_type = o->ro ? F_RDLCK : F_WRLCK;
	if (fcntl(bd->fd, F_OFD_SETLK, &lock)) {
		if (errno == EAGAIN || errno == EACCES) {
			ret = error_set(err, -EBUSY, "disk %s: locked by another process", o->path);
			goto err_close;
		}
		/* Filesystems without locks (some network ones): go on unlocked. */
	}

	bd->aio = o->aio == BLOCK_AIO_AUTO
			  ? (memory_backed(bd->fd) ? BLOCK_AIO_SYNC : BLOCK_AIO_IO_URING)
			  : o->aio;
	if (bd->aio == BLOCK_AIO_IO_URING && (!loop || setup_uring(bd)))
		bd->aio = BLOCK_AIO_SYNC; /* ENOSYS, EPERM (io_uring_disabled)... */
	*out = bd;
	return 0;
err_close:
	close(bd->fd);
	free(bd);
	return ret;
}

void block_close(struct block_dev *bd)
{
	if (!bd)
		return;
	block_drain(bd);
	if (bd->aio == BLOCK_AIO_IO_URING) {
		if (bd->src_added)
			event_loop_del(bd->loop, &bd->src);
		io_uring_queue_exit(&bd->ring);
		close(bd->efd);
	}
	close(bd->fd);
	free(bd->chunk);
	free(bd);
}

void block_set_batch_done(struct block_dev *bd, void (*fn)(void *opaque), void *opaque)
{
	bd->batch_done = fn;
	bd->batch_opaque = opaque;
}

uint64_t block_sectors(const struct block_dev *bd)
{
	return bd->size / BLOCK_SECTOR_SIZE;
}

uint32_t block_alignment(const struct block_dev *bd)
{
	return bd->align;
}

bool block_read_only(const struct block_dev *bd)
{
	return bd->ro;
}

enum block_aio block_aio_mode(const struct block_dev *bd)
{
	return bd->aio;
}

uint64_t block_bounce_bytes(const struct block_dev *bd)
{
	return bd->bounce_bytes;
}

unsigned int block_inflight(const struct block_dev *bd)
{
	return bd->inflight;
}
