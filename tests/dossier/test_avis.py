"""The IEN's avis by email, on the real Dovecot + SMTP stack (workflow.md, "The avis of the IEN")."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from bot_harness import make_bot
from mail_factory import mail, school_time_fiche

from bot import clock
from bot.dossier import avis

IEN = "ien.lievin@ac-lille.fr"
OUR_SERVER = "mx.ac-lille.fr"
# What our receiving server writes on a genuine reply of the IEN.
AUTHENTICATED = {"Authentication-Results": f"{OUR_SERVER}; dkim=pass header.d=ac-lille.fr header.s=mail; "
                                           "spf=pass smtp.mailfrom=ac-lille.fr; dmarc=pass header.from=ac-lille.fr"}


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, authserv_id=OUR_SERVER)


def submit(bot, **changes):
    bot.deliver(mail(sender="Karim Benali <karim.benali@ac-lille.fr>", to="chloe.dulieux@ac-lille.fr",
                     attachments=[("lecture.docx", school_time_fiche(**changes))]), to="en")
    bot.poll()


def sent_of(bot, kind):
    return [m for m in bot.sent() if m["X-Citebot-Kind"] == kind]


def request_of(bot):
    [request] = sent_of(bot, "avis_demande")
    return request


def quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


def answer(bot, text, *, sender=IEN, request=None, headers=AUTHENTICATED, subject=None, threaded=True,
           attachments=()):
    """The IEN's reply (or someone's) to `request`, with our server's verdict: dkim and dmarc pass unless
    `headers` say otherwise."""
    request = request or request_of(bot)
    body = request.get_body(("plain",)).get_content()
    reply = (f"{text}\n\nLe jeu. 26 nov. 2026 à 10:02, Cité éducative de Liévin <cite-educative@lievin.fr> a écrit :\n"
             f"{quoted(body)}\n")
    bot.deliver(mail(sender=sender, to="chloe.dulieux@ac-lille.fr", subject=subject or "RE: " + request["Subject"],
                     body=reply, in_reply_to=request["Message-ID"] if threaded else None,
                     references=[request["Message-ID"]] if threaded else (), headers=headers,
                     attachments=attachments), to="en")
    bot.poll()


def dossier(bot):
    [d] = bot.dossiers()
    return d


def show(bot):
    from click.testing import CliRunner

    from bot.cli import main

    result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "dossiers", "show",
                                       dossier(bot).reference, "--json"],
                                env={"TEST_EN_PASSWORD": "x", "TEST_VILLE_PASSWORD": "x"})
    return json.loads(result.output)


def test_a_valid_school_time_dossier_sends_one_request_with_the_fiche(bot):
    submit(bot)
    d = dossier(bot)
    assert d.status == "en_attente_avis"
    request = request_of(bot)
    [delivery] = [r for r in bot.sink.received if IEN in r.rcpt_tos]
    assert delivery.rcpt_tos == [IEN]
    assert request["Reply-To"] == "chloe.dulieux@ac-lille.fr"
    assert re.search(rf"\[{d.reference}\] Demande d'avis — Lire ensemble en CP \(code [0-9a-f]{{12}}\)",
                     request["Subject"])
    body = request.get_body(("plain",)).get_content().replace("\u202f", " ").replace("\u00a0", " ")
    assert "« favorable » ou « défavorable »" in body and "École élémentaire Jean Jaurès" in body
    assert "Un journal radio" in body and "4 500,00" in body
    assert [p.get_filename() for p in request.iter_attachments()] == [f"{d.reference} - lecture.docx"]
    data = show(bot)
    assert data["avis"]["status"] == "demande" and data["avis"]["answered_at"] is None


def test_an_incomplete_school_time_fiche_asks_nothing_yet(bot):
    submit(bot, referent_email="pas-une-adresse")
    assert dossier(bot).status == "incomplet" and sent_of(bot, "avis_demande") == []


def test_a_favorable_reply_makes_the_dossier_ready_and_tells_the_porteur(bot):
    submit(bot)
    answer(bot, "Bonjour,\n\nAvis favorable. Projet bien construit, à articuler avec le projet d'école.\n\nCordialement,\nL'IEN")
    d = dossier(bot)
    assert d.status == "pret_troika"
    data = show(bot)
    assert data["avis"]["status"] == "favorable" and data["avis"]["answered_by"] == IEN
    assert "projet d'école" in data["avis"]["comment"]
    [notice] = sent_of(bot, "avis_notification")
    assert notice["To"] == "karim.benali@ac-lille.fr"
    assert "Avis favorable" in notice["Subject"]
    # The IEN's comment is an internal opinion (avis.comment_to_porteur = false): the coordinators only.
    assert "projet d'école" not in notice.get_body(("plain",)).get_content()
    [note] = sent_of(bot, "note_coordinateurs")
    assert note["To"] == "chloe.dulieux@ac-lille.fr" and "projet d'école" in note.get_body(("plain",)).get_content()
    assert "avis_recu" in [e["kind"] for e in data["events"]]


def test_a_defavorable_reply_is_not_read_as_favorable(bot):
    submit(bot)
    answer(bot, "Défavorable : le calendrier empiète sur les évaluations nationales.")
    assert dossier(bot).status == "avis_defavorable"
    assert "Avis défavorable" in sent_of(bot, "avis_notification")[0]["Subject"]


def test_an_unclear_reply_asks_the_ien_again_and_notes_it_for_the_coordinators(bot):
    submit(bot)
    answer(bot, "Je dois en parler avec la directrice avant de me prononcer.")
    assert dossier(bot).status == "en_attente_avis"
    [again] = sent_of(bot, "avis_incompris")
    assert again["To"] == IEN and again["In-Reply-To"]
    [note] = sent_of(bot, "note_coordinateurs")
    assert note["To"] == "chloe.dulieux@ac-lille.fr" and "la directrice" in note.get_body(("plain",)).get_content()
    answer(bot, "Favorable.", request=again)  # the answer to our question counts
    assert dossier(bot).status == "pret_troika"


def test_a_reply_matched_by_reference_and_code_without_threading_headers(bot):
    submit(bot)
    answer(bot, "favorable", threaded=False)
    assert dossier(bot).status == "pret_troika"


def test_a_guessed_code_does_not_match(bot):
    submit(bot)
    reference = dossier(bot).reference
    answer(bot, "favorable", threaded=False, subject=f"RE: [{reference}] Demande d'avis (code 000000000000)")
    assert dossier(bot).status == "en_attente_avis"


def test_anyone_elses_favorable_changes_nothing_and_alerts_the_coordinators(bot):
    submit(bot)
    answer(bot, "Favorable !", sender="karim.benali@ac-lille.fr")
    assert dossier(bot).status == "en_attente_avis"
    assert sent_of(bot, "avis_notification") == []
    [note] = sent_of(bot, "note_coordinateurs")
    assert "karim.benali@ac-lille.fr" in note.get_body(("plain",)).get_content()
    assert "avis_refuse" in [e["kind"] for e in show(bot)["events"]]


def test_a_forwarded_request_answered_by_someone_else_is_refused(bot):
    submit(bot)
    answer(bot, "OK pour moi", sender="secretariat.circo@ac-lille.fr")
    assert dossier(bot).status == "en_attente_avis" and len(sent_of(bot, "note_coordinateurs")) == 1


def test_dmarc_fail_from_our_own_server_refuses_the_reply(bot):
    submit(bot)
    answer(bot, "Favorable", headers={"Authentication-Results": "mx.ac-lille.fr; dkim=none; dmarc=fail header.from=ac-lille.fr"})
    assert dossier(bot).status == "en_attente_avis"
    assert "dmarc=fail" in sent_of(bot, "note_coordinateurs")[0].get_body(("plain",)).get_content()


def test_a_forged_authentication_result_from_another_server_is_ignored(bot):
    submit(bot)
    answer(bot, "Favorable", headers=[
        ("Authentication-Results", "mx.ac-lille.fr; dkim=pass header.d=ac-lille.fr; dmarc=pass"),
        ("Authentication-Results", "evil.example; dkim=fail; dmarc=fail"),  # not our server: ignored
    ])
    assert dossier(bot).status == "pret_troika"


# -- authentication fails closed (security.md, "Opinions and commands") ------------------------------
def refused_as_unauthenticated(bot) -> str:
    """The dossier unchanged, no notification, the coordinators told why: the note's text."""
    data = show(bot)
    assert dossier(bot).status == "en_attente_avis" and data["avis"]["status"] == "demande"
    assert sent_of(bot, "avis_notification") == []
    [note] = sent_of(bot, "note_coordinateurs")
    assert note["Subject"].endswith("Réponse à une demande d'avis refusée")
    assert "avis_refuse" in [e["kind"] for e in data["events"]]
    return " ".join(note.get_body(("plain",)).get_content().split())


