// SPDX-License-Identifier: MIT
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "guest_mem.h"
#include "x86/boot.h"
#include "x86/layout.h"

#include "fake_guest.h"

#define MIB (1ULL << 20)
#define RAM (32 * MIB)
#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define PAYLOAD 8192
#define IMG_SIZE (SETUP_SIZE + PAYLOAD)
#define ZP LAYOUT_ZERO_PAGE

static uint8_t g8(const struct fake_guest *vm, uint64_t gpa)
{
	return vm->buf[gpa];
}

/* A minimal protocol 2.15 bzImage: relocatable, 2 MiB aligned, 64-bit entry. */
static void make_bzimage(uint8_t *k)
{
	memset(k, 0, IMG_SIZE);
	k[0x1f1] = SETUP_SECTS;
	put_le32(k + 0x1f4, PAYLOAD / 16);
	put_le16(k + 0x1fe, 0xaa55);
	k[0x200] = 0xeb;
	k[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(k + 0x202, "HdrS", 4);
	put_le16(k + 0x206, 0x020f);
	put_le16(k + 0x20e, 0x400 - 0x200);
	strcpy((char *)k + 0x400, "6.1.99-test (builder@host) #1 SMP");
	k[0x211] = 0x00; /* the loader must set LOADED_HIGH itself */
	put_le32(k + 0x22c, 0x7fffffff);
	put_le32(k + 0x230, 0x200000);
	k[0x234] = 1;
	put_le16(k + 0x236, 0x03);
	put_le32(k + 0x238, 0x7ff);
	put_le64(k + 0x258, 0x1000000);
	put_le32(k + 0x260, 0x400000);
	k[0x270] = 0x77; /* past the header's end: must not reach the zero page */
	for (int i = 0; i < PAYLOAD; i++)
		k[SETUP_SIZE + i] = (uint8_t)(i * 7 + 1);
}

static int load(struct fake_guest *vm, const uint8_t *k, size_t size, const uint8_t *initrd,
		size_t initrd_size, const char *cmdline, struct boot_entry *entry,
		struct error *err)
{
	struct boot_image img = {
		.kernel = k,
		.kernel_size = size,
		.initrd = initrd,
		.initrd_size = initrd_size,
		.cmdline = cmdline,
	};

	return fake_guest_load(vm, boot_load_bzimage, &img, entry, err);
}

static void expect_error(struct fake_guest *vm, const uint8_t *k, size_t size, int code,
			 const char *text)
{
	struct boot_image img = { .kernel = k, .kernel_size = size, .cmdline = "console=ttyS0" };

	fake_guest_expect_error(vm, boot_load_bzimage, &img, code, text);
}

static void test_load_normal(void **state)
{
	static uint8_t k[IMG_SIZE];
	uint8_t initrd[65536];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	uint64_t rd;

	fake_guest_init(&vm, RAM);
	make_bzimage(k);
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(load(&vm, k, sizeof(k), initrd, sizeof(initrd), "console=ttyS0 quiet",
			      &entry, &err),
			 0);

	assert_int_equal(entry.mode, BOOT_MODE_LONG64);
	assert_int_equal(entry.rip, 0x200000 + 0x200);
	assert_int_equal(entry.rsi, LAYOUT_ZERO_PAGE);
	assert_int_equal(entry.rbx, 0);
	assert_int_equal(entry.rax, 0);
	assert_non_null(entry.protocol);
	assert_memory_equal(vm.buf + 0x200000, k + SETUP_SIZE, PAYLOAD);

	/* Setup header copied, then the loader's fields. */
	assert_int_equal(g8(&vm, ZP + 0x1f1), SETUP_SECTS);
	assert_memory_equal(vm.buf + ZP + 0x202, "HdrS", 4);
	assert_int_equal(g16(&vm, ZP + 0x206), 0x020f);
	assert_int_equal(g32(&vm, ZP + 0x238), 0x7ff);
	assert_int_equal(g8(&vm, ZP + 0x270), 0);
	assert_int_equal(g8(&vm, ZP + 0x210), 0xff);
	assert_true(g8(&vm, ZP + 0x211) & 0x01);
	assert_int_equal(g32(&vm, ZP + 0x228), LAYOUT_CMDLINE);
	assert_int_equal(g32(&vm, ZP + 0x0c8), 0);
	assert_string_equal((char *)vm.buf + LAYOUT_CMDLINE, "console=ttyS0 quiet");

	/* Initrd: highest page-aligned spot in RAM. */
	rd = g32(&vm, ZP + 0x218);
	assert_int_equal(rd, (RAM - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(g32(&vm, ZP + 0x21c), sizeof(initrd));
	assert_int_equal(g32(&vm, ZP + 0x0c0), 0);
	assert_int_equal(g32(&vm, ZP + 0x0c4), 0);
	assert_memory_equal(vm.buf + rd, initrd, sizeof(initrd));

	/* e820 table at 0x2d0, 20 bytes per entry. */
	assert_int_equal(g8(&vm, ZP + 0x1e8), 4);
	assert_int_equal(g64(&vm, ZP + 0x2d0), 0);
	assert_int_equal(g64(&vm, ZP + 0x2d0 + 8), 0x9fc00);
	assert_int_equal(g32(&vm, ZP + 0x2d0 + 16), E820_RAM);
	assert_int_equal(g64(&vm, ZP + 0x2d0 + 20), 0x9fc00);
	assert_int_equal(g32(&vm, ZP + 0x2d0 + 36), E820_RESERVED);
	assert_int_equal(g64(&vm, ZP + 0x2d0 + 60), 0x100000);
	assert_int_equal(g64(&vm, ZP + 0x2d0 + 68), RAM - 0x100000);
	assert_int_equal(g32(&vm, ZP + 0x2d0 + 76), E820_RAM);
	fake_guest_free(&vm);
}

static void test_no_initrd(void **state)
{
	static uint8_t k[IMG_SIZE];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_bzimage(k);
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, NULL, &entry, &err), 0);
	assert_int_equal(g32(&vm, ZP + 0x218), 0);
	assert_int_equal(g32(&vm, ZP + 0x21c), 0);
	assert_int_equal(g8(&vm, LAYOUT_CMDLINE), 0);
	fake_guest_free(&vm);
}

static void test_setup_sects_zero_means_four(void **state)
{
	static uint8_t k[IMG_SIZE];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_bzimage(k);
	k[0x1f1] = 0;
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, "", &entry, &err), 0);
	assert_memory_equal(vm.buf + 0x200000, k + SETUP_SIZE, PAYLOAD);
	fake_guest_free(&vm);
}

