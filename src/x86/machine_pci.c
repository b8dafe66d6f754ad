// SPDX-License-Identifier: MIT
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "machine_pci.h"

#define MMIO64_SIZE (64ULL << 30)

static void destroy_blk(struct virtio_slot *s)
{
	virtio_blk_destroy(s->model.blk);
}

static void destroy_rng(struct virtio_slot *s)
{
	virtio_rng_free(s->model.rng);
	free(s->model.rng);
}

static void destroy_console(struct virtio_slot *s)
{
	virtio_console_free(s->model.console);
	free(s->model.console);
}

static void destroy_nic(struct virtio_slot *s)
{
	struct machine_nic *nic = s->model.nic;

	virtio_net_destroy(nic->net);
	vhost_net_close(&nic->vhost);
	tap_close(&nic->tap);
	free(nic);
}

static int new_slot(struct machine_pci *mp, const char *name, struct virtio_slot **out,
		    struct error *err)
{
	struct virtio_slot *s = &mp->slots[mp->nr_slots];
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	/* Thread names are at most 15 characters. */
	ret = event_loop_init(&s->loop, s->name, err);
	if (ret)
		return ret;
	s->loop_ready = true;
	mp->nr_slots++;
	*out = s;
	return 0;
}

/* Put the device model's vdev on the bus. */
static int plug(struct machine_pci *mp, struct vm *vm, struct virtio_slot *s, struct error *err)
{
	const struct virtio_pci_host host = {
		.msi_alloc = vm_msi_alloc,
		.msi_route = vm_msi_route,
		.ioeventfd = vm_ioeventfd,
		.opaque = vm,
		.pio_notify = true,
	};
	int ret = virtio_pci_init(&s->vpci, s->vdev, &host, err);

	s->vpci_ready = true;
	if (ret)
		return ret;
	ret = pci_bus_add_device(&mp->bus, &s->vpci.pci);
	if (ret)
		return error_set(err, ret, "%s: no room on the PCI bus: %s", s->vdev->name,
				 strerror(-ret));
	return virtio_pci_start(&s->vpci, err);
}

static int add_disk(struct machine_pci *mp, struct vm *vm, const struct virtio_blk_opts *opts,
		    unsigned int index, struct error *err)
{
	struct virtio_slot *s;
	char name[24];
	int ret;

	snprintf(name, sizeof(name), "io-blk%u", index % 1000);
	ret = new_slot(mp, name, &s, err);
	if (ret)
		return ret;
	ret = virtio_blk_create(&s->model.blk, opts, vm->nr_vcpus, &vm->mem, &s->loop, err);
	if (ret)
		return ret;
	s->destroy = destroy_blk;
	s->vdev = virtio_blk_vdev(s->model.blk);
	return plug(mp, vm, s, err);
}

static int add_rng(struct machine_pci *mp, struct vm *vm, struct error *err)
{
	struct virtio_slot *s;
	int ret = new_slot(mp, "io-rng", &s, err);

	if (ret)
		return ret;
	s->model.rng = calloc(1, sizeof(*s->model.rng));
	if (!s->model.rng)
		return error_set(err, -ENOMEM, "virtio-rng: out of memory");
	ret = virtio_rng_init(s->model.rng, &vm->mem, &s->loop, NULL);
	if (ret) {
		free(s->model.rng);
		return error_set(err, ret, "virtio-rng: %s", strerror(-ret));
	}
	s->destroy = destroy_rng;
	s->vdev = &s->model.rng->vdev;
	return plug(mp, vm, s, err);
}

static int add_console(struct machine_pci *mp, struct vm *vm, const struct virtio_console_ops *ops,
		       struct error *err)
{
	struct virtio_slot *s;
	int ret = new_slot(mp, "io-console", &s, err);

