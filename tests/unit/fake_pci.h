/* SPDX-License-Identifier: MIT */
/*
 * Guest accesses for PCI tests: little-endian values through a bus_io_fn
 * (ports, MMIO, BARs), and configuration cycles through 0xCF8/0xCFC.
 */
#ifndef KVMINI_TEST_FAKE_PCI_H
#define KVMINI_TEST_FAKE_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "le.h"
#include "pci/pci.h"

/* Bytes of a read the device leaves alone come back as 0xee. */
static inline uint64_t io_read(bus_io_fn fn, void *opaque, uint64_t off, uint32_t len)
{
	uint8_t d[8];

	memset(d, 0xee, sizeof(d));
	fn(opaque, off, d, len, false);
	return get_le(d, len);
}

static inline void io_write(bus_io_fn fn, void *opaque, uint64_t off, uint64_t v, uint32_t len)
{
	uint8_t d[8];

	put_le(d, sizeof(d), v);
	fn(opaque, off, d, len, true);
}

/* Select register @reg of function 0 of @slot on bus 0 (CONFIG_ADDRESS). */
static inline void guest_cfg_select(struct pci_bus *bus, unsigned int slot, unsigned int reg)
{
	io_write(pci_config_io, bus, 0, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
}

static inline uint32_t guest_cfg_read(struct pci_bus *bus, unsigned int slot, unsigned int reg,
				      uint32_t len)
{
	guest_cfg_select(bus, slot, reg);
	return (uint32_t)io_read(pci_config_io, bus, 4 + (reg & 3), len);
}

static inline void guest_cfg_write(struct pci_bus *bus, unsigned int slot, unsigned int reg,
				   uint32_t v, uint32_t len)
{
	guest_cfg_select(bus, slot, reg);
	io_write(pci_config_io, bus, 4 + (reg & 3), v, len);
}

#endif
