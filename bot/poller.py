"""A polling round: every mailbox, message by message, then the outbox.

For each message: fetch → (already handled? mark and go on) → classify and
handle in one transaction → commit → mark in the mailbox → advance the cursor.
A crash between any two steps leaves a state from which the next round gives
the same single outcome.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import clock
from bot.config import Config, MailboxConfig
from bot.dossier.intake import LEFT_ALONE, Backfill, Intake
from bot.dossier.reading import Read, read_message
from bot.mail.outbox import SendReport, send_pending
from bot.mail.parse import parse_message
from bot.mail.redact import without_addresses
from bot.mail.sources import Fetched, MailboxUnavailable, Source, open_source
from bot.mail.transports import Transport, transport_from_config
from bot.read_ahead import ReadAhead
from bot.rules import Rules
from bot.store import files as stored_files
from bot.store.db import close_unsynced, unsynced
from bot.store.faults import describe, fault, is_system_fault
from bot.store.models import InboundMessage, MailboxCursor

log = logging.getLogger(__name__)
# A mailbox's start date, when `since` is not set: this long before its first poll,
# so that a fiche sent the week the bot was installed is still taken.
FIRST_POLL_LOOKBACK = timedelta(days=7)
SENDER_SWITCH_INTERVAL = 0.0005  # seconds; see poll_once


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
    handled: int = 0  # recorded now, left alone included
    left_alone: int = 0  # of which: private mail of a `personnel` mailbox, old mail without a fiche
    skipped: int = 0  # handled before
    unreachable: list[str] = field(default_factory=list)
    advice: dict[str, str] = field(default_factory=dict)  # mailbox -> what the operator should change
    sending: SendReport | None = None
    # A system fault (full disk, locked database…) stopped the round: its one French line.
    fault: str | None = None

    @property
    def ok(self) -> bool:
        return not self.unreachable and not (self.sending and self.sending.unreachable) and not self.fault


def poll_once(rt: Runtime, mailboxes: Iterable[MailboxConfig] | None = None) -> PollReport:
    """Every mailbox once (or only those given: an IDLE wake-up); the outbox is sent meanwhile
    (answers go out while a backlog is read), then once more at the end."""
    report = PollReport()
    drainer = _OutboxDrainer(rt)
    # The sending thread, once the server has answered, waits for the interpreter's lock
    # before it can record the answer: held by the polling thread for up to the switch
    # interval (5 ms by default). It asks for it once per mail; shorter turns cost nothing else.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, SENDER_SWITCH_INTERVAL))
    drainer.start()
    try:
        for mailbox in rt.cfg.mailboxes if mailboxes is None else mailboxes:
            if rt.stopping.is_set():
                break  # the daemon is stopping: the other mailboxes wait for the next start
            try:
                poll_mailbox(rt, mailbox, report)
            except MailboxUnavailable as exc:
                # An IMAP server's text may quote the login, often an address.
                log.error("mailbox %s unreachable: %s", mailbox.name, without_addresses(exc.advice or exc))
                log.debug("mailbox %s unreachable: %s", mailbox.name, exc)
                report.unreachable.append(mailbox.name)
                if exc.advice:
                    report.advice[mailbox.name] = exc.advice
            except Exception as exc:
                if not is_system_fault(exc):
                    raise
                _stopped_by(rt, report, exc)
                break  # the machine's fault: every other mailbox would meet it too
    finally:
        try:
            report.sending = drainer.finish()
        except Exception as exc:
            if not is_system_fault(exc):
                raise
            report.sending = drainer.total
            if report.fault is None:
                _stopped_by(rt, report, exc)
        finally:
            sys.setswitchinterval(switch_interval)
    return report


def _stopped_by(rt: Runtime, report: PollReport, exc: BaseException) -> None:
    """A round stopped by a system fault: one log line, no traceback; what was not committed
    stays unmarked in its mailbox for the next round."""
    report.fault = describe(exc, rt.cfg.bot.database_url)
    log.error("round stopped: %s", report.fault)
    log.debug("round stopped", exc_info=exc)


class _OutboxDrainer(threading.Thread):
    """Sends the outbox while the mailboxes are read. Each row is still sent and
    recorded in its own transaction (bot.mail.outbox); an error here is raised again
    in the polling thread by finish()."""

    def __init__(self, rt: Runtime):
        super().__init__(name="outbox", daemon=True)
        self.rt, self.done, self.error = rt, threading.Event(), None
        self.total = SendReport()
        # Between the poll's commits (FULL), which make these durable too (bot.store.db.unsynced).
        self.sessions = unsynced(rt.sessions)

    def _send(self, sessions: sessionmaker[Session] | None = None) -> SendReport:
        sent = send_pending(sessions or self.sessions, self.rt.transport, self.rt.cfg, self.rt.stopping)
        for name in ("sent", "retrying", "failed"):
            setattr(self.total, name, getattr(self.total, name) + getattr(sent, name))
        self.total.unreachable |= sent.unreachable
        return sent

    def run(self) -> None:
        try:
            while not self.done.is_set() and not self.total.unreachable and not self.rt.stopping.is_set():
                if not self._send().sent:
                    self.done.wait(0.05)
        except BaseException as exc:  # noqa: BLE001 — handed over to the polling thread
            self.error = exc

    def finish(self) -> SendReport:
        self.done.set()
        self.join()
        close_unsynced(self.sessions, self.rt.sessions)
        if self.error is not None:
            raise self.error
        if not self.total.unreachable:
            self._send(self.rt.sessions)  # what the last messages queued
        return self.total


def poll_mailbox(rt: Runtime, mailbox: MailboxConfig, report: PollReport) -> None:
    source = rt.open_source(mailbox)
    last_uid = highest = 0
    try:
        with rt.sessions.begin() as session:
            cursor = _cursor(session, mailbox)
            if cursor.uidvalidity != source.uidvalidity:
                # A new UIDVALIDITY renumbers the mailbox: start over; the SHA-256
                # of each raw message keeps what was handled from being handled again.
                if cursor.uidvalidity is not None:
                    log.warning("mailbox %s: UIDVALIDITY changed, rescanning", mailbox.name)
                cursor.uidvalidity, cursor.last_uid = source.uidvalidity, 0
            last_uid = highest = cursor.last_uid
            start = mailbox.since or cursor.start_date
        # Older mail is never fetched by polling: the server's search leaves it out.
        messages = source.fetch_after(last_uid, since=start, max_bytes=_max_bytes(rt))
        highest = max(highest, _handle_each(rt, mailbox, source, messages, report))
    finally:
        # The cursor only narrows the next search (marked messages are excluded
        # by their keyword anyway): saved once per round, not once per message.
        try:
            if highest > last_uid:
                with rt.sessions.begin() as session:
                    cursor = session.get(MailboxCursor, mailbox.name)
                    cursor.last_uid = max(cursor.last_uid, highest)
                    cursor.updated_at = clock.now()
        finally:
            source.close()  # the marks of what was committed are sent, whatever stopped the round


def backfill(rt: Runtime, mailbox: MailboxConfig, since: date, answer: bool) -> PollReport:
    """`citebot backfill`: the fiches of the messages received from `since` up to the
    mailbox's start date, once (mailboxes.md). Fiches become dossiers as usual, avis
    requests included; porteurs get no mail unless `answer`; every other message is
    left alone. Then the outbox is sent."""
    report = PollReport()
    source = rt.open_source(mailbox)
    try:
        with rt.sessions.begin() as session:
            start = mailbox.since or _cursor(session, mailbox).start_date
        if since < start:
            messages = source.fetch_after(0, since=since, before=start, max_bytes=_max_bytes(rt))
            _handle_each(rt, mailbox, source, messages, report, Backfill(answer=answer))
    finally:
        source.close()
    report.sending = send_pending(rt.sessions, rt.transport, rt.cfg)
    return report


def _max_bytes(rt: Runtime) -> int:
    return rt.cfg.limits.max_message_mb * 1024 * 1024


def _max_attachment_bytes(rt: Runtime) -> int:
    return rt.cfg.limits.max_attachment_mb * 1024 * 1024


def _cursor(session: Session, mailbox: MailboxConfig) -> MailboxCursor:
    """The mailbox's cursor; made at its first poll, with its start date recorded once."""
    cursor = session.get(MailboxCursor, mailbox.name)
    if cursor is None:
        cursor = MailboxCursor(mailbox=mailbox.name, uidvalidity=None, last_uid=0, updated_at=clock.now())
        session.add(cursor)
    if cursor.start_date is None:  # a new mailbox, or a database from before start dates
        cursor.start_date = clock.today() - FIRST_POLL_LOOKBACK
    return cursor


