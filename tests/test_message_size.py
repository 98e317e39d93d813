"""Large messages, on the real Dovecot, aiosmtpd and SQLite (mailboxes.md, "Size"): a backlog
of large messages is polled in bounded memory (`poll --once` as a child process, its peak RSS
read from /proc while it runs), and a message over limits.max_message_mb is never downloaded
(a counting proxy between the bot and Dovecot says so) but recorded, marked and answered in
French, within the daily limit of such answers, never to a robot."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from hashlib import sha256
from pathlib import Path

import pytest
from bot_harness import make_bot
from counting_proxy import CountingProxy
from mail_factory import fiche_bytes, large_mail, mail, with_image

from bot import clock
from bot.config import load_config
from bot.dossier.digest import send_digests
from bot.mail.compose import megaoctets
from bot.mail.sources import header_block
from bot.poller import Hooks, poll_once

MB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n"
SUBJECT = "Votre message est trop volumineux\u00a0: envoyez la fiche projet seule"


def peak_rss_of(proc: subprocess.Popen) -> int:
    """The child's peak resident memory (VmHWM, a high-water mark), read until it exits. Not
    getrusage(RUSAGE_CHILDREN): Linux keeps ru_maxrss across fork and exec, so a child would
    report this test's own memory, and the largest of every earlier child."""
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        if m := re.search(r"VmHWM:\s+(\d+) kB", status):
            peak = max(peak, int(m[1]) * 1024)
        time.sleep(0.02)
    return peak


def fr_mo(size: int) -> str:
    return f"{math.ceil(size * 10 / MB) / 10:.1f}".replace(".", ",").removesuffix(",0") + "\u00a0Mo"


def text(message) -> str:
    return message.get_body(("plain",)).get_content()


# -- memory -----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_backlog_of_25_messages_of_18_mb_is_polled_in_less_than_300_mb(tmp_path, dovecot, smtp_sink,
                                                                         monkeypatch):
    # Each a fiche with an 18 MB photo pasted in: read, validated, stored and acknowledged.
    # Fetched 25 at a time, the same backlog took the bot to 1,972 MB.
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)
    fiche, photo = fiche_bytes(), os.urandom(18 * MB)
    for first in range(0, 25, 5):  # built and appended five at a time: this process stays small too
        dovecot.append_many(bot.ville.user, [
            large_mail(with_image(fiche, PNG + n.to_bytes(8, "big") + photo),
                       sender=f"Porteur {n} <porteur{n}@example.org>", subject=f"Fiche projet {n}")
            for n in range(first, first + 5)])
    del photo
    child = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(bot.rt.cfg.path), "poll", "--once"],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = peak_rss_of(child)
    stderr = child.communicate(timeout=300)[1].decode()
    assert child.returncode == 0, stderr
    assert 0 < peak < 300 * MB, f"peak RSS of poll --once: {peak / MB:.0f} MB"

    assert [(m.classification, m.outcome) for m in bot.inbound()] == [("depot", "dossier_cree")] * 25
    flags = dovecot.flags(bot.ville.user)
    assert len(flags) == 25 and all(f == {"$CitebotDone"} for f in flags.values())
    assert len(bot.sink.received) == 25  # one acknowledgement each


# -- a message over the limit -------------------------------------------------------------
@pytest.mark.slow
def test_a_60_mb_message_is_never_downloaded_but_recorded_marked_and_answered(tmp_path, dovecot, smtp_sink,
                                                                              monkeypatch):
    with CountingProxy(dovecot.host, dovecot.port) as proxy:
        bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, imap_port=proxy.port)
        raw = large_mail(os.urandom(44 * MB), filename="photos de l'atelier.zip", content_type="application/zip",
                         subject="Fiche projet et photos de l'atelier", message_id="<gros@example.org>")
        assert 60 * MB < len(raw) < 61 * MB
        uid = bot.deliver(raw)
        proxy.reset()
        report = bot.poll()
        assert report.ok and report.handled == 1
        assert proxy.from_server < 1 * MB, f"{proxy.from_server} bytes from the server"

        [row] = bot.inbound()
        assert (row.classification, row.outcome) == ("trop_volumineux", "reponse_envoyee")
        assert (row.uid, row.message_id, row.from_addr) == (str(uid), "<gros@example.org>", "camille.martin@example.org")
        assert row.sha256 == sha256(b"%d\n" % len(raw) + header_block(raw)).hexdigest() and row.raw_path == ""
        assert row.detail["size"] == len(raw) and row.detail["max_bytes"] == 40 * MB
        assert dovecot.flags(bot.ville.user) == {uid: {"$CitebotDone"}}  # marked, still unread

        [answer] = bot.sent()
        assert bot.sink.received[0].rcpt_tos == ["camille.martin@example.org"]
        assert answer["Subject"] == SUBJECT
        assert answer["In-Reply-To"] == "<gros@example.org>" and answer["Auto-Submitted"] == "auto-replied"
        assert answer["Reply-To"] == "l.marcq@lievin.fr" and not list(answer.iter_attachments())
        body = text(answer)
        assert "«\u00a0Fiche projet et photos de l'atelier\u00a0»" in body
        assert f"il pèse {fr_mo(len(raw))}, au-delà de la limite de 40\u00a0Mo par message" in body
        assert fr_mo(len(raw)) in ("60,3\u00a0Mo", "60,4\u00a0Mo")
        assert "renvoyez la fiche projet seule, en pièce jointe, au format Word (.docx)" in body
        assert "aucune fiche projet n'a été enregistrée" in body
        assert "sans photos ni annexes volumineuses" in body and "lien de téléchargement" in body

        assert bot.poll().handled == 0 and len(bot.sent()) == 1  # marked: not seen again