@pytest.mark.parametrize("headers", [
    {},  # no Authentication-Results at all
    {"Authentication-Results": "mx.ac-lille.fr; dkim=none; spf=pass smtp.mailfrom=ac-lille.fr; dmarc=none"},
    {"Authentication-Results": "mx.ac-lille.fr; dkim=neutral (no key) header.d=ac-lille.fr"},
    {"Authentication-Results": "mx.ac-lille.fr; none"},
    {"Authentication-Results": "smtp.evil.example; dkim=pass header.d=ac-lille.fr; dmarc=pass"},  # forged
    {"Authentication-Results": "mx.ac-lille.fr.evil.example; dkim=pass; dmarc=pass"},  # a look-alike id
], ids=["no-header", "dkim-none", "dkim-neutral", "none", "another-server", "look-alike"])
def test_a_forged_favorable_without_our_servers_pass_is_refused(bot, headers):
    submit(bot)
    answer(bot, "Favorable.", headers=headers)
    note = refused_as_unauthenticated(bot)
    assert "notre serveur de messagerie (mx.ac-lille.fr) n'en confirme pas l'authenticité" in note
    assert "dkim=pass ou dmarc=pass sont attendus" in note


@pytest.mark.parametrize("headers", [
    {"Authentication-Results": "mx.ac-lille.fr; dkim=fail header.d=ac-lille.fr; dmarc=fail"},
    [("Authentication-Results", "mx.ac-lille.fr; dkim=pass header.d=ac-lille.fr; dmarc=pass"),
     ("Authentication-Results", "mx.ac-lille.fr; dkim=fail header.d=ac-lille.fr")],  # one of ours fails
], ids=["fail", "pass-and-fail"])
def test_a_failure_from_our_server_outweighs_any_pass(bot, headers):
    submit(bot)
    answer(bot, "Favorable.", headers=headers)
    assert "le signale comme non authentifié (dkim=" in refused_as_unauthenticated(bot)


