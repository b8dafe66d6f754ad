// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest_mem.h"
#include "layout.h"
#include "regs.h"

#define RAM (16ULL << 20)

/* Walk the identity map the way the MMU would, with 2 MiB pages. */
static uint64_t translate(const struct guest_mem *mem, uint64_t va)
{
	uint64_t pml4e, pdpte, pde;

	assert_int_equal(guest_mem_read(mem, LAYOUT_PML4 + ((va >> 39) & 511) * 8, &pml4e, 8), 0);
	assert_true(pml4e & 1);
	assert_int_equal(
		guest_mem_read(mem, (pml4e & ~0xfffULL) + ((va >> 30) & 511) * 8, &pdpte, 8), 0);
	assert_true(pdpte & 1);
	assert_int_equal(guest_mem_read(mem, (pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8, &pde, 8),
			 0);
	assert_true(pde & 1);
	assert_true(pde & (1 << 7)); /* 2 MiB page */
	assert_true(pde & (1 << 1)); /* writable */
	return (pde & ~0x1fffffULL) | (va & 0x1fffff);
}

static void test_identity_map_covers_4g(void **state)
{
	void *buf = calloc(1, RAM);
	struct guest_mem mem;

	guest_mem_init_buffer(&mem, buf, RAM);
	assert_int_equal(x86_write_boot_tables(&mem), 0);
	for (uint64_t va = 0; va < LAYOUT_4G; va += 0x1234567ULL)
		assert_int_equal(translate(&mem, va), va);
	assert_int_equal(translate(&mem, LAYOUT_4G - 1), LAYOUT_4G - 1);
	free(buf);
}

static void test_gdt_descriptors(void **state)
{
	void *buf = calloc(1, RAM);
	struct guest_mem mem;
	uint64_t gdt[BOOT_GDT_ENTRIES];

	guest_mem_init_buffer(&mem, buf, RAM);
	assert_int_equal(x86_write_boot_tables(&mem), 0);
	assert_int_equal(guest_mem_read(&mem, LAYOUT_BOOT_GDT, gdt, sizeof(gdt)), 0);
	assert_int_equal(gdt[0], 0);
	/* Linux's boot protocol: __BOOT_CS 0x10 (64-bit code), __BOOT_DS 0x18. */
	assert_int_equal(gdt[BOOT_GDT_CODE64 / 8], 0x00af9b000000ffffULL);
	assert_int_equal(gdt[BOOT_GDT_DATA / 8], 0x00cf93000000ffffULL);
	assert_int_equal(gdt[BOOT_GDT_CODE32 / 8], 0x00cf9b000000ffffULL);
	free(buf);
}

static void test_tables_need_ram(void **state)
{
	void *buf = calloc(1, 0x9000);
	struct guest_mem mem;

	/* RAM that ends before the page tables: refused, not written past. */
	guest_mem_init_buffer(&mem, buf, 0x9000);
	assert_int_not_equal(x86_write_boot_tables(&mem), 0);
	free(buf);
}

static void test_long_mode_sregs(void **state)
{
	struct kvm_sregs s;

	memset(&s, 0xaa, sizeof(s));
	x86_boot_sregs(BOOT_MODE_LONG64, &s);
	assert_int_equal(s.cs.selector, BOOT_GDT_CODE64);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.ds.selector, BOOT_GDT_DATA);
	assert_int_equal(s.ss.selector, BOOT_GDT_DATA);
	assert_int_equal(s.cr3, LAYOUT_PML4);
	assert_true(s.cr0 & 1);
	assert_true(s.cr0 & (1ULL << 31));
	assert_true(s.cr4 & (1 << 5));
	assert_int_equal(s.efer & 0x500, 0x500);
	assert_int_equal(s.gdt.base, LAYOUT_BOOT_GDT);
	assert_int_equal(s.tr.type, 11);
}

static void test_protected_mode_sregs(void **state)
{
	struct kvm_sregs s;

	memset(&s, 0xaa, sizeof(s));
	x86_boot_sregs(BOOT_MODE_PROT32, &s);
	assert_int_equal(s.cs.selector, BOOT_GDT_CODE32);
	assert_int_equal(s.cs.l, 0);
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.limit, 0xffffffff);
	assert_int_equal(s.cr0 & (1ULL << 31), 0); /* paging off */
	assert_int_equal(s.cr0 & 1, 1);
	assert_int_equal(s.efer, 0);
	assert_int_equal(s.cr4, 0);
}

static void test_boot_regs(void **state)
{
	struct boot_entry e = {
		.mode = BOOT_MODE_PROT32,
		.rip = 0x101000,
		.rbx = 0x6000,
		.rax = 0x2badb002,
	};
	struct kvm_regs r;

	memset(&r, 0xaa, sizeof(r));
	x86_boot_regs(&e, &r);
	assert_int_equal(r.rip, 0x101000);
	assert_int_equal(r.rbx, 0x6000);
	assert_int_equal(r.rax, 0x2badb002);
	assert_int_equal(r.rsi, 0);
	assert_int_equal(r.rflags, 2);
	assert_int_equal(r.rcx, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_map_covers_4g),
		cmocka_unit_test(test_gdt_descriptors),
		cmocka_unit_test(test_tables_need_ram),
		cmocka_unit_test(test_long_mode_sregs),
		cmocka_unit_test(test_protected_mode_sregs),
		cmocka_unit_test(test_boot_regs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
