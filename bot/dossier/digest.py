"""The coordinators' digest: what happened since the previous one, per coordinator.

`build` is a read of the database into plain data (sections of rows); the mail
is rendered from templates_mail/digest/. No mail when nothing is new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot import text as typography
from bot.config import Config
from bot.dossier import bilans
from bot.dossier.context import Context
from bot.dossier.views import STATUS_LABELS
from bot.form.values import format_amount
from bot.mail.compose import Attachment, Mail
from bot.mail.outbox import enqueue
from bot.rules import Rules
from bot.store.models import DigestState, Dossier, Event, InboundMessage, PendingChange

SOON = timedelta(days=30)
# What the coordinators should look at, by classification or outcome, in their words.
NOT_UNDERSTOOD = {
    "fiche_non_reconnue": "un document Word qui n'est pas une fiche projet lisible (réponse envoyée)",
    "format_incorrect": "pas de fiche au format Word (réponse envoyée avec la fiche vierge)",
    "sans_expediteur": "un message sans adresse d'expéditeur",
    "trop_volumineux": "un message trop volumineux pour être lu par l'assistant (resté dans la boîte aux lettres)",
    "erreur": "un message que l'assistant n'a pas pu traiter (conservé tel quel)",
}
NOT_UNDERSTOOD_OUTCOMES = {
    "courrier_non_rattache": "un message citant un dossier, venu d'une adresse inconnue de ce dossier (non rattaché)",
    "confirmation_ignoree": "une réponse à une demande de confirmation, venue d'une adresse inconnue du dossier",
    "confirmation_incomprise": "une réponse à une demande de confirmation sans OUI ni NON",
    "avis_refuse": "une réponse à une demande d'avis, refusée (expéditeur non autorisé ou non authentifié)",
    "avis_incompris": "une réponse de l'IEN sans avis clair (précision demandée)",
    "limite_atteinte": "pas de réponse : limite quotidienne de réponses automatiques atteinte pour cet expéditeur",
    "erreur_interne": "un message que l'assistant n'a pas pu traiter (conservé tel quel)",
    "statut_refuse": "une demande de statut venant d'une adresse inconnue du dossier (pas de réponse)",
    "destinataire_ecarte": "pas de réponse : l'adresse de l'expéditeur est vide, celle d'un robot ou la nôtre",
}
# Sections in the order of the mail; the first ones are news, the others the state of things.
NEWS = ("nouveaux", "repris", "a_confirmer", "non_envoyes", "versions", "avis_recus", "decisions", "bilans_recus",
        "questions", "commandes_refusees", "incompris")
TITLES = {
    "nouveaux": "Nouveaux dossiers",
    "repris": "Fiches reprises dans les anciens messages (reprise demandée par l'exploitant)",
    "a_confirmer": "Fiches et bilans d'une adresse inconnue du dossier, en attente de la confirmation du porteur",
    "non_envoyes": "Courriels non envoyés (adresse écartée ou limite quotidienne atteinte)",
    "versions": "Nouvelles versions (ce qui a changé)",
    "avis_recus": "Avis de l'IEN reçus",
    "decisions": "Décisions enregistrées",
    "bilans_recus": "Bilans reçus",
    "questions": "Messages des porteurs rattachés à un dossier (questions, courriers)",
    "commandes_refusees": "Commandes refusées (expéditeur non coordinateur, non authentifié, ou hors de son fil)",
    "incompris": "Messages que l'assistant n'a pas compris (à regarder)",
    "incomplets": "Dossiers incomplets (en attente d'une correction)",
    "avis_en_attente": "Avis de l'IEN en attente",
    "prets": "Prêts pour la troïka",
    "bilans_bientot": "Bilans attendus dans les 30 jours",
    "bilans_retard": "Bilans en retard",
}
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass
class Digest:
    coordinator: str
    since: datetime
    sections: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def has_news(self) -> bool:
        return any(self.sections.get(name) for name in NEWS)


def _row(dossier: Dossier, detail: str = "") -> dict:
    fields = dossier.current.fields if dossier.current else {}
    return {"reference": dossier.reference, "intitule": fields.get("intitule") or "sans intitulé",
            "structure": fields.get("structure") or "", "detail": detail}


def _taken_back(dossier: Dossier) -> bool:
    """Made from old mail by `citebot backfill` (its creation event says so)."""
    return any(e.kind == "dossier_cree" and e.detail.get("repris") for e in dossier.events)


def _changes(rules: Rules, before: dict, after: dict) -> str:
    changed = [f.label for f in rules.fields if before.get(f.key) != after.get(f.key)]
    return ", ".join(changed) if changed else "aucun champ modifié (mise en page ou pièces jointes)"


def build(session: Session, cfg: Config, rules: Rules, coordinator: str, since: datetime, today: date) -> Digest:
    digest = Digest(coordinator, since)
    extra = coordinator in cfg.coordination.extra  # digests of every dossier (coordinators.md)
    mine = [d for d in session.scalars(select(Dossier).order_by(Dossier.year, Dossier.seq))
            if extra or coordinator in d.coordinators]
    s = digest.sections
    new = [d for d in mine if d.created_at > since]
    s["nouveaux"] = [_row(d, STATUS_LABELS.get(d.status, d.status)) for d in new if not _taken_back(d)]
    s["repris"] = [_row(d, STATUS_LABELS.get(d.status, d.status)) for d in new if _taken_back(d)]
    s["a_confirmer"] = [
        _row(c.dossier, f"{'nouvelle version envoyée' if c.kind == 'version' else 'bilan envoyé'} par {c.sender} "
                        f"(pour l'accepter : répondez CONFIRMER {c.dossier.reference})")
        for c in session.scalars(select(PendingChange).where(PendingChange.status == "attente")
                                 .order_by(PendingChange.id))
        if c.created_at > since and (extra or coordinator in c.dossier.coordinators)
    ]
    s["non_envoyes"] = _not_sent(session, cfg, coordinator, {d.id: d for d in mine}, since)
    s["versions"] = [
        _row(d, f"version {v.number} : {_changes(rules, d.versions[v.number - 2].fields, v.fields)}")
        for d in mine for v in d.versions if v.number > 1 and v.created_at > since
    ]
    s["avis_recus"] = [_row(d, f"{'favorable' if d.avis.status == 'favorable' else 'défavorable'}"
                               + (f" — {d.avis.comment}" if d.avis.comment else ""))
                       for d in mine if d.avis and d.avis.answered_at and d.avis.answered_at > since]
    s["decisions"] = [_row(d, f"{STATUS_LABELS[d.status]}"
                           + (f", {typography.euros(d.montant_accorde)}" if d.montant_accorde else ""))
                      for d in mine if d.decided_at and d.decided_at > since]
    s["bilans_recus"] = [_row(d, f"{bilans.label(b.kind)} {b.year}") for d in mine for b in d.bilans
                         if b.received_at and b.received_at > since]
    s["questions"] = _questions(session, cfg, coordinator, {d.id: d for d in mine}, since)
    s["commandes_refusees"] = _refused_commands(session, cfg, coordinator, since)
    s["incompris"] = _not_understood(session, cfg, coordinator, since)
    s["incomplets"] = [_row(d, typography.plural(sum(f['severity'] == 'error' for f in d.current.findings), "point")
                            + " à corriger")
                       for d in mine if d.status == "incomplet"]
    s["avis_en_attente"] = [
        _row(d, _asked(today, d.avis.requested_at) + ", " + typography.plural(d.avis.reminders_sent, "rappel"))
        for d in mine if d.status == "en_attente_avis" and d.avis and d.avis.status == "demande"
    ]
    s["prets"] = [_row(d, _amounts(d)) for d in mine if d.status == "pret_troika"]
    waiting = [(d, b) for d in mine if d.status == "accepte" for b in d.bilans if b.received_at is None]
    s["bilans_bientot"] = [_row(d, f"{bilans.label(b.kind)} {b.year}, attendu le {typography.day(b.due)}")
                           for d, b in waiting if today <= b.due <= today + SOON]
    s["bilans_retard"] = [_row(d, f"{bilans.label(b.kind)} {b.year}, attendu le {typography.day(b.due)}")
                          for d, b in waiting if b.due < today]
    return digest


def _amounts(dossier: Dossier) -> str:
    fields = dossier.current.fields if dossier.current else {}
    asked, total = fields.get("montant_sollicite"), fields.get("cout_total")
    parts = [f"{format_amount(Decimal(asked))} sollicités" if asked else "montant sollicité non renseigné"]
    if total:
        parts.append(f"coût total {format_amount(Decimal(total))}")
    return ", ".join(parts)


def _mailboxes_of(cfg: Config, coordinator: str) -> list[str]:
    if coordinator in cfg.coordination.extra:
        return [m.name for m in cfg.mailboxes]
    return [m.name for m in cfg.mailboxes if coordinator in m.coordinators]


def _questions(session: Session, cfg: Config, coordinator: str, mine: dict[int, Dossier],
               since: datetime) -> list[dict]:
    """Porteurs' messages filed with a dossier (a question, a letter): to be answered by a person."""
    rows = []
    for event in session.scalars(select(Event).where(Event.kind == "courrier_recu", Event.at > since)
                                 .order_by(Event.id)):
        dossier = mine.get(event.dossier_id)
        if dossier is not None:
            pieces = event.detail.get("pieces") or []
            rows.append(_row(dossier, f"« {event.detail.get('subject') or '(sans objet)'} »"
                                      + (f", {typography.plural(len(pieces), 'pièce jointe', 'pièces jointes')}" if pieces else "")))
    return rows


