/* SPDX-License-Identifier: MIT */
/*
 * `kvmini run --stats`: turn exit recording on for every vCPU, open KVM's
 * binary statistics, and write the report (stats/report.h) when asked (on
 * SIGUSR1) and when the VM stops.
 */
#ifndef KVMINI_CLI_RUN_STATS_H
#define KVMINI_CLI_RUN_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "stats/kvm_stats.h"
#include "stats/report.h"
#include "vm.h"

/* Distinct ports and MMIO addresses each vCPU keeps apart; more share "other". */
#define RUN_STATS_MAX_KEYS 256

struct run_stats {
	struct vm *vm;
	enum stats_format format;
	const char *path; /* NULL: stderr */
	uint64_t origin_ns; /* kvmini's start: timeline times count from here */
	struct exit_stats *vcpus; /* one per vCPU, recorded by its thread */
	/* KVM's counters; kvm_ok false when this KVM has none (said once). */
	bool kvm_ok;
	struct kvm_stats vm_ks;
	struct kvm_stats *vcpu_ks;
	unsigned int nr_vcpu_ks;
};

/*
 * Set up recording for @vm's vCPUs (created, not yet started) and check that
 * @path (NULL: stderr) can be written. A KVM without binary statistics is not
 * an error: the report then has no KVM counters and a note says why.
 */
int run_stats_init(struct run_stats *rs, struct vm *vm, enum stats_format format, const char *path,
		   uint64_t origin_ns, struct error *err);

/* Write the report now; @vm may be running. */
int run_stats_write(struct run_stats *rs, struct error *err);

/* vm->on_sigusr1: write the report, or say on stderr why it could not be. */
void run_stats_on_signal(void *rs);

/* Stop recording and release everything (call after the vCPUs stopped). */
void run_stats_free(struct run_stats *rs);

#endif
