// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86/cpuid.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define HYPERVISOR (1u << 31)
#define OSXSAVE (1u << 27)
#define HTT (1u << 28)
#define CMP_LEGACY (1u << 1)
/* Entries past the table's capacity, filled with this, must stay untouched. */
#define CANARY_ENTRIES 4
#define CANARY_BYTE 0x5a

struct table {
	struct kvm_cpuid2 *cpuid;
	unsigned int max;
};

static void vendor_regs(const char *vendor, struct kvm_cpuid_entry2 *e)
{
	memcpy(&e->ebx, vendor, 4);
	memcpy(&e->edx, vendor + 4, 4);
	memcpy(&e->ecx, vendor + 8, 4);
}

/* A table shaped like a recent KVM's answer on an Intel host. */
static const struct kvm_cpuid_entry2 intel_host[] = {
	{ .function = 0x0, .eax = 0x1f },
	{ .function = 0x1,
	  .eax = 0x906ea,
	  .ebx = (0x05u << 24) | (16u << 16) | (16u << 8) | 0x01,
	  .ecx = 0x77fa3223u | OSXSAVE,
	  .edx = 0x1f8bfbffu | HTT },
	{ .function = 0x4, .index = 0, .flags = SIG, .eax = 0x1c004121, .ebx = 0x01c0003f },
	{ .function = 0x4, .index = 1, .flags = SIG, .eax = 0x1c004122, .ebx = 0x01c0003f },
	{ .function = 0x4, .index = 2, .flags = SIG, .eax = 0x1c004143, .ebx = 0x00c0003f },
	{ .function = 0x4, .index = 3, .flags = SIG, .eax = 0x1c03c163, .ebx = 0x03c0003f },
	{ .function = 0x4, .index = 4, .flags = SIG, .eax = 0 },
	{ .function = 0x7, .index = 0, .flags = SIG, .ebx = 0x029c6fbf },
	{ .function = 0xa, .eax = 0x07300404, .edx = 0x603 },
	{ .function = 0xb, .index = 0, .flags = SIG },
	{ .function = 0xd, .index = 0, .flags = SIG, .eax = 0x1f, .ecx = 0x440 },
	{ .function = 0xd, .index = 1, .flags = SIG, .eax = 0xf },
	{ .function = 0x1f, .index = 0, .flags = SIG },
	{ .function = 0x40000000, .eax = 0x40000001 },
	{ .function = 0x40000001, .eax = 0x01007afb },
	{ .function = 0x80000000, .eax = 0x80000008 },
	{ .function = 0x80000001, .ecx = 0x121, .edx = 0x2c100800 },
	{ .function = 0x80000008, .eax = 0x3027 },
};

/* A table shaped like an AMD host's; the KVM signature leaf is left out. */
static const struct kvm_cpuid_entry2 amd_host[] = {
	{ .function = 0x0, .eax = 0x10 },
	{ .function = 0x1,
	  .eax = 0x00a20f10,
	  .ebx = (0x0bu << 24) | (32u << 16) | (0u << 8),
	  .ecx = 0xfed83203u,
	  .edx = 0x078bfbffu }, /* no HTT: it must be added for SMP */
	{ .function = 0x40000001, .eax = 0x01007afb },
	{ .function = 0x80000000, .eax = 0x80000021 },
	{ .function = 0x80000001, .ecx = 0x75c237ff & ~CMP_LEGACY, .edx = 0x2fd3fbff },
	/* PerfTscSize (bits 17:16) must survive; NC and ApicIdCoreIdSize are ours. */
	{ .function = 0x80000008, .eax = 0x3030, .ecx = (2u << 16) | (5u << 12) | 0x1f },
	{ .function = 0x8000001d, .index = 0, .flags = SIG, .eax = 0x00004121 },
	{ .function = 0x8000001d, .index = 1, .flags = SIG, .eax = 0x00004122 },
	{ .function = 0x8000001d, .index = 2, .flags = SIG, .eax = 0x00004143 },
	{ .function = 0x8000001d, .index = 3, .flags = SIG, .eax = 0x0003c163 },
	{ .function = 0x8000001d, .index = 4, .flags = SIG, .eax = 0 },
	{ .function = 0x8000001e, .eax = 0x17, .ebx = 0x10b, .ecx = 0x100, .edx = 0 },
};

