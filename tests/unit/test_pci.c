// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_pci.h"
#include "pci/pci.h"

#define WIN32_BASE 0xc0000000ULL
#define WIN32_SIZE 0x10000000ULL
#define WIN64_BASE 0x8000000000ULL
#define WIN64_SIZE 0x8000000000ULL

/* Configuration address of slot @slot, function @fn, register @reg on bus 0. */
#define CFG_ADDR(slot, fn, reg) (0x80000000u | (slot) << 11 | (fn) << 8 | (reg))

struct irq_rec {
	int level[32];
	unsigned int calls;
};

struct moved_call {
	unsigned int bar;
	uint64_t addr;
	bool enabled;
};

struct moved_rec {
	struct moved_call calls[16];
	unsigned int n;
};

struct io_rec {
	uint64_t offset;
	uint32_t len;
	bool is_write;
	uint8_t data[8];
	unsigned int calls;
};

struct fixture {
	struct pci_bus bus;
	struct irq_rec irq;
};

static void irq_set(void *opaque, unsigned int gsi, int level)
{
	struct irq_rec *r = opaque;

	assert_true(gsi < 32);
	r->level[gsi] = level;
	r->calls++;
}

static void bar_moved(struct pci_device *dev, unsigned int bar, uint64_t addr, bool enabled)
{
	struct moved_rec *r = dev->opaque;

	assert_true(r->n < 16);
	r->calls[r->n++] = (struct moved_call){ bar, addr, enabled };
}

static void bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct io_rec *r = opaque;

	r->offset = offset;
	r->len = len;
	r->is_write = is_write;
	r->calls++;
	if (is_write)
		memcpy(r->data, data, len);
	else
		memset(data, 0x5a, len);
}

static void fixture_init(struct fixture *f, uint64_t w32_size, uint64_t w64_size)
{
	struct irq_line line = { .set_level = irq_set, .opaque = &f->irq };

	memset(f, 0, sizeof(*f));
	pci_bus_init(&f->bus, WIN32_BASE, w32_size, WIN64_BASE, w64_size, &line);
}

/* The low 32 bits of a guest read at @addr in either window. */
static uint32_t mmio_read32(struct pci_bus *bus, uint64_t addr, uint32_t len)
{
	if (addr >= WIN64_BASE)
		return (uint32_t)io_read(pci_mmio64_io, bus, addr - WIN64_BASE, len);
	return (uint32_t)io_read(pci_mmio32_io, bus, addr - WIN32_BASE, len);
}

static void simple_device(struct pci_device *dev, struct moved_rec *moved)
{
	pci_device_init(dev, "test", 0x1af4, 0x1041, 0x020000, 0x1af4, 0x0001, 1);
	dev->bar_moved = bar_moved;
	dev->opaque = moved;
}

static void test_address_register(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	/* What Linux's pci_check_type1() does. */
	pci_config_io(&f.bus, 3, (uint8_t[]){ 1 }, 1, true);
	io_write(pci_config_io, &f.bus, 0, 0x80000000, 4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 0, 4), 0x80000000);
	/* Reserved bits read back zero. */
	io_write(pci_config_io, &f.bus, 0, 0xffffffff, 4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 0, 4), 0x80fffffc);
	/* Narrow accesses do not reach the register. */
	pci_config_io(&f.bus, 0, (uint8_t[]){ 0, 0 }, 2, true);
	pci_config_io(&f.bus, 2, (uint8_t[]){ 0 }, 1, true);
	assert_int_equal(io_read(pci_config_io, &f.bus, 0, 4), 0x80fffffc);
	assert_int_equal(io_read(pci_config_io, &f.bus, 0, 1), 0xff);
	assert_int_equal(io_read(pci_config_io, &f.bus, 1, 2), 0xffff);
	pci_bus_free(&f.bus);
}

