"""Helpers shared by the VMM-against-QEMU benchmarks (bench/blk, bench/net).

Both boot the default guest (newest /boot/vmlinuz-*, kvmini's own initramfs)
under kvmini and under QEMU, run one guest command per boot through
kvmini-init's kvmini.cmd protocol, and print medians side by side.
"""
import argparse
import glob
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


# SVM and VMX exit codes worth a name (arch/x86/include/uapi/asm/{svm,vmx}.h).
SVM_EXITS = {0x60: "intr", 0x61: "nmi", 0x64: "vintr", 0x65: "cr0_sel_write", 0x6e: "rdtsc",
             0x72: "cpuid", 0x74: "iret", 0x77: "pause", 0x78: "hlt", 0x79: "invlpg",
             0x7b: "io", 0x7c: "msr", 0x81: "vmmcall", 0x8d: "xsetbv", 0x400: "npf",
             0x401: "avic_ipi", 0x402: "avic_unaccelerated"}
VMX_EXITS = {1: "external_interrupt", 7: "interrupt_window", 10: "cpuid", 12: "hlt",
             28: "cr_access", 30: "io", 31: "msr_read", 32: "msr_write", 40: "pause",
             44: "apic_access", 45: "eoi_induced", 48: "ept_violation", 49: "ept_misconfig",
             56: "apic_write"}
MSR_NAMES = {0x6e0: "tsc_deadline", 0x80b: "x2apic_eoi", 0x830: "x2apic_icr",
             0x838: "x2apic_tmict", 0x4b564d04: "kvm_pv_eoi_en"}


