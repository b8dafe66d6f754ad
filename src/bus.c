// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

void bus_init(struct bus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

void bus_free(struct bus *bus)
{
	free(bus->ranges);
	memset(bus, 0, sizeof(*bus));
}

/* Index of the first range whose base is greater than @addr. */
static size_t upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->nr_ranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque,
		 const char *name)
{
	size_t pos;

	if (!len || !fn || base + len - 1 < base)
		return -EINVAL;
	pos = upper_bound(bus, base);
	/* The range before must end at or before base; the one at pos must start after. */
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];

		if (base - prev->base < prev->len)
			return -EEXIST;
	}
	if (pos < bus->nr_ranges && bus->ranges[pos].base - base < len)
		return -EEXIST;
	if (bus->nr_ranges == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		bus->ranges = r;
		bus->cap = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->nr_ranges - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){
		.base = base, .len = len, .fn = fn, .opaque = opaque, .name = name
	};
	bus->nr_ranges++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
	size_t pos = upper_bound(bus, addr);
	const struct bus_range *r;

	if (pos == 0)
		return NULL;
	r = &bus->ranges[pos - 1];
	return addr - r->base < r->len ? r : NULL;
}

const struct bus_range *bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data,
				     uint32_t len, bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr);

	if (!r || len == 0 || len > r->len - (addr - r->base)) {
		if (!is_write)
			memset(data, 0xff, len);
		return NULL;
	}
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	return r;
}