	if (ret)
		return ret;
	s->model.console = calloc(1, sizeof(*s->model.console));
	if (!s->model.console)
		return error_set(err, -ENOMEM, "virtio-console: out of memory");
	ret = virtio_console_init(s->model.console, &vm->mem, &s->loop, ops);
	if (ret) {
		free(s->model.console);
		return error_set(err, ret, "virtio-console: %s", strerror(-ret));
	}
	s->destroy = destroy_console;
	s->vdev = &s->model.console->vdev;
	mp->console = s->model.console;
	ret = virtio_console_start(s->model.console);
	if (ret)
		return error_set(err, ret, "virtio-console: %s", strerror(-ret));
	return plug(mp, vm, s, err);
}

/* TUN_F_* for the GUEST_* offloads the driver accepted. */
static int nic_set_offload(void *opaque, uint64_t guest)
{
	unsigned int tun = 0;

	if (guest & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)) {
		tun |= TUN_F_CSUM;
		if (guest & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4))
			tun |= TUN_F_TSO4;
		if (guest & VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6))
			tun |= TUN_F_TSO6;
		if ((guest & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN)) &&
		    (tun & (TUN_F_TSO4 | TUN_F_TSO6)))
			tun |= TUN_F_TSO_ECN;
	}
	return tap_set_offload(opaque, tun);
}

/* A stable locally administered MAC for a NIC: from its TAP and index. */
static void default_mac(const char *ifname, unsigned int index, uint8_t mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *c = ifname; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	h = (h ^ index) * 16777619u;
	mac[0] = 0x02;
	mac[1] = 0x6b; /* "km" */
	mac[2] = 0x6d;
	mac[3] = h >> 16;
	mac[4] = h >> 8;
	mac[5] = h;
}

static int add_nic(struct machine_pci *mp, struct vm *vm, const struct virtio_net_opts *opts,
		   unsigned int index, struct error *err)
{
	struct machine_nic *nic = calloc(1, sizeof(*nic));
	struct virtio_net_backend be;
	struct virtio_slot *s;
	char name[24];
	uint8_t mac[6];
	int ret;

	if (!nic)
		return error_set(err, -ENOMEM, "out of memory for a NIC");
	nic->vhost.fd = -1;
	snprintf(nic->name, sizeof(nic->name), "net%u", index % 100);
	ret = tap_open(&nic->tap, opts->tap[0] ? opts->tap : NULL, err);
	if (!ret && opts->vhost)
		ret = vhost_net_open(&nic->vhost, err);
	if (ret) {
		error_prefix(err, "%s", nic->name);
		tap_close(&nic->tap);
		free(nic);
		return ret;
	}
	snprintf(name, sizeof(name), "io-%s", nic->name);
	ret = new_slot(mp, name, &s, err);
	if (ret) {
		vhost_net_close(&nic->vhost);
		tap_close(&nic->tap);
		free(nic);
		return ret;
	}
	s->model.nic = nic;
	s->destroy = destroy_nic;
	mp->nics[mp->nr_nics++] = nic;
	if (opts->has_mac)
		memcpy(mac, opts->mac, sizeof(mac));
	else
		default_mac(nic->tap.ifname, index, mac);
	be = (struct virtio_net_backend){
		.fd = nic->tap.fd,
		.set_offload = nic_set_offload,
		.opaque = &nic->tap,
		.vhost = opts->vhost ? &nic->vhost : NULL,
	};
	snprintf(name, sizeof(name), "virtio-net %u", index);
	ret = virtio_net_create(&nic->net, name, mac, &be, &vm->mem, &s->loop, err);
	if (ret)
		return ret;
	s->vdev = virtio_net_vdev(nic->net);
	return plug(mp, vm, s, err);
}

/* Route [@base, +@len) of @space (the VM's port or MMIO bus) to the PCI bus. */
static int register_range(struct bus *space, uint64_t base, uint64_t len, bus_io_fn fn,
			  struct pci_bus *pci, const char *name, struct error *err)
{
	int ret = bus_register(space, base, len, fn, pci, name);

	if (ret)
		return error_set(err, ret, "cannot register the %s at 0x%llx: %s", name,
				 (unsigned long long)base, strerror(-ret));
	return 0;
}

