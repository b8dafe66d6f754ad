// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_virtio.h"
#include "virtio/net.h"

#define RAM (8u << 20)
#define DATA_GPA 0x100000
#define NR_QUEUES 3
#define RXQ VIRTIO_NET_RXQ
#define TXQ VIRTIO_NET_TXQ
#define CTRLQ VIRTIO_NET_CTRLQ
#define HDR VIRTIO_NET_HDR_LEN
#define ETH_HLEN 14
#define MAX_WIRE (HDR + 65536)

#define R false /* device-readable buffer */
#define W true /* device-writable buffer */

#define F(bit) VIRTIO_BIT(VIRTIO_NET_F_##bit)

/* What a Linux guest typically accepts. */
static const uint64_t feat_default = VIRTIO_BIT(VIRTIO_F_VERSION_1) | F(CSUM) | F(GUEST_CSUM) |
				     F(CTRL_GUEST_OFFLOADS) | F(MAC) | F(GUEST_TSO4) |
				     F(GUEST_TSO6) | F(HOST_TSO4) | F(HOST_TSO6) | F(MRG_RXBUF) |
				     F(STATUS) | F(CTRL_VQ) | F(CTRL_RX) | F(CTRL_MAC_ADDR);
static const uint64_t feat_event_idx = feat_default | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
static const uint64_t feat_no_mrg = feat_default & ~F(MRG_RXBUF);
static const uint64_t feat_no_gso = feat_default & ~(F(GUEST_TSO4) | F(GUEST_TSO6));

static const uint8_t own_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };
static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mcast_mac[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t mcast2_mac[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

/* A fake driver on one side, "the host network" on the other end of a socketpair. */
struct drv {
	struct fake_guest g;
	struct event_loop loop;
	struct virtio_net *net;
	struct virtio_dev *vdev;
	struct fake_vq vq[NR_QUEUES];
	struct fake_data data;
	struct fake_irqs irq;
	int dev_fd, host_fd;
	uint64_t features;
	uint64_t rx_gpa[VIRTIO_NET_QUEUE_SIZE]; /* per head, for single-buffer rx chains */
	unsigned int offload_calls;
	uint64_t offload_last;
	int offload_ret;
};

static int record_offload(void *opaque, uint64_t guest_features)
{
	struct drv *d = opaque;

	d->offload_calls++;
	d->offload_last = guest_features;
	return d->offload_ret;
}

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return fake_vq_used_idx(&d->vq[q]);
}

static bool needs_reset(struct drv *d)
{
	return virtio_dev_status(d->vdev) & VIRTIO_STATUS_NEEDS_RESET;
}

/* Would a Linux driver that just moved avail->idx of queue @q from @old kick? */
static bool driver_would_kick(struct drv *d, unsigned int q, uint16_t old)
{
	struct fake_vq *vq = &d->vq[q];

	if (d->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX)) {
		uint16_t ev = fake_vq_avail_event(vq);

		return (uint16_t)(vq->avail_idx - ev - 1) < (uint16_t)(vq->avail_idx - old);
	}
	return !(fake_vq_used_flags(vq) & VIRTQ_USED_F_NO_NOTIFY);
}

static struct virtio_net_stats stats(struct drv *d)
{
	struct virtio_net_stats s;

	virtio_net_get_stats(d->net, &s);
	return s;
}

static void negotiate(struct drv *d, uint64_t features)
{
	struct virtio_dev *vdev = d->vdev;
	static const uint16_t sizes[NR_QUEUES] = { VIRTIO_NET_QUEUE_SIZE, VIRTIO_NET_QUEUE_SIZE,
						   VIRTIO_NET_CTRL_QUEUE_SIZE };

	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_set_driver_features(vdev, 0, (uint32_t)features);
	virtio_dev_set_driver_features(vdev, 1, (uint32_t)(features >> 32));
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_dev_status(vdev) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		struct fake_vq *vq = &d->vq[q];

		fake_vq_init(vq, &d->g, 0x10000 + 0x10000 * (uint64_t)q, sizes[q]);
		fake_vq_clear(vq);
		assert_int_equal(
			virtio_dev_enable_queue(vdev, q, sizes[q], vq->desc, vq->avail, vq->used),
			0);
	}
}

