// SPDX-License-Identifier: MIT
/* `kvmini run`: boot a kernel, optionally run one command in the guest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmdline.h"
#include "console.h"
#include "machine.h"
#include "layout.h"
#include "options.h"
#include "run_stats.h"
#include "sandbox/seccomp.h"

#define DEFAULT_RAM (512ULL << 20)
#define MAX_RAM (1ULL << 40)

struct run_options {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	const char *kvm_dev;
	uint64_t ram_size;
	unsigned int nr_cpus;
	bool timing;
	bool stats;
	const char *stats_path; /* NULL: stderr */
	enum stats_format stats_format;
	bool bzimage_only; /* default kernel: skip the pre-decompressed copy */
	enum kernel_load_mode kernel_load;
	struct virtio_blk_opts disks[MACHINE_MAX_DISKS];
	unsigned int nr_disks;
	struct virtio_net_opts nets[MACHINE_MAX_NICS];
	unsigned int nr_nets;
	bool rng;
	bool virtio_console;
	bool no_seccomp;
	char *const *guest_argv; /* NULL: interactive shell */
	char kernel_buf[PATH_MAX];
	char initrd_buf[PATH_MAX];
};

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmini run [OPTIONS] [-- COMMAND [ARGS...]]\n"
		"Boot a Linux (or Multiboot) kernel in a KVM virtual machine.\n"
		"With COMMAND, the guest runs it, its output appears on stdout and kvmini\n"
		"exits with its status. Without, you get a shell on the serial console\n"
		"(Ctrl-A x quits).\n"
		"\n"
		"Options:\n"
		"  -k, --kernel PATH     bzImage, ELF vmlinux (PVH or 64-bit entry) or Multiboot\n"
		"                        kernel (default: newest /boot/vmlinuz-*, booted from the\n"
		"                        uncompressed copy `make` extracts, build/guest/vmlinux-*,\n"
		"                        when there is one)\n"
		"      --no-vmlinux      with the default kernel, boot the bzImage itself\n"
		"      --kernel-load MODE  how an ELF kernel and the initrd get into guest RAM:\n"
		"                        lazy (default): read in 2 MiB pieces by a thread while\n"
		"                        the guest already runs (copy when userfaultfd is not\n"
		"                        allowed); copy: read before the guest starts; map: the\n"
		"                        kernel mapped from its file (guest gets 4 KiB pages)\n"
		"  -i, --initrd PATH     initramfs (default: kvmini's own for the kernel's release;\n"
		"                        'none' for no initrd)\n"
		"  -c, --cmdline STRING  appended to the default kernel command line\n"
		"  -m, --mem SIZE        guest RAM, with K/M/G/T suffix (default 512M)\n"
		"  -p, --cpus N          number of vCPUs (default 1)\n"
		"  -d, --disk SPEC       a virtio-blk disk (repeatable, /dev/vda, vdb...):\n"
		"                        PATH[,ro][,cache=none|writeback][,serial=STR]\n"
		"                        [,aio=auto|io_uring|sync]; a raw image or block device\n"
		"  -n, --net SPEC        a virtio-net NIC (repeatable, eth0, eth1...):\n"
		"                        tap=NAME attaches to an existing TAP interface; tap\n"
		"                        creates one (needs CAP_NET_ADMIN; removed on exit);\n"
		"                        [,mac=XX:XX:XX:XX:XX:XX] (default: derived from the\n"
		"                        TAP name) [,vhost=on|off] (vhost-net data path)\n"
		"      --rng, --no-rng   a virtio-rng device fed by getrandom() (default on)\n"
		"      --console serial|virtio\n"
		"                        the guest console: the 16550 UART (ttyS0, default) or\n"
		"                        virtio-console (hvc0)\n"
		"      --stats[=FILE]    VM exits per vCPU, reason, port and MMIO address with\n"
		"                        handling times, the boot timeline and KVM's own\n"
		"                        counters, written to FILE (default stderr) when the\n"
		"                        VM stops and on SIGUSR1 (FILE is replaced whole)\n"
		"      --stats-format text|json\n"
		"                        the report's format (default text; implies --stats)\n"
		"      --timing          print boot timing to stderr when the VM stops\n"
		"      --kvm-device PATH KVM device node (default /dev/kvm)\n"
		"      --no-seccomp      for debugging only: no seccomp filters (by default\n"
		"                        every thread may make only the system calls its role\n"
		"                        needs; another one stops kvmini with SIGSYS)\n"
		"  -h, --help            show this help\n"
		"\n"
		"Exit status: the guest command's status; 0 when the guest reboots or powers\n"
		"off; %d when the guest crashed or the host KVM could not run it; %d when\n"
		"kvmini failed; %d for a usage error; 128+N when stopped by signal N (159:\n"
		"SIGSYS, a system call the seccomp filters forbid).\n",
		KVMINI_EXIT_GUEST_FAILED, KVMINI_EXIT_ERROR, KVMINI_EXIT_USAGE);
}

