// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "stats/exit_stats.h"

static const char uart_name[] = "uart0";

/* The entry for a key, or NULL; plain reads are fine once the writer is done. */
static const struct exit_stats_entry *find(const struct exit_stats_table *t, uint64_t addr,
					   bool write)
{
	unsigned int i;

	for (i = 0; i < exit_stats_nr_entries(t); i++) {
		if (t->entries[i].addr == addr && t->entries[i].write == write)
			return &t->entries[i];
	}
	return NULL;
}

static uint64_t table_total(const struct exit_stats_table *t)
{
	uint64_t total = histogram_count(&t->other.hist);
	unsigned int i;

	for (i = 0; i < exit_stats_nr_entries(t); i++)
		total += histogram_count(&t->entries[i].hist);
	return total;
}

static void test_reason_names(void **state)
{
	assert_string_equal(exit_reason_name(KVM_EXIT_IO), "io");
	assert_string_equal(exit_reason_name(KVM_EXIT_MMIO), "mmio");
	assert_string_equal(exit_reason_name(KVM_EXIT_HLT), "hlt");
	assert_string_equal(exit_reason_name(KVM_EXIT_SHUTDOWN), "shutdown");
	assert_string_equal(exit_reason_name(KVM_EXIT_INTR), "intr");
	assert_string_equal(exit_reason_name(KVM_EXIT_SYSTEM_EVENT), "system_event");
	assert_string_equal(exit_reason_name(KVM_EXIT_INTERNAL_ERROR), "internal_error");
	assert_string_equal(exit_reason_name(KVM_EXIT_FAIL_ENTRY), "fail_entry");
	assert_null(exit_reason_name(EXIT_STATS_NR_REASONS - 1));
	assert_null(exit_reason_name(UINT32_MAX));
}

static void test_pio_one_port(void **state)
{
	struct exit_stats s;
	const struct exit_stats_entry *e;
	int i;

	assert_int_equal(exit_stats_init(&s, 16), 0);
	for (i = 0; i < 1000; i++)
		exit_stats_record_pio(&s, 0x3f8, true, uart_name, 25000 + i);
	e = find(&s.pio, 0x3f8, true);
	assert_non_null(e);
	assert_int_equal(histogram_count(&e->hist), 1000);
	assert_ptr_equal(e->dev, uart_name); /* stored by pointer, not copied */
	assert_null(find(&s.pio, 0x3f8, false));
	assert_int_equal(exit_stats_nr_entries(&s.pio), 1);
	/* One call per exit also counts the reason. */
	assert_int_equal(histogram_count(&s.reasons[KVM_EXIT_IO]), 1000);
	assert_int_equal(exit_stats_total(&s), 1000);
	assert_int_equal(exit_stats_nr_entries(&s.mmio), 0);
	exit_stats_free(&s);
}

static void test_pio_distinct_ports(void **state)
{
	struct exit_stats s;
	unsigned int port;

	assert_int_equal(exit_stats_init(&s, 256), 0);
	/* Port p is hit p % 7 + 1 times each way; 0xffff checks the top port. */
	for (port = 0; port < 100; port++) {
		unsigned int p = port == 99 ? 0xffff : port * 8, n;

		for (n = 0; n < port % 7 + 1; n++) {
			exit_stats_record_pio(&s, p, false, NULL, 10);
			exit_stats_record_pio(&s, p, true, "dev", 20);
		}
	}
	assert_int_equal(exit_stats_nr_entries(&s.pio), 200);
	for (port = 0; port < 100; port++) {
		unsigned int p = port == 99 ? 0xffff : port * 8;
		const struct exit_stats_entry *in = find(&s.pio, p, false);
		const struct exit_stats_entry *out = find(&s.pio, p, true);

		assert_non_null(in);
		assert_non_null(out);
		assert_int_equal(histogram_count(&in->hist), port % 7 + 1);
		assert_int_equal(histogram_count(&out->hist), port % 7 + 1);
		assert_int_equal(histogram_max(&in->hist), 10);
		assert_int_equal(histogram_max(&out->hist), 20);
		assert_null(in->dev);
		assert_string_equal(out->dev, "dev");
	}
	assert_int_equal(histogram_count(&s.pio.other.hist), 0);
	exit_stats_free(&s);
}

