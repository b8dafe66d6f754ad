// SPDX-License-Identifier: MIT
/*
 * The KVM binary stats reader against stats files built in a memfd in the
 * documented layout (good and broken ones), and against the host's /dev/kvm
 * (skipped when it is missing or has no KVM_GET_STATS_FD).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "stats/kvm_stats.h"

#define NAME_SIZE 48 /* what Linux uses */
#define DESC_SIZE (sizeof(struct kvm_stats_desc) + NAME_SIZE)

struct fake_stat {
	const char *name;
	uint32_t flags;
	int16_t exponent;
	uint16_t size;
	uint32_t offset; /* bytes into the data block */
};

static const struct fake_stat normal_stats[] = {
	/* Data offsets deliberately not in descriptor order. */
	{ "exits", KVM_STATS_TYPE_CUMULATIVE, 0, 1, 8 },
	{ "pages", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BYTES | KVM_STATS_BASE_POW2, 12, 1, 0 },
	{ "max_hash", KVM_STATS_TYPE_PEAK, 0, 1, 16 },
	{ "wait_ns", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_SECONDS, -9, 1, 24 },
	{ "wait_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -9, 4, 40 },
	{ "blocking", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BOOLEAN, 0, 1, 32 },
};
#define NORMAL_WORDS 9
static const uint64_t normal_data[NORMAL_WORDS] = { 256, 1000, 7, 123456789, 1, 5, 0, 2, 9 };

/*
 * Write a stats file the way Linux lays it out (header, id, descriptors,
 * data, each 8-aligned) into a new memfd; *hdr gets the header for tampering.
 */
static int make_file(const char *id, const struct fake_stat *stats, unsigned int nr,
		     const uint64_t *data, unsigned int nr_words, struct kvm_stats_header *hdr)
{
	size_t size;
	char *buf;
	int fd;

	hdr->flags = 0;
	hdr->name_size = NAME_SIZE;
	hdr->num_desc = nr;
	hdr->id_offset = sizeof(*hdr);
	hdr->desc_offset = hdr->id_offset + NAME_SIZE;
	hdr->data_offset = hdr->desc_offset + nr * DESC_SIZE;
	size = hdr->data_offset + nr_words * sizeof(uint64_t);

	buf = calloc(1, size);
	assert_non_null(buf);
	memcpy(buf, hdr, sizeof(*hdr));
	memcpy(buf + hdr->id_offset, id, strnlen(id, NAME_SIZE));
	for (unsigned int i = 0; i < nr; i++) {
		char *raw = buf + hdr->desc_offset + i * DESC_SIZE;
		struct kvm_stats_desc d = {
			.flags = stats[i].flags,
			.exponent = stats[i].exponent,
			.size = stats[i].size,
			.offset = stats[i].offset,
		};

		memcpy(raw, &d, sizeof(d));
		/* A name of NAME_SIZE characters or more is left unterminated. */
		memcpy(raw + sizeof(d), stats[i].name, strnlen(stats[i].name, NAME_SIZE));
	}
	/* memcpy's source must not be NULL even for 0 bytes (UBSan). */
	if (nr_words)
		memcpy(buf + hdr->data_offset, data, nr_words * sizeof(uint64_t));

	fd = memfd_create("kvm-stats-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	free(buf);
	return fd;
}

static int make_normal(struct kvm_stats_header *hdr)
{
	return make_file("kvm-42/vcpu-0", normal_stats, 6, normal_data, NORMAL_WORDS, hdr);
}

static void put_header(int fd, const struct kvm_stats_header *hdr)
{
	assert_int_equal(pwrite(fd, hdr, sizeof(*hdr), 0), (ssize_t)sizeof(*hdr));
}

/* Open must fail with @code and a message containing @needle. */
static void expect_open_error(int fd, int code, const char *needle)
{
	struct error err = { 0 };
	struct kvm_stats ks;
	int ret = kvm_stats_open_fd(&ks, fd, &err);

	if (ret != code || !strstr(err.msg, needle))
		fail_msg("got %d \"%s\", wanted %d with \"%s\"", ret, err.msg, code, needle);
	assert_int_equal(err.code, code);
	assert_null(strchr(err.msg, '\n'));
	/* A failed open leaves nothing to free and the fd to its owner. */
	assert_int_equal(ks.count, 0);
	assert_null(ks.data);
	kvm_stats_close(&ks);
	assert_true(fcntl(fd, F_GETFD) >= 0);
}

static void test_normal_file(void **state)
{
	struct kvm_stats_header hdr;
	struct error err = { 0 };
	struct kvm_stats ks;
	const uint64_t *v;
	unsigned int nr;
	int fd = make_normal(&hdr);

	(void)state;
	assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
	assert_string_equal(ks.id, "kvm-42/vcpu-0");
	assert_int_equal(kvm_stats_count(&ks), 6);
	assert_int_equal(ks.data_size, NORMAL_WORDS * 8);

	assert_string_equal(kvm_stats_name(&ks, 0), "exits");
	assert_int_equal(kvm_stats_type(&ks, 0), KVM_STAT_CUMULATIVE);
	assert_string_equal(kvm_stats_unit(&ks, 0), "");
	assert_int_equal(kvm_stats_value(&ks, 0), 1000);
	assert_false(kvm_stats_is_histogram(&ks, 0));

	assert_string_equal(kvm_stats_name(&ks, 1), "pages");
	assert_int_equal(kvm_stats_type(&ks, 1), KVM_STAT_INSTANT);
	assert_string_equal(kvm_stats_unit(&ks, 1), "bytes");
	assert_int_equal(ks.descs[1].base, 2);
	assert_int_equal(ks.descs[1].exponent, 12);
	assert_int_equal(kvm_stats_value(&ks, 1), 256);

	assert_int_equal(kvm_stats_type(&ks, 2), KVM_STAT_PEAK);
	assert_int_equal(kvm_stats_value(&ks, 2), 7);

	assert_string_equal(kvm_stats_unit(&ks, 3), "seconds");
	assert_int_equal(ks.descs[3].base, 10);
	assert_int_equal(ks.descs[3].exponent, -9);
	assert_int_equal(kvm_stats_value(&ks, 3), 123456789);

	assert_string_equal(kvm_stats_name(&ks, 4), "wait_hist");
	assert_int_equal(kvm_stats_type(&ks, 4), KVM_STAT_LOG_HIST);
	assert_true(kvm_stats_is_histogram(&ks, 4));
	v = kvm_stats_values(&ks, 4, &nr);
	assert_int_equal(nr, 4);
	assert_int_equal(v[0], 5);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 2);
	assert_int_equal(v[3], 9);
	assert_int_equal(kvm_stats_value(&ks, 4), 16);

	assert_string_equal(kvm_stats_unit(&ks, 5), "boolean");
	assert_int_equal(kvm_stats_value(&ks, 5), 1);

	assert_int_equal(kvm_stats_find(&ks, "max_hash"), 2);
	assert_int_equal(kvm_stats_find(&ks, "blocking"), 5);
	assert_int_equal(kvm_stats_find(&ks, "nonexistent"), -ENOENT);
	assert_string_equal(kvm_stat_type_name(kvm_stats_type(&ks, 4)), "log-hist");

	/* Out-of-range indexes are harmless. */
	assert_string_equal(kvm_stats_name(&ks, 6), "");
	assert_int_equal(kvm_stats_value(&ks, 6), 0);
	assert_null(kvm_stats_values(&ks, 99, &nr));
	assert_int_equal(nr, 0);

	kvm_stats_close(&ks);
	/* open_fd borrowed the fd. */
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

static void test_second_read_sees_new_values(void **state)
{
	struct kvm_stats_header hdr;
	struct error err = { 0 };
	struct kvm_stats ks;
	uint64_t exits = 5000, bucket3 = 100;
	int fd = make_normal(&hdr);

	(void)state;
	assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
	assert_int_equal(kvm_stats_value(&ks, 0), 1000);

	assert_int_equal(pwrite(fd, &exits, 8, hdr.data_offset + 8), 8);
	assert_int_equal(pwrite(fd, &bucket3, 8, hdr.data_offset + 40 + 3 * 8), 8);
	/* Values are a snapshot: unchanged until the next read. */
	assert_int_equal(kvm_stats_value(&ks, 0), 1000);

	assert_int_equal(kvm_stats_read(&ks, &err), 0);
	assert_int_equal(kvm_stats_value(&ks, 0), 5000);
	assert_int_equal(kvm_stats_value(&ks, 4), 5 + 0 + 2 + 100);
	assert_int_equal(kvm_stats_value(&ks, 2), 7);

	/* A file that shrinks under us is an error, not stale or stray data. */
	assert_int_equal(ftruncate(fd, hdr.data_offset + 16), 0);
	assert_int_equal(kvm_stats_read(&ks, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "data block"));

	kvm_stats_close(&ks);
	close(fd);
}

static void test_histogram_sum_saturates(void **state)
{
	static const struct fake_stat hist[] = {
		{ "h", KVM_STATS_TYPE_LINEAR_HIST, 0, 3, 0 },
	};
	const uint64_t data[3] = { UINT64_MAX - 1, 1, 1 };
	struct kvm_stats_header hdr;
	struct error err = { 0 };
	struct kvm_stats ks;
	int fd = make_file("kvm-1", hist, 1, data, 3, &hdr);

	(void)state;
	assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
	assert_int_equal(kvm_stats_type(&ks, 0), KVM_STAT_LINEAR_HIST);
	assert_true(kvm_stats_value(&ks, 0) == UINT64_MAX);
	kvm_stats_close(&ks);
	close(fd);
}

static void test_zero_descriptors(void **state)
{
	struct kvm_stats_header hdr;
	struct error err = { 0 };
	struct kvm_stats ks;
	int fd = make_file("kvm-7", NULL, 0, NULL, 0, &hdr);

	(void)state;
	assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
	assert_int_equal(kvm_stats_count(&ks), 0);
	assert_string_equal(ks.id, "kvm-7");
	assert_int_equal(kvm_stats_read(&ks, &err), 0);
	assert_int_equal(kvm_stats_find(&ks, "exits"), -ENOENT);
	kvm_stats_close(&ks);
	close(fd);
}

static void test_truncated_header(void **state)
{
	struct kvm_stats_header hdr;
	int fd = make_normal(&hdr);

	(void)state;
	assert_int_equal(ftruncate(fd, sizeof(hdr) - 4), 0);
	expect_open_error(fd, -EINVAL, "header truncated (20 of 24");
	assert_int_equal(ftruncate(fd, 0), 0);
	expect_open_error(fd, -EINVAL, "header truncated (0 of 24");
	close(fd);
}

static void test_descriptors_beyond_file(void **state)
{
	struct kvm_stats_header hdr;
	int fd = make_normal(&hdr);

	(void)state;
	hdr.desc_offset = 1u << 20;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "descriptor block at offset 1048576");

	/* Starts inside the file but its last descriptor is cut off. */
	close(fd);
	fd = make_normal(&hdr);
	assert_int_equal(ftruncate(fd, hdr.desc_offset + 2 * DESC_SIZE), 0);
	expect_open_error(fd, -EINVAL, "descriptor block");
	close(fd);
}

static void test_id_beyond_file(void **state)
{
	struct kvm_stats_header hdr;
	int fd = make_normal(&hdr);

	(void)state;
	hdr.id_offset = 0x10000000;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "id string at offset");
	close(fd);
}

