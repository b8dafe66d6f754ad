// SPDX-License-Identifier: MIT
/*
 * run_stats against a fake VM: no KVM (every fd is -1), so the report has no
 * KVM counters, and the exits are recorded by hand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "run_stats.h"

#define NR_VCPUS 2
#define ORIGIN_NS 5000000000ull

struct fixture {
	char dir[64];
	char path[128];
	struct vm vm;
	struct run_stats rs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_run_stats.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/stats.json", f->dir);
	f->vm.kvm_fd = -1;
	f->vm.vm_fd = -1;
	f->vm.nr_vcpus = NR_VCPUS;
	f->vm.vcpus = calloc(NR_VCPUS, sizeof(*f->vm.vcpus));
	if (!f->vm.vcpus)
		return -1;
	for (unsigned int i = 0; i < NR_VCPUS; i++) {
		f->vm.vcpus[i].vm = &f->vm;
		f->vm.vcpus[i].id = i;
		f->vm.vcpus[i].fd = -1;
	}
	*state = f;
	return 0;
}

static void remove_dir(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (unlink(path))
				remove_dir(path);
		}
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	run_stats_free(&f->rs);
	remove_dir(f->dir);
	free(f->vm.vcpus);
	free(f);
	return 0;
}

static char *read_fd(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	assert_non_null(buf);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	assert_true(n == 0);
	buf[len] = '\0';
	return buf;
}

static char *read_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *text;

	if (fd < 0)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	text = read_fd(fd);
	close(fd);
	return text;
}

#define assert_contains(text, frag)                                         \
	do {                                                                \
		if (!strstr((text), (frag)))                                \
			fail_msg("'%s' not found in:\n%s", (frag), (text)); \
	} while (0)

/*
 * The part of a JSON report between @from and @to (or its end): one vCPU's
 * object, the total, the timeline. Returned in a new string.
 */
static char *section(const char *text, const char *from, const char *to)
{
	const char *start = strstr(text, from), *end;

	if (!start)
		fail_msg("'%s' not found in:\n%s", from, text);
	end = to ? strstr(start, to) : NULL;
	if (to && !end)
		fail_msg("'%s' not found after '%s' in:\n%s", to, from, text);
	return strndup(start, end ? (size_t)(end - start) : strlen(start));
}

static unsigned int count_dir_entries(const char *dir, const char *suffix)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);
	size_t sl = strlen(suffix);

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && l >= sl &&
		    !strcmp(de->d_name + l - sl, suffix))
			n++;
	}
	closedir(d);
	return n;
}

static void init_ok(struct fixture *f, enum stats_format fmt, const char *path)
{
	struct error err = { 0 };

	if (run_stats_init(&f->rs, &f->vm, fmt, path, ORIGIN_NS, &err))
		fail_msg("run_stats_init: %s", err.msg);
}

static void write_ok(struct fixture *f)
{
	struct error err = { 0 };

	if (run_stats_write(&f->rs, &err))
		fail_msg("run_stats_write: %s", err.msg);
}

static void test_init_and_free(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	init_ok(f, STATS_JSON, f->path);
	/* The path is checked (created) at once. */
	assert_int_equal(stat(f->path, &st), 0);
	for (unsigned int i = 0; i < NR_VCPUS; i++) {
		assert_non_null(f->vm.vcpus[i].stats);
		assert_ptr_equal(f->vm.vcpus[i].stats, &f->rs.vcpus[i]);
	}
	assert_ptr_not_equal(f->vm.vcpus[0].stats, f->vm.vcpus[1].stats);
	assert_ptr_equal(f->vm.on_sigusr1, run_stats_on_signal);
	assert_ptr_equal(f->vm.sigusr1_opaque, &f->rs);
	/* No KVM behind the fake fds: no counters, but not an error. */
	assert_false(f->rs.kvm_ok);

	run_stats_free(&f->rs);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		assert_null(f->vm.vcpus[i].stats);
	assert_null(f->vm.on_sigusr1);
	assert_null(f->rs.vm);
	assert_null(f->rs.vcpus);
	/* Twice, and on a never-initialised one: both harmless. */
	run_stats_free(&f->rs);
}

