// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_pci.h"
#include "pci/msix.h"

#define NR_VECTORS 70 /* the PBA spans two qwords */
#define BAR_SIZE 0x4000
#define TABLE_OFF 0x0
#define PBA_OFF 0x2000
#define SLOT 1

struct route {
	uint64_t addr;
	uint32_t data;
	bool masked;
	unsigned int calls;
};

struct rec {
	struct route route[NR_VECTORS];
	unsigned int route_calls;
	unsigned int fired[NR_VECTORS];
	unsigned int fire_calls;
	struct msix *m; /* to see whether fire runs under its lock */
	unsigned int fired_unlocked;
};

struct fixture {
	struct pci_bus bus;
	struct pci_device dev;
	struct msix m;
	struct rec rec;
};

static void route_changed(void *opaque, unsigned int vector, uint64_t addr, uint32_t data,
			  bool masked)
{
	struct rec *r = opaque;

	assert_true(vector < NR_VECTORS);
	r->route[vector].addr = addr;
	r->route[vector].data = data;
	r->route[vector].masked = masked;
	r->route[vector].calls++;
	r->route_calls++;
}

static void fire(void *opaque, unsigned int vector)
{
	struct rec *r = opaque;

	assert_true(vector < NR_VECTORS);
	r->fired[vector]++;
	r->fire_calls++;
	/* Delivery must not race a mask: it happens under the msix lock. */
	if (r->m && pthread_mutex_trylock(&r->m->lock) == 0) {
		pthread_mutex_unlock(&r->m->lock);
		r->fired_unlocked++;
	}
}

static const struct msix_ops ops = { .route_changed = route_changed, .fire = fire };

static void bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
	(void)is_write;
}

static void cfg_written(struct pci_device *dev, uint32_t offset, uint32_t len)
{
	struct fixture *f = dev->opaque;

	msix_cfg_written(&f->m, offset, len);
}

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct irq_line none = { 0 };

	assert_non_null(f);
	pci_bus_init(&f->bus, 0xc0000000, 0x10000000, 0, 0, &none);
	pci_device_init(&f->dev, "msix", 0x1af4, 0x1041, 0x020000, 0x1af4, 1, 1);
	f->dev.cfg_written = cfg_written;
	f->dev.opaque = f;
	f->rec.m = &f->m;
	assert_int_equal(pci_device_add_bar(&f->dev, 0, BAR_SIZE, false, bar_io, f), 0);
	assert_int_equal(
		msix_init(&f->m, &f->dev, NR_VECTORS, 0, TABLE_OFF, PBA_OFF, &ops, &f->rec), 0);
	assert_int_equal(pci_bus_add_device(&f->bus, &f->dev), 0);
	assert_int_equal(f->dev.slot, SLOT);
	return f;
}

static void fixture_free(struct fixture *f)
{
	msix_free(&f->m);
	pci_bus_free(&f->bus);
	free(f);
}

/* Configuration writes the way the guest makes them: 0xCF8/0xCFC. */
static void cfg_write16(struct fixture *f, unsigned int reg, uint16_t v)
{
	guest_cfg_write(&f->bus, SLOT, reg, v, 2);
}

static uint16_t control(struct fixture *f)
{
	return pci_cfg_read(&f->dev, f->m.cap + 2, 2);
}

static void set_control(struct fixture *f, uint16_t v)
{
	cfg_write16(f, f->m.cap + 2, v);
}

/* The table and the PBA as bus_io_fns, the way a BAR's handler calls them. */
static void table_io(void *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	msix_table_io(m, off, data, len, is_write);
}

static void pba_io(void *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	msix_pba_io(m, off, data, len, is_write);
}

static void table_write32(struct fixture *f, uint64_t off, uint32_t v)
{
	io_write(table_io, &f->m, off, v, 4);
}

static uint64_t table_read(struct fixture *f, uint64_t off, uint32_t len)
{
	return io_read(table_io, &f->m, off, len);
}

static uint64_t pba_read(struct fixture *f, uint64_t off, uint32_t len)
{
	return io_read(pba_io, &f->m, off, len);
}

