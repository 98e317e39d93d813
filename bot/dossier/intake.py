"""One path per message: classify, then handle, in one transaction.

The caller (bot/poller.py) fetched the raw bytes (only the header of a message
too large to download: `Intake.handle_too_large`) and will mark the message in
its mailbox only after this transaction is committed. Everything the message
causes (inbound record, dossier, version, documents, events, queued mails) is
written here, together, or not at all.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cache, cached_property
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import clock
from bot.config import Config, MailboxConfig
from bot.dossier import avis, bilans, coordination
from bot.dossier.reading import File, read_files
from bot.dossier.references import find_references, format_reference
from bot.dossier.relevance import Candidate, about_the_call, first_lines, load_call_words
from bot.dossier.trust import another_project, answer_address, first_known, is_known, with_version
from bot.form.check import CheckResult
from bot.form.consent import build_consent_form
from bot.form.report import display_value, json_value
from bot.form.template import build_template
from bot.form.values import format_amount
from bot.mail.addresses import address_key
from bot.mail.compose import Attachment, Mail
from bot.mail.outbox import enqueue
from bot.mail.parse import Incoming, parse_message
from bot.mail.reply import new_text, words_of
from bot.rules import Rules
from bot.store import files as stored_files
from bot.store.models import Document, Dossier, Event, InboundMessage, Outbox, PendingChange, Version
from bot.text import plural_label

log = logging.getLogger(__name__)

# Before the troïka decides, a new version re-decides the status.
OPEN_STATUSES = {"incomplet", "en_attente_avis", "pret_troika"}
# Decided or closed: a new version is recorded, the status stands (the acknowledgement says so).
SETTLED = {"accepte": "accepté", "refuse": "refusé", "sans_suite": "classé sans suite"}
# Answers to what is not a fiche: at most limits.auto_replies_per_sender_per_day a day, together.
LIMITED_REPLIES = ("format_incorrect", "fiche_non_reconnue", "message_trop_volumineux", "confirmation_attendue",
                   "statut_indisponible", "fichier_deja_recu")
CONFIRMATION_WORDS = 8  # OUI or NON is looked for among the first words of the reply
# What a change waiting for confirmation is, in the mails' words (and its gender).
PENDING_WHAT = {"version": ("une nouvelle version de la fiche projet", True), "bilan": ("un bilan", False)}
# The outcome when the outbox refused the only recipient of our answer (a robot's address, our own…).
NOBODY_TO_ANSWER = "destinataire_ecarte"
# The outcome of a message left alone — a `personnel` mailbox's mail that is not
# about the call, old mail without a fiche during a backfill: recorded by its
# position and hash only (bot/poller.py stores nothing else of it).
LEFT_ALONE = "ignore"
OUTSIDE_THE_CALL = ("hors_appel", LEFT_ALONE)
OLD_MAIL = ("ancien", LEFT_ALONE)


@dataclass(frozen=True)
class Backfill:
    """`citebot backfill`: old mail, taken for its fiches only; porteurs are mailed
    only when `answer` (mailboxes.md)."""

    answer: bool = False
_STATUS_REQUEST = re.compile(r"^\s*(?:(?:re|tr|fwd?)\s*:\s*)*statut\b", re.I)


@dataclass
class Intake:
    """What one message needs to be handled: configuration, rules, the session."""

    cfg: Config
    rules: Rules
    session: Session
    mailbox: MailboxConfig
    inbound: InboundMessage
    message: Incoming
    backfill: Backfill | None = None
    vouched: Dossier | None = None  # a change to this dossier was confirmed (bot.dossier.trust)
    files: list[File] = field(default_factory=list)
    left_over: list[str] = field(default_factory=list)  # fiches over limits.fiches_per_message

    # -- small lookups ------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.cfg.bot.data_dir

    @property
    def sender(self) -> str | None:
        """Where answers go: From, or Reply-To within From's domain or known for the dossier."""
        known = self.referred.known_addresses if self.referred is not None else ()
        return answer_address(self.message.from_addr, self.message.reply_to, known)

    @cached_property
    def referred(self) -> Dossier | None:
        return self.referred_dossier()

    def trusted(self, dossier: Dossier) -> bool:
        """May this message change `dossier`? Its From is known for it, or a change was confirmed."""
        return dossier is self.vouched or is_known(dossier.known_addresses, self.message.from_addr, self.cfg)

    @cached_property
    def now(self) -> datetime:
        return clock.now()

    def referred_dossier(self) -> Dossier | None:
        """The dossier a message refers to: a reference in its subject, or a reply to one of our mails."""
        for reference in find_references(self.message.subject, self.cfg.bot.reference_prefix):
            dossier = self.session.scalar(select(Dossier).where(Dossier.reference == reference))
            if dossier:
                return dossier
        ids = [i for i in (self.message.in_reply_to, *self.message.references) if i]
        if ids:
            dossier_id = self.session.scalar(
                select(Outbox.dossier_id).where(Outbox.message_id.in_(ids), Outbox.dossier_id.is_not(None))
            )
            if dossier_id:
                return self.session.get(Dossier, dossier_id)
        return None

    def event(self, kind: str, dossier: Dossier | None = None, **detail) -> None:
        self.session.add(Event(dossier=dossier, inbound_id=self.inbound.id, at=self.now, kind=kind, detail=detail))

    def keep(self, file: File, role: str, dossier: Dossier | None = None) -> Document:
        att = file.attachment
        stored = stored_files.store_document(self.data_dir, att.data, att.filename, file.sha256) if not att.too_large else ""
        document = Document(sha256=file.sha256, original_name=att.filename[:255], stored_name=stored,
                            content_type=att.content_type[:255], size=att.size, role=role, dossier=dossier,
                            inbound_id=self.inbound.id, created_at=self.now)
        self.session.add(document)
        return document

    def reply(self, mail: Mail, dossier: Dossier | None = None) -> bool:
        """Queue an answer; False when the outbox refused every recipient (a robot's,
        our own…). During a backfill without --answer, only its trace is kept."""
        if self.backfill is not None and not self.backfill.answer:
            self.event("reponse_non_envoyee", dossier, courriel=mail.kind, motif="reprise")
            return True
        return enqueue(self.session, mail, self.cfg, dossier_id=dossier.id if dossier else None,
                       inbound_id=self.inbound.id) is not None

    def threading(self) -> dict:
        own = self.message.message_id
        return {"in_reply_to": own, "references": tuple(r for r in (*self.message.references, own) if r)}

    # -- the outcomes -------------------------------------------------------
    def handle(self) -> tuple[str, str]:
        """(classification, outcome) of the message, everything it causes added to the session."""
        message = self.message
        if self.mailbox.mode == "personnel" and not self._about_the_call():
            # Someone's own inbox: what is not about the call is none of our business.
            return OUTSIDE_THE_CALL
        if self.backfill is not None:  # old mail: its fiches are taken, everything else left alone
            self.files = self.files or read_files(message, self.rules)
            if message.auto or self._from_ourselves() or not any(f.is_fiche for f in self.files):
                return OLD_MAIL
        if message.auto or self._from_ourselves():
            # Which mark made it a robot's, for whoever wonders why it got no answer.
            robot = ({"reason": message.auto.reason, "marker": message.auto.marker} if message.auto
                     else {"reason": "ourselves"})
            self.inbound.detail = {**self.inbound.detail, "robot": robot}
            return "automatique", "enregistre"
        self.files = self.files or read_files(message, self.rules)
        request = avis.match_request(self.session, message, self.cfg.bot.reference_prefix)
        if request is not None:  # never a submission, even when it carries the fiche back
            return "reponse_avis", avis.handle_reply(self._reply_context(), request)
        if (change := self._confirmation_answered()) is not None:
            return "confirmation", self._settle(change)
        fiches = [f for f in self.files if f.is_fiche]
        # A coordinator's commands (or someone else's, refused): bot/dossier/coordination.py.
        if (routed := coordination.route(self, bool(fiches), bool(self.files))) is not None:
            return routed
        referred = self.referred
        if fiches:
            return ("version_corrigee" if referred else "depot"), self._file_fiches(fiches, referred)
        if self._is_status_request():
            return "demande_statut", self._answer_status(self._status_request())
        if referred:
            if self._is_bilan(referred):
                if not self.trusted(referred):
                    return "bilan", self._hold(referred, "bilan")
                return "bilan", self._receive_bilan(referred)
            if not self.trusted(referred):
                return "courrier", self._keep_unfiled(referred)
            return "courrier", self._attach_correspondence(referred)
        if not self.sender:
            for file in self.files:
                self.keep(file, "annexe")
            return "sans_expediteur", "enregistre"
        failed = [f for f in self.files if f.is_failed_word]
        if failed:
            return "fiche_non_reconnue", self._answer_not_a_fiche(failed)
        return "format_incorrect", self._answer_wrong_format()

    def handle_too_large(self, size: int) -> tuple[str, str]:
        """A message over limits.max_message_mb, never downloaded: `message` was read from its
        header alone. Recorded; its sender is told how to send the fiche alone, within the daily
        limit of such answers, and never when a robot or ourselves sent it."""
        if self.backfill is not None:
            return OLD_MAIL  # whether it holds a fiche cannot be known without reading it
        if self.mailbox.mode == "personnel" and not (self._about_the_call()
                                                     or load_call_words().used_in(self.message.subject)):
            return OUTSIDE_THE_CALL  # judged from its header: a reference, a reply to us, the call's words
        limit = self.cfg.limits.max_message_mb * 1024 * 1024
        self.inbound.detail = {**self.inbound.detail, "size": size, "max_bytes": limit}
        if self.message.auto or self._from_ourselves():
            return "automatique", "enregistre"  # as any robot's mail; its size is in the detail
        if not self.sender:
            return "trop_volumineux", "enregistre"
        if not self._within_reply_limit():
            return "trop_volumineux", "limite_atteinte"
        answered = self.reply(Mail(kind="message_trop_volumineux", to=(self.sender,), reply_to=self.mailbox.address,
                                   **self.threading(),
                                   context={"subject": self.message.subject, "size": size, "limit": limit,
                                            "bot_name": self.cfg.bot.name}))
        return "trop_volumineux", "reponse_envoyee" if answered else NOBODY_TO_ANSWER

    def _about_the_call(self) -> bool:
        """mailboxes.md, "Two modes": the cheap questions first, the files last."""
        message = self.message
        refers_to_us = bool(find_references(message.subject, self.cfg.bot.reference_prefix)) or self._answers_us()
        status_request = any(_STATUS_REQUEST.match(line or "") for line in (message.subject, _first_line(message)))
        if refers_to_us or status_request:
            return True
        if coordination.is_coordinator(self.cfg, message.from_addr) and coordination.has_commands(message, self.cfg):
            return True
        if not message.attachments:
            return False
        self.files = self.files or read_files(message, self.rules)
        candidates = [Candidate(f.attachment.filename, f.is_fiche, f.is_failed_word) for f in self.files]
        return about_the_call(subject=message.subject, text=message.text or "", files=candidates,
                              refers_to_us=False, status_request=False) is not None

    def _answers_us(self) -> bool:
        """In-Reply-To or References name a mail we sent (any kind: acknowledgement, digest, note…)."""
        ids = [i for i in (self.message.in_reply_to, *self.message.references) if i]
        return bool(ids) and self.session.scalar(select(Outbox.id).where(Outbox.message_id.in_(ids)).limit(1)) is not None

    def _reply_context(self) -> avis.ReplyContext:
        def keep_attachments(dossier: Dossier) -> None:
            for file in self.files:
                self.keep(file, "annexe", dossier)

        return avis.ReplyContext(self.session, self.cfg, self.message, keep_attachments, self.event, self.threading())

    def _from_ourselves(self) -> bool:
        return self.message.from_addr == self.cfg.bot.address.lower() or "x-citebot-kind" in self.message.headers

    def _file_fiches(self, fiches: list[File], referred: Dossier | None) -> str:
        outcomes = []
        dossiers: list[Dossier] = []  # changed by this message
        held: list[Dossier] = []  # waiting for a confirmation: untouched
        limit = self.cfg.limits.fiches_per_message
        if len(fiches) > limit:
            # One message never makes more than `limit` dossiers (and as many mails to the
            # IEN); the others are named in each acknowledgement, to be sent again.
            self.left_over = [f.attachment.filename for f in fiches[limit:]]
            self.inbound.detail = {**self.inbound.detail, "fiches_non_traitees": self.left_over}
            fiches = fiches[:limit]
        for file in fiches:
            earlier = self.session.scalar(
                select(Version).join(Document, Version.document_id == Document.id)
                .where(Document.sha256 == file.sha256).order_by(Version.id)
            )
            if earlier is not None:
                outcomes.append(self._already_received(file, earlier))
                continue
            # A fiche about a dossier is its new version, whatever its status (a decided
            # dossier keeps its decision: _add_version only moves open statuses) — when it
            # comes from a known address; from another, it waits for a confirmation, unless
            # it is another project altogether (someone else's reference: a new dossier).
            here = referred if referred is not None and referred not in dossiers + held else None
            if here is not None and not self.trusted(here):
                if not another_project(here.current.fields if here.current else {}, json_value(file.result.fields)):
                    outcomes.append(self._hold(here, "version"))
                    held.append(here)  # its other fiches, if any, are new dossiers
                    continue
                here = None
            if here is not None:
                dossier = here
                outcomes.append("nouvelle_version")
            else:
                dossier = self._new_dossier(file.result)
                outcomes.append("dossier_cree")
            self._add_version(dossier, file)
            dossiers.append(dossier)
        for file in self.files:
            if not file.is_fiche:
                for dossier in dossiers:
                    self.keep(file, "annexe", dossier)
        if len(set(outcomes)) == 1:
            return outcomes[0]
        self.inbound.detail = {**self.inbound.detail, "fiches": outcomes}  # one outcome per fiche, in order
        return "plusieurs_issues"

    def _already_received(self, file: File, earlier: Version) -> str:
        dossier = earlier.dossier
        first = self.session.get(InboundMessage, earlier.inbound_id) if earlier.inbound_id else None
        if first is not None and self.message.message_id and first.message_id == self.message.message_id:
            # The same message sent to several of our mailboxes: one dossier, one answer.
            self.event("copie_recue", dossier, mailbox=self.mailbox.name)
            return "copie"
        self.event("deja_recu", dossier, filename=file.attachment.filename)
        if not self.trusted(dossier):
            # Someone else's fiche: that it was received, and nothing about its dossier.
            if self.sender and self._within_reply_limit():
                self.reply(Mail(kind="fichier_deja_recu", to=(self.sender,), reply_to=self.mailbox.address,
                                **self.threading(),
                                context={"filename": file.attachment.filename, "bot_name": self.cfg.bot.name}))
            return "deja_recu"
        current = dossier.current
        errors = [f for f in current.findings if f["severity"] == "error"] if current else []
        if self.sender:
            self.reply(Mail(
                kind="deja_recu", to=(self.sender,), reply_to=self._mailbox_address(dossier), **self.threading(),
                context={"reference": dossier.reference, "intitule": _title(current.fields if current else {}),
                         "filename": file.attachment.filename, "first_received_at": earlier.created_at,
                         "errors_count": len(errors), "bot_name": self.cfg.bot.name},
            ), dossier)
        return "deja_recu"

    def _new_dossier(self, result: CheckResult) -> Dossier:
        year = self.now.astimezone(clock.PARIS).year
        seq = (self.session.scalar(select(func.max(Dossier.seq)).where(Dossier.year == year)) or 0) + 1
        target = self.cfg.mailbox_for_porteur_type(result.fields.get("type_porteur")) or self.mailbox
        dossier = Dossier(
            reference=format_reference(self.cfg.bot.reference_prefix, year, seq), year=year, seq=seq,
            status="nouveau", mailbox=target.name, coordinators=list(target.coordinators),
            porteur_email=(self.sender or "")[:320] or None, created_at=self.now, updated_at=self.now,
            known_addresses=first_known(self.message.from_addr, json_value(result.fields)),
            versions=[],  # known to be empty: never loaded from the database
        )
        if self.sender and self.sender != self.message.from_addr:
            dossier.known_addresses = with_version(dossier.known_addresses, self.sender, {})
        self.session.add(dossier)
        self.session.flush()
        self.event("dossier_cree", dossier, mailbox_recu=self.mailbox.name, mailbox=target.name,
                   **({"repris": True} if self.backfill is not None else {}))
        return dossier

    def _add_version(self, dossier: Dossier, file: File) -> None:
        result = file.result
        document = self.keep(file, "fiche", dossier)
        self.session.flush()
        number = len(dossier.versions) + 1
        version = Version(
            dossier=dossier, number=number, document_id=document.id, inbound_id=self.inbound.id,
            fields=json_value(result.fields), findings=[f.as_dict() for f in result.findings],
            valid=result.valid, created_at=self.now,
        )
        self.session.add(version)
        self.event("version_recue", dossier, version=number, valid=result.valid,
                   errors=sum(f.severity == "error" for f in result.findings))
        if dossier.status in OPEN_STATUSES | {"nouveau", "avis_defavorable"}:
            self._set_status(dossier, self._status_for(dossier, result), f"version {number}")
        dossier.updated_at = self.now
        if self.sender:
            self.reply(self._acknowledgement(dossier, number, result), dossier)
        if dossier.status in SETTLED:  # the decision stands: the coordinators are told (coordinators.md)
            avis.note_coordinators(self.session, self.cfg, dossier, "Nouvelle version d'un dossier déjà "
                                   + ("classé" if dossier.status == "sans_suite" else "décidé"),
                                   f"Le porteur a envoyé la version {number} de sa fiche alors que le dossier est "
                                   f"« {SETTLED[dossier.status]} ». Ce statut reste enregistré ; pour réexaminer le "
                                   f"dossier, répondez ROUVRIR {dossier.reference}.")
        if result.valid and self._needs_avis(result):
            self.session.flush()
            avis.new_version_sent(self.session, self.cfg, self.rules, dossier)

    def _status_for(self, dossier: Dossier, result: CheckResult) -> str:
        """incomplet until valid; then the avis decides for school time (an avis given stands)."""
        if not result.valid:
            return "incomplet"
        if not self._needs_avis(result):
            return "pret_troika"
        given = dossier.avis.status if dossier.avis else "demande"
        return {"favorable": "pret_troika", "defavorable": "avis_defavorable"}.get(given, "en_attente_avis")

    def _needs_avis(self, result: CheckResult) -> bool:
        params = self.rules.check("avis_requis").params
        return params["option"] in (result.fields.get(params["field"]) or [])

    def _set_status(self, dossier: Dossier, status: str, cause: str) -> None:
        if dossier.status != status:
            self.event("statut", dossier, avant=dossier.status, apres=status, cause=cause)
            dossier.status = status

    def _mailbox_address(self, dossier: Dossier) -> str:
        return (self.cfg.mailbox(dossier.mailbox) or self.mailbox).address

    def _acknowledgement(self, dossier: Dossier, number: int, result: CheckResult) -> Mail:
        rules, fields = self.rules, result.fields
        target = self.cfg.mailbox(dossier.mailbox) or self.mailbox
        routed = None
        if target.name != self.mailbox.name:
            routed = {"team": _team(target, rules), "address": target.address}
        attachments = ()
        if fields.get("photos_mineurs"):
            name, data = build_consent_form(fields.get("intitule") or "", fields.get("structure") or "",
                                            dossier.reference)
            attachments = (Attachment(name, data),)
        return Mail(
            kind="accuse_reception", to=(self.sender,), reply_to=target.address, attachments=attachments,
            **self.threading(),
            context={
                "reference": dossier.reference, "version": number, "intitule": _title(fields),
                "referent": fields.get("referent_nom") or "", "received_at": self.now,
                "received_by": self.mailbox.address, "routed_to": routed,
                "errors": [f.message for f in result.findings if f.severity == "error"],
                # Warnings the mail already explains in its own sections are not repeated.
                "notes": [f.message for f in result.findings
                          if f.severity == "warning" and f.code not in ("avis_requis", "photos_mineurs")],
                "summary": [(plural_label(f.label), _short(display_value(fields[f.key], rules, f.key)))
                            for f in rules.fields],
                "avis_needed": self._needs_avis(result), "photos_mineurs": bool(fields.get("photos_mineurs")),
                "mention": rules.communication["mention"], "logos": rules.communication["logos"],
                "cap": format_amount(rules.materiel_max_unit_price, cents=False), "bot_name": self.cfg.bot.name,
                "left_over": self.left_over, "fiches_per_message": self.cfg.limits.fiches_per_message,
                "settled": SETTLED.get(dossier.status), "unopened": self._unopened(),
            },
        )

    # -- bilans and status requests (accepted dossiers, porteurs' questions) --------------
    def _is_bilan(self, dossier: Dossier) -> bool:
        return (dossier.status == "accepte" and bilans.next_owed(dossier) is not None
                and any(bilans.accepts(f.attachment.filename) for f in self.files))

    def _receive_bilan(self, dossier: Dossier) -> str:
        bilan = bilans.next_owed(dossier)
        documents = [f for f in self.files if bilans.accepts(f.attachment.filename)]
        stored = [self.keep(f, "bilan", dossier) for f in documents]
        for file in self.files:
            if file not in documents:
                self.keep(file, "annexe", dossier)
        self.session.flush()
        bilan.received_at, bilan.document_id = self.now, stored[0].id
        self.event("bilan_recu", dossier, bilan=bilan.kind, annee=bilan.year,
                   fichiers=[f.attachment.filename for f in documents])
        if self.sender:
            fields = dossier.current.fields
            remaining = [b for b in bilans.describe(dossier.bilans) if b["received_at"] is None]
            self.reply(Mail(kind="bilan_recu", to=(self.sender,), reply_to=self._mailbox_address(dossier),
                            **self.threading(),
                            context={"reference": dossier.reference, "intitule": _title(fields),
                                     "bilan": bilans.label(bilan.kind), "year": bilan.year,
                                     "received_at": self.now, "filename": documents[0].attachment.filename,
                                     "remaining": remaining, "bot_name": self.cfg.bot.name}), dossier)
        return "bilan_enregistre"

    # -- changes from an unknown address (security.md) ------------------------
    def _hold(self, dossier: Dossier, kind: str) -> str:
        """Nothing changes: the known addresses are asked, the sender told, the message kept."""
        change = PendingChange(dossier=dossier, inbound_id=self.inbound.id, kind=kind,
                               sender=(self.message.from_addr or "")[:320], status="attente", created_at=self.now)
        self.session.add(change)
        self.event("confirmation_demandee", dossier, quoi=kind)
        what, feminine = PENDING_WHAT[kind]
        fields = dossier.current.fields if dossier.current else {}
        question = enqueue(self.session, Mail(
            kind="confirmation_demandee", to=tuple(dossier.known_addresses), reply_to=self._mailbox_address(dossier),
            context={"reference": dossier.reference, "intitule": _title(fields), "what": what, "feminine": feminine,
                     "sender": self.message.from_addr, "received_at": self.now, "bot_name": self.cfg.bot.name},
        ), self.cfg, dossier_id=dossier.id, inbound_id=self.inbound.id) if dossier.known_addresses else None
        change.question_message_id = question.message_id if question is not None else None
        if self.sender and self._within_reply_limit():
            self.reply(Mail(kind="confirmation_attendue", to=(self.sender,), reply_to=self.mailbox.address,
                            **self.threading(),
                            context={"subject": self.message.subject, "bot_name": self.cfg.bot.name}))
        return "confirmation_demandee"

    def _keep_unfiled(self, dossier: Dossier) -> str:
        """A letter naming a dossier from an address it does not know: kept for the
        coordinators, not filed with the dossier, and no answer that would say anything of it."""
        for file in self.files:
            self.keep(file, "annexe")
        return "courrier_non_rattache"

    def _confirmation_answered(self) -> PendingChange | None:
        """The change this message answers our question about (In-Reply-To / References)."""
        ids = [i for i in (self.message.in_reply_to, *self.message.references) if i]
        if not ids:
            return None
        return self.session.scalar(select(PendingChange).where(PendingChange.question_message_id.in_(ids))
                                   .order_by(PendingChange.id.desc()).limit(1))

    def _settle(self, change: PendingChange) -> str:
        """OUI from a known address applies the change, NON sets it aside; anything else,
        or anyone else, changes nothing (the coordinators see it in their digest)."""
        dossier = change.dossier
        if change.status != "attente" or not is_known(dossier.known_addresses, self.message.from_addr, self.cfg):
            self.event("confirmation_ignoree", dossier, pending_id=change.id)
            return "confirmation_ignoree"
        answer = _yes_or_no(self.message.text or "")
        if answer is None:
            self.event("confirmation_incomprise", dossier, pending_id=change.id)
            return "confirmation_incomprise"
        applied = answer == "oui"
        outcome = apply_pending(self.cfg, self.rules, self.session, change) if applied else set_aside(self.session, change)
        what, feminine = PENDING_WHAT[change.kind]
        fields = dossier.current.fields if dossier.current else {}
        self.reply(Mail(kind="confirmation_enregistree", to=(self.message.from_addr,),
                        reply_to=self._mailbox_address(dossier), **self.threading(),
                        context={"reference": dossier.reference, "intitule": _title(fields), "applied": applied,
                                 "what": what, "feminine": feminine, "sender": change.sender,
                                 "bot_name": self.cfg.bot.name}), dossier)
        return outcome

    def _is_status_request(self) -> bool:
        """'statut CE-2026-0007' in the subject or on the first line of the message."""
        return any(_STATUS_REQUEST.match(line or "") and find_references(line, self.cfg.bot.reference_prefix)
                   for line in (self.message.subject, _first_line(self.message)))

    def _status_request(self) -> Dossier | None:
        """The dossier a status request names, when there is one."""
        for line in (self.message.subject, _first_line(self.message)):
            if _STATUS_REQUEST.match(line or ""):
                for reference in find_references(line, self.cfg.bot.reference_prefix):
                    dossier = self.session.scalar(select(Dossier).where(Dossier.reference == reference))
                    if dossier is not None:
                        return dossier
        return None

    def _answer_status(self, dossier: Dossier | None) -> str:
        """Where the dossier stands, to a known address only; an unknown reference and a
        foreign one get the same answer, so that nobody learns which references exist."""
        from bot.dossier.views import STATUS_LABELS

        if dossier is None or not is_known(dossier.known_addresses, self.message.from_addr, self.cfg):
            if dossier is not None:
                self.event("statut_refuse", dossier)
            if not self.message.from_addr or not self._within_reply_limit():
                return "statut_refuse"
            queued = self.reply(Mail(kind="statut_indisponible", to=(self.message.from_addr,),
                                     reply_to=self.mailbox.address, **self.threading(),
                                     context={"subject": self.message.subject, "bot_name": self.cfg.bot.name}))
            return "statut_refuse" if queued else NOBODY_TO_ANSWER
        current = dossier.current
        given = dossier.avis
        queued = self.reply(Mail(kind="statut_dossier", to=(self.message.from_addr,),
                        reply_to=self._mailbox_address(dossier), **self.threading(),
                        context={"reference": dossier.reference, "intitule": _title(current.fields),
                                 "now": self.now, "status": STATUS_LABELS.get(dossier.status, dossier.status),
                                 "version": current.number, "version_received_at": current.created_at,
                                 "errors": [f["message"] for f in current.findings if f["severity"] == "error"],
                                 "avis": {"demande": "demandé, en attente", "favorable": "favorable",
                                          "defavorable": "défavorable"}.get(given.status) if given else None,
                                 "montant_accorde": dossier.montant_accorde,
                                 "bilans": bilans.describe(dossier.bilans), "bot_name": self.cfg.bot.name}),
                            dossier)
        if not queued:
            return NOBODY_TO_ANSWER
        self.event("statut_envoye", dossier)
        return "statut_envoye"

    def _attach_correspondence(self, dossier: Dossier) -> str:
        for file in self.files:
            self.keep(file, "annexe", dossier)
        self.event("courrier_recu", dossier, subject=self.message.subject[:200],
                   pieces=[f.attachment.filename for f in self.files])
        dossier.updated_at = self.now
        return "courrier_rattache"

    def _within_reply_limit(self) -> bool:
        day_start = datetime.combine(self.now.astimezone(clock.PARIS).date(), time(0), clock.PARIS)
        sent_today = self.session.scalar(
            select(func.count(Outbox.id)).where(
                Outbox.kind.in_(LIMITED_REPLIES), Outbox.recipient_key == address_key(self.sender)[:320],
                Outbox.created_at >= day_start,
            )
        )
        return sent_today < self.cfg.limits.auto_replies_per_sender_per_day

    def _blank_form(self) -> Attachment:
        return Attachment("fiche-projet-vierge.docx", _template_bytes(self.rules))

    def _answer_not_a_fiche(self, failed: list[File]) -> str:
        files = [{"name": f.attachment.filename, "message": f.result.findings[0].message} for f in failed]
        return self._answer_with_blank_form("fiche_non_reconnue", files=files)

    def _answer_wrong_format(self) -> str:
        return self._answer_with_blank_form("format_incorrect", received=[f.attachment.filename for f in self.files])

    def _answer_with_blank_form(self, kind: str, **context) -> str:
        """Keep the files for the coordinators; answer with the blank form, within the daily limit."""
        for file in self.files:
            self.keep(file, "annexe")
        if not self._within_reply_limit():
            return "limite_atteinte"
        queued = self.reply(Mail(kind=kind, to=(self.sender,), reply_to=self.mailbox.address,
                                 attachments=(self._blank_form(),), **self.threading(),
                                 context={"subject": self.message.subject, "bot_name": self.cfg.bot.name,
                                          "unopened": self._unopened(), **context}))
        return "reponse_envoyee" if queued else NOBODY_TO_ANSWER

    def _unopened(self) -> list[dict]:
        """The winmail.dat, .msg and .zip we could not open: the answer says what to send instead."""
        return [{"name": a.filename, "reason": a.unopened, "container": a.container}
                for a in self.message.attachments if a.unopened]


