// SPDX-License-Identifier: MIT
/*
 * The CMOS RTC model (devices/cmos_rtc.c) driven like a guest, on a clock
 * the input sets. Input: 4 bytes of host time (seconds since 1970, LE), then
 * operations, each an opcode byte and its operands:
 *   0x00-0x3f  write the index port, value: the next byte
 *   0x40-0x7f  write the data port, value: the next byte
 *   0x80-0xbf  read the data port
 *   0xc0-0xdf  the host clock advances (op & 0x1f) * 997 seconds
 *   0xe0-0xff  odd access: offset (op & 3), length (op >> 2 & 3), a read
 *              (the bus only ever does single-byte accesses at 0 and 1)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cmos_rtc.h"
#include "le.h"

#define REG_A 0x0a
#define REG_B 0x0b
#define REG_D 0x0d
#define REG_CENTURY 0x32
#define REG_B_SET 0x80
#define REG_B_BINARY 0x04
#define REG_B_24H 0x02

/* What a data read at each index must return, where the harness knows it. */
struct shadow {
	bool known[128];
	uint8_t val[128];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static time_t fake_now(void *opaque)
{
	return *(const time_t *)opaque;
}

static bool valid_bcd(uint8_t b)
{
	return (b & 0x0f) <= 9 && (b >> 4) <= 9;
}

/* A running clock in BCD mode shows BCD digits (the century can pass 99 only after 9999). */
static void check_read(const struct cmos_rtc *rtc, uint8_t index, uint8_t val)
{
	uint8_t reg_b = rtc->ram[REG_B];

	if ((reg_b & (REG_B_SET | REG_B_BINARY)) || index > 9 || (index & 1 && index < 6))
		return;
	if (index == 4 && !(reg_b & REG_B_24H))
		val &= 0x7f;
	if (!valid_bcd(val))
		abort();
}

static bool is_time_reg(uint8_t index)
{
	return (index <= 9 && (index >= 6 || !(index & 1))) || index == REG_CENTURY;
}

/*
 * CMOS RAM reads back what was written; so do the time registers while SET
 * holds the clock, until register B changes (it may re-encode them).
 */
static void track_write(struct shadow *sh, const struct cmos_rtc *rtc, uint8_t index, uint8_t val)
{
	if (index == REG_B) {
		for (unsigned int i = 0; i < 128; i++)
			if (is_time_reg((uint8_t)i))
				sh->known[i] = false;
		return;
	}
	if (index > REG_A && index <= REG_D)
		return;
	if (is_time_reg(index) && !(rtc->ram[REG_B] & REG_B_SET)) {
		sh->known[index] = false;
		return;
	}
	sh->known[index] = true;
	sh->val[index] = index == REG_A ? val & 0x7f : val;
}

static void check_shadow(const struct shadow *sh, const struct cmos_rtc *rtc, uint8_t index,
			 uint8_t val)
{
	if (!sh->known[index] || (is_time_reg(index) && !(rtc->ram[REG_B] & REG_B_SET)))
		return;
	if (val != sh->val[index])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shadow sh = { 0 };
	struct cmos_rtc rtc;
	time_t now;
	size_t i = 4;

	if (size < 4)
		return 0;
	now = (time_t)get_le32(data);
	cmos_rtc_init(&rtc, fake_now, &now);
	while (i < size) {
		uint8_t op = data[i++], buf[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

		if (op < 0x80) {
			uint8_t index = rtc.index;

			buf[0] = i < size ? data[i++] : 0;
			if (op >= 0x40)
				track_write(&sh, &rtc, index, buf[0]);
			cmos_rtc_io(&rtc, op < 0x40 ? 0 : 1, buf, 1, true);
		} else if (op < 0xc0) {
			uint8_t index = rtc.index;

			cmos_rtc_io(&rtc, 1, buf, 1, false);
			check_read(&rtc, index, buf[0]);
			check_shadow(&sh, &rtc, index, buf[0]);
		} else if (op < 0xe0) {
			now += (time_t)(op & 0x1f) * 997;
		} else {
			uint32_t len = (op >> 2) & 3;

			cmos_rtc_io(&rtc, op & 3, buf, len, false);
			for (uint32_t k = (op & 3) < 2; k < len; k++)
				if (buf[k])
					abort();
		}
	}
	cmos_rtc_destroy(&rtc);
	return 0;
}
