/* SPDX-License-Identifier: MIT */
/*
 * Runtime warnings from devices about what the guest did. A hostile guest can
 * trigger them at will, so each source is rate limited: a burst, then one
 * line per interval saying how many were suppressed.
 */
#ifndef KVMINI_LOG_H
#define KVMINI_LOG_H

#include <stdint.h>

struct ratelimit {
	uint64_t window_start_ns;
	unsigned int printed; /* in this window */
	unsigned int suppressed;
};

#define RATELIMIT_BURST 5
#define RATELIMIT_INTERVAL_NS 5000000000ULL

/* Print "kvmini: <msg>" on stderr unless @rl has used up its burst. */
void log_ratelimited(struct ratelimit *rl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
