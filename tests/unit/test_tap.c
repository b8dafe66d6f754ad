// SPDX-License-Identifier: MIT
/* The TAP backend against the host kernel's real tun driver (needs root;
 * skipped without /dev/net/tun or CAP_NET_ADMIN). */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/tap.h"
#include "virtio/net.h"

static bool iface_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* Create a TAP or skip the test when this process may not. */
static void open_or_skip(struct tap *tap)
{
	struct error err = { 0 };
	int ret = tap_open(tap, NULL, &err);

	if (ret == -EPERM || ret == -EACCES || ret == -ENOENT || ret == -ENODEV) {
		print_message("skipped: %s\n", err.msg);
		skip();
	}
	assert_int_equal(ret, 0);
}

static void test_create_and_remove(void **state)
{
	struct tap tap;
	char name[IFNAMSIZ], path[64];
	FILE *f;
	unsigned int flags = 0;

	(void)state;
	open_or_skip(&tap);
	assert_true(tap.created);
	assert_int_equal(strncmp(tap.ifname, "kvmini", 6), 0);
	assert_true(iface_exists(tap.ifname));
	assert_true(fcntl(tap.fd, F_GETFL) & O_NONBLOCK);
	/* kvmini brings an interface it created up. */
	snprintf(path, sizeof(path), "/sys/class/net/%s/flags", tap.ifname);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%x", &flags), 1);
	fclose(f);
	assert_true(flags & 1); /* IFF_UP */
	assert_int_equal(tap_set_offload(&tap, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), 0);
	snprintf(name, sizeof(name), "%s", tap.ifname);
	tap_close(&tap);
	assert_int_equal(tap.fd, -1);
	assert_false(iface_exists(name));
}

/* A frame written with a virtio-net header leaves on the interface without it. */
static void test_frame_out(void **state)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN] = { 0 }, frame[60], got[128];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { frame, sizeof(frame) } };
	struct pollfd pfd;
	struct tap tap;
	int s;
	ssize_t n;

	(void)state;
	open_or_skip(&tap);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(s >= 0);
	sll.sll_ifindex = if_nametoindex(tap.ifname);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	memset(frame, 0xff, 6); /* broadcast */
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);
	frame[12] = 0x88; /* local experimental ethertype 0x88b5 */
	frame[13] = 0xb5;
	for (size_t i = 14; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	assert_int_equal(writev(tap.fd, iov, 2), (ssize_t)(sizeof(hdr) + sizeof(frame)));
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	do {
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		n = recv(s, got, sizeof(got), 0);
	} while (n > 0 && (n < 14 || got[12] != 0x88 || got[13] != 0xb5));
	assert_int_equal(n, sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	close(s);
	tap_close(&tap);
}

static void test_attach_existing(void **state)
{
	struct error err = { 0 };
	struct tap owner, tap;

	(void)state;
	open_or_skip(&owner);
	/* A non-persistent TAP held by another fd is busy: one line says so. */
	assert_true(tap_open(&tap, owner.ifname, &err) < 0);
	assert_non_null(strstr(err.msg, owner.ifname));
	assert_null(strchr(err.msg, '\n'));
	/* Once persistent and free, it can be attached (and stays afterwards). */
	assert_int_equal(ioctl(owner.fd, TUNSETPERSIST, 1), 0);
	tap_close(&owner);
	assert_int_equal(tap_open(&tap, owner.ifname, &err), 0);
	assert_false(tap.created);
	tap_close(&tap);
	assert_true(iface_exists(owner.ifname));
	assert_int_equal(tap_open(&tap, owner.ifname, &err), 0);
	assert_int_equal(ioctl(tap.fd, TUNSETPERSIST, 0), 0);
	tap_close(&tap);
	assert_false(iface_exists(owner.ifname));
}

static void test_bad_names(void **state)
{
	struct error err = { 0 };
	struct tap tap;

	(void)state;
	if (access("/dev/net/tun", R_OK | W_OK))
		skip();
	assert_int_equal(tap_open(&tap, "kvmini-nosuch0", &err), -ENODEV);
	assert_non_null(strstr(err.msg, "no network interface named kvmini-nosuch0"));
	assert_int_equal(tap.fd, -1);
	assert_int_equal(tap_open(&tap, "abcdefghijklmnopq", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
	/* lo exists but is no TAP. */
	assert_true(tap_open(&tap, "lo", &err) < 0);
	assert_non_null(strstr(err.msg, "lo"));
	assert_int_equal(tap.fd, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_remove),
		cmocka_unit_test(test_frame_out),
		cmocka_unit_test(test_attach_existing),
		cmocka_unit_test(test_bad_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
