"""Open a .docx safely: decide from its bytes alone whether it is a Word document
we may read, before any XML is parsed.

Porteurs' files (and anything an attacker mails) arrive here. The checks are
cheap and bound time and memory: the zip's central directory is inspected
(entry count, declared sizes, compression ratio, encryption) and the few parts
we need are read with a hard cap, so a lying header cannot make us inflate more
than the cap. XML is parsed without DTDs, entities or network access. What
Word would fetch from the network by itself when a coordinator opens the file
is refused: external relationships here, field codes in fieldcodes.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

from bot.form.fieldcodes import network_field
from bot.form.netpaths import is_network_target

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


_OPENDOCUMENT = b"mimetypeapplication/vnd.oasis.opendocument."


def _opendocument(data: bytes) -> str | None:
    """An OpenDocument file (LibreOffice's own format) names itself in its first,
    uncompressed entry "mimetype": .odt is "odt", the others "opendocument"."""
    at = data.find(_OPENDOCUMENT, 0, 200)
    if at < 0:
        return None
    subtype = data[at + len(_OPENDOCUMENT): at + len(_OPENDOCUMENT) + 20]
    return "odt" if subtype.startswith(b"text") else "opendocument"


# Formatting the reader never looks at. A run's properties are most of the XML
# of a document converted by some tools (one run per word, each with its fonts,
# colour, size and language): dropping them while parsing keeps a 25 MB part
# within the memory budget.
_PRUNED = ("rPr", "proofErr", "bookmarkStart", "bookmarkEnd", "lastRenderedPageBreak")
_CHUNK = 1 << 20


def parse_document(chunks: Iterable[bytes]) -> etree._Element:
    """Parse the main part as parse_xml does, fed chunk by chunk from the zip (the
    whole part is never held in memory) and dropping the runs' formatting as it goes."""
    parser = etree.XMLPullParser(
        events=("end",), tag=[f"{{*}}{name}" for name in _PRUNED],
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )
    tail = b""
    try:
        for chunk in chunks:
            if b"<!DOCTYPE" in tail + chunk[:16] or b"<!DOCTYPE" in chunk or b"<!ENTITY" in tail + chunk:
                raise Unreadable("damaged", "DTD in an XML part")
            tail = chunk[-16:]
            parser.feed(chunk)
            for _, element in parser.read_events():
                parent = element.getparent()
                if parent is not None:
                    parent.remove(element)
        root = parser.close()
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
    if data.lstrip()[:5] == b"{\\rtf":
        raise Unreadable("rtf")
    if data.startswith(b"PK") and (kind := _opendocument(data)):
        raise Unreadable(kind)
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


def _part_chunks(zf: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], name: str) -> Iterator[bytes]:
    info = entries.get(name)
    if info is None:
        raise Unreadable("damaged", f"missing part {name}")
    if info.file_size > MAX_PART_BYTES:
        raise Unreadable("too_large", name)
    # Read at most the cap, whatever the header claims, a chunk at a time so a
    # lying header costs no more memory than an honest one.
    size = 0
    with zf.open(info) as f:
        while chunk := f.read(_CHUNK):
            size += len(chunk)
            if size > MAX_PART_BYTES:
                raise Unreadable("too_large", name)
            yield chunk


def _read_part(zf: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], name: str) -> bytes:
    return b"".join(_part_chunks(zf, entries, name))


def _main_part_name(zf, entries) -> str:
    rels = parse_xml(_read_part(zf, entries, "_rels/.rels"))
    for rel in rels.iter(f"{{{_PKG_RELS_NS}}}Relationship"):
        if rel.get("Type") in OFFICE_DOCUMENT_REL:
            return posixpath.normpath(rel.get("Target", "").lstrip("/"))
    raise Unreadable("other_office", "no officeDocument relationship")


