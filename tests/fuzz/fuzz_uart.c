// SPDX-License-Identifier: MIT
/*
 * The 16550A UART model (devices/uart16550.c) driven like a guest and the
 * console thread drive it. Input: a sequence of operations, each an opcode
 * byte and its operands:
 *   0x00-0x3f  write register (op & 7), value: the next byte
 *   0x40-0x5f  read register (op & 7)
 *   0x60-0x7f  odd access: offset (op & 15), length (next byte % 5), read
 *              when op & 0x10 is clear, else write of the next byte
 *   0x80-0xff  host input: the next (op & 0x7f) % 32 bytes join the console
 *              queue, which is offered to the UART now and whenever the
 *              model says it can take input again (ops.rx_ready)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uart16550.h"

#define HOST_QUEUE_MAX 256

struct harness {
	struct uart16550 uart;
	int level; /* last level the model drove, -1 before any */
	uint8_t host[HOST_QUEUE_MAX]; /* console input the UART has not taken yet */
	size_t host_len;
	unsigned int offering; /* rx_ready nesting: must never be re-entered */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void set_level(void *opaque, unsigned int gsi, int level)
{
	struct harness *h = opaque;

	/* The model drives the line only when the level changes. */
	if (gsi != 4 || (level != 0 && level != 1) || level == h->level)
		abort();
	h->level = level;
}

static void tx(void *opaque, uint8_t byte)
{
}

/* What the console thread does: offer what is queued, keep what was refused. */
static void offer(struct harness *h)
{
	size_t n;

	if (h->offering++)
		abort();
	n = uart16550_receive(&h->uart, h->host, h->host_len);
	if (n > h->host_len)
		abort();
	memmove(h->host, h->host + n, h->host_len - n);
	h->host_len -= n;
	h->offering--;
}

static void rx_ready(void *opaque)
{
	offer(opaque);
}

static void check(const struct harness *h)
{
	const struct uart16550 *u = &h->uart;

	if (u->rx_count > UART16550_FIFO_SIZE || u->rx_head >= UART16550_FIFO_SIZE)
		abort();
	if (u->irq_level != (h->level == 1))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness h = { .level = -1 };
	const struct irq_line irq = { .set_level = set_level, .opaque = &h, .gsi = 4 };
	const struct uart16550_ops ops = { .tx = tx, .rx_ready = rx_ready, .opaque = &h };
	size_t i = 0;

	uart16550_init(&h.uart, &irq, &ops);
	while (i < size) {
		uint8_t op = data[i++], buf[4] = { 0xaa, 0xaa, 0xaa, 0xaa };

		if (op < 0x40) {
			buf[0] = i < size ? data[i++] : 0;
			uart16550_io(&h.uart, op & 7, buf, 1, true);
		} else if (op < 0x60) {
			bool had_data = h.uart.rx_count != 0;

			uart16550_io(&h.uart, op & 7, buf, 1, false);
			/* LSR.DR says whether a byte is waiting. */
			if ((op & 7) == 5 && !!(buf[0] & 1) != had_data)
				abort();
		} else if (op < 0x80) {
			uint32_t len = (i < size ? data[i++] : 0) % 5;
			bool write = op & 0x10;

			if (write)
				buf[0] = i < size ? data[i++] : 0;
			uart16550_io(&h.uart, op & 15, buf, len, write);
			/* A read fills all of @data: the register (none past 7), then zeros. */
			for (uint32_t k = write ? len : (op & 15) < 8; k < len; k++)
				if (buf[k])
					abort();
		} else {
			size_t n = (op & 0x7f) % 32;

			if (n > size - i)
				n = size - i;
			if (n > HOST_QUEUE_MAX - h.host_len)
				n = HOST_QUEUE_MAX - h.host_len;
			memcpy(h.host + h.host_len, data + i, n);
			h.host_len += n;
			i += n;
			offer(&h);
		}
		check(&h);
	}
	uart16550_destroy(&h.uart);
	return 0;
}
