"""Is a message about the call? (mailboxes.md, "Two modes").

In a `personnel` mailbox — a coordinator's own inbox — only mail about the call
is handled; everything else is left exactly as it was. A message is about the
call when:

1. it carries a fiche projet (read from the bytes);
2. it refers to something of ours: a dossier reference in its subject, or a
   reply to one of our mails (In-Reply-To / References);
3. it is a status request (or, later, a coordinator's command);
4. it carries a file that could be a fiche in the wrong format (rules/mailbox.toml)
   and its subject, a file name or its first lines use the call's words.

Pure: the caller looks up what needs the database (2, 3) and passes the answers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.paths import rules_dir
from bot.text import normalize

MAX_CHARS = 2000


@dataclass(frozen=True)
class CallWords:
    words: tuple[str, ...]  # normalized
    text_lines: int
    wrong_format_suffixes: tuple[str, ...]

    def used_in(self, text: str) -> bool:
        """One of the words, whole, in `text` (case, accents and punctuation ignored;
        a hostile 2 MB subject is only read for its first MAX_CHARS characters)."""
        folded = f" {normalize((text or '')[:MAX_CHARS].replace('(', ' ').replace(')', ' '))} "
        return any(f" {word} " in folded for word in self.words)


@cache
def load_call_words(path: Path | None = None) -> CallWords:
    with open(path or rules_dir() / "mailbox.toml", "rb") as handle:
        data = tomllib.load(handle)["about_the_call"]
    return CallWords(words=tuple(w for w in (normalize(w) for w in data["words"]) if w),
                     text_lines=int(data["text_lines"]),
                     wrong_format_suffixes=tuple(s.lower() for s in data["wrong_format_suffixes"]))


@dataclass(frozen=True)
class Candidate:
    """What the classifier needs of an attachment."""

    filename: str
    is_fiche: bool
    is_failed_word: bool  # a Word file that is not a readable fiche


def first_lines(text: str, count: int) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(lines[:count])


def wrong_format(candidate: Candidate, words: CallWords) -> bool:
    return candidate.is_failed_word or candidate.filename.lower().endswith(words.wrong_format_suffixes)


def about_the_call(*, subject: str, text: str, files: Sequence[Candidate], refers_to_us: bool,
                   status_request: bool, words: CallWords | None = None) -> str | None:
    """Why the message is about the call ("fiche", "ours", "status", "wrong_format"), or None."""
    words = words or load_call_words()
    if any(f.is_fiche for f in files):
        return "fiche"
    if refers_to_us:
        return "ours"
    if status_request:
        return "status"
    wrong = [f for f in files if wrong_format(f, words)]
    if wrong and (words.used_in(subject) or any(words.used_in(f.filename) for f in files)
                  or words.used_in(first_lines(text, words.text_lines))):
        return "wrong_format"
    return None

