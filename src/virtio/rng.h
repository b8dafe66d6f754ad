/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio spec 5.4): the guest posts device-writable buffers on
 * its one queue and gets them back full of bytes from the host's getrandom().
 */
#ifndef KVMINI_VIRTIO_RNG_H
#define KVMINI_VIRTIO_RNG_H

#include <stddef.h>
#include <sys/types.h>

#include "virtio/virtio.h"

/* Where random bytes come from: getrandom(2) in kvmini, a pattern in tests. */
typedef ssize_t (*virtio_rng_source)(void *buf, size_t len);

struct virtio_rng {
	struct virtio_dev vdev;
	virtio_rng_source source;
};

/* @source NULL means getrandom(2). Returns 0 or -ENOMEM. */
int virtio_rng_init(struct virtio_rng *rng, const struct guest_mem *mem, struct event_loop *loop,
		    virtio_rng_source source);
void virtio_rng_free(struct virtio_rng *rng);

#endif
