"""Nobody changes someone else's dossier, and the bot relays nobody's spam
(security.md, "Who may change a dossier", "Who the bot writes to"), on the real
Dovecot, SMTP sink and SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, fiche_with_errors, mail

from bot.dossier.trust import another_project, answer_address, first_known, is_known
from bot.mail.addresses import address_key
from bot.store.models import Event, PendingChange

REPO = Path(__file__).resolve().parents[1]
PORTEUR = "Camille Martin <camille.martin@example.org>"
STRANGER = "Intrus <intrus@pirate.example>"


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, limit=50)


def filed(bot):
    """A dossier filed by its porteur, ready for the troïka; the mails sent so far forgotten."""
    bot.deliver(mail(sender=PORTEUR, attachments=[("Fiche projet.docx", fiche_bytes())]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert dossier.status == "pret_troika"
    bot.sink.reset()
    return dossier


def sent_to(bot) -> list[tuple[list[str], str]]:
    return [(r.rcpt_tos, m["Subject"]) for r, m in zip(bot.sink.received, bot.sent())]


def held_version(bot) -> tuple:
    """A filed dossier, and a new version of it from a stranger, waiting for a confirmation."""
    dossier = filed(bot)
    bot.deliver(mail(sender=STRANGER, subject=f"Fiche corrigée {dossier.reference}",
                     attachments=[("f.docx", fiche_bytes(cout_total="5 000 €"))]))
    bot.poll()
    [change] = pending(bot)
    return dossier, change


def pending(bot) -> list[PendingChange]:
    with bot.rt.sessions() as s:
        return list(s.query(PendingChange).order_by(PendingChange.id))


def citebot(bot, *args):
    env = {**os.environ, "TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(bot.rt.cfg.path), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


# -- a version from an unknown address -------------------------------------------------


def test_a_stranger_naming_a_dossier_changes_nothing_and_the_porteur_is_asked(bot):
    dossier = filed(bot)
    # The attack of issue 10: an invalid fiche, another intitulé, the same structure.
    bot.deliver(mail(sender=STRANGER, subject=f"Fiche corrigée {dossier.reference}",
                     attachments=[("fiche.docx", fiche_with_errors())]))
    bot.poll()
    [after] = bot.dossiers()
    assert len(after.versions) == 1 and after.status == "pret_troika"
    assert after.versions[0].fields["referent_email"] == "camille.martin@example.org"
    waiting = pending(bot)
    assert [c.kind for c in waiting] == ["version"] and waiting[0].status == "attente"
    to_porteur = [s for to, s in sent_to(bot) if to == ["camille.martin@example.org"]]
    assert to_porteur == [f"[{dossier.reference}] Une nouvelle version de la fiche projet envoyée depuis une autre "
                          "adresse\u00a0: confirmez-vous\u202f?"]
    to_stranger = [m for r, m in zip(bot.sink.received, bot.sent()) if r.rcpt_tos == ["intrus@pirate.example"]]
    assert to_stranger, "the stranger is told the porteur must confirm"
    for message in to_stranger:
        text = message.get_body(("plain",)).get_content()
        assert dossier.reference not in message["Subject"] and "Les petits reporters" not in text


def test_a_different_project_with_someone_elses_reference_is_a_new_dossier(bot):
    dossier = filed(bot)
    bot.deliver(mail(sender=STRANGER, subject=f"Projet {dossier.reference}",
                     attachments=[("f.docx", fiche_bytes(intitule="Jardin partagé", structure="Les Amis du Jardin",
                                                         referent_email="intrus@pirate.example"))]))
    bot.poll()
    first, second = bot.dossiers()
    assert len(first.versions) == 1 and second.versions[0].fields["intitule"] == "Jardin partagé"
    assert pending(bot) == []


def test_the_porteur_answering_oui_applies_the_version(bot):
    dossier, change = held_version(bot)
    bot.deliver(mail(sender=PORTEUR, subject="Re: confirmation", body="Oui, c'est ma collègue.\n\n> question",
                     in_reply_to=change.question_message_id))
    bot.poll()
    [after] = bot.dossiers()
    assert len(after.versions) == 2 and pending(bot)[0].status == "appliquee"
    assert address_key("intrus@pirate.example") in after.known_addresses
    kinds = [r.kind for r in bot.outbox()]
    assert "confirmation_enregistree" in kinds and kinds.count("accuse_reception") == 2


def test_a_stranger_answering_oui_to_the_question_changes_nothing(bot):
    dossier, change = held_version(bot)
    bot.deliver(mail(sender=STRANGER, subject="Re: confirmation", body="OUI", in_reply_to=change.question_message_id))
    bot.poll()
    assert len(bot.dossiers()[0].versions) == 1 and pending(bot)[0].status == "attente"


def test_non_sets_the_change_aside(bot):
    dossier, change = held_version(bot)
    bot.deliver(mail(sender=PORTEUR, subject="Re: confirmation", body="Non.", in_reply_to=change.question_message_id))
    bot.poll()
    assert len(bot.dossiers()[0].versions) == 1 and pending(bot)[0].status == "ecartee"


def test_a_coordinator_confirms_with_citebot_confirm(bot):
    dossier, _ = held_version(bot)
    done = citebot(bot, "confirm", dossier.reference)
    assert done.returncode == 0, done.stderr
    assert "1\u00a0envoi en attente appliqué" in done.stdout
    assert len(bot.dossiers()[0].versions) == 2
    again = citebot(bot, "confirm", dossier.reference)
    assert again.returncode == 1 and "Rien n'attend de confirmation" in again.stderr


def test_the_porteur_sending_a_new_version_needs_no_confirmation(bot):
    dossier = filed(bot)
    bot.deliver(mail(sender="Camille Martin <Camille.Martin+aap@Example.org>", subject=f"Fiche corrigée {dossier.reference}",
                     attachments=[("f.docx", fiche_bytes(cout_total="5 000 €"))]))
    bot.poll()
    assert len(bot.dossiers()[0].versions) == 2 and pending(bot) == []


# -- bilans, letters, status, « déjà reçu » -----------------------------------------------


def test_a_letter_from_a_stranger_is_not_filed_with_the_dossier(bot):
    dossier = filed(bot)
    bot.deliver(mail(sender=STRANGER, subject=f"Bilan {dossier.reference}", body="Voici le bilan.",
                     attachments=[("bilan.pdf", b"%PDF-1.7\n", "application/pdf")]))
    bot.poll()
    [after] = bot.dossiers()
    assert [d.original_name for d in after.documents] == ["Fiche projet.docx"]
    assert bot.inbound()[-1].outcome == "courrier_non_rattache"


def test_an_unknown_and_a_foreign_reference_get_the_same_status_answer(bot):
    dossier = filed(bot)
    bot.deliver(mail(sender=STRANGER, subject=f"statut {dossier.reference}", body="?"))
    bot.deliver(mail(sender=STRANGER, subject="statut CE-2026-0999", body="?"))
    bot.poll()
    answers = [m for r, m in zip(bot.sink.received, bot.sent()) if r.rcpt_tos == ["intrus@pirate.example"]]
    assert len(answers) == 2
    bodies = [m.get_body(("plain",)).get_content().replace(dossier.reference, "REF").replace("CE-2026-0999", "REF")
              for m in answers]
    assert bodies[0] == bodies[1] and answers[0]["Subject"] == answers[1]["Subject"]
    assert "Les petits reporters" not in bodies[0] and "prêt" not in bodies[0]


def test_a_copy_of_someone_elses_fiche_reveals_nothing_of_its_dossier(bot):
    same_file = fiche_bytes()  # built once: the zip holds the time it was written
    bot.deliver(mail(sender=PORTEUR, attachments=[("Fiche projet.docx", same_file)]))
    bot.poll()
    [dossier] = bot.dossiers()
    bot.sink.reset()
    bot.deliver(mail(sender=STRANGER, subject="ma fiche", attachments=[("copie.docx", same_file)]))
    bot.poll()
    [answer] = [m for r, m in zip(bot.sink.received, bot.sent()) if r.rcpt_tos == ["intrus@pirate.example"]]
    text = answer.get_body(("plain",)).get_content()
    assert answer["Subject"] == "Fichier déjà reçu" and len(bot.dossiers()) == 1
    assert dossier.reference not in answer["Subject"] + text and "Les petits reporters" not in answer["Subject"] + text


# -- who the bot writes to, and how much ---------------------------------------------------


def test_a_reply_to_in_another_domain_is_never_written_to(bot):
    bot.deliver(mail(sender=STRANGER, headers={"Reply-To": "victime@victime.example"},
                     attachments=[("f.docx", fiche_bytes(intitule="Gagnez 1000 €"))]))
    bot.poll()
    assert all("victime@victime.example" not in r.rcpt_tos for r in bot.sink.received)
    assert any(r.rcpt_tos == ["intrus@pirate.example"] for r in bot.sink.received)


def test_a_recipient_gets_at_most_the_daily_limit_whatever_its_tags(bot):
    for n in range(14):
        bot.deliver(mail(sender=f"Victime <victime+{n}@victime.example>", subject=f"Bonjour {n}", body="?"))
    bot.poll()
    to_victim = [r for r in bot.sink.received if address_key(r.rcpt_tos[0]) == "victime@victime.example"]
    assert len(to_victim) == bot.rt.cfg.limits.mails_per_recipient_per_day == 10
    with bot.rt.sessions() as s:  # what was not sent is recorded, for the coordinators
        assert s.query(Event).filter(Event.kind == "destinataire_ecarte").count() == 4


def test_one_message_files_at_most_the_fiches_limit_and_names_the_others(bot):
    fiches = [(f"fiche-{n}.docx", fiche_bytes(intitule=f"Projet {n}", structure=f"Structure {n}"))
              for n in range(8)]
    bot.deliver(mail(sender=PORTEUR, attachments=fiches))
    bot.poll()
    assert len(bot.dossiers()) == bot.rt.cfg.limits.fiches_per_message == 5
    ack = bot.sent()[0].get_body(("plain",)).get_content()
    assert "seules les 5 premières ont été enregistrées" in ack
    assert "«\u00a0fiche-5.docx\u00a0», «\u00a0fiche-6.docx\u00a0», «\u00a0fiche-7.docx\u00a0»." in ack


# -- the pure rules ---------------------------------------------------------------------


def test_the_pure_trust_rules(bot):
    cfg = bot.rt.cfg
    known = first_known("Camille.Martin+x@Example.org", {"referent_email": "ref@ecole.fr"})
    assert known == ["camille.martin@example.org", "ref@ecole.fr"]
    assert is_known(known, "CAMILLE.MARTIN@example.org", cfg) and is_known(known, "l.marcq@lievin.fr", cfg)
    assert not is_known(known, "intrus@pirate.example", cfg) and not is_known(known, None, cfg)
    assert another_project({"intitule": "A", "structure": "S"}, {"intitule": "B", "structure": "T"})
    assert not another_project({"intitule": "A", "structure": "S"}, {"intitule": "B", "structure": "s"})
    assert answer_address("a@x.fr", "b@x.fr") == "b@x.fr"
    assert answer_address("a@x.fr", "b@y.fr") == "a@x.fr"
    assert answer_address("a@x.fr", "b@y.fr", known=["b@y.fr"]) == "b@y.fr"


def test_a_bilan_from_a_stranger_is_not_received_until_the_porteur_confirms(bot):
    from bot.dossier.decisions import decide

    dossier = filed(bot)
    with bot.rt.sessions.begin() as session:
        decide(session, bot.rt.cfg, bot.rt.rules, dossier.reference, "accepte")
    bot.deliver(mail(sender=STRANGER, subject=f"Bilan {dossier.reference}", body="Voici le bilan.",
                     attachments=[("bilan.pdf", b"%PDF-1.7\n% bilan\n", "application/pdf")]))
    bot.poll()
    [after] = bot.dossiers()
    assert all(b.received_at is None for b in after.bilans)
    [change] = pending(bot)
    assert change.kind == "bilan"
    bot.deliver(mail(sender=PORTEUR, subject="Re: bilan", body="OUI", in_reply_to=change.question_message_id))
    bot.poll()
    [after] = bot.dossiers()
    assert sum(b.received_at is not None for b in after.bilans) == 1


def test_what_the_daily_limit_kept_back_is_in_the_coordinators_digest(bot):
    from datetime import datetime, timezone

    from bot import clock
    from bot.dossier.digest import build

    for n in range(12):
        bot.deliver(mail(sender=f"Victime <victime+{n}@victime.example>", subject=f"Bonjour {n}", body="?"))
    bot.poll()
    with bot.rt.sessions() as s:
        digest = build(s, bot.rt.cfg, bot.rt.rules, "l.marcq@lievin.fr",
                       datetime(2000, 1, 1, tzinfo=timezone.utc), clock.today())
    rows = digest.sections["non_envoyes"]
    assert len(rows) == 2 and all("limite quotidienne" in r["detail"] for r in rows)


def test_dossiers_show_tells_the_confirmation_in_french(bot):
    dossier, change = held_version(bot)
    assert citebot(bot, "confirm", dossier.reference).returncode == 0
    shown = citebot(bot, "dossiers", "show", dossier.reference).stdout
    assert "envoi d'une adresse inconnue du dossier\u00a0: confirmation demandée au porteur" in shown
    assert "envoi confirmé, enregistré" in shown and "confirmation_" not in shown


def test_oui_is_read_under_a_greeting_and_above_a_signature(bot):
    dossier, change = held_version(bot)
    bot.deliver(mail(sender=PORTEUR, subject="Re: confirmation", body="Bonjour,\n\nOui\n\nCamille Martin\n",
                     in_reply_to=change.question_message_id))
    bot.poll()
    assert len(bot.dossiers()[0].versions) == 2 and pending(bot)[0].status == "appliquee"
