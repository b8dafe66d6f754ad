// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "le.h"
#include "virtio/pci.h"

/* virtio_pci_cap.cfg_type */
enum {
	CAP_COMMON = 1,
	CAP_NOTIFY = 2,
	CAP_ISR = 3,
	CAP_DEVICE = 4,
};

#define ISR_QUEUE 1
#define ISR_CONFIG 2
#define PAGE 4096u

/* Body of struct virtio_pci_cap after cap_vndr and cap_next. */
struct vcap_body {
	uint8_t cap_len;
	uint8_t cfg_type;
	uint8_t bar;
	uint8_t id;
	uint8_t padding[2];
	uint32_t offset;
	uint32_t length;
	uint32_t notify_off_multiplier; /* notify capability only */
} __attribute__((packed));

static uint32_t round_up(uint32_t v, uint32_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint32_t notify_len(const struct virtio_pci *vpci)
{
	return round_up(vpci->vdev->nr_queues * VIRTIO_PCI_NOTIFY_MULT, PAGE);
}

static uint32_t msix_table_off(const struct virtio_pci *vpci)
{
	return VIRTIO_PCI_NOTIFY_OFF + notify_len(vpci);
}

static uint32_t msix_pba_off(const struct virtio_pci *vpci)
{
	return msix_table_off(vpci) + round_up(msix_table_size(vpci->nr_vectors), PAGE);
}

/* The smallest power of two >= @v and >= @min (a power of two): a BAR size. */
static uint32_t pow2_at_least(uint32_t v, uint32_t min)
{
	while (min < v)
		min <<= 1;
	return min;
}

static uint32_t bar_size(const struct virtio_pci *vpci)
{
	return pow2_at_least(msix_pba_off(vpci) + round_up(msix_pba_size(vpci->nr_vectors), PAGE),
			     PAGE);
}

/* --- interrupts ---------------------------------------------------------- */

/* Point an attached queue's backend at its vector's irqfd or at the
 * device's polled eventfd. Called with call_lock held. */
static void update_call(struct virtio_pci *vpci, unsigned int q)
{
	struct virtio_pci_queue *vq = &vpci->queues[q];
	uint16_t v = __atomic_load_n(&vq->msix_vector, __ATOMIC_RELAXED);
	int fd;

	if (vq->call_polled_fd < 0)
		return;
	fd = v < vpci->nr_vectors && vpci->vector_live[v] ? vpci->vector_fd[v] : vq->call_polled_fd;
	if (fd != vq->call_fd) {
		vpci->vdev->ops->set_call_fd(vpci->vdev, q, fd);
		vq->call_fd = fd;
	}
}

static void set_vector_live(struct virtio_pci *vpci, unsigned int vector, bool live)
{
	pthread_mutex_lock(&vpci->call_lock);
	vpci->vector_live[vector] = live;
	for (unsigned int q = 0; q < vpci->vdev->nr_queues; q++)
		update_call(vpci, q);
	pthread_mutex_unlock(&vpci->call_lock);
}

static void msix_route_changed(void *opaque, unsigned int vector, uint64_t addr, uint32_t data,
			       bool masked)
{
	struct virtio_pci *vpci = opaque;
	int ret;

	/* A backend signalling the irqfd directly must leave it before the
	 * route goes (its interrupts would be lost, not left pending) and may
	 * return only once the route is back. */
	if (masked)
		set_vector_live(vpci, vector, false);
	ret = vpci->host.msi_route(vpci->host.opaque, vpci->vector_gsi[vector], addr, data, masked);
	if (ret)
		virtio_dev_warn(vpci->vdev, "cannot route MSI-X vector %u", vector);
	else if (!masked)
		set_vector_live(vpci, vector, true);
}

static void msix_fire(void *opaque, unsigned int vector)
{
	struct virtio_pci *vpci = opaque;
	uint64_t one = 1;

	/* Fails only when the counter would overflow: an interrupt is pending. */
	(void)!write(vpci->vector_fd[vector], &one, sizeof(one));
}

static const struct msix_ops vpci_msix_ops = {
	.route_changed = msix_route_changed,
	.fire = msix_fire,
};

static void raise_intx(struct virtio_pci *vpci, uint8_t why)
{
	__atomic_fetch_or(&vpci->isr, why, __ATOMIC_SEQ_CST);
	pci_device_set_intx(&vpci->pci, true);
}

static void queue_interrupt(void *opaque, unsigned int q)
{
	struct virtio_pci *vpci = opaque;

	if (msix_notify(&vpci->msix, __atomic_load_n(&vpci->queues[q].msix_vector,
						     __ATOMIC_RELAXED)) == MSIX_DISABLED)
		raise_intx(vpci, ISR_QUEUE);
}

static void config_interrupt(void *opaque)
{
	struct virtio_pci *vpci = opaque;

	if (msix_notify(&vpci->msix, __atomic_load_n(&vpci->config_msix_vector,
						     __ATOMIC_RELAXED)) == MSIX_DISABLED)
		raise_intx(vpci, ISR_CONFIG);
}

/* --- queue notifications ------------------------------------------------- */

static void kick_ready(void *opaque, uint32_t events)
{
	struct virtio_pci_queue *vq = opaque;
	uint64_t v;

	if (read(vq->kick_fd, &v, sizeof(v)) != sizeof(v))
		return;
	virtio_dev_kick(vq->vpci->vdev, (unsigned int)(vq - vq->vpci->queues));
}

static int take_kick(void *opaque, unsigned int q)
{
	struct virtio_pci *vpci = opaque;
	int ret;

	if (q >= vpci->vdev->nr_queues)
		return -EINVAL;
	ret = event_loop_del(vpci->vdev->loop, &vpci->queues[q].kick_src);
	return ret ? ret : vpci->queues[q].kick_fd;
}

static void return_kick(void *opaque, unsigned int q)
{
	struct virtio_pci *vpci = opaque;

	if (q < vpci->vdev->nr_queues)
		event_loop_add(vpci->vdev->loop, &vpci->queues[q].kick_src, EPOLLIN);
}

static int attach_call(void *opaque, unsigned int q, int polled_fd)
{
	struct virtio_pci *vpci = opaque;

	if (q >= vpci->vdev->nr_queues || polled_fd < 0 || !vpci->vdev->ops->set_call_fd)
		return -EINVAL;
	pthread_mutex_lock(&vpci->call_lock);
	vpci->queues[q].call_polled_fd = polled_fd;
	vpci->queues[q].call_fd = -1;
	update_call(vpci, q);
	pthread_mutex_unlock(&vpci->call_lock);
	return 0;
}

static void detach_call(void *opaque, unsigned int q)
{
	struct virtio_pci *vpci = opaque;

	if (q >= vpci->vdev->nr_queues)
		return;
	pthread_mutex_lock(&vpci->call_lock);
	vpci->queues[q].call_polled_fd = -1;
	vpci->queues[q].call_fd = -1;
	pthread_mutex_unlock(&vpci->call_lock);
}

static void unregister_ioeventfds(struct virtio_pci *vpci, const struct virtio_pci_notify *n,
				  unsigned int nr_queues)
{
	for (unsigned int q = 0; q < nr_queues; q++)
		vpci->host.ioeventfd(vpci->host.opaque, n->addr + q * n->mult, 2,
				     vpci->queues[q].kick_fd, n->pio, false);
}

/* Called with the PCI bus lock held when a notification region's BAR
 * starts or stops decoding (@addr: the region's new address). */
static void set_ioeventfds(struct virtio_pci *vpci, struct virtio_pci_notify *n, uint64_t addr,
			   bool on)
{
	if (n->ioeventfds_on) {
		unregister_ioeventfds(vpci, n, vpci->vdev->nr_queues);
		n->ioeventfds_on = false;
	}
	if (!on)
		return;
	n->addr = addr;
	for (unsigned int q = 0; q < vpci->vdev->nr_queues; q++) {
		if (vpci->host.ioeventfd(vpci->host.opaque, n->addr + q * n->mult, 2,
					 vpci->queues[q].kick_fd, n->pio, true)) {
			/* Kicks still work, through the trapping path. */
			virtio_dev_warn(vpci->vdev, "cannot register %s ioeventfd for queue %u",
					n->pio ? "port" : "MMIO", q);
			unregister_ioeventfds(vpci, n, q);
			return;
		}
	}
	n->ioeventfds_on = true;
}

static void bar_moved(struct pci_device *dev, unsigned int bar, uint64_t addr, bool enabled)
{
	struct virtio_pci *vpci = dev->opaque;

	if (bar == VIRTIO_PCI_NOTIFY_BAR)
		set_ioeventfds(vpci, &vpci->notify, addr + VIRTIO_PCI_NOTIFY_OFF, enabled);
	else if (bar == VIRTIO_PCI_PIO_NOTIFY_BAR)
		set_ioeventfds(vpci, &vpci->pio_notify, addr, enabled);
}

static void notify_io(struct virtio_pci *vpci, const struct virtio_pci_notify *n, uint64_t offset,
		      uint8_t *data, uint32_t len, bool is_write)
{
	uint64_t q = offset / n->mult, one = 1;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* A write KVM did not turn into an eventfd signal (other width, or
	 * no ioeventfd): same effect, through the same eventfd. */
	if (q < vpci->vdev->nr_queues)
		(void)!write(vpci->queues[q].kick_fd, &one, sizeof(one));
}

/* --- common configuration ------------------------------------------------ */

static void reset_transport(struct virtio_pci *vpci)
{
	vpci->device_feature_select = 0;
	vpci->driver_feature_select = 0;
	vpci->queue_select = 0;
	__atomic_store_n(&vpci->config_msix_vector, MSIX_NO_VECTOR, __ATOMIC_RELAXED);
	for (unsigned int q = 0; q < vpci->vdev->nr_queues; q++) {
		struct virtio_pci_queue *vq = &vpci->queues[q];

		vq->size = vpci->vdev->queue_max_size;
		__atomic_store_n(&vq->msix_vector, MSIX_NO_VECTOR, __ATOMIC_RELAXED);
		vq->enabled = false;
		vq->desc = vq->avail = vq->used = 0;
	}
	__atomic_store_n(&vpci->isr, 0, __ATOMIC_SEQ_CST);
	pci_device_set_intx(&vpci->pci, false);
}

static struct virtio_pci_queue *selected_queue(struct virtio_pci *vpci)
{
	return vpci->queue_select < vpci->vdev->nr_queues ? &vpci->queues[vpci->queue_select]
							  : NULL;
}

static uint64_t common_read(struct virtio_pci *vpci, uint32_t reg)
{
	struct virtio_pci_queue *vq = selected_queue(vpci);
	struct virtio_dev *vdev = vpci->vdev;

	switch (reg) {
	case VIRTIO_PCI_DFSELECT:
		return vpci->device_feature_select;
	case VIRTIO_PCI_DF:
		return virtio_dev_device_features(vdev, vpci->device_feature_select);
	case VIRTIO_PCI_GFSELECT:
		return vpci->driver_feature_select;
	case VIRTIO_PCI_GF:
		return vpci->driver_feature_select < 2
			       ? (uint32_t)(vdev->driver_features >>
					    (32 * vpci->driver_feature_select))
			       : 0;
	case VIRTIO_PCI_MSIX_CONFIG:
		return vpci->config_msix_vector;
	case VIRTIO_PCI_NUM_QUEUES:
		return vdev->nr_queues;
	case VIRTIO_PCI_STATUS:
		return virtio_dev_status(vdev);
	case VIRTIO_PCI_CFG_GENERATION:
		return vdev->config_generation;
	case VIRTIO_PCI_Q_SELECT:
		return vpci->queue_select;
	case VIRTIO_PCI_Q_NOFF:
		return vq ? vpci->queue_select : 0;
	case VIRTIO_PCI_Q_NOTIFY_DATA:
		return vq ? vpci->queue_select : 0;
	}
	if (!vq)
		return 0; /* a nonexistent queue reads as size 0 */
	switch (reg) {
	case VIRTIO_PCI_Q_SIZE:
		return vq->size;
	case VIRTIO_PCI_Q_MSIX:
		return vq->msix_vector;
	case VIRTIO_PCI_Q_ENABLE:
		return vq->enabled;
	case VIRTIO_PCI_Q_DESC:
		return vq->desc;
	case VIRTIO_PCI_Q_AVAIL:
		return vq->avail;
	case VIRTIO_PCI_Q_USED:
		return vq->used;
	}
	return 0;
}

/* Width of each register; 64-bit ones may also be written in 32-bit halves. */
static uint32_t common_width(uint32_t reg)
{
	switch (reg) {
	case VIRTIO_PCI_DFSELECT:
	case VIRTIO_PCI_DF:
	case VIRTIO_PCI_GFSELECT:
	case VIRTIO_PCI_GF:
		return 4;
	case VIRTIO_PCI_STATUS:
	case VIRTIO_PCI_CFG_GENERATION:
		return 1;
	case VIRTIO_PCI_Q_DESC:
	case VIRTIO_PCI_Q_AVAIL:
	case VIRTIO_PCI_Q_USED:
		return 8;
	case VIRTIO_PCI_MSIX_CONFIG:
	case VIRTIO_PCI_NUM_QUEUES:
	case VIRTIO_PCI_Q_SELECT:
	case VIRTIO_PCI_Q_SIZE:
	case VIRTIO_PCI_Q_MSIX:
	case VIRTIO_PCI_Q_ENABLE:
	case VIRTIO_PCI_Q_NOFF:
	case VIRTIO_PCI_Q_NOTIFY_DATA:
		return 2;
	}
	return 0;
}

static uint16_t checked_vector(const struct virtio_pci *vpci, uint64_t v)
{
	return v < vpci->nr_vectors ? (uint16_t)v : MSIX_NO_VECTOR;
}

static void set_addr_part(uint64_t *field, uint32_t part, uint32_t len, uint64_t v)
{
	if (len == 8) {
		*field = v;
	} else {
		uint64_t mask = 0xffffffffULL << (32 * part);

		*field = (*field & ~mask) | (v << (32 * part));
	}
}

/*
 * Returns the status value to hand to the device after dropping the lock
 * (the device may wait for its event loop), or -1.
 */
static int common_write(struct virtio_pci *vpci, uint32_t reg, uint32_t part, uint32_t len,
			uint64_t v)
{
	struct virtio_pci_queue *vq = selected_queue(vpci);
	struct virtio_dev *vdev = vpci->vdev;
	bool live = virtio_dev_status(vdev) & VIRTIO_STATUS_DRIVER_OK;

	switch (reg) {
	case VIRTIO_PCI_DFSELECT:
		vpci->device_feature_select = v;
		return -1;
	case VIRTIO_PCI_GFSELECT:
		vpci->driver_feature_select = v;
		return -1;
	case VIRTIO_PCI_GF:
		virtio_dev_set_driver_features(vdev, vpci->driver_feature_select, v);
		return -1;
	case VIRTIO_PCI_MSIX_CONFIG:
		__atomic_store_n(&vpci->config_msix_vector, checked_vector(vpci, v),
				 __ATOMIC_RELAXED);
		return -1;
	case VIRTIO_PCI_STATUS:
		return (int)(v & 0xff);
	case VIRTIO_PCI_Q_SELECT:
		vpci->queue_select = v;
		return -1;
	}
	if (!vq)
		return -1;
	if (reg == VIRTIO_PCI_Q_MSIX) {
		__atomic_store_n(&vq->msix_vector, checked_vector(vpci, v), __ATOMIC_RELAXED);
		pthread_mutex_lock(&vpci->call_lock);
		update_call(vpci, vpci->queue_select);
		pthread_mutex_unlock(&vpci->call_lock);
		return -1;
	}
	/* The rest describes the queue, fixed once enabled or running. */
	if (vq->enabled || live) {
		virtio_dev_warn(vdev, "queue %u reconfigured while enabled; ignored",
				vpci->queue_select);
		return -1;
	}
	switch (reg) {
	case VIRTIO_PCI_Q_SIZE:
		vq->size = v;
		break;
	case VIRTIO_PCI_Q_DESC:
		set_addr_part(&vq->desc, part, len, v);
		break;
	case VIRTIO_PCI_Q_AVAIL:
		set_addr_part(&vq->avail, part, len, v);
		break;
	case VIRTIO_PCI_Q_USED:
		set_addr_part(&vq->used, part, len, v);
		break;
	case VIRTIO_PCI_Q_ENABLE:
		if (v == 1 && virtio_dev_enable_queue(vdev, vpci->queue_select, vq->size, vq->desc,
						      vq->avail, vq->used) == 0)
			vq->enabled = true;
		break;
	}
	return -1;
}

static void common_io(struct virtio_pci *vpci, uint32_t offset, uint8_t *data, uint32_t len,
		      bool is_write)
{
	uint32_t reg = offset, part = 0, width;
	int status = -1;

	/* The upper half of a 64-bit register. */
	if (offset >= VIRTIO_PCI_Q_DESC && offset < VIRTIO_PCI_Q_NOTIFY_DATA && (offset & 4)) {
		reg = offset - 4;
		part = 1;
	}
	width = common_width(reg);
	if (!width || !(len == width || (width == 8 && len == 4)) || (part && len != 4)) {
		/* Not a register, or the wrong access size: reads 0, writes dropped. */
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&vpci->lock);
	if (is_write) {
		status = common_write(vpci, reg, part, len, get_le(data, len));
	} else {
		uint64_t v = common_read(vpci, reg);

		put_le(data, len, part ? v >> 32 : v);
	}
	pthread_mutex_unlock(&vpci->lock);
	if (status < 0)
		return;
	virtio_dev_set_status(vpci->vdev, (uint8_t)status);
	if (status == 0) {
		pthread_mutex_lock(&vpci->lock);
		reset_transport(vpci);
		pthread_mutex_unlock(&vpci->lock);
	}
}

static void isr_io(struct virtio_pci *vpci, uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write)
		return;
	memset(data, 0, len);
	/* Reading acknowledges: clears the bits and lowers INTx. */
	data[0] = __atomic_exchange_n(&vpci->isr, 0, __ATOMIC_SEQ_CST);
	pci_device_set_intx(&vpci->pci, false);
	/* raise_intx() may have run in between: its interrupt must not be lost. */
	if (__atomic_load_n(&vpci->isr, __ATOMIC_SEQ_CST))
		pci_device_set_intx(&vpci->pci, true);
}

