// SPDX-License-Identifier: MIT
/*
 * Split virtqueues (virtio/virtqueue.c) driven by a fuzzed driver in 64 KiB
 * of guest RAM: descriptor table at 0, avail ring at 0x1000, used ring at
 * 0x2000, four indirect tables at 0x3000-0x6fff, data from 0x8000.
 *
 * Input: one configuration byte (bit 0 EVENT_IDX, bit 1 INDIRECT_DESC,
 * bits 2-5 the queue size as log2 (above 8: not what fits the layout), bit
 * 6: the three ring addresses follow as fz_gpa, bit 7: size 0), then
 * operations until the input ends, each an opcode byte and its operands
 * (see the OP_* list). The device side follows the virtqueue.h contract:
 * it pushes only heads it popped and stops using a queue after a pop
 * failed until it is initialized again. Every popped chain names only
 * guest RAM (fuzz_check_elem()), and a chain built by OP_CHAIN that is
 * popped untouched is refused or returned exactly (check_expected()).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_guest.h"
#include "virtio/virtqueue.h"

#define RAM 0x10000
#define DESC_GPA 0x0000
#define INDIRECT_GPA 0x3000
#define NR_INDIRECT 4
#define DATA_GPA 0x8000
#define MAX_IOV 64
#define MAX_POPPED 64
#define MAX_OPS 4096

enum {
	OP_DESC, /* fz_desc() */
	OP_CHAIN, /* build and publish a well-formed chain */
	OP_PUBLISH, /* u16 head into the next avail slot */
	OP_AVAIL_IDX, /* u16 written to avail->idx */
	OP_POP, /* u8: iovecs the device offers (1..64) */
	OP_PUSH, /* u8 which popped head, u32 length; then should_interrupt */
	OP_NOTIFY, /* u8: bit 0 disable, else enable */
	OP_EVENT, /* u8 selector, u16: used_event or avail->flags */
	OP_RAW, /* u16 address, bytes */
	OP_PENDING,
	OP_INIT, /* a configuration byte, as at the start */
	NR_OPS
};

/* The last chain op_chain() built, while nothing could have changed it. */
struct expected_chain {
	bool valid;
	bool indirect;
	uint16_t head;
	unsigned int n;
	struct fuzz_buf bufs[8];
};

struct vq_fuzz {
	struct fuzz_guest g;
	bool fixed_layout; /* the rings apart, where the driver's layout puts them */
	struct expected_chain expect;
	struct fuzz_vq drv;
	struct virtq vq;
	bool broken; /* a pop failed: the device must leave the queue alone */
	uint16_t popped[MAX_POPPED];
	unsigned int nr_popped;
	uint64_t data_next;
	struct iovec iov[MAX_IOV];
};

static void init_queue(struct vq_fuzz *f, struct fuzz_input *in)
{
	uint8_t cfg = fz_u8(in);
	uint16_t size = cfg & 0x80 ? 0 : (uint16_t)(1u << ((cfg >> 2) & 0xf));
	uint64_t desc = DESC_GPA, avail = DESC_GPA + FUZZ_VQ_AVAIL_OFF,
		 used = DESC_GPA + FUZZ_VQ_USED_OFF;
	int ret;

	if (cfg & 0x40) {
		desc = fz_gpa(in, &f->g);
		avail = fz_gpa(in, &f->g);
		used = fz_gpa(in, &f->g);
	}
	/* Larger queues' descriptor tables run into the avail ring. */
	f->fixed_layout = !(cfg & 0x40) && size <= FUZZ_VQ_MAX;
	f->expect.valid = false;
	fuzz_vq_init(&f->drv, DESC_GPA, size);
	f->drv.desc = desc;
	f->drv.avail = avail;
	f->drv.used = used;
	ret = virtq_init(&f->vq, &f->g.mem, size, desc, avail, used, cfg & 1, cfg & 2);
	f->broken = ret != 0;
	fuzz_assert(ret == 0 || !f->vq.ready);
	f->nr_popped = 0;
	/* The driver starts from whatever avail->idx holds. */
	if (!ret)
		f->drv.avail_idx = f->vq.avail->idx;
}

