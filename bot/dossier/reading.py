"""What a message holds, read: the parsed message and what each attachment gave.

Pure, and light to import (no database): `read_message` is what a reading process
runs for the poller (bot.read_ahead) as well as what the poller runs itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.form.check import FICHE, UNKNOWN, CheckResult, check_bytes
from bot.form.docxfile import OLE_MAGIC
from bot.mail.compose import DOCX_TYPE
from bot.mail.parse import Attachment, Incoming, parse_message
from bot.rules import Rules
from bot.store.files import sha256

WORD_SUFFIXES = (".docx", ".dotx")
# Word processors' other formats: read to name them in the answer (« au format OpenDocument… »).
OTHER_TEXT_SUFFIXES = (".odt", ".ott", ".rtf")
RTF_MAGIC = b"{\\rtf"


@dataclass(frozen=True)
class File:
    """An attachment and what reading it gave."""

    attachment: Attachment
    sha256: str
    result: CheckResult | None  # None: not a Word document at all

    @property
    def is_fiche(self) -> bool:
        return self.result is not None and self.result.kind == FICHE

    @property
    def is_failed_word(self) -> bool:
        """A Word file that is not a readable fiche projet (not a .doc or a PDF)."""
        if self.result is None or self.is_fiche:
            return False
        named_docx = self.attachment.filename.lower().endswith(WORD_SUFFIXES + OTHER_TEXT_SUFFIXES)
        return self.result.kind == UNKNOWN or named_docx or self.attachment.content_type == DOCX_TYPE


@dataclass(frozen=True)
class Read:
    """A message and its files; a robot's files are never read (nothing is answered)."""

    message: Incoming
    files: list[File]


def read_files(message: Incoming, rules: Rules) -> list[File]:
    files = []
    for att in message.attachments:
        data = att.data
        word_like = (data[:2] == b"PK" or data[:8] == OLE_MAGIC or data[:5] == RTF_MAGIC
                     or att.filename.lower().endswith(WORD_SUFFIXES + OTHER_TEXT_SUFFIXES))
        # A container we could not open (an encrypted .zip…) is not a Word file that failed.
        result = check_bytes(data, rules) if word_like and not (att.too_large or att.unopened) else None
        files.append(File(att, sha256(data), result))
    return files


def read_message(raw: bytes, rules: Rules, max_attachment_bytes: int) -> Read:
    message = parse_message(raw, max_attachment_bytes=max_attachment_bytes)
    return Read(message, read_files(message, rules) if message.attachments and not message.auto else [])
