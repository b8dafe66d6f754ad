/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM for loader and device tests: a calloc'd buffer described as
 * guest_mem, little-endian readers for what was written into it, and a
 * loader run on it.
 */
#ifndef KVMINI_TEST_FAKE_GUEST_H
#define KVMINI_TEST_FAKE_GUEST_H

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "guest_mem.h"
#include "le.h"
#include "x86/boot.h"

struct fake_guest {
	uint8_t *buf;
	uint64_t ram;
	struct guest_mem mem;
};

static inline void fake_guest_init(struct fake_guest *vm, uint64_t ram)
{
	vm->buf = calloc(1, ram);
	assert_non_null(vm->buf);
	vm->ram = ram;
	guest_mem_init_buffer(&vm->mem, vm->buf, ram);
}

static inline void fake_guest_free(struct fake_guest *vm)
{
	free(vm->buf);
}

static inline uint16_t g16(const struct fake_guest *vm, uint64_t gpa)
{
	return get_le16(vm->buf + gpa);
}

static inline uint32_t g32(const struct fake_guest *vm, uint64_t gpa)
{
	return get_le32(vm->buf + gpa);
}

static inline uint64_t g64(const struct fake_guest *vm, uint64_t gpa)
{
	return get_le64(vm->buf + gpa);
}

typedef int (*fake_loader_fn)(const struct guest_mem *mem, const struct boot_image *img,
			      struct boot_entry *entry, struct error *err);

/*
 * Run @loader on @img with its kernel in an exact-size copy, so that a
 * sanitizer build catches reads past the end; @entry and @err start zeroed.
 */
static inline int fake_guest_load(struct fake_guest *vm, fake_loader_fn loader,
				  const struct boot_image *img, struct boot_entry *entry,
				  struct error *err)
{
	struct boot_image copy = *img;
	uint8_t *kernel = malloc(img->kernel_size ? img->kernel_size : 1);
	int r;

	assert_non_null(kernel);
	if (img->kernel_size)
		memcpy(kernel, img->kernel, img->kernel_size);
	copy.kernel = kernel;
	memset(entry, 0, sizeof(*entry));
	memset(err, 0, sizeof(*err));
	r = loader(&vm->mem, &copy, entry, err);
	free(kernel);
	return r;
}

/* The load fails with @code, recorded in the error with a message containing @text. */
static inline void fake_guest_expect_error(struct fake_guest *vm, fake_loader_fn loader,
					   const struct boot_image *img, int code, const char *text)
{
	struct boot_entry entry;
	struct error err;
	int r = fake_guest_load(vm, loader, img, &entry, &err);

	if (r != code || !strstr(err.msg, text))
		fail_msg("size %zu: got %d \"%s\", expected %d with \"%s\"", img->kernel_size, r,
			 err.msg, code, text);
	assert_int_equal(err.code, code);
}

#endif
