// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

/* Digits only: strtoull would accept signs, spaces and hex. */
static int parse_digits(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	uint64_t v;
	int shift = 0, ret;

	if (!s)
		return -EINVAL;
	ret = parse_digits(&s, &v);
	if (ret)
		return ret;
	if (*s) {
		u = strchr(units, toupper((unsigned char)*s));
		if (!u)
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
		s++;
		if (!strcasecmp(s, "b") || !strcasecmp(s, "ib"))
			s += strlen(s);
		if (*s)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	uint64_t v;
	int ret;

	if (!s)
		return -EINVAL;
	ret = parse_digits(&s, &v);
	if (ret)
		return ret;
	if (*s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = (unsigned long)v;
	return 0;
}

static int disk_option(char *opt, struct virtio_blk_opts *o, unsigned int *seen, struct error *err)
{
	enum { SEEN_RO = 1, SEEN_CACHE = 2, SEEN_AIO = 4, SEEN_SERIAL = 8 };
	char *val = strchr(opt, '=');
	unsigned int bit;

	if (val)
		*val++ = '\0';
	if (!strcmp(opt, "ro")) {
		if (val)
			return error_set(err, -EINVAL, "'ro' takes no value");
		bit = SEEN_RO;
		o->ro = true;
	} else if (!strcmp(opt, "cache")) {
		bit = SEEN_CACHE;
		if (val && !strcmp(val, "none"))
			o->cache = BLOCK_CACHE_NONE;
		else if (val && !strcmp(val, "writeback"))
			o->cache = BLOCK_CACHE_WRITEBACK;
		else
			return error_set(err, -EINVAL,
					 "cache must be 'none' or 'writeback', not '%s'",
					 val ? val : "");
	} else if (!strcmp(opt, "aio")) {
		bit = SEEN_AIO;
		if (val && !strcmp(val, "auto"))
			o->aio = BLOCK_AIO_AUTO;
		else if (val && !strcmp(val, "io_uring"))
			o->aio = BLOCK_AIO_IO_URING;
		else if (val && !strcmp(val, "sync"))
			o->aio = BLOCK_AIO_SYNC;
		else
			return error_set(err, -EINVAL,
					 "aio must be 'auto', 'io_uring' or 'sync', not '%s'",
					 val ? val : "");
	} else if (!strcmp(opt, "serial")) {
		bit = SEEN_SERIAL;
		if (!val)
			return error_set(err, -EINVAL, "serial needs a value (serial=STR)");
		if (strlen(val) > VIRTIO_BLK_ID_BYTES)
			return error_set(err, -EINVAL, "serial '%s' is longer than %d bytes", val,
					 VIRTIO_BLK_ID_BYTES);
		for (const char *c = val; *c; c++) {
			if (*c < 0x20 || *c > 0x7e)
				return error_set(err, -EINVAL, "serial must be printable ASCII");
		}
		o->serial = val;
	} else {
		return error_set(err, -EINVAL, "unknown option '%s' (ro, cache=, aio=, serial=)",
				 opt);
	}
	if (*seen & bit)
		return error_set(err, -EINVAL, "'%s' given twice", opt);
	*seen |= bit;
	return 0;
}

int parse_disk_option(const char *s, struct virtio_blk_opts *o, struct error *err)
{
	unsigned int seen = 0;
	char *buf, *opt, *next;
	int ret;

	memset(o, 0, sizeof(*o));
	if (!s || !*s || *s == ',')
		return error_set(err, -EINVAL, "empty path");
	buf = strdup(s);
	if (!buf)
		return error_set(err, -ENOMEM, "out of memory");
	o->cache = BLOCK_CACHE_WRITEBACK;
	o->aio = BLOCK_AIO_AUTO;
	next = strchr(buf, ',');
	while (next) {
		*next++ = '\0';
		opt = next;
		next = strchr(opt, ',');
		if (next)
			*next = '\0';
		ret = disk_option(opt, o, &seen, err);
		if (next)
			*next = ',';
		if (ret) {
			free(buf);
			memset(o, 0, sizeof(*o));
			return ret;
		}
	}
	o->path = buf;
	return 0;
}
