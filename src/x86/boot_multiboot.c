// SPDX-License-Identifier: MIT
/*
 * Multiboot v1: the kernel is loaded from its a.out-kludge address fields or
 * its ELF program headers and entered in 32-bit protected mode with
 * %eax = 0x2BADB002 and %ebx = the Multiboot information structure.
 */
#include <errno.h>
#include <string.h>

#include "err.h"
#include "guest_mem.h"
#include "x86/boot.h"
#include "x86/boot_internal.h"
#include "x86/layout.h"

#define MB_HEADER_MAGIC 0x1badb002U
#define MB_BOOTLOADER_MAGIC 0x2badb002U
#define MB_SEARCH_LIMIT 8192
#define MB_HEADER_SIZE 12
#define MB_AOUT_HEADER_SIZE 32

#define MB_FLAG_PAGE_ALIGN (1U << 0)
#define MB_FLAG_MEMORY_INFO (1U << 1)
#define MB_FLAG_VIDEO_MODE (1U << 2)
#define MB_FLAG_AOUT_KLUDGE (1U << 16)
#define MB_REQUIRED_MASK 0xffffU
/* Modules are always page-aligned and memory info always given; a video mode is only a wish. */
#define MB_SUPPORTED_REQUIRED (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE)

#define MBI_FLAG_MEM (1U << 0)
#define MBI_FLAG_CMDLINE (1U << 2)
#define MBI_FLAG_MODS (1U << 3)
#define MBI_FLAG_MMAP (1U << 6)
#define MBI_FLAG_LOADER_NAME (1U << 9)

#define MB_LOADER_NAME "kvmini"
#define MB_MODULE_NAME_OFFSET 8 /* after "kvmini\0", kept 8-byte aligned */
#define MB_MODLIST LAYOUT_MEMMAP
#define MB_MMAP (LAYOUT_MEMMAP + sizeof(struct multiboot_mod))

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;
	uint32_t mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;
	uint32_t mmap_addr;
	uint32_t drives_length;
	uint32_t drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe_control_info;
	uint32_t vbe_mode_info;
	uint16_t vbe_mode;
	uint16_t vbe_interface_seg;
	uint16_t vbe_interface_off;
	uint16_t vbe_interface_len;
	uint64_t framebuffer_addr;
	uint32_t framebuffer_pitch;
	uint32_t framebuffer_width;
	uint32_t framebuffer_height;
	uint8_t framebuffer_bpp;
	uint8_t framebuffer_type;
	uint8_t color_info[6];
} __attribute__((packed));

struct multiboot_mod {
	uint32_t mod_start;
	uint32_t mod_end;
	uint32_t string;
	uint32_t reserved;
};

/* "size" counts the bytes after itself, so entries are 24 bytes apart. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

_Static_assert(sizeof(struct multiboot_info) == 116, "multiboot_info layout");
_Static_assert(sizeof(struct multiboot_mod) == 16, "multiboot_mod layout");
_Static_assert(sizeof(struct multiboot_mmap_entry) == 24, "multiboot_mmap_entry layout");

static long find_magic(const uint8_t *img, size_t size, bool need_checksum)
{
	size_t limit;

	if (!img)
		return -1;
	limit = size < MB_SEARCH_LIMIT ? size : MB_SEARCH_LIMIT;
	for (size_t off = 0; off + MB_HEADER_SIZE <= limit; off += 4) {
		uint32_t magic = get_le32(img + off);

		if (magic != MB_HEADER_MAGIC)
			continue;
		if (!need_checksum ||
		    (uint32_t)(magic + get_le32(img + off + 4) + get_le32(img + off + 8)) == 0)
			return (long)off;
	}
	return -1;
}

long multiboot_find_header(const uint8_t *img, size_t size)
{
	return find_magic(img, size, true);
}

struct mb_layout {
	uint64_t entry;
	uint64_t end; /* end of everything the kernel occupies */
	/* a.out kludge only */
	uint64_t file_off;
	uint64_t load_addr;
	uint64_t load_len;
};

static int check_aout(const struct guest_mem *mem, const uint8_t *k, size_t size, size_t off,
		      struct mb_layout *l, struct error *err)
{
	uint32_t header_addr, load_addr, load_end, bss_end, entry;
	uint64_t mem_end;
	int r;

