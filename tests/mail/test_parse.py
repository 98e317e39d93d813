"""Reading incoming mail: sender, subject, thread ids, automatic mail, text and
attachments, from the messages real clients send (tests/eml/) and from broken
or hostile ones. Whatever the input, parse_message answers and never raises.

The fixtures' attachments are fake files: b"PK\\x03\\x04…" followed by a label,
so that each test can tell which attachment it got (see `fake`).
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail.parse import (
    DEFAULT_FILENAME,
    Attachment,
    AutoMail,
    Incoming,
    decode_words,
    html_to_text,
    message_ids,
    parse_message,
    safe_filename,
)

EML = Path(__file__).resolve().parents[1] / "eml"
FIXTURES = sorted(EML.glob("*.eml"))
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PARIS_WINTER = timezone(timedelta(hours=1))


def fake(label: str) -> bytes:
    """The payload of the fixtures' fake .docx (and other) files."""
    return b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + label.encode() + b"\x00" * 6


def read(name: str, **options) -> Incoming:
    return parse_message((EML / name).read_bytes(), **options)


def names(message: Incoming) -> list[str]:
    return [a.filename for a in message.attachments]


def names_and_depths(message: Incoming) -> list[tuple[str, int]]:
    return [(a.filename, a.forwarded_depth) for a in message.attachments]


def test_the_fixtures_are_all_there():
    assert len(FIXTURES) >= 15


# -- ordinary messages ---------------------------------------------------------


def test_a_thunderbird_message_gives_sender_subject_text_and_the_docx():
    message = read("thunderbird_docx.eml")
    assert message.message_id == "<3f1c2a7e-9d2b-4c1e-8f00-1a2b3c4d5e6f@ac-lille.fr>"
    assert message.from_addr == "marie.dupont@ac-lille.fr"
    assert message.from_name == "Marie Dupont"
    assert message.to == ("projets@cite-educative-lievin.fr",)
    assert message.subject == "Fiche projet école Jean Jaurès — atelier lecture"
    assert message.date == datetime(2025, 3, 3, 9, 14, 27, tzinfo=PARIS_WINTER)
    assert message.text == (
        "Bonjour,\n\nVeuillez trouver ci-joint la fiche projet de l'école Jean Jaurès.\n\n"
        "Bien cordialement,\nMarie Dupont"
    )
    assert message.attachments == (
        Attachment("Fiche projet - Atelier lecture.docx", DOCX, fake("thunderbird"), 27, 0, False),
    )
    assert message.auto is None
    assert message.problems == ()


def test_headers_keep_the_first_raw_value_and_header_all_gives_every_one():
    message = read("thunderbird_docx.eml")
    assert message.headers["authentication-results"] == (
        "mx.cite-educative-lievin.fr;\tdkim=pass header.d=ac-lille.fr header.s=sel1;"
        "\tspf=pass smtp.mailfrom=ac-lille.fr"
    )
    assert message.header_all("Authentication-Results") == [
        message.headers["authentication-results"],
        "relay.example.net; dkim=none",
    ]
    assert message.header_all("X-Absent") == []
    assert message.headers["subject"].startswith("=?UTF-8?Q?Fiche_projet")  # raw, not decoded


def test_an_outlook_reply_gives_thread_ids_cc_reply_to_and_the_rfc2231_filename():
    message = read("outlook_rfc2231.eml")
    assert message.subject == "RE: [CE-2025-0042] Fiche projet incomplète"
    assert message.from_name == "Lefebvre, Julien"
    assert message.from_addr == "julien.lefebvre@lievin.fr"
    assert message.reply_to == "enfance@lievin.fr"
    assert message.cc == ("sophie.martin@ac-lille.fr", "francois.beranger@ac-lille.fr")
    assert message.message_id == (
        "<PR3P192MB08431A2B3C4D5E6F7A8B9C0DPR3P192MB0843@PR3P192MB0843.EURP192.PROD.OUTLOOK.COM>"
    )
    assert message.in_reply_to == "<CE-2025-0042.review.2@cite-educative-lievin.fr>"
    assert message.references == (
        "<CE-2025-0042.ack.1@cite-educative-lievin.fr>",
        "<CE-2025-0042.review.2@cite-educative-lievin.fr>",
    )
    assert names(message) == ["Fiche projet école.docx"]
    assert message.attachments[0].data == fake("outlook")


