// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "virtio/blk.h"

#define BLK_HDR_SIZE 16
#define BLK_SEG_SIZE 16
/* The data segments plus header and status, as seg_max promises. */
#define BLK_MAX_IOV (VIRTIO_BLK_SEG_MAX + 2)
/* Requests in flight per queue. A driver may make a head available again
 * before it was used; beyond this the queue waits for completions. */
#define BLK_MAX_INFLIGHT VIRTIO_BLK_QUEUE_SIZE
#define BLK_MAX_DISCARD_SECTORS (1u << 22)
#define BLK_MAX_DISCARD_SEG 32
/* Write zeroes may fall back to writing: keep one request short. */
#define BLK_MAX_WZ_SECTORS (1u << 18)
#define BLK_MAX_WZ_SEG 8
#define BLK_MAX_QUEUES 64

/* A discard or write zeroes segment, in host order. */
struct blk_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct blk_queue;

struct blk_req {
	struct block_req io;
	struct blk_queue *q;
	uint8_t *status; /* the last byte of the last writable buffer, or NULL */
	uint32_t used_len; /* reported on success */
	uint32_t type;
	uint64_t sector;
	struct virtq_elem elem;
	struct blk_req *next_free;
	struct iovec iov[BLK_MAX_IOV];
};

struct blk_queue {
	struct virtio_blk *blk;
	unsigned int idx;
	struct blk_req *free;
	unsigned int allocated;
	bool starved; /* stopped popping for lack of request slots */
	bool need_notify; /* pushed since the last notify */
};

/*
 * vdev.running is false from a failure (a bad ring) or the start of a reset
 * until the next start: then completions only free their requests and the
 * rings are left alone.
 */
struct virtio_blk {
	struct virtio_dev vdev;
	struct block_dev *bd;
	struct blk_queue *queues;
	unsigned int nr_queues;
	uint64_t capacity; /* sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
	char name[80];
};

static bool running(struct virtio_blk *blk)
{
	return atomic_load(&blk->vdev.running);
}

static struct blk_req *alloc_req(struct blk_queue *q)
{
	struct blk_req *r = malloc(sizeof(*r));

	if (!r)
		return NULL;
	r->q = q;
	r->elem.iov = r->iov;
	r->elem.max_iov = BLK_MAX_IOV;
	q->allocated++;
	return r;
}

static void put_req(struct blk_queue *q, struct blk_req *r)
{
	r->next_free = q->free;
	q->free = r;
}

/*
 * NULL only when every request of the queue is in flight: each queue has at
 * least one from its creation, so a completion will come and resume it.
 */
static struct blk_req *get_req(struct blk_queue *q)
{
	struct blk_req *r = q->free;

