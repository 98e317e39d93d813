"""Build real .docx files from WordprocessingML written by hand.

Each helper returns an XML fragment; `docx()` wraps a body into a complete,
valid package. This lets a test show exactly the layout it is about: content
controls, merged cells, tracked changes, legacy form fields… the things a
porteur's Word produces and python-docx cannot write.
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

NS = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'mc:Ignorable="w14"'
)
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


HEADER = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
FOOTER = "application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml"
FOOTNOTES = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def docx(body: str, *, document_rels: str = "", parts: dict[str, tuple[str, str | bytes]] | None = None) -> bytes:
    """A complete package around `body`. `parts`: more parts, name -> (content
    type, XML), each declared in [Content_Types].xml (give them a relationship
    in `document_rels`, with `rel()`, as Word does)."""
    parts = parts or {}
    overrides = "".join(f'<Override PartName="/{name}" ContentType="{kind}"/>' for name, (kind, _) in parts.items())
    package = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{DOCX_MAIN}"/>{overrides}</Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {NS}><w:body>{body}'
            "</w:body></w:document>"
        ),
    }
    if document_rels:
        package["word/_rels/document.xml.rels"] = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{document_rels}</Relationships>"
        )
    package.update({name: content for name, (_, content) in parts.items()})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in package.items():
            zf.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return out.getvalue()


def rel(rid: str, kind: str, target: str) -> str:
    """A relationship of the main part (kind: header, footer, footnotes…)."""
    return f'<Relationship Id="{rid}" Type="{RELS}/{kind}" Target="{target}"/>'


def story(tag: str, content: str) -> str:
    """A part of its own: w:hdr, w:ftr, w:footnotes… holding `content`."""
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:{tag} {NS}>{content}</w:{tag}>'


def section(*references: str) -> str:
    """The body's last section properties, e.g. section(header_reference("rId7"))."""
    return f"<w:sectPr>{''.join(references)}</w:sectPr>"


def header_reference(rid: str, kind: str = "header") -> str:
    return f'<w:{kind}Reference w:type="default" r:id="{rid}"/>'


# -- inline content -----------------------------------------------------------
def r(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def ins(text: str) -> str:
    return f'<w:ins w:id="1" w:author="Porteur" w:date="2026-10-01T10:00:00Z">{r(text)}</w:ins>'


def deleted(text: str) -> str:
    return (
        '<w:del w:id="2" w:author="Porteur" w:date="2026-10-01T10:00:00Z">'
        f'<w:r><w:delText xml:space="preserve">{escape(text)}</w:delText></w:r></w:del>'
    )


def w14_box(checked: bool) -> str:
    """A Word 2010 check-box content control (w14:checkbox)."""
    return (
        '<w:sdt><w:sdtPr><w14:checkbox>'
        f'<w14:checked w14:val="{1 if checked else 0}"/>'
        '<w14:checkedState w14:val="2612" w14:font="MS Gothic"/>'
        '<w14:uncheckedState w14:val="2610" w14:font="MS Gothic"/>'
        f'</w14:checkbox></w:sdtPr><w:sdtContent>{r("☒" if checked else "☐")}</w:sdtContent></w:sdt>'
    )


def legacy_box(checked: bool | None, default: bool = False) -> str:
    """A legacy form-field check box; checked=None leaves only w:default."""
    state = "" if checked is None else ("<w:checked/>" if checked else '<w:checked w:val="0"/>')
    return (
        '<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="CaseACocher1"/><w:enabled/>'
        f'<w:checkBox><w:sizeAuto/><w:default w:val="{1 if default else 0}"/>{state}</w:checkBox>'
        '</w:ffData></w:fldChar></w:r><w:r><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


def field(*instruction: str, result: str = "1") -> str:
    """A field as Word writes it: fldChar begin, the instruction in one w:instrText
    run per piece (Word splits an instruction across runs freely; a piece that
    starts with "<" is XML, e.g. a nested field), separate, the result, end."""
    pieces = "".join(
        piece if piece.startswith("<") else f'<w:r><w:instrText xml:space="preserve">{escape(piece)}</w:instrText></w:r>'
        for piece in instruction
    )
    return (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>' + pieces + '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        + r(result) + '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


def simple_field(instruction: str, result: str = "1") -> str:
    """The other way Word writes a field: w:fldSimple, the instruction in an attribute."""
    return f'<w:fldSimple w:instr="{escape(instruction, {chr(34): "&quot;"})}">{r(result)}</w:fldSimple>'


def sym(font: str, char: str) -> str:
    return f'<w:r><w:sym w:font="{font}" w:char="{char}"/></w:r>'


def sdt_inline(content: str, placeholder: bool = False) -> str:
    flag = "<w:showingPlcHdr/>" if placeholder else ""
    return f"<w:sdt><w:sdtPr>{flag}</w:sdtPr><w:sdtContent>{content}</w:sdtContent></w:sdt>"


# -- blocks -------------------------------------------------------------------
def p(*inline: str, style: str | None = None) -> str:
    """A paragraph; plain strings are text, strings starting with '<' are XML."""
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return "<w:p>" + props + "".join(x if x.startswith("<") else r(x) for x in inline) + "</w:p>"


def lines(text: str) -> str:
    """One paragraph per line of text."""
    return "".join(p(line) for line in text.split("\n"))


def tc(*blocks: str, vmerge: str | None = None) -> str:
    props = ""
    if vmerge == "restart":
        props = '<w:tcPr><w:vMerge w:val="restart"/></w:tcPr>'
    elif vmerge == "continue":
        props = "<w:tcPr><w:vMerge/></w:tcPr>"
    content = "".join(blocks) or "<w:p/>"
    return f"<w:tc>{props}{content}</w:tc>"


def cell(text: str) -> str:
    return tc(lines(text)) if text else tc()


def tr(*cells: str) -> str:
    return "<w:tr>" + "".join(c if c.startswith("<") else cell(c) for c in cells) + "</w:tr>"


def tbl(*rows: str) -> str:
    return "<w:tbl><w:tblPr/>" + "".join(rows) + "</w:tbl>"


def sdt_block(content: str) -> str:
    return f"<w:sdt><w:sdtPr/><w:sdtContent>{content}</w:sdtContent></w:sdt>"


def label_table(pairs: list[tuple[str, str]]) -> str:
    """The template's layout: label cell │ value cell."""
    return tbl(*(tr(label, value) for label, value in pairs))
