// SPDX-License-Identifier: MIT
/*
 * virtio-blk (virtio/blk.c) on a real image, a memfd (or an O_TMPFILE in
 * /tmp for cache=none) opened through /proc/self/fd with aio=sync, so
 * every request completes inside the kick that started it. The event loop
 * has no thread: the target dispatches its ready sources itself (OP_RUN),
 * and requires it to go idle. Requests the device sees alone are checked
 * against what the spec and the disk say (kick_and_check()).
 *
 * Input: a configuration byte (bit 0 read-only, bit 1 two queues, bits 2-3
 * the image size: 64 KiB + 100 bytes, empty, 4 KiB, 1 MiB; bit 4 a serial
 * follows: a length byte and up to 20 bytes; bits 5-7 all set: cache=none,
 * where the file system allows O_DIRECT: its requests go to the disk, a
 * millisecond per input, so only one configuration in eight), then
 * operations until the input ends, each an opcode byte and its operands
 * (see OP_*). Guest RAM is 256 KiB: queue q's rings at q * 0x4000,
 * indirect tables at 0x8000-0xbfff, data buffers from 0xc000.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_guest.h"
#include "virtio/blk.h"

#define RAM 0x40000
#define NR_QUEUES_MAX 2
#define INDIRECT_GPA 0x8000
#define NR_INDIRECT 4
#define DATA_GPA 0xc000
#define MAX_BUFS 12
#define MAX_OPS 1024
#define CHECK_BYTES (33 * 512) /* the longest read or write */

enum {
	OP_BRINGUP, /* fz_bringup() */
	OP_STATUS, /* u8 written to the status register (0: reset) */
	OP_DESC, /* u8 queue, fz_desc() */
	OP_PUBLISH, /* u8 queue, u16 head */
	OP_REQ, /* a request chain, see op_req() */
	OP_KICK, /* u8 queue */
	OP_RAW, /* fz_gpa, length byte, bytes */
	OP_CONFIG, /* u8 offset, u8 width selector */
	OP_AVAIL, /* u8 queue, u8 selector, u16: avail->idx, used_event or avail->flags */
	OP_RUN, /* dispatch the event loop until idle (queues resumed after their budget) */
	NR_OPS
};

static const uint64_t image_sizes[4] = { 65536 + 100, 0, 4096, 1 << 20 };

struct blk_fuzz {
	/* Kept for every input (see LLVMFuzzerInitialize()). */
	struct fuzz_guest g;
	struct event_loop loop;
	/* Images by size, zeroes between inputs: memfds, and O_TMPFILEs
	 * opened with O_DIRECT (-2: /tmp has no O_DIRECT, the memfd stands
	 * in). */
	int memfd[4], direct_img[4];
	uint8_t check[CHECK_BYTES];

	/* One input's, zeroed before it: everything from here on. */
	struct virtio_blk *blk;
	struct virtio_dev *vdev;
	struct fuzz_vq vq[NR_QUEUES_MAX];
	struct fuzz_alloc data;
	unsigned int next_table;
	int img;
	uint64_t size;
	bool direct;
	uint64_t capacity; /* sectors */
	bool ro;
	char serial[VIRTIO_BLK_ID_BYTES + 1];
};

/* Request flags (op_req). */
#define REQ_INDIRECT 0x01
#define REQ_SPLIT_HEADER 0x02 /* header in two buffers of 8 bytes */
#define REQ_STATUS_IN_DATA 0x04 /* status is the last byte of the last data buffer */
#define REQ_NO_STATUS 0x08
#define REQ_NO_KICK 0x10
#define REQ_ODD_LEN 0x20 /* one byte more data than whole sectors */
#define REQ_FLIP_DATA 0x40 /* data buffers in the other direction */
#define REQ_RAW_SECTOR 0x80 /* the sector is a u64, else a u16 */

static const uint32_t req_types[8] = {
	VIRTIO_BLK_T_IN,
	VIRTIO_BLK_T_OUT,
	VIRTIO_BLK_T_FLUSH,
	VIRTIO_BLK_T_GET_ID,
	VIRTIO_BLK_T_DISCARD,
	VIRTIO_BLK_T_WRITE_ZEROES,
	0,
	0,
};

