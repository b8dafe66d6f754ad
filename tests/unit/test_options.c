// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * A malformed value is -EINVAL even when its number overflows (found by
 * fuzz_options: "--mem 99999999999999999999Q" was "too large", not "not a size").
 */
static void test_malformed_beats_overflow(void **state)
{
	uint64_t v = 77;
	unsigned long u = 77;

	assert_int_equal(parse_size("99999999999999999999999Q", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999999Gx", &v), -EINVAL);
	assert_int_equal(parse_size("18446744073709551616 ", &v), -EINVAL);
	assert_int_equal(v, 77);
	assert_int_equal(parse_uint("99999999999999999999999M", 1, 254, &u), -EINVAL);
	assert_int_equal(parse_uint("99999999999999999999999", 1, 254, &u), -ERANGE);
	assert_int_equal(u, 77);
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

static void test_disk_defaults(void **state)
{
	struct error err = { 0 };
	struct virtio_blk_opts d;

	assert_int_equal(parse_disk_option("/tmp/a.img", &d, &err), 0);
	assert_string_equal(d.path, "/tmp/a.img");
	assert_false(d.ro);
	assert_int_equal(d.cache, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(d.aio, BLOCK_AIO_AUTO);
	assert_null(d.serial);
	free((void *)d.path);
}

static void test_disk_all_options(void **state)
{
	struct error err = { 0 };
	struct virtio_blk_opts d;

	assert_int_equal(parse_disk_option("img,ro,cache=none,serial=ABCDEFGHIJ0123456789,aio=sync",
					   &d, &err),
			 0);
	assert_string_equal(d.path, "img");
	assert_true(d.ro);
	assert_int_equal(d.cache, BLOCK_CACHE_NONE);
	assert_int_equal(d.aio, BLOCK_AIO_SYNC);
	assert_string_equal(d.serial, "ABCDEFGHIJ0123456789");
	free((void *)d.path);

	assert_int_equal(
		parse_disk_option("/dev/vdb,aio=io_uring,cache=writeback,serial=", &d, &err), 0);
	assert_string_equal(d.path, "/dev/vdb");
	assert_false(d.ro);
	assert_int_equal(d.cache, BLOCK_CACHE_WRITEBACK);
	assert_int_equal(d.aio, BLOCK_AIO_IO_URING);
	assert_string_equal(d.serial, "");
	free((void *)d.path);
}

static void test_disk_bad(void **state)
{
	static const struct {
		const char *in;
		const char *msg; /* a part of the one-line error */
	} bad[] = {
		{ "", "empty path" },
		{ ",ro", "empty path" },
		{ "img,rw", "unknown option 'rw'" },
		{ "img,", "unknown option ''" },
		{ "img,,ro", "unknown option ''" },
		{ "img,format=raw", "unknown option 'format'" },
		{ "img,cache=unsafe", "cache must be" },
		{ "img,cache", "cache must be" },
		{ "img,aio=native", "aio must be" },
		{ "img,ro=on", "takes no value" },
		{ "img,serial", "needs a value" },
		{ "img,serial=ABCDEFGHIJ0123456789X", "longer than 20 bytes" },
		{ "img,serial=a\tb", "printable" },
		{ "img,ro,ro", "given twice" },
		{ "img,cache=none,cache=writeback", "given twice" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error err = { 0 };
		struct virtio_blk_opts d;

		assert_int_equal(parse_disk_option(bad[i].in, &d, &err), -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		assert_non_null(strstr(err.msg, bad[i].msg));
		assert_null(strchr(err.msg, '\n'));
		assert_null(d.path);
		assert_null(d.serial);
	}
}

static void test_net_good(void **state)
{
	static const uint8_t want[6] = { 0x02, 0x11, 0x22, 0xaa, 0xBb, 0x05 };
	struct error err = { 0 };
	struct virtio_net_opts n;

	(void)state;
	assert_int_equal(parse_net_option("tap", &n, &err), 0);
	assert_string_equal(n.tap, "");
	assert_false(n.has_mac);
	assert_false(n.vhost);
	assert_int_equal(
		parse_net_option("vhost=on,mac=02:11:22:aa:BB:05,tap=tap12345678901", &n, &err), 0);
	assert_string_equal(n.tap, "tap12345678901");
	assert_true(n.has_mac);
	assert_memory_equal(n.mac, want, 6);
	assert_true(n.vhost);
	assert_int_equal(parse_net_option("tap=t0,vhost=off", &n, &err), 0);
	assert_false(n.vhost);
}

static void test_net_bad(void **state)
{
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "", "empty value" },
		{ "foo", "unknown option 'foo'" },
		{ "tap=", "needs an interface name" },
		{ "tap=abcdefghijklmnop", "longer than 15" },
		{ "tap=a/b", "not a valid interface name" },
		{ "tap,mac=zz:11:22:33:44:55", "not a unicast MAC" },
		{ "tap,mac=01:11:22:33:44:55", "not a unicast MAC" },
		{ "tap,mac=00:00:00:00:00:00", "not a unicast MAC" },
		{ "tap,mac=02:11:22:33:44", "not a unicast MAC" },
		{ "tap,mac=02:11:22:33:44:55:66", "not a unicast MAC" },
		{ "tap,mac", "not a unicast MAC" },
		{ "tap,vhost=maybe", "vhost must be" },
		{ "tap,vhost", "vhost must be" },
		{ "tap,tap=x", "given twice" },
		{ "tap,", "empty option" },
		{ "tap,,vhost=on", "empty option" },
		{ "mac=02:11:22:33:44:55", "no backend" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error err = { 0 };
		struct virtio_net_opts n;

		assert_int_equal(parse_net_option(bad[i].in, &n, &err), -EINVAL);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s': got '%s'", bad[i].in, err.msg);
		assert_null(strchr(err.msg, '\n'));
		assert_false(n.has_mac);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_malformed_beats_overflow),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_disk_defaults),
		cmocka_unit_test(test_disk_all_options),
		cmocka_unit_test(test_disk_bad),
		cmocka_unit_test(test_net_good),
		cmocka_unit_test(test_net_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
