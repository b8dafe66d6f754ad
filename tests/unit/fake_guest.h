/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM for loader tests: a calloc'd buffer described as guest_mem, and
 * little-endian readers for what the loaders wrote into it.
 */
#ifndef KVMINI_TEST_FAKE_GUEST_H
#define KVMINI_TEST_FAKE_GUEST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"

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
	uint16_t v;

	memcpy(&v, vm->buf + gpa, sizeof(v));
	return v;
}

static inline uint32_t g32(const struct fake_guest *vm, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, vm->buf + gpa, sizeof(v));
	return v;
}

static inline uint64_t g64(const struct fake_guest *vm, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, vm->buf + gpa, sizeof(v));
	return v;
}

#endif
