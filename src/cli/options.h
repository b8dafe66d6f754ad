/* SPDX-License-Identifier: MIT */
/* Parsing of option values shared by the subcommands. */
#ifndef KVMINI_CLI_OPTIONS_H
#define KVMINI_CLI_OPTIONS_H

#include <stdint.h>

#include "err.h"
#include "virtio/blk.h"
#include "virtio/net.h"

/*
 * A byte size: decimal digits with an optional K, M, G or T suffix (powers of
 * 1024, either case, optionally followed by "B" or "iB"). No suffix means
 * bytes. Returns 0, -EINVAL for malformed input, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *out);

/* A decimal unsigned integer in [min, max]: 0, -EINVAL or -ERANGE. */
int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/*
 * A --disk value: PATH[,ro][,cache=none|writeback][,serial=STR][,aio=io_uring|sync]
 * Defaults: read-write, cache=writeback, aio=io_uring, no serial. The path
 * cannot contain a comma. o->path is the start of one malloc'd buffer that
 * also holds the serial: free((void *)o->path) releases both. Returns 0, or
 * -EINVAL/-ENOMEM with one line in @err (without the "--disk" prefix).
 */
int parse_disk_option(const char *s, struct virtio_blk_opts *o, struct error *err);

/*
 * A --net value: tap[=NAME][,mac=XX:XX:XX:XX:XX:XX][,vhost=on|off], options in
 * any order. Returns 0, or -EINVAL with one line in @err (without the "--net"
 * prefix).
 */
int parse_net_option(const char *s, struct virtio_net_opts *o, struct error *err);

/* A unicast MAC address written as six colon-separated hex pairs. */
int parse_mac(const char *s, uint8_t mac[6]);

#endif
