/* SPDX-License-Identifier: MIT */
/*
 * The VM core: /dev/kvm and VM file descriptors, guest memory slots, the trap
 * buses, vCPU threads and how the VM stops. Nothing here knows about x86
 * boot details or particular devices; x86/machine.c assembles those.
 */
#ifndef KVMINI_VM_H
#define KVMINI_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "err.h"
#include "guest_mem.h"
#include "stats/exit_stats.h"
#include "stats/timeline.h"
#include "stop.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	uint64_t nr_exits;
	struct exit_stats *stats; /* NULL: not recording (no --stats) */
	const char *exit_dev; /* device that took the last PIO/MMIO exit, NULL if none */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int run_size; /* bytes of each vCPU's kvm_run mapping */
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;

	/* Stopping: the first request wins; stop_efd wakes vm_wait(). */
	pthread_mutex_t stop_lock;
	atomic_bool stopping;
	enum vm_stop_reason stop_reason;
	int stop_status;
	char stop_msg[512];
	int stop_efd;
	struct vm_stop_hook stop_hook; /* handed to devices */

	/* MSI routes for irqfds (vm_irq.c); GSIs from VM_FIRST_MSI_GSI up. */
	pthread_mutex_t irq_lock;
	struct vm_msi_route *msi_routes;
	unsigned int nr_msi_routes;

	/* Boot steps, CLOCK_MONOTONIC ns (first_kvm_run is vCPU 0's). */
	struct boot_timeline timeline;

	/* Called by vm_wait() on SIGUSR1 (NULL: the signal is ignored). */
	void (*on_sigusr1)(void *opaque);
	void *sigusr1_opaque;

	/*
	 * Optional (kvmini loads its seccomp filters there): vcpu_thread_init
	 * runs on each vCPU thread before its first KVM_RUN, and a failure
	 * stops the VM with its message; threads_started runs on the thread
	 * calling vm_start() once it has started every vCPU thread, and a
	 * failure is vm_start()'s.
	 */
	int (*vcpu_thread_init)(void *opaque, struct error *err);
	int (*threads_started)(void *opaque, struct error *err);
	void *thread_init_opaque;
};

/* A KVM capability kvmini relies on, for vm_open() and `kvmini check`. */
struct kvm_cap_need {
	int cap;
	const char *name;
	const char *why;
};

extern const struct kvm_cap_need vm_required_caps[];
extern const unsigned int vm_nr_required_caps;

uint64_t monotonic_ns(void);

/*
 * Open @dev (normally "/dev/kvm"), check the API version and every required
 * capability. On failure the message names the device or capability.
 */
int vm_open(struct vm *vm, const char *dev, struct error *err);

/* Create the VM, allocate and register @ram_size bytes of RAM. */
int vm_create(struct vm *vm, uint64_t ram_size, struct error *err);

/* Create @nr vCPUs (ids 0..nr-1) and map their kvm_run areas. */
int vm_create_vcpus(struct vm *vm, unsigned int nr, struct error *err);

/* The most vCPUs this KVM allows. */
unsigned int vm_max_vcpus(const struct vm *vm);

/*
 * Block the signals vm_wait() handles (and the vCPU kick) in the calling
 * thread; call it before starting any thread so that all of them inherit it.
 */
void vm_block_signals(void);

/* Start one thread per vCPU running KVM_RUN, then call threads_started. */
int vm_start(struct vm *vm, struct error *err);

/*
 * Wait until the VM stops (a device or exit asks, or SIGINT/SIGTERM/SIGHUP
 * arrives; SIGUSR1 calls on_sigusr1), then stop and join all vCPU threads. Returns kvmini's exit
 * status for the stop reason; the reason and message stay in @vm.
 */
int vm_wait(struct vm *vm);

/* Ask the VM to stop. Safe from any thread; only the first call counts. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Stop (if still running) and join all vCPU threads. Idempotent. */
void vm_stop_vcpus(struct vm *vm);

/* Release everything; safe on a partly set-up VM. */
void vm_destroy(struct vm *vm);

/* irq_line backend: KVM_IRQ_LINE on @gsi. */
void vm_set_irq_level(void *vm, unsigned int gsi, int level);

/*
 * Interrupt routing (vm_irq.c). GSIs below VM_FIRST_MSI_GSI are the
 * irqchip pins; each MSI vector gets a GSI above, an irqfd raising it, and a
 * route KVM_SET_GSI_ROUTING installs alongside the default irqchip routes.
 */
#define VM_IOAPIC_PINS 24
#define VM_FIRST_MSI_GSI VM_IOAPIC_PINS

struct vm_msi_route {
	unsigned int gsi;
	int fd; /* the irqfd */
	bool routed;
	uint64_t addr;
	uint32_t data;
};

/* A new GSI with an eventfd bound to it through KVM_IRQFD. */
int vm_msi_alloc(void *vm, unsigned int *gsi, int *fd);
/* Point @gsi at an MSI message, or nowhere when @masked. */
int vm_msi_route(void *vm, unsigned int gsi, uint64_t addr, uint32_t data, bool masked);
/* A guest write of @len bytes at @addr (a port when @pio, else MMIO) signals
 * @fd (KVM_IOEVENTFD). */
int vm_ioeventfd(void *vm, uint64_t addr, uint32_t len, int fd, bool pio, bool assign);
void vm_irq_free(struct vm *vm);

/* Handle one KVM exit of @vcpu; false when the vCPU must stop running. */
bool vcpu_handle_exit(struct vcpu *vcpu);

/* Count the exit in vcpu->stats (non-NULL), @ns spent handling it. */
void vcpu_record_exit(struct vcpu *vcpu, uint64_t ns);

/* Describe the guest's current instruction for error messages. */
void vcpu_describe_rip(struct vcpu *vcpu, char *buf, size_t len);

#endif
