/* SPDX-License-Identifier: MIT */
/*
 * Shared by the virtio and PCI targets (fuzz_virtqueue.c, fuzz_virtio_blk.c,
 * fuzz_virtio_net.c, fuzz_pci.c): a reader that decodes the input as
 * little-endian fields (zeroes once it runs out, so every input is a valid
 * program), fake guest RAM in a heap buffer of exactly its size (ASan sees
 * any access past it; the device targets keep one for all their inputs and
 * clear it before each), a driver's side of split rings (descriptors, chains,
 * bring-up through the transport-independent calls), a check that a popped
 * chain only names guest RAM, and an event loop run without its thread.
 *
 * Guest addresses in the input ("fz_gpa") are one selector byte, then either
 * a 32-bit offset folded into RAM (plus a little beyond its end, so lengths
 * reach the edge) or, with bit 7 of the selector, a raw 64-bit address.
 * tests/fuzz/mkseeds_virtio.py writes the seed inputs.
 */
#ifndef KVMINI_FUZZ_GUEST_H
#define KVMINI_FUZZ_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "guest_mem.h"
#include "le.h"
#include "log.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"
#include "vm.h"

/* The device broke what the target expects: libFuzzer reports a crash with a stack. */
#define fuzz_assert(cond)                 \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

struct fuzz_input {
	const uint8_t *data;
	size_t size, pos;
};

static inline bool fz_more(const struct fuzz_input *in)
{
	return in->pos < in->size;
}

