"""What the data-protection rules no longer allow to keep (security.md, "Retention").

Pure: `plan(rows, policy, today)` takes the rows as plain records (`Rows`, read by
bot/dossier/purge.py, which also applies the plan) and returns the `Plan`: for each
closed dossier whose period is over, then for what belongs to no dossier, which rows
lose their personal data and which files go. No database, file or clock here; the
policy comes from rules/retention.toml (`load_policy`).

A message is never forgotten, only emptied: its position in the mailbox and its
SHA-256 stay, because they are what keeps it from being read and answered again (a
handled message stays in its mailbox; a Maildir offers every key at every poll).
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from bot.clock import PARIS
from bot.paths import rules_dir

# Mails nobody will send any more: their copy may go. Pending, held or sending ones wait.
FINISHED_MAILS = frozenset({"sent", "failed", "cancelled"})
PURGE_EVENT = "purge"
# In a purge event until its files are deleted (after the commit): what a crash left to do.
PENDING_FILES = "fichiers_a_effacer"


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class Policy:
    dossier_years: int
    closed_statuses: frozenset[str]
    keep_fields: frozenset[str]
    message_days: int
    message_classifications: frozenset[str]
    outbox_days: int
    event_detail_kept: frozenset[str]


@cache
def load_policy(folder: Path | None = None) -> Policy:
    """rules/retention.toml as a Policy; ValueError naming the key when a value is not of its kind."""
    with open((folder or rules_dir()) / "retention.toml", "rb") as f:
        data = tomllib.load(f)

    def number(section: str, key: str) -> int:
        value = data.get(section, {}).get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"rules/retention.toml : [{section}] {key} doit être un nombre entier positif")
        return value

    def words(section: str, key: str) -> frozenset[str]:
        value = data.get(section, {}).get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"rules/retention.toml : [{section}] {key} doit être une liste de mots")
        return frozenset(value)

    return Policy(
        dossier_years=number("dossiers", "years_after"),
        closed_statuses=words("dossiers", "closed_statuses"),
        keep_fields=words("dossiers", "keep_fields"),
        message_days=number("messages", "days"),
        message_classifications=words("messages", "classifications"),
        outbox_days=number("outbox", "days"),
        event_detail_kept=words("events", "keep_detail"),
    )


# --------------------------------------------------------------------------- the rows, as data


@dataclass(frozen=True)
class BilanRow:
    year: int
    due: date
    received_at: datetime | None = None


@dataclass(frozen=True)
class DossierRow:
    id: int
    reference: str
    status: str
    updated_at: datetime
    decided_at: datetime | None = None
    # When the last "statut" event set the status it has now (avis défavorable, sans suite…).
    status_changed_at: datetime | None = None
    bilans: tuple[BilanRow, ...] = ()
    # The porteur's or coordinators' addresses, the troïka's comment, the IEN's address or comment.
    identity: bool = False


@dataclass(frozen=True)
class VersionRow:
    id: int
    dossier_id: int
    inbound_id: int | None
    fields: dict[str, Any]
    findings: list[Any]
    document_id: int | None


@dataclass(frozen=True)
class MessageRow:
    id: int
    classification: str
    received_at: datetime
    raw_path: str
    described: bool  # sender, subject, Message-ID or detail still there


@dataclass(frozen=True)
class DocumentRow:
    id: int
    dossier_id: int | None
    inbound_id: int | None
    stored_name: str


@dataclass(frozen=True)
class MailRow:
    id: int
    dossier_id: int | None
    inbound_id: int | None
    status: str
    created_at: datetime
    has_copy: bool  # recipients, subject, raw bytes or the server's error text still there


@dataclass(frozen=True)
class EventRow:
    id: int
    dossier_id: int | None
    inbound_id: int | None
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Rows:
    dossiers: tuple[DossierRow, ...] = ()
    versions: tuple[VersionRow, ...] = ()
    messages: tuple[MessageRow, ...] = ()
    documents: tuple[DocumentRow, ...] = ()
    mails: tuple[MailRow, ...] = ()
    events: tuple[EventRow, ...] = ()


# --------------------------------------------------------------------------- what is due


@dataclass(frozen=True)
class Purge:
    """What one transaction empties: a dossier's personal data (`dossier_id`), or, with
    `dossier_id` None, the expired messages and mails that belong to no dossier."""

    dossier_id: int | None = None
    reference: str | None = None
    status: str | None = None
    kept_until: date | None = None
    messages: tuple[int, ...] = ()  # reduced to position and SHA-256
    documents: tuple[int, ...] = ()  # rows deleted
    versions: tuple[int, ...] = ()  # fields reduced to keep_fields; findings and document dropped
    mails: tuple[int, ...] = ()  # outbox rows without their copy
    events: tuple[int, ...] = ()  # details reduced to keep_detail
    files: tuple[str, ...] = ()  # relative to data_dir, deleted after the commit
    identity: bool = False

    @property
    def empty(self) -> bool:
        return not (self.messages or self.documents or self.versions or self.mails or self.events
                    or self.files or self.identity)


@dataclass(frozen=True)
class Unfinished:
    """A purge event whose files were not deleted yet (the process ended after its commit)."""

    event_id: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    dossiers: tuple[Purge, ...] = ()
    loose: Purge | None = None
    unfinished: tuple[Unfinished, ...] = ()

    @property
    def purges(self) -> tuple[Purge, ...]:
        return self.dossiers + ((self.loose,) if self.loose else ())

    @property
    def empty(self) -> bool:
        return not (self.purges or self.unfinished)


def paris_day(instant: datetime) -> date:
    return instant.astimezone(PARIS).date()


def reference_year(dossier: DossierRow) -> int:
    """The civil year the period runs from: the latest of the closure's and, for an
    accepted dossier, of each bilan's (year covered, due, received) — never earlier
    than anything the city may still have to check."""
    # The troïka's decision, or the change to the status it has now (avis défavorable, sans
    # suite); a dossier closed before either was recorded: its last change.
    closures = [at for at in (dossier.decided_at, dossier.status_changed_at) if at] or [dossier.updated_at]
    years = [paris_day(at).year for at in closures]
    for bilan in dossier.bilans:
        years += [bilan.year, bilan.due.year]
        if bilan.received_at:
            years.append(paris_day(bilan.received_at).year)
    return max(years)


def kept_until(dossier: DossierRow, policy: Policy) -> date | None:
    """The last day a closed dossier's personal data is kept; None while it is open."""
    if dossier.status not in policy.closed_statuses:
        return None
    return date(reference_year(dossier) + policy.dossier_years, 12, 31)