static uint64_t data_alloc(struct vq_fuzz *f, uint32_t len)
{
	uint64_t gpa;

	if (f->data_next + len > RAM)
		f->data_next = DATA_GPA;
	gpa = f->data_next;
	f->data_next += (len + 15) & ~15u;
	return gpa;
}

/*
 * u8 buffer count - 1 (bits 0-2), bit 3 indirect, bits 4-5 which indirect
 * table; u8 writable mask (buffer i writable if bit i); then per buffer a
 * u16 length (up to 0x7ff).
 */
static void op_chain(struct vq_fuzz *f, struct fuzz_input *in)
{
	uint8_t shape = fz_u8(in), wmask = fz_u8(in);
	unsigned int n = (shape & 7) + 1;
	bool indirect = shape & 8;
	uint16_t head = f->drv.size ? f->drv.next_desc % f->drv.size : 0;
	uint64_t table =
		indirect ? INDIRECT_GPA + ((shape >> 4) % NR_INDIRECT) * 0x1000ULL : f->drv.desc;
	struct expected_chain *e = &f->expect;

	/* A direct chain longer than the ring overwrites its own descriptors. */
	*e = (struct expected_chain){ .valid = f->fixed_layout && !f->broken &&
					       (indirect || n <= f->drv.size),
				      .indirect = indirect,
				      .head = head,
				      .n = n };
	for (unsigned int i = 0; i < n; i++) {
		uint32_t len = fz_u16(in) & 0x7ff;
		uint16_t idx = indirect ? (uint16_t)i : (uint16_t)((head + i) % (f->drv.size ?: 1));
		uint16_t next =
			indirect ? (uint16_t)(i + 1) : (uint16_t)((idx + 1) % (f->drv.size ?: 1));
		uint16_t flags = (uint16_t)((wmask >> i & 1 ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));

		e->bufs[i] = (struct fuzz_buf){ data_alloc(f, len), len, wmask >> i & 1 };
		fuzz_put_desc(&f->g, table, idx, e->bufs[i].gpa, len, flags, next);
	}
	if (indirect) {
		fuzz_put_desc(&f->g, f->drv.desc, head, table, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
		n = 1;
	}
	f->drv.next_desc = (uint16_t)(head + n);
	fuzz_vq_publish(&f->g, &f->drv, head);
}

/*
 * When the next chain is the one op_chain() just built, virtq_pop() must
 * fail exactly when the chain breaks a rule (indirect not negotiated,
 * longer than the queue, a readable buffer after a non-empty writable one,
 * more non-empty buffers than iovecs) and else return exactly its
 * non-empty buffers.
 */
static void check_expected(struct vq_fuzz *f, const struct virtq_elem *elem, int ret)
{
	const struct expected_chain *e = &f->expect;
	unsigned int nonempty = 0, nr_in = 0, k = 0;
	bool bad = (e->indirect && !f->vq.indirect) || e->n > f->vq.size;

	for (unsigned int i = 0; i < e->n; i++) {
		if (!e->bufs[i].writable && nr_in)
			bad = true;
		if (e->bufs[i].len) {
			nonempty++;
			nr_in += e->bufs[i].writable;
		}
	}
	if (bad || nonempty > elem->max_iov) {
		fuzz_assert(ret < 0);
		return;
	}
	fuzz_assert(ret == 1 && elem->head == e->head);
	fuzz_assert(elem->nr_out + elem->nr_in == nonempty && elem->nr_in == nr_in);
	for (unsigned int i = 0; i < e->n; i++) {
		if (!e->bufs[i].len)
			continue;
		fuzz_assert(elem->iov[k].iov_base == f->g.ram + e->bufs[i].gpa);
		fuzz_assert(elem->iov[k].iov_len == e->bufs[i].len);
		k++;
	}
}

static void op_pop(struct vq_fuzz *f, struct fuzz_input *in)
{
	struct virtq_elem elem = { .iov = f->iov, .max_iov = fz_u8(in) % MAX_IOV + 1 };
	uint16_t before = f->vq.last_avail_idx, pending = virtq_pending(&f->vq);
	bool expected = f->expect.valid && f->vq.ready && pending == 1 &&
			f->vq.avail->ring[before & (f->vq.size - 1)] == f->expect.head;
	int ret;

	if (f->broken)
		return;
	f->expect.valid = false;
	ret = virtq_pop(&f->vq, &elem);
	if (expected)
		check_expected(f, &elem, ret);
	if (ret < 0) {
		f->broken = true;
		return;
	}
	fuzz_assert(ret == 0 || ret == 1);
	if (!ret) {
		fuzz_assert(f->vq.last_avail_idx == before);
		return;
	}
	fuzz_assert(pending > 0 && pending <= f->vq.size);
	fuzz_assert(f->vq.last_avail_idx == (uint16_t)(before + 1));
	fuzz_check_elem(&f->g, &elem, f->vq.size);
	if (f->nr_popped == MAX_POPPED) {
		virtq_push(&f->vq, elem.head, 0);
		return;
	}
	f->popped[f->nr_popped++] = elem.head;
}

static void op_push(struct vq_fuzz *f, struct fuzz_input *in)
{
	uint8_t which = fz_u8(in);
	uint32_t len = fz_u32(in);
	unsigned int i;
	uint16_t used_before = f->vq.used_idx;

	if (f->broken || !f->nr_popped)
		return;
	i = which % f->nr_popped;
	virtq_push(&f->vq, f->popped[i], len);
	f->popped[i] = f->popped[--f->nr_popped];
	fuzz_assert(f->vq.used_idx == (uint16_t)(used_before + 1));
	fuzz_assert(f->vq.used->idx == f->vq.used_idx);
	virtq_should_interrupt(&f->vq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, 0 };
	struct vq_fuzz *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	fuzz_guest_init(&f->g, RAM);
	f->data_next = DATA_GPA;
	init_queue(f, &in);
	for (unsigned int ops = 0; fz_more(&in) && ops < MAX_OPS; ops++) {
		uint8_t sel;

		switch (fz_u8(&in) % NR_OPS) {
		case OP_DESC:
			f->expect.valid = false;
			fz_desc(&in, &f->g, &f->drv, INDIRECT_GPA, NR_INDIRECT);
			break;
		case OP_CHAIN:
			op_chain(f, &in);
			break;
		case OP_PUBLISH:
			f->expect.valid = false;
			fuzz_vq_publish(&f->g, &f->drv, fz_u16(&in));
			break;
		case OP_AVAIL_IDX:
			f->expect.valid = false;
			fuzz_vq_set_avail_idx(&f->g, &f->drv, fz_u16(&in));
			break;
		case OP_POP:
			op_pop(f, &in);
			break;
		case OP_PUSH:
			op_push(f, &in);
			break;
		case OP_NOTIFY:
			if (f->broken || !f->vq.ready)
				fz_u8(&in);
			else if (fz_u8(&in) & 1)
				virtq_disable_notify(&f->vq);
			else
				virtq_enable_notify(&f->vq);
			break;
		case OP_EVENT:
			sel = fz_u8(&in);
			if (sel & 1)
				fuzz_vq_set_used_event(&f->g, &f->drv, fz_u16(&in));
			else
				fuzz_vq_set_avail_flags(&f->g, &f->drv, fz_u16(&in));
			break;
		case OP_RAW:
			f->expect.valid = false;
			fz_raw_write(&in, &f->g, fz_u16(&in), 64);
			break;
		case OP_PENDING:
			fuzz_assert(f->vq.ready || virtq_pending(&f->vq) == 0);
			break;
		case OP_INIT:
			init_queue(f, &in);
			break;
		}
	}
	fuzz_guest_free(&f->g);
	free(f);
	return 0;
}
