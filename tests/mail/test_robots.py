"""Robots on real messages (mailboxes.md, "Robots"): every mark of
rules/robots.toml is shown on a message written by a real robot, copied byte for
byte from ../shared/corpus/mail-realworld/ into tests/eml/robots/ (SOURCES.md).
Where the corpus has no message carrying a mark alone, a real message is changed
in one header only (`with_header`), so that the mark is the only one left.

And the other side: ordinary real messages and porteurs' mails stay human.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.mail.parse import AutoMail, Incoming, parse_message
from bot.mail.robots import fold, load_robots, refusal

EML = Path(__file__).resolve().parents[1] / "eml"
ROBOTS = EML / "robots"
RULES = load_robots()


def real(name: str) -> bytes:
    path = ROBOTS / name if (ROBOTS / name).exists() else EML / name
    return path.read_bytes()


def with_header(raw: bytes, name: str, value: str) -> bytes:
    """The real message with the value of one top-level header replaced (its folded lines too)."""
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    head, blank, body = raw.partition(newline * 2)
    lines = head.split(newline)
    key = name.lower().encode() + b":"
    for i, line in enumerate(lines):
        if line.lower().startswith(key):
            end = i + 1
            while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
                end += 1
            lines[i:end] = [name.encode() + b": " + value.encode()]
            return newline.join(lines) + blank + body
    raise AssertionError(f"no {name} header in the message")


def robot(raw: bytes) -> tuple[str, str] | None:
    """(reason, marker) of a message, None for a human's."""
    auto = parse_message(raw).auto
    return (auto.reason, auto.marker) if auto else None


def parsed(name: str) -> Incoming:
    return parse_message(real(name))


# -- null senders ------------------------------------------------------------------


def test_a_dragonfly_bounce_from_an_empty_address_is_a_robot_with_no_sender_to_answer():
    message = parsed("sisimai-lhost__lhost-dragonfly-01.eml")  # From: MAILER-DAEMON <>
    assert message.from_addr is None  # never "<>": the reply was once addressed To: <>
    assert message.auto == AutoMail("bounce") and message.auto.marker == "From <>"


def test_a_bounce_whose_from_has_no_address_at_all_is_a_robot():
    raw = with_header(real("sisimai-lhost__lhost-dragonfly-01.eml"), "From", "Mail Delivery System")
    assert robot(raw) == ("bounce", "From without an address")


def test_an_autoreply_with_a_null_return_path_is_a_robot():
    assert robot(real("sisimai-arf-rfc3834-not__rfc3834-02.eml")) == ("bounce", "Return-Path <>")


# -- robots' local parts ---------------------------------------------------------------


@pytest.mark.parametrize("name, marker", [
    ("bounce-email__tt_bounce_01.txt", "From local part mailer-daemon"),  # Exim, through a list
    ("bounce-email__tt_bounce_11.txt", "From local part postmaster"),  # Exchange, « Undeliverable »
    ("sisimai-lhost__lhost-apachejames-01.eml", "From local part post_master"),  # Verizon via Apache James
    ("bounce-email__malformed_bounce_01.txt", "From local part bounce"),  # Rediffmail
])
def test_a_bounce_from_a_bounce_robots_local_part_is_a_robot(name, marker):
    assert robot(real(name)) == ("bounce", marker)


def test_a_verp_bounces_address_is_a_robot():
    raw = with_header(real("bounce-email__malformed_bounce_01.txt"), "From", "bounces+4f2a=lievin.fr@rediffmail.com")
    assert robot(raw) == ("bounce", "From local part bounces")


def test_a_dmarc_report_from_opendmarc_postmaster_comes_from_a_robot():
    message = parsed("sisimai-arf-rfc3834-not__arf-20.eml")
    assert RULES.sender(message.from_addr).what == "From local part postmaster"


@pytest.mark.parametrize("name, marker", [
    ("sisimai-arf-rfc3834-not__rfc3834-06.eml", "From local part noreply"),  # an autoresponder
    ("mikel-mail__mime_emails__raw_email_encoded_stack_level_too_deep.eml", "From local part noreply"),  # gmail-noreply
    ("sisimai-lhost__lhost-amazonses-09.eml", "From local part no-reply"),  # Amazon SES bounce through SNS
    ("sisimai-lhost__lhost-amazonses-11.eml", "From local part no-reply"),  # Amazon SES complaint through SNS
])
def test_a_notice_from_a_noreply_address_is_a_robot(name, marker):
    assert robot(real(name)) == ("noreply", marker)


