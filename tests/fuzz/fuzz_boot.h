/* SPDX-License-Identifier: MIT */
/*
 * Shared by the kernel loader targets (fuzz_bzimage.c, fuzz_elf.c,
 * fuzz_multiboot.c). An input is a 12-byte header, the kernel file, then
 * the initrd name, the command line and the initrd, taken from the end:
 *
 *   byte 0      flags: FUZZ_BOOT_*
 *   byte 1      guest RAM: 2 MiB + byte * 256 KiB (2 MiB to 65.75 MiB)
 *   bytes 2-3   initrd name length (little-endian)
 *   bytes 4-7   command line length
 *   bytes 8-11  initrd length
 *
 * Lengths are clipped to what the input holds (initrd first, then command
 * line, then name); the kernel is what is left, so its offsets stay fixed
 * while the tail changes. tests/fuzz/mkseeds_devices.py writes the seeds.
 * The targets keep guest RAM across inputs (libFuzzer gives them no context
 * to carry it in), hence the one static struct fuzz_boot.
 */
#ifndef KVMINI_FUZZ_BOOT_H
#define KVMINI_FUZZ_BOOT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "guest_mem.h"
#include "le.h"
#include "x86/boot.h"
#include "x86/layout.h"

#define FUZZ_BOOT_INITRD 0x01 /* pass the initrd (else NULL, even with a length) */
#define FUZZ_BOOT_CMDLINE 0x02 /* pass the command line (else NULL) */
#define FUZZ_BOOT_NAME 0x04 /* pass the initrd name (else NULL) */
#define FUZZ_BOOT_FD 0x08 /* give the loader the kernel as a file (memfd) too */
/* 0x10 read ELF segments instead of mapping them: now what 0x20 does */
#define FUZZ_BOOT_LAZY 0x20 /* with FUZZ_BOOT_FD: record them, lazy_load_now() reads */

#define FUZZ_BOOT_HEADER 12
#define FUZZ_BOOT_RAM_MAX ((2ULL << 20) + 255 * (256ULL << 10))

struct fuzz_boot {
	uint8_t *ram; /* FUZZ_BOOT_RAM_MAX bytes, mapped once */
	int memfd;
};

/* Exact-size heap copy, so that ASan sees reads past the end of each part. */
static inline void *fuzz_boot_dup(const uint8_t *p, size_t len, size_t extra)
{
	uint8_t *d = malloc(len + extra ? len + extra : 1);

	if (!d)
		abort();
	memcpy(d, p, len);
	memset(d + len, 0, extra);
	return d;
}

static inline size_t fuzz_boot_take(size_t *left, uint32_t want)
{
	size_t n = want < *left ? want : *left;

	*left -= n;
	return n;
}

