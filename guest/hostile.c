// SPDX-License-Identifier: MIT
/*
 * hostile: a deliberately broken virtio driver for kvmini's end-to-end tests
 * (installed at /bin/hostile in the default initramfs). As root in the
 * guest it takes a virtio-pci device away from Linux's driver, drives it
 * itself through its BARs with rings in a locked page of its own (doorbells
 * through the first notification region offered, as Linux does: ports when
 * it is an I/O BAR), abuses it for a while, then resets it and hands it back
 * to the driver.
 *
 *   hostile DEVICE MODE SECONDS
 *
 * DEVICE: blk or rng (the first such virtio-pci function). MODE:
 *   loop   a descriptor loop, again and again: set the device up, break
 *          it, ring its doorbell many times while it waits for a reset
 *   jump   the same with avail->idx more than a ring ahead
 *   flood  requests on a sound ring that the device must refuse, each with a
 *          warning (rng: a device-readable buffer; blk: a short header),
 *          made available again as fast as the device uses them, with a
 *          doorbell each time
 *
 * Prints one line, "hostile DEVICE MODE cycles=N doorbells=N requests=N
 * failed=N", and exits 0 once the driver has the device back; errors: one
 * line on stderr, status 1 (2 for usage errors).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "hostile"
#include "benchutil.h"

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4

#define PCI_CAP_ID_VNDR 0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3

/* struct virtio_pci_common_cfg */
#define CFG_DFSELECT 0
#define CFG_GFSELECT 8
#define CFG_GF 12
#define CFG_MSIX_CONFIG 16
#define CFG_STATUS 20
#define CFG_Q_SELECT 22
#define CFG_Q_SIZE 24
#define CFG_Q_MSIX 26
#define CFG_Q_ENABLE 28
#define CFG_Q_NOFF 30
#define CFG_Q_DESC 32
#define CFG_Q_AVAIL 40
#define CFG_Q_USED 48

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define NO_VECTOR 0xffff
#define QSIZE 8
#define F_NEXT 1
#define F_WRITE 2
#define AVAIL_F_NO_INTERRUPT 1
/* Doorbells rung at a broken device before setting it up again. */
#define DOORBELLS_PER_CYCLE 2000

/* The ring page: descriptors, avail, used, then request buffers. */
#define DESC_OFF 0x000
#define AVAIL_OFF 0x400
#define USED_OFF 0x800
#define BUF_OFF 0xc00

struct dev {
	char path[256]; /* /sys/bus/pci/devices/BDF */
	const char *bdf;
	uint8_t *bar[6];
	size_t bar_len[6];
	volatile uint8_t *common, *isr;
	volatile uint8_t *notify_base, *notify; /* notify: queue 0's doorbell */
	uint32_t notify_mult;
	bool notify_in_ports; /* then the doorbell is a port: */
	uint32_t notify_port_base, notify_port;
	uint8_t *page; /* mlock'ed: rings and buffers */
	uint64_t page_gpa;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail("%s", msg);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("%s: %s", path, strerror(errno));
	close(fd);
}

static unsigned long read_hex(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		die("%s: %s", path, strerror(errno));
	close(fd);
	return strtoul(buf, NULL, 16);
}

/* The first virtio-pci function (modern device id) of this type. */
static void find_device(struct dev *d, unsigned int virtio_id)
{
	glob_t g;
	char path[300];

	if (glob("/sys/bus/pci/devices/*", 0, NULL, &g))
		die("no PCI devices");
	for (size_t i = 0; i < g.gl_pathc; i++) {
		snprintf(path, sizeof(path), "%s/vendor", g.gl_pathv[i]);
		if (read_hex(path) != VIRTIO_VENDOR)
			continue;
		snprintf(path, sizeof(path), "%s/device", g.gl_pathv[i]);
		if (read_hex(path) != VIRTIO_PCI_DEVICE_BASE + virtio_id)
			continue;
		snprintf(d->path, sizeof(d->path), "%s", g.gl_pathv[i]);
		d->bdf = strrchr(d->path, '/') + 1;
		globfree(&g);
		return;
	}
	die("no virtio device with id %u", virtio_id);
}

