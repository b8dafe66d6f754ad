// SPDX-License-Identifier: MIT
/*
 * 16550A UART. Output is synchronous (each THR write is handed to ops.tx at
 * once), so the transmitter is always empty: LSR.THRE and LSR.TEMT stay set
 * and a THR-empty interrupt is re-armed right after every THR write.
 */
#include <string.h>

#include "uart16550.h"

/* Register offsets; DLL/DLM replace RBR/THR and IER while LCR.DLAB is set. */
#define REG_RBR_THR 0
#define REG_IER 1
#define REG_IIR_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7
#define NR_REGS 8

#define IER_ERBFI 0x01 /* receive data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f /* a 16550A has no more IER bits; Linux probes this */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_RLS 0x06
#define IIR_RX_TIMEOUT 0x0c
#define IIR_ID_MASK 0x0f
#define IIR_FIFOS_ENABLED 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_STORED 0xc9 /* enable, DMA mode, trigger level; the clear bits self-clear */

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_INPUTS 0xf0

/* No modem is attached: report a live line so the guest's tty never waits for carrier. */
#define MSR_IDLE_INPUTS (MSR_DCD | MSR_DSR | MSR_CTS)

static bool fifo_enabled(const struct uart16550 *uart)
{
	return uart->fcr & FCR_ENABLE;
}

static unsigned int rx_trigger_level(const struct uart16550 *uart)
{
	static const unsigned int levels[4] = { 1, 4, 8, 14 };

	return levels[uart->fcr >> 6];
}

/*
 * Input is taken only once the guest's driver really listens: receive
 * interrupts enabled and routed (OUT2), not looped back. Linux's probe sets
 * IER to 0x0f for a moment with OUT2 clear, and clears the FIFO when the tty
 * is opened; bytes accepted before then would be lost.
 */
static bool can_receive(const struct uart16550 *uart)
{
	return (uart->ier & IER_ERBFI) && (uart->mcr & MCR_OUT2) && !(uart->mcr & MCR_LOOP) &&
	       uart->rx_count < UART16550_FIFO_SIZE;
}

