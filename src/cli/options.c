// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
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