/* Program vector @v with an address and data, and set its mask bit. */
static void program(struct fixture *f, unsigned int v, bool masked)
{
	table_write32(f, v * 16, 0xfee00000 + v * 0x1000);
	table_write32(f, v * 16 + 4, 0);
	table_write32(f, v * 16 + 8, 0x40 + v);
	table_write32(f, v * 16 + 12, masked);
}

static void test_capability(void **state)
{
	struct fixture *f = fixture_new();
	unsigned int cap = f->dev.cfg[PCI_CAPABILITY_LIST];

	(void)state;
	assert_int_equal(cap, f->m.cap);
	assert_int_equal(f->dev.cfg[cap], PCI_CAP_ID_MSIX);
	assert_int_equal(f->dev.cfg[cap + 1], 0);
	assert_int_equal(control(f), NR_VECTORS - 1);
	assert_int_equal(pci_cfg_read(&f->dev, cap + 4, 4), TABLE_OFF | 0);
	assert_int_equal(pci_cfg_read(&f->dev, cap + 8, 4), PBA_OFF | 0);
	assert_false(msix_enabled(&f->m));
	/* Every vector starts masked. */
	for (unsigned int v = 0; v < NR_VECTORS; v++)
		assert_int_equal(table_read(f, v * 16 + 12, 4), 1);

	/* Only Enable and Function Mask are writable; the rest is read-only. */
	set_control(f, 0xffff);
	assert_int_equal(control(f), 0xc000 | (NR_VECTORS - 1));
	cfg_write16(f, cap + 4, 0xffff);
	cfg_write16(f, cap + 8, 0xffff);
	assert_int_equal(pci_cfg_read(&f->dev, cap + 4, 4), TABLE_OFF);
	assert_int_equal(pci_cfg_read(&f->dev, cap + 8, 4), PBA_OFF);
	assert_true(msix_enabled(&f->m));
	set_control(f, 0);
	assert_false(msix_enabled(&f->m));
	assert_int_equal(msix_table_size(NR_VECTORS), NR_VECTORS * 16);
	assert_int_equal(msix_pba_size(NR_VECTORS), 16);
	assert_int_equal(msix_pba_size(64), 8);
	assert_int_equal(msix_pba_size(1), 8);
	fixture_free(f);
}

static void test_bad_init(void **state)
{
	struct pci_device dev;
	struct msix m;
	struct rec rec;
	static const struct msix_ops no_fire = { .route_changed = route_changed };
	static const uint8_t body[180];

	(void)state;
	pci_device_init(&dev, "bad", 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x1000, false, bar_io, NULL), 0);
	assert_int_equal(pci_device_add_bar(&dev, 1, 0x1000, true, bar_io, NULL), 0);
	assert_int_equal(msix_init(&m, &dev, 0, 0, 0, 0x800, &ops, &rec), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, MSIX_MAX_VECTORS + 1, 3, 0, 0x10000, &ops, &rec),
			 -EINVAL);
	assert_int_equal(msix_init(&m, &dev, 4, 6, 0, 0x800, &ops, &rec), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, 4, 0, 4, 0x800, &ops, &rec), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, 4, 0, 0, 0x801, &ops, &rec), -EINVAL);
	/* Table and PBA overlap. */
	assert_int_equal(msix_init(&m, &dev, 4, 0, 0, 0x38, &ops, &rec), -EINVAL);
	/* The PBA runs past the 4 KiB BAR; the table alone does too. */
	assert_int_equal(msix_init(&m, &dev, 4, 0, 0, 0x1000, &ops, &rec), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, 129, 0, 0x800, 0, &ops, &rec), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, 128, 0, 0x800, 0, &ops, &rec), 0);
	msix_free(&m);
	pci_device_init(&dev, "bad", 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_device_add_bar(&dev, 0, 0x1000, false, bar_io, NULL), 0);
	assert_int_equal(pci_device_add_bar(&dev, 1, 0x1000, true, bar_io, NULL), 0);
	/* BAR 2 is the upper half of BAR 1. */
	assert_int_equal(msix_init(&m, &dev, 4, 2, 0, 0x800, &ops, &rec), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, 4, 0, 0, 0x800, NULL, &rec), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, 4, 0, 0, 0x800, &no_fire, &rec), -EINVAL);
	/* None of that added a capability. */
	assert_int_equal(dev.cfg[PCI_CAPABILITY_LIST], 0);

	/* No room left in configuration space. */
	assert_true(pci_device_add_capability(&dev, PCI_CAP_ID_VNDR, body, 180) > 0);
	assert_int_equal(msix_init(&m, &dev, 4, 0, 0, 0x800, &ops, &rec), -ENOSPC);
	assert_null(m.table);
	msix_free(&m);

	/* A BAR declared later is not checked; the BIR is recorded. */
	pci_device_init(&dev, "late", 1, 2, 0, 0, 0, 0);
	assert_int_equal(msix_init(&m, &dev, 2048, 3, 0x10000, 0x8, &ops, &rec), 0);
	assert_int_equal(pci_cfg_read(&dev, m.cap + 2, 2), 2047);
	assert_int_equal(pci_cfg_read(&dev, m.cap + 4, 4), 0x10003);
	assert_int_equal(pci_cfg_read(&dev, m.cap + 8, 4), 0x0b);
	msix_free(&m);
}

