// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "options.h"

static void test_sizes(void **state)
{
	static const struct {
		const char *in;
		uint64_t out;
	} ok[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "1K", 1024 },
		{ "1k", 1024 },
		{ "512M", 512ULL << 20 },
		{ "512MiB", 512ULL << 20 },
		{ "512mb", 512ULL << 20 },
		{ "2G", 2ULL << 30 },
		{ "1T", 1ULL << 40 },
		{ "16777215T", 16777215ULL << 40 },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse_size(ok[i].in, &v), 0);
		assert_int_equal(v, ok[i].out);
	}
}

static void test_bad_sizes(void **state)
{
	static const char *const bad[] = {
		"",	"M",	"12Q",	"-1",	"+5",	  " 5", "5 ",
		"1.5G", "0x10", "10MM", "10Mi", "10MiBx", "G1",
	};
	uint64_t v = 77;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_size(bad[i], &v), -EINVAL);
		assert_int_equal(v, 77);
	}
	assert_int_equal(parse_size(NULL, &v), -EINVAL);
}

static void test_size_overflow(void **state)
{
	uint64_t v;

	assert_int_equal(parse_size("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(parse_size("99999999999999999999999G", &v), -ERANGE);
}

static void test_uint(void **state)
{
	unsigned long v;

	assert_int_equal(parse_uint("1", 1, 254, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(parse_uint("254", 1, 254, &v), 0);
	assert_int_equal(parse_uint("0", 1, 254, &v), -ERANGE);
	assert_int_equal(parse_uint("100000", 1, 254, &v), -ERANGE);
	assert_int_equal(parse_uint("2x", 1, 254, &v), -EINVAL);
	assert_int_equal(parse_uint("", 1, 254, &v), -EINVAL);
	assert_int_equal(parse_uint("-1", 1, 254, &v), -EINVAL);
	assert_int_equal(parse_uint("99999999999999999999999", 1, 254, &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_uint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
