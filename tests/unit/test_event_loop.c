// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "event_loop.h"

/* What a source callback saw. */
struct hit {
	struct event_source src;
	atomic_uint calls;
	uint32_t events;
	pthread_t thread;
	bool drain; /* read the eventfd so it stops being ready */
};

static void hit_fn(void *opaque, uint32_t events)
{
	struct hit *h = opaque;
	uint64_t v;

	h->events = events;
	h->thread = pthread_self();
	if (h->drain)
		assert_int_equal(read(h->src.fd, &v, sizeof(v)), sizeof(v));
	atomic_fetch_add(&h->calls, 1);
}

static void hit_init(struct hit *h, bool drain)
{
	memset(h, 0, sizeof(*h));
	h->src.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(h->src.fd >= 0);
	h->src.fn = hit_fn;
	h->src.opaque = h;
	h->drain = drain;
	atomic_init(&h->calls, 0);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

/* Wait up to 2 s for @counter to reach @want (the loop thread bumps it). */
static void wait_for(atomic_uint *counter, unsigned int want)
{
	for (int i = 0; i < 2000 && atomic_load(counter) < want; i++)
		usleep(1000);
	assert_int_equal(atomic_load(counter), want);
}

static void test_init_destroy(void **state)
{
	struct event_loop loop;
	struct error err = { 0 };

	assert_int_equal(event_loop_init(&loop, "test-loop", &err), 0);
	assert_true(loop.epfd >= 0);
	assert_true(loop.wake_fd >= 0);
	assert_false(loop.started);
	/* Nothing ready: a zero timeout returns at once with nothing done. */
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	event_loop_destroy(&loop);
	assert_int_equal(loop.epfd, -1);
	assert_int_equal(loop.wake_fd, -1);
}

static void test_add_dispatch_del(void **state)
{
	struct event_loop loop;
	struct hit a, b;

	assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
	hit_init(&a, true);
	hit_init(&b, true);
	assert_int_equal(event_loop_add(&loop, &a.src, EPOLLIN), 0);
	assert_int_equal(event_loop_add(&loop, &b.src, EPOLLIN), 0);
	/* Adding the same fd twice is refused. */
	assert_int_equal(event_loop_add(&loop, &a.src, EPOLLIN), -EEXIST);

	signal_fd(a.src.fd);
	assert_int_equal(event_loop_run_once(&loop, 1000), 1);
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(atomic_load(&b.calls), 0);
	assert_true(a.events & EPOLLIN);
	assert_true(pthread_equal(a.thread, pthread_self()));

	/* Both ready: both dispatched in one round. */
	signal_fd(a.src.fd);
	signal_fd(b.src.fd);
	assert_int_equal(event_loop_run_once(&loop, 1000), 2);
	assert_int_equal(atomic_load(&a.calls), 2);
	assert_int_equal(atomic_load(&b.calls), 1);

	/* Drained: nothing more to do. */
	assert_int_equal(event_loop_run_once(&loop, 0), 0);

	/* A deleted source is no longer watched. */
	assert_int_equal(event_loop_del(&loop, &a.src), 0);
	signal_fd(a.src.fd);
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	assert_int_equal(atomic_load(&a.calls), 2);
	assert_int_equal(event_loop_del(&loop, &a.src), -ENOENT);

	/* b still works, and a can come back. */
	assert_int_equal(event_loop_add(&loop, &a.src, EPOLLIN), 0);
	signal_fd(b.src.fd);
	assert_int_equal(event_loop_run_once(&loop, 1000), 2);
	assert_int_equal(atomic_load(&a.calls), 3);
	assert_int_equal(atomic_load(&b.calls), 2);

	event_loop_destroy(&loop);
	close(a.src.fd);
	close(b.src.fd);
}

static void test_bad_fd(void **state)
{
	struct event_loop loop;
	struct hit h;

	assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
	hit_init(&h, false);
	close(h.src.fd);
	assert_int_equal(event_loop_add(&loop, &h.src, EPOLLIN), -EBADF);
	assert_int_equal(event_loop_del(&loop, &h.src), -EBADF);
	event_loop_destroy(&loop);
}

/* Level-triggered: a source not drained is dispatched again. */
static void test_level_triggered(void **state)
{
	struct event_loop loop;
	struct hit h;

	assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
	hit_init(&h, false);
	assert_int_equal(event_loop_add(&loop, &h.src, EPOLLIN), 0);
	signal_fd(h.src.fd);
	assert_int_equal(event_loop_run_once(&loop, 0), 1);
	assert_int_equal(event_loop_run_once(&loop, 0), 1);
	assert_int_equal(atomic_load(&h.calls), 2);
	event_loop_destroy(&loop);
	close(h.src.fd);
}

static void test_run_once_timeout(void **state)
{
	struct event_loop loop;
	struct timespec t0, t1;
	long ms;

	assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(event_loop_run_once(&loop, 50), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 40);
	event_loop_destroy(&loop);
}

struct call_rec {
	atomic_uint calls;
	pthread_t thread;
	struct event_loop *loop;
	atomic_uint nested_calls;
	pthread_t nested_thread;
};

static void record_call(void *arg)
{
	struct call_rec *c = arg;

	c->thread = pthread_self();
	atomic_fetch_add(&c->calls, 1);
}

static void nested_inner(void *arg)
{
	struct call_rec *c = arg;

	c->nested_thread = pthread_self();
	atomic_fetch_add(&c->nested_calls, 1);
}

/* Calls event_loop_call from the loop thread itself: must run inline. */
static void nested_outer(void *arg)
{
	struct call_rec *c = arg;

	record_call(c);
	event_loop_call(c->loop, nested_inner, c);
	/* Inline means it already ran when we get here. */
	assert_int_equal(atomic_load(&c->nested_calls), 1);
}

static void test_call_inline_before_start(void **state)
{
	struct event_loop loop;
	struct call_rec c = { 0 };

	assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
	event_loop_call(&loop, record_call, &c);
	assert_int_equal(atomic_load(&c.calls), 1);
	assert_true(pthread_equal(c.thread, pthread_self()));
	/* Inline: nothing was queued for a loop round. */
	assert_null(loop.calls);
	assert_int_equal(event_loop_run_once(&loop, 0), 0);
	assert_int_equal(atomic_load(&c.calls), 1);
	event_loop_destroy(&loop);
}

static void test_thread_calls_and_sources(void **state)
{
	struct event_loop loop;
	struct error err = { 0 };
	struct call_rec c = { 0 };
	struct hit h;
	char name[32] = "";

	assert_int_equal(event_loop_init(&loop, "kvmini-io-test", &err), 0);
	hit_init(&h, true);
	assert_int_equal(event_loop_add(&loop, &h.src, EPOLLIN), 0);
	assert_int_equal(event_loop_start(&loop, &err), 0);
	assert_true(loop.started);
	assert_int_equal(pthread_getname_np(loop.thread, name, sizeof(name)), 0);
	assert_string_equal(name, "kvmini-io-test");

	/* A call from here runs on the loop thread, and has run on return. */
	event_loop_call(&loop, record_call, &c);
	assert_int_equal(atomic_load(&c.calls), 1);
	assert_false(pthread_equal(c.thread, pthread_self()));
	assert_true(pthread_equal(c.thread, loop.thread));

	/* From the loop thread a call runs inline instead of deadlocking. */
	c.loop = &loop;
	event_loop_call(&loop, nested_outer, &c);
	assert_int_equal(atomic_load(&c.calls), 2);
	assert_int_equal(atomic_load(&c.nested_calls), 1);
	assert_true(pthread_equal(c.nested_thread, loop.thread));

	/* Sources are dispatched on the loop thread. */
	signal_fd(h.src.fd);
	wait_for(&h.calls, 1);
	assert_true(pthread_equal(h.thread, loop.thread));
	signal_fd(h.src.fd);
	wait_for(&h.calls, 2);

	event_loop_destroy(&loop);
	assert_false(loop.started);
	close(h.src.fd);
}

struct caller {
	struct event_loop *loop;
	struct call_rec rec;
	int rounds;
	atomic_uint *total;
};

static void count_call(void *arg)
{
	struct caller *c = arg;

	c->rec.thread = pthread_self();
	atomic_fetch_add(&c->rec.calls, 1);
	atomic_fetch_add(c->total, 1);
}

static void *caller_thread(void *arg)
{
	struct caller *c = arg;

	for (int i = 0; i < c->rounds; i++) {
		event_loop_call(c->loop, count_call, c);
		/* Must have run by the time event_loop_call returns. */
		if (atomic_load(&c->rec.calls) != (unsigned int)i + 1)
			return (void *)1;
		if (!pthread_equal(c->rec.thread, c->loop->thread))
			return (void *)2;
	}
	return NULL;
}

/* Several threads queueing calls at once: none is lost or returns early. */
static void test_concurrent_callers(void **state)
{
	enum { THREADS = 4, ROUNDS = 200 };
	struct event_loop loop;
	struct caller callers[THREADS];
	pthread_t threads[THREADS];
	atomic_uint total;

	atomic_init(&total, 0);
	assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
	assert_int_equal(event_loop_start(&loop, NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		callers[i] = (struct caller){ .loop = &loop, .rounds = ROUNDS, .total = &total };
		atomic_init(&callers[i].rec.calls, 0);
		assert_int_equal(pthread_create(&threads[i], NULL, caller_thread, &callers[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *ret = (void *)-1;

		assert_int_equal(pthread_join(threads[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(atomic_load(&total), THREADS * ROUNDS);
	event_loop_destroy(&loop);
}

/* Stopping a loop whose thread sits in epoll_wait with nothing to do. */
static void test_start_stop_idle(void **state)
{
	struct event_loop loop;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(event_loop_init(&loop, "t", NULL), 0);
		assert_int_equal(event_loop_start(&loop, NULL), 0);
		usleep(1000);
		event_loop_destroy(&loop);
		assert_false(loop.started);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_destroy),
		cmocka_unit_test(test_add_dispatch_del),
		cmocka_unit_test(test_bad_fd),
		cmocka_unit_test(test_level_triggered),
		cmocka_unit_test(test_run_once_timeout),
		cmocka_unit_test(test_call_inline_before_start),
		cmocka_unit_test(test_thread_calls_and_sources),
		cmocka_unit_test(test_concurrent_callers),
		cmocka_unit_test(test_start_stop_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
