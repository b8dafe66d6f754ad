/* SPDX-License-Identifier: MIT */
/*
 * A virtio device as its device model sees it, independent of the transport.
 * The model (blk.c, rng.c, console.c...) fills in its id, features, queue
 * count, config space and ops; the transport (pci.c) runs feature
 * negotiation, the status machine and queue setup, and calls the ops. The
 * model hands used buffers back through virtio_dev_notify_used(), which
 * interrupts the driver only when event-index suppression allows.
 *
 * Threads: start, queue_notify and reset run on the device's event loop;
 * config_read/config_write run on a vCPU thread under vdev->lock.
 */
#ifndef KVMINI_VIRTIO_VIRTIO_H
#define KVMINI_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "event_loop.h"
#include "guest_mem.h"
#include "log.h"
#include "virtio/virtqueue.h"

/* Device status bits (virtio 1.x, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Transport-level feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

#define VIRTIO_BIT(n) (1ULL << (n))

struct virtio_dev;

struct virtio_dev_ops {
	/* Device-specific configuration, little-endian; @offset + @len is
	 * within config_size (the transport checks). Optional when
	 * config_size is 0. */
	void (*config_read)(struct virtio_dev *vdev, uint32_t offset, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_dev *vdev, uint32_t offset, const uint8_t *data,
			     uint32_t len);
	/* DRIVER_OK was set: features are final and the enabled queues are
	 * initialized. Negative: the device cannot run (NEEDS_RESET). */
	int (*start)(struct virtio_dev *vdev);
	/* The driver kicked queue @q (only after a successful start). */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned int q);
	/* Forget all driver state. In-flight requests must be finished or
	 * abandoned without touching guest memory when it returns. */
	void (*reset)(struct virtio_dev *vdev);
	/* For a kernel backend: interrupts for queue @q must now signal @fd
	 * (see attach_call). Called from any thread, with transport locks
	 * held: it must not call back into the transport. */
	void (*set_call_fd)(struct virtio_dev *vdev, unsigned int q, int fd);
};

/* What the transport provides to the device. */
struct virtio_transport {
	void (*queue_interrupt)(void *opaque, unsigned int q);
	void (*config_interrupt)(void *opaque);
	/* For a kernel backend (vhost) serving queue @q itself: the eventfd
	 * the driver's kicks signal, which the transport stops reading until
	 * return_kick(). Called on the device's loop; -errno if there is none. */
	int (*take_kick)(void *opaque, unsigned int q);
	void (*return_kick)(void *opaque, unsigned int q);
	/* For a kernel backend signalling an eventfd per interrupt: the
	 * transport calls ops->set_call_fd(q, fd) now and whenever the answer
	 * changes, with the irqfd of the queue's MSI-X vector while that
	 * vector can be delivered directly, and @polled_fd (which the device
	 * reads and turns into queue_interrupt) while it is masked or MSI-X
	 * is off, so masking and pending bits behave as without the backend.
	 * detach_call() ends this before the backend stops. Optional. */
	int (*attach_call)(void *opaque, unsigned int q, int polled_fd);
	void (*detach_call)(void *opaque, unsigned int q);
	void *opaque;
};

struct virtio_dev {
	const char *name; /* for log lines, e.g. "virtio-blk 0" */
	uint16_t device_id;
	uint64_t device_features; /* offered, including transport bits */
	uint64_t driver_features; /* accepted by the driver (FEATURES_OK) */
	unsigned int nr_queues;
	uint16_t queue_max_size; /* power of two */
	struct virtq *vqs; /* nr_queues, owned here */
	uint32_t config_size;
	const struct virtio_dev_ops *ops;
	void *opaque; /* the device model's own state */
	const struct guest_mem *mem;
	struct event_loop *loop; /* where device work runs */
	struct virtio_transport transport;

	pthread_mutex_t lock; /* status, config space and config_generation */
	uint8_t status;
	uint8_t config_generation;
	atomic_bool running; /* DRIVER_OK and started, not broken */
	struct ratelimit log_rl;

