// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpuid.h"
#include "layout.h"
#include "machine.h"
#include "mptable.h"
#include "regs.h"

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

/* A read-only view of a whole file. */
struct mapped_file {
	const uint8_t *data;
	size_t size;
	int fd; /* kept open for zero-copy loading; -1 when closed */
};

static int map_file(const char *what, const char *path, struct mapped_file *f, struct error *err)
{
	struct stat st;
	void *p;
	int fd;

	f->data = NULL;
	f->size = 0;
	f->fd = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, -errno, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return error_set(err, -e, "%s %s: %s", what, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, -EINVAL, "%s %s: not a regular file", what, path);
	}
	if (st.st_size == 0) {
		close(fd);
		return error_set(err, -EINVAL, "%s %s: file is empty", what, path);
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		close(fd);
		return error_set(err, -e, "%s %s: %s", what, path, strerror(e));
	}
	f->data = p;
	f->size = st.st_size;
	f->fd = fd;
	return 0;
}

static void unmap_file(struct mapped_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->size);
	if (f->fd >= 0)
		close(f->fd);
	f->data = NULL;
	f->fd = -1;
}

unsigned int machine_max_cpus(void)
{
	unsigned int n = mptable_max_cpus();

	/* xAPIC ids are 8 bits and the IOAPIC takes the id after the CPUs. */
	return n < 254 ? n : 254;
}

static int create_irqchip(struct vm *vm, struct error *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ LAYOUT_KVM_IDENTITY_MAP }) < 0)
		return error_set(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0)
		return error_set(err, -errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return error_set(err, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return error_set(err, -errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	return 0;
}

int machine_setup_cpuid(struct vm *vm, struct error *err)
{
	enum { MAX_ENTRIES = 256 };
	size_t size = sizeof(struct kvm_cpuid2) + MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *supported = calloc(1, size), *cpuid = calloc(1, size);
	bool tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	struct kvm_cpuid_entry2 *leaf1;
	int ret = 0;

	if (!supported || !cpuid) {
		ret = error_set(err, -ENOMEM, "out of memory for CPUID");
		goto out;
	}
	supported->nent = MAX_ENTRIES;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, supported) < 0) {
		ret = error_set(err, -errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto out;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		memcpy(cpuid, supported, size);
		ret = cpuid_normalize(cpuid, MAX_ENTRIES, i, vm->nr_vcpus);
		if (ret) {
			error_set(err, ret, "vCPU %u: cannot build CPUID", i);
			goto out;
		}
		/* KVM leaves the TSC-deadline bit to userspace (api.rst). */
		leaf1 = cpuid_find(cpuid, 1, 0);
		if (leaf1 && tsc_deadline)
			leaf1->ecx |= CPUID_1_ECX_TSC_DEADLINE;
		if (ioctl(vm->vcpus[i].fd, KVM_SET_CPUID2, cpuid) < 0) {
			ret = error_set(err, -errno, "vCPU %u: KVM_SET_CPUID2: %s", i,
					strerror(errno));
			goto out;
		}
	}
out:
	free(supported);
	free(cpuid);
	return ret;
}

static int register_pio(struct vm *vm, uint64_t port, uint64_t len, bus_io_fn fn, void *dev,
			const char *name, struct error *err)
{
	int ret = bus_register(&vm->pio, port, len, fn, dev, name);

	if (ret)
		return error_set(err, ret, "cannot register %s at port 0x%llx: %s", name,
				 (unsigned long long)port, strerror(-ret));
	return 0;
}

static void ready_port_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct machine *m = opaque;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	timeline_mark(&m->vm.timeline.init_started, monotonic_ns());
	if (m->guest_ready)
		m->guest_ready(m->guest_ready_opaque);
}

/* COM1 output, timed on its way to the user's sink. */
static void com1_tx(void *opaque, uint8_t byte)
{
	struct machine *m = opaque;

	timeline_mark(&m->vm.timeline.first_serial_byte, monotonic_ns());
	if (m->serial.tx)
		m->serial.tx(m->serial.opaque, byte);
}

