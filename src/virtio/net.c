// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "le.h"
#include "virtio/net.h"

/* Offloads the guest may accept on receive; they shape what the backend
 * may hand over. */
#define GUEST_OFFLOADS                                                               \
	(VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) |  \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO))

#define NET_FEATURES                                                                   \
	(VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |         \
	 VIRTIO_BIT(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) | VIRTIO_BIT(VIRTIO_NET_F_MAC) | \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |   \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |     \
	 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) |      \
	 VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |        \
	 VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) |         \
	 VIRTIO_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR))

#define ETH_ALEN 6
#define ETH_HLEN 14

/* Receive buffers popped ahead of frames: enough to hold the largest frame
 * in the smallest buffers Linux posts (1.5 KiB), with room to spare. */
#define RX_POOL_BUFS 128
#define RX_POOL_IOV 960
#define RX_CHAIN_IOV 64 /* buffers in one receive chain */
#define TX_CHAIN_IOV 128
#define CTRL_CHAIN_IOV 16
/* Frames handled per wakeup before other events get a turn. */
#define RX_BUDGET 64
#define TX_BUDGET 256

struct rx_buf {
	uint16_t head;
	unsigned int iov_start;
	unsigned int nr_iov;
	uint32_t len; /* writable bytes (capped at VIRTIO_NET_MAX_FRAME) */
};

/* vhost's "the driver should be interrupted" eventfd for one queue. */
struct vhost_call {
	struct virtio_net *net;
	unsigned int q;
	int fd;
	struct event_source src;
};

struct virtio_net {
	struct virtio_dev vdev;
	struct virtio_net_backend be;
	char name[24];
	uint8_t initial_mac[ETH_ALEN];
	uint8_t mac[ETH_ALEN]; /* written on the loop under vdev.lock */

	/* Receive filter (5.1.6.5.1), set through the control queue. */
	bool promisc, allmulti;
	bool uc_overflow, mc_overflow; /* table longer than we keep: accept all */
	unsigned int nr_uc, nr_mc;
	uint8_t uc[VIRTIO_NET_MAC_TABLE_MAX][ETH_ALEN];
	uint8_t mc[VIRTIO_NET_MAC_TABLE_MAX][ETH_ALEN];

	/* Receive: popped buffers not yet used, in ring order. */
	struct event_source be_src;
	bool be_watched;
	struct rx_buf bufs[RX_POOL_BUFS];
	unsigned int nr_bufs;
	struct iovec iov[RX_POOL_IOV];
	unsigned int nr_iov;
	uint64_t pool_bytes;
	/* A frame longer than the buffers at hand: its head is in the first
	 * pending_bufs buffers, the rest waits in spill[spill_off..spill_len). */
	uint8_t *spill;
	size_t pending_len;
	unsigned int pending_bufs;
	size_t spill_off, spill_len;

	/* Transmit work left over after a full budget. */
	int defer_fd;
	struct event_source defer_src;

	bool vhost_running;
	struct vhost_call vcall[2];

	struct virtio_net_stats stats;
};

static bool has(const struct virtio_net *net, unsigned int bit)
{
	return virtio_dev_has_feature(&net->vdev, bit);
}

/* --- receive ------------------------------------------------------------- */

static void watch_backend(struct virtio_net *net, bool on)
{
	if (on == net->be_watched)
		return;
	if (on)
		net->be_watched = event_loop_add(net->vdev.loop, &net->be_src, EPOLLIN) == 0;
	else
		net->be_watched = event_loop_del(net->vdev.loop, &net->be_src) != 0;
}

static void pool_clear(struct virtio_net *net)
{
	net->nr_bufs = net->nr_iov = 0;
	net->pool_bytes = 0;
	net->pending_len = net->spill_len = net->spill_off = 0;
	net->pending_bufs = 0;
}

