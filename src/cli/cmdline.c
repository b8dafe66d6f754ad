// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cmdline.h"
#include "err.h"

#define STAMP_PARAM "kvmini.stamp"
#define CMD_PARAM "kvmini.cmd="

static const char hex_digits[] = "0123456789abcdef";

static char *put_hex_byte(char *out, unsigned char byte)
{
	*out++ = hex_digits[byte >> 4];
	*out++ = hex_digits[byte & 0xf];
	return out;
}

int cmdline_hex_encode(char *out, size_t outlen, const void *data, size_t len)
{
	const unsigned char *bytes = data;
	char *p = out;

	if (len > (SIZE_MAX - 1) / 2 || outlen < 2 * len + 1)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++)
		p = put_hex_byte(p, bytes[i]);
	*p = '\0';
	return (int)(p - out);
}

/* Saturates at SIZE_MAX, which no buffer can hold. */
size_t cmdline_argv_hex_len(char *const *argv)
{
	size_t bytes = 0;

	for (size_t i = 0; argv[i]; i++) {
		size_t add = strlen(argv[i]) + (i > 0); /* the NUL separator */

		if (bytes > SIZE_MAX / 2 - add)
			return SIZE_MAX;
		bytes += add;
	}
	return 2 * bytes;
}

int cmdline_hex_encode_argv(char *out, size_t outlen, char *const *argv)
{
	size_t hex_len;
	char *p = out;

	if (!argv || !argv[0])
		return -EINVAL;
	hex_len = cmdline_argv_hex_len(argv);
	if (hex_len == SIZE_MAX || hex_len > INT32_MAX || outlen < hex_len + 1)
		return -ENOSPC;
	for (size_t i = 0; argv[i]; i++) {
		if (i > 0)
			p = put_hex_byte(p, 0);
		for (const unsigned char *s = (const unsigned char *)argv[i]; *s; s++)
			p = put_hex_byte(p, *s);
	}
	*p = '\0';
	return (int)(p - out);
}

/* Append " @s" (or "@s" at the start); the caller checked the space. */
static size_t append_word(char *buf, size_t pos, const char *s)
{
	size_t n = strlen(s);

	if (pos > 0)
		buf[pos++] = ' ';
	memcpy(buf + pos, s, n);
	buf[pos + n] = '\0';
	return pos + n;
}

int cmdline_build(char *buf, size_t buflen, const char *user_cmdline, char *const *argv, bool stamp,
		  struct error *err)
{
	bool has_user = user_cmdline && user_cmdline[0];
	size_t hex_len = 0;
	size_t len;
	size_t pos;
	int ret;

	if (argv && !argv[0])
		return error_set(err, -EINVAL, "the guest command is empty");

	len = strlen(CMDLINE_DEFAULT);
	if (argv) {
		hex_len = cmdline_argv_hex_len(argv);
		if (hex_len == SIZE_MAX)
			return error_set(err, -E2BIG, "guest command is too long");
		len += 1 + strlen(CMDLINE_COMMAND_QUIET);
	}
	if (has_user)
		len += 1 + strlen(user_cmdline);
	if (stamp)
		len += 1 + strlen(STAMP_PARAM);
	if (argv)
		len += 1 + strlen(CMD_PARAM) + hex_len;

	if (len > CMDLINE_MAX_LEN) {
		if (argv)
			return error_set(err, -E2BIG,
					 "kernel command line too long: %zu bytes, the limit is %d "
					 "(the guest command takes %zu of them, hex-encoded)",
					 len, CMDLINE_MAX_LEN, hex_len + strlen(CMD_PARAM));
		return error_set(err, -E2BIG,
				 "kernel command line too long: %zu bytes, the limit is %d", len,
				 CMDLINE_MAX_LEN);
	}
	if (!buf || buflen < len + 1)
		return error_set(err, -ENOSPC,
				 "kernel command line (%zu bytes) does not fit in %zu", len,
				 buflen);

	pos = append_word(buf, 0, CMDLINE_DEFAULT);
	if (argv)
		pos = append_word(buf, pos, CMDLINE_COMMAND_QUIET);
	if (has_user)
		pos = append_word(buf, pos, user_cmdline);
	if (stamp)
		pos = append_word(buf, pos, STAMP_PARAM);
	if (argv) {
		pos = append_word(buf, pos, CMD_PARAM);
		ret = cmdline_hex_encode_argv(buf + pos, buflen - pos, argv);
		if (ret < 0)
			return error_set(err, ret, "cannot encode the guest command");
		pos += (size_t)ret;
	}
	return (int)pos;
}
