"""The coordinators' side on the real stack: troïka decisions, held mails,
bilans and their reminders, digests, status by email."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from bot_harness import make_bot
from click.testing import CliRunner
from mail_factory import fiche_bytes, fiche_with_errors, mail

from bot import clock
from bot.cli import main
from bot.dossier.digest import send_digests
from bot.dossier.reminders import run_reminders

VILLE = ["f.talaga@lievin.fr", "l.marcq@lievin.fr"]


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, extra='[outbox]\nhold = ["decision_refus"]\n[coordination]\nundo_minutes = 0')


def cli(bot, *args):
    result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), *args],
                                env={"TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password})
    return result


def sent_of(bot, kind):
    return [m for m in bot.sent() if m["X-Citebot-Kind"] == kind]


def text(message):
    return " ".join(message.get_body(("plain",)).get_content().replace("\u202f", " ").replace("\u00a0", " ").split())


def filed(bot, data=None):
    bot.deliver(mail(attachments=[("f.docx", data or fiche_bytes())]))
    bot.poll()
    return bot.dossiers()[-1].reference


# -- decisions --------------------------------------------------------------------
def test_accepting_a_ready_dossier_records_it_creates_the_bilans_and_tells_the_porteur(bot):
    reference = filed(bot)
    result = cli(bot, "decide", reference, "accepte", "--montant", "2 500", "--commentaire", "Bravo.")
    assert result.exit_code == 0, result.output
    assert "accepté, 2 500,00" in result.output.replace("\u202f", " ").replace("\u00a0", " ")
    [d] = bot.dossiers()
    assert d.status == "accepte" and d.montant_accorde == "2500.00" and d.decision_comment == "Bravo."
    assert [(b.kind, b.year, b.due) for b in d.bilans] == [("mi_parcours", 2026, date(2026, 12, 31)),
                                                            ("definitif", 2027, date(2027, 8, 29))]
    [letter] = sent_of(bot, "decision_acceptee")
    assert letter["To"] == "camille.martin@example.org" and all(c in letter["Cc"] for c in VILLE)
    body = text(letter)
    assert "Montant accordé : 2 500,00 €" in body and "(montant sollicité : 3 000,00 €)" in body
    assert "bilan de mi-parcours 2026, au plus tard le 31 décembre 2026" in body
    assert "Avec le concours de la Préfecture du Pas-de-Calais" in body and "Bravo." in body
    shown = json.loads(cli(bot, "dossiers", "show", reference, "--json").output)
    assert [b["kind"] for b in shown["bilans"]] == ["mi_parcours", "definitif"]
    assert shown["bilans"][0]["due"] == "2026-12-31" and shown["bilans"][0]["received_at"] is None


def test_a_decision_is_refused_when_the_dossier_is_not_ready(bot):
    reference = filed(bot, fiche_with_errors())
    result = cli(bot, "decide", reference, "accepte")
    assert result.exit_code == 1 and "« incomplet »" in result.output
    assert bot.dossiers()[0].status == "incomplet"
    assert cli(bot, "decide", "CE-2026-9999", "refuse").exit_code == 1


def test_a_refusal_letter_is_held_until_released(bot):
    reference = filed(bot)
    result = cli(bot, "decide", reference, "refuse", "--commentaire", "Budget insuffisamment détaillé.")
    assert result.exit_code == 0 and "retenu jusqu'à sa libération" in result.output
    assert sent_of(bot, "decision_refus") == []
    listed = cli(bot, "outbox", "list").output
    assert "decision_refus" in listed and reference in listed
    row_id = [r.id for r in bot.outbox() if r.kind == "decision_refus"][0]
    assert cli(bot, "outbox", "release", str(row_id)).exit_code == 0
    [letter] = sent_of(bot, "decision_refus")
    assert "Budget insuffisamment détaillé." in text(letter) and "n'a pas pu le retenir" in text(letter)
    assert cli(bot, "outbox", "release", str(row_id)).exit_code == 1  # already released
    assert cli(bot, "outbox", "list").output.strip() == "Aucun courriel retenu."


def test_a_held_mail_can_be_cancelled(bot):
    reference = filed(bot)
    cli(bot, "decide", reference, "refuse")
    row_id = [r.id for r in bot.outbox() if r.kind == "decision_refus"][0]
    assert cli(bot, "outbox", "cancel", str(row_id)).exit_code == 0
    bot.poll()
    assert sent_of(bot, "decision_refus") == [] and bot.outbox()[-1].status == "cancelled"


# -- bilans -------------------------------------------------------------------------
def remind_on(bot, day):
    with clock.pinned(day):
        report = run_reminders(bot.rt, day)
        bot.poll()
    return report


def test_bilan_reminders_stop_once_the_bilan_is_received(bot):
    reference = filed(bot)
    cli(bot, "decide", reference, "accepte")
    assert remind_on(bot, date(2026, 11, 30)).bilan_reminders == 0
    assert remind_on(bot, date(2026, 12, 1)).bilan_reminders == 1
    assert remind_on(bot, date(2026, 12, 1)).bilan_reminders == 0  # never twice a day
    [reminder] = sent_of(bot, "bilan_rappel")
    assert "bilan de mi-parcours 2026" in reminder["Subject"] and reminder["Reply-To"] == "l.marcq@lievin.fr"

    with clock.pinned(date(2026, 12, 5)):
        bot.deliver(mail(subject="Re: " + reminder["Subject"], in_reply_to=reminder["Message-ID"],
                         attachments=[("bilan 2026.pdf", b"%PDF-1.7 bilan", "application/pdf")]))
        bot.poll()
    [ack] = sent_of(bot, "bilan_recu")
    assert "« bilan 2026.pdf »" in text(ack) and "bilan définitif 2027" in text(ack)
    [d] = bot.dossiers()
    assert d.bilans[0].received_at is not None and d.bilans[1].received_at is None
    assert remind_on(bot, date(2026, 12, 15)).bilan_reminders == 0
    assert remind_on(bot, date(2027, 1, 15)).bilan_overdue == 0
    assert remind_on(bot, date(2027, 8, 14)).bilan_reminders == 1  # the final one goes on


def test_an_overdue_bilan_is_notified_to_the_coordinators_once(bot):
    reference = filed(bot)
    cli(bot, "decide", reference, "accepte")
    remind_on(bot, date(2026, 12, 1))
    remind_on(bot, date(2026, 12, 15))
    assert remind_on(bot, date(2027, 1, 15)).bilan_overdue == 1
    assert remind_on(bot, date(2027, 1, 16)).bilan_overdue == 0
    [note] = sent_of(bot, "note_coordinateurs")
    assert "en retard" in note["Subject"] and set(note["To"].split(", ")) == set(VILLE)


# -- digest -------------------------------------------------------------------------
def test_each_coordinator_gets_a_digest_of_their_own_dossiers_and_nothing_when_nothing_is_new(bot):
    from mail_factory import school_time_fiche

    filed(bot)
    bot.deliver(mail(sender="karim.benali@ac-lille.fr", to="chloe.dulieux@ac-lille.fr",
                     attachments=[("ec.docx", school_time_fiche())]), to="en")
    bot.deliver(mail(subject="Question", attachments=[("photo.jpg", b"\xff\xd8\xff\xe0jpeg", "image/jpeg")]))
    bot.poll()
    assert send_digests(bot.rt, clock.today()) == 3
    bot.poll()
    digests = {m["To"]: m for m in sent_of(bot, "digest")}
    assert set(digests) == {"chloe.dulieux@ac-lille.fr", *VILLE}
    ville, en = text(digests["l.marcq@lievin.fr"]), text(digests["chloe.dulieux@ac-lille.fr"])
    assert "Les petits reporters" in ville and "Lire ensemble en CP" not in ville
    assert "Lire ensemble en CP" in en and "Les petits reporters" not in en
    assert "AVIS DE L'IEN EN ATTENTE (1)" in en and "demandé aujourd'hui" in en
    assert "MESSAGES QUE L'ASSISTANT N'A PAS COMPRIS" in ville and "Question" in ville
    html = digests["l.marcq@lievin.fr"].get_body(("html",)).get_content()
    assert "<table" in html and "Les petits reporters" in html
    assert send_digests(bot.rt, clock.today()) == 0  # nothing new since


def test_the_digest_says_what_changed_in_a_new_version(bot):
    reference = filed(bot, fiche_with_errors())
    send_digests(bot.rt, clock.today())
    bot.deliver(mail(subject=f"Correction {reference}", attachments=[("v2.docx", fiche_bytes())]))
    bot.poll()
    with clock.pinned(clock.now() + timedelta(minutes=1)):
        assert send_digests(bot.rt, clock.today()) == 2
        bot.poll()
    last = [m for m in sent_of(bot, "digest") if m["To"] == "l.marcq@lievin.fr"][-1]
    body = text(last)
    assert "version 2 :" in body and "Courriel du référent" in body and "Montant sollicité" in body


# -- status by email ------------------------------------------------------------------
def test_the_porteur_asks_for_the_status_and_gets_it(bot):
    reference = filed(bot, fiche_with_errors())
    bot.deliver(mail(subject=f"statut {reference}", body="Merci"))
    bot.poll()
    [status] = sent_of(bot, "statut_dossier")
    assert status["To"] == "camille.martin@example.org"
    assert "Statut : incomplet" in text(status) and "Points à corriger : 4" in text(status)


def test_a_stranger_asking_for_a_status_learns_nothing(bot):
    reference = filed(bot)
    bot.deliver(mail(sender="curieux@example.net", subject="Bonjour", body=f"statut {reference}\nMerci"))
    bot.poll()
    assert sent_of(bot, "statut_dossier") == []
    assert bot.inbound()[-1].outcome == "statut_refuse"


def test_a_new_fiche_for_a_decided_dossier_is_a_version_and_keeps_the_decision(bot):
    reference = filed(bot)
    cli(bot, "decide", reference, "accepte")
    bot.deliver(mail(subject=f"Fiche mise à jour {reference}", attachments=[("v2.docx", fiche_bytes(nb_beneficiaires="52"))]))
    bot.poll()
    [d] = bot.dossiers()
    assert d.status == "accepte" and [v.number for v in d.versions] == [1, 2]