def _handle_each(rt: Runtime, mailbox: MailboxConfig, source: Source, messages: Iterable[Fetched],
                 report: PollReport, backfill: Backfill | None = None) -> int:
    """Handle, commit and mark each message in turn; the highest UID handled."""
    highest = 0
    with ReadAhead(read_message, rt.rules, _max_attachment_bytes(rt)) as ahead:
        for fetched, read in ahead.messages(messages):
            if rt.stopping.is_set():
                break  # the rest stays in the mailbox, unmarked, for the next start
            uid = _handle_one(rt, mailbox, source, fetched, read, report, backfill)
            highest = max(highest, uid)
            del fetched, read  # the next batch is read without this message still in memory
    return highest


def _handle_one(rt: Runtime, mailbox: MailboxConfig, source: Source, fetched: Fetched, read: Callable[[], Read],
                report: PollReport, backfill: Backfill | None) -> int:
    """One message handled, committed, then marked; its UID (0 when not a number)."""
    rt.hooks.after_fetch(fetched.uid)
    quarantined = False
    try:
        if fetched.too_large:
            handled, private = handle_too_large(rt, mailbox, source.uidvalidity, fetched, backfill)
        else:
            handled, private = handle_raw(rt, mailbox, source.uidvalidity, fetched.uid, fetched.raw, backfill, read)
    except Exception as exc:
        if is_system_fault(exc):
            # The machine's fault (full disk, read-only or forbidden folder, locked database):
            # rolled back, left unmarked, the round stops; never recorded against the message.
            raise fault(exc, rt.cfg.bot.database_url) from exc
        if isinstance(exc, SQLAlchemyError) and not isinstance(exc, DataError):
            raise  # the database's fault: stop the round, retry later
        # The message's fault — our code cannot handle it, or the database refuses one of
        # its values (PostgreSQL enforces lengths SQLite ignores): kept and recorded for
        # the coordinators, never retried in a loop nor lost.
        log.exception("mailbox %s uid %s: message quarantined", mailbox.name, fetched.uid)
        try:
            handled, private = quarantine(rt, mailbox, source.uidvalidity, fetched)
        except Exception as again:
            if is_system_fault(again):
                raise fault(again, rt.cfg.bot.database_url) from again
            raise
        quarantined = True
    if handled:
        report.handled += 1
        report.left_alone += private and not quarantined
    else:
        report.skipped += 1
    rt.hooks.after_commit(fetched.uid)
    rt.hooks.before_mark(fetched.uid)
    source.mark(fetched.uid, move=not private)  # private mail stays where its owner left it
    return int(fetched.uid) if fetched.uid.isdigit() else 0


