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
#include "virtio/virtqueue.h"

#define RAM (1u << 20)
#define QSIZE 8
#define DESC_GPA 0x1000
#define AVAIL_GPA (DESC_GPA + FAKE_VQ_AVAIL_OFF)
#define USED_GPA (DESC_GPA + FAKE_VQ_USED_OFF)
#define TABLE_GPA 0x8000 /* indirect tables */
#define DATA_GPA 0x10000

/* A fake driver: it writes the rings the way a guest would. */
struct drv {
	struct fake_guest g;
	struct virtq vq;
	struct fake_vq drv;
	struct iovec iov[16];
	struct virtq_elem elem;
};

/* The driver's rings are left as they are: virtq_init must not need them. */
static void reinit(struct drv *d, uint16_t size, bool event_idx, bool indirect)
{
	fake_vq_init(&d->drv, &d->g, DESC_GPA, size);
	assert_int_equal(virtq_init(&d->vq, &d->g.mem, size, DESC_GPA, AVAIL_GPA, USED_GPA,
				    event_idx, indirect),
			 0);
}

static int pop(struct drv *d)
{
	memset(&d->elem, 0, sizeof(d->elem));
	d->elem.iov = d->iov;
	d->elem.max_iov = 16;
	return virtq_pop(&d->vq, &d->elem);
}

static void *host(struct drv *d, uint64_t gpa)
{
	return d->g.buf + gpa;
}

static int setup(void **state)
{
	struct drv *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	fake_guest_init(&d->g, RAM);
	reinit(d, QSIZE, false, true);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct drv *d = *state;

	fake_guest_free(&d->g);
	free(d);
	return 0;
}

/* ---- virtq_init ---- */

static void test_init_caches_pointers_and_leaves_rings_alone(void **state)
{
	struct drv *d = *state;
	uint8_t before[0x4000];

	memset(d->g.buf + DESC_GPA, 0xa5, 0x4000);
	memcpy(before, d->g.buf + DESC_GPA, sizeof(before));
	reinit(d, QSIZE, true, true);
	assert_memory_equal(before, d->g.buf + DESC_GPA, sizeof(before));
	assert_true(d->vq.ready);
	assert_ptr_equal(d->vq.desc, host(d, DESC_GPA));
	assert_ptr_equal(d->vq.avail, host(d, AVAIL_GPA));
	assert_ptr_equal(d->vq.used, host(d, USED_GPA));
	assert_int_equal(d->vq.last_avail_idx, 0);
	assert_int_equal(d->vq.used_idx, 0);
	assert_false(d->vq.signalled_used_valid);
	assert_true(d->vq.event_idx);
	assert_true(d->vq.indirect);

	virtq_reset(&d->vq);
	assert_false(d->vq.ready);
	assert_int_equal(pop(d), 0);
	assert_int_equal(virtq_pending(&d->vq), 0);
}

static void test_init_sizes(void **state)
{
	struct drv *d = *state;
	static const uint16_t bad[] = { 0, 3, 6, 12, 100, 0x8001, 0xffff };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(virtq_init(&d->vq, &d->g.mem, bad[i], DESC_GPA, AVAIL_GPA,
					    USED_GPA, false, false),
				 -EINVAL);
		assert_false(d->vq.ready);
	}
	assert_int_equal(
		virtq_init(&d->vq, &d->g.mem, 1, DESC_GPA, AVAIL_GPA, USED_GPA, false, false), 0);
	/* The largest queue: 512 KiB of descriptors, 64 KiB avail, 256 KiB used. */
	assert_int_equal(virtq_init(&d->vq, &d->g.mem, 32768, 0, 0x80000, 0xbfff8, false, false),
			 0);
	assert_int_equal(d->vq.size, 32768);
	/* The used ring (0x40006 bytes) one aligned step later ends past RAM. */
	assert_int_equal(virtq_init(&d->vq, &d->g.mem, 32768, 0, 0x80000, 0xbfffc, false, false),
			 -EFAULT);
}

static void test_init_alignment(void **state)
{
	struct drv *d = *state;
	const struct guest_mem *m = &d->g.mem;

	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, 0, 0),
			 -EINVAL);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA + 1, AVAIL_GPA, USED_GPA, 0, 0),
			 -EINVAL);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA, AVAIL_GPA + 1, USED_GPA, 0, 0),
			 -EINVAL);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA + 2, 0, 0),
			 -EINVAL);
	assert_false(d->vq.ready);
	/* The minimum alignments themselves are fine. */
	assert_int_equal(
		virtq_init(&d->vq, m, QSIZE, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4, 0, 0), 0);
}

