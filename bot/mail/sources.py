"""Mailbox sources: IMAP (production) and a local Maildir (demo, local delivery).

A source is opened, tells its UIDVALIDITY, yields the messages after a cursor
without touching their read/unread state, and marks a message once its outcome
is committed. `open_source` is the factory tests replace to inject faults.

Memory stays bounded whatever the backlog: the sizes come first (IMAP
RFC822.SIZE, a Maildir file's size), then the bodies, in batches of at most
BATCH_BYTES of raw mail (one message at least), each message handed over as
soon as its batch is read. A message over `max_bytes` is never downloaded:
only its header block is read, and it is yielded with `raw=None`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Protocol

from bot.clock import PARIS
from bot.config import MailboxConfig

BATCH_BYTES = 16 * 1024 * 1024  # raw mail per FETCH of bodies
SIZE_CHUNK = 1000  # UIDs per FETCH of sizes and dates (a few dozen bytes each)
HEADER_MAX_BYTES = 256 * 1024  # what is read of a message too large to download (real headers: a few KB)
_END_OF_HEADER = re.compile(rb"\r?\n\r?\n")

log = logging.getLogger(__name__)


@cache
def _tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Loading the system's certificates costs ~15 ms: once per process (and CA file)."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class MailboxUnavailable(Exception):
    """The mailbox could not be reached or read (a system fault: retry later). `advice`: one
    French line for the operator when the fault is theirs to fix (a token refused, a password
    the server no longer takes), else None."""

    def __init__(self, message: str, advice: str | None = None):
        super().__init__(message)
        self.advice = advice


@dataclass(frozen=True)
class Fetched:
    """One message of a mailbox. `raw` is None when the message is over the size limit: it was
    never downloaded, and `header` holds its header block (at most HEADER_MAX_BYTES)."""

    uid: str
    raw: bytes | None
    size: int  # bytes, as the mailbox counts them (IMAP RFC822.SIZE, a Maildir file's size)
    header: bytes = b""  # only for a message not downloaded
    received: datetime | None = None  # IMAP INTERNALDATE, a Maildir file's time (timezone-aware)

    @property
    def too_large(self) -> bool:
        return self.raw is None


class Source(Protocol):
    uidvalidity: int

    def fetch_after(self, last_uid: int, *, since: date | None = None, before: date | None = None,
                    max_bytes: int | None = None) -> Iterator[Fetched]:
        """The messages after `last_uid` not yet marked (a Maildir offers all: the store knows
        its keys), oldest first; only those received on `since` or later and before `before`
        (days) when given; those over `max_bytes` with their header only (`raw` None)."""
        ...

    def mark(self, uid: str, move: bool = True) -> None:
        """Processed; when `move` (never for private mail), also moved as configured."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Sized:
    """What the server says of a message before its body is read."""

    uid: int
    size: int
    received: datetime | None = None


def fetch_plan(sized: list[Sized], max_bytes: int | None,
               batch_bytes: int = BATCH_BYTES) -> Iterator[tuple[bool, list[Sized]]]:
    """The FETCHes of a round, in UID order: (True, messages) for bodies, at most `batch_bytes`
    together but one message at least however large; (False, [message]) for a message over
    `max_bytes`, whose header alone is read."""
    batch: list[Sized] = []
    total = 0
    for item in sized:
        too_large = max_bytes is not None and item.size > max_bytes
        if batch and (too_large or total + item.size > batch_bytes):
            yield True, batch
            batch, total = [], 0
        if too_large:
            yield False, [item]
        else:
            batch.append(item)
            total += item.size
    if batch:
        yield True, batch


def header_block(data: bytes) -> bytes:
    """The header block of the start of a message, its blank line included (all of it when
    no blank line ends it)."""
    end = _END_OF_HEADER.search(data)
    return data[: end.end()] if end else data


