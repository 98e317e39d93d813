"""winmail.dat (TNEF), attached Outlook messages (.msg) and .zip files are opened by
bot/mail/parse.py: their files are attachments of the message, as if attached directly;
what cannot be opened stays one attachment that says why (issue 14)."""

from __future__ import annotations

import io
import os
import re
import struct
import time
import zipfile
from pathlib import Path

import compressed_rtf
import pytest
import tnefparse
from mail_factory import DOCX, fiche_bytes, mail
from msg_factory import msg
from oxmsg import Message
from tnef_factory import (
    ATT_ATTACH_DATA,
    ATT_ATTACH_REND_DATA,
    ATT_ATTACHMENT,
    ATT_BODY,
    LEVEL_ATTACHMENT,
    LEVEL_MESSAGE,
    attribute,
    tnef,
)
from zip_factory import encrypted_zip, plain_zip, windows_zip

from bot.mail import containers
from bot.mail.parse import parse_message, safe_filename

CORPUS = (Path(__file__).resolve().parents[3] / "shared" / "corpus" / "mail-realworld" / "tnef").resolve()
STREAMS = sorted(CORPUS.glob("*.tnef")) if CORPUS.is_dir() else []
TNEF_TYPE = "application/ms-tnef"
EIGHT_DOT_THREE = re.compile(r"~\d")
FICHE = fiche_bytes()  # once: a .docx holds the time it was written


def names(message) -> list[str]:
    return [a.filename for a in message.attachments]


def with_winmail(data: bytes, body: str = "") -> bytes:
    return mail(body=body, attachments=[("winmail.dat", data, TNEF_TYPE)])


# -- TNEF ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", STREAMS or [None], ids=[p.name for p in STREAMS] or ["corpus-missing"])
def test_each_tnef_stream_of_the_corpus_is_opened_under_its_long_file_names(path):
    if path is None:
        message = f"the TNEF corpus is missing: no .tnef under {CORPUS}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: it must be there)")
        pytest.skip(message)
    data = path.read_bytes()
    decoded = tnefparse.TNEF(data, do_checksum=False)
    files = [a for a in decoded.attachments if not hasattr(a, "embed")]

    message = parse_message(with_winmail(data))

    if not (decoded.attachments or decoded.has_body()):  # nothing readable: kept, and the answer says so
        assert [(a.filename, a.unopened) for a in message.attachments] == [("winmail.dat", "damaged")]
        return
    assert "winmail.dat" not in names(message)
    assert names(message) == [safe_filename(a.long_filename()) for a in files]
    assert [a.data for a in message.attachments] == [a.data for a in files]
    for attachment, original in zip(message.attachments, files):
        title = original.name  # the 8.3 title, when Outlook wrote one
        if EIGHT_DOT_THREE.search(title):
            assert attachment.filename != title and not EIGHT_DOT_THREE.search(attachment.filename)


def test_outlook_s_short_titles_are_never_the_names():
    if not STREAMS:
        pytest.fail(f"the TNEF corpus is missing under {CORPUS}") if os.environ.get("CI") == "true" else pytest.skip()
    message = parse_message(with_winmail((CORPUS / "MAPI_ATTACH_DATA_OBJ.tnef").read_bytes()))
    assert names(message) == ["VIA_Nytt_1402.doc", "VIA_Nytt_1402.pdf", "VIA_Nytt_14021.htm"]
    message = parse_message(with_winmail((CORPUS / "umlaut.tnef").read_bytes()))
    assert names(message) == ["TBZ PARIV GmbH.jpg", "image003.jpg", "UmlautAnhang-äüö.txt"]


def test_the_body_inside_winmail_dat_is_the_text_when_the_mime_message_has_none():
    if not STREAMS:
        pytest.fail(f"the TNEF corpus is missing under {CORPUS}") if os.environ.get("CI") == "true" else pytest.skip()
    html_body = parse_message(with_winmail((CORPUS / "body.tnef").read_bytes()))
    assert html_body.text.startswith("THE BILL OF RIGHTS")
    rtf_body = parse_message(with_winmail((CORPUS / "MAPI_ATTACH_DATA_OBJ.tnef").read_bytes()))
    assert rtf_body.text.startswith("Det er jo en velkjent sak at bodødamene")
    mime_text = parse_message(with_winmail((CORPUS / "body.tnef").read_bytes(), body="Voir la pièce jointe."))
    assert mime_text.text == "Voir la pièce jointe."


def test_the_tnef_encoder_of_the_tests_round_trips_through_tnefparse():
    fiche = FICHE
    data = tnef([("Fiche projet école.docx", fiche, DOCX), ("budget prévisionnel.pdf", b"%PDF-1.4", "")],
                body="Bonjour, voici la fiche.")
    decoded = tnefparse.TNEF(data, do_checksum=True)
    assert all(obj.good_checksum for obj in decoded.objects)
    assert [a.long_filename() for a in decoded.attachments] == ["Fiche projet école.docx", "budget prévisionnel.pdf"]
    assert [a.name for a in decoded.attachments] == ["FICHEP~1.DOC", "BUDGET~1.PDF"]
    assert decoded.attachments[0].data == fiche and decoded.body == b"Bonjour, voici la fiche."

    message = parse_message(with_winmail(data))
    assert names(message) == ["Fiche projet école.docx", "budget prévisionnel.pdf"]
    assert message.attachments[0].data == fiche and message.attachments[0].content_type == DOCX
    assert message.attachments[1].content_type == "application/pdf"


