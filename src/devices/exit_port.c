// SPDX-License-Identifier: MIT
/*
 * Exit ports. Like QEMU's isa-debug-exit, a write anywhere in the 4-port
 * range exits with the value written there.
 *
 * The isa-debug-exit status is passed on as an int, not reduced to 8 bits:
 * QEMU calls exit((value << 1) | 1) and the shell sees that modulo 256, so
 * the VM must take status & 0xff to match. Bit 30 and up of the value are
 * dropped so the shifted result stays a non-negative int; that leaves the low
 * 8 bits of the status unchanged.
 */
#include <string.h>

#include "exit_port.h"

void exit_port_init(struct exit_port *port, enum exit_port_kind kind,
		    const struct vm_stop_hook *stop)
{
	memset(port, 0, sizeof(*port));
	port->kind = kind;
	if (stop)
		port->stop = *stop;
}

void exit_port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct exit_port *port = opaque;
	uint32_t value = 0;
	int status;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if ((len != 1 && len != 2 && len != 4) || offset >= EXIT_PORT_LEN ||
	    len > EXIT_PORT_LEN - offset)
		return;

	for (uint32_t i = 0; i < len; i++)
		value |= (uint32_t)data[i] << (8 * i);

	if (port->kind == EXIT_PORT_ISA_DEBUG)
		status = (int)(((value & 0x3fffffffu) << 1) | 1);
	else
		status = (int)(value & 0xff);
	vm_stop_hook_fire(&port->stop, VM_STOP_EXIT_DEVICE, status);
}