def test_the_plain_text_alternative_is_preferred_and_iso_8859_1_is_read_as_windows_1252():
    message = read("outlook_rfc2231.eml")
    assert message.text == (
        "Bonjour,\n\nVoici la version corrigée de la fiche projet.\n\n"
        "Cordialement,\nJulien Lefebvre\nService Enfance – Ville de Liévin"
    )


def test_x_auto_response_suppress_does_not_make_a_message_automatic():
    message = read("outlook_rfc2231.eml")
    assert message.headers["x-auto-response-suppress"] == "All"
    assert message.auto is None


def test_rfc2231_continuations_are_joined_and_apple_decomposed_accents_normalized():
    message = read("apple_rfc2231_continuations.eml")
    assert names(message) == ["Fiche projet école maternelle Louise Michel — année 2025.docx"]
    assert message.from_name == "Céline Lefèvre"
    assert message.message_id == "<8E2A1B3C-4D5E-6F70-8192-A3B4C5D6E7F8@orange.fr>"
    assert message.text == "Bonsoir,\nVoici notre fiche.\nCéline"


def test_an_rfc2047_latin1_name_parameter_names_the_attachment():
    message = read("rfc2047_latin1_name.eml")
    assert names(message) == ["fiche été.docx"]
    assert message.subject == "Fiche projet été 2025"
    assert message.message_id == "<000701db9402$5c3d1e20$0201a8c0@PCDIRECTION>"
    assert message.text == "Bonjour, ci-joint la fiche du séjour d'été."


def test_an_unknown_charset_is_read_as_latin1_and_noted():
    message = read("unknown_charset.eml")
    assert message.subject == "Réunion de rentrée"
    assert message.from_name == "Renée Caron"
    assert names(message) == ["compte rendu réunion.docx", "compte rendu réunion v2.docx"]
    assert message.text == "Compte rendu de la réunion, deux versions."
    assert message.problems == ("unknown charset 'x-unknown', read as UTF-8 or latin-1",)


def test_two_docx_are_two_attachments_in_message_order():
    message = read("two_docx.eml")
    assert names(message) == ["Fiche projet CP lecture.docx", "Fiche projet CM2 théâtre.docx"]
    assert [a.data for a in message.attachments] == [fake("cp"), fake("cm2")]
    assert message.message_id == "<CAF=xY2bqT0mJ7g+VxW3u9kQ8p_ZcN4=Ra5sLm6H1oEw@mail.gmail.com>"


def test_an_inline_image_without_a_name_is_not_an_attachment_but_the_pdf_is():
    message = read("inline_image_pdf.eml")
    assert [(a.filename, a.content_type) for a in message.attachments] == [
        ("Budget prévisionnel.pdf", "application/pdf")
    ]
    assert message.attachments[0].data.startswith(b"%PDF-1.7")
    assert message.text == "Ci-joint le budget prévisionnel.\n[logo de l'école]"
    assert message.from_name == "École Vallès"


def test_a_named_part_with_disposition_inline_is_an_attachment():
    message = read("outlook_inline_docx.eml")
    assert [(a.filename, a.content_type) for a in message.attachments] == [
        ("image001.png", "image/png"),  # Outlook's signature image: it has a name
        ("Fiche projet.docx", DOCX),
    ]
    assert message.attachments[1].data == fake("inline")
    assert message.text == "Bonjour, la fiche est jointe."


def test_a_winmail_dat_with_nothing_readable_inside_is_kept_and_said_damaged():
    message = read("winmail_dat.eml")  # a TNEF stream cut after its first attribute's header
    assert [(a.filename, a.content_type, a.container, a.unopened) for a in message.attachments] == [
        ("winmail.dat", "application/ms-tnef", "tnef", "damaged")
    ]


def test_an_html_only_message_gives_readable_text_and_no_attachment():
    message = read("html_only.eml")
    assert message.attachments == ()
    assert message.subject == "Problème avec le modèle"
    assert message.text == (
        "Bonjour,\n\nJe n'arrive pas à ouvrir le modèle :\n\n- Word 2007\n- LibreOffice\n\n"
        "Merci & bonne journée,\nLuc"
    )


# -- file names ------------------------------------------------------------------


