/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.x, section 5.1): one receive and one transmit queue
 * and a control queue, over a packet file descriptor (a TAP device in
 * kvmini, a socketpair in unit tests) whose frames carry the 12-byte
 * virtio_net_hdr_v1. Transmit chains are written to the fd as they are;
 * received frames are read straight into the guest's buffers, merged over
 * several of them (VIRTIO_NET_F_MRG_RXBUF), and spill into a bounce buffer
 * only while the guest has posted too few. With a vhost-net backend the
 * kernel serves the receive and transmit queues and this model keeps the
 * control queue.
 */
#ifndef KVMINI_VIRTIO_NET_H
#define KVMINI_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/vhost_net.h"
#include "err.h"
#include "event_loop.h"
#include "guest_mem.h"
#include "virtio/virtio.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

#define VIRTIO_NET_S_LINK_UP 1

/* Queues. */
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_CTRLQ 2
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_CTRL_QUEUE_SIZE 64

/* struct virtio_net_hdr_v1 */
#define VIRTIO_NET_HDR_LEN 12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80
#define VIRTIO_NET_HDR_NUM_BUFFERS_OFF 10

/* Largest frame the backend can hand over, header included: a 64 KiB GSO
 * frame plus Ethernet and VLAN headers, with room to spare. */
#define VIRTIO_NET_MAX_FRAME (VIRTIO_NET_HDR_LEN + 65536 + 4096)

/* Control queue (5.1.6.5). */
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS 5
#define VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET 0
/* MAC filter entries kept per table; a longer table accepts every address
 * of its kind, as the spec allows. */
#define VIRTIO_NET_MAC_TABLE_MAX 64

/* Config space: mac[6], status, max_virtqueue_pairs (little-endian). */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_VQ_PAIRS 8
#define VIRTIO_NET_CONFIG_SIZE 10

/* A --net value: how one NIC reaches the host. */
struct virtio_net_opts {
	char tap[16]; /* the TAP interface to attach to; empty: create one */
	bool has_mac;
	uint8_t mac[6]; /* with has_mac; else derived from the TAP name */
	bool vhost; /* serve the data queues with vhost-net */
};

/* What the device saw; only the device's event loop writes these. */
struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_filtered; /* destination MAC not accepted by the driver's filter */
	uint64_t rx_dropped; /* did not fit the guest's buffers (without MRG_RXBUF) */
	uint64_t rx_errors; /* read errors from the backend */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_dropped; /* malformed: shorter than the header, or too long */
	uint64_t tx_errors; /* the backend refused the frame (bad GSO header, link down) */
	uint64_t ctrl_errors; /* control commands answered VIRTIO_NET_ERR */
};

/* Where the packets go. */
struct virtio_net_backend {
	int fd; /* non-blocking; one frame with its virtio-net header per read/write */
	/* Offloads the guest accepts on receive changed: @guest_features holds
	 * the negotiated GUEST_CSUM/GUEST_TSO4/GUEST_TSO6/GUEST_ECN/GUEST_UFO
	 * bits. Optional. */
	int (*set_offload)(void *opaque, uint64_t guest_features);
	void *opaque;
	struct vhost_net *vhost; /* NULL: packets move through kvmini */
};

struct virtio_net;

/*
 * Set up the device with MAC @mac; its work runs on @loop. The backend's fd
 * stays the caller's.
 */
int virtio_net_create(struct virtio_net **out, const char *name, const uint8_t mac[6],
		      const struct virtio_net_backend *backend, const struct guest_mem *mem,
		      struct event_loop *loop, struct error *err);

struct virtio_dev *virtio_net_vdev(struct virtio_net *net);

/* A copy of the counters (take it on the loop thread, or once it stopped). */
void virtio_net_get_stats(const struct virtio_net *net, struct virtio_net_stats *stats);

void virtio_net_destroy(struct virtio_net *net);

#endif
