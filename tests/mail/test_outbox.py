"""The outbox sends everything that is due before it returns (cli.md: `poll --once`
"processes every configured mailbox once, then sends the outbox, then exits"),
on a real SQLite file and the real aiosmtpd sink."""

from __future__ import annotations

from datetime import datetime, timezone

from bot_harness import make_bot

from bot.mail.compose import Mail
from bot.mail.outbox import BATCH, enqueue, send_pending


def queue(bot, count: int) -> None:
    with bot.rt.sessions.begin() as session:
        for n in range(count):
            enqueue(session, Mail(kind="deja_recu", to=(f"porteur{n}@example.org",), context={
                "reference": f"CE-2026-{n:04d}", "intitule": "Projet", "filename": "fiche.docx",
                "first_received_at": datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc), "errors_count": 0,
                "bot_name": "Cité éducative de Liévin"}), bot.rt.cfg)


def test_every_due_mail_is_sent_in_one_call_however_many_batches_it_takes(tmp_path, dovecot, smtp_sink,
                                                                          monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    queue(bot, 2 * BATCH + 7)
    report = send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert report.sent == 2 * BATCH + 7 and not report.unreachable
    assert len(bot.sink.received) == 2 * BATCH + 7
    assert {row.status for row in bot.outbox()} == {"sent"}


def test_poll_once_leaves_nothing_due_in_the_outbox(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    queue(bot, BATCH + 1)
    report = bot.poll()
    assert report.sending.sent == BATCH + 1
    assert {row.status for row in bot.outbox()} == {"sent"}

