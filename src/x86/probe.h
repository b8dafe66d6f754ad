/* SPDX-License-Identifier: MIT */
/*
 * A tiny probe guest that shows whether this host's KVM can run an ordinary
 * OS: it times a loop at CPL0 and at CPL3 (an emulating KVM is far slower at
 * CPL0), then makes a SYSCALL from CPL3 and reports the CPL its handler runs
 * at. Constants are shared with probe_guest.S.
 */
#ifndef KVMINI_X86_PROBE_H
#define KVMINI_X86_PROBE_H

#define PROBE_LOOPS 20000
#define PROBE_PORT_CPL0_CYCLES 0x600
#define PROBE_PORT_CPL3_CYCLES 0x601
#define PROBE_PORT_SYSCALL_CS 0x602
#define PROBE_PORT_DONE 0x603
#define PROBE_PORT_GP_CS 0x604
#define PROBE_PORT_EXCEPTION 0x605

#define PROBE_SEL_KERNEL_CS 0x10
#define PROBE_SEL_USER_BASE 0x38 /* STAR[63:48]: SYSRET CS = +16, SS = +8 */
#define PROBE_SEL_USER_DS 0x43
#define PROBE_SEL_USER_CS 0x4b

#define PROBE_IDT 0x11000
#define PROBE_TSS 0x12000
#define PROBE_KERNEL_STACK 0x14000
#define PROBE_USER_STACK 0x16000

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

struct error;

struct probe_result {
	bool finished; /* the guest reached its last report */
	bool timed_out;
	uint64_t cpl0_cycles; /* TSC cycles for PROBE_LOOPS iterations */
	uint64_t cpl3_cycles;
	bool syscall_reached_cpl0;
	unsigned int syscall_cs; /* CS seen by the SYSCALL handler (0 if none) */
	unsigned int gp_cs; /* CS of code that took #GP (0 if none) */
	bool unexpected_exception;
	char failure[512]; /* KVM exit that ended the probe, if any */
};

/*
 * Run the probe in its own small VM on @kvm_dev, for at most @timeout_sec.
 * Returns 0 with @res filled (even when the guest failed: see res->failure),
 * or a negative errno when the VM could not be set up.
 */
int x86_probe_run(const char *kvm_dev, unsigned int timeout_sec, struct probe_result *res,
		  struct error *err);
#endif

#endif
