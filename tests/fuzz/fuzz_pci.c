// SPDX-License-Identifier: MIT
/*
 * The PCI bus (pci/pci.c: type-1 configuration cycles at 0xCF8/0xCFC, BAR
 * sizing and moving, MMIO routing, INTx), MSI-X (pci/msix.c) and the
 * virtio-pci transport (virtio/pci.c) on a machine like the unit tests':
 * the host bridge in slot 0, virtio-rng behind virtio-pci (with its port
 * notification BAR in the 0xc000 window) in slot 1, and in
 * slot 2 a plain device with a 4 KiB BAR 0 holding a 5-vector MSI-X table
 * and PBA, a 64 KiB 64-bit BAR 2 and a 256 MiB 64-bit BAR 4 (above 4 GiB).
 * Guest RAM is 64 KiB: the rng queue's rings at 0, data from 0x4000. The
 * event loop has no thread: OP_RUN dispatches kicks and must go idle.
 *
 * Input: a configuration byte (bit 0 MSI routes fail, bit 1 ioeventfds
 * fail), then operations until the input ends, each an opcode byte and its
 * operands (see OP_*). After each operation no BAR decodes outside its
 * windows or with its decoding off and the interrupt state agrees
 * (check_interrupts()); at the end no read-only configuration bit has
 * changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fuzz_guest.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define RAM 0x10000
#define DATA_GPA 0x4000
#define WIN32_BASE 0xc0000000ULL
#define WIN32_SIZE 0x10000000ULL
#define WIN64_BASE 0x8000000000ULL
#define WIN64_SIZE 0x8000000000ULL
#define IO_BASE 0xc000
#define IO_SIZE 0x4000
#define DUMMY_VECTORS 5
#define DUMMY_PBA_OFF 0x800
#define NR_SLOTS 4 /* host bridge, virtio-pci, the plain device, an empty slot */
#define MAX_IOEVENTFDS 8 /* rng: one queue, in memory and in ports */
#define MAX_OPS 2048

enum {
	OP_PORT, /* u8 selector (offset, width, write), u32 value: 0xCF8-0xCFF */
	OP_CFG, /* u8 slot, u8 register, u8 selector, u32 value: one configuration cycle */
	OP_MMIO, /* see op_mmio() */
	OP_COMMON, /* u8 register, u8 selector, u64 value: virtio-pci common config */
	OP_BAR, /* u16 offset, u8 selector, u64 value: anywhere in virtio-pci's BAR 0 */
	OP_BRINGUP, /* see op_bringup() */
	OP_RNGBUF, /* see op_rngbuf() */
	OP_RUN, /* dispatch the event loop until idle */
	OP_IRQ, /* see op_irq() */
	OP_DESC, /* fz_desc() on the rng queue */
	OP_RAW, /* fz_gpa, length byte, bytes */
	OP_PIO, /* u8 selector (width, write), u16 port in the window, u32 value */
	NR_OPS
};

struct pci_fuzz {
	/* Kept for every input (see LLVMFuzzerInitialize()). */
	struct fuzz_guest g;
	struct event_loop loop;
	int msi_fd; /* every vector's "irqfd": written to, never read */

	/* One input's machine, zeroed before it: everything from here on. */
	struct pci_bus bus;
	struct virtio_rng rng;
	struct virtio_pci vpci;
	struct pci_device dummy;
	struct msix dummy_msix;
	struct pci_device *devs[NR_SLOTS];
	uint8_t snap[NR_SLOTS][PCI_CFG_SIZE];
	bool routes_fail, ioeventfds_fail;
	struct fuzz_ioeventfd {
		uint64_t addr;
		int fd;
		bool pio;
	} ioev[MAX_IOEVENTFDS]; /* registered now, as KVM would hold them */
	unsigned int nr_ioev;
	int intx_level[PCI_INTX_NR_GSIS]; /* what the "IOAPIC" was told last */
	struct fuzz_vq vq;
	struct fuzz_alloc data;
};

static ssize_t pattern_source(void *buf, size_t len)
{
	memset(buf, 0xa5, len);
	return (ssize_t)len;
}

