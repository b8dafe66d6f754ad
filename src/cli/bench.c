// SPDX-License-Identifier: MIT
/*
 * `kvmini bench`: run guest/benchsuite.c natively and in a kvmini guest, then
 * write the comparison (bench_report.h) to a directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_report.h"
#include "cli.h"
#include "options.h"
#include "stop.h"

#define BENCH_EXIT_FAILED 1
#define SCRATCH_SIZE (64u << 20)
#define DEFAULT_TIMEOUT_S 1800
#define OUTPUT_CAP (16u << 20) /* more console output than this is not kept */
#define TERM_GRACE_MS 5000 /* after SIGTERM, before SIGKILL */
#define SERVER_READY_MS 5000
#define MAX_ARGS 48

extern char **environ;

struct bench_options {
	bool quick;
	const char *out_dir;
	const char *kernel;
	const char *initrd;
	const char *mem;
	const char *cpus;
	const char *net;
	const char *host_addr;
	const char *guest_addr;
	const char *suite;
	unsigned long timeout_s; /* 0: none */
};

/* A captured child: its stdout and how it ended. */
struct child_output {
	char *buf;
	size_t len;
	bool truncated;
	bool timed_out;
	int wstatus;
};

/* "kvmini bench: <message>" on stderr; returns the failed-run status. */
static int bench_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bench_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("bench", fmt, ap);
	va_end(ap);
	return BENCH_EXIT_FAILED;
}

static void bench_usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmini bench [OPTIONS]\n"
		"Run benchsuite (CPU, memory, syscalls, page faults, fork+exec, clocks,\n"
		"fdatasync, TCP round trips) natively and in a kvmini guest, and compare.\n"
		"Writes DIR/report.txt (also printed), report.json, report.gp, report.svg\n"
		"(with gnuplot installed), and the raw outputs native.out and guest.out.\n"
		"\n"
		"Options:\n"
		"  -q, --quick           shorter runs (benchsuite --quick)\n"
		"  -o, --out DIR         output directory (default ./kvmini-bench-YYYYmmdd-HHMMSS)\n"
		"  -k, --kernel PATH     guest kernel (passed to kvmini run)\n"
		"  -i, --initrd PATH     guest initramfs; must hold /bin/benchsuite (default:\n"
		"                        kvmini's own)\n"
		"  -m, --mem SIZE        guest RAM (passed to kvmini run)\n"
		"  -p, --cpus N          guest vCPUs (passed to kvmini run)\n"
		"  -n, --net tap=NAME    add the tcp_rr test: the guest gets a NIC on the TAP\n"
		"                        interface NAME, which must already carry --host-addr;\n"
		"                        netbench rr-server runs on the host for both runs\n"
		"      --host-addr IP    the TAP's IPv4 address on the host (with --net)\n"
		"      --guest-addr IP   the address the guest takes, in the same /24 (with --net)\n"
		"      --suite PATH      the native benchsuite (default: next to kvmini)\n"
		"      --timeout SECS    stop a run after this long (default %d, 0: never)\n"
		"  -h, --help            show this help\n"
		"\n"
		"Exit status: 0 when both runs completed and every test has a finite positive\n"
		"guest/native ratio; %d when something failed (one line says what); %d for a\n"
		"usage error.\n",
		DEFAULT_TIMEOUT_S, BENCH_EXIT_FAILED, KVMINI_EXIT_USAGE);
}

static bool valid_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

