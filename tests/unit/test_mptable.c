// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "guest_mem.h"
#include "x86/layout.h"
#include "x86/mptable.h"

/* The tables' 16 KiB at the start of the BIOS area, where Linux scans. */
#define REGION_START 0xf0000u
#define REGION_END 0xf4000u
#define RAM_SIZE (1u << 20)
#define MAX_APIC_CPUS 254 /* 8-bit ids, 0xff is "all", the IOAPIC takes one */
#define POISON 0xa5

/* Sizes and field offsets straight from the MP specification 1.4. */
#define FP_SIZE 16
#define HDR_SIZE 44
#define PROC_SIZE 20
#define SMALL_ENTRY_SIZE 8
#define NR_IO_INTS 15
#define NR_LOCAL_INTS 2
#define NR_BUSES 2 /* PCI (id 0) and ISA (id 1) */
#define MAX_PCI_SLOTS 32

struct ram {
	uint8_t *buf;
	uint64_t size;
	struct guest_mem mem;
};

static struct ram ram_new(uint64_t size)
{
	struct ram r = { .size = size };

	r.buf = malloc(size);
	assert_non_null(r.buf);
	memset(r.buf, POISON, size);
	guest_mem_init_buffer(&r.mem, r.buf, size);
	return r;
}

static uint16_t rd16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

static void assert_untouched(const struct ram *r, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to && i < r->size; i++) {
		if (r->buf[i] != POISON)
			fail_msg("byte at 0x%llx was written", (unsigned long long)i);
	}
}

/* What a guest would learn from the tables. */
struct parsed {
	unsigned int cpus, bsps, buses, ioapics, io_ints, local_ints, pci_ints;
	int bsp_id;
	int ioapic_id;
	int irq_pin[16]; /* -1: no entry */
	int pci_pin[MAX_PCI_SLOTS]; /* INTA# of each slot; -1: no entry */
	int lint_type[2]; /* -1: no entry */
};

/* Linux's floating pointer check: signature, one paragraph, checksum, 1.1 or 1.4. */
static int scan(const struct ram *r, uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + FP_SIZE <= start + len && a + FP_SIZE <= r->size; a += 16) {
		const uint8_t *fp = r->buf + a;

		if (!memcmp(fp, "_MP_", 4) && fp[8] == 1 && sum(fp, FP_SIZE) == 0 &&
		    (fp[9] == 1 || fp[9] == 4))
			return (int)a;
	}
	return -1;
}

/* Where Linux's find_smp_config looks, in its order (the BDA's EBDA pointer
 * is left zero, so its last scan is of address 0 again). */
static int find_floating_pointer(const struct ram *r)
{
	static const struct {
		uint64_t start, len;
	} areas[] = { { 0, 0x400 }, { 639 * 0x400, 0x400 }, { 0xf0000, 0x10000 } };

	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		int a = scan(r, areas[i].start, areas[i].len);

		if (a >= 0)
			return a;
	}
	return -1;
}

/* Parses and validates the tables as a careful guest would. */
static struct parsed parse(const struct ram *r)
{
	struct parsed p = { .bsp_id = -1, .ioapic_id = -1 };
	const uint8_t *fp, *hdr, *e, *end;
	uint32_t table;
	uint16_t len, count;
	int fp_addr;

	for (int i = 0; i < 16; i++)
		p.irq_pin[i] = -1;
	for (int i = 0; i < MAX_PCI_SLOTS; i++)
		p.pci_pin[i] = -1;
	p.lint_type[0] = p.lint_type[1] = -1;

	fp_addr = find_floating_pointer(r);
	assert_int_equal(fp_addr, REGION_START);
	fp = r->buf + fp_addr;
	assert_int_equal(fp[9], 4); /* spec revision 1.4 */
	assert_int_equal(fp[11], 0); /* feature byte 1: a config table follows */
	table = rd32(fp + 4);
	assert_true(table >= REGION_START + FP_SIZE && table + HDR_SIZE <= REGION_END);

	hdr = r->buf + table;
	assert_memory_equal(hdr, "PCMP", 4);
	len = rd16(hdr + 4);
	assert_true(len >= HDR_SIZE && table + len <= REGION_END);
	assert_int_equal(hdr[6], 4);
	assert_int_equal(sum(hdr, len), 0);
	assert_memory_equal(hdr + 8, "KVMINI  ", 8);
	assert_int_equal(rd32(hdr + 28), 0); /* no OEM table */
	count = rd16(hdr + 34);
	assert_int_equal(rd32(hdr + 36), 0xfee00000);
	assert_int_equal(rd16(hdr + 40), 0); /* no extended table */