/* A request op_req() built, as the checks need it. */
struct blk_request {
	uint32_t type;
	uint64_t sector;
	uint64_t data_gpa;
	uint32_t data_len; /* without a status byte in the last data buffer */
	unsigned int nseg;
	struct {
		uint64_t sector;
		uint32_t num, flags;
	} seg[9];
};

/* What virtio-blk must answer to a well-formed @r: status and used length. */
static uint8_t expected_status(const struct blk_fuzz *f, const struct blk_request *r,
			       uint32_t *used_len)
{
	bool discard = r->type == VIRTIO_BLK_T_DISCARD;
	uint64_t nsec = r->data_len / 512;

	*used_len = 1;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (r->sector > f->capacity || nsec > f->capacity - r->sector ||
		    (r->type == VIRTIO_BLK_T_OUT && f->ro))
			return VIRTIO_BLK_S_IOERR;
		if (r->type == VIRTIO_BLK_T_IN)
			*used_len = r->data_len + 1;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		*used_len =
			(r->data_len < VIRTIO_BLK_ID_BYTES ? r->data_len : VIRTIO_BLK_ID_BYTES) + 1;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (f->ro || !r->nseg || r->nseg > (discard ? 32u : 8u))
			return VIRTIO_BLK_S_IOERR;
		/* Segments in order: the first bad one decides. */
		for (unsigned int i = 0; i < r->nseg; i++) {
			if ((r->seg[i].flags & ~VIRTIO_BLK_WZ_F_UNMAP) ||
			    (discard && r->seg[i].flags))
				return VIRTIO_BLK_S_UNSUPP;
			if (r->seg[i].sector > f->capacity ||
			    r->seg[i].num > f->capacity - r->seg[i].sector)
				return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	}
	return VIRTIO_BLK_S_UNSUPP;
}

/*
 * Post and kick a well-formed request and, when it is the only chain the
 * device can see, check what it did: the status and used length
 * expected_status() gives, and for a success the bytes: read data is the
 * disk's, written data reaches the disk, GET_ID gives the serial, zeroed
 * ranges read as zeroes.
 */
static void kick_and_check(struct blk_fuzz *f, unsigned int q, const struct fuzz_buf *bufs,
			   unsigned int n, uint64_t table, const struct blk_request *r)
{
	struct virtq *dvq = &f->vdev->vqs[q];
	uint16_t head = fuzz_vq_post(&f->g, &f->vq[q], bufs, n, table), used_before;
	uint64_t status_gpa = bufs[n - 1].gpa + bufs[n - 1].len - 1;
	const uint8_t *data = f->g.ram + r->data_gpa;
	uint32_t used_len, len = r->data_len;
	static const uint8_t zeroes[CHECK_BYTES];
	const struct virtq_used_elem *e;
	uint8_t status;
	bool checked;

	/* The device sees the driver's rings, and this chain alone. */
	checked = atomic_load(&f->vdev->running) && dvq->ready && dvq->size == f->vq[q].size &&
		  (uint8_t *)dvq->desc == f->g.ram + f->vq[q].desc &&
		  (uint8_t *)dvq->avail == f->g.ram + f->vq[q].avail &&
		  (uint8_t *)dvq->used == f->g.ram + f->vq[q].used &&
		  (uint16_t)(dvq->avail->idx - dvq->last_avail_idx) == 1 && n <= dvq->size &&
		  (!table || virtio_dev_has_feature(f->vdev, VIRTIO_F_INDIRECT_DESC));
	used_before = dvq->used_idx;
	f->g.ram[status_gpa] = 0xee;
	virtio_dev_kick(f->vdev, q);
	if (!checked)
		return;
	fuzz_assert(dvq->used_idx == (uint16_t)(used_before + 1));
	e = &dvq->used->ring[used_before & (dvq->size - 1)];
	fuzz_assert(e->id == head);
	status = expected_status(f, r, &used_len);
	fuzz_assert(f->g.ram[status_gpa] == status);
	if (status != VIRTIO_BLK_S_OK)
		return;
	fuzz_assert(e->len == used_len);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		fuzz_assert(pread(f->img, f->check, len, (off_t)(r->sector * 512)) == len);
		fuzz_assert(!memcmp(f->check, data, len));
		break;
	case VIRTIO_BLK_T_GET_ID:
		memset(f->check, 0, VIRTIO_BLK_ID_BYTES);
		memcpy(f->check, f->serial, strlen(f->serial));
		fuzz_assert(!memcmp(f->check, data, used_len - 1));
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		for (unsigned int i = 0; i < r->nseg; i++) {
			uint64_t off = r->seg[i].sector * 512, left = r->seg[i].num * 512ULL;

			while (left) {
				uint32_t chunk = left < sizeof(f->check) ? left : sizeof(f->check);

				fuzz_assert(pread(f->img, f->check, chunk, (off_t)off) == chunk);
				fuzz_assert(!memcmp(f->check, zeroes, chunk));
				off += chunk;
				left -= chunk;
			}
		}
		break;
	}
}

