// SPDX-License-Identifier: MIT
/*
 * The bzImage loader (x86/boot_bzimage.c) and the bzImage probes
 * (kernel_detect, bzimage_release). Input: fuzz_boot.h's header, then the
 * bzImage file, then the initrd name (unused here), command line and initrd;
 * the probes see everything after the header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The zero page names the initrd. */
static void check_bzimage(const struct guest_mem *mem, const uint8_t *ram,
			  const struct boot_image *img, const struct boot_entry *entry)
{
	const uint8_t *zp = ram + LAYOUT_ZERO_PAGE;

	if (entry->rsi != LAYOUT_ZERO_PAGE || memcmp(zp + 0x202, "HdrS", 4))
		abort();
	fuzz_boot_check_initrd(ram, mem, img,
			       get_le32(zp + 0x218) | (uint64_t)get_le32(zp + 0xc0) << 32,
			       get_le32(zp + 0x21c) | (uint64_t)get_le32(zp + 0xc4) << 32);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char release[65];

	if (size >= FUZZ_BOOT_HEADER) {
		size_t len = size - FUZZ_BOOT_HEADER;
		uint8_t *k = fuzz_boot_dup(data + FUZZ_BOOT_HEADER, len, 0);
		int r;

		kernel_detect(k, len);
		/* A small buffer too, for the -ENOSPC path. */
		r = bzimage_release(k, len, release, (size_t)(data[0] >> 4) + 1);
		if (r == 0 && strlen(release) > (size_t)(data[0] >> 4))
			abort();
		r = bzimage_release(k, len, release, sizeof(release));
		if (r == 0 && (!release[0] || strlen(release) >= sizeof(release)))
			abort();
		free(k);
	}
	fuzz_boot_run(data, size, boot_load_bzimage, check_bzimage);
	return 0;
}