def cpu_snapshot():
    """({thread id: (name, user s, sys s)}, {"[/proc/stat state]": seconds})
    right now. Numbers in names become N (vhost-1234: vhost-N), and kworker
    names lose their changing work-queue suffix."""
    tick = os.sysconf("SC_CLK_TCK")
    threads = {}
    for stat in glob.glob("/proc/[0-9]*/task/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue  # gone meanwhile
        name = re.sub(r"[0-9]+", "N", text[text.index("(") + 1:text.rindex(")")])
        if name.startswith("kworker"):
            name = "kworker"
        fields = text[text.rindex(")") + 2:].split()
        # utime includes time in a guest, so a vCPU thread's sys is KVM's own.
        threads[stat] = (name, int(fields[11]) / tick, int(fields[12]) / tick)
    with open("/proc/stat") as f:
        cpu = [int(x) / tick for x in f.readline().split()[1:8]]
    states = dict(zip(("[user]", "[nice]", "[system]", "[idle]", "[iowait]", "[irq]",
                       "[softirq]"), cpu))
    return threads, states


def cpu_delta(before, after):
    """{"name:user", "name:sys" or "[state]": seconds} between two snapshots."""
    res = {}
    for tid, (name, user, sys_) in after[0].items():
        _, user0, sys0 = before[0].get(tid, (name, 0, 0))
        for key, secs in ((name + ":user", user - user0), (name + ":sys", sys_ - sys0)):
            if secs > 0:
                res[key] = res.get(key, 0) + secs
    for state, secs in after[1].items():
        if secs - before[1].get(state, 0) > 0:
            res[state] = secs - before[1].get(state, 0)
    return res


class KvmTrace:
    """Counts KVM events while a step of a benchmark runs, through tracefs
    histogram triggers (no ring buffer to overflow): exits by reason, MSR
    accesses, port I/O, MMIO, injected interrupts and exits to the VMM; and
    CPU time by thread name and state (threads that ended meanwhile count
    only in the states). Needs root and a kernel
    with CONFIG_HIST_TRIGGERS; check() says what is missing."""

    TRACEFS = "/sys/kernel/tracing"
    EVENTS = {  # event: its histogram's keys
        "kvm_exit": "exit_reason,isa",
        "kvm_msr": "ecx,write",
        "kvm_pio": "port,rw",
        "kvm_mmio": "gpa,type",
        "kvm_inj_virq": "vector",
        "kvm_userspace_exit": "reason",
    }
    KEY_LINE = re.compile(r"^\{ (.*) \} hitcount:\s*(\d+)")

    def __init__(self, prog):
        self.prog = prog

    def check(self):
        if not os.path.isdir(os.path.join(self.TRACEFS, "events")):
            subprocess.run(["mount", "-t", "tracefs", "none", self.TRACEFS],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for ev in self.EVENTS:
            if not os.path.exists(self._path(ev, "hist")):
                fail(self.prog, f"no {self._path(ev, 'hist')}: needs root, tracefs and "
                                "a kernel with CONFIG_HIST_TRIGGERS")

    def _path(self, event, name):
        return os.path.join(self.TRACEFS, "events", "kvm", event, name)

    def _trigger(self, event, on):
        keys = self.EVENTS[event]
        spec = f"hist:keys={keys}:sort=hitcount.descending:size=8192"
        # Appending: opening for writing would drop every hist trigger on
        # the event, other users' too.
        with open(self._path(event, "trigger"), "a") as f:
            f.write(spec if on else "!" + spec)

    def start(self):
        self.cpu0 = cpu_snapshot()
        self.active = True
        for ev in self.EVENTS:
            self._trigger(ev, True)

    def stop(self):
        """{event: {key text: count}} since start(), and under "cpu" the CPU
        time (seconds) by thread name and by /proc/stat state; the triggers
        are removed."""
        if not getattr(self, "active", False):
            return {}
        self.active = False
        res = {"cpu": cpu_delta(self.cpu0, cpu_snapshot())}
        for ev in self.EVENTS:
            counts = {}
            with open(self._path(ev, "hist")) as f:
                for line in f:
                    m = self.KEY_LINE.match(line.strip())
                    if m:
                        name = self._name(ev, dict(re.findall(r"(\w+):\s*([^,\s]+)",
                                                              m.group(1))))
                        counts[name] = counts.get(name, 0) + int(m.group(2))
            try:
                self._trigger(ev, False)
            except OSError:
                pass  # start() failed before adding it
            res[ev] = counts
        return res

    @staticmethod
    def _name(event, f):
        if event == "kvm_exit":
            code = int(f.get("exit_reason", "0"))
            table = SVM_EXITS if f.get("isa") == "2" else VMX_EXITS
            return table.get(code, hex(code))
        if event == "kvm_msr":
            ecx = int(f.get("ecx", "0"))
            rw = "write" if f.get("write") == "1" else "read"
            return f"{MSR_NAMES.get(ecx, hex(ecx))} {rw}"
        if event == "kvm_pio":
            return f"port {int(f.get('port', '0')):#x} {'out' if f.get('rw') == '1' else 'in'}"
        if event == "kvm_mmio":
            gpa = int(f.get("gpa", "0"), 0)
            return f"{gpa & ~0xfff:#x} page, type {f.get('type')}"
        if event == "kvm_userspace_exit":
            return f"reason {f.get('reason')}"
        return f"vector {f.get('vector')}"

    @staticmethod
    def summary(counts, per, unit, top=6):
        """One line per event: the total and the commonest keys, each per @unit;
        CPU time in milliseconds per @unit."""
        lines = []
        for ev, c in counts.items():
            if ev == "cpu":
                items = sorted(c.items(), key=lambda kv: -kv[1])[:top + 4]
                parts = ", ".join(f"{k} {v * 1000 / per:.1f}" for k, v in items)
                lines.append(f"  cpu ms per {unit}: {parts}")
                continue
            total = sum(c.values())
            if not total:
                continue
            items = sorted(c.items(), key=lambda kv: -kv[1])[:top]
            parts = ", ".join(f"{k} {v / per:.0f}" for k, v in items)
            lines.append(f"  {ev}: {total / per:.0f} per {unit} ({parts})")
        return lines
