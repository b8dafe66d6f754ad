// SPDX-License-Identifier: MIT
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "stop.h"
#include "vm.h"

void cli_vmessage(const char *cmd, const char *fmt, va_list ap)
{
	if (cmd)
		fprintf(stderr, "kvmini %s: ", cmd);
	else
		fputs("kvmini: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage(NULL, fmt, ap);
	va_end(ap);
	return KVMINI_EXIT_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	if (!fmt) {
		fprintf(stderr, "Try 'kvmini %s --help' for more information.\n", cmd);
		return -1;
	}
	va_start(ap, fmt);
	cli_vmessage(cmd, fmt, ap);
	va_end(ap);
	return -1;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return cli_usage_error(cmd, "option '%s' needs a value (see kvmini %s --help)", arg,
				       cmd);
	if (optopt && strncmp(arg, "--", 2))
		return cli_usage_error(cmd, "unknown option '-%c' (see kvmini %s --help)", optopt,
				       cmd);
	return cli_usage_error(cmd, "unknown option '%s' (see kvmini %s --help)", arg, cmd);
}

static void usage(FILE *f)
{
	fputs("Usage: kvmini COMMAND [OPTIONS]\n"
	      "A small, fast virtual machine monitor on Linux KVM.\n"
	      "\n"
	      "Commands:\n"
	      "  run      boot a kernel, optionally run a command in the guest\n"
	      "  check    probe the host's KVM and say whether it can run guests\n"
	      "  bench    run benchsuite natively and in a guest, and compare\n"
	      "\n"
	      "Options:\n"
	      "  -h, --help     show this help ('kvmini COMMAND --help' for a command's)\n"
	      "  -V, --version  show the version\n",
	      f);
}

int main(int argc, char **argv)
{
	uint64_t main_ns = monotonic_ns();

	if (argc < 2) {
		usage(stderr);
		return KVMINI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("kvmini %s\n", KVMINI_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1, main_ns);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	fprintf(stderr, "kvmini: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return KVMINI_EXIT_USAGE;
}
