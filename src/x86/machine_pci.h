/* SPDX-License-Identifier: MIT */
/*
 * The PCI side of kvmini's machine: the host bridge, the MMIO windows and
 * the virtio-pci devices the user asked for, each served by an I/O thread
 * of its own.
 */
#ifndef KVMINI_X86_MACHINE_PCI_H
#define KVMINI_X86_MACHINE_PCI_H

#include "event_loop.h"
#include "pci/pci.h"
#include "virtio/blk.h"
#include "backends/tap.h"
#include "backends/vhost_net.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "vm.h"

#define MACHINE_MAX_DISKS 16
#define MACHINE_MAX_NICS 8

struct machine_pci_config {
	const struct virtio_blk_opts *disks;
	unsigned int nr_disks;
	const struct virtio_net_opts *nets;
	unsigned int nr_nets;
	bool rng;
	bool virtio_console;
	struct virtio_console_ops console; /* with virtio_console */
};

/* A NIC: the device model and the host side it is wired to. */
struct machine_nic {
	char name[8]; /* "net0"... */
	struct tap tap;
	struct vhost_net vhost; /* fd -1 without vhost */
	struct virtio_net *net;
};

/* One virtio device: the model, its PCI function and its I/O thread. */
struct virtio_slot {
	char name[24];
	struct event_loop loop;
	bool loop_ready;
	struct virtio_pci vpci;
	bool vpci_ready;
	struct virtio_dev *vdev;
	void (*destroy)(struct virtio_slot *slot);
	union {
		struct virtio_blk *blk;
		struct virtio_rng *rng;
		struct virtio_console *console;
		struct machine_nic *nic;
	} model;
};

struct machine_pci {
	struct pci_bus bus;
	bool bus_ready;
	struct virtio_slot *slots;
	unsigned int nr_slots;
	struct virtio_console *console; /* NULL without --console virtio */
	struct machine_nic *nics[MACHINE_MAX_NICS];
	unsigned int nr_nics;
};

/* Build the bus and devices; registers the config ports and MMIO windows. */
int machine_pci_create(struct machine_pci *mp, struct vm *vm, const struct machine_pci_config *cfg,
		       struct error *err);

/* The PCI slots in use (for the MP table); returns how many. */
unsigned int machine_pci_slots(const struct machine_pci *mp, unsigned int *slots, unsigned int max);

/* Start the I/O threads. */
int machine_pci_start(struct machine_pci *mp, struct error *err);

/* Stop the I/O threads and free the devices (vCPUs must be stopped). */
void machine_pci_destroy(struct machine_pci *mp);

#endif
