// SPDX-License-Identifier: MIT
/*
 * lazy_load.c: file bytes land where they were recorded, with zeroes
 * around them, whether read at once or by the loader thread while this
 * thread touches the memory (userfaultfd; those cases skip when it is not
 * allowed here); a file that turns out short is a clear error and never
 * leaves anyone waiting.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "lazy_load.h"

#define MIB (1ull << 20)
#define RAM (16 * MIB)
#define FILE_SIZE (5 * MIB + 12345)

struct fixture {
	struct guest_mem mem;
	uint8_t *file;
	int fd;
	struct lazy_load l;
	char failed[256];
	int nr_failed;
};

static void on_failed(void *opaque, const char *msg)
{
	struct fixture *f = opaque;

	snprintf(f->failed, sizeof(f->failed), "%s", msg);
	f->nr_failed++;
}

static int setup(void **state)
{
	char path[] = "/tmp/kvmini-lazy-XXXXXX";
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fd = mkstemp(path);
	assert_true(f->fd >= 0);
	unlink(path);
	f->file = malloc(FILE_SIZE);
	assert_non_null(f->file);
	for (size_t i = 0; i < FILE_SIZE; i++)
		f->file[i] = (uint8_t)(i * 7 + i / 4096 + 1);
	assert_int_equal(write(f->fd, f->file, FILE_SIZE), FILE_SIZE);
	assert_int_equal(guest_mem_alloc(&f->mem, RAM), 0);
	lazy_load_init(&f->l, &f->mem);
	f->l.failed = on_failed;
	f->l.opaque = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lazy_load_destroy(&f->l);
	guest_mem_free(&f->mem);
	close(f->fd);
	free(f->file);
	free(f);
	return 0;
}

/*
 * Two ranges that share a chunk and start off any chunk boundary, as ELF
 * segments and an initrd do: file [0, 3 MiB + 5) at 1 MiB + 0x123, file
 * [3 MiB + 5, end) right after it, and a second copy of the first 64 KiB
 * at 12 MiB.
 */
#define GPA_A (MIB + 0x123)
#define LEN_A (3 * MIB + 5)
#define GPA_C (12 * MIB)
#define LEN_C (64 * 1024)

static void record(struct fixture *f)
{
	assert_int_equal(lazy_load_add(&f->l, GPA_A, LEN_A, f->fd, 0), 0);
	assert_int_equal(lazy_load_add(&f->l, GPA_A + LEN_A, FILE_SIZE - LEN_A, f->fd, LEN_A), 0);
	assert_int_equal(lazy_load_add(&f->l, GPA_C, LEN_C, f->fd, 0), 0);
}

/* Touches all of RAM from this thread, as a vCPU would. */
static void check_ram(struct fixture *f)
{
	const uint8_t *ram = guest_mem_ptr(&f->mem, 0, RAM);

	for (uint64_t a = 0; a < RAM; a++) {
		uint8_t want = 0;

		if (a >= GPA_A && a < GPA_A + FILE_SIZE)
			want = f->file[a - GPA_A];
		else if (a >= GPA_C && a < GPA_C + LEN_C)
			want = f->file[a - GPA_C];
		if (ram[a] != want)
			fail_msg("guest RAM at 0x%llx: 0x%02x, want 0x%02x", (unsigned long long)a,
				 ram[a], want);
	}
}

static bool userfaultfd_allowed(void)
{
	int fd = (int)syscall(SYS_userfaultfd, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* lazy_load_start() with a loader thread; @go: tell it to start. */
static void start_lazily(struct fixture *f, bool go)
{
	struct error err = { 0 };

	assert_int_equal(lazy_load_start(&f->l, false, &err), 0);
	assert_true(f->l.lazy);
	if (go)
		lazy_load_go(&f->l);
}

static void test_now_reads_everything(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };

	record(f);
	assert_int_equal(lazy_load_now(&f->l, &err), 0);
	assert_false(f->l.lazy);
	/* The chunks at 0, 2, 4 and 6 MiB and the one at 12 MiB. */
	assert_int_equal(f->l.nr_eager, 5);
	assert_true(f->l.done_ns != 0);
	check_ram(f);
}

/* The loader starts once someone waits for a chunk. */
static int wait_for_a_fault(void *opaque, struct error *err)
{
	struct fixture *f = opaque;
	struct pollfd p = { .fd = f->l.uffd, .events = POLLIN };

	return poll(&p, 1, -1) == 1 ? 0 : error_set(err, -errno, "poll");
}

static void test_background_fills_what_is_touched(void **state)
{
	struct fixture *f = *state;
	const volatile uint8_t *ram = guest_mem_ptr(&f->mem, 0, RAM);

	if (!userfaultfd_allowed())
		skip();
	f->l.thread_init = wait_for_a_fault;
	record(f);
	start_lazily(f, true);
	assert_true(f->l.lazy);
	assert_int_equal(f->l.nr_eager, 0);
	/* The last chunk first (this waits for it), then the rest. */
	assert_int_equal(ram[GPA_C + 1], f->file[1]);
	assert_int_equal(atomic_load(&f->l.nr_faults), 1);
	check_ram(f);
	lazy_load_destroy(&f->l);
	assert_true(f->l.done_ns != 0);
	assert_int_equal(f->nr_failed, 0);
}

static void test_written_chunk_is_read_at_once(void **state)
{
	struct fixture *f = *state;
	uint8_t *ram = guest_mem_ptr(&f->mem, 0, RAM);

	if (!userfaultfd_allowed())
		skip();
	record(f);
	/* A boot table in the chunk of the 12 MiB copy, outside the range:
	 * moving a fresh chunk over it would lose it. */
	ram[GPA_C + LEN_C + 10] = 0xab;
	start_lazily(f, true);
	assert_int_equal(f->l.nr_eager, 1);
	assert_int_equal(ram[GPA_C + LEN_C + 10], 0xab);
	ram[GPA_C + LEN_C + 10] = 0;
	check_ram(f);
}

static void test_short_file_now(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };

	assert_int_equal(lazy_load_add(&f->l, 4 * MIB, MIB, f->fd, FILE_SIZE - 100), 0);
	assert_int_equal(lazy_load_now(&f->l, &err), -EIO);
	assert_string_equal(err.msg, "cannot read the file bytes for guest RAM at 0x400000: "
				     "read error or the file is shorter");
}

