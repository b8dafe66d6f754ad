/* SPDX-License-Identifier: MIT */
/*
 * The parts of the i8042 keyboard controller a guest without a keyboard needs
 * (ports 0x60 and 0x64): status and command bytes that let Linux's probe and
 * reboot=k work. Command 0xFE (pulse reset line) stops the VM with
 * VM_STOP_RESET.
 */
#ifndef KVMINI_I8042_H
#define KVMINI_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "stop.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

struct i8042 {
	pthread_mutex_t lock;
	struct vm_stop_hook stop;
	uint8_t status; /* status register (port 0x64 read) */
	uint8_t ctr; /* controller configuration byte */
	uint8_t outb; /* output buffer (port 0x60 read) */
	uint8_t pending_cmd; /* command awaiting a data byte, 0 if none */
};

void i8042_init(struct i8042 *kbc, const struct vm_stop_hook *stop);
void i8042_destroy(struct i8042 *kbc);

/*
 * bus_io_fn handlers for port 0x60 and port 0x64 (each registered with
 * length 1 and the same opaque).
 */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
