"""The avis of the IEN: request, reply, reminders (workflow.md, "The avis of the IEN").

Requests go to every address of `avis.ien` with the fiche attached; the subject
carries the reference and a per-request code of 48 random bits. A reply is
matched by its threading headers or by reference + code, applied only when it
comes from the IEN, for an open request, and — when `bot.authserv_id` is set —
when our own server's Authentication-Results says dkim=pass or dmarc=pass
(bot/mail/authentication.py: no verdict is a refusal).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot.config import Config
from bot.dossier.avis_reply import read_decision
from bot.dossier.references import find_references
from bot.form.report import display_value
from bot.form.values import format_amount, format_date, parse_amount
from bot.mail import authentication
from bot.mail.compose import Attachment, Mail, datetime_fr
from bot.mail.outbox import enqueue
from bot.mail.parse import Incoming
from bot.rules import Rules
from bot.store.models import AvisRequest, Document, Dossier, Event, Outbox
from bot.text import plural_label

log = logging.getLogger(__name__)

MAX_REMINDERS = 3
# Our mails that belong to an avis thread (their Message-IDs are kept on the request).
THREAD_KINDS = ("avis_demande", "avis_relance", "avis_mise_a_jour", "avis_incompris")
_CODE = re.compile(r"\(code ([0-9a-f]{12})\)", re.I)
# What the IEN sees of the project (workflow.md); the description comes whole below.
SUMMARY_FIELDS = ("structure", "intitule", "public_vise", "nb_beneficiaires", "date_debut", "date_fin",
                  "etablissements", "temps", "cout_total", "montant_sollicite")


# -- sending -------------------------------------------------------------------------
def _queue(session: Session, cfg: Config, mail: Mail, dossier: Dossier, avis: AvisRequest | None = None) -> str | None:
    """Queue a mail of the dossier; its Message-ID (kept on the avis thread), or None when
    the outbox refused every recipient (the refusal is an event on the dossier)."""
    row = enqueue(session, mail, cfg, dossier_id=dossier.id)
    if row is None:
        return None
    if avis is not None:
        avis.message_ids = [*avis.message_ids, row.message_id]
    return row.message_id


def _fiche(cfg: Config, dossier: Dossier) -> tuple[Attachment, ...]:
    version = dossier.current
    document: Document = version.document
    path = cfg.bot.data_dir / document.stored_name
    return (Attachment(f"{dossier.reference} - {document.original_name}", path.read_bytes()),)


def _thread(avis: AvisRequest) -> dict:
    ids = tuple(avis.message_ids)
    return {"in_reply_to": ids[-1] if ids else None, "references": ids}


def _base_context(cfg: Config, dossier: Dossier, avis: AvisRequest) -> dict:
    fields = dossier.current.fields
    return {"reference": dossier.reference, "intitule": fields.get("intitule") or "projet sans intitulé",
            "structure": fields.get("structure") or "", "code": avis.code, "bot_name": cfg.bot.name}


def _display(rules: Rules, key: str, value) -> str:
    """A stored (JSON) field value as the IEN reads it."""
    if value in (None, [], {}):
        return "—"
    field = rules.field(key)
    if field.type == "amount":
        return format_amount(parse_amount(value))
    if field.type == "date":
        return format_date(date.fromisoformat(value))
    return display_value(value, rules, key)


def request_avis(session: Session, cfg: Config, rules: Rules, dossier: Dossier) -> AvisRequest:
    now = clock.now()
    avis = AvisRequest(dossier=dossier, code=secrets.token_hex(6), status="demande", message_ids=[],
                       requested_at=now, reminders_sent=0)
    session.add(avis)
    fields = dossier.current.fields
    context = {
        **_base_context(cfg, dossier, avis),
        "summary": [(plural_label(rules.field(k).label), _display(rules, k, fields.get(k))) for k in SUMMARY_FIELDS],
        "description": fields.get("description") or "—",
        "comment_to_porteur": cfg.avis.comment_to_porteur,
    }
    _queue(session, cfg, Mail(kind="avis_demande", to=tuple(cfg.avis.ien), reply_to=cfg.avis_reply_mailbox.address,
                              attachments=_fiche(cfg, dossier), auto_submitted="auto-generated", context=context),
           dossier, avis)
    session.add(Event(dossier=dossier, at=now, kind="avis_demande", detail={"a": list(cfg.avis.ien)}))
    return avis


def new_version_sent(session: Session, cfg: Config, rules: Rules, dossier: Dossier) -> None:
    """A valid new version of a school-time dossier: request, update the thread, or tell the coordinators."""
    avis = dossier.avis
    if avis is None:
        request_avis(session, cfg, rules, dossier)
    elif avis.status == "demande":
        _queue(session, cfg, Mail(kind="avis_mise_a_jour", to=tuple(cfg.avis.ien),
                                  reply_to=cfg.avis_reply_mailbox.address, attachments=_fiche(cfg, dossier),
                                  auto_submitted="auto-generated", **_thread(avis),
                                  context={**_base_context(cfg, dossier, avis), "version": dossier.current.number}),
               dossier, avis)
        session.add(Event(dossier=dossier, at=clock.now(), kind="avis_mise_a_jour", detail={}))
    else:
        note_coordinators(session, cfg, dossier, "Fiche modifiée après l'avis de l'IEN",
                          f"Le porteur a envoyé la version {dossier.current.number} de sa fiche après l'avis "
                          f"{'favorable' if avis.status == 'favorable' else 'défavorable'} de l'IEN "
                          f"(rendu le {datetime_fr(avis.answered_at)}). Cet avis reste enregistré ; vérifiez "
                          "si les modifications justifient de le solliciter à nouveau.")


def note_coordinators(session: Session, cfg: Config, dossier: Dossier, title: str, text: str) -> None:
    from bot.dossier.views import STATUS_LABELS

    fields = dossier.current.fields if dossier.current else {}
    document = dossier.current.document if dossier.current else None
    attached = _fiche(cfg, dossier) if document is not None and (cfg.bot.data_dir / document.stored_name).is_file() \
        else ()
    _queue(session, cfg, Mail(
        kind="note_coordinateurs", to=tuple(dossier.coordinators), auto_submitted="auto-generated",
        reply_to=_mailbox_address(cfg, dossier), attachments=attached,
        context={"reference": dossier.reference, "title": title, "text": text, "reference_example": dossier.reference,
                 "intitule": fields.get("intitule") or "projet sans intitulé",
                 "status": STATUS_LABELS.get(dossier.status, dossier.status)},
    ), dossier)


# -- replies -------------------------------------------------------------------------
def match_request(session: Session, message: Incoming, prefix: str) -> AvisRequest | None:
    """The request a message answers: by its threading headers, or by reference and code in the subject."""
    ids = {i for i in (message.in_reply_to, *message.references) if i}
    if ids:
        # Our mails are in the outbox (Message-ID indexed): find the thread's dossier there.
        dossier_ids = session.scalars(select(Outbox.dossier_id).where(
            Outbox.message_id.in_(ids), Outbox.kind.in_(THREAD_KINDS)).distinct())
        for dossier_id in dossier_ids:
            for avis in session.scalars(select(AvisRequest).where(AvisRequest.dossier_id == dossier_id)
                                        .order_by(AvisRequest.id.desc())):
                if ids & set(avis.message_ids):
                    return avis
    codes = {c.lower() for c in _CODE.findall(message.subject or "")}
    if codes:
        references = set(find_references(message.subject, prefix))
        for avis in session.scalars(select(AvisRequest).where(AvisRequest.code.in_(codes))):
            if avis.dossier.reference in references:
                return avis
    return None


def unauthenticated(message: Incoming, authserv_id: str) -> str | None:
    """Why our own server does not vouch for the message (French, for the coordinators' note),
    or None when it says dkim=pass or dmarc=pass. Without an authserv_id nothing is checked:
    replies are trusted on their From alone, which `citebot run` and `poll` say at start."""
    if not authserv_id:
        return None
    values = message.header_all("Authentication-Results")
    verdict = authentication.verdict(values, authserv_id)
    if verdict == authentication.PASS:
        return None
    said = ", ".join(f"{method}={result}" for method, result in authentication.results(values, authserv_id))
    if verdict == authentication.FAIL:
        return f"notre serveur de messagerie ({authserv_id}) le signale comme non authentifié ({said})"
    return (f"notre serveur de messagerie ({authserv_id}) n'en confirme pas l'authenticité "
            f"({said or 'aucun résultat dkim ou dmarc de sa part'} ; dkim=pass ou dmarc=pass sont attendus)")


@dataclass
class ReplyContext:
    """What handling a reply needs from the intake (bot/dossier/intake.py)."""

    session: Session
    cfg: Config
    message: Incoming
    keep_attachments: callable  # (dossier) -> None
    event: callable  # (kind, dossier, **detail) -> None
    threading: dict


def handle_reply(ctx: ReplyContext, avis: AvisRequest) -> str:
    session, cfg, message = ctx.session, ctx.cfg, ctx.message
    dossier = avis.dossier
    ctx.keep_attachments(dossier)
    sender = (message.from_addr or "").lower()
    ien = {a.lower() for a in cfg.avis.ien}
    now = clock.now()
    base = _base_context(cfg, dossier, avis)

    refusal = None
    if sender not in ien:
        refusal = f"l'expéditeur ({message.from_addr or 'inconnu'}) n'est pas une adresse de l'IEN autorisée"
    elif reason := unauthenticated(message, cfg.bot.authserv_id):
        refusal = reason
    if refusal:
        ctx.event("avis_refuse", dossier, raison=refusal, expediteur=message.from_addr)
        note_coordinators(session, cfg, dossier, "Réponse à une demande d'avis refusée",
                          f"Un message a répondu à la demande d'avis de ce dossier, mais {refusal}. "
                          "Il n'a pas été pris en compte ; le message est conservé.")
        return "avis_refuse"

    if avis.status != "demande":
        ctx.event("avis_deja_donne", dossier, expediteur=message.from_addr)
        _queue(session, cfg, Mail(kind="avis_deja_donne", to=(message.from_addr,), **ctx.threading,
                                  reply_to=cfg.avis_reply_mailbox.address,
                                  context={**base, "status": avis.status, "answered_at": avis.answered_at,
                                           "answered_by": avis.answered_by, "coordinators": dossier.coordinators}),
               dossier)
        return "avis_deja_donne"

    decision = read_decision(message.text or "")
    if decision.kind not in ("favorable", "defavorable"):
        ctx.event("avis_incompris", dossier, extrait=(decision.comment or "")[:300])
        _queue(session, cfg, Mail(kind="avis_incompris", to=(message.from_addr,), **ctx.threading,
                                  reply_to=cfg.avis_reply_mailbox.address, context=base), dossier, avis)
        note_coordinators(session, cfg, dossier, "Réponse de l'IEN à préciser",
                          "L'IEN a répondu à la demande d'avis sans que nous puissions y lire « favorable » ou "
                          f"« défavorable ». Nous lui avons demandé de préciser. Son message :\n\n{(message.text or '').strip()[:1500]}")
        return "avis_incompris"

    avis.status = decision.kind
    avis.answered_at, avis.answered_by = now, message.from_addr
    avis.comment = decision.comment or None
    ctx.event("avis_recu", dossier, avis=decision.kind, commentaire=avis.comment)
    if dossier.status == "en_attente_avis":  # an incomplete dossier keeps waiting for its correction
        status = "pret_troika" if decision.kind == "favorable" else "avis_defavorable"
        ctx.event("statut", dossier, avant=dossier.status, apres=status, cause=f"avis {decision.kind}")
        dossier.status = status
    dossier.updated_at = now
    tell_outcome(session, cfg, dossier, avis)
    return f"avis_{decision.kind}"


def tell_outcome(session: Session, cfg: Config, dossier: Dossier, avis: AvisRequest) -> list[Outbox]:
    """The porteur is told the avis and what happens next; the IEN's comment is an internal
    opinion: it goes to the coordinators only, unless `avis.comment_to_porteur` (coordinators.md)."""
    base = _base_context(cfg, dossier, avis)
    favorable = avis.status == "favorable"
    to_porteur = cfg.avis.comment_to_porteur
    recipients = tuple(a for a in (dossier.porteur_email,) if a)
    coordinators = tuple(dossier.coordinators)
    copy = coordinators if recipients and (to_porteur or not avis.comment) else ()
    rows = [enqueue(session, Mail(
        kind="avis_notification", to=recipients or coordinators, cc=copy, reply_to=_mailbox_address(cfg, dossier),
        auto_submitted="auto-generated",
        context={**base, "favorable": favorable, "answered_at": avis.answered_at,
                 "comment": avis.comment if to_porteur or not recipients else None, "coordinators": coordinators},
    ), cfg, dossier_id=dossier.id)]
    if recipients and avis.comment and not to_porteur:
        note_coordinators(session, cfg, dossier, "Avis de l'IEN : son commentaire",
                          f"Avis {'favorable' if favorable else 'défavorable'} rendu le "
                          f"{datetime_fr(avis.answered_at)}. Le commentaire, réservé à la coordination (le porteur "
                          f"reçoit l'avis sans ce commentaire) :\n\n{avis.comment}")
    return [r for r in rows if r is not None]


def _mailbox_address(cfg: Config, dossier: Dossier) -> str | None:
    mailbox = cfg.mailbox(dossier.mailbox)
    return mailbox.address if mailbox else None


# -- reminders -----------------------------------------------------------------------
@dataclass
class ReminderReport:
    reminders: int = 0
    alerts: int = 0


def remind(session: Session, cfg: Config, rules: Rules, today: date) -> ReminderReport:
    """Reminders due `today` (idempotent for a day): after reminder_days without an answer,
    then every reminder_days, three times at most; then the coordinators are alerted once."""
    report = ReminderReport()
    step = timedelta(days=cfg.avis.reminder_days)
    for avis in session.scalars(select(AvisRequest).where(AvisRequest.status == "demande")):
        dossier = avis.dossier
        if dossier.status != "en_attente_avis":
            continue
        asked_on = avis.requested_at.astimezone(clock.PARIS).date()
        if today in (avis.last_reminder_on, avis.coordinators_alerted_on):
            continue
        if avis.reminders_sent < MAX_REMINDERS:
            if today >= asked_on + step * (avis.reminders_sent + 1):
                avis.reminders_sent += 1
                avis.last_reminder_on = today
                _queue(session, cfg, Mail(
                    kind="avis_relance", to=tuple(cfg.avis.ien), reply_to=cfg.avis_reply_mailbox.address,
                    attachments=_fiche(cfg, dossier), auto_submitted="auto-generated", **_thread(avis),
                    context={**_base_context(cfg, dossier, avis), "requested_at": asked_on,
                             "number": avis.reminders_sent}), dossier, avis)
                session.add(Event(dossier=dossier, at=clock.now(), kind="avis_relance",
                                  detail={"numero": avis.reminders_sent}))
                report.reminders += 1
        elif avis.coordinators_alerted_on is None and today >= asked_on + step * (MAX_REMINDERS + 1):
            avis.coordinators_alerted_on = today
            note_coordinators(session, cfg, dossier, "Avis de l'IEN toujours attendu",
                              f"La demande d'avis envoyée le {asked_on.strftime('%d/%m/%Y')} est restée sans "
                              f"réponse malgré {MAX_REMINDERS} rappels. Merci de contacter l'IEN directement.")
            session.add(Event(dossier=dossier, at=clock.now(), kind="avis_alerte_coordinateurs", detail={}))
            report.alerts += 1
    return report
