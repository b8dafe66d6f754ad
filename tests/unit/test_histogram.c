// SPDX-License-Identifier: MIT
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "stats/histogram.h"

static struct histogram *new_hist(void)
{
	struct histogram *h = malloc(sizeof(*h));

	assert_non_null(h);
	histogram_init(h);
	return h;
}

/* |got - want| within the bucket error bound (1/16 of the value). */
static void assert_near(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;

	if (diff * 16 > want) {
		fail_msg("got %llu, want %llu +- 6.25%%", (unsigned long long)got,
			 (unsigned long long)want);
	}
}

static void test_geometry(void **state)
{
	uint64_t v;
	unsigned int i, prev = 0;

	/* Small values have a bucket each. */
	for (v = 0; v < 32; v++) {
		assert_int_equal(histogram_bucket_index(v), v);
		assert_int_equal(histogram_bucket_low(v), v);
		assert_int_equal(histogram_bucket_high(v), v);
	}
	assert_int_equal(histogram_bucket_index(UINT64_MAX), HISTOGRAM_NR_BUCKETS - 1);
	assert_true(histogram_bucket_high(HISTOGRAM_NR_BUCKETS - 1) == UINT64_MAX);

	/* Buckets tile the range without gaps and stay narrow. */
	for (i = 1; i < HISTOGRAM_NR_BUCKETS; i++) {
		assert_true(histogram_bucket_low(i) == histogram_bucket_high(i - 1) + 1);
		assert_true((histogram_bucket_high(i) - histogram_bucket_low(i)) * 16 <=
			    histogram_bucket_low(i));
	}
	for (v = 1; v && v < UINT64_MAX / 3; v = v * 3 + 1) {
		i = histogram_bucket_index(v);
		assert_true(histogram_bucket_low(i) <= v && v <= histogram_bucket_high(i));
		assert_true(i >= prev);
		prev = i;
	}
}

static void test_empty(void **state)
{
	struct histogram *h = new_hist();

	assert_int_equal(histogram_count(h), 0);
	assert_int_equal(histogram_percentile(h, 0.5), 0);
	assert_int_equal(histogram_percentile(h, 0.99), 0);
	assert_int_equal(histogram_min(h), 0);
	assert_int_equal(histogram_max(h), 0);
	free(h);
}

static void test_single_value(void **state)
{
	struct histogram *h = new_hist();

	histogram_record(h, 123457);
	assert_int_equal(histogram_count(h), 1);
	/* The bucket midpoint is clamped to min/max, so a lone value is exact. */
	assert_int_equal(histogram_percentile(h, 0.5), 123457);
	assert_int_equal(histogram_percentile(h, 0.99), 123457);
	assert_int_equal(histogram_percentile(h, 0.0), 123457);
	assert_int_equal(histogram_min(h), 123457);
	assert_int_equal(histogram_max(h), 123457);
	free(h);
}

static void test_uniform_1_to_1000(void **state)
{
	struct histogram *h = new_hist();
	uint64_t v;

	for (v = 1; v <= 1000; v++)
		histogram_record(h, v);
	assert_int_equal(histogram_count(h), 1000);
	assert_int_equal(histogram_sum(h), 500500);
	assert_near(histogram_percentile(h, 0.5), 500);
	assert_near(histogram_percentile(h, 0.99), 990);
	assert_near(histogram_percentile(h, 0.9), 900);
	assert_int_equal(histogram_percentile(h, 0.0), 1);
	assert_int_equal(histogram_percentile(h, 1.0), 1000);
	assert_int_equal(histogram_percentile(h, 0.001), 1);
	assert_int_equal(histogram_min(h), 1);
	assert_int_equal(histogram_max(h), 1000);
	free(h);
}

static void test_skewed(void **state)
{
	struct histogram *h = new_hist();
	int i;

	/* 98 fast exits at 25 us, 2 slow ones at 5 ms: p99 must see the tail. */
	for (i = 0; i < 98; i++)
		histogram_record(h, 25000);
	histogram_record(h, 5000000);
	histogram_record(h, 5000000);
	assert_near(histogram_percentile(h, 0.5), 25000);
	assert_near(histogram_percentile(h, 0.98), 25000);
	assert_int_equal(histogram_percentile(h, 0.99), 5000000);
	free(h);
}

static void test_small_values_exact(void **state)
{
	struct histogram *h = new_hist();
	uint64_t v;

	for (v = 0; v < 16; v++)
		histogram_record(h, v);
	/* The k-th smallest of 16 is at quantile k/16. */
	for (v = 0; v < 16; v++)
		assert_int_equal(histogram_percentile(h, (double)(v + 1) / 16), v);
	free(h);
}

static void test_hostile_quantiles(void **state)
{
	struct histogram *h = new_hist();

	histogram_record(h, 10);
	histogram_record(h, 20);
	assert_int_equal(histogram_percentile(h, -1.0), 10);
	assert_int_equal(histogram_percentile(h, NAN), 10);
	assert_int_equal(histogram_percentile(h, 7.0), 20);
	/* Extreme values do not overflow the buckets. */
	histogram_record(h, UINT64_MAX);
	histogram_record(h, 0);
	/* The top bucket's midpoint, not beyond: no wrap-around. */
	assert_true(histogram_percentile(h, 1.0) >= histogram_bucket_low(HISTOGRAM_NR_BUCKETS - 1));
	assert_int_equal(histogram_percentile(h, 0.0), 0);
	assert_int_equal(histogram_count(h), 4);
	free(h);
}

static void test_merge(void **state)
{
	struct histogram *whole = new_hist(), *a = new_hist(), *b = new_hist();
	struct histogram *sum = new_hist();
	uint64_t v;
	unsigned int i;

	for (v = 1; v <= 5000; v += 7) {
		histogram_record(whole, v * 13);
		histogram_record(v % 2 ? a : b, v * 13);
	}
	histogram_merge(sum, a); /* into an empty one: takes min and max over */
	histogram_merge(sum, b);
	assert_int_equal(histogram_count(sum), histogram_count(whole));
	assert_int_equal(histogram_sum(sum), histogram_sum(whole));
	assert_int_equal(histogram_min(sum), histogram_min(whole));
	assert_int_equal(histogram_max(sum), histogram_max(whole));
	for (i = 0; i < HISTOGRAM_NR_BUCKETS; i++)
		assert_int_equal(sum->buckets[i], whole->buckets[i]);
	assert_int_equal(histogram_percentile(sum, 0.5), histogram_percentile(whole, 0.5));

	/* Merging an empty histogram changes nothing, min included. */
	histogram_init(a);
	histogram_merge(sum, a);
	assert_int_equal(histogram_count(sum), histogram_count(whole));
	assert_int_equal(histogram_min(sum), 13);
	free(whole);
	free(a);
	free(b);
	free(sum);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_value),
		cmocka_unit_test(test_uniform_1_to_1000),
		cmocka_unit_test(test_skewed),
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_hostile_quantiles),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
