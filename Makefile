# Thin wrapper around Meson. `make demo` and `make check` are the two commands
# in the README: each installs what is missing, builds, and runs.
BUILD ?= build
KVER ?= $(shell ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -n 1)
INITRAMFS = $(BUILD)/guest/initramfs-$(KVER).cpio
WERROR = $(if $(CI),true,false)

.PHONY: all deps build initramfs vmlinux demo check unit e2e format format-check bench clean

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
	guest/mkinitramfs.sh --init $(BUILD)/kvmini-init --kver $(KVER) -o $(INITRAMFS)

# Test artifacts: Debian's vmlinux for the ELF/PVH and ELF 64-bit entry tests.
VMLINUX = $(BUILD)/tests/e2e/vmlinux-$(KVER)
vmlinux: build
	test -e $(VMLINUX) || tests/e2e/extract-vmlinux /boot/vmlinuz-$(KVER) $(VMLINUX)
	test -e $(VMLINUX)-nopvh || tests/e2e/extract-vmlinux --no-pvh /boot/vmlinuz-$(KVER) $(VMLINUX)-nopvh

# The main job: boot the default guest and run a command in it.
demo: deps all
	tests/with-kvm $(BUILD)/kvmini run --cpus 2 --mem 1G -- \
		sh -c 'uname -a; echo "nproc: $$(nproc)"; grep MemTotal /proc/meminfo'

check: deps all
	tests/check

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

e2e: all
	tests/with-kvm tests/e2e/run

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

bench: deps all
	bench/boot

clean:
	rm -rf $(BUILD)
