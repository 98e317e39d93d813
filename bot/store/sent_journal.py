"""The outbox's journal of what the SMTP server accepted, written the moment it answers.

The `sent` record must outlive the process before anything else can happen to it, and it
must not wait: the database's write lock is the poll's while it records a message (SQLite
has one writer at a time), and a mail accepted but not yet recorded would go again if the
process died then. So the outcome is first appended to `<data_dir>/outbox-sent.journal`
(one JSON line, under a flock that only senders take), then folded into the
outbox rows by the next claim of any process (bot.mail.outbox) and the line forgotten. A
mail in the journal is never claimed again: the fold comes first.

A torn last line (the process killed in the middle of write()) is ignored: that mail was
accepted in the instant the process died, and goes a second time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from bot.store.private import FILE_MODE, private_dir

JOURNAL_FILE = "outbox-sent.journal"


class SentJournal:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / JOURNAL_FILE
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            private_dir(self.path.parent)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        return self._fd

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def record(self, entry: dict) -> None:
        """Append one outcome (OSError when the disk refuses: the caller keeps it). Not fsynced:
        written, it outlives the process at once; against a power cut it is made durable by the
        fold's commit, synced by itself or by the poll's next commit (bot.store.db.unsynced):
        this spares every mail an fsync queued behind the poll's own."""
        # Begun by a newline too: a line torn by a kill never swallows the next one.
        line = ("\n" + json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._locked() as fd:
            os.write(fd, line)

    def fold(self, apply: Callable[[list[dict]], None]) -> int:
        """Hand every recorded outcome to `apply` (which commits them to the database), then
        forget them; the number folded. Nothing is forgotten if `apply` raises."""
        try:
            if self.path.stat().st_size == 0:
                return 0
        except FileNotFoundError:
            return 0
        with self._locked() as fd:
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0) if size else b""
            entries = []
            for line in data.split(b"\n"):
                with contextlib.suppress(ValueError):
                    if line.strip():
                        entries.append(json.loads(line))
            if entries:
                apply(entries)
            os.ftruncate(fd, 0)
            os.fsync(fd)
        return len(entries)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
