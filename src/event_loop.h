/* SPDX-License-Identifier: MIT */
/*
 * An I/O thread: one epoll loop that runs device work (virtqueue kicks from
 * ioeventfds, io_uring completions, TAP and stdin readiness). vCPU threads
 * never do device I/O; when they must change device state (a reset, a queue
 * enable) they hand a function to the loop with event_loop_call(), so each
 * device's state is only ever touched by its own loop thread.
 */
#ifndef KVMINI_EVENT_LOOP_H
#define KVMINI_EVENT_LOOP_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef void (*event_fn)(void *opaque, uint32_t events);

/* A file descriptor the loop watches; owned (and kept alive) by the caller. */
struct event_source {
	int fd;
	event_fn fn;
	void *opaque;
};

struct event_call;

struct event_loop {
	int epfd;
	int wake_fd; /* eventfd: stop requests and queued calls */
	pthread_t thread;
	bool started;
	atomic_bool stop;
	char name[16];
	pthread_mutex_t lock; /* protects calls */
	struct event_call *calls;
	struct event_source wake_src;

	/*
	 * Optional: runs first on the loop thread (kvmini loads the thread's
	 * seccomp filter there); event_loop_start() waits for it and fails
	 * with its error.
	 */
	int (*thread_init)(void *opaque, struct error *err);
	void *thread_init_opaque;
	sem_t init_done;
	struct error init_err;
};

int event_loop_init(struct event_loop *loop, const char *name, struct error *err);

/*
 * Watch @src->fd for @events (EPOLLIN...); @src->fn runs on the loop thread.
 * Before the loop starts any thread may add; afterwards only the loop thread.
 */
int event_loop_add(struct event_loop *loop, struct event_source *src, uint32_t events);
int event_loop_del(struct event_loop *loop, struct event_source *src);

/* Start the loop thread (named @name, with the caller's signal mask). */
int event_loop_start(struct event_loop *loop, struct error *err);

/*
 * Run @fn(@arg) on the loop thread and wait for it to return. Runs it
 * directly when called on the loop thread or before the loop started.
 */
void event_loop_call(struct event_loop *loop, void (*fn)(void *arg), void *arg);

/* Wait up to @timeout_ms (-1: forever) and dispatch what is ready, once. For
 * loops without a thread, such as unit tests. Returns events dispatched. */
int event_loop_run_once(struct event_loop *loop, int timeout_ms);

/* Stop and join the thread (if started), then close everything. */
void event_loop_destroy(struct event_loop *loop);

#endif