/* Copy @len bytes from the input into @dst, zeroes past its end. */
static inline void fz_bytes(struct fuzz_input *in, void *dst, size_t len)
{
	size_t n = in->size - in->pos < len ? in->size - in->pos : len;

	memcpy(dst, in->data + in->pos, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->pos += n;
}

static inline uint8_t fz_u8(struct fuzz_input *in)
{
	return in->pos < in->size ? in->data[in->pos++] : 0;
}

static inline uint16_t fz_u16(struct fuzz_input *in)
{
	uint8_t b[2];

	fz_bytes(in, b, sizeof(b));
	return get_le16(b);
}

static inline uint32_t fz_u32(struct fuzz_input *in)
{
	uint8_t b[4];

	fz_bytes(in, b, sizeof(b));
	return get_le32(b);
}

static inline uint64_t fz_u64(struct fuzz_input *in)
{
	uint8_t b[8];

	fz_bytes(in, b, sizeof(b));
	return get_le64(b);
}

/* An access width from a selector: 1, 2, 4 or 8 bytes. */
static inline uint32_t fz_width(uint8_t sel)
{
	return 1u << (sel & 3);
}

struct fuzz_guest {
	uint8_t *ram;
	uint64_t size;
	struct guest_mem mem;
};

static inline void fuzz_guest_init(struct fuzz_guest *g, uint64_t size)
{
	g->ram = calloc(1, size);
	if (!g->ram)
		abort();
	g->size = size;
	guest_mem_init_buffer(&g->mem, g->ram, size);
}

static inline void fuzz_guest_free(struct fuzz_guest *g)
{
	guest_mem_free(&g->mem);
	free(g->ram);
}

/* RAM as a fresh process has it, for targets that keep one buffer for
 * every input (allocating and faulting in a new one costs more than the
 * input itself). */
static inline void fuzz_guest_clear(struct fuzz_guest *g)
{
	memset(g->ram, 0, g->size);
}

static inline uint64_t fz_gpa(struct fuzz_input *in, const struct fuzz_guest *g)
{
	uint8_t sel = fz_u8(in);

	if (sel & 0x80)
		return fz_u64(in);
	return fz_u32(in) % (g->size + 0x100);
}

/*
 * Driver-side work done per descriptor or per buffer: not instrumented for
 * coverage, which made it cost more than what the device does with it and
 * told the fuzzer nothing about the device. Its helpers are FUZZ_INLINE,
 * so that they are not called instrumented from it.
 */
#define FUZZ_PLAIN __attribute__((no_sanitize("coverage"), noinline))
#define FUZZ_INLINE inline __attribute__((always_inline))

/*
 * Writes the driver makes: all or nothing, as guest_mem_write() (bytes
 * outside RAM are dropped, as the guest's would fault), straight into the
 * one region, which is cheaper than through the library.
 */
static FUZZ_INLINE void fuzz_write(const struct fuzz_guest *g, uint64_t gpa, const void *src,
				   size_t len)
{
	if (gpa <= g->size && len <= g->size - gpa)
		memcpy(g->ram + gpa, src, len);
}

static FUZZ_INLINE void fuzz_put16(const struct fuzz_guest *g, uint64_t gpa, uint16_t v)
{
	uint8_t b[2];

	put_le16(b, v);
	fuzz_write(g, gpa, b, sizeof(b));
}

static FUZZ_INLINE void fuzz_put_desc(const struct fuzz_guest *g, uint64_t table, uint16_t i,
				      uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	put_le64(d, addr);
	put_le32(d + 8, len);
	put_le16(d + 12, flags);
	put_le16(d + 14, next);
	fuzz_write(g, table + 16 * (uint64_t)i, d, sizeof(d));
}

/* Up to @max bytes from the input into guest RAM at @gpa (a length byte, then the bytes). */
static inline void fz_raw_write(struct fuzz_input *in, const struct fuzz_guest *g, uint64_t gpa,
				size_t max)
{
	uint8_t buf[256];
	size_t n = fz_u8(in) % (max < sizeof(buf) ? max + 1 : sizeof(buf) + 1);

	fz_bytes(in, buf, n);
	guest_mem_write(&g->mem, gpa, buf, n);
}

/* The driver's side of one split ring: descriptors, then avail, then used. */
#define FUZZ_VQ_AVAIL_OFF 0x1000
#define FUZZ_VQ_USED_OFF 0x2000
#define FUZZ_VQ_SPAN 0x4000 /* what one queue's rings take, up to 256 entries */
#define FUZZ_VQ_MAX 256

struct fuzz_vq {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx; /* the driver's avail->idx */
	uint16_t next_desc; /* where the next built chain starts */
};

static inline void fuzz_vq_init(struct fuzz_vq *vq, uint64_t base, uint16_t size)
{
	*vq = (struct fuzz_vq){
		.size = size,
		.desc = base,
		.avail = base + FUZZ_VQ_AVAIL_OFF,
		.used = base + FUZZ_VQ_USED_OFF,
	};
}

/* A queue size from a selector byte: a power of two up to FUZZ_VQ_MAX,
 * sometimes not a power of two at all. */
static inline uint16_t fz_qsize(uint8_t sel)
{
	if (sel & 0x80)
		return sel & 0x7f;
	return (uint16_t)(1u << (sel % 9));
}

static FUZZ_INLINE void fuzz_vq_set_avail_idx(const struct fuzz_guest *g, struct fuzz_vq *vq,
					      uint16_t idx)
{
	vq->avail_idx = idx;
	fuzz_put16(g, vq->avail + 2, idx);
}

static FUZZ_INLINE void fuzz_vq_publish(const struct fuzz_guest *g, struct fuzz_vq *vq,
					uint16_t head)
{
	if (vq->size)
		fuzz_put16(g, vq->avail + 4 + 2 * (uint64_t)(vq->avail_idx % vq->size), head);
	fuzz_vq_set_avail_idx(g, vq, (uint16_t)(vq->avail_idx + 1));
}

/* used_event (in the avail ring) and avail->flags, from the driver's side. */
static inline void fuzz_vq_set_used_event(const struct fuzz_guest *g, const struct fuzz_vq *vq,
					  uint16_t v)
{
	fuzz_put16(g, vq->avail + 4 + 2 * (uint64_t)vq->size, v);
}

static inline void fuzz_vq_set_avail_flags(const struct fuzz_guest *g, const struct fuzz_vq *vq,
					   uint16_t v)
{
	fuzz_put16(g, vq->avail, v);
}

/* Buffers for the chains the driver builds, handed out round-robin from [start, end). */
struct fuzz_alloc {
	uint64_t start, end, next;
};

static inline uint64_t fuzz_alloc(struct fuzz_alloc *a, uint32_t len)
{
	uint64_t gpa;

	if (a->next < a->start || len > a->end - a->next)
		a->next = a->start;
	gpa = a->next;
	a->next += ((uint64_t)len + 15) & ~15ULL;
	return gpa;
}

struct fuzz_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/*
 * Write @bufs as one chain and make it available: in the ring's own table
 * from vq->next_desc on, or with @table non-zero in that indirect table,
 * which one INDIRECT descriptor in the ring points to. Returns the head.
 */
FUZZ_PLAIN static inline uint16_t fuzz_vq_post(const struct fuzz_guest *g, struct fuzz_vq *vq,
					       const struct fuzz_buf *bufs, unsigned int n,
					       uint64_t table)
{
	uint16_t size = vq->size ? vq->size : 1;
	uint16_t head = vq->next_desc % size;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = table ? (uint16_t)i : (uint16_t)((head + i) % size);
		uint16_t next = table ? (uint16_t)(i + 1) : (uint16_t)((idx + 1) % size);
		uint16_t flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));

		fuzz_put_desc(g, table ? table : vq->desc, idx, bufs[i].gpa, bufs[i].len, flags,
			      next);
	}
	if (table) {
		fuzz_put_desc(g, vq->desc, head, table, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
		n = 1;
	}
	vq->next_desc = (uint16_t)((head + n) % size);
	fuzz_vq_publish(g, vq, head);
	return head;
}