static struct table make_table(const struct kvm_cpuid_entry2 *src, unsigned int n,
			       const char *vendor, unsigned int spare)
{
	struct table t = { .max = n + spare };
	size_t bytes = sizeof(*t.cpuid) + (t.max + CANARY_ENTRIES) * sizeof(t.cpuid->entries[0]);

	t.cpuid = malloc(bytes);
	assert_non_null(t.cpuid);
	memset(t.cpuid, CANARY_BYTE, bytes);
	memset(t.cpuid->entries, 0, t.max * sizeof(t.cpuid->entries[0]));
	t.cpuid->nent = n;
	t.cpuid->padding = 0;
	memcpy(t.cpuid->entries, src, n * sizeof(src[0]));
	vendor_regs(vendor, &t.cpuid->entries[0]);
	return t;
}

static struct table intel_table(unsigned int spare)
{
	return make_table(intel_host, sizeof(intel_host) / sizeof(intel_host[0]), "GenuineIntel",
			  spare);
}

static struct table amd_table(unsigned int spare)
{
	return make_table(amd_host, sizeof(amd_host) / sizeof(amd_host[0]), "AuthenticAMD", spare);
}

static void check_canary(const struct table *t)
{
	const uint8_t *p = (const uint8_t *)&t->cpuid->entries[t->max];

	for (size_t i = 0; i < CANARY_ENTRIES * sizeof(t->cpuid->entries[0]); i++)
		assert_int_equal(p[i], CANARY_BYTE);
	assert_true(t->cpuid->nent <= t->max);
}

static struct kvm_cpuid_entry2 *must_find(struct table *t, unsigned int fn, unsigned int idx)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(t->cpuid, fn, idx);

	assert_non_null(e);
	return e;
}

static unsigned int count_function(struct table *t, unsigned int fn)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < t->cpuid->nent; i++)
		n += t->cpuid->entries[i].function == fn;
	return n;
}

static void check_topology_leaf(struct table *t, unsigned int fn, unsigned int apic_id,
				unsigned int nr_cpus, unsigned int core_shift, bool terminated)
{
	struct kvm_cpuid_entry2 *smt = must_find(t, fn, 0);
	struct kvm_cpuid_entry2 *core = must_find(t, fn, 1);

	assert_int_equal(smt->index, 0);
	assert_true(smt->flags & SIG);
	assert_int_equal(smt->eax, 0);
	assert_int_equal(smt->ebx, 1);
	assert_int_equal(smt->ecx, (1u << 8) | 0);
	assert_int_equal(smt->edx, apic_id);

	assert_int_equal(core->index, 1);
	assert_true(core->flags & SIG);
	assert_int_equal(core->eax, core_shift);
	assert_int_equal(core->ebx, nr_cpus);
	assert_int_equal(core->ecx, (2u << 8) | 1);
	assert_int_equal(core->edx, apic_id);

	if (terminated) {
		struct kvm_cpuid_entry2 *end = must_find(t, fn, 2);

		assert_int_equal(end->index, 2);
		assert_int_equal(end->eax, 0);
		assert_int_equal(end->ebx, 0);
		assert_int_equal(end->ecx, 2);
		assert_int_equal(end->edx, apic_id);
		assert_int_equal(count_function(t, fn), 3);
	} else {
		assert_int_equal(count_function(t, fn), 2);
	}
}

