/* SPDX-License-Identifier: MIT */
/*
 * Seccomp allow-list filters, one per thread role. Once the VM is set up,
 * every thread loads the filter of its role after its own setup. A filter
 * binds the thread that loads it and every thread it creates afterwards, and
 * filters stack: so the main thread loads its own last, once it has created
 * all the others.
 *
 * A forbidden system call stops the whole process: the SIGSYS handler writes
 * one line, "kvmini: seccomp: <role> thread made a forbidden system call
 * <name> (<nr>); stopping", runs the on_trap hook (the CLI puts the terminal
 * back there) and kvmini dies of SIGSYS.
 */
#ifndef KVMINI_SANDBOX_SECCOMP_H
#define KVMINI_SANDBOX_SECCOMP_H

#include "err.h"

enum seccomp_role {
	SECCOMP_ROLE_MAIN, /* waits for the VM to stop, writes reports, tears down */
	SECCOMP_ROLE_VCPU, /* KVM_RUN and the exits it hands to the device models */
	SECCOMP_ROLE_IO, /* an event loop serving virtio devices */
	SECCOMP_ROLE_CONSOLE, /* host input into the UART or virtio-console */
	SECCOMP_ROLE_LOADER, /* fills guest RAM from the boot files (lazy_load.h) */
	SECCOMP_NR_ROLES,
};

/* SECCOMP_ROLE_MAIN writes the --stats=FILE report (create, rename, unlink). */
#define SECCOMP_MAIN_STATS_FILE (1u << 0)

/*
 * Once per process, before any thread starts: install the SIGSYS handler,
 * resolve the system call names it prints, and have glibc load now what it
 * would otherwise open on first use (the time zone). @on_trap (may be NULL)
 * must be async-signal-safe; it runs just before the process dies.
 */
int seccomp_prepare(void (*on_trap)(void), struct error *err);

/*
 * Build @role's filter (@flags: SECCOMP_MAIN_*) and load it on the calling
 * thread. Ioctls are allowed by request number; mmap and mprotect never
 * with PROT_EXEC; signals only to kvmini itself.
 */
int seccomp_install(enum seccomp_role role, unsigned int flags, struct error *err);

/* "main", "vCPU", "I/O", "console", "loader": as the trap message names the role. */
const char *seccomp_role_name(enum seccomp_role role);

#endif
