"""The outbox never writes to an empty, null, own or robot address, whatever asked
for it (mailboxes.md, "Robots"): `enqueue` drops such recipients, and a row that
still names one when it is due is marked failed, never sent. On the real stack:
Dovecot, the aiosmtpd sink, a real SQLite file."""

from __future__ import annotations

import logging
import mailbox

import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, mail
from sqlalchemy import select, update

from bot.mail.compose import Mail
from bot.mail.outbox import enqueue, send_pending
from bot.store.models import Event, Outbox

DEDICATED = "cite-educative-projets@lievin.fr"
# A third mailbox, for the call only: its address is ours, like the bot's.
DEDICATED_MAILBOX = f"""
[[mailbox]]
name = "projets"
address = "{DEDICATED}"
mode = "dedie"
kind = "maildir"
path = "projets"
coordinators = ["f.talaga@lievin.fr"]
"""


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    mailbox.Maildir(tmp_path / "projets", create=True)
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, extra=DEDICATED_MAILBOX)


def events(bot, kind="destinataire_ecarte") -> list[Event]:
    with bot.rt.sessions() as s:
        return list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def note(to, cc=()) -> Mail:
    return Mail(kind="note_coordinateurs", to=tuple(to), cc=tuple(cc), auto_submitted="auto-generated",
                context={"reference": "CE-2026-0001", "title": "Essai", "text": "Un essai.", "intitule": "Projet",
                         "status": "incomplet"})


# -- enqueue ------------------------------------------------------------------------------


def test_an_answer_to_a_robot_reply_to_is_never_queued_and_the_refusal_is_recorded(bot, caplog):
    # A person's mail whose Reply-To is a robot's of the same domain (another domain's
    # Reply-To is never written to, security.md): the blank form would go to nobody.
    bot.deliver(mail(sender="Camille Martin <camille.martin@ac-lille.fr>", headers={"Reply-To": "ne-pas-repondre@ac-lille.fr"},
                     attachments=[("fiche.pdf", b"%PDF-1.4 fiche", "application/pdf")]))
    with caplog.at_level(logging.INFO):
        report = bot.poll()
    assert report.ok and bot.outbox() == [] and bot.sink.received == []
    [inbound] = bot.inbound()
    assert (inbound.classification, inbound.outcome) == ("format_incorrect", "destinataire_ecarte")
    [event] = events(bot)
    assert event.inbound_id == inbound.id and event.detail == {
        "kind": "format_incorrect", "queued": False,
        "dropped": [{"address": "ne-pas-repondre@ac-lille.fr", "why": "adresse de robot"}]}
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.mail.outbox"]
    assert logged == ["mail format_incorrect: 1 recipient(s) dropped (robot), nothing sent"]
    assert "ne-pas-repondre" not in caplog.text  # INFO logs never carry an address


def test_a_fiche_whose_reply_to_is_our_dedicated_mailbox_makes_a_dossier_but_no_acknowledgement(bot):
    bot.deliver(mail(sender="Agent <agent@lievin.fr>", headers={"Reply-To": DEDICATED},
                     attachments=[("fiche.docx", fiche_bytes())]))
    bot.poll()
    [dossier] = bot.dossiers()
    assert bot.outbox() == [] and bot.sink.received == []
    assert "destinataire_ecarte" in [e.kind for e in dossier.events]
    [event] = events(bot)
    assert event.dossier_id == dossier.id
    assert event.detail["dropped"] == [{"address": DEDICATED, "why": "adresse de citebot"}]


