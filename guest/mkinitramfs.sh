#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Build kvmini's default initramfs: an uncompressed newc cpio with
#   /init                  kvmini-init (guest/init.c)
#   /bin/busybox           a static busybox, plus a symlink for every applet
#   /bin/<name>            each static tool given with --tool (e.g. blkbench,
#                          netbench from guest/), under its own basename
#   /etc/passwd, /etc/group (root only), /etc/kvmini/modules
#   /lib/modules/<kver>/…  the virtio drivers of one kernel release and their
#                          dependencies, uncompressed; /etc/kvmini/modules
#                          lists them in load order for the init
# The archive is reproducible: sorted entries, mtime 0, owner root.
#
# usage: mkinitramfs.sh --init PATH --kver RELEASE [--modules-dir DIR]
#                       [--busybox PATH] [--tool PATH]... -o OUT.cpio
set -euo pipefail

prog=${0##*/}

# Modules the guest may need (kvmini's virtio devices). Dependencies are added.
wanted_modules=(
	virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	virtio_blk virtio_net virtio_console virtio-rng
	ext4 crc32c_generic
)

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

warn() {
	printf '%s: warning: %s\n' "$prog" "$*" >&2
}

usage() {
	cat <<EOF
usage: $prog --init PATH --kver RELEASE [--modules-dir DIR] [--busybox PATH]
       [--tool PATH]... -o OUT.cpio
  --init PATH         the static kvmini-init binary (becomes /init)
  --kver RELEASE      kernel release whose virtio modules to include (e.g. $(uname -r))
  --modules-dir DIR   where the module trees live (default /lib/modules)
  --busybox PATH      a statically linked busybox (default /bin/busybox)
  --tool PATH         a static program to install as /bin/<basename of PATH>
                      (repeatable; e.g. build/blkbench, build/netbench)
  -o OUT.cpio         output file, replaced atomically
EOF
}

init_bin=
kver=
modules_root=/lib/modules
busybox=/bin/busybox
tools=()
out=

while [[ $# -gt 0 ]]; do
	case $1 in
	--init | --kver | --modules-dir | --busybox | --tool | -o)
		[[ $# -ge 2 ]] || die "$1 needs a value"
		case $1 in
		--init) init_bin=$2 ;;
		--kver) kver=$2 ;;
		--modules-dir) modules_root=$2 ;;
		--busybox) busybox=$2 ;;
		--tool) tools+=("$2") ;;
		-o) out=$2 ;;
		esac
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		die "unknown argument: $1"
		;;
	esac
done

[[ -n $init_bin ]] || die "--init is required"
[[ -n $kver ]] || die "--kver is required"
[[ -n $out ]] || die "-o is required"
[[ $kver != */* && $kver != . && $kver != .. ]] || die "bad kernel release: $kver"

out_dir=$(dirname -- "$out")
[[ -d $out_dir ]] || die "output directory does not exist: $out_dir"

for tool in cpio readelf find sort; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# A dynamic binary would need a loader and libraries the initramfs lacks.
require_static() {
	local file=$1 what=$2
	[[ -f $file ]] || die "$what not found: $file"
	[[ -x $file ]] || die "$what is not executable: $file"
	local headers
	headers=$(readelf -lW "$file" 2>/dev/null) || die "$what is not an ELF executable: $file"
	if grep -q 'INTERP' <<<"$headers"; then
		die "$what is dynamically linked: $file (need a static one, e.g. from the busybox-static package)"
	fi
}

require_static "$init_bin" "init"
require_static "$busybox" "busybox"
declare -A tool_names=()
for tool in "${tools[@]}"; do
	require_static "$tool" "tool"
	name=${tool##*/}
	# A tool shadows a busybox applet of its name, but not busybox or the shell.
	case $name in
	busybox | sh) die "--tool $tool: /bin/$name is reserved" ;;
	esac
	[[ ! -v tool_names[$name] ]] || die "--tool: two tools named $name"
	tool_names[$name]=1
done

module_dir=$modules_root/$kver
[[ -d $module_dir ]] || die "no kernel modules for $kver: $module_dir does not exist (install linux-image-$kver or pass --modules-dir)"
[[ -f $module_dir/modules.dep ]] || die "$module_dir/modules.dep missing (run depmod $kver)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/kvmini-initramfs.XXXXXX")
out_tmp=
cleanup() {
	rm -rf -- "$stage"
	if [[ -n $out_tmp ]]; then
		rm -f -- "$out_tmp"
	fi
}
trap cleanup EXIT

