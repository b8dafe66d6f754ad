/* SPDX-License-Identifier: MIT */
/*
 * Exit devices: a guest write ends kvmini with a status.
 *  - isa-debug-exit compatible (QEMU), port 0xf4, 4 ports: a write of V
 *    exits with (V << 1) | 1, so test kernels written for QEMU run unchanged.
 *  - kvmini's own exit port, 0x4f0, 4 ports: a write of V exits with V & 0xff
 *    exactly; the project's guest init reports a command's status here.
 */
#ifndef KVMINI_EXIT_PORT_H
#define KVMINI_EXIT_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "stop.h"

#define DEBUG_EXIT_PORT 0xf4
#define KVMINI_EXIT_PORT 0x4f0
#define EXIT_PORT_LEN 4
/*
 * kvmini's "console ready" port: the project's guest init writes it once its
 * console is set up, and kvmini then starts passing host input (see
 * console.h). Writing it has no other effect.
 */
#define KVMINI_READY_PORT 0x4f4

enum exit_port_kind {
	EXIT_PORT_ISA_DEBUG, /* status = (value << 1) | 1 */
	EXIT_PORT_KVMINI, /* status = value & 0xff */
};

struct exit_port {
	enum exit_port_kind kind;
	struct vm_stop_hook stop;
};

void exit_port_init(struct exit_port *port, enum exit_port_kind kind,
		    const struct vm_stop_hook *stop);

/* bus_io_fn: writes of 1, 2 or 4 bytes fire the stop hook; reads return 0. */
void exit_port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
