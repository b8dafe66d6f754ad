// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_pci.h"
#include "fake_virtio.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define RAM (1u << 20)
#define WIN32_BASE 0xc0000000ULL
#define WIN32_SIZE 0x10000000ULL
#define WIN64_BASE 0x8000000000ULL
#define WIN64_SIZE 0x8000000000ULL
#define IO_BASE 0xc000ULL
#define IO_SIZE 0x4000ULL

#define DESC_GPA 0x10000ULL
#define AVAIL_GPA (DESC_GPA + FAKE_VQ_AVAIL_OFF)
#define USED_GPA (DESC_GPA + FAKE_VQ_USED_OFF)
#define DATA_GPA 0x80000ULL
#define QSIZE 16
#define RNG_MAX_QSIZE 64

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000

#define ST_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define ST_DRV VIRTIO_STATUS_DRIVER
#define ST_FOK VIRTIO_STATUS_FEATURES_OK
#define ST_DOK VIRTIO_STATUS_DRIVER_OK
#define ST_NR VIRTIO_STATUS_NEEDS_RESET

/* ---- the fake VM: MSI routes, ioeventfds, INTx levels ---- */

struct route_rec {
	unsigned int gsi;
	uint64_t addr;
	uint32_t data;
	bool masked;
};

struct ioev_rec {
	uint64_t addr;
	uint32_t len;
	int fd;
	bool pio;
	bool assign;
};

struct host_rec {
	unsigned int nr_alloc;
	unsigned int fail_alloc_at; /* 1-based; 0: never */
	int fds[8];
	unsigned int gsis[8];
	struct route_rec routes[64];
	unsigned int nr_routes;
	struct ioev_rec ioev[64];
	unsigned int nr_ioev;
	int ioev_fail; /* errno to return from ioeventfd, 0: succeed */
	int intx_level[64];
	unsigned int intx_calls;
	/* One shot: when INTx goes low, act as if the I/O thread's raise_intx()
	 * ran just before (ISR bit set, its level write a no-op). */
	struct virtio_pci *raise_on_lower;
};

static int fake_msi_alloc(void *opaque, unsigned int *gsi, int *fd)
{
	struct host_rec *h = opaque;

	if (h->fail_alloc_at && h->nr_alloc + 1 == h->fail_alloc_at)
		return -ENOSPC;
	assert_true(h->nr_alloc < 8);
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(*fd >= 0);
	*gsi = 40 + h->nr_alloc;
	h->fds[h->nr_alloc] = *fd;
	h->gsis[h->nr_alloc] = *gsi;
	h->nr_alloc++;
	return 0;
}

static int fake_msi_route(void *opaque, unsigned int gsi, uint64_t addr, uint32_t data, bool masked)
{
	struct host_rec *h = opaque;

	assert_true(h->nr_routes < 64);
	h->routes[h->nr_routes++] = (struct route_rec){ gsi, addr, data, masked };
	return 0;
}

static int fake_ioeventfd(void *opaque, uint64_t addr, uint32_t len, int fd, bool pio, bool assign)
{
	struct host_rec *h = opaque;

	if (assign && h->ioev_fail)
		return -h->ioev_fail;
	assert_true(h->nr_ioev < 64);
	h->ioev[h->nr_ioev++] = (struct ioev_rec){ addr, len, fd, pio, assign };
	return 0;
}

static void fake_intx(void *opaque, unsigned int gsi, int level)
{
	struct host_rec *h = opaque;

	assert_true(gsi < 64);
	h->intx_level[gsi] = level;
	h->intx_calls++;
	if (!level && h->raise_on_lower) {
		__atomic_fetch_or(&h->raise_on_lower->isr, 1, __ATOMIC_SEQ_CST);
		h->raise_on_lower = NULL;
	}
}

/* ---- a device model with device config and three queues ---- */

struct model {
	struct virtio_dev vdev;
	uint8_t cfg[8];
	unsigned int notified[3];
	unsigned int resets;
	uint32_t last_write_off, last_write_len;
	int call_fd[3]; /* what set_call_fd() last said */
	unsigned int call_changes;
};

static void model_cfg_read(struct virtio_dev *vdev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct model *m = vdev->opaque;

	assert_true(offset + len <= sizeof(m->cfg));
	memcpy(data, m->cfg + offset, len);
}

static void model_cfg_write(struct virtio_dev *vdev, uint32_t offset, const uint8_t *data,
			    uint32_t len)
{
	struct model *m = vdev->opaque;

	assert_true(offset + len <= sizeof(m->cfg));
	memcpy(m->cfg + offset, data, len);
	m->last_write_off = offset;
	m->last_write_len = len;
}

static void model_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct model *m = vdev->opaque;

	assert_true(q < 3);
	m->notified[q]++;
}

static void model_reset(struct virtio_dev *vdev)
{
	struct model *m = vdev->opaque;

	m->resets++;
}

static void model_set_call_fd(struct virtio_dev *vdev, unsigned int q, int fd)
{
	struct model *m = vdev->opaque;

	assert_true(q < 3);
	m->call_fd[q] = fd;
	m->call_changes++;
}

static const struct virtio_dev_ops model_ops = {
	.config_read = model_cfg_read,
	.config_write = model_cfg_write,
	.queue_notify = model_notify,
	.reset = model_reset,
	.set_call_fd = model_set_call_fd,
};

/* ---- fixture ---- */

struct fx {
	struct fake_guest g;
	struct event_loop loop;
	struct host_rec host;
	struct pci_bus bus;
	struct virtio_rng rng;
	struct model model;
	struct virtio_dev *vdev;
	struct virtio_pci vpci;
	struct fake_vq vq; /* the driver's side of queue 0 */
	struct fake_data data;
};

/* Deterministic "random" bytes: a pattern from the start of each call. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)(0x5a ^ (i * 13));
}

static ssize_t pattern_source(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern(i);
	return len;
}

/* Gives at most 7 bytes per call: the device has to loop. */
static ssize_t short_source(void *buf, size_t len)
{
	return pattern_source(buf, len < 7 ? len : 7);
}

static ssize_t failing_source(void *buf, size_t len)
{
	errno = EIO;
	return -1;
}

static struct fx *fx_new(bool use_model)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct irq_line intx = { fake_intx, NULL, 0 };
	struct virtio_pci_host host = { fake_msi_alloc, fake_msi_route, fake_ioeventfd, NULL,
					true };
	struct error err = { 0 };

	assert_non_null(f);
	fake_guest_init(&f->g, RAM);
	fake_data_init(&f->data, &f->g, DATA_GPA);
	assert_int_equal(event_loop_init(&f->loop, "test", NULL), 0);
	if (use_model) {
		assert_int_equal(virtio_dev_init(&f->model.vdev, "model", 0x1a, 0, 3, 32,
						 sizeof(f->model.cfg), &model_ops, &f->model,
						 &f->g.mem, &f->loop),
				 0);
		f->vdev = &f->model.vdev;
	} else {
		assert_int_equal(virtio_rng_init(&f->rng, &f->g.mem, &f->loop, pattern_source), 0);
		f->vdev = &f->rng.vdev;
	}
	intx.opaque = &f->host;
	host.opaque = &f->host;
	pci_bus_init(&f->bus, WIN32_BASE, WIN32_SIZE, WIN64_BASE, WIN64_SIZE, &intx);
	pci_bus_set_io_window(&f->bus, IO_BASE, IO_SIZE);
	assert_int_equal(virtio_pci_init(&f->vpci, f->vdev, &host, &err), 0);
	assert_int_equal(pci_bus_add_device(&f->bus, &f->vpci.pci), 0);
	assert_int_equal(virtio_pci_start(&f->vpci, &err), 0);
	return f;
}

static int setup(void **state)
{
	*state = fx_new(false);
	return 0;
}

static int setup_model(void **state)
{
	*state = fx_new(true);
	return 0;
}

/* As KVM keeps them: no ioeventfd is registered twice, and each removal
 * matches a registration still held (net 0 or 1 per address, space and
 * eventfd after every record). */