/* What a write request carries, a byte at a time (FUZZ_PLAIN: it would
 * cost more instrumented than the request). */
FUZZ_PLAIN static void fill_pattern(uint8_t *p, uint32_t len, uint8_t start)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(start + i * 7);
}

/*
 * u8 queue, u8 type (0-5: IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES;
 * 6-7: a raw u32 type follows), u8 REQ_* flags, the sector (u16 or u64),
 * u8 data sectors (0-32; for GET_ID bytes), u8 data buffers (1-4); for
 * DISCARD and WRITE_ZEROES instead u8 segments (0-9), each u16 sector,
 * u16 sectors, u8 flags.
 */
static void op_req(struct blk_fuzz *f, struct fuzz_input *in)
{
	unsigned int q = fz_u8(in) % f->vdev->nr_queues;
	uint8_t tsel = fz_u8(in) % 8;
	struct blk_request r = { .type = tsel >= 6 ? fz_u32(in) : req_types[tsel] };
	uint8_t flags = fz_u8(in);
	bool out = r.type == VIRTIO_BLK_T_OUT || r.type == VIRTIO_BLK_T_DISCARD ||
		   r.type == VIRTIO_BLK_T_WRITE_ZEROES;
	struct fuzz_buf bufs[MAX_BUFS];
	unsigned int n = 0, nbufs = 1;
	uint32_t data_len;
	uint64_t hdr = fuzz_alloc(&f->data, 16), table = 0;
	uint8_t h[16] = { 0 };

	r.sector = flags & REQ_RAW_SECTOR ? fz_u64(in) : fz_u16(in);
	if (r.type == VIRTIO_BLK_T_DISCARD || r.type == VIRTIO_BLK_T_WRITE_ZEROES) {
		uint8_t seg[16];

		r.nseg = fz_u8(in) % 10;
		data_len = r.nseg * 16;
		r.data_gpa = fuzz_alloc(&f->data, data_len + 2);
		for (unsigned int i = 0; i < r.nseg; i++) {
			r.seg[i].sector = fz_u16(in);
			r.seg[i].num = fz_u16(in);
			r.seg[i].flags = fz_u8(in);
			put_le64(seg, r.seg[i].sector);
			put_le32(seg + 8, r.seg[i].num);
			put_le32(seg + 12, r.seg[i].flags);
			guest_mem_write(&f->g.mem, r.data_gpa + 16 * i, seg, sizeof(seg));
		}
	} else {
		uint8_t amount = fz_u8(in);

		data_len = r.type == VIRTIO_BLK_T_GET_ID ? amount : (amount % 33) * 512u;
		nbufs = fz_u8(in) % 4 + 1;
		r.data_gpa = fuzz_alloc(&f->data, data_len + 2);
		if (r.type == VIRTIO_BLK_T_OUT)
			fill_pattern(f->g.ram + r.data_gpa, data_len, (uint8_t)hdr);
	}
	if (flags & REQ_ODD_LEN)
		data_len++;
	r.data_len = data_len;

	put_le32(h, r.type);
	put_le64(h + 8, r.sector);
	guest_mem_write(&f->g.mem, hdr, h, sizeof(h));
	if (flags & REQ_SPLIT_HEADER) {
		bufs[n++] = (struct fuzz_buf){ hdr, 8, false };
		bufs[n++] = (struct fuzz_buf){ hdr + 8, 8, false };
	} else {
		bufs[n++] = (struct fuzz_buf){ hdr, 16, false };
	}
	/* The data, cut into nbufs pieces (the last takes the rest). */
	for (unsigned int i = 0, off = 0; data_len && i < nbufs; i++) {
		uint32_t len = i + 1 < nbufs ? data_len / nbufs : data_len - off;

		if (i + 1 == nbufs && (flags & REQ_STATUS_IN_DATA))
			len++;
		bufs[n++] = (struct fuzz_buf){ r.data_gpa + off, len,
					       !out != !!(flags & REQ_FLIP_DATA) };
		off += len;
	}
	if (!(flags & (REQ_NO_STATUS | REQ_STATUS_IN_DATA)))
		bufs[n++] = (struct fuzz_buf){ fuzz_alloc(&f->data, 1), 1, true };
	if (flags & REQ_INDIRECT)
		table = INDIRECT_GPA + (f->next_table++ % NR_INDIRECT) * 0x1000ULL;
	if (flags & REQ_NO_KICK) {
		fuzz_vq_post(&f->g, &f->vq[q], bufs, n, table);
		return;
	}
	/* Checked: well-formed requests (without data or with device-readable
	 * data, REQ_STATUS_IN_DATA leaves no status; odd lengths are only
	 * GET_ID's and FLUSH's to have). */
	if ((flags & (REQ_NO_STATUS | REQ_FLIP_DATA)) ||
	    ((out || !data_len) && (flags & REQ_STATUS_IN_DATA)) ||
	    ((flags & REQ_ODD_LEN) && r.type != VIRTIO_BLK_T_GET_ID &&
	     r.type != VIRTIO_BLK_T_FLUSH)) {
		fuzz_vq_post(&f->g, &f->vq[q], bufs, n, table);
		virtio_dev_kick(f->vdev, q);
		return;
	}
	kick_and_check(f, q, bufs, n, table, &r);
}

