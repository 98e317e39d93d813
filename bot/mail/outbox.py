"""The outbox: every mail is a row first, queued in the transaction that decided
it; sending happens afterwards and is recorded row by row.

An SMTP outage delays mails (retried with backoff) but never loses them; a mail
marked sent is never sent again.

No mail ever goes to an empty or null address, to our own addresses (the bot's,
a "dedie" mailbox's) or to a robot's (mailboxes.md, "Robots"), whatever asked for
it: `enqueue` drops such recipients, and a row that still has one when it is due
is marked failed, never sent. Both are recorded as an event "destinataire_ecarte".
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import clock
from bot.config import Config
from bot.mail.addresses import address_key
from bot.mail.compose import Mail, build, new_message_id
from bot.mail.redact import without_addresses
from bot.mail.robots import refusal
from bot.mail.transports import PermanentFailure, TemporaryFailure, Transport
from bot.store import claims
from bot.store.faults import fault, is_system_fault
from bot.store.models import Dossier, Event, Outbox, OutboxContent
from bot.store.sent_journal import SentJournal

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=1)
CLAIM = timedelta(minutes=5)  # far longer than any SMTP timeout
BATCH = 50


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


# Why a recipient was dropped, in the coordinators' words (events, `dossiers show`).
REFUSALS = {"empty": "adresse vide", "own": "adresse de citebot", "robot": "adresse de robot",
            "limit": "limite quotidienne de courriels atteinte pour cette adresse"}


def refused(address: str | None, cfg: Config) -> str | None:
    """Why no mail may go to this address — "empty", "own" or "robot" — or None when it may."""
    why = refusal(address)
    if why is None and (address or "").strip().strip("<>").strip().lower() in cfg.own_addresses:
        return "own"
    return why


def enqueue(session: Session, mail: Mail, cfg: Config, *, dossier_id: int | None = None,
            inbound_id: int | None = None) -> Outbox | None:
    """Queue a mail in the caller's transaction; kinds listed in [outbox] hold wait for a release.

    Recipients no mail may go to (`refused`) are dropped; when only copies are left
    they become the recipients. Every drop is an event on the dossier (or the
    message) and a log line without the address. None when nobody is left: nothing
    is queued, and the caller goes on without a mail."""
    now = clock.now()
    to, cc, dropped = _keep_recipients(mail, cfg, session)
    if dropped:
        _record_dropped(session, mail.kind, dropped, queued=bool(to or cc), dossier_id=dossier_id,
                        inbound_id=inbound_id)
    if not to:
        to, cc = cc, ()
    if not to:
        return None
    mailbox = _mailbox_of(session, mail, cfg, dossier_id)
    mail = dataclasses.replace(mail, to=to, cc=cc, reply_to=mail.reply_to or mailbox.address,
                               context={**mail.context, "signature": signature(cfg, mailbox)})
    from_address = cfg.bot.address
    message_id = new_message_id(from_address)  # made once: a retry resends the same message
    built = build(mail, from_name=cfg.bot.name, from_address=from_address, message_id=message_id, date=now)
    row = Outbox(
        message_id=message_id, kind=mail.kind, dossier_id=dossier_id, inbound_id=inbound_id,
        recipients=list(mail.to) + list(mail.cc), first_recipient=mail.to[0].lower()[:320],
        recipient_key=address_key(mail.to[0])[:320],
        # An address with accents is written as is (RFC 6531) and sent through SMTPUTF8.
        subject=built.subject, raw=built.raw,
        status="held" if mail.kind in cfg.outbox.hold else "pending", attempts=0, next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def _mailbox_of(session: Session, mail: Mail, cfg: Config, dossier_id: int | None):
    """The polled mailbox a mail speaks for: its dossier's, else the one it has Reply-To, else the first."""
    dossier = session.get(Dossier, dossier_id) if dossier_id is not None else None
    name = dossier.mailbox if dossier is not None else None
    return (cfg.mailbox(name) if name else None) or next(
        (m for m in cfg.mailboxes if mail.reply_to and m.address.lower() == mail.reply_to.lower()), cfg.mailboxes[0])