static int host_msi_alloc(void *opaque, unsigned int *gsi, int *fd)
{
	struct pci_fuzz *f = opaque;

	/* A write to an eventfd nobody reads succeeds until the counter would
	 * overflow, after 2^64 - 2 interrupts: copies of one will do. */
	*fd = fcntl(f->msi_fd, F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		abort();
	*gsi = 40;
	return 0;
}

static int host_msi_route(void *opaque, unsigned int gsi, uint64_t addr, uint32_t data, bool masked)
{
	struct pci_fuzz *f = opaque;

	return f->routes_fail ? -ENOSPC : 0;
}

static bool in_window(uint64_t base, uint64_t size, uint64_t addr, uint64_t len)
{
	return addr >= base && addr - base <= size && len <= size - (addr - base);
}

/* Like KVM: a registration is unique per space, address and eventfd, and
 * only a registered one can be removed. Ports only in the port window,
 * memory only in the MMIO windows. (Freeing the device leaves them: closing
 * the VM drops them.) */
static int host_ioeventfd(void *opaque, uint64_t addr, uint32_t len, int fd, bool pio, bool assign)
{
	struct pci_fuzz *f = opaque;
	unsigned int i;

	for (i = 0; i < f->nr_ioev; i++)
		if (f->ioev[i].addr == addr && f->ioev[i].fd == fd && f->ioev[i].pio == pio)
			break;
	if (!assign) {
		fuzz_assert(i < f->nr_ioev);
		f->ioev[i] = f->ioev[--f->nr_ioev];
		return 0;
	}
	if (f->ioeventfds_fail)
		return -ENOSPC;
	fuzz_assert(i == f->nr_ioev && f->nr_ioev < MAX_IOEVENTFDS);
	if (pio)
		fuzz_assert(in_window(IO_BASE, IO_SIZE, addr, len));
	else
		fuzz_assert(in_window(WIN32_BASE, WIN32_SIZE, addr, len) ||
			    in_window(WIN64_BASE, WIN64_SIZE, addr, len));
	f->ioev[f->nr_ioev++] = (struct fuzz_ioeventfd){ addr, fd, pio };
	return 0;
}

static void intx_set(void *opaque, unsigned int gsi, int level)
{
	struct pci_fuzz *f = opaque;

	fuzz_assert(gsi >= PCI_INTX_GSI_BASE && gsi < PCI_INTX_GSI_BASE + PCI_INTX_NR_GSIS);
	f->intx_level[gsi - PCI_INTX_GSI_BASE] = level;
}

/* The plain device's BARs: MSI-X in BAR 0, a pattern elsewhere. */
static void dummy_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_fuzz *f = opaque;

	if (offset < DUMMY_PBA_OFF)
		msix_table_io(&f->dummy_msix, offset, data, len, is_write);
	else
		msix_pba_io(&f->dummy_msix, offset - DUMMY_PBA_OFF, data, len, is_write);
}

static void dummy_other_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write)
{
	if (!is_write)
		memset(data, 0x3c, len);
}

static void dummy_cfg_written(struct pci_device *dev, uint32_t offset, uint32_t len)
{
	struct pci_fuzz *f = dev->opaque;

	msix_cfg_written(&f->dummy_msix, offset, len);
}

static void dummy_fire(void *opaque, unsigned int vector)
{
	fuzz_assert(vector < DUMMY_VECTORS);
}

static const struct msix_ops dummy_msix_ops = { .fire = dummy_fire };

/*
 * What outlives one input, because making it anew took most of an input's
 * time: guest RAM, the loop and the "irqfd". Each input finds them as a
 * new process would (machine_init(); the devices' descriptors leave the
 * loop when they close them) and builds its own machine, so an input run
 * alone does what it did in the campaign. libFuzzer passes no context,
 * hence the static; LLVMFuzzerInitialize() makes it before the first
 * input, which then runs no other code than the rest.
 */
static struct pci_fuzz *pci_fuzz;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pci_fuzz *f = calloc(1, sizeof(*f));
	struct error err = { 0 };

	if (!f || event_loop_init(&f->loop, "fuzz", &err))
		abort();
	fuzz_guest_init(&f->g, RAM);
	f->msi_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->msi_fd < 0)
		abort();
	pci_fuzz = f;
	return 0;
}