static void assert_ioeventfds_consistent(const struct host_rec *h)
{
	for (unsigned int i = 0; i < h->nr_ioev; i++) {
		int net = 0;

		for (unsigned int j = 0; j <= i; j++) {
			if (h->ioev[j].addr == h->ioev[i].addr &&
			    h->ioev[j].pio == h->ioev[i].pio && h->ioev[j].fd == h->ioev[i].fd)
				net += h->ioev[j].assign ? 1 : -1;
		}
		assert_true(net == 0 || net == 1);
	}
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_ioeventfds_consistent(&f->host);
	virtio_pci_free(&f->vpci);
	pci_bus_free(&f->bus);
	if (f->vdev == &f->rng.vdev)
		virtio_rng_free(&f->rng);
	else
		virtio_dev_free(&f->model.vdev);
	event_loop_destroy(&f->loop);
	fake_guest_free(&f->g);
	free(f);
	return 0;
}

/* ---- guest accesses ---- */

static void bar_write(struct fx *f, uint64_t off, uint64_t v, uint32_t len)
{
	io_write(virtio_pci_bar_io, &f->vpci, off, v, len);
}

static uint64_t bar_read(struct fx *f, uint64_t off, uint32_t len)
{
	return io_read(virtio_pci_bar_io, &f->vpci, off, len);
}

#define common_w(f, reg, v, len) bar_write(f, VIRTIO_PCI_COMMON_OFF + (reg), v, len)
#define common_r(f, reg, len) bar_read(f, VIRTIO_PCI_COMMON_OFF + (reg), len)

static uint8_t status(struct fx *f)
{
	return common_r(f, VIRTIO_PCI_STATUS, 1);
}

/* Configuration writes the way the guest makes them: 0xCF8/0xCFC. */
static void cfg_write(struct fx *f, unsigned int reg, uint32_t v, uint32_t len)
{
	guest_cfg_write(&f->bus, f->vpci.pci.slot, reg, v, len);
}

static uint32_t cfg(struct fx *f, unsigned int reg, uint32_t len)
{
	return pci_cfg_read(&f->vpci.pci, reg, len);
}

static uint64_t bar0_addr(struct fx *f)
{
	return (cfg(f, PCI_BAR0, 4) & ~0xfULL) | (uint64_t)cfg(f, PCI_BAR0 + 4, 4) << 32;
}

/* Offset of the @nth (from 0) capability with @id (and, for vendor ones,
 * cfg_type), or 0. */
static unsigned int find_nth_cap(struct fx *f, uint8_t id, uint8_t cfg_type, unsigned int nth)
{
	unsigned int p = cfg(f, PCI_CAPABILITY_LIST, 1);

	for (int n = 0; p && n < 48; n++, p = cfg(f, p + 1, 1)) {
		assert_true(p >= 0x40 && p < PCI_CFG_SIZE && !(p & 3));
		if (cfg(f, p, 1) == id && (id != PCI_CAP_ID_VNDR || cfg(f, p + 3, 1) == cfg_type) &&
		    nth-- == 0)
			return p;
	}
	return 0;
}

static unsigned int find_cap(struct fx *f, uint8_t id, uint8_t cfg_type)
{
	return find_nth_cap(f, id, cfg_type, 0);
}

static unsigned int msix_cap(struct fx *f)
{
	unsigned int cap = find_cap(f, PCI_CAP_ID_MSIX, 0);

	assert_true(cap);
	return cap;
}

static uint32_t msix_table_off(struct fx *f)
{
	return cfg(f, msix_cap(f) + 4, 4) & ~7u;
}

static void msix_program(struct fx *f, unsigned int v, uint64_t addr, uint32_t data, bool masked)
{
	uint32_t t = msix_table_off(f) + 16 * v;

	bar_write(f, t, (uint32_t)addr, 4);
	bar_write(f, t + 4, addr >> 32, 4);
	bar_write(f, t + 8, data, 4);
	bar_write(f, t + 12, masked, 4);
}

static void msix_enable(struct fx *f, bool on)
{
	cfg_write(f, msix_cap(f) + 2, on ? MSIX_CTRL_ENABLE : 0, 2);
}

/* How many times the interrupt behind @fd was signalled since last asked. */
static uint64_t fd_count(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static uint64_t vector_count(struct fx *f, unsigned int v)
{
	return fd_count(f->vpci.vector_fd[v]);
}

static unsigned int intx_gsi(struct fx *f)
{
	return PCI_INTX_GSI_BASE + f->vpci.pci.slot % PCI_INTX_NR_GSIS;
}

/* ---- the driver's side of setup ---- */

static void set_features(struct fx *f, uint32_t lo, uint32_t hi)
{
	common_w(f, VIRTIO_PCI_GFSELECT, 0, 4);
	common_w(f, VIRTIO_PCI_GF, lo, 4);
	common_w(f, VIRTIO_PCI_GFSELECT, 1, 4);
	common_w(f, VIRTIO_PCI_GF, hi, 4);
}

static void negotiate(struct fx *f, uint32_t lo)
{
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK, 1);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV, 1);
	set_features(f, lo, 1);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV | ST_FOK);
}

static void setup_queue(struct fx *f, unsigned int q, uint16_t size)
{
	fake_vq_init(&f->vq, &f->g, DESC_GPA, size);
	fake_vq_clear(&f->vq);
	common_w(f, VIRTIO_PCI_Q_SELECT, q, 2);
	common_w(f, VIRTIO_PCI_Q_SIZE, size, 2);
	common_w(f, VIRTIO_PCI_Q_DESC, DESC_GPA, 8);
	common_w(f, VIRTIO_PCI_Q_AVAIL, AVAIL_GPA, 8);
	common_w(f, VIRTIO_PCI_Q_USED, USED_GPA, 8);
	common_w(f, VIRTIO_PCI_Q_ENABLE, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 1);
}

static void driver_ok(struct fx *f)
{
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK | ST_DOK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV | ST_FOK | ST_DOK);
}

static void bring_up(struct fx *f)
{
	negotiate(f, 0);
	setup_queue(f, 0, QSIZE);
	driver_ok(f);
}

static uint64_t alloc(struct fx *f, uint32_t len)
{
	return fake_data_alloc(&f->data, NULL, len);
}

/* One buffer of @len bytes, device-writable or not; returns its address. */
static uint64_t post_buf(struct fx *f, uint32_t len, bool writable)
{
	struct fake_buf b = { alloc(f, len), len, writable };

	fake_vq_post(&f->vq, &b, 1);
	return b.gpa;
}

static uint16_t used_idx(struct fx *f)
{
	return fake_vq_used_idx(&f->vq);
}

static uint32_t used_id(struct fx *f, uint16_t i)
{
	return fake_vq_used_id(&f->vq, i);
}

static uint32_t used_len(struct fx *f, uint16_t i)
{
	return fake_vq_used_len(&f->vq, i);
}

/* The guest writes queue @q's notify address; the loop picks it up. */
static void notify(struct fx *f, unsigned int q)
{
	bar_write(f, VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, q, 2);
	while (event_loop_run_once(&f->loop, 0) > 0)
		;
}

static void assert_pattern(struct fx *f, uint64_t gpa, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (f->g.buf[gpa + i] != pattern(i))
			fail_msg("byte %u is 0x%02x, expected 0x%02x", i, f->g.buf[gpa + i],
				 pattern(i));
}

/* ---- configuration space ---- */

