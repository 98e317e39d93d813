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


def docx(body: str, *, document_rels: str = "") -> bytes:
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{DOCX_MAIN}"/></Types>'
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
        parts["word/_rels/document.xml.rels"] = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{document_rels}</Relationships>"
        )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text.encode("utf-8"))
    return out.getvalue()


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