def test_a_compressed_rtf_body_is_read_as_text():
    rtf = rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Calibri;}}\f0 Bonjour,\par voici la fiche projet de l'\'e9cole.\par}"
    message = parse_message(with_winmail(tnef([("a.pdf", b"%PDF", "")], compressed_rtf=compressed_rtf.compress(rtf))))
    assert message.text == "Bonjour,\nvoici la fiche projet de l'école."


def test_a_damaged_winmail_dat_stays_an_attachment_that_says_so():
    broken = tnef()[:6] + attribute(LEVEL_ATTACHMENT, ATT_ATTACH_DATA, b"no attachment started")
    message = parse_message(with_winmail(broken))
    [kept] = message.attachments
    assert (kept.filename, kept.container, kept.unopened, kept.data) == ("winmail.dat", "tnef", "damaged", broken)
    [garbage] = parse_message(with_winmail(b"\x00" * 64)).attachments
    assert (garbage.container, garbage.unopened) == ("tnef", "damaged")


RECIPIENTS = 0x00069004


def attachment_properties(data: bytes) -> bytes:
    start = tnef()  # a stream, then one attachment started by attAttachRendData
    return start + attribute(LEVEL_ATTACHMENT, ATT_ATTACH_REND_DATA, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0)) \
        + attribute(LEVEL_ATTACHMENT, ATT_ATTACHMENT, data)


@pytest.mark.parametrize("stream", [
    attachment_properties(struct.pack("<I", 0xFFFFFFFF)),
    attachment_properties(struct.pack("<IHHI", 1, 0x1002, 0x0001, 0x7FFFFFFF)),  # multi-valued 16-bit integers
    tnef() + attribute(LEVEL_MESSAGE, RECIPIENTS, struct.pack("<II", 1, 0xFFFFFFFF)),
    tnef() + attribute(LEVEL_MESSAGE, ATT_BODY, b"") * 200_000,
], ids=["properties", "multi-values", "recipients", "attributes"])
def test_a_hostile_tnef_stream_is_refused_at_once(stream):
    start = time.perf_counter()
    [kept] = parse_message(with_winmail(stream)).attachments
    assert kept.unopened in ("damaged", "too_many") and kept.filename == "winmail.dat"
    assert time.perf_counter() - start < 2  # tnefparse alone loops for hours on these


def test_a_zip_declaring_too_many_records_is_refused_before_they_are_read():
    records = plain_zip([(f"{i}/", b"") for i in range(containers.MAX_ZIP_RECORDS + 1)])
    [kept] = parse_message(mail(attachments=[("dossiers.zip", records, "application/zip")])).attachments
    assert kept.unopened == "too_many"


# -- Outlook .msg -----------------------------------------------------------------------


def test_the_msg_writer_of_the_tests_round_trips_through_python_oxmsg():
    data = msg("Fiche projet", "Bonjour", [("Fiche projet école.docx", FICHE, DOCX)])
    read = Message.load(data)
    assert (read.subject, read.body) == ("Fiche projet", "Bonjour")
    assert [(a.file_name, a.file_bytes, a.mime_type) for a in read.attachments] == [
        ("Fiche projet école.docx", FICHE, DOCX)]


def test_an_attached_outlook_message_is_opened_like_a_forwarded_one():
    fiche = FICHE
    outlook = msg("Fiche projet", "Bonjour", [("Fiche projet école.docx", fiche, DOCX)],
                  messages=[{"subject": "Budget", "body": "Le budget", "files": [("budget.pdf", b"%PDF-1.4", "")]}])
    message = parse_message(mail(attachments=[("Fiche projet.msg", outlook, "application/vnd.ms-outlook")]))
    assert [(a.filename, a.forwarded_depth) for a in message.attachments] == [
        ("Fiche projet école.docx", 1), ("budget.pdf", 2)]
    assert message.attachments[0].data == fiche
    assert message.text == "Bonjour,\nVeuillez trouver ci-joint notre fiche projet.\nCordialement"

    within_one_level = parse_message(mail(attachments=[("x.msg", outlook, "application/octet-stream")]), max_depth=1)
    assert names(within_one_level) == ["Fiche projet école.docx"]
    assert names(parse_message(mail(attachments=[("x.msg", outlook)]), max_depth=0)) == []


def test_a_word_97_document_is_not_taken_for_an_outlook_message():
    doc = msg("x", "y")[:8] + b"\x00" * 600  # an OLE file without the streams of a message
    message = parse_message(mail(attachments=[("ancienne fiche.doc", doc, "application/msword")]))
    assert [(a.filename, a.container, a.unopened) for a in message.attachments] == [("ancienne fiche.doc", "", "")]


