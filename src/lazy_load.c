// SPDX-License-Identifier: MIT
/* Guest RAM filled from files in the background; see lazy_load.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lazy_load.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void lazy_load_init(struct lazy_load *l, const struct guest_mem *mem)
{
	memset(l, 0, sizeof(*l));
	l->mem = mem;
	l->uffd = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
}

void lazy_load_go(struct lazy_load *l)
{
	pthread_mutex_lock(&l->lock);
	l->go = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

int lazy_load_add(struct lazy_load *l, uint64_t gpa, uint64_t len, int fd, uint64_t offset)
{
	struct lazy_range *r;

	if (!guest_mem_ptr(l->mem, gpa, len))
		return -EFAULT;
	if (len == 0)
		return 0;
	for (unsigned int i = 0; i < l->nr_ranges; i++) {
		r = &l->ranges[i];
		if (gpa < r->gpa + r->len && r->gpa < gpa + len)
			return -EINVAL;
	}
	if (l->nr_ranges == LAZY_LOAD_MAX_RANGES)
		return -E2BIG;
	r = &l->ranges[l->nr_ranges];
	r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r->fd < 0)
		return -errno;
	r->gpa = gpa;
	r->len = len;
	r->offset = offset;
	l->nr_ranges++;
	return 0;
}

/*
 * Read the recorded bytes that fall in guest [@gpa, @gpa + @len) into @buf
 * (@len bytes standing for @gpa), or into guest RAM itself when @buf is NULL.
 */
static int read_span(const struct lazy_load *l, uint64_t gpa, uint64_t len, uint8_t *buf,
		     uint64_t *bad_gpa)
{
	struct guest_mem staging;

	if (buf)
		guest_mem_init_buffer(&staging, buf, len);
	for (unsigned int i = 0; i < l->nr_ranges; i++) {
		const struct lazy_range *r = &l->ranges[i];
		uint64_t lo = r->gpa > gpa ? r->gpa : gpa;
		uint64_t hi = r->gpa + r->len < gpa + len ? r->gpa + r->len : gpa + len;
		int ret;

		if (lo >= hi)
			continue;
		ret = guest_mem_load_file(buf ? &staging : l->mem, buf ? lo - gpa : lo, NULL,
					  hi - lo, r->fd, r->offset + (lo - r->gpa),
					  GUEST_MEM_READ);
		if (ret) {
			*bad_gpa = lo;
			return ret;
		}
	}
	return 0;
}

static int read_error(char *msg, size_t msg_len, int ret, uint64_t gpa)
{
	/* -EIO also when the file ended early (it changed since it was parsed). */
	snprintf(msg, msg_len, "cannot read the file bytes for guest RAM at 0x%llx: %s",
		 (unsigned long long)gpa,
		 ret == -EIO ? "read error or the file is shorter" : strerror(-ret));
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every chunk a range touches, sorted, each once. */
static int list_chunks(struct lazy_load *l)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < l->nr_ranges; i++) {
		const struct lazy_range *r = &l->ranges[i];

		n += (unsigned int)(((r->gpa + r->len + LAZY_LOAD_CHUNK - 1) / LAZY_LOAD_CHUNK) -
				    r->gpa / LAZY_LOAD_CHUNK);
	}
	l->chunks = calloc(n ? n : 1, sizeof(*l->chunks));
	l->filled = calloc(n ? n : 1, sizeof(*l->filled));
	if (!l->chunks || !l->filled)
		return -ENOMEM;
	n = 0;
	for (unsigned int i = 0; i < l->nr_ranges; i++) {
		const struct lazy_range *r = &l->ranges[i];

		for (uint64_t c = r->gpa & ~(LAZY_LOAD_CHUNK - 1); c < r->gpa + r->len;
		     c += LAZY_LOAD_CHUNK)
			l->chunks[n++] = c;
	}
	qsort(l->chunks, n, sizeof(*l->chunks), cmp_u64);
	l->nr_chunks = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (l->nr_chunks == 0 || l->chunks[l->nr_chunks - 1] != l->chunks[i])
			l->chunks[l->nr_chunks++] = l->chunks[i];
	}
	return 0;
}