static void test_host_bridge(void **state)
{
	struct fixture f;
	bool sane = false;

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	assert_int_equal(guest_cfg_read(&f.bus, 0, PCI_VENDOR_ID, 2), 0x8086);
	assert_int_equal(guest_cfg_read(&f.bus, 0, PCI_DEVICE_ID, 2), 0x29c0);
	assert_int_equal(guest_cfg_read(&f.bus, 0, PCI_REVISION_ID, 4) >> 8, 0x060000);
	assert_int_equal(guest_cfg_read(&f.bus, 0, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(guest_cfg_read(&f.bus, 0, PCI_INTERRUPT_PIN, 1), 0);
	/* Linux's pci_sanity_check(): a host bridge among bus 0 devfns. */
	for (unsigned int devfn = 0; devfn < 256; devfn++) {
		io_write(pci_config_io, &f.bus, 0, 0x80000000u | devfn << 8 | 0x08, 4);
		if (io_read(pci_config_io, &f.bus, 6, 2) == 0x0600)
			sane = true;
	}
	assert_true(sane);
	pci_bus_free(&f.bus);
}

static void test_absent_all_ones(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	/* Empty slot, other function, other bus, enable bit clear. */
	assert_int_equal(guest_cfg_read(&f.bus, 5, 0, 4), 0xffffffff);
	io_write(pci_config_io, &f.bus, 0, CFG_ADDR(0, 1, 0), 4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 4, 4), 0xffffffff);
	io_write(pci_config_io, &f.bus, 0, 0x80010000, 4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 4, 4), 0xffffffff);
	io_write(pci_config_io, &f.bus, 0, 0x00000000, 4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 4, 2), 0xffff);
	/* Writes there go nowhere, in particular not to the host bridge. */
	pci_config_io(&f.bus, 4, (uint8_t[]){ 6, 0, 0, 0 }, 4, true);
	guest_cfg_write(&f.bus, 5, PCI_COMMAND, 6, 2);
	assert_int_equal(guest_cfg_read(&f.bus, 0, PCI_COMMAND, 2), 0);
	assert_int_equal(guest_cfg_read(&f.bus, 0, PCI_VENDOR_ID, 4), 0x29c08086);
	pci_bus_free(&f.bus);
}

static void test_access_sizes(void **state)
{
	struct fixture f;
	struct pci_device dev;
	struct moved_rec moved = { 0 };

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	simple_device(&dev, &moved);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);
	assert_int_equal(dev.slot, 1);

	io_write(pci_config_io, &f.bus, 0, CFG_ADDR(1, 0, 0), 4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 4, 4), 0x10411af4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 4, 1), 0xf4);
	assert_int_equal(io_read(pci_config_io, &f.bus, 5, 1), 0x1a);
	assert_int_equal(io_read(pci_config_io, &f.bus, 6, 2), 0x1041);
	assert_int_equal(io_read(pci_config_io, &f.bus, 7, 1), 0x10);
	assert_int_equal(io_read(pci_config_io, &f.bus, 5, 2), 0x411a);
	/* Past 0xCFF: nothing. */
	assert_int_equal(io_read(pci_config_io, &f.bus, 7, 2), 0xffff);
	assert_int_equal(io_read(pci_config_io, &f.bus, 6, 4), 0xffffffff);
	/* Subsystem ids and class via the register number. */
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00011af4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_REVISION_ID, 4), 0x02000001);
	/* Byte and word writes land on the right bytes. */
	guest_cfg_write(&f.bus, 1, PCI_INTERRUPT_LINE, 0x2a, 1);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_INTERRUPT_LINE, 2), 0x012a);
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_COMMAND, 2), PCI_COMMAND_MASTER);
	/* Direct accessors reject out-of-range offsets. */
	assert_int_equal(pci_cfg_read(&dev, 255, 2), 0xffffffff);
	assert_int_equal(pci_cfg_read(&dev, 0, 5), 0xffffffff);
	pci_cfg_write_raw(&dev, 254, 0x12345678, 4);
	assert_int_equal(pci_cfg_read(&dev, 252, 4), 0);
	pci_bus_free(&f.bus);
}

static void test_read_only_fields(void **state)
{
	struct fixture f;
	struct pci_device dev;
	struct moved_rec moved = { 0 };
	uint8_t before[PCI_CFG_SIZE];

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	simple_device(&dev, &moved);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);
	memcpy(before, dev.cfg, sizeof(before));

	for (unsigned int reg = 0; reg < 0x10; reg += 4)
		guest_cfg_write(&f.bus, 1, reg, 0xffffffff, 4);
	for (unsigned int reg = 0x28; reg < PCI_CFG_SIZE; reg += 4)
		guest_cfg_write(&f.bus, 1, reg, 0xffffffff, 4);

	assert_memory_equal(dev.cfg, before, PCI_COMMAND);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2), 0);
	assert_memory_equal(dev.cfg + PCI_REVISION_ID, before + PCI_REVISION_ID, 4);
	assert_int_equal(dev.cfg[PCI_HEADER_TYPE], 0);
	assert_memory_equal(dev.cfg + 0x28, before + 0x28, PCI_INTERRUPT_LINE - 0x28);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_INTERRUPT_LINE, 1), 0xff);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_INTERRUPT_PIN, 1), 1);
	assert_memory_equal(dev.cfg + 0x3e, before + 0x3e, PCI_CFG_SIZE - 0x3e);
	pci_bus_free(&f.bus);
}