/* Returns 0 to go on, 1 after --help, -1 after a usage error (printed). */
static int parse_bench_options(int argc, char **argv, struct bench_options *o)
{
	enum { OPT_HOST_ADDR = 256, OPT_GUEST_ADDR, OPT_SUITE, OPT_TIMEOUT };
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "out", required_argument, NULL, 'o' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "net", required_argument, NULL, 'n' },
		{ "host-addr", required_argument, NULL, OPT_HOST_ADDR },
		{ "guest-addr", required_argument, NULL, OPT_GUEST_ADDR },
		{ "suite", required_argument, NULL, OPT_SUITE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct virtio_net_opts net;
	struct error err = { 0 };
	unsigned long num;
	uint64_t size;
	int c;

	memset(o, 0, sizeof(*o));
	o->timeout_s = DEFAULT_TIMEOUT_S;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qo:k:i:m:p:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o->quick = true;
			break;
		case 'o':
			/* The directory ends up in a --disk value, where ',' separates options. */
			if (!optarg[0] || strchr(optarg, ',') || strlen(optarg) >= PATH_MAX - 64)
				return cli_usage_error(
					"bench", "--out '%s': need a path without ','", optarg);
			o->out_dir = optarg;
			break;
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &size) || !size)
				return cli_usage_error(
					"bench",
					"--mem %s: not a size (use a number with K, M, G or T)",
					optarg);
			o->mem = optarg;
			break;
		case 'p':
			if (parse_uint(optarg, 1, 4096, &num))
				return cli_usage_error("bench", "--cpus %s: not a number of vCPUs",
						       optarg);
			o->cpus = optarg;
			break;
		case 'n':
			if (parse_net_option(optarg, &net, &err))
				return cli_usage_error("bench", "--net %s: %s", optarg, err.msg);
			if (!net.tap[0])
				return cli_usage_error(
					"bench",
					"--net %s: name an existing TAP interface (tap=NAME) that has --host-addr",
					optarg);
			o->net = optarg;
			break;
		case OPT_HOST_ADDR:
			if (!valid_ipv4(optarg))
				return cli_usage_error(
					"bench", "--host-addr %s: not an IPv4 address", optarg);
			o->host_addr = optarg;
			break;
		case OPT_GUEST_ADDR:
			if (!valid_ipv4(optarg))
				return cli_usage_error(
					"bench", "--guest-addr %s: not an IPv4 address", optarg);
			o->guest_addr = optarg;
			break;
		case OPT_SUITE:
			o->suite = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_uint(optarg, 0, 7 * 24 * 3600, &o->timeout_s))
				return cli_usage_error(
					"bench", "--timeout %s: not a number of seconds", optarg);
			break;
		case 'h':
			bench_usage(stdout);
			return 1;
		default:
			return cli_bad_option("bench", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
	if (o->net && (!o->host_addr || !o->guest_addr))
		return cli_usage_error("bench", "--net needs --host-addr and --guest-addr");
	if (!o->net && (o->host_addr || o->guest_addr))
		return cli_usage_error("bench", "--host-addr and --guest-addr go with --net");
	return 0;
}

