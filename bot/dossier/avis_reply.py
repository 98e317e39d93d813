"""Read the IEN's avis from the body of a reply (workflow.md, "The avis of the IEN").

Pure: text in, data out. The vocabulary is data, in rules/avis.toml; this
module only applies it. What the IEN wrote now is found by bot.mail.reply
(quotes, signatures, clients' quirks; rules/reply.toml).

    new_text(body) -> str          what the IEN wrote now (bot.mail.reply.new_text,
                                   never dropping a line that holds a decision)
    read_decision(body) -> Decision(kind, comment, evidence)
    decide(text) -> Decision       the same on a text taken whole as new text

`body` is `Incoming.text` (bot.mail.parse): the plain-text part, or the HTML part
converted to text. The subject is never read: it carries our own wording.
A line holding a decision expression is never dropped as a closing or signature.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from bot.mail import reply
from bot.mail.reply import find_phrase, fold_with_origins, phrase, phrases, starts_with, stem, tidy, words_of
from bot.paths import rules_dir

Kind = Literal["favorable", "defavorable", "unclear"]
QUESTION_LOOKAHEAD = 60  # tokens: an expression whose sentence ends with "?" within them is a question


@dataclass(frozen=True)
class Decision:
    """The avis read in a reply: "favorable", "defavorable", or "unclear" (both,
    neither, or a doubtful expression: ask again, tell the coordinators)."""

    kind: Kind
    comment: str = ""  # the rest of the new text: substance only, "" when nothing
    evidence: str = ""  # the expressions read, as written, joined by " ; " ("" when none)


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
    greetings: tuple[tuple[str, ...], ...]
    greeting_max_extra_words: int
    courtesies: tuple[tuple[str, ...], ...]


def _words(items: Iterable[str]) -> frozenset[str]:
    return frozenset(w for item in items for w in phrase(item))


def vocabulary_from(data: dict) -> Vocabulary:
    """The Vocabulary of a parsed rules/avis.toml."""
    decision, negation, comment = data["decision"], data["negation"], data["comment"]
    return Vocabulary(
        defavorable=phrases(decision["defavorable"]),
        favorable=phrases(decision["favorable"]),
        favorable_negative_form=phrases(decision["favorable_negative_form"]),
        favorable_alone=phrases(decision["favorable_alone"]),
        unclear=phrases(decision["unclear"]),
        plain_words=_words(decision["plain_words"]),
        negation_before=_words(negation["before"]),
        negation_ne=_words(negation["ne"]),
        negation_after=_words(negation["after"]),
        ne_window=int(negation["ne_window"]),
        fillers=_words(negation["fillers"]),
        max_fillers=int(negation["max_fillers"]),
        scope_words=int(negation["scope_words"]),
        scope_breakers=phrases(negation["scope_breakers"]),
        neutral=phrases(negation["neutral"]),
        greetings=phrases(comment["greetings"]),
        greeting_max_extra_words=int(comment["greeting_max_extra_words"]),
        courtesies=phrases(comment["courtesies"]),
    )


@cache
def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """rules/avis.toml (or another file of the same shape)."""
    path = path or rules_dir() / "avis.toml"
    with open(path, "rb") as handle:
        return vocabulary_from(tomllib.load(handle))


def has_decision_words(words: Sequence[str], vocab: Vocabulary | None = None) -> bool:
    """The words of a line (bot.mail.reply.words_of) hold a decision expression."""
    vocab = vocab or load_vocabulary()
    lists = (vocab.defavorable, vocab.favorable, vocab.favorable_negative_form, vocab.favorable_alone,
             vocab.unclear)
    present = set(words)
    return any(present.issuperset(p) and find_phrase(words, p) >= 0 for group in lists for p in group)


def new_text(text: str, vocab: Vocabulary | None = None) -> str:
    """What the IEN wrote now (bot.mail.reply.new_text); a line holding a decision
    expression is never dropped as a closing or a signature."""
    vocab = vocab or load_vocabulary()
    return reply.new_text(text, reply.load_shapes(), keep=lambda words: has_decision_words(words, vocab))


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
    folded, origins = fold_with_origins(text)
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
        words = words_of(line)
        if (kind != "unclear" and index in decision_lines
                and _line_is_plain(tokens, lines.get(index, []), covered, vocab)):
            continue
        if words and index not in decision_lines and (
                starts_with(words, vocab.greetings, vocab.greeting_max_extra_words)
                or tuple(words) in vocab.courtesies):
            continue
        kept.append(line)
    return tidy(kept)


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