static void test_find(void **state)
{
	struct table t = intel_table(0);

	(void)state;
	assert_null(cpuid_find(NULL, 1, 0));
	/* Leaf 1 has no significant index: any subleaf finds it. */
	assert_int_equal(must_find(&t, 1, 7)->eax, 0x906ea);
	/* Leaf 4 has one: each subleaf is its own entry, missing ones are NULL. */
	assert_int_equal(must_find(&t, 4, 3)->eax, 0x1c03c163);
	assert_null(cpuid_find(t.cpuid, 4, 9));
	assert_null(cpuid_find(t.cpuid, 0x12345, 0));
	/* nent bounds the search even if stale entries follow. */
	t.cpuid->nent = 1;
	assert_null(cpuid_find(t.cpuid, 1, 0));
	free(t.cpuid);
}

/* Topology as seen by vCPU @apic_id of @nr_cpus, on the Intel table. */
static void check_intel(unsigned int apic_id, unsigned int nr_cpus, unsigned int core_shift)
{
	struct table t = intel_table(8);
	struct kvm_cpuid_entry2 *e;

	assert_int_equal(cpuid_normalize(t.cpuid, t.max, apic_id, nr_cpus), 0);
	check_canary(&t);

	e = must_find(&t, 1, 0);
	assert_int_equal(e->ebx >> 24, apic_id & 0xff);
	assert_int_equal((e->ebx >> 16) & 0xff, nr_cpus);
	/* Brand index and a non-zero CLFLUSH size are kept. */
	assert_int_equal(e->ebx & 0xffff, intel_host[1].ebx & 0xffff);
	assert_int_equal(e->ecx & HYPERVISOR, HYPERVISOR);
	assert_int_equal(e->ecx & OSXSAVE, 0);
	/* Other feature bits are KVM's to decide and stay as supplied. */
	assert_int_equal(e->ecx & ~(HYPERVISOR | OSXSAVE),
			 intel_host[1].ecx & ~(HYPERVISOR | OSXSAVE));
	assert_int_equal(e->eax, intel_host[1].eax);
	assert_int_equal(!!(e->edx & HTT), nr_cpus > 1);
	assert_int_equal(e->edx & ~HTT, intel_host[1].edx & ~HTT);

	for (unsigned int i = 0; i < 4; i++) {
		e = must_find(&t, 4, i);
		assert_int_equal(e->eax >> 26, nr_cpus - 1);
		/* L1d, L1i, L2 per core; L3 (subleaf 3) shared by the package. */
		assert_int_equal((e->eax >> 14) & 0xfff, i == 3 ? nr_cpus - 1 : 0);
		assert_int_equal(e->eax & 0x3fff, intel_host[2 + i].eax & 0x3fff);
		assert_int_equal(e->ebx, intel_host[2 + i].ebx);
	}
	assert_int_equal(must_find(&t, 4, 4)->eax, 0);

	check_topology_leaf(&t, 0xb, apic_id, nr_cpus, core_shift, true);
	check_topology_leaf(&t, 0x1f, apic_id, nr_cpus, core_shift, true);

	/* AMD-only fields are left alone on Intel. */
	assert_int_equal(must_find(&t, 0x80000008, 0)->ecx, 0);
	assert_int_equal(must_find(&t, 0x80000001, 0)->ecx, intel_host[16].ecx);
	free(t.cpuid);
}

static void test_intel_one_cpu(void **state)
{
	(void)state;
	check_intel(0, 1, 0);
}

static void test_intel_two_cpus(void **state)
{
	(void)state;
	check_intel(0, 2, 1);
	check_intel(1, 2, 1);
}

static void test_intel_odd_counts(void **state)
{
	(void)state;
	/* The core shift rounds up to a power of two. */
	check_intel(2, 3, 2);
	check_intel(4, 5, 3);
}

static void test_intel_64_cpus(void **state)
{
	(void)state;
	check_intel(0, 64, 6);
	check_intel(37, 64, 6);
	check_intel(63, 64, 6);
}

