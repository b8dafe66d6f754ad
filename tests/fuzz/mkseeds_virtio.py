#!/usr/bin/env python3
# Write the seed corpora of the virtio and PCI targets (tests/fuzz/corpus/
# virtqueue, virtio_blk, virtio_net, pci): small programs in each target's
# input format (see the comment at the top of tests/fuzz/fuzz_NAME.c) that
# bring the device up and reach deep: valid chains, indirect tables, every
# request type, MSI-X set up. Run it again after changing a format.
# Usage: tests/fuzz/mkseeds_virtio.py [TARGET...]
import os
import struct
import sys

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def gpa(v):
    """fz_gpa(): an offset into RAM."""
    return u8(0) + u32(v)


def gpa_raw(v):
    return u8(0x80) + u64(v)


def qsize(n):
    """fz_qsize() selector for a power of two n <= 256."""
    return u8(n.bit_length() - 1)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


F_INDIRECT = 1 << 28
F_EVENT_IDX = 1 << 29
VERSION_1_HI = 1  # bit 32

# ---- virtqueue -------------------------------------------------------------

VQ_DESC, VQ_CHAIN, VQ_PUBLISH, VQ_AVAIL_IDX, VQ_POP, VQ_PUSH, VQ_NOTIFY, \
    VQ_EVENT, VQ_RAW, VQ_PENDING, VQ_INIT = range(11)


def vq_cfg(log2size, event_idx=False, indirect=False, addrs=None):
    c = (log2size << 2) | (1 if event_idx else 0) | (2 if indirect else 0)
    if addrs is None:
        return u8(c)
    return u8(c | 0x40) + b"".join(gpa(a) for a in addrs)


def vq_chain(lens, writable, indirect=False, table=0):
    shape = (len(lens) - 1) | (8 if indirect else 0) | (table << 4)
    mask = 0
    for i, w in enumerate(writable):
        mask |= (1 if w else 0) << i
    return u8(VQ_CHAIN) + u8(shape) + u8(mask) + b"".join(u16(n) for n in lens)


def vq_pop(max_iov=63):
    return u8(VQ_POP) + u8(max_iov)


def vq_push(which=0, length=0):
    return u8(VQ_PUSH) + u8(which) + u32(length)


def vq_desc(table, i, flags, nxt, addr, length):
    return u8(VQ_DESC) + u8(table) + u16(i) + u8(flags) + u16(nxt) + gpa(addr) + u16(length)


def seeds_virtqueue():
    t = "virtqueue"
    write(t, "direct-chains",
          vq_cfg(4) + vq_chain([16, 512, 1], [0, 1, 1]) + vq_pop() + vq_push(0, 513) +
          vq_chain([64], [0]) + vq_chain([100, 200], [1, 1]) + vq_pop() + vq_pop() +
          vq_push(1, 300) + vq_push(0, 0) + u8(VQ_NOTIFY) + u8(1) + u8(VQ_NOTIFY) + u8(0) +
          u8(VQ_PENDING))
    write(t, "indirect-event-idx",
          vq_cfg(3, True, True) + u8(VQ_EVENT) + u8(1) + u16(0) +
          vq_chain([16, 4096, 1], [0, 1, 1], True, 0) + vq_chain([8, 8], [0, 0]) +
          vq_chain([32, 32, 32, 32], [0, 0, 1, 1], True, 1) + vq_pop() + vq_push(0, 4097) +
          vq_pop() + vq_pop() + vq_push(1, 0) + vq_push(0, 64) + u8(VQ_NOTIFY) + u8(0) +
          u8(VQ_EVENT) + u8(1) + u16(5) + vq_chain([1], [1]) + vq_pop() + vq_push(0, 1))
    # A direct chain ending in an indirect descriptor, built by hand.
    write(t, "direct-then-indirect",
          vq_cfg(2, False, True) +
          vq_desc(0, 0, 1, 1, 0x8000, 16) + vq_desc(0, 1, 4, 0, 0x3000, 32) +
          vq_desc(1, 0, 1, 1, 0x8100, 100) + vq_desc(1, 1, 2, 0, 0x8200, 200) +
          u8(VQ_PUBLISH) + u16(0) + vq_pop() + vq_push(0, 200))
    write(t, "wrap-and-reinit",
          vq_cfg(1, True) + (vq_chain([4], [1]) + vq_pop() + vq_push(0, 4)) * 5 +
          u8(VQ_AVAIL_IDX) + u16(0xFFFF) + u8(VQ_INIT) + vq_cfg(0, True) +
          vq_chain([2], [0]) + vq_pop() + vq_push(0, 0))
    write(t, "ring-addresses",
          vq_cfg(2, False, False, [0x4000, 0x5002, 0x6004]) + vq_chain([10], [1]) + vq_pop() +
          vq_push(0, 10) + u8(VQ_INIT) + vq_cfg(2, False, False, [0x4008, 0x5000, 0xFFF0]))