static void test_init_rings_outside_ram(void **state)
{
	struct drv *d = *state;
	const struct guest_mem *m = &d->g.mem;
	/* Exact ring sizes for 8 entries: desc 128, avail 22, used 70 (72 aligned). */
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, RAM - 128, RAM - 22, RAM - 72, 0, 0), 0);
	assert_true(d->vq.ready);

	/* A failed init leaves the queue not ready, even if it was before. */
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, RAM - 112, AVAIL_GPA, USED_GPA, 0, 0),
			 -EFAULT);
	assert_false(d->vq.ready);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA, RAM - 20, USED_GPA, 0, 0), -EFAULT);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA, AVAIL_GPA, RAM - 68, 0, 0),
			 -EFAULT);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, RAM, AVAIL_GPA, USED_GPA, 0, 0), -EFAULT);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, UINT64_MAX - 15, AVAIL_GPA, USED_GPA, 0, 0),
			 -EFAULT);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA, UINT64_MAX - 1, USED_GPA, 0, 0),
			 -EFAULT);
	assert_int_equal(virtq_init(&d->vq, m, QSIZE, DESC_GPA, AVAIL_GPA, UINT64_MAX - 3, 0, 0),
			 -EFAULT);
	assert_false(d->vq.ready);
}

/* ---- normal operation ---- */

static void test_pop_direct_chain(void **state)
{
	struct drv *d = *state;

	/* 5 -> 2 -> 7: two readable buffers, then one writable. */
	fake_vq_put_desc(&d->drv, 5, DATA_GPA, 100, VIRTQ_DESC_F_NEXT, 2);
	fake_vq_put_desc(&d->drv, 2, DATA_GPA + 0x1000, 50, VIRTQ_DESC_F_NEXT, 7);
	fake_vq_put_desc(&d->drv, 7, DATA_GPA + 0x2000, 200, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(virtq_pending(&d->vq), 0);
	assert_int_equal(pop(d), 0);
	fake_vq_publish(&d->drv, 5);
	assert_int_equal(virtq_pending(&d->vq), 1);

	assert_int_equal(pop(d), 1);
	assert_int_equal(d->elem.head, 5);
	assert_int_equal(d->elem.nr_out, 2);
	assert_int_equal(d->elem.nr_in, 1);
	assert_int_equal(d->elem.out_len, 150);
	assert_int_equal(d->elem.in_len, 200);
	assert_ptr_equal(d->iov[0].iov_base, host(d, DATA_GPA));
	assert_int_equal(d->iov[0].iov_len, 100);
	assert_ptr_equal(d->iov[1].iov_base, host(d, DATA_GPA + 0x1000));
	assert_int_equal(d->iov[1].iov_len, 50);
	assert_ptr_equal(d->iov[2].iov_base, host(d, DATA_GPA + 0x2000));
	assert_int_equal(d->iov[2].iov_len, 200);
	assert_int_equal(d->vq.last_avail_idx, 1);
	assert_int_equal(virtq_pending(&d->vq), 0);
	assert_int_equal(pop(d), 0);
}

static void test_pop_single_and_zero_length(void **state)
{
	struct drv *d = *state;

	/* A zero-length buffer is checked but takes no iovec. */
	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 0, VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, DATA_GPA + 64, 10, VIRTQ_DESC_F_WRITE, 0);
	fake_vq_put_desc(&d->drv, 3, DATA_GPA + 128, 4, 0, 0);
	fake_vq_publish(&d->drv, 0);
	fake_vq_publish(&d->drv, 3);
	assert_int_equal(virtq_pending(&d->vq), 2);
	assert_int_equal(pop(d), 1);
	assert_int_equal(d->elem.head, 0);
	assert_int_equal(d->elem.nr_out, 0);
	assert_int_equal(d->elem.nr_in, 1);
	assert_ptr_equal(d->iov[0].iov_base, host(d, DATA_GPA + 64));
	assert_int_equal(pop(d), 1);
	assert_int_equal(d->elem.head, 3);
	assert_int_equal(d->elem.nr_out, 1);
	assert_int_equal(d->elem.nr_in, 0);
	assert_int_equal(d->elem.out_len, 4);
	assert_int_equal(pop(d), 0);
}

