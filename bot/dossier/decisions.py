"""The troïka's decision on a dossier, recorded by a coordinator (`citebot decide`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from bot import clock
from bot.config import Config
from bot.dossier import bilans
from bot.dossier.views import STATUS_LABELS, find
from bot.form.values import format_amount
from bot.mail.compose import Mail
from bot.mail.outbox import enqueue
from bot.rules import Rules
from bot.store.models import Dossier, Event, Outbox

# From which statuses each decision may be recorded.
ALLOWED = {"accepte": {"pret_troika"}, "refuse": {"pret_troika", "avis_defavorable"}}


class DecisionRefused(Exception):
    """The decision cannot be recorded; str() is one French line for the coordinator."""


@dataclass(frozen=True)
class Recorded:
    dossier: Dossier
    bilans: list
    letter: Outbox | None = None  # the letter to the porteur (None: nobody to write to)


def decide(session: Session, cfg: Config, rules: Rules, reference: str, verdict: str,
           montant: Decimal | None = None, commentaire: str | None = None) -> Recorded:
    dossier = find(session, reference)
    if dossier is None:
        raise DecisionRefused(f"Aucun dossier ne porte la référence {reference}.")
    if dossier.status not in ALLOWED[verdict]:
        allowed = " ou ".join(f"« {STATUS_LABELS[s]} »" for s in sorted(ALLOWED[verdict]))
        raise DecisionRefused(
            f"Le dossier {dossier.reference} est « {STATUS_LABELS.get(dossier.status, dossier.status)} » : "
            f"la décision « {verdict} » ne peut être enregistrée que pour un dossier {allowed}.")
    fields = dossier.current.fields
    asked = Decimal(fields["montant_sollicite"]) if fields.get("montant_sollicite") else None
    if verdict == "accepte":
        montant = montant if montant is not None else asked
        if montant is None or montant <= 0:
            raise DecisionRefused("Indiquez le montant accordé avec --montant (par exemple --montant 1500).")
    now = clock.now()
    before = dossier.status
    dossier.status, dossier.decided_at, dossier.updated_at = verdict, now, now
    dossier.montant_accorde = f"{montant:.2f}" if verdict == "accepte" else None
    dossier.decision_comment = commentaire or None
    session.add(Event(dossier=dossier, at=now, kind="decision",
                      detail={"decision": verdict, "montant": dossier.montant_accorde, "avant": before}))
    owed = []
    if verdict == "accepte":
        owed = bilans.create_for(session, dossier, date.fromisoformat(fields["date_debut"]),
                                 date.fromisoformat(fields["date_fin"]))
    letter = _tell_porteur(session, cfg, rules, dossier, verdict, montant, asked, owed)
    return Recorded(dossier, owed, letter)


def _tell_porteur(session, cfg, rules, dossier, verdict, montant, asked, owed) -> Outbox | None:
    fields = dossier.current.fields
    mailbox = cfg.mailbox(dossier.mailbox)
    to = tuple(a for a in (dossier.porteur_email,) if a)
    context = {
        "reference": dossier.reference, "intitule": fields.get("intitule") or "projet sans intitulé",
        "comment": dossier.decision_comment, "coordinators": dossier.coordinators, "bot_name": cfg.bot.name,
    }
    if verdict == "accepte":
        context |= {
            "montant": montant, "montant_sollicite": asked,
            "bilans": [{"label": bilans.label(b.kind), "year": b.year, "due": b.due} for b in owed],
            "mention": rules.communication["mention"], "logos": rules.communication["logos"],
            "cap": format_amount(rules.materiel_max_unit_price, cents=False),
        }
    return enqueue(session, Mail(
        kind="decision_acceptee" if verdict == "accepte" else "decision_refus",
        to=to or tuple(dossier.coordinators), cc=tuple(dossier.coordinators) if to else (),
        reply_to=mailbox.address if mailbox else None, auto_submitted="auto-generated", context=context,
    ), cfg, dossier_id=dossier.id)
