"""The image-consent form for minors (rules/consent.toml), as a .docx: the call's
official model on an A4 page, with rows tall enough to write by hand and the
project's intitulé, structure and reference prefilled for each dossier."""

from __future__ import annotations

import io
import struct
import tomllib
import zipfile
import zlib
from functools import cache
from xml.sax.saxutils import escape

from docx import Document
from docx.enum.table import WD_ROW_HEIGHT_RULE
from docx.oxml import OxmlElement
from docx.shared import Cm, Pt

from bot import text as typography
from bot.form.docsetup import add_footer, add_logos, french_a4, french_spacing
from bot.paths import rules_dir
from bot.rules import load_rules

ROW_HEIGHT = Cm(1.0)  # a line of handwriting, with room
TALL_ROW_HEIGHT = Cm(2.5)  # a signature
LABEL_WIDTH, VALUE_WIDTH = Cm(6.5), Cm(10.5)


@cache
def consent_data() -> dict:
    with open(rules_dir() / "consent.toml", "rb") as f:
        return tomllib.load(f)


def official_paragraphs() -> list[str]:
    """The paragraphs that reproduce the call's model, in order."""
    return [part["text"] for part in consent_data()["body"] if part.get("official")]


def _rows(doc, labels: list[str], values: dict[str, str], tall: tuple[str, ...] = ()) -> None:
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    table.autofit = False
    table.columns[0].width, table.columns[1].width = LABEL_WIDTH, VALUE_WIDTH
    for label in labels:
        row = table.add_row()
        row.height = TALL_ROW_HEIGHT if label in tall else ROW_HEIGHT
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        row.cells[0].width, row.cells[1].width = LABEL_WIDTH, VALUE_WIDTH
        row.cells[0].paragraphs[0].add_run(label).bold = True
        row.cells[1].text = values.get(label, "")
    doc.add_paragraph().paragraph_format.space_after = Pt(0)


# Where each dossier's values go in the form built once: characters of Unicode's private use
# area, which no text of the form contains and French spacing leaves alone.
_MARKERS = {name: f"\ue000{name}\ue001" for name in ("intitule", "structure", "reference")}


def build_consent_form(intitule: str = "", structure: str = "", reference: str = "") -> tuple[str, bytes]:
    """(file name, .docx bytes) for one dossier; with no argument, the blank form.

    The form is built once (python-docx takes some 30 ms for it, more than the whole rest of an
    acknowledgement); each dossier's copy is that file with its three values written in place
    of their markers in the main part."""
    filename, template = _form_with_markers()
    values = {"intitule": intitule, "structure": structure, "reference": reference}
    with zipfile.ZipFile(io.BytesIO(template)) as source:
        text = source.read(MAIN_PART).decode("utf-8")
    for name, marker in _MARKERS.items():
        text = text.replace(marker, escape(typography.spaces(_xml_chars(values[name]))))
    return filename, _replace_part(template, MAIN_PART, text.encode("utf-8"))


MAIN_PART = "word/document.xml"


def _replace_part(archive: bytes, name: str, data: bytes) -> bytes:
    """The zip with one entry's content replaced, every other entry copied as it is compressed.

    Re-deflating the whole package each time would cost 12 ms: python-docx's styles weigh 800 KB
    uncompressed. The zip format (APPNOTE.TXT 4.3) lets an entry's compressed bytes be copied
    with its local header; only the offsets in the central directory change."""
    infos = zipfile.ZipFile(io.BytesIO(archive)).infolist()
    out, central = io.BytesIO(), []
    for info in infos:
        start = info.header_offset
        name_length, extra_length = struct.unpack("<HH", archive[start + 26:start + 30])
        body_start = start + 30 + name_length + extra_length
        offset = out.tell()
        if info.filename == name:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            packed = compressor.compress(data) + compressor.flush()
            crc, size, method = zlib.crc32(data), len(data), zipfile.ZIP_DEFLATED
            encoded = info.filename.encode("utf-8")
            out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, info.flag_bits & ~0x08, method,
                                  *_dos_time(info.date_time), crc, len(packed), size, len(encoded), 0))
            out.write(encoded)
            out.write(packed)
        else:
            crc, packed, size, method = info.CRC, None, info.file_size, info.compress_type
            out.write(archive[start:body_start + info.compress_size])
            if info.flag_bits & 0x08:  # a data descriptor follows the data: copy it too
                out.write(archive[body_start + info.compress_size:body_start + info.compress_size + 16])
        compressed = len(packed) if packed is not None else info.compress_size
        central.append((info, offset, crc, compressed, size, method))
    directory = out.tell()
    for info, offset, crc, compressed, size, method in central:
        encoded = info.filename.encode("utf-8")
        flags = info.flag_bits & ~0x08 if info.filename == name else info.flag_bits
        made_by = (info.create_system << 8) | info.create_version  # the system, for external_attr
        out.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", made_by, 20, flags, method,
                              *_dos_time(info.date_time), crc, compressed, size, len(encoded), 0, 0, 0, 0,
                              info.external_attr, offset))
        out.write(encoded)
    end = out.tell()
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), end - directory,
                          directory, 0))
    return out.getvalue()


def _dos_time(stamp: tuple) -> tuple[int, int]:
    year, month, day, hour, minute, second = stamp
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _xml_chars(value: str) -> str:
    """What XML 1.0 can hold of a value (a fiche's text may carry control characters)."""
    return "".join(c for c in value if c in "\t\n" or (" " <= c and c not in "\ufffe\uffff"))


@cache
def _form_with_markers() -> tuple[str, bytes]:
    data, call = consent_data(), load_rules().call
    doc = Document()
    french_a4(doc, title=data["title"], subject=f"{call['title']} — droit à l'image", author=call["title"],
              margins_cm=(2.0, 1.5))
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(10.5)
    add_logos(doc, [rules_dir() / name for name in call.get("logos", [])])
    add_footer(doc, f"{call['organisation']} — {call['year']} — Autorisation de droit à l'image")
    doc.add_paragraph(data["title"], style="Title").runs[0].font.size = Pt(16)
    doc.add_paragraph(data["subtitle"], style="Subtitle")
    doc.add_paragraph(data["intro"]).runs[0].italic = True
    doc.add_heading(data["project_heading"], level=2)
    known = dict(zip(data["project_fields"], _MARKERS.values()))
    _rows(doc, data["project_fields"], known)
    for part in data["body"]:
        if "fields" in part:
            _rows(doc, part["fields"], {}, tuple(part.get("tall", ())))
            continue
        paragraph = doc.add_paragraph(part["text"])
        paragraph.paragraph_format.space_after = Pt(5)
        if part.get("note"):
            paragraph.runs[0].font.size = Pt(8)
    french_spacing(doc)
    out = io.BytesIO()
    doc.save(out)
    return data["filename"], out.getvalue()