static void test_pop_chain_of_exactly_queue_size(void **state)
{
	struct drv *d = *state;

	for (uint16_t i = 0; i < QSIZE; i++)
		fake_vq_put_desc(&d->drv, i, DATA_GPA + i, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0,
				 i + 1);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), 1);
	assert_int_equal(d->elem.nr_out, QSIZE);
}

static void test_pop_indirect(void **state)
{
	struct drv *d = *state;

	/* Table order 0 -> 2 -> 1: readable, then two writable. */
	fake_put_desc(&d->g, TABLE_GPA, 0, DATA_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	fake_put_desc(&d->g, TABLE_GPA, 2, DATA_GPA + 0x100, 20,
		      VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	fake_put_desc(&d->g, TABLE_GPA, 1, DATA_GPA + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
	fake_vq_put_desc(&d->drv, 3, TABLE_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(&d->drv, 3);
	assert_int_equal(pop(d), 1);
	assert_int_equal(d->elem.head, 3);
	assert_int_equal(d->elem.nr_out, 1);
	assert_int_equal(d->elem.nr_in, 2);
	assert_int_equal(d->elem.out_len, 10);
	assert_int_equal(d->elem.in_len, 50);
	assert_ptr_equal(d->iov[0].iov_base, host(d, DATA_GPA));
	assert_ptr_equal(d->iov[1].iov_base, host(d, DATA_GPA + 0x100));
	assert_ptr_equal(d->iov[2].iov_base, host(d, DATA_GPA + 0x200));
	assert_int_equal(d->iov[2].iov_len, 30);

	/* Direct descriptors may lead into an indirect table at the chain's end. */
	fake_vq_put_desc(&d->drv, 0, DATA_GPA + 0x300, 8, VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_put_desc(&d->g, TABLE_GPA + 0x100, 0, DATA_GPA + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), 1);
	assert_int_equal(d->elem.nr_out, 1);
	assert_int_equal(d->elem.nr_in, 1);
	assert_ptr_equal(d->iov[1].iov_base, host(d, DATA_GPA + 0x400));
}

static void test_push_fills_used_ring(void **state)
{
	struct drv *d = *state;

	virtq_push(&d->vq, 5, 123);
	assert_int_equal(fake_vq_used_id(&d->drv, 0), 5);
	assert_int_equal(fake_vq_used_len(&d->drv, 0), 123);
	assert_int_equal(fake_vq_used_idx(&d->drv), 1);
	virtq_push(&d->vq, 7, 0xdeadbeef);
	assert_int_equal(fake_vq_used_id(&d->drv, 1), 7);
	assert_int_equal(fake_vq_used_len(&d->drv, 1), 0xdeadbeef);
	assert_int_equal(fake_vq_used_idx(&d->drv), 2);
	assert_int_equal(d->vq.used_idx, 2);
}

static void test_index_wraparound(void **state)
{
	struct drv *d = *state;
	const uint16_t start = 0xfff0;

	d->vq.last_avail_idx = start;
	d->vq.used_idx = start;
	fake_vq_set_avail_idx(&d->drv, start);
	for (uint16_t i = 0; i < QSIZE; i++)
		fake_vq_put_desc(&d->drv, i, DATA_GPA + 16 * i, 16, VIRTQ_DESC_F_WRITE, 0);

	/* Batches of 5 so that the ring slots and the 16-bit indices wrap. */
	for (unsigned int n = 0; n < 40; n += 5) {
		for (unsigned int j = 0; j < 5; j++)
			fake_vq_publish(&d->drv, (n + j) % QSIZE);
		assert_int_equal(virtq_pending(&d->vq), 5);
		for (unsigned int j = 0; j < 5; j++) {
			uint16_t slot = (uint16_t)(start + n + j) & (QSIZE - 1);

			assert_int_equal(pop(d), 1);
			assert_int_equal(d->elem.head, (n + j) % QSIZE);
			assert_ptr_equal(d->iov[0].iov_base, host(d, DATA_GPA + 16 * d->elem.head));
			virtq_push(&d->vq, d->elem.head, 100 + n + j);
			assert_int_equal(fake_vq_used_id(&d->drv, slot), (n + j) % QSIZE);
			assert_int_equal(fake_vq_used_len(&d->drv, slot), 100 + n + j);
		}
		assert_int_equal(pop(d), 0);
	}
	assert_int_equal(d->vq.last_avail_idx, (uint16_t)(start + 40));
	assert_int_equal(fake_vq_used_idx(&d->drv), (uint16_t)(start + 40));
}

static void test_interrupt_flag_without_event_idx(void **state)
{
	struct drv *d = *state;

	virtq_push(&d->vq, 0, 0);
	assert_true(virtq_should_interrupt(&d->vq));
	fake_vq_set_avail_flags(&d->drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtq_push(&d->vq, 0, 0);
	assert_false(virtq_should_interrupt(&d->vq));
	/* used_event means nothing without the feature. */
	fake_vq_set_used_event(&d->drv, 0x1234);
	fake_vq_set_avail_flags(&d->drv, 0);
	assert_true(virtq_should_interrupt(&d->vq));
}

static void test_interrupt_event_idx(void **state)
{
	struct drv *d = *state;

	reinit(d, QSIZE, true, true);
	fake_vq_set_used_event(&d->drv, 0x4000); /* far away */
	virtq_push(&d->vq, 0, 0); /* used 1 */
	/* Nothing signalled yet: always interrupt the first time. */
	assert_true(virtq_should_interrupt(&d->vq));

	fake_vq_set_used_event(&d->drv, 2); /* interrupt when used->idx passes 2 */
	virtq_push(&d->vq, 0, 0); /* 1 -> 2 */
	assert_false(virtq_should_interrupt(&d->vq));
	virtq_push(&d->vq, 0, 0); /* 2 -> 3 */
	assert_true(virtq_should_interrupt(&d->vq));
	/* No new entries since: no interrupt whatever used_event says. */
	fake_vq_set_used_event(&d->drv, 2);
	assert_false(virtq_should_interrupt(&d->vq));

	fake_vq_set_used_event(&d->drv, 3);
	virtq_push(&d->vq, 0, 0);
	virtq_push(&d->vq, 0, 0); /* 3 -> 5 crosses 3 */
	assert_true(virtq_should_interrupt(&d->vq));
	fake_vq_set_used_event(&d->drv, 10);
	virtq_push(&d->vq, 0, 0); /* 5 -> 6 */
	assert_false(virtq_should_interrupt(&d->vq));

	/* With event_idx the NO_INTERRUPT flag is ignored. */
	fake_vq_set_avail_flags(&d->drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
	fake_vq_set_used_event(&d->drv, 6);
	virtq_push(&d->vq, 0, 0); /* 6 -> 7 */
	assert_true(virtq_should_interrupt(&d->vq));

	/* Across the 16-bit wrap. */
	d->vq.used_idx = 0xfffe;
	d->vq.signalled_used = 0xfffe;
	fake_vq_set_used_event(&d->drv, 0xffff);
	virtq_push(&d->vq, 0, 0); /* fffe -> ffff */
	assert_false(virtq_should_interrupt(&d->vq));
	virtq_push(&d->vq, 0, 0); /* ffff -> 0 crosses ffff */
	assert_true(virtq_should_interrupt(&d->vq));
}

static void test_notify_flags_without_event_idx(void **state)
{
	struct drv *d = *state;

	virtq_disable_notify(&d->vq);
	assert_int_equal(fake_vq_used_flags(&d->drv), VIRTQ_USED_F_NO_NOTIFY);
	assert_false(virtq_enable_notify(&d->vq));
	assert_int_equal(fake_vq_used_flags(&d->drv), 0);

	virtq_disable_notify(&d->vq);
	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 1, 0, 0);
	fake_vq_publish(&d->drv, 0);
	/* A buffer arrived while kicks were off: the caller must drain. */
	assert_true(virtq_enable_notify(&d->vq));
	assert_int_equal(fake_vq_used_flags(&d->drv), 0);
	assert_int_equal(pop(d), 1);
	assert_false(virtq_enable_notify(&d->vq));
	assert_int_equal(fake_vq_avail_event(&d->drv), 0);
}

static void test_notify_event_idx(void **state)
{
	struct drv *d = *state;

	reinit(d, QSIZE, true, true);
	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 1, 0, 0);
	for (int i = 0; i < 3; i++)
		fake_vq_publish(&d->drv, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pop(d), 1);

	virtq_disable_notify(&d->vq);
	assert_int_equal(fake_vq_used_flags(&d->drv), 0); /* flags are not used with event_idx */
	assert_false(virtq_enable_notify(&d->vq));
	assert_int_equal(fake_vq_avail_event(&d->drv), 3);

	virtq_disable_notify(&d->vq);
	fake_vq_publish(&d->drv, 0);
	assert_true(virtq_enable_notify(&d->vq));
	assert_int_equal(fake_vq_avail_event(&d->drv), 3);
	assert_int_equal(pop(d), 1);
	assert_false(virtq_enable_notify(&d->vq));
	assert_int_equal(fake_vq_avail_event(&d->drv), 4);
}

static void test_pending(void **state)
{
	struct drv *d = *state;

	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 1, 0, 0);
	for (int i = 0; i < 5; i++)
		fake_vq_publish(&d->drv, 0);
	assert_int_equal(virtq_pending(&d->vq), 5);
	assert_int_equal(pop(d), 1);
	assert_int_equal(pop(d), 1);
	assert_int_equal(virtq_pending(&d->vq), 3);
	d->vq.last_avail_idx = 0xfffe;
	fake_vq_set_avail_idx(&d->drv, 2);
	assert_int_equal(virtq_pending(&d->vq), 4);
}

/* ---- a hostile driver ---- */

static void test_loop(void **state)
{
	struct drv *d = *state;

	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);

	reinit(d, QSIZE, false, true);
	fake_vq_put_desc(&d->drv, 4, DATA_GPA, 0, VIRTQ_DESC_F_NEXT,
			 4); /* self loop, empty buffers */
	fake_vq_publish(&d->drv, 4);
	assert_int_equal(pop(d), -EINVAL);
}

static void test_chain_longer_than_queue(void **state)
{
	struct drv *d = *state;

	/* All eight descriptors, then back to the first: nine in the chain. */
	for (uint16_t i = 0; i < QSIZE; i++)
		fake_vq_put_desc(&d->drv, i, DATA_GPA + i, 1, VIRTQ_DESC_F_NEXT, (i + 1) % QSIZE);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);

	/* Caught at the ninth visit, before a ninth buffer could be added. */
	reinit(d, QSIZE, false, true);
	fake_vq_publish(&d->drv, 0);
	memset(&d->elem, 0, sizeof(d->elem));
	d->elem.iov = d->iov;
	d->elem.max_iov = QSIZE;
	assert_int_equal(virtq_pop(&d->vq, &d->elem), -EINVAL);
}

static void test_indirect_loop_and_length(void **state)
{
	struct drv *d = *state;

	/* Four entries used exactly once is fine... */
	for (uint16_t i = 0; i < 4; i++)
		fake_put_desc(&d->g, TABLE_GPA, i, DATA_GPA, 1, i < 3 ? VIRTQ_DESC_F_NEXT : 0,
			      i + 1);
	fake_vq_put_desc(&d->drv, 0, TABLE_GPA, 64, VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), 1);
	assert_int_equal(d->elem.nr_out, 4);
	/* ...a fifth visit is a loop even though the queue has eight entries. */
	fake_put_desc(&d->g, TABLE_GPA, 3, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);
	/* Caught at the fifth visit, before a fifth buffer could be added. */
	reinit(d, QSIZE, false, true);
	fake_vq_publish(&d->drv, 0);
	d->elem.max_iov = 4;
	assert_int_equal(virtq_pop(&d->vq, &d->elem), -EINVAL);
}

