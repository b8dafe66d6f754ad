// SPDX-License-Identifier: MIT
/*
 * KVM_GET_SUPPORTED_CPUID describes what the host and KVM can offer, not a
 * VM: topology leaves come back zeroed (or, on older kernels, as the host's),
 * and per-CPU fields (APIC ids) are userspace's to fill in (api.rst, "CPU
 * topology"). The guest is given one package of nr_cpus single-thread cores
 * with APIC ids 0..nr_cpus-1, matching the MP table.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "x86/cpuid.h"

#define LEAF_VENDOR 0x0u
#define LEAF_FEATURES 0x1u
#define LEAF_CACHE_PARAMS 0x4u
#define LEAF_TOPOLOGY 0xbu
#define LEAF_TOPOLOGY_V2 0x1fu
#define LEAF_KVM_SIGNATURE 0x40000000u
#define LEAF_KVM_FEATURES 0x40000001u
#define LEAF_EXT_FEATURES 0x80000001u
#define LEAF_EXT_SIZES 0x80000008u
#define LEAF_AMD_CACHE_TOPOLOGY 0x8000001du
#define LEAF_AMD_TOPOLOGY 0x8000001eu

#define FEAT_EBX_CLFLUSH_SHIFT 8
#define FEAT_EBX_LOGICAL_SHIFT 16
#define FEAT_EBX_APIC_ID_SHIFT 24
#define FEAT_ECX_OSXSAVE (1u << 27)
#define FEAT_ECX_HYPERVISOR (1u << 31)
#define FEAT_EDX_HTT (1u << 28)
/* CLFLUSH line size is reported in 8-byte units: 8 means 64 bytes. */
#define CLFLUSH_LINE_64 8u

#define EXT_ECX_CMP_LEGACY (1u << 1)
#define EXT_SIZES_ECX_NC_MASK 0xffu
#define EXT_SIZES_ECX_CORE_ID_SIZE_SHIFT 12
#define EXT_SIZES_ECX_CORE_ID_SIZE_MASK (0xfu << 12)

/* Leaf 4 and 0x8000001d share this EAX layout. */
#define CACHE_EAX_TYPE_MASK 0x1fu
#define CACHE_EAX_LEVEL(eax) (((eax) >> 5) & 0x7u)
#define CACHE_EAX_SHARING_SHIFT 14
#define CACHE_EAX_SHARING_MASK (0xfffu << 14)
#define CACHE_EAX_CORES_SHIFT 26
#define CACHE_EAX_CORES_MASK (0x3fu << 26)

#define TOPO_TYPE_SMT 1u
#define TOPO_TYPE_CORE 2u
#define TOPO_ECX(type, index) (((type) << 8) | ((index)&0xffu))

/* KVM's own upper bound on vCPUs; also keeps every shift within its field. */
#define CPUID_MAX_CPUS 4096u

static unsigned int min_u(unsigned int a, unsigned int b)
{
	return a < b ? a : b;
}

/* Bits needed to number @n ids, i.e. ceil(log2(n)); 0 for n <= 1. */
static unsigned int id_bits(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, unsigned int function,
				    unsigned int index)
{
	if (!cpuid)
		return NULL;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != function)
			continue;
		/* As KVM does: an entry without a significant index answers every subleaf. */
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

static bool has_function(struct kvm_cpuid2 *cpuid, uint32_t function)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		if (cpuid->entries[i].function == function)
			return true;
	}
	return false;
}

static void remove_function(struct kvm_cpuid2 *cpuid, uint32_t function)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < cpuid->nent; i++) {
		if (cpuid->entries[i].function != function)
			cpuid->entries[kept++] = cpuid->entries[i];
	}
	if (kept < cpuid->nent)
		memset(&cpuid->entries[kept], 0, (cpuid->nent - kept) * sizeof(cpuid->entries[0]));
	cpuid->nent = kept;
}

