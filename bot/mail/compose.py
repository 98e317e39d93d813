"""Mails the bot sends: rendered from templates_mail/<name>/ and built as MIME.

Pure: a template name and a context in, bytes out. The caller queues them in
the outbox (bot/mail/outbox.py) in the same transaction as the outcome they report.

Much of a context is written by senders (an intitulé, a structure, a file name, an
IEN's comment): every string of it is cleaned of control and bidirectional characters
here, once, and what goes into a header is bounded (bot/mail/safe_text.py), so that a
1 MB intitulé gives a subject of a line and costs linear time. The stdlib's header
parser and folder take quadratic time in a header's length: nothing unbounded may
reach them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.utils import format_datetime, formataddr
from functools import cache

import jinja2
from babel.numbers import format_decimal

from bot import text as typography
from bot.form.values import format_amount
from bot.mail import mime, safe_text
from bot.mail.safe_text import MAX_HEADER_CHARS, SUBJECT_FIELD_CHARS
from bot.paths import templates_dir

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# A long thread's References keep its first id and its latest ones (RFC 5322, 3.6.4, lets them be trimmed).
MAX_REFERENCES = 20


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
    """« 26 novembre 2026 à 15 h 05 », « 1er décembre 2026 à 9 h 00 », Paris time."""
    return typography.moment(value)


def date_fr(value) -> str:
    """« 26 novembre 2026 », « 1er décembre 2026 » (the French ordinal for the first)."""
    return typography.day(value)


def _euros(value) -> str:
    return format_amount(Decimal(value))


def _plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """{{ n|pluriel("point") }} → « 4 points », « 1 point »."""
    return typography.plural(count, singular, plural_form)


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
    env.filters.update(datetime_fr=datetime_fr, date_fr=date_fr, euros=_euros, mo=megaoctets, pluriel=_plural,
                       heure=typography.hour)
    return env


def render(name: str, context: dict) -> tuple[str, str, str | None]:
    """(subject, text body, HTML body or None) of templates_mail/<name>/.

    Every string of the context is cleaned (`safe_text.clean`). In the subject each is also
    on one line and at most SUBJECT_FIELD_CHARS long, and the subject at most MAX_HEADER_CHARS."""
    env = environment()
    context = safe_text.clean_context(context)
    in_subject = {key: safe_text.shorten(safe_text.one_line(value), SUBJECT_FIELD_CHARS) if isinstance(value, str)
                  else value for key, value in context.items()}
    # French spacing is applied to the whole rendered text, once, here: every
    # template and every sentence a context brings gets the same typography.
    subject = safe_text.shorten(
        typography.spaces(safe_text.one_line(env.get_template(f"{name}/subject.txt").render(in_subject))),
        MAX_HEADER_CHARS)
    body = typography.spaces(env.get_template(f"{name}/body.txt").render(context))
    try:
        html = typography.spaces(env.get_template(f"{name}/body.html").render(context))
    except jinja2.TemplateNotFound:
        html = None
    return subject, body, html


def new_message_id(from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "citebot.invalid"
    return f"<citebot.{secrets.token_hex(12)}@{domain}>"


def _header(value: str) -> str:
    return safe_text.shorten(safe_text.one_line(value), MAX_HEADER_CHARS)


def _usable_id(message_id: str) -> bool:
    """A Message-ID of the thread we may write back: a sender's may be anything up to megabytes."""
    return len(message_id) <= MAX_HEADER_CHARS and message_id.isascii() and message_id.isprintable() \
        and " " not in message_id


def _references(ids: tuple[str, ...]) -> list[str]:
    usable = [i for i in ids if _usable_id(i)]
    return usable if len(usable) <= MAX_REFERENCES else [usable[0], *usable[-(MAX_REFERENCES - 1):]]


@dataclass(frozen=True)
class Built:
    subject: str
    raw: bytes  # the message as sent, CRLF
    utf8: bool  # an address with accents: sent through SMTPUTF8 (RFC 6531)


def build(mail: Mail, *, from_name: str, from_address: str, message_id: str, date: datetime) -> Built:
    subject, body, html = render(mail.kind, mail.context)
    utf8 = not all(address.isascii() for address in (*mail.to, *mail.cc))
    headers = [("From", formataddr((_header(from_name), from_address), charset="utf-8")),
               ("To", mime.addresses(mail.to))]
    if mail.cc:
        headers.append(("Cc", mime.addresses(mail.cc)))
    if mail.reply_to:
        headers.append(("Reply-To", mime.addresses([mail.reply_to])))
    headers += [("Subject", subject), ("Date", format_datetime(date)), ("Message-ID", message_id)]
    if mail.in_reply_to and _usable_id(mail.in_reply_to):
        headers.append(("In-Reply-To", mail.in_reply_to))
    if references := _references(mail.references):
        headers.append(("References", " ".join(references)))
    # Loop prevention: tell other robots (RFC 3834) and Exchange not to answer.
    headers += [("Auto-Submitted", mail.auto_submitted), ("X-Auto-Response-Suppress", "All"),
                ("X-Citebot-Kind", mail.kind)]
    headers += [(name, _header(value)) for name, value in mail.headers.items()]
    parts = [mime.Part("text/plain", body)] + ([mime.Part("text/html", html)] if html else [])
    files = [mime.Part(a.content_type, a.data, safe_text.filename(a.filename)) for a in mail.attachments]
    return Built(subject=subject, raw=mime.message(headers, parts, files, utf8=utf8), utf8=utf8)
