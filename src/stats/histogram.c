// SPDX-License-Identifier: MIT
#include <string.h>

#include "stats/histogram.h"

/* Relaxed on both sides: no ordering needed, only freedom from data races. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void histogram_init(struct histogram *h)
{
	memset(h, 0, sizeof(*h));
}

unsigned int histogram_bucket_index(uint64_t ns)
{
	unsigned int shift;

	if (ns < HISTOGRAM_SUB)
		return (unsigned int)ns;
	shift = 63 - __builtin_clzll(ns) - HISTOGRAM_SUB_BITS;
	return (shift + 1) * HISTOGRAM_SUB + (unsigned int)((ns >> shift) & (HISTOGRAM_SUB - 1));
}

uint64_t histogram_bucket_low(unsigned int index)
{
	unsigned int shift;

	if (index < HISTOGRAM_SUB)
		return index;
	shift = index / HISTOGRAM_SUB - 1;
	return (uint64_t)(HISTOGRAM_SUB + index % HISTOGRAM_SUB) << shift;
}

uint64_t histogram_bucket_high(unsigned int index)
{
	unsigned int shift;

	if (index < HISTOGRAM_SUB)
		return index;
	shift = index / HISTOGRAM_SUB - 1;
	return histogram_bucket_low(index) + ((1ull << shift) - 1);
}

void histogram_record(struct histogram *h, uint64_t ns)
{
	uint64_t *bucket = &h->buckets[histogram_bucket_index(ns)];
	uint64_t count = LOAD(&h->count);

	/* Single writer: a load and a store, no locked instruction. */
	STORE(bucket, LOAD(bucket) + 1);
	STORE(&h->sum_ns, LOAD(&h->sum_ns) + ns);
	if (count == 0 || ns < LOAD(&h->min_ns))
		STORE(&h->min_ns, ns);
	if (count == 0 || ns > LOAD(&h->max_ns))
		STORE(&h->max_ns, ns);
	STORE(&h->count, count + 1);
}

void histogram_merge(struct histogram *dst, const struct histogram *src)
{
	uint64_t src_count = LOAD(&src->count);
	uint64_t dst_count = LOAD(&dst->count);
	unsigned int i;

	if (src_count == 0)
		return;
	for (i = 0; i < HISTOGRAM_NR_BUCKETS; i++) {
		uint64_t n = LOAD(&src->buckets[i]);

		if (n)
			STORE(&dst->buckets[i], LOAD(&dst->buckets[i]) + n);
	}
	STORE(&dst->sum_ns, LOAD(&dst->sum_ns) + LOAD(&src->sum_ns));
	if (dst_count == 0 || LOAD(&src->min_ns) < LOAD(&dst->min_ns))
		STORE(&dst->min_ns, LOAD(&src->min_ns));
	if (dst_count == 0 || LOAD(&src->max_ns) > LOAD(&dst->max_ns))
		STORE(&dst->max_ns, LOAD(&src->max_ns));
	STORE(&dst->count, dst_count + src_count);
}

uint64_t histogram_count(const struct histogram *h)
{
	return LOAD(&h->count);
}

uint64_t histogram_sum(const struct histogram *h)
{
	return LOAD(&h->sum_ns);
}

uint64_t histogram_min(const struct histogram *h)
{
	return LOAD(&h->count) ? LOAD(&h->min_ns) : 0;
}

uint64_t histogram_max(const struct histogram *h)
{
	return LOAD(&h->count) ? LOAD(&h->max_ns) : 0;
}

uint64_t histogram_percentile(const struct histogram *h, double q)
{
	uint64_t total = 0, rank, seen = 0, low, high, mid;
	unsigned int i;

	/* Count from the buckets themselves so a live read stays self-consistent. */
	for (i = 0; i < HISTOGRAM_NR_BUCKETS; i++)
		total += LOAD(&h->buckets[i]);
	if (total == 0)
		return 0;
	if (!(q > 0.0)) /* also catches NaN */
		q = 0.0;
	if (q > 1.0)
		q = 1.0;
	rank = (uint64_t)(q * (double)total);
	if ((double)rank < q * (double)total)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > total)
		rank = total;

	for (i = 0; i < HISTOGRAM_NR_BUCKETS; i++) {
		seen += LOAD(&h->buckets[i]);
		if (seen >= rank)
			break;
	}
	low = histogram_bucket_low(i);
	high = histogram_bucket_high(i);
	mid = low + (high - low) / 2;
	if (LOAD(&h->count)) {
		uint64_t min = LOAD(&h->min_ns), max = LOAD(&h->max_ns);

		if (min <= max) {
			if (mid < min)
				mid = min;
			if (mid > max)
				mid = max;
		}
	}
	return mid;
}
