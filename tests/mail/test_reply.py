"""The new text of a reply, whatever the reply is about (bot/mail/reply.py, rules/reply.toml).

The IEN's avis has its own tests (tests/dossier/test_avis_reply.py, with the
decision lines kept); these are the generic contract every reader of replies
builds on: quotes, attributions, footers, closings and signatures go, and a
line the caller keeps stays.
"""

from __future__ import annotations

from bot.mail.reply import load_shapes, new_text, words_of

QUOTE = ("Le jeu. 26 nov. 2026 à 10:02, Cité éducative de Liévin <cite@lievin.fr> a écrit :\n"
         "> Répondez à ce message.\n> Cordialement\n")


def test_the_shapes_come_from_the_rules_folder():
    shapes = load_shapes()
    assert shapes.attribution and shapes.separators and shapes.footers and shapes.signature_markers
    assert ("cordialement",) in shapes.closings


def test_a_top_posted_answer_is_read_without_the_quote():
    assert new_text(f"Voici ma réponse.\n\n{QUOTE}") == "Voici ma réponse."


def test_a_bottom_posted_answer_is_read_below_the_quote():
    assert new_text(f"{QUOTE}\nRéponse écrite en dessous.\n") == "Réponse écrite en dessous."


def test_the_closing_and_the_signature_go():
    body = "Réponse envoyée.\n\nBien cordialement,\nMichèle Lenoir\nTél. 03 21 44 55 66\n\n" + QUOTE
    assert new_text(body) == "Réponse envoyée."


def test_a_short_name_like_line_under_text_is_taken_for_a_signature():
    assert new_text("Je confirme la réunion.\n\nAccepte") == "Je confirme la réunion."


def test_a_line_the_caller_keeps_is_never_dropped_as_a_signature_or_a_closing():
    def keep(words):
        return "accept" in words

    assert new_text("Je confirme la réunion.\n\nAccepte", keep=keep) == "Je confirme la réunion.\n\nAccepte"
    assert new_text("Bonjour,\nCordialement, accepte\nMichèle", keep=keep) == "Bonjour,\nCordialement, accepte"


def test_words_are_folded_and_stemmed_as_the_vocabularies_are():
    assert words_of("Validées, d’ACCORD !") == ["valid", "d", "accord"]
