"""Bilans owed by accepted dossiers: due dates and reminder days from
rules/calendar.toml (pure functions), and the daily reminders (thin I/O)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot.config import Config
from bot.mail.compose import Mail
from bot.mail.outbox import enqueue
from bot.paths import rules_dir
from bot.rules import Rules
from bot.store.models import Bilan, Dossier, Event


@cache
def calendar() -> dict:
    with open(rules_dir() / "calendar.toml", "rb") as f:
        return tomllib.load(f)


def _day(year: int, spec: dict) -> date:
    return date(year, spec["month"], spec["day"])


@dataclass(frozen=True)
class Owed:
    kind: str  # mi_parcours | definitif
    year: int
    due: date


def owed(start: date, end: date, cal: dict | None = None) -> list[Owed]:
    """The bilans a project running from `start` to `end` owes."""
    cal = cal or calendar()
    out = []
    if end.year > start.year:
        out.append(Owed("mi_parcours", start.year, _day(start.year, cal["mi_parcours"]["due"])))
    out.append(Owed("definitif", end.year, end + timedelta(days=cal["definitif"]["due_days_after_end"])))
    return out


def reminder_days(kind: str, year: int, due: date, cal: dict | None = None) -> list[date]:
    cal = cal or calendar()
    if kind == "mi_parcours":
        return sorted(_day(year, spec) for spec in cal["mi_parcours"]["reminders"])
    spec = cal["definitif"]
    return sorted([due - timedelta(days=d) for d in spec["reminder_days_before_due"]]
                  + [due + timedelta(days=d) for d in spec["reminder_days_after_due"]])


def overdue_day(kind: str, year: int, due: date, cal: dict | None = None) -> date:
    cal = cal or calendar()
    if kind == "mi_parcours":
        return _day(year + 1, cal["mi_parcours"]["overdue_notice"])
    return due + timedelta(days=cal["definitif"]["overdue_notice_days_after_due"])


def reminder_due(kind: str, year: int, due: date, sent: list[date], today: date, cal: dict | None = None) -> bool:
    """True when a reminder is due today: the latest reminder day reached has not been
    followed by a reminder yet (a day missed by the daemon is caught up once, not twice)."""
    reached = [d for d in reminder_days(kind, year, due, cal) if d <= today]
    return bool(reached) and not any(s >= reached[-1] for s in sent) and today <= overdue_day(kind, year, due, cal)


def label(kind: str) -> str:
    return calendar()[kind]["label"]


def create_for(session: Session, dossier: Dossier, start: date, end: date) -> list[Bilan]:
    bilans = [Bilan(dossier=dossier, kind=o.kind, year=o.year, due=o.due, reminders_on=[]) for o in owed(start, end)]
    session.add_all(bilans)
    return bilans


def describe(bilans: list[Bilan]) -> list[dict]:
    return [{"label": label(b.kind), "year": b.year, "due": b.due, "received_at": b.received_at} for b in bilans]


@dataclass
class BilanReport:
    reminders: int = 0
    overdue: int = 0


def remind(session: Session, cfg: Config, rules: Rules, today: date) -> BilanReport:
    from bot.dossier.avis import note_coordinators

    report = BilanReport()
    open_bilans = session.scalars(
        select(Bilan).join(Dossier).where(Bilan.received_at.is_(None), Dossier.status == "accepte").order_by(Bilan.id)
    )
    for bilan in open_bilans:
        dossier = bilan.dossier
        sent = [date.fromisoformat(d) for d in bilan.reminders_on]
        if reminder_due(bilan.kind, bilan.year, bilan.due, sent, today):
            bilan.reminders_on = [*bilan.reminders_on, today.isoformat()]
            _send_reminder(session, cfg, dossier, bilan, len(bilan.reminders_on))
            report.reminders += 1
        elif bilan.overdue_notified_on is None and today >= overdue_day(bilan.kind, bilan.year, bilan.due):
            bilan.overdue_notified_on = today
            note_coordinators(session, cfg, dossier, f"{label(bilan.kind).capitalize()} {bilan.year} en retard",
                              f"Le {label(bilan.kind)} {bilan.year} de ce dossier était attendu pour le "
                              f"{bilan.due:%d/%m/%Y} et n'a pas été reçu malgré les rappels au porteur.")
            session.add(Event(dossier=dossier, at=clock.now(), kind="bilan_en_retard",
                              detail={"bilan": bilan.kind, "annee": bilan.year}))
            report.overdue += 1
    return report


def _send_reminder(session: Session, cfg: Config, dossier: Dossier, bilan: Bilan, number: int) -> None:
    fields = dossier.current.fields if dossier.current else {}
    to = tuple(a for a in (dossier.porteur_email,) if a) or tuple(dossier.coordinators)
    mailbox = cfg.mailbox(dossier.mailbox)
    enqueue(session, Mail(
        kind="bilan_rappel", to=to, reply_to=mailbox.address if mailbox else None, auto_submitted="auto-generated",
        context={"reference": dossier.reference, "intitule": fields.get("intitule") or "projet sans intitulé",
                 "bilan": label(bilan.kind), "year": bilan.year, "due": bilan.due, "number": number,
                 "suffixes": ", ".join(calendar()["documents"]["suffixes"]), "bot_name": cfg.bot.name},
    ), cfg, dossier_id=dossier.id)
    session.add(Event(dossier=dossier, at=clock.now(), kind="bilan_rappel",
                      detail={"bilan": bilan.kind, "annee": bilan.year, "numero": number}))


def accepts(filename: str) -> bool:
    return filename.lower().endswith(tuple(calendar()["documents"]["suffixes"]))


def next_owed(dossier: Dossier) -> Bilan | None:
    waiting = [b for b in dossier.bilans if b.received_at is None]
    return min(waiting, key=lambda b: b.due) if waiting else None
