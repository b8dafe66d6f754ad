// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_virtio.h"
#include "virtio/console.h"

#define RAM (1u << 20)
#define QSIZE 16
#define NR_QUEUES 2
#define DATA_GPA 0x80000
#define RX VIRTIO_CONSOLE_RX
#define TX VIRTIO_CONSOLE_TX

/* A fake driver writing split rings in guest RAM, as a guest would. */
struct drv {
	struct fake_guest g;
	struct event_loop loop;
	struct virtio_console vc;
	struct virtio_dev *vdev;
	struct fake_vq vq[NR_QUEUES];
	struct fake_data data;
	struct fake_irqs irq;
	uint8_t out[8192]; /* what the tx callback got, concatenated */
	size_t out_len;
	unsigned int tx_calls;
	unsigned int rx_ready;
};

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return fake_vq_used_idx(&d->vq[q]);
}

static uint32_t used_id(struct drv *d, unsigned int q, uint16_t i)
{
	return fake_vq_used_id(&d->vq[q], i);
}

static uint32_t used_len(struct drv *d, unsigned int q, uint16_t i)
{
	return fake_vq_used_len(&d->vq[q], i);
}

/* Would a Linux driver that just moved avail->idx from @old to @new kick? */
static bool driver_would_kick(struct drv *d, unsigned int q, uint16_t old, uint16_t new_idx)
{
	uint16_t ev = fake_vq_avail_event(&d->vq[q]);

	return (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old);
}

static void tx_cb(void *opaque, const uint8_t *data, size_t len)
{
	struct drv *d = opaque;

	assert_true(d->out_len + len <= sizeof(d->out));
	memcpy(d->out + d->out_len, data, len);
	d->out_len += len;
	d->tx_calls++;
}

static void rx_ready_cb(void *opaque)
{
	struct drv *d = opaque;

	d->rx_ready++;
}

/* Guest memory for one buffer, optionally filled with @data. */
static uint64_t alloc_data(struct drv *d, const void *data, uint32_t len)
{
	return fake_data_alloc(&d->data, data, len);
}

/* Write a chain of descriptors for @bufs and make it available. */
static uint16_t post(struct drv *d, unsigned int q, const struct fake_buf *bufs, unsigned int n)
{
	/* Like Linux with callbacks on: interrupt me for the next used entry. */
	fake_vq_set_used_event(&d->vq[q], used_idx(d, q));
	return fake_vq_post(&d->vq[q], bufs, n);
}

/* Post one device-writable receive buffer of @len bytes; returns its gpa. */
static uint64_t post_rx(struct drv *d, uint32_t len)
{
	struct fake_buf b = { alloc_data(d, NULL, len), len, true };

	post(d, RX, &b, 1);
	return b.gpa;
}

static void post_tx(struct drv *d, const char *const *parts, unsigned int n)
{
	struct fake_buf bufs[8];

	assert_true(n <= 8);
	for (unsigned int i = 0; i < n; i++)
		bufs[i] = (struct fake_buf){ alloc_data(d, parts[i], strlen(parts[i])),
					     strlen(parts[i]), false };
	post(d, TX, bufs, n);
}

static void negotiate(struct drv *d, bool event_idx)
{
	struct virtio_dev *vdev = d->vdev;

	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_dev_set_driver_features(vdev, 0, event_idx ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0);
	virtio_dev_set_driver_features(vdev, 1, 1); /* VERSION_1 */
	virtio_dev_set_status(vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_dev_status(vdev) & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		struct fake_vq *vq = &d->vq[q];

		fake_vq_init(vq, &d->g, 0x10000 + 0x10000 * (uint64_t)q, QSIZE);
		fake_vq_clear(vq);
		assert_int_equal(
			virtio_dev_enable_queue(vdev, q, QSIZE, vq->desc, vq->avail, vq->used), 0);
	}
}

static void driver_ok(struct drv *d)
{
	virtio_dev_set_status(d->vdev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_true(virtio_dev_status(d->vdev) & VIRTIO_STATUS_DRIVER_OK);
}

static struct drv *drv_new(void)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_console_ops ops = { tx_cb, rx_ready_cb, NULL };

	assert_non_null(d);
	ops.opaque = d;
	fake_guest_init(&d->g, RAM);
	fake_data_init(&d->data, &d->g, DATA_GPA);
	assert_int_equal(event_loop_init(&d->loop, "test", NULL), 0);
	assert_int_equal(virtio_console_init(&d->vc, &d->g.mem, &d->loop, &ops), 0);
	assert_int_equal(virtio_console_start(&d->vc), 0);
	d->vdev = &d->vc.vdev;
	d->vdev->transport = fake_irqs_transport(&d->irq, NR_QUEUES);
	return d;
}