static void com1_rx_ready(void *opaque)
{
	struct machine *m = opaque;

	if (m->serial.rx_ready)
		m->serial.rx_ready(m->serial.opaque);
}

static int create_devices(struct machine *m, const struct machine_config *cfg, struct error *err)
{
	struct vm *vm = &m->vm;
	struct irq_line com1_irq = { .set_level = vm_set_irq_level, .opaque = vm, .gsi = COM1_IRQ };

	struct uart16550_ops com1_ops = { .tx = com1_tx, .rx_ready = com1_rx_ready, .opaque = m };

	m->serial = cfg->serial;
	uart16550_init(&m->com1, &com1_irq, &com1_ops);
	m->guest_ready = cfg->guest_ready;
	m->guest_ready_opaque = cfg->guest_ready_opaque;
	i8042_init(&m->kbc, &vm->stop_hook);
	cmos_rtc_init(&m->rtc, NULL, NULL);
	exit_port_init(&m->debug_exit, EXIT_PORT_ISA_DEBUG, &vm->stop_hook);
	exit_port_init(&m->kvmini_exit, EXIT_PORT_KVMINI, &vm->stop_hook);
	m->devices_ready = true;

	if (register_pio(vm, COM1_PORT, 8, uart16550_io, &m->com1, "COM1 16550A", err) ||
	    register_pio(vm, I8042_DATA_PORT, 1, i8042_data_io, &m->kbc, "i8042 data", err) ||
	    register_pio(vm, I8042_CMD_PORT, 1, i8042_cmd_io, &m->kbc, "i8042 command", err) ||
	    register_pio(vm, 0x70, 2, cmos_rtc_io, &m->rtc, "CMOS RTC", err) ||
	    register_pio(vm, DEBUG_EXIT_PORT, EXIT_PORT_LEN, exit_port_io, &m->debug_exit,
			 "isa-debug-exit", err) ||
	    register_pio(vm, KVMINI_EXIT_PORT, EXIT_PORT_LEN, exit_port_io, &m->kvmini_exit,
			 "kvmini exit port", err) ||
	    register_pio(vm, KVMINI_READY_PORT, 1, ready_port_io, m, "kvmini ready port", err))
		return err->code;
	return 0;
}

static int map_boot_files(const struct machine_config *cfg, struct mapped_file *kernel,
			  struct mapped_file *initrd, struct error *err)
{
	int ret = map_file("kernel", cfg->kernel_path, kernel, err);

	if (!ret && cfg->initrd_path) {
		ret = map_file("initrd", cfg->initrd_path, initrd, err);
		if (ret)
			unmap_file(kernel);
	}
	return ret;
}

static void loader_failed(void *opaque, const char *msg)
{
	struct machine *m = opaque;

	vm_request_stop(&m->vm, VM_STOP_ERROR, KVMINI_EXIT_ERROR, "%s", msg);
}

static int load_kernel(struct machine *m, const struct machine_config *cfg,
		       const struct mapped_file *kernel, const struct mapped_file *initrd,
		       struct error *err)
{
	struct boot_image img = {
		.kernel = kernel->data,
		.kernel_size = kernel->size,
		.initrd = initrd->data,
		.initrd_size = initrd->size,
		.cmdline = cfg->cmdline,
		.initrd_name = cfg->initrd_name,
		.kernel_fd = kernel->fd,
		.kernel_fd_valid = kernel->fd >= 0,
	};
	int ret;

	if (cfg->kernel_load != KERNEL_LOAD_MAP) {
		lazy_load_init(&m->loader, &m->vm.mem);
		m->loader.failed = loader_failed;
		m->loader.opaque = m;
		img.lazy = &m->loader;
		img.initrd_fd = initrd->fd;
		img.initrd_fd_valid = initrd->fd >= 0;
	}
	ret = boot_load(&m->vm.mem, &img, &m->entry, err);

	if (ret)
		error_prefix(err, "kernel %s", cfg->kernel_path);
	return ret;
}

