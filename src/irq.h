/* SPDX-License-Identifier: MIT */
/*
 * An interrupt line as a device sees it: a callback that sets the level of one
 * guest interrupt input. The VM backs it with KVM_IRQ_LINE; unit tests with a
 * recorder.
 */
#ifndef KVMINI_IRQ_H
#define KVMINI_IRQ_H

struct irq_line {
	void (*set_level)(void *opaque, unsigned int gsi, int level);
	void *opaque;
	unsigned int gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line->set_level)
		line->set_level(line->opaque, line->gsi, level);
}

#endif