static void test_status_w1c(void **state)
{
	struct fixture f;
	struct pci_device dev;
	struct moved_rec moved = { 0 };

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	simple_device(&dev, &moved);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);
	pci_cfg_write_raw(&dev, PCI_STATUS, 0xf900 | PCI_STATUS_CAP_LIST, 2);

	guest_cfg_write(&f.bus, 1, PCI_STATUS, 0x0100, 2);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2), 0xf800 | PCI_STATUS_CAP_LIST);
	/* Writing zeros clears nothing; a dword write at COMMAND reaches it too. */
	guest_cfg_write(&f.bus, 1, PCI_STATUS, 0, 2);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2), 0xf800 | PCI_STATUS_CAP_LIST);
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, 0x80000000 | PCI_COMMAND_MASTER, 4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2), 0x7800 | PCI_STATUS_CAP_LIST);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_COMMAND, 2), PCI_COMMAND_MASTER);
	/* All ones clears the error bits, not CAP_LIST. */
	guest_cfg_write(&f.bus, 1, PCI_STATUS, 0xffff, 2);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	pci_bus_free(&f.bus);
}

/* A BAR moved outside both windows cannot be reached, so it does not decode. */
static void test_bar_outside_windows(void **state)
{
	struct fixture f;
	struct pci_device dev;
	struct moved_rec moved = { 0 };
	struct io_rec io = { 0 };
	uint32_t lo;
	uint8_t d[4];

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	simple_device(&dev, &moved);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x4000, false, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), -EBUSY);
	lo = guest_cfg_read(&f.bus, 1, PCI_BAR0, 4);
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(moved.n, 1);
	assert_true(moved.calls[0].enabled);

	/* Onto low RAM: decoding stops. */
	guest_cfg_write(&f.bus, 1, PCI_BAR0, 0x100000, 4);
	assert_int_equal(moved.n, 2);
	assert_false(moved.calls[1].enabled);
	pci_mmio32_io(&f.bus, lo - WIN32_BASE, d, 4, false);
	assert_int_equal(io.calls, 0);
	/* Back inside: decoding again. */
	guest_cfg_write(&f.bus, 1, PCI_BAR0, lo, 4);
	assert_int_equal(moved.n, 3);
	assert_true(moved.calls[2].enabled);
	pci_mmio32_io(&f.bus, lo - WIN32_BASE, d, 4, false);
	assert_int_equal(io.calls, 1);
	pci_bus_free(&f.bus);
}

static void test_bar_sizing(void **state)
{
	struct fixture f;
	struct pci_device dev;
	struct moved_rec moved = { 0 };
	struct io_rec io = { 0 };
	uint32_t lo, hi;

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	simple_device(&dev, &moved);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x4000, false, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&dev, 1, 0x20000000, true, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&dev, 3, 8ULL << 30, true, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);

	/* 32-bit: the size mask, type bits kept; then the original back. */
	lo = guest_cfg_read(&f.bus, 1, PCI_BAR0, 4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0, 4), 0xffffc000);
	guest_cfg_write(&f.bus, 1, PCI_BAR0, lo, 4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0, 4), lo);

	/* 64-bit, 512 MiB: type 2 in the low dword, all of the high dword. */
	lo = guest_cfg_read(&f.bus, 1, PCI_BAR0 + 4, 4);
	hi = guest_cfg_read(&f.bus, 1, PCI_BAR0 + 8, 4);
	assert_int_equal(lo & 0xf, 0x4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 4, 0xffffffff, 4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 8, 0xffffffff, 4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0 + 4, 4), 0xe0000004);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0 + 8, 4), 0xffffffff);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 4, lo, 4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 8, hi, 4);
	assert_int_equal(dev.bars[1].addr, (uint64_t)hi << 32 | (lo & ~0xfu));

	/* 64-bit, 8 GiB: the size shows in the high dword. */
	lo = guest_cfg_read(&f.bus, 1, PCI_BAR0 + 12, 4);
	hi = guest_cfg_read(&f.bus, 1, PCI_BAR0 + 16, 4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 12, 0xffffffff, 4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 16, 0xffffffff, 4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0 + 12, 4), 0x00000004);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0 + 16, 4), 0xfffffffe);
	/* Unused BARs and the ROM BAR read zero whatever is written. */
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 20, 0xffffffff, 4);
	guest_cfg_write(&f.bus, 1, 0x30, 0xffffffff, 4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0 + 20, 4), 0);
	assert_int_equal(guest_cfg_read(&f.bus, 1, 0x30, 4), 0);
	/* Memory decoding is off: sizing moved nothing. */
	assert_int_equal(moved.n, 0);
	assert_int_equal(io.calls, 0);
	/* Back in place, every BAR decodes once memory is on (8 GiB too). */
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 12, lo, 4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 16, hi, 4);
	assert_int_equal(dev.bars[3].addr, WIN64_BASE + (8ULL << 30));
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(moved.n, 3);
	assert_int_equal(moved.calls[2].bar, 3);
	assert_int_equal(moved.calls[2].addr, WIN64_BASE + (8ULL << 30));
	assert_true(moved.calls[2].enabled);
	/* Sizing the high dword of the 8 GiB BAR stops its decoding. */
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 16, 0xffffffff, 4);
	assert_int_equal(moved.n, 4);
	assert_int_equal(moved.calls[3].bar, 3);
	assert_false(moved.calls[3].enabled);
	pci_bus_free(&f.bus);
}