def test_hostile_filenames_keep_their_basename_only_without_control_characters():
    message = read("malicious_filenames.eml")
    assert names(message) == [
        "passwd",  # ../../etc/passwd
        "evil.docx",  # C:\Windows\evil.docx, backslashes not escaped (as old Outlook writes them)
        "fiche.docx",  # C:\\Users\\prof\\Bureau\\fiche.docx, escaped
        "authorized_keys",  # ../../.ssh/authorized_keys, RFC 2231 percent-encoded
        "projetcod.exe",  # a right-to-left override would show "projetexe.doc"
        "ficheX-Injected: yes.docx",  # CR, LF and NUL inside an encoded word
        DEFAULT_FILENAME,  # ".."
        DEFAULT_FILENAME,  # no name at all
    ]
    assert message.text == "Voir pieces jointes."  # the text/plain "passwd" attachment is not the body


@pytest.mark.parametrize("raw, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("C:evil.docx", "evil.docx"),
    ("dossier/", "dossier"),
    ("/", DEFAULT_FILENAME),
    ("...", DEFAULT_FILENAME),
    ("", DEFAULT_FILENAME),
    (" fiche.docx. ", "fiche.docx"),
    (".bashrc", "bashrc"),
    ("fiche\tprojet\x7f\x85.docx", "ficheprojet.docx"),
    ("e\u0301cole.docx", "école.docx"),
    ("Projet : lecture.docx", "Projet : lecture.docx"),
])
def test_safe_filename(raw, expected):
    assert safe_filename(raw) == expected


def test_a_very_long_filename_is_shortened_keeping_its_extension():
    name = safe_filename("a" * 500 + ".docx")
    assert len(name) == 200 and name.endswith("a.docx")


def test_filename_parameter_variants():
    def filename(disposition: str) -> str:
        raw = (f"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/pdf\n"
               f"Content-Disposition: {disposition}\n\nx\n--b--\n").encode("utf-8")
        return names(parse_message(raw))[0]

    assert filename("attachment; filename*=iso-8859-1'fr'f%EAte.pdf") == "fête.pdf"
    assert filename("attachment; filename*=''plain%20name.pdf") == "plain name.pdf"
    assert filename("attachment; filename*=Fiche%20sans%20charset.pdf") == "Fiche sans charset.pdf"
    assert filename('attachment; filename*0="Fiche "; filename*1="en deux.pdf"') == "Fiche en deux.pdf"
    assert filename('attachment; filename*1="deux.pdf"; filename*0="Fiche en "') == "Fiche en deux.pdf"
    assert filename('attachment; filename="old.pdf"; filename*=utf-8\'\'new%C3%A9.pdf') == "newé.pdf"
    assert filename('attachment; filename="a;b.pdf"; size=3') == "a;b.pdf"
    assert filename("attachment; filename=sans guillemets.pdf") == "sans guillemets.pdf"
    assert filename('attachment; FILENAME="Majuscules.pdf"') == "Majuscules.pdf"
    assert filename('attachment; filename="=?utf-8?B?w6l0w6kucGRm?="') == "été.pdf"
    assert filename('attachment; filename="brut \u00e9t\u00e9.pdf"') == "brut été.pdf"  # raw UTF-8


# -- forwarded messages -------------------------------------------------------------


def test_a_forwarded_message_gives_its_attachment_at_depth_1():
    message = read("forwarded_rfc822.eml")
    assert names_and_depths(message) == [("Fiche projet Pasteur.docx", 1)]
    assert message.attachments[0].data == fake("pasteur")
    assert message.subject == "Fwd: Fiche projet école Pasteur"
    assert message.message_id == "<fwd-outer-1@ac-lille.fr>"
    assert message.text == "Je vous transfère la fiche de l'école Pasteur."  # not the forwarded text


def test_a_forward_of_a_forward_gives_each_attachment_with_its_depth():
    message = read("forward_depth2.eml")
    assert names_and_depths(message) == [
        ("Convention signée.pdf", 0),
        ("Budget.xlsx", 1),
        ("Fiche projet Cité.docx", 2),
    ]
    assert [a.data for a in message.attachments] == [fake("depth-0"), fake("depth-1"), fake("depth-2")]


def test_forwards_deeper_than_max_depth_are_ignored_and_noted():
    message = read("forward_depth4.eml")
    assert names_and_depths(message) == [("niveau1.docx", 1)]
    assert message.problems == ("forwarded message at depth 4 ignored (more than 3)",)