static void test_table_overflow(void **state)
{
	struct exit_stats s;
	unsigned int port, i;

	assert_int_equal(exit_stats_init(&s, 4), 0);
	for (i = 0; i < 3; i++) {
		for (port = 0; port < 10; port++)
			exit_stats_record_pio(&s, port, true, NULL, 100);
	}
	assert_int_equal(exit_stats_nr_entries(&s.pio), 4);
	for (port = 0; port < 4; port++)
		assert_int_equal(histogram_count(&find(&s.pio, port, true)->hist), 3);
	assert_null(find(&s.pio, 4, true));
	assert_int_equal(histogram_count(&s.pio.other.hist), 18);
	assert_int_equal(table_total(&s.pio), 30);
	assert_int_equal(exit_stats_total(&s), 30);
	exit_stats_free(&s);

	/* No room at all still counts everything. */
	assert_int_equal(exit_stats_init(&s, 0), 0);
	exit_stats_record_mmio(&s, 0xfee00000, true, NULL, 5);
	assert_int_equal(exit_stats_nr_entries(&s.mmio), 0);
	assert_int_equal(histogram_count(&s.mmio.other.hist), 1);
	assert_int_equal(exit_stats_total(&s), 1);
	exit_stats_free(&s);

	assert_int_equal(exit_stats_init(&s, UINT32_MAX), -EINVAL);
}

static void test_mmio_read_write(void **state)
{
	struct exit_stats s;
	const uint64_t addr = 0xfffffffffffff000ull;
	int i;

	assert_int_equal(exit_stats_init(&s, 8), 0);
	for (i = 0; i < 5; i++)
		exit_stats_record_mmio(&s, addr, false, "hpet", 300);
	for (i = 0; i < 3; i++)
		exit_stats_record_mmio(&s, addr, true, "hpet", 700);
	exit_stats_record_mmio(&s, 0xd0000000, true, NULL, 900);
	assert_int_equal(histogram_count(&find(&s.mmio, addr, false)->hist), 5);
	assert_int_equal(histogram_count(&find(&s.mmio, addr, true)->hist), 3);
	assert_int_equal(histogram_percentile(&find(&s.mmio, addr, true)->hist, 0.5), 700);
	assert_int_equal(histogram_count(&find(&s.mmio, 0xd0000000, true)->hist), 1);
	assert_int_equal(histogram_count(&s.reasons[KVM_EXIT_MMIO]), 9);
	assert_int_equal(exit_stats_nr_entries(&s.pio), 0);
	exit_stats_free(&s);
}

static void test_reasons(void **state)
{
	struct exit_stats s;

	assert_int_equal(exit_stats_init(&s, 8), 0);
	exit_stats_record_exit(&s, KVM_EXIT_HLT, 1000);
	exit_stats_record_exit(&s, KVM_EXIT_HLT, 3000);
	exit_stats_record_exit(&s, EXIT_STATS_NR_REASONS, 1);
	exit_stats_record_exit(&s, UINT32_MAX, 1);
	assert_int_equal(histogram_count(&s.reasons[KVM_EXIT_HLT]), 2);
	assert_int_equal(histogram_sum(&s.reasons[KVM_EXIT_HLT]), 4000);
	assert_int_equal(histogram_count(&s.reasons[EXIT_STATS_REASON_OTHER]), 2);
	assert_int_equal(exit_stats_total(&s), 4);
	exit_stats_free(&s);
}