/* The chunk's host address when it can be filled lazily, else NULL. */
static uint8_t *lazy_chunk_host(const struct lazy_load *l, uint64_t gpa)
{
	unsigned char resident[LAZY_LOAD_CHUNK / 4096];
	uint8_t *p = guest_mem_ptr(l->mem, gpa, LAZY_LOAD_CHUNK);

	/* Not all RAM (the end of a region), or not a 2 MiB page of ours. */
	if (!p || ((uintptr_t)p & (LAZY_LOAD_CHUNK - 1)) || !l->mem->owns_mapping)
		return NULL;
	/* Someone wrote there already: mremap() would throw that away. */
	if (mincore(p, LAZY_LOAD_CHUNK, resident))
		return NULL;
	for (size_t i = 0; i < sizeof(resident); i++) {
		if (resident[i] & 1)
			return NULL;
	}
	return p;
}

/* Read chunk @i's bytes straight into guest RAM. */
static int fill_in_place(struct lazy_load *l, unsigned int i, struct error *err)
{
	uint64_t bad = 0;
	int ret = read_span(l, l->chunks[i], LAZY_LOAD_CHUNK, NULL, &bad);

	char msg[256];

	if (ret)
		return error_set(err, read_error(msg, sizeof(msg), ret, bad), "%s", msg);
	atomic_store(&l->filled[i], true);
	return 0;
}

