"""`[[mailbox]] mode`: a coordinator's own inbox (`personnel`) against an address
for the call only (`dedie`), on the real Dovecot, SMTP sink and SQLite file
(mailboxes.md, "Two modes")."""

from __future__ import annotations

import re

import pytest
from bot_harness import make_bot
from mail_factory import fiche_bytes, mail

from bot.dossier.relevance import Candidate, about_the_call, load_call_words

PDF = b"%PDF-1.7\n% minutes\n"


def odj_docx() -> bytes:
    import io

    from docx import Document

    doc = Document()
    doc.add_heading("Ordre du jour – réunion REP", 1)
    doc.add_paragraph("1. Calendrier des évaluations\n2. Sortie scolaire\n3. Questions diverses")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def the_inbox() -> dict[str, bytes]:
    """A coordinator's morning: colleagues, a newsletter and two porteurs."""
    return {
        "colleague": mail(sender="Paul Lefebvre <paul.lefebvre@ac-lille.fr>", subject="Réunion REP jeudi",
                          body="Bonjour Chloé,\nOn se retrouve jeudi à 14 h en salle 3 ?\nPaul"),
        "minutes": mail(sender="Secrétariat <secretariat.rep@ac-lille.fr>", subject="Compte rendu du conseil école-collège",
                        body="Bonjour,\nVous trouverez le compte rendu ci-joint.\nBonne journée",
                        attachments=[("CR conseil 12-11.pdf", PDF, "application/pdf")]),
        "agenda": mail(sender="Paul Lefebvre <paul.lefebvre@ac-lille.fr>", subject="Ordre du jour",
                       body="Voici l'ordre du jour.", attachments=[("odj.docx", odj_docx())]),
        "newsletter": mail(sender="La Lettre <lettre@education.gouv.fr>", subject="La lettre de l'éducation n° 1107",
                           body="Les actualités de la semaine.", headers={"List-Id": "<lettre.education.gouv.fr>",
                                                                         "List-Unsubscribe": "<mailto:u@x.fr>"}),
        "fiche": mail(attachments=[("Fiche projet.docx", fiche_bytes())]),
        "fiche_pdf": mail(sender="Julie Petit <julie.petit@example.org>", subject="Candidature appel à projets",
                          body="Bonjour,\nVoici notre projet.\nJulie Petit",
                          attachments=[("Notre projet.pdf", PDF, "application/pdf")]),
    }


def deliver_all(bot) -> dict[str, int]:
    return {name: bot.deliver(raw) for name, raw in the_inbox().items()}


def answered(bot) -> dict[str, str]:
    """The kind of each mail sent, by the name of the message that caused it."""
    by_uid = {m.id: m.uid for m in bot.inbound()}
    return {by_uid[r.inbound_id]: r.kind for r in bot.outbox() if r.inbound_id}


def stored_raw(bot) -> list:
    folder = bot.rt.cfg.bot.data_dir / "messages"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_personnel_inbox_answers_only_the_mail_about_the_call(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, mode="personnel")
    uids = deliver_all(bot)
    report = bot.poll()
    assert report.ok and report.handled == 6

    kinds = answered(bot)
    assert kinds == {str(uids["fiche"]): "accuse_reception", str(uids["fiche_pdf"]): "format_incorrect"}
    assert len(bot.sink.received) == 2
    assert len(bot.dossiers()) == 1
    assert len(stored_raw(bot)) == 2  # the two messages about the call, nothing else
    for message in bot.mailbox():
        assert "\\Seen" not in message["flags"] and "$CitebotDone" in message["flags"]


def test_nothing_personal_is_kept_of_mail_that_is_not_about_the_call(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, mode="personnel")
    uids = deliver_all(bot)
    bot.poll()
    private = {str(uids[n]) for n in ("colleague", "minutes", "agenda", "newsletter")}
    rows = [m for m in bot.inbound() if m.uid in private]
    assert len(rows) == 4
    for row in rows:
        assert (row.classification, row.outcome) == ("hors_appel", "ignore")
        assert row.from_addr is None and row.subject == "" and row.message_id is None
        assert row.raw_path == "" and row.detail == {}
        assert re.fullmatch(r"[0-9a-f]{64}", row.sha256)
    documents = bot.rt.cfg.bot.data_dir / "documents"
    names = [p.name for p in documents.rglob("*") if p.is_file()] if documents.exists() else []
    assert not any("odj" in n or "CR conseil" in n for n in names)


def test_a_personnel_inbox_reads_nothing_twice(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, mode="personnel")
    deliver_all(bot)
    bot.poll()
    again = bot.poll()
    assert again.handled == 0 and len(bot.inbound()) == 6 and len(bot.sink.received) == 2