# ---- virtio_blk ------------------------------------------------------------

BLK_BRINGUP, BLK_STATUS, BLK_DESC, BLK_PUBLISH, BLK_REQ, BLK_KICK, BLK_RAW, BLK_CONFIG, \
    BLK_AVAIL = range(9)
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = range(6)
R_INDIRECT, R_SPLIT_HEADER, R_STATUS_IN_DATA, R_NO_STATUS, R_NO_KICK, R_ODD_LEN, \
    R_FLIP, R_RAW_SECTOR = (1 << i for i in range(8))

BLK_FEATURES = (1 << 2) | (1 << 6) | (1 << 9) | (1 << 12) | (1 << 13) | (1 << 14) | \
    F_INDIRECT | F_EVENT_IDX


def blk_cfg(ro=False, two=False, img=0, serial=None, direct=False):
    c = (1 if ro else 0) | (2 if two else 0) | (img << 2) | (0x10 if serial is not None else 0) | \
        (0xE0 if direct else 0)
    out = u8(c)
    if serial is not None:
        out += u8(len(serial)) + serial
    return out


def blk_bringup(features, sizes):
    return u8(BLK_BRINGUP) + u32(features) + u32(VERSION_1_HI) + b"".join(qsize(s) for s in sizes)


def blk_rw(q, t, sector, nsec, nbufs=1, flags=0):
    sec = u64(sector) if flags & R_RAW_SECTOR else u16(sector)
    return u8(BLK_REQ) + u8(q) + u8(t) + u8(flags) + sec + u8(nsec) + u8(nbufs - 1)


def blk_segs(q, t, segs, flags=0):
    out = u8(BLK_REQ) + u8(q) + u8(t) + u8(flags) + u16(0) + u8(len(segs))
    for sector, num, fl in segs:
        out += u16(sector) + u16(num) + u8(fl)
    return out


