/* SPDX-License-Identifier: MIT */
/*
 * A host TAP interface as a packet file descriptor: each read() or write()
 * is one Ethernet frame preceded by the 12-byte virtio-net header
 * (IFF_VNET_HDR with TUNSETVNETHDRSZ), so checksum and segmentation
 * offloads pass between the guest and the host kernel untouched.
 */
#ifndef KVMINI_BACKENDS_TAP_H
#define KVMINI_BACKENDS_TAP_H

#include <net/if.h>
#include <stdbool.h>

#include "err.h"

struct tap {
	int fd; /* non-blocking */
	char ifname[IFNAMSIZ];
	bool created; /* kvmini made it: it disappears when fd is closed */
};

/*
 * Attach to the existing TAP interface @name, or create one ("kvmini%d",
 * brought up) when @name is NULL, which needs CAP_NET_ADMIN. Errors name the
 * interface and say what failed.
 */
int tap_open(struct tap *tap, const char *name, struct error *err);

/* TUN_F_* flags: which offloaded frames the host may hand to the guest. */
int tap_set_offload(struct tap *tap, unsigned int tun_flags);

void tap_close(struct tap *tap);

#endif