# -- zip --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding, flag", [("cp850", False), ("cp437", False), ("utf-8", True), ("utf-8", False)],
                         ids=["french-windows", "us-windows", "utf8-flagged", "macos"])
def test_zip_names_come_back_as_written(encoding, flag):
    name = "Annexe À compléter.pdf" if encoding != "cp437" else "Fiche projet école.docx"
    archive = windows_zip([(f"Dossier compressé/{name}", b"%PDF-1.4")], encoding=encoding, utf8_flag=flag)
    message = parse_message(mail(attachments=[("Fiche projet.zip", archive, "application/x-zip-compressed")]))
    assert names(message) == [name]


def test_an_empty_zip_is_said_empty():
    [kept] = parse_message(mail(attachments=[("fiche.zip", plain_zip([]), "application/zip")])).attachments
    assert (kept.container, kept.unopened) == ("zip", "empty")


def test_paths_inside_a_zip_are_only_names():
    archive = windows_zip([("../../../../etc/Fiche projet.docx", b"PK"), ("/tmp/absolu.pdf", b"%PDF"),
                           ("C:\\Users\\camille\\budget.xlsx", b"PK"), ("dossier/", b""),
                           ("__MACOSX/._budget.xlsx", b"\x00"), ("Thumbs.db", b"\x00")])
    message = parse_message(mail(attachments=[("pieces.zip", archive, "application/zip")]))
    assert names(message) == ["Fiche projet.docx", "absolu.pdf", "budget.xlsx"]


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    bomb = plain_zip([("fiche.docx", bytes(50 * 1024 * 1024))])  # 50 MB of zeros in about 50 kB
    assert len(bomb) < 200_000
    [kept] = parse_message(mail(attachments=[("fiche.zip", bomb, "application/zip")])).attachments
    assert (kept.container, kept.unopened, kept.data) == ("zip", "damaged", bomb)


def test_an_encrypted_zip_is_refused_with_its_reason():
    archive = encrypted_zip([("fiche.docx", FICHE)])
    probe = zipfile.ZipFile(io.BytesIO(archive))
    probe.setpassword(b"motdepasse")
    assert probe.read("fiche.docx") == FICHE  # a real encrypted zip
    [kept] = parse_message(mail(attachments=[("fiche.zip", archive, "application/zip")])).attachments
    assert (kept.filename, kept.container, kept.unopened) == ("fiche.zip", "zip", "encrypted")


def test_a_zip_inside_a_zip_is_opened_and_one_level_more_is_not():
    inner = plain_zip([("Fiche projet.docx", b"PK fiche")])
    middle = plain_zip([("niveau2.zip", inner), ("annexe.pdf", b"%PDF")])
    outer = plain_zip([("niveau1.zip", middle)])
    two = parse_message(mail(attachments=[("niveau1.zip", middle, "application/zip")]))
    assert names(two) == ["Fiche projet.docx", "annexe.pdf"]
    three = parse_message(mail(attachments=[("niveau0.zip", outer, "application/zip")]))
    assert [(a.filename, a.unopened) for a in three.attachments] == [("niveau2.zip", "too_deep"), ("annexe.pdf", "")]


def test_the_limits_of_a_message_apply_to_what_its_containers_hold():
    too_many = plain_zip([(f"photo{i}.jpg", b"\xff\xd8") for i in range(containers.MAX_ENTRIES + 1)])
    [kept] = parse_message(mail(attachments=[("photos.zip", too_many, "application/zip")])).attachments
    assert kept.unopened == "too_many"

    sparse = bytes(300_000)  # a small zip, an entry over the limit (and under the size where ratios count)
    message = parse_message(mail(attachments=[("a.zip", plain_zip([("video.mp4", sparse), ("fiche.docx", b"PK")]),
                                                "application/zip")]), max_attachment_bytes=200_000)
    assert [(a.filename, a.too_large, a.size) for a in message.attachments] == [
        ("video.mp4", True, 300_000), ("fiche.docx", False, 2)]

    big = os.urandom(300_000)
    budget = containers.Budget(500_000)
    archive = plain_zip([("a.bin", big), ("b.bin", big)])
    with pytest.raises(containers.CannotOpen) as refused:
        containers.open_zip(archive, budget, 20 * 1024 * 1024)
    assert refused.value.reason == "too_large"


def test_a_docx_is_never_opened_as_a_zip():
    message = parse_message(mail(attachments=[("Fiche projet.docx", FICHE, "application/zip")]))
    assert [(a.filename, a.container, a.data) for a in message.attachments] == [
        ("Fiche projet.docx", "", FICHE)]


def test_a_winmail_dat_inside_a_zip_inside_an_outlook_message_is_still_found():
    fiche = FICHE
    archive = plain_zip([("winmail.dat", tnef([("Fiche projet.docx", fiche, DOCX)]))])
    outlook = msg("Fiche", "Bonjour", [("pieces.zip", archive, "application/zip")])
    message = parse_message(mail(attachments=[("Fiche.msg", outlook, "application/vnd.ms-outlook")]))
    assert [(a.filename, a.data == fiche, a.forwarded_depth) for a in message.attachments] == [
        ("Fiche projet.docx", True, 1)]