static void test_data_beyond_file(void **state)
{
	struct fake_stat stats[2] = {
		{ "a", KVM_STATS_TYPE_CUMULATIVE, 0, 1, 0 },
		{ "b", KVM_STATS_TYPE_CUMULATIVE, 0, 1, 4096 },
	};
	const uint64_t data[2] = { 1, 2 };
	struct kvm_stats_header hdr;
	int fd;

	(void)state;
	/* A value's offset past the data in the file. */
	fd = make_file("kvm-1", stats, 2, data, 2, &hdr);
	expect_open_error(fd, -EINVAL, "data block");
	close(fd);

	/* A histogram whose buckets run past the end of the data. */
	stats[1] = (struct fake_stat){ "h", KVM_STATS_TYPE_LOG_HIST, 0, 2, 8 };
	fd = make_file("kvm-1", stats, 2, data, 2, &hdr);
	expect_open_error(fd, -EINVAL, "data block");
	close(fd);

	/* Same file with one more word is fine. */
	stats[1].size = 1;
	fd = make_file("kvm-1", stats, 2, data, 2, &hdr);
	{
		struct kvm_stats ks;
		struct error err = { 0 };

		assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
		assert_int_equal(kvm_stats_value(&ks, 1), 2);
		kvm_stats_close(&ks);
	}
	close(fd);

	/* The data offset itself beyond the file. */
	fd = make_normal(&hdr);
	hdr.data_offset = 0x7ffffff8;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "data block at offset 2147483640");
	close(fd);
}