/* A file next to the kvmini executable. */
static int beside_exe(const char *name, char *buf, size_t len)
{
	char dir[PATH_MAX];

	if (cli_exe_dir(dir, sizeof(dir)))
		return -ENOENT;
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int make_out_dir(const char *dir)
{
	struct stat st;

	if (!mkdir(dir, 0755))
		return 0;
	if (errno == EEXIST && !stat(dir, &st) && S_ISDIR(st.st_mode))
		return 0;
	return bench_error("cannot create %s: %s", dir, strerror(errno));
}

/* Fully written rather than sparse, so the first fdatasync allocates nothing. */
static int make_zero_file(const char *path, size_t size)
{
	static const char zeros[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	for (size_t done = 0; done < size;) {
		ssize_t n =
			write(fd, zeros, size - done < sizeof(zeros) ? size - done : sizeof(zeros));

		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		done += (size_t)n;
	}
	if (close(fd))
		return -errno;
	return 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");
	int ret = 0;

	if (!f)
		return -errno;
	if (len && fwrite(data, 1, len, f) != len)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

/* Start @argv with stdin from /dev/null and stdout to @out_fd (-1: inherited). */
static int spawn(char *const *argv, int out_fd, int close_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int ret;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	if (close_fd >= 0)
		posix_spawn_file_actions_addclose(&fa, close_fd);
	ret = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -ret;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGTERM lets `kvmini run` tear its VM down; SIGKILL if it does not stop. */
static int stop_child(pid_t pid)
{
	int64_t deadline = now_ms() + TERM_GRACE_MS;
	int wstatus;

	kill(pid, SIGTERM);
	while (now_ms() < deadline) {
		if (waitpid(pid, &wstatus, WNOHANG) == pid)
			return wstatus;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	return wstatus;
}

/* Echo each protocol line as it arrives: a long run should show progress. */
static void show_progress(const char *label, const char *buf, size_t from, size_t to)
{
	static const size_t plen = sizeof(BENCH_LINE_PREFIX) - 1;

	while (from < to) {
		const char *line = buf + from;
		const char *nl = memchr(line, '\n', to - from);
		size_t n = nl ? (size_t)(nl - line) : to - from;

		if (!nl)
			return;
		while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
			n--;
		if (n > plen && !memcmp(line, BENCH_LINE_PREFIX " ", plen + 1))
			fprintf(stderr, "kvmini bench: %s: %.*s\n", label, (int)(n - plen - 1),
				line + plen + 1);
		from += (size_t)(nl - line) + 1;
	}
}

/* Read @fd (the child's stdout) to EOF or the deadline, then reap @pid. */
static int capture(pid_t pid, int fd, const char *label, unsigned long timeout_s,
		   struct child_output *out)
{
	int64_t deadline = timeout_s ? now_ms() + (int64_t)timeout_s * 1000 : 0;
	size_t cap = 0, line_start = 0;

	memset(out, 0, sizeof(*out));
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait_ms = -1;
		char chunk[4096];
		ssize_t n;
		int r;

		if (deadline) {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				out->timed_out = true;
				break;
			}
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		r = poll(&pfd, 1, wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return bench_error("poll: %s", strerror(errno));
		if (!r)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len + (size_t)n > OUTPUT_CAP) {
			out->truncated = true;
			continue;
		}
		if (out->len + (size_t)n > cap) {
			size_t want = cap ? cap * 2 : 65536;
			char *p;

			while (want < out->len + (size_t)n)
				want *= 2;
			p = realloc(out->buf, want);
			if (!p)
				return bench_error("out of memory");
			out->buf = p;
			cap = want;
		}
		memcpy(out->buf + out->len, chunk, (size_t)n);
		out->len += (size_t)n;
		show_progress(label, out->buf, line_start, out->len);
		{
			const char *last =
				memrchr(out->buf + line_start, '\n', out->len - line_start);

			if (last)
				line_start = (size_t)(last - out->buf) + 1;
		}
	}
	/* Closing stdout is not exiting: the deadline still holds. */
	while (!out->timed_out) {
		pid_t r = waitpid(pid, &out->wstatus, deadline ? WNOHANG : 0);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return bench_error("waitpid: %s", strerror(errno));
		if (deadline && now_ms() >= deadline)
			out->timed_out = true;
		else if (deadline)
			usleep(20000);
	}
	out->wstatus = stop_child(pid);
	return 0;
}

/* Run @argv with its stdout captured; 0 or an exit status after a printed error. */
static int run_captured(char *const *argv, const char *label, unsigned long timeout_s,
			struct child_output *out)
{
	int pipefd[2];
	pid_t pid;
	int ret;

	if (pipe2(pipefd, O_CLOEXEC))
		return bench_error("pipe: %s", strerror(errno));
	ret = spawn(argv, pipefd[1], pipefd[0], &pid);
	close(pipefd[1]);
	if (ret) {
		close(pipefd[0]);
		return bench_error("%s run: cannot start %s: %s", label, argv[0], strerror(-ret));
	}
	ret = capture(pid, pipefd[0], label, timeout_s, out);
	close(pipefd[0]);
	if (ret)
		stop_child(pid);
	return ret;
}

/* "" when the child exited 0, else what went wrong ("exit status 3"). */
static void describe_end(const struct child_output *out, unsigned long timeout_s, char *buf,
			 size_t len)
{
	buf[0] = '\0';
	if (out->timed_out)
		snprintf(buf, len, "timed out after %lu s", timeout_s);
	else if (WIFEXITED(out->wstatus) && WEXITSTATUS(out->wstatus))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(out->wstatus));
	else if (WIFSIGNALED(out->wstatus))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(out->wstatus));
}

static int free_tcp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &alen))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* The server holds the port once our own bind on it fails with EADDRINUSE. */
static bool port_taken(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool taken;

	if (fd < 0)
		return false;
	taken = bind(fd, (struct sockaddr *)&a, sizeof(a)) && errno == EADDRINUSE;
	close(fd);
	return taken;
}

