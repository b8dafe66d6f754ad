// SPDX-License-Identifier: MIT
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
#define IMG_SIZE 0x3000
#define HDR_OFF 0x40
#define MB_MAGIC 0x1badb002U
#define MB_AOUT (1U << 16)
#define INFO LAYOUT_START_INFO

static uint8_t img[IMG_SIZE];

static void put_header(size_t off, uint32_t flags)
{
	put_le32(img + off, MB_MAGIC);
	put_le32(img + off + 4, flags);
	put_le32(img + off + 8, (uint32_t)(0U - MB_MAGIC - flags));
}

/*
 * A raw binary loaded with the a.out kludge: file offset 0 is 1 MiB, 8 KiB
 * are loaded, bss runs to 0x104000, entry at 0x100080.
 */
static void make_aout(uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 11 + 3);
	put_header(HDR_OFF, MB_AOUT | 0x3);
	put_le32(img + HDR_OFF + 12, 0x100000 + HDR_OFF);
	put_le32(img + HDR_OFF + 16, 0x100000);
	put_le32(img + HDR_OFF + 20, load_end);
	put_le32(img + HDR_OFF + 24, bss_end);
	put_le32(img + HDR_OFF + 28, entry);
}

static void make_default_aout(void)
{
	make_aout(0x102000, 0x104000, 0x100080);
}

/* An ELF with one PT_LOAD (file 0x1000..0x2000 -> 1 MiB, 8 KiB in memory) and a header inside. */
static void make_elf(bool is64, uint64_t vaddr, uint64_t entry, uint32_t flags)
{
	memset(img, 0, sizeof(img));
	if (is64) {
		Elf64_Ehdr eh = { .e_type = ET_EXEC,
				  .e_machine = EM_X86_64,
				  .e_version = EV_CURRENT,
				  .e_entry = entry,
				  .e_phoff = 64,
				  .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf64_Phdr),
				  .e_phnum = 1 };
		Elf64_Phdr ph = { .p_type = PT_LOAD,
				  .p_offset = 0x1000,
				  .p_vaddr = vaddr,
				  .p_paddr = 0x100000,
				  .p_filesz = 0x1000,
				  .p_memsz = 0x2000 };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		memcpy(img + 64, &ph, sizeof(ph));
	} else {
		Elf32_Ehdr eh = { .e_type = ET_EXEC,
				  .e_machine = EM_386,
				  .e_version = EV_CURRENT,
				  .e_entry = (uint32_t)entry,
				  .e_phoff = 64,
				  .e_ehsize = sizeof(eh),
				  .e_phentsize = sizeof(Elf32_Phdr),
				  .e_phnum = 1 };
		Elf32_Phdr ph = { .p_type = PT_LOAD,
				  .p_offset = 0x1000,
				  .p_vaddr = (uint32_t)vaddr,
				  .p_paddr = 0x100000,
				  .p_filesz = 0x1000,
				  .p_memsz = 0x2000 };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		memcpy(img + 64, &ph, sizeof(ph));
	}
	for (size_t i = 0x1000; i < 0x2000; i++)
		img[i] = (uint8_t)(i * 5 + 1);
	put_header(0x1000, flags);
}

static int load(struct fake_guest *vm, size_t size, const uint8_t *initrd, size_t initrd_size,
		const char *cmdline, const char *name, struct boot_entry *entry, struct error *err)
{
	struct boot_image bi = {
		.kernel = img,
		.kernel_size = size,
		.initrd = initrd,
		.initrd_size = initrd_size,
		.cmdline = cmdline,
		.initrd_name = name,
	};

	return fake_guest_load(vm, boot_load_multiboot, &bi, entry, err);
}

static void expect_error(struct fake_guest *vm, size_t size, int code, const char *text)
{
	struct boot_image bi = { .kernel = img, .kernel_size = size, .cmdline = "" };

	fake_guest_expect_error(vm, boot_load_multiboot, &bi, code, text);
}