static void machine_init(struct pci_fuzz *f, uint8_t cfg)
{
	struct irq_line intx = { intx_set, f, 0 };
	struct virtio_pci_host host = { host_msi_alloc, host_msi_route, host_ioeventfd, f, true };
	struct pci_device *d = &f->dummy;
	struct error err = { 0 };

	fuzz_guest_clear(&f->g);
	memset(&f->bus, 0, sizeof(*f) - offsetof(struct pci_fuzz, bus));
	f->routes_fail = cfg & 1;
	f->ioeventfds_fail = cfg & 2;
	f->data = (struct fuzz_alloc){ DATA_GPA, RAM, DATA_GPA };
	if (virtio_rng_init(&f->rng, &f->g.mem, &f->loop, pattern_source))
		abort();
	fuzz_quiet(&f->rng.vdev.log_rl);
	pci_bus_init(&f->bus, WIN32_BASE, WIN32_SIZE, WIN64_BASE, WIN64_SIZE, &intx);
	pci_bus_set_io_window(&f->bus, IO_BASE, IO_SIZE);
	if (virtio_pci_init(&f->vpci, &f->rng.vdev, &host, &err) ||
	    pci_bus_add_device(&f->bus, &f->vpci.pci) || virtio_pci_start(&f->vpci, &err))
		abort();

	pci_device_init(d, "fuzz", 0x1234, 0x5678, 0x058000, 0x1234, 1, 2);
	d->opaque = f;
	d->cfg_written = dummy_cfg_written;
	if (pci_device_add_bar(d, 0, 4096, false, dummy_io, f) ||
	    pci_device_add_bar(d, 2, 0x10000, true, dummy_other_io, f) ||
	    pci_device_add_bar(d, 4, 256 << 20, true, dummy_other_io, f) ||
	    msix_init(&f->dummy_msix, d, DUMMY_VECTORS, 0, 0, DUMMY_PBA_OFF, &dummy_msix_ops, f) ||
	    pci_bus_add_device(&f->bus, d))
		abort();
	for (unsigned int s = 0; s < NR_SLOTS; s++) {
		f->devs[s] = f->bus.devs[s];
		if (f->devs[s])
			memcpy(f->snap[s], f->devs[s]->cfg, PCI_CFG_SIZE);
	}
}

static void machine_free(struct pci_fuzz *f)
{
	msix_free(&f->dummy_msix);
	virtio_pci_free(&f->vpci);
	pci_bus_free(&f->bus);
	virtio_rng_free(&f->rng);
	fuzz_loop_check_idle(&f->loop);
}

/*
 * The checks run after every operation and loop over every BAR, vector
 * and configuration byte: FUZZ_PLAIN, they would cost more than the
 * operation (what they look at is the library's, which is instrumented).
 * They read configuration registers straight, as pci_cfg_read() does.
 */
static uint16_t cfg16(const struct pci_device *d, unsigned int offset)
{
	return get_le16(d->cfg + offset);
}

/* A decoding BAR is what the guest may reach: only inside its window, with
 * memory (ports) on. */
FUZZ_PLAIN static void check_bars(const struct pci_fuzz *f)
{
	for (unsigned int s = 0; s < NR_SLOTS; s++) {
		const struct pci_device *d = f->devs[s];

		for (unsigned int i = 0; d && i < PCI_NR_BARS; i++) {
			const struct pci_bar *b = &d->bars[i];

			if (!b->decoding)
				continue;
			fuzz_assert(b->size);
			if (b->is_io) {
				fuzz_assert(cfg16(d, PCI_COMMAND) & PCI_COMMAND_IO);
				fuzz_assert(in_window(IO_BASE, IO_SIZE, b->addr, b->size));
				continue;
			}
			fuzz_assert(cfg16(d, PCI_COMMAND) & PCI_COMMAND_MEMORY);
			fuzz_assert(in_window(WIN32_BASE, WIN32_SIZE, b->addr, b->size) ||
				    in_window(WIN64_BASE, WIN64_SIZE, b->addr, b->size));
		}
	}
}

