/* SPDX-License-Identifier: MIT */
/* A Multiboot v1 test kernel that triple-faults: no IDT, then #UD. */
#include "multiboot.h"

	MULTIBOOT_HEADER(0)
_start:
	lidt empty_idt
	ud2

	.section .rodata
	.align 8
empty_idt:
	.word 0
	.long 0
	.section .note.GNU-stack, "", @progbits