static void record_some(struct fixture *f)
{
	struct exit_stats *s0 = f->vm.vcpus[0].stats, *s1 = f->vm.vcpus[1].stats;

	for (int i = 0; i < 5; i++)
		exit_stats_record_pio(s0, 0x80, true, NULL, 100);
	for (int i = 0; i < 2; i++)
		exit_stats_record_pio(s0, 0x3f8, false, "com1", 200);
	for (int i = 0; i < 3; i++)
		exit_stats_record_exit(s0, KVM_EXIT_HLT, 1000);
	exit_stats_record_mmio(s0, 0xfee00000, true, NULL, 300);

	for (int i = 0; i < 7; i++)
		exit_stats_record_pio(s1, 0x80, true, NULL, 100);
	exit_stats_record_exit(s1, KVM_EXIT_SHUTDOWN, 50);
}

static void test_json_counts(void **state)
{
	struct fixture *f = *state;
	char *text, *v0, *v1, *total;

	init_ok(f, STATS_JSON, f->path);
	record_some(f);
	write_ok(f);
	text = read_file(f->path);
	assert_contains(text, "\"format\": \"kvmini-stats\"");
	assert_true(text[strlen(text) - 2] == '}');
	assert_contains(text, "\"kvm_counters\": []");

	total = section(text, "\"total\": {", "\"vcpus\": [");
	assert_contains(total, "\"exits\": 19,");
	assert_contains(total,
			"{ \"port\": 128, \"dir\": \"out\", \"device\": null, \"count\": 12,");
	assert_contains(total,
			"{ \"port\": 1016, \"dir\": \"in\", \"device\": \"com1\", \"count\": 2,");
	assert_contains(total, "{ \"reason\": \"io\", \"code\": 2, \"count\": 14,");
	assert_contains(total, "{ \"reason\": \"hlt\", \"code\": 5, \"count\": 3,");
	assert_contains(total, "{ \"reason\": \"shutdown\", \"code\": 8, \"count\": 1,");
	assert_contains(total, "\"address\": 4276092928, \"dir\": \"write\"");

	v0 = section(text, "\"vcpu\": 0,", "\"vcpu\": 1,");
	assert_contains(v0, "\"exits\": 11,");
	assert_contains(v0, "{ \"port\": 128, \"dir\": \"out\", \"device\": null, \"count\": 5,");
	assert_contains(v0, "\"count\": 2,");
	assert_null(strstr(v0, "shutdown"));

	v1 = section(text, "\"vcpu\": 1,", "\"kvm_counters\"");
	assert_contains(v1, "\"exits\": 8,");
	assert_contains(v1, "{ \"port\": 128, \"dir\": \"out\", \"device\": null, \"count\": 7,");
	assert_contains(v1, "\"mmio\": []");
	assert_null(strstr(v1, "1016"));

	free(v0);
	free(v1);
	free(total);
	free(text);
}

static void test_timeline_relative(void **state)
{
	struct fixture *f = *state;
	char *text, *tl;

	f->vm.timeline = (struct boot_timeline){
		.vm_created = ORIGIN_NS + 1500,
		.memory_ready = ORIGIN_NS + 2000000,
		.kernel_loaded = ORIGIN_NS - 10, /* before the origin: at it */
		.first_kvm_run = ORIGIN_NS + 3000000000ull,
		.first_serial_byte = 0, /* never */
		.init_started = ORIGIN_NS + 3000000001ull,
		.end = ORIGIN_NS,
	};
	init_ok(f, STATS_JSON, f->path);
	write_ok(f);
	text = read_file(f->path);
	tl = section(text, "\"timeline_ns\": {", "}");
	assert_contains(tl, "\"vm_created\": 1500,");
	assert_contains(tl, "\"memory_ready\": 2000000,");
	assert_contains(tl, "\"kernel_loaded\": 1,");
	assert_contains(tl, "\"first_kvm_run\": 3000000000,");
	assert_contains(tl, "\"first_serial_byte\": null,");
	assert_contains(tl, "\"init_started\": 3000000001,");
	assert_contains(tl, "\"end\": 1\n");
	/* The live timeline is left as it was. */
	assert_int_equal(f->vm.timeline.vm_created, ORIGIN_NS + 1500);
	free(tl);
	free(text);
}