static void driver_ok(struct drv *d)
{
	virtio_dev_set_status(d->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static void start(struct drv *d, uint64_t features)
{
	d->features = features;
	negotiate(d, features);
	driver_ok(d);
	assert_true(virtio_dev_status(d->vdev) & VIRTIO_STATUS_DRIVER_OK);
	assert_false(needs_reset(d));
}

static void device_reset(struct drv *d)
{
	virtio_dev_set_status(d->vdev, 0);
	assert_int_equal(virtio_dev_status(d->vdev), 0);
}

static struct drv *drv_new(void)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_net_backend be = { .set_offload = record_offload };
	struct error err = { 0 };
	int sv[2], big = 4 << 20;

	assert_non_null(d);
	fake_guest_init(&d->g, RAM);
	fake_data_init(&d->data, &d->g, DATA_GPA);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	d->dev_fd = sv[0];
	d->host_fd = sv[1];
	assert_int_equal(fcntl(d->dev_fd, F_SETFL, O_NONBLOCK), 0);
	/* A TAP never refuses a write for lack of room; keep the socket so too. */
	setsockopt(d->dev_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(d->host_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	be.fd = d->dev_fd;
	be.opaque = d;
	assert_int_equal(event_loop_init(&d->loop, "test", &err), 0);
	assert_int_equal(virtio_net_create(&d->net, "virtio-net test", own_mac, &be, &d->g.mem,
					   &d->loop, &err),
			 0);
	d->vdev = virtio_net_vdev(d->net);
	d->vdev->transport = fake_irqs_transport(&d->irq, NR_QUEUES);
	return d;
}

/* The initial state names the features to negotiate; NULL: do not start. */
static int setup(void **state)
{
	const uint64_t *features = *state;
	struct drv *d = drv_new();

	if (features)
		start(d, *features);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;

	virtio_net_destroy(d->net);
	event_loop_destroy(&d->loop);
	close(d->dev_fd);
	close(d->host_fd);
	fake_guest_free(&d->g);
	free(d);
	return 0;
}

/* Dispatch until nothing is ready; a device that keeps the loop busy fails. */
static void run_loop(struct drv *d)
{
	for (int i = 0; i < 1000; i++) {
		if (event_loop_run_once(&d->loop, 0) == 0)
			return;
	}
	fail_msg("the event loop never went idle (the device spins)");
}

static void kick(struct drv *d, unsigned int q)
{
	virtio_dev_kick(d->vdev, q);
}

static uint64_t alloc(struct drv *d, const void *data, uint32_t len)
{
	return fake_data_alloc(&d->data, data, len);
}

/* Header (zeroed, as a TAP hands it over) and Ethernet frame of @eth_len bytes. */
static size_t make_frame(uint8_t *buf, const uint8_t dst[6], size_t eth_len, uint8_t seed)
{
	assert_true(eth_len >= ETH_HLEN && HDR + eth_len <= MAX_WIRE);
	memset(buf, 0, HDR);
	memcpy(buf + HDR, dst, 6);
	memcpy(buf + HDR + 6, peer_mac, 6);
	buf[HDR + 12] = 0x08;
	buf[HDR + 13] = 0x00;
	for (size_t i = ETH_HLEN; i < eth_len; i++)
		buf[HDR + i] = (uint8_t)(seed + i * 7 + (i >> 8));
	return HDR + eth_len;
}

static void host_send(struct drv *d, const uint8_t *frame, size_t len)
{
	assert_int_equal(send(d->host_fd, frame, len, 0), (ssize_t)len);
}

/* Build and send one frame to @dst. */
static size_t host_send_to(struct drv *d, uint8_t *buf, const uint8_t dst[6], size_t eth_len,
			   uint8_t seed)
{
	size_t len = make_frame(buf, dst, eth_len, seed);

	host_send(d, buf, len);
	return len;
}

/* One frame the guest sent, or -1 when there is none. */
static ssize_t host_recv(struct drv *d, uint8_t *buf, size_t cap)
{
	return recv(d->host_fd, buf, cap, MSG_DONTWAIT);
}

/* Frames waiting for the device on the socket. */
static bool frame_waiting(struct drv *d)
{
	uint8_t b;

	return recv(d->dev_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

/* @n receive chains of one writable @len-byte buffer each; the first head. */
static uint16_t post_rx(struct drv *d, unsigned int n, uint32_t len)
{
	uint16_t first = d->vq[RXQ].next_desc;

	for (unsigned int i = 0; i < n; i++) {
		struct fake_buf b = { alloc(d, NULL, len), len, W };
		uint16_t head = fake_vq_post(&d->vq[RXQ], &b, 1);

		d->rx_gpa[head] = b.gpa;
	}
	return first;
}

/*
 * The next @nbufs used receive entries hold @frame, with num_buffers =
 * @nbufs; returns the head of the first.
 */
static uint16_t expect_rx(struct drv *d, const uint8_t *frame, size_t len, unsigned int nbufs)
{
	struct fake_vq *vq = &d->vq[RXQ];
	uint8_t *got = malloc(MAX_WIRE);
	uint16_t first = 0;
	size_t off = 0;

	assert_non_null(got);
	assert_in_range((uint16_t)(used_idx(d, RXQ) - vq->used_seen), nbufs, VIRTIO_NET_QUEUE_SIZE);
	for (unsigned int i = 0; i < nbufs; i++) {
		uint16_t head;
		uint32_t n = fake_vq_next_used(vq, &head);

		assert_true(head < VIRTIO_NET_QUEUE_SIZE && d->rx_gpa[head]);
		assert_true(off + n <= MAX_WIRE);
		if (i == 0)
			first = head;
		else
			assert_true(n > 0);
		memcpy(got + off, d->g.buf + d->rx_gpa[head], n);
		off += n;
	}
	assert_int_equal(off, len);
	assert_memory_equal(got, frame, VIRTIO_NET_HDR_NUM_BUFFERS_OFF);
	assert_int_equal(get_le16(got + VIRTIO_NET_HDR_NUM_BUFFERS_OFF), nbufs);
	assert_memory_equal(got + HDR, frame + HDR, len - HDR);
	free(got);
	return first;
}

/* Post @bufs on the transmit queue and kick. */
static uint16_t post_tx(struct drv *d, const struct fake_buf *bufs, unsigned int n)
{
	uint16_t head = fake_vq_post(&d->vq[TXQ], bufs, n);

	kick(d, TXQ);
	return head;
}

/* A control command with @len bytes of data; the ack the device wrote. */
static uint8_t ctrl(struct drv *d, uint8_t class, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t hdr[2] = { class, cmd };
	struct fake_buf b[3];
	unsigned int n = 0;
	uint16_t before = used_idx(d, CTRLQ), head, used_head, old;
	uint64_t ack;

	b[n++] = (struct fake_buf){ alloc(d, hdr, 2), 2, R };
	if (len)
		b[n++] = (struct fake_buf){ alloc(d, data, len), len, R };
	ack = alloc(d, NULL, 1);
	b[n++] = (struct fake_buf){ ack, 1, W };
	old = d->vq[CTRLQ].avail_idx;
	head = fake_vq_post(&d->vq[CTRLQ], b, n);
	/* Like Linux: no kick unless the device asked for one. */
	if (driver_would_kick(d, CTRLQ, old))
		kick(d, CTRLQ);
	assert_false(needs_reset(d));
	assert_int_equal(used_idx(d, CTRLQ), (uint16_t)(before + 1));
	assert_int_equal(fake_vq_next_used(&d->vq[CTRLQ], &used_head), 1);
	assert_int_equal(used_head, head);
	return d->g.buf[ack];
}

static uint8_t ctrl_rx(struct drv *d, uint8_t cmd, uint8_t on)
{
	return ctrl(d, VIRTIO_NET_CTRL_RX, cmd, &on, 1);
}

/* MAC_TABLE_SET with @nuc unicast and @nmc multicast entries. */
static uint8_t ctrl_mac_tables(struct drv *d, const uint8_t (*uc)[6], uint32_t nuc,
			       const uint8_t (*mc)[6], uint32_t nmc)
{
	size_t len = 8 + 6 * (size_t)(nuc + nmc);
	uint8_t *buf = malloc(len), ack;

	assert_non_null(buf);
	put_le32(buf, nuc);
	if (nuc)
		memcpy(buf + 4, uc, 6 * (size_t)nuc);
	put_le32(buf + 4 + 6 * nuc, nmc);
	if (nmc)
		memcpy(buf + 8 + 6 * nuc, mc, 6 * (size_t)nmc);
	ack = ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, (uint32_t)len);
	free(buf);
	return ack;
}

static void config_read(struct drv *d, uint8_t cfg[VIRTIO_NET_CONFIG_SIZE])
{
	d->vdev->ops->config_read(d->vdev, 0, cfg, VIRTIO_NET_CONFIG_SIZE);
}

/* ---- identity, config space, offloads ---- */

static void test_config_and_features(void **state)
{
	struct drv *d = *state;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
	static const unsigned int offered[] = {
		VIRTIO_NET_F_MRG_RXBUF,	 VIRTIO_NET_F_CTRL_VQ,	  VIRTIO_NET_F_CTRL_RX,
		VIRTIO_NET_F_CSUM,	 VIRTIO_NET_F_HOST_TSO4,  VIRTIO_NET_F_HOST_TSO6,
		VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_STATUS,
		VIRTIO_NET_F_MAC,	 VIRTIO_F_VERSION_1,
	};

	assert_int_equal(d->vdev->device_id, VIRTIO_ID_NET);
	assert_int_equal(d->vdev->nr_queues, 3);
	assert_int_equal(d->vdev->config_size, VIRTIO_NET_CONFIG_SIZE);
	for (size_t i = 0; i < sizeof(offered) / sizeof(offered[0]); i++) {
		if (!(d->vdev->device_features & VIRTIO_BIT(offered[i])))
			fail_msg("feature bit %u not offered", offered[i]);
	}
	/* One queue pair only. */
	assert_false(d->vdev->device_features & F(MQ));
	config_read(d, cfg);
	assert_memory_equal(cfg + VIRTIO_NET_CFG_MAC, own_mac, 6);
	assert_int_equal(get_le16(cfg + VIRTIO_NET_CFG_STATUS), VIRTIO_NET_S_LINK_UP);
	assert_int_equal(get_le16(cfg + VIRTIO_NET_CFG_MAX_VQ_PAIRS), 1);
	/* Partial reads, as a driver reading byte by byte does. */
	for (uint32_t off = 0; off < VIRTIO_NET_CONFIG_SIZE; off++) {
		uint8_t b = 0x5a;

		d->vdev->ops->config_read(d->vdev, off, &b, 1);
		assert_int_equal(b, cfg[off]);
	}
}

static void test_offload_on_start_and_reset(void **state)
{
	struct drv *d = *state;
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | F(MRG_RXBUF) | F(CSUM) | F(HOST_TSO4) |
		     F(GUEST_CSUM) | F(GUEST_TSO4) | F(MAC);

	assert_int_equal(d->offload_calls, 0);
	negotiate(d, f);
	assert_int_equal(d->offload_calls, 0); /* not before DRIVER_OK */
	driver_ok(d);
	assert_int_equal(d->offload_calls, 1);
	assert_int_equal(d->offload_last, F(GUEST_CSUM) | F(GUEST_TSO4));

	device_reset(d);
	assert_int_equal(d->offload_calls, 2);
	assert_int_equal(d->offload_last, 0);

	/* A new driver with other offloads. */
	start(d, feat_default | F(GUEST_ECN));
	assert_int_equal(d->offload_calls, 3);
	assert_int_equal(d->offload_last,
			 F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_ECN));

	/* No offloads at all. */
	device_reset(d);
	start(d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | F(MAC));
	assert_int_equal(d->offload_last, 0);
	assert_int_equal(d->offload_calls, 5);
}

/* A backend that refuses the offloads: the device cannot run. */
static void test_offload_failure_fails_start(void **state)
{
	struct drv *d = *state;

	d->offload_ret = -EINVAL;
	negotiate(d, feat_default);
	driver_ok(d);
	assert_true(needs_reset(d));
	d->offload_ret = 0;
	device_reset(d);
	start(d, feat_default);
}

/* ---- transmit ---- */

static void test_tx_split_chain(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 200], got[512];
	size_t len = make_frame(frame, peer_mac, 200, 3);
	struct fake_buf b[4];
	struct virtio_net_stats s;
	uint16_t head, used_head;

	frame[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM; /* the header goes out as it is */
	put_le16(frame + 6, 34);
	put_le16(frame + 8, 16);
	/* Header alone, then the frame in three uneven parts. */
	b[0] = (struct fake_buf){ alloc(d, frame, HDR), HDR, R };
	b[1] = (struct fake_buf){ alloc(d, frame + HDR, 5), 5, R };
	b[2] = (struct fake_buf){ alloc(d, frame + HDR + 5, 100), 100, R };
	b[3] = (struct fake_buf){ alloc(d, frame + HDR + 105, 95), 95, R };
	assert_int_equal(host_recv(d, got, sizeof(got)), -1);
	head = post_tx(d, b, 4);
	assert_int_equal(host_recv(d, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, frame, len);
	assert_int_equal(host_recv(d, got, sizeof(got)), -1); /* one frame, one message */
	assert_int_equal(used_idx(d, TXQ), 1);
	assert_int_equal(fake_vq_next_used(&d->vq[TXQ], &used_head), 0);
	assert_int_equal(used_head, head);
	assert_int_equal(d->irq.queue[TXQ], 1);
	s = stats(d);
	assert_int_equal(s.tx_packets, 1);
	assert_int_equal(s.tx_bytes, 200);
	assert_int_equal(s.tx_dropped, 0);

	/* Header and frame in one buffer. */
	len = make_frame(frame, bcast_mac, 60, 9);
	b[0] = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
	post_tx(d, b, 1);
	assert_int_equal(host_recv(d, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, frame, len);
	s = stats(d);
	assert_int_equal(s.tx_packets, 2);
	assert_int_equal(s.tx_bytes, 260);
	assert_int_equal(used_idx(d, TXQ), 2);
}

static void test_tx_short_dropped(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 100], got[256];
	size_t len;
	struct fake_buf b[2];
	struct virtio_net_stats s;

	/* One byte short of a header and an Ethernet header; header only. */
	make_frame(frame, peer_mac, ETH_HLEN, 1);
	b[0] = (struct fake_buf){ alloc(d, frame, HDR + ETH_HLEN - 1), HDR + ETH_HLEN - 1, R };
	post_tx(d, b, 1);
	b[0] = (struct fake_buf){ alloc(d, frame, HDR), HDR, R };
	post_tx(d, b, 1);
	b[0] = (struct fake_buf){ alloc(d, frame, 4), 4, R };
	b[1] = (struct fake_buf){ alloc(d, frame + 4, 4), 4, R };
	post_tx(d, b, 2);
	assert_int_equal(host_recv(d, got, sizeof(got)), -1);
	assert_int_equal(used_idx(d, TXQ), 3); /* returned all the same */
	s = stats(d);
	assert_int_equal(s.tx_dropped, 3);
	assert_int_equal(s.tx_packets, 0);
	assert_false(needs_reset(d));

	/* The shortest acceptable frame still goes out. */
	len = make_frame(frame, peer_mac, ETH_HLEN, 2);
	b[0] = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
	post_tx(d, b, 1);
	assert_int_equal(host_recv(d, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, frame, len);
	s = stats(d);
	assert_int_equal(s.tx_packets, 1);
	assert_int_equal(s.tx_dropped, 3);
}

/* Longer than any frame the backend takes: dropped and returned. */
static void test_tx_too_long(void **state)
{
	struct drv *d = *state;
	uint8_t *frame = malloc(MAX_WIRE), *big = malloc(MAX_WIRE), got[256];
	size_t len;
	struct fake_buf b[2];
	struct virtio_net_stats s;

	assert_true(frame && big);
	make_frame(frame, peer_mac, MAX_WIRE - HDR, 1);
	b[0] = (struct fake_buf){ alloc(d, frame, 40000), 40000, R };
	b[1] = (struct fake_buf){ alloc(d, frame, 40000), 40000, R };
	post_tx(d, b, 2);
	assert_int_equal(host_recv(d, got, sizeof(got)), -1);
	assert_int_equal(used_idx(d, TXQ), 1);
	s = stats(d);
	assert_int_equal(s.tx_dropped, 1);
	assert_int_equal(s.tx_packets, 0);
	assert_false(needs_reset(d));

	/* A 64 KiB GSO frame is fine. */
	len = make_frame(frame, peer_mac, 65536, 2);
	frame[1] = VIRTIO_NET_HDR_GSO_TCPV6;
	b[0] = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
	post_tx(d, b, 1);
	assert_int_equal(host_recv(d, big, MAX_WIRE), (ssize_t)len);
	assert_memory_equal(big, frame, len);
	assert_int_equal(stats(d).tx_packets, 1);
	free(big);
	free(frame);
}

/* The backend refuses a frame (here: too big for the socket): counted, the device goes on. */
static void test_tx_backend_error(void **state)
{
	struct drv *d = *state;
	uint8_t *frame = malloc(MAX_WIRE), got[256];
	int small = 4096;
	size_t len;
	struct fake_buf b;
	struct virtio_net_stats s;

	assert_non_null(frame);
	assert_int_equal(setsockopt(d->dev_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	len = make_frame(frame, peer_mac, 60000, 1);
	b = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
	post_tx(d, &b, 1);
	assert_int_equal(used_idx(d, TXQ), 1);
	s = stats(d);
	assert_int_equal(s.tx_errors, 1);
	assert_int_equal(s.tx_packets, 0);
	assert_false(needs_reset(d));
	assert_int_equal(host_recv(d, got, sizeof(got)), -1);

	len = make_frame(frame, peer_mac, 100, 2);
	b = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
	post_tx(d, &b, 1);
	assert_int_equal(host_recv(d, got, sizeof(got)), (ssize_t)len);
	assert_int_equal(stats(d).tx_packets, 1);
	free(frame);
}

/* A broken transmit ring: NEEDS_RESET, nothing sent; a reset brings it back. */
static void tx_malformed(struct drv *d, bool loop)
{
	uint8_t frame[HDR + 64], got[256];
	size_t len = make_frame(frame, peer_mac, 64, 5);
	uint64_t gpa = alloc(d, frame, (uint32_t)len);
	struct fake_buf b = { gpa, (uint32_t)len, R };

	if (loop) {
		/* 0 -> 1 -> 0 */
		fake_vq_put_desc(&d->vq[TXQ], 0, gpa, 8, VIRTQ_DESC_F_NEXT, 1);
		fake_vq_put_desc(&d->vq[TXQ], 1, gpa + 8, 8, VIRTQ_DESC_F_NEXT, 0);
		fake_vq_publish(&d->vq[TXQ], 0);
	} else {
		fake_vq_publish(&d->vq[TXQ], VIRTIO_NET_QUEUE_SIZE + 44);
	}
	kick(d, TXQ);
	assert_true(needs_reset(d));
	assert_int_equal(d->irq.config, 1);
	assert_int_equal(used_idx(d, TXQ), 0);
	assert_int_equal(host_recv(d, got, sizeof(got)), -1);

	device_reset(d);
	start(d, feat_default);
	gpa = alloc(d, frame, (uint32_t)len);
	b.gpa = gpa;
	post_tx(d, &b, 1);
	assert_int_equal(host_recv(d, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, frame, len);
	assert_int_equal(used_idx(d, TXQ), 1);
}

static void test_tx_descriptor_loop(void **state)
{
	tx_malformed(*state, true);
}

static void test_tx_head_out_of_range(void **state)
{
	tx_malformed(*state, false);
}

static void test_tx_buffer_outside_ram(void **state)
{
	struct drv *d = *state;
	struct fake_buf b = { RAM - 16, 64, R };

	post_tx(d, &b, 1);
	assert_true(needs_reset(d));
	assert_int_equal(used_idx(d, TXQ), 0);
}

/*
 * More chains than one wakeup's budget: the rest goes out when the loop runs
 * again, though the driver (told not to kick) does not kick.
 */
static void test_tx_flood(void **state)
{
	struct drv *d = *state;
	struct fake_vq *vq = &d->vq[TXQ];
	const unsigned int total = VIRTIO_NET_QUEUE_SIZE + 44;
	uint8_t frame[HDR + 80], got[256];
	size_t len;
	unsigned int sent = 0, received = 0;
	uint16_t old;
	struct virtio_net_stats s;

	/* A full ring at once... */
	for (; sent < VIRTIO_NET_QUEUE_SIZE; sent++) {
		struct fake_buf b;

		len = make_frame(frame, peer_mac, 80, (uint8_t)sent);
		b = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
		fake_vq_post(vq, &b, 1);
	}
	kick(d, TXQ);
	assert_false(needs_reset(d));
	/* ...then more behind it, in the descriptors the device returned. */
	while ((uint16_t)(used_idx(d, TXQ) - vq->used_seen) > 0 && sent < total) {
		struct fake_buf b;

		fake_vq_next_used(vq, NULL);
		len = make_frame(frame, peer_mac, 80, (uint8_t)sent);
		b = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
		old = vq->avail_idx;
		fake_vq_post(vq, &b, 1);
		sent++;
		/* The device said it is still draining: a driver does not kick. */
		assert_false(driver_would_kick(d, TXQ, old));
	}
	assert_int_equal(sent, total);
	run_loop(d);
	assert_false(needs_reset(d));
	while (host_recv(d, got, sizeof(got)) > 0) {
		make_frame(frame, peer_mac, 80, (uint8_t)received);
		if (memcmp(got, frame, HDR + 80))
			fail_msg("frame %u out of order or corrupted", received);
		received++;
	}
	assert_int_equal(received, total);
	assert_int_equal(used_idx(d, TXQ), (uint16_t)total);
	s = stats(d);
	assert_int_equal(s.tx_packets, total);
	assert_int_equal(s.tx_errors, 0);
	assert_int_equal(s.tx_dropped, 0);
	/* Drained: the next chain is kicked and goes out. */
	{
		struct fake_buf b;

		len = make_frame(frame, peer_mac, 80, 0x77);
		b = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
		old = vq->avail_idx;
		fake_vq_post(vq, &b, 1);
		assert_true(driver_would_kick(d, TXQ, old));
		kick(d, TXQ);
		assert_int_equal(host_recv(d, got, sizeof(got)), (ssize_t)len);
		assert_memory_equal(got, frame, len);
	}
}

/* ---- receive ---- */

static void test_rx_small_mrg(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 1514];
	size_t len;
	uint16_t first = post_rx(d, 8, 4096);
	struct virtio_net_stats s;

	kick(d, RXQ);
	assert_int_equal(used_idx(d, RXQ), 0);
	len = host_send_to(d, frame, own_mac, 60, 1);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), first);
	assert_int_equal(fake_vq_used_len(&d->vq[RXQ], 0), len);
	/* Not a byte past the frame. */
	assert_int_equal(d->g.buf[d->rx_gpa[first] + len], 0xee);
	assert_int_equal(d->irq.queue[RXQ], 1);
	s = stats(d);
	assert_int_equal(s.rx_packets, 1);
	assert_int_equal(s.rx_bytes, 60);

	/* The next one takes the next buffer. */
	len = host_send_to(d, frame, bcast_mac, 1514, 2);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), (uint16_t)(first + 1));
	assert_false(frame_waiting(d));
}

static void test_rx_large_mrg(void **state)
{
	struct drv *d = *state;
	const size_t eth_len = 60 * 1024;
	uint8_t *frame = malloc(MAX_WIRE), small[HDR + 100];
	size_t len;
	uint16_t first;
	struct virtio_net_stats s;

	assert_non_null(frame);
	first = post_rx(d, 20, 4096);
	kick(d, RXQ);
	/* A GSO frame: its header reaches the guest as the host wrote it. */
	len = make_frame(frame, own_mac, eth_len, 7);
	frame[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	frame[1] = VIRTIO_NET_HDR_GSO_TCPV4;
	put_le16(frame + 2, 54);
	put_le16(frame + 4, 1448);
	put_le16(frame + 6, 34);
	put_le16(frame + 8, 16);
	host_send(d, frame, len);
	run_loop(d);
	/* 61452 bytes over 4 KiB buffers: 16 of them, the last partly. */
	assert_int_equal(expect_rx(d, frame, len, (len + 4095) / 4096), first);
	for (uint16_t i = 0; i < 15; i++)
		assert_int_equal(fake_vq_used_len(&d->vq[RXQ], i), 4096);
	assert_int_equal(fake_vq_used_len(&d->vq[RXQ], 15), len - 15 * 4096);
	s = stats(d);
	assert_int_equal(s.rx_packets, 1);
	assert_int_equal(s.rx_bytes, eth_len);
	assert_int_equal(s.rx_dropped, 0);

	/* The remaining four buffers serve the next frame. */
	len = host_send_to(d, small, own_mac, 100, 8);
	run_loop(d);
	assert_int_equal(expect_rx(d, small, len, 1), (uint16_t)(first + 16));
	free(frame);
}

/* A frame longer than the buffers at hand waits for more, and is not dropped. */
static void test_rx_spill_waits(void **state)
{
	struct drv *d = *state;
	const size_t eth_len = 60 * 1024;
	uint8_t *frame = malloc(MAX_WIRE), small[HDR + 100];
	size_t len, small_len;
	uint16_t first, old;
	struct virtio_net_stats s;

	assert_non_null(frame);
	first = post_rx(d, 4, 4096);
	kick(d, RXQ);
	len = host_send_to(d, frame, own_mac, eth_len, 11);
	small_len = host_send_to(d, small, own_mac, 100, 12);
	run_loop(d);
	/* Nothing handed back yet: the frame's head is held in the 4 buffers. */
	assert_int_equal(used_idx(d, RXQ), 0);
	s = stats(d);
	assert_int_equal(s.rx_dropped, 0);
	assert_int_equal(s.rx_packets, 0);
	assert_false(needs_reset(d));

	/* Still not enough. */
	old = d->vq[RXQ].avail_idx;
	post_rx(d, 4, 4096);
	assert_true(driver_would_kick(d, RXQ, old));
	kick(d, RXQ);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 0);

	/* Enough now: the frame completes, then the small one behind it. */
	old = d->vq[RXQ].avail_idx;
	post_rx(d, 10, 4096);
	assert_true(driver_would_kick(d, RXQ, old));
	kick(d, RXQ);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 16), first);
	assert_int_equal(expect_rx(d, small, small_len, 1), (uint16_t)(first + 16));
	s = stats(d);
	assert_int_equal(s.rx_packets, 2);
	assert_int_equal(s.rx_bytes, eth_len + 100);
	assert_int_equal(s.rx_dropped, 0);
	assert_true(d->irq.queue[RXQ] >= 1);
	free(frame);
}

/* No buffers: the frame stays in the backend and the loop goes idle. */
static void test_rx_no_buffers_no_spin(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 300];
	size_t len = host_send_to(d, frame, own_mac, 300, 21);
	uint16_t old, first;

	/* The device may look once, then must stop watching. */
	event_loop_run_once(&d->loop, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(event_loop_run_once(&d->loop, i ? 0 : 20), 0);
	assert_true(frame_waiting(d));
	assert_int_equal(used_idx(d, RXQ), 0);
	assert_int_equal(stats(d).rx_dropped, 0);

	/* Buffers, and the kick the driver was asked for. */
	old = d->vq[RXQ].avail_idx;
	first = post_rx(d, 2, 2048);
	assert_true(driver_would_kick(d, RXQ, old));
	kick(d, RXQ);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), first);
	assert_false(frame_waiting(d));
}

