// SPDX-License-Identifier: MIT
/* What a vCPU thread does with each KVM exit. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm.h"

void vcpu_describe_rip(struct vcpu *vcpu, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, len, "RIP unknown (%s)", strerror(errno));
		return;
	}
	snprintf(buf, len, "RIP 0x%llx (CS 0x%x, CPL %u, CR0 0x%llx)", (unsigned long long)regs.rip,
		 sregs.cs.selector, sregs.cs.dpl, (unsigned long long)sregs.cr0);
}

/* "0f 01 ca" for the instruction bytes KVM reported, if it did. */
static void insn_bytes(const struct kvm_run *run, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION ||
	    !(run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
		return;
	for (unsigned int i = 0; i < run->emulation_failure.insn_size && i < 15; i++)
		off += snprintf(buf + off, len - off, "%s%02x", i ? " " : "",
				run->emulation_failure.insn_bytes[i]);
}

static const char *internal_suberror(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception during exception delivery";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected hardware exit";
	default:
		return "internal error";
	}
}

static bool handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	const struct bus_range *r = NULL;

	/* KVM checked data_offset and count against the run page it owns. */
	for (uint32_t i = 0; i < run->io.count; i++)
		r = bus_dispatch(&vcpu->vm->pio, run->io.port, data + (size_t)i * run->io.size,
				 run->io.size, out);
	vcpu->exit_dev = r ? r->name : NULL;
	return true;
}

static bool handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : 8;
	const struct bus_range *r;

	r = bus_dispatch(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			 run->mmio.is_write);
	vcpu->exit_dev = r ? r->name : NULL;
	return true;
}

static bool handle_system_event(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vm, VM_STOP_POWEROFF, 0, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vm, VM_STOP_RESET, 0, "guest reset");
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vm_request_stop(vm, VM_STOP_GUEST_CRASH, 0, "guest crashed (KVM crash event)");
		break;
	default:
		vm_request_stop(vm, VM_STOP_GUEST_CRASH, 0, "unknown KVM system event %u",
				vcpu->run->system_event.type);
		break;
	}
	return false;
}

bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;
	char where[160], bytes[64];
	const char *name;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_io(vcpu);
	case KVM_EXIT_MMIO:
		return handle_mmio(vcpu);
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		return handle_system_event(vcpu);
	case KVM_EXIT_SHUTDOWN:
		vcpu_describe_rip(vcpu, where, sizeof(where));
		vm_request_stop(vm, VM_STOP_TRIPLE_FAULT, 0,
				"guest triple fault (KVM_EXIT_SHUTDOWN) on vCPU %u at %s", vcpu->id,
				where);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_describe_rip(vcpu, where, sizeof(where));
		insn_bytes(run, bytes, sizeof(bytes));
		vm_request_stop(
			vm, VM_STOP_GUEST_CRASH, 0,
			"host KVM cannot run this guest: KVM_EXIT_INTERNAL_ERROR (%s) on vCPU %u at %s%s%s",
			internal_suberror(run->internal.suberror), vcpu->id, where,
			bytes[0] ? ", instruction bytes " : "", bytes);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_describe_rip(vcpu, where, sizeof(where));
		vm_request_stop(
			vm, VM_STOP_GUEST_CRASH, 0,
			"host KVM cannot run this guest: KVM_EXIT_FAIL_ENTRY (hardware reason 0x%llx) on vCPU %u at %s",
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason, vcpu->id,
			where);
		return false;
	default:
		vcpu_describe_rip(vcpu, where, sizeof(where));
		name = exit_reason_name(run->exit_reason);
		vm_request_stop(
			vm, VM_STOP_GUEST_CRASH, 0, "unexpected KVM exit %s (%u) on vCPU %u at %s",
			name ? name : "of unknown reason", run->exit_reason, vcpu->id, where);
		return false;
	}
}

void vcpu_record_exit(struct vcpu *vcpu, uint64_t ns)
{
	const struct kvm_run *run = vcpu->run;

	/* handle_io/handle_mmio left the claiming device in exit_dev. */
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit_stats_record_pio(vcpu->stats, run->io.port,
				      run->io.direction == KVM_EXIT_IO_OUT, vcpu->exit_dev, ns);
		break;
	case KVM_EXIT_MMIO:
		exit_stats_record_mmio(vcpu->stats, run->mmio.phys_addr, run->mmio.is_write,
				       vcpu->exit_dev, ns);
		break;
	default:
		exit_stats_record_exit(vcpu->stats, run->exit_reason, ns);
		break;
	}
}
