"""Loose text comparison: what "the same label" means for a porteur's form."""

import re
import unicodedata
from functools import lru_cache

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
