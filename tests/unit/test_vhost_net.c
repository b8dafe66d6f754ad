// SPDX-License-Identifier: MIT
/*
 * vhost-net against the host kernel: split rings written by a fake driver
 * in fake guest RAM, served by the real vhost-net over a real TAP. Needs
 * /dev/vhost-net and CAP_NET_ADMIN, so those tests skip elsewhere; run
 * them in the lab: tests/with-kvm build/tests/unit/test_vhost_net
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_virtio.h" /* first: brings cmocka.h with its prerequisites */

#include "backends/vhost_net.h"
#include "virtio/net.h"

#define RAM_SIZE (1u << 20)
#define QSIZE 16
#define RING_BASE(q) (0x10000 + 0x10000 * (uint64_t)(q))
#define DATA_BASE 0x40000
#define RX_BUF_LEN 2048
#define FRAME_LEN 60
#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */
#define WAIT_MS 5000 /* the lab's emulated CPUs are slow */
#define QUIET_MS 300

/*
 * What the driver negotiated, including bits vhost must not be given:
 * legacy ANY_LAYOUT (27) is vhost's "add the header yourself", which would
 * garble frames over a TAP that has IFF_VNET_HDR, and ACCESS_PLATFORM (33)
 * would make vhost wait for vIOMMU translations.
 */
#define DRIVER_FEATURES                                                                   \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF) | (1ull << 27) | \
	 (1ull << 33))

struct lab {
	struct fake_guest g;
	struct fake_data data;
	struct fake_vq drv[2]; /* the driver's view of the rings */
	struct virtq vq[2]; /* the device's, handed to vhost */
	uint64_t rx_gpa[QSIZE]; /* receive buffer posted at each head */
	struct vhost_net vn;
	int kick[2], call[2];
	int tap_fd, pkt_fd, ifindex;
	char ifname[IFNAMSIZ];
};