def seeds_virtio_blk():
    t = "virtio_blk"
    up = blk_bringup(BLK_FEATURES, [16])
    write(t, "write-read-flush",
          blk_cfg() + up + blk_rw(0, T_OUT, 5, 2, 2) + blk_rw(0, T_IN, 5, 2, 3) +
          blk_rw(0, T_FLUSH, 0, 0) + blk_rw(0, T_IN, 0, 1, 1, R_SPLIT_HEADER | R_STATUS_IN_DATA) +
          u8(BLK_CONFIG) + u8(0) + u8(3))
    write(t, "get-id",
          blk_cfg(serial=b"fuzz-serial-0123") + up + blk_rw(0, T_GET_ID, 0, 20) +
          blk_rw(0, T_GET_ID, 0, 7, 2) + blk_rw(0, T_GET_ID, 0, 40, 1, R_INDIRECT))
    write(t, "discard-write-zeroes",
          blk_cfg() + up + blk_segs(0, T_DISCARD, [(0, 8, 0), (64, 16, 0)]) +
          blk_segs(0, T_WZ, [(10, 4, 1), (20, 1, 0)]) + blk_segs(0, T_WZ, [(100, 100, 2)]))
    write(t, "two-queues-indirect",
          blk_cfg(two=True) + blk_bringup(BLK_FEATURES, [16, 8]) +
          blk_rw(1, T_OUT, 0, 4, 4, R_INDIRECT) + blk_rw(0, T_IN, 0, 4, 2, R_INDIRECT) +
          blk_rw(1, T_IN, 126, 4, 1) + blk_rw(1, T_FLUSH, 0, 0, 1, R_INDIRECT))
    write(t, "read-only",
          blk_cfg(ro=True) + blk_bringup((BLK_FEATURES & ~(3 << 13)) | (1 << 5), [8]) + blk_rw(0, T_OUT, 0, 1) +
          blk_rw(0, T_IN, 0, 1) + blk_segs(0, T_DISCARD, [(0, 1, 0)]))
    write(t, "bad-requests",
          blk_cfg() + up + blk_rw(0, T_IN, 0xFFFFFFFFFFFFFFF0, 1, 1, R_RAW_SECTOR) +
          blk_rw(0, T_OUT, 0, 1, 1, R_ODD_LEN) + blk_rw(0, T_IN, 0, 1, 1, R_NO_STATUS) +
          blk_rw(0, T_IN, 0, 1, 1, R_FLIP) + u8(BLK_REQ) + u8(0) + u8(6) + u32(0x99) + u8(0) +
          u16(0) + u8(0) + u8(0) + blk_rw(0, T_OUT, 0, 1, 1, R_NO_KICK) + u8(BLK_KICK) + u8(0))
    write(t, "cache-none",
          blk_cfg(direct=True) + up + blk_rw(0, T_OUT, 3, 3, 2) + blk_rw(0, T_IN, 3, 3, 3) +
          blk_rw(0, T_IN, 0, 1, 1, R_SPLIT_HEADER | R_STATUS_IN_DATA) + blk_rw(0, T_FLUSH, 0, 0) +
          blk_segs(0, T_WZ, [(1, 2, 0)]))
    write(t, "reset-and-again",
          blk_cfg(img=2) + up + blk_rw(0, T_OUT, 7, 1) + u8(BLK_STATUS) + u8(0) +
          blk_bringup(BLK_FEATURES & ~F_EVENT_IDX, [4]) + blk_rw(0, T_IN, 7, 1) +
          blk_rw(0, T_IN, 8, 1))


# ---- virtio_net ------------------------------------------------------------

NET_BRINGUP, NET_STATUS, NET_DESC, NET_PUBLISH, NET_TX, NET_RXBUF, NET_FRAME, NET_CTRL, \
    NET_KICK, NET_RUN, NET_RAW, NET_CONFIG, NET_AVAIL = range(13)
CH_INDIRECT, CH_NO_KICK, CH_FLIP, CH_LARGE, CH_MANY = 1, 2, 4, 8, 16
NET_FEATURES = sum(1 << b for b in (0, 1, 2, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 18, 23)) | \
    F_INDIRECT | F_EVENT_IDX
