// SPDX-License-Identifier: MIT
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
#define IMG_SIZE 0x4000
#define NOTE_OFF 0x3000
#define ZP LAYOUT_ZERO_PAGE
#define SI LAYOUT_START_INFO
#define VIRT 0xffffffff80000000ULL

struct seg {
	uint32_t type;
	uint64_t offset, filesz, vaddr, paddr, memsz, align;
};

struct spec {
	bool is64;
	uint16_t machine;
	uint16_t type;
	uint64_t entry;
	int nseg;
	struct seg segs[20];
};

static uint8_t img[IMG_SIZE];

/* Two loadable segments linked high like vmlinux (the second with bss) and a note slot. */
static struct spec linux_spec(void)
{
	struct spec s = {
		.is64 = true,
		.machine = EM_X86_64,
		.type = ET_EXEC,
		.entry = 0xffffffff81000010ULL,
		.nseg = 2,
		.segs = {
			{ PT_LOAD, 0x1000, 0x1000, 0xffffffff81000000ULL, 0x1000000, 0x1000, 0x1000 },
			{ PT_LOAD, 0x2000, 0x800, 0xffffffff81200000ULL, 0x1200000, 0x2000, 0x1000 },
		},
	};
	return s;
}

static void build(const struct spec *s)
{
	memset(img, 0, sizeof(img));
	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = s->is64 ? ELFCLASS64 : ELFCLASS32;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;
	if (s->is64) {
		Elf64_Ehdr eh = { .e_type = s->type,
				  .e_machine = s->machine,
				  .e_version = EV_CURRENT,
				  .e_entry = s->entry,
				  .e_phoff = 64,
				  .e_ehsize = sizeof(Elf64_Ehdr),
				  .e_phentsize = sizeof(Elf64_Phdr),
				  .e_phnum = s->nseg };

		memcpy(eh.e_ident, img, EI_NIDENT);
		memcpy(img, &eh, sizeof(eh));
		for (int i = 0; i < s->nseg; i++) {
			const struct seg *g = &s->segs[i];
			Elf64_Phdr ph = { .p_type = g->type,
					  .p_offset = g->offset,
					  .p_vaddr = g->vaddr,
					  .p_paddr = g->paddr,
					  .p_filesz = g->filesz,
					  .p_memsz = g->memsz,
					  .p_align = g->align };

			memcpy(img + 64 + i * sizeof(ph), &ph, sizeof(ph));
		}
	} else {
		Elf32_Ehdr eh = { .e_type = s->type,
				  .e_machine = s->machine,
				  .e_version = EV_CURRENT,
				  .e_entry = (uint32_t)s->entry,
				  .e_phoff = 64,
				  .e_ehsize = sizeof(Elf32_Ehdr),
				  .e_phentsize = sizeof(Elf32_Phdr),
				  .e_phnum = s->nseg };

		memcpy(eh.e_ident, img, EI_NIDENT);
		memcpy(img, &eh, sizeof(eh));
		for (int i = 0; i < s->nseg; i++) {
			const struct seg *g = &s->segs[i];
			Elf32_Phdr ph = { .p_type = g->type,
					  .p_offset = (uint32_t)g->offset,
					  .p_vaddr = (uint32_t)g->vaddr,
					  .p_paddr = (uint32_t)g->paddr,
					  .p_filesz = (uint32_t)g->filesz,
					  .p_memsz = (uint32_t)g->memsz,
					  .p_align = (uint32_t)g->align };

			memcpy(img + 64 + i * sizeof(ph), &ph, sizeof(ph));
		}
	}
	for (size_t i = 0x1000; i < NOTE_OFF; i++)
		img[i] = (uint8_t)(i * 13 + 5);
}

/* Append one ELF note at *off (4-byte padded); returns the note's size. */
static size_t add_note(size_t *off, const char *name, uint32_t type, const void *desc,
		       uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t start = *off, p = *off;

	memcpy(img + p, &namesz, 4);
	memcpy(img + p + 4, &descsz, 4);
	memcpy(img + p + 8, &type, 4);
	p += 12;
	memcpy(img + p, name, namesz);
	p += (namesz + 3) & ~3U;
	memcpy(img + p, desc, descsz);
	p += (descsz + 3) & ~3U;
	*off = p;
	return p - start;
}

