"""Porteurs' messages as a mail client would send them (real MIME bytes)."""

from __future__ import annotations

import base64
import io
import zipfile
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


def with_image(docx: bytes, image: bytes, name: str = "image1.png") -> bytes:
    """A .docx carrying a large picture as well (word/media/, declared in [Content_Types].xml),
    as a fiche with a photo pasted in weighs: stored, not compressed (a JPEG or PNG does not shrink)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml" and b'Extension="png"' not in data:
                data = data.replace(b"<Default ", b'<Default Extension="png" ContentType="image/png"/><Default ', 1)
            target.writestr(info, data)
        target.writestr(zipfile.ZipInfo(f"word/media/{name}", (2026, 11, 26, 10, 0, 0)), image,
                        compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def large_mail(attachment: bytes, *, filename: str = "Fiche projet.docx", content_type: str = DOCX,
               sender: str = "Camille Martin <camille.martin@example.org>", to: str = "l.marcq@lievin.fr",
               subject: str = "Fiche projet", message_id: str | None = None, headers: str = "") -> bytes:
    """A message of several megabytes as a mail client writes it (text, then the file in base64
    lines of 76), built directly: EmailMessage takes seconds for that. `headers`: more header lines."""
    message_id = message_id or make_msgid(domain="example.org")
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n{headers}"
            'Content-Type: multipart/mixed; boundary="=-=limite-=-="\r\n\r\n'
            "--=-=limite-=-=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Bonjour,\r\nVeuillez trouver ci-joint notre fiche projet, avec les photos.\r\nCordialement\r\n"
            f'--=-=limite-=-=\r\nContent-Type: {content_type}\r\n'
            f'Content-Disposition: attachment; filename="{filename}"\r\nContent-Transfer-Encoding: base64\r\n\r\n')
    encoded = base64.b64encode(attachment)
    body = b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])
    return head.encode("utf-8") + body + b"\r\n--=-=limite-=-=--\r\n"
