/* SPDX-License-Identifier: MIT */
/*
 * virtio 1.x over PCI (modern, non-transitional; virtio spec 4.1). One
 * 64-bit memory BAR holds the common configuration, ISR, device
 * configuration and notification regions plus the MSI-X table and PBA, each
 * on its own page; vendor capabilities point the driver at them. Queue
 * notifications are ioeventfds (KVM signals an eventfd on the guest's write,
 * no exit to us) read by the device's event loop; interrupts are MSI-X
 * vectors backed by irqfds, or INTx with the ISR register for guests without
 * MSI-X.
 *
 * With pio_notify, an I/O BAR (BAR 2) offers a second notification region,
 * listed first so drivers prefer it (spec 4.1.4.1: capability order is the
 * device's preference). A port write costs KVM an I/O exit it completes from
 * the exit information alone, where a write to MMIO is a nested page fault
 * whose instruction KVM must fetch and decode (VMX's fast MMIO path would
 * skip that only for zero-length ioeventfds; these are 2 bytes); the memory
 * region stays for drivers that cannot use ports.
 */
#ifndef KVMINI_VIRTIO_PCI_H
#define KVMINI_VIRTIO_PCI_H

#include <stdint.h>

#include "err.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/virtio.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + virtio device id */

/* Regions in BAR 0. */
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x40
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_DEVICE_LEN 0x1000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4 /* bytes between queues' notify addresses */
#define VIRTIO_PCI_NOTIFY_BAR 0

/* The port notification region: BAR 2, one 16-bit port per queue. */
#define VIRTIO_PCI_PIO_NOTIFY_BAR 2
#define VIRTIO_PCI_PIO_NOTIFY_MULT 2
#define VIRTIO_PCI_PIO_MAX_QUEUES 128 /* a 256-port BAR at most */

/* Common configuration registers. */
#define VIRTIO_PCI_DFSELECT 0
#define VIRTIO_PCI_DF 4
#define VIRTIO_PCI_GFSELECT 8
#define VIRTIO_PCI_GF 12
#define VIRTIO_PCI_MSIX_CONFIG 16
#define VIRTIO_PCI_NUM_QUEUES 18
#define VIRTIO_PCI_STATUS 20
#define VIRTIO_PCI_CFG_GENERATION 21
#define VIRTIO_PCI_Q_SELECT 22
#define VIRTIO_PCI_Q_SIZE 24
#define VIRTIO_PCI_Q_MSIX 26
#define VIRTIO_PCI_Q_ENABLE 28
#define VIRTIO_PCI_Q_NOFF 30
#define VIRTIO_PCI_Q_DESC 32
#define VIRTIO_PCI_Q_AVAIL 40
#define VIRTIO_PCI_Q_USED 48
#define VIRTIO_PCI_Q_NOTIFY_DATA 56

/*
 * What the transport needs from the VM: KVM in kvmini (vm.c), recorders in
 * unit tests. msi_alloc gives a vector an interrupt number and an eventfd
 * that raises it; msi_route points it at an MSI address/data (or nowhere
 * when masked); ioeventfd makes a guest write of @len bytes at @addr (a
 * port when @pio) signal @fd without a vCPU exit. pio_notify asks for the
 * port notification region (the bus needs a port window then).
 */
struct virtio_pci_host {
	int (*msi_alloc)(void *opaque, unsigned int *gsi, int *fd);
	int (*msi_route)(void *opaque, unsigned int gsi, uint64_t addr, uint32_t data, bool masked);
	int (*ioeventfd)(void *opaque, uint64_t addr, uint32_t len, int fd, bool pio, bool assign);
	void *opaque;
	bool pio_notify;
};

/* A notification region: where it decodes and whether its ioeventfds are
 * registered there. */
struct virtio_pci_notify {
	uint64_t addr;
	uint32_t mult; /* bytes between queues */
	bool pio;
	bool ioeventfds_on;
};

struct virtio_pci_queue {
	uint16_t size;
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc, avail, used;
	int kick_fd; /* the ioeventfd */
	struct event_source kick_src;
	int call_polled_fd; /* attach_call()'s fallback, -1 when detached */
	int call_fd; /* what the device's backend signals now */
	struct virtio_pci *vpci;
};

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	struct virtio_dev *vdev;
	struct virtio_pci_host host;
	pthread_mutex_t lock; /* transport registers */
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t config_msix_vector;
	uint16_t queue_select;
	uint8_t isr;
	struct virtio_pci_queue *queues;
	unsigned int nr_vectors;
	unsigned int *vector_gsi; /* per MSI-X vector */
	int *vector_fd; /* irqfd eventfds */
	bool *vector_live; /* routed: enabled and unmasked (under call_lock) */
	pthread_mutex_t call_lock; /* attach_call state; taken last */
	struct virtio_pci_notify notify; /* in BAR 0 */
	struct virtio_pci_notify pio_notify; /* BAR 2, with host.pio_notify */
};

/*
 * Wrap @vdev in a PCI function (not yet on a bus: pci_bus_add_device() next,
 * then virtio_pci_start()). On failure @err says what failed.
 */
int virtio_pci_init(struct virtio_pci *vpci, struct virtio_dev *vdev,
		    const struct virtio_pci_host *host, struct error *err);

/* Register the queues' kick eventfds with the device's event loop. */
int virtio_pci_start(struct virtio_pci *vpci, struct error *err);

void virtio_pci_free(struct virtio_pci *vpci);

/* The BAR 0 and BAR 2 handlers (exposed for unit tests). */
void virtio_pci_bar_io(void *vpci, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void virtio_pci_pio_notify_io(void *vpci, uint64_t offset, uint8_t *data, uint32_t len,
			      bool is_write);

#endif
