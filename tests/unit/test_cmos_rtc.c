// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cmos_rtc.h"

#define SEC 0x00
#define ALARM_SEC 0x01
#define MIN 0x02
#define HOUR 0x04
#define WDAY 0x06
#define MDAY 0x07
#define MONTH 0x08
#define YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define CENTURY 0x32

#define B_SET 0x80
#define B_BINARY 0x04
#define B_24H 0x02

struct harness {
	struct cmos_rtc rtc;
	time_t clock;
	int now_calls;
};

static time_t fake_now(void *opaque)
{
	struct harness *h = opaque;

	h->now_calls++;
	return h->clock;
}

static time_t utc(int year, int mon, int mday, int hour, int min, int sec)
{
	struct tm tm = {
		.tm_year = year - 1900,
		.tm_mon = mon - 1,
		.tm_mday = mday,
		.tm_hour = hour,
		.tm_min = min,
		.tm_sec = sec,
	};

	return timegm(&tm);
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	/* Thursday, a leap day. */
	h->clock = utc(2024, 2, 29, 13, 45, 56);
	cmos_rtc_init(&h->rtc, fake_now, h);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;

	cmos_rtc_destroy(&h->rtc);
	free(h);
	return 0;
}

static void wr(struct harness *h, uint8_t index, uint8_t val)
{
	uint8_t idx = index;

	cmos_rtc_io(&h->rtc, 0, &idx, 1, true);
	cmos_rtc_io(&h->rtc, 1, &val, 1, true);
}

static uint8_t rd(struct harness *h, uint8_t index)
{
	uint8_t idx = index, val = 0xee;

	cmos_rtc_io(&h->rtc, 0, &idx, 1, true);
	cmos_rtc_io(&h->rtc, 1, &val, 1, false);
	return val;
}

static void test_defaults(void **state)
{
	struct harness *h = *state;

	assert_int_equal(rd(h, REG_A), 0x26);
	assert_int_equal(rd(h, REG_B), 0x02);
	assert_int_equal(rd(h, REG_C), 0x00);
	assert_int_equal(rd(h, REG_D), 0x80);
}

static void test_bcd_time(void **state)
{
	struct harness *h = *state;

	assert_int_equal(rd(h, SEC), 0x56);
	assert_int_equal(rd(h, MIN), 0x45);
	assert_int_equal(rd(h, HOUR), 0x13);
	assert_int_equal(rd(h, WDAY), 0x05); /* Sunday is 1 */
	assert_int_equal(rd(h, MDAY), 0x29);
	assert_int_equal(rd(h, MONTH), 0x02);
	assert_int_equal(rd(h, YEAR), 0x24);
	assert_int_equal(rd(h, CENTURY), 0x20);
	assert_true(h->now_calls > 0);

	/* Computed on every read: the clock moving shows at once. */
	h->clock += 3;
	assert_int_equal(rd(h, SEC), 0x59);
	h->clock += 1;
	assert_int_equal(rd(h, SEC), 0x00);
	assert_int_equal(rd(h, MIN), 0x46);
}

static void test_binary_time(void **state)
{
	struct harness *h = *state;

	wr(h, REG_B, B_24H | B_BINARY);
	assert_int_equal(rd(h, SEC), 56);
	assert_int_equal(rd(h, MIN), 45);
	assert_int_equal(rd(h, HOUR), 13);
	assert_int_equal(rd(h, WDAY), 5);
	assert_int_equal(rd(h, MDAY), 29);
	assert_int_equal(rd(h, MONTH), 2);
	assert_int_equal(rd(h, YEAR), 24);
	assert_int_equal(rd(h, CENTURY), 20);
}

static void test_12_hour_mode(void **state)
{
	struct harness *h = *state;

	wr(h, REG_B, 0x00); /* BCD, 12-hour */
	assert_int_equal(rd(h, HOUR), 0x81); /* 1 PM */
	h->clock = utc(2024, 2, 29, 0, 30, 0);
	assert_int_equal(rd(h, HOUR), 0x12); /* 12 AM */
	h->clock = utc(2024, 2, 29, 12, 5, 0);
	assert_int_equal(rd(h, HOUR), 0x92); /* 12 PM */
	h->clock = utc(2024, 2, 29, 11, 59, 59);
	assert_int_equal(rd(h, HOUR), 0x11);

	wr(h, REG_B, B_BINARY); /* binary, 12-hour */
	h->clock = utc(2024, 2, 29, 23, 0, 0);
	assert_int_equal(rd(h, HOUR), 0x80 | 11);
	h->clock = utc(2024, 2, 29, 0, 0, 0);
	assert_int_equal(rd(h, HOUR), 12);
}