def signature(cfg: Config, mailbox) -> str:
    """The contact block at the end of every mail (`[[mailbox]] signature`; coordinators.md)."""
    return mailbox.signature.strip() or f"{cfg.bot.name}\n{mailbox.address}"


def _keep_recipients(mail: Mail, cfg: Config,
                     session: Session) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[str, str]]]:
    """(to, cc) without the refused addresses and those over their daily limit, and the
    (address, why) pairs dropped."""
    dropped: list[tuple[str, str]] = []

    def keep(addresses: Iterable[str | None]) -> tuple[str, ...]:
        kept = []
        for address in addresses:
            why = refused(address, cfg) or ("limit" if _over_daily_limit(session, address, cfg) else None)
            if why is None:
                kept.append(address)
            else:
                dropped.append((address or "", why))
        return tuple(kept)

    return keep(mail.to), keep(mail.cc), dropped


def _over_daily_limit(session: Session, address: str, cfg: Config) -> bool:
    """`limits.mails_per_recipient_per_day` reached for this address today (Paris), all
    kinds together; `+tag` and case variants are one address; coordinators and the IEN
    are never limited (security.md)."""
    key = address_key(address)
    exempt = {address_key(a) for a in cfg.coordinator_addresses} | {address_key(a) for a in cfg.avis.ien}
    if key in exempt:
        return False
    day_start = datetime.combine(clock.today(), time(0), clock.PARIS)
    sent_today = session.scalar(select(func.count(Outbox.id)).where(Outbox.recipient_key == key,
                                                                     Outbox.created_at >= day_start))
    return sent_today >= cfg.limits.mails_per_recipient_per_day


def _record_dropped(session: Session, kind: str, dropped: list[tuple[str, str]], *, queued: bool,
                    dossier_id: int | None = None, inbound_id: int | None = None,
                    outbox_id: int | None = None) -> None:
    reasons = sorted({why for _, why in dropped})
    # INFO logs never carry an address: the event does, for the coordinators.
    log.info("mail %s: %d recipient(s) dropped (%s)%s", kind, len(dropped), ", ".join(reasons),
             "" if queued else ", nothing sent")
    detail = {"kind": kind, "queued": queued,
              "dropped": [{"address": address[:320], "why": REFUSALS[why]} for address, why in dropped]}
    if outbox_id is not None:
        detail["outbox_id"] = outbox_id
    session.add(Event(dossier_id=dossier_id, inbound_id=inbound_id, at=clock.now(), kind="destinataire_ecarte",
                      detail=detail))


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unreachable: bool = False


def send_pending(sessions: sessionmaker[Session], transport: Transport, cfg: Config,
                 stopping: threading.Event | None = None) -> SendReport:
    """Send every mail that is due, a batch at a time on one connection, each recorded the
    moment the server answers; stop when none is due any more, the server is gone, or
    `stopping` is set (the daemon's SIGTERM: the mail in hand is finished, no other is
    started). What was claimed and not sent is released at once, for whoever sends next.

    A system fault (full disk, locked database) while recording is raised (bot.store.faults)."""
    report = SendReport()
    journal = SentJournal(cfg.bot.data_dir)
    claimed: list[int] = []
    try:
        _record_unrecorded(sessions, journal)
        if _stop(stopping):
            _fold(sessions, journal)
            return report  # stopping: nothing more is claimed
        claimed = _next_batch(sessions, journal, cfg, report)
        if not claimed:
            return report
        with transport.connect() as connection:
            while claimed:
                while claimed and not _stop(stopping):
                    if not _send_one(sessions, journal, connection, claimed.pop(0), cfg.bot.address, report):
                        break  # the server went away: the rest waits
                if claimed or report.unreachable or _stop(stopping):
                    break
                claimed = _next_batch(sessions, journal, cfg, report)
        _fold(sessions, journal)  # this batch's outcomes in the rows, for `dossiers show`
    except TemporaryFailure as exc:
        log.error("outgoing mail server unreachable: %s", without_addresses(exc))
        log.debug("outgoing mail server unreachable: %s", exc)
        report.unreachable = True
    finally:
        try:
            _release(sessions, claimed)
        except Exception as exc:  # noqa: BLE001 — the fault in flight, if any, is the one to tell
            if not is_system_fault(exc):
                raise
            log.debug("claims not released (they will be when this process is gone)", exc_info=exc)
        journal.close()
    return report