static void test_unwritable_path(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };
	char path[192];

	snprintf(path, sizeof(path), "%s/no-such-dir/stats.json", f->dir);
	assert_int_equal(run_stats_init(&f->rs, &f->vm, STATS_JSON, path, ORIGIN_NS, &err),
			 -ENOENT);
	assert_int_equal(err.code, -ENOENT);
	assert_contains(err.msg, path);
	assert_null(strchr(err.msg, '\n'));
	/* Nothing was switched on. */
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		assert_null(f->vm.vcpus[i].stats);
	assert_null(f->vm.on_sigusr1);
	/* A directory is not writable as a file either. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(run_stats_init(&f->rs, &f->vm, STATS_JSON, f->dir, ORIGIN_NS, &err),
			 -EISDIR);
	assert_contains(err.msg, f->dir);
	assert_null(f->vm.on_sigusr1);
}

static void test_replaced_whole(void **state)
{
	struct fixture *f = *state;
	char *old_text, *new_text, garbage[65536];
	FILE *g = fopen(f->path, "w");
	int reader;

	/* A longer file there before: nothing of it may survive. */
	assert_non_null(g);
	memset(garbage, '#', sizeof(garbage));
	assert_int_equal(fwrite(garbage, 1, sizeof(garbage), g), sizeof(garbage));
	fclose(g);

	init_ok(f, STATS_JSON, f->path);
	exit_stats_record_pio(f->vm.vcpus[0].stats, 0x80, true, NULL, 100);
	write_ok(f);
	/* A reader that opened the first report keeps all of it... */
	reader = open(f->path, O_RDONLY);
	assert_true(reader >= 0);
	for (int i = 0; i < 40; i++)
		exit_stats_record_pio(f->vm.vcpus[0].stats, 0x80, true, NULL, 100);
	write_ok(f);
	old_text = read_fd(reader);
	close(reader);
	assert_null(strchr(old_text, '#'));
	assert_contains(old_text, "\"total\": {\n    \"exits\": 1,");
	assert_true(old_text[strlen(old_text) - 2] == '}');
	/* ...and the path now holds the second one. */
	new_text = read_file(f->path);
	assert_contains(new_text, "\"total\": {\n    \"exits\": 41,");
	assert_null(strchr(new_text, '#'));
	/* Only the report in the directory: no temporary files left over. */
	assert_int_equal(count_dir_entries(f->dir, ""), 1);
	assert_int_equal(count_dir_entries(f->dir, ".tmp"), 0);
	free(old_text);
	free(new_text);
}

static void test_write_fails(void **state)
{
	struct fixture *f = *state;
	struct error err = { 0 };

	init_ok(f, STATS_JSON, f->path);
	/* The directory goes away while the guest runs. */
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(rmdir(f->dir), 0);
	assert_int_equal(run_stats_write(&f->rs, &err), -ENOENT);
	assert_contains(err.msg, f->path);
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(mkdir(f->dir, 0700), 0);
}

static void test_text_and_signal(void **state)
{
	struct fixture *f = *state;
	char *text;

	init_ok(f, STATS_TEXT, f->path);
	exit_stats_record_pio(f->vm.vcpus[1].stats, 0x80, true, NULL, 100);
	/* What vm_wait() calls on SIGUSR1. */
	f->vm.on_sigusr1(f->vm.sigusr1_opaque);
	text = read_file(f->path);
	assert_contains(text, "Boot timeline");
	assert_contains(text, "VM exits, total (2 vCPUs): 1 exits");
	assert_contains(text, "0x0080  out");
	assert_null(strchr(text, '{'));
	free(text);
}

static void test_stderr(void **state)
{
	struct fixture *f = *state;
	char cap_path[192];
	char *text;
	int saved, cap;

	snprintf(cap_path, sizeof(cap_path), "%s/stderr.txt", f->dir);
	init_ok(f, STATS_JSON, NULL);
	/* No file is made for stderr. */
	assert_int_equal(count_dir_entries(f->dir, ""), 0);
	exit_stats_record_exit(f->vm.vcpus[0].stats, KVM_EXIT_HLT, 10);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	cap = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && cap >= 0);
	dup2(cap, STDERR_FILENO);
	close(cap);
	write_ok(f);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	text = read_file(cap_path);
	assert_contains(text, "\"format\": \"kvmini-stats\"");
	assert_contains(text, "{ \"reason\": \"hlt\", \"code\": 5, \"count\": 1,");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_and_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeline_relative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_and_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stderr, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