def test_max_depth_can_be_raised_or_lowered():
    assert names_and_depths(read("forward_depth4.eml", max_depth=4)) == [
        ("niveau1.docx", 1), ("niveau4.docx", 4)
    ]
    assert names_and_depths(read("forward_depth2.eml", max_depth=1)) == [
        ("Convention signée.pdf", 0), ("Budget.xlsx", 1)
    ]
    assert names_and_depths(read("forwarded_rfc822.eml", max_depth=0)) == []


def test_an_eml_attached_as_octet_stream_is_opened_and_a_non_message_eml_kept():
    message = read("eml_octet_stream.eml")
    assert names_and_depths(message) == [("Fiche projet Curie.docx", 1), ("notes.eml", 0)]
    assert message.attachments[0].data == fake("curie")
    assert message.attachments[1].data == "Liste des élèves inscrits à l'atelier : 24\r\n".encode()


def test_a_base64_encoded_forwarded_message_is_opened():
    message = read("rfc822_base64.eml")
    assert names_and_depths(message) == [("Annexe.pdf", 1)]
    assert message.attachments[0].data.startswith(b"%PDF-1.7")


# -- automatic mail ----------------------------------------------------------------


def test_an_out_of_office_reply_is_automatic():
    message = read("out_of_office.eml")
    assert message.auto == AutoMail("auto-submitted")
    assert message.subject == "Réponse automatique\u00a0: [CE-2025-0042] Accusé de réception"
    assert message.in_reply_to == "<CE-2025-0042.ack.1@cite-educative-lievin.fr>"
    assert message.text == "Je suis absente jusqu'au 24 mars. Pour toute urgence, contactez le secrétariat."


def test_a_delivery_report_is_a_bounce():
    message = read("bounce_dsn.eml")
    assert message.auto == AutoMail("bounce")
    assert message.from_addr == "mailer-daemon@mx.cite-educative-lievin.fr"
    assert message.text.startswith("This is the mail system at host mx.cite-educative-lievin.fr.")
    # the returned message is opened like any forwarded one; the caller ignores automatic mail
    assert names_and_depths(message) == [("fiche-projet-vierge.docx", 1)]


def test_a_mailing_list_message_is_automatic():
    message = read("mailing_list.eml")
    assert message.auto == AutoMail("list")
    assert message.subject == "[direction-ecoles] Rappel : appel à projets Cité éducative"


def test_precedence_bulk_is_automatic():
    message = read("precedence_bulk.eml")
    assert message.auto == AutoMail("precedence")
    assert message.text == "La lettre de mars."


def mail(*headers: str, body: str = "Bonjour") -> bytes:
    return ("\r\n".join(("From: Marie <marie@ac-lille.fr>", *headers)) + "\r\n\r\n" + body).encode()


@pytest.mark.parametrize("headers, reason", [
    (("Auto-Submitted: auto-replied",), "auto-submitted"),
    (("Auto-Submitted: auto-generated (vacation)",), "auto-submitted"),
    (("Auto-Submitted: auto-notified; owner-email=x@y.fr",), "auto-submitted"),
    (("Auto-Submitted: No",), None),
    (("Auto-Submitted: no (a person wrote this)",), None),
    (("X-Autoreply: yes",), "autoreply"),
    (("X-Autoreply: no",), None),
    (("X-Autorespond: Vacation",), "autoreply"),
    (("X-Autogenerated: Reply",), "autoreply"),
    (("X-Autogenerated: Forward",), None),
    (("X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply",), None),
    (("Return-Path: <>",), "bounce"),
    (("Return-Path: < >",), "bounce"),
    (("Return-Path: <marie@ac-lille.fr>",), None),
    (("Precedence: junk",), "precedence"),
    (("Precedence: List",), "precedence"),
    (("Precedence: first-class",), None),
    (("List-Unsubscribe: <mailto:leave@lists.example>",), "list"),
    (("List-Id: Liste <liste.example.fr>",), "list"),
    (("Content-Type: multipart/report; report-type=disposition-notification; boundary=x",), "bounce"),
    (("Auto-Submitted: auto-replied", "List-Id: <l.example>"), "auto-submitted"),
    ((), None),
])
def test_automatic_mail_markers(headers, reason):
    assert parse_message(mail(*headers)).auto == (AutoMail(reason) if reason else None)


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.fr", "Postmaster@ac-lille.fr", "MAILER-DAEMON"])
def test_mail_from_mailer_daemon_or_postmaster_is_a_bounce(sender):
    message = parse_message(f"From: {sender}\r\nSubject: Returned mail\r\n\r\nx".encode())
    assert message.auto == AutoMail("bounce")
    assert message.from_addr == sender.lower()


