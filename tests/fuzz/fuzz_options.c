// SPDX-License-Identifier: MIT
/*
 * The option value parsers of src/cli/options.c (sizes, numbers, --disk,
 * --net, MAC addresses) and the kernel command line builder
 * (src/cli/cmdline.c). Input: strings separated by NUL bytes; each one goes
 * through every parser, and all of them together are a guest command.
 * `kvmini run`'s getopt loop is static in run.c (not in the library) and
 * prints its errors, so it is not fuzzed here.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmdline.h"
#include "err.h"
#include "options.h"

#define MAX_STRINGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/*
 * What parse_size() must return for @s, worked out another way (strtoull
 * on the digits): 0 with *@out, -EINVAL or -ERANGE.
 */
static int expected_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	size_t digits = strspn(s, "0123456789");
	const char *suffix = s + digits, *u = NULL;
	unsigned long long v;
	int shift = 0;

	if (!digits)
		return -EINVAL;
	if (*suffix) {
		u = memchr(units, toupper((unsigned char)*suffix), 4);
		if (!u ||
		    (suffix[1] && strcasecmp(suffix + 1, "b") && strcasecmp(suffix + 1, "ib")))
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
	}
	errno = 0;
	v = strtoull(s, NULL, 10);
	if (errno == ERANGE || (shift && v > UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static void check_size(const char *s)
{
	uint64_t v = 77, want = 77;
	int r = parse_size(s, &v);

	/* On failure the output is left alone. */
	if (r != expected_size(s, &want) || v != want)
		abort();
}

static void check_uint(const char *s, unsigned long min, unsigned long max)
{
	unsigned long v = 77;
	uint64_t n;
	int r = parse_uint(s, min, max, &v);
	int want = strspn(s, "0123456789") == strlen(s) ? expected_size(s, &n) : -EINVAL;

	if (want == 0 && (n < min || n > max))
		want = -ERANGE;
	if (r != want || (r == 0 && v != n) || (r != 0 && v != 77))
		abort();
}

static void check_disk(const char *s)
{
	struct virtio_blk_opts o;
	struct error err = { 0 };
	size_t path_len = strcspn(s, ",");
	int r = parse_disk_option(s, &o, &err);

	if (r < 0) {
		if (err.code != r || !err.msg[0] || !all_zero(&o, sizeof(o)))
			abort();
		return;
	}
	if (r != 0 || !o.path || strlen(o.path) != path_len || memcmp(o.path, s, path_len))
		abort();
	if (o.serial && strlen(o.serial) > VIRTIO_BLK_ID_BYTES)
		abort();
	free((void *)o.path);
}

static void check_net(const char *s)
{
	struct virtio_net_opts o;
	struct error err = { 0 };
	int r = parse_net_option(s, &o, &err);

	if (r < 0) {
		if (err.code != r || !err.msg[0] || !all_zero(&o, sizeof(o)))
			abort();
		return;
	}
	if (r != 0 || !memchr(o.tap, '\0', sizeof(o.tap)))
		abort();
	if (o.has_mac && ((o.mac[0] & 1) || all_zero(o.mac, sizeof(o.mac))))
		abort();
}

static void check_mac(const char *s)
{
	uint8_t mac[6];

	if (parse_mac(s, mac) == 0 && strlen(s) != 17)
		abort();
}

static void check_cmdline(char **argv, unsigned int argc)
{
	char buf[CMDLINE_MAX_LEN + 1];
	struct error err = { 0 };
	int r;

	/* The first string is the user's --cmdline, the rest the guest command. */
	r = cmdline_build(buf, sizeof(buf), argc ? argv[0] : NULL, argc > 1 ? argv + 1 : NULL,
			  argc & 1, &err);
	if (r >= 0 && (size_t)r != strlen(buf))
		abort();
	if (r < 0 && (err.code != r || !err.msg[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[MAX_STRINGS + 1];
	unsigned int argc = 0;
	size_t off = 0;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	while (off <= size && argc < MAX_STRINGS) {
		/* Each string in an exact-size copy, so reads past its NUL are caught. */
		size_t len = strlen(buf + off);

		argv[argc] = malloc(len + 1);
		if (!argv[argc])
			abort();
		memcpy(argv[argc], buf + off, len + 1);
		argc++;
		off += len + 1;
	}
	argv[argc] = NULL;
	free(buf);

	for (unsigned int i = 0; i < argc; i++) {
		check_size(argv[i]);
		check_uint(argv[i], 1, 254);
		check_uint(argv[i], 0, ULONG_MAX);
		check_disk(argv[i]);
		check_net(argv[i]);
		check_mac(argv[i]);
	}
	check_cmdline(argv, argc);
	for (unsigned int i = 0; i < argc; i++)
		free(argv[i]);
	return 0;
}
