// SPDX-License-Identifier: MIT
/*
 * Reader for KVM's binary statistics files (see kvm_stats.h). The kernel is
 * trusted, but the file's offsets and sizes are still checked before use so
 * that a kernel bug shows up as one clear -EINVAL instead of a wild read.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "stats/kvm_stats.h"

/*
 * Sanity limits, far above what any kernel uses (names of 48 bytes, a few
 * hundred stats), so hostile sizes cannot make us allocate gigabytes.
 */
#define KVM_STATS_MAX_NAME_SIZE 4096u
#define KVM_STATS_MAX_BLOCK (16u << 20)

/* The fixed part of struct kvm_stats_desc; the name follows it. */
#define KVM_STATS_DESC_FIXED sizeof(struct kvm_stats_desc)

struct extent {
	const char *what;
	uint64_t start, len;
};

/* Read until @len bytes or end of file; returns bytes read or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Read a whole block or fail: a short read means the layout lies. */
static int read_block(int fd, void *buf, uint64_t len, uint64_t off, const char *what,
		      struct error *err)
{
	ssize_t n = pread_full(fd, buf, len, off);

	if (n < 0)
		return error_set(err, (int)n, "KVM stats: reading %s: %s", what, strerror((int)-n));
	if ((uint64_t)n != len)
		return error_set(
			err, -EINVAL,
			"KVM stats: %s at offset %llu (%llu bytes) runs past the end of the "
			"file (%zd bytes there)",
			what, (unsigned long long)off, (unsigned long long)len, n);
	return 0;
}

static bool overlaps(const struct extent *a, const struct extent *b)
{
	if (!a->len || !b->len)
		return false;
	return a->start < b->start + b->len && b->start < a->start + a->len;
}

/* The documentation promises the blocks never overlap; a bug might. */
static int check_no_overlap(const struct extent *ext, unsigned int nr, struct error *err)
{
	for (unsigned int i = 0; i < nr; i++)
		for (unsigned int j = i + 1; j < nr; j++)
			if (overlaps(&ext[i], &ext[j]))
				return error_set(err, -EINVAL, "KVM stats: %s and %s overlap",
						 ext[i].what, ext[j].what);
	return 0;
}

static enum kvm_stat_type decode_type(uint32_t flags)
{
	switch (flags & KVM_STATS_TYPE_MASK) {
	case KVM_STATS_TYPE_CUMULATIVE:
		return KVM_STAT_CUMULATIVE;
	case KVM_STATS_TYPE_INSTANT:
		return KVM_STAT_INSTANT;
	case KVM_STATS_TYPE_PEAK:
		return KVM_STAT_PEAK;
	case KVM_STATS_TYPE_LINEAR_HIST:
		return KVM_STAT_LINEAR_HIST;
	case KVM_STATS_TYPE_LOG_HIST:
		return KVM_STAT_LOG_HIST;
	default:
		return KVM_STAT_UNKNOWN;
	}
}

static bool type_is_scalar(enum kvm_stat_type type)
{
	return type == KVM_STAT_CUMULATIVE || type == KVM_STAT_INSTANT || type == KVM_STAT_PEAK;
}

static int parse_desc(struct kvm_stats *ks, unsigned int i, uint32_t name_size, struct error *err)
{
	char *raw = ks->desc_block + (size_t)i * (KVM_STATS_DESC_FIXED + name_size);
	struct kvm_stat_desc *d = &ks->descs[i];
	struct kvm_stats_desc kd;
	char *name = raw + KVM_STATS_DESC_FIXED;
	uint64_t end;

	/* memcpy: an odd name_size leaves later descriptors unaligned. */
	memcpy(&kd, raw, KVM_STATS_DESC_FIXED);
	if (!memchr(name, '\0', name_size))
		return error_set(
			err, -EINVAL,
			"KVM stats: descriptor %u: name not NUL-terminated within %u bytes", i,
			name_size);
	if (!name[0])
		return error_set(err, -EINVAL, "KVM stats: descriptor %u has an empty name", i);

	d->name = name;
	d->type = decode_type(kd.flags);
	d->unit = (kd.flags & KVM_STATS_UNIT_MASK) >> KVM_STATS_UNIT_SHIFT;
	switch (kd.flags & KVM_STATS_BASE_MASK) {
	case KVM_STATS_BASE_POW10:
		d->base = 10;
		break;
	case KVM_STATS_BASE_POW2:
		d->base = 2;
		break;
	default:
		d->base = 0; /* newer than this code: scale unknown */
		break;
	}
	d->exponent = kd.exponent;
	d->size = kd.size;
	d->bucket_size = kd.bucket_size;

	if (type_is_scalar(d->type) && d->size != 1)
		return error_set(err, -EINVAL, "KVM stats: %s: a %s stat with %u values", name,
				 kvm_stat_type_name(d->type), d->size);
	if (kd.offset % sizeof(uint64_t))
		return error_set(err, -EINVAL,
				 "KVM stats: %s: data offset %u is not a multiple of 8", name,
				 kd.offset);
	end = (uint64_t)kd.offset + (uint64_t)d->size * sizeof(uint64_t);
	if (end > KVM_STATS_MAX_BLOCK)
		return error_set(
			err, -EINVAL,
			"KVM stats: %s: data at offset %u (%u values) is beyond the %u-byte "
			"limit",
			name, kd.offset, d->size, KVM_STATS_MAX_BLOCK);
	d->value_index = kd.offset / sizeof(uint64_t);
	if (end > ks->data_size)
		ks->data_size = end;
	return 0;
}

