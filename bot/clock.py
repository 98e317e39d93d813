"""The one place that reads the time, so tests and `--today` can pin it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
_pinned: datetime | None = None


def now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return _pinned if _pinned is not None else datetime.now(timezone.utc)


def today(tz: ZoneInfo = PARIS) -> date:
    return now().astimezone(tz).date()


@contextlib.contextmanager
def pinned(instant: datetime | date) -> Iterator[None]:
    """Run a block as if it were `instant` (a date means 09:00 that day in Paris)."""
    global _pinned
    if not isinstance(instant, datetime):
        instant = datetime.combine(instant, time(9, 0), PARIS)
    if instant.tzinfo is None:
        raise ValueError("pinned() needs a timezone-aware datetime")
    previous, _pinned = _pinned, instant.astimezone(timezone.utc)
    try:
        yield
    finally:
        _pinned = previous
