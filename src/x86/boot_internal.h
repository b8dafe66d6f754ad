/* SPDX-License-Identifier: MIT */
/*
 * Shared by the kernel loaders (boot.c, boot_bzimage.c, boot_elf.c,
 * boot_multiboot.c) and their unit tests; not an interface for the rest of
 * the VMM.
 */
#ifndef KVMINI_X86_BOOT_INTERNAL_H
#define KVMINI_X86_BOOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "le.h"
#include "x86/boot.h"

struct guest_mem;
struct error;

#define BOOT_PAGE_SIZE 4096ULL

/* --- boot.c --- */

/* RAM below 4 GiB (where every kernel and initrd goes), in MiB, for messages. */
uint64_t boot_low_ram_mib(const struct guest_mem *mem);

/*
 * A kernel piece [start, start + size) must be low RAM (below the PCI hole)
 * and at or above 1 MiB. @what and @index name it in the message
 * ("kernel segment 2"); @index < 0 leaves the number out.
 */
int boot_check_segment(const struct guest_mem *mem, const char *what, int index, uint64_t start,
		       uint64_t size, struct error *err);

struct boot_range {
	uint64_t start;
	uint64_t size;
	unsigned int id; /* number used in messages */
};

/* Error if any two non-empty ranges overlap ("kernel segments 1 [...) and 2 [...) overlap"). */
int boot_check_overlap(const struct boot_range *r, unsigned int n, const char *what,
		       struct error *err);

/*
 * Copy @cmdline (NULL means "") with its NUL to LAYOUT_CMDLINE. @max_len is
 * the longest length (without the NUL) the kernel accepts; it is further
 * capped by LAYOUT_CMDLINE_MAX. Sets *@len to the string length.
 */
int boot_put_cmdline(const struct guest_mem *mem, const char *cmdline, uint64_t max_len,
		     uint64_t *len, struct error *err);

/*
 * Copy the initrd (if img->initrd && img->initrd_size) to the highest
 * page-aligned address that lies at or above @lowest and ends at or below
 * @limit. *@addr is 0 when there is no initrd.
 */
int boot_put_initrd(const struct guest_mem *mem, const struct boot_image *img, uint64_t lowest,
		    uint64_t limit, uint64_t *addr, struct error *err);

/*
 * Build the zero page (struct boot_params) at LAYOUT_ZERO_PAGE: the setup
 * header bytes from the file (@setup_hdr, copied to offset 0x1f1, at most up
 * to 0x290) or, if NULL, a minimal protocol 2.15 header; then the loader
 * fields: type_of_loader, LOADED_HIGH, command line, initrd and e820 table.
 */
int boot_write_zero_page(const struct guest_mem *mem, const uint8_t *setup_hdr,
			 size_t setup_hdr_len, uint64_t initrd_addr, uint64_t initrd_size,
			 struct error *err);

/* Zero page (struct boot_params) offsets used by the loaders and tests. */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_SYSSIZE 0x1f4
#define BP_BOOT_FLAG 0x1fe
#define BP_HDR_LEN 0x201 /* jump's second byte: setup header length past 0x202 */
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_KERNEL_VERSION 0x20e
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_HEAP_END_PTR 0x224
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_RELOCATABLE 0x234
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_SETUP_HDR_END 0x290 /* edd_mbr_sig_buffer follows the setup header */
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 4096

#define BP_LOADED_HIGH 0x01
#define BP_XLF_KERNEL_64 0x01
#define BP_LOADER_UNDEFINED 0xff

/* --- boot_elf.c --- */

#define ELF_MAX_LOADS 16

struct elf_load {
	unsigned int phdr; /* program header index, for messages */
	uint64_t offset;
	uint64_t filesz;
	uint64_t vaddr;
	uint64_t paddr;
	uint64_t memsz;
};

struct elf_image {
	bool is64;
	uint64_t entry; /* e_entry as in the file */
	unsigned int nr_loads;
	struct elf_load loads[ELF_MAX_LOADS];
	uint64_t end; /* highest paddr + memsz of any PT_LOAD */
	bool has_pvh;
	uint64_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY */
};

bool elf_has_magic(const uint8_t *img, size_t size);

/*
 * Validate an x86 ELF (ELF64/x86-64 or ELF32/i386) and every PT_LOAD against
 * the file and guest RAM, and read the PVH note. Copies nothing.
 */
int elf_parse(const struct guest_mem *mem, const uint8_t *img, size_t size, struct elf_image *elf,
	      struct error *err);

/*
 * Copy the PT_LOAD segments to guest memory (see boot_put_file_bytes()) and
 * zero their bss part.
 */
int elf_copy_segments(const struct guest_mem *mem, const struct boot_image *img,
		      const struct elf_image *elf, struct error *err);

/*
 * @len bytes at @offset of a file (@src holds them; @fd is the file or -1)
 * into guest RAM at @gpa: recorded in img->lazy when there is one and a
 * file, else mapped from the file or copied (guest_mem_load_file()).
 * 0, -EFAULT (not all guest RAM), or the read or mmap error.
 */
int boot_put_file_bytes(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa,
			const uint8_t *src, uint64_t len, int fd, uint64_t offset);

/*
 * Physical address of @entry: inside a segment's virtual range it is
 * translated to that segment's physical range, else it must lie in a
 * segment's physical range.
 */
int elf_entry_phys(const struct elf_image *elf, uint64_t entry, uint64_t *phys, struct error *err);

/* --- boot_multiboot.c --- */

/* Offset of a valid Multiboot v1 header (magic and checksum), or -1. */
long multiboot_find_header(const uint8_t *img, size_t size);

#endif