struct rr_server {
	pid_t pid; /* 0: not running */
	int port;
};

/* `netbench rr-server PORT` (all addresses), its stdout to @log. */
static int start_rr_server(const char *netbench, const char *log, unsigned long timeout_s,
			   struct rr_server *srv)
{
	char port_s[16], wait_s[32];
	char *argv[] = { (char *)netbench, "-w", wait_s, "rr-server", port_s, NULL };
	int64_t deadline;
	int fd, ret, wstatus;

	srv->pid = 0;
	srv->port = free_tcp_port();
	if (srv->port < 0)
		return bench_error("no free TCP port for netbench rr-server");
	snprintf(port_s, sizeof(port_s), "%d", srv->port);
	/* A guest that never connects must not leave the server behind for ever. */
	snprintf(wait_s, sizeof(wait_s), "%lu", timeout_s ? timeout_s + 60 : 7 * 24 * 3600ul);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return bench_error("%s: %s", log, strerror(errno));
	ret = spawn(argv, fd, -1, &srv->pid);
	close(fd);
	if (ret)
		return bench_error("cannot start %s: %s", netbench, strerror(-ret));
	deadline = now_ms() + SERVER_READY_MS;
	while (!port_taken(srv->port)) {
		if (waitpid(srv->pid, &wstatus, WNOHANG) == srv->pid) {
			srv->pid = 0;
			return bench_error("netbench rr-server on port %d exited at once",
					   srv->port);
		}
		if (now_ms() > deadline) {
			stop_child(srv->pid);
			srv->pid = 0;
			return bench_error("netbench rr-server did not listen on port %d",
					   srv->port);
		}
		usleep(10000);
	}
	return 0;
}

static void stop_rr_server(struct rr_server *srv)
{
	int wstatus;

	if (srv->pid && waitpid(srv->pid, &wstatus, WNOHANG) != srv->pid)
		stop_child(srv->pid);
	srv->pid = 0;
}

