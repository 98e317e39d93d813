"""Read the IEN's avis from the body of a reply (workflow.md, "The avis of the IEN").

Pure: text in, data out. The vocabulary and the shapes of quoted text are data,
in rules/avis.toml; this module only applies them.

    new_text(body) -> str          what the author of the reply wrote now
    read_decision(body) -> Decision(kind, comment, evidence)
    decide(text) -> Decision       the same on a text taken whole as new text
    normalise(body) -> str         step 1 below, for mail-parser-reply

`body` is `Incoming.text` (bot.mail.parse): the plain-text part, or the HTML part
converted to text. The subject is never read: it carries our own wording.

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
   any line starting with "Cordialement", even one holding the decision: step 4
   does that with care).
4. Footers (« Envoyé de mon iPhone », « Obtenir Outlook pour Android », "-- "),
   the closing line (« Bien cordialement, ») with everything after it, and a
   trailing signature block (name, title, phone, address) are dropped. A line
   holding a decision expression is never dropped as a closing or signature.

Signatures, footers and closings are dropped from the comment as well: the
comment goes to the porteur and the coordinators, who learn who gave the avis
from the notice itself; the IEN's title and phone add nothing to it.

The decision (`read_decision`), on the new text only, with every expression
compared folded (lower case, no accents, punctuation as word breaks, a light
plural/feminine ending removed):

- neutral phrases ("pas de souci", "n'hésitez pas") are masked first;
- "unclear" expressions ("avis réservé") and défavorable ones ("défavorable",
  "pas favorable", "je refuse") are read and masked before the favorable ones,
  so the "favorable" in "défavorable" is never read twice;
- a favorable expression right after a negation ("pas", "non"…, with only
  filler words between: "pas du tout d'accord") or inside "ne … pas" ("je ne le
  valide pas") counts as défavorable; a negation further away in the same
  sentence, or a question mark ending it, makes it doubtful;
- "ok" and "accord" count only on a line that says nothing else.

favorable: favorable expressions only; défavorable: défavorable ones only;
anything else (both, neither, a doubtful one) is "unclear", never a guess.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from mailparser_reply import EmailMessage

from bot.paths import rules_dir

Kind = Literal["favorable", "defavorable", "unclear"]
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
QUESTION_LOOKAHEAD = 60  # tokens: an expression whose sentence ends with "?" within them is a question


@dataclass(frozen=True)
class Decision:
    """The avis read in a reply: "favorable", "defavorable", or "unclear" (both,
    neither, or a doubtful expression: ask again, tell the coordinators)."""

    kind: Kind
    comment: str = ""  # the rest of the new text: substance only, "" when nothing
    evidence: str = ""  # the expressions read, as written, joined by " ; " ("" when none)


# -- folding -------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})


def fold(text: str) -> str:
    """Lower case, accents removed, typographic apostrophes as "'"; the length
    may change ("ﬁ" gives "fi"; see `_fold_with_origins`)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(char) for char in text)


