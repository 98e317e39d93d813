"""IMAP IDLE in the daemon (mailboxes.md, "Latency"): a message delivered while the daemon waits
is acknowledged within seconds with a ten-minute poll interval; a connection cut during IDLE is
reopened; SIGTERM during IDLE ends the daemon at once; a server without IDLE leaves the poll alone.
The real Dovecot, the real SMTP sink, `citebot run` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot_harness import make_bot
from conftest import REPO
from counting_proxy import CountingProxy
from mail_factory import fiche_bytes, mail
from servers import free_port
from test_daemon import LINE, UNREACHABLE

from bot.mail.idle import IdleWatcher

IN_IDLE = "INFO bot.mail.idle: mailbox {name}: waiting for new mail in IDLE"


class Daemon:
    """`citebot run` on the bot's configuration; its stderr in a file."""

    def __init__(self, tmp_path: Path, config: Path):
        self.stderr_path = tmp_path / "daemon.stderr"
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], cwd=REPO,
                                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)

    def log(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, predicate, timeout: float, what: str) -> float:
        """Seconds until predicate(log) is true; fails after `timeout`."""
        started = time.monotonic()
        while not predicate(self.log()):
            assert self.process.poll() is None, f"the daemon died:\n{self.log()}"
            assert time.monotonic() - started < timeout, f"{what} not seen after {timeout} s:\n{self.log()}"
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _config_with(bot, before: str = "", schedule: str = "poll_seconds = 600") -> Path:
    config = bot.rt.cfg.path
    config.write_text(before + config.read_text(encoding="utf-8") + f"\n[schedule]\n{schedule}\n", encoding="utf-8")
    return config


def _fiche(subject: str = "Projet Papillons de Liévin") -> bytes:
    return mail(subject=subject, attachments=[("Fiche projet.docx", fiche_bytes())])


def _wait_for_ack(sink, count: int, timeout: float) -> float:
    started = time.monotonic()
    while len([r for r in sink.received if "camille.martin@example.org" in r.rcpt_tos]) < count:
        assert time.monotonic() - started < timeout, f"no acknowledgement after {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_with_idle_a_new_fiche_is_acknowledged_within_seconds_and_sigterm_ends_it_at_once(
        tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    # An unreachable mailbox first: its trouble delays neither the others' IDLE nor their mail.
    config = _config_with(bot, before=UNREACHABLE.format(port=free_port()))
    daemon = Daemon(tmp_path, config)
    try:
        daemon.wait_for(lambda log: IN_IDLE.format(name="ville") in log
                        and IN_IDLE.format(name="education_nationale") in log
                        and "ERROR bot.poller: mailbox injoignable unreachable" in log, 20, "IDLE and the first poll")
        time.sleep(1)  # the first poll (at start) is over: only IDLE can find what comes now
        bot.deliver(_fiche())

        latency = _wait_for_ack(smtp_sink, 1, 10)  # the poll comes every 10 minutes

        assert latency < 10
        daemon.wait_for(lambda log: "INFO bot.daemon: wake-up of ville: 1 handled" in log, 5, "the wake-up")
        code, took = daemon.stop()  # in IDLE on both mailboxes
    finally:
        daemon.kill()
    assert code == 0 and took < 5, daemon.log()
    lines = daemon.log().splitlines()
    assert all(LINE.fullmatch(line) for line in lines), daemon.log()
    assert lines[-1] == "INFO bot.daemon: citebot stopped"
    assert "$CitebotDone" in bot.mailbox("ville")[0]["flags"]
    assert not [line for line in lines if "bot.mail.idle" in line and line.startswith(("WARNING", "ERROR"))
                and "injoignable" not in line]


