/* SPDX-License-Identifier: MIT */
/*
 * A Multiboot v1 test kernel: checks the boot magic and the info structure,
 * prints "multiboot: <command line> mods=<n> mmap=<ok|none>" on COM1, then
 * exits through isa-debug-exit with 3 (kvmini exits (3 << 1) | 1 = 7).
 */
#include "multiboot.h"

	MULTIBOOT_HEADER(MB_PAGE_ALIGN | MB_MEMORY_INFO)
_start:
	mov $stack_top, %esp
	cmp $MB_BOOT_MAGIC, %eax
	jne bad_magic
	mov %ebx, %edi			/* multiboot info */
	mov $msg_hello, %esi
	call puts
	testl $(1 << 2), (%edi)		/* command line present? */
	jz 1f
	mov 16(%edi), %esi
	call puts
1:	mov $msg_mods, %esi
	call puts
	xor %eax, %eax
	testl $(1 << 3), (%edi)
	jz 2f
	mov 20(%edi), %eax		/* mods_count */
2:	add $'0', %al
	mov $COM1, %dx
	out %al, %dx
	mov $msg_mmap, %esi
	call puts
	mov $msg_none, %esi
	testl $(1 << 6), (%edi)
	jz 3f
	cmpl $0, 44(%edi)		/* mmap_length */
	je 3f
	mov $msg_ok, %esi
3:	call puts
	mov $msg_nl, %esi
	call puts
	mov $3, %eax
	jmp leave

bad_magic:
	mov $0x20, %eax			/* exit status 65 */
leave:
	mov $DEBUG_EXIT, %dx
	out %eax, %dx
	cli
4:	hlt
	jmp 4b

/* Print the NUL-terminated string at %esi. */
puts:
	mov $COM1, %dx
5:	lodsb
	test %al, %al
	jz 6f
	out %al, %dx
	jmp 5b
6:	ret

	.section .rodata
msg_hello: .asciz "multiboot: "
msg_mods: .asciz " mods="
msg_mmap: .asciz " mmap="
msg_none: .asciz "none"
msg_ok: .asciz "ok"
msg_nl: .asciz "\n"

	.section .bss
	.align 16
	.skip 4096
stack_top:
	.section .note.GNU-stack, "", @progbits