/* Drop the first @n buffers of the pool (they were used). */
static void pool_shift(struct virtio_net *net, unsigned int n)
{
	unsigned int iovs = n < net->nr_bufs ? net->bufs[n].iov_start : net->nr_iov;

	for (unsigned int i = 0; i < n; i++)
		net->pool_bytes -= net->bufs[i].len;
	memmove(net->bufs, net->bufs + n, (net->nr_bufs - n) * sizeof(net->bufs[0]));
	net->nr_bufs -= n;
	memmove(net->iov, net->iov + iovs, (net->nr_iov - iovs) * sizeof(net->iov[0]));
	net->nr_iov -= iovs;
	for (unsigned int i = 0; i < net->nr_bufs; i++)
		net->bufs[i].iov_start -= iovs;
}

/*
 * Pop receive buffers until the pool holds @want bytes, the ring is empty
 * or the pool is full. Negative: the driver broke the ring (device failed).
 */
static int pool_fill(struct virtio_net *net, uint64_t want)
{
	struct virtq *vq = &net->vdev.vqs[VIRTIO_NET_RXQ];

	while (net->pool_bytes < want && net->nr_bufs < RX_POOL_BUFS &&
	       net->nr_iov + RX_CHAIN_IOV <= RX_POOL_IOV) {
		struct virtq_elem elem = { .iov = net->iov + net->nr_iov, .max_iov = RX_CHAIN_IOV };
		struct rx_buf *b = &net->bufs[net->nr_bufs];
		int r = virtq_pop(vq, &elem);

		if (r <= 0) {
			if (r < 0)
				virtio_dev_fail(&net->vdev, "malformed receive chain: %s",
						strerror(-r));
			return r;
		}
		if (elem.nr_out || elem.in_len < VIRTIO_NET_HDR_LEN) {
			virtio_dev_fail(&net->vdev, "receive buffer %s",
					elem.nr_out ? "with a device-readable part"
						    : "smaller than the virtio-net header");
			return -EINVAL;
		}
		b->head = elem.head;
		b->iov_start = net->nr_iov;
		b->nr_iov = elem.nr_in;
		b->len = elem.in_len < VIRTIO_NET_MAX_FRAME ? elem.in_len : VIRTIO_NET_MAX_FRAME;
		net->nr_iov += elem.nr_in;
		net->pool_bytes += b->len;
		net->nr_bufs++;
	}
	return 0;
}

static bool pool_full(const struct virtio_net *net)
{
	return net->nr_bufs == RX_POOL_BUFS || net->nr_iov + RX_CHAIN_IOV > RX_POOL_IOV;
}

static bool mac_in(const uint8_t (*table)[ETH_ALEN], unsigned int n, const uint8_t *mac)
{
	for (unsigned int i = 0; i < n; i++)
		if (!memcmp(table[i], mac, ETH_ALEN))
			return true;
	return false;
}

static bool rx_accept(const struct virtio_net *net, const uint8_t *dst)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (net->promisc)
		return true;
	if (dst[0] & 1) {
		return !memcmp(dst, bcast, ETH_ALEN) || net->allmulti || net->mc_overflow ||
		       mac_in(net->mc, net->nr_mc, dst);
	}
	return !memcmp(dst, net->mac, ETH_ALEN) || net->uc_overflow ||
	       mac_in(net->uc, net->nr_uc, dst);
}

/* Hand the first @nbufs pool buffers, holding a @len-byte frame, to the driver. */
static void rx_complete(struct virtio_net *net, size_t len, unsigned int nbufs)
{
	struct virtq *vq = &net->vdev.vqs[VIRTIO_NET_RXQ];
	const struct rx_buf *first = &net->bufs[0];
	uint8_t num[2];
	size_t left = len;

	put_le16(num, nbufs);
	iov_from_buf(net->iov + first->iov_start, first->nr_iov, VIRTIO_NET_HDR_NUM_BUFFERS_OFF,
		     num, sizeof(num));
	for (unsigned int i = 0; i < nbufs; i++) {
		uint32_t n = left < net->bufs[i].len ? left : net->bufs[i].len;

		virtq_push(vq, net->bufs[i].head, n);
		left -= n;
	}
	pool_shift(net, nbufs);
	net->stats.rx_packets++;
	net->stats.rx_bytes += len - VIRTIO_NET_HDR_LEN;
}