/* Build @s plus a note segment: a build-id note first, then the PVH entry (4 or 8 bytes). */
static void build_pvh(struct spec *s, uint64_t entry, uint32_t width)
{
	uint8_t build_id[20] = { 0xab };
	size_t off = NOTE_OFF, len = 12 + 4 + sizeof(build_id) + 12 + 4 + width;

	s->segs[s->nseg++] = (struct seg){ PT_NOTE, NOTE_OFF, len, 0, 0, 0, 4 };
	build(s);
	add_note(&off, "GNU", 3, build_id, sizeof(build_id));
	add_note(&off, "Xen", 18, &entry, width);
	assert_int_equal(off - NOTE_OFF, len);
}

static int load(struct fake_guest *vm, size_t size, const uint8_t *initrd, size_t initrd_size,
		const char *cmdline, struct boot_entry *entry, struct error *err)
{
	struct boot_image bi = {
		.kernel = img,
		.kernel_size = size,
		.initrd = initrd,
		.initrd_size = initrd_size,
		.cmdline = cmdline,
	};

	return fake_guest_load(vm, boot_load_elf, &bi, entry, err);
}

static void expect_error(struct fake_guest *vm, const struct spec *s, size_t size, int code,
			 const char *text)
{
	struct boot_image bi = { .kernel = img, .kernel_size = size, .cmdline = "" };

	build(s);
	fake_guest_expect_error(vm, boot_load_elf, &bi, code, text);
}

static void test_elf64_linux_entry(void **state)
{
	struct spec s = linux_spec();
	uint8_t initrd[10000];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	uint64_t rd;

	fake_guest_init(&vm, RAM);
	memset(vm.buf + 0x1000000, 0xaa, 0x400000);
	memset(initrd, 0x3c, sizeof(initrd));
	build(&s);
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_ELF);
	assert_int_equal(
		load(&vm, sizeof(img), initrd, sizeof(initrd), "root=/dev/vda", &entry, &err), 0);

	assert_int_equal(entry.mode, BOOT_MODE_LONG64);
	assert_int_equal(entry.rip, 0x1000010);
	assert_int_equal(entry.rsi, LAYOUT_ZERO_PAGE);
	assert_int_equal(entry.rbx, 0);
	assert_memory_equal(vm.buf + 0x1000000, img + 0x1000, 0x1000);
	assert_memory_equal(vm.buf + 0x1200000, img + 0x2000, 0x800);
	/* bss zeroed; bytes after the segment untouched. */
	for (uint64_t a = 0x1200800; a < 0x1202000; a++)
		assert_int_equal(vm.buf[a], 0);
	assert_int_equal(vm.buf[0x1202000], 0xaa);

	/* Minimal setup header in the zero page. */
	assert_int_equal(g32(&vm, ZP + 0x1fe) & 0xffff, 0xaa55);
	assert_memory_equal(vm.buf + ZP + 0x202, "HdrS", 4);
	assert_int_equal(g32(&vm, ZP + 0x206) & 0xffff, 0x020f);
	assert_int_equal(vm.buf[ZP + 0x210], 0xff);
	assert_true(vm.buf[ZP + 0x211] & 1);
	assert_int_equal(g32(&vm, ZP + 0x228), LAYOUT_CMDLINE);
	assert_true(g32(&vm, ZP + 0x238) >= strlen("root=/dev/vda"));
	assert_string_equal((char *)vm.buf + LAYOUT_CMDLINE, "root=/dev/vda");
	assert_int_equal(vm.buf[ZP + 0x1e8], 4);
	assert_int_equal(g64(&vm, ZP + 0x2d0 + 3 * 20), 0x100000);
	assert_int_equal(g64(&vm, ZP + 0x2d0 + 3 * 20 + 8), RAM - 0x100000);

	rd = g32(&vm, ZP + 0x218);
	assert_int_equal(rd, (RAM - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(g32(&vm, ZP + 0x21c), sizeof(initrd));
	assert_memory_equal(vm.buf + rd, initrd, sizeof(initrd));
	fake_guest_free(&vm);
}

static void test_entry_translation(void **state)
{
	struct spec s = linux_spec();
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	/* Already physical. */
	s.entry = 0x1200020;
	build(&s);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, NULL, &entry, &err), 0);
	assert_int_equal(entry.rip, 0x1200020);
	/* Virtual, in the second segment (inside its bss even). */
	s.entry = 0xffffffff81201000ULL;
	build(&s);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, NULL, &entry, &err), 0);
	assert_int_equal(entry.rip, 0x1201000);

	s.entry = 0xffffffff81100000ULL;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC,
		     "kernel entry point 0xffffffff81100000 is not inside any loaded segment");
	s.entry = 0x500000;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "not inside any loaded segment");
	fake_guest_free(&vm);
}

