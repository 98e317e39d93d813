"""The new text of a reply: what its author wrote now, without the quoted
message, the attribution and header lines, the footers, the closing and the
signature. Pure: text in, text out. The shapes of quoted text are data, in
rules/reply.toml; this module only applies them. Used to read the IEN's avis
(bot/dossier/avis_reply.py) and anything else answered by mail.

    new_text(body) -> str          what the author of the reply wrote now
    normalise(body) -> str         step 1 below, for mail-parser-reply

`body` is `Incoming.text` (bot.mail.parse): the plain-text part, or the HTML part
converted to text.

The new text, step by step (`new_text`):

1. `normalise`: line breaks, no-break and zero-width spaces, and the three
   shapes mail-parser-reply misses (facts.md): a no-break space before a colon
   ("De\\u00a0:"), "De:" without a space, an attribution line "Le … a écrit :"
   wrapped over two or three lines. Named separators ("-----Message
   d'origine-----", "----- Mail original -----"…) are rewritten as the one
   mail-parser-reply knows, "-----Original Message-----".
2. Quoted lines ("> …") are dropped, and the text is cut at the first line that
   starts the quoted message: an attribution line, a separator, or a block of
   two header lines ("De : … / Envoyé : …", "From: … / Sent: …"). This is done
   here rather than left to mail-parser-reply, whose French attribution pattern
   has a capturing group (a reply is then split at the name inside it) and a
   look-ahead that skips any attribution whose name contains "le " ("Michèle
   Lenoir a écrit :"); and its signature pattern also matches quoted lines, so
   a quoted "> Cordialement" swallows an answer written below the quote.
   When nothing was written above that line, the answer is below the quote
   (bottom-posting): the new text is then what follows, up to the next one.
3. mail-parser-reply (languages fr, then en) splits what is left once more on
   the shapes it knows; its first reply is kept, with its signature (it cuts at
   any line starting with "Cordialement", even one the caller keeps: step 4
   does that with care).
4. Footers (« Envoyé de mon iPhone », « Obtenir Outlook pour Android », "-- "),
   the closing line (« Bien cordialement, ») with everything after it, and a
   trailing signature block (name, title, phone, address) are dropped. A line
   the caller says to keep (`keep`: for the avis, one holding a decision
   expression) is never dropped as a closing or signature.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from mailparser_reply import EmailMessage

from bot.paths import rules_dir

LANGUAGES = ("fr", "en")  # mail-parser-reply: French headers first, English as the fallback
MAX_ATTRIBUTION_CHARS = 400  # a longer "line" is prose, not an attribution
ATTRIBUTION_WRAP_LINES = 3  # a wrapped attribution is joined over at most this many lines
SIGNATURE_NAME_WORDS = 5  # a name-like signature line has at most this many words
SIGNATURE_MAX_WORDS = 12  # a signature line has at most this many words
# A reply body is read up to this many characters (a reply is a few lines, a long
# quote history a few pages): this bounds the time spent on a hostile message.
MAX_TEXT_CHARS = 300_000
MAX_LIBRARY_LINE_CHARS = 300  # see _library_split
MAX_SIGNATURE_LINE_CHARS = 200  # a longer line is no footer, closing or signature line

# Words of a line (folded, stemmed) -> True when the line must stay: never a
# closing or signature line (the avis: a line holding a decision expression).
Keep = Callable[[Sequence[str]], bool]


def _keep_nothing(words: Sequence[str]) -> bool:
    return False


# -- folding -------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})


def fold(text: str) -> str:
    """Lower case, accents removed, typographic apostrophes as "'"; the length
    may change ("ﬁ" gives "fi"; see `fold_with_origins`)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(char) for char in text)


