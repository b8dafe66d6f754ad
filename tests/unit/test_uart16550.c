// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "uart16550.h"

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

struct harness {
	struct uart16550 uart;
	int irq_calls;
	int irq_level;
	unsigned int irq_gsi;
	uint8_t tx[64];
	int tx_count;
	int tx_lock_held; /* tx callbacks that found the device lock taken */
	int rx_ready_calls;
	int rx_ready_lock_held;
	/* Bytes rx_ready pushes back into the device, as a console thread would. */
	const uint8_t *refill;
	size_t refill_len;
	size_t refilled;
};

static void fake_set_level(void *opaque, unsigned int gsi, int level)
{
	struct harness *h = opaque;

	h->irq_calls++;
	h->irq_level = level;
	h->irq_gsi = gsi;
}

static void fake_tx(void *opaque, uint8_t byte)
{
	struct harness *h = opaque;

	if (pthread_mutex_trylock(&h->uart.lock) == 0)
		pthread_mutex_unlock(&h->uart.lock);
	else
		h->tx_lock_held++;
	if (h->tx_count < (int)sizeof(h->tx))
		h->tx[h->tx_count] = byte;
	h->tx_count++;
}

static void fake_rx_ready(void *opaque)
{
	struct harness *h = opaque;

	if (pthread_mutex_trylock(&h->uart.lock) == 0)
		pthread_mutex_unlock(&h->uart.lock);
	else
		h->rx_ready_lock_held++;
	h->rx_ready_calls++;
	if (h->refill && h->refilled < h->refill_len)
		h->refilled += uart16550_receive(&h->uart, h->refill + h->refilled,
						 h->refill_len - h->refilled);
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct irq_line line = { .set_level = fake_set_level, .gsi = 4 };
	struct uart16550_ops ops = { .tx = fake_tx, .rx_ready = fake_rx_ready };

	if (!h)
		return -1;
	line.opaque = h;
	ops.opaque = h;
	uart16550_init(&h->uart, &line, &ops);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;

	uart16550_destroy(&h->uart);
	free(h);
	return 0;
}

static void out(struct harness *h, unsigned int reg, uint8_t val)
{
	uart16550_io(&h->uart, reg, &val, 1, true);
}

static uint8_t in(struct harness *h, unsigned int reg)
{
	uint8_t val = 0xee;

	uart16550_io(&h->uart, reg, &val, 1, false);
	return val;
}

static size_t feed(struct harness *h, const char *s)
{
	return uart16550_receive(&h->uart, (const uint8_t *)s, strlen(s));
}

static void test_reset_state(void **state)
{
	struct harness *h = *state;

	assert_int_equal(in(h, IER), 0);
	assert_int_equal(in(h, IIR), 0x01);
	assert_int_equal(in(h, LCR), 0);
	assert_int_equal(in(h, MCR), 0);
	assert_int_equal(in(h, LSR), 0x60);
	assert_int_equal(in(h, MSR) & 0xf0, 0xb0);
	assert_int_equal(h->irq_calls, 0);
}

static void test_scratch_register(void **state)
{
	struct harness *h = *state;

	out(h, SCR, 0x5a);
	assert_int_equal(in(h, SCR), 0x5a);
	out(h, SCR, 0xa5);
	assert_int_equal(in(h, SCR), 0xa5);
	assert_int_equal(h->tx_count, 0);
}

static void test_divisor_latch(void **state)
{
	struct harness *h = *state;

	out(h, LCR, 0x83);
	out(h, DLL, 0x01);
	out(h, DLM, 0x02);
	assert_int_equal(h->tx_count, 0); /* DLL write is not a THR write */
	assert_int_equal(in(h, DLL), 0x01);
	assert_int_equal(in(h, DLM), 0x02);
	assert_int_equal(in(h, LCR), 0x83);

	out(h, LCR, 0x03);
	assert_int_equal(in(h, IER), 0); /* DLM write did not reach IER */
	out(h, IER, 0x05);
	out(h, THR, 'x');
	assert_int_equal(h->tx_count, 1);

	out(h, LCR, 0x83);
	assert_int_equal(in(h, DLL), 0x01);
	assert_int_equal(in(h, DLM), 0x02);
	out(h, LCR, 0x03);
	assert_int_equal(in(h, IER), 0x05);
}

static void test_ier_upper_bits_read_zero(void **state)
{
	struct harness *h = *state;

	out(h, IER, 0xff);
	assert_int_equal(in(h, IER), 0x0f);
	out(h, IER, 0x40); /* Xscale UUE probe */
	assert_int_equal(in(h, IER), 0x00);
}