static void test_hostile_value_offsets(void **state)
{
	struct fake_stat stats[1] = {
		{ "far", KVM_STATS_TYPE_LOG_HIST, 0, 0xffff, 0xfffffff8 },
	};
	uint64_t data[1] = { 0 };
	struct kvm_stats_header hdr;
	int fd;

	(void)state;
	/* Caught by the size limit, before any allocation of that size. */
	fd = make_file("kvm-1", stats, 1, data, 1, &hdr);
	expect_open_error(fd, -EINVAL, "limit");
	close(fd);

	stats[0] = (struct fake_stat){ "odd", KVM_STATS_TYPE_CUMULATIVE, 0, 1, 4 };
	fd = make_file("kvm-1", stats, 1, data, 1, &hdr);
	expect_open_error(fd, -EINVAL, "not a multiple of 8");
	close(fd);

	/* The format says scalars have exactly one value. */
	stats[0] = (struct fake_stat){ "two", KVM_STATS_TYPE_PEAK, 0, 2, 0 };
	fd = make_file("kvm-1", stats, 1, data, 1, &hdr);
	expect_open_error(fd, -EINVAL, "a peak stat with 2 values");
	close(fd);
}

static void test_unterminated_names(void **state)
{
	char long_name[NAME_SIZE + 1];
	struct fake_stat stats[2] = {
		{ "ok", KVM_STATS_TYPE_CUMULATIVE, 0, 1, 0 },
		{ long_name, KVM_STATS_TYPE_CUMULATIVE, 0, 1, 8 },
	};
	uint64_t data[2] = { 0 };
	struct kvm_stats_header hdr;
	int fd;

	(void)state;
	memset(long_name, 'x', NAME_SIZE);
	long_name[NAME_SIZE] = '\0';
	fd = make_file("kvm-1", stats, 2, data, 2, &hdr);
	expect_open_error(fd, -EINVAL, "descriptor 1: name not NUL-terminated within 48");
	close(fd);

	/* One character shorter fits with its NUL. */
	long_name[NAME_SIZE - 1] = '\0';
	fd = make_file("kvm-1", stats, 2, data, 2, &hdr);
	{
		struct kvm_stats ks;
		struct error err = { 0 };

		assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
		assert_int_equal(strlen(kvm_stats_name(&ks, 1)), NAME_SIZE - 1);
		kvm_stats_close(&ks);
	}
	close(fd);

	stats[1].name = "";
	fd = make_file("kvm-1", stats, 2, data, 2, &hdr);
	expect_open_error(fd, -EINVAL, "descriptor 1 has an empty name");
	close(fd);

	memset(long_name, 'y', NAME_SIZE);
	fd = make_file(long_name, stats, 1, data, 1, &hdr);
	expect_open_error(fd, -EINVAL, "id string not NUL-terminated");
	close(fd);
}

