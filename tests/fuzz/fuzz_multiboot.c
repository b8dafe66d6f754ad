// SPDX-License-Identifier: MIT
/*
 * The Multiboot v1 loader (x86/boot_multiboot.c: a.out kludge or ELF, one
 * module) and the format probe. Input: fuzz_boot.h's header, then the
 * kernel file, then the module name, command line and module (initrd).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The information structure names the module (the initrd) and its string. */
static void check_multiboot(const struct guest_mem *mem, const uint8_t *ram,
			    const struct boot_image *img, const struct boot_entry *entry)
{
	const uint8_t *info = ram + LAYOUT_START_INFO, *mod;
	const char *name = img->initrd_name ? img->initrd_name : "initrd";
	uint64_t mods = get_le32(info + 24), start, end, string;

	if (entry->rax != 0x2badb002 || entry->rbx != LAYOUT_START_INFO ||
	    entry->mode != BOOT_MODE_PROT32)
		abort();
	if (!get_le32(info + 20)) {
		fuzz_boot_check_initrd(ram, mem, img, 0, 0);
		return;
	}
	if (get_le32(info + 20) != 1 || mods + 16 > guest_mem_low_end(mem))
		abort();
	mod = ram + mods;
	start = get_le32(mod);
	end = get_le32(mod + 4);
	string = get_le32(mod + 8);
	if (end < start || string >= guest_mem_low_end(mem) ||
	    strnlen((const char *)ram + string, guest_mem_low_end(mem) - string) != strlen(name) ||
	    strcmp((const char *)ram + string, name))
		abort();
	fuzz_boot_check_initrd(ram, mem, img, start, end - start);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= FUZZ_BOOT_HEADER) {
		size_t len = size - FUZZ_BOOT_HEADER;
		uint8_t *k = fuzz_boot_dup(data + FUZZ_BOOT_HEADER, len, 0);

		kernel_detect(k, len);
		free(k);
	}
	fuzz_boot_run(data, size, boot_load_multiboot, check_multiboot);
	return 0;
}
