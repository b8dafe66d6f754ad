// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_loop.h"

/* A function queued by event_loop_call(), waited on by its caller. */
struct event_call {
	void (*fn)(void *arg);
	void *arg;
	bool done;
	pthread_cond_t cond;
	struct event_call *next;
};

static void run_calls(struct event_loop *loop)
{
	struct event_call *c;

	pthread_mutex_lock(&loop->lock);
	while ((c = loop->calls)) {
		loop->calls = c->next;
		pthread_mutex_unlock(&loop->lock);
		c->fn(c->arg);
		pthread_mutex_lock(&loop->lock);
		c->done = true;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&loop->lock);
}

static void wake_ready(void *opaque, uint32_t events)
{
	struct event_loop *loop = opaque;
	uint64_t v;

	if (read(loop->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	run_calls(loop);
}

static void wake(struct event_loop *loop)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow: then a wakeup is pending. */
	(void)!write(loop->wake_fd, &one, sizeof(one));
}

int event_loop_init(struct event_loop *loop, const char *name, struct error *err)
{
	memset(loop, 0, sizeof(*loop));
	snprintf(loop->name, sizeof(loop->name), "%s", name);
	loop->wake_fd = -1;
	pthread_mutex_init(&loop->lock, NULL);
	atomic_init(&loop->stop, false);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return error_set(err, -errno, "%s: epoll_create1: %s", name, strerror(errno));
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0) {
		int e = errno;

		close(loop->epfd);
		loop->epfd = -1;
		return error_set(err, -e, "%s: eventfd: %s", name, strerror(e));
	}
	loop->wake_src = (struct event_source){ loop->wake_fd, wake_ready, loop };
	if (event_loop_add(loop, &loop->wake_src, EPOLLIN) < 0) {
		int e = errno;

		event_loop_destroy(loop);
		return error_set(err, -e, "%s: epoll_ctl: %s", name, strerror(e));
	}
	return 0;
}

int event_loop_add(struct event_loop *loop, struct event_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 ? -errno : 0;
}

int event_loop_del(struct event_loop *loop, struct event_source *src)
{
	return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, src->fd, NULL) < 0 ? -errno : 0;
}

int event_loop_run_once(struct event_loop *loop, int timeout_ms)
{
	struct epoll_event evs[32];
	int n = epoll_wait(loop->epfd, evs, 32, timeout_ms);

	for (int i = 0; i < n; i++) {
		struct event_source *src = evs[i].data.ptr;

		src->fn(src->opaque, evs[i].events);
	}
	return n < 0 ? 0 : n;
}

static void *loop_thread(void *opaque)
{
	struct event_loop *loop = opaque;

	if (loop->thread_init) {
		loop->init_err.code = loop->thread_init(loop->thread_init_opaque, &loop->init_err);
		sem_post(&loop->init_done);
	}
	while (!atomic_load(&loop->stop))
		event_loop_run_once(loop, -1);
	run_calls(loop); /* nobody may stay blocked in event_loop_call() */
	return NULL;
}

int event_loop_start(struct event_loop *loop, struct error *err)
{
	int ret;

	if (loop->thread_init)
		sem_init(&loop->init_done, 0, 0);
	ret = pthread_create(&loop->thread, NULL, loop_thread, loop);
	if (ret) {
		if (loop->thread_init)
			sem_destroy(&loop->init_done);
		return error_set(err, -ret, "%s: cannot start thread: %s", loop->name,
				 strerror(ret));
	}
	pthread_setname_np(loop->thread, loop->name);
	loop->started = true;
	if (!loop->thread_init)
		return 0;
	while (sem_wait(&loop->init_done) && errno == EINTR)
		;
	sem_destroy(&loop->init_done);
	/* On failure the thread still runs: event_loop_destroy() ends it. */
	if (loop->init_err.code)
		return error_set(err, loop->init_err.code, "%s: %s", loop->name,
				 loop->init_err.msg);
	return 0;
}

void event_loop_call(struct event_loop *loop, void (*fn)(void *arg), void *arg)
{
	struct event_call call = { .fn = fn, .arg = arg };

	if (!loop->started || pthread_equal(pthread_self(), loop->thread)) {
		fn(arg);
		return;
	}
	pthread_cond_init(&call.cond, NULL);
	pthread_mutex_lock(&loop->lock);
	call.next = loop->calls;
	loop->calls = &call;
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
	pthread_mutex_lock(&loop->lock);
	while (!call.done)
		pthread_cond_wait(&call.cond, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	pthread_cond_destroy(&call.cond);
}

void event_loop_destroy(struct event_loop *loop)
{
	if (loop->started) {
		atomic_store(&loop->stop, true);
		wake(loop);
		pthread_join(loop->thread, NULL);
		loop->started = false;
	}
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	loop->epfd = loop->wake_fd = -1;
	pthread_mutex_destroy(&loop->lock);
}
