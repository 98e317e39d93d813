"""Porteurs' messages as a mail client would send them (real MIME bytes)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from bot.form.fill import fill_fiche
from bot.form.samples import COMPLETE, SCHOOL_TIME, WITH_ERRORS
from bot.form.template import build_template
from bot.rules import load_rules

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
RULES = load_rules()
TEMPLATE = build_template(RULES)


def fiche_bytes(**changes) -> bytes:
    return fill_fiche(TEMPLATE, {**COMPLETE, **changes}, RULES)


def fiche_with_errors() -> bytes:
    return fill_fiche(TEMPLATE, WITH_ERRORS, RULES)


def school_time_fiche(**changes) -> bytes:
    return fill_fiche(TEMPLATE, {**SCHOOL_TIME, **changes}, RULES)


def mail(*, sender="Camille Martin <camille.martin@example.org>", to="l.marcq@lievin.fr", subject="Fiche projet",
         body="Bonjour,\nVeuillez trouver ci-joint notre fiche projet.\nCordialement", attachments=(),
         headers=None, in_reply_to=None, references=(), message_id=None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    msg["Date"] = "Thu, 26 Nov 2026 10:00:00 +0100"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in headers.items() if isinstance(headers, dict) else headers or ():
        msg[name] = value
    msg.set_content(body)
    for name, data, *ctype in attachments:
        maintype, _, subtype = (ctype[0] if ctype else DOCX).partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def forward(inner: bytes, *, sender="Secrétariat <secretariat@example.org>", to="l.marcq@lievin.fr") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, "TR: Fiche projet"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("Bonjour, je vous transfère la fiche reçue.")
    from email import message_from_bytes, policy

    msg.add_attachment(message_from_bytes(inner, policy=policy.default))
    return bytes(msg)
