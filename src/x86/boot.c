// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "guest_mem.h"
#include "x86/boot.h"
#include "x86/boot_internal.h"
#include "x86/layout.h"

#define MIB (1ULL << 20)

static bool has_bzimage_header(const uint8_t *img, size_t size)
{
	return size >= BP_HEADER + 4 && memcmp(img + BP_HEADER, "HdrS", 4) == 0;
}

enum kernel_format kernel_detect(const uint8_t *img, size_t size)
{
	if (!img)
		return KERNEL_UNKNOWN;
	/*
	 * An ELF can never carry a bzImage header (a bzImage starts with boot
	 * sector code), so the ELF check comes first; a Multiboot header
	 * overrides both because it says how the kernel wants to be entered.
	 */
	if (elf_has_magic(img, size))
		return multiboot_find_header(img, size) >= 0 ? KERNEL_MULTIBOOT : KERNEL_ELF;
	if (has_bzimage_header(img, size))
		return KERNEL_BZIMAGE;
	if (multiboot_find_header(img, size) >= 0)
		return KERNEL_MULTIBOOT;
	return KERNEL_UNKNOWN;
}

int boot_load(const struct guest_mem *mem, const struct boot_image *img, struct boot_entry *entry,
	      struct error *err)
{
	switch (kernel_detect(img->kernel, img->kernel_size)) {
	case KERNEL_BZIMAGE:
		return boot_load_bzimage(mem, img, entry, err);
	case KERNEL_ELF:
		return boot_load_elf(mem, img, entry, err);
	case KERNEL_MULTIBOOT:
		return boot_load_multiboot(mem, img, entry, err);
	case KERNEL_UNKNOWN:
		break;
	}
	return error_set(err, -ENOEXEC,
			 "not a kernel: no bzImage header, ELF or Multiboot signature");
}

int bzimage_release(const uint8_t *img, size_t size, char *buf, size_t buflen)
{
	uint64_t off;
	size_t n = 0;

	if (!img || !has_bzimage_header(img, size) || size < BP_KERNEL_VERSION + 2)
		return -ENOENT;
	off = get_le16(img + BP_KERNEL_VERSION);
	if (off == 0)
		return -ENOENT;
	off += 0x200;
	/* The release is the first word; stop at anything that is not printable. */
	while (off + n < size && img[off + n] > ' ' && img[off + n] < 0x7f)
		n++;
	if (n == 0)
		return -ENOENT;
	if (n >= buflen)
		return -ENOSPC;
	memcpy(buf, img + off, n);
	buf[n] = '\0';
	return 0;
}

uint64_t boot_low_ram_mib(const struct guest_mem *mem)
{
	return guest_mem_low_end(mem) / MIB;
}

static void ram_description(const struct guest_mem *mem, char *buf, size_t len)
{
	if (mem->ram_size > guest_mem_low_end(mem))
		snprintf(buf, len, "guest RAM below 4 GiB (%llu MiB)",
			 (unsigned long long)boot_low_ram_mib(mem));
	else
		snprintf(buf, len, "guest RAM (%llu MiB)",
			 (unsigned long long)boot_low_ram_mib(mem));
}

int boot_check_segment(const struct guest_mem *mem, const char *what, int index, uint64_t start,
		       uint64_t size, struct error *err)
{
	char name[96], ram[64];
	unsigned long long s = start, e = start + size;

	if (index >= 0)
		snprintf(name, sizeof(name), "%s %d", what, index);
	else
		snprintf(name, sizeof(name), "%s", what);
	if (size > UINT64_MAX - start)
		return error_set(err, -ENOEXEC,
				 "%s at 0x%llx with size 0x%llx wraps around the address space",
				 name, s, (unsigned long long)size);
	if (start < LAYOUT_HIGH_START)
		return error_set(
			err, -ENOEXEC,
			"%s [0x%llx-0x%llx) is below 1 MiB, where the VMM keeps its boot structures",
			name, s, e);
	if (start + size > guest_mem_low_end(mem)) {
		ram_description(mem, ram, sizeof(ram));
		return error_set(err, -ENOMEM, "%s [0x%llx-0x%llx) is outside %s", name, s, e, ram);
	}
	return 0;
}

int boot_check_overlap(const struct boot_range *r, unsigned int n, const char *what,
		       struct error *err)
{
	for (unsigned int i = 0; i < n; i++) {
		for (unsigned int j = i + 1; j < n; j++) {
			/* Ranges were checked not to wrap, so the ends are exact. */
			if (r[i].size == 0 || r[j].size == 0)
				continue;
			if (r[i].start < r[j].start + r[j].size &&
			    r[j].start < r[i].start + r[i].size)
				return error_set(
					err, -ENOEXEC,
					"%s %u [0x%llx-0x%llx) and %u [0x%llx-0x%llx) overlap",
					what, r[i].id, (unsigned long long)r[i].start,
					(unsigned long long)(r[i].start + r[i].size), r[j].id,
					(unsigned long long)r[j].start,
					(unsigned long long)(r[j].start + r[j].size));
		}
	}
	return 0;
}

