/* SPDX-License-Identifier: MIT */
/*
 * The probe guest (see probe.h). Position-independent 64-bit code, copied to
 * LAYOUT_PROBE_CODE and entered at CPL0 in long mode. Results leave through
 * 32-bit OUTs to the probe ports.
 */
#include "probe.h"

	.section .rodata.probe_guest, "a"
	.code64
	.globl probe_guest_start, probe_guest_end
	.globl probe_user, probe_syscall, probe_gp, probe_other

/* rax = TSC */
.macro READ_TSC
	rdtsc
	shl $32, %rdx
	or %rdx, %rax
.endm

probe_guest_start:
	READ_TSC
	mov %rax, %r8
	mov $PROBE_LOOPS, %ecx
1:	dec %ecx
	jnz 1b
	READ_TSC
	sub %r8, %rax
	mov $PROBE_PORT_CPL0_CYCLES, %dx
	out %eax, %dx

	/* Drop to CPL3 through an interrupt return frame. */
	pushq $PROBE_SEL_USER_DS
	pushq $PROBE_USER_STACK
	pushq $0x2
	pushq $PROBE_SEL_USER_CS
	lea probe_user(%rip), %rax
	push %rax
	iretq

probe_user:
	READ_TSC
	mov %rax, %r8
	mov $PROBE_LOOPS, %ecx
2:	dec %ecx
	jnz 2b
	READ_TSC
	sub %r8, %rax
	mov %rax, %r9
	syscall
	ud2

/* LSTAR: should run at CPL0; at CPL3 the first OUT takes #GP instead. */
probe_syscall:
	mov %r9, %rax
	mov $PROBE_PORT_CPL3_CYCLES, %dx
	out %eax, %dx
	mov %cs, %ax
	movzwl %ax, %eax
	mov $PROBE_PORT_SYSCALL_CS, %dx
	out %eax, %dx
	mov $PROBE_PORT_DONE, %dx
	out %eax, %dx
	ud2

/* #GP: frame is error code, RIP, CS, RFLAGS, RSP, SS. */
probe_gp:
	mov %r9, %rax
	mov $PROBE_PORT_CPL3_CYCLES, %dx
	out %eax, %dx
	mov 16(%rsp), %rax
	mov $PROBE_PORT_GP_CS, %dx
	out %eax, %dx
	mov $PROBE_PORT_DONE, %dx
	out %eax, %dx
	ud2

probe_other:
	mov $PROBE_PORT_EXCEPTION, %dx
	out %eax, %dx
	mov $PROBE_PORT_DONE, %dx
	out %eax, %dx
	ud2
probe_guest_end:

	.section .note.GNU-stack, "", @progbits
