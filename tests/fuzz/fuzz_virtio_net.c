// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio/net.c) over a SOCK_SEQPACKET socketpair standing in for
 * the TAP, as in the unit tests: transmit chains with their virtio-net
 * header, the control queue, and receive with (or without) mergeable
 * buffers fed frames from the input. The event loop has no thread: the
 * target dispatches its ready sources itself (OP_RUN), and requires it to
 * go idle (a device that keeps it busy forever is a finding).
 *
 * Input: a configuration byte (bit 0: the backend's set_offload fails, bit
 * 1: there is none), then operations until the input ends, each an opcode
 * byte and its operands (see OP_*). Guest RAM is 512 KiB: the receive,
 * transmit and control rings at 0, 0x4000, 0x8000, indirect tables at
 * 0xc000-0xffff, receive chains' own indirect tables at 0x10000, receive
 * buffers from 0x14000, other buffers from 0x50000.
 *
 * What the device delivers is checked (rx_scan()): every frame the driver
 * finds in its receive buffers, put together from num_buffers used entries,
 * is one of the frames sent, in order (frames may be filtered or dropped,
 * never changed, reordered or repeated). The check stops for the input when
 * the driver could no longer tell which buffers a used entry means (raw
 * descriptor or memory writes, a reset).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_guest.h"
#include "virtio/net.h"

#define NR_QUEUES 3
#define INDIRECT_GPA 0xc000
#define NR_INDIRECT 4
#define RX_INDIRECT_GPA 0x10000 /* 64 bytes per head */
#define RX_DATA_GPA 0x14000
#define DATA_GPA 0x50000
#define RAM 0x80000
#define MAX_OPS 1024
#define MAX_BUFS 8
#define MAX_SENT 4096

enum {
	OP_BRINGUP, /* fz_bringup() */
	OP_STATUS, /* u8 written to the status register (0: reset) */
	OP_DESC, /* u8 queue, fz_desc() */
	OP_PUBLISH, /* u8 queue, u16 head */
	OP_TX, /* a transmit chain, see op_tx() */
	OP_RXBUF, /* receive buffers, see op_rxbuf() */
	OP_FRAME, /* a frame from the host, see op_frame() */
	OP_CTRL, /* a control command, see op_ctrl() */
	OP_KICK, /* u8 queue */
	OP_RUN, /* dispatch the event loop until idle */
	OP_RAW, /* fz_gpa, length byte, bytes */
	OP_CONFIG, /* u8 offset, u8 width selector */
	OP_AVAIL, /* u8 queue, u8 selector, u16: avail->idx, used_event or avail->flags */
	NR_OPS
};

/* A receive chain the driver posted and has not got back. */
struct rx_chain {
	unsigned int outstanding; /* posted at this head, not yet used */
	bool known; /* its buffers are these (no other chain shares them) */
	unsigned int era; /* rx_era when posted: older buffers may be reused */
	unsigned int ndesc; /* ring descriptors from the head on */
	unsigned int n;
	uint64_t gpa[3];
	uint32_t len[3];
};

/* The bytes of a frame op_frame() sends that come from the input; the
 * rest are zeroes. */
#define FRAME_HEAD 64

struct sent_frame {
	uint32_t len;
	uint8_t head[FRAME_HEAD]; /* num_buffers (bytes 10-11) zeroed */
};

struct net_fuzz {
	/* Kept for every input (see net_begin() and net_end()). */
	struct fuzz_guest g;
	struct event_loop loop;
	int dev_fd, host_fd;
	uint8_t frame[VIRTIO_NET_MAX_FRAME + 64];
	struct sent_frame sent[MAX_SENT]; /* read below nr_sent only */

	/* One input's, zeroed before it: everything from here on. */
	struct virtio_net *net;
	struct virtio_dev *vdev;
	bool has_offload, offload_fails;
	struct fuzz_vq vq[NR_QUEUES];
	struct fuzz_alloc data;
	unsigned int next_table;

