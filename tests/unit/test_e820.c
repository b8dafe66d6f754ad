// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guest_mem.h"
#include "x86/layout.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static void expect_entry(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

/* e820 only looks at the region layout, so no buffer is needed. */
static int build(uint64_t ram, struct e820_entry *map, int max)
{
	struct guest_mem mem;

	guest_mem_init_buffer(&mem, NULL, ram);
	return e820_build(&mem, map, max);
}

static void test_entry_is_20_bytes(void **state)
{
	assert_int_equal(sizeof(struct e820_entry), 20);
}

static void test_low_ram_only(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = build(256 * MIB, map, E820_MAX_ENTRIES);

	assert_int_equal(n, 4);
	expect_entry(&map[0], 0, 0x9fc00, E820_RAM);
	expect_entry(&map[1], 0x9fc00, 0x400, E820_RESERVED);
	expect_entry(&map[2], 0xf0000, 0x10000, E820_RESERVED);
	expect_entry(&map[3], 0x100000, 255 * MIB, E820_RAM);
}

static void test_exactly_up_to_hole(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = build(3 * GIB, map, E820_MAX_ENTRIES);

	assert_int_equal(n, 4);
	expect_entry(&map[3], 0x100000, 3 * GIB - MIB, E820_RAM);
}

static void test_ram_above_4g(void **state)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	int n = build(4 * GIB + 512 * MIB, map, E820_MAX_ENTRIES);

	assert_int_equal(n, 5);
	expect_entry(&map[0], 0, 0x9fc00, E820_RAM);
	expect_entry(&map[3], 0x100000, LAYOUT_PCI_HOLE_START - MIB, E820_RAM);
	expect_entry(&map[4], LAYOUT_4G, GIB + 512 * MIB, E820_RAM);
}

static void test_sorted_and_disjoint(void **state)
{
	const uint64_t sizes[] = { 2 * MIB, 64 * MIB, 3 * GIB - 1, 3 * GIB + 4096, 16 * GIB };

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct e820_entry map[E820_MAX_ENTRIES];
		uint64_t ram = 0;
		int n = build(sizes[s], map, E820_MAX_ENTRIES);

		assert_true(n >= 4);
		for (int i = 0; i < n; i++) {
			assert_true(map[i].size > 0);
			if (i > 0)
				assert_true(map[i].addr >= map[i - 1].addr + map[i - 1].size);
			if (map[i].type == E820_RAM)
				ram += map[i].size;
		}
		/* Everything but the 1 KiB EBDA and the 384 KiB legacy hole is RAM. */
		assert_int_equal(ram, sizes[s] - 0x400 - 0x60000);
	}
}

static void test_respects_max(void **state)
{
	struct e820_entry map[6];

	memset(map, 0x5a, sizeof(map));
	assert_int_equal(build(4 * GIB + MIB, map, 2), 2);
	expect_entry(&map[0], 0, 0x9fc00, E820_RAM);
	expect_entry(&map[1], 0x9fc00, 0x400, E820_RESERVED);
	/* Nothing written past max. */
	assert_int_equal(map[2].type, 0x5a5a5a5a);
	assert_int_equal(build(4 * GIB + MIB, map, 0), 0);
	assert_int_equal(build(4 * GIB + MIB, map, -1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_is_20_bytes),   cmocka_unit_test(test_low_ram_only),
		cmocka_unit_test(test_exactly_up_to_hole),  cmocka_unit_test(test_ram_above_4g),
		cmocka_unit_test(test_sorted_and_disjoint), cmocka_unit_test(test_respects_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
