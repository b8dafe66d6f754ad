/* SPDX-License-Identifier: MIT */
/*
 * KVM's own counters for a VM or a vCPU, read through the binary statistics
 * file descriptor (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst).
 *
 * The file has a header, an id string, a descriptor block and a data block.
 * Only the data block changes, so kvm_stats_open*() reads and checks the rest
 * once and allocates everything; kvm_stats_read() is a single pread of the
 * data block into a buffer reused on every call.
 *
 * Values: a scalar stat (cumulative, instant, peak) has one u64. A histogram
 * (linear or log) has size buckets; kvm_stats_value() returns their sum (the
 * number of samples recorded, saturating at UINT64_MAX) and kvm_stats_values()
 * the bucket array, so a report may print the sum or the buckets.
 */
#ifndef KVMINI_KVM_STATS_H
#define KVMINI_KVM_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

enum kvm_stat_type {
	KVM_STAT_CUMULATIVE,
	KVM_STAT_INSTANT,
	KVM_STAT_PEAK,
	KVM_STAT_LINEAR_HIST,
	KVM_STAT_LOG_HIST,
	KVM_STAT_UNKNOWN, /* a type newer than this code: values still readable */
};

struct kvm_stat_desc {
	const char *name; /* points into kvm_stats.desc_block */
	enum kvm_stat_type type;
	unsigned int unit; /* KVM_STATS_UNIT_* >> KVM_STATS_UNIT_SHIFT */
	unsigned int base; /* 10 or 2 (2 only for KVM_STATS_BASE_POW2) */
	int exponent; /* value * base^exponent is in the unit */
	unsigned int size; /* number of u64 values */
	uint32_t bucket_size; /* linear histograms only */
	uint32_t value_index; /* first value, in u64s from the data block start */
};

struct kvm_stats {
	int fd;
	bool owns_fd;
	char *id; /* "kvm-<pid>" or "kvm-<pid>/vcpu-<n>" for KVM's own files */
	unsigned int count;
	struct kvm_stat_desc *descs;
	char *desc_block; /* the raw descriptor block, holding the names */
	uint64_t data_offset;
	uint64_t data_size; /* bytes: the end of the furthest stat */
	uint64_t *data; /* data_size bytes, refreshed by kvm_stats_read() */
};

/*
 * Get the stats fd of a VM or vCPU (@fd_with_stats) and parse it. A kernel
 * without KVM_GET_STATS_FD gives -EOPNOTSUPP ("this KVM has no binary
 * statistics"), so callers can say so and carry on.
 */
int kvm_stats_open(struct kvm_stats *ks, int fd_with_stats, struct error *err);

/*
 * Parse an already open stats file; @stats_fd stays the caller's (not closed
 * by kvm_stats_close()). A layout the format does not allow is -EINVAL.
 * Both open calls read the data block once, so values are valid at once.
 */
int kvm_stats_open_fd(struct kvm_stats *ks, int stats_fd, struct error *err);

/* Refresh every value with one pread of the data block. */
int kvm_stats_read(struct kvm_stats *ks, struct error *err);

void kvm_stats_close(struct kvm_stats *ks);

static inline unsigned int kvm_stats_count(const struct kvm_stats *ks)
{
	return ks->count;
}

/* Index of the stat called @name, or -ENOENT. */
int kvm_stats_find(const struct kvm_stats *ks, const char *name);

const char *kvm_stats_name(const struct kvm_stats *ks, unsigned int idx);
enum kvm_stat_type kvm_stats_type(const struct kvm_stats *ks, unsigned int idx);
/* "cumulative", "instant", "peak", "linear-hist", "log-hist", "unknown" */
const char *kvm_stat_type_name(enum kvm_stat_type type);
/* "", "bytes", "seconds", "cycles", "boolean", or "unknown" */
const char *kvm_stats_unit(const struct kvm_stats *ks, unsigned int idx);
bool kvm_stats_is_histogram(const struct kvm_stats *ks, unsigned int idx);

/* The scalar's value, or a histogram's bucket sum (see top of file). */
uint64_t kvm_stats_value(const struct kvm_stats *ks, unsigned int idx);

/* All values of stat @idx (*@nr of them); valid until the next read/close. */
const uint64_t *kvm_stats_values(const struct kvm_stats *ks, unsigned int idx, unsigned int *nr);

#endif
