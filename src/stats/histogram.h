/* SPDX-License-Identifier: MIT */
/*
 * A fixed-size log-linear histogram of durations in nanoseconds. Values below
 * 2 * HISTOGRAM_SUB (32) each have their own bucket; above that every power of
 * two is split into HISTOGRAM_SUB linear buckets, so a bucket is at most 1/16
 * of its lower bound wide (relative error <= 6.25%, <= ~3% for the midpoint).
 *
 * One writer (the owning vCPU thread) calls histogram_record(): O(1), no
 * allocation, no lock, no atomic read-modify-write. Any other thread may read
 * at any time through the functions below; every field is accessed with
 * relaxed __atomic loads and stores on both sides, so there is no data race.
 * A snapshot taken while the writer runs may be off by the records in flight.
 * An all-zero histogram is empty and valid (calloc() is enough).
 */
#ifndef KVMINI_STATS_HISTOGRAM_H
#define KVMINI_STATS_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 4
#define HISTOGRAM_SUB (1u << HISTOGRAM_SUB_BITS)
/* Group 0 holds 0..15; groups 1..60 hold the values with their top bit at 4..63. */
#define HISTOGRAM_NR_BUCKETS ((64 - HISTOGRAM_SUB_BITS + 1) * HISTOGRAM_SUB)

struct histogram {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns; /* meaningful only when count > 0 */
	uint64_t max_ns;
	uint64_t buckets[HISTOGRAM_NR_BUCKETS];
};

void histogram_init(struct histogram *h);

/* Writer side: only the histogram's single owner may call it. */
void histogram_record(struct histogram *h, uint64_t ns);

/* Add @src into @dst (dst is the caller's; src may be live). */
void histogram_merge(struct histogram *dst, const struct histogram *src);

uint64_t histogram_count(const struct histogram *h);
uint64_t histogram_sum(const struct histogram *h);
uint64_t histogram_min(const struct histogram *h); /* 0 when empty */
uint64_t histogram_max(const struct histogram *h);

/*
 * The value at quantile @q (0.5 = median, 0.99 = p99): the midpoint of the
 * bucket holding the ceil(q * n)-th smallest value, clamped to the recorded
 * min and max (so it is exact below 32 ns and for a single value).
 * 0 for an empty histogram.
 */
uint64_t histogram_percentile(const struct histogram *h, double q);

/* Bucket geometry, for tests and readers. */
unsigned int histogram_bucket_index(uint64_t ns);
uint64_t histogram_bucket_low(unsigned int index);
uint64_t histogram_bucket_high(unsigned int index); /* inclusive */

#endif