static void test_truncated(void **state)
{
	static uint8_t k[IMG_SIZE];
	const struct {
		size_t size;
		const char *text;
	} cases[] = {
		{ 0, "truncated: setup header past end of file (0 bytes)" },
		{ 0x1f1, "truncated: setup header past end of file" },
		{ 0x205, "truncated: setup header past end of file" },
		{ 0x207, "truncated: boot protocol version past end of file" },
		{ 0x237, "truncated: setup header ends at 0x26c" },
		{ 0x26b, "truncated: setup header ends at 0x26c" },
		{ SETUP_SIZE - 1, "truncated: real-mode setup code (2560 bytes)" },
		{ SETUP_SIZE, "truncated: protected-mode code is 8192 bytes, file has 0" },
		{ IMG_SIZE - 1, "truncated: protected-mode code is 8192 bytes, file has 8191" },
	};
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_bzimage(k);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(&vm, k, cases[i].size, -ENOEXEC, cases[i].text);
	fake_guest_free(&vm);
}

static void test_bad_headers(void **state)
{
	static uint8_t k[IMG_SIZE];
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);

	make_bzimage(k);
	memcpy(k + 0x202, "HdrX", 4);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "HdrS");

	make_bzimage(k);
	put_le16(k + 0x206, 0x020b);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "2.11 is too old");

	make_bzimage(k);
	put_le16(k + 0x236, 0x02);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "XLF_KERNEL_64");

	make_bzimage(k);
	k[0x201] = 0x40; /* header claims to end before init_size */
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "too short");

	make_bzimage(k);
	put_le32(k + 0x1f4, 0);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "syssize");

	make_bzimage(k);
	put_le32(k + 0x1f4, 0xffffffff);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "truncated");

	make_bzimage(k);
	put_le32(k + 0x230, 0x300000);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "power of two");

	make_bzimage(k);
	put_le32(k + 0x230, 0);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "power of two");
	fake_guest_free(&vm);
}