	e = hdr + HDR_SIZE;
	end = hdr + len;
	for (unsigned int i = 0; i < count; i++) {
		assert_true(e < end);
		switch (e[0]) {
		case 0:
			assert_true(e + PROC_SIZE <= end);
			assert_int_equal(e[1], p.cpus); /* APIC ids 0..n-1 in order */
			assert_int_equal(e[2], 0x14);
			assert_int_equal(e[3] & 1, 1); /* enabled */
			if (e[3] & 2) {
				p.bsps++;
				p.bsp_id = e[1];
			}
			assert_int_not_equal(rd32(e + 4), 0); /* a CPU signature */
			p.cpus++;
			e += PROC_SIZE;
			break;
		case 1:
			/* Ids in order: the PCI root bus must be 0 for Linux. */
			assert_int_equal(e[1], p.buses);
			assert_memory_equal(e + 2, p.buses == 0 ? "PCI   " : "ISA   ", 6);
			p.buses++;
			e += SMALL_ENTRY_SIZE;
			break;
		case 2:
			assert_int_equal(e[2], 0x11);
			assert_int_equal(e[3] & 1, 1);
			assert_int_equal(rd32(e + 4), 0xfec00000);
			p.ioapic_id = e[1];
			p.ioapics++;
			e += SMALL_ENTRY_SIZE;
			break;
		case 3:
			assert_int_equal(e[1], 0); /* INT */
			assert_int_equal(e[6], p.ioapic_id); /* follows the IOAPIC entry */
			if (e[4] == 0) {
				/* PCI: level, active low; device in 6:2, INTA#. */
				assert_int_equal(rd16(e + 2), 0x0f);
				assert_int_equal(e[5] & 3, 0);
				assert_true(e[5] >> 2 < MAX_PCI_SLOTS);
				assert_int_equal(p.pci_pin[e[5] >> 2], -1);
				p.pci_pin[e[5] >> 2] = e[7];
				p.pci_ints++;
				e += SMALL_ENTRY_SIZE;
				break;
			}
			assert_int_equal(rd16(e + 2), 0); /* conforming */
			assert_int_equal(e[4], 1); /* ISA bus */
			assert_true(e[5] < 16);
			assert_int_equal(p.irq_pin[e[5]], -1); /* once per IRQ */
			p.irq_pin[e[5]] = e[7];
			p.io_ints++;
			e += SMALL_ENTRY_SIZE;
			break;
		case 4:
			assert_int_equal(e[6], 0xff); /* all local APICs */
			assert_true(e[7] < 2);
			p.lint_type[e[7]] = e[1];
			p.local_ints++;
			e += SMALL_ENTRY_SIZE;
			break;
		default:
			fail_msg("unknown entry type %u", e[0]);
		}
	}
	assert_ptr_equal(e, end);
	return p;
}

static struct parsed check_tables_slots(unsigned int nr_cpus, const unsigned int *slots,
					unsigned int nr_slots)
{
	struct ram r = ram_new(RAM_SIZE);
	struct error err = { 0 };
	struct parsed p;

	assert_int_equal(mptable_write(&r.mem, nr_cpus, slots, nr_slots, &err), 0);
	assert_int_equal(err.code, 0);
	/* The EBDA included: nothing outside the region is written. */
	assert_untouched(&r, 0, REGION_START);
	assert_untouched(&r, REGION_END, r.size);

	p = parse(&r);
	assert_int_equal(p.cpus, nr_cpus);
	assert_int_equal(p.bsps, 1);
	assert_int_equal(p.bsp_id, 0);
	assert_int_equal(p.buses, NR_BUSES);
	assert_int_equal(p.pci_ints, nr_slots);
	assert_int_equal(p.ioapics, 1);
	assert_int_equal(p.ioapic_id, MPTABLE_IOAPIC_ID(nr_cpus));
	assert_int_equal(p.ioapic_id, nr_cpus);
	assert_int_equal(p.io_ints, NR_IO_INTS);
	assert_int_equal(p.local_ints, NR_LOCAL_INTS);

	assert_int_equal(p.irq_pin[0], 2); /* the PIT */
	assert_int_equal(p.irq_pin[2], -1); /* the cascade */
	for (int irq = 1; irq < 16; irq++) {
		if (irq != 2)
			assert_int_equal(p.irq_pin[irq], irq);
	}
	assert_int_equal(p.lint_type[0], 3); /* ExtINT */
	assert_int_equal(p.lint_type[1], 1); /* NMI */
	free(r.buf);
	return p;
}