static void test_head_out_of_range(void **state)
{
	struct drv *d = *state;

	fake_vq_publish(&d->drv, QSIZE);
	assert_int_equal(pop(d), -EINVAL);
	reinit(d, QSIZE, false, true);
	fake_vq_publish(&d->drv, 0xffff);
	assert_int_equal(pop(d), -EINVAL);
}

static void test_next_out_of_range(void **state)
{
	struct drv *d = *state;

	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, QSIZE);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);

	/* In a two-entry indirect table, next = 2 is out of range. */
	reinit(d, QSIZE, false, true);
	fake_put_desc(&d->g, TABLE_GPA, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
	fake_put_desc(&d->g, TABLE_GPA, 2, DATA_GPA, 1, 0, 0);
	fake_vq_put_desc(&d->drv, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);
}

static void expect_bad_buffer(struct drv *d, uint64_t addr, uint32_t len, int err)
{
	reinit(d, QSIZE, false, true);
	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, addr, len, VIRTQ_DESC_F_WRITE, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), err);
}

static void test_buffer_outside_ram(void **state)
{
	struct drv *d = *state;

	expect_bad_buffer(d, RAM - 16, 16, 1); /* last bytes of RAM: fine */
	expect_bad_buffer(d, RAM - 16, 17, -EFAULT);
	expect_bad_buffer(d, RAM, 1, -EFAULT);
	expect_bad_buffer(d, RAM + 4096, 0, -EFAULT);
	expect_bad_buffer(d, 0x100000000ull, 16, -EFAULT);
	/* addr + len wraps past 2^64 to land inside RAM. */
	expect_bad_buffer(d, UINT64_MAX - 15, 0x100, -EFAULT);
	expect_bad_buffer(d, UINT64_MAX, 2, -EFAULT);
}