static struct kvm_cpuid_entry2 *add_entry(struct kvm_cpuid2 *cpuid, unsigned int max_entries,
					  uint32_t function, uint32_t index, uint32_t flags)
{
	struct kvm_cpuid_entry2 *e;

	if (cpuid->nent >= max_entries)
		return NULL;
	e = &cpuid->entries[cpuid->nent++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = flags;
	return e;
}

static bool vendor_is_amd(struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, LEAF_VENDOR, 0);
	char vendor[12];

	if (!e)
		return false;
	memcpy(vendor, &e->ebx, 4);
	memcpy(vendor + 4, &e->edx, 4);
	memcpy(vendor + 8, &e->ecx, 4);
	return !memcmp(vendor, "AuthenticAMD", 12) || !memcmp(vendor, "HygonGenuine", 12);
}

static void fix_features(struct kvm_cpuid2 *cpuid, unsigned int apic_id, unsigned int nr_cpus)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, LEAF_FEATURES, 0);
	uint32_t clflush;

	if (!e)
		return;
	/* Keep the brand index and CLFLUSH size; the rest describes this vCPU. */
	e->ebx &= 0xffffu;
	e->ebx |= min_u(nr_cpus, 0xff) << FEAT_EBX_LOGICAL_SHIFT;
	e->ebx |= (apic_id & 0xffu) << FEAT_EBX_APIC_ID_SHIFT;
	clflush = (e->ebx >> FEAT_EBX_CLFLUSH_SHIFT) & 0xffu;
	if (!clflush)
		e->ebx |= CLFLUSH_LINE_64 << FEAT_EBX_CLFLUSH_SHIFT;
	/* KVM tracks OSXSAVE from the guest's CR4; it must start clear. */
	e->ecx &= ~FEAT_ECX_OSXSAVE;
	e->ecx |= FEAT_ECX_HYPERVISOR;
	/* Linux reads the logical count in EBX[23:16] only when HTT is set. */
	if (nr_cpus > 1)
		e->edx |= FEAT_EDX_HTT;
	else
		e->edx &= ~FEAT_EDX_HTT;
}

static void fix_cache_leaf(struct kvm_cpuid2 *cpuid, uint32_t function, unsigned int nr_cpus,
			   bool set_cores)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function != function || !(e->eax & CACHE_EAX_TYPE_MASK))
			continue;
		e->eax &= ~CACHE_EAX_SHARING_MASK;
		/* One thread per core: only a package-wide (L3+) cache is shared. */
		if (CACHE_EAX_LEVEL(e->eax) >= 3)
			e->eax |= min_u(nr_cpus - 1, 0xfff) << CACHE_EAX_SHARING_SHIFT;
		if (set_cores) {
			e->eax &= ~CACHE_EAX_CORES_MASK;
			e->eax |= min_u(nr_cpus - 1, 0x3f) << CACHE_EAX_CORES_SHIFT;
		}
	}
}

static void fix_amd_leaves(struct kvm_cpuid2 *cpuid, unsigned int nr_cpus)
{
	struct kvm_cpuid_entry2 *e;

	/* AMD's convention: the leaf 1 logical count then means cores, not threads. */
	e = cpuid_find(cpuid, LEAF_EXT_FEATURES, 0);
	if (e) {
		if (nr_cpus > 1)
			e->ecx |= EXT_ECX_CMP_LEGACY;
		else
			e->ecx &= ~EXT_ECX_CMP_LEGACY;
	}
	e = cpuid_find(cpuid, LEAF_EXT_SIZES, 0);
	if (e) {
		e->ecx &= ~(EXT_SIZES_ECX_NC_MASK | EXT_SIZES_ECX_CORE_ID_SIZE_MASK);
		e->ecx |= min_u(nr_cpus - 1, 0xff);
		e->ecx |= id_bits(nr_cpus) << EXT_SIZES_ECX_CORE_ID_SIZE_SHIFT;
	}
}

static void fix_amd_topology(struct kvm_cpuid2 *cpuid, unsigned int apic_id)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, LEAF_AMD_TOPOLOGY, 0);

	if (!e)
		return;
	e->eax = apic_id;
	/* Core id = APIC id, one thread per core (EBX[15:8] = 0), node 0 of 1. */
	e->ebx = apic_id & 0xffu;
	e->ecx = 0;
	e->edx = 0;
}

