// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define VIRTQ_DESC_SIZE sizeof(struct virtq_desc)

/*
 * After this, the compiler must assume guest memory changed, so it cannot
 * replace a use of a local copy by a second load from the ring.
 */
#define compiler_barrier() __asm__ __volatile__("" ::: "memory")

static inline bool is_power_of_2(unsigned int n)
{
	return n && !(n & (n - 1));
}

static inline uint16_t *used_event_ptr(const struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static inline uint16_t *avail_event_ptr(const struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/* Event-index test from the spec: did [old, new) cross @event? */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

int virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	       uint64_t avail_gpa, uint64_t used_gpa, bool event_idx, bool indirect)
{
	void *desc, *avail, *used;

	virtq_reset(vq);
	if (!is_power_of_2(size) || size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return -EINVAL;
	/* The event fields are part of the rings whether or not negotiated. */
	desc = guest_mem_ptr(mem, desc_gpa, (uint64_t)VIRTQ_DESC_SIZE * size);
	avail = guest_mem_ptr(mem, avail_gpa, 6 + 2 * (uint64_t)size);
	used = guest_mem_ptr(mem, used_gpa, 6 + 8 * (uint64_t)size);
	if (!desc || !avail || !used)
		return -EFAULT;
	vq->mem = mem;
	vq->size = size;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->ready = true;
	return 0;
}

/* One fetch of a descriptor the guest may be rewriting; @src may be unaligned. */
static void read_desc(const uint8_t *src, struct virtq_desc *d)
{
	memcpy(d, src, sizeof(*d));
	compiler_barrier();
}

static int add_buffer(const struct virtq *vq, struct virtq_elem *elem, const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *host = guest_mem_ptr(vq->mem, d->addr, d->len);

	if (!host)
		return -EFAULT;
	if (!writable && elem->nr_in)
		return -EINVAL;
	/* Validated above, but an empty buffer needs no iovec. */
	if (!d->len)
		return 0;
	if (elem->nr_out + elem->nr_in >= elem->max_iov)
		return -E2BIG;
	elem->iov[elem->nr_out + elem->nr_in] =
		(struct iovec){ .iov_base = host, .iov_len = d->len };
	if (writable) {
		elem->nr_in++;
		elem->in_len += d->len;
	} else {
		elem->nr_out++;
		elem->out_len += d->len;
	}
	return 0;
}

int virtq_pop(struct virtq *vq, struct virtq_elem *elem)
{
	const uint8_t *table;
	unsigned int table_size, visited = 0, nr_bufs = 0;
	bool in_indirect = false;
	uint16_t avail_idx, pending, head, idx;
	int ret;

	if (!vq->ready)
		return 0;
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	pending = avail_idx - vq->last_avail_idx;
	if (!pending)
		return 0;
	if (pending > vq->size)
		return -EPROTO;
	head = __atomic_load_n(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)],
			       __ATOMIC_RELAXED);
	if (head >= vq->size)
		return -EINVAL;

	elem->head = head;
	elem->nr_out = elem->nr_in = 0;
	elem->out_len = elem->in_len = 0;
	table = (const uint8_t *)vq->desc;
	table_size = vq->size;
	idx = head;
	for (;;) {
		struct virtq_desc d;

		/* A well-formed chain visits each descriptor at most once. */
		if (++visited > table_size)
			return -EINVAL;
		read_desc(table + (size_t)idx * VIRTQ_DESC_SIZE, &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect || in_indirect || (d.flags & VIRTQ_DESC_F_NEXT))
				return -EINVAL;
			if (!d.len || d.len % VIRTQ_DESC_SIZE ||
			    d.len / VIRTQ_DESC_SIZE > VIRTQ_MAX_SIZE)
				return -EINVAL;
			table = guest_mem_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return -EFAULT;
			table_size = d.len / VIRTQ_DESC_SIZE;
			in_indirect = true;
			visited = 0;
			idx = 0;
			continue;
		}

		/* Indirect tables included, no chain is longer than the queue
		 * (2.7.5.3.1). This also bounds the work on empty buffers,
		 * which take no iovec and so escape max_iov. */
		if (++nr_bufs > vq->size)
			return -EINVAL;
		ret = add_buffer(vq, elem, &d);
		if (ret < 0)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_size)
			return -EINVAL;
		idx = d.next;
	}
	vq->last_avail_idx++;
	return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];

	e->id = head;
	e->len = len;
	vq->used_idx++;
	/* The driver must see the element before the index that exposes it. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_interrupt(struct virtq *vq)
{
	uint16_t old_idx, new_idx, used_event;
	bool valid;

	/* Order our used->idx store before reading the driver's suppression. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);

	old_idx = vq->signalled_used;
	valid = vq->signalled_used_valid;
	new_idx = vq->used_idx;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	used_event = __atomic_load_n(used_event_ptr(vq), __ATOMIC_RELAXED);
	return vring_need_event(used_event, new_idx, old_idx);
}

void virtq_disable_notify(struct virtq *vq)
{
	/*
	 * With event_idx the driver ignores used->flags; leaving avail_event
	 * behind last_avail_idx stops kicks once the driver passed it.
	 */
	if (!vq->event_idx)
		__atomic_store_n(&vq->used->flags, VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (vq->event_idx)
		__atomic_store_n(avail_event_ptr(vq), vq->last_avail_idx, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
	/*
	 * The driver may have added buffers before it saw the store above and
	 * so not kicked: look again after it is globally visible.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

uint16_t virtq_pending(const struct virtq *vq)
{
	if (!vq->ready)
		return 0;
	return (uint16_t)(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) - vq->last_avail_idx);
}