	if (r) {
		q->free = r->next_free;
		return r;
	}
	if (q->allocated >= BLK_MAX_INFLIGHT)
		return NULL;
	return alloc_req(q);
}

static void flush_notify(struct blk_queue *q)
{
	if (q->need_notify) {
		q->need_notify = false;
		virtio_dev_notify_used(&q->blk->vdev, q->idx);
	}
}

/* Without a status byte (r->status NULL) the status is not given. */
static void complete(struct blk_req *r, uint8_t status, uint32_t len)
{
	struct blk_queue *q = r->q;

	if (r->status)
		*r->status = status;
	virtq_push(&q->blk->vdev.vqs[q->idx], r->elem.head, len);
	q->need_notify = true;
	put_req(q, r);
}

/* A request the guest got wrong fails alone; its message is formatted once. */
#define bad_request(r, fmt, ...)                                                             \
	(virtio_dev_warn(&(r)->q->blk->vdev, "queue %u: request type %u: " fmt, (r)->q->idx, \
			 (r)->type, ##__VA_ARGS__),                                          \
	 complete(r, VIRTIO_BLK_S_IOERR, 1))

static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t nr)
{
	return sector <= blk->capacity && nr <= blk->capacity - sector;
}

static void io_done(struct block_req *io, int ret)
{
	struct blk_req *r = (struct blk_req *)((char *)io - offsetof(struct blk_req, io));
	struct virtio_blk *blk = r->q->blk;

	/* The rings are being torn down or cannot be trusted. */
	if (!running(blk)) {
		put_req(r->q, r);
		return;
	}
	if (ret) {
		virtio_dev_warn(&blk->vdev, "%s at sector %llu failed: %s",
				io->op == BLOCK_OP_READ	   ? "read"
				: io->op == BLOCK_OP_WRITE ? "write"
							   : "flush",
				(unsigned long long)r->sector, strerror(-ret));
		complete(r, VIRTIO_BLK_S_IOERR, 1);
		return;
	}
	complete(r, VIRTIO_BLK_S_OK, r->used_len);
}

static void submit(struct virtio_blk *blk, struct blk_req *r, enum block_op op, struct iovec *iov,
		   unsigned int nr, uint32_t used_len)
{
	r->io.op = op;
	/* The sector of a flush means nothing (and may be anything). */
	r->io.offset = op == BLOCK_OP_FLUSH ? 0 : r->sector * BLOCK_SECTOR_SIZE;
	r->io.iov = iov;
	r->io.nr_iov = nr;
	r->io.done = io_done;
	r->used_len = used_len;
	block_submit(blk->bd, &r->io);
}

static void do_rw(struct virtio_blk *blk, struct blk_req *r)
{
	struct virtq_elem *e = &r->elem;
	bool write = r->type == VIRTIO_BLK_T_OUT;
	struct iovec *iov;
	unsigned int nr;
	uint64_t len;

	if (write) {
		if (e->in_len != 1)
			return bad_request(r, "write with %llu writable bytes",
					   (unsigned long long)e->in_len);
		if (block_read_only(blk->bd))
			return bad_request(r, "write to a read-only disk");
		len = e->out_len - BLK_HDR_SIZE;
	} else {
		if (e->out_len != BLK_HDR_SIZE)
			return bad_request(r, "read with %llu readable bytes",
					   (unsigned long long)e->out_len);
		len = e->in_len - 1;
	}
	if (len % BLOCK_SECTOR_SIZE)
		return bad_request(r, "length %llu is not a multiple of 512",
				   (unsigned long long)len);
	if (!range_ok(blk, r->sector, len / BLOCK_SECTOR_SIZE))
		return bad_request(r, "sectors %llu+%llu beyond the capacity %llu",
				   (unsigned long long)r->sector,
				   (unsigned long long)(len / BLOCK_SECTOR_SIZE),
				   (unsigned long long)blk->capacity);
	if (len > UINT32_MAX - 1)
		return bad_request(r, "length %llu too large", (unsigned long long)len);
	if (write) {
		iov = e->iov;
		nr = e->nr_out;
		iov_advance(&iov, &nr, BLK_HDR_SIZE);
		submit(blk, r, BLOCK_OP_WRITE, iov, nr, 1);
		return;
	}
	/* The data is every writable byte but the status byte. virtq_pop()
	 * gives no iovec to an empty buffer, so the last one holds the status;
	 * Linux gives the status a buffer of its own, which must not stay
	 * behind as an empty (and, for O_DIRECT, misaligned) entry. */
	iov = &e->iov[e->nr_out];
	nr = e->nr_in;
	if (!--iov[nr - 1].iov_len)
		nr--;
	submit(blk, r, BLOCK_OP_READ, iov, nr, (uint32_t)len + 1);
}

static void do_get_id(struct virtio_blk *blk, struct blk_req *r)
{
	struct virtq_elem *e = &r->elem;
	uint64_t n = e->in_len - 1;

	if (e->out_len != BLK_HDR_SIZE)
		return bad_request(r, "GET_ID with %llu readable bytes",
				   (unsigned long long)e->out_len);
	if (n > VIRTIO_BLK_ID_BYTES)
		n = VIRTIO_BLK_ID_BYTES;
	iov_from_buf(&e->iov[e->nr_out], e->nr_in, 0, blk->serial, n);
	complete(r, VIRTIO_BLK_S_OK, (uint32_t)n + 1);
}

static void do_discard_zeroes(struct virtio_blk *blk, struct blk_req *r)
{
	uint8_t raw[BLK_MAX_DISCARD_SEG * BLK_SEG_SIZE];
	struct blk_seg segs[BLK_MAX_DISCARD_SEG];
	struct virtq_elem *e = &r->elem;
	bool discard = r->type == VIRTIO_BLK_T_DISCARD;
	unsigned int max_seg = discard ? BLK_MAX_DISCARD_SEG : BLK_MAX_WZ_SEG;
	uint32_t max_sectors = discard ? BLK_MAX_DISCARD_SECTORS : BLK_MAX_WZ_SECTORS;
	uint64_t bytes = e->out_len - BLK_HDR_SIZE;
	unsigned int nr_seg, i;
	int ret = 0;

	if (e->in_len != 1)
		return bad_request(r, "%llu writable bytes", (unsigned long long)e->in_len);
	if (block_read_only(blk->bd))
		return bad_request(r, "discard or write zeroes on a read-only disk");
	if (!bytes || bytes % BLK_SEG_SIZE || bytes / BLK_SEG_SIZE > max_seg)
		return bad_request(r, "%llu bytes of segments (at most %u segments of 16 bytes)",
				   (unsigned long long)bytes, max_seg);
	nr_seg = (unsigned int)(bytes / BLK_SEG_SIZE);
	/* One copy: the guest may change its buffer while we work. */
	iov_to_buf(e->iov, e->nr_out, BLK_HDR_SIZE, raw, bytes);
	for (i = 0; i < nr_seg; i++) {
		const uint8_t *p = raw + i * BLK_SEG_SIZE;
		uint64_t sector = get_le64(p);
		uint32_t num = get_le32(p + 8);
		uint32_t flags = get_le32(p + 12);

		/* Unknown flags, or unmap on a discard: UNSUPP (5.2.6.2). */
		if ((flags & ~VIRTIO_BLK_WZ_F_UNMAP) || (discard && flags)) {
			complete(r, VIRTIO_BLK_S_UNSUPP, 1);
			return;
		}
		if (num > max_sectors)
			return bad_request(r, "segment of %u sectors (at most %u)", num,
					   max_sectors);
		if (!range_ok(blk, sector, num))
			return bad_request(r, "segment sectors %llu+%u beyond the capacity %llu",
					   (unsigned long long)sector, num,
					   (unsigned long long)blk->capacity);
		segs[i] = (struct blk_seg){ sector, num, flags };
	}
	for (i = 0; i < nr_seg && !ret; i++) {
		uint64_t off = segs[i].sector * BLOCK_SECTOR_SIZE;
		uint64_t len = (uint64_t)segs[i].num_sectors * BLOCK_SECTOR_SIZE;

		r->sector = segs[i].sector;
		if (discard)
			ret = block_discard(blk->bd, off, len);
		else
			ret = block_write_zeroes(blk->bd, off, len,
						 segs[i].flags & VIRTIO_BLK_WZ_F_UNMAP);
	}
	if (ret) {
		virtio_dev_warn(&blk->vdev, "%s at sector %llu failed: %s",
				discard ? "discard" : "write zeroes", (unsigned long long)r->sector,
				strerror(-ret));
		complete(r, VIRTIO_BLK_S_IOERR, 1);
		return;
	}
	complete(r, VIRTIO_BLK_S_OK, 1);
}

static void handle_request(struct virtio_blk *blk, struct blk_req *r)
{
	struct virtq_elem *e = &r->elem;
	uint8_t hdr[BLK_HDR_SIZE];
	const struct iovec *last;

	r->type = 0;
	if (!e->in_len) {
		virtio_dev_warn(&blk->vdev, "queue %u: request without a status byte", r->q->idx);
		r->status = NULL;
		complete(r, 0, 0);
		return;
	}
	/* Writable buffers have iovecs only when not empty. */
	last = &e->iov[e->nr_out + e->nr_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (e->out_len < BLK_HDR_SIZE)
		return bad_request(r, "header of %llu bytes", (unsigned long long)e->out_len);
	iov_to_buf(e->iov, e->nr_out, 0, hdr, sizeof(hdr));
	r->type = get_le32(hdr);
	r->sector = get_le64(hdr + 8);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		do_rw(blk, r);
		break;
	case VIRTIO_BLK_T_FLUSH:
		submit(blk, r, BLOCK_OP_FLUSH, NULL, 0, 1);
		break;
	case VIRTIO_BLK_T_GET_ID:
		do_get_id(blk, r);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		do_discard_zeroes(blk, r);
		break;
	default:
		complete(r, VIRTIO_BLK_S_UNSUPP, 1);
		break;
	}
}

/* Pop and start requests until the ring is empty or the queue has no slot. */
static void pop_requests(struct blk_queue *q)
{
	struct virtio_blk *blk = q->blk;
	struct virtq *vq = &blk->vdev.vqs[q->idx];
	unsigned int budget;
	struct blk_req *r;
	int ret;

	q->starved = false;
	if (!running(blk) || !vq->ready)
		return;
	budget = virtio_dev_budget(vq);
	do {
		virtq_disable_notify(vq);
		for (;;) {
			if (!budget--) {
				/* Notifications stay off: the loop comes back. */
				virtio_dev_resume_later(&blk->vdev, q->idx);
				goto out;
			}
			r = get_req(q);
			if (!r) {
				/* Notifications stay off: completions resume us. */
				q->starved = true;
				goto out;
			}
			ret = virtq_pop(vq, &r->elem);
			if (ret <= 0) {
				put_req(q, r);
				if (!ret)
					break;
				virtio_dev_fail(&blk->vdev, "queue %u: bad descriptor chain: %s",
						q->idx, strerror(-ret));
				goto out;
			}
			handle_request(blk, r);
		}
	} while (virtq_enable_notify(vq));
out:
	block_submit_batch(blk->bd);
}

/*
 * Resume queues that ran out of request slots and now have some, including
 * slots freed by a batch that the backend failed at once; then interrupt
 * for whatever was used.
 */
static void run_starved(struct virtio_blk *blk)
{
	bool again = true;

	while (again && running(blk)) {
		again = false;
		for (unsigned int i = 0; i < blk->nr_queues; i++) {
			struct blk_queue *q = &blk->queues[i];

			if (q->starved && q->free) {
				pop_requests(q);
				again = true;
			}
		}
	}
	if (!running(blk))
		return;
	for (unsigned int i = 0; i < blk->nr_queues; i++)
		flush_notify(&blk->queues[i]);
}

static void batch_done(void *opaque)
{
	run_starved(opaque);
}

static void blk_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_blk *blk = vdev->opaque;

