// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "i8042.h"

#define STS_OBF 0x01
#define STS_IBF 0x02
#define STS_SYS 0x04
#define STS_CMD 0x08

struct harness {
	struct i8042 kbc;
	int stops;
	enum vm_stop_reason reason;
	int status;
	int stop_lock_held;
};

static void fake_stop(void *opaque, enum vm_stop_reason reason, int status)
{
	struct harness *h = opaque;

	if (pthread_mutex_trylock(&h->kbc.lock) == 0)
		pthread_mutex_unlock(&h->kbc.lock);
	else
		h->stop_lock_held++;
	h->stops++;
	h->reason = reason;
	h->status = status;
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct vm_stop_hook hook = { .request = fake_stop };

	if (!h)
		return -1;
	hook.opaque = h;
	i8042_init(&h->kbc, &hook);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;

	i8042_destroy(&h->kbc);
	free(h);
	return 0;
}

static void cmd(struct harness *h, uint8_t val)
{
	i8042_cmd_io(&h->kbc, 0, &val, 1, true);
}

static void data_out(struct harness *h, uint8_t val)
{
	i8042_data_io(&h->kbc, 0, &val, 1, true);
}

static uint8_t status(struct harness *h)
{
	uint8_t val = 0xee;

	i8042_cmd_io(&h->kbc, 0, &val, 1, false);
	return val;
}

static uint8_t data_in(struct harness *h)
{
	uint8_t val = 0xee;

	i8042_data_io(&h->kbc, 0, &val, 1, false);
	return val;
}

/* What Linux's i8042_command() does: send, then poll OBF and read the reply. */
static int command_reply(struct harness *h, uint8_t c)
{
	cmd(h, c);
	if (!(status(h) & STS_OBF))
		return -1;
	return data_in(h);
}

static void test_initial_status(void **state)
{
	struct harness *h = *state;
	uint8_t sts = status(h);

	assert_int_equal(sts & (STS_OBF | STS_IBF | STS_SYS), 0);
	assert_int_not_equal(sts, 0xff); /* Linux: "no controller" */
	assert_int_equal(h->stops, 0);
}

static void test_self_test(void **state)
{
	struct harness *h = *state;

	assert_int_equal(command_reply(h, 0xaa), 0x55);
	assert_int_equal(status(h) & STS_OBF, 0); /* reading 0x60 cleared OBF */
	assert_int_equal(status(h) & STS_SYS, STS_SYS);
	assert_int_equal(status(h) & STS_CMD, STS_CMD);
	assert_int_equal(command_reply(h, 0xab), 0x00);
	assert_int_equal(command_reply(h, 0xa9), 0x00);
	assert_int_equal(h->stops, 0);
}

static void test_ctr_read_write(void **state)
{
	struct harness *h = *state;
	int ctr;

	ctr = command_reply(h, 0x20);
	assert_true(ctr >= 0);
	/* Linux wants two equal reads in a row. */
	assert_int_equal(command_reply(h, 0x20), ctr);

	cmd(h, 0x60);
	assert_int_equal(status(h) & STS_OBF, 0);
	data_out(h, 0x65);
	assert_int_equal(status(h) & STS_CMD, 0);
	assert_int_equal(command_reply(h, 0x20), 0x65);
	assert_int_equal(status(h) & STS_SYS, STS_SYS); /* CTR bit 2 mirrors into status */

	cmd(h, 0x60);
	data_out(h, 0x30);
	assert_int_equal(command_reply(h, 0x20), 0x30);
	assert_int_equal(status(h) & STS_SYS, 0);

	/* The pending command takes one data byte only: the next goes to the (absent) keyboard. */
	data_out(h, 0x47);
	assert_int_equal(command_reply(h, 0x20), 0x30);
	assert_int_equal(status(h) & STS_OBF, 0);
}