static void test_indirect_not_negotiated(void **state)
{
	struct drv *d = *state;

	reinit(d, QSIZE, false, false);
	fake_put_desc(&d->g, TABLE_GPA, 0, DATA_GPA, 1, 0, 0);
	fake_vq_put_desc(&d->drv, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);
}

static void test_nested_indirect(void **state)
{
	struct drv *d = *state;

	fake_put_desc(&d->g, TABLE_GPA, 0, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_put_desc(&d->g, TABLE_GPA + 0x100, 0, DATA_GPA, 1, 0, 0);
	fake_vq_put_desc(&d->drv, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);
}

static void test_indirect_with_next(void **state)
{
	struct drv *d = *state;

	fake_put_desc(&d->g, TABLE_GPA, 0, DATA_GPA, 1, 0, 0);
	fake_vq_put_desc(&d->drv, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, DATA_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);
}

static void expect_bad_table(struct drv *d, uint64_t addr, uint32_t len, int err)
{
	reinit(d, QSIZE, false, true);
	for (uint16_t i = 0; i < 4; i++)
		fake_put_desc(&d->g, TABLE_GPA, i, DATA_GPA, 1, 0, 0);
	fake_vq_put_desc(&d->drv, 0, addr, len, VIRTQ_DESC_F_INDIRECT, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), err);
}