static int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static int uffd_register(int uffd, void *p, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

/*
 * Put chunk @i together in a 2 MiB buffer of its own and move that over the
 * registered, still empty chunk: whoever waits on it finds it full.
 */
static int fill_by_move(struct lazy_load *l, unsigned int i, char *msg, size_t msg_len)
{
	uint8_t *dst = guest_mem_ptr(l->mem, l->chunks[i], LAZY_LOAD_CHUNK);
	uint8_t *raw, *buf;
	uint64_t bad = 0;
	int ret;

	raw = mmap(NULL, 2 * LAZY_LOAD_CHUNK, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED) {
		snprintf(msg, msg_len, "cannot map a buffer for guest RAM: %s", strerror(errno));
		return -ENOMEM;
	}
	buf = (uint8_t *)(((uintptr_t)raw + LAZY_LOAD_CHUNK - 1) & ~(LAZY_LOAD_CHUNK - 1));
	if (buf > raw)
		munmap(raw, (size_t)(buf - raw));
	munmap(buf + LAZY_LOAD_CHUNK, (size_t)(raw + LAZY_LOAD_CHUNK - buf));
	/* Like the rest of guest RAM (guest_mem_alloc()). */
	madvise(buf, LAZY_LOAD_CHUNK, MADV_HUGEPAGE);
	madvise(buf, LAZY_LOAD_CHUNK, MADV_DONTDUMP);
	ret = read_span(l, l->chunks[i], LAZY_LOAD_CHUNK, buf, &bad);
	if (ret) {
		munmap(buf, LAZY_LOAD_CHUNK);
		return read_error(msg, msg_len, ret, bad);
	}
	if (mremap(buf, LAZY_LOAD_CHUNK, LAZY_LOAD_CHUNK, MREMAP_MAYMOVE | MREMAP_FIXED, dst) ==
	    MAP_FAILED) {
		/*
		 * Usually still registered then: userfaultfd's own copy (4 KiB
		 * pages) works, page by page past any a waiter's retry filled.
		 * Gone (ENOENT: mremap() unmapped it and failed to move), the
		 * guest cannot go on.
		 */
		for (uint64_t off = 0; off < LAZY_LOAD_CHUNK && !ret; off += 4096) {
			struct uffdio_copy copy = {
				.dst = (uintptr_t)(dst + off),
				.src = (uintptr_t)(buf + off),
				.len = 4096,
			};

			if (ioctl(l->uffd, UFFDIO_COPY, &copy) < 0 && errno != EEXIST)
				ret = -errno;
		}
		munmap(buf, LAZY_LOAD_CHUNK);
		if (ret) {
			snprintf(msg, msg_len, "cannot fill guest RAM at 0x%llx: %s",
				 (unsigned long long)l->chunks[i], strerror(-ret));
			return ret;
		}
	}
	atomic_store(&l->filled[i], true);
	return 0;
}

static void wake_chunk(struct lazy_load *l, unsigned int i)
{
	struct uffdio_range range = {
		.start = (uintptr_t)guest_mem_ptr(l->mem, l->chunks[i], LAZY_LOAD_CHUNK),
		.len = LAZY_LOAD_CHUNK,
	};

	ioctl(l->uffd, UFFDIO_WAKE, &range);
}

/* The chunk someone waits for, or -1 when nobody does. */
static int next_fault(struct lazy_load *l)
{
	struct uffd_msg msg;

	while (read(l->uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
		uint8_t *addr = (uint8_t *)(uintptr_t)msg.arg.pagefault.address;

		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		for (unsigned int i = 0; i < l->nr_chunks; i++) {
			uint8_t *p = guest_mem_ptr(l->mem, l->chunks[i], LAZY_LOAD_CHUNK);

			if (p && addr >= p && addr < p + LAZY_LOAD_CHUNK)
				return (int)i;
		}
	}
	return -1;
}

static void *loader_thread(void *opaque)
{
	struct lazy_load *l = opaque;
	struct error err = { 0 };
	char msg[256];
	unsigned int next = 0;

	sigset_t all;

	/* Signals are for the main thread (vm_wait()) and the vCPU kicks. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* The vCPUs and devices come first; one waiting for a chunk sleeps,
	 * which leaves this thread the CPU. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	if (l->thread_init && l->thread_init(l->opaque, &err)) {
		if (l->failed)
			l->failed(l->opaque, err.msg);
		goto out;
	}
	pthread_mutex_lock(&l->lock);
	while (!l->go)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
	while (!atomic_load(&l->stop)) {
		int i = next_fault(l);

		if (i >= 0) {
			atomic_fetch_add(&l->nr_faults, !atomic_load(&l->filled[i]));
		} else {
			while (next < l->nr_chunks && atomic_load(&l->filled[next]))
				next++;
			if (next == l->nr_chunks)
				break;
			i = (int)next;
		}
		if (!atomic_load(&l->filled[i]) &&
		    fill_by_move(l, (unsigned int)i, msg, sizeof(msg))) {
			if (l->failed)
				l->failed(l->opaque, msg);
			break;
		}
		wake_chunk(l, (unsigned int)i);
	}
	/* A stop can come right after the last chunk: count, do not guess. */
	next = 0;
	while (next < l->nr_chunks && atomic_load(&l->filled[next]))
		next++;
	if (next == l->nr_chunks)
		atomic_store(&l->done_ns, now_ns());
out:
	/* Closing drops every registration left: a waiter finds zeroes. */
	close(l->uffd);
	l->uffd = -1;
	return NULL;
}

int lazy_load_start(struct lazy_load *l, bool eager, struct error *err)
{
	int ret = list_chunks(l);

	if (ret)
		return error_set(err, ret, "cannot list the chunks of guest RAM to load: %s",
				 strerror(-ret));
	if (!eager && l->nr_chunks)
		l->uffd = uffd_open();
	for (unsigned int i = 0; i < l->nr_chunks; i++) {
		uint8_t *p = l->uffd >= 0 ? lazy_chunk_host(l, l->chunks[i]) : NULL;

		if (p && uffd_register(l->uffd, p, LAZY_LOAD_CHUNK) == 0)
			continue;
		ret = fill_in_place(l, i, err);
		if (ret)
			return ret;
		l->nr_eager++;
	}
	if (l->uffd >= 0 && l->nr_eager < l->nr_chunks) {
		ret = pthread_create(&l->thread, NULL, loader_thread, l);
		if (ret) {
			/* Unregistered by the close: read the rest in now. */
			close(l->uffd);
			l->uffd = -1;
			for (unsigned int i = 0; i < l->nr_chunks && !ret; i++)
				ret = atomic_load(&l->filled[i]) ? 0 : fill_in_place(l, i, err);
			if (!ret)
				atomic_store(&l->done_ns, now_ns());
			l->nr_eager = l->nr_chunks;
			return ret;
		}
		l->thread_started = true;
		l->lazy = true;
		return 0;
	}
	if (l->uffd >= 0)
		close(l->uffd);
	l->uffd = -1;
	atomic_store(&l->done_ns, now_ns());
	return 0;
}

int lazy_load_now(struct lazy_load *l, struct error *err)
{
	return lazy_load_start(l, true, err);
}

void lazy_load_destroy(struct lazy_load *l)
{
	if (!l->mem)
		return;
	if (l->thread_started) {
		atomic_store(&l->stop, true);
		lazy_load_go(l);
		pthread_join(l->thread, NULL);
		l->thread_started = false;
	}
	if (l->uffd >= 0)
		close(l->uffd);
	l->uffd = -1;
	for (unsigned int i = 0; i < l->nr_ranges; i++)
		close(l->ranges[i].fd);
	l->nr_ranges = 0;
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	l->mem = NULL; /* destroyed: a second call does nothing */
	free(l->chunks);
	free(l->filled);
	l->chunks = NULL;
	l->filled = NULL;
	l->nr_chunks = 0;
}
