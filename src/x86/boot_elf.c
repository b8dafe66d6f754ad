// SPDX-License-Identifier: MIT
/*
 * ELF kernels: a PVH kernel (Xen's XEN_ELFNOTE_PHYS32_ENTRY note) is entered
 * in 32-bit protected mode with %ebx pointing at struct hvm_start_info; an
 * ELF64 without that note (an uncompressed Linux vmlinux) is entered at its
 * 64-bit entry with %rsi pointing at a zero page, as for a bzImage.
 */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "err.h"
#include "guest_mem.h"
#include "x86/boot.h"
#include "x86/boot_internal.h"
#include "x86/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578
#define HVM_START_VERSION 1

/* Xen public arch-x86/hvm/start_info.h, version 1. */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry layout");

/* The module list shares the start_info page, right after the structure. */
#define PVH_MODLIST (LAYOUT_START_INFO + 64)

bool elf_has_magic(const uint8_t *img, size_t size)
{
	return img && size >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;
}

struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

static void read_phdr(const uint8_t *p, bool is64, struct phdr *ph)
{
	if (is64) {
		ph->type = get_le32(p + offsetof(Elf64_Phdr, p_type));
		ph->offset = get_le64(p + offsetof(Elf64_Phdr, p_offset));
		ph->vaddr = get_le64(p + offsetof(Elf64_Phdr, p_vaddr));
		ph->paddr = get_le64(p + offsetof(Elf64_Phdr, p_paddr));
		ph->filesz = get_le64(p + offsetof(Elf64_Phdr, p_filesz));
		ph->memsz = get_le64(p + offsetof(Elf64_Phdr, p_memsz));
		ph->align = get_le64(p + offsetof(Elf64_Phdr, p_align));
	} else {
		ph->type = get_le32(p + offsetof(Elf32_Phdr, p_type));
		ph->offset = get_le32(p + offsetof(Elf32_Phdr, p_offset));
		ph->vaddr = get_le32(p + offsetof(Elf32_Phdr, p_vaddr));
		ph->paddr = get_le32(p + offsetof(Elf32_Phdr, p_paddr));
		ph->filesz = get_le32(p + offsetof(Elf32_Phdr, p_filesz));
		ph->memsz = get_le32(p + offsetof(Elf32_Phdr, p_memsz));
		ph->align = get_le32(p + offsetof(Elf32_Phdr, p_align));
	}
}

static int parse_notes(const uint8_t *p, uint64_t len, uint64_t align, unsigned int idx,
		       struct elf_image *elf, struct error *err)
{
	uint64_t off = 0;

	/* Linux pads notes to 4 bytes even in ELF64; honour p_align 8 if given. */
	align = align == 8 ? 8 : 4;
	while (len - off >= 12) {
		uint64_t namesz = get_le32(p + off), descsz = get_le32(p + off + 4);
		uint32_t type = get_le32(p + off + 8);
		uint64_t name_padded = (namesz + align - 1) & ~(align - 1);
		uint64_t desc_padded = (descsz + align - 1) & ~(align - 1);
		const uint8_t *name, *desc;

		off += 12;
		if (name_padded > len - off || descsz > len - off - name_padded)
			return error_set(
				err, -ENOEXEC,
				"kernel note in segment %u is truncated (name %llu, data %llu bytes)",
				idx, (unsigned long long)namesz, (unsigned long long)descsz);
		name = p + off;
		desc = name + name_padded;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(name, "Xen", 4) == 0) {
			if (descsz == 4)
				elf->pvh_entry = get_le32(desc);
			else if (descsz == 8)
				elf->pvh_entry = get_le64(desc);
			else
				return error_set(
					err, -ENOEXEC,
					"PVH entry note has a %llu-byte address (expected 4 or 8)",
					(unsigned long long)descsz);
			elf->has_pvh = true;
		}
		/* The last note may lack its trailing padding. */
		if (desc_padded > len - off - name_padded)
			break;
		off += name_padded + desc_padded;
	}
	return 0;
}

