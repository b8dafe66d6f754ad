/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables, so a guest without ACPI
 * finds its CPUs, the IOAPIC and how ISA interrupts are wired: the floating
 * pointer and configuration table live in the BIOS area (LAYOUT_MPTABLE).
 */
#ifndef KVMINI_X86_MPTABLE_H
#define KVMINI_X86_MPTABLE_H

#include <stdint.h>

struct guest_mem;
struct error;

/* The IOAPIC's MP id: one past the last CPU's APIC id. */
#define MPTABLE_IOAPIC_ID(nr_cpus) (nr_cpus)

/* MP bus ids: Linux matches a PCI interrupt entry's bus id against the PCI
 * bus number, so the PCI root bus must be bus 0. */
#define MPTABLE_PCI_BUS_ID 0
#define MPTABLE_ISA_BUS_ID 1

/* PCI slots the table always has room for (one INTA# entry each). */
#define MPTABLE_MAX_PCI_SLOTS 32

/*
 * Write the tables for @nr_cpus CPUs (APIC ids 0..nr_cpus-1, CPU 0 the BSP),
 * a PCI bus and an ISA bus, the IOAPIC at LAYOUT_IOAPIC_BASE with ISA IRQs
 * 0-15 routed (IRQ 0 to pin 2, as the PIT is wired), LINT0 ExtINT and LINT1
 * NMI, and INTA# of each of the @nr_pci_slots PCI slots in @pci_slots to
 * IOAPIC pin PCI_INTX_GSI_BASE + slot % PCI_INTX_NR_GSIS (level, active low).
 * Returns 0, -EINVAL (bad slot number, duplicate slot, more than
 * MPTABLE_MAX_PCI_SLOTS), or -ENOSPC for more than mptable_max_cpus() CPUs.
 * Guest RAM is left untouched on any failure.
 */
int mptable_write(const struct guest_mem *mem, unsigned int nr_cpus, const unsigned int *pci_slots,
		  unsigned int nr_pci_slots, struct error *err);

/* Largest CPU count the table describes (with MPTABLE_MAX_PCI_SLOTS): 254,
 * as APIC ids are bytes, 0xff means "all" and the IOAPIC takes one. */
unsigned int mptable_max_cpus(void);

#endif