/*
 * The 64-bit entry is 0x200 bytes into the protected-mode code, so shorter
 * code cannot hold it (found by fuzz_bzimage: 16 bytes loaded at the top of
 * RAM put the entry point past the end of RAM).
 */
static void test_code_shorter_than_entry_offset(void **state)
{
	static uint8_t k[IMG_SIZE];
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_bzimage(k);
	k[0x234] = 0;
	put_le64(k + 0x258, RAM - 16);
	put_le32(k + 0x260, 0);
	put_le32(k + 0x1f4, 1);
	expect_error(&vm, k, SETUP_SIZE + 16, -ENOEXEC,
		     "protected-mode code (16 bytes) ends before its 64-bit entry point");

	make_bzimage(k);
	put_le32(k + 0x1f4, 0x200 / 16);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "(512 bytes) ends before its 64-bit entry");
	fake_guest_free(&vm);
}

static void test_load_address(void **state)
{
	static uint8_t k[IMG_SIZE];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);

	/* Not relocatable: pref_address. */
	make_bzimage(k);
	k[0x234] = 0;
	put_le64(k + 0x258, 0x400000);
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, "", &entry, &err), 0);
	assert_int_equal(entry.rip, 0x400200);
	assert_memory_equal(vm.buf + 0x400000, k + SETUP_SIZE, PAYLOAD);

	/* Relocatable with a 16 MiB alignment. */
	make_bzimage(k);
	put_le32(k + 0x230, 0x1000000);
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, "", &entry, &err), 0);
	assert_int_equal(entry.rip, 0x1000200);

	make_bzimage(k);
	k[0x234] = 0;
	put_le64(k + 0x258, 0x10000);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "below 1 MiB");

	make_bzimage(k);
	k[0x234] = 0;
	put_le64(k + 0x258, 0xfffffffffffff000ULL);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "wraps around");

	/* init_size larger than RAM. */
	make_bzimage(k);
	put_le32(k + 0x260, 0xffffffff);
	expect_error(&vm, k, sizeof(k), -ENOMEM, "outside guest RAM (32 MiB)");

	/* A relocatable kernel still runs at pref_address: RAM must reach it. */
	make_bzimage(k);
	put_le64(k + 0x258, 0xfffffffffffff000ULL);
	expect_error(&vm, k, sizeof(k), -ENOEXEC, "wraps around");
	make_bzimage(k);
	put_le64(k + 0x258, 0x1e00000);
	expect_error(&vm, k, sizeof(k), -ENOMEM, "outside guest RAM");
	fake_guest_free(&vm);
}

static void test_initrd_placement(void **state)
{
	static uint8_t k[IMG_SIZE];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	uint8_t *initrd = calloc(1, 12 * MIB + 1);
	uint64_t rd;

	assert_non_null(initrd);
	fake_guest_init(&vm, RAM);

	/* initrd_addr_max caps the placement. */
	make_bzimage(k);
	put_le32(k + 0x22c, 0x1dfffff);
	assert_int_equal(load(&vm, k, sizeof(k), initrd, MIB + 1, "", &entry, &err), 0);
	rd = g32(&vm, ZP + 0x218);
	assert_int_equal(rd & 0xfff, 0);
	assert_true(rd + MIB + 1 <= 0x1e00000);
	assert_true(rd >= 0x1400000); /* above pref_address 16 MiB + init_size 4 MiB */

	/* The kernel's working area ends at 20 MiB: 12 MiB of initrd fit exactly, no more. */
	make_bzimage(k);
	assert_int_equal(load(&vm, k, sizeof(k), initrd, 12 * MIB + 1, "", &entry, &err), -ENOMEM);
	assert_string_equal(err.msg, "kernel and initrd (33 MiB) do not fit in 32 MiB of RAM");
	assert_int_equal(load(&vm, k, sizeof(k), initrd, 12 * MIB, "", &entry, &err), 0);
	assert_int_equal(g32(&vm, ZP + 0x218), 20 * MIB);

	make_bzimage(k);
	put_le32(k + 0x22c, 0x17fffff);
	assert_int_equal(load(&vm, k, sizeof(k), initrd, 8 * MIB, "", &entry, &err), -ENOMEM);
	assert_non_null(strstr(err.msg, "initrd limit"));

	/* A hostile size must not wrap any sum. */
	make_bzimage(k);
	assert_int_equal(load(&vm, k, sizeof(k), initrd, SIZE_MAX, "", &entry, &err), -ENOMEM);
	assert_non_null(strstr(err.msg, "do not fit in 32 MiB"));
	fake_guest_free(&vm);
	free(initrd);
}

