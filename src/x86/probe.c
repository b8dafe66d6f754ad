// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "layout.h"
#include "machine.h"
#include "probe.h"
#include "regs.h"

extern const uint8_t probe_guest_start[], probe_guest_end[];
extern const uint8_t probe_user[], probe_syscall[], probe_gp[], probe_other[];

#define EFER_SCE 1ULL
#define PTE_USER (1ULL << 2)
#define GP_VECTOR 13
#define PROBE_RAM (2ULL << 20)

static uint64_t probe_addr(const uint8_t *sym)
{
	return LAYOUT_PROBE_CODE + (uint64_t)(sym - probe_guest_start);
}

/* 64-bit interrupt gate to @handler in the kernel code segment. */
static void idt_gate(uint64_t gate[2], uint64_t handler)
{
	gate[0] = (handler & 0xffff) | ((uint64_t)PROBE_SEL_KERNEL_CS << 16) | (0x8eULL << 40) |
		  ((handler >> 16) & 0xffff) << 48;
	gate[1] = handler >> 32;
}

static int write_probe_memory(const struct guest_mem *mem)
{
	uint64_t idt[32][2], user_gdt[3], rsp0 = PROBE_KERNEL_STACK, pte;
	size_t code_len = (size_t)(probe_guest_end - probe_guest_start);

	if (x86_write_boot_tables(mem))
		return -EFAULT;
	/* User segments after the boot GDT's code, data, code32 and TSS slots. */
	user_gdt[0] = x86_gdt_entry(0xc0fb, 0, 0xfffff); /* 0x38: user code32 (unused) */
	user_gdt[1] = x86_gdt_entry(0xc0f3, 0, 0xfffff); /* 0x40: user data */
	user_gdt[2] = x86_gdt_entry(0xa0fb, 0, 0xfffff); /* 0x48: user code64 */
	if (guest_mem_write(mem, LAYOUT_BOOT_GDT + PROBE_SEL_USER_BASE, user_gdt, sizeof(user_gdt)))
		return -EFAULT;
	/* Let CPL3 use the first 2 MiB page: every level needs the user bit. */
	for (int i = 0; i < 3; i++) {
		static const uint64_t first_entry[] = { LAYOUT_PML4, LAYOUT_PDPT, LAYOUT_PD };

		if (guest_mem_read(mem, first_entry[i], &pte, 8))
			return -EFAULT;
		pte |= PTE_USER;
		if (guest_mem_write(mem, first_entry[i], &pte, 8))
			return -EFAULT;
	}
	for (int v = 0; v < 32; v++)
		idt_gate(idt[v], probe_addr(v == GP_VECTOR ? probe_gp : probe_other));
	if (guest_mem_write(mem, PROBE_IDT, idt, sizeof(idt)) ||
	    guest_mem_write(mem, PROBE_TSS + 4, &rsp0, sizeof(rsp0)) ||
	    guest_mem_write(mem, LAYOUT_PROBE_CODE, probe_guest_start, code_len))
		return -EFAULT;
	return 0;
}

static int set_probe_state(int fd, struct error *err)
{
	struct boot_entry entry = { .mode = BOOT_MODE_LONG64, .rip = LAYOUT_PROBE_CODE };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[3];
	} msrs = {
		.hdr.nmsrs = 3,
		.e = {
			{ .index = MSR_STAR,
			  .data = ((uint64_t)PROBE_SEL_USER_BASE << 48) |
				  ((uint64_t)PROBE_SEL_KERNEL_CS << 32) },
			{ .index = MSR_LSTAR, .data = probe_addr(probe_syscall) },
			{ .index = MSR_SYSCALL_MASK, .data = 0x200 },
		},
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return error_set(err, -errno, "probe: KVM_GET_SREGS: %s", strerror(errno));
	x86_boot_sregs(BOOT_MODE_LONG64, &sregs);
	sregs.efer |= EFER_SCE;
	sregs.gdt.limit = PROBE_SEL_USER_BASE + 3 * 8 - 1;
	sregs.idt.base = PROBE_IDT;
	sregs.idt.limit = 32 * 16 - 1;
	sregs.tr.base = PROBE_TSS;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return error_set(err, -errno, "probe: KVM_SET_SREGS: %s", strerror(errno));
	x86_boot_regs(&entry, &regs);
	regs.rsp = PROBE_KERNEL_STACK;
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return error_set(err, -errno, "probe: KVM_SET_REGS: %s", strerror(errno));
	if (ioctl(fd, KVM_SET_MSRS, &msrs) != 3)
		return error_set(err, -EINVAL, "probe: KVM_SET_MSRS failed");
	return 0;
}