	/* The receive side as the driver knows it (see rx_scan()). */
	struct fuzz_alloc rx_data;
	struct rx_chain rx[FUZZ_VQ_MAX]; /* by head */
	unsigned int rx_era; /* times the receive buffers wrapped around */
	int16_t desc_owner[FUZZ_VQ_MAX]; /* head whose chain uses descriptor i, or -1 */
	bool rx_lost; /* the driver lost track: no more checks */
	uint16_t rx_seen; /* used entries taken */
	unsigned int frame_left; /* used entries still to come for this frame */
	bool frame_known; /* all its buffers so far are known */
	uint64_t frame_len;
	uint8_t frame_head[FRAME_HEAD];
	bool frame_tail_dirty; /* a byte past the head is not zero */
	unsigned int nr_sent, next_sent; /* a delivered frame is sent[next_sent..] */
	bool sent_untracked; /* frames beyond MAX_SENT went out: never matched again */
};

static int set_offload(void *opaque, uint64_t guest_features)
{
	struct net_fuzz *f = opaque;

	return f->offload_fails ? -EINVAL : 0;
}

/*
 * Drop every frame queued on @fd (a one-byte read drops a whole
 * SOCK_SEQPACKET record): usually none, else a batch per call. Not
 * instrumented: a loop that decides nothing.
 */
FUZZ_PLAIN static void drain(int fd)
{
	struct mmsghdr msgs[64];
	uint8_t byte;
	struct iovec iov = { &byte, 1 };
	int n;

	if (recv(fd, &byte, 1, MSG_DONTWAIT) < 0)
		return;
	for (unsigned int i = 0; i < 64; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	do {
		n = recvmmsg(fd, msgs, 64, MSG_DONTWAIT, NULL);
	} while (n == 64);
}

/* Frames the device wrote to the "TAP": read and dropped. */
static void drain_host(struct net_fuzz *f)
{
	drain(f->host_fd);
}

static uint64_t next_table(struct net_fuzz *f)
{
	return INDIRECT_GPA + (f->next_table++ % NR_INDIRECT) * 0x1000ULL;
}

static void rx_forget(struct net_fuzz *f)
{
	memset(f->rx, 0, sizeof(f->rx));
	memset(f->desc_owner, 0xff, sizeof(f->desc_owner));
	f->rx_seen = 0;
	f->frame_left = 0;
}

/* A new receive chain at @head, with descriptors @ndesc from it (direct). */
FUZZ_PLAIN static void rx_posted(struct net_fuzz *f, uint16_t head, const struct fuzz_buf *bufs,
				 unsigned int n, unsigned int ndesc)
{
	struct fuzz_vq *vq = &f->vq[VIRTIO_NET_RXQ];
	struct rx_chain *c = &f->rx[head];

	/* Descriptors of chains the device may hold are overwritten. */
	for (unsigned int i = 0; i < ndesc; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);

		if (f->desc_owner[idx] >= 0)
			f->rx[f->desc_owner[idx]].known = false;
		f->desc_owner[idx] = (int16_t)head;
	}
	/* A chain longer than the ring overwrote itself; one posted at a head
	 * still out shares it with the older chain. */
	*c = (struct rx_chain){ .outstanding = c->outstanding + 1,
				.known = !c->outstanding && ndesc <= vq->size,
				.era = f->rx_era,
				.ndesc = ndesc,
				.n = n };
	for (unsigned int i = 0; i < n; i++) {
		c->gpa[i] = bufs[i].gpa;
		c->len[i] = bufs[i].len;
	}
}

/* Copy bytes [off, off + len) of chain @c's buffers, taken as one. */
static void chain_read(struct net_fuzz *f, const struct rx_chain *c, uint64_t off, uint8_t *dst,
		       uint64_t len)
{
	for (unsigned int i = 0; i < c->n && len; i++) {
		uint64_t n;

		if (off >= c->len[i]) {
			off -= c->len[i];
			continue;
		}
		n = c->len[i] - off < len ? c->len[i] - off : len;
		memcpy(dst, f->g.ram + c->gpa[i] + off, n);
		dst += n;
		len -= n;
		off = 0;
	}
}

static uint64_t chain_size(const struct rx_chain *c)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < c->n; i++)
		n += c->len[i];
	return n;
}

/*
 * Bytes [@off, +@len) of the frame being put together, at @p: the head is
 * kept for rx_match(), the rest must be zeroes, as in every frame sent.
 */
static void rx_take(struct net_fuzz *f, uint64_t off, const uint8_t *p, uint32_t len)
{
	static const uint8_t zeroes[VIRTIO_NET_MAX_FRAME];
	uint32_t head = off >= FRAME_HEAD ? 0 : FRAME_HEAD - off < len ? FRAME_HEAD - off : len;

	if (head)
		memcpy(f->frame_head + off, p, head);
	if (len > head && memcmp(p + head, zeroes, len - head))
		f->frame_tail_dirty = true;
}