def test_the_same_inbox_in_dedie_mode_answers_every_human(tmp_path, dovecot, smtp_sink, monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, mode="dedie", limit=10)
    uids = deliver_all(bot)
    bot.poll()
    kinds = answered(bot)
    assert kinds == {
        str(uids["colleague"]): "format_incorrect",
        str(uids["minutes"]): "format_incorrect",
        str(uids["agenda"]): "fiche_non_reconnue",
        str(uids["fiche"]): "accuse_reception",
        str(uids["fiche_pdf"]): "format_incorrect",
    }  # the newsletter is a robot's: never answered
    assert len(stored_raw(bot)) == 6


def test_a_reply_to_our_mail_counts_in_a_personnel_inbox_even_without_attachment(tmp_path, dovecot, smtp_sink,
                                                                               monkeypatch):
    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, mode="personnel")
    bot.deliver(mail(attachments=[("Fiche projet.docx", fiche_bytes())]))
    bot.poll()
    [ack] = bot.outbox()
    [dossier] = bot.dossiers()
    bot.deliver(mail(subject="Re: merci", body="Merci, bien reçu.", in_reply_to=ack.message_id))
    bot.deliver(mail(subject=f"Question sur {dossier.reference}", body="Quand aurons-nous la réponse ?"))
    bot.poll()
    outcomes = [(m.classification, m.outcome) for m in bot.inbound()[1:]]
    assert outcomes == [("courrier", "courrier_rattache")] * 2


# -- the pure classifier ---------------------------------------------------------


def pdf(name: str) -> Candidate:
    return Candidate(name, is_fiche=False, is_failed_word=False)


@pytest.mark.parametrize("subject, text, files, expected", [
    ("Réunion REP jeudi", "On se retrouve jeudi ?", [], None),
    ("Compte rendu du conseil", "Ci-joint le compte rendu.", [pdf("CR conseil.pdf")], None),
    ("Ordre du jour", "", [Candidate("odj.docx", False, True)], None),
    ("Candidature appel à projets", "", [pdf("Notre projet.pdf")], "wrong_format"),
    ("Document", "", [pdf("Fiche_projet-École.pdf")], "wrong_format"),
    ("Document", "Bonjour,\nVoici notre FICHE PROJET pour la Cité éducative.", [pdf("scan.pdf")], "wrong_format"),
    ("Projet lecture", "", [pdf("photo.jpg")], None),  # an image alone is no wrong-format fiche
    ("Bonjour", "", [Candidate("Les petits reporters.docx", True, False)], "fiche"),
    ("TR: (fiche) école", "", [Candidate("x.odt", False, False)], "wrong_format"),
])
def test_what_counts_as_about_the_call(subject, text, files, expected):
    assert about_the_call(subject=subject, text=text, files=files, refers_to_us=False,
                          status_request=False) == expected


def test_a_reference_or_a_status_request_counts_without_any_file():
    assert about_the_call(subject="x", text="", files=[], refers_to_us=True, status_request=False) == "ours"
    assert about_the_call(subject="x", text="", files=[], refers_to_us=False, status_request=True) == "status"


def test_the_call_words_are_data_and_matched_whole():
    words = load_call_words()
    assert words.used_in("CANDIDATURE – Cité Éducative") and words.used_in("appel-à-projets 2026")
    assert not words.used_in("projection du film")  # "projet" whole words only
    assert not words.used_in("x" * 10_000 + " fiche")  # a hostile subject is read for its start only


def test_a_personnel_inbox_answers_a_message_too_large_only_when_its_header_is_about_the_call(
        tmp_path, dovecot, smtp_sink, monkeypatch):
    import os

    from mail_factory import large_mail

    bot = make_bot(tmp_path, dovecot, smtp_sink, monkeypatch, mode="personnel", extra="max_message_mb = 1")
    photos = os.urandom(1_200_000)
    kermesse = bot.deliver(large_mail(photos, filename="kermesse.zip", content_type="application/zip",
                                      sender="Paul <paul.lefebvre@ac-lille.fr>", subject="Photos de la kermesse"))
    fiche = bot.deliver(large_mail(photos, subject="Fiche projet et photos"))
    bot.poll()
    rows = {int(m.uid): m for m in bot.inbound()}
    assert (rows[kermesse].classification, rows[kermesse].outcome) == ("hors_appel", "ignore")
    assert rows[kermesse].from_addr is None and rows[kermesse].detail == {}
    assert (rows[fiche].classification, rows[fiche].outcome) == ("trop_volumineux", "reponse_envoyee")
    assert [r.rcpt_tos for r in bot.sink.received] == [["camille.martin@example.org"]]