static void test_config_space(void **state)
{
	struct fx *f = *state;
	unsigned int c, bar_size;
	uint32_t lo;

	assert_int_equal(cfg(f, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfg(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	assert_true(cfg(f, PCI_REVISION_ID, 1) >= 1); /* modern-only device */
	assert_int_equal(cfg(f, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_true(cfg(f, PCI_SUBSYSTEM_ID, 2) >= 0x40);
	assert_true(cfg(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg(f, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(cfg(f, PCI_INTERRUPT_PIN, 1), 1);

	/* BAR 0: 64-bit memory, sized by writing all-ones. */
	assert_int_equal(cfg(f, PCI_BAR0, 4) & 0xf, 0x4);
	assert_int_equal(bar0_addr(f), f->vpci.pci.bars[0].addr);
	assert_true(bar0_addr(f) >= WIN32_BASE && bar0_addr(f) < WIN32_BASE + WIN32_SIZE);
	cfg_write(f, PCI_BAR0, 0xffffffff, 4);
	lo = cfg(f, PCI_BAR0, 4);
	bar_size = ~(lo & ~0xfu) + 1;
	assert_int_equal(bar_size, f->vpci.pci.bars[0].size);
	assert_true(bar_size >= 0x6000);

	/* BAR 2: 16 ports in the port window, sized the same way. */
	assert_int_equal(cfg(f, PCI_BAR0 + 8, 4) & 0x3, 0x1);
	assert_int_equal(cfg(f, PCI_BAR0 + 8, 4) & ~0x3u, f->vpci.pci.bars[2].addr);
	assert_true(f->vpci.pci.bars[2].addr >= IO_BASE &&
		    f->vpci.pci.bars[2].addr + 16 <= IO_BASE + IO_SIZE);
	cfg_write(f, PCI_BAR0 + 8, 0xffffffff, 4);
	assert_int_equal(cfg(f, PCI_BAR0 + 8, 4), 0xfffffff1);

	/* Common configuration. */
	c = find_cap(f, PCI_CAP_ID_VNDR, CAP_COMMON);
	assert_true(c);
	assert_int_equal(cfg(f, c + 2, 1), 16); /* cap_len */
	assert_int_equal(cfg(f, c + 4, 1), 0); /* bar */
	assert_int_equal(cfg(f, c + 8, 4), VIRTIO_PCI_COMMON_OFF);
	assert_true(cfg(f, c + 12, 4) >= 0x38);

	/* Notifications: first (preferred) through ports in BAR 2, one 16-bit
	 * port per queue; then in memory, one multiplier apart. Each region
	 * covers every queue. */
	c = find_cap(f, PCI_CAP_ID_VNDR, CAP_NOTIFY);
	assert_true(c);
	assert_int_equal(cfg(f, c + 2, 1), 20);
	assert_int_equal(cfg(f, c + 4, 1), 2);
	assert_int_equal(cfg(f, c + 8, 4), 0);
	assert_int_equal(cfg(f, c + 12, 4), 2);
	assert_int_equal(cfg(f, c + 16, 4), 2);
	c = find_nth_cap(f, PCI_CAP_ID_VNDR, CAP_NOTIFY, 1);
	assert_true(c);
	assert_int_equal(cfg(f, c + 2, 1), 20);
	assert_int_equal(cfg(f, c + 4, 1), 0);
	assert_int_equal(cfg(f, c + 8, 4), VIRTIO_PCI_NOTIFY_OFF);
	assert_int_equal(cfg(f, c + 16, 4), VIRTIO_PCI_NOTIFY_MULT);
	assert_true(cfg(f, c + 12, 4) >= 2);
	assert_true(VIRTIO_PCI_NOTIFY_OFF + cfg(f, c + 12, 4) <= bar_size);

	c = find_cap(f, PCI_CAP_ID_VNDR, CAP_ISR);
	assert_true(c);
	assert_int_equal(cfg(f, c + 2, 1), 16);
	assert_int_equal(cfg(f, c + 4, 1), 0);
	assert_int_equal(cfg(f, c + 8, 4), VIRTIO_PCI_ISR_OFF);
	assert_true(cfg(f, c + 12, 4) >= 1);

	/* virtio-rng has no device configuration. */
	assert_int_equal(find_cap(f, PCI_CAP_ID_VNDR, CAP_DEVICE), 0);

	/* MSI-X: one vector per queue plus config, structures inside BAR 0. */
	c = msix_cap(f);
	assert_int_equal(cfg(f, c + 2, 2) & 0x7ff, 1);
	assert_false(cfg(f, c + 2, 2) & MSIX_CTRL_ENABLE);
	assert_int_equal(cfg(f, c + 4, 4) & 7, 0); /* BIR 0 */
	assert_int_equal(cfg(f, c + 8, 4) & 7, 0);
	assert_true((cfg(f, c + 4, 4) & ~7u) + 2 * 16 <= bar_size);
	assert_true((cfg(f, c + 8, 4) & ~7u) + 8 <= bar_size);
	assert_true((cfg(f, c + 4, 4) & ~7u) >= VIRTIO_PCI_NOTIFY_OFF + 4);
}

static void test_config_space_model(void **state)
{
	struct fx *f = *state;
	unsigned int c;

	assert_int_equal(cfg(f, PCI_DEVICE_ID, 2), 0x1040 + 0x1a);
	c = find_cap(f, PCI_CAP_ID_VNDR, CAP_DEVICE);
	assert_true(c);
	assert_int_equal(cfg(f, c + 2, 1), 16);
	assert_int_equal(cfg(f, c + 4, 1), 0);
	assert_int_equal(cfg(f, c + 8, 4), VIRTIO_PCI_DEVICE_OFF);
	assert_int_equal(cfg(f, c + 12, 4), sizeof(f->model.cfg));

	c = find_cap(f, PCI_CAP_ID_VNDR, CAP_NOTIFY);
	assert_int_equal(cfg(f, c + 12, 4), 3 * VIRTIO_PCI_PIO_NOTIFY_MULT);
	c = find_nth_cap(f, PCI_CAP_ID_VNDR, CAP_NOTIFY, 1);
	assert_true(cfg(f, c + 12, 4) >= 2 * VIRTIO_PCI_NOTIFY_MULT + 2);
	c = msix_cap(f);
	assert_int_equal(cfg(f, c + 2, 2) & 0x7ff, 3);
	assert_int_equal(common_r(f, VIRTIO_PCI_NUM_QUEUES, 2), 3);
}

/* ---- device configuration ---- */

static void test_device_config(void **state)
{
	struct fx *f = *state;

	memcpy(f->model.cfg, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF, 4), 0x04030201);
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF + 6, 2), 0x0807);
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF + 7, 1), 0x08);
	/* Past the end: reads 0, writes never reach the model. */
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF + 6, 4), 0);
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF + 8, 1), 0);
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF + 0xffc, 4), 0);
	bar_write(f, VIRTIO_PCI_DEVICE_OFF + 6, 0xffffffff, 4);
	assert_int_equal(f->model.last_write_len, 0);
	bar_write(f, VIRTIO_PCI_DEVICE_OFF + 2, 0xaabb, 2);
	assert_int_equal(f->model.last_write_off, 2);
	assert_int_equal(f->model.last_write_len, 2);
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF, 4), 0xaabb0201);

	/* A config change bumps the generation. */
	assert_int_equal(common_r(f, VIRTIO_PCI_CFG_GENERATION, 1), 0);
	virtio_dev_config_changed(f->vdev);
	assert_int_equal(common_r(f, VIRTIO_PCI_CFG_GENERATION, 1), 1);
}

/* ---- features ---- */

