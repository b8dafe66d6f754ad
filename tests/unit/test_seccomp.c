// SPDX-License-Identifier: MIT
/*
 * Each role's filter in a forked child: a call the role must not make kills
 * the child with SIGSYS after one line naming the role and the call; an
 * allowed one returns normally (on a bad fd: EBADF). The filters go in
 * through the same hooks kvmini uses where a test can drive them (the event
 * loop and console threads), otherwise on a plain thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "console.h"
#include "event_loop.h"
#include "sandbox/seccomp.h"

struct child {
	int status;
	char err[1024]; /* what the child wrote to stderr */
};

/* Run @fn(@arg) in a child whose stderr is a pipe; it ends with _exit(0) if @fn returns. */
static void run_child(void (*fn)(void *arg), void *arg, struct child *c)
{
	struct rlimit no_core = { 0, 0 };
	size_t n = 0;
	ssize_t r;
	int pfd[2];
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[1]);
		setrlimit(RLIMIT_CORE, &no_core); /* SIGSYS would dump core */
		fn(arg);
		_exit(0);
	}
	close(pfd[1]);
	while ((r = read(pfd[0], c->err + n, sizeof(c->err) - 1 - n)) > 0)
		n += (size_t)r;
	c->err[n] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &c->status, 0), pid);
}

static void assert_trapped(const struct child *c, const char *role, const char *name, long nr)
{
	char want[256];

	snprintf(want, sizeof(want),
		 "kvmini: seccomp: %s thread made a forbidden system call %s (%ld); stopping\n",
		 role, name, nr);
	if (!WIFSIGNALED(c->status) || WTERMSIG(c->status) != SIGSYS)
		fail_msg("child status 0x%x, want killed by SIGSYS; stderr '%s'", c->status,
			 c->err);
	assert_string_equal(c->err, want);
}

/* The child exited with @code (a probe's errno) and wrote nothing. */
static void assert_exited(const struct child *c, int code)
{
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != code)
		fail_msg("child status 0x%x, want exit %d; stderr '%s'", c->status, code, c->err);
	assert_string_equal(c->err, "");
}

/* --- a role's filter on a plain thread ------------------------------------ */

struct probe {
	enum seccomp_role role;
	unsigned int flags;
	void (*on_trap)(void);
	long (*call)(const struct probe *p);
	pid_t parent;
};

static void *probe_thread(void *arg)
{
	const struct probe *p = arg;
	struct error err = { 0 };
	long ret;

	if (seccomp_install(p->role, p->flags, &err))
		return (void *)(intptr_t)200;
	errno = 0;
	ret = p->call(p);
	return (void *)(intptr_t)(ret < 0 ? errno : 0);
}

/* Child: exits with the probe call's errno (0 when it succeeded). */
static void child_probe(void *arg)
{
	struct error err = { 0 };
	pthread_t t;
	void *code;

	if (seccomp_prepare(((struct probe *)arg)->on_trap, &err))
		_exit(201);
	if (pthread_create(&t, NULL, probe_thread, arg) || pthread_join(t, &code))
		_exit(202);
	_exit((int)(intptr_t)code);
}

static void probe(struct probe *p, struct child *c)
{
	p->parent = getpid();
	run_child(child_probe, p, c);
}

static long call_socket(const struct probe *p)
{
	return socket(AF_UNIX, SOCK_STREAM, 0);
}

static long call_create_file(const struct probe *p)
{
	/* /dev/null: nothing is made even if a filter let it through. */
	return open("/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
}

static long call_open_rdwr(const struct probe *p)
{
	return open("/dev/null", O_RDWR);
}

static long call_kvm_vcpu_ioctls(const struct probe *p)
{
	struct kvm_irq_level irq = { 0 };

	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		return 0; /* exit 0: not the EBADF the test wants */
	return ioctl(-1, KVM_IRQ_LINE, &irq);
}

static long call_kvm_create_vm(const struct probe *p)
{
	return ioctl(-1, KVM_CREATE_VM, 0);
}

static long call_mmap_exec(const struct probe *p)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return m == MAP_FAILED ? -1 : 0;
}

static long call_mmap_rw(const struct probe *p)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED || munmap(m, 4096))
		return -1;
	errno = EBADF; /* the "allowed" exit code the test checks for */
	return -1;
}

static long call_signal_parent(const struct probe *p)
{
	return syscall(SYS_tgkill, p->parent, p->parent, 0);
}

static long call_signal_self(const struct probe *p)
{
	if (syscall(SYS_tgkill, getpid(), gettid(), 0))
		return -1;
	errno = EBADF;
	return -1;
}

static void test_main_forbids_socket(void **state)
{
	struct probe p = { .role = SECCOMP_ROLE_MAIN, .call = call_socket };
	struct child c;

	probe(&p, &c);
	assert_trapped(&c, "main", "socket", SYS_socket);
}

static void test_loader_forbids_socket(void **state)
{
	struct probe p = { .role = SECCOMP_ROLE_LOADER, .call = call_socket };
	struct child c;

	probe(&p, &c);
	assert_trapped(&c, "loader", "socket", SYS_socket);
}

