/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x, section 2.7) seen from the device side. The
 * rings live in guest memory, which the guest may change at any time: every
 * descriptor is validated as it is read, every buffer becomes a host iovec
 * only through guest_mem_ptr(), and any protocol violation makes virtq_pop()
 * fail so the device can enter DEVICE_NEEDS_RESET. One thread uses a queue at
 * a time (the device's I/O thread); nothing here locks.
 */
#ifndef KVMINI_VIRTIO_VIRTQUEUE_H
#define KVMINI_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"
#include "iov.h" /* iov_to_buf(), iov_from_buf() for popped chains */

#define VIRTQ_MAX_SIZE 32768

/* Descriptor flags. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* avail->flags and used->flags. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Guest-visible ring layouts, little-endian (x86 host: no swapping needed). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* size entries, then avail_event */
};

struct virtq {
	const struct guest_mem *mem;
	uint16_t size; /* a power of two, 1..VIRTQ_MAX_SIZE */
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect; /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool ready; /* virtq_init() succeeded and no reset since */
	/* Host pointers to the rings, validated once by virtq_init(). */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail_idx; /* next avail entry the device consumes */
	uint16_t used_idx; /* device's copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last interrupt */
	bool signalled_used_valid;
};

/*
 * One popped descriptor chain. The caller provides @iov with room for
 * @max_iov entries; virtq_pop() fills iov[0..nr_out) with the device-readable
 * buffers and iov[nr_out..nr_out+nr_in) with the device-writable ones (the
 * spec puts all readable descriptors before writable ones).
 */
struct virtq_elem {
	uint16_t head; /* descriptor index to hand back in the used ring */
	unsigned int nr_out;
	unsigned int nr_in;
	uint64_t out_len; /* total bytes the device may read */
	uint64_t in_len; /* total bytes the device may write */
	struct iovec *iov;
	unsigned int max_iov;
};

/*
 * Validate and attach the rings at the given guest-physical addresses.
 * -EINVAL when @size is 0, not a power of two or above VIRTQ_MAX_SIZE, or a
 * ring is misaligned (desc 16, avail 2, used 4 bytes); -EFAULT when any ring
 * is not entirely guest RAM. On failure the queue stays not ready.
 */
int virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	       uint64_t avail_gpa, uint64_t used_gpa, bool event_idx, bool indirect);

/* Detach the rings: the queue is not ready until the next virtq_init(). */
void virtq_reset(struct virtq *vq);

/*
 * Take the next available chain into @elem. Returns 1 when a chain was
 * popped, 0 when the ring is empty or the queue is not ready, and a negative
 * errno when the guest broke the protocol: -EPROTO when the avail index ran
 * ahead by more than the queue size; -EFAULT for a buffer or indirect table
 * not in guest RAM or whose address plus length wraps; -EINVAL for a head or
 * next index out of range, a loop or a chain longer than the queue or
 * indirect table, an indirect descriptor when not negotiated, nested,
 * combined with NEXT or of a bad length, a readable buffer after a writable
 * one; -E2BIG when the chain has more than elem->max_iov buffers. Zero-length
 * buffers are checked but take no iovec. An indirect descriptor may end a
 * direct chain. After an error the queue is in an unspecified state and the
 * device must stop using it.
 */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem);

/* Return a chain to the driver with @len bytes written into its buffers. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/*
 * After one or more pushes: should the driver be interrupted? Honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event when event_idx is on.
 */
bool virtq_should_interrupt(struct virtq *vq);

/*
 * Notification suppression while the device is draining the ring: disable
 * asks the driver not to kick; enable asks for kicks again (with event_idx,
 * at the next entry) and returns true if buffers arrived meanwhile, in which
 * case the caller must keep draining.
 */
void virtq_disable_notify(struct virtq *vq);
bool virtq_enable_notify(struct virtq *vq);

/* Number of chains the driver made available that have not been popped. */
uint16_t virtq_pending(const struct virtq *vq);

#endif
