// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "vm.h"
#include "x86/layout.h"

/* Signal that knocks a vCPU thread out of KVM_RUN (SIGUSR1 is the user's). */
#define SIG_VCPU_KICK SIGRTMIN

const struct kvm_cap_need vm_required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM from user memory" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC, IOAPIC and LAPIC" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel PIT timer" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "real-mode TSS for Intel hosts" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "KVM_GET_SUPPORTED_CPUID" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "application processors started by INIT/SIPI" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs without races" },
	{ KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK", "kvmclock" },
	{ KVM_CAP_IRQ_INJECT_STATUS, "KVM_CAP_IRQ_INJECT_STATUS", "KVM_IRQ_LINE_STATUS" },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "MSI-X interrupts of PCI devices" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "device interrupts without a vCPU exit" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "virtqueue kicks without a vCPU exit" },
};
const unsigned int vm_nr_required_caps = sizeof(vm_required_caps) / sizeof(vm_required_caps[0]);

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void stop_hook_request(void *opaque, enum vm_stop_reason reason, int status)
{
	vm_request_stop(opaque, reason, status, NULL);
}

int vm_open(struct vm *vm, const char *dev, struct error *err)
{
	int version;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->irq_lock, NULL);
	bus_init(&vm->pio);
	bus_init(&vm->mmio);
	vm->stop_hook = (struct vm_stop_hook){ .request = stop_hook_request, .opaque = vm };

	vm->kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int e = errno;

		if (e == ENOENT)
			return error_set(err, -e, "%s: no such device (is the kvm module loaded?)",
					 dev);
		if (e == EACCES || e == EPERM)
			return error_set(
				err, -e,
				"%s: permission denied (join the kvm group or run as root)", dev);
		return error_set(err, -e, "%s: %s", dev, strerror(e));
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION)
		return error_set(err, -EINVAL, "%s: KVM API version %d, kvmini needs %d", dev,
				 version, KVM_API_VERSION);
	for (unsigned int i = 0; i < vm_nr_required_caps; i++) {
		const struct kvm_cap_need *c = &vm_required_caps[i];

		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, c->cap) <= 0)
			return error_set(err, -ENOTSUP, "%s: missing KVM capability %s (%s)", dev,
					 c->name, c->why);
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size < (int)sizeof(struct kvm_run))
		return error_set(err, -EINVAL, "%s: bad KVM_GET_VCPU_MMAP_SIZE %d", dev,
				 vm->run_size);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return error_set(err, -errno, "eventfd: %s", strerror(errno));
	return 0;
}

unsigned int vm_max_vcpus(const struct vm *vm)
{
	int n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (n <= 0)
		n = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	return n > 0 ? (unsigned int)n : 1;
}

int vm_create(struct vm *vm, uint64_t ram_size, struct error *err)
{
	int ret;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return error_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	timeline_mark(&vm->timeline.vm_created, monotonic_ns());
	ret = guest_mem_alloc(&vm->mem, ram_size);
	if (ret < 0)
		return error_set(err, ret, "cannot map %llu MiB of guest RAM: %s",
				 (unsigned long long)(ram_size >> 20), strerror(-ret));
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		const struct guest_mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return error_set(err, -errno, "KVM_SET_USER_MEMORY_REGION (slot %u): %s", i,
					 strerror(errno));
	}
	timeline_mark(&vm->timeline.memory_ready, monotonic_ns());
	return 0;
}

int vm_create_vcpus(struct vm *vm, unsigned int nr, struct error *err)
{
	vm->vcpus = calloc(nr, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return error_set(err, -ENOMEM, "out of memory for %u vCPUs", nr);
	for (unsigned int i = 0; i < nr; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->vm = vm;
		v->id = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0)
			return error_set(err, -errno, "KVM_CREATE_VCPU %u: %s", i, strerror(errno));
		vm->nr_vcpus = i + 1;
		v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			return error_set(err, -errno, "mmap of vCPU %u run area: %s", i,
					 strerror(errno));
		}
	}
	return 0;
}

void vm_set_irq_level(void *opaque, unsigned int gsi, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	/* Failure here means the irqchip is gone; nothing a device can do. */
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		vm_request_stop(vm, VM_STOP_ERROR, KVMINI_EXIT_ERROR, "KVM_IRQ_LINE %u: %s", gsi,
				strerror(errno));
}

