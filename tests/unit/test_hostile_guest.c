// SPDX-License-Identifier: MIT
/*
 * Hostile drivers against every virtio device: broken rings must stop the
 * device (NEEDS_RESET, one config interrupt, no work after), floods of valid
 * but bad requests must cost a bounded amount of work, memory and log lines
 * each, and a driver refilling a ring from another thread while the device
 * drains it must not keep the device's thread to itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_virtio.h"
#include "log.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "vm.h"

#define RAM (8u << 20)
#define DATA_GPA 0x100000
#define TABLE_GPA 0x80000 /* indirect tables */
#define BIG_GPA 0x400000 /* a 4 MiB area the "maximal" buffers all cover */
#define BIG_LEN (4u << 20)
#define BIG_DESCS 16
#define BLK_QUEUES 4
#define IMG_SIZE (1024 * 1024)
#define FLOOD 100000
#define CONSOLE_TX_CAP (64 * 1024)
#define RNG_CAP (64 * 1024)
/* Heap a flood may leave behind: a few stray buffers, nothing per request. */
#define FLOOD_HEAP_SLACK (256 * 1024)

#define R false
#define W true

enum kind { RNG, CON_TX, CON_RX, BLK, NET_RX, NET_TX, NET_CTRL };

struct target {
	enum kind kind;
	enum block_aio aio;
};

/* Stderr redirected to a file while the guest misbehaves. */
struct capture {
	bool active;
	int saved_fd, file_fd;
	uint64_t t0;
};

struct hostile {
	enum kind kind;
	struct fake_guest g;
	struct event_loop loop;
	struct virtio_dev *vdev;
	unsigned int q; /* the queue under attack */
	struct fake_vq vq[BLK_QUEUES];
	struct fake_irqs irq;
	struct fake_data data;
	struct capture cap;

	struct virtio_rng rng;
	struct virtio_console vc;
	struct virtio_blk *blk;
	struct virtio_net *net;
	int net_dev_fd, net_host_fd;
	char dir[64], path[96];
	uint64_t tx_bytes; /* console output, counted */
	/* While refill_left: make refill_head available again from a callback. */
	uint16_t refill_head;
	unsigned long refill_left, refill_calls;
};

static void refill_hook(struct hostile *h);

/* ---- helpers ------------------------------------------------------------ */

static ssize_t pattern_source(void *buf, size_t len)
{
	memset(buf, 0xa5, len);
	return (ssize_t)len;
}

/*
 * The random source has no context pointer, but the guest's memory is
 * context enough: asked for 64 KiB, which only the buffers at BIG_GPA are
 * given here, this one also makes the chain named in a control block in
 * guest RAM available again, as another vCPU could, while the block says to
 * (le32 left, le16 head, le32 calls). Queue 0 is where driver_start() puts
 * it.
 */
#define REFILL_CTL_GPA 0x90000
#define RNG_AVAIL_GPA (0x10000 + FAKE_VQ_AVAIL_OFF)

static ssize_t refilling_source(void *buf, size_t len)
{
	uint8_t *ram = (uint8_t *)buf - BIG_GPA, *ctl = ram + REFILL_CTL_GPA;
	uint16_t idx, size = 64;

	if (len != RNG_CAP)
		return pattern_source(buf, len);
	idx = get_le16(ram + RNG_AVAIL_GPA + 2);
	if (get_le32(ctl)) {
		put_le32(ctl, get_le32(ctl) - 1);
		put_le32(ctl + 6, get_le32(ctl + 6) + 1);
		put_le16(ram + RNG_AVAIL_GPA + 4 + 2 * (idx % size), get_le16(ctl + 4));
		put_le16(ram + RNG_AVAIL_GPA + 2, idx + 1);
	}
	return pattern_source(buf, len);
}

static void console_tx(void *opaque, const uint8_t *data, size_t len)
{
	struct hostile *h = opaque;

	h->tx_bytes += len;
	refill_hook(h);
}

static int net_set_offload(void *opaque, uint64_t guest_features)
{
	refill_hook(opaque);
	return 0;
}

static struct fake_vq *vq(struct hostile *h)
{
	return &h->vq[h->q];
}

static struct virtq *dev_vq(struct hostile *h)
{
	return &h->vdev->vqs[h->q];
}

static bool needs_reset(struct hostile *h)
{
	return virtio_dev_status(h->vdev) & VIRTIO_STATUS_NEEDS_RESET;
}

static void kick(struct hostile *h)
{
	virtio_dev_kick(h->vdev, h->q);
}

static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}

static void capture_begin(struct capture *c)
{
	char path[] = "/tmp/kvmini-hostile-XXXXXX";

	fflush(stderr);
	c->file_fd = mkstemp(path);
	assert_true(c->file_fd >= 0);
	unlink(path);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_int_equal(dup2(c->file_fd, STDERR_FILENO), STDERR_FILENO);
	c->active = true;
	c->t0 = monotonic_ns();
}

