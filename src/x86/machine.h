/* SPDX-License-Identifier: MIT */
/*
 * kvmini's x86 machine: a VM with RAM, in-kernel PIC/IOAPIC/LAPIC and PIT,
 * one 16550A UART (COM1, IRQ 4), the i8042 reset line, the CMOS RTC, two exit
 * ports, a PCI bus with virtio devices, an MP table, and a kernel loaded by
 * one of the boot protocols.
 */
#ifndef KVMINI_X86_MACHINE_H
#define KVMINI_X86_MACHINE_H

#include <stdint.h>

#include "boot.h"
#include "devices/cmos_rtc.h"
#include "devices/exit_port.h"
#include "devices/i8042.h"
#include "devices/uart16550.h"
#include "lazy_load.h"
#include "machine_pci.h"
#include "vm.h"

#define COM1_PORT 0x3f8
#define COM1_IRQ 4

/*
 * How an ELF kernel's segments and the initrd get into guest RAM.
 *  - LAZY: read in by a loader thread while the guest runs (lazy_load.h);
 *    no userfaultfd: as COPY;
 *  - COPY: read in before the first KVM_RUN;
 *  - MAP: the kernel's pages mapped from its file copy-on-write (4 KiB
 *    pages for the guest), the initrd copied.
 */
enum kernel_load_mode { KERNEL_LOAD_LAZY, KERNEL_LOAD_COPY, KERNEL_LOAD_MAP };

struct machine_config {
	const char *kvm_dev; /* normally /dev/kvm */
	uint64_t ram_size;
	unsigned int nr_cpus;
	const char *kernel_path;
	const char *initrd_path; /* may be NULL */
	const char *initrd_name; /* Multiboot module string */
	const char *cmdline; /* complete kernel command line */
	enum kernel_load_mode kernel_load; /* --kernel-load */
	struct uart16550_ops serial; /* where COM1 output goes, input readiness */
	struct machine_pci_config pci; /* virtio devices */
	/* The guest wrote KVMINI_READY_PORT (may be NULL). */
	void (*guest_ready)(void *opaque);
	void *guest_ready_opaque;
};

struct machine {
	struct vm vm;
	struct uart16550 com1;
	struct uart16550_ops serial; /* the user's COM1 sink (com1 calls it through the machine) */
	struct i8042 kbc;
	struct cmos_rtc rtc;
	struct exit_port debug_exit;
	struct exit_port kvmini_exit;
	struct machine_pci pci;
	struct boot_entry entry;
	/* The kernel and initrd loader (not --kernel-load map); kvmini sets
	 * its thread_init to load the loader's seccomp filter. */
	struct lazy_load loader;
	bool load_lazily; /* machine_run() starts the loader */
	void (*guest_ready)(void *opaque);
	void *guest_ready_opaque;
	bool devices_ready;
};

/* The largest --cpus this build accepts on any host (the MP table's limit). */
unsigned int machine_max_cpus(void);

/* Build the whole machine; on failure @err names what failed. */
int machine_create(struct machine *m, const struct machine_config *cfg, struct error *err);

/* Run until the guest stops; returns kvmini's exit status. */
int machine_run(struct machine *m, struct error *err);

void machine_destroy(struct machine *m);

/* Give every vCPU of @vm its normalized CPUID (also used by the probe VM). */
int machine_setup_cpuid(struct vm *vm, struct error *err);

#endif
