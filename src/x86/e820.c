// SPDX-License-Identifier: MIT
#include "guest_mem.h"
#include "x86/layout.h"

#define BIOS_AREA_START 0xf0000ULL
#define VGA_HOLE_START 0xa0000ULL

static void add(struct e820_entry *out, int max, int *n, uint64_t addr, uint64_t size,
		uint32_t type)
{
	if (*n >= max || size == 0)
		return;
	out[*n] = (struct e820_entry){ .addr = addr, .size = size, .type = type };
	(*n)++;
}

int e820_build(const struct guest_mem *mem, struct e820_entry *out, int max)
{
	uint64_t low_end = guest_mem_low_end(mem);
	uint64_t base_end = low_end < LAYOUT_LOW_RAM_END ? low_end : LAYOUT_LOW_RAM_END;
	int n = 0;

	add(out, max, &n, 0, base_end, E820_RAM);
	/* The EBDA stays reserved as on a PC; the MP table (LAYOUT_MPTABLE) lives in
	 * the reserved BIOS area, so the kernel does not reuse it as RAM. */
	add(out, max, &n, LAYOUT_EBDA, VGA_HOLE_START - LAYOUT_EBDA, E820_RESERVED);
	add(out, max, &n, BIOS_AREA_START, LAYOUT_HIGH_START - BIOS_AREA_START, E820_RESERVED);
	if (low_end > LAYOUT_HIGH_START)
		add(out, max, &n, LAYOUT_HIGH_START, low_end - LAYOUT_HIGH_START, E820_RAM);
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		if (mem->regions[i].gpa >= LAYOUT_4G)
			add(out, max, &n, mem->regions[i].gpa, mem->regions[i].size, E820_RAM);
	}
	return n;
}
