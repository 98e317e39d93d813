"""The path of every message, on a real Dovecot, a real SMTP server and a real
SQLite file (workflow.md, "What happens to an incoming message")."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, fiche_with_errors, forward, mail, school_time_fiche

from bot import clock

REF = re.compile(r"\[(CE-\d{4}-\d{4})\]")
EML = Path(__file__).resolve().parent / "eml"


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, limit=2)


def attachment_names(message) -> list[str]:
    return [part.get_filename() for part in message.iter_attachments()]


# -- a new submission -----------------------------------------------------------
def test_a_new_fiche_gets_a_dossier_and_one_acknowledgement(bot):
    uid = bot.deliver(mail(attachments=[("Fiche projet.docx", fiche_bytes())]))
    report = bot.poll()
    assert report.ok and report.handled == 1

    [dossier] = bot.dossiers()
    assert re.fullmatch(r"CE-\d{4}-0001", dossier.reference)
    assert dossier.status == "pret_troika" and dossier.mailbox == "ville"
    assert dossier.coordinators == ["f.talaga@lievin.fr", "l.marcq@lievin.fr"]
    assert dossier.versions[0].fields["intitule"] == "Les petits reporters"

    [ack] = bot.sent()
    assert bot.sink.received[0].rcpt_tos == ["camille.martin@example.org"]
    assert f"[{dossier.reference}]" in ack["Subject"] and "Les petits reporters" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied" and ack["X-Auto-Response-Suppress"] == "All"
    assert ack["Reply-To"] == "l.marcq@lievin.fr" and ack["From"].addresses[0].addr_spec == "cite-educative@lievin.fr"
    original = bot.inbound()[0].message_id
    assert ack["In-Reply-To"] == original and original in ack["References"]
    body = ack.get_body(("plain",)).get_content()
    assert dossier.reference in body and "Votre fiche est complète" in body
    assert "Avec le concours de la Préfecture du Pas-de-Calais" in body and "500 € HT" in body.replace("\u00a0", " ")
    assert attachment_names(ack) == ["autorisation-droit-image-mineur.docx"]  # photos of minors planned

    [state] = bot.mailbox()
    assert state["uid"] == uid and "$CitebotDone" in state["flags"] and "\\Seen" not in state["flags"]


def test_an_incomplete_fiche_gets_exactly_what_to_fix(bot):
    bot.deliver(mail(attachments=[("atelier.docx", fiche_with_errors())]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert dossier.status == "incomplet"
    body = bot.sent()[0].get_body(("plain",)).get_content()
    assert "VOTRE FICHE EST INCOMPLÈTE\u00a0: 4\u00a0points à corriger" in body
    assert "Ligne « Vidéoprojecteur » : 650,00" in body.replace("\u00a0", " ")
    assert "répondant simplement à ce message" in body


def test_processed_messages_can_be_moved_to_a_folder(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, ville_extra='move_to = "Traites"')
    dovecot.create_folder(bot.ville.user, "Traites")
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    bot.poll()
    assert bot.mailbox() == []
    [moved] = dovecot.messages(bot.ville.user, "Traites")
    assert "$CitebotDone" in moved["flags"] and "\\Seen" not in moved["flags"]
    assert len(bot.dossiers()) == 1 and len(bot.sent()) == 1


def test_a_message_read_by_a_coordinator_stays_read(bot):
    bot.dovecot.append(bot.ville.user, mail(attachments=[("f.docx", fiche_bytes())]), flags=["\\Seen"])
    bot.poll()
    [state] = bot.mailbox()
    assert {"\\Seen", "$CitebotDone"} <= state["flags"]


# -- corrected versions -----------------------------------------------------------
def test_a_reply_to_the_acknowledgement_is_a_new_version_of_the_same_dossier(bot):
    bot.deliver(mail(attachments=[("v1.docx", fiche_with_errors())]))
    bot.poll()
    ack = bot.sent()[0]
    bot.deliver(mail(subject="Re: " + ack["Subject"].split("] ", 1)[1], in_reply_to=ack["Message-ID"],
                     references=[ack["Message-ID"]], attachments=[("v2.docx", fiche_bytes())]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert [v.number for v in dossier.versions] == [1, 2]
    assert dossier.status == "pret_troika"
    second = bot.sent()[1]
    assert f"[{dossier.reference}] Fiche projet complète (version 2) — " in second["Subject"]


def test_a_reference_in_the_subject_is_enough(bot):
    bot.deliver(mail(attachments=[("v1.docx", fiche_with_errors())]))
    bot.poll()
    reference = bot.dossiers()[0].reference
    bot.deliver(mail(subject=f"Fiche corrigée {reference}", attachments=[("v2.docx", fiche_bytes())]))
    bot.poll()
    assert len(bot.dossiers()) == 1 and len(bot.dossiers()[0].versions) == 2


def test_the_same_file_twice_creates_nothing_and_says_already_received(bot):
    data = fiche_bytes()
    bot.deliver(mail(attachments=[("f.docx", data)]))
    bot.poll()
    bot.deliver(mail(subject="Fiche projet (renvoi)", attachments=[("copie.docx", data)]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert len(dossier.versions) == 1
    second = bot.sent()[1]
    assert f"[{dossier.reference}] Fiche déjà reçue" in second["Subject"]
    assert "«\u00a0copie.docx\u00a0»" in second.get_body(("plain",)).get_content()


def test_the_same_submission_sent_to_both_mailboxes_makes_one_dossier_and_one_answer(bot):
    raw = mail(to="l.marcq@lievin.fr, chloe.dulieux@ac-lille.fr", attachments=[("f.docx", fiche_bytes())])
    bot.deliver(b"Delivered-To: l.marcq@lievin.fr\r\n" + raw, to="ville")
    bot.deliver(b"Delivered-To: chloe.dulieux@ac-lille.fr\r\n" + raw, to="en")
    bot.poll()
    assert len(bot.dossiers()) == 1
    assert len(bot.sent()) == 1
    assert all("$CitebotDone" in m["flags"] for m in bot.mailbox("ville") + bot.mailbox("en"))


# -- routing --------------------------------------------------------------------
def test_a_fiche_sent_to_the_wrong_mailbox_goes_to_the_right_coordinators(bot):
    bot.deliver(mail(sender="karim.benali@ac-lille.fr", attachments=[("lecture.docx", school_time_fiche())]),
                to="ville")
    bot.poll()
    [dossier] = bot.dossiers()
    assert dossier.mailbox == "education_nationale" and dossier.coordinators == ["chloe.dulieux@ac-lille.fr"]
    assert dossier.status == "en_attente_avis"
    [ack] = [m for m in bot.sent() if m["X-Citebot-Kind"] == "accuse_reception"]
    assert ack["Reply-To"] == "chloe.dulieux@ac-lille.fr"
    body = " ".join(ack.get_body(("plain",)).get_content().split())
    assert "nous l'avons transmise (chloe.dulieux@ac-lille.fr)" in body
    assert "l'avis de l'Inspecteur de l'Éducation nationale (IEN) sera demandé" in body


# -- several files ----------------------------------------------------------------
def test_several_fiches_in_one_message_make_one_dossier_each_with_the_annexes(bot):
    bot.deliver(mail(attachments=[
        ("projet-a.docx", fiche_bytes(intitule="Projet A")),
        ("projet-b.docx", fiche_bytes(intitule="Projet B")),
        ("budget.pdf", b"%PDF-1.4 budget", "application/pdf"),
    ]))
    bot.poll()
    dossiers = bot.dossiers()
    assert [d.versions[0].fields["intitule"] for d in dossiers] == ["Projet A", "Projet B"]
    for d in dossiers:
        assert sorted((doc.original_name, doc.role) for doc in d.documents)[0] == ("budget.pdf", "annexe")
    assert len(bot.sent()) == 2


def test_a_forwarded_message_is_opened(bot):
    inner = mail(attachments=[("fiche.docx", fiche_bytes())])
    bot.deliver(forward(inner))
    bot.poll()
    assert len(bot.dossiers()) == 1


def test_attachment_names_are_decoded_and_never_used_as_paths(bot):
    raw = mail(attachments=[("../../Fiche projet école.docx", fiche_bytes())])
    bot.deliver(raw)
    bot.poll()
    [doc] = bot.dossiers()[0].documents
    assert doc.original_name == "Fiche projet école.docx"
    assert doc.stored_name.startswith("documents/") and ".." not in doc.stored_name
    assert (bot.rt.cfg.bot.data_dir / doc.stored_name).is_file()


# -- replies that are not a dossier --------------------------------------------------
def test_a_pdf_gets_the_blank_form_and_an_explanation(bot):
    bot.deliver(mail(attachments=[("dossier.pdf", b"%PDF-1.7 ...", "application/pdf")]))
    bot.poll()
    assert bot.dossiers() == []
    [reply] = bot.sent()
    assert "Votre fiche projet doit être un fichier Word (.docx)" in reply["Subject"]
    assert attachment_names(reply) == ["fiche-projet-vierge.docx"]
    assert "«\u00a0dossier.pdf\u00a0»" in reply.get_body(("plain",)).get_content()


def test_a_message_without_attachment_gets_the_blank_form(bot):
    bot.deliver(mail(body="Bonjour, quelle est la date limite ?"))
    bot.poll()
    [reply] = bot.sent()
    assert "aucune pièce jointe" in reply.get_body(("plain",)).get_content()


def test_wrong_format_replies_are_limited_per_sender_and_day(bot):
    for n in range(4):
        bot.deliver(mail(subject=f"Question {n}"))
    bot.poll()
    assert len(bot.sent()) == 2  # limit of the test configuration
    assert [m.outcome for m in bot.inbound()] == ["reponse_envoyee"] * 2 + ["limite_atteinte"] * 2
    assert all("$CitebotDone" in m["flags"] for m in bot.mailbox())


def test_a_word_file_that_is_not_a_fiche_is_kept_and_answered(bot):
    from docx_factory import docx, p

    bot.deliver(mail(attachments=[("compte-rendu.docx", docx(p("Réunion du 3 mars") + p("Rien à signaler.")))]))
    bot.poll()
    [reply] = bot.sent()
    assert "Nous n'avons pas pu lire votre fiche projet" in reply["Subject"]
    body = reply.get_body(("plain",)).get_content()
    assert "«\u00a0compte-rendu.docx\u00a0»" in body and "ne ressemble pas à la fiche projet" in body
    with bot.rt.sessions() as s:
        from bot.store.models import Document

        [doc] = s.query(Document).all()
        assert doc.dossier_id is None and doc.role == "annexe"


def test_a_password_protected_docx_is_answered_with_how_to_fix_it(bot):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100 + "EncryptedPackage".encode("utf-16-le")
    bot.deliver(mail(attachments=[("fiche.docx", ole)]))
    bot.poll()
    body = bot.sent()[0].get_body(("plain",)).get_content()
    assert "protégé par un mot de passe" in body


def test_a_message_about_a_dossier_without_a_fiche_is_filed_as_correspondence(bot):
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    bot.poll()
    reference = bot.dossiers()[0].reference
    bot.deliver(mail(subject=f"Question sur le dossier {reference}", body="Peut-on décaler ?",
                     attachments=[("devis.pdf", b"%PDF-1.4 devis", "application/pdf")]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert "courrier_recu" in [e.kind for e in dossier.events]
    assert "devis.pdf" in [d.original_name for d in dossier.documents]
    assert len(bot.sent()) == 1  # only the first acknowledgement


# -- loops ------------------------------------------------------------------------
@pytest.mark.parametrize("headers, sender", [
    ({"Auto-Submitted": "auto-replied"}, "camille.martin@example.org"),
    ({"Precedence": "bulk"}, "camille.martin@example.org"),
    ({"List-Id": "<annonces.lievin.fr>"}, "camille.martin@example.org"),
    ({"X-Autoreply": "yes"}, "camille.martin@example.org"),
    ({}, "MAILER-DAEMON@lievin.fr"),
    ({}, "cite-educative@lievin.fr"),
], ids=["auto-submitted", "precedence-bulk", "list-id", "x-autoreply", "mailer-daemon", "our-own-address"])
def test_automatic_mail_is_recorded_and_never_answered(bot, headers, sender):
    # A neutral subject: « Réponse automatique » alone is a robot's mark now (rules/robots.toml).
    bot.deliver(mail(sender=sender, headers=headers, subject="Absente jusqu'au 3 mars"))
    bot.poll()
    assert bot.sent() == [] and bot.outbox() == []
    [inbound] = bot.inbound()
    assert inbound.classification == "automatique"
    assert "$CitebotDone" in bot.mailbox()[0]["flags"]


def test_a_real_robot_is_recorded_with_the_mark_that_gave_it_away(bot):
    bot.deliver((EML / "robots" / "bounceparser__warning-6.msg").read_bytes())  # Lotus Notes « AUTO: »
    bot.poll()
    assert bot.sent() == [] and bot.outbox() == []
    [inbound] = bot.inbound()
    assert (inbound.classification, inbound.outcome) == ("automatique", "enregistre")
    assert inbound.detail["robot"] == {"reason": "autoreply", "marker": "subject « AUTO: »"}


def test_a_bounce_of_our_own_mail_is_never_answered(bot):
    report = (
        b"From: MAILER-DAEMON@lievin.fr\r\nTo: cite-educative@lievin.fr\r\nSubject: Undelivered Mail\r\n"
        b"Message-ID: <bounce1@lievin.fr>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; lievin.fr\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
    )
    bot.deliver(report)
    bot.poll()
    assert bot.sent() == [] and bot.inbound()[0].classification == "automatique"


# -- sending ------------------------------------------------------------------------
def test_a_temporary_smtp_failure_delays_the_acknowledgement_without_doubling_it(bot):
    bot.sink.respond_with(["451 4.3.0 Réessayez plus tard"])
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    first = bot.poll()
    assert first.sending.retrying == 1 and bot.sink.received == []
    later = clock.now() + timedelta(minutes=5)
    with clock.pinned(later):
        bot.poll()
        bot.poll()
    assert len(bot.sink.received) == 1
    [row] = bot.outbox()
    assert row.status == "sent" and row.attempts == 2


def test_a_permanent_smtp_failure_is_recorded_and_visible(bot):
    from click.testing import CliRunner

    from bot.cli import main

    bot.sink.always("550 5.1.1 Adresse inconnue")
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    bot.poll()
    with clock.pinned(clock.now() + timedelta(hours=2)):
        bot.poll()
    [row] = bot.outbox()
    assert row.status == "failed" and "550" in row.last_error and row.attempts == 1
    reference = bot.dossiers()[0].reference
    result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "dossiers", "show", reference, "--json"],
                                env={"TEST_EN_PASSWORD": "x", "TEST_VILLE_PASSWORD": "x"})
    import json

    data = json.loads(result.output)
    assert data["mails"][0]["status"] == "failed" and "550" in data["mails"][0]["error"]
    assert "envoi_echoue" in [e["kind"] for e in data["events"]]


def test_an_unreachable_smtp_server_keeps_mails_for_later(bot):
    from bot.mail.transports import SmtpTransport

    bot.rt.transport = SmtpTransport("127.0.0.1", 1, "none", timeout=1)
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    report = bot.poll()
    assert not report.ok and report.sending.unreachable
    assert bot.outbox()[0].status == "pending"


def test_a_porteur_address_with_accents_is_answered_through_smtputf8(bot):
    bot.deliver(mail(sender="José Dupré <josé.dupré@example.org>", attachments=[("f.docx", fiche_bytes())]))
    report = bot.poll()
    assert report.ok and len(bot.dossiers()) == 1
    assert bot.sink.received[0].rcpt_tos == ["josé.dupré@example.org"]
    assert "To: josé.dupré@example.org".encode() in bot.sink.received[0].data


@pytest.mark.parametrize("name, content_type", [("fiche.odt", "application/vnd.oasis.opendocument.text"),
                                                ("fiche.rtf", "application/rtf")])
def test_an_odt_or_rtf_fiche_gets_its_own_answer_not_damaged(bot, name, content_type):
    import io
    import zipfile

    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as package:  # "mimetype" first and stored, as LibreOffice writes it
        package.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        package.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
    rtf = b"{\\rtf1\\ansi\\deff0 Intitul\\'e9 du projet : Les petits reporters\\par}"
    bot.deliver(mail(attachments=[(name, odt.getvalue() if name.endswith(".odt") else rtf, content_type)]))
    bot.poll()
    [reply] = bot.sent()
    assert reply["X-Citebot-Kind"] == "fiche_non_reconnue"
    body = reply.get_body(("plain",)).get_content()
    assert ("OpenDocument (.odt)" if name.endswith(".odt") else "RTF") in body
    assert "endommagé" not in body and "LibreOffice" in body
