"""Open the attachments that hold other files, so that what they hold is taken as if
it had been attached directly (issue 14): a porteur who "just attached the fiche" from
Outlook, Exchange or Windows' « Dossier compressé » expects it to be found.

- **TNEF** (`winmail.dat`, `application/ms-tnef`): what Outlook and Exchange send when
  the message is in Rich Text. Read with tnefparse; each file under its long name
  (PidTagAttachLongFilename, never the 8.3 title such as `FICHEP~1.DOC`), an attached
  message as a message of its own, and the body (plain, HTML or compressed RTF) for the
  caller to use when the MIME message has no text of its own.
- **An attached Outlook message** (`.msg`, an OLE compound file): read with
  python-oxmsg; its files, and the messages attached to it (method 5, embedded).
- **A .zip**: checked from its central directory before anything is inflated, with the
  guards of the .docx (bot/form/docxfile.py): number of entries, declared sizes, the
  compression ratio of large entries, encryption; then each entry read with a hard cap,
  so a lying header costs no more than an honest one. Names: UTF-8 when the zip says so
  (flag bit 11, or an Info-ZIP Unicode Path field whose CRC matches), UTF-8 again when the
  bytes are valid UTF-8 with non-ASCII characters (macOS writes them without the flag),
  else CP850, the OEM code page of a French Windows: « Annexe À compléter.pdf » comes back
  as written. CP437 (a US Windows) is the same table for every lower-case French letter
  (é è à ç ù ê â î ô ë ï ü); where the two differ, CP437 has box-drawing characters that no
  one types in a file name and CP850 the capitals À Â Ê È Ë Î Ï Ô Ù Û: CP850 reads both
  correctly. Paths inside are only names: the caller keeps the last component
  (`parse.safe_filename`) and stores files by their SHA-256.

Pure: bytes in, an `Opened` or `CannotOpen(reason)` out. The reasons key the French line
of the answer (templates_mail/_pieces_non_ouvertes.txt): "encrypted", "too_large",
"too_many", "too_deep" (set by the caller), "empty", "damaged".
"""

from __future__ import annotations

import io
import logging
import mimetypes
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from oxmsg import Message
from oxmsg.domain import constants as msg_constants
from oxmsg.properties import Properties
from striprtf.striprtf import rtf_to_text
from tnefparse import TNEF
from tnefparse import properties as mapi
from tnefparse.mapi import IMESSAGE_SIG, IMESSAGE_SIG_LEN

from bot.form.docxfile import MAX_RATIO, OLE_MAGIC, RATIO_FLOOR

TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"  # 0x223E9F78, little-endian (MS-OXTNEF 2.1.3.1)
TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
MSG_TYPES = ("application/vnd.ms-outlook", "application/x-msg")
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-zip")
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
MSG_STREAM = "__substg1.0_".encode("utf-16-le")  # every .msg property stream is named so

MAX_ZIP_LEVELS = 2  # a zip inside a zip is opened; a zip inside that one is not
MAX_EMBEDDED_LEVELS = 8  # messages attached to messages read at most (the caller's depth limit cuts sooner)
MAX_ENTRIES = 200  # files in one container: more is not a submission
MAX_EXTRACTED_BYTES = 60 * 1024 * 1024  # taken out of all the containers of one message
SKIPPED_ENTRIES = ("__macosx/", ".ds_store", "thumbs.db", "desktop.ini")  # what zip tools add

# tnefparse and olefile log what they could not decode, with bits of the file in the
# text: never at INFO or above in our logs (the file is a porteur's, see README).
for _name in ("tnefparse", "olefile", "oxmsg"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)