/*
 * Move more of the pending frame's spilled tail into new buffers. Returns 1
 * when the frame was completed, 0 when it still waits for buffers, -1 when it
 * was dropped (the pool cannot grow enough: tiny buffers).
 */
static int rx_place_spill(struct virtio_net *net)
{
	while (net->spill_off < net->spill_len && net->pending_bufs < net->nr_bufs) {
		const struct rx_buf *b = &net->bufs[net->pending_bufs];
		size_t n =
			iov_from_buf(net->iov + b->iov_start, b->nr_iov, 0,
				     net->spill + net->spill_off, net->spill_len - net->spill_off);

		net->spill_off += n;
		net->pending_bufs++;
	}
	if (net->spill_off == net->spill_len) {
		rx_complete(net, net->pending_len, net->pending_bufs);
		net->pending_len = net->spill_len = net->spill_off = 0;
		net->pending_bufs = 0;
		return 1;
	}
	if (pool_full(net)) {
		net->stats.rx_dropped++;
		virtio_dev_warn(&net->vdev,
				"receive buffers too small for a %zu-byte frame; dropped",
				net->pending_len);
		net->pending_len = net->spill_len = net->spill_off = 0;
		net->pending_bufs = 0;
		return -1;
	}
	return 0;
}

enum rx_result {
	RX_EMPTY, /* nothing to read, or the backend failed */
	RX_USED, /* a frame went to the guest */
	RX_SKIPPED, /* a frame was read and not delivered (counted) */
	RX_PENDING, /* a frame waits for more buffers */
};

/* Read one frame into the pool's buffers (plus the spill buffer). */
static enum rx_result rx_read(struct virtio_net *net)
{
	struct iovec riov[RX_POOL_IOV + 1];
	bool mrg = has(net, VIRTIO_NET_F_MRG_RXBUF);
	unsigned int nbufs = 0, cnt = 0;
	uint64_t covered = 0;
	uint8_t dst[ETH_ALEN];
	ssize_t n;

	/* Without mergeable buffers a frame must fit one buffer. */
	while (nbufs < net->nr_bufs && covered < VIRTIO_NET_MAX_FRAME && (mrg || nbufs == 0)) {
		const struct rx_buf *b = &net->bufs[nbufs++];

		memcpy(riov + cnt, net->iov + b->iov_start, b->nr_iov * sizeof(riov[0]));
		cnt += b->nr_iov;
		covered += b->len;
	}
	riov[cnt++] = (struct iovec){ net->spill, VIRTIO_NET_MAX_FRAME };
	do {
		n = readv(net->be.fd, riov, cnt);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return RX_EMPTY;
		/* The TAP went away or broke: do not spin on its readiness. */
		net->stats.rx_errors++;
		virtio_dev_warn(&net->vdev, "receive stopped: read from the backend: %s",
				strerror(errno));
		watch_backend(net, false);
		return RX_EMPTY;
	}
	if ((size_t)n < VIRTIO_NET_HDR_LEN + ETH_HLEN) {
		net->stats.rx_errors++;
		return RX_SKIPPED;
	}
	iov_to_buf(riov, cnt, VIRTIO_NET_HDR_LEN, dst, sizeof(dst));
	if (!rx_accept(net, dst)) {
		net->stats.rx_filtered++;
		return RX_SKIPPED;
	}
	if ((uint64_t)n <= covered) {
		unsigned int used = 0;

		for (uint64_t sum = 0; sum < (uint64_t)n; used++)
			sum += net->bufs[used].len;
		rx_complete(net, n, used);
		return RX_USED;
	}
	if (!mrg) {
		net->stats.rx_dropped++;
		virtio_dev_warn(&net->vdev,
				"%zd-byte frame larger than the receive buffer; dropped",
				n - VIRTIO_NET_HDR_LEN);
		return RX_SKIPPED;
	}
	net->pending_len = n;
	net->pending_bufs = nbufs;
	net->spill_off = 0;
	net->spill_len = n - covered;
	return RX_PENDING;
}

