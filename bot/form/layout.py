"""Turn a Word document's XML into what a reader sees: paragraphs and tables.

python-docx drops content controls and repeats merged cells (facts.md), so the
XML is walked directly. Check boxes of every kind (content-control check boxes,
legacy form fields, Wingdings symbols) become the characters ☒ / ☐ in the text,
tracked deletions disappear, and Word's placeholder text is emptied, so that
everything after this module works on plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
W_TRANSITIONAL = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

CHECKED = "☒"
UNCHECKED = "☐"

# Symbol-font check boxes (w:sym), by font family and character code.
_SYMBOL_BOXES = {
    ("wingdings", "F0FE"): CHECKED, ("wingdings", "F0FD"): CHECKED, ("wingdings", "F078"): CHECKED,
    ("wingdings", "F0A8"): UNCHECKED, ("wingdings", "F06F"): UNCHECKED, ("wingdings", "F071"): UNCHECKED,
    ("wingdings 2", "F052"): CHECKED, ("wingdings 2", "F054"): CHECKED, ("wingdings 2", "F053"): CHECKED,
    ("wingdings 2", "F0A3"): UNCHECKED, ("wingdings 2", "F02A"): UNCHECKED, ("wingdings 2", "F0A2"): UNCHECKED,
}
# Glyphs a check-box control may show (its checkedState / uncheckedState symbols).
_SHOWN_CHECKED = "☒☑✓✔■✗✘⊠"
_SHOWN_UNCHECKED = "☐□▢❏❑"
_HEADING_STYLE = re.compile(r"(?i)^(heading|titre|title|berschrift)")


@dataclass
class Para:
    text: str
    heading: bool = False


@dataclass
class Cell:
    lines: list[str]
    continued: bool = False  # the lower part of a vertically merged cell

    @property
    def text(self) -> str:
        return "\n".join(line for line in self.lines if line.strip())


@dataclass
class Row:
    cells: list[Cell]


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)


Block = Para | Table


class _Walker:
    def __init__(self, ns: str):
        self.ns = ns
        w = "{%s}" % ns
        self.P, self.TBL, self.TR, self.TC = w + "p", w + "tbl", w + "tr", w + "tc"
        self.SDT, self.SDT_CONTENT, self.CUSTOM_XML = w + "sdt", w + "sdtContent", w + "customXml"
        self.T, self.TAB, self.BR, self.CR, self.SYM = w + "t", w + "tab", w + "br", w + "cr", w + "sym"
        self.NB_HYPHEN, self.FLD_CHAR, self.VAL = w + "noBreakHyphen", w + "fldChar", w + "val"
        self.w = w
        self.text_tags = (self.T, self.TAB, self.BR, self.CR, self.SYM, self.NB_HYPHEN, self.FLD_CHAR)

    # -- preparing the tree -------------------------------------------------
    def prepare(self, root: etree._Element) -> None:
        w = self.w
        # Tracked deletions and moved-away text are not part of the document;
        # mc:Fallback repeats what mc:Choice already holds.
        for el in list(root.iter(w + "del", w + "moveFrom", "{%s}Fallback" % MC)):
            parent = el.getparent()
            if parent is None or parent.tag == w + "rPr":  # a deleted paragraph mark: harmless
                continue
            if parent.tag == w + "trPr":  # a deleted table row
                row = parent.getparent()
                if row.getparent() is not None:
                    row.getparent().remove(row)
            else:
                parent.remove(el)
        for sdt in list(root.iter(self.SDT)):
            props = sdt.find(w + "sdtPr")
            content = sdt.find(self.SDT_CONTENT)
            if props is None or content is None:
                continue
            box = props.find("{%s}checkbox" % W14)
            if box is not None:
                checked = box.find("{%s}checked" % W14)
                state = checked is not None and checked.get("{%s}val" % W14, "1") in ("1", "true", "on")
                shown = self._shown_box(content)
                # What the coordinator sees when opening the file wins: LibreOffice keeps
                # w14:checked="0" under a ☐ overtyped with ☒ (or replaced by Find & Replace).
                self._replace_text(content, CHECKED if (state if shown is None else shown) else UNCHECKED)
            elif props.find(w + "showingPlcHdr") is not None:
                self._replace_text(content, "")

    def _shown_box(self, content: etree._Element) -> bool | None:
        """The state the glyph of a check-box control shows, None when it shows no box."""
        shown = "".join(t.text or "" for t in content.iter(self.T))
        shown += "".join(
            _SYMBOL_BOXES.get(((el.get(self.w + "font") or "").lower(), (el.get(self.w + "char") or "").upper()), "")
            for el in content.iter(self.SYM)
        )
        if any(c in shown for c in _SHOWN_CHECKED):
            return True
        if any(c in shown for c in _SHOWN_UNCHECKED):
            return False
        return None

    def _replace_text(self, content: etree._Element, text: str) -> None:
        texts = list(content.iter(self.T))
        for t in texts:
            t.text = ""
        if texts:
            texts[0].text = text
        elif text:
            run = etree.SubElement(content, self.w + "r")
            etree.SubElement(run, self.T).text = text

    # -- reading ------------------------------------------------------------
    def paragraph_text(self, p: etree._Element) -> str:
        parts: list[str] = []
        for el in p.iter(*self.text_tags):
            tag = el.tag
            if tag == self.T:
                parts.append(el.text or "")
            elif tag == self.TAB:
                parts.append("\t")
            elif tag in (self.BR, self.CR):
                parts.append("\n")
            elif tag == self.NB_HYPHEN:
                parts.append("-")
            elif tag == self.SYM:
                font = (el.get(self.w + "font") or "").lower()
                code = (el.get(self.w + "char") or "").upper()
                parts.append(_SYMBOL_BOXES.get((font, code), ""))
            elif tag == self.FLD_CHAR and el.get(self.w + "fldCharType") == "begin":
                box = el.find(f"{self.w}ffData/{self.w}checkBox")
                if box is not None:
                    parts.append(CHECKED if self._legacy_checked(box) else UNCHECKED)
        return "".join(parts)

    def _legacy_checked(self, box: etree._Element) -> bool:
        # w:checked without w:val means checked; otherwise w:default decides.
        for name in ("checked", "default"):
            el = box.find(self.w + name)
            if el is not None:
                return el.get(self.VAL, "1") in ("1", "true", "on")
        return False

    def is_heading(self, p: etree._Element) -> bool:
        style = p.find(f"{self.w}pPr/{self.w}pStyle")
        if style is not None and _HEADING_STYLE.match(style.get(self.VAL, "")):
            return True
        return p.find(f"{self.w}pPr/{self.w}outlineLvl") is not None

    def blocks(self, container: etree._Element) -> list[Block]:
        out: list[Block] = []
        for child in container:
            tag = child.tag
            if tag == self.P:
                out.append(Para(self.paragraph_text(child), self.is_heading(child)))
            elif tag == self.TBL:
                self._table(child, out)
            elif tag in (self.SDT, self.CUSTOM_XML):
                inner = child.find(self.SDT_CONTENT) if tag == self.SDT else child
                if inner is not None:
                    out.extend(self.blocks(inner))
        return out

    def _wrapped(self, parent: etree._Element, tag: str):
        """Children with `tag`, also when wrapped in content controls or custom XML."""
        for child in parent:
            if child.tag == tag:
                yield child
            elif child.tag == self.SDT:
                content = child.find(self.SDT_CONTENT)
                if content is not None:
                    yield from self._wrapped(content, tag)
            elif child.tag == self.CUSTOM_XML:
                yield from self._wrapped(child, tag)

    def _table(self, tbl: etree._Element, out: list[Block]) -> None:
        rows = []
        for tr in self._wrapped(tbl, self.TR):
            cells = []
            for tc in self._wrapped(tr, self.TC):
                merge = tc.find(f"{self.w}tcPr/{self.w}vMerge")
                continued = merge is not None and merge.get(self.VAL, "continue") == "continue"
                cells.append((tc, continued))
            rows.append(cells)
        # A frame (every row a single cell) is layout, not data: read its content in place.
        if rows and all(len(cells) == 1 for cells in rows):
            for cells in rows:
                out.extend(self.blocks(cells[0][0]))
            return
        table = Table()
        for cells in rows:
            table.rows.append(Row([Cell(self._cell_lines(tc), continued) for tc, continued in cells]))
        out.append(table)

    def _cell_lines(self, tc: etree._Element) -> list[str]:
        lines: list[str] = []
        for block in self.blocks(tc):
            if isinstance(block, Para):
                lines.extend(block.text.split("\n"))
            else:  # a nested table: its cells, row by row
                for row in block.rows:
                    for cell in row.cells:
                        lines.extend(cell.lines)
        return lines


def document_blocks(document: etree._Element) -> list[Block]:
    """The body of a parsed w:document as a list of paragraphs and tables."""
    ns = etree.QName(document).namespace or W_TRANSITIONAL
    walker = _Walker(ns)
    body = document.find("{%s}body" % ns)
    if body is None:
        return []
    walker.prepare(body)
    return walker.blocks(body)
