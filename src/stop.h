/* SPDX-License-Identifier: MIT */
/*
 * How a VM ends. Devices (the i8042 reset line, the exit ports) and the vCPU
 * exit handlers ask the VM to stop through a vm_stop_hook; the VM records the
 * first request and turns it into kvmini's exit status.
 */
#ifndef KVMINI_STOP_H
#define KVMINI_STOP_H

enum vm_stop_reason {
	VM_STOP_NONE = 0,
	VM_STOP_RESET, /* guest asked for a reset (i8042 0xFE, KVM reset event) */
	VM_STOP_POWEROFF, /* KVM shutdown system event */
	VM_STOP_EXIT_DEVICE, /* exit port written: status is the exit status */
	VM_STOP_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN */
	VM_STOP_GUEST_CRASH, /* KVM crash event, internal error, failed entry */
	VM_STOP_SIGNAL, /* SIGINT/SIGTERM/SIGHUP to kvmini, or Ctrl-A x */
	VM_STOP_ERROR, /* kvmini itself failed while running */
};

struct vm_stop_hook {
	void (*request)(void *opaque, enum vm_stop_reason reason, int status);
	void *opaque;
};

static inline void vm_stop_hook_fire(const struct vm_stop_hook *hook, enum vm_stop_reason reason,
				     int status)
{
	if (hook->request)
		hook->request(hook->opaque, reason, status);
}

/*
 * kvmini's own exit statuses (documented in the README). A guest command's
 * status (0-255) passes through unchanged; these mark kvmini's failures.
 */
#define KVMINI_EXIT_GUEST_FAILED 124 /* triple fault, KVM internal error, crash */
#define KVMINI_EXIT_ERROR 125 /* bad option, bad file, KVM setup failure */
#define KVMINI_EXIT_USAGE 2 /* unknown option or missing argument */

#endif