static void check_memmap(const struct fake_guest *vm)
{
	uint64_t m = g64(vm, SI + 40);

	assert_int_equal(m, LAYOUT_MEMMAP);
	assert_int_equal(g32(vm, SI + 48), 4);
	/* struct hvm_memmap_table_entry: addr, size, type, reserved (24 bytes). */
	assert_int_equal(g64(vm, m), 0);
	assert_int_equal(g64(vm, m + 8), 0x9fc00);
	assert_int_equal(g32(vm, m + 16), 1);
	assert_int_equal(g32(vm, m + 20), 0);
	assert_int_equal(g64(vm, m + 24), 0x9fc00);
	assert_int_equal(g32(vm, m + 24 + 16), 2);
	assert_int_equal(g64(vm, m + 72), 0x100000);
	assert_int_equal(g64(vm, m + 72 + 8), RAM - 0x100000);
	assert_int_equal(g32(vm, m + 72 + 16), 1);
}

static void test_pvh_elf64(void **state)
{
	struct spec s = linux_spec();
	uint8_t initrd[5000];
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	uint64_t mod, rd;

	fake_guest_init(&vm, RAM);
	memset(initrd, 0x42, sizeof(initrd));
	build_pvh(&s, 0x1000040, 8);
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_ELF);
	assert_int_equal(
		load(&vm, sizeof(img), initrd, sizeof(initrd), "console=hvc0", &entry, &err), 0);
	assert_int_equal(entry.mode, BOOT_MODE_PROT32);
	assert_int_equal(entry.rip, 0x1000040);
	assert_int_equal(entry.rbx, LAYOUT_START_INFO);
	assert_int_equal(entry.rsi, 0);
	assert_string_equal(entry.protocol, "PVH");

	assert_int_equal(g32(&vm, SI), 0x336ec578);
	assert_int_equal(g32(&vm, SI + 4), 1);
	assert_int_equal(g32(&vm, SI + 8), 0);
	assert_int_equal(g32(&vm, SI + 12), 1);
	assert_int_equal(g64(&vm, SI + 24), LAYOUT_CMDLINE);
	assert_int_equal(g64(&vm, SI + 32), 0);
	assert_string_equal((char *)vm.buf + LAYOUT_CMDLINE, "console=hvc0");
	mod = g64(&vm, SI + 16);
	assert_true(mod >= 0x1000 && mod + 32 <= RAM);
	rd = g64(&vm, mod);
	assert_int_equal(rd, (RAM - sizeof(initrd)) & ~0xfffULL);
	assert_int_equal(g64(&vm, mod + 8), sizeof(initrd));
	assert_int_equal(g64(&vm, mod + 16), 0);
	assert_memory_equal(vm.buf + rd, initrd, sizeof(initrd));
	check_memmap(&vm);
	fake_guest_free(&vm);
}

static struct spec elf32_spec(void)
{
	struct spec s = {
		.is64 = false,
		.machine = EM_386,
		.type = ET_EXEC,
		.entry = 0x100000,
		.nseg = 1,
		.segs = { { PT_LOAD, 0x1000, 0x1800, 0x100000, 0x100000, 0x4000, 0x1000 } },
	};
	return s;
}

static void test_pvh_elf32(void **state)
{
	struct spec s = elf32_spec();
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	build_pvh(&s, 0x100200, 4);
	assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_ELF);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "x", &entry, &err), 0);
	assert_int_equal(entry.mode, BOOT_MODE_PROT32);
	assert_int_equal(entry.rip, 0x100200);
	assert_int_equal(entry.rbx, LAYOUT_START_INFO);
	assert_int_equal(g32(&vm, SI), 0x336ec578);
	assert_int_equal(g32(&vm, SI + 12), 0);
	assert_int_equal(g64(&vm, SI + 16), 0);
	assert_memory_equal(vm.buf + 0x100000, img + 0x1000, 0x1800);
	check_memmap(&vm);

	/* Without the note a 32-bit ELF has no way in. */
	s = elf32_spec();
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "no PVH entry note");
	fake_guest_free(&vm);
}

static void build_with_notes(struct spec *s, const void *notes, size_t len)
{
	s->segs[s->nseg++] = (struct seg){ PT_NOTE, NOTE_OFF, len, 0, 0, 0, 4 };
	build(s);
	memcpy(img + NOTE_OFF, notes, len);
}