	/* Queues whose processing stopped at its budget (bit q), and the
	 * eventfd that brings the loop back to them; loop thread only. */
	uint64_t resume_queues;
	int resume_fd;
	struct event_source resume_src;
};

/*
 * Chains one queue_notify() may take from queue @vq before it must return
 * to the loop through virtio_dev_resume_later(): a full ring always fits,
 * and a driver refilling as fast as the device drains cannot keep the
 * device's thread (its other queues, resets, completions) to itself.
 */
static inline unsigned int virtio_dev_budget(const struct virtq *vq)
{
	return 2u * vq->size;
}

/*
 * Set up @vdev with @nr_queues (at most 64) queues of at most
 * @queue_max_size entries. The transport features VERSION_1, INDIRECT_DESC
 * and EVENT_IDX are added to @device_features. Returns 0 or -errno.
 */
int virtio_dev_init(struct virtio_dev *vdev, const char *name, uint16_t device_id,
		    uint64_t device_features, unsigned int nr_queues, uint16_t queue_max_size,
		    uint32_t config_size, const struct virtio_dev_ops *ops, void *opaque,
		    const struct guest_mem *mem, struct event_loop *loop);
void virtio_dev_free(struct virtio_dev *vdev);

static inline bool virtio_dev_has_feature(const struct virtio_dev *vdev, unsigned int bit)
{
	return vdev->driver_features & VIRTIO_BIT(bit);
}

/* Buffers were pushed on queue @q: interrupt the driver if it wants one. */
void virtio_dev_notify_used(struct virtio_dev *vdev, unsigned int q);

/* The device configuration changed (bumps config_generation, interrupts). */
void virtio_dev_config_changed(struct virtio_dev *vdev);

/*
 * The guest broke the virtio protocol: log one rate-limited line naming the
 * device, set DEVICE_NEEDS_RESET, stop processing queues until the driver
 * resets the device, and tell the driver through a config interrupt.
 */
void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log one rate-limited warning line naming the device (a bad request that
 * fails on its own, without breaking the device). */
void virtio_dev_warn(struct virtio_dev *vdev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The transport side, called from a vCPU thread by a transport's register
 * handlers. They implement what every virtio transport shares: feature
 * negotiation, the status machine and queue setup.
 */

/* The 32 feature bits the device offers at @select (0 or 1; else 0). */
uint32_t virtio_dev_device_features(const struct virtio_dev *vdev, uint32_t select);

/* The driver writes 32 feature bits; ignored once FEATURES_OK is set. */
void virtio_dev_set_driver_features(struct virtio_dev *vdev, uint32_t select, uint32_t value);

uint8_t virtio_dev_status(struct virtio_dev *vdev);

/*
 * The driver writes the status register. 0 resets the device (waiting for
 * its event loop to drop in-flight work). FEATURES_OK sticks only when the
 * driver accepted a subset of the offered features including VERSION_1.
 * DRIVER_OK starts the device. Bits may not be cleared except by reset.
 */
void virtio_dev_set_status(struct virtio_dev *vdev, uint8_t status);

/*
 * The driver enables queue @q with @size entries at the given addresses.
 * On a bad queue the device enters NEEDS_RESET. Returns 0 or -errno.
 */
int virtio_dev_enable_queue(struct virtio_dev *vdev, unsigned int q, uint16_t size, uint64_t desc,
			    uint64_t avail, uint64_t used);

/* A kick of queue @q arrived (on the device's loop: ioeventfd handler). */
void virtio_dev_kick(struct virtio_dev *vdev, unsigned int q);

/*
 * The device stopped processing queue @q at its budget with chains left:
 * queue_notify(q) runs again from the loop once its other events had a
 * turn (unless the device is reset or fails meanwhile). Loop thread only.
 */
void virtio_dev_resume_later(struct virtio_dev *vdev, unsigned int q);

#endif