# --- files and directories ---------------------------------------------------
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc/kvmini,lib/modules}
chmod 0755 "$stage"/{bin,sbin,usr,usr/bin,usr/sbin,dev,proc,sys,run,etc,etc/kvmini,lib,lib/modules}
chmod 1777 "$stage/tmp"
chmod 0700 "$stage/root"

install -m 0755 "$init_bin" "$stage/init"
if command -v strip >/dev/null; then
	strip --strip-all "$stage/init"
fi
install -m 0755 "$busybox" "$stage/bin/busybox"
for tool in "${tools[@]}"; do
	install -m 0755 "$tool" "$stage/bin/${tool##*/}"
	if command -v strip >/dev/null; then
		strip --strip-all "$stage/bin/${tool##*/}"
	fi
done

# Applet links; only the standard directories (skips e.g. "linuxrc").
applets=$("$busybox" --list-full) || die "$busybox --list-full failed"
while IFS= read -r applet; do
	case $applet in
	bin/* | sbin/* | usr/bin/* | usr/sbin/*) ;;
	*) continue ;;
	esac
	name=${applet##*/}
	[[ -n $name && $name != busybox && $applet != */*/*/* ]] || continue
	[[ -e $stage/$applet || -L $stage/$applet ]] && continue
	ln -s /bin/busybox "$stage/$applet"
done <<<"$applets"

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"
chmod 0644 "$stage/etc/passwd" "$stage/etc/group"

# --- kernel modules ----------------------------------------------------------
# modules.dep lines: "kernel/a/b.ko: kernel/dep1.ko kernel/dep2.ko"
declare -A dep_of=()  # module path -> its dependencies
declare -A path_of=() # normalized name -> module path
while IFS= read -r line; do
	[[ $line == *:* ]] || continue
	mod=${line%%:*}
	dep_of[$mod]=${line#*:}
	base=${mod##*/}
	base=${base%%.ko*}
	path_of[${base//-/_}]=$mod
done <"$module_dir/modules.dep"

builtin_names=" "
if [[ -f $module_dir/modules.builtin ]]; then
	while IFS= read -r mod; do
		base=${mod##*/}
		base=${base%%.ko*}
		builtin_names+="${base//-/_} "
	done <"$module_dir/modules.builtin"
fi

declare -A state=() # module path -> visiting | loaded
load_order=()
add_module() {
	local mod=$1 dep
	case ${state[$mod]:-} in
	loaded) return ;;
	visiting) die "dependency cycle in modules.dep at $mod" ;;
	esac
	state[$mod]=visiting
	[[ -v dep_of[$mod] ]] || die "$mod is a dependency but has no line in modules.dep"
	for dep in ${dep_of[$mod]}; do
		add_module "$dep"
	done
	state[$mod]=loaded
	load_order+=("$mod")
}

for name in "${wanted_modules[@]}"; do
	key=${name//-/_}
	if [[ -v path_of[$key] ]]; then
		add_module "${path_of[$key]}"
	elif [[ $builtin_names == *" $key "* ]]; then
		: # built into the kernel: nothing to load
	else
		warn "module $name is neither a module nor built in for $kver; skipped"
	fi
done

: >"$stage/etc/kvmini/modules"
for mod in "${load_order[@]}"; do
	src=$module_dir/$mod
	rel=${mod%.ko*}.ko
	dst=$stage/lib/modules/$kver/$rel
	[[ -f $src ]] || die "module file missing: $src"
	mkdir -p "${dst%/*}"
	case $mod in
	*.ko) cp -- "$src" "$dst" ;;
	*.ko.xz) xz -dc -- "$src" >"$dst" || die "cannot decompress $src (xz)" ;;
	*.ko.zst) zstd -qdc -- "$src" >"$dst" || die "cannot decompress $src (zstd)" ;;
	*.ko.gz) gzip -dc -- "$src" >"$dst" || die "cannot decompress $src (gzip)" ;;
	*) die "unknown module file type: $src" ;;
	esac
	chmod 0644 "$dst"
	printf '/lib/modules/%s/%s\n' "$kver" "$rel" >>"$stage/etc/kvmini/modules"
done
chmod 0644 "$stage/etc/kvmini/modules"
find "$stage/lib" -type d -exec chmod 0755 {} +

# --- archive -------------------------------------------------------------------
find "$stage" -exec touch -h -d @0 {} +
out_tmp=$(mktemp "$out_dir/.${out##*/}.XXXXXX")
(
	cd "$stage"
	find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		cpio --quiet -o -H newc --reproducible --owner=0:0
) >"$out_tmp"
chmod 0644 "$out_tmp"
mv -f -- "$out_tmp" "$out"
out_tmp=