@cache
def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char.translate(_APOSTROPHES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _fold_with_origins(text: str) -> tuple[str, list[int]]:
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


# -- the vocabulary (rules/avis.toml) -----------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    defavorable: tuple[tuple[str, ...], ...]
    favorable: tuple[tuple[str, ...], ...]
    favorable_negative_form: tuple[tuple[str, ...], ...]
    favorable_alone: tuple[tuple[str, ...], ...]
    unclear: tuple[tuple[str, ...], ...]
    plain_words: frozenset[str]
    negation_before: frozenset[str]
    negation_ne: frozenset[str]
    negation_after: frozenset[str]
    ne_window: int
    fillers: frozenset[str]
    max_fillers: int
    scope_words: int
    scope_breakers: tuple[tuple[str, ...], ...]
    neutral: tuple[tuple[str, ...], ...]
    attribution: tuple[re.Pattern, ...]
    separators: tuple[re.Pattern, ...]
    header_line: re.Pattern
    footers: tuple[re.Pattern, ...]
    footer_max_words: int
    closings: tuple[tuple[str, ...], ...]
    closing_max_extra_words: int
    signature_markers: tuple[re.Pattern, ...]
    greetings: tuple[tuple[str, ...], ...]
    greeting_max_extra_words: int
    courtesies: tuple[tuple[str, ...], ...]


def _phrases(items: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """Distinct non-empty phrases, longest first (so the longest match wins)."""
    unique = {p for p in (phrase(item) for item in items) if p}
    return tuple(sorted(unique, key=lambda p: (-len(p), p)))


def _words(items: Iterable[str]) -> frozenset[str]:
    return frozenset(w for item in items for w in phrase(item))


def _patterns(items: Iterable[str]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(item) for item in items)


def vocabulary_from(data: dict) -> Vocabulary:
    """The Vocabulary of a parsed rules/avis.toml."""
    decision, negation, reply, comment = data["decision"], data["negation"], data["reply"], data["comment"]
    fields = "|".join(re.escape(f) for f in sorted(reply["header_fields"], key=len, reverse=True))
    return Vocabulary(
        defavorable=_phrases(decision["defavorable"]),
        favorable=_phrases(decision["favorable"]),
        favorable_negative_form=_phrases(decision["favorable_negative_form"]),
        favorable_alone=_phrases(decision["favorable_alone"]),
        unclear=_phrases(decision["unclear"]),
        plain_words=_words(decision["plain_words"]),
        negation_before=_words(negation["before"]),
        negation_ne=_words(negation["ne"]),
        negation_after=_words(negation["after"]),
        ne_window=int(negation["ne_window"]),
        fillers=_words(negation["fillers"]),
        max_fillers=int(negation["max_fillers"]),
        scope_words=int(negation["scope_words"]),
        scope_breakers=_phrases(negation["scope_breakers"]),
        neutral=_phrases(negation["neutral"]),
        attribution=_patterns(reply["attribution"]),
        separators=_patterns(reply["separators"]),
        header_line=re.compile(rf"^\**\s*({fields})\s*\**\s*:"),
        footers=_patterns(reply["footers"]),
        footer_max_words=int(reply["footer_max_words"]),
        closings=_phrases(reply["closings"]),
        closing_max_extra_words=int(reply["closing_max_extra_words"]),
        signature_markers=_patterns(reply["signature_markers"]),
        greetings=_phrases(comment["greetings"]),
        greeting_max_extra_words=int(comment["greeting_max_extra_words"]),
        courtesies=_phrases(comment["courtesies"]),
    )


@cache
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """rules/avis.toml (or another file of the same shape)."""
    path = path or rules_dir() / "avis.toml"
    with open(path, "rb") as handle:
        return vocabulary_from(tomllib.load(handle))


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


def _is_attribution(line: str, vocab: Vocabulary) -> bool:
    text = fold(_unquoted(line)[1]).strip()
    return len(text) <= MAX_ATTRIBUTION_CHARS and any(p.search(text) for p in vocab.attribution)


def _is_separator(line: str, vocab: Vocabulary) -> bool:
    text = fold(_unquoted(line)[1]).strip()
    return any(p.search(text) for p in vocab.separators)


def _join_wrapped_attributions(lines: list[str], vocab: Vocabulary) -> list[str]:
    """ "Le jeu. 26 nov. 2026 à 10:02, Cité <" + "cite@lievin.fr> a écrit :" as one line."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        prefix, rest = _unquoted(lines[i])
        starts = fold(rest).lstrip().startswith(("le ", "on "))
        joined = None
        if starts and not _is_attribution(lines[i], vocab):
            parts = [rest.strip()]
            for j in range(i + 1, min(i + ATTRIBUTION_WRAP_LINES, len(lines))):
                more = _unquoted(lines[j])[1].strip()
                if not more:
                    break
                parts.append(more)
                candidate = prefix + " ".join(parts)
                if _is_attribution(candidate, vocab):
                    joined = (candidate, j)
                    break
        if joined:
            out.append(joined[0])
            i = joined[1] + 1
        else:
            out.append(lines[i])
            i += 1
    return out


def normalise(text: str, vocab: Vocabulary | None = None) -> str:
    """The body with the shapes mail-parser-reply misses made plain (see the
    module docstring, step 1). Nothing is removed but invisible characters and
    the spaces that end lines (format=flowed)."""
    vocab = vocab or load_vocabulary()
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVISIBLE.sub("", _SPACES.sub(" ", text))
    lines = [_FR_FIELD_NO_SPACE.sub(r"\1\2\3 :", line.rstrip()) for line in text.split("\n")]
    lines = _join_wrapped_attributions(lines, vocab)
    lines = [_unquoted(line)[0] + _CANONICAL_SEPARATOR if _is_separator(line, vocab) else line
             for line in lines]
    return "\n".join(lines)


# -- step 2: where the quoted message starts ------------------------------------------


def _is_header_line(line: str, vocab: Vocabulary) -> bool:
    return bool(vocab.header_line.match(fold(line).strip()))


def _boundaries(lines: Sequence[str], vocab: Vocabulary) -> list[tuple[int, str]]:
    """(index, "attribution" | "separator" | "headers") of each line that starts a
    quoted message; quoted lines are never boundaries (they are dropped anyway)."""
    found: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if _unquoted(line)[0]:
            continue
        if _is_attribution(line, vocab):
            found.append((i, "attribution"))
        elif _is_separator(line, vocab):
            found.append((i, "separator"))
        elif (_is_header_line(line, vocab) and i + 1 < len(lines) and _is_header_line(lines[i + 1], vocab)
              and not (i > 0 and _is_header_line(lines[i - 1], vocab))):
            found.append((i, "headers"))
    return found


def _own_part(lines: Sequence[str], vocab: Vocabulary) -> list[str]:
    """The unquoted lines written above the quoted message, or, when there are
    none and the message starts with an attribution line, those written below
    the quote (bottom-posting), up to the next quoted message."""
    def unquoted_between(start: int, end: int) -> list[str]:
        return [line for line in lines[start:end] if not _unquoted(line)[0]]

    bounds = _boundaries(lines, vocab)
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


def _words_of(line: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(fold(line))]


def _has_decision_words(words: Sequence[str], vocab: Vocabulary) -> bool:
    lists = (vocab.defavorable, vocab.favorable, vocab.favorable_negative_form, vocab.favorable_alone,
             vocab.unclear)
    present = set(words)
    return any(present.issuperset(p) and _find_phrase(words, p) >= 0 for group in lists for p in group)


def _find_phrase(words: Sequence[str], target: Sequence[str]) -> int:
    n = len(target)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) == tuple(target):
            return i
    return -1


def _starts_with(words: Sequence[str], phrases: Iterable[tuple[str, ...]], max_extra: int) -> bool:
    return any(tuple(words[:len(p)]) == p and len(words) - len(p) <= max_extra for p in phrases)


def _is_footer(line: str, vocab: Vocabulary) -> bool:
    if len(line) > MAX_SIGNATURE_LINE_CHARS:
        return False
    text = fold(line).strip()
    return len(text.split()) <= vocab.footer_max_words and any(p.search(text) for p in vocab.footers)


def _is_closing(line: str, vocab: Vocabulary) -> bool:
    if len(line) > MAX_SIGNATURE_LINE_CHARS:
        return False
    words = _words_of(line)
    return (bool(words) and _starts_with(words, vocab.closings, vocab.closing_max_extra_words)
            and not _has_decision_words(words, vocab))


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


def _drop_signature(lines: list[str], vocab: Vocabulary) -> list[str]:
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
        if (len(text) > MAX_SIGNATURE_LINE_CHARS or _is_sentence(line)
                or _has_decision_words(_words_of(line), vocab)):
            break
        if any(p.search(text) for p in vocab.signature_markers):
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


def _drop_endings(lines: list[str], vocab: Vocabulary) -> list[str]:
    """Cut at the first footer or closing line, then drop a trailing signature."""
    for i, line in enumerate(lines):
        if _is_footer(line, vocab) or (i > 0 and _is_closing(line, vocab)):
            lines = lines[:i]
            break
    return _drop_signature(lines, vocab)


def _tidy(lines: Iterable[str]) -> str:
    """Lines trimmed, runs of blank lines as one, ends stripped."""
    text = "\n".join(line.strip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def new_text(text: str, vocab: Vocabulary | None = None) -> str:
    """What the author of a reply wrote now: without quoted text, attribution and
    header lines, footers, the closing and the signature (module docstring)."""
    vocab = vocab or load_vocabulary()
    lines = normalise((text or "")[:MAX_TEXT_CHARS], vocab).split("\n")
    own = _library_split("\n".join(_own_part(lines, vocab)))
    return _tidy(_drop_endings(own.split("\n"), vocab))


# -- the decision ---------------------------------------------------------------------

# Apostrophes are no tokens: "d'accord" is the two words "d" "accord", in a row.
_TOKEN = re.compile(r"(?P<word>[^\W_]+)|(?P<hard>[.!?;]+|\n[ \t]*\n)|(?P<soft>[^\w\s']+)")


@dataclass(frozen=True)
class _Token:
    kind: str  # "word" | "hard" (ends a sentence) | "soft" (other punctuation)
    value: str  # the stemmed word, or the punctuation
    start: int  # in the original text
    end: int
    line: int  # index of the line of the original text


def _tokens(text: str) -> list[_Token]:
    folded, origins = _fold_with_origins(text)
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    tokens = []
    line = 0
    for match in _TOKEN.finditer(folded):
        start = origins[match.start()]
        end = origins[match.end() - 1] + 1
        while line + 1 < len(line_starts) and line_starts[line + 1] <= start:
            line += 1
        kind = match.lastgroup or "soft"
        value = stem(match.group()) if kind == "word" else match.group()
        tokens.append(_Token(kind, value, start, end, line))
    return tokens


@dataclass(frozen=True)
class _Match:
    start: int  # token indexes, end excluded; a negation read with the expression is included
    end: int
    kind: str  # "favorable" | "defavorable" | "doubtful" | "neutral" (masked, says nothing)


def _matches_at(tokens: Sequence[_Token], i: int, target: tuple[str, ...], used: list[bool]) -> bool:
    if i + len(target) > len(tokens):
        return False
    return all(tokens[i + k].kind == "word" and not used[i + k] and tokens[i + k].value == word
               for k, word in enumerate(target))


def _find_all(tokens: Sequence[_Token], phrases: Sequence[tuple[str, ...]],
              used: list[bool]) -> list[tuple[int, int]]:
    """Spans of `phrases` (longest first) on tokens not used yet; marks them used."""
    where: dict[str, list[int]] = {}
    for i, token in enumerate(tokens):
        if token.kind == "word":
            where.setdefault(token.value, []).append(i)
    spans = []
    for target in phrases:
        for i in where.get(target[0], ()):
            if _matches_at(tokens, i, target, used):
                for k in range(i, i + len(target)):
                    used[k] = True
                spans.append((i, i + len(target)))
    return spans


def _scope_start(tokens: Sequence[_Token], i: int, breakers: list[bool], max_words: int) -> int:
    """Start of the negation scope before token i: the sentence start, after a scope
    breaker, or `max_words` words back, whichever is nearest."""
    words = 0
    while i > 0 and tokens[i - 1].kind != "hard" and not breakers[i - 1] and words < max_words:
        i -= 1
        words += tokens[i].kind == "word"
    return i


def _ends_with_question(tokens: Sequence[_Token], end: int) -> bool:
    """The sentence after tokens[end] ends with "?" (looked for QUESTION_LOOKAHEAD tokens)."""
    for k in range(end, min(len(tokens), end + QUESTION_LOOKAHEAD)):
        if tokens[k].kind == "hard":
            return "?" in tokens[k].value
    return False


def _negation(tokens: Sequence[_Token], start: int, end: int, used: list[bool], breakers: list[bool],
              vocab: Vocabulary) -> tuple[str | None, int]:
    """("strong" | "weak" | None, index where the negation starts) for the expression
    tokens[start:end]."""
    def ne_before(position: int) -> int:
        """Index of "ne"/"n'" within `ne_window` words before `position`, or -1."""
        i, window = position - 1, 0
        while i >= 0 and tokens[i].kind == "word" and window < vocab.ne_window:
            if tokens[i].value in vocab.negation_ne and not used[i]:
                return i
            window += 1
            i -= 1
        return -1

    # "pas [du tout] favorable", "ne suis plus d'accord": a negation word, fillers only, no punctuation
    i, fillers = start - 1, 0
    while i >= 0 and tokens[i].kind == "word" and not used[i]:
        if tokens[i].value in vocab.negation_before:
            return "strong", i
        if tokens[i].value in vocab.negation_after and ne_before(i) >= 0:
            return "strong", ne_before(i)
        if tokens[i].value not in vocab.fillers or fillers >= vocab.max_fillers:
            break
        fillers += 1
        i -= 1
    # "je ne [le] valide pas"
    ne_at = ne_before(start)
    after = end < len(tokens) and tokens[end].kind == "word" and not used[end]
    if ne_at >= 0 and after and tokens[end].value in vocab.negation_after:
        return "strong", ne_at
    if ne_at >= 0:
        return "weak", ne_at
    # a negation word earlier in the same sentence
    for k in range(_scope_start(tokens, start, breakers, vocab.scope_words), start):
        if tokens[k].kind == "word" and not used[k] and tokens[k].value in vocab.negation_before:
            return "weak", k
    return None, start


def _by_line(tokens: Sequence[_Token]) -> dict[int, list[int]]:
    """Indexes of the word tokens of each line."""
    lines: dict[int, list[int]] = {}
    for k, token in enumerate(tokens):
        if token.kind == "word":
            lines.setdefault(token.line, []).append(k)
    return lines


def _line_is_plain(tokens: Sequence[_Token], words: Sequence[int], covered: Sequence[bool],
                   vocab: Vocabulary) -> bool:
    """Every word of a line (`words`: token indexes) is part of an expression
    (decision or neutral), a plain word, a filler or a negation word: the line
    says the decision alone."""
    return all(covered[k] or tokens[k].value in vocab.plain_words or tokens[k].value in vocab.fillers
               or tokens[k].value in vocab.negation_before or tokens[k].value in vocab.negation_ne
               or tokens[k].value in vocab.negation_after
               for k in words)


def _read(tokens: list[_Token], vocab: Vocabulary) -> list[_Match]:
    used = [False] * len(tokens)
    neutral = [_Match(s, e, "neutral") for s, e in _find_all(tokens, vocab.neutral, used)]
    breakers = [False] * len(tokens)
    for start, end in _find_all(tokens, vocab.scope_breakers, used):
        for k in range(start, end):
            breakers[k] = True
    matches: list[_Match] = []

    def with_negation(spans, plain_kind: str, negated_kind: str, check: bool) -> None:
        for start, end in spans:
            strength, at = _negation(tokens, start, end, used, breakers, vocab) if check else (None, start)
            if strength == "strong":
                for k in range(at, start):
                    used[k] = True
                if end < len(tokens) and tokens[end].value in vocab.negation_after and not used[end]:
                    used[end] = True
                    end += 1
                matches.append(_Match(at, end, negated_kind))
            elif strength == "weak" or (check and _ends_with_question(tokens, end)):
                matches.append(_Match(start, end, "doubtful"))
            else:
                matches.append(_Match(start, end, plain_kind))

    negatives = vocab.negation_before | vocab.negation_ne

    def read_group(phrases, plain: str, negated: str) -> None:
        """Find, mask, then judge the negation of each match; an expression that
        holds a negation itself ("pas favorable") is not judged again."""
        spans = _find_all(tokens, phrases, used)
        negative_form = [(s, e) for s, e in spans if any(t.value in negatives for t in tokens[s:e])]
        with_negation(negative_form, plain, negated, check=False)
        with_negation([sp for sp in spans if sp not in negative_form], plain, negated, check=True)

    # In this order: défavorable ("pas d'avis favorable") before unclear ("pas d'avis"),
    # both before favorable (the "favorable" of "défavorable", "peu favorable").
    read_group(vocab.defavorable, "defavorable", "doubtful")
    matches.extend(_Match(s, e, "doubtful") for s, e in _find_all(tokens, vocab.unclear, used))
    # negative in form ("je n'ai aucune objection"): never judged for a negation
    negative_in_form = _find_all(tokens, vocab.favorable_negative_form, used)
    with_negation(negative_in_form, "favorable", "favorable", check=False)
    read_group(vocab.favorable, "favorable", "defavorable")

    covered = [False] * len(tokens)
    for m in matches + neutral:
        for k in range(m.start, m.end):
            covered[k] = True
    alone = []
    for start, end in _find_all(tokens, vocab.favorable_alone, used):
        for k in range(start, end):
            covered[k] = True
        alone.append((start, end))
    lines = _by_line(tokens)
    for start, end in alone:
        if _line_is_plain(tokens, lines[tokens[start].line], covered, vocab):
            with_negation([(start, end)], "favorable", "defavorable", check=True)
    return neutral + matches


def _evidence(text: str, tokens: Sequence[_Token], matches: Iterable[_Match]) -> str:
    spans = sorted({(tokens[m.start].start, tokens[m.end - 1].end) for m in matches if m.kind != "neutral"})
    return " ; ".join(" ".join(text[s:e].split()) for s, e in spans)


def _comment(text: str, tokens: Sequence[_Token], matches: Sequence[_Match], kind: Kind,
             vocab: Vocabulary) -> str:
    """The new text without greeting-only and courtesy-only lines, and, when a
    decision was read, without the lines that say that decision alone (an unclear
    answer is kept whole: it is what the coordinators need to see)."""
    covered = [False] * len(tokens)
    for m in matches:
        for k in range(m.start, m.end):
            covered[k] = True
    decision_lines = {tokens[k].line for m in matches if m.kind != "neutral"
                      for k in range(m.start, m.end)}
    lines = _by_line(tokens)
    kept = []
    for index, line in enumerate(text.split("\n")):
        words = _words_of(line)
        if (kind != "unclear" and index in decision_lines
                and _line_is_plain(tokens, lines.get(index, []), covered, vocab)):
            continue
        if words and index not in decision_lines and (
                _starts_with(words, vocab.greetings, vocab.greeting_max_extra_words)
                or tuple(words) in vocab.courtesies):
            continue
        kept.append(line)
    return _tidy(kept)


def read_decision(text: str, vocab: Vocabulary | None = None) -> Decision:
    """The avis in a reply body (`Incoming.text`): `decide(new_text(text))`.
    The subject is not read."""
    vocab = vocab or load_vocabulary()
    return decide(new_text(text, vocab), vocab)


def decide(own: str, vocab: Vocabulary | None = None) -> Decision:
    """The avis in a text taken whole as the author's own: nothing is removed
    from it but greetings and courtesies, for the comment. Use `read_decision`
    for a reply body."""
    vocab = vocab or load_vocabulary()
    tokens = _tokens(own)
    matches = _read(tokens, vocab)
    kinds = {m.kind for m in matches} - {"neutral"}
    if kinds == {"favorable"}:
        kind: Kind = "favorable"
    elif kinds == {"defavorable"}:
        kind = "defavorable"
    else:
        kind = "unclear"
    return Decision(kind, _comment(own, tokens, matches, kind, vocab), _evidence(own, tokens, matches))
