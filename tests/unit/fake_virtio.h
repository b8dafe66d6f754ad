/* SPDX-License-Identifier: MIT */
/*
 * A fake virtio driver for device tests: split rings in fake guest RAM,
 * written the way a guest driver would, a bump allocator for the buffers
 * it posts, and an interrupt recorder to plug in as the transport.
 */
#ifndef KVMINI_TEST_FAKE_VIRTIO_H
#define KVMINI_TEST_FAKE_VIRTIO_H

#include <stdbool.h>

#include "fake_guest.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

/* Ring layout from a queue's base: descriptors, then avail, then used. */
#define FAKE_VQ_AVAIL_OFF 0x2000
#define FAKE_VQ_USED_OFF 0x3000
#define FAKE_VQ_MAX_SIZE 256 /* what fits that layout */

struct fake_vq {
	struct fake_guest *g;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx; /* the driver's avail->idx */
	uint16_t next_desc; /* where fake_vq_post() puts the next chain */
	uint16_t used_seen; /* used entries fake_vq_next_used() has taken */
};

struct fake_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Rings of @size entries at @base; guest memory is left as it is. */
static inline void fake_vq_init(struct fake_vq *vq, struct fake_guest *g, uint64_t base,
				uint16_t size)
{
	assert_true(size <= FAKE_VQ_MAX_SIZE);
	*vq = (struct fake_vq){
		.g = g,
		.size = size,
		.desc = base,
		.avail = base + FAKE_VQ_AVAIL_OFF,
		.used = base + FAKE_VQ_USED_OFF,
	};
}

/* A new driver: zeroed rings, nothing posted or seen. */
static inline void fake_vq_clear(struct fake_vq *vq)
{
	assert_true(vq->used + 0x1000 <= vq->g->ram);
	memset(vq->g->buf + vq->desc, 0, vq->used + 0x1000 - vq->desc);
	fake_vq_init(vq, vq->g, vq->desc, vq->size);
}

/* Descriptor @i of the table at @table (the ring's own or an indirect one). */
static inline void fake_put_desc(struct fake_guest *g, uint64_t table, uint16_t i, uint64_t addr,
				 uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = g->buf + table + 16 * (uint64_t)i;

	put_le64(p, addr);
	put_le32(p + 8, len);
	put_le16(p + 12, flags);
	put_le16(p + 14, next);
}

static inline void fake_vq_put_desc(struct fake_vq *vq, uint16_t i, uint64_t addr, uint32_t len,
				    uint16_t flags, uint16_t next)
{
	fake_put_desc(vq->g, vq->desc, i, addr, len, flags, next);
}

static inline void fake_vq_set_avail_flags(struct fake_vq *vq, uint16_t flags)
{
	put_le16(vq->g->buf + vq->avail, flags);
}

/* avail->ring[@slot] alone: the device sees it only once avail->idx passes it. */
static inline void fake_vq_put_avail(struct fake_vq *vq, uint16_t slot, uint16_t head)
{
	put_le16(vq->g->buf + vq->avail + 4 + 2 * (uint64_t)(slot % vq->size), head);
}

/* avail->idx as written, without changing the driver's own count. */
static inline void fake_vq_put_avail_idx(struct fake_vq *vq, uint16_t idx)
{
	put_le16(vq->g->buf + vq->avail + 2, idx);
}

static inline void fake_vq_set_avail_idx(struct fake_vq *vq, uint16_t idx)
{
	vq->avail_idx = idx;
	fake_vq_put_avail_idx(vq, idx);
}

/* Make the chain at @head available. */
static inline void fake_vq_publish(struct fake_vq *vq, uint16_t head)
{
	fake_vq_put_avail(vq, vq->avail_idx, head);
	fake_vq_set_avail_idx(vq, (uint16_t)(vq->avail_idx + 1));
}