def handle_raw(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, uid: str, raw: bytes,
               backfill: Backfill | None = None, read: Callable[[], Read] | None = None) -> tuple[bool, bool]:
    """Classify and handle one message, committed: (handled now, private). Handled is
    False when it was handled before; private when it was left alone (a `personnel`
    mailbox's message that is not about the call, old mail without a fiche).

    What is kept of a message depends on what it is: private mail leaves its
    position and SHA-256 only (so it is not read twice); any other leaves its raw
    copy, sender and subject too. `read` gives the message read (bot.read_ahead), else it is
    read here."""
    return _record(rt, mailbox, uidvalidity, uid, stored_files.sha256(raw), raw,
                   read or (lambda: read_message(raw, rt.rules, _max_attachment_bytes(rt))), Intake.handle, backfill)


def handle_too_large(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, fetched: Fetched,
                     backfill: Backfill | None = None) -> tuple[bool, bool]:
    """A message over limits.max_message_mb, read from its header alone (never downloaded)."""
    return _record(rt, mailbox, uidvalidity, fetched.uid, unread_digest(fetched), None,
                   lambda: Read(parse_message(fetched.header), []), lambda intake: intake.handle_too_large(fetched.size),
                   backfill)


def unread_digest(fetched: Fetched) -> str:
    """What stands for the SHA-256 of the raw bytes of a message never downloaded: its body is
    never seen, so the digest is of its size and header, which is enough to know it again
    (after a UIDVALIDITY change, or the same message in the mailbox twice)."""
    return stored_files.sha256(b"%d\n" % fetched.size + fetched.header)