def _refused_commands(session: Session, cfg: Config, coordinator: str, since: datetime) -> list[dict]:
    """Commands by mail applied to nothing: not a coordinator, not authenticated, another thread…"""
    rows = session.scalars(select(InboundMessage).where(
        InboundMessage.mailbox.in_(_mailboxes_of(cfg, coordinator)), InboundMessage.received_at > since,
        InboundMessage.outcome == "commande_refusee").order_by(InboundMessage.id))
    return [{"reference": f"boîte {m.mailbox}", "intitule": (m.subject or "(sans objet)")[:80],
             "structure": m.from_addr or "",
             "detail": f"{m.detail.get('refus', 'refusée')} ; lignes : "
                       + " / ".join(m.detail.get("commandes", []))[:300]}
            for m in rows]


def _asked(today: date, requested_at: datetime) -> str:
    """« demandé aujourd'hui », « demandé hier », « demandé il y a 3 jours »."""
    days = (today - requested_at.astimezone(clock.PARIS).date()).days
    if days <= 0:
        return "demandé aujourd'hui"
    return "demandé hier" if days == 1 else f"demandé il y a {typography.plural(days, 'jour')}"


def _not_understood(session: Session, cfg: Config, coordinator: str, since: datetime) -> list[dict]:
    mailboxes = _mailboxes_of(cfg, coordinator)
    rows = session.scalars(select(InboundMessage).where(
        InboundMessage.mailbox.in_(mailboxes), InboundMessage.received_at > since).order_by(InboundMessage.id))
    return [{"reference": f"boîte {m.mailbox}", "intitule": (m.subject or "(sans objet)")[:80],
             "structure": m.from_addr or "",
             "detail": NOT_UNDERSTOOD_OUTCOMES.get(m.outcome) or NOT_UNDERSTOOD[m.classification]}
            for m in rows if m.classification in NOT_UNDERSTOOD or m.outcome in NOT_UNDERSTOOD_OUTCOMES]


