// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest_mem.h"
#include "layout.h"

static void test_small_ram_one_region(void **state)
{
	static uint8_t buf[1 << 20];
	struct guest_mem mem;

	guest_mem_init_buffer(&mem, buf, sizeof(buf));
	assert_int_equal(mem.nr_regions, 1);
	assert_int_equal(guest_mem_low_end(&mem), sizeof(buf));
	assert_ptr_equal(guest_mem_ptr(&mem, 0, sizeof(buf)), buf);
	assert_ptr_equal(guest_mem_ptr(&mem, 100, 10), buf + 100);
	/* Zero length at the very end is fine; one byte past is not. */
	assert_ptr_equal(guest_mem_ptr(&mem, sizeof(buf), 0), buf + sizeof(buf));
	assert_null(guest_mem_ptr(&mem, sizeof(buf), 1));
	assert_null(guest_mem_ptr(&mem, sizeof(buf) - 1, 2));
	assert_null(guest_mem_ptr(&mem, 0, sizeof(buf) + 1));
}

static void test_overflowing_ranges(void **state)
{
	static uint8_t buf[1 << 20];
	struct guest_mem mem;

	guest_mem_init_buffer(&mem, buf, sizeof(buf));
	assert_null(guest_mem_ptr(&mem, 16, UINT64_MAX));
	assert_null(guest_mem_ptr(&mem, UINT64_MAX, 1));
	assert_null(guest_mem_ptr(&mem, UINT64_MAX - 3, 8));
	assert_null(guest_mem_ptr(&mem, 1ULL << 63, 1ULL << 63));
}

static void test_large_ram_splits_around_hole(void **state)
{
	struct guest_mem mem;
	uint64_t ram = 5ULL << 30;
	uint8_t *fake = (uint8_t *)0x10000000; /* never dereferenced */

	guest_mem_init_buffer(&mem, fake, ram);
	assert_int_equal(mem.nr_regions, 2);
	assert_int_equal(guest_mem_low_end(&mem), LAYOUT_PCI_HOLE_START);
	assert_int_equal(mem.regions[1].gpa, LAYOUT_4G);
	assert_int_equal(mem.regions[1].size, ram - LAYOUT_PCI_HOLE_START);
	assert_ptr_equal(guest_mem_ptr(&mem, LAYOUT_4G, 1), fake + LAYOUT_PCI_HOLE_START);
	/* The hole is not RAM, and no range may straddle it. */
	assert_null(guest_mem_ptr(&mem, LAYOUT_PCI_HOLE_START, 1));
	assert_null(guest_mem_ptr(&mem, LAYOUT_IOAPIC_BASE, 4));
	assert_null(guest_mem_ptr(&mem, LAYOUT_PCI_HOLE_START - 4, 8));
	assert_null(guest_mem_ptr(&mem, LAYOUT_4G + ram - LAYOUT_PCI_HOLE_START, 1));
}

static void test_copy_helpers(void **state)
{
	static uint8_t buf[4096];
	struct guest_mem mem;
	uint8_t out[8];

	guest_mem_init_buffer(&mem, buf, sizeof(buf));
	assert_int_equal(guest_mem_write(&mem, 10, "abcdefgh", 8), 0);
	assert_int_equal(guest_mem_read(&mem, 10, out, 8), 0);
	assert_memory_equal(out, "abcdefgh", 8);
	assert_int_equal(guest_mem_write(&mem, 4092, "abcdefgh", 8), -EFAULT);
	assert_int_equal(buf[4092], 0); /* nothing partial was written */
	assert_int_equal(guest_mem_read(&mem, 4095, out, 2), -EFAULT);
	assert_int_equal(guest_mem_fill(&mem, 0, 0x5a, 4096), 0);
	assert_int_equal(buf[4095], 0x5a);
	assert_int_equal(guest_mem_fill(&mem, 1, 0, 4096), -EFAULT);
}

