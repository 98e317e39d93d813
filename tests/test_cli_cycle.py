"""`poll --once`, `dossiers list/show`, `db upgrade` and `demo` through the real command line."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys

import pytest
from bot_harness import make_bot
from conftest import REPO
from mail_factory import fiche_bytes, fiche_with_errors, mail


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def citebot(bot, *args, env_extra=None):
    env = {**os.environ, "TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password,
           **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(bot.rt.cfg.path), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_poll_once_files_the_dossiers_and_sends_the_outbox(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    bot.deliver(mail(attachments=[("b.docx", fiche_with_errors())]))
    proc = citebot(bot, "poll", "--once")
    assert proc.returncode == 0, proc.stderr
    assert "2\u00a0messages traités" in proc.stdout and "2 envoyés" in proc.stdout
    assert len(bot.sink.received) == 2
    assert "camille.martin" not in proc.stderr  # no personal data in the INFO log


def test_poll_once_exits_1_when_a_mailbox_cannot_be_reached_and_still_does_the_others(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    proc = citebot(bot, "poll", "--once", env_extra={"TEST_EN_PASSWORD": "mauvais-mot-de-passe"})
    assert proc.returncode == 1
    assert "Boîte « education_nationale » injoignable" in proc.stderr and "Traceback" not in proc.stderr
    assert len(bot.sink.received) == 1


UNAUTHENTICATED = ("WARNING bot.config: {path} : clé « bot.authserv_id » vide : les réponses de l'IEN sont "
                   "acceptées sur la seule foi de leur adresse d'expéditeur (From)")


def test_poll_once_says_once_that_replies_are_trusted_on_their_from_alone(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    proc = citebot(bot, "poll", "--once")
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "bot.authserv_id" in line]
    assert len(said) == 1 and UNAUTHENTICATED.format(path=bot.rt.cfg.path) in said[0], proc.stderr
    assert "Renseignez bot.authserv_id" in said[0] and "Finding the authserv-id of your server" in said[0]


def test_poll_once_with_an_authserv_id_says_nothing_of_it(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, authserv_id="mx.ac-lille.fr")
    proc = citebot(bot, "poll", "--once")
    assert proc.returncode == 0 and "authserv_id" not in proc.stderr, proc.stderr


def test_dossiers_list_and_show_in_json(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    bot.deliver(mail(attachments=[("b.docx", fiche_with_errors())]))
    citebot(bot, "poll", "--once")
    listed = json.loads(citebot(bot, "dossiers", "list", "--json").stdout)
    assert [d["status"] for d in listed] == ["pret_troika", "incomplet"]
    for entry in listed:
        assert {"reference", "status", "version", "fields", "findings", "mailbox", "coordinators",
                "received_at"} <= set(entry)
        assert entry["received_at"][-6:] in ("+01:00", "+02:00")
    only = json.loads(citebot(bot, "dossiers", "list", "--status", "incomplet", "--json").stdout)
    assert [d["reference"] for d in only] == [listed[1]["reference"]]

    shown = json.loads(citebot(bot, "dossiers", "show", listed[1]["reference"], "--json").stdout)
    assert {"events", "avis", "bilans", "documents", "versions", "mails"} <= set(shown)
    assert shown["fields"]["intitule"] == "Atelier vidéo au collège"
    assert [e["kind"] for e in shown["events"]][:2] == ["dossier_cree", "version_recue"]
    assert shown["documents"][0]["name"] == "b.docx" and shown["mails"][0]["status"] == "sent"


def test_dossiers_show_of_an_unknown_reference_exits_1(bot):
    proc = citebot(bot, "dossiers", "show", "CE-2026-9999")
    assert proc.returncode == 1 and "Aucun dossier" in proc.stderr


def test_db_upgrade(bot):
    proc = citebot(bot, "db", "upgrade")
    assert proc.returncode == 0 and "à jour" in proc.stdout


def test_a_bad_configuration_is_one_french_line_naming_the_key(tmp_path):
    path = tmp_path / "config.toml"
    from bot.demo import CONFIG

    path.write_text(CONFIG.replace('data_dir = "var"', 'data_dir = "var"\nadress = "typo"'), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "bot", "--config", str(path), "poll", "--once"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bot.adress" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_demo_runs_a_whole_cycle_without_any_server(tmp_path):
    folder = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "bot", "demo", str(folder)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    first_round = out.split("== 2.")[0]
    assert "ien.lievin@ac-lille.fr : [CE-" in first_round and "Demande d'avis" in first_round
    assert "Votre fiche projet doit être un fichier Word" in first_round
    assert first_round.count("prêt pour la troïka") == 1 and "incomplet" in first_round
    # The story goes on (coordinators.md): the IEN's answer, the digest, the troïka's reply, the letters, a bilan.
    steps = ["l'IEN répond « favorable »", "le point du matin", "ACCEPTÉ CE-2026-0001 2 500 €",
             "courrier au porteur à 19", "les courriers partent", "Votre projet est retenu",
             "Décision de la troïka", "Rappel\u00a0: bilan de mi-parcours 2026"]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), list(zip(steps, positions))
    written = sorted((folder / "courriels-envoyes" / "new").glob("*.eml"))
    assert len(written) == 5 + 2 + 3 + 1 + 2 + 1  # first round, avis, digests, answer, letters, reminder
    for path in written:
        sent = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert "citebot " not in sent.get_body(("plain",)).get_content()


def test_reading_commands_work_without_the_mail_passwords(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    citebot(bot, "poll", "--once")
    without = {"TEST_EN_PASSWORD": "", "TEST_VILLE_PASSWORD": ""}
    listed = citebot(bot, "dossiers", "list", "--json", env_extra=without)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 1
    assert citebot(bot, "db", "upgrade", env_extra=without).returncode == 0
    refused = citebot(bot, "poll", "--once", env_extra=without)
    assert refused.returncode == 2 and "TEST_EN_PASSWORD" in refused.stderr  # polling needs them


def test_dossiers_show_speaks_french_to_the_coordinators(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    citebot(bot, "poll", "--once")
    reference = json.loads(citebot(bot, "dossiers", "list", "--json").stdout)[0]["reference"]
    out = citebot(bot, "dossiers", "show", reference).stdout
    assert "Statut\u00a0: prêt pour la troïka (version 1)" in out
    assert "\u00a0: dossier créé" in out and "(nouveau → prêt pour la troïka)" in out
    assert "Fiche projet complète — Les petits reporters\u00a0» à camille.martin@example.org\u00a0: envoyé" in out
    assert not re.search(r"\d{2}:\d{2}", out)  # « 01/12/2026 19 h 01 », never 19:01
