// SPDX-License-Identifier: MIT
/*
 * Linux bzImage, 64-bit boot protocol (Documentation/arch/x86/boot.rst): the
 * real-mode setup code is skipped; the protected-mode kernel is entered at
 * its 64-bit entry (load address + 0x200) with %rsi pointing at the zero page.
 */
#include <errno.h>
#include <string.h>

#include "err.h"
#include "guest_mem.h"
#include "x86/boot.h"
#include "x86/boot_internal.h"
#include "x86/layout.h"

#define MIN_PROTOCOL 0x020c /* 2.12: xloadflags, 64-bit entry documented */
#define SETUP_HDR_MIN_END (BP_INIT_SIZE + 4)
#define DEFAULT_SETUP_SECTS 4
#define DEFAULT_INITRD_ADDR_MAX 0x37ffffffULL
#define ENTRY64_OFFSET 0x200

int boot_load_bzimage(const struct guest_mem *mem, const struct boot_image *img,
		      struct boot_entry *entry, struct error *err)
{
	const uint8_t *k = img->kernel;
	size_t size = k ? img->kernel_size : 0;
	uint64_t setup_size, payload, syssize, load, pref, runtime, memsz, init_size;
	uint64_t initrd_max, initrd_addr;
	unsigned int version, hdr_end, setup_sects;
	int r;

	if (size < BP_HEADER + 4)
		return error_set(err, -ENOEXEC,
				 "kernel is truncated: setup header past end of file (%zu bytes)",
				 size);
	if (memcmp(k + BP_HEADER, "HdrS", 4) != 0)
		return error_set(err, -ENOEXEC,
				 "not a bzImage: no \"HdrS\" signature at offset 0x202");
	if (size < BP_VERSION + 2)
		return error_set(
			err, -ENOEXEC,
			"kernel is truncated: boot protocol version past end of file (%zu bytes)",
			size);
	version = get_le16(k + BP_VERSION);
	if (version < MIN_PROTOCOL)
		return error_set(
			err, -ENOEXEC,
			"Linux boot protocol %u.%02u is too old (kvmini needs 2.12 or later)",
			version >> 8, version & 0xff);
	hdr_end = BP_HEADER + k[BP_HDR_LEN];
	if (hdr_end < SETUP_HDR_MIN_END)
		return error_set(
			err, -ENOEXEC,
			"bzImage setup header is too short (ends at 0x%x, protocol 2.12 needs 0x%x)",
			hdr_end, SETUP_HDR_MIN_END);
	if (size < hdr_end)
		return error_set(
			err, -ENOEXEC,
			"kernel is truncated: setup header ends at 0x%x, file has %zu bytes",
			hdr_end, size);
	if (!(get_le16(k + BP_XLOADFLAGS) & BP_XLF_KERNEL_64))
		return error_set(
			err, -ENOEXEC,
			"bzImage has no 64-bit entry point (XLF_KERNEL_64 not set in xloadflags)");

	setup_sects = k[BP_SETUP_SECTS] ? k[BP_SETUP_SECTS] : DEFAULT_SETUP_SECTS;
	setup_size = (setup_sects + 1ULL) * 512;
	if (size < setup_size)
		return error_set(
			err, -ENOEXEC,
			"kernel is truncated: real-mode setup code (%llu bytes) past end of file (%zu bytes)",
			(unsigned long long)setup_size, size);
	payload = size - setup_size;
	syssize = get_le32(k + BP_SYSSIZE) * 16ULL;
	if (syssize == 0)
		return error_set(err, -ENOEXEC, "bzImage setup header has syssize 0");
	if (syssize > payload)
		return error_set(
			err, -ENOEXEC,
			"kernel is truncated: protected-mode code is %llu bytes, file has %llu",
			(unsigned long long)syssize, (unsigned long long)payload);
	if (syssize <= ENTRY64_OFFSET)
		return error_set(
			err, -ENOEXEC,
			"bzImage protected-mode code (%llu bytes) ends before its 64-bit entry point at offset 0x%x",
			(unsigned long long)syssize, ENTRY64_OFFSET);

	pref = get_le64(k + BP_PREF_ADDRESS);
	if (k[BP_RELOCATABLE]) {
		uint64_t align = get_le32(k + BP_KERNEL_ALIGNMENT);

		if (align == 0 || (align & (align - 1)))
			return error_set(err, -ENOEXEC,
					 "bzImage kernel_alignment 0x%llx is not a power of two",
					 (unsigned long long)align);
		load = (LAYOUT_HIGH_START + align - 1) & ~(align - 1);
		/* The decompressor moves itself up to pref_address before running there. */
		runtime = pref > load ? pref : load;
	} else {
		load = pref;
		runtime = load;
	}
	init_size = get_le32(k + BP_INIT_SIZE);
	r = boot_check_segment(mem, "kernel", -1, load, payload, err);
	if (r < 0)
		return r;
	r = boot_check_segment(mem, "kernel's early working area", -1, runtime, init_size, err);
	if (r < 0)
		return r;
	/* Both ranges lie in RAM now, so these sums cannot wrap. */
	memsz = runtime + init_size - load;
	if (memsz < payload)
		memsz = payload;

	r = boot_put_cmdline(mem, img->cmdline, get_le32(k + BP_CMDLINE_SIZE), NULL, err);
	if (r < 0)
		return r;
	initrd_max = get_le32(k + BP_INITRD_ADDR_MAX);
	if (initrd_max == 0)
		initrd_max = DEFAULT_INITRD_ADDR_MAX;
	r = boot_put_initrd(mem, img, load + memsz, initrd_max + 1, &initrd_addr, err);
	if (r < 0)
		return r;
	if (guest_mem_write(mem, load, k + setup_size, payload) < 0)
		return error_set(err, -ENOMEM, "kernel at 0x%llx is outside guest RAM",
				 (unsigned long long)load);
	r = boot_write_zero_page(mem, k + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS, initrd_addr,
				 initrd_addr ? img->initrd_size : 0, err);
	if (r < 0)
		return r;

	*entry = (struct boot_entry){
		.mode = BOOT_MODE_LONG64,
		.rip = load + ENTRY64_OFFSET,
		.rsi = LAYOUT_ZERO_PAGE,
		.protocol = "bzImage 64-bit",
	};
	return 0;
}