/*
 * An image of @size zeroes, unnamed: a memfd, or with @direct an O_TMPFILE
 * in /tmp whose own descriptor is opened with O_DIRECT, if the file
 * system allows (-2 if not).
 */
static int make_image(uint64_t size, bool direct)
{
	int fd = direct ? open("/tmp", O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600)
			: memfd_create("fuzz-virtio-blk", MFD_CLOEXEC);

	if (fd < 0 && direct)
		return -2;
	if (fd < 0 || ftruncate(fd, (off_t)size))
		abort();
	/* The device opens its own; the checks read through the page cache. */
	if (direct)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_DIRECT);
	return fd;
}

/*
 * The image back to zeroes after an input, whose size the device must have
 * left alone. Without freeing blocks on a disk file system, where that
 * takes milliseconds: O_DIRECT images get theirs marked unwritten (always,
 * as earlier inputs' blocks stay), which the device cannot tell from a new
 * sparse file.
 */
static void image_reset(int fd, uint64_t size, bool direct)
{
	int mode = (direct ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE) | FALLOC_FL_KEEP_SIZE;
	struct stat st;

	if (fstat(fd, &st))
		abort();
	fuzz_assert((uint64_t)st.st_size == size);
	if (size && (direct || st.st_blocks) && fallocate(fd, mode, 0, (off_t)size))
		abort();
}

/*
 * What outlives one input, because making it anew took most of an input's
 * time: guest RAM, the loop, the images. Each input finds them as a new
 * process would (blk_begin(); the device's descriptors leave the loop
 * when it closes them; image_reset() after it) and has a device of its
 * own, so an input run alone does what it did in the campaign. libFuzzer
 * passes no context, hence the static; LLVMFuzzerInitialize() makes it
 * before the first input, which then runs no other code than the rest.
 */
static struct blk_fuzz *blk_fuzz;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct blk_fuzz *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	if (!f || event_loop_init(&f->loop, "fuzz", &err))
		abort();
	fuzz_guest_init(&f->g, RAM);
	for (unsigned int i = 0; i < 4; i++) {
		f->memfd[i] = make_image(image_sizes[i], false);
		f->direct_img[i] = make_image(image_sizes[i], true);
	}
	blk_fuzz = f;
	return 0;
}

