/* SPDX-License-Identifier: MIT */
/* A Multiboot v1 test kernel that triple-faults: no IDT, then #UD. */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000000

	.section .text
	.code32
	.globl _start
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
_start:
	lidt empty_idt
	ud2

	.section .rodata
	.align 8
empty_idt:
	.word 0
	.long 0
	.section .note.GNU-stack, "", @progbits