/* Restore stderr; the lines written meanwhile, and the time it took. */
static unsigned int capture_end(struct capture *c, uint64_t *elapsed_ns, char *text, size_t size)
{
	unsigned int lines = 0;
	char buf[4096];
	size_t kept = 0;
	ssize_t n;

	if (!c->active)
		return 0;
	fflush(stderr);
	dup2(c->saved_fd, STDERR_FILENO);
	close(c->saved_fd);
	c->active = false;
	if (elapsed_ns)
		*elapsed_ns = monotonic_ns() - c->t0;
	lseek(c->file_fd, 0, SEEK_SET);
	while ((n = read(c->file_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
		if (text && kept + 1 < size) {
			size_t take = (size_t)n < size - 1 - kept ? (size_t)n : size - 1 - kept;

			memcpy(text + kept, buf, take);
			kept += take;
		}
	}
	if (text)
		text[kept] = '\0';
	close(c->file_fd);
	return lines;
}

/*
 * The rate limit's promise: per device, at most its burst plus one summary
 * line per interval (the window the flood started in counts too).
 */
static void end_and_check_log(struct hostile *h, unsigned int min_lines)
{
	char text[1024];
	uint64_t elapsed = 0;
	unsigned int lines = capture_end(&h->cap, &elapsed, text, sizeof(text));
	uint64_t bound = (1 + elapsed / RATELIMIT_INTERVAL_NS) * (RATELIMIT_BURST + 1);

	if (lines > bound || lines < min_lines)
		fail_msg("%u log lines in %.1f s (expected %u to %llu); first ones:\n%s", lines,
			 elapsed / 1e9, min_lines, (unsigned long long)bound, text);
}

/* ---- devices ------------------------------------------------------------ */

static uint16_t queue_size(struct hostile *h, unsigned int q)
{
	if (h->kind >= NET_RX)
		return q == VIRTIO_NET_CTRLQ ? VIRTIO_NET_CTRL_QUEUE_SIZE : VIRTIO_NET_QUEUE_SIZE;
	return h->vdev->queue_max_size;
}

/* What a driver does up to DRIVER_OK, accepting every feature offered. */
static void driver_start(struct hostile *h)
{
	struct virtio_dev *vdev = h->vdev;
	uint64_t features = vdev->device_features;

	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_set_driver_features(vdev, 0, (uint32_t)features);
	virtio_dev_set_driver_features(vdev, 1, (uint32_t)(features >> 32));
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_dev_status(vdev) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct fake_vq *v = &h->vq[q];
		uint16_t size = queue_size(h, q);

		fake_vq_init(v, &h->g, 0x10000 + 0x10000 * (uint64_t)q, size);
		fake_vq_clear(v);
		assert_int_equal(virtio_dev_enable_queue(vdev, q, size, v->desc, v->avail, v->used),
				 0);
	}
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_status(vdev) & VIRTIO_STATUS_DRIVER_OK);
	assert_false(needs_reset(h));
	/* The receive queue works only while there is input to deliver. */
	if (h->kind == CON_RX)
		assert_int_equal(virtio_console_receive(&h->vc, (const uint8_t *)"abc", 3), 3);
}

static void make_image(struct hostile *h)
{
	uint8_t *buf = calloc(1, IMG_SIZE);
	int fd;

	assert_non_null(buf);
	snprintf(h->dir, sizeof(h->dir), "/tmp/kvmini-hostile-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->path, sizeof(h->path), "%s/disk.img", h->dir);
	fd = open(h->path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, IMG_SIZE), IMG_SIZE);
	close(fd);
	free(buf);
}

