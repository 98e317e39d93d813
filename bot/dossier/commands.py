"""The coordinators' commands, read from the new text of a mail (coordinators.md).

Pure: text in, data out. The vocabulary is data, in rules/commands.toml.

    parse(text, prefix) -> list[Command | Problem]   one per command line, in order

A line is a command when its first words name one (case, accents, extra spaces and a
trailing period ignored); any other line (« Bonjour », « Merci ») is not read. A
command line that cannot be applied as written (no reference, an unreadable amount,
an unknown list) is a Problem, answered as such. Whether the reference exists, and
whether the dossier's state allows the command, is for the handler to say.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from bot.dossier.references import format_reference
from bot.form.values import parse_amount
from bot.mail.reply import fold
from bot.paths import rules_dir

MAX_LINES = 200  # a reply is a few lines: more is not a list of commands
MAX_AMOUNT = Decimal(10**9)


@dataclass(frozen=True)
class Command:
    line: str  # as written
    verb: str  # a key of [verbs]
    reference: str | None = None
    amount: Decimal | None = None
    status: str | None = None  # LISTE <status>
    comment: str = ""


@dataclass(frozen=True)
class Problem:
    line: str
    verb: str
    reason: str  # French, for the answer


@dataclass(frozen=True)
class Vocabulary:
    verbs: tuple[tuple[tuple[str, ...], str], ...]  # (words, verb), longest first
    needs_reference: frozenset[str]
    takes_amount: frozenset[str]
    takes_status: frozenset[str]
    changes: frozenset[str]
    statuses: tuple[tuple[tuple[str, ...], str], ...]
    separators: tuple[str, ...]
    confirm_hours: int
    yes: tuple[tuple[str, ...], ...]
    no: tuple[tuple[str, ...], ...]


def words(text: str) -> tuple[str, ...]:
    """Folded words (lower case, no accents, punctuation as spaces)."""
    return tuple(re.sub(r"[^a-z0-9]+", " ", fold(text)).split())


def vocabulary_from(data: dict) -> Vocabulary:
    def by_length(table: dict) -> tuple:
        pairs = {(words(w), key) for key, ways in table.items() for w in ways}
        return tuple(sorted(pairs, key=lambda p: -len(p[0])))

    args = data["arguments"]
    return Vocabulary(
        verbs=by_length(data["verbs"]), needs_reference=frozenset(args["reference"]),
        takes_amount=frozenset(args["amount"]), takes_status=frozenset(args["status"]),
        changes=frozenset(args["changes"]), statuses=by_length(data["statuses"]),
        separators=tuple(data["comment"]["separators"]), confirm_hours=int(data["confirmation"]["hours"]),
        yes=tuple(words(w) for w in data["confirmation"]["yes"]),
        no=tuple(words(w) for w in data["confirmation"]["no"]),
    )


@cache
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    with open(path or rules_dir() / "commands.toml", "rb") as handle:
        return vocabulary_from(tomllib.load(handle))


def _split_comment(line: str, separators: tuple[str, ...]) -> tuple[str, str]:
    cuts = [(line.find(s), s) for s in separators if line.find(s) > 0]
    if not cuts:
        return line, ""
    at, sep = min(cuts)
    return line[:at], line[at + len(sep):].strip()


def _reference(rest: tuple[str, ...], prefix: str) -> tuple[str | None, tuple[str, ...]]:
    """`CE-2026-0007`, `ce 2026 7`, `2026-0007` at the start of `rest`: the reference and what follows."""
    start = 1 if rest and rest[0] == prefix.lower() else 0
    if len(rest) >= start + 2 and re.fullmatch(r"\d{4}", rest[start]) and re.fullmatch(r"\d{1,4}", rest[start + 1]):
        return format_reference(prefix, int(rest[start]), int(rest[start + 1])), rest[start + 2:]
    glued = re.fullmatch(rf"(?:{re.escape(prefix.lower())})?(\d{{4}})(\d{{4}})", rest[0]) if rest else None
    if glued:
        return format_reference(prefix, int(glued[1]), int(glued[2])), rest[1:]
    return None, rest


def _amount_text(head: str, reference_words: int) -> str:
    """What follows the reference in the line as written (an amount keeps its commas and spaces)."""
    tokens = re.split(r"(\s+)", head.strip())
    kept = [t for t in tokens if t.strip()]
    # The reference may be one token ("CE-2026-0007") or several ("ce 2026 7"): drop as many folded words.
    dropped, out = 0, []
    for token in kept:
        if dropped < reference_words:
            dropped += len(words(token))
            continue
        out.append(token)
    return " ".join(out).lstrip(":").strip()  # « ACCEPTÉ CE-2026-0007 : 2 500 € »


def read_line(line: str, prefix: str, vocab: Vocabulary) -> Command | Problem | None:
    head, comment = _split_comment(line.strip().rstrip("."), vocab.separators)
    said = words(head)
    for phrase, verb in vocab.verbs:
        if said[:len(phrase)] == phrase:
            break
    else:
        return None
    rest = said[len(phrase):]
    written = line.strip()
    if verb in vocab.needs_reference:
        reference, after = _reference(rest, prefix)
        if reference is None:
            return Problem(written, verb, "référence du dossier manquante ou illisible (exemple : "
                                          f"{format_reference(prefix, 2026, 7)})")
        amount = None
        if after and verb in vocab.takes_amount:
            text = _amount_text(head, len(said) - len(after))
            try:
                amount = parse_amount(text)
            except ValueError:
                return Problem(written, verb, f"montant illisible : « {text} » (exemple : 2 500 €)")
            if not 0 < amount < MAX_AMOUNT:
                return Problem(written, verb, f"montant illisible : « {text} » (exemple : 2 500 €)")
        elif after:
            return Problem(written, verb, "texte inattendu après la référence (un commentaire se met après « — »)")
        return Command(written, verb, reference, amount=amount, comment=comment)
    if verb in vocab.takes_status and rest:
        status = next((key for phrase, key in vocab.statuses if rest == phrase), None)
        if status is None:
            return Problem(written, verb, "liste inconnue (exemples : LISTE, LISTE PRÊTS, LISTE INCOMPLETS)")
        return Command(written, verb, status=status)
    if rest or comment:
        return None  # « Point de vue… », « Aide aux devoirs… »: a sentence, not a command
    return Command(written, verb)


def parse(text: str, prefix: str, vocab: Vocabulary | None = None) -> list[Command | Problem]:
    vocab = vocab or load_vocabulary()
    read = (read_line(line, prefix, vocab) for line in text.splitlines()[:MAX_LINES] if line.strip())
    return [item for item in read if item is not None]


def answer(text: str, vocab: Vocabulary | None = None) -> str | None:
    """"oui" or "non": what a reply to « Confirmez-vous ? » says on its first line that says anything."""
    vocab = vocab or load_vocabulary()
    for line in text.splitlines():
        said = words(line)
        if not said:
            continue
        if any(said[:len(p)] == p for p in vocab.no):
            return "non"
        if any(said[:len(p)] == p for p in vocab.yes):
            return "oui"
        if said[0] in ("bonjour", "bonsoir", "hello", "madame", "monsieur"):
            continue
        return None
    return None
