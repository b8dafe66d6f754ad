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
#include <unistd.h>

#include "lazy_load.h"
#include "vm.h"

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
	uint64_t *gpas;

	for (unsigned int i = 0; i < l->nr_ranges; i++) {
		const struct lazy_range *r = &l->ranges[i];

		n += (unsigned int)(((r->gpa + r->len + LAZY_LOAD_CHUNK - 1) / LAZY_LOAD_CHUNK) -
				    r->gpa / LAZY_LOAD_CHUNK);
	}
	gpas = calloc(n ? n : 1, sizeof(*gpas));
	l->chunks = calloc(n ? n : 1, sizeof(*l->chunks));
	if (!gpas || !l->chunks) {
		free(gpas);
		return -ENOMEM;
	}
	n = 0;
	for (unsigned int i = 0; i < l->nr_ranges; i++) {
		const struct lazy_range *r = &l->ranges[i];

		for (uint64_t c = r->gpa & ~(LAZY_LOAD_CHUNK - 1); c < r->gpa + r->len;
		     c += LAZY_LOAD_CHUNK)
			gpas[n++] = c;
	}
	qsort(gpas, n, sizeof(*gpas), cmp_u64);
	for (unsigned int i = 0; i < n; i++) {
		struct lazy_chunk *c = &l->chunks[l->nr_chunks];

		if (l->nr_chunks && c[-1].gpa == gpas[i])
			continue;
		c->gpa = gpas[i];
		c->host = guest_mem_ptr(l->mem, gpas[i], LAZY_LOAD_CHUNK);
		l->nr_chunks++;
	}
	free(gpas);
	return 0;
}

/* The first chunk from @i on that is not in RAM yet, or nr_chunks. */
static unsigned int next_unfilled(const struct lazy_load *l, unsigned int i)
{
	while (i < l->nr_chunks && atomic_load(&l->chunks[i].filled))
		i++;
	return i;
}

/* Can @c be filled later, by moving a 2 MiB page of ours over it? */
static bool can_fill_lazily(const struct lazy_load *l, const struct lazy_chunk *c)
{
	unsigned char resident[LAZY_LOAD_CHUNK / 4096];

	if (!c->host || ((uintptr_t)c->host & (LAZY_LOAD_CHUNK - 1)) || !l->mem->owns_mapping)
		return false;
	/* Someone wrote there already: mremap() would throw that away. */
	if (mincore(c->host, LAZY_LOAD_CHUNK, resident))
		return false;
	for (size_t i = 0; i < sizeof(resident); i++) {
		if (resident[i] & 1)
			return false;
	}
	return true;
}

/* Read @c's bytes straight into guest RAM. */
static int fill_in_place(struct lazy_load *l, struct lazy_chunk *c, struct error *err)
{
	uint64_t bad = 0;
	char msg[256];
	int ret = read_span(l, c->gpa, LAZY_LOAD_CHUNK, NULL, &bad);

	if (ret)
		return error_set(err, read_error(msg, sizeof(msg), ret, bad), "%s", msg);
	atomic_store(&c->filled, true);
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
 * Put @c together in a 2 MiB buffer of its own and move that over the
 * registered, still empty chunk: whoever waits on it finds it full.
 */
static int fill_by_move(struct lazy_load *l, struct lazy_chunk *c, char *msg, size_t msg_len)
{
	uint8_t *dst = c->host, *raw, *buf;
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
	ret = read_span(l, c->gpa, LAZY_LOAD_CHUNK, buf, &bad);
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
				 (unsigned long long)c->gpa, strerror(-ret));
			return ret;
		}
	}
	atomic_store(&c->filled, true);
	return 0;
}

static void wake_chunk(struct lazy_load *l, const struct lazy_chunk *c)
{
	struct uffdio_range range = { .start = (uintptr_t)c->host, .len = LAZY_LOAD_CHUNK };

	ioctl(l->uffd, UFFDIO_WAKE, &range);
}

/* The chunk someone waits for, or NULL when nobody does. */
static struct lazy_chunk *next_fault(struct lazy_load *l)
{
	struct uffd_msg msg;

	while (read(l->uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
		uint8_t *addr = (uint8_t *)(uintptr_t)msg.arg.pagefault.address;

		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		/* Only registered chunks fault, and those have a host address. */
		for (unsigned int i = 0; i < l->nr_chunks; i++) {
			struct lazy_chunk *c = &l->chunks[i];

			if (c->host && addr >= c->host && addr < c->host + LAZY_LOAD_CHUNK)
				return c;
		}
	}
	return NULL;
}

static void *loader_thread(void *opaque)
{
	struct lazy_load *l = opaque;
	struct error err = { 0 };
	unsigned int next = 0;
	char msg[256];
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
		struct lazy_chunk *c = next_fault(l);

		if (c) {
			atomic_fetch_add(&l->nr_faults, !atomic_load(&c->filled));
		} else {
			next = next_unfilled(l, next);
			if (next == l->nr_chunks)
				break;
			c = &l->chunks[next];
		}
		if (!atomic_load(&c->filled) && fill_by_move(l, c, msg, sizeof(msg))) {
			if (l->failed)
				l->failed(l->opaque, msg);
			break;
		}
		wake_chunk(l, c);
	}
	/* A stop can come right after the last chunk: count, do not guess. */
	if (next_unfilled(l, 0) == l->nr_chunks)
		atomic_store(&l->done_ns, monotonic_ns());
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
	/* Registered chunks wait for the thread; the rest are read below. */
	for (unsigned int i = 0; l->uffd >= 0 && i < l->nr_chunks; i++) {
		struct lazy_chunk *c = &l->chunks[i];

		c->registered = can_fill_lazily(l, c) &&
				uffd_register(l->uffd, c->host, LAZY_LOAD_CHUNK) == 0;
		l->lazy |= c->registered;
	}
	if (l->lazy && pthread_create(&l->thread, NULL, loader_thread, l) != 0)
		l->lazy = false;
	if (!l->lazy && l->uffd >= 0) {
		/* No thread: the close drops every registration. */
		close(l->uffd);
		l->uffd = -1;
	}
	for (unsigned int i = 0; i < l->nr_chunks; i++) {
		struct lazy_chunk *c = &l->chunks[i];

		if (l->lazy && c->registered)
			continue;
		ret = fill_in_place(l, c, err);
		if (ret)
			return ret;
		l->nr_eager++;
	}
	if (!l->lazy)
		atomic_store(&l->done_ns, monotonic_ns());
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
	if (l->lazy) {
		atomic_store(&l->stop, true);
		lazy_load_go(l);
		pthread_join(l->thread, NULL);
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
	l->chunks = NULL;
	l->nr_chunks = 0;
}
