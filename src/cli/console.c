// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "console.h"

/*
 * The terminal is a process-wide resource, so the copy of its settings that
 * a fatal-signal handler restores is process-wide too: the one exception to
 * "no global mutable state", written once before raw mode starts.
 */
static struct termios crash_restore_termios;
static volatile sig_atomic_t crash_restore_fd = -1;

void console_crash_restore(void)
{
	if (crash_restore_fd >= 0)
		tcsetattr(crash_restore_fd, TCSANOW, &crash_restore_termios);
}

static void crash_handler(int sig)
{
	console_crash_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void enter_raw_mode(struct console *con)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct termios raw;

	if (tcgetattr(con->in_fd, &con->saved) < 0)
		return;
	raw = con->saved;
	cfmakeraw(&raw);
	/* Keep output processing off too: the guest's tty does its own. */
	if (tcsetattr(con->in_fd, TCSANOW, &raw) < 0)
		return;
	con->raw = true;
	crash_restore_termios = con->saved;
	crash_restore_fd = con->in_fd;
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], crash_handler);
}

int console_init(struct console *con, int in_fd, int out_fd, bool interactive, struct error *err)
{
	memset(con, 0, sizeof(*con));
	con->in_fd = in_fd;
	con->out_fd = out_fd;
	atomic_store(&con->ready, true);
	con->send_eof = !interactive;
	con->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->wake_efd < 0)
		return error_set(err, -errno, "console eventfd: %s", strerror(errno));
	if (interactive && isatty(in_fd)) {
		con->escapes = true;
		enter_raw_mode(con);
	}
	return 0;
}

void console_write(void *opaque, const uint8_t *data, size_t len)
{
	struct console *con = opaque;

	/* Output is best effort: a closed stdout must not stop the guest. */
	while (len) {
		ssize_t n = write(con->out_fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

void console_tx(void *opaque, uint8_t byte)
{
	console_write(opaque, &byte, 1);
}

static void wake(struct console *con)
{
	uint64_t one = 1;

	if (write(con->wake_efd, &one, sizeof(one)) < 0) {
		/* Counter saturated: the thread is awake already. */
	}
}

void console_rx_ready(void *opaque)
{
	wake(opaque);
}

void console_wait_for_guest(struct console *con)
{
	atomic_store(&con->ready, false);
}

void console_guest_ready(void *opaque)
{
	struct console *con = opaque;

	atomic_store(&con->ready, true);
	wake(con);
}

size_t console_filter_input(struct console *con, const uint8_t *in, size_t len, uint8_t *out,
			    bool *quit)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (!con->escapes) {
			out[n++] = c;
			continue;
		}
		if (con->escape_seen) {
			con->escape_seen = false;
			if (c == 'x' || c == 'X') {
				*quit = true;
				return n;
			}
			if (c == CONSOLE_ESCAPE)
				out[n++] = c;
			/* Any other key after Ctrl-A is swallowed. */
			continue;
		}
		if (c == CONSOLE_ESCAPE) {
			con->escape_seen = true;
			continue;
		}
		out[n++] = c;
	}
	return n;
}

/* Push pending input into the UART; true if everything went. */
static bool flush_pending(struct console *con)
{
	size_t n;

	if (!con->pending_len)
		return true;
	if (!atomic_load(&con->ready))
		return false;
	n = con->receive(con->dev, con->pending, con->pending_len);
	memmove(con->pending, con->pending + n, con->pending_len - n);
	con->pending_len -= n;
	return con->pending_len == 0;
}

static void read_input(struct console *con)
{
	uint8_t buf[sizeof(con->pending)];
	bool quit = false;
	ssize_t r;

	r = read(con->in_fd, buf, sizeof(buf) - 2 - con->pending_len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		/*
		 * End of input (or an unreadable stdin): the guest sees EOF. A
		 * tty's EOF only counts at the start of a line and is used up by
		 * one reader, so send it twice.
		 */
		con->eof = true;
		if (con->send_eof) {
			con->pending[con->pending_len++] = CONSOLE_EOF;
			con->pending[con->pending_len++] = CONSOLE_EOF;
		}
		return;
	}
	con->pending_len +=
		console_filter_input(con, buf, (size_t)r, con->pending + con->pending_len, &quit);
	if (quit) {
		con->quit = true;
		vm_stop_hook_fire(&con->stop, VM_STOP_SIGNAL, 0);
	}
}

static void *console_thread(void *arg)
{
	struct console *con = arg;

	if (con->thread_init) {
		con->init_err.code = con->thread_init(con->thread_init_opaque, &con->init_err);
		sem_post(&con->init_done);
		if (con->init_err.code)
			return NULL;
	}
	while (!con->quit) {
		struct pollfd pfd[2] = {
			{ .fd = con->wake_efd, .events = POLLIN },
			{ .fd = con->in_fd, .events = POLLIN },
		};
		/* Only read more when the UART has taken what we hold. */
		bool want_input = flush_pending(con) && !con->eof;
		uint64_t v;

		if (poll(pfd, want_input ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			if (read(con->wake_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				break;
		}
		if (want_input && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			read_input(con);
		else if (want_input && (pfd[1].revents & POLLNVAL))
			con->eof = true;
	}
	return NULL;
}

int console_start(struct console *con,
		  size_t (*receive)(void *dev, const uint8_t *data, size_t len), void *dev,
		  const struct vm_stop_hook *stop, struct error *err)
{
	int ret;

	con->receive = receive;
	con->dev = dev;
	con->stop = *stop;
	if (con->thread_init)
		sem_init(&con->init_done, 0, 0);
	ret = pthread_create(&con->thread, NULL, console_thread, con);
	if (ret) {
		if (con->thread_init)
			sem_destroy(&con->init_done);
		return error_set(err, -ret, "cannot start console thread: %s", strerror(ret));
	}
	con->thread_started = true;
	if (!con->thread_init)
		return 0;
	while (sem_wait(&con->init_done) && errno == EINTR)
		;
	sem_destroy(&con->init_done);
	/* The thread has ended then: console_finish() joins it. */
	if (con->init_err.code)
		return error_set(err, con->init_err.code, "console: %s", con->init_err.msg);
	return 0;
}

void console_finish(struct console *con)
{
	if (con->thread_started) {
		con->quit = true;
		wake(con);
		pthread_join(con->thread, NULL);
		con->thread_started = false;
	}
	if (con->raw) {
		tcsetattr(con->in_fd, TCSANOW, &con->saved);
		crash_restore_fd = -1;
		con->raw = false;
	}
	if (con->wake_efd >= 0) {
		close(con->wake_efd);
		con->wake_efd = -1;
	}
}
