"""Coordinators' commands by mail (coordinators.md): who may, the « Confirmez-vous ? »
round trip, applying each line, and the one answer, line by line.

Called by the intake (bot/dossier/intake.py) inside the message's transaction. A
command counts only when the From is a coordinator's, the mail is not a robot's (the
intake has set those aside), our server vouches for it when `bot.authserv_id` is set,
and it answers a mail we sent to that very address — or, for a fresh mail, once the
coordinator has answered OUI to our question within 48 hours. Anyone else's commands
change nothing and get no answer; the digest lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot import text as typography
from bot.config import Config, MailboxConfig
from bot.dossier import actions, commands, export, trust, views
from bot.dossier.avis import unauthenticated
from bot.dossier.commands import Command, Problem
from bot.dossier.digest import queue_digest
from bot.mail.addresses import address_key
from bot.mail.compose import DOCX_TYPE, Attachment, Mail
from bot.mail.outbox import enqueue
from bot.mail.parse import Incoming
from bot.mail.reply import new_text
from bot.rules import Rules
from bot.store.models import CoordinatorCommand, Dossier, InboundMessage, Outbox

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CLASSIFICATION = "commande"
REFUSED = "commande_refusee"


class Message(Protocol):
    """What the intake gives: the bot.dossier.intake.Intake of the message."""

    cfg: Config
    rules: Rules
    session: Session
    mailbox: MailboxConfig
    inbound: InboundMessage
    message: Incoming

    def threading(self) -> dict: ...


def is_coordinator(cfg: Config, address: str | None) -> bool:
    key = address_key(address)
    return bool(key) and key in trust.coordinators(cfg)


def _ids(message: Incoming) -> list[str]:
    return [i for i in (message.in_reply_to, *message.references) if i]


def _read(message: Incoming, prefix: str) -> list[Command | Problem]:
    vocab = commands.load_vocabulary()
    keep = lambda said: commands.read_line(" ".join(said), prefix, vocab) is not None  # noqa: E731
    items = commands.parse(new_text(message.text or "", keep=keep), prefix)
    if not items:  # « STATUT CE-2026-0007 » as the subject of an empty mail
        subject = (message.subject or "").strip()
        while subject[:3].lower() in ("re:", "tr:") or subject[:4].lower() == "fwd:":
            subject = subject.split(":", 1)[1].strip()
        vocab = commands.load_vocabulary()
        items = [i for i in commands.parse(subject, prefix) if i.verb in vocab.needs_reference]
    return items


def has_commands(message: Incoming, cfg: Config) -> bool:
    """A coordinator's mail to their own (`personnel`) inbox is about the call when it holds a command."""
    return bool(_read(message, cfg.bot.reference_prefix))


def route(intake: Message, has_fiche: bool, has_attachments: bool) -> tuple[str, str] | None:
    """(classification, outcome) when the message is a coordinator's command mail, the answer
    to our « Confirmez-vous ? », or someone else's commands; None for everything else."""
    session, cfg, message = intake.session, intake.cfg, intake.message
    ids = _ids(message)
    question = session.scalar(select(CoordinatorCommand).where(
        CoordinatorCommand.question_message_id.in_(ids), CoordinatorCommand.verb == "confirmation")
        .order_by(CoordinatorCommand.id.desc()).limit(1)) if ids else None
    if question is not None:
        return CLASSIFICATION, _settle(intake, question)
    if has_fiche:
        return None  # a coordinator forwarding a fiche: filed as any fiche
    items = _read(message, cfg.bot.reference_prefix)
    vocab = commands.load_vocabulary()
    if not is_coordinator(cfg, message.from_addr):
        if any(item.verb in vocab.changes for item in items):
            return CLASSIFICATION, _refuse(intake, items, "l'expéditeur n'est pas un coordinateur")
        return None
    replied = session.scalars(select(Outbox).where(Outbox.message_id.in_(ids))).all() if ids else []
    if not items and (has_attachments or (intake.mailbox.mode == "personnel" and not replied)):
        # Without a command: a coordinator's own mail in their own inbox (a copy to themselves
        # naming a dossier) is not a question to us; what they forward with files is filed.
        return None
    if reason := unauthenticated(message, cfg.bot.authserv_id):
        return CLASSIFICATION, _refuse(intake, items, reason)
    sender = address_key(message.from_addr)
    if replied and not any(sender in {address_key(a) for a in r.recipients} for r in replied):
        return CLASSIFICATION, _refuse(intake, items, "réponse à un courriel qui n'avait pas été envoyé à cette adresse")
    if not items:
        return CLASSIFICATION, _answer(intake, [], help_=True)
    if replied or not any(item.verb in vocab.changes for item in items if isinstance(item, Command)):
        return CLASSIFICATION, _apply_all(intake, items)
    return CLASSIFICATION, _ask(intake, items)


