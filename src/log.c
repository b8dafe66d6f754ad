// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "vm.h"

/*
 * A device's limiter is shared by its I/O thread and every vCPU thread (a
 * status or MSI-X write logs there): the counters are atomic, so racing
 * callers cannot both reopen a window or print past the burst.
 */
void log_ratelimited(struct ratelimit *rl, const char *fmt, ...)
{
	uint64_t now = monotonic_ns();
	uint64_t start = __atomic_load_n(&rl->window_start_ns, __ATOMIC_ACQUIRE);
	unsigned int suppressed;
	char msg[512];
	va_list ap;

	if (now - start >= RATELIMIT_INTERVAL_NS &&
	    __atomic_compare_exchange_n(&rl->window_start_ns, &start, now, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		suppressed = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&rl->printed, 0, __ATOMIC_RELEASE);
		if (suppressed)
			fprintf(stderr, "kvmini: (%u similar messages suppressed)\n", suppressed);
	}
	/* Checked before counting so a flood cannot wrap the counter. */
	if (__atomic_load_n(&rl->printed, __ATOMIC_ACQUIRE) >= RATELIMIT_BURST ||
	    __atomic_fetch_add(&rl->printed, 1, __ATOMIC_ACQ_REL) >= RATELIMIT_BURST) {
		__atomic_fetch_add(&rl->suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One call, so one write(2): lines from other threads do not interleave. */
	fprintf(stderr, "kvmini: %s\n", msg);
}
