// SPDX-License-Identifier: MIT
/*
 * The PCI root bus: configuration space behind the type-1 ports, BAR
 * placement, MMIO and port routing, INTx levels. One mutex (bus->lock)
 * covers all configuration space of all devices and the BAR lookup; BAR io
 * callbacks run after it is dropped, so device MMIO handlers may take their
 * own locks while an I/O thread calls pci_device_set_intx().
 */
#include <errno.h>
#include <string.h>

#include "le.h"
#include "pci/pci.h"

#define PCI_VENDOR_INTEL 0x8086
#define PCI_DEVICE_INTEL_Q35_HOST 0x29c0
#define PCI_CLASS_HOST_BRIDGE 0x060000

#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_CAP_START 0x40

#define PCI_BAR_MEM_TYPE_64 0x4
#define PCI_BAR_SPACE_IO 0x1
/* Memory BARs' type bits; I/O BARs are at least 16 ports, so their low four
 * bits are never address bits either. */
#define PCI_BAR_FLAG_BITS 0xfULL
#define PCI_IO_BAR_MIN 16
#define PCI_IO_BAR_MAX 256

/* Error bits of the status register, cleared by writing 1. */
#define PCI_STATUS_ERRORS 0xf900

#define CONFIG_ADDRESS_ENABLE 0x80000000u
/* Writable bits of 0xCF8: enable, bus, device, function, register. */
#define CONFIG_ADDRESS_MASK 0x80fffffcu

/* 64-bit BARs this large go above 4 GiB. */
#define PCI_BAR_HIGH_MIN (256ULL << 20)

struct bar_state {
	uint64_t addr;
	bool enabled;
};

static bool cfg_range_ok(uint32_t offset, uint32_t len)
{
	return len >= 1 && len <= 4 && offset < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - offset;
}

uint32_t pci_cfg_read(const struct pci_device *dev, uint32_t offset, uint32_t len)
{
	if (!cfg_range_ok(offset, len))
		return 0xffffffffu;
	return get_le(dev->cfg + offset, len);
}

void pci_cfg_write_raw(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t len)
{
	if (cfg_range_ok(offset, len))
		put_le(dev->cfg + offset, len, value);
}