/* Out of buffers: ask for a kick. True if buffers arrived meanwhile. */
static bool rx_wait_for_buffers(struct virtio_net *net)
{
	if (virtq_enable_notify(&net->vdev.vqs[VIRTIO_NET_RXQ]))
		return true;
	/* No reading until the driver kicks: the TAP queues frames, then
	 * drops (and counts) them. */
	watch_backend(net, false);
	return false;
}

static void rx_process(struct virtio_net *net)
{
	struct virtq *vq = &net->vdev.vqs[VIRTIO_NET_RXQ];
	bool mrg = has(net, VIRTIO_NET_F_MRG_RXBUF), pushed = false;
	int budget = RX_BUDGET;

	if (!atomic_load(&net->vdev.running) || net->vhost_running || !vq->ready) {
		/* A failed device waits for a reset without spinning on the
		 * backend's readiness. */
		watch_backend(net, false);
		return;
	}
	while (budget > 0) {
		uint64_t want = net->pending_len ? UINT64_MAX : mrg ? VIRTIO_NET_MAX_FRAME : 1;
		enum rx_result r;

		if (pool_fill(net, want) < 0) {
			watch_backend(net, false);
			break;
		}
		if (net->pending_len) {
			int placed = rx_place_spill(net);

			if (placed == 0 && !rx_wait_for_buffers(net))
				break;
			pushed |= placed > 0;
			budget -= placed != 0;
			continue;
		}
		if (!net->nr_bufs) {
			if (!rx_wait_for_buffers(net))
				break;
			continue;
		}
		virtq_disable_notify(vq);
		watch_backend(net, true);
		r = rx_read(net);
		if (r == RX_EMPTY)
			break;
		pushed |= r == RX_USED;
		budget--;
	}
	if (!budget) {
		uint64_t one = 1;

		/* More may be waiting: come back after other events had a turn. */
		(void)!write(net->defer_fd, &one, sizeof(one));
	}
	if (pushed)
		virtio_dev_notify_used(&net->vdev, VIRTIO_NET_RXQ);
}

static void backend_ready(void *opaque, uint32_t events)
{
	rx_process(opaque);
}

/* --- transmit ------------------------------------------------------------ */

static void tx_one(struct virtio_net *net, const struct virtq_elem *elem)
{
	ssize_t n;

	if (elem->out_len < VIRTIO_NET_HDR_LEN + ETH_HLEN || elem->out_len > VIRTIO_NET_MAX_FRAME) {
		net->stats.tx_dropped++;
		virtio_dev_warn(&net->vdev, "%llu-byte transmit frame; dropped",
				(unsigned long long)elem->out_len);
		return;
	}
	do {
		n = writev(net->be.fd, elem->iov, elem->nr_out);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* A bad GSO header, the link down, no room: counted. */
		net->stats.tx_errors++;
		virtio_dev_warn(&net->vdev, "transmit failed: %s", strerror(errno));
		return;
	}
	net->stats.tx_packets++;
	net->stats.tx_bytes += elem->out_len - VIRTIO_NET_HDR_LEN;
}