static void test_features(void **state)
{
	struct fx *f = *state;
	uint32_t lo, hi;

	common_w(f, VIRTIO_PCI_DFSELECT, 0, 4);
	lo = common_r(f, VIRTIO_PCI_DF, 4);
	common_w(f, VIRTIO_PCI_DFSELECT, 1, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_DFSELECT, 4), 1);
	hi = common_r(f, VIRTIO_PCI_DF, 4);
	assert_int_equal(hi & 1, 1); /* VERSION_1 */
	assert_true(lo & (1u << VIRTIO_F_EVENT_IDX));
	assert_true(lo & (1u << VIRTIO_F_INDIRECT_DESC));
	assert_int_equal(((uint64_t)hi << 32 | lo), f->vdev->device_features);
	common_w(f, VIRTIO_PCI_DFSELECT, 2, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_DF, 4), 0);
	common_w(f, VIRTIO_PCI_DFSELECT, 0xffffffff, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_DF, 4), 0);

	/* Driver features read back per select. */
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV, 1);
	set_features(f, 1u << VIRTIO_F_EVENT_IDX, 1);
	common_w(f, VIRTIO_PCI_GFSELECT, 0, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_GF, 4), 1u << VIRTIO_F_EVENT_IDX);
	common_w(f, VIRTIO_PCI_GFSELECT, 1, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_GF, 4), 1);
	common_w(f, VIRTIO_PCI_GFSELECT, 2, 4);
	common_w(f, VIRTIO_PCI_GF, 0xffffffff, 4); /* no such word: dropped */
	assert_int_equal(common_r(f, VIRTIO_PCI_GF, 4), 0);
	assert_int_equal(f->vdev->driver_features, VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | (1ULL << 32));

	/* A feature not offered: FEATURES_OK does not stick. */
	set_features(f, (1u << VIRTIO_F_EVENT_IDX) | (1u << 5), 1);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV);
	set_features(f, 0, 1 | 2); /* bit 33 not offered */
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV);

	/* No VERSION_1: a legacy driver, refused. */
	set_features(f, 1u << VIRTIO_F_EVENT_IDX, 0);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV);

	/* A subset including VERSION_1 is accepted, then frozen. */
	set_features(f, 1u << VIRTIO_F_EVENT_IDX, 1);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV | ST_FOK);
	set_features(f, 0, 1);
	assert_int_equal(f->vdev->driver_features, VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | (1ULL << 32));
	common_w(f, VIRTIO_PCI_GFSELECT, 0, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_GF, 4), 1u << VIRTIO_F_EVENT_IDX);
}

/* ---- status machine ---- */

static void test_status_machine(void **state)
{
	struct fx *f = *state;

	assert_int_equal(status(f), 0);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV);
	/* DRIVER_OK without FEATURES_OK is ignored. */
	set_features(f, 0, 1);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_DOK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV);
	assert_false(atomic_load(&f->vdev->running));
	/* The driver cannot set NEEDS_RESET, nor clear bits without a reset. */
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_NR, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK, 1);
	assert_int_equal(status(f), ST_ACK | ST_DRV);

	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK, 1);
	setup_queue(f, 0, QSIZE);
	driver_ok(f);
	assert_true(atomic_load(&f->vdev->running));
}

static void test_reset_clears_everything(void **state)
{
	struct fx *f = *state;

	negotiate(f, 1u << VIRTIO_F_EVENT_IDX);
	common_w(f, VIRTIO_PCI_MSIX_CONFIG, 0, 2);
	common_w(f, VIRTIO_PCI_Q_MSIX, 1, 2);
	setup_queue(f, 0, QSIZE);
	driver_ok(f);
	common_w(f, VIRTIO_PCI_DFSELECT, 1, 4);
	common_w(f, VIRTIO_PCI_GFSELECT, 1, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), 1);
	assert_int_equal(common_r(f, VIRTIO_PCI_MSIX_CONFIG, 2), 0);
	assert_true(f->vdev->vqs[0].ready);

	common_w(f, VIRTIO_PCI_STATUS, 0, 1);
	assert_int_equal(status(f), 0);
	assert_false(atomic_load(&f->vdev->running));
	assert_false(f->vdev->vqs[0].ready);
	assert_int_equal(f->vdev->driver_features, 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_DFSELECT, 4), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_GFSELECT, 4), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_GF, 4), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SELECT, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_MSIX_CONFIG, 2), MSIX_NO_VECTOR);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), MSIX_NO_VECTOR);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), RNG_MAX_QSIZE);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 8), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_AVAIL, 8), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_USED, 8), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_CFG_GENERATION, 1), 0);

	/* And the device comes back up. */
	bring_up(f);
}

static void test_reset_reaches_model(void **state)
{
	struct fx *f = *state;

	negotiate(f, 0);
	common_w(f, VIRTIO_PCI_STATUS, 0, 1);
	assert_int_equal(f->model.resets, 1);
}

/* ---- queue setup ---- */

static void test_queue_setup(void **state)
{
	struct fx *f = *state;

	negotiate(f, 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_NUM_QUEUES, 2), 1);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SELECT, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), RNG_MAX_QSIZE);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_NOFF, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), MSIX_NO_VECTOR);

	common_w(f, VIRTIO_PCI_Q_SIZE, QSIZE, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), QSIZE);
	/* 64-bit, and as two 32-bit halves (low first, as Linux does). */
	common_w(f, VIRTIO_PCI_Q_DESC, DESC_GPA, 8);
	common_w(f, VIRTIO_PCI_Q_AVAIL, AVAIL_GPA, 4);
	common_w(f, VIRTIO_PCI_Q_AVAIL + 4, 0, 4);
	common_w(f, VIRTIO_PCI_Q_USED, 0xdead0000, 4);
	common_w(f, VIRTIO_PCI_Q_USED + 4, 0x12, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_USED, 8), 0x12dead0000ULL);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_USED, 4), 0xdead0000);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_USED + 4, 4), 0x12);
	common_w(f, VIRTIO_PCI_Q_USED + 4, 0, 4);
	common_w(f, VIRTIO_PCI_Q_USED, USED_GPA, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 8), DESC_GPA);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 4), DESC_GPA);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC + 4, 4), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_AVAIL, 8), AVAIL_GPA);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_USED, 8), USED_GPA);
	assert_false(f->vdev->vqs[0].ready);

	common_w(f, VIRTIO_PCI_Q_ENABLE, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 1);
	assert_true(f->vdev->vqs[0].ready);
	assert_int_equal(f->vdev->vqs[0].size, QSIZE);
	assert_ptr_equal(f->vdev->vqs[0].desc, f->g.buf + DESC_GPA);
	assert_ptr_equal(f->vdev->vqs[0].avail, f->g.buf + AVAIL_GPA);
	assert_ptr_equal(f->vdev->vqs[0].used, f->g.buf + USED_GPA);

	/* An enabled queue cannot be reconfigured. */
	common_w(f, VIRTIO_PCI_Q_SIZE, 8, 2);
	common_w(f, VIRTIO_PCI_Q_DESC, 0x20000, 8);
	common_w(f, VIRTIO_PCI_Q_AVAIL + 4, 1, 4);
	common_w(f, VIRTIO_PCI_Q_ENABLE, 0, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), QSIZE);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 8), DESC_GPA);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_AVAIL, 8), AVAIL_GPA);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 1);
	assert_int_equal(f->vdev->vqs[0].size, QSIZE);
	assert_ptr_equal(f->vdev->vqs[0].desc, f->g.buf + DESC_GPA);
	assert_false(status(f) & ST_NR);

	/* A queue that does not exist reads as size 0 and takes nothing. */
	common_w(f, VIRTIO_PCI_Q_SELECT, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SELECT, 2), 1);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), 0);
	common_w(f, VIRTIO_PCI_Q_SIZE, 8, 2);
	common_w(f, VIRTIO_PCI_Q_DESC, 0x20000, 8);
	common_w(f, VIRTIO_PCI_Q_ENABLE, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 8), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 0);
	common_w(f, VIRTIO_PCI_Q_SELECT, 0xffff, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), 0);
	assert_false(status(f) & ST_NR);

	/* Once running, the queue registers stay fixed. */
	common_w(f, VIRTIO_PCI_Q_SELECT, 0, 2);
	driver_ok(f);
	common_w(f, VIRTIO_PCI_Q_SIZE, 4, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), QSIZE);
}