def _stop(stopping: threading.Event | None) -> bool:
    return stopping is not None and stopping.is_set()


def _next_batch(sessions: sessionmaker[Session], journal: SentJournal, cfg: Config, report: SendReport) -> list[int]:
    """The next due mails, claimed; those to a refused recipient are set aside (failed)."""
    while claimed := _claim_due(sessions, journal):
        if sendable := _refuse_bad_recipients(sessions, claimed, cfg, report):
            return sendable
    return []


def _claim_due(sessions: sessionmaker[Session], journal: SentJournal) -> list[int]:
    """Take up to BATCH due mails for this process. Several processes may send (the
    daemon, `poll --once`, `decide`…): the UPDATE lets exactly one of them take a mail.

    What the journal holds is recorded first: a mail the server accepted is never claimed
    again. A claim whose process is gone (killed while sending) is released at once; one
    made on another host, or by a process that cannot be told, when it is older than CLAIM."""
    _fold(sessions, journal)
    now = clock.now()
    due = (Outbox.status == "pending") | (Outbox.status == "sending")
    with sessions() as session:  # a read first: most rounds have nothing to send
        holders = set(session.scalars(select(Outbox.claimed_by).where(Outbox.status == "sending",
                                                                      Outbox.claimed_by.is_not(None))).all())
        if session.scalar(select(Outbox.id).where(due, Outbox.next_attempt_at <= now).limit(1)) is None and not holders:
            return []
    if dead := sorted(h for h in holders if claims.gone(h)):
        with sessions.begin() as session:
            released = session.execute(update(Outbox).where(Outbox.status == "sending", Outbox.claimed_by.in_(dead))
                                       .values(status="pending", next_attempt_at=now, claimed_by=None)).rowcount
        log.warning("outbox: %d mail(s) claimed by a process that is gone, released", released)
    mine = claims.me()
    with sessions.begin() as session:
        batch = (select(Outbox.id).where(due, Outbox.next_attempt_at <= now, Outbox.id.not_in(list(_UNRECORDED)))
                 .order_by(Outbox.id).limit(BATCH).scalar_subquery())
        claimed = session.scalars(
            update(Outbox).where(Outbox.id.in_(batch), due, Outbox.next_attempt_at <= now)
            .values(status="sending", next_attempt_at=now + CLAIM, claimed_by=mine).returning(Outbox.id)
        ).all()
    return sorted(claimed)


def _refuse_bad_recipients(sessions: sessionmaker[Session], claimed: list[int], cfg: Config,
                           report: SendReport) -> list[int]:
    """The claimed mails that may be sent. A row that names a refused recipient (queued
    before this guard, or written by hand) is marked failed, never sent, and recorded."""
    if not claimed:
        return claimed
    allowed = []
    with sessions.begin() as session:
        rows = session.execute(select(Outbox.id, Outbox.recipients, Outbox.kind, Outbox.dossier_id, Outbox.inbound_id)
                               .where(Outbox.id.in_(claimed)).order_by(Outbox.id)).all()
        for row in rows:
            dropped = [(a or "", why) for a in row.recipients if (why := refused(a, cfg)) is not None]
            if row.recipients and not dropped:
                allowed.append(row.id)
                continue
            reasons = sorted({REFUSALS[why] for _, why in dropped}) or ["aucun destinataire"]
            session.execute(update(Outbox).where(Outbox.id == row.id).values(
                status="failed", last_error="non envoyé : " + ", ".join(reasons), claimed_by=None))
            report.failed += 1
            _record_dropped(session, row.kind, dropped or [("", "empty")], queued=False, dossier_id=row.dossier_id,
                            inbound_id=row.inbound_id, outbox_id=row.id)
    return allowed