static void test_cmdline_limits(void **state)
{
	static uint8_t k[IMG_SIZE];
	static char line[LAYOUT_CMDLINE_MAX + 16];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_bzimage(k);
	memset(line, 'a', 0x7ff);
	line[0x7ff] = '\0';
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, line, &entry, &err), 0);
	assert_int_equal(strlen((char *)vm.buf + LAYOUT_CMDLINE), 0x7ff);

	line[0x7ff] = 'b';
	line[0x800] = '\0';
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, line, &entry, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "command line is too long: 2048 bytes"));

	/* The kernel may accept more than kvmini's 64 KiB area. */
	put_le32(k + 0x238, 0xffffffff);
	memset(line, 'c', LAYOUT_CMDLINE_MAX);
	line[LAYOUT_CMDLINE_MAX] = '\0';
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, line, &entry, &err), -E2BIG);
	line[LAYOUT_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(load(&vm, k, sizeof(k), NULL, 0, line, &entry, &err), 0);
	fake_guest_free(&vm);
}

static void test_detect_and_dispatch(void **state)
{
	static uint8_t k[IMG_SIZE];
	struct boot_image img = { .kernel = k, .kernel_size = sizeof(k), .cmdline = "" };
	struct boot_entry entry;
	struct error err = { 0 };
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_bzimage(k);
	assert_int_equal(kernel_detect(k, sizeof(k)), KERNEL_BZIMAGE);
	assert_int_equal(boot_load(&vm.mem, &img, &entry, &err), 0);
	assert_int_equal(entry.rip, 0x200200);

	assert_int_equal(kernel_detect(k, 0x205), KERNEL_UNKNOWN);
	memset(k, 0x90, sizeof(k));
	assert_int_equal(kernel_detect(k, sizeof(k)), KERNEL_UNKNOWN);
	assert_int_equal(boot_load(&vm.mem, &img, &entry, &err), -ENOEXEC);
	assert_string_equal(err.msg, "not a kernel: no bzImage header, ELF or Multiboot signature");
	assert_int_equal(kernel_detect(NULL, 0), KERNEL_UNKNOWN);
	fake_guest_free(&vm);
}