def dossier_expired(dossier: DossierRow, policy: Policy, today: date) -> bool:
    last = kept_until(dossier, policy)
    return last is not None and today > last


def message_expired(message: MessageRow, policy: Policy, today: date) -> bool:
    """A message of no dossier, left alone or not understood, kept `days` days after the day it came."""
    return (message.classification in policy.message_classifications
            and (today - paris_day(message.received_at)).days > policy.message_days)


def mail_expired(mail: MailRow, policy: Policy, today: date) -> bool:
    return mail.status in FINISHED_MAILS and (today - paris_day(mail.created_at)).days > policy.outbox_days


def reduced_fields(fields: dict[str, Any], policy: Policy) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if key in policy.keep_fields}


def reduced_detail(detail: dict[str, Any], policy: Policy) -> dict[str, Any]:
    return {key: value for key, value in detail.items() if key in policy.event_detail_kept}


def _event_to_reduce(event: EventRow, policy: Policy) -> bool:
    # A purge event holds counts and content-addressed file names only: it is ours to finish.
    return event.kind != PURGE_EVENT and reduced_detail(event.detail, policy) != event.detail


def _version_to_reduce(version: VersionRow, policy: Policy) -> bool:
    return (reduced_fields(version.fields, policy) != version.fields or bool(version.findings)
            or version.document_id is not None)