static void test_alloc(void **state)
{
	struct guest_mem mem;

	assert_int_equal(guest_mem_alloc(&mem, 1024), -EINVAL);
	assert_int_equal(guest_mem_alloc(&mem, 64ULL << 20), 0);
	assert_true(mem.owns_mapping);
	assert_non_null(guest_mem_ptr(&mem, (64ULL << 20) - 1, 1));
	assert_int_equal(guest_mem_write(&mem, 0x1000, "x", 1), 0);
	/* KVM can use 2 MiB pages only when host and guest addresses agree mod 2 MiB. */
	assert_int_equal((uintptr_t)guest_mem_ptr(&mem, 0, 1) & ((2u << 20) - 1), 0);
	guest_mem_free(&mem);
	assert_int_equal(mem.nr_regions, 0);
	/* Repeatedly, so a lucky mmap() alignment cannot pass the test. */
	for (int i = 0; i < 8; i++) {
		void *gap =
			mmap(NULL, 4096 * (i + 1), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		assert_int_equal(guest_mem_alloc(&mem, (6ULL << 20) + 4096 * i), 0);
		assert_int_equal((uintptr_t)guest_mem_ptr(&mem, 0, 1) & ((2u << 20) - 1), 0);
		guest_mem_free(&mem);
		munmap(gap, 4096 * (i + 1));
	}
}

static void test_load_file_maps_and_copies(void **state)
{
	char path[] = "/tmp/kvmini-test-XXXXXX";
	int fd = mkstemp(path);
	uint8_t file[3 * 4096 + 100];
	struct guest_mem mem;

	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < sizeof(file); i++)
		file[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(write(fd, file, sizeof(file)), sizeof(file));
	assert_int_equal(guest_mem_alloc(&mem, 4ULL << 20), 0);

	/* Same page offset: the middle pages are mapped, the rest copied. */
	assert_int_equal(guest_mem_load_file(&mem, 0x100000 + 50, file + 50, sizeof(file) - 50, fd,
					     50, GUEST_MEM_MAP),
			 0);
	assert_memory_equal(guest_mem_ptr(&mem, 0x100000 + 50, sizeof(file) - 50), file + 50,
			    sizeof(file) - 50);
	/* Copy-on-write: the guest may write its pages, the file stays. */
	assert_int_equal(guest_mem_write(&mem, 0x101000, "X", 1), 0);
	assert_int_equal(pread(fd, file, 1, 4096), 1);
	assert_int_not_equal(file[0], 'X');

	/* Different page offsets: plain copy. */
	assert_int_equal(guest_mem_load_file(&mem, 0x200001, file, 4096, fd, 0, GUEST_MEM_MAP), 0);
	assert_memory_equal(guest_mem_ptr(&mem, 0x200001, 4096), file, 4096);
	/* Outside RAM: refused before anything is mapped. */
	assert_int_equal(
		guest_mem_load_file(&mem, (4ULL << 20) - 4096, file, 8192, fd, 0, GUEST_MEM_MAP),
		-EFAULT);
	guest_mem_free(&mem);
	close(fd);
}

/* Is any page of [p, p + len) mapped from a file (an inode in /proc/self/maps)? */
static bool file_backed(const void *p, size_t len)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + len;
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, inode;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &start, &end, &inode) == 3 &&
		    start < hi && end > lo && inode != 0)
			found = true;
	}
	fclose(f);
	return found;
}

static void test_load_file_reads(void **state)
{
	char path[] = "/tmp/kvmini-test-XXXXXX";
	int fd = mkstemp(path);
	static uint8_t file[3 * 4096 + 100];
	struct guest_mem mem;
	uint8_t *ram;

	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < sizeof(file); i++)
		file[i] = (uint8_t)(i * 13 + 5);
	assert_int_equal(write(fd, file, sizeof(file)), sizeof(file));
	assert_int_equal(guest_mem_alloc(&mem, 4ULL << 20), 0);
	ram = guest_mem_ptr(&mem, 0x100000, sizeof(file));

	/* Page-aligned on both sides, where GUEST_MEM_MAP would map: read. */
	assert_int_equal(
		guest_mem_load_file(&mem, 0x100000, NULL, sizeof(file), fd, 0, GUEST_MEM_READ), 0);
	assert_memory_equal(ram, file, sizeof(file));
	assert_false(file_backed(ram, sizeof(file)));
	/* The same load mapped is file-backed: the check above can fail. */
	assert_int_equal(
		guest_mem_load_file(&mem, 0x100000, file, sizeof(file), fd, 0, GUEST_MEM_MAP), 0);
	assert_true(file_backed(ram, sizeof(file)));

	/* A file shorter than the segment says: an error, not a partial load. */
	assert_int_equal(
		guest_mem_load_file(&mem, 0x200000, NULL, sizeof(file), fd, 4096, GUEST_MEM_READ),
		-EIO);
	/* Outside RAM: refused before anything is read. */
	assert_int_equal(
		guest_mem_load_file(&mem, (4ULL << 20) - 4096, NULL, 8192, fd, 0, GUEST_MEM_READ),
		-EFAULT);
	guest_mem_free(&mem);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_ram_one_region),
		cmocka_unit_test(test_overflowing_ranges),
		cmocka_unit_test(test_large_ram_splits_around_hole),
		cmocka_unit_test(test_copy_helpers),
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_load_file_maps_and_copies),
		cmocka_unit_test(test_load_file_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
