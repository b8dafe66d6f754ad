/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio spec 5.3), one port without the multiport
 * extension: the guest's hvc0. Output from the transmit queue goes to a
 * callback; host input is buffered here and moved into the guest's receive
 * buffers on the device's event loop.
 */
#ifndef KVMINI_VIRTIO_CONSOLE_H
#define KVMINI_VIRTIO_CONSOLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define VIRTIO_CONSOLE_RX 0
#define VIRTIO_CONSOLE_TX 1
#define VIRTIO_CONSOLE_INBUF 4096

struct virtio_console_ops {
	void (*tx)(void *opaque, const uint8_t *data, size_t len); /* guest output */
	void (*rx_ready)(void *opaque); /* room for more input again */
	void *opaque;
};

struct virtio_console {
	struct virtio_dev vdev;
	struct virtio_console_ops ops;
	pthread_mutex_t lock; /* inbuf */
	uint8_t inbuf[VIRTIO_CONSOLE_INBUF];
	size_t in_len;
	int in_efd; /* input arrived: wakes the event loop */
	struct event_source in_src;
};

int virtio_console_init(struct virtio_console *vc, const struct guest_mem *mem,
			struct event_loop *loop, const struct virtio_console_ops *ops);
/* Watch the input eventfd (after event_loop_init, before the loop runs). */
int virtio_console_start(struct virtio_console *vc);
void virtio_console_free(struct virtio_console *vc);

/*
 * Host input for the guest, from any thread. Returns how many bytes were
 * taken (0 when the buffer is full or the driver is not running); ops.rx_ready
 * fires when there is room again.
 */
size_t virtio_console_receive(void *vc, const uint8_t *data, size_t len);

#endif