@pytest.fixture
def small_limit(tmp_path, dovecot, smtp_sink, monkeypatch):
    """A bot whose limit is 1 MB, so that the path of a message too large costs little."""
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, limit=2, extra="max_message_mb = 1")


def too_large(**headers) -> bytes:
    return large_mail(os.urandom(MB), filename="photos.zip", content_type="application/zip", **headers)


def test_robots_our_own_mail_and_mail_without_sender_too_large_are_recorded_never_answered(small_limit):
    bot = small_limit
    bot.deliver(too_large(subject="Réponse automatique", headers="Auto-Submitted: auto-replied\r\n"))
    bot.deliver(too_large(sender="Cité éducative de Liévin <cite-educative@lievin.fr>"))
    bot.deliver(too_large(sender="MAILER-DAEMON <mailer-daemon@example.org>"))
    bot.deliver(too_large(sender=""))
    assert bot.poll().handled == 4
    # An empty From is a null sender: a robot's, like the others (mailboxes.md, "Robots").
    assert [(m.classification, m.outcome) for m in bot.inbound()] == [("automatique", "enregistre")] * 4
    assert all(m.detail["size"] > MB for m in bot.inbound())
    assert bot.sent() == [] and all(m["flags"] == {"$CitebotDone"} for m in bot.mailbox())


def test_answers_to_messages_too_large_count_with_the_format_replies(small_limit):
    bot = small_limit  # at most 2 such answers a day per sender
    bot.deliver(mail(subject="Notre projet", attachments=[("projet.pdf", b"%PDF-1.7 ...", "application/pdf")]))
    bot.deliver(too_large())
    bot.deliver(too_large())
    bot.poll()
    assert [(m.classification, m.outcome) for m in bot.inbound()] == [
        ("format_incorrect", "reponse_envoyee"), ("trop_volumineux", "reponse_envoyee"),
        ("trop_volumineux", "limite_atteinte")]
    assert [m["X-Citebot-Kind"] for m in bot.sent()] == ["format_incorrect", "message_trop_volumineux"]
    assert len(bot.mailbox()) == 3 and all("$CitebotDone" in m["flags"] for m in bot.mailbox())


def test_a_message_too_large_found_again_is_only_marked(small_limit):
    raw = too_large()
    bot = small_limit
    bot.deliver(raw)
    bot.deliver(raw)  # the same message again (as after a UIDVALIDITY change): same header, same size
    report = bot.poll()
    assert (report.handled, report.skipped) == (1, 1)
    assert [(m.classification, m.outcome) for m in bot.inbound()] == [
        ("trop_volumineux", "reponse_envoyee"), ("doublon", "deja_traite")]
    assert len(bot.sent()) == 1


class CrashBeforeMark(Hooks):
    def before_mark(self, uid):
        raise RuntimeError("the process dies here")


def test_a_crash_before_marking_a_message_too_large_still_gives_one_answer(small_limit):
    bot = small_limit
    bot.deliver(too_large())
    with pytest.raises(RuntimeError):
        bot.poll(CrashBeforeMark())
    bot.rt.hooks = Hooks()
    poll_once(bot.rt)
    assert len(bot.inbound()) == 1 and len(bot.sent()) == 1
    assert [m["flags"] for m in bot.mailbox()] == [{"$CitebotDone"}]


def test_the_coordinators_digest_lists_a_message_too_large(small_limit):
    bot = small_limit
    bot.deliver(too_large(subject="Dossier complet avec photos"))
    bot.poll()
    assert send_digests(bot.rt, clock.today()) == 2
    bot.poll()
    [digest] = [m for m in bot.sent() if m["X-Citebot-Kind"] == "digest" and m["To"] == "l.marcq@lievin.fr"]
    assert "Dossier complet avec photos" in text(digest) and "trop volumineux pour être lu" in text(digest)


# -- the parts ----------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "shown"), [
    (40 * MB, "40\u00a0Mo"), (40 * MB + 1, "40,1\u00a0Mo"), (int(62.94 * MB), "63\u00a0Mo"),
    (int(62.91 * MB), "63\u00a0Mo"), (int(62.89 * MB), "62,9\u00a0Mo"), (1234 * MB, "1\u202f234\u00a0Mo"),
])
def test_sizes_are_written_in_mo_the_french_way_rounded_up(size, shown):
    assert megaoctets(size) == shown


def test_the_new_mail_can_be_held_back_by_the_outbox(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, extra='[outbox]\nhold = ["message_trop_volumineux"]')
    assert load_config(bot.rt.cfg.path).outbox.hold == ("message_trop_volumineux",)