static void check_mmap(const struct fake_guest *vm)
{
	uint64_t m = g32(vm, INFO + 48);

	assert_true(g32(vm, INFO) & (1U << 6));
	assert_int_equal(g32(vm, INFO + 44), 4 * 24);
	/* Each entry: size (20, not counting itself), base, length, type. */
	assert_int_equal(g32(vm, m), 20);
	assert_int_equal(g64(vm, m + 4), 0);
	assert_int_equal(g64(vm, m + 12), 0x9fc00);
	assert_int_equal(g32(vm, m + 20), 1);
	assert_int_equal(g32(vm, m + 24), 20);
	assert_int_equal(g64(vm, m + 28), 0x9fc00);
	assert_int_equal(g64(vm, m + 36), 0x400);
	assert_int_equal(g32(vm, m + 44), 2);
	assert_int_equal(g64(vm, m + 72 + 4), 0x100000);
	assert_int_equal(g64(vm, m + 72 + 12), RAM - 0x100000);
	assert_int_equal(g32(vm, m + 72 + 20), 1);
}

static void test_aout_kludge(void **state)
{
	uint8_t initrd[5000];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	uint64_t mod;

	fake_guest_init(&vm, RAM);
	memset(vm.buf + 0x100000, 0xaa, 0x6000);
	memset(initrd, 0x61, sizeof(initrd));
	make_default_aout();
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_MULTIBOOT);
	assert_int_equal(
		load(&vm, sizeof(img), initrd, sizeof(initrd), "kernel arg=1", NULL, &entry, &err),
		0);

	assert_int_equal(entry.mode, BOOT_MODE_PROT32);
	assert_int_equal(entry.rip, 0x100080);
	assert_int_equal(entry.rax, 0x2badb002);
	assert_int_equal(entry.rbx, LAYOUT_START_INFO);
	assert_int_equal(entry.rsi, 0);
	assert_string_equal(entry.protocol, "Multiboot");
	assert_memory_equal(vm.buf + 0x100000, img, 0x2000);
	for (uint64_t a = 0x102000; a < 0x104000; a++)
		assert_int_equal(vm.buf[a], 0);

	/* flags: MEM, CMDLINE, MODS, MMAP, BOOT_LOADER_NAME */
	assert_int_equal(g32(&vm, INFO), 0x24d);
	assert_int_equal(g32(&vm, INFO + 4), 639);
	assert_int_equal(g32(&vm, INFO + 8), (RAM - MIB) / 1024);
	assert_int_equal(g32(&vm, INFO + 16), LAYOUT_CMDLINE);
	assert_string_equal((char *)vm.buf + LAYOUT_CMDLINE, "kernel arg=1");
	assert_int_equal(g32(&vm, INFO + 20), 1);
	mod = g32(&vm, INFO + 24);
	assert_int_equal(g32(&vm, mod), 0x104000); /* first page after bss */
	assert_int_equal(g32(&vm, mod + 4), 0x104000 + sizeof(initrd));
	assert_string_equal((char *)vm.buf + g32(&vm, mod + 8), "initrd");
	assert_memory_equal(vm.buf + 0x104000, initrd, sizeof(initrd));
	check_mmap(&vm);
	assert_string_equal((char *)vm.buf + g32(&vm, INFO + 64), "kvmini");
	/* The module list and the memory map must not overlap. */
	assert_true(g32(&vm, INFO + 48) >= mod + 16 || g32(&vm, INFO + 48) + 96 <= mod);
	fake_guest_free(&vm);
}

static void test_aout_whole_file(void **state)
{
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	/* load_end_addr 0: the rest of the file; bss_end_addr 0: no bss. */
	make_aout(0, 0, 0x102ff0);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, NULL, NULL, &entry, &err), 0);
	assert_memory_equal(vm.buf + 0x100000, img, sizeof(img));
	assert_int_equal(entry.rip, 0x102ff0);
	/* No initrd: MODS set with zero modules. */
	assert_int_equal(g32(&vm, INFO + 20), 0);
	assert_true(g32(&vm, INFO) & (1U << 3));
	assert_string_equal((char *)vm.buf + LAYOUT_CMDLINE, "");
	fake_guest_free(&vm);
}