static void test_bad_header_fields(void **state)
{
	struct kvm_stats_header hdr, good;
	int fd = make_normal(&good);

	(void)state;
	hdr = good;
	hdr.name_size = 0;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "name size 0");

	hdr = good;
	hdr.name_size = 0x80000000;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "name size");

	/* Would be 4G descriptors: refused before allocating. */
	hdr = good;
	hdr.num_desc = 0xffffffff;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "limit");

	hdr = good;
	hdr.desc_offset += 4;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "not multiples of 8");

	/* The id string over the header. */
	hdr = good;
	hdr.id_offset = 16;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "header and id string overlap");

	/* Data over the descriptors: values would be read from names. */
	hdr = good;
	hdr.data_offset = hdr.desc_offset + DESC_SIZE;
	put_header(fd, &hdr);
	expect_open_error(fd, -EINVAL, "descriptor block and data block overlap");

	put_header(fd, &good);
	{
		struct kvm_stats ks;
		struct error err = { 0 };

		assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
		kvm_stats_close(&ks);
	}
	close(fd);
}

static void test_unknown_flags_tolerated(void **state)
{
	/* Types, units and bases newer than this code are shown, not refused. */
	static const struct fake_stat stats[] = {
		{ "future", 0xf | (0xe << KVM_STATS_UNIT_SHIFT) | (0xd << KVM_STATS_BASE_SHIFT), 3,
		  2, 0 },
	};
	const uint64_t data[2] = { 3, 4 };
	struct kvm_stats_header hdr;
	struct error err = { 0 };
	struct kvm_stats ks;
	int fd = make_file("kvm-1", stats, 1, data, 2, &hdr);

	(void)state;
	assert_int_equal(kvm_stats_open_fd(&ks, fd, &err), 0);
	assert_int_equal(kvm_stats_type(&ks, 0), KVM_STAT_UNKNOWN);
	assert_string_equal(kvm_stats_unit(&ks, 0), "unknown");
	assert_int_equal(ks.descs[0].base, 0);
	assert_int_equal(kvm_stats_value(&ks, 0), 7);
	kvm_stats_close(&ks);
	close(fd);
}