@pytest.mark.parametrize("address, why", [
    ("", "adresse vide"), (None, "adresse vide"), ("<>", "adresse vide"), ("mailer-daemon", "adresse vide"),
    ("cite-educative@lievin.fr", "adresse de citebot"), ("Cite-Educative@Lievin.fr", "adresse de citebot"),
    (DEDICATED, "adresse de citebot"), ("MAILER-DAEMON@ac-lille.fr", "adresse de robot"),
    ("no-reply@sns.amazonaws.com", "adresse de robot"), ("bounces+123=lievin.fr@sendgrid.net", "adresse de robot"),
])
def test_enqueue_drops_a_refused_recipient_and_queues_nothing_when_none_is_left(bot, address, why):
    with bot.rt.sessions.begin() as session:
        assert enqueue(session, note([address]), bot.rt.cfg) is None
    assert bot.outbox() == []
    [event] = events(bot)
    assert event.detail == {"kind": "note_coordinateurs", "queued": False,
                            "dropped": [{"address": address or "", "why": why}]}


def test_when_the_recipient_is_refused_the_copies_become_the_recipients(bot):
    with bot.rt.sessions.begin() as session:
        row = enqueue(session, note(["postmaster@ac-lille.fr"], cc=["f.talaga@lievin.fr", "noreply@ac-lille.fr"]),
                      bot.rt.cfg)
        assert row.recipients == ["f.talaga@lievin.fr"] and row.first_recipient == "f.talaga@lievin.fr"
    send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    [sent] = bot.sent()
    assert sent["To"] == "f.talaga@lievin.fr" and sent["Cc"] is None
    assert bot.sink.received[0].rcpt_tos == ["f.talaga@lievin.fr"]
    [event] = events(bot)
    assert event.detail["queued"] is True and [d["why"] for d in event.detail["dropped"]] == [
        "adresse de robot", "adresse de robot"]


@pytest.mark.parametrize("mode", ["personnel", "dedie"])
def test_a_coordinator_whose_own_inbox_is_polled_still_gets_mail(tmp_path, dovecot, smtp_sink, monkeypatch, mode):
    # l.marcq@lievin.fr is the "ville" mailbox and one of its coordinators.
    mailbox.Maildir(tmp_path / "projets", create=True)
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, extra=DEDICATED_MAILBOX, mode=mode)
    assert bot.rt.cfg.mailbox("ville").mode == mode
    with bot.rt.sessions.begin() as session:
        assert enqueue(session, note(["l.marcq@lievin.fr"]), bot.rt.cfg) is not None
    send_pending(bot.rt.sessions, bot.rt.transport, bot.rt.cfg)
    assert [m.rcpt_tos for m in bot.sink.received] == [["l.marcq@lievin.fr"]] and events(bot) == []


# -- before sending -----------------------------------------------------------------------


@pytest.mark.parametrize("recipients, error", [
    ([""], "non envoyé : adresse vide"),
    ([], "non envoyé : aucun destinataire"),
    (["cite-educative@lievin.fr"], "non envoyé : adresse de citebot"),
    ([DEDICATED], "non envoyé : adresse de citebot"),
    (["camille.martin@example.org", "MAILER-DAEMON@lievin.fr"], "non envoyé : adresse de robot"),
])
def test_a_row_already_queued_for_a_refused_recipient_is_marked_failed_never_sent(bot, recipients, error):
    # Rows written before this guard existed (or by hand): the good one still goes.
    with bot.rt.sessions.begin() as session:
        bad = enqueue(session, note(["camille.martin@example.org"]), bot.rt.cfg)
        good = enqueue(session, note(["f.talaga@lievin.fr"]), bot.rt.cfg)
        session.flush()
        bad_id, good_id = bad.id, good.id
        session.execute(update(Outbox).where(Outbox.id == bad_id).values(recipients=recipients))
    report = bot.poll()
    assert report.sending.failed == 1 and report.sending.sent == 1
    assert [m.rcpt_tos for m in bot.sink.received] == [["f.talaga@lievin.fr"]]
    rows = {r.id: r for r in bot.outbox()}
    assert (rows[bad_id].status, rows[bad_id].last_error, rows[bad_id].sent_at) == ("failed", error, None)
    assert rows[good_id].status == "sent"
    [event] = events(bot)
    assert event.detail["outbox_id"] == bad_id and event.detail["queued"] is False
    bot.poll()
    assert len(bot.sink.received) == 1  # failed for good: never retried