static int check_header(const uint8_t *img, size_t size, struct elf_image *elf, uint64_t *phoff,
			unsigned int *phnum, unsigned int *phentsize, struct error *err)
{
	unsigned int machine, type;
	size_t ehsize, phsize;
	uint64_t table;

	if (size < EI_NIDENT)
		return error_set(
			err, -ENOEXEC,
			"kernel is truncated: ELF identification past end of file (%zu bytes)",
			size);
	if (!elf_has_magic(img, size))
		return error_set(err, -ENOEXEC, "not an ELF file: no \\x7fELF signature");
	if (img[EI_CLASS] != ELFCLASS64 && img[EI_CLASS] != ELFCLASS32)
		return error_set(err, -ENOEXEC, "unsupported ELF class %u", img[EI_CLASS]);
	if (img[EI_DATA] != ELFDATA2LSB)
		return error_set(err, -ENOEXEC, "ELF kernel is not little-endian");
	if (img[EI_VERSION] != EV_CURRENT)
		return error_set(err, -ENOEXEC, "unsupported ELF version %u", img[EI_VERSION]);
	elf->is64 = img[EI_CLASS] == ELFCLASS64;
	ehsize = elf->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	phsize = elf->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (size < ehsize)
		return error_set(err, -ENOEXEC,
				 "kernel is truncated: ELF header past end of file (%zu bytes)",
				 size);

	/* e_type and e_machine sit at the same offsets in both classes. */
	type = get_le16(img + offsetof(Elf64_Ehdr, e_type));
	machine = get_le16(img + offsetof(Elf64_Ehdr, e_machine));
	if (type != ET_EXEC)
		return error_set(err, -ENOEXEC, "ELF kernel is not an executable (e_type %u)",
				 type);
	if (elf->is64 && machine != EM_X86_64)
		return error_set(err, -ENOEXEC, "ELF64 kernel is for machine %u, not x86-64",
				 machine);
	if (!elf->is64 && machine != EM_386)
		return error_set(err, -ENOEXEC, "ELF32 kernel is for machine %u, not i386",
				 machine);

	if (elf->is64) {
		elf->entry = get_le64(img + offsetof(Elf64_Ehdr, e_entry));
		*phoff = get_le64(img + offsetof(Elf64_Ehdr, e_phoff));
		*phentsize = get_le16(img + offsetof(Elf64_Ehdr, e_phentsize));
		*phnum = get_le16(img + offsetof(Elf64_Ehdr, e_phnum));
	} else {
		elf->entry = get_le32(img + offsetof(Elf32_Ehdr, e_entry));
		*phoff = get_le32(img + offsetof(Elf32_Ehdr, e_phoff));
		*phentsize = get_le16(img + offsetof(Elf32_Ehdr, e_phentsize));
		*phnum = get_le16(img + offsetof(Elf32_Ehdr, e_phnum));
	}
	if (*phnum == 0)
		return error_set(err, -ENOEXEC, "ELF kernel has no program headers");
	if (*phnum == PN_XNUM)
		return error_set(err, -ENOEXEC, "ELF kernel has too many program headers");
	if (*phentsize < phsize)
		return error_set(err, -ENOEXEC,
				 "ELF program header size %u is too small (need %zu)", *phentsize,
				 phsize);
	table = (uint64_t)*phnum * *phentsize;
	if (*phoff > size || table > size - *phoff)
		return error_set(
			err, -ENOEXEC,
			"kernel is truncated: program headers at 0x%llx (%llu bytes) past end of file (%zu bytes)",
			(unsigned long long)*phoff, (unsigned long long)table, size);
	return 0;
}

int elf_parse(const struct guest_mem *mem, const uint8_t *img, size_t size, struct elf_image *elf,
	      struct error *err)
{
	struct boot_range ranges[ELF_MAX_LOADS];
	unsigned int phnum = 0, phentsize = 0;
	uint64_t phoff = 0;
	int r;

	memset(elf, 0, sizeof(*elf));
	if (!img)
		size = 0;
	r = check_header(img, size, elf, &phoff, &phnum, &phentsize, err);
	if (r < 0)
		return r;