/* A frame was put together: it must be one of those sent, in order, byte
 * for byte but for num_buffers, which the device writes. */
static void rx_match(struct net_fuzz *f)
{
	size_t head = f->frame_len < FRAME_HEAD ? f->frame_len : FRAME_HEAD;
	unsigned int i;

	memset(f->frame_head + VIRTIO_NET_HDR_NUM_BUFFERS_OFF, 0, 2);
	for (i = f->next_sent; i < f->nr_sent && !f->frame_tail_dirty; i++)
		if (f->sent[i].len == f->frame_len && !memcmp(f->sent[i].head, f->frame_head, head))
			break;
	fuzz_assert(i < f->nr_sent && !f->frame_tail_dirty);
	f->next_sent = i + 1;
}

/* Take the used entries the device added to the receive ring. */
static void rx_scan(struct net_fuzz *f)
{
	struct fuzz_vq *vq = &f->vq[VIRTIO_NET_RXQ];
	bool mrg = virtio_dev_has_feature(f->vdev, VIRTIO_NET_F_MRG_RXBUF);
	uint8_t *used = f->g.ram + vq->used;

	if (f->rx_lost || !vq->size)
		return;
	while (f->rx_seen != get_le16(used + 2)) {
		uint8_t *e = used + 4 + 8 * (f->rx_seen++ % vq->size);
		uint32_t id = get_le32(e), len = get_le32(e + 4);
		struct rx_chain *c;
		bool known;

		fuzz_assert(id < vq->size);
		c = &f->rx[id];
		fuzz_assert(c->outstanding);
		known = c->known && c->era == f->rx_era;
		c->outstanding--;
		for (unsigned int i = 0; i < c->ndesc; i++)
			if (f->desc_owner[(id + i) % vq->size] == (int16_t)id)
				f->desc_owner[(id + i) % vq->size] = -1;
		if (!f->frame_left) {
			uint8_t num[2];

			if (!known) {
				/* Where this frame ends is unknown from here on. */
				f->rx_lost = true;
				return;
			}
			fuzz_assert(len >= VIRTIO_NET_HDR_LEN);
			chain_read(f, c, VIRTIO_NET_HDR_NUM_BUFFERS_OFF, num, 2);
			f->frame_left = get_le16(num);
			fuzz_assert(f->frame_left >= 1 && (mrg || f->frame_left == 1));
			f->frame_known = true;
			f->frame_len = 0;
			f->frame_tail_dirty = false;
		} else {
			fuzz_assert(len > 0);
		}
		if (known) {
			fuzz_assert(len <= chain_size(c));
			for (unsigned int i = 0, off = 0; i < c->n && off < len; i++) {
				uint32_t n = c->len[i] < len - off ? c->len[i] : len - off;

				rx_take(f, f->frame_len + off, f->g.ram + c->gpa[i], n);
				off += n;
			}
		}
		f->frame_known &= known;
		f->frame_len += len;
		if (!--f->frame_left && f->frame_known)
			rx_match(f);
	}
}

/* Bits of the flags byte of the chain-building operations. */
#define CH_INDIRECT 0x01
#define CH_NO_KICK 0x02
#define CH_FLIP 0x04 /* one buffer in the wrong direction */
#define CH_LARGE 0x08 /* a length near VIRTIO_NET_MAX_FRAME */
#define CH_MANY 0x10 /* a u8 follows the flags: that many more of the same */

/* The device sees the driver's rings of queue @q, and one chain of @n in them. */
static bool alone_on_ring(struct net_fuzz *f, unsigned int q, unsigned int n, bool indirect)
{
	const struct virtq *dvq = &f->vdev->vqs[q];

	return atomic_load(&f->vdev->running) && dvq->ready && dvq->size == f->vq[q].size &&
	       (uint8_t *)dvq->desc == f->g.ram + f->vq[q].desc &&
	       (uint8_t *)dvq->avail == f->g.ram + f->vq[q].avail &&
	       (uint8_t *)dvq->used == f->g.ram + f->vq[q].used &&
	       (uint16_t)(dvq->avail->idx - dvq->last_avail_idx) == 1 && n <= dvq->size &&
	       (!indirect || virtio_dev_has_feature(f->vdev, VIRTIO_F_INDIRECT_DESC));
}