/* Later frames are read as they arrive once buffers are there. */
static void test_rx_after_buffers_used_up(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 100];
	size_t len;

	post_rx(d, 1, 2048);
	kick(d, RXQ);
	len = host_send_to(d, frame, own_mac, 100, 1);
	run_loop(d);
	expect_rx(d, frame, len, 1);
	len = host_send_to(d, frame, own_mac, 100, 2);
	run_loop(d);
	assert_true(frame_waiting(d));
	post_rx(d, 1, 2048);
	kick(d, RXQ);
	run_loop(d);
	expect_rx(d, frame, len, 1);
	len = host_send_to(d, frame, own_mac, 100, 3);
	run_loop(d);
	assert_true(frame_waiting(d));
}

/* More frames than one wakeup's budget, all delivered in order. */
static void test_rx_flood(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 100];
	const unsigned int n = 150;
	size_t len = 0;

	post_rx(d, 200, 256);
	kick(d, RXQ);
	for (unsigned int i = 0; i < n; i++)
		host_send_to(d, frame, own_mac, 100, (uint8_t)i);
	run_loop(d);
	for (unsigned int i = 0; i < n; i++) {
		len = make_frame(frame, own_mac, 100, (uint8_t)i);
		expect_rx(d, frame, len, 1);
	}
	assert_int_equal(stats(d).rx_packets, n);
	assert_false(frame_waiting(d));
}

