"""IMAP IDLE: a connection per mailbox that waits for new mail (mailboxes.md, "Latency").

An `IdleWatcher` thread keeps its own connection to one mailbox (the folder selected
read-only: it never changes a flag), in IDLE when the server offers it, and calls `wake`
with the mailbox's name when the server announces new mail (EXISTS). It only wakes: the
poll's UID search is what finds the mail. IDLE is re-issued every `renew_seconds` (RFC
2177: servers may drop a client idle for 30 minutes; less than 9 minutes keeps NATs and
proxies from forgetting the connection).

A connection can die without a word (facts.md: imapclient's `idle_check` returns `[]`
on EOF): after an empty check, a socket readable with nothing to read is EOF (through TLS,
three checks in a row); BYE is an end; a connection half-open (the peer gone, nothing received) is caught by TCP
keepalive and by the renewal of IDLE, whose DONE must be answered within the mailbox's
timeout. Then the watcher reconnects with backoff (1 s, doubling to 5 minutes) and wakes
the poll once, for whatever arrived meanwhile. Each mailbox has its own thread: one
mailbox's trouble never holds another's. A server without IDLE: the watcher says so once
and ends; the periodic poll goes on alone.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

from bot.config import MailboxConfig
from bot.mail.redact import without_addresses
from bot.mail.sources import MailboxUnavailable, connect

log = logging.getLogger(__name__)

RENEW_SECONDS = 300  # IDLE re-issued this often (at most 9 minutes: mailboxes.md)
CHECK_SECONDS = 1.0  # how often the watcher looks at the stop flag and the socket
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
_EMPTY_READS_FOR_EOF = 3  # readable with nothing to read, this many checks in a row
# TCP keepalive: a peer that vanished is noticed within about 2 minutes, IDLE or not.
_KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}


class ConnectionDead(Exception):
    """The IDLE connection ended (EOF, BYE, a timeout, an error): reopen it."""


class IdleWatcher(threading.Thread):
    def __init__(self, cfg: MailboxConfig, wake: Callable[[str], None], stopping: threading.Event, *,
                 renew_seconds: float = RENEW_SECONDS, check_seconds: float = CHECK_SECONDS,
                 open_connection: Callable[[MailboxConfig], object] = connect):
        super().__init__(name=f"idle-{cfg.name}", daemon=True)
        self.cfg, self.wake, self.stopping = cfg, wake, stopping
        self.renew_seconds, self.check_seconds = renew_seconds, check_seconds
        self.open_connection = open_connection
        self.offered: bool | None = None  # None until the server said whether it offers IDLE
        self.connections = 0  # opened so far (tests: a reconnection happened)

    def run(self) -> None:
        delay = FIRST_BACKOFF
        while not self.stopping.is_set():
            try:
                client = self._open()
            except MailboxUnavailable as exc:
                log.warning("mailbox %s: IDLE connection failed (%s); retry in %.0f s", self.cfg.name,
                            without_addresses(exc.advice or exc), delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            try:
                if not client.has_capability("IDLE"):
                    self.offered = False
                    log.info("mailbox %s: the server does not offer IDLE; the periodic poll only", self.cfg.name)
                    return
                self.offered = True
                self.connections += 1
                if self.connections > 1:
                    self.wake(self.cfg.name)  # what arrived while the connection was down
                log.info("mailbox %s: waiting for new mail in IDLE", self.cfg.name)
                self._watch(client)
                delay = FIRST_BACKOFF
            except Exception as exc:  # ConnectionDead, or the capability asked of a dying connection
                log.warning("mailbox %s: IDLE connection lost (%s); reopening in %.0f s", self.cfg.name,
                            without_addresses(exc), delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            finally:
                _close(client)

    def _open(self):
        client = self.open_connection(self.cfg)
        try:
            _keepalive(client.socket())
            client.select_folder(self.cfg.folder, readonly=True)
        except Exception as exc:  # OSError, imapclient's errors: the folder, the connection
            _close(client)
            raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
        return client

    def _watch(self, client) -> None:
        """In IDLE until a stop is asked; ConnectionDead when the connection ends."""
        try:
            client.idle()
            since = time.monotonic()
            empty_reads = 0
            while not self.stopping.is_set():
                responses = client.idle_check(timeout=self.check_seconds)
                if any(_is_bye(r) for r in responses):
                    raise ConnectionDead("BYE")
                if any(_is_new_mail(r) for r in responses):
                    self.wake(self.cfg.name)
                eof = not responses and _at_eof(client.socket())
                if eof is True:
                    raise ConnectionDead("EOF")
                empty_reads = empty_reads + 1 if eof else 0
                if empty_reads >= _EMPTY_READS_FOR_EOF:
                    raise ConnectionDead("EOF (TLS)")
                if time.monotonic() - since >= self.renew_seconds:
                    # DONE is answered within the read timeout, or the connection is dead; what the
                    # server said since the last check comes with the answer.
                    _, responses = client.idle_done()
                    if any(_is_new_mail(r) for r in responses):
                        self.wake(self.cfg.name)
                    client.idle()
                    # Mail that came between DONE and IDLE is announced before the server's "+":
                    # imaplib keeps those lines aside.
                    if client._imap.untagged_responses.pop("EXISTS", None):
                        self.wake(self.cfg.name)
                    since = time.monotonic()
            client.idle_done()
        except ConnectionDead:
            raise
        except Exception as exc:  # OSError, socket.timeout, imaplib's abort, imapclient's errors
            raise ConnectionDead(f"{type(exc).__name__}: {exc}") from None


def _at_eof(sock: socket.socket) -> bool | str:
    """After an `idle_check` that read nothing: True when the peer closed the connection, "maybe"
    when a TLS socket is readable with nothing for us (EOF, or a TLS record of no data: counted
    over a few checks), False when there is simply nothing to read."""
    ready, _, _ = select.select([sock], [], [], 0)
    if not ready:
        return False
    if isinstance(sock, ssl.SSLSocket):  # no MSG_PEEK through TLS
        return "maybe"
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _is_new_mail(response) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")


def _is_bye(response) -> bool:
    return isinstance(response, tuple) and response[:1] == (b"BYE",)


def _keepalive(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in _KEEPALIVE.items():
            if hasattr(socket, name):  # Linux; macOS names them differently
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _close(client) -> None:
    try:
        client.logout()
    except Exception:  # a dead connection: nothing left to say to it
        with contextlib.suppress(Exception):
            client.shutdown()


def start_watchers(mailboxes, wake: Callable[[str], None], stopping: threading.Event,
                   **options) -> list[IdleWatcher]:
    """One watcher per IMAP mailbox with `idle` on, started."""
    watchers = [IdleWatcher(m, wake, stopping, **options) for m in mailboxes if m.kind == "imap" and m.idle]
    for watcher in watchers:
        watcher.start()
    return watchers


def stop_watchers(watchers: list[IdleWatcher], timeout: float = 3.0) -> None:
    """Wait for the watchers (the stop flag is set) at most `timeout` seconds in all: a
    watcher stuck in a connect is a daemon thread, ended with the process."""
    deadline = time.monotonic() + timeout
    for watcher in watchers:
        watcher.join(max(0.0, deadline - time.monotonic()))