/*
 * u8 flags (CH_*; with CH_MANY u8 more copies of the chain), u8 buffers
 * (1-8), u16 frame length (with CH_LARGE: VIRTIO_NET_MAX_FRAME - 0x800 +
 * length % 0x1000), then the header and frame bytes (up to 64 from the
 * input, zeroes after). A chain the device
 * sees alone must reach the TAP as it is, if it has a header and an
 * Ethernet header and is not too long, and else not at all.
 */
static void op_tx(struct net_fuzz *f, struct fuzz_input *in)
{
	const struct virtq *dvq = &f->vdev->vqs[VIRTIO_NET_TXQ];
	uint8_t flags = fz_u8(in);
	unsigned int copies = flags & CH_MANY ? fz_u8(in) + 1u : 1;
	unsigned int nbufs = fz_u8(in) % MAX_BUFS + 1, n = 0;
	uint16_t raw = fz_u16(in), head = 0, used_before;
	uint32_t len = flags & CH_LARGE ? VIRTIO_NET_MAX_FRAME - 0x800 + raw % 0x1000 : raw;
	uint64_t gpa = fuzz_alloc(&f->data, len);
	struct fuzz_buf bufs[MAX_BUFS];
	uint8_t start[64];
	bool checked;
	ssize_t got;

	fz_bytes(in, start, sizeof(start) < len ? sizeof(start) : len);
	guest_mem_write(&f->g.mem, gpa, start, sizeof(start) < len ? sizeof(start) : len);
	for (uint32_t off = 0; n < nbufs; n++) {
		uint32_t piece = n + 1 < nbufs ? len / nbufs : len - off;

		bufs[n] = (struct fuzz_buf){ gpa + off, piece, false };
		off += piece;
	}
	if (flags & CH_FLIP)
		bufs[n - 1].writable = true;
	drain_host(f);
	for (unsigned int i = 0; i < copies; i++)
		head = fuzz_vq_post(&f->g, &f->vq[VIRTIO_NET_TXQ], bufs, n,
				    flags & CH_INDIRECT ? next_table(f) : 0);
	if (flags & CH_NO_KICK)
		return;
	checked = copies == 1 && !(flags & CH_FLIP) &&
		  alone_on_ring(f, VIRTIO_NET_TXQ, n, flags & CH_INDIRECT);
	used_before = dvq->used_idx;
	virtio_dev_kick(f->vdev, VIRTIO_NET_TXQ);
	got = recv(f->host_fd, f->frame, sizeof(f->frame), MSG_DONTWAIT);
	if (checked) {
		fuzz_assert(dvq->used_idx == (uint16_t)(used_before + 1));
		fuzz_assert(dvq->used->ring[used_before & (dvq->size - 1)].id == head);
		if (len < VIRTIO_NET_HDR_LEN + 14 || len > VIRTIO_NET_MAX_FRAME) {
			fuzz_assert(got < 0);
		} else {
			fuzz_assert(got == (ssize_t)len);
			fuzz_assert(!memcmp(f->frame, f->g.ram + gpa, len));
		}
	}
	drain_host(f);
}

/*
 * u8 flags (CH_*), u8 chains (1-8; with CH_MANY 1-256 alike), then per
 * chain (with CH_MANY once) u8 buffers (1-3) and per buffer a u16 length
 * (up to 4095; with CH_LARGE up to 65535).
 */