/* The input's configuration (a byte, then the serial if it says so) and
 * its device. */
static void blk_begin(struct blk_fuzz *f, struct fuzz_input *in)
{
	uint8_t cfg = fz_u8(in);
	unsigned int sz = (cfg >> 2) & 3;
	bool direct = (cfg & 0xe0) == 0xe0;
	struct virtio_blk_opts o = { .ro = cfg & 1, .aio = BLOCK_AIO_SYNC };
	struct error err = { 0 };
	char path[64];

	fuzz_guest_clear(&f->g);
	memset(&f->blk, 0, sizeof(*f) - offsetof(struct blk_fuzz, blk));
	f->data = (struct fuzz_alloc){ DATA_GPA, RAM, DATA_GPA };
	if (cfg & 0x10) {
		fz_bytes(in, f->serial, fz_u8(in) % (VIRTIO_BLK_ID_BYTES + 1));
		o.serial = f->serial;
	}
	if (direct && f->direct_img[sz] >= 0) {
		f->img = f->direct_img[sz];
		o.cache = BLOCK_CACHE_NONE;
	} else {
		direct = false;
		f->img = f->memfd[sz];
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", f->img);
	o.path = path;
	f->size = image_sizes[sz];
	f->direct = direct;
	f->capacity = image_sizes[sz] / 512;
	f->ro = o.ro;
	if (virtio_blk_create(&f->blk, &o, cfg & 2 ? 2 : 1, &f->g.mem, &f->loop, &err))
		abort();
	f->vdev = virtio_blk_vdev(f->blk);
	fuzz_quiet(&f->vdev->log_rl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, 0 };
	struct blk_fuzz *f = blk_fuzz;

	blk_begin(f, &in);
	for (unsigned int ops = 0; fz_more(&in) && ops < MAX_OPS; ops++) {
		unsigned int q;
		uint8_t sel, buf[8];
		uint32_t off, len;

		switch (fz_u8(&in) % NR_OPS) {
		case OP_BRINGUP:
			fz_bringup(&in, &f->g, f->vdev, f->vq, 0);
			break;
		case OP_STATUS:
			virtio_dev_set_status(f->vdev, fz_u8(&in));
			break;
		case OP_DESC:
			q = fz_u8(&in) % f->vdev->nr_queues;
			fz_desc(&in, &f->g, &f->vq[q], INDIRECT_GPA, NR_INDIRECT);
			break;
		case OP_PUBLISH:
			q = fz_u8(&in) % f->vdev->nr_queues;
			fuzz_vq_publish(&f->g, &f->vq[q], fz_u16(&in));
			break;
		case OP_REQ:
			op_req(f, &in);
			break;
		case OP_KICK:
			virtio_dev_kick(f->vdev, fz_u8(&in) % (f->vdev->nr_queues + 1));
			break;
		case OP_RAW:
			fz_raw_write(&in, &f->g, fz_gpa(&in, &f->g), 255);
			break;
		case OP_CONFIG:
			off = fz_u8(&in);
			len = fz_width(fz_u8(&in));
			/* The transport keeps accesses inside the config space. */
			if (off + len <= f->vdev->config_size)
				f->vdev->ops->config_read(f->vdev, off, buf, len);
			break;
		case OP_AVAIL:
			q = fz_u8(&in) % f->vdev->nr_queues;
			sel = fz_u8(&in) % 3;
			if (sel == 0)
				fuzz_vq_set_avail_idx(&f->g, &f->vq[q], fz_u16(&in));
			else if (sel == 1)
				fuzz_vq_set_used_event(&f->g, &f->vq[q], fz_u16(&in));
			else
				fuzz_vq_set_avail_flags(&f->g, &f->vq[q], fz_u16(&in));
			break;
		case OP_RUN:
			fuzz_run_loop(&f->loop);
			break;
		}
	}
	virtio_blk_destroy(f->blk);
	fuzz_loop_check_idle(&f->loop);
	image_reset(f->img, f->size, f->direct);
	return 0;
}
