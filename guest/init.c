// SPDX-License-Identifier: MIT
/*
 * kvmini-init: PID 1 of kvmini's default initramfs. Static, plain libc.
 *
 * Protocol with kvmini (host side: src/cli/cmdline.h; keep both in step).
 * kvmini boots the kernel with
 *     <defaults> [quiet loglevel=1] <user --cmdline> [kvmini.stamp] [kvmini.cmd=<hex>]
 * and this program reads /proc/cmdline (the last occurrence of a parameter
 * wins):
 *   kvmini.cmd=<hex>  run this command instead of a shell. <hex> is the
 *                     arguments joined with NUL bytes, in hex (either case),
 *                     so every byte survives; "" is one empty argument.
 *   kvmini.stamp      print "kvmini-init: start <CLOCK_BOOTTIME seconds with
 *                     6 decimals>" on the console before anything else.
 *   kvmini.debug      report non-fatal problems (modules, mounts...).
 *
 * Command mode: the console tty passes output byte-exact (OPOST off, so no
 * \n -> \r\n), input stays canonical without echo (line-oriented text, lines
 * up to 4095 bytes; a 0x04 from the host at the start of a line is EOF, ^C
 * interrupts). Shell mode: /bin/sh on the console with the kernel's default
 * tty settings. Either way the program's exit status goes to kvmini as one
 * byte written to I/O port 0x4f0, which kvmini exits with:
 *   N        the program exited with N
 *   126/127  it could not be executed / was not found (shell conventions)
 *   128+S    it was killed by signal S
 *   125      this init failed ("kvmini-init: <what>: <reason>" on the console)
 *   0        halt or poweroff from inside the guest (busybox signals PID 1)
 * reboot from inside the guest reboots (reboot=k makes that a reset, which
 * stops kvmini). Outside kvmini (QEMU without a device at 0x4f0) the port
 * write does nothing and the init reboots instead; with QEMU's isa-debug-exit
 * at 0x4f0 QEMU exits with (status << 1) | 1.
 *
 * Kernel modules listed in /etc/kvmini/modules (one path per line, in load
 * order) are loaded before the program starts; failures never stop the boot.
 *
 * This init is the session leader that owns the console tty; the program
 * runs in a process group of its own in the foreground. Were the program the
 * session leader, its exit would hang up the tty and the kernel would throw
 * away output still queued for the UART.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define EXIT_PORT 0x4f0
#define EXIT_PORT_LEN 4
#define READY_PORT 0x4f4 /* "console ready": kvmini starts passing input */
#define STATUS_INIT_FAILED 125
#define STATUS_NOT_EXECUTABLE 126
#define STATUS_NOT_FOUND 127
#define MODULE_LIST "/etc/kvmini/modules"
#define CMDLINE_BUF_SIZE 16384

struct init_state {
	bool stamp;
	bool debug;
	const char *cmd_hex; /* into cmdline; NULL: shell mode */
	char cmdline[CMDLINE_BUF_SIZE];
	int console_fd; /* -1 until opened */
	sigset_t orig_mask; /* restored in the child */
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	static const char prefix[] = "kvmini-init: ";
	char line[512];
	size_t len = sizeof(prefix) - 1;
	va_list ap;
	int n;

	memcpy(line, prefix, len);
	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len += (size_t)n < sizeof(line) - len - 1 ? (size_t)n : sizeof(line) - len - 2;
	line[len++] = '\n';
	/* One write, so the line is not split by other console output. */
	(void)!write(STDERR_FILENO, line, len);
}

#define debug(s, ...)                     \
	do {                              \
		if ((s)->debug)           \
			say(__VA_ARGS__); \
	} while (0)

/*
 * Wait until the UART has sent all the console output queued so far. The
 * program's process group may still be the console's foreground one: to the
 * tty, this init is then a background process of an orphaned process group,
 * and tcdrain() fails with EIO at once, without waiting (the output still
 * queued was lost when kvmini stopped). So take the foreground back first,
 * with SIGTTOU blocked as tcsetpgrp() from the background needs.
 */