static void test_enable_disable_commands(void **state)
{
	struct harness *h = *state;

	cmd(h, 0x60);
	data_out(h, 0x00);
	cmd(h, 0xad);
	assert_int_equal(command_reply(h, 0x20), 0x10);
	cmd(h, 0xa7);
	assert_int_equal(command_reply(h, 0x20), 0x30);
	cmd(h, 0xae);
	assert_int_equal(command_reply(h, 0x20), 0x20);
	cmd(h, 0xa8);
	assert_int_equal(command_reply(h, 0x20), 0x00);
	assert_int_equal(status(h) & STS_OBF, 0);
	assert_int_equal(h->stops, 0);
}

static void test_pulse_reset(void **state)
{
	struct harness *h = *state;

	/* reboot=k: wait for the input buffer to be empty, then 0xfe. */
	for (int i = 0; i < 16 && (status(h) & STS_IBF); i++)
		;
	assert_int_equal(status(h) & STS_IBF, 0);
	cmd(h, 0xfe);
	assert_int_equal(h->stops, 1);
	assert_int_equal(h->reason, VM_STOP_RESET);
	assert_int_equal(h->status, 0);
	assert_int_equal(h->stop_lock_held, 0);

	/* 0xff pulses no line; 0xf0 pulses all of them, reset included. */
	cmd(h, 0xff);
	assert_int_equal(h->stops, 1);
	cmd(h, 0xf0);
	assert_int_equal(h->stops, 2);
}

static void test_write_output_port(void **state)
{
	struct harness *h = *state;
	int port;

	/* Linux's boot-time A20 enable writes 0xdf: reset line high. */
	cmd(h, 0xd1);
	data_out(h, 0xdf);
	assert_int_equal(h->stops, 0);

	port = command_reply(h, 0xd0);
	assert_int_equal(port & 0x01, 0x01);

	cmd(h, 0xd1);
	data_out(h, 0xfe);
	assert_int_equal(h->stops, 1);
	assert_int_equal(h->reason, VM_STOP_RESET);
	assert_int_equal(h->stop_lock_held, 0);

	/* A data byte with no pending command is not an output-port write. */
	data_out(h, 0x00);
	assert_int_equal(h->stops, 1);
}

static void test_unknown_and_keyboard_bytes_ignored(void **state)
{
	struct harness *h = *state;

	cmd(h, 0x12);
	cmd(h, 0xc0);
	cmd(h, 0xed);
	assert_int_equal(status(h) & STS_OBF, 0);
	data_out(h, 0xf2); /* keyboard "get ID": nobody answers */
	data_out(h, 0xff);
	assert_int_equal(status(h) & STS_OBF, 0);
	assert_int_equal(h->stops, 0);

	/* A new command replaces one waiting for its data byte. */
	cmd(h, 0x60);
	cmd(h, 0xd1);
	data_out(h, 0x03);
	assert_int_not_equal(command_reply(h, 0x20), 0x03);
}

static void test_wide_access_and_no_hook(void **state)
{
	struct i8042 kbc;
	uint8_t data[4] = { 0xee, 0xee, 0xee, 0xee };

	(void)state;
	i8042_init(&kbc, NULL);
	i8042_cmd_io(&kbc, 0, data, 2, false);
	assert_int_equal(data[1], 0);
	data[0] = 0xfe;
	i8042_cmd_io(&kbc, 0, data, 1, true); /* no hook: nothing to call */
	data[0] = 0xaa;
	i8042_cmd_io(&kbc, 1, data, 1, true); /* outside the 1-port range */
	i8042_cmd_io(&kbc, 0, data, 1, false);
	assert_int_equal(data[0] & STS_OBF, 0);
	i8042_cmd_io(&kbc, 0, data, 0, true);
	i8042_destroy(&kbc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_initial_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_test, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctr_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_disable_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pulse_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_output_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_keyboard_bytes_ignored, setup,
						teardown),
		cmocka_unit_test(test_wide_access_and_no_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
