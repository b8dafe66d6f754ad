// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "err.h"
#include "guest_mem.h"
#include "layout.h"
#include "regs.h"

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_PRESENT (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

#define MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MTRR_ENABLE (1ULL << 11)
#define MTRR_TYPE_WB 6ULL

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

int x86_write_boot_tables(const struct guest_mem *mem)
{
	uint64_t gdt[BOOT_GDT_ENTRIES] = {
		[BOOT_GDT_CODE64 / 8] = x86_gdt_entry(0xa09b, 0, 0xfffff),
		[BOOT_GDT_DATA / 8] = x86_gdt_entry(0xc093, 0, 0xfffff),
		[BOOT_GDT_CODE32 / 8] = x86_gdt_entry(0xc09b, 0, 0xfffff),
		[BOOT_GDT_TSS / 8] = x86_gdt_entry(0x008b, 0, 0x67),
	};
	uint64_t pml4e = LAYOUT_PDPT | PTE_PRESENT | PTE_RW;
	int ret;

	ret = guest_mem_write(mem, LAYOUT_BOOT_GDT, gdt, sizeof(gdt));
	if (ret)
		return ret;
	if (guest_mem_fill(mem, LAYOUT_PML4, 0, 0x1000) ||
	    guest_mem_write(mem, LAYOUT_PML4, &pml4e, sizeof(pml4e)) ||
	    guest_mem_fill(mem, LAYOUT_PDPT, 0, 0x1000))
		return -EFAULT;
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t pdpte = (LAYOUT_PD + i * 0x1000) | PTE_PRESENT | PTE_RW;
		uint64_t *pd = guest_mem_ptr(mem, LAYOUT_PD + i * 0x1000, 0x1000);

		if (!pd || guest_mem_write(mem, LAYOUT_PDPT + i * 8, &pdpte, sizeof(pdpte)))
			return -EFAULT;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = ((i << 30) | (j << 21)) | PTE_PRESENT | PTE_RW | PTE_PS;
	}
	return 0;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, uint8_t db, uint8_t l)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = db,
		.s = 1,
		.l = l,
		.g = 1,
	};
}

void x86_boot_sregs(enum boot_mode mode, struct kvm_sregs *sregs)
{
	struct kvm_segment data = flat_segment(BOOT_GDT_DATA, 3, 1, 0);

	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->gdt.base = LAYOUT_BOOT_GDT;
	sregs->gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->tr = (struct kvm_segment){
		.selector = BOOT_GDT_TSS,
		.limit = 0x67,
		.type = 11,
		.present = 1,
	};
	sregs->ldt = (struct kvm_segment){ .type = 2, .present = 1, .unusable = 1 };

	if (mode == BOOT_MODE_LONG64) {
		sregs->cs = flat_segment(BOOT_GDT_CODE64, 11, 0, 1);
		sregs->cr0 = CR0_PE | CR0_ET | CR0_PG;
		sregs->cr3 = LAYOUT_PML4;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
	} else {
		sregs->cs = flat_segment(BOOT_GDT_CODE32, 11, 1, 0);
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
	}
}

void x86_boot_regs(const struct boot_entry *entry, struct kvm_regs *regs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2;
	regs->rip = entry->rip;
	regs->rsi = entry->rsi;
	regs->rbx = entry->rbx;
	regs->rax = entry->rax;
	regs->rsp = BOOT_STACK_TOP;
}

int x86_vcpu_set_boot_state(int vcpu_fd, const struct boot_entry *entry, struct error *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return error_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	x86_boot_sregs(entry->mode, &sregs);
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return error_set(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	x86_boot_regs(entry, &regs);
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return error_set(err, -errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

static int set_msrs(int vcpu_fd, struct error *err)
{
	static const struct {
		uint32_t index;
		uint64_t value;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 },
		{ MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 },
		{ MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		/* Without this the guest sees all memory as uncached. */
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[N];
	} msrs;
	int ret;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = N;
	for (int i = 0; i < N; i++) {
		msrs.entries[i].index = boot_msrs[i].index;
		msrs.entries[i].data = boot_msrs[i].value;
	}
	ret = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
	if (ret < 0)
		return error_set(err, -errno, "KVM_SET_MSRS: %s", strerror(errno));
	if (ret != N)
		return error_set(err, -EINVAL, "KVM_SET_MSRS: host KVM refused MSR 0x%x",
				 boot_msrs[ret].index);
	return 0;
}

static void set_lvt_mode(struct kvm_lapic_state *lapic, unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, sizeof(v));
}

int x86_vcpu_init(int vcpu_fd, unsigned int id, struct error *err)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct kvm_lapic_state lapic;
	int ret;

	ret = set_msrs(vcpu_fd, err);
	if (ret)
		return error_prefix(err, "vCPU %u", id);
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return error_set(err, -errno, "vCPU %u: KVM_SET_FPU: %s", id, strerror(errno));
	/* The PIC reaches the CPU through LINT0 (ExtINT); NMIs through LINT1. */
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return error_set(err, -errno, "vCPU %u: KVM_GET_LAPIC: %s", id, strerror(errno));
	set_lvt_mode(&lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	set_lvt_mode(&lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return error_set(err, -errno, "vCPU %u: KVM_SET_LAPIC: %s", id, strerror(errno));
	return 0;
}
