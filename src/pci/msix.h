/* SPDX-License-Identifier: MIT */
/*
 * The MSI-X capability of one PCI function: the capability in configuration
 * space, the vector table and the pending-bit array in a BAR. The owner maps
 * vectors to interrupts through two callbacks: route_changed when a vector's
 * address, data or effective mask changes (kvmini updates a KVM MSI route),
 * and fire to deliver one (an irqfd write). msix_notify() delivers or, when
 * the vector or the whole function is masked, sets the pending bit and
 * delivers on unmask, as the PCI spec requires.
 */
#ifndef KVMINI_PCI_MSIX_H
#define KVMINI_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/pci.h"

#define MSIX_ENTRY_SIZE 16
#define MSIX_MAX_VECTORS 2048
#define MSIX_NO_VECTOR 0xffff

struct msix_ops {
	/* Vector @vector now has @addr/@data; @masked is the effective mask
	 * (vector mask, function mask or MSI-X disabled). Called with the msix
	 * lock held (so calls for one vector arrive in order) and, from
	 * msix_cfg_written(), the bus lock too: must not call back into msix. */
	void (*route_changed)(void *opaque, unsigned int vector, uint64_t addr, uint32_t data,
			      bool masked);
	/* Called with the msix lock held, after any route_changed it needs, so
	 * that no mask comes between the check and the delivery: it must not
	 * call back into msix. From msix_cfg_written() the bus lock is held
	 * too, so it must not call pci_device_set_intx() either. */
	void (*fire)(void *opaque, unsigned int vector);
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct msix {
	struct pci_device *dev;
	unsigned int nr_vectors;
	unsigned int cap; /* capability offset in configuration space */
	struct msix_entry *table;
	uint64_t *pba;
	pthread_mutex_t lock; /* table, pba, enabled, function_masked */
	bool enabled, function_masked; /* copies of Message Control */
	const struct msix_ops *ops;
	void *opaque;
};

/*
 * Add the capability to @dev: @nr_vectors (1..MSIX_MAX_VECTORS) entries,
 * table at @table_offset and PBA at @pba_offset of BAR @bar (8-byte
 * aligned). All vectors start masked and MSI-X disabled. 0, -EINVAL, -ENOSPC
 * or -ENOMEM.
 */
int msix_init(struct msix *m, struct pci_device *dev, unsigned int nr_vectors, unsigned int bar,
	      uint32_t table_offset, uint32_t pba_offset, const struct msix_ops *ops, void *opaque);
void msix_free(struct msix *m);

/* Guest access to the table or the PBA, @offset relative to its start.
 * Accesses of other than 4 or 8 aligned bytes read 0 / are ignored. */
void msix_table_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void msix_pba_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Forward the device's cfg_written hook here: handles Enable and Function
 * Mask in Message Control. */
void msix_cfg_written(struct msix *m, uint32_t offset, uint32_t len);

bool msix_enabled(struct msix *m);

enum msix_result {
	MSIX_FIRED, /* delivered through ops->fire */
	MSIX_PENDING, /* masked: the pending bit is set, fired on unmask */
	MSIX_NO_VECTOR_SET, /* out of range (e.g. MSIX_NO_VECTOR): dropped */
	MSIX_DISABLED, /* MSI-X is off: the device must use INTx instead */
};

/*
 * Deliver @vector now, or mark it pending if masked. The result comes from
 * one look under the lock, so a caller choosing between MSI-X and INTx
 * cannot race with the guest switching MSI-X on or off.
 */
enum msix_result msix_notify(struct msix *m, unsigned int vector);

/* Table size in bytes for @nr_vectors, and PBA size (both for BAR layout). */
uint32_t msix_table_size(unsigned int nr_vectors);
uint32_t msix_pba_size(unsigned int nr_vectors);

#endif
