// SPDX-License-Identifier: MIT
/*
 * MC146818 RTC. The time registers are computed from the host clock on every
 * read, so no update cycle ever runs and UIP always reads 0. While register
 * B's SET bit is 1 the time registers are frozen in ram[] for the guest to
 * rewrite; clearing SET turns them into a new offset from the host clock.
 */
#include <string.h>

#include "cmos_rtc.h"

#define REG_SECONDS 0x00
#define REG_MINUTES 0x02
#define REG_HOURS 0x04
#define REG_WEEKDAY 0x06
#define REG_DAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32

#define REG_A_UIP 0x80
#define REG_A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */

#define REG_B_SET 0x80
#define REG_B_UIE 0x10
#define REG_B_BINARY 0x04
#define REG_B_24H 0x02
#define REG_B_DEFAULT REG_B_24H

#define REG_D_VRT 0x80

#define HOUR_PM 0x80
#define INDEX_MASK 0x7f /* bit 7 of the index port masks NMI */

static const uint8_t time_regs[] = {
	REG_SECONDS, REG_MINUTES, REG_HOURS, REG_WEEKDAY, REG_DAY, REG_MONTH, REG_YEAR, REG_CENTURY,
};

static bool is_time_reg(uint8_t index)
{
	for (size_t i = 0; i < sizeof(time_regs); i++)
		if (time_regs[i] == index)
			return true;
	return false;
}

static uint8_t encode(uint8_t reg_b, unsigned int value)
{
	if (reg_b & REG_B_BINARY)
		return (uint8_t)value;
	return (uint8_t)(((value / 10) << 4) | (value % 10));
}

/* Bytes come from the guest: invalid BCD digits decode to large values for timegm() to normalize. */
static unsigned int decode(uint8_t reg_b, uint8_t byte)
{
	if (reg_b & REG_B_BINARY)
		return byte;
	return (byte >> 4) * 10 + (byte & 0x0f);
}

static uint8_t encode_hour(uint8_t reg_b, int hour)
{
	int hour12;

	if (reg_b & REG_B_24H)
		return encode(reg_b, (unsigned int)hour);
	hour12 = hour % 12;
	if (hour12 == 0)
		hour12 = 12;
	return encode(reg_b, (unsigned int)hour12) | (hour >= 12 ? HOUR_PM : 0);
}

static int decode_hour(uint8_t reg_b, uint8_t byte)
{
	int hour;

	if (reg_b & REG_B_24H)
		return (int)decode(reg_b, byte);
	hour = (int)decode(reg_b, byte & ~HOUR_PM);
	if (hour == 12)
		hour = 0;
	return (byte & HOUR_PM) ? hour + 12 : hour;
}

static uint8_t time_reg_value(uint8_t reg_b, const struct tm *tm, uint8_t index)
{
	int year = tm->tm_year + 1900;

	switch (index) {
	case REG_SECONDS:
		return encode(reg_b, (unsigned int)tm->tm_sec);
	case REG_MINUTES:
		return encode(reg_b, (unsigned int)tm->tm_min);
	case REG_HOURS:
		return encode_hour(reg_b, tm->tm_hour);
	case REG_WEEKDAY:
		return encode(reg_b, (unsigned int)tm->tm_wday + 1);
	case REG_DAY:
		return encode(reg_b, (unsigned int)tm->tm_mday);
	case REG_MONTH:
		return encode(reg_b, (unsigned int)tm->tm_mon + 1);
	case REG_YEAR:
		return encode(reg_b, (unsigned int)(year % 100));
	case REG_CENTURY:
		return encode(reg_b, (unsigned int)(year / 100));
	}
	return 0;
}

static time_t host_now(const struct cmos_rtc *rtc)
{
	return rtc->now ? rtc->now(rtc->now_opaque) : time(NULL);
}

static bool guest_tm(const struct cmos_rtc *rtc, struct tm *tm)
{
	time_t t = (time_t)(host_now(rtc) + rtc->offset_sec);

	if (!gmtime_r(&t, tm)) {
		memset(tm, 0, sizeof(*tm));
		return false;
	}
	return true;
}

/* Freeze the current guest time into ram[] in @reg_b's format. */
static void snapshot_time(struct cmos_rtc *rtc, uint8_t reg_b)
{
	struct tm tm;

	guest_tm(rtc, &tm);
	for (size_t i = 0; i < sizeof(time_regs); i++)
		rtc->ram[time_regs[i]] = time_reg_value(reg_b, &tm, time_regs[i]);
}

