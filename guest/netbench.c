// SPDX-License-Identifier: MIT
/*
 * netbench: a small TCP benchmark for kvmini's guest (installed at
 * /bin/netbench in the default initramfs) and its host side (the same static
 * binary). Plain libc, IPv4 servers, numeric addresses only (no resolver, so
 * it links statically without NSS).
 *
 *   netbench [OPTIONS] recv PORT                 accept one connection, read to EOF
 *   netbench [OPTIONS] send HOST PORT BYTES      connect, send BYTES of the stream
 *   netbench [OPTIONS] rr-server PORT            accept one connection, echo to EOF
 *   netbench [OPTIONS] rr HOST PORT COUNT        COUNT 1-byte round trips
 *
 * The stream is the xorshift64* sequence from a fixed seed, 8 bytes per step
 * in host byte order, so sender and receiver agree on its checksum without
 * exchanging anything. The checksum is a 64-bit multiplicative hash of the
 * stream taken 8 bytes at a time (the tail zero-padded), then of its length;
 * it does not depend on how the stream was cut into reads.
 *
 * One line on stdout on success (mbps = 10^6 bytes per second):
 *   netbench mode=send bytes=N secs=F mbps=F sum=HEX
 *   netbench mode=recv bytes=N secs=F mbps=F sum=HEX
 *   netbench mode=rr count=N secs=F mean_us=F median_us=F min_us=F max_us=F
 *   netbench mode=rr-server count=N
 * With -a, servers also print "netbench accepted" (flushed) once the
 * connection is in, so a harness can time what it wraps around the transfer.
 * Errors: one line on stderr, status 1 (2 for usage errors).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "netbench"
#include "benchutil.h"

#define STATUS_FAILED 1
#define STATUS_USAGE 2
#define IO_CHUNK (256u << 10)
#define STREAM_SEED 0x6e657462656e6368ull /* "netbench" */
#define SUM_INIT 0xcbf29ce484222325ull
#define SUM_PRIME 0x100000001b3ull
#define DEFAULT_CONNECT_WAIT_S 10.0
#define RETRY_DELAY_NS 100000000L
#define MAX_RR_COUNT 10000000ull
#define RR_INITIAL_SAMPLES 65536

struct net_config {
	const char *mode;
	const char *host;
	uint16_t port;
	uint64_t amount; /* bytes for send, round trips for rr; 0: only -t limits */
	double wait_s; /* clients: retry this long; servers: accept timeout (<0: none) */
	double runtime_s; /* 0: no time limit */
	bool announce; /* servers: say when the connection is accepted */
};

