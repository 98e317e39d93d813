"""Bilan due dates and reminder days from rules/calendar.toml (pure functions)."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.dossier.bilans import overdue_day, owed, reminder_days, reminder_due


def test_a_project_over_two_civil_years_owes_a_mid_term_and_a_final_bilan():
    bilans = owed(date(2026, 9, 1), date(2027, 6, 30))
    assert [(b.kind, b.year, b.due) for b in bilans] == [
        ("mi_parcours", 2026, date(2026, 12, 31)),
        ("definitif", 2027, date(2027, 8, 29)),
    ]


def test_a_project_within_one_civil_year_owes_a_final_bilan_only():
    assert [(b.kind, b.due) for b in owed(date(2027, 1, 10), date(2027, 6, 30))] == [("definitif", date(2027, 8, 29))]


def test_mid_term_reminders_on_the_first_and_fifteenth_of_december_then_january_notice():
    assert reminder_days("mi_parcours", 2026, date(2026, 12, 31)) == [date(2026, 12, 1), date(2026, 12, 15)]
    assert overdue_day("mi_parcours", 2026, date(2026, 12, 31)) == date(2027, 1, 15)


def test_final_bilan_reminders_before_and_after_its_due_date():
    due = date(2027, 8, 29)
    assert reminder_days("definitif", 2027, due) == [date(2027, 8, 14), date(2027, 9, 5)]
    assert overdue_day("definitif", 2027, due) == date(2027, 9, 28)


days = st.dates(min_value=date(2025, 1, 1), max_value=date(2032, 12, 31))


@given(start=days, length=st.integers(0, 700))
def test_bilans_are_due_after_their_year_or_the_end_and_never_twice(start, length):
    end = start + timedelta(days=length)
    bilans = owed(start, end)
    if end.year == start.year:
        assert [b.kind for b in bilans] == ["definitif"]
    else:
        mid, final = bilans
        assert mid.due == date(start.year, 12, 31) and mid.due < final.due
    assert bilans[-1].due > end
    assert len({(b.kind, b.year) for b in bilans}) == len(bilans)


@given(start=days, length=st.integers(0, 700), skip=st.sets(st.integers(0, 500), max_size=400))
def test_a_reminder_never_twice_a_day_and_at_most_one_per_reminder_day(start, length, skip):
    """Walk day by day (the daemon down on some days): reminders sent ≤ reminder days, never two on one day."""
    for bilan in owed(start, start + timedelta(days=length)):
        planned = reminder_days(bilan.kind, bilan.year, bilan.due)
        sent: list[date] = []
        day = planned[0] - timedelta(days=3)
        last = overdue_day(bilan.kind, bilan.year, bilan.due) + timedelta(days=3)
        offset = 0
        while day <= last:
            if offset not in skip:
                for _ in range(2):  # the same day twice: idempotent
                    if reminder_due(bilan.kind, bilan.year, bilan.due, sent, day):
                        sent.append(day)
            day += timedelta(days=1)
            offset += 1
        assert len(sent) == len(set(sent)) <= len(planned)
        assert all(s >= planned[0] for s in sent)
