/* SPDX-License-Identifier: MIT */
/*
 * Errors travel up as a negative errno plus one human-readable line. Library
 * code fills a struct error and returns its code; only the CLI prints.
 */
#ifndef KVMINI_ERR_H
#define KVMINI_ERR_H

#include <stddef.h>

struct error {
	int code; /* negative errno, 0 when no error was recorded */
	char msg[512]; /* one line, no trailing newline */
};

/* Record an error and return @code (a negative errno) for tail calls. */
int error_set(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the recorded message with context ("loading kernel: ..."). */
int error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
