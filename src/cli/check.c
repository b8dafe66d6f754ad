// SPDX-License-Identifier: MIT
/* `kvmini check`: can this host's KVM run kvmini's guests? */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "probe.h"
#include "vm.h"

/* Exit statuses of `kvmini check`, relied on by `make check`. */
#define CHECK_OK 0
#define CHECK_CANNOT_RUN 1 /* KVM is there but cannot run a Linux guest's userspace */
#define CHECK_NO_KVM 3 /* no usable /dev/kvm or a capability is missing */

static void check_usage(FILE *f)
{
	fputs("Usage: kvmini check [OPTIONS]\n"
	      "Probe the host's KVM: API version, the capabilities kvmini needs, and a tiny\n"
	      "guest that times code at CPL0 and CPL3 and makes a SYSCALL from CPL3.\n"
	      "Prints a verdict.\n"
	      "\n"
	      "Options:\n"
	      "  -q, --quiet           print only the verdict\n"
	      "      --kvm-device PATH KVM device node (default /dev/kvm)\n"
	      "  -h, --help            show this help\n"
	      "\n"
	      "Exit status: 0 the host can run guests; 1 KVM works but cannot run an\n"
	      "unmodified Linux guest's userspace; 3 no usable KVM.\n",
	      f);
}

/* A hint about the kind of host, from /proc/cpuinfo and loaded modules. */
static const char *host_kind(void)
{
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return "KVM PVM (no hardware virtualization)";
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return "KVM on Intel VT-x";
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return "KVM on AMD-V";
	return "KVM";
}

int cmd_check(int argc, char **argv)
{
	enum { OPT_KVM_DEV = 256 };
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "kvm-device", required_argument, NULL, OPT_KVM_DEV },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev = "/dev/kvm";
	struct probe_result res;
	struct error err = { 0 };
	bool quiet = false;
	struct vm vm;
	double cpl0, cpl3;
	int c, ret;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case OPT_KVM_DEV:
			dev = optarg;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			cli_bad_option("check", c, argv);
			return KVMINI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_usage_error("check", "unexpected argument '%s'", argv[optind]);
		return KVMINI_EXIT_USAGE;
	}

	ret = vm_open(&vm, dev, &err);
	if (!quiet && vm.kvm_fd >= 0) {
		printf("device:       %s (%s)\n", dev, host_kind());
		printf("API version:  %d\n", ioctl(vm.kvm_fd, KVM_GET_API_VERSION, 0));
		for (unsigned int i = 0; i < vm_nr_required_caps; i++) {
			const struct kvm_cap_need *cap = &vm_required_caps[i];
			bool ok = ioctl(vm.kvm_fd, KVM_CHECK_EXTENSION, cap->cap) > 0;

			printf("capability:   %-26s %s\n", cap->name, ok ? "ok" : "MISSING");
		}
		if (!ret)
			printf("max vCPUs:    %u\n", vm_max_vcpus(&vm));
	}
	atomic_store(&vm.stopping, true);
	vm_destroy(&vm);
	if (ret) {
		printf("verdict: no usable KVM: %s\n", err.msg);
		return CHECK_NO_KVM;
	}

	ret = x86_probe_run(dev, 20, &res, &err);
	if (ret) {
		printf("verdict: no usable KVM: %s\n", err.msg);
		return CHECK_NO_KVM;
	}
	cpl0 = (double)res.cpl0_cycles / PROBE_LOOPS;
	cpl3 = (double)res.cpl3_cycles / PROBE_LOOPS;
	if (!quiet) {
		if (res.cpl0_cycles)
			printf("probe CPL0:   %.1f TSC cycles per loop iteration\n", cpl0);
		if (res.cpl3_cycles)
			printf("probe CPL3:   %.1f TSC cycles per loop iteration\n", cpl3);
		if (res.syscall_cs)
			printf("probe SYSCALL: handler ran with CS 0x%x (CPL %u)\n", res.syscall_cs,
			       res.syscall_cs & 3);
		else if (res.gp_cs)
			printf("probe SYSCALL: handler ran at CPL %u (CS 0x%x) and faulted\n",
			       res.gp_cs & 3, res.gp_cs);
		if (res.failure[0])
			printf("probe failed: %s\n", res.failure);
	}
	if (!res.finished || !res.syscall_reached_cpl0 || res.unexpected_exception) {
		printf("verdict: this KVM cannot run an unmodified Linux guest's userspace: %s. "
		       "Run guests under a KVM with hardware virtualization, or use the nested lab "
		       "(tests/lab/run).\n",
		       res.gp_cs	? "SYSCALL from CPL3 does not reach CPL0"
		       : res.failure[0] ? res.failure
					: "the probe guest did not complete");
		return CHECK_CANNOT_RUN;
	}
	if (cpl3 > 0 && cpl0 > 20 * cpl3)
		printf("verdict: KVM works, but guest kernel code runs about %.0fx slower than user "
		       "code (instruction emulation?): expect slow boots.\n",
		       cpl0 / cpl3);
	else
		printf("verdict: KVM works: guest kernel and user code run natively, SYSCALL reaches CPL0.\n");
	return CHECK_OK;
}
