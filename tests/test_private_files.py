"""data_dir 0700, the database and every stored file 0600, whatever the umask
(security.md, "Files and logs"): the database holds every field of every fiche
and a copy of every mail, the raw messages and documents are the porteurs' own.

Each test runs under the usual umask, 022, which would leave a file 0644 and a
folder 0755, readable by every account of the machine, then looks at the mode
of every file the bot wrote.
"""

from __future__ import annotations

import mailbox
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from bot_harness import make_bot
from conftest import REPO
from mail_factory import fiche_bytes, mail

from bot import daemon
from bot.demo import CONFIG as MAILDIR_CONFIG
from bot.store.db import open_database

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


@pytest.fixture
def usual_umask():
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    """Every path under `folder` (itself as "."), relative, with its permission bits."""
    return {
        (path.relative_to(folder).as_posix() if path != folder else "."): stat.S_IMODE(path.lstat().st_mode)
        for path in (folder, *folder.rglob("*"))
    }


def not_private(folder: Path) -> dict[str, str]:
    """What is not 0700 (a folder) or 0600 (a file) under `folder`: should be nothing."""
    found = {}
    for name, mode in modes(folder).items():
        path = folder / name
        expected = PRIVATE_DIR if path.is_dir() and not path.is_symlink() else PRIVATE_FILE
        if mode != expected:
            found[name] = oct(mode)
    return found


def test_a_poll_under_umask_022_leaves_only_private_files_in_data_dir(tmp_path, dovecot, smtp_sink, monkeypatch,
                                                                       usual_umask):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    bot.deliver(mail(attachments=[("Fiche projet.docx", fiche_bytes()), ("budget.pdf", b"%PDF-1.7\n%budget\n")]))
    report = bot.poll()
    assert report.ok and report.handled == 1 and len(bot.sent()) == 1
    data_dir = bot.rt.cfg.bot.data_dir
    os.close(daemon.acquire_lock(data_dir))  # the daemon's lock file, in the same folder

    written = set(modes(data_dir))
    # SQLite's -wal and -shm exist while a connection is open: the bot's still are.
    assert {".", "citebot.sqlite3", "citebot.sqlite3-wal", "citebot.sqlite3-shm", "citebot.lock"} <= written
    assert any(name.startswith("messages/") and name.endswith(".eml") for name in written)
    assert {name.rsplit(".", 1)[-1] for name in written if name.startswith("documents/")} >= {"docx", "pdf"}
    assert not_private(data_dir) == {}


def test_poll_once_with_maildirs_under_umask_022_writes_private_mails_and_files(tmp_path, usual_umask):
    config = tmp_path / "config.toml"
    config.write_text(MAILDIR_CONFIG, encoding="utf-8")
    (tmp_path / "boites").mkdir()
    mailbox.Maildir(tmp_path / "boites" / "ville", create=True).add(
        mail(sender="Camille Martin <camille.martin@example.org>", subject="Fiche projet",
             attachments=[("Fiche projet.docx", fiche_bytes())]))
    mailbox.Maildir(tmp_path / "boites" / "education_nationale", create=True)
    # The child inherits this process's umask, 022.
    run = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "poll", "--once"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    outbox = tmp_path / "courriels-envoyes"
    assert [p.suffix for p in (outbox / "new").iterdir()] == [".eml"]
    assert {".", "citebot.sqlite3"} <= set(modes(tmp_path / "var"))
    assert not_private(tmp_path / "var") == {}
    assert not_private(outbox) == {}


def test_the_data_dir_of_an_older_version_is_made_private_at_start(tmp_path, usual_umask):
    data_dir = tmp_path / "var"
    data_dir.mkdir()  # 0755 under this umask, as citebot made it before
    database = data_dir / "citebot.sqlite3"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES (1)")
    connection.commit()  # leaves -wal and -shm while the connection is open: 0644
    (data_dir / "citebot.lock").write_text("123\n")
    before = modes(data_dir)
    assert before["."] == 0o755 and before["citebot.sqlite3"] == before["citebot.sqlite3-wal"] == 0o644

    open_database(data_dir, f"sqlite:///{database}")
    os.close(daemon.acquire_lock(data_dir))
    connection.close()
    assert not_private(data_dir) == {}


def test_a_sqlite_database_outside_data_dir_is_private_too(tmp_path, usual_umask):
    (tmp_path / "db").mkdir()
    database = tmp_path / "db" / "bot.sqlite3"
    open_database(tmp_path / "var", f"sqlite:///{database}")
    assert stat.S_IMODE(database.stat().st_mode) == PRIVATE_FILE
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == PRIVATE_DIR
