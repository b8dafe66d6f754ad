/* SPDX-License-Identifier: MIT */
/*
 * Per-vCPU VM-exit statistics: a count and handling-time histogram per KVM
 * exit reason, per (port, direction) for KVM_EXIT_IO and per (address,
 * read/write) for KVM_EXIT_MMIO.
 *
 * Each struct exit_stats has one writer, its vCPU thread. The record
 * functions do no allocation and take no lock. Keys go into a fixed-capacity
 * table allocated by exit_stats_init(); once it holds max_keys keys, new keys
 * count under the table's "other" entry, so totals are never lost.
 *
 * Readers on other threads call exit_stats_merge() / exit_stats_snapshot()
 * at any time: an entry is initialised before nr_entries is published with a
 * release store, and readers load nr_entries with acquire; the histograms
 * themselves use relaxed atomics (see histogram.h).
 */
#ifndef KVMINI_STATS_EXIT_STATS_H
#define KVMINI_STATS_EXIT_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "stats/histogram.h"

/* Reasons 0..EXIT_STATS_NR_REASONS-1 are kept apart; larger ones share "other". */
#define EXIT_STATS_NR_REASONS 48
#define EXIT_STATS_REASON_OTHER EXIT_STATS_NR_REASONS

struct exit_stats_entry {
	uint64_t addr; /* port number or guest-physical address */
	bool write; /* OUT / MMIO write */
	const char *dev; /* trap bus device name (not copied), NULL if unclaimed */
	struct histogram hist;
};

struct exit_stats_table {
	uint32_t *index; /* hash slots, writer only: 0 = empty, else entry + 1 */
	unsigned int nr_slots; /* power of two, at least twice max_entries */
	struct exit_stats_entry *entries; /* filled in order of first use */
	unsigned int max_entries;
	unsigned int nr_entries; /* release-published; read with acquire */
	struct exit_stats_entry other; /* keys that did not fit */
};

struct exit_stats {
	struct histogram *reasons; /* EXIT_STATS_NR_REASONS + 1, last is "other" */
	struct exit_stats_table pio;
	struct exit_stats_table mmio;
};

/* Room for @max_keys ports and @max_keys MMIO addresses. 0 or -ENOMEM/-EINVAL. */
int exit_stats_init(struct exit_stats *s, unsigned int max_keys);
void exit_stats_free(struct exit_stats *s);

/*
 * Writer side: call exactly ONE of these per VM exit, with the time spent
 * handling it. record_pio and record_mmio also count the exit under
 * KVM_EXIT_IO / KVM_EXIT_MMIO, so do not call record_exit for those as well.
 */
void exit_stats_record_exit(struct exit_stats *s, uint32_t reason, uint64_t ns);
void exit_stats_record_pio(struct exit_stats *s, uint16_t port, bool out, const char *dev,
			   uint64_t ns);
void exit_stats_record_mmio(struct exit_stats *s, uint64_t addr, bool write, const char *dev,
			    uint64_t ns);

/*
 * Reader side. merge adds @src (possibly live) into @dst, which belongs to
 * the caller; keys that do not fit in @dst go to its "other" entries.
 * snapshot initialises @dst with @src's capacity and merges: 0 or -ENOMEM.
 */
void exit_stats_merge(struct exit_stats *dst, const struct exit_stats *src);
int exit_stats_snapshot(struct exit_stats *dst, const struct exit_stats *src);

/* Published entries of a table: the first exit_stats_nr_entries() of t->entries. */
unsigned int exit_stats_nr_entries(const struct exit_stats_table *t);

/* Total number of exits recorded (all reasons). */
uint64_t exit_stats_total(const struct exit_stats *s);

/* "io", "mmio", "hlt", ... or NULL for a reason without a name. */
const char *exit_reason_name(uint32_t reason);

#endif