static int lab_alloc(void **state)
{
	struct lab *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	l->vn.fd = l->tap_fd = l->pkt_fd = -1;
	for (int q = 0; q < 2; q++)
		l->kick[q] = l->call[q] = -1;
	*state = l;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int lab_free(void **state)
{
	struct lab *l = *state;

	/* vhost goes first: it must stop using the rings before they are freed. */
	vhost_net_close(&l->vn);
	for (int q = 0; q < 2; q++) {
		close_fd(&l->kick[q]);
		close_fd(&l->call[q]);
	}
	close_fd(&l->pkt_fd);
	close_fd(&l->tap_fd);
	fake_guest_free(&l->g);
	free(l);
	return 0;
}

static bool unavailable(int code)
{
	return code == -ENOENT || code == -EACCES || code == -EPERM || code == -ENODEV;
}

static void open_vhost_or_skip(struct lab *l)
{
	struct error err = { 0 };
	int ret = vhost_net_open(&l->vn, &err);

	if (unavailable(ret)) {
		print_message("skipped: %s\n", err.msg);
		skip();
	}
	assert_int_equal(ret, 0);
}

static void set_sysctl(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");

	/* Best effort: without it, the scans below skip the host's own frames. */
	if (f) {
		fputs(value, f);
		fclose(f);
	}
}

/* A TAP the way kvmini's tap backend makes one, up and without IPv6 chatter. */
static void create_tap_or_skip(struct lab *l)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_len = VIRTIO_NET_HDR_LEN;
	char path[128];
	int s;

	l->tap_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (l->tap_fd < 0 && unavailable(-errno)) {
		print_message("skipped: cannot open /dev/net/tun: %s\n", strerror(errno));
		skip();
	}
	assert_true(l->tap_fd >= 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "kvtest%%d");
	if (ioctl(l->tap_fd, TUNSETIFF, &ifr) < 0 && unavailable(-errno)) {
		print_message("skipped: cannot create a TAP: %s\n", strerror(errno));
		skip();
	}
	assert_int_equal(ioctl(l->tap_fd, TUNSETVNETHDRSZ, &hdr_len), 0);
	snprintf(l->ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	l->ifindex = (int)if_nametoindex(l->ifname);
	assert_true(l->ifindex > 0);

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", l->ifname);
	set_sysctl(path, "1");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", l->ifname);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

/* The host's end of the wire: what the interface receives and sends. */
static void open_packet_socket(struct lab *l)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = l->ifindex,
	};

	l->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(l->pkt_fd >= 0);
	assert_int_equal(bind(l->pkt_fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
}

/* vhost, a TAP, guest RAM with two empty rings, features set. */
static void lab_start(struct lab *l)
{
	open_vhost_or_skip(l);
	create_tap_or_skip(l);
	open_packet_socket(l);
	fake_guest_init(&l->g, RAM_SIZE);
	fake_data_init(&l->data, &l->g, DATA_BASE);
	for (int q = 0; q < 2; q++) {
		struct fake_vq *d = &l->drv[q];

		fake_vq_init(d, &l->g, RING_BASE(q), QSIZE);
		assert_int_equal(virtq_init(&l->vq[q], &l->g.mem, QSIZE, d->desc, d->avail, d->used,
					    false, false),
				 0);
		l->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		l->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(l->kick[q] >= 0 && l->call[q] >= 0);
	}
	assert_int_equal(vhost_net_setup(&l->vn, &l->g.mem, DRIVER_FEATURES), 0);
}

static int start_queue(struct lab *l, unsigned int q)
{
	return vhost_net_start_queue(&l->vn, q, &l->vq[q], l->kick[q], l->call[q], l->tap_fd);
}

static void kick(struct lab *l, unsigned int q)
{
	uint64_t one = 1;

	assert_int_equal(write(l->kick[q], &one, sizeof(one)), sizeof(one));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ms_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

/* Did vhost interrupt the driver of @q within @timeout_ms? Consumes it. */
static bool wait_call(struct lab *l, unsigned int q, int timeout_ms)
{
	struct pollfd p = { .fd = l->call[q], .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	return read(l->call[q], &v, sizeof(v)) == sizeof(v);
}

static void make_frame(uint8_t *f, uint8_t tag)
{
	static const uint8_t dst[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const uint8_t src[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };

	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, src, ETH_ALEN);
	f[12] = TEST_ETHERTYPE >> 8;
	f[13] = TEST_ETHERTYPE & 0xff;
	for (int i = 14; i < FRAME_LEN; i++)
		f[i] = (uint8_t)(tag * 7 + i);
}

/* A transmit chain as Linux's driver posts it: header, then the frame. */
static uint16_t post_tx(struct lab *l, const uint8_t *frame)
{
	static const uint8_t hdr[VIRTIO_NET_HDR_LEN];
	struct fake_buf bufs[2] = {
		{ fake_data_alloc(&l->data, hdr, sizeof(hdr)), sizeof(hdr), false },
		{ fake_data_alloc(&l->data, frame, FRAME_LEN), FRAME_LEN, false },
	};

	return fake_vq_post(&l->drv[VIRTIO_NET_TXQ], bufs, 2);
}

static uint16_t post_rx(struct lab *l)
{
	struct fake_buf buf = { fake_data_alloc(&l->data, NULL, RX_BUF_LEN), RX_BUF_LEN, true };
	uint16_t head = fake_vq_post(&l->drv[VIRTIO_NET_RXQ], &buf, 1);

	l->rx_gpa[head] = buf.gpa;
	return head;
}

/* Does the host see @frame arrive on the interface (sent by the guest)? */
static bool host_receives(struct lab *l, const uint8_t *frame, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t buf[2048];

	for (;;) {
		struct pollfd p = { .fd = l->pkt_fd, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t from_len = sizeof(from);
		ssize_t n;

		if (poll(&p, 1, ms_left(deadline)) != 1)
			return false;
		n = recvfrom(l->pkt_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &from_len);
		if (n == FRAME_LEN && from.sll_pkttype != PACKET_OUTGOING &&
		    memcmp(buf, frame, FRAME_LEN) == 0)
			return true;
	}
}

/* Send @frame out of the interface, toward the guest. */
static void host_sends(struct lab *l, const uint8_t *frame)
{
	struct sockaddr_ll to = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(TEST_ETHERTYPE),
		.sll_ifindex = l->ifindex,
		.sll_halen = ETH_ALEN,
	};

	memcpy(to.sll_addr, frame, ETH_ALEN);
	assert_int_equal(sendto(l->pkt_fd, frame, FRAME_LEN, 0, (struct sockaddr *)&to, sizeof(to)),
			 FRAME_LEN);
}

/*
 * Wait for @frame in the receive queue's used ring, skipping frames the
 * host stack sent on its own; checks how it was delivered.
 */
static void guest_receives(struct lab *l, const uint8_t *frame)
{
	struct fake_vq *rx = &l->drv[VIRTIO_NET_RXQ];
	int64_t deadline = now_ms() + WAIT_MS;

	for (;;) {
		assert_true(wait_call(l, VIRTIO_NET_RXQ, ms_left(deadline)));
		while (rx->used_seen != fake_vq_used_idx(rx)) {
			uint16_t head;
			uint32_t len = fake_vq_next_used(rx, &head);
			const uint8_t *buf;

			assert_true(head < QSIZE && l->rx_gpa[head]);
			assert_true(len <= RX_BUF_LEN);
			buf = l->g.buf + l->rx_gpa[head];
			if (len < VIRTIO_NET_HDR_LEN + 14 ||
			    memcmp(buf + VIRTIO_NET_HDR_LEN + 12, frame + 12, 2) != 0)
				continue;
			assert_int_equal(len, VIRTIO_NET_HDR_LEN + FRAME_LEN);
			assert_int_equal(buf[1], VIRTIO_NET_HDR_GSO_NONE);
			/* MRG_RXBUF: vhost fills in num_buffers. */
			assert_int_equal(get_le16(buf + VIRTIO_NET_HDR_NUM_BUFFERS_OFF), 1);
			assert_memory_equal(buf + VIRTIO_NET_HDR_LEN, frame, FRAME_LEN);
			return;
		}
	}
}

/* --- without vhost ------------------------------------------------------ */

static void test_open_error_message(void **state)
{
	struct vhost_net vn = { .fd = 42 };
	struct error err = { 0 };
	int ret;

	(void)state;
	ret = vhost_net_open(&vn, &err);
	if (ret == 0) {
		/* Where vhost exists: it speaks virtio 1 with mergeable buffers. */
		assert_true(vn.fd >= 0);
		assert_true(vn.features & (1ull << VIRTIO_F_VERSION_1));
		assert_true(vn.features & (1ull << VIRTIO_NET_F_MRG_RXBUF));
		vhost_net_close(&vn);
		assert_int_equal(vn.fd, -1);
		return;
	}
	assert_true(ret < 0);
	assert_int_equal(err.code, ret);
	assert_int_equal(vn.fd, -1);
	assert_non_null(strstr(err.msg, "/dev/vhost-net"));
	assert_non_null(strstr(err.msg, strerror(-ret)));
	assert_null(strchr(err.msg, '\n'));
	if (ret == -ENOENT)
		assert_non_null(strstr(err.msg, "modprobe vhost_net"));
	print_message("vhost_net_open: %s\n", err.msg);
}

static void test_bad_arguments(void **state)
{
	struct vhost_net vn = { .fd = -1 };
	struct guest_mem no_ram = { 0 }, too_many;
	struct fake_guest g;
	struct fake_vq drv;
	struct virtq vq, not_ready = { 0 };

	(void)state;
	fake_guest_init(&g, RAM_SIZE);
	fake_vq_init(&drv, &g, RING_BASE(0), QSIZE);
	assert_int_equal(
		virtq_init(&vq, &g.mem, QSIZE, drv.desc, drv.avail, drv.used, false, false), 0);

	/* vhost-net has a receive and a transmit queue, nothing else. */
	assert_int_equal(vhost_net_start_queue(&vn, 2, &vq, 0, 1, 2), -EINVAL);
	assert_int_equal(vhost_net_start_queue(&vn, UINT_MAX, &vq, 0, 1, 2), -EINVAL);
	assert_int_equal(vhost_net_stop_queue(&vn, 2), -EINVAL);
	/* Rings the driver never set up, or reset. */
	assert_int_equal(vhost_net_start_queue(&vn, 0, &not_ready, 0, 1, 2), -EINVAL);
	/* Missing eventfds or TAP. */
	assert_int_equal(vhost_net_start_queue(&vn, 0, &vq, -1, 1, 2), -EBADF);
	assert_int_equal(vhost_net_start_queue(&vn, 0, &vq, 0, -1, 2), -EBADF);
	assert_int_equal(vhost_net_start_queue(&vn, 1, &vq, 0, 1, -1), -EBADF);
	/* A memory table with no regions, or more than guest_mem can hold. */
	assert_int_equal(vhost_net_setup(&vn, &no_ram, 0), -EINVAL);
	too_many = g.mem;
	too_many.nr_regions = GUEST_MEM_MAX_REGIONS + 1;
	assert_int_equal(vhost_net_setup(&vn, &too_many, 0), -EINVAL);

	/* Valid requests without an open device: the kernel's error comes back. */
	assert_int_equal(vhost_net_setup(&vn, &g.mem, 0), -EBADF);
	assert_int_equal(vhost_net_start_queue(&vn, 0, &vq, 0, 1, 2), -EBADF);
	assert_int_equal(vhost_net_stop_queue(&vn, 1), -EBADF);
	vhost_net_close(&vn);
	vhost_net_close(&vn);
	assert_int_equal(vn.fd, -1);

	virtq_reset(&vq);
	assert_int_equal(vhost_net_start_queue(&vn, 0, &vq, 0, 1, 2), -EINVAL);
	fake_guest_free(&g);
}

/* --- with vhost ---------------------------------------------------------- */

static void test_transmit(void **state)
{
	struct lab *l = *state;
	struct fake_vq *tx;
	uint8_t frame[FRAME_LEN];
	uint16_t head, used_head;

	lab_start(l);
	tx = &l->drv[VIRTIO_NET_TXQ];
	make_frame(frame, 1);
	/* Posted before vhost took the queue. */
	head = post_tx(l, frame);
	assert_int_equal(start_queue(l, VIRTIO_NET_TXQ), 0);

	assert_true(wait_call(l, VIRTIO_NET_TXQ, WAIT_MS));
	assert_int_equal(fake_vq_used_idx(tx), 1);
	fake_vq_next_used(tx, &used_head);
	assert_int_equal(used_head, head);
	assert_true(host_receives(l, frame, WAIT_MS));

	/* And after a kick, the next one. */
	make_frame(frame, 2);
	head = post_tx(l, frame);
	kick(l, VIRTIO_NET_TXQ);
	assert_true(wait_call(l, VIRTIO_NET_TXQ, WAIT_MS));
	assert_int_equal(fake_vq_used_idx(tx), 2);
	fake_vq_next_used(tx, &used_head);
	assert_int_equal(used_head, head);
	assert_true(host_receives(l, frame, WAIT_MS));
	assert_int_equal(vhost_net_stop_queue(&l->vn, VIRTIO_NET_TXQ), 0);
}

/* Interrupts follow VHOST_SET_VRING_CALL while the queue runs. */
static void test_redirect_call(void **state)
{
	struct lab *l = *state;
	uint8_t frame[FRAME_LEN];
	int first, second = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(second >= 0);
	lab_start(l);
	first = l->call[VIRTIO_NET_TXQ];
	assert_int_equal(start_queue(l, VIRTIO_NET_TXQ), 0);
	assert_int_equal(vhost_net_set_call(&l->vn, VIRTIO_NET_TXQ, second), 0);
	make_frame(frame, 3);
	post_tx(l, frame);
	kick(l, VIRTIO_NET_TXQ);
	l->call[VIRTIO_NET_TXQ] = second;
	assert_true(wait_call(l, VIRTIO_NET_TXQ, WAIT_MS));
	assert_true(host_receives(l, frame, WAIT_MS));
	l->call[VIRTIO_NET_TXQ] = first;
	assert_false(wait_call(l, VIRTIO_NET_TXQ, QUIET_MS));

	assert_int_equal(vhost_net_set_call(&l->vn, 2, second), -EINVAL);
	assert_int_equal(vhost_net_set_call(&l->vn, VIRTIO_NET_TXQ, -1), -EINVAL);
	assert_int_equal(vhost_net_stop_queue(&l->vn, VIRTIO_NET_TXQ), 0);
	close(second);
}

static void test_receive(void **state)
{
	struct lab *l = *state;
	uint8_t frame[FRAME_LEN];

	lab_start(l);
	for (int i = 0; i < 4; i++)
		post_rx(l);
	assert_int_equal(start_queue(l, VIRTIO_NET_RXQ), 0);
	make_frame(frame, 3);
	host_sends(l, frame);
	guest_receives(l, frame);

	make_frame(frame, 4);
	host_sends(l, frame);
	guest_receives(l, frame);
	assert_int_equal(vhost_net_stop_queue(&l->vn, VIRTIO_NET_RXQ), 0);
}

static void test_stop_and_resume(void **state)
{
	struct lab *l = *state;
	struct fake_vq *tx, *rx;
	uint8_t first[FRAME_LEN], second[FRAME_LEN], inbound[FRAME_LEN];
	uint16_t head, used_head, rx_used;
	uint64_t v;

	lab_start(l);
	tx = &l->drv[VIRTIO_NET_TXQ];
	rx = &l->drv[VIRTIO_NET_RXQ];
	make_frame(first, 5);
	post_tx(l, first);
	post_rx(l);
	assert_int_equal(start_queue(l, VIRTIO_NET_RXQ), 0);
	assert_int_equal(start_queue(l, VIRTIO_NET_TXQ), 0);
	assert_true(wait_call(l, VIRTIO_NET_TXQ, WAIT_MS));
	assert_true(host_receives(l, first, WAIT_MS));

	assert_int_equal(vhost_net_stop_queue(&l->vn, VIRTIO_NET_TXQ), 0);
	assert_int_equal(vhost_net_stop_queue(&l->vn, VIRTIO_NET_RXQ), 0);
	while (read(l->call[VIRTIO_NET_RXQ], &v, sizeof(v)) == sizeof(v))
		;
	/* Not necessarily 0: the host may have sent frames of its own. */
	rx_used = fake_vq_used_idx(rx);

	/* The driver carries on; vhost must not. */
	make_frame(second, 6);
	head = post_tx(l, second);
	kick(l, VIRTIO_NET_TXQ);
	make_frame(inbound, 7);
	host_sends(l, inbound);
	assert_false(wait_call(l, VIRTIO_NET_TXQ, QUIET_MS));
	assert_false(wait_call(l, VIRTIO_NET_RXQ, QUIET_MS));
	assert_int_equal(fake_vq_used_idx(tx), 1);
	assert_int_equal(fake_vq_used_idx(rx), rx_used);
	assert_false(host_receives(l, second, QUIET_MS));

	/*
	 * Started again at the device's last_avail_idx, vhost sends only what
	 * it has not sent before (from 0 it would resend the first chain).
	 */
	l->vq[VIRTIO_NET_TXQ].last_avail_idx = 1;
	assert_int_equal(start_queue(l, VIRTIO_NET_TXQ), 0);
	assert_true(wait_call(l, VIRTIO_NET_TXQ, WAIT_MS));
	assert_true(host_receives(l, second, WAIT_MS));
	assert_false(wait_call(l, VIRTIO_NET_TXQ, QUIET_MS));
	assert_int_equal(fake_vq_used_idx(tx), 2);
	tx->used_seen = 1;
	fake_vq_next_used(tx, &used_head);
	assert_int_equal(used_head, head);
	assert_int_equal(vhost_net_stop_queue(&l->vn, VIRTIO_NET_TXQ), 0);
}

static void test_backend_not_a_tap(void **state)
{
	struct lab *l = *state;

	lab_start(l);
	/* An eventfd is no packet socket: vhost refuses it. */
	assert_true(vhost_net_start_queue(&l->vn, VIRTIO_NET_TXQ, &l->vq[VIRTIO_NET_TXQ],
					  l->kick[VIRTIO_NET_TXQ], l->call[VIRTIO_NET_TXQ],
					  l->kick[VIRTIO_NET_RXQ]) < 0);
	/* Stopping a queue that never ran is harmless. */
	assert_int_equal(vhost_net_stop_queue(&l->vn, VIRTIO_NET_TXQ), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_error_message),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test_setup_teardown(test_transmit, lab_alloc, lab_free),
		cmocka_unit_test_setup_teardown(test_redirect_call, lab_alloc, lab_free),
		cmocka_unit_test_setup_teardown(test_receive, lab_alloc, lab_free),
		cmocka_unit_test_setup_teardown(test_stop_and_resume, lab_alloc, lab_free),
		cmocka_unit_test_setup_teardown(test_backend_not_a_tap, lab_alloc, lab_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
