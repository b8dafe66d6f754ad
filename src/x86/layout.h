/* SPDX-License-Identifier: MIT */
/*
 * The guest-physical memory map of kvmini's x86 machine. Everything the VMM
 * places in low memory has a fixed home here, so loaders cannot collide.
 *
 *   0x00000000  real-mode IVT and BDA (left zero)
 *   0x00000500  boot GDT
 *   0x00006000  PVH start_info / Multiboot info (one page)
 *   0x00007000  zero page (struct boot_params)
 *   0x00008000  PVH memory map / Multiboot mmap and module list (one page)
 *   0x00009000  PML4, 0x0a000 PDPT, 0x0b000-0x0efff four page directories
 *               (identity map of the first 4 GiB with 2 MiB pages)
 *   0x00010000  probe guest code (kvmini check only)
 *   0x00020000  kernel command line (up to 64 KiB)
 *   0x00030000  Multiboot strings (module names, loader name)
 *   0x0009fc00  EBDA (1 KiB, reserved, left zero)
 *   0x000a0000  legacy VGA/ROM hole (reserved, not RAM in e820)
 *   0x000f0000  BIOS area: MP floating pointer and MP table (16 KiB; the
 *               whole 0xf0000-0xfffff is reserved in e820)
 *   0x00100000  kernels load at or above 1 MiB
 *   0xc0000000  32-bit hole for PCI MMIO, IOAPIC, LAPIC (RAM resumes at 4 GiB)
 */
#ifndef KVMINI_X86_LAYOUT_H
#define KVMINI_X86_LAYOUT_H

#include <stdint.h>

#define LAYOUT_BOOT_GDT 0x500ULL
#define LAYOUT_START_INFO 0x6000ULL
#define LAYOUT_ZERO_PAGE 0x7000ULL
#define LAYOUT_MEMMAP 0x8000ULL
#define LAYOUT_PML4 0x9000ULL
#define LAYOUT_PDPT 0xa000ULL
#define LAYOUT_PD 0xb000ULL /* four pages */
#define LAYOUT_PROBE_CODE 0x10000ULL
#define LAYOUT_CMDLINE 0x20000ULL
#define LAYOUT_CMDLINE_MAX 0x10000ULL
#define LAYOUT_MB_STRINGS 0x30000ULL
#define LAYOUT_MB_STRINGS_MAX 0x10000ULL
#define LAYOUT_EBDA 0x9fc00ULL
#define LAYOUT_LOW_RAM_END 0x9fc00ULL /* usable RAM below 640K ends here */
#define LAYOUT_MPTABLE 0xf0000ULL /* Linux scans 0xf0000-0xfffff for "_MP_" */
#define LAYOUT_HIGH_START 0x100000ULL /* 1 MiB */

#define LAYOUT_PCI_HOLE_START 0xc0000000ULL
/* Ports for PCI I/O BARs, clear of every legacy device (as on QEMU's PC). */
#define LAYOUT_PCI_IO_BASE 0xc000ULL
#define LAYOUT_PCI_IO_SIZE 0x4000ULL
#define LAYOUT_4G 0x100000000ULL
#define LAYOUT_IOAPIC_BASE 0xfec00000ULL
#define LAYOUT_LAPIC_BASE 0xfee00000ULL
/* KVM on Intel needs three pages for its real-mode TSS and identity map. */
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL
#define LAYOUT_KVM_TSS 0xfeffd000ULL

/* Smallest RAM kvmini accepts: room for low memory plus a small kernel. */
#define LAYOUT_MIN_RAM (2ULL << 20)

#define E820_RAM 1
#define E820_RESERVED 2

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define E820_MAX_ENTRIES 8

struct guest_mem;

/*
 * The machine's e820 map for @mem: low RAM up to the EBDA, the EBDA and BIOS
 * area reserved, RAM from 1 MiB to the hole, RAM above 4 GiB. Returns the
 * number of entries written (at most @max).
 */
int e820_build(const struct guest_mem *mem, struct e820_entry *out, int max);

#endif