def _content_types(zf, entries) -> Callable[[str], str]:
    """The content type of a part: its Override in [Content_Types].xml, else the
    Default of its extension (part names are case-insensitive, as Word reads them)."""
    types = parse_xml(_read_part(zf, entries, "[Content_Types].xml"))
    overrides: dict[str, str] = {}
    for override in types.iter(f"{{{_CT_NS}}}Override"):
        overrides.setdefault(override.get("PartName", "").lstrip("/").lower(), override.get("ContentType", ""))
    defaults: dict[str, str] = {}
    for default in types.iter(f"{{{_CT_NS}}}Default"):
        defaults.setdefault(default.get("Extension", "").lower(), default.get("ContentType", ""))

    def content_type(part: str) -> str:
        part = part.lower()
        return overrides[part] if part in overrides else defaults.get(part.rsplit(".", 1)[-1], "")

    return content_type


def _check_external_relationships(zf, entries) -> None:
    for name in entries:
        if not name.lower().endswith(".rels"):  # part names are case-insensitive
            continue
        rels = parse_xml(_read_part(zf, entries, name))
        for rel in rels.iter(f"{{{_PKG_RELS_NS}}}Relationship"):
            if (
                rel.get("TargetMode") == "External"
                and not rel.get("Type", "").endswith(SAFE_EXTERNAL_RELS)
                and is_network_target(rel.get("Target", ""))
            ):
                raise Unreadable("external", rel.get("Type", ""))


# A part that may hold a field: the "instrText" element or the "instr" attribute
# of fldSimple, in UTF-8 or in the UTF-16 that XML parts may also be written in.
_FIELD_MARKS = tuple("instr".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))


# The parts besides the main one where Word shows, and so updates, fields: the
# other stories of the document. Generic XML too, in case a lenient reader takes
# a story declared that way. Never a theme, the styles or the package's own
# parts: reading them could only refuse a file for a flaw Word does not see
# (and would cost time on every fiche).
_STORY_TYPES = tuple(
    f"application/vnd.openxmlformats-officedocument.wordprocessingml.{kind}+xml"
    for kind in ("header", "footer", "footnotes", "endnotes", "comments", "document.glossary")
) + ("application/xml", "text/xml")


def _may_hold_fields(content_type: str) -> bool:
    return content_type.lower() in _STORY_TYPES


def _check_field_codes(zf, entries, content_types: Callable[[str], str], main: str,
                       document: etree._Element) -> None:
    """Refuse a field that fetches from the network (fieldcodes), in the main part
    and in the other stories: Word updates the fields of headers, footers,
    footnotes and comments too when it opens the file, though we read only the
    main part. Parts are chosen by content type, as Word does, never by name: a
    relationship may give a header any name."""
    if keyword := network_field(document):
        raise Unreadable("linked_field", f"{keyword} in {main}")
    for name in entries:
        if name == main or not _may_hold_fields(content_types(name)):
            continue
        data = _read_part(zf, entries, name)
        if any(mark in data for mark in _FIELD_MARKS) and (keyword := network_field(parse_xml(data))):
            raise Unreadable("linked_field", f"{keyword} in {name}")


def open_docx(data: bytes) -> DocxParts:
    """Check a candidate .docx and return its parsed main part, or raise Unreadable."""
    sniff(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = _check_entries(zf)
            main = _main_part_name(zf, entries)
            content_types = _content_types(zf, entries)
            content_type = content_types(main)
            if content_type in MACRO_MAIN or any(n.lower().endswith("vbaproject.bin") for n in entries):
                raise Unreadable("macros")
            if content_type not in DOCX_MAIN:
                raise Unreadable("other_office", content_type)
            _check_external_relationships(zf, entries)
            document = parse_document(_part_chunks(zf, entries, main))
            _check_field_codes(zf, entries, content_types, main, document)
            return DocxParts(document=document)
    except Unreadable:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError, KeyError) as exc:
        # Truncated or corrupt archives, bad CRCs, unsupported compression.
        raise Unreadable("damaged", f"{type(exc).__name__}: {exc}") from None