static void test_unrelated_leaves_untouched(void **state)
{
	struct table t = intel_table(8);
	static const unsigned int keep[][2] = { { 0, 0 },	  { 7, 0 },   { 0xa, 0 },
						{ 0xd, 0 },	  { 0xd, 1 }, { 0x40000001, 0 },
						{ 0x80000000, 0 } };

	(void)state;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 1, 4), 0);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		struct kvm_cpuid_entry2 orig = { 0 };
		struct kvm_cpuid_entry2 *e = must_find(&t, keep[i][0], keep[i][1]);

		for (size_t j = 0; j < sizeof(intel_host) / sizeof(intel_host[0]); j++) {
			if (intel_host[j].function == keep[i][0] &&
			    intel_host[j].index == keep[i][1])
				orig = intel_host[j];
		}
		if (keep[i][0] == 0)
			vendor_regs("GenuineIntel", &orig);
		assert_memory_equal(e, &orig, sizeof(orig));
	}
	free(t.cpuid);
}

static void test_per_vcpu_copies_differ(void **state)
{
	struct table a = intel_table(8), b = intel_table(8);

	(void)state;
	assert_int_equal(cpuid_normalize(a.cpuid, a.max, 0, 2), 0);
	assert_int_equal(cpuid_normalize(b.cpuid, b.max, 1, 2), 0);
	assert_int_equal(must_find(&a, 1, 0)->ebx >> 24, 0);
	assert_int_equal(must_find(&b, 1, 0)->ebx >> 24, 1);
	assert_int_equal(must_find(&a, 0xb, 1)->edx, 0);
	assert_int_equal(must_find(&b, 0xb, 1)->edx, 1);
	free(a.cpuid);
	free(b.cpuid);
}

static void test_idempotent(void **state)
{
	struct table t = intel_table(8);
	struct kvm_cpuid_entry2 once[64];
	unsigned int nent;

	(void)state;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 3, 8), 0);
	nent = t.cpuid->nent;
	assert_true(nent <= 64);
	memcpy(once, t.cpuid->entries, nent * sizeof(once[0]));
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 3, 8), 0);
	assert_int_equal(t.cpuid->nent, nent);
	assert_memory_equal(t.cpuid->entries, once, nent * sizeof(once[0]));
	free(t.cpuid);
}

/* Older KVMs passed the host's topology through: it must be replaced. */
static void test_host_topology_replaced(void **state)
{
	struct table t = intel_table(4);
	struct kvm_cpuid_entry2 *e = t.cpuid->entries;
	unsigned int n = t.cpuid->nent;

	(void)state;
	for (unsigned int i = 0; i < n; i++) {
		if (e[i].function == 0xb) {
			e[i] = (struct kvm_cpuid_entry2){ .function = 0xb,
							  .index = 0,
							  .flags = SIG,
							  .eax = 1,
							  .ebx = 2,
							  .ecx = 0x100,
							  .edx = 9 };
		}
	}
	e[n++] = (struct kvm_cpuid_entry2){ .function = 0xb,
					    .index = 1,
					    .flags = SIG,
					    .eax = 5,
					    .ebx = 16,
					    .ecx = 0x201,
					    .edx = 9 };
	e[n++] = (struct kvm_cpuid_entry2){
		.function = 0xb, .index = 2, .flags = SIG, .ecx = 2, .edx = 9
	};
	t.cpuid->nent = n;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 1, 2), 0);
	check_topology_leaf(&t, 0xb, 1, 2, 1, true);
	check_canary(&t);
	free(t.cpuid);
}

