/* SPDX-License-Identifier: MIT */
/*
 * MC146818 CMOS RTC at ports 0x70 (index, bit 7 masks NMI) and 0x71 (data):
 * wall-clock time from the host (UTC), BCD or binary and 12/24-hour modes as
 * register B selects, the update-in-progress bit, and 128 bytes of CMOS RAM.
 */
#ifndef KVMINI_CMOS_RTC_H
#define KVMINI_CMOS_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct cmos_rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
	/* Guest-set time is kept as an offset from the host clock. */
	int64_t offset_sec;
	/* Host wall clock; tests substitute a fixed one. */
	time_t (*now)(void *opaque);
	void *now_opaque;
};

/* @now may be NULL for the host's time(). */
void cmos_rtc_init(struct cmos_rtc *rtc, time_t (*now)(void *opaque), void *now_opaque);
void cmos_rtc_destroy(struct cmos_rtc *rtc);

/* bus_io_fn for the 2-port range at 0x70. */
void cmos_rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
