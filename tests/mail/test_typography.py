"""French typography in every mail citebot sends and every line its commands print.

Each template of templates_mail/ is rendered with a realistic context
(template_contexts.py) and fails on what a French reader would notice: an
ordinary space before « : ; ! ? » or inside « », « 1 décembre », « 19:01 »,
« 2400.50 € », « point(s) », « la cité éducative » and the IEN greeted as
« Madame, Monsieur l'Inspecteur »."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from template_contexts import CONTEXTS

from bot import text as typography
from bot.mail.compose import render
from bot.paths import templates_dir

TEMPLATES = sorted(p.name for p in templates_dir().iterdir() if (p / "body.txt").exists())

# (what is wrong, pattern): each must never appear in what a porteur, a coordinator or the IEN reads.
MISTAKES = [
    ("ordinary space before a colon", re.compile(r" :(?=\s|$)")),
    ("ordinary space before ; ! ?", re.compile(r" [;!?](?=\s|$)")),
    ("ordinary space inside « »", re.compile(r"« | »")),
    ("guillemets without space", re.compile(r"«(?=\S)(?!\u00a0|\u202f)|(?<=[^\s\u00a0\u202f])»")),
    ("« 1 » for the first of the month", re.compile(r"\b1[ \u00a0](janvier|février|mars|avril|mai|juin|juillet|août|"
                                                     r"septembre|octobre|novembre|décembre)\b")),
    ("an hour written 19:01", re.compile(r"\b\d{1,2}:\d{2}\b")),
    ("an amount with a decimal point", re.compile(r"\d\.\d{2}\s*€")),
    ("an amount without thousands separator", re.compile(r"\d{4},\d{2}")),
    ("a plural in parentheses", re.compile(r"\w\(s\)|\(e\)s\b|\(x\)")),
    ("« cité éducative » in lower case", re.compile(r"\bcité éducative\b")),
    ("the IEN greeted as « Madame, Monsieur l'Inspecteur »", re.compile(r"Madame, Monsieur l'Inspecteur")),
    ("two spaces in a row", re.compile(r"(?<=\S)  (?=\S)")),
    ("« prochain appel à projets » (projects are filed au fil de l'eau)", re.compile(r"prochain appel")),
]


def mistakes(text: str) -> list[str]:
    return [f"{what}: {m.group(0)!r} in …{text[max(0, m.start() - 30):m.end() + 30]!r}…"
            for what, pattern in MISTAKES for m in pattern.finditer(text)]


def test_every_template_has_a_context():
    assert sorted(CONTEXTS) == TEMPLATES


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_rendered_template_has_french_typography(name):
    subject, body, html = render(name, CONTEXTS[name])
    texts = {"subject": subject, "body": body}
    if html:
        texts["html"] = re.sub(r"<[^>]+>", " ", html).replace("  ", " ")
    found = {part: mistakes(text) for part, text in texts.items() if part != "html" or mistakes(text)}
    assert not any(found.values()), found


def test_the_acknowledgement_subject_says_complete_or_incomplete_with_the_count():
    context = CONTEXTS["accuse_reception"] | {"version": 1}
    subject, body, _ = render("accuse_reception", context)
    assert subject == "[CE-2026-0007] Fiche projet incomplète\u00a0: 4\u00a0points à corriger — Les petits reporters"
    subject, _, _ = render("accuse_reception", context | {"errors": ERRORS_ONE})
    assert "1\u00a0point à corriger" in subject
    subject, _, _ = render("accuse_reception", context | {"errors": []})
    assert subject == "[CE-2026-0007] Fiche projet complète — Les petits reporters"
    subject, _, _ = render("accuse_reception", context | {"errors": [], "version": 3})
    assert subject == "[CE-2026-0007] Fiche projet complète (version 3) — Les petits reporters"


ERRORS_ONE = ["Le champ « Courriel du référent » est vide."]


def test_dates_hours_and_amounts_are_french():
    _, body, _ = render("accuse_reception", CONTEXTS["accuse_reception"])
    assert "le 1er\u00a0décembre 2026 à 19\u00a0h\u00a001" in body
    _, body, _ = render("decision_acceptee", CONTEXTS["decision_acceptee"])
    assert "2\u202f400,50\u00a0€" in body


def test_the_acceptance_letter_tells_the_next_steps_the_logos_and_the_bilans():
    _, body, _ = render("decision_acceptee", CONTEXTS["decision_acceptee"])
    for needle in ("LA SUITE", "logos vous sont fournis", "logos de vos partenaires", "bilan financier",
                   "bilan qualitatif", "au plus tard le 31\u00a0décembre 2026", "nombre de bénéficiaires"):
        assert needle in body, needle


def test_the_refusal_speaks_of_projects_filed_at_any_time():
    _, body, _ = render("decision_refus", CONTEXTS["decision_refus"])
    assert "au fil de l'eau" in body and "prochain appel" not in body


@pytest.mark.parametrize("count, word, expected", [
    (0, "point", "0\u00a0point"), (1, "jour", "1\u00a0jour"), (4, "point", "4\u00a0points"),
    (2, "courriel envoyé", "2\u00a0courriels envoyés"), (3, "bilan en retard", "3\u00a0bilans en retard"),
])
def test_real_plurals(count, word, expected):
    assert typography.plural(count, word) == expected


def test_the_typography_helpers():
    assert typography.moment(datetime(2026, 12, 1, 18, 1, tzinfo=timezone.utc)) == "1er\u00a0décembre 2026 à 19\u00a0h\u00a001"
    assert typography.euros(Decimal("2400.5")) == "2\u202f400,50\u00a0€"
    assert typography.spaces("Dossier : « CE-2026-0001 » ; ok ! oui ?") == \
        "Dossier\u00a0: «\u00a0CE-2026-0001\u00a0»\u202f; ok\u202f! oui\u202f?"
    assert typography.spaces("https://lievin.fr et 19:01 et mailto:a@b.fr") == "https://lievin.fr et 19:01 et mailto:a@b.fr"


def test_letters_write_the_forms_labels_without_parentheses():
    assert typography.plural_label("Objectif(s) stratégique(s)") == "Objectifs stratégiques"
    assert typography.plural_label("Établissement(s) concerné(s)") == "Établissements concernés"
    _, body, _ = render("accuse_reception", CONTEXTS["accuse_reception"])
    assert "Objectifs stratégiques\u00a0:" in body and "(s)" not in body