def test_a_delivery_status_part_is_a_bounce_only_in_the_message_itself():
    dsn = ("--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
           "Final-Recipient: rfc822; x@y.fr\r\nAction: failed\r\n\r\n--b--\r\n")
    direct = parse_message(mail("Content-Type: multipart/mixed; boundary=b", body=dsn))
    assert direct.auto == AutoMail("bounce")
    forwarded = ("--f\r\nContent-Type: message/rfc822\r\n\r\nFrom: MAILER-DAEMON@mx\r\n"
                 "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
                 + dsn + "\r\n--f--\r\n")
    assert parse_message(mail("Content-Type: multipart/mixed; boundary=f", body=forwarded)).auto is None


# -- header details ----------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("<a@b>", ("<a@b>",)),
    ("<a@b>\r\n <c@d>\t<e@f>", ("<a@b>", "<c@d>", "<e@f>")),
    ("<a@b> <a@b> <c@d>", ("<a@b>", "<c@d>")),
    ("garbage <a@b> (comment) <> <broken id@x> <c@d", ("<a@b>",)),
    ("<<a@b>>", ("<a@b>",)),
    ("no ids at all", ()),
    ("", ()),
    (None, ()),
])
def test_message_ids(value, expected):
    assert message_ids(value) == expected


def test_a_message_id_without_angle_brackets_is_bracketed_and_garbage_is_none():
    assert parse_message(b"Message-ID: abc@example.fr\r\n\r\nx").message_id == "<abc@example.fr>"
    assert parse_message(b"Message-ID: not an id\r\n\r\nx").message_id is None
    assert parse_message(b"In-Reply-To: Your message of Monday <a@b.fr>\r\n\r\nx").in_reply_to == "<a@b.fr>"


@pytest.mark.parametrize("raw, expected", [
    ("=?utf-8?Q?caf=C3=A9?=", "café"),
    ("=?UTF-8?B?w6l0w6k=?= =?UTF-8?B?IDIwMjU=?=", "été 2025"),
    ("=?utf-8?B?w6nDqA?=", "éè"),  # padding missing
    ("=?utf-8?Q?=C3?= =?utf-8?Q?=A9t=C3=A9?=", "été"),  # a character split across two words
    ("Re: =?iso-8859-1?Q?r=E9union?= du =?utf-8?Q?lundi?=", "Re: réunion du lundi"),
    ("=?utf-8*fr?Q?langue?=", "langue"),
    ("=?utf-8?Q?incomplete", "=?utf-8?Q?incomplete"),
    ("=?x-mac-unknown?B?6Q==?=", "é"),
    ("=?utf-8?Q?d=E9j=E0?=", "déjà"),  # a lying UTF-8 label: read as Windows-1252
    ("=?shift_jis?B?g26DjQ==?=", "ハロ"),
])
def test_decode_words(raw, expected):
    assert decode_words(raw) == expected


def test_the_subject_is_unfolded_and_has_no_control_characters():
    message = parse_message(b"Subject: Fiche\r\n projet\r\n\t=?utf-8?Q?=0D=0ABcc:_x?=\r\n\r\nx")
    assert message.subject == "Fiche projet Bcc: x"


def test_a_date_without_time_zone_is_read_as_utc_and_a_bad_one_is_none():
    assert parse_message(b"Date: Tue, 1 Apr 2025 10:00:00 -0000\r\n\r\nx").date == datetime(
        2025, 4, 1, 10, tzinfo=timezone.utc)
    assert parse_message(b"Date: 31/02/2025\r\n\r\nx").date is None


def test_address_headers_with_groups_comments_and_encoded_names():
    message = parse_message(
        b'From: "Dupont, Marie (CE)" <Marie.DUPONT@Ac-Lille.fr> (bureau)\r\n'
        b"To: undisclosed-recipients:;\r\n"
        b"Cc: Equipe: a@b.fr, =?utf-8?Q?Ren=C3=A9?= <c@d.fr>;, e@f.fr\r\n\r\nx")
    assert (message.from_name, message.from_addr) == ("Dupont, Marie (CE)", "marie.dupont@ac-lille.fr")
    assert message.to == ()
    assert message.cc == ("a@b.fr", "c@d.fr", "e@f.fr")