def _refuse(intake: Message, items: list, reason: str) -> str:
    """Nothing applied, nothing answered: the digest lists it."""
    intake.inbound.detail = {**intake.inbound.detail, "refus": reason,
                             "commandes": [item.line[:200] for item in items][:20]}
    return REFUSED


# -- « Confirmez-vous ? » ------------------------------------------------------------------
def _ask(intake: Message, items: list) -> str:
    session, cfg, message = intake.session, intake.cfg, intake.message
    lines = [item.line for item in items]
    row = CoordinatorCommand(inbound_id=intake.inbound.id, sender=address_key(message.from_addr)[:320],
                             verb="confirmation", line="\n".join(lines)[:20000], arguments={}, status="a_confirmer",
                             before={}, letters=[], created_at=clock.now())
    session.add(row)
    hours = commands.load_vocabulary().confirm_hours
    question = enqueue(session, Mail(
        kind="commandes_a_confirmer", to=(message.from_addr,), reply_to=intake.mailbox.address, **intake.threading(),
        context={"lines": lines, "until": clock.now() + timedelta(hours=hours), "bot_name": cfg.bot.name}),
        cfg, inbound_id=intake.inbound.id)
    row.question_message_id = question.message_id if question is not None else None
    return "confirmation_demandee"


def _settle(intake: Message, question: CoordinatorCommand) -> str:
    cfg, message = intake.cfg, intake.message
    if address_key(message.from_addr) != question.sender or question.status != "a_confirmer":
        return _refuse(intake, [], "réponse à une demande de confirmation venue d'une autre adresse, ou déjà traitée")
    if reason := unauthenticated(message, cfg.bot.authserv_id):
        return _refuse(intake, [], reason)
    hours = commands.load_vocabulary().confirm_hours
    said = commands.answer(new_text(message.text or "", keep=lambda w: bool({"oui", "non"} & set(w[:3]))))
    if clock.now() > question.created_at + timedelta(hours=hours):
        question.status = "expiree"
        _answer(intake, [], note=f"Votre confirmation est arrivée plus de {hours} heures après notre question : "
                                 "rien n'a été fait. Renvoyez vos commandes en réponse à ce message.")
        return "confirmation_expiree"
    if said is None:
        _answer(intake, [], note="Nous n'avons lu ni OUI ni NON dans votre réponse : rien n'a été fait. Répondez "
                                 "OUI (ou NON) à notre question.")
        return "confirmation_incomprise"
    if said == "non":
        question.status = "ecartee"
        _answer(intake, [], note="Entendu : rien n'a été fait.")
        return "confirmation_refusee"
    question.status, question.applied_at = "confirmee", clock.now()
    return _apply_all(intake, commands.parse(question.line, cfg.bot.reference_prefix))


# -- applying ------------------------------------------------------------------------------
@dataclass
class Result:
    line: str
    done: bool
    text: str
    leave_at: datetime | None = None
    held: bool = False


@dataclass
class Answer:
    results: list[Result] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # text blocks below the results (STATUT, LISTE)
    help_: bool = False


def _apply_all(intake: Message, items: list) -> str:
    answer = Answer()
    for item in items:
        if isinstance(item, Problem):
            answer.results.append(Result(item.line, False, item.reason))
            continue
        try:
            with intake.session.begin_nested():
                answer.results.append(_apply(intake, item, answer))
        except actions.Refused as exc:
            answer.results.append(Result(item.line, False, str(exc)))
    return _answer(intake, answer.results, answer=answer)