static void test_rx_no_mrg(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 1514];
	size_t len;
	uint16_t first = post_rx(d, 2, HDR + 1514), head;
	struct fake_buf chain[3];
	uint64_t got;

	kick(d, RXQ);
	len = host_send_to(d, frame, own_mac, 1514, 4);
	run_loop(d);
	/* num_buffers is 1 without MRG_RXBUF too (5.1.6.4). */
	assert_int_equal(expect_rx(d, frame, len, 1), first);
	len = host_send_to(d, frame, bcast_mac, 60, 5);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), (uint16_t)(first + 1));

	/* One chain of several writable buffers holds one frame. */
	chain[0] = (struct fake_buf){ alloc(d, NULL, HDR), HDR, W };
	chain[1] = (struct fake_buf){ alloc(d, NULL, 100), 100, W };
	chain[2] = (struct fake_buf){ alloc(d, NULL, 2000), 2000, W };
	head = fake_vq_post(&d->vq[RXQ], chain, 3);
	kick(d, RXQ);
	len = host_send_to(d, frame, own_mac, 500, 6);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 3);
	assert_int_equal(fake_vq_used_id(&d->vq[RXQ], 2), head);
	assert_int_equal(fake_vq_used_len(&d->vq[RXQ], 2), len);
	got = chain[0].gpa;
	assert_memory_equal(d->g.buf + got, frame, 10);
	assert_int_equal(g16(&d->g, got + 10), 1);
	assert_memory_equal(d->g.buf + chain[1].gpa, frame + HDR, 100);
	assert_memory_equal(d->g.buf + chain[2].gpa, frame + HDR + 100, len - HDR - 100);
	assert_int_equal(d->g.buf[chain[2].gpa + len - HDR - 100], 0xee);
}