static int setup(void **state)
{
	const struct target *t = *state;
	struct hostile *h = calloc(1, sizeof(*h));
	struct error err = { 0 };

	assert_non_null(h);
	h->kind = t->kind;
	h->net_dev_fd = h->net_host_fd = -1;
	fake_guest_init(&h->g, RAM);
	fake_data_init(&h->data, &h->g, DATA_GPA);
	assert_int_equal(event_loop_init(&h->loop, "hostile", &err), 0);
	switch (h->kind) {
	case RNG:
		assert_int_equal(virtio_rng_init(&h->rng, &h->g.mem, &h->loop, refilling_source),
				 0);
		h->vdev = &h->rng.vdev;
		break;
	case CON_TX:
	case CON_RX: {
		struct virtio_console_ops ops = { console_tx, NULL, h };

		assert_int_equal(virtio_console_init(&h->vc, &h->g.mem, &h->loop, &ops), 0);
		assert_int_equal(virtio_console_start(&h->vc), 0);
		h->vdev = &h->vc.vdev;
		h->q = h->kind == CON_TX ? VIRTIO_CONSOLE_TX : VIRTIO_CONSOLE_RX;
		break;
	}
	case BLK: {
		struct virtio_blk_opts o = { .aio = t->aio, .serial = "hostile" };

		make_image(h);
		o.path = h->path;
		assert_int_equal(
			virtio_blk_create(&h->blk, &o, BLK_QUEUES, &h->g.mem, &h->loop, &err), 0);
		h->vdev = virtio_blk_vdev(h->blk);
		break;
	}
	case NET_RX:
	case NET_TX:
	case NET_CTRL: {
		static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
		struct virtio_net_backend be = { .set_offload = net_set_offload, .opaque = h };
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		h->net_dev_fd = sv[0];
		h->net_host_fd = sv[1];
		assert_int_equal(fcntl(h->net_dev_fd, F_SETFL, O_NONBLOCK), 0);
		assert_int_equal(fcntl(h->net_host_fd, F_SETFL, O_NONBLOCK), 0);
		be.fd = h->net_dev_fd;
		assert_int_equal(virtio_net_create(&h->net, "virtio-net hostile", mac, &be,
						   &h->g.mem, &h->loop, &err),
				 0);
		h->vdev = virtio_net_vdev(h->net);
		h->q = h->kind == NET_RX   ? VIRTIO_NET_RXQ
		       : h->kind == NET_TX ? VIRTIO_NET_TXQ
					   : VIRTIO_NET_CTRLQ;
		break;
	}
	}
	h->vdev->transport = fake_irqs_transport(&h->irq, h->vdev->nr_queues);
	driver_start(h);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct hostile *h = *state;
	char text[2048];

	/* A failed assertion while stderr was captured: show what was logged. */
	if (h->cap.active) {
		capture_end(&h->cap, NULL, text, sizeof(text));
		fprintf(stderr, "captured log:\n%s\n", text);
	}
	switch (h->kind) {
	case RNG:
		virtio_rng_free(&h->rng);
		break;
	case CON_TX:
	case CON_RX:
		virtio_console_free(&h->vc);
		break;
	case BLK:
		virtio_blk_destroy(h->blk);
		unlink(h->path);
		rmdir(h->dir);
		break;
	case NET_RX:
	case NET_TX:
	case NET_CTRL:
		virtio_net_destroy(h->net);
		close(h->net_dev_fd);
		close(h->net_host_fd);
		break;
	}
	event_loop_destroy(&h->loop);
	fake_guest_free(&h->g);
	free(h);
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

static uint64_t alloc(struct hostile *h, const void *data, uint32_t len)
{
	return fake_data_alloc(&h->data, data, len);
}

static uint64_t blk_header(struct hostile *h, uint32_t type, uint64_t sector)
{
	uint8_t hdr[16] = { 0 };

	put_le32(hdr, type);
	put_le64(hdr + 8, sector);
	return alloc(h, hdr, sizeof(hdr));
}

static uint64_t ethernet_frame(struct hostile *h, uint32_t len)
{
	uint8_t frame[VIRTIO_NET_HDR_LEN + 1514] = { 0 };

	assert_true(len <= sizeof(frame));
	memset(frame + VIRTIO_NET_HDR_LEN, 0xff, 6); /* broadcast */
	return alloc(h, frame, len);
}

/*
 * A chain the device accepts from the ring but refuses as a request,
 * logging why where it does (nothing is wrong with an empty receive buffer
 * for the console: it just takes no input). It leaves the device ready for
 * the same again.
 */
static uint16_t post_bad_request(struct hostile *h)
{
	struct fake_buf b[2];
	unsigned int n = 1;

	switch (h->kind) {
	case RNG:
		b[0] = (struct fake_buf){ alloc(h, NULL, 16), 16, R };
		break;
	case CON_TX:
		b[0] = (struct fake_buf){ BIG_GPA, CONSOLE_TX_CAP + 1, R };
		break;
	case CON_RX:
		b[0] = (struct fake_buf){ alloc(h, NULL, 16), 0, W };
		break;
	case BLK:
		b[0] = (struct fake_buf){ alloc(h, NULL, 8), 8, R }; /* header too short */
		b[1] = (struct fake_buf){ alloc(h, NULL, 1), 1, W };
		n = 2;
		break;
	case NET_TX:
		b[0] = (struct fake_buf){ ethernet_frame(h, 10), 10, R }; /* runt frame */
		break;
	case NET_CTRL: {
		static const uint8_t cmd[2] = { 0xff, 0xff };

		b[0] = (struct fake_buf){ alloc(h, cmd, 2), 2, R };
		b[1] = (struct fake_buf){ alloc(h, NULL, 1), 1, W };
		n = 2;
		break;
	}
	case NET_RX:
		fail_msg("no bad request for the receive queue");
	}
	return fake_vq_post(vq(h), b, n);
}

/* Does this kind of bad request log? */
static bool bad_request_logs(struct hostile *h)
{
	return h->kind != CON_RX;
}

/*
 * A request a working device completes: after a reset, the driver that
 * broke the device can still use it.
 */
static void check_device_works(struct hostile *h)
{
	struct fake_vq *v = vq(h);
	struct fake_buf b[3];
	uint16_t head, used_head;
	uint32_t len;

	switch (h->kind) {
	case RNG:
		b[0] = (struct fake_buf){ alloc(h, NULL, 16), 16, W };
		head = fake_vq_post(v, b, 1);
		kick(h);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, 16);
		break;
	case CON_TX:
		b[0] = (struct fake_buf){ alloc(h, "x", 1), 1, R };
		head = fake_vq_post(v, b, 1);
		h->tx_bytes = 0;
		kick(h);
		fake_vq_next_used(v, &used_head);
		assert_int_equal(h->tx_bytes, 1);
		break;
	case CON_RX:
		b[0] = (struct fake_buf){ alloc(h, NULL, 16), 16, W };
		head = fake_vq_post(v, b, 1);
		kick(h);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, 3);
		assert_memory_equal(h->g.buf + b[0].gpa, "abc", 3);
		break;
	case BLK:
		b[0] = (struct fake_buf){ blk_header(h, VIRTIO_BLK_T_GET_ID, 0), 16, R };
		b[1] = (struct fake_buf){ alloc(h, NULL, 20), 20, W };
		b[2] = (struct fake_buf){ alloc(h, NULL, 1), 1, W };
		head = fake_vq_post(v, b, 3);
		kick(h);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, 21);
		assert_int_equal(h->g.buf[b[2].gpa], VIRTIO_BLK_S_OK);
		break;
	case NET_TX: {
		uint8_t got[128];

		b[0] = (struct fake_buf){ ethernet_frame(h, VIRTIO_NET_HDR_LEN + 60),
					  VIRTIO_NET_HDR_LEN + 60, R };
		head = fake_vq_post(v, b, 1);
		kick(h);
		fake_vq_next_used(v, &used_head);
		assert_int_equal(read(h->net_host_fd, got, sizeof(got)), VIRTIO_NET_HDR_LEN + 60);
		break;
	}
	case NET_RX: {
		uint8_t frame[VIRTIO_NET_HDR_LEN + 60] = { 0 };

		memset(frame + VIRTIO_NET_HDR_LEN, 0xff, 6);
		b[0] = (struct fake_buf){ alloc(h, NULL, 2048), 2048, W };
		head = fake_vq_post(v, b, 1);
		kick(h);
		assert_int_equal(write(h->net_host_fd, frame, sizeof(frame)), sizeof(frame));
		for (int i = 0; i < 100 && fake_vq_used_idx(v) == v->used_seen; i++)
			event_loop_run_once(&h->loop, 10);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, sizeof(frame));
		break;
	}
	case NET_CTRL: {
		static const uint8_t cmd[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 };

		b[0] = (struct fake_buf){ alloc(h, cmd, 3), 3, R };
		b[1] = (struct fake_buf){ alloc(h, NULL, 1), 1, W };
		head = fake_vq_post(v, b, 2);
		kick(h);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, 1);
		assert_int_equal(h->g.buf[b[1].gpa], VIRTIO_NET_OK);
		break;
	}
	}
	assert_int_equal(used_head, head);
	assert_false(needs_reset(h));
}