static void test_bar_allocation(void **state)
{
	struct fixture f;
	struct pci_device a, b;
	struct moved_rec moved = { 0 };
	struct io_rec io = { 0 };

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	simple_device(&a, &moved);
	simple_device(&b, &moved);
	assert_int_equal(pci_device_add_bar(&a, 0, 0x1000, false, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&a, 2, 0x4000, true, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&b, 0, 0x100000, false, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&b, 4, 256ULL << 20, true, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &a), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &b), 0);

	assert_int_equal(a.bars[0].addr, WIN32_BASE);
	assert_int_equal(a.bars[2].addr, WIN32_BASE + 0x4000); /* small 64-bit: low */
	assert_int_equal(b.bars[0].addr, WIN32_BASE + 0x100000); /* naturally aligned */
	assert_int_equal(b.bars[4].addr, WIN64_BASE); /* 256 MiB 64-bit: high */
	assert_int_equal(pci_cfg_read(&b, PCI_BAR0 + 16, 4), (uint32_t)WIN64_BASE | 4);
	assert_int_equal(pci_cfg_read(&b, PCI_BAR0 + 20, 4), WIN64_BASE >> 32);
	assert_int_equal(pci_cfg_read(&a, PCI_BAR0 + 8, 4), (uint32_t)(WIN32_BASE + 0x4000) | 4);
	/* Decoding off after add, and no hook calls yet. */
	assert_int_equal(pci_cfg_read(&a, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, 0);
	assert_int_equal(moved.n, 0);
	pci_bus_free(&f.bus);
}

static void test_bad_bars(void **state)
{
	struct pci_device dev;
	struct io_rec io = { 0 };

	(void)state;
	simple_device(&dev, NULL);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x3000, false, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x800, false, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0, false, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 6, 0x1000, false, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x1000, false, NULL, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 0, 4ULL << 30, false, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 5, 0x1000, true, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 2, 0x1000, true, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&dev, 2, 0x1000, false, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 3, 0x1000, false, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 1, 0x1000, true, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 4, 0x1000, false, bar_io, &io), 0);
}

/* I/O BARs: placed in the port window, sized like any BAR, decoding only
 * with I/O enabled and inside the window, and only for port accesses. */