	for (unsigned int i = 0; i < phnum; i++) {
		struct phdr ph;

		read_phdr(img + phoff + (uint64_t)i * phentsize, elf->is64, &ph);
		if (ph.type != PT_LOAD && ph.type != PT_NOTE)
			continue;
		if (ph.offset > size || ph.filesz > size - ph.offset)
			return error_set(
				err, -ENOEXEC,
				"kernel segment %u: file data at 0x%llx (%llu bytes) is past end of file (%zu bytes)",
				i, (unsigned long long)ph.offset, (unsigned long long)ph.filesz,
				size);
		if (ph.type == PT_NOTE) {
			r = parse_notes(img + ph.offset, ph.filesz, ph.align, i, elf, err);
			if (r < 0)
				return r;
			continue;
		}
		if (ph.filesz > ph.memsz)
			return error_set(
				err, -ENOEXEC,
				"kernel segment %u: file size 0x%llx is larger than its memory size 0x%llx",
				i, (unsigned long long)ph.filesz, (unsigned long long)ph.memsz);
		if (ph.memsz == 0)
			continue;
		r = boot_check_segment(mem, "kernel segment", (int)i, ph.paddr, ph.memsz, err);
		if (r < 0)
			return r;
		if (elf->nr_loads == ELF_MAX_LOADS)
			return error_set(err, -ENOEXEC,
					 "ELF kernel has more than %d loadable segments",
					 ELF_MAX_LOADS);
		elf->loads[elf->nr_loads] = (struct elf_load){
			.phdr = i,
			.offset = ph.offset,
			.filesz = ph.filesz,
			.vaddr = ph.vaddr,
			.paddr = ph.paddr,
			.memsz = ph.memsz,
		};
		ranges[elf->nr_loads] = (struct boot_range){ ph.paddr, ph.memsz, i };
		if (ph.paddr + ph.memsz > elf->end)
			elf->end = ph.paddr + ph.memsz;
		elf->nr_loads++;
	}
	if (elf->nr_loads == 0)
		return error_set(err, -ENOEXEC, "ELF kernel has no loadable segments");
	return boot_check_overlap(ranges, elf->nr_loads, "kernel segments", err);
}

int elf_copy_segments(const struct guest_mem *mem, const struct boot_image *img,
		      const struct elf_image *elf, struct error *err)
{
	int fd = img->kernel_fd_valid ? img->kernel_fd : -1;

	for (unsigned int i = 0; i < elf->nr_loads; i++) {
		const struct elf_load *l = &elf->loads[i];
		int r = boot_put_file_bytes(mem, img, l->paddr, img->kernel + l->offset, l->filesz,
					    fd, l->offset);

		if (r == 0)
			r = guest_mem_fill(mem, l->paddr + l->filesz, 0, l->memsz - l->filesz);
		if (r == -EFAULT)
			return error_set(err, -ENOMEM,
					 "kernel segment %u at 0x%llx is outside guest RAM",
					 l->phdr, (unsigned long long)l->paddr);
		if (r < 0)
			return error_set(err, r, "kernel segment %u: cannot load it: %s", l->phdr,
					 strerror(-r));
	}
	return 0;
}

static bool in_loaded_segment(const struct elf_image *elf, uint64_t paddr)
{
	for (unsigned int i = 0; i < elf->nr_loads; i++) {
		if (paddr >= elf->loads[i].paddr &&
		    paddr - elf->loads[i].paddr < elf->loads[i].memsz)
			return true;
	}
	return false;
}

int elf_entry_phys(const struct elf_image *elf, uint64_t entry, uint64_t *phys, struct error *err)
{
	/* e_entry is a virtual address; kernels linked high say where it lives via p_paddr. */
	for (unsigned int i = 0; i < elf->nr_loads; i++) {
		const struct elf_load *l = &elf->loads[i];

		if (entry >= l->vaddr && entry - l->vaddr < l->memsz) {
			*phys = entry - l->vaddr + l->paddr;
			return 0;
		}
	}
	if (in_loaded_segment(elf, entry)) {
		*phys = entry;
		return 0;
	}
	return error_set(err, -ENOEXEC,
			 "kernel entry point 0x%llx is not inside any loaded segment",
			 (unsigned long long)entry);
}