/* Append one "; "-separated part to the failure line. */
static void add_failure(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_failure(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used && used + 2 < len) {
		memcpy(buf + used, "; ", 3);
		used += 2;
	}
	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Parse one run's output, print its protocol problems, note failures. */
static void judge_run(const char *label, const struct child_output *out, unsigned long timeout_s,
		      const char *what, struct bench_run *run, const struct bench_run *reference,
		      char *fail, size_t fail_len)
{
	struct error err = { 0 };
	char end[64];
	int ret;

	bench_parse_output(out->buf ? out->buf : "", out->len, run);
	for (unsigned int i = 0; i < run->nr_problems && i < BENCH_MAX_PROBLEMS; i++)
		fprintf(stderr, "kvmini bench: warning: %s output: %s\n", label, run->problems[i]);
	if (run->nr_problems > BENCH_MAX_PROBLEMS)
		fprintf(stderr, "kvmini bench: warning: %s output: %u more problems\n", label,
			run->nr_problems - BENCH_MAX_PROBLEMS);
	if (out->truncated)
		fprintf(stderr,
			"kvmini bench: warning: %s output: more than %u bytes, rest dropped\n",
			label, OUTPUT_CAP);
	describe_end(out, timeout_s, end, sizeof(end));
	if (end[0])
		add_failure(fail, fail_len, "%s run: %s %s", label, what, end);
	if (run->nr_problems)
		add_failure(fail, fail_len, "%s output: %u protocol problem%s (see above)", label,
			    run->nr_problems, run->nr_problems > 1 ? "s" : "");
	ret = bench_run_check_done(run, reference, &err);
	if (ret == 1)
		fprintf(stderr,
			"kvmini bench: warning: %s run: no 'done' line, but every test reported (the console's last line was lost)\n",
			label);
	else if (ret < 0 && !end[0])
		add_failure(fail, fail_len, "%s run: %s", label, err.msg);
	else if (ret < 0 && !run->nr_results)
		add_failure(fail, fail_len, "no results from the %s run", label);
}

struct argv_builder {
	char *argv[MAX_ARGS];
	unsigned int n;
};

static void arg(struct argv_builder *b, const char *s)
{
	if (b->n < MAX_ARGS - 1)
		b->argv[b->n++] = (char *)s;
	b->argv[b->n] = NULL;
}

/* benchsuite's own options, shared by both runs. */
static void suite_args(struct argv_builder *b, const struct bench_options *o, const char *file,
		       const char *tcp_rr)
{
	if (o->quick)
		arg(b, "--quick");
	arg(b, "--file");
	arg(b, file);
	if (tcp_rr) {
		arg(b, "--tcp-rr");
		arg(b, tcp_rr);
	}
}

static int write_reports(const char *dir, const struct bench_report *rep)
{
	char path[PATH_MAX], svg[PATH_MAX];
	char *gp_argv[] = { "gnuplot", path, NULL };
	pid_t pid;
	FILE *f;
	int ret, wstatus;

	snprintf(path, sizeof(path), "%s/report.txt", dir);
	f = fopen(path, "we");
	if (!f)
		return bench_error("%s: %s", path, strerror(errno));
	ret = bench_write_text(f, rep);
	if (fclose(f) || ret)
		return bench_error("writing %s failed", path);
	bench_write_text(stdout, rep);
	fflush(stdout);

	snprintf(path, sizeof(path), "%s/report.json", dir);
	f = fopen(path, "we");
	if (!f)
		return bench_error("%s: %s", path, strerror(errno));
	ret = bench_write_json(f, rep);
	if (fclose(f) || ret)
		return bench_error("writing %s failed", path);

	snprintf(svg, sizeof(svg), "%s/report.svg", dir);
	snprintf(path, sizeof(path), "%s/report.gp", dir);
	f = fopen(path, "we");
	if (!f)
		return bench_error("%s: %s", path, strerror(errno));
	ret = bench_write_gnuplot(f, rep, svg);
	if (fclose(f) && !ret)
		ret = -EIO;
	if (ret == -ENODATA) {
		fprintf(stderr, "kvmini bench: no test has both results: no chart\n");
		unlink(path);
		return 0;
	}
	if (ret)
		return bench_error("writing %s failed: %s", path, strerror(-ret));
	ret = spawn(gp_argv, -1, -1, &pid);
	if (ret == -ENOENT) {
		fprintf(stderr,
			"kvmini bench: warning: gnuplot is not installed (apt install gnuplot-nox): no %s\n",
			svg);
		return 0;
	}
	if (ret) {
		fprintf(stderr, "kvmini bench: warning: cannot run gnuplot: %s: no %s\n",
			strerror(-ret), svg);
		return 0;
	}
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus))
		fprintf(stderr, "kvmini bench: warning: gnuplot %s failed: no %s\n", path, svg);
	return 0;
}

static void fill_meta(struct bench_meta *meta, const struct bench_options *o, char *date,
		      size_t date_len, struct utsname *uts, char *cpu, size_t cpu_len, char *kernel,
		      size_t kernel_len)
{
	time_t t = time(NULL);
	struct tm tm;
	char info[65536];
	ssize_t n = -1;
	int fd;

	strftime(date, date_len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	if (uname(uts))
		snprintf(uts->release, sizeof(uts->release), "unknown");
	fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, info, sizeof(info));
		close(fd);
	}
	bench_cpu_model(info, n > 0 ? (size_t)n : 0, cpu, cpu_len);
	if (o->kernel)
		snprintf(kernel, kernel_len, "%s", o->kernel);
	else if (cli_default_kernel(kernel, kernel_len))
		snprintf(kernel, kernel_len, "default (no /boot/vmlinuz-*)");
	*meta = (struct bench_meta){
		.date = date,
		.host_release = uts->release,
		.cpu_model = cpu,
		.guest_kernel = kernel,
		.quick = o->quick,
	};
}

struct bench_state {
	struct bench_options o;
	char dir[PATH_MAX - 64]; /* room for the file names under it */
	char suite[PATH_MAX];
	char netbench[PATH_MAX];
	char exe[PATH_MAX];
	char path[PATH_MAX];
	char disk[PATH_MAX + 32];
	bool direct; /* the output directory takes O_DIRECT (tmpfs does not) */
	char native_rr[64], guest_rr[64];
	char shell_cmd[PATH_MAX + 256];
	struct child_output native_out, guest_out;
	struct bench_run native, guest;
	struct bench_report report;
	char fail[sizeof(((struct error *)0)->msg) * 2];
};