static void test_rx_no_mrg_too_big(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 2000];
	size_t len;
	uint16_t first = post_rx(d, 1, HDR + 1000);
	struct virtio_net_stats s;

	kick(d, RXQ);
	host_send_to(d, frame, own_mac, 1001, 1);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 0);
	s = stats(d);
	assert_int_equal(s.rx_dropped, 1);
	assert_int_equal(s.rx_packets, 0);
	assert_false(needs_reset(d));
	assert_false(frame_waiting(d));

	/* The buffer it did not fit serves the next frame. */
	len = host_send_to(d, frame, own_mac, 1000, 2);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), first);
	s = stats(d);
	assert_int_equal(s.rx_dropped, 1);
	assert_int_equal(s.rx_packets, 1);
}

/* A frame shorter than a header and an Ethernet header is not delivered. */
static void test_rx_runt(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 100];
	size_t len;
	uint16_t first = post_rx(d, 2, 2048);

	kick(d, RXQ);
	make_frame(frame, own_mac, ETH_HLEN, 0);
	host_send(d, frame, HDR + ETH_HLEN - 1);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 0);
	assert_false(frame_waiting(d));
	len = host_send_to(d, frame, own_mac, ETH_HLEN, 1);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), first);
	assert_int_equal(stats(d).rx_packets, 1);
}