static void test_tx_callback_with_lock_held(void **state)
{
	struct harness *h = *state;
	const char *msg = "hi\n";

	for (const char *p = msg; *p; p++) {
		assert_int_equal(in(h, LSR) & 0x60, 0x60);
		out(h, THR, (uint8_t)*p);
	}
	assert_int_equal(h->tx_count, 3);
	assert_memory_equal(h->tx, msg, 3);
	assert_int_equal(h->tx_lock_held, 3);
	assert_int_equal(in(h, LSR), 0x60);
}

static void test_thr_empty_interrupt(void **state)
{
	struct harness *h = *state;

	out(h, MCR, MCR_OUT2);
	assert_int_equal(h->irq_calls, 0);

	out(h, IER, 0x02);
	assert_int_equal(h->irq_level, 1);
	assert_int_equal(h->irq_gsi, 4);
	assert_int_equal(in(h, IIR), 0x02); /* acknowledges */
	assert_int_equal(h->irq_level, 0);
	assert_int_equal(in(h, IIR), 0x01);

	/* Writing THR: the byte leaves at once and the THR is empty again. */
	out(h, THR, 'a');
	assert_int_equal(h->irq_level, 1);
	assert_int_equal(in(h, IIR), 0x02);
	assert_int_equal(h->irq_level, 0);

	/* Clearing ETBEI drops a pending THRE interrupt. */
	out(h, THR, 'b');
	assert_int_equal(h->irq_level, 1);
	out(h, IER, 0x00);
	assert_int_equal(h->irq_level, 0);
	assert_int_equal(in(h, IIR), 0x01);

	/* Linux's THRE test: IER=THRI, IIR, IER=0, IER=THRI, IIR must re-assert. */
	out(h, IER, 0x02);
	assert_int_equal(in(h, IIR) & 0x01, 0);
	out(h, IER, 0x00);
	out(h, IER, 0x02);
	assert_int_equal(in(h, IIR) & 0x01, 0);
	out(h, IER, 0x00);

	/* Rewriting IER with ETBEI unchanged does not re-raise an acknowledged THRE. */
	out(h, IER, 0x02);
	assert_int_equal(in(h, IIR), 0x02);
	out(h, IER, 0x03);
	assert_int_equal(in(h, IIR), 0x01);
}

static void test_irq_line_only_on_change(void **state)
{
	struct harness *h = *state;

	out(h, MCR, MCR_OUT2);
	out(h, IER, 0x02);
	assert_int_equal(h->irq_calls, 1);
	out(h, SCR, 1);
	out(h, THR, 'a'); /* still pending: no new call */
	in(h, LSR);
	assert_int_equal(h->irq_calls, 1);
	in(h, IIR);
	assert_int_equal(h->irq_calls, 2);
	in(h, IIR);
	assert_int_equal(h->irq_calls, 2);
}

static void test_out2_gates_irq_line(void **state)
{
	struct harness *h = *state;

	out(h, IER, 0x02);
	assert_int_equal(h->irq_calls, 0); /* pending, but OUT2 is clear */
	out(h, MCR, MCR_OUT2 | 0x03);
	assert_int_equal(h->irq_calls, 1);
	assert_int_equal(h->irq_level, 1);
	out(h, MCR, 0x03);
	assert_int_equal(h->irq_calls, 2);
	assert_int_equal(h->irq_level, 0);
	/* Still pending in IIR while the line is gated off. */
	out(h, MCR, 0x03);
	assert_int_equal(in(h, IIR), 0x02);
	assert_int_equal(h->irq_calls, 2);
}

static void test_receive_refused_before_erbfi(void **state)
{
	struct harness *h = *state;

	assert_int_equal(feed(h, "abc"), 0);
	assert_int_equal(in(h, LSR) & 0x01, 0);
	assert_int_equal(h->rx_ready_calls, 0);

	out(h, MCR, 0x08); /* OUT2: the driver routes its interrupts */
	out(h, IER, 0x01);
	assert_int_equal(h->rx_ready_calls, 1);
	assert_int_equal(h->rx_ready_lock_held, 0);
	out(h, IER, 0x01); /* already enabled: no new call */
	assert_int_equal(h->rx_ready_calls, 1);

	assert_int_equal(feed(h, "abc"), 3);
	assert_int_equal(in(h, LSR), 0x61);
	assert_int_equal(in(h, RBR), 'a');

	out(h, IER, 0x00);
	assert_int_equal(feed(h, "d"), 0);
	assert_int_equal(in(h, RBR), 'b'); /* held data can still be polled */
	assert_int_equal(uart16550_receive(&h->uart, NULL, 0), 0);
}