static void test_guest_sets_time(void **state)
{
	struct harness *h = *state;

	/* What Linux's mc146818_set_time() does. */
	wr(h, REG_B, B_24H | B_SET);
	wr(h, YEAR, 0x99);
	wr(h, MONTH, 0x12);
	wr(h, MDAY, 0x31);
	wr(h, HOUR, 0x23);
	wr(h, MIN, 0x59);
	wr(h, SEC, 0x58);
	wr(h, CENTURY, 0x19);

	/* Frozen while SET is 1: reads show what was written. */
	h->clock += 100;
	assert_int_equal(rd(h, SEC), 0x58);
	assert_int_equal(rd(h, YEAR), 0x99);
	assert_int_equal(rd(h, MDAY), 0x31);

	wr(h, REG_B, B_24H);
	assert_int_equal(rd(h, SEC), 0x58);
	assert_int_equal(rd(h, HOUR), 0x23);

	/* Later reads continue from the guest's time, across the century. */
	h->clock += 5;
	assert_int_equal(rd(h, SEC), 0x03);
	assert_int_equal(rd(h, MIN), 0x00);
	assert_int_equal(rd(h, HOUR), 0x00);
	assert_int_equal(rd(h, MDAY), 0x01);
	assert_int_equal(rd(h, MONTH), 0x01);
	assert_int_equal(rd(h, YEAR), 0x00);
	assert_int_equal(rd(h, CENTURY), 0x20);
	assert_int_equal(rd(h, WDAY), 0x07); /* 2000-01-01 was a Saturday */
	assert_int_equal(h->rtc.offset_sec,
			 (int64_t)utc(1999, 12, 31, 23, 59, 58) - (int64_t)(h->clock - 5));
}

static void test_guest_sets_time_binary_12h(void **state)
{
	struct harness *h = *state;

	/* Fields not written keep the frozen current time (2024-02-29). */
	wr(h, REG_B, B_BINARY | B_SET);
	wr(h, HOUR, 0x80 | 11); /* 11 PM */
	wr(h, MIN, 7);
	wr(h, SEC, 0);
	wr(h, REG_B, B_BINARY);
	wr(h, REG_B, B_24H);
	assert_int_equal(rd(h, HOUR), 0x23);
	assert_int_equal(rd(h, MIN), 0x07);
	assert_int_equal(rd(h, MDAY), 0x29);
	assert_int_equal(rd(h, MONTH), 0x02);

	/* 12 AM in 12-hour mode is hour 0. */
	wr(h, REG_B, B_SET);
	wr(h, HOUR, 0x12);
	wr(h, REG_B, 0x00);
	wr(h, REG_B, B_24H | B_BINARY);
	assert_int_equal(rd(h, HOUR), 0);
}

static void test_format_change_while_frozen(void **state)
{
	struct harness *h = *state;

	wr(h, REG_B, B_24H | B_SET);
	wr(h, HOUR, 0x21);
	wr(h, REG_B, B_24H | B_BINARY | B_SET);
	assert_int_equal(rd(h, HOUR), 21);
	assert_int_equal(rd(h, WDAY), 5);
	wr(h, REG_B, B_24H | B_BINARY);
	assert_int_equal(rd(h, HOUR), 21);
	assert_int_equal(rd(h, MIN), 45);
}

static void test_write_without_set_applies_at_once(void **state)
{
	struct harness *h = *state;

	wr(h, MIN, 0x10);
	assert_int_equal(rd(h, MIN), 0x10);
	assert_int_equal(rd(h, HOUR), 0x13);
	assert_int_equal(rd(h, SEC), 0x56);
	h->clock += 60;
	assert_int_equal(rd(h, MIN), 0x11);
}

static void test_hostile_time_values(void **state)
{
	struct harness *h = *state;
	static const uint8_t regs[] = { SEC, MIN, HOUR, MDAY, MONTH, YEAR, CENTURY };

	wr(h, REG_B, B_24H | B_SET);
	for (size_t i = 0; i < sizeof(regs); i++)
		wr(h, regs[i], 0xff);
	wr(h, REG_B, B_24H);
	/* Year 16665 cannot be shown: the set is refused and the clock runs on. */
	assert_int_equal(h->rtc.offset_sec, 0);
	assert_int_equal(rd(h, SEC), 0x56);

	/* Bad digits in a representable year: normalized, reads are valid BCD. */
	wr(h, REG_B, B_24H | B_SET);
	for (size_t i = 0; i < sizeof(regs); i++)
		if (regs[i] != CENTURY)
			wr(h, regs[i], 0xff);
	wr(h, REG_B, B_24H);
	assert_int_not_equal(h->rtc.offset_sec, 0);
	for (size_t i = 0; i < sizeof(regs); i++) {
		uint8_t v = rd(h, regs[i]);

		assert_true((v & 0x0f) <= 9);
		assert_true((v >> 4) <= 9);
	}

	wr(h, REG_B, B_24H | B_SET);
	wr(h, MONTH, 0x00);
	wr(h, MDAY, 0x00);
	wr(h, REG_B, B_24H);
	assert_true(rd(h, MONTH) >= 0x01 && rd(h, MONTH) <= 0x12);
	assert_true(rd(h, MDAY) >= 0x01 && rd(h, MDAY) <= 0x31);
}

