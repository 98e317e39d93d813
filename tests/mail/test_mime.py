"""bot.mail.mime writes what the stdlib reads back as written: headers, texts and files."""

from __future__ import annotations

import re
from email import message_from_bytes, message_from_string, policy

import pytest

from bot.mail import mime
from bot.mail.mime import Part

SUBJECTS = [
    "[CE-2026-0001] Fiche projet reçue : Atelier « radio » au collège",
    "Plain ASCII subject",
    "Un mot =?utf-8?q?x?= qui ressemble à un mot encodé",
    "Émoji 🎨 et accents éèàç " + "très long " * 20,
    "espaces  doubles  conservés",
    "x" * 66 + "  " + "y" * 10,  # a double space where the line is folded: never a blank line
]


def read(raw: bytes):
    """As a client reads it; raw UTF-8 header fields (SMTPUTF8) are read as UTF-8."""
    if not raw.isascii():
        return message_from_string(raw.decode("utf-8"), policy=policy.default)
    return message_from_bytes(raw, policy=policy.default)


def lines_of(raw: bytes) -> list[bytes]:
    assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends with CRLF"
    return raw.split(b"\r\n")


@pytest.mark.parametrize("utf8", [False, True])
@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_subject_comes_back_as_written_and_folded(subject, utf8):
    raw = mime.message([("Subject", subject)], [Part("text/plain", "x\n")], [], utf8=utf8)
    assert read(raw)["Subject"] == subject
    head = raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= mime.LINE and line.strip() for line in lines_of(head))  # never a line of spaces
    assert head.isascii() != (utf8 and not subject.isascii())  # UTF-8 as is only under SMTPUTF8


def test_names_with_accents_and_specials_and_an_address_with_accents():
    raw = mime.message([("From", mime.addresses(['"Cité éducative, Liévin" <cite@lievin.fr>'])),
                        ("To", mime.addresses(["josé.garcía@exemple.fr", "a@example.org"]))],
                       [Part("text/plain", "x\n")], [], utf8=True)
    message = read(raw)
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Cité éducative, Liévin", "cite@lievin.fr")
    assert [a.addr_spec for a in message["To"].addresses] == ["josé.garcía@exemple.fr", "a@example.org"]


def test_a_text_with_long_lines_trailing_spaces_and_dots_comes_back_intact():
    text = ("Bonjour,\n\n" + "é" * 300 + "\nligne avec espace final \n.\nFrom here\n\ttab\n🎨 fin\n")
    html = "<p>Bonjour « vous »</p>\n"
    raw = mime.message([("Subject", "s")], [Part("text/plain", text), Part("text/html", html)], [])
    assert all(len(line) <= 76 for line in lines_of(raw))
    message = read(raw)
    assert message.get_content_type() == "multipart/alternative"
    # Quoted-printable's line breaks are CRLF on the wire and once decoded (as the stdlib's own).
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == html


@pytest.mark.parametrize("name", [
    "fiche.docx", "Fiche projet école.docx", 'nom "guillemets" \\ barre.pdf',
    "Autorisation de captation et d'utilisation de l'image d'une personne mineure — école Jaurès.docx",
    "x" * 150 + ".docx",
])
def test_attachments_come_back_with_their_names_and_bytes(name):
    data = bytes(range(256)) * 300
    raw = mime.message([("Subject", "s")], [Part("text/plain", "corps\n")],
                       [Part("application/pdf", data, name), Part("application/octet-stream", b"", "vide.bin")])
    assert all(len(line) <= mime.LINE for line in lines_of(raw))
    message = read(raw)
    assert message.get_content_type() == "multipart/mixed"
    first, empty = message.iter_attachments()
    assert (first.get_filename(), first.get_content(), first.get_content_type()) == (name, data, "application/pdf")
    assert (empty.get_filename(), empty.get_content()) == ("vide.bin", b"")
    assert message.get_body(("plain",)).get_content() == "corps\r\n"


def test_each_multipart_has_its_own_random_boundary():
    raw = mime.message([], [Part("text/plain", "a\n"), Part("text/html", "<p>a</p>\n")],
                       [Part("application/pdf", b"%PDF", "a.pdf")])
    boundaries = re.findall(rb'boundary="([^"]+)"', raw)
    assert len(set(boundaries)) == 2
    assert read(raw).defects == [] and all(not part.defects for part in read(raw).walk())


def test_a_line_break_in_a_value_never_starts_a_new_header_field():
    raw = mime.message([("Subject", "a\r\nBcc: victim@example.org")], [Part("text/plain", "x\n")], [])
    message = read(raw)
    assert message["Bcc"] is None and "victim@example.org" in message["Subject"]