static void alarm_handler(int sig)
{
	(void)sig;
}

/* Returns true when the probe is over. */
static bool probe_io(struct vcpu *vcpu, struct probe_result *res)
{
	struct kvm_run *run = vcpu->run;
	uint32_t v = 0;

	if (run->io.direction != KVM_EXIT_IO_OUT)
		return false;
	memcpy(&v, (uint8_t *)run + run->io.data_offset, run->io.size < 4 ? run->io.size : 4);
	switch (run->io.port) {
	case PROBE_PORT_CPL0_CYCLES:
		res->cpl0_cycles = v;
		return false;
	case PROBE_PORT_CPL3_CYCLES:
		res->cpl3_cycles = v;
		return false;
	case PROBE_PORT_SYSCALL_CS:
		res->syscall_cs = v & 0xffff;
		res->syscall_reached_cpl0 = (v & 3) == 0;
		return false;
	case PROBE_PORT_GP_CS:
		res->gp_cs = v & 0xffff;
		return false;
	case PROBE_PORT_EXCEPTION:
		res->unexpected_exception = true;
		return false;
	case PROBE_PORT_DONE:
		res->finished = true;
		return true;
	default:
		return false;
	}
}

static int run_probe(struct vm *vm, unsigned int timeout_sec, struct probe_result *res)
{
	struct vcpu *vcpu = &vm->vcpus[0];
	struct sigaction sa = { .sa_handler = alarm_handler }, old;
	timer_t timer;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
	struct itimerspec its = { .it_value = { .tv_sec = timeout_sec } };
	char where[160];

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) < 0)
		return -errno;
	timer_settime(timer, 0, &its, NULL);
	for (;;) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR) {
				res->timed_out = true;
				snprintf(res->failure, sizeof(res->failure),
					 "probe guest did not finish within %u s", timeout_sec);
				break;
			}
			snprintf(res->failure, sizeof(res->failure), "KVM_RUN: %s",
				 strerror(errno));
			break;
		}
		if (vcpu->run->exit_reason == KVM_EXIT_IO) {
			if (probe_io(vcpu, res))
				break;
			continue;
		}
		/* Anything else ends the probe; reuse the VM's exit descriptions. */
		vcpu_handle_exit(vcpu);
		if (vm->stop_msg[0])
			snprintf(res->failure, sizeof(res->failure), "%s", vm->stop_msg);
		else {
			vcpu_describe_rip(vcpu, where, sizeof(where));
			snprintf(res->failure, sizeof(res->failure), "unexpected exit %u at %s",
				 vcpu->run->exit_reason, where);
		}
		break;
	}
	timer_delete(timer);
	sigaction(SIGALRM, &old, NULL);
	return 0;
}

int x86_probe_run(const char *kvm_dev, unsigned int timeout_sec, struct probe_result *res,
		  struct error *err)
{
	struct vm vm;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = vm_open(&vm, kvm_dev, err);
	if (!ret)
		ret = vm_create(&vm, PROBE_RAM, err);
	if (!ret)
		ret = vm_create_vcpus(&vm, 1, err);
	if (!ret)
		ret = machine_setup_cpuid(&vm, err);
	if (!ret && write_probe_memory(&vm.mem))
		ret = error_set(err, -EFAULT, "probe: cannot write guest memory");
	if (!ret)
		ret = set_probe_state(vm.vcpus[0].fd, err);
	if (!ret)
		ret = run_probe(&vm, timeout_sec, res);
	/* The probe ran on this thread: nothing to kick or join. */
	atomic_store(&vm.stopping, true);
	vm_destroy(&vm);
	return ret;
}
