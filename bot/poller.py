"""A polling round: every mailbox, message by message, then the outbox.

For each message: fetch → (already handled? mark and go on) → classify and
handle in one transaction → commit → mark in the mailbox → advance the cursor.
A crash between any two steps leaves a state from which the next round gives
the same single outcome.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import clock
from bot.config import Config, MailboxConfig
from bot.dossier.intake import Intake
from bot.mail.outbox import SendReport, send_pending
from bot.mail.parse import Incoming, parse_message
from bot.mail.sources import Fetched, MailboxUnavailable, Source, open_source
from bot.mail.transports import Transport, transport_from_config
from bot.rules import Rules
from bot.store import files as stored_files
from bot.store.models import InboundMessage, MailboxCursor

log = logging.getLogger(__name__)


class Hooks:
    """Test seam: called between the steps of the path, to inject crashes."""

    def after_fetch(self, uid: str) -> None: ...
    def after_commit(self, uid: str) -> None: ...
    def before_mark(self, uid: str) -> None: ...


@dataclass
class Runtime:
    cfg: Config
    rules: Rules
    sessions: sessionmaker[Session]
    open_source: Callable[[MailboxConfig], Source] = open_source
    transport: Transport | None = None
    hooks: Hooks = field(default_factory=Hooks)
    # Set by the daemon on SIGTERM/SIGINT: the message in hand is finished, no other is started.
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        if self.transport is None:
            self.transport = transport_from_config(self.cfg.smtp)


@dataclass
class PollReport:
    handled: int = 0
    skipped: int = 0
    unreachable: list[str] = field(default_factory=list)
    sending: SendReport | None = None

    @property
    def ok(self) -> bool:
        return not self.unreachable and not (self.sending and self.sending.unreachable)


def poll_once(rt: Runtime) -> PollReport:
    """Every mailbox once; the outbox is sent meanwhile (answers go out while a
    backlog is read), then once more at the end."""
    report = PollReport()
    drainer = _OutboxDrainer(rt)
    drainer.start()
    try:
        for mailbox in rt.cfg.mailboxes:
            if rt.stopping.is_set():
                break  # the daemon is stopping: the other mailboxes wait for the next start
            try:
                poll_mailbox(rt, mailbox, report)
            except MailboxUnavailable as exc:
                log.error("mailbox %s unreachable: %s", mailbox.name, exc)
                report.unreachable.append(mailbox.name)
    finally:
        report.sending = drainer.finish()
    return report


class _OutboxDrainer(threading.Thread):
    """Sends the outbox while the mailboxes are read. Each row is still sent and
    recorded in its own transaction (bot.mail.outbox); an error here is raised again
    in the polling thread by finish()."""

    def __init__(self, rt: Runtime):
        super().__init__(name="outbox", daemon=True)
        self.rt, self.done, self.error = rt, threading.Event(), None
        self.total = SendReport()

    def _send(self) -> SendReport:
        sent = send_pending(self.rt.sessions, self.rt.transport, self.rt.cfg.bot.address)
        for name in ("sent", "retrying", "failed"):
            setattr(self.total, name, getattr(self.total, name) + getattr(sent, name))
        self.total.unreachable |= sent.unreachable
        return sent

    def run(self) -> None:
        try:
            while not self.done.is_set() and not self.total.unreachable:
                if not self._send().sent:
                    self.done.wait(0.05)
        except BaseException as exc:  # noqa: BLE001 — handed over to the polling thread
            self.error = exc

    def finish(self) -> SendReport:
        self.done.set()
        self.join()
        if self.error is not None:
            raise self.error
        if not self.total.unreachable:
            self._send()  # what the last messages queued
        return self.total


def poll_mailbox(rt: Runtime, mailbox: MailboxConfig, report: PollReport) -> None:
    source = rt.open_source(mailbox)
    last_uid = highest = 0
    try:
        with rt.sessions.begin() as session:
            cursor = session.get(MailboxCursor, mailbox.name)
            if cursor is None:
                cursor = MailboxCursor(mailbox=mailbox.name, uidvalidity=None, last_uid=0, updated_at=clock.now())
                session.add(cursor)
            if cursor.uidvalidity != source.uidvalidity:
                # A new UIDVALIDITY renumbers the mailbox: start over; the SHA-256
                # of each raw message keeps what was handled from being handled again.
                if cursor.uidvalidity is not None:
                    log.warning("mailbox %s: UIDVALIDITY changed, rescanning", mailbox.name)
                cursor.uidvalidity, cursor.last_uid = source.uidvalidity, 0
            last_uid = highest = cursor.last_uid
        max_bytes = rt.cfg.limits.max_message_mb * 1024 * 1024
        for fetched in source.fetch_after(last_uid, max_bytes=max_bytes):
            if rt.stopping.is_set():
                break  # the rest stays in the mailbox, unmarked, for the next start
            rt.hooks.after_fetch(fetched.uid)
            try:
                if fetched.too_large:
                    handled = handle_too_large(rt, mailbox, source.uidvalidity, fetched)
                else:
                    handled = handle_raw(rt, mailbox, source.uidvalidity, fetched.uid, fetched.raw)
            except Exception as exc:
                if isinstance(exc, SQLAlchemyError) and not isinstance(exc, DataError):
                    raise  # the database's fault: stop the round, retry later
                # The message's fault — our code cannot handle it, or the database refuses one of
                # its values (PostgreSQL enforces lengths SQLite ignores): kept and recorded for
                # the coordinators, never retried in a loop nor lost.
                log.exception("mailbox %s uid %s: message quarantined", mailbox.name, fetched.uid)
                handled = quarantine(rt, mailbox, source.uidvalidity, fetched)
            if handled:
                report.handled += 1
            else:
                report.skipped += 1
            rt.hooks.after_commit(fetched.uid)
            rt.hooks.before_mark(fetched.uid)
            source.mark(fetched.uid)
            if fetched.uid.isdigit():
                highest = max(highest, int(fetched.uid))
            del fetched  # the next batch is read without this message still in memory
    finally:
        # The cursor only narrows the next search (marked messages are excluded
        # by their keyword anyway): saved once per round, not once per message.
        if highest > last_uid:
            with rt.sessions.begin() as session:
                cursor = session.get(MailboxCursor, mailbox.name)
                cursor.last_uid = max(cursor.last_uid, highest)
                cursor.updated_at = clock.now()
        source.close()


def handle_raw(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, uid: str, raw: bytes) -> bool:
    """Classify and handle one message, committed. False when it was handled before."""
    digest = stored_files.sha256(raw)
    raw_path = stored_files.store_raw(rt.cfg.bot.data_dir, raw, digest)
    message = parse_message(raw, max_attachment_bytes=rt.cfg.limits.max_attachment_mb * 1024 * 1024)
    return _record(rt, mailbox, uidvalidity, uid, digest, raw_path, message, Intake.handle)


def handle_too_large(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, fetched: Fetched) -> bool:
    """A message over limits.max_message_mb, read from its header alone (never downloaded)."""
    message = parse_message(fetched.header)
    return _record(rt, mailbox, uidvalidity, fetched.uid, unread_digest(fetched), "", message,
                   lambda intake: intake.handle_too_large(fetched.size))


def unread_digest(fetched: Fetched) -> str:
    """What stands for the SHA-256 of the raw bytes of a message never downloaded: its body is
    never seen, so the digest is of its size and header, which is enough to know it again
    (after a UIDVALIDITY change, or the same message in the mailbox twice)."""
    return stored_files.sha256(b"%d\n" % fetched.size + fetched.header)


def _record(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, uid: str, digest: str, raw_path: str,
            message: Incoming, handle: Callable[[Intake], tuple[str, str]]) -> bool:
    with rt.sessions.begin() as session:
        here = (InboundMessage.mailbox == mailbox.name) & (InboundMessage.uidvalidity == uidvalidity)
        if session.scalar(select(InboundMessage.id).where(here, InboundMessage.uid == uid)):
            return False
        if session.scalar(select(InboundMessage.id).where(InboundMessage.mailbox == mailbox.name,
                                                          InboundMessage.sha256 == digest)):
            session.add(_inbound(mailbox, uidvalidity, uid, digest, raw_path, None, "doublon", "deja_traite"))
            return False
        inbound = _inbound(mailbox, uidvalidity, uid, digest, raw_path, message, "en_cours", "en_cours")
        session.add(inbound)
        session.flush()
        intake = Intake(rt.cfg, rt.rules, session, mailbox, inbound, message)
        inbound.classification, inbound.outcome = handle(intake)
    # Sender's fault or not, the outcome is recorded; INFO logs carry no personal data.
    log.info("mailbox %s uid %s: %s → %s", mailbox.name, uid, inbound.classification, inbound.outcome)
    return True


def quarantine(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, fetched: Fetched) -> bool:
    if fetched.too_large:
        digest, raw_path = unread_digest(fetched), ""
    else:
        digest = stored_files.sha256(fetched.raw)
        raw_path = stored_files.store_raw(rt.cfg.bot.data_dir, fetched.raw, digest)
    with rt.sessions.begin() as session:
        session.add(_inbound(mailbox, uidvalidity, fetched.uid, digest, raw_path, None, "erreur",
                             "erreur_interne"))
    return True


def _inbound(mailbox, uidvalidity, uid, digest, raw_path, message, classification, outcome) -> InboundMessage:
    return InboundMessage(
        mailbox=mailbox.name, uidvalidity=uidvalidity, uid=uid, sha256=digest, raw_path=raw_path,
        message_id=(message.message_id or "")[:998] or None if message else None,
        from_addr=(message.from_addr or "")[:320] or None if message else None,
        subject=(message.subject or "")[:1000] if message else "",
        received_at=clock.now(), classification=classification, outcome=outcome,
        detail={"problems": list(message.problems)[:20]} if message else {},
    )