static void drain_console(struct init_state *s)
{
	sigset_t ttou, old;

	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	if (tcsetpgrp(s->console_fd, getpid()) < 0)
		debug(s, "console foreground: %s", strerror(errno));
	while (tcdrain(s->console_fd) < 0 && errno == EINTR)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Never returns: the VM ends here (or the machine reboots). */
static void __attribute__((noreturn)) report_status(struct init_state *s, int status)
{
	sync();
	if (s->console_fd >= 0)
		drain_console(s);
	if (ioperm(EXIT_PORT, EXIT_PORT_LEN, 1) == 0)
		outb((unsigned char)status, EXIT_PORT);
	/* Still here: not under kvmini. reboot=k and QEMU's -no-reboot end the VM. */
	debug(s, "exit port 0x%x did not stop the machine; rebooting", EXIT_PORT);
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static void __attribute__((noreturn)) fatal(struct init_state *s, const char *what, int errnum)
{
	say("%s: %s", what, strerror(errnum));
	report_status(s, STATUS_INIT_FAILED);
}

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

/* Returns 0 or -errno; an already mounted target counts as success. */
static int mount_fs(const char *type, const char *target, unsigned long flags, const char *data)
{
	int ret = make_dir(target, 0755);

	if (ret < 0)
		return ret;
	if (mount(type, target, type, flags, data) == 0 || errno == EBUSY)
		return 0;
	return -errno;
}

static void mount_required(struct init_state *s, const char *type, const char *target,
			   unsigned long flags)
{
	char what[64];
	int ret = mount_fs(type, target, flags, NULL);

	if (ret < 0) {
		snprintf(what, sizeof(what), "mounting %s on %s", type, target);
		fatal(s, what, -ret);
	}
}

static void mount_optional(struct init_state *s, const char *type, const char *target,
			   unsigned long flags, const char *data)
{
	int ret = mount_fs(type, target, flags, data);

	if (ret < 0)
		debug(s, "mounting %s on %s: %s", type, target, strerror(-ret));
}

/* The kernel leaves fds 0-2 closed when the initramfs has no /dev/console. */
static void ensure_std_fds(void)
{
	int fd = -1;

	for (int i = 0; i <= 2; i++) {
		if (fcntl(i, F_GETFD) >= 0)
			continue;
		if (fd < 0)
			fd = open("/dev/console", O_RDWR | O_NOCTTY);
		if (fd < 0)
			return;
		if (fd != i)
			dup2(fd, i);
	}
	if (fd > 2)
		close(fd);
}

/* Reads a small file whole; returns its length or -errno. */
static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len == size - 1)
		return -EFBIG;
	buf[len] = '\0';
	return (ssize_t)len;
}

/*
 * Splits s->cmdline in place into words the way the kernel does (spaces
 * separate, double quotes group) and picks out kvmini's parameters.
 */
static void parse_cmdline(struct init_state *s)
{
	char *p = s->cmdline;

	for (;;) {
		bool quoted = false;
		char *word;

		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		word = p;
		for (; *p && (quoted || !isspace((unsigned char)*p)); p++) {
			if (*p == '"')
				quoted = !quoted;
		}
		if (*p)
			*p++ = '\0';

		if (strcmp(word, "kvmini.stamp") == 0)
			s->stamp = true;
		else if (strcmp(word, "kvmini.debug") == 0)
			s->debug = true;
		else if (strncmp(word, "kvmini.cmd=", 11) == 0)
			s->cmd_hex = word + 11;
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes kvmini.cmd into a NULL-terminated argv; NULL with errno on failure. */
static char **decode_command(const char *hex)
{
	size_t hex_len = strlen(hex), len = hex_len / 2, argc = 1;
	char *bytes, **argv;

	if (hex_len % 2) {
		errno = EINVAL;
		return NULL;
	}
	bytes = malloc(len + 1);
	if (!bytes)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(bytes);
			errno = EINVAL;
			return NULL;
		}
		bytes[i] = (char)(hi << 4 | lo);
		if (bytes[i] == '\0')
			argc++;
	}
	bytes[len] = '\0';

	argv = calloc(argc + 1, sizeof(*argv));
	if (!argv) {
		free(bytes);
		return NULL;
	}
	/* Each NUL ends one argument; the final terminator ends the last. */
	for (size_t i = 0, arg = 0, start = 0; i <= len; i++) {
		if (bytes[i] == '\0') {
			argv[arg++] = bytes + start;
			start = i + 1;
		}
	}
	return argv;
}

