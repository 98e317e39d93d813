"""Text the sender controls, through a real poll on Dovecot, aiosmtpd and SQLite (security.md, "Who the
bot writes to, and how much"): a megabyte intitulé costs linear time and gives subjects of one line, cut
at 100 characters; control and bidirectional characters reach no subject, body, digest or export."""

from __future__ import annotations

import random
import string
import time

import pytest
from bot_harness import make_bot
from mail_factory import mail, school_time_fiche

from bot import clock
from bot.dossier.digest import send_digests

WORDS = "Lecture partagée au CP " * 100_000
# One word of 1 MB that does not compress 200 times (a zip bomb's ratio: the reader would refuse the file).
ONE_WORD = "".join(random.Random(10).choices(string.ascii_letters, k=1_000_000))


@pytest.fixture
def bot(tmp_path, dovecot, smtp_sink, monkeypatch):
    return make_bot(tmp_path, dovecot, smtp_sink, monkeypatch)


def sent_of(bot, kind):
    return [m for m in bot.sent() if m["X-Citebot-Kind"] == kind]


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("intitule", [WORDS[:1_000_000].strip(), WORDS[:2_000_000].strip(), ONE_WORD],
                         ids=["1MB", "2MB", "1MB-one-word"])
def test_a_megabyte_intitule_is_polled_in_seconds_and_cut_at_100_characters_in_every_subject(bot, intitule):
    bot.deliver(mail(sender="karim.benali@ac-lille.fr", to="chloe.dulieux@ac-lille.fr",
                     attachments=[("lecture.docx", school_time_fiche(intitule=intitule))]), to="en")
    started = time.perf_counter()
    report = bot.poll()
    elapsed = time.perf_counter() - started
    assert report.handled == 1 and report.sending.sent == 2
    # Before: 57 s for 1 MB, minutes for 2 MB (the stdlib's header parser and folder are quadratic).
    assert elapsed < 5, f"the poll took {elapsed:.1f} s"
    [dossier] = bot.dossiers()
    assert dossier.current.fields["intitule"] == intitule  # the dossier keeps it whole
    send_digests(bot.rt, clock.today())
    bot.poll()

    for delivery in bot.sink.received:
        assert all(len(line) < 998 for line in delivery.data.split(b"\n"))
    for message in bot.sent():
        assert len(message["Subject"]) < 998
    for kind, before in (("accuse_reception", f"[{dossier.reference}] Fiche projet reçue : "),
                         ("avis_demande", f"[{dossier.reference}] Demande d'avis — ")):
        [message] = sent_of(bot, kind)
        subject = one_line(message["Subject"])  # the stdlib unfolds an encoded word with one space more
        assert subject.startswith(before)
        shown = subject[len(before):].split(" (code ")[0]
        assert len(shown) <= 100 and shown.endswith("…")
        assert intitule.startswith(shown[:-1])
        if " " in intitule:  # cut on a word boundary
            assert intitule[len(shown) - 1] == " "
        assert one_line(intitule) in one_line(message.get_body(("plain",)).get_content())  # whole in the body
    [digest] = sent_of(bot, "digest")
    assert len(digest["Subject"]) < 998
