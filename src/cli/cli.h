/* SPDX-License-Identifier: MIT */
/* The CLI's subcommands and its one way of printing errors. */
#ifndef KVMINI_CLI_H
#define KVMINI_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Print "kvmini: <message>" (or "kvmini CMD: ..." with @cmd) as one line on stderr. */
void cli_vmessage(const char *cmd, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Print "kvmini: <message>" to stderr; returns KVMINI_EXIT_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Print "kvmini <cmd>: <message>" (or a hint to use --help when @fmt is NULL)
 * and return -1 so option parsers can tail-call it.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Report what getopt_long (with opterr = 0 and a ':' optstring) rejected:
 * @c is its return value. One line; returns -1.
 */
int cli_bad_option(const char *cmd, int c, char **argv);

/* Newest /boot/vmlinuz-* by version order (what `run` boots by default): 0 or -errno. */
int cli_default_kernel(char *buf, size_t len);
/* The kvmini executable, and the directory holding it (and kvmini's own files). */
int cli_exe_path(char *buf, size_t len);
int cli_exe_dir(char *buf, size_t len);

int cmd_run(int argc, char **argv, uint64_t main_ns);
int cmd_check(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