static void check_amd(unsigned int apic_id, unsigned int nr_cpus, unsigned int core_bits)
{
	struct table t = amd_table(4);
	struct kvm_cpuid_entry2 *e;
	static const char kvm_sig[12] = { 'K', 'V', 'M', 'K', 'V', 'M', 'K', 'V', 'M', 0, 0, 0 };
	char sig[12];

	assert_int_equal(cpuid_normalize(t.cpuid, t.max, apic_id, nr_cpus), 0);
	check_canary(&t);

	e = must_find(&t, 1, 0);
	assert_int_equal(e->ebx >> 24, apic_id);
	assert_int_equal((e->ebx >> 16) & 0xff, nr_cpus);
	/* CLFLUSH size was zero in the supplied table: 64 bytes. */
	assert_int_equal((e->ebx >> 8) & 0xff, 8);
	assert_int_equal(e->ecx & HYPERVISOR, HYPERVISOR);
	assert_int_equal(!!(e->edx & HTT), nr_cpus > 1);

	e = must_find(&t, 0x80000001, 0);
	assert_int_equal(!!(e->ecx & CMP_LEGACY), nr_cpus > 1);
	assert_int_equal(e->ecx & ~CMP_LEGACY, amd_host[4].ecx & ~CMP_LEGACY);

	e = must_find(&t, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, nr_cpus - 1);
	assert_int_equal((e->ecx >> 12) & 0xf, core_bits);
	assert_int_equal((e->ecx >> 16) & 0x3, 2);
	assert_int_equal(e->eax, amd_host[5].eax);

	for (unsigned int i = 0; i < 4; i++) {
		e = must_find(&t, 0x8000001d, i);
		assert_int_equal((e->eax >> 14) & 0xfff, i == 3 ? nr_cpus - 1 : 0);
		assert_int_equal(e->eax & 0x3fff, amd_host[6 + i].eax & 0x3fff);
	}

	e = must_find(&t, 0x8000001e, 0);
	assert_int_equal(e->eax, apic_id);
	assert_int_equal(e->ebx & 0xff, apic_id);
	assert_int_equal((e->ebx >> 8) & 0xff, 0);
	assert_int_equal(e->ecx, 0);

	/* Missing in the supplied table, so added (there was room). */
	e = must_find(&t, 0x40000000, 0);
	assert_true(e->eax >= 0x40000001);
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	assert_memory_equal(sig, kvm_sig, sizeof(sig));
	assert_int_equal(must_find(&t, 0x40000001, 0)->eax, amd_host[2].eax);

	/* No Intel topology leaves are invented on a host that has none. */
	assert_null(cpuid_find(t.cpuid, 0xb, 0));
	assert_null(cpuid_find(t.cpuid, 0x1f, 0));
	free(t.cpuid);
}

static void test_amd(void **state)
{
	(void)state;
	check_amd(0, 1, 0);
	check_amd(0, 2, 1);
	check_amd(1, 2, 1);
	check_amd(0, 64, 6);
	check_amd(63, 64, 6);
}

static void test_kvm_signature_fixed(void **state)
{
	struct table t = intel_table(0);
	struct kvm_cpuid_entry2 *e = must_find(&t, 0x40000000, 0);

	(void)state;
	e->eax = 0;
	e->ebx = e->ecx = e->edx = 0xdeadbeef;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 1), 0);
	e = must_find(&t, 0x40000000, 0);
	assert_int_equal(e->eax, 0x40000001);
	assert_int_equal(e->ebx, 0x4b4d564b); /* "KVMK" */
	assert_int_equal(e->ecx, 0x564b4d56); /* "VMKV" */
	assert_int_equal(e->edx, 0x0000004d); /* "M\0\0\0" */
	/* A larger EAX (more paravirt leaves) is kept. */
	e->eax = 0x40000010;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 1), 0);
	assert_int_equal(must_find(&t, 0x40000000, 0)->eax, 0x40000010);
	free(t.cpuid);
}

/*
 * KVM returns one subleaf each for 0xb and 0x1f; the VM needs two (three with
 * the terminator). Whatever the spare room, nothing is written past capacity,
 * a topology leaf is either complete or absent, and 0xb is served first.
 */