/* A queue setup the device cannot use puts it into NEEDS_RESET. */
static void check_bad_queue(struct fx *f, uint16_t size, uint64_t desc, uint64_t avail,
			    uint64_t used)
{
	common_w(f, VIRTIO_PCI_STATUS, 0, 1);
	negotiate(f, 0);
	common_w(f, VIRTIO_PCI_Q_SIZE, size, 2);
	common_w(f, VIRTIO_PCI_Q_DESC, desc, 8);
	common_w(f, VIRTIO_PCI_Q_AVAIL, avail, 8);
	common_w(f, VIRTIO_PCI_Q_USED, used, 8);
	common_w(f, VIRTIO_PCI_Q_ENABLE, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_ENABLE, 2), 0);
	assert_false(f->vdev->vqs[0].ready);
	assert_int_equal(status(f), ST_ACK | ST_DRV | ST_FOK | ST_NR);
	/* And it does not start until reset. */
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK | ST_DRV | ST_FOK | ST_DOK, 1);
	assert_false(status(f) & ST_DOK);
	assert_false(atomic_load(&f->vdev->running));
}

static void test_bad_queue(void **state)
{
	struct fx *f = *state;

	check_bad_queue(f, 12, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_bad_queue(f, 0, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_bad_queue(f, RNG_MAX_QSIZE * 2, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_bad_queue(f, 0xffff, DESC_GPA, AVAIL_GPA, USED_GPA);
	check_bad_queue(f, QSIZE, RAM - 16 * QSIZE + 16, AVAIL_GPA, USED_GPA);
	check_bad_queue(f, QSIZE, DESC_GPA, RAM - 2, USED_GPA);
	check_bad_queue(f, QSIZE, DESC_GPA, AVAIL_GPA, 0xfffffffffffff000ULL);
	check_bad_queue(f, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA); /* misaligned */

	/* A reset clears NEEDS_RESET and a good setup works. */
	common_w(f, VIRTIO_PCI_STATUS, 0, 1);
	assert_int_equal(status(f), 0);
	bring_up(f);
}

/* ---- requests ---- */

static void enable_msix(struct fx *f)
{
	common_w(f, VIRTIO_PCI_MSIX_CONFIG, 0, 2);
	common_w(f, VIRTIO_PCI_Q_SELECT, 0, 2);
	common_w(f, VIRTIO_PCI_Q_MSIX, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_MSIX_CONFIG, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), 1);
	msix_program(f, 0, 0xfee00000, 0x4030, false);
	msix_program(f, 1, 0xfee01000, 0x4031, false);
	msix_enable(f, true);
}

/*
 * A kernel backend (vhost) attached to queue 0 signals the vector's irqfd
 * only while the vector is deliverable, and the device's polled eventfd
 * otherwise, so masked interrupts become pending bits instead of vanishing.
 */
static void test_attach_call_follows_mask(void **state)
{
	struct fx *f = *state;
	struct virtio_transport *t = &f->vdev->transport;
	struct model *m = &f->model;
	int polled = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int irqfd = f->vpci.vector_fd[1];
	unsigned int changes;

	assert_true(polled >= 0);
	bring_up(f);
	assert_int_equal(t->attach_call(t->opaque, 0, polled), 0);
	assert_int_equal(m->call_fd[0], polled); /* MSI-X still off */
	assert_int_equal(t->attach_call(t->opaque, 3, polled), -EINVAL);

	enable_msix(f);
	assert_int_equal(m->call_fd[0], irqfd);
	msix_program(f, 1, 0xfee01000, 0x4031, true);
	assert_int_equal(m->call_fd[0], polled);
	msix_program(f, 1, 0xfee01000, 0x4031, false);
	assert_int_equal(m->call_fd[0], irqfd);

	/* The function mask and MSI-X off take it away too. */
	cfg_write(f, msix_cap(f) + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 2);
	assert_int_equal(m->call_fd[0], polled);
	cfg_write(f, msix_cap(f) + 2, MSIX_CTRL_ENABLE, 2);
	assert_int_equal(m->call_fd[0], irqfd);
	msix_enable(f, false);
	assert_int_equal(m->call_fd[0], polled);
	msix_enable(f, true);
	assert_int_equal(m->call_fd[0], irqfd);

	/* Moving the queue to a masked vector, or to none. */
	common_w(f, VIRTIO_PCI_Q_SELECT, 0, 2);
	common_w(f, VIRTIO_PCI_Q_MSIX, 2, 2);
	assert_int_equal(m->call_fd[0], polled);
	msix_program(f, 2, 0xfee02000, 0x4032, false);
	assert_int_equal(m->call_fd[0], f->vpci.vector_fd[2]);
	common_w(f, VIRTIO_PCI_Q_MSIX, 0xffff, 2);
	assert_int_equal(m->call_fd[0], polled);
	common_w(f, VIRTIO_PCI_Q_MSIX, 1, 2);
	assert_int_equal(m->call_fd[0], irqfd);

	/* Other queues are not attached: never redirected. */
	assert_int_equal(m->call_fd[1], 0);
	assert_int_equal(m->call_fd[2], 0);

	/* Once detached, nothing is redirected any more. */
	t->detach_call(t->opaque, 0);
	changes = m->call_changes;
	msix_program(f, 1, 0xfee01000, 0x4031, true);
	msix_enable(f, false);
	assert_int_equal(m->call_changes, changes);

	/* Attaching while the vector is live goes straight to its irqfd. */
	msix_enable(f, true);
	msix_program(f, 1, 0xfee01000, 0x4031, false);
	assert_int_equal(t->attach_call(t->opaque, 0, polled), 0);
	assert_int_equal(m->call_fd[0], irqfd);
	t->detach_call(t->opaque, 0);
	close(polled);
}

static void test_rng_request_msix(void **state)
{
	struct fx *f = *state;
	uint64_t b0, b1;
	bool found = false;

	negotiate(f, 0);
	enable_msix(f);
	/* The route of the queue's vector went to the VM, unmasked. */
	for (unsigned int i = 0; i < f->host.nr_routes; i++) {
		struct route_rec *r = &f->host.routes[i];

		if (r->gsi == f->host.gsis[1] && !r->masked) {
			assert_int_equal(r->addr, 0xfee01000);
			assert_int_equal(r->data, 0x4031);
			found = true;
		}
	}
	assert_true(found);
	setup_queue(f, 0, QSIZE);
	driver_ok(f);

	b0 = post_buf(f, 40, true);
	assert_int_equal(used_idx(f), 0);
	notify(f, 0);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(used_id(f, 0), 0);
	assert_int_equal(used_len(f, 0), 40);
	assert_pattern(f, b0, 40);
	assert_int_equal(f->g.buf[b0 + 40], 0xee); /* not a byte more */
	assert_int_equal(vector_count(f, 1), 1);
	assert_int_equal(vector_count(f, 0), 0);
	/* MSI-X on: no INTx, no ISR bits. */
	assert_int_equal(f->host.intx_level[intx_gsi(f)], 0);
	assert_int_equal(f->vpci.isr, 0);

	/* A two-buffer chain, kicked without the ioeventfd path. */
	{
		struct fake_buf bufs[2] = { { alloc(f, 5), 5, true },
					    { alloc(f, 300), 300, true } };

		fake_vq_post(&f->vq, bufs, 2);
		b1 = bufs[1].gpa;
		virtio_dev_kick(f->vdev, 0);
		assert_int_equal(used_idx(f), 2);
		assert_int_equal(used_id(f, 1), 1);
		assert_int_equal(used_len(f, 1), 305);
		assert_pattern(f, bufs[0].gpa, 5);
		assert_pattern(f, b1, 300);
		assert_int_equal(vector_count(f, 1), 1);
	}

	/* The vector masked: the interrupt waits in the PBA until unmask. */
	msix_program(f, 1, 0xfee01000, 0x4031, true);
	post_buf(f, 8, true);
	notify(f, 0);
	assert_int_equal(used_idx(f), 3);
	assert_int_equal(vector_count(f, 1), 0);
	msix_program(f, 1, 0xfee01000, 0x4031, false);
	assert_int_equal(vector_count(f, 1), 1);
}

static void test_rng_request_intx(void **state)
{
	struct fx *f = *state;
	uint64_t b;
	unsigned int gsi = intx_gsi(f);

	bring_up(f);
	b = post_buf(f, 64, true);
	notify(f, 0);
	assert_int_equal(used_len(f, 0), 64);
	assert_pattern(f, b, 64);
	for (unsigned int v = 0; v < f->vpci.nr_vectors; v++)
		assert_int_equal(vector_count(f, v), 0);
	assert_int_equal(f->host.intx_level[gsi], 1);
	assert_true(cfg(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

	/* Reading the ISR acknowledges: bit 0 (queue), then all clear. */
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 1);
	assert_int_equal(f->host.intx_level[gsi], 0);
	assert_false(cfg(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 0);
	/* Writes do not clear or set anything. */
	post_buf(f, 4, true);
	notify(f, 0);
	bar_write(f, VIRTIO_PCI_ISR_OFF, 0, 1);
	assert_int_equal(f->host.intx_level[gsi], 1);
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 1);

	/* MSI-X enabled but the queue has no vector: no interrupt at all. */
	msix_program(f, 1, 0xfee01000, 0x4031, false);
	msix_enable(f, true);
	post_buf(f, 4, true);
	notify(f, 0);
	assert_int_equal(used_idx(f), 3);
	assert_int_equal(vector_count(f, 1), 0);
	assert_int_equal(f->host.intx_level[gsi], 0);
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 0);
}

/* A queue interrupt racing with the driver's ISR read is not lost. */
static void test_isr_read_race(void **state)
{
	struct fx *f = *state;
	unsigned int gsi = intx_gsi(f);

	bring_up(f);
	post_buf(f, 4, true);
	notify(f, 0);
	assert_int_equal(f->host.intx_level[gsi], 1);
	f->host.raise_on_lower = &f->vpci;
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 1);
	assert_null(f->host.raise_on_lower);
	/* The new interrupt is still signalled, and the next read sees it. */
	assert_int_equal(f->host.intx_level[gsi], 1);
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 1);
	assert_int_equal(f->host.intx_level[gsi], 0);
}

