"""The coordinators live from their mailbox (coordinators.md): commands by mail, trust,
confirmation, the undo window — on the real Dovecot, SMTP sink and SQLite file."""

from __future__ import annotations

import io
from datetime import timedelta

import openpyxl
import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, mail, school_time_fiche

from bot import clock
from bot.dossier.commands import Command, Problem, parse
from bot.dossier.digest import send_digests

LAURENCE = "Laurence Marcq <l.marcq@lievin.fr>"
CHLOE = "Chloé Dulieux <chloe.dulieux@ac-lille.fr>"
SIGNATURE = "Laurence Marcq, coordinatrice (Ville de Liévin)\n03 21 44 89 00 · l.marcq@lievin.fr"
VILLE_SIGNATURE = f'signature = """{SIGNATURE}"""'
QUOTE = "\n\nLe mar. 1 déc. 2026 à 07:45, Cité éducative de Liévin a écrit :\n> Voici le point\n> ACCEPTÉ CE-2026-0003\n"


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, limit=50, ville_extra=VILLE_SIGNATURE,
                    extra="[coordination]\nundo_minutes = 30\nextra = [\"pilote@pas-de-calais.gouv.fr\"]")


def sent_of(bot, kind):
    return [m for m in bot.sent() if m["X-Citebot-Kind"] == kind]


def text(message):
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n").replace("\u202f", " ").replace("\u00a0", " ")


def filed(bot, data=None, sender="Camille Martin <camille.martin@example.org>", to="ville"):
    bot.deliver(mail(sender=sender, attachments=[("f.docx", data or fiche_bytes())]), to=to)
    bot.poll()
    return bot.dossiers()[-1].reference


def digest_id(bot, coordinator="l.marcq@lievin.fr"):
    send_digests(bot.rt, clock.today())
    bot.poll()
    [digest] = [m for m in sent_of(bot, "digest") if m["To"] == coordinator]
    return digest["Message-ID"]


def later(minutes):
    return clock.pinned(clock.now() + timedelta(minutes=minutes))


def statuses(bot):
    return [d.status for d in bot.dossiers()]


# -- the parser -----------------------------------------------------------------------
def test_the_parser_reads_each_command_line_and_names_what_it_cannot_read():
    assert parse("Refusés ce 2026 3", "CE")[0].reference == "CE-2026-0003"
    assert str(parse("ACCEPTÉ CE-2026-0007 : 1 800,50 €", "CE")[0].amount) == "1800.50"
    items = parse("Bonjour,\nACCEPTÉ CE-2026-0007 2 500 € — bravo\nrefusé ce 2026 7.\nAccepte 2026-0007\n"
                  "ACCEPTÉ CE-2026-0007 deux mille\nLISTE PRÊTS\nPoint de vue\nAIDE\nMerci", "CE")
    assert [type(i) for i in items] == [Command, Command, Command, Problem, Command, Command]
    first = items[0]
    assert (first.verb, first.reference, str(first.amount), first.comment) == ("accepte", "CE-2026-0007", "2500.00",
                                                                                "bravo")
    assert items[1].reference == items[2].reference == "CE-2026-0007"
    assert "montant illisible" in items[3].reason
    assert items[4].status == "pret_troika" and items[5].verb == "aide"