	if (q >= blk->nr_queues)
		return;
	pop_requests(&blk->queues[q]);
	run_starved(blk);
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = vdev->opaque;

	/* Already so when called by the reset path; reads in flight write into
	 * guest memory until they complete, and none may be used after. */
	atomic_store(&vdev->running, false);
	block_drain(blk->bd);
	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		blk->queues[i].starved = false;
		blk->queues[i].need_notify = false;
	}
}

static void blk_config_read(struct virtio_dev *vdev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_blk *blk = vdev->opaque;

	memcpy(data, blk->config + offset, len);
}

static void blk_config_write(struct virtio_dev *vdev, uint32_t offset, const uint8_t *data,
			     uint32_t len)
{
	/* Nothing is writable without CONFIG_WCE. */
}

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
};

static void fill_config(struct virtio_blk *blk)
{
	uint8_t *c = blk->config;
	uint32_t align = block_alignment(blk->bd);

	put_le64(c + VIRTIO_BLK_CFG_CAPACITY, blk->capacity);
	put_le32(c + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	put_le32(c + VIRTIO_BLK_CFG_BLK_SIZE, align);
	put_le16(c + VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)blk->nr_queues);
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS);
	put_le32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, BLK_MAX_DISCARD_SEG);
	put_le32(c + VIRTIO_BLK_CFG_DISCARD_ALIGN, align / BLOCK_SECTOR_SIZE);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, BLK_MAX_WZ_SECTORS);
	put_le32(c + VIRTIO_BLK_CFG_MAX_WZ_SEG, BLK_MAX_WZ_SEG);
	c[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
}

