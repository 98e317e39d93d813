"""`digest --today D` names the day of the digest, never the instant it covers
up to: two digests the same day tell each piece of news once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, mail
from test_cli_cycle import citebot

from bot import clock


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def digests(bot) -> list:
    return [m for m in (r.message() for r in bot.sink.received) if m["X-Citebot-Kind"] == "digest"]


@pytest.mark.parametrize("offset", [0, -1], ids=["today", "yesterday"])
def test_two_digests_the_same_day_the_second_has_no_news(bot, offset):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    assert citebot(bot, "poll", "--once").returncode == 0
    day = (clock.today() + timedelta(days=offset)).isoformat()
    first = citebot(bot, "digest", "--today", day)
    assert first.returncode == 0, first.stderr
    assert "envoyé" in first.stdout and "Rien de nouveau" not in first.stdout
    sent = len(digests(bot))
    assert sent >= 1
    second = citebot(bot, "digest", "--today", day)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "Rien de nouveau\u00a0: aucun point envoyé."
    assert len(digests(bot)) == sent


def test_the_day_given_is_the_day_in_the_digest_title(bot):
    bot.deliver(mail(attachments=[("a.docx", fiche_bytes())]))
    assert citebot(bot, "poll", "--once").returncode == 0
    assert citebot(bot, "digest", "--today", "2026-12-01").returncode == 0
    [digest, *_] = digests(bot)
    assert "Point du 1er décembre 2026" in str(digest["Subject"]).replace("\u00a0", " ")