static void set_wmask(struct pci_device *dev, uint32_t offset, uint32_t mask, uint32_t len)
{
	put_le(dev->wmask + offset, len, mask);
}

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id,
		     uint8_t revision)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	pci_cfg_write_raw(dev, PCI_VENDOR_ID, vendor, 2);
	pci_cfg_write_raw(dev, PCI_DEVICE_ID, device, 2);
	pci_cfg_write_raw(dev, PCI_REVISION_ID, revision, 1);
	pci_cfg_write_raw(dev, PCI_CLASS_PROG, class_code & 0xffffff, 3);
	pci_cfg_write_raw(dev, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
	pci_cfg_write_raw(dev, PCI_SUBSYSTEM_ID, subsys_id, 2);
	pci_cfg_write_raw(dev, PCI_INTERRUPT_PIN, 1, 1);

	set_wmask(dev, PCI_COMMAND,
		  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
	put_le(dev->w1cmask + PCI_STATUS, 2, PCI_STATUS_ERRORS);
	/* Firmware and Linux write these and may read them back. */
	dev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	dev->wmask[PCI_LATENCY_TIMER] = 0xff;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* BAR @bar is the upper half of a 64-bit BAR. */
static bool is_upper_half(const struct pci_device *dev, unsigned int bar)
{
	return bar > 0 && dev->bars[bar - 1].size && dev->bars[bar - 1].is64;
}

int pci_device_add_bar(struct pci_device *dev, unsigned int bar, uint64_t size, bool is64,
		       bus_io_fn io, void *opaque)
{
	uint32_t reg = PCI_BAR0 + 4 * bar;

	if (bar >= PCI_NR_BARS || !io || !is_pow2(size) || size < 4096)
		return -EINVAL;
	if (dev->bars[bar].size || is_upper_half(dev, bar))
		return -EINVAL;
	if (is64 && (bar + 1 >= PCI_NR_BARS || dev->bars[bar + 1].size))
		return -EINVAL;
	if (!is64 && size > (1ULL << 31))
		return -EINVAL;

	dev->bars[bar] = (struct pci_bar){
		.size = size, .addr = 0, .is64 = is64, .io = io, .opaque = opaque
	};
	pci_cfg_write_raw(dev, reg, is64 ? PCI_BAR_MEM_TYPE_64 : 0, 4);
	set_wmask(dev, reg, (uint32_t)(~(size - 1) & ~PCI_BAR_FLAG_BITS), 4);
	if (is64) {
		pci_cfg_write_raw(dev, reg + 4, 0, 4);
		set_wmask(dev, reg + 4, (uint32_t)(~(size - 1) >> 32), 4);
	}
	return 0;
}

int pci_device_add_io_bar(struct pci_device *dev, unsigned int bar, uint64_t size, bus_io_fn io,
			  void *opaque)
{
	uint32_t reg = PCI_BAR0 + 4 * bar;

	if (bar >= PCI_NR_BARS || !io || !is_pow2(size) || size < PCI_IO_BAR_MIN ||
	    size > PCI_IO_BAR_MAX)
		return -EINVAL;
	if (dev->bars[bar].size || is_upper_half(dev, bar))
		return -EINVAL;
	dev->bars[bar] =
		(struct pci_bar){ .size = size, .is_io = true, .io = io, .opaque = opaque };
	/* Only a device with ports lets the guest turn port decoding on. */
	dev->wmask[PCI_COMMAND] |= PCI_COMMAND_IO;
	pci_cfg_write_raw(dev, reg, PCI_BAR_SPACE_IO, 4);
	set_wmask(dev, reg, (uint32_t)(~(size - 1) & ~PCI_BAR_FLAG_BITS), 4);
	return 0;
}

/* The base BAR @bar decodes, from configuration space. */
static uint64_t bar_addr(const struct pci_device *dev, unsigned int bar)
{
	uint32_t reg = PCI_BAR0 + 4 * bar;
	uint64_t addr = pci_cfg_read(dev, reg, 4) & ~PCI_BAR_FLAG_BITS;

	if (dev->bars[bar].is64)
		addr |= (uint64_t)pci_cfg_read(dev, reg + 4, 4) << 32;
	return addr;
}

/*
 * A BAR whose address bits are all ones is being sized, not placed: in the
 * low dword (if it has any: BARs of 4 GiB or more do not), or (64-bit) in
 * the high dword.
 */
static bool bar_sizing(const struct pci_device *dev, unsigned int bar)
{
	uint32_t reg = PCI_BAR0 + 4 * bar;
	uint64_t mask = dev->bars[bar].size - 1;

	if (mask < 0xffffffffu &&
	    (pci_cfg_read(dev, reg, 4) | (uint32_t)mask | PCI_BAR_FLAG_BITS) == 0xffffffffu)
		return true;
	return dev->bars[bar].is64 &&
	       (pci_cfg_read(dev, reg + 4, 4) | (uint32_t)(mask >> 32)) == 0xffffffffu;
}

static bool decoding_enabled(const struct pci_device *dev, unsigned int bar)
{
	return pci_cfg_read(dev, PCI_COMMAND, 2) &
	       (dev->bars[bar].is_io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
}

static bool in_window(uint64_t base, uint64_t size, uint64_t addr, uint64_t len)
{
	return addr >= base && addr - base <= size && len <= size - (addr - base);
}

/* Only a BAR inside a window can be reached, so only such a BAR decodes:
 * one moved onto RAM or the APICs must not get ioeventfds there. */
static bool bar_decodes(const struct pci_device *dev, unsigned int bar)
{
	const struct pci_bus *bus = dev->bus;
	uint64_t addr = bar_addr(dev, bar), size = dev->bars[bar].size;

	if (!size || !decoding_enabled(dev, bar) || bar_sizing(dev, bar) || !bus)
		return false;
	if (dev->bars[bar].is_io)
		return in_window(bus->io_base, bus->io_size, addr, size);
	return in_window(bus->mmio32_base, bus->mmio32_size, addr, size) ||
	       in_window(bus->mmio64_base, bus->mmio64_size, addr, size);
}

static void snapshot_bars(const struct pci_device *dev, struct bar_state *st)
{
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		st[i].addr = dev->bars[i].size ? bar_addr(dev, i) : 0;
		st[i].enabled = bar_decodes(dev, i);
	}
}

static bool intx_output(const struct pci_device *dev)
{
	return (pci_cfg_read(dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT) &&
	       !(pci_cfg_read(dev, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE);
}

/* Devices in slots s and s + PCI_INTX_NR_GSIS share a GSI: wired-OR them. */
static void update_intx_line(struct pci_bus *bus, unsigned int gsi)
{
	const struct irq_line *line = NULL;
	int level = 0;

	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		const struct pci_device *d = bus->devs[s];

		if (!d || d == &bus->host_bridge || d->intx.gsi != gsi)
			continue;
		line = &d->intx;
		if (intx_output(d))
			level = 1;
	}
	if (line)
		irq_line_set(line, level);
}

/* A guest configuration write, with the bus lock held. */
static void cfg_write_guest(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t len)
{
	struct bar_state before[PCI_NR_BARS], after[PCI_NR_BARS];
	bool intx_before = intx_output(dev);

	snapshot_bars(dev, before);
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = offset + i;
		uint8_t v = value >> (8 * i);
		uint8_t b = (dev->cfg[o] & ~dev->wmask[o]) | (v & dev->wmask[o]);

		dev->cfg[o] = b & ~(v & dev->w1cmask[o]);
	}
	snapshot_bars(dev, after);

	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		if (!dev->bars[i].size)
			continue;
		dev->bars[i].addr = after[i].addr;
		dev->bars[i].decoding = after[i].enabled;
		if (before[i].enabled == after[i].enabled &&
		    (!after[i].enabled || before[i].addr == after[i].addr))
			continue;
		if (dev->bar_moved)
			dev->bar_moved(dev, i, after[i].addr, after[i].enabled);
	}
	if (dev->bus && dev != &dev->bus->host_bridge && intx_before != intx_output(dev))
		update_intx_line(dev->bus, dev->intx.gsi);
	if (dev->cfg_written)
		dev->cfg_written(dev, offset, len);
}

static void init_host_bridge(struct pci_bus *bus)
{
	struct pci_device *hb = &bus->host_bridge;

	pci_device_init(hb, "host-bridge", PCI_VENDOR_INTEL, PCI_DEVICE_INTEL_Q35_HOST,
			PCI_CLASS_HOST_BRIDGE, 0, 0, 0);
	pci_cfg_write_raw(hb, PCI_INTERRUPT_PIN, 0, 1);
	hb->wmask[PCI_INTERRUPT_LINE] = 0;
	hb->slot = 0;
	hb->bus = bus;
	bus->devs[0] = hb;
}

void pci_bus_init(struct pci_bus *bus, uint64_t mmio32_base, uint64_t mmio32_size,
		  uint64_t mmio64_base, uint64_t mmio64_size, const struct irq_line *intx)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
	bus->mmio32_base = bus->mmio32_next = mmio32_base;
	bus->mmio32_size = mmio32_size;
	bus->mmio64_base = bus->mmio64_next = mmio64_base;
	bus->mmio64_size = mmio64_size;
	if (intx)
		bus->intx_template = *intx;
	init_host_bridge(bus);
}