static void test_receive_waits_for_out2(void **state)
{
	struct harness *h = *state;

	/* Linux's probe writes IER 0x0f with OUT2 clear: no input then. */
	out(h, IER, 0x0f);
	assert_int_equal(feed(h, "lost?"), 0);
	assert_int_equal(h->rx_ready_calls, 0);
	out(h, MCR, 0x08);
	assert_int_equal(h->rx_ready_calls, 1);
	assert_int_equal(feed(h, "ok"), 2);
}

static void test_rx_fifo_fill_and_overflow(void **state)
{
	struct harness *h = *state;
	uint8_t input[20];

	for (unsigned int i = 0; i < sizeof(input); i++)
		input[i] = (uint8_t)(0x40 + i);
	out(h, FCR, 0x07);
	out(h, MCR, 0x08); /* OUT2: the driver routes its interrupts */
	out(h, IER, 0x01);
	h->rx_ready_calls = 0;

	assert_int_equal(uart16550_receive(&h->uart, input, sizeof(input)), 16);
	assert_int_equal(uart16550_receive(&h->uart, input + 16, 4), 0);
	assert_int_equal(in(h, LSR), 0x61); /* no overrun: refused bytes are not lost */

	for (unsigned int i = 0; i < 15; i++)
		assert_int_equal(in(h, RBR), input[i]);
	assert_int_equal(h->rx_ready_calls, 0); /* not yet empty */
	assert_int_equal(uart16550_receive(&h->uart, input + 16, 4), 4);
	for (unsigned int i = 15; i < 20; i++)
		assert_int_equal(in(h, RBR), input[i]);
	assert_int_equal(h->rx_ready_calls, 1);
	assert_int_equal(h->rx_ready_lock_held, 0);
	assert_int_equal(in(h, LSR), 0x60);

	/* Reading an empty RBR is harmless and does not signal again. */
	assert_int_equal(in(h, RBR), 0);
	assert_int_equal(h->rx_ready_calls, 1);
}

static void test_rx_ready_may_refill(void **state)
{
	struct harness *h = *state;
	static const uint8_t text[] = "0123456789abcdefXYZ";

	h->refill = text;
	h->refill_len = sizeof(text) - 1;
	out(h, MCR, 0x08); /* OUT2: the driver routes its interrupts */
	out(h, IER, 0x01); /* rx_ready pushes from inside the callback */
	assert_int_equal(h->refilled, 16);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(in(h, RBR), text[i]);
	assert_int_equal(h->refilled, 19);
	for (unsigned int i = 16; i < 19; i++)
		assert_int_equal(in(h, RBR), text[i]);
	assert_int_equal(h->rx_ready_lock_held, 0);
}

static void test_rx_interrupt_and_trigger_level(void **state)
{
	struct harness *h = *state;

	out(h, MCR, MCR_OUT2);
	out(h, FCR, 0x81); /* FIFO on, trigger level 8 */
	out(h, MCR, 0x08); /* OUT2: the driver routes its interrupts */
	out(h, IER, 0x01);
	assert_int_equal(h->irq_level, 0);
	assert_int_equal(feed(h, "a"), 1);
	assert_int_equal(h->irq_level, 1);
	assert_int_equal(in(h, IIR), 0xcc); /* below trigger: character timeout */
	assert_int_equal(feed(h, "bcdefgh"), 7);
	assert_int_equal(in(h, IIR), 0xc4); /* at trigger: data available */
	assert_int_equal(h->irq_level, 1); /* reading IIR does not ack RX */
	for (int i = 0; i < 8; i++)
		in(h, RBR);
	assert_int_equal(in(h, IIR), 0xc1);
	assert_int_equal(h->irq_level, 0);

	out(h, FCR, 0x00); /* FIFOs off: data is plain "available" */
	assert_int_equal(feed(h, "z"), 1);
	assert_int_equal(in(h, IIR), 0x04);
}