_TYPES = mimetypes.MimeTypes()  # Python's own table only, not the machine's /etc/mime.types
for _type, _suffix in (("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
                       ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
                       ("application/vnd.oasis.opendocument.text", ".odt"),
                       ("application/vnd.oasis.opendocument.spreadsheet", ".ods"),
                       ("application/vnd.ms-outlook", ".msg")):
    _TYPES.add_type(_type, _suffix)


class CannotOpen(Exception):
    """A container we do not open; `reason` keys the French line of the answer."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Inner:
    """A file found inside a container."""

    filename: str  # as the container names it (decoded, not yet made safe)
    content_type: str
    data: bytes = field(repr=False)  # empty when too_large
    size: int
    too_large: bool = False


@dataclass(frozen=True)
class Opened:
    """What a container holds: files, attached messages, and (TNEF) the message's body."""

    files: tuple[Inner, ...] = ()
    messages: tuple[Opened, ...] = ()  # each one level of forwarding deeper
    plain: str = ""
    html: str = ""


class Budget:
    """What may still be taken out of the containers of one message."""

    def __init__(self, max_bytes: int = MAX_EXTRACTED_BYTES) -> None:
        self.left = max_bytes

    def take(self, size: int) -> None:
        if size > self.left:
            raise CannotOpen("too_large", f"{size} bytes, {self.left} left for this message")
        self.left -= size


def kind(filename: str, content_type: str, data: bytes) -> str | None:
    """"tnef", "msg" or "zip" when the attachment is a container we open, else None.
    A .docx, .xlsx or .odt is a zip too, and a .doc an OLE file: only a zip named or
    typed as one, and an OLE file named, typed or built as an Outlook message count."""
    name = filename.lower()
    if data[:4] == TNEF_SIGNATURE or content_type in TNEF_TYPES or name == "winmail.dat":
        return "tnef"  # without the signature: a damaged one, which the answer names
    if data[:8] == OLE_MAGIC and (name.endswith(".msg") or content_type in MSG_TYPES
                                  or (MSG_STREAM in data and "__properties_version1.0".encode("utf-16-le") in data)):
        return "msg"
    if data[:4] in ZIP_MAGICS and (name.endswith(".zip") or (content_type in ZIP_TYPES and "." not in name)):
        return "zip"
    return None


def open_container(kind_: str, data: bytes, budget: Budget, max_entry_bytes: int) -> Opened:
    """The contents of a container of that kind; CannotOpen when we cannot take them."""
    opener = {"tnef": open_tnef, "msg": open_msg, "zip": open_zip}[kind_]
    try:
        return opener(data, budget, max_entry_bytes)
    except CannotOpen:
        raise
    except Exception as exc:  # any decoder's error on a hostile or broken file
        raise CannotOpen("damaged", type(exc).__name__) from None


def guess_type(filename: str) -> str:
    return _TYPES.guess_type(filename, strict=False)[0] or "application/octet-stream"


def _inner(name: str, data: bytes | None, content_type: str | None, budget: Budget, max_entry_bytes: int) -> Inner:
    data = data or b""
    content_type = (content_type or "").strip().lower()
    if "/" not in content_type or content_type == "application/octet-stream":
        content_type = guess_type(name)
    if len(data) > max_entry_bytes:
        return Inner(name, content_type, b"", len(data), True)
    budget.take(len(data))
    return Inner(name, content_type, data, len(data))


def _count(files: list) -> None:
    if len(files) > MAX_ENTRIES:
        raise CannotOpen("too_many", f"{len(files)} files")


# -- TNEF ----------------------------------------------------------------------


def open_tnef(data: bytes, budget: Budget, max_entry_bytes: int) -> Opened:
    _check_tnef(data)
    opened = _tnef(TNEF(data, do_checksum=False), budget, max_entry_bytes)
    if not (opened.files or opened.messages or opened.plain or opened.html):
        raise CannotOpen("damaged", "nothing readable")  # a stream cut short: tnefparse reads no attribute
    return opened


MAX_TNEF_ATTRIBUTES = 1500  # about 6 per file (MAX_ENTRIES of them) and the message's own
MAX_TNEF_COPY = 4 << 30  # tnefparse copies the rest of the stream at each attribute: bytes × attributes
MAX_RTF_COMPRESSED = 2 * 1024 * 1024  # LZFu inflates about 8 times at most: a body, not a bomb
MAPI_LISTS = (0x9003, 0x9004, 0x9005)  # attMsgProps, attRecipTable, attAttachment
MAPI_MULTI, MAPI_NAMED = 0x1000, 0x8000
MAPI_ATTACH_DATA_OBJ = mapi.MAPI_ATTACH_DATA_OBJ
MAPI_FIXED = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8,
              0x0014: 8, 0x0040: 8, 0x0048: 16}
