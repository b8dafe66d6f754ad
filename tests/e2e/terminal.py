#!/usr/bin/python3
"""Interactive console on a real terminal (a pty): raw mode while the guest
runs, keys reach the guest shell, Ctrl-A x quits, and the terminal settings
come back after Ctrl-A x and after SIGTERM. Usage: tty.py KVMINI"""
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time

KVMINI = sys.argv[1]
TIMEOUT = float(os.environ.get("KVMINI_E2E_TIMEOUT", "600"))


def start():
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)

    def child_setup():
        os.setsid()
        import fcntl
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([KVMINI, "run"], stdin=slave, stdout=slave, stderr=slave,
                         preexec_fn=child_setup, close_fds=True)
    return p, master, slave, before


def read_until(master, p, needle, timeout=TIMEOUT):
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 1)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            buf += chunk
            if needle in buf:
                return buf
        elif p.poll() is not None:
            break
    raise AssertionError(f"did not see {needle!r}; got ...{buf[-300:]!r}")


def wait_exit(p, master):
    end = time.monotonic() + 60
    while p.poll() is None and time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                os.read(master, 65536)
            except OSError:
                pass
    if p.poll() is None:
        p.kill()
        raise AssertionError("kvmini did not exit")
    return p.returncode


failures = 0


def check(name, cond, detail=""):
    global failures
    if cond:
        print(f"ok - tty: {name}")
    else:
        failures += 1
        print(f"not ok - tty: {name}: {detail}")


# Ctrl-A x
p, master, slave, before = start()
try:
    read_until(master, p, b"/ # ")
    during = termios.tcgetattr(slave)
    check("terminal is raw while the guest runs", not (during[3] & termios.ICANON) and
          not (during[3] & termios.ECHO), f"lflag {during[3]:#x}")
    os.write(master, b"echo tty-$((20+22))\r")
    read_until(master, p, b"tty-42", 120)
    check("keys typed on the terminal reach the guest shell", True)
    os.write(master, b"\x01x")
    status = wait_exit(p, master)
    check("Ctrl-A x quits with status 0", status == 0, f"status {status}")
    check("terminal restored after Ctrl-A x", termios.tcgetattr(slave) == before)
except AssertionError as e:
    check("Ctrl-A x session", False, str(e))
    p.kill()

# SIGTERM
p, master, slave, before = start()
try:
    read_until(master, p, b"/ # ")
    p.send_signal(signal.SIGTERM)
    status = wait_exit(p, master)
    check("SIGTERM stops kvmini with 143", status == 143, f"status {status}")
    check("terminal restored after SIGTERM", termios.tcgetattr(slave) == before)
except AssertionError as e:
    check("SIGTERM session", False, str(e))
    p.kill()

sys.exit(1 if failures else 0)