static void print_stamp(void)
{
	struct timespec ts;
	char line[64];
	int n;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return;
	n = snprintf(line, sizeof(line), "kvmini-init: start %lld.%06ld\n", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000);
	if (n > 0)
		(void)!write(STDOUT_FILENO, line, (size_t)n);
}

static void setup_dev_links(struct init_state *s)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
			debug(s, "symlink %s: %s", links[i][1], strerror(errno));
	}
}

static void loopback_up(struct init_state *s)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		debug(s, "loopback: %s", strerror(errno));
		return;
	}
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0))
		debug(s, "loopback: %s", strerror(errno));
	close(fd);
}

static void load_modules(struct init_state *s)
{
	char line[4096];
	FILE *list = fopen(MODULE_LIST, "re");

	if (!list) {
		if (errno != ENOENT)
			debug(s, "%s: %s", MODULE_LIST, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), list)) {
		char *path = line, *end;
		int fd;

		while (isspace((unsigned char)*path))
			path++;
		end = path + strlen(path);
		while (end > path && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*path || *path == '#')
			continue;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			debug(s, "module %s: %s", path, strerror(errno));
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			debug(s, "module %s: %s", path, strerror(errno));
		close(fd);
	}
	fclose(list);
}

/* The console's tty: the last of /sys/class/tty/console/active, else /dev/console. */
static int open_console(struct init_state *s)
{
	char active[256], path[64];
	ssize_t len = read_small_file("/sys/class/tty/console/active", active, sizeof(active));
	int fd = -1;

	if (len > 0) {
		char *end = active + len, *name;

		while (end > active && isspace((unsigned char)end[-1]))
			*--end = '\0';
		name = end;
		while (name > active && !isspace((unsigned char)name[-1]))
			name--;
		if (*name && !strchr(name, '/') && strlen(name) < sizeof(path) - 6) {
			snprintf(path, sizeof(path), "/dev/%s", name);
			fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0)
				debug(s, "%s: %s", path, strerror(errno));
		}
	}
	if (fd < 0)
		fd = open("/dev/console", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fatal(s, "opening the console", errno);
	/* O_NONBLOCK only so that the open does not wait for a carrier. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* Output byte-exact, input canonical without echo: see the top of the file. */
static void console_command_mode(struct init_state *s)
{
	struct termios tio;

	if (tcgetattr(s->console_fd, &tio) < 0) {
		debug(s, "console settings: %s", strerror(errno));
		return;
	}
	tio.c_oflag &= ~OPOST;
	tio.c_lflag &= ~(ECHO | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOKE | ECHOPRT | IEXTEN);
	tio.c_lflag |= ICANON | ISIG;
	/* No CR translation and no XON/XOFF, which would swallow bytes. */
	tio.c_iflag &= ~(ICRNL | INLCR | IGNCR | IXON | IXOFF | ISTRIP);
	tio.c_cflag |= CREAD | CLOCAL;
	if (tcsetattr(s->console_fd, TCSANOW, &tio) < 0)
		debug(s, "console settings: %s", strerror(errno));
}

static int wait_status_to_exit(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return STATUS_INIT_FAILED;
}

static void __attribute__((noreturn)) run_child(struct init_state *s, char **argv)
{
	sigset_t ttou;

	/* Own process group in the foreground of the console (see the top). */
	setpgid(0, 0);
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, NULL);
	tcsetpgrp(s->console_fd, getpid());
	sigprocmask(SIG_SETMASK, &s->orig_mask, NULL);

	for (int fd = 0; fd <= 2; fd++) {
		if (dup2(s->console_fd, fd) < 0)
			_exit(STATUS_INIT_FAILED);
	}
	close(s->console_fd);

	execvp(argv[0], argv);
	int exec_errno = errno;

	say("%s: %s", argv[0], strerror(exec_errno));
	_exit(exec_errno == ENOENT || exec_errno == ENOTDIR ? STATUS_NOT_FOUND
							    : STATUS_NOT_EXECUTABLE);
}

