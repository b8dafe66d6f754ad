/* SPDX-License-Identifier: MIT */
/*
 * A Multiboot v1 test kernel for exit statistics: its command line is a
 * decimal count N, optionally followed by " hang". It writes N single bytes
 * to port 0x80 (one OUT, so one VM exit, each), then either exits through
 * isa-debug-exit with 0 (kvmini exits 1) or, with "hang", halts forever
 * with interrupts off so the host can look at the live VM.
 */
#include "multiboot.h"

#define COUNT_PORT 0x80

	MULTIBOOT_HEADER(MB_PAGE_ALIGN | MB_MEMORY_INFO)
_start:
	cmp $MB_BOOT_MAGIC, %eax
	jne fail
	testl $(1 << 2), (%ebx)		/* command line present? */
	jz fail
	mov 16(%ebx), %esi
	xor %ecx, %ecx			/* N */
1:	movzbl (%esi), %eax
	sub $'0', %eax
	cmp $9, %eax
	ja 2f
	imul $10, %ecx, %ecx
	add %eax, %ecx
	inc %esi
	jmp 1b
2:	mov $COUNT_PORT, %dx
	test %ecx, %ecx
	jz 4f
3:	out %al, %dx
	dec %ecx
	jnz 3b
4:	cmpb $' ', (%esi)
	jne 5f
	cmpb $'h', 1(%esi)
	je hang
5:	xor %eax, %eax
	jmp leave
fail:
	mov $0x20, %eax			/* exit status 65 */
leave:
	mov $DEBUG_EXIT, %dx
	out %eax, %dx
hang:
	cli
6:	hlt
	jmp 6b
	.section .note.GNU-stack, "", @progbits