def _not_sent(session: Session, cfg: Config, coordinator: str, mine: dict[int, Dossier],
              since: datetime) -> list[dict]:
    """What the outbox did not send (security.md: "what is not sent is recorded and visible
    to coordinators"): on the coordinator's dossiers, or from their mailboxes' messages."""
    mailboxes = {m.name for m in cfg.mailboxes if coordinator in m.coordinators}
    rows = []
    for event in session.scalars(select(Event).where(Event.kind == "destinataire_ecarte", Event.at > since)
                                 .order_by(Event.id)):
        inbound = session.get(InboundMessage, event.inbound_id) if event.inbound_id else None
        dossier = mine.get(event.dossier_id) if event.dossier_id else None
        if dossier is None and (event.dossier_id or inbound is None or inbound.mailbox not in mailboxes):
            continue
        why = ", ".join(f"{d['address'] or '(vide)'} : {d['why']}" for d in event.detail.get("dropped", []))
        detail = f"« {event.detail.get('kind', '')} » — {why}"
        rows.append(_row(dossier, detail) if dossier is not None else
                    {"reference": f"boîte {inbound.mailbox}", "intitule": (inbound.subject or "(sans objet)")[:80],
                     "structure": "", "detail": detail})
    return rows


def coordinators(session: Session, cfg: Config) -> list[str]:
    everyone = {c for m in cfg.mailboxes for c in m.coordinators} | set(cfg.coordination.extra)
    everyone |= {c for d in session.scalars(select(Dossier)) for c in d.coordinators}
    return sorted(everyone)