def waiting(session: Session, dossier: Dossier) -> list[PendingChange]:
    """The changes of a dossier that wait for a confirmation, oldest first."""
    return list(session.scalars(select(PendingChange).where(PendingChange.dossier_id == dossier.id,
                                                            PendingChange.status == "attente")
                                .order_by(PendingChange.id)))


def apply_pending(cfg: Config, rules: Rules, session: Session, change: PendingChange) -> str:
    """Apply a confirmed change: its message is handled again, as if its sender were known
    for the dossier, whose known addresses then include the sender and the new référent."""
    inbound = session.get(InboundMessage, change.inbound_id)
    path = cfg.bot.data_dir / inbound.raw_path if inbound is not None and inbound.raw_path else None
    if path is None or not path.is_file():  # purged meanwhile: nothing left to apply
        return set_aside(session, change)
    raw = path.read_bytes()
    message = parse_message(raw, max_attachment_bytes=cfg.limits.max_attachment_mb * 1024 * 1024)
    mailbox = cfg.mailbox(inbound.mailbox) or cfg.mailboxes[0]
    dossier = change.dossier
    intake = Intake(cfg, rules, session, mailbox, inbound, message, vouched=dossier)
    intake.files = read_files(message, rules)
    if change.kind == "version":
        outcome = intake._file_fiches([f for f in intake.files if f.is_fiche], dossier)
    elif intake._is_bilan(dossier):
        outcome = intake._receive_bilan(dossier)
    else:
        outcome = "bilan_non_attendu"
    fields = dossier.current.fields if dossier.current and change.kind == "version" else {}
    dossier.known_addresses = with_version(dossier.known_addresses, change.sender, fields)
    change.status, change.settled_at = "appliquee", clock.now()
    intake.event("confirmation_appliquee", dossier, pending_id=change.id, quoi=change.kind)
    return outcome