int machine_pci_create(struct machine_pci *mp, struct vm *vm, const struct machine_pci_config *cfg,
		       struct error *err)
{
	struct irq_line intx = { .set_level = vm_set_irq_level, .opaque = vm };
	uint64_t high_end = LAYOUT_4G, mmio64;
	unsigned int max_slots = cfg->nr_disks + cfg->nr_nets + 2;
	int ret;

	memset(mp, 0, sizeof(*mp));
	if (cfg->nr_nets > MACHINE_MAX_NICS)
		return error_set(err, -EINVAL, "at most %d NICs", MACHINE_MAX_NICS);
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		uint64_t end = vm->mem.regions[i].gpa + vm->mem.regions[i].size;

		if (end > high_end)
			high_end = end;
	}
	mmio64 = (high_end + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
	pci_bus_init(&mp->bus, LAYOUT_PCI_HOLE_START, LAYOUT_IOAPIC_BASE - LAYOUT_PCI_HOLE_START,
		     mmio64, MMIO64_SIZE, &intx);
	pci_bus_set_io_window(&mp->bus, LAYOUT_PCI_IO_BASE, LAYOUT_PCI_IO_SIZE);
	mp->bus_ready = true;
	ret = register_range(&vm->pio, PCI_CONFIG_ADDRESS_PORT, 8, pci_config_io, &mp->bus,
			     "PCI configuration ports", err);
	if (!ret)
		ret = register_range(&vm->mmio, LAYOUT_PCI_HOLE_START,
				     LAYOUT_IOAPIC_BASE - LAYOUT_PCI_HOLE_START, pci_mmio32_io,
				     &mp->bus, "PCI 32-bit MMIO window", err);
	if (!ret)
		ret = register_range(&vm->mmio, mmio64, MMIO64_SIZE, pci_mmio64_io, &mp->bus,
				     "PCI 64-bit MMIO window", err);
	if (!ret)
		ret = register_range(&vm->pio, LAYOUT_PCI_IO_BASE, LAYOUT_PCI_IO_SIZE, pci_pio_io,
				     &mp->bus, "PCI I/O window", err);
	if (ret)
		return ret;

	mp->slots = calloc(max_slots, sizeof(*mp->slots));
	if (!mp->slots)
		return error_set(err, -ENOMEM, "out of memory for PCI devices");
	for (unsigned int i = 0; i < cfg->nr_disks && !ret; i++)
		ret = add_disk(mp, vm, &cfg->disks[i], i, err);
	for (unsigned int i = 0; i < cfg->nr_nets && !ret; i++)
		ret = add_nic(mp, vm, &cfg->nets[i], i, err);
	if (!ret && cfg->rng)
		ret = add_rng(mp, vm, err);
	if (!ret && cfg->virtio_console)
		ret = add_console(mp, vm, &cfg->console, err);
	return ret;
}

unsigned int machine_pci_slots(const struct machine_pci *mp, unsigned int *slots, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < mp->nr_slots && n < max; i++) {
		if (mp->slots[i].vpci_ready && mp->slots[i].vpci.pci.bus)
			slots[n++] = mp->slots[i].vpci.pci.slot;
	}
	return n;
}

int machine_pci_start(struct machine_pci *mp, struct error *err)
{
	for (unsigned int i = 0; i < mp->nr_slots; i++) {
		int ret = event_loop_start(&mp->slots[i].loop, err);

		if (ret)
			return ret;
	}
	return 0;
}

void machine_pci_destroy(struct machine_pci *mp)
{
	/* Threads first: nothing may touch a device while it is freed. */
	for (unsigned int i = 0; i < mp->nr_slots; i++) {
		struct virtio_slot *s = &mp->slots[i];

		if (s->loop_ready)
			event_loop_destroy(&s->loop);
		s->loop_ready = false;
	}
	for (unsigned int i = 0; i < mp->nr_slots; i++) {
		struct virtio_slot *s = &mp->slots[i];

		if (s->vpci_ready)
			virtio_pci_free(&s->vpci);
		if (s->destroy)
			s->destroy(s);
	}
	free(mp->slots);
	mp->slots = NULL;
	mp->nr_slots = 0;
	if (mp->bus_ready)
		pci_bus_free(&mp->bus);
	mp->bus_ready = false;
}
