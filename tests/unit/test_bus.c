// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"

struct recorder {
	int calls;
	uint64_t offset;
	uint32_t len;
	bool is_write;
	uint8_t last[8];
};

static void record_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct recorder *r = opaque;

	r->calls++;
	r->offset = offset;
	r->len = len;
	r->is_write = is_write;
	if (is_write)
		memcpy(r->last, data, len);
	else
		memset(data, 0xa5, len);
}

static void test_register_and_dispatch(void **state)
{
	struct bus bus;
	struct recorder a = { 0 }, b = { 0 };
	uint8_t data[4] = { 1, 2, 3, 4 };

	bus_init(&bus);
	assert_int_equal(bus_register(&bus, 0x3f8, 8, record_io, &a, "uart"), 0);
	assert_int_equal(bus_register(&bus, 0x70, 2, record_io, &b, "rtc"), 0);

	assert_string_equal(bus_dispatch(&bus, 0x3fb, data, 1, true)->name, "uart");
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.offset, 3);
	assert_int_equal(a.last[0], 1);
	assert_int_equal(b.calls, 0);

	assert_non_null(bus_dispatch(&bus, 0x71, data, 1, false));
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.offset, 1);
	assert_int_equal(data[0], 0xa5);
	bus_free(&bus);
}

static void test_unclaimed_reads_all_ones(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };
	uint8_t data[4] = { 0 };

	bus_init(&bus);
	assert_int_equal(bus_register(&bus, 0x100, 4, record_io, &a, "dev"), 0);
	assert_null(bus_dispatch(&bus, 0x104, data, 4, false));
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[3], 0xff);
	/* An access that starts inside but runs past the end is not claimed. */
	assert_null(bus_dispatch(&bus, 0x102, data, 4, false));
	assert_null(bus_dispatch(&bus, 0xff, data, 1, true));
	assert_int_equal(a.calls, 0);
	bus_free(&bus);
}

static void test_overlap_rejected(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };

	bus_init(&bus);
	assert_int_equal(bus_register(&bus, 0x100, 0x10, record_io, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x10f, 1, record_io, &a, "b"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xf0, 0x11, record_io, &a, "c"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x80, 0x100, record_io, &a, "d"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xf0, 0x10, record_io, &a, "e"), 0);
	assert_int_equal(bus_register(&bus, 0x110, 0x10, record_io, &a, "f"), 0);
	assert_int_equal(bus.nr_ranges, 3);
	bus_free(&bus);
}

static void test_bad_ranges(void **state)
{
	struct bus bus;
	struct recorder a = { 0 };

	bus_init(&bus);
	assert_int_equal(bus_register(&bus, 0x100, 0, record_io, &a, "empty"), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 1, 4, record_io, &a, "wrap"), -EINVAL);
	assert_int_equal(bus_register(&bus, 0x100, 1, NULL, &a, "nofn"), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 1, record_io, &a, "last"), 0);
	assert_non_null(bus_find(&bus, UINT64_MAX));
	bus_free(&bus);
}

static void test_many_ranges_sorted(void **state)
{
	struct bus bus;
	struct recorder r[64] = { 0 };
	uint8_t data = 0;

	bus_init(&bus);
	/* Register in a scrambled order to exercise the sorted insert. */
	for (int i = 0; i < 64; i++) {
		int k = (i * 37) % 64;

		assert_int_equal(bus_register(&bus, 0x1000 + k * 0x10, 8, record_io, &r[k], "r"),
				 0);
	}
	for (int k = 0; k < 64; k++) {
		assert_non_null(bus_dispatch(&bus, 0x1000 + k * 0x10 + 7, &data, 1, true));
		assert_null(bus_dispatch(&bus, 0x1000 + k * 0x10 + 8, &data, 1, true));
		assert_int_equal(r[k].calls, 1);
	}
	for (size_t i = 1; i < bus.nr_ranges; i++)
		assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
	bus_free(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_dispatch),
		cmocka_unit_test(test_unclaimed_reads_all_ones),
		cmocka_unit_test(test_overlap_rejected),
		cmocka_unit_test(test_bad_ranges),
		cmocka_unit_test(test_many_ranges_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
