"""What the scheduled jobs of a dossier (reminders, digests) need of the runtime.

`bot.poller.Runtime` has these attributes; the jobs take this Protocol rather than
the Runtime itself so that `bot.dossier` never imports the message path above it.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Config
from bot.rules import Rules


class Context(Protocol):
    cfg: Config
    rules: Rules
    sessions: sessionmaker[Session]
