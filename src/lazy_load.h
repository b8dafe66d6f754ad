/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM filled from files while the guest already runs. The boot loaders
 * record which file bytes belong where (lazy_load_add(): an ELF kernel's
 * segments, the initrd); lazy_load_start() then hands them to a loader
 * thread, so the first KVM_RUN does not wait for tens of MiB to be read.
 *
 * The loader fills RAM one 2 MiB chunk at a time, in address order, except
 * that a chunk someone touches first (a vCPU, KVM on its behalf, a device)
 * comes next: the chunks are registered with userfaultfd, which blocks the
 * toucher and tells the loader where. Each chunk is put together in a
 * private 2 MiB buffer and moved into place with mremap(), so guest RAM
 * keeps its 2 MiB pages (what makes the guest's own page walks cheap).
 *
 * Chunks that already hold something (a loader wrote boot tables there;
 * told by mincore(), so a page written and swapped out before the VM
 * starts would be missed), and all of them when userfaultfd is not
 * available (an unprivileged user without vm.unprivileged_userfaultfd), are
 * read in before lazy_load_start() returns, as is everything with
 * lazy_load_now().
 */
#ifndef KVMINI_LAZY_LOAD_H
#define KVMINI_LAZY_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "guest_mem.h"

#define LAZY_LOAD_MAX_RANGES 16
#define LAZY_LOAD_CHUNK (2ull << 20)

struct lazy_range {
	uint64_t gpa;
	uint64_t len;
	int fd; /* our own duplicate */
	uint64_t offset; /* in the file */
};

struct lazy_load {
	const struct guest_mem *mem;
	struct lazy_range ranges[LAZY_LOAD_MAX_RANGES];
	unsigned int nr_ranges;

	/* The chunks the ranges touch, by guest-physical address. */
	struct lazy_chunk {
		uint64_t gpa;
		uint8_t *host; /* NULL: not all of it is RAM (the end of a region) */
		bool registered; /* with the userfaultfd: the loader thread fills it */
		atomic_bool filled;
	} * chunks;
	unsigned int nr_chunks;
	int uffd;
	pthread_t thread;
	atomic_bool stop;
	/* The loader waits for lazy_load_go() (or the stop) before it works. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool go;

	/* Runs first on the loader thread (kvmini loads its seccomp filter);
	 * on failure the thread loads nothing more. May be NULL. */
	int (*thread_init)(void *opaque, struct error *err);
	/* A chunk could not be read: the guest cannot go on. Called once, on
	 * the loader thread, with a one-line message. May be NULL. */
	void (*failed)(void *opaque, const char *msg);
	void *opaque;

	/* Results, for --stats and the tests. */
	atomic_uint nr_faults; /* chunks filled first because someone touched them */
	unsigned int nr_eager; /* chunks read in before lazy_load_start() returned */
	atomic_uint_fast64_t done_ns; /* monotonic_ns() when all was in RAM; 0: not yet */
	bool lazy; /* a loader thread was started (userfaultfd was available) */
};

void lazy_load_init(struct lazy_load *l, const struct guest_mem *mem);

/*
 * Record that guest RAM [@gpa, @gpa + @len) holds @fd's bytes from @offset.
 * The range must be guest RAM (-EFAULT otherwise) and not overlap an earlier
 * one (-EINVAL); -E2BIG past LAZY_LOAD_MAX_RANGES. @fd is duplicated.
 */
int lazy_load_add(struct lazy_load *l, uint64_t gpa, uint64_t len, int fd, uint64_t offset);

/*
 * Start loading what was recorded: with userfaultfd in the background,
 * otherwise (or with @eager) all of it now. Call it once every other write
 * of the loaders into guest RAM is done. 0 or a negative errno with @err set
 * (a file that cannot be read, no memory).
 *
 * The loader thread starts working at lazy_load_go(), so that it does not
 * compete with starting the vCPUs (which find the RAM they touch missing
 * and wait for it until then).
 */
int lazy_load_start(struct lazy_load *l, bool eager, struct error *err);
void lazy_load_go(struct lazy_load *l);

/* Everything recorded, read into RAM now (lazy_load_start(l, true, err)). */
int lazy_load_now(struct lazy_load *l, struct error *err);

/*
 * Stop the loader thread and release everything (a second call, or one on
 * a zeroed struct lazy_load, does nothing). Whatever is not loaded by then
 * reads as zeroes, and whoever waited for it goes on: call it before
 * joining vCPU or I/O threads that may wait, and before guest RAM goes away.
 */
void lazy_load_destroy(struct lazy_load *l);

#endif