static void test_pvh_note_errors(void **state)
{
	struct spec s;
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	uint32_t bad_width[] = { 4, 2, 18, 0x006e6558, 0x1234 };
	uint32_t huge_name[] = { 0xfffffff0, 4, 18, 0x006e6558, 0x100000 };
	uint32_t short_note[] = { 4, 4 };

	fake_guest_init(&vm, RAM);
	s = linux_spec();
	build_with_notes(&s, bad_width, sizeof(bad_width));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "2-byte"));

	s = linux_spec();
	build_with_notes(&s, huge_name, sizeof(huge_name));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "note in segment 2 is truncated"));

	/* A note segment too short to hold a note header is just ignored. */
	s = linux_spec();
	build_with_notes(&s, short_note, sizeof(short_note));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), 0);
	assert_int_equal(entry.mode, BOOT_MODE_LONG64);

	/* PVH entry outside the image. */
	s = linux_spec();
	build_pvh(&s, 0x1800000, 4);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "PVH entry point 0x1800000"));

	/* Note data past the end of the file. */
	s = linux_spec();
	s.segs[s.nseg++] = (struct seg){ PT_NOTE, IMG_SIZE - 8, 16, 0, 0, 0, 4 };
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "past end of file");
	fake_guest_free(&vm);
}

static void test_bad_identification(void **state)
{
	struct spec s = linux_spec();
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	s.machine = EM_386;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "not x86-64");
	s = elf32_spec();
	s.machine = EM_X86_64;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "not i386");
	s = linux_spec();
	s.type = ET_DYN;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "not an executable");

	s = linux_spec();
	build(&s);
	{
		struct boot_entry entry;
		struct error err;

		img[EI_CLASS] = 3;
		assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
		assert_non_null(strstr(err.msg, "ELF class 3"));
		build(&s);
		img[EI_DATA] = ELFDATA2MSB;
		assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
		assert_non_null(strstr(err.msg, "little-endian"));
		build(&s);
		img[EI_VERSION] = 0;
		assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
		build(&s);
		img[1] = 'e';
		assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
		assert_non_null(strstr(err.msg, "not an ELF"));
		assert_int_equal(kernel_detect(img, sizeof(img)), KERNEL_UNKNOWN);
	}
	fake_guest_free(&vm);
}

static void test_truncated(void **state)
{
	struct spec s = linux_spec();
	const size_t sizes[] = { 0, 3, 15, 16, 63, 64, 64 + 2 * 56 - 1, 0x1fff, 0x27ff };
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		expect_error(&vm, &s, sizes[i], -ENOEXEC, "past end of file");
	/* ELF32 header is shorter. */
	s = elf32_spec();
	expect_error(&vm, &s, 51, -ENOEXEC, "ELF header past end of file");
	fake_guest_free(&vm);
}

static void test_program_header_table(void **state)
{
	struct spec s = linux_spec();
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;
	Elf64_Ehdr eh;

	fake_guest_init(&vm, RAM);
	build(&s);
	memcpy(&eh, img, sizeof(eh));

	eh.e_phoff = UINT64_MAX - 10;
	memcpy(img, &eh, sizeof(eh));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "program headers"));

	eh.e_phoff = 64;
	eh.e_phnum = 0xfff0; /* table runs past the file */
	memcpy(img, &eh, sizeof(eh));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "past end of file"));

	eh.e_phnum = 0;
	memcpy(img, &eh, sizeof(eh));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "no program headers"));

	eh.e_phnum = 2;
	eh.e_phentsize = 10;
	memcpy(img, &eh, sizeof(eh));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), -ENOEXEC);
	assert_non_null(strstr(err.msg, "too small"));

	/* Larger entries than Elf64_Phdr are stepped over correctly. */
	s.nseg = 1;
	build(&s);
	memcpy(&eh, img, sizeof(eh));
	eh.e_phentsize = 64;
	memcpy(img, &eh, sizeof(eh));
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, "", &entry, &err), 0);
	assert_int_equal(entry.rip, 0x1000010);
	fake_guest_free(&vm);
}

