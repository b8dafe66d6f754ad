/* SPDX-License-Identifier: MIT */
/*
 * Scatter-gather helpers shared by the virtqueues, the devices and the block
 * backend. Zero-length entries are allowed anywhere.
 */
#ifndef KVMINI_IOV_H
#define KVMINI_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Copy between a flat buffer and an iovec array starting @offset bytes into
 * it. Return the number of bytes copied (short when the iovecs end first).
 */
size_t iov_to_buf(const struct iovec *iov, unsigned int nr, size_t offset, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int nr, size_t offset, const void *buf,
		    size_t len);

uint64_t iov_total(const struct iovec *iov, unsigned int nr);

/*
 * Move *@iov / *@nr past @n bytes, then past any empty entries, so the
 * array starts on data (or is empty). The entry cut in the middle is
 * modified in place.
 */
void iov_advance(struct iovec **iov, unsigned int *nr, uint64_t n);

#endif