static void test_release(void **state)
{
	static uint8_t k[IMG_SIZE];
	char buf[64];

	make_bzimage(k);
	assert_int_equal(bzimage_release(k, sizeof(k), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "6.1.99-test");
	assert_int_equal(bzimage_release(k, sizeof(k), buf, 11), -ENOSPC);
	assert_int_equal(bzimage_release(k, sizeof(k), buf, 12), 0);

	/* The string may run to the end of the file. */
	assert_int_equal(bzimage_release(k, 0x404, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "6.1.");

	put_le16(k + 0x20e, 0);
	assert_int_equal(bzimage_release(k, sizeof(k), buf, sizeof(buf)), -ENOENT);
	put_le16(k + 0x20e, 0xffff);
	assert_int_equal(bzimage_release(k, sizeof(k), buf, sizeof(buf)), -ENOENT);
	put_le16(k + 0x20e, 0x200);
	assert_int_equal(bzimage_release(k, 0x300, buf, sizeof(buf)), -ENOENT);

	make_bzimage(k);
	memcpy(k + 0x202, "HdrX", 4);
	assert_int_equal(bzimage_release(k, sizeof(k), buf, sizeof(buf)), -ENOENT);
	assert_int_equal(bzimage_release(k, 0x100, buf, sizeof(buf)), -ENOENT);
}

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = len > 0 ? malloc(len) : NULL;
	if (data && fread(data, 1, len, f) != (size_t)len) {
		free(data);
		data = NULL;
	}
	fclose(f);
	*size = (size_t)len;
	return data;
}

static void test_real_debian_kernel(void **state)
{
	uint8_t initrd[8192] = { 1, 2, 3 };
	struct boot_image img = { .initrd = initrd,
				  .initrd_size = sizeof(initrd),
				  .cmdline = "console=ttyS0 panic=-1" };
	struct boot_entry entry;
	struct error err = { 0 };
	uint64_t load_addr, runtime, rd;
	uint32_t align;
	size_t size = 0, setup;
	uint8_t *k = NULL;
	struct fake_guest vm;
	glob_t g;
	char rel[64];

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) == 0 && g.gl_pathc > 0)
		k = read_file(g.gl_pathv[0], &size);
	if (g.gl_pathc)
		globfree(&g);
	if (!k)
		skip();

	assert_int_equal(kernel_detect(k, size), KERNEL_BZIMAGE);
	assert_int_equal(bzimage_release(k, size, rel, sizeof(rel)), 0);
	assert_memory_equal(rel, "6.1", 3);

	fake_guest_init(&vm, 256 * MIB);
	img.kernel = k;
	img.kernel_size = size;
	if (boot_load(&vm.mem, &img, &entry, &err) != 0)
		fail_msg("%s", err.msg);

	/* Debian's kernel is relocatable; expectations follow its own header. */
	assert_true(k[0x234]);
	memcpy(&align, k + 0x230, 4);
	load_addr = (0x100000 + align - 1) & ~(uint64_t)(align - 1);
	setup = ((k[0x1f1] ? k[0x1f1] : 4) + 1) * 512;
	assert_int_equal(entry.mode, BOOT_MODE_LONG64);
	assert_int_equal(entry.rip, load_addr + 0x200);
	assert_int_equal(entry.rsi, LAYOUT_ZERO_PAGE);
	assert_memory_equal(vm.buf + load_addr, k + setup, 4096);

	assert_memory_equal(vm.buf + ZP + 0x202, "HdrS", 4);
	assert_true(g16(&vm, ZP + 0x206) >= 0x020c);
	assert_int_equal(g8(&vm, ZP + 0x210), 0xff);
	assert_true(g8(&vm, ZP + 0x211) & 1);
	assert_int_equal(g32(&vm, ZP + 0x228), LAYOUT_CMDLINE);
	assert_string_equal((char *)vm.buf + LAYOUT_CMDLINE, "console=ttyS0 panic=-1");
	assert_int_equal(g8(&vm, ZP + 0x1e8), 4);
	runtime = g64(&vm, ZP + 0x258) > load_addr ? g64(&vm, ZP + 0x258) : load_addr;
	rd = g32(&vm, ZP + 0x218);
	assert_int_equal(rd, 256 * MIB - sizeof(initrd));
	assert_true(rd >= runtime + g32(&vm, ZP + 0x260));
	assert_int_equal(g32(&vm, ZP + 0x21c), sizeof(initrd));
	assert_memory_equal(vm.buf + rd, initrd, sizeof(initrd));

	/* The same kernel in too little RAM is refused, not half-loaded. */
	fake_guest_free(&vm);
	fake_guest_init(&vm, 64 * MIB);
	assert_int_equal(boot_load(&vm.mem, &img, &entry, &err), -ENOMEM);
	assert_non_null(strstr(err.msg, "64 MiB"));
	fake_guest_free(&vm);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_normal),
		cmocka_unit_test(test_no_initrd),
		cmocka_unit_test(test_setup_sects_zero_means_four),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_code_shorter_than_entry_offset),
		cmocka_unit_test(test_load_address),
		cmocka_unit_test(test_initrd_placement),
		cmocka_unit_test(test_cmdline_limits),
		cmocka_unit_test(test_detect_and_dispatch),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_real_debian_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
