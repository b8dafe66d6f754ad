// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmdline.h"
#include "err.h"

#define QUIET_DEFAULT CMDLINE_DEFAULT " " CMDLINE_COMMAND_QUIET

/* Guest-side decoding, written independently of the encoder. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static size_t decode_hex(const char *hex, unsigned char *out, size_t outlen)
{
	size_t n = strlen(hex);

	assert_true(n % 2 == 0);
	assert_true(n / 2 <= outlen);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);

		assert_true(hi >= 0 && lo >= 0);
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return n / 2;
}

/* The value of the last kvmini.cmd= in @line. */
static const char *cmd_value(const char *line)
{
	const char *p = strstr(line, " kvmini.cmd=");

	assert_non_null(p);
	return p + strlen(" kvmini.cmd=");
}

static void test_default_only(void **state)
{
	char buf[CMDLINE_MAX_LEN + 1];
	struct error err = { 0 };
	int ret;

	ret = cmdline_build(buf, sizeof(buf), NULL, NULL, false, &err);
	assert_int_equal(ret, strlen(CMDLINE_DEFAULT));
	assert_string_equal(buf, CMDLINE_DEFAULT);
	assert_null(strstr(buf, "quiet"));
	assert_null(strstr(buf, "kvmini."));

	ret = cmdline_build(buf, sizeof(buf), "", NULL, false, &err);
	assert_string_equal(buf, CMDLINE_DEFAULT);
	assert_int_equal(err.code, 0);
}

static void test_user_args(void **state)
{
	char buf[CMDLINE_MAX_LEN + 1];
	struct error err = { 0 };
	int ret;

	ret = cmdline_build(buf, sizeof(buf), "root=/dev/vda rw console=hvc0", NULL, false, &err);
	assert_string_equal(buf, CMDLINE_DEFAULT " root=/dev/vda rw console=hvc0");
	assert_int_equal(ret, strlen(buf));

	ret = cmdline_build(buf, sizeof(buf), NULL, NULL, true, &err);
	assert_string_equal(buf, CMDLINE_DEFAULT " kvmini.stamp");
	assert_int_equal(ret, strlen(buf));
}

static void test_command(void **state)
{
	char *argv[] = { "uname", "-r", NULL };
	char buf[CMDLINE_MAX_LEN + 1];
	struct error err = { 0 };
	int ret;

	ret = cmdline_build(buf, sizeof(buf), NULL, argv, false, &err);
	assert_string_equal(buf, QUIET_DEFAULT " kvmini.cmd=756e616d65002d72");
	assert_int_equal(ret, strlen(buf));

	/* User text after the quiet defaults (so it can override), then kvmini's. */
	ret = cmdline_build(buf, sizeof(buf), "loglevel=7", argv, true, &err);
	assert_string_equal(buf,
			    QUIET_DEFAULT " loglevel=7 kvmini.stamp kvmini.cmd=756e616d65002d72");
	assert_int_equal(ret, strlen(buf));
}

static void test_bytes_survive(void **state)
{
	char *argv[] = { "sh",
			 "-c",
			 "printf '%s\\n' \"a b\"\n\tdone",
			 "caf\xc3\xa9 \xe2\x82\xac",
			 "\x01\x7f\xff\x80",
			 "=",
			 NULL };
	char buf[CMDLINE_MAX_LEN + 1];
	unsigned char raw[CMDLINE_MAX_LEN];
	unsigned char expect[256];
	struct error err = { 0 };
	const char *hex;
	size_t n = 0, got;

	assert_true(cmdline_build(buf, sizeof(buf), NULL, argv, false, &err) > 0);
	hex = cmd_value(buf);
	/* Only lowercase hex: nothing the kernel's parser could split or unquote. */
	assert_int_equal(strspn(hex, "0123456789abcdef"), strlen(hex));

	for (size_t i = 0; argv[i]; i++) {
		size_t len = strlen(argv[i]);

		if (i > 0)
			expect[n++] = '\0';
		memcpy(expect + n, argv[i], len);
		n += len;
	}
	got = decode_hex(hex, raw, sizeof(raw));
	assert_int_equal(got, n);
	assert_memory_equal(raw, expect, n);

	/* A fixed vector, so the encoder cannot agree with the decoder by accident. */
	char *high[] = { "\xff\x80 \"\n", NULL };

	assert_true(cmdline_build(buf, sizeof(buf), NULL, high, false, &err) > 0);
	assert_string_equal(cmd_value(buf), "ff8020220a");
}