static void test_table_rw(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	table_write32(f, 16, 0xfee01000);
	assert_int_equal(f->rec.route[1].calls, 1);
	assert_int_equal(f->rec.route[1].addr, 0xfee01000);
	assert_true(f->rec.route[1].masked); /* MSI-X is off */
	table_write32(f, 20, 0x1);
	table_write32(f, 24, 0x1234);
	assert_int_equal(f->rec.route[1].calls, 3);
	assert_int_equal(f->rec.route[1].addr, 0x1fee01000);
	assert_int_equal(f->rec.route[1].data, 0x1234);
	/* Rewriting the same value is no change. */
	table_write32(f, 24, 0x1234);
	assert_int_equal(f->rec.route[1].calls, 3);

	assert_int_equal(table_read(f, 16, 4), 0xfee01000);
	assert_int_equal(table_read(f, 16, 8), 0x1fee01000);
	assert_int_equal(table_read(f, 24, 8), 0x100001234);

	/* One qword write is one route change. */
	uint8_t q[8] = { 0x00, 0x20, 0xe0, 0xfe, 0x02, 0, 0, 0 };

	msix_table_io(&f->m, 16, q, 8, true);
	assert_int_equal(f->rec.route[1].calls, 4);
	assert_int_equal(f->rec.route[1].addr, 0x2fee02000);
	/* Reserved Vector Control bits are dropped. */
	table_write32(f, 28, 0xfffffffe);
	assert_int_equal(table_read(f, 28, 4), 0);
	table_write32(f, 28, 0xffffffff);
	assert_int_equal(table_read(f, 28, 4), 1);
	/* The last entry works; other vectors were never reported. */
	program(f, NR_VECTORS - 1, true);
	assert_int_equal(table_read(f, (NR_VECTORS - 1) * 16 + 8, 4), 0x40 + NR_VECTORS - 1);
	assert_int_equal(f->rec.route[0].calls, 0);
	assert_int_equal(f->rec.fire_calls, 0);
	fixture_free(f);
}