static void unbind(struct dev *d)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/driver/unbind", d->path);
	if (access(path, F_OK) == 0)
		write_file(path, d->bdf);
}

static void rebind(struct dev *d)
{
	write_file("/sys/bus/pci/drivers/virtio-pci/bind", d->bdf);
}

/* Memory decoding and bus mastering on (the driver's removal may clear them). */
static void enable_device(struct dev *d, uint8_t *cfg)
{
	char path[300];
	uint16_t cmd = cfg[4] | cfg[5] << 8;
	int fd;

	cmd |= 0x7; /* port and memory decoding, bus mastering */
	snprintf(path, sizeof(path), "%s/config", d->path);
	fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, &cmd, 2, 4) != 2)
		die("%s: %s", path, strerror(errno));
	close(fd);
}

static volatile uint8_t *map_bar(struct dev *d, unsigned int bar, uint32_t offset)
{
	char path[300];
	struct stat st;
	int fd;

	if (bar >= 6)
		die("capability in BAR %u", bar);
	if (!d->bar[bar]) {
		snprintf(path, sizeof(path), "%s/resource%u", d->path, bar);
		fd = open(path, O_RDWR | O_SYNC);
		if (fd < 0 || fstat(fd, &st))
			die("%s: %s", path, strerror(errno));
		d->bar[bar] = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (d->bar[bar] == MAP_FAILED)
			die("mmap %s: %s", path, strerror(errno));
		d->bar_len[bar] = st.st_size;
		close(fd);
	}
	if (offset >= d->bar_len[bar])
		die("capability at 0x%x beyond BAR %u", offset, bar);
	return d->bar[bar] + offset;
}

/* The notification region of the capability at @ptr: memory, or ports. */
static void map_notify(struct dev *d, const uint8_t *cfg, unsigned int ptr, unsigned int bar,
		       uint32_t off)
{
	uint32_t bar_reg, len;

	if (bar >= 6)
		die("capability in BAR %u", bar);
	memcpy(&d->notify_mult, cfg + ptr + 16, 4);
	memcpy(&bar_reg, cfg + 0x10 + 4 * bar, 4);
	if (!(bar_reg & 1)) {
		d->notify_base = map_bar(d, bar, off);
		return;
	}
	memcpy(&len, cfg + ptr + 12, 4);
	d->notify_port_base = (bar_reg & ~3u) + off;
	errno = 0;
	if (d->notify_port_base + len > 0x10000 || len > 0x10000 ||
	    ioperm(d->notify_port_base, len, 1))
		die("%s: ports 0x%x+%u: %s", d->bdf, d->notify_port_base, len,
		    errno ? strerror(errno) : "beyond 0xffff");
	d->notify_in_ports = true;
}

/* Find the common, notify and ISR capabilities in configuration space. */
static void map_caps(struct dev *d)
{
	uint8_t cfg[256];
	char path[300];
	unsigned int ptr, guard = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/config", d->path);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, cfg, sizeof(cfg), 0) != sizeof(cfg))
		die("%s: %s", path, strerror(errno));
	close(fd);
	enable_device(d, cfg);
	for (ptr = cfg[0x34] & ~3u; ptr && ptr < 0xfc && guard++ < 48; ptr = cfg[ptr + 1] & ~3u) {
		uint8_t type = cfg[ptr + 3], bar = cfg[ptr + 4];
		uint32_t off;

		if (cfg[ptr] != PCI_CAP_ID_VNDR || ptr + 16 > sizeof(cfg))
			continue;
		memcpy(&off, cfg + ptr + 8, 4);
		if (type == CAP_COMMON)
			d->common = map_bar(d, bar, off);
		else if (type == CAP_ISR)
			d->isr = map_bar(d, bar, off);
		else if (type == CAP_NOTIFY && ptr + 20 <= sizeof(cfg) && !d->notify_base &&
			 !d->notify_in_ports)
			map_notify(d, cfg, ptr, bar, off);
	}
	if (!d->common || !d->isr || (!d->notify_base && !d->notify_in_ports))
		die("%s: virtio capabilities not found", d->bdf);
}

