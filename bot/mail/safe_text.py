"""Text a sender controls, made fit for what the bot writes: mails, the digest, exports.

Pure, and linear in the length of the text: a 2 MB intitulé costs a few milliseconds.

- `clean` strips what must never reach a reader: control characters (C0 but tab and
  line feed, DEL, C1; a carriage return becomes a line feed) and the bidirectional
  embeddings, overrides, isolates and marks (U+202A–U+202E, U+2066–U+2069, U+200E,
  U+200F, U+061C): « facture<U+202E>fdp.exe » shows as « factureexe.pdf ».
- `one_line` is `clean` for a header: every run of white space, line breaks
  included, is one space.
- `shorten` bounds a text, cut on a word boundary when that keeps most of it, « … »
  at the cut; `filename` does it without losing the extension.
- `clean_context` applies `clean` to every string of a template's context.

security.md, "Who the bot writes to, and how much".
"""

from __future__ import annotations

import re
from typing import Any

# The intitulé and any other text of a sender, where it goes into a subject (security.md).
SUBJECT_FIELD_CHARS = 100
# Any header value we write, a whole subject included. At most 4 bytes a character in UTF-8:
# under the 998 octets a line may hold (RFC 5322, 2.1.1) even where it cannot be folded.
MAX_HEADER_CHARS = 240
MAX_FILENAME_CHARS = 120
ELLIPSIS = "…"

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile(r"\r\n?")
# What one_line folds: a run of white space, except a single no-break space, which is
# typography (« 4 points », « Dossier : ») and stays.
_FOLDED = re.compile(r"\s{2,}|[^\S\u00a0\u202f]")
# A cut on a word boundary keeps at least this share of the room: a longer last word is cut inside.
_WORD_BOUNDARY_SHARE = 2 / 3


def _drop(match: re.Match) -> str:
    # Vertical tab, form feed, the separators U+001C–U+001F and NEL separate words: a space.
    return " " if match.group().isspace() else ""


def clean(text: str) -> str:
    """The text without control or bidirectional-formatting characters; tabs and line feeds kept."""
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    return _UNSAFE.sub(_drop, text) if _UNSAFE.search(text) else text


def one_line(text: str) -> str:
    """`clean`, on one line: white space runs (line breaks included) as one space, ends trimmed."""
    return _FOLDED.sub(" ", clean(text)).strip()


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters. A longer text is cut on its last space when that keeps
    two thirds of the room, inside a word otherwise, and ends with « … »."""
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    head = text[:room]
    space = text.rfind(" ", 0, room + 1)  # a space just after the room: the last word ends there
    if space >= limit * _WORD_BOUNDARY_SHARE:
        head = head[:space]
    return head.rstrip(" ,;:-–—") + ELLIPSIS


def filename(name: str, limit: int = MAX_FILENAME_CHARS) -> str:
    """An attachment's name on one line, at most `limit` characters, its extension kept."""
    name = one_line(name)
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 0 < len(extension) <= 10:
        return shorten(stem, limit - len(extension) - 1) + "." + extension
    return shorten(name, limit)


def clean_context(value: Any) -> Any:
    """`clean` on every string of a template context: dicts, lists and tuples are walked
    (a tuple stays a tuple: templates unpack them), other values are left as they are."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {key: clean_context(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(clean_context(item) for item in value)
    if isinstance(value, list):
        return [clean_context(item) for item in value]
    return value
