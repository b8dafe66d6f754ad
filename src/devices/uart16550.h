/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (8 I/O ports), as Linux's 8250 driver expects: 16-byte
 * receive FIFO, divisor latch, THR-empty and receive-data interrupts, LSR/MSR
 * status, loopback. Output bytes go to a callback; input bytes come in
 * through uart16550_receive() from the console thread.
 */
#ifndef KVMINI_UART16550_H
#define KVMINI_UART16550_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "irq.h"

#define UART16550_FIFO_SIZE 16

struct uart16550_ops {
	/* The guest transmitted @byte (called with the device lock held). */
	void (*tx)(void *opaque, uint8_t byte);
	/*
	 * The device can take input again: its FIFO drained, or the guest
	 * enabled receive interrupts. Called without the device lock held.
	 */
	void (*rx_ready)(void *opaque);
	void *opaque;
};

struct uart16550 {
	pthread_mutex_t lock;
	struct irq_line irq;
	struct uart16550_ops ops;

	uint8_t ier, iir, fcr, lcr, mcr, lsr, msr, scr;
	uint8_t dll, dlm;
	bool thr_irq_pending; /* THR-empty interrupt raised and not yet acknowledged */
	uint8_t rx_fifo[UART16550_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	int irq_level; /* last level driven on the line */
};

void uart16550_init(struct uart16550 *uart, const struct irq_line *irq,
		    const struct uart16550_ops *ops);
void uart16550_destroy(struct uart16550 *uart);

/* bus_io_fn for the 8-port range (0x3f8 for COM1). */
void uart16550_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/*
 * Offer host input. Returns how many bytes were accepted: 0 when the FIFO is
 * full or the guest's driver is not listening yet (receive interrupts off, or
 * not routed through MCR.OUT2, or loopback): input typed before the guest's
 * tty is open is held back by the caller, not lost to the driver's set-up.
 */
size_t uart16550_receive(struct uart16550 *uart, const uint8_t *buf, size_t len);

#endif
