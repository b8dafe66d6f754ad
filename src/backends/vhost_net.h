/* SPDX-License-Identifier: MIT */
/*
 * vhost-net: the host kernel moves packets between a TAP device and the
 * guest's virtqueues itself, with no trip through kvmini per packet. kvmini
 * describes guest memory and the rings, gives it the queue's kick eventfd
 * (the ioeventfd the guest's notify writes signal) and a call eventfd, and
 * keeps the control queue.
 */
#ifndef KVMINI_BACKENDS_VHOST_NET_H
#define KVMINI_BACKENDS_VHOST_NET_H

#include <stdint.h>

#include "err.h"
#include "guest_mem.h"
#include "virtio/virtqueue.h"

struct vhost_net {
	int fd; /* /dev/vhost-net */
	uint64_t features; /* what the kernel's vhost-net supports */
};

/* Open /dev/vhost-net and become its owner. */
int vhost_net_open(struct vhost_net *vn, struct error *err);

/*
 * Tell vhost the guest memory layout and the negotiated features (masked
 * to vn->features). Once per driver start, before vhost_net_start_queue().
 */
int vhost_net_setup(struct vhost_net *vn, const struct guest_mem *mem, uint64_t features);

/*
 * Serve queue @index (0 receive, 1 transmit) from @vq's rings, starting at
 * vq->last_avail_idx, with the packets of @tap_fd. vhost reads @kick_fd and
 * signals @call_fd when the driver should be interrupted.
 */
int vhost_net_start_queue(struct vhost_net *vn, unsigned int index, const struct virtq *vq,
			  int kick_fd, int call_fd, int tap_fd);

/* From now on signal @call_fd for queue @index (any time, any thread). */
int vhost_net_set_call(struct vhost_net *vn, unsigned int index, int call_fd);

/* Stop serving queue @index (no guest memory access once it returns). */
int vhost_net_stop_queue(struct vhost_net *vn, unsigned int index);

void vhost_net_close(struct vhost_net *vn);

#endif
