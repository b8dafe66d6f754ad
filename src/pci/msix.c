// SPDX-License-Identifier: MIT
/*
 * MSI-X (PCI Local Bus 3.0, 6.8.2): the capability's Message Control drives
 * Enable and Function Mask; the table and PBA live in a BAR the device
 * forwards here. Route changes are reported under the msix lock so a route
 * user sees them in order; deliveries happen after it is dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "pci/msix.h"

#define MSIX_CAP_CONTROL 2
#define MSIX_CAP_TABLE 4
#define MSIX_CAP_PBA 8
#define MSIX_CAP_BODY_LEN 10 /* control, table and PBA after id/next */

#define MSIX_CONTROL_QSIZE 0x07ff
#define MSIX_CONTROL_MASKALL 0x4000
#define MSIX_CONTROL_ENABLE 0x8000

#define MSIX_ENTRY_CTRL_MASKBIT 0x1
#define MSIX_BIR_MASK 0x7u

uint32_t msix_table_size(unsigned int nr_vectors)
{
	return nr_vectors * MSIX_ENTRY_SIZE;
}

uint32_t msix_pba_size(unsigned int nr_vectors)
{
	return (nr_vectors + 63) / 64 * 8;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int msix_init(struct msix *m, struct pci_device *dev, unsigned int nr_vectors, unsigned int bar,
	      uint32_t table_offset, uint32_t pba_offset, const struct msix_ops *ops, void *opaque)
{
	uint64_t table_len = msix_table_size(nr_vectors), pba_len = msix_pba_size(nr_vectors);
	uint8_t body[MSIX_CAP_BODY_LEN];
	int cap;

	memset(m, 0, sizeof(*m));
	if (!dev || !ops || !ops->fire || nr_vectors < 1 || nr_vectors > MSIX_MAX_VECTORS ||
	    bar >= PCI_NR_BARS)
		return -EINVAL;
	if ((table_offset | pba_offset) & MSIX_BIR_MASK)
		return -EINVAL;
	if (ranges_overlap(table_offset, table_len, pba_offset, pba_len))
		return -EINVAL;
	/* The upper half of a 64-bit BAR is no BAR of its own. */
	if (bar > 0 && dev->bars[bar - 1].size && dev->bars[bar - 1].is64)
		return -EINVAL;
	/* If the BAR is declared already, both structures must fit in it. */
	if (dev->bars[bar].size && (table_offset + table_len > dev->bars[bar].size ||
				    pba_offset + pba_len > dev->bars[bar].size))
		return -EINVAL;

	m->table = calloc(nr_vectors, sizeof(*m->table));
	m->pba = calloc(pba_len / 8, sizeof(*m->pba));
	if (!m->table || !m->pba) {
		free(m->table);
		free(m->pba);
		m->table = NULL;
		m->pba = NULL;
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < nr_vectors; i++)
		m->table[i].ctrl = MSIX_ENTRY_CTRL_MASKBIT;

	body[0] = (nr_vectors - 1) & 0xff;
	body[1] = ((nr_vectors - 1) >> 8) & 0x7;
	for (int i = 0; i < 4; i++) {
		body[2 + i] = (table_offset | bar) >> (8 * i);
		body[6 + i] = (pba_offset | bar) >> (8 * i);
	}
	cap = pci_device_add_capability(dev, PCI_CAP_ID_MSIX, body, sizeof(body));
	if (cap < 0) {
		free(m->table);
		free(m->pba);
		m->table = NULL;
		m->pba = NULL;
		return cap;
	}
	/* Only Enable and Function Mask are the guest's to change. */
	dev->wmask[cap + MSIX_CAP_CONTROL + 1] = (MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL) >> 8;

	m->dev = dev;
	m->nr_vectors = nr_vectors;
	m->cap = cap;
	m->ops = ops;
	m->opaque = opaque;
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

void msix_free(struct msix *m)
{
	if (!m->table)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->table);
	free(m->pba);
	m->table = NULL;
	m->pba = NULL;
}

static bool effectively_masked(const struct msix *m, unsigned int v)
{
	return !m->enabled || m->function_masked || (m->table[v].ctrl & MSIX_ENTRY_CTRL_MASKBIT);
}

static uint64_t entry_addr(const struct msix_entry *e)
{
	return (uint64_t)e->addr_hi << 32 | e->addr_lo;
}

static bool pending(const struct msix *m, unsigned int v)
{
	return m->pba[v / 64] >> (v % 64) & 1;
}

static void set_pending(struct msix *m, unsigned int v, bool on)
{
	if (on)
		m->pba[v / 64] |= 1ULL << (v % 64);
	else
		m->pba[v / 64] &= ~(1ULL << (v % 64));
}

static void report_route(struct msix *m, unsigned int v)
{
	if (m->ops->route_changed)
		m->ops->route_changed(m->opaque, v, entry_addr(&m->table[v]), m->table[v].data,
				      effectively_masked(m, v));
}

/*
 * After vector @v changed from @old (entry and effective mask): report the
 * route if anything a route user sees changed, and clear the pending bit of
 * a vector that just got unmasked. Returns whether it must now fire.
 */
static bool vector_changed(struct msix *m, unsigned int v, const struct msix_entry *old,
			   bool was_masked)
{
	bool masked = effectively_masked(m, v);
	const struct msix_entry *e = &m->table[v];

	if (masked != was_masked || e->addr_lo != old->addr_lo || e->addr_hi != old->addr_hi ||
	    e->data != old->data)
		report_route(m, v);
	if (masked || !was_masked || !pending(m, v))
		return false;
	set_pending(m, v, false);
	return true;
}

static bool access_ok(uint64_t offset, uint32_t len, uint64_t size)
{
	return (len == 4 || len == 8) && !(offset & (len - 1)) && offset < size &&
	       len <= size - offset;
}

static uint32_t *entry_field(struct msix_entry *e, unsigned int dword)
{
	switch (dword) {
	case 0:
		return &e->addr_lo;
	case 1:
		return &e->addr_hi;
	case 2:
		return &e->data;
	default:
		return &e->ctrl;
	}
}

void msix_table_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	unsigned int v = offset / MSIX_ENTRY_SIZE, first = (offset % MSIX_ENTRY_SIZE) / 4;

	if (!access_ok(offset, len, msix_table_size(m->nr_vectors))) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (is_write) {
		struct msix_entry old = m->table[v];
		bool was_masked = effectively_masked(m, v);

		for (unsigned int i = 0; i < len / 4; i++) {
			uint32_t value = get_le32(data + 4 * i);

			/* Vector Control bits other than Mask are reserved. */
			if (first + i == 3)
				value &= MSIX_ENTRY_CTRL_MASKBIT;
			*entry_field(&m->table[v], first + i) = value;
		}
		if (vector_changed(m, v, &old, was_masked))
			m->ops->fire(m->opaque, v);
	} else {
		for (unsigned int i = 0; i < len / 4; i++)
			put_le32(data + 4 * i, *entry_field(&m->table[v], first + i));
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write)
		return;
	if (!access_ok(offset, len, msix_pba_size(m->nr_vectors))) {
		memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&m->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = m->pba[(offset + i) / 8] >> (8 * ((offset + i) % 8));
	pthread_mutex_unlock(&m->lock);
}

void msix_cfg_written(struct msix *m, uint32_t offset, uint32_t len)
{
	uint32_t control = m->cap + MSIX_CAP_CONTROL;
	bool enabled, function_masked;
	uint16_t value;

	if (offset >= control + 2 || offset + len <= control)
		return;
	/* The bus lock is held: configuration space is stable. */
	value = pci_cfg_read(m->dev, control, 2);
	enabled = value & MSIX_CONTROL_ENABLE;
	function_masked = value & MSIX_CONTROL_MASKALL;

	pthread_mutex_lock(&m->lock);
	if (enabled != m->enabled || function_masked != m->function_masked) {
		/* Before the change every vector was masked if either was off. */
		bool all_masked = !m->enabled || m->function_masked;

		m->enabled = enabled;
		m->function_masked = function_masked;
		for (unsigned int v = 0; v < m->nr_vectors; v++) {
			bool was_masked =
				all_masked || (m->table[v].ctrl & MSIX_ENTRY_CTRL_MASKBIT);

			if (vector_changed(m, v, &m->table[v], was_masked))
				m->ops->fire(m->opaque, v);
		}
	}
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	bool enabled;

	pthread_mutex_lock(&m->lock);
	enabled = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return enabled;
}

enum msix_result msix_notify(struct msix *m, unsigned int vector)
{
	enum msix_result r;

	/* One look under the lock: MSI-X may be switched off concurrently. */
	pthread_mutex_lock(&m->lock);
	if (!m->enabled)
		r = MSIX_DISABLED;
	else if (vector >= m->nr_vectors)
		r = MSIX_NO_VECTOR_SET;
	else if (effectively_masked(m, vector))
		r = MSIX_PENDING;
	else
		r = MSIX_FIRED;
	if (r == MSIX_PENDING)
		set_pending(m, vector, true);
	/* Under the lock: a mask (and the route's removal) cannot come between
	 * the check and the delivery, which would lose the interrupt. */
	if (r == MSIX_FIRED)
		m->ops->fire(m->opaque, vector);
	pthread_mutex_unlock(&m->lock);
	return r;
}
