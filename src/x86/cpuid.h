/* SPDX-License-Identifier: MIT */
/*
 * Guest CPUID: start from KVM_GET_SUPPORTED_CPUID and make it describe this
 * VM: per-vCPU APIC ids, a topology of nr_cpus cores in one socket (one thread
 * each), the hypervisor bit, and KVM's paravirtual leaves (kvmclock etc.).
 */
#ifndef KVMINI_X86_CPUID_H
#define KVMINI_X86_CPUID_H

#include <linux/kvm.h>

/*
 * Rewrite @cpuid (a copy of the supported table) in place for vCPU @apic_id of
 * @nr_cpus. Entries the guest must not see are removed; nothing is added
 * beyond the table's capacity (@cpuid->nent may shrink, never grow past
 * @max_entries). Returns 0 or -EINVAL.
 */
int cpuid_normalize(struct kvm_cpuid2 *cpuid, unsigned int max_entries, unsigned int apic_id,
		    unsigned int nr_cpus);

/* The entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, unsigned int function,
				    unsigned int index);

#endif