static void test_merge_and_snapshot(void **state)
{
	struct exit_stats a, b, snap, small;
	unsigned int i;

	assert_int_equal(exit_stats_init(&a, 16), 0);
	assert_int_equal(exit_stats_init(&b, 16), 0);
	for (i = 0; i < 10; i++) {
		exit_stats_record_pio(&a, 0x60 + i, false, "kbd", 50);
		exit_stats_record_pio(&b, 0x60, false, "kbd", 60);
	}
	exit_stats_record_mmio(&b, 0x1000, true, NULL, 1);
	exit_stats_record_exit(&b, KVM_EXIT_HLT, 1);

	assert_int_equal(exit_stats_snapshot(&snap, &a), 0);
	exit_stats_merge(&snap, &b);
	assert_int_equal(exit_stats_total(&snap), 22);
	assert_int_equal(histogram_count(&find(&snap.pio, 0x60, false)->hist), 11);
	assert_string_equal(find(&snap.pio, 0x60, false)->dev, "kbd");
	assert_int_equal(histogram_count(&find(&snap.pio, 0x69, false)->hist), 1);
	assert_int_equal(histogram_count(&find(&snap.mmio, 0x1000, true)->hist), 1);
	assert_int_equal(histogram_count(&snap.reasons[KVM_EXIT_IO]), 20);
	/* The source is untouched. */
	assert_int_equal(exit_stats_total(&a), 10);

	/* A destination too small keeps the totals in "other". */
	assert_int_equal(exit_stats_init(&small, 2), 0);
	exit_stats_merge(&small, &snap);
	assert_int_equal(exit_stats_nr_entries(&small.pio), 2);
	assert_int_equal(table_total(&small.pio), 20);
	assert_int_equal(exit_stats_total(&small), 22);
	exit_stats_free(&small);
	exit_stats_free(&snap);
	exit_stats_free(&a);
	exit_stats_free(&b);
}

#define WRITER_EXITS 200000
#define WRITER_PORTS 300

struct race {
	struct exit_stats s;
	bool reading;
	bool done;
};

static void *writer(void *arg)
{
	struct race *r = arg;
	unsigned int i;

	/* Start only once the reader runs, so the two really overlap. */
	while (!__atomic_load_n(&r->reading, __ATOMIC_ACQUIRE))
		;
	for (i = 0; i < WRITER_EXITS; i++) {
		if (i % 4 == 3)
			exit_stats_record_mmio(&r->s, 0x1000 * (i % 50), i & 1, "m", i % 5000);
		else
			exit_stats_record_pio(&r->s, i % WRITER_PORTS, (i / WRITER_PORTS) & 1, "p",
					      i % 3000);
	}
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void test_concurrent_reader(void **state)
{
	struct race r;
	pthread_t t;
	uint64_t last = 0;
	int snapshots = 0;

	assert_int_equal(exit_stats_init(&r.s, 256), 0);
	r.reading = false;
	r.done = false;
	assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
	do {
		struct exit_stats snap;
		uint64_t total;

		assert_int_equal(exit_stats_snapshot(&snap, &r.s), 0);
		total = exit_stats_total(&snap);
		assert_true(total >= last && total <= WRITER_EXITS);
		assert_true(table_total(&snap.pio) <= WRITER_EXITS);
		last = total;
		exit_stats_free(&snap);
		__atomic_store_n(&r.reading, true, __ATOMIC_RELEASE);
		snapshots++;
	} while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE));
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(snapshots > 0);

	assert_int_equal(exit_stats_total(&r.s), WRITER_EXITS);
	assert_int_equal(table_total(&r.s.pio), WRITER_EXITS / 4 * 3);
	assert_int_equal(table_total(&r.s.mmio), WRITER_EXITS / 4);
	/* 225 ports (those with i % 4 != 3) x 2 directions do not fit in 256 keys. */
	assert_int_equal(exit_stats_nr_entries(&r.s.pio), 256);
	assert_true(histogram_count(&r.s.pio.other.hist) > 0);
	exit_stats_free(&r.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_names),	   cmocka_unit_test(test_pio_one_port),
		cmocka_unit_test(test_pio_distinct_ports), cmocka_unit_test(test_table_overflow),
		cmocka_unit_test(test_mmio_read_write),	   cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_merge_and_snapshot), cmocka_unit_test(test_concurrent_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