static void device_cfg_io(struct virtio_pci *vpci, uint32_t offset, uint8_t *data, uint32_t len,
			  bool is_write)
{
	struct virtio_dev *vdev = vpci->vdev;

	if (offset + len > vdev->config_size || !vdev->ops->config_read) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	if (!is_write)
		vdev->ops->config_read(vdev, offset, data, len);
	else if (vdev->ops->config_write)
		vdev->ops->config_write(vdev, offset, data, len);
	pthread_mutex_unlock(&vdev->lock);
}

void virtio_pci_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vpci = opaque;

	if (offset < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN)
		common_io(vpci, offset, data, len, is_write);
	else if (offset >= VIRTIO_PCI_ISR_OFF && offset < VIRTIO_PCI_ISR_OFF + PAGE)
		isr_io(vpci, data, len, is_write);
	else if (offset >= VIRTIO_PCI_DEVICE_OFF && offset < VIRTIO_PCI_DEVICE_OFF + PAGE)
		device_cfg_io(vpci, offset - VIRTIO_PCI_DEVICE_OFF, data, len, is_write);
	else if (offset >= VIRTIO_PCI_NOTIFY_OFF && offset < msix_table_off(vpci))
		notify_io(vpci, &vpci->notify, offset - VIRTIO_PCI_NOTIFY_OFF, data, len, is_write);
	else if (offset >= msix_table_off(vpci) && offset < msix_pba_off(vpci))
		msix_table_io(&vpci->msix, offset - msix_table_off(vpci), data, len, is_write);
	else if (offset >= msix_pba_off(vpci))
		msix_pba_io(&vpci->msix, offset - msix_pba_off(vpci), data, len, is_write);
	else if (!is_write)
		memset(data, 0, len);
}

