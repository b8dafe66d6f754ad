/* SPDX-License-Identifier: MIT */
/*
 * PCI: one root bus behind a host bridge at 00:00.0, reached with type-1
 * configuration cycles (0xCF8 address, 0xCFC-0xCFF data). Devices own a
 * 256-byte configuration space with a write mask, up to six BARs and a
 * capability list. Memory BARs get addresses in the 32-bit MMIO hole (64-bit
 * BARs of 256 MiB or more go above 4 GiB), I/O BARs in the bus's port window,
 * when the device is added; the guest may size and move them, and MMIO and
 * port accesses are routed to whatever BAR currently decodes the address.
 * Nothing here knows about KVM.
 *
 * Lock order, outermost first: a virtio transport's lock, the bus lock
 * (config space; hooks run under it), the MSI-X lock, the VM's irq_lock
 * (MSI routes). BAR handlers run with none of the PCI locks held.
 */
#ifndef KVMINI_PCI_PCI_H
#define KVMINI_PCI_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "irq.h"

#define PCI_MAX_SLOTS 32
#define PCI_CFG_SIZE 256
#define PCI_NR_BARS 6

#define PCI_CONFIG_ADDRESS_PORT 0xcf8

/* Standard header offsets. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x8
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09

/* The first IOAPIC input used for PCI INTx; slot s, INTA# uses
 * PCI_INTX_GSI_BASE + s % PCI_INTX_NR_GSIS (level, active low, as the MP
 * table says). */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_NR_GSIS 8

struct pci_device;

struct pci_bar {
	uint64_t size; /* power of two, >= 4096 (I/O: 16-256); 0 when unused */
	uint64_t addr; /* guest-programmed base */
	bool decoding; /* memory (I/O) on, not being sized, inside a window */
	bool is64;
	bool is_io; /* in port space */
	bus_io_fn io; /* accesses at offsets within the BAR */
	void *opaque;
};

struct pci_device {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change */
	uint8_t w1cmask[PCI_CFG_SIZE]; /* bits the guest clears by writing 1 */
	struct pci_bar bars[PCI_NR_BARS];
	const char *name;
	unsigned int slot;
	struct irq_line intx; /* set by pci_bus_add_device() */
	struct pci_bus *bus;
	unsigned int cap_end; /* first byte after the last capability; 0: none */
	unsigned int cap_last; /* offset of the last capability; 0: none */
	/* Optional hooks, called with the bus lock held on a vCPU thread: they
	 * may use pci_cfg_read()/pci_cfg_write_raw() on this device but must
	 * not call pci_device_set_intx() or anything else that takes the lock. */
	/* The guest wrote configuration bytes [offset, offset + len). */
	void (*cfg_written)(struct pci_device *dev, uint32_t offset, uint32_t len);
	/* BAR @bar now decodes at @addr (@enabled false: decoding turned off
	 * by the command register or the BAR is being sized). Called when
	 * decoding starts or stops, or moves while on; not at add time. */
	void (*bar_moved)(struct pci_device *dev, unsigned int bar, uint64_t addr, bool enabled);
	void *opaque;
};

struct pci_bus {
	struct pci_device *devs[PCI_MAX_SLOTS];
	struct pci_device host_bridge;
	uint32_t config_address; /* last dword written to 0xCF8, reserved bits 0 */
	pthread_mutex_t lock; /* config space of all devices, BAR placement, INTx */
	uint64_t mmio32_base, mmio32_size, mmio32_next;
	uint64_t mmio64_base, mmio64_size, mmio64_next;
	uint64_t io_base, io_size, io_next; /* port window; size 0: none */
	struct irq_line intx_template; /* gsi filled per slot */
};

/*
 * An empty bus with the host bridge at slot 0. BARs are allocated from
 * [mmio32_base, +mmio32_size) and [mmio64_base, +mmio64_size). @intx says
 * how to raise IOAPIC inputs (its gsi is ignored).
 */
void pci_bus_init(struct pci_bus *bus, uint64_t mmio32_base, uint64_t mmio32_size,
		  uint64_t mmio64_base, uint64_t mmio64_size, const struct irq_line *intx);
void pci_bus_free(struct pci_bus *bus);

/* Give the bus a port window [@base, +@size) for I/O BARs (before devices
 * are added; without one, adding a device with an I/O BAR fails). */
void pci_bus_set_io_window(struct pci_bus *bus, uint64_t base, uint64_t size);

/* A type-0 header with the given ids, INTA#, everything else zero. */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint16_t subsys_vendor, uint16_t subsys_id,
		     uint8_t revision);

/* Declare memory BAR @bar (@size a power of two >= 4096). 0 or -EINVAL. */
int pci_device_add_bar(struct pci_device *dev, unsigned int bar, uint64_t size, bool is64,
		       bus_io_fn io, void *opaque);

/* Declare I/O BAR @bar (@size a power of two, 16 to 256 ports). 0 or -EINVAL. */
int pci_device_add_io_bar(struct pci_device *dev, unsigned int bar, uint64_t size, bus_io_fn io,
			  void *opaque);

/*
 * Append a capability: @body is everything after the id and next bytes
 * (@body_len bytes). Returns its offset in configuration space (4-byte
 * aligned, the first at 0x40), -EINVAL or -ENOSPC. The caller sets wmask bits
 * for any guest-writable capability fields. Before pci_bus_add_device().
 */
int pci_device_add_capability(struct pci_device *dev, uint8_t id, const void *body,
			      uint8_t body_len);

/*
 * Put @dev in the first free slot (or -ENOSPC), give its BARs addresses
 * (-ENOMEM when a window is full) and its INTx line. Memory decoding starts
 * off, as after reset; firmware-less guests such as Linux enable it.
 */
int pci_bus_add_device(struct pci_bus *bus, struct pci_device *dev);

/*
 * Set the device's INTx level (Interrupt Status in the status register). The
 * GSI sees the OR of all devices sharing it, masked by INTx Disable. Takes
 * the bus lock and calls the irq_line with it held; any thread.
 */
void pci_device_set_intx(struct pci_device *dev, bool level);

/* bus_io_fn for the configuration ports: register 8 ports at 0xCF8. */
void pci_config_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * bus_io_fn for the MMIO windows: register [mmio32_base, +size) with
 * pci_mmio32_io and [mmio64_base, +size) with pci_mmio64_io. The BAR io
 * callback runs WITHOUT the bus lock held (it may take its own locks).
 * Accesses no decoding BAR fully contains read all-ones; writes are dropped.
 */
void pci_mmio32_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void pci_mmio64_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* The same for the port window: register [io_base, +io_size) with it. */
void pci_pio_io(void *bus, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Direct configuration access for device code and tests (no wmask, no
 * hooks, no lock: callers serialize, e.g. from inside a hook). Out-of-range
 * reads return all-ones; out-of-range writes are ignored. */
uint32_t pci_cfg_read(const struct pci_device *dev, uint32_t offset, uint32_t len);
void pci_cfg_write_raw(struct pci_device *dev, uint32_t offset, uint32_t value, uint32_t len);

#endif