# -- a troïka evening: one reply to the digest -----------------------------------------
def test_a_reply_to_the_digest_applies_each_line_answers_once_and_holds_the_letters(bot):
    first, second = filed(bot), filed(bot, fiche_bytes(intitule="Jardins partagés"))
    replied = digest_id(bot)
    bot.sink.reset()
    bot.deliver(mail(sender=LAURENCE, subject="RE: Point", in_reply_to=replied, references=(replied,),
                     body=f"ACCEPTÉ {first} 2 500 €\nREFUSÉ {second} — budget trop imprécis\nACCEPTÉ CE-2026-0099\n"
                          f"\nLaurence{QUOTE}"))
    bot.poll()
    assert statuses(bot) == ["accepte", "refuse"]
    [answer] = sent_of(bot, "commandes_resultat")
    assert answer["To"] == "l.marcq@lievin.fr" and answer["Reply-To"] == "l.marcq@lievin.fr"
    body = text(answer)
    assert "accepté, 2 500,00 € accordés ; courrier au porteur à" in body
    assert f"{second} refusé ; courrier au porteur à" in body
    assert "refusé : aucun dossier ne porte la référence CE-2026-0099" in body
    assert "Les courriers aux porteurs partiront le" in body and "ANNULER" in body
    assert sent_of(bot, "decision_acceptee") == [] and sent_of(bot, "decision_refus") == []
    with later(31):
        bot.poll()
    [accepted], [refused] = sent_of(bot, "decision_acceptee"), sent_of(bot, "decision_refus")
    assert "2 500,00 €" in text(accepted) and "budget trop imprécis" in text(refused)
    assert text(accepted).rstrip().endswith(SIGNATURE.replace("\u00a0", " "))


def test_annuler_within_the_window_cancels_the_decision_and_its_letter(bot):
    reference = filed(bot)
    replied = digest_id(bot)
    bot.deliver(mail(sender=LAURENCE, subject="RE: Point", in_reply_to=replied, body=f"accepté {reference}"))
    bot.poll()
    [answer] = sent_of(bot, "commandes_resultat")
    bot.deliver(mail(sender=LAURENCE, subject="RE: commandes", in_reply_to=answer["Message-ID"],
                     body=f"ANNULER {reference}"))
    with later(10):
        bot.poll()
    [d] = bot.dossiers()
    assert d.status == "pret_troika" and d.montant_accorde is None and d.bilans == []
    undone = sent_of(bot, "commandes_resultat")[-1]
    assert f"{reference} : la décision « accepté » est annulée, de nouveau « prêt pour la troïka »" in text(undone)
    with later(40):
        bot.poll()
    assert sent_of(bot, "decision_acceptee") == []
    assert [r.status for r in bot.outbox() if r.kind == "decision_acceptee"] == ["cancelled"]


# -- trust ---------------------------------------------------------------------------------
def test_a_fresh_command_mail_is_applied_only_after_oui_within_48_hours(bot):
    reference = filed(bot)
    bot.deliver(mail(sender=LAURENCE, subject="Décision", body=f"Bonjour,\nACCEPTÉ {reference} 1 000 €\nLaurence"))
    bot.poll()
    assert statuses(bot) == ["pret_troika"]
    [question] = sent_of(bot, "commandes_a_confirmer")
    assert question["Subject"].startswith("Confirmez-vous") and f"ACCEPTÉ {reference} 1 000 €" in text(question)
    bot.deliver(mail(sender=LAURENCE, subject="RE: Confirmez-vous", in_reply_to=question["Message-ID"],
                     body="Oui\n\nLaurence Marcq\n\n" + "> " + text(question).replace("\n", "\n> ")))
    bot.poll()
    [d] = bot.dossiers()
    assert d.status == "accepte" and d.montant_accorde == "1000.00"


def test_a_confirmation_after_48_hours_applies_nothing(bot):
    reference = filed(bot)
    bot.deliver(mail(sender=LAURENCE, subject="Décision", body=f"REFUSÉ {reference}"))
    bot.poll()
    [question] = sent_of(bot, "commandes_a_confirmer")
    bot.deliver(mail(sender=LAURENCE, subject="RE: Confirmez-vous", in_reply_to=question["Message-ID"], body="OUI"))
    with later(49 * 60):
        bot.poll()
    assert statuses(bot) == ["pret_troika"]
    assert "plus de 48 heures" in text(sent_of(bot, "commandes_resultat")[-1])