static void device_reset_and_restart(struct hostile *h)
{
	virtio_dev_set_status(h->vdev, 0);
	assert_int_equal(virtio_dev_status(h->vdev), 0);
	fake_data_init(&h->data, &h->g, DATA_GPA);
	driver_start(h);
}

static uint16_t post_refill_request(struct hostile *h);

/* ---- a broken ring stops the device --------------------------------------- */

/*
 * After the break: NEEDS_RESET with one config interrupt; then a flood of
 * kicks does no work, raises nothing and logs within the rate limit; after a
 * reset the device works again.
 */
static void expect_stopped(struct hostile *h)
{
	uint16_t popped;

	assert_true(needs_reset(h));
	assert_int_equal(h->irq.config, 1);
	popped = dev_vq(h)->last_avail_idx;
	for (unsigned int i = 0; i < FLOOD; i++)
		kick(h);
	assert_int_equal(dev_vq(h)->last_avail_idx, popped);
	assert_int_equal(h->irq.config, 1);
	end_and_check_log(h, 1);
	device_reset_and_restart(h);
	check_device_works(h);
}

static void test_descriptor_loop(void **state)
{
	struct hostile *h = *state;

	/* Empty buffers take no iovec: only the loop check ends this. */
	fake_vq_put_desc(vq(h), 0, DATA_GPA, 0, VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(vq(h), 1, DATA_GPA, 0, VIRTQ_DESC_F_NEXT, 0);
	fake_vq_publish(vq(h), 0);
	capture_begin(&h->cap);
	kick(h);
	expect_stopped(h);
}

/*
 * An indirect table one entry longer than the queue, all but its last
 * buffer empty: each entry visited once, but the chain is longer than the
 * spec allows (2.7.5.3.1), and without the check each such chain could make
 * the device walk up to 32768 descriptors.
 */
static void test_chain_longer_than_queue(void **state)
{
	struct hostile *h = *state;
	static const uint8_t cmd[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 };
	uint16_t size = vq(h)->size;
	uint16_t flags = h->kind == CON_TX || h->kind == NET_TX || h->kind == NET_CTRL
				 ? 0
				 : VIRTQ_DESC_F_WRITE;

	for (uint16_t i = 0; i < size; i++)
		fake_put_desc(&h->g, TABLE_GPA, i, DATA_GPA, 0, flags | VIRTQ_DESC_F_NEXT, i + 1);
	fake_put_desc(&h->g, TABLE_GPA, size, DATA_GPA, 64, flags, 0);
	/* A command and room for its ack: only the length is wrong. */
	if (h->kind == NET_CTRL) {
		fake_put_desc(&h->g, TABLE_GPA, 0, alloc(h, cmd, 3), 3, VIRTQ_DESC_F_NEXT, 1);
		fake_put_desc(&h->g, TABLE_GPA, size, DATA_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	fake_vq_put_desc(vq(h), 0, TABLE_GPA, 16 * (uint32_t)(size + 1), VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(vq(h), 0);
	capture_begin(&h->cap);
	kick(h);
	expect_stopped(h);
}

/* The same chain exactly as long as the queue is fine (Linux's virtio-blk
 * sends 256-descriptor chains on 256-entry queues). */
static void test_chain_as_long_as_queue(void **state)
{
	struct hostile *h = *state;
	uint16_t size = vq(h)->size, used_head;
	uint64_t table = TABLE_GPA;

	if (h->kind == RNG) {
		for (uint16_t i = 0; i + 1 < size; i++)
			fake_put_desc(&h->g, table, i, DATA_GPA, 0,
				      VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, i + 1);
		fake_put_desc(&h->g, table, size - 1, DATA_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	} else {
		/* GET_ID: the header, empty data buffers, the id and status. */
		fake_put_desc(&h->g, table, 0, blk_header(h, VIRTIO_BLK_T_GET_ID, 0), 16,
			      VIRTQ_DESC_F_NEXT, 1);
		for (uint16_t i = 1; i + 1 < size; i++)
			fake_put_desc(&h->g, table, i, DATA_GPA, 0,
				      VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, i + 1);
		fake_put_desc(&h->g, table, size - 1, alloc(h, NULL, 21), 21, VIRTQ_DESC_F_WRITE,
			      0);
	}
	fake_vq_put_desc(vq(h), 0, table, 16 * (uint32_t)size, VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(vq(h), 0);
	kick(h);
	assert_false(needs_reset(h));
	assert_int_equal(fake_vq_next_used(vq(h), &used_head), h->kind == RNG ? 64 : 21);
	assert_int_equal(used_head, 0);
}

/*
 * avail->idx more than a ring ahead: there cannot be that many chains,
 * though every slot names a good one.
 */
static void test_avail_idx_jump(void **state)
{
	struct hostile *h = *state;
	struct fake_buf rx = { alloc(h, NULL, 2048), 2048, W };
	uint16_t head = h->kind == NET_RX ? fake_vq_post(vq(h), &rx, 1) : post_refill_request(h);

	for (uint16_t i = 0; i < vq(h)->size; i++)
		fake_vq_put_avail(vq(h), i, head);
	fake_vq_set_avail_idx(vq(h), (uint16_t)(vq(h)->size + 1));
	capture_begin(&h->cap);
	kick(h);
	expect_stopped(h);
}

/* ---- floods ----------------------------------------------------------------- */

/*
 * The same bad request made available again and kicked 100000 times: one
 * chain of work per kick, every one completed, no heap kept per request, and
 * the log within its rate limit.
 */
static void test_flood_same_chain(void **state)
{
	struct hostile *h = *state;
	struct virtq *dvq = dev_vq(h);
	uint16_t head = post_bad_request(h);
	size_t heap;

	kick(h); /* the first one may allocate what the device keeps */
	heap = heap_in_use();
	capture_begin(&h->cap);
	for (unsigned int i = 0; i < FLOOD; i++) {
		uint16_t before = dvq->last_avail_idx;

		fake_vq_publish(vq(h), head);
		kick(h);
		if ((uint16_t)(dvq->last_avail_idx - before) != 1)
			fail_msg("kick %u took %u chains", i,
				 (uint16_t)(dvq->last_avail_idx - before));
	}
	end_and_check_log(h, bad_request_logs(h) ? 1 : 0);
	assert_false(needs_reset(h));
	assert_int_equal(fake_vq_used_idx(vq(h)), vq(h)->avail_idx);
	if (heap_in_use() > heap + FLOOD_HEAP_SLACK)
		fail_msg("heap grew by %zu bytes over %u requests", heap_in_use() - heap, FLOOD);
}

/* ---- a driver refilling the ring while the device drains it ---------------- */

/*
 * Where the device calls back into the test while it works (the random
 * source, console output, the control queue's offload change), the driver
 * makes the chain available again right there, as another vCPU could, once
 * per chain handled: deterministic. Elsewhere a second thread keeps the
 * ring full.
 */
static bool refill_in_callback(struct hostile *h)
{
	return h->kind == RNG || h->kind == CON_TX || h->kind == NET_CTRL;
}

static void refill_hook(struct hostile *h)
{
	if (!h->refill_left)
		return;
	h->refill_left--;
	h->refill_calls++;
	fake_vq_publish(vq(h), h->refill_head);
}

/* "Another vCPU": makes @head available again whenever the ring has room. */
struct refiller {
	struct fake_vq *vq;
	uint16_t head;
	pthread_t thread;
	atomic_bool stop, full;
	atomic_ullong consumed; /* chains the device used, as seen in used->idx */
};

static void *refill(void *arg)
{
	struct refiller *r = arg;
	struct fake_vq *v = r->vq;
	uint16_t *avail_idx = (uint16_t *)(v->g->buf + v->avail + 2);
	uint16_t *used_idx = (uint16_t *)(v->g->buf + v->used + 2);
	uint16_t seen = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);
	unsigned long bumps = 0;
	bool last = false;

	while (!last) {
		uint16_t used, *slot;

		/* Told to stop: count what was used up to now, once more. */
		last = atomic_load(&r->stop);
		used = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);
		atomic_fetch_add(&r->consumed, (uint16_t)(used - seen));
		seen = used;
		if ((uint16_t)(v->avail_idx - used) >= v->size) {
			atomic_store(&r->full, true);
			continue;
		}
		if (last || bumps == FLOOD)
			continue;
		slot = (uint16_t *)(v->g->buf + v->avail + 4 + 2 * (v->avail_idx % v->size));
		__atomic_store_n(slot, r->head, __ATOMIC_RELAXED);
		v->avail_idx++;
		__atomic_store_n(avail_idx, v->avail_idx, __ATOMIC_RELEASE);
		bumps++;
	}
	return NULL;
}

/* Fill the ring, kick once while it is refilled: the chains that kick used. */
static unsigned long long kick_while_refilled(struct hostile *h, uint16_t head)
{
	struct refiller r = { .vq = vq(h), .head = head };

	if (refill_in_callback(h)) {
		uint8_t *ctl = h->g.buf + REFILL_CTL_GPA;

		while ((uint16_t)(vq(h)->avail_idx - fake_vq_used_idx(vq(h))) < vq(h)->size)
			fake_vq_publish(vq(h), head);
		h->refill_head = head;
		h->refill_left = FLOOD;
		h->refill_calls = 0;
		if (h->kind == RNG) {
			assert_int_equal(vq(h)->avail, RNG_AVAIL_GPA);
			assert_int_equal(vq(h)->size, 64);
			put_le32(ctl, FLOOD);
			put_le16(ctl + 4, head);
			put_le32(ctl + 6, 0);
		}
		kick(h);
		if (h->kind == RNG) {
			put_le32(ctl, 0);
			h->refill_calls = get_le32(ctl + 6);
			/* The driver's own count of what it made available. */
			vq(h)->avail_idx = get_le16(h->g.buf + RNG_AVAIL_GPA + 2);
		}
		h->refill_left = 0;
		return h->refill_calls;
	}
	assert_int_equal(pthread_create(&r.thread, NULL, refill, &r), 0);
	while (!atomic_load(&r.full))
		;
	kick(h);
	atomic_store(&r.stop, true);
	pthread_join(r.thread, NULL);
	return atomic_load(&r.consumed);
}

/*
 * A chain whose handling calls back into the test where there is a hook,
 * and elsewhere one that keeps the device busy for a while (64 KiB to fill
 * or read), so that the other thread keeps up even on a loaded machine.
 */
static uint16_t post_refill_request(struct hostile *h)
{
	static const uint8_t cmd[10] = { VIRTIO_NET_CTRL_GUEST_OFFLOADS,
					 VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET };
	struct fake_buf b[3];

	if (h->kind == RNG) {
		b[0] = (struct fake_buf){ BIG_GPA, RNG_CAP, W };
		return fake_vq_post(vq(h), b, 1);
	}
	if (h->kind == CON_RX) {
		/* Takes no input, but makes the device walk a queue's worth of
		 * empty descriptors. */
		for (uint16_t i = 0; i < vq(h)->size; i++)
			fake_put_desc(&h->g, TABLE_GPA, i, DATA_GPA, 0,
				      VIRTQ_DESC_F_WRITE |
					      (i + 1 < vq(h)->size ? VIRTQ_DESC_F_NEXT : 0),
				      i + 1);
		fake_vq_put_desc(vq(h), 0, TABLE_GPA, 16 * (uint32_t)vq(h)->size,
				 VIRTQ_DESC_F_INDIRECT, 0);
		fake_vq_publish(vq(h), 0);
		return 0;
	}
	if (h->kind == BLK) {
		b[0] = (struct fake_buf){ blk_header(h, VIRTIO_BLK_T_IN, 0), 16, R };
		b[1] = (struct fake_buf){ BIG_GPA, 64 * 1024, W };
		b[2] = (struct fake_buf){ alloc(h, NULL, 1), 1, W };
		return fake_vq_post(vq(h), b, 3);
	}

	if (h->kind == CON_TX) {
		b[0] = (struct fake_buf){ alloc(h, "x", 1), 1, R };
		return fake_vq_post(vq(h), b, 1);
	}
	if (h->kind == NET_CTRL) {
		b[0] = (struct fake_buf){ alloc(h, cmd, sizeof(cmd)), sizeof(cmd), R };
		b[1] = (struct fake_buf){ alloc(h, NULL, 1), 1, W };
		return fake_vq_post(vq(h), b, 2);
	}
	return post_bad_request(h);
}

/*
 * One kick while the driver keeps the ring full: the device returns after
 * its budget (two rings' worth) instead of for as long as the driver keeps
 * going, and the loop brings it back for the rest without another kick.
 * With a second thread the race is retried until the device did have to
 * stop at its budget.
 */
static void test_refill_while_draining(void **state)
{
	struct hostile *h = *state;
	unsigned int budget = 2 * vq(h)->size, attempt;
	unsigned long long popped = 0;
	uint16_t head;

	/* virtio-net transmit stops at a smaller budget of its own. */
	if (h->kind == NET_TX)
		budget = VIRTIO_NET_QUEUE_SIZE;
	head = post_refill_request(h);
	kick(h);
	capture_begin(&h->cap);
	for (attempt = 0; attempt < 20 && popped != budget; attempt++) {
		popped = kick_while_refilled(h, head);
		if (popped > budget)
			fail_msg("one kick used %llu chains (budget %u)", popped, budget);
		if (popped == budget) {
			for (int i = 0; i < 100 && fake_vq_used_idx(vq(h)) != vq(h)->avail_idx; i++)
				event_loop_run_once(&h->loop, 10);
		} else {
			/* The other thread fell behind: then a kick is due. */
			kick(h);
		}
		assert_int_equal(fake_vq_used_idx(vq(h)), vq(h)->avail_idx);
	}
	end_and_check_log(h, 0);
	assert_false(needs_reset(h));
}

/* ---- maximal buffers ---------------------------------------------------------- */

/*
 * Buffers that each cover the same 4 MiB of guest RAM: 64 MiB in one chain
 * (56 MiB on the control queue, whose chains hold 16 buffers).
 */
static uint16_t post_big(struct hostile *h, const struct fake_buf *first, unsigned int nr_first,
			 bool writable, const struct fake_buf *last, unsigned int nr_last)
{
	unsigned int nr_big = h->kind == NET_CTRL ? BIG_DESCS - 2 : BIG_DESCS;
	struct fake_buf b[BIG_DESCS + 4];
	unsigned int n = 0;

	for (unsigned int i = 0; i < nr_first; i++)
		b[n++] = first[i];
	for (unsigned int i = 0; i < nr_big; i++)
		b[n++] = (struct fake_buf){ BIG_GPA, BIG_LEN, writable };
	for (unsigned int i = 0; i < nr_last; i++)
		b[n++] = last[i];
	return fake_vq_post(vq(h), b, n);
}

static void test_max_buffers(void **state)
{
	struct hostile *h = *state;
	struct fake_vq *v = vq(h);
	struct virtio_net_stats st;
	uint16_t head, used_head;
	uint32_t len;

	capture_begin(&h->cap);
	switch (h->kind) {
	case RNG:
		/* 64 MiB asked for: one request fills at most 64 KiB. */
		head = post_big(h, NULL, 0, W, NULL, 0);
		kick(h);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, RNG_CAP);
		break;
	case CON_TX:
		/* 64 MiB of output in one chain: 64 KiB of it is written. */
		head = post_big(h, NULL, 0, R, NULL, 0);
		kick(h);
		fake_vq_next_used(v, &used_head);
		assert_int_equal(h->tx_bytes, CONSOLE_TX_CAP);
		break;
	case CON_RX:
		head = post_big(h, NULL, 0, W, NULL, 0);
		kick(h);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, 3);
		break;
	case BLK: {
		/* A 64 MiB read from a 1 MiB disk fails alone. */
		struct fake_buf hdr = { blk_header(h, VIRTIO_BLK_T_IN, 0), 16, R };
		struct fake_buf status = { alloc(h, NULL, 1), 1, W };

		head = post_big(h, &hdr, 1, W, &status, 1);
		kick(h);
		for (int i = 0; i < 100 && fake_vq_used_idx(v) == v->used_seen; i++)
			event_loop_run_once(&h->loop, 10);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, 1);
		assert_int_equal(h->g.buf[status.gpa], VIRTIO_BLK_S_IOERR);
		break;
	}
	case NET_TX: {
		uint8_t got[64];

		/* A 64 MiB frame is dropped, not written. */
		head = post_big(h, NULL, 0, R, NULL, 0);
		kick(h);
		fake_vq_next_used(v, &used_head);
		virtio_net_get_stats(h->net, &st);
		assert_int_equal(st.tx_dropped, 1);
		assert_int_equal(st.tx_packets, 0);
		assert_int_equal(read(h->net_host_fd, got, sizeof(got)), -1);
		break;
	}
	case NET_CTRL: {
		/* A MAC table claiming 2^32 - 1 entries in 64 MiB is refused. */
		uint8_t cmd[6] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET };
		struct fake_buf first, ack = { alloc(h, NULL, 1), 1, W };

		put_le32(cmd + 2, UINT32_MAX);
		first = (struct fake_buf){ alloc(h, cmd, sizeof(cmd)), sizeof(cmd), R };
		head = post_big(h, &first, 1, R, &ack, 1);
		kick(h);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, 1);
		assert_int_equal(h->g.buf[ack.gpa], VIRTIO_NET_ERR);
		break;
	}
	case NET_RX: {
		uint8_t frame[VIRTIO_NET_HDR_LEN + 100] = { 0 };

		memset(frame + VIRTIO_NET_HDR_LEN, 0xff, 6);
		head = post_big(h, NULL, 0, W, NULL, 0);
		kick(h);
		assert_int_equal(write(h->net_host_fd, frame, sizeof(frame)), sizeof(frame));
		for (int i = 0; i < 100 && fake_vq_used_idx(v) == v->used_seen; i++)
			event_loop_run_once(&h->loop, 10);
		len = fake_vq_next_used(v, &used_head);
		assert_int_equal(len, sizeof(frame));
		break;
	}
	default:
		fail();
	}
	end_and_check_log(h, 0);
	assert_int_equal(used_head, head);
	assert_false(needs_reset(h));
}