static void test_short_file_in_background(void **state)
{
	struct fixture *f = *state;
	const volatile uint8_t *ram = guest_mem_ptr(&f->mem, 0, RAM);

	if (!userfaultfd_allowed())
		skip();
	assert_int_equal(lazy_load_add(&f->l, 4 * MIB, MIB, f->fd, FILE_SIZE - 100), 0);
	start_lazily(f, true);
	/* Whoever waited gets zeroes, not a hang; the failure is reported. */
	assert_int_equal(ram[4 * MIB + 200], 0);
	lazy_load_destroy(&f->l);
	assert_int_equal(f->nr_failed, 1);
	assert_string_equal(f->failed, "cannot read the file bytes for guest RAM at 0x400000: "
				       "read error or the file is shorter");
	assert_true(f->l.done_ns == 0);
}

static int failing_init(void *opaque, struct error *err)
{
	return error_set(err, -EPERM, "no filter for you");
}

static void test_thread_init_failure_is_reported(void **state)
{
	struct fixture *f = *state;
	const volatile uint8_t *ram = guest_mem_ptr(&f->mem, 0, RAM);

	if (!userfaultfd_allowed())
		skip();
	f->l.thread_init = failing_init;
	record(f);
	start_lazily(f, true);
	assert_int_equal(ram[GPA_A], 0);
	lazy_load_destroy(&f->l);
	assert_string_equal(f->failed, "no filter for you");
}

static void test_stop_before_done(void **state)
{
	struct fixture *f = *state;

	if (!userfaultfd_allowed())
		skip();
	record(f);
	start_lazily(f, false);
	/* Never told to go: it ends at the stop, having loaded nothing. */
	lazy_load_destroy(&f->l);
	assert_int_equal(f->nr_failed, 0);
	assert_true(f->l.done_ns == 0);
}

static void *touch_chunk(void *arg)
{
	const volatile uint8_t *p = arg;

	return (void *)(uintptr_t)(*p + 1);
}

/* The VM failed to start: nobody said go, a vCPU waits for a chunk. */
static void test_destroy_frees_a_waiter(void **state)
{
	struct fixture *f = *state;
	struct pollfd p;
	pthread_t t;
	void *got;

	if (!userfaultfd_allowed())
		skip();
	record(f);
	start_lazily(f, false);
	assert_int_equal(pthread_create(&t, NULL, touch_chunk, guest_mem_ptr(&f->mem, GPA_C, 1)),
			 0);
	/* Its fault is queued (the loader reads nothing before go). */
	p = (struct pollfd){ .fd = f->l.uffd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, -1), 1);
	lazy_load_destroy(&f->l);
	assert_int_equal(pthread_join(t, &got), 0);
	assert_int_equal((uintptr_t)got, 1); /* a zero, not the file's byte */
}

static void test_add_checks_ranges(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(lazy_load_add(&f->l, RAM - 4096, 8192, f->fd, 0), -EFAULT);
	assert_int_equal(lazy_load_add(&f->l, UINT64_MAX - 10, 100, f->fd, 0), -EFAULT);
	assert_int_equal(lazy_load_add(&f->l, MIB, MIB, f->fd, 0), 0);
	assert_int_equal(lazy_load_add(&f->l, MIB + 4096, 10, f->fd, 0), -EINVAL);
	assert_int_equal(lazy_load_add(&f->l, 0, MIB + 1, f->fd, 0), -EINVAL);
	assert_int_equal(lazy_load_add(&f->l, 0, 0, f->fd, 0), 0); /* nothing to load */
	for (unsigned int i = 1; i < LAZY_LOAD_MAX_RANGES; i++)
		assert_int_equal(lazy_load_add(&f->l, 4 * MIB + i * 8192, 4096, f->fd, 0), 0);
	assert_int_equal(lazy_load_add(&f->l, 8 * MIB, 4096, f->fd, 0), -E2BIG);
	assert_int_equal(lazy_load_add(&f->l, 9 * MIB, 4096, -1, 0), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_now_reads_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background_fills_what_is_touched, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_written_chunk_is_read_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_file_now, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_file_in_background, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_init_failure_is_reported, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_before_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_frees_a_waiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_checks_ranges, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