static void test_vcpu_forbids_new_files(void **state)
{
	struct probe p = { .role = SECCOMP_ROLE_VCPU, .call = call_create_file };
	struct child c;

	probe(&p, &c);
	assert_trapped(&c, "vCPU", "openat", SYS_openat);
}

static void test_vcpu_allows_its_kvm_ioctls(void **state)
{
	struct probe p = { .role = SECCOMP_ROLE_VCPU, .call = call_kvm_vcpu_ioctls };
	struct child c;

	probe(&p, &c);
	assert_exited(&c, EBADF);
}

static void test_vcpu_forbids_other_kvm_ioctls(void **state)
{
	struct probe p = { .role = SECCOMP_ROLE_VCPU, .call = call_kvm_create_vm };
	struct child c;

	probe(&p, &c);
	assert_trapped(&c, "vCPU", "ioctl", SYS_ioctl);
}

static void test_never_executable_memory(void **state)
{
	struct probe rw = { .role = SECCOMP_ROLE_IO, .call = call_mmap_rw };
	struct probe exec = { .role = SECCOMP_ROLE_IO, .call = call_mmap_exec };
	struct child c;

	probe(&rw, &c);
	assert_exited(&c, EBADF);
	probe(&exec, &c);
	assert_trapped(&c, "I/O", "mmap", SYS_mmap);
}

static void test_signals_only_to_kvmini(void **state)
{
	struct probe self = { .role = SECCOMP_ROLE_VCPU, .call = call_signal_self };
	struct probe parent = { .role = SECCOMP_ROLE_VCPU, .call = call_signal_parent };
	struct child c;

	probe(&self, &c);
	assert_exited(&c, EBADF);
	probe(&parent, &c);
	assert_trapped(&c, "vCPU", "tgkill", SYS_tgkill);
}

static void test_main_writes_stats_file_only_when_asked(void **state)
{
	struct probe plain = { .role = SECCOMP_ROLE_MAIN, .call = call_create_file };
	struct probe stats = { .role = SECCOMP_ROLE_MAIN,
			       .flags = SECCOMP_MAIN_STATS_FILE,
			       .call = call_create_file };
	struct probe reading = { .role = SECCOMP_ROLE_MAIN,
				 .flags = SECCOMP_MAIN_STATS_FILE,
				 .call = call_open_rdwr };
	struct child c;

	probe(&plain, &c);
	assert_trapped(&c, "main", "openat", SYS_openat);
	probe(&stats, &c);
	assert_exited(&c, 0);
	/* Only fopen(path, "w"): no reading files, not even read-write. */
	probe(&reading, &c);
	assert_trapped(&c, "main", "openat", SYS_openat);
}

static void restore_marker(void)
{
	static const char msg[] = "terminal restored\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
}

static void test_on_trap_runs_before_the_end(void **state)
{
	struct probe p = { .role = SECCOMP_ROLE_MAIN,
			   .on_trap = restore_marker,
			   .call = call_socket };
	struct child c;

	probe(&p, &c);
	if (!WIFSIGNALED(c.status) || WTERMSIG(c.status) != SIGSYS)
		fail_msg("child status 0x%x, want SIGSYS", c.status);
	assert_non_null(strstr(c.err, "forbidden system call socket"));
	assert_non_null(strstr(c.err, "; stopping\nterminal restored\n"));
}

/* --- through the event loop's and the console's thread_init hooks --------- */

static int io_filter(void *opaque, struct error *err)
{
	return seccomp_install(SECCOMP_ROLE_IO, 0, err);
}

static void exec_on_loop(void *arg)
{
	char *const argv[] = { "/bin/true", NULL };

	execve(argv[0], argv, argv + 1);
}

static void read_on_loop(void *arg)
{
	char buf[8];

	*(ssize_t *)arg = read(-1, buf, sizeof(buf)) < 0 ? errno : 0;
}

static void child_event_loop(void *arg)
{
	struct event_loop loop;
	struct error err = { 0 };
	ssize_t read_errno = 0;

	if (seccomp_prepare(NULL, &err) || event_loop_init(&loop, "io-test", &err))
		_exit(201);
	loop.thread_init = io_filter;
	if (event_loop_start(&loop, &err))
		_exit(202);
	event_loop_call(&loop, read_on_loop, &read_errno);
	if (read_errno != EBADF)
		_exit(203);
	event_loop_call(&loop, exec_on_loop, NULL);
	_exit(204); /* execve came back */
}

static void test_io_thread_forbids_execve(void **state)
{
	struct child c;

	run_child(child_event_loop, NULL, &c);
	assert_trapped(&c, "I/O", "execve", SYS_execve);
}

static int failing_init(void *opaque, struct error *err)
{
	return error_set(err, -EPERM, "no filter for %s", (const char *)opaque);
}