def _release(sessions: sessionmaker[Session], row_ids: list[int]) -> None:
    if row_ids:
        with sessions.begin() as session:
            session.execute(update(Outbox).where(Outbox.id.in_(row_ids), Outbox.status == "sending")
                            .values(status="pending", next_attempt_at=clock.now(), claimed_by=None))


# Outcomes the server gave that neither the journal nor the database could take (a full disk):
# kept here, retried before anything else is claimed, and their mails never claimed again by
# this process. Lost only if the process ends before the disk has room again.
_UNRECORDED: dict[int, dict] = {}
ACCEPTED, REFUSED, RETRY = "accepte", "refuse", "reessai"


def _send_one(sessions, journal: SentJournal, connection, row_id: int, from_address: str,
              report: SendReport) -> bool:
    """Send one claimed mail and record the result; False when the server went away.

    The row is read, then sent, then its outcome appended to the journal the moment the
    server has answered (bot.store.sent_journal): nothing waits for the database's write
    lock between the server's 250 and the record. A mail with several recipients, some
    refused: those accepted are recorded, a 5xx recipient is failed, a 4xx one is tried
    again alone later (`delivery`). Core statements rather than the ORM: this runs beside
    the polling thread, for every mail."""
    with sessions() as session:
        row = session.execute(select(OutboxContent.raw, Outbox.recipients, Outbox.attempts, Outbox.kind,
                                     Outbox.dossier_id, Outbox.inbound_id, Outbox.delivery).join(Outbox.content)
                              .where(Outbox.id == row_id)).one()
    delivery = dict(row.delivery or {})
    targets = [a for a in row.recipients if delivery.get(a, {}).get("state", RETRY) == RETRY]
    this = update(Outbox).where(Outbox.id == row_id)
    try:
        refused_now = connection.send(row.raw, from_address, targets) or {}
    except TemporaryFailure as exc:
        attempts = row.attempts + 1
        with sessions.begin() as session:
            session.execute(this.values(status="pending", attempts=attempts, last_error=str(exc)[:2000],
                                        next_attempt_at=clock.now() + backoff(attempts), claimed_by=None))
        report.retrying += 1
        # The server's text quotes addresses: masked here, whole in last_error and at DEBUG.
        log.warning("mail %s deferred (attempt %d): %s", row_id, attempts, without_addresses(exc))
        log.debug("mail %s deferred: %s", row_id, exc)
        report.unreachable |= exc.connection_lost
        return not exc.connection_lost
    except PermanentFailure as exc:
        error = str(exc)[:2000]
        with sessions.begin() as session:
            session.execute(this.values(status="failed", attempts=row.attempts + 1, last_error=error, claimed_by=None))
            session.add(Event(dossier_id=row.dossier_id, inbound_id=row.inbound_id, at=clock.now(),
                              kind="envoi_echoue", detail={"outbox_id": row_id, "kind": row.kind, "error": error}))
        report.failed += 1
        log.error("mail %s refused for good: %s", row_id, without_addresses(exc))
        log.debug("mail %s refused for good: %s", row_id, exc)
        return True
    entry = {"id": row_id, "attempts": row.attempts + 1, "at": clock.now().isoformat()}
    if refused_now or delivery:
        for address in targets:
            code, text = refused_now.get(address, (250, ""))
            state = ACCEPTED if code < 400 else REFUSED if code >= 500 else RETRY
            delivery[address] = {"state": state, "reply": f"{code} {text}".strip()[:300]}
        entry["delivery"] = delivery
    _record(sessions, journal, entry)
    retry = [a for a, d in delivery.items() if d["state"] == RETRY]
    if retry:
        report.retrying += 1
        log.warning("mail %s: %d recipient(s) deferred, tried again alone later", row_id, len(retry))
    elif any(d["state"] == REFUSED for d in delivery.values()):
        log.error("mail %s: %d recipient(s) refused for good", row_id,
                  sum(d["state"] == REFUSED for d in delivery.values()))
    if any(d["state"] == ACCEPTED for d in delivery.values()) or not delivery:
        report.sent += 1
    elif not retry:
        report.failed += 1
    return True