static void ignore_signal(int sig)
{
}

int main(void)
{
	static char *shell_argv[] = { "sh", NULL };
	/* Static: starts zeroed, and holds a 16 KiB command line buffer. */
	static struct init_state state;
	struct init_state *s = &state;
	struct sigaction sa = { .sa_handler = ignore_signal };
	sigset_t wait_set;
	char **argv;
	ssize_t len;
	pid_t child;

	s->console_fd = -1;
	if (getpid() != 1) {
		say("must run as PID 1 of a guest");
		return STATUS_INIT_FAILED;
	}
	umask(022);

	mount_required(s, "proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_required(s, "devtmpfs", "/dev", MS_NOSUID);
	ensure_std_fds();

	len = read_small_file("/proc/cmdline", s->cmdline, sizeof(s->cmdline));
	if (len < 0)
		fatal(s, "reading /proc/cmdline", (int)-len);
	parse_cmdline(s);
	if (s->stamp)
		print_stamp();

	mount_optional(s, "sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_optional(s, "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "mode=620,ptmxmode=666");
	mount_optional(s, "tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_optional(s, "tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=755");
	setup_dev_links(s);

	if (setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1) < 0 ||
	    setenv("HOME", "/root", 1) < 0 || setenv("TERM", "linux", 1) < 0)
		fatal(s, "setting the environment", errno);
	if (sethostname("kvmini", 6) < 0)
		debug(s, "hostname: %s", strerror(errno));
	loopback_up(s);
	load_modules(s);

	if (s->cmd_hex) {
		argv = decode_command(s->cmd_hex);
		if (!argv)
			fatal(s, "decoding kvmini.cmd", errno);
	} else {
		argv = shell_argv;
	}

	/* Own the console as session leader (see the top of the file). */
	if (setsid() < 0)
		fatal(s, "setsid", errno);
	s->console_fd = open_console(s);
	if (ioctl(s->console_fd, TIOCSCTTY, 1) < 0)
		debug(s, "console as controlling terminal: %s", strerror(errno));
	if (s->cmd_hex)
		console_command_mode(s);
	/*
	 * Tell kvmini the console is set up: host input typed before now would
	 * have been echoed into the kernel's boot messages (or lost).
	 */
	if (ioperm(READY_PORT, 1, 1) == 0)
		outb(1, READY_PORT);

	/* Signals are taken synchronously; a handler keeps PID 1 from dropping them. */
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, SIGUSR1);
	sigaddset(&wait_set, SIGUSR2);
	sigaddset(&wait_set, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sigismember(&wait_set, sig) == 1)
			sigaction(sig, &sa, NULL);
	}
	if (sigprocmask(SIG_BLOCK, &wait_set, &s->orig_mask) < 0)
		fatal(s, "blocking signals", errno);

	child = fork();
	if (child < 0)
		fatal(s, "fork", errno);
	if (child == 0)
		run_child(s, argv);
	setpgid(child, child); /* the child does it too; whichever runs first */

	for (;;) {
		int sig = sigwaitinfo(&wait_set, NULL);
		int wstatus;
		pid_t pid;

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			fatal(s, "waiting for signals", errno);
		}
		switch (sig) {
		case SIGCHLD:
			while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
				if (pid != child)
					continue;
				debug(s, "%s: exit status %d", argv[0],
				      wait_status_to_exit(wstatus));
				report_status(s, wait_status_to_exit(wstatus));
			}
			break;
		case SIGUSR1: /* busybox halt */
		case SIGUSR2: /* busybox poweroff */
			debug(s, "%s", sig == SIGUSR1 ? "halt" : "power off");
			report_status(s, 0);
		case SIGTERM: /* busybox reboot */
			debug(s, "reboot");
			sync();
			reboot(RB_AUTOBOOT);
			break;
		}
	}
}
