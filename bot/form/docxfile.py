"""Open a .docx safely: decide from its bytes alone whether it is a Word document
we may read, before any XML is parsed.

Porteurs' files (and anything an attacker mails) arrive here. The checks are
cheap and bound time and memory: the zip's central directory is inspected
(entry count, declared sizes, compression ratio, encryption) and the few parts
we need are read with a hard cap, so a lying header cannot make us inflate more
than the cap. XML is parsed without DTDs, entities or network access.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ENTRIES = 2000
MAX_TOTAL_UNCOMPRESSED = 200 * 1024 * 1024
MAX_PART_BYTES = 30 * 1024 * 1024  # one XML part we parse
MAX_RATIO = 200  # uncompressed / compressed, for entries above RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
DOCX_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
}
MACRO_MAIN = {
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
}
OFFICE_DOCUMENT_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
    "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument",
)
# External targets: links the reader clicks are fine. Anything else that Word
# would fetch by itself from the network when a coordinator opens the file
# (remote template, linked image, OLE object, frame, subdocument) is refused:
# it can leak credentials or run code. Local paths (a porteur's own
# Normal.dotx, "file:///C:\\...") are inert and common, so they are allowed.
SAFE_EXTERNAL_RELS = ("/hyperlink",)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]+):", re.I)  # two letters at least: "C:" is a drive
_DRIVE_HOST = re.compile(r"^[a-z][:|]$", re.I)  # file://C:/... written without the third slash


def _is_network_target(target: str) -> bool:
    r"""Would Word reach another machine for this external target? Only local paths
    are inert: a drive path, a relative path, or a file: URL on this machine.
    Any other scheme (http:, mhtml:, ms-word:…) and any UNC path (\\host\share,
    file:////host/share, file:///\\host\share, percent-encoded or not) are not."""
    t = re.sub(r"[\x00-\x20\x7f]", "", unquote(target)).strip().replace("\\", "/")
    scheme = _SCHEME.match(t)
    if scheme:
        if scheme.group(1).lower() != "file":
            return True
        t = t[scheme.end():]
        if t.startswith("//"):
            host, _, path = t[2:].partition("/")
            if host.lower() not in ("", "localhost") and not _DRIVE_HOST.match(host):
                return True
            t = "/" + path
    return t.startswith("//")

_PKG_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"


class Unreadable(Exception):
    """The file is not a Word .docx we can read; `reason` keys the French message."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class DocxParts:
    document: etree._Element  # the parsed main document part (w:document)


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
)


def parse_xml(data: bytes) -> etree._Element:
    """Parse one part; DTDs (entity bombs, external entities) are refused outright."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Unreadable("damaged", "DTD in an XML part")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Unreadable("damaged", f"XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise Unreadable("damaged", "DTD in an XML part")
    return root


def sniff(data: bytes) -> None:
    """Refuse what is obviously not a .docx, naming what it is."""
    if not data.strip():
        raise Unreadable("empty")
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable("too_large", f"{len(data)} bytes")
    if data.startswith(OLE_MAGIC):
        # An encrypted .docx is an OLE container holding an EncryptedPackage stream.
        if "EncryptedPackage".encode("utf-16-le") in data or "EncryptionInfo".encode("utf-16-le") in data:
            raise Unreadable("encrypted")
        raise Unreadable("doc")
    if data.lstrip()[:5] == b"%PDF-":
        raise Unreadable("pdf")
    if not data.startswith(b"PK"):
        raise Unreadable("damaged", "not a zip file")


def _check_entries(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise Unreadable("damaged", f"{len(infos)} zip entries")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise Unreadable("encrypted", info.filename)
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise Unreadable("damaged", f"compression ratio of {info.filename}")
    if total > MAX_TOTAL_UNCOMPRESSED:
        raise Unreadable("too_large", f"{total} bytes uncompressed")
    return {info.filename: info for info in infos}


def _read_part(zf: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], name: str) -> bytes:
    info = entries.get(name)
    if info is None:
        raise Unreadable("damaged", f"missing part {name}")
    if info.file_size > MAX_PART_BYTES:
        raise Unreadable("too_large", name)
    # Read at most the cap, whatever the header claims, a chunk at a time so a
    # lying header costs no more memory than an honest one.
    chunks, size = [], 0
    with zf.open(info) as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
            if size > MAX_PART_BYTES:
                raise Unreadable("too_large", name)
            chunks.append(chunk)
    return b"".join(chunks)


def _main_part_name(zf, entries) -> str:
    rels = parse_xml(_read_part(zf, entries, "_rels/.rels"))
    for rel in rels.iter(f"{{{_PKG_RELS_NS}}}Relationship"):
        if rel.get("Type") in OFFICE_DOCUMENT_REL:
            return posixpath.normpath(rel.get("Target", "").lstrip("/"))
    raise Unreadable("other_office", "no officeDocument relationship")


def _content_type(zf, entries, part: str) -> str:
    types = parse_xml(_read_part(zf, entries, "[Content_Types].xml"))
    for override in types.iter(f"{{{_CT_NS}}}Override"):
        if override.get("PartName", "").lstrip("/") == part:
            return override.get("ContentType", "")
    ext = part.rsplit(".", 1)[-1]
    for default in types.iter(f"{{{_CT_NS}}}Default"):
        if default.get("Extension", "").lower() == ext.lower():
            return default.get("ContentType", "")
    return ""


def _check_external_relationships(zf, entries) -> None:
    for name in entries:
        if not name.lower().endswith(".rels"):  # part names are case-insensitive
            continue
        rels = parse_xml(_read_part(zf, entries, name))
        for rel in rels.iter(f"{{{_PKG_RELS_NS}}}Relationship"):
            if (
                rel.get("TargetMode") == "External"
                and not rel.get("Type", "").endswith(SAFE_EXTERNAL_RELS)
                and _is_network_target(rel.get("Target", ""))
            ):
                raise Unreadable("external", rel.get("Type", ""))


def open_docx(data: bytes) -> DocxParts:
    """Check a candidate .docx and return its parsed main part, or raise Unreadable."""
    sniff(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = _check_entries(zf)
            main = _main_part_name(zf, entries)
            content_type = _content_type(zf, entries, main)
            if content_type in MACRO_MAIN or any(n.lower().endswith("vbaproject.bin") for n in entries):
                raise Unreadable("macros")
            if content_type not in DOCX_MAIN:
                raise Unreadable("other_office", content_type)
            _check_external_relationships(zf, entries)
            return DocxParts(document=parse_xml(_read_part(zf, entries, main)))
    except Unreadable:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError, KeyError) as exc:
        # Truncated or corrupt archives, bad CRCs, unsupported compression.
        raise Unreadable("damaged", f"{type(exc).__name__}: {exc}") from None