/* The driver asked for no interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT). */
static void test_interrupt_suppressed(void **state)
{
	struct fx *f = *state;

	bring_up(f);
	fake_vq_set_avail_flags(&f->vq, VIRTQ_AVAIL_F_NO_INTERRUPT);
	post_buf(f, 4, true);
	notify(f, 0);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(f->host.intx_level[intx_gsi(f)], 0);
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 0);
}

static void test_notify_before_driver_ok(void **state)
{
	struct fx *f = *state;
	uint64_t b;

	/* Before anything is set up: harmless. */
	notify(f, 0);
	virtio_dev_kick(f->vdev, 0);
	virtio_dev_kick(f->vdev, 5);
	assert_int_equal(status(f), 0);

	negotiate(f, 0);
	setup_queue(f, 0, QSIZE);
	b = post_buf(f, 16, true);
	notify(f, 0);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(f->g.buf[b], 0xee);
	assert_int_equal(f->host.intx_level[intx_gsi(f)], 0);
	assert_int_equal(status(f), ST_ACK | ST_DRV | ST_FOK);

	/* DRIVER_OK picks up what was made available before. */
	driver_ok(f);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(used_len(f, 0), 16);
	assert_pattern(f, b, 16);
	assert_int_equal(f->host.intx_level[intx_gsi(f)], 1);
}

/* A notify write past the last queue, or a read, does nothing. */
static void test_notify_out_of_range(void **state)
{
	struct fx *f = *state;

	bring_up(f);
	post_buf(f, 16, true);
	bar_write(f, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT, 1, 2);
	bar_write(f, VIRTIO_PCI_NOTIFY_OFF + 0xffc, 0, 2);
	assert_int_equal(bar_read(f, VIRTIO_PCI_NOTIFY_OFF, 2), 0);
	while (event_loop_run_once(&f->loop, 0) > 0)
		;
	assert_int_equal(used_idx(f), 0);
	notify(f, 0);
	assert_int_equal(used_idx(f), 1);
}

static void test_readable_buffer(void **state)
{
	struct fx *f = *state;
	struct fake_buf bufs[2] = { { 0, 8, false }, { 0, 8, true } };

	bring_up(f);
	bufs[0].gpa = alloc(f, 8);
	bufs[1].gpa = alloc(f, 8);
	fake_vq_post(&f->vq, bufs, 2);
	notify(f, 0);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(used_len(f, 0), 0);
	assert_int_equal(f->g.buf[bufs[1].gpa], 0xee); /* untouched */
	assert_false(status(f) & ST_NR);

	/* Only readable: same. The device keeps working. */
	post_buf(f, 8, false);
	notify(f, 0);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(used_len(f, 1), 0);
	post_buf(f, 8, true);
	notify(f, 0);
	assert_int_equal(used_len(f, 2), 8);
}

static void test_malformed_chain(void **state)
{
	struct fx *f = *state;
	struct fake_buf bad = { RAM - 8, 16, true };
	uint64_t b;

	negotiate(f, 0);
	enable_msix(f);
	setup_queue(f, 0, QSIZE);
	driver_ok(f);
	fake_vq_post(&f->vq, &bad, 1); /* runs past the end of RAM */
	notify(f, 0);
	assert_int_equal(used_idx(f), 0);
	assert_true(status(f) & ST_NR);
	assert_int_equal(f->g.buf[RAM - 8], 0); /* nothing written */
	/* The driver hears of it through the config vector. */
	assert_int_equal(vector_count(f, 0), 1);
	assert_int_equal(vector_count(f, 1), 0);

	/* No more processing until reset, however it is kicked. */
	b = post_buf(f, 16, true);
	notify(f, 0);
	virtio_dev_kick(f->vdev, 0);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(f->g.buf[b], 0xee);
	assert_int_equal(vector_count(f, 0), 0);

	common_w(f, VIRTIO_PCI_STATUS, 0, 1);
	assert_int_equal(status(f), 0);
	bring_up(f);
	b = post_buf(f, 16, true);
	notify(f, 0);
	assert_int_equal(used_idx(f), 1);
	assert_pattern(f, b, 16);
}

/* With INTx, a device failure shows as ISR bit 1 (configuration change). */
static void test_malformed_chain_intx(void **state)
{
	struct fx *f = *state;

	bring_up(f);
	fake_vq_publish(&f->vq, QSIZE); /* a head out of range */
	notify(f, 0);
	assert_true(status(f) & ST_NR);
	assert_int_equal(f->host.intx_level[intx_gsi(f)], 1);
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF, 1), 2);
	assert_int_equal(f->host.intx_level[intx_gsi(f)], 0);
}

static void test_rng_sources(void **state)
{
	struct fx *f = *state;
	uint64_t b;

	bring_up(f);
	/* Short reads are retried until the buffer is full. */
	f->rng.source = short_source;
	b = post_buf(f, 20, true);
	notify(f, 0);
	assert_int_equal(used_len(f, 0), 20);
	for (uint32_t i = 0; i < 20; i++)
		assert_int_equal(f->g.buf[b + i], pattern(i % 7));

	/* A failing source: the request completes with nothing written. */
	f->rng.source = failing_source;
	b = post_buf(f, 20, true);
	notify(f, 0);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(used_len(f, 1), 0);
	assert_int_equal(f->g.buf[b], 0xee);
	assert_false(status(f) & ST_NR);

	/* A huge request is capped rather than draining the host. */
	f->rng.source = pattern_source;
	b = post_buf(f, 200000, true);
	notify(f, 0);
	assert_int_equal(used_idx(f), 3);
	assert_int_equal(used_len(f, 2), 64 * 1024);
	assert_pattern(f, b, 64 * 1024);
	assert_int_equal(f->g.buf[b + 64 * 1024], 0xee);
}

/* ---- MSI-X vector registers ---- */

