// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/tap.h"
#include "virtio/net.h"

static int set_up(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		ret = -errno;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			ret = -errno;
	}
	close(s);
	return ret;
}

int tap_open(struct tap *tap, const char *name, struct error *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	const char *what = name ? name : "kvmini%d";
	int hdr_len = VIRTIO_NET_HDR_LEN, ret;

	memset(tap, 0, sizeof(*tap));
	tap->fd = -1;
	if (strlen(what) >= IFNAMSIZ)
		return error_set(err, -EINVAL, "TAP name '%s' is longer than %d characters", what,
				 IFNAMSIZ - 1);
	tap->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tap->fd < 0)
		return error_set(err, -errno, "cannot open /dev/net/tun: %s", strerror(errno));
	memcpy(ifr.ifr_name, what, strlen(what));
	if (name) {
		/* Only attach: TUNSETIFF on a missing name would create it. */
		if (if_nametoindex(name) == 0) {
			ret = error_set(err, -ENODEV, "no network interface named %s", name);
			goto fail;
		}
	}
	if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		if (name && ret == -EINVAL)
			error_set(err, ret, "%s is not a TAP interface kvmini can use", name);
		else if (name)
			error_set(err, ret, "cannot attach to TAP interface %s: %s%s", name,
				  strerror(-ret),
				  ret == -EPERM ? " (it belongs to another user?)" : "");
		else
			error_set(err, ret, "cannot create a TAP interface: %s%s", strerror(-ret),
				  ret == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		goto fail;
	}
	snprintf(tap->ifname, sizeof(tap->ifname), "%s", ifr.ifr_name);
	tap->created = !name;
	if (ioctl(tap->fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		ret = error_set(err, -errno, "TAP %s: cannot set the virtio-net header size: %s",
				tap->ifname, strerror(errno));
		goto fail;
	}
	/* No offloads until the guest's driver says what it accepts. */
	if (tap_set_offload(tap, 0)) {
		ret = error_set(err, -errno, "TAP %s: cannot set offloads: %s", tap->ifname,
				strerror(errno));
		goto fail;
	}
	if (tap->created) {
		ret = set_up(tap->ifname);
		if (ret) {
			error_set(err, ret, "TAP %s: cannot bring it up: %s", tap->ifname,
				  strerror(-ret));
			goto fail;
		}
	}
	return 0;
fail:
	tap_close(tap);
	return ret;
}

int tap_set_offload(struct tap *tap, unsigned int tun_flags)
{
	return ioctl(tap->fd, TUNSETOFFLOAD, (unsigned long)tun_flags) < 0 ? -errno : 0;
}

void tap_close(struct tap *tap)
{
	if (tap->fd >= 0)
		close(tap->fd);
	tap->fd = -1;
}