static int setup(void **state)
{
	struct drv *d = drv_new();

	negotiate(d, false);
	driver_ok(d);
	*state = d;
	return 0;
}

static int setup_event_idx(void **state)
{
	struct drv *d = drv_new();

	negotiate(d, true);
	driver_ok(d);
	*state = d;
	return 0;
}

static int setup_no_driver(void **state)
{
	*state = drv_new();
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;

	virtio_console_free(&d->vc);
	event_loop_destroy(&d->loop);
	fake_guest_free(&d->g);
	free(d);
	return 0;
}

/* Run whatever the event loop has ready (the input eventfd). */
static void run_loop(struct drv *d)
{
	while (event_loop_run_once(&d->loop, 0) > 0)
		;
}

static void test_identity(void **state)
{
	struct drv *d = *state;

	assert_int_equal(d->vdev->device_id, VIRTIO_ID_CONSOLE);
	assert_int_equal(d->vdev->nr_queues, 2);
	assert_true(d->vdev->device_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void test_transmit(void **state)
{
	struct drv *d = *state;
	static const char *const a[] = { "hello", ", ", "world" };
	static const char *const b[] = { "\n" };
	static const char *const c[] = { "second ", "kick\r\n" };
	static const char expect[] = "hello, world\nsecond kick\r\n";

	post_tx(d, a, 3);
	post_tx(d, b, 1);
	assert_int_equal(d->out_len, 0); /* nothing before the kick */
	virtio_dev_kick(d->vdev, TX);
	assert_int_equal(d->out_len, 13);
	assert_memory_equal(d->out, expect, 13);
	assert_int_equal(d->tx_calls, 4); /* one per buffer, in order */
	assert_int_equal(used_idx(d, TX), 2);
	assert_int_equal(used_id(d, TX, 0), 0);
	assert_int_equal(used_len(d, TX, 0), 0);
	assert_int_equal(used_id(d, TX, 1), 3);
	assert_int_equal(used_len(d, TX, 1), 0);
	assert_int_equal(d->irq.queue[TX], 1);
	assert_int_equal(d->irq.queue[RX], 0);

	post_tx(d, c, 2);
	virtio_dev_kick(d->vdev, TX);
	assert_int_equal(d->out_len, strlen(expect));
	assert_memory_equal(d->out, expect, strlen(expect));
	assert_int_equal(used_idx(d, TX), 3);
	assert_int_equal(d->irq.queue[TX], 2);

	/* A kick with nothing new does nothing. */
	virtio_dev_kick(d->vdev, TX);
	assert_int_equal(d->out_len, strlen(expect));
	assert_int_equal(used_idx(d, TX), 3);
	assert_int_equal(d->irq.queue[TX], 2);
}

/* A transmit chain may carry a writable buffer: it is returned untouched. */
static void test_transmit_ignores_writable(void **state)
{
	struct drv *d = *state;
	struct fake_buf bufs[2] = {
		{ alloc_data(d, "ab", 2), 2, false },
		{ alloc_data(d, NULL, 4), 4, true },
	};

	post(d, TX, bufs, 2);
	virtio_dev_kick(d->vdev, TX);
	assert_int_equal(d->out_len, 2);
	assert_memory_equal(d->out, "ab", 2);
	assert_int_equal(used_len(d, TX, 0), 0);
	assert_int_equal(d->g.buf[bufs[1].gpa], 0xee);
}

/* Output made available before DRIVER_OK goes out when the device starts. */
static void test_transmit_before_driver_ok(void **state)
{
	struct drv *d = *state;
	static const char *const a[] = { "early" };

	negotiate(d, false);
	post_tx(d, a, 1);
	virtio_dev_kick(d->vdev, TX); /* not running yet: ignored */
	assert_int_equal(d->out_len, 0);
	assert_int_equal(used_idx(d, TX), 0);
	driver_ok(d);
	assert_int_equal(d->out_len, 5);
	assert_memory_equal(d->out, "early", 5);
	assert_int_equal(used_idx(d, TX), 1);
}

static void test_receive_before_driver_ok(void **state)
{
	struct drv *d = *state;

	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"abc", 3), 0);
	negotiate(d, false);
	post_rx(d, 16);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"abc", 3), 0);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 0);
	assert_int_equal(d->vc.in_len, 0);

	/* Starting tells the host it may send now. */
	assert_int_equal(d->rx_ready, 0);
	driver_ok(d);
	assert_int_equal(d->rx_ready, 1);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"abc", 3), 3);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 1);
	assert_int_equal(used_len(d, RX, 0), 3);
}