def _record(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, uid: str, digest: str, raw: bytes | None,
            read: Callable[[], Read], handle: Callable[[Intake], tuple[str, str]],
            backfill: Backfill | None) -> tuple[bool, bool]:
    with rt.sessions.begin() as session:
        here = (InboundMessage.mailbox == mailbox.name) & (InboundMessage.uidvalidity == uidvalidity)
        if session.scalar(select(InboundMessage.id).where(here, InboundMessage.uid == uid)) is not None:
            return False, _left_alone(session, here, InboundMessage.uid == uid)
        same = (InboundMessage.mailbox == mailbox.name) & (InboundMessage.sha256 == digest)
        if session.scalar(select(InboundMessage.id).where(same)) is not None:
            session.add(_inbound(mailbox, uidvalidity, uid, digest, "", "doublon", "deja_traite"))
            return False, _left_alone(session, same)
        # Read (its Word files too) before anything is written: the database's write lock is then
        # held while the outcome is recorded, not while Word files are parsed (the outbox, on
        # another connection, records what it sends meanwhile).
        done = read()
        message, files = done.message, done.files
        inbound = _inbound(mailbox, uidvalidity, uid, digest, "", "en_cours", "en_cours")
        session.add(inbound)
        session.flush()
        intake = Intake(rt.cfg, rt.rules, session, mailbox, inbound, message, backfill=backfill, files=files)
        inbound.classification, inbound.outcome = handle(intake)
        private = inbound.outcome == LEFT_ALONE
        if not private:
            if raw is not None:
                # Written before the commit: a crash in between leaves a file that the
                # next round writes again (content-addressed), never a record without it.
                inbound.raw_path = stored_files.store_raw(rt.cfg.bot.data_dir, raw, digest)
            _describe(inbound, message)
    # Sender's fault or not, the outcome is recorded; INFO logs carry no personal data.
    log.info("mailbox %s uid %s: %s → %s", mailbox.name, uid, inbound.classification, inbound.outcome)
    return True, private


def _left_alone(session: Session, *where) -> bool:
    """The first record of a message says it was left alone (private, or old mail)."""
    first = session.scalar(select(InboundMessage.outcome).where(*where).order_by(InboundMessage.id).limit(1))
    return first == LEFT_ALONE


def quarantine(rt: Runtime, mailbox: MailboxConfig, uidvalidity: int, fetched: Fetched) -> tuple[bool, bool]:
    """A message our code failed on: recorded for the coordinators, never retried in a
    loop. Its raw copy is kept for a second try, except in a `personnel` mailbox,
    where it may be private mail: it stays in the owner's mailbox, and only there."""
    private = mailbox.mode == "personnel"
    if fetched.too_large:
        digest, raw_path = unread_digest(fetched), ""
    else:
        digest = stored_files.sha256(fetched.raw)
        raw_path = "" if private else stored_files.store_raw(rt.cfg.bot.data_dir, fetched.raw, digest)
    with rt.sessions.begin() as session:
        session.add(_inbound(mailbox, uidvalidity, fetched.uid, digest, raw_path, "erreur", "erreur_interne"))
    return True, private


def _inbound(mailbox, uidvalidity, uid, digest, raw_path, classification, outcome) -> InboundMessage:
    """A message's position and hash: all that is recorded until we know what it is."""
    return InboundMessage(
        mailbox=mailbox.name, uidvalidity=uidvalidity, uid=uid, sha256=digest, raw_path=raw_path,
        message_id=None, from_addr=None, subject="", received_at=clock.now(), classification=classification,
        outcome=outcome, detail={},
    )


def _describe(inbound: InboundMessage, message) -> None:
    """What the coordinators see of a message: its ids, sender, subject, and what could not be read."""
    inbound.message_id = (message.message_id or "")[:998] or None
    inbound.from_addr = (message.from_addr or "")[:320] or None
    inbound.subject = (message.subject or "")[:1000]
    inbound.detail = {"problems": list(message.problems)[:20], **(inbound.detail or {})}
