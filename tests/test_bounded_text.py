"""Text the sender controls, through a real poll on Dovecot, aiosmtpd and SQLite (security.md, "Who the
bot writes to, and how much"): a megabyte intitulé costs linear time and gives subjects of one line, cut
at 100 characters; control and bidirectional characters reach no subject, body, digest or export."""

from __future__ import annotations

import csv
import random
import string
import time

import openpyxl
import pytest
from bot_harness import make_bot
from click.testing import CliRunner
from mail_factory import fiche_bytes, mail, school_time_fiche

from bot import clock
from bot.cli import main
from bot.dossier.digest import send_digests

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# CR LF ends every line of a mail, as the stdlib gives a text part back: not a character of its text.
CONTROLS = "".join(chr(c) for c in (*range(0x20), *range(0x7f, 0xa0)) if chr(c) not in "\t\n\r")
UNSAFE = set(BIDI + CONTROLS)
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
    # 57 s for 1 MB and 191 s for 2 MB before: the stdlib's header parser and folder are quadratic.
    assert elapsed < 5, f"the poll took {elapsed:.1f} s"
    [dossier] = bot.dossiers()
    assert dossier.current.fields["intitule"] == intitule  # the dossier keeps it whole
    send_digests(bot.rt, clock.today())
    bot.poll()

    for delivery in bot.sink.received:
        assert all(len(line) < 998 for line in delivery.data.split(b"\n"))
    for message in bot.sent():
        assert len(message["Subject"]) < 998
    for kind, before in (("accuse_reception", f"[{dossier.reference}] Fiche projet complète — "),
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


def unsafe_in(text: str) -> set[str]:
    return {f"U+{ord(c):04X}" for c in text if c in UNSAFE}


def everything_written(message) -> str:
    """The decoded header values, the text of every text part and the attachments' names."""
    parts = [str(value) for _, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
        if part.get_filename():
            parts.append(part.get_filename())
    return "\n".join(parts)


def test_bidi_and_control_characters_reach_no_subject_body_digest_or_export(bot, tmp_path):
    intitule = "Atelier \u202eedoc.exe\u202c lecture\u009b31m \u200fpartagée\u0085du soir"
    structure = "Association \u2066Lire\u2069 et \u061cDire\u200e\u009d"
    fiche = fiche_bytes(intitule=intitule, structure=structure)
    bot.deliver(mail(attachments=[("fiche.docx", fiche)]))
    bot.deliver(mail(subject="Projet \u202eterces\u202c de l'école", body="Bonjour \u202e\x1b[2J"))  # no fiche
    bot.poll()
    bot.deliver(mail(subject="Ma fiche, à nouveau", attachments=[("fiche.docx", fiche)]))  # already received
    bot.poll()
    [dossier] = bot.dossiers()
    assert "\u202e" in dossier.current.fields["intitule"]  # what the porteur wrote is kept as written
    assert send_digests(bot.rt, clock.today()) == 2
    bot.poll()

    kinds = [m["X-Citebot-Kind"] for m in bot.sent()]
    assert sorted(kinds) == ["accuse_reception", "deja_recu", "digest", "digest", "format_incorrect"]
    for message in bot.sent():
        assert not unsafe_in(everything_written(message)), message["X-Citebot-Kind"]
    [ack] = sent_of(bot, "accuse_reception")
    assert one_line(ack["Subject"]).endswith(" — Atelier edoc.exe lecture31m partagée du soir")
    assert "Association Lire et Dire" in ack.get_body(("plain",)).get_content()
    assert "Projet terces de l'école" in sent_of(bot, "format_incorrect")[0].get_body(("plain",)).get_content()
    for digest in sent_of(bot, "digest"):
        text, html = (digest.get_body((kind,)).get_content() for kind in ("plain", "html"))
        assert not unsafe_in(text + html)
        assert "Atelier edoc.exe lecture31m" in text + html and "Projet terces" in text + html

    env = {"TEST_EN_PASSWORD": bot.en.password, "TEST_VILLE_PASSWORD": bot.ville.password}
    for name in ("dossiers.xlsx", "dossiers.csv"):
        result = CliRunner().invoke(main, ["--config", str(bot.rt.cfg.path), "export", str(tmp_path / name)],
                                    env=env)
        assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "dossiers.xlsx")
    cells = [str(c.value) for sheet in book for r in sheet.iter_rows() for c in r if c.value is not None]
    assert not unsafe_in("\n".join(cells)) and "Association Lire et Dire" in cells
    with open(tmp_path / "dossiers.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert not unsafe_in("\n".join(";".join(r) for r in rows)) and "Association Lire et Dire" in rows[1]