static inline struct fuzz_boot *fuzz_boot_get(void)
{
	static struct fuzz_boot fb;

	if (!fb.ram) {
		/* Page-aligned, as the loaders' file mappings need. */
		fb.ram = mmap(NULL, FUZZ_BOOT_RAM_MAX, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		fb.memfd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
		if (fb.ram == MAP_FAILED || fb.memfd < 0)
			abort();
	}
	return &fb;
}

typedef int (*fuzz_boot_loader)(const struct guest_mem *, const struct boot_image *,
				struct boot_entry *, struct error *);
/* Checks what a successful load left in @ram; abort()s on a wrong result. */
typedef void (*fuzz_boot_check)(const struct guest_mem *mem, const uint8_t *ram,
				const struct boot_image *img, const struct boot_entry *entry);

/*
 * The initrd the loader says it placed at [@addr, @addr + @size) must be
 * there whole: nothing loaded after it (kernel, boot structures) overwrote it.
 */
static inline void fuzz_boot_check_initrd(const uint8_t *ram, const struct guest_mem *mem,
					  const struct boot_image *img, uint64_t addr,
					  uint64_t size)
{
	if (!img->initrd || !img->initrd_size) {
		if (addr || size)
			abort();
		return;
	}
	if (size != img->initrd_size || addr < LAYOUT_HIGH_START ||
	    addr + size > guest_mem_low_end(mem) || memcmp(ram + addr, img->initrd, size))
		abort();
}

/*
 * Decode @data and run @loader on it. Guest RAM is never cleared: loaders
 * only write to it, so what an earlier input left there cannot change the
 * outcome. On success the entry point must lie in guest RAM above 1 MiB,
 * the command line must be in place, and @check looks at the rest.
 */
static inline int fuzz_boot_run(const uint8_t *data, size_t size, fuzz_boot_loader loader,
				fuzz_boot_check check)
{
	struct fuzz_boot *fb = fuzz_boot_get();
	struct guest_mem mem;
	struct boot_image img = { 0 };
	struct lazy_load lazy;
	struct boot_entry entry = { 0 };
	struct error err = { 0 };
	size_t left, initrd_len, cmdline_len, name_len, kernel_len;
	uint8_t *kernel, *initrd = NULL;
	char *cmdline = NULL, *name = NULL;
	uint8_t flags, ram_steps;
	int r;

	if (size < FUZZ_BOOT_HEADER)
		return 0;
	flags = data[0];
	ram_steps = data[1];
	left = size - FUZZ_BOOT_HEADER;
	initrd_len = fuzz_boot_take(&left, get_le32(data + 8));
	cmdline_len = fuzz_boot_take(&left, get_le32(data + 4));
	name_len = fuzz_boot_take(&left, get_le16(data + 2));
	kernel_len = left;

	data += FUZZ_BOOT_HEADER;
	kernel = fuzz_boot_dup(data, kernel_len, 0);
	if (flags & FUZZ_BOOT_NAME)
		name = fuzz_boot_dup(data + kernel_len, name_len, 1);
	if (flags & FUZZ_BOOT_CMDLINE)
		cmdline = fuzz_boot_dup(data + kernel_len + name_len, cmdline_len, 1);
	if (flags & FUZZ_BOOT_INITRD)
		initrd = fuzz_boot_dup(data + kernel_len + name_len + cmdline_len, initrd_len, 0);

	guest_mem_init_buffer(&mem, fb->ram, (2ULL << 20) + ram_steps * (256ULL << 10));
	img = (struct boot_image){
		.kernel = kernel,
		.kernel_size = kernel_len,
		.initrd = initrd,
		.initrd_size = initrd ? initrd_len : 0,
		.cmdline = cmdline,
		.initrd_name = name,
	};
	if (flags & FUZZ_BOOT_FD) {
		if (ftruncate(fb->memfd, 0) < 0 ||
		    pwrite(fb->memfd, kernel, kernel_len, 0) != (ssize_t)kernel_len)
			abort();
		img.kernel_fd = fb->memfd;
		img.kernel_fd_valid = true;
		if (flags & FUZZ_BOOT_LAZY) {
			lazy_load_init(&lazy, &mem);
			img.lazy = &lazy;
		}
	}

	r = loader(&mem, &img, &entry, &err);
	/* What the loader recorded is in the file: reading it cannot fail. */
	if (r == 0 && img.lazy && lazy_load_now(&lazy, &err))
		abort();
	if (img.lazy)
		lazy_load_destroy(&lazy);
	if (r == 0) {
		if (entry.rip < LAYOUT_HIGH_START || entry.rip >= guest_mem_low_end(&mem) ||
		    strcmp((const char *)fb->ram + LAYOUT_CMDLINE, cmdline ? cmdline : ""))
			abort();
		check(&mem, fb->ram, &img, &entry);
	}
	if (r < 0 && (err.code != r || !err.msg[0]))
		abort();

	if (flags & FUZZ_BOOT_FD) {
		/* Drop the file's pages from guest RAM before the next input shrinks the file. */
		if (mmap(fb->ram, FUZZ_BOOT_RAM_MAX, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != fb->ram)
			abort();
	}
	free(kernel);
	free(initrd);
	free(cmdline);
	free(name);
	return r;
}

#endif
