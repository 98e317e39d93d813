"""The words only robots write (rules/robots.toml): their senders' local parts,
their headers, their subjects, the bodies of complaint notices.

Pure matching on strings; the file is read once. `bot/mail/parse.py` (`_auto`)
decides in which order these marks count, together with the MIME structure of
reports and null senders; `bot/mail/outbox.py` refuses to write to an address
`refusal` names.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.paths import rules_dir

# How robots join words in a local part: "gmail-noreply", "bounces+1234=example.org".
_JOINERS = "-_.+="
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_COLON = re.compile(r"\s+:")


@dataclass(frozen=True)
class Marker:
    """A robot's mark found in a message: the reason it gives and what it was."""

    reason: str  # the group of rules/robots.toml: "bounce", "autoreply", "list"…
    what: str  # for the record: "From local part post_master", "header X-MLServer"…


@dataclass(frozen=True)
class HeaderRule:
    names: tuple[str, ...]  # as written in the file ("X-MLServer"); compared in lower case
    reason: str
    values: tuple[str, ...] = ()  # the first word must be one of these (empty: any value)
    unless: tuple[str, ...] = ()  # … and must not be one of these


@dataclass(frozen=True)
class Subject:
    written: str  # as in the file, for the record
    start: str  # folded (see `fold`)
    reason: str

    def matches(self, folded: str) -> bool:
        if not folded.startswith(self.start):
            return False
        # "non remis" must not match "non remise": a whole word, unless the entry ends with ":".
        rest = folded[len(self.start):]
        return self.start.endswith(":") or not rest or not rest[0].isalnum()


@dataclass(frozen=True)
class Robots:
    senders: tuple[tuple[str, str], ...]  # (folded local part, reason)
    headers: tuple[HeaderRule, ...]
    feedback_body: tuple[str, ...]  # as written; compared in lower case
    subjects: tuple[Subject, ...]

    def sender(self, address: str | None) -> Marker | None:
        """The mark of a robot's address (its local part), or None."""
        local = fold(local_part(address or ""))
        if not local:
            return None
        for word, reason in self.senders:
            if local == word or (local.startswith(word) and local[len(word)] in _JOINERS) \
                    or (local.endswith(word) and local[-len(word) - 1] in _JOINERS):
                return Marker(reason, f"From local part {word}")
        return None

    def header_marks(self, headers: Iterable[tuple[str, str]]) -> Iterator[Marker]:
        """Every header mark of (lower-case name, raw value) pairs, in the file's order."""
        present: dict[str, str] = {}
        for name, value in headers:
            present.setdefault(name, value)
        for rule in self.headers:
            for name in rule.names:
                if name.lower() not in present:
                    continue
                word = first_word(present[name.lower()])
                if (rule.values and word not in rule.values) or word in rule.unless:
                    continue
                yield Marker(rule.reason, f"header {name}" + (f": {word}" if rule.values else ""))

    def complaint_body(self, text: str) -> str | None:
        """The complaint or notice mark found in a body sent with a Feedback-ID, or None."""
        lowered = text.lower()
        return next((mark for mark in self.feedback_body if mark.lower() in lowered), None)

    def subject(self, subject: str) -> Marker | None:
        folded = fold(subject)
        for entry in self.subjects:
            if entry.matches(folded):
                return Marker(entry.reason, f"subject « {entry.written} »")
        return None


def fold(text: str) -> str:
    """Lower case, no accents, runs of spaces (no-break ones too) as one, no space before ":"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return _SPACE_BEFORE_COLON.sub(":", _SPACES.sub(" ", text)).strip()


def local_part(address: str) -> str:
    """What comes before the last @ (angle brackets and quotes removed); the whole text without an @."""
    bare = address.strip().strip("<>").strip()
    return (bare.rpartition("@")[0] if "@" in bare else bare).strip('"')


def first_word(value: str) -> str:
    """First word of a header value, lower case; comments, parameters and "/version" removed."""
    value = re.sub(r"\([^()]*\)", " ", value).split(";", 1)[0]
    words = value.split()
    return words[0].split("/", 1)[0].lower() if words else ""


def refusal(address: str | None, robots: Robots | None = None) -> str | None:
    """Why no mail may be sent to this address: "empty" (nothing, <>, no @ or
    nothing around it) or "robot" (a robot's local part); None when it may."""
    bare = (address or "").strip().strip("<>").strip()
    local, at, domain = bare.rpartition("@")
    if not at or not local.strip('"') or not domain:
        return "empty"
    if (robots or load_robots()).sender(bare) is not None:
        return "robot"
    return None


def robots_from(data: dict) -> Robots:
    senders = tuple((fold(word), reason) for reason, words in data["senders"].items() for word in words)
    headers = tuple(
        HeaderRule(names=tuple(rule["names"]), reason=rule["reason"],
                   values=tuple(v.lower() for v in rule.get("values", ())),
                   unless=tuple(v.lower() for v in rule.get("unless", ())))
        for rule in data["header"]
    )
    subjects = tuple(Subject(written, fold(written), reason)
                     for reason, starts in data["subjects"].items() for written in starts)
    return Robots(senders=senders, headers=headers,
                  feedback_body=tuple(data["feedback"]["body"]), subjects=subjects)


@cache
def load_robots(path: Path | None = None) -> Robots:
    """rules/robots.toml (or another file of the same shape)."""
    path = path or rules_dir() / "robots.toml"
    with open(path, "rb") as handle:
        return robots_from(tomllib.load(handle))
