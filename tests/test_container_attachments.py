"""A fiche inside winmail.dat, an attached Outlook message or a .zip gives a dossier, end
to end (Dovecot, the SMTP sink, SQLite); a container that cannot be opened gets one
clear line in the answer saying what to send instead (issue 14)."""

from __future__ import annotations

import pytest
from bot_harness import make_bot
from mail_factory import DOCX, fiche_bytes, mail
from msg_factory import msg
from tnef_factory import tnef
from zip_factory import encrypted_zip, plain_zip, windows_zip


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def body(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\u00a0", " ")


def documents(dossier) -> list[tuple[str, str]]:
    return sorted((d.original_name, d.role) for d in dossier.documents)


def test_a_fiche_inside_winmail_dat_gives_a_dossier(bot):
    stream = tnef([("Fiche projet école.docx", fiche_bytes(), DOCX), ("Budget prévisionnel.pdf", b"%PDF-1.4", "")],
                  mapi_body="Bonjour, voici notre fiche projet.")
    bot.deliver(mail(body="", attachments=[("winmail.dat", stream, "application/ms-tnef")]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert dossier.versions[0].fields["intitule"] == "Les petits reporters"
    assert documents(dossier) == [("Budget prévisionnel.pdf", "annexe"), ("Fiche projet école.docx", "fiche")]
    [ack] = bot.sent()
    assert ack["X-Citebot-Kind"] == "accuse_reception" and dossier.reference in ack["Subject"]
    assert "n'avons pas pu" not in body(ack) and "pièce jointe «" not in body(ack)


def test_a_fiche_inside_an_attached_outlook_message_gives_a_dossier(bot):
    outlook = msg("Fiche projet", "Bonjour, voici la fiche.", [("Fiche projet école.docx", fiche_bytes(), DOCX)])
    bot.deliver(mail(subject="TR: Fiche projet", body="Je vous transfère le message de l'école.",
                     attachments=[("Fiche projet.msg", outlook, "application/vnd.ms-outlook")]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert documents(dossier) == [("Fiche projet école.docx", "fiche")]
    assert [m["X-Citebot-Kind"] for m in bot.sent()] == ["accuse_reception"]


def test_a_windows_zip_gives_a_dossier_whose_documents_keep_their_names(bot):
    archive = windows_zip([("Dépôt/Fiche projet école.docx", fiche_bytes()),
                           ("Dépôt/Annexe À compléter.pdf", b"%PDF-1.4 annexe")], encoding="cp850")
    bot.deliver(mail(attachments=[("Dépôt.zip", archive, "application/x-zip-compressed")]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert documents(dossier) == [("Annexe À compléter.pdf", "annexe"), ("Fiche projet école.docx", "fiche")]
    for document in dossier.documents:
        assert document.stored_name.startswith("documents/") and "Dépôt" not in document.stored_name
        assert (bot.rt.cfg.bot.data_dir / document.stored_name).is_file()


def test_traversal_names_inside_a_zip_are_neutralised(bot):
    archive = plain_zip([("../../../../var/Fiche projet.docx", fiche_bytes())])
    bot.deliver(mail(attachments=[("fiche.zip", archive, "application/zip")]))
    bot.poll()
    [document] = bot.dossiers()[0].documents
    assert document.original_name == "Fiche projet.docx"
    assert document.stored_name.startswith("documents/") and ".." not in document.stored_name


def test_an_encrypted_zip_gets_the_blank_form_and_one_line_saying_what_to_send(bot):
    bot.deliver(mail(attachments=[("fiche.zip", encrypted_zip([("fiche.docx", fiche_bytes())]), "application/zip")]))
    bot.poll()
    assert bot.dossiers() == []
    [answer] = bot.sent()
    assert answer["X-Citebot-Kind"] == "format_incorrect"
    assert ("La pièce jointe « fiche.zip » est protégée par un mot de passe et nous ne pouvons pas l'ouvrir : "
            "envoyez les fichiers qu'elle contient directement en pièces jointes, sans mot de passe.") in body(answer)
    [inbound] = bot.inbound()
    assert inbound.classification == "format_incorrect"


@pytest.mark.parametrize("archive, line", [
    (plain_zip([("fiche.docx", bytes(50 * 1024 * 1024))]),
     "La pièce jointe « pieces.zip » est endommagée ou d'un format que nous ne savons pas lire : "
     "envoyez les fichiers directement en pièces jointes, sans les compresser."),
    (plain_zip([("b.zip", plain_zip([("c.zip", plain_zip([("fiche.docx", b"PK")]))]))]),
     "La pièce jointe « c.zip » est une archive placée dans d'autres archives et nous ne l'avons pas ouverte : "
     "envoyez les fichiers directement en pièces jointes, sans les compresser."),
], ids=["zip-bomb", "zips-nested-too-deep"])
def test_a_zip_we_do_not_open_is_answered_clearly(bot, archive, line):
    bot.deliver(mail(attachments=[("pieces.zip", archive, "application/zip")]))
    bot.poll()
    [answer] = bot.sent()
    assert line in body(answer)


def test_an_unopened_container_beside_a_fiche_is_named_in_the_acknowledgement(bot):
    bot.deliver(mail(attachments=[("Fiche projet.docx", fiche_bytes()),
                                  ("annexes.zip", encrypted_zip([("budget.pdf", b"%PDF")]), "application/zip")]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert documents(dossier) == [("Fiche projet.docx", "fiche"), ("annexes.zip", "annexe")]
    [ack] = bot.sent()
    assert "La pièce jointe « annexes.zip » est protégée par un mot de passe" in body(ack)


def test_the_fiches_inside_a_zip_count_toward_fiches_per_message(bot):
    limit = bot.rt.cfg.limits.fiches_per_message
    archive = plain_zip([(f"projet-{i}.docx", fiche_bytes(intitule=f"Projet {i}")) for i in range(limit + 1)])
    bot.deliver(mail(attachments=[("projets.zip", archive, "application/zip")]))
    bot.poll()
    assert len(bot.dossiers()) == limit
    assert bot.inbound()[0].detail["fiches_non_traitees"] == [f"projet-{limit}.docx"]


def test_a_fiche_inside_a_zip_is_about_the_call_in_a_personal_inbox(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, mode="personnel")
    bot.deliver(mail(subject="Documents", body="Bonjour,\nci-joint.",
                     attachments=[("documents.zip", plain_zip([("doc.docx", fiche_bytes())]), "application/zip")]))
    bot.deliver(mail(subject="Réunion jeudi", body="Bonjour,\nl'ordre du jour.",
                     attachments=[("odj.zip", plain_zip([("odj.pdf", b"%PDF-1.4")]), "application/zip")]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert documents(dossier) == [("doc.docx", "fiche")]
    assert [i.classification for i in bot.inbound()] == ["depot", "hors_appel"]
