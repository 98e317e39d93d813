"""Mails the bot sends: rendered from templates_mail/<name>/ and built as MIME.

Pure: a template name and a context in, bytes out. The caller queues them in
the outbox (bot/mail/outbox.py) in the same transaction as the outcome they report.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache

import jinja2
from babel.dates import format_date
from babel.dates import format_datetime as babel_datetime
from babel.numbers import format_decimal

from bot.clock import PARIS
from bot.form.values import format_amount
from bot.paths import templates_dir

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str = DOCX_TYPE


@dataclass(frozen=True)
class Mail:
    """What to send, before it becomes MIME; built by the handlers."""

    kind: str  # the template's name
    to: tuple[str, ...]
    context: dict
    reply_to: str | None = None
    cc: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    auto_submitted: str = "auto-replied"  # RFC 3834: a reply; "auto-generated" otherwise
    headers: dict[str, str] = field(default_factory=dict)


def datetime_fr(value: datetime) -> str:
    """« 26 novembre 2026 à 15:05 », « 1er décembre 2026 à 09:00 », Paris time."""
    local = value.astimezone(PARIS)
    return f"{_day(local.day)} " + babel_datetime(local, "MMMM yyyy 'à' HH:mm", locale="fr_FR")


def date_fr(value) -> str:
    """« 26 novembre 2026 », « 1er décembre 2026 » (the French ordinal for the first)."""
    return f"{_day(value.day)} " + format_date(value, "MMMM yyyy", locale="fr_FR")


def _day(day: int) -> str:
    return "1er" if day == 1 else str(day)


def _euros(value) -> str:
    return format_amount(Decimal(value))


def megaoctets(size: int) -> str:
    """A size in bytes as « 62,9 Mo » (mebibytes, as the limits are counted), rounded up to a tenth
    so that a size just over a limit never reads as the limit itself; « 40 Mo » when whole."""
    tenths = -(-size * 10 // (1024 * 1024))
    return format_decimal(Decimal(tenths) / 10, "#,##0.#", locale="fr_FR") + "\u00a0Mo"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    )
    env.filters.update(datetime_fr=datetime_fr, date_fr=date_fr, euros=_euros, mo=megaoctets)
    return env


def render(name: str, context: dict) -> tuple[str, str, str | None]:
    """(subject, text body, HTML body or None) of templates_mail/<name>/."""
    env = environment()
    subject = " ".join(env.get_template(f"{name}/subject.txt").render(context).split())
    body = env.get_template(f"{name}/body.txt").render(context)
    try:
        html = env.get_template(f"{name}/body.html").render(context)
    except jinja2.TemplateNotFound:
        html = None
    return subject, body, html


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "citebot.invalid"
    return f"<citebot.{secrets.token_hex(12)}@{domain}>"


def build(mail: Mail, *, from_name: str, from_address: str, message_id: str, date: datetime) -> EmailMessage:
    subject, body, html = render(mail.kind, mail.context)
    msg = EmailMessage()
    msg["From"] = Address(display_name=from_name, addr_spec=from_address)
    msg["To"] = ", ".join(mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(mail.cc)
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = " ".join(mail.references)
    # Loop prevention: tell other robots (RFC 3834) and Exchange not to answer.
    msg["Auto-Submitted"] = mail.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Citebot-Kind"] = mail.kind
    for name, value in mail.headers.items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return msg