/* A locked page and its guest-physical address, from /proc/self/pagemap. */
static void alloc_page_gpa(struct dev *d)
{
	uint64_t entry;
	int fd;

	d->page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->page == MAP_FAILED || mlock(d->page, 4096))
		die("locked page: %s", strerror(errno));
	memset(d->page, 0, 4096);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &entry, 8, (off_t)((uintptr_t)d->page / 4096 * 8)) != 8)
		die("/proc/self/pagemap: %s", strerror(errno));
	close(fd);
	if (!(entry >> 63) || !(entry & ((1ULL << 55) - 1)))
		die("no physical address for the ring page (not root?)");
	d->page_gpa = (entry & ((1ULL << 55) - 1)) * 4096;
}

static void w8(volatile uint8_t *p, uint8_t v)
{
	*p = v;
}

static void w16(volatile uint8_t *p, uint16_t v)
{
	*(volatile uint16_t *)p = v;
}

static void w32(volatile uint8_t *p, uint32_t v)
{
	*(volatile uint32_t *)p = v;
}

static uint8_t r8(volatile uint8_t *p)
{
	return *p;
}

static uint16_t r16(volatile uint8_t *p)
{
	return *(volatile uint16_t *)p;
}

static void w64(volatile uint8_t *p, uint64_t v)
{
	w32(p, (uint32_t)v);
	w32(p + 4, (uint32_t)(v >> 32));
}

static void set_status(struct dev *d, uint8_t s)
{
	w8(d->common + CFG_STATUS, s);
}

static void reset(struct dev *d)
{
	set_status(d, 0);
	for (int i = 0; i < 1000 && r8(d->common + CFG_STATUS); i++)
		usleep(1000);
	/* Lower INTx if the device raised it (the driver is gone). */
	(void)r8(d->isr);
}

static uint16_t *avail_ring(struct dev *d)
{
	return (uint16_t *)(d->page + AVAIL_OFF);
}

static volatile uint16_t *used_idx(struct dev *d)
{
	return (volatile uint16_t *)(d->page + USED_OFF + 2);
}