static void op_rxbuf(struct net_fuzz *f, struct fuzz_input *in)
{
	struct fuzz_vq *vq = &f->vq[VIRTIO_NET_RXQ];
	uint8_t flags = fz_u8(in);
	unsigned int chains = flags & CH_MANY ? fz_u8(in) + 1u : fz_u8(in) % 8 + 1u, n = 0;
	uint32_t lens[3];

	for (unsigned int c = 0; c < chains; c++) {
		uint16_t head = vq->size ? vq->next_desc % vq->size : 0;
		struct fuzz_buf bufs[3];
		bool straddles = false;

		if (!c || !(flags & CH_MANY)) {
			n = fz_u8(in) % 3 + 1;
			for (unsigned int i = 0; i < n; i++)
				lens[i] = fz_u16(in) & (flags & CH_LARGE ? 0xffff : 0xfff);
		}
		for (unsigned int i = 0; i < n; i++) {
			uint64_t before = f->rx_data.next;

			bufs[i] = (struct fuzz_buf){ fuzz_alloc(&f->rx_data, lens[i]), lens[i],
						     true };
			/* Wrapped around: outstanding buffers may be handed out again. */
			if (bufs[i].gpa < before) {
				f->rx_era++;
				straddles |= i > 0;
			}
		}
		if (flags & CH_FLIP)
			bufs[0].writable = false;
		if (!vq->size)
			continue;
		fuzz_vq_post(&f->g, vq, bufs, n,
			     flags & CH_INDIRECT ? RX_INDIRECT_GPA + 64 * (uint64_t)head : 0);
		rx_posted(f, head, bufs, n, flags & CH_INDIRECT ? 1 : n);
		/* Its buffers from before the wrap are handed out again in this
		 * lap: a new era, in which this chain is not known. */
		if (straddles)
			f->rx_era++;
	}
	if (!(flags & CH_NO_KICK))
		virtio_dev_kick(f->vdev, VIRTIO_NET_RXQ);
}

/*
 * u8 flags (CH_NO_KICK: do not run the loop after; CH_LARGE as in op_tx;
 * CH_MANY), u16 length, then the frame's first bytes (up to 64, header
 * included; zeroes after). The TAP hands over at most VIRTIO_NET_MAX_FRAME
 * bytes.
 */
static void op_frame(struct net_fuzz *f, struct fuzz_input *in)
{
	uint8_t flags = fz_u8(in);
	unsigned int copies = flags & CH_MANY ? fz_u8(in) + 1u : 1;
	uint16_t raw = fz_u16(in);
	uint32_t len = flags & CH_LARGE ? VIRTIO_NET_MAX_FRAME - 0x800 + raw % 0x800 : raw;
	struct sent_frame frame = { .len = len };
	struct iovec iov = { f->frame, len };
	struct mmsghdr msgs[256];
	int sent;

	memset(f->frame, 0, len);
	fz_bytes(in, f->frame, len < FRAME_HEAD ? len : FRAME_HEAD);
	memcpy(frame.head, f->frame, len < FRAME_HEAD ? len : FRAME_HEAD);
	memset(frame.head + VIRTIO_NET_HDR_NUM_BUFFERS_OFF, 0, 2);
	/* A full socket drops them, as a TAP's queue would: once one copy
	 * does not fit, no later one does. */
	for (unsigned int i = 0; i < copies; i++)
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	sent = sendmmsg(f->host_fd, msgs, copies, MSG_DONTWAIT);
	for (int i = 0; i < sent; i++) {
		if (f->nr_sent == MAX_SENT)
			f->rx_lost = f->sent_untracked = true;
		else
			f->sent[f->nr_sent++] = frame;
	}
	if (!(flags & CH_NO_KICK))
		fuzz_run_loop(&f->loop);
}

/* Does a MAC table (u32 count, entries) fit at *@off of @data? Advances *@off. */
static bool mac_table_fits(const uint8_t *data, unsigned int len, uint64_t *off)
{
	uint64_t cnt;

	if (*off + 4 > len)
		return false;
	cnt = get_le32(data + *off);
	*off += 4 + cnt * 6;
	return *off <= len;
}

/* The ack virtio-net owes a command (5.1.6.5), from what was negotiated. */
static uint8_t expected_ack(const struct net_fuzz *f, const uint8_t cmd[2], const uint8_t *data,
			    unsigned int len)
{
	const struct virtio_dev *vdev = f->vdev;
	uint64_t guest_offloads =
		VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
		VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) |
		VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO);
	uint64_t off = 0;
	bool ok = false;

	switch (cmd[0] << 8 | cmd[1]) {
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_PROMISC:
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_ALLMULTI:
		ok = virtio_dev_has_feature(vdev, VIRTIO_NET_F_CTRL_RX) && len >= 1;
		break;
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_TABLE_SET:
		ok = virtio_dev_has_feature(vdev, VIRTIO_NET_F_CTRL_RX) &&
		     mac_table_fits(data, len, &off) && mac_table_fits(data, len, &off);
		break;
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_ADDR_SET:
		ok = virtio_dev_has_feature(vdev, VIRTIO_NET_F_CTRL_MAC_ADDR) && len >= 6;
		break;
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS << 8 | VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET:
		ok = virtio_dev_has_feature(vdev, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) && len >= 8 &&
		     !(get_le64(data) & ~(vdev->driver_features & guest_offloads)) &&
		     !(f->has_offload && f->offload_fails);
		break;
	}
	return ok ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

