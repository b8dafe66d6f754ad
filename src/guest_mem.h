/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory. This is the one place where a guest-physical address
 * and length become a host pointer: every access a device or loader makes on
 * behalf of the guest goes through guest_mem_ptr() (or the read/write helpers
 * built on it), which rejects ranges that overflow, fall outside RAM, or
 * straddle two regions.
 */
#ifndef KVMINI_GUEST_MEM_H
#define KVMINI_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 4

struct guest_mem_region {
	uint64_t gpa; /* guest-physical start */
	uint64_t size; /* bytes */
	uint8_t *host; /* host virtual address of gpa */
};

struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t ram_size; /* sum of region sizes */
	void *mapping; /* the host mapping backing all regions */
	uint64_t mapping_size;
	bool owns_mapping; /* guest_mem_free() unmaps it */
};

/*
 * Map @ram_size bytes of anonymous memory (MAP_NORESERVE) and lay it out as
 * x86 RAM: below the 32-bit PCI hole (see x86/layout.h), the rest from 4 GiB.
 * Returns 0 or a negative errno.
 */
int guest_mem_alloc(struct guest_mem *mem, uint64_t ram_size);

/*
 * Describe a caller-owned buffer as guest RAM with the same layout rules as
 * guest_mem_alloc(): for unit tests and fake guests. The buffer must be
 * @ram_size bytes; nothing is freed by guest_mem_free().
 */
void guest_mem_init_buffer(struct guest_mem *mem, void *buf, uint64_t ram_size);

void guest_mem_free(struct guest_mem *mem);

/*
 * Host pointer for [gpa, gpa + len), or NULL if any byte of it is not guest
 * RAM (or gpa + len overflows). len == 0 is valid if gpa is inside RAM or at
 * a region's end.
 */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy helpers: 0 on success, -EFAULT if the range is not all guest RAM. */
int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);
/* Zeroes in whole 2 MiB pages of guest_mem_alloc()'s RAM are dropped, not written. */
int guest_mem_fill(const struct guest_mem *mem, uint64_t gpa, int byte, uint64_t len);

/*
 * Put @len bytes of a file into guest RAM at @gpa: @src holds the bytes (at
 * file offset @offset of @fd). With @fd >= 0:
 *  - GUEST_MEM_MAP: whole pages are mapped from @fd copy-on-write instead of
 *    copied when @gpa and @offset have the same offset within a page, so
 *    loading a large kernel costs no copying (but the guest's mappings of
 *    those pages are 4 KiB ones); partial pages are copied;
 *  - GUEST_MEM_READ: read from @fd straight into RAM, which stays anonymous
 *    memory (2 MiB pages) and needs no mapping of the file.
 * With @fd < 0, @src is copied. 0 or -EFAULT (range not all RAM) or the
 * mmap/read error (-EIO: the file is shorter).
 */
enum guest_mem_load { GUEST_MEM_MAP, GUEST_MEM_READ };
int guest_mem_load_file(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len,
			int fd, uint64_t offset, enum guest_mem_load how);

/* End (exclusive) of RAM below 4 GiB. */
uint64_t guest_mem_low_end(const struct guest_mem *mem);

#endif