void virtio_pci_pio_notify_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			      bool is_write)
{
	struct virtio_pci *vpci = opaque;

	notify_io(vpci, &vpci->pio_notify, offset, data, len, is_write);
}

/* --- setup --------------------------------------------------------------- */

static void cfg_written(struct pci_device *dev, uint32_t offset, uint32_t len)
{
	struct virtio_pci *vpci = dev->opaque;

	msix_cfg_written(&vpci->msix, offset, len);
}

static int add_vcap(struct virtio_pci *vpci, uint8_t type, uint8_t bar, uint32_t offset,
		    uint32_t length, uint32_t notify_mult)
{
	struct vcap_body b = {
		.cfg_type = type,
		.bar = bar,
		.offset = offset,
		.length = length,
		.notify_off_multiplier = notify_mult,
	};
	uint8_t body_len = type == CAP_NOTIFY ? sizeof(b) : sizeof(b) - 4;

	b.cap_len = body_len + 2;
	return pci_device_add_capability(&vpci->pci, PCI_CAP_ID_VNDR, &b, body_len);
}

int virtio_pci_init(struct virtio_pci *vpci, struct virtio_dev *vdev,
		    const struct virtio_pci_host *host, struct error *err)
{
	unsigned int nq = vdev->nr_queues;
	int ret;

	memset(vpci, 0, sizeof(*vpci));
	vpci->vdev = vdev;
	vpci->host = *host;
	pthread_mutex_init(&vpci->lock, NULL);
	pthread_mutex_init(&vpci->call_lock, NULL);
	vpci->nr_vectors = nq + 1;
	vpci->queues = calloc(nq, sizeof(*vpci->queues));
	vpci->vector_gsi = calloc(vpci->nr_vectors, sizeof(*vpci->vector_gsi));
	vpci->vector_fd = calloc(vpci->nr_vectors, sizeof(*vpci->vector_fd));
	vpci->vector_live = calloc(vpci->nr_vectors, sizeof(*vpci->vector_live));
	if (!vpci->queues || !vpci->vector_gsi || !vpci->vector_fd || !vpci->vector_live)
		return error_set(err, -ENOMEM, "%s: out of memory", vdev->name);
	for (unsigned int q = 0; q < nq; q++) {
		vpci->queues[q].kick_fd = -1;
		vpci->queues[q].call_polled_fd = -1;
		vpci->queues[q].call_fd = -1;
	}
	for (unsigned int v = 0; v < vpci->nr_vectors; v++)
		vpci->vector_fd[v] = -1;
	for (unsigned int q = 0; q < nq; q++) {
		struct virtio_pci_queue *vq = &vpci->queues[q];

		vq->vpci = vpci;
		vq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vq->kick_fd < 0)
			return error_set(err, -errno, "%s: eventfd: %s", vdev->name,
					 strerror(errno));
		vq->kick_src = (struct event_source){ vq->kick_fd, kick_ready, vq };
	}
	for (unsigned int v = 0; v < vpci->nr_vectors; v++) {
		ret = host->msi_alloc(host->opaque, &vpci->vector_gsi[v], &vpci->vector_fd[v]);
		if (ret)
			return error_set(err, ret, "%s: cannot set up MSI-X vector %u: %s",
					 vdev->name, v, strerror(-ret));
	}
	reset_transport(vpci);

	pci_device_init(&vpci->pci, vdev->name, VIRTIO_PCI_VENDOR,
			VIRTIO_PCI_DEVICE_BASE + vdev->device_id, 0xff0000, VIRTIO_PCI_VENDOR,
			VIRTIO_PCI_DEVICE_BASE + vdev->device_id, 1);
	vpci->pci.opaque = vpci;
	vpci->pci.cfg_written = cfg_written;
	vpci->pci.bar_moved = bar_moved;
	vpci->notify = (struct virtio_pci_notify){ .mult = VIRTIO_PCI_NOTIFY_MULT };
	vpci->pio_notify =
		(struct virtio_pci_notify){ .mult = VIRTIO_PCI_PIO_NOTIFY_MULT, .pio = true };
	ret = pci_device_add_bar(&vpci->pci, VIRTIO_PCI_NOTIFY_BAR, bar_size(vpci), true,
				 virtio_pci_bar_io, vpci);
	if (!ret &&
	    add_vcap(vpci, CAP_COMMON, 0, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN, 0) < 0)
		ret = -ENOSPC;
	if (!ret && add_vcap(vpci, CAP_ISR, 0, VIRTIO_PCI_ISR_OFF, 1, 0) < 0)
		ret = -ENOSPC;
	if (!ret && vdev->config_size &&
	    add_vcap(vpci, CAP_DEVICE, 0, VIRTIO_PCI_DEVICE_OFF, vdev->config_size, 0) < 0)
		ret = -ENOSPC;
	if (!ret && host->pio_notify && nq <= VIRTIO_PCI_PIO_MAX_QUEUES) {
		uint32_t len = nq * VIRTIO_PCI_PIO_NOTIFY_MULT;

		ret = pci_device_add_io_bar(&vpci->pci, VIRTIO_PCI_PIO_NOTIFY_BAR,
					    pow2_at_least(len, 16), virtio_pci_pio_notify_io, vpci);
		if (!ret && add_vcap(vpci, CAP_NOTIFY, VIRTIO_PCI_PIO_NOTIFY_BAR, 0, len,
				     VIRTIO_PCI_PIO_NOTIFY_MULT) < 0)
			ret = -ENOSPC;
	}
	if (!ret && add_vcap(vpci, CAP_NOTIFY, VIRTIO_PCI_NOTIFY_BAR, VIRTIO_PCI_NOTIFY_OFF,
			     nq * VIRTIO_PCI_NOTIFY_MULT, VIRTIO_PCI_NOTIFY_MULT) < 0)
		ret = -ENOSPC;
	if (!ret)
		ret = msix_init(&vpci->msix, &vpci->pci, vpci->nr_vectors, 0, msix_table_off(vpci),
				msix_pba_off(vpci), &vpci_msix_ops, vpci);
	if (ret)
		return error_set(err, ret, "%s: cannot build its PCI function: %s", vdev->name,
				 strerror(-ret));
	vdev->transport = (struct virtio_transport){
		.queue_interrupt = queue_interrupt,
		.config_interrupt = config_interrupt,
		.take_kick = take_kick,
		.return_kick = return_kick,
		.attach_call = attach_call,
		.detach_call = detach_call,
		.opaque = vpci,
	};
	return 0;
}

