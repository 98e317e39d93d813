"""Nothing lost, nothing doubled: a crash between any two steps, then a new
poll, gives exactly one dossier and one acknowledgement."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, mail

from bot import clock
from bot.mail.transports import TemporaryFailure
from bot.poller import Hooks, poll_once


class Crash(Exception):
    """Stands for the process dying at that point."""


class CrashAt(Hooks):
    def __init__(self, step: str):
        self.step = step

    def after_fetch(self, uid):
        if self.step == "after_fetch":
            raise Crash(self.step)

    def after_commit(self, uid):
        if self.step == "after_commit":
            raise Crash(self.step)

    def before_mark(self, uid):
        if self.step == "before_mark":
            raise Crash(self.step)


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def restart(bot):
    """A new process: same configuration and database, no state in memory."""
    return dataclasses.replace(bot.rt, hooks=Hooks())


@pytest.mark.parametrize("step", ["after_fetch", "after_commit", "before_mark"])
def test_a_crash_at_any_step_gives_one_dossier_and_one_acknowledgement(bot, step):
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    with pytest.raises(Crash):
        bot.poll(CrashAt(step))
    poll_once(restart(bot))
    poll_once(restart(bot))  # and nothing more on the round after
    assert len(bot.dossiers()) == 1
    assert len(bot.sink.received) == 1
    assert len(bot.inbound()) == 1
    [state] = bot.mailbox()
    assert "$CitebotDone" in state["flags"] and "\\Seen" not in state["flags"]


class _DyingConnection:
    def __init__(self, real, how):
        self.real, self.how = real, how

    def send(self, raw, sender, recipients):
        if self.how == "drop":
            raise TemporaryFailure("connection dropped", connection_lost=True)
        raise Crash("process killed during send")


class DyingTransport:
    """Fails once, during the send, then behaves like the real transport."""

    def __init__(self, real, how):
        self.real, self.how, self.failed = real, how, False

    def connect(self):
        import contextlib

        @contextlib.contextmanager
        def session():
            with self.real.connect() as connection:
                if self.failed:
                    yield connection
                else:
                    self.failed = True
                    yield _DyingConnection(connection, self.how)

        return session()


@pytest.mark.parametrize("how", ["drop", "crash"])
def test_a_failure_during_send_sends_the_acknowledgement_once_later(bot, how):
    real = bot.rt.transport
    bot.rt.transport = DyingTransport(real, how)
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    if how == "crash":
        with pytest.raises(Crash):
            bot.poll()
    else:
        assert not bot.poll().ok
    assert bot.sink.received == []
    with clock.pinned(clock.now() + timedelta(minutes=10)):
        poll_once(restart(bot))
        poll_once(restart(bot))
    assert len(bot.sink.received) == 1
    assert [row.status for row in bot.outbox()] == ["sent"]
    assert len(bot.dossiers()) == 1


def test_a_new_uidvalidity_does_not_handle_the_same_messages_again(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, ville_folder="Depots")
    raw = mail(attachments=[("f.docx", fiche_bytes())])
    bot.deliver(raw)
    bot.poll()
    before = dovecot.uidvalidity(bot.ville.user, "Depots")
    with dovecot.client(bot.ville.user) as client:  # the server rebuilds the folder: new UIDVALIDITY
        client.delete_folder("Depots")
        client.create_folder("Depots")
    assert dovecot.uidvalidity(bot.ville.user, "Depots") != before
    bot.deliver(raw)
    bot.poll()
    assert len(bot.dossiers()) == 1 and len(bot.sink.received) == 1
    assert [m.outcome for m in bot.inbound()] == ["dossier_cree", "deja_traite"]
    assert "$CitebotDone" in dovecot.messages(bot.ville.user, "Depots")[0]["flags"]


def test_a_message_our_code_cannot_handle_is_kept_and_the_round_goes_on(bot, monkeypatch):
    import bot.dossier.reading as reading

    real = reading.parse_message
    calls = {"n": 0}

    def explode_once(raw, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("a bug on a strange message")
        return real(raw, **kw)

    monkeypatch.setattr(reading, "parse_message", explode_once)
    bot.deliver(mail(subject="étrange"))
    bot.deliver(mail(attachments=[("f.docx", fiche_bytes())]))
    bot.poll()
    assert [m.outcome for m in bot.inbound()] == ["erreur_interne", "dossier_cree"]
    assert all("$CitebotDone" in m["flags"] for m in bot.mailbox())
    assert (bot.rt.cfg.bot.data_dir / bot.inbound()[0].raw_path).is_file()


def test_two_senders_at_once_send_each_mail_once(bot):
    """The daemon and a coordinator's command may send at the same moment."""
    import threading

    from bot.mail.outbox import send_pending

    class Unreachable:
        def connect(self):
            raise TemporaryFailure("server down", connection_lost=True)

    for n in range(6):
        bot.deliver(mail(subject=f"Projet {n}", attachments=[("f.docx", fiche_bytes(intitule=f"Projet {n}"))]))
    real, bot.rt.transport = bot.rt.transport, Unreachable()  # file the dossiers, send nothing yet
    bot.poll()
    bot.rt.transport = real
    start = threading.Barrier(2)

    def sender():
        start.wait()
        send_pending(bot.rt.sessions, real, bot.rt.cfg)

    with clock.pinned(clock.now() + timedelta(minutes=5)):
        threads = [threading.Thread(target=sender) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(bot.sink.received) == 6
    assert {row.status for row in bot.outbox()} == {"sent"}
