"""Which options of a list a porteur chose.

A porteur marks a choice with ☒ ☑ ✓ ✔ ■ [X] (X) or an "X " in front (check-box
fields arrive here already turned into ☒ / ☐ by bot.form.layout), or deletes the
options they did not choose. Unmarked boxes are ☐ □ [ ] ( ).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from bot.rules import Option
from bot.text import normalize

_CHECKED = r"☒|☑|✓|✔|■|✅|✗|✘|\[\s*[xX]\s*\]|\(\s*[xX]\s*\)|(?:^|(?<=\s\s)|(?<=\t))[xX](?=\s)"
_UNCHECKED = r"☐|□|▢|❏|❑|\[\s*_?\s*\]|\(\s*\)"
_MARK = re.compile(f"(?P<on>{_CHECKED})|(?P<off>{_UNCHECKED})")


@dataclass(frozen=True)
class Segment:
    marked: bool | None  # True checked, False unchecked box, None no box
    text: str


def segments(line: str) -> list[Segment]:
    """Split a line into the texts that follow (or precede) each box."""
    marks = list(_MARK.finditer(line))
    if not marks:
        return [Segment(None, line.strip())] if line.strip() else []
    state = [m.group("on") is not None for m in marks]
    # "Oui ☒   Non ☐": boxes after their labels.
    if line[: marks[0].start()].strip() and not line[marks[-1].end() :].strip():
        starts = [0] + [m.end() for m in marks[:-1]]
        return [Segment(s, line[a : m.start()].strip()) for s, a, m in zip(state, starts, marks)]
    out = []
    if line[: marks[0].start()].strip():
        out.append(Segment(None, line[: marks[0].start()].strip()))
    ends = [m.start() for m in marks[1:]] + [len(line)]
    out.extend(Segment(s, line[m.end() : e].strip()) for s, m, e in zip(state, marks, ends))
    return out


def has_marks(lines: list[str]) -> bool:
    return any(_MARK.search(line) for line in lines)


@cache
def _wordings(options: tuple[Option, ...]) -> list[tuple[str, str]]:
    """(normalized wording, option key), longest first: "peri scolaire" before "scolaire"."""
    return sorted(((normalize(a), o.key) for o in options for a in o.aliases), key=lambda x: -len(x[0]))


def find_options(text: str, options: tuple[Option, ...]) -> tuple[list[str], str]:
    """Options named in a text (longest wording first), and what is left over."""
    rest = f" {normalize(text)} "
    found: list[tuple[int, str]] = []
    for wording, key in _wordings(options):
        needle = f" {wording} "
        while (pos := rest.find(needle)) >= 0:
            found.append((pos, key))
            rest = rest[:pos] + " " + "\0" * (len(needle) - 2) + " " + rest[pos + len(needle) :]
    keys = list(dict.fromkeys(key for _, key in sorted(found)))
    return keys, rest.replace("\0", "").strip()


@dataclass(frozen=True)
class Choice:
    keys: list[str]  # chosen option keys, in document order
    unknown: list[str]  # marked texts that name no option


def choose(lines: list[str], options: tuple[Option, ...]) -> Choice:
    segs = [s for line in lines for s in segments(line)]
    if any(s.marked for s in segs):
        keys: list[str] = []
        unknown: list[str] = []
        for s in segs:
            if s.marked:
                found, _ = find_options(s.text, options)
                if found:
                    keys.extend(found)
                elif s.text:
                    unknown.append(s.text)
        return Choice(list(dict.fromkeys(keys)), unknown)
    texts = [s.text for s in segs if s.text]
    found = list(dict.fromkeys(k for t in texts for k in find_options(t, options)[0]))
    if any(s.marked is False for s in segs):
        # Boxes left but none ticked: the porteur deleted the options they did not
        # choose, or did nothing. The untouched list means nothing was chosen.
        # A box in front of a sentence ("☐ Oui, nous ferons figurer les logos…")
        # is a commitment left unticked, never an option kept by deletion.
        boxes = [s for s in segs if s.marked is False]
        if len(boxes) == 1 and len(find_options(boxes[0].text, options)[1].split()) >= 2:
            return Choice([], [])
        return Choice(found if len(found) < len(options) else [], [])
    unknown = [t for t in texts if not find_options(t, options)[0]]
    return Choice(found, unknown)