/* Whether the guest's disk image in @dir can be opened with cache=none. */
static bool takes_o_direct(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/scratch.img", dir);
	fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int prepare(struct bench_state *s)
{
	struct bench_options *o = &s->o;
	int ret;

	if (o->suite)
		snprintf(s->suite, sizeof(s->suite), "%s", o->suite);
	else if (beside_exe("benchsuite", s->suite, sizeof(s->suite)))
		return bench_error("cannot find kvmini's directory for benchsuite; pass --suite");
	if (access(s->suite, X_OK))
		return bench_error(
			"benchsuite not found at %s (%s): build it (ninja -C build) or pass --suite",
			s->suite, strerror(errno));
	if (o->net) {
		if (beside_exe("netbench", s->netbench, sizeof(s->netbench)))
			return bench_error("cannot find kvmini's directory for netbench");
		if (access(s->netbench, X_OK))
			return bench_error("netbench not found at %s (needed for --net): build it",
					   s->netbench);
	}
	if (cli_exe_path(s->exe, sizeof(s->exe)))
		return bench_error("cannot read /proc/self/exe");

	if (o->out_dir) {
		snprintf(s->dir, sizeof(s->dir), "%s", o->out_dir);
	} else {
		time_t t = time(NULL);
		struct tm tm;

		strftime(s->dir, sizeof(s->dir), "kvmini-bench-%Y%m%d-%H%M%S",
			 localtime_r(&t, &tm));
	}
	ret = make_out_dir(s->dir);
	if (ret)
		return ret;
	snprintf(s->path, sizeof(s->path), "%s/scratch.img", s->dir);
	ret = make_zero_file(s->path, SCRATCH_SIZE);
	if (!ret) {
		snprintf(s->path, sizeof(s->path), "%s/native-fsync.dat", s->dir);
		ret = make_zero_file(s->path, SCRATCH_SIZE);
	}
	if (ret)
		return bench_error("creating %s: %s", s->path, strerror(-ret));
	s->direct = takes_o_direct(s->dir);
	fprintf(stderr, "kvmini bench: results go to %s\n", s->dir);
	return 0;
}

/* 0, or an exit status when the native run gave nothing to compare with. */
static int run_native(struct bench_state *s)
{
	struct bench_options *o = &s->o;
	struct argv_builder b = { .n = 0 };
	struct rr_server srv = { 0 };
	char log[PATH_MAX + 32];
	int ret;

	if (o->net) {
		snprintf(log, sizeof(log), "%s/rr-server-native.log", s->dir);
		ret = start_rr_server(s->netbench, log, o->timeout_s, &srv);
		if (ret)
			return ret;
		snprintf(s->native_rr, sizeof(s->native_rr), "127.0.0.1:%d", srv.port);
	}
	arg(&b, s->suite);
	snprintf(s->path, sizeof(s->path), "%s/native-fsync.dat", s->dir);
	suite_args(&b, o, s->path, o->net ? s->native_rr : NULL);
	fprintf(stderr, "kvmini bench: native run: %s\n", s->suite);
	ret = run_captured(b.argv, "native", o->timeout_s, &s->native_out);
	stop_rr_server(&srv);
	if (ret)
		return ret;
	snprintf(s->path, sizeof(s->path), "%s/native.out", s->dir);
	write_file(s->path, s->native_out.buf, s->native_out.len);
	judge_run("native", &s->native_out, o->timeout_s, "benchsuite", &s->native, NULL, s->fail,
		  sizeof(s->fail));
	if (!s->native.nr_results) {
		bench_error("failed: %s", s->fail[0] ? s->fail : "no results from the native run");
		return BENCH_EXIT_FAILED;
	}
	return 0;
}

static int run_guest(struct bench_state *s)
{
	struct bench_options *o = &s->o;
	struct argv_builder b = { .n = 0 }, suite = { .n = 0 };
	struct rr_server srv = { 0 };
	char log[PATH_MAX + 32];
	int ret;

	if (o->net) {
		snprintf(log, sizeof(log), "%s/rr-server-guest.log", s->dir);
		ret = start_rr_server(s->netbench, log, o->timeout_s, &srv);
		if (ret)
			return ret;
		snprintf(s->guest_rr, sizeof(s->guest_rr), "%s:%d", o->host_addr, srv.port);
	}
	arg(&b, s->exe);
	arg(&b, "run");
	if (o->kernel) {
		arg(&b, "--kernel");
		arg(&b, o->kernel);
	}
	if (o->initrd) {
		arg(&b, "--initrd");
		arg(&b, o->initrd);
	}
	if (o->mem) {
		arg(&b, "--mem");
		arg(&b, o->mem);
	}
	if (o->cpus) {
		arg(&b, "--cpus");
		arg(&b, o->cpus);
	}
	/* cache=none where possible, so fdatasync in the guest reaches the disk. */
	snprintf(s->disk, sizeof(s->disk), "%s/scratch.img%s", s->dir,
		 s->direct ? ",cache=none" : "");
	arg(&b, "--disk");
	arg(&b, s->disk);
	if (o->net) {
		arg(&b, "--net");
		arg(&b, o->net);
	}
	arg(&b, "--");
	arg(&suite, "/bin/benchsuite");
	suite_args(&suite, o, "/dev/vda", o->net ? s->guest_rr : NULL);
	if (o->net) {
		/* Every word was checked (addresses by inet_pton): no shell quoting needed. */
		int len = snprintf(s->shell_cmd, sizeof(s->shell_cmd),
				   "ip addr add %s/24 dev eth0 && ip link set eth0 up && exec",
				   o->guest_addr);

		for (unsigned int i = 0; i < suite.n; i++)
			len += snprintf(s->shell_cmd + len, sizeof(s->shell_cmd) - (size_t)len,
					" %s", suite.argv[i]);
		arg(&b, "/bin/sh");
		arg(&b, "-c");
		arg(&b, s->shell_cmd);
	} else {
		for (unsigned int i = 0; i < suite.n; i++)
			arg(&b, suite.argv[i]);
	}
	fprintf(stderr, "kvmini bench: guest run: %s run ... -- %s\n", s->exe,
		o->net ? s->shell_cmd : "/bin/benchsuite ...");
	ret = run_captured(b.argv, "guest", o->timeout_s, &s->guest_out);
	stop_rr_server(&srv);
	if (ret)
		return ret;
	snprintf(s->path, sizeof(s->path), "%s/guest.out", s->dir);
	write_file(s->path, s->guest_out.buf, s->guest_out.len);
	judge_run("guest", &s->guest_out, o->timeout_s, "kvmini run", &s->guest, &s->native,
		  s->fail, sizeof(s->fail));
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	struct bench_state *s = calloc(1, sizeof(*s));
	struct utsname uts;
	struct bench_meta meta;
	struct error err = { 0 };
	char date[32], cpu[128], kernel[PATH_MAX];
	int ret;

	if (!s)
		return bench_error("out of memory");
	ret = parse_bench_options(argc, argv, &s->o);
	if (ret) {
		free(s);
		return ret > 0 ? 0 : KVMINI_EXIT_USAGE;
	}
	ret = prepare(s);
	if (!ret)
		ret = run_native(s);
	if (!ret)
		ret = run_guest(s);
	if (!ret) {
		fill_meta(&meta, &s->o, date, sizeof(date), &uts, cpu, sizeof(cpu), kernel,
			  sizeof(kernel));
		bench_report_build(&s->report, &meta, &s->native, &s->guest);
		ret = write_reports(s->dir, &s->report);
	}
	if (!ret) {
		/* Without guest results judge_run said why; a list of every test adds nothing. */
		if (s->guest.nr_results && bench_report_check(&s->report, &err))
			add_failure(s->fail, sizeof(s->fail), "%s", err.msg);
		if (s->fail[0]) {
			bench_error("failed: %s", s->fail);
			ret = BENCH_EXIT_FAILED;
		}
	}
	free(s->native_out.buf);
	free(s->guest_out.buf);
	free(s);
	return ret;
}