/* Peek at the kernel's first bytes: its format and, for a bzImage, its release. */
static enum kernel_format peek_kernel(const char *path, char *release, size_t len)
{
	static const size_t peek = 0x10000; /* setup code is at most 32 KiB */
	enum kernel_format fmt;
	uint8_t *hdr;
	ssize_t n;
	int fd;

	release[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return KERNEL_UNKNOWN; /* the loader reports the unreadable kernel */
	hdr = malloc(peek);
	n = hdr ? pread(fd, hdr, peek, 0) : -1;
	close(fd);
	fmt = n > 0 ? kernel_detect(hdr, (size_t)n) : KERNEL_UNKNOWN;
	if (fmt == KERNEL_BZIMAGE && bzimage_release(hdr, (size_t)n, release, len))
		release[0] = '\0';
	free(hdr);
	return fmt;
}

/*
 * The default kernel boots from the uncompressed vmlinux that `make` extracts
 * from it (build/guest/vmlinux-<release>), through its PVH entry, when that
 * copy is there and not older than the bzImage: the same kernel without
 * seconds of in-guest decompression. Returns true when it picked the copy.
 */
static bool prefer_vmlinux(struct run_options *o, const char *release)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat bz, elf;

	if (!release[0] || cli_exe_dir(dir, sizeof(dir)) || stat(o->kernel, &bz))
		return false;
	if (snprintf(path, sizeof(path), "%s/guest/vmlinux-%s", dir, release) >=
		    (int)sizeof(path) ||
	    stat(path, &elf) || elf.st_mtime < bz.st_mtime)
		return false;
	snprintf(o->kernel_buf, sizeof(o->kernel_buf), "%s", path);
	o->kernel = o->kernel_buf;
	return true;
}

/*
 * The project's initramfs for the kernel's release. Only bzImages carry a
 * release string; other kernels boot without an initrd unless given one.
 */
static int default_initrd(struct run_options *o, enum kernel_format fmt, const char *release,
			  struct error *err)
{
	char dir[PATH_MAX];

	if (fmt != KERNEL_BZIMAGE)
		return 0;
	if (!release[0])
		return error_set(
			err, -ENOENT,
			"kernel %s: no release string to pick the default initrd; pass --initrd",
			o->kernel);
	if (cli_exe_dir(dir, sizeof(dir)))
		return error_set(err, -ENOENT,
				 "cannot find kvmini's directory for the default initrd");
	if (snprintf(o->initrd_buf, sizeof(o->initrd_buf), "%s/guest/initramfs-%s.cpio", dir,
		     release) >= (int)sizeof(o->initrd_buf))
		return error_set(err, -ENAMETOOLONG, "default initrd path is too long");
	if (access(o->initrd_buf, R_OK))
		return error_set(
			err, -ENOENT,
			"no kvmini initramfs for kernel release %s (%s): build it with 'make initramfs KVER=%s' or pass --initrd",
			release, o->initrd_buf, release);
	o->initrd = o->initrd_buf;
	return 0;
}

