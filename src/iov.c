// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <string.h>

#include "iov.h"

/* Copy between @buf and the iovecs from @offset on; @to_iov says which way. */
static size_t iov_copy(const struct iovec *iov, unsigned int nr, size_t offset, uint8_t *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < nr && done < len; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - offset;
		if (n > len - done)
			n = len - done;
		if (to_iov)
			memcpy(p + offset, buf + done, n);
		else
			memcpy(buf + done, p + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int nr, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, nr, offset, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int nr, size_t offset, const void *buf,
		    size_t len)
{
	/* Only read through @buf on this path. */
	return iov_copy(iov, nr, offset, (uint8_t *)buf, len, true);
}

uint64_t iov_total(const struct iovec *iov, unsigned int nr)
{
	uint64_t len = 0;

	for (unsigned int i = 0; i < nr; i++)
		len += iov[i].iov_len;
	return len;
}

void iov_advance(struct iovec **iov, unsigned int *nr, uint64_t n)
{
	while (n && *nr) {
		if (n < (*iov)->iov_len) {
			(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*nr)--;
	}
	while (*nr && !(*iov)->iov_len) {
		(*iov)++;
		(*nr)--;
	}
}