static void test_aout_errors(void **state)
{
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);

	make_default_aout();
	put_le32(img + HDR_OFF + 16, 0x100000 + HDR_OFF + 4);
	expect_error(&vm, sizeof(img), -ENOEXEC, "load_addr 0x100044 is above header_addr");

	make_default_aout();
	put_le32(img + HDR_OFF + 16, 0x100000 - 0x1000);
	expect_error(&vm, sizeof(img), -ENOEXEC, "before the start of the file");

	make_aout(0x104000, 0x104000, 0x100080);
	expect_error(&vm, sizeof(img), -ENOEXEC, "load_end_addr 0x104000 is past end of file");

	make_aout(0x100020, 0, 0x100010);
	expect_error(&vm, sizeof(img), -ENOEXEC, "does not cover the header");

	make_aout(0x102000, 0x101000, 0x100080);
	expect_error(&vm, sizeof(img), -ENOEXEC, "bss_end_addr 0x101000 is below");

	make_aout(0x102000, 0x104000, 0x102000);
	expect_error(&vm, sizeof(img), -ENOEXEC, "entry_addr 0x102000 is outside");
	make_aout(0x102000, 0x104000, 0xfffff);
	expect_error(&vm, sizeof(img), -ENOEXEC, "entry_addr 0xfffff is outside");

	/* Below 1 MiB and outside RAM. */
	make_default_aout();
	put_le32(img + HDR_OFF + 12, 0x80000 + HDR_OFF);
	put_le32(img + HDR_OFF + 16, 0x80000);
	put_le32(img + HDR_OFF + 20, 0x82000);
	put_le32(img + HDR_OFF + 24, 0);
	put_le32(img + HDR_OFF + 28, 0x80000);
	expect_error(&vm, sizeof(img), -ENOEXEC, "below 1 MiB");

	make_default_aout();
	put_le32(img + HDR_OFF + 24, 0xffffffff);
	expect_error(&vm, sizeof(img), -ENOMEM,
		     "Multiboot kernel image [0x100000-0xffffffff) is outside guest RAM (32 MiB)");

	/* Address fields cut off by the end of the file. */
	make_default_aout();
	expect_error(&vm, HDR_OFF + 20, -ENOEXEC, "address fields past end of file");

	/* Neither ELF nor a.out kludge. */
	make_default_aout();
	put_header(HDR_OFF, 0x3);
	expect_error(&vm, sizeof(img), -ENOEXEC, "not ELF and has no address fields");
	fake_guest_free(&vm);
}

static void test_elf32(void **state)
{
	uint8_t initrd[3000];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	uint64_t mod;

	fake_guest_init(&vm, RAM);
	memset(initrd, 0x7e, sizeof(initrd));
	make_elf(false, 0x100000, 0x100010, 0x3);
	/* Multiboot wins over plain ELF. */
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_MULTIBOOT);
	assert_int_equal(
		load(&vm, sizeof(img), initrd, sizeof(initrd), "a", "rootfs.cpio", &entry, &err),
		0);
	assert_int_equal(entry.mode, BOOT_MODE_PROT32);
	assert_int_equal(entry.rip, 0x100010);
	assert_int_equal(entry.rax, 0x2badb002);
	assert_memory_equal(vm.buf + 0x100000, img + 0x1000, 0x1000);
	mod = g32(&vm, INFO + 24);
	assert_int_equal(g32(&vm, mod), 0x102000);
	assert_string_equal((char *)vm.buf + g32(&vm, mod + 8), "rootfs.cpio");
	check_mmap(&vm);
	fake_guest_free(&vm);
}

static void test_elf64_higher_half(void **state)
{
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_elf(true, 0xffffffff80100000ULL, 0xffffffff80100020ULL, 0x2);
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_MULTIBOOT);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", NULL, &entry, &err), 0);
	assert_int_equal(entry.rip, 0x100020);

	/* ELF errors surface through the Multiboot loader too. */
	make_elf(true, 0xffffffff80100000ULL, 0xffffffff90000000ULL, 0x2);
	expect_error(&vm, sizeof(img), -ENOEXEC, "not inside any loaded segment");
	make_elf(false, 0x100000, 0x100010, 0x3);
	expect_error(&vm, 0x1800, -ENOEXEC, "past end of file");
	fake_guest_free(&vm);
}

static void test_checksum_and_search(void **state)
{
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);

	make_default_aout();
	put_le32(img + HDR_OFF + 8, 0x12345678);
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_UNKNOWN);
	expect_error(&vm, sizeof(img), -ENOEXEC,
		     "Multiboot header at offset 0x40 has a bad checksum");

	make_elf(false, 0x100000, 0x100010, 0x3);
	put_le32(img + 0x1008, 0);
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_ELF);

	memset(img, 0, sizeof(img));
	expect_error(&vm, sizeof(img), -ENOEXEC, "no Multiboot header");
	assert_int_equal(load(&vm, 0, NULL, 0, "", NULL, &entry, &err), -ENOEXEC);

	/* Headers must be 4-byte aligned. */
	memset(img, 0, sizeof(img));
	put_header(0x42, 0);
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_UNKNOWN);
	fake_guest_free(&vm);
}

