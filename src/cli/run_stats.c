// SPDX-License-Identifier: MIT
/* `kvmini run --stats`: recording, KVM counters, and writing the report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_stats.h"

/* "vm" or "vcpuN", as the report names a counter's scope. */
#define SCOPE_LEN 16
/* A unit with its scale: "ns", "bytes", "2^12 bytes", "10^-7 seconds". */
#define UNIT_LEN 24

static void open_kvm_stats(struct run_stats *rs, struct error *err)
{
	struct vm *vm = rs->vm;

	if (kvm_stats_open(&rs->vm_ks, vm->vm_fd, err)) {
		fprintf(stderr, "kvmini: --stats: no KVM counters in the report: %s\n", err->msg);
		return;
	}
	rs->vcpu_ks = calloc(vm->nr_vcpus, sizeof(*rs->vcpu_ks));
	for (unsigned int i = 0; rs->vcpu_ks && i < vm->nr_vcpus; i++) {
		if (kvm_stats_open(&rs->vcpu_ks[i], vm->vcpus[i].fd, err)) {
			fprintf(stderr, "kvmini: --stats: no KVM counters for vCPU %u: %s\n", i,
				err->msg);
			break;
		}
		rs->nr_vcpu_ks = i + 1;
	}
	rs->kvm_ok = true;
}

int run_stats_init(struct run_stats *rs, struct vm *vm, enum stats_format format, const char *path,
		   uint64_t origin_ns, struct error *err)
{
	struct error kvm_err = { 0 };
	struct stat st;
	FILE *f;
	int ret;

	memset(rs, 0, sizeof(*rs));
	rs->vm = vm;
	rs->format = format;
	rs->path = path;
	rs->origin_ns = origin_ns;
	/* Fail now, not when the guest is done. A FIFO is only checked: opening
	 * it would wait for a reader. */
	if (path && !stat(path, &st) && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		if (access(path, W_OK))
			return error_set(err, -errno, "--stats %s: %s", path, strerror(errno));
	} else if (path) {
		f = fopen(path, "w");
		if (!f)
			return error_set(err, -errno, "--stats %s: %s", path, strerror(errno));
		fclose(f);
	}
	rs->vcpus = calloc(vm->nr_vcpus, sizeof(*rs->vcpus));
	if (!rs->vcpus)
		return error_set(err, -ENOMEM, "--stats: out of memory");
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = exit_stats_init(&rs->vcpus[i], RUN_STATS_MAX_KEYS);
		if (ret)
			return error_set(err, ret, "--stats: out of memory");
	}
	open_kvm_stats(rs, &kvm_err);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].stats = &rs->vcpus[i];
	vm->on_sigusr1 = run_stats_on_signal;
	vm->sigusr1_opaque = rs;
	return 0;
}

/* The unit of stat @idx with its scale folded in, written to @buf. */
static const char *scaled_unit(const struct kvm_stats *ks, unsigned int idx, char *buf)
{
	const struct kvm_stat_desc *d = &ks->descs[idx];
	const char *unit = kvm_stats_unit(ks, idx);

	if (!*unit)
		return NULL;
	if (!d->exponent)
		return unit;
	if (!strcmp(unit, "seconds") && d->base == 10) {
		switch (d->exponent) {
		case -9:
			return "ns";
		case -6:
			return "us";
		case -3:
			return "ms";
		}
	}
	snprintf(buf, UNIT_LEN, "%u^%d %s", d->base, d->exponent, unit);
	return buf;
}

static size_t add_counters(struct kvm_stats *ks, const char *scope, struct stats_counter *c,
			   char (*units)[UNIT_LEN])
{
	struct error err = { 0 };
	unsigned int n = kvm_stats_count(ks);

	if (kvm_stats_read(ks, &err)) {
		fprintf(stderr, "kvmini: --stats: KVM counters of %s: %s\n", scope, err.msg);
		return 0;
	}
	for (unsigned int i = 0; i < n; i++)
		c[i] = (struct stats_counter){
			.scope = scope,
			.name = kvm_stats_name(ks, i),
			.value = kvm_stats_value(ks, i),
			.unit = scaled_unit(ks, i, units[i]),
		};
	return n;
}

static int write_to(FILE *out, struct run_stats *rs, const struct stats_counter *counters,
		    size_t nr_counters)
{
	struct vm *vm = rs->vm;
	const struct exit_stats *vcpus[vm->nr_vcpus ? vm->nr_vcpus : 1];
	struct boot_timeline timeline;
	struct stats_report r = {
		.vcpus = vcpus,
		.nr_vcpus = vm->nr_vcpus,
		.timeline = &timeline,
		.counters = counters,
		.nr_counters = nr_counters,
	};

	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpus[i] = &rs->vcpus[i];
	boot_timeline_copy(&timeline, &vm->timeline, rs->origin_ns);
	return stats_report_write(out, rs->format, &r);
}