int virtio_pci_start(struct virtio_pci *vpci, struct error *err)
{
	for (unsigned int q = 0; q < vpci->vdev->nr_queues; q++) {
		int ret = event_loop_add(vpci->vdev->loop, &vpci->queues[q].kick_src, EPOLLIN);

		if (ret)
			return error_set(err, ret, "%s: cannot watch queue %u: %s",
					 vpci->vdev->name, q, strerror(-ret));
	}
	return 0;
}

void virtio_pci_free(struct virtio_pci *vpci)
{
	/* Registered ioeventfds stay: the vCPUs have stopped, KVM holds its own
	 * reference to each eventfd, and closing the VM drops them all (the
	 * main thread, which frees devices, may not make KVM calls). */
	if (vpci->queues) {
		for (unsigned int q = 0; q < vpci->vdev->nr_queues; q++)
			if (vpci->queues[q].kick_fd >= 0)
				close(vpci->queues[q].kick_fd);
	}
	if (vpci->vector_fd) {
		for (unsigned int v = 0; v < vpci->nr_vectors; v++)
			if (vpci->vector_fd[v] >= 0)
				close(vpci->vector_fd[v]);
	}
	if (vpci->msix.table)
		msix_free(&vpci->msix);
	free(vpci->queues);
	free(vpci->vector_gsi);
	free(vpci->vector_fd);
	free(vpci->vector_live);
	vpci->queues = NULL;
	vpci->vector_gsi = NULL;
	vpci->vector_fd = NULL;
	vpci->vector_live = NULL;
	pthread_mutex_destroy(&vpci->lock);
	pthread_mutex_destroy(&vpci->call_lock);
}