static int parse_run_options(int argc, char **argv, struct run_options *o)
{
	enum {
		OPT_TIMING = 256,
		OPT_KVM_DEV,
		OPT_BZIMAGE,
		OPT_KERNEL_LOAD,
		OPT_RNG,
		OPT_NO_RNG,
		OPT_CONSOLE,
		OPT_STATS,
		OPT_STATS_FORMAT,
		OPT_NO_SECCOMP,
	};
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "timing", no_argument, NULL, OPT_TIMING },
		{ "stats", optional_argument, NULL, OPT_STATS },
		{ "stats-format", required_argument, NULL, OPT_STATS_FORMAT },
		{ "kvm-device", required_argument, NULL, OPT_KVM_DEV },
		{ "no-vmlinux", no_argument, NULL, OPT_BZIMAGE },
		{ "kernel-load", required_argument, NULL, OPT_KERNEL_LOAD },
		{ "disk", required_argument, NULL, 'd' },
		{ "net", required_argument, NULL, 'n' },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "no-rng", no_argument, NULL, OPT_NO_RNG },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct error err = { 0 };
	unsigned long cpus;
	int c, ret;

	memset(o, 0, sizeof(*o));
	o->rng = true;
	o->ram_size = DEFAULT_RAM;
	o->nr_cpus = 1;
	o->kvm_dev = "/dev/kvm";
	optind = 1;
	opterr = 0;
	/* '+': stop at the first non-option so the guest command keeps its flags. */
	while ((c = getopt_long(argc, argv, "+:k:i:c:m:p:d:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'c':
			o->cmdline = optarg;
			break;
		case 'm':
			ret = parse_size(optarg, &o->ram_size);
			if (ret)
				return cli_usage_error(
					"run", "--mem %s: %s", optarg,
					ret == -ERANGE
						? "too large"
						: "not a size (use a number with K, M, G or T)");
			if (o->ram_size < LAYOUT_MIN_RAM || o->ram_size > MAX_RAM)
				return cli_usage_error("run", "--mem %s: must be between 2M and 1T",
						       optarg);
			break;
		case 'p':
			ret = parse_uint(optarg, 1, machine_max_cpus(), &cpus);
			if (ret)
				return cli_usage_error("run",
						       "--cpus %s: must be a number from 1 to %u",
						       optarg, machine_max_cpus());
			o->nr_cpus = (unsigned int)cpus;
			break;
		case OPT_TIMING:
			o->timing = true;
			break;
		case OPT_STATS:
			if (optarg && !*optarg)
				return cli_usage_error("run", "--stats=: empty file name");
			o->stats = true;
			o->stats_path = optarg;
			break;
		case OPT_STATS_FORMAT:
			if (stats_format_parse(optarg, &o->stats_format))
				return cli_usage_error(
					"run", "--stats-format %s: must be text or json", optarg);
			o->stats = true;
			break;
		case OPT_KVM_DEV:
			o->kvm_dev = optarg;
			break;
		case OPT_BZIMAGE:
			o->bzimage_only = true;
			break;
		case OPT_KERNEL_LOAD:
			if (!strcmp(optarg, "lazy"))
				o->kernel_load = KERNEL_LOAD_LAZY;
			else if (!strcmp(optarg, "copy"))
				o->kernel_load = KERNEL_LOAD_COPY;
			else if (!strcmp(optarg, "map"))
				o->kernel_load = KERNEL_LOAD_MAP;
			else
				return cli_usage_error(
					"run", "--kernel-load %s: must be lazy, copy or map",
					optarg);
			break;
		case 'd':
			if (o->nr_disks == MACHINE_MAX_DISKS)
				return cli_usage_error("run", "--disk: at most %d disks",
						       MACHINE_MAX_DISKS);
			if (parse_disk_option(optarg, &o->disks[o->nr_disks], &err))
				return cli_usage_error("run", "--disk %s: %s", optarg, err.msg);
			o->nr_disks++;
			break;
		case 'n':
			if (o->nr_nets == MACHINE_MAX_NICS)
				return cli_usage_error("run", "--net: at most %d NICs",
						       MACHINE_MAX_NICS);
			if (parse_net_option(optarg, &o->nets[o->nr_nets], &err))
				return cli_usage_error("run", "--net %s: %s", optarg, err.msg);
			o->nr_nets++;
			break;
		case OPT_RNG:
			o->rng = true;
			break;
		case OPT_NO_RNG:
			o->rng = false;
			break;
		case OPT_CONSOLE:
			if (!strcmp(optarg, "virtio"))
				o->virtio_console = true;
			else if (!strcmp(optarg, "serial"))
				o->virtio_console = false;
			else
				return cli_usage_error(
					"run", "--console %s: must be serial or virtio", optarg);
			break;
		case OPT_NO_SECCOMP:
			o->no_seccomp = true;
			break;
		case 'h':
			run_usage(stdout);
			return 1;
		default:
			return cli_bad_option("run", c, argv);
		}
	}
	if (optind < argc) {
		/* getopt leaves "--" consumed; anything else is a stray argument. */
		if (strcmp(argv[optind - 1], "--"))
			return cli_usage_error(
				"run", "unexpected argument '%s' (put the guest command after --)",
				argv[optind]);
		o->guest_argv = &argv[optind];
	}
	return 0;
}