static void test_bad_accesses(void **state)
{
	struct fixture *f = fixture_new();
	uint8_t d[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint32_t end = NR_VECTORS * 16;

	(void)state;
	program(f, 0, false);
	f->rec.route_calls = 0;
	/* Byte, word, unaligned, past the end: ignored, read 0. */
	msix_table_io(&f->m, 0, d, 1, true);
	msix_table_io(&f->m, 0, d, 2, true);
	msix_table_io(&f->m, 2, d, 4, true);
	msix_table_io(&f->m, 4, d, 8, true);
	msix_table_io(&f->m, end, d, 4, true);
	msix_table_io(&f->m, end - 4, d, 8, true);
	msix_table_io(&f->m, UINT64_MAX - 3, d, 4, true);
	msix_table_io(&f->m, 0, d, 3, true);
	assert_int_equal(f->rec.route_calls, 0);
	assert_int_equal(table_read(f, 0, 4), 0xfee00000);
	assert_int_equal(table_read(f, 8, 4), 0x40);
	assert_int_equal(table_read(f, 0, 1), 0);
	assert_int_equal(table_read(f, 0, 2), 0);
	assert_int_equal(table_read(f, 2, 4), 0);
	assert_int_equal(table_read(f, 4, 8), 0);
	assert_int_equal(table_read(f, end, 4), 0);
	assert_int_equal(table_read(f, end - 4, 8), 0);
	assert_int_equal(pba_read(f, 16, 4), 0);
	assert_int_equal(pba_read(f, 1, 4), 0);
	assert_int_equal(pba_read(f, 0, 2), 0);
	fixture_free(f);
}

static void test_enable_and_function_mask(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	program(f, 0, false);
	program(f, 1, true);
	f->rec.route_calls = 0;
	memset(f->rec.route, 0, sizeof(f->rec.route));

	/* Enable: only the vector whose effective mask changed is reported. */
	set_control(f, 0x8000);
	assert_true(msix_enabled(&f->m));
	assert_int_equal(f->rec.route_calls, 1);
	assert_int_equal(f->rec.route[0].calls, 1);
	assert_false(f->rec.route[0].masked);
	assert_int_equal(f->rec.route[0].addr, 0xfee00000);
	assert_int_equal(f->rec.route[0].data, 0x40);

	/* Function mask masks it, clearing it unmasks it. */
	set_control(f, 0xc000);
	assert_int_equal(f->rec.route[0].calls, 2);
	assert_true(f->rec.route[0].masked);
	/* Unmasking vector 1 under the function mask changes nothing visible. */
	table_write32(f, 16 + 12, 0);
	assert_int_equal(f->rec.route[1].calls, 0);
	set_control(f, 0x8000);
	assert_false(f->rec.route[0].masked);
	assert_int_equal(f->rec.route[1].calls, 1);
	assert_false(f->rec.route[1].masked);
	assert_int_equal(f->rec.route_calls, 4);

	/* Writing the same control again, or other bytes: no calls. */
	set_control(f, 0x8000);
	cfg_write16(f, PCI_COMMAND, PCI_COMMAND_MASTER);
	assert_int_equal(f->rec.route_calls, 4);

	/* Disable masks both. */
	set_control(f, 0);
	assert_false(msix_enabled(&f->m));
	assert_true(f->rec.route[0].masked);
	assert_true(f->rec.route[1].masked);
	assert_int_equal(f->rec.route_calls, 6);
	assert_int_equal(f->rec.fire_calls, 0);
	fixture_free(f);
}

static void test_pending_and_unmask(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	program(f, 0, true);
	program(f, 65, false);
	set_control(f, 0x8000);

	/* Unmasked vector: delivered at once. */
	assert_int_equal(msix_notify(&f->m, 65), MSIX_FIRED);
	assert_int_equal(f->rec.fired[65], 1);
	assert_int_equal(pba_read(f, 8, 8), 0);

	/* Masked vector: pending, delivered on unmask. */
	assert_int_not_equal(msix_notify(&f->m, 0), MSIX_FIRED);
	assert_int_equal(f->rec.fired[0], 0);
	assert_int_equal(pba_read(f, 0, 8), 1);
	assert_int_equal(pba_read(f, 0, 4), 1);
	table_write32(f, 12, 0);
	assert_int_equal(f->rec.fired[0], 1);
	assert_int_equal(pba_read(f, 0, 8), 0);
	/* Unmasking again (already unmasked) fires nothing. */
	table_write32(f, 12, 0);
	assert_int_equal(f->rec.fired[0], 1);

	/* Function mask: pending on every vector notified, all fire on clear. */
	set_control(f, 0xc000);
	assert_int_not_equal(msix_notify(&f->m, 0), MSIX_FIRED);
	assert_int_not_equal(msix_notify(&f->m, 65), MSIX_FIRED);
	assert_int_not_equal(msix_notify(&f->m, 65), MSIX_FIRED);
	assert_int_equal(pba_read(f, 0, 8), 1);
	assert_int_equal(pba_read(f, 8, 8), 2); /* bit 65 */
	assert_int_equal(pba_read(f, 8, 4), 2);
	assert_int_equal(pba_read(f, 12, 4), 0);
	set_control(f, 0x8000);
	assert_int_equal(f->rec.fired[0], 2);
	assert_int_equal(f->rec.fired[65], 2);
	assert_int_equal(pba_read(f, 8, 8), 0);

	/* Pending under the vector mask survives a function mask round trip. */
	table_write32(f, 12, 1);
	assert_int_not_equal(msix_notify(&f->m, 0), MSIX_FIRED);
	set_control(f, 0xc000);
	set_control(f, 0x8000);
	assert_int_equal(f->rec.fired[0], 2);
	assert_int_equal(pba_read(f, 0, 8), 1);
	table_write32(f, 12, 0);
	assert_int_equal(f->rec.fired[0], 3);
	assert_int_equal(f->rec.fired_unlocked, 0);

	/* Disabled: nothing fires and nothing becomes pending. */
	set_control(f, 0);
	assert_int_not_equal(msix_notify(&f->m, 0), MSIX_FIRED);
	assert_int_equal(pba_read(f, 0, 8), 0);
	set_control(f, 0x8000);
	assert_int_equal(f->rec.fired[0], 3);
	assert_int_equal(f->rec.fire_calls, 5);
	fixture_free(f);
}

static void test_pba_read_only(void **state)
{
	struct fixture *f = fixture_new();
	uint8_t ones[8];

	(void)state;
	memset(ones, 0xff, sizeof(ones));
	set_control(f, 0x8000);
	msix_pba_io(&f->m, 0, ones, 8, true);
	msix_pba_io(&f->m, 8, ones, 4, true);
	assert_int_equal(pba_read(f, 0, 8), 0);
	assert_int_equal(pba_read(f, 8, 8), 0);
	assert_int_not_equal(msix_notify(&f->m, 3), MSIX_FIRED);
	memset(ones, 0, sizeof(ones));
	msix_pba_io(&f->m, 0, ones, 8, true);
	assert_int_equal(pba_read(f, 0, 8), 8);
	/* Unmasking still fires: the write did not clear the pending bit. */
	table_write32(f, 3 * 16 + 12, 0);
	assert_int_equal(f->rec.fired[3], 1);
	fixture_free(f);
}

static void test_out_of_range_vector(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	for (unsigned int v = 0; v < NR_VECTORS; v++)
		table_write32(f, v * 16 + 12, 0);
	set_control(f, 0x8000);
	assert_int_not_equal(msix_notify(&f->m, NR_VECTORS), MSIX_FIRED);
	assert_int_not_equal(msix_notify(&f->m, MSIX_NO_VECTOR), MSIX_FIRED);
	assert_int_not_equal(msix_notify(&f->m, UINT32_MAX), MSIX_FIRED);
	assert_int_equal(f->rec.fire_calls, 0);
	assert_int_equal(pba_read(f, 0, 8), 0);
	assert_int_equal(pba_read(f, 8, 8), 0);
	assert_int_equal(msix_notify(&f->m, NR_VECTORS - 1), MSIX_FIRED);
	assert_int_equal(f->rec.fired[NR_VECTORS - 1], 1);
	fixture_free(f);
}

/* What the caller must do next: fire, nothing, or fall back to INTx. */
static void test_notify_result(void **state)
{
	struct fixture *f = fixture_new();

	(void)state;
	table_write32(f, 12, 0); /* vector 0 unmasked */
	assert_int_equal(msix_notify(&f->m, 0), MSIX_DISABLED);
	assert_int_equal(msix_notify(&f->m, MSIX_NO_VECTOR), MSIX_DISABLED);
	set_control(f, 0x8000);
	assert_int_equal(msix_notify(&f->m, 0), MSIX_FIRED);
	assert_int_equal(msix_notify(&f->m, 1), MSIX_PENDING);
	assert_int_equal(msix_notify(&f->m, MSIX_NO_VECTOR), MSIX_NO_VECTOR_SET);
	set_control(f, 0);
	assert_int_equal(msix_notify(&f->m, 0), MSIX_DISABLED);
	assert_int_equal(f->rec.fire_calls, 1);
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_result),
		cmocka_unit_test(test_capability),
		cmocka_unit_test(test_bad_init),
		cmocka_unit_test(test_table_rw),
		cmocka_unit_test(test_bad_accesses),
		cmocka_unit_test(test_enable_and_function_mask),
		cmocka_unit_test(test_pending_and_unmask),
		cmocka_unit_test(test_pba_read_only),
		cmocka_unit_test(test_out_of_range_vector),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
