/* SPDX-License-Identifier: MIT */
/*
 * A disk image backend: a raw image file or a host block device, read and
 * written at byte offsets in 512-byte units. Requests are queued with
 * block_submit() and sent to the kernel together by block_submit_batch();
 * with io_uring they complete later on the event loop, with the sync backend
 * they complete inside block_submit(). Everything runs on one thread (the
 * device's event loop).
 */
#ifndef KVMINI_BACKENDS_BLOCK_H
#define KVMINI_BACKENDS_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "err.h"
#include "event_loop.h"

#define BLOCK_SECTOR_SIZE 512

enum block_cache {
	BLOCK_CACHE_WRITEBACK, /* host page cache */
	BLOCK_CACHE_NONE, /* O_DIRECT */
};

enum block_aio {
	/* io_uring, except for memory-backed files (tmpfs, ramfs): there every
	 * request is a memory copy that never blocks, and io_uring would hand
	 * each one to a worker thread (tmpfs has no non-blocking reads on the
	 * kernels we run on), so they are served inline like BLOCK_AIO_SYNC. */
	BLOCK_AIO_AUTO,
	BLOCK_AIO_IO_URING,
	BLOCK_AIO_SYNC, /* preadv/pwritev inline on the calling thread */
};

struct block_opts {
	const char *path;
	bool ro;
	enum block_cache cache;
	enum block_aio aio;
	unsigned int queue_depth; /* requests in flight at most; 0: 256 */
	uint64_t bounce_limit; /* bytes of O_DIRECT bounce buffers at once (a
				 * multiple of 4096); 0: 16 MiB */
};

enum block_op {
	BLOCK_OP_READ,
	BLOCK_OP_WRITE,
	BLOCK_OP_FLUSH, /* fdatasync */
};

struct block_req {
	/* Filled by the caller. The backend may modify iov[] (it advances
	 * through it on short transfers). A flush uses none of offset, iov
	 * and nr_iov. */
	enum block_op op;
	uint64_t offset; /* bytes */
	struct iovec *iov;
	unsigned int nr_iov; /* at most IOV_MAX */
	/* 0 or a negative errno; called once per submitted request. */
	void (*done)(struct block_req *req, int ret);

	/* Backend state. */
	uint64_t len; /* bytes to transfer in all */
	uint64_t remaining;
	void *bounce; /* aligned copy of the data for O_DIRECT */
	struct iovec bounce_iov;
	const struct iovec *user_iov; /* where bounced read data goes */
	unsigned int user_nr_iov;
	struct block_req *next_failed;
};

struct block_dev;

/*
 * Open the image and take an OFD lock on it (shared when read-only). @loop
 * receives io_uring completions; it may be NULL with BLOCK_AIO_SYNC. When
 * io_uring cannot be set up the backend falls back to sync silently (see
 * block_aio_mode()). Errors name the path and what failed.
 */
int block_open(struct block_dev **out, const struct block_opts *o, struct event_loop *loop,
	       struct error *err);

/* Waits for in-flight requests (their done callbacks run), then closes. */
void block_close(struct block_dev *bd);

/* Called after a round of io_uring completions has been delivered. */
void block_set_batch_done(struct block_dev *bd, void (*fn)(void *opaque), void *opaque);

uint64_t block_sectors(const struct block_dev *bd); /* size / 512, rounded down */
uint32_t block_alignment(const struct block_dev *bd); /* logical block size */
bool block_read_only(const struct block_dev *bd);
enum block_aio block_aio_mode(const struct block_dev *bd);
unsigned int block_inflight(const struct block_dev *bd);
uint64_t block_bounce_bytes(const struct block_dev *bd); /* now in bounce buffers */

/*
 * Queue @req. Errors (more than queue_depth requests in flight, write on a
 * read-only disk, a range beyond the disk, O_DIRECT misalignment that a
 * bounce buffer cannot fix, no memory) and all sync-mode requests complete
 * before this returns.
 */
void block_submit(struct block_dev *bd, struct block_req *req);

/*
 * Send everything queued since the last call to the kernel at once. When the
 * kernel refuses them and holds no other request, they complete with its
 * error before this returns; otherwise the next completion retries.
 */
void block_submit_batch(struct block_dev *bd);

/* Wait until no request is in flight, delivering every completion. */
void block_drain(struct block_dev *bd);

/*
 * Synchronous: deallocate [offset, offset + len) (a no-op where the host
 * cannot), or make it read as zeroes (deallocating it when @may_unmap).
 * 0 or a negative errno.
 */
int block_discard(struct block_dev *bd, uint64_t offset, uint64_t len);
int block_write_zeroes(struct block_dev *bd, uint64_t offset, uint64_t len, bool may_unmap);

#endif