static void tx_process(struct virtio_net *net)
{
	struct virtio_dev *vdev = &net->vdev;
	struct virtq *vq = &vdev->vqs[VIRTIO_NET_TXQ];
	struct iovec iov[TX_CHAIN_IOV];
	struct virtq_elem elem = { .iov = iov, .max_iov = TX_CHAIN_IOV };
	int budget = TX_BUDGET, r;
	bool pushed = false;

	if (!atomic_load(&vdev->running) || net->vhost_running || !vq->ready)
		return;
	do {
		virtq_disable_notify(vq);
		while (budget && (r = virtq_pop(vq, &elem)) == 1) {
			tx_one(net, &elem);
			virtq_push(vq, elem.head, 0);
			pushed = true;
			budget--;
		}
		if (r < 0) {
			if (pushed)
				virtio_dev_notify_used(vdev, VIRTIO_NET_TXQ);
			virtio_dev_fail(vdev, "malformed transmit chain: %s", strerror(-r));
			return;
		}
		if (!budget) {
			uint64_t one = 1;

			/* A flood: let receive and the other queues have a turn. */
			(void)!write(net->defer_fd, &one, sizeof(one));
			break;
		}
	} while (virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify_used(vdev, VIRTIO_NET_TXQ);
}

static void deferred(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;
	uint64_t v;

	if (read(net->defer_fd, &v, sizeof(v)) < 0)
		return;
	tx_process(net);
	rx_process(net);
}

/* --- control queue ------------------------------------------------------- */

/* Read a MAC table (u32 count, then entries) at @*off; advances @*off. */
static bool ctrl_mac_table(const struct virtq_elem *elem, size_t *off, uint8_t (*table)[ETH_ALEN],
			   unsigned int *nr, bool *overflow)
{
	uint8_t cnt_le[4];
	uint64_t cnt;

	if (iov_to_buf(elem->iov, elem->nr_out, *off, cnt_le, 4) != 4)
		return false;
	cnt = get_le32(cnt_le);
	*off += 4;
	if (*off + cnt * ETH_ALEN > elem->out_len)
		return false;
	*overflow = cnt > VIRTIO_NET_MAC_TABLE_MAX;
	*nr = *overflow ? 0 : (unsigned int)cnt;
	iov_to_buf(elem->iov, elem->nr_out, *off, table, *nr * ETH_ALEN);
	*off += cnt * ETH_ALEN;
	return true;
}

static int ctrl_set_offloads(struct virtio_net *net, uint64_t offloads)
{
	uint64_t allowed = net->vdev.driver_features & GUEST_OFFLOADS;

	if (offloads & ~allowed)
		return -EINVAL;
	return net->be.set_offload ? net->be.set_offload(net->be.opaque, offloads) : 0;
}

/* @cmd: class and command; the data follows them in @elem. */
static uint8_t ctrl_command(struct virtio_net *net, const uint8_t cmd[2],
			    const struct virtq_elem *elem)
{
	uint8_t data[8];
	size_t len = elem->out_len - 2, off = 2;

	iov_to_buf(elem->iov, elem->nr_out, 2, data, len < sizeof(data) ? len : sizeof(data));
	switch (cmd[0] << 8 | cmd[1]) {
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_PROMISC:
	case VIRTIO_NET_CTRL_RX << 8 | VIRTIO_NET_CTRL_RX_ALLMULTI:
		if (!has(net, VIRTIO_NET_F_CTRL_RX) || len < 1)
			return VIRTIO_NET_ERR;
		if (cmd[1] == VIRTIO_NET_CTRL_RX_PROMISC)
			net->promisc = data[0];
		else
			net->allmulti = data[0];
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_TABLE_SET: {
		bool uc_over, mc_over;
		unsigned int nuc, nmc;
		uint8_t uc[VIRTIO_NET_MAC_TABLE_MAX][ETH_ALEN],
			mc[VIRTIO_NET_MAC_TABLE_MAX][ETH_ALEN];

		if (!has(net, VIRTIO_NET_F_CTRL_RX) ||
		    !ctrl_mac_table(elem, &off, uc, &nuc, &uc_over) ||
		    !ctrl_mac_table(elem, &off, mc, &nmc, &mc_over))
			return VIRTIO_NET_ERR;
		memcpy(net->uc, uc, nuc * ETH_ALEN);
		memcpy(net->mc, mc, nmc * ETH_ALEN);
		net->nr_uc = nuc;
		net->nr_mc = nmc;
		net->uc_overflow = uc_over;
		net->mc_overflow = mc_over;
		return VIRTIO_NET_OK;
	}
	case VIRTIO_NET_CTRL_MAC << 8 | VIRTIO_NET_CTRL_MAC_ADDR_SET:
		if (!has(net, VIRTIO_NET_F_CTRL_MAC_ADDR) || len < ETH_ALEN)
			return VIRTIO_NET_ERR;
		pthread_mutex_lock(&net->vdev.lock);
		memcpy(net->mac, data, ETH_ALEN);
		pthread_mutex_unlock(&net->vdev.lock);
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_GUEST_OFFLOADS << 8 | VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET:
		if (!has(net, VIRTIO_NET_F_CTRL_GUEST_OFFLOADS) || len < 8 ||
		    ctrl_set_offloads(net, get_le64(data)))
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	}
	return VIRTIO_NET_ERR;
}

static void ctrl_process(struct virtio_net *net)
{
	struct virtio_dev *vdev = &net->vdev;
	struct virtq *vq = &vdev->vqs[VIRTIO_NET_CTRLQ];
	struct iovec iov[CTRL_CHAIN_IOV];
	struct virtq_elem elem = { .iov = iov, .max_iov = CTRL_CHAIN_IOV };
	unsigned int budget = virtio_dev_budget(vq);
	bool pushed = false;
	int r = 0;

	do {
		virtq_disable_notify(vq);
		while (budget && (r = virtq_pop(vq, &elem)) == 1) {
			uint8_t cmd[2], ack;

			budget--;
			if (iov_to_buf(elem.iov, elem.nr_out, 0, cmd, 2) != 2 || elem.in_len < 1) {
				r = -EINVAL;
				break;
			}
			ack = ctrl_command(net, cmd, &elem);
			if (ack != VIRTIO_NET_OK) {
				net->stats.ctrl_errors++;
				virtio_dev_warn(vdev, "control command %u.%u refused", cmd[0],
						cmd[1]);
			}
			iov_from_buf(elem.iov + elem.nr_out, elem.nr_in, 0, &ack, 1);
			virtq_push(vq, elem.head, 1);
			pushed = true;
		}
		if (r < 0)
			break;
		if (!budget) {
			/* Notifications stay off: the loop comes back. */
			virtio_dev_resume_later(vdev, VIRTIO_NET_CTRLQ);
			break;
		}
		/* With EVENT_IDX the driver kicks again only when asked to. */
	} while (virtq_enable_notify(vq));
	if (pushed)
		virtio_dev_notify_used(vdev, VIRTIO_NET_CTRLQ);
	if (r < 0)
		virtio_dev_fail(vdev, "malformed control chain: %s",
				r == -EINVAL ? "no command or no room for the ack" : strerror(-r));
}

/* --- vhost --------------------------------------------------------------- */

static void vhost_call_ready(void *opaque, uint32_t events)
{
	struct vhost_call *c = opaque;
	struct virtio_dev *vdev = &c->net->vdev;
	uint64_t v;

	/* vhost already decided the driver wants this interrupt; the transport
	 * turns it into MSI-X (honouring masks) or INTx. */
	if (read(c->fd, &v, sizeof(v)) == sizeof(v) && vdev->transport.queue_interrupt)
		vdev->transport.queue_interrupt(vdev->transport.opaque, c->q);
}

static void net_set_call_fd(struct virtio_dev *vdev, unsigned int q, int fd)
{
	struct virtio_net *net = vdev->opaque;
	int ret = -EINVAL;

	if (net->be.vhost && (q == VIRTIO_NET_RXQ || q == VIRTIO_NET_TXQ))
		ret = vhost_net_set_call(net->be.vhost, q == VIRTIO_NET_RXQ ? 0 : 1, fd);
	if (ret)
		virtio_dev_warn(vdev, "vhost: cannot redirect queue %u interrupts: %s", q,
				strerror(-ret));
}

/* Give the first @n data queues back from vhost to the transport. */
static void vhost_stop_queues(struct virtio_net *net, unsigned int n)
{
	struct virtio_dev *vdev = &net->vdev;

	for (unsigned int i = 0; i < n; i++) {
		if (vdev->transport.detach_call)
			vdev->transport.detach_call(vdev->transport.opaque, net->vcall[i].q);
		vhost_net_stop_queue(net->be.vhost, i);
		event_loop_del(vdev->loop, &net->vcall[i].src);
		vdev->transport.return_kick(vdev->transport.opaque, net->vcall[i].q);
	}
	net->vhost_running = false;
}

static int vhost_start(struct virtio_net *net)
{
	struct virtio_dev *vdev = &net->vdev;
	unsigned int started = 0;
	int ret;

	if (!vdev->transport.take_kick || !vdev->vqs[VIRTIO_NET_RXQ].ready ||
	    !vdev->vqs[VIRTIO_NET_TXQ].ready)
		return -EINVAL;
	ret = vhost_net_setup(net->be.vhost, vdev->mem, vdev->driver_features);
	for (; !ret && started < 2; started++) {
		struct vhost_call *c = &net->vcall[started];
		int kick = vdev->transport.take_kick(vdev->transport.opaque, c->q);

		if (kick < 0) {
			ret = kick;
			break;
		}
		ret = event_loop_add(vdev->loop, &c->src, EPOLLIN);
		if (!ret)
			ret = vhost_net_start_queue(net->be.vhost, started, &vdev->vqs[c->q], kick,
						    c->fd, net->be.fd);
		/* Straight to the vector's irqfd where possible: no trip
		 * through this thread per interrupt. */
		if (!ret && vdev->transport.attach_call) {
			ret = vdev->transport.attach_call(vdev->transport.opaque, c->q, c->fd);
			if (ret)
				vhost_net_stop_queue(net->be.vhost, started);
		}
		if (ret) {
			event_loop_del(vdev->loop, &c->src);
			vdev->transport.return_kick(vdev->transport.opaque, c->q);
			break;
		}
	}
	if (ret) {
		vhost_stop_queues(net, started);
		return ret;
	}
	net->vhost_running = true;
	return 0;
}

/* --- device ops ---------------------------------------------------------- */

static void net_config_read(struct virtio_dev *vdev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_net *net = vdev->opaque;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];

	memcpy(cfg + VIRTIO_NET_CFG_MAC, net->mac, ETH_ALEN);
	put_le16(cfg + VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
	put_le16(cfg + VIRTIO_NET_CFG_MAX_VQ_PAIRS, 1);
	memcpy(data, cfg + offset, len);
}

static int net_start(struct virtio_dev *vdev)
{
	struct virtio_net *net = vdev->opaque;
	int ret = 0;

	if (net->be.set_offload)
		ret = net->be.set_offload(net->be.opaque, vdev->driver_features & GUEST_OFFLOADS);
	if (ret)
		return ret;
	if (net->be.vhost)
		return vhost_start(net);
	watch_backend(net, true);
	return 0;
}

static void net_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_net *net = vdev->opaque;

	if (q == VIRTIO_NET_RXQ)
		rx_process(net);
	else if (q == VIRTIO_NET_TXQ)
		tx_process(net);
	else if (q == VIRTIO_NET_CTRLQ)
		ctrl_process(net);
}

