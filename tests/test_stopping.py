"""Stopping (issue 15): SIGTERM at any moment, start-up included, ends `citebot run` with exit 0
within 10 s; sending stops claiming when stopping, and what was claimed and not sent is released."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
from bot_harness import make_bot
from conftest import REPO
from servers import SmtpSink

from bot.mail.compose import Mail
from bot.mail.outbox import enqueue

CONFIG = """
[bot]
name = "Cité éducative de Liévin"
address = "cite-educative@lievin.fr"
data_dir = "{data_dir}"

[smtp]
transport = "maildir"
path = "{data_dir}-outbox"

[[mailbox]]
name = "ville"
address = "l.marcq@lievin.fr"
kind = "maildir"
path = "{maildir}"
coordinators = ["l.marcq@lievin.fr"]

[avis]
ien = ["ien@example.org"]
reply_mailbox = "ville"

[schedule]
poll_seconds = 1
"""


def env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}


@pytest.mark.parametrize("after", [0.25, 0.6, 1.2])
def test_sigterm_during_start_up_exits_0_at_once(tmp_path, after):
    """A fresh data_dir: the signal comes while Python starts, the configuration is read, or
    the migrations run."""
    config = tmp_path / "config.toml"
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "maildir" / sub).mkdir(parents=True)
    config.write_text(CONFIG.format(data_dir=tmp_path / "var", maildir=tmp_path / "maildir"),
                      encoding="utf-8")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], cwd=REPO, env=env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert time.monotonic() - started < 10 + after
    assert "Traceback" not in err
    assert "arrêt demandé (SIGTERM)" in err, err


class SlowSink(SmtpSink):
    """Takes a second to answer each DATA: a slow server."""

    def _on_data(self, envelope) -> str:
        time.sleep(0.5)
        return super()._on_data(envelope)


def test_sigterm_during_slow_sending_stops_within_seconds_and_releases_the_claims(
        tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    with bot.rt.sessions.begin() as session:
        for n in range(30):
            enqueue(session, Mail(kind="deja_recu", to=(f"porteur{n}@example.org",), context={
                "reference": f"CE-2026-{n:04d}", "intitule": "Projet", "filename": "fiche.docx",
                "first_received_at": datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc), "errors_count": 0,
                "bot_name": "Cité éducative de Liévin"}), bot.rt.cfg)
    slow = SlowSink().start()
    try:
        config = bot.rt.cfg.path
        config.write_text(config.read_text(encoding="utf-8").replace(f"port = {smtp_sink.port}", f"port = {slow.port}"),
                          encoding="utf-8")
        process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], cwd=REPO,
                                   env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            slow.wait_for(2, timeout=20)
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, err
        assert time.monotonic() - stopped_at < 10
        received = len(slow.received)
    finally:
        slow.stop()
    rows = bot.outbox()
    assert sum(r.status == "sent" for r in rows) == received < 30  # the mail in hand was finished, recorded
    assert {(r.status, r.claimed_by) for r in rows if r.status != "sent"} == {("pending", None)}  # released