static void test_8k_window(void **state)
{
	static uint8_t big[0x4000];

	memset(big, 0, sizeof(big));
	/* Entirely inside the first 8 KiB: found. */
	memcpy(big + 8192 - 12, (uint32_t[]){ MB_MAGIC, 0, 0U - MB_MAGIC }, 12);
	assert_int_equal(kernel_detect(big, sizeof(big)), KERNEL_MULTIBOOT);
	/* Straddling or past the limit: not found. */
	memset(big, 0, sizeof(big));
	memcpy(big + 8192 - 8, (uint32_t[]){ MB_MAGIC, 0, 0U - MB_MAGIC }, 12);
	assert_int_equal(kernel_detect(big, sizeof(big)), KERNEL_UNKNOWN);
	memset(big, 0, sizeof(big));
	memcpy(big + 8192, (uint32_t[]){ MB_MAGIC, 0, 0U - MB_MAGIC }, 12);
	assert_int_equal(kernel_detect(big, sizeof(big)), KERNEL_UNKNOWN);
	/* A header cut by the end of the file is not a header. */
	memset(big, 0, sizeof(big));
	memcpy(big + 16, (uint32_t[]){ MB_MAGIC, 0, 0U - MB_MAGIC }, 12);
	assert_int_equal(kernel_detect(big, 27), KERNEL_UNKNOWN);
	assert_int_equal(kernel_detect(big, 28), KERNEL_MULTIBOOT);
}

static void test_required_flags(void **state)
{
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_default_aout();
	put_header(HDR_OFF, MB_AOUT | 0x8 | 0x3);
	expect_error(&vm, sizeof(img), -ENOEXEC, "(flags 0x8)");
	put_header(HDR_OFF, MB_AOUT | 0x8000);
	expect_error(&vm, sizeof(img), -ENOEXEC, "(flags 0x8000)");

	/* Video mode is a request we may ignore; bits above 16 are optional. */
	put_header(HDR_OFF, MB_AOUT | 0x7 | (1U << 20));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", NULL, &entry, &err), 0);
	fake_guest_free(&vm);
}

static void test_limits(void **state)
{
	static char long_text[LAYOUT_CMDLINE_MAX + 1];
	uint8_t *initrd = calloc(1, RAM);
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	assert_non_null(initrd);
	fake_guest_init(&vm, RAM);
	make_default_aout();
	/* Kernel ends at 0x104000. */
	assert_int_equal(load(&vm, sizeof(img), initrd, RAM - 0x104000 + 1, "", NULL, &entry, &err),
			 -ENOMEM);
	assert_string_equal(err.msg, "kernel and initrd (33 MiB) do not fit in 32 MiB of RAM");
	assert_int_equal(load(&vm, sizeof(img), initrd, RAM - 0x104000, "", NULL, &entry, &err), 0);
	assert_int_equal(load(&vm, sizeof(img), initrd, SIZE_MAX, "", NULL, &entry, &err), -ENOMEM);

	memset(long_text, 'n', LAYOUT_CMDLINE_MAX);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, long_text, NULL, &entry, &err), -E2BIG);
	assert_int_equal(load(&vm, sizeof(img), initrd, 1, "", long_text, &entry, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "initrd name"));
	fake_guest_free(&vm);
	free(initrd);
}

static void test_dispatch(void **state)
{
	struct boot_image bi = { .kernel = img, .kernel_size = sizeof(img), .cmdline = "" };
	struct boot_entry entry;
	struct error err = { 0 };
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	make_elf(false, 0x100000, 0x100010, 0x3);
	assert_int_equal(boot_load(&vm.mem, &bi, &entry, &err), 0);
	assert_int_equal(entry.rax, 0x2badb002);
	assert_int_equal(entry.rip, 0x100010);
	fake_guest_free(&vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aout_kludge),
		cmocka_unit_test(test_aout_whole_file),
		cmocka_unit_test(test_aout_errors),
		cmocka_unit_test(test_elf32),
		cmocka_unit_test(test_elf64_higher_half),
		cmocka_unit_test(test_checksum_and_search),
		cmocka_unit_test(test_8k_window),
		cmocka_unit_test(test_required_flags),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