@cache
def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char.translate(_APOSTROPHES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fold_with_origins(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index of the
    original character it comes from (for evidence quoted as written)."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    out: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        out.append(folded)
        origins.extend([index] * len(folded))
    return "".join(out), origins


def stem(word: str) -> str:
    """A light French ending removal: "validées" = "validé" = "valide" -> "valid"."""
    if len(word) > 4 and word.endswith("es"):
        word = word[:-1]
    for _ in range(2):
        if len(word) > 4 and word.endswith("e"):
            word = word[:-1]
    return word


_WORD = re.compile(r"[^\W_]+")


def phrase(text: str) -> tuple[str, ...]:
    """An expression of the vocabulary as stemmed, folded words."""
    return tuple(stem(w) for w in _WORD.findall(fold(text)))


def words_of(line: str) -> list[str]:
    """The folded, stemmed words of a line."""
    return [stem(w) for w in _WORD.findall(fold(line))]


def phrases(items: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """Distinct non-empty phrases, longest first (so the longest match wins)."""
    unique = {p for p in (phrase(item) for item in items) if p}
    return tuple(sorted(unique, key=lambda p: (-len(p), p)))


def find_phrase(words: Sequence[str], target: Sequence[str]) -> int:
    """Index of `target` in `words`, or -1."""
    n = len(target)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) == tuple(target):
            return i
    return -1


def starts_with(words: Sequence[str], candidates: Iterable[tuple[str, ...]], max_extra: int) -> bool:
    """`words` is one of `candidates` plus at most `max_extra` words."""
    return any(tuple(words[:len(p)]) == p and len(words) - len(p) <= max_extra for p in candidates)


def tidy(lines: Iterable[str]) -> str:
    """Lines trimmed, runs of blank lines as one, ends stripped."""
    text = "\n".join(line.strip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# -- the shapes of quoted text (rules/reply.toml) -------------------------------------


@dataclass(frozen=True)
class Shapes:
    attribution: tuple[re.Pattern, ...]
    separators: tuple[re.Pattern, ...]
    header_line: re.Pattern
    footers: tuple[re.Pattern, ...]
    footer_max_words: int
    closings: tuple[tuple[str, ...], ...]
    closing_max_extra_words: int
    signature_markers: tuple[re.Pattern, ...]


def _patterns(items: Iterable[str]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(item) for item in items)


def shapes_from(data: dict) -> Shapes:
    """The Shapes of a parsed rules/reply.toml."""
    reply = data["reply"]
    fields = "|".join(re.escape(f) for f in sorted(reply["header_fields"], key=len, reverse=True))
    return Shapes(
        attribution=_patterns(reply["attribution"]),
        separators=_patterns(reply["separators"]),
        header_line=re.compile(rf"^\**\s*({fields})\s*\**\s*:"),
        footers=_patterns(reply["footers"]),
        footer_max_words=int(reply["footer_max_words"]),
        closings=phrases(reply["closings"]),
        closing_max_extra_words=int(reply["closing_max_extra_words"]),
        signature_markers=_patterns(reply["signature_markers"]),
    )


@cache
def load_shapes(path: Path | None = None) -> Shapes:
    """rules/reply.toml (or another file of the same shape)."""
    path = path or rules_dir() / "reply.toml"
    with open(path, "rb") as handle:
        return shapes_from(tomllib.load(handle))


# -- step 1: normalisation ----------------------------------------------------------

_SPACES = re.compile(r"[\u00a0\u2007\u202f\u2000-\u200a\u205f\u3000\t]")  # no-break, narrow, thin…
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad]")  # zero-width, BOM, soft hyphen
_QUOTE_PREFIX = re.compile(r"^(\s*>)+\s?")
# French field names of an Outlook/Zimbra header block, as mail-parser-reply wants them: "De :"
_FR_FIELD_NO_SPACE = re.compile(r"^((?:>\s?)*\**)(De|Envoyé|À|Objet)(\**):")
_CANONICAL_SEPARATOR = "-----Original Message-----"


def _unquoted(line: str) -> tuple[str, str]:
    """(quote prefix, rest) of a line: "> > Le 26…" -> ("> > ", "Le 26…")."""
    match = _QUOTE_PREFIX.match(line)
    return (match.group(0), line[match.end():]) if match else ("", line)


def _is_attribution(line: str, shapes: Shapes) -> bool:
    text = fold(_unquoted(line)[1]).strip()
    return len(text) <= MAX_ATTRIBUTION_CHARS and any(p.search(text) for p in shapes.attribution)


def _is_separator(line: str, shapes: Shapes) -> bool:
    text = fold(_unquoted(line)[1]).strip()
    return any(p.search(text) for p in shapes.separators)


def _join_wrapped_attributions(lines: list[str], shapes: Shapes) -> list[str]:
    """ "Le jeu. 26 nov. 2026 à 10:02, Cité <" + "cite@lievin.fr> a écrit :" as one line."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        prefix, rest = _unquoted(lines[i])
        starts = fold(rest).lstrip().startswith(("le ", "on "))
        joined = None
        if starts and not _is_attribution(lines[i], shapes):
            parts = [rest.strip()]
            for j in range(i + 1, min(i + ATTRIBUTION_WRAP_LINES, len(lines))):
                more = _unquoted(lines[j])[1].strip()
                if not more:
                    break
                parts.append(more)
                candidate = prefix + " ".join(parts)
                if _is_attribution(candidate, shapes):
                    joined = (candidate, j)
                    break
        if joined:
            out.append(joined[0])
            i = joined[1] + 1
        else:
            out.append(lines[i])
            i += 1
    return out


def normalise(text: str, shapes: Shapes | None = None) -> str:
    """The body with the shapes mail-parser-reply misses made plain (see the
    module docstring, step 1). Nothing is removed but invisible characters and
    the spaces that end lines (format=flowed)."""
    shapes = shapes or load_shapes()
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", _SPACES.sub(" ", text))
    lines = [_FR_FIELD_NO_SPACE.sub(r"\1\2\3 :", line.rstrip()) for line in text.split("\n")]
    lines = _join_wrapped_attributions(lines, shapes)
    lines = [_unquoted(line)[0] + _CANONICAL_SEPARATOR if _is_separator(line, shapes) else line
             for line in lines]
    return "\n".join(lines)


# -- step 2: where the quoted message starts ------------------------------------------


def _is_header_line(line: str, shapes: Shapes) -> bool:
    return bool(shapes.header_line.match(fold(line).strip()))


def _boundaries(lines: Sequence[str], shapes: Shapes) -> list[tuple[int, str]]:
    """(index, "attribution" | "separator" | "headers") of each line that starts a
    quoted message; quoted lines are never boundaries (they are dropped anyway)."""
    found: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if _unquoted(line)[0]:
            continue
        if _is_attribution(line, shapes):
            found.append((i, "attribution"))
        elif _is_separator(line, shapes):
            found.append((i, "separator"))
        elif (_is_header_line(line, shapes) and i + 1 < len(lines) and _is_header_line(lines[i + 1], shapes)
              and not (i > 0 and _is_header_line(lines[i - 1], shapes))):
            found.append((i, "headers"))
    return found


def _own_part(lines: Sequence[str], shapes: Shapes) -> list[str]:
    """The unquoted lines written above the quoted message, or, when there are
    none and the message starts with an attribution line, those written below
    the quote (bottom-posting), up to the next quoted message."""
    def unquoted_between(start: int, end: int) -> list[str]:
        return [line for line in lines[start:end] if not _unquoted(line)[0]]

    bounds = _boundaries(lines, shapes)
    if not bounds:
        return unquoted_between(0, len(lines))
    first, kind = bounds[0]
    above = unquoted_between(0, first)
    if any(line.strip() for line in above) or kind != "attribution":
        return above
    end = bounds[1][0] if len(bounds) > 1 else len(lines)
    return unquoted_between(first + 1, end)


def _library_split(text: str) -> str:
    """The first reply that mail-parser-reply finds in `text`, signature kept.

    Its attribution patterns take a time quadratic in the length of a line that
    starts with "Le" or "On": longer lines than MAX_LIBRARY_LINE_CHARS (no header
    is that long) are swapped for placeholders while it runs."""
    if not text.strip():
        return ""
    long_lines: dict[str, str] = {}

    def placeholder(line: str) -> str:
        if len(line) <= MAX_LIBRARY_LINE_CHARS:
            return line
        key = f"\x00{len(long_lines)}\x00"
        long_lines[key] = line.strip()
        return key

    guarded = "\n".join(placeholder(line) for line in text.split("\n"))
    try:
        message = EmailMessage(guarded, languages=list(LANGUAGES), keep_hyphen_lists=True).read()
        reply = message.replies[0].full_body if message.replies else guarded
    except Exception:  # never let a third-party regex failure lose the reply
        reply = guarded
    for key, line in long_lines.items():
        reply = reply.replace(key, line)
    return reply


# -- step 4: footers, closings, signatures ------------------------------------------


def _is_footer(line: str, shapes: Shapes) -> bool:
    if len(line) > MAX_SIGNATURE_LINE_CHARS:
        return False
    text = fold(line).strip()
    return len(text.split()) <= shapes.footer_max_words and any(p.search(text) for p in shapes.footers)


def _is_closing(line: str, shapes: Shapes, keep: Keep) -> bool:
    if len(line) > MAX_SIGNATURE_LINE_CHARS:
        return False
    words = words_of(line)
    return bool(words) and starts_with(words, shapes.closings, shapes.closing_max_extra_words) and not keep(words)


_PARTICLES = {"de", "du", "des", "la", "le", "d", "van", "von", "et"}


def _is_name_like(line: str) -> bool:
    """ "Martine LENOIR", "Mme M. Lenoir": a few capitalised words, no sentence."""
    words = re.findall(r"[^\W\d_][\w'’.-]*", line)
    if not words or len(words) > SIGNATURE_NAME_WORDS or re.search(r"\d|[!?:;]\s*$", line):
        return False
    return all(w[0].isupper() or w.lower() in _PARTICLES for w in words)


def _is_sentence(line: str) -> bool:
    """Prose rather than a signature line: three words or more ending with ". ! ?"
    after a word ("Merci de voir avec la circonscription."), or a long line."""
    words = len(line.split())
    ends_a_sentence = bool(re.search(r"[^\W\d_]{3,}\s*[.!?…]+\s*$", line))
    return (words >= 3 and ends_a_sentence) or words > SIGNATURE_MAX_WORDS


def _drop_signature(lines: list[str], shapes: Shapes, keep: Keep) -> list[str]:
    """Drop a trailing block of blank, name-like and signature lines when it holds a
    signature marker, or when it is one or two short name lines under other text."""
    start = len(lines)
    markers = names = 0
    while start > 0:
        line = lines[start - 1]
        text = fold(line).strip()
        if not text:
            start -= 1
            continue
        if len(text) > MAX_SIGNATURE_LINE_CHARS or _is_sentence(line) or keep(words_of(line)):
            break
        if any(p.search(text) for p in shapes.signature_markers):
            markers += 1
        elif _is_name_like(line):
            names += 1
        else:
            break
        start -= 1
    rest_has_text = any(line.strip() for line in lines[:start])
    if markers or (rest_has_text and 0 < names <= 2):
        return lines[:start]
    return lines


def drop_endings(lines: list[str], shapes: Shapes, keep: Keep = _keep_nothing) -> list[str]:
    """Cut at the first footer or closing line, then drop a trailing signature."""
    for i, line in enumerate(lines):
        if _is_footer(line, shapes) or (i > 0 and _is_closing(line, shapes, keep)):
            lines = lines[:i]
            break
    return _drop_signature(lines, shapes, keep)


def new_text(text: str, shapes: Shapes | None = None, keep: Keep = _keep_nothing) -> str:
    """What the author of a reply wrote now: without quoted text, attribution and
    header lines, footers, the closing and the signature (module docstring).
    A line whose words `keep` accepts is never dropped as a closing or signature."""
    shapes = shapes or load_shapes()
    lines = normalise((text or "")[:MAX_TEXT_CHARS], shapes).split("\n")
    own = _library_split("\n".join(_own_part(lines, shapes)))
    return tidy(drop_endings(own.split("\n"), shapes, keep))
