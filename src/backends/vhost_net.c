// SPDX-License-Identifier: MIT
#include "backends/vhost_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define VHOST_NET_PATH "/dev/vhost-net"

/*
 * Feature bits that mean something to vhost itself rather than to the
 * guest. VHOST_NET_F_VIRTIO_NET_HDR (27, the same bit as legacy
 * ANY_LAYOUT) would make vhost add and strip the header, but the TAP
 * already does with IFF_VNET_HDR; dirty logging is for migration, which
 * kvmini does not do; ACCESS_PLATFORM would make vhost wait for IOTLB
 * updates from a vIOMMU kvmini does not have.
 */
#define VHOST_NET_INTERNAL_FEATURES                                         \
	((1ull << VHOST_NET_F_VIRTIO_NET_HDR) | (1ull << VHOST_F_LOG_ALL) | \
	 (1ull << 33 /* VIRTIO_F_ACCESS_PLATFORM */))

static int vhost_ioctl(const struct vhost_net *vn, unsigned long req, void *arg)
{
	if (ioctl(vn->fd, req, arg) < 0)
		return -errno;
	return 0;
}

static const char *open_hint(int code)
{
	switch (code) {
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		return " (modprobe vhost_net)";
	case -EACCES:
	case -EPERM:
		return " (needs read-write access to " VHOST_NET_PATH ")";
	default:
		return "";
	}
}

int vhost_net_open(struct vhost_net *vn, struct error *err)
{
	int ret;

	vn->features = 0;
	vn->fd = open(VHOST_NET_PATH, O_RDWR | O_CLOEXEC);
	if (vn->fd < 0) {
		ret = -errno;
		return error_set(err, ret, "cannot open %s: %s%s", VHOST_NET_PATH, strerror(-ret),
				 open_hint(ret));
	}
	ret = vhost_ioctl(vn, VHOST_SET_OWNER, NULL);
	if (ret) {
		error_set(err, ret, "%s: VHOST_SET_OWNER failed: %s", VHOST_NET_PATH,
			  strerror(-ret));
		goto fail;
	}
	ret = vhost_ioctl(vn, VHOST_GET_FEATURES, &vn->features);
	if (ret) {
		error_set(err, ret, "%s: VHOST_GET_FEATURES failed: %s", VHOST_NET_PATH,
			  strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	vhost_net_close(vn);
	vn->features = 0;
	return ret;
}

int vhost_net_setup(struct vhost_net *vn, const struct guest_mem *mem, uint64_t features)
{
	struct vhost_memory *table;
	uint64_t acked;
	int ret;

	if (mem->nr_regions == 0 || mem->nr_regions > GUEST_MEM_MAX_REGIONS)
		return -EINVAL;
	table = calloc(1, sizeof(*table) + mem->nr_regions * sizeof(table->regions[0]));
	if (!table)
		return -ENOMEM;
	table->nregions = mem->nr_regions;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];

		table->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};
	}
	ret = vhost_ioctl(vn, VHOST_SET_MEM_TABLE, table);
	free(table);
	if (ret)
		return ret;
	acked = features & vn->features & ~VHOST_NET_INTERNAL_FEATURES;
	return vhost_ioctl(vn, VHOST_SET_FEATURES, &acked);
}

int vhost_net_start_queue(struct vhost_net *vn, unsigned int index, const struct virtq *vq,
			  int kick_fd, int call_fd, int tap_fd)
{
	struct vhost_vring_state num = { .index = index, .num = vq->size };
	struct vhost_vring_state base = { .index = index, .num = vq->last_avail_idx };
	struct vhost_vring_addr addr = {
		.index = index,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
	};
	struct vhost_vring_file kick = { .index = index, .fd = kick_fd };
	struct vhost_vring_file call = { .index = index, .fd = call_fd };
	struct vhost_vring_file backend = { .index = index, .fd = tap_fd };
	uint64_t one = 1;
	int ret;

	/* vhost-net has exactly one receive and one transmit queue. */
	if (index > 1 || !vq->ready || !vq->desc || !vq->avail || !vq->used)
		return -EINVAL;
	if (kick_fd < 0 || call_fd < 0 || tap_fd < 0)
		return -EBADF;
	ret = vhost_ioctl(vn, VHOST_SET_VRING_NUM, &num);
	if (!ret)
		ret = vhost_ioctl(vn, VHOST_SET_VRING_BASE, &base);
	if (!ret)
		ret = vhost_ioctl(vn, VHOST_SET_VRING_ADDR, &addr);
	if (!ret)
		ret = vhost_ioctl(vn, VHOST_SET_VRING_KICK, &kick);
	if (!ret)
		ret = vhost_ioctl(vn, VHOST_SET_VRING_CALL, &call);
	if (!ret)
		ret = vhost_ioctl(vn, VHOST_NET_SET_BACKEND, &backend);
	if (ret)
		return ret;
	/*
	 * The driver's kicks for buffers posted while kvmini still owned the
	 * queue were consumed by kvmini: look again rather than rely on
	 * vhost's socket wakeups (today's vhost happens to rescan on them).
	 */
	if (write(kick_fd, &one, sizeof(one)) != sizeof(one)) {
		ret = -errno;
		vhost_net_stop_queue(vn, index);
		return ret;
	}
	return 0;
}

int vhost_net_set_call(struct vhost_net *vn, unsigned int index, int call_fd)
{
	struct vhost_vring_file call = { .index = index, .fd = call_fd };

	if (index > 1 || call_fd < 0)
		return -EINVAL;
	return vhost_ioctl(vn, VHOST_SET_VRING_CALL, &call);
}

int vhost_net_stop_queue(struct vhost_net *vn, unsigned int index)
{
	struct vhost_vring_file backend = { .index = index, .fd = VHOST_FILE_UNBIND };
	struct vhost_vring_state base = { .index = index };
	int ret;

	if (index > 1)
		return -EINVAL;
	ret = vhost_ioctl(vn, VHOST_NET_SET_BACKEND, &backend);
	if (ret)
		return ret;
	/* Returns only once vhost's worker has finished with the ring. */
	return vhost_ioctl(vn, VHOST_GET_VRING_BASE, &base);
}

void vhost_net_close(struct vhost_net *vn)
{
	if (vn->fd >= 0)
		close(vn->fd);
	vn->fd = -1;
}
