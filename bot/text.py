"""Text: loose comparison (what "the same label" means for a porteur's form), and
French typography in one place, for every text citebot writes (mails, CLI,
documents): the spaces before « : ; ! ? » and inside « », the first of the month
as « 1er », times as « 19 h 01 », amounts as « 2 400,50 € », real plurals.

The typographic rules are the Imprimerie nationale's: a no-break space (U+00A0)
before the colon and inside guillemets, a narrow no-break space (U+202F) before
« ; ! ? » and between thousands. Pure functions, text in, text out.
"""

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache

from bot.clock import PARIS

_PARENS = re.compile(r"\([^()]*\)")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_NON_WORD = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=8192)  # the same labels, hints and options come back in every fiche
def normalize(text: str) -> str:
    """Lower case, no accents, no text in parentheses, punctuation as spaces.

    "Intitulé du projet (titre court) :" and "INTITULE DU PROJET" both give
    "intitule du projet"; "Objectif(s) stratégique(s)" gives "objectif strategique".
    """
    text = _PARENS.sub(" ", text.translate(_APOSTROPHES))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return _NON_WORD.sub(" ", text).strip()


def clean_spaces(text: str) -> str:
    """Collapse runs of spaces (incl. U+00A0, U+202F) and trim each line."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(lines).strip()


# -- French typography ---------------------------------------------------------

NBSP = "\u00a0"
NNBSP = "\u202f"

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")
# An ordinary space (or none, after a word) before a colon that ends a word:
# « Dossier : », never « https:// », « 19:01 », « mailto:x » or « C:\ ».
_BEFORE_COLON = re.compile(r"(?<=\S) (?=:(?:\s|$))")
_BEFORE_TALL = re.compile(r"(?<=\S) (?=[;!?](?:\s|$|»|\)))")
_AFTER_OPENING = re.compile(r"« ?(?=\S)")
_BEFORE_CLOSING = re.compile(r"(?<=\S) ?»")


def spaces(text: str) -> str:
    """Ordinary spaces before « : ; ! ? » and inside « » become the no-break ones.

    Only a space already there is changed (or added inside guillemets): a colon
    glued to a word is an address, a time or a path, and stays as it is."""
    text = _BEFORE_COLON.sub(NBSP, text)
    text = _BEFORE_TALL.sub(NNBSP, text)
    text = _AFTER_OPENING.sub("«" + NBSP, text)
    return _BEFORE_CLOSING.sub(NBSP + "»", text)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """« 0 point », « 1 point », « 4 points » (in French, 0 and 1 take the singular);
    `plural_form` for the irregular ones: plural(2, "travail", "travaux")."""
    word = singular if abs(count) < 2 else (plural_form or _regular_plural(singular))
    return f"{count}{NBSP}{word}"


_PREPOSITIONS = ("de", "d'", "à", "en", "du", "des", "pour", "sans", "par", "sur")


def _regular_plural(words: str) -> str:
    """« point » → « points », « courriel envoyé » → « courriels envoyés »,
    « bilan en retard » → « bilans en retard » (nothing after a preposition)."""
    out, done = [], False
    for w in words.split(" "):
        done = done or w in _PREPOSITIONS
        out.append(w if done else _one_plural(w))
    return " ".join(out)


def _one_plural(w: str) -> str:
    if w.endswith(("s", "x", "z")) or not w[-1:].isalpha():
        return w
    if w.endswith(("au", "eu")):
        return w + "x"
    return w + "s"


def day(value: date) -> str:
    """« 1er décembre 2026 », « 26 novembre 2026 »: the date of a letter."""
    first = "1er" if value.day == 1 else str(value.day)
    return f"{first}{NBSP}{_MONTHS[value.month - 1]} {value.year}"


def hour(value: time | datetime) -> str:
    """« 19 h 01 », « 9 h 00 » (no-break spaces)."""
    return f"{value.hour}{NBSP}h{NBSP}{value.minute:02d}"


def moment(value: datetime) -> str:
    """« 1er décembre 2026 à 19 h 01 », in Paris time."""
    local = value.astimezone(PARIS)
    return f"{day(local.date())} à {hour(local)}"


def short_day(value: date) -> str:
    """« 01/12/2026 »: the date of a table cell or a command's line."""
    return value.strftime("%d/%m/%Y")


def short_moment(value: datetime) -> str:
    """« 01/12/2026 19 h 01 », in Paris time: a table cell."""
    local = value.astimezone(PARIS)
    return f"{short_day(local.date())} {hour(local)}"


def euros(value: Decimal | int | float | str, cents: bool = True) -> str:
    """« 2 400,50 € » (narrow no-break space between thousands, no-break space before €)."""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    whole, fraction = f"{amount:,.2f}".split(".")
    shown = whole.replace(",", NNBSP) + ("" if not cents and fraction == "00" else "," + fraction)
    return shown + NBSP + "€"


_OPTIONAL_PLURAL = re.compile(r"\((s|x|es)\)")


def plural_label(label: str) -> str:
    """A form's label as a letter writes it: « Objectif(s) stratégique(s) » →
    « Objectifs stratégiques » (the form keeps its parentheses, a letter never)."""
    return _OPTIONAL_PLURAL.sub(r"\1", label)