def set_aside(session: Session, change: PendingChange) -> str:
    change.status, change.settled_at = "ecartee", clock.now()
    session.add(Event(dossier_id=change.dossier_id, inbound_id=change.inbound_id, at=clock.now(),
                      kind="confirmation_refusee", detail={"pending_id": change.id}))
    return "envoi_ecarte"


@cache
def _template_bytes(rules: Rules) -> bytes:
    return build_template(rules)


def _yes_or_no(text: str) -> str | None:
    """"oui" or "non": the first of the two among the first words of the new text of a
    reply ("Bonjour, oui c'est bien nous" is a yes); a line holding one of them is never
    taken for a signature ("Oui" alone under "Bonjour,")."""
    own = new_text(text, keep=lambda words: bool({"oui", "non"} & set(words[:3])))
    return next((w for w in words_of(own)[:CONFIRMATION_WORDS] if w in ("oui", "non")), None)


def _first_line(message: Incoming) -> str:
    return first_lines(message.text or "", 1)


def _short(text: str, limit: int = 240) -> str:
    """A long value (the description) is summarised, not copied whole into the mail."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _title(fields: dict) -> str:
    return fields.get("intitule") or "projet sans intitulé"


def _team(mailbox: MailboxConfig, rules: Rules) -> str:
    """How the acknowledgement names the team a misrouted fiche went to."""
    for entry in rules.send_to:
        if set(entry["porteur_types"]) & set(mailbox.porteur_types):
            return entry["team"]
    return f"l'équipe « {mailbox.name} »"