static int write_start_info(const struct guest_mem *mem, const struct boot_image *img,
			    uint64_t initrd_addr, struct error *err)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct hvm_memmap_table_entry table[E820_MAX_ENTRIES];
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = HVM_START_VERSION,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.memmap_paddr = LAYOUT_MEMMAP,
	};
	int n = e820_build(mem, map, E820_MAX_ENTRIES);

	memset(table, 0, sizeof(table));
	for (int i = 0; i < n; i++) {
		table[i].addr = map[i].addr;
		table[i].size = map[i].size;
		table[i].type = map[i].type; /* XEN_HVM_MEMMAP_TYPE_* match e820 */
	}
	si.memmap_entries = (uint32_t)n;
	if (initrd_addr) {
		struct hvm_modlist_entry mod = {
			.paddr = initrd_addr,
			.size = img->initrd_size,
		};

		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST;
		if (guest_mem_write(mem, PVH_MODLIST, &mod, sizeof(mod)) < 0)
			return error_set(err, -ENOMEM, "no guest RAM for the PVH module list");
	}
	if (guest_mem_write(mem, LAYOUT_MEMMAP, table, n * sizeof(table[0])) < 0 ||
	    guest_mem_write(mem, LAYOUT_START_INFO, &si, sizeof(si)) < 0)
		return error_set(err, -ENOMEM, "no guest RAM for the PVH start info");
	return 0;
}

int boot_load_elf(const struct guest_mem *mem, const struct boot_image *img,
		  struct boot_entry *entry, struct error *err)
{
	struct elf_image elf;
	uint64_t rip, initrd_addr, initrd_lowest;
	int r;

	r = elf_parse(mem, img->kernel, img->kernel_size, &elf, err);
	if (r < 0)
		return r;
	if (elf.has_pvh) {
		/* The PVH entry is a physical address already. */
		rip = elf.pvh_entry;
		if (rip >= LAYOUT_4G || !in_loaded_segment(&elf, rip))
			return error_set(
				err, -ENOEXEC,
				"PVH entry point 0x%llx is not inside any loaded segment below 4 GiB",
				(unsigned long long)rip);
	} else {
		if (!elf.is64)
			return error_set(
				err, -ENOEXEC,
				"32-bit ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); 32-bit kernels boot via PVH or Multiboot");
		r = elf_entry_phys(&elf, elf.entry, &rip, err);
		if (r < 0)
			return r;
	}
	r = boot_put_cmdline(mem, img->cmdline, LAYOUT_CMDLINE_MAX - 1, NULL, err);
	if (r < 0)
		return r;
	initrd_lowest = (elf.end + BOOT_PAGE_SIZE - 1) & ~(BOOT_PAGE_SIZE - 1);
	r = boot_put_initrd(mem, img, initrd_lowest, guest_mem_low_end(mem), &initrd_addr, err);
	if (r < 0)
		return r;
	r = elf_copy_segments(mem, img, &elf, err);
	if (r < 0)
		return r;

	if (elf.has_pvh) {
		r = write_start_info(mem, img, initrd_addr, err);
		if (r < 0)
			return r;
		*entry = (struct boot_entry){
			.mode = BOOT_MODE_PROT32,
			.rip = rip,
			.rbx = LAYOUT_START_INFO,
			.protocol = "PVH",
		};
		return 0;
	}
	r = boot_write_zero_page(mem, NULL, 0, initrd_addr, initrd_addr ? img->initrd_size : 0,
				 err);
	if (r < 0)
		return r;
	*entry = (struct boot_entry){
		.mode = BOOT_MODE_LONG64,
		.rip = rip,
		.rsi = LAYOUT_ZERO_PAGE,
		.protocol = "ELF 64-bit",
	};
	return 0;
}
