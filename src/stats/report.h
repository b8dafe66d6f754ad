/* SPDX-License-Identifier: MIT */
/*
 * The statistics report of `kvmini run --stats`: VM exits per vCPU and in
 * total, the boot timeline and KVM's binary-stats counters, written as
 * aligned text tables or as one JSON object.
 *
 * The report works on snapshots it takes itself (exit_stats_snapshot()), so
 * it may run while the vCPUs keep recording; it takes no lock. It allocates,
 * so call it from a normal thread, not from a signal handler.
 *
 * JSON format (all durations and times are integers in nanoseconds, all
 * counts integers; strings are escaped JSON strings):
 *
 * {
 *   "format": "kvmini-stats",
 *   "version": 1,
 *   "timeline_ns": {                ns since kvmini started; null = did not happen
 *     "vm_created", "memory_ready", "kernel_loaded", "first_kvm_run",
 *     "first_serial_byte", "init_started", "end"
 *   },
 *   "total": <exits>,               all vCPUs together
 *   "vcpus": [ <exits> + "vcpu": index, ... ],
 *   "kvm_counters": [
 *     { "scope": "vm" | "vcpu0" | ..., "name": string, "value": integer,
 *       "unit": string | null }, ...
 *   ]
 * }
 *
 * <exits> is an object:
 * {
 *   "exits": count of all exits,
 *   "time_ns": total handling time of all exits,
 *   "by_reason": [ { "reason": name ("io", "mmio", "hlt", ..., "reason_<code>"
 *                               for an unnamed code, "other" beyond the bound),
 *                    "code": KVM_EXIT_* number or null for "other",
 *                    <timing> }, ... ],
 *   "pio": [ { "port": integer, "dir": "in" | "out", "device": string | null,
 *              <timing> }, ... ],
 *   "pio_other": { <timing> },      ports that did not fit in the key table
 *   "mmio": [ { "address": integer, "dir": "read" | "write",
 *               "device": string | null, <timing> }, ... ],
 *   "mmio_other": { <timing> }
 * }
 *
 * <timing> is the fields "count", "time_ns", "min_ns", "median_ns", "p99_ns",
 * "max_ns" (median and p99 are the midpoint of their histogram bucket, see
 * histogram_percentile(); all 0 when count is 0).
 *
 * Arrays hold only entries with a non-zero count, sorted by count, highest
 * first. "vcpus" has one element per vCPU given, even if it never exited.
 */
#ifndef KVMINI_STATS_REPORT_H
#define KVMINI_STATS_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats/exit_stats.h"
#include "stats/timeline.h"

enum stats_format {
	STATS_TEXT,
	STATS_JSON,
};

/* One KVM binary-stats value. Strings are not copied. */
struct stats_counter {
	const char *scope; /* "vm", "vcpu0", ... */
	const char *name;
	uint64_t value;
	const char *unit; /* may be NULL */
};

struct stats_report {
	const struct exit_stats *const *vcpus; /* may be live; a NULL one counts as empty */
	unsigned int nr_vcpus;
	const struct boot_timeline *timeline; /* NULL: all events absent */
	const struct stats_counter *counters;
	size_t nr_counters;
};

/* "text" or "json" -> 0; anything else -> -EINVAL. */
int stats_format_parse(const char *name, enum stats_format *fmt);

/* Write the whole report. 0, -ENOMEM, or -EIO when writing to @out failed. */
int stats_report_write(FILE *out, enum stats_format fmt, const struct stats_report *r);

#endif