/* The highest-priority pending interrupt as an IIR identification code. */
static uint8_t pending_interrupt(const struct uart16550 *uart)
{
	if ((uart->ier & IER_ELSI) && (uart->lsr & LSR_ERRORS))
		return IIR_RLS;
	if ((uart->ier & IER_ERBFI) && uart->rx_count) {
		/* Data below the trigger level is reported as a character timeout at once. */
		if (fifo_enabled(uart) && uart->rx_count < rx_trigger_level(uart))
			return IIR_RX_TIMEOUT;
		return IIR_RDA;
	}
	if ((uart->ier & IER_ETBEI) && uart->thr_irq_pending)
		return IIR_THRE;
	if ((uart->ier & IER_EDSSI) && (uart->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

/* Recompute IIR and drive the line; on a PC, OUT2 gates the UART's interrupt. */
static void update_irq(struct uart16550 *uart)
{
	int level;

	uart->iir = pending_interrupt(uart) | (fifo_enabled(uart) ? IIR_FIFOS_ENABLED : 0);
	level = !(uart->iir & IIR_NO_INT) && (uart->mcr & MCR_OUT2);
	if (level != uart->irq_level) {
		uart->irq_level = level;
		irq_line_set(&uart->irq, level);
	}
}

static uint8_t modem_inputs(const struct uart16550 *uart)
{
	uint8_t inputs = 0;

	if (!(uart->mcr & MCR_LOOP))
		return MSR_IDLE_INPUTS;
	if (uart->mcr & MCR_DTR)
		inputs |= MSR_DSR;
	if (uart->mcr & MCR_RTS)
		inputs |= MSR_CTS;
	if (uart->mcr & MCR_OUT1)
		inputs |= MSR_RI;
	if (uart->mcr & MCR_OUT2)
		inputs |= MSR_DCD;
	return inputs;
}

static void update_modem_status(struct uart16550 *uart)
{
	uint8_t old = uart->msr & MSR_INPUTS;
	uint8_t now = modem_inputs(uart);
	uint8_t changed = old ^ now;
	uint8_t deltas = uart->msr & MSR_DELTAS;

	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		deltas |= MSR_TERI;
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	uart->msr = now | deltas;
}

static bool clear_rx_fifo(struct uart16550 *uart)
{
	bool had_data = uart->rx_count != 0;

	uart->rx_head = 0;
	uart->rx_count = 0;
	return had_data;
}

static void push_rx(struct uart16550 *uart, uint8_t byte)
{
	unsigned int tail;

	if (uart->rx_count == UART16550_FIFO_SIZE) {
		uart->lsr |= LSR_OE;
		return;
	}
	tail = (uart->rx_head + uart->rx_count) % UART16550_FIFO_SIZE;
	uart->rx_fifo[tail] = byte;
	uart->rx_count++;
}

static uint8_t pop_rx(struct uart16550 *uart)
{
	uint8_t byte;

	if (!uart->rx_count)
		return 0;
	byte = uart->rx_fifo[uart->rx_head];
	uart->rx_head = (uart->rx_head + 1) % UART16550_FIFO_SIZE;
	uart->rx_count--;
	return byte;
}

void uart16550_init(struct uart16550 *uart, const struct irq_line *irq,
		    const struct uart16550_ops *ops)
{
	memset(uart, 0, sizeof(*uart));
	pthread_mutex_init(&uart->lock, NULL);
	if (irq)
		uart->irq = *irq;
	if (ops)
		uart->ops = *ops;
	uart->iir = IIR_NO_INT;
	uart->msr = MSR_IDLE_INPUTS;
	uart->dll = 0x0c; /* 9600 baud, until the guest programs it */
}

void uart16550_destroy(struct uart16550 *uart)
{
	pthread_mutex_destroy(&uart->lock);
}

/* Returns true when the guest made room for input (see uart16550_ops.rx_ready). */
static bool uart_write(struct uart16550 *uart, unsigned int reg, uint8_t val)
{
	bool room = false;
	uint8_t old;

	switch (reg) {
	case REG_RBR_THR:
		if (uart->lcr & LCR_DLAB) {
			uart->dll = val;
			break;
		}
		uart->thr_irq_pending = false;
		if (uart->mcr & MCR_LOOP)
			push_rx(uart, val);
		else if (uart->ops.tx)
			uart->ops.tx(uart->ops.opaque, val);
		/* The byte is gone already: the THR is empty again. */
		if (uart->ier & IER_ETBEI)
			uart->thr_irq_pending = true;
		break;
	case REG_IER:
		if (uart->lcr & LCR_DLAB) {
			uart->dlm = val;
			break;
		}
		old = uart->ier;
		uart->ier = val & IER_MASK;
		/* Enabling ETBEI with the THR empty raises the interrupt (Linux's THRE test). */
		if ((uart->ier ^ old) & IER_ETBEI)
			uart->thr_irq_pending = uart->ier & IER_ETBEI;
		if ((uart->ier & IER_ERBFI) && !(old & IER_ERBFI))
			room = true;
		break;
	case REG_IIR_FCR:
		/* Toggling the FIFO enable bit empties the FIFOs, as on the chip. */
		if (((val ^ uart->fcr) & FCR_ENABLE) || (val & FCR_CLEAR_RX))
			room = clear_rx_fifo(uart);
		uart->fcr = (val & FCR_ENABLE) ? (val & FCR_STORED) : 0;
		break;
	case REG_LCR:
		uart->lcr = val;
		break;
	case REG_MCR:
		old = uart->mcr;
		uart->mcr = val & MCR_MASK;
		/* Ending loopback or routing interrupts (OUT2) may let input in. */
		if (((old & MCR_LOOP) && !(uart->mcr & MCR_LOOP)) ||
		    (!(old & MCR_OUT2) && (uart->mcr & MCR_OUT2)))
			room = true;
		update_modem_status(uart);
		break;
	case REG_LSR:
	case REG_MSR:
		/* Factory-test writes on real chips; ignored. */
		break;
	case REG_SCR:
		uart->scr = val;
		break;
	}
	update_irq(uart);
	return room && can_receive(uart);
}

static uint8_t uart_read(struct uart16550 *uart, unsigned int reg, bool *room)
{
	uint8_t val = 0;

	switch (reg) {
	case REG_RBR_THR:
		if (uart->lcr & LCR_DLAB) {
			val = uart->dll;
			break;
		}
		if (uart->rx_count) {
			val = pop_rx(uart);
			if (!uart->rx_count)
				*room = true;
		}
		break;
	case REG_IER:
		val = (uart->lcr & LCR_DLAB) ? uart->dlm : uart->ier;
		break;
	case REG_IIR_FCR:
		update_irq(uart);
		val = uart->iir;
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((val & IIR_ID_MASK) == IIR_THRE)
			uart->thr_irq_pending = false;
		break;
	case REG_LCR:
		val = uart->lcr;
		break;
	case REG_MCR:
		val = uart->mcr;
		break;
	case REG_LSR:
		val = uart->lsr | LSR_THRE | LSR_TEMT;
		if (uart->rx_count)
			val |= LSR_DR;
		uart->lsr &= ~LSR_ERRORS;
		break;
	case REG_MSR:
		val = uart->msr;
		uart->msr &= ~MSR_DELTAS;
		break;
	case REG_SCR:
		val = uart->scr;
		break;
	}
	update_irq(uart);
	*room = *room && can_receive(uart);
	return val;
}

void uart16550_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct uart16550 *uart = opaque;
	bool room = false;

	if (!len)
		return;
	if (!is_write)
		memset(data, 0, len);
	if (offset >= NR_REGS)
		return;

	pthread_mutex_lock(&uart->lock);
	if (is_write)
		room = uart_write(uart, (unsigned int)offset, data[0]);
	else
		data[0] = uart_read(uart, (unsigned int)offset, &room);
	pthread_mutex_unlock(&uart->lock);

	/* Unlocked, so the console thread may call uart16550_receive() from here. */
	if (room && uart->ops.rx_ready)
		uart->ops.rx_ready(uart->ops.opaque);
}

size_t uart16550_receive(struct uart16550 *uart, const uint8_t *buf, size_t len)
{
	size_t accepted = 0;

	pthread_mutex_lock(&uart->lock);
	while (accepted < len && can_receive(uart))
		push_rx(uart, buf[accepted++]);
	if (accepted)
		update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return accepted;
}