static void test_empty_elements(void **state)
{
	char buf[CMDLINE_MAX_LEN + 1];
	struct error err = { 0 };
	char *trailing[] = { "printf", "", NULL };
	char *middle[] = { "a", "", "b", NULL };
	char *only_empty[] = { "", NULL };
	char *none[] = { NULL };
	int ret;

	assert_true(cmdline_build(buf, sizeof(buf), NULL, trailing, false, &err) > 0);
	assert_string_equal(cmd_value(buf), "7072696e746600");
	assert_true(cmdline_build(buf, sizeof(buf), NULL, middle, false, &err) > 0);
	assert_string_equal(cmd_value(buf), "61000062");
	ret = cmdline_build(buf, sizeof(buf), NULL, only_empty, false, &err);
	assert_string_equal(buf, QUIET_DEFAULT " kvmini.cmd=");
	assert_int_equal(ret, strlen(buf));

	/* A command with no words at all is a caller bug, not "no command". */
	memset(&err, 0, sizeof(err));
	ret = cmdline_build(buf, sizeof(buf), NULL, none, false, &err);
	assert_int_equal(ret, -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_true(strlen(err.msg) > 0);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_too_long(void **state)
{
	char buf[4 * CMDLINE_MAX_LEN];
	struct error err = { 0 };
	char *argv[] = { "x", NULL };
	size_t base;
	char *user;
	int ret;

	/* Find the exact limit: the line with a one-letter command, padded by user text. */
	ret = cmdline_build(buf, sizeof(buf), NULL, argv, false, &err);
	assert_true(ret > 0);
	base = (size_t)ret;

	user = repeat('u', CMDLINE_MAX_LEN - base - 1);
	ret = cmdline_build(buf, sizeof(buf), user, argv, false, &err);
	assert_int_equal(ret, CMDLINE_MAX_LEN);
	assert_int_equal(strlen(buf), CMDLINE_MAX_LEN);
	free(user);

	user = repeat('u', CMDLINE_MAX_LEN - base);
	memset(&err, 0, sizeof(err));
	ret = cmdline_build(buf, sizeof(buf), user, argv, false, &err);
	assert_int_equal(ret, -E2BIG);
	assert_int_equal(err.code, -E2BIG);
	assert_non_null(strstr(err.msg, "too long"));
	assert_non_null(strstr(err.msg, "2047"));
	free(user);

	/* A long command: the message says how much of it is the command. */
	char *big = repeat('c', CMDLINE_MAX_LEN / 2);
	char *bigargv[] = { "echo", big, NULL };

	memset(&err, 0, sizeof(err));
	ret = cmdline_build(buf, sizeof(buf), NULL, bigargv, false, &err);
	assert_int_equal(ret, -E2BIG);
	assert_non_null(strstr(err.msg, "guest command"));
	free(big);

	/* Without a command, user text alone can be too long. */
	user = repeat('u', CMDLINE_MAX_LEN);
	memset(&err, 0, sizeof(err));
	ret = cmdline_build(buf, sizeof(buf), user, NULL, false, &err);
	assert_int_equal(ret, -E2BIG);
	free(user);
}

static void test_small_buffer(void **state)
{
	char buf[sizeof(CMDLINE_DEFAULT) + 8];
	struct error err = { 0 };
	int ret;

	memset(buf, 'Z', sizeof(buf));
	ret = cmdline_build(buf, sizeof(CMDLINE_DEFAULT) - 1, NULL, NULL, false, &err);
	assert_int_equal(ret, -ENOSPC);
	assert_int_equal(err.code, -ENOSPC);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'Z');

	/* Exactly enough room, and nothing written past it. */
	ret = cmdline_build(buf, sizeof(CMDLINE_DEFAULT), NULL, NULL, false, &err);
	assert_int_equal(ret, sizeof(CMDLINE_DEFAULT) - 1);
	assert_string_equal(buf, CMDLINE_DEFAULT);
	assert_int_equal(buf[sizeof(CMDLINE_DEFAULT)], 'Z');

	assert_int_equal(cmdline_build(NULL, 0, NULL, NULL, false, NULL), -ENOSPC);
}

static void test_hex_helpers(void **state)
{
	const unsigned char data[] = { 0x00, 0x01, 0xab, 0xff };
	char *argv[] = { "ab", "c", NULL };
	char out[16];

	assert_int_equal(cmdline_hex_encode(out, sizeof(out), data, sizeof(data)), 8);
	assert_string_equal(out, "0001abff");
	assert_int_equal(cmdline_hex_encode(out, 8, data, sizeof(data)), -ENOSPC);
	assert_int_equal(cmdline_hex_encode(out, 1, data, 0), 0);
	assert_string_equal(out, "");
	assert_int_equal(cmdline_hex_encode(out, 1, data, SIZE_MAX), -ENOSPC);

	assert_int_equal(cmdline_argv_hex_len(argv), 8);
	assert_int_equal(cmdline_hex_encode_argv(out, sizeof(out), argv), 8);
	assert_string_equal(out, "61620063");
	assert_int_equal(cmdline_hex_encode_argv(out, 8, argv), -ENOSPC);
	assert_int_equal(cmdline_hex_encode_argv(out, sizeof(out), NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_only),   cmocka_unit_test(test_user_args),
		cmocka_unit_test(test_command),	       cmocka_unit_test(test_bytes_survive),
		cmocka_unit_test(test_empty_elements), cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_small_buffer),   cmocka_unit_test(test_hex_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