static void test_msix_vector_range(void **state)
{
	struct fx *f = *state;

	negotiate(f, 0);
	common_w(f, VIRTIO_PCI_MSIX_CONFIG, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_MSIX_CONFIG, 2), 1);
	common_w(f, VIRTIO_PCI_MSIX_CONFIG, 2, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_MSIX_CONFIG, 2), MSIX_NO_VECTOR);
	common_w(f, VIRTIO_PCI_MSIX_CONFIG, 0x7fff, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_MSIX_CONFIG, 2), MSIX_NO_VECTOR);
	common_w(f, VIRTIO_PCI_MSIX_CONFIG, 0, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_MSIX_CONFIG, 2), 0);

	common_w(f, VIRTIO_PCI_Q_MSIX, 1, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), 1);
	common_w(f, VIRTIO_PCI_Q_MSIX, 2, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), MSIX_NO_VECTOR);
	common_w(f, VIRTIO_PCI_Q_MSIX, 0xfffe, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), MSIX_NO_VECTOR);
	common_w(f, VIRTIO_PCI_Q_MSIX, MSIX_NO_VECTOR, 2);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_MSIX, 2), MSIX_NO_VECTOR);
}

/* ---- BAR placement and ioeventfds ---- */

static void assert_ioev(struct fx *f, unsigned int i, uint64_t addr, unsigned int q, bool assign)
{
	assert_true(i < f->host.nr_ioev);
	assert_int_equal(f->host.ioev[i].addr, addr);
	assert_int_equal(f->host.ioev[i].len, 2);
	assert_int_equal(f->host.ioev[i].fd, f->vpci.queues[q].kick_fd);
	assert_int_equal(f->host.ioev[i].assign, assign);
}

static void test_bar_move_ioeventfds(void **state)
{
	struct fx *f = *state;
	uint64_t a0 = bar0_addr(f), a1 = a0 + 0x100000, a2 = WIN64_BASE | (uint32_t)a1;
	uint8_t d[2];

	/* Memory decoding starts off: nothing registered. */
	assert_int_equal(f->host.nr_ioev, 0);
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(f->host.nr_ioev, 1);
	assert_ioev(f, 0, a0 + VIRTIO_PCI_NOTIFY_OFF, 0, true);

	/* The guest reaches the device through the bus at its BAR. */
	pci_mmio32_io(&f->bus, a0 - WIN32_BASE + VIRTIO_PCI_NUM_QUEUES, d, 2, false);
	assert_int_equal(d[0] | d[1] << 8, 1);

	/* Moved while decoding: the old address goes, the new one comes. */
	cfg_write(f, PCI_BAR0, (uint32_t)a1, 4);
	assert_int_equal(bar0_addr(f), a1);
	assert_int_equal(f->host.nr_ioev, 3);
	assert_ioev(f, 1, a0 + VIRTIO_PCI_NOTIFY_OFF, 0, false);
	assert_ioev(f, 2, a1 + VIRTIO_PCI_NOTIFY_OFF, 0, true);
	pci_mmio32_io(&f->bus, a1 - WIN32_BASE + VIRTIO_PCI_NUM_QUEUES, d, 2, false);
	assert_int_equal(d[0] | d[1] << 8, 1);

	/* The upper dword too (64-bit BAR). */
	cfg_write(f, PCI_BAR0 + 4, a2 >> 32, 4);
	assert_int_equal(bar0_addr(f), a2);
	assert_int_equal(f->host.nr_ioev, 5);
	assert_ioev(f, 3, a1 + VIRTIO_PCI_NOTIFY_OFF, 0, false);
	assert_ioev(f, 4, a2 + VIRTIO_PCI_NOTIFY_OFF, 0, true);

	/* Sizing stops decoding; restoring brings it back. */
	cfg_write(f, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(f->host.nr_ioev, 6);
	assert_ioev(f, 5, a2 + VIRTIO_PCI_NOTIFY_OFF, 0, false);
	cfg_write(f, PCI_BAR0, (uint32_t)a2, 4);
	assert_int_equal(f->host.nr_ioev, 7);
	assert_ioev(f, 6, a2 + VIRTIO_PCI_NOTIFY_OFF, 0, true);

	/* Memory decoding off: deassigned, and once only. */
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(f->host.nr_ioev, 8);
	assert_ioev(f, 7, a2 + VIRTIO_PCI_NOTIFY_OFF, 0, false);
	cfg_write(f, PCI_COMMAND, 0, 2);
	cfg_write(f, PCI_BAR0 + 4, 0, 4);
	assert_int_equal(f->host.nr_ioev, 8);

	/* Unrelated writes register nothing. */
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f->host.nr_ioev, 9);
	cfg_write(f, PCI_INTERRUPT_LINE, 5, 1);
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(f->host.nr_ioev, 9);
}

/* The model's three queues, each with its own rings, then DRIVER_OK. */
static void start_three_queues(struct fx *f)
{
	negotiate(f, 0);
	for (unsigned int q = 0; q < 3; q++) {
		common_w(f, VIRTIO_PCI_Q_SELECT, q, 2);
		assert_int_equal(common_r(f, VIRTIO_PCI_Q_NOFF, 2), q);
		common_w(f, VIRTIO_PCI_Q_SIZE, 8, 2);
		common_w(f, VIRTIO_PCI_Q_DESC, DESC_GPA + 0x200 * q, 8);
		common_w(f, VIRTIO_PCI_Q_AVAIL, AVAIL_GPA + 0x100 * q, 8);
		common_w(f, VIRTIO_PCI_Q_USED, USED_GPA + 0x100 * q, 8);
		common_w(f, VIRTIO_PCI_Q_ENABLE, 1, 2);
	}
	driver_ok(f);
}

static void test_ioeventfds_per_queue(void **state)
{
	struct fx *f = *state;
	uint64_t a = bar0_addr(f);

	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f->host.nr_ioev, 3);
	for (unsigned int q = 0; q < 3; q++)
		assert_ioev(f, q, a + VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT, q, true);

	/* Each queue's notify offset leads to its own address and queue. */
	start_three_queues(f);
	notify(f, 2);
	assert_int_equal(f->model.notified[2], 2); /* once at start, once now */
	assert_int_equal(f->model.notified[0], 1);
	assert_int_equal(f->model.notified[1], 1);
	notify(f, 1);
	assert_int_equal(f->model.notified[1], 2);
}

/* An ioeventfd the VM refuses: nothing stays half-registered. */
static void test_ioeventfd_failure(void **state)
{
	struct fx *f = *state;

	f->host.ioev_fail = ENOSPC;
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f->host.nr_ioev, 0);
	/* Kicks still arrive through the trapping path. */
	negotiate(f, 0);
	common_w(f, VIRTIO_PCI_Q_SELECT, 0, 2);
	common_w(f, VIRTIO_PCI_Q_SIZE, 8, 2);
	common_w(f, VIRTIO_PCI_Q_DESC, DESC_GPA, 8);
	common_w(f, VIRTIO_PCI_Q_AVAIL, AVAIL_GPA, 8);
	common_w(f, VIRTIO_PCI_Q_USED, USED_GPA, 8);
	common_w(f, VIRTIO_PCI_Q_ENABLE, 1, 2);
	driver_ok(f);
	notify(f, 0);
	assert_int_equal(f->model.notified[0], 2);
	/* Decoding off: nothing to deassign. */
	cfg_write(f, PCI_COMMAND, 0, 2);
	assert_int_equal(f->host.nr_ioev, 0);
}

/* ---- access sizes ---- */

