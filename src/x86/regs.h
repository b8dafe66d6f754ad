/* SPDX-License-Identifier: MIT */
/*
 * The boot vCPU's initial state for each boot_mode, the GDT and identity page
 * tables it points to, and the per-vCPU MSR, FPU and LAPIC setup every vCPU
 * gets. The pure parts (table contents, segment registers) are separate from
 * the ioctls so unit tests can check them without KVM.
 */
#ifndef KVMINI_X86_REGS_H
#define KVMINI_X86_REGS_H

#include <linux/kvm.h>
#include <stdint.h>

#include "boot.h"

struct guest_mem;
struct error;

/* GDT selectors, as the Linux 64-bit boot protocol requires for CS and DS. */
#define BOOT_GDT_CODE64 0x10
#define BOOT_GDT_DATA 0x18
#define BOOT_GDT_CODE32 0x20
#define BOOT_GDT_TSS 0x28
#define BOOT_GDT_ENTRIES 6
#define BOOT_STACK_TOP 0x6000ULL

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

/*
 * A segment descriptor: @flags holds the access byte (bits 0-7) and the
 * G/D/L/AVL nibble (bits 12-15).
 */
uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);

/* Write the boot GDT and the 4 GiB identity map (2 MiB pages). */
int x86_write_boot_tables(const struct guest_mem *mem);

/* Segment and control registers for @mode, on top of KVM's reset values. */
void x86_boot_sregs(enum boot_mode mode, struct kvm_sregs *sregs);

/* General registers for @entry. */
void x86_boot_regs(const struct boot_entry *entry, struct kvm_regs *regs);

/* Apply the boot state to the boot vCPU. */
int x86_vcpu_set_boot_state(int vcpu_fd, const struct boot_entry *entry, struct error *err);

/* MSRs, FPU and LAPIC LINT0/LINT1 wiring for any vCPU. */
int x86_vcpu_init(int vcpu_fd, unsigned int id, struct error *err);

#endif
