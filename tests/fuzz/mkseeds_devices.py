#!/usr/bin/env python3
# Write the seed corpora of the legacy device, loader and option targets
# (tests/fuzz/corpus/NAME/) in each target's input format (see the comment at
# the top of tests/fuzz/fuzz_NAME.c). The kernels are small valid images like
# the unit tests' builders make. Usage: tests/fuzz/mkseeds_devices.py [CORPUS_DIR]
import os
import struct
import sys

MIB = 1 << 20

# fuzz_boot.h flags
INITRD, CMDLINE, NAME, FD, LAZY = 1, 2, 4, 8, 0x20


def ram_steps(mib):
    return (mib * MIB - 2 * MIB) // (256 << 10)


def boot_input(kernel, ram_mib, initrd=None, cmdline=None, name=None, fd=False, lazy=False):
    flags = (INITRD if initrd is not None else 0) | (CMDLINE if cmdline is not None else 0)
    flags |= (NAME if name is not None else 0) | (FD if fd else 0) | (FD | LAZY if lazy else 0)
    initrd, cmdline, name = initrd or b"", cmdline or b"", name or b""
    hdr = struct.pack("<BBHII", flags, ram_steps(ram_mib), len(name), len(cmdline), len(initrd))
    return hdr + kernel + name + cmdline + initrd


def pattern(n, mul, add):
    return bytes((i * mul + add) & 0xFF for i in range(n))


# --- bzImage: setup header only, a patterned protected-mode payload ---

