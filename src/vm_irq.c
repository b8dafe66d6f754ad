// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vm.h"

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so it must repeat what KVM
 * installs by default: GSI 0-15 on the PIC and IOAPIC, 16-23 on the IOAPIC.
 */
static unsigned int default_routes(struct kvm_irq_routing_entry *e)
{
	unsigned int n = 0;

	for (unsigned int gsi = 0; gsi < VM_IOAPIC_PINS; gsi++) {
		if (gsi < 16) {
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
						       : KVM_IRQCHIP_PIC_SLAVE,
					       gsi % 8 },
			};
		}
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { KVM_IRQCHIP_IOAPIC, gsi },
		};
	}
	return n;
}

/* Caller holds irq_lock. */
static int install_routes(struct vm *vm)
{
	unsigned int max = 16 + VM_IOAPIC_PINS + vm->nr_msi_routes, n;
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
	int ret = 0;

	if (!r)
		return -ENOMEM;
	n = default_routes(r->entries);
	for (unsigned int i = 0; i < vm->nr_msi_routes; i++) {
		const struct vm_msi_route *m = &vm->msi_routes[i];

		if (!m->routed)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = m->gsi,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)m->addr,
				   .address_hi = (uint32_t)(m->addr >> 32),
				   .data = m->data },
		};
	}
	r->nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0)
		ret = -errno;
	free(r);
	return ret;
}

int vm_msi_alloc(void *opaque, unsigned int *gsi, int *fd)
{
	struct vm *vm = opaque;
	struct vm_msi_route *routes;
	struct kvm_irqfd irqfd = { 0 };
	int efd, ret = 0;

	pthread_mutex_lock(&vm->irq_lock);
	routes = realloc(vm->msi_routes, (vm->nr_msi_routes + 1) * sizeof(*routes));
	if (!routes) {
		ret = -ENOMEM;
		goto out;
	}
	vm->msi_routes = routes;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0) {
		ret = -errno;
		goto out;
	}
	irqfd.fd = efd;
	irqfd.gsi = VM_FIRST_MSI_GSI + vm->nr_msi_routes;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		ret = -errno;
		close(efd);
		goto out;
	}
	routes[vm->nr_msi_routes++] = (struct vm_msi_route){ .gsi = irqfd.gsi, .fd = efd };
	*gsi = irqfd.gsi;
	*fd = efd;
out:
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

int vm_msi_route(void *opaque, unsigned int gsi, uint64_t addr, uint32_t data, bool masked)
{
	struct vm *vm = opaque;
	struct vm_msi_route *m;
	int ret;

	if (gsi < VM_FIRST_MSI_GSI || gsi - VM_FIRST_MSI_GSI >= vm->nr_msi_routes)
		return -EINVAL;
	pthread_mutex_lock(&vm->irq_lock);
	m = &vm->msi_routes[gsi - VM_FIRST_MSI_GSI];
	if (m->routed == !masked && m->addr == addr && m->data == data) {
		pthread_mutex_unlock(&vm->irq_lock);
		return 0;
	}
	m->routed = !masked;
	m->addr = addr;
	m->data = data;
	ret = install_routes(vm);
	pthread_mutex_unlock(&vm->irq_lock);
	return ret;
}

int vm_ioeventfd(void *opaque, uint64_t addr, uint32_t len, int fd, bool pio, bool assign)
{
	struct vm *vm = opaque;
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN) |
			 (pio ? KVM_IOEVENTFD_FLAG_PIO : 0),
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

void vm_irq_free(struct vm *vm)
{
	/* The eventfds belong to the devices; closing the VM drops the irqfds. */
	free(vm->msi_routes);
	vm->msi_routes = NULL;
	vm->nr_msi_routes = 0;
}
