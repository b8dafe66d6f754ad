/* SPDX-License-Identifier: MIT */
/*
 * Kernel loaders. Each one checks the image strictly (sizes, offsets and
 * load addresses against guest RAM), copies it, the initrd and the command
 * line into guest memory at the places x86/layout.h reserves, and says how
 * the boot vCPU must start.
 */
#ifndef KVMINI_X86_BOOT_H
#define KVMINI_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"
#include "lazy_load.h"

struct error;

enum kernel_format {
	KERNEL_UNKNOWN = 0,
	KERNEL_BZIMAGE, /* Linux bzImage, boot protocol >= 2.12 */
	KERNEL_ELF, /* ELF64 (PVH note or 64-bit entry) or ELF32 with PVH note */
	KERNEL_MULTIBOOT, /* Multiboot v1 header in the first 8 KiB */
};

enum boot_mode {
	BOOT_MODE_LONG64, /* 64-bit, paging on (identity map of 4 GiB), flat segments */
	BOOT_MODE_PROT32, /* 32-bit protected mode, paging off, flat segments */
};

/* How the boot vCPU starts; all other registers are zero. */
struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi; /* Linux 64-bit entry: zero page address */
	uint64_t rbx; /* PVH: start_info address; Multiboot: info address */
	uint64_t rax; /* Multiboot: 0x2BADB002 */
	const char *protocol; /* for messages: "bzImage 64-bit", "PVH", "Multiboot" */
};

struct boot_image {
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_size;
	const char *cmdline; /* NUL-terminated */
	const char *initrd_name; /* Multiboot module string; may be NULL */
	/* The kernel file, for mapping ELF segments instead of copying them
	 * from @kernel (or for loading them lazily). */
	int kernel_fd;
	bool kernel_fd_valid;
	/* The initrd file (initrd_fd_valid), for loading it lazily. */
	int initrd_fd;
	bool initrd_fd_valid;
	/* Non-NULL: the file bytes (ELF segments, the initrd) are recorded
	 * there instead, for lazy_load_start() once the loader is done. */
	struct lazy_load *lazy;
};

/*
 * Which loader fits. Multiboot wins over ELF (a Multiboot kernel is usually an
 * ELF file too); a bzImage is recognised by its "HdrS" header.
 */
enum kernel_format kernel_detect(const uint8_t *img, size_t size);

/*
 * Each loader returns 0 and fills @entry, or a negative errno with a one-line
 * reason in @err (e.g. "kernel is truncated: setup header past end of file",
 * "kernel and initrd (300 MiB) do not fit in 256 MiB of RAM").
 */
int boot_load_bzimage(const struct guest_mem *mem, const struct boot_image *img,
		      struct boot_entry *entry, struct error *err);
int boot_load_elf(const struct guest_mem *mem, const struct boot_image *img,
		  struct boot_entry *entry, struct error *err);
int boot_load_multiboot(const struct guest_mem *mem, const struct boot_image *img,
			struct boot_entry *entry, struct error *err);

/* Detect and dispatch; -ENOEXEC with "not a kernel ..." for unknown formats. */
int boot_load(const struct guest_mem *mem, const struct boot_image *img, struct boot_entry *entry,
	      struct error *err);

/*
 * For bzImages: the kernel release from the setup header's version string
 * ("6.1.0-56-amd64"), written to @buf. Returns 0, -ENOENT, or -ENOSPC if @buflen is too small.
 */
int bzimage_release(const uint8_t *img, size_t size, char *buf, size_t buflen);

#endif