static void check_tables(unsigned int nr_cpus)
{
	check_tables_slots(nr_cpus, NULL, 0);
}

static void test_one_cpu(void **state)
{
	(void)state;
	check_tables(1);
}

static void test_two_cpus(void **state)
{
	(void)state;
	check_tables(2);
}

static void test_max_cpus(void **state)
{
	(void)state;
	check_tables(mptable_max_cpus());
}

static void test_max_cpus_value(void **state)
{
	unsigned int fixed = FP_SIZE + HDR_SIZE + (NR_BUSES + 1) * SMALL_ENTRY_SIZE +
			     (NR_IO_INTS + NR_LOCAL_INTS + MAX_PCI_SLOTS) * SMALL_ENTRY_SIZE;

	(void)state;
	/* The 16 KiB would hold more than 254 CPUs (everything that does not
	 * depend on the CPU count, with every PCI slot, then 20 bytes per CPU):
	 * the 8-bit APIC ids are the limit. */
	assert_true((REGION_END - REGION_START - fixed) / PROC_SIZE > MAX_APIC_CPUS);
	assert_int_equal(mptable_max_cpus(), MAX_APIC_CPUS);
}

/* The largest table: 254 CPUs (ids 0-253), the IOAPIC id 254, 32 PCI slots. */
static void test_254_cpus_32_slots(void **state)
{
	unsigned int slots[MAX_PCI_SLOTS];
	struct parsed p;

	(void)state;
	for (unsigned int i = 0; i < MAX_PCI_SLOTS; i++)
		slots[i] = i;
	p = check_tables_slots(MAX_APIC_CPUS, slots, MAX_PCI_SLOTS);
	assert_int_equal(p.cpus, 254);
	assert_int_equal(p.ioapic_id, 254);
	for (unsigned int i = 0; i < MAX_PCI_SLOTS; i++)
		assert_int_equal(p.pci_pin[i], 16 + i % 8);
}

/* A second write fully replaces the first (nothing left from more CPUs, and
 * every byte of the region written, poison included). */
static void test_rewrite(void **state)
{
	struct ram r = ram_new(RAM_SIZE);
	unsigned int slots[MAX_PCI_SLOTS];
	struct parsed p;

	(void)state;
	for (unsigned int i = 0; i < MAX_PCI_SLOTS; i++)
		slots[i] = i;
	assert_int_equal(mptable_write(&r.mem, mptable_max_cpus(), slots, MAX_PCI_SLOTS, NULL), 0);
	assert_int_equal(mptable_write(&r.mem, 1, NULL, 0, NULL), 0);
	p = parse(&r);
	assert_int_equal(p.cpus, 1);
	assert_int_equal(p.pci_ints, 0);
	for (uint32_t a = REGION_START + FP_SIZE + HDR_SIZE + PROC_SIZE + 20 * SMALL_ENTRY_SIZE;
	     a < REGION_END; a++)
		assert_int_equal(r.buf[a], 0);
	assert_untouched(&r, 0, REGION_START);
	assert_untouched(&r, REGION_END, r.size);
	free(r.buf);
}