/* The user's --cmdline, after what --console virtio needs (so it can override). */
static const char *user_cmdline(const struct run_options *o, char *buf, size_t len)
{
	if (!o->virtio_console)
		return o->cmdline;
	snprintf(buf, len, "console=hvc0%s%s", o->cmdline ? " " : "", o->cmdline ? o->cmdline : "");
	return buf;
}

static size_t uart_receive(void *uart, const uint8_t *data, size_t len)
{
	return uart16550_receive(uart, data, len);
}

static void print_timing(const struct machine *m, uint64_t main_ns)
{
	uint64_t first = timeline_get(&m->vm.timeline.first_kvm_run), exits = 0;

	if (!first) {
		fprintf(stderr, "kvmini: timing: vCPU 0 never ran\n");
		return;
	}
	fprintf(stderr,
		"kvmini: timing: main_to_first_kvm_run_ms=%.3f main_monotonic_ns=%llu first_kvm_run_monotonic_ns=%llu\n",
		(double)(first - main_ns) / 1e6, (unsigned long long)main_ns,
		(unsigned long long)first);
	if (m->loader.nr_chunks) {
		uint64_t done = atomic_load(&m->loader.done_ns);

		fprintf(stderr,
			"kvmini: timing: kernel_load=%s chunks=%u read_before_start=%u touched_first=%u main_to_loaded_ms=%.3f\n",
			m->loader.lazy ? "lazy" : "copy", m->loader.nr_chunks, m->loader.nr_eager,
			atomic_load(&m->loader.nr_faults),
			done ? (double)(done - main_ns) / 1e6 : -1.0);
	}
	for (unsigned int i = 0; i < m->vm.nr_vcpus; i++)
		exits += m->vm.vcpus[i].nr_exits;
	fprintf(stderr, "kvmini: vcpu exits: %llu\n", (unsigned long long)exits);
	for (unsigned int i = 0; i < m->pci.nr_nics; i++) {
		struct virtio_net_stats st;

		virtio_net_get_stats(m->pci.nics[i]->net, &st);
		fprintf(stderr,
			"kvmini: %s: rx_packets=%llu rx_bytes=%llu rx_filtered=%llu rx_dropped=%llu rx_errors=%llu tx_packets=%llu tx_bytes=%llu tx_dropped=%llu tx_errors=%llu ctrl_errors=%llu\n",
			m->pci.nics[i]->name, (unsigned long long)st.rx_packets,
			(unsigned long long)st.rx_bytes, (unsigned long long)st.rx_filtered,
			(unsigned long long)st.rx_dropped, (unsigned long long)st.rx_errors,
			(unsigned long long)st.tx_packets, (unsigned long long)st.tx_bytes,
			(unsigned long long)st.tx_dropped, (unsigned long long)st.tx_errors,
			(unsigned long long)st.ctrl_errors);
	}
}