/*
 * u8 flags (CH_INDIRECT, CH_NO_KICK; CH_FLIP: no ack buffer; CH_LARGE: the
 * data in two buffers), u8 class, u8 command, u16 data length (up to
 * 1023), the data. A command the device sees alone gets the right ack,
 * and a new MAC address shows in the config space.
 */
static void op_ctrl(struct net_fuzz *f, struct fuzz_input *in)
{
	const struct virtq *dvq = &f->vdev->vqs[VIRTIO_NET_CTRLQ];
	uint8_t flags = fz_u8(in), cmd[2], data[1024], ack, mac[6];
	unsigned int len, n = 0;
	struct fuzz_buf bufs[4];
	uint64_t gpa, table = flags & CH_INDIRECT ? next_table(f) : 0;
	uint16_t used_before;
	bool checked;

	cmd[0] = fz_u8(in);
	cmd[1] = fz_u8(in);
	len = fz_u16(in) % sizeof(data);
	fz_bytes(in, data, len);
	gpa = fuzz_alloc(&f->data, len + 2);
	guest_mem_write(&f->g.mem, gpa, cmd, 2);
	guest_mem_write(&f->g.mem, gpa + 2, data, len);
	if (flags & CH_LARGE) {
		bufs[n++] = (struct fuzz_buf){ gpa, 2 + len / 2, false };
		bufs[n++] = (struct fuzz_buf){ gpa + 2 + len / 2, len - len / 2, false };
	} else {
		bufs[n++] = (struct fuzz_buf){ gpa, 2 + len, false };
	}
	if (!(flags & CH_FLIP))
		bufs[n++] = (struct fuzz_buf){ fuzz_alloc(&f->data, 1), 1, true };
	fuzz_vq_post(&f->g, &f->vq[VIRTIO_NET_CTRLQ], bufs, n, table);
	if (flags & CH_NO_KICK)
		return;
	checked = !(flags & CH_FLIP) && alone_on_ring(f, VIRTIO_NET_CTRLQ, n, table);
	used_before = dvq->used_idx;
	f->g.ram[bufs[n - 1].gpa] = 0xee;
	virtio_dev_kick(f->vdev, VIRTIO_NET_CTRLQ);
	if (!checked)
		return;
	fuzz_assert(dvq->used_idx == (uint16_t)(used_before + 1));
	ack = expected_ack(f, cmd, data, len);
	fuzz_assert(f->g.ram[bufs[n - 1].gpa] == ack);
	if (ack == VIRTIO_NET_OK && cmd[0] == VIRTIO_NET_CTRL_MAC &&
	    cmd[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
		f->vdev->ops->config_read(f->vdev, VIRTIO_NET_CFG_MAC, mac, sizeof(mac));
		fuzz_assert(!memcmp(mac, data, sizeof(mac)));
	}
}

/*
 * The "TAP". Each direction queues about 680 short frames or 8 of the
 * largest (the kernel doubles SO_SNDBUF): more than one flood operation's
 * 256 copies or the device's RX_BUDGET, and a flood of large frames stops
 * at the full queue after half a MiB of copying, not 8.
 */
static void open_backend(struct net_fuzz *f)
{
	int sv[2], queue = 256 << 10;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		abort();
	f->dev_fd = sv[0];
	f->host_fd = sv[1];
	setsockopt(f->dev_fd, SOL_SOCKET, SO_SNDBUF, &queue, sizeof(queue));
	setsockopt(f->host_fd, SOL_SOCKET, SO_SNDBUF, &queue, sizeof(queue));
}

/*
 * What outlives one input, because making it anew took most of an input's
 * time: guest RAM, the loop and the "TAP". Each input finds them as a new
 * process would (net_begin(), net_end()) and has a device of its own, so an
 * input run alone does what it did in the campaign. libFuzzer passes no
 * context, hence the static; LLVMFuzzerInitialize() makes it before the
 * first input, which then runs no other code than the rest.
 */
static struct net_fuzz *net_fuzz;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct net_fuzz *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	if (!f || event_loop_init(&f->loop, "fuzz", &err))
		abort();
	fuzz_guest_init(&f->g, RAM);
	open_backend(f);
	net_fuzz = f;
	return 0;
}