def bzimage(relocatable=True, pref=0x1000000, init_size=0x400000):
    setup_sects, payload = 4, 8192
    setup = (setup_sects + 1) * 512
    k = bytearray(setup + payload)
    k[0x1F1] = setup_sects
    struct.pack_into("<I", k, 0x1F4, payload // 16)
    struct.pack_into("<H", k, 0x1FE, 0xAA55)
    k[0x200], k[0x201] = 0xEB, 0x6A  # header ends at 0x26c
    k[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", k, 0x206, 0x020F)
    struct.pack_into("<H", k, 0x20E, 0x400 - 0x200)
    rel = b"6.1.99-test (builder@host) #1 SMP\0"
    k[0x400:0x400 + len(rel)] = rel
    struct.pack_into("<I", k, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
    struct.pack_into("<I", k, 0x230, 0x200000)  # kernel_alignment
    k[0x234] = 1 if relocatable else 0
    struct.pack_into("<H", k, 0x236, 0x03)  # XLF_KERNEL_64
    struct.pack_into("<I", k, 0x238, 0x7FF)  # cmdline_size
    struct.pack_into("<Q", k, 0x258, pref)
    struct.pack_into("<I", k, 0x260, init_size)
    k[setup:] = pattern(payload, 7, 1)
    return bytes(k)


# --- ELF: program headers at 64, PT_LOADs, optional PT_NOTE with the PVH entry ---

def note(name, ntype, desc):
    n = name + b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)
    return struct.pack("<III", len(n), len(desc), ntype) + pad(n) + pad(desc)


def elf(is64, entry, loads, notes=b"", size=0x4000, machine=None):
    img = bytearray(size)
    phnum = len(loads) + (1 if notes else 0)
    note_off = 0x3000
    if is64:
        img[0:16] = b"\x7fELF\x02\x01\x01" + b"\0" * 9
        struct.pack_into("<HHIQQQIHHHHHH", img, 16, 2, machine or 62, 1, entry, 64, 0, 0, 64,
                         56, phnum, 0, 0, 0)
        phdr, fmt = 56, "<IIQQQQQQ"
    else:
        img[0:16] = b"\x7fELF\x01\x01\x01" + b"\0" * 9
        struct.pack_into("<HHIIIIIHHHHHH", img, 16, 2, machine or 3, 1, entry, 64, 0, 0, 52,
                         32, phnum, 0, 0, 0)
        phdr, fmt = 32, "<IIIIIIII"
    phs = [(1, off, vaddr, paddr, filesz, memsz, 0x1000) for off, vaddr, paddr, filesz, memsz
           in loads]
    if notes:
        phs.append((4, note_off, 0, 0, len(notes), 0, 4))
    for i, (ptype, off, vaddr, paddr, filesz, memsz, align) in enumerate(phs):
        if is64:
            struct.pack_into(fmt, img, 64 + i * phdr, ptype, 0, off, vaddr, paddr, filesz,
                             memsz, align)
        else:
            struct.pack_into(fmt, img, 64 + i * phdr, ptype, off, vaddr, paddr, filesz, memsz,
                             0, align)
    img[0x1000:0x3000] = pattern(0x2000, 13, 5)
    if notes:
        img[note_off:note_off + len(notes)] = notes
    return bytes(img)


def pvh_notes(entry, width):
    return note(b"GNU", 3, b"\xab" + b"\0" * 19) + note(b"Xen", 18,
                                                          entry.to_bytes(width, "little"))


VIRT = 0xFFFFFFFF80000000
LINUX_LOADS = [(0x1000, 0xFFFFFFFF81000000, 0x1000000, 0x1000, 0x1000),
               (0x2000, 0xFFFFFFFF81200000, 0x1200000, 0x800, 0x2000)]


# --- Multiboot: a.out kludge binary, and an ELF32 with the header in its first page ---

MB_MAGIC = 0x1BADB002


def mb_header(flags):
    return struct.pack("<III", MB_MAGIC, flags, (-MB_MAGIC - flags) & 0xFFFFFFFF)


def mb_aout(load_end=0x102000, bss_end=0x104000, entry=0x100080):
    img = bytearray(pattern(0x3000, 11, 3))
    off = 0x40
    img[off:off + 12] = mb_header((1 << 16) | 0x3)
    struct.pack_into("<IIIII", img, off + 12, 0x100000 + off, 0x100000, load_end, bss_end,
                     entry)
    return bytes(img)


def mb_elf():
    img = bytearray(elf(False, 0x100010, [(0x1000, 0x100000, 0x100000, 0x1000, 0x2000)],
                        size=0x3000))
    img[0x1000:0x100C] = mb_header(0x3)
    return bytes(img)


# --- the device and option targets ---

def uart_seeds():
    w = lambda reg, val: bytes([reg, val])
    r = lambda reg: bytes([0x40 | reg])
    host = lambda data: bytes([0x80 | len(data)]) + data
    # Linux's 8250 probe and set-up: scratch, IER, loopback test, FIFO, divisor, OUT2.
    probe = (w(7, 0x55) + r(7) + w(1, 0x0F) + r(1) + w(1, 0) + w(4, 0x1F) + r(6) + w(4, 0)
             + w(2, 0xC7) + r(2) + w(3, 0x80) + w(0, 0x01) + w(1, 0) + w(3, 0x03) + r(0) + r(1))
    tty = (w(4, 0x0B) + w(1, 0x0F) + host(b"hello\n") + r(2) + r(5) + r(0) * 6 + r(2)
           + w(0, 0x41) + r(2) + r(6))
    overrun = w(2, 0x01) + w(4, 0x0B) + w(1, 0x05) + host(bytes(range(0x61, 0x61 + 20))) \
        + r(5) + r(2) + r(0) * 17 + host(b"x")
    loop = w(4, 0x1B) + w(0, 0x42) + r(5) + r(0) + w(4, 0x0B) + bytes([0x61, 3, 0x77, 0x6C, 4])
    return {"probe": probe, "tty": tty, "overrun": overrun, "loopback": loop}


def i8042_seeds():
    cmd = lambda c: bytes([0x03, c])
    data = lambda b: bytes([0x02, b])
    status, read = bytes([0x01]), bytes([0x00])
    # Linux: read CTR, self test, write CTR, interface tests, then reboot=k.
    probe = (status + cmd(0x20) + status + read + cmd(0xAA) + read + cmd(0x60) + data(0x47)
             + cmd(0xAB) + read + cmd(0xA9) + read + cmd(0xAD) + cmd(0xAE) + cmd(0xD0) + read)
    reset = cmd(0xD1) + data(0xDF) + cmd(0xD1) + data(0xDE) + cmd(0xFE)
    odd = bytes([0x09, 0x19, 0x04, 0x18]) + cmd(0xA7) + cmd(0xA8)
    return {"probe": probe, "reset": reset, "odd": odd}


def cmos_seeds():
    clock = struct.pack("<I", 1700000000)
    idx = lambda i: bytes([0x00, i])
    wr = lambda v: bytes([0x40, v])
    rd = bytes([0x80])
    # Linux reads the time, checks register D and A, then sets the clock under SET.
    read_time = clock + b"".join(idx(i) + rd for i in (0x0A, 0x00, 0x02, 0x04, 0x07, 0x08,
                                                       0x09, 0x32, 0x0B, 0x0D))
    set_time = (clock + idx(0x0B) + wr(0x82) + idx(0x00) + wr(0x30) + idx(0x04) + wr(0x23)
                + idx(0x09) + wr(0x99) + idx(0x0B) + wr(0x02) + bytes([0xDF]) + idx(0x00) + rd
                + idx(0x09) + rd)
    modes = (clock + idx(0x0B) + wr(0x80) + idx(0x0B) + wr(0x84) + idx(0x04) + rd + idx(0x0B)
             + wr(0x00) + idx(0x04) + rd + idx(0x40) + wr(0x11) + rd + bytes([0xE1, 0xE6, 0xEB]))
    return {"read_time": read_time, "set_time": set_time, "modes": modes}


def options_seeds():
    return {
        "run": b"\0".join([b"console=ttyS0 loglevel=7", b"512M", b"2", b"sh", b"-c",
                           b"echo hi"]),
        "disk": b"\0".join([b"disk.img,ro,cache=none,serial=abc,aio=sync",
                            b"/dev/vdb,cache=writeback,aio=io_uring", b"x,aio=auto"]),
        "net": b"\0".join([b"tap=tap0,mac=02:00:00:00:00:01,vhost=on", b"tap,vhost=off",
                           b"02:6b:6d:aa:bb:cc"]),
        "sizes": b"\0".join([b"1G", b"16777215TiB", b"18446744073709551615", b"254", b"4kb"]),
    }


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                                "corpus")
    kern = b"console=ttyS0 quiet"
    seeds = {
        "bzimage": {
            "relocatable": boot_input(bzimage(), 32, initrd=pattern(4096, 3, 9), cmdline=kern),
            "fixed": boot_input(bzimage(False, 0x100000, 0x10000), 16, cmdline=b""),
        },
        "elf": {
            "pvh64": boot_input(elf(True, 0xFFFFFFFF81000010, LINUX_LOADS,
                                    pvh_notes(0x1000040, 4)), 32, initrd=pattern(3000, 5, 1),
                                cmdline=kern, fd=True),
            "linux64": boot_input(elf(True, 0xFFFFFFFF81000010, LINUX_LOADS), 32,
                                  initrd=pattern(2048, 9, 2), cmdline=kern),
            "pvh64_lazy": boot_input(elf(True, 0xFFFFFFFF81000010, LINUX_LOADS,
                                         pvh_notes(0x1000040, 4)), 32,
                                     initrd=pattern(3000, 5, 1), cmdline=kern, lazy=True),
            "pvh32": boot_input(elf(False, 0x1000010, [(0x1000, 0x1000000, 0x1000000, 0x1000,
                                                       0x1000)], pvh_notes(0x1000020, 8)), 20),
        },
        "multiboot": {
            "aout": boot_input(mb_aout(), 32, initrd=pattern(5000, 1, 0x61),
                               cmdline=b"kernel arg=1", name=b"module.bin"),
            "aout_whole": boot_input(mb_aout(0, 0, 0x102FF0), 4),
            "elf32": boot_input(mb_elf(), 16, initrd=pattern(100, 3, 3), cmdline=b"", fd=True),
            "elf32_lazy": boot_input(mb_elf(), 16, initrd=pattern(100, 3, 3), cmdline=b"",
                                     lazy=True),
        },
        "uart": uart_seeds(),
        "i8042": i8042_seeds(),
        "cmos_rtc": cmos_seeds(),
        "options": options_seeds(),
    }
    for target, files in seeds.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