def test_an_encoded_word_cannot_smuggle_an_address_into_from():
    message = parse_message(b"From: =?utf-8?Q?boss@ac-lille.fr_<boss@ac-lille.fr>?= <evil@x.com>\r\n\r\nx")
    assert message.from_addr == "evil@x.com"
    assert message.from_name == "boss@ac-lille.fr <boss@ac-lille.fr>"


def test_raw_8bit_utf8_headers_are_read():
    message = parse_message("From: Zoé <zoe@b.fr>\r\nSubject: Déjà vu\r\n\r\nx".encode())
    assert (message.from_name, message.subject) == ("Zoé", "Déjà vu")


# -- size limits ---------------------------------------------------------------------


def test_an_attachment_above_the_limit_is_listed_without_its_data():
    message = read("two_docx.eml", max_attachment_bytes=18)
    assert [(a.filename, a.size, a.too_large, a.data) for a in message.attachments] == [
        ("Fiche projet CP lecture.docx", 18, False, fake("cp")),
        ("Fiche projet CM2 théâtre.docx", 19, True, b""),
    ]
    assert message.problems == ("attachment 'Fiche projet CM2 théâtre.docx' too large (19 bytes)",)


def test_a_nameless_docx_part_is_an_attachment_not_lost():
    raw = (f"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: {DOCX}\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.b64encode(fake("nameless")).decode() + "\r\n--b--\r\n").encode()
    message = parse_message(raw)
    assert [(a.filename, a.data) for a in message.attachments] == [(DEFAULT_FILENAME, fake("nameless"))]


# -- text ------------------------------------------------------------------------------


def test_html_to_text():
    assert html_to_text("<p>Un</p><p>Deux<br/>trois</p>") == "Un\n\nDeux\ntrois"
    assert html_to_text("<table><tr><td>A</td><td>B</td></tr><tr><td>C</td></tr></table>") == "A B\nC"
    assert html_to_text("<style>x{}</style><script>y()</script>Texte &eacute;t&#233; &lt;ok&gt;") == \
        "Texte été <ok>"
    assert html_to_text("<div>a</div><div>b</div><div><div>c</div></div>") == "a\nb\nc"
    assert html_to_text("<ul><li>un</li><li>deux</li></ul>suite") == "- un\n- deux\n\nsuite"
    assert html_to_text("<pre>  a\n  b</pre>") == "a\nb"
    assert html_to_text("<![if !supportLists]>x<![endif]>") == "x"
    assert html_to_text("") == ""


def test_apple_mail_text_split_around_an_attachment_is_joined():
    raw = ("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAvant\r\n"
           "--b\r\nContent-Type: application/pdf; name=a.pdf\r\n"
           "Content-Disposition: inline; filename=a.pdf\r\n\r\n%PDF\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAprès\r\n--b--\r\n").encode()
    message = parse_message(raw)
    assert message.text == "Avant\n\nAprès"
    assert names(message) == ["a.pdf"]


# -- broken and hostile input -------------------------------------------------------------


def test_a_broken_message_still_gives_everything_readable():
    message = read("broken.eml")
    assert message.from_addr == "andre.levy@free.fr"
    assert message.from_name == "André Lévy"  # raw latin-1 bytes in the header
    assert message.subject == "Fiche projet école François Mitterrand"
    assert message.message_id == "<broken-1@free.fr>"  # after the line without a colon
    assert message.date is None
    assert message.text == "Voici la fiche, désolé pour le retard."
    [attachment] = message.attachments
    assert attachment.filename == "Fiche été.docx"
    assert attachment.data.startswith(b"PK\x03\x04")
    assert len(attachment.data) < len(fake("broken-and-truncated"))  # what the truncated base64 gave
    assert message.problems == (
        "1 header line(s) without a colon ignored",
        "unreadable Date: 'un mardi de mars'",
        "defect: CloseBoundaryNotFoundDefect",
    )


def nested_multiparts(levels: int) -> bytes:
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                       for i in range(levels))
    return b"From: a@b.fr\r\nSubject: profond\r\n" + opening + b"Content-Type: text/plain\r\n\r\nfin\r\n"


