"""Dossiers as the CLI shows them (JSON of cli.md, and French text)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import text as typography
from bot.clock import PARIS
from bot.form.report import display_value
from bot.form.values import format_amount
from bot.rules import Rules, load_rules
from bot.store.models import AvisRequest, Document, Dossier, Outbox

STATUS_LABELS = {
    "nouveau": "nouveau",
    "incomplet": "incomplet",
    "en_attente_avis": "en attente de l'avis de l'IEN",
    "pret_troika": "prêt pour la troïka",
    "avis_defavorable": "avis défavorable",
    "accepte": "accepté",
    "refuse": "refusé",
    "sans_suite": "classé sans suite",
}


# The audit trail in the coordinators' words (`dossiers show` without --json).
EVENT_LABELS = {
    "dossier_cree": "dossier créé", "version_recue": "version de la fiche reçue", "statut": "changement de statut",
    "deja_recu": "fiche déjà reçue renvoyée", "copie_recue": "copie du même message reçue dans une autre boîte",
    "courrier_recu": "courrier reçu", "avis_demande": "avis demandé à l'IEN", "avis_relance": "rappel envoyé à l'IEN",
    "avis_mise_a_jour": "nouvelle version envoyée à l'IEN", "avis_recu": "avis de l'IEN reçu",
    "avis_refuse": "réponse d'avis refusée", "avis_incompris": "réponse de l'IEN à préciser",
    "avis_deja_donne": "second avis reçu (non pris en compte)",
    "avis_alerte_coordinateurs": "avis toujours attendu : coordinateurs alertés", "decision": "décision de la troïka",
    "bilan_rappel": "rappel de bilan envoyé", "bilan_recu": "bilan reçu", "bilan_en_retard": "bilan en retard signalé",
    "statut_envoye": "statut envoyé au porteur", "statut_refuse": "demande de statut refusée",
    "envoi_echoue": "courriel refusé par le serveur", "courriel_libere": "courriel retenu libéré",
    "courriel_annule": "courriel retenu annulé",
    "destinataire_ecarte": "destinataire écarté (adresse vide, de robot ou de citebot, ou limite du jour atteinte)",
    "confirmation_demandee": "envoi d'une adresse inconnue du dossier : confirmation demandée au porteur",
    "confirmation_appliquee": "envoi confirmé, enregistré",
    "confirmation_refusee": "envoi écarté par le porteur (NON)",
    "confirmation_ignoree": "réponse à la demande de confirmation venue d'une adresse inconnue (ignorée)",
    "confirmation_incomprise": "réponse à la demande de confirmation sans OUI ni NON",
    "reponse_non_envoyee": "réponse au porteur non envoyée (reprise des anciens messages)",
    "purge": "données personnelles effacées (durée de conservation échue)",
    "classement": "dossier classé sans suite par la coordination", "reouverture": "dossier rouvert par la coordination",
    "commande_annulee": "commande de la coordination annulée (ANNULER)",
}

AVIS_LABELS = {"demande": "demandé, en attente", "favorable": "favorable", "defavorable": "défavorable"}
BILAN_LABELS = {"mi_parcours": "bilan de mi-parcours", "definitif": "bilan définitif"}
MAIL_STATUS = {"pending": "en attente d'envoi", "sending": "en cours d'envoi", "sent": "envoyé", "failed": "échec de l'envoi",
               "held": "retenu jusqu'à sa libération", "cancelled": "annulé"}


# A recipient's outcome when a mail's recipients were not all accepted (bot.mail.outbox).
DELIVERY_STATES = {"accepte": "remis à {address}", "refuse": "refusé pour {address} ({reply})",
                   "reessai": "à réessayer pour {address} ({reply})"}


def delivery_text(delivery: dict) -> str:
    return " ; ".join(DELIVERY_STATES.get(d["state"], d["state"]).format(address=address, reply=d.get("reply", ""))
                      for address, d in delivery.items())


def iso(value: datetime | None) -> str | None:
    return value.astimezone(PARIS).isoformat(timespec="seconds") if value else None


def summary(dossier: Dossier) -> dict:
    current = dossier.current
    first = dossier.versions[0] if dossier.versions else None
    return {
        "reference": dossier.reference,
        "status": dossier.status,
        "version": current.number if current else 0,
        "fields": current.fields if current else {},
        "findings": current.findings if current else [],
        "mailbox": dossier.mailbox,
        "coordinators": list(dossier.coordinators),
        "porteur": dossier.porteur_email,
        "received_at": iso(first.created_at if first else dossier.created_at),
        "updated_at": iso(dossier.updated_at),
    }


def details(session: Session, dossier: Dossier) -> dict:
    mails = session.scalars(select(Outbox).where(Outbox.dossier_id == dossier.id).order_by(Outbox.id)).all()
    documents = session.scalars(select(Document).where(Document.dossier_id == dossier.id).order_by(Document.id)).all()
    return {
        **summary(dossier),
        "versions": [
            {"number": v.number, "received_at": iso(v.created_at), "valid": v.valid,
             "document": v.document.original_name if v.document else None, "findings": v.findings}
            for v in dossier.versions
        ],
        "events": [{"at": iso(e.at), "kind": e.kind, "detail": e.detail} for e in dossier.events],
        "avis": avis_json(dossier.avis),
        "bilans": [{"kind": b.kind, "year": b.year, "due": b.due.isoformat(), "received_at": iso(b.received_at),
                    "reminders": list(b.reminders_on)} for b in dossier.bilans],
        "decision": {"status": dossier.status, "decided_at": iso(dossier.decided_at),
                     "montant_accorde": dossier.montant_accorde, "comment": dossier.decision_comment}
        if dossier.decided_at else None,
        "documents": [
            {"name": d.original_name, "role": d.role, "sha256": d.sha256, "size": d.size,
             "stored_as": d.stored_name, "received_at": iso(d.created_at)}
            for d in documents
        ],
        "mails": [
            {"kind": m.kind, "to": m.recipients, "subject": m.subject, "status": m.status, "attempts": m.attempts,
             "created_at": iso(m.created_at), "sent_at": iso(m.sent_at), "error": m.last_error,
             "delivery": m.delivery}
            for m in mails
        ],
    }


def avis_json(avis: AvisRequest | None) -> dict | None:
    if avis is None:
        return None
    return {"status": avis.status, "requested_at": iso(avis.requested_at), "answered_at": iso(avis.answered_at),
            "answered_by": avis.answered_by, "comment": avis.comment, "reminders": avis.reminders_sent}


def list_dossiers(session: Session, status: str | None = None) -> list[Dossier]:
    query = select(Dossier).order_by(Dossier.year, Dossier.seq)
    if status:
        query = query.where(Dossier.status == status)
    return list(session.scalars(query))


def find(session: Session, reference: str) -> Dossier | None:
    return session.scalar(select(Dossier).where(Dossier.reference == reference.strip().upper()))


def table(dossiers: list[Dossier]) -> str:
    """A plain-text table for people."""
    rows = [("Référence", "Statut", "Version", "Intitulé", "Équipe")]
    for d in dossiers:
        s = summary(d)
        title = (s["fields"].get("intitule") or "—")[:40]
        rows.append((d.reference, STATUS_LABELS.get(d.status, d.status), str(s["version"]), title, d.mailbox))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _when(stamp: str | None) -> str:
    return typography.short_moment(datetime.fromisoformat(stamp)) if stamp else "—"  # « 01/12/2026 19 h 01 »


def _field_text(rules: Rules, key: str, value) -> str:
    """A stored (JSON) field value as people read it."""
    if value in (None, [], {}, ""):
        return "—"
    kind = rules.field(key).type
    if kind == "amount":
        return format_amount(Decimal(value))
    if kind == "date":
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    if kind == "materiel":
        return " ; ".join(f"{m.get('designation')} × {m.get('quantite')}" for m in value)
    if kind == "repartition" or isinstance(value, dict):
        return ", ".join(f"{year} : {format_amount(Decimal(amount))}" for year, amount in value.items())
    try:
        return display_value(value, rules, key)
    except (KeyError, TypeError, ValueError):
        return str(value)


def as_text(data: dict, rules: Rules | None = None) -> str:
    """One dossier for people, in French."""
    fields = data["fields"]
    lines = [
        f"Dossier {data['reference']} — {fields.get('intitule') or 'sans intitulé'}",
        f"  Statut : {STATUS_LABELS.get(data['status'], data['status'])} (version {data['version']})",
        f"  Équipe : {data['mailbox']} ({', '.join(data['coordinators'])})",
        f"  Porteur : {data['porteur'] or '—'}",
        f"  Reçu le : {_when(data['received_at'])}",
    ]
    rules = rules or load_rules()
    lines.append("  Fiche :")
    lines += [f"    {f.label} : {_field_text(rules, f.key, fields.get(f.key))}" for f in rules.fields
              if f.key in fields]
    errors = [f for f in data["findings"] if f["severity"] == "error"]
    if errors:
        lines.append(f"  À corriger ({len(errors)}) :")
        lines += [f"    - {f['message']}" for f in errors]
    others = [f for f in data["findings"] if f["severity"] != "error"]
    if others:
        lines.append(f"  Remarques ({len(others)}) :")
        lines += [f"    - {f['message']}" for f in others]
    given = data.get("avis")
    lines.append("  Avis de l'IEN : " + ("—" if not given else
                 f"{AVIS_LABELS.get(given['status'], given['status'])}, demandé le {_when(given['requested_at'])}"
                 + (f", rendu le {_when(given['answered_at'])} par {given['answered_by']}" if given["answered_at"]
                    else f", {given['reminders']} rappel(s)")
                 + (f"\n    Commentaire : {given['comment']}" if given.get("comment") else "")))
    decision = data.get("decision")
    lines.append("  Décision : " + ("—" if not decision else
                 f"{STATUS_LABELS.get(decision['status'], decision['status'])} le {_when(decision['decided_at'])}"
                 + (f", {format_amount(Decimal(decision['montant_accorde']))} accordés"
                    if decision["montant_accorde"] else "")
                 + (f"\n    Commentaire : {decision['comment']}" if decision["comment"] else "")))
    lines.append("  Bilans :")
    lines += [f"    - {BILAN_LABELS.get(b['kind'], b['kind'])} {b['year']}, attendu le "
              f"{date.fromisoformat(b['due']).strftime('%d/%m/%Y')} : "
              + (f"reçu le {_when(b['received_at'])}" if b["received_at"] else "pas encore reçu")
              for b in data.get("bilans", [])] or ["    —"]
    lines.append("  Versions :")
    lines += [f"    - version {v['number']} du {_when(v['received_at'])} : {'valide' if v['valid'] else 'incomplète'}"
              + (f" ({v['document']})" if v["document"] else "") for v in data.get("versions", [])] or ["    —"]
    lines.append("  Documents :")
    lines += [f"    - {d['name']} ({d['role']}, {d['size']} octets)" for d in data["documents"]] or ["    —"]
    lines.append("  Courriels :")
    lines += [
        f"    - « {m['subject']} » à {', '.join(m['to'])} : {MAIL_STATUS.get(m['status'], m['status'])}"
        + (f" — {delivery_text(m['delivery'])}" if m.get("delivery") else f" ({m['error']})" if m["error"] else "")
        for m in data["mails"]
    ] or ["    —"]
    lines.append("  Historique :")
    lines += [f"    - {_when(e['at'])} : {EVENT_LABELS.get(e['kind'], e['kind'])}"
              + (f" ({STATUS_LABELS.get(e['detail']['avant'], e['detail']['avant'])} → "
                 f"{STATUS_LABELS.get(e['detail']['apres'], e['detail']['apres'])})" if e["kind"] == "statut" else "")
              for e in data["events"]]
    return "\n".join(lines)
