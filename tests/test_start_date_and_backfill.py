"""Old mail: a mailbox is read from its start date on; `citebot backfill` takes the
fiches of older messages once, without mailing their porteurs (mailboxes.md,
"First start and old mail"), on the real Dovecot, SMTP sink and SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bot_harness import make_bot
from mail_factory import fiche_bytes, mail

from bot import clock
from bot.dossier.digest import build
from bot.store.models import MailboxCursor

REPO = Path(__file__).resolve().parents[1]


def days_ago(n: int) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=n)


def old_and_recent(bot) -> dict[str, int]:
    return {
        "old_fiche": bot.deliver(mail(sender="Ancien Porteur <ancien@example.org>",
                                      attachments=[("Fiche projet.docx", fiche_bytes(intitule="Ancien projet"))]),
                                 when=days_ago(30)),
        "old_private": bot.deliver(mail(sender="Paul <paul@ac-lille.fr>", subject="Vacances", body="Bonnes vacances !"),
                                   when=days_ago(31)),
        "recent_fiche": bot.deliver(mail(attachments=[("Fiche projet.docx", fiche_bytes())]), when=days_ago(2)),
    }


def citebot(bot, *args):
    env = {**os.environ, "TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(bot.rt.cfg.path), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_the_first_poll_reads_only_the_last_seven_days(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    uids = old_and_recent(bot)
    report = bot.poll()
    assert report.handled == 1
    assert [m.uid for m in bot.inbound()] == [str(uids["recent_fiche"])]
    assert [d.versions[0].fields["intitule"] for d in bot.dossiers()] == ["Les petits reporters"]
    old = {m["uid"]: m["flags"] for m in bot.mailbox()}
    assert "$CitebotDone" not in old[uids["old_fiche"]] and "$CitebotDone" not in old[uids["old_private"]]


def test_the_start_date_is_recorded_once_and_never_moves(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    bot.poll()
    with bot.rt.sessions() as s:
        first = s.get(MailboxCursor, "ville").start_date
    assert first == clock.today() - timedelta(days=7)
    with clock.pinned(clock.today() + timedelta(days=40)):
        bot.poll()
    with bot.rt.sessions() as s:
        assert s.get(MailboxCursor, "ville").start_date == first


def test_since_in_the_configuration_sets_the_start_date(tmp_path, dovecot, smtp_sink, monkeypatch):
    since = (date.today() - timedelta(days=60)).isoformat()
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, ville_extra=f'since = "{since}"')
    old_and_recent(bot)
    assert bot.poll().handled == 3


def test_backfill_files_the_old_fiche_without_mailing_its_porteur_and_only_once(tmp_path, dovecot, smtp_sink,
                                                                                 monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    uids = old_and_recent(bot)
    bot.poll()
    sent_before = len(bot.sink.received)

    since = (date.today() - timedelta(days=45)).isoformat()
    done = citebot(bot, "backfill", "ville", "--since", since)
    assert done.returncode == 0, done.stderr
    assert "1\u00a0message repris" in done.stdout and "Aucun courriel n'a été adressé aux porteurs" in done.stdout
    titles = sorted(d.versions[0].fields["intitule"] for d in bot.dossiers())
    assert titles == ["Ancien projet", "Les petits reporters"]
    assert len(bot.sink.received) == sent_before  # no mail to the old porteur
    [old] = [d for d in bot.dossiers() if d.versions[0].fields["intitule"] == "Ancien projet"]
    assert any(e.kind == "reponse_non_envoyee" for e in old.events)
    private = next(m for m in bot.inbound() if m.uid == str(uids["old_private"]))
    assert (private.classification, private.outcome, private.from_addr) == ("ancien", "ignore", None)

    state = (len(bot.dossiers()), len(bot.inbound()), len(bot.outbox()), len(bot.sink.received))
    again = citebot(bot, "backfill", "ville", "--since", since)
    assert again.returncode == 0 and "0\u00a0message repris" in again.stdout
    assert (len(bot.dossiers()), len(bot.inbound()), len(bot.outbox()), len(bot.sink.received)) == state


def test_backfill_with_answer_acknowledges_the_old_porteur(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    old_and_recent(bot)
    bot.poll()
    since = (date.today() - timedelta(days=45)).isoformat()
    assert citebot(bot, "backfill", "ville", "--since", since, "--answer").returncode == 0
    assert [r.rcpt_tos for r in bot.sink.received][-1] == ["ancien@example.org"]


def test_the_next_digest_lists_what_was_taken_back(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    old_and_recent(bot)
    bot.poll()
    citebot(bot, "backfill", "ville", "--since", (date.today() - timedelta(days=45)).isoformat())
    with bot.rt.sessions() as s:
        digest = build(s, bot.rt.cfg, bot.rt.rules, "l.marcq@lievin.fr",
                       datetime(2000, 1, 1, tzinfo=timezone.utc), clock.today())
    assert [r["intitule"] for r in digest.sections["repris"]] == ["Ancien projet"]
    assert [r["intitule"] for r in digest.sections["nouveaux"]] == ["Les petits reporters"]


def test_backfill_of_an_unknown_mailbox_says_so_in_french(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    done = citebot(bot, "backfill", "inconnue", "--since", "2026-01-01")
    assert done.returncode == 1
    assert "Aucune boîte ne s'appelle « inconnue »" in done.stderr and "« ville »" in done.stderr