static int read_data(struct kvm_stats *ks, struct error *err)
{
	return read_block(ks->fd, ks->data, ks->data_size, ks->data_offset, "data block", err);
}

int kvm_stats_open_fd(struct kvm_stats *ks, int stats_fd, struct error *err)
{
	struct kvm_stats_header hdr;
	struct extent ext[4];
	uint64_t desc_len;
	ssize_t n;
	int ret;

	memset(ks, 0, sizeof(*ks));
	ks->fd = stats_fd;

	n = pread_full(stats_fd, &hdr, sizeof(hdr), 0);
	if (n < 0)
		return error_set(err, (int)n, "KVM stats: reading header: %s", strerror((int)-n));
	if ((size_t)n != sizeof(hdr))
		return error_set(err, -EINVAL, "KVM stats: header truncated (%zd of %zu bytes)", n,
				 sizeof(hdr));

	if (hdr.name_size == 0 || hdr.name_size > KVM_STATS_MAX_NAME_SIZE)
		return error_set(err, -EINVAL, "KVM stats: name size %u out of range (1..%u)",
				 hdr.name_size, KVM_STATS_MAX_NAME_SIZE);
	if ((hdr.id_offset | hdr.desc_offset | hdr.data_offset) % sizeof(uint64_t))
		return error_set(err, -EINVAL,
				 "KVM stats: block offsets %u/%u/%u (id/descriptors/data) are not "
				 "multiples of 8",
				 hdr.id_offset, hdr.desc_offset, hdr.data_offset);
	desc_len = (uint64_t)hdr.num_desc * (KVM_STATS_DESC_FIXED + hdr.name_size);
	if (desc_len > KVM_STATS_MAX_BLOCK)
		return error_set(
			err, -EINVAL,
			"KVM stats: %u descriptors of %u-byte names exceed the %u-byte limit",
			hdr.num_desc, hdr.name_size, KVM_STATS_MAX_BLOCK);

	ext[0] = (struct extent){ "header", 0, sizeof(hdr) };
	ext[1] = (struct extent){ "id string", hdr.id_offset, hdr.name_size };
	ext[2] = (struct extent){ "descriptor block", hdr.desc_offset, desc_len };
	ret = check_no_overlap(ext, 3, err);
	if (ret)
		return ret;

	ks->id = malloc(hdr.name_size);
	ks->desc_block = malloc(desc_len ? desc_len : 1);
	ks->descs = calloc(hdr.num_desc ? hdr.num_desc : 1, sizeof(*ks->descs));
	if (!ks->id || !ks->desc_block || !ks->descs) {
		ret = error_set(err, -ENOMEM, "KVM stats: out of memory for %u descriptors",
				hdr.num_desc);
		goto fail;
	}

	ret = read_block(stats_fd, ks->id, hdr.name_size, hdr.id_offset, "id string", err);
	if (ret)
		goto fail;
	if (!memchr(ks->id, '\0', hdr.name_size)) {
		ret = error_set(err, -EINVAL,
				"KVM stats: id string not NUL-terminated within %u bytes",
				hdr.name_size);
		goto fail;
	}
	ret = read_block(stats_fd, ks->desc_block, desc_len, hdr.desc_offset, "descriptor block",
			 err);
	if (ret)
		goto fail;

	ks->count = hdr.num_desc;
	for (unsigned int i = 0; i < hdr.num_desc; i++) {
		ret = parse_desc(ks, i, hdr.name_size, err);
		if (ret)
			goto fail;
	}

	ks->data_offset = hdr.data_offset;
	ext[3] = (struct extent){ "data block", hdr.data_offset, ks->data_size };
	ret = check_no_overlap(ext, 4, err);
	if (ret)
		goto fail;
	ks->data = calloc(1, ks->data_size ? ks->data_size : sizeof(uint64_t));
	if (!ks->data) {
		ret = error_set(err, -ENOMEM, "KVM stats: out of memory for %llu data bytes",
				(unsigned long long)ks->data_size);
		goto fail;
	}
	ret = read_data(ks, err);
	if (ret)
		goto fail;
	return 0;

fail:
	ks->owns_fd = false; /* the caller still owns stats_fd */
	kvm_stats_close(ks);
	return ret;
}