/* The report into the file at @path: 0 or -errno. */
static int write_path(struct run_stats *rs, const char *path, const struct stats_counter *c,
		      size_t n)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -errno;
	ret = write_to(f, rs, c, n);
	if (fclose(f) && !ret)
		ret = -EIO;
	return ret;
}

/* Replace @rs->path as a whole, so a reader never sees half a report. */
static int write_file(struct run_stats *rs, const struct stats_counter *c, size_t n,
		      struct error *err)
{
	char tmp[4096];
	struct stat st;
	int ret;

	/* A FIFO or device cannot be renamed over: write it in place. */
	if (!stat(rs->path, &st) && !S_ISREG(st.st_mode)) {
		ret = write_path(rs, rs->path, c, n);
	} else if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", rs->path, (int)getpid()) >=
		   (int)sizeof(tmp)) {
		ret = -ENAMETOOLONG;
	} else {
		ret = write_path(rs, tmp, c, n);
		if (!ret && rename(tmp, rs->path))
			ret = -errno;
		if (ret)
			unlink(tmp);
	}
	return ret ? error_set(err, ret, "--stats %s: %s", rs->path, strerror(-ret)) : 0;
}

/*
 * A terminal may be in raw mode (an interactive guest console) where a bare
 * newline does not return the carriage: end each line with CR LF.
 */
static int write_tty(struct run_stats *rs, const struct stats_counter *c, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int ret;

	if (!mem)
		return -ENOMEM;
	ret = write_to(mem, rs, c, n);
	if (fclose(mem) && !ret)
		ret = -ENOMEM;
	for (size_t i = 0; !ret && i < len; i++) {
		if (buf[i] == '\n' && fputc('\r', stderr) == EOF)
			ret = -EIO;
		if (!ret && fputc(buf[i], stderr) == EOF)
			ret = -EIO;
	}
	free(buf);
	return ret;
}

int run_stats_write(struct run_stats *rs, struct error *err)
{
	char scopes[rs->nr_vcpu_ks + 1][SCOPE_LEN];
	size_t max = 0, n = 0;
	struct stats_counter *c = NULL;
	char(*units)[UNIT_LEN] = NULL;
	int ret;

	if (rs->kvm_ok) {
		max = kvm_stats_count(&rs->vm_ks);
		for (unsigned int i = 0; i < rs->nr_vcpu_ks; i++)
			max += kvm_stats_count(&rs->vcpu_ks[i]);
		c = calloc(max ? max : 1, sizeof(*c));
		units = calloc(max ? max : 1, sizeof(*units));
		if (!c || !units) {
			free(c);
			free(units);
			return error_set(err, -ENOMEM, "--stats: out of memory");
		}
		n = add_counters(&rs->vm_ks, "vm", c, units);
		for (unsigned int i = 0; i < rs->nr_vcpu_ks; i++) {
			snprintf(scopes[i], SCOPE_LEN, "vcpu%u", i);
			n += add_counters(&rs->vcpu_ks[i], scopes[i], c + n, units + n);
		}
	}
	if (rs->path) {
		ret = write_file(rs, c, n, err);
	} else {
		ret = isatty(STDERR_FILENO) ? write_tty(rs, c, n) : write_to(stderr, rs, c, n);
		fflush(stderr);
		if (ret)
			error_set(err, ret, "--stats: cannot write the report: %s", strerror(-ret));
	}
	free(c);
	free(units);
	return ret;
}

void run_stats_on_signal(void *opaque)
{
	struct error err = { 0 };

	if (run_stats_write(opaque, &err))
		fprintf(stderr, "kvmini: %s\n", err.msg);
}

void run_stats_free(struct run_stats *rs)
{
	struct vm *vm = rs->vm;

	if (!vm)
		return;
	vm->on_sigusr1 = NULL;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].stats = NULL;
		if (rs->vcpus)
			exit_stats_free(&rs->vcpus[i]);
	}
	free(rs->vcpus);
	if (rs->kvm_ok)
		kvm_stats_close(&rs->vm_ks);
	for (unsigned int i = 0; i < rs->nr_vcpu_ks; i++)
		kvm_stats_close(&rs->vcpu_ks[i]);
	free(rs->vcpu_ks);
	memset(rs, 0, sizeof(*rs));
}
