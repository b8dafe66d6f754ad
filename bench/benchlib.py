"""Helpers shared by the VMM-against-QEMU benchmarks (bench/blk, bench/net).

Both boot the default guest (newest /boot/vmlinuz-*, kvmini's own initramfs)
under kvmini and under QEMU, run one guest command per boot through
kvmini-init's kvmini.cmd protocol, and print medians side by side.
"""
import argparse
import os
import re
import select
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KVMINI = os.environ.get("KVMINI") or os.path.join(ROOT, "build", "kvmini")
CMDLINE_MAX = 2047  # x86 COMMAND_LINE_SIZE minus the NUL

# What kvmini's command line is with a guest command, minus pci=off (QEMU's
# devices are PCI devices); the init needs only kvmini.cmd (guest/init.c).
QEMU_CMDLINE = ("console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nopnp i8042.dumbkbd "
                "io_delay=none quiet loglevel=1")
QEMU_MACHINE = "microvm,pcie=on,acpi=on"
# kvmini-init writes the command's status to port 0x4f0; with isa-debug-exit
# there QEMU exits with (status << 1) | 1, so a command's 0 is QEMU's 1.
QEMU_OK_STATUS = 1


def fail(prog, message):
    sys.exit(f"{prog}: {message}")


def newest_kernel(prog):
    names = [n for n in os.listdir("/boot") if n.startswith("vmlinuz-")]
    if not names:
        fail(prog, "no /boot/vmlinuz-*: apt install linux-image-amd64")
    names.sort(key=lambda n: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", n)])
    return os.path.join("/boot", names[-1])


def guest_files(prog, need_kvmini):
    """(kernel, release, initrd) of the default guest; exits when missing."""
    kernel = newest_kernel(prog)
    release = os.path.basename(kernel)[len("vmlinuz-"):]
    initrd = os.path.join(ROOT, "build", "guest", f"initramfs-{release}.cpio")
    for path, what, needed in ((initrd, "initramfs", True), (KVMINI, "kvmini", need_kvmini)):
        if needed and not os.path.exists(path):
            fail(prog, f"no {what} at {path}: run `make`")
    return kernel, release, initrd


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip(), re.IGNORECASE)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"bad size '{text}' (e.g. 256M, 1G)")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def cmd_hex(argv):
    return b"\0".join(a.encode() for a in argv).hex()


def qemu_argv(prog, guest_argv, *, kernel, initrd, mem, cpus, machine=QEMU_MACHINE):
    """QEMU's command line up to its devices: the caller appends those."""
    cmdline = f"{QEMU_CMDLINE} kvmini.cmd={cmd_hex(guest_argv)}"
    if len(cmdline) > CMDLINE_MAX:
        fail(prog, f"guest command line is {len(cmdline)} bytes, more than {CMDLINE_MAX}")
    return ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-M", machine,
            "-m", mem, "-smp", str(cpus), "-nodefaults", "-no-user-config",
            "-nographic", "-serial", "stdio", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
            "-device", "isa-debug-exit,iobase=0x4f0,iosize=4"]


def run_vm(argv, timeout):
    """Runs one VM to its end; returns (status, stdout, stderr, wall seconds).
    status is None when it ran out of time (it is killed then)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = b"", b""
    streams = {p.stdout.fileno(): "out", p.stderr.fileno(): "err"}
    deadline = t0 + timeout
    timed_out = False
    while streams:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            p.kill()
            break
        ready, _, _ = select.select(list(streams), [], [], min(left, 1.0))
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                del streams[fd]
            elif streams[fd] == "out":
                out += chunk
            else:
                err += chunk
    status = p.wait()
    return (None if timed_out else status), out, err, time.monotonic() - t0


def describe_failure(prog, name, status, out, err, tool=None):
    """Prints why a boot failed, with the tails of its output."""
    what = "timed out" if status is None else f"exit status {status}"
    hint = ""
    if tool and (f"{tool}: not found".encode() in out
                 or f"{tool}: No such file".encode() in out):
        hint = f" (the initramfs has no /bin/{tool}: rebuild it with `make`)"
    sys.stderr.write(f"{prog}: {name} {what}{hint}\n"
                     f"--- guest output (tail) ---\n{out[-1500:].decode(errors='replace')}\n"
                     f"--- stderr (tail) ---\n{err[-800:].decode(errors='replace')}\n")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v):
    if v is None:
        return "n/a"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"