/* ---- virtio-blk: requests in flight ------------------------------------------------ */

/*
 * A driver that makes heads available again before the device used them
 * (and never lets the device reap a completion meanwhile): the device keeps
 * at most one ring of requests in flight per queue, however often it is
 * kicked, and so at most that many request buffers. Then everything it took
 * completes.
 */
static void test_blk_inflight_bounded(void **state)
{
	struct hostile *h = *state;
	struct fake_vq *v = vq(h);
	struct virtq *dvq = dev_vq(h);
	struct fake_buf b[3] = {
		{ blk_header(h, VIRTIO_BLK_T_IN, 0), 16, R },
		{ alloc(h, NULL, 512), 512, W },
		{ alloc(h, NULL, 1), 1, W },
	};
	uint16_t head = fake_vq_post(v, b, 3), taken = 0;
	size_t heap = heap_in_use(), bound;

	kick(h);
	if (fake_vq_used_idx(v) != 0)
		skip(); /* no io_uring here: every request completed at once */
	for (unsigned int round = 0; round < FLOOD / v->size; round++) {
		uint16_t room = v->size - (uint16_t)(v->avail_idx - dvq->last_avail_idx);

		for (uint16_t i = 0; i < room; i++)
			fake_vq_publish(v, head);
		kick(h);
		taken = dvq->last_avail_idx;
		if ((uint16_t)(taken - fake_vq_used_idx(v)) > v->size)
			fail_msg("round %u: %u requests in flight", round,
				 (uint16_t)(taken - fake_vq_used_idx(v)));
	}
	/* A request holds its iovec array (a ring's worth) and a little more. */
	bound = v->size * (v->size * sizeof(struct iovec) + 512) + FLOOD_HEAP_SLACK;
	if (heap_in_use() > heap + bound)
		fail_msg("heap grew by %zu bytes (bound %zu)", heap_in_use() - heap, bound);
	for (int i = 0; i < 1000 && fake_vq_used_idx(v) != v->avail_idx; i++) {
		event_loop_run_once(&h->loop, 10);
		kick(h);
	}
	assert_int_equal(fake_vq_used_idx(v), v->avail_idx);
	assert_int_equal(h->g.buf[b[2].gpa], VIRTIO_BLK_S_OK);
	assert_false(needs_reset(h));
}