static void filter_reset(struct virtio_net *net)
{
	/* Until the driver says otherwise, everything is received. */
	net->promisc = true;
	net->allmulti = false;
	net->uc_overflow = net->mc_overflow = false;
	net->nr_uc = net->nr_mc = 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *net = vdev->opaque;

	if (net->vhost_running)
		vhost_stop_queues(net, 2);
	watch_backend(net, false);
	pool_clear(net);
	filter_reset(net);
	pthread_mutex_lock(&vdev->lock);
	memcpy(net->mac, net->initial_mac, ETH_ALEN);
	pthread_mutex_unlock(&vdev->lock);
	if (net->be.set_offload)
		net->be.set_offload(net->be.opaque, 0);
}

static const struct virtio_dev_ops net_ops = {
	.config_read = net_config_read,
	.start = net_start,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.set_call_fd = net_set_call_fd,
};

int virtio_net_create(struct virtio_net **out, const char *name, const uint8_t mac[6],
		      const struct virtio_net_backend *backend, const struct guest_mem *mem,
		      struct event_loop *loop, struct error *err)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	int ret;

	*out = NULL;
	if (!net)
		return error_set(err, -ENOMEM, "%s: out of memory", name);
	snprintf(net->name, sizeof(net->name), "%s", name);
	net->be = *backend;
	net->defer_fd = -1;
	for (unsigned int i = 0; i < 2; i++)
		net->vcall[i].fd = -1;
	memcpy(net->initial_mac, mac, ETH_ALEN);
	memcpy(net->mac, mac, ETH_ALEN);
	filter_reset(net);
	net->spill = malloc(VIRTIO_NET_MAX_FRAME);
	net->defer_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!net->spill || net->defer_fd < 0) {
		ret = error_set(err, net->spill ? -errno : -ENOMEM, "%s: %s", name,
				net->spill ? strerror(errno) : "out of memory");
		goto fail;
	}
	for (unsigned int i = 0; i < 2; i++) {
		struct vhost_call *c = &net->vcall[i];

		c->net = net;
		c->q = i == 0 ? VIRTIO_NET_RXQ : VIRTIO_NET_TXQ;
		if (!backend->vhost)
			continue;
		c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->fd < 0) {
			ret = error_set(err, -errno, "%s: eventfd: %s", name, strerror(errno));
			goto fail;
		}
		c->src = (struct event_source){ c->fd, vhost_call_ready, c };
	}
	net->be_src = (struct event_source){ backend->fd, backend_ready, net };
	net->defer_src = (struct event_source){ net->defer_fd, deferred, net };
	ret = virtio_dev_init(&net->vdev, net->name, VIRTIO_ID_NET, NET_FEATURES, 3,
			      VIRTIO_NET_QUEUE_SIZE, VIRTIO_NET_CONFIG_SIZE, &net_ops, net, mem,
			      loop);
	if (ret) {
		error_set(err, ret, "%s: %s", name, strerror(-ret));
		goto fail;
	}
	ret = event_loop_add(loop, &net->defer_src, EPOLLIN);
	if (ret) {
		error_set(err, ret, "%s: cannot watch its eventfd: %s", name, strerror(-ret));
		virtio_dev_free(&net->vdev);
		goto fail;
	}
	*out = net;
	return 0;
fail:
	for (unsigned int i = 0; i < 2; i++)
		if (net->vcall[i].fd >= 0)
			close(net->vcall[i].fd);
	if (net->defer_fd >= 0)
		close(net->defer_fd);
	free(net->spill);
	free(net);
	return ret;
}

struct virtio_dev *virtio_net_vdev(struct virtio_net *net)
{
	return &net->vdev;
}

void virtio_net_get_stats(const struct virtio_net *net, struct virtio_net_stats *stats)
{
	*stats = net->stats;
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	/* The transport and the loop may be gone already: only make sure
	 * vhost stops touching guest memory. */
	for (unsigned int i = 0; net->vhost_running && i < 2; i++)
		vhost_net_stop_queue(net->be.vhost, i);
	for (unsigned int i = 0; i < 2; i++)
		if (net->vcall[i].fd >= 0)
			close(net->vcall[i].fd);
	close(net->defer_fd);
	virtio_dev_free(&net->vdev);
	free(net->spill);
	free(net);
}