/*
 * Interrupt state agrees everywhere: each INTx input is the OR of its
 * devices' Interrupt Status unless INTx Disable; virtio-pci's Interrupt
 * Status is set exactly while its ISR is; an MSI-X vector is pending only
 * while masked (unmasking delivers it).
 */
FUZZ_PLAIN static void check_interrupts(const struct pci_fuzz *f)
{
	const struct msix *ms[2] = { &f->vpci.msix, &f->dummy_msix };
	int level[PCI_INTX_NR_GSIS] = { 0 };

	for (unsigned int s = 1; s < NR_SLOTS; s++) {
		const struct pci_device *d = f->devs[s];

		if (d && (cfg16(d, PCI_STATUS) & PCI_STATUS_INTERRUPT) &&
		    !(cfg16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE))
			level[d->intx.gsi - PCI_INTX_GSI_BASE] = 1;
	}
	for (unsigned int i = 0; i < PCI_INTX_NR_GSIS; i++)
		fuzz_assert(level[i] == f->intx_level[i]);
	fuzz_assert(!!(cfg16(&f->vpci.pci, PCI_STATUS) & PCI_STATUS_INTERRUPT) == !!f->vpci.isr);
	for (unsigned int i = 0; i < 2; i++) {
		const struct msix *m = ms[i];

		for (unsigned int v = 0; v < m->nr_vectors; v++) {
			bool masked = !m->enabled || m->function_masked || (m->table[v].ctrl & 1);

			fuzz_assert(masked || !(m->pba[v / 64] >> (v % 64) & 1));
		}
	}
}

/* Bits neither writable nor write-1-to-clear stay as set up (Interrupt
 * Status is the device's to change). Eight bytes at a time. */
FUZZ_PLAIN static void check_read_only(const struct pci_fuzz *f)
{
	const uint64_t status = (uint64_t)PCI_STATUS_INTERRUPT << 8 * (PCI_STATUS % 8);

	for (unsigned int s = 0; s < NR_SLOTS; s++) {
		const struct pci_device *d = f->devs[s];

		for (unsigned int i = 0; d && i < PCI_CFG_SIZE; i += 8) {
			uint64_t fixed = ~(get_le64(d->wmask + i) | get_le64(d->w1cmask + i));

			if (i == PCI_STATUS / 8 * 8)
				fixed &= ~status;
			fuzz_assert(!((get_le64(d->cfg + i) ^ get_le64(f->snap[s] + i)) & fixed));
		}
	}
}

/* Port accesses are 1, 2 or 4 bytes: selector bits 0-1 (3 is 1 too). */
static uint32_t port_width(uint8_t sel)
{
	return 1u << ((sel & 3) % 3);
}

static void cfg_cycle(struct pci_fuzz *f, unsigned int slot, uint8_t reg, uint32_t len,
		      bool is_write, uint32_t value)
{
	uint8_t d[4];

	put_le32(d, 0x80000000u | slot << 11 | (reg & 0xfc));
	pci_config_io(&f->bus, 0, d, 4, true);
	put_le32(d, value);
	pci_config_io(&f->bus, 4 + (reg & 3), d, len, is_write);
}

/*
 * u8 selector: bit 0 the 64-bit window, bits 1-2 the width, bit 3 write,
 * bit 4 relative to a BAR (then u8 device: virtio-pci or the plain one, u8
 * BAR, u32 offset below 128 KiB; else a u64 offset into the window), then
 * the u64 value.
 */
static void op_mmio(struct pci_fuzz *f, struct fuzz_input *in)
{
	uint8_t sel = fz_u8(in);
	bool high = sel & 1, is_write = sel & 8;
	uint32_t len = fz_width(sel >> 1);
	uint64_t base = high ? WIN64_BASE : WIN32_BASE, size = high ? WIN64_SIZE : WIN32_SIZE;
	uint64_t addr, value;
	uint8_t d[8];

	if (sel & 0x10) {
		struct pci_device *dev = fz_u8(in) & 1 ? &f->dummy : &f->vpci.pci;

		addr = dev->bars[fz_u8(in) % PCI_NR_BARS].addr + fz_u32(in) % 0x20000;
	} else {
		addr = base + fz_u64(in) % (size - 8);
	}
	value = fz_u64(in);
	/* The bus hands the window only accesses inside it. */
	if (!in_window(base, size, addr, len))
		return;
	put_le64(d, value);
	if (high)
		pci_mmio64_io(&f->bus, addr - base, d, len, is_write);
	else
		pci_mmio32_io(&f->bus, addr - base, d, len, is_write);
}