int machine_create(struct machine *m, const struct machine_config *cfg, struct error *err)
{
	struct mapped_file kernel = { .fd = -1 }, initrd = { .fd = -1 };
	struct vm *vm = &m->vm;
	unsigned int max;
	int ret;

	memset(m, 0, sizeof(*m));
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	/* Bad files are reported before anything else, KVM included. */
	ret = map_boot_files(cfg, &kernel, &initrd, err);
	if (ret)
		return ret;
	ret = vm_open(vm, cfg->kvm_dev ? cfg->kvm_dev : "/dev/kvm", err);
	max = ret ? 0 : vm_max_vcpus(vm);
	if (!ret && cfg->nr_cpus > max)
		ret = error_set(err, -EINVAL, "--cpus %u: this host's KVM allows at most %u vCPUs",
				cfg->nr_cpus, max);
	if (!ret)
		ret = vm_create(vm, cfg->ram_size, err);
	if (!ret)
		ret = create_irqchip(vm, err);
	if (!ret)
		ret = vm_create_vcpus(vm, cfg->nr_cpus, err);
	if (!ret)
		ret = machine_setup_cpuid(vm, err);
	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++)
		ret = x86_vcpu_init(vm->vcpus[i].fd, i, err);
	if (!ret)
		ret = load_kernel(m, cfg, &kernel, &initrd, err);
	unmap_file(&kernel);
	unmap_file(&initrd);
	if (!ret && x86_write_boot_tables(&vm->mem))
		ret = error_set(err, -EFAULT, "cannot write boot page tables: guest RAM too small");
	if (!ret)
		ret = x86_vcpu_set_boot_state(vm->vcpus[0].fd, &m->entry, err);
	if (!ret)
		ret = create_devices(m, cfg, err);
	if (!ret)
		ret = machine_pci_create(&m->pci, vm, &cfg->pci, err);
	if (!ret) {
		unsigned int slots[PCI_MAX_SLOTS];
		unsigned int n = machine_pci_slots(&m->pci, slots, PCI_MAX_SLOTS);

		ret = mptable_write(&vm->mem, vm->nr_vcpus, slots, n, err);
	}
	/* Last: the loader's chunks must not change under it any more. */
	if (!ret && cfg->kernel_load == KERNEL_LOAD_COPY)
		ret = lazy_load_now(&m->loader, err);
	if (!ret && cfg->kernel_load == KERNEL_LOAD_LAZY)
		m->load_lazily = true;
	else if (!ret)
		timeline_mark(&vm->timeline.kernel_loaded, monotonic_ns());
	return ret;
}

int machine_run(struct machine *m, struct error *err)
{
	int ret = 0, status;

	if (m->load_lazily)
		ret = lazy_load_start(&m->loader, false, err);
	if (!ret)
		ret = machine_pci_start(&m->pci, err);
	if (!ret)
		ret = vm_start(&m->vm, err);
	if (ret)
		return ret;
	if (m->load_lazily)
		lazy_load_go(&m->loader);
	status = vm_wait(&m->vm);
	if (atomic_load(&m->loader.done_ns))
		timeline_mark(&m->vm.timeline.kernel_loaded, atomic_load(&m->loader.done_ns));
	return status;
}

void machine_destroy(struct machine *m)
{
	/*
	 * The loader, then vCPUs, then I/O threads, then guest memory: a vCPU
	 * or device may wait for the loader (when the VM failed to start
	 * before lazy_load_go()), and each uses the next. Never set up (map
	 * mode): machine_create() zeroed it, and that is a no-op.
	 */
	lazy_load_destroy(&m->loader);
	vm_stop_vcpus(&m->vm);
	machine_pci_destroy(&m->pci);
	vm_destroy(&m->vm);
	if (m->devices_ready) {
		uart16550_destroy(&m->com1);
		i8042_destroy(&m->kbc);
		cmos_rtc_destroy(&m->rtc);
	}
	m->devices_ready = false;
}
