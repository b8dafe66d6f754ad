// SPDX-License-Identifier: MIT
/*
 * MultiProcessor Specification 1.4: the floating pointer at the start of the
 * BIOS area (0xf0000, where Linux scans; the 1 KiB EBDA held too few CPUs)
 * and the configuration table right behind it. The whole table is built in a
 * local buffer, checksummed, and copied to the guest in one guest_mem_write(),
 * so a failure leaves guest RAM untouched.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "guest_mem.h"
#include "pci/pci.h"
#include "x86/layout.h"
#include "x86/mptable.h"

#define MPTABLE_SPACE ((size_t)0x4000)
#define MPTABLE_END (LAYOUT_MPTABLE + MPTABLE_SPACE)

_Static_assert(LAYOUT_MPTABLE % 16 == 0, "the floating pointer is 16-byte aligned");
_Static_assert(MPTABLE_END <= LAYOUT_HIGH_START, "the MP table stays inside the BIOS area");

#define MP_SPEC_REV 4
#define MP_LAPIC_VERSION 0x14 /* integrated APIC, as KVM's LAPIC reports */
#define MP_IOAPIC_VERSION 0x11 /* as KVM's IOAPIC reports */
/* Family 6, and the FPU and APIC feature flags of CPUID leaf 1 EDX. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES ((1u << 0) | (1u << 9))

#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_IO_INTERRUPT 3
#define MP_ENTRY_LOCAL_INTERRUPT 4

#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_IOAPIC_ENABLED 0x01

#define MP_INT_INT 0
#define MP_INT_NMI 1
#define MP_INT_EXTINT 3
#define MP_IRQ_FLAGS_CONFORMING 0 /* polarity and trigger as the bus defines */
#define MP_IRQ_FLAGS_PCI_LEVEL_LOW 0x0f /* polarity 3 (low), trigger 3 (level) */
#define MP_ALL_LAPICS 0xff

#define ISA_IRQS 16
#define ISA_IRQ_CASCADE 2 /* the slave 8259, not a device */
#define PIT_IOAPIC_PIN 2 /* the PIT's output reaches IOAPIC pin 2, not 0 */
#define NR_IO_INTERRUPTS (ISA_IRQS - 1)
#define NR_LOCAL_INTERRUPTS 2

struct mp_floating_pointer {
	char signature[4];
	uint32_t config_table;
	uint8_t length; /* in 16-byte paragraphs */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_config_header {
	char signature[4];
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_address;
	uint16_t ext_table_length;
	uint8_t ext_table_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;
	uint8_t lapic_id;
	uint8_t lapic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t id;
	uint8_t version;
	uint8_t flags;
	uint32_t address;
} __attribute__((packed));

/* I/O and local interrupt assignment entries share one layout. */
struct mp_interrupt {
	uint8_t type;
	uint8_t int_type;
	uint16_t flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_id;
	uint8_t dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating_pointer) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mp_config_header) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry is 8 bytes");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP IOAPIC entry is 8 bytes");
_Static_assert(sizeof(struct mp_interrupt) == 8, "MP interrupt entry is 8 bytes");

/* Everything but the processor entries, with the most PCI slots. */
#define MPTABLE_FIXED_SIZE                                                      \
	(sizeof(struct mp_floating_pointer) + sizeof(struct mp_config_header) + \
	 2 * sizeof(struct mp_bus) + sizeof(struct mp_ioapic) +                 \
	 (NR_IO_INTERRUPTS + NR_LOCAL_INTERRUPTS + MPTABLE_MAX_PCI_SLOTS) *     \
		 sizeof(struct mp_interrupt))

_Static_assert(MPTABLE_MAX_PCI_SLOTS == PCI_MAX_SLOTS, "one entry per PCI slot");

_Static_assert(MPTABLE_FIXED_SIZE + 0xfe * sizeof(struct mp_processor) <= MPTABLE_SPACE,
	       "the MP table space holds every CPU an 8-bit APIC id can name");

