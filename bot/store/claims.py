"""Who claims an outbox row: this process, named so that another can tell it is gone.

A claim is "host pid start", start being the process's start time as the kernel counts it
(/proc/PID/stat, in clock ticks since boot, with the boot's id): a pid reused after the
claimer died, or after a reboot, has another start and is not mistaken for it. A claim
made on another host is never judged from here: it expires (bot.mail.outbox.CLAIM).
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path


def _start(pid: int) -> str | None:
    """The process's start time (boot id + ticks since boot); None when it does not exist.
    Where /proc is missing, "?" : the pid alone then tells whether it lives."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else _alive_without_proc(pid)
    except OSError:
        return "?"
    fields = stat[stat.rindex(")") + 2:].split()  # the name, in parentheses, may hold spaces
    return f"{_boot_id()}-{fields[19]}"  # field 22 of stat(5); fields[0] is field 3


def _alive_without_proc(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "?"


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "0"


@functools.cache
def _host() -> str:
    return socket.gethostname()[:120] or "localhost"


def me() -> str:
    """This process's name on its claims (the pid is read each time: a fork is another process)."""
    pid = os.getpid()
    return f"{_host()} {pid} {_start(pid) or '?'}"


def gone(claimed_by: str) -> bool:
    """True when the claimer is known to be gone: same host, and no process with that pid and
    start any more. False when it lives, is on another host, or cannot be told."""
    try:
        host, pid, start = claimed_by.split(" ")
        pid_number = int(pid)
    except ValueError:
        return False
    if host != _host():
        return False
    now = _start(pid_number)
    if now is None:
        return True
    return start != "?" and now != "?" and now != start