static void net_begin(struct net_fuzz *f, uint8_t cfg)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct virtio_net_backend be = {
		.fd = f->dev_fd,
		.set_offload = cfg & 2 ? NULL : set_offload,
		.opaque = f,
	};
	struct error err = { 0 };

	fuzz_guest_clear(&f->g);
	memset(&f->net, 0, sizeof(*f) - offsetof(struct net_fuzz, net));
	f->has_offload = !(cfg & 2);
	f->offload_fails = cfg & 1;
	f->data = (struct fuzz_alloc){ DATA_GPA, RAM, DATA_GPA };
	f->rx_data = (struct fuzz_alloc){ RX_DATA_GPA, DATA_GPA, RX_DATA_GPA };
	rx_forget(f);
	if (virtio_net_create(&f->net, "virtio-net fuzz", mac, &be, &f->g.mem, &f->loop, &err))
		abort();
	f->vdev = virtio_net_vdev(f->net);
	fuzz_quiet(&f->vdev->log_rl);
}

/* Leave the loop and the "TAP" empty, as LLVMFuzzerInitialize() made them. */
static void net_end(struct net_fuzz *f)
{
	struct event_source be = { .fd = f->dev_fd };

	virtio_net_destroy(f->net);
	/* The device's eventfds left the loop when it closed them; the
	 * backend's fd is ours. Not watched: ENOENT. */
	event_loop_del(&f->loop, &be);
	fuzz_loop_check_idle(&f->loop);
	drain(f->host_fd);
	drain(f->dev_fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, 0 };
	struct net_fuzz *f = net_fuzz;

	net_begin(f, fz_u8(&in));
	for (unsigned int ops = 0; fz_more(&in) && ops < MAX_OPS; ops++) {
		unsigned int q;
		uint8_t sel, buf[8];
		uint32_t off, len;

		switch (fz_u8(&in) % NR_OPS) {
		case OP_BRINGUP:
			/* A reset first: the device forgets the buffers it held. */
			fz_bringup(&in, &f->g, f->vdev, f->vq, 0);
			rx_forget(f);
			/* The socket may still hold frames that were never recorded. */
			f->rx_lost = f->sent_untracked;
			break;
		case OP_STATUS:
			virtio_dev_set_status(f->vdev, fz_u8(&in));
			f->rx_lost = true;
			break;
		case OP_DESC:
			q = fz_u8(&in) % NR_QUEUES;
			f->rx_lost |= q == VIRTIO_NET_RXQ;
			fz_desc(&in, &f->g, &f->vq[q], INDIRECT_GPA, NR_INDIRECT);
			break;
		case OP_PUBLISH:
			q = fz_u8(&in) % NR_QUEUES;
			f->rx_lost |= q == VIRTIO_NET_RXQ;
			fuzz_vq_publish(&f->g, &f->vq[q], fz_u16(&in));
			break;
		case OP_TX:
			op_tx(f, &in);
			break;
		case OP_RXBUF:
			op_rxbuf(f, &in);
			break;
		case OP_FRAME:
			op_frame(f, &in);
			break;
		case OP_CTRL:
			op_ctrl(f, &in);
			break;
		case OP_KICK:
			virtio_dev_kick(f->vdev, fz_u8(&in) % (NR_QUEUES + 1));
			drain_host(f);
			break;
		case OP_RUN:
			fuzz_run_loop(&f->loop);
			drain_host(f);
			break;
		case OP_RAW:
			f->rx_lost = true;
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
			q = fz_u8(&in) % NR_QUEUES;
			sel = fz_u8(&in) % 3;
			f->rx_lost |= q == VIRTIO_NET_RXQ && sel == 0;
			if (sel == 0)
				fuzz_vq_set_avail_idx(&f->g, &f->vq[q], fz_u16(&in));
			else if (sel == 1)
				fuzz_vq_set_used_event(&f->g, &f->vq[q], fz_u16(&in));
			else
				fuzz_vq_set_avail_flags(&f->g, &f->vq[q], fz_u16(&in));
			break;
		}
		rx_scan(f);
	}
	net_end(f);
	return 0;
}