static void test_receive(void **state)
{
	struct drv *d = *state;
	uint64_t b0 = post_rx(d, 8), b1 = post_rx(d, 8), b2, b3;
	static const char long_input[] = "0123456789ABCDEFghij"; /* 20 bytes */

	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"abc", 3), 3);
	/* Delivery happens on the event loop, not in the caller. */
	assert_int_equal(used_idx(d, RX), 0);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 1);
	assert_int_equal(used_id(d, RX, 0), 0);
	assert_int_equal(used_len(d, RX, 0), 3);
	assert_memory_equal(d->g.buf + b0, "abc", 3);
	assert_int_equal(d->g.buf[b0 + 3], 0xee); /* not a byte more */
	assert_int_equal(d->irq.queue[RX], 1);
	assert_int_equal(d->vc.in_len, 0);

	/* 20 bytes over 8 + 8 + 8: split across three buffers in order. */
	b2 = post_rx(d, 8);
	b3 = post_rx(d, 8);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)long_input, 20), 20);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 4);
	assert_int_equal(used_len(d, RX, 1), 8);
	assert_int_equal(used_len(d, RX, 2), 8);
	assert_int_equal(used_len(d, RX, 3), 4);
	assert_memory_equal(d->g.buf + b1, long_input, 8);
	assert_memory_equal(d->g.buf + b2, long_input + 8, 8);
	assert_memory_equal(d->g.buf + b3, long_input + 16, 4);
	assert_int_equal(d->g.buf[b3 + 4], 0xee);
	assert_int_equal(d->vc.in_len, 0);
}

/* One receive chain of several buffers is filled across them. */
static void test_receive_multi_buffer_chain(void **state)
{
	struct drv *d = *state;
	struct fake_buf bufs[2] = {
		{ alloc_data(d, NULL, 3), 3, true },
		{ alloc_data(d, NULL, 10), 10, true },
	};

	post(d, RX, bufs, 2);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"hello!", 6), 6);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 1);
	assert_int_equal(used_len(d, RX, 0), 6);
	assert_memory_equal(d->g.buf + bufs[0].gpa, "hel", 3);
	assert_memory_equal(d->g.buf + bufs[1].gpa, "lo!", 3);
}

static void test_receive_waits_for_buffers(void **state)
{
	struct drv *d = *state;
	uint64_t b;

	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"xyz", 3), 3);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 0);
	assert_int_equal(d->vc.in_len, 3);
	assert_int_equal(d->irq.queue[RX], 0);

	/* A buffer appears; the driver's kick delivers what was held. */
	b = post_rx(d, 8);
	virtio_dev_kick(d->vdev, RX);
	assert_int_equal(used_idx(d, RX), 1);
	assert_int_equal(used_len(d, RX, 0), 3);
	assert_memory_equal(d->g.buf + b, "xyz", 3);
	assert_int_equal(d->vc.in_len, 0);
	assert_int_equal(d->irq.queue[RX], 1);
}

/*
 * With EVENT_IDX the driver kicks only when it passes avail_event: a device
 * holding input with no receive buffers must ask for the next kick, or the
 * input is stuck for good.
 */
static void test_receive_event_idx_asks_for_kick(void **state)
{
	struct drv *d = *state;
	uint64_t b;

	/* Use up the first buffers, so avail_event is past its initial 0. */
	post_rx(d, 4);
	post_rx(d, 4);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"12345678", 8), 8);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 2);

	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"later", 5), 5);
	run_loop(d);
	assert_int_equal(d->vc.in_len, 5);
	b = post_rx(d, 8);
	assert_true(driver_would_kick(d, RX, 2, 3));
	virtio_dev_kick(d->vdev, RX);
	assert_int_equal(used_idx(d, RX), 3);
	assert_memory_equal(d->g.buf + b, "later", 5);
}