int boot_put_cmdline(const struct guest_mem *mem, const char *cmdline, uint64_t max_len,
		     uint64_t *len, struct error *err)
{
	uint64_t limit = max_len < LAYOUT_CMDLINE_MAX - 1 ? max_len : LAYOUT_CMDLINE_MAX - 1;
	size_t n;

	if (!cmdline)
		cmdline = "";
	n = strnlen(cmdline, limit + 1);
	if (n > limit)
		return error_set(
			err, -E2BIG,
			"command line is too long: %zu bytes, the kernel accepts at most %llu",
			strlen(cmdline), (unsigned long long)limit);
	if (guest_mem_write(mem, LAYOUT_CMDLINE, cmdline, n + 1) < 0)
		return error_set(err, -ENOMEM, "no guest RAM for the command line at 0x%llx",
				 (unsigned long long)LAYOUT_CMDLINE);
	if (len)
		*len = n;
	return 0;
}

int boot_put_file_bytes(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa,
			const uint8_t *src, uint64_t len, int fd, uint64_t offset)
{
	if (img->lazy && fd >= 0) {
		int r = lazy_load_add(img->lazy, gpa, len, fd, offset);

		/* Out of ranges to record: this one now. */
		if (r != -E2BIG)
			return r;
		return guest_mem_load_file(mem, gpa, src, len, fd, offset, GUEST_MEM_READ);
	}
	return guest_mem_load_file(mem, gpa, src, len, fd, offset, GUEST_MEM_MAP);
}

int boot_put_initrd(const struct guest_mem *mem, const struct boot_image *img, uint64_t lowest,
		    uint64_t limit, uint64_t *addr, struct error *err)
{
	uint64_t low_end = guest_mem_low_end(mem);
	uint64_t size = img->initrd_size, start;
	unsigned long long need_mib;

	*addr = 0;
	if (!img->initrd || size == 0)
		return 0;
	if (limit > low_end)
		limit = low_end;
	if (size <= limit) {
		start = (limit - size) & ~(BOOT_PAGE_SIZE - 1);
		if (start >= lowest) {
			int r = boot_put_file_bytes(mem, img, start, img->initrd, size,
						    img->initrd_fd_valid ? img->initrd_fd : -1, 0);

			if (r == -EFAULT)
				return error_set(err, -ENOMEM,
						 "initrd at 0x%llx is outside guest RAM",
						 (unsigned long long)start);
			if (r < 0)
				return error_set(err, r, "cannot load the initrd: %s",
						 strerror(-r));
			*addr = start;
			return 0;
		}
	}
	/* Rounded up piecewise so that a hostile size cannot overflow the sum. */
	need_mib = (lowest + MIB - 1) / MIB + size / MIB + (size % MIB != 0);
	if (limit < low_end)
		return error_set(
			err, -ENOMEM,
			"kernel and initrd (%llu MiB) do not fit below the kernel's initrd limit (%llu MiB)",
			need_mib, (unsigned long long)(limit / MIB));
	return error_set(err, -ENOMEM, "kernel and initrd (%llu MiB) do not fit in %llu MiB of RAM",
			 need_mib, (unsigned long long)boot_low_ram_mib(mem));
}

int boot_write_zero_page(const struct guest_mem *mem, const uint8_t *setup_hdr,
			 size_t setup_hdr_len, uint64_t initrd_addr, uint64_t initrd_size,
			 struct error *err)
{
	struct e820_entry map[BP_E820_MAX];
	uint8_t bp[BP_SIZE];
	int n;

	memset(bp, 0, sizeof(bp));
	if (setup_hdr) {
		if (setup_hdr_len > BP_SETUP_HDR_END - BP_SETUP_SECTS)
			setup_hdr_len = BP_SETUP_HDR_END - BP_SETUP_SECTS;
		memcpy(bp + BP_SETUP_SECTS, setup_hdr, setup_hdr_len);
	} else {
		/* Just enough of a setup header for the kernel to trust the zero page. */
		put_le16(bp + BP_BOOT_FLAG, 0xaa55);
		memcpy(bp + BP_HEADER, "HdrS", 4);
		put_le16(bp + BP_VERSION, 0x020f);
		put_le32(bp + BP_CMDLINE_SIZE, (uint32_t)(LAYOUT_CMDLINE_MAX - 1));
	}
	bp[BP_TYPE_OF_LOADER] = BP_LOADER_UNDEFINED;
	bp[BP_LOADFLAGS] |= BP_LOADED_HIGH;
	put_le32(bp + BP_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	put_le32(bp + BP_EXT_CMD_LINE_PTR, 0);
	put_le32(bp + BP_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	put_le32(bp + BP_RAMDISK_SIZE, (uint32_t)initrd_size);
	put_le32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
	put_le32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));

	n = e820_build(mem, map, BP_E820_MAX);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + 20 * i;

		put_le64(e, map[i].addr);
		put_le64(e + 8, map[i].size);
		put_le32(e + 16, map[i].type);
	}
	if (guest_mem_write(mem, LAYOUT_ZERO_PAGE, bp, sizeof(bp)) < 0)
		return error_set(err, -ENOMEM, "no guest RAM for the zero page at 0x%llx",
				 (unsigned long long)LAYOUT_ZERO_PAGE);
	return 0;
}
