"""Rendering the mails: the Jinja filters say dates as French people write them."""

from __future__ import annotations

from datetime import date, datetime, timezone

from bot.mail.compose import date_fr, datetime_fr


def test_french_dates_write_the_first_of_the_month_as_1er():
    assert date_fr(date(2026, 12, 1)) == "1er\u00a0décembre 2026" and date_fr(date(2026, 11, 26)) == "26\u00a0novembre 2026"
    assert datetime_fr(datetime(2026, 12, 1, 8, 5, tzinfo=timezone.utc)) == "1er\u00a0décembre 2026 à 9\u00a0h\u00a005"