static void test_receive_full_and_rx_ready(void **state)
{
	struct drv *d = *state;
	uint8_t big[VIRTIO_CONSOLE_INBUF + 100];
	unsigned int ready_before;
	uint64_t b;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	/* Only what fits is taken. */
	assert_int_equal(virtio_console_receive(&d->vc, big, sizeof(big)), VIRTIO_CONSOLE_INBUF);
	assert_int_equal(virtio_console_receive(&d->vc, big, 1), 0);
	run_loop(d);
	ready_before = d->rx_ready;

	/* The guest takes 100 bytes: room again, and the host hears of it. */
	b = post_rx(d, 100);
	virtio_dev_kick(d->vdev, RX);
	assert_int_equal(used_len(d, RX, 0), 100);
	assert_memory_equal(d->g.buf + b, big, 100);
	assert_int_equal(d->rx_ready, ready_before + 1);
	assert_int_equal(d->vc.in_len, VIRTIO_CONSOLE_INBUF - 100);
	assert_int_equal(virtio_console_receive(&d->vc, big + VIRTIO_CONSOLE_INBUF, 100), 100);

	/* The rest arrives in order. */
	b = post_rx(d, VIRTIO_CONSOLE_INBUF);
	virtio_dev_kick(d->vdev, RX);
	assert_int_equal(used_len(d, RX, 1), VIRTIO_CONSOLE_INBUF);
	assert_memory_equal(d->g.buf + b, big + 100, VIRTIO_CONSOLE_INBUF);
	assert_int_equal(d->vc.in_len, 0);
}

static void test_reset_drops_input(void **state)
{
	struct drv *d = *state;
	unsigned int ready_before = d->rx_ready;

	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"stale", 5), 5);
	run_loop(d);
	assert_int_equal(d->vc.in_len, 5);
	virtio_dev_set_status(d->vdev, 0);
	assert_int_equal(virtio_dev_status(d->vdev), 0);
	assert_int_equal(d->vc.in_len, 0);
	assert_true(d->rx_ready > ready_before);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"x", 1), 0);

	/* The next driver gets none of the old input. */
	negotiate(d, false);
	driver_ok(d);
	post_rx(d, 8);
	virtio_dev_kick(d->vdev, RX);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 0);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"new", 3), 3);
	run_loop(d);
	assert_int_equal(used_idx(d, RX), 1);
	assert_int_equal(used_len(d, RX, 0), 3);
}

/* A malformed chain breaks the device until reset; nothing else is touched. */
static void test_malformed_chains(void **state)
{
	struct drv *d = *state;
	static const char *const a[] = { "never" };
	struct fake_buf bad = { RAM - 4, 8, false }; /* runs past the end of RAM */

	post(d, TX, &bad, 1);
	virtio_dev_kick(d->vdev, TX);
	assert_true(virtio_dev_status(d->vdev) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(d->irq.config, 1);
	assert_int_equal(used_idx(d, TX), 0);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"x", 1), 0);

	post_tx(d, a, 1);
	virtio_dev_kick(d->vdev, TX);
	assert_int_equal(d->out_len, 0);
	assert_int_equal(used_idx(d, TX), 0);
	assert_int_equal(d->irq.config, 1);

	/* A reset and a new driver bring it back. */
	virtio_dev_set_status(d->vdev, 0);
	negotiate(d, false);
	driver_ok(d);
	post_tx(d, a, 1);
	virtio_dev_kick(d->vdev, TX);
	assert_int_equal(d->out_len, 5);
	assert_false(virtio_dev_status(d->vdev) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_malformed_rx_chain(void **state)
{
	struct drv *d = *state;
	struct fake_buf bad = { RAM - 4, 8, true };

	post(d, RX, &bad, 1);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"abc", 3), 3);
	run_loop(d);
	assert_true(virtio_dev_status(d->vdev) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(used_idx(d, RX), 0);
	assert_int_equal(virtio_console_receive(&d->vc, (const uint8_t *)"abc", 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit, setup_event_idx, teardown),
		cmocka_unit_test_setup_teardown(test_transmit_ignores_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit_before_driver_ok, setup_no_driver,
						teardown),
		cmocka_unit_test_setup_teardown(test_receive_before_driver_ok, setup_no_driver,
						teardown),
		cmocka_unit_test_setup_teardown(test_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive, setup_event_idx, teardown),
		cmocka_unit_test_setup_teardown(test_receive_multi_buffer_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_waits_for_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_waits_for_buffers, setup_event_idx,
						teardown),
		cmocka_unit_test_setup_teardown(test_receive_event_idx_asks_for_kick,
						setup_event_idx, teardown),
		cmocka_unit_test_setup_teardown(test_receive_full_and_rx_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_drops_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_rx_chain, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