MRG_RXBUF = 1 << 15
OWN_MAC = bytes([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
PEER_MAC = bytes([0x02, 0x00, 0x00, 0x00, 0x00, 0x99])
OTHER_MAC = bytes([0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF])
MCAST_MAC = bytes([0x01, 0x00, 0x5E, 0x00, 0x00, 0x01])
BCAST_MAC = b"\xff" * 6


def net_bringup(features, sizes=(16, 16, 8)):
    return u8(NET_BRINGUP) + u32(features) + u32(VERSION_1_HI) + b"".join(qsize(s) for s in sizes)


def eth(dst, length):
    """The first bytes of a frame: zeroed virtio-net header, Ethernet header."""
    return (bytes(12) + dst + PEER_MAC + b"\x08\x00" + bytes(range(64)))[:min(length, 64)]


def net_frame(dst, length, flags=0, copies=1):
    many = u8(copies - 1) if flags & CH_MANY else b""
    if flags & CH_LARGE:
        return u8(NET_FRAME) + u8(flags) + many + u16(length) + eth(dst, 64)
    return u8(NET_FRAME) + u8(flags) + many + u16(length) + eth(dst, length)


def net_tx(length, nbufs=1, flags=0, dst=PEER_MAC, copies=1):
    head = eth(dst, 64 if flags & CH_LARGE else length)
    many = u8(copies - 1) if flags & CH_MANY else b""
    return u8(NET_TX) + u8(flags) + many + u8(nbufs - 1) + u16(length) + head


def net_rxbuf(chains, flags=0):
    """@chains: a list of lists of buffer lengths (with CH_MANY, all alike)."""
    if flags & CH_MANY:
        c = chains[0]
        return u8(NET_RXBUF) + u8(flags) + u8(len(chains) - 1) + u8(len(c) - 1) + \
            b"".join(u16(n) for n in c)
    out = u8(NET_RXBUF) + u8(flags) + u8(len(chains) - 1)
    for c in chains:
        out += u8(len(c) - 1) + b"".join(u16(n) for n in c)
    return out


def net_ctrl(cls, cmd, data, flags=0):
    return u8(NET_CTRL) + u8(flags) + u8(cls) + u8(cmd) + u16(len(data)) + data


def seeds_virtio_net():
    t = "virtio_net"
    up = net_bringup(NET_FEATURES)
    write(t, "rx-tx-filter",
          u8(0) + up + net_rxbuf([[1526]] * 4) + net_frame(OWN_MAC, 74) +
          net_frame(BCAST_MAC, 60) + net_tx(74, 2) + net_ctrl(0, 0, b"\x00") +
          net_frame(OTHER_MAC, 60) + net_frame(MCAST_MAC, 60) + net_ctrl(0, 1, b"\x01") +
          net_frame(MCAST_MAC, 60) + u8(NET_CONFIG) + u8(0) + u8(2))
    write(t, "ctrl-commands",
          u8(0) + up + net_rxbuf([[1526]] * 2) + net_ctrl(0, 0, b"\x00") +
          net_ctrl(1, 0, u32(1) + OTHER_MAC + u32(2) + MCAST_MAC + BCAST_MAC) +
          net_frame(OTHER_MAC, 60) + net_ctrl(1, 1, PEER_MAC) + net_frame(PEER_MAC, 60) +
          net_ctrl(5, 0, u64(0x182)) + net_ctrl(5, 0, u64(1 << 10)) +
          net_ctrl(1, 0, u32(100) + bytes(600) + u32(0), CH_LARGE) + net_ctrl(9, 9, b"") +
          net_ctrl(0, 1, b"\x01", CH_INDIRECT))
    big = net_bringup(NET_FEATURES, (256, 256, 8))
    write(t, "mergeable-large",
          u8(0) + big + net_rxbuf([[4095, 4095, 4095]] * 8) +
          net_frame(OWN_MAC, 0x800, CH_LARGE) + net_tx(0x400, 8, CH_LARGE))
    write(t, "mergeable-spill",
          u8(0) + big + net_rxbuf([[2048]] * 2) + net_frame(OWN_MAC, 0x700, CH_LARGE) +
          net_rxbuf([[4095, 4095, 4095]] * 8, CH_NO_KICK) + u8(NET_KICK) + u8(0) +
          net_rxbuf([[4095, 4095, 4095]] * 8) + u8(NET_RUN))
    write(t, "no-mergeable",
          u8(0) + net_bringup(NET_FEATURES & ~MRG_RXBUF & ~F_EVENT_IDX) +
          net_rxbuf([[100], [1526], [12, 1514]]) + net_frame(OWN_MAC, 200) +
          net_frame(OWN_MAC, 60) + net_frame(OWN_MAC, 1000))
    write(t, "indirect-no-kick",
          u8(2) + up + net_rxbuf([[1000, 526], [1526]], CH_INDIRECT | CH_NO_KICK) +
          net_tx(60, 3, CH_INDIRECT | CH_NO_KICK) + u8(NET_KICK) + u8(1) + u8(NET_KICK) + u8(0) +
          net_frame(OWN_MAC, 60, CH_NO_KICK) + u8(NET_RUN) + net_tx(10) + net_tx(60, 1, CH_FLIP))
    write(t, "small-buffers-drop",
          u8(0) + big + net_rxbuf([[64]] * 200, CH_MANY) + net_frame(OWN_MAC, 0x700, CH_LARGE) +
          net_frame(OWN_MAC, 60))
    write(t, "floods",
          u8(0) + big + net_rxbuf([[1526]] * 150, CH_MANY) +
          net_frame(OWN_MAC, 60, CH_MANY, 200) + net_tx(60, 1, CH_MANY, PEER_MAC, 256) +
          u8(NET_RUN))
    write(t, "reset-and-again",
          u8(0) + up + net_rxbuf([[1526]] * 2) + net_frame(OWN_MAC, 60) + u8(NET_STATUS) +
          u8(0) + net_bringup(NET_FEATURES & ~F_INDIRECT, (8, 8, 4)) +
          net_rxbuf([[1526]] * 2) + net_frame(OWN_MAC, 60) + net_tx(60))


# ---- pci -------------------------------------------------------------------

P_PORT, P_CFG, P_MMIO, P_COMMON, P_BAR, P_BRINGUP, P_RNGBUF, P_RUN, P_IRQ, P_DESC, \
    P_RAW = range(11)
RNG_FEATURES = F_INDIRECT | F_EVENT_IDX
W1, W2, W4, W8 = range(4)
WRITE = 4
VPCI_SLOT, DUMMY_SLOT = 1, 2
MSIX_TABLE = 0x4000
MSIX_PBA = 0x5000


def p_cfg(slot, reg, width, value=0, write=False):
    return u8(P_CFG) + u8(slot) + u8(reg) + u8(width | (WRITE if write else 0)) + u32(value)


def p_port(off, width, value=0, write=False):
    return u8(P_PORT) + u8(off | (width << 3) | (0x40 if write else 0)) + u32(value)


def p_bar(off, width, value=0, write=False):
    return u8(P_BAR) + u16(off) + u8(width | (WRITE if write else 0)) + u64(value)


def p_common(reg, width, value=0, write=False):
    return u8(P_COMMON) + u8(reg) + u8(width | (WRITE if write else 0)) + u64(value)


def p_mmio_bar(dummy, bar, off, width, value=0, write=False, high=False):
    sel = (1 if high else 0) | (width << 1) | (8 if write else 0) | 0x10
    return u8(P_MMIO) + u8(sel) + u8(1 if dummy else 0) + u8(bar) + u32(off) + u64(value)


def p_bringup(flags, size=16, lo=RNG_FEATURES, hi=VERSION_1_HI):
    return u8(P_BRINGUP) + u8(flags) + u32(lo) + u32(hi) + qsize(size)


def p_rngbuf(chains):
    out = u8(P_RNGBUF) + u8(len(chains) - 1)
    for c in chains:
        out += u8(len(c) - 1) + b"".join(u16(n) for n in c)
    return out


def p_irq(sel, arg=0):
    return u8(P_IRQ) + u8(sel) + u16(arg)


def seeds_pci():
    t = "pci"
    write(t, "msix-bringup",
          u8(0) + p_bringup(3) + p_rngbuf([[64], [16, 16]]) + p_irq(0) + p_irq(1) +
          p_bar(MSIX_TABLE + 12, W4, 1, True) + p_irq(0) + p_bar(MSIX_PBA, W8) +
          p_bar(MSIX_TABLE + 12, W4, 0, True) + p_bar(MSIX_TABLE + 16, W8) +
          p_common(0x14, W1) + p_common(0x18, W2) + p_common(0x20, W8) + p_common(0x24, W4) +
          p_bar(0x1000, W1) + p_bar(0x3000, W2, 0, True) + u8(P_RUN))
    write(t, "intx-bringup",
          u8(2) + p_bringup(1) + p_rngbuf([[100]]) + p_bar(0x1000, W1) + p_irq(1) +
          p_cfg(VPCI_SLOT, 0x04, W2, 0x406, True) + p_irq(0) + p_cfg(VPCI_SLOT, 0x06, W2) +
          p_cfg(VPCI_SLOT, 0x04, W2, 0x006, True) + p_bar(0x1000, W1) +
          p_common(0x14, W1, 0, True))
    write(t, "bar-sizing",
          u8(0) + p_cfg(VPCI_SLOT, 0x10, W4, 0xFFFFFFFF, True) + p_cfg(VPCI_SLOT, 0x10, W4) +
          p_cfg(VPCI_SLOT, 0x14, W4, 0xFFFFFFFF, True) + p_cfg(VPCI_SLOT, 0x14, W4) +
          p_cfg(VPCI_SLOT, 0x10, W4, 0xC1000000, True) + p_cfg(VPCI_SLOT, 0x14, W4, 0, True) +
          p_cfg(VPCI_SLOT, 0x04, W2, 2, True) + p_mmio_bar(False, 0, 0x14, W1) +
          p_mmio_bar(False, 0, 0x14, W1, 1, True) + p_mmio_bar(False, 0, 0x3000, W2, 0, True) +
          p_cfg(VPCI_SLOT, 0x10, W4, 0xD0000000, True) + p_mmio_bar(False, 0, 0, W4) +
          p_cfg(VPCI_SLOT, 0x14, W4, 0x80, True) + p_mmio_bar(False, 0, 0, W4, 0, False, True) +
          p_cfg(DUMMY_SLOT, 0x20, W4, 0xFFFFFFFF, True) + p_cfg(DUMMY_SLOT, 0x24, W4) +
          p_cfg(DUMMY_SLOT, 0x24, W4, 0xFFFFFFFF, True) + p_cfg(DUMMY_SLOT, 0x20, W4) +
          p_cfg(DUMMY_SLOT, 0x04, W2, 2, True) + p_mmio_bar(True, 4, 0x10, W8, 0, False, True) +
          p_mmio_bar(True, 2, 0, W4))
    write(t, "dummy-msix",
          u8(0) + p_cfg(DUMMY_SLOT, 0x04, W2, 6, True) + p_cfg(DUMMY_SLOT, 0x42, W2, 0xC000, True) +
          p_mmio_bar(True, 0, 0, W8, 0xFEE00000, True) + p_mmio_bar(True, 0, 8, W4, 0x41, True) +
          p_mmio_bar(True, 0, 12, W4, 0, True) + p_irq(2, 0) + p_mmio_bar(True, 0, 0x800, W8) +
          p_cfg(DUMMY_SLOT, 0x42, W2, 0x8000, True) + p_irq(2, 0) + p_irq(2, 4) + p_irq(2, 9) +
          p_mmio_bar(True, 0, 0x4C, W4, 0, True) + p_irq(3, 1) + p_irq(3, 0) +
          p_cfg(DUMMY_SLOT, 0x42, W2, 0, True) + p_irq(2, 1) + p_irq(3, 1))
    write(t, "config-ports",
          u8(0) + p_port(3, W1, 1, True) + p_port(0, W4, 0x80000000, True) + p_port(0, W4) +
          p_port(0, W4, 0x80000800, True) + p_port(4, W4) + p_port(6, W2) + p_port(7, W1) +
          p_port(5, W4) + p_port(0, W4, 0x80010800, True) + p_port(4, W4) +
          p_port(0, W4, 0x80000900, True) + p_port(4, W4) + p_port(0, W2, 0, True) +
          p_port(0, W4, 0x8000003C, True) + p_port(4, W1, 0xFF, True) +
          p_cfg(0, 0, W4) + p_cfg(0, 0x3C, W1, 5, True) + p_cfg(3, 0, W4) +
          p_cfg(VPCI_SLOT, 0x34, W1) + p_cfg(VPCI_SLOT, 0x40, W4, 0xFFFFFFFF, True) +
          p_cfg(VPCI_SLOT, 0x06, W2, 0xFFFF, True))


TARGETS = {
    "virtqueue": seeds_virtqueue,
    "virtio_blk": seeds_virtio_blk,
    "virtio_net": seeds_virtio_net,
    "pci": seeds_pci,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or TARGETS:
        TARGETS[name]()