static int vcpu_filter(void *opaque, struct error *err)
{
	return seccomp_install(SECCOMP_ROLE_VCPU, 0, err);
}

static int io_filter(void *opaque, struct error *err)
{
	return seccomp_install(SECCOMP_ROLE_IO, 0, err);
}

static int console_filter(void *opaque, struct error *err)
{
	return seccomp_install(SECCOMP_ROLE_CONSOLE, 0, err);
}

static int loader_filter(void *opaque, struct error *err)
{
	return seccomp_install(SECCOMP_ROLE_LOADER, 0, err);
}

static int main_filter(void *opaque, struct error *err)
{
	const struct run_options *o = opaque;

	return seccomp_install(SECCOMP_ROLE_MAIN, o->stats_path ? SECCOMP_MAIN_STATS_FILE : 0, err);
}

/*
 * Each thread loads its role's seccomp filter as it starts; the main thread
 * its own once vm_start() has started the last thread (filters are
 * inherited). A trap restores the terminal before kvmini dies.
 */
static int setup_seccomp(struct run_options *o, struct machine *m, struct console *con,
			 struct error *err)
{
	int ret = seccomp_prepare(console_crash_restore, err);

	if (ret)
		return ret;
	m->vm.vcpu_thread_init = vcpu_filter;
	m->vm.threads_started = main_filter;
	m->vm.thread_init_opaque = o;
	m->loader.thread_init = loader_filter;
	for (unsigned int i = 0; i < m->pci.nr_slots; i++)
		m->pci.slots[i].loop.thread_init = io_filter;
	con->thread_init = console_filter;
	return 0;
}

/* Say why the guest stopped when it is not the ordinary end, and pick the status. */
static int report_stop(const struct run_options *o, const struct machine *m, int status)
{
	const struct vm *vm = &m->vm;

	switch (vm->stop_reason) {
	case VM_STOP_EXIT_DEVICE:
	case VM_STOP_SIGNAL:
		return status;
	case VM_STOP_RESET:
	case VM_STOP_POWEROFF:
		if (o->guest_argv) {
			fprintf(stderr,
				"kvmini: guest %s before reporting the command's exit status\n",
				vm->stop_reason == VM_STOP_RESET ? "rebooted" : "powered off");
			return KVMINI_EXIT_GUEST_FAILED;
		}
		return status;
	default:
		fprintf(stderr, "kvmini: %s\n", vm->stop_msg[0] ? vm->stop_msg : "guest stopped");
		return status;
	}
}