static void test_odd_access_sizes(void **state)
{
	struct fx *f = *state;

	common_w(f, VIRTIO_PCI_DFSELECT, 1, 4);
	common_w(f, VIRTIO_PCI_DFSELECT, 0, 1);
	common_w(f, VIRTIO_PCI_DFSELECT, 0, 2);
	common_w(f, VIRTIO_PCI_DFSELECT, 0, 8);
	assert_int_equal(common_r(f, VIRTIO_PCI_DFSELECT, 4), 1);
	assert_int_equal(common_r(f, VIRTIO_PCI_DFSELECT, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_DFSELECT, 1), 0);

	/* Status is one byte; a wider write is dropped. */
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK, 2);
	common_w(f, VIRTIO_PCI_STATUS, ST_ACK, 4);
	assert_int_equal(status(f), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_STATUS, 2), 0);

	/* 16-bit registers take only 16-bit accesses. */
	common_w(f, VIRTIO_PCI_Q_SIZE, 8, 4);
	common_w(f, VIRTIO_PCI_Q_SIZE, 8, 1);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), RNG_MAX_QSIZE);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 4), 0);
	common_w(f, VIRTIO_PCI_Q_SELECT, 1, 4);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SELECT, 2), 0);

	/* Misaligned: inside a register. */
	common_w(f, VIRTIO_PCI_Q_SIZE + 1, 8, 1);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE + 1, 1), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_DF + 2, 2), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_SIZE, 2), RNG_MAX_QSIZE);

	/* 64-bit registers: 8 bytes at the start, or 4-byte halves, nothing else. */
	common_w(f, VIRTIO_PCI_Q_DESC, 0x1111222233334440ULL, 8);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 8), 0x1111222233334440ULL);
	common_w(f, VIRTIO_PCI_Q_DESC + 4, 0x5555666677778880ULL, 8);
	common_w(f, VIRTIO_PCI_Q_DESC, 0x99, 2);
	common_w(f, VIRTIO_PCI_Q_DESC + 2, 0x99, 2);
	common_w(f, VIRTIO_PCI_Q_DESC + 1, 0x99, 1);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 8), 0x1111222233334440ULL);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_AVAIL, 8), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC + 4, 8), 0);
	assert_int_equal(common_r(f, VIRTIO_PCI_Q_DESC, 2), 0);

	/* Past the common region and between regions: reads 0. */
	assert_int_equal(common_r(f, 0x3c, 4), 0);
	assert_int_equal(bar_read(f, 0x800, 4), 0);
	assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFF - 4, 4), 0);
	assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFF, 4), 0); /* rng: none */
	bar_write(f, 0x800, 0xffffffff, 4);
	assert_int_equal(status(f), 0);
}

static uint64_t bar2_port(struct fx *f)
{
	return cfg(f, PCI_BAR0 + 8, 4) & ~0x3u;
}

/* Port notifications: ioeventfds follow I/O decoding and BAR 2's address. */
static void test_pio_notify_ioeventfds(void **state)
{
	struct fx *f = *state;
	uint64_t p0 = bar2_port(f), p1 = p0 + 0x100;

	/* Memory decoding alone registers only the memory region. */
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f->host.nr_ioev, 3);
	for (unsigned int i = 0; i < 3; i++)
		assert_false(f->host.ioev[i].pio);
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_int_equal(f->host.nr_ioev, 6);
	for (unsigned int q = 0; q < 3; q++) {
		assert_ioev(f, 3 + q, p0 + q * VIRTIO_PCI_PIO_NOTIFY_MULT, q, true);
		assert_true(f->host.ioev[3 + q].pio);
	}

	/* Moved: the old ports go, the new ones come. */
	cfg_write(f, PCI_BAR0 + 8, (uint32_t)p1, 4);
	assert_int_equal(f->host.nr_ioev, 12);
	for (unsigned int q = 0; q < 3; q++) {
		assert_ioev(f, 6 + q, p0 + q * VIRTIO_PCI_PIO_NOTIFY_MULT, q, false);
		assert_ioev(f, 9 + q, p1 + q * VIRTIO_PCI_PIO_NOTIFY_MULT, q, true);
		assert_true(f->host.ioev[6 + q].pio && f->host.ioev[9 + q].pio);
	}

	/* Outside the port window (onto the PCI configuration ports): off. */
	cfg_write(f, PCI_BAR0 + 8, 0xcf0, 4);
	assert_int_equal(f->host.nr_ioev, 15);
	for (unsigned int q = 0; q < 3; q++)
		assert_ioev(f, 12 + q, p1 + q * VIRTIO_PCI_PIO_NOTIFY_MULT, q, false);
	assert_false(f->vpci.pci.bars[2].decoding);

	/* I/O decoding off leaves the memory region alone. */
	cfg_write(f, PCI_BAR0 + 8, (uint32_t)p0, 4);
	assert_int_equal(f->host.nr_ioev, 18);
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(f->host.nr_ioev, 21);
	for (unsigned int q = 0; q < 3; q++)
		assert_ioev(f, 18 + q, p0 + q * VIRTIO_PCI_PIO_NOTIFY_MULT, q, false);
}

/* A port write KVM did not take (no ioeventfd) still kicks its queue; other
 * ports and reads do nothing. */
static void test_pio_notify_trapped(void **state)
{
	struct fx *f = *state;
	uint64_t port = bar2_port(f);
	uint8_t d[4] = { 0 };

	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	start_three_queues(f);
	pci_pio_io(&f->bus, port + 2 * VIRTIO_PCI_PIO_NOTIFY_MULT - IO_BASE, d, 2, true);
	while (event_loop_run_once(&f->loop, 0) > 0)
		;
	assert_int_equal(f->model.notified[2], 2); /* once at start, once now */
	assert_int_equal(f->model.notified[0], 1);
	/* Past the last queue, in the same BAR: ignored; reads give zeroes. */
	pci_pio_io(&f->bus, port + 3 * VIRTIO_PCI_PIO_NOTIFY_MULT - IO_BASE, d, 2, true);
	memset(d, 0xaa, sizeof(d));
	pci_pio_io(&f->bus, port - IO_BASE, d, 4, false);
	assert_int_equal(d[0] | d[1] | d[2] | d[3], 0);
	/* With I/O decoding off nobody answers: all-ones. */
	cfg_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	pci_pio_io(&f->bus, port - IO_BASE, d, 2, false);
	assert_int_equal(d[0] & d[1], 0xff);
	while (event_loop_run_once(&f->loop, 0) > 0)
		;
	for (unsigned int q = 0; q < 3; q++)
		assert_int_equal(f->model.notified[q], q == 2 ? 2 : 1);
}

/* ---- setup failures ---- */

static void test_init_msi_failure(void **state)
{
	struct fake_guest g;
	struct event_loop loop;
	struct virtio_rng rng;
	struct virtio_pci vpci;
	struct host_rec h = { .fail_alloc_at = 2 };
	struct virtio_pci_host host = { fake_msi_alloc, fake_msi_route, fake_ioeventfd, &h, false };
	struct error err = { 0 };

	fake_guest_init(&g, RAM);
	assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
	assert_int_equal(virtio_rng_init(&rng, &g.mem, &loop, pattern_source), 0);
	assert_int_equal(virtio_pci_init(&vpci, &rng.vdev, &host, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "virtio-rng"));
	assert_non_null(strstr(err.msg, "MSI-X vector 1"));
	virtio_pci_free(&vpci); /* closes what was set up */
	assert_int_equal(fcntl(h.fds[0], F_GETFD), -1);
	virtio_rng_free(&rng);
	event_loop_destroy(&loop);
	fake_guest_free(&g);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TM(fn) cmocka_unit_test_setup_teardown(fn, setup_model, teardown)
	const struct CMUnitTest tests[] = {
		T(test_config_space),
		TM(test_config_space_model),
		TM(test_device_config),
		T(test_features),
		T(test_status_machine),
		T(test_reset_clears_everything),
		TM(test_reset_reaches_model),
		TM(test_attach_call_follows_mask),
		T(test_queue_setup),
		T(test_bad_queue),
		T(test_rng_request_msix),
		T(test_rng_request_intx),
		T(test_isr_read_race),
		T(test_interrupt_suppressed),
		T(test_notify_before_driver_ok),
		T(test_notify_out_of_range),
		T(test_readable_buffer),
		T(test_malformed_chain),
		T(test_malformed_chain_intx),
		T(test_rng_sources),
		T(test_msix_vector_range),
		T(test_bar_move_ioeventfds),
		TM(test_ioeventfds_per_queue),
		TM(test_ioeventfd_failure),
		TM(test_pio_notify_ioeventfds),
		TM(test_pio_notify_trapped),
		T(test_odd_access_sizes),
		cmocka_unit_test(test_init_msi_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