void pci_bus_set_io_window(struct pci_bus *bus, uint64_t base, uint64_t size)
{
	bus->io_base = bus->io_next = base;
	bus->io_size = size;
}

void pci_bus_free(struct pci_bus *bus)
{
	pthread_mutex_destroy(&bus->lock);
	memset(bus->devs, 0, sizeof(bus->devs));
}

/* Place @len bytes, naturally aligned, at or after *@next in the window
 * [@base, +@size); no sum here may wrap. */
static int window_alloc(uint64_t base, uint64_t size, uint64_t *next, uint64_t len, uint64_t *addr)
{
	uint64_t a = (*next + len - 1) & ~(len - 1);

	if (*next + len - 1 < *next || a < base || a - base > size || len > size - (a - base))
		return -ENOMEM;
	*addr = a;
	*next = a + len;
	return 0;
}

int pci_bus_add_device(struct pci_bus *bus, struct pci_device *dev)
{
	uint64_t next32, next64, next_io, addrs[PCI_NR_BARS] = { 0 };
	unsigned int slot;
	int ret = 0;

	pthread_mutex_lock(&bus->lock);
	for (slot = 0; slot < PCI_MAX_SLOTS && bus->devs[slot]; slot++)
		;
	if (dev->bus) {
		ret = -EBUSY; /* already on a bus */
		goto out;
	}
	if (slot == PCI_MAX_SLOTS) {
		ret = -ENOSPC;
		goto out;
	}
	/* Allocate everything before committing, so a failure changes nothing. */
	next32 = bus->mmio32_next;
	next64 = bus->mmio64_next;
	next_io = bus->io_next;
	for (unsigned int i = 0; i < PCI_NR_BARS && !ret; i++) {
		const struct pci_bar *b = &dev->bars[i];

		if (!b->size)
			continue;
		if (b->is_io)
			ret = window_alloc(bus->io_base, bus->io_size, &next_io, b->size,
					   &addrs[i]);
		else if (b->is64 && b->size >= PCI_BAR_HIGH_MIN)
			ret = window_alloc(bus->mmio64_base, bus->mmio64_size, &next64, b->size,
					   &addrs[i]);
		else
			ret = window_alloc(bus->mmio32_base, bus->mmio32_size, &next32, b->size,
					   &addrs[i]);
	}
	if (ret)
		goto out;
	bus->mmio32_next = next32;
	bus->mmio64_next = next64;
	bus->io_next = next_io;

	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		uint32_t reg = PCI_BAR0 + 4 * i;
		uint32_t flags;

		if (!dev->bars[i].size)
			continue;
		flags = pci_cfg_read(dev, reg, 4) & PCI_BAR_FLAG_BITS;
		pci_cfg_write_raw(dev, reg, (uint32_t)addrs[i] | flags, 4);
		if (dev->bars[i].is64)
			pci_cfg_write_raw(dev, reg + 4, (uint32_t)(addrs[i] >> 32), 4);
		dev->bars[i].addr = addrs[i];
	}
	pci_cfg_write_raw(
		dev, PCI_COMMAND,
		pci_cfg_read(dev, PCI_COMMAND, 2) & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO), 2);
	dev->slot = slot;
	dev->bus = bus;
	dev->intx = bus->intx_template;
	dev->intx.gsi = PCI_INTX_GSI_BASE + slot % PCI_INTX_NR_GSIS;
	pci_cfg_write_raw(dev, PCI_INTERRUPT_LINE, dev->intx.gsi, 1);
	bus->devs[slot] = dev;
