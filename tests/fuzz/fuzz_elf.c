// SPDX-License-Identifier: MIT
/*
 * The ELF loader (x86/boot_elf.c: PVH note or 64-bit entry). Input:
 * fuzz_boot.h's header, then the ELF file, then the initrd name (unused
 * here), command line and initrd.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* PVH: start_info and its module list name the initrd; else the zero page does. */
static void check_elf(const struct guest_mem *mem, const uint8_t *ram, const struct boot_image *img,
		      const struct boot_entry *entry)
{
	const uint8_t *si = ram + LAYOUT_START_INFO, *zp = ram + LAYOUT_ZERO_PAGE;
	uint64_t mods;

	if (entry->mode == BOOT_MODE_LONG64) {
		if (entry->rsi != LAYOUT_ZERO_PAGE)
			abort();
		fuzz_boot_check_initrd(ram, mem, img, get_le32(zp + 0x218), get_le32(zp + 0x21c));
		return;
	}
	if (entry->rbx != LAYOUT_START_INFO || get_le32(si) != 0x336ec578)
		abort();
	if (!get_le32(si + 12)) {
		fuzz_boot_check_initrd(ram, mem, img, 0, 0);
		return;
	}
	mods = get_le64(si + 16);
	if (get_le32(si + 12) != 1 || mods + 32 > guest_mem_low_end(mem))
		abort();
	fuzz_boot_check_initrd(ram, mem, img, get_le64(ram + mods), get_le64(ram + mods + 8));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_boot_run(data, size, boot_load_elf, check_elf);
	return 0;
}