/* Dispatch a few times, without requiring the loop to go idle. */
static void pump(struct drv *d)
{
	for (int i = 0; i < 10; i++)
		event_loop_run_once(&d->loop, 0);
}

static void rx_hostile(struct drv *d, const struct fake_buf *bufs, unsigned int n)
{
	uint8_t frame[HDR + 100], f2[HDR + 100];
	size_t len;

	fake_vq_post(&d->vq[RXQ], bufs, n);
	kick(d, RXQ);
	host_send_to(d, frame, own_mac, 100, 1);
	pump(d);
	assert_true(needs_reset(d));
	assert_int_equal(d->irq.config, 1);
	assert_int_equal(used_idx(d, RXQ), 0);
	assert_int_equal(stats(d).rx_packets, 0);

	/* A reset and a sane driver bring it back. */
	device_reset(d);
	start(d, d->features);
	post_rx(d, 2, 2048);
	kick(d, RXQ);
	len = host_send_to(d, f2, own_mac, 80, 2);
	run_loop(d);
	/* The frame sent before the failure may or may not have been read. */
	if (used_idx(d, RXQ) == 2)
		expect_rx(d, frame, HDR + 100, 1);
	expect_rx(d, f2, len, 1);
}

static void test_rx_readable_buffer(void **state)
{
	struct drv *d = *state;
	struct fake_buf b[2] = {
		{ alloc(d, NULL, 64), 64, R },
		{ alloc(d, NULL, 2048), 2048, W },
	};

	rx_hostile(d, b, 2);
}

static void test_rx_buffer_below_header(void **state)
{
	struct drv *d = *state;
	struct fake_buf b = { alloc(d, NULL, HDR - 1), HDR - 1, W };

	rx_hostile(d, &b, 1);
}

static void test_rx_buffer_outside_ram(void **state)
{
	struct drv *d = *state;
	struct fake_buf b = { RAM - 100, 2048, W };

	rx_hostile(d, &b, 1);
}

/* Buffers too small for a large frame even all together: dropped, not stuck. */
static void test_rx_tiny_buffers(void **state)
{
	struct drv *d = *state;
	uint8_t *frame = malloc(MAX_WIRE);
	size_t len;
	uint16_t first = d->vq[RXQ].next_desc;
	struct virtio_net_stats s;

	assert_non_null(frame);
	for (unsigned int i = 0; i < 200; i++) {
		uint32_t blen = HDR + i % 9;
		struct fake_buf b = { alloc(d, NULL, blen), blen, W };
		uint16_t head = fake_vq_post(&d->vq[RXQ], &b, 1);

		d->rx_gpa[head] = b.gpa;
	}
	kick(d, RXQ);
	host_send_to(d, frame, own_mac, 60 * 1024, 3);
	run_loop(d);
	s = stats(d);
	assert_int_equal(s.rx_dropped, 1);
	assert_int_equal(s.rx_packets, 0);
	assert_false(needs_reset(d));
	assert_int_equal(used_idx(d, RXQ), 0);
	assert_false(frame_waiting(d));

	/* The buffers are still the device's, and serve a small frame. */
	len = host_send_to(d, frame, own_mac, 20, 4);
	run_loop(d);
	/* 32 bytes over buffers of 12, 13, 14 bytes. */
	assert_int_equal(expect_rx(d, frame, len, 3), first);
	assert_int_equal(stats(d).rx_packets, 1);
	free(frame);
}

/* ---- control queue ---- */

/* Deliver one frame to @dst if the filter accepts it; true if it did. */
static bool rx_one(struct drv *d, const uint8_t dst[6], uint8_t seed)
{
	uint8_t frame[HDR + 64];
	uint16_t before = used_idx(d, RXQ);
	size_t len = host_send_to(d, frame, dst, 64, seed);

	run_loop(d);
	assert_false(frame_waiting(d));
	if (used_idx(d, RXQ) == before)
		return false;
	expect_rx(d, frame, len, 1);
	return true;
}

static void test_ctrl_unicast_filter(void **state)
{
	struct drv *d = *state;
	uint8_t frame[HDR + 64];
	size_t len;
	uint16_t first = post_rx(d, 16, 2048);
	struct virtio_net_stats s;

	kick(d, RXQ);
	/* Promiscuous until the driver says otherwise. */
	assert_true(rx_one(d, other_mac, 1));
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	assert_int_equal(ctrl_mac_tables(d, NULL, 0, NULL, 0), VIRTIO_NET_OK);

	host_send_to(d, frame, other_mac, 64, 2);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 1);
	s = stats(d);
	assert_int_equal(s.rx_filtered, 1);
	assert_false(frame_waiting(d));
	/* The filtered frame took no buffer: the next one gets the second. */
	len = host_send_to(d, frame, own_mac, 64, 3);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), (uint16_t)(first + 1));
	assert_true(rx_one(d, bcast_mac, 4));
	assert_false(rx_one(d, mcast_mac, 5));

	/* A unicast entry in the table is accepted. */
	assert_int_equal(ctrl_mac_tables(d, &other_mac, 1, NULL, 0), VIRTIO_NET_OK);
	assert_true(rx_one(d, other_mac, 6));
	assert_false(rx_one(d, peer_mac, 7));
	s = stats(d);
	assert_int_equal(s.rx_filtered, 3);
	assert_int_equal(s.rx_packets, 4);

	/* Promiscuous again. */
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 1), VIRTIO_NET_OK);
	assert_true(rx_one(d, peer_mac, 8));
	assert_true(rx_one(d, mcast2_mac, 9));
	assert_int_equal(stats(d).ctrl_errors, 0);
}

static void test_ctrl_multicast_filter(void **state)
{
	struct drv *d = *state;

	post_rx(d, 32, 2048);
	kick(d, RXQ);
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	assert_false(rx_one(d, mcast_mac, 1));
	assert_true(rx_one(d, bcast_mac, 2));

	assert_int_equal(ctrl_mac_tables(d, NULL, 0, &mcast_mac, 1), VIRTIO_NET_OK);
	assert_true(rx_one(d, mcast_mac, 3));
	assert_false(rx_one(d, mcast2_mac, 4));
	/* A multicast entry does not open unicast. */
	assert_false(rx_one(d, other_mac, 5));

	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_ALLMULTI, 1), VIRTIO_NET_OK);
	assert_true(rx_one(d, mcast2_mac, 6));
	assert_false(rx_one(d, other_mac, 7));
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_ALLMULTI, 0), VIRTIO_NET_OK);
	assert_false(rx_one(d, mcast2_mac, 8));
	assert_true(rx_one(d, own_mac, 9));

	/* A new table replaces the old one. */
	assert_int_equal(ctrl_mac_tables(d, NULL, 0, &mcast2_mac, 1), VIRTIO_NET_OK);
	assert_false(rx_one(d, mcast_mac, 10));
	assert_true(rx_one(d, mcast2_mac, 11));
	assert_int_equal(stats(d).rx_filtered, 6);
}