out:
	pthread_mutex_unlock(&bus->lock);
	return ret;
}

int pci_device_add_capability(struct pci_device *dev, uint8_t id, const void *body,
			      uint8_t body_len)
{
	uint32_t start = dev->cap_end ? dev->cap_end : PCI_CAP_START;
	uint32_t len = 2 + (uint32_t)body_len;

	start = (start + 3) & ~3u;
	if (body_len && !body)
		return -EINVAL;
	if (len > PCI_CFG_SIZE - start)
		return -ENOSPC;
	dev->cfg[start] = id;
	dev->cfg[start + 1] = 0;
	if (body_len)
		memcpy(dev->cfg + start + 2, body, body_len);
	if (dev->cap_last)
		dev->cfg[dev->cap_last + 1] = start;
	else
		dev->cfg[PCI_CAPABILITY_LIST] = start;
	dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->cap_last = start;
	dev->cap_end = start + len;
	return start;
}

void pci_device_set_intx(struct pci_device *dev, bool level)
{
	struct pci_bus *bus = dev->bus;
	bool before;

	if (!bus)
		return;
	pthread_mutex_lock(&bus->lock);
	before = intx_output(dev);
	if (level)
		dev->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		dev->cfg[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
	if (before != intx_output(dev))
		update_intx_line(bus, dev->intx.gsi);
	pthread_mutex_unlock(&bus->lock);
}

/* The device the configuration address selects, or NULL. */
static struct pci_device *selected_device(const struct pci_bus *bus, uint32_t address)
{
	unsigned int busnr = (address >> 16) & 0xff;
	unsigned int slot = (address >> 11) & 0x1f;
	unsigned int fn = (address >> 8) & 0x7;

	if (!(address & CONFIG_ADDRESS_ENABLE) || busnr != 0 || fn != 0)
		return NULL;
	return bus->devs[slot];
}

void pci_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	struct pci_device *dev;
	uint32_t reg;

	pthread_mutex_lock(&bus->lock);
	if (offset < 4) {
		/* Only a dword access at 0xCF8 reaches the address register. */
		if (offset != 0 || len != 4) {
			if (!is_write)
				memset(data, 0xff, len);
		} else if (is_write) {
			bus->config_address = get_le(data, 4) & CONFIG_ADDRESS_MASK;
		} else {
			put_le(data, 4, bus->config_address);
		}
		goto out;
	}
	dev = selected_device(bus, bus->config_address);
	reg = (bus->config_address & 0xfc) + (uint32_t)(offset & 3);
	if (!dev || len < 1 || len > 4 || offset > 7 || (offset & 3) + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		goto out;
	}
	if (is_write)
		cfg_write_guest(dev, reg, get_le(data, len), len);
	else
		put_le(data, len, pci_cfg_read(dev, reg, len));
out:
	pthread_mutex_unlock(&bus->lock);
}

