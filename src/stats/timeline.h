/* SPDX-License-Identifier: MIT */
/*
 * The boot timeline: when each step of bringing a guest up first happened.
 * The VM core and the machine mark events as they happen (vCPU threads
 * included); the report reads a copy made with boot_timeline_copy().
 */
#ifndef KVMINI_STATS_TIMELINE_H
#define KVMINI_STATS_TIMELINE_H

#include <stdint.h>

/*
 * In a live VM: CLOCK_MONOTONIC ns. In a report: ns since kvmini started.
 * 0 = did not happen.
 */
struct boot_timeline {
	uint64_t vm_created;
	uint64_t memory_ready;
	uint64_t kernel_loaded;
	uint64_t first_kvm_run;
	uint64_t first_serial_byte;
	uint64_t init_started;
	uint64_t end;
};

/* Record @now_ns in @event unless an earlier time is there already. */
static inline void timeline_mark(uint64_t *event, uint64_t now_ns)
{
	uint64_t none = 0;

	__atomic_compare_exchange_n(event, &none, now_ns, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

static inline uint64_t timeline_get(const uint64_t *event)
{
	return __atomic_load_n(event, __ATOMIC_RELAXED);
}

/* @src's events as ns since @origin_ns (events before it count as at it). */
static inline void boot_timeline_copy(struct boot_timeline *dst, const struct boot_timeline *src,
				      uint64_t origin_ns)
{
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	for (unsigned int i = 0; i < sizeof(*src) / sizeof(uint64_t); i++) {
		uint64_t t = timeline_get(&s[i]);

		/* 1, not 0, for an event at the origin: 0 means "never". */
		d[i] = !t ? 0 : t > origin_ns ? t - origin_ns : 1;
	}
}

#endif