/* A table longer than the device keeps accepts every address of its kind. */
static void test_ctrl_table_overflow(void **state)
{
	struct drv *d = *state;
	const uint32_t n = VIRTIO_NET_MAC_TABLE_MAX + 1;
	uint8_t(*table)[6] = calloc(n, 6);

	assert_non_null(table);
	for (uint32_t i = 0; i < n; i++) {
		table[i][0] = 0x02;
		table[i][5] = (uint8_t)i;
	}
	post_rx(d, 32, 2048);
	kick(d, RXQ);
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	assert_int_equal(ctrl_mac_tables(d, table, n, NULL, 0), VIRTIO_NET_OK);
	assert_true(rx_one(d, other_mac, 1));
	assert_true(rx_one(d, peer_mac, 2));
	assert_false(rx_one(d, mcast_mac, 3));

	/* Exactly the maximum is kept as a table. */
	assert_int_equal(ctrl_mac_tables(d, table, n - 1, NULL, 0), VIRTIO_NET_OK);
	assert_false(rx_one(d, other_mac, 4));
	assert_true(rx_one(d, table[n - 2], 5));
	assert_false(rx_one(d, table[n - 1], 6));

	/* The same for multicast. */
	for (uint32_t i = 0; i < n; i++)
		table[i][0] = 0x03;
	assert_int_equal(ctrl_mac_tables(d, NULL, 0, table, n), VIRTIO_NET_OK);
	assert_true(rx_one(d, mcast_mac, 7));
	assert_true(rx_one(d, mcast2_mac, 8));
	assert_false(rx_one(d, other_mac, 9));
	assert_int_equal(stats(d).ctrl_errors, 0);
	free(table);
}

static void test_ctrl_mac_addr_set(void **state)
{
	struct drv *d = *state;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];

	post_rx(d, 16, 2048);
	kick(d, RXQ);
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other_mac, 6),
			 VIRTIO_NET_OK);
	config_read(d, cfg);
	assert_memory_equal(cfg + VIRTIO_NET_CFG_MAC, other_mac, 6);
	assert_true(rx_one(d, other_mac, 1));
	assert_false(rx_one(d, own_mac, 2));

	/* Too short an address: refused, nothing changes. */
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, peer_mac, 5),
			 VIRTIO_NET_ERR);
	config_read(d, cfg);
	assert_memory_equal(cfg + VIRTIO_NET_CFG_MAC, other_mac, 6);
	assert_int_equal(stats(d).ctrl_errors, 1);
}

static void test_ctrl_errors(void **state)
{
	struct drv *d = *state;
	uint8_t on = 1, buf[4 + 12 + 4];
	static const uint8_t two[2][6] = { { 0x02, 0, 0, 0, 0, 1 }, { 0x02, 0, 0, 0, 0, 2 } };

	assert_int_equal(ctrl(d, 99, 0, &on, 1), VIRTIO_NET_ERR);
	assert_int_equal(stats(d).ctrl_errors, 1);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_RX, 77, &on, 1), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, 77, &on, 1), VIRTIO_NET_ERR);
	/* PROMISC without its byte. */
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, NULL, 0),
			 VIRTIO_NET_ERR);
	assert_int_equal(stats(d).ctrl_errors, 4);

	/* The unicast count says 5, the data holds 2. */
	put_le32(buf, 5);
	memcpy(buf + 4, two, 12);
	put_le32(buf + 16, 0);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, 20),
			 VIRTIO_NET_ERR);
	/* Unicast table right, multicast table missing. */
	put_le32(buf, 2);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, 16),
			 VIRTIO_NET_ERR);
	/* A count that would overflow 32-bit arithmetic. */
	put_le32(buf, 0xffffffffu);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, 20),
			 VIRTIO_NET_ERR);
	assert_int_equal(stats(d).ctrl_errors, 7);

	/* A refused table changes nothing, not even the half that parsed. */
	post_rx(d, 4, 2048);
	kick(d, RXQ);
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	put_le32(buf, 2);
	put_le32(buf + 16, 7);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, buf, 20),
			 VIRTIO_NET_ERR);
	assert_false(rx_one(d, two[0], 1));
	assert_int_equal(stats(d).ctrl_errors, 8);
	assert_false(needs_reset(d));
}

/* Without CTRL_RX negotiated, filter commands are refused. */
static void test_ctrl_rx_not_negotiated(void **state)
{
	struct drv *d = *state;

	device_reset(d);
	start(d, feat_default & ~(F(CTRL_RX) | F(CTRL_MAC_ADDR) | F(CTRL_GUEST_OFFLOADS)));
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_ERR);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other_mac, 6),
			 VIRTIO_NET_ERR);
	post_rx(d, 2, 2048);
	kick(d, RXQ);
	assert_true(rx_one(d, peer_mac, 1));
}

static void ctrl_broken(struct drv *d, const struct fake_buf *b, unsigned int n)
{
	fake_vq_post(&d->vq[CTRLQ], b, n);
	kick(d, CTRLQ);
	assert_true(needs_reset(d));
	assert_int_equal(used_idx(d, CTRLQ), 0);
	device_reset(d);
	start(d, d->features);
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
}

static void test_ctrl_no_ack(void **state)
{
	struct drv *d = *state;
	uint8_t cmd[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };
	struct fake_buf b = { alloc(d, cmd, 3), 3, R };

	ctrl_broken(d, &b, 1);
}

static void test_ctrl_no_command(void **state)
{
	struct drv *d = *state;
	struct fake_buf b[2] = {
		{ alloc(d, "\0", 1), 1, R },
		{ alloc(d, NULL, 1), 1, W },
	};

	ctrl_broken(d, b, 2);
}

static void test_ctrl_guest_offloads(void **state)
{
	struct drv *d = *state;
	uint8_t v[8];
	unsigned int calls;

	device_reset(d);
	start(d, feat_default & ~F(GUEST_TSO6));
	calls = d->offload_calls;
	assert_int_equal(d->offload_last, F(GUEST_CSUM) | F(GUEST_TSO4));

	put_le64(v, F(GUEST_TSO6));
	assert_int_equal(
		ctrl(d, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, v, 8),
		VIRTIO_NET_ERR);
	assert_int_equal(d->offload_calls, calls);
	/* A bit that is not an offload at all. */
	put_le64(v, F(CTRL_VQ));
	assert_int_equal(
		ctrl(d, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, v, 8),
		VIRTIO_NET_ERR);
	assert_int_equal(d->offload_calls, calls);
	assert_int_equal(stats(d).ctrl_errors, 2);

	put_le64(v, F(GUEST_CSUM));
	assert_int_equal(
		ctrl(d, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, v, 8),
		VIRTIO_NET_OK);
	assert_int_equal(d->offload_calls, calls + 1);
	assert_int_equal(d->offload_last, F(GUEST_CSUM));
	put_le64(v, 0);
	assert_int_equal(
		ctrl(d, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, v, 8),
		VIRTIO_NET_OK);
	assert_int_equal(d->offload_last, 0);

	/* Truncated value; a backend that refuses. */
	assert_int_equal(
		ctrl(d, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, v, 7),
		VIRTIO_NET_ERR);
	d->offload_ret = -EINVAL;
	put_le64(v, F(GUEST_TSO4));
	assert_int_equal(
		ctrl(d, VIRTIO_NET_CTRL_GUEST_OFFLOADS, VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, v, 8),
		VIRTIO_NET_ERR);
	assert_int_equal(stats(d).ctrl_errors, 4);
	d->offload_ret = 0;
}