static void test_io_bar(void **state)
{
	struct fixture f;
	struct pci_device dev, mem_only;
	struct moved_rec moved = { 0 };
	struct io_rec io = { 0 }, mem_io = { 0 };
	uint32_t port;
	uint8_t d[4];

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	pci_bus_set_io_window(&f.bus, 0xc000, 0x4000);
	simple_device(&dev, &moved);
	simple_device(&mem_only, NULL);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x1000, false, bar_io, &mem_io), 0);
	assert_int_equal(pci_device_add_io_bar(&dev, 2, 32, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&mem_only, 0, 0x1000, false, bar_io, &mem_io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &mem_only), 0);

	port = guest_cfg_read(&f.bus, 1, PCI_BAR0 + 8, 4);
	assert_int_equal(port & 0x3, 0x1);
	port &= ~0x3u;
	assert_int_equal(port, 0xc000);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 8, 0xffffffff, 4);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_BAR0 + 8, 4), 0xffffffe1);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 8, port, 4);

	/* Memory decoding does not open the ports; I/O decoding does. */
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(moved.n, 1);
	assert_int_equal(moved.calls[0].bar, 0);
	pci_pio_io(&f.bus, port - 0xc000 + 4, d, 2, false);
	assert_int_equal(io.calls, 0);
	assert_int_equal(d[0] & d[1], 0xff);
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_int_equal(guest_cfg_read(&f.bus, 1, PCI_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(moved.n, 2);
	assert_int_equal(moved.calls[1].bar, 2);
	assert_int_equal(moved.calls[1].addr, port);
	assert_true(moved.calls[1].enabled);
	pci_pio_io(&f.bus, port - 0xc000 + 4, (uint8_t[]){ 1, 2 }, 2, true);
	assert_int_equal(io.calls, 1);
	assert_int_equal(io.offset, 4);
	assert_true(io.is_write);
	/* An access straddling the BAR's end reaches nobody. */
	pci_pio_io(&f.bus, port - 0xc000 + 30, d, 4, false);
	assert_int_equal(io.calls, 1);

	assert_int_equal(mem_io.calls, 0); /* port accesses never reach memory BARs */

	/* Out of the window, even onto the configuration ports: not decoding. */
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 8, 0xcf8, 4);
	assert_int_equal(moved.n, 3);
	assert_false(moved.calls[2].enabled);
	guest_cfg_write(&f.bus, 1, PCI_BAR0 + 8, 0x1c000, 4);
	assert_int_equal(moved.n, 3);
	pci_pio_io(&f.bus, 0, d, 2, false);
	assert_int_equal(io.calls, 1);

	/* A device without ports cannot turn port decoding on. */
	guest_cfg_write(&f.bus, 2, PCI_COMMAND, PCI_COMMAND_IO, 2);
	assert_int_equal(guest_cfg_read(&f.bus, 2, PCI_COMMAND, 2), 0);
	pci_bus_free(&f.bus);
}

static void test_io_bar_limits(void **state)
{
	struct fixture f;
	struct pci_device dev, big;
	struct io_rec io = { 0 };

	(void)state;
	simple_device(&dev, NULL);
	assert_int_equal(pci_device_add_io_bar(&dev, 0, 8, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&dev, 0, 512, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&dev, 0, 48, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&dev, 6, 16, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&dev, 0, 16, NULL, &io), -EINVAL);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x1000, true, bar_io, &io), 0);
	assert_int_equal(pci_device_add_io_bar(&dev, 1, 16, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&dev, 0, 16, bar_io, &io), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&dev, 2, 256, bar_io, &io), 0);

	/* No port window: a device with ports does not fit; a full window
	 * neither, and a failure changes nothing. */
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), -ENOMEM);
	assert_null(dev.bus);
	pci_bus_set_io_window(&f.bus, 0xc000, 0x100);
	simple_device(&big, NULL);
	assert_int_equal(pci_device_add_io_bar(&big, 0, 256, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &big), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), -ENOMEM);
	assert_null(dev.bus);
	pci_bus_free(&f.bus);
}

