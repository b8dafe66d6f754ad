// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "vm.h"

void log_ratelimited(struct ratelimit *rl, const char *fmt, ...)
{
	uint64_t now = monotonic_ns();
	va_list ap;

	if (now - rl->window_start_ns >= RATELIMIT_INTERVAL_NS) {
		if (rl->suppressed)
			fprintf(stderr, "kvmini: (%u similar messages suppressed)\n",
				rl->suppressed);
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= RATELIMIT_BURST) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	va_start(ap, fmt);
	fputs("kvmini: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