@pytest.mark.parametrize("raw", [
    b"",
    b"\r\n\r\n",
    b"\x00\xff" * 100,
    b"From: \r\nTo: ,,,,\r\nCc: <<<>>>@@@\r\nDate: \r\nMessage-ID: <>\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=\"\r\n\r\n--\r\nx",
    b"Content-Type: ;;;;=\"\\\r\nContent-Disposition: =;=\"\r\n\r\nbody",
    b"Content-Type: message/rfc822\r\n\r\n" * 200,
    b"Content-Type: text/plain; charset=unicode_escape\r\nSubject: =?zlib?B?eJwrSS0uAQAEXQHB?=\r\n\r\n\\x41",
    b"From: " + b"(" * 5000 + b"\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment; "
    + b"; ".join(b"filename*%d*=%%41" % i for i in range(500)) + b"\r\n\r\nxx\r\n--x--\r\n",
    nested_multiparts(3000),
], ids=["empty", "blank", "binary", "empty-headers", "bad-boundary", "bad-params", "rfc822-chain",
        "hostile-charsets", "parentheses", "many-continuations", "deep-nesting"])
def test_hostile_input_never_raises(raw):
    assert isinstance(parse_message(raw), Incoming)


def test_messages_nested_too_deep_for_the_email_package_still_give_their_headers():
    message = parse_message(nested_multiparts(3000))
    assert (message.from_addr, message.subject) == ("a@b.fr", "profond")
    assert any("RecursionError" in p for p in message.problems)


@pytest.mark.parametrize("raw", [
    None, 42, "From: a@b.fr\n\nhé", bytearray(b"From: a@b.fr\n\nx"), memoryview(b"x"),
])
def test_input_that_is_not_bytes_never_raises(raw):
    assert isinstance(parse_message(raw), Incoming)


def check_invariants(message: Incoming, max_depth: int = 3) -> None:
    assert isinstance(message, Incoming)
    assert "\r" not in message.subject and "\n" not in message.subject
    for attachment in message.attachments:
        assert attachment.filename and not set(attachment.filename) & set("/\\\x00\r\n")
        assert attachment.filename not in (".", "..")
        assert 0 <= attachment.forwarded_depth <= max_depth
        assert attachment.size == len(attachment.data) or (attachment.too_large and attachment.data == b"")
    assert all(i.startswith("<") and i.endswith(">") for i in message.references)
    assert message.date is None or message.date.tzinfo is not None


INSERTS = [b"\r\n", b"\n\n", b"--", b"=?", b"?=", b'"', b";", b":", b"<", b">", b"\\", b"*0*=", b"\x00",
           b"\xff", b"=?x?Q?", b"Content-Type: message/rfc822\n\n"]


def mutate(data: bytes, rng: random.Random, count: int) -> bytes:
    """Flip, delete, duplicate or insert bytes at random places."""
    data = bytearray(data)
    for _ in range(count):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(5)
        if kind == 0 and at < len(data):
            data[at] = rng.randrange(256)
        elif kind == 1:
            del data[at:at + rng.randrange(1, 64)]
        elif kind == 2:
            data[at:at] = data[max(0, at - rng.randrange(1, 200)):at]
        elif kind == 3:
            data[at:at] = rng.choice(INSERTS)
        else:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    return bytes(data)


MAIL_PIECES = [
    "From: ", "Subject: ", "Content-Type: ", "multipart/mixed; boundary=b", "message/rfc822", "\r\n",
    "\r\n\r\n", "--b", "--b--", " ", ";", "filename*0*=", "utf-8''%C3%A9", "=?utf-8?Q?=C3=A9?=", "=?", "?=",
    '"', "<a@b>", "é", "\\", "Content-Disposition: attachment", "Content-Transfer-Encoding: base64",
    "UEsDBA==", "(", ")", ":",
]
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw):
    check_invariants(parse_message(raw))


@SLOW
@given(st.sampled_from(FIXTURES), st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(0, 4))
def test_mutated_fixtures_never_raise(path, seed, count, max_depth):
    raw = mutate(path.read_bytes(), random.Random(seed), count)
    check_invariants(parse_message(raw, max_depth=max_depth, max_attachment_bytes=20), max_depth)


@SLOW
@given(st.lists(st.sampled_from(MAIL_PIECES), max_size=80))
def test_random_mail_like_text_never_raises(pieces):
    check_invariants(parse_message("".join(pieces).encode("utf-8")))
