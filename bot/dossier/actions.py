"""What a coordinator's command does to a dossier (coordinators.md), by mail or from the CLI.

Each change is recorded as a CoordinatorCommand with what the dossier was before and
the letters it queued. Letters to the porteur wait `coordination.undo_minutes` in the
outbox (a pending row due later): `undo` (ANNULER, `citebot undo`) within that time puts
the dossier back as it was and cancels them; afterwards they leave.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import clock
from bot import text as typography
from bot.config import Config
from bot.dossier import avis as avis_flow
from bot.dossier import decisions
from bot.dossier.views import STATUS_LABELS, find
from bot.form.values import format_amount
from bot.mail.compose import Mail
from bot.mail.outbox import enqueue
from bot.rules import Rules
from bot.store.models import AvisRequest, Bilan, CoordinatorCommand, Dossier, Event, Outbox

# What each change may start from; a decided or closed dossier is reopened first.
OPEN = {"nouveau", "incomplet", "en_attente_avis", "pret_troika", "avis_defavorable"}
CLOSABLE = OPEN
REOPENABLE = {"accepte", "refuse", "sans_suite"}
AVIS_ALLOWED = OPEN
# What ANNULER / `citebot undo` cancels, as the answer names it (never the command line typed).
UNDOABLE = {"accepte": "la décision « accepté » est annulée", "refuse": "la décision « refusé » est annulée",
            "sans_suite": "le classement sans suite est annulé", "rouvrir": "la réouverture est annulée",
            "avis_favorable": "l'avis favorable est annulé", "avis_defavorable": "l'avis défavorable est annulé"}


class Refused(Exception):
    """The command cannot be applied; str() is one French line for the coordinator."""


@dataclass
class Done:
    dossier: Dossier
    said: str  # what was done, in French (« accepté, 2 500,00 € accordés »)
    letters: list[Outbox] = field(default_factory=list)
    leave_at: datetime | None = None  # when the letters leave (None: no letter)
    held: bool = False  # a letter kept by [outbox] hold until released


def _dossier(session: Session, reference: str) -> Dossier:
    dossier = find(session, reference)
    if dossier is None:
        raise Refused(f"aucun dossier ne porte la référence {reference}")
    return dossier


def _label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def _snapshot(dossier: Dossier) -> dict:
    given = dossier.avis
    return {
        "status": dossier.status, "decided_at": dossier.decided_at.isoformat() if dossier.decided_at else None,
        "montant_accorde": dossier.montant_accorde, "decision_comment": dossier.decision_comment,
        "avis": None if given is None else {
            "id": given.id, "status": given.status, "comment": given.comment, "answered_by": given.answered_by,
            "answered_at": given.answered_at.isoformat() if given.answered_at else None},
        "bilans": [{"kind": b.kind, "year": b.year, "due": b.due.isoformat()} for b in dossier.bilans
                   if b.received_at is None],
    }


def _hold(cfg: Config, rows: list[Outbox]) -> datetime | None:
    """The letters wait the undo window; when they will leave."""
    if not rows:
        return None
    leave_at = clock.now() + timedelta(minutes=cfg.coordination.undo_minutes)
    for row in rows:
        if row.status == "pending":
            row.next_attempt_at = leave_at
    return leave_at


def _record(session: Session, dossier: Dossier, verb: str, line: str, before: dict, letters: list[Outbox],
            sender: str, inbound_id: int | None, arguments: dict | None = None) -> None:
    session.flush()
    session.add(CoordinatorCommand(
        inbound_id=inbound_id, dossier_id=dossier.id, sender=(sender or "")[:320], verb=verb, line=line[:2000],
        arguments=arguments or {}, status="appliquee", before=before, letters=[r.id for r in letters],
        created_at=clock.now(), applied_at=clock.now()))


def content_status(dossier: Dossier, rules: Rules) -> str:
    """The status the dossier's content gives, decision and closure aside (intake's rule)."""
    current = dossier.current
    if current is None or not current.valid:
        return "incomplet"
    params = rules.check("avis_requis").params
    if params["option"] not in (current.fields.get(params["field"]) or []):
        return "pret_troika"
    given = dossier.avis.status if dossier.avis else "demande"
    return {"favorable": "pret_troika", "defavorable": "avis_defavorable"}.get(given, "en_attente_avis")


def _set_status(session: Session, dossier: Dossier, status: str, cause: str) -> None:
    if dossier.status != status:
        session.add(Event(dossier=dossier, at=clock.now(), kind="statut",
                          detail={"avant": dossier.status, "apres": status, "cause": cause}))
        dossier.status = status
    dossier.updated_at = clock.now()


def _letter(session: Session, cfg: Config, dossier: Dossier, kind: str, context: dict) -> Outbox | None:
    fields = dossier.current.fields if dossier.current else {}
    mailbox = cfg.mailbox(dossier.mailbox)
    to = tuple(a for a in (dossier.porteur_email,) if a)
    return enqueue(session, Mail(
        kind=kind, to=to or tuple(dossier.coordinators), cc=tuple(dossier.coordinators) if to else (),
        reply_to=mailbox.address if mailbox else None, auto_submitted="auto-generated",
        context={"reference": dossier.reference, "intitule": fields.get("intitule") or "projet sans intitulé",
                 "coordinators": dossier.coordinators, "bot_name": cfg.bot.name, **context}), cfg,
        dossier_id=dossier.id)


# -- the commands ---------------------------------------------------------------------
def decide(session: Session, cfg: Config, rules: Rules, reference: str, verdict: str, montant: Decimal | None = None,
           comment: str | None = None, *, sender: str = "", inbound_id: int | None = None, line: str = "") -> Done:
    dossier = _dossier(session, reference)
    before = _snapshot(dossier)
    try:
        recorded = decisions.decide(session, cfg, rules, dossier.reference, verdict, montant, comment or None)
    except decisions.DecisionRefused as exc:
        raise Refused(str(exc).rstrip(".")) from exc
    letters = [recorded.letter] if recorded.letter is not None else []
    _record(session, dossier, verdict, line or f"decide {verdict}", before, letters, sender, inbound_id,
            {"montant": dossier.montant_accorde})
    said = (f"accepté, {format_amount(Decimal(dossier.montant_accorde))} accordés" if verdict == "accepte"
            else "refusé")
    return Done(dossier, said, letters, _hold(cfg, letters), any(r.status == "held" for r in letters))


def close(session: Session, cfg: Config, reference: str, motif: str | None = None, *, sender: str = "",
          inbound_id: int | None = None, line: str = "") -> Done:
    dossier = _dossier(session, reference)
    if dossier.status not in CLOSABLE:
        raise Refused(f"le dossier {dossier.reference} est « {_label(dossier.status)} » : rouvrez-le d'abord "
                      "pour le classer sans suite")
    before = _snapshot(dossier)
    _set_status(session, dossier, "sans_suite", "classé sans suite")
    dossier.decided_at, dossier.decision_comment, dossier.montant_accorde = clock.now(), motif or None, None
    session.add(Event(dossier=dossier, at=clock.now(), kind="classement", detail={"motif": motif or None}))
    letters = [r for r in [_letter(session, cfg, dossier, "dossier_classe", {"comment": motif or None})] if r]
    _record(session, dossier, "sans_suite", line or "close", before, letters, sender, inbound_id)
    return Done(dossier, "classé sans suite", letters, _hold(cfg, letters), any(r.status == "held" for r in letters))


def reopen(session: Session, cfg: Config, rules: Rules, reference: str, *, sender: str = "",
           inbound_id: int | None = None, line: str = "") -> Done:
    """Decision and closure cancelled; back to the status the content gives. The porteur is
    told only if they had been told (a letter still waiting is cancelled instead)."""
    dossier = _dossier(session, reference)
    if dossier.status not in REOPENABLE:
        raise Refused(f"le dossier {dossier.reference} est « {_label(dossier.status)} » : il n'y a ni décision "
                      "ni classement à annuler")
    before = _snapshot(dossier)
    previous = session.scalars(select(Outbox).where(
        Outbox.dossier_id == dossier.id, Outbox.kind.in_(("decision_acceptee", "decision_refus", "dossier_classe")))
        .order_by(Outbox.id)).all()
    told = any(r.status in ("sent", "sending", "failed") for r in previous)
    for row in previous:
        if row.status in ("pending", "held"):
            row.status = "cancelled"
            session.add(Event(dossier=dossier, at=clock.now(), kind="courriel_annule", detail={"outbox_id": row.id}))
    for bilan in [b for b in dossier.bilans if b.received_at is None]:
        session.delete(bilan)
    session.flush()
    session.expire(dossier, ["bilans"])
    dossier.decided_at, dossier.montant_accorde, dossier.decision_comment = None, None, None
    session.add(Event(dossier=dossier, at=clock.now(), kind="reouverture", detail={"avant": before["status"]}))
    _set_status(session, dossier, content_status(dossier, rules), "rouvert")
    letters = []
    if told:
        letters = [r for r in [_letter(session, cfg, dossier, "dossier_rouvert",
                                       {"status": _label(dossier.status)})] if r]
    _record(session, dossier, "rouvrir", line or "reopen", before, letters, sender, inbound_id)
    return Done(dossier, f"rouvert, désormais « {_label(dossier.status)} »", letters, _hold(cfg, letters),
                any(r.status == "held" for r in letters))


def record_avis(session: Session, cfg: Config, reference: str, verdict: str, comment: str | None = None, *,
                sender: str = "", inbound_id: int | None = None, line: str = "") -> Done:
    """An avis given otherwise (phone, secretariat, paper), or a correction: the pending
    request is closed, so its reminders stop."""
    dossier = _dossier(session, reference)
    if dossier.status not in AVIS_ALLOWED:
        raise Refused(f"le dossier {dossier.reference} est « {_label(dossier.status)} » : l'avis ne peut plus "
                      "être modifié (rouvrez-le d'abord)")
    before = _snapshot(dossier)
    now = clock.now()
    given = dossier.avis
    if given is None:
        given = AvisRequest(dossier=dossier, code=secrets.token_hex(6), status="demande", message_ids=[],
                            requested_at=now, reminders_sent=0)
        session.add(given)
        before["avis_created"] = True
    corrected = given.status != "demande"
    given.status, given.answered_at = verdict, now
    given.answered_by = (sender or "coordination")[:320]
    given.comment = comment or None
    session.add(Event(dossier=dossier, at=now, kind="avis_recu",
                      detail={"avis": verdict, "commentaire": given.comment, "par": "coordination",
                              "correction": corrected}))
    if dossier.status in ("en_attente_avis", "pret_troika", "avis_defavorable"):
        _set_status(session, dossier, "pret_troika" if verdict == "favorable" else "avis_defavorable",
                    f"avis {verdict} enregistré par la coordination")
    session.flush()
    letters = avis_flow.tell_outcome(session, cfg, dossier, given)
    letters = [r for r in letters if r.kind == "avis_notification"]
    _record(session, dossier, f"avis_{verdict}", line or f"avis {verdict}", before, letters, sender, inbound_id)
    said = f"avis {'favorable' if verdict == 'favorable' else 'défavorable'} enregistré" + (
        " (correction)" if corrected else "") + f", désormais « {_label(dossier.status)} »"
    return Done(dossier, said, letters, _hold(cfg, letters), any(r.status == "held" for r in letters))


def undo(session: Session, cfg: Config, rules: Rules, reference: str) -> Done:
    """Cancel the last command on the dossier while its letters wait; the dossier as it was."""
    dossier = _dossier(session, reference)
    command = session.scalar(select(CoordinatorCommand).where(
        CoordinatorCommand.dossier_id == dossier.id, CoordinatorCommand.status == "appliquee",
        CoordinatorCommand.verb.in_(list(UNDOABLE))).order_by(CoordinatorCommand.id.desc()).limit(1))
    if command is None:
        raise Refused(f"aucune commande à annuler sur le dossier {dossier.reference}")
    letters = [session.get(Outbox, i) for i in command.letters]
    letters = [r for r in letters if r is not None]
    gone = [r for r in letters if r.status in ("sent", "sending", "failed")]
    window = timedelta(minutes=cfg.coordination.undo_minutes)
    if gone or (not letters and clock.now() > command.applied_at + window):
        raise Refused(f"trop tard pour annuler la dernière commande sur {dossier.reference} : "
                      + ("son courrier est déjà parti" if gone else "le délai d'annulation est passé"))
    for row in letters:
        # Conditional: a sender that claimed the mail meanwhile wins, and the undo is refused.
        taken = session.execute(update(Outbox).where(Outbox.id == row.id, Outbox.status.in_(("pending", "held")))
                                .values(status="cancelled").execution_options(synchronize_session="fetch"))
        if taken.rowcount != 1:
            raise Refused(f"trop tard pour annuler la dernière commande sur {dossier.reference} : son courrier "
                          "est en cours d'envoi")
        session.add(Event(dossier=dossier, at=clock.now(), kind="courriel_annule", detail={"outbox_id": row.id}))
    _restore(session, dossier, command.before)
    command.status = "annulee"
    session.add(Event(dossier=dossier, at=clock.now(), kind="commande_annulee",
                      detail={"commande": command.verb, "apres": dossier.status}))
    return Done(dossier, f": {UNDOABLE[command.verb]}, de nouveau « {_label(dossier.status)} »"
                + (f" ; {typography.plural(len(letters), 'courrier annulé')}" if letters else ""))


def _restore(session: Session, dossier: Dossier, before: dict) -> None:
    for bilan in [b for b in dossier.bilans if b.received_at is None]:
        session.delete(bilan)
    session.flush()
    session.expire(dossier, ["bilans"])
    for owed in before.get("bilans", []):
        session.add(Bilan(dossier=dossier, kind=owed["kind"], year=owed["year"], due=date.fromisoformat(owed["due"]),
                          reminders_on=[]))
    dossier.decided_at = datetime.fromisoformat(before["decided_at"]) if before.get("decided_at") else None
    dossier.montant_accorde, dossier.decision_comment = before.get("montant_accorde"), before.get("decision_comment")
    given = dossier.avis
    if before.get("avis_created") and given is not None:
        session.delete(given)
        session.flush()
        session.expire(dossier, ["avis_requests"])
    elif before.get("avis") and given is not None and given.id == before["avis"]["id"]:
        was = before["avis"]
        given.status, given.comment, given.answered_by = was["status"], was["comment"], was["answered_by"]
        given.answered_at = datetime.fromisoformat(was["answered_at"]) if was["answered_at"] else None
    _set_status(session, dossier, before["status"], "commande annulée")
