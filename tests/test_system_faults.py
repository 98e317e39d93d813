"""System faults are never the message's fault (issue 15): a full disk, a read-only data_dir, a
locked database stop the round with one line, leave the message unmarked, and everything is
handled once when the fault is gone. One poller per data_dir; migrations under a lock."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time

import pytest
from bot_harness import make_bot
from click.testing import CliRunner
from conftest import REPO
from mail_factory import fiche_bytes, mail
from sqlalchemy import select

from bot.cli import main
from bot.store import db as store_db
from bot.store import files as stored_files
from bot.store.models import InboundMessage
from bot.text import spaces

NBSP = "\u00a0"


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def porteur_mail(n: int) -> bytes:
    return mail(sender=f"Porteur {n} <porteur{n}@example.org>", subject=f"Projet {n}",
                attachments=[("Fiche projet.docx", fiche_bytes(intitule=f"Projet numéro {n}"))])


def outcomes(bot) -> list[str]:
    return [m.outcome for m in bot.inbound()]


def marked(bot) -> list[bool]:
    return ["$CitebotDone" in m["flags"] for m in bot.mailbox()]


def acknowledged(bot) -> list[str]:
    return sorted(rcpt for r in bot.sink.received for rcpt in r.rcpt_tos if rcpt.startswith("porteur"))


def test_a_full_disk_while_storing_a_document_leaves_the_message_for_a_later_round(bot, monkeypatch, caplog):
    for n in range(3):
        bot.deliver(porteur_mail(n))
    real, calls = stored_files.store_document, []

    def full_disk_on_the_second(data_dir, data, name, digest=None):
        calls.append(name)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(data_dir / "documents"))
        return real(data_dir, data, name, digest)

    monkeypatch.setattr(stored_files, "store_document", full_disk_on_the_second)
    report = bot.poll()
    assert report.fault == spaces(f"Disque plein : impossible d'écrire {bot.rt.cfg.bot.data_dir / 'documents'} ; "
                                  "libérez de la place, ce qui n'a pas été traité le sera au prochain passage.")
    assert not report.ok
    assert "erreur_interne" not in outcomes(bot) and len(bot.inbound()) == 1  # the second rolled back
    assert marked(bot) == [True, False, False]  # the round stopped: the third waits too
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [f"round stopped: {report.fault}"] and not errors[0].exc_info

    monkeypatch.setattr(stored_files, "store_document", real)  # space is back
    assert bot.poll().ok
    assert len(bot.dossiers()) == 3 and marked(bot) == [True, True, True]
    assert acknowledged(bot) == [f"porteur{n}@example.org" for n in range(3)]
    assert "erreur_interne" not in outcomes(bot)


def test_a_read_only_data_dir_while_storing_the_raw_message_is_not_the_message_s_fault(bot, monkeypatch):
    bot.deliver(porteur_mail(0))
    real = stored_files.store_raw

    def read_only(data_dir, raw, digest=None):
        raise OSError(errno.EROFS, "Read-only file system", str(data_dir / "messages"))

    monkeypatch.setattr(stored_files, "store_raw", read_only)
    report = bot.poll()
    assert report.fault.startswith(f"{bot.rt.cfg.bot.data_dir / 'messages'} est en lecture seule{NBSP}: ")
    assert bot.inbound() == [] and marked(bot) == [False]
    monkeypatch.setattr(stored_files, "store_raw", real)
    assert bot.poll().ok and len(bot.dossiers()) == 1 and marked(bot) == [True]


def test_a_message_s_own_oserror_without_errno_is_still_its_fault(bot, monkeypatch):
    """olefile says « not an OLE2 file » with an OSError: that is the content, not the machine."""
    import bot.dossier.reading as reading

    bot.deliver(porteur_mail(0))
    real = reading.parse_message

    def unreadable(raw, **kw):
        raise OSError("not an OLE2 structured storage file")

    monkeypatch.setattr(reading, "parse_message", unreadable)
    report = bot.poll()
    assert report.fault is None and outcomes(bot) == ["erreur_interne"] and marked(bot) == [True]
    monkeypatch.setattr(reading, "parse_message", real)


def hold_write_lock(bot) -> sqlite3.Connection:
    locker = sqlite3.connect(store_db.sqlite_file(bot.rt.cfg.bot.database_url), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    return locker


def test_a_locked_database_is_one_line_exit_1_nothing_marked_then_everything_once(
        bot, tmp_path, monkeypatch):
    for n in range(2):
        bot.deliver(porteur_mail(n))
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)
    database = store_db.sqlite_file(bot.rt.cfg.bot.database_url)
    locker = hold_write_lock(bot)
    try:
        result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "poll", "--once"])
    finally:
        locker.rollback()
        locker.close()
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if "bot.config" not in line]
    assert lines == [spaces(f"La base de données {database} est verrouillée par un autre programme : fermez-le "
                            "(une session sqlite3 ouverte, une sauvegarde en cours), ce qui n'a pas été traité le "
                            "sera au prochain passage.")]
    assert "Traceback" not in result.output
    assert marked(bot) == [False, False] and bot.inbound() == []

    result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "poll", "--once"])
    assert result.exit_code == 0, result.output
    assert len(bot.dossiers()) == 2 and marked(bot) == [True, True]
    assert acknowledged(bot) == ["porteur0@example.org", "porteur1@example.org"]


def test_reading_commands_on_a_locked_or_missing_database_say_so_in_one_line(bot, monkeypatch):
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)
    bot.deliver(porteur_mail(0))
    bot.poll()
    [dossier] = bot.dossiers()
    locker = hold_write_lock(bot)
    try:
        listed = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "dossiers", "list"])
        decided = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "decide", dossier.reference, "refuse"])
    finally:
        locker.rollback()
        locker.close()
    assert listed.exit_code == 0  # WAL: reading beside a writer
    assert decided.exit_code == 1 and len(decided.stderr.strip().splitlines()) == 1, decided.output
    assert "verrouillée" in decided.stderr and "Traceback" not in decided.output


def cli(config, *args, timeout=60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(config), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_a_read_only_data_dir_is_one_line_and_exit_1_for_every_command(bot):
    """A real read-only mount (a bind mount remounted ro in a private mount namespace)."""
    bot.deliver(porteur_mail(0))
    data_dir = bot.rt.cfg.bot.data_dir
    assert bot.poll().ok  # the database exists; then the folder goes read-only
    bot.deliver(porteur_mail(1))
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    script = (f"mount --bind {data_dir} {data_dir} && mount -o remount,bind,ro {data_dir} && "
              f"{sys.executable} -m bot --config {bot.rt.cfg.path} poll --once; echo \"exit=$?\" >&2; "
              f"{sys.executable} -m bot --config {bot.rt.cfg.path} decide 2026-LIE-001 refuse; echo \"exit=$?\" >&2")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    lines = [line for line in done.stderr.splitlines() if "bot.config" not in line]
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 4 and lines[1] == "exit=1" and lines[3] == "exit=1", done.stderr
    assert "lecture seule" in lines[0] and "lecture seule" in lines[2], done.stderr
    assert marked(bot) == [True, False]
    assert bot.poll().ok and marked(bot) == [True, True] and len(bot.dossiers()) == 2


# --------------------------------------------------------------------------- one poller per data_dir


def test_two_pollers_and_a_poll_beside_the_daemon_on_a_fresh_data_dir(bot, tmp_path):
    """Started together on a data_dir that does not exist yet: the migrations never race, one
    poller works, the other says so in one line and exits 1; a reading command works beside
    them. Then a poll beside the daemon is refused the same way."""
    from bot.config import load_config
    from bot.store.db import open_database
    from bot.store.models import Dossier

    config = bot.rt.cfg.path
    fresh = tmp_path / "fresh"
    config.write_text(config.read_text(encoding="utf-8").replace('data_dir = "var"', f'data_dir = "{fresh}"')
                      + "\n[schedule]\npoll_seconds = 1\n", encoding="utf-8")
    for n in range(3):
        bot.deliver(porteur_mail(n))
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    base = [sys.executable, "-m", "bot", "--config", str(config)]
    procs = [subprocess.Popen(base + args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for args in (["poll", "--once"], ["poll", "--once"], ["dossiers", "list"])]
    results = [p.communicate(timeout=60) for p in procs]
    for _, err in results:
        assert "already exists" not in err and "Traceback" not in err, err
    assert sorted(p.returncode for p in procs[:2]) == [0, 1], results
    [(_, refused)] = [r for p, r in zip(procs, results) if p.returncode == 1]
    [line] = [line for line in refused.splitlines() if "bot.config" not in line]
    assert line.startswith(f"Un autre citebot relève déjà les boîtes de {fresh} (pid "), line
    assert procs[2].returncode == 0, results[2]
    assert acknowledged(bot) == [f"porteur{n}@example.org" for n in range(3)]

    bot.deliver(porteur_mail(3))
    daemon_process = subprocess.Popen(base + ["run"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while len(acknowledged(bot)) < 4:
            assert time.monotonic() < deadline and daemon_process.poll() is None
            time.sleep(0.1)
        beside = cli(config, "poll", "--once")
        listed = cli(config, "dossiers", "list")
    finally:
        daemon_process.terminate()
        daemon_err = daemon_process.communicate(timeout=15)[1]
    assert daemon_process.returncode == 0, daemon_err
    assert beside.returncode == 1 and "relève déjà les boîtes" in beside.stderr, beside.stderr
    assert listed.returncode == 0 and listed.stdout.count("Projet numéro") == 4, listed.stdout
    cfg = load_config(config, secrets=False)
    with open_database(cfg.bot.data_dir, cfg.bot.database_url)() as session:
        assert len(session.scalars(select(Dossier)).all()) == 4
        assert len(session.scalars(select(InboundMessage)).all()) == 4
    assert marked(bot) == [True] * 4


def test_the_daemon_s_jobs_survive_a_locked_database_and_retry(tmp_path, dovecot, smtp_sink, monkeypatch, caplog):
    from bot import daemon

    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    bot.deliver(porteur_mail(0))
    poll, outbox_job = (daemon.guarded(bot.rt, "poll", daemon.poll_job),
                        daemon.guarded(bot.rt, "outbox", daemon.outbox_job))
    locker = hold_write_lock(bot)
    try:
        poll()  # never raises
        outbox_job()
    finally:
        locker.rollback()
        locker.close()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all("verrouillée" in r.getMessage() and not r.exc_info for r in errors), errors
    assert marked(bot) == [False]
    poll()  # the next run
    assert marked(bot) == [True] and acknowledged(bot) == ["porteur0@example.org"]
