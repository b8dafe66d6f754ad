// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "exit_port.h"

struct recorder {
	int calls;
	enum vm_stop_reason reason;
	int status;
};

static void fake_stop(void *opaque, enum vm_stop_reason reason, int status)
{
	struct recorder *r = opaque;

	r->calls++;
	r->reason = reason;
	r->status = status;
}

static void make_port(struct exit_port *port, enum exit_port_kind kind, struct recorder *r)
{
	struct vm_stop_hook hook = { .request = fake_stop, .opaque = r };

	memset(r, 0, sizeof(*r));
	exit_port_init(port, kind, &hook);
}

static void write_value(struct exit_port *port, uint64_t offset, uint32_t value, uint32_t len)
{
	uint8_t data[4];

	for (int i = 0; i < 4; i++)
		data[i] = (uint8_t)(value >> (8 * i));
	exit_port_io(port, offset, data, len, true);
}

static void test_isa_debug_exit(void **state)
{
	struct exit_port port;
	struct recorder r;

	(void)state;
	make_port(&port, EXIT_PORT_ISA_DEBUG, &r);

	write_value(&port, 0, 0x00, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.reason, VM_STOP_EXIT_DEVICE);
	assert_int_equal(r.status, 1);

	write_value(&port, 0, 0x10, 1);
	assert_int_equal(r.status, 0x21);

	write_value(&port, 0, 0x0102, 2);
	assert_int_equal(r.status, 0x205);

	/* Only the low byte of a 1-byte write counts. */
	write_value(&port, 0, 0xffffff01, 1);
	assert_int_equal(r.status, 3);

	/* High bits may be dropped, but the low 8 bits match QEMU's exit status. */
	write_value(&port, 0, 0x12345678, 4);
	assert_true(r.status >= 0);
	assert_int_equal(r.status & 0xff, ((0x12345678ull << 1) | 1) & 0xff);
	write_value(&port, 0, 0xffffffff, 4);
	assert_true(r.status >= 0);
	assert_int_equal(r.status & 0xff, 0xff);
	assert_int_equal(r.calls, 6);
}

static void test_kvmini_exit(void **state)
{
	struct exit_port port;
	struct recorder r;

	(void)state;
	make_port(&port, EXIT_PORT_KVMINI, &r);

	write_value(&port, 0, 42, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.reason, VM_STOP_EXIT_DEVICE);
	assert_int_equal(r.status, 42);

	write_value(&port, 0, 0, 1);
	assert_int_equal(r.status, 0);

	write_value(&port, 0, 0x1234, 2);
	assert_int_equal(r.status, 0x34);

	write_value(&port, 0, 0xffffff07, 4);
	assert_int_equal(r.status, 7);

	write_value(&port, 0, 0xff, 1);
	assert_int_equal(r.status, 255);
	assert_int_equal(r.calls, 5);
}

static void test_writes_anywhere_in_range(void **state)
{
	struct exit_port port;
	struct recorder r;

	(void)state;
	make_port(&port, EXIT_PORT_KVMINI, &r);
	write_value(&port, 3, 9, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 9);
	write_value(&port, 2, 0x0105, 2);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.status, 5);
}

static void test_bad_writes_ignored(void **state)
{
	struct exit_port port;
	struct recorder r;
	uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)state;
	make_port(&port, EXIT_PORT_KVMINI, &r);
	exit_port_io(&port, 0, data, 3, true);
	exit_port_io(&port, 0, data, 8, true);
	exit_port_io(&port, 0, data, 0, true);
	exit_port_io(&port, 4, data, 1, true);
	exit_port_io(&port, 2, data, 4, true); /* runs past the range */
	exit_port_io(&port, 0xfffffffffffffffeull, data, 4, true);
	assert_int_equal(r.calls, 0);
}

static void test_reads_return_zero(void **state)
{
	struct exit_port port;
	struct recorder r;
	uint8_t data[4];

	(void)state;
	make_port(&port, EXIT_PORT_ISA_DEBUG, &r);
	memset(data, 0xaa, sizeof(data));
	exit_port_io(&port, 0, data, 4, false);
	assert_int_equal(data[0], 0);
	assert_int_equal(data[3], 0);
	memset(data, 0xaa, sizeof(data));
	exit_port_io(&port, 1, data, 1, false);
	assert_int_equal(data[0], 0);
	assert_int_equal(data[1], 0xaa);
	assert_int_equal(r.calls, 0);
}

static void test_no_hook(void **state)
{
	struct exit_port port;
	uint8_t data[1] = { 1 };

	(void)state;
	exit_port_init(&port, EXIT_PORT_KVMINI, NULL);
	exit_port_io(&port, 0, data, 1, true); /* nothing to call, nothing to crash */
	assert_int_equal(port.kind, EXIT_PORT_KVMINI);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_isa_debug_exit),
		cmocka_unit_test(test_kvmini_exit),
		cmocka_unit_test(test_writes_anywhere_in_range),
		cmocka_unit_test(test_bad_writes_ignored),
		cmocka_unit_test(test_reads_return_zero),
		cmocka_unit_test(test_no_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