/* ---- reset ---- */

static void test_reset_restores_mac_and_filter(void **state)
{
	struct drv *d = *state;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE], frame[HDR + 64], got[256];
	size_t len;
	struct fake_buf b;

	post_rx(d, 4, 2048);
	kick(d, RXQ);
	assert_int_equal(ctrl_rx(d, VIRTIO_NET_CTRL_RX_PROMISC, 0), VIRTIO_NET_OK);
	assert_int_equal(ctrl(d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other_mac, 6),
			 VIRTIO_NET_OK);
	assert_false(rx_one(d, peer_mac, 1));

	device_reset(d);
	config_read(d, cfg);
	assert_memory_equal(cfg + VIRTIO_NET_CFG_MAC, own_mac, 6);
	/* No frame is read while the device is reset. */
	host_send_to(d, frame, own_mac, 64, 2);
	run_loop(d);
	assert_true(frame_waiting(d));

	start(d, d->features);
	post_rx(d, 4, 2048);
	kick(d, RXQ);
	run_loop(d);
	len = make_frame(frame, own_mac, 64, 2);
	expect_rx(d, frame, len, 1);
	/* Promiscuous again. */
	assert_true(rx_one(d, peer_mac, 3));
	assert_true(rx_one(d, mcast_mac, 4));

	/* Transmit works too. */
	len = make_frame(frame, peer_mac, 64, 5);
	b = (struct fake_buf){ alloc(d, frame, (uint32_t)len), (uint32_t)len, R };
	post_tx(d, &b, 1);
	assert_int_equal(host_recv(d, got, sizeof(got)), (ssize_t)len);
	assert_memory_equal(got, frame, len);
}

/* A frame waiting for buffers at reset is forgotten, not delivered to the next driver. */
static void test_reset_drops_pending_frame(void **state)
{
	struct drv *d = *state;
	uint8_t *frame = malloc(MAX_WIRE);
	size_t len;
	uint16_t first;

	assert_non_null(frame);
	post_rx(d, 2, 4096);
	kick(d, RXQ);
	host_send_to(d, frame, own_mac, 30000, 1);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 0);
	device_reset(d);
	start(d, d->features);
	first = post_rx(d, 16, 4096);
	kick(d, RXQ);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 0);
	len = host_send_to(d, frame, own_mac, 100, 2);
	run_loop(d);
	assert_int_equal(expect_rx(d, frame, len, 1), first);
	free(frame);
}

/*
 * A device waiting for reset leaves the backend alone and the loop idle,
 * even with frames arriving (else a broken guest costs a host core).
 */
static void test_needs_reset_quiet_tx(void **state)
{
	struct drv *d = *state;
	struct fake_buf bad = { RAM - 16, 64, R };
	uint8_t frame[HDR + 64];

	post_rx(d, 4, 2048);
	kick(d, RXQ);
	post_tx(d, &bad, 1);
	assert_true(needs_reset(d));
	host_send_to(d, frame, own_mac, 64, 1);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 0);
}

static void test_needs_reset_quiet_rx(void **state)
{
	struct drv *d = *state;
	struct fake_buf bad = { alloc(d, NULL, 8), 8, W };
	uint8_t frame[HDR + 64];

	/* A buffer in hand, so the device waits for frames... */
	post_rx(d, 1, 2048);
	kick(d, RXQ);
	run_loop(d);
	assert_int_equal(used_idx(d, RXQ), 0);
	/* ...then a broken one behind it, found when a frame arrives. */
	fake_vq_post(&d->vq[RXQ], &bad, 1);
	host_send_to(d, frame, own_mac, 64, 1);
	pump(d);
	assert_true(needs_reset(d));
	run_loop(d);
}

#define T(fn, feat) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)(feat))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config_and_features, NULL),
		T(test_offload_on_start_and_reset, NULL),
		T(test_offload_failure_fails_start, NULL),
		T(test_tx_split_chain, &feat_default),
		T(test_tx_short_dropped, &feat_default),
		T(test_tx_too_long, &feat_default),
		T(test_tx_backend_error, &feat_default),
		T(test_tx_descriptor_loop, &feat_default),
		T(test_tx_head_out_of_range, &feat_default),
		T(test_tx_buffer_outside_ram, &feat_default),
		T(test_tx_flood, &feat_default),
		T(test_tx_flood, &feat_event_idx),
		T(test_rx_small_mrg, &feat_default),
		T(test_rx_small_mrg, &feat_event_idx),
		T(test_rx_large_mrg, &feat_default),
		T(test_rx_large_mrg, &feat_no_gso),
		T(test_rx_spill_waits, &feat_default),
		T(test_rx_spill_waits, &feat_event_idx),
		T(test_rx_no_buffers_no_spin, &feat_default),
		T(test_rx_no_buffers_no_spin, &feat_event_idx),
		T(test_rx_after_buffers_used_up, &feat_default),
		T(test_rx_after_buffers_used_up, &feat_event_idx),
		T(test_rx_flood, &feat_default),
		T(test_rx_no_mrg, &feat_no_mrg),
		T(test_rx_no_mrg_too_big, &feat_no_mrg),
		T(test_rx_runt, &feat_default),
		T(test_rx_readable_buffer, &feat_default),
		T(test_rx_buffer_below_header, &feat_default),
		T(test_rx_buffer_outside_ram, &feat_default),
		T(test_rx_tiny_buffers, &feat_default),
		T(test_ctrl_unicast_filter, &feat_default),
		T(test_ctrl_unicast_filter, &feat_event_idx),
		T(test_ctrl_mac_addr_set, &feat_event_idx),
		T(test_ctrl_multicast_filter, &feat_default),
		T(test_ctrl_table_overflow, &feat_default),
		T(test_ctrl_mac_addr_set, &feat_default),
		T(test_ctrl_errors, &feat_default),
		T(test_ctrl_rx_not_negotiated, &feat_default),
		T(test_ctrl_no_ack, &feat_default),
		T(test_ctrl_no_command, &feat_default),
		T(test_ctrl_guest_offloads, &feat_default),
		T(test_reset_restores_mac_and_filter, &feat_default),
		T(test_reset_drops_pending_frame, &feat_default),
		T(test_needs_reset_quiet_tx, &feat_default),
		T(test_needs_reset_quiet_rx, &feat_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