static void free_reqs(struct virtio_blk *blk)
{
	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		struct blk_req *r;

		while ((r = blk->queues[i].free)) {
			blk->queues[i].free = r->next_free;
			free(r);
		}
	}
}

int virtio_blk_create(struct virtio_blk **out, const struct virtio_blk_opts *o,
		      unsigned int nr_queues, const struct guest_mem *mem, struct event_loop *loop,
		      struct error *err)
{
	struct block_opts bo = {
		.path = o->path,
		.ro = o->ro,
		.cache = o->cache,
		.aio = o->aio,
		.queue_depth = nr_queues * BLK_MAX_INFLIGHT,
	};
	uint64_t features;
	struct virtio_blk *blk;
	int ret;

	*out = NULL;
	if (!o->path || !*o->path)
		return error_set(err, -EINVAL, "disk: empty path");
	if (!nr_queues || nr_queues > BLK_MAX_QUEUES)
		return error_set(err, -EINVAL, "disk %s: %u queues (1 to %u)", o->path, nr_queues,
				 BLK_MAX_QUEUES);
	if (o->serial && strlen(o->serial) > VIRTIO_BLK_ID_BYTES)
		return error_set(err, -EINVAL, "disk %s: serial longer than %d bytes", o->path,
				 VIRTIO_BLK_ID_BYTES);
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return error_set(err, -ENOMEM, "disk %s: out of memory", o->path);
	blk->queues = calloc(nr_queues, sizeof(*blk->queues));
	if (!blk->queues) {
		free(blk);
		return error_set(err, -ENOMEM, "disk %s: out of memory", o->path);
	}
	blk->nr_queues = nr_queues;
	if (o->serial)
		memcpy(blk->serial, o->serial, strlen(o->serial));
	snprintf(blk->name, sizeof(blk->name), "virtio-blk %s", o->path);
	for (unsigned int i = 0; i < nr_queues; i++) {
		struct blk_req *r;

		blk->queues[i].blk = blk;
		blk->queues[i].idx = i;
		r = alloc_req(&blk->queues[i]);
		if (!r) {
			ret = error_set(err, -ENOMEM, "disk %s: out of memory", o->path);
			goto err_free;
		}
		put_req(&blk->queues[i], r);
	}

