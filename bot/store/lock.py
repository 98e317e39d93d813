"""Locks on data_dir: one poller at a time, one migration at a time.

`fcntl.flock` on a file in data_dir, held by an open descriptor: the kernel drops it when
the process ends, however it ends (SIGKILL included); the files are never removed.

- `citebot.lock`: the poller's — `citebot run` for its whole life, `poll --once` and
  `backfill` for their round. Commands that only read or queue (`dossiers`, `decide`,
  `export`…) never take it: they work beside a running daemon.
- `citebot.migrate.lock`: taken, waiting, around the Alembic migrations at every start, so
  that two processes started together on a fresh data_dir never both create the tables.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from bot.store.private import FILE_MODE, private_dir, restrict_fd
from bot.text import spaces

LOCK_FILE = "citebot.lock"
MIGRATION_LOCK_FILE = "citebot.migrate.lock"


class AlreadyRunning(Exception):
    """Another process polls this data_dir; str() is one French line."""

    def __init__(self, data_dir: Path, pid: int | None, command: str = "run"):
        self.data_dir, self.pid, self.command = data_dir, pid, command
        super().__init__(str(self))

    def __str__(self) -> str:
        pid = f"pid {self.pid}" if self.pid else "pid inconnu"
        if self.command == "run":
            return f"Un autre citebot tourne déjà sur {self.data_dir} ({pid}) : arrêtez-le d'abord."
        return spaces(f"Un autre citebot relève déjà les boîtes de {self.data_dir} ({pid}) : ce passage n'a rien "
                      "fait ; le démon (citebot run) ou le passage en cours traitera les messages.")


def acquire_lock(data_dir: Path, command: str = "run") -> int:
    """Lock `<data_dir>/citebot.lock` for the life of the process (or until the descriptor,
    returned, is closed). Raises AlreadyRunning (with the holder's pid, written in the file)
    when another process holds it, OSError when data_dir cannot be created or the file opened."""
    private_dir(data_dir, tighten=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    restrict_fd(fd, path)  # a lock file made by an older version was 0644
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        pid = _read_pid(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise AlreadyRunning(data_dir, pid, command) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def migrating(data_dir: Path) -> Iterator[None]:
    """Hold `<data_dir>/citebot.migrate.lock`, waiting for another process's migrations.

    A data_dir that cannot be written (read-only, another user's) is opened read-only, or
    not locked at all when the file does not exist: nobody can migrate there anyway, and
    the commands that only read still work."""
    path = Path(data_dir) / MIGRATION_LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            yield
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
