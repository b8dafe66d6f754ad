// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/console.h"

#define CONSOLE_QUEUE_SIZE 128
#define CONSOLE_MAX_IOV 64
/* Output per transmit chain at most. Linux sends 32 KiB at a time; without
 * a cap, 64 descriptors that each cover all of guest RAM would be written
 * out 64 times over from one chain. */
#define CONSOLE_MAX_TX_BYTES (64 * 1024)

/* Move buffered input into receive buffers; runs on the event loop. */
static void deliver_input(struct virtio_console *vc)
{
	struct virtio_dev *vdev = &vc->vdev;
	struct virtq *vq = &vdev->vqs[VIRTIO_CONSOLE_RX];
	struct iovec iov[CONSOLE_MAX_IOV];
	struct virtq_elem elem = { .iov = iov, .max_iov = CONSOLE_MAX_IOV };
	bool pushed = false, made_room = false, more;
	unsigned int budget;
	int r = 0;

	if (!atomic_load(&vdev->running) || !vq->ready)
		return;
	budget = virtio_dev_budget(vq);
	pthread_mutex_lock(&vc->lock);
	do {
		/* Chains without room take nothing: the budget ends a stream of them. */
		while (vc->in_len && budget && (r = virtq_pop(vq, &elem)) == 1) {
			size_t n = iov_from_buf(elem.iov + elem.nr_out, elem.nr_in, 0, vc->inbuf,
						vc->in_len);

			budget--;
			memmove(vc->inbuf, vc->inbuf + n, vc->in_len - n);
			vc->in_len -= n;
			made_room |= n > 0;
			virtq_push(vq, elem.head, n);
			pushed = true;
		}
		/* Out of buffers with input left: ask for a kick when the driver
		 * posts more (with EVENT_IDX it kicks only when asked to). */
	} while (r == 0 && vc->in_len && budget && virtq_enable_notify(vq));
	more = !budget && vc->in_len;
	pthread_mutex_unlock(&vc->lock);
	if (more)
		virtio_dev_resume_later(vdev, VIRTIO_CONSOLE_RX);
	if (r < 0)
		virtio_dev_fail(vdev, "malformed receive chain: %s", strerror(-r));
	if (pushed)
		virtio_dev_notify_used(vdev, VIRTIO_CONSOLE_RX);
	if (made_room && vc->ops.rx_ready)
		vc->ops.rx_ready(vc->ops.opaque);
}

static void transmit(struct virtio_console *vc)
{
	struct virtio_dev *vdev = &vc->vdev;
	struct virtq *vq = &vdev->vqs[VIRTIO_CONSOLE_TX];
	struct iovec iov[CONSOLE_MAX_IOV];
	struct virtq_elem elem = { .iov = iov, .max_iov = CONSOLE_MAX_IOV };
	unsigned int budget = virtio_dev_budget(vq);
	bool pushed = false;
	int r = 0;

	do {
		virtq_disable_notify(vq);
		while (budget && (r = virtq_pop(vq, &elem)) == 1) {
			size_t left = CONSOLE_MAX_TX_BYTES;

			budget--;
			if (elem.out_len > left)
				virtio_dev_warn(
					vdev,
					"%llu-byte transmit chain; only its first %zu bytes written",
					(unsigned long long)elem.out_len, left);
			for (unsigned int i = 0; i < elem.nr_out && left && vc->ops.tx; i++) {
				size_t n = elem.iov[i].iov_len < left ? elem.iov[i].iov_len : left;

				vc->ops.tx(vc->ops.opaque, elem.iov[i].iov_base, n);
				left -= n;
			}
			virtq_push(vq, elem.head, 0);
			pushed = true;
		}
		if (r < 0) {
			virtio_dev_fail(vdev, "malformed transmit chain: %s", strerror(-r));
			return;
		}
		if (!budget) {
			virtio_dev_resume_later(vdev, VIRTIO_CONSOLE_TX);
			break;
		}
	} while (virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify_used(vdev, VIRTIO_CONSOLE_TX);
}

static void console_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_console *vc = vdev->opaque;

	if (q == VIRTIO_CONSOLE_TX)
		transmit(vc);
	else if (q == VIRTIO_CONSOLE_RX)
		deliver_input(vc);
}

static void input_ready(void *opaque, uint32_t events)
{
	struct virtio_console *vc = opaque;
	uint64_t v;

	if (read(vc->in_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	deliver_input(vc);
}

static void console_reset(struct virtio_dev *vdev)
{
	struct virtio_console *vc = vdev->opaque;

	/* Input the old driver never took is not replayed to the next one. */
	pthread_mutex_lock(&vc->lock);
	vc->in_len = 0;
	pthread_mutex_unlock(&vc->lock);
	if (vc->ops.rx_ready)
		vc->ops.rx_ready(vc->ops.opaque);
}

/* Input held back while no driver ran can flow now. */
static int console_dev_start(struct virtio_dev *vdev)
{
	struct virtio_console *vc = vdev->opaque;

	if (vc->ops.rx_ready)
		vc->ops.rx_ready(vc->ops.opaque);
	return 0;
}

static const struct virtio_dev_ops console_ops = {
	.start = console_dev_start,
	.queue_notify = console_queue_notify,
	.reset = console_reset,
};

size_t virtio_console_receive(void *opaque, const uint8_t *data, size_t len)
{
	struct virtio_console *vc = opaque;
	uint64_t one = 1;
	size_t n;

	if (!atomic_load(&vc->vdev.running))
		return 0;
	pthread_mutex_lock(&vc->lock);
	n = sizeof(vc->inbuf) - vc->in_len;
	if (n > len)
		n = len;
	memcpy(vc->inbuf + vc->in_len, data, n);
	vc->in_len += n;
	pthread_mutex_unlock(&vc->lock);
	if (n)
		(void)!write(vc->in_efd, &one, sizeof(one));
	return n;
}

int virtio_console_init(struct virtio_console *vc, const struct guest_mem *mem,
			struct event_loop *loop, const struct virtio_console_ops *ops)
{
	int ret;

	memset(vc, 0, sizeof(*vc));
	vc->ops = *ops;
	vc->in_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vc->in_efd < 0)
		return -errno;
	pthread_mutex_init(&vc->lock, NULL);
	vc->in_src = (struct event_source){ vc->in_efd, input_ready, vc };
	ret = virtio_dev_init(&vc->vdev, "virtio-console", VIRTIO_ID_CONSOLE, 0, 2,
			      CONSOLE_QUEUE_SIZE, 0, &console_ops, vc, mem, loop);
	if (ret) {
		close(vc->in_efd);
		vc->in_efd = -1;
	}
	return ret;
}

int virtio_console_start(struct virtio_console *vc)
{
	return event_loop_add(vc->vdev.loop, &vc->in_src, EPOLLIN);
}

void virtio_console_free(struct virtio_console *vc)
{
	if (vc->in_efd >= 0)
		close(vc->in_efd);
	vc->in_efd = -1;
	virtio_dev_free(&vc->vdev);
	pthread_mutex_destroy(&vc->lock);
}
