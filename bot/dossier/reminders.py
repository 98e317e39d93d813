"""The daily reminders: avis of the IEN and bilans, in one transaction per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.dossier import avis, bilans
from bot.dossier.context import Context


@dataclass
class RemindersReport:
    avis_reminders: int = 0
    avis_alerts: int = 0
    bilan_reminders: int = 0
    bilan_overdue: int = 0

    def __str__(self) -> str:
        return (f"{self.avis_reminders} rappel(s) d'avis, {self.avis_alerts} alerte(s) d'avis, "
                f"{self.bilan_reminders} rappel(s) de bilan, {self.bilan_overdue} bilan(s) en retard signalé(s)")


def run_reminders(rt: Context, today: date) -> RemindersReport:
    """Queue the reminders due `today` (idempotent for a given day); the outbox sends them."""
    with rt.sessions.begin() as session:
        a = avis.remind(session, rt.cfg, rt.rules, today)
        b = bilans.remind(session, rt.cfg, rt.rules, today)
    return RemindersReport(a.reminders, a.alerts, b.reminders, b.overdue)