def test_a_connection_cut_during_idle_is_reopened_and_still_wakes_the_poll(tmp_path, dovecot, smtp_sink,
                                                                           monkeypatch):
    with CountingProxy(dovecot.host, dovecot.port) as proxy:
        bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, imap_port=proxy.port)
        daemon = Daemon(tmp_path, _config_with(bot))
        try:
            daemon.wait_for(lambda log: log.count("waiting for new mail in IDLE") == 2, 20, "IDLE")
            time.sleep(0.5)
            proxy.drop_connections()  # as a server restart or a NAT would
            daemon.wait_for(lambda log: log.count("waiting for new mail in IDLE") == 4, 15, "IDLE again")
            bot.deliver(_fiche())

            latency = _wait_for_ack(smtp_sink, 1, 10)

            code, took = daemon.stop()
        finally:
            daemon.kill()
    assert latency < 10 and code == 0 and took < 5
    log = daemon.log()
    assert "WARNING bot.mail.idle: mailbox ville: IDLE connection lost (EOF); reopening in 1 s" in log, log


def test_a_server_without_idle_falls_back_to_the_periodic_poll(tmp_path, dovecot_noidle, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot_noidle, smtp_sink, monkeypatch)
    daemon = Daemon(tmp_path, _config_with(bot, schedule="poll_seconds = 2"))
    try:
        daemon.wait_for(lambda log: "mailbox ville: the server does not offer IDLE; the periodic poll only" in log,
                        20, "no IDLE")
        bot.deliver(_fiche())

        _wait_for_ack(smtp_sink, 1, 15)

        code, took = daemon.stop()
    finally:
        daemon.kill()
    assert code == 0 and took < 5
    assert "waiting for new mail in IDLE" not in daemon.log()
    assert "wake-up" not in daemon.log()


def test_idle_is_renewed_and_each_new_message_wakes_the_watcher(dovecot, imap_user):
    from dataclasses import replace

    from bot.config import MailboxConfig

    cfg = MailboxConfig(name="ville", address="l.marcq@lievin.fr", kind="imap", host=dovecot.host, port=dovecot.port,
                        security="none", username=imap_user.user, password=imap_user.password, coordinators=("a@b.fr",),
                        timeout=5)
    woken: list[float] = []
    stopping = threading.Event()
    watcher = IdleWatcher(replace(cfg), lambda name: woken.append(time.monotonic()), stopping, renew_seconds=0.5,
                          check_seconds=0.1)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while watcher.offered is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.offered is True
        time.sleep(1.6)  # IDLE re-issued three times meanwhile
        for number in range(2):
            sent = time.monotonic()
            dovecot.append(imap_user.user, _fiche(f"Projet {number}"))
            while len(woken) <= number:
                assert time.monotonic() - sent < 5, "no wake-up"
                time.sleep(0.02)
    finally:
        stopping.set()
        watcher.join(5)
    assert not watcher.is_alive()
    assert watcher.connections == 1  # renewals on the same connection
    # The watcher only watches: the messages are neither marked nor seen.
    assert all(not m["flags"] for m in dovecot.messages(imap_user.user))


def test_a_half_open_connection_is_caught_by_the_renewal_timeout_and_reopened(dovecot, imap_user, caplog):
    import logging

    from bot.config import MailboxConfig

    caplog.set_level(logging.INFO)
    with CountingProxy(dovecot.host, dovecot.port) as proxy:
        cfg = MailboxConfig(name="ville", address="l.marcq@lievin.fr", kind="imap", host=proxy.host, port=proxy.port,
                            security="none", username=imap_user.user, password=imap_user.password,
                            coordinators=("a@b.fr",), timeout=1)
        woken: list[float] = []
        stopping = threading.Event()
        watcher = IdleWatcher(cfg, lambda name: woken.append(time.monotonic()), stopping, renew_seconds=1,
                              check_seconds=0.1)
        watcher.start()
        try:
            deadline = time.monotonic() + 10
            while watcher.connections < 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            proxy.frozen = True  # nothing passes any more, nothing is closed
            time.sleep(3)
            proxy.frozen = False
            while watcher.connections < 2:
                assert time.monotonic() < deadline + 10, caplog.text
                time.sleep(0.05)
            before = len(woken)  # the reconnection wakes the poll once
            assert before >= 1
            dovecot.append(imap_user.user, _fiche())
            while len(woken) == before:
                assert time.monotonic() < deadline + 15, "no wake-up after the reconnection"
                time.sleep(0.02)
        finally:
            stopping.set()
            watcher.join(5)
    assert "mailbox ville: IDLE connection lost (TimeoutError: timed out); reopening in 1 s" in caplog.text, caplog.text