/*
 * Write one descriptor from the input: table selector (0: the ring's own
 * table at @vq->desc, n: indirect table n - 1 at @indirect + (n - 1) *
 * 0x1000), index, flags, next, address, length (16 bits, or 32 with flag
 * bit 7, which is not a descriptor flag).
 */
static inline void fz_desc(struct fuzz_input *in, const struct fuzz_guest *g,
			   const struct fuzz_vq *vq, uint64_t indirect, unsigned int nr_tables)
{
	uint8_t table = fz_u8(in) % (nr_tables + 1);
	uint16_t i = fz_u16(in);
	uint8_t flags = fz_u8(in);
	uint16_t next = fz_u16(in);
	uint64_t addr = fz_gpa(in, g);
	uint32_t len = flags & 0x80 ? fz_u32(in) : fz_u16(in);
	uint64_t base = table ? indirect + (table - 1) * 0x1000ULL : vq->desc;

	fuzz_put_desc(g, base, table ? i % 256 : (vq->size ? i % vq->size : i), addr, len,
		      flags & 0x7f, next);
}

/*
 * A driver's bring-up (virtio 3.1.1) through the transport-independent
 * calls: reset, ACKNOWLEDGE, DRIVER, the features from the input (u32 low,
 * u32 high), FEATURES_OK, then per queue a size selector byte (fz_qsize())
 * and the queue enabled with zeroed rings at @base + q * FUZZ_VQ_SPAN, then
 * DRIVER_OK. The device takes what it accepts; the rest is refused.
 */
static inline void fz_bringup(struct fuzz_input *in, const struct fuzz_guest *g,
			      struct virtio_dev *vdev, struct fuzz_vq *vqs, uint64_t base)
{
	const uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	uint32_t lo = fz_u32(in), hi = fz_u32(in);

	virtio_dev_set_status(vdev, 0);
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_set_status(vdev, st);
	virtio_dev_set_driver_features(vdev, 0, lo);
	virtio_dev_set_driver_features(vdev, 1, hi);
	virtio_dev_set_status(vdev, st | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct fuzz_vq *vq = &vqs[q];

		fuzz_vq_init(vq, base + q * (uint64_t)FUZZ_VQ_SPAN, fz_qsize(fz_u8(in)));
		guest_mem_fill(&g->mem, vq->desc, 0, FUZZ_VQ_SPAN);
		virtio_dev_enable_queue(vdev, q, vq->size, vq->desc, vq->avail, vq->used);
	}
	virtio_dev_set_status(vdev, st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/*
 * What virtq_pop() promises: every iovec is non-empty guest RAM, readable
 * ones first, the counts and lengths add up. Touch every byte so ASan
 * checks them too: read the readable ones, fill the writable ones.
 */
static inline void fuzz_check_elem(const struct fuzz_guest *g, const struct virtq_elem *e,
				   uint16_t qsize)
{
	uint64_t out = 0, in = 0;
	uint8_t sum = 0;

	fuzz_assert(e->head < qsize);
	fuzz_assert(e->nr_out + e->nr_in <= e->max_iov);
	for (unsigned int i = 0; i < e->nr_out + e->nr_in; i++) {
		const uint8_t *p = e->iov[i].iov_base;
		size_t len = e->iov[i].iov_len;

		fuzz_assert(len > 0);
		fuzz_assert(p >= g->ram && p <= g->ram + g->size && len <= g->size);
		fuzz_assert((uint64_t)(p - g->ram) + len <= g->size);
		if (i < e->nr_out) {
			out += len;
			for (size_t j = 0; j < len; j++)
				sum ^= p[j];
		} else {
			in += len;
			memset((void *)p, 0x5a, len);
		}
	}
	fuzz_assert(out == e->out_len && in == e->in_len);
	__asm__ __volatile__("" ::"r"(sum));
}

/*
 * Dispatch what is ready on a loop without a thread until nothing is; a
 * device that keeps it busy for this many rounds spins (a finding).
 */
#define FUZZ_LOOP_SPIN_LIMIT 1000

static inline void fuzz_run_loop(struct event_loop *loop)
{
	int i;

	for (i = 0; i < FUZZ_LOOP_SPIN_LIMIT && event_loop_run_once(loop, 0) > 0; i++)
		;
	fuzz_assert(i < FUZZ_LOOP_SPIN_LIMIT);
}

/*
 * A loop kept for every input must end each as it began, with nothing
 * ready: what a destroyed device left watched would run on freed memory
 * in the next input. Checked at the end of the input that left it, so the
 * input alone reproduces the failure.
 */
static inline void fuzz_loop_check_idle(struct event_loop *loop)
{
	struct epoll_event ev;

	fuzz_assert(epoll_wait(loop->epfd, &ev, 1, 0) == 0);
}

/* Keep a device's rate-limited warnings off stderr for this input. */
static inline void fuzz_quiet(struct ratelimit *rl)
{
	rl->window_start_ns = monotonic_ns();
	rl->printed = RATELIMIT_BURST;
}

#endif
