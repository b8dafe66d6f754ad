// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_mem.h"
#include "x86/layout.h"

/* The size of a transparent huge page on x86-64. */
#define GUEST_MEM_HUGE_ALIGN (2ULL << 20)

/* Split @ram_size bytes at @base into the x86 layout: low RAM, then 4 GiB+. */
static void layout_regions(struct guest_mem *mem, uint8_t *base, uint64_t ram_size)
{
	uint64_t low = ram_size < LAYOUT_PCI_HOLE_START ? ram_size : LAYOUT_PCI_HOLE_START;

	memset(mem->regions, 0, sizeof(mem->regions));
	mem->regions[0] = (struct guest_mem_region){ .gpa = 0, .size = low, .host = base };
	mem->nr_regions = 1;
	if (ram_size > low) {
		mem->regions[1] = (struct guest_mem_region){ .gpa = LAYOUT_4G,
							     .size = ram_size - low,
							     .host = base + low };
		mem->nr_regions = 2;
	}
	mem->ram_size = ram_size;
}

/*
 * An anonymous mapping of @size bytes starting on an @align boundary. KVM
 * maps guest memory with 2 MiB pages only where the host address and the
 * guest address agree modulo 2 MiB and the host page is a transparent huge
 * page; before Linux 6.7 mmap() does not align large mappings by itself.
 */
static void *map_aligned(uint64_t size, uint64_t align)
{
	uint8_t *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t head;

	if (p == MAP_FAILED)
		return MAP_FAILED;
	head = (align - ((uintptr_t)p & (align - 1))) & (align - 1);
	if (head)
		munmap(p, head);
	munmap(p + head + size, align - head);
	return p + head;
}

int guest_mem_alloc(struct guest_mem *mem, uint64_t ram_size)
{
	void *p;

	memset(mem, 0, sizeof(*mem));
	if (ram_size < LAYOUT_MIN_RAM)
		return -EINVAL;
	p = map_aligned(ram_size, GUEST_MEM_HUGE_ALIGN);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest RAM is large and sparse; keep it out of core dumps. */
	madvise(p, ram_size, MADV_DONTDUMP);
	/*
	 * 2 MiB pages: loading the kernel and initrd takes a handful of faults
	 * instead of thousands (about 3 ms less to the first KVM_RUN), and the
	 * guest gets large mappings.
	 */
	madvise(p, ram_size, MADV_HUGEPAGE);
	layout_regions(mem, p, ram_size);
	mem->mapping = p;
	mem->mapping_size = ram_size;
	mem->owns_mapping = true;
	return 0;
}

void guest_mem_init_buffer(struct guest_mem *mem, void *buf, uint64_t ram_size)
{
	memset(mem, 0, sizeof(*mem));
	layout_regions(mem, buf, ram_size);
	mem->mapping = buf;
	mem->mapping_size = ram_size;
}

void guest_mem_free(struct guest_mem *mem)
{
	if (mem->owns_mapping && mem->mapping)
		munmap(mem->mapping, mem->mapping_size);
	memset(mem, 0, sizeof(*mem));
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		uint64_t off;

		if (gpa < r->gpa)
			continue;
		off = gpa - r->gpa;
		/* Written so that neither side can overflow. */
		if (off > r->size || len > r->size - off)
			continue;
		return r->host + off;
	}
	return NULL;
}

int guest_mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src = guest_mem_ptr(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_fill(const struct guest_mem *mem, uint64_t gpa, int byte, uint64_t len)
{
	const uintptr_t huge = 2u << 20;
	uint8_t *dst = guest_mem_ptr(mem, gpa, len);
	uintptr_t lo, hi;

	if (!dst)
		return -EFAULT;
	lo = ((uintptr_t)dst + huge - 1) & ~(huge - 1);
	hi = ((uintptr_t)dst + len) & ~(huge - 1);
	/*
	 * Zeroes in our own anonymous memory: whole 2 MiB pages are dropped,
	 * not written, so a kernel's large bss costs no memory until it is
	 * used (smaller pieces would split a 2 MiB page). Never file-mapped
	 * there: GUEST_MEM_MAP maps only a segment's file part.
	 */
	if (byte == 0 && mem->owns_mapping && lo < hi &&
	    madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) {
		memset(dst, 0, lo - (uintptr_t)dst);
		memset((void *)hi, 0, (uintptr_t)dst + len - hi);
		return 0;
	}
	memset(dst, byte, len);
	return 0;
}

static int read_full(int fd, uint8_t *dst, uint64_t len, uint64_t offset)
{
	while (len) {
		ssize_t n = pread(fd, dst, len, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		dst += n;
		len -= (uint64_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

int guest_mem_load_file(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len,
			int fd, uint64_t offset, enum guest_mem_load how)
{
	const uint64_t page = 4096;
	uint8_t *dst = guest_mem_ptr(mem, gpa, len);
	uint64_t head, body;

	if (!dst)
		return -EFAULT;
	if (fd >= 0 && how == GUEST_MEM_READ)
		return read_full(fd, dst, len, offset);
	if (fd < 0 || (gpa & (page - 1)) != (offset & (page - 1))) {
		memcpy(dst, src, len);
		return 0;
	}
	head = (page - (gpa & (page - 1))) & (page - 1);
	if (head > len)
		head = len;
	body = (len - head) & ~(page - 1);
	memcpy(dst, src, head);
	if (body && mmap(dst + head, body, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
			 (off_t)(offset + head)) == MAP_FAILED)
		return -errno;
	memcpy(dst + head + body, (const uint8_t *)src + head + body, len - head - body);
	return 0;
}

uint64_t guest_mem_low_end(const struct guest_mem *mem)
{
	return mem->nr_regions ? mem->regions[0].gpa + mem->regions[0].size : 0;
}