/* Decode the time registers in ram[] (written in @reg_b's format) into a time. */
static void ram_to_tm(const struct cmos_rtc *rtc, uint8_t reg_b, struct tm *tm)
{
	unsigned int year =
		decode(reg_b, rtc->ram[REG_CENTURY]) * 100 + decode(reg_b, rtc->ram[REG_YEAR]);

	memset(tm, 0, sizeof(*tm));
	tm->tm_sec = (int)decode(reg_b, rtc->ram[REG_SECONDS]);
	tm->tm_min = (int)decode(reg_b, rtc->ram[REG_MINUTES]);
	tm->tm_hour = decode_hour(reg_b, rtc->ram[REG_HOURS]);
	tm->tm_mday = (int)decode(reg_b, rtc->ram[REG_DAY]);
	tm->tm_mon = (int)decode(reg_b, rtc->ram[REG_MONTH]) - 1;
	tm->tm_year = (int)year - 1900;
}

/* The guest's time from ram[] becomes the clock: later reads continue from it. */
static void apply_time(struct cmos_rtc *rtc, uint8_t reg_b)
{
	struct tm tm;
	time_t t;

	ram_to_tm(rtc, reg_b, &tm);
	t = timegm(&tm);
	/* Invalid BCD can decode past year 9999, which the registers cannot show: keep the clock. */
	if (t == (time_t)-1 || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return;
	rtc->offset_sec = (int64_t)t - (int64_t)host_now(rtc);
}

static void write_reg_b(struct cmos_rtc *rtc, uint8_t val)
{
	uint8_t old = rtc->ram[REG_B];
	struct tm tm;

	/* Setting SET stops update-ended interrupts, per the datasheet. */
	if (val & REG_B_SET)
		val &= ~REG_B_UIE;
	rtc->ram[REG_B] = val;

	if (!(old & REG_B_SET)) {
		if (val & REG_B_SET)
			snapshot_time(rtc, val);
		return;
	}
	if (!(val & REG_B_SET)) {
		apply_time(rtc, old);
		return;
	}
	/* Still frozen, maybe in a new format: re-encode what the guest wrote. */
	if ((old ^ val) & (REG_B_BINARY | REG_B_24H)) {
		uint8_t weekday = (uint8_t)decode(old, rtc->ram[REG_WEEKDAY]);

		ram_to_tm(rtc, old, &tm);
		for (size_t i = 0; i < sizeof(time_regs); i++)
			rtc->ram[time_regs[i]] = time_reg_value(val, &tm, time_regs[i]);
		rtc->ram[REG_WEEKDAY] = encode(val, weekday);
	}
}

static uint8_t read_data(struct cmos_rtc *rtc)
{
	uint8_t index = rtc->index;
	uint8_t reg_b = rtc->ram[REG_B];
	struct tm tm;

	if (is_time_reg(index)) {
		if (reg_b & REG_B_SET)
			return rtc->ram[index];
		guest_tm(rtc, &tm);
		return time_reg_value(reg_b, &tm, index);
	}
	switch (index) {
	case REG_A:
		return rtc->ram[REG_A] & ~REG_A_UIP;
	case REG_C:
		/* No interrupt flags are ever raised, so reading has nothing to clear. */
		return 0;
	case REG_D:
		return REG_D_VRT;
	}
	return rtc->ram[index];
}

static void write_data(struct cmos_rtc *rtc, uint8_t val)
{
	uint8_t index = rtc->index;
	uint8_t reg_b = rtc->ram[REG_B];

	if (is_time_reg(index)) {
		if (reg_b & REG_B_SET) {
			rtc->ram[index] = val;
			return;
		}
		/* A write outside SET takes effect at once, relative to the current time. */
		snapshot_time(rtc, reg_b);
		rtc->ram[index] = val;
		apply_time(rtc, reg_b);
		return;
	}
	switch (index) {
	case REG_A:
		rtc->ram[REG_A] = val & ~REG_A_UIP;
		return;
	case REG_B:
		write_reg_b(rtc, val);
		return;
	case REG_C:
	case REG_D:
		/* Read-only. */
		return;
	}
	rtc->ram[index] = val;
}

void cmos_rtc_init(struct cmos_rtc *rtc, time_t (*now)(void *opaque), void *now_opaque)
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = now;
	rtc->now_opaque = now_opaque;
	rtc->ram[REG_A] = REG_A_DEFAULT;
	rtc->ram[REG_B] = REG_B_DEFAULT;
	rtc->ram[REG_D] = REG_D_VRT;
}

void cmos_rtc_destroy(struct cmos_rtc *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

void cmos_rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct cmos_rtc *rtc = opaque;

	if (!len)
		return;
	if (!is_write)
		memset(data, 0, len);
	if (offset > 1)
		return;

	pthread_mutex_lock(&rtc->lock);
	if (offset == 0) {
		if (is_write)
			rtc->index = data[0] & INDEX_MASK;
		else
			data[0] = 0xff; /* the index port is write-only */
	} else if (is_write) {
		write_data(rtc, data[0]);
	} else {
		data[0] = read_data(rtc);
	}
	pthread_mutex_unlock(&rtc->lock);
}
