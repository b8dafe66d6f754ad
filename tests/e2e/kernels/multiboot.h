/* SPDX-License-Identifier: MIT */
/* What the Multiboot v1 test kernels share: the header and the ports they use. */
#ifndef KVMINI_TEST_MULTIBOOT_H
#define KVMINI_TEST_MULTIBOOT_H

#define MB_MAGIC 0x1badb002
#define MB_BOOT_MAGIC 0x2badb002 /* in %eax at _start */
#define MB_PAGE_ALIGN 0x1 /* modules on page boundaries */
#define MB_MEMORY_INFO 0x2 /* memory fields and map in the info structure */
#define COM1 0x3f8
#define DEBUG_EXIT 0xf4

/* The start of .text: the 32-bit header the loader looks for; _start follows.
 * Assembler, not C: clang-format would split ".section .text". */
/* clang-format off */
#define MULTIBOOT_HEADER(flags) \
	.section .text; .code32; .globl _start; .align 4; \
	.long MB_MAGIC; .long (flags); .long -(MB_MAGIC + (flags))
/* clang-format on */

#endif
