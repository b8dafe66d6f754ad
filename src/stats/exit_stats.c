// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "stats/exit_stats.h"

static const char *const reason_names[] = {
	[KVM_EXIT_UNKNOWN] = "unknown",
	[KVM_EXIT_EXCEPTION] = "exception",
	[KVM_EXIT_IO] = "io",
	[KVM_EXIT_HYPERCALL] = "hypercall",
	[KVM_EXIT_DEBUG] = "debug",
	[KVM_EXIT_HLT] = "hlt",
	[KVM_EXIT_MMIO] = "mmio",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
	[KVM_EXIT_SHUTDOWN] = "shutdown",
	[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
	[KVM_EXIT_INTR] = "intr",
	[KVM_EXIT_SET_TPR] = "set_tpr",
	[KVM_EXIT_TPR_ACCESS] = "tpr_access",
	[KVM_EXIT_S390_SIEIC] = "s390_sieic",
	[KVM_EXIT_S390_RESET] = "s390_reset",
	[KVM_EXIT_DCR] = "dcr",
	[KVM_EXIT_NMI] = "nmi",
	[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
	[KVM_EXIT_OSI] = "osi",
	[KVM_EXIT_PAPR_HCALL] = "papr_hcall",
	[KVM_EXIT_S390_UCONTROL] = "s390_ucontrol",
	[KVM_EXIT_WATCHDOG] = "watchdog",
	[KVM_EXIT_S390_TSCH] = "s390_tsch",
	[KVM_EXIT_EPR] = "epr",
	[KVM_EXIT_SYSTEM_EVENT] = "system_event",
	[KVM_EXIT_S390_STSI] = "s390_stsi",
	[KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
	[KVM_EXIT_HYPERV] = "hyperv",
	[KVM_EXIT_ARM_NISV] = "arm_nisv",
	[KVM_EXIT_X86_RDMSR] = "x86_rdmsr",
	[KVM_EXIT_X86_WRMSR] = "x86_wrmsr",
	[KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
	[KVM_EXIT_AP_RESET_HOLD] = "ap_reset_hold",
	[KVM_EXIT_X86_BUS_LOCK] = "x86_bus_lock",
	[KVM_EXIT_XEN] = "xen",
	[KVM_EXIT_RISCV_SBI] = "riscv_sbi",
	[KVM_EXIT_RISCV_CSR] = "riscv_csr",
	[KVM_EXIT_NOTIFY] = "notify",
	/* Newer than Debian 12's headers. */
	[38] = "loongarch_iocsr",
	[39] = "memory_fault",
	[40] = "tdx",
};

const char *exit_reason_name(uint32_t reason)
{
	if (reason >= sizeof(reason_names) / sizeof(reason_names[0]))
		return NULL;
	return reason_names[reason];
}

static int table_init(struct exit_stats_table *t, unsigned int max_entries)
{
	unsigned int slots = 2;

	memset(t, 0, sizeof(*t));
	while (slots < 2 * max_entries)
		slots *= 2;
	t->index = calloc(slots, sizeof(*t->index));
	t->entries = calloc(max_entries ? max_entries : 1, sizeof(*t->entries));
	if (!t->index || !t->entries) {
		free(t->index);
		free(t->entries);
		return -ENOMEM;
	}
	t->nr_slots = slots;
	t->max_entries = max_entries;
	return 0;
}

static void table_free(struct exit_stats_table *t)
{
	free(t->index);
	free(t->entries);
	memset(t, 0, sizeof(*t));
}

int exit_stats_init(struct exit_stats *s, unsigned int max_keys)
{
	memset(s, 0, sizeof(*s));
	if (max_keys > (1u << 24))
		return -EINVAL;
	s->reasons = calloc(EXIT_STATS_NR_REASONS + 1, sizeof(*s->reasons));
	if (!s->reasons)
		return -ENOMEM;
	if (table_init(&s->pio, max_keys) || table_init(&s->mmio, max_keys)) {
		exit_stats_free(s);
		return -ENOMEM;
	}
	return 0;
}

void exit_stats_free(struct exit_stats *s)
{
	free(s->reasons);
	table_free(&s->pio);
	table_free(&s->mmio);
	s->reasons = NULL;
}

static unsigned int key_hash(uint64_t addr, bool write)
{
	uint64_t h = (addr * 2 + write) * 0x9e3779b97f4a7c15ull;

	return (unsigned int)(h >> 32);
}

/*
 * The entry for a key, inserting it if there is room, else the "other" entry.
 * Only the table's writer calls this, so the hash slots need no atomics; the
 * release store of nr_entries publishes the filled entry to readers.
 */
static struct exit_stats_entry *table_entry(struct exit_stats_table *t, uint64_t addr, bool write,
					    const char *dev)
{
	unsigned int mask = t->nr_slots - 1, i = key_hash(addr, write) & mask;
	struct exit_stats_entry *e;
	unsigned int n;

	/* At most half the slots are used, so the probe always meets an empty one. */
	for (; t->index[i]; i = (i + 1) & mask) {
		e = &t->entries[t->index[i] - 1];
		if (e->addr == addr && e->write == write)
			return e;
	}
	n = t->nr_entries;
	if (n >= t->max_entries)
		return &t->other;
	e = &t->entries[n];
	e->addr = addr;
	e->write = write;
	e->dev = dev;
	__atomic_store_n(&t->nr_entries, n + 1, __ATOMIC_RELEASE);
	t->index[i] = n + 1;
	return e;
}

static struct histogram *reason_hist(const struct exit_stats *s, uint32_t reason)
{
	return &s->reasons[reason < EXIT_STATS_NR_REASONS ? reason : EXIT_STATS_REASON_OTHER];
}

void exit_stats_record_exit(struct exit_stats *s, uint32_t reason, uint64_t ns)
{
	histogram_record(reason_hist(s, reason), ns);
}

void exit_stats_record_pio(struct exit_stats *s, uint16_t port, bool out, const char *dev,
			   uint64_t ns)
{
	histogram_record(reason_hist(s, KVM_EXIT_IO), ns);
	histogram_record(&table_entry(&s->pio, port, out, dev)->hist, ns);
}

void exit_stats_record_mmio(struct exit_stats *s, uint64_t addr, bool write, const char *dev,
			    uint64_t ns)
{
	histogram_record(reason_hist(s, KVM_EXIT_MMIO), ns);
	histogram_record(&table_entry(&s->mmio, addr, write, dev)->hist, ns);
}

unsigned int exit_stats_nr_entries(const struct exit_stats_table *t)
{
	return __atomic_load_n(&t->nr_entries, __ATOMIC_ACQUIRE);
}

static void table_merge(struct exit_stats_table *dst, const struct exit_stats_table *src)
{
	unsigned int i, n = exit_stats_nr_entries(src);

	for (i = 0; i < n; i++) {
		const struct exit_stats_entry *e = &src->entries[i];

		histogram_merge(&table_entry(dst, e->addr, e->write, e->dev)->hist, &e->hist);
	}
	histogram_merge(&dst->other.hist, &src->other.hist);
}

void exit_stats_merge(struct exit_stats *dst, const struct exit_stats *src)
{
	unsigned int i;

	for (i = 0; i <= EXIT_STATS_NR_REASONS; i++)
		histogram_merge(&dst->reasons[i], &src->reasons[i]);
	table_merge(&dst->pio, &src->pio);
	table_merge(&dst->mmio, &src->mmio);
}

int exit_stats_snapshot(struct exit_stats *dst, const struct exit_stats *src)
{
	unsigned int max = src->pio.max_entries > src->mmio.max_entries ? src->pio.max_entries
									: src->mmio.max_entries;
	int ret = exit_stats_init(dst, max);

	if (ret)
		return ret;
	exit_stats_merge(dst, src);
	return 0;
}

uint64_t exit_stats_total(const struct exit_stats *s)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i <= EXIT_STATS_NR_REASONS; i++)
		total += histogram_count(&s->reasons[i]);
	return total;
}