static void test_no_ioctl_is_eopnotsupp(void **state)
{
	struct error err = { 0 };
	struct kvm_stats ks;
	int fd = memfd_create("not-kvm", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	/* A file without the ioctl answers ENOTTY, like a pre-5.14 KVM. */
	assert_int_equal(kvm_stats_open(&ks, fd, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "this KVM has no binary statistics"));
	assert_int_equal(ks.fd, -1);
	kvm_stats_close(&ks);
	close(fd);

	assert_int_equal(kvm_stats_open(&ks, -1, &err), -EBADF);
	kvm_stats_close(&ks);
}

/* Create a VM and one vCPU, or skip when this host cannot. */
static void kvm_vm_or_skip(int *kvm, int *vm, int *vcpu)
{
	*kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (*kvm < 0) {
		print_message("skipped: /dev/kvm: %s\n", strerror(errno));
		skip();
	}
	*vm = ioctl(*kvm, KVM_CREATE_VM, 0);
	if (*vm < 0) {
		print_message("skipped: KVM_CREATE_VM: %s\n", strerror(errno));
		close(*kvm);
		skip();
	}
	*vcpu = ioctl(*vm, KVM_CREATE_VCPU, 0);
	assert_true(*vcpu >= 0);
}

static void test_real_kvm(void **state)
{
	struct kvm_stats vm_stats, vcpu_stats;
	struct error err = { 0 };
	char want_id[64];
	const uint64_t *v;
	unsigned int nr;
	int kvm, vm, vcpu, ret, idx;

	(void)state;
	kvm_vm_or_skip(&kvm, &vm, &vcpu);
	ret = kvm_stats_open(&vm_stats, vm, &err);
	if (ret == -EOPNOTSUPP) {
		print_message("skipped: %s\n", err.msg);
		close(vcpu);
		close(vm);
		close(kvm);
		skip();
	}
	if (ret)
		fail_msg("VM stats: %s", err.msg);
	if (kvm_stats_open(&vcpu_stats, vcpu, &err))
		fail_msg("vCPU stats: %s", err.msg);

	snprintf(want_id, sizeof(want_id), "kvm-%d", (int)getpid());
	assert_string_equal(vm_stats.id, want_id);
	snprintf(want_id, sizeof(want_id), "kvm-%d/vcpu-0", (int)getpid());
	assert_string_equal(vcpu_stats.id, want_id);

	/* Generic and x86 stats present since the binary stats came in (5.14). */
	assert_true(kvm_stats_find(&vm_stats, "remote_tlb_flush") >= 0);
	assert_true(kvm_stats_find(&vm_stats, "pages_4k") >= 0);
	assert_int_equal(kvm_stats_type(&vm_stats, kvm_stats_find(&vm_stats, "pages_4k")),
			 KVM_STAT_INSTANT);
	idx = kvm_stats_find(&vcpu_stats, "exits");
	assert_true(idx >= 0);
	assert_int_equal(kvm_stats_type(&vcpu_stats, idx), KVM_STAT_CUMULATIVE);
	/* The vCPU has never run. */
	assert_int_equal(kvm_stats_value(&vcpu_stats, idx), 0);
	assert_true(kvm_stats_find(&vcpu_stats, "io_exits") >= 0);
	assert_true(kvm_stats_find(&vcpu_stats, "halt_exits") >= 0);
	idx = kvm_stats_find(&vcpu_stats, "halt_wait_ns");
	assert_true(idx >= 0);
	assert_string_equal(kvm_stats_unit(&vcpu_stats, idx), "seconds");
	assert_int_equal(vcpu_stats.descs[idx].exponent, -9);
	/* Histograms since 5.16. */
	idx = kvm_stats_find(&vcpu_stats, "halt_wait_hist");
	if (idx >= 0) {
		assert_true(kvm_stats_is_histogram(&vcpu_stats, idx));
		v = kvm_stats_values(&vcpu_stats, idx, &nr);
		assert_non_null(v);
		assert_true(nr > 1);
	}

	assert_int_equal(kvm_stats_read(&vm_stats, &err), 0);
	assert_int_equal(kvm_stats_read(&vcpu_stats, &err), 0);
	assert_true(fcntl(vcpu_stats.fd, F_GETFD) & FD_CLOEXEC);

	kvm_stats_close(&vcpu_stats);
	kvm_stats_close(&vm_stats);
	close(vcpu);
	close(vm);
	close(kvm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_file),
		cmocka_unit_test(test_second_read_sees_new_values),
		cmocka_unit_test(test_histogram_sum_saturates),
		cmocka_unit_test(test_zero_descriptors),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_descriptors_beyond_file),
		cmocka_unit_test(test_id_beyond_file),
		cmocka_unit_test(test_data_beyond_file),
		cmocka_unit_test(test_hostile_value_offsets),
		cmocka_unit_test(test_unterminated_names),
		cmocka_unit_test(test_bad_header_fields),
		cmocka_unit_test(test_unknown_flags_tolerated),
		cmocka_unit_test(test_no_ioctl_is_eopnotsupp),
		cmocka_unit_test(test_real_kvm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
