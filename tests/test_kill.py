"""SIGKILL at random moments (issue 15): `poll --once` and the daemon killed over a backlog,
then started again, on the real Dovecot and SMTP sink. Afterwards: one dossier per fiche, one
answer per message, every message marked, nothing left claimed — and a mail twice only for a
kill inside its SMTP transaction (the sink's timestamps tell), at most once per kill."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from bot_harness import make_bot
from conftest import REPO
from mail_factory import fiche_bytes, mail

BACKLOG = 8
# A kill "inside an SMTP transaction": the sink took the mail this close to the kill (the
# client had sent its final dot, or had the 250 and not yet written it down).
INSIDE_SMTP = 0.5


def env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    config = bot.rt.cfg.path
    config.write_text(config.read_text(encoding="utf-8") + "\n[schedule]\npoll_seconds = 1\n", encoding="utf-8")
    for n in range(BACKLOG):
        bot.deliver(mail(sender=f"Porteur {n} <porteur{n}@example.org>", subject=f"Projet {n}",
                         attachments=[("Fiche projet.docx", fiche_bytes(intitule=f"Projet numéro {n}"))]))
    return bot


def kill_after(command: list[str], delay: float) -> float:
    """Start the command, SIGKILL it after `delay` (if still running); when it was killed (monotonic)."""
    process = subprocess.Popen([sys.executable, "-m", "bot", *command], cwd=REPO, env=env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=delay)
        return float("inf")  # finished before: no kill
    except subprocess.TimeoutExpired:
        killed_at = time.monotonic()
        process.send_signal(signal.SIGKILL)
        process.wait()
        return killed_at


def check(bot, kills: list[float]) -> None:
    assert len(bot.dossiers()) == BACKLOG
    inbound = bot.inbound()
    assert len(inbound) == BACKLOG and {m.outcome for m in inbound} != {"erreur_interne"}
    assert all("$CitebotDone" in m["flags"] for m in bot.mailbox())
    assert not [row for row in bot.outbox() if row.status in ("sending", "pending")]
    copies: dict[str, list[float]] = {}
    for received in bot.sink.received:
        for rcpt in received.rcpt_tos:
            copies.setdefault(rcpt, []).append(received.at)
    porteurs = {f"porteur{n}@example.org" for n in range(BACKLOG)}
    assert porteurs <= set(copies)  # an answer to every message
    doubles = {rcpt: times for rcpt, times in copies.items() if len(times) > 1}
    # Each double's first copy was taken by the sink within INSIDE_SMTP of a kill.
    per_kill = Counter()
    for rcpt, times in doubles.items():
        assert len(times) == 2, (rcpt, times)
        near = [k for k in kills if abs(k - times[0]) < INSIDE_SMTP]
        assert near, f"{rcpt} twice, not near a kill: {times} vs {kills}"
        per_kill[near[0]] += 1
    assert all(count <= 1 for count in per_kill.values()), per_kill


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poll_once_killed_at_random_moments(bot, seed):
    rng = random.Random(seed)
    command = ["--config", str(bot.rt.cfg.path), "poll", "--once"]
    kills = [kill_after(command, rng.uniform(0.4, 2.5)) for _ in range(2)]
    done = subprocess.run([sys.executable, "-m", "bot", *command], cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    check(bot, [k for k in kills if k != float("inf")])


@pytest.mark.parametrize("seed", [4])
def test_the_daemon_killed_at_random_moments(bot, seed):
    rng = random.Random(seed)
    command = ["--config", str(bot.rt.cfg.path), "run"]
    kills = [kill_after(command, rng.uniform(0.4, 2.5)) for _ in range(2)]
    process = subprocess.Popen([sys.executable, "-m", "bot", *command], cwd=REPO, env=env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        porteurs = {f"porteur{n}@example.org" for n in range(BACKLOG)}
        while not porteurs <= {r for m in bot.sink.received for r in m.rcpt_tos} or any(
                row.status in ("sending", "pending") for row in bot.outbox()):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        time.sleep(1.5)  # one more round: everything marked
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    check(bot, [k for k in kills if k != float("inf")])
