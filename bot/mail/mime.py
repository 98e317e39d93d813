"""A small MIME writer for the mails the bot composes: header fields and parts in, bytes out.

Why not `email.message.EmailMessage`: its header registry parses every field it is given, and
parses and refolds each again when the message is written — some forty header objects and a
full flatten of the message to pick a boundary, about 8 ms for an acknowledgement with its
consent form, more than reading the fiche it answers. What the bot writes is a handful of
known shapes (text, text + HTML, attachments), so it is written directly here: the same
output the stdlib's SMTP policies give (RFC 5322 folding, RFC 2047 encoded words, RFC 2231
file names, quoted-printable text, base64 attachments, CRLF), tested by reading it back with
the stdlib's parser.

`utf8` is RFC 6531's case (a recipient whose address has accents, sent with SMTPUTF8): header
fields are then written in UTF-8 as they are, as `email.policy.SMTPUTF8` does.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, parseaddr
from urllib.parse import quote

LINE = 78  # RFC 5322's recommended line length; 998 is the hard limit
CRLF = b"\r\n"


@dataclass(frozen=True)
class Part:
    content_type: str  # "text/plain", "application/pdf"…
    data: bytes | str  # text parts as str, files as bytes
    filename: str | None = None  # an attachment's name


def message(headers: list[tuple[str, str]], body: list[Part], attachments: list[Part], *,
            utf8: bool = False) -> bytes:
    """The message: `headers` (unstructured values; address fields as written by `addresses`),
    the body (one text part, or text and HTML as alternatives), then the attachments."""
    top = body[0] if len(body) == 1 else _Multipart("alternative", body)
    if attachments:
        top = _Multipart("mixed", [top, *attachments])
    out = [field(name, value, utf8=utf8) for name, value in headers]
    out.append(b"MIME-Version: 1.0")
    out.append(_entity(top))
    return CRLF.join(out)


def addresses(values: tuple[str, ...] | list[str]) -> str:
    """An address list, each "Name <addr>" or "addr"; a display name with accents becomes an
    encoded word (RFC 2047, also under SMTPUTF8, which every client reads)."""
    formatted = []
    for value in values:
        name, addr = parseaddr(value)
        addr = addr or value
        formatted.append(formataddr((name, addr), charset="utf-8") if name else addr)
    return ", ".join(formatted)


def field(name: str, value: str, *, utf8: bool = False) -> bytes:
    """One header field, folded at spaces to LINE characters where the words allow.
    In unstructured fields, non-ASCII words become encoded words unless `utf8`; address
    fields and ids are only folded: they are ASCII, or UTF-8 under SMTPUTF8."""
    value = value.replace("\r", " ").replace("\n", " ")  # callers give one line: never a new field
    words = value.split(" ") if name.lower() in _STRUCTURED else _encoded_words(value, utf8)
    return _fold(f"{name}:", words).encode("utf-8")


_STRUCTURED = {"from", "to", "cc", "reply-to", "message-id", "in-reply-to", "references", "date"}


def _encoded_words(value: str, utf8: bool) -> list[str]:
    """The value's words, each run of words with non-ASCII characters (or that would read as
    an encoded word) turned into encoded words; the spaces between encoded words are not
    text (RFC 2047, 6.2), so a run keeps its inner spaces inside its encoding."""
    words, run = [], []

    def close_run():
        if run:
            encoded = Header(" ".join(run), "utf-8").encode(splitchars=" ", maxlinelen=LINE - 2)
            words.extend(encoded.split())
            run.clear()

    for word in value.split(" "):
        if (utf8 or word.isascii()) and "=?" not in word:
            close_run()
            words.append(word)
        else:
            run.append(word)
    close_run()
    return words


def _fold(start: str, words: list[str]) -> str:
    """Lines of at most LINE octets (UTF-8 counts its bytes), broken before a word."""
    lines, line, size = [], start, len(start)
    for word in _no_empty_words(words):
        width = len(word.encode("utf-8"))
        if line != start and size + 1 + width > LINE:
            lines.append(line)
            line, size = " " + word, 1 + width
        else:
            line, size = f"{line} {word}", size + 1 + width
    lines.append(line)
    return "\r\n".join(lines)


def _no_empty_words(words: list[str]) -> list[str]:
    """Runs of spaces kept with the word after them (or before, at the end): a fold never
    leaves a line of spaces alone, which would read as the end of the header (RFC 5322, 3.2.2)."""
    out, pending = [], 0
    for word in words:
        if not word:
            pending += 1
            continue
        out.append(" " * pending + word)
        pending = 0
    if pending and out:
        out[-1] += " " * pending
    return out


@dataclass(frozen=True)
class _Multipart:
    subtype: str
    parts: list


def _entity(part: Part | _Multipart) -> bytes:
    """A part's own header fields, a blank line and its content."""
    if isinstance(part, _Multipart):
        # Random and made of characters that base64 and quoted-printable never write in a row
        # ("=_"): no part can contain it, so the content need not be searched for it.
        boundary = f"=_citebot_{secrets.token_hex(16)}"
        inner = [b"Content-Type: multipart/%s;\r\n boundary=\"%s\"" % (part.subtype.encode(), boundary.encode()), b""]
        for child in part.parts:
            inner += [b"--" + boundary.encode(), _entity(child)]
        inner += [b"--" + boundary.encode() + b"--", b""]
        return CRLF.join(inner)
    if isinstance(part.data, str):
        content = binascii.b2a_qp(part.data.encode("utf-8"), istext=True).replace(b"\n", CRLF)
        head = [b'Content-Type: %s; charset="utf-8"' % part.content_type.encode(),
                b"Content-Transfer-Encoding: quoted-printable"]
    else:
        content = base64.encodebytes(part.data).replace(b"\n", CRLF)
        head = [b"Content-Type: " + part.content_type.encode(), b"Content-Transfer-Encoding: base64"]
    if part.filename is not None:
        head.append(_disposition(part.filename))
    if not content.endswith(CRLF):
        content += CRLF
    return CRLF.join(head) + CRLF + CRLF + content


def _disposition(filename: str) -> bytes:
    """`attachment; filename="…"`, or RFC 2231's `filename*=utf-8''…` for a name with accents
    or quotes, cut in continuations (`filename*0*=`…) so that no line passes LINE."""
    head = "Content-Disposition: attachment;"
    if filename.isascii() and filename.isprintable() and '"' not in filename and "\\" not in filename:
        simple = f' filename="{filename}"'
        if len(head) + len(simple) <= LINE:
            return (head + simple).encode("ascii")
        if len(simple) <= LINE:
            return (head + "\r\n" + simple).encode("ascii")
    encoded = quote(filename, safe="")
    if len(encoded) <= _CHUNK:
        return f"{head}\r\n filename*=utf-8''{encoded}".encode("ascii")
    chunks, rest = [], encoded
    while rest:
        cut = min(_CHUNK, len(rest))
        while "%" in rest[max(cut - 2, 0):cut] and cut < len(rest):  # never split a %XX triple
            cut -= 1
        chunks.append(rest[:cut])
        rest = rest[cut:]
    params = [f" filename*{i}*={'utf-8' + chr(39) * 2 if i == 0 else ''}{chunk}" for i, chunk in enumerate(chunks)]
    return (head + "\r\n" + ";\r\n".join(params)).encode("ascii")


_CHUNK = 55  # encoded characters of a file name per line: " filename*0*=utf-8''" + 55 < LINE