static void test_indirect_bad_table(void **state)
{
	struct drv *d = *state;

	expect_bad_table(d, TABLE_GPA, 16, 1);
	expect_bad_table(d, TABLE_GPA, 0, -EINVAL);
	expect_bad_table(d, TABLE_GPA, 8, -EINVAL);
	expect_bad_table(d, TABLE_GPA, 20, -EINVAL);
	expect_bad_table(d, TABLE_GPA, 63, -EINVAL);
	/* More entries than any queue may have, though it fits in RAM. */
	expect_bad_table(d, 0, 16 * (VIRTQ_MAX_SIZE + 1), -EINVAL);
	expect_bad_table(d, RAM - 16, 32, -EFAULT);
	expect_bad_table(d, RAM, 16, -EFAULT);
	expect_bad_table(d, UINT64_MAX - 15, 32, -EFAULT);
	/* A table need not be aligned. */
	fake_put_desc(&d->g, TABLE_GPA + 0x104, 0, DATA_GPA + 8, 3, VIRTQ_DESC_F_WRITE, 0);
	expect_bad_table(d, TABLE_GPA + 0x104, 16, 1);
	assert_ptr_equal(d->iov[0].iov_base, host(d, DATA_GPA + 8));
	assert_int_equal(d->elem.in_len, 3);
}

static void test_readable_after_writable(void **state)
{
	struct drv *d = *state;

	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, DATA_GPA, 4, 0, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);

	/* Also across the step into an indirect table. */
	reinit(d, QSIZE, false, true);
	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	fake_put_desc(&d->g, TABLE_GPA, 0, DATA_GPA, 4, 0, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(pop(d), -EINVAL);
}

