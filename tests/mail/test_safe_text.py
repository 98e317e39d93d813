"""Text a sender controls, made fit for a mail (bot/mail/safe_text.py), and what compose.py
does with it: the whole context cleaned, subjects and every header we write bounded."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from email import message_from_bytes, policy

import pytest

from bot.mail import safe_text
from bot.mail.compose import MAX_REFERENCES, Attachment, Mail, build, render
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


# -- compose: the context cleaned, the headers bounded ------------------------------------------

def ack_context(intitule: str, **changes) -> dict:
    return {"reference": "CE-2026-0001", "version": 1, "intitule": intitule, "referent": "Camille\u202e Martin",
            "received_at": WHEN, "received_by": "l.marcq@lievin.fr", "routed_to": None, "errors": ["Erreur\x1b[2J"],
            "notes": [], "summary": [("Structure", "École\u2066 Jaurès\u2069")], "avis_needed": False,
            "photos_mineurs": False, "mention": "Mention", "logos": "les logos", "cap": "500 €",
            "bot_name": "Cité éducative de Liévin", "left_over": [], "fiches_per_message": 5, "unopened": [],
            **changes}


def test_render_cuts_the_intitule_at_100_characters_in_the_subject_and_keeps_it_whole_in_the_body():
    intitule = "Lecture partagée entre les classes de CP et les familles du quartier " * 3
    subject, body, _ = render("accuse_reception", ack_context(intitule))
    assert subject == "[CE-2026-0001] Fiche projet incomplète\u00a0: 1\u00a0point à corriger — " + shorten(intitule.strip(), 100)
    assert subject.endswith("quartier Lecture partagée entre les…")
    assert intitule.strip() in " ".join(body.split())


def test_render_strips_controls_and_bidi_from_the_subject_and_the_bodies():
    subject, body, _ = render("accuse_reception", ack_context("Atelier \u202eexe.fdp\u202c\x9b31m\n\u200f"))
    assert subject == "[CE-2026-0001] Fiche projet incomplète\u00a0: 1\u00a0point à corriger — Atelier exe.fdp31m"
    assert not unsafe_in(subject) and not unsafe_in(body)
    assert "Camille Martin" in body and "Erreur[2J" in body and "École Jaurès" in body
    sections = [{"title": "Nouveaux dossiers", "rows": [{"reference": "CE-2026-0001", "intitule": "A\u202eB\x9b",
                                                         "structure": "S\u2067", "detail": "D\x1b\x85E"}]}]
    subject, text, html = render("digest", {"today": WHEN.date(), "since": None, "sections": sections,
                                            "bot_name": "Cité"})
    assert not unsafe_in(subject + text + html)
    assert "«\u00a0AB\u00a0» (S)\u00a0: D E" in text
    assert ">AB</td>" in html and ">S</td>" in html and ">D E</td>" in html


def test_a_subject_is_bounded_whatever_the_template_gets():
    subject, _, _ = render("note_coordinateurs", {"reference": "CE-2026-0001", "title": "x" * 5000, "text": "",
                                                  "intitule": "y", "status": "incomplet"})
    assert len(subject) <= safe_text.MAX_HEADER_CHARS


def built(**changes) -> bytes:
    mail = Mail(kind="accuse_reception", to=("camille.martin@example.org",), context=ack_context("x" * 2_000_000),
                **changes)
    message = build(mail, from_name="Cité éducative de Liévin\u202e" + " z" * 1000,
                    from_address="cite-educative@lievin.fr", message_id="<citebot.1@lievin.fr>", date=WHEN)
    return message.raw


def test_every_header_we_write_is_bounded_and_a_megabyte_field_builds_in_linear_time():
    started = time.perf_counter()
    references = tuple(f"<{n}.{'r' * 30}@example.org>" for n in range(5000))
    raw = built(in_reply_to="<" + "i" * 1_000_000 + "@example.org>", references=(*references, "<\u202e@x>"),
                attachments=(Attachment("Fiche " + "très longue " * 100 + ".docx", b"PK"),))
    assert time.perf_counter() - started < 3  # 19 s for a 1 MB subject before
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) < 998 for line in raw.split(b"\r\n"))
    message = message_from_bytes(raw, policy=policy.default)
    assert len(message["Subject"]) <= safe_text.MAX_HEADER_CHARS
    assert message["Subject"].startswith("[CE-2026-0001] Fiche projet incomplète\u00a0: 1\u00a0point à corriger — " + "x" * 50)
    assert len(message["From"].addresses[0].display_name) <= safe_text.MAX_HEADER_CHARS
    assert "\u202e" not in message["From"]
    assert message["In-Reply-To"] is None and b"iiiiiiii" not in head  # a megabyte id is no thread to keep
    kept = message["References"].split()
    assert len(kept) == MAX_REFERENCES and kept[0] == references[0] and kept[-1] == references[-1]
    [attachment] = message.iter_attachments()
    assert attachment.get_filename().endswith("….docx")
    assert len(attachment.get_filename()) <= safe_text.MAX_FILENAME_CHARS


def test_a_usual_thread_is_written_back_as_it_came():
    raw = built(in_reply_to="<CAF=x+y@mail.gmail.com>", references=("<a@example.org>", "<CAF=x+y@mail.gmail.com>"))
    message = message_from_bytes(raw, policy=policy.default)
    assert message["In-Reply-To"] == "<CAF=x+y@mail.gmail.com>"
    assert message["References"] == "<a@example.org> <CAF=x+y@mail.gmail.com>"