/* Write @bufs as one chain in the next free descriptors and publish it. */
static inline uint16_t fake_vq_post(struct fake_vq *vq, const struct fake_buf *bufs, unsigned int n)
{
	uint16_t head = vq->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);
		uint16_t flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));

		fake_vq_put_desc(vq, idx, bufs[i].gpa, bufs[i].len, flags,
				 (uint16_t)((idx + 1) % vq->size));
	}
	vq->next_desc = (uint16_t)((head + n) % vq->size);
	fake_vq_publish(vq, head);
	return head;
}

/* used_event: with EVENT_IDX, interrupt me once used->idx passes this. */
static inline void fake_vq_set_used_event(struct fake_vq *vq, uint16_t v)
{
	put_le16(vq->g->buf + vq->avail + 4 + 2 * (uint64_t)vq->size, v);
}

/* avail_event: with EVENT_IDX the driver kicks only when it passes this. */
static inline uint16_t fake_vq_avail_event(const struct fake_vq *vq)
{
	return get_le16(vq->g->buf + vq->used + 4 + 8 * (uint64_t)vq->size);
}

static inline uint16_t fake_vq_used_flags(const struct fake_vq *vq)
{
	return get_le16(vq->g->buf + vq->used);
}

static inline uint16_t fake_vq_used_idx(const struct fake_vq *vq)
{
	return get_le16(vq->g->buf + vq->used + 2);
}

/* used->ring[@i]: the head it names and the length written. */
static inline uint32_t fake_vq_used_id(const struct fake_vq *vq, uint16_t i)
{
	return get_le32(vq->g->buf + vq->used + 4 + 8 * (uint64_t)(i % vq->size));
}

static inline uint32_t fake_vq_used_len(const struct fake_vq *vq, uint16_t i)
{
	return get_le32(vq->g->buf + vq->used + 8 + 8 * (uint64_t)(i % vq->size));
}

/* The next used element not yet taken: its length, and its head in @head. */
static inline uint32_t fake_vq_next_used(struct fake_vq *vq, uint16_t *head)
{
	uint16_t i = vq->used_seen++;

	if (head)
		*head = (uint16_t)fake_vq_used_id(vq, i);
	return fake_vq_used_len(vq, i);
}

/* Data buffers for the chains, handed out upwards from a base address. */
struct fake_data {
	struct fake_guest *g;
	uint64_t next;
};

static inline void fake_data_init(struct fake_data *a, struct fake_guest *g, uint64_t base)
{
	a->g = g;
	a->next = base;
}

/*
 * @len bytes, 16-byte aligned, filled with 0xee (so a test sees which bytes
 * a device wrote), then with @data when it is given.
 */
static inline uint64_t fake_data_alloc(struct fake_data *a, const void *data, uint32_t len)
{
	uint64_t gpa = a->next;
	uint32_t padded = (len + 15) & ~15u;

	assert_true(gpa + padded <= a->g->ram);
	memset(a->g->buf + gpa, 0xee, padded);
	if (data)
		memcpy(a->g->buf + gpa, data, len);
	a->next += padded;
	return gpa;
}

/* Interrupts a device raised, counted; fake_irqs_transport() plugs it in. */
#define FAKE_IRQS_MAX_QUEUES 8

struct fake_irqs {
	unsigned int nr_queues;
	unsigned int queue[FAKE_IRQS_MAX_QUEUES];
	unsigned int config;
};

static inline void fake_irqs_queue(void *opaque, unsigned int q)
{
	struct fake_irqs *r = opaque;

	assert_true(q < r->nr_queues);
	r->queue[q]++;
}

static inline void fake_irqs_config(void *opaque)
{
	struct fake_irqs *r = opaque;

	r->config++;
}

static inline struct virtio_transport fake_irqs_transport(struct fake_irqs *r,
							  unsigned int nr_queues)
{
	assert_true(nr_queues <= FAKE_IRQS_MAX_QUEUES);
	r->nr_queues = nr_queues;
	return (struct virtio_transport){
		.queue_interrupt = fake_irqs_queue,
		.config_interrupt = fake_irqs_config,
		.opaque = r,
	};
}

#endif