static void test_fifo_clear(void **state)
{
	struct harness *h = *state;

	out(h, FCR, 0x01);
	out(h, MCR, 0x08); /* OUT2: the driver routes its interrupts */
	out(h, IER, 0x01);
	h->rx_ready_calls = 0;
	assert_int_equal(feed(h, "hello"), 5);
	out(h, FCR, 0x03); /* clear RX */
	assert_int_equal(in(h, LSR) & 0x01, 0);
	assert_int_equal(h->rx_ready_calls, 1);
	assert_int_equal(in(h, IIR), 0xc1);

	/* Clearing an empty FIFO is no news to the console thread. */
	out(h, FCR, 0x03);
	assert_int_equal(h->rx_ready_calls, 1);

	/* Turning the FIFOs off empties them too. */
	assert_int_equal(feed(h, "xy"), 2);
	out(h, FCR, 0x00);
	assert_int_equal(in(h, LSR) & 0x01, 0);
	assert_int_equal(in(h, IIR), 0x01);
	assert_int_equal(h->rx_ready_calls, 2);

	/* Clear-TX alone keeps received data. */
	out(h, FCR, 0x01);
	assert_int_equal(feed(h, "q"), 1);
	out(h, FCR, 0x05);
	assert_int_equal(in(h, RBR), 'q');
}

static void test_loopback(void **state)
{
	struct harness *h = *state;

	out(h, MCR, 0x08); /* OUT2: the driver routes its interrupts */
	out(h, IER, 0x01);
	out(h, FCR, 0x01);
	out(h, MCR, MCR_LOOP | 0x0a); /* RTS | OUT2 */
	assert_int_equal(in(h, MSR) & 0xf0, 0x90); /* CTS | DCD */
	out(h, MCR, MCR_LOOP | 0x05); /* DTR | OUT1 */
	assert_int_equal(in(h, MSR), 0x60 | 0x0b); /* DSR | RI, deltas for CTS DSR DCD */
	out(h, MCR, MCR_LOOP | 0x01); /* RI falls */
	assert_int_equal(in(h, MSR), 0x20 | 0x04); /* trailing edge of RI */
	assert_int_equal(in(h, MSR), 0x20); /* deltas clear on read */

	out(h, THR, 'L');
	out(h, THR, 'B');
	assert_int_equal(h->tx_count, 0); /* looped back, not sent */
	assert_int_equal(in(h, LSR) & 0x01, 1);
	assert_int_equal(feed(h, "no"), 0); /* the line input is disconnected */
	assert_int_equal(in(h, RBR), 'L');
	assert_int_equal(in(h, RBR), 'B');

	/* Overrunning the FIFO in loopback loses the byte and sets OE. */
	for (int i = 0; i < 17; i++)
		out(h, THR, (uint8_t)i);
	assert_int_equal(in(h, LSR), 0x63);
	assert_int_equal(in(h, LSR), 0x61); /* OE clears on read */

	h->rx_ready_calls = 0;
	out(h, MCR, 0x08); /* loopback off, OUT2 on */
	assert_int_equal(in(h, MSR) & 0xf0, 0xb0);
	out(h, FCR, 0x03);
	assert_true(h->rx_ready_calls >= 1);
	assert_int_equal(feed(h, "ok"), 2);
	out(h, THR, '!');
	assert_int_equal(h->tx_count, 1);
	assert_int_equal(h->tx[0], '!');
}

static void test_iir_priorities(void **state)
{
	struct harness *h = *state;

	out(h, FCR, 0x01);
	out(h, MCR, MCR_LOOP | MCR_OUT2);
	for (int i = 0; i < 17; i++)
		out(h, THR, (uint8_t)('A' + i)); /* 16 kept, one overrun */
	in(h, MSR); /* drop the deltas from entering loopback */
	out(h, MCR, MCR_LOOP | MCR_OUT2 | 0x02); /* CTS change: modem status delta */
	out(h, IER, 0x0f);
	assert_int_equal(h->irq_level, 1);

	assert_int_equal(in(h, IIR), 0xc6); /* receiver line status */
	assert_int_equal(in(h, IIR), 0xc6); /* still, until LSR is read */
	assert_int_equal(in(h, LSR) & 0x02, 0x02);
	assert_int_equal(in(h, IIR), 0xc4); /* receive data */
	for (int i = 0; i < 16; i++)
		assert_int_equal(in(h, RBR), 'A' + i);
	assert_int_equal(in(h, IIR), 0xc2); /* THR empty, acknowledged by this read */
	assert_int_equal(in(h, IIR), 0xc0); /* modem status */
	assert_int_equal(h->irq_level, 1);
	assert_int_equal(in(h, MSR) & 0x0f, 0x01);
	assert_int_equal(in(h, IIR), 0xc1);
	assert_int_equal(h->irq_level, 0);
}

