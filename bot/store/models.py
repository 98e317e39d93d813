"""The database schema (SQLAlchemy 2). Alembic migrations in alembic/versions
are the source of truth; tests prove these models and the migrations agree."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(sa.types.TypeDecorator):
    """Aware datetimes stored as naive UTC (SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), list[Any]: sa.JSON()}


class MailboxCursor(Base):
    """Where polling of a mailbox resumes: UIDVALIDITY and the last UID handled, and
    the day it starts from (mailboxes.md: seven days before the first poll, recorded
    once and never moved; `[[mailbox]] since` overrides it)."""

    __tablename__ = "mailbox_cursor"
    mailbox: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_uid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime]
    start_date: Mapped[date | None]


class InboundMessage(Base):
    """Every message taken from a mailbox, with what it was and what was done."""

    __tablename__ = "inbound_message"
    __table_args__ = (sa.UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_message_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(sa.String(100))
    uidvalidity: Mapped[int] = mapped_column(sa.BigInteger)
    uid: Mapped[str] = mapped_column(sa.String(255))
    message_id: Mapped[str | None] = mapped_column(sa.String(998), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    raw_path: Mapped[str] = mapped_column(sa.String(255))
    from_addr: Mapped[str | None] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.Text, default="")
    received_at: Mapped[datetime]
    classification: Mapped[str] = mapped_column(sa.String(40))
    outcome: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Dossier(Base):
    __tablename__ = "dossier"
    __table_args__ = (sa.UniqueConstraint("year", "seq", name="uq_dossier_year_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(40), unique=True)
    year: Mapped[int]
    seq: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(40), index=True)
    mailbox: Mapped[str] = mapped_column(sa.String(100))
    coordinators: Mapped[list[Any]] = mapped_column(default=list)
    porteur_email: Mapped[str | None] = mapped_column(sa.String(320))
    # Who may change it (security.md): the sender and the référent of its first version,
    # and of each later version once confirmed; bot.mail.addresses.address_key of each.
    known_addresses: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    versions: Mapped[list[Version]] = relationship(back_populates="dossier", order_by="Version.number")
    events: Mapped[list[Event]] = relationship(back_populates="dossier", order_by="Event.id")
    documents: Mapped[list[Document]] = relationship(back_populates="dossier", order_by="Document.id")
    avis_requests: Mapped[list[AvisRequest]] = relationship(back_populates="dossier", order_by="AvisRequest.id")
    bilans: Mapped[list[Bilan]] = relationship(back_populates="dossier", order_by="Bilan.due")
    # The troïka's decision (status accepte / refuse), recorded by `citebot decide`.
    decided_at: Mapped[datetime | None]
    montant_accorde: Mapped[str | None] = mapped_column(sa.String(20))  # "1500.00": never a float
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def current(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    @property
    def avis(self) -> AvisRequest | None:
        return self.avis_requests[-1] if self.avis_requests else None


class Document(Base):
    """A file received: stored under data_dir by its SHA-256, never by its mail name."""

    __tablename__ = "document"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255), default="application/octet-stream")
    size: Mapped[int]
    role: Mapped[str] = mapped_column(sa.String(20))  # fiche | annexe
    dossier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dossier.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"), index=True)
    created_at: Mapped[datetime]
    dossier: Mapped[Dossier | None] = relationship(back_populates="documents")


class Version(Base):
    """One fiche projet received for a dossier, as read and validated."""

    __tablename__ = "version"
    __table_args__ = (sa.UniqueConstraint("dossier_id", "number", name="uq_version_dossier_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(sa.ForeignKey("dossier.id"))
    number: Mapped[int]
    # NULL once `citebot purge` has deleted the dossier's documents (rules/retention.toml).
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("document.id"))
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"))
    fields: Mapped[dict[str, Any]]
    findings: Mapped[list[Any]]
    valid: Mapped[bool]
    created_at: Mapped[datetime]
    dossier: Mapped[Dossier] = relationship(back_populates="versions")
    document: Mapped[Document | None] = relationship()


class Event(Base):
    """The audit trail: every change, with its time and cause."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dossier.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dossier: Mapped[Dossier | None] = relationship(back_populates="events")


class Outbox(Base):
    """Every mail the bot sends, queued in the transaction that decided it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    dossier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dossier.id"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"))
    recipients: Mapped[list[Any]]
    first_recipient: Mapped[str] = mapped_column(sa.String(320), index=True)  # for per-sender limits
    recipient_key: Mapped[str] = mapped_column(sa.String(320), index=True, default="", server_default="")
    subject: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # The process that claimed it while `sending` (bot.store.claims.me()): released at once
    # by the next process when that one is gone.
    claimed_by: Mapped[str | None] = mapped_column(sa.String(200))
    # A mail with several recipients, some refused: {address: "accepté" | "250 …" | "550 …" | "4xx …"}.
    delivery: Mapped[dict[str, Any] | None]
    # Loaded with the row when the ORM loads one (`dossiers show`, the tests); the paths that run
    # for every mail select only the columns they need.
    content: Mapped[OutboxContent] = relationship(cascade="all, delete-orphan", lazy="joined")

    @property
    def raw(self) -> bytes:
        """The message as sent (bytes, CRLF), kept in its own table (OutboxContent)."""
        return self.content.raw

    @raw.setter
    def raw(self, value: bytes) -> None:
        if self.content is None:
            self.content = OutboxContent(raw=value)
        else:
            self.content.raw = value