unsigned int mptable_max_cpus(void)
{
	unsigned int max = (MPTABLE_SPACE - MPTABLE_FIXED_SIZE) / sizeof(struct mp_processor);

	/* Ids are bytes, 0xff means "all", and the IOAPIC takes id nr_cpus. */
	return max < 0xfe ? max : 0xfe;
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

/* Appends @len bytes of @entry at *@off in @buf; space is checked up front. */
static void put(uint8_t *buf, size_t *off, const void *entry, size_t len)
{
	memcpy(buf + *off, entry, len);
	*off += len;
}

/* Processor, bus and IOAPIC entries; returns how many were appended. */
static unsigned int put_devices(uint8_t *buf, size_t *off, unsigned int nr_cpus)
{
	struct mp_bus pci = { .type = MP_ENTRY_BUS, .bus_id = MPTABLE_PCI_BUS_ID };
	struct mp_bus isa = { .type = MP_ENTRY_BUS, .bus_id = MPTABLE_ISA_BUS_ID };
	struct mp_ioapic ioapic = {
		.type = MP_ENTRY_IOAPIC,
		.id = MPTABLE_IOAPIC_ID(nr_cpus),
		.version = MP_IOAPIC_VERSION,
		.flags = MP_IOAPIC_ENABLED,
		.address = (uint32_t)LAYOUT_IOAPIC_BASE,
	};

	for (unsigned int cpu = 0; cpu < nr_cpus; cpu++) {
		struct mp_processor p = {
			.type = MP_ENTRY_PROCESSOR,
			.lapic_id = cpu,
			.lapic_version = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (cpu == 0 ? MP_CPU_BSP : 0),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};

		put(buf, off, &p, sizeof(p));
	}
	/* Bus entries in id order, as the specification asks. */
	memcpy(pci.bus_type, "PCI   ", sizeof(pci.bus_type));
	memcpy(isa.bus_type, "ISA   ", sizeof(isa.bus_type));
	put(buf, off, &pci, sizeof(pci));
	put(buf, off, &isa, sizeof(isa));
	put(buf, off, &ioapic, sizeof(ioapic));
	return nr_cpus + 3;
}

/* ISA IRQ and PCI INTA# routing to the IOAPIC, and the LAPICs' LINT pins. */
static unsigned int put_interrupts(uint8_t *buf, size_t *off, unsigned int nr_cpus,
				   const unsigned int *pci_slots, unsigned int nr_pci_slots)
{
	static const struct {
		uint8_t int_type;
		uint8_t lint;
	} lints[NR_LOCAL_INTERRUPTS] = { { MP_INT_EXTINT, 0 }, { MP_INT_NMI, 1 } };
	unsigned int n = 0;

	for (unsigned int irq = 0; irq < ISA_IRQS; irq++) {
		struct mp_interrupt intr = {
			.type = MP_ENTRY_IO_INTERRUPT,
			.int_type = MP_INT_INT,
			.flags = MP_IRQ_FLAGS_CONFORMING,
			.src_bus = MPTABLE_ISA_BUS_ID,
			.src_irq = irq,
			.dst_id = MPTABLE_IOAPIC_ID(nr_cpus),
			.dst_pin = irq == 0 ? PIT_IOAPIC_PIN : irq,
		};

		if (irq == ISA_IRQ_CASCADE)
			continue;
		put(buf, off, &intr, sizeof(intr));
		n++;
	}
	for (unsigned int i = 0; i < nr_pci_slots; i++) {
		struct mp_interrupt intr = {
			.type = MP_ENTRY_IO_INTERRUPT,
			.int_type = MP_INT_INT,
			.flags = MP_IRQ_FLAGS_PCI_LEVEL_LOW,
			.src_bus = MPTABLE_PCI_BUS_ID,
			.src_irq = pci_slots[i] << 2, /* device in 6:2, INTA# (0) in 1:0 */
			.dst_id = MPTABLE_IOAPIC_ID(nr_cpus),
			.dst_pin = PCI_INTX_GSI_BASE + pci_slots[i] % PCI_INTX_NR_GSIS,
		};

		put(buf, off, &intr, sizeof(intr));
		n++;
	}
	for (unsigned int i = 0; i < NR_LOCAL_INTERRUPTS; i++) {
		struct mp_interrupt intr = {
			.type = MP_ENTRY_LOCAL_INTERRUPT,
			.int_type = lints[i].int_type,
			.flags = MP_IRQ_FLAGS_CONFORMING,
			.src_bus = MPTABLE_ISA_BUS_ID,
			.src_irq = 0,
			.dst_id = MP_ALL_LAPICS,
			.dst_pin = lints[i].lint,
		};

		put(buf, off, &intr, sizeof(intr));
		n++;
	}
	return n;
}

static int check_pci_slots(const unsigned int *slots, unsigned int nr, struct error *err)
{
	uint32_t seen = 0;

	if (nr > MPTABLE_MAX_PCI_SLOTS)
		return error_set(err, -EINVAL, "MP table: %u PCI slots (at most %u)", nr,
				 MPTABLE_MAX_PCI_SLOTS);
	if (nr && !slots)
		return error_set(err, -EINVAL, "MP table: no PCI slot list");
	for (unsigned int i = 0; i < nr; i++) {
		if (slots[i] >= PCI_MAX_SLOTS)
			return error_set(err, -EINVAL, "MP table: PCI slot %u out of range",
					 slots[i]);
		if (seen & (1u << slots[i]))
			return error_set(err, -EINVAL, "MP table: PCI slot %u listed twice",
					 slots[i]);
		seen |= 1u << slots[i];
	}
	return 0;
}

int mptable_write(const struct guest_mem *mem, unsigned int nr_cpus, const unsigned int *pci_slots,
		  unsigned int nr_pci_slots, struct error *err)
{
	const size_t table_off = sizeof(struct mp_floating_pointer);
	struct mp_floating_pointer fp = { 0 };
	struct mp_config_header hdr = { 0 };
	uint8_t buf[MPTABLE_SPACE];
	unsigned int entries;
	size_t off;
	int ret;

	if (!mem)
		return error_set(err, -EINVAL, "MP table: no guest memory");
	if (nr_cpus == 0)
		return error_set(err, -EINVAL, "MP table: need at least one CPU");
	if (nr_cpus > mptable_max_cpus())
		return error_set(err, -ENOSPC,
				 "MP table: %u CPUs do not fit (at most %u: APIC ids are 8 bits)",
				 nr_cpus, mptable_max_cpus());
	ret = check_pci_slots(pci_slots, nr_pci_slots, err);
	if (ret)
		return ret;

	memset(buf, 0, sizeof(buf));
	off = table_off + sizeof(hdr);
	entries = put_devices(buf, &off, nr_cpus);
	entries += put_interrupts(buf, &off, nr_cpus, pci_slots, nr_pci_slots);

	memcpy(hdr.signature, "PCMP", sizeof(hdr.signature));
	hdr.length = off - table_off;
	hdr.spec_rev = MP_SPEC_REV;
	memcpy(hdr.oem_id, "KVMINI  ", sizeof(hdr.oem_id));
	memcpy(hdr.product_id, "KVMINI VM   ", sizeof(hdr.product_id));
	hdr.entry_count = entries;
	hdr.lapic_address = (uint32_t)LAYOUT_LAPIC_BASE;
	memcpy(buf + table_off, &hdr, sizeof(hdr));
	buf[table_off + offsetof(struct mp_config_header, checksum)] =
		checksum(buf + table_off, hdr.length);

	memcpy(fp.signature, "_MP_", sizeof(fp.signature));
	fp.config_table = (uint32_t)(LAYOUT_MPTABLE + table_off);
	fp.length = sizeof(fp) / 16;
	fp.spec_rev = MP_SPEC_REV;
	/* Feature bytes all zero: the table is present, no IMCR (virtual wire mode). */
	fp.checksum = checksum((const uint8_t *)&fp, sizeof(fp));
	memcpy(buf, &fp, sizeof(fp));

	/* The whole region, so no stale bytes from an earlier boot stay behind. */
	ret = guest_mem_write(mem, LAYOUT_MPTABLE, buf, sizeof(buf));
	if (ret)
		return error_set(err, ret, "MP table: guest RAM does not cover 0x%llx-0x%llx",
				 (unsigned long long)LAYOUT_MPTABLE,
				 (unsigned long long)MPTABLE_END);
	return 0;
}
