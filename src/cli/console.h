/* SPDX-License-Identifier: MIT */
/*
 * The host side of the serial console: guest output to a file descriptor
 * (stdout), host input from another (stdin) into the UART on a thread of its
 * own (into the UART, or virtio-console with --console virtio). With a terminal on stdin in interactive mode the terminal is put in raw
 * mode, Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, and the terminal is
 * restored on every way out.
 *
 * With kvmini's own guest init, input is held back until the init says its
 * console is ready (console_guest_ready()): earlier input would be echoed
 * into the boot messages. With a guest command, end of input is sent as
 * Ctrl-D (the guest tty's EOF character); an interactive shell is left
 * running at end of input, like a VM with a serial line, until it exits.
 */
#ifndef KVMINI_CLI_CONSOLE_H
#define KVMINI_CLI_CONSOLE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "devices/uart16550.h"
#include "err.h"
#include "stop.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */
#define CONSOLE_EOF 0x04 /* Ctrl-D */

struct console {
	int in_fd;
	int out_fd;
	bool raw; /* terminal switched to raw mode, restore on exit */
	bool escapes; /* interpret Ctrl-A sequences */
	bool escape_seen;
	bool eof; /* input ended */
	bool send_eof; /* queue Ctrl-D at end of input (guest command mode) */
	atomic_bool ready; /* the guest takes input (see console_guest_ready) */
	struct termios saved;

	/* Where input goes: the UART or virtio-console; returns bytes taken. */
	size_t (*receive)(void *dev, const uint8_t *data, size_t len);
	void *dev;
	struct vm_stop_hook stop;
	pthread_t thread;
	bool thread_started;
	int wake_efd; /* rx_ready and shutdown wake the input thread */
	atomic_bool quit;

	/*
	 * Optional: runs first on the input thread (kvmini loads the thread's
	 * seccomp filter there); console_start() waits for it and fails with
	 * its error.
	 */
	int (*thread_init)(void *opaque, struct error *err);
	void *thread_init_opaque;
	sem_t init_done;
	struct error init_err;

	uint8_t pending[256]; /* input the UART has not taken yet */
	size_t pending_len;
};

/*
 * Set up the console. @interactive: a shell session (raw terminal and Ctrl-A
 * escapes when @in_fd is a terminal). Fails only if an eventfd cannot be made.
 */
int console_init(struct console *con, int in_fd, int out_fd, bool interactive, struct error *err);

/*
 * Hold input until console_guest_ready() (for guests running kvmini's init,
 * which announces itself through KVMINI_READY_PORT).
 */
void console_wait_for_guest(struct console *con);

/* machine_config.guest_ready callback: start passing input. */
void console_guest_ready(void *opaque);

/* Device callbacks (uart16550_ops, virtio_console_ops); opaque is the console. */
void console_tx(void *opaque, uint8_t byte);
void console_write(void *opaque, const uint8_t *data, size_t len);
void console_rx_ready(void *opaque);

/*
 * Start feeding input to @dev through @receive (uart16550_receive or
 * virtio_console_receive); Ctrl-A x fires @stop with VM_STOP_SIGNAL.
 */
int console_start(struct console *con,
		  size_t (*receive)(void *dev, const uint8_t *data, size_t len), void *dev,
		  const struct vm_stop_hook *stop, struct error *err);

/* Stop the input thread and restore the terminal. Idempotent. */
void console_finish(struct console *con);

/*
 * Put the terminal back as the console found it, if it is still in raw
 * mode, for a handler about to kill the process. Async-signal-safe.
 */
void console_crash_restore(void);

/*
 * Pure input filter for escapes, exposed for tests: copies @in to @out
 * (capacity >= @len), dropping escape sequences. Returns the number of bytes
 * written; sets *@quit on Ctrl-A x.
 */
size_t console_filter_input(struct console *con, const uint8_t *in, size_t len, uint8_t *out,
			    bool *quit);

#endif
