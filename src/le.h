/* SPDX-License-Identifier: MIT */
/*
 * Little-endian fields in byte buffers: file images, configuration spaces,
 * register accesses. Callers bounds-check; nothing here knows lengths.
 */
#ifndef KVMINI_LE_H
#define KVMINI_LE_H

#include <stdint.h>

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* An access of @len bytes (at most 8), as bus callbacks get them. */
static inline uint64_t get_le(const uint8_t *p, uint32_t len)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void put_le(uint8_t *p, uint32_t len, uint64_t v)
{
	for (uint32_t i = 0; i < len && i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#endif