static void test_segment_checks(void **state)
{
	struct spec s;
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);

	s = linux_spec();
	s.segs[1].paddr = 0x3000000;
	expect_error(&vm, &s, sizeof(img), -ENOMEM,
		     "kernel segment 1 [0x3000000-0x3002000) is outside guest RAM (32 MiB)");

	s = linux_spec();
	s.segs[1].paddr = RAM - 0x1000; /* straddles the end */
	expect_error(&vm, &s, sizeof(img), -ENOMEM, "outside guest RAM");

	s = linux_spec();
	s.segs[0].paddr = 0x80000;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC,
		     "kernel segment 0 [0x80000-0x81000) is below 1 MiB");

	s = linux_spec();
	s.segs[1].paddr = 0x1000800;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC,
		     "kernel segments 0 [0x1000000-0x1001000) and 1 [0x1000800-0x1002800) overlap");

	s = linux_spec();
	s.segs[1].memsz = 0x7ff;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC,
		     "file size 0x800 is larger than its memory size 0x7ff");

	s = linux_spec();
	s.segs[1].offset = 0xffffffffffffff00ULL;
	s.segs[1].filesz = 0x200;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "kernel segment 1: file data");

	s = linux_spec();
	s.segs[1].offset = 0x3f00;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "past end of file");

	s = linux_spec();
	s.segs[1].paddr = 0xfffffffffffff000ULL;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "wraps around");

	s = linux_spec();
	s.segs[1].memsz = UINT64_MAX;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "wraps around");

	s = linux_spec();
	s.nseg = 17;
	for (int i = 0; i < 17; i++)
		s.segs[i] = (struct seg){
			PT_LOAD, 0x1000, 0x10, 0x1000000 + i * 0x1000, 0x1000000 + i * 0x1000,
			0x1000,	 0x1000
		};
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "more than 16");

	s = linux_spec();
	s.segs[0].type = PT_NULL;
	s.segs[1].type = PT_GNU_STACK;
	expect_error(&vm, &s, sizeof(img), -ENOEXEC, "no loadable segments");
	fake_guest_free(&vm);
}

static void test_segment_above_4g(void **state)
{
	struct spec s = linux_spec();
	struct fake_guest vm = { 0 };

	/* Fails in validation, before any access to the (absent) buffer. */
	guest_mem_init_buffer(&vm.mem, NULL, 5ULL << 30);
	s.segs[1].paddr = LAYOUT_4G;
	expect_error(
		&vm, &s, sizeof(img), -ENOMEM,
		"kernel segment 1 [0x100000000-0x100002000) is outside guest RAM below 4 GiB (3072 MiB)");
}

static void test_ram_limits(void **state)
{
	struct spec s = linux_spec();
	static char line[LAYOUT_CMDLINE_MAX + 1];
	uint8_t *initrd = calloc(1, 31 * MIB);
	struct boot_entry entry;
	struct error err;
	struct fake_guest vm;

	assert_non_null(initrd);
	fake_guest_init(&vm, RAM);
	build(&s);
	/* Segments end at 0x1202000; 30 MiB of initrd does not fit above. */
	assert_int_equal(load(&vm, sizeof(img), initrd, 30 * MIB, "", &entry, &err), -ENOMEM);
	assert_string_equal(err.msg, "kernel and initrd (49 MiB) do not fit in 32 MiB of RAM");
	assert_int_equal(load(&vm, sizeof(img), initrd, RAM - 0x1202000, "", &entry, &err), 0);
	assert_int_equal(g32(&vm, ZP + 0x218), 0x1202000);
	assert_int_equal(load(&vm, sizeof(img), initrd, SIZE_MAX, "", &entry, &err), -ENOMEM);

	memset(line, 'x', LAYOUT_CMDLINE_MAX);
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, line, &entry, &err), -E2BIG);
	line[LAYOUT_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(load(&vm, sizeof(img), NULL, 0, line, &entry, &err), 0);
	fake_guest_free(&vm);
	free(initrd);
}

static void test_dispatch(void **state)
{
	struct spec s = linux_spec();
	struct boot_image bi = { .kernel = img, .kernel_size = sizeof(img) };
	struct boot_entry entry;
	struct error err = { 0 };
	struct fake_guest vm;

	fake_guest_init(&vm, RAM);
	build(&s);
	assert_int_equal(boot_load(&vm.mem, &bi, &entry, &err), 0);
	assert_int_equal(entry.rip, 0x1000010);
	assert_int_equal(entry.mode, BOOT_MODE_LONG64);
	fake_guest_free(&vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf64_linux_entry),
		cmocka_unit_test(test_entry_translation),
		cmocka_unit_test(test_pvh_elf64),
		cmocka_unit_test(test_pvh_elf32),
		cmocka_unit_test(test_pvh_note_errors),
		cmocka_unit_test(test_bad_identification),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_program_header_table),
		cmocka_unit_test(test_segment_checks),
		cmocka_unit_test(test_segment_above_4g),
		cmocka_unit_test(test_ram_limits),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