static void test_too_many_buffers(void **state)
{
	struct drv *d = *state;
	struct iovec iov[4];
	struct virtq_elem elem = { .iov = iov, .max_iov = 2 };

	memset(iov, 0x5a, sizeof(iov));
	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	fake_vq_put_desc(&d->drv, 1, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
	fake_vq_put_desc(&d->drv, 2, DATA_GPA, 1, VIRTQ_DESC_F_WRITE, 0);
	fake_vq_publish(&d->drv, 0);
	assert_int_equal(virtq_pop(&d->vq, &elem), -E2BIG);
	/* Nothing written past max_iov. */
	for (size_t i = 0; i < sizeof(iov[2]); i++)
		assert_int_equal(((uint8_t *)&iov[2])[i], 0x5a);

	reinit(d, QSIZE, false, true);
	fake_vq_publish(&d->drv, 0);
	elem.max_iov = 3;
	assert_int_equal(virtq_pop(&d->vq, &elem), 1);
	assert_int_equal(elem.nr_out + elem.nr_in, 3);
}

static void test_avail_idx_runs_ahead(void **state)
{
	struct drv *d = *state;

	fake_vq_put_desc(&d->drv, 0, DATA_GPA, 1, 0, 0);
	fake_vq_set_avail_idx(&d->drv, QSIZE + 1);
	assert_int_equal(pop(d), -EPROTO);
	/* A full ring is fine. */
	fake_vq_set_avail_idx(&d->drv, QSIZE);
	assert_int_equal(pop(d), 1);

	d->vq.last_avail_idx = 0xfffe;
	fake_vq_set_avail_idx(&d->drv, (uint16_t)(0xfffe + QSIZE + 1));
	assert_int_equal(pop(d), -EPROTO);
	/* Going backwards looks like running ahead by almost 2^16. */
	fake_vq_set_avail_idx(&d->drv, 0xfffd);
	assert_int_equal(pop(d), -EPROTO);
}

/* ---- iovec copies ---- */

static void test_iov_copies(void **state)
{
	uint8_t a[3], b[1], c[5], out[16];
	const uint8_t src[] = "0123456789";
	struct iovec iov[] = {
		{ .iov_base = a, .iov_len = sizeof(a) },
		{ .iov_base = b, .iov_len = 0 },
		{ .iov_base = c, .iov_len = sizeof(c) },
	};

	memset(a, 'x', sizeof(a));
	memset(c, 'x', sizeof(c));
	assert_int_equal(iov_from_buf(iov, 3, 2, src, 10), 6);
	assert_memory_equal(a, "xx0", 3);
	assert_memory_equal(c, "12345", 5);
	assert_int_equal(iov_from_buf(iov, 3, 3, src, 2), 2);
	assert_memory_equal(c, "01345", 5);
	assert_int_equal(iov_from_buf(iov, 3, 8, src, 1), 0);
	assert_int_equal(iov_from_buf(iov, 3, 100, src, 1), 0);

	memset(out, 0, sizeof(out));
	assert_int_equal(iov_to_buf(iov, 3, 1, out, sizeof(out)), 7);
	assert_memory_equal(out, "x001345", 7);
	assert_int_equal(iov_to_buf(iov, 3, 4, out, 2), 2);
	assert_memory_equal(out, "13", 2);
	assert_int_equal(iov_to_buf(iov, 2, 0, out, sizeof(out)), 3);
	assert_int_equal(iov_to_buf(iov, 3, 8, out, 4), 0);
	assert_int_equal(iov_to_buf(iov, 0, 0, out, 4), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_init_caches_pointers_and_leaves_rings_alone),
		T(test_init_sizes),
		T(test_init_alignment),
		T(test_init_rings_outside_ram),
		T(test_pop_direct_chain),
		T(test_pop_single_and_zero_length),
		T(test_pop_chain_of_exactly_queue_size),
		T(test_pop_indirect),
		T(test_push_fills_used_ring),
		T(test_index_wraparound),
		T(test_interrupt_flag_without_event_idx),
		T(test_interrupt_event_idx),
		T(test_notify_flags_without_event_idx),
		T(test_notify_event_idx),
		T(test_pending),
		T(test_loop),
		T(test_chain_longer_than_queue),
		T(test_indirect_loop_and_length),
		T(test_head_out_of_range),
		T(test_next_out_of_range),
		T(test_buffer_outside_ram),
		T(test_indirect_not_negotiated),
		T(test_nested_indirect),
		T(test_indirect_with_next),
		T(test_indirect_bad_table),
		T(test_readable_after_writable),
		T(test_too_many_buffers),
		T(test_avail_idx_runs_ahead),
		cmocka_unit_test(test_iov_copies),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
