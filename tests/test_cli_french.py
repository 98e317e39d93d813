"""The command line speaks French: click's own usage, help, errors and suggestions,
dates as JJ/MM/AAAA or AAAA-MM-JJ, statuses by key or label, real plurals."""

from __future__ import annotations

import re

import pytest
from bot_harness import make_bot
from conftest import run_cli
from mail_factory import fiche_bytes, fiche_with_errors, mail
from test_cli_cycle import citebot

ENGLISH = re.compile(r"Usage:|Show this message|Error:|Invalid value|No such|Did you mean|does not match|"
                     r"Missing argument|Try '|Options:\n(?!.*Affiche)|\w\(s\)")


def assert_french(text: str) -> None:
    assert not ENGLISH.search(text), text


def test_help_is_french():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("Utilisation\u00a0: ") and "COMMANDE [ARGUMENTS]..." in proc.stdout
    assert "Affiche cette aide et s'arrête." in proc.stdout and "Commandes\u00a0:" in proc.stdout
    assert_french(proc.stdout)


def test_an_unknown_command_is_said_in_french_with_the_suggestion():
    proc = run_cli("decider")
    assert proc.returncode == 2
    assert "Erreur\u00a0: Commande inconnue\u00a0: «\u00a0decider\u00a0». Vouliez-vous dire «\u00a0decide\u00a0»\u202f?" \
        in proc.stderr
    assert "Pour l'aide\u00a0: «\u00a0python -m bot --help\u00a0»." in proc.stderr
    assert_french(proc.stderr)


@pytest.mark.parametrize("args, needle", [
    (("digest", "--today", "2026/13/01"), "«\u00a02026/13/01\u00a0» n'est pas une date\u00a0: écrivez-la JJ/MM/AAAA"),
    (("check",), "Argument manquant «\u00a0FILE\u00a0»"),
    (("check", "--jsn", "x.docx"), "Option inconnue\u00a0: «\u00a0--jsn\u00a0». Vouliez-vous dire «\u00a0--json\u00a0»"),
    (("decide", "CE-2026-0001", "peutetre"), "n'est pas l'un de\u00a0: «\u00a0accepte\u00a0», «\u00a0refuse\u00a0»"),
    (("dossiers", "list", "--status", "acceptée"), "statut «\u00a0acceptée\u00a0» inconnu"),
])
def test_click_errors_are_french(args, needle):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr, proc.stderr
    assert_french(proc.stderr)


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def test_status_by_key_or_by_the_label_the_list_shows_and_french_plurals(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    bot.deliver(mail(attachments=[("b.docx", fiche_with_errors())]))
    poll = citebot(bot, "poll", "--once")
    assert poll.returncode == 0, poll.stderr
    assert "2\u00a0messages traités" in poll.stdout and "2 envoyés" in poll.stdout
    assert_french(poll.stdout)
    by_key = citebot(bot, "dossiers", "list", "--status", "incomplet", "--json")
    by_label = citebot(bot, "dossiers", "list", "--status", "Incomplet", "--json")
    assert by_key.returncode == by_label.returncode == 0
    assert by_key.stdout == by_label.stdout and "CE-" in by_key.stdout
    ready_label = citebot(bot, "dossiers", "list", "--status", "prêt pour la troïka", "--json")
    ready_key = citebot(bot, "dossiers", "list", "--status", "pret_troika", "--json")
    assert ready_label.stdout == ready_key.stdout


@pytest.mark.parametrize("written", ["01/12/2026", "1/12/2026", "2026-12-01"])
def test_dates_are_accepted_as_jj_mm_aaaa_too(bot, written):
    proc = citebot(bot, "remind", "--today", written)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("01/12/2026\u00a0: 0\u00a0rappel d'avis, 0\u00a0alerte d'avis"), proc.stdout
    assert_french(proc.stdout)