static void kick_vcpus(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->run)
			continue;
		/* Either KVM_RUN returns at once, or the signal interrupts it. */
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (v->thread_started)
			pthread_kill(v->thread, SIG_VCPU_KICK);
	}
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason != VM_STOP_NONE) {
		pthread_mutex_unlock(&vm->stop_lock);
		return;
	}
	vm->stop_reason = reason;
	vm->stop_status = status;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
		va_end(ap);
	}
	atomic_store(&vm->stopping, true);
	pthread_mutex_unlock(&vm->stop_lock);
	kick_vcpus(vm);
	if (write(vm->stop_efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow with one write per VM; nothing to do. */
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIG_VCPU_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (vm->vcpu_thread_init) {
		struct error err = { 0 };

		if (vm->vcpu_thread_init(vm->thread_init_opaque, &err)) {
			vm_request_stop(vm, VM_STOP_ERROR, KVMINI_EXIT_ERROR, "vCPU %u: %s",
					vcpu->id, err.msg);
			return NULL;
		}
	}

	if (vcpu->id == 0)
		timeline_mark(&vm->timeline.first_kvm_run, monotonic_ns());
	while (!atomic_load(&vm->stopping)) {
		uint64_t t0;
		bool go_on;

		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				if (vcpu->stats)
					exit_stats_record_exit(vcpu->stats, KVM_EXIT_INTR, 0);
				continue;
			}
			vm_request_stop(vm, VM_STOP_ERROR, KVMINI_EXIT_ERROR,
					"KVM_RUN on vCPU %u: %s", vcpu->id, strerror(errno));
			break;
		}
		vcpu->nr_exits++;
		if (!vcpu->stats) {
			if (!vcpu_handle_exit(vcpu))
				break;
			continue;
		}
		t0 = monotonic_ns();
		go_on = vcpu_handle_exit(vcpu);
		vcpu_record_exit(vcpu, monotonic_ns() - t0);
		if (!go_on)
			break;
	}
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

void vm_block_signals(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigset_t block;

	/* No SA_RESTART: the kick must make KVM_RUN return EINTR. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIG_VCPU_KICK, &sa, NULL);

	/* Threads inherit this mask; vCPU threads unblock only the kick. */
	sigemptyset(&block);
	sigaddset(&block, SIG_VCPU_KICK);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
}

int vm_start(struct vm *vm, struct error *err)
{
	int ret;

	vm_block_signals();
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (ret)
			return error_set(err, -ret, "cannot start vCPU %u thread: %s", i,
					 strerror(ret));
		v->thread_started = true;
	}
	return vm->threads_started ? vm->threads_started(vm->thread_init_opaque, err) : 0;
}

static int stop_status(const struct vm *vm)
{
	switch (vm->stop_reason) {
	case VM_STOP_RESET:
	case VM_STOP_POWEROFF:
	case VM_STOP_EXIT_DEVICE:
	case VM_STOP_SIGNAL:
	case VM_STOP_ERROR:
		return vm->stop_status;
	case VM_STOP_TRIPLE_FAULT:
	case VM_STOP_GUEST_CRASH:
		return KVMINI_EXIT_GUEST_FAILED;
	case VM_STOP_NONE:
		break;
	}
	return KVMINI_EXIT_ERROR;
}

int vm_wait(struct vm *vm)
{
	sigset_t sigs;
	int sfd;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	sigaddset(&sigs, SIGUSR1);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	while (!atomic_load(&vm->stopping)) {
		struct pollfd pfd[2] = {
			{ .fd = vm->stop_efd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};

		if (poll(pfd, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (sfd >= 0 && (pfd[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGUSR1) {
				if (vm->on_sigusr1)
					vm->on_sigusr1(vm->sigusr1_opaque);
				continue;
			}
			vm_request_stop(vm, VM_STOP_SIGNAL, 128 + (int)si.ssi_signo,
					"stopped by signal %s", strsignal((int)si.ssi_signo));
		}
	}
	if (sfd >= 0)
		close(sfd);
	timeline_mark(&vm->timeline.end, monotonic_ns());
	kick_vcpus(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
	return stop_status(vm);
}

void vm_stop_vcpus(struct vm *vm)
{
	if (atomic_load(&vm->stopping) == false && vm->nr_vcpus)
		vm_request_stop(vm, VM_STOP_ERROR, KVMINI_EXIT_ERROR, NULL);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->thread_started)
			pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
}

void vm_destroy(struct vm *vm)
{
	vm_stop_vcpus(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, vm->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
	guest_mem_free(&vm->mem);
	vm_irq_free(vm);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	vm->vm_fd = vm->kvm_fd = vm->stop_efd = -1;
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->irq_lock);
}
