"""Issue 15 on the outbox: the server's answer recorded at once (journal), claims that
carry their process, sending that stops when asked, per-recipient outcomes — on the real
SMTP sink and a real SQLite file."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
from bot_harness import make_bot
from click.testing import CliRunner
from mail_factory import fiche_bytes, mail
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from bot import clock
from bot.cli import main
from bot.mail import outbox
from bot.mail.compose import Mail
from bot.mail.outbox import enqueue, send_pending
from bot.store import claims
from bot.store.faults import StorageFault
from bot.store.models import Event, Outbox
from bot.store.sent_journal import SentJournal
from bot.text import spaces


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    outbox._UNRECORDED.clear()
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def queue(bot, *recipients: str, dossier_id: int | None = None, n: int = 0) -> None:
    with bot.rt.sessions.begin() as session:
        enqueue(session, Mail(kind="deja_recu", to=recipients, context={
            "reference": f"CE-2026-{n:04d}", "intitule": "Projet", "filename": "fiche.docx",
            "first_received_at": datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc), "errors_count": 0,
            "bot_name": "Cité éducative de Liévin"}), bot.rt.cfg, dossier_id=dossier_id)


def test_a_250_and_a_550_the_accepted_recipient_is_recorded_the_refused_one_failed(bot):
    bot.deliver(mail(attachments=[("Fiche projet.docx", fiche_bytes())]))
    bot.poll()
    [dossier] = bot.dossiers()
    bot.sink.reset()
    bot.sink.refuse_recipient("ien.bis@ac-lille.fr", "550 5.1.1 <ien.bis@ac-lille.fr>: Recipient address rejected")
    queue(bot, "ien.lievin@ac-lille.fr", "ien.bis@ac-lille.fr", dossier_id=dossier.id)
    report = send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert report.sent == 1 and report.failed == 0
    [received] = bot.sink.received
    assert received.rcpt_tos == ["ien.lievin@ac-lille.fr"]
    row = bot.outbox()[-1]
    assert row.status == "sent" and row.claimed_by is None
    assert row.delivery == {"ien.lievin@ac-lille.fr": {"state": "accepte", "reply": "250"},
                            "ien.bis@ac-lille.fr": {"state": "refuse", "reply": "550 5.1.1 <ien.bis@ac-lille.fr>: "
                                                                                  "Recipient address rejected"}}
    with bot.rt.sessions() as s:
        [event] = s.query(Event).filter(Event.kind == "envoi_echoue").all()
        assert event.detail["partial"] is True and "ien.bis@ac-lille.fr" in event.detail["error"]
    shown = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "dossiers", "show", dossier.reference])
    assert shown.exit_code == 0, shown.output
    assert spaces("envoyé — remis à ien.lievin@ac-lille.fr ; refusé pour ien.bis@ac-lille.fr (550 5.1.1 "
                  "<ien.bis@ac-lille.fr>: Recipient address rejected)") in shown.stdout, shown.stdout
    send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert len(bot.sink.received) == 1  # nothing more


def test_a_250_and_a_450_the_deferred_recipient_is_tried_again_alone(bot):
    bot.sink.refuse_recipient("ien.bis@ac-lille.fr", "450 4.2.0 <ien.bis@ac-lille.fr>: mailbox busy")
    queue(bot, "ien.lievin@ac-lille.fr", "ien.bis@ac-lille.fr")
    report = send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert report.sent == 1 and report.retrying == 1
    [row] = bot.outbox()
    assert row.status == "pending" and row.delivery["ien.bis@ac-lille.fr"]["state"] == "reessai"
    bot.sink.reset()
    with clock.pinned(clock.now() + timedelta(minutes=2)):
        send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    [again] = bot.sink.received
    assert again.rcpt_tos == ["ien.bis@ac-lille.fr"]  # alone
    [row] = bot.outbox()
    assert row.status == "sent" and {d["state"] for d in row.delivery.values()} == {"accepte"}


def test_the_answer_is_in_the_journal_before_the_database_and_folded_by_the_next_claim(bot, monkeypatch):
    queue(bot, "porteur@example.org")
    journal = SentJournal(bot.rt.cfg.bot.data_dir)
    monkeypatch.setattr(outbox, "_fold", lambda sessions, journal: None)  # the process dies before folding
    send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    [row] = bot.outbox()
    assert row.status == "sending" and journal.path.read_bytes().count(b'"id":') == 1
    monkeypatch.undo()
    with bot.rt.sessions.begin() as s:  # even if its claim had expired
        s.execute(update(Outbox).values(next_attempt_at=clock.now() - timedelta(minutes=1)))
    send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert len(bot.sink.received) == 1
    [row] = bot.outbox()
    assert row.status == "sent" and row.sent_at is not None and journal.path.read_bytes() == b""


def test_a_full_disk_while_recording_sent_never_sends_twice(bot, monkeypatch):
    queue(bot, "porteur0@example.org", n=0)
    queue(bot, "porteur1@example.org", n=1)
    real_record, real_apply = SentJournal.record, outbox._apply
    broken = {"on": True}

    def full(self, entry):
        if broken["on"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real_record(self, entry)

    def locked(sessions, entries):
        if broken["on"]:
            raise OperationalError("UPDATE outbox", {}, Exception("database or disk is full"))
        return real_apply(sessions, entries)

    monkeypatch.setattr(SentJournal, "record", full)
    monkeypatch.setattr(outbox, "_apply", locked)
    with pytest.raises(StorageFault) as stopped:
        send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert str(stopped.value).startswith("Disque plein")
    assert len(bot.sink.received) == 1  # sending stopped at the first mail it could not record
    first, second = bot.outbox()
    assert first.status == "sending" and first.claimed_by == claims.me()
    assert second.status == "pending" and second.claimed_by is None  # released at once
    broken["on"] = False  # room again
    with clock.pinned(clock.now() + timedelta(minutes=10)):  # even once its claim has expired
        send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert sorted(r.rcpt_tos[0] for r in bot.sink.received) == ["porteur0@example.org", "porteur1@example.org"]
    assert {row.status for row in bot.outbox()} == {"sent"}


def dead_claim() -> str:
    """The claim of a process that has ended."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return f"{socket.gethostname()} {child.stdout.strip()} {claims._boot_id()}-1"


