/* SPDX-License-Identifier: MIT */
/*
 * One trap bus for port I/O and one for MMIO: address ranges mapped to device
 * callbacks. Ranges are registered during setup, before any vCPU runs, so
 * lookups take no lock; devices serialize their own state.
 */
#ifndef KVMINI_BUS_H
#define KVMINI_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A guest access of @len bytes (1, 2, 4 or 8) at @offset from the start of
 * the device's range. On a read the callback fills @data; on a write it
 * consumes it. Data is little-endian, as the guest sees it.
 */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	struct bus_range *ranges; /* sorted by base, non-overlapping */
	size_t nr_ranges;
	size_t cap;
};

void bus_init(struct bus *bus);
void bus_free(struct bus *bus);

/* 0, -EINVAL for an empty or wrapping range, -EEXIST on overlap, -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque,
		 const char *name);

/* The range holding @addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/*
 * Deliver an access; returns the range that took it. NULL when no device
 * claims the whole access: then reads see all-ones (as on a real bus) and
 * writes are dropped.
 */
const struct bus_range *bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data,
				     uint32_t len, bool is_write);

#endif