static void test_mmio_routing(void **state)
{
	struct fixture f;
	struct pci_device dev;
	struct moved_rec moved = { 0 };
	struct io_rec io0 = { 0 }, io2 = { 0 };
	uint8_t w[4] = { 1, 2, 3, 4 };
	uint64_t base, high;

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	simple_device(&dev, &moved);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x4000, false, bar_io, &io0), 0);
	assert_int_equal(pci_device_add_bar(&dev, 2, 256ULL << 20, true, bar_io, &io2), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);
	base = dev.bars[0].addr;
	high = dev.bars[2].addr;

	/* Decoding off: nothing is routed. */
	assert_int_equal(mmio_read32(&f.bus, base + 0x10, 4), 0xffffffff);
	assert_int_equal(io0.calls, 0);

	guest_cfg_write(&f.bus, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(moved.n, 2);
	assert_int_equal(moved.calls[0].bar, 0);
	assert_int_equal(moved.calls[0].addr, base);
	assert_true(moved.calls[0].enabled);
	assert_int_equal(moved.calls[1].bar, 2);
	assert_int_equal(moved.calls[1].addr, high);
	assert_true(moved.calls[1].enabled);

	assert_int_equal(mmio_read32(&f.bus, base + 0x10, 4), 0x5a5a5a5a);
	assert_int_equal(io0.calls, 1);
	assert_int_equal(io0.offset, 0x10);
	assert_int_equal(io0.len, 4);
	pci_mmio32_io(&f.bus, base - WIN32_BASE + 0x3ffc, w, 4, true);
	assert_int_equal(io0.calls, 2);
	assert_int_equal(io0.offset, 0x3ffc);
	assert_true(io0.is_write);
	assert_memory_equal(io0.data, w, 4);
	/* Straddling the end, and just past it: nobody. */
	assert_int_equal(mmio_read32(&f.bus, base + 0x3ffe, 4), 0xffffffff);
	assert_int_equal(mmio_read32(&f.bus, base + 0x4000, 4), 0xffffffff);
	pci_mmio32_io(&f.bus, base - WIN32_BASE + 0x3ffe, w, 4, true);
	assert_int_equal(io0.calls, 2);
	/* The 64-bit window. */
	assert_int_equal(mmio_read32(&f.bus, high + 0x123458, 8), 0x5a5a5a5a);
	assert_int_equal(io2.calls, 1);
	assert_int_equal(io2.offset, 0x123458);
	assert_int_equal(io2.len, 8);

	/* Move BAR 0; the same value again is no move. */
	moved.n = 0;
	guest_cfg_write(&f.bus, 1, PCI_BAR0, (uint32_t)(base + 0x100000), 4);
	guest_cfg_write(&f.bus, 1, PCI_BAR0, (uint32_t)(base + 0x100000), 4);
	assert_int_equal(moved.n, 1);
	assert_int_equal(moved.calls[0].addr, base + 0x100000);
	assert_true(moved.calls[0].enabled);
	assert_int_equal(dev.bars[0].addr, base + 0x100000);
	assert_int_equal(mmio_read32(&f.bus, base + 0x10, 4), 0xffffffff);
	assert_int_equal(mmio_read32(&f.bus, base + 0x100010, 4), 0x5a5a5a5a);
	assert_int_equal(io0.offset, 0x10);

	/* Sizing with decoding on stops decoding until the address is back. */
	moved.n = 0;
	guest_cfg_write(&f.bus, 1, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(moved.n, 1);
	assert_false(moved.calls[0].enabled);
	assert_int_equal(mmio_read32(&f.bus, 0xfffffff0, 4), 0xffffffff);
	guest_cfg_write(&f.bus, 1, PCI_BAR0, (uint32_t)base, 4);
	assert_int_equal(moved.n, 2);
	assert_true(moved.calls[1].enabled);
	assert_int_equal(moved.calls[1].addr, base);

	/* Decoding off again: both BARs report it, nothing routed. */
	moved.n = 0;
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, 0, 2);
	assert_int_equal(moved.n, 2);
	assert_false(moved.calls[0].enabled);
	assert_false(moved.calls[1].enabled);
	io0.calls = 0;
	assert_int_equal(mmio_read32(&f.bus, base, 4), 0xffffffff);
	pci_mmio32_io(&f.bus, base - WIN32_BASE, w, 4, true);
	assert_int_equal(io0.calls, 0);
	/* While off, moves are not reported. */
	guest_cfg_write(&f.bus, 1, PCI_BAR0, (uint32_t)(base + 0x8000), 4);
	assert_int_equal(moved.n, 2);
	pci_bus_free(&f.bus);
}

