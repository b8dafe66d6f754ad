// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "options.h"

/*
 * Digits only: strtoull would accept signs, spaces and hex. All the digits
 * are consumed even past an overflow (-ERANGE), so that the caller can check
 * what follows first: malformed input is -EINVAL however long its number.
 */
static int parse_digits(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;
	int ret = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			ret = -ERANGE;
		else
			v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return ret;
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
	if (ret == -EINVAL)
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
	if (ret || (shift && v > (UINT64_MAX >> shift)))
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
	if (ret == -EINVAL || *s)
		return -EINVAL;
	if (ret || v < min || v > max)
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

int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		unsigned int hi, lo;

		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -EINVAL;
		hi = isdigit((unsigned char)s[0]) ? s[0] - '0' : (tolower(s[0]) - 'a' + 10);
		lo = isdigit((unsigned char)s[1]) ? s[1] - '0' : (tolower(s[1]) - 'a' + 10);
		mac[i] = hi << 4 | lo;
		s += 2;
		if (*s != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		s += i < 5;
	}
	/* Multicast (and broadcast) or all-zero addresses cannot name a NIC. */
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	return 0;
}

static int net_option(char *opt, struct virtio_net_opts *o, unsigned int *seen, struct error *err)
{
	enum { SEEN_TAP = 1, SEEN_MAC = 2, SEEN_VHOST = 4 };
	char *val = strchr(opt, '=');
	unsigned int bit;

	if (val)
		*val++ = '\0';
	if (!strcmp(opt, "tap")) {
		bit = SEEN_TAP;
		if (val && !*val)
			return error_set(err, -EINVAL, "tap= needs an interface name");
		if (val && strlen(val) >= sizeof(o->tap))
			return error_set(err, -EINVAL,
					 "interface name '%s' is longer than %zu characters", val,
					 sizeof(o->tap) - 1);
		if (val && (strchr(val, '/') || strchr(val, '%') || isspace((unsigned char)*val)))
			return error_set(err, -EINVAL, "'%s' is not a valid interface name", val);
		if (val)
			snprintf(o->tap, sizeof(o->tap), "%s", val);
	} else if (!strcmp(opt, "mac")) {
		bit = SEEN_MAC;
		if (!val || parse_mac(val, o->mac))
			return error_set(
				err, -EINVAL,
				"mac '%s' is not a unicast MAC address (XX:XX:XX:XX:XX:XX)",
				val ? val : "");
		o->has_mac = true;
	} else if (!strcmp(opt, "vhost")) {
		bit = SEEN_VHOST;
		if (val && !strcmp(val, "on"))
			o->vhost = true;
		else if (val && !strcmp(val, "off"))
			o->vhost = false;
		else
			return error_set(err, -EINVAL, "vhost must be 'on' or 'off', not '%s'",
					 val ? val : "");
	} else {
		return error_set(err, -EINVAL, "unknown option '%s' (tap[=NAME], mac=, vhost=)",
				 opt);
	}
	if (*seen & bit)
		return error_set(err, -EINVAL, "'%s' given twice", opt);
	*seen |= bit;
	return 0;
}

int parse_net_option(const char *s, struct virtio_net_opts *o, struct error *err)
{
	unsigned int seen = 0;
	char buf[256], *opt, *save = NULL;
	int ret = 0;

	memset(o, 0, sizeof(*o));
	if (!s || !*s)
		return error_set(err, -EINVAL, "empty value (tap[=NAME][,mac=MAC][,vhost=on|off])");
	if (strlen(s) >= sizeof(buf))
		return error_set(err, -EINVAL, "value too long");
	snprintf(buf, sizeof(buf), "%s", s);
	if (buf[strlen(buf) - 1] == ',' || strstr(buf, ",,") || buf[0] == ',')
		return error_set(err, -EINVAL, "empty option in '%s'", s);
	for (opt = strtok_r(buf, ",", &save); opt && !ret; opt = strtok_r(NULL, ",", &save))
		ret = net_option(opt, o, &seen, err);
	if (!ret && !(seen & 1))
		ret = error_set(err, -EINVAL, "no backend: give tap (create one) or tap=NAME");
	if (ret)
		memset(o, 0, sizeof(*o));
	return ret;
}