def _refused_everywhere(bot, reference, outcome_mail):
    before = len(bot.sent())
    bot.deliver(outcome_mail)
    bot.poll()
    assert statuses(bot) == ["pret_troika"]
    assert [m["To"] for m in bot.sent()[before:]] == []
    assert bot.inbound()[-1].outcome == "commande_refusee"
    with later(1):
        send_digests(bot.rt, clock.today())
        bot.poll()
    digest = [m for m in sent_of(bot, "digest") if m["To"] == "l.marcq@lievin.fr"][-1]
    assert "COMMANDES REFUSÉES" in text(digest) and f"ACCEPTÉ {reference}" in text(digest)


def test_commands_from_a_non_coordinator_change_nothing_and_get_no_answer(bot):
    reference = filed(bot)
    replied = digest_id(bot)
    _refused_everywhere(bot, reference, mail(sender="Intrus <intrus@pirate.example>", subject="RE: Point",
                                             in_reply_to=replied, body=f"ACCEPTÉ {reference} 9 000 €"))


def test_commands_in_another_thread_change_nothing_and_get_no_answer(bot):
    reference = filed(bot)
    [ack] = sent_of(bot, "accuse_reception")  # to the porteur, never to the coordinator
    digest_id(bot)
    _refused_everywhere(bot, reference, mail(sender=LAURENCE, subject="RE: Accusé", in_reply_to=ack["Message-ID"],
                                             body=f"ACCEPTÉ {reference} 9 000 €"))


def test_commands_that_our_server_does_not_authenticate_change_nothing(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, limit=50, authserv_id="mx.lievin.fr")
    reference = filed(bot)
    replied = digest_id(bot)
    _refused_everywhere(bot, reference, mail(
        sender=LAURENCE, subject="RE: Point", in_reply_to=replied, body=f"ACCEPTÉ {reference} 9 000 €",
        headers={"Authentication-Results": "mx.lievin.fr; dkim=fail header.d=lievin.fr; dmarc=fail"}))


# -- the other commands ---------------------------------------------------------------------
def _command(bot, body, sender=LAURENCE):
    mine = [m for m in bot.sent() if m["To"] == sender.split("<")[1].rstrip(">")]
    replied = mine[-1]["Message-ID"] if mine else digest_id(bot, sender.split("<")[1].rstrip(">"))
    bot.deliver(mail(sender=sender, subject="RE: Point", in_reply_to=replied, body=body),
                to="ville" if "lievin.fr" in sender else "en")
    bot.poll()
    return sent_of(bot, "commandes_resultat")[-1]


@pytest.mark.parametrize("to_porteur", [False, True])
def test_avis_favorable_by_a_coordinator_makes_the_dossier_ready_and_stops_the_reminders(
        tmp_path, dovecot, smtp_sink, monkeypatch, to_porteur):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, limit=50,
                   extra="[coordination]\nundo_minutes = 0\n" if not to_porteur else "")
    if to_porteur:  # the [avis] table is the harness's: its key goes in through the config file
        path = bot.rt.cfg.path
        path.write_text(path.read_text().replace('reply_mailbox = "education_nationale"',
                                                 'reply_mailbox = "education_nationale"\ncomment_to_porteur = true')
                        + "\n[coordination]\nundo_minutes = 0\n")
        from bot.config import load_config
        bot.rt.cfg = load_config(path)
    reference = filed(bot, school_time_fiche(), to="en")
    assert statuses(bot) == ["en_attente_avis"]
    answer = _command(bot, f"AVIS FAVORABLE {reference} — avis donné par téléphone, projet solide", sender=CHLOE)
    assert "avis favorable enregistré, désormais « prêt pour la troïka »" in text(answer)
    [d] = bot.dossiers()
    assert d.status == "pret_troika"
    from bot.dossier.reminders import run_reminders
    with clock.pinned(clock.today() + timedelta(days=30)):
        run_reminders(bot.rt, clock.today())
    assert [r for r in bot.outbox() if r.kind == "avis_relance"] == []
    bot.poll()
    notices = [m for m in sent_of(bot, "avis_notification") if "@example.org" in m["To"]]
    assert len(notices) == 1
    assert ("projet solide" in text(notices[0])) is to_porteur