static void test_capabilities(void **state)
{
	static const uint8_t body[40] = { 0xaa, 0xbb, 0xcc };
	struct pci_device dev;
	unsigned int seen = 0, ids[16];
	int off[3];

	(void)state;
	simple_device(&dev, NULL);
	assert_int_equal(pci_cfg_read(&dev, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	off[0] = pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 3);
	off[1] = pci_device_add_capability(&dev, PCI_CAP_ID_MSIX, body, 10);
	off[2] = pci_device_add_capability(&dev, 0x05, NULL, 0);
	assert_int_equal(off[0], 0x40);
	assert_int_equal(off[1], 0x48); /* 0x45 rounded up */
	assert_int_equal(off[2], 0x54);
	assert_true(pci_cfg_read(&dev, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_memory_equal(dev.cfg + 0x42, body, 3);

	/* Walk the chain as a guest does. */
	for (unsigned int p = dev.cfg[PCI_CAPABILITY_LIST]; p; p = dev.cfg[p + 1]) {
		assert_true(p >= 0x40 && !(p & 3));
		assert_true(seen < 16);
		ids[seen++] = dev.cfg[p];
	}
	assert_int_equal(seen, 3);
	assert_int_equal(ids[0], PCI_CAP_ID_VNDR);
	assert_int_equal(ids[1], PCI_CAP_ID_MSIX);
	assert_int_equal(ids[2], 0x05);

	/* Fill the space to exactly 0x100, then no more. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 40),
				 0x58 + 44 * i);
	assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 40), -ENOSPC);
	assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 30), 0xdc);
	assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 3), -ENOSPC);
	assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 2), 0xfc);
	assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, NULL, 0), -ENOSPC);
	assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 255), -ENOSPC);
	assert_int_equal(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, NULL, 4), -EINVAL);
}

static void test_cfg_written_hook_and_addr_bits(void **state);

static void test_intx(void **state)
{
	struct fixture f;
	struct pci_device devs[9];
	struct moved_rec moved = { 0 };

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	for (int i = 0; i < 9; i++) {
		simple_device(&devs[i], &moved);
		assert_int_equal(pci_bus_add_device(&f.bus, &devs[i]), 0);
		assert_int_equal(devs[i].slot, i + 1);
		assert_int_equal(devs[i].intx.gsi, PCI_INTX_GSI_BASE + (i + 1) % 8);
		assert_int_equal(pci_cfg_read(&devs[i], PCI_INTERRUPT_LINE, 1),
				 PCI_INTX_GSI_BASE + (i + 1) % 8);
		assert_int_equal(pci_cfg_read(&devs[i], PCI_INTERRUPT_PIN, 1), 1);
	}
	struct pci_device *a = &devs[0], *b = &devs[8]; /* slots 1 and 9: GSI 17 */

	pci_device_set_intx(a, true);
	assert_int_equal(f.irq.level[17], 1);
	assert_true(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* INTx Disable lowers the line but keeps the status. */
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	assert_int_equal(f.irq.level[17], 0);
	assert_true(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	guest_cfg_write(&f.bus, 1, PCI_COMMAND, 0, 2);
	assert_int_equal(f.irq.level[17], 1);

	/* Wired-OR with the other device on GSI 17. */
	pci_device_set_intx(b, true);
	pci_device_set_intx(a, false);
	assert_int_equal(f.irq.level[17], 1);
	assert_false(guest_cfg_read(&f.bus, 1, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	pci_device_set_intx(b, false);
	assert_int_equal(f.irq.level[17], 0);

	/* Disabled while raising: nothing reaches the line. */
	f.irq.calls = 0;
	guest_cfg_write(&f.bus, 2, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	pci_device_set_intx(&devs[1], true);
	assert_int_equal(f.irq.level[18], 0);
	assert_true(guest_cfg_read(&f.bus, 2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	guest_cfg_write(&f.bus, 2, PCI_COMMAND, 0, 2);
	assert_int_equal(f.irq.level[18], 1);
	/* A device on no bus is ignored. */
	struct pci_device lone;

	simple_device(&lone, NULL);
	pci_device_set_intx(&lone, true);
	assert_int_equal(pci_cfg_read(&lone, PCI_STATUS, 2), 0);
	pci_bus_free(&f.bus);
}

static void cfg_written(struct pci_device *dev, uint32_t offset, uint32_t len)
{
	uint32_t *rec = dev->opaque;

	rec[0] = offset;
	rec[1] = len;
	rec[2]++;
}

static void test_cfg_written_hook_and_addr_bits(void **state)
{
	struct fixture f;
	struct pci_device dev;
	uint32_t rec[3] = { 0 };

	(void)state;
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	pci_device_init(&dev, "hook", 0x1af4, 0x1000, 0, 0, 0, 0);
	dev.cfg_written = cfg_written;
	dev.opaque = rec;
	assert_int_equal(pci_bus_add_device(&f.bus, &dev), 0);
	guest_cfg_write(&f.bus, 1, 0x43, 0x12, 1);
	assert_int_equal(rec[0], 0x43);
	assert_int_equal(rec[1], 1);
	guest_cfg_write(&f.bus, 1, 0x42, 0x1234, 2);
	assert_int_equal(rec[0], 0x42);
	assert_int_equal(rec[1], 2);
	assert_int_equal(rec[2], 2);
	/* Low address bits do not select the register: 0xCFC + 1 does. */
	io_write(pci_config_io, &f.bus, 0, CFG_ADDR(1, 0, 0x40) | 3, 4);
	pci_config_io(&f.bus, 5, (uint8_t[]){ 0 }, 1, true);
	assert_int_equal(rec[0], 0x41);
	/* Reads do not call it. */
	(void)guest_cfg_read(&f.bus, 1, 0x40, 4);
	assert_int_equal(rec[2], 3);
	pci_bus_free(&f.bus);
}

static void test_window_exhaustion(void **state)
{
	struct fixture f;
	struct pci_device a, b, c, d, e;
	struct moved_rec moved = { 0 };
	struct io_rec io = { 0 };

	(void)state;
	fixture_init(&f, 0x10000, 0);
	simple_device(&a, &moved);
	simple_device(&b, &moved);
	simple_device(&c, &moved);
	simple_device(&d, &moved);
	simple_device(&e, &moved);
	assert_int_equal(pci_device_add_bar(&a, 0, 0x8000, false, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&a, 1, 0x4000, false, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &a), 0);
	/* 0x4000 left at 0xc000: the first BAR fits, the second not. */
	assert_int_equal(pci_device_add_bar(&b, 0, 0x1000, false, bar_io, &io), 0);
	assert_int_equal(pci_device_add_bar(&b, 1, 0x8000, false, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &b), -ENOMEM);
	assert_null(b.bus);
	assert_null(f.bus.devs[2]);
	assert_int_equal(f.bus.mmio32_next, WIN32_BASE + 0xc000);
	/* A big 64-bit BAR with no 64-bit window. */
	assert_int_equal(pci_device_add_bar(&c, 0, 256ULL << 20, true, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &c), -ENOMEM);
	/* What is left still works, and the slot was not used up. */
	assert_int_equal(pci_device_add_bar(&d, 0, 0x4000, false, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &d), 0);
	assert_int_equal(d.slot, 2);
	assert_int_equal(d.bars[0].addr, WIN32_BASE + 0xc000);
	assert_int_equal(pci_device_add_bar(&e, 0, 0x1000, false, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&f.bus, &e), -ENOMEM);
	pci_bus_free(&f.bus);

	/* A window at the very top of the address space must not wrap. */
	struct irq_line none = { 0 };
	struct pci_bus top;

	pci_bus_init(&top, 0xfffffffffffff000ULL, 0x1000, 0, 0, &none);
	simple_device(&e, &moved);
	assert_int_equal(pci_device_add_bar(&e, 0, 0x2000, true, bar_io, &io), 0);
	assert_int_equal(pci_bus_add_device(&top, &e), -ENOMEM);
	pci_bus_free(&top);
}

static void test_full_bus(void **state)
{
	struct fixture f;
	struct pci_device *devs = calloc(PCI_MAX_SLOTS, sizeof(*devs));

	(void)state;
	assert_non_null(devs);
	fixture_init(&f, WIN32_SIZE, WIN64_SIZE);
	for (unsigned int i = 0; i < PCI_MAX_SLOTS - 1; i++) {
		simple_device(&devs[i], NULL);
		assert_int_equal(pci_bus_add_device(&f.bus, &devs[i]), 0);
		assert_int_equal(devs[i].slot, i + 1);
	}
	simple_device(&devs[PCI_MAX_SLOTS - 1], NULL);
	assert_int_equal(pci_bus_add_device(&f.bus, &devs[PCI_MAX_SLOTS - 1]), -ENOSPC);
	assert_int_equal(guest_cfg_read(&f.bus, 31, PCI_VENDOR_ID, 2), 0x1af4);
	pci_bus_free(&f.bus);
	free(devs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_register),
		cmocka_unit_test(test_host_bridge),
		cmocka_unit_test(test_absent_all_ones),
		cmocka_unit_test(test_access_sizes),
		cmocka_unit_test(test_read_only_fields),
		cmocka_unit_test(test_status_w1c),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_bar_outside_windows),
		cmocka_unit_test(test_bar_allocation),
		cmocka_unit_test(test_bad_bars),
		cmocka_unit_test(test_mmio_routing),
		cmocka_unit_test(test_io_bar),
		cmocka_unit_test(test_io_bar_limits),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_intx),
		cmocka_unit_test(test_cfg_written_hook_and_addr_bits),
		cmocka_unit_test(test_window_exhaustion),
		cmocka_unit_test(test_full_bus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
