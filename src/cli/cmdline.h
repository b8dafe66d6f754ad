/* SPDX-License-Identifier: MIT */
/*
 * The guest kernel command line, and the protocol between kvmini and its
 * guest init (guest/init.c; keep the two comments in step).
 *
 * Command line = CMDLINE_DEFAULT
 *              + " quiet loglevel=1"      only when a guest command is given,
 *                                         so kernel messages do not mix into
 *                                         the command's output
 *              + " " user's --cmdline     after the defaults, so it can
 *                                         override them (last one wins)
 *              + " kvmini.stamp"          when asked for (boot benchmark)
 *              + " kvmini.cmd=<hex>"      when a guest command is given
 *
 * Parameters read by the guest init from /proc/cmdline (last one wins):
 *   kvmini.cmd=<hex>  the guest command: its arguments joined with NUL bytes,
 *                     then lowercase hex, so any byte survives the kernel's
 *                     parser. Run on the console tty with output passed
 *                     byte-exact (no \n -> \r\n) and input canonical without
 *                     echo (0x04 from the host is EOF on the command's stdin).
 *                     Without it the init runs /bin/sh on the console.
 *   kvmini.stamp      the init's first output is
 *                     "kvmini-init: start <CLOCK_BOOTTIME seconds, 6 decimals>"
 *   kvmini.debug      the init reports non-fatal problems (module loading...)
 * The init reports the command's (or shell's) exit status by writing one byte
 * to port 0x4f0 (KVMINI_EXIT_PORT): 127 not found, 126 not executable,
 * 128+N killed by signal N, 125 the init itself failed; halt/poweroff in the
 * guest report 0.
 */
#ifndef KVMINI_CLI_CMDLINE_H
#define KVMINI_CLI_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

struct error;

/*
 * What a stock distribution kernel (Debian 6.1) needs on kvmini's machine:
 * PCI through 0xCF8 with INTx in the MP table, no ACPI (MP table only), 16550 at 0x3f8, in-kernel PIC/IOAPIC/
 * LAPIC/PIT, kvmclock, and the minimal i8042 used for reset.
 *   console=ttyS0     the only console kvmini has
 *   reboot=k          reboot through the i8042 reset line, which stops kvmini
 *                     (the default tries ACPI first, and there is none)
 *   panic=-1          reboot at once on panic, so kvmini exits instead of
 *                     leaving a hung guest
 *   i8042.noaux       no mouse port: its probe waits on timeouts (also
 *                     skips the multiplexer probe, so no i8042.nomux)
 *   i8042.nopnp       no ACPI/PnP to describe the controller: probe directly
 *   i8042.dumbkbd     no keyboard behind the controller: never send it
 *                     commands (each would wait for an ACK that never comes)
 *   io_delay=none     Debian uses port 0x80 writes as I/O delays; each would
 *                     be a VM exit for nothing
 */
#define CMDLINE_DEFAULT \
	"console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nopnp i8042.dumbkbd io_delay=none"

/* Added when a guest command runs. */
#define CMDLINE_COMMAND_QUIET "quiet loglevel=1"

/*
 * The x86 kernel's COMMAND_LINE_SIZE is 2048 including the terminating NUL
 * (Debian's bzImage says cmdline_size = 2047 in its setup header).
 */
#define CMDLINE_MAX_LEN 2047

/*
 * Lowercase hex of @len bytes into @out (2 * @len + 1 bytes, NUL-terminated).
 * Returns the number of characters written (2 * @len) or -ENOSPC when @outlen
 * is too small (nothing useful is written then).
 */
int cmdline_hex_encode(char *out, size_t outlen, const void *data, size_t len);

/*
 * Length of the hex encoding of @argv joined with NUL bytes (no terminator
 * counted). @argv must hold at least one element.
 */
size_t cmdline_argv_hex_len(char *const *argv);

/*
 * Hex of the NULL-terminated @argv joined with NUL bytes into @out; an empty
 * element stays an empty field ("a", "" -> "6100"). Returns the number of
 * characters written, -EINVAL for an empty argv, -ENOSPC when it does not fit.
 */
int cmdline_hex_encode_argv(char *out, size_t outlen, char *const *argv);

/*
 * Build the whole command line (see the top of this file) into @buf.
 * @user_cmdline may be NULL or empty; @argv is the guest command, NULL when
 * there is none (a non-NULL @argv must hold at least one element). Returns
 * the length of the command line, or a negative errno with @err filled:
 * -E2BIG when it exceeds CMDLINE_MAX_LEN, -ENOSPC when @buf is too small,
 * -EINVAL for an empty @argv.
 */
int cmdline_build(char *buf, size_t buflen, const char *user_cmdline, char *const *argv, bool stamp,
		  struct error *err);

#endif