/* ---- the table ----------------------------------------------------------------- */

static const struct target t_rng = { RNG, 0 };
static const struct target t_con_tx = { CON_TX, 0 };
static const struct target t_con_rx = { CON_RX, 0 };
static const struct target t_blk = { BLK, BLOCK_AIO_SYNC };
static const struct target t_blk_uring = { BLK, BLOCK_AIO_IO_URING };
static const struct target t_net_rx = { NET_RX, 0 };
static const struct target t_net_tx = { NET_TX, 0 };
static const struct target t_net_ctrl = { NET_CTRL, 0 };

#define T(fn, t)                                            \
	{                                                   \
#fn "/" #t, fn, setup, teardown, (void *)&t \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_descriptor_loop, t_rng),
		T(test_descriptor_loop, t_con_tx),
		T(test_descriptor_loop, t_con_rx),
		T(test_descriptor_loop, t_blk),
		T(test_descriptor_loop, t_net_rx),
		T(test_descriptor_loop, t_net_tx),
		T(test_descriptor_loop, t_net_ctrl),
		T(test_chain_longer_than_queue, t_rng),
		T(test_chain_longer_than_queue, t_con_tx),
		T(test_chain_longer_than_queue, t_con_rx),
		T(test_chain_longer_than_queue, t_blk),
		T(test_chain_longer_than_queue, t_net_rx),
		T(test_chain_longer_than_queue, t_net_tx),
		T(test_chain_longer_than_queue, t_net_ctrl),
		T(test_chain_as_long_as_queue, t_rng),
		T(test_chain_as_long_as_queue, t_blk),
		T(test_avail_idx_jump, t_rng),
		T(test_avail_idx_jump, t_con_tx),
		T(test_avail_idx_jump, t_con_rx),
		T(test_avail_idx_jump, t_blk),
		T(test_avail_idx_jump, t_net_rx),
		T(test_avail_idx_jump, t_net_tx),
		T(test_avail_idx_jump, t_net_ctrl),
		T(test_flood_same_chain, t_rng),
		T(test_flood_same_chain, t_con_tx),
		T(test_flood_same_chain, t_con_rx),
		T(test_flood_same_chain, t_blk),
		T(test_flood_same_chain, t_net_tx),
		T(test_flood_same_chain, t_net_ctrl),
		T(test_refill_while_draining, t_rng),
		T(test_refill_while_draining, t_con_tx),
		T(test_refill_while_draining, t_con_rx),
		T(test_refill_while_draining, t_blk),
		T(test_refill_while_draining, t_net_tx),
		T(test_refill_while_draining, t_net_ctrl),
		T(test_max_buffers, t_rng),
		T(test_max_buffers, t_con_tx),
		T(test_max_buffers, t_con_rx),
		T(test_max_buffers, t_blk),
		T(test_max_buffers, t_net_rx),
		T(test_max_buffers, t_net_tx),
		T(test_max_buffers, t_net_ctrl),
		T(test_blk_inflight_bounded, t_blk_uring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