/* The BAR decoding @addr in port (@is_io) or memory space, or NULL; with
 * the bus lock held. */
static const struct pci_bar *find_bar(const struct pci_bus *bus, uint64_t addr, bool is_io)
{
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		const struct pci_device *d = bus->devs[s];

		for (unsigned int i = 0; d && i < PCI_NR_BARS; i++) {
			const struct pci_bar *b = &d->bars[i];

			if (b->decoding && b->is_io == is_io && addr >= b->addr &&
			    addr - b->addr < b->size)
				return b;
		}
	}
	return NULL;
}

static void bar_access(struct pci_bus *bus, uint64_t addr, bool is_io, uint8_t *data, uint32_t len,
		       bool is_write)
{
	const struct pci_bar *b;
	bus_io_fn fn = NULL;
	void *fn_opaque = NULL;
	uint64_t bar_offset = 0;

	pthread_mutex_lock(&bus->lock);
	b = find_bar(bus, addr, is_io);
	/* An access straddling the BAR's end is claimed by nobody. */
	if (b && len <= b->size - (addr - b->addr)) {
		fn = b->io;
		fn_opaque = b->opaque;
		bar_offset = addr - b->addr;
	}
	pthread_mutex_unlock(&bus->lock);

	/* Outside the lock: device handlers take their own locks. */
	if (fn)
		fn(fn_opaque, bar_offset, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

void pci_mmio32_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;

	bar_access(bus, bus->mmio32_base + offset, false, data, len, is_write);
}

void pci_mmio64_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;

	bar_access(bus, bus->mmio64_base + offset, false, data, len, is_write);
}

void pci_pio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;

	bar_access(bus, bus->io_base + offset, true, data, len, is_write);
}