class OutboxContent(Base):
    """The bytes of an outbox mail, apart from its row. SQLite rewrites a whole record, its
    overflow pages included, on any UPDATE, and reads through them for every column stored after
    a large value: with the message in the row, each change of status (claimed, sent) copied
    some 60 KB, and each search of due mails read every queued message."""

    __tablename__ = "outbox_content"
    outbox_id: Mapped[int] = mapped_column(sa.ForeignKey("outbox.id"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)


class PendingChange(Base):
    """A version, a bilan or a letter naming a dossier, sent from an address the dossier
    does not know: applied only once a known address answers OUI to our question, or a
    coordinator confirms it (security.md). Its message is kept; nothing else changed."""

    __tablename__ = "pending_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(sa.ForeignKey("dossier.id"), index=True)
    inbound_id: Mapped[int] = mapped_column(sa.ForeignKey("inbound_message.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))  # version | bilan
    sender: Mapped[str] = mapped_column(sa.String(320))
    status: Mapped[str] = mapped_column(sa.String(20))  # attente | appliquee | ecartee
    question_message_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
    dossier: Mapped[Dossier] = relationship()


class AvisRequest(Base):
    """A request for the IEN's opinion on a dossier in school time, and its answer."""

    __tablename__ = "avis_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(sa.ForeignKey("dossier.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)  # in the subject; unguessable
    status: Mapped[str] = mapped_column(sa.String(20))  # demande | favorable | defavorable
    message_ids: Mapped[list[Any]] = mapped_column(default=list)  # our mails of this thread
    requested_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(sa.String(320))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    last_reminder_on: Mapped[date | None] = mapped_column(sa.Date)
    coordinators_alerted_on: Mapped[date | None] = mapped_column(sa.Date)
    dossier: Mapped[Dossier] = relationship(back_populates="avis_requests")


class Bilan(Base):
    """A financial report a dossier owes (mi-parcours for year N, définitif after the end)."""

    __tablename__ = "bilan"
    __table_args__ = (sa.UniqueConstraint("dossier_id", "kind", "year", name="uq_bilan_dossier_kind_year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(sa.ForeignKey("dossier.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # mi_parcours | definitif
    year: Mapped[int]
    due: Mapped[date] = mapped_column(sa.Date)
    received_at: Mapped[datetime | None]
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("document.id"))
    reminders_on: Mapped[list[Any]] = mapped_column(default=list)  # ISO dates of the reminders sent
    overdue_notified_on: Mapped[date | None] = mapped_column(sa.Date)
    dossier: Mapped[Dossier] = relationship(back_populates="bilans")


class DigestState(Base):
    """When each coordinator last received a digest: the next one tells what is new since."""

    __tablename__ = "digest_state"
    coordinator: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    last_sent_at: Mapped[datetime]


class CoordinatorCommand(Base):
    """One command of a coordinator (coordinators.md), by mail or from the CLI: waiting for
    its « OUI » (a mail that was not a reply to ours), applied, refused, or cancelled by
    ANNULER while its letters waited. `before` is what the dossier was, for ANNULER;
    `letters` the outbox rows it queued."""

    __tablename__ = "coordinator_command"
    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"))
    dossier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dossier.id"), index=True)
    sender: Mapped[str] = mapped_column(sa.String(320))  # "" from the CLI
    verb: Mapped[str] = mapped_column(sa.String(30))
    line: Mapped[str] = mapped_column(sa.Text)
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(20))  # a_confirmer | appliquee | refusee | annulee | expiree | ecartee
    question_message_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    letters: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]
    dossier: Mapped[Dossier | None] = relationship()