int kvm_stats_open(struct kvm_stats *ks, int fd_with_stats, struct error *err)
{
	int stats_fd, ret;

	memset(ks, 0, sizeof(*ks));
	ks->fd = -1;
	stats_fd = ioctl(fd_with_stats, KVM_GET_STATS_FD, NULL);
	if (stats_fd < 0) {
		int e = errno;

		/* Kernels before 5.14 do not know the ioctl. */
		if (e == ENOTTY || e == EINVAL)
			return error_set(err, -EOPNOTSUPP,
					 "this KVM has no binary statistics (KVM_GET_STATS_FD: %s)",
					 strerror(e));
		return error_set(err, -e, "KVM_GET_STATS_FD: %s", strerror(e));
	}
	/* kvmini must not leak it into anything it starts. */
	fcntl(stats_fd, F_SETFD, FD_CLOEXEC);

	ret = kvm_stats_open_fd(ks, stats_fd, err);
	if (ret) {
		close(stats_fd);
		return ret;
	}
	ks->owns_fd = true;
	return 0;
}

int kvm_stats_read(struct kvm_stats *ks, struct error *err)
{
	if (!ks->data_size)
		return 0;
	return read_data(ks, err);
}

void kvm_stats_close(struct kvm_stats *ks)
{
	if (ks->owns_fd && ks->fd >= 0)
		close(ks->fd);
	free(ks->id);
	free(ks->descs);
	free(ks->desc_block);
	free(ks->data);
	memset(ks, 0, sizeof(*ks));
	ks->fd = -1;
}

int kvm_stats_find(const struct kvm_stats *ks, const char *name)
{
	for (unsigned int i = 0; i < ks->count; i++)
		if (!strcmp(ks->descs[i].name, name))
			return (int)i;
	return -ENOENT;
}

const char *kvm_stats_name(const struct kvm_stats *ks, unsigned int idx)
{
	return idx < ks->count ? ks->descs[idx].name : "";
}

enum kvm_stat_type kvm_stats_type(const struct kvm_stats *ks, unsigned int idx)
{
	return idx < ks->count ? ks->descs[idx].type : KVM_STAT_UNKNOWN;
}

const char *kvm_stat_type_name(enum kvm_stat_type type)
{
	switch (type) {
	case KVM_STAT_CUMULATIVE:
		return "cumulative";
	case KVM_STAT_INSTANT:
		return "instant";
	case KVM_STAT_PEAK:
		return "peak";
	case KVM_STAT_LINEAR_HIST:
		return "linear-hist";
	case KVM_STAT_LOG_HIST:
		return "log-hist";
	default:
		return "unknown";
	}
}

const char *kvm_stats_unit(const struct kvm_stats *ks, unsigned int idx)
{
	static const char *const units[] = { "", "bytes", "seconds", "cycles", "boolean" };

	if (idx >= ks->count)
		return "";
	if (ks->descs[idx].unit >= sizeof(units) / sizeof(units[0]))
		return "unknown";
	return units[ks->descs[idx].unit];
}

bool kvm_stats_is_histogram(const struct kvm_stats *ks, unsigned int idx)
{
	return idx < ks->count && !type_is_scalar(ks->descs[idx].type);
}

const uint64_t *kvm_stats_values(const struct kvm_stats *ks, unsigned int idx, unsigned int *nr)
{
	if (idx >= ks->count) {
		*nr = 0;
		return NULL;
	}
	*nr = ks->descs[idx].size;
	return ks->data + ks->descs[idx].value_index;
}

uint64_t kvm_stats_value(const struct kvm_stats *ks, unsigned int idx)
{
	const uint64_t *v;
	unsigned int nr;
	uint64_t sum = 0;

	v = kvm_stats_values(ks, idx, &nr);
	for (unsigned int i = 0; i < nr; i++) {
		if (__builtin_add_overflow(sum, v[i], &sum))
			return UINT64_MAX;
	}
	return sum;
}