/* Checksum state: bytes that do not fill a word yet wait in pending. */
struct stream_sum {
	uint64_t hash;
	uint64_t bytes;
	uint8_t pending[8];
	unsigned int npending;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: netbench [OPTIONS] recv PORT\n"
		"       netbench [OPTIONS] send HOST PORT BYTES\n"
		"       netbench [OPTIONS] rr-server PORT\n"
		"       netbench [OPTIONS] rr HOST PORT COUNT\n"
		"  -w SECS   clients: keep retrying the connection this long (default 10);\n"
		"            servers: give up when nobody connects within SECS (default: wait)\n"
		"  -t SECS   send/rr: stop after SECS even before BYTES/COUNT (0 in BYTES or\n"
		"            COUNT: only the time limit)\n"
		"  -a        servers: print \"netbench accepted\" when the connection is in\n"
		"  -h        this text\n"
		"BYTES takes K, M or G suffixes (powers of 1024). HOST is a numeric address.\n"
		"Output: netbench mode=send|recv bytes=N secs=F mbps=F sum=HEX\n"
		"        netbench mode=rr count=N secs=F mean_us=F median_us=F min_us=F max_us=F\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sum_word(struct stream_sum *s, uint64_t word)
{
	s->hash = (s->hash ^ word) * SUM_PRIME;
}

static void sum_update(struct stream_sum *s, const uint8_t *p, size_t n)
{
	uint64_t word;

	s->bytes += n;
	while (s->npending && n) {
		s->pending[s->npending++] = *p++;
		n--;
		if (s->npending == sizeof(word)) {
			memcpy(&word, s->pending, sizeof(word));
			sum_word(s, word);
			s->npending = 0;
		}
	}
	for (; n >= sizeof(word); p += sizeof(word), n -= sizeof(word)) {
		memcpy(&word, p, sizeof(word));
		sum_word(s, word);
	}
	memcpy(s->pending, p, n);
	s->npending = (unsigned int)n;
}

static uint64_t sum_final(const struct stream_sum *s)
{
	struct stream_sum t = *s;
	uint64_t word = 0;

	if (t.npending) {
		memcpy(&word, t.pending, t.npending);
		sum_word(&t, word);
	}
	sum_word(&t, t.bytes);
	return t.hash;
}

/* Fills @words 8-byte words of the stream. */
static void stream_fill(uint64_t *rng, uint64_t *buf, size_t words)
{
	uint64_t x = *rng;

	for (size_t i = 0; i < words; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		buf[i] = x * 0x2545f4914f6cdd1dull;
	}
	*rng = x;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e6)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* Returns 0, or the exit status for a usage error (message already printed). */
static int parse_args(int argc, char **argv, struct net_config *cfg)
{
	bool client;
	int nargs, opt;

	*cfg = (struct net_config){ .wait_s = -1 };
	while ((opt = getopt(argc, argv, "+aw:t:h")) != -1) {
		switch (opt) {
		case 'a':
			cfg->announce = true;
			break;
		case 'w':
			if (parse_seconds(optarg, &cfg->wait_s)) {
				fail("-w %s: not a number of seconds", optarg);
				return STATUS_USAGE;
			}
			break;
		case 't':
			if (parse_seconds(optarg, &cfg->runtime_s)) {
				fail("-t %s: not a number of seconds", optarg);
				return STATUS_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return STATUS_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return STATUS_USAGE;
	}
	cfg->mode = argv[optind++];
	if (strcmp(cfg->mode, "recv") == 0 || strcmp(cfg->mode, "rr-server") == 0) {
		client = false;
		nargs = 1;
	} else if (strcmp(cfg->mode, "send") == 0 || strcmp(cfg->mode, "rr") == 0) {
		client = true;
		nargs = 3;
	} else {
		fail("unknown mode '%s' (recv, send, rr-server or rr)", cfg->mode);
		return STATUS_USAGE;
	}
	if (argc - optind != nargs) {
		fail("%s takes %d argument%s", cfg->mode, nargs, nargs > 1 ? "s" : "");
		return STATUS_USAGE;
	}
	if (client)
		cfg->host = argv[optind++];
	if (parse_port(argv[optind], &cfg->port)) {
		fail("port %s: want 1-65535", argv[optind]);
		return STATUS_USAGE;
	}
	optind++;
	if (client) {
		if (parse_size(argv[optind], &cfg->amount) ||
		    (strcmp(cfg->mode, "rr") == 0 && cfg->amount > MAX_RR_COUNT)) {
			fail("%s: bad %s", argv[optind],
			     strcmp(cfg->mode, "rr") == 0 ? "count" : "size");
			return STATUS_USAGE;
		}
		if (cfg->amount == 0 && cfg->runtime_s == 0) {
			fail("%s 0 needs a time limit (-t)", cfg->mode);
			return STATUS_USAGE;
		}
		if (cfg->wait_s < 0)
			cfg->wait_s = DEFAULT_CONNECT_WAIT_S;
	}
	return 0;
}

static int set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A listening IPv4 socket on all addresses, or -1 (message printed). */
static int listen_on(uint16_t port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int one = 1;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fail("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
		fail("listening on port %u: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Accepts one connection within cfg->wait_s (<0: no limit); -1 on failure. */
static int accept_one(const struct net_config *cfg)
{
	struct pollfd pfd;
	int lfd, fd, ret;
	int timeout_ms = cfg->wait_s < 0 ? -1 : (int)(cfg->wait_s * 1000);

	lfd = listen_on(cfg->port);
	if (lfd < 0)
		return -1;
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	do
		ret = poll(&pfd, 1, timeout_ms);
	while (ret < 0 && errno == EINTR);
	if (ret <= 0) {
		fail("port %u: %s", cfg->port,
		     ret == 0 ? "nobody connected in time" : strerror(errno));
		close(lfd);
		return -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		fail("accept on port %u: %s", cfg->port, strerror(errno));
	else if (cfg->announce && (puts("netbench accepted") == EOF || fflush(stdout) != 0))
		fail("writing to stdout: %s", strerror(errno));
	close(lfd);
	return fd;
}

static int parse_host(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

/*
 * Connects to cfg->host, retrying for cfg->wait_s so that the server may
 * start after the client. Returns a blocking socket or -1 (message printed).
 */
static int connect_retrying(const struct net_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	double deadline = now_s() + cfg->wait_s;
	int err;

	if (parse_host(cfg->host, cfg->port, &ss, &len)) {
		fail("%s: not a numeric IPv4 or IPv6 address", cfg->host);
		return -1;
	}
	for (;;) {
		double left = deadline - now_s();
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (fd < 0) {
			fail("socket: %s", strerror(errno));
			return -1;
		}
		err = connect_within(fd, (const struct sockaddr *)&ss, len, left > 1 ? left : 1);
		if (err == 0) {
			int flags = fcntl(fd, F_GETFL);

			if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
				fail("fcntl: %s", strerror(errno));
				close(fd);
				return -1;
			}
			return fd;
		}
		close(fd);
		if (now_s() + RETRY_DELAY_NS / 1e9 > deadline)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = RETRY_DELAY_NS }, NULL);
	}
	fail("connecting to %s port %u: %s (gave up after %g s)", cfg->host, cfg->port,
	     strerror(-err), cfg->wait_s);
	return -1;
}

static void print_transfer(const char *mode, const struct stream_sum *sum, double secs)
{
	if (secs <= 0)
		secs = 1e-9;
	printf("netbench mode=%s bytes=%" PRIu64 " secs=%.6f mbps=%.2f sum=%016" PRIx64 "\n", mode,
	       sum->bytes, secs, (double)sum->bytes / secs / 1e6, sum_final(sum));
}

static int run_send(const struct net_config *cfg)
{
	struct stream_sum sum = { .hash = SUM_INIT };
	uint64_t rng = STREAM_SEED;
	uint64_t *buf;
	uint8_t drain[256];
	double start, deadline;
	int fd, ret = STATUS_FAILED;

	buf = malloc(IO_CHUNK);
	if (!buf) {
		fail("out of memory");
		return STATUS_FAILED;
	}
	fd = connect_retrying(cfg);
	if (fd < 0)
		goto out_free;
	start = now_s();
	deadline = cfg->runtime_s > 0 ? start + cfg->runtime_s : 0;
	while (!cfg->amount || sum.bytes < cfg->amount) {
		size_t n = IO_CHUNK;
		int err;

		if (cfg->amount && cfg->amount - sum.bytes < n)
			n = (size_t)(cfg->amount - sum.bytes);
		if (deadline && now_s() >= deadline)
			break;
		stream_fill(&rng, buf, (n + 7) / 8);
		err = write_all(fd, (const uint8_t *)buf, n);
		if (err) {
			fail("sending to %s port %u: %s", cfg->host, cfg->port, strerror(-err));
			goto out_close;
		}
		sum_update(&sum, (const uint8_t *)buf, n);
	}
	/* Done when the receiver has it all: it closes after reading EOF. */
	if (shutdown(fd, SHUT_WR) < 0) {
		fail("shutdown: %s", strerror(errno));
		goto out_close;
	}
	for (;;) {
		ssize_t r = read(fd, drain, sizeof(drain));

		if (r == 0)
			break;
		if (r < 0 && errno != EINTR) {
			fail("waiting for the receiver to close: %s", strerror(errno));
			goto out_close;
		}
	}
	print_transfer("send", &sum, now_s() - start);
	ret = 0;
out_close:
	close(fd);
out_free:
	free(buf);
	return ret;
}

static int run_recv(const struct net_config *cfg)
{
	struct stream_sum sum = { .hash = SUM_INIT };
	uint8_t *buf;
	double start;
	int fd, ret = STATUS_FAILED;

	buf = malloc(IO_CHUNK);
	if (!buf) {
		fail("out of memory");
		return STATUS_FAILED;
	}
	fd = accept_one(cfg);
	if (fd < 0)
		goto out_free;
	start = now_s();
	for (;;) {
		ssize_t r = read(fd, buf, IO_CHUNK);

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail("receiving on port %u: %s", cfg->port, strerror(errno));
			goto out_close;
		}
		sum_update(&sum, buf, (size_t)r);
	}
	print_transfer("recv", &sum, now_s() - start);
	ret = 0;
out_close:
	close(fd);
out_free:
	free(buf);
	return ret;
}

static int run_rr_server(const struct net_config *cfg)
{
	uint8_t buf[4096];
	uint64_t count = 0;
	int fd;

	fd = accept_one(cfg);
	if (fd < 0)
		return STATUS_FAILED;
	set_nodelay(fd);
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		int err;

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail("rr-server on port %u: %s", cfg->port, strerror(errno));
			close(fd);
			return STATUS_FAILED;
		}
		err = write_all(fd, buf, (size_t)r);
		if (err) {
			fail("rr-server on port %u: %s", cfg->port, strerror(-err));
			close(fd);
			return STATUS_FAILED;
		}
		count += (uint64_t)r;
	}
	close(fd);
	printf("netbench mode=rr-server count=%" PRIu64 "\n", count);
	return 0;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int run_rr(const struct net_config *cfg)
{
	/* Samples grow as needed (a time limit may end the run early). */
	size_t cap = cfg->amount && cfg->amount < RR_INITIAL_SAMPLES ? (size_t)cfg->amount
								     : RR_INITIAL_SAMPLES;
	double *rtt = malloc(cap * sizeof(*rtt));
	double start, deadline, total = 0, lo, hi;
	uint64_t n = 0;
	int fd;

	if (!rtt) {
		fail("out of memory");
		return STATUS_FAILED;
	}
	fd = connect_retrying(cfg);
	if (fd < 0) {
		free(rtt);
		return STATUS_FAILED;
	}
	set_nodelay(fd);
	start = now_s();
	deadline = cfg->runtime_s > 0 ? start + cfg->runtime_s : 0;
	while (!cfg->amount || n < cfg->amount) {
		uint8_t byte = (uint8_t)n;
		double t0 = now_s();
		ssize_t r;
		int err;

		if (deadline && t0 >= deadline)
			break;
		err = write_all(fd, &byte, 1);
		if (err) {
			fail("rr to %s port %u: %s", cfg->host, cfg->port, strerror(-err));
			goto fail;
		}
		do
			r = read(fd, &byte, 1);
		while (r < 0 && errno == EINTR);
		if (r != 1 || byte != (uint8_t)n) {
			fail("rr to %s port %u: %s", cfg->host, cfg->port,
			     r < 0    ? strerror(errno)
			     : r == 0 ? "connection closed"
				      : "wrong echo");
			goto fail;
		}
		if (n == cap) {
			double *bigger = realloc(rtt, 2 * cap * sizeof(*rtt));

			if (!bigger) {
				fail("out of memory");
				goto fail;
			}
			rtt = bigger;
			cap *= 2;
		}
		rtt[n++] = now_s() - t0;
	}
	close(fd);
	if (n == 0) {
		fail("no round trip completed within %g s", cfg->runtime_s);
		free(rtt);
		return STATUS_FAILED;
	}
	qsort(rtt, (size_t)n, sizeof(*rtt), compare_doubles);
	for (uint64_t i = 0; i < n; i++)
		total += rtt[i];
	lo = rtt[0];
	hi = rtt[n - 1];
	printf("netbench mode=rr count=%" PRIu64 " secs=%.6f mean_us=%.1f median_us=%.1f"
	       " min_us=%.1f max_us=%.1f\n",
	       n, now_s() - start, total / (double)n * 1e6,
	       (n % 2 ? rtt[n / 2] : (rtt[n / 2 - 1] + rtt[n / 2]) / 2) * 1e6, lo * 1e6, hi * 1e6);
	free(rtt);
	return 0;
fail:
	close(fd);
	free(rtt);
	return STATUS_FAILED;
}

int main(int argc, char **argv)
{
	struct net_config cfg;
	int ret;

	ret = parse_args(argc, argv, &cfg);
	if (ret)
		return ret;
	/* A vanished peer is an error to report, not a reason to die silently. */
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(cfg.mode, "send") == 0)
		ret = run_send(&cfg);
	else if (strcmp(cfg.mode, "recv") == 0)
		ret = run_recv(&cfg);
	else if (strcmp(cfg.mode, "rr-server") == 0)
		ret = run_rr_server(&cfg);
	else
		ret = run_rr(&cfg);
	if (ret == 0 && fflush(stdout) != 0)
		ret = STATUS_FAILED;
	return ret;
}