@pytest.mark.parametrize("local", [
    "ne-pas-repondre", "nepasrepondre", "ne_pas_repondre", "ne.pas.repondre", "Ne-Pas-Répondre",
    "no_reply", "donotreply", "do-not-reply", "do_not_reply", "NoReply", "noreply-dmarc-support",
])
def test_every_spelling_of_do_not_reply_is_a_robot(local):
    # The corpus has no French robot: its autoresponder from noreply@ speaks with these words instead.
    raw = with_header(real("sisimai-arf-rfc3834-not__rfc3834-06.eml"), "From", f"<{local}@example.com>")
    assert robot(raw)[0] == "noreply"


# -- headers ---------------------------------------------------------------------------


def test_an_aol_vacation_reply_with_auto_submitted_is_a_robot():
    assert robot(real("bounceparser__aol-vacation.msg")) == ("auto-submitted", "header Auto-Submitted")


def test_an_icloud_vacation_reply_is_a_robot():
    assert robot(real("sisimai-arf-rfc3834-not__rfc3834-03.eml")) == ("autoreply", "header X-Apple-Action: vacation")


def test_an_fml_notice_with_list_subscribe_and_no_list_id_is_a_robot():
    assert robot(real("sisimai-lhost__lhost-fml-02.eml")) == ("list", "header List-Subscribe")


def test_an_fml_loop_alert_known_only_by_x_mlserver_is_a_robot():
    assert robot(real("sisimai-lhost__lhost-fml-03.eml")) == ("list", "header X-MLServer")


def test_list_post_and_list_help_are_list_marks():
    message = parsed("cpython-email__msg_16.txt")  # a bounce relayed by a Mailman list
    marks = [m.what for m in RULES.header_marks(message.header_items)]
    assert {"header List-Post", "header List-Help"} <= set(marks)


def test_x_loop_is_a_mark():
    message = parsed("sisimai-arf-rfc3834-not__arf-01.eml")  # AOL's complaint loop
    assert "header X-Loop" in [m.what for m in RULES.header_marks(message.header_items)]


def test_a_bluebottle_challenge_is_a_robot():
    assert robot(real("bounceparser__bluebottle.msg")) == ("challenge", "header X-Bluebottle-Request")


@pytest.mark.parametrize("name", ["bounceparser__bluebottle.msg", "bounceparser__boxbe-cr.msg",
                                  "bounceparser__boxbe-cr2.msg"])
def test_the_corpus_challenge_response_robots_are_all_robots(name):
    assert parsed(name).auto is not None


# -- complaints --------------------------------------------------------------------------


def test_an_arf_complaint_report_is_feedback():
    assert robot(real("sisimai-arf-rfc3834-not__arf-01.eml")) == (
        "feedback", "ARF report (multipart/report; report-type=feedback-report)")


def test_an_amazon_ses_complaint_with_a_feedback_id_is_feedback_whatever_its_sender():
    raw = with_header(real("sisimai-lhost__lhost-amazonses-11.eml"), "From", "SES-EM-C <notifications@sns.amazonaws.com>")
    assert robot(raw) == ("feedback", "Feedback-ID and « notificationType » in the body")


def test_a_feedback_id_alone_is_no_mark():
    # SES customers' and newsletters' ordinary mail carries one too.
    raw = real("flanker__iphone.eml").replace(b"Subject: Subject", b"Feedback-ID: 1.eu-west-3.x=:AmazonSES\nSubject: Subject", 1)
    assert parse_message(raw).headers["feedback-id"] and robot(raw) is None


def test_a_hotmail_complaint_known_only_by_its_subject_is_feedback():
    assert robot(real("sisimai-arf-rfc3834-not__arf-22.eml")) == ("feedback", "subject « complaint about message from »")


# -- subjects ------------------------------------------------------------------------------


def test_a_lotus_notes_out_of_office_is_a_robot():
    assert robot(real("bounceparser__warning-6.msg")) == ("autoreply", "subject « AUTO: »")


def test_an_exchange_out_of_office_known_only_by_its_subject_is_a_robot():
    assert robot(real("bounce-email__non_bounces__tt_1234210666.txt")) == (
        "autoreply", "subject « Arpus biroja atrasanas automatiska atbilde »")