static int run(struct run_options *o, int argc, char **argv, uint64_t main_ns)
{
	struct machine_config cfg;
	struct console con;
	struct error err = { 0 };
	char cmdline[4096], user[4096], release[128];
	enum kernel_format fmt;
	struct machine m;
	struct run_stats rs = { 0 };
	int ret, status;

	ret = parse_run_options(argc, argv, o);
	if (ret)
		return ret > 0 ? 0 : KVMINI_EXIT_USAGE;
	if (!o->kernel) {
		if (cli_default_kernel(o->kernel_buf, sizeof(o->kernel_buf)))
			return cli_error(
				"no kernel given and no /boot/vmlinuz-* found: pass --kernel (apt install linux-image-amd64)");
		o->kernel = o->kernel_buf;
	}
	fmt = peek_kernel(o->kernel, release, sizeof(release));
	if (o->initrd && !strcmp(o->initrd, "none"))
		o->initrd = NULL;
	else if (!o->initrd && default_initrd(o, fmt, release, &err))
		return cli_error("%s", err.msg);
	if (o->kernel == o->kernel_buf && !o->bzimage_only && prefer_vmlinux(o, release))
		fmt = KERNEL_ELF;
	if (fmt == KERNEL_MULTIBOOT) {
		/* Not Linux: the kernel gets exactly what the user gave. */
		snprintf(cmdline, sizeof(cmdline), "%s", o->cmdline ? o->cmdline : "");
	} else if (cmdline_build(cmdline, sizeof(cmdline), user_cmdline(o, user, sizeof(user)),
				 o->guest_argv, false, &err) < 0) {
		return cli_error("%s", err.msg);
	}

	vm_block_signals();
	if (console_init(&con, STDIN_FILENO, STDOUT_FILENO, !o->guest_argv, &err))
		return cli_error("%s", err.msg);
	cfg = (struct machine_config){
		.kvm_dev = o->kvm_dev,
		.ram_size = o->ram_size,
		.nr_cpus = o->nr_cpus,
		.kernel_path = o->kernel,
		.initrd_path = o->initrd,
		.initrd_name = o->initrd,
		.cmdline = cmdline,
		.kernel_load = o->kernel_load,
		.serial = { .tx = console_tx, .rx_ready = console_rx_ready, .opaque = &con },
		.pci = {
			.disks = o->disks,
			.nr_disks = o->nr_disks,
			.nets = o->nets,
			.nr_nets = o->nr_nets,
			.rng = o->rng,
			.virtio_console = o->virtio_console,
			.console = { .tx = console_write, .rx_ready = console_rx_ready, .opaque = &con },
		},
		.guest_ready = console_guest_ready,
		.guest_ready_opaque = &con,
	};
	/* kvmini's own initramfs announces when its console is ready. */
	if (o->initrd && o->initrd == o->initrd_buf)
		console_wait_for_guest(&con);
	ret = machine_create(&m, &cfg, &err);
	for (unsigned int i = 0; !ret && i < m.pci.nr_nics; i++) {
		if (m.pci.nics[i]->tap.created)
			fprintf(stderr, "kvmini: %s: created TAP interface %s\n",
				m.pci.nics[i]->name, m.pci.nics[i]->tap.ifname);
	}
	if (!ret && o->stats)
		ret = run_stats_init(&rs, &m.vm, o->stats_format, o->stats_path, main_ns, &err);
	if (!ret && !o->no_seccomp)
		ret = setup_seccomp(o, &m, &con, &err);
	if (!ret)
		ret = m.pci.console
			      ? console_start(&con, virtio_console_receive, m.pci.console,
					      &m.vm.stop_hook, &err)
			      : console_start(&con, uart_receive, &m.com1, &m.vm.stop_hook, &err);
	if (ret) {
		run_stats_free(&rs);
		machine_destroy(&m);
		console_finish(&con);
		return cli_error("%s", err.msg);
	}
	status = machine_run(&m, &err);
	console_finish(&con);
	if (status < 0)
		status = cli_error("%s", err.msg);
	else
		status = report_stop(o, &m, status);
	if (o->timing)
		print_timing(&m, main_ns);
	if (o->stats && run_stats_write(&rs, &err))
		status = cli_error("%s", err.msg);
	run_stats_free(&rs);
	machine_destroy(&m);
	return status;
}

int cmd_run(int argc, char **argv, uint64_t main_ns)
{
	struct run_options o;
	int status = run(&o, argc, argv, main_ns);

	/* parse_disk_option() gives each disk its own copy of the option. */
	for (unsigned int i = 0; i < o.nr_disks; i++)
		free((void *)o.disks[i].path);
	return status;
}