	if (size - off < MB_AOUT_HEADER_SIZE)
		return error_set(err, -ENOEXEC,
				 "kernel is truncated: Multiboot address fields past end of file");
	header_addr = get_le32(k + off + 12);
	load_addr = get_le32(k + off + 16);
	load_end = get_le32(k + off + 20);
	bss_end = get_le32(k + off + 24);
	entry = get_le32(k + off + 28);

	if (load_addr > header_addr)
		return error_set(err, -ENOEXEC,
				 "Multiboot load_addr 0x%x is above header_addr 0x%x", load_addr,
				 header_addr);
	if (header_addr - load_addr > off)
		return error_set(
			err, -ENOEXEC,
			"Multiboot header_addr 0x%x and load_addr 0x%x place the image before the start of the file",
			header_addr, load_addr);
	l->file_off = off - (header_addr - load_addr);
	if (load_end == 0) {
		l->load_len = size - l->file_off;
	} else {
		if (load_end <= header_addr)
			return error_set(
				err, -ENOEXEC,
				"Multiboot load_end_addr 0x%x does not cover the header at 0x%x",
				load_end, header_addr);
		l->load_len = load_end - load_addr;
		if (l->load_len > size - l->file_off)
			return error_set(
				err, -ENOEXEC,
				"kernel is truncated: Multiboot load_end_addr 0x%x is past end of file",
				load_end);
	}
	l->load_addr = load_addr;
	mem_end = l->load_addr + l->load_len;
	if (bss_end) {
		if (bss_end < mem_end)
			return error_set(
				err, -ENOEXEC,
				"Multiboot bss_end_addr 0x%x is below the end of the loaded image 0x%llx",
				bss_end, (unsigned long long)mem_end);
		mem_end = bss_end;
	}
	r = boot_check_segment(mem, "Multiboot kernel image", -1, load_addr, mem_end - load_addr,
			       err);
	if (r < 0)
		return r;
	if (entry < load_addr || entry - l->load_addr >= l->load_len)
		return error_set(
			err, -ENOEXEC,
			"Multiboot entry_addr 0x%x is outside the loaded image [0x%x-0x%llx)",
			entry, load_addr, (unsigned long long)(l->load_addr + l->load_len));
	l->entry = entry;
	l->end = mem_end;
	return 0;
}

static int write_info(const struct guest_mem *mem, const struct boot_image *img,
		      uint64_t initrd_addr, struct error *err)
{
	const char *name = img->initrd_name ? img->initrd_name : "initrd";
	size_t name_len = strlen(name) + 1;
	struct e820_entry map[E820_MAX_ENTRIES];
	struct multiboot_mmap_entry mmap[E820_MAX_ENTRIES];
	uint64_t low_end = guest_mem_low_end(mem);
	uint64_t base_end = low_end < LAYOUT_LOW_RAM_END ? low_end : LAYOUT_LOW_RAM_END;
	struct multiboot_info info = {
		.flags = MBI_FLAG_MEM | MBI_FLAG_CMDLINE | MBI_FLAG_MODS | MBI_FLAG_MMAP |
			 MBI_FLAG_LOADER_NAME,
		.mem_lower = (uint32_t)(base_end / 1024),
		.mem_upper = low_end > LAYOUT_HIGH_START
				     ? (uint32_t)((low_end - LAYOUT_HIGH_START) / 1024)
				     : 0,
		.cmdline = (uint32_t)LAYOUT_CMDLINE,
		.mods_addr = (uint32_t)MB_MODLIST,
		.mmap_addr = (uint32_t)MB_MMAP,
		.boot_loader_name = (uint32_t)LAYOUT_MB_STRINGS,
	};
	int n;

	if (name_len > LAYOUT_MB_STRINGS_MAX - MB_MODULE_NAME_OFFSET)
		return error_set(
			err, -E2BIG, "initrd name is too long: %zu bytes (at most %llu)",
			name_len - 1,
			(unsigned long long)(LAYOUT_MB_STRINGS_MAX - MB_MODULE_NAME_OFFSET - 1));
	n = e820_build(mem, map, E820_MAX_ENTRIES);
	for (int i = 0; i < n; i++) {
		mmap[i] = (struct multiboot_mmap_entry){
			.size = sizeof(mmap[i]) - sizeof(mmap[i].size),
			.addr = map[i].addr,
			.len = map[i].size,
			.type = map[i].type,
		};
	}
	info.mmap_length = (uint32_t)(n * sizeof(mmap[0]));
	if (guest_mem_write(mem, LAYOUT_MB_STRINGS, MB_LOADER_NAME, sizeof(MB_LOADER_NAME)) < 0 ||
	    guest_mem_write(mem, MB_MMAP, mmap, n * sizeof(mmap[0])) < 0)
		return error_set(err, -ENOMEM, "no guest RAM for the Multiboot information");
	if (initrd_addr) {
		struct multiboot_mod mod = {
			.mod_start = (uint32_t)initrd_addr,
			.mod_end = (uint32_t)(initrd_addr + img->initrd_size),
			.string = (uint32_t)(LAYOUT_MB_STRINGS + MB_MODULE_NAME_OFFSET),
		};

		info.mods_count = 1;
		if (guest_mem_write(mem, mod.string, name, name_len) < 0 ||
		    guest_mem_write(mem, MB_MODLIST, &mod, sizeof(mod)) < 0)
			return error_set(err, -ENOMEM,
					 "no guest RAM for the Multiboot module list");
	}
	if (guest_mem_write(mem, LAYOUT_START_INFO, &info, sizeof(info)) < 0)
		return error_set(err, -ENOMEM, "no guest RAM for the Multiboot information");
	return 0;
}

