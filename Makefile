# Thin wrapper around Meson. `make demo` and `make check` are the two commands
# in the README: each installs what is missing, builds, and runs.
BUILD ?= build
KVER ?= $(shell ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1)
INITRAMFS = $(BUILD)/guest/initramfs-$(KVER).cpio
WERROR = $(if $(CI),true,false)

.PHONY: all deps build initramfs vmlinux demo check unit e2e format format-check bench bench-blk bench-net clean asan fuzz-build fuzz

all: build initramfs vmlinux

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=$(WERROR)

build: $(BUILD)/build.ninja
	meson configure $(BUILD) -Dwerror=$(WERROR) >/dev/null
	ninja -C $(BUILD)

initramfs: build
	@test -n "$(KVER)" || { echo "no kernel in /boot: apt install linux-image-amd64" >&2; exit 1; }
	mkdir -p $(BUILD)/guest
	guest/mkinitramfs.sh --init $(BUILD)/kvmini-init \
		--tool $(BUILD)/blkbench --tool $(BUILD)/netbench --tool $(BUILD)/benchsuite \
		--tool $(BUILD)/hostile \
		--kver $(KVER) -o $(INITRAMFS)

# The default kernel, uncompressed: kvmini boots it through its PVH entry and
# skips the in-guest decompressor. The copy without the PVH note is for the
# ELF 64-bit entry test.
VMLINUX = $(BUILD)/guest/vmlinux-$(KVER)
vmlinux: build
	mkdir -p $(BUILD)/guest $(BUILD)/tests/e2e
	test $(VMLINUX) -nt /boot/vmlinuz-$(KVER) || tests/e2e/extract-vmlinux /boot/vmlinuz-$(KVER) $(VMLINUX)
	test $(BUILD)/tests/e2e/vmlinux-$(KVER)-nopvh -nt /boot/vmlinuz-$(KVER) || \
		tests/e2e/extract-vmlinux --no-pvh /boot/vmlinuz-$(KVER) $(BUILD)/tests/e2e/vmlinux-$(KVER)-nopvh

# The main job: boot the default guest and run a command in it.
demo: deps all
	tests/with-kvm $(BUILD)/kvmini run --cpus 2 --mem 1G -- \
		sh -c 'uname -a; echo "nproc: $$(nproc)"; grep MemTotal /proc/meminfo'

check: deps all asan fuzz-build
	tests/check

# The sanitizer build: kvmini and the unit tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (the static guest programs are built without).
# Its kvmini finds the default initramfs and vmlinux next to itself: links to
# the main build's (`make all`), as is the kernel the ELF entry test boots.
ASAN_BUILD ?= build-asan
asan: deps
	test -f $(ASAN_BUILD)/build.ninja || \
		meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=$(WERROR)
	ninja -C $(ASAN_BUILD)
	ln -sfn $$(realpath -m --relative-to=$(ASAN_BUILD) $(BUILD)/guest) $(ASAN_BUILD)/guest
	ln -sfn $$(realpath -m --relative-to=$(ASAN_BUILD)/tests/e2e \
		$(BUILD)/tests/e2e/vmlinux-$(KVER)-nopvh) $(ASAN_BUILD)/tests/e2e/

# The libFuzzer targets (tests/fuzz), built with clang; `make fuzz` runs each
# for FUZZ_TIME seconds (tests/fuzz/run).
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 60
fuzz-build: deps
	test -f $(FUZZ_BUILD)/build.ninja || \
		CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=$(WERROR)
	ninja -C $(FUZZ_BUILD)

fuzz: fuzz-build
	tests/fuzz/run --time $(FUZZ_TIME)

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

e2e: all
	tests/with-kvm tests/e2e/run

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

bench: deps all
	bench/boot --host-only
	tests/with-kvm bench/boot

# virtio-blk throughput and IOPS against QEMU (bench/blk; guest/blkbench.c).
bench-blk: deps all
	tests/with-kvm bench/blk

# virtio-net throughput and round trips against QEMU, vhost off and on
# (bench/net; guest/netbench.c on both ends).
bench-net: deps all
	tests/with-kvm bench/net

clean:
	rm -rf $(BUILD)
