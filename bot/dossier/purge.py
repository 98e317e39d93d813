"""`citebot purge [--dry-run]` and the daemon's nightly job: the plan of
bot/dossier/retention.py, applied (security.md, "Retention").

The rows are read as plain records, the plan is made from them, then each dossier is
emptied in its own transaction, with an event `purge` that counts what went (never a
name, an address or a subject), and what belongs to no dossier in one more. Files go
only after that commit, and only when no row names them any more: a row never points
at a deleted file. The event lists the files to delete until they are deleted, so a
process that ends in between leaves work that the next purge finishes. A dry run
reads and plans, and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import clock
from bot.dossier import retention
from bot.dossier.context import Context
from bot.dossier.retention import PENDING_FILES, PURGE_EVENT, Plan, Policy, Purge, Rows
from bot.dossier.views import STATUS_LABELS
from bot.store.models import (
    AvisRequest,
    Bilan,
    Document,
    Dossier,
    Event,
    InboundMessage,
    Outbox,
    PendingChange,
    Version,
)
from bot.text import plural

log = logging.getLogger(__name__)
CHUNK = 500  # ids per IN (...): far below any database's limit on bound parameters


# --------------------------------------------------------------------------- reading the rows


def read_rows(session: Session) -> Rows:
    """Every row the policy looks at, as the plain records retention.plan() takes."""
    changed_at = {}  # dossier id -> when the last "statut" event set its current status
    events = []
    for e in session.scalars(select(Event).order_by(Event.id)):
        events.append(retention.EventRow(e.id, e.dossier_id, e.inbound_id, e.kind, dict(e.detail or {})))
        if e.kind == "statut" and e.dossier_id is not None:
            changed_at.setdefault(e.dossier_id, []).append((e.detail.get("apres"), e.at))
    bilans: dict[int, list[retention.BilanRow]] = {}
    for b in session.scalars(select(Bilan)):
        bilans.setdefault(b.dossier_id, []).append(retention.BilanRow(b.year, b.due, b.received_at))
    avis_identity = set(session.scalars(select(AvisRequest.dossier_id).where(
        AvisRequest.answered_by.is_not(None) | AvisRequest.comment.is_not(None))))
    dossiers = []
    for d in session.scalars(select(Dossier).order_by(Dossier.id)):
        to_status = [at for status, at in changed_at.get(d.id, []) if status == d.status]
        dossiers.append(retention.DossierRow(
            d.id, d.reference, d.status, d.updated_at, d.decided_at, max(to_status, default=None),
            tuple(bilans.get(d.id, ())),
            identity=bool(d.porteur_email or d.coordinators or d.decision_comment or d.id in avis_identity)))
    versions = tuple(retention.VersionRow(v.id, v.dossier_id, v.inbound_id, dict(v.fields), list(v.findings),
                                          v.document_id)
                     for v in session.scalars(select(Version).order_by(Version.id)))
    messages = tuple(
        retention.MessageRow(m.id, m.classification, m.received_at, m.raw_path or "",
                             bool(m.from_addr or m.subject or m.message_id or m.detail))
        for m in session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
    documents = tuple(retention.DocumentRow(*row) for row in session.execute(
        select(Document.id, Document.dossier_id, Document.inbound_id, Document.stored_name).order_by(Document.id)))
    # The copy itself is not read: its length says whether it is still there.
    mails = tuple(
        retention.MailRow(i, dossier_id, inbound_id, status, created_at,
                          bool(raw_length or subject or first_recipient or last_error or recipients))
        for i, dossier_id, inbound_id, status, created_at, raw_length, subject, first_recipient, last_error, recipients
        in session.execute(select(Outbox.id, Outbox.dossier_id, Outbox.inbound_id, Outbox.status, Outbox.created_at,
                                  func.length(Outbox.raw), Outbox.subject, Outbox.first_recipient, Outbox.last_error,
                                  Outbox.recipients).order_by(Outbox.id)))
    return Rows(tuple(dossiers), versions, messages, documents, mails, tuple(events))


# --------------------------------------------------------------------------- the report


@dataclass
class Counts:
    messages: int = 0
    files: int = 0
    mails: int = 0


@dataclass
class DossierLine:
    reference: str
    status: str
    kept_until: date
    counts: Counts


@dataclass
class PurgeReport:
    today: date
    dry_run: bool
    dossiers: list[DossierLine] = field(default_factory=list)
    loose: Counts = field(default_factory=Counts)
    files_left_over: int = 0  # of earlier purges that ended before deleting their files

    @property
    def total(self) -> Counts:
        lines = [line.counts for line in self.dossiers] + [self.loose]
        return Counts(sum(c.messages for c in lines), sum(c.files for c in lines) + self.files_left_over,
                      sum(c.mails for c in lines))

    @property
    def nothing(self) -> bool:
        total = self.total
        return not (self.dossiers or total.messages or total.files or total.mails)

    def for_the_log(self) -> str:
        """Counts only: no reference, name, address or subject."""
        total = self.total
        return (f"{len(self.dossiers)} dossier(s), {total.messages} message(s), {total.files} file(s), "
                f"{total.mails} mail(s)")

    def lines(self) -> list[str]:
        """What the command prints, in French."""
        day = f"{self.today:%d/%m/%Y}"
        if self.nothing:
            return [f"Purge du {day} : rien à effacer, tout est encore dans sa durée de conservation."]
        total = self.total
        counted = (f"{plural(len(self.dossiers), 'dossier')}, {plural(total.messages, 'message')}, "
                   f"{plural(total.files, 'fichier')} et {plural(total.mails, 'courriel')}")
        lines = [f"Purge à blanc du {day} : seraient effacées les données personnelles de {counted}. "
                 "Rien n'a été modifié." if self.dry_run
                 else f"Purge du {day} : données personnelles effacées de {counted}."]
        for line in self.dossiers:
            lines.append(f"  {line.reference} ({STATUS_LABELS.get(line.status, line.status)}, conservé jusqu'au "
                         f"{line.kept_until:%d/%m/%Y}) : {_counted(line.counts)}")
        if self.loose.messages or self.loose.files or self.loose.mails:
            lines.append(f"  Sans dossier (messages laissés de côté ou non compris, courriels) : {_counted(self.loose)}")
        if self.files_left_over:
            lines.append(f"  Fichiers restés d'une purge interrompue : {self.files_left_over}")
        return lines


def _counted(counts: Counts) -> str:
    return f"{plural(counts.messages, 'message')}, {plural(counts.files, 'fichier')}, {plural(counts.mails, 'courriel')}"


# --------------------------------------------------------------------------- running


def run_purge(rt: Context, today: date, dry_run: bool = False, policy: Policy | None = None) -> PurgeReport:
    """Plan what `today` no longer allows to keep and, unless `dry_run`, delete it."""
    policy = policy or retention.load_policy()
    with rt.sessions() as session:
        planned = retention.plan(read_rows(session), policy, today)
    report = PurgeReport(today, dry_run)
    data_dir = rt.cfg.bot.data_dir
    if dry_run:
        _describe(report, planned)
        return report
    for leftover in planned.unfinished:
        report.files_left_over += _delete_files(rt.sessions, data_dir, leftover.event_id, leftover.files)
    for purge in planned.purges:
        event_id = _empty(rt.sessions, purge, policy)
        if event_id is None:
            continue  # the dossier changed since the rows were read: the next purge decides again
        counts = Counts(len(purge.messages), _delete_files(rt.sessions, data_dir, event_id, purge.files),
                        len(purge.mails))
        if purge.dossier_id is None:
            report.loose = counts
        else:
            report.dossiers.append(DossierLine(purge.reference, purge.status, purge.kept_until, counts))
    return report


def _describe(report: PurgeReport, planned: Plan) -> None:
    for purge in planned.dossiers:
        report.dossiers.append(DossierLine(purge.reference, purge.status, purge.kept_until,
                                           Counts(len(purge.messages), len(purge.files), len(purge.mails))))
    if planned.loose:
        loose = planned.loose
        report.loose = Counts(len(loose.messages), len(loose.files), len(loose.mails))
    report.files_left_over = sum(len(u.files) for u in planned.unfinished)


def _empty(sessions: sessionmaker[Session], purge: Purge, policy: Policy) -> int | None:
    """One transaction: the rows of `purge` lose their personal data, and an event says how
    much went. The id of that event, or None when the dossier is no longer as planned."""
    with sessions.begin() as session:
        dossier = None
        if purge.dossier_id is not None:
            dossier = session.get(Dossier, purge.dossier_id)
            if dossier is None or dossier.status != purge.status:
                return None
        for ids in _chunks(purge.messages):
            session.execute(update(InboundMessage).where(InboundMessage.id.in_(ids)).values(
                raw_path="", from_addr=None, subject="", message_id=None, detail={}))
        for ids in _chunks(purge.documents):
            session.execute(update(Bilan).where(Bilan.document_id.in_(ids)).values(document_id=None))
            session.execute(update(Version).where(Version.document_id.in_(ids)).values(document_id=None))
        for ids in _chunks(purge.versions):
            for version in session.scalars(select(Version).where(Version.id.in_(ids))):
                version.fields = retention.reduced_fields(version.fields, policy)
                version.findings, version.document_id = [], None
        session.flush()  # nothing names the documents any more
        for ids in _chunks(purge.documents):
            session.execute(delete(Document).where(Document.id.in_(ids)))
        for ids in _chunks(purge.mails):
            session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
                raw=b"", recipients=[], first_recipient="", recipient_key="", subject="", last_error=None))
        for ids in _chunks(purge.events):
            for event in session.scalars(select(Event).where(Event.id.in_(ids))):
                event.detail = retention.reduced_detail(event.detail, policy)
        if dossier is not None:
            # Who may change it (its known addresses) and who sent what waited for a confirmation.
            dossier.known_addresses = []
            # What still waited can no longer be applied: its message is emptied.
            session.execute(update(PendingChange).where(PendingChange.dossier_id == dossier.id, PendingChange.status == "attente")
                            .values(status="ecartee", settled_at=clock.now()))
            session.execute(update(PendingChange).where(PendingChange.dossier_id == dossier.id).values(sender=""))
        if dossier is not None and purge.identity:
            dossier.porteur_email, dossier.coordinators, dossier.decision_comment = None, [], None
            session.execute(update(AvisRequest).where(AvisRequest.dossier_id == dossier.id)
                            .values(answered_by=None, comment=None))
        detail = {"messages": len(purge.messages), "documents": len(purge.documents),
                  "versions": len(purge.versions), "courriels": len(purge.mails), "evenements": len(purge.events),
                  PENDING_FILES: list(purge.files)}
        if purge.kept_until is not None:
            detail["conserve_jusqu_au"] = purge.kept_until.isoformat()
        event = Event(dossier_id=purge.dossier_id, at=clock.now(), kind=PURGE_EVENT, detail=detail)
        session.add(event)
        session.flush()
        return event.id


def _delete_files(sessions: sessionmaker[Session], data_dir: Path, event_id: int, paths: Iterable[str]) -> int:
    """After the commit that emptied their rows: delete the files no row names any more,
    and record on the purge event how many went. The number of files deleted."""
    paths = sorted(set(paths))
    with sessions.begin() as session:
        # The event's update comes first: on SQLite it takes the write lock, which a poll
        # holds from its first write until its commit, files included. So no poll can be
        # between finding a file already stored (same content) and naming it in a row
        # while the names are checked and the files deleted.
        session.execute(update(Event).where(Event.id == event_id).values(kind=PURGE_EVENT))
        event = session.get(Event, event_id)
        named = _still_named(session, paths)
        deleted = 0
        for path in paths:
            if path in named:
                continue  # the same content came again meanwhile: it is that row's now
            target = data_dir / path
            if target.exists():
                target.unlink()
                deleted += 1
        detail = {k: v for k, v in event.detail.items() if k != PENDING_FILES}
        event.detail = {**detail, "fichiers": detail.get("fichiers", 0) + deleted}
    if deleted:
        log.info("purge: %d file(s) deleted", deleted)
    return deleted


def _still_named(session: Session, paths: list[str]) -> set[str]:
    named = set()
    for ids in _chunks(paths):
        named |= set(session.scalars(select(InboundMessage.raw_path).where(InboundMessage.raw_path.in_(ids))))
        named |= set(session.scalars(select(Document.stored_name).where(Document.stored_name.in_(ids))))
    return named


def _chunks(items: Iterable) -> Iterator[list]:
    items = list(items)
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