static void op_pio(struct pci_fuzz *f, struct fuzz_input *in)
{
	uint8_t sel = fz_u8(in), d[4];
	uint32_t len = port_width(sel), port = fz_u16(in) % IO_SIZE;

	put_le32(d, fz_u32(in));
	/* The bus hands the window only accesses inside it. */
	if (len <= IO_SIZE - port)
		pci_pio_io(&f->bus, port, d, len, sel & 4);
}

static void bar_access(struct pci_fuzz *f, uint64_t off, uint8_t sel, uint64_t value)
{
	uint8_t d[8];

	put_le64(d, value);
	virtio_pci_bar_io(&f->vpci, off, d, fz_width(sel), sel & 4);
}

#define common_write(f, reg, v, w) bar_access(f, VIRTIO_PCI_COMMON_OFF + (reg), (w) | 4, v)

/*
 * The driver's bring-up over the transport, the way Linux does it: u8
 * flags (bit 0 memory and port decoding and bus mastering on, bit 1 MSI-X on with
 * vector 0 for config and 1 for the queue, bit 2 function masked), u32 and
 * u32 features, u8 queue size selector (fz_qsize()).
 */
static void op_bringup(struct pci_fuzz *f, struct fuzz_input *in)
{
	unsigned int cap = f->vpci.msix.cap;
	uint8_t flags = fz_u8(in), st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	uint32_t lo = fz_u32(in), hi = fz_u32(in);
	uint32_t table = VIRTIO_PCI_NOTIFY_OFF + 0x1000;

	if (flags & 1)
		cfg_cycle(f, f->vpci.pci.slot, PCI_COMMAND, 2, true,
			  PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
	if (flags & 2) {
		cfg_cycle(f, f->vpci.pci.slot, cap + 2, 2, true, (flags & 4) ? 0xc000 : 0x8000);
		for (unsigned int v = 0; v < 2; v++) {
			bar_access(f, table + 16 * v, 2 | 4, 0xfee00000);
			bar_access(f, table + 16 * v + 4, 2 | 4, 0);
			bar_access(f, table + 16 * v + 8, 2 | 4, 0x40 + v);
			bar_access(f, table + 16 * v + 12, 2 | 4, 0);
		}
	}
	common_write(f, VIRTIO_PCI_STATUS, 0, 0);
	common_write(f, VIRTIO_PCI_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 0);
	common_write(f, VIRTIO_PCI_STATUS, st, 0);
	common_write(f, VIRTIO_PCI_GFSELECT, 0, 2);
	common_write(f, VIRTIO_PCI_GF, lo, 2);
	common_write(f, VIRTIO_PCI_GFSELECT, 1, 2);
	common_write(f, VIRTIO_PCI_GF, hi, 2);
	common_write(f, VIRTIO_PCI_STATUS, st | VIRTIO_STATUS_FEATURES_OK, 0);
	if (flags & 2)
		common_write(f, VIRTIO_PCI_MSIX_CONFIG, 0, 1);
	fuzz_vq_init(&f->vq, 0, fz_qsize(fz_u8(in)));
	guest_mem_fill(&f->g.mem, 0, 0, FUZZ_VQ_SPAN);
	common_write(f, VIRTIO_PCI_Q_SELECT, 0, 1);
	common_write(f, VIRTIO_PCI_Q_SIZE, f->vq.size, 1);
	if (flags & 2)
		common_write(f, VIRTIO_PCI_Q_MSIX, 1, 1);
	common_write(f, VIRTIO_PCI_Q_DESC, f->vq.desc, 3);
	common_write(f, VIRTIO_PCI_Q_AVAIL, f->vq.avail, 3);
	common_write(f, VIRTIO_PCI_Q_USED, f->vq.used, 3);
	common_write(f, VIRTIO_PCI_Q_ENABLE, 1, 1);
	common_write(f, VIRTIO_PCI_STATUS, st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK,
		     0);
}

/*
 * u8 chains (1-4), per chain u8 buffers (1-2) and per buffer a u16 length
 * (up to 2047); then the notify register is written and the loop run.
 */
static void op_rngbuf(struct pci_fuzz *f, struct fuzz_input *in)
{
	unsigned int chains = fz_u8(in) % 4 + 1;

	for (unsigned int c = 0; c < chains; c++) {
		unsigned int n = fz_u8(in) % 2 + 1;
		struct fuzz_buf bufs[2];

		for (unsigned int i = 0; i < n; i++) {
			uint32_t len = fz_u16(in) & 0x7ff;

			bufs[i] = (struct fuzz_buf){ fuzz_alloc(&f->data, len), len, true };
		}
		fuzz_vq_post(&f->g, &f->vq, bufs, n, 0);
	}
	bar_access(f, VIRTIO_PCI_NOTIFY_OFF, 1 | 4, 0);
	fuzz_run_loop(&f->loop);
}

/*
 * u8 selector, u16 argument: 0 a queue interrupt from virtio-rng, 1 a
 * configuration interrupt, 2 msix_notify() of the plain device's vector
 * (argument), 3 its INTx level (argument bit 0).
 */
static void op_irq(struct pci_fuzz *f, struct fuzz_input *in)
{
	uint8_t sel = fz_u8(in) % 4;
	uint16_t arg = fz_u16(in);
	struct virtio_transport *t = &f->rng.vdev.transport;

	if (sel == 0)
		t->queue_interrupt(t->opaque, 0);
	else if (sel == 1)
		t->config_interrupt(t->opaque);
	else if (sel == 2)
		msix_notify(&f->dummy_msix, arg);
	else
		pci_device_set_intx(&f->dummy, arg & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, 0 };
	struct pci_fuzz *f = pci_fuzz;

	machine_init(f, fz_u8(&in));
	for (unsigned int ops = 0; fz_more(&in) && ops < MAX_OPS; ops++) {
		uint8_t sel, reg, slot, d[4];
		uint16_t off;
		uint64_t v;

		switch (fz_u8(&in) % NR_OPS) {
		case OP_PORT:
			sel = fz_u8(&in);
			put_le32(d, fz_u32(&in));
			pci_config_io(&f->bus, sel & 7, d, port_width(sel >> 3), sel & 0x40);
			break;
		case OP_CFG:
			slot = fz_u8(&in) % NR_SLOTS;
			reg = fz_u8(&in);
			sel = fz_u8(&in);
			cfg_cycle(f, slot, reg, port_width(sel), sel & 4, fz_u32(&in));
			break;
		case OP_MMIO:
			op_mmio(f, &in);
			break;
		case OP_COMMON:
			reg = fz_u8(&in) % VIRTIO_PCI_COMMON_LEN;
			sel = fz_u8(&in);
			bar_access(f, VIRTIO_PCI_COMMON_OFF + reg, sel, fz_u64(&in));
			break;
		case OP_BAR:
			off = fz_u16(&in);
			sel = fz_u8(&in);
			v = fz_u64(&in);
			/* The bus hands the BAR only accesses inside it. */
			if (off + fz_width(sel) <= f->vpci.pci.bars[0].size)
				bar_access(f, off, sel, v);
			break;
		case OP_BRINGUP:
			op_bringup(f, &in);
			break;
		case OP_RNGBUF:
			op_rngbuf(f, &in);
			break;
		case OP_RUN:
			fuzz_run_loop(&f->loop);
			break;
		case OP_IRQ:
			op_irq(f, &in);
			break;
		case OP_DESC:
			fz_desc(&in, &f->g, &f->vq, 0, 0);
			break;
		case OP_RAW:
			fz_raw_write(&in, &f->g, fz_gpa(&in, &f->g), 255);
			break;
		case OP_PIO:
			op_pio(f, &in);
			break;
		}
		check_bars(f);
		check_interrupts(f);
	}
	check_read_only(f);
	machine_free(f);
	return 0;
}