/*
 * Leaves 0xb/0x1f: subleaf 0 is the SMT level, subleaf 1 the core level.
 * Without room for both the leaf is left out, so the guest falls back to
 * leaves 1 and 4 instead of reading half a topology.
 */
static void add_topology(struct kvm_cpuid2 *cpuid, unsigned int max_entries, uint32_t function,
			 unsigned int apic_id, unsigned int nr_cpus)
{
	struct kvm_cpuid_entry2 *smt, *core;

	if (max_entries - cpuid->nent < 2)
		return;
	smt = add_entry(cpuid, max_entries, function, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	smt->eax = 0;
	smt->ebx = 1;
	smt->ecx = TOPO_ECX(TOPO_TYPE_SMT, 0);
	smt->edx = apic_id;
	core = add_entry(cpuid, max_entries, function, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	core->eax = id_bits(nr_cpus);
	core->ebx = nr_cpus;
	core->ecx = TOPO_ECX(TOPO_TYPE_CORE, 1);
	core->edx = apic_id;
}

/* Subleaf 2 ends the level list; KVM synthesizes it too, so it is optional. */
static void add_topology_end(struct kvm_cpuid2 *cpuid, unsigned int max_entries, uint32_t function,
			     unsigned int apic_id)
{
	struct kvm_cpuid_entry2 *e;

	if (!cpuid_find(cpuid, function, 1))
		return;
	e = add_entry(cpuid, max_entries, function, 2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	if (!e)
		return;
	e->ecx = TOPO_ECX(0, 2);
	e->edx = apic_id;
}

static void fix_kvm_signature(struct kvm_cpuid2 *cpuid, unsigned int max_entries)
{
	static const char signature[13] = "KVMKVMKVM\0\0\0";
	struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, LEAF_KVM_SIGNATURE, 0);

	if (!e)
		e = add_entry(cpuid, max_entries, LEAF_KVM_SIGNATURE, 0, 0);
	if (!e)
		return;
	memcpy(&e->ebx, signature, 4);
	memcpy(&e->ecx, signature + 4, 4);
	memcpy(&e->edx, signature + 8, 4);
	if (e->eax < LEAF_KVM_FEATURES)
		e->eax = LEAF_KVM_FEATURES;
}

int cpuid_normalize(struct kvm_cpuid2 *cpuid, unsigned int max_entries, unsigned int apic_id,
		    unsigned int nr_cpus)
{
	bool has_topology, has_topology_v2, amd;

	if (!cpuid || cpuid->nent > max_entries || nr_cpus == 0 || nr_cpus > CPUID_MAX_CPUS ||
	    apic_id >= nr_cpus)
		return -EINVAL;

	amd = vendor_is_amd(cpuid);
	fix_features(cpuid, apic_id, nr_cpus);
	/* Leaf 4 is zero on AMD, so its type check skips it there. */
	fix_cache_leaf(cpuid, LEAF_CACHE_PARAMS, nr_cpus, true);
	fix_cache_leaf(cpuid, LEAF_AMD_CACHE_TOPOLOGY, nr_cpus, false);
	if (amd)
		fix_amd_leaves(cpuid, nr_cpus);
	fix_amd_topology(cpuid, apic_id);

	/* Rebuilt from scratch: KVM gives one zeroed subleaf (or the host's). */
	has_topology = has_function(cpuid, LEAF_TOPOLOGY);
	has_topology_v2 = has_function(cpuid, LEAF_TOPOLOGY_V2);
	remove_function(cpuid, LEAF_TOPOLOGY);
	remove_function(cpuid, LEAF_TOPOLOGY_V2);
	if (has_topology)
		add_topology(cpuid, max_entries, LEAF_TOPOLOGY, apic_id, nr_cpus);
	if (has_topology_v2)
		add_topology(cpuid, max_entries, LEAF_TOPOLOGY_V2, apic_id, nr_cpus);

	fix_kvm_signature(cpuid, max_entries);

	/* Optional entries last, so they never take the room of those above. */
	add_topology_end(cpuid, max_entries, LEAF_TOPOLOGY, apic_id);
	add_topology_end(cpuid, max_entries, LEAF_TOPOLOGY_V2, apic_id);
	return 0;
}
