"""Text a sender controls, made fit for a mail (bot/mail/safe_text.py)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from bot.mail import safe_text
from bot.mail.safe_text import clean, clean_context, filename, one_line, shorten

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
C0 = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r")
C1 = "".join(chr(c) for c in range(0x7f, 0xa0))
UNSAFE = set(BIDI + C0 + C1 + "\r")
WHEN = datetime(2026, 11, 26, 14, 5, tzinfo=timezone.utc)


def unsafe_in(text: str) -> set[str]:
    return {c for c in text if c in UNSAFE}


# -- the pure functions -----------------------------------------------------------------

def test_clean_strips_controls_and_bidi_characters_and_keeps_tabs_and_line_feeds():
    assert clean("Atelier \u202eexe.fdp\u202c lecture") == "Atelier exe.fdp lecture"
    assert clean("a\x1b[31mb\x00c\x7fd\x9be\u200ff\u061cg\u2066h\u2069") == "a[31mbcdefgh"
    assert clean("colonne\tvaleur\nligne 2\r\nligne 3\rligne 4") == "colonne\tvaleur\nligne 2\nligne 3\nligne 4"
    assert clean("mot\x0bmot\x0cmot\x1cmot\x85mot") == "mot mot mot mot mot"  # separators: a space
    assert not unsafe_in(clean(BIDI + C0 + C1 + "\r"))


def test_clean_leaves_french_text_alone():
    text = "Projet « Lire ensemble » : 1\u202f200,00\u00a0€ — l'été, Œuvre, ÇA, naïve"
    assert clean(text) is text


def test_one_line_makes_one_line_of_any_white_space():
    assert one_line("  Lire\n\nensemble\t en\u2028CP \u202e ") == "Lire ensemble en CP"


@pytest.mark.parametrize(("text", "expected"), [
    ("Lire ensemble", "Lire ensemble"),
    ("x" * 100, "x" * 100),
    ("x" * 101, "x" * 99 + "…"),  # no space at all: cut inside
    ("Lire ensemble en CP " * 10, ("Lire ensemble en CP " * 5).strip() + "…"),  # on the last space
    ("Projet " + "x" * 200, "Projet " + "x" * 92 + "…"),  # the only space is too early: cut inside
    ("Théâtre, danse, musique : " * 5, "Théâtre, danse, musique : Théâtre, danse, musique : Théâtre, danse, "
                                       "musique : Théâtre, danse…"),  # no dangling punctuation
])
def test_shorten_cuts_at_the_limit_with_an_ellipsis_on_a_word_boundary_when_reasonable(text, expected):
    assert shorten(text, 100) == expected
    assert len(shorten(text, 100)) <= 100


def test_filename_keeps_its_extension_and_fits_the_limit():
    long = "CE-2026-0001 - " + "Fiche projet très détaillée " * 20 + ".docx"
    short = filename(long)
    assert short.endswith("….docx") and len(short) <= safe_text.MAX_FILENAME_CHARS
    assert filename("fiche\u202excod.exe\n.docx") == "fichexcod.exe .docx"
    assert filename("x" * 300) == "x" * 119 + "…"


def test_clean_context_walks_dicts_lists_and_tuples_and_leaves_other_values():
    context = {"intitule": "A\u202eB", "summary": [("Intitulé", "C\x1bD")], "routed_to": {"team": "E\u2066F"},
               "version": 2, "when": WHEN, "amount": Decimal("1.50"), "photos": True, "none": None}
    assert clean_context(context) == {"intitule": "AB", "summary": [("Intitulé", "CD")], "routed_to": {"team": "EF"},
                                      "version": 2, "when": WHEN, "amount": Decimal("1.50"), "photos": True,
                                      "none": None}
    assert isinstance(clean_context(context)["summary"][0], tuple)  # templates unpack them


@pytest.mark.parametrize("size", [1_000_000, 2_000_000])
def test_the_functions_cost_linear_time_on_a_field_of_megabytes(size):
    text = ("Lire ensemble \u202e\x1b" * (size // 16 + 1))[:size]
    started = time.perf_counter()
    shorten(one_line(text), 100), clean(text), filename(text)
    assert time.perf_counter() - started < 1.5  # about 0.1 s per megabyte here; quadratic would be minutes