def queue_digests(session: Session, cfg: Config, rules: Rules, today: date) -> int:
    return sum(queue_digest(session, cfg, rules, coordinator, today) for coordinator in coordinators(session, cfg))


def queue_digest(session: Session, cfg: Config, rules: Rules, coordinator: str, today: date,
                 force: bool = False, in_reply_to: str | None = None) -> bool:
    """One coordinator's digest, when there is news (or `force`: POINT by mail)."""
    now = clock.now()
    state = session.get(DigestState, coordinator)
    digest = build(session, cfg, rules, coordinator, state.last_sent_at if state else EPOCH, today)
    if not digest.has_news and not force:
        return False
    sections = [{"title": TITLES[name], "rows": rows} for name, rows in digest.sections.items() if rows]
    row = enqueue(session, Mail(kind="digest", to=(coordinator,), auto_submitted="auto-generated",
                                reply_to=_reply_mailbox(cfg, coordinator), in_reply_to=in_reply_to,
                                attachments=_one_fiche(session, cfg, digest),
                                references=(in_reply_to,) if in_reply_to else (),
                                context={"today": today, "since": None if state is None else state.last_sent_at,
                                         "sections": sections, "bot_name": cfg.bot.name,
                                         "reference_example": f"{cfg.bot.reference_prefix}-{today.year}-0007"}), cfg)
    # A coordinator address the outbox refuses (our own, a robot's) would be refused every day:
    # the news count as told, and the refusal is an event.
    if state is None:
        session.add(DigestState(coordinator=coordinator, last_sent_at=now))
    else:
        state.last_sent_at = now
    return row is not None


def _one_fiche(session: Session, cfg: Config, digest: Digest) -> tuple[Attachment, ...]:
    """The fiche, when the digest is about one dossier only (coordinators.md)."""
    references = {r["reference"] for rows in digest.sections.values() for r in rows
                  if not r["reference"].startswith("boîte ")}
    if len(references) != 1:
        return ()
    dossier = session.scalar(select(Dossier).where(Dossier.reference == references.pop()))
    document = dossier.current.document if dossier is not None and dossier.current else None
    path = cfg.bot.data_dir / document.stored_name if document is not None and document.stored_name else None
    if path is None or not path.is_file():
        return ()
    return (Attachment(f"{dossier.reference} - {document.original_name}", path.read_bytes()),)


def _reply_mailbox(cfg: Config, coordinator: str) -> str:
    """A polled mailbox the coordinator's answer (commands) reaches: their own team's."""
    return next((m.address for m in cfg.mailboxes if coordinator in m.coordinators), cfg.mailboxes[0].address)


def send_digests(rt: Context, today: date) -> int:
    """Queue one digest per coordinator with news (the outbox sends them)."""
    with rt.sessions.begin() as session:
        return queue_digests(session, rt.cfg, rt.rules, today)