static void put_desc(struct dev *d, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *p = d->page + DESC_OFF + 16 * i;

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

/* Reset, negotiate VERSION_1 only, queue 0 of QSIZE in our page, DRIVER_OK. */
static void setup(struct dev *d)
{
	uint16_t max;

	reset(d);
	memset(d->page, 0, BUF_OFF);
	/* No interrupts, please: nobody in the guest handles them now. */
	avail_ring(d)[0] = AVAIL_F_NO_INTERRUPT;
	set_status(d, S_ACK);
	set_status(d, S_ACK | S_DRIVER);
	w32(d->common + CFG_GFSELECT, 0);
	w32(d->common + CFG_GF, 0);
	w32(d->common + CFG_GFSELECT, 1);
	w32(d->common + CFG_GF, 1); /* VERSION_1 */
	set_status(d, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(r8(d->common + CFG_STATUS) & S_FEATURES_OK))
		die("%s: FEATURES_OK refused", d->bdf);
	w16(d->common + CFG_MSIX_CONFIG, NO_VECTOR);
	w16(d->common + CFG_Q_SELECT, 0);
	max = r16(d->common + CFG_Q_SIZE);
	if (max < QSIZE)
		die("%s: queue 0 has %u entries", d->bdf, max);
	w16(d->common + CFG_Q_SIZE, QSIZE);
	w16(d->common + CFG_Q_MSIX, NO_VECTOR);
	w64(d->common + CFG_Q_DESC, d->page_gpa + DESC_OFF);
	w64(d->common + CFG_Q_AVAIL, d->page_gpa + AVAIL_OFF);
	w64(d->common + CFG_Q_USED, d->page_gpa + USED_OFF);
	w16(d->common + CFG_Q_ENABLE, 1);
	if (d->notify_in_ports)
		d->notify_port = d->notify_port_base + r16(d->common + CFG_Q_NOFF) * d->notify_mult;
	else
		d->notify = d->notify_base + r16(d->common + CFG_Q_NOFF) * d->notify_mult;
	set_status(d, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if (!(r8(d->common + CFG_STATUS) & S_DRIVER_OK))
		die("%s: DRIVER_OK refused", d->bdf);
}

static void doorbell(struct dev *d)
{
	if (d->notify_in_ports)
		outw(0, (unsigned short)d->notify_port);
	else
		w16(d->notify, 0);
}

static void publish(struct dev *d, uint16_t idx)
{
	__atomic_store_n(&avail_ring(d)[1], idx, __ATOMIC_RELEASE);
}

/* A bad request at descriptor 0: a readable buffer for the rng, a header
 * of 8 bytes (not 16) and a status byte for the disk. */
static void put_request(struct dev *d, bool blk)
{
	uint64_t buf = d->page_gpa + BUF_OFF;

	if (!blk) {
		put_desc(d, 0, buf, 64, 0, 0);
		return;
	}
	memset(d->page + BUF_OFF, 0, 16);
	put_desc(d, 0, buf, 8, F_NEXT, 1);
	put_desc(d, 1, buf + 48, 1, F_WRITE, 0);
}

int main(int argc, char **argv)
{
	unsigned long cycles = 0, doorbells = 0, requests = 0, failed = 0;
	struct dev d = { 0 };
	const char *mode;
	double end;
	bool blk;

	if (argc != 4 || (strcmp(argv[1], "blk") && strcmp(argv[1], "rng")) ||
	    (strcmp(argv[2], "loop") && strcmp(argv[2], "jump") && strcmp(argv[2], "flood"))) {
		fail("usage: hostile blk|rng loop|jump|flood SECONDS");
		return 2;
	}
	blk = !strcmp(argv[1], "blk");
	mode = argv[2];
	find_device(&d, blk ? VIRTIO_ID_BLOCK : VIRTIO_ID_RNG);
	alloc_page_gpa(&d);
	unbind(&d);
	map_caps(&d);
	end = now() + atof(argv[3]);

	while (now() < end) {
		setup(&d);
		cycles++;
		if (!strcmp(mode, "flood")) {
			uint16_t idx = 0;

			put_request(&d, blk);
			/* Keep the ring full of the same request until the time is up. */
			while (now() < end) {
				while ((uint16_t)(idx - *used_idx(&d)) < QSIZE) {
					avail_ring(&d)[2 + idx % QSIZE] = 0;
					idx++;
					requests++;
				}
				publish(&d, idx);
				doorbell(&d);
				/* A status read traps to kvmini: not every time. */
				if (++doorbells % 256 == 0 &&
				    (r8(d.common + CFG_STATUS) & S_NEEDS_RESET)) {
					failed++;
					break;
				}
			}
			continue;
		}
		/* Two empty descriptors pointing at each other. */
		put_desc(&d, 0, d.page_gpa + BUF_OFF, 0, F_NEXT, 1);
		put_desc(&d, 1, d.page_gpa + BUF_OFF, 0, F_NEXT, 0);
		avail_ring(&d)[2] = 0;
		publish(&d, !strcmp(mode, "jump") ? QSIZE + 1 : 1);
		for (int i = 0; i < DOORBELLS_PER_CYCLE; i++) {
			doorbell(&d);
			doorbells++;
		}
		(void)r8(d.isr);
		failed += !!(r8(d.common + CFG_STATUS) & S_NEEDS_RESET);
	}
	reset(&d);
	rebind(&d);
	printf("hostile %s %s cycles=%lu doorbells=%lu requests=%lu failed=%lu\n", argv[1], mode,
	       cycles, doorbells, requests, failed);
	return 0;
}
