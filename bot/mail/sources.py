"""Mailbox sources: IMAP (production) and a local Maildir (demo, local delivery).

A source is opened, tells its UIDVALIDITY, yields the messages after a cursor
without touching their read/unread state, and marks a message once its outcome
is committed. `open_source` is the factory tests replace to inject faults.
"""

from __future__ import annotations

import contextlib
import mailbox as stdlib_mailbox
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Protocol

from bot.clock import PARIS
from bot.config import MailboxConfig

FETCH_BATCH = 25  # messages per FETCH: bounded memory whatever the backlog


@cache
def _tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Loading the system's certificates costs ~15 ms: once per process (and CA file)."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class MailboxUnavailable(Exception):
    """The mailbox could not be reached or read (a system fault: retry later)."""


@dataclass(frozen=True)
class Fetched:
    uid: str
    raw: bytes


class Source(Protocol):
    uidvalidity: int

    def fetch_after(self, last_uid: int, *, since: date | None = None,
                    before: date | None = None) -> Iterator[Fetched]: ...
    def mark(self, uid: str, move: bool = True) -> None: ...
    def close(self) -> None: ...


class ImapSource:
    def __init__(self, cfg: MailboxConfig, attempts: int = 3, first_delay: float = 0.5):
        self.cfg = cfg
        self.client = self._connect_with_backoff(attempts, first_delay)

    def _connect_with_backoff(self, attempts: int, delay: float):
        for attempt in range(1, attempts + 1):
            try:
                return self._connect()
            except MailboxUnavailable:
                if attempt == attempts:
                    raise
                time.sleep(delay)
                delay *= 2

    def _connect(self):
        from imapclient import IMAPClient
        from imapclient.imapclient import SocketTimeout

        cfg = self.cfg
        client = None
        try:
            context = _tls_context(cfg.ca_file) if cfg.security != "none" else None
            client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "tls", ssl_context=context,
                                timeout=SocketTimeout(connect=cfg.timeout, read=cfg.timeout))
            if cfg.security == "starttls":
                client.starttls(context)
            client.login(cfg.username, cfg.password)
            selected = client.select_folder(cfg.folder)
        except Exception as exc:  # OSError, SSL, timeouts, imapclient's IMAP4.error (login refused, no folder)
            if client is not None:
                with contextlib.suppress(Exception):
                    client.shutdown()  # never leave the socket to the garbage collector
            raise MailboxUnavailable(f"{cfg.name}: {type(exc).__name__}: {exc}") from None
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        return client

    def fetch_after(self, last_uid: int, *, since: date | None = None,
                    before: date | None = None) -> Iterator[Fetched]:
        """Unmarked messages above `last_uid`, received (INTERNALDATE) on or after
        `since` and before `before`: the server's search leaves older mail out."""
        try:
            criteria = ["UID", f"{last_uid + 1}:*", "UNKEYWORD", self.cfg.processed_keyword]
            criteria += ["SINCE", since] if since else []
            criteria += ["BEFORE", before] if before else []
            # "n:*" always matches the highest UID, even below n (facts.md): filter.
            uids = sorted(u for u in self.client.search(criteria) if u > last_uid)
            for start in range(0, len(uids), FETCH_BATCH):
                batch = uids[start : start + FETCH_BATCH]
                data = self.client.fetch(batch, ["BODY.PEEK[]"])  # PEEK: \Seen stays as it was
                for uid in batch:
                    raw = data.get(uid, {}).get(b"BODY[]")
                    if raw is not None:
                        yield Fetched(str(uid), raw)
        except (OSError, socket.timeout, ssl.SSLError) as exc:
            raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith(("imaplib", "imapclient")):
                raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
            raise

    def mark(self, uid: str, move: bool = True) -> None:
        """The processed keyword; then, when `move`, the move to `move_to` if configured."""
        try:
            self.client.add_flags([int(uid)], [self.cfg.processed_keyword])
            if move and self.cfg.move_to:
                if self.client.has_capability("MOVE"):
                    self.client.move([int(uid)], self.cfg.move_to)
                else:
                    self.client.copy([int(uid)], self.cfg.move_to)
                    self.client.delete_messages([int(uid)])
                    self.client.expunge([int(uid)])
        except (OSError, socket.timeout, ssl.SSLError) as exc:
            raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith(("imaplib", "imapclient")):  # a protocol error (NO, BAD, BYE)
                raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
            raise

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # closing a dead connection: nothing left to do
            pass


class MaildirSource:
    """A local Maildir. Maildir keys play the part of UIDs; a processed message
    moves from new/ to cur/ without the S (seen) flag, so a mail client still
    shows it unread."""

    uidvalidity = 0

    def __init__(self, cfg: MailboxConfig):
        self.cfg = cfg
        try:
            Path(cfg.path).parent.mkdir(parents=True, exist_ok=True)
            self.box = stdlib_mailbox.Maildir(Path(cfg.path), create=True)
        except OSError as exc:
            raise MailboxUnavailable(f"{cfg.name}: {exc}") from None

    def fetch_after(self, last_uid: int, *, since: date | None = None,
                    before: date | None = None) -> Iterator[Fetched]:
        # Keys are not ordered numbers: every key in the dates is offered and the
        # store skips those already handled. Oldest first, by delivery time (the
        # file's mtime, the Maildir's INTERNALDATE).
        def received(key: str) -> date:
            return datetime.fromtimestamp(self.box.get_message(key).get_date(), PARIS).date()

        keys = sorted(self.box.keys(), key=lambda k: (self.box.get_message(k).get_date(), k))
        keys = [k for k in keys if (since is None or received(k) >= since) and (before is None or received(k) < before)]
        for key in keys:
            with self.box.get_file(key) as f:
                yield Fetched(key, f.read())

    def mark(self, uid: str, move: bool = True) -> None:
        """From new/ to cur/ (a move of the file; when not `move`, nothing: the
        database knows the key, and the file stays exactly as its owner left it)."""
        if not move:
            return
        message = self.box.get_message(uid)
        if message.get_subdir() == "new":
            message.set_subdir("cur")
            self.box[uid] = message

    def close(self) -> None:
        self.box.close()


def open_source(cfg: MailboxConfig) -> Source:
    return MaildirSource(cfg) if cfg.kind == "maildir" else ImapSource(cfg)
