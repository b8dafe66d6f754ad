// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "virtio/rng.h"

#define RNG_QUEUE_SIZE 64
#define RNG_MAX_IOV 64
/* Bytes per request at most: a guest cannot make one request drain the
 * host's entropy source for long. */
#define RNG_MAX_BYTES (64 * 1024)

static ssize_t host_random(void *buf, size_t len)
{
	return getrandom(buf, len, 0);
}

/* Fill the writable buffers of @elem; returns bytes written. */
static uint32_t fill(struct virtio_rng *rng, const struct virtq_elem *elem)
{
	uint32_t done = 0;

	for (unsigned int i = elem->nr_out; i < elem->nr_out + elem->nr_in; i++) {
		uint8_t *p = elem->iov[i].iov_base;
		size_t left = elem->iov[i].iov_len;

		while (left && done < RNG_MAX_BYTES) {
			size_t want = left < RNG_MAX_BYTES - done ? left : RNG_MAX_BYTES - done;
			ssize_t n = rng->source(p, want);

			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				return done;
			}
			p += n;
			left -= n;
			done += n;
		}
	}
	return done;
}

static void rng_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_rng *rng = vdev->opaque;
	struct virtq *vq = &vdev->vqs[q];
	struct iovec iov[RNG_MAX_IOV];
	struct virtq_elem elem = { .iov = iov, .max_iov = RNG_MAX_IOV };
	unsigned int budget = virtio_dev_budget(vq);
	bool pushed = false;
	int r = 0;

	do {
		virtq_disable_notify(vq);
		while (budget && (r = virtq_pop(vq, &elem)) == 1) {
			uint32_t len = 0;

			budget--;
			if (elem.nr_out)
				virtio_dev_warn(vdev,
						"request with a device-readable buffer; failed");
			else
				len = fill(rng, &elem);
			virtq_push(vq, elem.head, len);
			pushed = true;
		}
		if (r < 0) {
			/* Requests completed before the bad chain still count. */
			if (pushed)
				virtio_dev_notify_used(vdev, q);
			virtio_dev_fail(vdev, "malformed descriptor chain: %s", strerror(-r));
			return;
		}
		if (!budget) {
			/* Notifications stay off: the loop comes back. */
			virtio_dev_resume_later(vdev, q);
			break;
		}
	} while (virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify_used(vdev, q);
}

static const struct virtio_dev_ops rng_ops = {
	.queue_notify = rng_queue_notify,
};

int virtio_rng_init(struct virtio_rng *rng, const struct guest_mem *mem, struct event_loop *loop,
		    virtio_rng_source source)
{
	rng->source = source ? source : host_random;
	return virtio_dev_init(&rng->vdev, "virtio-rng", VIRTIO_ID_RNG, 0, 1, RNG_QUEUE_SIZE, 0,
			       &rng_ops, rng, mem, loop);
}

void virtio_rng_free(struct virtio_rng *rng)
{
	virtio_dev_free(&rng->vdev);
}