int boot_load_multiboot(const struct guest_mem *mem, const struct boot_image *img,
			struct boot_entry *entry, struct error *err)
{
	const uint8_t *k = img->kernel;
	size_t size = k ? img->kernel_size : 0;
	struct mb_layout l = { 0 };
	struct elf_image elf;
	bool aout;
	uint64_t module_start, module_limit, initrd_addr;
	uint32_t flags, unsupported;
	long off;
	int r;

	off = multiboot_find_header(k, size);
	if (off < 0) {
		off = find_magic(k, size, false);
		if (off >= 0)
			return error_set(err, -ENOEXEC,
					 "Multiboot header at offset 0x%lx has a bad checksum",
					 off);
		return error_set(err, -ENOEXEC,
				 "no Multiboot header in the first 8 KiB of the kernel");
	}
	flags = get_le32(k + off + 4);
	unsupported = flags & MB_REQUIRED_MASK & ~MB_SUPPORTED_REQUIRED;
	if (unsupported)
		return error_set(
			err, -ENOEXEC,
			"Multiboot header requires features kvmini does not provide (flags 0x%x)",
			unsupported);

	aout = flags & MB_FLAG_AOUT_KLUDGE;
	if (aout) {
		r = check_aout(mem, k, size, (size_t)off, &l, err);
		if (r < 0)
			return r;
	} else if (elf_has_magic(k, size)) {
		r = elf_parse(mem, k, size, &elf, err);
		if (r < 0)
			return r;
		r = elf_entry_phys(&elf, elf.entry, &l.entry, err);
		if (r < 0)
			return r;
		l.end = elf.end;
	} else {
		return error_set(err, -ENOEXEC,
				 "Multiboot kernel is not ELF and has no address fields (flag 16)");
	}
	if (l.entry >= LAYOUT_4G)
		return error_set(err, -ENOEXEC, "Multiboot entry point 0x%llx is above 4 GiB",
				 (unsigned long long)l.entry);

	r = boot_put_cmdline(mem, img->cmdline, LAYOUT_CMDLINE_MAX - 1, NULL, err);
	if (r < 0)
		return r;
	/* The module goes on the first page after the kernel, like GRUB places it. */
	module_start = (l.end + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
	module_limit = img->initrd_size > UINT64_MAX - module_start
			       ? UINT64_MAX
			       : module_start + img->initrd_size;
	r = boot_put_initrd(mem, img, module_start, module_limit, &initrd_addr, err);
	if (r < 0)
		return r;

	if (aout) {
		if (guest_mem_write(mem, l.load_addr, k + l.file_off, l.load_len) < 0 ||
		    guest_mem_fill(mem, l.load_addr + l.load_len, 0,
				   l.end - l.load_addr - l.load_len) < 0)
			return error_set(err, -ENOMEM,
					 "Multiboot kernel image is outside guest RAM");
	} else {
		r = elf_copy_segments(mem, img, &elf, err);
		if (r < 0)
			return r;
	}
	r = write_info(mem, img, initrd_addr, err);
	if (r < 0)
		return r;
	*entry = (struct boot_entry){
		.mode = BOOT_MODE_PROT32,
		.rip = l.entry,
		.rbx = LAYOUT_START_INFO,
		.rax = MB_BOOTLOADER_MAGIC,
		.protocol = "Multiboot",
	};
	return 0;
}