@pytest.mark.parametrize("name, entry", [
    ("out_of_office.eml", "Réponse automatique"),  # Outlook, « Réponse automatique\u00a0: … »
    ("sisimai-arf-rfc3834-not__rfc3834-02.eml", "Automatic reply"),
    ("sisimai-arf-rfc3834-not__rfc3834-03.eml", "Auto reply"),
    ("bounce-email__tt_bounce_11.txt", "Undeliverable"),
    ("sisimai-lhost__lhost-exchange2007-06.eml", "Non remis :"),
    ("bounce-email__tt_bounce_06.txt", "Delivery Status Notification"),
    ("sisimai-lhost__lhost-dragonfly-01.eml", "Mail delivery failed"),
    ("bounceparser__aol.unknown.msg", "Returned mail"),
    ("bounce-email__tt_1234175799.txt", "Undelivered Mail Returned to Sender"),
    ("bounce-email__malformed_bounce_01.txt", "failure notice"),
])
def test_the_subject_of_a_real_robot_is_a_mark(name, entry):
    assert RULES.subject(parsed(name).subject).what == f"subject « {entry} »"


@pytest.mark.parametrize("subject, entry", [
    ("=?utf-8?q?R=C3=A9ponse_automatique=C2=A0:_subjecting?=", "Réponse automatique"),
    ("=?iso-8859-1?q?R=E9ponse_automatique_d'absence_du_bureau_:_subjecting?=", "Réponse automatique"),
    ("Absence du bureau : subjecting", "Absence du bureau"),
    ("Out of Office AutoReply: subjecting", "Out of Office"),
    ("OUT OF OFFICE: subjecting", "Out of Office"),
    ("Automatic reply: subjecting", "Automatic reply"),
    ("Auto-Reply: subjecting", "Auto-reply"),
    ("Autoreply: subjecting", "Autoreply"),
    ("Undeliverable: subjecting", "Undeliverable"),
    ("=?iso-8859-1?q?Non_remis=A0:_subjecting?=", "Non remis :"),
])
def test_an_exchange_reply_with_any_robot_subject_is_a_robot(subject, entry):
    # The Latvian Exchange out-of-office carries no other mark: each subject is then the only one.
    raw = with_header(real("bounce-email__non_bounces__tt_1234210666.txt"), "Subject", subject)
    assert robot(raw)[1] == f"subject « {entry} »"


# -- humans stay humans -------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "flanker__iphone.eml", "flanker__outlook-express.eml", "mikel-mail__plain_emails__raw_email_reply.eml",
    "bounce-email__non_bounces__tt_1234241664.txt",  # a person's apology, in bounce_email's "non bounces"
    "thunderbird_docx.eml", "outlook_rfc2231.eml", "apple_rfc2231_continuations.eml", "rfc2047_latin1_name.eml",
])
def test_ordinary_real_messages_are_not_robots(name):
    assert parsed(name).auto is None


@pytest.mark.parametrize("subject", [
    "Fiche projet – non remise à temps",
    "Non remise de la fiche : désolée du retard",
    "RE: Réponse automatique : [CE-2026-0001] Accusé de réception",  # a human answers a robot
    "TR: Non remis : [CE-2026-0001] Accusé de réception",  # a human forwards a bounce
    "Auto-école Jean Jaurès : fiche projet sécurité routière",
    "Automobile club : projet",
    "Retour du mail : fiche corrigée",
    "Fiche projet (réponse automatique désactivée)",
])
def test_a_teacher_writing_from_outlook_is_not_a_robot_whatever_the_subject(subject):
    raw = with_header(real("outlook_rfc2231.eml"), "Subject", subject)
    assert robot(raw) is None


@pytest.mark.parametrize("sender", [
    "École Jean Jaurès <ecole.jaures@ac-lille.fr>", "ce.0620001a@ac-lille.fr", "Jean Postier <jean.postier@lievin.fr>",
    "contact@bounce-lievin.fr", "marie.bounceur@orange.fr", "noreplyx@example.fr",
])
def test_a_porteur_address_is_not_a_robot(sender):
    raw = with_header(real("thunderbird_docx.eml"), "From", sender)
    assert robot(raw) is None


# -- the words themselves ----------------------------------------------------------------


def test_subjects_are_folded_without_case_accents_or_the_space_before_a_colon():
    assert fold("  RÉPONSE\u00a0 automatique\u202f: x") == "reponse automatique: x"


@pytest.mark.parametrize("address, why", [
    (None, "empty"), ("", "empty"), ("<>", "empty"), (" < > ", "empty"), ("foo", "empty"), ("@lievin.fr", "empty"),
    ("marie@", "empty"), ("MAILER-DAEMON@lievin.fr", "robot"), ("ne-pas-repondre@ac-lille.fr", "robot"),
    ("bounces+123=x@sendgrid.net", "robot"), ("ecole.jaures@ac-lille.fr", None), ("l.marcq@lievin.fr", None),
])
def test_addresses_no_mail_may_go_to(address, why):
    assert refusal(address) == why