class ImapSource:
    batch_bytes = BATCH_BYTES

    def __init__(self, cfg: MailboxConfig, attempts: int = 3, first_delay: float = 0.5):
        self.cfg = cfg
        self.client = self._connect_with_backoff(attempts, first_delay)
        self._to_mark: dict[bool, list[int]] = {True: [], False: []}  # by `move`

    def _connect_with_backoff(self, attempts: int, delay: float):
        for attempt in range(1, attempts + 1):
            try:
                return self._connect()
            except MailboxUnavailable as exc:
                # What the operator must fix (a refused secret…) is not retried: asking the
                # identity provider again only gets the account throttled.
                if attempt == attempts or exc.advice:
                    raise
                time.sleep(delay)
                delay *= 2

    def _connect(self):
        client = connect(self.cfg)
        try:
            client.normalise_times = False  # INTERNALDATE as the server gives it, with its offset
            selected = client.select_folder(self.cfg.folder)
        except Exception as exc:  # OSError, timeouts, imapclient's IMAP4.error (no such folder)
            with contextlib.suppress(Exception):
                client.shutdown()  # never leave the socket to the garbage collector
            raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        return client

    @contextlib.contextmanager
    def _server_faults(self) -> Iterator[None]:
        """The network's and the server's errors (a refused command: NO, BAD, BYE) as MailboxUnavailable."""
        try:
            yield
        except (OSError, socket.timeout, ssl.SSLError) as exc:
            raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith(("imaplib", "imapclient")):
                raise MailboxUnavailable(f"{self.cfg.name}: {type(exc).__name__}: {exc}") from None
            raise

    def fetch_after(self, last_uid: int, *, since: date | None = None, before: date | None = None,
                    max_bytes: int | None = None) -> Iterator[Fetched]:
        with self._server_faults():
            self._flush_marks()  # a search sees what was marked before it
            sized = self._sizes(self._search(last_uid, since, before))
        for whole, group in fetch_plan(sized, max_bytes, self.batch_bytes):
            with self._server_faults():
                self._flush_marks()
                batch = self._bodies(group) if whole else self._header(group[0])
            while batch:  # handed over one by one: what was handled is not kept here
                yield batch.popleft()
        with self._server_faults():
            self._flush_marks()  # the last batch's, once its last message is handled

    def _search(self, last_uid: int, since: date | None, before: date | None) -> list[int]:
        # SINCE and BEFORE compare INTERNALDATE's day (RFC 3501), as the server reckons it.
        criteria = ["UID", f"{last_uid + 1}:*", "UNKEYWORD", self.cfg.processed_keyword]
        if since is not None:
            criteria += ["SINCE", since]
        if before is not None:
            criteria += ["BEFORE", before]
        # "n:*" always matches the highest UID, even below n (facts.md): filter.
        return sorted(u for u in self.client.search(criteria) if u > last_uid)

    def _sizes(self, uids: list[int]) -> list[Sized]:
        sized = []
        for start in range(0, len(uids), SIZE_CHUNK):
            chunk = uids[start : start + SIZE_CHUNK]
            data = self.client.fetch(chunk, ["RFC822.SIZE", "INTERNALDATE"])
            for uid in chunk:
                item = data.get(uid, {})
                if b"RFC822.SIZE" in item:  # absent: expunged meanwhile
                    sized.append(Sized(uid, int(item[b"RFC822.SIZE"]), item.get(b"INTERNALDATE")))
        return sized

    def _bodies(self, group: list[Sized]) -> deque[Fetched]:
        data = self.client.fetch([s.uid for s in group], ["BODY.PEEK[]"])  # PEEK: \Seen stays as it was
        batch = deque()
        for s in group:
            raw = data.pop(s.uid, {}).get(b"BODY[]")
            if raw is not None:
                batch.append(Fetched(str(s.uid), raw, s.size, received=s.received))
        return batch

    def _header(self, s: Sized) -> deque[Fetched]:
        data = self.client.fetch([s.uid], [f"BODY.PEEK[HEADER]<0.{HEADER_MAX_BYTES}>"])
        # The answer is named BODY[HEADER]<0> (the partial's origin).
        header = next((v for k, v in data.get(s.uid, {}).items() if k.startswith(b"BODY[HEADER]")), None)
        if header is None:
            return deque()
        return deque([Fetched(str(s.uid), None, s.size, header=header_block(header), received=s.received)])

    def mark(self, uid: str, move: bool = True) -> None:
        """The processed keyword; then, when `move`, the move to `move_to` if configured.

        Sent for a whole batch at once, before the next batch is fetched, after the last one,
        and at `close` when the round stops early: two commands per batch instead of two per
        message. The caller marks only what it has committed, so a message whose mark is lost
        in a crash is found again, known by the database, and only marked."""
        self._to_mark[move].append(int(uid))

    def _flush_marks(self) -> None:
        for move, uids in self._to_mark.items():
            if not uids:
                continue
            self.client.add_flags(uids, [self.cfg.processed_keyword])
            if move and self.cfg.move_to:
                if self.client.has_capability("MOVE"):
                    self.client.move(uids, self.cfg.move_to)
                else:
                    self.client.copy(uids, self.cfg.move_to)
                    self.client.delete_messages(uids)
                    self.client.expunge(uids)
            uids.clear()

    def close(self) -> None:
        try:
            self._flush_marks()  # when the round stopped early: those handled before it stopped
        except Exception as exc:  # recorded in the database all the same: found again, only marked
            log.warning("mailbox %s: marks not sent at close: %s", self.cfg.name, type(exc).__name__)
        try:
            self.client.logout()
        except Exception:  # closing a dead connection: nothing left to do
            pass


def connect(cfg: MailboxConfig):
    """A logged-in IMAPClient (no folder selected), read timeouts set; MailboxUnavailable."""
    from imapclient import IMAPClient
    from imapclient.imapclient import SocketTimeout

    client = None
    try:
        context = _tls_context(cfg.ca_file) if cfg.security != "none" else None
        client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.security == "tls", ssl_context=context,
                            timeout=SocketTimeout(connect=cfg.timeout, read=cfg.timeout))
        # imapclient turns imaplib's protocol trace on, and imaplib then formats every
        # response into a string whether it is logged or not: each message's body, twice
        # its size in memory. Only when someone asked for the trace (-v).
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            client._imap.debug = 0
        if cfg.security == "starttls":
            client.starttls(context)
        login(client, cfg)
    except Exception as exc:
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()
        if isinstance(exc, MailboxUnavailable):
            raise
        raise MailboxUnavailable(f"{cfg.name}: {type(exc).__name__}: {exc}") from None
    return client