MAPI_VARIABLE = (0x0000, 0x000D, 0x001E, 0x001F, 0x0102)


def _check_tnef(data: bytes, level: int = 0) -> None:
    """Walk the stream's attributes (MS-OXTNEF 2.1.3.3) before tnefparse does, without
    copying, so that a hostile stream cannot make it loop: its loops run as many times as
    the counts the file declares, and it slices the rest of the stream at each attribute."""
    if level > MAX_EMBEDDED_LEVELS:
        raise CannotOpen("too_deep", "TNEF messages attached to messages")
    offset, count = 6, 0
    while offset + 11 <= len(data):
        level, attribute_id, length = struct.unpack_from("<BII", data, offset)
        count += 1
        if count > MAX_TNEF_ATTRIBUTES or count * len(data) > MAX_TNEF_COPY:
            raise CannotOpen("too_many", f"{count} TNEF attributes")
        start = offset + 9
        if attribute_id & 0xFFFF in MAPI_LISTS:
            body = data[start:start + length]
            if attribute_id & 0xFFFF == 0x9004:  # recipients: rows of property lists
                rows, at = _bounded(body, 0), 4
                for _ in range(rows):
                    at = _check_mapi(body, at, level)
            else:
                _check_mapi(body, 0, level)
        offset = start + length + 2


def _bounded(data: bytes, at: int, unit: int = 2) -> int:
    """A count read at `at`, refused when the bytes after it cannot hold that many items."""
    if at + 4 > len(data):
        raise CannotOpen("damaged", "TNEF count past the end")
    value = struct.unpack_from("<I", data, at)[0]
    if value * unit > len(data) - at - 4:
        raise CannotOpen("damaged", "TNEF count larger than its data")
    return value


def _check_mapi(data: bytes, at: int, level: int) -> int:
    """The end of the MAPI property list at `at` (2.1.3.4), read as tnefparse reads it,
    every count checked against the bytes left."""
    properties = _bounded(data, at, 8)  # a property is at least its tag and 4 bytes of value
    at += 4
    for _ in range(properties):
        if at + 4 > len(data):
            raise CannotOpen("damaged", "MAPI property past the end")
        ptype, pid = struct.unpack_from("<HH", data, at)
        at += 4
        if pid >= MAPI_NAMED:  # a named property: GUID, kind, then a number or a name
            if at + 20 > len(data):
                raise CannotOpen("damaged", "MAPI name past the end")
            kind = struct.unpack_from("<I", data, at + 16)[0]
            at += 20
            at += 4 if kind == 0 else 4 + ((_bounded(data, at, 1) + 3) & ~3)
        multi = None
        if ptype & MAPI_MULTI:
            ptype ^= MAPI_MULTI
            multi = _bounded(data, at, 2)
            at += 4
        for _ in range(1 if multi is None else multi):
            if ptype in MAPI_FIXED:
                at += MAPI_FIXED[ptype]
                continue
            if ptype not in MAPI_VARIABLE:
                raise CannotOpen("damaged", f"MAPI type {ptype:#06x}")
            items = 1
            if not multi:
                items = _bounded(data, at, 4)
                at += 4
            for _ in range(items):
                size = _bounded(data, at, 1)
                if pid == MAPI_ATTACH_DATA_OBJ and data[at + 4:at + 4 + IMESSAGE_SIG_LEN] == IMESSAGE_SIG:
                    _check_tnef(data[at + 4 + IMESSAGE_SIG_LEN:at + 4 + size], level + 1)  # an attached message
                at += 4 + ((size + 3) & ~3)
        if ptype in (0x0002, 0x000B) and (multi or 1) % 2:
            at += 2  # 16-bit values are padded to 4 bytes
    return at