	ret = block_open(&blk->bd, &bo, loop, err);
	if (ret)
		goto err_free;
	block_set_batch_done(blk->bd, batch_done, blk);
	blk->capacity = block_sectors(blk->bd);
	fill_config(blk);

	features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
		   VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	/* A read-only disk has nothing to discard or zero. */
	if (o->ro)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		features |=
			VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	ret = virtio_dev_init(&blk->vdev, blk->name, VIRTIO_ID_BLOCK, features, nr_queues,
			      VIRTIO_BLK_QUEUE_SIZE, VIRTIO_BLK_CONFIG_SIZE, &blk_ops, blk, mem,
			      loop);
	if (ret) {
		error_set(err, ret, "disk %s: %s", o->path, strerror(-ret));
		goto err_close;
	}
	*out = blk;
	return 0;
err_close:
	block_close(blk->bd);
err_free:
	free_reqs(blk);
	free(blk->queues);
	free(blk);
	return ret;
}

struct virtio_dev *virtio_blk_vdev(struct virtio_blk *blk)
{
	return &blk->vdev;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	/* Requests still in flight finish without touching the rings. */
	atomic_store(&blk->vdev.running, false);
	block_close(blk->bd);
	free_reqs(blk);
	virtio_dev_free(&blk->vdev);
	free(blk->queues);
	free(blk);
}
