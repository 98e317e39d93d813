"""Reading ahead: while the poller records a message, the next ones of a backlog are
parsed and their Word files read in another process.

Parsing a message and reading its fiche are pure (bot.dossier.reading) and take about
half of a message's time; recording it holds the database and the mailbox. The poller
holds the next messages in hand, at most DEPTH of them and WINDOW_BYTES. On a machine
of two cores or more, a poll that finds a backlog (more than it may hold: DEPTH
messages, or WINDOW_BYTES in two messages or more) starts one reading process and hands
it the messages in hand. Each message is still classified, handled, committed and
marked in turn, in the mailbox's order, by the poller alone: only the pure reading
moves. A message the process has not started yet when its turn comes is read here
instead (so the poller never waits for a process that is behind), and so is a message
over MAX_MESSAGE_BYTES (it would be held twice on its way there and back).

A poll of a few messages, the daemon's usual round, reads them here: starting the
process (~0.3 s) would cost more than it saves. If the process dies (killed, out of
memory), what it held is read here: nothing is lost and nothing is read twice into
the database. The process ignores SIGINT and SIGTERM (the poller decides when to stop)
and ends when the poll is over, or by itself if the poller is gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from bot.mail.sources import Fetched

log = logging.getLogger(__name__)

DEPTH = 8  # messages in hand, at most
WINDOW_BYTES = 8 * 1024 * 1024  # raw mail ahead, at most (one message at least)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # larger messages are read here
ORPHAN_CHECK_SECONDS = 1.0


def reading_processes() -> int:
    """One process beside the poller when this machine has a core to spare. One is enough:
    it reads a message faster than the poller records one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1 if cores >= 2 else 0


@dataclass
class _Ahead:
    fetched: Fetched
    future: Future | None = None


class ReadAhead:
    """`messages(fetched)` gives each message with the callable that returns what it holds,
    read (`read(raw, *args)`, a module-level function: the process imports it)."""

    def __init__(self, read: Callable[..., Any], *args: Any, processes: int | None = None) -> None:
        self._read, self._args = read, args
        self._processes = reading_processes() if processes is None else processes
        self._pool: ProcessPoolExecutor | None = None
        self._broken = False
        self.read_there = self.read_here = 0  # for the tests and the log

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            log.debug("read ahead: %d message(s) read by the reading process, %d here",
                      self.read_there, self.read_here)

    def messages(self, messages: Iterable[Fetched]) -> Iterator[tuple[Fetched, Callable[[], Any]]]:
        """Each message, in order, with its reader; a message not downloaded (too large) has
        a reader too, never called by the poller (its header is all there is). When the
        mailbox fails (a FETCH refused, the connection lost), the messages fetched before are
        handed out first, then the failure is raised, as without reading ahead."""
        source, window, exhausted = iter(messages), deque[_Ahead](), False
        failure: Exception | None = None
        while True:
            while not exhausted and len(window) < DEPTH and _raw_bytes(window) < WINDOW_BYTES:
                try:
                    fetched = next(source, None)
                except Exception as exc:  # the mailbox failed: what was fetched before is handled first
                    failure, fetched = exc, None
                if fetched is None:
                    exhausted = True
                else:
                    window.append(self._submit(_Ahead(fetched)))
            if self._pool is None and self._processes and not self._broken and _backlog(window):
                self._start()
                for entry in window:
                    self._submit(entry)
            if not window:
                if failure is not None:
                    raise failure
                return
            entry = window.popleft()
            yield entry.fetched, self._reader(entry)
            del entry  # not held here while the window fills again

    # -- the reading process ----------------------------------------------------

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # nothing of this process (locks, sockets) goes there
        try:
            self._pool = ProcessPoolExecutor(self._processes, mp_context=context, initializer=_begin,
                                             initargs=(self._read, self._args, os.getpid()))
        except (OSError, ImportError) as exc:  # no working sem_open (/dev/shm) in some sandboxes
            self._broken = True
            log.warning("read ahead: no reading process (%s); messages are read here", type(exc).__name__)

    def _submit(self, entry: _Ahead) -> _Ahead:
        raw = entry.fetched.raw
        if self._pool is not None and not self._broken and raw is not None and len(raw) <= MAX_MESSAGE_BYTES:
            try:
                entry.future = self._pool.submit(_run, raw)  # the first one starts the process
            except (BrokenProcessPool, OSError):  # it could not start (EAGAIN: too many processes…)
                self._lost("could not be started")
        return entry

    def _reader(self, entry: _Ahead) -> Callable[[], Any]:
        def read() -> Any:
            future, entry.future = entry.future, None
            if future is not None and not future.cancel():  # started there: its result, soon
                try:
                    result = future.result()
                except BrokenProcessPool:
                    self._lost("ended unexpectedly")
                else:
                    self.read_there += 1
                    return result
            self.read_here += 1
            return self._read(entry.fetched.raw, *self._args)

        return read

    def _lost(self, why: str) -> None:
        if not self._broken:
            self._broken = True
            log.warning("read ahead: the reading process %s; messages are read here", why)


def _backlog(window: deque[_Ahead]) -> bool:
    """More than the poller may hold: worth a process (a few messages are not)."""
    return len(window) >= DEPTH or (len(window) >= 2 and _raw_bytes(window) >= WINDOW_BYTES)


def _raw_bytes(window: deque[_Ahead]) -> int:
    return sum(len(entry.fetched.raw or b"") for entry in window)


# -- in the reading process ------------------------------------------------------

_TASK: tuple[Callable[..., Any], tuple] | None = None


def _begin(read: Callable[..., Any], args: tuple, parent: int) -> None:
    global _TASK
    _TASK = (read, args)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C or SIGTERM is the poller's to act on
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_end_with, args=(parent,), name="orphan-check", daemon=True).start()


def _end_with(parent: int) -> None:
    """A poller killed outright (SIGKILL) cannot shut its pool down: the process notices it
    has a new parent and ends."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _run(raw: bytes) -> Any:
    read, args = _TASK
    return read(raw, *args)