def _tnef(tnef: TNEF, budget: Budget, max_entry_bytes: int) -> Opened:
    _count(tnef.attachments)
    files, messages = [], []
    codepage = tnef.codepage or "cp1252"
    for attachment in tnef.attachments:
        embedded = getattr(attachment, "embed", None)
        if embedded is not None:  # an attached message (MAPI_ATTACH_DATA_OBJ with the IMessage signature)
            messages.append(_tnef(embedded, budget, max_entry_bytes))
            continue
        mime = next((a.data for a in attachment.mapi_attrs if a.name == mapi.MAPI_ATTACH_MIME_TAG), None)
        files.append(_inner(_tnef_name(attachment, codepage), attachment.data, _text(mime, codepage),
                            budget, max_entry_bytes))
    plain, html = _text(tnef.body, codepage), _text(tnef.htmlbody, codepage)
    compressed = getattr(tnef, "_rtfbody", None) or b""
    if not (plain or html) and len(compressed) <= MAX_RTF_COMPRESSED:  # RTF when there is nothing else
        try:
            plain = _rtf_text(tnef.rtfbody)
        except Exception:  # a broken RTF body costs the text only, never the files
            plain = ""
    return Opened(files=tuple(files), messages=tuple(messages), plain=plain, html=html)


def _tnef_name(attachment, codepage: str) -> str:
    """The long file name; the 8.3 title only when there is no other."""
    try:
        name = attachment.long_filename()
    except UnicodeDecodeError:  # tnefparse decodes an 8-bit title as UTF-8
        name = attachment._name
    return _text(name, codepage)