def test_sans_suite_then_rouvrir(bot):
    reference = filed(bot)
    answer = _command(bot, f"SANS SUITE {reference} — le porteur a renoncé")
    assert "classé sans suite" in text(answer)
    assert statuses(bot) == ["sans_suite"]
    answer = _command(bot, f"ROUVRIR {reference}")
    assert "rouvert, désormais « prêt pour la troïka »" in text(answer)
    assert statuses(bot) == ["pret_troika"]
    with later(40):
        bot.poll()
    # The closure's letter had not left: cancelled, and the porteur is not told of a reopening.
    assert sent_of(bot, "dossier_classe") == [] and sent_of(bot, "dossier_rouvert") == []


def test_statut_liste_export_point_and_aide(bot):
    reference = filed(bot)
    answer = _command(bot, f"STATUT {reference}\nLISTE PRÊTS\nEXPORT\nPOINT\nAIDE")
    body = text(answer)
    assert f"Dossier {reference}" in body and "Montant sollicité" in body and "Historique" in body
    assert "prêt pour la troïka" in body and "1 dossier, liste ci-dessous" in body
    names = [p.get_filename() for p in answer.iter_attachments()]
    assert names[0].startswith(reference) and names[1].endswith(".xlsx")
    xlsx = [p for p in answer.iter_attachments() if p.get_filename().endswith(".xlsx")][0]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_content())).worksheets[0]
    assert reference in [c.value for c in sheet["A"]]
    assert "POUR AGIR, RÉPONDEZ" in body
    assert len([m for m in sent_of(bot, "digest") if m["To"] == "l.marcq@lievin.fr"]) == 2  # POINT: a second one


def test_a_coordinator_mail_without_commands_gets_the_help(bot):
    filed(bot)
    answer = _command(bot, "Merci pour le point !")
    assert "aucune commande" in text(answer) and "ACCEPTÉ" in text(answer)


def test_no_mail_shows_a_command_line_and_every_one_ends_with_the_signature(bot):
    reference = filed(bot)
    _command(bot, f"STATUT {reference}\nSANS SUITE {reference}")
    with later(40):
        bot.poll()
    for message in bot.sent():
        body = text(message)
        assert "citebot " not in body, message["X-Citebot-Kind"]
        assert message["Reply-To"], message["X-Citebot-Kind"]
        # The contact block of the mailbox it speaks for (the default one: the bot's name and that address).
        ending = SIGNATURE if message["Reply-To"] == "l.marcq@lievin.fr" else f"Liévin\n{message['Reply-To']}"
        assert body.rstrip().endswith(ending), message["X-Citebot-Kind"]
    assert {m["X-Citebot-Kind"] for m in bot.sent()} >= {"accuse_reception", "digest", "commandes_resultat",
                                                         "dossier_classe"}


def test_the_extra_coordinator_gets_digests_of_every_dossier(bot):
    filed(bot)
    filed(bot, school_time_fiche(), to="en")
    send_digests(bot.rt, clock.today())
    bot.poll()
    [pilot] = [m for m in sent_of(bot, "digest") if m["To"] == "pilote@pas-de-calais.gouv.fr"]
    assert "CE-2026-0001" in text(pilot) and "CE-2026-0002" in text(pilot)
    assert pilot["Reply-To"] == "chloe.dulieux@ac-lille.fr"  # a polled mailbox
    # The pilot's commands count as any coordinator's, on any dossier.
    bot.deliver(mail(sender="Pilote <pilote@pas-de-calais.gouv.fr>", to="chloe.dulieux@ac-lille.fr",
                     subject="RE: Point", in_reply_to=pilot["Message-ID"], body="SANS SUITE CE-2026-0001"), to="en")
    bot.poll()
    assert bot.dossiers()[0].status == "sans_suite"
    [answer] = sent_of(bot, "commandes_resultat")
    assert answer["To"] == "pilote@pas-de-calais.gouv.fr" and "classé sans suite" in text(answer)