def _apply(intake: Message, command: Command, answer: Answer) -> Result:
    session, cfg, rules = intake.session, intake.cfg, intake.rules
    sender, inbound_id, line = intake.message.from_addr or "", intake.inbound.id, command.line
    verb, reference = command.verb, command.reference
    common = {"sender": sender, "inbound_id": inbound_id, "line": line}
    if verb in ("accepte", "refuse"):
        done = actions.decide(session, cfg, rules, reference, verb, command.amount, command.comment, **common)
    elif verb == "sans_suite":
        done = actions.close(session, cfg, reference, command.comment, **common)
    elif verb == "rouvrir":
        done = actions.reopen(session, cfg, rules, reference, **common)
    elif verb in ("avis_favorable", "avis_defavorable"):
        done = actions.record_avis(session, cfg, reference, verb.removeprefix("avis_"), command.comment, **common)
    elif verb == "annuler":
        done = actions.undo(session, cfg, rules, reference)
    elif verb == "confirmer":
        return Result(line, True, _confirm(intake, reference))
    elif verb == "statut":
        return _status(intake, command, answer)
    elif verb == "liste":
        dossiers = views.list_dossiers(session, command.status)
        label = views.STATUS_LABELS.get(command.status, "tous statuts") if command.status else "tous statuts"
        answer.extra.append(f"Liste des dossiers ({label}) :\n\n" + views.table(dossiers))
        return Result(line, True, f"{typography.plural(len(dossiers), 'dossier')}, liste ci-dessous")
    elif verb == "export":
        return _export(intake, command, answer)
    elif verb == "point":
        queue_digest(session, cfg, rules, sender, clock.today(), force=True, in_reply_to=intake.message.message_id)
        return Result(line, True, "le point vous est envoyé dans un message séparé")
    else:  # aide
        answer.help_ = True
        return Result(line, True, "l'aide est ci-dessous")
    if done.leave_at is None:
        text = f"fait : {done.dossier.reference} {done.said} (aucun courrier au porteur)"
    elif done.held:
        text = f"fait : {done.dossier.reference} {done.said} ; le courrier au porteur reste retenu jusqu'à sa libération"
    else:
        text = f"fait : {done.dossier.reference} {done.said} ; courrier au porteur à {_hour(done.leave_at)}"
    return Result(line, True, text, done.leave_at, done.held)


def _hour(instant: datetime) -> str:
    local = instant.astimezone(clock.PARIS)
    return f"{local.hour}\u00a0h\u00a0{local.minute:02d}"


def _confirm(intake: Message, reference: str) -> str:
    from bot.dossier.intake import apply_pending, waiting  # the intake calls us: imported when used

    dossier = _find(intake.session, reference)
    changes = waiting(intake.session, dossier)
    if not changes:
        raise actions.Refused(f"rien n'attend de confirmation sur le dossier {dossier.reference}")
    for change in changes:
        apply_pending(intake.cfg, intake.rules, intake.session, change)
    return f"fait : {typography.plural(len(changes), 'envoi')} du dossier {dossier.reference} " + ("enregistrés" if len(changes) > 1 else "enregistré")


def _find(session: Session, reference: str) -> Dossier:
    dossier = views.find(session, reference)
    if dossier is None:
        raise actions.Refused(f"aucun dossier ne porte la référence {reference}")
    return dossier


def _status(intake: Message, command: Command, answer: Answer) -> Result:
    dossier = _find(intake.session, command.reference)
    answer.extra.append(views.as_text(views.details(intake.session, dossier)))
    version = dossier.current
    document = version.document if version is not None else None
    path = intake.cfg.bot.data_dir / document.stored_name if document is not None and document.stored_name else None
    if path is not None and path.is_file():
        answer.attachments.append(Attachment(f"{dossier.reference} - {document.original_name}", path.read_bytes(),
                                             DOCX_TYPE))
        return Result(command.line, True, "détail ci-dessous, fiche jointe")
    return Result(command.line, True, "détail ci-dessous (plus de fiche conservée)")


def _export(intake: Message, command: Command, answer: Answer) -> Result:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "export.xlsx"
        count = export.export(out, views.list_dossiers(intake.session), intake.rules)
        name = f"dossiers-{clock.today():%Y-%m-%d}.xlsx"
        answer.attachments.append(Attachment(name, out.read_bytes(), XLSX_TYPE))
    return Result(command.line, True, f"export joint ({typography.plural(count, 'dossier')})")


def _answer(intake: Message, results: list[Result], *, answer: Answer | None = None, help_: bool = False,
            note: str | None = None) -> str:
    answer = answer or Answer(results, help_=help_)
    times = [r.leave_at for r in answer.results if r.leave_at is not None and not r.held]
    cfg = intake.cfg
    enqueue(intake.session, Mail(
        kind="commandes_resultat", to=(intake.message.from_addr,), reply_to=intake.mailbox.address,
        attachments=tuple(answer.attachments), **intake.threading(),
        context={"results": [{"line": r.line, "done": r.done, "text": r.text} for r in answer.results],
                 "leave_at": max(times) if times else None, "undo_minutes": cfg.coordination.undo_minutes,
                 "extra": answer.extra, "help": answer.help_ or not answer.results and note is None,
                 "note": note, "reference_example": f"{cfg.bot.reference_prefix}-{clock.today().year}-0007",
                 "bot_name": cfg.bot.name}), cfg, inbound_id=intake.inbound.id)
    if not answer.results:
        return "aide_envoyee" if note is None else "reponse_envoyee"
    return "commandes_appliquees" if any(r.done for r in answer.results) else "commandes_refusees"
