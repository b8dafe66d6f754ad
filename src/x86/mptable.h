/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables, so a guest without ACPI
 * finds its CPUs, the IOAPIC and how ISA interrupts are wired: the floating
 * pointer and configuration table live in the EBDA (LAYOUT_EBDA).
 */
#ifndef KVMINI_X86_MPTABLE_H
#define KVMINI_X86_MPTABLE_H

#include <stdint.h>

struct guest_mem;
struct error;

/* The IOAPIC's MP id: one past the last CPU's APIC id. */
#define MPTABLE_IOAPIC_ID(nr_cpus) (nr_cpus)

/*
 * Write the tables for @nr_cpus CPUs (APIC ids 0..nr_cpus-1, CPU 0 the BSP),
 * one ISA bus, the IOAPIC at LAYOUT_IOAPIC_BASE with ISA IRQs 0-15 routed
 * (IRQ 0 to pin 2, as the PIT is wired), LINT0 ExtINT and LINT1 NMI.
 * Returns 0, or -ENOSPC if the tables would not fit in the EBDA.
 */
int mptable_write(const struct guest_mem *mem, unsigned int nr_cpus, struct error *err);

/* Largest CPU count whose table fits in the EBDA. */
unsigned int mptable_max_cpus(void);

#endif