# -- the CLI equivalents (cli.md) ------------------------------------------------------------
def cli(bot, *args):
    from click.testing import CliRunner

    from bot.cli import main

    return CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), *args],
                              env={"TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password})


def test_decide_says_when_the_letter_leaves_and_undo_cancels_it(bot):
    reference = filed(bot)
    result = cli(bot, "decide", reference, "accepte", "--montant", "2 000")
    assert result.exit_code == 0, result.output
    out = result.output.replace("\u202f", " ").replace("\u00a0", " ")
    assert f"Dossier {reference} accepté, 2 000,00 € accordés. Courrier au porteur : il partira le" in out
    assert f"citebot undo {reference}" in out
    listed = cli(bot, "outbox", "list").output
    assert listed.startswith("Aucun courriel retenu.\n\nPartiront plus tard")
    [waiting] = [line for line in listed.splitlines() if "decision_acceptee" in line]
    assert reference in waiting and waiting.endswith("(délai d'annulation)")
    result = cli(bot, "undo", reference)
    assert result.exit_code == 0 and "la décision « accepté » est annulée, de nouveau" in result.output
    assert statuses(bot) == ["pret_troika"]
    assert cli(bot, "undo", reference).exit_code == 1  # nothing left to cancel
    assert cli(bot, "outbox", "list").output == "Aucun courriel retenu.\n"


def test_close_reopen_and_avis_from_the_cli(bot):
    reference = filed(bot)
    assert cli(bot, "reopen", reference).exit_code == 1  # nothing to reopen
    result = cli(bot, "close", reference, "--motif", "Projet abandonné")
    assert result.exit_code == 0 and "classé sans suite" in result.output, result.output
    assert statuses(bot) == ["sans_suite"]
    assert cli(bot, "avis", reference, "favorable").exit_code == 1  # closed: reopen first
    assert cli(bot, "close", reference).exit_code == 1
    result = cli(bot, "reopen", reference)
    assert result.exit_code == 0 and "Aucun courrier au porteur" in result.output, result.output
    result = cli(bot, "avis", reference, "defavorable", "--commentaire", "Hors temps scolaire")
    assert result.exit_code == 0 and "avis défavorable enregistré" in result.output, result.output
    assert statuses(bot) == ["avis_defavorable"]


def test_a_letter_that_has_left_cannot_be_undone(bot):
    reference = filed(bot)
    cli(bot, "decide", reference, "refuse")
    with later(31):
        bot.poll()
        result = cli(bot, "undo", reference)
    assert result.exit_code == 1 and "déjà parti" in result.output
    assert len(sent_of(bot, "decision_refus")) == 1


def test_dossiers_show_without_json_shows_fields_avis_decision_and_bilans(bot):
    reference = filed(bot)
    cli(bot, "decide", reference, "accepte", "--commentaire", "Bravo")
    out = cli(bot, "dossiers", "show", reference).output.replace("\u202f", " ").replace("\u00a0", " ")
    for expected in ("Intitulé", "Montant sollicité : 3 000,00 €", "Avis de l'IEN : —",
                     "Décision : accepté le", "3 000,00 € accordés", "Commentaire : Bravo",
                     "bilan de mi-parcours 2026, attendu le 31/12/2026 : pas encore reçu", "Versions :",
                     "Courriels :", "Historique :"):
        assert expected in out, expected


def test_a_new_version_of_a_refused_dossier_is_acknowledged_honestly_and_the_coordinators_told(bot):
    reference = filed(bot)
    cli(bot, "decide", reference, "refuse")
    bot.deliver(mail(subject=f"Fiche corrigée {reference}",
                     attachments=[("v2.docx", fiche_bytes(nb_beneficiaires="52"))]))
    bot.poll()
    assert statuses(bot) == ["refuse"]
    ack = sent_of(bot, "accuse_reception")[-1]
    assert "Votre dossier a déjà été refusé" in text(ack) and "examiné par la troïka" not in text(ack)
    [note] = sent_of(bot, "note_coordinateurs")
    assert f"ROUVRIR {reference}" in text(note) and note["Reply-To"] == "l.marcq@lievin.fr"
    assert [p.get_filename() for p in note.iter_attachments()] == [f"{reference} - v2.docx"]


def test_the_digest_has_reply_to_the_commands_the_amounts_and_the_fiche_of_its_one_dossier(bot):
    reference = filed(bot)
    bot.deliver(mail(subject=f"Question sur {reference}", body="Quand aurons-nous la réponse ?"))
    bot.poll()
    send_digests(bot.rt, clock.today())
    bot.poll()
    digest = [m for m in sent_of(bot, "digest") if m["To"] == "l.marcq@lievin.fr"][0]
    assert "MESSAGES DES PORTEURS RATTACHÉS À UN DOSSIER" in text(digest)
    assert f"« Question sur {reference} »" in text(digest)
    assert digest["Reply-To"] == "l.marcq@lievin.fr"
    body = text(digest)
    assert "PRÊTS POUR LA TROÏKA" in body and "3 000,00 € sollicités" in body
    assert body.index("POUR AGIR, RÉPONDEZ") > body.index("PRÊTS POUR LA TROÏKA")
    assert [p.get_filename() for p in digest.iter_attachments()] == [f"{reference} - f.docx"]


def test_every_template_ends_with_the_signature_block_and_names_no_command_line():
    from bot.paths import templates_dir

    bodies = sorted(templates_dir().glob("*/body.txt"))
    assert len(bodies) >= 25
    for body in bodies:
        source = body.read_text(encoding="utf-8")
        assert "citebot " not in source, body
        assert source.strip().splitlines()[-1] == '{% include "_signature.txt" %}', body
    for partial in ("_signature.txt", "_commandes.txt"):
        assert "citebot " not in (templates_dir() / partial).read_text(encoding="utf-8")


def test_in_a_personnel_inbox_a_coordinator_s_commands_are_read_and_their_other_mail_left_alone(
        tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, limit=50, mode="personnel",
                   extra="[coordination]\nundo_minutes = 0")
    reference = filed(bot)
    bot.deliver(mail(sender=LAURENCE, subject=f"Copie : message au porteur {reference}",
                     body="Bonjour Camille, je vous rappelle demain."))
    bot.deliver(mail(sender=LAURENCE, subject="Décisions", body=f"SANS SUITE {reference} — abandon"))
    bot.poll()
    assert sent_of(bot, "commandes_resultat") == []  # no help for her own copy
    [question] = sent_of(bot, "commandes_a_confirmer")
    bot.deliver(mail(sender=LAURENCE, subject="RE: Confirmez-vous", in_reply_to=question["Message-ID"],
                     body="oui, je confirme"))
    bot.poll()
    assert statuses(bot) == ["sans_suite"]
    assert len(sent_of(bot, "dossier_classe")) == 1


def test_non_to_the_confirmation_applies_nothing_and_a_stranger_s_oui_neither(bot):
    reference = filed(bot)
    bot.deliver(mail(sender=LAURENCE, subject="Décision", body=f"REFUSÉ {reference}"))
    bot.poll()
    [question] = sent_of(bot, "commandes_a_confirmer")
    bot.deliver(mail(sender="Intrus <intrus@pirate.example>", subject="RE: Confirmez-vous",
                     in_reply_to=question["Message-ID"], body="OUI"))
    bot.poll()
    assert statuses(bot) == ["pret_troika"] and bot.inbound()[-1].outcome == "commande_refusee"
    bot.deliver(mail(sender=LAURENCE, subject="RE: Confirmez-vous", in_reply_to=question["Message-ID"],
                     body="Non, erreur de ma part"))
    bot.poll()
    assert statuses(bot) == ["pret_troika"]
    assert "rien n'a été fait" in text(sent_of(bot, "commandes_resultat")[-1])