static void test_no_room(void **state)
{
	static const struct {
		unsigned int spare;
		bool leaf_b, leaf_1f, term_b, term_1f;
	} cases[] = {
		{ 0, true, false, false, false }, { 1, true, false, true, false },
		{ 2, true, true, false, false },  { 3, true, true, true, false },
		{ 4, true, true, true, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct table t = intel_table(cases[i].spare);

		assert_int_equal(cpuid_normalize(t.cpuid, t.max, 2, 4), 0);
		check_canary(&t);
		if (cases[i].leaf_b)
			check_topology_leaf(&t, 0xb, 2, 4, 2, cases[i].term_b);
		else
			assert_int_equal(count_function(&t, 0xb), 0);
		if (cases[i].leaf_1f)
			check_topology_leaf(&t, 0x1f, 2, 4, 2, cases[i].term_1f);
		else
			assert_int_equal(count_function(&t, 0x1f), 0);
		/* The per-vCPU fields of existing leaves are set regardless. */
		assert_int_equal(must_find(&t, 1, 0)->ebx >> 24, 2);
		free(t.cpuid);
	}
}

static void test_no_room_for_signature(void **state)
{
	struct table t = amd_table(0);
	unsigned int nent = t.cpuid->nent;

	(void)state;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 2), 0);
	assert_int_equal(t.cpuid->nent, nent);
	assert_null(cpuid_find(t.cpuid, 0x40000000, 0));
	check_canary(&t);
	free(t.cpuid);
}

/* Both topology leaves dropped and the table full: still no overflow. */
static void test_no_room_at_all(void **state)
{
	struct table t = intel_table(0);

	(void)state;
	/* Pretend 0x1f is 0x7 so that only 0xb's single slot is freed. */
	for (unsigned int i = 0; i < t.cpuid->nent; i++) {
		if (t.cpuid->entries[i].function == 0x1f) {
			t.cpuid->entries[i].function = 0x7;
			t.cpuid->entries[i].index = 1;
		}
	}
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 2), 0);
	check_canary(&t);
	assert_int_equal(count_function(&t, 0xb), 0);
	assert_int_equal(t.cpuid->nent, t.max - 1);
	free(t.cpuid);
}

static void test_bad_args(void **state)
{
	struct table t = intel_table(2);
	struct kvm_cpuid_entry2 before[32];
	unsigned int nent = t.cpuid->nent;

	(void)state;
	memcpy(before, t.cpuid->entries, nent * sizeof(before[0]));
	assert_int_equal(cpuid_normalize(NULL, 10, 0, 1), -EINVAL);
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 0), -EINVAL);
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 2, 2), -EINVAL);
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 5000, 1), -EINVAL);
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 100000), -EINVAL);
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, UINT32_MAX), -EINVAL);
	/* A table claiming more entries than its capacity. */
	assert_int_equal(cpuid_normalize(t.cpuid, nent - 1, 0, 1), -EINVAL);
	t.cpuid->nent = UINT32_MAX;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 1), -EINVAL);
	t.cpuid->nent = nent;
	/* Rejected calls change nothing. */
	assert_memory_equal(t.cpuid->entries, before, nent * sizeof(before[0]));
	check_canary(&t);
	free(t.cpuid);
}

static void test_empty_table(void **state)
{
	struct table t = make_table(intel_host, 1, "GenuineIntel", 1);

	(void)state;
	/* Only the signature leaf is ever added to a table without topology leaves. */
	t.cpuid->nent = 0;
	assert_int_equal(cpuid_normalize(t.cpuid, t.max, 0, 1), 0);
	assert_int_equal(t.cpuid->nent, 1);
	assert_int_equal(t.cpuid->entries[0].function, 0x40000000);
	t.cpuid->nent = 0;
	assert_int_equal(cpuid_normalize(t.cpuid, 0, 0, 1), 0);
	assert_int_equal(t.cpuid->nent, 0);
	check_canary(&t);
	free(t.cpuid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_intel_one_cpu),
		cmocka_unit_test(test_intel_two_cpus),
		cmocka_unit_test(test_intel_odd_counts),
		cmocka_unit_test(test_intel_64_cpus),
		cmocka_unit_test(test_unrelated_leaves_untouched),
		cmocka_unit_test(test_per_vcpu_copies_differ),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_host_topology_replaced),
		cmocka_unit_test(test_amd),
		cmocka_unit_test(test_kvm_signature_fixed),
		cmocka_unit_test(test_no_room),
		cmocka_unit_test(test_no_room_for_signature),
		cmocka_unit_test(test_no_room_at_all),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_empty_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