def _record(sessions, journal: SentJournal, entry: dict) -> None:
    """The server's answer, kept: in the journal at once; in the database when the journal
    cannot be written; in memory when neither can (then the fault is raised: sending stops)."""
    try:
        journal.record(entry)
        return
    except OSError as exc:
        log.error("outbox journal %s not written (%s): the outcome goes to the database", journal.path,
                  exc.strerror or exc)
    try:
        _apply(sessions, [entry])
    except Exception as exc:
        if not is_system_fault(exc):
            raise
        _UNRECORDED[entry["id"]] = entry
        raise fault(exc) from exc


def _record_unrecorded(sessions, journal: SentJournal) -> None:
    for row_id in list(_UNRECORDED):
        _record(sessions, journal, _UNRECORDED.pop(row_id))  # kept again if it fails again


def _fold(sessions, journal: SentJournal) -> None:
    journal.fold(lambda entries: _apply(sessions, entries))


def _apply(sessions, entries: list[dict]) -> None:
    """Outcomes from the journal into their rows, in one transaction (applying one twice is harmless)."""
    with sessions.begin() as session:
        for entry in entries:
            at = datetime.fromisoformat(entry["at"])
            delivery = entry.get("delivery")
            this = update(Outbox).where(Outbox.id == entry["id"], Outbox.status.in_(("sending", "pending")))
            retry = [a for a, d in (delivery or {}).items() if d["state"] == RETRY]
            refused_for_good = {a: d["reply"] for a, d in (delivery or {}).items() if d["state"] == REFUSED}
            accepted = not delivery or any(d["state"] == ACCEPTED for d in delivery.values())
            if retry:
                values = {"status": "pending", "next_attempt_at": at + backoff(entry["attempts"]),
                          "last_error": "; ".join(f"{a}: {delivery[a]['reply']}" for a in retry)[:2000]}
            elif accepted:
                values = {"status": "sent", "sent_at": at}
            else:
                values = {"status": "failed", "last_error": "; ".join(f"{a}: {r}" for a, r in
                                                                       refused_for_good.items())[:2000]}
            changed = session.execute(this.values(attempts=entry["attempts"], delivery=delivery, claimed_by=None,
                                                  **values)).rowcount
            if changed and refused_for_good and not retry:
                row = session.execute(select(Outbox.kind, Outbox.dossier_id, Outbox.inbound_id)
                                      .where(Outbox.id == entry["id"])).one()
                session.add(Event(dossier_id=row.dossier_id, inbound_id=row.inbound_id, at=at, kind="envoi_echoue",
                                  detail={"outbox_id": entry["id"], "kind": row.kind,
                                          "error": "; ".join(f"{a}: {r}" for a, r in refused_for_good.items())[:2000],
                                          "partial": accepted}))


class OutboxError(Exception):
    """A release or cancel that cannot be done; str() is one French line."""


def held(session: Session) -> list[Outbox]:
    return list(session.scalars(select(Outbox).where(Outbox.status == "held").order_by(Outbox.id)))


def later(session: Session) -> list[Outbox]:
    """Mails due later: letters waiting out the undo window, and mails to be tried again."""
    return list(session.scalars(select(Outbox).where(Outbox.status == "pending", Outbox.next_attempt_at > clock.now())
                                .order_by(Outbox.next_attempt_at, Outbox.id)))


def release(session: Session, row_id: int) -> Outbox:
    row = _held(session, row_id)
    row.status, row.next_attempt_at = "pending", clock.now()
    session.add(Event(dossier_id=row.dossier_id, at=clock.now(), kind="courriel_libere", detail={"outbox_id": row.id}))
    return row


def cancel(session: Session, row_id: int) -> Outbox:
    row = _held(session, row_id)
    row.status = "cancelled"
    session.add(Event(dossier_id=row.dossier_id, at=clock.now(), kind="courriel_annule", detail={"outbox_id": row.id}))
    return row


def _held(session: Session, row_id: int) -> Outbox:
    row = session.get(Outbox, row_id)
    if row is None:
        raise OutboxError(f"Aucun courriel n° {row_id} dans la file d'envoi.")
    if row.status != "held":
        raise OutboxError(f"Le courriel n° {row_id} n'est pas retenu (statut : {row.status}).")
    return row
