"""A small TNEF encoder, from the published format ([MS-OXTNEF]), for the attributes a
winmail.dat around a porteur's files needs: the stream header, the TNEF version and OEM
code page, the message class, the body (attBody, or a MAPI PidTagBody / compressed RTF in
attMsgProps), and per attachment attAttachRendData, the 8.3 attAttachTitle,
attAttachData and the MAPI properties of attAttachment (PidTagAttachLongFilename,
PidTagAttachMethod, PidTagAttachMimeTag). Each attribute carries its checksum (the sum
of its data bytes modulo 65,536), as Outlook writes it."""

from __future__ import annotations

import struct

SIGNATURE = 0x223E9F78
LEVEL_MESSAGE, LEVEL_ATTACHMENT = 0x01, 0x02
# Attribute ids: the attribute in the low word, its type in the high word (2.1.3.3.1).
ATT_TNEF_VERSION = 0x00089006  # atpDword
ATT_OEM_CODEPAGE = 0x00069007  # atpByte
ATT_MESSAGE_CLASS = 0x00078008  # atpWord (a string)
ATT_BODY = 0x0002800C  # atpText
ATT_MSG_PROPS = 0x00069003  # atpByte: a MAPI property list
ATT_ATTACH_REND_DATA = 0x00069002  # atpByte: starts an attachment
ATT_ATTACH_TITLE = 0x00018010  # atpString: the 8.3 name
ATT_ATTACH_DATA = 0x0006800F  # atpByte
ATT_ATTACHMENT = 0x00069005  # atpByte: the attachment's MAPI property list
# MAPI property types and ids (MS-OXPROPS).
PT_LONG, PT_UNICODE, PT_BINARY = 0x0003, 0x001F, 0x0102
PID_BODY, PID_RTF_COMPRESSED = 0x1000, 0x1009
PID_ATTACH_LONG_FILENAME, PID_ATTACH_METHOD, PID_ATTACH_MIME_TAG = 0x3707, 0x3705, 0x370E
ATTACH_BY_VALUE = 1


def attribute(level: int, attribute_id: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute_id, len(data)) + data + struct.pack("<H", checksum)


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def mapi_properties(props: list[tuple[int, int, object]]) -> bytes:
    """A MAPI property list (2.1.3.4): count, then each (type, id, value); variable-size
    values as one value: its length and its bytes padded to 4."""
    out = struct.pack("<I", len(props))
    for ptype, pid, value in props:
        out += struct.pack("<HH", ptype, pid)
        if ptype == PT_LONG:
            out += struct.pack("<I", value)
            continue
        data = (value + "\x00").encode("utf-16-le") if ptype == PT_UNICODE else value
        out += struct.pack("<II", 1, len(data)) + _padded(data)
    return out


def short_name(name: str) -> str:
    """The 8.3 title Outlook writes next to the long name (« FICHEP~1.DOC »)."""
    stem, _, extension = name.rpartition(".")
    letters = "".join(ch for ch in (stem or name).upper() if ch.isascii() and ch.isalnum())
    return f"{letters[:6]}~1" + (f".{extension[:3].upper()}" if stem else "")


def tnef(files: list[tuple[str, bytes, str]] = (), *, body: str | None = None, mapi_body: str | None = None,
         compressed_rtf: bytes | None = None, codepage: int = 1252, key: int = 0x1234) -> bytes:
    """A TNEF stream: `files` as (long name, data, MIME type or "")."""
    out = struct.pack("<IH", SIGNATURE, key)
    out += attribute(LEVEL_MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += attribute(LEVEL_MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", codepage, 0))
    out += attribute(LEVEL_MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00")
    if body is not None:
        out += attribute(LEVEL_MESSAGE, ATT_BODY, body.encode(f"cp{codepage}"))
    props = []
    if mapi_body is not None:
        props.append((PT_UNICODE, PID_BODY, mapi_body))
    if compressed_rtf is not None:
        props.append((PT_BINARY, PID_RTF_COMPRESSED, compressed_rtf))
    if props:
        out += attribute(LEVEL_MESSAGE, ATT_MSG_PROPS, mapi_properties(props))
    for name, data, mime in files:
        out += attribute(LEVEL_ATTACHMENT, ATT_ATTACH_REND_DATA, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))
        out += attribute(LEVEL_ATTACHMENT, ATT_ATTACH_TITLE, short_name(name).encode("ascii") + b"\x00")
        out += attribute(LEVEL_ATTACHMENT, ATT_ATTACH_DATA, data)
        props = [(PT_UNICODE, PID_ATTACH_LONG_FILENAME, name), (PT_LONG, PID_ATTACH_METHOD, ATTACH_BY_VALUE)]
        if mime:
            props.append((PT_UNICODE, PID_ATTACH_MIME_TAG, mime))
        out += attribute(LEVEL_ATTACHMENT, ATT_ATTACHMENT, mapi_properties(props))
    return out