def _text(value, codepage: str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode(codepage)
        except (LookupError, UnicodeDecodeError):
            value = value.decode("cp1252", "replace")
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def _rtf_text(rtf: bytes | None) -> str:
    """The text of an RTF body (tnefparse decompresses it with compressed_rtf)."""
    if not rtf or not rtf.lstrip().startswith(b"{\\rtf"):
        return ""
    head = rtf[:200]
    codepage = "cp1252"
    if (at := head.find(b"\\ansicpg")) >= 0:
        digits = head[at + 8:at + 13].split(b"\\")[0].split(b" ")[0]
        if digits.isdigit():
            codepage = f"cp{int(digits)}"
    try:
        return rtf_to_text(rtf.decode("latin-1"), encoding=codepage, errors="replace").strip()
    except LookupError:
        return rtf_to_text(rtf.decode("latin-1"), errors="replace").strip()


# -- Outlook .msg ----------------------------------------------------------------

EMBEDDED_MESSAGE = "__substg1.0_3701000D"  # PidTagAttachDataObject of an attached message
EMBEDDED_HDR_OFFSET = 24  # MS-OXMSG 2.4.1.2: the header of an embedded message's properties


def open_msg(data: bytes, budget: Budget, max_entry_bytes: int) -> Opened:
    return _msg(Message.load(data), budget, max_entry_bytes, 0)


def _msg(message: Message, budget: Budget, max_entry_bytes: int, level: int) -> Opened:
    attachments = message.attachments
    _count(attachments)
    files, messages = [], []
    for attachment in attachments:
        inner = next((s for s in attachment._storage.storages if s.name == EMBEDDED_MESSAGE), None)
        if inner is not None:
            if level < MAX_EMBEDDED_LEVELS:
                messages.append(_msg(_EmbeddedMessage(inner), budget, max_entry_bytes, level + 1))
            continue
        if attachment.file_bytes is None:  # a link to a file elsewhere, or an OLE object: nothing to take
            continue
        name = attachment.file_name or attachment.properties.str_prop_value(msg_constants.PID_ATTACH_FILENAME) or ""
        files.append(_inner(name, attachment.file_bytes, attachment.mime_type, budget, max_entry_bytes))
    return Opened(files=tuple(files), messages=tuple(messages))


class _EmbeddedMessage(Message):
    """An attached message: its properties start after a shorter header than a .msg file's."""

    @property
    def _properties(self) -> Properties:
        return Properties(self._storage, properties_header_offset=EMBEDDED_HDR_OFFSET)


# -- zip -------------------------------------------------------------------------


def open_zip(data: bytes, budget: Budget, max_entry_bytes: int) -> Opened:
    if _declared_records(data) > MAX_ZIP_RECORDS:  # before zipfile reads each one into a ZipInfo
        raise CannotOpen("too_many", "zip records")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise CannotOpen("damaged", type(exc).__name__) from None
    with archive:
        entries = [info for info in archive.infolist() if _is_file(info)]
        if not entries:
            raise CannotOpen("empty")
        _count(entries)
        if any(info.flag_bits & 0x1 for info in entries):
            raise CannotOpen("encrypted")
        for info in entries:
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise CannotOpen("damaged", "compression ratio")  # a zip bomb
        wanted = sum(min(info.file_size, max_entry_bytes + 1) for info in entries)
        if wanted > budget.left:
            raise CannotOpen("too_large", f"{wanted} bytes declared")
        files = []
        for info in entries:
            name = entry_name(info)
            if info.file_size > max_entry_bytes:
                files.append(Inner(name, guess_type(name), b"", info.file_size, True))
                continue
            content = _read(archive, info, max_entry_bytes)
            if content is None:  # the header lied about its size
                files.append(Inner(name, guess_type(name), b"", max_entry_bytes + 1, True))
                continue
            files.append(_inner(name, content, None, budget, max_entry_bytes))
        return Opened(files=tuple(files))


MAX_ZIP_RECORDS = 5 * MAX_ENTRIES  # files, and the folders and macOS leftovers we skip


def _declared_records(data: bytes) -> int:
    """The number of entries the end of central directory record declares (0xFFFF: see Zip64)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    return struct.unpack_from("<H", data, at + 10)[0] if 0 <= at <= len(data) - 22 else 0


def _is_file(info: zipfile.ZipInfo) -> bool:
    """A regular file, not a folder, a link or what zip tools add (macOS resource forks…)."""
    if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
        return False
    lowered = info.filename.lower()
    last = lowered.rsplit("/", 1)[-1]
    return not (lowered.startswith(SKIPPED_ENTRIES[0]) or f"/{SKIPPED_ENTRIES[0]}" in lowered
                or last in SKIPPED_ENTRIES[1:] or last.startswith("._"))


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes | None:
    """The entry's bytes, at most `cap` of them whatever its header says (None past it)."""
    chunks, size = [], 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(1 << 20):
                size += len(chunk)
                if size > cap:
                    return None
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
        # a bad CRC, a truncated entry, Deflate64 or another method we cannot inflate
        raise CannotOpen("damaged", type(exc).__name__) from None
    return b"".join(chunks)


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its author wrote it (see the module docstring)."""
    if info.flag_bits & 0x800:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")  # zipfile read the bytes as CP437, one character each
    unicode_path = _unicode_path(info.extra, raw)
    if unicode_path is not None:
        return unicode_path
    if not raw.isascii():
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return raw.decode("cp850")


def _unicode_path(extra: bytes, raw: bytes) -> str | None:
    """The Info-ZIP Unicode Path extra field (0x7075), when it is about this very name."""
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4:at + 4 + size]
        if tag == 0x7075 and len(body) > 5 and body[0] == 1:
            if struct.unpack_from("<I", body, 1)[0] == zlib.crc32(raw):
                try:
                    return body[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
        at += 4 + size
    return None
