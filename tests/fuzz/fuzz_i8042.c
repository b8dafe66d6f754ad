// SPDX-License-Identifier: MIT
/*
 * The i8042 controller model (devices/i8042.c) driven like a guest. Input:
 * a sequence of operations, each an opcode byte and, for writes, the value:
 *   bit 0      port: 0 = data (0x60), 1 = command/status (0x64)
 *   bit 1      1 = write (the next byte), 0 = read
 *   bit 2      offset 1 instead of 0 (the bus never does that; ignored)
 *   bits 3-4   access length 1, 2, 0 or 4
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "i8042.h"

#define STS_OBF 0x01

struct harness {
	struct i8042 kbc;
	unsigned int resets;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void stop_request(void *opaque, enum vm_stop_reason reason, int status)
{
	struct harness *h = opaque;

	if (reason != VM_STOP_RESET || status != 0)
		abort();
	h->resets++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t lengths[4] = { 1, 2, 0, 4 };
	struct harness h = { 0 };
	const struct vm_stop_hook stop = { .request = stop_request, .opaque = &h };
	size_t i = 0;

	i8042_init(&h.kbc, &stop);
	while (i < size) {
		uint8_t op = data[i++], buf[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
		bool cmd_port = op & 1, write = op & 2;
		uint64_t offset = (op >> 2) & 1;
		uint32_t len = lengths[(op >> 3) & 3];
		uint8_t status = h.kbc.status, outb = h.kbc.outb;

		if (write)
			buf[0] = i < size ? data[i++] : 0;
		if (cmd_port)
			i8042_cmd_io(&h.kbc, offset, buf, len, write);
		else
			i8042_data_io(&h.kbc, offset, buf, len, write);
		if (write || !len)
			continue;
		/* Reads: the register at offset 0 only, zeros elsewhere. */
		for (uint32_t k = offset ? 0 : 1; k < len; k++)
			if (buf[k])
				abort();
		if (offset)
			continue;
		if (cmd_port && buf[0] != status)
			abort();
		if (!cmd_port && (buf[0] != outb || (h.kbc.status & STS_OBF)))
			abort();
	}
	i8042_destroy(&h.kbc);
	return 0;
}