@pytest.mark.parametrize("headers", [
    {"Authentication-Results": "mx.ac-lille.fr; dkim=pass header.d=ac-lille.fr; dmarc=none"},
    {"Authentication-Results": "mx.ac-lille.fr 1; dkim=none; spf=pass; dmarc=pass (p=quarantine) header.from=ac-lille.fr"},
], ids=["dkim-pass", "dmarc-pass"])
def test_our_servers_dkim_or_dmarc_pass_applies_the_avis(bot, headers):
    submit(bot)
    answer(bot, "Favorable.", headers=headers)
    assert dossier(bot).status == "pret_troika" and sent_of(bot, "note_coordinateurs") == []


def test_without_an_authserv_id_the_ien_is_trusted_on_the_from_alone(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)  # the shipped configuration: authserv_id = ""
    submit(bot)
    answer(bot, "Favorable.", headers={})
    assert dossier(bot).status == "pret_troika"


def test_the_ien_s_comment_reaches_the_mails_and_the_digest_without_control_or_bidi_characters(bot):
    from bot.dossier.digest import send_digests

    submit(bot)
    answer(bot, "Avis favorable.\u202e Projet \x1b[31mbien\x1b[0m construit\u2066.\u2069")
    assert dossier(bot).status == "pret_troika"
    send_digests(bot.rt, clock.today())
    bot.poll()
    [note] = sent_of(bot, "note_coordinateurs")  # the comment goes to the coordinators only
    digests = sent_of(bot, "digest")
    assert digests
    for message in (note, *digests):
        for part in message.walk():
            if part.get_content_maintype() == "text":
                text = part.get_content()
                assert "Projet [31mbien[0m construit." in text
                assert not {"\x1b", "\u202e", "\u2066", "\u2069"} & set(text)


def test_a_second_answer_is_not_applied_and_the_ien_is_told_what_is_on_record(bot):
    submit(bot)
    answer(bot, "Avis favorable.")
    answer(bot, "Finalement défavorable.")
    assert dossier(bot).status == "pret_troika"
    [told] = sent_of(bot, "avis_deja_donne")
    body = " ".join(told.get_body(("plain",)).get_content().split())
    assert told["To"] == IEN and "Un avis favorable est déjà enregistré" in body
    assert "chloe.dulieux@ac-lille.fr" in body