static void test_registers_a_c_d(void **state)
{
	struct harness *h = *state;

	wr(h, REG_A, 0xa6);
	assert_int_equal(rd(h, REG_A), 0x26); /* UIP is never shown */
	wr(h, REG_A, 0x2f);
	assert_int_equal(rd(h, REG_A), 0x2f);

	wr(h, REG_D, 0x00);
	assert_int_equal(rd(h, REG_D), 0x80);
	wr(h, REG_C, 0xff);
	assert_int_equal(rd(h, REG_C), 0x00);
	assert_int_equal(rd(h, REG_C), 0x00);

	/* Setting SET drops UIE; reading B shows the rest. */
	wr(h, REG_B, B_24H | B_SET | 0x10);
	assert_int_equal(rd(h, REG_B), B_24H | B_SET);
}

static void test_index_masks_nmi_bit(void **state)
{
	struct harness *h = *state;
	uint8_t idx, val;

	idx = 0x80 | SEC;
	cmos_rtc_io(&h->rtc, 0, &idx, 1, true);
	cmos_rtc_io(&h->rtc, 1, &val, 1, false);
	assert_int_equal(val, 0x56);

	idx = 0x80 | REG_D;
	cmos_rtc_io(&h->rtc, 0, &idx, 1, true);
	cmos_rtc_io(&h->rtc, 1, &val, 1, false);
	assert_int_equal(val, 0x80);

	/* 0xc0 and 0x40 are the same RAM byte. */
	wr(h, 0xc0, 0x5a);
	assert_int_equal(rd(h, 0x40), 0x5a);

	val = 0;
	cmos_rtc_io(&h->rtc, 0, &val, 1, false);
	assert_int_equal(val, 0xff); /* index port is write-only */
}

static void test_cmos_ram_and_alarms(void **state)
{
	struct harness *h = *state;

	for (unsigned int i = 0x0e; i < 0x80; i++)
		if (i != CENTURY)
			wr(h, (uint8_t)i, (uint8_t)(i ^ 0xa5));
	for (unsigned int i = 0x0e; i < 0x80; i++)
		if (i != CENTURY)
			assert_int_equal(rd(h, (uint8_t)i), i ^ 0xa5);

	wr(h, ALARM_SEC, 0x30);
	wr(h, 0x03, 0x31);
	wr(h, 0x05, 0x32);
	assert_int_equal(rd(h, ALARM_SEC), 0x30);
	assert_int_equal(rd(h, 0x03), 0x31);
	assert_int_equal(rd(h, 0x05), 0x32);
	assert_int_equal(rd(h, SEC), 0x56); /* alarms are not the time */
}

static void test_wide_and_out_of_range_access(void **state)
{
	struct harness *h = *state;
	uint8_t data[4] = { SEC, 0xee, 0xee, 0xee };

	cmos_rtc_io(&h->rtc, 0, data, 2, true);
	memset(data, 0xee, sizeof(data));
	cmos_rtc_io(&h->rtc, 1, data, 4, false);
	assert_int_equal(data[0], 0x56);
	assert_int_equal(data[1], 0);
	assert_int_equal(data[3], 0);

	memset(data, 0xee, sizeof(data));
	cmos_rtc_io(&h->rtc, 2, data, 1, false);
	assert_int_equal(data[0], 0);
	cmos_rtc_io(&h->rtc, 5, data, 1, true);
	cmos_rtc_io(&h->rtc, 1, data, 0, true);
	assert_int_equal(rd(h, SEC), 0x56);
}

static void test_host_clock(void **state)
{
	struct cmos_rtc rtc;
	uint8_t idx = CENTURY, val = 0;

	(void)state;
	cmos_rtc_init(&rtc, NULL, NULL);
	cmos_rtc_io(&rtc, 0, &idx, 1, true);
	cmos_rtc_io(&rtc, 1, &val, 1, false);
	assert_int_equal(val, 0x20);
	idx = MONTH;
	cmos_rtc_io(&rtc, 0, &idx, 1, true);
	cmos_rtc_io(&rtc, 1, &val, 1, false);
	assert_true(val >= 0x01 && val <= 0x12);
	cmos_rtc_destroy(&rtc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bcd_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_12_hour_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_sets_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_sets_time_binary_12h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_change_while_frozen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_without_set_applies_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_time_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers_a_c_d, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_masks_nmi_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmos_ram_and_alarms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_and_out_of_range_access, setup, teardown),
		cmocka_unit_test(test_host_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
