// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/virtio.h"

#define TRANSPORT_FEATURES                                                     \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

static void resume_ready(void *opaque, uint32_t events)
{
	struct virtio_dev *vdev = opaque;
	uint64_t v, queues = vdev->resume_queues;

	if (read(vdev->resume_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	vdev->resume_queues = 0;
	/* A device that failed meanwhile waits for its reset. */
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		if ((queues & (1ULL << q)) && atomic_load(&vdev->running) && vdev->vqs[q].ready &&
		    vdev->ops->queue_notify)
			vdev->ops->queue_notify(vdev, q);
	}
}

void virtio_dev_resume_later(struct virtio_dev *vdev, unsigned int q)
{
	uint64_t one = 1;

	if (q >= vdev->nr_queues || vdev->resume_fd < 0)
		return;
	vdev->resume_queues |= 1ULL << q;
	/* Fails only when the counter would overflow: a wakeup is pending. */
	(void)!write(vdev->resume_fd, &one, sizeof(one));
}

int virtio_dev_init(struct virtio_dev *vdev, const char *name, uint16_t device_id,
		    uint64_t device_features, unsigned int nr_queues, uint16_t queue_max_size,
		    uint32_t config_size, const struct virtio_dev_ops *ops, void *opaque,
		    const struct guest_mem *mem, struct event_loop *loop)
{
	int ret;

	memset(vdev, 0, sizeof(*vdev));
	vdev->resume_fd = -1;
	if (nr_queues > 64)
		return -EINVAL;
	vdev->vqs = calloc(nr_queues, sizeof(*vdev->vqs));
	if (!vdev->vqs)
		return -ENOMEM;
	vdev->resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = vdev->resume_fd < 0 ? -errno : 0;
	vdev->resume_src = (struct event_source){ vdev->resume_fd, resume_ready, vdev };
	if (!ret && loop)
		ret = event_loop_add(loop, &vdev->resume_src, EPOLLIN);
	if (ret) {
		if (vdev->resume_fd >= 0)
			close(vdev->resume_fd);
		vdev->resume_fd = -1;
		free(vdev->vqs);
		vdev->vqs = NULL;
		return ret;
	}
	vdev->name = name;
	vdev->device_id = device_id;
	vdev->device_features = device_features | TRANSPORT_FEATURES;
	vdev->nr_queues = nr_queues;
	vdev->queue_max_size = queue_max_size;
	vdev->config_size = config_size;
	vdev->ops = ops;
	vdev->opaque = opaque;
	vdev->mem = mem;
	vdev->loop = loop;
	pthread_mutex_init(&vdev->lock, NULL);
	atomic_init(&vdev->running, false);
	return 0;
}

void virtio_dev_free(struct virtio_dev *vdev)
{
	if (!vdev->vqs)
		return;
	/* Closing drops it from the loop's epoll set too. */
	close(vdev->resume_fd);
	vdev->resume_fd = -1;
	free(vdev->vqs);
	vdev->vqs = NULL;
	pthread_mutex_destroy(&vdev->lock);
}

__attribute__((format(printf, 2, 0))) static void vlog(struct virtio_dev *vdev, const char *fmt,
						       va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_ratelimited(&vdev->log_rl, "%s: %s", vdev->name, msg);
}

void virtio_dev_warn(struct virtio_dev *vdev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(vdev, fmt, ap);
	va_end(ap);
}

void virtio_dev_fail(struct virtio_dev *vdev, const char *fmt, ...)
{
	bool was_running, driver_ok;
	va_list ap;

	va_start(ap, fmt);
	vlog(vdev, fmt, ap);
	va_end(ap);
	was_running = atomic_exchange(&vdev->running, false);
	pthread_mutex_lock(&vdev->lock);
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	driver_ok = vdev->status & VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_unlock(&vdev->lock);
	/* A broken driver could make the device fail again and again; one
	 * interrupt per failure from a running state is enough. */
	if (was_running && driver_ok && vdev->transport.config_interrupt)
		vdev->transport.config_interrupt(vdev->transport.opaque);
}

void virtio_dev_notify_used(struct virtio_dev *vdev, unsigned int q)
{
	if (q < vdev->nr_queues && virtq_should_interrupt(&vdev->vqs[q]) &&
	    vdev->transport.queue_interrupt)
		vdev->transport.queue_interrupt(vdev->transport.opaque, q);
}

void virtio_dev_config_changed(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	vdev->config_generation++;
	pthread_mutex_unlock(&vdev->lock);
	if (vdev->transport.config_interrupt)
		vdev->transport.config_interrupt(vdev->transport.opaque);
}

uint32_t virtio_dev_device_features(const struct virtio_dev *vdev, uint32_t select)
{
	return select < 2 ? (uint32_t)(vdev->device_features >> (32 * select)) : 0;
}

void virtio_dev_set_driver_features(struct virtio_dev *vdev, uint32_t select, uint32_t value)
{
	uint64_t mask;

	if (select >= 2)
		return;
	pthread_mutex_lock(&vdev->lock);
	if (!(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
		mask = 0xffffffffULL << (32 * select);
		vdev->driver_features =
			(vdev->driver_features & ~mask) | ((uint64_t)value << (32 * select));
	}
	pthread_mutex_unlock(&vdev->lock);
}

uint8_t virtio_dev_status(struct virtio_dev *vdev)
{
	uint8_t s;

	pthread_mutex_lock(&vdev->lock);
	s = vdev->status;
	pthread_mutex_unlock(&vdev->lock);
	return s;
}

/* Runs on the device's loop, so it cannot race with request processing. */
static void reset_on_loop(void *arg)
{
	struct virtio_dev *vdev = arg;

	atomic_store(&vdev->running, false);
	vdev->resume_queues = 0;
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		virtq_reset(&vdev->vqs[q]);
}

struct start_call {
	struct virtio_dev *vdev;
	int ret;
};

static void start_on_loop(void *arg)
{
	struct start_call *c = arg;
	struct virtio_dev *vdev = c->vdev;

	/* Running first: start may let other threads feed the device, and
	 * the queues are only processed on this thread anyway. */
	atomic_store(&vdev->running, true);
	c->ret = vdev->ops->start ? vdev->ops->start(vdev) : 0;
	if (c->ret) {
		atomic_store(&vdev->running, false);
		return;
	}
	/* Buffers the driver made available before DRIVER_OK. */
	for (unsigned int q = 0; q < vdev->nr_queues && atomic_load(&vdev->running); q++) {
		if (vdev->vqs[q].ready && vdev->ops->queue_notify)
			vdev->ops->queue_notify(vdev, q);
	}
}

static bool features_acceptable(const struct virtio_dev *vdev)
{
	return !(vdev->driver_features & ~vdev->device_features) &&
	       (vdev->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

void virtio_dev_set_status(struct virtio_dev *vdev, uint8_t status)
{
	struct start_call call = { .vdev = vdev };
	uint8_t old, set;

	if (status == 0) {
		event_loop_call(vdev->loop, reset_on_loop, vdev);
		pthread_mutex_lock(&vdev->lock);
		vdev->status = 0;
		vdev->driver_features = 0;
		vdev->config_generation = 0;
		pthread_mutex_unlock(&vdev->lock);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	old = vdev->status;
	set = status & ~old;
	if (status & ~old & VIRTIO_STATUS_NEEDS_RESET)
		set &= ~VIRTIO_STATUS_NEEDS_RESET; /* only the device sets it */
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(vdev)) {
		set &= ~VIRTIO_STATUS_FEATURES_OK;
		log_ratelimited(&vdev->log_rl,
				"%s: driver accepted features 0x%llx not offered (0x%llx)",
				vdev->name, (unsigned long long)vdev->driver_features,
				(unsigned long long)vdev->device_features);
	}
	/* DRIVER_OK needs FEATURES_OK and a device not waiting for reset. */
	if ((set & VIRTIO_STATUS_DRIVER_OK) &&
	    (!((old | set) & VIRTIO_STATUS_FEATURES_OK) || (old & VIRTIO_STATUS_NEEDS_RESET)))
		set &= ~VIRTIO_STATUS_DRIVER_OK;
	/* Bits are never cleared except by a reset. */
	vdev->status = old | set;
	pthread_mutex_unlock(&vdev->lock);

	if (set & VIRTIO_STATUS_DRIVER_OK) {
		event_loop_call(vdev->loop, start_on_loop, &call);
		if (call.ret)
			virtio_dev_fail(vdev, "cannot start: %s", strerror(-call.ret));
	}
}

int virtio_dev_enable_queue(struct virtio_dev *vdev, unsigned int q, uint16_t size, uint64_t desc,
			    uint64_t avail, uint64_t used)
{
	int ret;

	if (q >= vdev->nr_queues)
		return -EINVAL;
	if (size > vdev->queue_max_size) {
		virtio_dev_fail(vdev, "queue %u: size %u above the maximum %u", q, size,
				vdev->queue_max_size);
		return -EINVAL;
	}
	ret = virtq_init(&vdev->vqs[q], vdev->mem, size, desc, avail, used,
			 virtio_dev_has_feature(vdev, VIRTIO_F_EVENT_IDX),
			 virtio_dev_has_feature(vdev, VIRTIO_F_INDIRECT_DESC));
	if (ret)
		virtio_dev_fail(
			vdev,
			"queue %u: bad ring (size %u, desc 0x%llx, avail 0x%llx, used 0x%llx)", q,
			size, (unsigned long long)desc, (unsigned long long)avail,
			(unsigned long long)used);
	return ret;
}

void virtio_dev_kick(struct virtio_dev *vdev, unsigned int q)
{
	if (q >= vdev->nr_queues)
		return;
	if (!atomic_load(&vdev->running)) {
		if (!(virtio_dev_status(vdev) & VIRTIO_STATUS_NEEDS_RESET))
			virtio_dev_warn(vdev, "queue %u notified before DRIVER_OK; ignored", q);
		return;
	}
	if (vdev->vqs[q].ready && vdev->ops->queue_notify)
		vdev->ops->queue_notify(vdev, q);
}