def test_a_claim_whose_process_is_gone_is_released_at_once_others_wait(bot):
    for n in range(3):
        queue(bot, f"porteur{n}@example.org", n=n)
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alive = f"{socket.gethostname()} {parent.pid} {claims._start(parent.pid)}"
        holders = [dead_claim(), alive, f"elsewhere.example 4242 {claims._boot_id()}-1"]
        with bot.rt.sessions.begin() as s:
            for row_id, holder in zip((1, 2, 3), holders):
                s.execute(update(Outbox).where(Outbox.id == row_id).values(
                    status="sending", claimed_by=holder, next_attempt_at=clock.now() + outbox.CLAIM))
        report = send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    finally:
        parent.kill()
        parent.wait()
    assert report.sent == 1 and [r.rcpt_tos for r in bot.sink.received] == [["porteur0@example.org"]]
    assert [row.status for row in bot.outbox()] == ["sent", "sending", "sending"]
    assert claims.gone(holders[1])  # killed now: released by the next sender
    send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert [row.status for row in bot.outbox()] == ["sent", "sent", "sending"]  # another host's: expiry


def test_sending_stops_claiming_when_stopping_and_releases_what_it_claimed(bot):
    for n in range(5):
        queue(bot, f"porteur{n}@example.org", n=n)
    stopping = threading.Event()
    real = bot.rt.transport

    class StopAfterFirst:
        def connect(self):
            import contextlib

            @contextlib.contextmanager
            def session():
                with real.connect() as connection:
                    class Once:
                        def send(self, raw, sender, recipients):
                            refused = connection.send(raw, sender, recipients)
                            stopping.set()  # SIGTERM arrives during the first mail
                            return refused
                    yield Once()
            return session()

    report = send_pending(bot.rt.sessions, StopAfterFirst(), bot.rt.cfg, stopping)
    assert report.sent == 1 and len(bot.sink.received) == 1
    rows = bot.outbox()
    assert rows[0].status == "sent"
    assert {(r.status, r.claimed_by) for r in rows[1:]} == {("pending", None)}