def login(client, cfg: MailboxConfig) -> None:
    """LOGIN with the password, or AUTHENTICATE XOAUTH2 with the [[oauth2]] block's token. A token
    refused (expired early, revoked) is renewed once; refused again, or a password the server no
    longer takes: MailboxUnavailable with its French advice."""
    from imapclient.exceptions import IMAPClientError

    from bot.mail.oauth2 import password_refused_advice

    if cfg.oauth2 is None:
        try:
            client.login(cfg.username, cfg.password)
        except IMAPClientError as exc:
            raise MailboxUnavailable(f"{cfg.name}: login refused: {exc}",
                                     password_refused_advice(f"boîte « {cfg.name} »", str(exc))) from None
        return
    from bot.mail.oauth2 import TokenError, XOAuth2Responder, token_source, xoauth2

    tokens = token_source(cfg.oauth2)
    for attempt in (1, 2):
        try:
            token = tokens.token(cfg.username)
        except TokenError as exc:
            raise MailboxUnavailable(f"{cfg.name}: no token: {exc}", f"boîte « {cfg.name} » : {exc}") from None
        try:
            client._command_and_check("authenticate", "XOAUTH2", XOAuth2Responder(xoauth2(cfg.username, token)))
            return
        except IMAPClientError as exc:
            tokens.invalidate(cfg.username, token)
            if attempt == 2:
                # The server's text is its own (e.g. [AUTHENTICATIONFAILED]); the token is not in it.
                raise MailboxUnavailable(
                    f"{cfg.name}: XOAUTH2 refused: {exc}",
                    f"boîte « {cfg.name} » : le serveur IMAP refuse le jeton de « {cfg.oauth2.name} » "
                    f"({_first_line(exc)}) ; vérifiez que l'application a le droit IMAP.AccessAsApp (ou la "
                    "délégation Google) sur cette boîte, et que username est bien son adresse.") from None
            log.info("mailbox %s: token refused, renewed", cfg.name)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class MaildirSource:
    """A local Maildir. A message's key plays the part of a UID: its file name up to the
    colon, as the stdlib's mailbox.Maildir names it. A processed message moves from new/
    to cur/ without the S (seen) flag, so a mail client still shows it unread."""

    uidvalidity = 0

    def __init__(self, cfg: MailboxConfig):
        self.cfg = cfg
        self.root = Path(cfg.path)
        self._files: dict[str, Path] = {}
        try:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            for folder in (self.root, self.root / "new", self.root / "cur", self.root / "tmp"):
                folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise MailboxUnavailable(f"{cfg.name}: {exc}") from None

    def _scan(self) -> dict[str, Path]:
        files = {}
        for sub in ("new", "cur"):
            for entry in os.scandir(self.root / sub):
                if not entry.is_dir():
                    files[entry.name.split(":")[0]] = Path(entry.path)
        return files

    def fetch_after(self, last_uid: int, *, since: date | None = None, before: date | None = None,
                    max_bytes: int | None = None) -> Iterator[Fetched]:
        # Keys are not ordered numbers: every key is offered and the store skips those
        # already handled. Oldest first, by delivery time (the file's mtime).
        try:
            self._files = self._scan()
        except OSError as exc:
            raise MailboxUnavailable(f"{self.cfg.name}: {exc}") from None
        found = []
        for key, path in self._files.items():
            with contextlib.suppress(FileNotFoundError):  # taken away meanwhile
                stat = path.stat()
                received = datetime.fromtimestamp(stat.st_mtime, PARIS)
                if (since is None or received.date() >= since) and (before is None or received.date() < before):
                    found.append((stat.st_mtime, key, stat.st_size, received))
        for _, key, size, received in sorted(found):
            try:
                with open(self._files[key], "rb") as f:
                    if max_bytes is not None and size > max_bytes:
                        fetched = Fetched(key, None, size, header=header_block(f.read(HEADER_MAX_BYTES)),
                                          received=received)
                    else:
                        fetched = Fetched(key, f.read(), size, received=received)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailboxUnavailable(f"{self.cfg.name}: {exc}") from None
            yield fetched
            del fetched  # not kept while the next one is read

    def mark(self, uid: str, move: bool = True) -> None:
        """From new/ to cur/ (a move of the file; when not `move`, nothing: the database
        knows the key, and the file stays exactly as its owner left it)."""
        if not move:
            return
        path = self._files.get(uid) or self._scan().get(uid)
        if path is None or path.parent.name != "new":
            return
        try:
            os.rename(path, self.root / "cur" / path.name)  # same name, time and bytes
        except OSError as exc:
            raise MailboxUnavailable(f"{self.cfg.name}: {exc}") from None
        self._files[uid] = self.root / "cur" / path.name

    def close(self) -> None:
        pass


def open_source(cfg: MailboxConfig) -> Source:
    return MaildirSource(cfg) if cfg.kind == "maildir" else ImapSource(cfg)