def plan(rows: Rows, policy: Policy, today: date) -> Plan:
    """What is due for deletion on `today`: data in, data out."""
    links = _dossiers_of_messages(rows)
    expired = {d.id for d in rows.dossiers if dossier_expired(d, policy, today)}
    files = _FileReferences(rows)
    of_dossier = {name: _by(getattr(rows, name), "dossier_id") for name in ("versions", "documents", "mails", "events")}
    # What belongs to no dossier hangs on its message (documents, events) or on our mail (events).
    loose_documents = _by((d for d in rows.documents if d.dossier_id is None), "inbound_id")
    loose_events = _by((e for e in rows.events if e.dossier_id is None), "inbound_id")
    events_of_mail = _by((e for e in rows.events if e.dossier_id is None and "outbox_id" in e.detail),
                         lambda e: e.detail["outbox_id"])
    # A message of several dossiers (several fiches in one mail) goes with the last of them to expire.
    owned = _by((m for m in rows.messages if links.get(m.id) and links[m.id] <= expired),
                lambda m: max(links[m.id]))

    def emptied(messages: list[MessageRow]) -> tuple[int, ...]:
        return _ids(m for m in messages if m.raw_path or m.described)

    dossiers = []
    for dossier in sorted((d for d in rows.dossiers if d.id in expired), key=lambda d: d.id):
        messages = owned.get(dossier.id, [])
        documents = of_dossier["documents"].get(dossier.id, []) + [
            d for m in messages for d in loose_documents.get(m.id, [])]
        events = of_dossier["events"].get(dossier.id, []) + [e for m in messages for e in loose_events.get(m.id, [])]
        purge = Purge(
            dossier_id=dossier.id, reference=dossier.reference, status=dossier.status,
            kept_until=kept_until(dossier, policy),
            messages=emptied(messages),
            documents=_ids(documents),
            versions=_ids(v for v in of_dossier["versions"].get(dossier.id, []) if _version_to_reduce(v, policy)),
            mails=_ids(m for m in of_dossier["mails"].get(dossier.id, [])
                       if m.status in FINISHED_MAILS and m.has_copy),
            events=_ids(e for e in events if _event_to_reduce(e, policy)),
            files=files.released(messages, documents),
            identity=dossier.identity,
        )
        if not purge.empty:
            dossiers.append(purge)

    messages = [m for m in rows.messages if not links.get(m.id) and message_expired(m, policy, today)]
    documents = [d for m in messages for d in loose_documents.get(m.id, [])]
    mails = [m for m in of_dossier["mails"].get(None, []) if mail_expired(m, policy, today)]
    events = {e.id: e for e in (*(e for m in messages for e in loose_events.get(m.id, [])),
                                *(e for m in mails for e in events_of_mail.get(m.id, [])))}
    loose = Purge(
        messages=emptied(messages),
        documents=_ids(documents),
        mails=_ids(m for m in mails if m.has_copy),
        events=_ids(e for e in events.values() if _event_to_reduce(e, policy)),
        files=files.released(messages, documents),
    )
    unfinished = tuple(Unfinished(e.id, tuple(e.detail[PENDING_FILES])) for e in rows.events
                       if e.kind == PURGE_EVENT and e.detail.get(PENDING_FILES))
    return Plan(tuple(dossiers), None if loose.empty else loose, unfinished)


def _by(rows: Iterable, key) -> dict:
    """Rows grouped by an attribute's value (or a function's)."""
    grouped: dict = defaultdict(list)
    for row in rows:
        grouped[key(row) if callable(key) else getattr(row, key)].append(row)
    return grouped


def _ids(rows: Iterable) -> tuple[int, ...]:
    return tuple(sorted(row.id for row in rows))


def _dossiers_of_messages(rows: Rows) -> dict[int, set[int]]:
    """The dossiers each message belongs to: through its versions, documents, events and our answers."""
    links: dict[int, set[int]] = defaultdict(set)
    for row in (*rows.versions, *rows.documents, *rows.events, *rows.mails):
        if row.inbound_id is not None and row.dossier_id is not None:
            links[row.inbound_id].add(row.dossier_id)
    return links


class _FileReferences:
    """Files are content-addressed: one file may stand for several rows (the same message in
    two mailboxes, the same annex in two dossiers). A file goes with the last row naming it."""

    def __init__(self, rows: Rows):
        self.names: dict[str, set[tuple[str, int]]] = defaultdict(set)  # path -> the rows naming it
        for message in rows.messages:
            if message.raw_path:
                self.names[message.raw_path].add(("message", message.id))
        for document in rows.documents:
            if document.stored_name:
                self.names[document.stored_name].add(("document", document.id))

    def released(self, messages: Iterable[MessageRow], documents: Iterable[DocumentRow]) -> tuple[str, ...]:
        """The files no row names any more once these rows (and those of earlier purges) are emptied."""
        touched = set()
        for path, row in [*((m.raw_path, ("message", m.id)) for m in messages),
                          *((d.stored_name, ("document", d.id)) for d in documents)]:
            if path:
                self.names[path].discard(row)
                touched.add(path)
        return tuple(sorted(path for path in touched if not self.names[path]))