def test_a_reply_carrying_the_fiche_back_is_not_a_new_submission(bot):
    submit(bot)
    answer(bot, "Favorable, fiche visée ci-jointe.", attachments=[("visée.docx", school_time_fiche(intitule="Visé"))])
    assert len(bot.dossiers()) == 1 and dossier(bot).status == "pret_troika"
    assert len(dossier(bot).versions) == 1


def test_a_corrected_version_while_pending_goes_to_the_ien_in_the_same_thread(bot):
    submit(bot)
    request = request_of(bot)
    ack = sent_of(bot, "accuse_reception")[0]
    bot.deliver(mail(sender="karim.benali@ac-lille.fr", to="chloe.dulieux@ac-lille.fr", subject="Re: " + ack["Subject"],
                     in_reply_to=ack["Message-ID"], attachments=[("v2.docx", school_time_fiche(nb_beneficiaires="52"))]),
                to="en")
    bot.poll()
    [update] = sent_of(bot, "avis_mise_a_jour")
    assert update["In-Reply-To"] == request["Message-ID"] and request["Message-ID"] in update["References"]
    assert "version 2" in update.get_body(("plain",)).get_content()
    assert len(sent_of(bot, "avis_demande")) == 1


def test_a_corrected_version_after_the_avis_keeps_it_and_tells_the_coordinators(bot):
    submit(bot)
    answer(bot, "favorable")
    bot.deliver(mail(sender="karim.benali@ac-lille.fr", to="chloe.dulieux@ac-lille.fr",
                     subject=f"Fiche modifiée {dossier(bot).reference}",
                     attachments=[("v2.docx", school_time_fiche(nb_beneficiaires="60"))]), to="en")
    bot.poll()
    assert dossier(bot).status == "pret_troika"
    [note] = sent_of(bot, "note_coordinateurs")
    assert "après l'avis favorable" in " ".join(note.get_body(("plain",)).get_content().split())


def test_reminders_on_the_right_days_never_twice_a_day_then_the_coordinators(bot):
    submit(bot)
    request = request_of(bot)
    asked = clock.today()

    def remind_on(days):
        day = asked + timedelta(days=days)
        with clock.pinned(day):
            with bot.rt.sessions.begin() as s:
                report = avis.remind(s, bot.rt.cfg, bot.rt.rules, day)
            bot.poll()
        return report

    assert remind_on(6).reminders == 0
    assert remind_on(7).reminders == 1
    assert remind_on(7).reminders == 0  # idempotent for a day
    assert remind_on(10).reminders == 0
    assert remind_on(14).reminders == 1
    assert remind_on(21).reminders == 1
    assert remind_on(28).reminders == 0 and len(sent_of(bot, "note_coordinateurs")) == 1
    assert remind_on(28).alerts == 0 and remind_on(35).alerts == 0
    reminders = sent_of(bot, "avis_relance")
    assert len(reminders) == 3
    assert all(r["In-Reply-To"] and request["Message-ID"] in r["References"] for r in reminders)
    assert [p.get_filename() for p in reminders[0].iter_attachments()] == [f"{dossier(bot).reference} - lecture.docx"]
    assert show(bot)["avis"]["reminders"] == 3


def test_no_reminder_once_the_avis_is_given(bot):
    submit(bot)
    answer(bot, "favorable")
    day = clock.today() + timedelta(days=8)
    with clock.pinned(day), bot.rt.sessions.begin() as s:
        assert avis.remind(s, bot.rt.cfg, bot.rt.rules, day).reminders == 0


def test_remind_command_with_a_pinned_day(bot):
    import os
    import subprocess
    import sys

    from conftest import REPO

    submit(bot)
    day = (clock.today() + timedelta(days=7)).isoformat()
    env = {**os.environ, "TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password}
    run = lambda: subprocess.run([sys.executable, "-m", "bot", "--config", str(bot.rt.cfg.path), "remind",  # noqa: E731
                                  "--today", day], cwd=REPO, env=env, capture_output=True, text=True)
    first, second = run(), run()
    assert first.returncode == 0, first.stderr
    assert "1\u00a0rappel d'avis" in first.stdout and "0\u00a0rappel d'avis" in second.stdout
    assert len(sent_of(bot, "avis_relance")) == 1
