// SPDX-License-Identifier: MIT
/*
 * i8042 controller with nothing behind it. Responses are polled by the guest
 * (Linux's i8042_command() waits for OBF), so no IRQ 1 is raised. Bytes
 * written to port 0x60 for the keyboard are dropped: with i8042.dumbkbd Linux
 * never sends any, and without it the keyboard probe just times out, as with
 * an unplugged keyboard.
 */
#include <string.h>

#include "i8042.h"

#define STS_OBF 0x01 /* output buffer full */
#define STS_SYS 0x04 /* system flag: self-test passed */
#define STS_CMD 0x08 /* last write went to the command port */
#define STS_UNLOCKED 0x10 /* keyboard inhibit switch off */

#define CTR_KBDINT 0x01
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_PULSE_FIRST 0xf0 /* 0xf0-0xff pulse the output port bits clear in the low nibble */

#define SELF_TEST_OK 0x55
#define INTERFACE_TEST_OK 0x00

#define OUTPORT_RESET_HIGH 0x01 /* bit 0 is the CPU reset line, active low */
#define OUTPORT_A20 0x02
#define OUTPORT_DEFAULT (OUTPORT_RESET_HIGH | OUTPORT_A20)

void i8042_init(struct i8042 *kbc, const struct vm_stop_hook *stop)
{
	memset(kbc, 0, sizeof(*kbc));
	pthread_mutex_init(&kbc->lock, NULL);
	if (stop)
		kbc->stop = *stop;
	kbc->status = STS_UNLOCKED;
	kbc->ctr = CTR_XLATE | CTR_KBDINT;
}

void i8042_destroy(struct i8042 *kbc)
{
	pthread_mutex_destroy(&kbc->lock);
}

static void respond(struct i8042 *kbc, uint8_t byte)
{
	kbc->outb = byte;
	kbc->status |= STS_OBF;
}

static void write_ctr(struct i8042 *kbc, uint8_t ctr)
{
	kbc->ctr = ctr;
	/* The system flag in the status register mirrors the one written to the CTR. */
	kbc->status = (kbc->status & ~STS_SYS) | ((ctr & CTR_SYS) ? STS_SYS : 0);
}

/* Returns true when the command asserts the CPU reset line. */
static bool run_command(struct i8042 *kbc, uint8_t cmd)
{
	kbc->pending_cmd = 0;
	switch (cmd) {
	case CMD_READ_CTR:
		respond(kbc, kbc->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
		kbc->pending_cmd = cmd;
		break;
	case CMD_SELF_TEST:
		kbc->status |= STS_SYS;
		kbc->ctr |= CTR_SYS;
		respond(kbc, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
	case CMD_AUX_TEST:
		respond(kbc, INTERFACE_TEST_OK);
		break;
	case CMD_AUX_DISABLE:
		kbc->ctr |= CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		kbc->ctr &= ~CTR_AUXDIS;
		break;
	case CMD_KBD_DISABLE:
		kbc->ctr |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		kbc->ctr &= ~CTR_KBDDIS;
		break;
	case CMD_READ_OUTPORT:
		/* Read-modify-write A20 code must never read back a low reset bit. */
		respond(kbc, OUTPORT_DEFAULT);
		break;
	default:
		if (cmd >= CMD_PULSE_FIRST && !(cmd & OUTPORT_RESET_HIGH))
			return true;
		/* Anything else (unknown or keyboardless) is ignored. */
		break;
	}
	return false;
}

/* Returns true when the byte asserts the CPU reset line. */
static bool write_data(struct i8042 *kbc, uint8_t byte)
{
	uint8_t cmd = kbc->pending_cmd;

	kbc->pending_cmd = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		write_ctr(kbc, byte);
		break;
	case CMD_WRITE_OUTPORT:
		return !(byte & OUTPORT_RESET_HIGH);
	default:
		/* For the keyboard, which is not there. */
		break;
	}
	return false;
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *kbc = opaque;
	bool reset = false;

	if (!len)
		return;
	if (!is_write)
		memset(data, 0, len);
	if (offset != 0)
		return;

	pthread_mutex_lock(&kbc->lock);
	if (is_write) {
		kbc->status &= ~STS_CMD;
		reset = write_data(kbc, data[0]);
	} else {
		data[0] = kbc->outb;
		kbc->status &= ~STS_OBF;
	}
	pthread_mutex_unlock(&kbc->lock);

	if (reset)
		vm_stop_hook_fire(&kbc->stop, VM_STOP_RESET, 0);
}

void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *kbc = opaque;
	bool reset = false;

	if (!len)
		return;
	if (!is_write)
		memset(data, 0, len);
	if (offset != 0)
		return;

	pthread_mutex_lock(&kbc->lock);
	if (is_write) {
		kbc->status |= STS_CMD;
		reset = run_command(kbc, data[0]);
	} else {
		/* Input buffer full (bit 1) never shows: every write is taken at once. */
		data[0] = kbc->status;
	}
	pthread_mutex_unlock(&kbc->lock);

	if (reset)
		vm_stop_hook_fire(&kbc->stop, VM_STOP_RESET, 0);
}