static void test_event_loop_start_fails_with_thread_init(void **state)
{
	struct event_loop loop;
	struct error err = { 0 };

	assert_int_equal(event_loop_init(&loop, "io-test", &err), 0);
	loop.thread_init = failing_init;
	loop.thread_init_opaque = "the loop";
	assert_int_equal(event_loop_start(&loop, &err), -EPERM);
	assert_string_equal(err.msg, "io-test: no filter for the loop");
	event_loop_destroy(&loop);
}

static size_t take_nothing(void *dev, const uint8_t *data, size_t len)
{
	return 0;
}

/* The console role's filter, then an ioctl only vCPU threads make. */
static int console_filter_then_kvm_run(void *opaque, struct error *err)
{
	int ret = seccomp_install(SECCOMP_ROLE_CONSOLE, 0, err);

	if (!ret)
		ioctl(-1, KVM_RUN, 0);
	return ret;
}

static void child_console(void *arg)
{
	const struct vm_stop_hook stop = { 0 };
	struct console con;
	struct error err = { 0 };
	int pfd[2];

	if (seccomp_prepare(NULL, &err) || pipe(pfd) ||
	    console_init(&con, pfd[0], STDOUT_FILENO, false, &err))
		_exit(201);
	con.thread_init = console_filter_then_kvm_run;
	console_start(&con, take_nothing, NULL, &stop, &err);
	_exit(202);
}

static void test_console_thread_forbids_kvm_run(void **state)
{
	struct child c;

	run_child(child_console, NULL, &c);
	assert_trapped(&c, "console", "ioctl", SYS_ioctl);
}

static void test_console_start_fails_with_thread_init(void **state)
{
	const struct vm_stop_hook stop = { 0 };
	struct console con;
	struct error err = { 0 };
	int pfd[2];

	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(console_init(&con, pfd[0], STDOUT_FILENO, false, &err), 0);
	con.thread_init = failing_init;
	con.thread_init_opaque = "the console";
	assert_int_equal(console_start(&con, take_nothing, NULL, &stop, &err), -EPERM);
	assert_string_equal(err.msg, "console: no filter for the console");
	console_finish(&con);
	close(pfd[0]);
	close(pfd[1]);
}

/* A raw terminal (an interactive console), then a trap on the main thread. */
static void child_raw_terminal(void *arg)
{
	int tty = *(int *)arg;
	struct console con;
	struct error err = { 0 };

	if (seccomp_prepare(console_crash_restore, &err) ||
	    console_init(&con, tty, tty, true, &err))
		_exit(201);
	if (!con.raw)
		_exit(202);
	if (seccomp_install(SECCOMP_ROLE_MAIN, 0, &err))
		_exit(203);
	socket(AF_UNIX, SOCK_STREAM, 0);
	_exit(204);
}

static void test_trap_restores_the_terminal(void **state)
{
	struct termios before, after;
	struct child c;
	int master, tty;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master)) {
		skip();
		return;
	}
	tty = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(tty >= 0);
	assert_int_equal(tcgetattr(tty, &before), 0);
	assert_true(before.c_lflag & ICANON);
	run_child(child_raw_terminal, &tty, &c);
	assert_trapped(&c, "main", "socket", SYS_socket);
	assert_int_equal(tcgetattr(tty, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(after.c_iflag, before.c_iflag);
	assert_int_equal(after.c_oflag, before.c_oflag);
	close(tty);
	close(master);
}

static void test_role_names(void **state)
{
	assert_string_equal(seccomp_role_name(SECCOMP_ROLE_MAIN), "main");
	assert_string_equal(seccomp_role_name(SECCOMP_ROLE_VCPU), "vCPU");
	assert_string_equal(seccomp_role_name(SECCOMP_ROLE_IO), "I/O");
	assert_string_equal(seccomp_role_name(SECCOMP_ROLE_CONSOLE), "console");
	assert_string_equal(seccomp_role_name(SECCOMP_ROLE_LOADER), "loader");
	assert_string_equal(seccomp_role_name(SECCOMP_NR_ROLES), "unknown");
}

static void test_bad_role_is_an_error(void **state)
{
	struct error err = { 0 };

	assert_int_equal(seccomp_install(SECCOMP_NR_ROLES, 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "seccomp"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_main_forbids_socket),
		cmocka_unit_test(test_loader_forbids_socket),
		cmocka_unit_test(test_vcpu_forbids_new_files),
		cmocka_unit_test(test_vcpu_allows_its_kvm_ioctls),
		cmocka_unit_test(test_vcpu_forbids_other_kvm_ioctls),
		cmocka_unit_test(test_never_executable_memory),
		cmocka_unit_test(test_signals_only_to_kvmini),
		cmocka_unit_test(test_main_writes_stats_file_only_when_asked),
		cmocka_unit_test(test_on_trap_runs_before_the_end),
		cmocka_unit_test(test_io_thread_forbids_execve),
		cmocka_unit_test(test_event_loop_start_fails_with_thread_init),
		cmocka_unit_test(test_console_thread_forbids_kvm_run),
		cmocka_unit_test(test_console_start_fails_with_thread_init),
		cmocka_unit_test(test_trap_restores_the_terminal),
		cmocka_unit_test(test_role_names),
		cmocka_unit_test(test_bad_role_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