static void test_too_many_cpus(void **state)
{
	struct ram r = ram_new(RAM_SIZE);
	struct error err = { 0 };
	unsigned int too_many[] = { mptable_max_cpus() + 1, 255, 256, 1000, UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(too_many) / sizeof(too_many[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(mptable_write(&r.mem, too_many[i], NULL, 0, &err), -ENOSPC);
		assert_int_equal(err.code, -ENOSPC);
		assert_non_null(strstr(err.msg, "CPUs"));
		assert_null(strchr(err.msg, '\n'));
	}
	assert_untouched(&r, 0, r.size);
	/* A NULL error is allowed. */
	assert_int_equal(mptable_write(&r.mem, too_many[0], NULL, 0, NULL), -ENOSPC);
	free(r.buf);
}

static void test_zero_cpus(void **state)
{
	struct ram r = ram_new(RAM_SIZE);
	struct error err = { 0 };

	(void)state;
	assert_int_equal(mptable_write(&r.mem, 0, NULL, 0, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_int_equal(mptable_write(NULL, 1, NULL, 0, &err), -EINVAL);
	assert_untouched(&r, 0, r.size);
	free(r.buf);
}

/* RAM that ends below the BIOS area, or inside the region, cannot hold the tables. */
static void test_ram_too_small(void **state)
{
	static const uint64_t sizes[] = { 0x80000,	   0xa0000,
					  REGION_START,	   REGION_START + 0x10,
					  REGION_END - 16, REGION_END - 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ram r = ram_new(sizes[i]);
		struct error err = { 0 };
		int ret = mptable_write(&r.mem, 2, NULL, 0, &err);

		assert_true(ret < 0);
		assert_int_equal(err.code, ret);
		assert_true(err.msg[0] != '\0');
		/* Nothing half-written into the part of the region that exists. */
		assert_untouched(&r, 0, r.size);
		free(r.buf);
	}
}

static void test_ram_ends_at_region_end(void **state)
{
	struct ram r = ram_new(REGION_END);

	(void)state;
	assert_int_equal(mptable_write(&r.mem, 4, NULL, 0, NULL), 0);
	assert_int_equal(parse(&r).cpus, 4);
	assert_untouched(&r, 0, REGION_START);
	free(r.buf);
}

/* INTA# of slot s reaches IOAPIC pin 16 + s % 8; slots 1 and 9 share one. */
static void test_pci_slots(void **state)
{
	static const unsigned int slots[] = { 1, 2, 9, 31 };
	struct parsed p;

	(void)state;
	p = check_tables_slots(2, slots, 4);
	assert_int_equal(p.pci_pin[1], 17);
	assert_int_equal(p.pci_pin[2], 18);
	assert_int_equal(p.pci_pin[9], 17);
	assert_int_equal(p.pci_pin[31], 23);
	assert_int_equal(p.pci_pin[0], -1);
	assert_int_equal(p.pci_pin[3], -1);
}

/* Every CPU and every slot, in reverse slot order. */
static void test_max_cpus_all_slots(void **state)
{
	unsigned int slots[MAX_PCI_SLOTS];
	struct parsed p;

	(void)state;
	for (unsigned int i = 0; i < MAX_PCI_SLOTS; i++)
		slots[i] = MAX_PCI_SLOTS - 1 - i;
	p = check_tables_slots(mptable_max_cpus(), slots, MAX_PCI_SLOTS);
	for (unsigned int i = 0; i < MAX_PCI_SLOTS; i++)
		assert_int_equal(p.pci_pin[i], 16 + i % 8);
}

static void test_bad_pci_slots(void **state)
{
	static const unsigned int out_of_range[] = { 3, 32 };
	static const unsigned int huge[] = { UINT32_MAX };
	static const unsigned int twice[] = { 4, 5, 4 };
	unsigned int many[MAX_PCI_SLOTS + 1] = { 0 };
	struct ram r = ram_new(RAM_SIZE);
	struct {
		const unsigned int *slots;
		unsigned int nr;
	} cases[] = {
		{ out_of_range, 2 },	     { huge, 1 }, { twice, 3 }, { NULL, 1 },
		{ many, MAX_PCI_SLOTS + 1 },
	};

	(void)state;
	for (unsigned int i = 0; i < MAX_PCI_SLOTS + 1; i++)
		many[i] = i % MAX_PCI_SLOTS;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct error err = { 0 };

		assert_int_equal(mptable_write(&r.mem, 1, cases[i].slots, cases[i].nr, &err),
				 -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		assert_non_null(strstr(err.msg, "PCI"));
	}
	assert_untouched(&r, 0, r.size);
	free(r.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_two_cpus),
		cmocka_unit_test(test_max_cpus),
		cmocka_unit_test(test_max_cpus_value),
		cmocka_unit_test(test_254_cpus_32_slots),
		cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_too_many_cpus),
		cmocka_unit_test(test_zero_cpus),
		cmocka_unit_test(test_ram_too_small),
		cmocka_unit_test(test_ram_ends_at_region_end),
		cmocka_unit_test(test_pci_slots),
		cmocka_unit_test(test_max_cpus_all_slots),
		cmocka_unit_test(test_bad_pci_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