static void test_linux_16550a_detection(void **state)
{
	struct harness *h = *state;
	uint8_t save_ier, save_mcr;

	/* IER existence test. */
	save_ier = in(h, IER);
	out(h, IER, 0);
	assert_int_equal(in(h, IER) & 0x0f, 0);
	out(h, IER, 0x0f);
	assert_int_equal(in(h, IER) & 0x0f, 0x0f);
	out(h, IER, save_ier);

	/* Loopback test: RTS|OUT2 must come back as CTS|DCD. */
	save_mcr = in(h, MCR);
	out(h, MCR, 0x1a);
	assert_int_equal(in(h, MSR) & 0xf0, 0x90);
	out(h, MCR, save_mcr);

	/* EFR (at FCR's offset) reset through LCR=0xbf, then the FIFO probe. */
	out(h, LCR, 0xbf);
	out(h, FCR, 0);
	out(h, LCR, 0);
	out(h, FCR, 0x07);
	assert_int_equal(in(h, IIR) & 0xc0, 0xc0);
	out(h, FCR, 0x01);
	assert_int_equal(in(h, IIR) >> 6, 3);

	/* No EFR: the register reads back non-zero in both config modes. */
	out(h, LCR, 0x80);
	assert_int_not_equal(in(h, IIR), 0);
	out(h, LCR, 0xbf);
	assert_int_not_equal(in(h, IIR), 0);

	/* Not a 16750: IIR bit 5 stays clear whatever FCR bit 5 says. */
	out(h, LCR, 0);
	out(h, FCR, 0x21);
	assert_int_equal(in(h, IIR) >> 5, 6);
	out(h, LCR, 0x80);
	out(h, FCR, 0x21);
	assert_int_equal(in(h, IIR) >> 5, 6);
	out(h, FCR, 0x01);
	out(h, LCR, 0);

	/* Sane LSR after startup. */
	assert_int_not_equal(in(h, LSR), 0xff);
}

static void test_wide_and_out_of_range_access(void **state)
{
	struct harness *h = *state;
	uint8_t data[4] = { 0x11, 0x22, 0x33, 0x44 };

	uart16550_io(&h->uart, SCR, data, 4, true);
	assert_int_equal(in(h, SCR), 0x11);

	memset(data, 0xee, sizeof(data));
	uart16550_io(&h->uart, LSR, data, 2, false);
	assert_int_equal(data[0], 0x60);
	assert_int_equal(data[1], 0);

	memset(data, 0xee, sizeof(data));
	uart16550_io(&h->uart, 8, data, 4, false);
	assert_int_equal(data[0], 0);
	assert_int_equal(data[3], 0);
	uart16550_io(&h->uart, 0xffffffffffffffffull, data, 1, true);
	uart16550_io(&h->uart, THR, data, 0, true);
	assert_int_equal(h->tx_count, 0);

	/* LSR and MSR writes are ignored. */
	out(h, LSR, 0xff);
	out(h, MSR, 0x0f);
	assert_int_equal(in(h, LSR), 0x60);
	assert_int_equal(in(h, MSR), 0xb0);
}

struct pump {
	struct uart16550 *uart;
	const uint8_t *data;
	size_t len;
};

static void *producer(void *arg)
{
	struct pump *p = arg;
	size_t sent = 0;

	while (sent < p->len) {
		size_t n = uart16550_receive(p->uart, p->data + sent, p->len - sent);

		sent += n;
		if (!n)
			sched_yield();
	}
	return NULL;
}

static void test_concurrent_receive(void **state)
{
	struct harness *h = *state;
	enum { N = 4000 };
	static uint8_t data[N];
	struct pump p = { &h->uart, data, N };
	pthread_t thread;
	size_t got = 0;
	unsigned long polls = 0;

	for (size_t i = 0; i < N; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	out(h, FCR, 0x01);
	out(h, MCR, 0x08); /* OUT2: the driver routes its interrupts */
	out(h, IER, 0x01);
	assert_int_equal(pthread_create(&thread, NULL, producer, &p), 0);
	while (got < N && polls < 100000000ul) {
		polls++;
		if (in(h, LSR) & 0x01) {
			assert_int_equal(in(h, RBR), data[got]);
			got++;
		} else {
			sched_yield();
		}
	}
	pthread_join(thread, NULL);
	assert_int_equal(got, N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ier_upper_bits_read_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_callback_with_lock_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thr_empty_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_line_only_on_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out2_gates_irq_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_refused_before_erbfi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_waits_for_out2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_fifo_fill_and_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_ready_may_refill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_interrupt_and_trigger_level, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fifo_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_16550a_detection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_and_out_of_range_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_receive, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
