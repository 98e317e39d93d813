"""The daily reminders: avis of the IEN and bilans, in one transaction per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.dossier import avis, bilans
from bot.dossier.context import Context
from bot.text import plural


@dataclass
class RemindersReport:
    avis_reminders: int = 0
    avis_alerts: int = 0
    bilan_reminders: int = 0
    bilan_overdue: int = 0

    def __str__(self) -> str:
        avis, alerts = plural(self.avis_reminders, "rappel d'avis"), plural(self.avis_alerts, "alerte d'avis")
        return (f"{avis}, {alerts}, {plural(self.bilan_reminders, 'rappel de bilan')}, "
                f"{plural(self.bilan_overdue, 'bilan en retard signalé', 'bilans en retard signalés')}")


def run_reminders(rt: Context, today: date) -> RemindersReport:
    """Queue the reminders due `today` (idempotent for a given day); the outbox sends them."""
    with rt.sessions.begin() as session:
        a = avis.remind(session, rt.cfg, rt.rules, today)
        b = bilans.remind(session, rt.cfg, rt.rules, today)
    return RemindersReport(a.reminders, a.alerts, b.reminders, b.overdue)
